//! PostgreSQL-specific behaviour: several nodes (stores) on one database, migrations racing at
//! start, the bounded write budget, and recovery after PostgreSQL drops every connection.

use chapar_core::store::{Command, Committed, NewAccount, Principal, Store, Target};
use chapar_core::{Error, Limits};
use chapar_proto::{ConversationId, Event, UserId};
use chapar_store_postgres::testing::{TestDatabase, admin_url};
use chapar_store_postgres::{PgOptions, PgStore, SCHEMA_VERSION};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

async fn open(db: &TestDatabase, options: PgOptions) -> PgStore {
    chapar_store_postgres::open(&db.url, options, Limits::default())
        .await
        .unwrap_or_else(|e| panic!("open: {e}"))
}

static KEY: AtomicU8 = AtomicU8::new(1);

async fn signup(s: &PgStore, handle: &str) -> Principal {
    let n = KEY.fetch_add(1, Ordering::Relaxed);
    s.create_account(NewAccount {
        handle: handle.into(),
        display_name: handle.into(),
        public_key: vec![n; 32],
        device_name: "test".into(),
        token_hash: [n; 32],
        invite_hash: None,
    })
    .await
    .unwrap_or_else(|e| panic!("sign-up: {e}"))
}

fn text(target: Target, cid: &str) -> Command {
    Command::Send {
        target,
        client_id: cid.into(),
        content_type: None,
        text: Some(cid.into()),
        data: None,
        reply_to: None,
    }
}

/// Send, retrying while the store says overloaded (the caller's job, as the SDK does).
async fn send(s: &PgStore, p: &Principal, target: Target, cid: &str) -> Committed {
    loop {
        match s.execute(p, text(target.clone(), cid)).await {
            Err(Error::Overloaded { .. }) => tokio::time::sleep(Duration::from_millis(5)).await,
            other => return other.unwrap_or_else(|e| panic!("send {cid}: {e}")),
        }
    }
}

type Announced = Arc<Mutex<Vec<(UserId, u64)>>>;

fn listen(s: &PgStore) -> Announced {
    let seen: Announced = Arc::default();
    let sink = Arc::clone(&seen);
    s.set_commit_listener(Arc::new(move |c: &Committed| {
        let mut seen = sink.lock().unwrap_or_else(|e| e.into_inner());
        for f in &c.fanout {
            seen.extend(f.recipients.iter().copied());
        }
    }));
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_writing_one_conversation_keep_seqs_and_pts_dense() {
    let db = TestDatabase::create("three_nodes").await;
    let nodes = [
        Arc::new(open(&db, PgOptions::default()).await),
        Arc::new(open(&db, PgOptions::default()).await),
        Arc::new(open(&db, PgOptions::default()).await),
    ];
    assert_eq!(nodes[0].cluster_id(), nodes[2].cluster_id());
    let announced: Vec<Announced> = nodes.iter().map(|n| listen(n)).collect();
    let mut people = Vec::new();
    for i in 0..6 {
        people.push(signup(&nodes[i % 3], &format!("node_user{i}")).await);
    }
    let handles: Vec<String> = (1..6).map(|i| format!("node_user{i}")).collect();
    let group = nodes[0]
        .execute(
            &people[0],
            Command::CreateGroup {
                title: "busy".into(),
                members: handles,
                client_id: "g".into(),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("group: {e}"))
        .conversation;
    const EACH: usize = 60;
    let mut tasks = Vec::new();
    for (i, p) in people.iter().enumerate() {
        // Every person sends into the group and to a direct peer, from their node.
        let (node, p) = (Arc::clone(&nodes[i % 3]), p.clone());
        let peer = format!("node_user{}", (i + 1) % 6);
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for n in 0..EACH {
                let c = send(
                    &node,
                    &p,
                    Target::Conversation(group),
                    &format!("{}-{n}", p.user.handle),
                )
                .await;
                seqs.push(c.seq.unwrap_or(0));
                send(
                    &node,
                    &p,
                    Target::Peer(peer.clone()),
                    &format!("d-{}-{n}", p.user.handle),
                )
                .await;
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let seqs = t.await.unwrap_or_else(|e| panic!("sender: {e}"));
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "a sender's seqs increase"
        );
        all.extend(seqs);
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (2..=(6 * EACH + 1) as u64).collect::<Vec<_>>(),
        "group seqs dense and unique across nodes"
    );
    // Every feed is dense from 1 and holds the whole group log in order.
    for p in &people {
        let mut pts = 0;
        let mut group_seqs = Vec::new();
        loop {
            let page = nodes[1]
                .feed(p, pts, 500)
                .await
                .unwrap_or_else(|e| panic!("feed: {e}"));
            for e in &page.events {
                assert_eq!(e.pts, pts + 1, "feed pts dense");
                pts = e.pts;
                if let Event::Message(m) = &e.event
                    && m.conversation == group
                {
                    group_seqs.push(m.seq);
                }
            }
            if !page.more {
                break;
            }
        }
        assert_eq!(group_seqs, (1..=(6 * EACH + 1) as u64).collect::<Vec<_>>());
        assert_eq!(nodes[2].head_pts(p.user.id).await.ok(), Some(pts));
    }
    // Each node announced its own commits with every user's pts increasing.
    let mut total: HashMap<UserId, usize> = HashMap::new();
    for seen in &announced {
        let seen = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut last: HashMap<UserId, u64> = HashMap::new();
        for (user, pts) in seen {
            let prev = last.insert(user, pts).unwrap_or(0);
            assert!(pts > prev, "a node announces a user's pts in order");
            *total.entry(user).or_default() += 1;
        }
    }
    for p in &people {
        let head = nodes[0].head_pts(p.user.id).await.unwrap_or(0);
        assert_eq!(
            total.get(&p.user.id).copied().unwrap_or(0) as u64,
            head,
            "all announced once"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_first_messages_make_one_direct_conversation() {
    let db = TestDatabase::create("direct_race").await;
    let (n1, n2) = (
        open(&db, PgOptions::default()).await,
        open(&db, PgOptions::default()).await,
    );
    for round in 0..10 {
        let a = signup(&n1, &format!("ra_{round}")).await;
        let b = signup(&n2, &format!("rb_{round}")).await;
        let (x, y) = tokio::join!(
            send(&n1, &a, Target::Peer(b.user.handle.clone()), "hi"),
            send(&n2, &b, Target::Peer(a.user.handle.clone()), "hey"),
        );
        assert_eq!(x.conversation, y.conversation, "one conversation per pair");
        let mut seqs = [x.seq, y.seq];
        seqs.sort();
        assert_eq!(seqs, [Some(1), Some(2)]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_once() {
    let db = TestDatabase::create("migrate_race").await;
    let opened = futures_join_all(
        (0..4)
            .map(|_| {
                let url = db.url.clone();
                async move {
                    chapar_store_postgres::open(&url, PgOptions::default(), Limits::default()).await
                }
            })
            .collect(),
    )
    .await;
    let mut ids = Vec::new();
    for s in opened {
        let s = s.unwrap_or_else(|e| panic!("open: {e}"));
        assert_eq!(s.schema_version().await.ok(), Some(SCHEMA_VERSION));
        ids.push(s.cluster_id().to_string());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one cluster id");
    // Opening again is a no-op.
    let again = open(&db, PgOptions::default()).await;
    assert_eq!(again.schema_version().await.ok(), Some(SCHEMA_VERSION));
}

async fn futures_join_all<F>(futs: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut handles = Vec::new();
    for f in futs {
        handles.push(tokio::spawn(f));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap_or_else(|e| panic!("task: {e}")));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_write_budget_is_overloaded_and_acked_writes_are_kept() {
    let db = TestDatabase::create("budget").await;
    let options = PgOptions {
        write_queue: 2,
        connections: 2,
        ..PgOptions::default()
    };
    let s = Arc::new(open(&db, options).await);
    let a = signup(&s, "budget_a").await;
    signup(&s, "budget_b").await;
    let conv = send(&s, &a, Target::Peer("budget_b".into()), "first")
        .await
        .conversation;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let (s, a) = (Arc::clone(&s), a.clone());
        tasks.spawn(async move {
            let cid = format!("m{i}");
            (
                cid.clone(),
                s.execute(&a, text(Target::Conversation(conv), &cid)).await,
            )
        });
    }
    let (mut acked, mut refused) = (Vec::new(), 0);
    while let Some(r) = tasks.join_next().await {
        let (cid, r) = r.unwrap_or_else(|e| panic!("task: {e}"));
        match r {
            Ok(c) => acked.push((cid, c.seq)),
            Err(Error::Overloaded { retry_after_ms, .. }) => {
                assert!(retry_after_ms > 0);
                refused += 1;
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert!(
        refused > 0,
        "a budget of 2 refuses some of 200 concurrent writes"
    );
    let history = s
        .history(&a, Target::Conversation(conv), None, 500)
        .await
        .unwrap_or_else(|e| panic!("history: {e}"));
    assert_eq!(
        history.len(),
        acked.len() + 1,
        "exactly the acked writes are in the log"
    );
    for (cid, seq) in acked {
        let m = history
            .iter()
            .find(|m| Some(m.seq) == seq)
            .unwrap_or_else(|| panic!("acked {cid} missing"));
        assert_eq!(m.client_id, cid);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_fail_fast_and_the_store_recovers_by_itself() {
    let db = TestDatabase::create("dropped").await;
    let s = open(&db, PgOptions::default()).await;
    let a = signup(&s, "drop_a").await;
    signup(&s, "drop_b").await;
    let conv = send(&s, &a, Target::Peer("drop_b".into()), "before")
        .await
        .conversation;
    // PostgreSQL ends every session of this database (as on a restart or failover).
    let (admin, driver) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("admin: {e}"));
    let driver = tokio::spawn(driver);
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db.name],
        )
        .await
        .unwrap_or_else(|e| panic!("terminate: {e}"));
    drop(admin);
    let _ = driver.await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The next writes either succeed on a new connection or fail as `unavailable`, at once;
    // within a few attempts the store is back.
    let start = Instant::now();
    let mut ok = 0;
    for i in 0..20 {
        let t = Instant::now();
        match s
            .execute(&a, text(Target::Conversation(conv), &format!("after-{i}")))
            .await
        {
            Ok(_) => ok += 1,
            Err(Error::Unavailable(_)) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
        assert!(t.elapsed() < Duration::from_secs(2), "fails fast");
    }
    assert!(ok >= 15, "recovered by itself ({ok} of 20 after the drop)");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(s.ping().await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_conversation_and_bad_url_are_typed_errors() {
    let db = TestDatabase::create("errors").await;
    let s = open(&db, PgOptions::default()).await;
    let a = signup(&s, "err_a").await;
    let r = s
        .execute(&a, text(Target::Conversation(ConversationId(42)), "x"))
        .await;
    assert!(matches!(r, Err(Error::Forbidden(_))), "{r:?}");
    let bad = chapar_store_postgres::open(
        "not a url at all://",
        PgOptions::default(),
        Limits::default(),
    )
    .await;
    assert!(bad.is_err());
    // Nothing listens on port 1: a clear `unavailable`, quickly.
    let t = Instant::now();
    let closed = chapar_store_postgres::open(
        "postgres://postgres@127.0.0.1:1/x",
        PgOptions::default(),
        Limits::default(),
    )
    .await;
    assert!(matches!(closed, Err(Error::Unavailable(_))));
    assert!(t.elapsed() < Duration::from_secs(5));
}
