//! The domain of chapar, without I/O.
//!
//! * [`rules`]: who may do what (roles, membership) and what valid input looks like. Stores call
//!   these inside their transactions, so every read and write is checked in one place.
//! * [`store`]: the `Store` trait every backend implements (SQLite now, PostgreSQL later), with
//!   the commands it executes atomically and the fan-out each commit produces.
//! * [`bots`]: bots and service accounts: their state, their store actions, and the rules
//!   (keyboards, entities, privacy mode, who may open a direct conversation).
//! * [`bus`]: the `Bus` trait that tells nodes what happened, and the in-process bus.
//! * [`error`]: the domain error, which maps one-to-one onto protocol error codes.
//! * [`limits`]: configurable limits shared by the rules, the gateway and the stores.
//! * [`paging`]: byte budgets for history and sync pages.
//! * [`stats`]: write-path counters a store exposes for metrics.
//! * `conformance` (feature `conformance`): the behaviour suite every `Store` backend must pass.

pub mod bots;
pub mod bus;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod error;
pub mod limits;
pub mod paging;
pub mod rules;
pub mod stats;
pub mod store;

pub use error::{Error, Result};
pub use limits::Limits;
