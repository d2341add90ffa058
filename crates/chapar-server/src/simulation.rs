//! A randomized run of many devices through an in-process server: the gateway's dispatcher,
//! its connection registry and outbound queues, the in-process bus and the in-memory store.
//! The seed fixes every choice and the whole interleaving: which device sends what, when each
//! device reads its queued events, when a connection drops (or is closed for lagging behind)
//! and comes back. Each device follows what the SDK does (apply the next pts, skip what it has,
//! sync from its pts on a gap or a reconnect), and at the end every device must hold exactly
//! its user's feed from the store: every event once, in pts order, each conversation's
//! messages in seq order (design.md invariant 2), nothing more (invariant 3: the core's own
//! simulation checks the feed against a model of who may see what). A failing seed is printed
//! and reproduces with `CHAPAR_SIM_SEED=<seed>`.

use crate::auth;
use crate::config::Config;
use crate::gateway::dispatch::{self, ConnSession};
use crate::ratelimit::{Rate, TokenBucket};
use crate::registry::{Outbound, Registry};
use crate::state::App;
use chapar_core::bus::LocalBus;
use chapar_core::store::{NewAccount, NewDevice, Principal, Store};
use chapar_proto::frame::{
    AddMembers, Authenticate, ConversationRef, CreateGroup, Mark, MemberRef, Send, Sync, UserQuery,
};
use chapar_proto::{ConversationId, Event, Pts, Request, Response, Seq};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use tokio::sync::mpsc;

/// xorshift64*: small, seedable, good enough to pick actions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// What identifies a feed event across a live push and a sync page (a page shows a message's
/// current state, a push the state when it was sent).
type Key = (u8, ConversationId, Seq);

fn key(event: &Event) -> Key {
    match event {
        Event::Message(m) => (0, m.conversation, m.seq),
        Event::Receipt(r) => (1, r.conversation, r.read_seq.max(r.delivered_seq)),
        Event::Invitation(i) => (2, i.conversation, 0),
        _ => (3, ConversationId(0), 0),
    }
}

/// One device and its (at most one) connection.
struct Device {
    user: usize,
    token: String,
    conn: Option<(ConnSession, mpsc::Receiver<Outbound>)>,
    /// The pts of the last event applied.
    pts: Pts,
    /// Every event applied, in order.
    applied: Vec<(Pts, Key)>,
    /// Per conversation, the last message seq applied.
    last_seq: BTreeMap<ConversationId, Seq>,
}

struct Run {
    seed: u64,
    app: Arc<App>,
    people: Vec<Principal>,
    devices: Vec<Device>,
    /// Events dropped as already applied, and syncs started by a gap.
    duplicates: u64,
    gap_syncs: u64,
    reconnects: u64,
    lagged: u64,
}

fn config() -> Config {
    let mut config = Config::default();
    config.limits.max_group_members = 8;
    config.limits.new_account_hours = 0;
    // The run sends far faster than a person: the limiters are not what it tests.
    const OFF: Rate = Rate::new(0, 0);
    let r = &mut config.rate_limits;
    r.send_per_device = OFF;
    r.send_per_account = OFF;
    r.send_new_account = OFF;
    r.groups_per_account = OFF;
    r.joins_per_account = OFF;
    r.reads_per_device = OFF;
    r.typing_per_account = OFF;
    r.lookups_per_account = OFF;
    config.limits.new_chats_per_day = 1_000_000;
    config.limits.new_account_new_chats_per_day = 1_000_000;
    config.limits.groups_joined_per_day = 1_000_000;
    // Small queues, so devices that do not read for a while are closed as lagging.
    config.gateway.outbound_queue = 6;
    config.gateway.outbound_queue_bytes = 64 * 1024;
    config
}

fn secret(i: usize, what: u8) -> ([u8; 32], String) {
    let mut key = [what; 32];
    key[..8].copy_from_slice(&(i as u64).to_le_bytes());
    (key, format!("sim-token-{what}-{i}"))
}

impl Run {
    async fn new(seed: u64, people: usize) -> Run {
        let config = config();
        let registry = Arc::new(Registry::new(
            config.gateway.max_connections_per_device,
            config.gateway.outbound_queue_bytes,
        ));
        let store: Arc<dyn Store> = Arc::new(chapar_core::memory::open(config.limits.clone()));
        let bus = Arc::new(LocalBus::new(registry.clone()));
        store.set_commit_listener(crate::publisher(bus.clone()));
        let app = Arc::new(App::new(config, store, bus, registry));
        let mut run = Run {
            seed,
            app,
            people: Vec::new(),
            devices: Vec::new(),
            duplicates: 0,
            gap_syncs: 0,
            reconnects: 0,
            lagged: 0,
        };
        for i in 0..people {
            let (key, token) = secret(i, 1);
            let p = run
                .app
                .store
                .create_account(NewAccount {
                    handle: format!("sim_{i}"),
                    display_name: format!("Person {i}"),
                    public_key: key.to_vec(),
                    device_name: "first".into(),
                    token_hash: auth::hash_secret(&token),
                    invite_hash: None,
                })
                .await
                .expect("sign-up");
            run.devices.push(Device::new(i, token));
            // Every other person has a second device.
            if i % 2 == 0 {
                let code = format!("sim-link-{i}");
                run.app
                    .store
                    .create_link_code(&p, auth::hash_code(&code), i64::MAX)
                    .await
                    .expect("link code");
                let (key, token) = secret(i, 2);
                run.app
                    .store
                    .link_device(NewDevice {
                        code_hash: auth::hash_code(&code),
                        public_key: key.to_vec(),
                        device_name: "second".into(),
                        token_hash: auth::hash_secret(&token),
                    })
                    .await
                    .expect("link");
                run.devices.push(Device::new(i, token));
            }
            run.people.push(p);
        }
        run
    }

    fn handle(&self, person: usize) -> String {
        self.people[person].user.handle.clone()
    }

    fn fail(&self, step: usize, what: &str) -> ! {
        panic!(
            "seed {} step {step}: {what} (CHAPAR_SIM_SEED={} reproduces it)",
            self.seed, self.seed
        )
    }

    async fn request(&mut self, d: usize, request: Request) -> chapar_core::Result<Response> {
        let app = self.app.clone();
        let (session, _) = self.devices[d].conn.as_mut().expect("connected");
        dispatch::handle(&app, session, request).await
    }

    /// Open a connection for device `d`, sign in with its token and sync from its pts.
    async fn connect(&mut self, step: usize, d: usize) {
        let app = self.app.clone();
        let (tx, rx) = mpsc::channel(app.config.gateway.outbound_queue);
        let conn = app.registry.open(tx);
        let session = ConnSession {
            conn,
            challenge: auth::new_challenge(),
            principal: None,
            token_hash: None,
            peer: IpAddr::V4(Ipv4Addr::LOCALHOST),
            bucket: TokenBucket::new(1e9, u32::MAX),
            touched_at: 0,
            presence_asks: Vec::new(),
        };
        self.devices[d].conn = Some((session, rx));
        let token = self.devices[d].token.clone();
        match self
            .request(d, Request::Authenticate(Authenticate { token }))
            .await
        {
            Ok(Response::Session(_)) => {}
            other => self.fail(step, &format!("sign-in of device {d}: {other:?}")),
        }
        // The device syncs later (an action of its own, or on the first gap it reads): events
        // committed meanwhile are queued live and arrive again in the sync, as they can when
        // a reply and pushed events cross.
    }

    fn disconnect(&mut self, d: usize) {
        if let Some((session, _rx)) = self.devices[d].conn.take() {
            let user = session.principal.as_ref().map(|p| p.user_id());
            if self.app.registry.remove(session.conn.id, user)
                && let Some(user) = user
            {
                self.app.bus.unwatch(user);
            }
        }
    }

    /// Sync device `d` from its pts until the feed has no more.
    async fn sync(&mut self, step: usize, d: usize) {
        loop {
            let pts = self.devices[d].pts;
            let page = match self
                .request(
                    d,
                    Request::Sync(Sync {
                        pts,
                        limit: Some(7),
                    }),
                )
                .await
            {
                Ok(Response::Sync(page)) => page,
                other => self.fail(step, &format!("sync of device {d}: {other:?}")),
            };
            if page.reset {
                self.fail(step, "the feed was trimmed in a short run");
            }
            for e in &page.events {
                if e.pts != self.devices[d].pts + 1 {
                    self.fail(
                        step,
                        &format!(
                            "device {d} synced pts {} after {}: a sync page has a gap",
                            e.pts, self.devices[d].pts
                        ),
                    );
                }
                self.apply(step, d, e.pts, &e.event);
            }
            if !page.more {
                return;
            }
        }
    }

    fn apply(&mut self, step: usize, d: usize, pts: Pts, event: &Event) {
        if let Event::Message(m) = event {
            let last = self.devices[d].last_seq.get(&m.conversation).copied();
            if last.is_some_and(|l| m.seq <= l) {
                self.fail(
                    step,
                    &format!(
                        "device {d} got seq {} of {:?} after seq {last:?}: out of order or repeated",
                        m.seq, m.conversation
                    ),
                );
            }
            self.devices[d].last_seq.insert(m.conversation, m.seq);
        }
        let dev = &mut self.devices[d];
        dev.pts = pts;
        dev.applied.push((pts, key(event)));
    }

    /// Device `d` reads up to `n` queued items, as the SDK would handle them. A connection
    /// closed by the server (lagging) is dropped; the device reconnects later.
    async fn read(&mut self, step: usize, d: usize, n: usize) {
        for _ in 0..n {
            let Some((session, rx)) = self.devices[d].conn.as_mut() else {
                return;
            };
            let item = match rx.try_recv() {
                Ok(item) => item,
                Err(_) => {
                    if session.conn.close_reason().is_some() {
                        self.lagged += 1;
                        self.disconnect(d);
                    }
                    return;
                }
            };
            session.conn.sent(item.weight());
            if session.conn.close_reason().is_some() {
                // The server gave up on this connection: what is still queued is not sent.
                self.lagged += 1;
                self.disconnect(d);
                return;
            }
            let Outbound::Feed { pts, event } = item else {
                continue;
            };
            let have = self.devices[d].pts;
            if pts <= have {
                self.duplicates += 1;
            } else if pts == have + 1 {
                self.apply(step, d, pts, &event);
            } else {
                self.gap_syncs += 1;
                self.sync(step, d).await;
                if self.devices[d].pts < pts {
                    self.fail(
                        step,
                        &format!(
                            "device {d} was pushed pts {pts} but its feed ends at {}",
                            self.devices[d].pts
                        ),
                    );
                }
            }
        }
    }

    /// A random request from device `d`, judged by the server; errors are fine (the core's
    /// simulation checks which), but never "unavailable".
    async fn act(
        &mut self,
        rng: &mut Rng,
        step: usize,
        d: usize,
        groups: &mut Vec<ConversationId>,
    ) {
        let n = self.people.len();
        let someone = |rng: &mut Rng, run: &Run| run.handle(rng.below(n));
        let group = |rng: &mut Rng| groups.get(rng.below(groups.len())).copied();
        let cid = format!("s{step}");
        let request = match rng.below(12) {
            0 => Request::CreateGroup(CreateGroup {
                title: format!("g{step}"),
                members: (0..1 + rng.below(4)).map(|_| someone(rng, self)).collect(),
                client_id: cid,
            }),
            1 => match group(rng) {
                Some(conversation) => Request::AddMembers(AddMembers {
                    conversation,
                    handles: vec![someone(rng, self)],
                }),
                None => return,
            },
            2 => match group(rng) {
                Some(conversation) => Request::RemoveMember(MemberRef {
                    conversation,
                    handle: someone(rng, self),
                }),
                None => return,
            },
            3 => match group(rng) {
                Some(conversation) => Request::Leave(ConversationRef { conversation }),
                None => return,
            },
            4 => match group(rng) {
                Some(conversation) => Request::Mark(Mark {
                    conversation,
                    delivered: Some(rng.below(40) as Seq),
                    read: Some(rng.below(40) as Seq),
                }),
                None => return,
            },
            5 => match group(rng) {
                Some(conversation) => Request::Typing(ConversationRef { conversation }),
                None => return,
            },
            6 => {
                let h = someone(rng, self);
                if rng.below(2) == 0 {
                    Request::Block(UserQuery { handle: h })
                } else {
                    Request::Unblock(UserQuery { handle: h })
                }
            }
            7 | 8 => Request::Send(Send {
                conversation: None,
                peer: Some(someone(rng, self)),
                client_id: cid,
                content_type: None,
                text: Some(format!("direct {step}")),
                data: None,
                reply_to: None,
            }),
            _ => match group(rng) {
                Some(conversation) => Request::Send(Send {
                    conversation: Some(conversation),
                    peer: None,
                    client_id: cid,
                    content_type: None,
                    text: Some(format!("group {step}")),
                    data: None,
                    reply_to: None,
                }),
                None => return,
            },
        };
        let method = request.method();
        match self.request(d, request).await {
            Ok(Response::Conversation(c)) if method == "create_group" => groups.push(c.id),
            Ok(_) => {}
            Err(
                e @ (chapar_core::Error::Unavailable(_) | chapar_core::Error::Overloaded { .. }),
            ) => self.fail(step, &format!("{method}: {e}")),
            Err(_) => {}
        }
    }
}

impl Device {
    fn new(user: usize, token: String) -> Device {
        Device {
            user,
            token,
            conn: None,
            pts: 0,
            applied: Vec::new(),
            last_seq: BTreeMap::new(),
        }
    }
}

async fn run(seed: u64) {
    let mut rng = Rng(seed | 1);
    let mut run = Run::new(seed, 6).await;
    let mut groups: Vec<ConversationId> = Vec::new();
    for d in 0..run.devices.len() {
        run.connect(0, d).await;
        run.sync(0, d).await;
    }
    for step in 1..1500 {
        let d = rng.below(run.devices.len());
        if run.devices[d].conn.is_none() {
            if rng.below(3) == 0 {
                run.reconnects += 1;
                run.connect(step, d).await;
            }
            continue;
        }
        match rng.below(20) {
            // Reading is rarer than acting for some devices, so queues fill and close.
            0..=5 => {
                let n = 1 + rng.below(8);
                run.read(step, d, n).await;
            }
            6 => run.disconnect(d),
            7 => run.sync(step, d).await,
            _ => run.act(&mut rng, step, d, &mut groups).await,
        }
    }
    // Everyone comes back and reads everything.
    for d in 0..run.devices.len() {
        if run.devices[d].conn.is_none() {
            run.connect(usize::MAX, d).await;
        }
        run.read(usize::MAX, d, usize::MAX).await;
        if run.devices[d].conn.is_none() {
            run.connect(usize::MAX, d).await;
        }
        run.sync(usize::MAX, d).await;
    }
    let messages: usize = run
        .devices
        .iter()
        .map(|d| d.applied.iter().filter(|(_, k)| k.0 == 0).count())
        .sum();
    assert!(
        messages > 200 && run.lagged > 0 && run.reconnects > 0,
        "seed {seed}: the run tested little ({messages} messages applied, {} lagging closes, {} reconnects)",
        run.lagged,
        run.reconnects
    );
    // Each device holds its user's whole feed, once, in order.
    for (d, device) in run.devices.iter().enumerate() {
        let person = &run.people[device.user];
        let mut feed: Vec<(Pts, Key)> = Vec::new();
        let mut pts = 0;
        loop {
            let page = run.app.store.feed(person, pts, 100).await.expect("feed");
            feed.extend(page.events.iter().map(|e| (e.pts, key(&e.event))));
            pts = page.pts;
            if !page.more {
                break;
            }
        }
        assert_eq!(
            device.applied, feed,
            "seed {seed}: device {d} of {:?} does not hold its feed",
            person.user.id
        );
        let head = run
            .app
            .store
            .head_pts(person.user_id())
            .await
            .expect("head");
        assert_eq!(device.pts, head, "seed {seed}: device {d} is behind");
    }
    eprintln!(
        "seed {seed}: {messages} messages applied, {} duplicates skipped, {} gap syncs, {} lagging closes, {} reconnects",
        run.duplicates, run.gap_syncs, run.lagged, run.reconnects
    );
}

#[tokio::test(flavor = "current_thread")]
async fn random_devices_through_the_gateway_hold_their_feeds() {
    let seeds: Vec<u64> = match std::env::var("CHAPAR_SIM_SEED") {
        Ok(s) => vec![s.parse().expect("CHAPAR_SIM_SEED is a number")],
        Err(_) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1);
            (0..8).map(|i| now.wrapping_add(i * 7919)).collect()
        }
    };
    for seed in seeds {
        eprintln!("gateway simulation seed {seed} (CHAPAR_SIM_SEED={seed} reproduces it)");
        run(seed).await;
    }
}
