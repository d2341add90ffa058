//! Graceful drain: SIGTERM with 1,000 connected SDK clients. They are told to come back at
//! spread-out times, the node exits, a new one starts on the same address and data, and every
//! client is back within the drain window plus backoff, with nothing lost.

use crate::surge::UNTHROTTLED;
use crate::util::Server;
use chapar_proto::{Event, Target};
use chapar_sdk::{Auth, Client, ClientConfig, ClientEvent, Credentials};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CLIENTS: usize = 1000;
const DRAIN_SECS: u64 = 4;

struct Counters {
    connected: AtomicUsize,
    messages: AtomicUsize,
}

async fn connect(url: String, handle: String, counters: Arc<Counters>) -> Client {
    let config = ClientConfig {
        request_timeout: Duration::from_secs(60),
        send_attempts: 30,
        ..ClientConfig::default()
    };
    let auth = Auth::Register {
        handle,
        display_name: None,
        invite_code: None,
    };
    let (client, mut events) = Client::connect(vec![url], config, Credentials::generate(), auth, 0)
        .await
        .expect("connect");
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            match ev {
                ClientEvent::Connected(_) => {
                    counters.connected.fetch_add(1, Ordering::Relaxed);
                }
                ClientEvent::Feed(f) if matches!(f.event, Event::Message(_)) => {
                    counters.messages.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    });
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_thousand_clients_drains_and_all_return() {
    let drain = DRAIN_SECS.to_string();
    let mut env: Vec<(&str, &str)> = UNTHROTTLED.to_vec();
    env.extend([
        ("CHAPAR_GATEWAY__DRAIN_SECS", drain.as_str()),
        ("CHAPAR_ADMISSION__SIGNUPS_PER_ADDRESS__BURST", "5000"),
        (
            "CHAPAR_ADMISSION__SIGNUPS_PER_ADDRESS__PER_MINUTE",
            "600000",
        ),
        ("CHAPAR_DURABILITY", "normal"),
    ]);
    let mut server = Server::start_with(&env);
    let url = server.url();
    let counters = Arc::new(Counters {
        connected: AtomicUsize::new(0),
        messages: AtomicUsize::new(0),
    });
    let mut clients = Vec::with_capacity(CLIENTS);
    for chunk in 0..CLIENTS / 50 {
        let batch: Vec<_> = (0..50)
            .map(|i| {
                tokio::spawn(connect(
                    url.clone(),
                    format!("drain_{}", chunk * 50 + i),
                    counters.clone(),
                ))
            })
            .collect();
        for t in batch {
            clients.push(t.await.unwrap());
        }
    }
    // Ten of them share a group; one keeps posting through the restart.
    let members: Vec<String> = (1..10).map(|i| format!("drain_{i}")).collect();
    let group = clients[0]
        .create_group("through the restart", members)
        .await
        .unwrap()
        .id;
    let deadline = Instant::now() + Duration::from_secs(30);
    while counters.connected.load(Ordering::Relaxed) < CLIENTS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(counters.connected.load(Ordering::Relaxed), CLIENTS);
    let poster = clients[0].clone();
    let posting = tokio::spawn(async move {
        for n in 0..40 {
            poster
                .send_text(Target::Conversation(group), format!("post {n}"), None)
                .await
                .expect("acked eventually");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopped_at = Instant::now();
    server.terminate();
    assert!(
        stopped_at.elapsed() < Duration::from_secs(DRAIN_SECS + 3),
        "the node exits within its drain window"
    );
    server.restart();
    let restarted_at = Instant::now();
    // Everyone is back within the drain window plus backoff (the SDK obeys the spread hint).
    let limit = Duration::from_secs(DRAIN_SECS + 15);
    while counters.connected.load(Ordering::Relaxed) < 2 * CLIENTS && restarted_at.elapsed() < limit
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        counters.connected.load(Ordering::Relaxed),
        2 * CLIENTS,
        "every client reconnected"
    );
    posting.await.unwrap();
    // Nothing lost: the 10 members each got the created entry and all 40 posts, once.
    let want = 10 * 41;
    let deadline = Instant::now() + Duration::from_secs(30);
    while counters.messages.load(Ordering::Relaxed) < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(counters.messages.load(Ordering::Relaxed), want);
    let history = clients[5]
        .history(Target::Conversation(group), None, Some(100))
        .await
        .unwrap();
    assert_eq!(
        history.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=41).collect::<Vec<_>>()
    );
    for c in &clients {
        c.close();
    }
}
