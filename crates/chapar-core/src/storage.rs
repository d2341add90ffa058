//! The storage interface: what one transaction of a store can read and write.
//!
//! Every command's rules and flow live once, in [`crate::domain`], written against [`Tx`]. A
//! store (SQLite, PostgreSQL, [`crate::memory`]) implements `Tx` over one transaction (for a
//! write: the batch transaction and the command's own savepoint) and [`Backend`] to run
//! operations: it owns its schema, migrations and tuned SQL, and no domain rule, user-facing
//! error or event construction.
//!
//! Contract for implementations of [`Tx`]:
//! * Every method sees the effects of the methods called before it in the same transaction. A
//!   failed operation is rolled back whole by the backend (the domain never undoes by hand).
//! * Backend failures are `Error::Unavailable`; nothing else is invented by a store.
//! * Lock order, enforced by the types: a conversation is locked first ([`Tx::lock`] returns the
//!   data for a [`ConvLock`], which only the domain can make); every write that touches a
//!   conversation or bumps users' pts takes that `&ConvLock`; users' rows are then locked in id
//!   order ([`Recipients`] is sorted by construction, and [`Tx::append`] must lock the members'
//!   rows in id order). So no two transactions ever wait on each other in a cycle.
//! * Per conversation, [`Tx::append`] assigns `seq = last_seq + 1`; per user, every feed push
//!   assigns `pts = previous + 1` and returns it.
//! * Rows are read back as protocol types (`Message` with reactions, `UserInfo`, ...).

use crate::bots::{Bot, MenuCommand, Webhook};
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::stats::StoreStats;
use crate::store::{CommitListener, Principal, SecretHash};
use chapar_proto::{
    AuditEntry, BotKind, Bytes, ConversationId, ConversationKind, DeviceId, DeviceInfo, Entity,
    Event, Forwarded, Invitation, MemberInfo, Message, MessageKind, Privacy, Pts, ReplyMarkup,
    Report, ReportReason, Role, Seq, SystemEvent, TEXT_PLAIN, UserId, UserInfo,
};
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// A conversation's own row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvRow {
    pub id: ConversationId,
    pub kind: ConversationKind,
    pub title: String,
    pub last_seq: Seq,
    pub updated_at: i64,
    /// A direct conversation either of whose two people blocks the other: nothing more may be
    /// appended to it (see [`Tx::set_blocked`]).
    pub blocked: bool,
    /// The message pinned at the top.
    pub pinned: Option<Seq>,
}

/// What one person set about one of their conversations, for themselves only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChatState {
    pub archived: bool,
    /// Entries up to this seq are gone from their history (`clear_history`).
    pub cleared_seq: Seq,
}

/// One member's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRow {
    pub role: Role,
    pub joined_seq: Seq,
    pub delivered_seq: Seq,
    pub read_seq: Seq,
}

/// What [`Tx::lock`] reads under the conversation's lock.
#[derive(Clone, Debug)]
pub struct LockRow {
    pub conv: ConvRow,
    /// The asking user's membership, if any.
    pub member: Option<MemberRow>,
    /// With a dedup key: the (seq, server time) of the entry that device already appended
    /// with that client_id.
    pub first: Option<(Seq, i64)>,
}

/// Proof that this transaction holds a conversation's lock. Only the domain makes one (from
/// [`Tx::lock`]'s answer), and every write to a conversation or to users' feeds needs one.
#[derive(Debug)]
pub struct ConvLock {
    id: ConversationId,
}

impl ConvLock {
    pub(crate) fn new(id: ConversationId) -> ConvLock {
        ConvLock { id }
    }

    pub fn id(&self) -> ConversationId {
        self.id
    }
}

/// Users whose feeds get one item, sorted by id without repeats (the order their rows are
/// locked in). Only the domain makes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipients(Vec<UserId>);

impl Recipients {
    pub(crate) fn new(mut users: Vec<UserId>) -> Recipients {
        users.sort_unstable();
        users.dedup();
        Recipients(users)
    }

    pub fn users(&self) -> &[UserId] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A log entry about to be appended.
#[derive(Clone, Debug)]
pub struct Entry {
    pub kind: MessageKind,
    pub client_id: Option<String>,
    pub content_type: String,
    pub text: Option<String>,
    pub data: Option<Bytes>,
    pub reply_to: Option<Seq>,
    pub target: Option<Seq>,
    pub remove: bool,
    pub system: Option<SystemEvent>,
    /// Formatting and buttons (bot messages and their edits).
    pub entities: Vec<Entity>,
    pub reply_markup: Option<ReplyMarkup>,
    /// A forwarded message's origin.
    pub forward: Option<Forwarded>,
}

impl Entry {
    pub(crate) fn text(client_id: String, content_type: String) -> Entry {
        Entry {
            kind: MessageKind::Text,
            client_id: Some(client_id),
            content_type,
            text: None,
            data: None,
            reply_to: None,
            target: None,
            remove: false,
            system: None,
            entities: Vec::new(),
            reply_markup: None,
            forward: None,
        }
    }

    pub(crate) fn system(event: SystemEvent) -> Entry {
        Entry {
            kind: MessageKind::System,
            client_id: None,
            system: Some(event),
            ..Entry::text(String::new(), TEXT_PLAIN.to_string())
        }
    }

    pub(crate) fn change(
        kind: MessageKind,
        client_id: String,
        content_type: String,
        target: Seq,
    ) -> Entry {
        Entry {
            kind,
            target: Some(target),
            ..Entry::text(client_id, content_type)
        }
    }
}

/// What [`Tx::append`] did: the entry's seq and every member's new pts.
#[derive(Clone, Debug)]
pub struct Appended {
    pub seq: Seq,
    pub recipients: Vec<(UserId, Pts)>,
}

/// A change to a message's current state, recorded beside the log entry that reports it.
#[derive(Clone, Debug)]
pub enum MessageChange {
    /// New body (and formatting and buttons) as of `edited_at`.
    Edit {
        text: Option<String>,
        data: Option<Bytes>,
        entities: Vec<Entity>,
        reply_markup: Option<ReplyMarkup>,
        edited_at: i64,
    },
    /// Deleted: the message and every edit entry targeting it lose their bodies, formatting and
    /// buttons, and its reactions go.
    Delete,
    React {
        user: UserId,
        emoji: String,
        remove: bool,
    },
}

/// A feed item that is not a log entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemKind {
    Receipt,
    Callback,
    Invitation,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Receipt => "receipt",
            ItemKind::Callback => "callback",
            ItemKind::Invitation => "invitation",
        }
    }
}

/// A feed item pushed to some users' feeds: its kind, the message it concerns and its payload
/// (JSON of the event).
#[derive(Clone, Debug)]
pub struct FeedItem {
    pub kind: ItemKind,
    pub seq: Option<Seq>,
    pub payload: String,
}

/// A conversation row as a member sees it in a list.
#[derive(Clone, Debug)]
pub struct Summary {
    pub conv: ConvRow,
    pub member: MemberRow,
    pub member_count: u32,
    /// Text messages of others after `max(read_seq, joined_seq - 1)`, not deleted.
    pub unread: u32,
    /// The newest text or system entry from the member's join on.
    pub last_message: Option<Message>,
    /// For direct conversations: the other member.
    pub peer: Option<UserInfo>,
}

/// A feed row read back: its pts and its event (`None` when it cannot be read back).
#[derive(Clone, Debug)]
pub struct FeedRow {
    pub pts: Pts,
    pub event: Option<Event>,
}

/// A user to insert.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub handle: String,
    pub display_name: String,
    /// `None`: a person.
    pub bot: Option<BotKind>,
}

/// A conversation to insert.
#[derive(Clone, Debug)]
pub struct NewConversation {
    pub kind: ConversationKind,
    pub title: String,
    /// The direct conversation's pair key ([`crate::rules::direct_key`]).
    pub direct_key: Option<String>,
    /// Group creation's idempotency key: (creator device, client_id).
    pub creator: Option<(DeviceId, String)>,
}

/// A session read back: who it signs in and when it was last used (Unix ms).
#[derive(Clone, Debug)]
pub struct SessionRow {
    pub principal: Principal,
    pub last_used: i64,
}

/// What one user set about another.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relation {
    pub blocked: bool,
    pub contact: bool,
}

/// A kind of relation one user sets about another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelationKind {
    Block,
    Contact,
}

impl RelationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RelationKind::Block => "block",
            RelationKind::Contact => "contact",
        }
    }
}

/// An account's state beyond its public info.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Account {
    pub created_at: i64,
    /// May use the operator (moderation) requests.
    pub operator: bool,
    /// When and why an operator suspended it.
    pub suspended: Option<(i64, String)>,
    pub privacy: Privacy,
    /// The public half of the account's recovery key.
    pub recovery_key: Option<Vec<u8>>,
    pub bio: String,
}

/// A change to an account's state.
#[derive(Clone, Debug)]
pub enum AccountUpdate {
    Privacy(Privacy),
    Operator(bool),
    Suspended(Option<(i64, String)>),
    RecoveryKey(Option<Vec<u8>>),
    /// The display name (on the user row every read shows) and the bio.
    Profile {
        display_name: String,
        bio: String,
    },
}

/// A report to insert.
#[derive(Clone, Debug)]
pub struct NewReport {
    pub reporter: UserId,
    pub user: UserId,
    pub conversation: Option<ConversationId>,
    pub seq: Option<Seq>,
    pub text: Option<String>,
    pub reason: ReportReason,
    pub comment: Option<String>,
}

/// An audit entry to insert.
#[derive(Clone, Debug)]
pub struct NewAudit {
    /// `None`: done on the server's command line.
    pub operator: Option<UserId>,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// How a bot is looked up.
#[derive(Clone, Copy, Debug)]
pub enum BotKey<'a> {
    Id(UserId),
    Handle(&'a str),
    Token(&'a SecretHash),
}

/// A bot's stored state change.
#[derive(Clone, Debug)]
pub enum BotUpdate {
    Token(Option<SecretHash>),
    ReadAll(bool),
    Webhook(Option<Webhook>),
    Commands(Vec<MenuCommand>),
    AllowedUpdates(Vec<String>),
    /// Raise the confirmed offset (never lowers it).
    Offset(Pts),
}

/// One transaction of a store. See the module documentation for the contract.
///
/// Methods return futures without a `Send` bound: a synchronous store's futures are ready at
/// once ([`now_or_never`]); an async store's are `Send` when its types are.
pub trait Tx {
    /// Server time of this operation (Unix ms; never going backwards on one node).
    fn now(&self) -> i64;
    fn limits(&self) -> &Limits;

    // ---- users, devices, sessions, one-time secrets ----
    fn user_by_handle(&mut self, handle: &str) -> impl Future<Output = Result<Option<UserInfo>>>;
    /// Users whose handle starts with `handle` or (when given) whose lower-cased display name
    /// starts with `name`, by handle, at most `limit`. Both prefixes are plain text (no
    /// wildcards).
    fn find_users(
        &mut self,
        handle: &str,
        name: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<UserInfo>>>;
    fn insert_user(&mut self, user: &NewUser) -> impl Future<Output = Result<UserId>>;
    /// The newest pts of a user's feed (0 when empty or unknown).
    fn head_pts(&mut self, user: UserId) -> impl Future<Output = Result<Pts>>;
    fn key_taken(&mut self, public_key: &[u8]) -> impl Future<Output = Result<bool>>;
    /// The not revoked device holding `public_key`.
    fn device_by_key(
        &mut self,
        public_key: &[u8],
    ) -> impl Future<Output = Result<Option<DeviceId>>>;
    /// The device's user, if the device exists and is not revoked.
    fn principal(&mut self, device: DeviceId) -> impl Future<Output = Result<Option<Principal>>>;
    fn insert_device(
        &mut self,
        user: UserId,
        public_key: &[u8],
        name: &str,
        last_seen: Option<i64>,
    ) -> impl Future<Output = Result<DeviceId>>;
    /// Set a device's last seen time to now.
    fn touch_device(&mut self, device: DeviceId) -> impl Future<Output = Result<()>>;
    /// Set these devices' last seen time to now (one statement where the store can).
    fn touch_devices(&mut self, devices: &[DeviceId]) -> impl Future<Output = Result<()>>;
    fn active_devices(&mut self, user: UserId) -> impl Future<Output = Result<u32>>;
    /// A user's devices, oldest first (`current` false).
    fn devices(&mut self, user: UserId) -> impl Future<Output = Result<Vec<DeviceInfo>>>;
    /// Mark the user's device revoked and delete its sessions; false when there is no such
    /// device of that user.
    fn revoke_device(
        &mut self,
        user: UserId,
        device: DeviceId,
    ) -> impl Future<Output = Result<bool>>;
    /// Rename the user's device; false when there is no such device of that user.
    fn rename_device(
        &mut self,
        user: UserId,
        device: DeviceId,
        name: &str,
    ) -> impl Future<Output = Result<bool>>;
    /// The principal behind a session token (device not revoked), with its last use.
    fn session(&mut self, token: &SecretHash) -> impl Future<Output = Result<Option<SessionRow>>>;
    /// Set a session's last use, and its device's last seen time, to now.
    fn touch_session(&mut self, token: &SecretHash) -> impl Future<Output = Result<()>>;
    /// Delete every session of a user's devices; returns how many there were.
    fn delete_sessions(&mut self, user: UserId) -> impl Future<Output = Result<u32>>;
    fn insert_session(
        &mut self,
        token: &SecretHash,
        device: DeviceId,
    ) -> impl Future<Output = Result<()>>;
    fn delete_session(&mut self, token: &SecretHash) -> impl Future<Output = Result<()>>;
    /// Store (or replace) an invite usable `uses` times until `expires_at` (ms; `None`: never).
    fn put_invite(
        &mut self,
        code: &SecretHash,
        uses: u32,
        expires_at: Option<i64>,
    ) -> impl Future<Output = Result<()>>;
    /// Use an invite once if it has uses left and has not expired; false otherwise.
    fn take_invite(&mut self, code: &SecretHash) -> impl Future<Output = Result<bool>>;
    fn put_link_code(
        &mut self,
        code: &SecretHash,
        user: UserId,
        expires_at: i64,
    ) -> impl Future<Output = Result<()>>;
    /// Delete a link code and return its (user, expires_at) if it existed.
    fn take_link_code(
        &mut self,
        code: &SecretHash,
    ) -> impl Future<Output = Result<Option<(UserId, i64)>>>;

    // ---- accounts, relations, reports, audit ----
    /// A user's account state (`None`: no such user).
    fn account(&mut self, user: UserId) -> impl Future<Output = Result<Option<Account>>>;
    fn update_account(
        &mut self,
        user: UserId,
        update: &AccountUpdate,
    ) -> impl Future<Output = Result<()>>;
    /// What `user` set about `other`.
    fn relation(&mut self, user: UserId, other: UserId) -> impl Future<Output = Result<Relation>>;
    fn set_relation(
        &mut self,
        user: UserId,
        other: UserId,
        kind: RelationKind,
        on: bool,
    ) -> impl Future<Output = Result<()>>;
    /// The users `user` holds in relation `kind`, by handle, at most `limit`.
    fn related(
        &mut self,
        user: UserId,
        kind: RelationKind,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<UserInfo>>>;
    /// Add 1 to `user`'s counter `what` for day `day` (days since the Unix epoch) and return it.
    fn count_daily(
        &mut self,
        user: UserId,
        what: &str,
        day: i64,
    ) -> impl Future<Output = Result<u32>>;
    fn insert_report(&mut self, report: &NewReport) -> impl Future<Output = Result<u64>>;
    /// Reports, newest first: open ones only unless `all`.
    fn reports(&mut self, all: bool, limit: u32) -> impl Future<Output = Result<Vec<Report>>>;
    /// Close an open report; false when there is no open report `id`.
    fn resolve_report(&mut self, id: u64, resolution: &str) -> impl Future<Output = Result<bool>>;
    fn insert_audit(&mut self, entry: &NewAudit) -> impl Future<Output = Result<()>>;
    /// The newest audit entries, newest first.
    fn audit(&mut self, limit: u32) -> impl Future<Output = Result<Vec<AuditEntry>>>;

    // ---- conversations and members ----
    /// The user with this (normalised) handle and, if it exists, the direct conversation between
    /// them and `me` (one read: the first message to someone looks up both).
    fn peer(
        &mut self,
        handle: &str,
        me: UserId,
    ) -> impl Future<Output = Result<Option<(UserInfo, Option<ConversationId>)>>>;
    fn direct_conversation(
        &mut self,
        key: &str,
    ) -> impl Future<Output = Result<Option<ConversationId>>>;
    /// The group this device created with `client_id`: (id, created_at).
    fn group_created_by(
        &mut self,
        device: DeviceId,
        client_id: &str,
    ) -> impl Future<Output = Result<Option<(ConversationId, i64)>>>;
    /// Insert a conversation (last_seq 0, no members). `None` when its direct key exists
    /// already (another transaction made it first).
    fn insert_conversation(
        &mut self,
        conv: &NewConversation,
    ) -> impl Future<Output = Result<Option<ConversationId>>>;
    /// Lock a conversation for the rest of the transaction and read it, `user`'s membership,
    /// and with `dedup` = (device, client_id) the entry that device appended with it. `None`
    /// when the conversation does not exist.
    fn lock(
        &mut self,
        conv: ConversationId,
        user: UserId,
        dedup: Option<(DeviceId, &str)>,
    ) -> impl Future<Output = Result<Option<LockRow>>>;
    /// A conversation and `user`'s membership without locking (reads).
    fn conversation_member(
        &mut self,
        conv: ConversationId,
        user: UserId,
    ) -> impl Future<Output = Result<Option<(ConvRow, Option<MemberRow>)>>>;
    fn member(
        &mut self,
        conv: ConversationId,
        user: UserId,
    ) -> impl Future<Output = Result<Option<MemberRow>>>;
    /// Members' ids in joining order.
    fn member_ids(&mut self, conv: ConversationId) -> impl Future<Output = Result<Vec<UserId>>>;
    /// Members with their role and joining order.
    fn member_roles(
        &mut self,
        conv: ConversationId,
    ) -> impl Future<Output = Result<Vec<(UserId, Role, i64)>>>;
    /// Members with their markers, in joining order.
    fn members(&mut self, conv: ConversationId) -> impl Future<Output = Result<Vec<MemberInfo>>>;
    /// One log entry with its current state and reactions.
    fn message(
        &mut self,
        conv: ConversationId,
        seq: Seq,
    ) -> impl Future<Output = Result<Option<Message>>>;
    /// Add a member; its joining order continues the conversation's.
    fn insert_member(
        &mut self,
        lock: &ConvLock,
        user: UserId,
        role: Role,
        joined_seq: Seq,
    ) -> impl Future<Output = Result<()>>;
    fn delete_member(&mut self, lock: &ConvLock, user: UserId) -> impl Future<Output = Result<()>>;
    fn set_role(
        &mut self,
        lock: &ConvLock,
        user: UserId,
        role: Role,
    ) -> impl Future<Output = Result<()>>;
    fn set_title(&mut self, lock: &ConvLock, title: &str) -> impl Future<Output = Result<()>>;
    /// What `user` set about their conversations (only `conv`'s when given; the default state
    /// is not stored).
    fn chat_states(
        &mut self,
        user: UserId,
        only: Option<ConversationId>,
    ) -> impl Future<Output = Result<Vec<(ConversationId, ChatState)>>>;
    fn set_chat_state(
        &mut self,
        lock: &ConvLock,
        user: UserId,
        state: &ChatState,
    ) -> impl Future<Output = Result<()>>;
    /// `user` deleted message `seq` for themselves.
    fn hide_message(
        &mut self,
        lock: &ConvLock,
        user: UserId,
        seq: Seq,
    ) -> impl Future<Output = Result<()>>;
    /// Which of these messages `user` deleted for themselves.
    fn hidden(
        &mut self,
        user: UserId,
        messages: &[(ConversationId, Seq)],
    ) -> impl Future<Output = Result<Vec<(ConversationId, Seq)>>>;
    fn set_description(
        &mut self,
        lock: &ConvLock,
        description: &str,
    ) -> impl Future<Output = Result<()>>;
    /// A conversation's description (empty: none).
    fn description(&mut self, conv: ConversationId) -> impl Future<Output = Result<String>>;
    /// Pin a message at the top of the conversation, or none ([`ConvRow::pinned`]).
    fn set_pinned(&mut self, lock: &ConvLock, seq: Option<Seq>)
    -> impl Future<Output = Result<()>>;
    /// Mark a direct conversation blocked or not ([`ConvRow::blocked`]).
    fn set_blocked(&mut self, lock: &ConvLock, blocked: bool) -> impl Future<Output = Result<()>>;
    /// Record that `inviter` invited `user` to the locked group (replacing an earlier one).
    fn put_invitation(
        &mut self,
        lock: &ConvLock,
        user: UserId,
        inviter: UserId,
    ) -> impl Future<Output = Result<()>>;
    /// How many invitations `user` has waiting to groups other than `except`.
    fn pending_invitations(
        &mut self,
        user: UserId,
        except: ConversationId,
    ) -> impl Future<Output = Result<u32>>;
    /// Delete `user`'s invitation to `conv` and return it.
    fn take_invitation(
        &mut self,
        conv: ConversationId,
        user: UserId,
    ) -> impl Future<Output = Result<Option<Invitation>>>;
    /// `user`'s invitations, newest first, at most `limit`.
    fn invitations(
        &mut self,
        user: UserId,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Invitation>>>;
    fn set_markers(
        &mut self,
        lock: &ConvLock,
        user: UserId,
        delivered: Seq,
        read: Seq,
    ) -> impl Future<Output = Result<()>>;

    // ---- the log and the feeds ----
    /// Append `entry` as `actor` with the next seq, at [`Tx::now`]; move the actor's own markers
    /// to it (they have seen what they appended); give every current member the next pts of
    /// their feed with a `message` item for it, locking their user rows in id order.
    fn append(
        &mut self,
        lock: &ConvLock,
        actor: &Principal,
        entry: &Entry,
    ) -> impl Future<Output = Result<Appended>>;
    fn change_message(
        &mut self,
        lock: &ConvLock,
        seq: Seq,
        change: &MessageChange,
    ) -> impl Future<Output = Result<()>>;
    /// Give each recipient the next pts of their feed with `item`; returns (user, pts) in the
    /// recipients' order.
    fn push(
        &mut self,
        lock: &ConvLock,
        to: &Recipients,
        item: &FeedItem,
    ) -> impl Future<Output = Result<Vec<(UserId, Pts)>>>;

    // ---- reads of pages ----
    /// The user's conversations, most recently active first (`only`: just that one).
    fn summaries(
        &mut self,
        user: UserId,
        limit: u32,
        only: Option<ConversationId>,
    ) -> impl Future<Output = Result<Vec<Summary>>>;
    /// Up to `limit` entries with `from <= seq < before`, the newest ones, oldest first, with
    /// current state and reactions.
    fn history(
        &mut self,
        conv: ConversationId,
        from: Seq,
        before: Seq,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Message>>>;
    /// Make message `seq` findable by these words ([`crate::search::words`]; none: not
    /// findable any more).
    fn index_message(
        &mut self,
        lock: &ConvLock,
        seq: Seq,
        words: &[String],
    ) -> impl Future<Output = Result<()>>;
    /// Up to `limit` messages, newest first (by server time, before `before`), with a word
    /// starting with each of `words`, in conversations `user` is a member of (only
    /// `conversation` when given), from the member's `joined_seq` on.
    fn search(
        &mut self,
        user: UserId,
        words: &[String],
        conversation: Option<ConversationId>,
        before: Option<i64>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<(ConversationId, Seq)>>>;
    /// Up to `limit` feed rows of `user` after `after`, in pts order.
    fn feed(
        &mut self,
        user: UserId,
        after: Pts,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<FeedRow>>>;

    // ---- bots and service accounts ----
    /// A bot and whether it has a token.
    fn bot(&mut self, key: BotKey<'_>) -> impl Future<Output = Result<Option<(Bot, bool)>>>;
    /// The bots `owner` owns, oldest first, each with whether it has a token.
    fn bots_of(&mut self, owner: UserId) -> impl Future<Output = Result<Vec<(Bot, bool)>>>;
    fn insert_bot(
        &mut self,
        user: UserId,
        owner: UserId,
        device: DeviceId,
        kind: BotKind,
        token: &SecretHash,
    ) -> impl Future<Output = Result<()>>;
    fn update_bot(&mut self, bot: UserId, update: &BotUpdate) -> impl Future<Output = Result<()>>;
    fn webhook_bots(&mut self) -> impl Future<Output = Result<Vec<UserId>>>;
    fn consent(&mut self, user: UserId, service: UserId) -> impl Future<Output = Result<bool>>;
    fn set_consent(
        &mut self,
        user: UserId,
        service: UserId,
        allowed: bool,
    ) -> impl Future<Output = Result<()>>;
}

/// Runs operations of [`crate::domain`] in transactions. [`crate::domain::DomainStore`] turns a
/// backend into a [`crate::store::Store`].
pub trait Backend: Send + Sync + 'static {
    /// Run `op` with [`crate::domain::write`] in a transaction (a batch's savepoint), answer once
    /// committed; a `Written::Committed` outcome is given to the commit listener first, in
    /// commit order.
    fn write(
        &self,
        op: crate::domain::Write,
    ) -> impl Future<Output = Result<crate::domain::Written>> + Send;
    /// Run `op` with [`crate::domain::read`] (in one snapshot where the backend has them).
    fn read(
        &self,
        op: crate::domain::Read,
    ) -> impl Future<Output = Result<crate::domain::ReadOut>> + Send;
    fn set_commit_listener(&self, listener: CommitListener);
    /// Cheap check that the backend answers (readiness).
    fn ping(&self) -> impl Future<Output = Result<()>> + Send;
    fn stats(&self) -> Option<Arc<StoreStats>> {
        None
    }
}

/// The output of a future that is ready at once: how a synchronous store runs the domain's
/// futures on its own thread. A future that is not ready is a bug of that store, answered as
/// `Unavailable` (its work is rolled back by the caller).
pub fn now_or_never<T>(future: impl Future<Output = Result<T>>) -> Result<T> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => out,
        Poll::Pending => Err(Error::Unavailable(
            "a synchronous store operation did not complete".into(),
        )),
    }
}
