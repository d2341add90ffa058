//! How the domain's values are stored, the same in every store: counters as signed 64-bit
//! integers, kinds and roles by name, formatting, buttons, system events and bot state as JSON;
//! and the server clock a store stamps its operations with.

use crate::error::{Error, Result};
use chapar_proto::{ConversationKind, Entity, ReplyMarkup, Role};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A seq or pts as stored (saturating; real values are far below `i64::MAX`).
pub fn sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A stored counter back as a seq or pts (negative values cannot occur; they read as 0).
pub fn num(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub fn kind_str(kind: ConversationKind) -> &'static str {
    match kind {
        ConversationKind::Direct => "direct",
        ConversationKind::Group => "group",
        ConversationKind::Channel => "channel",
        ConversationKind::Unknown => "unknown",
    }
}

pub fn parse_kind(s: &str) -> ConversationKind {
    match s {
        "direct" => ConversationKind::Direct,
        "group" => ConversationKind::Group,
        "channel" => ConversationKind::Channel,
        _ => ConversationKind::Unknown,
    }
}

pub fn parse_role(s: &str) -> Role {
    Role::parse(s).unwrap_or(Role::Unknown)
}

/// A JSON column, or `None` when it is NULL or unreadable.
pub fn json<T: serde::de::DeserializeOwned>(v: Option<String>) -> Option<T> {
    v.and_then(|s| serde_json::from_str(&s).ok())
}

/// A value as a JSON column.
pub fn encode(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| Error::Unavailable(format!("cannot encode a stored value: {e}")))
}

/// The `entities` and `reply_markup` columns of a message: JSON, NULL when there are none.
pub fn rich_columns(
    entities: &[Entity],
    reply_markup: &Option<ReplyMarkup>,
) -> Result<(Option<String>, Option<String>)> {
    let entities = match entities.is_empty() {
        true => None,
        false => Some(encode(&entities)?),
    };
    let reply_markup = reply_markup.as_ref().map(encode).transpose()?;
    Ok((entities, reply_markup))
}

/// Unix milliseconds from the system clock.
pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Server time for a store's operations: Unix milliseconds, never going backwards on this node
/// even when the system clock does.
#[derive(Debug, Default)]
pub struct Clock {
    last: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> i64 {
        let wall = wall_ms();
        self.last.fetch_max(wall, Ordering::Relaxed).max(wall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_never_goes_back_and_kinds_round_trip() {
        let clock = Clock::default();
        clock.last.store(i64::MAX - 1, Ordering::Relaxed);
        assert_eq!(
            clock.now(),
            i64::MAX - 1,
            "a clock ahead of the wall is kept"
        );
        for kind in [
            ConversationKind::Direct,
            ConversationKind::Group,
            ConversationKind::Channel,
        ] {
            assert_eq!(parse_kind(kind_str(kind)), kind);
        }
        assert_eq!((sql(u64::MAX), num(-1)), (i64::MAX, 0));
    }
}
