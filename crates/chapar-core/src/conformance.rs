//! The `Store` conformance suite: behaviour every backend must show, checked only through the
//! [`Store`] trait, so the SQLite store and a later PostgreSQL store run the identical cases.
//!
//! Each case is a `pub async fn case(store)` taking a fresh, empty store built with [`limits`]
//! (small limits, so size checks stay cheap). [`run_all`] runs every case;
//! [`store_conformance_tests!`](crate::store_conformance_tests) makes one `#[tokio::test]` per
//! case in a store crate's test file. Cases panic (assert) on the first deviation.
//! Compiled only with the `conformance` feature.

use crate::error::Error;
use crate::limits::Limits;
use crate::store::{
    Command, Committed, NewAccount, NewDevice, Principal, SecretHash, Store, Target,
};
use chapar_proto::{
    ConversationId, ConversationKind, ErrorCode, Event, Message, MessageKind, Role, Seq, UserId,
};
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The limits the store under test must be opened with.
pub fn limits() -> Limits {
    Limits {
        max_group_members: 5,
        max_devices: 3,
        max_page: 50,
        receipts_fanout_max_members: 4,
        max_title_chars: 20,
        ..Limits::default()
    }
}

/// Every case, in order, one fresh store each.
pub async fn run_all<S: Store>(make: impl Fn() -> S) {
    signup_conflicts_and_invites(make()).await;
    login_session_and_revocation(make()).await;
    link_codes_are_single_use_and_expire(make()).await;
    direct_send_makes_one_conversation_per_pair(make()).await;
    concurrent_sends_get_dense_seqs(make()).await;
    idempotent_retries_return_the_first_result(make()).await;
    feed_is_increasing_and_complete(make()).await;
    non_members_are_forbidden(make()).await;
    removed_members_get_the_removal_and_nothing_after(make()).await;
    edit_delete_react(make()).await;
    marks_move_forward_and_send_receipts(make()).await;
    group_limits_and_roles(make()).await;
    history_paging_and_join_visibility(make()).await;
    unread_counts(make()).await;
}

/// Generate one `#[tokio::test]` per conformance case. `$make` is a closure returning
/// `(guard, store)`; the guard (e.g. a temporary directory) lives as long as the test.
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(@cases $make;
            signup_conflicts_and_invites, login_session_and_revocation,
            link_codes_are_single_use_and_expire, direct_send_makes_one_conversation_per_pair,
            concurrent_sends_get_dense_seqs, idempotent_retries_return_the_first_result,
            feed_is_increasing_and_complete, non_members_are_forbidden,
            removed_members_get_the_removal_and_nothing_after, edit_delete_react,
            marks_move_forward_and_send_receipts, group_limits_and_roles,
            history_paging_and_join_visibility, unread_counts);
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (_guard, store) = ($make)();
                $crate::conformance::$case(store).await;
            }
        )*
    };
}

// ---- helpers -------------------------------------------------------------------------------

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A fresh 32-byte value (public key, token or code hash), unique within the process.
fn fresh(tag: u8) -> [u8; 32] {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut out = [tag; 32];
    out[..8].copy_from_slice(&n.to_le_bytes());
    out
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn account(handle: &str) -> NewAccount {
    NewAccount {
        handle: handle.to_string(),
        display_name: format!("{handle} name"),
        public_key: fresh(1).to_vec(),
        device_name: "laptop".into(),
        token_hash: fresh(2),
        invite_hash: None,
    }
}

async fn signup<S: Store>(s: &S, handle: &str) -> Principal {
    s.create_account(account(handle))
        .await
        .unwrap_or_else(|e| panic!("sign-up of {handle} failed: {e}"))
}

#[track_caller]
fn expect<T: Debug>(r: crate::Result<T>, code: ErrorCode, what: &str) {
    match r {
        Err(e) if e.code() == code => {}
        other => panic!("{what}: expected {code:?}, got {other:?}"),
    }
}

#[track_caller]
fn ok<T: Debug>(r: crate::Result<T>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn text_cmd(target: Target, client_id: &str, text: &str) -> Command {
    Command::Send {
        target,
        client_id: client_id.to_string(),
        content_type: None,
        text: Some(text.to_string()),
        data: None,
        reply_to: None,
    }
}

async fn send<S: Store>(s: &S, who: &Principal, conv: ConversationId, cid: &str) -> Committed {
    ok(
        s.execute(who, text_cmd(Target::Conversation(conv), cid, cid))
            .await,
        "send",
    )
}

async fn group<S: Store>(
    s: &S,
    owner: &Principal,
    title: &str,
    members: &[&str],
) -> ConversationId {
    let c = ok(
        s.execute(
            owner,
            Command::CreateGroup {
                title: title.into(),
                members: members.iter().map(|m| m.to_string()).collect(),
                client_id: format!("create-{}", NEXT.fetch_add(1, Ordering::Relaxed)),
            },
        )
        .await,
        "create group",
    );
    assert_eq!(c.seq, Some(1), "a new group's created entry is seq 1");
    c.conversation
}

async fn all_history<S: Store>(s: &S, who: &Principal, conv: ConversationId) -> Vec<Message> {
    let mut out = Vec::new();
    let mut before = None;
    loop {
        let page = ok(
            s.history(who, Target::Conversation(conv), before, 50).await,
            "history",
        );
        let Some(first) = page.first() else { break };
        before = Some(first.seq);
        let mut page = page;
        page.extend(out);
        out = page;
    }
    out
}

/// Every feed event of a user, paging with a small limit.
async fn all_feed<S: Store>(s: &S, who: &Principal) -> Vec<(u64, Event)> {
    let mut out = Vec::new();
    let mut pts = 0;
    loop {
        let page = ok(s.feed(who, pts, 7).await, "feed");
        assert!(page.events.len() <= 7, "feed page over its limit");
        for e in page.events {
            assert!(e.pts > pts, "feed pts must increase");
            pts = e.pts;
            out.push((e.pts, e.event));
        }
        assert_eq!(page.pts, pts, "page pts is the last returned pts");
        if !page.more {
            break;
        }
    }
    out
}

fn messages_in(feed: &[(u64, Event)], conv: ConversationId) -> Vec<Message> {
    feed.iter()
        .filter_map(|(_, e)| match e {
            Event::Message(m) if m.conversation == conv => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn recipients(c: &Committed) -> Vec<UserId> {
    let mut r: Vec<UserId> = c
        .fanout
        .iter()
        .flat_map(|f| f.recipients.iter().map(|x| x.0))
        .collect();
    r.sort();
    r
}

fn sorted(mut v: Vec<UserId>) -> Vec<UserId> {
    v.sort();
    v
}

// ---- cases ---------------------------------------------------------------------------------

pub async fn signup_conflicts_and_invites<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    assert_eq!(alice.user.handle, "alice");
    assert_eq!(alice.user.display_name, "alice name");
    expect(
        s.create_account(account("alice")).await,
        ErrorCode::Conflict,
        "taken handle",
    );
    let mut same_key = account("alice2");
    same_key.public_key = {
        let a = account("x");
        let key = a.public_key.clone();
        ok(
            s.create_account(NewAccount {
                handle: "keyowner".into(),
                ..a
            })
            .await,
            "keyowner",
        );
        key
    };
    expect(
        s.create_account(same_key).await,
        ErrorCode::Conflict,
        "taken key",
    );
    expect(
        s.create_account(account("1bad")).await,
        ErrorCode::Invalid,
        "bad handle",
    );
    assert_eq!(
        ok(s.user_by_handle("@Alice").await, "lookup").id,
        alice.user.id
    );
    expect(
        s.user_by_handle("nobody").await,
        ErrorCode::NotFound,
        "unknown handle",
    );
    assert_eq!(ok(s.head_pts(alice.user.id).await, "head"), 0);

    let invite: SecretHash = fresh(3);
    ok(s.create_invite(invite, 2).await, "invite");
    for h in ["inv_one", "inv_two"] {
        let mut a = account(h);
        a.invite_hash = Some(invite);
        ok(s.create_account(a).await, "sign-up with invite");
    }
    let mut third = account("inv_three");
    third.invite_hash = Some(invite);
    expect(
        s.create_account(third).await,
        ErrorCode::Forbidden,
        "used-up invite",
    );
    let mut unknown = account("inv_four");
    unknown.invite_hash = Some(fresh(3));
    expect(
        s.create_account(unknown).await,
        ErrorCode::Forbidden,
        "unknown invite",
    );
    expect(
        s.user_by_handle("inv_four").await,
        ErrorCode::NotFound,
        "failed sign-up left a user",
    );
    // A sign-up that fails for another reason does not use the invite up.
    let single: SecretHash = fresh(3);
    ok(s.create_invite(single, 1).await, "invite");
    let mut clash = account("alice");
    clash.invite_hash = Some(single);
    expect(
        s.create_account(clash).await,
        ErrorCode::Conflict,
        "taken handle with invite",
    );
    let mut fine = account("inv_five");
    fine.invite_hash = Some(single);
    ok(s.create_account(fine).await, "invite kept its use");
}

pub async fn login_session_and_revocation<S: Store>(s: S) {
    let a = account("alice");
    let (key, token1) = (a.public_key.clone(), a.token_hash);
    let alice = ok(s.create_account(a).await, "sign-up");
    assert_eq!(ok(s.session(token1).await, "session"), Some(alice.clone()));
    assert_eq!(ok(s.session(fresh(2)).await, "unknown token"), None);
    let token2 = fresh(2);
    assert_eq!(ok(s.login(&key, token2).await, "login"), alice);
    expect(
        s.login(&fresh(1), fresh(2)).await,
        ErrorCode::Unauthorized,
        "unknown key",
    );
    ok(s.delete_session(token1).await, "logout");
    assert_eq!(ok(s.session(token1).await, "after logout"), None);
    assert!(ok(s.session(token2).await, "other session").is_some());

    let code = fresh(4);
    ok(
        s.create_link_code(&alice, code, now_ms() + 60_000).await,
        "link code",
    );
    let phone_key = fresh(1).to_vec();
    let phone_token = fresh(2);
    let phone = ok(
        s.link_device(NewDevice {
            code_hash: code,
            public_key: phone_key.clone(),
            device_name: "phone".into(),
            token_hash: phone_token,
        })
        .await,
        "link",
    );
    let devices = ok(s.devices(&alice).await, "devices");
    assert_eq!(devices.len(), 2);
    assert!(devices.iter().any(|d| d.id == alice.device && d.current));
    assert!(
        devices
            .iter()
            .any(|d| d.id == phone.device && !d.current && d.name == "phone")
    );

    let bob = signup(&s, "bob").await;
    expect(
        s.revoke_device(&bob, phone.device).await,
        ErrorCode::NotFound,
        "someone else's device",
    );
    ok(s.revoke_device(&alice, phone.device).await, "revoke");
    assert_eq!(ok(s.session(phone_token).await, "revoked session"), None);
    expect(
        s.login(&phone_key, fresh(2)).await,
        ErrorCode::Unauthorized,
        "revoked key",
    );
    let devices = ok(s.devices(&alice).await, "devices");
    assert!(devices.iter().any(|d| d.id == phone.device && d.revoked));
    assert!(ok(s.session(token2).await, "surviving session").is_some());
}

pub async fn link_codes_are_single_use_and_expire<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let new_device = |code| NewDevice {
        code_hash: code,
        public_key: fresh(1).to_vec(),
        device_name: "tablet".into(),
        token_hash: fresh(2),
    };
    let code = fresh(4);
    ok(
        s.create_link_code(&alice, code, now_ms() + 60_000).await,
        "code",
    );
    // A conflicting key fails and leaves the code usable.
    let mut taken = new_device(code);
    taken.public_key = {
        let other = account("bob");
        let k = other.public_key.clone();
        ok(s.create_account(other).await, "bob");
        k
    };
    expect(
        s.link_device(taken).await,
        ErrorCode::Conflict,
        "key in use",
    );
    let linked = ok(s.link_device(new_device(code)).await, "link");
    assert_eq!(linked.user, alice.user);
    assert_ne!(linked.device, alice.device);
    expect(
        s.link_device(new_device(code)).await,
        ErrorCode::Unauthorized,
        "code reused",
    );
    expect(
        s.link_device(new_device(fresh(4))).await,
        ErrorCode::Unauthorized,
        "unknown code",
    );
    let old = fresh(4);
    ok(
        s.create_link_code(&alice, old, now_ms() - 1_000).await,
        "expired code",
    );
    expect(
        s.link_device(new_device(old)).await,
        ErrorCode::Unauthorized,
        "expired code",
    );
    // limits().max_devices is 3: alice has 2, one more fits, the next does not.
    let c3 = fresh(4);
    ok(
        s.create_link_code(&alice, c3, now_ms() + 60_000).await,
        "code",
    );
    ok(s.link_device(new_device(c3)).await, "third device");
    let c4 = fresh(4);
    ok(
        s.create_link_code(&alice, c4, now_ms() + 60_000).await,
        "code",
    );
    expect(
        s.link_device(new_device(c4)).await,
        ErrorCode::Forbidden,
        "device limit",
    );
}

pub async fn direct_send_makes_one_conversation_per_pair<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let bob = signup(&s, "bob").await;
    let empty = ok(
        s.history(&alice, Target::Peer("bob".into()), None, 10)
            .await,
        "no chat yet",
    );
    assert!(empty.is_empty());
    let first = ok(
        s.execute(&alice, text_cmd(Target::Peer("@Bob".into()), "a1", "salam"))
            .await,
        "send",
    );
    let reply = ok(
        s.execute(&bob, text_cmd(Target::Peer("alice".into()), "b1", "hi"))
            .await,
        "reply",
    );
    assert_eq!(
        first.conversation, reply.conversation,
        "one conversation per pair"
    );
    assert_eq!((first.seq, reply.seq), (Some(1), Some(2)));
    assert!(!first.duplicate);
    assert_eq!(recipients(&first), sorted(vec![alice.user.id, bob.user.id]));
    let list = ok(s.conversations(&alice, 10).await, "list");
    assert_eq!(list.len(), 1);
    let info = &list[0];
    assert_eq!(info.kind, ConversationKind::Direct);
    assert_eq!(info.title, "bob name");
    assert_eq!(info.peer.as_ref().map(|p| p.id), Some(bob.user.id));
    assert_eq!((info.member_count, info.last_seq), (2, 2));
    assert_eq!(
        info.last_message.as_ref().and_then(|m| m.text.clone()),
        Some("hi".into())
    );
    let by_peer = ok(
        s.history(&bob, Target::Peer("alice".into()), None, 10)
            .await,
        "history",
    );
    assert_eq!(
        by_peer.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(by_peer[0].sender_handle, "alice");
    expect(
        s.execute(&alice, text_cmd(Target::Peer("alice".into()), "x", "me"))
            .await,
        ErrorCode::Invalid,
        "to self",
    );
    expect(
        s.execute(&alice, text_cmd(Target::Peer("nobody".into()), "y", "?"))
            .await,
        ErrorCode::NotFound,
        "unknown peer",
    );
    let bad = Command::Send {
        target: Target::Peer("bob".into()),
        client_id: "z".into(),
        content_type: None,
        text: Some("  ".into()),
        data: None,
        reply_to: None,
    };
    expect(
        s.execute(&alice, bad).await,
        ErrorCode::Invalid,
        "empty text",
    );
    let mut reply_bad = text_cmd(Target::Conversation(first.conversation), "r", "re");
    if let Command::Send { reply_to, .. } = &mut reply_bad {
        *reply_to = Some(9);
    }
    expect(
        s.execute(&alice, reply_bad).await,
        ErrorCode::Invalid,
        "reply_to unknown seq",
    );
    let carol = signup(&s, "carol").await;
    let other = ok(
        s.execute(&carol, text_cmd(Target::Peer("alice".into()), "c1", "yo"))
            .await,
        "carol",
    );
    assert_ne!(other.conversation, first.conversation);
    assert_eq!(other.seq, Some(1));
}

pub async fn concurrent_sends_get_dense_seqs<S: Store>(s: S) {
    const SENDERS: usize = 5;
    const EACH: usize = 200;
    let s = Arc::new(s);
    let mut people = Vec::new();
    for i in 0..SENDERS {
        people.push(signup(&*s, &format!("user{i}")).await);
    }
    let others: Vec<String> = (1..SENDERS).map(|i| format!("user{i}")).collect();
    let others: Vec<&str> = others.iter().map(String::as_str).collect();
    let conv = group(&*s, &people[0], "busy", &others).await;
    let mut tasks = Vec::new();
    for p in people.clone() {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for n in 0..EACH {
                let cid = format!("{}-{n}", p.user.handle);
                let c = loop {
                    match s
                        .execute(&p, text_cmd(Target::Conversation(conv), &cid, &cid))
                        .await
                    {
                        Err(Error::Overloaded { .. }) => tokio::task::yield_now().await,
                        other => break ok(other, "concurrent send"),
                    }
                };
                seqs.push(c.seq.unwrap_or(0));
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let seqs = t
            .await
            .unwrap_or_else(|e| panic!("sender task failed: {e}"));
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "one sender's seqs increase"
        );
        all.extend(seqs);
    }
    all.sort_unstable();
    let expected: Vec<Seq> = (2..=(SENDERS * EACH + 1) as u64).collect();
    assert_eq!(all, expected, "seqs are dense and unique");
    let history = all_history(&*s, &people[3], conv).await;
    assert_eq!(
        history.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=(SENDERS * EACH + 1) as u64).collect::<Vec<_>>()
    );
    for p in &people {
        let feed = all_feed(&*s, p).await;
        let seqs: Vec<Seq> = messages_in(&feed, conv).iter().map(|m| m.seq).collect();
        assert_eq!(
            seqs,
            (1..=(SENDERS * EACH + 1) as u64).collect::<Vec<_>>(),
            "feed has every entry in order"
        );
        assert_eq!(
            ok(s.head_pts(p.user.id).await, "head"),
            feed.last().map_or(0, |e| e.0)
        );
    }
}

pub async fn idempotent_retries_return_the_first_result<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    signup(&s, "bob").await;
    let first = ok(
        s.execute(&alice, text_cmd(Target::Peer("bob".into()), "k1", "one"))
            .await,
        "send",
    );
    let again = ok(
        s.execute(&alice, text_cmd(Target::Peer("bob".into()), "k1", "one"))
            .await,
        "retry",
    );
    assert!(again.duplicate && again.fanout.is_empty());
    assert_eq!(
        (again.conversation, again.seq, again.server_time),
        (first.conversation, first.seq, first.server_time)
    );
    let conv = first.conversation;
    let by_id = ok(
        s.execute(&alice, text_cmd(Target::Conversation(conv), "k1", "one"))
            .await,
        "retry by id",
    );
    assert!(by_id.duplicate);
    assert_eq!(by_id.seq, Some(1));
    assert_eq!(
        send(&s, &alice, conv, "k2").await.seq,
        Some(2),
        "retries did not append"
    );
    // The same client_id from another device of the same user is a different message.
    let code = fresh(4);
    ok(
        s.create_link_code(&alice, code, now_ms() + 60_000).await,
        "code",
    );
    let phone = ok(
        s.link_device(NewDevice {
            code_hash: code,
            public_key: fresh(1).to_vec(),
            device_name: "p".into(),
            token_hash: fresh(2),
        })
        .await,
        "link",
    );
    assert_eq!(send(&s, &phone, conv, "k1").await.seq, Some(3));
    let edit = |cid: &str| Command::Edit {
        conversation: conv,
        seq: 1,
        client_id: cid.into(),
        text: Some("uno".into()),
        data: None,
    };
    let e1 = ok(s.execute(&alice, edit("e1")).await, "edit");
    let e2 = ok(s.execute(&alice, edit("e1")).await, "edit retry");
    assert!(e2.duplicate && e1.seq == e2.seq);
    let create = || Command::CreateGroup {
        title: "team".into(),
        members: vec!["bob".into()],
        client_id: "g1".into(),
    };
    let g1 = ok(s.execute(&alice, create()).await, "create");
    let g2 = ok(s.execute(&alice, create()).await, "create retry");
    assert!(g2.duplicate && g2.fanout.is_empty());
    assert_eq!((g1.conversation, g2.seq), (g2.conversation, Some(1)));
    assert_eq!(ok(s.conversations(&alice, 10).await, "list").len(), 2);
}

pub async fn feed_is_increasing_and_complete<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let bob = signup(&s, "bob").await;
    let mut fanned = Vec::new();
    let d = ok(
        s.execute(&alice, text_cmd(Target::Peer("bob".into()), "d1", "hi"))
            .await,
        "send",
    );
    fanned.push(d.clone());
    let g = group(&s, &bob, "g", &["alice"]).await;
    for i in 0..20 {
        let who = if i % 2 == 0 { &alice } else { &bob };
        let conv = if i % 3 == 0 { d.conversation } else { g };
        fanned.push(send(&s, who, conv, &format!("m{i}")).await);
    }
    let feed = all_feed(&s, &alice).await;
    assert_eq!(
        feed.len(),
        22,
        "one event per entry: 21 sends and the group's created entry"
    );
    // The pts each commit reported for alice is where the feed has it.
    for c in &fanned {
        let (_, pts) = c.fanout[0]
            .recipients
            .iter()
            .find(|r| r.0 == alice.user.id)
            .copied()
            .unwrap_or_else(|| panic!("alice not a recipient"));
        let at = feed
            .iter()
            .find(|e| e.0 == pts)
            .unwrap_or_else(|| panic!("pts {pts} missing"));
        match &at.1 {
            Event::Message(m) => assert_eq!((m.conversation, Some(m.seq)), (c.conversation, c.seq)),
            other => panic!("unexpected event {other:?}"),
        }
    }
    let head = ok(s.head_pts(alice.user.id).await, "head");
    assert_eq!(head, feed.last().map_or(0, |e| e.0));
    let tail = ok(s.feed(&alice, head, 10).await, "tail");
    assert!(tail.events.is_empty() && !tail.more && !tail.reset);
    assert_eq!(tail.pts, head);
    let page = ok(s.feed(&alice, 0, 5).await, "first page");
    assert!(page.more && page.events.len() == 5 && page.pts == page.events[4].pts);
}

pub async fn non_members_are_forbidden<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    signup(&s, "bob").await;
    let eve = signup(&s, "eve").await;
    let g = group(&s, &alice, "secret", &["bob"]).await;
    send(&s, &alice, g, "m1").await;
    expect(
        s.history(&eve, Target::Conversation(g), None, 10).await,
        ErrorCode::Forbidden,
        "history",
    );
    expect(
        s.execute(&eve, text_cmd(Target::Conversation(g), "x", "hi"))
            .await,
        ErrorCode::Forbidden,
        "send",
    );
    expect(s.members(&eve, g).await, ErrorCode::Forbidden, "members");
    expect(
        s.member_ids(&eve, g).await,
        ErrorCode::Forbidden,
        "member ids",
    );
    expect(
        s.conversation(&eve, g).await,
        ErrorCode::Forbidden,
        "conversation",
    );
    let mark = Command::Mark {
        conversation: g,
        delivered: Some(1),
        read: Some(1),
    };
    expect(s.execute(&eve, mark).await, ErrorCode::Forbidden, "mark");
    let del = Command::Delete {
        conversation: g,
        seq: 2,
        client_id: "d".into(),
    };
    expect(s.execute(&eve, del).await, ErrorCode::Forbidden, "delete");
    let add = Command::AddMembers {
        conversation: g,
        handles: vec!["eve".into()],
    };
    expect(s.execute(&eve, add).await, ErrorCode::Forbidden, "add self");
    let missing = ConversationId(g.0 + 1_000_000);
    match s
        .execute(&eve, text_cmd(Target::Conversation(missing), "y", "hi"))
        .await
    {
        Err(e) if matches!(e.code(), ErrorCode::Forbidden | ErrorCode::NotFound) => {}
        other => panic!("send to a missing conversation: {other:?}"),
    }
    assert!(ok(s.conversations(&eve, 10).await, "list").is_empty());
    assert!(
        all_feed(&s, &eve).await.is_empty(),
        "eve's feed stays empty"
    );
}

pub async fn removed_members_get_the_removal_and_nothing_after<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let bob = signup(&s, "bob").await;
    let carol = signup(&s, "carol").await;
    let g = group(&s, &alice, "g", &["bob", "carol"]).await;
    send(&s, &bob, g, "b1").await;
    let remove = |h: &str| Command::RemoveMember {
        conversation: g,
        handle: h.into(),
    };
    expect(
        s.execute(&carol, remove("bob")).await,
        ErrorCode::Forbidden,
        "member removes",
    );
    expect(
        s.execute(&bob, remove("alice")).await,
        ErrorCode::Forbidden,
        "owner removed",
    );
    expect(
        s.execute(&alice, remove("nobody")).await,
        ErrorCode::NotFound,
        "unknown handle",
    );
    let r = ok(s.execute(&alice, remove("bob")).await, "remove");
    assert!(
        recipients(&r).contains(&bob.user.id),
        "the removed member gets the removal"
    );
    let bob_head = ok(s.head_pts(bob.user.id).await, "head");
    send(&s, &alice, g, "after").await;
    assert_eq!(
        ok(s.head_pts(bob.user.id).await, "head"),
        bob_head,
        "nothing after removal"
    );
    let feed = all_feed(&s, &bob).await;
    let last = messages_in(&feed, g)
        .pop()
        .unwrap_or_else(|| panic!("bob's feed is empty"));
    let sys = last
        .system
        .clone()
        .unwrap_or_else(|| panic!("not a system entry"));
    assert_eq!(
        (last.kind, sys.action.as_str(), sys.handles),
        (MessageKind::System, "removed", vec!["bob".to_string()])
    );
    expect(
        s.history(&bob, Target::Conversation(g), None, 10).await,
        ErrorCode::Forbidden,
        "history after removal",
    );
    assert!(ok(s.conversations(&bob, 10).await, "list").is_empty());
    // The owner leaves: carol (the only one left) takes over and alice gets the `left` entry.
    let left = ok(
        s.execute(&alice, Command::Leave { conversation: g }).await,
        "leave",
    );
    assert!(recipients(&left).contains(&alice.user.id));
    let members = ok(s.members(&carol, g).await, "members");
    assert_eq!(members.len(), 1);
    assert_eq!(
        (members[0].user.id, members[0].role),
        (carol.user.id, Role::Owner)
    );
    expect(
        s.execute(&alice, text_cmd(Target::Conversation(g), "z", "back?"))
            .await,
        ErrorCode::Forbidden,
        "send after leaving",
    );
    let d = ok(
        s.execute(&alice, text_cmd(Target::Peer("carol".into()), "d", "hi"))
            .await,
        "direct",
    );
    expect(
        s.execute(
            &alice,
            Command::Leave {
                conversation: d.conversation,
            },
        )
        .await,
        ErrorCode::Invalid,
        "leave direct",
    );
}

pub async fn edit_delete_react<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let bob = signup(&s, "bob").await;
    let g = group(&s, &alice, "g", &["bob"]).await;
    let m = send(&s, &alice, g, "hello").await.seq.unwrap_or(0);
    let b = send(&s, &bob, g, "bob's").await.seq.unwrap_or(0);
    let edit = |seq, cid: &str, t: &str| Command::Edit {
        conversation: g,
        seq,
        client_id: cid.into(),
        text: Some(t.into()),
        data: None,
    };
    expect(
        s.execute(&bob, edit(m, "e0", "hacked")).await,
        ErrorCode::Forbidden,
        "edit others'",
    );
    expect(
        s.execute(&alice, edit(99, "e9", "x")).await,
        ErrorCode::NotFound,
        "edit missing",
    );
    expect(
        s.execute(&alice, edit(1, "e8", "x")).await,
        ErrorCode::Invalid,
        "edit a system entry",
    );
    let e = ok(s.execute(&alice, edit(m, "e1", "hello!")).await, "edit");
    let react = |cid: &str, emoji: &str, remove| Command::React {
        conversation: g,
        seq: m,
        client_id: cid.into(),
        emoji: emoji.into(),
        remove,
    };
    ok(s.execute(&alice, react("r1", "+1", false)).await, "react");
    ok(s.execute(&bob, react("r2", "+1", false)).await, "react");
    ok(s.execute(&bob, react("r3", "heart", false)).await, "react");
    ok(s.execute(&bob, react("r4", "heart", true)).await, "unreact");
    expect(
        s.execute(&bob, react("r5", "a b", false)).await,
        ErrorCode::Invalid,
        "bad emoji",
    );
    let del = |seq, cid: &str| Command::Delete {
        conversation: g,
        seq,
        client_id: cid.into(),
    };
    expect(
        s.execute(&bob, del(m, "d0")).await,
        ErrorCode::Forbidden,
        "member deletes others'",
    );
    ok(s.execute(&alice, del(b, "d1")).await, "owner deletes bob's");
    expect(
        s.execute(&bob, edit(b, "e2", "again")).await,
        ErrorCode::NotFound,
        "edit deleted",
    );
    let h = all_history(&s, &bob, g).await;
    let at = |seq| {
        h.iter()
            .find(|x| x.seq == seq)
            .cloned()
            .unwrap_or_else(|| panic!("seq {seq} missing"))
    };
    let msg = at(m);
    assert_eq!(msg.text.as_deref(), Some("hello!"));
    assert!(msg.edited_at.is_some());
    assert_eq!(msg.reactions.len(), 1);
    assert_eq!(
        (msg.reactions[0].emoji.as_str(), msg.reactions[0].count),
        ("+1", 2)
    );
    let gone = at(b);
    assert!(gone.deleted && gone.text.is_none() && gone.data.is_none());
    let edit_entry = at(e.seq.unwrap_or(0));
    assert_eq!(
        (edit_entry.kind, edit_entry.target),
        (MessageKind::Edit, Some(m))
    );
    let kinds: Vec<MessageKind> = h.iter().map(|x| x.kind).collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == MessageKind::Reaction)
            .count(),
        4
    );
    assert_eq!(kinds.last(), Some(&MessageKind::Delete));
    assert_eq!(h.last().and_then(|x| x.target), Some(b));
}

pub async fn marks_move_forward_and_send_receipts<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let bob = signup(&s, "bob").await;
    let carol = signup(&s, "carol").await;
    let g = group(&s, &alice, "g", &["bob", "carol"]).await;
    for i in 0..3 {
        send(&s, &alice, g, &format!("m{i}")).await;
    }
    let mark = |d: Option<Seq>, r: Option<Seq>| Command::Mark {
        conversation: g,
        delivered: d,
        read: r,
    };
    let c = ok(s.execute(&bob, mark(None, Some(2))).await, "mark");
    assert_eq!((c.conversation, c.seq), (g, None));
    assert_eq!(
        recipients(&c),
        sorted(vec![alice.user.id, carol.user.id]),
        "receipt to the others"
    );
    match c.fanout[0].event.as_ref() {
        Event::Receipt(r) => assert_eq!((r.user, r.read_seq), (bob.user.id, 2)),
        other => panic!("expected a receipt, got {other:?}"),
    }
    let back = ok(s.execute(&bob, mark(Some(1), Some(1))).await, "mark back");
    assert!(back.fanout.is_empty(), "nothing moved, nothing told");
    ok(s.execute(&bob, mark(Some(100), None)).await, "mark far");
    let members = ok(s.members(&alice, g).await, "members");
    let b = members
        .iter()
        .find(|m| m.user.id == bob.user.id)
        .unwrap_or_else(|| panic!("bob missing"));
    assert_eq!(
        (b.delivered_seq, b.read_seq),
        (4, 2),
        "clamped to last_seq, read never backward"
    );
    let feed = all_feed(&s, &alice).await;
    assert_eq!(
        feed.iter()
            .filter(|e| matches!(e.1, Event::Receipt(_)))
            .count(),
        2
    );
    // Larger than receipts_fanout_max_members (4): markers move, nobody is told.
    for h in ["dan", "erin"] {
        signup(&s, h).await;
    }
    let big = group(&s, &alice, "big", &["bob", "carol", "dan", "erin"]).await;
    send(&s, &alice, big, "x").await;
    let quiet = ok(
        s.execute(
            &bob,
            Command::Mark {
                conversation: big,
                delivered: None,
                read: Some(2),
            },
        )
        .await,
        "mark big",
    );
    assert!(quiet.fanout.is_empty());
    assert_eq!(
        ok(s.conversation(&bob, big).await, "conversation").read_seq,
        2
    );
}

pub async fn group_limits_and_roles<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let bob = signup(&s, "bob").await;
    for h in ["carol", "dan", "erin", "finn", "gus"] {
        signup(&s, h).await;
    }
    let create = |title: &str, members: &[&str], cid: &str| Command::CreateGroup {
        title: title.into(),
        members: members.iter().map(|m| m.to_string()).collect(),
        client_id: cid.into(),
    };
    let six = ["bob", "carol", "dan", "erin", "finn"];
    expect(
        s.execute(&alice, create("t", &six, "c1")).await,
        ErrorCode::TooLarge,
        "6 members > 5",
    );
    expect(
        s.execute(&alice, create("t", &["bob", "ghost"], "c2"))
            .await,
        ErrorCode::NotFound,
        "unknown member",
    );
    expect(
        s.execute(&alice, create(" ", &["bob"], "c3")).await,
        ErrorCode::Invalid,
        "empty title",
    );
    expect(
        s.execute(&alice, create(&"t".repeat(21), &[], "c4")).await,
        ErrorCode::TooLarge,
        "long title",
    );
    assert!(
        ok(s.conversations(&alice, 10).await, "list").is_empty(),
        "failed creates left nothing"
    );
    let c = ok(
        s.execute(
            &alice,
            create("team", &["bob", "@Bob", "alice", "carol"], "c5"),
        )
        .await,
        "create",
    );
    let g = c.conversation;
    let h = ok(
        s.history(&bob, Target::Conversation(g), None, 10).await,
        "history",
    );
    let sys = h[0]
        .system
        .clone()
        .unwrap_or_else(|| panic!("seq 1 is not a system entry"));
    assert_eq!(
        (h[0].seq, h[0].kind, sys.action.as_str()),
        (1, MessageKind::System, "created")
    );
    assert_eq!(
        (sys.title.as_deref(), sys.handles),
        (Some("team"), vec!["bob".to_string(), "carol".to_string()])
    );
    let info = ok(s.conversation(&alice, g).await, "info");
    assert_eq!(
        (info.kind, info.role, info.member_count, info.title.as_str()),
        (ConversationKind::Group, Role::Owner, 3, "team")
    );
    let add = |hs: &[&str]| Command::AddMembers {
        conversation: g,
        handles: hs.iter().map(|x| x.to_string()).collect(),
    };
    expect(
        s.execute(&bob, add(&["dan"])).await,
        ErrorCode::Forbidden,
        "member adds",
    );
    expect(
        s.execute(&alice, add(&["dan", "erin", "finn"])).await,
        ErrorCode::TooLarge,
        "add past the limit",
    );
    let added = ok(s.execute(&alice, add(&["dan", "erin"])).await, "add");
    assert_eq!(recipients(&added).len(), 5);
    let rename = |t: &str| Command::Rename {
        conversation: g,
        title: t.into(),
    };
    expect(
        s.execute(&bob, rename("mine")).await,
        ErrorCode::Forbidden,
        "member renames",
    );
    ok(s.execute(&alice, rename("crew")).await, "rename");
    assert_eq!(ok(s.conversation(&bob, g).await, "info").title, "crew");
    let role = |h: &str, r| Command::SetRole {
        conversation: g,
        handle: h.into(),
        role: r,
    };
    expect(
        s.execute(&bob, role("carol", Role::Admin)).await,
        ErrorCode::Forbidden,
        "member sets role",
    );
    ok(
        s.execute(&alice, role("bob", Role::Admin)).await,
        "make admin",
    );
    ok(
        s.execute(
            &bob,
            Command::RemoveMember {
                conversation: g,
                handle: "erin".into(),
            },
        )
        .await,
        "admin removes member",
    );
    ok(
        s.execute(&alice, role("carol", Role::Owner)).await,
        "hand over",
    );
    let roles: Vec<(String, Role)> = ok(s.members(&alice, g).await, "members")
        .into_iter()
        .map(|m| (m.user.handle, m.role))
        .collect();
    assert!(
        roles.contains(&("alice".into(), Role::Admin))
            && roles.contains(&("carol".into(), Role::Owner))
    );
    let d = ok(
        s.execute(&alice, text_cmd(Target::Peer("bob".into()), "d", "hi"))
            .await,
        "direct",
    );
    let add_direct = Command::AddMembers {
        conversation: d.conversation,
        handles: vec!["carol".into()],
    };
    expect(
        s.execute(&alice, add_direct).await,
        ErrorCode::Invalid,
        "add to a direct conversation",
    );
    let _ = bob;
}

pub async fn history_paging_and_join_visibility<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let dan = signup(&s, "dan").await;
    let g = group(&s, &alice, "g", &[]).await;
    for i in 0..10 {
        send(&s, &alice, g, &format!("m{i}")).await;
    }
    let seqs = |v: Vec<Message>| v.into_iter().map(|m| m.seq).collect::<Vec<_>>();
    let page = ok(
        s.history(&alice, Target::Conversation(g), Some(6), 3).await,
        "page",
    );
    assert_eq!(seqs(page), vec![3, 4, 5]);
    let newest = ok(
        s.history(&alice, Target::Conversation(g), None, 4).await,
        "newest",
    );
    assert_eq!(seqs(newest), vec![8, 9, 10, 11]);
    assert!(
        ok(
            s.history(&alice, Target::Conversation(g), Some(1), 10)
                .await,
            "before 1"
        )
        .is_empty()
    );
    assert_eq!(
        ok(
            s.history(&alice, Target::Conversation(g), None, 1000).await,
            "clamped"
        )
        .len(),
        11
    );
    let added = ok(
        s.execute(
            &alice,
            Command::AddMembers {
                conversation: g,
                handles: vec!["dan".into()],
            },
        )
        .await,
        "add",
    );
    let joined = added.seq.unwrap_or(0);
    assert_eq!(joined, 12);
    send(&s, &alice, g, "welcome").await;
    let seen = ok(
        s.history(&dan, Target::Conversation(g), None, 50).await,
        "dan's history",
    );
    assert_eq!(
        seqs(seen),
        vec![12, 13],
        "a new member sees from the added entry on"
    );
    assert!(
        ok(
            s.history(&dan, Target::Conversation(g), Some(12), 50).await,
            "older"
        )
        .is_empty()
    );
    let info = ok(s.conversation(&dan, g).await, "info");
    assert_eq!((info.unread, info.last_seq), (1, 13));
    let feed = all_feed(&s, &dan).await;
    assert_eq!(seqs(messages_in(&feed, g)), vec![12, 13]);
}

pub async fn unread_counts<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let bob = signup(&s, "bob").await;
    let d = ok(
        s.execute(&alice, text_cmd(Target::Peer("bob".into()), "a0", "1"))
            .await,
        "send",
    )
    .conversation;
    for i in 1..3 {
        send(&s, &alice, d, &format!("a{i}")).await;
    }
    assert_eq!(ok(s.conversation(&bob, d).await, "bob").unread, 3);
    assert_eq!(
        ok(s.conversation(&alice, d).await, "alice").unread,
        0,
        "own messages are read"
    );
    ok(
        s.execute(
            &bob,
            Command::Mark {
                conversation: d,
                delivered: None,
                read: Some(2),
            },
        )
        .await,
        "mark",
    );
    assert_eq!(ok(s.conversation(&bob, d).await, "bob").unread, 1);
    send(&s, &bob, d, "b1").await;
    assert_eq!(
        ok(s.conversation(&bob, d).await, "bob").unread,
        0,
        "sending reads up to it"
    );
    assert_eq!(ok(s.conversation(&alice, d).await, "alice").unread, 1);
    // Most recently active first (pause so activity times differ at millisecond resolution).
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let g = group(&s, &bob, "later", &["alice"]).await;
    let list = ok(s.conversations(&alice, 10).await, "list");
    assert_eq!(list.iter().map(|c| c.id).collect::<Vec<_>>(), vec![g, d]);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    send(&s, &alice, d, "bump").await;
    let list = ok(s.conversations(&alice, 10).await, "list");
    assert_eq!(list.iter().map(|c| c.id).collect::<Vec<_>>(), vec![d, g]);
    assert_eq!(ok(s.conversations(&alice, 1).await, "limit").len(), 1);
}
