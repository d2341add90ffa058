//! A randomized run of many people against the in-memory store, whose seed fixes every choice
//! and the order of every command, checking design.md's invariants after each step and at the
//! end (and that blocks hold: no direct message between two people while either blocks the
//! other, no one added to a group by someone they block). A failing seed is printed and
//! reproduces with `CHAPAR_SIM_SEED=<seed>`.

use crate::error::Error;
use crate::memory;
use crate::store::{Command, NewAccount, Principal, RelationKind, Store, Target};
use chapar_proto::{ConversationId, ErrorCode, Event, MessageKind, Pts, Seq, UserId};
use std::collections::{BTreeMap, BTreeSet};

/// xorshift64*: small, seedable, good enough to pick commands.
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

/// What the run expects, kept beside the store.
#[derive(Default)]
struct Model {
    /// Members of each conversation now.
    members: BTreeMap<ConversationId, BTreeSet<UserId>>,
    /// Every message appended per conversation: seq → recipients at the time.
    appended: BTreeMap<ConversationId, BTreeMap<Seq, BTreeSet<UserId>>>,
    /// (blocker, blocked) pairs now.
    blocks: BTreeSet<(UserId, UserId)>,
    /// The two people of each direct conversation.
    direct: BTreeMap<ConversationId, (UserId, UserId)>,
}

impl Model {
    fn blocked_between(&self, a: UserId, b: UserId) -> bool {
        self.blocks.contains(&(a, b)) || self.blocks.contains(&(b, a))
    }
}

fn account(i: usize) -> NewAccount {
    let mut key = [7u8; 32];
    key[..8].copy_from_slice(&(i as u64).to_le_bytes());
    let mut token = [9u8; 32];
    token[..8].copy_from_slice(&(i as u64).to_le_bytes());
    NewAccount {
        handle: format!("sim_{i}"),
        display_name: format!("Person {i}"),
        public_key: key.to_vec(),
        device_name: "sim".into(),
        token_hash: token,
        invite_hash: None,
    }
}

async fn run(seed: u64) {
    let mut rng = Rng(seed | 1);
    let limits = crate::limits::Limits {
        max_group_members: 8,
        ..crate::limits::Limits::default()
    };
    let store = memory::open(limits);
    let mut people: Vec<Principal> = Vec::new();
    for i in 0..8 {
        people.push(store.create_account(account(i)).await.expect("sign-up"));
    }
    let mut model = Model::default();
    for step in 0..1000 {
        let who = rng.below(people.len());
        let actor = people[who].clone();
        let convs: Vec<ConversationId> = model.members.keys().copied().collect();
        let pick_conv = |rng: &mut Rng| convs.get(rng.below(convs.len())).copied();
        let cid = format!("c{step}");
        if rng.below(16) == 0 {
            // Block or unblock someone (judged by the store, mirrored in the model).
            let other = people[rng.below(people.len())].user.clone();
            let on = !model.blocks.contains(&(actor.user.id, other.id));
            let r = store
                .set_relation(&actor, &other.handle, RelationKind::Block, on)
                .await;
            match r {
                Ok(()) if on => assert!(model.blocks.insert((actor.user.id, other.id))),
                Ok(()) => assert!(model.blocks.remove(&(actor.user.id, other.id))),
                Err(e) => assert!(
                    other.id == actor.user.id && e.code() == ErrorCode::Invalid,
                    "seed {seed} step {step}: block {e}"
                ),
            }
            continue;
        }
        let command = match rng.below(10) {
            0 => Command::CreateGroup {
                title: format!("g{step}"),
                members: (0..rng.below(4))
                    .map(|_| people[rng.below(people.len())].user.handle.clone())
                    .collect(),
                client_id: cid,
            },
            1 => match pick_conv(&mut rng) {
                Some(c) => Command::AddMembers {
                    conversation: c,
                    handles: vec![people[rng.below(people.len())].user.handle.clone()],
                },
                None => continue,
            },
            2 => match pick_conv(&mut rng) {
                Some(c) => Command::RemoveMember {
                    conversation: c,
                    handle: people[rng.below(people.len())].user.handle.clone(),
                },
                None => continue,
            },
            3 => match pick_conv(&mut rng) {
                Some(c) => Command::Leave { conversation: c },
                None => continue,
            },
            4 => Command::Send {
                target: Target::Peer(people[rng.below(people.len())].user.handle.clone()),
                client_id: cid,
                content_type: None,
                text: Some(format!("direct {step}")),
                data: None,
                reply_to: None,
            },
            5 => match pick_conv(&mut rng) {
                Some(c) => Command::Mark {
                    conversation: c,
                    delivered: Some(rng.below(50) as Seq),
                    read: Some(rng.below(50) as Seq),
                },
                None => continue,
            },
            6 => match pick_conv(&mut rng) {
                Some(c) => Command::Delete {
                    conversation: c,
                    seq: 1 + rng.below(20) as Seq,
                    client_id: cid,
                },
                None => continue,
            },
            _ => match pick_conv(&mut rng) {
                Some(c) => Command::Send {
                    target: Target::Conversation(c),
                    client_id: cid,
                    content_type: None,
                    text: Some(format!("group {step}")),
                    data: None,
                    reply_to: None,
                },
                None => continue,
            },
        };
        let was_member = |model: &Model, c: &ConversationId| {
            model
                .members
                .get(c)
                .is_some_and(|m| m.contains(&actor.user.id))
        };
        let targeted = match &command {
            Command::Send {
                target: Target::Conversation(c),
                ..
            }
            | Command::AddMembers {
                conversation: c, ..
            }
            | Command::RemoveMember {
                conversation: c, ..
            }
            | Command::Leave { conversation: c }
            | Command::Mark {
                conversation: c, ..
            }
            | Command::Delete {
                conversation: c, ..
            } => Some(*c),
            _ => None,
        };
        let peer = match &command {
            Command::Send {
                target: Target::Peer(h),
                ..
            } => people
                .iter()
                .find(|p| &p.user.handle == h)
                .map(|p| p.user.id),
            _ => None,
        };
        let added = match &command {
            Command::AddMembers { handles, .. } => people
                .iter()
                .find(|p| p.user.handle == handles[0])
                .map(|p| p.user.id),
            _ => None,
        };
        let is_send = matches!(command, Command::Send { .. });
        let what = format!("{command:?}");
        match store.execute(&actor, command).await {
            Ok(c) => {
                if let Some(peer) = peer
                    && peer != actor.user.id
                {
                    model.direct.insert(c.conversation, (actor.user.id, peer));
                }
                if let Some((a, b)) = model.direct.get(&c.conversation)
                    && is_send
                    && !c.duplicate
                {
                    assert!(
                        !model.blocked_between(*a, *b),
                        "seed {seed} step {step}: a direct message passed a block: {what}"
                    );
                }
                if let Some(t) = targeted {
                    assert!(
                        was_member(&model, &t),
                        "seed {seed} step {step}: a non-member acted in {t:?}"
                    );
                }
                // What the conversation's members are now, as the store says.
                let members: BTreeSet<UserId> = match store.member_ids(&actor, c.conversation).await
                {
                    Ok(m) => m.into_iter().collect(),
                    Err(_) => {
                        // The actor left or was never a member any more (leave): the model
                        // drops them.
                        let mut m = model
                            .members
                            .get(&c.conversation)
                            .cloned()
                            .unwrap_or_default();
                        m.remove(&actor.user.id);
                        m
                    }
                };
                if let (Some(seq), false) = (c.seq, c.duplicate) {
                    let recipients: BTreeSet<UserId> = c
                        .fanout
                        .iter()
                        .flat_map(|f| f.recipients.iter().map(|r| r.0))
                        .collect();
                    let before = model
                        .members
                        .get(&c.conversation)
                        .cloned()
                        .unwrap_or_default();
                    let both: BTreeSet<UserId> = before.intersection(&members).copied().collect();
                    let either: BTreeSet<UserId> = before.union(&members).copied().collect();
                    assert!(
                        both.is_subset(&recipients) && recipients.is_subset(&either),
                        "seed {seed} step {step}: told {recipients:?}, members {before:?} then {members:?}"
                    );
                    let log = model.appended.entry(c.conversation).or_default();
                    let last = log.keys().next_back().copied().unwrap_or(0);
                    assert_eq!(seq, last + 1, "seed {seed} step {step}: seq not dense");
                    log.insert(seq, recipients);
                }
                if let Some(added) = added {
                    let before = model
                        .members
                        .get(&c.conversation)
                        .is_some_and(|m| m.contains(&added));
                    assert!(
                        before
                            || !model.blocks.contains(&(added, actor.user.id))
                            || !members.contains(&added),
                        "seed {seed} step {step}: added to a group by someone they block"
                    );
                }
                if members.is_empty() {
                    model.members.remove(&c.conversation);
                } else {
                    model.members.insert(c.conversation, members);
                }
            }
            Err(e) => {
                assert!(
                    !matches!(e, Error::Unavailable(_) | Error::Overloaded { .. }),
                    "seed {seed} step {step}: {e}"
                );
                if let Some(t) = targeted
                    && !was_member(&model, &t)
                {
                    assert_eq!(
                        e.code(),
                        ErrorCode::Forbidden,
                        "seed {seed} step {step}: {e}"
                    );
                }
            }
        }
    }
    let appended: usize = model.appended.values().map(BTreeMap::len).sum();
    assert!(
        appended > 100,
        "seed {seed}: only {appended} appends: the run tested little"
    );
    // Every feed: pts dense from 1, each message exactly the ones the person was told of.
    for p in &people {
        let mut pts: Pts = 0;
        let mut seen: BTreeSet<(ConversationId, Seq)> = BTreeSet::new();
        loop {
            let page = store.feed(p, pts, 50).await.expect("feed");
            for e in &page.events {
                assert_eq!(
                    e.pts,
                    pts + 1,
                    "seed {seed}: feed of {:?} not dense",
                    p.user.id
                );
                pts = e.pts;
                if let Event::Message(m) = &e.event {
                    assert!(
                        seen.insert((m.conversation, m.seq)),
                        "seed {seed}: repeated in a feed"
                    );
                    if m.deleted || m.kind == MessageKind::Delete {
                        assert!(m.text.is_none() || m.kind == MessageKind::Delete);
                    }
                }
            }
            if !page.more {
                break;
            }
        }
        let told: BTreeSet<(ConversationId, Seq)> = model
            .appended
            .iter()
            .flat_map(|(c, log)| {
                log.iter()
                    .filter(|(_, r)| r.contains(&p.user.id))
                    .map(move |(s, _)| (*c, *s))
            })
            .collect();
        assert_eq!(seen, told, "seed {seed}: the feed of {:?}", p.user.id);
    }
}

#[tokio::test]
async fn random_people_keep_the_invariants() {
    let seeds: Vec<u64> = match std::env::var("CHAPAR_SIM_SEED") {
        Ok(s) => vec![s.parse().expect("CHAPAR_SIM_SEED is a number")],
        Err(_) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1);
            (0..20).map(|i| now.wrapping_add(i * 7919)).collect()
        }
    };
    for seed in seeds {
        eprintln!("simulation seed {seed} (CHAPAR_SIM_SEED={seed} reproduces it)");
        run(seed).await;
    }
}
