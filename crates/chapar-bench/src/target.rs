//! The server under test: a `chapar serve` the bench starts itself (in a temporary data
//! directory), the bare relay (this same binary's `relay` command), or a server someone else
//! runs (`--server URL`, with `--server-pid` to read its memory).

use anyhow::{Context, bail};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Which server a measurement ran against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Chapar,
    Relay,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Chapar => "chapar",
            Kind::Relay => "relay",
        }
    }
}

/// How to start (or find) a server.
#[derive(Clone, Debug)]
pub enum Launch {
    /// Run `BIN serve` with this extra environment.
    Chapar {
        bin: PathBuf,
        env: Vec<(String, String)>,
        durability: Option<String>,
    },
    /// Run this executable's `relay` command.
    Relay,
    /// A server already running.
    Attach { addr: SocketAddr, pid: Option<u32> },
}

/// A running server.
pub struct Target {
    pub addr: SocketAddr,
    launch: Launch,
    child: Option<Child>,
    pid: Option<u32>,
    /// Data directory and logs of a spawned server; removed when the target is dropped.
    dir: Option<tempfile::TempDir>,
}

const READY_TIMEOUT: Duration = Duration::from_secs(30);

impl Target {
    pub fn start(launch: Launch) -> anyhow::Result<Target> {
        let mut t = Target {
            addr: "127.0.0.1:0".parse()?,
            launch: launch.clone(),
            child: None,
            pid: None,
            dir: None,
        };
        match launch {
            Launch::Attach { addr, pid } => {
                t.addr = addr;
                t.pid = pid;
            }
            _ => {
                t.dir = Some(
                    tempfile::Builder::new()
                        .prefix("chapar-bench-")
                        .tempdir()
                        .context("creating a temporary directory")?,
                );
                t.spawn("127.0.0.1:0".parse()?)?;
            }
        }
        Ok(t)
    }

    /// The server's HTTP base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    pub fn is_spawned(&self) -> bool {
        self.child.is_some()
    }

    fn log_path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.path().join("server.log"))
    }

    fn spawn(&mut self, listen: SocketAddr) -> anyhow::Result<()> {
        let dir = self
            .dir
            .as_ref()
            .context("no directory")?
            .path()
            .to_path_buf();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))?;
        let mut cmd = match &self.launch {
            Launch::Chapar {
                bin,
                env,
                durability,
            } => {
                let mut c = Command::new(bin);
                c.arg("serve")
                    .arg("--data")
                    .arg(dir.join("data"))
                    .arg("--listen")
                    .arg(listen.to_string())
                    .env_remove("CHAPAR_CONFIG")
                    .env("CHAPAR_LOG", "warn");
                if let Some(d) = durability {
                    c.arg("--durability").arg(d);
                }
                for (k, v) in env {
                    c.env(k, v);
                }
                c
            }
            Launch::Relay => {
                let mut c = Command::new(std::env::current_exe()?);
                c.arg("relay").arg("--listen").arg(listen.to_string());
                c
            }
            Launch::Attach { .. } => bail!("cannot start a server we only attached to"),
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        // A restarted server may find its port still held for a moment: retry briefly.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut child = cmd.spawn().context("starting the server")?;
            let stdout = child.stdout.take().context("server stdout")?;
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let _ = tx.send(line);
                // Keep draining so the server never blocks on a full pipe.
                for _ in reader.lines() {}
            });
            let line = rx.recv_timeout(READY_TIMEOUT).unwrap_or_default();
            let addr = line
                .trim()
                .rsplit_once("listening on http://")
                .and_then(|(_, a)| a.parse::<SocketAddr>().ok());
            if let Some(addr) = addr {
                self.addr = addr;
                self.pid = Some(child.id());
                self.child = Some(child);
                return Ok(());
            }
            let _ = child.kill();
            let _ = child.wait();
            if Instant::now() >= deadline {
                bail!(
                    "the server did not start (first line {line:?}); its log:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The last lines of a spawned server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let Some(text) = self
            .log_path()
            .and_then(|p| std::fs::read_to_string(p).ok())
        else {
            return String::new();
        };
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Resident memory of the server in KiB, when we know its process.
    pub fn rss_kib(&self) -> Option<u64> {
        self.pid.and_then(crate::procfs::rss_kib)
    }

    /// kill -9 the server (no chance to flush or say goodbye).
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            bail!("only a server the bench started can be killed (use --spawn)");
        };
        child.kill()?;
        child.wait()?;
        self.pid = None;
        Ok(())
    }

    /// Start a killed server again on the same address and data directory.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.spawn(self.addr)
    }

    /// Whether a spawned server is still running (a crash is worth reporting).
    pub fn alive(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => true,
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
