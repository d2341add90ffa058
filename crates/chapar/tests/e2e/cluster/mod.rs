//! Cluster mode, black-box: several real `chapar serve --store postgres://... --bus nats://...`
//! nodes, one PostgreSQL, one NATS, SDK clients spread over the nodes. Each test has a database
//! of its own; tests that restart PostgreSQL or NATS run private servers.

mod services;

use chapar_bus_nats::testing::{NatsServer, shared_url};
use chapar_proto::frame::Send;
use chapar_proto::{ConversationId, DeviceId, Request, Response, TEXT_PLAIN, Target};
use chapar_sdk::{Auth, SdkError, new_client_id};
use chapar_store_postgres::testing::TestDatabase;
use services::{Node, Person, PgServer};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

fn urls(nodes: &[Node], first: usize) -> Vec<String> {
    (0..nodes.len())
        .map(|i| nodes[(first + i) % nodes.len()].url())
        .collect()
}

async fn group(owner: &Person, title: &str, others: &[&Person]) -> ConversationId {
    owner
        .client
        .create_group(title, others.iter().map(|p| p.handle.clone()).collect())
        .await
        .unwrap_or_else(|e| panic!("create group: {e}"))
        .id
}

/// Send `n` texts to `target`, each acknowledged (the SDK retries, moving between nodes).
async fn send_all(p: &Person, target: Target, tag: &str, n: usize, pause: Duration) -> Vec<u64> {
    let mut seqs = Vec::with_capacity(n);
    for i in 0..n {
        let sent = p
            .client
            .send_text(target.clone(), format!("{tag}-{i}"), None)
            .await
            .unwrap_or_else(|e| panic!("{}: send {tag}-{i} failed: {e}", p.handle));
        seqs.push(sent.seq);
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
    seqs
}

/// The log of a conversation as one member reads it: (seq, client_id) in order.
async fn log(p: &Person, conv: ConversationId) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let mut before = None;
    loop {
        let page = p
            .client
            .history(Target::Conversation(conv), before, Some(200))
            .await
            .unwrap_or_else(|e| panic!("history: {e}"));
        let Some(first) = page.first() else { break };
        before = Some(first.seq);
        let mut page: Vec<(u64, String)> =
            page.iter().map(|m| (m.seq, m.client_id.clone())).collect();
        page.extend(out);
        out = page;
        if before == Some(1) {
            break;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_deliver_group_and_direct_traffic_once_and_in_order() {
    let db = TestDatabase::create("e2e_three_nodes").await;
    let nats = shared_url();
    let nodes: Vec<Node> = (0..3).map(|_| Node::start(&db.url, &nats, &[])).collect();
    // Six people, two on each node.
    let mut people = Vec::new();
    for i in 0..6 {
        people.push(Person::register(vec![nodes[i % 3].url()], &format!("tn_{i}")).await);
    }
    let others: Vec<&Person> = people[1..].iter().collect();
    let all = group(&people[0], "everyone", &others).await;
    const N: usize = 25;
    let mut tasks = Vec::new();
    for i in 0..6 {
        let p = &people[i];
        let next = people[(i + 1) % 6].handle.clone();
        let client = p.client.clone();
        let handle = p.handle.clone();
        tasks.push(tokio::spawn(async move {
            let mut direct = None;
            for n in 0..N {
                client
                    .send_text(Target::Conversation(all), format!("{handle}-g{n}"), None)
                    .await
                    .unwrap_or_else(|e| panic!("{handle}: group send {n}: {e}"));
                let sent = client
                    .send_text(Target::Peer(next.clone()), format!("{handle}-d{n}"), None)
                    .await
                    .unwrap_or_else(|e| panic!("{handle}: direct send {n}: {e}"));
                direct = Some(sent.conversation);
            }
            direct.expect("a direct conversation")
        }));
    }
    // Person i's direct conversation with i+1.
    let mut direct = Vec::new();
    for t in tasks {
        direct.push(t.await.expect("sender"));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for (i, p) in people.iter().enumerate() {
        let mut want = BTreeMap::new();
        want.insert(all, 1 + 6 * N);
        // Person i writes to i+1, and hears from i-1.
        want.insert(direct[i], N);
        want.insert(direct[(i + 5) % 6], N);
        p.wait_for(&want, deadline).await;
        p.check_view(&want);
    }
    // The log agrees: each message once.
    let group_log = log(&people[3], all).await;
    assert_eq!(group_log.len(), 1 + 6 * N);
    let ids: HashSet<&String> = group_log.iter().map(|(_, c)| c).collect();
    assert_eq!(ids.len(), group_log.len(), "no duplicate in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_of_a_node_loses_nothing_acknowledged() {
    let db = TestDatabase::create("e2e_kill9").await;
    let nats = shared_url();
    let mut nodes: Vec<Node> = (0..3).map(|_| Node::start(&db.url, &nats, &[])).collect();
    // Each person starts on their own node and knows the others.
    let mut people = Vec::new();
    for i in 0..3 {
        people.push(Person::register(urls(&nodes, i), &format!("k9_{i}")).await);
    }
    let conv = group(&people[0], "crash", &[&people[1], &people[2]]).await;
    let mut tasks = Vec::new();
    for (i, p) in people.iter().enumerate() {
        let client = p.client.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for n in 0..50 {
                let sent = client
                    .send_text(Target::Conversation(conv), format!("{i}-{n}"), None)
                    .await
                    .unwrap_or_else(|e| panic!("send {i}-{n} failed after retries: {e}"));
                acked.push(sent.seq);
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    nodes[0].kill9(); // person 0's node: no drain, no goodbye
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.expect("sender"));
    }
    assert_eq!(acked.len(), 150, "every send acknowledged in the end");
    let last = 151;
    let deadline = Instant::now() + Duration::from_secs(60);
    let want: BTreeMap<ConversationId, usize> = [(conv, last)].into();
    for p in &people {
        p.wait_for(&want, deadline).await;
        p.check_view(&want);
    }
    let log = log(&people[1], conv).await;
    assert_eq!(log.len(), last, "one log entry per acknowledged send");
    let seqs: HashSet<u64> = log.iter().map(|(s, _)| *s).collect();
    for seq in acked {
        assert!(seqs.contains(&seq), "acknowledged seq {seq} is in the log");
    }
}

/// A counter or histogram sum from a node's `/metrics`.
fn metric(node: &Node, name: &str) -> f64 {
    node.metrics()
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from the metrics of {}", node.url()))
}

/// Every person sends `n` texts to each of `groups` from `lanes` concurrent tasks; returns the
/// acknowledged (conversation, seq, client text) triples.
async fn flood(
    people: &[Person],
    groups: &[ConversationId],
    lanes: usize,
    n: usize,
) -> Vec<(ConversationId, u64, String)> {
    let mut tasks = Vec::new();
    for p in people {
        for lane in 0..lanes {
            let client = p.client.clone();
            let (handle, groups) = (p.handle.clone(), groups.to_vec());
            tasks.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..n {
                    let conv = groups[(lane + i) % groups.len()];
                    let text = format!("{handle}-{lane}-{i}");
                    match client
                        .send_text(Target::Conversation(conv), text.clone(), None)
                        .await
                    {
                        Ok(sent) => acked.push((conv, sent.seq, text)),
                        // Not a member of that group: skip it.
                        Err(SdkError::Server(e))
                            if e.code == chapar_proto::ErrorCode::Forbidden => {}
                        Err(e) => panic!("{text}: not acknowledged after retries: {e}"),
                    }
                }
                acked
            }));
        }
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.expect("sender"));
    }
    acked
}

/// The batch writers of three nodes writing the same groups at once (their batches contend for
/// the same rows and may deadlock and be retried), then one of them killed with -9 mid-flood:
/// per group, seqs dense from 1, every acknowledged message in the log exactly once, nothing
/// unacknowledged twice after the SDK's retries with the same client_id, and no batch lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_writers_of_three_nodes_share_groups_and_survive_a_kill9() {
    let db = TestDatabase::create("e2e_batches").await;
    let nats = shared_url();
    let mut nodes: Vec<Node> = (0..3).map(|_| Node::start(&db.url, &nats, &[])).collect();
    // One connection per person (a connection's requests run one after another), four per node.
    let mut people = Vec::new();
    for i in 0..12 {
        people.push(Person::register(urls(&nodes, i % 3), &format!("bw_{i}")).await);
    }
    let pick = |parity: usize| -> Vec<&Person> {
        people
            .iter()
            .skip(2)
            .filter(|p| p.handle.ends_with(|c: char| (c as usize) % 2 == parity))
            .collect()
    };
    let others: Vec<&Person> = people[1..].iter().collect();
    let all = group(&people[0], "all", &others).await;
    let mut evens = pick(0);
    evens.push(&people[1]);
    let evens = group(&people[0], "evens", &evens).await;
    let mut odds = pick(1);
    odds.push(&people[0]);
    let odds = group(&people[1], "odds", &odds).await;
    let groups = [all, evens, odds];
    // Phase 1: all three nodes up.
    let mut acked = flood(&people, &groups, 1, 24).await;
    let (mut writes, mut batches, mut retries) = (0.0, 0.0, 0.0);
    for node in &nodes {
        retries += metric(node, "chapar_write_batch_retries_total");
        assert_eq!(
            metric(node, "chapar_write_batch_failures_total"),
            0.0,
            "a batch was lost on {}",
            node.url()
        );
        writes += metric(node, "chapar_write_batch_size_sum");
        batches += metric(node, "chapar_write_batch_size_count");
    }
    eprintln!("phase 1: {writes} writes in {batches} batches, {retries} batches retried");
    assert!(
        batches < writes,
        "concurrent writes were batched ({writes} writes in {batches} batches)"
    );
    // Phase 2: node 0 killed in the middle of a flood; its clients move to the others.
    let killer = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        nodes[0].kill9();
    };
    let (more, ()) = tokio::join!(flood(&people, &groups, 1, 24), killer);
    acked.extend(more);
    for conv in groups {
        let log = log(&people[0], conv).await;
        let seqs: Vec<u64> = log.iter().map(|(s, _)| *s).collect();
        let dense: Vec<u64> = (1..=log.len() as u64).collect();
        assert_eq!(seqs, dense, "seqs of {conv:?} dense from 1");
        let mine: Vec<&(ConversationId, u64, String)> =
            acked.iter().filter(|(c, _, _)| *c == conv).collect();
        assert_eq!(
            log.len(),
            1 + mine.len(),
            "one log entry per acknowledged send in {conv:?}, no duplicate"
        );
        let at: HashMap<u64, &String> = log.iter().map(|(s, c)| (*s, c)).collect();
        for (_, seq, _) in &mine {
            assert!(
                at.contains_key(seq),
                "acknowledged seq {seq} of {conv:?} is in the log"
            );
        }
        let ids: HashSet<&String> = log.iter().map(|(_, c)| c).collect();
        assert_eq!(ids.len(), log.len(), "each client_id once in {conv:?}");
    }
    for node in &nodes[1..] {
        assert_eq!(
            metric(node, "chapar_write_batch_failures_total"),
            0.0,
            "a batch was lost on surviving node {}",
            node.url()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_during_traffic_degrades_then_recovers_by_itself() {
    let db = TestDatabase::create("e2e_nats_restart").await;
    let mut nats = NatsServer::start();
    let nodes: Vec<Node> = (0..3)
        .map(|_| Node::start(&db.url, &nats.url(), &[]))
        .collect();
    let mut people = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        people.push(Person::register(vec![node.url()], &format!("nr_{i}")).await);
    }
    let conv = group(&people[0], "bus", &[&people[1], &people[2]]).await;
    let mut tasks = Vec::new();
    for (i, p) in people.iter().enumerate() {
        let client = p.client.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..60 {
                client
                    .send_text(Target::Conversation(conv), format!("{i}-{n}"), None)
                    .await
                    .unwrap_or_else(|e| panic!("send {i}-{n}: {e}"));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    nats.kill();
    tokio::time::sleep(Duration::from_millis(800)).await;
    nats.start_again();
    for t in tasks {
        t.await.expect("sender");
    }
    let mut last = 1 + 3 * 60;
    let want: BTreeMap<ConversationId, usize> = [(conv, last)].into();
    let deadline = Instant::now() + Duration::from_secs(60);
    for p in &people {
        p.wait_for(&want, deadline).await;
        p.check_view(&want);
    }
    // Live delivery between nodes is back: a message from node 0 reaches nodes 1 and 2 without
    // any other traffic.
    let t = Instant::now();
    let sent = people[0]
        .client
        .send_text(Target::Conversation(conv), "after", None)
        .await
        .expect("send after");
    last += 1;
    assert_eq!(sent.seq, last as u64);
    let want: BTreeMap<ConversationId, usize> = [(conv, last)].into();
    for p in &people[1..] {
        p.wait_for(&want, t + Duration::from_secs(3)).await;
        p.check_view(&want);
    }
    // The nodes report the outage and the recovery.
    let metrics = nodes[1].metrics();
    assert!(metrics.contains("chapar_bus_connected 1"), "{metrics}");
    assert!(
        metrics.contains("chapar_bus_reconnects_total 1"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("chapar_bus_received_total 0\n"),
        "{metrics}"
    );
}

/// Send with a given client_id and no retries: the outcome of exactly one attempt.
async fn send_once(
    client: &chapar_sdk::Client,
    conv: ConversationId,
    client_id: &str,
) -> Result<u64, SdkError> {
    let request = Request::Send(Send {
        conversation: Some(conv),
        peer: None,
        client_id: client_id.to_string(),
        content_type: Some(TEXT_PLAIN.to_string()),
        text: Some(client_id.to_string()),
        data: None,
        reply_to: None,
    });
    match client.request(request).await? {
        Response::Sent(s) => Ok(s.seq),
        other => panic!("unexpected reply {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_fails_fast_and_recovers_with_nothing_acked_lost() {
    let pg = PgServer::start();
    let url = chapar_store_postgres::create_database(&pg.admin_url(), "chapar")
        .await
        .expect("create database");
    let nats = shared_url();
    let env = [("CHAPAR_STORE__TIMEOUT_MS", "2000")];
    let nodes: Vec<Node> = (0..2).map(|_| Node::start(&url, &nats, &env)).collect();
    let mut people = Vec::new();
    for i in 0..2 {
        people.push(Person::register(urls(&nodes, i), &format!("pr_{i}")).await);
    }
    let reader = Person::register(urls(&nodes, 1), "pr_reader").await;
    let conv = group(&people[0], "db", &[&people[1], &reader]).await;

    // Senders make one attempt per message and remember what was acknowledged.
    let mut tasks = Vec::new();
    for (i, p) in people.iter().enumerate() {
        let client = p.client.clone();
        tasks.push(tokio::spawn(async move {
            let mut outcomes: Vec<(String, Result<u64, String>, Duration)> = Vec::new();
            for n in 0..80 {
                let cid = format!("{i}-{n}-{}", new_client_id());
                let t = Instant::now();
                let r = send_once(&client, conv, &cid)
                    .await
                    .map_err(|e| e.to_string());
                outcomes.push((cid, r, t.elapsed()));
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            outcomes
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    pg.stop_immediate();
    let down = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        nodes[0].http_status("/readyz"),
        503,
        "not ready while PostgreSQL is down"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    pg.start_again();
    let outage = down.elapsed();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.extend(t.await.expect("sender"));
    }
    // Failures were quick and retryable; some sends failed (the outage was real).
    let failed: Vec<&(String, Result<u64, String>, Duration)> =
        outcomes.iter().filter(|o| o.1.is_err()).collect();
    assert!(
        !failed.is_empty(),
        "sends during a {outage:?} outage must fail"
    );
    for (cid, r, took) in &failed {
        assert!(
            *took < Duration::from_secs(4),
            "{cid} failed after {took:?}: a down database must fail fast ({r:?})"
        );
        let e = r.as_ref().err().cloned().unwrap_or_default();
        assert!(
            e.contains("unavailable") || e.contains("overloaded"),
            "{cid}: {e}"
        );
    }
    // The service recovered by itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    while nodes[1].http_status("/readyz") != 200 {
        assert!(Instant::now() < deadline, "node not ready again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = send_all(
        &people[1],
        Target::Conversation(conv),
        "after",
        3,
        Duration::ZERO,
    )
    .await;
    assert_eq!(after.len(), 3);
    // The senders retry what failed, with the same client_id (as an app would): each is
    // stored once, whether or not the failed attempt had committed.
    let mut retried: HashMap<String, u64> = HashMap::new();
    for (i, p) in people.iter().enumerate() {
        for (cid, _, _) in failed.iter().filter(|f| f.0.starts_with(&format!("{i}-"))) {
            let seq = p
                .client
                .send(Send {
                    conversation: Some(conv),
                    peer: None,
                    client_id: cid.clone(),
                    content_type: Some(TEXT_PLAIN.to_string()),
                    text: Some(cid.clone()),
                    data: None,
                    reply_to: None,
                })
                .await
                .unwrap_or_else(|e| panic!("retry of {cid}: {e}"))
                .seq;
            retried.insert(cid.clone(), seq);
        }
    }
    let log = log(&reader, conv).await;
    let by_cid: HashMap<&str, u64> = log
        .iter()
        .filter(|(s, _)| *s > 1)
        .map(|(s, c)| (c.as_str(), *s))
        .collect();
    assert_eq!(
        by_cid.len(),
        log.len() - 1,
        "each client_id once in the log"
    );
    for (cid, r, _) in &outcomes {
        let seq = match r {
            Ok(seq) => *seq,
            Err(_) => retried[cid],
        };
        assert_eq!(
            by_cid.get(cid.as_str()),
            Some(&seq),
            "acknowledged {cid} is in the log at its seq"
        );
    }
    assert_eq!(log.len(), 1 + outcomes.len() + 3, "nothing else in the log");
    // Every device converges on the whole log.
    let want: BTreeMap<ConversationId, usize> = [(conv, log.len())].into();
    let deadline = Instant::now() + Duration::from_secs(60);
    for p in people.iter().chain([&reader]) {
        p.wait_for(&want, deadline).await;
        p.check_view(&want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_is_cut_off_on_every_node_within_a_second() {
    let db = TestDatabase::create("e2e_revoke").await;
    let nats = shared_url();
    let nodes: Vec<Node> = (0..3).map(|_| Node::start(&db.url, &nats, &[])).collect();
    let owner = Person::register(vec![nodes[0].url()], "rv_owner").await;
    let link = |n: usize| {
        let (client, url) = (owner.client.clone(), nodes[n].url());
        async move {
            let (code, _) = client.create_link_code().await.expect("link code");
            Person::connect(
                vec![url],
                "rv_owner",
                chapar_sdk::Credentials::generate(),
                Auth::Link { code },
            )
            .await
        }
    };
    let phone = link(1).await;
    let tablet = link(2).await;
    // The phone is also signed in on node 2 (a second connection of the same device).
    let phone_again = Person::connect(
        vec![nodes[2].url()],
        "rv_owner",
        phone.client.credentials(),
        Auth::Resume,
    )
    .await;
    let phone_id: DeviceId = phone.client.session().expect("session").device_id;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let t = Instant::now();
    owner
        .client
        .revoke_device(phone_id)
        .await
        .expect("revoke the phone");
    let deadline = t + Duration::from_secs(1);
    for (name, p) in [
        ("phone on node 1", &phone),
        ("phone on node 2", &phone_again),
    ] {
        while p.revoked_at().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let at = p
            .revoked_at()
            .unwrap_or_else(|| panic!("{name} still connected 1 s after the revocation"));
        assert!(at.duration_since(t) < Duration::from_secs(1), "{name}");
    }
    // The others stay connected and working.
    assert!(tablet.revoked_at().is_none() && owner.revoked_at().is_none());
    let devices = tablet.client.devices().await.expect("devices");
    assert!(devices.iter().any(|d| d.id == phone_id && d.revoked));
    // And the phone cannot come back.
    let back = chapar_sdk::Client::connect(
        vec![nodes[1].url()],
        services::config(),
        phone.client.credentials(),
        Auth::Resume,
        0,
    )
    .await;
    assert!(back.is_err(), "a revoked device cannot sign in again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_account_is_cut_off_on_every_node_within_a_second() {
    let db = TestDatabase::create("e2e_suspend").await;
    let nats = shared_url();
    let nodes: Vec<Node> = (0..3).map(|_| Node::start(&db.url, &nats, &[])).collect();
    let moderator = Person::register(vec![nodes[0].url()], "sp_mod").await;
    let spammer = Person::register(vec![nodes[1].url()], "sp_spam").await;
    // The same device signed in on a second node too.
    let spammer_again = Person::connect(
        vec![nodes[2].url()],
        "sp_spam",
        spammer.client.credentials(),
        Auth::Resume,
    )
    .await;
    let bystander = Person::register(vec![nodes[2].url()], "sp_other").await;
    let granted = std::process::Command::new(crate::util::BIN)
        .args(["admin", "grant", "sp_mod", "--store", &db.url])
        .env_remove("CHAPAR_CONFIG")
        .output()
        .expect("chapar admin grant");
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );

    let t = Instant::now();
    moderator
        .client
        .admin_suspend("sp_spam", "spam")
        .await
        .expect("suspend");
    let deadline = t + Duration::from_secs(1);
    for (name, p) in [
        ("spammer on node 1", &spammer),
        ("spammer on node 2", &spammer_again),
    ] {
        while p.suspended_at().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let at = p
            .suspended_at()
            .unwrap_or_else(|| panic!("{name} still connected 1 s after the suspension"));
        assert!(at.duration_since(t) < Duration::from_secs(1), "{name}");
    }
    assert!(bystander.suspended_at().is_none() && moderator.suspended_at().is_none());
    // The account cannot come back on any node, by session or by key.
    for (n, node) in nodes.iter().enumerate() {
        let back = chapar_sdk::Client::connect(
            vec![node.url()],
            services::config(),
            spammer.client.credentials(),
            Auth::Resume,
            0,
        )
        .await;
        assert!(back.is_err(), "a suspended account signed in on node {n}");
    }
    // Its handle stays taken.
    let taken = chapar_sdk::Client::connect(
        vec![nodes[0].url()],
        services::config(),
        chapar_sdk::Credentials::generate(),
        Auth::Register {
            handle: "sp_spam".into(),
            display_name: None,
            invite_code: None,
        },
        0,
    )
    .await;
    assert!(
        taken.is_err(),
        "a suspended handle was given to someone else"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_crosses_nodes() {
    use crate::presence::{next_presence, watch};
    use crate::util::raw::Raw;
    let db = TestDatabase::create("e2e_presence").await;
    let nats = shared_url();
    let nodes: Vec<Node> = (0..2).map(|_| Node::start(&db.url, &nats, &[])).collect();
    let ws = |n: usize| format!("ws://{}/v1/ws", nodes[n].addr);
    let mut ana = Raw::register(&ws(0), "pr_ana").await;
    let bob = Raw::register(&ws(1), "pr_bob").await;
    let bob_id = bob.user_id();
    // Bob is on the other node: that node answers the watch's question at once.
    let now = watch(&mut ana, &[bob_id]).await;
    if !now[0].online {
        assert!(
            next_presence(&mut ana, bob_id).await.online,
            "node 2 says bob is online"
        );
    }
    // Bob also connects to ana's node, then leaves both (which node ana hears from last is not
    // fixed; that a person is online while any node says so is `presence`'s unit test).
    let bob_here = bob.reconnect(&ws(0)).await.expect("bob on node 1");
    drop(bob);
    drop(bob_here);
    loop {
        let p = next_presence(&mut ana, bob_id).await;
        if !p.online {
            assert!(p.last_seen.is_some(), "{p:?}");
            break;
        }
    }
    // Asked again, both nodes agree: he is gone.
    let again = watch(&mut ana, &[bob_id]).await;
    assert!(!again[0].online, "{again:?}");
}
