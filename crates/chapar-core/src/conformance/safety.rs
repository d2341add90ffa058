//! Conformance cases. Safety: blocking, contacts and privacy, group invitations, reports, daily
//! limits, operators and their audit log.

use super::*;
use crate::domain::AdminOp;
use crate::storage::RelationKind;
use chapar_proto::{
    Audience, FileReport, FindPeople, ReportReason, SetPrivacy, SetProfile, UserInfo,
};

async fn block<S: Store>(s: &S, who: &Principal, handle: &str, on: bool) {
    ok(
        s.set_relation(who, handle, RelationKind::Block, on).await,
        "block",
    );
}

#[track_caller]
fn refused<T: Debug>(r: crate::Result<T>, needle: &str, what: &str) {
    match r {
        Err(Error::Forbidden(m)) if m.contains(needle) => {}
        other => panic!("{what}: expected forbidden with {needle:?}, got {other:?}"),
    }
}

fn direct(handle: &str, cid: &str) -> Command {
    text_cmd(Target::Peer(handle.to_string()), cid, cid)
}

pub async fn blocking_stops_direct_messages_both_ways<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let bob = signup(&s, "bob").await;
    let carol = signup(&s, "carol").await;
    let chat = ok(s.execute(&alice, direct("bob", "a1")).await, "first").conversation;
    send(&s, &bob, chat, "b1").await;

    block(&s, &alice, "bob", true).await;
    let blocked = ok(s.related(&alice, RelationKind::Block).await, "blocked list");
    assert_eq!(
        blocked
            .iter()
            .map(|u| u.handle.as_str())
            .collect::<Vec<_>>(),
        ["bob"]
    );
    assert!(
        ok(s.related(&bob, RelationKind::Block).await, "bob's list").is_empty(),
        "a block is one direction"
    );
    refused(
        s.execute(&bob, text_cmd(Target::Conversation(chat), "b2", "hi"))
            .await,
        "@alice does not accept messages from you",
        "the blocked one sends",
    );
    refused(
        s.execute(&bob, direct("alice", "b3")).await,
        "does not accept messages",
        "the blocked one sends by handle",
    );
    refused(
        s.execute(&alice, text_cmd(Target::Conversation(chat), "a2", "hi"))
            .await,
        "you blocked @bob",
        "the blocker sends",
    );
    let react = Command::React {
        conversation: chat,
        seq: 1,
        client_id: "r1".into(),
        emoji: "👍".into(),
        remove: false,
    };
    refused(
        s.execute(&bob, react.clone()).await,
        "does not accept",
        "react",
    );
    // Marks still move, but the blocker's receipts do not reach the blocked.
    let mark = Command::Mark {
        conversation: chat,
        delivered: None,
        read: Some(2),
    };
    let marked = ok(s.execute(&alice, mark).await, "mark");
    assert!(marked.fanout.is_empty(), "no receipt in a blocked chat");
    // Deleting one's own message still works.
    let del = Command::Delete {
        conversation: chat,
        seq: 2,
        client_id: "d1".into(),
    };
    ok(
        s.execute(&bob, del).await,
        "delete own message while blocked",
    );

    // Both block; one unblocks: still blocked until both have.
    block(&s, &bob, "alice", true).await;
    block(&s, &alice, "bob", false).await;
    refused(
        s.execute(&alice, text_cmd(Target::Conversation(chat), "a3", "hi"))
            .await,
        "@bob does not accept messages from you",
        "bob still blocks alice",
    );
    block(&s, &bob, "alice", false).await;
    let sent = ok(
        s.execute(&alice, text_cmd(Target::Conversation(chat), "a4", "back"))
            .await,
        "after both unblocked",
    );
    assert_eq!(recipients(&sent), sorted(vec![alice.user.id, bob.user.id]));
    ok(s.execute(&bob, react).await, "react after unblock");

    // A block before any chat: no conversation is made.
    block(&s, &carol, "alice", true).await;
    refused(
        s.execute(&alice, direct("carol", "c1")).await,
        "@carol does not accept messages from you",
        "new chat with a blocker",
    );
    assert!(
        ok(s.conversations(&carol, 10).await, "carol's list").is_empty(),
        "a refused first message makes no conversation"
    );
    expect(
        s.set_relation(&alice, "alice", RelationKind::Block, true)
            .await,
        ErrorCode::Invalid,
        "block yourself",
    );
    expect(
        s.set_relation(&alice, "nobody_here", RelationKind::Block, true)
            .await,
        ErrorCode::NotFound,
        "block a missing user",
    );
}

pub async fn privacy_decides_who_starts_chats_and_adds_to_groups<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let bob = signup(&s, "bob").await;
    let carol = signup(&s, "carol").await;
    assert_eq!(
        ok(s.privacy(&bob).await, "defaults"),
        chapar_proto::Privacy::default()
    );
    let change = SetPrivacy {
        messages: Some(Audience::Contacts),
        groups: Some(Audience::Nobody),
        last_seen: None,
        findable: None,
    };
    let set = ok(s.set_privacy(&bob, change).await, "set privacy");
    assert_eq!(
        (set.messages, set.groups, set.last_seen),
        (Audience::Contacts, Audience::Nobody, Audience::Everybody)
    );
    assert_eq!(ok(s.privacy(&bob).await, "read back"), set);

    refused(
        s.execute(&alice, direct("bob", "a1")).await,
        "@bob does not accept new chats",
        "not a contact",
    );
    ok(
        s.set_relation(&bob, "alice", RelationKind::Contact, true)
            .await,
        "bob adds alice",
    );
    let contacts = ok(s.related(&bob, RelationKind::Contact).await, "contacts");
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].handle, "alice");
    ok(
        s.execute(&alice, direct("bob", "a2")).await,
        "a contact may",
    );

    // Groups: bob is invited, not added; carol (default privacy) is added.
    let created = ok(
        s.execute(
            &alice,
            Command::CreateGroup {
                title: "trip".into(),
                members: vec!["bob".into(), "carol".into()],
                client_id: "g1".into(),
            },
        )
        .await,
        "create",
    );
    let g = created.conversation;
    assert_eq!(created.seq, Some(2), "created, then invited");
    let members = ok(s.member_ids(&alice, g).await, "members");
    assert_eq!(sorted(members), sorted(vec![alice.user.id, carol.user.id]));
    expect(
        s.history(&bob, Target::Conversation(g), None, 10).await,
        ErrorCode::Forbidden,
        "an invitee is not a member",
    );
    let invitations = ok(s.invitations(&bob).await, "invitations");
    assert_eq!(invitations.len(), 1);
    assert_eq!(
        (
            invitations[0].title.as_str(),
            invitations[0].inviter.handle.as_str()
        ),
        ("trip", "alice")
    );
    let feed = all_feed(&s, &bob).await;
    assert!(
        feed.iter()
            .any(|(_, e)| matches!(e, Event::Invitation(i) if i.conversation == g)),
        "the invitation is in bob's feed"
    );
    let history = all_history(&s, &alice, g).await;
    let invited = history[1].system.as_ref().expect("system entry");
    assert_eq!(
        (invited.action.as_str(), invited.handles.clone()),
        ("invited", vec!["bob".to_string()])
    );
    let joined = ok(
        s.execute(&bob, Command::AcceptInvitation { conversation: g })
            .await,
        "accept",
    );
    assert_eq!(joined.seq, Some(3));
    assert!(ok(s.invitations(&bob).await, "after accepting").is_empty());
    let page = ok(
        s.history(&bob, Target::Conversation(g), None, 10).await,
        "bob reads from the joined entry",
    );
    assert_eq!(page.len(), 1);
    assert_eq!(
        page[0].system.as_ref().map(|e| e.action.as_str()),
        Some("joined")
    );
    expect(
        s.execute(&bob, Command::AcceptInvitation { conversation: g })
            .await,
        ErrorCode::NotFound,
        "accept twice",
    );

    // add_members: invited again after leaving; declining leaves no trace of membership.
    ok(
        s.execute(&bob, Command::Leave { conversation: g }).await,
        "leave",
    );
    let add = Command::AddMembers {
        conversation: g,
        handles: vec!["bob".into()],
    };
    ok(s.execute(&alice, add).await, "invite by add_members");
    ok(s.decline_invitation(&bob, g).await, "decline");
    expect(
        s.decline_invitation(&bob, g).await,
        ErrorCode::NotFound,
        "decline twice",
    );
    expect(
        s.execute(&bob, Command::AcceptInvitation { conversation: g })
            .await,
        ErrorCode::NotFound,
        "accept a declined invitation",
    );

    // A blocker cannot be added or invited; nothing changes.
    block(&s, &carol, "alice", true).await;
    let g2 = group(&s, &alice, "other", &[]).await;
    let add = Command::AddMembers {
        conversation: g2,
        handles: vec!["carol".into()],
    };
    refused(
        s.execute(&alice, add).await,
        "@carol cannot be added",
        "add a blocker",
    );
    assert_eq!(ok(s.member_ids(&alice, g2).await, "unchanged").len(), 1);
    assert!(ok(s.invitations(&carol).await, "no invitation").is_empty());
}

/// A person can have only `max_pending_invitations` (3 here) group invitations waiting: one more
/// is refused and changes nothing (the group is not made), inviting them again to a group they
/// are already invited to does not count, and answering one makes room.
pub async fn waiting_invitations_are_capped<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let bob = signup(&s, "bob").await;
    let nobody = SetPrivacy {
        messages: None,
        groups: Some(Audience::Nobody),
        last_seen: None,
        findable: None,
    };
    ok(s.set_privacy(&bob, nobody).await, "bob is only invited");
    let create = |title: &str| Command::CreateGroup {
        title: title.into(),
        members: vec!["bob".into()],
        client_id: title.into(),
    };
    let mut groups = Vec::new();
    for title in ["one", "two", "three"] {
        groups.push(ok(s.execute(&alice, create(title)).await, title).conversation);
    }
    assert_eq!(ok(s.invitations(&bob).await, "three waiting").len(), 3);
    let again = Command::AddMembers {
        conversation: groups[0],
        handles: vec!["bob".into()],
    };
    ok(
        s.execute(&alice, again).await,
        "invite again to the same group",
    );
    refused(
        s.execute(&alice, create("four")).await,
        "@bob has too many group invitations waiting",
        "a fourth invitation",
    );
    assert_eq!(
        ok(s.conversations(&alice, 10).await, "list").len(),
        3,
        "the refused group was not made"
    );
    assert_eq!(ok(s.invitations(&bob).await, "still three").len(), 3);
    ok(s.decline_invitation(&bob, groups[1]).await, "decline one");
    ok(s.execute(&alice, create("four")).await, "room for one more");
    let mut titles: Vec<String> = ok(s.invitations(&bob).await, "after")
        .into_iter()
        .map(|i| i.title)
        .collect();
    titles.sort();
    assert_eq!(titles, ["four", "one", "three"]);
}

/// `find_people` by the start of a handle or a display name (case aside; `@` for handles
/// only), never oneself, not those who block the seeker, and as each person's "who can find me"
/// setting says; bad queries are refused.
pub async fn people_are_found_as_they_allow<S: Store>(s: S) {
    let seeker = signup(&s, "seeker").await;
    let parvin = signup(&s, "parvin").await;
    let parsa = signup(&s, "parsa").await;
    let pa_rt = signup(&s, "pa_rt").await;
    let mina = signup(&s, "mina").await;
    let rename = |name: &str| SetProfile {
        display_name: Some(name.into()),
        bio: None,
    };
    ok(
        s.set_profile(&mina, rename("Parisa Mina")).await,
        "mina's name",
    );
    ok(
        s.set_profile(&parsa, rename("پارسا")).await,
        "a Persian name",
    );
    let find = |q: &str| FindPeople {
        query: q.into(),
        limit: None,
    };
    let handles = |found: Vec<UserInfo>| found.into_iter().map(|u| u.handle).collect::<Vec<_>>();
    assert_eq!(
        handles(ok(s.find_people(&seeker, find("PAR")).await, "par")),
        ["mina", "parsa", "parvin"],
        "by handle, and by name (Parisa), sorted by handle"
    );
    assert_eq!(
        handles(ok(s.find_people(&seeker, find("@par")).await, "@par")),
        ["parsa", "parvin"],
        "handles only"
    );
    assert_eq!(
        handles(ok(s.find_people(&seeker, find("پار")).await, "Persian")),
        ["parsa"]
    );
    // `_` is a letter of handles, not a wildcard.
    assert_eq!(
        handles(ok(s.find_people(&seeker, find("pa_")).await, "pa_")),
        ["pa_rt"]
    );
    assert!(
        ok(s.find_people(&seeker, find("se")).await, "self").is_empty(),
        "never oneself"
    );
    // Who can find me: nobody; contacts; and a block hides too.
    let setting = |a: Audience| SetPrivacy {
        findable: Some(a),
        ..SetPrivacy::default()
    };
    ok(
        s.set_privacy(&parvin, setting(Audience::Nobody)).await,
        "nobody",
    );
    ok(
        s.set_privacy(&pa_rt, setting(Audience::Contacts)).await,
        "contacts",
    );
    block(&s, &parsa, "seeker", true).await;
    assert_eq!(
        handles(ok(s.find_people(&seeker, find("@pa")).await, "after")),
        Vec::<String>::new()
    );
    ok(
        s.set_relation(&pa_rt, "seeker", RelationKind::Contact, true)
            .await,
        "pa_rt adds the seeker",
    );
    assert_eq!(
        handles(ok(s.find_people(&seeker, find("@pa")).await, "a contact")),
        ["pa_rt"]
    );
    // The exact handle still works for anyone (starting a chat by handle).
    ok(s.user_by_handle("parvin").await, "exact handle");
    for bad in ["p", " @ x ", "a\u{7}b", &"x".repeat(65)] {
        expect(
            s.find_people(&seeker, find(bad)).await,
            ErrorCode::Invalid,
            "a bad query",
        );
    }
}

/// Last seen: the newest sighting of a person's devices, written by `seen_devices`, shown as
/// their "last seen" setting says (everybody, contacts, nobody; never to someone they block),
/// always to themselves; unknown people are left out and too many at once are refused.
pub async fn last_seen_is_shown_as_people_allow<S: Store>(s: S) {
    let viewer = signup(&s, "viewer").await;
    let open = signup(&s, "open").await;
    let shy = signup(&s, "shy").await;
    let who = |list: &[(UserId, Option<i64>)]| list.iter().map(|(u, _)| *u).collect::<Vec<_>>();
    let before = now_ms();
    ok(
        s.seen_devices(vec![open.device, shy.device]).await,
        "seen now",
    );
    let seen = ok(
        s.last_seen(&viewer, vec![open.user.id, shy.user.id, UserId(999_999)])
            .await,
        "everybody",
    );
    assert_eq!(who(&seen), [open.user.id, shy.user.id], "unknown left out");
    for (_, at) in &seen {
        assert!(at.is_some_and(|t| t >= before), "written just now: {at:?}");
    }
    let setting = |a: Audience| SetPrivacy {
        last_seen: Some(a),
        ..SetPrivacy::default()
    };
    ok(
        s.set_privacy(&shy, setting(Audience::Contacts)).await,
        "contacts",
    );
    let ids = vec![open.user.id, shy.user.id];
    assert_eq!(
        who(&ok(
            s.last_seen(&viewer, ids.clone()).await,
            "not a contact"
        )),
        [open.user.id]
    );
    ok(
        s.set_relation(&shy, "viewer", RelationKind::Contact, true)
            .await,
        "shy adds the viewer",
    );
    assert_eq!(
        who(&ok(s.last_seen(&viewer, ids.clone()).await, "a contact")),
        ids
    );
    ok(
        s.set_privacy(&shy, setting(Audience::Nobody)).await,
        "nobody",
    );
    block(&s, &open, "viewer", true).await;
    assert!(ok(s.last_seen(&viewer, ids.clone()).await, "hidden").is_empty());
    assert_eq!(
        who(&ok(s.last_seen(&shy, vec![shy.user.id]).await, "oneself")),
        [shy.user.id]
    );
    expect(
        s.last_seen(&viewer, (1..=51).map(UserId).collect()).await,
        ErrorCode::Invalid,
        "too many",
    );
}

pub async fn blocked_users_do_not_get_receipts_in_groups<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let bob = signup(&s, "bob").await;
    let carol = signup(&s, "carol").await;
    let g = group(&s, &alice, "g", &["bob", "carol"]).await;
    send(&s, &bob, g, "m1").await;
    block(&s, &alice, "bob", true).await;
    let mark = Command::Mark {
        conversation: g,
        delivered: None,
        read: Some(2),
    };
    let marked = ok(s.execute(&alice, mark).await, "mark");
    assert_eq!(
        recipients(&marked),
        vec![carol.user.id],
        "the receipt skips the blocked member"
    );
    // In a group, the blocked one can still post (the blocker's clients collapse it).
    send(&s, &bob, g, "m2").await;
}

pub async fn reports_reach_operators_who_moderate<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let bob = signup(&s, "bob").await;
    let op = signup(&s, "oper").await;
    let g = group(&s, &alice, "g", &["bob"]).await;
    let spam = send(&s, &alice, g, "buy-now").await.seq.expect("seq");
    let report = FileReport {
        conversation: Some(g),
        seq: Some(spam),
        handle: None,
        reason: ReportReason::Spam,
        comment: Some("again".into()),
    };
    let id = ok(s.report(&bob, report.clone()).await, "report a message");
    let by_handle = FileReport {
        conversation: None,
        seq: None,
        handle: Some("alice".into()),
        reason: ReportReason::Abuse,
        comment: None,
    };
    ok(s.report(&bob, by_handle).await, "report a user");
    expect(
        s.report(
            &bob,
            FileReport {
                handle: Some("alice".into()),
                ..report.clone()
            },
        )
        .await,
        ErrorCode::Invalid,
        "both a message and a handle",
    );
    expect(
        s.report(&op, report.clone()).await,
        ErrorCode::Forbidden,
        "report a message one cannot see",
    );

    // Not an operator yet.
    expect(
        s.reports(&op, false, 10).await,
        ErrorCode::Forbidden,
        "reports",
    );
    let suspend = AdminOp::Suspend {
        handle: "alice".into(),
        reason: "spam".into(),
    };
    expect(
        s.admin(Some(&op), suspend.clone()).await,
        ErrorCode::Forbidden,
        "suspend",
    );
    let grant = AdminOp::Grant {
        handle: "oper".into(),
        operator: true,
    };
    ok(s.admin(None, grant).await, "grant on the command line");

    let open = ok(s.reports(&op, false, 10).await, "open reports");
    assert_eq!(open.len(), 2);
    let first = open
        .iter()
        .find(|r| r.id == id)
        .expect("the message report");
    assert_eq!(
        (
            first.reporter.handle.as_str(),
            first.user.handle.as_str(),
            first.text.as_deref(),
            first.comment.as_deref(),
            first.seq,
        ),
        ("bob", "alice", Some("buy-now"), Some("again"), Some(spam))
    );
    let resolve = AdminOp::Resolve {
        report: id,
        resolution: "suspended".into(),
    };
    ok(s.admin(Some(&op), resolve.clone()).await, "resolve");
    expect(
        s.admin(Some(&op), resolve).await,
        ErrorCode::NotFound,
        "resolve twice",
    );
    assert_eq!(ok(s.reports(&op, false, 10).await, "open").len(), 1);
    let all = ok(s.reports(&op, true, 10).await, "all");
    assert_eq!(all.len(), 2);
    assert!(
        all.iter()
            .any(|r| r.id == id && r.resolution.as_deref() == Some("suspended"))
    );

    // Delete for everyone: the text is gone for every member.
    let del = Command::AdminDelete {
        conversation: g,
        seq: spam,
        reason: Some("spam".into()),
    };
    ok(s.execute(&op, del).await, "operator deletes");
    let h = all_history(&s, &bob, g).await;
    let m = h.iter().find(|m| m.seq == spam).expect("the message");
    assert!(m.deleted && m.text.is_none(), "deleted for everyone: {m:?}");
    expect(
        s.execute(
            &bob,
            Command::AdminDelete {
                conversation: g,
                seq: 1,
                reason: None,
            },
        )
        .await,
        ErrorCode::Forbidden,
        "a member is not an operator",
    );

    // Suspension: sessions end, sign-in is refused, the handle stays taken.
    let suspended = ok(s.admin(Some(&op), suspend).await, "suspend");
    assert_eq!(suspended.map(|u| u.id), Some(alice.user.id));
    let again = s.create_account(account("alice")).await;
    expect(again, ErrorCode::Conflict, "the handle stays taken");
    expect(
        s.admin(
            Some(&op),
            AdminOp::Suspend {
                handle: "oper".into(),
                reason: "x".into(),
            },
        )
        .await,
        ErrorCode::Invalid,
        "suspend yourself",
    );
    ok(
        s.admin(
            Some(&op),
            AdminOp::Unsuspend {
                handle: "alice".into(),
            },
        )
        .await,
        "unsuspend",
    );

    let audit = ok(s.audit(Some(&op), 10).await, "audit");
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "unsuspend",
            "suspend",
            "delete_message",
            "resolve_report",
            "grant_operator"
        ],
        "newest first"
    );
    assert_eq!(audit[1].target, "@alice");
    assert_eq!(
        audit[1].operator.as_ref().map(|u| u.handle.as_str()),
        Some("oper")
    );
    assert!(audit[4].operator.is_none(), "granted on the command line");
    expect(s.audit(Some(&bob), 10).await, ErrorCode::Forbidden, "audit");
}

pub async fn suspended_accounts_cannot_sign_in<S: Store>(s: S) {
    let mut a = account("alice");
    let key = a.public_key.clone();
    let token = a.token_hash;
    a.display_name = "Alice".into();
    let alice = ok(s.create_account(a).await, "sign up");
    let op = signup(&s, "oper").await;
    ok(
        s.admin(
            None,
            AdminOp::Grant {
                handle: "oper".into(),
                operator: true,
            },
        )
        .await,
        "grant",
    );
    let code = fresh(3);
    ok(
        s.create_link_code(&alice, code, now_ms() + 60_000).await,
        "link code",
    );
    assert!(ok(s.session(token).await, "session").is_some());
    let suspend = AdminOp::Suspend {
        handle: "alice".into(),
        reason: "spam".into(),
    };
    ok(s.admin(Some(&op), suspend).await, "suspend");
    assert_eq!(ok(s.session(token).await, "session after"), None);
    refused(
        s.login(&key, fresh(2)).await,
        "suspended",
        "login of a suspended account",
    );
    let link = NewDevice {
        code_hash: code,
        public_key: fresh(1).to_vec(),
        device_name: "phone".into(),
        token_hash: fresh(2),
    };
    refused(s.link_device(link).await, "suspended", "link a device");
    ok(
        s.admin(
            Some(&op),
            AdminOp::Unsuspend {
                handle: "alice".into(),
            },
        )
        .await,
        "unsuspend",
    );
    ok(s.login(&key, fresh(2)).await, "login after unsuspension");
}

pub async fn new_accounts_start_few_chats_a_day<S: Store>(s: S) {
    let spammer = signup(&s, "spammer").await;
    let max = limits().new_account_new_chats_per_day;
    for i in 0..max {
        let handle = format!("target{i}");
        signup(&s, &handle).await;
        ok(
            s.execute(&spammer, direct(&handle, &format!("m{i}"))).await,
            "within the limit",
        );
    }
    signup(&s, "onemore").await;
    refused(
        s.execute(&spammer, direct("onemore", "over")).await,
        "new conversations a day",
        "over the limit",
    );
    // Existing chats are not limited.
    ok(
        s.execute(&spammer, direct("target0", "again")).await,
        "an existing chat",
    );
    let create = Command::CreateGroup {
        title: "spam".into(),
        members: Vec::new(),
        client_id: "g".into(),
    };
    refused(
        s.execute(&spammer, create).await,
        "new conversations a day",
        "a group counts too",
    );
}
