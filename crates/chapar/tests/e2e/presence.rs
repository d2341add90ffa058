//! Presence through the real binary: a watched person's coming and going reaches the watcher
//! at once, as their "last seen" setting allows, and nobody else hears of it.

use crate::util::Server;
use crate::util::raw::Raw;
use chapar_proto::frame::{Request, ServerFrame, UserQuery};
use chapar_proto::{
    Audience, ErrorCode, Event, PresenceInfo, Response, SetPrivacy, UserId, WatchPresence,
};

pub(crate) async fn watch(raw: &mut Raw, users: &[UserId]) -> Vec<PresenceInfo> {
    let request = Request::WatchPresence(WatchPresence {
        users: users.to_vec(),
    });
    match raw.call(request).await.expect("watch_presence") {
        Response::Presence(p) => p,
        other => panic!("expected presence, got {other:?}"),
    }
}

pub(crate) async fn next_presence(raw: &mut Raw, user: UserId) -> PresenceInfo {
    match raw
        .wait_event(|e| matches!(e, Event::Presence(p) if p.user == user))
        .await
    {
        (None, Event::Presence(p)) => p,
        other => panic!("presence is ephemeral: {other:?}"),
    }
}

async fn set_last_seen(raw: &mut Raw, audience: Audience) {
    let change = SetPrivacy {
        last_seen: Some(audience),
        ..SetPrivacy::default()
    };
    raw.call(Request::SetPrivacy(change))
        .await
        .expect("set privacy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_follows_a_person_as_their_setting_allows() {
    let server = Server::start();
    let url = server.ws_url();
    let mut ana = Raw::register(&url, "ana").await;
    let bob = Raw::register(&url, "bob").await;
    let mut carol = Raw::register(&url, "carol").await;
    let bob_id = bob.user_id();

    let now = watch(&mut ana, &[bob_id]).await;
    assert_eq!(now.len(), 1);
    assert!(now[0].online, "bob is connected: {now:?}");

    // Bob closes his only connection: ana hears he left, with the time.
    let before = now_ms();
    let (key, token) = (bob.key.clone(), bob.token.clone());
    drop(bob);
    let left = next_presence(&mut ana, bob_id).await;
    assert!(!left.online);
    assert!(left.last_seen.is_some_and(|t| t >= before), "{left:?}");
    let now = watch(&mut ana, &[bob_id]).await;
    assert_eq!(
        now[0].last_seen, left.last_seen,
        "the same time when asked again"
    );

    // He comes back on a new connection: online again.
    let mut shell = Raw::connect(&url, chapar_proto::Encoding::Json).await;
    (shell.key, shell.token) = (key, token);
    let mut bob = shell.reconnect(&url).await.expect("bob resumes");
    drop(shell);
    let back = next_presence(&mut ana, bob_id).await;
    assert!(back.online, "{back:?}");

    // Bob hides his last seen: ana's watch ends with a "nothing to show", and watching again
    // shows nothing.
    set_last_seen(&mut bob, Audience::Nobody).await;
    let reset = next_presence(&mut ana, bob_id).await;
    assert_eq!((reset.online, reset.last_seen), (false, None));
    assert!(watch(&mut ana, &[bob_id]).await.is_empty());

    // Contacts only: ana sees it once bob adds her.
    set_last_seen(&mut bob, Audience::Contacts).await;
    assert!(watch(&mut ana, &[bob_id]).await.is_empty());
    bob.call(Request::AddContact(UserQuery {
        handle: "ana".into(),
    }))
    .await
    .expect("add contact");
    assert_eq!(watch(&mut ana, &[bob_id]).await.len(), 1);

    // Too many at once is refused, and changes nothing.
    let many: Vec<UserId> = (1..=51).map(UserId).collect();
    let refused = ana
        .call(Request::WatchPresence(WatchPresence { users: many }))
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::Invalid);

    // Carol watches nobody: up to a later message, she heard nothing of bob's comings and goings.
    bob.send_to_peer("carol", "later", "b1").await.unwrap();
    loop {
        match carol.next_frame().await {
            Some(ServerFrame::Event {
                event: Event::Presence(p),
                ..
            }) => panic!("carol was told {p:?}"),
            Some(ServerFrame::Event {
                event: Event::Message(m),
                ..
            }) if m.text.as_deref() == Some("later") => break,
            Some(_) => continue,
            None => panic!("carol's connection closed"),
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
