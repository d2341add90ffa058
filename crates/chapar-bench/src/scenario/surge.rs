//! `surge`: resident pairs exchange direct messages at a steady rate while new arrivals ramp up
//! to a peak several times what the node admits, hold there, and stop. A newcomer connects,
//! signs up, sends one message to a resident, stays a while and leaves; when refused it waits
//! as told (Retry-After or `retry_after_ms`) and tries again a few times. Per second: arrivals,
//! admissions, refusals (and whether they carried a retry hint), residents' latency, server
//! memory. The verdict: residents' p99 stays bounded, refusals carry Retry-After, memory stays
//! flat, and every acknowledged message (residents' and newcomers') is delivered.

use super::{Ctx, pace, register_many, retry_delay, settled_rss};
use crate::hist::{AtomicHist, Hist};
use crate::lean::{self, CallError, Incoming, Link, OpenError};
use crate::progress;
use crate::report::{Floor, fmt, num, round};
use anyhow::Context;
use chapar_proto::frame::Send;
use chapar_proto::{ConversationId, Request, Response, UserId};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Resident pairs, connected before the surge, messaging throughout.
    #[arg(long, default_value_t = 200)]
    pub residents: usize,
    /// Messages per second among the residents (all together).
    #[arg(long, default_value_t = 2000)]
    pub resident_rate: u64,
    /// New arrivals per second at the top of the ramp.
    #[arg(long, default_value_t = 6000)]
    pub peak: u64,
    /// Seconds of residents alone before the ramp.
    #[arg(long, default_value_t = 5)]
    pub before: u64,
    /// Seconds of the ramp from 0 to the peak.
    #[arg(long, default_value_t = 20)]
    pub ramp: u64,
    /// Seconds at the peak.
    #[arg(long, default_value_t = 10)]
    pub hold: u64,
    /// Seconds after arrivals stop.
    #[arg(long, default_value_t = 5)]
    pub after: u64,
    /// Seconds an admitted newcomer stays connected.
    #[arg(long, default_value_t = 5)]
    pub stay: u64,
    /// Most newcomer sockets the generator holds at once (its own descriptors); arrivals beyond
    /// are counted as skipped. Refused newcomers waiting to retry hold none.
    #[arg(long, default_value_t = 15_000)]
    pub max_open: usize,
    /// Times a refused newcomer tries again.
    #[arg(long, default_value_t = 2)]
    pub retries: u32,
    /// Sign-ups in flight while setting up the residents.
    #[arg(long, default_value_t = 128)]
    pub concurrency: usize,
}

pub fn server_env(_: &Args) -> Vec<(String, String)> {
    vec![]
}

pub const RATIOS: &[(&str, &str)] = &[
    (
        "residents' p99 during the surge (ms)",
        "/residents/p99_ms_surge",
    ),
    ("newcomers admitted", "/newcomers/admitted"),
];

#[derive(Default)]
struct Sec {
    arrivals: AtomicU64,
    attempts: AtomicU64,
    admitted: AtomicU64,
    refused_http: AtomicU64,
    refused_error: AtomicU64,
    refused_without_hint: AtomicU64,
    failed: AtomicU64,
    skipped: AtomicU64,
    delivered: AtomicU64,
    latency: AtomicHist,
    rss_kib: AtomicU64,
    open: AtomicU64,
}

struct Shared {
    /// Start of the timeline (microseconds since the epoch): second 0 begins here.
    start: AtomicU64,
    secs: Vec<Sec>,
    /// Newcomer sockets open now.
    open: AtomicUsize,
    /// Newcomer tasks alive (connected, or waiting to retry).
    tasks: AtomicUsize,
    ended: AtomicBool,
    resident_acked: AtomicU64,
    resident_delivered: AtomicU64,
    newcomer_acked: AtomicU64,
    newcomer_delivered: AtomicU64,
    resident_errors: AtomicU64,
    resident_disconnects: AtomicU64,
}

impl Shared {
    fn sec(&self) -> &Sec {
        let start = self.start.load(Ordering::Relaxed);
        let i = (lean::now_micros().saturating_sub(start) / 1_000_000) as usize;
        &self.secs[i.min(self.secs.len() - 1)]
    }
}

const STAMP_IDS: u64 = 1_000_000_000_000_000;

fn resident(sh: Arc<Shared>, me: UserId) -> impl FnMut(Incoming<'_>) + std::marker::Send + 'static {
    move |inc| match inc {
        Incoming::Frame(f) => match f.kind {
            "event" => {
                let Some(m) = f.event.and_then(|e| e.message) else {
                    return;
                };
                if m.sender == me {
                    return;
                }
                match m.text {
                    Some(t) if t.starts_with("n:") => {
                        sh.newcomer_delivered.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(t) => {
                        if let Some(stamp) = super::direct::stamp(t) {
                            let s = sh.sec();
                            s.delivered.fetch_add(1, Ordering::Relaxed);
                            s.latency.record(lean::now_micros().saturating_sub(stamp));
                            sh.resident_delivered.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    None => {}
                }
            }
            "reply" if f.id.is_some_and(|id| id >= STAMP_IDS) => {
                sh.resident_acked.fetch_add(1, Ordering::Relaxed);
            }
            "error" => {
                sh.resident_errors.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        },
        Incoming::Closed(_) => {
            sh.resident_disconnects.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Counts one open socket for as long as it lives.
struct OpenSocket<'a>(&'a AtomicUsize);

impl<'a> OpenSocket<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        OpenSocket(count)
    }
}

impl Drop for OpenSocket<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Arrivals due by `t` seconds: zero before the ramp, then the integral of a linear ramp to
/// `peak`, then `peak` per second, then nothing more.
fn arrivals_due(a: &Args, t: f64) -> f64 {
    let (b, r, h) = (a.before as f64, a.ramp.max(1) as f64, a.hold as f64);
    let peak = a.peak as f64;
    if t <= b {
        0.0
    } else if t <= b + r {
        peak * (t - b).powi(2) / (2.0 * r)
    } else {
        peak * r / 2.0 + peak * (t - b - r).min(h)
    }
}

async fn newcomer(
    sh: Arc<Shared>,
    dialer: Arc<lean::Dialer>,
    handle: String,
    resident: String,
    retries: u32,
    stay: Duration,
    max_open: usize,
) {
    let mut attempt = 0;
    loop {
        let s = sh.sec();
        if attempt > 0 && sh.open.load(Ordering::Relaxed) >= max_open {
            s.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        s.attempts.fetch_add(1, Ordering::Relaxed);
        // This socket counts against the generator's own descriptors until it is closed.
        let socket = OpenSocket::new(&sh.open);
        let hint = match dialer.open().await {
            Err(OpenError::Refused { retry_after_ms, .. }) => {
                let s = sh.sec();
                s.refused_http.fetch_add(1, Ordering::Relaxed);
                if retry_after_ms.is_none() {
                    s.refused_without_hint.fetch_add(1, Ordering::Relaxed);
                }
                retry_after_ms
            }
            Err(OpenError::Failed(_)) => {
                sh.sec().failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok((mut ws, hello)) => match lean::register(&mut ws, &hello, &handle).await {
                Ok(_) => {
                    sh.sec().admitted.fetch_add(1, Ordering::Relaxed);
                    let sent = lean::call(
                        &mut ws,
                        2,
                        Request::Send(Send {
                            conversation: None,
                            peer: Some(resident),
                            client_id: "hello".into(),
                            content_type: None,
                            text: Some(format!("n:{handle}")),
                            data: None,
                            reply_to: None,
                        }),
                    )
                    .await;
                    if matches!(sent, Ok(Response::Sent(_))) {
                        sh.newcomer_acked.fetch_add(1, Ordering::Relaxed);
                    }
                    let until = tokio::time::Instant::now() + stay;
                    loop {
                        tokio::select! {
                            m = ws.next() => if !matches!(m, Some(Ok(_))) { break },
                            _ = tokio::time::sleep_until(until) => break,
                        }
                    }
                    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                    return;
                }
                Err(CallError::Server(e)) if e.code.is_retryable() => {
                    let s = sh.sec();
                    s.refused_error.fetch_add(1, Ordering::Relaxed);
                    if e.retry_after_ms.is_none() {
                        s.refused_without_hint.fetch_add(1, Ordering::Relaxed);
                    }
                    e.retry_after_ms
                }
                Err(_) => {
                    sh.sec().failed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            },
        };
        // Refused: the socket is closed; waiting to retry holds none.
        drop(socket);
        if attempt >= retries || sh.ended.load(Ordering::Relaxed) {
            return;
        }
        tokio::time::sleep(retry_delay(hint, attempt, Duration::from_secs(30))).await;
        attempt += 1;
    }
}

pub async fn run(a: &Args, ctx: &mut Ctx) -> anyhow::Result<Value> {
    let pairs = a.residents.max(1);
    let accounts = register_many(ctx, pairs * 2, a.concurrency, true, "residents").await?;
    let resident_handles: Vec<String> =
        accounts.iter().map(|(acc, _)| acc.handle.clone()).collect();
    let mut convs = vec![ConversationId(0); pairs];
    let mut conns = vec![];
    for (i, (acc, ws)) in accounts.into_iter().enumerate() {
        let mut ws = ws.context("connection kept")?;
        if i % 2 == 0 {
            let r = lean::call(
                &mut ws,
                2,
                Request::Send(Send {
                    conversation: None,
                    peer: Some(ctx.handle(i + 1)),
                    client_id: "open".into(),
                    content_type: None,
                    text: Some("hello".into()),
                    data: None,
                    reply_to: None,
                }),
            )
            .await?;
            if let Response::Sent(s) = r {
                convs[i / 2] = s.conversation;
            }
        }
        conns.push((acc.user, ws));
    }
    let total = (a.before + a.ramp + a.hold + a.after) as usize;
    let sh = Arc::new(Shared {
        start: AtomicU64::new(lean::now_micros()),
        secs: (0..total + 60).map(|_| Sec::default()).collect(),
        open: AtomicUsize::new(0),
        tasks: AtomicUsize::new(0),
        ended: AtomicBool::new(false),
        resident_acked: AtomicU64::new(0),
        resident_delivered: AtomicU64::new(0),
        newcomer_acked: AtomicU64::new(0),
        newcomer_delivered: AtomicU64::new(0),
        resident_errors: AtomicU64::new(0),
        resident_disconnects: AtomicU64::new(0),
    });
    let links: Vec<(Link, ConversationId)> = conns
        .into_iter()
        .enumerate()
        .map(|(i, (user, ws))| {
            (
                Link::start(ws, 256, resident(sh.clone(), user)),
                convs[i / 2],
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = settled_rss(&ctx.target).await;
    sh.start.store(lean::now_micros(), Ordering::Relaxed);
    let started = Instant::now();

    // Server memory, once a second, on the timeline.
    let sampler = {
        let (sh, pid) = (sh.clone(), ctx.target.pid());
        tokio::spawn(async move {
            while !sh.ended.load(Ordering::Relaxed) {
                if let Some(kib) = pid.and_then(crate::procfs::rss_kib) {
                    let s = sh.sec();
                    s.rss_kib.fetch_max(kib, Ordering::Relaxed);
                    s.open
                        .store(sh.open.load(Ordering::Relaxed) as u64, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    // Arrivals, on their own task: spawn the newcomers due every millisecond.
    let arrivals = {
        let (sh, dialer, a2) = (sh.clone(), ctx.dialer.clone(), a.clone());
        let tag = ctx.tag.clone();
        let residents = resident_handles.clone();
        tokio::spawn(async move {
            let mut spawned = 0u64;
            let end = (a2.before + a2.ramp + a2.hold) as f64;
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                let t = started.elapsed().as_secs_f64();
                if t > end {
                    return spawned;
                }
                let due = arrivals_due(&a2, t) as u64;
                while spawned < due {
                    let s = sh.sec();
                    s.arrivals.fetch_add(1, Ordering::Relaxed);
                    if sh.open.load(Ordering::Relaxed) >= a2.max_open {
                        s.skipped.fetch_add(1, Ordering::Relaxed);
                    } else {
                        let sh = sh.clone();
                        let dialer = dialer.clone();
                        let handle = format!("{tag}_n{spawned}");
                        let resident = residents[spawned as usize % residents.len()].clone();
                        let (retries, stay) = (a2.retries, Duration::from_secs(a2.stay));
                        let max_open = a2.max_open;
                        sh.tasks.fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(async move {
                            newcomer(
                                sh.clone(),
                                dialer,
                                handle,
                                resident,
                                retries,
                                stay,
                                max_open,
                            )
                            .await;
                            sh.tasks.fetch_sub(1, Ordering::Relaxed);
                        });
                    }
                    spawned += 1;
                }
            }
        })
    };
    // Residents, open loop, for the whole timeline.
    let pb = progress::timed(total as u64, "surge");
    let ticker = {
        let pb = pb.clone();
        let sh = sh.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                pb.inc(1);
                pb.set_message(format!(
                    "{} newcomers open",
                    sh.open.load(Ordering::Relaxed)
                ));
            }
        })
    };
    pace(
        a.resident_rate as f64,
        Duration::from_secs(total as u64),
        |i, intended| {
            let (link, conv) = &links[(i % links.len() as u64) as usize];
            let request = Request::Send(Send {
                conversation: Some(*conv),
                peer: None,
                client_id: format!("r{i}"),
                content_type: None,
                text: Some(intended.to_string()),
                data: None,
                reply_to: None,
            });
            let _ = link.try_send(lean::frame(intended, request));
        },
    )
    .await;
    ticker.abort();
    pb.finish_and_clear();
    let arrivals_spawned = arrivals.await.unwrap_or(0);
    // Newcomers still connected finish their stay; refused ones stop retrying.
    let drain_until = Instant::now() + Duration::from_secs(a.stay + 15);
    while sh.tasks.load(Ordering::Relaxed) > 0 && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let settle = Instant::now() + Duration::from_secs(10);
    while (sh.resident_delivered.load(Ordering::Relaxed)
        < sh.resident_acked.load(Ordering::Relaxed)
        || sh.newcomer_delivered.load(Ordering::Relaxed)
            < sh.newcomer_acked.load(Ordering::Relaxed))
        && Instant::now() < settle
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sh.ended.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    for (link, _) in &links {
        let _ = link.try_send(tokio_tungstenite::tungstenite::Message::Close(None));
    }

    let b = a.before as usize;
    let surge_end = (a.before + a.ramp + a.hold) as usize;
    let before = merged(&sh.secs, 1.min(b)..b);
    let surge = merged(&sh.secs, b..surge_end);
    let worst = (b..total.min(sh.secs.len()))
        .map(|i| sh.secs[i].latency.snapshot().quantile(0.99))
        .max()
        .unwrap_or(0);
    let sum = |f: fn(&Sec) -> u64| -> u64 { sh.secs.iter().map(f).sum() };
    let timeline: Vec<Value> = sh.secs[..total.min(sh.secs.len())]
        .iter()
        .enumerate()
        .map(|(t, s)| {
            let h = s.latency.snapshot();
            json!({
                "t": t,
                "arrivals": s.arrivals.load(Ordering::Relaxed),
                "attempts": s.attempts.load(Ordering::Relaxed),
                "admitted": s.admitted.load(Ordering::Relaxed),
                "refused_http": s.refused_http.load(Ordering::Relaxed),
                "refused_error": s.refused_error.load(Ordering::Relaxed),
                "failed": s.failed.load(Ordering::Relaxed),
                "skipped": s.skipped.load(Ordering::Relaxed),
                "newcomers_open": s.open.load(Ordering::Relaxed),
                "resident_delivered": s.delivered.load(Ordering::Relaxed),
                "resident_p50_ms": h.quantile(0.5) as f64 / 1000.0,
                "resident_p99_ms": h.quantile(0.99) as f64 / 1000.0,
                "rss_kib": s.rss_kib.load(Ordering::Relaxed),
            })
        })
        .collect();
    let rss: Vec<u64> = sh
        .secs
        .iter()
        .map(|s| s.rss_kib.load(Ordering::Relaxed))
        .collect();
    let peak_start = (a.before + a.ramp) as usize;
    let at = |i: usize| rss.get(i).copied().filter(|k| *k > 0);
    let growth_at_peak = match (at(peak_start), at(surge_end.saturating_sub(1))) {
        (Some(x), Some(y)) => Some(y as i64 - x as i64),
        _ => None,
    };
    let refused = sum(|s| s.refused_http.load(Ordering::Relaxed))
        + sum(|s| s.refused_error.load(Ordering::Relaxed));
    let r_acked = sh.resident_acked.load(Ordering::Relaxed);
    let r_delivered = sh.resident_delivered.load(Ordering::Relaxed);
    let n_acked = sh.newcomer_acked.load(Ordering::Relaxed);
    let n_delivered = sh.newcomer_delivered.load(Ordering::Relaxed);
    let _ = started;
    Ok(json!({
        "peak_arrivals_per_sec": a.peak,
        "residents": {
            "pairs": pairs,
            "rate": a.resident_rate,
            "p50_ms_before": before.quantile(0.5) as f64 / 1000.0,
            "p99_ms_before": before.quantile(0.99) as f64 / 1000.0,
            "p50_ms_surge": surge.quantile(0.5) as f64 / 1000.0,
            "p99_ms_surge": surge.quantile(0.99) as f64 / 1000.0,
            "worst_second_p99_ms": worst as f64 / 1000.0,
            "acked": r_acked,
            "delivered": r_delivered,
            "lost": r_acked.saturating_sub(r_delivered),
            "errors": sh.resident_errors.load(Ordering::Relaxed),
            "disconnects": sh.resident_disconnects.load(Ordering::Relaxed),
        },
        "newcomers": {
            "arrivals": arrivals_spawned,
            "attempts": sum(|s| s.attempts.load(Ordering::Relaxed)),
            "admitted": sum(|s| s.admitted.load(Ordering::Relaxed)),
            "refused": refused,
            "refused_http": sum(|s| s.refused_http.load(Ordering::Relaxed)),
            "refused_error": sum(|s| s.refused_error.load(Ordering::Relaxed)),
            "refused_without_hint": sum(|s| s.refused_without_hint.load(Ordering::Relaxed)),
            "refusals_with_hint_share": (refused > 0).then(|| round(1.0 - sum(|s| s.refused_without_hint.load(Ordering::Relaxed)) as f64 / refused as f64, 4)),
            "failed": sum(|s| s.failed.load(Ordering::Relaxed)),
            "skipped_by_generator": sum(|s| s.skipped.load(Ordering::Relaxed)),
            "acked": n_acked,
            "delivered": n_delivered,
            "lost": n_acked.saturating_sub(n_delivered),
        },
        "memory": {
            "rss_before_kib": rss_before,
            "rss_max_kib": rss.iter().copied().max(),
            "rss_at_peak_start_kib": at(peak_start),
            "rss_at_peak_end_kib": at(surge_end.saturating_sub(1)),
            "growth_at_peak_kib": growth_at_peak,
        },
        "timeline": timeline,
    }))
}

pub fn summary(v: &Value) -> String {
    format!(
        "  residents' p99: before {} ms, during the surge {} ms (worst second {} ms)\n  \
         newcomers: {} arrivals, {} admitted, {} refused ({} without a retry hint), {} failed\n  \
         server RSS MiB: before {}  max {}  growth at the peak {}\n  \
         lost: residents {}, newcomers {}\n",
        fmt(num(v, "/residents/p99_ms_before")),
        fmt(num(v, "/residents/p99_ms_surge")),
        fmt(num(v, "/residents/worst_second_p99_ms")),
        fmt(num(v, "/newcomers/arrivals")),
        fmt(num(v, "/newcomers/admitted")),
        fmt(num(v, "/newcomers/refused")),
        fmt(num(v, "/newcomers/refused_without_hint")),
        fmt(num(v, "/newcomers/failed")),
        fmt(num(v, "/memory/rss_before_kib").map(|k| k / 1024.0)),
        fmt(num(v, "/memory/rss_max_kib").map(|k| k / 1024.0)),
        fmt(num(v, "/memory/growth_at_peak_kib").map(|k| k / 1024.0)),
        fmt(num(v, "/residents/lost")),
        fmt(num(v, "/newcomers/lost")),
    )
}

/// The surge has no numeric floor in the issue; these are its checks, with the bounds this
/// bench uses for "bounded" and "flat".
pub fn floors(_: &Args, chapar: &Value, _relay: Option<&Value>) -> Vec<Floor> {
    let growth = match (
        num(chapar, "/memory/growth_at_peak_kib"),
        num(chapar, "/memory/rss_at_peak_start_kib"),
    ) {
        (Some(g), Some(s)) if s > 0.0 => Some(round(g / s, 3)),
        _ => None,
    };
    vec![
        Floor::at_most(
            "surge: residents' worst one-second p99 within 1 s",
            num(chapar, "/residents/worst_second_p99_ms"),
            1000.0,
        ),
        Floor::at_least(
            "surge: every refusal carries a retry hint (share)",
            num(chapar, "/newcomers/refusals_with_hint_share").or(Some(1.0)),
            1.0,
        ),
        Floor::at_most(
            "surge: memory flat at the peak (growth over the peak, share)",
            growth,
            0.1,
        ),
        Floor::at_most(
            "surge: nothing lost (residents' and newcomers' acked messages)",
            match (
                num(chapar, "/residents/lost"),
                num(chapar, "/newcomers/lost"),
            ) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            },
            0.0,
        ),
    ]
}

fn merged(secs: &[Sec], range: std::ops::Range<usize>) -> Hist {
    let mut h = Hist::default();
    for s in &secs[range.start.min(secs.len())..range.end.min(secs.len())] {
        h.merge(&s.latency.snapshot());
    }
    h
}
