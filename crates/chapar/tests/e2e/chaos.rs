//! Randomized chaos, seeded and reproducible: devices connect, send, disconnect, reconnect and
//! get throttled at random while the server is killed or stopped and restarted. At the end every
//! device's view of every conversation equals the store's log: nothing lost, nothing twice, in
//! order; and every acknowledged send is in the log exactly once.
//!
//! The seed is printed; rerun one with `CHAPAR_CHAOS_SEED=<seed>`.

use crate::util::Server;
use chapar_proto::{ConversationId, Event, Pts, Target};
use chapar_sdk::{Auth, Client, ClientConfig, ClientEvent, Credentials};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

type Seen = Arc<Mutex<Vec<(Pts, ConversationId, u64, Option<String>)>>>;

struct Device {
    handle: String,
    creds: Credentials,
    client: Option<Client>,
    collector: Option<JoinHandle<()>>,
    seen: Seen,
}

fn config() -> ClientConfig {
    ClientConfig {
        request_timeout: Duration::from_secs(60),
        send_attempts: 40,
        ..ClientConfig::default()
    }
}

impl Device {
    async fn start(&mut self, url: &str, auth: Auth) {
        let start_pts = self.seen.lock().unwrap().last().map_or(0, |e| e.0);
        let (client, mut events) = Client::connect(
            vec![url.to_string()],
            config(),
            self.creds.clone(),
            auth,
            start_pts,
        )
        .await
        .unwrap_or_else(|e| panic!("{} cannot connect: {e}", self.handle));
        self.creds = client.credentials();
        let seen = self.seen.clone();
        self.collector = Some(tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                if let ClientEvent::Feed(f) = ev
                    && let Event::Message(m) = &f.event
                {
                    seen.lock()
                        .unwrap()
                        .push((f.pts, m.conversation, m.seq, m.text.clone()));
                }
            }
        }));
        self.client = Some(client);
    }

    /// Disconnect, and wait until every event the old connection delivered is recorded.
    async fn stop(&mut self) {
        if let Some(c) = self.client.take() {
            self.creds = c.credentials();
            c.close();
        }
        if let Some(t) = self.collector.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_ends_with_every_device_seeing_exactly_the_log() {
    let seed: u64 = std::env::var("CHAPAR_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().r#gen());
    println!("chaos seed: {seed} (rerun with CHAPAR_CHAOS_SEED={seed})");
    eprintln!("chaos seed: {seed} (rerun with CHAPAR_CHAOS_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    // Tight send limits so bursts are throttled and retried.
    let mut server = Server::start_with(&[
        ("CHAPAR_RATE_LIMITS__SEND_PER_DEVICE__PER_MINUTE", "600"),
        ("CHAPAR_RATE_LIMITS__SEND_PER_DEVICE__BURST", "4"),
        ("CHAPAR_GATEWAY__DRAIN_SECS", "1"),
    ]);
    let url = server.url();
    let handles: Vec<String> = (0..6).map(|i| format!("chaos_{i}")).collect();
    let mut devices = vec![];
    for h in &handles {
        let mut d = Device {
            handle: h.clone(),
            creds: Credentials::generate(),
            client: None,
            collector: None,
            seen: Arc::default(),
        };
        d.start(
            &url,
            Auth::Register {
                handle: h.clone(),
                display_name: None,
                invite_code: None,
            },
        )
        .await;
        devices.push(d);
    }
    let group = devices[0]
        .client
        .as_ref()
        .unwrap()
        .create_group("chaos", handles[1..].to_vec())
        .await
        .unwrap()
        .id;

    let (mut restarts, mut disconnects) = (0, 0);
    let mut sends: Vec<JoinHandle<Option<(ConversationId, u64, String)>>> = vec![];
    let mut n = 0;
    for step in 0..200 {
        let roll = rng.gen_range(0..100);
        let who = rng.gen_range(0..devices.len());
        if roll < 55 {
            let Some(client) = devices[who].client.clone() else {
                continue;
            };
            let target = if rng.gen_bool(0.6) {
                Target::Conversation(group)
            } else {
                let mut other = rng.gen_range(0..handles.len());
                if other == who {
                    other = (other + 1) % handles.len();
                }
                Target::Peer(handles[other].clone())
            };
            let text = format!("s{step}-{n}");
            n += 1;
            sends.push(tokio::spawn(async move {
                match client.send_text(target, text.clone(), None).await {
                    Ok(s) => Some((s.conversation, s.seq, text)),
                    // A client closed while its send was pending: the outcome is unknown to
                    // it, and the log check below still holds.
                    Err(_) => None,
                }
            }));
        } else if roll < 70 {
            if devices[who].client.is_some() {
                disconnects += 1;
            }
            devices[who].stop().await;
        } else if roll < 85 {
            if devices[who].client.is_none() {
                devices[who].start(&url, Auth::Resume).await;
            }
        } else if roll < 90 {
            restarts += 1;
            if rng.gen_bool(0.5) {
                server.restart(); // kill -9, then start
            } else {
                server.terminate();
                server.restart();
            }
        } else {
            tokio::time::sleep(Duration::from_millis(rng.gen_range(0..150))).await;
        }
    }
    for d in devices.iter_mut() {
        if d.client.is_none() {
            d.start(&url, Auth::Resume).await;
        }
    }
    let mut acked = vec![];
    for s in sends {
        if let Some(a) = s.await.unwrap() {
            acked.push(a);
        }
    }
    eprintln!(
        "chaos: {} sends acked of {n}, {restarts} server restarts, {disconnects} disconnects",
        acked.len()
    );
    // Sends whose client was closed before the answer came have an unknown outcome (the checks
    // below hold either way); some must have gone through for the run to mean anything.
    assert!(!acked.is_empty(), "seed {seed}: no send was acknowledged");
    // The store's log, read through one device, for every conversation.
    let reader = devices[0].client.clone().unwrap();
    let mut logs: HashMap<ConversationId, Vec<(u64, Option<String>)>> = HashMap::new();
    let mut conversations: Vec<ConversationId> = reader
        .conversations()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    for d in &devices {
        for c in d.client.as_ref().unwrap().conversations().await.unwrap() {
            if !conversations.contains(&c.id) {
                conversations.push(c.id);
            }
        }
    }
    let mut member_of: HashMap<String, Vec<ConversationId>> = HashMap::new();
    for d in &devices {
        let mine = d
            .client
            .as_ref()
            .unwrap()
            .conversations()
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        member_of.insert(d.handle.clone(), mine);
    }
    for conv in &conversations {
        let owner = devices
            .iter()
            .find(|d| member_of[&d.handle].contains(conv))
            .unwrap();
        let history = owner
            .client
            .as_ref()
            .unwrap()
            .history(Target::Conversation(*conv), None, Some(500))
            .await
            .unwrap();
        logs.insert(
            *conv,
            history.into_iter().map(|m| (m.seq, m.text)).collect(),
        );
    }
    // Every acknowledged send is in the log once, with its seq.
    for (conv, seq, text) in &acked {
        let log = &logs[conv];
        assert_eq!(
            log.iter()
                .filter(|(_, t)| t.as_deref() == Some(text.as_str()))
                .count(),
            1,
            "seed {seed}: {text}"
        );
        assert!(
            log.iter()
                .any(|(s, t)| s == seq && t.as_deref() == Some(text.as_str())),
            "seed {seed}: {text} at {seq}"
        );
    }
    // Every device converges on exactly the log of each of its conversations.
    let deadline = Instant::now() + Duration::from_secs(60);
    for d in &devices {
        loop {
            let seen = d.seen.lock().unwrap().clone();
            let mut per_conv: BTreeMap<ConversationId, Vec<(u64, Option<String>)>> =
                BTreeMap::new();
            for (_, conv, seq, text) in &seen {
                per_conv
                    .entry(*conv)
                    .or_default()
                    .push((*seq, text.clone()));
            }
            let complete = member_of[&d.handle]
                .iter()
                .all(|c| per_conv.get(c).map_or(0, Vec::len) >= logs[c].len());
            if complete || Instant::now() > deadline {
                let pts: Vec<Pts> = seen.iter().map(|e| e.0).collect();
                assert!(
                    pts.windows(2).all(|w| w[0] < w[1]),
                    "seed {seed}: {} saw pts out of order",
                    d.handle
                );
                for c in &member_of[&d.handle] {
                    assert_eq!(
                        per_conv.get(c),
                        Some(&logs[c]),
                        "seed {seed}: {} in conversation {c}",
                        d.handle
                    );
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for d in devices.iter_mut() {
        d.stop().await;
    }
}
