//! Server configuration: one typed source. Read from an optional TOML file, then overridden by
//! environment variables (`CHAPAR_<KEY>` for top-level keys, `CHAPAR_<SECTION>__<KEY>` for keys
//! in a section, e.g. `CHAPAR_LIMITS__MAX_TEXT_CHARS=2000`), then by command-line flags.
//!
//! The store and the bus are chosen by URL: `store = "sqlite"` (the default: the embedded store in
//! `data`) or `store = "postgres://..."`, and `bus = "local"` (the default: in-process) or
//! `bus = "nats://..."`. Each is shorthand for the `url` key of its section (`[store] url = ...`),
//! so `CHAPAR_STORE=postgres://...` and `CHAPAR_STORE__URL=postgres://...` mean the same.

use anyhow::{Context, bail};
use chapar_core::Limits;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Who may create an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum SignupPolicy {
    /// Anyone may sign up.
    Open,
    /// Sign-up needs an invite code made with `chapar invite create`.
    Invite,
    /// Nobody may sign up (existing accounts can still link devices).
    Closed,
}

/// How far a commit must reach before a write is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DurabilityLevel {
    /// fsync on every (group) commit: acknowledged writes survive power loss.
    Full,
    /// Acknowledged writes survive a crash of the process, not of the machine.
    Normal,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address for HTTP and WebSocket.
    pub listen: SocketAddr,
    /// Data directory of the embedded store.
    pub data: PathBuf,
    pub signup: SignupPolicy,
    pub durability: DurabilityLevel,
    pub limits: Limits,
    pub gateway: GatewayConfig,
    pub store: StoreConfig,
    pub bus: BusConfig,
    pub admission: crate::admission::AdmissionConfig,
    pub rate_limits: crate::ratelimit::RateLimitConfig,
    /// The Bot API, the service API and webhooks.
    pub bots: crate::botapi::BotConfig,
    pub metrics: MetricsConfig,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// `HOST:PORT` to serve `GET /metrics` on, apart from the public port; empty (the default)
    /// means no metrics are served. Keep it on a private interface (e.g. `127.0.0.1:9090`).
    pub listen: String,
}

impl MetricsConfig {
    /// The metrics address, if metrics are on.
    pub fn listen_addr(&self) -> anyhow::Result<Option<SocketAddr>> {
        let l = self.listen.trim();
        if l.is_empty() {
            return Ok(None);
        }
        l.parse()
            .map(Some)
            .with_context(|| format!("metrics.listen must be HOST:PORT or empty, not {l:?}"))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Frames queued for one connection before it is disconnected as lagging.
    pub outbound_queue: usize,
    /// Bytes queued for one connection (replies exactly, pushed events estimated). A reply
    /// waits for room, and the connection's next request is not read meanwhile; a pushed event
    /// that does not fit disconnects it as lagging.
    pub outbound_queue_bytes: usize,
    /// Signed-in connections one device may have on this node; beyond, sign-in is refused with
    /// `overloaded` (the connections already in are kept).
    pub max_connections_per_device: usize,
    /// Seconds between server pings.
    pub heartbeat_secs: u64,
    /// A connection silent for this long (no frame, no pong) is closed.
    pub idle_timeout_secs: u64,
    /// A connection must sign in within this many seconds.
    pub auth_timeout_secs: u64,
    /// On SIGTERM, clients are told to reconnect at random times spread over this window, and the
    /// node exits when all are gone or the window (plus a grace second) has passed.
    pub drain_secs: u64,
    /// Connections the kernel may hold waiting to be accepted (capped by
    /// `net.core.somaxconn`). A crowd connecting at once waits here instead of having its SYNs
    /// dropped and retried a second or more later.
    pub listen_backlog: u32,
    /// Most open TCP connections, plain HTTP and WebSocket together; 0 means the process's
    /// open-file limit minus 128. Beyond it a new connection is closed at once, before anything
    /// is read from it. Keep it above `admission.max_connections` so plain HTTP (health checks,
    /// the Bot API, the web client's files) always has room beside the WebSockets.
    pub max_http_connections: usize,
    /// A request header must be complete within this many seconds of its first byte (for a new
    /// connection: of being accepted), or the connection is closed.
    pub header_read_timeout_secs: u64,
    /// A request body (Bot API, service API) must arrive whole within this many seconds, or the
    /// request is answered 408 and the connection closed.
    pub body_read_timeout_secs: u64,
    /// A keep-alive HTTP connection that sends nothing for this many seconds after its last
    /// answer is closed. WebSocket connections have their own `idle_timeout_secs`.
    pub http_idle_timeout_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite` (the embedded store in `data`) or a PostgreSQL URL,
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (cluster mode).
    pub url: String,
    /// Writes waiting for the writer (PostgreSQL: writes in flight); beyond this, writes are
    /// refused with `overloaded`.
    pub write_queue: usize,
    /// Most writes committed in one transaction (group commit).
    pub max_batch: usize,
    /// Read connections.
    pub readers: usize,
    /// PostgreSQL: connections this node keeps at most.
    pub connections: usize,
    /// PostgreSQL: batch writers this node runs at once, each on its own connection (their
    /// batches commit in parallel; PostgreSQL's own group commit shares the WAL flushes).
    pub writers: usize,
    /// PostgreSQL: longest a connection attempt or one whole operation may take, milliseconds;
    /// beyond it the request fails as `unavailable` (retryable).
    pub timeout_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    /// `local` (in-process: one node) or a NATS URL, `nats://HOST:PORT` (cluster mode; several
    /// servers of one NATS cluster may be given, comma-separated).
    pub url: String,
    /// NATS: messages waiting to be published; beyond this they are dropped (devices fill the gap
    /// from the store).
    pub publish_queue: usize,
}

impl StoreConfig {
    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres://") || self.url.starts_with("postgresql://")
    }
}

impl BusConfig {
    pub fn is_nats(&self) -> bool {
        self.url.starts_with("nats://")
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data: PathBuf::from("chapar-data"),
            signup: SignupPolicy::Open,
            durability: DurabilityLevel::Full,
            limits: Limits::default(),
            gateway: GatewayConfig::default(),
            store: StoreConfig::default(),
            bus: BusConfig::default(),
            admission: Default::default(),
            rate_limits: Default::default(),
            bots: Default::default(),
            metrics: Default::default(),
        }
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            outbound_queue: 512,
            outbound_queue_bytes: 4 * 1024 * 1024,
            max_connections_per_device: 16,
            heartbeat_secs: 30,
            idle_timeout_secs: 90,
            auth_timeout_secs: 30,
            drain_secs: 5,
            listen_backlog: 4096,
            max_http_connections: 0,
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 30,
            http_idle_timeout_secs: 60,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: "sqlite".into(),
            write_queue: 8192,
            max_batch: 1024,
            readers: 4,
            connections: 16,
            writers: 4,
            timeout_ms: 5000,
        }
    }
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            url: "local".into(),
            publish_queue: 65_536,
        }
    }
}

/// Flags of `chapar serve`. Each overrides the file and the environment.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "CHAPAR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory [default: ./chapar-data].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// HOST:PORT for HTTP and WebSocket [default: 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Sign-up policy [default: open].
    #[arg(long, value_enum)]
    pub signup: Option<SignupPolicy>,
    /// Durability of acknowledged writes [default: full].
    #[arg(long, value_enum)]
    pub durability: Option<DurabilityLevel>,
    /// Store: `sqlite` or `postgres://USER@HOST/DB` [default: sqlite].
    #[arg(long)]
    pub store: Option<String>,
    /// Bus: `local` or `nats://HOST:4222` [default: local].
    #[arg(long)]
    pub bus: Option<String>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
}

impl Config {
    /// File, then environment, then flags.
    pub fn load(args: &ServeArgs) -> anyhow::Result<Config> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let mut config = Config::from_sources(args.config.as_deref(), &env)?;
        if let Some(d) = &args.data {
            config.data = d.clone();
        }
        if let Some(l) = args.listen {
            config.listen = l;
        }
        if let Some(s) = args.signup {
            config.signup = s;
        }
        if let Some(d) = args.durability {
            config.durability = d;
        }
        if let Some(s) = &args.store {
            config.store.url = s.clone();
        }
        if let Some(b) = &args.bus {
            config.bus.url = b.clone();
        }
        config.check()?;
        Ok(config)
    }

    fn from_sources(file: Option<&Path>, env: &[(String, String)]) -> anyhow::Result<Config> {
        // Start from the defaults so a file or variable can set one key of a nested table
        // (e.g. only `rate_limits.send_per_device.burst`) and keep the rest.
        let mut table =
            toml::Table::try_from(Config::default()).context("default configuration")?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let mut from_file = text
                .parse::<toml::Table>()
                .with_context(|| format!("parsing {}", path.display()))?;
            url_shorthands(&mut from_file);
            merge(&mut table, from_file);
        }
        for (name, value) in env {
            let Some(key) = name.strip_prefix("CHAPAR_") else {
                continue;
            };
            // Only variables naming a configuration section or key are configuration: client,
            // test and tool variables (CHAPAR_SERVER, CHAPAR_TEST_POSTGRES_URL, CHAPAR_BOT_PYTHON,
            // ...) are inherited by servers that tests start and must not stop them.
            let first = key
                .split("__")
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            if key == "CONFIG" || !(table.contains_key(&first) || matches!(key, "STORE" | "BUS")) {
                continue;
            }
            let mut path: Vec<String> = key.split("__").map(|s| s.to_ascii_lowercase()).collect();
            if matches!(key, "STORE" | "BUS") {
                path.push("url".into());
            }
            set_path(&mut table, &path, parse_env_value(value))
                .with_context(|| format!("environment variable {name}"))?;
        }
        let config: Config = toml::Value::Table(table)
            .try_into()
            .context("invalid configuration")?;
        Ok(config)
    }

    fn check(&self) -> anyhow::Result<()> {
        let l = &self.limits;
        if l.max_frame_bytes < 1024 {
            bail!("limits.max_frame_bytes must be at least 1024");
        }
        if l.requests_per_second == 0 || l.request_burst == 0 || l.max_page == 0 {
            bail!("limits.requests_per_second, request_burst and max_page must be positive");
        }
        if self.gateway.outbound_queue == 0
            || self.store.write_queue == 0
            || self.store.max_batch == 0
        {
            bail!("queue sizes must be positive");
        }
        if self.gateway.listen_backlog == 0 || self.gateway.listen_backlog > 65_535 {
            bail!("gateway.listen_backlog must be between 1 and 65535");
        }
        let gw = &self.gateway;
        if gw.outbound_queue_bytes < 64 * 1024 {
            bail!("gateway.outbound_queue_bytes must be at least 65536");
        }
        if gw.max_connections_per_device == 0 {
            bail!("gateway.max_connections_per_device must be positive");
        }
        if gw.header_read_timeout_secs == 0
            || gw.body_read_timeout_secs == 0
            || gw.http_idle_timeout_secs == 0
        {
            bail!(
                "gateway.header_read_timeout_secs, body_read_timeout_secs and http_idle_timeout_secs must be positive"
            );
        }
        if gw.max_http_connections != 0
            && self.admission.max_connections != 0
            && gw.max_http_connections <= self.admission.max_connections
        {
            bail!(
                "gateway.max_http_connections ({}) counts WebSockets too: it must be above admission.max_connections ({})",
                gw.max_http_connections,
                self.admission.max_connections
            );
        }
        if self.store.readers == 0 || self.store.readers > 64 {
            bail!("store.readers must be between 1 and 64");
        }
        if self.store.url != "sqlite" && !self.store.is_postgres() {
            bail!("store must be `sqlite` or a postgres:// URL");
        }
        if self.store.connections == 0 || self.store.timeout_ms == 0 {
            bail!("store.connections and store.timeout_ms must be positive");
        }
        if self.bus.url != "local" && !self.bus.is_nats() {
            bail!("bus must be `local` or a nats:// URL");
        }
        if self.bus.is_nats() && !self.store.is_postgres() {
            bail!("a NATS bus joins nodes that share a store: use a postgres:// store with it");
        }
        self.metrics.listen_addr()?;
        if self.bus.publish_queue == 0 {
            bail!("bus.publish_queue must be positive");
        }
        Ok(())
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// [`Config::to_toml`] with the passwords of the store and bus URLs shown as `***`: what
    /// `--print-config` prints (it ends up in terminals, tickets and logs).
    pub fn to_toml_redacted(&self) -> String {
        let mut shown = self.clone();
        shown.store.url = crate::cluster::redact(&shown.store.url);
        shown.bus.url = crate::cluster::redact(&shown.bus.url);
        shown.to_toml()
    }
}

/// `store = "URL"` and `bus = "URL"` in a file mean `[store] url = "URL"` (and the same for bus).
fn url_shorthands(table: &mut toml::Table) {
    for key in ["store", "bus"] {
        if let Some(toml::Value::String(url)) = table.get(key) {
            let mut section = toml::Table::new();
            section.insert("url".into(), toml::Value::String(url.clone()));
            table.insert(key.into(), toml::Value::Table(section));
        }
    }
}

/// Overlay `top` on `base`, table by table.
fn merge(base: &mut toml::Table, top: toml::Table) {
    for (key, value) in top {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(t)) => merge(b, t),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

/// Numbers and booleans become TOML values; anything else stays a string.
fn parse_env_value(raw: &str) -> toml::Value {
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    if let Ok(b) = raw.parse::<bool>() {
        return toml::Value::Boolean(b);
    }
    toml::Value::String(raw.to_string())
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> anyhow::Result<()> {
    match path {
        [] => bail!("empty key"),
        [last] => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(t) => set_path(t, rest, value),
                _ => bail!("{first} is not a section"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment() {
        let dir = std::env::temp_dir().join(format!("chapar-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "signup = \"invite\"\n[limits]\nmax_text_chars = 100\n",
        )
        .unwrap();
        let env = vec![
            (
                "CHAPAR_LIMITS__MAX_TEXT_CHARS".to_string(),
                "200".to_string(),
            ),
            ("CHAPAR_LISTEN".to_string(), "127.0.0.1:9999".to_string()),
            ("CHAPAR_SERVER".to_string(), "http://elsewhere".to_string()),
        ];
        let c = Config::from_sources(Some(&file), &env).unwrap();
        assert_eq!(c.signup, SignupPolicy::Invite);
        assert_eq!(c.limits.max_text_chars, 200);
        assert_eq!(c.listen.port(), 9999);
        assert_eq!(
            c.limits.max_group_members,
            Limits::default().max_group_members
        );
    }

    #[test]
    fn store_and_bus_urls_from_file_environment_and_flags() {
        let dir = std::env::temp_dir().join(format!("chapar-config-url-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "store = \"postgres://chapar@db/chapar\"\nbus = \"nats://bus:4222\"\n",
        )
        .unwrap();
        let c = Config::from_sources(Some(&file), &[]).unwrap();
        assert!(c.store.is_postgres() && c.bus.is_nats());
        assert_eq!(c.store.write_queue, StoreConfig::default().write_queue);
        assert!(c.check().is_ok());
        let env = vec![
            ("CHAPAR_STORE".to_string(), "postgres://x@y/z".to_string()),
            ("CHAPAR_BUS__PUBLISH_QUEUE".to_string(), "10".to_string()),
            (
                "CHAPAR_TEST_POSTGRES_URL".to_string(),
                "ignored".to_string(),
            ),
            ("CHAPAR_BOT_PYTHON".to_string(), "ignored".to_string()),
        ];
        let c = Config::from_sources(None, &env).unwrap();
        assert_eq!(c.store.url, "postgres://x@y/z");
        assert_eq!((c.bus.url.as_str(), c.bus.publish_queue), ("local", 10));
        // A NATS bus needs a shared store.
        let mut c = Config::default();
        c.bus.url = "nats://127.0.0.1:4222".into();
        assert!(c.check().is_err());
        c.store.url = "mysql://nope".into();
        assert!(c.check().is_err());
    }

    #[test]
    fn unknown_keys_are_errors() {
        let env = vec![("CHAPAR_LIMITS__NO_SUCH_LIMIT".to_string(), "1".to_string())];
        assert!(Config::from_sources(None, &env).is_err());
        // Variables that name no configuration section belong to clients, tests and tools.
        let env = vec![
            ("CHAPAR_SOME_TOOL_SETTING".to_string(), "x".to_string()),
            (
                "CHAPAR_TEST_POSTGRES_URL".to_string(),
                "postgres://x".to_string(),
            ),
        ];
        assert!(Config::from_sources(None, &env).is_ok());
    }

    #[test]
    fn default_config_round_trips_through_toml() {
        let c = Config::default();
        let back: Config = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
    }
}
