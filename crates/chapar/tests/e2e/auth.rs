//! Authorization: who may read, write and see members; removal; device revocation.

use crate::util::Server;
use crate::util::raw::Raw;
use chapar_proto::frame::*;
use chapar_proto::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outsiders_cannot_read_write_or_list_a_group() {
    let server = Server::start();
    let url = server.ws_url();
    let mut owner = Raw::register(&url, "authz_owner").await;
    let _member = Raw::register(&url, "authz_member").await;
    let mut outsider = Raw::register(&url, "authz_out").await;
    let group = owner.create_group("secret", &["authz_member"]).await;
    owner.send_text(group, "members only", "s1").await.unwrap();

    let e = outsider.history(group).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);
    let e = outsider
        .send_text(group, "let me in", "o1")
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);
    let e = outsider
        .call(Request::Members(ConversationRef {
            conversation: group,
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);
    let e = outsider
        .call(Request::AddMembers(AddMembers {
            conversation: group,
            handles: vec!["authz_out".into()],
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);
    // A conversation that does not exist looks the same as one the caller is not in.
    let e2 = outsider.history(ConversationId(987_654)).await.unwrap_err();
    assert_eq!(e2.code, e.code);
    // Nothing of the group reached the outsider's feed.
    let events = outsider.sync_all(0).await;
    assert!(
        events
            .iter()
            .all(|e| !matches!(&e.event, Event::Message(m) if m.conversation == group))
    );
    // Before sign-in, nothing at all.
    let mut anon = Raw::connect(&url, Encoding::Json).await;
    let e = anon.history(group).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Unauthorized);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_gets_nothing_sent_after_removal() {
    let server = Server::start();
    let url = server.ws_url();
    let mut owner = Raw::register(&url, "rm_owner").await;
    let mut gone = Raw::register(&url, "rm_gone").await;
    let group = owner.create_group("club", &["rm_gone"]).await;
    owner.send_text(group, "before", "b1").await.unwrap();
    let removal = match owner
        .call(Request::RemoveMember(MemberRef {
            conversation: group,
            handle: "rm_gone".into(),
        }))
        .await
        .unwrap()
    {
        Response::Sent(s) => s,
        other => panic!("{other:?}"),
    };
    owner.send_text(group, "after", "a1").await.unwrap();
    // Live: the removal notice arrives, nothing after it.
    gone.wait_event(|e| matches!(e, Event::Message(m) if m.seq == removal.seq))
        .await;
    owner.send_text(group, "after 2", "a2").await.unwrap();
    match gone.call(Request::Ping).await.unwrap() {
        Response::Pong { .. } => {}
        other => panic!("{other:?}"),
    }
    let later: Vec<_> = gone.pending.drain(..).collect();
    assert!(
        later.iter().all(|f| !matches!(f, ServerFrame::Event { event: Event::Message(m), .. } if m.seq > removal.seq)),
        "live events after removal: {later:?}"
    );
    // Sync: the removal is the last thing from that group.
    let events = gone.sync_all(0).await;
    let last = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::Message(m) if m.conversation == group => Some(m.seq),
            _ => None,
        })
        .max();
    assert_eq!(last, Some(removal.seq));
    assert_eq!(
        gone.history(group).await.unwrap_err().code,
        ErrorCode::Forbidden
    );
    assert_eq!(
        gone.send_text(group, "still here?", "g1")
            .await
            .unwrap_err()
            .code,
        ErrorCode::Forbidden
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_is_cut_off_at_once() {
    let server = Server::start();
    let url = server.ws_url();
    let mut phone = Raw::register(&url, "rev_a").await;
    let code = match phone.call(Request::CreateLinkCode).await.unwrap() {
        Response::LinkCode { code, .. } => code,
        other => panic!("{other:?}"),
    };
    let mut stolen = Raw::connect(&url, Encoding::Json).await;
    let sig = stolen.sign();
    let r = stolen
        .call(Request::LinkDevice(LinkDevice {
            code,
            public_key: stolen.key.verifying_key().to_bytes().to_vec().into(),
            signature: sig,
            device_name: Some("stolen".into()),
        }))
        .await
        .unwrap();
    stolen.take_session(r);
    let device = stolen.session.as_ref().unwrap().device_id;
    phone
        .call(Request::RevokeDevice(RevokeDevice { device_id: device }))
        .await
        .unwrap();
    let control = stolen.wait_close().await;
    assert_eq!(control.map(|c| c.reason), Some("revoked".to_string()));
    // Its token no longer works, and neither does its key.
    let e = stolen.reconnect(&url).await.err().expect("token refused");
    assert_eq!(e.code, ErrorCode::Unauthorized);
    let mut again = Raw::connect(&url, Encoding::Json).await;
    again.key = stolen.key.clone();
    let sig = again.sign();
    let e = again
        .call(Request::Login(Login {
            public_key: again.key.verifying_key().to_bytes().to_vec().into(),
            signature: sig,
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Unauthorized);
    // The phone is unaffected.
    assert!(matches!(
        phone.call(Request::Ping).await,
        Ok(Response::Pong { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_for_another_challenge_is_refused() {
    let server = Server::start();
    let url = server.ws_url();
    let mut a = Raw::connect(&url, Encoding::Json).await;
    let b = Raw::connect(&url, Encoding::Json).await;
    let replayed = b.sign(); // signed over b's challenge
    let e = a
        .call(Request::Register(Register {
            handle: "replay".into(),
            display_name: None,
            public_key: b.key.verifying_key().to_bytes().to_vec().into(),
            signature: replayed,
            device_name: None,
            invite_code: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Unauthorized);
}
