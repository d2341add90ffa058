//! The batch writers: a bounded queue, a few tasks, one transaction per batch.
//!
//! Like the SQLite writer, a task takes one write, then up to `max_batch - 1` more that are
//! already waiting, and runs them all in ONE transaction on one connection, each inside its own
//! savepoint, so a failing write rolls back only itself and does not fail the others. One COMMIT
//! then covers the batch, and only after it succeeds is any write answered: acknowledged means
//! committed. Round trips are few: `BEGIN` and the first savepoint travel with the first write's
//! first statement, each `RELEASE`/`SAVEPOINT` pair with the next write's (the connection
//! answers in order), so a message costs its own two statements plus one `COMMIT` per batch.
//!
//! A batch that meets a serialization failure, a deadlock or a unique race with another node's
//! transaction is rolled back and run again whole (with a short random pause), invisibly to
//! its callers. A batch whose connection breaks, or whose COMMIT gets no answer, fails every one
//! of its writes with `Unavailable` (safe to retry with the same client_id: a retry of a write
//! that did commit gets its first outcome).
//!
//! Several writers (`writers`, each with its own connection and queue) run batches at once,
//! since one connection spends most of its time waiting for answers. A write goes to the writer
//! of its conversation (`Write::affinity`), so batches of different writers rarely touch the same
//! conversation; where they touch the same users' rows, their locks are taken in one order
//! (below), so they wait for each other instead of deadlocking. A batch takes a
//! [`Ticket`] just before its COMMIT and announces its commits when the ticket's turn comes: this
//! node's commits reach the commit listener in commit order (a batch that bumped a user's pts
//! after another could only do so once that one's COMMIT had reached PostgreSQL), after COMMIT,
//! before their callers hear.

use crate::db::{Ctx, Failure};
use crate::pool::Pool;
use crate::sequencer::{Sequencer, Ticket};
use crate::tx::PgTx;
use chapar_core::columns::Clock;
use chapar_core::domain::{self, Write, Written};
use chapar_core::stats::StoreStats;
use chapar_core::store::CommitListener;
use chapar_core::{Error, Limits, Result};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How long a caller refused by a full queue is told to wait.
const RETRY_AFTER_MS: u64 = 100;

/// PostgreSQL keeps the ids of at most 64 subtransactions per transaction in shared memory;
/// beyond that every snapshot taken elsewhere pays to look them up. A batch stays below it.
pub const MAX_BATCH: usize = 64;

struct Job {
    op: Write,
    reply: oneshot::Sender<Result<Written>>,
}

/// What the writer task shares with the store.
pub(crate) struct Shared {
    pub pool: Pool,
    pub limits: Arc<Limits>,
    pub listener: OnceLock<CommitListener>,
    pub stats: Arc<StoreStats>,
    pub op_timeout: Duration,
    pub retries: u32,
    /// Server time of this node's writes.
    clock: Clock,
    /// Commit-order announcements across this node's writers.
    sequencer: Sequencer,
}

impl Shared {
    pub fn new(pool: Pool, limits: Arc<Limits>, op_timeout: Duration, retries: u32) -> Self {
        Shared {
            pool,
            limits,
            listener: OnceLock::new(),
            stats: Arc::new(StoreStats::default()),
            op_timeout,
            retries,
            clock: Clock::default(),
            sequencer: Sequencer::default(),
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}

/// Handle to the writer tasks. Dropping it lets them finish what is queued and stop.
pub(crate) struct Writer {
    /// One queue per writer: a conversation's writes always go to the same one.
    lanes: Vec<mpsc::Sender<Job>>,
    next: AtomicUsize,
    stats: Arc<StoreStats>,
}

impl Writer {
    pub fn start(
        shared: Arc<Shared>,
        queue_len: usize,
        max_batch: usize,
        writers: usize,
    ) -> Writer {
        let writers = writers.max(1);
        let stats = Arc::clone(&shared.stats);
        let mut lanes = Vec::with_capacity(writers);
        for _ in 0..writers {
            let (tx, rx) = mpsc::channel((queue_len / writers).max(1));
            tokio::spawn(writer_loop(
                Arc::clone(&shared),
                rx,
                max_batch.clamp(1, MAX_BATCH),
            ));
            lanes.push(tx);
        }
        Writer {
            lanes,
            next: AtomicUsize::new(0),
            stats,
        }
    }

    /// Queue `op` and wait until the batch holding it is committed.
    pub async fn call(&self, op: Write) -> Result<Written> {
        let (reply, answer) = oneshot::channel();
        // Counted before sending so the writer's decrement can never come first.
        self.stats.queue_depth.fetch_add(1, Ordering::Relaxed);
        // A conversation's writes queue behind each other on one writer, instead of making
        // every writer's batch wait for the others' row locks.
        let n = match op.affinity() {
            Some(key) => key as usize,
            // Writes outside conversations (sign-ups, sessions, bots) spread over all writers.
            None => self.next.fetch_add(1, Ordering::Relaxed),
        };
        let lane = &self.lanes[n % self.lanes.len()];
        if let Err(e) = lane.try_send(Job { op, reply }) {
            self.stats.queue_depth.fetch_sub(1, Ordering::Relaxed);
            return Err(match e {
                mpsc::error::TrySendError::Full(_) => {
                    self.stats.refused.fetch_add(1, Ordering::Relaxed);
                    Error::Overloaded {
                        reason: "too many writes waiting for the database".into(),
                        retry_after_ms: RETRY_AFTER_MS,
                    }
                }
                mpsc::error::TrySendError::Closed(_) => {
                    Error::Unavailable("the writer has stopped".into())
                }
            });
        }
        answer
            .await
            .map_err(|_| Error::Unavailable("the writer stopped before answering".into()))?
    }
}

async fn writer_loop(shared: Arc<Shared>, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    loop {
        let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
        let Some(first) = rx.recv().await else { return };
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        shared
            .stats
            .queue_depth
            .fetch_sub(batch.len() as u64, Ordering::Relaxed);
        let (ops, replies): (Vec<Write>, Vec<_>) = batch.drain(..).map(|j| (j.op, j.reply)).unzip();
        let started = Instant::now();
        let outcomes = run_with_retries(&shared, &ops).await;
        shared
            .stats
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        shared.stats.batch_size.observe(ops.len() as f64);
        match outcomes {
            Ok((outcomes, ticket)) => {
                let outcomes = Arc::new(outcomes);
                if let Some(listener) = shared.listener.get().cloned() {
                    let announced = Arc::clone(&outcomes);
                    ticket
                        .announce(move || {
                            for outcome in announced.iter() {
                                if let Ok(Written::Committed(c)) = outcome {
                                    listener(c);
                                }
                            }
                        })
                        .await;
                } else {
                    drop(ticket);
                }
                let outcomes = Arc::try_unwrap(outcomes).unwrap_or_else(|o| (*o).clone());
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                shared.stats.batch_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, writes = ops.len(), "postgres batch failed");
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// How a batch attempt ended when it did not commit.
enum Abort {
    /// Conflict with another transaction: run the batch again.
    Retry(Error),
    /// Nothing of the batch committed (or the outcome is unknown): every write fails.
    Fail(Error),
}

/// A committed batch's outcomes and its place in the announcement order.
type Done<'a> = (Vec<Result<Written>>, Ticket<'a>);

async fn run_with_retries<'a>(shared: &'a Shared, ops: &[Write]) -> Result<Done<'a>> {
    let mut attempt = 0u32;
    loop {
        let once = run_batch(shared, ops);
        let outcome = tokio::time::timeout(shared.op_timeout, once)
            .await
            .unwrap_or_else(|_| {
                Err(Abort::Fail(Error::Unavailable(
                    "the database did not answer in time".into(),
                )))
            });
        match outcome {
            Ok(outcomes) => return Ok(outcomes),
            Err(Abort::Fail(e)) => return Err(e),
            Err(Abort::Retry(e)) => {
                shared.stats.batch_retries.fetch_add(1, Ordering::Relaxed);
                attempt += 1;
                if attempt > shared.retries {
                    return Err(e);
                }
                tracing::debug!(attempt, error = %e, "retrying a batch");
                let cap = 2u64 << attempt.min(6);
                let pause = rand::Rng::gen_range(&mut rand::thread_rng(), 0..=cap);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        }
    }
}

/// One attempt: every write in its savepoint, then COMMIT.
async fn run_batch<'a>(shared: &'a Shared, ops: &[Write]) -> std::result::Result<Done<'a>, Abort> {
    let lease = shared.pool.get().await.map_err(Abort::Fail)?;
    let conn = lease.conn();
    let mut outcomes = Vec::with_capacity(ops.len());
    let mut convs: Vec<i64> = ops
        .iter()
        .filter_map(|op| op.conversation())
        .map(|c| c.0)
        .collect();
    convs.sort_unstable();
    convs.dedup();
    // Sent ahead of each write's first statement.
    let mut prefix = "SAVEPOINT w";
    for (i, op) in ops.iter().enumerate() {
        let ctx = Ctx::new(conn, shared.now(), &shared.limits);
        let mut tx = PgTx::new(&ctx);
        let write = async { tokio::join!(ctx.simple(prefix), domain::write(&mut tx, op.clone())) };
        let (sent, outcome) = if i == 0 {
            // BEGIN, then the batch's locks in one order, then the first write: sent together.
            let (begun, locked, (sent, outcome)) =
                tokio::join!(ctx.simple("BEGIN"), lock_in_order(&ctx, &convs), write);
            (begun.and(locked).and(sent), outcome)
        } else {
            write.await
        };
        if let Err(e) = sent {
            // The write ran after a failed BEGIN or savepoint step: nothing here can commit.
            return Err(abort(ctx.failure(), e));
        }
        match outcome {
            Ok(written) => {
                outcomes.push(Ok(written));
                prefix = "RELEASE SAVEPOINT w; SAVEPOINT w";
            }
            Err(e) => match ctx.failure() {
                Failure::Retry | Failure::Broken => {
                    let failure = ctx.failure();
                    rollback(&ctx, &lease, failure).await;
                    return Err(abort(failure, e));
                }
                // A rule said no, or a statement failed: this write alone is undone.
                Failure::None | Failure::Other => {
                    outcomes.push(Err(e));
                    prefix = "ROLLBACK TO SAVEPOINT w";
                }
            },
        }
    }
    let ctx = Ctx::new(conn, shared.now(), &shared.limits);
    let commit = match prefix {
        "ROLLBACK TO SAVEPOINT w" => "ROLLBACK TO SAVEPOINT w; COMMIT",
        _ => "COMMIT",
    };
    // Taken before COMMIT is sent: tickets follow the order COMMITs reach PostgreSQL.
    let ticket = shared.sequencer.ticket();
    // A failed COMMIT leaves the outcome unknown: the connection is dropped, every caller gets
    // `Unavailable`, and a retry with the same client_id is answered with the first result if
    // the commit did happen. (The dropped ticket lets later batches announce.)
    if let Err(e) = ctx.simple(commit).await {
        return Err(abort(ctx.failure(), e));
    }
    lease.set_clean(true);
    Ok((outcomes, ticket))
}

/// Lock the conversations the batch names, in id order, then their members' user rows, in id
/// order: every batch of every node takes these locks in one order, so batches that write the
/// same groups wait for each other instead of deadlocking. (A write whose conversation is not
/// known up front, like a first direct message, still locks as it goes; a deadlock it meets is
/// retried.)
async fn lock_in_order(ctx: &Ctx<'_>, convs: &[i64]) -> Result<()> {
    if convs.is_empty() {
        return Ok(());
    }
    ctx.query(
        "WITH c AS (
             SELECT id FROM conversations WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE
         )
         SELECT u.id FROM users u
         WHERE u.id IN (SELECT m.user_id FROM members m WHERE m.conversation_id IN (SELECT id FROM c))
         ORDER BY u.id FOR NO KEY UPDATE OF u",
        &[&convs],
    )
    .await?;
    Ok(())
}

fn abort(failure: Failure, e: Error) -> Abort {
    match failure {
        Failure::Retry => Abort::Retry(e),
        _ => Abort::Fail(e),
    }
}

/// End a failed batch's transaction so the connection can be reused, when it still works.
async fn rollback(ctx: &Ctx<'_>, lease: &crate::pool::Lease<'_>, failure: Failure) {
    if failure != Failure::Broken && ctx.simple("ROLLBACK").await.is_ok() {
        lease.set_clean(true);
    }
}
