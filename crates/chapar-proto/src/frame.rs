//! Frames: what a client sends (requests with an id) and what the server sends (replies, errors,
//! pushed events, control).
//!
//! ```text
//! → {"id":1,"method":"send","params":{"peer":"bob","client_id":"a1","text":"salam"}}
//! ← {"type":"reply","id":1,"result":{"sent":{"conversation":3,"seq":1,"server_time":1764352000000,"duplicate":false}}}
//! ← {"type":"event","pts":7,"event":{"message":{...}}}
//! ```

use crate::account::*;
use crate::bot::*;
use crate::bytes::Bytes;
use crate::error::ErrorBody;
use crate::ids::{ConversationId, DeviceId, Pts, Seq};
use crate::model::*;
use crate::safety::*;
use serde::{Deserialize, Serialize};

/// A client request. `id` is chosen by the client and echoed in the reply or error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientFrame {
    pub id: u64,
    #[serde(flatten)]
    pub request: Request,
}

/// Every request of protocol v1, tagged by `method`, parameters in `params`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", content = "params", rename_all = "snake_case")]
pub enum Request {
    /// Create an account and its first device. `signature` signs `auth_message(challenge)`.
    Register(Register),
    /// Sign in an existing device by signing this connection's challenge.
    Login(Login),
    /// Resume with a session token from `register`, `login` or `link_device`.
    Authenticate(Authenticate),
    /// From a signed-in device: make a short one-time code that links a new device.
    CreateLinkCode,
    /// Add this new device to the account that made `code`.
    LinkDevice(LinkDevice),
    Devices,
    RevokeDevice(RevokeDevice),
    /// Give one of my devices a name I recognise.
    RenameDevice(RenameDevice),
    /// People whose handle or display name starts with the query.
    FindPeople(FindPeople),
    /// Watch whether some people are online (see [`WatchPresence`]).
    WatchPresence(WatchPresence),
    /// End this session (its token stops working).
    Logout,
    /// Register or replace the account's recovery key.
    SetRecoveryKey(SetRecoveryKey),
    /// Before sign-in: sign in a new device with the account's recovery key.
    Recover(Recover),
    /// The signed-in person's own account (profile, recovery key set, devices).
    Me,
    SetProfile(SetProfile),
    /// Someone's public profile, by handle.
    Profile(UserQuery),
    /// Look up a user by handle.
    User(UserQuery),
    Send(Send),
    Forward(Forward),
    Pin(Pin),
    /// Archive a conversation for me, or take it out of the archive.
    Archive(Archive),
    /// Delete a message for me only (the others keep it).
    HideMessage(MessageAt),
    /// Delete a conversation's history for me (others keep theirs); it leaves my list until
    /// something new is said in it.
    ClearHistory(ConversationRef),
    Edit(Edit),
    Delete(MessageRef),
    React(React),
    CreateGroup(CreateGroup),
    AddMembers(AddMembers),
    RemoveMember(MemberRef),
    Leave(ConversationRef),
    Rename(Rename),
    /// Set a group's description (a `description_changed` system entry says so).
    SetDescription(SetDescription),
    SetRole(SetRole),
    Conversations,
    /// One of my conversations, with what the list leaves out (a group's description).
    Conversation(ConversationRef),
    Members(ConversationRef),
    History(History),
    /// Search my messages (see [`SearchMessages`]); the reply is `messages`, newest first.
    SearchMessages(SearchMessages),
    /// Everything in this user's feed after `pts`.
    Sync(Sync),
    /// Move this user's delivery/read markers in a conversation.
    Mark(Mark),
    Typing(ConversationRef),
    Ping,
    /// Create a bot or service account owned by this user; the reply carries its token.
    CreateBot(CreateBot),
    /// This user's bots and service accounts.
    Bots,
    /// Issue a new token for one of this user's bots (the old one stops working), or revoke it.
    BotToken(BotTokenRequest),
    /// Privacy mode of one of this user's bots: with `read_all` it sees every group message.
    BotAccess(BotAccess),
    /// Press a callback button under a bot's message; the bot's answer comes as an ephemeral
    /// `callback_answer` event.
    PressButton(PressButton),
    /// Allow (or stop) a service account to send this user notifications.
    AllowService(AllowService),
    /// Block a user: they cannot message me, add me to groups or see my receipts.
    Block(UserQuery),
    Unblock(UserQuery),
    /// The users I block.
    Blocked,
    AddContact(UserQuery),
    RemoveContact(UserQuery),
    Contacts,
    /// My privacy settings.
    Privacy,
    SetPrivacy(SetPrivacy),
    /// Group invitations waiting for my answer.
    Invitations,
    /// Join a group I was invited to (a `joined` entry is appended).
    AcceptInvitation(ConversationRef),
    DeclineInvitation(ConversationRef),
    /// Report a message or a user to the operator.
    Report(FileReport),
    /// Operator requests: refused with `forbidden` unless this account is an operator.
    AdminReports(AdminReports),
    AdminResolve(AdminResolve),
    AdminSuspend(AdminSuspend),
    AdminUnsuspend(UserQuery),
    AdminDelete(AdminDelete),
    AdminAudit(AdminAudit),
}

impl Request {
    /// The method name as it appears on the wire.
    pub fn method(&self) -> &'static str {
        match self {
            Request::Register(_) => "register",
            Request::Login(_) => "login",
            Request::Authenticate(_) => "authenticate",
            Request::CreateLinkCode => "create_link_code",
            Request::LinkDevice(_) => "link_device",
            Request::Devices => "devices",
            Request::RevokeDevice(_) => "revoke_device",
            Request::RenameDevice(_) => "rename_device",
            Request::FindPeople(_) => "find_people",
            Request::SearchMessages(_) => "search_messages",
            Request::WatchPresence(_) => "watch_presence",
            Request::Logout => "logout",
            Request::SetRecoveryKey(_) => "set_recovery_key",
            Request::Recover(_) => "recover",
            Request::Me => "me",
            Request::SetProfile(_) => "set_profile",
            Request::Profile(_) => "profile",
            Request::User(_) => "user",
            Request::Send(_) => "send",
            Request::Forward(_) => "forward",
            Request::Pin(_) => "pin",
            Request::Archive(_) => "archive",
            Request::SetDescription(_) => "set_description",
            Request::HideMessage(_) => "hide_message",
            Request::ClearHistory(_) => "clear_history",
            Request::Edit(_) => "edit",
            Request::Delete(_) => "delete",
            Request::React(_) => "react",
            Request::CreateGroup(_) => "create_group",
            Request::AddMembers(_) => "add_members",
            Request::RemoveMember(_) => "remove_member",
            Request::Leave(_) => "leave",
            Request::Rename(_) => "rename",
            Request::SetRole(_) => "set_role",
            Request::Conversations => "conversations",
            Request::Conversation(_) => "conversation",
            Request::Members(_) => "members",
            Request::History(_) => "history",
            Request::Sync(_) => "sync",
            Request::Mark(_) => "mark",
            Request::Typing(_) => "typing",
            Request::Ping => "ping",
            Request::CreateBot(_) => "create_bot",
            Request::Bots => "bots",
            Request::BotToken(_) => "bot_token",
            Request::BotAccess(_) => "bot_access",
            Request::PressButton(_) => "press_button",
            Request::AllowService(_) => "allow_service",
            Request::Block(_) => "block",
            Request::Unblock(_) => "unblock",
            Request::Blocked => "blocked",
            Request::AddContact(_) => "add_contact",
            Request::RemoveContact(_) => "remove_contact",
            Request::Contacts => "contacts",
            Request::Privacy => "privacy",
            Request::SetPrivacy(_) => "set_privacy",
            Request::Invitations => "invitations",
            Request::AcceptInvitation(_) => "accept_invitation",
            Request::DeclineInvitation(_) => "decline_invitation",
            Request::Report(_) => "report",
            Request::AdminReports(_) => "admin_reports",
            Request::AdminResolve(_) => "admin_resolve",
            Request::AdminSuspend(_) => "admin_suspend",
            Request::AdminUnsuspend(_) => "admin_unsuspend",
            Request::AdminDelete(_) => "admin_delete",
            Request::AdminAudit(_) => "admin_audit",
        }
    }

    /// Requests a connection may make before it is signed in.
    pub fn is_pre_auth(&self) -> bool {
        matches!(
            self,
            Request::Register(_)
                | Request::Login(_)
                | Request::Authenticate(_)
                | Request::LinkDevice(_)
                | Request::Recover(_)
                | Request::Ping
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Register {
    pub handle: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Ed25519 public key of the first device (32 bytes).
    pub public_key: Bytes,
    /// Signature of `auth_message(challenge)` by that key (64 bytes).
    pub signature: Bytes,
    #[serde(default)]
    pub device_name: Option<String>,
    /// Required when the server's sign-up policy is `invite`.
    #[serde(default)]
    pub invite_code: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Login {
    pub public_key: Bytes,
    pub signature: Bytes,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Authenticate {
    pub token: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkDevice {
    pub code: String,
    pub public_key: Bytes,
    pub signature: Bytes,
    #[serde(default)]
    pub device_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RevokeDevice {
    pub device_id: DeviceId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RenameDevice {
    pub device_id: DeviceId,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserQuery {
    pub handle: String,
}

/// A new message. Give `conversation`, or `peer` (a handle) for the direct conversation with that
/// user, which is created by the first message. Give `text` (for `text/plain`) or `data`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Send {
    #[serde(default)]
    pub conversation: Option<ConversationId>,
    #[serde(default)]
    pub peer: Option<String>,
    /// Idempotency key: a retried send with the same `client_id` returns the first result.
    pub client_id: String,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub data: Option<Bytes>,
    #[serde(default)]
    pub reply_to: Option<Seq>,
}

/// Forward message `seq` of `from` (one I may read) into a conversation or to a person, as it
/// is, marked with who wrote it first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Forward {
    #[serde(default)]
    pub conversation: Option<ConversationId>,
    #[serde(default)]
    pub peer: Option<String>,
    pub client_id: String,
    pub from: ConversationId,
    pub seq: Seq,
}

/// Pin message `seq` at the top of a conversation (none: unpin); a system entry says so.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pin {
    pub conversation: ConversationId,
    #[serde(default)]
    pub seq: Option<Seq>,
    pub client_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Edit {
    pub conversation: ConversationId,
    pub seq: Seq,
    pub client_id: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub data: Option<Bytes>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageRef {
    pub conversation: ConversationId,
    pub seq: Seq,
    pub client_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct React {
    pub conversation: ConversationId,
    pub seq: Seq,
    pub client_id: String,
    pub emoji: String,
    /// Take the reaction back instead of adding it.
    #[serde(default)]
    pub remove: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreateGroup {
    pub title: String,
    /// Handles of the first members (the creator is added as owner).
    #[serde(default)]
    pub members: Vec<String>,
    /// Idempotency key: a retried create returns the first group.
    pub client_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddMembers {
    pub conversation: ConversationId,
    pub handles: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberRef {
    pub conversation: ConversationId,
    pub handle: String,
}

/// A group's description (admins; empty: none).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetDescription {
    pub conversation: ConversationId,
    #[serde(default)]
    pub description: String,
}

/// One message of a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageAt {
    pub conversation: ConversationId,
    pub seq: Seq,
}

/// Put a conversation in my archive (or take it out); only my own list changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Archive {
    pub conversation: ConversationId,
    #[serde(default = "yes")]
    pub archived: bool,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversationRef {
    pub conversation: ConversationId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rename {
    pub conversation: ConversationId,
    pub title: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetRole {
    pub conversation: ConversationId,
    pub handle: String,
    pub role: Role,
}

/// A page of a conversation's log, oldest first, ending before `before` (or at the newest).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct History {
    #[serde(default)]
    pub conversation: Option<ConversationId>,
    #[serde(default)]
    pub peer: Option<String>,
    #[serde(default)]
    pub before: Option<Seq>,
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Messages with a word starting with each word of `query`, newest first, in my
/// conversations (or only in `conversation`), as far back as I may read each. Next page:
/// `before` = the `server_time` of the last result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchMessages {
    pub query: String,
    pub conversation: Option<ConversationId>,
    pub before: Option<i64>,
    /// At most this many (default 20, at most 50).
    pub limit: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sync {
    pub pts: Pts,
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    pub conversation: ConversationId,
    #[serde(default)]
    pub delivered: Option<Seq>,
    #[serde(default)]
    pub read: Option<Seq>,
}

/// Successful results, one variant per kind of answer.
// Frames live for one encode or decode; boxing variants would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Ok,
    Pong {
        server_time: i64,
    },
    Session(Session),
    LinkCode {
        code: String,
        expires_at: i64,
    },
    Devices(Vec<DeviceInfo>),
    User(UserInfo),
    Sent(Sent),
    Conversation(ConversationInfo),
    Conversations(Vec<ConversationInfo>),
    Members(Vec<MemberInfo>),
    Messages(Vec<Message>),
    Sync(SyncPage),
    /// A bot, with its token when one was just issued.
    BotToken(BotToken),
    Bot(BotInfo),
    Bots(Vec<BotInfo>),
    /// A button press was delivered to the bot as callback query `query_id`.
    Pressed {
        query_id: String,
    },
    /// Blocked users or contacts, by handle.
    Users(Vec<UserInfo>),
    /// Who of the watched people may be seen, and whether they are online.
    Presence(Vec<PresenceInfo>),
    Me(Me),
    Profile(Profile),
    Privacy(Privacy),
    Invitations(Vec<Invitation>),
    /// A report was filed with this id.
    Reported {
        id: u64,
    },
    Reports(Vec<Report>),
    Audit(Vec<AuditEntry>),
}

/// A signed-in device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub user: UserInfo,
    pub device_id: DeviceId,
    /// The session token, given once by `register`, `login` and `link_device`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The newest pts of this user's feed.
    pub pts: Pts,
}

/// The result of an append to a conversation's log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sent {
    pub conversation: ConversationId,
    pub seq: Seq,
    pub server_time: i64,
    /// True when this `client_id` had already been appended: this is the first result again.
    #[serde(default)]
    pub duplicate: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncPage {
    pub events: Vec<FeedEvent>,
    /// The pts of the last event returned (or the request's pts when there is none).
    pub pts: Pts,
    /// More events follow: sync again from `pts`.
    pub more: bool,
    /// The device is too far behind (events were trimmed): refetch the conversation list and
    /// history, then continue from `pts`.
    #[serde(default)]
    pub reset: bool,
}

/// An event of a user's feed, with its position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedEvent {
    pub pts: Pts,
    pub event: Event,
}

#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A log entry in one of the user's conversations (including system, edit, delete, reaction).
    Message(Message),
    /// A member's delivery/read markers moved.
    Receipt(Receipt),
    /// Ephemeral: someone is typing (pushed live only, never in the feed).
    Typing(Typing),
    /// In a bot's feed only: a person pressed one of its callback buttons.
    CallbackQuery(CallbackQuery),
    /// Ephemeral, to the person who pressed: the bot's answer to a callback query.
    CallbackAnswer(CallbackAnswer),
    /// Someone invited this user to a group (accept or decline it).
    Invitation(Invitation),
    /// Ephemeral, to the user's own devices: one of their settings or lists changed.
    SettingsChanged(SettingsChanged),
    /// Ephemeral, to connections watching the person: they came online or left.
    Presence(PresenceInfo),
}

/// Server frames, tagged by `type`.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame on every connection.
    Hello(Hello),
    Reply {
        id: u64,
        result: Response,
    },
    /// A request failed (`id` is absent when the frame could not be read at all).
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        error: ErrorBody,
    },
    /// A pushed event; `pts` is absent for ephemeral events.
    Event {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pts: Option<Pts>,
        event: Event,
    },
    /// The server is about to close the connection, and why.
    Control(Control),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub version: String,
    /// Random bytes to sign for `register`, `login` and `link_device`.
    pub challenge: Bytes,
    pub server_time: i64,
    pub limits: Limits,
}

/// Limits the client must respect (the server enforces them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub max_frame_bytes: u32,
    pub max_text_chars: u32,
    pub max_body_bytes: u32,
    pub max_group_members: u32,
    pub requests_per_second: u32,
    pub max_page: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    /// `lagging` (outbound queue full: reconnect and sync), `revoked` (device revoked),
    /// `suspended` (an operator suspended the account),
    /// `shutdown` (node draining: reconnect, elsewhere if you can), `idle` (heartbeat missed).
    pub reason: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}
