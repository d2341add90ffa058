//! Accounts, devices, sessions, link codes and invites.
//!
//! Writes run as writer jobs (`&Ctx`, inside the batch transaction and the job's savepoint, so
//! a failure leaves nothing behind); reads take a pooled read connection. Only hashes of secrets
//! are stored.

use crate::Db;
use crate::rows::{require_user, user_by_handle};
use crate::writer::Ctx;
use chapar_core::store::{NewAccount, NewDevice, Principal, SecretHash};
use chapar_core::{Error, Limits, Result, rules};
use chapar_proto::{Bytes, DeviceId, DeviceInfo, Pts, UserId, UserInfo};
use rusqlite::{Connection, OptionalExtension, params};

const PUBLIC_KEY_LEN: usize = 32;

fn check_key(key: &[u8]) -> Result<()> {
    if key.len() == PUBLIC_KEY_LEN {
        Ok(())
    } else {
        Err(Error::invalid("a public key is 32 bytes (Ed25519)"))
    }
}

/// A name given by a person, or `fallback` when they gave none.
fn name_or(what: &str, raw: &str, fallback: &str, limits: &Limits) -> Result<String> {
    if raw.trim().is_empty() {
        Ok(fallback.to_string())
    } else {
        rules::label(what, raw, limits.max_name_chars)
    }
}

fn key_taken(conn: &Connection, key: &[u8]) -> Result<bool> {
    conn.prepare_cached("SELECT 1 FROM devices WHERE public_key = ?1")
        .db()?
        .exists([key])
        .db()
}

fn insert_device(
    ctx: &Ctx<'_>,
    user: UserId,
    key: &[u8],
    name: &str,
    token: &SecretHash,
) -> Result<DeviceId> {
    ctx.conn
        .prepare_cached(
            "INSERT INTO devices (user_id, public_key, name, created_at, last_seen, revoked)
             VALUES (?1, ?2, ?3, ?4, ?4, 0)",
        )
        .db()?
        .execute(params![user.0, key, name, ctx.now])
        .db()?;
    let device = DeviceId(ctx.conn.last_insert_rowid());
    insert_session(ctx, device, token)?;
    Ok(device)
}

fn insert_session(ctx: &Ctx<'_>, device: DeviceId, token: &SecretHash) -> Result<()> {
    ctx.conn
        .prepare_cached(
            "INSERT INTO sessions (token_hash, device_id, created_at) VALUES (?1, ?2, ?3)",
        )
        .db()?
        .execute(params![&token[..], device.0, ctx.now])
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => {
                Error::Conflict("that session token is already in use".into())
            }
            _ => Error::Unavailable(format!("database error: {e}")),
        })?;
    Ok(())
}

/// The principal behind a device, if the device exists and is not revoked.
fn principal(conn: &Connection, device: DeviceId) -> Result<Option<Principal>> {
    conn.prepare_cached(
        "SELECT u.id, u.handle, u.display_name FROM devices d JOIN users u ON u.id = d.user_id
         WHERE d.id = ?1 AND d.revoked = 0",
    )
    .db()?
    .query_row([device.0], |r| {
        Ok(Principal {
            user: UserInfo {
                id: UserId(r.get(0)?),
                handle: r.get(1)?,
                display_name: r.get(2)?,
            },
            device,
        })
    })
    .optional()
    .db()
}

fn gone() -> Error {
    Error::Unavailable("the device disappeared during the write".into())
}

pub fn create_account(ctx: &Ctx<'_>, account: NewAccount) -> Result<Principal> {
    let handle = rules::handle(&account.handle)?;
    check_key(&account.public_key)?;
    let display_name = name_or("display name", &account.display_name, &handle, ctx.limits)?;
    let device_name = name_or("device name", &account.device_name, "device", ctx.limits)?;
    if let Some(invite) = account.invite_hash {
        let used = ctx
            .conn
            .prepare_cached(
                "UPDATE invites SET uses_left = uses_left - 1 WHERE code_hash = ?1 AND uses_left > 0",
            )
            .db()?
            .execute([&invite[..]])
            .db()?;
        if used == 0 {
            return Err(Error::forbidden("invite code is not valid"));
        }
    }
    if user_by_handle(ctx.conn, &handle)?.is_some() {
        return Err(Error::Conflict(format!("handle @{handle} is taken")));
    }
    if key_taken(ctx.conn, &account.public_key)? {
        return Err(Error::Conflict(
            "that public key is already registered".into(),
        ));
    }
    ctx.conn
        .prepare_cached(
            "INSERT INTO users (handle, display_name, kind, pts, created_at)
             VALUES (?1, ?2, 'person', 0, ?3)",
        )
        .db()?
        .execute(params![handle, display_name, ctx.now])
        .db()?;
    let user = UserId(ctx.conn.last_insert_rowid());
    let device = insert_device(
        ctx,
        user,
        &account.public_key,
        &device_name,
        &account.token_hash,
    )?;
    Ok(Principal {
        user: UserInfo {
            id: user,
            handle,
            display_name,
        },
        device,
    })
}

pub fn login(ctx: &Ctx<'_>, public_key: &[u8], token: &SecretHash) -> Result<Principal> {
    let device: Option<i64> = ctx
        .conn
        .prepare_cached("SELECT id FROM devices WHERE public_key = ?1 AND revoked = 0")
        .db()?
        .query_row([public_key], |r| r.get(0))
        .optional()
        .db()?;
    let device = DeviceId(
        device.ok_or_else(|| Error::Unauthorized("unknown or revoked device key".into()))?,
    );
    insert_session(ctx, device, token)?;
    ctx.conn
        .prepare_cached("UPDATE devices SET last_seen = ?2 WHERE id = ?1")
        .db()?
        .execute(params![device.0, ctx.now])
        .db()?;
    principal(ctx.conn, device)?.ok_or_else(gone)
}

pub fn session(conn: &Connection, token: &SecretHash) -> Result<Option<Principal>> {
    let device: Option<i64> = conn
        .prepare_cached("SELECT device_id FROM sessions WHERE token_hash = ?1")
        .db()?
        .query_row([&token[..]], |r| r.get(0))
        .optional()
        .db()?;
    match device {
        Some(d) => principal(conn, DeviceId(d)),
        None => Ok(None),
    }
}

pub fn delete_session(ctx: &Ctx<'_>, token: &SecretHash) -> Result<()> {
    ctx.conn
        .prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")
        .db()?
        .execute([&token[..]])
        .db()?;
    Ok(())
}

pub fn create_link_code(
    ctx: &Ctx<'_>,
    actor: &Principal,
    code: &SecretHash,
    expires_at: i64,
) -> Result<()> {
    if principal(ctx.conn, actor.device)?.is_none() {
        return Err(Error::Unauthorized("this device was revoked".into()));
    }
    ctx.conn
        .prepare_cached(
            "INSERT OR REPLACE INTO link_codes (code_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
        )
        .db()?
        .execute(params![&code[..], actor.user.id.0, expires_at])
        .db()?;
    Ok(())
}

pub fn link_device(ctx: &Ctx<'_>, device: NewDevice) -> Result<Principal> {
    check_key(&device.public_key)?;
    let name = name_or("device name", &device.device_name, "device", ctx.limits)?;
    let user: Option<i64> = ctx
        .conn
        .prepare_cached("SELECT user_id FROM link_codes WHERE code_hash = ?1 AND expires_at > ?2")
        .db()?
        .query_row(params![&device.code_hash[..], ctx.now], |r| r.get(0))
        .optional()
        .db()?;
    let user = UserId(user.ok_or_else(|| Error::Unauthorized("link code is not valid".into()))?);
    // Single use: consumed now (the savepoint restores it if the rest fails).
    ctx.conn
        .prepare_cached("DELETE FROM link_codes WHERE code_hash = ?1")
        .db()?
        .execute([&device.code_hash[..]])
        .db()?;
    let active: i64 = ctx
        .conn
        .prepare_cached("SELECT COUNT(*) FROM devices WHERE user_id = ?1 AND revoked = 0")
        .db()?
        .query_row([user.0], |r| r.get(0))
        .db()?;
    if active >= i64::from(ctx.limits.max_devices) {
        return Err(Error::forbidden(format!(
            "an account may have at most {} devices: revoke one first",
            ctx.limits.max_devices
        )));
    }
    if key_taken(ctx.conn, &device.public_key)? {
        return Err(Error::Conflict(
            "that public key is already registered".into(),
        ));
    }
    let id = insert_device(ctx, user, &device.public_key, &name, &device.token_hash)?;
    principal(ctx.conn, id)?.ok_or_else(gone)
}

pub fn devices(conn: &Connection, actor: &Principal) -> Result<Vec<DeviceInfo>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, name, public_key, created_at, last_seen, revoked FROM devices
             WHERE user_id = ?1 ORDER BY id",
        )
        .db()?;
    let rows = stmt
        .query_map([actor.user.id.0], |r| {
            let id = DeviceId(r.get(0)?);
            Ok(DeviceInfo {
                id,
                name: r.get(1)?,
                public_key: Bytes(r.get(2)?),
                created_at: r.get(3)?,
                last_seen: r.get(4)?,
                revoked: r.get(5)?,
                current: id == actor.device,
            })
        })
        .db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

pub fn revoke_device(ctx: &Ctx<'_>, actor: &Principal, device: DeviceId) -> Result<()> {
    let n = ctx
        .conn
        .prepare_cached("UPDATE devices SET revoked = 1 WHERE id = ?1 AND user_id = ?2")
        .db()?
        .execute(params![device.0, actor.user.id.0])
        .db()?;
    if n == 0 {
        return Err(Error::not_found("you have no such device"));
    }
    ctx.conn
        .prepare_cached("DELETE FROM sessions WHERE device_id = ?1")
        .db()?
        .execute([device.0])
        .db()?;
    Ok(())
}

pub fn create_invite(ctx: &Ctx<'_>, code: &SecretHash, uses: u32) -> Result<()> {
    ctx.conn
        .prepare_cached("INSERT OR REPLACE INTO invites (code_hash, uses_left) VALUES (?1, ?2)")
        .db()?
        .execute(params![&code[..], i64::from(uses)])
        .db()?;
    Ok(())
}

pub fn user(conn: &Connection, raw: &str) -> Result<UserInfo> {
    let handle = rules::handle(raw)?;
    require_user(conn, &handle)
}

pub fn head_pts(conn: &Connection, user: UserId) -> Result<Pts> {
    let pts: Option<i64> = conn
        .prepare_cached("SELECT pts FROM users WHERE id = ?1")
        .db()?
        .query_row([user.0], |r| r.get(0))
        .optional()
        .db()?;
    Ok(pts.map(crate::rows::num).unwrap_or(0))
}
