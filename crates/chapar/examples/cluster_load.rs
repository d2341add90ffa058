//! cluster_load: how many direct messages per second 1 or N `chapar serve` nodes sustain, with
//! every message acknowledged and delivered. The figure in docs/operations.md comes from here.
//!
//! ```text
//! cargo build --release -p chapar --example cluster_load
//! # one node, embedded store:
//! target/release/examples/cluster_load --nodes 1
//! # three nodes, one PostgreSQL, one NATS:
//! target/release/examples/cluster_load --nodes 3 --postgres postgres://postgres@127.0.0.1:5432/postgres \
//!     --nats nats://127.0.0.1:4222
//! ```
//!
//! It starts the nodes (the `chapar` binary beside this program), signs up `2 x pairs` SDK
//! clients spread over the nodes (each pair's two people on different nodes when there are
//! several), then every sender keeps `inflight` sends outstanding to its partner for `secs`
//! seconds. It reports sends acknowledged per second, deliveries per second, acknowledgement
//! latency, and checks at the end that every acknowledged message reached its recipient.
//! Per-device rate limits are switched off on the nodes (this measures the nodes, not the
//! limits); delivery marks are off (one write per message).

use anyhow::{Context, bail};
use chapar_proto::{Event, Target};
use chapar_sdk::{Auth, Client, ClientConfig, ClientEvent, Credentials};
use clap::Parser;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Nodes to start.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Administrative URL of a PostgreSQL server: the nodes share a fresh database on it.
    /// Without it (one node only) the embedded SQLite store is used.
    #[arg(long)]
    postgres: Option<String>,
    /// NATS URL (needed with more than one node).
    #[arg(long)]
    nats: Option<String>,
    /// Pairs of people messaging each other.
    #[arg(long, default_value_t = 60)]
    pairs: usize,
    /// Sends each sender keeps outstanding.
    #[arg(long, default_value_t = 4)]
    inflight: usize,
    /// Seconds of measured traffic.
    #[arg(long, default_value_t = 20)]
    secs: u64,
    /// The chapar binary [default: `chapar` beside this program's directory].
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Durability of a SQLite node (full or normal).
    #[arg(long, default_value = "full")]
    durability: String,
    /// Extra environment for the nodes (KEY=VALUE, repeatable), e.g. CHAPAR_STORE__CONNECTIONS=8.
    #[arg(long = "node-env", value_name = "KEY=VALUE")]
    node_env: Vec<String>,
}

struct Node {
    url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node(
    bin: &PathBuf,
    store: &str,
    bus: &str,
    durability: &str,
    env: &[String],
) -> anyhow::Result<Node> {
    let dir = tempfile::tempdir()?;
    let mut cmd = Command::new(bin);
    for kv in env {
        let (k, v) = kv.split_once('=').context("--node-env takes KEY=VALUE")?;
        cmd.env(k, v);
    }
    let mut child = cmd
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            store,
            "--bus",
            bus,
        ])
        .args(["--durability", durability])
        .arg("--data")
        .arg(dir.path())
        .env("CHAPAR_LOG", "warn")
        .env("CHAPAR_RATE_LIMITS__SEND_PER_DEVICE__PER_MINUTE", "0")
        .env("CHAPAR_RATE_LIMITS__SEND_PER_ACCOUNT__PER_MINUTE", "0")
        .env("CHAPAR_RATE_LIMITS__READS_PER_DEVICE__PER_MINUTE", "0")
        .env("CHAPAR_LIMITS__NEW_ACCOUNT_HOURS", "0")
        .env("CHAPAR_LIMITS__REQUESTS_PER_SECOND", "1000000")
        .env("CHAPAR_LIMITS__REQUEST_BURST", "1000000")
        .env("CHAPAR_ADMISSION__SIGNUPS_PER_SECOND", "1000000")
        .env("CHAPAR_ADMISSION__SIGNUP_BURST", "1000000")
        .env(
            "CHAPAR_ADMISSION__SIGNUPS_PER_ADDRESS__PER_MINUTE",
            "60000000",
        )
        .env("CHAPAR_ADMISSION__SIGNUPS_PER_ADDRESS__BURST", "1000000")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let Some(addr) = line.trim().strip_prefix("chapar listening on ") else {
        let _ = child.kill();
        bail!("node did not start: {line:?}");
    };
    let url = addr.to_string();
    std::thread::spawn(move || for _ in reader.lines() {});
    Ok(Node {
        url,
        child,
        _dir: dir,
    })
}

struct Person {
    client: Client,
    handle: String,
    received: Arc<AtomicU64>,
}

async fn person(url: &str, handle: String) -> anyhow::Result<Person> {
    let config = ClientConfig {
        auto_delivered: false,
        request_timeout: Duration::from_secs(30),
        ..ClientConfig::default()
    };
    let auth = Auth::Register {
        handle: handle.clone(),
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
    .with_context(|| format!("signing up {handle}"))?;
    let received = Arc::new(AtomicU64::new(0));
    let (count, me) = (received.clone(), handle.clone());
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if let ClientEvent::Feed(f) = ev
                && let Event::Message(m) = &f.event
                && m.sender_handle != me
            {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    Ok(Person {
        client,
        handle,
        received,
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin = match &args.bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?
            .parent()
            .and_then(|p| p.parent())
            .map(|p| p.join("chapar"))
            .context("no directory for the chapar binary")?,
    };
    if args.nodes > 1 && (args.postgres.is_none() || args.nats.is_none()) {
        bail!("several nodes need --postgres and --nats");
    }
    let store = match &args.postgres {
        Some(admin) => {
            let name = format!("load_{}", rand::random::<u32>());
            chapar_store_postgres::create_database(admin, &name)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
        }
        None => "sqlite".to_string(),
    };
    let bus = args.nats.clone().unwrap_or_else(|| "local".into());
    let mut nodes = Vec::new();
    for _ in 0..args.nodes.max(1) {
        nodes.push(start_node(
            &bin,
            &store,
            &bus,
            &args.durability,
            &args.node_env,
        )?);
    }
    let n = nodes.len();
    let tag = format!("l{}", rand::random::<u16>());
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for k in 0..args.pairs {
        senders.push(person(&nodes[k % n].url, format!("{tag}_s{k}")).await?);
        receivers.push(person(&nodes[(k + 1) % n].url, format!("{tag}_r{k}")).await?);
    }
    // First message of each pair creates its conversation.
    for (s, r) in senders.iter().zip(&receivers) {
        s.client
            .send_text(Target::Peer(r.handle.clone()), "hello", None)
            .await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base: u64 = receivers
        .iter()
        .map(|r| r.received.load(Ordering::Relaxed))
        .sum();

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<f64>::new()));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (s, r) in senders.iter().zip(&receivers) {
        for _ in 0..args.inflight.max(1) {
            let (client, peer) = (s.client.clone(), r.handle.clone());
            let (stop, acked, failed, lat) = (
                stop.clone(),
                acked.clone(),
                failed.clone(),
                latencies.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    match client
                        .send_text(Target::Peer(peer.clone()), "load", None)
                        .await
                    {
                        Ok(_) => {
                            acked.fetch_add(1, Ordering::Relaxed);
                            mine.push(t.elapsed().as_secs_f64() * 1000.0);
                        }
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                lat.lock().unwrap_or_else(|e| e.into_inner()).extend(mine);
            }));
        }
    }
    tokio::time::sleep(Duration::from_secs(args.secs)).await;
    let window = start.elapsed().as_secs_f64();
    let acked_in_window = acked.load(Ordering::Relaxed);
    let delivered_in_window: u64 = receivers
        .iter()
        .map(|r| r.received.load(Ordering::Relaxed))
        .sum::<u64>()
        - base;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    // Everything acknowledged must arrive.
    let total_acked = acked.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(30);
    let delivered = loop {
        let d: u64 = receivers
            .iter()
            .map(|r| r.received.load(Ordering::Relaxed))
            .sum::<u64>()
            - base;
        if d >= total_acked || Instant::now() > deadline {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut lat = latencies.lock().unwrap_or_else(|e| e.into_inner()).clone();
    lat.sort_by(f64::total_cmp);
    let kind = match (&args.postgres, &args.nats) {
        (Some(_), Some(_)) => "postgres+nats",
        (Some(_), None) => "postgres",
        _ => "sqlite",
    };
    println!(
        "{{\"nodes\":{n},\"store\":\"{kind}\",\"pairs\":{},\"inflight\":{},\"secs\":{window:.1},\
         \"acked_per_sec\":{:.0},\"delivered_per_sec\":{:.0},\"ack_ms_p50\":{:.1},\
         \"ack_ms_p99\":{:.1},\"failed\":{},\"acked\":{total_acked},\"delivered\":{delivered}}}",
        args.pairs,
        args.inflight,
        acked_in_window as f64 / window,
        delivered_in_window as f64 / window,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        failed.load(Ordering::Relaxed),
    );
    if delivered < total_acked {
        bail!("{total_acked} acknowledged but {delivered} delivered");
    }
    for p in senders.iter().chain(&receivers) {
        p.client.close();
    }
    Ok(())
}
