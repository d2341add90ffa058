//! What the client tells the application, in order, on its event channel.

use chapar_proto::{CallbackAnswer, FeedEvent, PresenceInfo, Pts, Session, Setting, Typing};
use std::time::Duration;

/// One event for the application. Feed events come exactly once each, in pts order, across
/// reconnects; status events (`Disconnected`, `Reconnecting`) and `Typing` may be shed when the
/// application does not keep up.
// Feed events dominate and are moved once through a channel: boxing would only add an
// allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum ClientEvent {
    /// Signed in (first connection or after a reconnect); the catch-up sync follows.
    Connected(Session),
    /// The next event of this user's feed. Persist its pts as your cursor once handled.
    Feed(FeedEvent),
    /// Someone is typing (ephemeral).
    Typing(Typing),
    /// A bot answered a button this user pressed (ephemeral).
    CallbackAnswer(CallbackAnswer),
    /// One of this user's settings or lists changed, from this or another device (ephemeral):
    /// read it again if you show it.
    SettingsChanged(Setting),
    /// Someone this connection watches came online or left (ephemeral; see
    /// [`crate::Client::watch_presence`]). Neither online nor `last_seen`: show nothing for them.
    Presence(PresenceInfo),
    /// The catch-up sync after (re)connecting, or after a gap, is complete up to `pts`.
    Synced { pts: Pts },
    /// The server trimmed events this device had not seen: refetch the conversation list and
    /// the history you show; feed events continue after this.
    Reset,
    /// The connection was lost; the client reconnects by itself.
    Disconnected { reason: String },
    /// Waiting before reconnect attempt `attempt` (`busy`: the server asked to wait).
    Reconnecting {
        attempt: u32,
        delay: Duration,
        busy: bool,
    },
    /// This device was revoked or its key no longer signs in: the client has stopped.
    Revoked,
    /// The server's operators suspended this account: the client has stopped.
    Suspended { message: String },
}
