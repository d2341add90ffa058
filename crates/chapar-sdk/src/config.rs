//! What a client needs to start: where to connect, how to behave, and who it is.

use crate::backoff::Backoff;
use chapar_proto::Encoding;
use ed25519_dalek::SigningKey;
use std::time::Duration;

/// Tuning of one client. `Default` suits an interactive app.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub encoding: Encoding,
    /// Reconnect (and send-retry) backoff: full jitter between zero and `min(max, base*2^n)`.
    pub backoff: Backoff,
    /// How long a request waits for its reply (including waiting for a reconnect).
    pub request_timeout: Duration,
    /// Name of this device, given when it registers or links.
    pub device_name: Option<String>,
    /// Connection attempts (per URL round) before `Client::connect` gives up. Later reconnects
    /// retry until the client is dropped.
    pub initial_attempts: u32,
    /// How many times a send is retried (same `client_id`) after a dropped connection, a timeout
    /// or a retryable error.
    pub send_attempts: u32,
    /// Capacity of the event channel to the application.
    pub event_buffer: usize,
    /// Capacity of the outgoing request queue.
    pub request_buffer: usize,
    /// Requests in flight (awaiting replies) per connection.
    pub max_in_flight: usize,
    /// Live events held back while a sync catches up.
    pub held_events: usize,
    /// Events per sync page asked of the server (`None`: the server's default).
    pub sync_page: Option<u32>,
    /// Deliver the backlog after `start_pts` on the first connect. When false the client starts
    /// at the server's current pts and only live events (and later gaps) are delivered.
    pub catch_up: bool,
    /// Send `mark delivered` for messages received from others.
    pub auto_delivered: bool,
    /// How long received-message marks are coalesced before they are sent.
    pub mark_delay: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            encoding: Encoding::MsgPack,
            backoff: Backoff::default(),
            request_timeout: Duration::from_secs(15),
            device_name: None,
            initial_attempts: 3,
            send_attempts: 6,
            event_buffer: 1024,
            request_buffer: 256,
            max_in_flight: 256,
            held_events: 4096,
            sync_page: None,
            catch_up: true,
            auto_delivered: true,
            mark_delay: Duration::from_millis(200),
        }
    }
}

/// This device's identity: its Ed25519 key and, once signed in, its session token.
#[derive(Clone)]
pub struct Credentials {
    pub signing_key: SigningKey,
    pub token: Option<String>,
}

impl Credentials {
    /// A fresh random device key, no session yet.
    pub fn generate() -> Self {
        Credentials {
            signing_key: SigningKey::generate(&mut rand::rngs::OsRng),
            token: None,
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("public_key", &self.signing_key.verifying_key())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// How the first connection signs in.
#[derive(Clone, Debug)]
pub enum Auth {
    /// Create an account with this device as its first device.
    Register {
        handle: String,
        display_name: Option<String>,
        invite_code: Option<String>,
    },
    /// Add this new device to an account, with a code made by one of its devices.
    Link { code: String },
    /// An existing device: resume with the token, or log in with the key.
    Resume,
    /// A new device of an account whose devices are lost: sign in with its recovery key
    /// (`revoke_others`: revoke every other device, e.g. a stolen phone).
    Recover {
        handle: String,
        recovery_key: crate::recovery::RecoveryKey,
        revoke_others: bool,
    },
}
