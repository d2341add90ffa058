//! Real Telegram bot libraries against the real binary, with only the base URL changed:
//! python-telegram-bot (from PyPI) long polling, grammY (from npm) over a webhook. A person in
//! the terminal talks to each, presses its button and sees the edited message.
//!
//! `./scripts/test` installs both (a venv in `target/bot-deps` from
//! `tests/bots/python/requirements.txt`, and `npm ci` in `tests/bots/node`). These tests fail,
//! never skip, when the libraries are missing.

use crate::util::bot::{Owner, history, person_with_bot, say};
use crate::util::{BIN, Server, json_lines};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A bot program, killed when dropped.
struct BotProcess {
    child: Child,
    name: &'static str,
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `program args` with the bot's token and the server's URL; wait for its "ready" line.
fn start_bot(
    name: &'static str,
    program: PathBuf,
    args: &[PathBuf],
    server: &Server,
    owner: &Owner,
) -> BotProcess {
    let mut child = Command::new(&program)
        .args(args)
        .env("CHAPAR_BOT_API", server.url())
        .env("CHAPAR_BOT_TOKEN", &owner.bot.token)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the {name} bot ({}): {e}", program.display()));
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut bot = BotProcess { child, name };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line.starts_with("ready") => {
                assert!(line.contains(&owner.bot_handle), "{line}");
                return bot;
            }
            Ok(_) => {}
            Err(_) => {
                if let Ok(Some(status)) = bot.child.try_wait() {
                    panic!("the {} bot exited before it was ready: {status}", bot.name);
                }
                assert!(
                    Instant::now() < deadline,
                    "the {} bot did not get ready",
                    bot.name
                );
            }
        }
    }
}

/// Wait (20 s at most) for the conversation's history to satisfy `ok`; the last history seen.
fn wait_history(server: &Server, owner: &Owner, ok: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let h = history(server, &owner.profile, &format!("@{}", owner.bot_handle));
        if ok(&h) || Instant::now() > deadline {
            return h;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The conversation a person has with an echo bot: text, echo under a button, press, edit.
fn talk_press_and_see_the_edit(server: &Server, owner: &Owner) {
    let target = format!("@{}", owner.bot_handle);
    say(server, &owner.profile, &target, "/start");
    let h = wait_history(server, owner, |h| h.len() >= 2);
    assert!(
        h[1]["text"].as_str().unwrap_or("").starts_with("Hi!"),
        "{h:?}"
    );
    let (_, asked) = say(server, &owner.profile, &target, "salam, chapar");
    let h = wait_history(server, owner, |h| {
        h.iter()
            .any(|m| m["seq"].as_u64() > Some(asked) && m["sender"] == owner.bot_handle)
    });
    let echo = h
        .iter()
        .find(|m| m["seq"].as_u64() > Some(asked) && m["sender"] == owner.bot_handle)
        .unwrap_or_else(|| panic!("no echo: {h:?}"));
    assert_eq!(echo["text"], "salam, chapar");
    assert_eq!(
        echo["reply_markup"]["inline_keyboard"][0][0]["text"],
        "Shout"
    );
    let seq_n = echo["seq"].as_u64().unwrap();
    let seq = seq_n.to_string();
    // The terminal shows the button.
    let text = Command::new(BIN)
        .args(["--server", &server.url(), "--profile"])
        .arg(&owner.profile)
        .args(["history", &target])
        .output()
        .expect("history");
    assert!(String::from_utf8_lossy(&text.stdout).contains("[Shout]"));
    // Press it; the bot's answer comes back to the terminal.
    let out = server.cli_ok(
        &owner.profile,
        &["--json", "press", &target, &seq, "Shout", "--wait", "20"],
    );
    let lines = json_lines(&out);
    let answer = lines
        .iter()
        .find(|l| l["type"] == "callback_answer")
        .unwrap_or_else(|| panic!("no answer from the bot: {lines:?}"));
    assert_eq!(answer["text"], "Shouted!");
    // And the message is edited.
    let h = wait_history(server, owner, |h| {
        h.iter()
            .any(|m| m["seq"] == seq_n && m["text"] == "SALAM, CHAPAR")
    });
    let m = h.iter().find(|m| m["seq"] == seq_n).unwrap();
    assert_eq!(m["text"], "SALAM, CHAPAR", "{h:?}");
    assert_eq!(m["edited"], true);
}

#[test]
fn python_telegram_bot_echo_bot_long_polling() {
    let python = std::env::var_os("CHAPAR_BOT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/bot-deps/venv/bin/python"));
    assert!(
        python.exists(),
        "{} not found: python-telegram-bot is installed by ./scripts/test (or set \
         CHAPAR_BOT_PYTHON to a python with tests/bots/python/requirements.txt installed)",
        python.display()
    );
    let check = Command::new(&python)
        .args(["-c", "import telegram; print(telegram.__version__)"])
        .output()
        .expect("run python");
    assert!(
        check.status.success(),
        "python-telegram-bot is not importable with {}: {}",
        python.display(),
        String::from_utf8_lossy(&check.stderr)
    );
    let server = Server::start();
    let owner = person_with_bot(&server, "ana", "ptb_echo_bot");
    let script = repo().join("tests/bots/python/echo_bot.py");
    let _bot = start_bot("python-telegram-bot", python, &[script], &server, &owner);
    talk_press_and_see_the_edit(&server, &owner);
}

#[test]
fn grammy_echo_bot_over_a_webhook() {
    let dir = repo().join("tests/bots/node");
    assert!(
        dir.join("node_modules/grammy/package.json").exists(),
        "grammY is not installed in {}: ./scripts/test runs `npm ci` there",
        dir.display()
    );
    let server = Server::start_with(&[("CHAPAR_BOTS__WEBHOOK_ALLOW_PRIVATE", "true")]);
    let owner = person_with_bot(&server, "ana", "grammy_echo_bot");
    let _bot = start_bot(
        "grammY",
        PathBuf::from("node"),
        &[dir.join("echo_webhook.mjs")],
        &server,
        &owner,
    );
    let info = owner.bot.ok("getWebhookInfo", serde_json::json!({}));
    assert!(
        info["url"]
            .as_str()
            .unwrap_or("")
            .starts_with("http://127.0.0.1:"),
        "{info}"
    );
    // Webhook and getUpdates exclude each other.
    owner.bot.fails("getUpdates", serde_json::json!({}), 409);
    talk_press_and_see_the_edit(&server, &owner);
}
