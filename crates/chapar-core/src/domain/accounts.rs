//! Accounts, devices, sessions, link codes and invites. Only hashes of secrets reach a store.

use super::messages::require_user;
use super::safety::not_suspended;
use crate::error::{Error, Result};
use crate::rules;
use crate::storage::{NewUser, Tx};
use crate::store::{NewAccount, NewDevice, Principal, SecretHash};
use chapar_proto::{DeviceId, DeviceInfo, UserInfo};

const PUBLIC_KEY_LEN: usize = 32;

pub(crate) fn check_key(key: &[u8]) -> Result<()> {
    if key.len() == PUBLIC_KEY_LEN {
        Ok(())
    } else {
        Err(Error::invalid("a public key is 32 bytes (Ed25519)"))
    }
}

/// A name given by a person, or `fallback` when they gave none.
fn name_or<T: Tx>(tx: &T, what: &str, raw: &str, fallback: &str) -> Result<String> {
    if raw.trim().is_empty() {
        Ok(fallback.to_string())
    } else {
        rules::label(what, raw, tx.limits().max_name_chars)
    }
}

fn key_registered() -> Error {
    Error::Conflict("that public key is already registered".into())
}

fn gone() -> Error {
    Error::Unavailable("the device disappeared during the write".into())
}

/// A handle free for a new user (person or bot).
pub(crate) async fn free_handle<T: Tx>(tx: &mut T, handle: &str) -> Result<()> {
    if tx.user_by_handle(handle).await?.is_some() {
        return Err(Error::Conflict(format!("handle @{handle} is taken")));
    }
    Ok(())
}

/// A key not registered to any device.
pub(crate) async fn free_key<T: Tx>(tx: &mut T, key: &[u8]) -> Result<()> {
    if tx.key_taken(key).await? {
        return Err(key_registered());
    }
    Ok(())
}

pub(crate) async fn create_account<T: Tx>(tx: &mut T, account: NewAccount) -> Result<Principal> {
    let handle = rules::handle(&account.handle)?;
    check_key(&account.public_key)?;
    let display_name = name_or(tx, "display name", &account.display_name, &handle)?;
    let device_name = name_or(tx, "device name", &account.device_name, "device")?;
    if let Some(invite) = account.invite_hash
        && !tx.take_invite(&invite).await?
    {
        return Err(Error::forbidden("invite code is not valid"));
    }
    free_handle(tx, &handle).await?;
    free_key(tx, &account.public_key).await?;
    let user = NewUser {
        handle: handle.clone(),
        display_name: display_name.clone(),
        bot: None,
    };
    let id = tx.insert_user(&user).await?;
    let now = tx.now();
    let device = tx
        .insert_device(id, &account.public_key, &device_name, Some(now))
        .await?;
    tx.insert_session(&account.token_hash, device).await?;
    Ok(Principal {
        user: UserInfo {
            id,
            handle,
            display_name,
        },
        device,
        since: now,
    })
}

pub(crate) async fn login<T: Tx>(
    tx: &mut T,
    public_key: &[u8],
    token: &SecretHash,
) -> Result<Principal> {
    let device = tx
        .device_by_key(public_key)
        .await?
        .ok_or_else(|| Error::Unauthorized("unknown or revoked device key".into()))?;
    let principal = tx.principal(device).await?.ok_or_else(gone)?;
    not_suspended(tx, principal.user.id).await?;
    tx.insert_session(token, device).await?;
    tx.touch_device(device).await?;
    Ok(principal)
}

pub(crate) async fn create_link_code<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    code: &SecretHash,
    expires_at: i64,
) -> Result<()> {
    if tx.principal(actor.device).await?.is_none() {
        return Err(Error::Unauthorized("this device was revoked".into()));
    }
    tx.put_link_code(code, actor.user.id, expires_at).await
}

pub(crate) async fn link_device<T: Tx>(tx: &mut T, device: NewDevice) -> Result<Principal> {
    check_key(&device.public_key)?;
    let name = name_or(tx, "device name", &device.device_name, "device")?;
    // Single use: consumed now (rolled back with the rest if anything below fails).
    let user = match tx.take_link_code(&device.code_hash).await? {
        Some((user, expires_at)) if expires_at > tx.now() => user,
        _ => return Err(Error::Unauthorized("link code is not valid".into())),
    };
    not_suspended(tx, user).await?;
    let max = tx.limits().max_devices;
    if tx.active_devices(user).await? >= max {
        return Err(Error::forbidden(format!(
            "an account may have at most {max} devices: revoke one first"
        )));
    }
    free_key(tx, &device.public_key).await?;
    let now = tx.now();
    let id = tx
        .insert_device(user, &device.public_key, &name, Some(now))
        .await?;
    tx.insert_session(&device.token_hash, id).await?;
    tx.principal(id).await?.ok_or_else(gone)
}

pub(crate) async fn devices<T: Tx>(tx: &mut T, actor: &Principal) -> Result<Vec<DeviceInfo>> {
    let mut devices = tx.devices(actor.user.id).await?;
    let idle_ms = i64::from(tx.limits().session_idle_days) * 86_400_000;
    for d in &mut devices {
        d.current = d.id == actor.device;
        // A session's use touches its device, so the device's last sighting dates the session.
        d.session_expires_at = (idle_ms > 0 && !d.revoked)
            .then(|| d.last_seen.unwrap_or(d.created_at).saturating_add(idle_ms));
    }
    Ok(devices)
}

pub(crate) async fn revoke_device<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    device: DeviceId,
) -> Result<()> {
    if tx.revoke_device(actor.user.id, device).await? {
        Ok(())
    } else {
        Err(Error::not_found("you have no such device"))
    }
}

pub(crate) async fn rename_device<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    device: DeviceId,
    name: &str,
) -> Result<()> {
    let name = rules::label("device name", name, tx.limits().max_name_chars)?;
    if tx.rename_device(actor.user.id, device, &name).await? {
        Ok(())
    } else {
        Err(Error::not_found("you have no such device"))
    }
}

/// The principal behind a session token, unless the session has been idle longer than
/// `session_idle_days` (0: sessions never expire).
pub(crate) async fn session<T: Tx>(tx: &mut T, token: &SecretHash) -> Result<Option<Principal>> {
    let Some(row) = tx.session(token).await? else {
        return Ok(None);
    };
    let idle_days = i64::from(tx.limits().session_idle_days);
    if idle_days > 0 && tx.now() - row.last_used > idle_days * 86_400_000 {
        return Ok(None);
    }
    Ok(Some(row.principal))
}

pub(crate) async fn user<T: Tx>(tx: &mut T, raw: &str) -> Result<UserInfo> {
    let handle = rules::handle(raw)?;
    require_user(tx, &handle).await
}
