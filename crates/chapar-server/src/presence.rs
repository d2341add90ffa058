//! Presence: who is online, for the connections watching them, without a write per heartbeat.
//!
//! * Online means "has a signed-in connection on some node". Each node knows its own
//!   connections ([`crate::registry::Registry`]); when a person's first connection on a node
//!   signs in, or their last one closes, the node says so on the person's presence channel
//!   ([`Bus::publish_presence`], with its node id), which reaches every node where someone
//!   watches them. A watching node keeps, per watched person, the set of nodes that said they
//!   are online there: the person is online while it is not empty. One node's messages arrive
//!   in the order it sent them, so any interleaving of several nodes' ends in the right state.
//! * A watch ([`PresenceHub::watch`]) is judged once, by the store (the person's "last seen"
//!   setting, blocks), when the connection asks. Watching someone asks the nodes where they are
//!   connected to say so ([`BusMessage::PresenceAsk`]): after the reply, and (the NATS bus)
//!   again once this node's subscription to their presence is in place, so no answer is
//!   lost. A node that dies without a word leaves its people online for the watchers of the
//!   moment; the next watch asks again.
//! * Last seen is the newest `last_seen` of the person's devices. Each node writes it once a
//!   minute for the devices connected to it and the ones that left since ([`PresenceHub::due`]),
//!   in one write; in between, this node remembers when people left it, to the millisecond.
//! * Every table here is bounded: watches by connections × [`MAX_WATCHED`], departures by
//!   [`MAX_GONE`] (and to those of the last two flushes).

use crate::registry::ConnHandle;
use crate::state::App;
use chapar_core::bus::{Bus, BusMessage};
use chapar_proto::{DeviceId, Event, MAX_WATCHED, PresenceInfo, UserId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// How often a node writes its people's last seen times.
pub const FLUSH_EVERY_MS: i64 = 60_000;
/// Most departed devices (and people) remembered between two flushes; beyond, a device's last
/// seen stays that of the flush before (a minute older at most).
const MAX_GONE: usize = 65_536;

/// A person watched on this node.
#[derive(Default)]
struct Watched {
    conns: Vec<Arc<ConnHandle>>,
    /// The nodes that said the person is connected there.
    nodes: Vec<u64>,
    /// When they were last said to leave a node.
    last_seen: Option<i64>,
}

#[derive(Default)]
struct Inner {
    watched: HashMap<UserId, Watched>,
    /// Connection id → the people it watches.
    watching: HashMap<u64, Vec<UserId>>,
    /// People whose last connection on this node closed, and when (pruned at each flush).
    left: HashMap<UserId, i64>,
    /// Devices that disconnected since the last flush: their last seen is written with it.
    gone: Vec<DeviceId>,
}

/// This node's presence state: who watches whom, and who left when.
#[derive(Default)]
pub struct PresenceHub {
    inner: Mutex<Inner>,
    bus: OnceLock<Arc<dyn Bus>>,
}

impl PresenceHub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every operation leaves the maps consistent before it can panic.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Set the bus the hub publishes on (once, when the node starts).
    pub fn set_bus(&self, bus: Arc<dyn Bus>) {
        let _ = self.bus.set(bus);
    }

    fn bus(&self) -> Option<&Arc<dyn Bus>> {
        self.bus.get()
    }

    fn say(&self, user: UserId, online: bool, now: i64) {
        if let Some(bus) = self.bus() {
            let info = PresenceInfo {
                user,
                online,
                last_seen: Some(now),
            };
            let node = bus.node_id();
            bus.publish_presence(user, BusMessage::Presence { node, info });
        }
    }

    /// `user` has a connection here: their first signed in, or another node asked.
    pub fn arrived(&self, user: UserId, now: i64) {
        self.lock().left.remove(&user);
        self.say(user, true, now);
    }

    /// A signed-in connection of `device` closed; `last` when it was `user`'s last here.
    pub fn departed(&self, user: UserId, device: DeviceId, last: bool, now: i64) {
        {
            let mut inner = self.lock();
            // Duplicates (a device's several connections) go at the flush.
            if inner.gone.len() < MAX_GONE {
                inner.gone.push(device);
            }
            // Bounded like `gone`: beyond, a departure is known from the store's last seen.
            if last && (inner.left.len() < MAX_GONE || inner.left.contains_key(&user)) {
                inner.left.insert(user, now);
            }
        }
        if last {
            self.say(user, false, now);
        }
    }

    /// When `user` left this node, if they did since the last flush but one.
    pub fn left_at(&self, user: UserId) -> Option<i64> {
        self.lock().left.get(&user).copied()
    }

    /// `user`, just watched, is connected to this node (`node`): the answer this node will
    /// give to the watch's question changes nothing then.
    pub fn here(&self, user: UserId, node: u64) {
        if let Some(w) = self.lock().watched.get_mut(&user)
            && !w.nodes.contains(&node)
        {
            w.nodes.push(node);
        }
    }

    /// Some node said `user` (watched here) is online.
    pub fn known_online(&self, user: UserId) -> bool {
        self.lock()
            .watched
            .get(&user)
            .is_some_and(|w| !w.nodes.is_empty())
    }

    /// Make `conn` watch exactly `users` (already judged by the store), replacing what it
    /// watched before.
    pub fn watch(&self, conn: &Arc<ConnHandle>, users: &[UserId]) {
        let users: Vec<UserId> = users.iter().copied().take(MAX_WATCHED).collect();
        let (started, stopped) = {
            let mut inner = self.lock();
            let before = inner.watching.remove(&conn.id).unwrap_or_default();
            let stopped = before
                .iter()
                .filter(|u| !users.contains(u))
                .filter(|u| unwatch(&mut inner, **u, conn.id))
                .copied()
                .collect::<Vec<_>>();
            let mut started = Vec::new();
            for user in &users {
                if before.contains(user) {
                    continue;
                }
                let w = inner.watched.entry(*user).or_default();
                w.conns.push(conn.clone());
                if w.conns.len() == 1 {
                    started.push(*user);
                }
            }
            if !users.is_empty() {
                inner.watching.insert(conn.id, users);
            }
            (started, stopped)
        };
        if let Some(bus) = self.bus() {
            for user in started {
                bus.watch_presence(user);
            }
            for user in stopped {
                bus.unwatch_presence(user);
            }
        }
    }

    /// The connection closed: it watches nobody any more.
    pub fn forget(&self, conn: &Arc<ConnHandle>) {
        self.watch(conn, &[]);
    }

    /// What `node` said on `info.user`'s presence channel: tell the connections watching them
    /// when it changes what they see. A "nothing to show" (their setting changed) is passed on
    /// and ends those watches.
    pub fn deliver(&self, node: u64, info: PresenceInfo) {
        let reset = !info.online && info.last_seen.is_none();
        let ended = {
            let mut inner = self.lock();
            let Some(w) = inner.watched.get_mut(&info.user) else {
                return;
            };
            let was_online = !w.nodes.is_empty();
            if info.online {
                if !w.nodes.contains(&node) {
                    w.nodes.push(node);
                }
            } else {
                w.nodes.retain(|n| *n != node);
                w.last_seen = w.last_seen.max(info.last_seen);
            }
            let online = !w.nodes.is_empty();
            let shown = PresenceInfo {
                user: info.user,
                online,
                last_seen: if online { info.last_seen } else { w.last_seen },
            };
            if reset {
                let event = Arc::new(Event::Presence(info));
                let w = inner.watched.remove(&info.user).unwrap_or_default();
                for conn in &w.conns {
                    conn.push_ephemeral(event.clone());
                    if let Some(list) = inner.watching.get_mut(&conn.id) {
                        list.retain(|u| *u != info.user);
                    }
                }
                true
            } else {
                // A node answering a watch about someone already known online changes nothing.
                if online != was_online || !online {
                    let event = Arc::new(Event::Presence(shown));
                    for conn in &w.conns {
                        conn.push_ephemeral(event.clone());
                    }
                }
                false
            }
        };
        if ended && let Some(bus) = self.bus() {
            bus.unwatch_presence(info.user);
        }
    }

    /// The devices whose last seen the next flush writes: those connected now (`online`) and
    /// those that left since the last flush. Departures older than two flushes are forgotten
    /// (the store has them by then).
    pub fn due(&self, online: Vec<DeviceId>, now: i64) -> Vec<DeviceId> {
        let mut inner = self.lock();
        inner.left.retain(|_, at| now - *at < 2 * FLUSH_EVERY_MS);
        let mut devices = online;
        devices.append(&mut inner.gone);
        devices.sort_unstable();
        devices.dedup();
        devices
    }

    /// Watches held now (for metrics and tests).
    pub fn watches(&self) -> usize {
        self.lock().watching.values().map(Vec::len).sum()
    }
}

/// Remove `conn` from `user`'s watchers; true when nobody here watches them any more.
fn unwatch(inner: &mut Inner, user: UserId, conn: u64) -> bool {
    let Some(w) = inner.watched.get_mut(&user) else {
        return false;
    };
    w.conns.retain(|c| c.id != conn);
    if w.conns.is_empty() {
        inner.watched.remove(&user);
        true
    } else {
        false
    }
}

/// Most devices one presence write names (a node with more writes several).
const FLUSH_CHUNK: usize = 1000;

/// Write the last seen time of every device connected to this node or gone since the last
/// flush. A failure is logged; the devices still connected are written again next time.
pub async fn flush(app: &App) {
    let now = crate::state::now_ms();
    let devices = app
        .registry
        .presence
        .due(app.registry.online_devices(), now);
    for chunk in devices.chunks(FLUSH_CHUNK) {
        if let Err(e) = app.store.seen_devices(chunk.to_vec()).await {
            tracing::warn!(error = %e, devices = chunk.len(), "last seen not written");
            return;
        }
    }
}

/// Flush once a minute while the node runs.
pub fn start(app: &Arc<App>) {
    let app = Arc::downgrade(app);
    tokio::spawn(async move {
        let every = std::time::Duration::from_millis(FLUSH_EVERY_MS as u64);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(app) = app.upgrade() else { return };
            flush(&app).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use tokio::sync::mpsc;

    #[test]
    fn watches_are_replaced_and_forgotten() {
        let registry = Registry::new(4, 1 << 20);
        let (tx, mut rx) = mpsc::channel(16);
        let conn = registry.open(tx);
        let hub = PresenceHub::default();
        let (a, b) = (UserId(1), UserId(2));
        hub.watch(&conn, &[a, b]);
        assert_eq!(hub.watches(), 2);
        hub.watch(&conn, &[b]);
        assert_eq!(hub.watches(), 1);
        hub.deliver(
            1,
            PresenceInfo {
                user: a,
                online: true,
                last_seen: Some(1),
            },
        );
        assert!(rx.try_recv().is_err(), "a is not watched any more");
        hub.deliver(
            1,
            PresenceInfo {
                user: b,
                online: true,
                last_seen: Some(2),
            },
        );
        assert!(rx.try_recv().is_ok(), "b is watched");
        // A reset is passed on and ends the watch.
        hub.deliver(
            1,
            PresenceInfo {
                user: b,
                online: false,
                last_seen: None,
            },
        );
        assert!(rx.try_recv().is_ok());
        assert_eq!(hub.watches(), 0);
        hub.watch(&conn, &[a]);
        hub.forget(&conn);
        assert_eq!(hub.watches(), 0);
    }

    #[test]
    fn a_person_is_online_while_some_node_says_so() {
        let registry = Registry::new(4, 1 << 20);
        let (tx, mut rx) = mpsc::channel(16);
        let conn = registry.open(tx);
        let hub = PresenceHub::default();
        let u = UserId(5);
        hub.watch(&conn, &[u]);
        let say = |node, online, at| {
            hub.deliver(
                node,
                PresenceInfo {
                    user: u,
                    online,
                    last_seen: Some(at),
                },
            )
        };
        let mut seen = || match rx.try_recv() {
            Ok(crate::registry::Outbound::Ephemeral(e)) => match &*e {
                Event::Presence(p) => Some((p.online, p.last_seen)),
                _ => None,
            },
            _ => None,
        };
        say(1, true, 10);
        assert_eq!(seen(), Some((true, Some(10))));
        say(2, true, 11);
        assert_eq!(seen(), None, "already online: nothing to tell");
        // Node 1 says it left before node 2's answer would have come: still online.
        say(1, false, 12);
        assert_eq!(seen(), None);
        assert!(hub.known_online(u));
        say(2, false, 13);
        assert_eq!(seen(), Some((false, Some(13))));
        assert!(!hub.known_online(u));
    }

    #[test]
    fn departures_are_due_once_and_forgotten_after_two_flushes() {
        let hub = PresenceHub::default();
        hub.departed(UserId(1), DeviceId(9), true, 1_000);
        assert_eq!(hub.left_at(UserId(1)), Some(1_000));
        assert_eq!(
            hub.due(vec![DeviceId(3)], 2_000),
            vec![DeviceId(3), DeviceId(9)]
        );
        assert_eq!(hub.due(vec![], 3_000), vec![]);
        assert_eq!(hub.left_at(UserId(1)), Some(1_000));
        hub.due(vec![], 1_000 + 2 * FLUSH_EVERY_MS);
        assert_eq!(hub.left_at(UserId(1)), None);
    }
}
