//! Bots and service accounts: creation by their owner, tokens (hashed), privacy mode, the state
//! a bot keeps for itself (webhook, commands, confirmed offset), people's consent to services,
//! and direct-conversation lookup by user id.
//!
//! A bot is a row of `users` (kind `bot` or `service`), one device (the sender of its messages,
//! with a random key nobody holds) and a row of `bots`. Writes run as writer jobs; reads take a
//! pooled read connection.

use crate::Db;
use crate::rows::{direct_key, num, sql, user_by_handle};
use crate::writer::Ctx;
use chapar_core::bots::{self as rules_bots, Bot, BotChange, BotOp, MenuCommand, NewBot, Webhook};
use chapar_core::store::Principal;
use chapar_core::{Error, Result, rules};
use chapar_proto::{BotInfo, BotKind, ConversationId, DeviceId, UserId, UserInfo};
use rusqlite::{Connection, OptionalExtension, Row, params};

const BOT_COLUMNS: &str = "u.id, u.handle, u.display_name, b.device_id, b.kind, b.owner_id, \
    b.read_all, b.commands, b.webhook, b.allowed_updates, b.confirmed_pts, b.created_at, \
    b.token_hash IS NOT NULL";

/// A JSON column, or the type's default when it is NULL or unreadable.
macro_rules! json_or_default {
    ($value:expr, $ty:ty) => {
        $value
            .and_then(|s: String| serde_json::from_str::<$ty>(&s).ok())
            .unwrap_or_default()
    };
}

fn encoded(v: serde_json::Result<String>) -> Result<String> {
    v.map_err(|e| Error::Unavailable(format!("cannot encode: {e}")))
}

/// A bot row (with its user) read with [`BOT_COLUMNS`].
fn bot_row(r: &Row<'_>) -> rusqlite::Result<(Bot, bool)> {
    let webhook: Option<String> = r.get(8)?;
    let bot = Bot {
        principal: Principal {
            user: UserInfo {
                id: UserId(r.get(0)?),
                handle: r.get(1)?,
                display_name: r.get(2)?,
            },
            device: DeviceId(r.get(3)?),
        },
        kind: BotKind::parse(&r.get::<_, String>(4)?),
        owner: UserId(r.get(5)?),
        read_all: r.get(6)?,
        commands: json_or_default!(r.get::<_, Option<String>>(7)?, Vec<MenuCommand>),
        webhook: webhook.and_then(|w| serde_json::from_str::<Webhook>(&w).ok()),
        allowed_updates: json_or_default!(r.get::<_, Option<String>>(9)?, Vec<String>),
        offset: num(r.get(10)?),
        created_at: r.get(11)?,
    };
    Ok((bot, r.get(12)?))
}

fn info(bot: &Bot, has_token: bool) -> BotInfo {
    BotInfo {
        user: bot.principal.user.clone(),
        kind: bot.kind,
        read_all: bot.read_all,
        has_token,
        webhook: bot.webhook.is_some(),
        created_at: bot.created_at,
    }
}

fn bot_where(
    conn: &Connection,
    condition: &str,
    value: &dyn rusqlite::ToSql,
) -> Result<Option<(Bot, bool)>> {
    let query = format!(
        "SELECT {BOT_COLUMNS} FROM bots b JOIN users u ON u.id = b.user_id WHERE {condition}"
    );
    conn.prepare_cached(&query)
        .db()?
        .query_row([value], bot_row)
        .optional()
        .db()
}

/// The bot or service account with this handle owned by `owner`; `NotFound` otherwise.
fn owned(conn: &Connection, owner: &Principal, raw: &str) -> Result<Bot> {
    let handle = rules::handle(raw)?;
    match bot_where(conn, "u.handle = ?1", &handle)? {
        Some((bot, _)) if bot.owner == owner.user.id => Ok(bot),
        _ => Err(Error::not_found(format!("you have no bot @{handle}"))),
    }
}

/// The kind of bot `user` is, or `None` for a person.
pub fn kind_of(conn: &Connection, user: UserId) -> Result<Option<BotKind>> {
    let kind: Option<String> = conn
        .prepare_cached("SELECT kind FROM bots WHERE user_id = ?1")
        .db()?
        .query_row([user.0], |r| r.get(0))
        .optional()
        .db()?;
    Ok(kind.map(|k| BotKind::parse(&k)))
}

/// Whether `user` allowed the service account `service` to message them.
pub fn has_consent(conn: &Connection, user: UserId, service: UserId) -> Result<bool> {
    conn.prepare_cached("SELECT 1 FROM consents WHERE user_id = ?1 AND service_id = ?2")
        .db()?
        .exists(params![user.0, service.0])
        .db()
}

pub fn manage(ctx: &Ctx<'_>, owner: &Principal, op: BotOp) -> Result<BotInfo> {
    match op {
        BotOp::Create(new) => create(ctx, owner, new),
        BotOp::Token { handle, token_hash } => {
            let bot = owned(ctx.conn, owner, &handle)?;
            ctx.conn
                .prepare_cached("UPDATE bots SET token_hash = ?2 WHERE user_id = ?1")
                .db()?
                .execute(params![bot.id().0, token_hash.as_ref().map(|h| &h[..])])
                .db()?;
            Ok(info(&bot, token_hash.is_some()))
        }
        BotOp::ReadAll { handle, read_all } => {
            let bot = owned(ctx.conn, owner, &handle)?;
            ctx.conn
                .prepare_cached("UPDATE bots SET read_all = ?2 WHERE user_id = ?1")
                .db()?
                .execute(params![bot.id().0, read_all])
                .db()?;
            let (bot, has_token) = bot_where(ctx.conn, "b.user_id = ?1", &bot.id().0)?
                .ok_or_else(|| Error::Unavailable("the bot disappeared".into()))?;
            Ok(info(&bot, has_token))
        }
    }
}

fn create(ctx: &Ctx<'_>, owner: &Principal, new: NewBot) -> Result<BotInfo> {
    let (handle, display_name) = rules_bots::new_bot(ctx.limits, &new)?;
    if kind_of(ctx.conn, owner.user.id)?.is_some() {
        return Err(Error::forbidden("bots cannot own bots"));
    }
    let owned: i64 = ctx
        .conn
        .prepare_cached("SELECT COUNT(*) FROM bots WHERE owner_id = ?1")
        .db()?
        .query_row([owner.user.id.0], |r| r.get(0))
        .db()?;
    if owned >= rules_bots::MAX_BOTS_PER_OWNER {
        return Err(Error::forbidden(format!(
            "a person may own at most {} bots",
            rules_bots::MAX_BOTS_PER_OWNER
        )));
    }
    if user_by_handle(ctx.conn, &handle)?.is_some() {
        return Err(Error::Conflict(format!("handle @{handle} is taken")));
    }
    ctx.conn
        .prepare_cached(
            "INSERT INTO users (handle, display_name, kind, pts, created_at)
             VALUES (?1, ?2, ?3, 0, ?4)",
        )
        .db()?
        .execute(params![handle, display_name, new.kind.as_str(), ctx.now])
        .db()?;
    let user = UserId(ctx.conn.last_insert_rowid());
    ctx.conn
        .prepare_cached(
            "INSERT INTO devices (user_id, public_key, name, created_at, last_seen, revoked)
             VALUES (?1, ?2, 'bot api', ?3, NULL, 0)",
        )
        .db()?
        .execute(params![user.0, new.public_key, ctx.now])
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => {
                Error::Conflict("that public key is already registered".into())
            }
            _ => Error::Unavailable(format!("database error: {e}")),
        })?;
    let device = DeviceId(ctx.conn.last_insert_rowid());
    ctx.conn
        .prepare_cached(
            "INSERT INTO bots (user_id, owner_id, device_id, kind, token_hash, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .db()?
        .execute(params![
            user.0,
            owner.user.id.0,
            device.0,
            new.kind.as_str(),
            &new.token_hash[..],
            ctx.now
        ])
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => {
                Error::Conflict("that token is already in use".into())
            }
            _ => Error::Unavailable(format!("database error: {e}")),
        })?;
    Ok(BotInfo {
        user: UserInfo {
            id: user,
            handle,
            display_name,
        },
        kind: new.kind,
        read_all: false,
        has_token: true,
        webhook: false,
        created_at: ctx.now,
    })
}

pub fn list(conn: &Connection, owner: &Principal) -> Result<Vec<BotInfo>> {
    let query = format!(
        "SELECT {BOT_COLUMNS} FROM bots b JOIN users u ON u.id = b.user_id
         WHERE b.owner_id = ?1 ORDER BY b.created_at, b.user_id"
    );
    let mut stmt = conn.prepare_cached(&query).db()?;
    let rows = stmt.query_map([owner.user.id.0], bot_row).db()?;
    let rows = rows.collect::<rusqlite::Result<Vec<_>>>().db()?;
    Ok(rows.iter().map(|(b, t)| info(b, *t)).collect())
}

pub fn by_token(conn: &Connection, token_hash: &[u8; 32]) -> Result<Option<Bot>> {
    Ok(bot_where(conn, "b.token_hash = ?1", &&token_hash[..])?.map(|(b, _)| b))
}

pub fn by_id(conn: &Connection, id: UserId) -> Result<Option<Bot>> {
    Ok(bot_where(conn, "b.user_id = ?1", &id.0)?.map(|(b, _)| b))
}

pub fn update(ctx: &Ctx<'_>, actor: &Principal, change: BotChange) -> Result<()> {
    if kind_of(ctx.conn, actor.user.id)?.is_none() {
        return Err(Error::not_found("not a bot"));
    }
    let id = actor.user.id.0;
    let (query, value): (&str, rusqlite::types::Value) = match change {
        BotChange::Offset(pts) => (
            "UPDATE bots SET confirmed_pts = MAX(confirmed_pts, ?2) WHERE user_id = ?1",
            sql(pts).into(),
        ),
        BotChange::Webhook(hook) => {
            if let Some(h) = &hook {
                rules_bots::webhook(h)?;
            }
            let value = match &hook {
                Some(h) => encoded(serde_json::to_string(h))?.into(),
                None => rusqlite::types::Value::Null,
            };
            ("UPDATE bots SET webhook = ?2 WHERE user_id = ?1", value)
        }
        BotChange::Commands(commands) => {
            rules_bots::menu_commands(&commands)?;
            (
                "UPDATE bots SET commands = ?2 WHERE user_id = ?1",
                encoded(serde_json::to_string(&commands))?.into(),
            )
        }
        BotChange::AllowedUpdates(types) => {
            rules_bots::allowed_updates(&types)?;
            (
                "UPDATE bots SET allowed_updates = ?2 WHERE user_id = ?1",
                encoded(serde_json::to_string(&types))?.into(),
            )
        }
    };
    ctx.conn
        .prepare_cached(query)
        .db()?
        .execute(params![id, value])
        .db()?;
    Ok(())
}

pub fn with_webhooks(conn: &Connection) -> Result<Vec<UserId>> {
    let mut stmt = conn
        .prepare_cached("SELECT user_id FROM bots WHERE webhook IS NOT NULL ORDER BY user_id")
        .db()?;
    let rows = stmt.query_map([], |r| r.get(0).map(UserId)).db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

pub fn set_consent(ctx: &Ctx<'_>, actor: &Principal, raw: &str, allowed: bool) -> Result<()> {
    let handle = rules::handle(raw)?;
    let service = match bot_where(ctx.conn, "u.handle = ?1", &handle)? {
        Some((bot, _)) if bot.kind == BotKind::Service => bot.id(),
        _ => return Err(Error::not_found(format!("no service account @{handle}"))),
    };
    let query = if allowed {
        "INSERT OR IGNORE INTO consents (user_id, service_id, created_at) VALUES (?1, ?2, ?3)"
    } else {
        "DELETE FROM consents WHERE user_id = ?1 AND service_id = ?2 AND ?3 IS NOT NULL"
    };
    ctx.conn
        .prepare_cached(query)
        .db()?
        .execute(params![actor.user.id.0, service.0, ctx.now])
        .db()?;
    Ok(())
}

pub fn direct_conversation(
    conn: &Connection,
    actor: &Principal,
    peer: UserId,
) -> Result<Option<ConversationId>> {
    let id: Option<i64> = conn
        .prepare_cached("SELECT id FROM conversations WHERE direct_key = ?1")
        .db()?
        .query_row([direct_key(actor.user.id, peer)], |r| r.get(0))
        .optional()
        .db()?;
    Ok(id.map(ConversationId))
}
