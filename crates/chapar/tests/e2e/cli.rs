//! The terminal client against the real server: offline delivery through `sync`, groups,
//! history paging, `--json` output, devices, and errors on stderr with a non-zero exit.

use crate::util::{Server, json_lines};

#[test]
fn offline_messages_arrive_exactly_once_on_the_next_sync() {
    let server = Server::start();
    let (sara, bob) = (server.profile("sara"), server.profile("bob"));
    server.cli_ok(&sara, &["register", "sara", "--name", "Sara"]);
    server.cli_ok(&bob, &["register", "bob", "--name", "Bob"]);
    // Bob is not connected (every CLI command is its own connection): Sara sends.
    let sent =
        json_lines(&server.cli_ok(&sara, &["--json", "send", "@bob", "salam, are you there?"]));
    assert_eq!(sent.len(), 1);
    let conv = sent[0]["conversation"].as_i64().expect("conversation id");
    assert_eq!(sent[0]["seq"], 1);
    server.cli_ok(&sara, &["send", &conv.to_string(), "second one"]);

    let got = json_lines(&server.cli_ok(&bob, &["--json", "sync"]));
    let messages: Vec<_> = got.iter().filter(|e| e["type"] == "message").collect();
    assert_eq!(messages.len(), 2, "{got:?}");
    assert_eq!(messages[0]["text"], "salam, are you there?");
    assert_eq!(messages[0]["sender"], "sara");
    assert_eq!(messages[0]["conversation"], conv);
    assert_eq!(messages[0]["seq"], 1);
    assert!(messages[0]["server_time"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(messages[1]["seq"], 2);
    // The cursor moved: nothing new, nothing twice.
    let again = json_lines(&server.cli_ok(&bob, &["--json", "sync"]));
    assert!(again.iter().all(|e| e["type"] != "message"), "{again:?}");
    // Human output names the sender and the text.
    server.cli_ok(&sara, &["send", "@bob", "third"]);
    let text = server.cli_ok(&bob, &["sync"]);
    assert!(text.contains("@sara") && text.contains("third"), "{text}");
}

#[test]
fn groups_history_and_unread_counts_from_the_terminal() {
    let server = Server::start();
    let (a, b, c) = (
        server.profile("a"),
        server.profile("b"),
        server.profile("c"),
    );
    for (p, h) in [(&a, "gina"), (&b, "hamid"), (&c, "ida")] {
        server.cli_ok(p, &["register", h]);
    }
    let created =
        json_lines(&server.cli_ok(&a, &["--json", "group", "create", "book club", "@hamid"]));
    let conv = created[0]["conversation"]
        .as_i64()
        .expect("conversation id")
        .to_string();
    for i in 1..=5 {
        server.cli_ok(&a, &["send", &conv, &format!("chapter {i}")]);
    }
    let convs = json_lines(&server.cli_ok(&b, &["--json", "conversations"]));
    let club = convs
        .iter()
        .find(|c| c["title"] == "book club")
        .expect("group listed");
    assert_eq!(club["unread"], 5);

    let page = json_lines(&server.cli_ok(&b, &["--json", "history", &conv, "--limit", "2"]));
    let seqs: Vec<i64> = page.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, vec![5, 6]);
    let older = json_lines(&server.cli_ok(
        &b,
        &["--json", "history", &conv, "--limit", "2", "--before", "5"],
    ));
    let seqs: Vec<i64> = older.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, vec![3, 4]);

    // An outsider is refused with a clear message and a non-zero exit code.
    let out = server.cli(&c, &["history", &conv]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("forbidden"), "{err}");
    assert!(out.stdout.is_empty());

    server.cli_ok(&a, &["group", "add", &conv, "@ida"]);
    server.cli_ok(&a, &["group", "rename", &conv, "reading circle"]);
    server.cli_ok(&a, &["group", "remove", &conv, "@hamid"]);
    let out = server.cli(&b, &["send", &conv, "wait, I am still here"]);
    assert!(!out.status.success());
    server.cli_ok(&c, &["group", "leave", &conv]);
    let members = json_lines(&server.cli_ok(&a, &["--json", "members", &conv]));
    assert_eq!(members.len(), 1);
    let convs = json_lines(&server.cli_ok(&a, &["--json", "conversations"]));
    assert!(convs.iter().any(|c| c["title"] == "reading circle"));
}

#[test]
fn a_linked_device_sees_the_same_conversations_and_can_be_revoked() {
    let server = Server::start();
    let (phone, laptop, friend) = (
        server.profile("phone"),
        server.profile("laptop"),
        server.profile("friend"),
    );
    server.cli_ok(&phone, &["register", "nasrin"]);
    server.cli_ok(&friend, &["register", "omid"]);
    server.cli_ok(&friend, &["send", "@nasrin", "hi on every device"]);
    let link = server.cli_ok(&phone, &["--json", "device", "link"]);
    let code = json_lines(&link)[0]["code"]
        .as_str()
        .expect("code")
        .to_string();
    server.cli_ok(&laptop, &["device", "link", &code]);
    let history = json_lines(&server.cli_ok(&laptop, &["--json", "history", "@omid"]));
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["text"], "hi on every device");

    let devices = json_lines(&server.cli_ok(&phone, &["--json", "devices"]));
    assert_eq!(devices.len(), 2);
    let other = devices
        .iter()
        .find(|d| d["current"] == false)
        .expect("the laptop");
    let id = other["id"].as_i64().unwrap().to_string();
    server.cli_ok(&phone, &["device", "revoke", &id]);
    let out = server.cli(&laptop, &["conversations"]);
    assert!(!out.status.success(), "a revoked device is refused");
    // The phone still works.
    server.cli_ok(&phone, &["conversations"]);
}

#[test]
fn bad_targets_and_unknown_users_fail_clearly() {
    let server = Server::start();
    let p = server.profile("p");
    let out = server.cli(&p, &["send", "@nobody", "hi"]);
    assert!(!out.status.success(), "no account in the profile yet");
    server.cli_ok(&p, &["register", "parisa"]);
    for args in [
        &["send", "@nobody_here", "hi"][..],
        &["send", "not-a-target", "hi"],
        &["send", "@parisa", ""],
    ] {
        let out = server.cli(&p, args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(!out.stderr.is_empty(), "{args:?}: no message on stderr");
    }
}

#[test]
fn print_config_shows_every_key_but_no_password() {
    let out = std::process::Command::new(crate::util::BIN)
        .args([
            "serve",
            "--print-config",
            "--store",
            "postgres://chapar:hunter2@127.0.0.1:5432/chapar",
            "--bus",
            "nats://relay:natspw@127.0.0.1:4222",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("hunter2") && !text.contains("natspw"),
        "{text}"
    );
    assert!(
        text.contains("postgres://chapar:***@127.0.0.1:5432/chapar"),
        "{text}"
    );
    assert!(text.contains("nats://relay:***@127.0.0.1:4222"), "{text}");
    assert!(text.contains("listen_backlog = 4096"), "{text}");
}
