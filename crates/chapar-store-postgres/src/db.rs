//! What a store operation sees: one connection (inside a transaction for writes and snapshot
//! reads), the server time, the limits, and helpers that run cached prepared statements and turn
//! database failures into domain errors while remembering whether a retry may succeed.

use crate::pool::Conn;
use chapar_core::{Error, Limits, Result};
use std::sync::atomic::{AtomicU8, Ordering};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::{Row, Statement};

pub(crate) type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// How the last database failure of an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Failure {
    None = 0,
    /// Serialization failure, deadlock or a unique race: running the transaction again may work.
    Retry = 1,
    /// The connection is unusable (closed, I/O error): never reuse it.
    Broken = 2,
    /// Any other database error (the transaction is aborted; the connection is fine).
    Other = 3,
}

pub(crate) struct Ctx<'a> {
    conn: &'a Conn,
    /// Server time of this operation (Unix ms, this node's clock).
    pub now: i64,
    pub limits: &'a Limits,
    failure: AtomicU8,
}

impl<'a> Ctx<'a> {
    pub fn new(conn: &'a Conn, now: i64, limits: &'a Limits) -> Ctx<'a> {
        Ctx {
            conn,
            now,
            limits,
            failure: AtomicU8::new(Failure::None as u8),
        }
    }

    pub fn failure(&self) -> Failure {
        match self.failure.load(Ordering::Relaxed) {
            1 => Failure::Retry,
            2 => Failure::Broken,
            3 => Failure::Other,
            _ => Failure::None,
        }
    }

    /// Map a driver error to the domain and remember what kind of failure it was.
    pub fn fail(&self, e: tokio_postgres::Error) -> Error {
        let (kind, err) = classify(&e);
        self.failure.store(kind as u8, Ordering::Relaxed);
        err
    }

    async fn stmt(&self, sql: &'static str) -> Result<Statement> {
        self.conn.stmt(sql).await.map_err(|e| self.fail(e))
    }

    pub async fn query(&self, sql: &'static str, params: Params<'_>) -> Result<Vec<Row>> {
        let st = self.stmt(sql).await?;
        self.conn
            .client
            .query(&st, params)
            .await
            .map_err(|e| self.fail(e))
    }

    pub async fn opt(&self, sql: &'static str, params: Params<'_>) -> Result<Option<Row>> {
        let st = self.stmt(sql).await?;
        self.conn
            .client
            .query_opt(&st, params)
            .await
            .map_err(|e| self.fail(e))
    }

    pub async fn one(&self, sql: &'static str, params: Params<'_>) -> Result<Row> {
        self.opt(sql, params)
            .await?
            .ok_or_else(|| Error::Unavailable("the database returned no row".into()))
    }

    pub async fn exec(&self, sql: &'static str, params: Params<'_>) -> Result<u64> {
        let st = self.stmt(sql).await?;
        self.conn
            .client
            .execute(&st, params)
            .await
            .map_err(|e| self.fail(e))
    }

    /// A statement without parameters or results (BEGIN, COMMIT, ...).
    pub async fn simple(&self, sql: &str) -> Result<()> {
        self.conn
            .client
            .batch_execute(sql)
            .await
            .map_err(|e| self.fail(e))
    }
}

/// What a driver error means for the caller and for the connection.
pub(crate) fn classify(e: &tokio_postgres::Error) -> (Failure, Error) {
    match e.code() {
        Some(code)
            if *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::UNIQUE_VIOLATION =>
        {
            (
                Failure::Retry,
                Error::Unavailable(format!("database conflict, retry: {e}")),
            )
        }
        Some(code) if *code == SqlState::QUERY_CANCELED => (
            Failure::Other,
            Error::Unavailable("the database did not answer in time".into()),
        ),
        Some(code)
            if code.code().starts_with("08")
                || code.code().starts_with("57P")
                || code.code().starts_with("53") =>
        {
            // Connection exceptions, admin shutdown, insufficient resources.
            (
                Failure::Broken,
                Error::Unavailable(format!("database unavailable: {e}")),
            )
        }
        Some(_) => (
            Failure::Other,
            Error::Unavailable(format!("database error: {e}")),
        ),
        None => (
            Failure::Broken,
            Error::Unavailable(format!("database connection failed: {e}")),
        ),
    }
}

/// Read column `i`, as a typed error (never a panic) when the row is not what was expected.
pub(crate) fn col<'r, T: FromSql<'r>>(row: &'r Row, i: usize) -> Result<T> {
    row.try_get(i)
        .map_err(|e| Error::Unavailable(format!("unexpected database row: {e}")))
}

pub(crate) use chapar_core::columns::{num, sql};
