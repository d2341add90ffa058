//! The domain of chapar, without I/O.
//!
//! * [`rules`]: who may do what (roles, membership) and what valid input looks like, as pure
//!   functions.
//! * [`domain`]: every command's flow, written once against the storage interface and run by
//!   every store inside its transactions, so every read and write is checked in one place;
//!   [`domain::DomainStore`] makes a backend into a `Store`.
//! * [`storage`]: the storage interface ([`storage::Tx`], one transaction) and the
//!   [`storage::Backend`] a store implements.
//! * [`store`]: the `Store` trait the server uses, with the commands it executes atomically and
//!   the fan-out each commit produces.
//! * [`memory`]: an in-memory store for fast tests and simulation.
//! * [`columns`]: how values are stored (the same in every store) and the server clock.
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
pub mod columns;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod domain;
pub mod error;
pub mod limits;
pub mod memory;
pub mod paging;
pub mod rules;
pub mod search;
#[cfg(test)]
mod simulation;
pub mod stats;
pub mod storage;
pub mod store;

pub use error::{Error, Result};
pub use limits::Limits;
