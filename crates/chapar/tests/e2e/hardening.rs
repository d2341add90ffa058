//! Holes found by attacking a running node, each closed and kept closed: slow and idle HTTP
//! connections, unbounded reply memory, webhook addresses, control and format characters in
//! texts and names, short codes.

use crate::util::Server;
use crate::util::bot::person_with_bot;
use crate::util::raw::Raw;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request header cut off in the middle: the server must not wait for the rest forever.
const HALF_HEADER: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: chapar\r\nX-Slow: ";

async fn half_header(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    // The server may already have closed a refused connection: a failed write is its answer.
    let _ = s.write_all(HALF_HEADER).await;
    s
}

/// Reads until the server closes the connection (EOF or reset) or `within` passes; true when it
/// was closed.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// One `GET /healthz` on a fresh connection; the status line, or None when it did not come
/// within two seconds.
async fn healthz(addr: SocketAddr) -> Option<String> {
    let attempt = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: chapar\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.ok()?;
        let text = String::from_utf8_lossy(&out).to_string();
        text.lines().next().map(str::to_string)
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_slow_headers_are_closed_and_the_connection_cap_holds() {
    let server = Server::start_with(&[
        ("CHAPAR_GATEWAY__MAX_HTTP_CONNECTIONS", "60"),
        ("CHAPAR_ADMISSION__MAX_CONNECTIONS", "20"),
        ("CHAPAR_GATEWAY__HEADER_READ_TIMEOUT_SECS", "3"),
        ("CHAPAR_GATEWAY__HTTP_IDLE_TIMEOUT_SECS", "5"),
    ]);
    let addr = server.addr;
    // A signed-in WebSocket: the HTTP timers must never touch it.
    let mut resident = Raw::register(&server.ws_url(), "resident").await;

    let opened = Instant::now();
    let mut first = Vec::new();
    for _ in 0..40 {
        first.push(half_header(addr).await);
    }
    assert_eq!(
        healthz(addr).await.as_deref(),
        Some("HTTP/1.1 200 OK"),
        "40 half-sent headers must not stop /healthz"
    );
    // 40 + 1 WebSocket + 30 more is over the cap of 60: the newest are closed at once, before
    // any timer, and the ones already in are not.
    let mut second = Vec::new();
    for _ in 0..30 {
        second.push(half_header(addr).await);
    }
    let refused = futures_util::future::join_all(
        second
            .iter_mut()
            .map(|s| closed_within(s, Duration::from_millis(300))),
    )
    .await
    .into_iter()
    .filter(|closed| *closed)
    .count();
    assert!(
        refused >= 10,
        "only {refused} of 30 connections over the cap were closed at once"
    );
    assert!(
        opened.elapsed() < Duration::from_millis(2500),
        "too slow to judge: {:?}",
        opened.elapsed()
    );
    for s in &mut first[..5] {
        assert!(
            !closed_within(s, Duration::from_millis(50)).await,
            "a connection already in was closed to make room"
        );
    }
    // Every half-sent header is closed by the server once its time is up (3 s after its
    // connection was accepted), well before a client would give up.
    for s in first.iter_mut().chain(second.iter_mut()) {
        let left = Duration::from_secs(8).saturating_sub(opened.elapsed());
        assert!(
            closed_within(s, left).await,
            "a half-sent header was still open after {:?}",
            opened.elapsed()
        );
    }
    assert!(
        opened.elapsed() >= Duration::from_millis(2500),
        "closed before the header timeout: {:?}",
        opened.elapsed()
    );
    assert_eq!(healthz(addr).await.as_deref(), Some("HTTP/1.1 200 OK"));

    // A keep-alive connection that went quiet after an answer is closed after the idle timeout
    // (5 s), not the header timeout (3 s).
    let mut keep = TcpStream::connect(addr).await.unwrap();
    keep.write_all(b"GET /healthz HTTP/1.1\r\nHost: chapar\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(2), keep.read(&mut buf))
        .await
        .expect("answer in time")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let quiet = Instant::now();
    assert!(
        !closed_within(&mut keep, Duration::from_secs(4)).await,
        "an idle keep-alive connection was closed at the header timeout"
    );
    assert!(
        closed_within(&mut keep, Duration::from_secs(4)).await,
        "an idle keep-alive connection was still open after {:?}",
        quiet.elapsed()
    );

    // The WebSocket lived through all of it (more than the HTTP idle timeout) and still works.
    let r = resident
        .call(chapar_proto::frame::Request::Conversations)
        .await;
    assert!(r.is_ok(), "the WebSocket was disturbed: {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_bot_api_refuses_a_wrong_token_before_reading_the_body() {
    let server = Server::start_with(&[("CHAPAR_GATEWAY__BODY_READ_TIMEOUT_SECS", "2")]);
    let addr = server.addr;
    let head = |token: &str| {
        format!(
            "POST /bot{token}/sendMessage HTTP/1.1\r\nHost: chapar\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n{{\"chat_id\":1,"
        )
    };
    // A wrong token and a body that never finishes: answered 401 at once.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head("123:wrong").as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf))
        .await
        .expect("a wrong token is answered without waiting for the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(1));

    // The same for the service API (its token is a header).
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /v1/service/notifications HTTP/1.1\r\nHost: chapar\r\nAuthorization: Bearer 9:nope\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n{",
    )
    .await
    .unwrap();
    let n = tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf))
        .await
        .expect("a wrong service token is answered without waiting for the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    // A real bot whose body stalls: 408 after the body timeout (2 s), and the connection ends.
    let owner = person_with_bot(&server, "slowana", "slow_bot");
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head(&owner.bot.token).as_bytes())
        .await
        .unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(6), s.read_to_end(&mut out))
        .await
        .expect("a stalled body is given up on")
        .unwrap();
    let answer = String::from_utf8_lossy(&out).to_string();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_a_client_that_never_reads_its_replies_cannot_grow_server_memory() {
    use chapar_proto::frame::{History, Request};
    let server = Server::start_with(&[
        ("CHAPAR_DURABILITY", "normal"),
        ("CHAPAR_LIMITS__REQUESTS_PER_SECOND", "1000"),
        ("CHAPAR_LIMITS__REQUEST_BURST", "1000"),
    ]);
    let url = server.ws_url();
    let mut a = Raw::register(&url, "mem_a").await;
    let mut b = Raw::register(&url, "mem_b").await;
    let mut c = Raw::register(&url, "mem_c").await;
    // Long Persian texts: a history page of 500 is cut at max_page_bytes (1 MiB).
    let long = "سلام، این یک پیام بلند است. ".repeat(140);
    let conv = a
        .send_to_peer("mem_b", &long, "m0")
        .await
        .unwrap()
        .conversation;
    for i in 1..300 {
        a.send_text(conv, &long, &format!("m{i}")).await.unwrap();
    }
    let baseline = server.rss_kib();
    // Two more connections of the same device pipeline 120 full-page history requests each
    // and never read a reply: unbounded, that is 240 MiB of replies held by the server (it
    // grew by 315 MiB before replies were bounded in bytes). Bounded, each connection holds at
    // most its 4 MiB budget, the reply in hand and the socket's write buffer; the rest of the
    // growth is the store's page cache and the allocator, once.
    let mut hogs = Vec::new();
    for _ in 0..2 {
        let mut hog = a.reconnect(&url).await.expect("reconnect");
        for _ in 0..120 {
            let request = Request::History(History {
                conversation: Some(conv),
                peer: None,
                before: None,
                limit: Some(500),
            });
            // The server stops reading once the budget is spent; the requests left wait in
            // the socket buffers, so a send that does not finish at once is fine too.
            if tokio::time::timeout(Duration::from_millis(500), hog.send_request(request))
                .await
                .is_err()
            {
                break;
            }
        }
        hogs.push(hog);
    }
    let mut peak = 0;
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(4) {
        peak = peak.max(server.rss_kib());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let grown_mib = peak.saturating_sub(baseline) / 1024;
    eprintln!(
        "server RSS {} MiB before, peak {} MiB",
        baseline / 1024,
        peak / 1024
    );
    assert!(
        grown_mib < 100,
        "server memory grew by {grown_mib} MiB for replies nobody reads (from {} MiB)",
        baseline / 1024
    );
    // Everyone else is served as usual meanwhile.
    b.send_to_peer("mem_c", "still here?", "c1").await.unwrap();
    let (_, event) = c
        .wait_event(|e| matches!(e, chapar_proto::Event::Message(m) if m.text.as_deref() == Some("still here?")))
        .await;
    assert!(matches!(event, chapar_proto::Event::Message(_)));
    assert!(a.call(Request::Conversations).await.is_ok());
    drop(hogs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_one_device_may_open_only_so_many_connections() {
    use chapar_proto::ErrorCode;
    let server = Server::start_with(&[("CHAPAR_GATEWAY__MAX_CONNECTIONS_PER_DEVICE", "2")]);
    let url = server.ws_url();
    let a = Raw::register(&url, "many_a").await;
    let second = a
        .reconnect(&url)
        .await
        .expect("a second connection is fine");
    let refused = a
        .reconnect(&url)
        .await
        .err()
        .expect("a third connection of the device is refused");
    assert_eq!(refused.code, ErrorCode::Overloaded, "{refused}");
    assert!(
        refused.message.contains("2 connections"),
        "{}",
        refused.message
    );
    assert!(refused.retry_after_ms.is_some());
    // Another account is not affected.
    let _other = Raw::register(&url, "many_b").await;
    // When one closes, the device gets its place back.
    drop(second);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match a.reconnect(&url).await {
            Ok(_) => break,
            Err(e) if e.code == ErrorCode::Overloaded && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the freed place was not given back: {e}"),
        }
    }
}

#[test]
fn hardening_set_webhook_refuses_addresses_that_lead_to_private_networks() {
    let server = Server::start();
    let ana = person_with_bot(&server, "hookana", "hook_guard_bot");
    for host in [
        "[::127.0.0.1]",
        "[::ffff:0:7f00:1]",
        "[64:ff9b::7f00:1]",
        "[64:ff9b::a9fe:a9fe]",
        "[2002:7f00:1::]",
        "[fec0::1]",
        "[ff02::1]",
        "240.0.0.1",
        "198.18.0.1",
        "192.0.0.1",
        "192.0.2.1",
        "224.0.0.1",
    ] {
        let v = ana.bot.fails(
            "setWebhook",
            serde_json::json!({"url": format!("http://{host}:9/hook")}),
            400,
        );
        assert!(
            v["description"].as_str().unwrap_or("").contains("private"),
            "{host}: {v}"
        );
    }
    assert_eq!(
        ana.bot.ok("getWebhookInfo", serde_json::json!({}))["url"],
        ""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_texts_with_terminal_escapes_are_invalid() {
    use chapar_proto::ErrorCode;
    use chapar_proto::frame::{Edit, Request};
    let server = Server::start();
    let url = server.ws_url();
    let mut a = Raw::register(&url, "esc_a").await;
    let _b = Raw::register(&url, "esc_b").await;
    let sent = a.send_to_peer("esc_b", "hello\nthere\tfriend", "ok1").await;
    let conv = sent.expect("newline and tab are text").conversation;
    for (i, text) in [
        "\u{1b}]0;you have been owned\u{7}",
        "\u{1b}]52;c;cm0gLXJmIH4=\u{7}",
        "\u{1b}[2J\u{1b}[31mred",
        "fake\rline",
        "\u{9b}31m",
    ]
    .iter()
    .enumerate()
    {
        let e = a
            .send_text(conv, text, &format!("esc{i}"))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Invalid, "{text:?}: {e}");
        assert!(e.message.contains("control character"), "{}", e.message);
    }
    // Edits go through the same rule.
    let e = a
        .call(Request::Edit(Edit {
            conversation: conv,
            seq: 1,
            client_id: "edit-esc".into(),
            text: Some("now \u{1b}]0;x\u{7}".into()),
            data: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid, "{e}");
    // Nothing of it was stored.
    let history = a.history(conv).await.unwrap();
    assert_eq!(history.len(), 1);
    assert!(
        history
            .iter()
            .all(|m| !m.text.as_deref().unwrap_or("").contains('\u{1b}'))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_names_and_titles_refuse_invisible_and_direction_characters() {
    use chapar_proto::frame::{CreateGroup, Register, Rename, Request, Response};
    use chapar_proto::{Encoding, ErrorCode};
    let server = Server::start();
    let url = server.ws_url();
    async fn sign_up(
        url: &str,
        handle: &str,
        name: &str,
    ) -> Result<Response, chapar_proto::ErrorBody> {
        let mut raw = Raw::connect(url, Encoding::Json).await;
        let signature = raw.sign();
        raw.call(Request::Register(Register {
            handle: handle.into(),
            display_name: Some(name.into()),
            public_key: raw.key.verifying_key().to_bytes().to_vec().into(),
            signature,
            device_name: None,
            invite_code: None,
        }))
        .await
    }
    for (i, name) in [
        "evil\u{202e}gnp.exe",
        "ad\u{200b}min",
        "\u{feff}Sara",
        "a\u{2066}b",
    ]
    .iter()
    .enumerate()
    {
        let e = sign_up(&url, &format!("spoof{i}"), name)
            .await
            .expect_err("an invisible character in a display name is refused");
        assert_eq!(e.code, ErrorCode::Invalid, "{name:?}: {e}");
        assert!(e.message.contains("U+"), "{}", e.message);
    }
    // ZWNJ is ordinary Persian spelling.
    match sign_up(&url, "persian", "می‌خواهم").await {
        Ok(Response::Session(s)) => assert_eq!(s.user.display_name, "می‌خواهم"),
        other => panic!("a Persian name with ZWNJ was refused: {other:?}"),
    }
    let mut owner = Raw::register(&url, "group_owner").await;
    let e = owner
        .call(Request::CreateGroup(CreateGroup {
            title: "admins\u{202e}".into(),
            members: vec![],
            client_id: "g-bidi".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid, "{e}");
    let group = match owner
        .call(Request::CreateGroup(CreateGroup {
            title: "کتاب‌خوانی".into(),
            members: vec![],
            client_id: "g-books".into(),
        }))
        .await
    {
        Ok(Response::Conversation(c)) => c.id,
        other => panic!("a Persian title with ZWNJ was refused: {other:?}"),
    };
    let e = owner
        .call(Request::Rename(Rename {
            conversation: group,
            title: "book\u{2067}club".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid, "{e}");
}

/// Symbols of a code (dashes left out), checked against the ~139-bit format.
fn code_symbols(code: &str) -> usize {
    assert!(
        code.split('-').all(|g| g.len() == 4),
        "groups of four: {code}"
    );
    code.chars().filter(|c| *c != '-').count()
}

#[test]
fn hardening_link_and_invite_codes_are_long_and_still_work() {
    use crate::util::{BIN, json_lines};
    // A link code: 28 symbols of 31 (about 139 bits), and typed loosely it still links.
    let server = Server::start();
    let (phone, laptop) = (server.profile("phone"), server.profile("laptop"));
    server.cli_ok(&phone, &["register", "longcodes"]);
    let link = server.cli_ok(&phone, &["--json", "device", "link"]);
    let code = json_lines(&link)[0]["code"]
        .as_str()
        .expect("code")
        .to_string();
    assert!(code_symbols(&code) >= 28, "link code too short: {code}");
    let typed = code.to_lowercase().replace('-', " ");
    server.cli_ok(&laptop, &["device", "link", &typed]);
    let devices = json_lines(&server.cli_ok(&phone, &["--json", "devices"]));
    assert_eq!(devices.len(), 2);
    drop(server);

    // An invite code from `chapar invite create` on the node's data directory.
    let server = Server::start_with(&[("CHAPAR_SIGNUP", "invite")]);
    let out = std::process::Command::new(BIN)
        .args(["invite", "create", "--data"])
        .arg(server.data())
        .env_remove("CHAPAR_CONFIG")
        .output()
        .expect("chapar invite create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let invite = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        code_symbols(&invite) >= 28,
        "invite code too short: {invite}"
    );
    let guest = server.profile("guest");
    let refused = server.cli(&guest, &["register", "no_invite"]);
    assert!(!refused.status.success());
    server.cli_ok(&guest, &["register", "invited", "--invite", &invite]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_typing_notices_are_limited_per_account() {
    use chapar_proto::ErrorCode;
    use chapar_proto::frame::{ConversationRef, Request};
    let server = Server::start_with(&[
        ("CHAPAR_RATE_LIMITS__TYPING_PER_ACCOUNT__PER_MINUTE", "60"),
        ("CHAPAR_RATE_LIMITS__TYPING_PER_ACCOUNT__BURST", "5"),
    ]);
    let url = server.ws_url();
    let mut a = Raw::register(&url, "typer_a").await;
    let mut b = Raw::register(&url, "typer_b").await;
    let conv = a
        .send_to_peer("typer_b", "hi", "t0")
        .await
        .unwrap()
        .conversation;
    let typing = || Request::Typing(ConversationRef { conversation: conv });
    for _ in 0..5 {
        a.call(typing()).await.expect("within the burst");
    }
    // The same account from a second connection shares the budget.
    let mut a2 = a.reconnect(&url).await.unwrap();
    let e = a2.call(typing()).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::RateLimited, "{e}");
    assert!(e.retry_after_ms.is_some());
    // Someone else is not limited by it.
    b.call(typing())
        .await
        .expect("another account types freely");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_metrics_are_served_only_on_their_own_listener() {
    use crate::bad_input::reqwest_free_get;
    // Off by default: the public port does not serve them.
    let server = Server::start_with(&[("CHAPAR_METRICS__LISTEN", "")]);
    let public = reqwest_free_get(server.addr, "/metrics").await;
    assert!(
        !public.contains("chapar_connections"),
        "metrics on the public port: {public}"
    );
    drop(server);
    // Given `metrics.listen`, they are there and only there.
    let server = Server::start();
    let public = reqwest_free_get(server.addr, "/metrics").await;
    assert!(!public.contains("chapar_connections"), "{public}");
    let private = reqwest_free_get(server.metrics_addr(), "/metrics").await;
    assert!(private.contains("chapar_connections "), "{private}");
    assert!(private.contains("chapar_http_connections "), "{private}");
    let other = reqwest_free_get(server.metrics_addr(), "/healthz").await;
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");
}
