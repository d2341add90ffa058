//! The bot platform on the wire: formatting entities and inline keyboards that messages carry,
//! callback queries (a person presses a button under a bot's message; the bot is told) and their
//! answers, and the requests a person uses to create and manage bots and service accounts.
//!
//! Field names follow the Telegram Bot API where a concept is the same (`reply_markup`,
//! `inline_keyboard`, `callback_data`, entity `type`/`offset`/`length`), so the Bot API layer
//! maps them one to one. Entity offsets and lengths count UTF-16 code units, as Telegram's do.

use crate::ids::{ConversationId, Seq};
use crate::model::UserInfo;
use serde::{Deserialize, Serialize};

/// Buttons shown under a message. Only inline keyboards exist: each row is a list of buttons.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyMarkup {
    pub inline_keyboard: Vec<Vec<InlineButton>>,
}

impl ReplyMarkup {
    /// Every button, row by row.
    pub fn buttons(&self) -> impl Iterator<Item = &InlineButton> {
        self.inline_keyboard.iter().flatten()
    }
}

/// One button: pressing it either sends `callback_data` to the bot (a callback query) or opens
/// `url`. Exactly one of the two is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlineButton {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A formatted span of a message's text (`bold`, `italic`, `underline`, `strikethrough`,
/// `spoiler`, `code`, `pre`, `text_link`, `blockquote`). Offsets count UTF-16 code units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    #[serde(rename = "type")]
    pub kind: String,
    pub offset: u32,
    pub length: u32,
    /// For `text_link`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// For `pre`: the programming language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// A person pressed a callback button: what the message's sender (a bot) receives in its feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackQuery {
    /// Unique per bot; the bot answers with it.
    pub id: String,
    pub conversation: ConversationId,
    /// The message whose button was pressed.
    pub seq: Seq,
    /// Who pressed.
    pub from: UserInfo,
    /// The pressed button's `callback_data`.
    pub data: String,
    pub server_time: i64,
}

/// The bot's answer to a press, pushed (ephemeral, never stored) to the person who pressed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackAnswer {
    pub query_id: String,
    pub conversation: ConversationId,
    pub seq: Seq,
    /// A notice to show (a toast, or a dialog when `show_alert`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub show_alert: bool,
    /// A link the client may open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What kind of automated account: a bot (Telegram-compatible Bot API) or a service account
/// (the service HTTP API: notifications to people who allowed it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BotKind {
    #[default]
    Bot,
    Service,
    #[serde(other)]
    Unknown,
}

impl BotKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BotKind::Bot => "bot",
            BotKind::Service => "service",
            BotKind::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> BotKind {
        match s {
            "bot" => BotKind::Bot,
            "service" => BotKind::Service,
            _ => BotKind::Unknown,
        }
    }
}

/// A bot or service account as its owner sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotInfo {
    pub user: UserInfo,
    pub kind: BotKind,
    /// In groups, the bot receives every message, not only commands, replies and mentions.
    pub read_all: bool,
    /// A token is issued (false after `revoke`).
    pub has_token: bool,
    /// A webhook URL is set.
    #[serde(default)]
    pub webhook: bool,
    pub created_at: i64,
}

/// A bot and, when one was just issued, its token `<bot id>:<secret>` (shown once).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotToken {
    pub bot: BotInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// `create_bot`: a new bot (or service account) owned by the signed-in person.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreateBot {
    pub handle: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub kind: Option<BotKind>,
}

/// `bot_token`: issue a new token (the old one stops working), or with `revoke` only revoke.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BotTokenRequest {
    pub handle: String,
    #[serde(default)]
    pub revoke: bool,
}

/// `bot_access`: privacy mode off (`read_all: true`) or on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BotAccess {
    pub handle: String,
    pub read_all: bool,
}

/// `press_button`: press the callback button with `data` under message `seq`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PressButton {
    pub conversation: ConversationId,
    pub seq: Seq,
    pub data: String,
}

/// `allow_service`: let a service account message you (or, with `allowed: false`, stop it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AllowService {
    pub handle: String,
    #[serde(default = "yes")]
    pub allowed: bool,
}

fn yes() -> bool {
    true
}
