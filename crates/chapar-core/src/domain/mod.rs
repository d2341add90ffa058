//! The domain of chapar: every command's rules and flow, written once against the storage
//! interface ([`crate::storage::Tx`]) and run by every store.
//!
//! * [`Write`] and [`Read`] name every operation a store runs; [`write`] and [`read`] run one
//!   inside a transaction. A backend ([`crate::storage::Backend`]) only decides how
//!   transactions are made (batches, savepoints, snapshots, retries) and when commits are
//!   announced.
//! * [`DomainStore`] turns a backend into the [`Store`] the server uses.
//! * `messages`: send, edit, delete, react, markers, and the steps every append shares;
//!   `groups`: the group commands; `accounts`: users, devices, sessions, codes; `bots`: bots,
//!   service accounts and their actions; `reads`: lists, members, history, feed.

mod accounts;
mod bots;
mod groups;
mod messages;
mod presence;
mod profile;
mod reads;
mod safety;

pub use safety::AdminOp;

use crate::bots::{Bot, BotAction, BotChange, BotOp};
use crate::error::{Error, Result};
use crate::stats::StoreStats;
use crate::storage::{Backend, BotKey, RelationKind, Tx};
use crate::store::{
    Command, CommitListener, Committed, NewAccount, NewDevice, NewRecovery, Principal, Recovered,
    SecretHash, Store, Target,
};
use async_trait::async_trait;
use chapar_proto::{
    AuditEntry, BotInfo, ConversationId, ConversationInfo, DeviceId, DeviceInfo, FileReport,
    FindPeople, Invitation, Me, MemberInfo, Message, Privacy, Profile, Pts, Report, SearchMessages,
    Seq, SetPrivacy, SetProfile, SyncPage, UserId, UserInfo,
};
use std::sync::Arc;

/// Every change a store makes, run atomically by [`write`].
#[derive(Clone, Debug)]
pub enum Write {
    CreateAccount(NewAccount),
    Login {
        public_key: Vec<u8>,
        token: SecretHash,
    },
    DeleteSession(SecretHash),
    CreateLinkCode {
        actor: Principal,
        code: SecretHash,
        expires_at: i64,
    },
    LinkDevice(NewDevice),
    RevokeDevice {
        actor: Principal,
        device: DeviceId,
    },
    RenameDevice {
        actor: Principal,
        device: DeviceId,
        name: String,
    },
    CreateInvite {
        code: SecretHash,
        uses: u32,
        expires_at: Option<i64>,
    },
    Execute {
        actor: Principal,
        command: Command,
    },
    ExecuteBot {
        actor: Principal,
        action: BotAction,
    },
    ManageBot {
        owner: Principal,
        op: BotOp,
    },
    UpdateBot {
        actor: Principal,
        change: BotChange,
    },
    SetConsent {
        actor: Principal,
        handle: String,
        allowed: bool,
    },
    /// A session was used: its idle time starts again.
    TouchSession(SecretHash),
    /// These devices were online now (a node's once-a-minute presence write).
    SeenDevices(Vec<DeviceId>),
    SetRelation {
        actor: Principal,
        handle: String,
        kind: RelationKind,
        on: bool,
    },
    SetPrivacy {
        actor: Principal,
        change: SetPrivacy,
    },
    DeclineInvitation {
        actor: Principal,
        conversation: ConversationId,
    },
    Report {
        actor: Principal,
        report: FileReport,
    },
    /// A moderation action by an operator (`None`: the server's command line).
    Admin {
        actor: Option<Principal>,
        op: AdminOp,
    },
    SetRecoveryKey {
        actor: Principal,
        key: Option<Vec<u8>>,
    },
    Recover(NewRecovery),
    SetProfile {
        actor: Principal,
        change: SetProfile,
    },
}

impl Write {
    /// The conversation this write locks first, when it is known before it runs (a hint for
    /// stores that take a batch's locks up front, in one order).
    pub fn conversation(&self) -> Option<ConversationId> {
        match self {
            Write::Execute { command, .. } => match command {
                Command::Send {
                    target: Target::Conversation(id),
                    ..
                } => Some(*id),
                Command::Forward {
                    target: Target::Conversation(id),
                    ..
                } => Some(*id),
                Command::Send { .. } | Command::Forward { .. } | Command::CreateGroup { .. } => {
                    None
                }
                Command::Edit { conversation, .. }
                | Command::Pin { conversation, .. }
                | Command::Archive { conversation, .. }
                | Command::ClearHistory { conversation }
                | Command::Hide { conversation, .. }
                | Command::Delete { conversation, .. }
                | Command::React { conversation, .. }
                | Command::AddMembers { conversation, .. }
                | Command::RemoveMember { conversation, .. }
                | Command::Leave { conversation }
                | Command::Rename { conversation, .. }
                | Command::SetDescription { conversation, .. }
                | Command::SetRole { conversation, .. }
                | Command::Mark { conversation, .. }
                | Command::AcceptInvitation { conversation }
                | Command::AdminDelete { conversation, .. } => Some(*conversation),
            },
            Write::ExecuteBot { action, .. } => match action {
                BotAction::Send {
                    target: Target::Conversation(id),
                    ..
                } => Some(*id),
                BotAction::Send { .. } => None,
                BotAction::Edit { conversation, .. }
                | BotAction::PressButton { conversation, .. } => Some(*conversation),
            },
            _ => None,
        }
    }

    /// A key equal for every write to one conversation, when it is known before the write runs
    /// (the conversation's id, or the pair of people of a direct message sent by handle); `None`
    /// for writes outside conversations. Stores with several writers keep a conversation's
    /// writes on one of them.
    pub fn affinity(&self) -> Option<u64> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        match (self.conversation(), self) {
            (Some(c), _) => c.0.hash(&mut h),
            (
                None,
                Write::Execute {
                    actor,
                    command:
                        Command::Send {
                            target: Target::Peer(raw),
                            ..
                        },
                },
            ) => {
                let peer = crate::rules::handle(raw).unwrap_or_default();
                let me = actor.user.handle.as_str();
                (me.min(peer.as_str()), me.max(peer.as_str())).hash(&mut h);
            }
            _ => return None,
        }
        Some(h.finish())
    }
}

/// What a [`Write`] produced.
#[derive(Clone, Debug)]
pub enum Written {
    Principal(Principal),
    /// A change to the log: announced to the commit listener in commit order.
    Committed(Committed),
    Bot(BotInfo),
    Privacy(Privacy),
    Reported(u64),
    /// The user a moderation action was done to.
    User(Option<UserInfo>),
    Recovered(Recovered),
    Me(Box<Me>),
    Done,
}

/// Every read a store answers, run by [`read`].
#[derive(Clone, Debug)]
pub enum Read {
    Session(SecretHash),
    Devices(Principal),
    UserByHandle(String),
    HeadPts(UserId),
    Conversations {
        actor: Principal,
        limit: u32,
    },
    Conversation {
        actor: Principal,
        id: ConversationId,
    },
    Members {
        actor: Principal,
        id: ConversationId,
    },
    MemberIds {
        actor: Principal,
        id: ConversationId,
    },
    History {
        actor: Principal,
        target: Target,
        before: Option<Seq>,
        limit: u32,
    },
    Search {
        actor: Principal,
        query: SearchMessages,
    },
    Feed {
        actor: Principal,
        after: Pts,
        limit: u32,
    },
    Bots(Principal),
    BotSession(SecretHash),
    Bot(UserId),
    WebhookBots,
    DirectConversation {
        actor: Principal,
        peer: UserId,
    },
    Related {
        actor: Principal,
        kind: RelationKind,
    },
    Privacy(Principal),
    Invitations(Principal),
    FindPeople(Principal, FindPeople),
    LastSeen(Principal, Vec<UserId>),
    Reports {
        actor: Principal,
        all: bool,
        limit: u32,
    },
    Audit {
        actor: Option<Principal>,
        limit: u32,
    },
    Me(Principal),
    Profile(String),
}

impl Read {
    /// Reads made of several statements, which must see one snapshot.
    pub fn needs_snapshot(&self) -> bool {
        matches!(
            self,
            Read::Conversations { .. }
                | Read::Conversation { .. }
                | Read::Members { .. }
                | Read::MemberIds { .. }
                | Read::History { .. }
                | Read::Search { .. }
                | Read::Feed { .. }
        )
    }
}

/// What a [`Read`] produced.
#[derive(Clone, Debug)]
pub enum ReadOut {
    Principal(Option<Principal>),
    Devices(Vec<DeviceInfo>),
    User(UserInfo),
    Pts(Pts),
    Conversations(Vec<ConversationInfo>),
    Conversation(Box<ConversationInfo>),
    Members(Vec<MemberInfo>),
    UserIds(Vec<UserId>),
    History(Vec<Message>),
    Feed(SyncPage),
    Bots(Vec<BotInfo>),
    Bot(Option<Bot>),
    Direct(Option<ConversationId>),
    Users(Vec<UserInfo>),
    LastSeen(Vec<(UserId, Option<i64>)>),
    Privacy(Privacy),
    Invitations(Vec<Invitation>),
    Reports(Vec<Report>),
    Audit(Vec<AuditEntry>),
    Me(Box<Me>),
    Profile(Profile),
}

/// Run one write in `tx`. On `Err` the caller rolls the transaction (or savepoint) back.
pub async fn write<T: Tx>(tx: &mut T, op: Write) -> Result<Written> {
    use Written::{Done, Principal as P};
    Ok(match op {
        Write::CreateAccount(a) => P(accounts::create_account(tx, a).await?),
        Write::Login { public_key, token } => P(accounts::login(tx, &public_key, &token).await?),
        Write::DeleteSession(token) => {
            tx.delete_session(&token).await?;
            Done
        }
        Write::CreateLinkCode {
            actor,
            code,
            expires_at,
        } => {
            accounts::create_link_code(tx, &actor, &code, expires_at).await?;
            Done
        }
        Write::LinkDevice(d) => P(accounts::link_device(tx, d).await?),
        Write::RevokeDevice { actor, device } => {
            accounts::revoke_device(tx, &actor, device).await?;
            Done
        }
        Write::RenameDevice {
            actor,
            device,
            name,
        } => {
            accounts::rename_device(tx, &actor, device, &name).await?;
            Done
        }
        Write::CreateInvite {
            code,
            uses,
            expires_at,
        } => {
            tx.put_invite(&code, uses, expires_at).await?;
            Done
        }
        Write::Execute { actor, command } => {
            Written::Committed(execute(tx, &actor, command).await?)
        }
        Write::ExecuteBot { actor, action } => {
            Written::Committed(bots::execute(tx, &actor, action).await?)
        }
        Write::ManageBot { owner, op } => Written::Bot(bots::manage(tx, &owner, op).await?),
        Write::UpdateBot { actor, change } => {
            bots::update(tx, &actor, change).await?;
            Done
        }
        Write::SetConsent {
            actor,
            handle,
            allowed,
        } => {
            bots::set_consent(tx, &actor, &handle, allowed).await?;
            Done
        }
        Write::TouchSession(token) => {
            tx.touch_session(&token).await?;
            Done
        }
        Write::SeenDevices(devices) => {
            presence::seen_devices(tx, &devices).await?;
            Done
        }
        Write::SetRelation {
            actor,
            handle,
            kind,
            on,
        } => {
            safety::set_relation(tx, &actor, &handle, kind, on).await?;
            Done
        }
        Write::SetPrivacy { actor, change } => {
            Written::Privacy(safety::set_privacy(tx, &actor, change).await?)
        }
        Write::DeclineInvitation {
            actor,
            conversation,
        } => {
            safety::decline_invitation(tx, &actor, conversation).await?;
            Done
        }
        Write::Report { actor, report } => {
            Written::Reported(safety::report(tx, &actor, report).await?)
        }
        Write::Admin { actor, op } => Written::User(safety::admin(tx, actor.as_ref(), op).await?),
        Write::SetRecoveryKey { actor, key } => {
            profile::set_recovery_key(tx, &actor, key).await?;
            Done
        }
        Write::Recover(r) => Written::Recovered(profile::recover(tx, r).await?),
        Write::SetProfile { actor, change } => {
            Written::Me(Box::new(profile::set_profile(tx, &actor, change).await?))
        }
    })
}

async fn execute<T: Tx>(tx: &mut T, actor: &Principal, command: Command) -> Result<Committed> {
    match command {
        Command::Send {
            target,
            client_id,
            content_type,
            text,
            data,
            reply_to,
        } => {
            let body = (text, data);
            messages::send(tx, actor, target, client_id, content_type, body, reply_to).await
        }
        Command::Forward {
            target,
            client_id,
            from,
            seq,
        } => messages::forward(tx, actor, target, client_id, from, seq).await,
        Command::Pin {
            conversation,
            seq,
            client_id,
        } => messages::pin(tx, actor, conversation, seq, client_id).await,
        Command::Archive {
            conversation,
            archived,
        } => reads::archive(tx, actor, conversation, archived).await,
        Command::ClearHistory { conversation } => {
            reads::clear_history(tx, actor, conversation).await
        }
        Command::Hide { conversation, seq } => reads::hide(tx, actor, conversation, seq).await,
        Command::Edit {
            conversation,
            seq,
            client_id,
            text,
            data,
        } => messages::edit(tx, actor, (conversation, seq), client_id, text, data).await,
        Command::Delete {
            conversation,
            seq,
            client_id,
        } => messages::delete(tx, actor, conversation, seq, client_id).await,
        Command::React {
            conversation,
            seq,
            client_id,
            emoji,
            remove,
        } => messages::react(tx, actor, (conversation, seq), client_id, emoji, remove).await,
        Command::Mark {
            conversation,
            delivered,
            read,
        } => messages::mark(tx, actor, conversation, delivered, read).await,
        Command::CreateGroup {
            title,
            members,
            client_id,
        } => groups::create(tx, actor, &title, &members, &client_id).await,
        Command::AddMembers {
            conversation,
            handles,
        } => groups::add_members(tx, actor, conversation, &handles).await,
        Command::RemoveMember {
            conversation,
            handle,
        } => groups::remove_member(tx, actor, conversation, &handle).await,
        Command::Leave { conversation } => groups::leave(tx, actor, conversation).await,
        Command::SetDescription {
            conversation,
            description,
        } => groups::set_description(tx, actor, conversation, &description).await,
        Command::Rename {
            conversation,
            title,
        } => groups::rename(tx, actor, conversation, &title).await,
        Command::SetRole {
            conversation,
            handle,
            role,
        } => groups::set_role(tx, actor, conversation, &handle, role).await,
        Command::AcceptInvitation { conversation } => {
            safety::accept_invitation(tx, actor, conversation).await
        }
        Command::AdminDelete {
            conversation,
            seq,
            reason,
        } => safety::admin_delete(tx, actor, conversation, seq, reason).await,
    }
}

/// Run one read in `tx`.
pub async fn read<T: Tx>(tx: &mut T, op: Read) -> Result<ReadOut> {
    Ok(match op {
        Read::Session(token) => ReadOut::Principal(accounts::session(tx, &token).await?),
        Read::Devices(actor) => ReadOut::Devices(accounts::devices(tx, &actor).await?),
        Read::UserByHandle(h) => ReadOut::User(accounts::user(tx, &h).await?),
        Read::HeadPts(user) => ReadOut::Pts(tx.head_pts(user).await?),
        Read::Conversations { actor, limit } => {
            ReadOut::Conversations(reads::conversations(tx, &actor, limit).await?)
        }
        Read::Conversation { actor, id } => {
            ReadOut::Conversation(Box::new(reads::conversation(tx, &actor, id).await?))
        }
        Read::Members { actor, id } => ReadOut::Members(reads::members(tx, &actor, id).await?),
        Read::MemberIds { actor, id } => ReadOut::UserIds(reads::member_ids(tx, &actor, id).await?),
        Read::History {
            actor,
            target,
            before,
            limit,
        } => ReadOut::History(reads::history(tx, &actor, target, before, limit).await?),
        Read::Search { actor, query } => ReadOut::History(reads::search(tx, &actor, &query).await?),
        Read::Feed {
            actor,
            after,
            limit,
        } => ReadOut::Feed(reads::feed(tx, &actor, after, limit).await?),
        Read::Bots(owner) => ReadOut::Bots(bots::list(tx, &owner).await?),
        Read::BotSession(token) => {
            ReadOut::Bot(tx.bot(BotKey::Token(&token)).await?.map(|(b, _)| b))
        }
        Read::Bot(id) => ReadOut::Bot(tx.bot(BotKey::Id(id)).await?.map(|(b, _)| b)),
        Read::WebhookBots => ReadOut::UserIds(tx.webhook_bots().await?),
        Read::DirectConversation { actor, peer } => {
            let key = crate::rules::direct_key(actor.user.id, peer);
            ReadOut::Direct(tx.direct_conversation(&key).await?)
        }
        Read::Related { actor, kind } => ReadOut::Users(safety::related(tx, &actor, kind).await?),
        Read::Privacy(actor) => ReadOut::Privacy(safety::privacy(tx, &actor).await?),
        Read::Invitations(actor) => ReadOut::Invitations(safety::invitations(tx, &actor).await?),
        Read::FindPeople(actor, q) => ReadOut::Users(safety::find_people(tx, &actor, &q).await?),
        Read::LastSeen(actor, users) => {
            ReadOut::LastSeen(presence::last_seen(tx, &actor, &users).await?)
        }
        Read::Reports { actor, all, limit } => {
            ReadOut::Reports(safety::reports(tx, &actor, all, limit).await?)
        }
        Read::Audit { actor, limit } => {
            ReadOut::Audit(safety::audit(tx, actor.as_ref(), limit).await?)
        }
        Read::Me(actor) => ReadOut::Me(Box::new(profile::me(tx, &actor).await?)),
        Read::Profile(handle) => ReadOut::Profile(profile::profile(tx, &handle).await?),
    })
}

/// A [`Store`] made of the domain and a backend. Dereferences to the backend for what is
/// particular to it (its path, its cluster id, ...).
pub struct DomainStore<B> {
    backend: B,
}

impl<B: Backend> DomainStore<B> {
    pub fn new(backend: B) -> Self {
        DomainStore { backend }
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    async fn write(&self, op: Write) -> Result<Written> {
        self.backend.write(op).await
    }

    async fn read(&self, op: Read) -> Result<ReadOut> {
        self.backend.read(op).await
    }
}

impl<B> std::ops::Deref for DomainStore<B> {
    type Target = B;
    fn deref(&self) -> &B {
        &self.backend
    }
}

/// A backend answered an operation with another operation's outcome: a bug, reported as a
/// failure rather than a panic.
fn mismatch() -> Error {
    Error::Unavailable("the store answered with the wrong kind of outcome".into())
}

macro_rules! outcome {
    ($value:expr, $variant:path) => {
        match $value {
            $variant(v) => Ok(v),
            _ => Err(mismatch()),
        }
    };
}

fn done(w: Written) -> Result<()> {
    match w {
        Written::Done => Ok(()),
        _ => Err(mismatch()),
    }
}

#[async_trait]
impl<B: Backend> Store for DomainStore<B> {
    fn set_commit_listener(&self, listener: CommitListener) {
        self.backend.set_commit_listener(listener);
    }

    async fn create_account(&self, account: NewAccount) -> Result<Principal> {
        outcome!(
            self.write(Write::CreateAccount(account)).await?,
            Written::Principal
        )
    }

    async fn login(&self, public_key: &[u8], token_hash: SecretHash) -> Result<Principal> {
        let op = Write::Login {
            public_key: public_key.to_vec(),
            token: token_hash,
        };
        outcome!(self.write(op).await?, Written::Principal)
    }

    async fn session(&self, token_hash: SecretHash) -> Result<Option<Principal>> {
        outcome!(
            self.read(Read::Session(token_hash)).await?,
            ReadOut::Principal
        )
    }

    async fn delete_session(&self, token_hash: SecretHash) -> Result<()> {
        done(self.write(Write::DeleteSession(token_hash)).await?)
    }

    async fn create_link_code(
        &self,
        actor: &Principal,
        code_hash: SecretHash,
        expires_at: i64,
    ) -> Result<()> {
        let op = Write::CreateLinkCode {
            actor: actor.clone(),
            code: code_hash,
            expires_at,
        };
        done(self.write(op).await?)
    }

    async fn link_device(&self, device: NewDevice) -> Result<Principal> {
        outcome!(
            self.write(Write::LinkDevice(device)).await?,
            Written::Principal
        )
    }

    async fn devices(&self, actor: &Principal) -> Result<Vec<DeviceInfo>> {
        outcome!(
            self.read(Read::Devices(actor.clone())).await?,
            ReadOut::Devices
        )
    }

    async fn revoke_device(&self, actor: &Principal, device: DeviceId) -> Result<()> {
        let op = Write::RevokeDevice {
            actor: actor.clone(),
            device,
        };
        done(self.write(op).await?)
    }

    async fn rename_device(&self, actor: &Principal, device: DeviceId, name: &str) -> Result<()> {
        let op = Write::RenameDevice {
            actor: actor.clone(),
            device,
            name: name.to_string(),
        };
        done(self.write(op).await?)
    }

    async fn create_invite(
        &self,
        code_hash: SecretHash,
        uses: u32,
        expires_at: Option<i64>,
    ) -> Result<()> {
        let op = Write::CreateInvite {
            code: code_hash,
            uses,
            expires_at,
        };
        done(self.write(op).await?)
    }

    async fn user_by_handle(&self, handle: &str) -> Result<UserInfo> {
        outcome!(
            self.read(Read::UserByHandle(handle.to_string())).await?,
            ReadOut::User
        )
    }

    async fn head_pts(&self, user: UserId) -> Result<Pts> {
        outcome!(self.read(Read::HeadPts(user)).await?, ReadOut::Pts)
    }

    async fn execute(&self, actor: &Principal, command: Command) -> Result<Committed> {
        let op = Write::Execute {
            actor: actor.clone(),
            command,
        };
        outcome!(self.write(op).await?, Written::Committed)
    }

    async fn conversations(&self, actor: &Principal, limit: u32) -> Result<Vec<ConversationInfo>> {
        let op = Read::Conversations {
            actor: actor.clone(),
            limit,
        };
        outcome!(self.read(op).await?, ReadOut::Conversations)
    }

    async fn conversation(
        &self,
        actor: &Principal,
        id: ConversationId,
    ) -> Result<ConversationInfo> {
        let op = Read::Conversation {
            actor: actor.clone(),
            id,
        };
        outcome!(self.read(op).await?, ReadOut::Conversation).map(|c| *c)
    }

    async fn members(&self, actor: &Principal, id: ConversationId) -> Result<Vec<MemberInfo>> {
        let op = Read::Members {
            actor: actor.clone(),
            id,
        };
        outcome!(self.read(op).await?, ReadOut::Members)
    }

    async fn member_ids(&self, actor: &Principal, id: ConversationId) -> Result<Vec<UserId>> {
        let op = Read::MemberIds {
            actor: actor.clone(),
            id,
        };
        outcome!(self.read(op).await?, ReadOut::UserIds)
    }

    async fn history(
        &self,
        actor: &Principal,
        target: Target,
        before: Option<Seq>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let op = Read::History {
            actor: actor.clone(),
            target,
            before,
            limit,
        };
        outcome!(self.read(op).await?, ReadOut::History)
    }

    async fn search(&self, actor: &Principal, query: SearchMessages) -> Result<Vec<Message>> {
        let op = Read::Search {
            actor: actor.clone(),
            query,
        };
        outcome!(self.read(op).await?, ReadOut::History)
    }

    async fn feed(&self, actor: &Principal, after: Pts, limit: u32) -> Result<SyncPage> {
        let op = Read::Feed {
            actor: actor.clone(),
            after,
            limit,
        };
        outcome!(self.read(op).await?, ReadOut::Feed)
    }

    async fn ping(&self) -> Result<()> {
        self.backend.ping().await
    }

    fn stats(&self) -> Option<Arc<StoreStats>> {
        self.backend.stats()
    }

    async fn execute_bot(&self, actor: &Principal, action: BotAction) -> Result<Committed> {
        let op = Write::ExecuteBot {
            actor: actor.clone(),
            action,
        };
        outcome!(self.write(op).await?, Written::Committed)
    }

    async fn manage_bot(&self, owner: &Principal, op: BotOp) -> Result<BotInfo> {
        let op = Write::ManageBot {
            owner: owner.clone(),
            op,
        };
        outcome!(self.write(op).await?, Written::Bot)
    }

    async fn bots(&self, owner: &Principal) -> Result<Vec<BotInfo>> {
        outcome!(self.read(Read::Bots(owner.clone())).await?, ReadOut::Bots)
    }

    async fn bot_session(&self, token_hash: SecretHash) -> Result<Option<Bot>> {
        outcome!(self.read(Read::BotSession(token_hash)).await?, ReadOut::Bot)
    }

    async fn bot(&self, id: UserId) -> Result<Option<Bot>> {
        outcome!(self.read(Read::Bot(id)).await?, ReadOut::Bot)
    }

    async fn update_bot(&self, actor: &Principal, change: BotChange) -> Result<()> {
        let op = Write::UpdateBot {
            actor: actor.clone(),
            change,
        };
        done(self.write(op).await?)
    }

    async fn webhook_bots(&self) -> Result<Vec<UserId>> {
        outcome!(self.read(Read::WebhookBots).await?, ReadOut::UserIds)
    }

    async fn set_consent(&self, actor: &Principal, handle: &str, allowed: bool) -> Result<()> {
        let op = Write::SetConsent {
            actor: actor.clone(),
            handle: handle.to_string(),
            allowed,
        };
        done(self.write(op).await?)
    }

    async fn direct_conversation(
        &self,
        actor: &Principal,
        peer: UserId,
    ) -> Result<Option<ConversationId>> {
        let op = Read::DirectConversation {
            actor: actor.clone(),
            peer,
        };
        outcome!(self.read(op).await?, ReadOut::Direct)
    }

    async fn touch_session(&self, token_hash: SecretHash) -> Result<()> {
        done(self.write(Write::TouchSession(token_hash)).await?)
    }

    async fn seen_devices(&self, devices: Vec<DeviceId>) -> Result<()> {
        done(self.write(Write::SeenDevices(devices)).await?)
    }

    async fn last_seen(
        &self,
        actor: &Principal,
        users: Vec<UserId>,
    ) -> Result<Vec<(UserId, Option<i64>)>> {
        outcome!(
            self.read(Read::LastSeen(actor.clone(), users)).await?,
            ReadOut::LastSeen
        )
    }

    async fn set_relation(
        &self,
        actor: &Principal,
        handle: &str,
        kind: RelationKind,
        on: bool,
    ) -> Result<()> {
        let op = Write::SetRelation {
            actor: actor.clone(),
            handle: handle.to_string(),
            kind,
            on,
        };
        done(self.write(op).await?)
    }

    async fn related(&self, actor: &Principal, kind: RelationKind) -> Result<Vec<UserInfo>> {
        let op = Read::Related {
            actor: actor.clone(),
            kind,
        };
        outcome!(self.read(op).await?, ReadOut::Users)
    }

    async fn privacy(&self, actor: &Principal) -> Result<Privacy> {
        outcome!(
            self.read(Read::Privacy(actor.clone())).await?,
            ReadOut::Privacy
        )
    }

    async fn set_privacy(&self, actor: &Principal, change: SetPrivacy) -> Result<Privacy> {
        let op = Write::SetPrivacy {
            actor: actor.clone(),
            change,
        };
        outcome!(self.write(op).await?, Written::Privacy)
    }

    async fn invitations(&self, actor: &Principal) -> Result<Vec<Invitation>> {
        outcome!(
            self.read(Read::Invitations(actor.clone())).await?,
            ReadOut::Invitations
        )
    }

    async fn find_people(&self, actor: &Principal, query: FindPeople) -> Result<Vec<UserInfo>> {
        outcome!(
            self.read(Read::FindPeople(actor.clone(), query)).await?,
            ReadOut::Users
        )
    }

    async fn decline_invitation(
        &self,
        actor: &Principal,
        conversation: ConversationId,
    ) -> Result<()> {
        let op = Write::DeclineInvitation {
            actor: actor.clone(),
            conversation,
        };
        done(self.write(op).await?)
    }

    async fn report(&self, actor: &Principal, report: FileReport) -> Result<u64> {
        let op = Write::Report {
            actor: actor.clone(),
            report,
        };
        outcome!(self.write(op).await?, Written::Reported)
    }

    async fn admin(&self, actor: Option<&Principal>, op: AdminOp) -> Result<Option<UserInfo>> {
        let op = Write::Admin {
            actor: actor.cloned(),
            op,
        };
        outcome!(self.write(op).await?, Written::User)
    }

    async fn reports(&self, actor: &Principal, all: bool, limit: u32) -> Result<Vec<Report>> {
        let op = Read::Reports {
            actor: actor.clone(),
            all,
            limit,
        };
        outcome!(self.read(op).await?, ReadOut::Reports)
    }

    async fn audit(&self, actor: Option<&Principal>, limit: u32) -> Result<Vec<AuditEntry>> {
        let op = Read::Audit {
            actor: actor.cloned(),
            limit,
        };
        outcome!(self.read(op).await?, ReadOut::Audit)
    }

    async fn set_recovery_key(&self, actor: &Principal, key: Option<Vec<u8>>) -> Result<()> {
        let op = Write::SetRecoveryKey {
            actor: actor.clone(),
            key,
        };
        done(self.write(op).await?)
    }

    async fn recover(&self, recovery: NewRecovery) -> Result<Recovered> {
        outcome!(
            self.write(Write::Recover(recovery)).await?,
            Written::Recovered
        )
    }

    async fn me(&self, actor: &Principal) -> Result<Me> {
        outcome!(self.read(Read::Me(actor.clone())).await?, ReadOut::Me).map(|m| *m)
    }

    async fn set_profile(&self, actor: &Principal, change: SetProfile) -> Result<Me> {
        let op = Write::SetProfile {
            actor: actor.clone(),
            change,
        };
        outcome!(self.write(op).await?, Written::Me).map(|m| *m)
    }

    async fn profile(&self, _actor: &Principal, handle: &str) -> Result<Profile> {
        outcome!(
            self.read(Read::Profile(handle.to_string())).await?,
            ReadOut::Profile
        )
    }
}
