//! chapar-store-sqlite: the embedded [`Store`] of chapar, on SQLite.
//!
//! Module map:
//! * this file: [`SqliteStore`], its options, and the `Store` impl, which hands every write to the
//!   writer and every read to the read pool.
//! * [`schema`]: connection pragmas (WAL, busy timeout, foreign keys, durability) and the
//!   embedded migrations (`migrations/*.sql`, tracked with `PRAGMA user_version`).
//! * [`writer`]: the single writer thread behind a bounded queue, with group commit (one
//!   transaction per batch, one savepoint per job, answers only after COMMIT).
//! * [`checkpointer`]: WAL checkpoints on their own thread, nudged by the writer.
//! * [`readers`]: a small pool of read-only connections on their own threads, also bounded.
//! * [`accounts`]: users, devices, sessions, link codes, invites.
//! * [`commands`]: `execute` for messages (send, edit, delete, react) and markers; appends and
//!   fan-out to feeds. [`membership`]: the group commands.
//! * [`queries`]: conversation lists, members, history and feed reads.
//! * [`rows`]: shared row conversions and the membership check.
//! * [`bots`]: bots and service accounts (owner operations, tokens, bot state, consent);
//!   [`bot_actions`]: `execute_bot` (messages with buttons, their edits, button presses).
//!
//! Invariants kept here: an `Ok` from a write means its batch is committed at the configured
//! durability; seqs are dense per conversation and pts increasing per user because one thread
//! writes; no queue is unbounded (a full queue answers `Overloaded` at once).

mod accounts;
mod bot_actions;
mod bots;
mod checkpointer;
mod commands;
mod membership;
mod queries;
mod readers;
mod rows;
mod schema;
mod writer;

use async_trait::async_trait;
use chapar_core::bots::{Bot, BotAction, BotChange, BotOp};
use chapar_core::stats::StoreStats;
use chapar_core::store::{
    Command, CommitListener, Committed, NewAccount, NewDevice, Principal, SecretHash, Store, Target,
};
use chapar_core::{Error, Limits, Result};
use chapar_proto::{
    BotInfo, ConversationId, ConversationInfo, DeviceId, DeviceInfo, MemberInfo, Message, Pts, Seq,
    SyncPage, UserId, UserInfo,
};
use readers::Readers;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use writer::{Announce, Writer};

pub use schema::SCHEMA_VERSION;

/// What a committed write survives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: survives power loss (the default).
    #[default]
    Full,
    /// `synchronous=NORMAL`: survives a process crash; the last commits may be lost on power loss.
    Normal,
}

#[derive(Clone, Debug)]
pub struct SqliteOptions {
    pub durability: Durability,
    /// Writes waiting for the writer before callers get `Overloaded`.
    pub write_queue: usize,
    /// Most jobs committed together in one transaction (beyond the first).
    pub max_batch: usize,
    /// Read connections (and threads).
    pub readers: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            durability: Durability::Full,
            write_queue: 4096,
            max_batch: 512,
            readers: 4,
        }
    }
}

/// Map a SQLite failure to the domain: the backend failed, nothing was committed.
pub(crate) trait Db<T> {
    fn db(self) -> Result<T>;
}

impl<T> Db<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T> {
        self.map_err(|e| Error::Unavailable(format!("database error: {e}")))
    }
}

/// The SQLite store. Dropping it finishes queued writes and closes the database.
pub struct SqliteStore {
    // Field order is drop order: the writer finishes its queue before the readers close.
    writer: Writer,
    readers: Readers,
    limits: Arc<Limits>,
    path: PathBuf,
    /// Told of every committed `execute`, in commit order, from the writer thread.
    listener: std::sync::OnceLock<CommitListener>,
    stats: Arc<StoreStats>,
}

impl SqliteStore {
    /// Open (creating and migrating if needed) the database at `dir_or_file`. An existing
    /// directory, or a path without a `.db`/`.sqlite`/`.sqlite3` extension, is a data directory
    /// (created if missing) holding `chapar.db`; otherwise the path is the database file.
    pub fn open(dir_or_file: &Path, options: SqliteOptions, limits: Limits) -> Result<Self> {
        let path = database_path(dir_or_file)?;
        let mut conn = schema::connect(&path, options.durability, false)?;
        schema::migrate(&mut conn)?;
        let limits = Arc::new(limits);
        let mut reader_conns = Vec::with_capacity(options.readers.max(1));
        for _ in 0..options.readers.max(1) {
            reader_conns.push(schema::connect(&path, options.durability, true)?);
        }
        let readers = Readers::start(reader_conns)?;
        let stats = Arc::new(StoreStats::default());
        let writer = Writer::start(
            conn,
            schema::connect(&path, options.durability, false)?,
            options.write_queue,
            options.max_batch,
            Arc::clone(&limits),
            Arc::clone(&stats),
        )?;
        Ok(SqliteStore {
            writer,
            readers,
            limits,
            path,
            listener: std::sync::OnceLock::new(),
            stats,
        })
    }

    /// The database file in use.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version recorded in the database (equals [`SCHEMA_VERSION`] once open).
    pub async fn schema_version(&self) -> Result<u32> {
        self.readers.call(schema::version).await
    }
}

fn database_path(given: &Path) -> Result<PathBuf> {
    let is_file_name = given
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "db" | "sqlite" | "sqlite3"));
    let (dir, file) = if given.is_dir() || !is_file_name {
        (given.to_path_buf(), given.join("chapar.db"))
    } else {
        let dir = given.parent().map(Path::to_path_buf).unwrap_or_default();
        (dir, given.to_path_buf())
    };
    if !dir.as_os_str().is_empty() {
        std::fs::create_dir_all(&dir).map_err(|e| {
            Error::Unavailable(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    Ok(file)
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_account(&self, account: NewAccount) -> Result<Principal> {
        self.writer
            .call(move |ctx| accounts::create_account(ctx, account))
            .await
    }

    async fn login(&self, public_key: &[u8], token_hash: SecretHash) -> Result<Principal> {
        let key = public_key.to_vec();
        self.writer
            .call(move |ctx| accounts::login(ctx, &key, &token_hash))
            .await
    }

    async fn session(&self, token_hash: SecretHash) -> Result<Option<Principal>> {
        self.readers
            .call(move |conn| accounts::session(conn, &token_hash))
            .await
    }

    async fn delete_session(&self, token_hash: SecretHash) -> Result<()> {
        self.writer
            .call(move |ctx| accounts::delete_session(ctx, &token_hash))
            .await
    }

    async fn create_link_code(
        &self,
        actor: &Principal,
        code_hash: SecretHash,
        expires_at: i64,
    ) -> Result<()> {
        let actor = actor.clone();
        self.writer
            .call(move |ctx| accounts::create_link_code(ctx, &actor, &code_hash, expires_at))
            .await
    }

    async fn link_device(&self, device: NewDevice) -> Result<Principal> {
        self.writer
            .call(move |ctx| accounts::link_device(ctx, device))
            .await
    }

    async fn devices(&self, actor: &Principal) -> Result<Vec<DeviceInfo>> {
        let actor = actor.clone();
        self.readers
            .call(move |conn| accounts::devices(conn, &actor))
            .await
    }

    async fn revoke_device(&self, actor: &Principal, device: DeviceId) -> Result<()> {
        let actor = actor.clone();
        self.writer
            .call(move |ctx| accounts::revoke_device(ctx, &actor, device))
            .await
    }

    async fn create_invite(&self, code_hash: SecretHash, uses: u32) -> Result<()> {
        self.writer
            .call(move |ctx| accounts::create_invite(ctx, &code_hash, uses))
            .await
    }

    async fn user_by_handle(&self, handle: &str) -> Result<UserInfo> {
        let handle = handle.to_string();
        self.readers
            .call(move |conn| accounts::user(conn, &handle))
            .await
    }

    async fn head_pts(&self, user: UserId) -> Result<Pts> {
        self.readers
            .call(move |conn| accounts::head_pts(conn, user))
            .await
    }

    fn stats(&self) -> Option<Arc<StoreStats>> {
        Some(Arc::clone(&self.stats))
    }

    fn set_commit_listener(&self, listener: CommitListener) {
        let _ = self.listener.set(listener);
    }

    async fn execute(&self, actor: &Principal, command: Command) -> Result<Committed> {
        let actor = actor.clone();
        let announce = self
            .listener
            .get()
            .cloned()
            .map(|l| -> Announce<Committed> {
                Box::new(move |committed: &Committed| l(committed))
            });
        self.writer
            .call_announced(move |ctx| commands::execute(ctx, &actor, command), announce)
            .await
    }

    async fn conversations(&self, actor: &Principal, limit: u32) -> Result<Vec<ConversationInfo>> {
        let actor = actor.clone();
        let limits = Arc::clone(&self.limits);
        self.readers
            .call(move |conn| queries::conversations(conn, &actor, limit, &limits))
            .await
    }

    async fn conversation(
        &self,
        actor: &Principal,
        id: ConversationId,
    ) -> Result<ConversationInfo> {
        let actor = actor.clone();
        self.readers
            .call(move |conn| queries::conversation(conn, &actor, id))
            .await
    }

    async fn members(&self, actor: &Principal, id: ConversationId) -> Result<Vec<MemberInfo>> {
        let actor = actor.clone();
        self.readers
            .call(move |conn| queries::members(conn, &actor, id))
            .await
    }

    async fn member_ids(&self, actor: &Principal, id: ConversationId) -> Result<Vec<UserId>> {
        let actor = actor.clone();
        self.readers
            .call(move |conn| queries::member_ids(conn, &actor, id))
            .await
    }

    async fn history(
        &self,
        actor: &Principal,
        target: Target,
        before: Option<Seq>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let actor = actor.clone();
        let limits = Arc::clone(&self.limits);
        self.readers
            .call(move |conn| queries::history(conn, &actor, target, before, limit, &limits))
            .await
    }

    async fn feed(&self, actor: &Principal, after: Pts, limit: u32) -> Result<SyncPage> {
        let actor = actor.clone();
        let limits = Arc::clone(&self.limits);
        self.readers
            .call(move |conn| queries::feed(conn, &actor, after, limit, &limits))
            .await
    }

    async fn execute_bot(&self, actor: &Principal, action: BotAction) -> Result<Committed> {
        let actor = actor.clone();
        let announce = self
            .listener
            .get()
            .cloned()
            .map(|l| -> Announce<Committed> {
                Box::new(move |committed: &Committed| l(committed))
            });
        self.writer
            .call_announced(
                move |ctx| bot_actions::execute(ctx, &actor, action),
                announce,
            )
            .await
    }

    async fn manage_bot(&self, owner: &Principal, op: BotOp) -> Result<BotInfo> {
        let owner = owner.clone();
        self.writer
            .call(move |ctx| bots::manage(ctx, &owner, op))
            .await
    }

    async fn bots(&self, owner: &Principal) -> Result<Vec<BotInfo>> {
        let owner = owner.clone();
        self.readers
            .call(move |conn| bots::list(conn, &owner))
            .await
    }

    async fn bot_session(&self, token_hash: SecretHash) -> Result<Option<Bot>> {
        self.readers
            .call(move |conn| bots::by_token(conn, &token_hash))
            .await
    }

    async fn bot(&self, id: UserId) -> Result<Option<Bot>> {
        self.readers.call(move |conn| bots::by_id(conn, id)).await
    }

    async fn update_bot(&self, actor: &Principal, change: BotChange) -> Result<()> {
        let actor = actor.clone();
        self.writer
            .call(move |ctx| bots::update(ctx, &actor, change))
            .await
    }

    async fn webhook_bots(&self) -> Result<Vec<UserId>> {
        self.readers.call(bots::with_webhooks).await
    }

    async fn set_consent(&self, actor: &Principal, handle: &str, allowed: bool) -> Result<()> {
        let actor = actor.clone();
        let handle = handle.to_string();
        self.writer
            .call(move |ctx| bots::set_consent(ctx, &actor, &handle, allowed))
            .await
    }

    async fn direct_conversation(
        &self,
        actor: &Principal,
        peer: UserId,
    ) -> Result<Option<ConversationId>> {
        let actor = actor.clone();
        self.readers
            .call(move |conn| bots::direct_conversation(conn, &actor, peer))
            .await
    }

    async fn ping(&self) -> Result<()> {
        self.readers
            .call(|conn| {
                conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                    .db()
                    .map(|_| ())
            })
            .await
    }
}
