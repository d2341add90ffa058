//! Rate limiting: token buckets, alone or keyed (one bucket per device, account or address).
//!
//! A keyed limiter tracks at most `max_keys` keys. Idle keys (full buckets) are dropped when room
//! is needed; when the table is still full, the limiter's [`FailMode`] decides whether a request
//! from a new key is let through (open) or refused (closed).

use chapar_core::Error;
use chapar_proto::{DeviceId, Request, UserId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// `rate` tokens per second, at most `burst` saved up (and at the start).
    pub fn new(rate: f64, burst: u32) -> Self {
        let burst = burst.max(1) as f64;
        TokenBucket {
            rate: rate.max(1e-6),
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
    }

    /// Take one token, or say how many milliseconds until one is there.
    pub fn take(&mut self, now: Instant) -> Result<(), u64> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err((((1.0 - self.tokens) / self.rate) * 1000.0).ceil() as u64)
        }
    }

    /// True when the bucket is full again (its key can be forgotten).
    fn is_idle(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }
}

/// The key a per-address limiter counts `ip` under: an IPv4 address as it is (an IPv4-mapped
/// IPv6 address as its IPv4 address), an IPv6 address by its /64. One subscriber, host or
/// virtual machine is usually given a whole /64, so keying on the full /128 would give it 2^64
/// fresh budgets.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// What a limiter does when it cannot track one more key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// Let the request through unlimited.
    Open,
    /// Refuse it as rate limited.
    Closed,
}

/// One limiter's configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Sustained requests per minute.
    pub per_minute: u32,
    /// Requests allowed at once after a quiet period.
    pub burst: u32,
    /// When the limiter's table is full.
    #[serde(default = "default_fail")]
    pub when_full: FailMode,
}

fn default_fail() -> FailMode {
    FailMode::Open
}

impl Rate {
    pub const fn new(per_minute: u32, burst: u32) -> Rate {
        Rate {
            per_minute,
            burst,
            when_full: FailMode::Open,
        }
    }
}

pub struct KeyedLimiter<K> {
    rate: Rate,
    max_keys: usize,
    buckets: Mutex<HashMap<K, TokenBucket>>,
}

impl<K: Hash + Eq + Copy> KeyedLimiter<K> {
    pub fn new(rate: Rate, max_keys: usize) -> Self {
        KeyedLimiter {
            rate,
            max_keys: max_keys.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take a token for `key`, or the milliseconds to wait.
    pub fn check(&self, key: K, now: Instant) -> Result<(), u64> {
        if self.rate.per_minute == 0 {
            return Ok(()); // 0 disables the limiter
        }
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if !map.contains_key(&key) && map.len() >= self.max_keys {
            map.retain(|_, b| !b.is_idle(now));
            if map.len() >= self.max_keys {
                return match self.rate.when_full {
                    FailMode::Open => Ok(()),
                    FailMode::Closed => Err(1000),
                };
            }
        }
        map.entry(key)
            .or_insert_with(|| {
                TokenBucket::new(self.rate.per_minute as f64 / 60.0, self.rate.burst)
            })
            .take(now)
    }

    pub fn tracked(&self) -> usize {
        self.buckets.lock().map(|m| m.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn refuses_past_the_burst_then_refills() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 3);
        for _ in 0..3 {
            assert!(b.take(t0).is_ok());
        }
        let wait = b.take(t0).unwrap_err();
        assert!((1..=100).contains(&wait), "{wait}");
        assert!(b.take(t0 + Duration::from_millis(100)).is_ok());
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        assert_eq!(
            address_key("::ffff:192.0.2.7".parse().unwrap()),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
        assert_ne!(
            address_key("192.0.2.7".parse().unwrap()),
            address_key("192.0.2.8".parse().unwrap())
        );
        // One /64 shares one budget however many addresses it uses.
        let l = KeyedLimiter::new(Rate::new(60, 2), 10);
        let t0 = Instant::now();
        for i in 0..2u16 {
            let ip = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, i, i, i, i));
            assert!(l.check(address_key(ip), t0).is_ok());
        }
        let fresh = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 9, 9, 9, 9));
        assert!(l.check(address_key(fresh), t0).is_err());
    }

    #[test]
    fn typing_is_limited_per_account() {
        let l = Limiters::new(&RateLimitConfig {
            typing_per_account: Rate::new(60, 3),
            ..Default::default()
        });
        let typing = Request::Typing(chapar_proto::frame::ConversationRef {
            conversation: chapar_proto::ConversationId(1),
        });
        let (user, other) = (UserId(1), UserId(2));
        for device in 1..=3 {
            assert!(l.check(user, DeviceId(device), false, &typing).is_ok());
        }
        // A fourth from yet another device of the same account is refused; others are not.
        assert!(matches!(
            l.check(user, DeviceId(4), false, &typing),
            Err(Error::RateLimited { .. })
        ));
        assert!(
            l.check_typing(user).is_err(),
            "the Bot API path shares the bucket"
        );
        assert!(l.check(other, DeviceId(9), false, &typing).is_ok());
        assert_eq!(l.refused[Limiters::TYPING].load(Ordering::Relaxed), 2);
    }

    #[test]
    fn new_accounts_send_at_a_lower_rate() {
        let l = Limiters::new(&RateLimitConfig {
            send_new_account: Rate::new(60, 2),
            ..Default::default()
        });
        let send = Request::Send(chapar_proto::frame::Send {
            conversation: Some(chapar_proto::ConversationId(1)),
            peer: None,
            client_id: "c".into(),
            content_type: None,
            text: Some("hi".into()),
            data: None,
            reply_to: None,
        });
        let (fresh, settled) = (UserId(1), UserId(2));
        for _ in 0..2 {
            assert!(l.check(fresh, DeviceId(1), true, &send).is_ok());
        }
        assert!(matches!(
            l.check(fresh, DeviceId(2), true, &send),
            Err(Error::RateLimited { .. })
        ));
        // The same account once it is no longer new, and older accounts, are not held back.
        assert!(l.check(fresh, DeviceId(1), false, &send).is_ok());
        for _ in 0..5 {
            assert!(l.check(settled, DeviceId(3), false, &send).is_ok());
        }
        assert_eq!(l.refused[Limiters::SEND_NEW].load(Ordering::Relaxed), 1);
    }

    #[test]
    fn keys_are_limited_separately_and_the_table_is_bounded() {
        let t0 = Instant::now();
        let l = KeyedLimiter::new(Rate::new(60, 2), 2);
        assert!(l.check(1, t0).is_ok());
        assert!(l.check(1, t0).is_ok());
        assert!(l.check(1, t0).is_err());
        assert!(l.check(2, t0).is_ok());
        // Table full of busy keys: open lets a third key through untracked.
        assert!(l.check(2, t0).is_ok());
        assert!(l.check(3, t0).is_ok());
        assert_eq!(l.tracked(), 2);
        let closed = KeyedLimiter::new(
            Rate {
                when_full: FailMode::Closed,
                ..Rate::new(60, 1)
            },
            1,
        );
        assert!(closed.check(1, t0).is_ok());
        assert!(closed.check(2, t0).is_err());
        // Once key 1 is idle again, its slot is reused.
        assert!(closed.check(2, t0 + Duration::from_secs(2)).is_ok());
    }
}

/// Per-device and per-account limits on what costs the node most. `per_minute = 0` disables one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Keys (devices or accounts) each limiter tracks at most; beyond that its `when_full` applies.
    pub max_keys: usize,
    /// Messages, edits, deletions and reactions, per device.
    pub send_per_device: Rate,
    /// The same, per account (all devices together).
    pub send_per_account: Rate,
    /// The same, per account, while the account is new (within `limits.new_account_hours` of
    /// its sign-up): most spam comes from fresh accounts.
    pub send_new_account: Rate,
    /// Groups created, per account.
    pub groups_per_account: Rate,
    /// Member additions (joins), per account.
    pub joins_per_account: Rate,
    /// History, sync, conversation and member reads, per device.
    pub reads_per_device: Rate,
    /// Typing notices (people's `typing`, bots' `sendChatAction`), per account: each is pushed
    /// to every member online, so a flood in a large group costs the node the most.
    pub typing_per_account: Rate,
    /// Looking people up (`find_people`, `user`, `profile`), per account: against walking
    /// the directory.
    pub lookups_per_account: Rate,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            max_keys: 200_000,
            send_per_device: Rate::new(1200, 400),
            send_per_account: Rate::new(3000, 1000),
            // One a second, with a burst for a first conversation: plenty for a person.
            send_new_account: Rate::new(60, 30),
            groups_per_account: Rate::new(30, 20),
            joins_per_account: Rate::new(120, 60),
            reads_per_device: Rate::new(6000, 500),
            // Clients send one every 3 s at most while typing; 60/min covers a person typing
            // in a few conversations on a few devices at once.
            typing_per_account: Rate::new(60, 20),
            // Search as you type costs a lookup per keystroke; a person finds a few people a
            // minute, a crawler wants thousands.
            lookups_per_account: Rate::new(120, 40),
        }
    }
}

/// The per-device and per-account limiters of one node, with how often each refused.
pub struct Limiters {
    send_device: KeyedLimiter<DeviceId>,
    send_account: KeyedLimiter<UserId>,
    groups: KeyedLimiter<UserId>,
    joins: KeyedLimiter<UserId>,
    reads: KeyedLimiter<DeviceId>,
    typing: KeyedLimiter<UserId>,
    send_new: KeyedLimiter<UserId>,
    lookups: KeyedLimiter<UserId>,
    /// Refusals per limiter, in the order of [`Limiters::NAMES`].
    pub refused: [AtomicU64; 9],
}

impl Limiters {
    /// Limiter names as they appear in metrics; the last is the per-connection request budget.
    pub const NAMES: [&'static str; 9] = [
        "send_per_device",
        "send_per_account",
        "groups_per_account",
        "joins_per_account",
        "reads_per_device",
        "typing_per_account",
        "send_new_account",
        "lookups_per_account",
        "connection",
    ];
    const TYPING: usize = 5;
    const SEND_NEW: usize = 6;
    const LOOKUPS: usize = 7;
    pub const CONNECTION: usize = 8;

    pub fn new(c: &RateLimitConfig) -> Limiters {
        Limiters {
            send_device: KeyedLimiter::new(c.send_per_device.clone(), c.max_keys),
            send_account: KeyedLimiter::new(c.send_per_account.clone(), c.max_keys),
            groups: KeyedLimiter::new(c.groups_per_account.clone(), c.max_keys),
            joins: KeyedLimiter::new(c.joins_per_account.clone(), c.max_keys),
            reads: KeyedLimiter::new(c.reads_per_device.clone(), c.max_keys),
            typing: KeyedLimiter::new(c.typing_per_account.clone(), c.max_keys),
            send_new: KeyedLimiter::new(c.send_new_account.clone(), c.max_keys),
            lookups: KeyedLimiter::new(c.lookups_per_account.clone(), c.max_keys),
            refused: Default::default(),
        }
    }

    /// Charge one typing notice of `user` (for callers outside the protocol: the Bot API).
    pub fn check_typing(&self, user: UserId) -> Result<(), Error> {
        self.typing
            .check(user, Instant::now())
            .map_err(|retry_after_ms| {
                self.refused[Self::TYPING].fetch_add(1, Ordering::Relaxed);
                Error::RateLimited { retry_after_ms }
            })
    }

    /// Charge `request` by `device` of `user` (`new_account`: within its first hours) to the
    /// limiters it falls under.
    pub fn check(
        &self,
        user: UserId,
        device: DeviceId,
        new_account: bool,
        request: &Request,
    ) -> Result<(), Error> {
        let now = Instant::now();
        let outcome = match request {
            Request::Send(_)
            | Request::Forward(_)
            | Request::Pin(_)
            | Request::Edit(_)
            | Request::Delete(_)
            | Request::React(_)
            | Request::PressButton(_) => self
                .send_device
                .check(device, now)
                .map_err(|ms| (0, ms))
                .and_then(|()| self.send_account.check(user, now).map_err(|ms| (1, ms)))
                .and_then(|()| match new_account {
                    true => self
                        .send_new
                        .check(user, now)
                        .map_err(|ms| (Self::SEND_NEW, ms)),
                    false => Ok(()),
                }),
            Request::CreateGroup(_) | Request::CreateBot(_) | Request::BotToken(_) => {
                self.groups.check(user, now).map_err(|ms| (2, ms))
            }
            Request::AddMembers(_) => self.joins.check(user, now).map_err(|ms| (3, ms)),
            Request::History(_)
            | Request::Sync(_)
            | Request::Conversations
            | Request::Conversation(_)
            | Request::Members(_) => self.reads.check(device, now).map_err(|ms| (4, ms)),
            Request::Typing(_) => self
                .typing
                .check(user, now)
                .map_err(|ms| (Self::TYPING, ms)),
            Request::FindPeople(_)
            | Request::WatchPresence(_)
            | Request::SearchMessages(_)
            | Request::User(_)
            | Request::Profile(_) => self
                .lookups
                .check(user, now)
                .map_err(|ms| (Self::LOOKUPS, ms)),
            _ => Ok(()),
        };
        outcome.map_err(|(limiter, retry_after_ms)| {
            self.refused[limiter].fetch_add(1, Ordering::Relaxed);
            Error::RateLimited { retry_after_ms }
        })
    }
}
