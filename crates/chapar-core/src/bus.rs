//! The `Bus` trait: how a commit on one node reaches the connections of its recipients, on this
//! node or (in cluster mode, later) on others. The bus only says that something happened; the
//! store stays the source of truth, and a device that sees a pts gap fills it from the store.

use chapar_proto::{DeviceId, Event, PresenceInfo, Pts, UserId};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub enum BusMessage {
    /// A feed event of this user, at `pts`.
    Feed { pts: Pts, event: Arc<Event> },
    /// An ephemeral event (typing): delivered live, never stored.
    Ephemeral(Arc<Event>),
    /// The device was revoked: close its connections now.
    DeviceRevoked(DeviceId),
    /// An operator suspended the account: close all its connections now.
    Suspended,
    /// On the person's presence channel ([`Bus::publish_presence`]): they came online on node
    /// `node` or left it, for the connections watching them (a person is online while some
    /// node says so). `online` false without `last_seen`: their "last seen" setting changed;
    /// watchers forget them until they watch again.
    Presence { node: u64, info: PresenceInfo },
    /// To the nodes where the person is connected: say so on their presence channel (a
    /// watcher on another node asks when it starts watching).
    PresenceAsk,
}

/// Receives what the bus carries for users with connections on this node.
pub trait Deliver: Send + Sync + 'static {
    fn deliver(&self, user: UserId, message: BusMessage);
}

/// What a cluster bus has done, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BusCounters {
    /// Messages handed to the broker.
    pub published: u64,
    /// Messages not published (queue full or broker unreachable); devices fill the gaps.
    pub dropped: u64,
    /// Messages received from other nodes.
    pub received: u64,
    /// Reconnections to the broker after it was lost.
    pub reconnects: u64,
    /// Users this node is subscribed for.
    pub subscriptions: u64,
    /// Connected to the broker right now.
    pub connected: bool,
}

pub trait Bus: Send + Sync + 'static {
    /// Tell every node with connections of `user`. Never blocks; may drop under pressure
    /// (devices then resync from their pts).
    fn publish(&self, user: UserId, message: BusMessage);
    /// This node now has a connection of `user` (cluster buses subscribe).
    fn watch(&self, _user: UserId) {}
    /// This node has no connection of `user` any more.
    fn unwatch(&self, _user: UserId) {}
    /// Tell every node watching `user`'s presence ([`Bus::watch_presence`]); the in-process
    /// bus has one channel for both.
    fn publish_presence(&self, user: UserId, message: BusMessage) {
        self.publish(user, message)
    }
    /// This node has connections watching `user`'s presence.
    fn watch_presence(&self, _user: UserId) {}
    /// No connection here watches `user`'s presence any more.
    fn unwatch_presence(&self, _user: UserId) {}
    /// This node's id on the bus (carried by its presence messages; 0 for the in-process bus).
    fn node_id(&self) -> u64 {
        0
    }
    /// Counters of a cluster bus (`None` for the in-process one).
    fn counters(&self) -> Option<BusCounters> {
        None
    }
}

/// The single-node bus: publishing is delivering to this node's connections.
pub struct LocalBus {
    sink: Arc<dyn Deliver>,
}

impl LocalBus {
    pub fn new(sink: Arc<dyn Deliver>) -> Self {
        LocalBus { sink }
    }
}

impl Bus for LocalBus {
    fn publish(&self, user: UserId, message: BusMessage) {
        self.sink.deliver(user, message);
    }
}
