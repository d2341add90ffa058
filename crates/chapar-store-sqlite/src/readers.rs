//! The read pool: a few read-only connections, each on its own thread.
//!
//! In WAL mode readers run concurrently with the writer and see the last committed state, so
//! reads never wait for a batch. Blocking SQLite calls stay off the async runtime: a read is a
//! job sent over a bounded queue to the pool's threads; when the queue is full the caller gets
//! `Error::Overloaded` at once. Each read runs inside one read transaction, so a multi-statement
//! read sees one consistent snapshot.

use chapar_core::{Error, Result};
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// Reads waiting per reader thread before callers are refused.
const QUEUE_PER_READER: usize = 256;
const RETRY_AFTER_MS: u64 = 50;

type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

pub struct Readers {
    queue: Option<SyncSender<ReadJob>>,
    threads: Vec<JoinHandle<()>>,
}

impl Readers {
    /// Start one thread per connection.
    pub fn start(conns: Vec<Connection>) -> Result<Readers> {
        let (tx, rx) = sync_channel::<ReadJob>(QUEUE_PER_READER * conns.len().max(1));
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::with_capacity(conns.len());
        for (i, conn) in conns.into_iter().enumerate() {
            let rx = Arc::clone(&rx);
            let thread = std::thread::Builder::new()
                .name(format!("chapar-sqlite-reader-{i}"))
                .spawn(move || reader_loop(conn, &rx))
                .map_err(|e| Error::Unavailable(format!("cannot start a reader thread: {e}")))?;
            threads.push(thread);
        }
        Ok(Readers {
            queue: Some(tx),
            threads,
        })
    }

    /// Run `read` on a pooled connection inside one read transaction, with the wall clock's
    /// Unix milliseconds.
    pub async fn call<T, F>(&self, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, i64) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn: &Connection| {
            let result = match conn.unchecked_transaction() {
                // Dropping the transaction ends it; a read has nothing to commit.
                Ok(tx) => read(&tx, chapar_core::columns::wall_ms()),
                Err(e) => Err(Error::Unavailable(format!("database read failed: {e}"))),
            };
            let _ = reply.send(result);
        });
        let queue = self
            .queue
            .as_ref()
            .ok_or_else(|| Error::Unavailable("the store is closed".into()))?;
        match queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(Error::Overloaded {
                    reason: "the read queue is full".into(),
                    retry_after_ms: RETRY_AFTER_MS,
                });
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(Error::Unavailable("the readers have stopped".into()));
            }
        }
        answer
            .await
            .map_err(|_| Error::Unavailable("the read failed".into()))?
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        self.queue.take();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn reader_loop(conn: Connection, rx: &Mutex<Receiver<ReadJob>>) {
    loop {
        let job = {
            let Ok(rx) = rx.lock() else { return };
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        // A panicking read drops its reply sender (the caller gets Unavailable); the thread lives.
        if catch_unwind(AssertUnwindSafe(|| job(&conn))).is_err() {
            tracing::error!("a sqlite read panicked");
        }
    }
}
