//! `direct`: pairs of users exchange 1:1 messages at a stepped offered rate (open loop: each
//! message has an intended send time, and latency counts from it). Per step: delivered
//! messages/s, end-to-end latency (intended send to receipt on the partner's socket)
//! p50/p95/p99/max, acknowledgement latency, errors by code, and CPU of server and generator.
//! The run reports the highest rate delivered in full with p99 within 100 ms, and the rate
//! where delivery falls behind.

use super::{Ctx, Monitor, pace, register_many};
use crate::hist::AtomicHist;
use crate::lean::{self, Incoming, Link};
use crate::procfs::CpuMark;
use crate::progress;
use crate::report::{Floor, fmt, num, round};
use anyhow::Context;
use chapar_proto::frame::Send;
use chapar_proto::{ConversationId, Request, Response, UserId};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Pairs of users; every connection sends to its partner. (chapar's default send budget is
    /// 20 messages/s per device, so 2,000 pairs can be offered up to 80,000 messages/s.)
    #[arg(long, default_value_t = 2000)]
    pub pairs: usize,
    /// Offered rates in messages/s, one step each.
    #[arg(
        long,
        value_delimiter = ',',
        default_values_t = [5000u64, 10000, 15000, 20000, 25000, 30000, 35000, 40000, 50000, 60000, 80000, 100000]
    )]
    pub rates: Vec<u64>,
    /// Seconds per step.
    #[arg(long, default_value_t = 5)]
    pub step_secs: u64,
    /// Run every step even after delivery has fallen far behind.
    #[arg(long)]
    pub all_steps: bool,
    /// Upper bound in seconds on all steps together.
    #[arg(long, default_value_t = 90)]
    pub duration: u64,
    /// Extra characters of text per message (beyond the timestamp).
    #[arg(long, default_value_t = 0)]
    pub pad: usize,
    /// Sign-ups in flight while setting up.
    #[arg(long, default_value_t = 128)]
    pub concurrency: usize,
}

pub fn server_env(_: &Args) -> Vec<(String, String)> {
    super::setup_env()
}

pub const RATIOS: &[(&str, &str)] = &[
    ("max delivered msg/s", "/max_delivered_per_sec"),
    (
        "max rate delivered with p99 <= 100 ms",
        "/max_sustained_rate",
    ),
];

/// A step is behind when it delivers less than this share of the offered rate...
const BEHIND_SHARE: f64 = 0.95;
/// ...or its p99 is above this (ms): the bound.
const P99_BOUND_MS: f64 = 100.0;
/// Far behind: stop stepping up.
const FAR_SHARE: f64 = 0.8;
const FAR_P99_MS: f64 = 2000.0;

/// Request ids at or above this are send timestamps (microseconds since the epoch).
const STAMP_IDS: u64 = 1_000_000_000_000_000;

#[derive(Default)]
struct Step {
    acked: AtomicU64,
    delivered: AtomicU64,
    echoes: AtomicU64,
    not_offered: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    e2e: AtomicHist,
    ack: AtomicHist,
}

struct Shared {
    steps: Vec<Step>,
    current: AtomicUsize,
    acked: AtomicU64,
    delivered: AtomicU64,
    disconnects: AtomicU64,
    close_reasons: Mutex<BTreeMap<String, u64>>,
}

impl Shared {
    fn step(&self) -> &Step {
        let i = self
            .current
            .load(Ordering::Relaxed)
            .min(self.steps.len() - 1);
        &self.steps[i]
    }
}

fn handler(sh: Arc<Shared>, me: UserId) -> impl FnMut(Incoming<'_>) + std::marker::Send + 'static {
    move |inc| match inc {
        Incoming::Frame(f) => {
            let step = sh.step();
            match f.kind {
                "event" => {
                    let Some(m) = f.event.and_then(|e| e.message) else {
                        return;
                    };
                    if m.sender == me {
                        step.echoes.fetch_add(1, Ordering::Relaxed);
                    } else if let Some(t) = m.text.and_then(stamp) {
                        step.delivered.fetch_add(1, Ordering::Relaxed);
                        sh.delivered.fetch_add(1, Ordering::Relaxed);
                        step.e2e.record(lean::now_micros().saturating_sub(t));
                    }
                }
                "reply" => {
                    if let Some(id) = f.id.filter(|id| *id >= STAMP_IDS) {
                        step.acked.fetch_add(1, Ordering::Relaxed);
                        sh.acked.fetch_add(1, Ordering::Relaxed);
                        step.ack.record(lean::now_micros().saturating_sub(id));
                    }
                }
                "error" => {
                    let code = f
                        .error
                        .map(|e| e.code.as_str().to_string())
                        .unwrap_or_default();
                    *step
                        .errors
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(code)
                        .or_insert(0) += 1;
                }
                _ => {}
            }
        }
        Incoming::Closed(reason) => {
            sh.disconnects.fetch_add(1, Ordering::Relaxed);
            *sh.close_reasons
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(reason.unwrap_or_else(|| "closed".into()))
                .or_insert(0) += 1;
        }
    }
}

/// The timestamp at the start of a bench message's text.
pub fn stamp(text: &str) -> Option<u64> {
    text.split([':', ' ']).next()?.parse().ok()
}

pub async fn run(a: &Args, ctx: &mut Ctx) -> anyhow::Result<Value> {
    let n = a.pairs.max(1) * 2;
    let accounts = register_many(ctx, n, a.concurrency, true, "sign-up").await?;
    // The first of each pair opens the direct conversation (not measured).
    let mut convs = vec![ConversationId(0); a.pairs.max(1)];
    let mut conns = vec![];
    let pb = progress::bar(n as u64, "open chats");
    for (i, (acc, ws)) in accounts.into_iter().enumerate() {
        let mut ws = ws.context("connection kept")?;
        if i % 2 == 0 {
            let peer = ctx.handle(i + 1);
            let r = lean::call(
                &mut ws,
                2,
                Request::Send(Send {
                    conversation: None,
                    peer: Some(peer),
                    client_id: "open".into(),
                    content_type: None,
                    text: Some("hello".into()),
                    data: None,
                    reply_to: None,
                }),
            )
            .await?;
            match r {
                Response::Sent(s) => convs[i / 2] = s.conversation,
                other => anyhow::bail!("expected sent, got {other:?}"),
            }
        }
        conns.push((acc.user, ws));
        pb.inc(1);
    }
    pb.finish_and_clear();

    let rates: Vec<u64> = a.rates.iter().copied().filter(|r| *r > 0).collect();
    let sh = Arc::new(Shared {
        steps: (0..=rates.len()).map(|_| Step::default()).collect(),
        current: AtomicUsize::new(0),
        acked: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        disconnects: AtomicU64::new(0),
        close_reasons: Mutex::default(),
    });
    let links: Vec<(Link, ConversationId)> = conns
        .into_iter()
        .enumerate()
        .map(|(i, (user, ws))| {
            (
                Link::start(ws, 256, handler(sh.clone(), user)),
                convs[i / 2],
            )
        })
        .collect();
    // Let the opening messages' events arrive before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let monitor = Monitor::start(ctx.target.pid(), Duration::from_millis(500));
    let pad = "x".repeat(a.pad);
    let step_dur = Duration::from_secs(a.step_secs.max(1));
    let budget = tokio::time::Instant::now() + Duration::from_secs(a.duration);
    let mut rows = vec![];
    let mut sent_total = 0u64;
    let pb = progress::timed(a.step_secs * rates.len() as u64, "steps");
    for (si, &rate) in rates.iter().enumerate() {
        if tokio::time::Instant::now() + step_dur > budget {
            break;
        }
        sh.current.store(si, Ordering::Relaxed);
        pb.set_message(format!("{rate} msg/s"));
        let server_cpu = ctx.target.pid().map(CpuMark::now);
        let gen_cpu = CpuMark::now(std::process::id());
        let base = sent_total;
        let step = &sh.steps[si];
        let sent = pace(rate as f64, step_dur, |i, intended| {
            let k = ((base + i) % links.len() as u64) as usize;
            let (link, conv) = &links[k];
            let request = Request::Send(Send {
                conversation: Some(*conv),
                peer: None,
                client_id: format!("m{}", base + i),
                content_type: None,
                text: Some(format!("{intended}{pad}")),
                data: None,
                reply_to: None,
            });
            if !link.try_send(lean::frame(intended, request)) {
                step.not_offered.fetch_add(1, Ordering::Relaxed);
            }
        })
        .await;
        sent_total += sent;
        pb.inc(a.step_secs);
        let secs = step_dur.as_secs_f64();
        let delivered = step.delivered.load(Ordering::Relaxed);
        let e2e = step.e2e.snapshot().summary();
        let mut row = json!({
            "offered": rate,
            "secs": secs,
            "sent": sent - step.not_offered.load(Ordering::Relaxed),
            "not_offered": step.not_offered.load(Ordering::Relaxed),
            "acked": step.acked.load(Ordering::Relaxed),
            "delivered": delivered,
            "delivered_per_sec": round(delivered as f64 / secs, 1),
            "errors": step.errors.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            "e2e": e2e,
            "ack": step.ack.snapshot().summary(),
            "server_cpu": server_cpu.map(|m| m.since()),
            "generator_cpu": gen_cpu.since(),
        });
        // CPU time per delivered message: steadier than rates on a shared machine, and what
        // capacity projections are made from.
        if let Some(obj) = row.as_object_mut() {
            let per = |cores: Option<f64>| {
                cores
                    .filter(|_| delivered > 0)
                    .map(|c| round(c * secs * 1e6 / delivered as f64, 1))
            };
            let srv = num(&obj["server_cpu"], "/cores");
            let gen_ = num(&obj["generator_cpu"], "/cores");
            obj.insert("server_cpu_us_per_message".into(), json!(per(srv)));
            obj.insert("generator_cpu_us_per_message".into(), json!(per(gen_)));
        }
        let share = delivered as f64 / (rate as f64 * secs);
        let far = share < FAR_SHARE || e2e.p99_ms > FAR_P99_MS;
        rows.push(row);
        if far && !a.all_steps {
            break;
        }
    }
    pb.finish_and_clear();
    // Drain: give what was acknowledged time to arrive.
    sh.current.store(rates.len(), Ordering::Relaxed);
    let drain_until = tokio::time::Instant::now() + Duration::from_secs(10);
    while sh.delivered.load(Ordering::Relaxed) < sh.acked.load(Ordering::Relaxed)
        && tokio::time::Instant::now() < drain_until
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (link, _) in &links {
        let _ = link.try_send(tokio_tungstenite::tungstenite::Message::Close(None));
    }

    let mut max_delivered: f64 = 0.0;
    let mut max_sustained: Option<u64> = None;
    let mut p99_at_sustained = None;
    let mut knee = None;
    for r in &rows {
        let offered = r["offered"].as_f64().unwrap_or(0.0);
        let dps = r["delivered_per_sec"].as_f64().unwrap_or(0.0);
        let p99 = r["e2e"]["p99_ms"].as_f64().unwrap_or(f64::INFINITY);
        max_delivered = max_delivered.max(dps);
        let ok = dps >= BEHIND_SHARE * offered && p99 <= P99_BOUND_MS;
        if ok && knee.is_none() {
            max_sustained = Some(offered as u64);
            p99_at_sustained = Some(p99);
        } else if !ok && knee.is_none() {
            knee = Some(offered as u64);
        }
    }
    let acked = sh.acked.load(Ordering::Relaxed);
    let delivered = sh.delivered.load(Ordering::Relaxed);
    Ok(json!({
        "pairs": a.pairs,
        "connections": links.len(),
        "step_secs": a.step_secs,
        "steps": rows,
        "max_delivered_per_sec": max_delivered,
        "max_sustained_rate": max_sustained,
        "p99_ms_at_max_sustained": p99_at_sustained,
        "falls_behind_at": knee,
        "acked": acked,
        "delivered": delivered,
        "undelivered": acked.saturating_sub(delivered),
        "disconnects": sh.disconnects.load(Ordering::Relaxed),
        "close_reasons": sh.close_reasons.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        "rss_max_kib": monitor.max_kib(),
    }))
}

pub fn summary(v: &Value) -> String {
    let mut rows = vec![vec![
        "offered/s".to_string(),
        "delivered/s".into(),
        "p50 ms".into(),
        "p95".into(),
        "p99".into(),
        "max".into(),
        "ack p99".into(),
        "errors".into(),
        "srv cpu".into(),
        "gen cpu".into(),
        "srv us/msg".into(),
    ]];
    for s in v["steps"].as_array().into_iter().flatten() {
        let errors: u64 = s["errors"]
            .as_object()
            .map(|m| m.values().filter_map(|x| x.as_u64()).sum())
            .unwrap_or(0);
        rows.push(vec![
            fmt(num(s, "/offered")),
            fmt(num(s, "/delivered_per_sec")),
            fmt(num(s, "/e2e/p50_ms")),
            fmt(num(s, "/e2e/p95_ms")),
            fmt(num(s, "/e2e/p99_ms")),
            fmt(num(s, "/e2e/max_ms")),
            fmt(num(s, "/ack/p99_ms")),
            fmt(Some(errors as f64)),
            fmt(num(s, "/server_cpu/cores")),
            fmt(num(s, "/generator_cpu/cores")),
            fmt(num(s, "/server_cpu_us_per_message")),
        ]);
    }
    format!(
        "{}  max delivered {} msg/s; delivered in full with p99 <= 100 ms up to {} msg/s \
         (p99 {} ms); falls behind at {}\n  acked {}, delivered {}, undelivered {}, disconnects {}\n",
        crate::report::table(&rows),
        fmt(num(v, "/max_delivered_per_sec")),
        fmt(num(v, "/max_sustained_rate")),
        fmt(num(v, "/p99_ms_at_max_sustained")),
        fmt(num(v, "/falls_behind_at")),
        fmt(num(v, "/acked")),
        fmt(num(v, "/delivered")),
        fmt(num(v, "/undelivered")),
        fmt(num(v, "/disconnects")),
    )
}

pub fn floors(_: &Args, chapar: &Value, relay: Option<&Value>) -> Vec<Floor> {
    let mut f = vec![Floor::at_least(
        "direct: 25,000 delivered msg/s with p99 <= 100 ms",
        num(chapar, "/max_sustained_rate"),
        25_000.0,
    )];
    if let Some(r) = relay {
        let ratio = match (
            num(chapar, "/max_delivered_per_sec"),
            num(r, "/max_delivered_per_sec"),
        ) {
            (Some(c), Some(r)) if r > 0.0 => Some(round(c / r, 3)),
            _ => None,
        };
        f.push(Floor::at_least(
            "direct: at least 50% of the bare relay's throughput",
            ratio,
            0.5,
        ));
    }
    f
}

/// Latency percentiles against offered rate, chapar solid and the relay dashed.
pub fn chart(chapar: &Value, relay: Option<&Value>) -> String {
    use crate::chart::{Chart, PALETTE, Series};
    let mut series = vec![];
    for (who, v, dashed) in [("chapar", Some(chapar), false), ("relay", relay, true)] {
        let Some(v) = v else { continue };
        for (i, (name, p)) in [
            ("p50", "/e2e/p50_ms"),
            ("p95", "/e2e/p95_ms"),
            ("p99", "/e2e/p99_ms"),
            ("max", "/e2e/max_ms"),
        ]
        .iter()
        .enumerate()
        {
            let points = v["steps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| Some((num(s, "/offered")?, num(s, p)?)))
                .collect();
            series.push(Series {
                name: format!("{who} {name}"),
                color: PALETTE[i],
                dashed,
                points,
            });
        }
    }
    Chart {
        title: "direct messages: end-to-end latency against offered rate".into(),
        x_label: "offered messages per second".into(),
        y_label: "latency, ms (log scale)".into(),
        log_y: true,
        series,
        reference: Some((100.0, "p99 floor 100 ms".into())),
    }
    .svg()
}
