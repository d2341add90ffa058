//! The account survives losing every device: a recovery code from sign-up signs in a new
//! device (`chapar recover`), optionally revoking the lost ones at once; a new code replaces the
//! old one. Profiles: a changed name and bio are seen by others.

use crate::util::{Server, json_lines};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_a_lost_phone_is_replaced_with_the_recovery_code() {
    let server = Server::start();
    let phone = server.profile("phone");
    let bob = server.profile("bob");
    let out = json_lines(&server.cli_ok(&phone, &["--json", "register", "sara"]));
    let code = out[0]["recovery_code"]
        .as_str()
        .expect("sign-up prints a recovery code")
        .to_string();
    server.cli_ok(&bob, &["register", "bob"]);
    server.cli_ok(&bob, &["send", "@sara", "before the phone was lost"]);
    let me = json_lines(&server.cli_ok(&phone, &["--json", "me"]));
    assert_eq!(me[0]["recovery_key_set"], true);

    // A wrong or mistyped code opens nothing, and says which it was.
    let laptop = server.profile("laptop");
    let typo = {
        let mut c: Vec<char> = code.chars().collect();
        c[0] = if c[0] == 'A' { 'B' } else { 'A' };
        c.into_iter().collect::<String>()
    };
    let refused = server.cli(&laptop, &["recover", "@sara", &typo]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("typo"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let other = chapar_sdk::RecoveryKey::generate().to_code();
    let refused = server.cli(&laptop, &["recover", "@sara", &other]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("does not open"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // The phone is gone: recover on the laptop (typed loosely) and revoke the phone.
    let typed = code.to_lowercase().replace('-', " ");
    let out = json_lines(&server.cli_ok(
        &laptop,
        &["--json", "recover", "sara", &typed, "--revoke-others"],
    ));
    assert_eq!(out[0]["handle"], "sara");
    let history = json_lines(&server.cli_ok(&laptop, &["--json", "history", "@bob"]));
    assert!(
        history
            .iter()
            .any(|m| m["text"] == "before the phone was lost"),
        "{history:?}"
    );
    let devices = json_lines(&server.cli_ok(&laptop, &["--json", "devices"]));
    assert_eq!(
        devices.iter().filter(|d| d["revoked"] == false).count(),
        1,
        "{devices:?}"
    );
    let lost = server.cli(&phone, &["conversations"]);
    assert!(!lost.status.success(), "the lost phone still signs in");

    // A new code replaces the old one.
    let fresh = json_lines(&server.cli_ok(&laptop, &["--json", "recovery-key"]));
    let new_code = fresh[0]["recovery_code"].as_str().unwrap().to_string();
    let tablet = server.profile("tablet");
    let refused = server.cli(&tablet, &["recover", "@sara", &code]);
    assert!(!refused.status.success(), "the replaced code still works");
    server.cli_ok(&tablet, &["recover", "@sara", &new_code]);
    // Without --revoke-others the laptop stays.
    server.cli_ok(&laptop, &["conversations"]);
    let me = json_lines(&server.cli_ok(&tablet, &["--json", "me"]));
    assert_eq!(me[0]["devices"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_profiles_change_and_others_see_them() {
    let server = Server::start();
    let ana = server.profile("ana");
    let bob = server.profile("bob");
    server.cli_ok(&ana, &["register", "ana"]);
    server.cli_ok(&bob, &["register", "bob"]);
    server.cli_ok(
        &ana,
        &[
            "set-profile",
            "--name",
            "Ana Rahimi",
            "--bio",
            "نقاش و عکاس",
        ],
    );
    let seen = json_lines(&server.cli_ok(&bob, &["--json", "profile", "@ana"]));
    assert_eq!(seen[0]["display_name"], "Ana Rahimi");
    assert_eq!(seen[0]["bio"], "نقاش و عکاس");
    // Bad input is refused and changes nothing.
    let bad = server.cli(&ana, &["set-profile", "--name", "evil\u{202e}gnp"]);
    assert!(!bad.status.success());
    let seen = json_lines(&server.cli_ok(&bob, &["--json", "profile", "@ana"]));
    assert_eq!(seen[0]["display_name"], "Ana Rahimi");
}
