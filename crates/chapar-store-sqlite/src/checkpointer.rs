//! WAL checkpoints beside the writer, not inside it.
//!
//! By default SQLite checkpoints from whichever connection commits past 1,000 WAL pages: here
//! that would be the writer thread, so every few hundred batches one of them would also copy the
//! WAL into the database file and fsync it while every queued write waits (perf: ~8% of the
//! writer's time under the direct benchmark). Instead the writer's connection has automatic
//! checkpoints off and nudges this thread after each commit; this thread runs a PASSIVE
//! checkpoint (never blocks the writer or readers) at most every [`PACE`]. SQLite restarts the
//! WAL from its beginning at the next write once a checkpoint has copied all of it, so the WAL
//! stays as small as with automatic checkpoints as long as this thread keeps up.

use crate::Db;
use chapar_core::{Error, Result};
use rusqlite::Connection;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Shortest time between two checkpoints.
const PACE: Duration = Duration::from_millis(100);

/// The checkpoint thread. Dropped after the writer (and with it the [`Nudger`]) is gone, it
/// waits for the thread's last checkpoint.
pub struct Checkpointer {
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Start the thread on its own read-write connection to the database. The thread runs until
    /// the returned nudger, the writer's end, is dropped.
    pub fn start(conn: Connection) -> Result<(Checkpointer, Nudger)> {
        // One pending nudge is enough: it means "there is something new to copy".
        let (tx, rx) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("chapar-sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(&conn, &rx))
            .map_err(|e| Error::Unavailable(format!("cannot start the checkpoint thread: {e}")))?;
        let checkpointer = Checkpointer {
            thread: Some(thread),
        };
        Ok((checkpointer, Nudger(tx)))
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The writer's end: tells the checkpoint thread that the WAL has grown. Never blocks: a full
/// channel means a nudge is already pending, a closed one that the store is closing.
pub struct Nudger(SyncSender<()>);

impl Nudger {
    pub fn nudge(&self) {
        let _ = self.0.try_send(());
    }
}

fn checkpoint_loop(conn: &Connection, rx: &Receiver<()>) {
    let mut last: Option<Instant> = None;
    // Ends when the writer's nudger is dropped.
    while rx.recv().is_ok() {
        if let Some(wait) = last.map(|t| PACE.saturating_sub(t.elapsed()))
            && !wait.is_zero()
        {
            std::thread::sleep(wait);
        }
        last = Some(Instant::now());
        if let Err(e) = checkpoint(conn) {
            tracing::warn!(error = %e, "sqlite checkpoint failed; will retry");
        }
    }
    let _ = checkpoint(conn);
}

/// Copy what the WAL holds into the database file, without waiting for anyone.
fn checkpoint(conn: &Connection) -> Result<()> {
    let (busy, log, done): (i64, i64, i64) = conn
        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .db()?;
    tracing::trace!(busy, log, done, "sqlite checkpoint");
    Ok(())
}
