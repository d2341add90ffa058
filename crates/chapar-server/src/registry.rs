//! The connections of this node: every open WebSocket, and for signed-in ones, which user and
//! device they belong to. It is the bus's delivery sink: a feed event for a user is queued on each
//! of that user's connections without waiting. A connection whose bounded queue is full is closed
//! as `lagging` (it resyncs from its pts when it comes back), so one slow client never slows
//! anyone else and memory stays bounded.

use chapar_core::bus::{BusMessage, Deliver};
use chapar_proto::{Control, DeviceId, Event, Pts, ServerFrame, UserId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, mpsc};

/// What a connection's writer sends.
#[derive(Debug)]
pub enum Outbound {
    /// Boxed: queue slots stay small (an idle connection must cost little).
    Frame(Box<ServerFrame>),
    Feed {
        pts: Pts,
        event: Arc<Event>,
    },
    Ephemeral(Arc<Event>),
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
}

impl ConnHandle {
    fn new(id: u64, tx: mpsc::Sender<Outbound>) -> ConnHandle {
        ConnHandle {
            id,
            tx,
            closing: Mutex::new(None),
            wake_reader: Notify::new(),
            wake_writer: Notify::new(),
        }
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

    /// Queue a pushed event; true when the queue was full and the connection is now closing.
    fn push(&self, item: Outbound) -> bool {
        match self.tx.try_send(item) {
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

#[derive(Default)]
pub struct Registry {
    inner: Mutex<Inner>,
    /// The bot platform's wake-up: bots have no connections, their feed is read over HTTP.
    feed_hook: std::sync::OnceLock<FeedHook>,
    next_id: AtomicU64,
    draining: AtomicBool,
    lagging: AtomicU64,
}

impl Registry {
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
        let handle = Arc::new(ConnHandle::new(id, tx));
        self.lock().all.insert(id, handle.clone());
        handle
    }

    /// The connection signed in. Returns true when it is the user's first on this node.
    pub fn bind(&self, conn: &Arc<ConnHandle>, user: UserId, device: DeviceId) -> bool {
        let mut inner = self.lock();
        let list = inner.by_user.entry(user).or_default();
        list.push((device, conn.clone()));
        list.len() == 1
    }

    /// Forget a connection. Returns true when it was the user's last on this node.
    pub fn remove(&self, conn_id: u64, user: Option<UserId>) -> bool {
        let mut inner = self.lock();
        inner.all.remove(&conn_id);
        let Some(user) = user else { return false };
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

    pub fn connections(&self) -> usize {
        self.lock().all.len()
    }

    /// Connections closed as lagging so far.
    pub fn lagging(&self) -> u64 {
        self.lagging.load(Ordering::Relaxed)
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
            };
            if lagged {
                self.lagging.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
