//! Conformance cases. The account itself: recovery keys and profiles.

use super::*;
use crate::store::{NewRecovery, Recovered};
use chapar_proto::SetProfile;

fn recovery(handle: &str, key: &[u8], revoke_others: bool) -> (NewRecovery, SecretHash) {
    let token = fresh(2);
    let r = NewRecovery {
        handle: handle.to_string(),
        recovery_key: key.to_vec(),
        public_key: fresh(1).to_vec(),
        device_name: "new phone".into(),
        token_hash: token,
        revoke_others,
    };
    (r, token)
}

pub async fn a_recovery_key_brings_the_account_back<S: Store>(s: S) {
    let sara = signup(&s, "sara").await;
    let other = signup(&s, "other").await;
    let key = fresh(7);
    // No key yet: nothing opens the account, with the same answer as for a wrong handle.
    let (r, _) = recovery("sara", &key, false);
    expect(s.recover(r).await, ErrorCode::Unauthorized, "no key set");
    assert!(!ok(s.me(&sara).await, "me").recovery_key_set);

    // A device's key cannot be a recovery key; a wrong length is invalid.
    expect(
        s.set_recovery_key(&sara, Some(vec![1; 5])).await,
        ErrorCode::Invalid,
        "a short key",
    );
    ok(s.set_recovery_key(&sara, Some(key.to_vec())).await, "set");
    let me = ok(s.me(&sara).await, "me");
    assert!(me.recovery_key_set);
    assert_eq!(me.devices, 1);

    // Another account's handle, or another key: the same refusal.
    let (r, _) = recovery("other", &key, false);
    expect(
        s.recover(r).await,
        ErrorCode::Unauthorized,
        "other's handle",
    );
    let (r, _) = recovery("sara", &fresh(7), false);
    expect(s.recover(r).await, ErrorCode::Unauthorized, "a wrong key");
    let (r, _) = recovery("no_such_one", &key, false);
    expect(
        s.recover(r).await,
        ErrorCode::Unauthorized,
        "a missing handle",
    );

    // Recovering keeps the other devices unless asked.
    let (r, token) = recovery("sara", &key, false);
    let Recovered { principal, revoked } = ok(s.recover(r).await, "recover");
    assert_eq!(principal.user.id, sara.user.id);
    assert!(revoked.is_empty());
    assert_eq!(
        ok(s.session(token).await, "session").map(|p| p.device),
        Some(principal.device)
    );
    assert_eq!(ok(s.me(&sara).await, "me").devices, 2);

    // Lost phone: recover again and revoke every other device; their sessions end.
    let (r, token) = recovery("sara", &key, true);
    let back = ok(s.recover(r).await, "recover and revoke");
    let mut gone = back.revoked.clone();
    gone.sort();
    let mut want = vec![sara.device, principal.device];
    want.sort();
    assert_eq!(gone, want);
    assert!(ok(s.session(token).await, "new session").is_some());
    let devices = ok(s.devices(&back.principal).await, "devices");
    assert_eq!(devices.iter().filter(|d| !d.revoked).count(), 1);
    expect(
        s.create_link_code(&sara, fresh(3), now_ms() + 60_000).await,
        ErrorCode::Unauthorized,
        "an old device after the revocation",
    );

    // A new recovery key replaces the old one.
    let newer = fresh(7);
    ok(
        s.set_recovery_key(&back.principal, Some(newer.to_vec()))
            .await,
        "replace",
    );
    let (r, _) = recovery("sara", &key, false);
    expect(
        s.recover(r).await,
        ErrorCode::Unauthorized,
        "the replaced key",
    );
    let (r, _) = recovery("sara", &newer, false);
    ok(s.recover(r).await, "the new key");
    // Someone else's recovery is theirs alone.
    assert!(!ok(s.me(&other).await, "other's me").recovery_key_set);
}

pub async fn profiles_change_and_others_see_them<S: Store>(s: S) {
    let ana = signup(&s, "ana").await;
    let bob = signup(&s, "bob").await;
    let sent = ok(
        s.execute(&ana, text_cmd(Target::Peer("bob".into()), "a1", "hello"))
            .await,
        "ana writes to bob",
    );
    let created = ok(
        s.execute(
            &ana,
            Command::CreateGroup {
                title: "studio".into(),
                members: vec!["bob".into()],
                client_id: "g1".into(),
            },
        )
        .await,
        "a group with bob",
    );
    let me = ok(
        s.set_profile(
            &ana,
            SetProfile {
                display_name: Some("  Ana Rahimi ".into()),
                bio: Some("نقاش و عکاس".into()),
            },
        )
        .await,
        "set profile",
    );
    assert_eq!(me.user.display_name, "Ana Rahimi");
    assert_eq!(me.bio, "نقاش و عکاس");
    let seen = ok(s.profile(&bob, "ana").await, "bob reads ana's profile");
    assert_eq!(seen.user.display_name, "Ana Rahimi");
    assert_eq!(seen.bio, "نقاش و عکاس");
    assert_eq!(
        ok(s.user_by_handle("ana").await, "lookup").display_name,
        "Ana Rahimi"
    );
    // Messages read back carry the sender's name as it is now; system entries name the people
    // they are about as they were then.
    let direct = all_history(&s, &bob, sent.conversation).await;
    assert_eq!(
        (direct[0].text.as_deref(), direct[0].sender_name.as_str()),
        (Some("hello"), "Ana Rahimi")
    );
    let listed = ok(s.conversations(&bob, 10).await, "bob's list");
    assert!(
        listed
            .iter()
            .filter_map(|c| c.last_message.as_ref())
            .all(|m| m.sender_name == "Ana Rahimi"),
        "list previews name the sender: {listed:?}"
    );
    let group = all_history(&s, &bob, created.conversation).await;
    let system = group[0].system.as_ref().expect("the created entry");
    assert_eq!(
        (system.handles.clone(), system.names.clone()),
        (vec!["bob".to_string()], vec!["bob name".to_string()])
    );
    // Only what is given changes; an empty bio clears it.
    let me = ok(
        s.set_profile(
            &ana,
            SetProfile {
                display_name: None,
                bio: Some(" ".into()),
            },
        )
        .await,
        "clear bio",
    );
    assert_eq!(
        (me.user.display_name.as_str(), me.bio.as_str()),
        ("Ana Rahimi", "")
    );
    // Bad input changes nothing.
    expect(
        s.set_profile(
            &ana,
            SetProfile {
                display_name: Some("evil\u{202e}gnp".into()),
                bio: None,
            },
        )
        .await,
        ErrorCode::Invalid,
        "a direction override in a name",
    );
    expect(
        s.set_profile(
            &ana,
            SetProfile {
                display_name: None,
                bio: Some("x".repeat(141)),
            },
        )
        .await,
        ErrorCode::TooLarge,
        "a long bio",
    );
    expect(
        s.set_profile(
            &ana,
            SetProfile {
                display_name: Some(String::new()),
                bio: None,
            },
        )
        .await,
        ErrorCode::Invalid,
        "an empty name",
    );
    assert_eq!(ok(s.me(&ana).await, "me").user.display_name, "Ana Rahimi");
    expect(
        s.profile(&bob, "nobody_here").await,
        ErrorCode::NotFound,
        "a missing profile",
    );
}
