//! The connections of this node: every open WebSocket, and for signed-in ones, which user and
//! device they belong to. It is the bus's delivery sink: a feed event for a user is queued on each
//! of that user's connections without waiting. A connection whose bounded queue is full is closed
//! as `lagging` (it resyncs from its pts when it comes back), so one slow client never slows
//! anyone else and memory stays bounded.
//!
//! Each queue is bounded twice: in frames (`gateway.outbound_queue`) and in bytes
//! (`gateway.outbound_queue_bytes`: replies counted exactly, as they are encoded before they
//! are queued; pushed events by an estimate of their size, see [`Outbound::weight`]). A reply
//! waits for room (the connection's reader stops reading its requests meanwhile: backpressure
//! on that client only); a pushed event that does not fit closes the connection as `lagging`.

use crate::presence::PresenceHub;
use chapar_core::bus::{BusMessage, Deliver};
use chapar_proto::{Control, DeviceId, Event, Pts, ServerFrame, UserId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, mpsc};

/// What a connection's writer sends.
#[derive(Debug)]
pub enum Outbound {
    /// Boxed: queue slots stay small (an idle connection must cost little).
    Frame(Box<ServerFrame>),
    /// A reply, already encoded in the connection's encoding (so its size is known exactly).
    Encoded(Vec<u8>),
    Feed {
        pts: Pts,
        event: Arc<Event>,
    },
    Ephemeral(Arc<Event>),
}

/// What any frame costs beyond its variable parts (ids, names, keys, framing).
const FRAME_OVERHEAD: usize = 512;

impl Outbound {
    /// Bytes this item is counted as in its connection's byte budget: exact for encoded
    /// replies, an estimate of the encoded size for the rest (pushed events are shared by every
    /// recipient and encoded only by each writer, so their size is estimated from their
    /// variable parts: text, data, entities, reactions, buttons).
    pub fn weight(&self) -> usize {
        match self {
            Outbound::Encoded(bytes) => bytes.len(),
            Outbound::Frame(_) => FRAME_OVERHEAD,
            Outbound::Feed { event, .. } | Outbound::Ephemeral(event) => event_weight(event),
        }
    }
}

fn event_weight(event: &Event) -> usize {
    match event {
        Event::Message(m) => {
            // Text is escaped at most ~6x in JSON (control characters are refused by the
            // rules, so 2x covers quotes and backslashes); data is sent as bytes or base64.
            FRAME_OVERHEAD
                + m.text.as_ref().map_or(0, |t| t.len() * 2)
                + m.data.as_ref().map_or(0, |d| d.0.len() * 2)
                + (m.entities.len() + m.reactions.len()) * 96
                + m.reply_markup.as_ref().map_or(0, |_| 2048)
        }
        _ => FRAME_OVERHEAD,
    }
}

/// The part of a connection other tasks can reach.
pub struct ConnHandle {
    pub id: u64,
    tx: mpsc::Sender<Outbound>,
    /// Set once, when the connection must close; the control frame tells the client why.
    closing: Mutex<Option<Control>>,
    /// Wake the reading and the writing task on close: one each, because `notify_one` keeps a
    /// permit for a task that is busy elsewhere, so neither can miss it. (A `watch` channel
    /// would do the same at several times the size, and every idle connection holds one.)
    wake_reader: Notify,
    wake_writer: Notify,
    /// Bytes queued now (see [`Outbound::weight`]) and the most allowed.
    queued_bytes: AtomicUsize,
    max_bytes: usize,
    /// The writer sent something: a waiting reply may fit now.
    room: Notify,
}

impl ConnHandle {
    fn new(id: u64, tx: mpsc::Sender<Outbound>, max_bytes: usize) -> ConnHandle {
        ConnHandle {
            id,
            tx,
            closing: Mutex::new(None),
            wake_reader: Notify::new(),
            wake_writer: Notify::new(),
            queued_bytes: AtomicUsize::new(0),
            max_bytes,
            room: Notify::new(),
        }
    }

    /// Bytes queued on this connection now.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes.load(Ordering::Acquire)
    }

    /// The writer took `item` off the queue and sent it: give its bytes back.
    pub fn sent(&self, weight: usize) {
        self.queued_bytes.fetch_sub(weight, Ordering::AcqRel);
        self.room.notify_one();
    }

    /// Queue a reply (or anything the reader sends), waiting while the byte budget is spent:
    /// the reader reads no further request of this client meanwhile. A reply larger than the
    /// whole budget still goes out, alone. Err when the connection is closing or gone.
    pub async fn send_reply(&self, item: Outbound) -> Result<(), ()> {
        let weight = item.weight();
        loop {
            let room = self.room.notified();
            let queued = self.queued_bytes();
            if queued == 0 || queued + weight <= self.max_bytes {
                break;
            }
            if self.close_reason().is_some() {
                return Err(());
            }
            // The writer notifies after every frame it sends; the timeout only guards against a
            // writer that has ended without a word.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), room).await;
        }
        self.queued_bytes.fetch_add(weight, Ordering::AcqRel);
        if self.tx.send(item).await.is_err() {
            self.queued_bytes.fetch_sub(weight, Ordering::AcqRel);
            return Err(());
        }
        Ok(())
    }

    fn reason(&self) -> std::sync::MutexGuard<'_, Option<Control>> {
        // Only ever a plain assignment under this lock: a poisoned one is still consistent.
        self.closing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ask the connection to close with this reason. The first reason wins: true when this
    /// call was the first.
    pub fn close(&self, control: Control) -> bool {
        {
            let mut reason = self.reason();
            if reason.is_some() {
                return false;
            }
            *reason = Some(control);
        }
        self.wake_reader.notify_one();
        self.wake_writer.notify_one();
        true
    }

    /// Why the connection is closing, once it is.
    pub fn close_reason(&self) -> Option<Control> {
        self.reason().clone()
    }

    /// Resolves when the connection is asked to close. For the reading task only.
    pub async fn reader_closing(&self) {
        self.wake_reader.notified().await
    }

    /// Resolves when the connection is asked to close. For the writing task only.
    pub async fn writer_closing(&self) {
        self.wake_writer.notified().await
    }

    /// Queue an ephemeral event (as [`Deliver`] does), closing the connection as lagging when
    /// it does not fit.
    pub(crate) fn push_ephemeral(&self, event: Arc<Event>) {
        self.push(Outbound::Ephemeral(event));
    }

    /// Queue a pushed event; true when the queue was full and the connection is now closing.
    fn push(&self, item: Outbound) -> bool {
        let weight = item.weight();
        let before = self.queued_bytes.fetch_add(weight, Ordering::AcqRel);
        let full = before > 0 && before + weight > self.max_bytes;
        let result = if full {
            Err(mpsc::error::TrySendError::Full(item))
        } else {
            self.tx.try_send(item)
        };
        if result.is_err() {
            self.queued_bytes.fetch_sub(weight, Ordering::AcqRel);
        }
        match result {
            Ok(()) => false,
            Err(mpsc::error::TrySendError::Full(_)) => self.close(control(
                "lagging",
                "you are not reading fast enough; reconnect and sync from your last pts",
                None,
            )),
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

pub fn control(reason: &str, message: &str, retry_after_ms: Option<u64>) -> Control {
    Control {
        reason: reason.into(),
        message: message.into(),
        retry_after_ms,
    }
}

#[derive(Default)]
struct Inner {
    all: HashMap<u64, Arc<ConnHandle>>,
    by_user: HashMap<UserId, Vec<(DeviceId, Arc<ConnHandle>)>>,
}

/// Told of feed events for users without a connection on this node.
pub type FeedHook = Arc<dyn Fn(UserId) + Send + Sync>;

/// Why a connection could not sign in on this node.
#[derive(Debug, PartialEq, Eq)]
pub enum BindError {
    /// The device already has this many connections here.
    TooManyForDevice(usize),
}

pub struct Registry {
    inner: Mutex<Inner>,
    /// Most signed-in connections of one device on this node.
    max_per_device: usize,
    /// Bytes each connection may have queued.
    queue_bytes: usize,
    /// The bot platform's wake-up: bots have no connections, their feed is read over HTTP.
    feed_hook: std::sync::OnceLock<FeedHook>,
    next_id: AtomicU64,
    draining: AtomicBool,
    lagging: AtomicU64,
    refused_device: AtomicU64,
    /// Who watches whose presence on this node.
    pub presence: PresenceHub,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new(usize::MAX, usize::MAX)
    }
}

impl Registry {
    /// A registry allowing `max_per_device` connections per device and `queue_bytes` queued
    /// bytes per connection.
    pub fn new(max_per_device: usize, queue_bytes: usize) -> Registry {
        Registry {
            inner: Mutex::default(),
            max_per_device: max_per_device.max(1),
            queue_bytes: queue_bytes.max(1),
            feed_hook: Default::default(),
            next_id: AtomicU64::new(0),
            draining: AtomicBool::new(false),
            lagging: AtomicU64::new(0),
            refused_device: AtomicU64::new(0),
            presence: PresenceHub::default(),
        }
    }

    /// Sign-ins refused because their device had too many connections here.
    pub fn refused_per_device(&self) -> u64 {
        self.refused_device.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the maps inconsistent (each operation is
        // a single insert or remove), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Set the hook told of feed events for users with no connection here (once).
    pub fn set_feed_hook(&self, hook: FeedHook) {
        let _ = self.feed_hook.set(hook);
    }

    /// Register a new connection with its outbound queue.
    pub fn open(&self, tx: mpsc::Sender<Outbound>) -> Arc<ConnHandle> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let handle = Arc::new(ConnHandle::new(id, tx, self.queue_bytes));
        self.lock().all.insert(id, handle.clone());
        handle
    }

    /// The connection signed in. Ok(true) when it is the user's first on this node; refused
    /// when the device already has `max_per_device` connections here (the connections already
    /// in are kept: a client cannot push its own other sessions out, and a device stuck with
    /// dead connections gets back in once they time out).
    pub fn bind(
        &self,
        conn: &Arc<ConnHandle>,
        user: UserId,
        device: DeviceId,
    ) -> Result<bool, BindError> {
        let mut inner = self.lock();
        let list = inner.by_user.entry(user).or_default();
        let of_device = list.iter().filter(|(d, _)| *d == device).count();
        if of_device >= self.max_per_device {
            self.refused_device.fetch_add(1, Ordering::Relaxed);
            return Err(BindError::TooManyForDevice(self.max_per_device));
        }
        list.push((device, conn.clone()));
        Ok(list.len() == 1)
    }

    /// Forget a connection. Returns true when it was the user's last on this node.
    pub fn remove(&self, conn_id: u64, user: Option<UserId>) -> bool {
        self.lock().all.remove(&conn_id);
        match user {
            Some(user) => self.unbind(conn_id, user),
            None => false,
        }
    }

    /// Undo [`Registry::bind`] (a sign-in that failed after it). Returns true when it was the
    /// user's last connection on this node.
    pub fn unbind(&self, conn_id: u64, user: UserId) -> bool {
        let mut inner = self.lock();
        let Some(list) = inner.by_user.get_mut(&user) else {
            return false;
        };
        list.retain(|(_, c)| c.id != conn_id);
        if list.is_empty() {
            inner.by_user.remove(&user);
            true
        } else {
            false
        }
    }

    /// The user has a signed-in connection on this node.
    pub fn is_online(&self, user: UserId) -> bool {
        self.lock().by_user.contains_key(&user)
    }

    /// The devices signed in on this node now.
    pub fn online_devices(&self) -> Vec<DeviceId> {
        let inner = self.lock();
        let mut devices: Vec<DeviceId> = inner
            .by_user
            .values()
            .flat_map(|list| list.iter().map(|(d, _)| *d))
            .collect();
        devices.sort_unstable();
        devices.dedup();
        devices
    }

    pub fn connections(&self) -> usize {
        self.lock().all.len()
    }

    /// Connections closed as lagging so far.
    pub fn lagging(&self) -> u64 {
        self.lagging.load(Ordering::Relaxed)
    }

    /// Bytes waiting in all outbound queues (walks every connection: for metrics only).
    pub fn queued_bytes(&self) -> usize {
        self.lock().all.values().map(|c| c.queued_bytes()).sum()
    }

    /// Frames waiting in all outbound queues (walks every connection: for metrics only).
    pub fn queued_frames(&self) -> usize {
        self.lock()
            .all
            .values()
            .map(|c| c.tx.max_capacity() - c.tx.capacity())
            .sum()
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Stop accepting and tell every connection to come back after a random delay within
    /// `window_ms`, so reconnects are spread out instead of arriving all at once.
    pub fn drain(&self, window_ms: u64) {
        use rand::Rng as _;
        self.draining.store(true, Ordering::Relaxed);
        let conns: Vec<_> = self.lock().all.values().cloned().collect();
        let mut rng = rand::thread_rng();
        for c in conns {
            let after = rng.gen_range(0..=window_ms);
            c.close(control(
                "shutdown",
                "this node is shutting down; reconnect",
                Some(after),
            ));
        }
    }
}

impl Deliver for Registry {
    fn deliver(&self, user: UserId, message: BusMessage) {
        match message {
            BusMessage::Presence { node, info } => return self.presence.deliver(node, info),
            BusMessage::PresenceAsk => {
                if self.is_online(user) {
                    self.presence.arrived(user, crate::state::now_ms());
                }
                return;
            }
            _ => {}
        }
        // Everything below only queues without waiting, so it is done under the lock rather
        // than copying the list of connections for every event.
        let inner = self.lock();
        let Some(targets) = inner.by_user.get(&user) else {
            drop(inner);
            if let (BusMessage::Feed { .. }, Some(hook)) = (&message, self.feed_hook.get()) {
                hook(user);
            }
            return;
        };
        for (device, conn) in targets {
            let lagged = match &message {
                BusMessage::Feed { pts, event } => conn.push(Outbound::Feed {
                    pts: *pts,
                    event: event.clone(),
                }),
                BusMessage::Ephemeral(event) => conn.push(Outbound::Ephemeral(event.clone())),
                BusMessage::DeviceRevoked(d) => {
                    if d == device {
                        conn.close(control("revoked", "this device was revoked", None));
                    }
                    false
                }
                BusMessage::Suspended => {
                    conn.close(control(
                        "suspended",
                        "this account was suspended by the server's operators",
                        None,
                    ));
                    false
                }
                BusMessage::Presence { .. } | BusMessage::PresenceAsk => false,
            };
            if lagged {
                self.lagging.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(n: usize) -> Outbound {
        Outbound::Encoded(vec![b'x'; n])
    }

    fn event(text_bytes: usize) -> Outbound {
        Outbound::Ephemeral(Arc::new(Event::Typing(chapar_proto::Typing {
            conversation: chapar_proto::ConversationId(1),
            user: UserId(1),
            handle: "x".repeat(text_bytes),
        })))
    }

    #[tokio::test]
    async fn replies_wait_for_room_in_bytes_and_a_big_one_goes_alone() {
        let registry = Registry::new(4, 1000);
        let (tx, mut rx) = mpsc::channel(100);
        let conn = registry.open(tx);
        conn.send_reply(reply(600)).await.unwrap();
        assert_eq!(conn.queued_bytes(), 600);
        // 600 + 600 is over the budget: the second reply waits until the first is sent.
        let waiting = {
            let conn = conn.clone();
            tokio::spawn(async move { conn.send_reply(reply(600)).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "a reply over the budget must wait");
        let first = rx.recv().await.unwrap();
        conn.sent(first.weight());
        waiting.await.unwrap().unwrap();
        assert_eq!(conn.queued_bytes(), 600);
        let second = rx.recv().await.unwrap();
        conn.sent(second.weight());
        // Larger than the whole budget: still sent when nothing else is queued.
        conn.send_reply(reply(5000)).await.unwrap();
        assert_eq!(conn.queued_bytes(), 5000);
    }

    #[tokio::test]
    async fn a_pushed_event_that_does_not_fit_closes_as_lagging() {
        let registry = Registry::new(4, 1000);
        let (tx, _rx) = mpsc::channel(100);
        let conn = registry.open(tx);
        conn.send_reply(reply(900)).await.unwrap();
        assert!(conn.push(event(10)), "no room in bytes: lagging");
        assert_eq!(
            conn.close_reason().map(|c| c.reason),
            Some("lagging".into())
        );
        assert_eq!(conn.queued_bytes(), 900, "a refused event is not counted");
    }

    #[test]
    fn a_sign_in_undone_gives_its_place_back() {
        let registry = Registry::new(1, 1000);
        let open = || registry.open(mpsc::channel(1).0);
        let (user, device) = (UserId(7), DeviceId(1));
        let (c1, c2) = (open(), open());
        assert_eq!(registry.bind(&c1, user, device), Ok(true));
        assert!(
            registry.unbind(c1.id, user),
            "it was the user's last binding"
        );
        // Signing in again on the same connection (the client retries) finds its place free.
        assert_eq!(registry.bind(&c1, user, device), Ok(true));
        assert!(registry.unbind(c1.id, user));
        assert_eq!(registry.bind(&c2, user, device), Ok(true));
        assert_eq!(registry.refused_per_device(), 0);
    }

    #[test]
    fn a_device_gets_only_so_many_connections() {
        let registry = Registry::new(2, 1000);
        let open = || registry.open(mpsc::channel(1).0);
        let (user, device) = (UserId(7), DeviceId(1));
        let (c1, c2, c3) = (open(), open(), open());
        assert_eq!(registry.bind(&c1, user, device), Ok(true));
        assert_eq!(registry.bind(&c2, user, device), Ok(false));
        assert_eq!(
            registry.bind(&c3, user, device),
            Err(BindError::TooManyForDevice(2))
        );
        // Another device of the same user is counted apart.
        assert_eq!(registry.bind(&c3, user, DeviceId(2)), Ok(false));
        registry.remove(c1.id, Some(user));
        let c4 = open();
        assert_eq!(registry.bind(&c4, user, device), Ok(false));
        assert_eq!(registry.refused_per_device(), 1);
    }
}
