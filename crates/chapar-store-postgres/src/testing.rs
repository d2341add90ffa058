//! Helpers for tests that need a real PostgreSQL: a fresh database per test, made on the server
//! named by `CHAPAR_TEST_POSTGRES_URL` (an administrative URL; `./scripts/test` starts a private
//! server and sets it). Tests that need PostgreSQL fail, never skip, when it is not set.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The variable naming the test server.
pub const ADMIN_URL_VAR: &str = "CHAPAR_TEST_POSTGRES_URL";

/// The administrative URL of the test server. Panics with instructions when it is not set.
pub fn admin_url() -> String {
    match std::env::var(ADMIN_URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{ADMIN_URL_VAR} is not set: this test needs a PostgreSQL server. Run the tests with \
             ./scripts/test (it starts one), or set {ADMIN_URL_VAR} to an administrative URL \
             such as postgres://postgres@127.0.0.1:5432/postgres"
        ),
    }
}

/// A database of its own for one test; dropped (with `FORCE`) when this is dropped.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    admin: String,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

impl TestDatabase {
    /// Create a fresh, empty database named after `tag`, the process and a counter.
    pub async fn create(tag: &str) -> TestDatabase {
        let admin = admin_url();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tag: String = tag
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(30)
            .collect();
        let name = format!(
            "t_{tag}_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let url = crate::create_database(&admin, &name)
            .await
            .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
        TestDatabase { name, url, admin }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop may run inside or outside a runtime: use a thread with its own.
        let done = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&admin, tokio_postgres::NoTls).await
                {
                    let driver = tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    drop(client);
                    let _ = driver.await;
                }
            });
        });
        let _ = done.join();
    }
}
