//! Helpers for black-box tests: start the real `chapar` binary on a free port in a temporary
//! data directory, restart or kill -9 it, run CLI commands, and speak the raw protocol.
#![allow(dead_code)]

pub mod bot;
pub mod pty;
pub mod raw;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_chapar");

/// A running `chapar serve`, killed when dropped.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    /// Where `/metrics` is served (every test server has metrics on, on a port of its own,
    /// unless its environment turns them off).
    metrics: Option<SocketAddr>,
    child: Option<Child>,
    extra: Vec<(String, String)>,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Start with extra environment (e.g. `CHAPAR_LIMITS__MAX_TEXT_CHARS`).
    pub fn start_with(env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let extra = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut s = Server {
            dir,
            addr: "127.0.0.1:0".parse().unwrap(),
            metrics: None,
            child: None,
            extra,
        };
        s.spawn("127.0.0.1:0".parse().unwrap());
        s
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn spawn(&mut self, listen: SocketAddr) {
        // Retry briefly: after a restart the old port can take a moment to be free.
        let deadline = Instant::now() + Duration::from_secs(10);
        let metrics_on = self
            .extra
            .iter()
            .rev()
            .find(|(k, _)| k == "CHAPAR_METRICS__LISTEN")
            .is_none_or(|(_, v)| !v.is_empty());
        loop {
            let mut cmd = Command::new(BIN);
            cmd.arg("serve")
                .arg("--data")
                .arg(self.data())
                .arg("--listen")
                .arg(listen.to_string())
                .env_remove("CHAPAR_CONFIG")
                .env("CHAPAR_METRICS__LISTEN", "127.0.0.1:0")
                // Test accounts are seconds old; the tests of the new-account limits turn
                // them on again (`CHAPAR_LIMITS__NEW_ACCOUNT_HOURS`).
                .env("CHAPAR_LIMITS__NEW_ACCOUNT_HOURS", "0")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit());
            for (k, v) in &self.extra {
                cmd.env(k, v);
            }
            let mut child = cmd.spawn().expect("start chapar serve");
            let stdout = child.stdout.take().expect("stdout");
            let mut line = String::new();
            let mut reader = BufReader::new(stdout);
            let _ = reader.read_line(&mut line);
            if let Some(url) = line.trim().strip_prefix("chapar listening on http://") {
                self.addr = url.parse().expect("address");
                self.metrics = None;
                if metrics_on {
                    let mut second = String::new();
                    let _ = reader.read_line(&mut second);
                    let url = second
                        .trim()
                        .strip_prefix("chapar metrics on http://")
                        .unwrap_or_else(|| panic!("no metrics line: {second:?}"));
                    self.metrics = Some(url.parse().expect("metrics address"));
                }
                // Keep draining stdout so the server never blocks on a full pipe.
                std::thread::spawn(move || for _ in reader.lines() {});
                self.child = Some(child);
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                Instant::now() < deadline,
                "chapar serve did not start (first line: {line:?})"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The server's process id (while running).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// Resident memory of the server process, KiB.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS")
    }

    /// The server is still running (did not crash).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// The address of the metrics listener.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics.expect("metrics are on for this server")
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/v1/ws", self.addr)
    }

    /// kill -9, no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
            panic!("chapar serve did not exit after SIGTERM");
        }
    }

    /// Start again on the same address and data directory.
    pub fn restart(&mut self) {
        self.kill9();
        let addr = self.addr;
        self.spawn(addr);
    }

    /// Run a CLI command against this server with the given profile directory.
    pub fn cli(&self, profile: &Path, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--server")
            .arg(self.url())
            .arg("--profile")
            .arg(profile)
            .args(args)
            .env_remove("CHAPAR_SERVER")
            .env_remove("CHAPAR_PROFILE")
            .stdin(Stdio::null())
            .output()
            .expect("run chapar")
    }

    /// Run a CLI command that must succeed; returns stdout.
    pub fn cli_ok(&self, profile: &Path, args: &[&str]) -> String {
        let out = self.cli(profile, args);
        assert!(
            out.status.success(),
            "chapar {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    pub fn profile(&self, name: &str) -> PathBuf {
        self.dir.path().join("profiles").join(name)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Parse `--json` output: one JSON object per line.
pub fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}
