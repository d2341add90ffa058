//! What every request handler shares: configuration, the store, the bus, the connections, and
//! the admission and rate-limit state.

use crate::admission::Admission;
use crate::botapi::Bots;
use crate::config::Config;
use crate::ratelimit::Limiters;
use crate::registry::Registry;
use chapar_core::bus::{Bus, BusMessage};
use chapar_core::store::{Principal, Store};
use chapar_proto::{ConversationId, Event, Typing};
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
    /// Counters of the accept loop (connection cap, HTTP timeouts).
    pub http: Arc<crate::accept::HttpStats>,
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
        registry.presence.set_bus(bus.clone());
        App {
            config,
            store,
            bus,
            registry,
            admission,
            limiters,
            bots,
            http: Arc::default(),
        }
    }

    /// Tell the other members of `conversation` that `who` is typing (ephemeral: not stored).
    /// The store's member list is the membership check.
    pub async fn typing(
        &self,
        who: &Principal,
        conversation: ConversationId,
    ) -> chapar_core::Result<()> {
        let members = self.store.member_ids(who, conversation).await?;
        let event = Arc::new(Event::Typing(Typing {
            conversation,
            user: who.user_id(),
            handle: who.user.handle.clone(),
        }));
        for user in members.into_iter().filter(|u| *u != who.user_id()) {
            self.bus.publish(user, BusMessage::Ephemeral(event.clone()));
        }
        Ok(())
    }

    /// Writes waiting for the store (0 when the store does not say).
    pub fn queued_writes(&self) -> u64 {
        self.store.stats().map_or(0, |s| {
            s.queue_depth.load(std::sync::atomic::Ordering::Relaxed)
        })
    }
}

/// The wall clock in Unix milliseconds (server times in frames, retention, webhook dates).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
