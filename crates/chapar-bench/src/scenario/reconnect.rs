//! `reconnect-storm`: N SDK clients are connected (and some pairs keep sending messages); the
//! server is killed with SIGKILL and started again at once on the same address and data, so
//! every client is cut at the same moment and comes back with the SDK's own full-jitter
//! backoff (and the server's Retry-After, when it gives one). Reports the time until every
//! client has resynced (Connected and then Synced again), the spread of those times, how
//! often the server asked clients to wait, and messages lost: every send the server
//! acknowledged must reach its recipient exactly once (must be 0).
//!
//! Needs a server the bench starts itself (the default), since it kills and restarts it.

use super::{Ctx, Monitor, register_many, settled_rss};
use crate::hist::AtomicHist;
use crate::lean::Account;
use crate::progress;
use crate::report::{Floor, fmt, num};
use crate::target::Kind;
use anyhow::{Context, bail};
use chapar_sdk::proto::Event;
use chapar_sdk::{Auth, Client, ClientConfig, ClientEvent, Credentials, Target};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// SDK clients connected when the server is cut.
    #[arg(long, default_value_t = 15_000)]
    pub clients: usize,
    /// Clients that keep sending (each to its own receiver) before, during and after the storm.
    #[arg(long, default_value_t = 100)]
    pub senders: usize,
    /// Messages per second from each sender.
    #[arg(long, default_value_t = 5)]
    pub send_rate: u64,
    /// Upper bound in seconds on the storm (from the cut until all have resynced).
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// SDK clients connecting at once while setting up.
    #[arg(long, default_value_t = 128)]
    pub concurrency: usize,
}

pub fn server_env(_: &Args) -> Vec<(String, String)> {
    super::setup_env()
}

pub const RATIOS: &[(&str, &str)] = &[
    ("seconds until all resynced", "/all_resynced_secs"),
    ("per-client resync p50 (ms)", "/resync/p50_ms"),
];

#[derive(Default)]
struct Storm {
    cut: AtomicBool,
    cut_at: Mutex<Option<Instant>>,
    resynced: AtomicU64,
    resync: AtomicHist,
    synced_once: AtomicU64,
    reconnect_waits: AtomicU64,
    busy_waits: AtomicU64,
    revoked: AtomicU64,
    disconnect_reasons: Mutex<BTreeMap<String, u64>>,
    /// Per receiver: texts received and how many times.
    received: Mutex<HashMap<usize, HashMap<String, u32>>>,
}

fn track(
    storm: Arc<Storm>,
    idx: usize,
    me: chapar_sdk::proto::UserId,
    mut events: tokio::sync::mpsc::Receiver<ClientEvent>,
) {
    tokio::spawn(async move {
        let mut cut_seen = false;
        let mut done = false;
        while let Some(ev) = events.recv().await {
            match ev {
                ClientEvent::Synced { .. } => {
                    if !storm.cut.load(Ordering::Relaxed) {
                        storm.synced_once.fetch_add(1, Ordering::Relaxed);
                    } else if cut_seen && !done {
                        done = true;
                        let at = *storm.cut_at.lock().unwrap_or_else(|e| e.into_inner());
                        if let Some(at) = at {
                            storm.resync.record(at.elapsed().as_micros() as u64);
                        }
                        storm.resynced.fetch_add(1, Ordering::Relaxed);
                    }
                }
                ClientEvent::Disconnected { reason } => {
                    if storm.cut.load(Ordering::Relaxed) {
                        cut_seen = true;
                    }
                    let reason: String = reason.chars().take(60).collect();
                    *storm
                        .disconnect_reasons
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(reason)
                        .or_insert(0) += 1;
                }
                ClientEvent::Reconnecting { busy, .. } => {
                    storm.reconnect_waits.fetch_add(1, Ordering::Relaxed);
                    if busy {
                        storm.busy_waits.fetch_add(1, Ordering::Relaxed);
                    }
                }
                ClientEvent::Revoked => {
                    storm.revoked.fetch_add(1, Ordering::Relaxed);
                }
                ClientEvent::Feed(f) => {
                    if let Event::Message(m) = f.event
                        && m.sender != me
                        && let Some(text) = m.text.filter(|t| t.starts_with("storm:"))
                    {
                        *storm
                            .received
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .entry(idx)
                            .or_default()
                            .entry(text)
                            .or_insert(0) += 1;
                    }
                }
                _ => {}
            }
        }
    });
}

async fn connect_all(
    ctx: &Ctx,
    accounts: Vec<Account>,
    concurrency: usize,
    storm: &Arc<Storm>,
) -> anyhow::Result<Vec<Client>> {
    let url = ctx.target.url();
    let config = ClientConfig {
        // Setting up 15,000 clients meets the node's accept budget: keep trying, as told.
        initial_attempts: 50,
        send_attempts: 40,
        device_name: Some("bench".into()),
        ..ClientConfig::default()
    };
    let pb = progress::bar(accounts.len() as u64, "connect SDK");
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = vec![];
    for (i, acc) in accounts.into_iter().enumerate() {
        let permit = sem.clone().acquire_owned().await?;
        let (url, config, storm, pb) = (url.clone(), config.clone(), storm.clone(), pb.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let creds = Credentials {
                signing_key: acc.key,
                token: Some(acc.token),
            };
            let (client, events) =
                Client::connect(vec![url], config, creds, Auth::Resume, 0).await?;
            track(storm, i, acc.user, events);
            pb.inc(1);
            Ok::<Client, chapar_sdk::SdkError>(client)
        }));
    }
    let mut clients = vec![];
    for t in tasks {
        clients.push(t.await?.context("connecting an SDK client")?);
    }
    pb.finish_and_clear();
    Ok(clients)
}

pub async fn run(a: &Args, ctx: &mut Ctx) -> anyhow::Result<Value> {
    if !ctx.target.is_spawned() {
        bail!("reconnect-storm kills and restarts the server: let the bench start it (--spawn)");
    }
    let n = a.clients.max(2);
    let senders = a.senders.min(n / 2);
    let accounts: Vec<Account> = register_many(ctx, n, a.concurrency, false, "sign-up")
        .await?
        .into_iter()
        .map(|(acc, _)| acc)
        .collect();
    let handles: Vec<String> = accounts.iter().map(|a| a.handle.clone()).collect();
    let storm = Arc::new(Storm::default());
    let clients = connect_all(ctx, accounts, a.concurrency, &storm).await?;
    let wait_sync = Instant::now() + Duration::from_secs(60);
    while storm.synced_once.load(Ordering::Relaxed) < n as u64 && Instant::now() < wait_sync {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rss_before = settled_rss(&ctx.target).await;

    // Senders: client 2i sends to client 2i+1 through everything that follows.
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let send_failed = Arc::new(AtomicU64::new(0));
    let mut send_tasks = vec![];
    for i in 0..senders {
        let (client, peer, to) = (
            clients[2 * i].clone(),
            handles[2 * i + 1].clone(),
            2 * i + 1,
        );
        let (stop, acked, send_failed) = (stop.clone(), acked.clone(), send_failed.clone());
        let every = Duration::from_secs_f64(1.0 / a.send_rate.max(1) as f64);
        send_tasks.push(tokio::spawn(async move {
            let mut k = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let text = format!("storm:{i}:{k}");
                k += 1;
                match client
                    .send_text(Target::Peer(peer.clone()), text.clone(), None)
                    .await
                {
                    Ok(_) => acked
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((to, text)),
                    Err(_) => {
                        send_failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(every).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The cut: every connection drops at once.
    let monitor = Monitor::start(ctx.target.pid(), Duration::from_millis(250));
    *storm.cut_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    storm.cut.store(true, Ordering::Relaxed);
    let cut = Instant::now();
    ctx.target.kill9()?;
    ctx.target.restart()?;
    let restart_secs = cut.elapsed().as_secs_f64();
    monitor.set_pid(ctx.target.pid());
    let pb = progress::bar(n as u64, "resync");
    let bound = cut + Duration::from_secs(a.duration);
    // Clients resynced at the end of each second after the cut.
    let mut timeline = vec![];
    let mut next_second = cut + Duration::from_secs(1);
    while storm.resynced.load(Ordering::Relaxed) < n as u64 && Instant::now() < bound {
        pb.set_position(storm.resynced.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(20)).await;
        if Instant::now() >= next_second {
            timeline.push(storm.resynced.load(Ordering::Relaxed));
            next_second += Duration::from_secs(1);
        }
    }
    let resynced = storm.resynced.load(Ordering::Relaxed);
    let all_secs = (resynced == n as u64).then(|| cut.elapsed().as_secs_f64());
    timeline.push(resynced);
    let resync = storm.resync.snapshot().summary();
    pb.finish_and_clear();

    // Keep sending a little after the storm, then stop and let everything arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for t in send_tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap_or_else(|e| e.into_inner()));
    let count_missing = |storm: &Storm| {
        let got = storm.received.lock().unwrap_or_else(|e| e.into_inner());
        acked
            .iter()
            .filter(|(to, text)| !got.get(to).is_some_and(|m| m.contains_key(text)))
            .count()
    };
    let settle = Instant::now() + Duration::from_secs(15);
    while count_missing(&storm) > 0 && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let missing = count_missing(&storm);
    let duplicates: u64 = storm
        .received
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .flat_map(|m| m.values())
        .map(|c| u64::from(c.saturating_sub(1)))
        .sum();
    let rss_after = settled_rss(&ctx.target).await;
    for c in &clients {
        c.close();
    }
    // The relay keeps nothing, so "lost" means nothing there.
    let lost = (ctx.kind == Kind::Chapar).then_some(missing);
    Ok(json!({
        "clients": n,
        "senders": senders,
        "initially_synced": storm.synced_once.load(Ordering::Relaxed),
        "restart_secs": crate::report::round(restart_secs, 3),
        "resynced": resynced,
        "all_resynced_secs": all_secs.map(|s| crate::report::round(s, 2)),
        "resync": resync,
        "resynced_per_second": timeline,
        "resynced_eventually": storm.resynced.load(Ordering::Relaxed),
        "reconnect_attempts": storm.reconnect_waits.load(Ordering::Relaxed),
        "refusals_busy": storm.busy_waits.load(Ordering::Relaxed),
        "revoked": storm.revoked.load(Ordering::Relaxed),
        "disconnect_reasons": storm.disconnect_reasons.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        "messages_acked": acked.len(),
        "messages_lost": lost,
        "messages_not_received_on_relay": (ctx.kind == Kind::Relay).then_some(missing),
        "duplicates": duplicates,
        "sends_failed_after_retries": send_failed.load(Ordering::Relaxed),
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "rss_max_kib": monitor.max_kib(),
    }))
}

pub fn summary(v: &Value) -> String {
    format!(
        "  {} clients cut at once; server back in {} s; {} resynced, all within {} s \
         (per client p50 {} ms, p99 {} ms)\n  reconnect attempts {} (server asked to wait {}), \
         messages acked {}, lost {}, duplicates {}, sends failed {}\n",
        fmt(num(v, "/clients")),
        fmt(num(v, "/restart_secs")),
        fmt(num(v, "/resynced")),
        fmt(num(v, "/all_resynced_secs")),
        fmt(num(v, "/resync/p50_ms")),
        fmt(num(v, "/resync/p99_ms")),
        fmt(num(v, "/reconnect_attempts")),
        fmt(num(v, "/refusals_busy")),
        fmt(num(v, "/messages_acked")),
        fmt(num(v, "/messages_lost")),
        fmt(num(v, "/duplicates")),
        fmt(num(v, "/sends_failed_after_retries")),
    )
}

pub fn floors(a: &Args, chapar: &Value, _relay: Option<&Value>) -> Vec<Floor> {
    let mut f = vec![Floor::at_most(
        "reconnect storm: zero messages lost",
        num(chapar, "/messages_lost"),
        0.0,
    )];
    if a.clients >= 15_000 {
        f.push(Floor::at_most(
            "reconnect storm of 15,000: all resynced within 30 s",
            num(chapar, "/all_resynced_secs"),
            30.0,
        ));
    }
    f
}
