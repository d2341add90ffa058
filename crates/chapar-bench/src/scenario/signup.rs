//! `signup-storm`: M new accounts as fast as admission allows. Each account is a new device: a
//! new connection, the server's challenge signed with a fresh Ed25519 key, `register`, close.
//! Refusals (HTTP 503/429 on the upgrade, `overloaded` or `rate_limited` answers) are counted,
//! with whether they carried a retry hint, and the client waits as told before trying again.
//! Reports accepted accounts/s (overall and the best one-second window), refusals, and sign-up
//! latency.

use super::{Ctx, Monitor, retry_delay};
use crate::hist::AtomicHist;
use crate::lean::{self, CallError, OpenError};
use crate::procfs::CpuMark;
use crate::progress;
use crate::report::{Floor, fmt, num, round};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Accounts to create.
    #[arg(long, default_value_t = 20_000)]
    pub accounts: usize,
    /// Sign-ups in flight at once.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Upper bound in seconds.
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Raise the spawned server's sign-up and accept budgets out of the way, to measure what the
    /// node can do rather than what its admission control lets through.
    #[arg(long)]
    pub unthrottled: bool,
}

pub fn server_env(a: &Args) -> Vec<(String, String)> {
    if !a.unthrottled {
        return vec![];
    }
    // Every sign-up is a new connection: the accept budget goes out of the way too.
    let mut env = super::setup_env();
    env.push((
        "CHAPAR_ADMISSION__ACCEPTS_PER_SECOND".into(),
        "1000000".into(),
    ));
    env.push(("CHAPAR_ADMISSION__ACCEPT_BURST".into(), "1000000".into()));
    env
}

pub const RATIOS: &[(&str, &str)] = &[
    ("accepted accounts/s", "/accepted_per_sec"),
    ("sign-up p99 (ms)", "/latency/p99_ms"),
];

#[derive(Default)]
struct Counts {
    accepted: AtomicU64,
    failed: AtomicU64,
    refused: Mutex<BTreeMap<String, u64>>,
    refused_without_hint: AtomicU64,
    per_second: Mutex<Vec<u64>>,
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
            self.refused_without_hint.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub async fn run(a: &Args, ctx: &mut Ctx) -> anyhow::Result<Value> {
    let n = a.accounts.max(1);
    let counts = Arc::new(Counts::default());
    let latency = Arc::new(AtomicHist::default());
    let next = Arc::new(AtomicUsize::new(0));
    let monitor = Monitor::start(ctx.target.pid(), Duration::from_millis(250));
    let server_cpu = ctx.target.pid().map(CpuMark::now);
    let gen_cpu = CpuMark::now(std::process::id());
    let start = Instant::now();
    let deadline = start + Duration::from_secs(a.duration);
    let pb = progress::bar(n as u64, "sign-up");
    let mut workers = vec![];
    for _ in 0..a.concurrency.clamp(1, n) {
        let (counts, latency, next, pb) =
            (counts.clone(), latency.clone(), next.clone(), pb.clone());
        let (dialer, tag) = (ctx.dialer.clone(), ctx.tag.clone());
        workers.push(tokio::spawn(async move {
            'accounts: loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || Instant::now() >= deadline {
                    return;
                }
                let handle = format!("{tag}_{i}");
                let mut attempt = 0;
                loop {
                    if Instant::now() >= deadline {
                        return;
                    }
                    let t0 = Instant::now();
                    let hint = match dialer.open().await {
                        Ok((mut ws, hello)) => match lean::register(&mut ws, &hello, &handle).await
                        {
                            Ok(_) => {
                                latency.record(t0.elapsed().as_micros() as u64);
                                counts.accepted.fetch_add(1, Ordering::Relaxed);
                                let sec = start.elapsed().as_secs() as usize;
                                {
                                    let mut ps =
                                        counts.per_second.lock().unwrap_or_else(|e| e.into_inner());
                                    if ps.len() <= sec {
                                        ps.resize(sec + 1, 0);
                                    }
                                    ps[sec] += 1;
                                }
                                pb.inc(1);
                                // Close the socket; the server's close handshake follows.
                                let _ =
                                    tokio::time::timeout(Duration::from_secs(2), ws.close(None))
                                        .await;
                                continue 'accounts;
                            }
                            Err(CallError::Server(e)) if e.code.is_retryable() => {
                                counts
                                    .refuse(format!("error {}", e.code.as_str()), e.retry_after_ms);
                                e.retry_after_ms
                            }
                            Err(_) => {
                                counts.failed.fetch_add(1, Ordering::Relaxed);
                                continue 'accounts;
                            }
                        },
                        Err(OpenError::Refused {
                            status,
                            retry_after_ms,
                        }) => {
                            counts.refuse(format!("HTTP {status}"), retry_after_ms);
                            retry_after_ms
                        }
                        Err(OpenError::Failed(_)) if attempt >= 5 => {
                            counts.failed.fetch_add(1, Ordering::Relaxed);
                            continue 'accounts;
                        }
                        Err(OpenError::Failed(_)) => None,
                    };
                    tokio::time::sleep(retry_delay(hint, attempt, Duration::from_secs(10))).await;
                    attempt += 1;
                }
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    pb.finish_and_clear();
    let accepted = counts.accepted.load(Ordering::Relaxed);
    let per_second = counts
        .per_second
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    // The best full second (the last one is partial).
    let full = &per_second[..per_second.len().saturating_sub(1)];
    let best = full.iter().copied().max().or(per_second.first().copied());
    Ok(json!({
        "requested": n,
        "concurrency": a.concurrency,
        "accepted": accepted,
        "failed": counts.failed.load(Ordering::Relaxed),
        "secs": round(elapsed, 2),
        "accepted_per_sec": round(accepted as f64 / elapsed.max(1e-3), 1),
        "best_second": best,
        "per_second": per_second,
        "refused": counts.refused.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        "refused_without_retry_hint": counts.refused_without_hint.load(Ordering::Relaxed),
        "latency": latency.snapshot().summary(),
        "server_cpu": server_cpu.map(|m| m.since()),
        "generator_cpu": gen_cpu.since(),
        "rss_max_kib": monitor.max_kib(),
    }))
}

pub fn summary(v: &Value) -> String {
    format!(
        "  {} of {} accounts in {} s: {} accepted/s (best second {}); failed {}\n  \
         refusals {} ({} without a retry hint)\n  sign-up latency ms: p50 {}  p99 {}  max {}\n  \
         cpu (cores): server {}  generator {}\n",
        fmt(num(v, "/accepted")),
        fmt(num(v, "/requested")),
        fmt(num(v, "/secs")),
        fmt(num(v, "/accepted_per_sec")),
        fmt(num(v, "/best_second")),
        fmt(num(v, "/failed")),
        v.get("refused").map(|r| r.to_string()).unwrap_or_default(),
        fmt(num(v, "/refused_without_retry_hint")),
        fmt(num(v, "/latency/p50_ms")),
        fmt(num(v, "/latency/p99_ms")),
        fmt(num(v, "/latency/max_ms")),
        fmt(num(v, "/server_cpu/cores")),
        fmt(num(v, "/generator_cpu/cores")),
    )
}

pub fn floors(a: &Args, chapar: &Value, _relay: Option<&Value>) -> Vec<Floor> {
    if a.accounts < 5_000 {
        return vec![];
    }
    vec![Floor::at_least(
        "sign-ups: 5,000 accounts/s",
        num(chapar, "/accepted_per_sec"),
        5_000.0,
    )]
}
