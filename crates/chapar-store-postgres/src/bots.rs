//! Bots and service accounts: creation by their owner, tokens (hashed), privacy mode, the state
//! a bot keeps for itself (webhook, commands, confirmed offset), people's consent to services,
//! and direct-conversation lookup by user id. The same behaviour as the SQLite store's
//! `bots.rs`, checked by the shared conformance suite.
//!
//! Uniqueness races between nodes (two owners taking one handle) are settled by the unique
//! indexes with `ON CONFLICT DO NOTHING`, answered as `Conflict`.

use crate::db::{Ctx, col, num, sql};
use crate::rows::{direct_key, user_by_handle};
use chapar_core::bots::{self as rules_bots, Bot, BotChange, BotOp, MenuCommand, NewBot, Webhook};
use chapar_core::store::Principal;
use chapar_core::{Error, Result, rules};
use chapar_proto::{BotInfo, BotKind, ConversationId, DeviceId, UserId, UserInfo};
use tokio_postgres::Row;

macro_rules! bot_query {
    ($condition:literal) => {
        concat!(
            "SELECT u.id, u.handle, u.display_name, b.device_id, b.kind, b.owner_id, b.read_all, \
             b.commands, b.webhook, b.allowed_updates, b.confirmed_pts, b.created_at, \
             b.token_hash IS NOT NULL FROM bots b JOIN users u ON u.id = b.user_id WHERE ",
            $condition
        )
    };
}

fn encoded(v: serde_json::Result<String>) -> Result<String> {
    v.map_err(|e| Error::Unavailable(format!("cannot encode: {e}")))
}

/// A bot row read with [`bot_query!`], and whether it has a token.
fn bot_row(r: &Row) -> Result<(Bot, bool)> {
    let commands: String = col(r, 7)?;
    let webhook: Option<String> = col(r, 8)?;
    let allowed: String = col(r, 9)?;
    let bot = Bot {
        principal: Principal {
            user: UserInfo {
                id: UserId(col(r, 0)?),
                handle: col(r, 1)?,
                display_name: col(r, 2)?,
            },
            device: DeviceId(col(r, 3)?),
        },
        kind: BotKind::parse(&col::<String>(r, 4)?),
        owner: UserId(col(r, 5)?),
        read_all: col(r, 6)?,
        commands: serde_json::from_str::<Vec<MenuCommand>>(&commands).unwrap_or_default(),
        webhook: webhook.and_then(|w| serde_json::from_str::<Webhook>(&w).ok()),
        allowed_updates: serde_json::from_str::<Vec<String>>(&allowed).unwrap_or_default(),
        offset: num(col(r, 10)?),
        created_at: col(r, 11)?,
    };
    Ok((bot, col(r, 12)?))
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

async fn by_handle(ctx: &Ctx<'_>, handle: &str) -> Result<Option<(Bot, bool)>> {
    ctx.opt(bot_query!("u.handle = $1"), &[&handle])
        .await?
        .map(|r| bot_row(&r))
        .transpose()
}

async fn by_user(ctx: &Ctx<'_>, id: UserId) -> Result<Option<(Bot, bool)>> {
    ctx.opt(bot_query!("b.user_id = $1"), &[&id.0])
        .await?
        .map(|r| bot_row(&r))
        .transpose()
}

/// The bot or service account with this handle owned by `owner`; `NotFound` otherwise.
async fn owned(ctx: &Ctx<'_>, owner: &Principal, raw: &str) -> Result<Bot> {
    let handle = rules::handle(raw)?;
    match by_handle(ctx, &handle).await? {
        Some((bot, _)) if bot.owner == owner.user.id => Ok(bot),
        _ => Err(Error::not_found(format!("you have no bot @{handle}"))),
    }
}

/// The kind of bot `user` is, or `None` for a person.
pub async fn kind_of(ctx: &Ctx<'_>, user: UserId) -> Result<Option<BotKind>> {
    Ok(ctx
        .opt("SELECT kind FROM bots WHERE user_id = $1", &[&user.0])
        .await?
        .map(|r| col::<String>(&r, 0))
        .transpose()?
        .map(|k| BotKind::parse(&k)))
}

/// Whether `user` allowed the service account `service` to message them.
pub async fn has_consent(ctx: &Ctx<'_>, user: UserId, service: UserId) -> Result<bool> {
    Ok(ctx
        .opt(
            "SELECT 1 FROM consents WHERE user_id = $1 AND service_id = $2",
            &[&user.0, &service.0],
        )
        .await?
        .is_some())
}

pub async fn manage(ctx: &Ctx<'_>, owner: &Principal, op: BotOp) -> Result<BotInfo> {
    match op {
        BotOp::Create(new) => create(ctx, owner, new).await,
        BotOp::Token { handle, token_hash } => {
            let bot = owned(ctx, owner, &handle).await?;
            let hash: Option<&[u8]> = token_hash.as_ref().map(|h| &h[..]);
            ctx.exec(
                "UPDATE bots SET token_hash = $2 WHERE user_id = $1",
                &[&bot.id().0, &hash],
            )
            .await?;
            Ok(info(&bot, token_hash.is_some()))
        }
        BotOp::ReadAll { handle, read_all } => {
            let bot = owned(ctx, owner, &handle).await?;
            ctx.exec(
                "UPDATE bots SET read_all = $2 WHERE user_id = $1",
                &[&bot.id().0, &read_all],
            )
            .await?;
            let (bot, has_token) = by_user(ctx, bot.id())
                .await?
                .ok_or_else(|| Error::Unavailable("the bot disappeared".into()))?;
            Ok(info(&bot, has_token))
        }
    }
}

async fn create(ctx: &Ctx<'_>, owner: &Principal, new: NewBot) -> Result<BotInfo> {
    let (handle, display_name) = rules_bots::new_bot(ctx.limits, &new)?;
    if kind_of(ctx, owner.user.id).await?.is_some() {
        return Err(Error::forbidden("bots cannot own bots"));
    }
    let owned: i64 = col(
        &ctx.one(
            "SELECT COUNT(*) FROM bots WHERE owner_id = $1",
            &[&owner.user.id.0],
        )
        .await?,
        0,
    )?;
    if owned >= rules_bots::MAX_BOTS_PER_OWNER {
        return Err(Error::forbidden(format!(
            "a person may own at most {} bots",
            rules_bots::MAX_BOTS_PER_OWNER
        )));
    }
    let taken = || Error::Conflict(format!("handle @{handle} is taken"));
    if user_by_handle(ctx, &handle).await?.is_some() {
        return Err(taken());
    }
    let user = ctx
        .opt(
            "INSERT INTO users (handle, display_name, kind, pts, created_at)
             VALUES ($1, $2, $3, 0, $4)
             ON CONFLICT (handle) DO NOTHING RETURNING id",
            &[&handle, &display_name, &new.kind.as_str(), &ctx.now],
        )
        .await?
        .ok_or_else(taken)?;
    let user = UserId(col(&user, 0)?);
    let device = ctx
        .opt(
            "INSERT INTO devices (user_id, public_key, name, created_at, last_seen, revoked)
             VALUES ($1, $2, 'bot api', $3, NULL, FALSE)
             ON CONFLICT (public_key) DO NOTHING RETURNING id",
            &[&user.0, &new.public_key, &ctx.now],
        )
        .await?
        .ok_or_else(|| Error::Conflict("that public key is already registered".into()))?;
    let device = DeviceId(col(&device, 0)?);
    ctx.opt(
        "INSERT INTO bots (user_id, owner_id, device_id, kind, token_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (token_hash) DO NOTHING RETURNING user_id",
        &[
            &user.0,
            &owner.user.id.0,
            &device.0,
            &new.kind.as_str(),
            &&new.token_hash[..],
            &ctx.now,
        ],
    )
    .await?
    .ok_or_else(|| Error::Conflict("that token is already in use".into()))?;
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

pub async fn list(ctx: &Ctx<'_>, owner: &Principal) -> Result<Vec<BotInfo>> {
    let rows = ctx
        .query(
            bot_query!("b.owner_id = $1 ORDER BY b.created_at, b.user_id"),
            &[&owner.user.id.0],
        )
        .await?;
    rows.iter()
        .map(|r| bot_row(r).map(|(b, t)| info(&b, t)))
        .collect()
}

pub async fn by_token(ctx: &Ctx<'_>, token_hash: &[u8; 32]) -> Result<Option<Bot>> {
    let hash: &[u8] = &token_hash[..];
    Ok(ctx
        .opt(bot_query!("b.token_hash = $1"), &[&hash])
        .await?
        .map(|r| bot_row(&r))
        .transpose()?
        .map(|(b, _)| b))
}

pub async fn by_id(ctx: &Ctx<'_>, id: UserId) -> Result<Option<Bot>> {
    Ok(by_user(ctx, id).await?.map(|(b, _)| b))
}

pub async fn update(ctx: &Ctx<'_>, actor: &Principal, change: BotChange) -> Result<()> {
    if kind_of(ctx, actor.user.id).await?.is_none() {
        return Err(Error::not_found("not a bot"));
    }
    let id = actor.user.id.0;
    match change {
        BotChange::Offset(pts) => {
            ctx.exec(
                "UPDATE bots SET confirmed_pts = GREATEST(confirmed_pts, $2) WHERE user_id = $1",
                &[&id, &sql(pts)],
            )
            .await?;
        }
        BotChange::Webhook(hook) => {
            let value = match &hook {
                Some(h) => {
                    rules_bots::webhook(h)?;
                    Some(encoded(serde_json::to_string(h))?)
                }
                None => None,
            };
            ctx.exec(
                "UPDATE bots SET webhook = $2 WHERE user_id = $1",
                &[&id, &value],
            )
            .await?;
        }
        BotChange::Commands(commands) => {
            rules_bots::menu_commands(&commands)?;
            let value = encoded(serde_json::to_string(&commands))?;
            ctx.exec(
                "UPDATE bots SET commands = $2 WHERE user_id = $1",
                &[&id, &value],
            )
            .await?;
        }
        BotChange::AllowedUpdates(types) => {
            rules_bots::allowed_updates(&types)?;
            let value = encoded(serde_json::to_string(&types))?;
            ctx.exec(
                "UPDATE bots SET allowed_updates = $2 WHERE user_id = $1",
                &[&id, &value],
            )
            .await?;
        }
    }
    Ok(())
}

pub async fn with_webhooks(ctx: &Ctx<'_>) -> Result<Vec<UserId>> {
    let rows = ctx
        .query(
            "SELECT user_id FROM bots WHERE webhook IS NOT NULL ORDER BY user_id",
            &[],
        )
        .await?;
    rows.iter().map(|r| col(r, 0).map(UserId)).collect()
}

pub async fn set_consent(ctx: &Ctx<'_>, actor: &Principal, raw: &str, allowed: bool) -> Result<()> {
    let handle = rules::handle(raw)?;
    let service = match by_handle(ctx, &handle).await? {
        Some((bot, _)) if bot.kind == BotKind::Service => bot.id(),
        _ => return Err(Error::not_found(format!("no service account @{handle}"))),
    };
    if allowed {
        ctx.exec(
            "INSERT INTO consents (user_id, service_id, created_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&actor.user.id.0, &service.0, &ctx.now],
        )
        .await?;
    } else {
        ctx.exec(
            "DELETE FROM consents WHERE user_id = $1 AND service_id = $2",
            &[&actor.user.id.0, &service.0],
        )
        .await?;
    }
    Ok(())
}

pub async fn direct_conversation(
    ctx: &Ctx<'_>,
    actor: &Principal,
    peer: UserId,
) -> Result<Option<ConversationId>> {
    let key = direct_key(actor.user.id, peer);
    ctx.opt(
        "SELECT id FROM conversations WHERE direct_key = $1",
        &[&key],
    )
    .await?
    .map(|r| col(&r, 0).map(ConversationId))
    .transpose()
}
