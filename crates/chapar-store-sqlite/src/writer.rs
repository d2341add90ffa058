//! The single writer: a bounded queue, one thread, group commit.
//!
//! SQLite allows one writer at a time, so instead of letting connections contend for the lock,
//! every write is a job sent to one thread over a bounded queue. When the queue is full the
//! caller gets `Error::Overloaded` at once (invariant 4: no unbounded queue, no waiting forever).
//!
//! The thread takes one job, then up to `max_batch` more that are already waiting, and runs them
//! all in ONE transaction, each inside its own SAVEPOINT so a failing job rolls back only itself.
//! One COMMIT (one fsync) then covers the whole batch, and only after it succeeds is any job
//! answered: acknowledged means committed. If the COMMIT fails, every job in the batch gets
//! `Error::Unavailable` (nothing of the batch was written, so retrying is safe). After each
//! commit the thread nudges the [`Checkpointer`], which copies the WAL into the database file on
//! its own thread.

use crate::Db;
use crate::checkpointer::{Checkpointer, Nudger};
use chapar_core::columns::Clock;
use chapar_core::stats::StoreStats;
use chapar_core::{Error, Limits, Result};
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Instant;
use tokio::sync::oneshot;

/// How long a caller refused by a full queue is told to wait.
const RETRY_AFTER_MS: u64 = 100;

/// What a write job sees: the writer's connection (inside the batch transaction and the job's
/// savepoint), the server time of this job, and the limits.
pub struct Ctx<'a> {
    pub conn: &'a Connection,
    pub now: i64,
    pub limits: &'a Limits,
}

/// A queued write. `run` executes it and keeps the outcome; `answer` delivers it after COMMIT.
trait Job: Send {
    /// Run the job; true if it succeeded (its savepoint is released, else rolled back).
    fn run(&mut self, ctx: &Ctx<'_>) -> bool;
    /// Deliver the outcome, or `failed` when the batch could not be committed.
    fn answer(self: Box<Self>, failed: Option<Error>);
}

/// Runs in the writer thread after COMMIT, before the caller is answered (commit order).
pub type Announce<T> = Box<dyn FnOnce(&T) + Send>;

struct Typed<T, F> {
    work: Option<F>,
    outcome: Option<Result<T>>,
    announce: Option<Announce<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Job for Typed<T, F>
where
    T: Send,
    F: FnOnce(&Ctx<'_>) -> Result<T> + Send,
{
    fn run(&mut self, ctx: &Ctx<'_>) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let outcome = work(ctx);
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn answer(self: Box<Self>, failed: Option<Error>) {
        let result = match failed {
            Some(e) => Err(e),
            None => self
                .outcome
                .unwrap_or_else(|| Err(Error::Unavailable("the write failed".into()))),
        };
        if let (Ok(value), Some(announce)) = (&result, self.announce) {
            announce(value);
        }
        // The caller may have gone away; the outcome is committed either way.
        let _ = self.reply.send(result);
    }
}

/// Handle to the writer thread. Dropping it lets the thread finish queued jobs and stop.
pub struct Writer {
    queue: Option<SyncSender<Box<dyn Job>>>,
    stats: Arc<StoreStats>,
    thread: Option<JoinHandle<()>>,
    /// Dropped after the writer thread has stopped (fields drop after `Drop::drop`).
    _checkpointer: Checkpointer,
}

impl Writer {
    /// Start the writer thread on `conn` (already migrated), with automatic checkpoints moved
    /// to a [`Checkpointer`] on `checkpoint_conn`.
    pub fn start(
        conn: Connection,
        checkpoint_conn: Connection,
        queue_len: usize,
        max_batch: usize,
        limits: Arc<Limits>,
        stats: Arc<StoreStats>,
    ) -> Result<Writer> {
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0").db()?;
        let (checkpointer, nudger) = Checkpointer::start(checkpoint_conn)?;
        let (tx, rx) = sync_channel::<Box<dyn Job>>(queue_len.max(1));
        let thread_stats = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name("chapar-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, max_batch.max(1), &limits, &thread_stats, &nudger))
            .map_err(|e| Error::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer {
            queue: Some(tx),
            stats,
            thread: Some(thread),
            _checkpointer: checkpointer,
        })
    }

    /// Queue `work` and wait until the batch holding it is committed; once committed,
    /// `announce` sees the outcome in commit order.
    pub async fn call_announced<T, F>(&self, work: F, announce: Option<Announce<T>>) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Ctx<'_>) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Typed {
            work: Some(work),
            outcome: None,
            announce,
            reply,
        });
        let queue = self
            .queue
            .as_ref()
            .ok_or_else(|| Error::Unavailable("the store is closed".into()))?;
        // Counted before sending so the writer's decrement can never come first.
        self.stats.queue_depth.fetch_add(1, Ordering::Relaxed);
        match queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.stats.queue_depth.fetch_sub(1, Ordering::Relaxed);
                self.stats.refused.fetch_add(1, Ordering::Relaxed);
                return Err(Error::Overloaded {
                    reason: "the write queue is full".into(),
                    retry_after_ms: RETRY_AFTER_MS,
                });
            }
            Err(TrySendError::Disconnected(_)) => {
                self.stats.queue_depth.fetch_sub(1, Ordering::Relaxed);
                return Err(Error::Unavailable("the writer has stopped".into()));
            }
        }
        answer
            .await
            .map_err(|_| Error::Unavailable("the writer stopped before answering".into()))?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the queue ends the thread once it has run what is already queued.
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn writer_loop(
    conn: Connection,
    rx: Receiver<Box<dyn Job>>,
    max_batch: usize,
    limits: &Limits,
    stats: &StoreStats,
    checkpoint: &Nudger,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch + 1);
    let clock = Clock::default();
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() <= max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        stats
            .queue_depth
            .fetch_sub(batch.len() as u64, Ordering::Relaxed);
        let started = Instant::now();
        let failed = run_batch(&conn, &mut batch, limits, &clock).err();
        stats
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        stats.batch_size.observe(batch.len() as f64);
        match &failed {
            Some(e) => {
                stats.batch_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, jobs = batch.len(), "sqlite batch failed");
            }
            None => checkpoint.nudge(),
        }
        for job in batch.drain(..) {
            job.answer(failed.clone());
        }
    }
}

fn exec(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql).db()?.execute([]).db()?;
    Ok(())
}

/// Run a batch in one transaction; Err means nothing of it was committed.
fn run_batch(
    conn: &Connection,
    batch: &mut [Box<dyn Job>],
    limits: &Limits,
    clock: &Clock,
) -> Result<()> {
    exec(conn, "BEGIN IMMEDIATE")?;
    let result = run_jobs(conn, batch, limits, clock).and_then(|()| exec(conn, "COMMIT"));
    if result.is_err() && !conn.is_autocommit() {
        let _ = exec(conn, "ROLLBACK");
    }
    result
}

fn run_jobs(
    conn: &Connection,
    batch: &mut [Box<dyn Job>],
    limits: &Limits,
    clock: &Clock,
) -> Result<()> {
    for job in batch.iter_mut() {
        exec(conn, "SAVEPOINT job")?;
        let ctx = Ctx {
            conn,
            now: clock.now(),
            limits,
        };
        let ok = catch_unwind(AssertUnwindSafe(|| job.run(&ctx))).unwrap_or_else(|_| {
            tracing::error!("a sqlite write job panicked; rolled back");
            false
        });
        if conn.is_autocommit() {
            // SQLite itself rolled the transaction back (I/O error, disk full, ...).
            return Err(Error::Unavailable(
                "the database aborted the transaction".into(),
            ));
        }
        if !ok {
            exec(conn, "ROLLBACK TO job")?;
        }
        exec(conn, "RELEASE job")?;
    }
    Ok(())
}
