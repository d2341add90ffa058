//! Domain objects as they travel on the wire. The server stores and routes message bodies without
//! reading them: `text` is plain UTF-8 for `text/plain`, `data` is opaque bytes for anything else
//! (end-to-end encrypted payloads and media references arrive in later versions).

use crate::bot::{Entity, ReplyMarkup};
use crate::bytes::Bytes;
use crate::ids::{ConversationId, DeviceId, Seq, UserId};
use serde::{Deserialize, Serialize};

/// Content type of plain text message bodies.
pub const TEXT_PLAIN: &str = "text/plain";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    /// Two people; created by the first message to a handle.
    Direct,
    /// Up to the configured member limit, with owner/admin/member roles.
    Group,
    /// Large broadcast (fan-out on read); reserved for a later version.
    Channel,
    #[serde(other)]
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Member,
    /// Channel subscribers (reserved).
    Subscriber,
    #[serde(other)]
    Unknown,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Subscriber => "subscriber",
            Role::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "owner" => Role::Owner,
            "admin" => Role::Admin,
            "member" => Role::Member,
            "subscriber" => Role::Subscriber,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// A normal message (text or opaque body).
    Text,
    /// A membership or settings change, described by `system`.
    System,
    /// Replaces the body of message `target`.
    Edit,
    /// Deletes message `target`.
    Delete,
    /// Adds (or, with `remove`, takes back) a reaction `text` on message `target`.
    Reaction,
    #[serde(other)]
    Unknown,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::System => "system",
            MessageKind::Edit => "edit",
            MessageKind::Delete => "delete",
            MessageKind::Reaction => "reaction",
            MessageKind::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> MessageKind {
        match s {
            "text" => MessageKind::Text,
            "system" => MessageKind::System,
            "edit" => MessageKind::Edit,
            "delete" => MessageKind::Delete,
            "reaction" => MessageKind::Reaction,
            _ => MessageKind::Unknown,
        }
    }
}

/// What a system message records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemEvent {
    /// `created`, `added`, `removed`, `left`, `renamed`, `role_changed`, `invited` (members who
    /// must accept an invitation first) or `joined` (an invitation accepted).
    pub action: String,
    /// Handles the action applies to (added/removed members, the member whose role changed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub handles: Vec<String>,
    /// Their display names when it happened, in the order of `handles` (absent from older
    /// entries: show the handles).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// New title for `created`/`renamed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// New role for `role_changed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionCount {
    pub emoji: String,
    pub count: u32,
}

/// One entry of a conversation's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub conversation: ConversationId,
    pub seq: Seq,
    pub sender: UserId,
    pub sender_handle: String,
    /// The sender's display name as it is now (absent from older servers).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sender_name: String,
    pub sender_device: DeviceId,
    /// The sending device's idempotency key.
    pub client_id: String,
    /// Server time of the append, Unix milliseconds.
    pub server_time: i64,
    pub kind: MessageKind,
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Bytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Seq>,
    /// For edit, delete and reaction entries: the message acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Seq>,
    /// For reaction entries: the reaction is taken back.
    #[serde(default, skip_serializing_if = "is_false")]
    pub remove: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemEvent>,
    /// Current state, filled in history pages: when the body was last edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<i64>,
    /// Current state: the message was deleted (its body is gone).
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// Current state: reactions and how many members gave each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<ReactionCount>,
    /// Formatting of `text` (bold, links, ...), set by bots; offsets in UTF-16 code units.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<Entity>,
    /// Buttons under the message (bots only). In an `edit` entry: the buttons after the edit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_markup: Option<ReplyMarkup>,
    /// A forwarded message: who wrote it first, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward: Option<Forwarded>,
    /// Current state, in the history of the one who asked: they deleted it for themselves
    /// (`hide_message`); its body is not sent. Clients show nothing for it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub hidden: bool,
}

/// Where a forwarded message came from (a forward of a forward keeps the first origin).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forwarded {
    /// Who wrote it (their name as it was when it was forwarded).
    pub from: UserInfo,
    /// When they sent it (Unix ms).
    pub server_time: i64,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: UserId,
    pub handle: String,
    pub display_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub id: DeviceId,
    pub name: String,
    pub public_key: Bytes,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<i64>,
    pub revoked: bool,
    /// When the device's session ends unless it is used before then (Unix ms); absent when
    /// sessions never expire (`session_idle_days = 0`) or the device is revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_expires_at: Option<i64>,
    /// True for the device that asked.
    #[serde(default)]
    pub current: bool,
}

/// A conversation as one member sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationInfo {
    pub id: ConversationId,
    pub kind: ConversationKind,
    /// Group title, or the peer's display name for a direct conversation.
    pub title: String,
    /// The other person of a direct conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<UserInfo>,
    pub role: Role,
    pub member_count: u32,
    pub last_seq: Seq,
    pub read_seq: Seq,
    /// Messages from others after this member's read marker.
    pub unread: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<Message>,
    /// Server time of the last append, Unix milliseconds.
    pub updated_at: i64,
    /// The message pinned at the top of the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<Seq>,
    /// In my archive.
    #[serde(default, skip_serializing_if = "is_false")]
    pub archived: bool,
    /// A group's description; sent by `conversation` (one conversation), not in the list.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub user: UserInfo,
    pub role: Role,
    /// Highest seq one of the member's devices has received.
    pub delivered_seq: Seq,
    /// Highest seq the member has read.
    pub read_seq: Seq,
}

/// A member's delivery and read markers moved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub conversation: ConversationId,
    pub user: UserId,
    pub handle: String,
    pub delivered_seq: Seq,
    pub read_seq: Seq,
}

/// Someone is typing (ephemeral, never stored).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Typing {
    pub conversation: ConversationId,
    pub user: UserId,
    pub handle: String,
}

/// Where a send goes: an existing conversation, or the direct conversation with a handle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Conversation(ConversationId),
    Peer(String),
}
