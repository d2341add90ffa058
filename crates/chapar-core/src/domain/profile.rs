//! The account itself: recovery keys (so losing every device does not lose the account) and
//! profiles (display name and bio).

use super::accounts::{check_key, free_key};
use super::messages::require_user;
use super::safety::not_suspended;
use crate::error::{Error, Result};
use crate::rules;
use crate::storage::{AccountUpdate, Tx};
use crate::store::{NewRecovery, Principal, Recovered};
use chapar_proto::{Me, Profile, SetProfile};

fn not_opened() -> Error {
    // The same answer for an unknown handle, an account without a recovery key and a wrong key:
    // a guess learns nothing.
    Error::Unauthorized("that recovery key does not open an account with this handle".into())
}

pub(crate) async fn set_recovery_key<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    key: Option<Vec<u8>>,
) -> Result<()> {
    if let Some(k) = &key {
        check_key(k)?;
        if tx.key_taken(k).await? {
            return Err(Error::invalid(
                "a recovery key must not be a device's key: make a new one",
            ));
        }
    }
    if tx.principal(actor.device).await?.is_none() {
        return Err(Error::Unauthorized("this device was revoked".into()));
    }
    tx.update_account(actor.user.id, &AccountUpdate::RecoveryKey(key))
        .await
}

pub(crate) async fn recover<T: Tx>(tx: &mut T, r: NewRecovery) -> Result<Recovered> {
    check_key(&r.recovery_key)?;
    check_key(&r.public_key)?;
    let handle = rules::handle(&r.handle).map_err(|_| not_opened())?;
    let device_name = match r.device_name.trim() {
        "" => "device".to_string(),
        raw => rules::label("device name", raw, tx.limits().max_name_chars)?,
    };
    let user = tx.user_by_handle(&handle).await?.ok_or_else(not_opened)?;
    let account = tx.account(user.id).await?.ok_or_else(not_opened)?;
    if account.recovery_key.as_deref() != Some(r.recovery_key.as_slice()) {
        return Err(not_opened());
    }
    not_suspended(tx, user.id).await?;
    free_key(tx, &r.public_key).await?;
    let mut revoked = Vec::new();
    if r.revoke_others {
        for d in tx.devices(user.id).await? {
            if !d.revoked && tx.revoke_device(user.id, d.id).await? {
                revoked.push(d.id);
            }
        }
    } else {
        let max = tx.limits().max_devices;
        if tx.active_devices(user.id).await? >= max {
            return Err(Error::forbidden(format!(
                "an account may have at most {max} devices: recover with revoke_others, or revoke one first"
            )));
        }
    }
    let now = tx.now();
    let device = tx
        .insert_device(user.id, &r.public_key, &device_name, Some(now))
        .await?;
    tx.insert_session(&r.token_hash, device).await?;
    let principal = tx
        .principal(device)
        .await?
        .ok_or_else(|| Error::Unavailable("the device disappeared during the write".into()))?;
    Ok(Recovered { principal, revoked })
}

pub(crate) async fn me<T: Tx>(tx: &mut T, actor: &Principal) -> Result<Me> {
    let user = tx
        .user_by_handle(&actor.user.handle)
        .await?
        .unwrap_or_else(|| actor.user.clone());
    let account = tx
        .account(actor.user.id)
        .await?
        .ok_or_else(|| Error::Unauthorized("this account no longer exists".into()))?;
    Ok(Me {
        user,
        bio: account.bio,
        created_at: account.created_at,
        recovery_key_set: account.recovery_key.is_some(),
        devices: tx.active_devices(actor.user.id).await?,
    })
}

pub(crate) async fn set_profile<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    change: SetProfile,
) -> Result<Me> {
    let now = me(tx, actor).await?;
    let limits = tx.limits();
    let display_name = match change.display_name {
        Some(raw) => rules::label("display name", &raw, limits.max_name_chars)?,
        None => now.user.display_name,
    };
    let bio = match change.bio {
        Some(raw) if raw.trim().is_empty() => String::new(),
        Some(raw) => rules::label("bio", &raw, limits.max_bio_chars)?,
        None => now.bio,
    };
    tx.update_account(actor.user.id, &AccountUpdate::Profile { display_name, bio })
        .await?;
    me(tx, actor).await
}

pub(crate) async fn profile<T: Tx>(tx: &mut T, raw: &str) -> Result<Profile> {
    let user = require_user(tx, &rules::handle(raw)?).await?;
    let bio = tx
        .account(user.id)
        .await?
        .map(|a| a.bio)
        .unwrap_or_default();
    let bot = tx
        .bot(crate::storage::BotKey::Id(user.id))
        .await?
        .map(|(b, _)| chapar_proto::BotProfile {
            kind: b.kind,
            commands: b
                .commands
                .into_iter()
                .map(|c| chapar_proto::BotCommandInfo {
                    command: c.command,
                    description: c.description,
                })
                .collect(),
        });
    Ok(Profile { user, bio, bot })
}
