//! Conformance cases. Messages: direct conversations, seqs, idempotency, the feed, changes to messages, markers.

use super::*;
use chapar_proto::SearchMessages;

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
    // A cursor from the far future (a client's number) is an empty page, not a failure.
    let far = ok(
        s.feed(&alice, u64::MAX, 10).await,
        "feed after the last pts",
    );
    assert!(far.events.is_empty() && !far.more);
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
    // A cursor from the far future (a client's number) is an empty page, not a failure.
    let far = ok(
        s.feed(&alice, u64::MAX, 10).await,
        "feed after the last pts",
    );
    assert!(far.events.is_empty() && !far.more);
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
    let secret = ok(
        s.execute(&bob, edit(b, "e3", "secret second version"))
            .await,
        "bob edits",
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
    // A deleted message leaves no text of any of its versions, in history or in feeds.
    let scrubbed = at(secret.seq.unwrap_or(0));
    assert_eq!(
        (scrubbed.kind, scrubbed.target),
        (MessageKind::Edit, Some(b))
    );
    assert!(
        scrubbed.text.is_none() && scrubbed.data.is_none(),
        "the edit of a deleted message keeps its text: {scrubbed:?}"
    );
    for who in [&alice, &bob] {
        for (_, event) in all_feed(&s, who).await {
            if let Event::Message(m) = event {
                let text = m.text.unwrap_or_default();
                assert!(
                    !text.contains("bob's") && !text.contains("secret"),
                    "a feed still carries deleted text: {text:?}"
                );
            }
        }
    }
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

/// The commit listener sees every committed command before `execute` returns, and each user's
/// feed events in pts order even when many senders commit at once; failed and duplicate
/// commands announce no fan-out.
pub async fn commit_listener_sees_commits_in_order<S: Store>(s: S) {
    let s = Arc::new(s);
    let seen: Arc<std::sync::Mutex<Vec<(UserId, u64, Seq)>>> = Arc::default();
    let sink = Arc::clone(&seen);
    s.set_commit_listener(Arc::new(move |c: &Committed| {
        let mut seen = sink.lock().unwrap_or_else(|e| e.into_inner());
        for f in &c.fanout {
            if let Event::Message(m) = &*f.event {
                for (user, pts) in &f.recipients {
                    seen.push((*user, *pts, m.seq));
                }
            }
        }
    }));
    let a = signup(&*s, "lis_a").await;
    let b = signup(&*s, "lis_b").await;
    let conv = group(&*s, &a, "listened", &["lis_b"]).await;
    let first = send(&*s, &a, conv, "l-0").await;
    let announced = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(
        announced
            .iter()
            .any(|(u, _, seq)| *u == b.user.id && Some(*seq) == first.seq),
        "announced before execute returned"
    );
    let mut tasks = Vec::new();
    for p in [a.clone(), b.clone()] {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            for n in 0..100 {
                let cid = format!("{}-{n}", p.user.handle);
                loop {
                    match s
                        .execute(&p, text_cmd(Target::Conversation(conv), &cid, &cid))
                        .await
                    {
                        Err(Error::Overloaded { .. }) => tokio::task::yield_now().await,
                        other => {
                            ok(other, "send");
                            break;
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await
            .unwrap_or_else(|e| panic!("sender task failed: {e}"));
    }
    let before = seen.lock().unwrap_or_else(|e| e.into_inner()).len();
    let dup = ok(
        s.execute(&a, text_cmd(Target::Conversation(conv), "l-0", "again"))
            .await,
        "duplicate",
    );
    assert!(dup.duplicate);
    expect(
        s.execute(
            &a,
            text_cmd(Target::Conversation(ConversationId(999_999)), "x", "x"),
        )
        .await,
        ErrorCode::Forbidden,
        "send to a stranger's conversation",
    );
    assert_eq!(
        seen.lock().unwrap_or_else(|e| e.into_inner()).len(),
        before,
        "nothing announced"
    );
    let seen = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for user in [a.user.id, b.user.id] {
        let pts: Vec<u64> = seen
            .iter()
            .filter(|(u, _, _)| *u == user)
            .map(|(_, p, _)| *p)
            .collect();
        assert!(
            pts.windows(2).all(|w| w[1] == w[0] + 1),
            "pts announced in order, no gaps: {pts:?}"
        );
        // The created entry, the first send, then 2 x 100.
        assert_eq!(pts.len(), 202, "every entry announced once");
    }
}

/// Every fan-out (messages, receipts) lists each recipient once, in user-id order whatever the
/// order members joined in, and each pts is where that event stands in that user's feed.
pub async fn fanout_recipients_are_ordered_and_match_feeds<S: Store>(s: S) {
    let users = [
        signup(&s, "ann").await,
        signup(&s, "ben").await,
        signup(&s, "cat").await,
        signup(&s, "dov").await,
    ];
    let [ann, ben, cat, dov] = &users;
    // Joined in another order than their ids.
    let g = group(&s, dov, "g", &["ben", "ann"]).await;
    ok(
        s.execute(
            dov,
            Command::AddMembers {
                conversation: g,
                handles: vec!["cat".into()],
            },
        )
        .await,
        "add",
    );
    let sent = send(&s, ben, g, "hello").await;
    let read = ok(
        s.execute(
            cat,
            Command::Mark {
                conversation: g,
                delivered: None,
                read: sent.seq,
            },
        )
        .await,
        "mark",
    );
    for (c, expected) in [
        (&sent, vec![ann, ben, cat, dov]),
        (&read, vec![ann, ben, dov]),
    ] {
        assert_eq!(c.fanout.len(), 1);
        let got: Vec<UserId> = c.fanout[0].recipients.iter().map(|r| r.0).collect();
        let mut want: Vec<UserId> = expected.iter().map(|p| p.user.id).collect();
        want.sort();
        assert_eq!(got, want, "recipients in user-id order, each once");
        for (user, pts) in &c.fanout[0].recipients {
            let who = users
                .iter()
                .find(|p| p.user.id == *user)
                .unwrap_or_else(|| panic!("unknown recipient {user:?}"));
            let page = ok(s.feed(who, pts - 1, 1).await, "feed at pts");
            let event = page.events.first().map(|e| (e.pts, e.event.clone()));
            assert_eq!(
                event,
                Some((*pts, c.fanout[0].event.as_ref().clone())),
                "the feed of {user:?} at {pts}"
            );
        }
    }
}

/// `search`: messages with a word starting with each query word, newest first, in the
/// searcher's conversations only and from their joining on; Persian and Arabic spellings of a
/// word find each other; an edit is found by its new words only, a deleted message never.
pub async fn messages_are_found_as_members_may_read_them<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let bob = signup(&s, "bob").await;
    let carol = signup(&s, "carol").await;
    let dave = signup(&s, "dave").await;
    let say = |who: &Principal, conv: ConversationId, cid: &str, text: &str| {
        let cmd = text_cmd(Target::Conversation(conv), cid, text);
        let who = who.clone();
        let s = &s;
        async move { ok(s.execute(&who, cmd).await, "send").seq.unwrap_or(0) }
    };
    let find = |who: &Principal, q: &str, conversation: Option<ConversationId>| {
        let q = SearchMessages {
            query: q.into(),
            conversation,
            before: None,
            limit: None,
        };
        let who = who.clone();
        let s = &s;
        async move {
            ok(s.search(&who, q).await, "search")
                .into_iter()
                .map(|m| m.text.unwrap_or_default())
                .collect::<Vec<_>>()
        }
    };
    let g = group(&s, &alice, "club", &["carol"]).await;
    let d = ok(
        s.execute(
            &alice,
            text_cmd(
                Target::Peer("bob".into()),
                "d1",
                "Salam Bob, did you read the book?",
            ),
        )
        .await,
        "direct",
    )
    .conversation;
    say(&bob, d, "d2", "كتاب جديد خريدم").await;
    let club = say(&alice, g, "g1", "Book club tonight").await;
    say(&carol, g, "g2", "booking a table").await;

    assert_eq!(
        find(&bob, "BOO", None).await,
        ["Salam Bob, did you read the book?"]
    );
    assert_eq!(
        find(&carol, "boo", None).await,
        ["booking a table", "Book club tonight"],
        "newest first, only carol's conversations"
    );
    assert_eq!(
        find(&carol, "book club", None).await,
        ["Book club tonight"],
        "every word"
    );
    assert_eq!(
        find(&bob, "کتاب جدید", None).await,
        ["كتاب جديد خريدم"],
        "Persian finds Arabic"
    );
    assert_eq!(
        find(&alice, "book", Some(d)).await,
        ["Salam Bob, did you read the book?"]
    );
    expect(
        s.search(
            &bob,
            SearchMessages {
                query: "book".into(),
                conversation: Some(g),
                ..SearchMessages::default()
            },
        )
        .await,
        ErrorCode::Forbidden,
        "not a member",
    );
    // Paging: before the first result's time comes the rest.
    let first = ok(
        s.search(
            &carol,
            SearchMessages {
                query: "boo".into(),
                limit: Some(1),
                ..SearchMessages::default()
            },
        )
        .await,
        "page 1",
    );
    assert_eq!(first.len(), 1);

    // An edit is found by its new words only; a deleted message is not found at all.
    let edit = Command::Edit {
        conversation: g,
        seq: club,
        client_id: "e1".into(),
        text: Some("Reading group tonight".into()),
        data: None,
    };
    ok(s.execute(&alice, edit).await, "edit");
    assert_eq!(find(&carol, "club", None).await, Vec::<String>::new());
    assert_eq!(
        find(&carol, "reading", None).await,
        ["Reading group tonight"]
    );
    // Someone who joins later does not find what was said before.
    let add = Command::AddMembers {
        conversation: g,
        handles: vec!["dave".into()],
    };
    ok(s.execute(&alice, add).await, "add dave");
    assert!(
        find(&dave, "reading", None).await.is_empty(),
        "before dave joined"
    );
    let del = Command::Delete {
        conversation: g,
        seq: club,
        client_id: "x1".into(),
    };
    ok(s.execute(&alice, del).await, "delete");
    assert!(find(&carol, "reading", None).await.is_empty(), "deleted");
    for bad in ["a", "  ", "x\u{7}"] {
        expect(
            s.search(
                &carol,
                SearchMessages {
                    query: bad.into(),
                    ..SearchMessages::default()
                },
            )
            .await,
            ErrorCode::Invalid,
            "a bad query",
        );
    }
}

/// `forward`: a message the actor may read goes to another conversation as it is, marked with
/// its first author (a forward of a forward keeps it); not one the actor may not read, nor a
/// deleted one. `pin`: both people of a direct chat, a group's admins; a system entry names the
/// message; the conversation shows it until unpinned.
pub async fn forwards_and_pins<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let bob = signup(&s, "bob").await;
    let carol = signup(&s, "carol").await;
    let g = group(&s, &alice, "club", &["bob"]).await;
    let original = ok(
        s.execute(
            &alice,
            text_cmd(Target::Conversation(g), "m1", "meet at six"),
        )
        .await,
        "send",
    )
    .seq
    .unwrap_or(0);
    let fwd = |target: Target, from, seq, cid: &str| Command::Forward {
        target,
        client_id: cid.into(),
        from,
        seq,
    };
    let sent = ok(
        s.execute(&bob, fwd(Target::Peer("carol".into()), g, original, "f1"))
            .await,
        "bob forwards to carol",
    );
    let d = sent.conversation;
    let got = all_history(&s, &carol, d).await;
    let last = got.last().expect("the forward");
    assert_eq!(last.text.as_deref(), Some("meet at six"));
    assert_eq!(last.sender, bob.user.id, "bob sent it");
    let from = last.forward.as_ref().expect("marked forwarded");
    assert_eq!(from.from.handle, "alice", "alice wrote it");
    // Carol forwards it on: still alice's.
    let again = ok(
        s.execute(&carol, fwd(Target::Conversation(d), d, last.seq, "f2"))
            .await,
        "forward a forward",
    );
    let got = all_history(&s, &carol, d).await;
    let m = got
        .iter()
        .find(|m| Some(m.seq) == again.seq)
        .expect("there");
    assert_eq!(
        m.forward.as_ref().map(|f| f.from.handle.as_str()),
        Some("alice")
    );
    // Carol cannot forward from the group she is not in; a retry is the first outcome.
    expect(
        s.execute(&carol, fwd(Target::Conversation(d), g, original, "f3"))
            .await,
        ErrorCode::Forbidden,
        "not a member of the source",
    );
    let retry = ok(
        s.execute(&bob, fwd(Target::Peer("carol".into()), g, original, "f1"))
            .await,
        "retry",
    );
    assert!(retry.duplicate);

    // Pins: bob is a plain member of the group, so he may not; alice (owner) may.
    let pin = |seq, cid: &str| Command::Pin {
        conversation: g,
        seq,
        client_id: cid.into(),
    };
    expect(
        s.execute(&bob, pin(Some(original), "p0")).await,
        ErrorCode::Forbidden,
        "a member pins",
    );
    expect(
        s.execute(&alice, pin(Some(1), "p9")).await,
        ErrorCode::Invalid,
        "a system entry",
    );
    let pinned = ok(s.execute(&alice, pin(Some(original), "p1")).await, "pin");
    let info = ok(s.conversation(&bob, g).await, "info");
    assert_eq!(info.pinned, Some(original));
    let entry = all_history(&s, &bob, g)
        .await
        .into_iter()
        .find(|m| Some(m.seq) == pinned.seq)
        .expect("the system entry");
    assert_eq!(
        entry.system.as_ref().map(|e| e.action.as_str()),
        Some("pinned")
    );
    assert_eq!(entry.target, Some(original));
    ok(s.execute(&alice, pin(None, "p2")).await, "unpin");
    assert_eq!(ok(s.conversation(&bob, g).await, "info").pinned, None);
    expect(
        s.execute(&alice, pin(None, "p3")).await,
        ErrorCode::Invalid,
        "nothing pinned",
    );
    // In a direct chat either person pins.
    let last = all_history(&s, &carol, d)
        .await
        .last()
        .map(|m| m.seq)
        .unwrap_or(0);
    ok(
        s.execute(
            &carol,
            Command::Pin {
                conversation: d,
                seq: Some(last),
                client_id: "p4".into(),
            },
        )
        .await,
        "carol pins in the direct chat",
    );
    // A deleted message cannot be forwarded.
    ok(
        s.execute(
            &alice,
            Command::Delete {
                conversation: g,
                seq: original,
                client_id: "x1".into(),
            },
        )
        .await,
        "delete",
    );
    expect(
        s.execute(&bob, fwd(Target::Peer("carol".into()), g, original, "f4"))
            .await,
        ErrorCode::NotFound,
        "deleted",
    );
}

/// `archive` and `clear_history` change only the actor's own view: an archived conversation is
/// listed as archived; a cleared one leaves the list (its history and search too) until
/// something new is said, and is read; the others keep everything.
pub async fn archive_and_clear_are_the_actors_own<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let bob = signup(&s, "bob").await;
    let d = ok(
        s.execute(
            &alice,
            text_cmd(Target::Peer("bob".into()), "a1", "salam bob"),
        )
        .await,
        "direct",
    )
    .conversation;
    ok(
        s.execute(&bob, text_cmd(Target::Conversation(d), "b1", "salam alice"))
            .await,
        "send",
    );
    let listed = |who: &Principal| {
        let who = who.clone();
        let s = &s;
        async move {
            ok(s.conversations(&who, 50).await, "list")
                .into_iter()
                .map(|c| (c.id, c.archived))
                .collect::<Vec<_>>()
        }
    };
    ok(
        s.execute(
            &alice,
            Command::Archive {
                conversation: d,
                archived: true,
            },
        )
        .await,
        "archive",
    );
    assert_eq!(listed(&alice).await, [(d, true)]);
    assert_eq!(listed(&bob).await, [(d, false)], "bob's list is his");
    ok(
        s.execute(
            &alice,
            Command::Archive {
                conversation: d,
                archived: false,
            },
        )
        .await,
        "unarchive",
    );
    assert_eq!(listed(&alice).await, [(d, false)]);

    ok(
        s.execute(&alice, Command::ClearHistory { conversation: d })
            .await,
        "clear",
    );
    assert!(listed(&alice).await.is_empty(), "gone from alice's list");
    assert!(
        all_history(&s, &alice, d).await.is_empty(),
        "and her history"
    );
    assert_eq!(all_history(&s, &bob, d).await.len(), 2, "bob keeps his");
    let q = chapar_proto::SearchMessages {
        query: "salam".into(),
        ..Default::default()
    };
    assert!(ok(s.search(&alice, q.clone()).await, "search").is_empty());
    assert_eq!(ok(s.search(&bob, q).await, "bob's search").len(), 2);
    // Bob writes again: the conversation is back for alice, with only the new message, unread.
    ok(
        s.execute(
            &bob,
            text_cmd(Target::Conversation(d), "b2", "are you there"),
        )
        .await,
        "send",
    );
    let info = ok(s.conversation(&alice, d).await, "info");
    assert_eq!(info.unread, 1, "only the new one");
    assert_eq!(listed(&alice).await, [(d, false)]);
    let texts: Vec<_> = all_history(&s, &alice, d)
        .await
        .into_iter()
        .filter_map(|m| m.text)
        .collect();
    assert_eq!(texts, ["are you there"]);
    // Not a member: refused.
    let carol = signup(&s, "carol").await;
    expect(
        s.execute(&carol, Command::ClearHistory { conversation: d })
            .await,
        ErrorCode::Forbidden,
        "not a member",
    );
}

/// `hide`: a message deleted for the actor only keeps its place in their history, empty and
/// marked, is not found by their search, and stays whole for everyone else.
pub async fn a_message_deleted_for_me_stays_for_the_others<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let bob = signup(&s, "bob").await;
    let g = group(&s, &alice, "g", &["bob"]).await;
    let m = ok(
        s.execute(
            &bob,
            text_cmd(Target::Conversation(g), "b1", "embarrassing typo"),
        )
        .await,
        "send",
    )
    .seq
    .unwrap_or(0);
    ok(
        s.execute(
            &alice,
            Command::Hide {
                conversation: g,
                seq: m,
            },
        )
        .await,
        "alice hides bob's message",
    );
    let mine = all_history(&s, &alice, g).await;
    let hidden = mine.iter().find(|x| x.seq == m).expect("kept in place");
    assert!(hidden.hidden && hidden.text.is_none(), "{hidden:?}");
    let theirs = all_history(&s, &bob, g).await;
    let whole = theirs.iter().find(|x| x.seq == m).expect("bob's");
    assert!(!whole.hidden);
    assert_eq!(whole.text.as_deref(), Some("embarrassing typo"));
    let q = |who: &Principal| {
        let who = who.clone();
        let s = &s;
        async move {
            let q = chapar_proto::SearchMessages {
                query: "typo".into(),
                ..Default::default()
            };
            ok(s.search(&who, q).await, "search").len()
        }
    };
    assert_eq!(q(&alice).await, 0);
    assert_eq!(q(&bob).await, 1);
    expect(
        s.execute(
            &alice,
            Command::Hide {
                conversation: g,
                seq: 1,
            },
        )
        .await,
        ErrorCode::NotFound,
        "a system entry",
    );
    let carol = signup(&s, "carol").await;
    expect(
        s.execute(
            &carol,
            Command::Hide {
                conversation: g,
                seq: m,
            },
        )
        .await,
        ErrorCode::Forbidden,
        "not a member",
    );
}

/// A group's description: set by admins (not plain members), shown by `conversation`, cleared
/// by an empty one, announced by a `description_changed` entry; direct chats have none.
pub async fn groups_have_a_description<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let bob = signup(&s, "bob").await;
    let g = group(&s, &alice, "club", &["bob"]).await;
    let describe = |text: &str| Command::SetDescription {
        conversation: g,
        description: text.into(),
    };
    expect(
        s.execute(&bob, describe("hijacked")).await,
        ErrorCode::Forbidden,
        "a plain member",
    );
    let c = ok(
        s.execute(&alice, describe("  Books, every Thursday  "))
            .await,
        "set",
    );
    assert_eq!(
        ok(s.conversation(&bob, g).await, "info").description,
        "Books, every Thursday"
    );
    let entry = all_history(&s, &bob, g)
        .await
        .into_iter()
        .find(|m| Some(m.seq) == c.seq)
        .expect("the entry");
    assert_eq!(
        entry.system.map(|e| e.action),
        Some("description_changed".to_string())
    );
    expect(
        s.execute(&alice, describe(&"x".repeat(256))).await,
        ErrorCode::TooLarge,
        "too long",
    );
    ok(s.execute(&alice, describe("")).await, "clear");
    assert_eq!(ok(s.conversation(&bob, g).await, "info").description, "");
}
