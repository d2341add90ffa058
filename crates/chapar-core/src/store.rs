//! The `Store` trait: the durable state of chapar, as the server uses it. It is implemented
//! once, by [`crate::domain::DomainStore`] over a [`crate::storage::Backend`] (SQLite,
//! PostgreSQL, [`crate::memory`]); every backend passes the same conformance suite.
//!
//! Contract, for every implementation:
//! * A method returns `Ok` only after its effects are committed at the configured durability:
//!   an acknowledged message survives kill -9.
//! * `execute` runs each command atomically. Per conversation, seqs are dense from 1 and unique;
//!   per user, feed pts are increasing and unique. The [`Committed`] fan-out lists, for every
//!   recipient, the pts their feed gave the event.
//! * Permissions and input are judged with [`crate::rules`] inside the same transaction that
//!   reads the state they depend on. A failed command changes nothing.
//! * A command whose `client_id` was already used by the same device in the same conversation
//!   returns the first result with `duplicate = true` and no fan-out.
//! * Every committed `execute` is announced to the [`CommitListener`] before `execute` returns
//!   (in commit order where the backend has one order, as a single writer does).
//! * Backend failures are `Error::Unavailable` (safe to retry); a full write queue is
//!   `Error::Overloaded`.
//! * Bots (see [`crate::bots`]): `execute_bot` keeps the same contract as `execute`.

use crate::bots::{Bot, BotAction, BotChange, BotOp};
pub use crate::domain::AdminOp;
use crate::error::Result;
pub use crate::storage::RelationKind;
use async_trait::async_trait;
use chapar_proto::BotInfo;
use chapar_proto::{
    AuditEntry, Bytes, ConversationId, ConversationInfo, DeviceId, DeviceInfo, Event, FileReport,
    FindPeople, Invitation, Me, MemberInfo, Message, Privacy, Profile, Pts, Report, Role,
    SearchMessages, Seq, SetPrivacy, SetProfile, SyncPage, UserId, UserInfo,
};
use std::sync::Arc;

/// SHA-256 of a secret (session token, link code, invite code): only hashes are stored.
pub type SecretHash = [u8; 32];

/// A signed-in device acting on behalf of its user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user: UserInfo,
    pub device: DeviceId,
    /// When the account was created (Unix ms): new accounts get lower limits.
    pub since: i64,
}

impl Principal {
    pub fn user_id(&self) -> UserId {
        self.user.id
    }
}

/// Sign-up: a user, its first device and a session, created together.
#[derive(Clone, Debug)]
pub struct NewAccount {
    /// Already normalised with [`crate::rules::handle`].
    pub handle: String,
    pub display_name: String,
    /// Ed25519 public key, 32 bytes, signature already verified by the caller.
    pub public_key: Vec<u8>,
    pub device_name: String,
    pub token_hash: SecretHash,
    /// When the sign-up policy requires an invite: the code's hash, consumed atomically.
    pub invite_hash: Option<SecretHash>,
}

/// A new device joining an account with a one-time link code.
#[derive(Clone, Debug)]
pub struct NewDevice {
    pub code_hash: SecretHash,
    pub public_key: Vec<u8>,
    pub device_name: String,
    pub token_hash: SecretHash,
}

/// A new device signing in with the account's recovery key (both keys' signatures already
/// checked by the caller).
#[derive(Clone, Debug)]
pub struct NewRecovery {
    pub handle: String,
    pub recovery_key: Vec<u8>,
    pub public_key: Vec<u8>,
    pub device_name: String,
    pub token_hash: SecretHash,
    pub revoke_others: bool,
}

/// A recovered sign-in, and the devices it revoked (their connections are to be closed).
#[derive(Clone, Debug)]
pub struct Recovered {
    pub principal: Principal,
    pub revoked: Vec<DeviceId>,
}

/// Where a message or history request goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Conversation(ConversationId),
    /// The direct conversation with this (normalised) handle.
    Peer(String),
}

/// A change to the log or to membership, executed atomically by [`Store::execute`].
/// Inputs are validated by the store with [`crate::rules`] (the gateway only decodes them).
#[derive(Clone, Debug)]
pub enum Command {
    Send {
        target: Target,
        client_id: String,
        content_type: Option<String>,
        text: Option<String>,
        data: Option<Bytes>,
        reply_to: Option<Seq>,
    },
    /// Forward message `seq` of `from` (which the actor may read) as it is.
    Forward {
        target: Target,
        client_id: String,
        from: ConversationId,
        seq: Seq,
    },
    /// Archive a conversation for the actor (or take it out).
    Archive {
        conversation: ConversationId,
        archived: bool,
    },
    /// Delete the conversation's history for the actor (and mark it read).
    ClearHistory {
        conversation: ConversationId,
    },
    /// Delete one message for the actor only.
    Hide {
        conversation: ConversationId,
        seq: Seq,
    },
    /// Pin a message at the top of the conversation (`None`: unpin).
    Pin {
        conversation: ConversationId,
        seq: Option<Seq>,
        client_id: String,
    },
    Edit {
        conversation: ConversationId,
        seq: Seq,
        client_id: String,
        text: Option<String>,
        data: Option<Bytes>,
    },
    Delete {
        conversation: ConversationId,
        seq: Seq,
        client_id: String,
    },
    React {
        conversation: ConversationId,
        seq: Seq,
        client_id: String,
        emoji: String,
        remove: bool,
    },
    /// The creator becomes owner; a `created` system message is seq 1.
    CreateGroup {
        title: String,
        members: Vec<String>,
        client_id: String,
    },
    AddMembers {
        conversation: ConversationId,
        handles: Vec<String>,
    },
    RemoveMember {
        conversation: ConversationId,
        handle: String,
    },
    Leave {
        conversation: ConversationId,
    },
    Rename {
        conversation: ConversationId,
        title: String,
    },
    /// Set a group's description (empty: none).
    SetDescription {
        conversation: ConversationId,
        description: String,
    },
    SetRole {
        conversation: ConversationId,
        handle: String,
        role: Role,
    },
    /// Move the actor's markers forward (never backward); a marker beyond `last_seq` is clamped.
    Mark {
        conversation: ConversationId,
        delivered: Option<Seq>,
        read: Option<Seq>,
    },
    /// Join a group the actor was invited to; a `joined` system entry is appended.
    AcceptInvitation {
        conversation: ConversationId,
    },
    /// Operator: delete any message for everyone (recorded in the audit log).
    AdminDelete {
        conversation: ConversationId,
        seq: Seq,
        reason: Option<String>,
    },
}

/// One event and the users whose feeds received it, each with the pts it got there.
#[derive(Clone, Debug)]
pub struct Fanout {
    pub event: Arc<Event>,
    pub recipients: Vec<(UserId, Pts)>,
}

/// The outcome of a committed command.
#[derive(Clone, Debug)]
pub struct Committed {
    pub conversation: ConversationId,
    /// The seq of the log entry the command appended (none for `Mark`).
    pub seq: Option<Seq>,
    pub server_time: i64,
    /// The command's `client_id` had been used before: this is the first outcome again.
    pub duplicate: bool,
    /// What to tell whom, in pts order per user. Empty for duplicates.
    pub fanout: Vec<Fanout>,
}

/// Called with every committed command, in commit order, before its caller is answered. The
/// gateway publishes the fan-out from here, so each user's events leave in pts order.
pub type CommitListener = Arc<dyn Fn(&Committed) + Send + Sync>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Set the listener told of every commit of [`Store::execute`] (once, before serving).
    /// It must not block: it runs on the store's write path.
    fn set_commit_listener(&self, listener: CommitListener);

    /// Create a user, its first device and a session. `Conflict` when the handle or key is taken;
    /// `Forbidden` when an invite is required and not valid.
    async fn create_account(&self, account: NewAccount) -> Result<Principal>;
    /// Create a session for the (not revoked) device holding `public_key`.
    async fn login(&self, public_key: &[u8], token_hash: SecretHash) -> Result<Principal>;
    /// The device behind a session token, if the session exists and the device is not revoked.
    async fn session(&self, token_hash: SecretHash) -> Result<Option<Principal>>;
    async fn delete_session(&self, token_hash: SecretHash) -> Result<()>;
    /// Store a one-time link code (hashed) for the actor's account, valid until `expires_at` (ms).
    async fn create_link_code(
        &self,
        actor: &Principal,
        code_hash: SecretHash,
        expires_at: i64,
    ) -> Result<()>;
    /// Consume a link code and add a device (and its session) to the code's account.
    async fn link_device(&self, device: NewDevice) -> Result<Principal>;
    async fn devices(&self, actor: &Principal) -> Result<Vec<DeviceInfo>>;
    /// Revoke one of the actor's own devices and delete its sessions.
    async fn revoke_device(&self, actor: &Principal, device: DeviceId) -> Result<()>;
    /// Rename one of the actor's own devices (revoked ones too: the list keeps them).
    async fn rename_device(&self, actor: &Principal, device: DeviceId, name: &str) -> Result<()>;
    /// Register or replace (`None`: remove) the actor's recovery key.
    async fn set_recovery_key(&self, actor: &Principal, key: Option<Vec<u8>>) -> Result<()>;
    /// Add a device (and its session) to the account whose recovery key this is.
    async fn recover(&self, recovery: NewRecovery) -> Result<Recovered>;
    /// The actor's own account.
    async fn me(&self, actor: &Principal) -> Result<Me>;
    async fn set_profile(&self, actor: &Principal, change: SetProfile) -> Result<Me>;
    /// Someone's public profile.
    async fn profile(&self, actor: &Principal, handle: &str) -> Result<Profile>;
    /// Operator command: an invite code usable `uses` times until `expires_at` (Unix ms;
    /// `None`: no expiry).
    async fn create_invite(
        &self,
        code_hash: SecretHash,
        uses: u32,
        expires_at: Option<i64>,
    ) -> Result<()>;
    async fn user_by_handle(&self, handle: &str) -> Result<UserInfo>;
    /// The newest pts of a user's feed (0 when empty).
    async fn head_pts(&self, user: UserId) -> Result<Pts>;

    async fn execute(&self, actor: &Principal, command: Command) -> Result<Committed>;

    /// The actor's conversations, most recently active first, at most `limit`.
    async fn conversations(&self, actor: &Principal, limit: u32) -> Result<Vec<ConversationInfo>>;
    async fn conversation(&self, actor: &Principal, id: ConversationId)
    -> Result<ConversationInfo>;
    /// Members with their markers; only for members of the conversation.
    async fn members(&self, actor: &Principal, id: ConversationId) -> Result<Vec<MemberInfo>>;
    /// User ids of the members (for ephemeral events); only for members.
    async fn member_ids(&self, actor: &Principal, id: ConversationId) -> Result<Vec<UserId>>;
    /// Up to `limit` entries before `before` (or the newest), oldest first, with current state
    /// (edits, deletion, reactions) applied. Only entries from the actor's join onwards.
    async fn history(
        &self,
        actor: &Principal,
        target: Target,
        before: Option<Seq>,
        limit: u32,
    ) -> Result<Vec<Message>>;
    /// The actor's messages with a word starting with each word of the query, newest first.
    async fn search(&self, actor: &Principal, query: SearchMessages) -> Result<Vec<Message>>;
    /// The actor's feed after `after`, at most `limit` events.
    async fn feed(&self, actor: &Principal, after: Pts, limit: u32) -> Result<SyncPage>;
    /// Cheap check that the backend answers (readiness).
    async fn ping(&self) -> Result<()>;
    /// Write-path counters for `/metrics`, if the backend keeps them.
    fn stats(&self) -> Option<Arc<crate::stats::StoreStats>> {
        None
    }

    // ---- bots and service accounts (see `crate::bots`) ----

    /// A change by a bot, or a button press by a person, executed like [`Store::execute`]
    /// (atomic, idempotent on `client_id`, announced to the commit listener).
    async fn execute_bot(&self, actor: &Principal, action: BotAction) -> Result<Committed>;
    /// Create a bot owned by `owner`, change its token or its privacy mode. Only the owner may
    /// change a bot (others get `NotFound`, as for a missing bot); a taken handle is `Conflict`.
    async fn manage_bot(&self, owner: &Principal, op: BotOp) -> Result<BotInfo>;
    /// The bots and service accounts `owner` owns, oldest first.
    async fn bots(&self, owner: &Principal) -> Result<Vec<BotInfo>>;
    /// The bot whose current token hashes to `token_hash`, if any.
    async fn bot_session(&self, token_hash: SecretHash) -> Result<Option<Bot>>;
    /// A bot's state by id (whether or not it has a token).
    async fn bot(&self, id: UserId) -> Result<Option<Bot>>;
    /// A bot changes its own state; `NotFound` when `actor` is not a bot.
    async fn update_bot(&self, actor: &Principal, change: BotChange) -> Result<()>;
    /// Bots with a webhook set (the webhook sender starts with them).
    async fn webhook_bots(&self) -> Result<Vec<UserId>>;
    /// A person allows (or stops) the service account `handle` to message them. `NotFound`
    /// when `handle` is not a service account.
    async fn set_consent(&self, actor: &Principal, handle: &str, allowed: bool) -> Result<()>;
    /// The direct conversation between `actor` and user `peer`, if it exists.
    async fn direct_conversation(
        &self,
        actor: &Principal,
        peer: UserId,
    ) -> Result<Option<ConversationId>>;

    // ---- safety (see `crate::domain` and docs/security.md) ----

    /// A session was used now: its idle time (`session_idle_days`) starts again.
    async fn touch_session(&self, token_hash: SecretHash) -> Result<()>;
    /// These devices were online now: their last seen time is now (one write for all).
    async fn seen_devices(&self, devices: Vec<DeviceId>) -> Result<()>;
    /// When each of `users` was last seen (their devices' newest sighting), for those whose
    /// "last seen" setting lets the actor see it; the others are left out.
    async fn last_seen(
        &self,
        actor: &Principal,
        users: Vec<UserId>,
    ) -> Result<Vec<(UserId, Option<i64>)>>;
    /// Block or unblock, add or remove a contact, by handle.
    async fn set_relation(
        &self,
        actor: &Principal,
        handle: &str,
        kind: RelationKind,
        on: bool,
    ) -> Result<()>;
    /// The users the actor blocks, or their contacts, by handle.
    async fn related(&self, actor: &Principal, kind: RelationKind) -> Result<Vec<UserInfo>>;
    async fn privacy(&self, actor: &Principal) -> Result<Privacy>;
    async fn set_privacy(&self, actor: &Principal, change: SetPrivacy) -> Result<Privacy>;
    /// Group invitations waiting for the actor's answer (accepting one is a [`Command`]).
    async fn invitations(&self, actor: &Principal) -> Result<Vec<Invitation>>;
    /// People whose handle or display name starts with the query, as `actor` may find them
    /// (their "who can find me" setting, blocks).
    async fn find_people(&self, actor: &Principal, query: FindPeople) -> Result<Vec<UserInfo>>;
    async fn decline_invitation(
        &self,
        actor: &Principal,
        conversation: ConversationId,
    ) -> Result<()>;
    /// File a report; returns its id.
    async fn report(&self, actor: &Principal, report: FileReport) -> Result<u64>;
    /// A moderation action (`actor` must be an operator; `None`: the server's command line).
    /// Returns the user it was done to, if any.
    async fn admin(&self, actor: Option<&Principal>, op: AdminOp) -> Result<Option<UserInfo>>;
    /// Operator: reports, newest first (open ones unless `all`).
    async fn reports(&self, actor: &Principal, all: bool, limit: u32) -> Result<Vec<Report>>;
    /// Operator (or the command line, `None`): the newest audit entries.
    async fn audit(&self, actor: Option<&Principal>, limit: u32) -> Result<Vec<AuditEntry>>;
}
