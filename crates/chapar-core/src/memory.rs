//! An in-memory store: the storage interface over plain collections, for fast tests and
//! simulation. It passes the same conformance suite as the real stores.
//!
//! One mutex holds the whole state, so operations are serialised (one order of commits). A
//! write runs on a copy-on-failure basis: the state is cloned before the operation and put back
//! when it fails, which is this store's savepoint. Nothing is durable.

use crate::bots::Bot;
use crate::columns::Clock;
use crate::domain::{self, Read, ReadOut, Write, Written};
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::storage::{
    Account, AccountUpdate, Appended, Backend, BotKey, BotUpdate, ChatState, ConvLock, ConvRow,
    Entry, FeedItem, FeedRow, ItemKind, LockRow, MemberRow, MessageChange, NewAudit,
    NewConversation, NewReport, NewUser, Recipients, Relation, RelationKind, SessionRow, Summary,
    Tx, now_or_never,
};
use crate::store::{CommitListener, Principal, SecretHash};
use chapar_proto::{
    AuditEntry, BotKind, Bytes, CallbackQuery, ConversationId, ConversationKind, DeviceId,
    DeviceInfo, Event, Invitation, MemberInfo, Message, MessageKind, Pts, ReactionCount, Receipt,
    Report, Role, Seq, UserId, UserInfo,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, OnceLock};

#[derive(Clone)]
struct User {
    info: UserInfo,
    pts: Pts,
    account: Account,
}

#[derive(Clone)]
struct StoredReport {
    new: NewReport,
    id: u64,
    created_at: i64,
    resolved: Option<(i64, String)>,
}

#[derive(Clone)]
struct Device {
    user: UserId,
    key: Vec<u8>,
    name: String,
    created_at: i64,
    last_seen: Option<i64>,
    revoked: bool,
}

#[derive(Clone)]
struct Member {
    row: MemberRow,
    order: i64,
}

#[derive(Clone)]
struct Conversation {
    row: ConvRow,
    creator: Option<(DeviceId, String)>,
    created_at: i64,
    members: BTreeMap<UserId, Member>,
    /// The log, with each message's current state (reactions apart).
    log: BTreeMap<Seq, Message>,
    reactions: BTreeMap<Seq, BTreeSet<(UserId, String)>>,
}

#[derive(Clone)]
enum Stored {
    Message(ConversationId, Seq),
    Item(ItemKind, String),
}

#[derive(Clone)]
struct BotState {
    bot: Bot,
    token: Option<SecretHash>,
}

#[derive(Clone, Default)]
struct State {
    next_id: i64,
    users: BTreeMap<UserId, User>,
    handles: HashMap<String, UserId>,
    devices: BTreeMap<DeviceId, Device>,
    /// Token → (device, last used).
    sessions: HashMap<SecretHash, (DeviceId, i64)>,
    invites: HashMap<SecretHash, (u32, Option<i64>)>,
    link_codes: HashMap<SecretHash, (UserId, i64)>,
    conversations: BTreeMap<ConversationId, Conversation>,
    direct: HashMap<String, ConversationId>,
    feeds: HashMap<UserId, BTreeMap<Pts, Stored>>,
    bots: BTreeMap<UserId, BotState>,
    consents: BTreeSet<(UserId, UserId)>,
    relations: BTreeMap<(UserId, UserId), Relation>,
    daily: HashMap<(UserId, String, i64), u32>,
    /// (conversation, invitee) → (inviter, when).
    invitations: BTreeMap<(ConversationId, UserId), (UserId, i64)>,
    reports: Vec<StoredReport>,
    audit: Vec<AuditEntry>,
    chat_states: BTreeMap<(UserId, ConversationId), ChatState>,
    hidden: BTreeSet<(UserId, ConversationId, Seq)>,
    descriptions: BTreeMap<ConversationId, String>,
    /// The words each findable message is indexed by.
    search: BTreeMap<(ConversationId, Seq), Vec<String>>,
}

impl State {
    fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    fn conv(&mut self, id: ConversationId) -> Result<&mut Conversation> {
        self.conversations
            .get_mut(&id)
            .ok_or_else(|| Error::Unavailable("no such conversation row".into()))
    }

    fn message(&self, conv: ConversationId, seq: Seq) -> Option<Message> {
        let c = self.conversations.get(&conv)?;
        let mut m = c.log.get(&seq)?.clone();
        // Names change; as the SQL stores join them, read the current one.
        if let Some(u) = self.users.get(&m.sender) {
            m.sender_name = u.info.display_name.clone();
        }
        if m.kind == MessageKind::Text {
            m.reactions = reaction_counts(c.reactions.get(&seq));
        }
        Some(m)
    }

    fn push(&mut self, user: UserId, item: Stored) -> Result<Pts> {
        let u = self
            .users
            .get_mut(&user)
            .ok_or_else(|| Error::Unavailable("no such user row".into()))?;
        u.pts += 1;
        let pts = u.pts;
        self.feeds.entry(user).or_default().insert(pts, item);
        Ok(pts)
    }
}

fn reaction_counts(given: Option<&BTreeSet<(UserId, String)>>) -> Vec<ReactionCount> {
    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    for (_, emoji) in given.into_iter().flatten() {
        *counts.entry(emoji).or_default() += 1;
    }
    let mut out: Vec<ReactionCount> = counts
        .into_iter()
        .map(|(emoji, count)| ReactionCount {
            emoji: emoji.to_string(),
            count,
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.emoji.cmp(&b.emoji)));
    out
}

/// One operation's view of the state.
struct MemTx<'a> {
    state: &'a mut State,
    now: i64,
    limits: &'a Limits,
}

impl MemTx<'_> {
    fn principal_of(&self, device: DeviceId) -> Option<Principal> {
        let d = self.state.devices.get(&device).filter(|d| !d.revoked)?;
        let u = self.state.users.get(&d.user)?;
        Some(Principal {
            user: u.info.clone(),
            device,
            since: u.account.created_at,
        })
    }

    fn user_info(&self, id: UserId) -> Result<UserInfo> {
        self.state
            .users
            .get(&id)
            .map(|u| u.info.clone())
            .ok_or_else(|| Error::Unavailable("no such user row".into()))
    }

    fn bot_row(&self, id: UserId) -> Option<(Bot, bool)> {
        let b = self.state.bots.get(&id)?;
        let mut bot = b.bot.clone();
        if let Some(u) = self.state.users.get(&id) {
            bot.principal.user = u.info.clone();
        }
        Some((bot, b.token.is_some()))
    }
}

impl Tx for MemTx<'_> {
    fn now(&self) -> i64 {
        self.now
    }

    fn limits(&self) -> &Limits {
        self.limits
    }

    async fn user_by_handle(&mut self, handle: &str) -> Result<Option<UserInfo>> {
        let id = self.state.handles.get(handle);
        Ok(id
            .and_then(|id| self.state.users.get(id))
            .map(|u| u.info.clone()))
    }

    async fn find_users(
        &mut self,
        handle: &str,
        name: Option<&str>,
        limit: u32,
    ) -> Result<Vec<UserInfo>> {
        let mut found: Vec<UserInfo> = self
            .state
            .users
            .values()
            .filter(|u| {
                u.info.handle.starts_with(handle)
                    || name.is_some_and(|n| u.info.display_name.to_lowercase().starts_with(n))
            })
            .map(|u| u.info.clone())
            .collect();
        found.sort_by(|a, b| a.handle.cmp(&b.handle));
        found.truncate(limit as usize);
        Ok(found)
    }

    async fn insert_user(&mut self, user: &NewUser) -> Result<UserId> {
        if self.state.handles.contains_key(&user.handle) {
            // A unique index would refuse it; the domain checks first, so this is a race.
            return Err(Error::Unavailable("the handle was taken meanwhile".into()));
        }
        let id = UserId(self.state.id());
        let info = UserInfo {
            id,
            handle: user.handle.clone(),
            display_name: user.display_name.clone(),
        };
        self.state.handles.insert(user.handle.clone(), id);
        let account = Account {
            created_at: self.now,
            ..Account::default()
        };
        self.state.users.insert(
            id,
            User {
                info,
                pts: 0,
                account,
            },
        );
        Ok(id)
    }

    async fn head_pts(&mut self, user: UserId) -> Result<Pts> {
        Ok(self.state.users.get(&user).map_or(0, |u| u.pts))
    }

    async fn key_taken(&mut self, public_key: &[u8]) -> Result<bool> {
        Ok(self.state.devices.values().any(|d| d.key == public_key))
    }

    async fn device_by_key(&mut self, public_key: &[u8]) -> Result<Option<DeviceId>> {
        Ok(self
            .state
            .devices
            .iter()
            .find(|(_, d)| d.key == public_key && !d.revoked)
            .map(|(id, _)| *id))
    }

    async fn principal(&mut self, device: DeviceId) -> Result<Option<Principal>> {
        Ok(self.principal_of(device))
    }

    async fn insert_device(
        &mut self,
        user: UserId,
        public_key: &[u8],
        name: &str,
        last_seen: Option<i64>,
    ) -> Result<DeviceId> {
        let id = DeviceId(self.state.id());
        let device = Device {
            user,
            key: public_key.to_vec(),
            name: name.to_string(),
            created_at: self.now,
            last_seen,
            revoked: false,
        };
        self.state.devices.insert(id, device);
        Ok(id)
    }

    async fn touch_device(&mut self, device: DeviceId) -> Result<()> {
        if let Some(d) = self.state.devices.get_mut(&device) {
            d.last_seen = Some(self.now);
        }
        Ok(())
    }

    async fn touch_devices(&mut self, devices: &[DeviceId]) -> Result<()> {
        for d in devices {
            if let Some(d) = self.state.devices.get_mut(d) {
                d.last_seen = Some(self.now);
            }
        }
        Ok(())
    }

    async fn active_devices(&mut self, user: UserId) -> Result<u32> {
        let n = self
            .state
            .devices
            .values()
            .filter(|d| d.user == user && !d.revoked);
        Ok(u32::try_from(n.count()).unwrap_or(u32::MAX))
    }

    async fn devices(&mut self, user: UserId) -> Result<Vec<DeviceInfo>> {
        let devices = self.state.devices.iter().filter(|(_, d)| d.user == user);
        Ok(devices
            .map(|(id, d)| DeviceInfo {
                id: *id,
                name: d.name.clone(),
                public_key: Bytes(d.key.clone()),
                created_at: d.created_at,
                last_seen: d.last_seen,
                revoked: d.revoked,
                session_expires_at: None,
                current: false,
            })
            .collect())
    }

    async fn rename_device(&mut self, user: UserId, device: DeviceId, name: &str) -> Result<bool> {
        match self.state.devices.get_mut(&device) {
            Some(d) if d.user == user => {
                d.name = name.to_string();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn revoke_device(&mut self, user: UserId, device: DeviceId) -> Result<bool> {
        match self.state.devices.get_mut(&device) {
            Some(d) if d.user == user => d.revoked = true,
            _ => return Ok(false),
        }
        self.state.sessions.retain(|_, (d, _)| *d != device);
        Ok(true)
    }

    async fn session(&mut self, token: &SecretHash) -> Result<Option<SessionRow>> {
        let Some((device, last_used)) = self.state.sessions.get(token).copied() else {
            return Ok(None);
        };
        Ok(self.principal_of(device).map(|principal| SessionRow {
            principal,
            last_used,
        }))
    }

    async fn touch_session(&mut self, token: &SecretHash) -> Result<()> {
        let now = self.now;
        if let Some((device, last_used)) = self.state.sessions.get_mut(token) {
            *last_used = now;
            let device = *device;
            if let Some(d) = self.state.devices.get_mut(&device) {
                d.last_seen = Some(now);
            }
        }
        Ok(())
    }

    async fn delete_sessions(&mut self, user: UserId) -> Result<u32> {
        let devices = &self.state.devices;
        let before = self.state.sessions.len();
        self.state
            .sessions
            .retain(|_, (d, _)| devices.get(d).is_none_or(|d| d.user != user));
        Ok(u32::try_from(before - self.state.sessions.len()).unwrap_or(u32::MAX))
    }

    async fn account(&mut self, user: UserId) -> Result<Option<Account>> {
        Ok(self.state.users.get(&user).map(|u| u.account.clone()))
    }

    async fn update_account(&mut self, user: UserId, update: &AccountUpdate) -> Result<()> {
        if let Some(u) = self.state.users.get_mut(&user) {
            match update {
                AccountUpdate::Privacy(p) => u.account.privacy = *p,
                AccountUpdate::Operator(o) => u.account.operator = *o,
                AccountUpdate::Suspended(s) => u.account.suspended = s.clone(),
                AccountUpdate::RecoveryKey(k) => u.account.recovery_key = k.clone(),
                AccountUpdate::Profile { display_name, bio } => {
                    u.info.display_name = display_name.clone();
                    u.account.bio = bio.clone();
                }
            }
        }
        Ok(())
    }

    async fn relation(&mut self, user: UserId, other: UserId) -> Result<Relation> {
        Ok(self
            .state
            .relations
            .get(&(user, other))
            .copied()
            .unwrap_or_default())
    }

    async fn set_relation(
        &mut self,
        user: UserId,
        other: UserId,
        kind: RelationKind,
        on: bool,
    ) -> Result<()> {
        let r = self.state.relations.entry((user, other)).or_default();
        match kind {
            RelationKind::Block => r.blocked = on,
            RelationKind::Contact => r.contact = on,
        }
        if *r == Relation::default() {
            self.state.relations.remove(&(user, other));
        }
        Ok(())
    }

    async fn related(
        &mut self,
        user: UserId,
        kind: RelationKind,
        limit: u32,
    ) -> Result<Vec<UserInfo>> {
        let mut out: Vec<UserInfo> = self
            .state
            .relations
            .range((user, UserId(i64::MIN))..=(user, UserId(i64::MAX)))
            .filter(|(_, r)| match kind {
                RelationKind::Block => r.blocked,
                RelationKind::Contact => r.contact,
            })
            .filter_map(|((_, other), _)| self.state.users.get(other).map(|u| u.info.clone()))
            .collect();
        out.sort_by(|a, b| a.handle.cmp(&b.handle));
        out.truncate(limit as usize);
        Ok(out)
    }

    async fn count_daily(&mut self, user: UserId, what: &str, day: i64) -> Result<u32> {
        self.state
            .daily
            .retain(|(_, _, d), _| *d >= day.saturating_sub(1));
        let n = self
            .state
            .daily
            .entry((user, what.to_string(), day))
            .or_default();
        *n = n.saturating_add(1);
        Ok(*n)
    }

    async fn insert_report(&mut self, report: &NewReport) -> Result<u64> {
        let id = self.state.reports.len() as u64 + 1;
        self.state.reports.push(StoredReport {
            new: report.clone(),
            id,
            created_at: self.now,
            resolved: None,
        });
        Ok(id)
    }

    async fn reports(&mut self, all: bool, limit: u32) -> Result<Vec<Report>> {
        let chosen: Vec<StoredReport> = self
            .state
            .reports
            .iter()
            .rev()
            .filter(|r| all || r.resolved.is_none())
            .take(limit as usize)
            .cloned()
            .collect();
        chosen
            .into_iter()
            .map(|r| {
                Ok(Report {
                    id: r.id,
                    reporter: self.user_info(r.new.reporter)?,
                    user: self.user_info(r.new.user)?,
                    conversation: r.new.conversation,
                    seq: r.new.seq,
                    text: r.new.text,
                    reason: r.new.reason,
                    comment: r.new.comment,
                    created_at: r.created_at,
                    resolved_at: r.resolved.as_ref().map(|(at, _)| *at),
                    resolution: r.resolved.map(|(_, note)| note),
                })
            })
            .collect()
    }

    async fn resolve_report(&mut self, id: u64, resolution: &str) -> Result<bool> {
        let now = self.now;
        match self
            .state
            .reports
            .iter_mut()
            .find(|r| r.id == id && r.resolved.is_none())
        {
            Some(r) => {
                r.resolved = Some((now, resolution.to_string()));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn insert_audit(&mut self, entry: &NewAudit) -> Result<()> {
        let operator = entry.operator.map(|o| self.user_info(o)).transpose()?;
        let id = self.state.audit.len() as u64 + 1;
        self.state.audit.push(AuditEntry {
            id,
            operator,
            action: entry.action.clone(),
            target: entry.target.clone(),
            detail: entry.detail.clone(),
            at: self.now,
        });
        Ok(())
    }

    async fn audit(&mut self, limit: u32) -> Result<Vec<AuditEntry>> {
        Ok(self
            .state
            .audit
            .iter()
            .rev()
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn insert_session(&mut self, token: &SecretHash, device: DeviceId) -> Result<()> {
        if self.state.sessions.contains_key(token) {
            return Err(Error::Unavailable(
                "that session token is already in use".into(),
            ));
        }
        self.state.sessions.insert(*token, (device, self.now));
        Ok(())
    }

    async fn delete_session(&mut self, token: &SecretHash) -> Result<()> {
        self.state.sessions.remove(token);
        Ok(())
    }

    async fn put_invite(
        &mut self,
        code: &SecretHash,
        uses: u32,
        expires_at: Option<i64>,
    ) -> Result<()> {
        self.state.invites.insert(*code, (uses, expires_at));
        Ok(())
    }

    async fn take_invite(&mut self, code: &SecretHash) -> Result<bool> {
        let now = self.now;
        match self.state.invites.get_mut(code) {
            Some((uses, expires)) if *uses > 0 && expires.is_none_or(|e| e > now) => {
                *uses -= 1;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn put_link_code(
        &mut self,
        code: &SecretHash,
        user: UserId,
        expires_at: i64,
    ) -> Result<()> {
        self.state.link_codes.insert(*code, (user, expires_at));
        Ok(())
    }

    async fn take_link_code(&mut self, code: &SecretHash) -> Result<Option<(UserId, i64)>> {
        Ok(self.state.link_codes.remove(code))
    }

    async fn peer(
        &mut self,
        handle: &str,
        me: UserId,
    ) -> Result<Option<(UserInfo, Option<ConversationId>)>> {
        let Some(user) = self.user_by_handle(handle).await? else {
            return Ok(None);
        };
        let key = crate::rules::direct_key(me, user.id);
        let conv = self.state.direct.get(&key).copied();
        Ok(Some((user, conv)))
    }

    async fn direct_conversation(&mut self, key: &str) -> Result<Option<ConversationId>> {
        Ok(self.state.direct.get(key).copied())
    }

    async fn group_created_by(
        &mut self,
        device: DeviceId,
        client_id: &str,
    ) -> Result<Option<(ConversationId, i64)>> {
        Ok(self
            .state
            .conversations
            .values()
            .find_map(|c| match &c.creator {
                Some((d, cid)) if *d == device && cid == client_id => {
                    Some((c.row.id, c.created_at))
                }
                _ => None,
            }))
    }

    async fn insert_conversation(
        &mut self,
        new: &NewConversation,
    ) -> Result<Option<ConversationId>> {
        if let Some(key) = &new.direct_key
            && self.state.direct.contains_key(key)
        {
            return Ok(None);
        }
        let id = ConversationId(self.state.id());
        if let Some(key) = &new.direct_key {
            self.state.direct.insert(key.clone(), id);
        }
        let conv = Conversation {
            row: ConvRow {
                id,
                kind: new.kind,
                title: new.title.clone(),
                last_seq: 0,
                updated_at: self.now,
                blocked: false,
                pinned: None,
            },
            creator: new.creator.clone(),
            created_at: self.now,
            members: BTreeMap::new(),
            log: BTreeMap::new(),
            reactions: BTreeMap::new(),
        };
        self.state.conversations.insert(id, conv);
        Ok(Some(id))
    }

    async fn lock(
        &mut self,
        conv: ConversationId,
        user: UserId,
        dedup: Option<(DeviceId, &str)>,
    ) -> Result<Option<LockRow>> {
        let Some(c) = self.state.conversations.get(&conv) else {
            return Ok(None);
        };
        let first = dedup.and_then(|(device, client_id)| {
            c.log
                .values()
                .find(|m| m.sender_device == device && m.client_id == client_id)
                .map(|m| (m.seq, m.server_time))
        });
        Ok(Some(LockRow {
            conv: c.row.clone(),
            member: c.members.get(&user).map(|m| m.row.clone()),
            first,
        }))
    }

    async fn conversation_member(
        &mut self,
        conv: ConversationId,
        user: UserId,
    ) -> Result<Option<(ConvRow, Option<MemberRow>)>> {
        let c = self.state.conversations.get(&conv);
        Ok(c.map(|c| (c.row.clone(), c.members.get(&user).map(|m| m.row.clone()))))
    }

    async fn member(&mut self, conv: ConversationId, user: UserId) -> Result<Option<MemberRow>> {
        let c = self.state.conversations.get(&conv);
        Ok(c.and_then(|c| c.members.get(&user)).map(|m| m.row.clone()))
    }

    async fn member_ids(&mut self, conv: ConversationId) -> Result<Vec<UserId>> {
        Ok(self
            .member_roles(conv)
            .await?
            .into_iter()
            .map(|(u, _, _)| u)
            .collect())
    }

    async fn member_roles(&mut self, conv: ConversationId) -> Result<Vec<(UserId, Role, i64)>> {
        let Some(c) = self.state.conversations.get(&conv) else {
            return Ok(Vec::new());
        };
        let mut out: Vec<(UserId, Role, i64)> = c
            .members
            .iter()
            .map(|(u, m)| (*u, m.row.role, m.order))
            .collect();
        out.sort_by_key(|(_, _, order)| *order);
        Ok(out)
    }

    async fn members(&mut self, conv: ConversationId) -> Result<Vec<MemberInfo>> {
        let roles = self.member_roles(conv).await?;
        let mut out = Vec::with_capacity(roles.len());
        for (user, _, _) in roles {
            let (Some(u), Some(m)) = (
                self.state.users.get(&user),
                self.state
                    .conversations
                    .get(&conv)
                    .and_then(|c| c.members.get(&user)),
            ) else {
                continue;
            };
            out.push(MemberInfo {
                user: u.info.clone(),
                role: m.row.role,
                delivered_seq: m.row.delivered_seq,
                read_seq: m.row.read_seq,
            });
        }
        Ok(out)
    }

    async fn message(&mut self, conv: ConversationId, seq: Seq) -> Result<Option<Message>> {
        Ok(self.state.message(conv, seq))
    }

    async fn insert_member(
        &mut self,
        lock: &ConvLock,
        user: UserId,
        role: Role,
        joined_seq: Seq,
    ) -> Result<()> {
        let c = self.state.conv(lock.id())?;
        let order = c.members.values().map(|m| m.order).max().unwrap_or(0) + 1;
        let row = MemberRow {
            role,
            joined_seq,
            delivered_seq: 0,
            read_seq: 0,
        };
        c.members.insert(user, Member { row, order });
        Ok(())
    }

    async fn delete_member(&mut self, lock: &ConvLock, user: UserId) -> Result<()> {
        self.state.conv(lock.id())?.members.remove(&user);
        Ok(())
    }

    async fn set_role(&mut self, lock: &ConvLock, user: UserId, role: Role) -> Result<()> {
        if let Some(m) = self.state.conv(lock.id())?.members.get_mut(&user) {
            m.row.role = role;
        }
        Ok(())
    }

    async fn set_title(&mut self, lock: &ConvLock, title: &str) -> Result<()> {
        self.state.conv(lock.id())?.row.title = title.to_string();
        Ok(())
    }

    async fn chat_states(
        &mut self,
        user: UserId,
        only: Option<ConversationId>,
    ) -> Result<Vec<(ConversationId, ChatState)>> {
        Ok(self
            .state
            .chat_states
            .range((user, ConversationId(i64::MIN))..=(user, ConversationId(i64::MAX)))
            .filter(|((_, c), _)| only.is_none_or(|o| o == *c))
            .map(|((_, c), s)| (*c, *s))
            .collect())
    }

    async fn set_chat_state(
        &mut self,
        lock: &ConvLock,
        user: UserId,
        state: &ChatState,
    ) -> Result<()> {
        self.state.chat_states.insert((user, lock.id()), *state);
        Ok(())
    }

    async fn hide_message(&mut self, lock: &ConvLock, user: UserId, seq: Seq) -> Result<()> {
        self.state.hidden.insert((user, lock.id(), seq));
        Ok(())
    }

    async fn hidden(
        &mut self,
        user: UserId,
        messages: &[(ConversationId, Seq)],
    ) -> Result<Vec<(ConversationId, Seq)>> {
        Ok(messages
            .iter()
            .copied()
            .filter(|(c, s)| self.state.hidden.contains(&(user, *c, *s)))
            .collect())
    }

    async fn set_description(&mut self, lock: &ConvLock, description: &str) -> Result<()> {
        self.state
            .descriptions
            .insert(lock.id(), description.to_string());
        Ok(())
    }

    async fn description(&mut self, conv: ConversationId) -> Result<String> {
        Ok(self
            .state
            .descriptions
            .get(&conv)
            .cloned()
            .unwrap_or_default())
    }

    async fn set_pinned(&mut self, lock: &ConvLock, seq: Option<Seq>) -> Result<()> {
        self.state.conv(lock.id())?.row.pinned = seq;
        Ok(())
    }

    async fn set_blocked(&mut self, lock: &ConvLock, blocked: bool) -> Result<()> {
        self.state.conv(lock.id())?.row.blocked = blocked;
        Ok(())
    }

    async fn put_invitation(
        &mut self,
        lock: &ConvLock,
        user: UserId,
        inviter: UserId,
    ) -> Result<()> {
        let now = self.now;
        self.state
            .invitations
            .insert((lock.id(), user), (inviter, now));
        Ok(())
    }

    async fn pending_invitations(&mut self, user: UserId, except: ConversationId) -> Result<u32> {
        let n = self
            .state
            .invitations
            .keys()
            .filter(|(conv, invited)| *invited == user && *conv != except)
            .count();
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn take_invitation(
        &mut self,
        conv: ConversationId,
        user: UserId,
    ) -> Result<Option<Invitation>> {
        let Some((inviter, created_at)) = self.state.invitations.remove(&(conv, user)) else {
            return Ok(None);
        };
        let title = self.state.conv(conv)?.row.title.clone();
        Ok(Some(Invitation {
            conversation: conv,
            title,
            inviter: self.user_info(inviter)?,
            created_at,
        }))
    }

    async fn invitations(&mut self, user: UserId, limit: u32) -> Result<Vec<Invitation>> {
        let mut mine: Vec<(ConversationId, UserId, i64)> = self
            .state
            .invitations
            .iter()
            .filter(|((_, u), _)| *u == user)
            .map(|((c, _), (inviter, at))| (*c, *inviter, *at))
            .collect();
        mine.sort_by_key(|(c, _, at)| (std::cmp::Reverse(*at), std::cmp::Reverse(*c)));
        mine.truncate(limit as usize);
        mine.into_iter()
            .map(|(conv, inviter, created_at)| {
                let title = self
                    .state
                    .conversations
                    .get(&conv)
                    .map(|c| c.row.title.clone())
                    .unwrap_or_default();
                Ok(Invitation {
                    conversation: conv,
                    title,
                    inviter: self.user_info(inviter)?,
                    created_at,
                })
            })
            .collect()
    }

    async fn set_markers(
        &mut self,
        lock: &ConvLock,
        user: UserId,
        delivered: Seq,
        read: Seq,
    ) -> Result<()> {
        if let Some(m) = self.state.conv(lock.id())?.members.get_mut(&user) {
            m.row.delivered_seq = delivered;
            m.row.read_seq = read;
        }
        Ok(())
    }

    async fn append(
        &mut self,
        lock: &ConvLock,
        actor: &Principal,
        entry: &Entry,
    ) -> Result<Appended> {
        let now = self.now;
        let c = self.state.conv(lock.id())?;
        c.row.last_seq += 1;
        c.row.updated_at = now;
        let seq = c.row.last_seq;
        c.log.insert(
            seq,
            Message {
                conversation: lock.id(),
                seq,
                sender: actor.user.id,
                sender_handle: actor.user.handle.clone(),
                sender_name: String::new(),
                sender_device: actor.device,
                client_id: entry.client_id.clone().unwrap_or_default(),
                server_time: now,
                kind: entry.kind,
                content_type: entry.content_type.clone(),
                text: entry.text.clone(),
                data: entry.data.clone(),
                reply_to: entry.reply_to,
                target: entry.target,
                remove: entry.remove,
                system: entry.system.clone(),
                edited_at: None,
                deleted: false,
                reactions: Vec::new(),
                entities: entry.entities.clone(),
                reply_markup: entry.reply_markup.clone(),
                forward: entry.forward.clone(),
                hidden: false,
            },
        );
        if let Some(m) = c.members.get_mut(&actor.user.id) {
            m.row.delivered_seq = m.row.delivered_seq.max(seq);
            m.row.read_seq = m.row.read_seq.max(seq);
        }
        let members: Vec<UserId> = c.members.keys().copied().collect();
        let mut recipients = Vec::with_capacity(members.len());
        for user in members {
            let pts = self.state.push(user, Stored::Message(lock.id(), seq))?;
            recipients.push((user, pts));
        }
        Ok(Appended { seq, recipients })
    }

    async fn change_message(
        &mut self,
        lock: &ConvLock,
        seq: Seq,
        change: &MessageChange,
    ) -> Result<()> {
        let c = self.state.conv(lock.id())?;
        match change {
            MessageChange::Edit {
                text,
                data,
                entities,
                reply_markup,
                edited_at,
            } => {
                if let Some(m) = c.log.get_mut(&seq) {
                    m.text = text.clone();
                    m.data = data.clone();
                    m.entities = entities.clone();
                    m.reply_markup = reply_markup.clone();
                    m.edited_at = Some(*edited_at);
                }
            }
            MessageChange::Delete => {
                for m in c.log.values_mut() {
                    let is_edit_of = m.kind == MessageKind::Edit && m.target == Some(seq);
                    if m.seq == seq || is_edit_of {
                        m.text = None;
                        m.data = None;
                        m.entities = Vec::new();
                        m.reply_markup = None;
                    }
                    if m.seq == seq {
                        m.deleted = true;
                    }
                }
                c.reactions.remove(&seq);
            }
            MessageChange::React {
                user,
                emoji,
                remove,
            } => {
                let given = c.reactions.entry(seq).or_default();
                if *remove {
                    given.remove(&(*user, emoji.clone()));
                } else {
                    given.insert((*user, emoji.clone()));
                }
            }
        }
        Ok(())
    }

    async fn push(
        &mut self,
        _lock: &ConvLock,
        to: &Recipients,
        item: &FeedItem,
    ) -> Result<Vec<(UserId, Pts)>> {
        let mut out = Vec::with_capacity(to.users().len());
        for user in to.users() {
            let stored = Stored::Item(item.kind, item.payload.clone());
            out.push((*user, self.state.push(*user, stored)?));
        }
        Ok(out)
    }

    async fn summaries(
        &mut self,
        user: UserId,
        limit: u32,
        only: Option<ConversationId>,
    ) -> Result<Vec<Summary>> {
        let mut mine: Vec<&Conversation> = self
            .state
            .conversations
            .values()
            .filter(|c| c.members.contains_key(&user) && only.is_none_or(|id| id == c.row.id))
            .collect();
        mine.sort_by_key(|c| std::cmp::Reverse((c.row.updated_at, c.row.id)));
        mine.truncate(limit as usize);
        let mut out = Vec::with_capacity(mine.len());
        for c in mine {
            let Some(member) = c.members.get(&user).map(|m| m.row.clone()) else {
                continue;
            };
            let from = member.read_seq.max(member.joined_seq.saturating_sub(1));
            let unread = c
                .log
                .range(from + 1..)
                .filter(|(_, m)| m.kind == MessageKind::Text && m.sender != user && !m.deleted)
                .count();
            let last = c
                .log
                .range(member.joined_seq..)
                .rev()
                .find(|(_, m)| matches!(m.kind, MessageKind::Text | MessageKind::System))
                .map(|(seq, _)| *seq);
            let peer = if c.row.kind == ConversationKind::Direct {
                c.members
                    .keys()
                    .find(|u| **u != user)
                    .and_then(|u| self.state.users.get(u))
                    .map(|u| u.info.clone())
            } else {
                None
            };
            out.push(Summary {
                conv: c.row.clone(),
                member_count: u32::try_from(c.members.len()).unwrap_or(u32::MAX),
                unread: u32::try_from(unread).unwrap_or(u32::MAX),
                last_message: last.and_then(|seq| self.state.message(c.row.id, seq)),
                peer,
                member,
            });
        }
        Ok(out)
    }

    async fn history(
        &mut self,
        conv: ConversationId,
        from: Seq,
        before: Seq,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let Some(c) = self.state.conversations.get(&conv) else {
            return Ok(Vec::new());
        };
        let seqs: Vec<Seq> = c
            .log
            .range(from..before.max(from))
            .rev()
            .take(limit as usize)
            .map(|(s, _)| *s)
            .collect();
        Ok(seqs
            .into_iter()
            .rev()
            .filter_map(|s| self.state.message(conv, s))
            .collect())
    }

    async fn index_message(&mut self, lock: &ConvLock, seq: Seq, words: &[String]) -> Result<()> {
        let key = (lock.id(), seq);
        match words.is_empty() {
            true => self.state.search.remove(&key),
            false => self.state.search.insert(key, words.to_vec()),
        };
        Ok(())
    }

    async fn search(
        &mut self,
        user: UserId,
        words: &[String],
        conversation: Option<ConversationId>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(ConversationId, Seq)>> {
        let s = &self.state;
        let mut found: Vec<(i64, ConversationId, Seq)> = s
            .search
            .iter()
            .filter(|((conv, _), _)| conversation.is_none_or(|c| c == *conv))
            .filter(|(_, indexed)| {
                words
                    .iter()
                    .all(|w| indexed.iter().any(|i| i.starts_with(w.as_str())))
            })
            .filter_map(|((conv, seq), _)| {
                let c = s.conversations.get(conv)?;
                let member = c.members.get(&user)?;
                let m = c.log.get(seq)?;
                (*seq >= member.row.joined_seq && before.is_none_or(|b| m.server_time < b))
                    .then_some((m.server_time, *conv, *seq))
            })
            .collect();
        found.sort_unstable_by(|a, b| b.cmp(a));
        Ok(found
            .into_iter()
            .take(limit as usize)
            .map(|(_, c, s)| (c, s))
            .collect())
    }

    async fn feed(&mut self, user: UserId, after: Pts, limit: u32) -> Result<Vec<FeedRow>> {
        let Some(feed) = self.state.feeds.get(&user) else {
            return Ok(Vec::new());
        };
        let rows = feed.range(after.saturating_add(1)..).take(limit as usize);
        Ok(rows
            .map(|(pts, stored)| FeedRow {
                pts: *pts,
                event: match stored {
                    Stored::Message(conv, seq) => {
                        self.state.message(*conv, *seq).map(Event::Message)
                    }
                    Stored::Item(ItemKind::Receipt, p) => {
                        serde_json::from_str::<Receipt>(p).ok().map(Event::Receipt)
                    }
                    Stored::Item(ItemKind::Callback, p) => serde_json::from_str::<CallbackQuery>(p)
                        .ok()
                        .map(Event::CallbackQuery),
                    Stored::Item(ItemKind::Invitation, p) => serde_json::from_str::<Invitation>(p)
                        .ok()
                        .map(Event::Invitation),
                },
            })
            .collect())
    }

    async fn bot(&mut self, key: BotKey<'_>) -> Result<Option<(Bot, bool)>> {
        let id = match key {
            BotKey::Id(id) => Some(id),
            BotKey::Handle(h) => self.state.handles.get(h).copied(),
            BotKey::Token(t) => self
                .state
                .bots
                .iter()
                .find(|(_, b)| b.token.as_ref() == Some(t))
                .map(|(id, _)| *id),
        };
        Ok(id.and_then(|id| self.bot_row(id)))
    }

    async fn bots_of(&mut self, owner: UserId) -> Result<Vec<(Bot, bool)>> {
        let ids: Vec<UserId> = self
            .state
            .bots
            .iter()
            .filter(|(_, b)| b.bot.owner == owner)
            .map(|(id, _)| *id)
            .collect();
        let mut out: Vec<(Bot, bool)> = ids.into_iter().filter_map(|id| self.bot_row(id)).collect();
        out.sort_by_key(|(b, _)| (b.created_at, b.id()));
        Ok(out)
    }

    async fn insert_bot(
        &mut self,
        user: UserId,
        owner: UserId,
        device: DeviceId,
        kind: BotKind,
        token: &SecretHash,
    ) -> Result<()> {
        let info = self
            .state
            .users
            .get(&user)
            .map(|u| u.info.clone())
            .ok_or_else(|| Error::Unavailable("no such user row".into()))?;
        let bot = Bot {
            principal: Principal {
                user: info,
                device,
                since: self.now,
            },
            kind,
            owner,
            read_all: false,
            commands: Vec::new(),
            webhook: None,
            allowed_updates: Vec::new(),
            offset: 0,
            created_at: self.now,
        };
        let state = BotState {
            bot,
            token: Some(*token),
        };
        self.state.bots.insert(user, state);
        Ok(())
    }

    async fn update_bot(&mut self, bot: UserId, update: &BotUpdate) -> Result<()> {
        let Some(b) = self.state.bots.get_mut(&bot) else {
            return Ok(());
        };
        match update {
            BotUpdate::Token(t) => b.token = *t,
            BotUpdate::ReadAll(r) => b.bot.read_all = *r,
            BotUpdate::Webhook(w) => b.bot.webhook = w.clone(),
            BotUpdate::Commands(c) => b.bot.commands = c.clone(),
            BotUpdate::AllowedUpdates(a) => b.bot.allowed_updates = a.clone(),
            BotUpdate::Offset(p) => b.bot.offset = b.bot.offset.max(*p),
        }
        Ok(())
    }

    async fn webhook_bots(&mut self) -> Result<Vec<UserId>> {
        let with = self
            .state
            .bots
            .iter()
            .filter(|(_, b)| b.bot.webhook.is_some());
        Ok(with.map(|(id, _)| *id).collect())
    }

    async fn consent(&mut self, user: UserId, service: UserId) -> Result<bool> {
        Ok(self.state.consents.contains(&(user, service)))
    }

    async fn set_consent(&mut self, user: UserId, service: UserId, allowed: bool) -> Result<()> {
        if allowed {
            self.state.consents.insert((user, service));
        } else {
            self.state.consents.remove(&(user, service));
        }
        Ok(())
    }
}

/// The in-memory backend.
pub struct Memory {
    state: Mutex<State>,
    limits: Limits,
    listener: OnceLock<CommitListener>,
    clock: Clock,
}

/// The in-memory store.
pub type MemoryStore = domain::DomainStore<Memory>;

/// A fresh, empty in-memory store.
pub fn open(limits: Limits) -> MemoryStore {
    domain::DomainStore::new(Memory {
        state: Mutex::new(State::default()),
        limits,
        listener: OnceLock::new(),
        clock: Clock::default(),
    })
}

impl Memory {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Backend for Memory {
    async fn write(&self, op: Write) -> Result<Written> {
        let now = self.clock.now();
        let mut state = self.state();
        let before = state.clone();
        let mut tx = MemTx {
            state: &mut state,
            now,
            limits: &self.limits,
        };
        let outcome = now_or_never(domain::write(&mut tx, op));
        match &outcome {
            Err(_) => *state = before,
            Ok(Written::Committed(c)) => {
                // Under the state's lock: commits are announced in commit order.
                if let Some(listener) = self.listener.get() {
                    listener(c);
                }
            }
            Ok(_) => {}
        }
        outcome
    }

    async fn read(&self, op: Read) -> Result<ReadOut> {
        let now = self.clock.now();
        let mut state = self.state();
        let mut tx = MemTx {
            state: &mut state,
            now,
            limits: &self.limits,
        };
        now_or_never(domain::read(&mut tx, op))
    }

    fn set_commit_listener(&self, listener: CommitListener) {
        let _ = self.listener.set(listener);
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    fn fresh_store() -> ((), super::MemoryStore) {
        ((), super::open(crate::conformance::limits()))
    }

    crate::store_conformance_tests!(fresh_store);
}
