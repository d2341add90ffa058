//! The NATS bus against real nats-servers: delivery between nodes exactly once, subscriptions
//! only while watched, cluster isolation, never blocking when NATS is down, and recovery after a
//! NATS restart.

use chapar_bus_nats::testing::{NatsServer, free_port, shared_url};
use chapar_bus_nats::{NatsBus, NatsOptions};
use chapar_core::bus::{Bus, BusMessage, Deliver};
use chapar_proto::{ConversationId, DeviceId, Event, Typing, UserId};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Sink(Mutex<Vec<(UserId, String)>>);

impl Deliver for Sink {
    fn deliver(&self, user: UserId, message: BusMessage) {
        let what = match message {
            BusMessage::Feed { pts, .. } => format!("feed {pts}"),
            BusMessage::Ephemeral(_) => "typing".to_string(),
            BusMessage::DeviceRevoked(d) => format!("revoked {}", d.0),
            BusMessage::Suspended => "suspended".to_string(),
            BusMessage::Presence { info, .. } => format!("presence {}", info.online),
            BusMessage::PresenceAsk => "ask".to_string(),
        };
        self.0.lock().unwrap().push((user, what));
    }
}

impl Sink {
    fn got(&self) -> Vec<(UserId, String)> {
        self.0.lock().unwrap().clone()
    }
}

fn typing() -> Arc<Event> {
    Arc::new(Event::Typing(Typing {
        conversation: ConversationId(1),
        user: UserId(1),
        handle: "a".into(),
    }))
}

fn feed(pts: u64) -> BusMessage {
    BusMessage::Feed {
        pts,
        event: typing(),
    }
}

async fn node(url: &str, prefix: &str) -> (NatsBus, Arc<Sink>) {
    let sink = Arc::new(Sink::default());
    let bus = NatsBus::connect(
        NatsOptions {
            url: url.to_string(),
            prefix: prefix.to_string(),
            ..NatsOptions::default()
        },
        sink.clone(),
    )
    .await
    .expect("connect");
    (bus, sink)
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    // Generous: on a loaded machine a reconnect can take seconds; only a failure waits this long.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn prefix(tag: &str) -> String {
    format!("test.{tag}.{}", rand::random::<u32>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_node_gets_each_message_once_and_only_while_watching() {
    let url = shared_url();
    let p = prefix("once");
    let (a, sink_a) = node(&url, &p).await;
    let (b, sink_b) = node(&url, &p).await;
    let u = UserId(7);
    a.watch(u);
    b.watch(u);
    b.watch(u); // a second connection of the same user on b
    until("subscriptions", || a.is_connected() && b.is_connected()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.publish(u, feed(1));
    b.publish(u, BusMessage::Ephemeral(typing()));
    a.publish(u, BusMessage::DeviceRevoked(DeviceId(3)));
    until("b gets a's two messages", || sink_b.got().len() >= 3).await;
    until("a gets b's one", || sink_a.got().len() >= 3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Once each, on both nodes (the order between two publishers is not defined).
    let want = vec![
        (u, "feed 1".to_string()),
        (u, "revoked 3".to_string()),
        (u, "typing".to_string()),
    ];
    let sorted = |mut v: Vec<(UserId, String)>| {
        v.sort();
        v
    };
    assert_eq!(sorted(sink_a.got()), want);
    assert_eq!(sorted(sink_b.got()), want);
    // One of b's two connections leaves: still subscribed. The second leaves: not any more.
    b.unwatch(u);
    a.publish(u, feed(2));
    until("still delivered", || sink_b.got().len() == 4).await;
    b.unwatch(u);
    tokio::time::sleep(Duration::from_millis(200)).await;
    a.publish(u, feed(3));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink_b.got().len(), 4, "no delivery after the last unwatch");
    assert_eq!(b.watched(), Vec::<UserId>::new());
    // Another cluster on the same NATS hears nothing.
    let (c, sink_c) = node(&url, &prefix("other")).await;
    c.watch(u);
    tokio::time::sleep(Duration::from_millis(200)).await;
    a.publish(u, feed(4));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sink_c.got().is_empty(), "clusters are isolated by prefix");
    assert!(a.stats().published.load(Ordering::Relaxed) >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_has_its_own_subjects() {
    let url = shared_url();
    let p = prefix("presence");
    let (a, _sink_a) = node(&url, &p).await;
    let (b, sink_b) = node(&url, &p).await;
    let u = UserId(7);
    // b watches u's presence only: u's feed does not come along.
    b.watch_presence(u);
    until("connected", || a.is_connected() && b.is_connected()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let online = |online| BusMessage::Presence {
        node: a.node_id(),
        info: chapar_proto::PresenceInfo {
            user: u,
            online,
            last_seen: Some(1),
        },
    };
    a.publish(u, feed(1));
    a.publish_presence(u, online(true));
    until("b hears u came online", || !sink_b.got().is_empty()).await;
    // The feed was published first on the same connection: had b been subscribed to it, it
    // would be here by now.
    assert_eq!(sink_b.got(), vec![(u, "presence true".to_string())]);
    b.unwatch_presence(u);
    b.watch(u);
    tokio::time::sleep(Duration::from_millis(200)).await;
    a.publish_presence(u, online(false));
    a.publish(u, BusMessage::PresenceAsk);
    until("b hears the ask on u's own subject", || {
        sink_b.got().len() == 2
    })
    .await;
    assert_eq!(sink_b.got()[1], (u, "ask".to_string()), "not the presence");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_down_never_blocks_and_local_delivery_goes_on() {
    // Nothing listens here: the bus starts anyway.
    let url = format!("nats://127.0.0.1:{}", free_port());
    let t = Instant::now();
    let (bus, sink) = node(&url, &prefix("down")).await;
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "starting does not wait for NATS"
    );
    let u = UserId(1);
    bus.watch(u);
    let t = Instant::now();
    for pts in 0..100_000 {
        bus.publish(u, feed(pts));
    }
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "publishing never blocks"
    );
    assert_eq!(
        sink.got().len(),
        100_000,
        "local connections still get everything"
    );
    until("drops counted", || {
        bus.stats().dropped.load(Ordering::Relaxed) >= 1
    })
    .await;
    assert!(!bus.is_connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_nats_restart_delivery_resumes_and_watched_users_are_resynced() {
    let mut server = NatsServer::start();
    let p = prefix("restart");
    let (a, _) = node(&server.url(), &p).await;
    let (b, sink_b) = node(&server.url(), &p).await;
    let resynced = Arc::new(Mutex::new(Vec::new()));
    let r = resynced.clone();
    b.set_resync_hook(Arc::new(move |u| r.lock().unwrap().push(u)));
    let u = UserId(5);
    b.watch(u);
    until("subscribed and resynced", || {
        resynced.lock().unwrap().len() == 1
    })
    .await;
    a.publish(u, feed(1));
    until("before the restart", || sink_b.got().len() == 1).await;

    server.kill();
    until("both see the outage", || {
        !a.is_connected() && !b.is_connected()
    })
    .await;
    a.publish(u, feed(2)); // lost: NATS is down (devices fill the gap from the store)
    server.start_again();
    until("reconnected", || a.is_connected() && b.is_connected()).await;
    until("watched users resynced after the reconnect", || {
        resynced.lock().unwrap().len() >= 2
    })
    .await;
    assert_eq!(b.stats().reconnects.load(Ordering::Relaxed), 1);
    // The subscription is back: new messages flow.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut pts = 3;
    while !sink_b
        .got()
        .iter()
        .any(|(_, m)| m.starts_with("feed") && m != "feed 1")
    {
        assert!(Instant::now() < deadline, "delivery did not resume");
        a.publish(u, feed(pts));
        pts += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
