//! Bad input to the Bot API: malformed JSON, form and multipart bodies, unknown methods, wrong
//! types, oversize fields and bodies. Each gets a Telegram-shaped 4xx error, nothing is stored,
//! and the server keeps serving.

use crate::util::Server;
use crate::util::bot::{history, http, person_with_bot, say};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// `{"ok":false,"error_code":N,"description":...}` with status N, a 4xx.
fn telegram_error(status: u16, body: &[u8], what: &str) -> Value {
    let v: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", String::from_utf8_lossy(body)));
    assert_eq!(v["ok"], false, "{what}: {v}");
    assert_eq!(v["error_code"], status, "{what}: {v}");
    assert!((400..500).contains(&status), "{what}: status {status}: {v}");
    assert!(
        v["description"].as_str().is_some_and(|d| !d.is_empty()),
        "{what}: {v}"
    );
    v
}

#[test]
fn malformed_bodies_wrong_types_and_oversize_fields_change_nothing() {
    let server = Server::start_with(&[("CHAPAR_BOTS__MAX_BODY_BYTES", "65536")]);
    let ana = person_with_bot(&server, "ana", "echo_bot");
    say(&server, &ana.profile, "@echo_bot", "hello");
    let chat = ana.bot.ok("getUpdates", json!({}))[0]["message"]["chat"]["id"].clone();
    let path = format!("/bot{}/sendMessage", ana.bot.token);
    let before = history(&server, &ana.profile, "@echo_bot");

    let raw_cases: Vec<(&str, Option<&str>, Vec<u8>)> = vec![
        ("truncated JSON", Some("application/json"), br#"{"chat_id": 1, "text": "#.to_vec()),
        ("JSON array", Some("application/json"), b"[1, 2, 3]".to_vec()),
        ("JSON string", Some("application/json"), br#""hello""#.to_vec()),
        ("invalid UTF-8 JSON", Some("application/json"), b"{\"text\": \"\xff\xfe\"}".to_vec()),
        ("bad percent escape", Some("application/x-www-form-urlencoded"), b"chat_id=1&text=%zz".to_vec()),
        ("form not UTF-8", Some("application/x-www-form-urlencoded"), b"chat_id=1&text=%ff%fe".to_vec()),
        ("multipart without boundary", Some("multipart/form-data"), b"--x\r\n".to_vec()),
        (
            "multipart never closed",
            Some("multipart/form-data; boundary=XX"),
            b"--XX\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nhi".to_vec(),
        ),
        (
            "multipart without headers end",
            Some("multipart/form-data; boundary=XX"),
            b"--XX\r\nContent-Disposition: form-data; name=\"text\"".to_vec(),
        ),
        (
            "multipart file",
            Some("multipart/form-data; boundary=XX"),
            b"--XX\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.png\"\r\n\r\n\x89PNG\r\n--XX--\r\n".to_vec(),
        ),
        ("unknown content type", Some("text/plain"), b"chat_id=1".to_vec()),
    ];
    for (what, ct, body) in raw_cases {
        let h = http(server.addr, "POST", &path, ct, &body);
        let v = telegram_error(h.status, &h.body, what);
        assert_eq!(v["error_code"], 400, "{what}: {v}");
    }

    let typed: Vec<(&str, Value)> = vec![
        (
            "chat_id not a number",
            json!({"chat_id": "abc", "text": "x"}),
        ),
        (
            "chat_id an object",
            json!({"chat_id": {"id": 1}, "text": "x"}),
        ),
        ("chat_id a float", json!({"chat_id": 1.5, "text": "x"})),
        (
            "chat_id a username",
            json!({"chat_id": "@somebody", "text": "x"}),
        ),
        ("text an object", json!({"chat_id": chat, "text": {"a": 1}})),
        ("text empty", json!({"chat_id": chat, "text": "   "})),
        (
            "text too long",
            json!({"chat_id": chat, "text": "x".repeat(4097)}),
        ),
        (
            "reply_markup not JSON",
            json!({"chat_id": chat, "text": "x", "reply_markup": "{nope"}),
        ),
        (
            "reply_markup a number",
            json!({"chat_id": chat, "text": "x", "reply_markup": 7}),
        ),
        (
            "keyboard not rows",
            json!({"chat_id": chat, "text": "x", "reply_markup": {"inline_keyboard": [1, 2]}}),
        ),
        (
            "button without action",
            json!({"chat_id": chat, "text": "x", "reply_markup": {"inline_keyboard": [[{"text": "a"}]]}}),
        ),
        (
            "callback_data too long",
            json!({"chat_id": chat, "text": "x",
            "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "d".repeat(65)}]]}}),
        ),
        (
            "too many buttons",
            json!({"chat_id": chat, "text": "x",
            "reply_markup": {"inline_keyboard": vec![vec![json!({"text": "a", "callback_data": "d"}); 8]; 13]}}),
        ),
        (
            "unsupported button",
            json!({"chat_id": chat, "text": "x",
            "reply_markup": {"inline_keyboard": [[{"text": "a", "login_url": {"url": "https://a.b"}}]]}}),
        ),
        (
            "javascript url button",
            json!({"chat_id": chat, "text": "x",
            "reply_markup": {"inline_keyboard": [[{"text": "a", "url": "javascript:alert(1)"}]]}}),
        ),
        (
            "entity outside text",
            json!({"chat_id": chat, "text": "hi",
            "entities": [{"type": "bold", "offset": 1, "length": 9}]}),
        ),
        (
            "entity of unknown type",
            json!({"chat_id": chat, "text": "hi",
            "entities": [{"type": "blink", "offset": 0, "length": 1}]}),
        ),
        (
            "entities not a list",
            json!({"chat_id": chat, "text": "hi", "entities": "bold"}),
        ),
        (
            "bad parse_mode",
            json!({"chat_id": chat, "text": "hi", "parse_mode": "BBCode"}),
        ),
        (
            "an HTML entity cut by an emoji",
            json!({"chat_id": chat, "text": "&#x1F600😀<b>x", "parse_mode": "HTML"}),
        ),
        (
            "unclosed markdown",
            json!({"chat_id": chat, "text": "*hi", "parse_mode": "MarkdownV2"}),
        ),
        (
            "reply to nothing",
            json!({"chat_id": chat, "text": "hi", "reply_parameters": {"message_id": 999}}),
        ),
        (
            "reply_parameters wrong type",
            json!({"chat_id": chat, "text": "hi", "reply_parameters": {"message_id": "x"}}),
        ),
        (
            "negative message id",
            json!({"chat_id": chat, "text": "hi", "reply_to_message_id": -5}),
        ),
    ];
    for (what, params) in typed {
        let h = ana.bot.raw("sendMessage", params);
        let v = telegram_error(h.status, &h.body, what);
        assert_eq!(v["error_code"], 400, "{what}: {v}");
    }
    // Other methods with wrong or missing parameters.
    for (method, params, code) in [
        ("getUpdates", json!({"offset": "soon"}), 400),
        ("getUpdates", json!({"limit": [1]}), 400),
        ("getUpdates", json!({"allowed_updates": "message"}), 400),
        (
            "editMessageText",
            json!({"chat_id": chat, "text": "x"}),
            400,
        ),
        (
            "editMessageText",
            json!({"chat_id": chat, "message_id": 1, "text": "x", "inline_message_id": "7"}),
            400,
        ),
        (
            "deleteMessage",
            json!({"chat_id": chat, "message_id": "one"}),
            400,
        ),
        ("answerCallbackQuery", json!({}), 400),
        (
            "answerCallbackQuery",
            json!({"callback_query_id": "1", "text": "x".repeat(201)}),
            400,
        ),
        (
            "sendChatAction",
            json!({"chat_id": chat, "action": "dancing"}),
            400,
        ),
        (
            "setMyCommands",
            json!({"commands": [{"command": "Has Space", "description": "x"}]}),
            400,
        ),
        ("setMyCommands", json!({"commands": "start"}), 400),
        ("setWebhook", json!({"url": "gopher://x"}), 400),
        ("setWebhook", json!({"url": "http://[::1"}), 400),
        ("getChatMember", json!({"chat_id": chat}), 400),
        ("leaveChat", json!({"chat_id": chat}), 400),
        (
            "forwardMessage",
            json!({"chat_id": chat, "from_chat_id": chat, "message_id": 99}),
            400,
        ),
        ("anUnknownMethod", json!({}), 404),
        ("sendDocument", json!({"chat_id": chat}), 404),
    ] {
        let h = ana.bot.raw(method, params.clone());
        let v = telegram_error(h.status, &h.body, &format!("{method} {params}"));
        assert_eq!(v["error_code"], code, "{method} {params}: {v}");
    }
    // A body over the limit is 413, Telegram-shaped.
    let big = json!({"chat_id": chat, "text": "x".repeat(70_000)}).to_string();
    let h = http(
        server.addr,
        "POST",
        &path,
        Some("application/json"),
        big.as_bytes(),
    );
    let v = telegram_error(h.status, &h.body, "oversize body");
    assert_eq!(v["error_code"], 413);
    // Files are not served.
    let h = http(
        server.addr,
        "GET",
        &format!("/file/bot{}/photos/a.jpg", ana.bot.token),
        None,
        b"",
    );
    telegram_error(h.status, &h.body, "file");
    assert_eq!(h.status, 404);

    assert_eq!(
        history(&server, &ana.profile, "@echo_bot"),
        before,
        "no bad request stored anything"
    );
    ana.bot.ok(
        "sendMessage",
        json!({"chat_id": chat, "text": "still fine"}),
    );
}

#[test]
fn random_garbage_never_panics_or_stores() {
    let server = Server::start();
    let ana = person_with_bot(&server, "ana", "echo_bot");
    say(&server, &ana.profile, "@echo_bot", "hello");
    let before = history(&server, &ana.profile, "@echo_bot");
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_b075);
    let methods = [
        "sendMessage",
        "editMessageText",
        "getUpdates",
        "setWebhook",
        "answerCallbackQuery",
    ];
    let types = [
        Some("application/json"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=b"),
        None,
    ];
    let pieces: [&[u8]; 14] = [
        b"{",
        b"}",
        b"[",
        b"\"",
        b"chat_id",
        b"=",
        b"&",
        b"%",
        b"--b",
        b"\r\n",
        b":",
        b"\xff",
        b"text",
        b"reply_markup",
    ];
    for i in 0..300 {
        let mut body = Vec::new();
        for _ in 0..rng.gen_range(0..24) {
            if rng.gen_bool(0.3) {
                body.push(rng.r#gen::<u8>());
            } else {
                body.extend_from_slice(pieces[rng.gen_range(0..pieces.len())]);
            }
        }
        let method = methods[i % methods.len()];
        let ct = types[rng.gen_range(0..types.len())];
        let h = http(
            server.addr,
            "POST",
            &format!("/bot{}/{method}", ana.bot.token),
            ct,
            &body,
        );
        assert!(
            h.status < 500,
            "{method} {ct:?} {:?} → {} {}",
            String::from_utf8_lossy(&body),
            h.status,
            String::from_utf8_lossy(&h.body)
        );
        let v: Value = serde_json::from_slice(&h.body).expect("JSON answer");
        assert!(v["ok"].is_boolean());
    }
    let mut server = server;
    assert!(server.is_running());
    assert_eq!(history(&server, &ana.profile, "@echo_bot"), before);
}
