//! `connections`: open N authenticated WebSocket connections at a given rate and hold them.
//! Reports the server's resident memory per idle connection (VmRSS while holding, minus VmRSS
//! before the first connection, over the connections held), a memory-against-connections
//! curve, and connect latency (TCP connect, upgrade, hello, `authenticate`) percentiles.
//!
//! The accounts are created first (not measured), so the memory counted is the connections'.

use super::{Ctx, Monitor, register_many, retry_delay, settled_rss};
use crate::hist::AtomicHist;
use crate::lean::{self, OpenError};
use crate::procfs::CpuMark;
use crate::progress;
use crate::report::{Floor, fmt, num};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Connections to open and hold.
    #[arg(long, default_value_t = 15_000)]
    pub count: usize,
    /// New connections per second.
    #[arg(long, default_value_t = 2_000)]
    pub rate: u64,
    /// Seconds to hold them all before measuring memory and closing.
    #[arg(long, default_value_t = 10)]
    pub hold: u64,
    /// Upper bound in seconds on connecting (refused connections retry until then).
    #[arg(long, default_value_t = 120)]
    pub duration: u64,
    /// Sign-ups in flight while creating the accounts.
    #[arg(long, default_value_t = 128)]
    pub concurrency: usize,
}

pub fn server_env(_: &Args) -> Vec<(String, String)> {
    super::setup_env()
}

pub const RATIOS: &[(&str, &str)] = &[
    ("server bytes per idle connection", "/bytes_per_connection"),
    ("connect p50 (ms)", "/connect/p50_ms"),
    ("connect p99 (ms)", "/connect/p99_ms"),
];

#[derive(Default)]
struct Counts {
    established: AtomicU64,
    failed: AtomicU64,
    refused: Mutex<BTreeMap<String, u64>>,
    refused_without_retry_after: AtomicU64,
    dropped_while_held: AtomicU64,
}

impl Counts {
    fn refuse(&self, what: String, hint: Option<u64>) {
        *self
            .refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(what)
            .or_insert(0) += 1;
        if hint.is_none() {
            self.refused_without_retry_after
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub async fn run(a: &Args, ctx: &mut Ctx) -> anyhow::Result<Value> {
    let accounts = register_many(ctx, a.count, a.concurrency, false, "sign-up").await?;
    let tokens: Vec<String> = accounts.into_iter().map(|(acc, _)| acc.token).collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let base = settled_rss(&ctx.target).await;
    let monitor = Monitor::start(ctx.target.pid(), Duration::from_millis(250));

    let counts = Arc::new(Counts::default());
    let latency = Arc::new(AtomicHist::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let deadline = Instant::now() + Duration::from_secs(a.duration);
    // Memory against connections: (established, RSS KiB), sampled as they ramp up.
    let curve = Arc::new(Mutex::new(vec![(0u64, base.unwrap_or(0))]));
    let sampler = {
        let (counts, curve, pid) = (counts.clone(), curve.clone(), ctx.target.pid());
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            while !*stop.borrow() {
                tokio::time::sleep(Duration::from_millis(250)).await;
                if let Some(kib) = pid.and_then(crate::procfs::rss_kib) {
                    let n = counts.established.load(Ordering::Relaxed);
                    curve
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((n, kib));
                }
            }
        })
    };

    let server_cpu = ctx.target.pid().map(CpuMark::now);
    let gen_cpu = CpuMark::now(std::process::id());
    let pb = progress::bar(a.count as u64, "connect");
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(a.count);
    let interval = Duration::from_secs_f64(1.0 / a.rate.max(1) as f64);
    for (i, token) in tokens.into_iter().enumerate() {
        let due = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        if Instant::now() >= deadline {
            break;
        }
        let (dialer, task_counts, latency, task_pb) = (
            ctx.dialer.clone(),
            counts.clone(),
            latency.clone(),
            pb.clone(),
        );
        let mut stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let (counts, pb) = (task_counts, task_pb);
            let mut attempt = 0;
            let mut ws = loop {
                let t0 = Instant::now();
                let hint = match dialer.open().await {
                    Ok((mut ws, _)) => match lean::authenticate(&mut ws, &token).await {
                        Ok(_) => {
                            latency.record(t0.elapsed().as_micros() as u64);
                            break ws;
                        }
                        Err(lean::CallError::Server(e)) if e.code.is_retryable() => {
                            counts.refuse(format!("error {}", e.code.as_str()), e.retry_after_ms);
                            e.retry_after_ms
                        }
                        Err(_) => {
                            counts.failed.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    },
                    Err(OpenError::Refused {
                        status,
                        retry_after_ms,
                    }) => {
                        counts.refuse(format!("HTTP {status}"), retry_after_ms);
                        retry_after_ms
                    }
                    Err(OpenError::Failed(_)) => {
                        counts.failed.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                };
                let wait = retry_delay(hint, attempt, Duration::from_secs(10));
                if Instant::now() + wait >= deadline {
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                tokio::time::sleep(wait).await;
                attempt += 1;
            };
            counts.established.fetch_add(1, Ordering::Relaxed);
            pb.inc(1);
            // Hold: read (answering pings) until told to stop or the server closes.
            loop {
                tokio::select! {
                    msg = ws.next() => match msg {
                        Some(Ok(_)) => continue,
                        _ => {
                            counts.dropped_while_held.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    },
                    _ = stop.changed() => break,
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(5), ws.close(None)).await;
        }));
        pb.set_message(format!(
            "{} open",
            counts.established.load(Ordering::Relaxed)
        ));
    }
    // Wait until every connection is up (or has given up).
    while Instant::now() < deadline
        && counts.established.load(Ordering::Relaxed) + counts.failed.load(Ordering::Relaxed)
            < tasks.len() as u64
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connect_secs = started.elapsed().as_secs_f64();
    let server_cpu = server_cpu.map(|m| m.since());
    let gen_cpu = gen_cpu.since();
    pb.finish_and_clear();

    let hold = progress::timed(a.hold, "hold");
    for _ in 0..a.hold {
        tokio::time::sleep(Duration::from_secs(1)).await;
        hold.inc(1);
    }
    hold.finish_and_clear();
    let held = counts.established.load(Ordering::Relaxed)
        - counts.dropped_while_held.load(Ordering::Relaxed);
    let rss_held = settled_rss(&ctx.target).await;
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    let _ = sampler.await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = settled_rss(&ctx.target).await;

    let per_conn = match (base, rss_held) {
        (Some(b), Some(h)) if held > 0 => Some(h.saturating_sub(b) as f64 * 1024.0 / held as f64),
        _ => None,
    };
    let curve: Vec<Value> = curve
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(n, k)| json!([n, k]))
        .collect();
    let refused = counts
        .refused
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Ok(json!({
        "requested": a.count,
        "rate": a.rate,
        "established": counts.established.load(Ordering::Relaxed),
        "held": held,
        "failed": counts.failed.load(Ordering::Relaxed),
        "dropped_while_held": counts.dropped_while_held.load(Ordering::Relaxed),
        "refused": refused,
        "refused_without_retry_after": counts.refused_without_retry_after.load(Ordering::Relaxed),
        "connect_secs": crate::report::round(connect_secs, 2),
        "connects_per_sec": crate::report::round(counts.established.load(Ordering::Relaxed) as f64 / connect_secs.max(1e-3), 1),
        "connect": latency.snapshot().summary(),
        "rss_base_kib": base,
        "rss_held_kib": rss_held,
        "rss_after_close_kib": rss_after,
        "rss_max_kib": monitor.max_kib(),
        "bytes_per_connection": per_conn.map(|b| b.round()),
        "server_cpu_while_connecting": server_cpu,
        "generator_cpu_while_connecting": gen_cpu,
        "memory_curve": curve,
    }))
}

pub fn summary(v: &Value) -> String {
    let kib = |p: &str| num(v, p).map(|k| k / 1024.0);
    format!(
        "  held {} of {} connections ({} failed, refusals {})\n  \
         connect latency ms: p50 {}  p99 {}  max {}   ({} connects/s)\n  \
         server RSS MiB: before {}  holding {}  after closing {}\n  \
         server memory per idle connection: {} bytes\n",
        fmt(num(v, "/held")),
        fmt(num(v, "/requested")),
        fmt(num(v, "/failed")),
        v.get("refused").map(|r| r.to_string()).unwrap_or_default(),
        fmt(num(v, "/connect/p50_ms")),
        fmt(num(v, "/connect/p99_ms")),
        fmt(num(v, "/connect/max_ms")),
        fmt(num(v, "/connects_per_sec")),
        fmt(kib("/rss_base_kib")),
        fmt(kib("/rss_held_kib")),
        fmt(kib("/rss_after_close_kib")),
        fmt(num(v, "/bytes_per_connection")),
    )
}

pub fn floors(a: &Args, chapar: &Value, _relay: Option<&Value>) -> Vec<Floor> {
    if a.count < 15_000 {
        return vec![];
    }
    vec![
        Floor::at_least(
            "15,000 idle authenticated connections held",
            num(chapar, "/held"),
            15_000.0,
        ),
        Floor::at_most(
            "at most 8 KiB of server memory per connection",
            num(chapar, "/bytes_per_connection"),
            8192.0,
        ),
    ]
}

/// Server memory against connections held, chapar and the relay.
pub fn chart(chapar: &Value, relay: Option<&Value>) -> String {
    use crate::chart::{Chart, PALETTE, Series};
    let curve = |v: &Value| -> Vec<(f64, f64)> {
        v["memory_curve"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()? / 1024.0)))
            .collect()
    };
    let mut series = vec![Series {
        name: "chapar".into(),
        color: PALETTE[0],
        dashed: false,
        points: curve(chapar),
    }];
    if let Some(r) = relay {
        series.push(Series {
            name: "bare relay".into(),
            color: PALETTE[1],
            dashed: true,
            points: curve(r),
        });
    }
    Chart {
        title: "server resident memory against authenticated idle connections".into(),
        x_label: "connections held".into(),
        y_label: "server RSS, MiB".into(),
        log_y: false,
        series,
        reference: None,
    }
    .svg()
}
