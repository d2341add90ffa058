//! SQLite-specific behaviour: the bounded write queue, savepoint isolation inside a batch,
//! durability across close and reopen, and migrations.

use chapar_core::store::{Command, NewAccount, Principal, Store, Target};
use chapar_core::{Error, Limits};
use chapar_proto::ConversationId;
use chapar_store_sqlite::{Durability, SCHEMA_VERSION, SqliteOptions, SqliteStore};
use std::path::Path;
use std::sync::Arc;
use tokio::task::JoinSet;

fn open(path: &Path, options: SqliteOptions) -> SqliteStore {
    chapar_store_sqlite::open(path, options, Limits::default())
        .unwrap_or_else(|e| panic!("open: {e}"))
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

async fn signup(s: &SqliteStore, handle: &str, n: u8) -> Principal {
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

fn text(conv: ConversationId, cid: &str, body: &str) -> Command {
    Command::Send {
        target: Target::Conversation(conv),
        client_id: cid.into(),
        content_type: None,
        text: Some(body.into()),
        data: None,
        reply_to: None,
    }
}

async fn pair(s: &SqliteStore) -> (Principal, Principal, ConversationId) {
    let a = signup(s, "alice", 1).await;
    let b = signup(s, "bob", 2).await;
    let first = s
        .execute(
            &a,
            Command::Send {
                target: Target::Peer("bob".into()),
                client_id: "first".into(),
                content_type: None,
                text: Some("salam".into()),
                data: None,
                reply_to: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("first send: {e}"));
    (a, b, first.conversation)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_write_queue_is_overloaded_and_acked_writes_are_kept() {
    let dir = tempdir();
    let options = SqliteOptions {
        write_queue: 1,
        ..SqliteOptions::default()
    };
    let s = Arc::new(open(dir.path(), options));
    let (alice, _, conv) = pair(&s).await;
    let mut tasks = JoinSet::new();
    for i in 0..400 {
        let (s, alice) = (Arc::clone(&s), alice.clone());
        tasks.spawn(async move {
            let cid = format!("m{i}");
            (cid.clone(), s.execute(&alice, text(conv, &cid, &cid)).await)
        });
    }
    let (mut acked, mut overloaded) = (Vec::new(), 0);
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap_or_else(|e| panic!("task: {e}")) {
            (cid, Ok(c)) => acked.push((c.seq.unwrap_or(0), cid)),
            (_, Err(Error::Overloaded { retry_after_ms, .. })) => {
                assert!(retry_after_ms > 0);
                overloaded += 1;
            }
            (_, Err(e)) => panic!("unexpected error: {e}"),
        }
    }
    assert!(
        overloaded > 0,
        "a 1-slot queue under 400 concurrent sends must refuse some"
    );
    assert!(!acked.is_empty(), "some sends must get through");
    acked.sort();
    let history = s
        .history(&alice, Target::Conversation(conv), None, 500)
        .await
        .unwrap_or_else(|e| panic!("history: {e}"));
    assert_eq!(
        history.len(),
        acked.len() + 1,
        "exactly the acked sends were appended"
    );
    for (m, (seq, cid)) in history.iter().skip(1).zip(&acked) {
        assert_eq!(
            (m.seq, &m.client_id, m.text.as_deref()),
            (*seq, cid, Some(cid.as_str()))
        );
    }
    let seqs: Vec<u64> = history.iter().map(|m| m.seq).collect();
    assert_eq!(
        seqs,
        (1..=history.len() as u64).collect::<Vec<_>>(),
        "dense seqs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_job_rolls_back_only_itself() {
    let dir = tempdir();
    let s = Arc::new(open(dir.path(), SqliteOptions::default()));
    let (alice, _, conv) = pair(&s).await;
    let mut tasks = JoinSet::new();
    for i in 0..200 {
        let (s, alice) = (Arc::clone(&s), alice.clone());
        tasks.spawn(async move {
            // Odd sends are invalid (blank text) and fail inside the shared batch transaction.
            let body = if i % 2 == 0 { "ok" } else { "   " };
            (
                i,
                s.execute(&alice, text(conv, &format!("c{i}"), body)).await,
            )
        });
    }
    let mut seqs = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap_or_else(|e| panic!("task: {e}")) {
            (i, Ok(c)) if i % 2 == 0 => seqs.push(c.seq.unwrap_or(0)),
            (i, Err(Error::Invalid(_))) if i % 2 == 1 => {}
            (i, other) => panic!("send {i}: unexpected {other:?}"),
        }
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (2..=101).collect::<Vec<u64>>());
    let history = s
        .history(&alice, Target::Conversation(conv), None, 500)
        .await
        .unwrap_or_else(|e| panic!("history: {e}"));
    assert_eq!(history.len(), 101);
}

#[tokio::test]
async fn data_survives_close_and_reopen() {
    let dir = tempdir();
    let (alice, conv, head) = {
        let s = open(dir.path(), SqliteOptions::default());
        let (alice, _, conv) = pair(&s).await;
        for i in 0..10 {
            s.execute(&alice, text(conv, &format!("k{i}"), "kept"))
                .await
                .unwrap_or_else(|e| panic!("send: {e}"));
        }
        let head = s
            .head_pts(alice.user.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (alice, conv, head)
    };
    let s = open(dir.path(), SqliteOptions::default());
    assert_eq!(s.session([1; 32]).await.ok().flatten(), Some(alice.clone()));
    let history = s
        .history(&alice, Target::Conversation(conv), None, 100)
        .await
        .unwrap_or_else(|e| panic!("history: {e}"));
    assert_eq!(history.len(), 11);
    assert_eq!(s.head_pts(alice.user.id).await.ok(), Some(head));
    // Sequencing continues where it stopped, and old client_ids are still remembered.
    let again = s
        .execute(&alice, text(conv, "k3", "kept"))
        .await
        .unwrap_or_else(|e| panic!("retry: {e}"));
    assert!(again.duplicate);
    let next = s
        .execute(&alice, text(conv, "k10", "new"))
        .await
        .unwrap_or_else(|e| panic!("send: {e}"));
    assert_eq!(next.seq, Some(12));
}

#[tokio::test]
async fn migrations_are_idempotent_and_versioned() {
    let dir = tempdir();
    let file = dir.path().join("nested").join("chat.db");
    {
        let s = open(&file, SqliteOptions::default());
        assert_eq!(s.path(), file.as_path());
        assert_eq!(s.schema_version().await.ok(), Some(SCHEMA_VERSION));
        signup(&s, "alice", 1).await;
        s.ping().await.unwrap_or_else(|e| panic!("ping: {e}"));
    }
    for durability in [Durability::Normal, Durability::Full] {
        let options = SqliteOptions {
            durability,
            ..SqliteOptions::default()
        };
        let s = open(&file, options);
        assert_eq!(s.schema_version().await.ok(), Some(SCHEMA_VERSION));
        assert!(
            s.user_by_handle("alice").await.is_ok(),
            "data kept across migrations"
        );
    }
    // A database from a newer binary is refused rather than misread.
    {
        let conn = rusqlite::Connection::open(&file).unwrap_or_else(|e| panic!("{e}"));
        conn.execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    match chapar_store_sqlite::open(&file, SqliteOptions::default(), Limits::default()) {
        Err(Error::Unavailable(_)) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a newer schema must be refused"),
    }
}

#[tokio::test]
async fn a_directory_holds_chapar_db() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let s = open(&data, SqliteOptions::default());
    assert_eq!(s.path(), data.join("chapar.db").as_path());
    assert!(data.join("chapar.db").exists());
}

/// The data directory and every database file are readable by their owner only, whatever the
/// umask: the database holds session and code hashes and every message.
#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir();
    let data = dir.path().join("data");
    let s = open(&data, SqliteOptions::default());
    signup(&s, "alice", 1).await;
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&data), 0o700, "data directory");
    for name in ["chapar.db", "chapar.db-wal", "chapar.db-shm"] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    drop(s);
    // An existing database made under a loose umask is tightened when opened.
    let db = data.join("chapar.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644))
        .unwrap_or_else(|e| panic!("chmod: {e}"));
    let s = open(&data, SqliteOptions::default());
    assert_eq!(mode(&db), 0o600, "reopened database");
    drop(s);
}

/// What the person's device list says about when their first device's session ends if unused.
async fn expires(s: &SqliteStore, who: Principal) -> Option<i64> {
    let devices = s
        .devices(&who)
        .await
        .unwrap_or_else(|e| panic!("devices: {e}"));
    devices[0].session_expires_at
}

/// A session unused for longer than `session_idle_days` stops working; using it (the gateway
/// touches it at sign-in and while connected) starts its idle time again. The database's own
/// timestamps are moved back, since a test cannot wait 180 days.
#[tokio::test]
async fn idle_sessions_expire_and_use_keeps_them() {
    let dir = tempdir();
    let file = dir.path().join("chat.db");
    let limits = Limits {
        session_idle_days: 30,
        ..Limits::default()
    };
    let store = |limits: &Limits| {
        chapar_store_sqlite::open(&file, SqliteOptions::default(), limits.clone())
            .unwrap_or_else(|e| panic!("open: {e}"))
    };
    let age = |token: u8, days: i64| {
        let conn = rusqlite::Connection::open(&file).unwrap_or_else(|e| panic!("{e}"));
        conn.execute(
            "UPDATE sessions SET last_used_at = last_used_at - ?2 * 86400000
             WHERE token_hash = ?1",
            rusqlite::params![vec![token; 32], days],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        conn.execute(
            "UPDATE devices SET last_seen = last_seen - ?2 * 86400000
             WHERE id = (SELECT device_id FROM sessions WHERE token_hash = ?1)",
            rusqlite::params![vec![token; 32], days],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    };
    const DAY: i64 = 86_400_000;
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    };

    {
        let s = store(&limits);
        signup(&s, "alice", 1).await;
        signup(&s, "bob", 2).await;
    }
    age(1, 31);
    age(2, 29);
    let s = store(&limits);
    assert_eq!(
        s.session([1; 32]).await.ok().flatten(),
        None,
        "idle 31 days: expired"
    );
    let bob = s.session([2; 32]).await.ok().flatten();
    let Some(bob) = bob else {
        panic!("idle 29 days: still valid");
    };
    let left = expires(&s, bob.clone()).await.map(|at| at - now());
    assert!(
        left.is_some_and(|ms| ms > 0 && ms <= DAY),
        "the device list shows the session ends within a day: {left:?}"
    );
    s.touch_session([2; 32])
        .await
        .unwrap_or_else(|e| panic!("touch: {e}"));
    let left = expires(&s, bob.clone()).await.map(|at| at - now());
    assert!(
        left.is_some_and(|ms| ms > 29 * DAY && ms <= 30 * DAY),
        "after use the device list shows 30 days again: {left:?}"
    );
    drop(s);
    age(2, 29);
    let s = store(&limits);
    assert!(
        s.session([2; 32]).await.ok().flatten().is_some(),
        "a touched session's idle time started again"
    );
    drop(s);
    // With expiry off, an old session works.
    let never = Limits {
        session_idle_days: 0,
        ..Limits::default()
    };
    let s = store(&never);
    assert!(s.session([1; 32]).await.ok().flatten().is_some());
    assert_eq!(
        expires(&s, bob).await,
        None,
        "sessions that never expire show no end"
    );
}
