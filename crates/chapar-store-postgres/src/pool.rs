//! A small connection pool with a circuit breaker.
//!
//! Connections are made on demand up to `max` and kept idle for reuse. A connection whose
//! socket closed (PostgreSQL restarted, network cut) is noticed by its driver task and discarded
//! when next taken. When connecting fails, the pool refuses further attempts for a short,
//! growing pause (250 ms doubling to 2 s): while PostgreSQL is down, requests fail at once with
//! `Unavailable` instead of each waiting for a connect timeout, and the first request after the
//! pause probes again, so the service recovers by itself.

use chapar_core::{Error, Result};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::{Client, NoTls, Statement};

const BREAKER_MIN: Duration = Duration::from_millis(250);
const BREAKER_MAX: Duration = Duration::from_secs(2);
/// Asked of every connection (see [`Pool::connect`]).
const DEADLOCK_TIMEOUT: &str = "SET deadlock_timeout = '50ms'";

/// One connection and its prepared statements (prepared once per connection, by SQL text).
pub(crate) struct Conn {
    pub client: Client,
    stmts: Mutex<HashMap<&'static str, Statement>>,
}

impl Conn {
    /// The prepared statement for `sql`, preparing it on first use.
    pub async fn stmt(&self, sql: &'static str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(s) = self.lock().get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).await?;
        self.lock().insert(sql, s.clone());
        Ok(s)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, Statement>> {
        self.stmts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Default)]
struct Breaker {
    /// No new connection is tried before this instant.
    closed_until: Option<Instant>,
    /// The pause after the next failure.
    pause: Duration,
}

pub(crate) struct Pool {
    config: tokio_postgres::Config,
    idle: Mutex<Vec<Conn>>,
    slots: Semaphore,
    breaker: Mutex<Breaker>,
    /// How long a caller waits for a free connection before `Unavailable`.
    acquire_timeout: Duration,
}

/// A connection taken from the pool. It goes back only when marked clean (no transaction left
/// open); otherwise dropping it closes the socket and PostgreSQL rolls back whatever was open.
pub(crate) struct Lease<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
    clean: AtomicBool,
    _slot: SemaphorePermit<'a>,
}

impl Lease<'_> {
    pub fn conn(&self) -> &Conn {
        // Present from creation until drop.
        self.conn.as_ref().expect("lease holds a connection")
    }

    /// The connection is idle (no open transaction) and may be reused.
    pub fn set_clean(&self, clean: bool) {
        self.clean.store(clean, Ordering::Relaxed);
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && self.clean.load(Ordering::Relaxed)
            && !conn.client.is_closed()
        {
            self.pool.lock_idle().push(conn);
        }
    }
}

impl Pool {
    pub fn new(config: tokio_postgres::Config, max: usize, acquire_timeout: Duration) -> Pool {
        Pool {
            config,
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(max.max(1)),
            breaker: Mutex::new(Breaker {
                closed_until: None,
                pause: BREAKER_MIN,
            }),
            acquire_timeout,
        }
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Conn>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_breaker(&self) -> std::sync::MutexGuard<'_, Breaker> {
        self.breaker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection: an idle one if there is a live one, else a new one.
    pub async fn get(&self) -> Result<Lease<'_>> {
        let slot = tokio::time::timeout(self.acquire_timeout, self.slots.acquire())
            .await
            .map_err(|_| Error::Unavailable("no database connection became free in time".into()))?
            .map_err(|_| Error::Unavailable("the store is closed".into()))?;
        loop {
            let Some(conn) = self.lock_idle().pop() else {
                break;
            };
            if !conn.client.is_closed() {
                return Ok(Lease {
                    pool: self,
                    conn: Some(conn),
                    clean: AtomicBool::new(false),
                    _slot: slot,
                });
            }
        }
        let conn = self.connect().await?;
        Ok(Lease {
            pool: self,
            conn: Some(conn),
            clean: AtomicBool::new(false),
            _slot: slot,
        })
    }

    /// Open a new connection, unless the breaker says PostgreSQL was just unreachable.
    pub async fn connect(&self) -> Result<Conn> {
        if let Some(until) = self.lock_breaker().closed_until
            && Instant::now() < until
        {
            return Err(Error::Unavailable(
                "the database is unreachable; retrying shortly".into(),
            ));
        }
        match self.config.connect(NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "postgres connection ended");
                    }
                });
                // Batches of different nodes can deadlock on row locks; PostgreSQL finds a
                // deadlock only after `deadlock_timeout` (1 s by default), and the batch is
                // then run again. Ask for a short one; a role not allowed to set it keeps the
                // server's (operators: `GRANT SET ON PARAMETER deadlock_timeout TO ...`).
                if let Err(e) = client.batch_execute(DEADLOCK_TIMEOUT).await {
                    tracing::debug!(error = %e, "deadlock_timeout not set");
                }
                let mut b = self.lock_breaker();
                if b.closed_until.take().is_some() {
                    tracing::info!("postgres reachable again");
                }
                b.pause = BREAKER_MIN;
                Ok(Conn {
                    client,
                    stmts: Mutex::new(HashMap::new()),
                })
            }
            Err(e) => {
                let mut b = self.lock_breaker();
                let pause = b.pause;
                b.closed_until = Some(Instant::now() + pause);
                b.pause = (pause * 2).min(BREAKER_MAX);
                tracing::warn!(error = %e, ?pause, "cannot connect to postgres");
                Err(Error::Unavailable(format!(
                    "cannot connect to the database: {e}"
                )))
            }
        }
    }

    /// Close every idle connection (the store is dropped).
    pub fn close(&self) {
        self.slots.close();
        self.lock_idle().clear();
    }
}
