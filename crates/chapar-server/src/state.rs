//! What every request handler shares: configuration, the store, the bus and the connections.

use crate::config::Config;
use crate::registry::Registry;
use chapar_core::bus::Bus;
use chapar_core::store::Store;
use std::sync::Arc;

pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub registry: Arc<Registry>,
}
