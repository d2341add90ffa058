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

#[test]
fn press_takes_the_button_number_that_history_shows() {
    use crate::util::bot::{person_with_bot, say};
    use serde_json::json;
    let server = Server::start();
    let ana = person_with_bot(&server, "ana", "menu_bot");
    say(&server, &ana.profile, "@menu_bot", "/start");
    let ups = ana.bot.ok("getUpdates", json!({}));
    let chat = ups[0]["message"]["chat"]["id"].clone();
    let offset = ups[0]["update_id"].as_i64().unwrap() + 1;
    let keyboard = json!({"inline_keyboard": [
        [{"text": "Yes", "callback_data": "y"}, {"text": "No", "callback_data": "n"}],
        [{"text": "بعداً", "callback_data": "later"}],
    ]});
    let sent = ana.bot.ok(
        "sendMessage",
        json!({"chat_id": chat, "text": "coming?", "reply_markup": keyboard}),
    );
    let seq = sent["message_id"].as_u64().unwrap().to_string();
    // History numbers the buttons on across rows.
    let text = server.cli_ok(&ana.profile, &["history", "@menu_bot"]);
    assert!(
        text.contains("\n    1 [Yes]  2 [No]\n    3 [بعداً]"),
        "{text}"
    );
    // Press the third by its number; the bot gets its callback data.
    let out = server.cli_ok(
        &ana.profile,
        &["--json", "press", "@menu_bot", &seq, "3", "--wait", "0"],
    );
    assert_eq!(json_lines(&out)[0]["type"], "pressed", "{out}");
    let got = ana.bot.wait_updates(offset, 1);
    assert_eq!(got[0]["callback_query"]["data"], "later", "{got:?}");
    let offset = got[0]["update_id"].as_i64().unwrap() + 1;
    // The label still works (any case); a number past the last button fails and lists them.
    server.cli_ok(
        &ana.profile,
        &["press", "@menu_bot", &seq, "no", "--wait", "0"],
    );
    let got = ana.bot.wait_updates(offset, 1);
    assert_eq!(got[0]["callback_query"]["data"], "n", "{got:?}");
    let out = server.cli(&ana.profile, &["press", "@menu_bot", &seq, "4"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 [Yes]  2 [No]  3 [بعداً]"), "{err}");
}

#[test]
fn history_shows_an_edit_on_the_message_it_changes() {
    use crate::util::bot::{person_with_bot, say};
    use serde_json::json;
    let server = Server::start();
    let ana = person_with_bot(&server, "ana", "news_bot");
    let (conv, asked) = say(&server, &ana.profile, "@news_bot", "/news");
    let ups = ana.bot.ok("getUpdates", json!({}));
    let chat = ups[0]["message"]["chat"]["id"].clone();
    let draft = ana
        .bot
        .ok("sendMessage", json!({"chat_id": chat, "text": "loading…"}));
    let bot_seq = draft["message_id"].as_u64().unwrap();
    ana.bot.ok(
        "editMessageText",
        json!({"chat_id": chat, "message_id": bot_seq, "text": "rain tomorrow 🌧"}),
    );
    // The person's own edit and deletion fold the same way.
    let conv = conv.to_string();
    let (_, mine) = say(&server, &ana.profile, &conv, "typo");
    server.cli_ok(&ana.profile, &["edit", &conv, &mine.to_string(), "no typo"]);
    let (_, gone) = say(&server, &ana.profile, &conv, "oops");
    server.cli_ok(&ana.profile, &["delete", &conv, &gone.to_string()]);
    let (_, last) = say(&server, &ana.profile, &conv, "thanks");

    let text = server.cli_ok(&ana.profile, &["history", &conv]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "one line per message:\n{text}");
    let line = |seq: u64| {
        lines
            .iter()
            .find(|l| l.starts_with(&format!("[{conv} #{seq} ")))
            .unwrap_or_else(|| panic!("no #{seq} in\n{text}"))
    };
    assert!(line(asked).ends_with("@ana: /news"), "{text}");
    assert!(
        line(bot_seq).ends_with("@news_bot: rain tomorrow 🌧  (edited)"),
        "{text}"
    );
    assert!(line(mine).ends_with("@ana: no typo  (edited)"), "{text}");
    assert!(line(gone).ends_with("@ana: (deleted)"), "{text}");
    assert!(line(last).ends_with("@ana: thanks"), "{text}");
    assert!(
        !text.contains("(edited #") && !text.contains("(deleted #"),
        "{text}"
    );
    // --json keeps every log entry, the edits and the deletion included.
    let raw = json_lines(&server.cli_ok(&ana.profile, &["--json", "history", &conv]));
    let kinds: Vec<&str> = raw.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        vec![
            "text", "text", "edit", "text", "edit", "text", "delete", "text"
        ]
    );
}

/// The README's quick start, run as written (its `chapar` lines, with the profiles put in this
/// test's directory) on a server that already has other conversations: every line works, and
/// the group message reaches Sara in the group the README's commands made.
#[test]
fn the_readme_quick_start_works_on_a_used_server() {
    let server = Server::start();
    // Others were here first: their conversations take the low ids.
    let (ana, kai) = (server.profile("ana"), server.profile("kai"));
    server.cli_ok(&ana, &["register", "ana"]);
    server.cli_ok(&kai, &["register", "kai"]);
    server.cli_ok(&ana, &["send", "@kai", "hi"]);
    server.cli_ok(&ana, &["group", "create", "others", "@kai"]);

    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let block = readme
        .split("# terminal 1 (Sara)")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the quick start block");
    let profiles = server.profile("");
    // Each line as a person types it; the interactive ones (`follow`, `chat`) are left out.
    let lines: Vec<String> = block
        .lines()
        .map(|l| l.split("  #").next().unwrap_or("").trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| !l.ends_with(" follow") && !l.ends_with(" chat"))
        .map(|l| l.replace("/tmp/", &format!("{}/", profiles.display())))
        .collect();
    assert!(lines.len() >= 6, "{lines:?}");
    let bin_dir = std::path::Path::new(crate::util::BIN)
        .parent()
        .expect("the binary's directory");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = format!("set -e\n{}\n", lines.join("\n"));
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("PATH", path)
        .env("CHAPAR_SERVER", server.url())
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{script}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let sara = server.profile("sara");
    let conversations = json_lines(&server.cli_ok(&sara, &["--json", "conversations"]));
    let friends = conversations
        .iter()
        .find(|c| c["title"] == "friends")
        .unwrap_or_else(|| panic!("no group \"friends\" for sara: {conversations:?}"));
    let id = friends["conversation"].as_i64().expect("conversation id");
    assert_ne!(
        id, 2,
        "the quick start must not depend on the ids of an empty server"
    );
    let history = json_lines(&server.cli_ok(&sara, &["--json", "history", &id.to_string()]));
    assert!(
        history.iter().any(|m| m["text"] == "hello group"),
        "{history:?}"
    );
}

#[test]
fn search_and_presence_from_the_terminal() {
    let server = Server::start_with(&[
        // One more a minute: within this test, a spent burst stays spent.
        ("CHAPAR_RATE_LIMITS__LOOKUPS_PER_ACCOUNT__PER_MINUTE", "1"),
        ("CHAPAR_RATE_LIMITS__LOOKUPS_PER_ACCOUNT__BURST", "4"),
    ]);
    let (sara, bob) = (server.profile("sara"), server.profile("bob"));
    server.cli_ok(&sara, &["register", "sara", "--name", "Sara"]);
    server.cli_ok(&bob, &["register", "bob", "--name", "Bob"]);
    server.cli_ok(&sara, &["send", "@bob", "the book is on the table"]);
    server.cli_ok(&bob, &["send", "@sara", "كتاب را پيدا كردم"]);
    server.cli_ok(&sara, &["send", "@bob", "booked the tickets"]);

    // Newest first; Persian typed with Persian letters finds the Arabic-lettered message.
    let found = json_lines(&server.cli_ok(&bob, &["--json", "search", "BOOK"]));
    let texts: Vec<_> = found
        .iter()
        .map(|m| m["text"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(texts, ["booked the tickets", "the book is on the table"]);
    let found = server.cli_ok(&sara, &["search", "کتاب", "--in", "@bob"]);
    assert!(found.contains("كتاب را پيدا كردم"), "{found}");
    // Bob is offline (each command is its own connection): sara sees when he was last seen.
    let seen = server.cli_ok(&sara, &["presence", "@bob"]);
    assert!(seen.starts_with("@bob  last seen 20"), "{seen}");
    // A bad query is refused clearly.
    let bad = server.cli(&sara, &["search", "a"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("at least 2 letters"));
    // Searching shares the lookup budget (sara's two searches, the handle lookup and the watch
    // of `presence`): the fifth lookup in a burst of four is refused.
    let refused = server.cli(&sara, &["search", "tickets"]);
    assert!(!refused.status.success(), "the burst is spent");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("rate"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[test]
fn forward_and_pin_from_the_terminal() {
    let server = Server::start();
    let (sara, bob, dina) = (
        server.profile("sara"),
        server.profile("bob"),
        server.profile("dina"),
    );
    server.cli_ok(&sara, &["register", "sara", "--name", "Sara"]);
    server.cli_ok(&bob, &["register", "bob", "--name", "Bob"]);
    server.cli_ok(&dina, &["register", "dina", "--name", "Dina"]);
    let sent =
        json_lines(&server.cli_ok(&sara, &["--json", "send", "@bob", "the meeting moved to 5"]));
    let (conv, seq) = (
        sent[0]["conversation"].to_string(),
        sent[0]["seq"].to_string(),
    );
    // Bob forwards it to Dina: her history shows it as Sara's.
    server.cli_ok(&bob, &["forward", &conv, &seq, "@dina"]);
    let got = server.cli_ok(&dina, &["history", "@bob"]);
    assert!(
        got.contains("(forwarded from @sara) the meeting moved to 5"),
        "{got}"
    );
    let got = json_lines(&server.cli_ok(&dina, &["--json", "history", "@bob"]));
    let last = got.last().expect("a message");
    assert_eq!(last["forwarded_from"]["handle"], "sara");
    // A message Dina cannot read cannot be forwarded by her.
    let refused = server.cli(&dina, &["forward", &conv, &seq, "@bob"]);
    assert!(!refused.status.success());
    // Sara pins her message; the history shows the pin; unpinning says so too.
    server.cli_ok(&sara, &["pin", &conv, &seq]);
    server.cli_ok(&sara, &["pin", &conv]);
    let log = server.cli_ok(&bob, &["history", &conv]);
    assert!(log.contains(&format!("pinned #{seq}")), "{log}");
    assert!(log.contains(&format!("unpinned #{seq}")), "{log}");
    // A group's description, set by its owner, shown to a member.
    let made = json_lines(&server.cli_ok(&sara, &["--json", "group", "create", "club", "@bob"]));
    let g = made[0]["conversation"].to_string();
    server.cli_ok(&sara, &["group", "describe", &g, "Books on Thursdays"]);
    let info = json_lines(&server.cli_ok(&bob, &["--json", "group", "info", &g]));
    assert_eq!(info[0]["description"], "Books on Thursdays");
    let refused = server.cli(&bob, &["group", "describe", &g, "mine now"]);
    assert!(!refused.status.success(), "a plain member may not");
}

#[test]
fn archive_and_clear_change_only_your_own_list() {
    let server = Server::start();
    let (sara, bob) = (server.profile("sara"), server.profile("bob"));
    server.cli_ok(&sara, &["register", "sara", "--name", "Sara"]);
    server.cli_ok(&bob, &["register", "bob", "--name", "Bob"]);
    server.cli_ok(&sara, &["send", "@bob", "first"]);
    server.cli_ok(&sara, &["archive", "@bob"]);
    let list = json_lines(&server.cli_ok(&sara, &["--json", "conversations"]));
    assert_eq!(list[0]["archived"], true);
    let list = json_lines(&server.cli_ok(&bob, &["--json", "conversations"]));
    assert_eq!(list[0]["archived"], false, "bob's list is his own");
    server.cli_ok(&sara, &["archive", "@bob", "--undo"]);
    server.cli_ok(&sara, &["clear", "@bob"]);
    assert!(json_lines(&server.cli_ok(&sara, &["--json", "conversations"])).is_empty());
    assert_eq!(
        json_lines(&server.cli_ok(&bob, &["--json", "history", "@sara"])).len(),
        1
    );
    server.cli_ok(&bob, &["send", "@sara", "second"]);
    let back = json_lines(&server.cli_ok(&sara, &["--json", "history", "@bob"]));
    let texts: Vec<_> = back
        .iter()
        .map(|m| m["text"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(texts, ["second"]);
    // One message deleted for sara only: her history marks it, bob's keeps it.
    let seq = back[0]["seq"].to_string();
    let conv = back[0]["conversation"].to_string();
    server.cli_ok(&sara, &["delete", &conv, &seq, "--for-me"]);
    let mine = server.cli_ok(&sara, &["history", "@bob"]);
    assert!(
        mine.contains("(deleted for you)") && !mine.contains("second"),
        "{mine}"
    );
    let his = server.cli_ok(&bob, &["history", "@sara"]);
    assert!(his.contains("second"), "{his}");
}
