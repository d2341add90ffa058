//! The chapar node: HTTP and WebSocket on one port, wired to a store and a bus.
//!
//! * [`config`]: the typed configuration (file, environment, flags).
//! * [`cluster`]: the store and bus the configuration names (SQLite or PostgreSQL, in-process or
//!   NATS), and the resync glue cluster mode needs.
//! * `gateway`: the WebSocket protocol endpoint (sign-in, requests, pushed events).
//! * [`registry`]: this node's connections and the bus's delivery to them.
//! * [`auth`]: tokens, codes and Ed25519 device proofs.
//! * [`botapi`]: the bot platform (bot requests of the protocol; Bot API; webhooks).
//! * [`service`]: the service HTTP API (notifications to people who allowed a service; its
//!   OpenAPI document at `/v1/openapi.json`).
//! * [`accept`]: the accept loop: the cap on all connections and the HTTP header, body and idle
//!   timers.
//! * [`admission`]: the WebSocket connection cap, accept budget and sign-up waiting room.
//! * [`ratelimit`]: token buckets and the per-device and per-account limiters.
//! * [`metrics`]: `/metrics` for Prometheus.
//! * [`http`]: the HTTP routes (health, readiness, WebSocket upgrade).
//! * [`web`]: the web client's files, embedded at build time and served at `/`.
//!
//! This is the only crate that knows HTTP and WebSocket.

pub mod accept;
pub mod admission;
pub mod auth;
pub mod botapi;
pub mod cluster;
pub mod config;
mod gateway;
pub mod http;
pub mod metrics;
pub mod presence;
pub mod ratelimit;
pub mod registry;
pub mod service;
#[cfg(test)]
mod simulation;
pub mod state;
pub mod web;

use anyhow::Context;
use chapar_core::bus::{Bus, BusMessage};
use chapar_core::store::{CommitListener, Committed};
use chapar_proto::UserInfo;
use config::{Config, ServeArgs};
use registry::Registry;
use state::App;
use std::sync::Arc;
use std::time::Duration;

/// Publishes each commit's fan-out on the bus: every recipient's connections get the event.
fn publisher(bus: Arc<dyn Bus>) -> CommitListener {
    Arc::new(move |committed: &Committed| {
        for fanout in &committed.fanout {
            for (user, pts) in &fanout.recipients {
                bus.publish(
                    *user,
                    BusMessage::Feed {
                        pts: *pts,
                        event: fanout.event.clone(),
                    },
                );
            }
        }
    })
}

/// A listening socket with a deep accept queue (`TcpListener::bind` would give 1,024).
fn listen(addr: std::net::SocketAddr, backlog: u32) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// `chapar serve`: run a node until SIGTERM or Ctrl-C, then drain and exit.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::load(&args)?;
    if args.print_config {
        print!("{}", config.to_toml_redacted());
        return Ok(());
    }
    let opened = cluster::open_store(&config).await?;
    let registry = Arc::new(Registry::new(
        config.gateway.max_connections_per_device,
        config.gateway.outbound_queue_bytes,
    ));
    let bus = cluster::open_bus(&config, &opened, registry.clone()).await?;
    let store = opened.store;
    store.set_commit_listener(publisher(bus.clone()));
    let listener = listen(config.listen, config.gateway.listen_backlog)
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let metrics_listener = match config.metrics.listen_addr()? {
        Some(m) => Some(listen(m, 128).with_context(|| format!("listening for metrics on {m}"))?),
        None => None,
    };
    let drain = Duration::from_secs(config.gateway.drain_secs);
    let app = Arc::new(App::new(config, store, bus, registry.clone()));
    botapi::start(&app);
    presence::start(&app);
    // Machine-readable line first: tests and scripts wait for it.
    println!("chapar listening on http://{addr}");
    if let Some(l) = metrics_listener {
        let maddr = l.local_addr()?;
        // Second line, only when metrics are on.
        println!("chapar metrics on http://{maddr}");
        tracing::info!(addr = %maddr, "serving metrics");
        let gw = &app.config.gateway;
        tokio::spawn(accept::serve(
            l,
            http::metrics_router(app.clone()),
            64,
            accept::Timeouts::from_config(gw),
            Arc::default(),
            std::future::pending(),
        ));
    }
    tracing::info!(%addr, store = %cluster::redact(&app.config.store.url),
        bus = %cluster::redact(&app.config.bus.url), "serving");
    let router = http::router(app.clone());
    let shutdown = async move {
        wait_for_signal().await;
        tracing::info!("shutting down: draining connections");
        registry.drain(drain.as_millis() as u64);
        let deadline = tokio::time::Instant::now() + drain + Duration::from_secs(1);
        while registry.connections() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let gw = &app.config.gateway;
    accept::serve(
        listener,
        router,
        accept::cap(gw),
        accept::Timeouts::from_config(gw),
        app.http.clone(),
        shutdown,
    )
    .await;
    // The last seen times of the people who were connected until now.
    presence::flush(&app).await;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// `chapar invite create`: make an invite code for the `invite` sign-up policy.
#[derive(Clone, Debug, clap::Args)]
pub struct InviteArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// How many accounts the code may create.
    #[arg(long, default_value_t = 1)]
    pub uses: u32,
    /// Days the code stays valid (0: until used up).
    #[arg(long, default_value_t = 7)]
    pub valid_days: u32,
}

/// `chapar operator grant|revoke HANDLE`: make an account one of the server's operators (who
/// handle reports and suspend accounts), or no longer one. Written to the audit log.
#[derive(Clone, Debug, clap::Args)]
pub struct OperatorArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// The account's handle.
    pub handle: String,
}

pub async fn set_operator(args: OperatorArgs, operator: bool) -> anyhow::Result<UserInfo> {
    let config = Config::load(&args.serve)?;
    let store = cluster::open_store(&config).await?.store;
    let op = chapar_core::store::AdminOp::Grant {
        handle: args.handle.trim().trim_start_matches('@').to_string(),
        operator,
    };
    store
        .admin(None, op)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no account was changed"))
}

pub async fn create_invite(args: InviteArgs) -> anyhow::Result<String> {
    let config = Config::load(&args.serve)?;
    let store = cluster::open_store(&config).await?.store;
    let code = auth::new_code();
    let expires_at = (args.valid_days > 0)
        .then(|| state::now_ms() + i64::from(args.valid_days) * 24 * 60 * 60 * 1000);
    store
        .create_invite(auth::hash_code(&code), args.uses.max(1), expires_at)
        .await?;
    Ok(code)
}
