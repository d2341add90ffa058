//! The chapar node: HTTP and WebSocket on one port, wired to a store and a bus.
//!
//! * [`config`]: the typed configuration (file, environment, flags).
//! * `gateway`: the WebSocket protocol endpoint (sign-in, requests, pushed events).
//! * [`registry`]: this node's connections and the bus's delivery to them.
//! * [`auth`]: tokens, codes and Ed25519 device proofs.
//! * [`admission`]: the connection cap, accept budget and sign-up waiting room.
//! * [`ratelimit`]: token buckets and the per-device and per-account limiters.
//! * [`metrics`]: `/metrics` for Prometheus.
//! * [`http`]: the HTTP routes (health, readiness, WebSocket upgrade).
//! * [`web`]: the web client's files, embedded at build time and served at `/`.
//!
//! This is the only crate that knows HTTP and WebSocket.

pub mod admission;
pub mod auth;
pub mod config;
mod gateway;
pub mod http;
pub mod metrics;
pub mod ratelimit;
pub mod registry;
pub mod state;
pub mod web;

use anyhow::Context;
use chapar_core::bus::{Bus, BusMessage, LocalBus};
use chapar_core::store::{CommitListener, Committed, Store as _};
use chapar_store_sqlite::{Durability, SqliteOptions, SqliteStore};
use config::{Config, DurabilityLevel, ServeArgs};
use registry::Registry;
use state::App;
use std::sync::Arc;
use std::time::Duration;

fn open_store(config: &Config) -> anyhow::Result<SqliteStore> {
    let options = SqliteOptions {
        durability: match config.durability {
            DurabilityLevel::Full => Durability::Full,
            DurabilityLevel::Normal => Durability::Normal,
        },
        write_queue: config.store.write_queue,
        max_batch: config.store.max_batch,
        readers: config.store.readers,
    };
    SqliteStore::open(&config.data, options, config.limits.clone())
        .with_context(|| format!("opening the store in {}", config.data.display()))
}

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

/// `chapar serve`: run a node until SIGTERM or Ctrl-C, then drain and exit.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::load(&args)?;
    if args.print_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    let store = Arc::new(open_store(&config)?);
    let registry = Arc::new(Registry::default());
    let bus: Arc<dyn Bus> = Arc::new(LocalBus::new(registry.clone()));
    store.set_commit_listener(publisher(bus.clone()));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let drain = Duration::from_secs(config.gateway.drain_secs);
    let app = Arc::new(App::new(config, store, bus, registry.clone()));
    // Machine-readable line first: tests and scripts wait for it.
    println!("chapar listening on http://{addr}");
    tracing::info!(%addr, data = %app.config.data.display(), "serving");
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
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving")?;
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
}

pub async fn create_invite(args: InviteArgs) -> anyhow::Result<String> {
    let config = Config::load(&args.serve)?;
    let store = open_store(&config)?;
    let code = auth::new_code();
    store
        .create_invite(auth::hash_code(&code), args.uses.max(1))
        .await?;
    Ok(code)
}
