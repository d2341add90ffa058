//! Surges: connection floods over the cap, lagging readers, a full write queue, rate limits and
//! the sign-up waiting room. Each checks that people already in keep being served and that
//! nothing acknowledged is lost.

use crate::bad_input::reqwest_free_get;
use crate::util::Server;
use crate::util::raw::Raw;
use chapar_proto::frame::*;
use chapar_proto::*;
use std::time::{Duration, Instant};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Error as WsError;

/// Per-connection and per-device limits out of the way, for tests that push volume.
pub const UNTHROTTLED: &[(&str, &str)] = &[
    ("CHAPAR_LIMITS__REQUESTS_PER_SECOND", "1000000"),
    ("CHAPAR_LIMITS__REQUEST_BURST", "1000000"),
    ("CHAPAR_RATE_LIMITS__SEND_PER_DEVICE__PER_MINUTE", "0"),
    ("CHAPAR_RATE_LIMITS__SEND_PER_ACCOUNT__PER_MINUTE", "0"),
];

fn env(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    UNTHROTTLED.iter().chain(extra).copied().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_over_the_cap_is_refused_while_admitted_clients_keep_talking() {
    let mut server = Server::start_with(&[("CHAPAR_ADMISSION__MAX_CONNECTIONS", "40")]);
    let url = server.ws_url();
    let mut a = Raw::register(&url, "flood_a").await;
    let mut b = Raw::register(&url, "flood_b").await;
    let mut held = vec![];
    let mut refused = 0;
    for _ in 0..240 {
        match tokio_tungstenite::connect_async(url.clone()).await {
            Ok((ws, _)) => held.push(ws),
            Err(WsError::Http(resp)) => {
                assert_eq!(resp.status().as_u16(), 503);
                let retry: u64 = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .expect("Retry-After in seconds");
                assert!((1..=10).contains(&retry), "{retry}");
                refused += 1;
            }
            Err(e) => panic!("unexpected connect error: {e}"),
        }
    }
    assert_eq!(held.len(), 38, "exactly up to the cap of 40");
    assert_eq!(refused, 202);
    // Those already in keep exchanging messages, both ways.
    let sent = a
        .send_to_peer("flood_b", "still here?", "f1")
        .await
        .unwrap();
    b.wait_event(|e| matches!(e, Event::Message(m) if m.seq == sent.seq))
        .await;
    b.send_text(sent.conversation, "yes", "f2").await.unwrap();
    a.wait_event(|e| matches!(e, Event::Message(m) if m.text.as_deref() == Some("yes")))
        .await;
    assert!(server.is_running());
    let rss = server.rss_kib();
    assert!(
        rss < 150 * 1024,
        "server memory {rss} KiB over the 150 MiB bound"
    );
    let metrics = reqwest_free_get(server.metrics_addr(), "/metrics").await;
    assert!(
        metrics.contains("chapar_admissions_refused_total{reason=\"cap\"} 202"),
        "{metrics}"
    );
    assert!(metrics.contains("chapar_connections_max 40"));
    // When the crowd leaves, newcomers get in again.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match tokio_tungstenite::connect_async(url.clone()).await {
            Ok(_) => break,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("still refused after the flood left: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accept_budget_refuses_a_burst_of_new_connections() {
    let server = Server::start_with(&[
        ("CHAPAR_ADMISSION__ACCEPTS_PER_SECOND", "2"),
        ("CHAPAR_ADMISSION__ACCEPT_BURST", "5"),
    ]);
    let mut ok = vec![];
    let mut refused = 0;
    for _ in 0..12 {
        match tokio_tungstenite::connect_async(server.ws_url()).await {
            Ok((ws, _)) => ok.push(ws),
            Err(WsError::Http(resp)) if resp.status().as_u16() == 503 => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!((5..=6).contains(&ok.len()), "admitted {}", ok.len());
    assert_eq!(ok.len() + refused, 12);
}

/// A socket with a tiny receive buffer, so a client that stops reading backs up quickly.
async fn slow_reader(url: &str) -> Raw {
    let addr = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(
        format!("{url}?encoding=json"),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
    )
    .await
    .unwrap();
    Raw::from_ws(ws, Encoding::Json).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_off_as_lagging_and_resyncs_everything() {
    let server = Server::start_with(&env(&[("CHAPAR_GATEWAY__OUTBOUND_QUEUE", "64")]));
    let url = server.ws_url();
    let mut slow = slow_reader(&url).await;
    slow.sign_up("lag_slow").await;
    let mut fast = Raw::register(&url, "lag_fast").await;
    let mut sender = Raw::register(&url, "lag_send").await;
    let group = sender
        .create_group("firehose", &["lag_slow", "lag_fast"])
        .await;
    // The slow client stops reading now. 2,000 messages of 3,000 characters (about 6 MB)
    // overflow its socket and then its outbound queue of 64 frames.
    let text = "x".repeat(3000);
    const N: u64 = 2000;
    let sending = tokio::spawn(async move {
        // The sender reads its replies every 10 sends, so its own queue never backs up.
        for chunk in 0..N / 10 {
            let mut ids = vec![];
            for n in chunk * 10..chunk * 10 + 10 {
                let id = sender
                    .send_request(Request::Send(Send {
                        conversation: Some(group),
                        peer: None,
                        client_id: format!("lag-{n}"),
                        content_type: None,
                        text: Some(format!("{n} {text}")),
                        data: None,
                        reply_to: None,
                    }))
                    .await;
                ids.push(id);
            }
            for id in ids {
                sender.reply(id).await.expect("every send acknowledged");
            }
            sender.pending.clear();
        }
        sender
    });
    // Everyone else is served in full, in order: the created entry, then the N messages.
    let last = N + 1;
    for want in 1..=last {
        let (_, ev) = fast
            .wait_event(|e| matches!(e, Event::Message(m) if m.conversation == group))
            .await;
        if let Event::Message(m) = ev {
            assert_eq!(m.seq, want, "the fast reader sees every message in order");
        }
    }
    let _sender = sending.await.unwrap();
    // The slow one finds it was disconnected as lagging (if the reason got through its full
    // socket at all), and the connection is gone.
    let control = slow.wait_close().await;
    if let Some(c) = control {
        assert_eq!(c.reason, "lagging");
    }
    let metrics = reqwest_free_get(server.metrics_addr(), "/metrics").await;
    assert!(
        metrics.contains("chapar_lagging_disconnects_total 1"),
        "{metrics}"
    );
    // Back again: a sync brings everything, once, in order.
    let mut back = slow.reconnect(&url).await.unwrap();
    let events = back.sync_all(0).await;
    let seqs: Vec<u64> = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::Message(m) if m.conversation == group => Some(m.seq),
            _ => None,
        })
        .collect();
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_write_queue_refuses_with_a_retry_hint_and_never_acks_what_it_did_not_commit() {
    let server = Server::start_with(&env(&[
        ("CHAPAR_STORE__WRITE_QUEUE", "1"),
        ("CHAPAR_STORE__MAX_BATCH", "1"),
    ]));
    let url = server.ws_url();
    let mut reader = Raw::register(&url, "wq_reader").await;
    let mut writers = vec![];
    for i in 0..4 {
        writers.push(Raw::register(&url, &format!("wq_w{i}")).await);
    }
    let group = writers[0]
        .create_group("queue", &["wq_w1", "wq_w2", "wq_w3", "wq_reader"])
        .await;
    let tasks: Vec<_> = writers
        .into_iter()
        .enumerate()
        .map(|(i, mut w)| {
            tokio::spawn(async move {
                let mut ids = vec![];
                for n in 0..150 {
                    let id = w
                        .send_request(Request::Send(Send {
                            conversation: Some(group),
                            peer: None,
                            client_id: format!("q{i}-{n}"),
                            content_type: None,
                            text: Some(format!("{i}:{n}")),
                            data: None,
                            reply_to: None,
                        }))
                        .await;
                    ids.push(id);
                }
                let (mut acked, mut refused) = (vec![], 0);
                for id in ids {
                    match w.reply(id).await {
                        Ok(Response::Sent(s)) => acked.push(s.seq),
                        Err(e) => {
                            assert_eq!(e.code, ErrorCode::Overloaded, "{e}");
                            assert!(e.code.is_retryable());
                            assert!(e.retry_after_ms.is_some_and(|ms| ms > 0));
                            refused += 1;
                        }
                        Ok(other) => panic!("{other:?}"),
                    }
                }
                (acked, refused, w)
            })
        })
        .collect();
    let mut acked = vec![];
    let mut refused = 0;
    let mut writers = vec![];
    for t in tasks {
        let (a, r, w) = t.await.unwrap();
        acked.extend(a);
        refused += r;
        writers.push(w);
    }
    assert!(refused > 0, "the queue of one never filled up");
    assert!(!acked.is_empty());
    // Exactly the acknowledged messages are in the log, densely numbered after the created entry.
    let history = reader.history(group).await.unwrap();
    acked.sort_unstable();
    let logged: Vec<u64> = history.iter().skip(1).map(|m| m.seq).collect();
    assert_eq!(logged, acked, "acked = committed, nothing else");
    // Service resumes by itself once the burst is over.
    let s = writers[0]
        .send_text(group, "calm again", "q-after")
        .await
        .expect("send after the burst");
    assert_eq!(s.seq, acked.len() as u64 + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_with_a_hint_and_recover_after_the_window() {
    let server = Server::start_with(&[
        ("CHAPAR_RATE_LIMITS__SEND_PER_DEVICE__PER_MINUTE", "60"),
        ("CHAPAR_RATE_LIMITS__SEND_PER_DEVICE__BURST", "3"),
        ("CHAPAR_ADMISSION__SIGNUPS_PER_ADDRESS__BURST", "4"),
        ("CHAPAR_ADMISSION__SIGNUPS_PER_ADDRESS__PER_MINUTE", "6"),
    ]);
    let url = server.ws_url();
    let mut a = Raw::register(&url, "rl_a").await;
    let _b = Raw::register(&url, "rl_b").await;
    for n in 0..3 {
        a.send_to_peer("rl_b", "hi", &format!("r{n}"))
            .await
            .expect("within the burst");
    }
    let e = a
        .send_to_peer("rl_b", "one too many", "r3")
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::RateLimited);
    let wait = e.retry_after_ms.expect("retry hint");
    assert!((1..=1100).contains(&wait), "{wait}");
    // Reads are limited separately: still fine.
    assert!(a.call(Request::Conversations).await.is_ok());
    tokio::time::sleep(Duration::from_millis(wait + 50)).await;
    a.send_to_peer("rl_b", "one too many", "r3")
        .await
        .expect("allowed again after the hint");
    // Sign-ups from one address: two more fit in the burst of 4, then the limit answers.
    let _c = Raw::register(&url, "rl_c").await;
    let _d = Raw::register(&url, "rl_d").await;
    let mut e5 = Raw::connect(&url, Encoding::Json).await;
    let sig = e5.sign();
    let err = e5
        .call(Request::Register(Register {
            handle: "rl_e".into(),
            display_name: None,
            public_key: e5.key.verifying_key().to_bytes().to_vec().into(),
            signature: sig,
            device_name: None,
            invite_code: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::RateLimited);
    assert!(err.retry_after_ms.is_some());
    let metrics = reqwest_free_get(server.metrics_addr(), "/metrics").await;
    assert!(
        metrics.contains("chapar_rate_limited_total{limiter=\"send_per_device\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("chapar_signups_refused_total{reason=\"address_budget\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signup_rush_gets_a_waiting_room_answer_and_gets_in_later() {
    let server = Server::start_with(&[
        ("CHAPAR_ADMISSION__SIGNUPS_PER_SECOND", "2"),
        ("CHAPAR_ADMISSION__SIGNUP_BURST", "2"),
    ]);
    let url = server.ws_url();
    let mut admitted = 0;
    let mut waiting = vec![];
    for i in 0..6 {
        let mut c = Raw::connect(&url, Encoding::Json).await;
        let handle = format!("rush_{i}");
        let sig = c.sign();
        let reg = Register {
            handle: handle.clone(),
            display_name: None,
            public_key: c.key.verifying_key().to_bytes().to_vec().into(),
            signature: sig,
            device_name: None,
            invite_code: None,
        };
        match c.call(Request::Register(reg.clone())).await {
            Ok(_) => admitted += 1,
            Err(e) => {
                assert_eq!(e.code, ErrorCode::Overloaded);
                assert!(e.message.contains("waiting room"), "{}", e.message);
                waiting.push((c, reg, e.retry_after_ms.expect("when to come back")));
            }
        }
    }
    assert_eq!(admitted, 2);
    // Everyone told to wait gets in by coming back when told (the challenge is per connection,
    // so the same connection signs again).
    for (mut c, reg, wait) in waiting {
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let mut attempt = 0;
        loop {
            match c.call(Request::Register(reg.clone())).await {
                Ok(_) => break,
                Err(e) if e.code == ErrorCode::Overloaded && attempt < 20 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(e.retry_after_ms.unwrap_or(500)))
                        .await;
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_waits_at_a_full_node_as_told_and_gets_in_when_room_frees_up() {
    use chapar_sdk::{Auth, Client, ClientConfig, Credentials};
    let server = Server::start_with(&[
        ("CHAPAR_ADMISSION__MAX_CONNECTIONS", "5"),
        ("CHAPAR_ADMISSION__RETRY_AFTER_SECS", "1"),
    ]);
    let mut crowd = vec![];
    for _ in 0..5 {
        crowd.push(
            tokio_tungstenite::connect_async(server.ws_url())
                .await
                .expect("room for five")
                .0,
        );
    }
    let url = server.url();
    let started = Instant::now();
    let joining = tokio::spawn(async move {
        let config = ClientConfig {
            initial_attempts: 10,
            ..ClientConfig::default()
        };
        let auth = Auth::Register {
            handle: "patient".into(),
            display_name: None,
            invite_code: None,
        };
        Client::connect(vec![url], config, Credentials::generate(), auth, 0).await
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!joining.is_finished(), "refused while the node is full");
    drop(crowd);
    let (client, _events) = joining.await.unwrap().expect("gets in once there is room");
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert_eq!(client.session().unwrap().user.handle, "patient");
    let metrics = reqwest_free_get(server.metrics_addr(), "/metrics").await;
    assert!(
        !metrics.contains("chapar_admissions_refused_total{reason=\"cap\"} 0"),
        "{metrics}"
    );
}
