//! `chapar chat` in a real pseudo-terminal: keys typed as a terminal sends them, the screen read
//! back through a small terminal emulator, and what was sent checked at the other person.

use crate::util::pty::{Pty, Screen};
use crate::util::{BIN, Server, json_lines};
use chapar_sdk::proto::Target;
use chapar_sdk::{Auth, Client, ClientConfig};

const PAGE_UP: &str = "\x1b[5~";
const HOME: &str = "\x1b[H";
const END: &str = "\x1b[F";
const LEFT: &str = "\x1b[D";
const ESC: &str = "\x1b";

/// Bob's texts to Sara, oldest first, sent over one SDK connection (120 CLI runs would be slow).
fn bob_sends(server: &Server, bob: &std::path::Path, texts: Vec<String>) {
    let creds = chapar_cli::profile::Profile::open(bob)
        .and_then(|p| p.credentials())
        .expect("bob's profile");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let (client, _events) = Client::connect(
            vec![server.url()],
            ClientConfig::default(),
            creds,
            Auth::Resume,
            0,
        )
        .await
        .expect("connect as bob");
        for t in texts {
            client
                .send_text(Target::Peer("sara".into()), t, None)
                .await
                .expect("send");
        }
        client.close();
    });
}

/// The texts of Bob's view of the chat, oldest first.
fn bob_sees(server: &Server, bob: &std::path::Path) -> Vec<String> {
    json_lines(&server.cli_ok(bob, &["--json", "history", "@sara", "--limit", "500"]))
        .iter()
        .filter(|m| m["kind"] == "text")
        .map(|m| m["text"].as_str().unwrap_or("").to_string())
        .collect()
}

fn right_border(s: &Screen, text: &str) -> usize {
    let row = s
        .row_of(text)
        .unwrap_or_else(|| panic!("no {text:?}:\n{}", s.text()));
    s.last_col_of(row, "│")
        .unwrap_or_else(|| panic!("no border on row {row}:\n{}", s.text()))
}

#[test]
fn chat_in_a_terminal_helps_sends_edits_the_line_and_scrolls_back() {
    let server = Server::start();
    let (sara, bob) = (server.profile("sara"), server.profile("bob"));
    server.cli_ok(&sara, &["register", "sara", "--name", "Sara"]);
    server.cli_ok(&bob, &["register", "bob", "--name", "Bob"]);
    // More than a page of history (the chat loads 100 entries at first).
    bob_sends(
        &server,
        &bob,
        (1..=120).map(|i| format!("old-{i:03}")).collect(),
    );

    let stderr = std::fs::File::create(server.dir.path().join("chat.stderr")).unwrap();
    let mut cmd = std::process::Command::new(BIN);
    cmd.arg("--server")
        .arg(server.url())
        .arg("--profile")
        .arg(&sara)
        .arg("chat")
        .env_remove("CHAPAR_SERVER")
        .env_remove("CHAPAR_PROFILE");
    let mut pty = Pty::spawn(cmd, 100, 30, stderr);
    pty.wait_for("the chat with bob, connected", |s| {
        s.contains("connected as @sara") && s.contains("@bob: old-120") && s.contains("@bob (Bob)")
    });

    // /help shows the keys and commands and is not sent.
    pty.keys("/help\r");
    let s = pty.wait_for("the help", |s| {
        s.contains("/reply SEQ TEXT") && s.contains("PageUp/PageDown")
    });
    assert!(s.contains("/chat @handle"), "{}", s.text());
    pty.keys(ESC);
    pty.wait_for("the messages again", |s| {
        s.contains("@bob: old-120") && !s.contains("/reply SEQ TEXT")
    });
    // A command typed wrong is not sent either: the status says how to write it.
    pty.keys("/reply oops\r");
    pty.wait_for("the usage status", |s| s.contains("usage: /reply SEQ TEXT"));
    // Clear the kept line (End, then Backspace over it), then write a message with the cursor:
    // the start typed after the end, and a character inserted before the emoji.
    pty.keys(END);
    pty.keys(&"\x7f".repeat("/reply oops".chars().count()));
    pty.keys("bob👋");
    // The cursor is after the emoji's two cells: column 1 + 5 inside the input box (row 27).
    pty.wait_for("the cursor after the emoji", |s| {
        s.contains("│bob👋 ") && s.cursor == (27, 6)
    });
    pty.keys(LEFT);
    pty.keys(" ");
    pty.keys(HOME);
    pty.keys("salam ");
    pty.keys(END);
    pty.keys("!\r");
    let want = "salam bob 👋!";
    let s = pty.wait_for("my message back from the server", |s| {
        s.contains(&format!("@sara: {want}"))
    });
    // The emoji took two cells and the border stayed in its column.
    assert_eq!(
        right_border(&s, want),
        right_border(&s, "old-120"),
        "{}",
        s.text()
    );
    // The status is back to the connection once something was sent.
    assert!(s.contains("connected as @sara"), "{}", s.text());
    // Bob got exactly that, as the next message: neither /help nor the wrong /reply was sent before it.
    let seen = bob_sees(&server, &bob);
    assert_eq!(seen.last().map(String::as_str), Some(want), "{seen:?}");
    assert_eq!(seen.len(), 121, "{seen:?}");

    // PageUp goes back a screen at a time; past the first page the chat loads the older one.
    assert!(!pty.screen().contains("old-001"));
    let mut before = pty.screen().text();
    let mut found = false;
    for _ in 0..20 {
        pty.keys(PAGE_UP);
        let s = pty.wait_for("the screen moving back", |s| {
            s.contains("@bob: old-001") || s.text() != before
        });
        if s.contains("@bob: old-001") {
            found = true;
            break;
        }
        before = s.text();
    }
    assert!(found, "never scrolled back to the first message");
    let s = pty.screen();
    assert!(s.contains("scrolled back"), "{}", s.text());
    assert!(!s.contains(want), "{}", s.text());

    pty.keys(ESC);
    let status = pty.wait_exit();
    assert!(
        status.success(),
        "chat exited with {status}: {}",
        std::fs::read_to_string(server.dir.path().join("chat.stderr")).unwrap_or_default()
    );
}
