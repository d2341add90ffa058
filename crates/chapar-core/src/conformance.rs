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

mod accounts;
mod bots;
mod groups;
mod messaging;
mod profile;
mod safety;

pub use accounts::*;
pub use bots::*;
pub use groups::*;
pub use messaging::*;
pub use profile::*;
pub use safety::*;

/// The limits the store under test must be opened with.
pub fn limits() -> Limits {
    Limits {
        max_group_members: 5,
        max_devices: 3,
        max_page: 50,
        receipts_fanout_max_members: 4,
        max_title_chars: 20,
        new_account_new_chats_per_day: 6,
        max_pending_invitations: 3,
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
    messages_are_found_as_members_may_read_them(make()).await;
    forwards_and_pins(make()).await;
    archive_and_clear_are_the_actors_own(make()).await;
    a_message_deleted_for_me_stays_for_the_others(make()).await;
    groups_have_a_description(make()).await;
    marks_move_forward_and_send_receipts(make()).await;
    fanout_recipients_are_ordered_and_match_feeds(make()).await;
    group_limits_and_roles(make()).await;
    history_paging_and_join_visibility(make()).await;
    unread_counts(make()).await;
    commit_listener_sees_commits_in_order(make()).await;
    bots_are_owned_and_their_tokens_managed(make()).await;
    bot_messages_carry_buttons_and_edits_replace_them(make()).await;
    bots_wait_to_be_addressed_and_services_for_consent(make()).await;
    button_presses_reach_the_bot_only(make()).await;
    bots_keep_their_own_state(make()).await;
    blocking_stops_direct_messages_both_ways(make()).await;
    privacy_decides_who_starts_chats_and_adds_to_groups(make()).await;
    waiting_invitations_are_capped(make()).await;
    people_are_found_as_they_allow(make()).await;
    last_seen_is_shown_as_people_allow(make()).await;
    blocked_users_do_not_get_receipts_in_groups(make()).await;
    reports_reach_operators_who_moderate(make()).await;
    suspended_accounts_cannot_sign_in(make()).await;
    new_accounts_start_few_chats_a_day(make()).await;
    a_recovery_key_brings_the_account_back(make()).await;
    profiles_change_and_others_see_them(make()).await;
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
            messages_are_found_as_members_may_read_them, forwards_and_pins,
            archive_and_clear_are_the_actors_own, a_message_deleted_for_me_stays_for_the_others,
            groups_have_a_description,
            marks_move_forward_and_send_receipts,
            fanout_recipients_are_ordered_and_match_feeds, group_limits_and_roles,
            history_paging_and_join_visibility, unread_counts,
            commit_listener_sees_commits_in_order,
            bots_are_owned_and_their_tokens_managed,
            bot_messages_carry_buttons_and_edits_replace_them,
            bots_wait_to_be_addressed_and_services_for_consent,
            button_presses_reach_the_bot_only, bots_keep_their_own_state,
            blocking_stops_direct_messages_both_ways,
            privacy_decides_who_starts_chats_and_adds_to_groups,
            waiting_invitations_are_capped, people_are_found_as_they_allow,
            last_seen_is_shown_as_people_allow,
            blocked_users_do_not_get_receipts_in_groups, reports_reach_operators_who_moderate,
            suspended_accounts_cannot_sign_in, new_accounts_start_few_chats_a_day,
            a_recovery_key_brings_the_account_back, profiles_change_and_others_see_them);
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
