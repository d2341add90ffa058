//! chapar-store-postgres: the cluster store of chapar, on PostgreSQL.
//!
//! Any number of nodes open the same database; PostgreSQL is the only source of truth.
//!
//! Module map:
//! * this file: [`Pg`], the [`Backend`] that runs the domain's operations (writes on the batch
//!   writer, reads on pooled connections, bounded), its options, and [`open`].
//! * [`writer`](crate::writer): the batch writer: a node's concurrent writes in one
//!   transaction, each in its own savepoint, retried whole on conflicts with other nodes,
//!   answered after COMMIT and announced in commit order.
//! * [`pool`](crate::pool): connections with a circuit breaker (fail fast while PostgreSQL is
//!   down, recover by itself).
//! * [`db`](crate::db): the per-operation context, prepared statements, error mapping.
//! * `schema`: embedded migrations (`migrations/*.sql`) under an advisory lock; the cluster id.
//! * [`tx`](crate::tx): the storage interface (`chapar_core::storage::Tx`) in SQL;
//!   `rows`: row conversions and pages of messages with their reactions.
//!
//! No domain rule lives here: `chapar_core::domain` decides, this crate stores.
//!
//! Invariants kept here: an `Ok` from a write means its batch committed; seqs are dense per
//! conversation and pts increasing per user across nodes because each is bumped under its
//! row's lock (conversation first, then users in id order); no queue is unbounded (a full write
//! queue or read budget answers `Overloaded` at once); PostgreSQL unreachable means
//! `Unavailable` within `op_timeout`, and at once while the breaker is open.

mod db;
mod pool;
mod rows;
mod schema;
mod sequencer;
pub mod testing;
mod tx;
mod writer;

use chapar_core::domain::{self, DomainStore, Read, ReadOut, Write, Written};
use chapar_core::stats::StoreStats;
use chapar_core::storage::Backend;
use chapar_core::store::CommitListener;
use chapar_core::{Error, Limits, Result};
use db::{Ctx, Failure};
use pool::Pool;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tx::PgTx;
use writer::{Shared, Writer};

pub use schema::SCHEMA_VERSION;
pub use writer::MAX_BATCH;

#[derive(Clone, Debug)]
pub struct PgOptions {
    /// Connections to PostgreSQL this node keeps at most (one of them is the writer's).
    pub connections: usize,
    /// Writes waiting for the writer at once; beyond, `Overloaded`.
    pub write_queue: usize,
    /// Most writes committed together in one transaction (at most [`MAX_BATCH`]).
    pub max_batch: usize,
    /// Batch writers running at once, each on its own connection.
    pub writers: usize,
    /// Reads admitted at once; beyond, `Overloaded`.
    pub read_queue: usize,
    /// Longest wait for a new connection.
    pub connect_timeout: Duration,
    /// Longest one operation (a read, or a whole batch) may take before it is `Unavailable`;
    /// also the server-side statement timeout.
    pub op_timeout: Duration,
    /// Times a batch is run again after a serialization failure, deadlock or unique race.
    pub retries: u32,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            connections: 16,
            write_queue: 8192,
            max_batch: MAX_BATCH,
            writers: 4,
            read_queue: 4096,
            connect_timeout: Duration::from_secs(3),
            op_timeout: Duration::from_secs(5),
            retries: 8,
        }
    }
}

/// How long a caller refused by a full read budget is told to wait.
const RETRY_AFTER_MS: u64 = 100;

/// The PostgreSQL backend. Dropping it closes its connections.
pub struct Pg {
    writer: Writer,
    shared: Arc<Shared>,
    reads: Semaphore,
    cluster_id: String,
}

/// The PostgreSQL store: the domain on [`Pg`].
pub type PgStore = DomainStore<Pg>;

/// Connect to `url` (`postgres://user[:password]@host[:port]/database[?...]`), apply missing
/// migrations, read the cluster id and start the writer. Fails when PostgreSQL cannot be
/// reached.
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
    let writers = options.writers.max(1);
    let pool = Pool::new(
        config,
        options.connections.max(writers + 1),
        options.op_timeout,
    );
    let conn = pool.connect().await?;
    let limits = Arc::new(limits);
    let cluster_id = {
        let ctx = Ctx::new(&conn, 0, &limits);
        schema::migrate(&ctx).await?;
        schema::cluster_id(&ctx).await?
    };
    // The migration connection is not pooled: its cached statements may predate the schema.
    drop(conn);
    let shared = Arc::new(Shared::new(
        pool,
        limits,
        options.op_timeout,
        options.retries,
    ));
    let writer = Writer::start(
        Arc::clone(&shared),
        options.write_queue,
        options.max_batch,
        writers,
    );
    Ok(DomainStore::new(Pg {
        writer,
        shared,
        reads: Semaphore::new(options.read_queue.max(1)),
        cluster_id,
    }))
}

impl Pg {
    /// This cluster's id: the same on every node of one database, different between databases.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The schema version recorded in the database (equals [`SCHEMA_VERSION`] once open).
    pub async fn schema_version(&self) -> Result<u32> {
        let lease = self.shared.pool.get().await?;
        let ctx = Ctx::new(lease.conn(), 0, &self.shared.limits);
        let version = schema::version(&ctx).await;
        lease.set_clean(ctx.failure() != Failure::Broken);
        version
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        self.shared.pool.close();
    }
}

impl Backend for Pg {
    async fn write(&self, op: Write) -> Result<Written> {
        self.writer.call(op).await
    }

    /// A read on a pooled connection; several statements see one snapshot.
    async fn read(&self, op: Read) -> Result<ReadOut> {
        let _permit = self.reads.try_acquire().map_err(|_| Error::Overloaded {
            reason: "too many reads waiting for the database".into(),
            retry_after_ms: RETRY_AFTER_MS,
        })?;
        let snapshot = op.needs_snapshot();
        let once = async {
            let lease = self.shared.pool.get().await?;
            let ctx = Ctx::new(lease.conn(), self.shared.now(), &self.shared.limits);
            let mut tx = PgTx::new(&ctx);
            let result = if snapshot {
                let (begun, result) = tokio::join!(
                    ctx.simple("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
                    domain::read(&mut tx, op)
                );
                begun?;
                result
            } else {
                domain::read(&mut tx, op).await
            };
            if ctx.failure() != Failure::Broken {
                let end = match snapshot {
                    true => ctx.simple("ROLLBACK").await,
                    false => Ok(()),
                };
                lease.set_clean(end.is_ok());
            }
            result
        };
        tokio::time::timeout(self.shared.op_timeout, once)
            .await
            .map_err(|_| Error::Unavailable("the database did not answer in time".into()))?
    }

    fn set_commit_listener(&self, listener: CommitListener) {
        let _ = self.shared.listener.set(listener);
    }

    async fn ping(&self) -> Result<()> {
        let lease = self.shared.pool.get().await?;
        let ctx = Ctx::new(lease.conn(), 0, &self.shared.limits);
        let result = ctx.one("SELECT 1", &[]).await.map(|_| ());
        lease.set_clean(ctx.failure() != Failure::Broken);
        result
    }

    fn stats(&self) -> Option<Arc<StoreStats>> {
        Some(Arc::clone(&self.shared.stats))
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
