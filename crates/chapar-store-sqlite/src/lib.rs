//! chapar-store-sqlite: the embedded store of chapar, on SQLite.
//!
//! Module map:
//! * this file: [`Sqlite`], the [`Backend`] that runs the domain's operations (every write on
//!   the writer, every read on the read pool), its options, and [`open`].
//! * [`schema`]: connection pragmas (WAL, busy timeout, foreign keys, durability) and the
//!   embedded migrations (`migrations/*.sql`, tracked with `PRAGMA user_version`).
//! * [`writer`]: the single writer thread behind a bounded queue, with group commit (one
//!   transaction per batch, one savepoint per job, answers only after COMMIT).
//! * [`checkpointer`]: WAL checkpoints on their own thread, nudged by the writer.
//! * [`readers`]: a small pool of read-only connections on their own threads, also bounded.
//! * [`tx`]: the storage interface (`chapar_core::storage::Tx`) in SQL.
//!
//! No domain rule lives here: `chapar_core::domain` decides, this crate stores.
//!
//! Invariants kept here: an `Ok` from a write means its batch is committed at the configured
//! durability; seqs are dense per conversation and pts increasing per user because one thread
//! writes; no queue is unbounded (a full queue answers `Overloaded` at once).

mod checkpointer;
mod readers;
mod schema;
mod tx;
mod writer;

use chapar_core::domain::{self, DomainStore, Read, ReadOut, Write, Written};
use chapar_core::stats::StoreStats;
use chapar_core::storage::{Backend, now_or_never};
use chapar_core::store::CommitListener;
use chapar_core::{Error, Limits, Result};
use readers::Readers;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tx::SqliteTx;
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

/// The SQLite backend. Dropping it finishes queued writes and closes the database.
pub struct Sqlite {
    // Field order is drop order: the writer finishes its queue before the readers close.
    writer: Writer,
    readers: Readers,
    limits: Arc<Limits>,
    path: PathBuf,
    /// Told of every committed `Written::Committed`, in commit order, from the writer thread.
    listener: std::sync::OnceLock<CommitListener>,
    stats: Arc<StoreStats>,
}

/// The SQLite store: the domain on [`Sqlite`].
pub type SqliteStore = DomainStore<Sqlite>;

/// Open (creating and migrating if needed) the database at `dir_or_file`. An existing
/// directory, or a path without a `.db`/`.sqlite`/`.sqlite3` extension, is a data directory
/// (created if missing, readable by its owner only) holding `chapar.db`; otherwise the path is
/// the database file.
pub fn open(dir_or_file: &Path, options: SqliteOptions, limits: Limits) -> Result<SqliteStore> {
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
    Ok(DomainStore::new(Sqlite {
        writer,
        readers,
        limits,
        path,
        listener: std::sync::OnceLock::new(),
        stats,
    }))
}

impl Sqlite {
    /// The database file in use.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version recorded in the database (equals [`SCHEMA_VERSION`] once open).
    pub async fn schema_version(&self) -> Result<u32> {
        self.readers.call(|conn, _| schema::version(conn)).await
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
    let unavailable = |what: &str, path: &Path, e: std::io::Error| {
        Error::Unavailable(format!("cannot {what} {}: {e}", path.display()))
    };
    if !dir.as_os_str().is_empty() && !dir.exists() {
        private_dir(&dir).map_err(|e| unavailable("create data directory", &dir, e))?;
    }
    private_files(&file).map_err(|e| unavailable("protect database file", &file, e))?;
    Ok(file)
}

/// Create a directory (and its missing parents) readable by its owner only.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// The database file, made if missing, and its WAL and shared-memory files readable and
/// writable by their owner only (SQLite gives the WAL files the database file's mode).
fn private_files(file: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(file)?;
        for suffix in ["", "-wal", "-shm"] {
            let mut name = file.as_os_str().to_owned();
            name.push(suffix);
            let path = PathBuf::from(name);
            if path.exists() {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

impl Backend for Sqlite {
    async fn write(&self, op: Write) -> Result<Written> {
        let announce = self.listener.get().cloned().map(|l| -> Announce<Written> {
            Box::new(move |written: &Written| {
                if let Written::Committed(c) = written {
                    l(c);
                }
            })
        });
        self.writer
            .call_announced(
                move |ctx| {
                    let mut tx = SqliteTx::new(ctx.conn, ctx.now, ctx.limits);
                    now_or_never(domain::write(&mut tx, op))
                },
                announce,
            )
            .await
    }

    async fn read(&self, op: Read) -> Result<ReadOut> {
        let limits = Arc::clone(&self.limits);
        self.readers
            .call(move |conn, now| {
                let mut tx = SqliteTx::new(conn, now, &limits);
                now_or_never(domain::read(&mut tx, op))
            })
            .await
    }

    fn set_commit_listener(&self, listener: CommitListener) {
        let _ = self.listener.set(listener);
    }

    async fn ping(&self) -> Result<()> {
        self.readers
            .call(|conn, _| {
                conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                    .db()
                    .map(|_| ())
            })
            .await
    }

    fn stats(&self) -> Option<Arc<StoreStats>> {
        Some(Arc::clone(&self.stats))
    }
}
