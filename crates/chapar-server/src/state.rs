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

    /// How full the store's write queue is, 0 to 1 (0 when the store does not say).
    pub fn write_pressure(&self) -> f64 {
        match self.store.stats() {
            Some(s) => {
                let depth = s.queue_depth.load(std::sync::atomic::Ordering::Relaxed) as f64;
                depth / self.config.store.write_queue.max(1) as f64
            }
            None => 0.0,
        }
    }
}
