//! The chapar client SDK: connect, sign in with the device key, reconnect with exponential
//! backoff and full jitter, resync from the feed cursor (pts), send with idempotent retries, and
//! a stream of events in which every feed event appears exactly once, in order.
//!
//! * [`client`]: the [`Client`] handle, requests and typed helpers (`safety`: blocking,
//!   privacy, invitations, reports, moderation).
//! * [`config`]: [`ClientConfig`], [`Credentials`], [`Auth`].
//! * [`event`]: [`ClientEvent`], what the application receives.
//! * [`recovery`]: [`RecoveryKey`] and its written-down code.
//! * [`error`]: [`SdkError`], which says whether retrying helps.
//! * [`backoff`]: the backoff math (pure).
//! * [`tracker`]: the pts cursor and gap logic (pure).
//! * `conn` / `driver`: one connection's I/O, and the background task that owns it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), chapar_sdk::SdkError> {
//! use chapar_sdk::*;
//! let creds = Credentials::generate();
//! let auth = Auth::Register { handle: "ana".into(), display_name: None, invite_code: None };
//! let (client, mut events) =
//!     Client::connect(vec!["http://127.0.0.1:8080".into()], ClientConfig::default(), creds, auth, 0).await?;
//! client.send_text(Target::Peer("bob".into()), "salam", None).await?;
//! while let Some(ev) = events.recv().await {
//!     println!("{ev:?}");
//! }
//! # Ok(()) }
//! ```

mod account;
pub mod backoff;
pub mod client;
pub mod config;
mod conn;
mod driver;
pub mod error;
pub mod event;
pub mod recovery;
mod safety;
pub mod tracker;

pub use backoff::Backoff;
pub use chapar_proto::{self as proto, Target};
pub use client::{Client, new_client_id};
pub use config::{Auth, ClientConfig, Credentials};
pub use conn::{split_servers, ws_url};
pub use error::SdkError;
pub use event::ClientEvent;
pub use recovery::{RecoveryCodeError, RecoveryKey};
