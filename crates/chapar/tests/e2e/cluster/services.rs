//! What the cluster tests run: real `chapar serve` nodes started with `--store postgres://...
//! --bus nats://...`, private PostgreSQL servers (initdb + pg_ctl in a temporary directory, so a
//! test may stop and start its own without disturbing the others), and SDK clients that record
//! everything they are given.
//!
//! The shared servers come from `./scripts/test` (CHAPAR_TEST_POSTGRES_URL,
//! CHAPAR_TEST_NATS_URL); private ones need CHAPAR_TEST_PG_BIN and CHAPAR_TEST_NATS_SERVER (also
//! set by it). A test that needs them fails with a clear message when they are missing.

use crate::util::BIN;
use chapar_proto::{ConversationId, Event, Pts, Seq};
use chapar_sdk::{Auth, Client, ClientConfig, ClientEvent, Credentials};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `chapar serve` node of a cluster, killed (-9) when dropped.
pub struct Node {
    pub addr: SocketAddr,
    /// Where this node serves `/metrics` (`metrics.listen`, a port of its own).
    pub metrics_addr: SocketAddr,
    dir: tempfile::TempDir,
    store: String,
    bus: String,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Node {
    /// Start a node on a free port with `--store` and `--bus` flags and extra environment.
    pub fn start(store: &str, bus: &str, env: &[(&str, &str)]) -> Node {
        let mut n = Node {
            addr: "127.0.0.1:0".parse().expect("address"),
            metrics_addr: "127.0.0.1:0".parse().expect("address"),
            dir: tempfile::tempdir().expect("tempdir"),
            store: store.to_string(),
            bus: bus.to_string(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: None,
        };
        n.spawn("127.0.0.1:0".parse().expect("address"));
        n
    }

    fn spawn(&mut self, listen: SocketAddr) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut cmd = Command::new(BIN);
            cmd.arg("serve")
                .arg("--store")
                .arg(&self.store)
                .arg("--bus")
                .arg(&self.bus)
                .arg("--listen")
                .arg(listen.to_string())
                .arg("--data")
                .arg(self.dir.path())
                .env_remove("CHAPAR_CONFIG")
                .env("CHAPAR_LOG", "warn")
                .env("CHAPAR_METRICS__LISTEN", "127.0.0.1:0")
                .env("CHAPAR_LIMITS__NEW_ACCOUNT_HOURS", "0")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit());
            for (k, v) in &self.env {
                cmd.env(k, v);
            }
            let mut child = cmd.spawn().expect("start chapar serve");
            let stdout = child.stdout.take().expect("stdout");
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            if let Some(url) = line.trim().strip_prefix("chapar listening on http://") {
                self.addr = url.parse().expect("address");
                let mut second = String::new();
                let _ = reader.read_line(&mut second);
                self.metrics_addr = second
                    .trim()
                    .strip_prefix("chapar metrics on http://")
                    .unwrap_or_else(|| panic!("no metrics line: {second:?}"))
                    .parse()
                    .expect("metrics address");
                std::thread::spawn(move || for _ in reader.lines() {});
                self.child = Some(child);
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                Instant::now() < deadline,
                "chapar serve --store {} --bus {} did not start (first line: {line:?})",
                self.store,
                self.bus
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The status code of `GET path` (0 when the node does not answer).
    pub fn http_status(&self, path: &str) -> u16 {
        self.http_get(path).0
    }

    /// `GET path`: the status code (0 when the node does not answer) and the whole response.
    pub fn http_get(&self, path: &str) -> (u16, String) {
        get(self.addr, path)
    }

    /// `GET /metrics` from the node's metrics listener.
    pub fn metrics(&self) -> String {
        get(self.metrics_addr, "/metrics").1
    }
}

/// `GET path` on `addr`: the status code (0 when nothing answers) and the whole response.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, out)
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Run a PostgreSQL program, as the postgres user when we are root (PostgreSQL refuses root).
fn pg_command(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// A private PostgreSQL server in a temporary directory, stopped when dropped.
pub struct PgServer {
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
}

impl PgServer {
    pub fn start() -> PgServer {
        let bin = match std::env::var("CHAPAR_TEST_PG_BIN") {
            Ok(b) if !b.is_empty() => PathBuf::from(b),
            _ => panic!(
                "CHAPAR_TEST_PG_BIN is not set: this test runs its own PostgreSQL. Run the tests \
                 with ./scripts/test, or set it to PostgreSQL's bin directory \
                 (e.g. /usr/lib/postgresql/15/bin)"
            ),
        };
        let dir = tempfile::Builder::new()
            .prefix("chapar-pg-")
            .tempdir()
            .expect("tempdir");
        if is_root() {
            let ok = Command::new("chown")
                .arg("postgres")
                .arg(dir.path())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(
                ok,
                "cannot give {} to the postgres user",
                dir.path().display()
            );
        }
        let out = pg_command(&bin.join("initdb"))
            .arg("-D")
            .arg(dir.path().join("data"))
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s = PgServer {
            port: chapar_bus_nats::testing::free_port(),
            dir,
            bin,
        };
        s.pg_start();
        s
    }

    fn pg_start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let status = pg_command(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-w", "-t", "60", "-o", &opts, "start"])
            .stdout(Stdio::null())
            .status()
            .expect("run pg_ctl");
        assert!(status.success(), "pg_ctl start failed");
    }

    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stop at once, as a crash would (no checkpoint; recovery replays the WAL on start).
    pub fn stop_immediate(&self) {
        let _ = pg_command(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    pub fn start_again(&self) {
        self.pg_start();
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop_immediate();
    }
}

/// One message as a device received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Got {
    pub pts: Pts,
    pub conversation: ConversationId,
    pub seq: Seq,
    pub client_id: String,
}

/// An SDK client that records its feed's messages and when it was revoked or suspended.
pub struct Person {
    pub client: Client,
    pub handle: String,
    got: Arc<Mutex<Vec<Got>>>,
    revoked: Arc<Mutex<Option<Instant>>>,
    suspended: Arc<Mutex<Option<Instant>>>,
}

pub fn config() -> ClientConfig {
    ClientConfig {
        request_timeout: Duration::from_secs(20),
        send_attempts: 30,
        ..ClientConfig::default()
    }
}

impl Person {
    pub async fn connect(
        urls: Vec<String>,
        handle: &str,
        creds: Credentials,
        auth: Auth,
    ) -> Person {
        let (client, mut events) = Client::connect(urls, config(), creds, auth, 0)
            .await
            .unwrap_or_else(|e| panic!("{handle} cannot connect: {e}"));
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let revoked: Arc<Mutex<Option<Instant>>> = Arc::default();
        let suspended: Arc<Mutex<Option<Instant>>> = Arc::default();
        let (sink, rev, sus) = (got.clone(), revoked.clone(), suspended.clone());
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                match ev {
                    ClientEvent::Feed(f) => {
                        if let Event::Message(m) = &f.event {
                            sink.lock().unwrap().push(Got {
                                pts: f.pts,
                                conversation: m.conversation,
                                seq: m.seq,
                                client_id: m.client_id.clone(),
                            });
                        }
                    }
                    ClientEvent::Revoked => {
                        *rev.lock().unwrap() = Some(Instant::now());
                    }
                    ClientEvent::Suspended { .. } => {
                        *sus.lock().unwrap() = Some(Instant::now());
                    }
                    _ => {}
                }
            }
        });
        Person {
            client,
            handle: handle.to_string(),
            got,
            revoked,
            suspended,
        }
    }

    pub async fn register(urls: Vec<String>, handle: &str) -> Person {
        let auth = Auth::Register {
            handle: handle.into(),
            display_name: None,
            invite_code: None,
        };
        Person::connect(urls, handle, Credentials::generate(), auth).await
    }

    pub fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    pub fn revoked_at(&self) -> Option<Instant> {
        *self.revoked.lock().unwrap()
    }

    pub fn suspended_at(&self) -> Option<Instant> {
        *self.suspended.lock().unwrap()
    }

    /// Seqs received per conversation, in the order received.
    pub fn by_conversation(&self) -> BTreeMap<ConversationId, Vec<Seq>> {
        let mut out: BTreeMap<ConversationId, Vec<Seq>> = BTreeMap::new();
        for g in self.got() {
            out.entry(g.conversation).or_default().push(g.seq);
        }
        out
    }

    /// Wait until this device has `want` messages of each conversation (or the deadline).
    pub async fn wait_for(&self, want: &BTreeMap<ConversationId, usize>, deadline: Instant) {
        loop {
            let have = self.by_conversation();
            let done = want
                .iter()
                .all(|(c, n)| have.get(c).map_or(0, Vec::len) >= *n);
            if done || Instant::now() > deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything this device received: pts strictly increasing, and in each conversation it was
    /// told of, exactly seqs 1..=n once each, in order.
    pub fn check_view(&self, want: &BTreeMap<ConversationId, usize>) {
        let got = self.got();
        let mut last = 0;
        for g in &got {
            assert!(
                g.pts > last,
                "{}: pts not increasing ({} after {last})",
                self.handle,
                g.pts
            );
            last = g.pts;
        }
        let have = self.by_conversation();
        for (conv, n) in want {
            let seqs = have.get(conv).cloned().unwrap_or_default();
            assert_eq!(
                seqs,
                (1..=*n as u64).collect::<Vec<_>>(),
                "{}: conversation {} must be every message once, in order",
                self.handle,
                conv.0
            );
        }
    }
}
