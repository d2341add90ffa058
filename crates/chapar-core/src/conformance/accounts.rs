//! Conformance cases. Accounts: sign-up, invites, sessions, devices and link codes.

use super::*;

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
    ok(s.create_invite(invite, 2, None).await, "invite");
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
    ok(
        s.create_invite(single, 1, Some(now_ms() + 60_000)).await,
        "invite",
    );
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
    // An expired invite is refused, however many uses it has left.
    let expired: SecretHash = fresh(3);
    ok(
        s.create_invite(expired, 5, Some(now_ms() - 1)).await,
        "expired invite",
    );
    let mut late = account("inv_late");
    late.invite_hash = Some(expired);
    expect(
        s.create_account(late).await,
        ErrorCode::Forbidden,
        "expired invite",
    );
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
    // Renaming: one's own device, with the name rules; not someone else's.
    ok(
        s.rename_device(&alice, phone.device, "  Alice's phone ")
            .await,
        "rename",
    );
    expect(
        s.rename_device(&alice, phone.device, "bad\u{202e}name")
            .await,
        ErrorCode::Invalid,
        "a direction override in a device name",
    );
    expect(
        s.rename_device(&bob, phone.device, "mine now").await,
        ErrorCode::NotFound,
        "renaming someone else's device",
    );
    let devices = ok(s.devices(&alice).await, "after renaming");
    assert!(
        devices
            .iter()
            .any(|d| d.id == phone.device && d.name == "Alice's phone"),
        "{devices:?}"
    );
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
