//! Server configuration: one typed source. Read from an optional TOML file, then overridden by
//! environment variables (`CHAPAR_<KEY>` for top-level keys, `CHAPAR_<SECTION>__<KEY>` for keys
//! in a section, e.g. `CHAPAR_LIMITS__MAX_TEXT_CHARS=2000`), then by command-line flags.

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
    pub admission: crate::admission::AdmissionConfig,
    pub rate_limits: crate::ratelimit::RateLimitConfig,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Frames queued for one connection before it is disconnected as lagging.
    pub outbound_queue: usize,
    /// Seconds between server pings.
    pub heartbeat_secs: u64,
    /// A connection silent for this long (no frame, no pong) is closed.
    pub idle_timeout_secs: u64,
    /// A connection must sign in within this many seconds.
    pub auth_timeout_secs: u64,
    /// On SIGTERM, clients are told to reconnect at random times spread over this window, and the
    /// node exits when all are gone or the window (plus a grace second) has passed.
    pub drain_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Writes waiting for the writer; beyond this, writes are refused with `overloaded`.
    pub write_queue: usize,
    /// Most writes committed in one transaction (group commit).
    pub max_batch: usize,
    /// Read connections.
    pub readers: usize,
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
            admission: Default::default(),
            rate_limits: Default::default(),
        }
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            outbound_queue: 512,
            heartbeat_secs: 30,
            idle_timeout_secs: 90,
            auth_timeout_secs: 30,
            drain_secs: 5,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            write_queue: 8192,
            max_batch: 1024,
            readers: 4,
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
            let from_file = text
                .parse::<toml::Table>()
                .with_context(|| format!("parsing {}", path.display()))?;
            merge(&mut table, from_file);
        }
        for (name, value) in env {
            let Some(key) = name.strip_prefix("CHAPAR_") else {
                continue;
            };
            // Client-side and meta variables are not server keys.
            if matches!(key, "CONFIG" | "SERVER" | "PROFILE" | "LOG") {
                continue;
            }
            let path: Vec<String> = key.split("__").map(|s| s.to_ascii_lowercase()).collect();
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
        if self.store.readers == 0 || self.store.readers > 64 {
            bail!("store.readers must be between 1 and 64");
        }
        Ok(())
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
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
    fn unknown_keys_are_errors() {
        let env = vec![("CHAPAR_LIMITS__NO_SUCH_LIMIT".to_string(), "1".to_string())];
        assert!(Config::from_sources(None, &env).is_err());
    }

    #[test]
    fn default_config_round_trips_through_toml() {
        let c = Config::default();
        let back: Config = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
    }
}
