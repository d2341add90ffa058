//! The scenarios, and what they share: the context of one measurement (which server, how to
//! dial it, a unique handle prefix), bulk sign-up for setting up, an open-loop pacer, and a
//! sampler of the server's memory.
//!
//! Every scenario module has `Args` (its flags), `server_env` (configuration it needs from a
//! spawned chapar), `run` (one measurement against one server, as JSON), `summary` (the human
//! lines for one result), `RATIOS` (figures compared with the relay) and `floors`.

pub mod connections;
pub mod direct;
pub mod group;
pub mod reconnect;
pub mod signup;
pub mod surge;

use crate::lean::{self, Account, CallError, Dialer, OpenError, Ws};
use crate::progress;
use crate::target::{Kind, Target};
use anyhow::{Context, bail};
use chapar_proto::Hello;
use rand::Rng;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One measurement: a running server and how to reach it.
pub struct Ctx {
    pub kind: Kind,
    pub target: Target,
    pub dialer: Arc<Dialer>,
    /// Prefix that makes this run's handles unique.
    pub tag: String,
}

impl Ctx {
    pub fn handle(&self, n: usize) -> String {
        format!("{}_{n}", self.tag)
    }
}

/// Server configuration for scenarios whose setup signs up many accounts from a few loopback
/// addresses: the sign-up budgets (per node and per source address) are raised so that setting
/// up is not throttled. Nothing measured goes through them; every other limit stays default.
pub fn setup_env() -> Vec<(String, String)> {
    [
        ("CHAPAR_ADMISSION__SIGNUPS_PER_SECOND", "1000000"),
        ("CHAPAR_ADMISSION__SIGNUP_BURST", "1000000"),
        (
            "CHAPAR_ADMISSION__SIGNUPS_PER_ADDRESS__PER_MINUTE",
            "60000000",
        ),
        ("CHAPAR_ADMISSION__SIGNUPS_PER_ADDRESS__BURST", "1000000"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A random handle prefix (a letter first, as handles must start with one).
pub fn new_tag() -> String {
    let mut rng = rand::thread_rng();
    let mut s = String::from("b");
    for _ in 0..5 {
        s.push(rng.gen_range(b'a'..=b'z') as char);
    }
    s
}

/// How long to wait before trying again after a refusal: the server's hint when it gave one,
/// else a full-jitter backoff, never longer than `cap`.
pub fn retry_delay(hint_ms: Option<u64>, attempt: u32, cap: Duration) -> Duration {
    let d = match hint_ms {
        Some(ms) => Duration::from_millis(ms),
        None => {
            let ceiling = 50u64.saturating_mul(1 << attempt.min(10));
            Duration::from_millis(rand::thread_rng().gen_range(0..=ceiling))
        }
    };
    d.min(cap)
}

fn retryable(e: &CallError) -> Option<Option<u64>> {
    match e {
        CallError::Server(b) if b.code.is_retryable() => Some(b.retry_after_ms),
        CallError::Io(_) => Some(None),
        _ => None,
    }
}

/// Open a connection, waiting out refusals (setting up is not what is measured).
pub async fn open_patiently(dialer: &Dialer, deadline: Instant) -> anyhow::Result<(Ws, Hello)> {
    let mut attempt = 0;
    loop {
        let hint = match dialer.open().await {
            Ok(ok) => return Ok(ok),
            Err(OpenError::Refused { retry_after_ms, .. }) => retry_after_ms,
            Err(OpenError::Failed(e)) if Instant::now() >= deadline => bail!("connecting: {e}"),
            Err(OpenError::Failed(_)) => None,
        };
        if Instant::now() >= deadline {
            bail!("the server kept refusing connections");
        }
        tokio::time::sleep(retry_delay(hint, attempt, Duration::from_secs(5))).await;
        attempt += 1;
    }
}

/// Sign up `n` accounts (`concurrency` at a time), keeping each account's connection open
/// (signed in) when `keep` is set.
pub async fn register_many(
    ctx: &Ctx,
    n: usize,
    concurrency: usize,
    keep: bool,
    phase: &str,
) -> anyhow::Result<Vec<(Account, Option<Ws>)>> {
    let deadline = Instant::now() + Duration::from_secs(120 + n as u64 / 200);
    let next = Arc::new(AtomicUsize::new(0));
    type Slot = Option<(Account, Option<Ws>)>;
    let slots: Arc<Mutex<Vec<Slot>>> = Arc::new(Mutex::new((0..n).map(|_| None).collect()));
    let pb = progress::bar(n as u64, phase);
    let mut workers = vec![];
    for _ in 0..concurrency.clamp(1, n.max(1)) {
        let (next, slots, pb) = (next.clone(), slots.clone(), pb.clone());
        let (dialer, tag) = (ctx.dialer.clone(), ctx.tag.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<(), anyhow::Error>(());
                }
                let handle = format!("{tag}_{i}");
                let mut attempt = 0;
                let (account, ws) = loop {
                    let (mut ws, hello) = open_patiently(&dialer, deadline).await?;
                    match lean::register(&mut ws, &hello, &handle).await {
                        Ok(a) => break (a, ws),
                        Err(e) => {
                            let Some(hint) = retryable(&e) else {
                                bail!("signing up {handle}: {e}");
                            };
                            if Instant::now() >= deadline {
                                bail!("signing up {handle}: {e} (gave up)");
                            }
                            tokio::time::sleep(retry_delay(hint, attempt, Duration::from_secs(5)))
                                .await;
                            attempt += 1;
                        }
                    }
                };
                let ws = if keep {
                    Some(ws)
                } else {
                    drop(ws);
                    None
                };
                slots.lock().unwrap_or_else(|e| e.into_inner())[i] = Some((account, ws));
                pb.inc(1);
            }
        }));
    }
    for w in workers {
        w.await.context("sign-up worker")??;
    }
    pb.finish_and_clear();
    let slots = std::mem::take(&mut *slots.lock().unwrap_or_else(|e| e.into_inner()));
    slots
        .into_iter()
        .map(|s| s.context("an account was not created"))
        .collect()
}

/// Open loop: calls `send(i, intended_micros)` for message i = 0.. at `rate` per second for
/// `dur`, where the intended time of message i is start + i/rate whether or not the server
/// keeps up (latency measured from it includes any queueing, so slowness cannot hide).
/// Returns how many were due.
pub async fn pace(rate: f64, dur: Duration, mut send: impl FnMut(u64, u64)) -> u64 {
    let start = tokio::time::Instant::now();
    let start_micros = lean::now_micros();
    let total = (rate * dur.as_secs_f64()).round() as u64;
    let mut sent = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while sent < total {
        tick.tick().await;
        let elapsed = start.elapsed().as_secs_f64();
        let due = ((elapsed * rate) as u64 + 1).min(total);
        while sent < due {
            let intended = start_micros + (sent as f64 * 1e6 / rate) as u64;
            send(sent, intended);
            sent += 1;
        }
    }
    total
}

/// Samples the server's resident memory in the background.
pub struct Monitor {
    pid: Arc<AtomicU32>,
    samples: Arc<Mutex<Vec<(f64, u64)>>>,
    stop: Arc<AtomicBool>,
}

impl Monitor {
    pub fn start(pid: Option<u32>, every: Duration) -> Monitor {
        let m = Monitor {
            pid: Arc::new(AtomicU32::new(pid.unwrap_or(0))),
            samples: Arc::default(),
            stop: Arc::default(),
        };
        let (pid, samples, stop) = (m.pid.clone(), m.samples.clone(), m.stop.clone());
        tokio::spawn(async move {
            let start = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let p = pid.load(Ordering::Relaxed);
                if p != 0
                    && let Some(kib) = crate::procfs::rss_kib(p)
                {
                    samples
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((start.elapsed().as_secs_f64(), kib));
                }
                tokio::time::sleep(every).await;
            }
        });
        m
    }

    pub fn set_pid(&self, pid: Option<u32>) {
        self.pid.store(pid.unwrap_or(0), Ordering::Relaxed);
    }

    /// Highest resident memory seen, in KiB.
    pub fn max_kib(&self) -> Option<u64> {
        self.samples().iter().map(|s| s.1).max()
    }

    pub fn samples(&self) -> Vec<(f64, u64)> {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Resident memory of the server now (median of three readings 100 ms apart), in KiB.
pub async fn settled_rss(target: &Target) -> Option<u64> {
    let mut v = vec![];
    for _ in 0..3 {
        if let Some(k) = target.rss_kib() {
            v.push(k);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}
