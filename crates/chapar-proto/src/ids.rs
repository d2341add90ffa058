//! Identifier newtypes. Numeric on the wire (as JSON numbers), distinct in Rust so a user id can
//! never be passed where a conversation id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id!(
    /// An account (a person or, later, a bot).
    UserId
);
id!(
    /// One device of an account, holding its own Ed25519 key.
    DeviceId
);
id!(
    /// A conversation: direct, group or (later) channel.
    ConversationId
);

/// Position of a message in its conversation's log: dense, starting at 1.
pub type Seq = u64;
/// Position of an event in a user's feed: increasing, used by devices to resync.
pub type Pts = u64;
