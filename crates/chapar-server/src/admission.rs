//! Admission control: who gets in when a rush arrives.
//!
//! * A cap on open connections and a token-bucket budget on new ones per second. Beyond either,
//!   the WebSocket upgrade is answered `503` with a jittered `Retry-After`, before any per-
//!   connection state exists. Connections already open are never dropped to make room:
//!   people already in keep priority over newcomers.
//! * Sign-ups have their own budget per node and per source address. A refused sign-up gets
//!   `overloaded` with when to come back and about how many are ahead (the waiting room).
//!   Sign-ups are also refused while the write queue is more than half full, so the messages of
//!   people already in go first.

use crate::ratelimit::{FailMode, KeyedLimiter, Rate, TokenBucket};
use chapar_core::Error;
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdmissionConfig {
    /// Most open WebSocket connections; 0 means the process's open-file limit minus 512.
    pub max_connections: usize,
    /// New connections per second (token bucket refill).
    pub accepts_per_second: u32,
    /// New connections allowed at once.
    pub accept_burst: u32,
    /// Refused clients are told to retry after a random time between this and twice this.
    pub retry_after_secs: u64,
    /// Sign-ups per second on this node.
    pub signups_per_second: u32,
    pub signup_burst: u32,
    /// Sign-ups (and device links) per source address.
    pub signups_per_address: Rate,
    /// Source addresses tracked at most by the per-address limiter.
    pub tracked_addresses: usize,
    /// Sign-ups are refused while more writes than this wait for the store: the messages of
    /// people already in go first, and never wait behind a crowd of sign-ups.
    pub signup_max_queued_writes: u64,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            max_connections: 0,
            // What one node measured it can take on 2 cores (docs/benchmarks.md): a sign-up
            // storm runs at ~4,500/s. A lower budget does not protect residents in a surge
            // either: refused newcomers come back, and every refusal costs a connection.
            accepts_per_second: 5000,
            accept_burst: 5000,
            retry_after_secs: 2,
            signups_per_second: 5000,
            signup_burst: 5000,
            signups_per_address: Rate {
                per_minute: 600,
                burst: 100,
                when_full: FailMode::Open,
            },
            tracked_addresses: 100_000,
            signup_max_queued_writes: 4096,
        }
    }
}

/// How long refused sign-ups count as waiting in line.
const WAITING_WINDOW_SECS: u64 = 5;

/// Why an upgrade was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Cap,
    Rate,
    Draining,
}

pub struct Admission {
    cap: usize,
    open: Arc<AtomicUsize>,
    accepts: Mutex<TokenBucket>,
    signups: Mutex<TokenBucket>,
    signup_rate: f64,
    signup_max_queued_writes: u64,
    /// Start of the current waiting-room window and the refusals in it.
    waiting: Mutex<(Instant, u64)>,
    by_address: KeyedLimiter<IpAddr>,
    retry_after_secs: u64,
    pub refused_cap: AtomicU64,
    pub refused_rate: AtomicU64,
    pub refused_draining: AtomicU64,
    pub admitted: AtomicU64,
    pub signups_refused_node: AtomicU64,
    pub signups_refused_address: AtomicU64,
    pub signups_refused_busy: AtomicU64,
}

/// Holds one place under the connection cap; gives it back when dropped.
pub struct Permit {
    open: Arc<AtomicUsize>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    pub fn new(c: &AdmissionConfig) -> Admission {
        let cap = if c.max_connections == 0 {
            open_file_limit().saturating_sub(512).max(64)
        } else {
            c.max_connections
        };
        Admission {
            cap,
            open: Arc::new(AtomicUsize::new(0)),
            accepts: Mutex::new(TokenBucket::new(
                c.accepts_per_second.max(1) as f64,
                c.accept_burst,
            )),
            signups: Mutex::new(TokenBucket::new(
                c.signups_per_second.max(1) as f64,
                c.signup_burst,
            )),
            signup_rate: c.signups_per_second.max(1) as f64,
            signup_max_queued_writes: c.signup_max_queued_writes,
            waiting: Mutex::new((Instant::now(), 0)),
            by_address: KeyedLimiter::new(c.signups_per_address.clone(), c.tracked_addresses),
            retry_after_secs: c.retry_after_secs.max(1),
            refused_cap: AtomicU64::new(0),
            refused_rate: AtomicU64::new(0),
            refused_draining: AtomicU64::new(0),
            admitted: AtomicU64::new(0),
            signups_refused_node: AtomicU64::new(0),
            signups_refused_address: AtomicU64::new(0),
            signups_refused_busy: AtomicU64::new(0),
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// A random Retry-After in seconds, between the base and twice the base, so refused clients
    /// do not all come back in the same second.
    pub fn retry_after(&self) -> u64 {
        rand::thread_rng().gen_range(self.retry_after_secs..=self.retry_after_secs * 2)
    }

    /// Let one more connection in, or say why not.
    pub fn admit(&self, draining: bool) -> Result<Permit, Refusal> {
        if draining {
            self.refused_draining.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::Draining);
        }
        // Reserve a place first, then check the rate: never more than `cap` even when racing.
        if self.open.fetch_add(1, Ordering::AcqRel) >= self.cap {
            self.open.fetch_sub(1, Ordering::AcqRel);
            self.refused_cap.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::Cap);
        }
        let permit = Permit {
            open: self.open.clone(),
        };
        let ok = self
            .accepts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(Instant::now())
            .is_ok();
        if !ok {
            self.refused_rate.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::Rate);
        }
        self.admitted.fetch_add(1, Ordering::Relaxed);
        Ok(permit)
    }

    /// May this address sign up (or link a device) now? `queued_writes` is how many writes wait
    /// for the store.
    pub fn admit_signup(&self, addr: IpAddr, queued_writes: u64) -> Result<(), Error> {
        let now = Instant::now();
        if queued_writes > self.signup_max_queued_writes {
            self.signups_refused_busy.fetch_add(1, Ordering::Relaxed);
            let ms = self.jitter_ms(self.retry_after_secs * 1000);
            return Err(Error::Overloaded {
                reason: "the server is busy delivering messages; sign-up will open again shortly"
                    .into(),
                retry_after_ms: ms,
            });
        }
        if let Err(wait) = self
            .by_address
            .check(crate::ratelimit::address_key(addr), now)
        {
            self.signups_refused_address.fetch_add(1, Ordering::Relaxed);
            return Err(Error::RateLimited {
                retry_after_ms: wait.max(100),
            });
        }
        let mut node = self.signups.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(wait_ms) = node.take(now) {
            drop(node);
            self.signups_refused_node.fetch_add(1, Ordering::Relaxed);
            // The waiting room: people refused in the last few seconds are ahead of this one;
            // spread their returns over the time the budget needs to serve them.
            let ahead = self.signups_refused_recently().saturating_sub(1);
            let spread_ms = ((ahead as f64 / self.signup_rate) * 1000.0) as u64;
            let ms = self.jitter_ms(wait_ms.max(100) + spread_ms);
            return Err(Error::Overloaded {
                reason: format!(
                    "sign-up waiting room: about {ahead} people ahead of you; you will be let in when you retry in {:.1} s",
                    ms as f64 / 1000.0
                ),
                retry_after_ms: ms,
            });
        }
        Ok(())
    }

    /// Sign-ups refused in the last few seconds, counting this one: the people ahead in line.
    fn signups_refused_recently(&self) -> u64 {
        let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if now.saturating_duration_since(w.0).as_secs() >= WAITING_WINDOW_SECS {
            *w = (now, 0);
        }
        w.1 += 1;
        w.1
    }

    fn jitter_ms(&self, base: u64) -> u64 {
        let base = base.max(1);
        rand::thread_rng().gen_range(base..=base + base / 2)
    }
}

/// The soft open-file limit of this process (connections need one descriptor each).
pub(crate) fn open_file_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_holds_and_places_come_back() {
        let a = Admission::new(&AdmissionConfig {
            max_connections: 2,
            ..Default::default()
        });
        let p1 = a.admit(false).unwrap();
        let _p2 = a.admit(false).unwrap();
        assert_eq!(a.admit(false).err(), Some(Refusal::Cap));
        drop(p1);
        assert!(a.admit(false).is_ok());
        assert_eq!(a.admit(true).err(), Some(Refusal::Draining));
        let r = a.retry_after();
        assert!((2..=4).contains(&r));
    }

    #[test]
    fn the_accept_budget_refuses_a_burst() {
        let a = Admission::new(&AdmissionConfig {
            accepts_per_second: 1,
            accept_burst: 3,
            ..Default::default()
        });
        let permits: Vec<_> = (0..3).map(|_| a.admit(false).unwrap()).collect();
        assert_eq!(a.admit(false).err(), Some(Refusal::Rate));
        assert_eq!(a.open(), 3, "a refused attempt gives its place back");
        drop(permits);
    }

    #[test]
    fn signups_wait_in_line_when_the_budget_is_spent() {
        let a = Admission::new(&AdmissionConfig {
            signups_per_second: 1,
            signup_burst: 1,
            ..Default::default()
        });
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(a.admit_signup(ip, 0).is_ok());
        match a.admit_signup(ip, 0) {
            Err(Error::Overloaded {
                reason,
                retry_after_ms,
            }) => {
                assert!(reason.contains("waiting room"), "{reason}");
                assert!(retry_after_ms >= 100);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            a.admit_signup(ip, 10_000),
            Err(Error::Overloaded { .. })
        ));
    }
}
