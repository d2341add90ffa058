//! Safety through the real binary: blocking, privacy settings and group invitations, reports
//! handled by an operator who suspends an account (its live connection closes at once), the
//! audit log, and the lower send rate of new accounts.

use crate::util::raw::Raw;
use crate::util::{BIN, Server, json_lines};
use chapar_proto::frame::{ConversationRef, Login, Request, ServerFrame, UserQuery};
use chapar_proto::{
    AdminReports, Audience, ErrorCode, Event, FileReport, ReportReason, Response, SetPrivacy,
    Setting, SettingsChanged,
};

fn who(handle: &str) -> UserQuery {
    UserQuery {
        handle: handle.into(),
    }
}

async fn ok(raw: &mut Raw, request: Request) -> Response {
    let method = request.method();
    raw.call(request)
        .await
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

/// Wait for a pushed message with this text.
async fn wait_text(raw: &mut Raw, text: &str) {
    raw.wait_event(|e| matches!(e, Event::Message(m) if m.text.as_deref() == Some(text)))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safety_blocking_stops_messages_both_ways_until_unblocked() {
    let server = Server::start();
    let mut ana = Raw::register(&server.ws_url(), "ana").await;
    let mut bob = Raw::register(&server.ws_url(), "bob").await;
    let first = bob.send_to_peer("ana", "hello ana", "b1").await.unwrap();
    wait_text(&mut ana, "hello ana").await;

    ok(&mut ana, Request::Block(who("bob"))).await;
    match ok(&mut ana, Request::Blocked).await {
        Response::Users(u) => assert_eq!(
            u.iter().map(|u| u.handle.as_str()).collect::<Vec<_>>(),
            ["bob"]
        ),
        other => panic!("expected users, got {other:?}"),
    }
    let refused = bob.send_to_peer("ana", "are you there?", "b2").await;
    assert_eq!(refused.unwrap_err().code, ErrorCode::Forbidden);
    let refused = bob
        .send_text(first.conversation, "by id then", "b3")
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::Forbidden);
    // The one who blocks cannot write either (no one-sided conversation).
    let own = ana.send_to_peer("bob", "bye", "a1").await.unwrap_err();
    assert_eq!(own.code, ErrorCode::Forbidden);

    ok(&mut ana, Request::Unblock(who("bob"))).await;
    bob.send_to_peer("ana", "back again", "b4").await.unwrap();
    // The message after the unblock arrives; the refused ones were never stored.
    wait_text(&mut ana, "back again").await;
    let texts: Vec<String> = ana
        .history(first.conversation)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|m| m.text)
        .collect();
    assert_eq!(texts, ["hello ana", "back again"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safety_privacy_settings_turn_group_adds_into_invitations() {
    let server = Server::start();
    let mut ana = Raw::register(&server.ws_url(), "ana").await;
    let mut cara = Raw::register(&server.ws_url(), "cara").await;
    let set = SetPrivacy {
        messages: Some(Audience::Contacts),
        groups: Some(Audience::Contacts),
        last_seen: None,
        findable: None,
    };
    match ok(&mut cara, Request::SetPrivacy(set)).await {
        Response::Privacy(p) => {
            assert_eq!(p.messages, Audience::Contacts);
            assert_eq!(p.groups, Audience::Contacts);
            assert_eq!(p.last_seen, Audience::Everybody);
        }
        other => panic!("expected privacy, got {other:?}"),
    }
    // Ana is not one of Cara's contacts: no new chat, and a group add becomes an invitation.
    let refused = ana.send_to_peer("cara", "hi", "a1").await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::Forbidden);
    let group = ana.create_group("readers", &["cara"]).await;
    let (_, invited) = cara.wait_event(|e| matches!(e, Event::Invitation(_))).await;
    let Event::Invitation(invitation) = invited else {
        unreachable!()
    };
    assert_eq!(invitation.conversation, group);
    assert_eq!(invitation.title, "readers");
    assert_eq!(invitation.inviter.handle, "ana");
    // Not a member until she accepts.
    let before = cara.history(group).await.unwrap_err();
    assert!(
        matches!(before.code, ErrorCode::Forbidden | ErrorCode::NotFound),
        "{before:?}"
    );
    match ok(&mut cara, Request::Invitations).await {
        Response::Invitations(list) => assert_eq!(list.len(), 1),
        other => panic!("expected invitations, got {other:?}"),
    }
    let accepted = ok(
        &mut cara,
        Request::AcceptInvitation(ConversationRef {
            conversation: group,
        }),
    )
    .await;
    assert!(matches!(accepted, Response::Conversation(c) if c.id == group));
    ana.send_text(group, "welcome cara", "a2").await.unwrap();
    wait_text(&mut cara, "welcome cara").await;
    match ok(&mut cara, Request::Invitations).await {
        Response::Invitations(list) => assert!(list.is_empty(), "{list:?}"),
        other => panic!("expected invitations, got {other:?}"),
    }

    // Once Ana is a contact, she may start a direct chat.
    ok(&mut cara, Request::AddContact(who("ana"))).await;
    ana.send_to_peer("cara", "now?", "a3").await.unwrap();
    wait_text(&mut cara, "now?").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safety_reports_reach_an_operator_whose_suspension_closes_the_account_at_once() {
    let server = Server::start();
    let oper = server.profile("oper");
    let victim = server.profile("victim");
    server.cli_ok(&oper, &["register", "oper"]);
    server.cli_ok(&victim, &["register", "victim"]);
    let mut spammer = Raw::register(&server.ws_url(), "spammer").await;
    let spam = spammer
        .send_to_peer("victim", "buy cheap followers", "s1")
        .await
        .unwrap();

    // The victim reports the message from the terminal client.
    let conv = spam.conversation.0.to_string();
    let seq = spam.seq.to_string();
    let out = server.cli_ok(
        &victim,
        &[
            "--json",
            "report",
            &conv,
            &seq,
            "--reason",
            "spam",
            "--comment",
            "not asked for",
        ],
    );
    let report_id = json_lines(&out)[0]["id"].as_u64().expect("report id");

    // Not an operator yet: refused.
    let refused = server.cli(&oper, &["admin", "reports"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("operator"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // The server's operator makes the account an operator on the node's machine.
    let granted = std::process::Command::new(BIN)
        .args(["admin", "grant", "oper", "--data"])
        .arg(server.data())
        .env_remove("CHAPAR_CONFIG")
        .output()
        .expect("chapar admin grant");
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );

    let reports = json_lines(&server.cli_ok(&oper, &["--json", "admin", "reports"]));
    assert_eq!(reports.len(), 1, "{reports:?}");
    let r = &reports[0];
    assert_eq!(r["id"].as_u64(), Some(report_id));
    assert_eq!(r["reporter"], "victim");
    assert_eq!(r["user"], "spammer");
    assert_eq!(r["reason"], "spam");
    assert_eq!(r["text"], "buy cheap followers");
    assert_eq!(r["comment"], "not asked for");

    // The suspension closes the spammer's open connection with a `suspended` control frame.
    server.cli_ok(&oper, &["admin", "suspend", "spammer", "spam to strangers"]);
    let control = spammer.wait_close().await.expect("a control frame");
    assert_eq!(control.reason, "suspended");
    // Neither the old session nor the device key signs in again.
    let again = spammer.reconnect(&server.ws_url()).await.err().expect("no");
    assert_eq!(again.code, ErrorCode::Unauthorized);
    let mut fresh = Raw::connect(&server.ws_url(), chapar_proto::Encoding::Json).await;
    fresh.key = spammer.key.clone();
    let login = Request::Login(Login {
        public_key: spammer.key.verifying_key().to_bytes().to_vec().into(),
        signature: fresh.sign(),
    });
    let refused = fresh.call(login).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::Forbidden, "{refused:?}");
    assert!(refused.message.contains("suspended"), "{}", refused.message);

    // The operator deletes the message for everyone and resolves the report.
    server.cli_ok(&oper, &["admin", "delete", &conv, &seq, "--reason", "spam"]);
    server.cli_ok(
        &oper,
        &["admin", "resolve", &report_id.to_string(), "suspended"],
    );
    let history = json_lines(&server.cli_ok(&victim, &["--json", "history", &conv]));
    assert!(
        history
            .iter()
            .all(|m| m["text"].as_str() != Some("buy cheap followers")),
        "the deleted text is still shown: {history:?}"
    );
    assert!(json_lines(&server.cli_ok(&oper, &["--json", "admin", "reports"])).is_empty());

    // Every operator action is in the audit log, newest first.
    let audit = json_lines(&server.cli_ok(&oper, &["--json", "admin", "audit"]));
    let actions: Vec<&str> = audit.iter().filter_map(|a| a["action"].as_str()).collect();
    assert_eq!(
        actions,
        [
            "resolve_report",
            "delete_message",
            "suspend",
            "grant_operator"
        ]
    );
    assert_eq!(audit[2]["operator"], "oper");
    assert_eq!(audit[3]["operator"], serde_json::Value::Null);

    // A person who is not an operator cannot read reports over the protocol either.
    let mut nosy = Raw::register(&server.ws_url(), "nosy").await;
    let denied = nosy
        .call(Request::AdminReports(AdminReports {
            all: true,
            limit: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(denied.code, ErrorCode::Forbidden);
    // Reports need a reason the server knows and a target.
    let bad = nosy
        .call(Request::Report(FileReport {
            conversation: None,
            seq: None,
            handle: None,
            reason: ReportReason::Other,
            comment: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(bad.code, ErrorCode::Invalid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safety_new_accounts_send_at_a_lower_rate() {
    let server = Server::start_with(&[
        ("CHAPAR_LIMITS__NEW_ACCOUNT_HOURS", "24"),
        ("CHAPAR_RATE_LIMITS__SEND_NEW_ACCOUNT__PER_MINUTE", "6"),
        ("CHAPAR_RATE_LIMITS__SEND_NEW_ACCOUNT__BURST", "3"),
    ]);
    let mut fresh = Raw::register(&server.ws_url(), "fresh").await;
    let mut friend = Raw::register(&server.ws_url(), "friend").await;
    let sent = fresh.send_to_peer("friend", "m0", "f0").await.unwrap();
    for i in 1..3 {
        fresh
            .send_text(sent.conversation, &format!("m{i}"), &format!("f{i}"))
            .await
            .unwrap();
    }
    let limited = fresh
        .send_text(sent.conversation, "m3", "f3")
        .await
        .unwrap_err();
    assert_eq!(limited.code, ErrorCode::RateLimited);
    assert!(limited.retry_after_ms.is_some_and(|ms| ms > 0));
    // The friend's sends are counted apart.
    friend
        .send_text(sent.conversation, "hi fresh", "x0")
        .await
        .unwrap();
    wait_text(&mut fresh, "hi fresh").await;
}

/// Wait for the ephemeral note that `what` changed.
async fn wait_changed(raw: &mut Raw, what: Setting) {
    let (pts, _) = raw
        .wait_event(|e| matches!(e, Event::SettingsChanged(c) if c.what == what))
        .await;
    assert_eq!(pts, None, "settings_changed is ephemeral");
}

/// What one of a person's devices changes (blocks, contacts, privacy, an invitation answered)
/// reaches their other devices at once, which read the new state; no one else hears of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safety_changes_reach_the_persons_other_devices_at_once() {
    let server = Server::start();
    let url = server.ws_url();
    let mut phone = Raw::register(&url, "sara").await;
    let mut laptop = phone.link_device(&url, "laptop").await;
    let mut bob = Raw::register(&url, "bob").await;

    ok(&mut phone, Request::Block(who("bob"))).await;
    wait_changed(&mut laptop, Setting::Blocked).await;
    match ok(&mut laptop, Request::Blocked).await {
        Response::Users(u) => assert_eq!(u.len(), 1, "the laptop reads the new list: {u:?}"),
        other => panic!("expected users, got {other:?}"),
    }
    ok(&mut phone, Request::Unblock(who("bob"))).await;
    wait_changed(&mut laptop, Setting::Blocked).await;

    ok(&mut phone, Request::AddContact(who("bob"))).await;
    wait_changed(&mut laptop, Setting::Contacts).await;

    let nobody = SetPrivacy {
        groups: Some(Audience::Nobody),
        ..SetPrivacy::default()
    };
    ok(&mut phone, Request::SetPrivacy(nobody)).await;
    wait_changed(&mut laptop, Setting::Privacy).await;
    match ok(&mut laptop, Request::Privacy).await {
        Response::Privacy(p) => assert_eq!(p.groups, Audience::Nobody),
        other => panic!("expected privacy, got {other:?}"),
    }

    // Bob invites sara; her phone declines; her laptop hears the list changed.
    let group = bob.create_group("books", &["sara"]).await;
    laptop
        .wait_event(|e| matches!(e, Event::Invitation(i) if i.conversation == group))
        .await;
    ok(
        &mut phone,
        Request::DeclineInvitation(ConversationRef {
            conversation: group,
        }),
    )
    .await;
    wait_changed(&mut laptop, Setting::Invitations).await;
    match ok(&mut laptop, Request::Invitations).await {
        Response::Invitations(list) => assert!(list.is_empty(), "declined: {list:?}"),
        other => panic!("expected invitations, got {other:?}"),
    }

    // Bob heard none of it: up to a later message from sara, no settings_changed reached him.
    phone.send_to_peer("bob", "later", "s1").await.unwrap();
    loop {
        match bob.next_frame().await {
            Some(ServerFrame::Event {
                event: Event::SettingsChanged(SettingsChanged { what }),
                ..
            }) => panic!("bob was told sara's {what:?} changed"),
            Some(ServerFrame::Event {
                event: Event::Message(m),
                ..
            }) if m.text.as_deref() == Some("later") => break,
            Some(_) => continue,
            None => panic!("bob's connection closed"),
        }
    }
}

/// Looking people up is budgeted per account, against walking the directory: `find_people`,
/// `user` and `profile` share one limiter; the refusal says when to come back, and another
/// account is not held back by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safety_finding_people_is_rate_limited_per_account() {
    use chapar_proto::FindPeople;
    let server = Server::start_with(&[
        ("CHAPAR_RATE_LIMITS__LOOKUPS_PER_ACCOUNT__PER_MINUTE", "60"),
        ("CHAPAR_RATE_LIMITS__LOOKUPS_PER_ACCOUNT__BURST", "5"),
    ]);
    let url = server.ws_url();
    let mut crawler = Raw::register(&url, "crawler").await;
    let mut other = Raw::register(&url, "other").await;
    let _parvin = Raw::register(&url, "parvin").await;
    let find = |q: &str| {
        Request::FindPeople(FindPeople {
            query: q.into(),
            limit: None,
        })
    };
    match ok(&mut crawler, find("par")).await {
        Response::Users(u) => assert_eq!(
            u.iter().map(|u| u.handle.as_str()).collect::<Vec<_>>(),
            ["parvin"]
        ),
        other => panic!("expected users, got {other:?}"),
    }
    for q in ["aa", "ab", "ac"] {
        ok(&mut crawler, find(q)).await;
    }
    ok(&mut crawler, Request::User(who("parvin"))).await;
    let refused = crawler.call(find("ad")).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::RateLimited, "{refused}");
    assert!(refused.retry_after_ms.is_some());
    // An exact lookup shares the budget.
    let refused = crawler
        .call(Request::User(who("parvin")))
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::RateLimited);
    ok(&mut other, find("par")).await;
}
