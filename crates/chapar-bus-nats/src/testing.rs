//! Helpers for tests that need a real NATS server: the shared test server named by
//! `CHAPAR_TEST_NATS_URL`, or a private `nats-server` (its binary named by
//! `CHAPAR_TEST_NATS_SERVER`, else found on `PATH`) that a test may stop and start again on the
//! same port. `./scripts/test` sets both; tests that need NATS fail, never skip, without them.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const URL_VAR: &str = "CHAPAR_TEST_NATS_URL";
pub const SERVER_VAR: &str = "CHAPAR_TEST_NATS_SERVER";

/// The shared test server's URL. Panics with instructions when it is not set.
pub fn shared_url() -> String {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{URL_VAR} is not set: this test needs a NATS server. Run the tests with \
             ./scripts/test (it starts one), or set {URL_VAR}=nats://127.0.0.1:4222"
        ),
    }
}

/// The nats-server binary to run private servers with.
pub fn server_binary() -> String {
    match std::env::var(SERVER_VAR) {
        Ok(path) if !path.is_empty() => path,
        _ => {
            let found = std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .chain([std::path::PathBuf::from("/usr/sbin")])
                    .map(|d| d.join("nats-server"))
                    .find(|p| p.is_file())
            });
            match found {
                Some(p) => p.display().to_string(),
                None => panic!(
                    "{SERVER_VAR} is not set and nats-server is not on PATH: run the tests with \
                     ./scripts/test (it installs and names it)"
                ),
            }
        }
    }
}

/// A free TCP port on 127.0.0.1 (the kernel's choice; another process could take it first).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// A private nats-server on 127.0.0.1, killed when dropped.
pub struct NatsServer {
    pub port: u16,
    child: Option<Child>,
}

impl NatsServer {
    pub fn start() -> NatsServer {
        let mut s = NatsServer {
            port: free_port(),
            child: None,
        };
        s.spawn();
        s
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let child = Command::new(server_binary())
                .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run nats-server: {e}"));
            self.child = Some(child);
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    return;
                }
                if let Some(c) = self.child.as_mut()
                    && let Ok(Some(_)) = c.try_wait()
                {
                    break; // exited (port not free yet after a restart): try again
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again on the same port.
    pub fn start_again(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
