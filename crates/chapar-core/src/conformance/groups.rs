//! Conformance cases. Groups: who may see and change what, membership changes, limits, history visibility.

use super::*;

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
