//! `chapar-bench`: the load generator and benchmark suite of chapar.
//!
//! Each scenario starts a fresh server (a `chapar serve` in a temporary data directory, by
//! default the `chapar` binary beside this one; or `--server URL` for a running one), measures
//! it, then does the same against the bare relay of this crate (the baseline: what this machine
//! can do at all), and prints figures, ratios to the relay, and the floors. `--runs N`
//! repeats everything N times and reports medians; `--out` writes JSON; `--charts` writes SVG.
//!
//! Module map:
//! * [`scenario`]: the scenarios and what they share (setup, pacing, memory sampling).
//! * [`lean`]: the lean load client (raw WebSocket + MessagePack, Ed25519 sign-in).
//! * [`relay`]: the bare baseline relay.
//! * [`target`]: starting, killing and restarting the server under test.
//! * [`procfs`]: memory and CPU from /proc. [`hist`]: latency histograms.
//! * [`report`]: medians, ratios, floors, tables. [`chart`]: SVG charts. [`progress`]: bars.

mod chart;
mod hist;
mod lean;
mod procfs;
mod progress;
mod relay;
mod report;
mod scenario;
mod target;

/// The same allocator as the `chapar` binary, for the generator and the relay alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use scenario::{Ctx, connections, direct, group, reconnect, signup, surge};
use serde_json::{Map, Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use target::{Kind, Launch, Target};

#[derive(Parser)]
#[command(
    name = "chapar-bench",
    version,
    about = "Load generator and benchmarks of chapar, against a bare relay as the baseline"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args)]
struct Common {
    /// The chapar binary to start for each measurement [default: `chapar` beside this program].
    #[arg(long, global = true, value_name = "PATH")]
    spawn: Option<PathBuf>,
    /// Measure a running server instead (its base URL, e.g. http://127.0.0.1:8080).
    #[arg(long, global = true, value_name = "URL", conflicts_with = "spawn")]
    server: Option<String>,
    /// Process id of that running server, to read its memory and CPU from /proc.
    #[arg(long, global = true, value_name = "PID")]
    server_pid: Option<u32>,
    /// Which servers to measure.
    #[arg(long, global = true, value_enum, default_value_t = Against::Both)]
    against: Against,
    /// Measure this many times (fresh servers each time) and report medians.
    #[arg(long, global = true, default_value_t = 1)]
    runs: usize,
    /// Write the results (every run, medians, ratios, floors) as JSON to this file.
    #[arg(long, global = true, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write the scenario's SVG charts into this directory.
    #[arg(long, global = true, value_name = "DIR")]
    charts: Option<PathBuf>,
    /// Loopback source addresses to spread connections over (127.0.0.1 ..= 127.0.0.N).
    #[arg(long, global = true, default_value_t = 8)]
    sources: u8,
    /// Extra environment for a spawned chapar (KEY=VALUE, repeatable).
    #[arg(long = "server-env", global = true, value_name = "KEY=VALUE")]
    server_env: Vec<String>,
    /// Durability of a spawned chapar (full or normal) [default: the server's, full].
    #[arg(long, global = true)]
    durability: Option<String>,
    /// Draw no progress bars (they are hidden anyway when stderr is not a terminal).
    #[arg(long, global = true)]
    no_progress: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Against {
    Chapar,
    Relay,
    Both,
}

#[derive(Subcommand)]
enum Cmd {
    /// Open N authenticated connections at a rate and hold them: memory per idle connection
    /// and connect latency.
    Connections(connections::Args),
    /// Pairs exchange 1:1 messages at stepped offered rates: delivered/s and latency.
    Direct(direct::Args),
    /// One group with all members online: deliveries/s and time until every member has each
    /// message.
    Group(group::Args),
    /// Cut N SDK clients at once (kill -9 and restart the server): time until all resynced,
    /// refusals, messages lost.
    ReconnectStorm(reconnect::Args),
    /// Create M accounts as fast as admission allows: accepted/s and refusals.
    SignupStorm(signup::Args),
    /// Arrivals ramp to several times what the node admits while residents keep messaging.
    Surge(surge::Args),
    /// Serve the bare baseline relay by hand (the scenarios start their own).
    Relay {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
}

impl Cmd {
    fn name(&self) -> &'static str {
        match self {
            Cmd::Connections(_) => "connections",
            Cmd::Direct(_) => "direct",
            Cmd::Group(_) => "group",
            Cmd::ReconnectStorm(_) => "reconnect-storm",
            Cmd::SignupStorm(_) => "signup-storm",
            Cmd::Surge(_) => "surge",
            Cmd::Relay { .. } => "relay",
        }
    }

    fn server_env(&self) -> Vec<(String, String)> {
        match self {
            Cmd::Connections(a) => connections::server_env(a),
            Cmd::Direct(a) => direct::server_env(a),
            Cmd::Group(a) => group::server_env(a),
            Cmd::ReconnectStorm(a) => reconnect::server_env(a),
            Cmd::SignupStorm(a) => signup::server_env(a),
            Cmd::Surge(a) => surge::server_env(a),
            Cmd::Relay { .. } => vec![],
        }
    }

    /// Hard bound on one measurement, setup included: the scenario's own bound plus room for
    /// signing up its accounts.
    fn bound(&self) -> Duration {
        let secs = match self {
            Cmd::Connections(a) => a.duration + a.hold + a.count as u64 / 100,
            Cmd::Direct(a) => a.duration + a.pairs as u64 / 50,
            Cmd::Group(a) => a.duration + a.members as u64 / 50,
            Cmd::ReconnectStorm(a) => a.duration + a.clients as u64 / 50,
            Cmd::SignupStorm(a) => a.duration,
            Cmd::Surge(a) => {
                a.before + a.ramp + a.hold + a.after + a.stay + a.residents as u64 / 50
            }
            Cmd::Relay { .. } => 0,
        };
        Duration::from_secs(secs + 120)
    }

    async fn run(&self, ctx: &mut Ctx) -> anyhow::Result<Value> {
        match self {
            Cmd::Connections(a) => connections::run(a, ctx).await,
            Cmd::Direct(a) => direct::run(a, ctx).await,
            Cmd::Group(a) => group::run(a, ctx).await,
            Cmd::ReconnectStorm(a) => reconnect::run(a, ctx).await,
            Cmd::SignupStorm(a) => signup::run(a, ctx).await,
            Cmd::Surge(a) => surge::run(a, ctx).await,
            Cmd::Relay { .. } => bail!("not a scenario"),
        }
    }

    fn summary(&self, v: &Value) -> String {
        match self {
            Cmd::Connections(_) => connections::summary(v),
            Cmd::Direct(_) => direct::summary(v),
            Cmd::Group(_) => group::summary(v),
            Cmd::ReconnectStorm(_) => reconnect::summary(v),
            Cmd::SignupStorm(_) => signup::summary(v),
            Cmd::Surge(_) => surge::summary(v),
            Cmd::Relay { .. } => String::new(),
        }
    }

    fn ratios(&self) -> &'static [(&'static str, &'static str)] {
        match self {
            Cmd::Connections(_) => connections::RATIOS,
            Cmd::Direct(_) => direct::RATIOS,
            Cmd::Group(_) => group::RATIOS,
            Cmd::ReconnectStorm(_) => reconnect::RATIOS,
            Cmd::SignupStorm(_) => signup::RATIOS,
            Cmd::Surge(_) => surge::RATIOS,
            Cmd::Relay { .. } => &[],
        }
    }

    fn floors(&self, chapar: &Value, relay: Option<&Value>) -> Vec<report::Floor> {
        match self {
            Cmd::Connections(a) => connections::floors(a, chapar, relay),
            Cmd::Direct(a) => direct::floors(a, chapar, relay),
            Cmd::Group(a) => group::floors(a, chapar, relay),
            Cmd::ReconnectStorm(a) => reconnect::floors(a, chapar, relay),
            Cmd::SignupStorm(a) => signup::floors(a, chapar, relay),
            Cmd::Surge(a) => surge::floors(a, chapar, relay),
            Cmd::Relay { .. } => vec![],
        }
    }

    /// SVG charts of the medians: (file name, SVG text).
    fn charts(&self, chapar: Option<&Value>, relay: Option<&Value>) -> Vec<(String, String)> {
        let Some(c) = chapar.or(relay) else {
            return vec![];
        };
        let relay = if chapar.is_some() { relay } else { None };
        match self {
            Cmd::Direct(_) => vec![("direct-latency.svg".into(), direct::chart(c, relay))],
            Cmd::Connections(_) => {
                vec![(
                    "connections-memory.svg".into(),
                    connections::chart(c, relay),
                )]
            }
            Cmd::Group(a) => vec![(
                format!("group-{}-latency.svg", a.members),
                group::chart(c, relay),
            )],
            _ => vec![],
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if cli.common.no_progress {
        progress::hide_all();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match &cli.cmd {
            Cmd::Relay { listen } => relay::serve(*listen).await,
            _ => bench(&cli).await,
        }
    });
    // Connections and tasks may linger; do not wait for them.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn launch_for(cli: &Cli, kind: Kind) -> anyhow::Result<Launch> {
    let c = &cli.common;
    if kind == Kind::Relay {
        return Ok(Launch::Relay);
    }
    if let Some(url) = &c.server {
        let hostport = url
            .trim_start_matches("http://")
            .trim_start_matches("ws://")
            .trim_end_matches('/');
        let addr: SocketAddr = hostport
            .parse()
            .with_context(|| format!("--server wants http://IP:PORT, got {url:?}"))?;
        return Ok(Launch::Attach {
            addr,
            pid: c.server_pid,
        });
    }
    let bin = match &c.spawn {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .map(|d| d.join("chapar"))
            .filter(|p| p.exists())
            .context("no `chapar` beside chapar-bench: give --spawn PATH or --server URL")?,
    };
    // Every benchmark account is minutes old: the lower limits for new accounts (against spam)
    // would measure the limiter, not the node. `--server-env` can turn them back on.
    let mut env = vec![(
        "CHAPAR_LIMITS__NEW_ACCOUNT_HOURS".to_string(),
        "0".to_string(),
    )];
    env.extend(cli.cmd.server_env());
    for kv in &c.server_env {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--server-env wants KEY=VALUE, got {kv:?}"))?;
        env.push((k.to_string(), v.to_string()));
    }
    Ok(Launch::Chapar {
        bin,
        env,
        durability: c.durability.clone(),
    })
}

async fn bench(cli: &Cli) -> anyhow::Result<()> {
    let c = &cli.common;
    let kinds: Vec<Kind> = match c.against {
        Against::Chapar => vec![Kind::Chapar],
        Against::Relay => vec![Kind::Relay],
        Against::Both => vec![Kind::Chapar, Kind::Relay],
    };
    let name = cli.cmd.name();
    let runs_n = c.runs.max(1);
    let mut runs: Vec<Map<String, Value>> = vec![];
    for run in 0..runs_n {
        let mut this = Map::new();
        for &kind in &kinds {
            eprintln!(
                "== {name} against {} (run {} of {runs_n})",
                kind.name(),
                run + 1
            );
            let target = Target::start(launch_for(cli, kind)?)?;
            let mut ctx = Ctx {
                kind,
                dialer: Arc::new(lean::Dialer::new(target.addr, c.sources)),
                target,
                tag: scenario::new_tag(),
            };
            let load_before = procfs::loadavg();
            let machine = procfs::CpuMark::now(std::process::id());
            let tcp = procfs::tcp_counters();
            let outcome = tokio::time::timeout(cli.cmd.bound(), cli.cmd.run(&mut ctx)).await;
            let machine = machine.since();
            let crashed = !ctx.target.alive();
            let mut value = match outcome {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    bail!(
                        "{name} against {} failed: {e:#}\n{}",
                        kind.name(),
                        ctx.target.log_tail()
                    )
                }
                Err(_) => bail!(
                    "{name} against {} did not finish within {:?}\n{}",
                    kind.name(),
                    cli.cmd.bound(),
                    ctx.target.log_tail()
                ),
            };
            if crashed {
                bail!(
                    "the {} server died during {name}:\n{}",
                    kind.name(),
                    ctx.target.log_tail()
                );
            }
            // How busy the machine was: load from others makes a figure noisy.
            value["machine"] = json!({
                "loadavg_before": load_before,
                "loadavg_after": procfs::loadavg(),
                "busy_cores": machine.machine_cores,
                "generator_cores": machine.cores,
                "tcp": procfs::tcp_delta(&tcp),
            });
            if runs_n > 1 {
                eprint!("{}", cli.cmd.summary(&value));
            }
            this.insert(kind.name().into(), value);
            drop(ctx);
            // Let the last run's sockets close before the next server starts.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        runs.push(this);
    }

    let mut median = Map::new();
    for kind in &kinds {
        let vs: Vec<&Value> = runs.iter().filter_map(|r| r.get(kind.name())).collect();
        median.insert(kind.name().into(), report::median(&vs));
    }
    let chapar = median.get("chapar");
    let relay = median.get("relay");
    let label = if runs_n > 1 {
        format!("median of {runs_n} runs")
    } else {
        "one run".into()
    };
    println!("\n{name} ({label})");
    for kind in &kinds {
        if let Some(v) = median.get(kind.name()) {
            println!("\n{}:\n{}", kind.name(), cli.cmd.summary(v));
        }
    }
    let ratios = match (chapar, relay) {
        (Some(c), Some(r)) => report::ratios(c, r, cli.cmd.ratios()),
        _ => vec![],
    };
    if !ratios.is_empty() {
        let mut rows = vec![vec![
            "figure".to_string(),
            "chapar".into(),
            "relay".into(),
            "chapar/relay".into(),
        ]];
        for r in &ratios {
            rows.push(vec![
                r.figure.clone(),
                report::fmt(r.chapar),
                report::fmt(r.relay),
                report::fmt(r.ratio),
            ]);
        }
        println!(
            "ratios to the bare relay of the same run:\n{}",
            report::table(&rows)
        );
    }
    let floors = chapar.map(|v| cli.cmd.floors(v, relay)).unwrap_or_default();
    for f in &floors {
        println!(
            "floor {}: {} ({})",
            if f.met { "MET" } else { "NOT MET" },
            f.floor,
            report::fmt(f.value)
        );
    }
    if let Some(dir) = &c.charts {
        std::fs::create_dir_all(dir)?;
        for (file, svg) in cli.cmd.charts(chapar, relay) {
            let path = dir.join(file);
            std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
            println!("chart: {}", path.display());
        }
    }
    if let Some(out) = &c.out {
        let doc = json!({
            "scenario": name,
            "command": std::env::args().collect::<Vec<_>>().join(" "),
            "unix_time": lean::now_micros() / 1_000_000,
            "machine": procfs::machine(),
            "runs": runs,
            "median": median,
            "ratios": ratios,
            "floors": floors,
        });
        std::fs::write(out, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("writing {}", out.display()))?;
        println!("results: {}", out.display());
    }
    Ok(())
}
