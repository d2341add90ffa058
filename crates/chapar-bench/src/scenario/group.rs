//! `group`: one group of M members, all online; senders (members) post at a stepped rate.
//! Per step: deliveries/s (messages received by members, the sender's own copy included),
//! delivery latency, and the time until every member has each message (p50/p99 over the
//! step's messages). The run reports the most deliveries/s sustained with every member having
//! each message within 1 s (p99).

use super::{Ctx, Monitor, pace, register_many};
use crate::hist::AtomicHist;
use crate::lean::{self, Incoming, Link};
use crate::procfs::CpuMark;
use crate::progress;
use crate::report::{Floor, fmt, num, round};
use anyhow::{Context, bail};
use chapar_proto::frame::{AddMembers, CreateGroup, Send};
use chapar_proto::{Request, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Members of the group (all online).
    #[arg(long, default_value_t = 10_000)]
    pub members: usize,
    /// Messages per second to the group, one step each [default: the rates that offer
    /// 50k, 100k, 150k, 200k, 250k, 300k, 400k and 500k deliveries/s].
    #[arg(long, value_delimiter = ',')]
    pub rates: Option<Vec<u64>>,
    /// Seconds per step.
    #[arg(long, default_value_t = 5)]
    pub step_secs: u64,
    /// Run every step even after delivery has fallen far behind.
    #[arg(long)]
    pub all_steps: bool,
    /// Upper bound in seconds on all steps together.
    #[arg(long, default_value_t = 90)]
    pub duration: u64,
    /// Sign-ups in flight while setting up.
    #[arg(long, default_value_t = 128)]
    pub concurrency: usize,
}

impl Args {
    fn rates(&self) -> Vec<u64> {
        match &self.rates {
            Some(r) => r.iter().copied().filter(|r| *r > 0).collect(),
            None => {
                let m = self.members.max(1) as u64;
                let mut v: Vec<u64> = [
                    50_000u64, 100_000, 150_000, 200_000, 250_000, 300_000, 400_000, 500_000,
                ]
                .iter()
                .map(|d| (d / m).max(1))
                .collect();
                v.dedup();
                v
            }
        }
    }
}

pub fn server_env(a: &Args) -> Vec<(String, String)> {
    let mut env = super::setup_env();
    env.push((
        "CHAPAR_LIMITS__MAX_GROUP_MEMBERS".into(),
        a.members.max(1000).to_string(),
    ));
    env
}

pub const RATIOS: &[(&str, &str)] = &[
    ("max deliveries/s", "/max_deliveries_per_sec"),
    (
        "deliveries/s sustained with all members within 1 s (p99)",
        "/max_sustained_deliveries_per_sec",
    ),
];

const CHUNK: usize = 500;
/// Request ids at or above this are send timestamps.
const STAMP_IDS: u64 = 1_000_000_000_000_000;
const BEHIND_SHARE: f64 = 0.95;
const COMPLETE_P99_MS: f64 = 1000.0;
const FAR_SHARE: f64 = 0.8;
const FAR_P99_MS: f64 = 5000.0;

#[derive(Default)]
struct Step {
    deliveries: AtomicU64,
    acked: AtomicU64,
    not_offered: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    delivery: AtomicHist,
    complete: AtomicHist,
    completed: AtomicU64,
}

struct Shared {
    members: u32,
    steps: Vec<Step>,
    current: AtomicUsize,
    /// Per message: members that have it, the slowest latency so far, the step it was sent in.
    received: Vec<AtomicU32>,
    slowest: Vec<AtomicU64>,
    sent_in: Vec<AtomicU8>,
    acked: AtomicU64,
    completed: AtomicU64,
    disconnects: AtomicU64,
}

fn handler(sh: Arc<Shared>) -> impl FnMut(Incoming<'_>) + std::marker::Send + 'static {
    move |inc| {
        let f = match inc {
            Incoming::Frame(f) => f,
            Incoming::Closed(_) => {
                sh.disconnects.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let step = &sh.steps[sh.current.load(Ordering::Relaxed).min(sh.steps.len() - 1)];
        match f.kind {
            "event" => {
                let Some((t, n)) = f
                    .event
                    .and_then(|e| e.message)
                    .and_then(|m| m.text)
                    .and_then(parse)
                else {
                    return;
                };
                let Some(count) = sh.received.get(n) else {
                    return;
                };
                let lat = lean::now_micros().saturating_sub(t);
                step.deliveries.fetch_add(1, Ordering::Relaxed);
                step.delivery.record(lat);
                sh.slowest[n].fetch_max(lat, Ordering::Relaxed);
                if count.fetch_add(1, Ordering::Relaxed) + 1 == sh.members {
                    let s = &sh.steps[sh.sent_in[n].load(Ordering::Relaxed) as usize];
                    s.complete.record(sh.slowest[n].load(Ordering::Relaxed));
                    s.completed.fetch_add(1, Ordering::Relaxed);
                    sh.completed.fetch_add(1, Ordering::Relaxed);
                }
            }
            "reply" if f.id.is_some_and(|id| id >= STAMP_IDS) => {
                step.acked.fetch_add(1, Ordering::Relaxed);
                sh.acked.fetch_add(1, Ordering::Relaxed);
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
}

fn parse(text: &str) -> Option<(u64, usize)> {
    let (t, n) = text.split_once(':')?;
    Some((t.parse().ok()?, n.parse().ok()?))
}

pub async fn run(a: &Args, ctx: &mut Ctx) -> anyhow::Result<Value> {
    let m = a.members.max(2);
    let rates = a.rates();
    if rates.is_empty() || rates.len() > 250 {
        bail!("give between 1 and 250 rates");
    }
    let accounts = register_many(ctx, m, a.concurrency, true, "sign-up").await?;
    let mut wss = vec![];
    for (_, ws) in accounts {
        wss.push(ws.context("connection kept")?);
    }
    // The first member creates the group and adds everyone, CHUNK handles at a time.
    let pb = progress::bar(m as u64, "add members");
    let handles: Vec<String> = (1..m).map(|i| ctx.handle(i)).collect();
    let mut chunks = handles.chunks(CHUNK);
    let owner = &mut wss[0];
    let first = chunks.next().unwrap_or(&[]).to_vec();
    pb.inc(first.len() as u64 + 1);
    let conv = match lean::call(
        owner,
        2,
        Request::CreateGroup(CreateGroup {
            title: "bench".into(),
            members: first,
            client_id: "bench-group".into(),
        }),
    )
    .await?
    {
        Response::Conversation(c) => c.id,
        other => bail!("expected a conversation, got {other:?}"),
    };
    for (i, chunk) in chunks.enumerate() {
        lean::call(
            owner,
            3 + i as u64,
            Request::AddMembers(AddMembers {
                conversation: conv,
                handles: chunk.to_vec(),
            }),
        )
        .await?;
        pb.inc(chunk.len() as u64);
    }
    pb.finish_and_clear();

    let total: usize = rates
        .iter()
        .map(|r| (r * a.step_secs.max(1)) as usize)
        .sum();
    let sh = Arc::new(Shared {
        members: m as u32,
        steps: (0..=rates.len()).map(|_| Step::default()).collect(),
        current: AtomicUsize::new(0),
        received: (0..total).map(|_| AtomicU32::new(0)).collect(),
        slowest: (0..total).map(|_| AtomicU64::new(0)).collect(),
        sent_in: (0..total).map(|_| AtomicU8::new(0)).collect(),
        acked: AtomicU64::new(0),
        completed: AtomicU64::new(0),
        disconnects: AtomicU64::new(0),
    });
    let links: Vec<Link> = wss
        .into_iter()
        .map(|ws| Link::start(ws, 256, handler(sh.clone())))
        .collect();
    // Members catch the "added" entries before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Senders stay under chapar's default send budget of 20 messages/s per device.
    let max_rate = rates.iter().copied().max().unwrap_or(1);
    let senders = (max_rate.div_ceil(15) as usize).clamp(1, m);
    let monitor = Monitor::start(ctx.target.pid(), Duration::from_millis(500));
    let step_dur = Duration::from_secs(a.step_secs.max(1));
    let budget = tokio::time::Instant::now() + Duration::from_secs(a.duration);
    let mut rows = vec![];
    let mut next_msg = 0usize;
    let pb = progress::timed(a.step_secs * rates.len() as u64, "steps");
    for (si, &rate) in rates.iter().enumerate() {
        if tokio::time::Instant::now() + step_dur > budget {
            break;
        }
        sh.current.store(si, Ordering::Relaxed);
        pb.set_message(format!("{rate} msg/s x {m} members"));
        let server_cpu = ctx.target.pid().map(CpuMark::now);
        let gen_cpu = CpuMark::now(std::process::id());
        let step = &sh.steps[si];
        let base = next_msg;
        let sent = pace(rate as f64, step_dur, |i, intended| {
            let n = base + i as usize;
            if n >= total {
                return;
            }
            sh.sent_in[n].store(si as u8, Ordering::Relaxed);
            let request = Request::Send(Send {
                conversation: Some(conv),
                peer: None,
                client_id: format!("g{n}"),
                content_type: None,
                text: Some(format!("{intended}:{n}")),
                data: None,
                reply_to: None,
            });
            if !links[n % senders].try_send(lean::frame(intended, request)) {
                step.not_offered.fetch_add(1, Ordering::Relaxed);
            }
        })
        .await;
        next_msg += sent as usize;
        pb.inc(a.step_secs);
        let secs = step_dur.as_secs_f64();
        let deliveries = step.deliveries.load(Ordering::Relaxed);
        let offered = rate as f64 * m as f64;
        // Messages of this step may complete after it: wait a little for the last ones.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let complete = step.complete.snapshot().summary();
        rows.push(json!({
            "rate": rate,
            "offered_deliveries_per_sec": offered,
            "secs": secs,
            "sent": sent - step.not_offered.load(Ordering::Relaxed),
            "acked": step.acked.load(Ordering::Relaxed),
            "deliveries": deliveries,
            "deliveries_per_sec": round(deliveries as f64 / secs, 1),
            "delivery": step.delivery.snapshot().summary(),
            "all_members": complete,
            "completed": step.completed.load(Ordering::Relaxed),
            "errors": step.errors.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            "server_cpu": server_cpu.map(|m| m.since()),
            "generator_cpu": gen_cpu.since(),
        }));
        if let Some(row) = rows.last_mut().and_then(|r| r.as_object_mut()) {
            let per = |cores: Option<f64>| {
                cores
                    .filter(|_| deliveries > 0)
                    .map(|c| round(c * secs * 1e6 / deliveries as f64, 2))
            };
            let srv = num(&row["server_cpu"], "/cores");
            let gen_ = num(&row["generator_cpu"], "/cores");
            row.insert("server_cpu_us_per_delivery".into(), json!(per(srv)));
            row.insert("generator_cpu_us_per_delivery".into(), json!(per(gen_)));
        }
        let share = deliveries as f64 / offered.max(1.0);
        if (share < FAR_SHARE || complete.p99_ms > FAR_P99_MS) && !a.all_steps {
            break;
        }
    }
    pb.finish_and_clear();
    sh.current.store(rates.len(), Ordering::Relaxed);
    let drain_until = tokio::time::Instant::now() + Duration::from_secs(15);
    while sh.completed.load(Ordering::Relaxed) < sh.acked.load(Ordering::Relaxed)
        && tokio::time::Instant::now() < drain_until
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Completion of every step's messages, including those that finished after their step.
    for (row, step) in rows.iter_mut().zip(&sh.steps) {
        row["all_members"] = json!(step.complete.snapshot().summary());
        row["completed"] = json!(step.completed.load(Ordering::Relaxed));
    }
    for link in &links {
        let _ = link.try_send(tokio_tungstenite::tungstenite::Message::Close(None));
    }

    let mut max_dps: f64 = 0.0;
    let mut sustained: Option<f64> = None;
    let mut p99_at = None;
    let mut knee = None;
    for r in &rows {
        let offered = r["offered_deliveries_per_sec"].as_f64().unwrap_or(0.0);
        let dps = r["deliveries_per_sec"].as_f64().unwrap_or(0.0);
        let p99 = r["all_members"]["p99_ms"].as_f64().unwrap_or(f64::INFINITY);
        let complete = r["completed"].as_u64().unwrap_or(0) >= r["acked"].as_u64().unwrap_or(1);
        max_dps = max_dps.max(dps);
        let ok = dps >= BEHIND_SHARE * offered && p99 <= COMPLETE_P99_MS && complete;
        if ok && knee.is_none() {
            sustained = Some(dps);
            p99_at = Some(p99);
        } else if !ok && knee.is_none() {
            knee = Some(offered);
        }
    }
    let acked = sh.acked.load(Ordering::Relaxed);
    let completed = sh.completed.load(Ordering::Relaxed);
    Ok(json!({
        "members": m,
        "senders": senders,
        "step_secs": a.step_secs,
        "steps": rows,
        "max_deliveries_per_sec": max_dps,
        "max_sustained_deliveries_per_sec": sustained,
        "all_members_p99_ms_at_max_sustained": p99_at,
        "falls_behind_at_offered": knee,
        "acked": acked,
        "completed": completed,
        "incomplete": acked.saturating_sub(completed),
        "disconnects": sh.disconnects.load(Ordering::Relaxed),
        "rss_max_kib": monitor.max_kib(),
    }))
}

pub fn summary(v: &Value) -> String {
    let mut rows = vec![vec![
        "msg/s".to_string(),
        "offered deliv/s".into(),
        "deliveries/s".into(),
        "deliv p50 ms".into(),
        "deliv p99".into(),
        "all p50".into(),
        "all p99".into(),
        "srv cpu".into(),
        "gen cpu".into(),
        "srv us/deliv".into(),
    ]];
    for s in v["steps"].as_array().into_iter().flatten() {
        rows.push(vec![
            fmt(num(s, "/rate")),
            fmt(num(s, "/offered_deliveries_per_sec")),
            fmt(num(s, "/deliveries_per_sec")),
            fmt(num(s, "/delivery/p50_ms")),
            fmt(num(s, "/delivery/p99_ms")),
            fmt(num(s, "/all_members/p50_ms")),
            fmt(num(s, "/all_members/p99_ms")),
            fmt(num(s, "/server_cpu/cores")),
            fmt(num(s, "/generator_cpu/cores")),
            fmt(num(s, "/server_cpu_us_per_delivery")),
        ]);
    }
    format!(
        "{}  {} members, {} senders; max {} deliveries/s; sustained {} deliveries/s with every \
         member having each message within 1 s (p99 {} ms)\n  acked {}, complete {}, \
         incomplete {}, disconnects {}\n",
        crate::report::table(&rows),
        fmt(num(v, "/members")),
        fmt(num(v, "/senders")),
        fmt(num(v, "/max_deliveries_per_sec")),
        fmt(num(v, "/max_sustained_deliveries_per_sec")),
        fmt(num(v, "/all_members_p99_ms_at_max_sustained")),
        fmt(num(v, "/acked")),
        fmt(num(v, "/completed")),
        fmt(num(v, "/incomplete")),
        fmt(num(v, "/disconnects")),
    )
}

pub fn floors(a: &Args, chapar: &Value, _relay: Option<&Value>) -> Vec<Floor> {
    if a.members < 10_000 {
        return vec![];
    }
    vec![Floor::at_least(
        "group of 10,000: 200,000 deliveries/s with every member within 1 s (p99)",
        num(chapar, "/max_sustained_deliveries_per_sec"),
        200_000.0,
    )]
}

/// Time until every member has a message, against offered deliveries/s.
pub fn chart(chapar: &Value, relay: Option<&Value>) -> String {
    use crate::chart::{Chart, PALETTE, Series};
    let mut series = vec![];
    for (who, v, dashed) in [("chapar", Some(chapar), false), ("relay", relay, true)] {
        let Some(v) = v else { continue };
        for (i, (name, p)) in [
            ("all members p50", "/all_members/p50_ms"),
            ("all members p99", "/all_members/p99_ms"),
            ("delivery p99", "/delivery/p99_ms"),
        ]
        .iter()
        .enumerate()
        {
            let points = v["steps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| Some((num(s, "/offered_deliveries_per_sec")?, num(s, p)?)))
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
        title: format!(
            "group of {}: time until members have a message",
            fmt(num(chapar, "/members"))
        ),
        x_label: "offered deliveries per second".into(),
        y_label: "latency, ms (log scale)".into(),
        log_y: true,
        series,
        reference: Some((1000.0, "all-members p99 floor 1 s".into())),
    }
    .svg()
}
