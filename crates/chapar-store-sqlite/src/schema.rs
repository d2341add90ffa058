//! Opening connections and migrating the schema.
//!
//! Every connection gets the same pragmas (WAL, busy timeout, foreign keys, the configured
//! `synchronous` level). Migrations are SQL files embedded in the binary and applied in order at
//! open, each in its own transaction together with the `PRAGMA user_version` bump that records it,
//! so a crash mid-migration leaves the previous version intact and reopening is idempotent.

use crate::{Db, Durability};
use chapar_core::{Error, Result};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// The migrations, in order. Version N of the schema means the first N have been applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_bots.sql"),
    include_str!("../migrations/0003_domain.sql"),
    include_str!("../migrations/0004_safety.sql"),
    include_str!("../migrations/0005_profile.sql"),
    include_str!("../migrations/0006_find.sql"),
    include_str!("../migrations/0007_search.sql"),
    include_str!("../migrations/0008_everyday.sql"),
];

/// The schema version this binary expects.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// How long a connection waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Open one connection with chapar's pragmas. `read_only` connections refuse writes.
pub fn connect(path: &Path, durability: Durability, read_only: bool) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| Error::Unavailable(format!("cannot open database {}: {e}", path.display())))?;
    conn.busy_timeout(BUSY_TIMEOUT).db()?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .db()?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Unavailable(format!(
            "database {} cannot use WAL mode (got {mode})",
            path.display()
        )));
    }
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {sync};
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -16000;"
    ))
    .db()?;
    if read_only {
        conn.execute_batch("PRAGMA query_only = ON").db()?;
    }
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

/// The schema version recorded in the database file.
pub fn version(conn: &Connection) -> Result<u32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0)).db()
}

/// Apply every migration the database has not seen yet. Refuses a database newer than this binary.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let current = version(conn)?;
    if current > SCHEMA_VERSION {
        return Err(Error::Unavailable(format!(
            "database schema version {current} is newer than this binary's {SCHEMA_VERSION}"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction().db()?;
        tx.execute_batch(sql)
            .map_err(|e| Error::Unavailable(format!("migration {} failed: {e}", i + 1)))?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
            .db()?;
        tx.commit().db()?;
        tracing::info!(version = i + 1, "applied sqlite migration");
    }
    Ok(())
}
