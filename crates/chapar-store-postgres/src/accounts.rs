//! Accounts, devices, sessions, link codes and invites.
//!
//! Writes run inside a transaction (a failure leaves nothing behind); uniqueness races between
//! nodes are settled by the unique indexes with `ON CONFLICT DO NOTHING`, answered as `Conflict`.
//! Only hashes of secrets are stored.

use crate::db::{Ctx, col, num};
use crate::rows::{require_user, user_by_handle, user_row};
use chapar_core::store::{NewAccount, NewDevice, Principal, SecretHash};
use chapar_core::{Error, Limits, Result, rules};
use chapar_proto::{Bytes, DeviceId, DeviceInfo, Pts, UserId, UserInfo};

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

fn key_conflict() -> Error {
    Error::Conflict("that public key is already registered".into())
}

async fn insert_device(
    ctx: &Ctx<'_>,
    user: UserId,
    key: &[u8],
    name: &str,
    token: &SecretHash,
) -> Result<DeviceId> {
    let row = ctx
        .opt(
            "INSERT INTO devices (user_id, public_key, name, created_at, last_seen, revoked)
             VALUES ($1, $2, $3, $4, $4, FALSE)
             ON CONFLICT (public_key) DO NOTHING RETURNING id",
            &[&user.0, &key, &name, &ctx.now],
        )
        .await?
        .ok_or_else(key_conflict)?;
    let device = DeviceId(col(&row, 0)?);
    insert_session(ctx, device, token).await?;
    Ok(device)
}

async fn insert_session(ctx: &Ctx<'_>, device: DeviceId, token: &SecretHash) -> Result<()> {
    let n = ctx
        .exec(
            "INSERT INTO sessions (token_hash, device_id, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (token_hash) DO NOTHING",
            &[&&token[..], &device.0, &ctx.now],
        )
        .await?;
    if n == 0 {
        return Err(Error::Conflict(
            "that session token is already in use".into(),
        ));
    }
    Ok(())
}

/// The principal behind a device, if the device exists and is not revoked.
async fn principal(ctx: &Ctx<'_>, device: DeviceId) -> Result<Option<Principal>> {
    match ctx
        .opt(
            "SELECT u.id, u.handle, u.display_name FROM devices d JOIN users u ON u.id = d.user_id
             WHERE d.id = $1 AND NOT d.revoked",
            &[&device.0],
        )
        .await?
    {
        Some(r) => Ok(Some(Principal {
            user: user_row(&r, 0)?,
            device,
        })),
        None => Ok(None),
    }
}

fn gone() -> Error {
    Error::Unavailable("the device disappeared during the write".into())
}

pub async fn create_account(ctx: &Ctx<'_>, account: NewAccount) -> Result<Principal> {
    let handle = rules::handle(&account.handle)?;
    check_key(&account.public_key)?;
    let display_name = name_or("display name", &account.display_name, &handle, ctx.limits)?;
    let device_name = name_or("device name", &account.device_name, "device", ctx.limits)?;
    if let Some(invite) = account.invite_hash {
        let used = ctx
            .exec(
                "UPDATE invites SET uses_left = uses_left - 1
                 WHERE code_hash = $1 AND uses_left > 0",
                &[&&invite[..]],
            )
            .await?;
        if used == 0 {
            return Err(Error::forbidden("invite code is not valid"));
        }
    }
    let taken = || Error::Conflict(format!("handle @{handle} is taken"));
    if user_by_handle(ctx, &handle).await?.is_some() {
        return Err(taken());
    }
    if ctx
        .opt(
            "SELECT 1 FROM devices WHERE public_key = $1",
            &[&account.public_key],
        )
        .await?
        .is_some()
    {
        return Err(key_conflict());
    }
    let row = ctx
        .opt(
            "INSERT INTO users (handle, display_name, kind, pts, created_at)
             VALUES ($1, $2, 'person', 0, $3)
             ON CONFLICT (handle) DO NOTHING RETURNING id",
            &[&handle, &display_name, &ctx.now],
        )
        .await?
        .ok_or_else(taken)?;
    let user = UserId(col(&row, 0)?);
    let device = insert_device(
        ctx,
        user,
        &account.public_key,
        &device_name,
        &account.token_hash,
    )
    .await?;
    Ok(Principal {
        user: UserInfo {
            id: user,
            handle,
            display_name,
        },
        device,
    })
}

pub async fn login(ctx: &Ctx<'_>, public_key: &[u8], token: &SecretHash) -> Result<Principal> {
    let row = ctx
        .opt(
            "UPDATE devices SET last_seen = $2 WHERE public_key = $1 AND NOT revoked RETURNING id",
            &[&public_key, &ctx.now],
        )
        .await?
        .ok_or_else(|| Error::Unauthorized("unknown or revoked device key".into()))?;
    let device = DeviceId(col(&row, 0)?);
    insert_session(ctx, device, token).await?;
    principal(ctx, device).await?.ok_or_else(gone)
}

pub async fn session(ctx: &Ctx<'_>, token: &SecretHash) -> Result<Option<Principal>> {
    match ctx
        .opt(
            "SELECT u.id, u.handle, u.display_name, d.id
             FROM sessions s JOIN devices d ON d.id = s.device_id JOIN users u ON u.id = d.user_id
             WHERE s.token_hash = $1 AND NOT d.revoked",
            &[&&token[..]],
        )
        .await?
    {
        Some(r) => Ok(Some(Principal {
            user: user_row(&r, 0)?,
            device: DeviceId(col(&r, 3)?),
        })),
        None => Ok(None),
    }
}

pub async fn delete_session(ctx: &Ctx<'_>, token: &SecretHash) -> Result<()> {
    ctx.exec("DELETE FROM sessions WHERE token_hash = $1", &[&&token[..]])
        .await?;
    Ok(())
}

pub async fn create_link_code(
    ctx: &Ctx<'_>,
    actor: &Principal,
    code: &SecretHash,
    expires_at: i64,
) -> Result<()> {
    if principal(ctx, actor.device).await?.is_none() {
        return Err(Error::Unauthorized("this device was revoked".into()));
    }
    ctx.exec(
        "INSERT INTO link_codes (code_hash, user_id, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (code_hash) DO UPDATE SET user_id = EXCLUDED.user_id,
                                               expires_at = EXCLUDED.expires_at",
        &[&&code[..], &actor.user.id.0, &expires_at],
    )
    .await?;
    Ok(())
}

pub async fn link_device(ctx: &Ctx<'_>, device: NewDevice) -> Result<Principal> {
    check_key(&device.public_key)?;
    let name = name_or("device name", &device.device_name, "device", ctx.limits)?;
    // Single use: consumed now (the transaction restores it if the rest fails).
    let row = ctx
        .opt(
            "DELETE FROM link_codes WHERE code_hash = $1 AND expires_at > $2 RETURNING user_id",
            &[&&device.code_hash[..], &ctx.now],
        )
        .await?
        .ok_or_else(|| Error::Unauthorized("link code is not valid".into()))?;
    let user = UserId(col(&row, 0)?);
    // Lock the account's row: two links racing on different nodes count devices one at a time.
    ctx.exec(
        "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE",
        &[&user.0],
    )
    .await?;
    let active: i64 = col(
        &ctx.one(
            "SELECT COUNT(*) FROM devices WHERE user_id = $1 AND NOT revoked",
            &[&user.0],
        )
        .await?,
        0,
    )?;
    if active >= i64::from(ctx.limits.max_devices) {
        return Err(Error::forbidden(format!(
            "an account may have at most {} devices: revoke one first",
            ctx.limits.max_devices
        )));
    }
    let id = insert_device(ctx, user, &device.public_key, &name, &device.token_hash).await?;
    principal(ctx, id).await?.ok_or_else(gone)
}

pub async fn devices(ctx: &Ctx<'_>, actor: &Principal) -> Result<Vec<DeviceInfo>> {
    let rows = ctx
        .query(
            "SELECT id, name, public_key, created_at, last_seen, revoked FROM devices
             WHERE user_id = $1 ORDER BY id",
            &[&actor.user.id.0],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let id = DeviceId(col(r, 0)?);
            Ok(DeviceInfo {
                id,
                name: col(r, 1)?,
                public_key: Bytes(col(r, 2)?),
                created_at: col(r, 3)?,
                last_seen: col(r, 4)?,
                revoked: col(r, 5)?,
                current: id == actor.device,
            })
        })
        .collect()
}

pub async fn revoke_device(ctx: &Ctx<'_>, actor: &Principal, device: DeviceId) -> Result<()> {
    let n = ctx
        .exec(
            "UPDATE devices SET revoked = TRUE WHERE id = $1 AND user_id = $2",
            &[&device.0, &actor.user.id.0],
        )
        .await?;
    if n == 0 {
        return Err(Error::not_found("you have no such device"));
    }
    ctx.exec("DELETE FROM sessions WHERE device_id = $1", &[&device.0])
        .await?;
    Ok(())
}

pub async fn create_invite(ctx: &Ctx<'_>, code: &SecretHash, uses: u32) -> Result<()> {
    ctx.exec(
        "INSERT INTO invites (code_hash, uses_left) VALUES ($1, $2)
         ON CONFLICT (code_hash) DO UPDATE SET uses_left = EXCLUDED.uses_left",
        &[&&code[..], &i64::from(uses)],
    )
    .await?;
    Ok(())
}

pub async fn user(ctx: &Ctx<'_>, raw: &str) -> Result<UserInfo> {
    let handle = rules::handle(raw)?;
    require_user(ctx, &handle).await
}

pub async fn head_pts(ctx: &Ctx<'_>, user: UserId) -> Result<Pts> {
    let row = ctx
        .opt("SELECT pts FROM users WHERE id = $1", &[&user.0])
        .await?;
    match row {
        Some(r) => Ok(num(col(&r, 0)?)),
        None => Ok(0),
    }
}
