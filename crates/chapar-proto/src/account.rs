//! The account itself: recovery keys (an account that survives losing every device) and profiles.

use crate::bytes::Bytes;
use crate::model::UserInfo;
use serde::{Deserialize, Serialize};

/// Register (or replace) the account's recovery key. The client makes an Ed25519 key pair, shows
/// its private half to the person once (a phrase to write down, a file to save) and sends the
/// public half with a signature of `recovery_message(challenge)` proving it holds the private one.
/// The previous recovery key, if any, stops working.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetRecoveryKey {
    pub public_key: Bytes,
    pub signature: Bytes,
}

/// Sign in on a new device with the account's recovery key (before signing in).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recover {
    pub handle: String,
    /// The recovery key's public half (32 bytes).
    pub recovery_key: Bytes,
    /// Its signature of `recovery_message(challenge)`.
    pub recovery_signature: Bytes,
    /// The new device's public key and its signature of `auth_message(challenge)`.
    pub public_key: Bytes,
    pub signature: Bytes,
    #[serde(default)]
    pub device_name: Option<String>,
    /// Revoke every other device of the account (a lost or stolen phone).
    #[serde(default)]
    pub revoke_others: bool,
}

/// The signed-in person's own account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Me {
    pub user: UserInfo,
    #[serde(default)]
    pub bio: String,
    pub created_at: i64,
    /// A recovery key is registered: losing every device does not lose the account.
    pub recovery_key_set: bool,
    /// Devices not revoked.
    pub devices: u32,
}

/// Change one's display name and/or bio (absent fields stay).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetProfile {
    pub display_name: Option<String>,
    pub bio: Option<String>,
}

/// Someone's public profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub user: UserInfo,
    #[serde(default)]
    pub bio: String,
    /// Set when this account is a bot or a service account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<BotProfile>,
}

/// What a person sees of a bot: its kind and the commands it offers (`setMyCommands`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BotProfile {
    pub kind: crate::bot::BotKind,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<BotCommandInfo>,
}

/// One of a bot's commands: `/command` and what it does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotCommandInfo {
    pub command: String,
    pub description: String,
}

/// Watch whether these people are online (replaces what this connection watched; empty stops).
/// At most [`MAX_WATCHED`] people; the answer lists those whose "last seen" setting lets me see
/// it, and later changes come as ephemeral `presence` events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WatchPresence {
    pub users: Vec<crate::ids::UserId>,
}

/// Most people one connection watches at once.
pub const MAX_WATCHED: usize = 50;

/// Whether a person is online, and when they last were.
///
/// `online` false with no `last_seen`: nothing may be shown (their setting changed, or they
/// were never seen); a client shows neither "online" nor a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceInfo {
    pub user: crate::ids::UserId,
    pub online: bool,
    /// When they were last online (Unix ms; to the minute for people who left another node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<i64>,
}
