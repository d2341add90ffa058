//! Protocol v1 of chapar: the one schema every client and the server speak.
//!
//! * [`ids`]: newtype identifiers (users, devices, conversations) and the `Seq`/`Pts` counters.
//! * [`model`]: the domain objects that travel on the wire (messages, conversations, members).
//! * [`frame`]: client requests, server replies, pushed events and control frames.
//! * [`error`]: the typed error codes with retry hints.
//! * [`codec`]: the two encodings, JSON (text frames) and MessagePack (binary frames).
//! * [`bot`]: inline keyboards, entities, callback queries and the bot-management requests.
//! * [`account`]: recovery keys and profiles.
//! * [`safety`]: blocking, contacts, privacy, invitations, reports and operator requests.
//! * [`bytes`]: opaque byte strings (base64 in JSON, raw bytes in MessagePack).
//!
//! This crate does no I/O. Unknown fields are ignored when decoding so old clients keep working.

pub mod account;
pub mod bot;
pub mod bytes;
pub mod codec;
pub mod error;
pub mod frame;
pub mod ids;
pub mod model;
pub mod safety;

pub use account::{
    BotCommandInfo, BotProfile, MAX_WATCHED, Me, PresenceInfo, Profile, Recover, SetProfile,
    SetRecoveryKey, WatchPresence,
};
pub use bot::{
    BotInfo, BotKind, BotToken, CallbackAnswer, CallbackQuery, Entity, InlineButton, ReplyMarkup,
};
pub use bytes::Bytes;
pub use codec::{DecodeError, Encoding};
pub use error::{ErrorBody, ErrorCode};
pub use frame::{
    ClientFrame, Control, Event, FeedEvent, Hello, Limits, Request, Response, SearchMessages, Sent,
    ServerFrame, Session, SyncPage,
};
pub use ids::{ConversationId, DeviceId, Pts, Seq, UserId};
pub use model::*;
pub use safety::*;

/// The protocol version this crate implements.
pub const VERSION: &str = "v1";

/// Domain-separation prefix of the bytes a device signs to prove it holds its key.
const AUTH_CONTEXT: &[u8] = b"chapar/v1/auth:";

/// Domain-separation prefix of the bytes a recovery key signs (never valid as a device's proof).
const RECOVERY_CONTEXT: &[u8] = b"chapar/v1/recovery:";

/// The exact bytes a recovery key signs to prove it is held, for `set_recovery_key` and
/// `recover`.
pub fn recovery_message(challenge: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(RECOVERY_CONTEXT.len() + challenge.len());
    m.extend_from_slice(RECOVERY_CONTEXT);
    m.extend_from_slice(challenge);
    m
}

/// The exact bytes a device signs with its Ed25519 key to answer a server challenge.
pub fn auth_message(challenge: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(AUTH_CONTEXT.len() + challenge.len());
    m.extend_from_slice(AUTH_CONTEXT);
    m.extend_from_slice(challenge);
    m
}
