//! The `[bots]` section of the server configuration: limits of the Bot API, the service API and
//! the webhook sender.

use crate::ratelimit::Rate;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BotConfig {
    /// Largest request body the Bot API and the service API read, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Every Bot API or service API call, per bot.
    pub requests_per_bot: Rate,
    /// Messages sent, edited, deleted, forwarded or copied, per bot (Telegram: about 30/s).
    pub sends_per_bot: Rate,
    /// The same, per bot and chat (Telegram: about 1/s in a chat, 20/min in a group).
    pub sends_per_chat: Rate,
    /// Calls with a token that does not work, per client address.
    pub bad_tokens_per_address: Rate,
    /// Keys each of these limiters tracks at most.
    pub max_keys: usize,
    /// `getUpdates` calls waiting at once on this node; beyond, a call answers at once.
    pub max_long_polls: usize,
    /// Longest `getUpdates` wait, in seconds (Telegram's limit is 50).
    pub long_poll_max_secs: u64,
    /// Send webhooks from this node. Unset: on with the embedded store, off in cluster mode
    /// (there, turn it on for exactly one node: each node that sends delivers every update).
    pub webhooks: Option<bool>,
    /// Webhooks may point at loopback, private and link-local addresses. Off by default: a bot
    /// owner could otherwise make the server call services on its own network.
    pub webhook_allow_private: bool,
    /// Longest wait for a webhook's answer, in seconds.
    pub webhook_timeout_secs: u64,
    /// Longest pause between retries of a failing webhook, in seconds.
    pub webhook_max_backoff_secs: u64,
    /// Bots whose webhooks this node sends at once.
    pub max_webhooks: usize,
}

impl Default for BotConfig {
    fn default() -> Self {
        BotConfig {
            max_body_bytes: 256 * 1024,
            requests_per_bot: Rate::new(6000, 300),
            sends_per_bot: Rate::new(1800, 60),
            sends_per_chat: Rate::new(60, 20),
            bad_tokens_per_address: Rate::new(60, 20),
            max_keys: 100_000,
            max_long_polls: 10_000,
            long_poll_max_secs: 50,
            webhooks: None,
            webhook_allow_private: false,
            webhook_timeout_secs: 30,
            webhook_max_backoff_secs: 60,
            max_webhooks: 10_000,
        }
    }
}
