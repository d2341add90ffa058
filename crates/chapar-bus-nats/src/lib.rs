//! chapar-bus-nats: the cluster [`Bus`] of chapar, on NATS core publish/subscribe.
//!
//! PostgreSQL is the only source of truth; the bus only tells nodes that something happened, at
//! most once. Lost bus messages never lose deliveries: devices fill pts gaps from the store.
//!
//! * One subject per user: `<prefix>.u.<user id>`, the prefix holding the cluster id so clusters
//!   sharing a NATS server never see each other. A node subscribes only for users with a
//!   connection on it ([`Bus::watch`]/[`Bus::unwatch`], counted, so the order in which two
//!   connections' watch and unwatch calls arrive does not matter).
//! * [`Bus::publish`] delivers to this node's own connections at once (so local delivery does not
//!   depend on NATS) and queues the message for the publisher task on a bounded channel; when the
//!   channel is full or NATS is disconnected the message is dropped and counted. It never blocks.
//!   NATS is told not to echo a node's messages back to it (`no_echo`), and each message carries
//!   its origin node, which is also checked: every message reaches each node's connections once.
//! * Presence has subjects of its own, `<prefix>.p.<user id>`: a node subscribes to a person's
//!   while one of its connections watches them ([`Bus::watch_presence`]), so watching someone
//!   does not bring their feed along.
//! * Feed events, ephemeral events (typing, presence) and device revocations travel this way,
//!   encoded as MessagePack (the encoding of chapar-proto's binary frames, with field names, so
//!   nodes of two releases understand each other during a rolling upgrade).
//! * Catching up: when a subscription is in place, and after every reconnection to NATS, the
//!   resync hook (set by the server) is called for the users concerned: the server then pushes
//!   each one's newest feed event, so a device that missed something while the bus was not
//!   listening sees a pts gap at once and syncs, and re-checks revocations.

use async_nats::{Client, ConnectOptions};
use chapar_core::bus::{Bus, BusMessage, Deliver};
use chapar_proto::{DeviceId, Event, PresenceInfo, Pts, UserId};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

pub mod testing;

#[derive(Clone, Debug)]
pub struct NatsOptions {
    /// `nats://host:port` (several may be given, comma-separated).
    pub url: String,
    /// Subject prefix; the server uses `chapar.<cluster id>`.
    pub prefix: String,
    /// Messages waiting for the publisher task; beyond, they are dropped (and counted).
    pub publish_queue: usize,
    /// Messages buffered per subscription inside the NATS client.
    pub subscription_capacity: usize,
    /// Shown by NATS monitoring for this connection.
    pub name: String,
}

impl Default for NatsOptions {
    fn default() -> Self {
        NatsOptions {
            url: "nats://127.0.0.1:4222".into(),
            prefix: "chapar".into(),
            publish_queue: 65_536,
            subscription_capacity: 4096,
            name: "chapar".into(),
        }
    }
}

/// What the bus has done, for metrics and tests.
#[derive(Debug, Default)]
pub struct BusStats {
    /// Messages handed to NATS.
    pub published: AtomicU64,
    /// Messages not published: the queue was full or NATS was disconnected.
    pub dropped: AtomicU64,
    /// Messages received from other nodes and delivered to this node's connections.
    pub received: AtomicU64,
    /// Messages that could not be decoded (ignored).
    pub undecodable: AtomicU64,
    /// Reconnections to NATS after a disconnection.
    pub reconnects: AtomicU64,
    /// Users this node is subscribed for.
    pub subscriptions: AtomicU64,
}

/// Called with a user whose live events may have been missed (see the crate docs).
pub type ResyncHook = Arc<dyn Fn(UserId) + Send + Sync>;

/// The wire form of a bus message (borrowed for encoding).
#[derive(Serialize)]
struct EnvelopeRef<'a> {
    /// The node that published it.
    node: u64,
    #[serde(flatten)]
    body: WireRef<'a>,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum WireRef<'a> {
    Feed { pts: Pts, event: &'a Event },
    Ephemeral { event: &'a Event },
    Revoked { device: DeviceId },
    Suspended,
    Presence { info: PresenceInfo },
    PresenceAsk,
}

/// The wire form of a bus message (owned, decoded).
#[derive(Deserialize)]
struct Envelope {
    node: u64,
    #[serde(flatten)]
    body: Wire,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Wire {
    Feed { pts: Pts, event: Event },
    Ephemeral { event: Event },
    Revoked { device: DeviceId },
    Suspended,
    Presence { info: PresenceInfo },
    PresenceAsk,
}

fn encode(node: u64, message: &BusMessage) -> Vec<u8> {
    let body = match message {
        BusMessage::Feed { pts, event } => WireRef::Feed { pts: *pts, event },
        BusMessage::Ephemeral(event) => WireRef::Ephemeral { event },
        BusMessage::DeviceRevoked(device) => WireRef::Revoked { device: *device },
        BusMessage::Suspended => WireRef::Suspended,
        // The envelope carries the origin node.
        BusMessage::Presence { info, .. } => WireRef::Presence { info: *info },
        BusMessage::PresenceAsk => WireRef::PresenceAsk,
    };
    // Encoding these types cannot fail: all map keys are strings.
    rmp_serde::to_vec_named(&EnvelopeRef { node, body }).unwrap_or_default()
}

fn decode(bytes: &[u8]) -> Result<(u64, BusMessage), rmp_serde::decode::Error> {
    let env: Envelope = rmp_serde::from_slice(bytes)?;
    let message = match env.body {
        Wire::Feed { pts, event } => BusMessage::Feed {
            pts,
            event: Arc::new(event),
        },
        Wire::Ephemeral { event } => BusMessage::Ephemeral(Arc::new(event)),
        Wire::Revoked { device } => BusMessage::DeviceRevoked(device),
        Wire::Suspended => BusMessage::Suspended,
        Wire::Presence { info } => BusMessage::Presence {
            node: env.node,
            info,
        },
        Wire::PresenceAsk => BusMessage::PresenceAsk,
    };
    Ok((env.node, message))
}

struct Watch {
    count: usize,
    task: AbortHandle,
}

/// The two kinds of subject a user has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Channel {
    /// `.u.`: the user's feed and what their own connections are told.
    User,
    /// `.p.`: the user's presence, for the nodes watching it.
    Presence,
}

/// What the NATS client's event callback and the subscription tasks share with the bus.
struct Shared {
    node: u64,
    prefix: String,
    sink: Arc<dyn Deliver>,
    stats: BusStats,
    watched: Mutex<HashMap<UserId, Watch>>,
    /// Users whose presence this node's connections watch.
    presence: Mutex<HashMap<UserId, Watch>>,
    resync: OnceLock<ResyncHook>,
    /// NATS was disconnected since the last (re)connection.
    lost: AtomicBool,
}

impl Shared {
    fn subject(&self, channel: Channel, user: UserId) -> String {
        match channel {
            Channel::User => format!("{}.u.{}", self.prefix, user.0),
            Channel::Presence => format!("{}.p.{}", self.prefix, user.0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Watch>> {
        self.watched.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn watches(&self, channel: Channel) -> std::sync::MutexGuard<'_, HashMap<UserId, Watch>> {
        match channel {
            Channel::User => self.lock(),
            Channel::Presence => self.presence.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    fn resync(&self, user: UserId) {
        if let Some(hook) = self.resync.get() {
            hook(user);
        }
    }

    fn on_event(&self, event: async_nats::Event) {
        match event {
            async_nats::Event::Disconnected => {
                self.lost.store(true, Ordering::Relaxed);
                tracing::warn!("nats disconnected: live delivery between nodes paused");
            }
            async_nats::Event::Connected => {
                if self.lost.swap(false, Ordering::Relaxed) {
                    self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                    let users: Vec<UserId> = self.lock().keys().copied().collect();
                    tracing::info!(
                        users = users.len(),
                        "nats reconnected: resyncing watched users"
                    );
                    for user in users {
                        self.resync(user);
                    }
                } else {
                    tracing::info!("nats connected");
                }
            }
            other => tracing::debug!(event = %other, "nats event"),
        }
    }
}

/// The NATS bus. Cheap to share (`Arc`); dropping the last handle stops its tasks.
pub struct NatsBus {
    shared: Arc<Shared>,
    client: Client,
    queue: mpsc::Sender<(Channel, UserId, BusMessage)>,
    runtime: tokio::runtime::Handle,
    publisher: AbortHandle,
}

impl NatsBus {
    /// Connect to NATS (in the background when it is not reachable yet: the node starts anyway
    /// and live delivery between nodes begins once NATS answers) and start the publisher task.
    /// Must be called inside a Tokio runtime.
    pub async fn connect(
        options: NatsOptions,
        sink: Arc<dyn Deliver>,
    ) -> Result<NatsBus, async_nats::ConnectError> {
        let shared = Arc::new(Shared {
            node: rand::random(),
            prefix: options.prefix.clone(),
            sink,
            stats: BusStats::default(),
            watched: Mutex::new(HashMap::new()),
            presence: Mutex::new(HashMap::new()),
            resync: OnceLock::new(),
            lost: AtomicBool::new(false),
        });
        let events = Arc::downgrade(&shared);
        let client = ConnectOptions::new()
            .name(&options.name)
            .no_echo()
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connection_timeout(Duration::from_secs(2))
            .ping_interval(Duration::from_secs(10))
            .subscription_capacity(options.subscription_capacity.max(16))
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(2u64.saturating_pow(attempts.min(10) as u32))
                    .min(Duration::from_secs(1))
            })
            .event_callback(move |event| {
                let shared = events.upgrade();
                async move {
                    if let Some(shared) = shared {
                        shared.on_event(event);
                    }
                }
            })
            .connect(options.url.as_str())
            .await?;
        let (queue, rx) = mpsc::channel(options.publish_queue.max(1));
        let publisher =
            tokio::spawn(publish_loop(client.clone(), Arc::clone(&shared), rx)).abort_handle();
        Ok(NatsBus {
            shared,
            client,
            queue,
            runtime: tokio::runtime::Handle::current(),
            publisher,
        })
    }

    /// Set the hook told of users whose live events may have been missed (once, before serving).
    pub fn set_resync_hook(&self, hook: ResyncHook) {
        let _ = self.shared.resync.set(hook);
    }

    pub fn stats(&self) -> &BusStats {
        &self.shared.stats
    }

    /// This node's random id (carried by its messages).
    pub fn node_id(&self) -> u64 {
        self.shared.node
    }

    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Users this node is subscribed for.
    pub fn watched(&self) -> Vec<UserId> {
        self.shared.lock().keys().copied().collect()
    }
}

async fn publish_loop(
    client: Client,
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<(Channel, UserId, BusMessage)>,
) {
    while let Some((channel, user, message)) = rx.recv().await {
        if client.connection_state() != async_nats::connection::State::Connected {
            // Stale by the time NATS is back: devices catch up from the store instead.
            shared.stats.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let payload = encode(shared.node, &message);
        match client
            .publish(shared.subject(channel, user), payload.into())
            .await
        {
            Ok(()) => shared.stats.published.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                tracing::debug!(error = %e, "nats publish failed");
                shared.stats.dropped.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// Receive one of a user's subjects until aborted (which unsubscribes).
async fn subscription(client: Client, shared: Arc<Shared>, user: UserId, channel: Channel) {
    let mut sub = match client.subscribe(shared.subject(channel, user)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, user = user.0, "nats subscribe failed");
            return;
        }
    };
    // Once the subscription has reached the server, whatever was committed before it is
    // covered by the resync; whatever comes after arrives here.
    if client.flush().await.is_ok() {
        match channel {
            Channel::User => shared.resync(user),
            // Now that this node hears the person's presence, ask the nodes where they are
            // connected to say so (an answer sent before the subscription would be lost).
            Channel::Presence => {
                let ask = encode(shared.node, &BusMessage::PresenceAsk);
                if client
                    .publish(shared.subject(Channel::User, user), ask.into())
                    .await
                    .is_ok()
                {
                    shared.stats.published.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    while let Some(msg) = sub.next().await {
        match decode(&msg.payload) {
            Ok((node, _)) if node == shared.node => {}
            Ok((_, message)) => {
                shared.stats.received.fetch_add(1, Ordering::Relaxed);
                shared.sink.deliver(user, message);
            }
            Err(e) => {
                shared.stats.undecodable.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "undecodable bus message ignored");
            }
        }
    }
}

impl Bus for NatsBus {
    fn counters(&self) -> Option<chapar_core::bus::BusCounters> {
        let s = &self.shared.stats;
        Some(chapar_core::bus::BusCounters {
            published: s.published.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            received: s.received.load(Ordering::Relaxed),
            reconnects: s.reconnects.load(Ordering::Relaxed),
            subscriptions: s.subscriptions.load(Ordering::Relaxed),
            connected: self.is_connected(),
        })
    }

    fn publish(&self, user: UserId, message: BusMessage) {
        self.send(Channel::User, user, message);
    }

    fn node_id(&self) -> u64 {
        self.shared.node
    }

    fn publish_presence(&self, user: UserId, message: BusMessage) {
        self.send(Channel::Presence, user, message);
    }

    fn watch(&self, user: UserId) {
        self.subscribe(Channel::User, user);
    }

    fn unwatch(&self, user: UserId) {
        self.unsubscribe(Channel::User, user);
    }

    fn watch_presence(&self, user: UserId) {
        self.subscribe(Channel::Presence, user);
    }

    fn unwatch_presence(&self, user: UserId) {
        self.unsubscribe(Channel::Presence, user);
    }
}

impl NatsBus {
    fn send(&self, channel: Channel, user: UserId, message: BusMessage) {
        let remote = message.clone();
        self.shared.sink.deliver(user, message);
        if self.queue.try_send((channel, user, remote)).is_err() {
            self.shared.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn subscribe(&self, channel: Channel, user: UserId) {
        let mut watched = self.shared.watches(channel);
        if let Some(w) = watched.get_mut(&user) {
            w.count += 1;
            return;
        }
        let task = self
            .runtime
            .spawn(subscription(
                self.client.clone(),
                Arc::clone(&self.shared),
                user,
                channel,
            ))
            .abort_handle();
        watched.insert(user, Watch { count: 1, task });
        drop(watched);
        self.count_subscriptions();
    }

    fn unsubscribe(&self, channel: Channel, user: UserId) {
        let mut watched = self.shared.watches(channel);
        let Some(w) = watched.get_mut(&user) else {
            return;
        };
        w.count = w.count.saturating_sub(1);
        if w.count == 0
            && let Some(w) = watched.remove(&user)
        {
            w.task.abort();
        }
        drop(watched);
        self.count_subscriptions();
    }

    fn count_subscriptions(&self) {
        let n =
            self.shared.watches(Channel::User).len() + self.shared.watches(Channel::Presence).len();
        self.shared
            .stats
            .subscriptions
            .store(n as u64, Ordering::Relaxed);
    }
}

impl Drop for NatsBus {
    fn drop(&mut self) {
        self.publisher.abort();
        for channel in [Channel::User, Channel::Presence] {
            for (_, w) in self.shared.watches(channel).drain() {
                w.task.abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chapar_proto::{Typing, UserId};

    #[test]
    fn messages_round_trip_with_their_origin() {
        let event = Arc::new(Event::Typing(Typing {
            conversation: chapar_proto::ConversationId(3),
            user: UserId(4),
            handle: "sara".into(),
        }));
        for m in [
            BusMessage::Feed {
                pts: 9,
                event: event.clone(),
            },
            BusMessage::Ephemeral(event.clone()),
            BusMessage::DeviceRevoked(DeviceId(5)),
            BusMessage::Suspended,
            BusMessage::Presence {
                node: 77,
                info: chapar_proto::PresenceInfo {
                    user: UserId(4),
                    online: false,
                    last_seen: Some(1_764_352_000_000),
                },
            },
            BusMessage::PresenceAsk,
        ] {
            let (node, back) = decode(&encode(77, &m)).expect("decodes");
            assert_eq!(node, 77);
            assert_eq!(format!("{m:?}"), format!("{back:?}"));
        }
        assert!(decode(b"\x01\x02garbage").is_err());
    }
}
