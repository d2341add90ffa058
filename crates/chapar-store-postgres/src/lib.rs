//! chapar-store-postgres: the cluster [`Store`] of chapar, on PostgreSQL.
//!
//! Any number of nodes open the same database; PostgreSQL is the only source of truth.
//!
//! Module map:
//! * this file: [`PgStore`], its options, and the `Store` impl: every write is one transaction
//!   (retried inside the store on serialization failures and deadlocks), bounded by a write
//!   semaphore; reads are bounded too.
//! * [`pool`](crate::pool): connections with a circuit breaker (fail fast while PostgreSQL is
//!   down, recover by itself).
//! * [`db`](crate::db): the per-operation context, prepared statements, error mapping.
//! * `schema`: embedded migrations (`migrations/*.sql`) under an advisory lock; the cluster id.
//! * [`sequencer`](crate::sequencer): this node's commits announced in commit order.
//! * `accounts`, `commands`, `membership`, `queries`, `rows`, `bots`, `bot_actions`: the same
//!   behaviour as the SQLite store, statement for statement where it can be, checked by the
//!   shared conformance suite.
//!
//! Invariants kept here: an `Ok` from a write means its transaction committed; seqs are dense
//! per conversation and pts increasing per user across nodes because each is bumped under its
//! row's lock (conversation first, then users in id order, so no deadlock cycle); no queue is
//! unbounded (a full write or read budget answers `Overloaded` at once); PostgreSQL unreachable
//! means `Unavailable` within `op_timeout`, and at once while the breaker is open.

mod accounts;
mod bot_actions;
mod bots;
mod commands;
mod db;
mod membership;
mod pool;
mod queries;
mod rows;
mod schema;
mod sequencer;
pub mod testing;

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
use db::{Ctx, Failure};
use pool::Pool;
use sequencer::{Sequencer, Ticket};
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;

pub use schema::SCHEMA_VERSION;

#[derive(Clone, Debug)]
pub struct PgOptions {
    /// Connections to PostgreSQL this node keeps at most.
    pub connections: usize,
    /// Writes admitted at once (running or waiting for a connection); beyond, `Overloaded`.
    pub write_queue: usize,
    /// Reads admitted at once; beyond, `Overloaded`.
    pub read_queue: usize,
    /// Longest wait for a new connection.
    pub connect_timeout: Duration,
    /// Longest one operation (a whole transaction) may take before it is `Unavailable`; also
    /// the server-side statement timeout.
    pub op_timeout: Duration,
    /// Times a transaction is run again after a serialization failure or deadlock.
    pub retries: u32,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            connections: 16,
            write_queue: 8192,
            read_queue: 4096,
            connect_timeout: Duration::from_secs(3),
            op_timeout: Duration::from_secs(5),
            retries: 8,
        }
    }
}

/// How long a caller refused by a full budget is told to wait.
const RETRY_AFTER_MS: u64 = 100;

type Job<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

enum Attempt {
    /// A serialization failure, deadlock or unique race: run the transaction again.
    Retry(Error),
    Fail(Error),
}

/// The PostgreSQL store. Dropping it closes its connections.
pub struct PgStore {
    pool: Pool,
    limits: Arc<Limits>,
    options: PgOptions,
    writes: Semaphore,
    reads: Semaphore,
    sequencer: Sequencer,
    /// Told of every committed `execute`, in this node's commit order.
    listener: OnceLock<CommitListener>,
    cluster_id: String,
    /// Last server time handed out (never goes backwards on this node).
    clock: Mutex<i64>,
    stats: Arc<StoreStats>,
}

/// Counts a write in flight (`queue_depth`) for as long as it lives.
struct InFlight<'a>(&'a StoreStats);

impl<'a> InFlight<'a> {
    fn new(stats: &'a StoreStats) -> Self {
        stats.queue_depth.fetch_add(1, Ordering::Relaxed);
        InFlight(stats)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.queue_depth.fetch_sub(1, Ordering::Relaxed);
    }
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl PgStore {
    /// Connect to `url` (`postgres://user[:password]@host[:port]/database[?...]`), apply missing
    /// migrations, and read the cluster id. Fails when PostgreSQL cannot be reached.
    pub async fn open(url: &str, options: PgOptions, limits: Limits) -> Result<PgStore> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| Error::invalid(format!("not a PostgreSQL URL: {e}")))?;
        let timeout_ms = options.op_timeout.as_millis();
        let mut server_options = config.get_options().unwrap_or_default().to_string();
        server_options.push_str(&format!(
            " -c statement_timeout={timeout_ms} -c idle_in_transaction_session_timeout={}",
            timeout_ms * 6
        ));
        config
            .options(server_options.trim())
            .connect_timeout(options.connect_timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10))
            .application_name("chapar");
        let pool = Pool::new(config, options.connections, options.op_timeout);
        let conn = pool.connect().await?;
        let limits = Arc::new(limits);
        let cluster_id = {
            let ctx = Ctx::new(&conn, 0, &limits);
            schema::migrate(&ctx).await?;
            schema::cluster_id(&ctx).await?
        };
        // The migration connection is not pooled: its cached statements may predate the schema.
        drop(conn);
        Ok(PgStore {
            pool,
            writes: Semaphore::new(options.write_queue.max(1)),
            reads: Semaphore::new(options.read_queue.max(1)),
            options,
            limits,
            sequencer: Sequencer::default(),
            listener: OnceLock::new(),
            cluster_id,
            clock: Mutex::new(0),
            stats: Arc::new(StoreStats::default()),
        })
    }

    /// This cluster's id: the same on every node of one database, different between databases.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The schema version recorded in the database (equals [`SCHEMA_VERSION`] once open).
    pub async fn schema_version(&self) -> Result<u32> {
        self.read(false, |ctx| Box::pin(schema::version(ctx))).await
    }

    fn now(&self) -> i64 {
        let mut last = self.clock.lock().unwrap_or_else(|e| e.into_inner());
        *last = (*last).max(wall_ms());
        *last
    }

    /// Tell the commit listener of a committed write when its ticket's turn comes (commit
    /// order across nodes' writers), then hand the outcome back.
    async fn announce(
        &self,
        (committed, ticket): (Committed, Option<Ticket<'_>>),
    ) -> Result<Committed> {
        let (Some(ticket), Some(listener)) = (ticket, self.listener.get()) else {
            return Ok(committed);
        };
        let listener = Arc::clone(listener);
        let shared = Arc::new(committed);
        let announced = Arc::clone(&shared);
        ticket.announce(move || listener(&announced)).await;
        Ok(Arc::try_unwrap(shared).unwrap_or_else(|c| (*c).clone()))
    }

    /// Run `job` in a transaction, retrying on conflicts. With `ticketed`, the commit also gets
    /// a place in the announcement order.
    async fn write<T, F>(&self, ticketed: bool, job: F) -> Result<(T, Option<Ticket<'_>>)>
    where
        T: Send,
        F: for<'a> Fn(&'a Ctx<'a>) -> Job<'a, T> + Send + Sync,
    {
        let Ok(_permit) = self.writes.try_acquire() else {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Error::Overloaded {
                reason: "too many writes waiting for the database".into(),
                retry_after_ms: RETRY_AFTER_MS,
            });
        };
        let _depth = InFlight::new(&self.stats);
        let mut attempt = 0u32;
        loop {
            let once = self.write_once(ticketed, &job);
            let started = Instant::now();
            let outcome = tokio::time::timeout(self.options.op_timeout, once).await;
            self.stats
                .commit_seconds
                .observe(started.elapsed().as_secs_f64());
            match outcome {
                Err(_) => {
                    return Err(Error::Unavailable(
                        "the database did not answer in time".into(),
                    ));
                }
                Ok(Ok(done)) => {
                    // One write per transaction (PostgreSQL groups concurrent commits' WAL
                    // flushes itself).
                    self.stats.batch_size.observe(1.0);
                    return Ok(done);
                }
                Ok(Err(Attempt::Fail(e))) => return Err(e),
                Ok(Err(Attempt::Retry(e))) => {
                    attempt += 1;
                    if attempt > self.options.retries {
                        return Err(e);
                    }
                    tracing::debug!(attempt, error = %e, "retrying a transaction");
                    let cap = 2u64 << attempt.min(6);
                    let pause = rand::Rng::gen_range(&mut rand::thread_rng(), 0..=cap);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            }
        }
    }

    async fn write_once<T, F>(
        &self,
        ticketed: bool,
        job: &F,
    ) -> std::result::Result<(T, Option<Ticket<'_>>), Attempt>
    where
        T: Send,
        F: for<'a> Fn(&'a Ctx<'a>) -> Job<'a, T> + Send + Sync,
    {
        let lease = self.pool.get().await.map_err(Attempt::Fail)?;
        let ctx = Ctx::new(lease.conn(), self.now(), &self.limits);
        // BEGIN is pipelined with the job's first statement (sent without waiting for its
        // answer; the connection answers in order), saving a round trip.
        let (begun, outcome) = tokio::join!(ctx.simple("BEGIN"), job(&ctx));
        if let Err(e) = begun {
            // The connection is dropped (not clean): nothing of this attempt can commit.
            return Err(Attempt::Fail(e));
        }
        match outcome {
            Ok(value) => {
                let ticket = ticketed.then(|| self.sequencer.ticket());
                // A failed COMMIT leaves the outcome unknown: the connection is dropped, the
                // caller gets `Unavailable`, and a retry with the same client_id is answered
                // with the first result if the commit did happen.
                ctx.simple("COMMIT").await.map_err(Attempt::Fail)?;
                lease.set_clean(true);
                Ok((value, ticket))
            }
            Err(e) => {
                let failure = ctx.failure();
                if failure != Failure::Broken && ctx.simple("ROLLBACK").await.is_ok() {
                    lease.set_clean(true);
                }
                if failure == Failure::Retry {
                    Err(Attempt::Retry(e))
                } else {
                    Err(Attempt::Fail(e))
                }
            }
        }
    }

    /// A write without announcement.
    async fn write_plain<T, F>(&self, job: F) -> Result<T>
    where
        T: Send,
        F: for<'a> Fn(&'a Ctx<'a>) -> Job<'a, T> + Send + Sync,
    {
        self.write(false, job).await.map(|(v, _)| v)
    }

    /// A read; with `snapshot`, all its statements see one consistent snapshot.
    async fn read<T, F>(&self, snapshot: bool, job: F) -> Result<T>
    where
        T: Send,
        F: for<'a> Fn(&'a Ctx<'a>) -> Job<'a, T> + Send + Sync,
    {
        let _permit = self.reads.try_acquire().map_err(|_| Error::Overloaded {
            reason: "too many reads waiting for the database".into(),
            retry_after_ms: RETRY_AFTER_MS,
        })?;
        let once = async {
            let lease = self.pool.get().await?;
            let ctx = Ctx::new(lease.conn(), self.now(), &self.limits);
            let result = if snapshot {
                let (begun, result) = tokio::join!(
                    ctx.simple("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
                    job(&ctx)
                );
                begun?;
                result
            } else {
                job(&ctx).await
            };
            if ctx.failure() != Failure::Broken {
                let end = if snapshot {
                    ctx.simple("ROLLBACK").await
                } else {
                    Ok(())
                };
                lease.set_clean(end.is_ok());
            }
            result
        };
        tokio::time::timeout(self.options.op_timeout, once)
            .await
            .map_err(|_| Error::Unavailable("the database did not answer in time".into()))?
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.pool.close();
    }
}

#[async_trait]
impl Store for PgStore {
    fn stats(&self) -> Option<Arc<StoreStats>> {
        Some(Arc::clone(&self.stats))
    }

    fn set_commit_listener(&self, listener: CommitListener) {
        let _ = self.listener.set(listener);
    }

    async fn create_account(&self, account: NewAccount) -> Result<Principal> {
        self.write_plain(move |ctx| {
            let account = account.clone();
            Box::pin(async move { accounts::create_account(ctx, account).await })
        })
        .await
    }

    async fn login(&self, public_key: &[u8], token_hash: SecretHash) -> Result<Principal> {
        let key = public_key.to_vec();
        self.write_plain(move |ctx| {
            let key = key.clone();
            Box::pin(async move { accounts::login(ctx, &key, &token_hash).await })
        })
        .await
    }

    async fn session(&self, token_hash: SecretHash) -> Result<Option<Principal>> {
        self.read(false, move |ctx| {
            Box::pin(async move { accounts::session(ctx, &token_hash).await })
        })
        .await
    }

    async fn delete_session(&self, token_hash: SecretHash) -> Result<()> {
        self.write_plain(move |ctx| {
            Box::pin(async move { accounts::delete_session(ctx, &token_hash).await })
        })
        .await
    }

    async fn create_link_code(
        &self,
        actor: &Principal,
        code_hash: SecretHash,
        expires_at: i64,
    ) -> Result<()> {
        let actor = actor.clone();
        self.write_plain(move |ctx| {
            let actor = actor.clone();
            Box::pin(async move {
                accounts::create_link_code(ctx, &actor, &code_hash, expires_at).await
            })
        })
        .await
    }

    async fn link_device(&self, device: NewDevice) -> Result<Principal> {
        self.write_plain(move |ctx| {
            let device = device.clone();
            Box::pin(async move { accounts::link_device(ctx, device).await })
        })
        .await
    }

    async fn devices(&self, actor: &Principal) -> Result<Vec<DeviceInfo>> {
        let actor = actor.clone();
        self.read(false, move |ctx| {
            let actor = actor.clone();
            Box::pin(async move { accounts::devices(ctx, &actor).await })
        })
        .await
    }

    async fn revoke_device(&self, actor: &Principal, device: DeviceId) -> Result<()> {
        let actor = actor.clone();
        self.write_plain(move |ctx| {
            let actor = actor.clone();
            Box::pin(async move { accounts::revoke_device(ctx, &actor, device).await })
        })
        .await
    }

    async fn create_invite(&self, code_hash: SecretHash, uses: u32) -> Result<()> {
        self.write_plain(move |ctx| {
            Box::pin(async move { accounts::create_invite(ctx, &code_hash, uses).await })
        })
        .await
    }

    async fn user_by_handle(&self, handle: &str) -> Result<UserInfo> {
        let handle = handle.to_string();
        self.read(false, move |ctx| {
            let handle = handle.clone();
            Box::pin(async move { accounts::user(ctx, &handle).await })
        })
        .await
    }

    async fn head_pts(&self, user: UserId) -> Result<Pts> {
        self.read(false, move |ctx| Box::pin(accounts::head_pts(ctx, user)))
            .await
    }

    async fn execute(&self, actor: &Principal, command: Command) -> Result<Committed> {
        let done = self
            .write(true, move |ctx| {
                let (actor, command) = (actor.clone(), command.clone());
                Box::pin(async move { commands::execute(ctx, &actor, command).await })
            })
            .await?;
        self.announce(done).await
    }

    async fn conversations(&self, actor: &Principal, limit: u32) -> Result<Vec<ConversationInfo>> {
        let (actor, limits) = (actor.clone(), Arc::clone(&self.limits));
        self.read(true, move |ctx| {
            let (actor, limits) = (actor.clone(), Arc::clone(&limits));
            Box::pin(async move { queries::conversations(ctx, &actor, limit, &limits).await })
        })
        .await
    }

    async fn conversation(
        &self,
        actor: &Principal,
        id: ConversationId,
    ) -> Result<ConversationInfo> {
        let actor = actor.clone();
        self.read(true, move |ctx| {
            let actor = actor.clone();
            Box::pin(async move { queries::conversation(ctx, &actor, id).await })
        })
        .await
    }

    async fn members(&self, actor: &Principal, id: ConversationId) -> Result<Vec<MemberInfo>> {
        let actor = actor.clone();
        self.read(true, move |ctx| {
            let actor = actor.clone();
            Box::pin(async move { queries::members(ctx, &actor, id).await })
        })
        .await
    }

    async fn member_ids(&self, actor: &Principal, id: ConversationId) -> Result<Vec<UserId>> {
        let actor = actor.clone();
        self.read(true, move |ctx| {
            let actor = actor.clone();
            Box::pin(async move { queries::member_ids(ctx, &actor, id).await })
        })
        .await
    }

    async fn history(
        &self,
        actor: &Principal,
        target: Target,
        before: Option<Seq>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let (actor, limits) = (actor.clone(), Arc::clone(&self.limits));
        self.read(true, move |ctx| {
            let (actor, target, limits) = (actor.clone(), target.clone(), Arc::clone(&limits));
            Box::pin(
                async move { queries::history(ctx, &actor, target, before, limit, &limits).await },
            )
        })
        .await
    }

    async fn feed(&self, actor: &Principal, after: Pts, limit: u32) -> Result<SyncPage> {
        let (actor, limits) = (actor.clone(), Arc::clone(&self.limits));
        self.read(true, move |ctx| {
            let (actor, limits) = (actor.clone(), Arc::clone(&limits));
            Box::pin(async move { queries::feed(ctx, &actor, after, limit, &limits).await })
        })
        .await
    }

    async fn execute_bot(&self, actor: &Principal, action: BotAction) -> Result<Committed> {
        let done = self
            .write(true, move |ctx| {
                let (actor, action) = (actor.clone(), action.clone());
                Box::pin(async move { bot_actions::execute(ctx, &actor, action).await })
            })
            .await?;
        self.announce(done).await
    }

    async fn manage_bot(&self, owner: &Principal, op: BotOp) -> Result<BotInfo> {
        self.write_plain(move |ctx| {
            let (owner, op) = (owner.clone(), op.clone());
            Box::pin(async move { bots::manage(ctx, &owner, op).await })
        })
        .await
    }

    async fn bots(&self, owner: &Principal) -> Result<Vec<BotInfo>> {
        let owner = owner.clone();
        self.read(false, move |ctx| {
            let owner = owner.clone();
            Box::pin(async move { bots::list(ctx, &owner).await })
        })
        .await
    }

    async fn bot_session(&self, token_hash: SecretHash) -> Result<Option<Bot>> {
        self.read(false, move |ctx| {
            Box::pin(async move { bots::by_token(ctx, &token_hash).await })
        })
        .await
    }

    async fn bot(&self, id: UserId) -> Result<Option<Bot>> {
        self.read(false, move |ctx| Box::pin(bots::by_id(ctx, id)))
            .await
    }

    async fn update_bot(&self, actor: &Principal, change: BotChange) -> Result<()> {
        self.write_plain(move |ctx| {
            let (actor, change) = (actor.clone(), change.clone());
            Box::pin(async move { bots::update(ctx, &actor, change).await })
        })
        .await
    }

    async fn webhook_bots(&self) -> Result<Vec<UserId>> {
        self.read(false, |ctx| Box::pin(bots::with_webhooks(ctx)))
            .await
    }

    async fn set_consent(&self, actor: &Principal, handle: &str, allowed: bool) -> Result<()> {
        let handle = handle.to_string();
        self.write_plain(move |ctx| {
            let (actor, handle) = (actor.clone(), handle.clone());
            Box::pin(async move { bots::set_consent(ctx, &actor, &handle, allowed).await })
        })
        .await
    }

    async fn direct_conversation(
        &self,
        actor: &Principal,
        peer: UserId,
    ) -> Result<Option<ConversationId>> {
        let actor = actor.clone();
        self.read(false, move |ctx| {
            let actor = actor.clone();
            Box::pin(async move { bots::direct_conversation(ctx, &actor, peer).await })
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.read(false, |ctx| {
            Box::pin(async move { ctx.one("SELECT 1", &[]).await.map(|_| ()) })
        })
        .await
    }
}

/// Create database `name` with the administrative URL `admin_url` and return a URL for it
/// (the same URL with the database name replaced). For tests and tools that need a fresh,
/// empty database.
pub async fn create_database(admin_url: &str, name: &str) -> Result<String> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(Error::invalid(
            "a database name is lowercase letters, digits and _",
        ));
    }
    let (client, connection) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .map_err(|e| Error::Unavailable(format!("cannot connect to {admin_url}: {e}")))?;
    let driver = tokio::spawn(connection);
    let created = client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .map_err(|e| Error::Unavailable(format!("cannot create database {name}: {e}")));
    drop(client);
    let _ = driver.await;
    created?;
    Ok(with_database(admin_url, name))
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_names_are_replaced_in_urls() {
        assert_eq!(
            super::with_database("postgres://u@h:5/postgres", "t1"),
            "postgres://u@h:5/t1"
        );
        assert_eq!(
            super::with_database("postgres://u:p@h/x?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(
            super::with_database("postgres://h", "t3"),
            "postgres://h/t3"
        );
    }
}
