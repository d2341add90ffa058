//! What every request handler shares: configuration, the store, the bus, the connections, and
//! the admission and rate-limit state.

use crate::admission::Admission;
use crate::botapi::Bots;
use crate::config::Config;
use crate::ratelimit::Limiters;
use crate::registry::Registry;
use chapar_core::bus::Bus;
use chapar_core::store::Store;
use std::sync::Arc;

pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub registry: Arc<Registry>,
    pub admission: Admission,
    pub limiters: Limiters,
    /// The bot platform: long polls, webhook senders, Bot API limits.
    pub bots: Bots,
}

impl App {
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        registry: Arc<Registry>,
    ) -> App {
        let admission = Admission::new(&config.admission);
        let limiters = Limiters::new(&config.rate_limits);
        let bots = Bots::new(&config.bots);
        registry.set_feed_hook(bots.feed_hook());
        App {
            config,
            store,
            bus,
            registry,
            admission,
            limiters,
            bots,
        }
    }

    /// Writes waiting for the store (0 when the store does not say).
    pub fn queued_writes(&self) -> u64 {
        self.store.stats().map_or(0, |s| {
            s.queue_depth.load(std::sync::atomic::Ordering::Relaxed)
        })
    }
}
