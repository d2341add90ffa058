//! Reconnect: the server is killed (kill -9) and later stopped gracefully (SIGTERM) while SDK
//! clients are connected and sending; they reconnect, resync, and end with every message exactly
//! once, in order.

use crate::util::Server;
use chapar_proto::{ConversationId, Event, Pts, Target};
use chapar_sdk::{Auth, Client, ClientConfig, ClientEvent, Credentials};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Seen = Arc<Mutex<Vec<(Pts, ConversationId, u64)>>>;

async fn connect(url: &str, handle: &str) -> (Client, Seen) {
    let config = ClientConfig {
        request_timeout: Duration::from_secs(30),
        send_attempts: 20,
        ..ClientConfig::default()
    };
    let auth = Auth::Register {
        handle: handle.into(),
        display_name: None,
        invite_code: None,
    };
    let (client, mut events) = Client::connect(
        vec![url.to_string()],
        config,
        Credentials::generate(),
        auth,
        0,
    )
    .await
    .expect("connect");
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if let ClientEvent::Feed(f) = ev
                && let Event::Message(m) = &f.event
            {
                sink.lock().unwrap().push((f.pts, m.conversation, m.seq));
            }
        }
    });
    (client, seen)
}

async fn send_many(client: Client, group: ConversationId, tag: &str, n: usize) -> Vec<u64> {
    let mut acked = vec![];
    for i in 0..n {
        match client
            .send_text(Target::Conversation(group), format!("{tag}-{i}"), None)
            .await
        {
            Ok(sent) => acked.push(sent.seq),
            Err(e) => panic!("send {tag}-{i} failed after retries: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_reconnect_and_resync_across_restarts_with_nothing_lost_or_doubled() {
    let mut server = Server::start();
    let url = server.url();
    let (a, seen_a) = connect(&url, "rc_a").await;
    let (b, seen_b) = connect(&url, "rc_b").await;
    let (c, seen_c) = connect(&url, "rc_c").await;
    let group = a
        .create_group("restarts", vec!["rc_b".into(), "rc_c".into()])
        .await
        .expect("group")
        .id;

    let senders = [
        tokio::spawn(send_many(a.clone(), group, "a", 60)),
        tokio::spawn(send_many(b.clone(), group, "b", 60)),
    ];
    tokio::time::sleep(Duration::from_millis(250)).await;
    // A crash: no drain, no goodbye.
    server.restart();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A graceful stop: clients are told to come back later, then the node comes back.
    server.terminate();
    server.restart();
    let mut acked = vec![];
    for s in senders {
        acked.extend(s.await.expect("sender"));
    }
    assert_eq!(acked.len(), 120, "every send acknowledged in the end");

    let last_seq = 121; // the created entry and 120 messages
    let deadline = Instant::now() + Duration::from_secs(60);
    for (name, seen) in [("a", &seen_a), ("b", &seen_b), ("c", &seen_c)] {
        loop {
            let count = seen
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, conv, _)| *conv == group)
                .count();
            if count >= last_seq || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let events = seen.lock().unwrap().clone();
        let mut last_pts = 0;
        for (pts, _, _) in &events {
            assert!(*pts > last_pts, "{name}: pts not increasing: {events:?}");
            last_pts = *pts;
        }
        let seqs: Vec<u64> = events
            .iter()
            .filter(|(_, conv, _)| *conv == group)
            .map(|(_, _, s)| *s)
            .collect();
        assert_eq!(
            seqs,
            (1..=last_seq as u64).collect::<Vec<_>>(),
            "{name}: every message once, in order"
        );
    }
    // And the log agrees: one entry per acknowledged send.
    let history = c
        .history(Target::Conversation(group), None, Some(500))
        .await
        .expect("history");
    let mut by_seq: HashMap<u64, usize> = HashMap::new();
    for m in &history {
        *by_seq.entry(m.seq).or_default() += 1;
    }
    assert_eq!(history.len(), last_seq);
    for seq in acked {
        assert_eq!(by_seq.get(&seq), Some(&1));
    }
}
