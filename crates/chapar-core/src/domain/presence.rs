//! Presence in the store: when people were last seen, as each one's "last seen" setting lets
//! others see it. Whether someone is online right now is not stored: the nodes know it (see
//! `chapar-server`'s `presence`), and write last seen for their devices once a minute.

use super::safety::admits;
use crate::error::{Error, Result};
use crate::storage::Tx;
use crate::store::Principal;
use chapar_proto::{DeviceId, MAX_WATCHED, UserId};

/// For each of `users` the actor may see the last seen time of: the newest last sighting of
/// their devices. Unknown people, those who block the actor and those whose setting leaves the
/// actor out are not listed.
pub(crate) async fn last_seen<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    users: &[UserId],
) -> Result<Vec<(UserId, Option<i64>)>> {
    if users.len() > MAX_WATCHED {
        return Err(Error::invalid(format!(
            "watch at most {MAX_WATCHED} people at once"
        )));
    }
    let mut seen = Vec::with_capacity(users.len());
    for &user in users {
        if seen.iter().any(|(u, _)| *u == user) {
            continue;
        }
        let Some(account) = tx.account(user).await? else {
            continue;
        };
        if user != actor.user.id {
            let theirs = tx.relation(user, actor.user.id).await?;
            if theirs.blocked || !admits(account.privacy.last_seen, &theirs) {
                continue;
            }
        }
        let last = tx
            .devices(user)
            .await?
            .iter()
            .filter(|d| !d.revoked)
            .filter_map(|d| d.last_seen)
            .max();
        seen.push((user, last));
    }
    Ok(seen)
}

/// The devices were seen online now (a node's once-a-minute write).
pub(crate) async fn seen_devices<T: Tx>(tx: &mut T, devices: &[DeviceId]) -> Result<()> {
    tx.touch_devices(devices).await
}
