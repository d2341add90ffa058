//! Ordering, idempotency, multi-device and live delivery.

use crate::util::Server;
use crate::util::raw::Raw;
use chapar_proto::frame::*;
use chapar_proto::*;
use std::collections::HashSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_members_sending_concurrently_see_one_dense_order() {
    let server = Server::start();
    let url = server.ws_url();
    let handles = ["ord_a", "ord_b", "ord_c", "ord_d", "ord_e"];
    let mut clients = vec![];
    for (i, h) in handles.iter().enumerate() {
        // Mix encodings: the order must not depend on how a client speaks.
        let mut raw = Raw::connect(
            &url,
            if i % 2 == 0 {
                Encoding::Json
            } else {
                Encoding::MsgPack
            },
        )
        .await;
        raw.sign_up(h).await;
        clients.push(raw);
    }
    let group = clients[0].create_group("ordering", &handles[1..]).await;
    let mut tasks = vec![];
    for (i, mut c) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for n in 0..200 {
                c.send_text(group, &format!("{i}:{n}"), &format!("m-{i}-{n}"))
                    .await
                    .expect("send");
            }
            c
        }));
    }
    let mut clients = vec![];
    for t in tasks {
        clients.push(t.await.expect("sender task"));
    }
    let mut reference: Option<Vec<(u64, Option<String>)>> = None;
    for c in &mut clients {
        let history = c.history(group).await.expect("history");
        let view: Vec<(u64, Option<String>)> =
            history.iter().map(|m| (m.seq, m.text.clone())).collect();
        // seq dense from 1: the created message, then 1000 texts.
        assert_eq!(view.len(), 1001, "every message once");
        for (i, (seq, _)) in view.iter().enumerate() {
            assert_eq!(*seq, i as u64 + 1, "seq dense from 1");
        }
        let texts: HashSet<_> = view.iter().filter_map(|(_, t)| t.clone()).collect();
        assert_eq!(texts.len(), 1000, "no duplicates, nothing missing");
        // Each sender's own messages are in the order it sent them.
        for i in 0..5 {
            let mine: Vec<u32> = view
                .iter()
                .filter_map(|(_, t)| t.as_deref())
                .filter_map(|t| t.strip_prefix(&format!("{i}:")))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(mine, (0..200).collect::<Vec<_>>());
        }
        match &reference {
            None => reference = Some(view),
            Some(r) => assert_eq!(r, &view, "every member sees the same sequence"),
        }
    }
    // The feed of each member carries the same messages in the same order, pts increasing.
    for c in &mut clients {
        let events = c.sync_all(0).await;
        let mut last = 0;
        let mut seqs = vec![];
        for e in &events {
            assert!(e.pts > last, "pts increasing");
            last = e.pts;
            if let Event::Message(m) = &e.event
                && m.conversation == group
            {
                seqs.push(m.seq);
            }
        }
        assert_eq!(seqs, (1..=1001).collect::<Vec<_>>());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_send_after_a_dropped_connection_is_stored_once() {
    let server = Server::start();
    let url = server.ws_url();
    let mut a = Raw::register(&url, "idem_a").await;
    let mut b = Raw::register(&url, "idem_b").await;
    let first = a
        .send_to_peer("idem_b", "only once", "retry-1")
        .await
        .expect("send");
    // The connection drops (say, before the client saw the reply); the client retries the same
    // client_id on a new connection.
    let mut a2 = a.reconnect(&url).await.expect("resume");
    drop(a);
    let again = a2
        .send_to_peer("idem_b", "only once", "retry-1")
        .await
        .expect("retry");
    assert_eq!(again.seq, first.seq);
    assert_eq!(again.conversation, first.conversation);
    assert!(again.duplicate);
    let again2 = a2
        .send_text(first.conversation, "only once", "retry-1")
        .await
        .expect("retry by id");
    assert_eq!(again2.seq, first.seq);
    let history = b.history(first.conversation).await.expect("history");
    assert_eq!(
        history
            .iter()
            .filter(|m| m.text.as_deref() == Some("only once"))
            .count(),
        1
    );
    assert_eq!(history.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_of_one_user_both_receive_and_see_each_others_sends() {
    let server = Server::start();
    let url = server.ws_url();
    let mut phone = Raw::register(&url, "multi_a").await;
    let mut friend = Raw::register(&url, "multi_b").await;
    let code = match phone
        .call(Request::CreateLinkCode)
        .await
        .expect("link code")
    {
        Response::LinkCode { code, .. } => code,
        other => panic!("{other:?}"),
    };
    let mut laptop = Raw::connect(&url, Encoding::MsgPack).await;
    let sig = laptop.sign();
    let r = laptop
        .call(Request::LinkDevice(LinkDevice {
            code: code.to_lowercase(),
            public_key: laptop.key.verifying_key().to_bytes().to_vec().into(),
            signature: sig,
            device_name: Some("laptop".into()),
        }))
        .await
        .expect("link");
    laptop.take_session(r);
    assert_eq!(laptop.user_id(), phone.user_id());
    // The code is single-use.
    let mut thief = Raw::connect(&url, Encoding::Json).await;
    let sig = thief.sign();
    let err = thief
        .call(Request::LinkDevice(LinkDevice {
            code: code.clone(),
            public_key: thief.key.verifying_key().to_bytes().to_vec().into(),
            signature: sig,
            device_name: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Unauthorized);

    let sent = friend
        .send_to_peer("multi_a", "to both devices", "f1")
        .await
        .unwrap();
    for dev in [&mut phone, &mut laptop] {
        let (pts, ev) = dev
            .wait_event(
                |e| matches!(e, Event::Message(m) if m.text.as_deref() == Some("to both devices")),
            )
            .await;
        assert!(pts.is_some());
        if let Event::Message(m) = ev {
            assert_eq!(m.seq, sent.seq);
        }
    }
    phone
        .send_text(sent.conversation, "from the phone", "p1")
        .await
        .unwrap();
    let (_, ev) = laptop
        .wait_event(
            |e| matches!(e, Event::Message(m) if m.text.as_deref() == Some("from the phone")),
        )
        .await;
    if let Event::Message(m) = ev {
        assert_eq!(m.sender_handle, "multi_a");
    }
    match phone.call(Request::Devices).await.unwrap() {
        Response::Devices(d) => {
            assert_eq!(d.len(), 2);
            assert_eq!(d.iter().filter(|d| d.current).count(), 1);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_typing_edits_and_reactions_reach_the_other_side() {
    let server = Server::start();
    let url = server.ws_url();
    let mut a = Raw::register(&url, "rcpt_a").await;
    let mut b = Raw::register(&url, "rcpt_b").await;
    let sent = a.send_to_peer("rcpt_b", "read me", "r1").await.unwrap();
    let conv = sent.conversation;
    b.wait_event(|e| matches!(e, Event::Message(m) if m.seq == sent.seq))
        .await;
    b.call(Request::Mark(Mark {
        conversation: conv,
        delivered: Some(sent.seq),
        read: Some(sent.seq),
    }))
    .await
    .unwrap();
    let (pts, ev) = a.wait_event(|e| matches!(e, Event::Receipt(_))).await;
    assert!(pts.is_some(), "receipts are feed events");
    match ev {
        Event::Receipt(r) => {
            assert_eq!(r.handle, "rcpt_b");
            assert_eq!(r.read_seq, sent.seq);
        }
        other => panic!("{other:?}"),
    }
    b.call(Request::Typing(ConversationRef { conversation: conv }))
        .await
        .unwrap();
    let (pts, _) = a
        .wait_event(|e| matches!(e, Event::Typing(t) if t.handle == "rcpt_b"))
        .await;
    assert!(pts.is_none(), "typing is ephemeral");

    a.call(Request::Edit(Edit {
        conversation: conv,
        seq: sent.seq,
        client_id: "e1".into(),
        text: Some("read me (edited)".into()),
        data: None,
    }))
    .await
    .unwrap();
    b.call(Request::React(React {
        conversation: conv,
        seq: sent.seq,
        client_id: "x1".into(),
        emoji: "👍".into(),
        remove: false,
    }))
    .await
    .unwrap();
    let err = b
        .call(Request::Edit(Edit {
            conversation: conv,
            seq: sent.seq,
            client_id: "e2".into(),
            text: Some("not mine".into()),
            data: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Forbidden);
    let history = b.history(conv).await.unwrap();
    let original = history.iter().find(|m| m.seq == sent.seq).unwrap();
    assert_eq!(original.text.as_deref(), Some("read me (edited)"));
    assert!(original.edited_at.is_some());
    assert_eq!(
        original.reactions,
        vec![ReactionCount {
            emoji: "👍".into(),
            count: 1
        }]
    );
    a.call(Request::Delete(MessageRef {
        conversation: conv,
        seq: sent.seq,
        client_id: "d1".into(),
    }))
    .await
    .unwrap();
    let history = b.history(conv).await.unwrap();
    let original = history.iter().find(|m| m.seq == sent.seq).unwrap();
    assert!(original.deleted);
    assert_eq!(original.text, None);
    match b
        .call(Request::Members(ConversationRef { conversation: conv }))
        .await
        .unwrap()
    {
        Response::Members(m) => {
            let me = m.iter().find(|m| m.user.handle == "rcpt_b").unwrap();
            // Reading moved the marker; reacting (a later entry of b's own) moved it further.
            assert!(me.read_seq > sent.seq, "{me:?}");
        }
        other => panic!("{other:?}"),
    }
}
