//! Choosing the store and the bus from the configuration, and the glue cluster mode needs.
//!
//! * `store = "sqlite"`: the embedded store in the data directory. `store = "postgres://..."`:
//!   the PostgreSQL store, shared by every node of the cluster.
//! * `bus = "local"`: publishing delivers to this node's connections. `bus = "nats://..."`: the
//!   NATS bus, on subjects under `chapar.<cluster id>` (the id is made by the database's first
//!   migration, so every node of one database agrees on it and two clusters never mix).
//! * Resync: the NATS bus names users whose live events this node may have missed (just
//!   subscribed, or NATS reconnected). For each, a small pool of workers pushes the user's newest
//!   feed event to their connections here (a device behind it sees a pts gap and syncs from the
//!   store; one that has it drops it) and closes connections of devices revoked meanwhile (the
//!   revocation's own bus message may have been lost). The queue is bounded; when full, the user
//!   is skipped (their next event shows the gap anyway).

use crate::config::{Config, DurabilityLevel};
use crate::registry::Registry;
use anyhow::Context;
use chapar_bus_nats::{NatsBus, NatsOptions};
use chapar_core::bus::{Bus, BusMessage, Deliver, LocalBus};
use chapar_core::store::{Principal, Store};
use chapar_proto::{DeviceId, UserId, UserInfo};
use chapar_store_postgres::PgOptions;
use chapar_store_sqlite::{Durability, SqliteOptions};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, mpsc};

/// Users waiting to be resynced; beyond, they are skipped.
const RESYNC_QUEUE: usize = 65_536;
/// Resyncs run at once (each is two store reads).
const RESYNC_WORKERS: usize = 4;

pub struct OpenedStore {
    pub store: Arc<dyn Store>,
    /// The cluster id of a PostgreSQL store.
    pub cluster_id: Option<String>,
}

/// A URL with its password (if any) replaced, for logs.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let host_at = rest.find('/').unwrap_or(rest.len());
    match rest[..host_at].rfind('@') {
        Some(at) => match rest[..at].find(':') {
            Some(colon) => format!(
                "{}{}:***{}",
                &url[..scheme_end],
                &rest[..colon],
                &rest[at..]
            ),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

pub async fn open_store(config: &Config) -> anyhow::Result<OpenedStore> {
    if config.store.is_postgres() {
        let timeout = Duration::from_millis(config.store.timeout_ms);
        let options = PgOptions {
            connections: config.store.connections,
            write_queue: config.store.write_queue,
            max_batch: config.store.max_batch.min(chapar_store_postgres::MAX_BATCH),
            writers: config.store.writers,
            read_queue: config.store.write_queue.max(1024),
            connect_timeout: timeout,
            op_timeout: timeout,
            ..PgOptions::default()
        };
        let store = chapar_store_postgres::open(&config.store.url, options, config.limits.clone())
            .await
            .with_context(|| format!("opening the store {}", redact(&config.store.url)))?;
        let cluster_id = store.cluster_id().to_string();
        tracing::info!(store = %redact(&config.store.url), %cluster_id, "postgres store");
        return Ok(OpenedStore {
            store: Arc::new(store),
            cluster_id: Some(cluster_id),
        });
    }
    let options = SqliteOptions {
        durability: match config.durability {
            DurabilityLevel::Full => Durability::Full,
            DurabilityLevel::Normal => Durability::Normal,
        },
        write_queue: config.store.write_queue,
        max_batch: config.store.max_batch,
        readers: config.store.readers,
    };
    let store = chapar_store_sqlite::open(&config.data, options, config.limits.clone())
        .with_context(|| format!("opening the store in {}", config.data.display()))?;
    Ok(OpenedStore {
        store: Arc::new(store),
        cluster_id: None,
    })
}

/// The bus the configuration asks for, delivering to `registry`.
pub async fn open_bus(
    config: &Config,
    opened: &OpenedStore,
    registry: Arc<Registry>,
) -> anyhow::Result<Arc<dyn Bus>> {
    if !config.bus.is_nats() {
        return Ok(Arc::new(LocalBus::new(registry)));
    }
    let cluster = opened.cluster_id.as_deref().unwrap_or("default");
    let options = NatsOptions {
        url: config.bus.url.clone(),
        prefix: format!("chapar.{cluster}"),
        publish_queue: config.bus.publish_queue,
        ..NatsOptions::default()
    };
    let bus = NatsBus::connect(options, registry.clone())
        .await
        .with_context(|| format!("connecting to NATS at {}", redact(&config.bus.url)))?;
    tracing::info!(bus = %redact(&config.bus.url), node = bus.node_id(), "nats bus");
    let (tx, rx) = mpsc::channel::<UserId>(RESYNC_QUEUE);
    bus.set_resync_hook(Arc::new(move |user| {
        let _ = tx.try_send(user);
    }));
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..RESYNC_WORKERS {
        tokio::spawn(resync_worker(
            Arc::clone(&rx),
            Arc::clone(&opened.store),
            registry.clone(),
        ));
    }
    Ok(Arc::new(bus))
}

async fn resync_worker(
    rx: Arc<Mutex<mpsc::Receiver<UserId>>>,
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
) {
    loop {
        let Some(user) = rx.lock().await.recv().await else {
            return;
        };
        if let Err(e) = resync(&*store, &*registry, user).await {
            tracing::debug!(error = %e, user = user.0, "resync skipped");
        }
    }
}

/// Push the user's newest feed event to their connections here, and cut off revoked devices.
async fn resync(store: &dyn Store, sink: &dyn Deliver, user: UserId) -> chapar_core::Result<()> {
    // The reads below only use the user id of the principal.
    let principal = Principal {
        user: UserInfo {
            id: user,
            handle: String::new(),
            display_name: String::new(),
        },
        device: DeviceId(0),
        since: 0,
    };
    let head = store.head_pts(user).await?;
    if head > 0 {
        let page = store.feed(&principal, head - 1, 1).await?;
        for e in page.events {
            sink.deliver(
                user,
                BusMessage::Feed {
                    pts: e.pts,
                    event: Arc::new(e.event),
                },
            );
        }
    }
    for device in store.devices(&principal).await? {
        if device.revoked {
            sink.deliver(user, BusMessage::DeviceRevoked(device.id));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact("postgres://chapar:s3cret@db:5432/chapar"),
            "postgres://chapar:***@db:5432/chapar"
        );
        assert_eq!(
            super::redact("postgres://chapar@db/chapar"),
            "postgres://chapar@db/chapar"
        );
        assert_eq!(super::redact("nats://h:4222"), "nats://h:4222");
    }
}
