//! The Bot API method by method against the real binary: tokens, offsets confirming updates,
//! long polling, webhooks (retries with the same update_id, exclusive with getUpdates),
//! Telegram's error shapes and codes, rate limits, privacy mode, and that a bot reads nothing
//! of a group it is not in. The person side is the CLI.

use crate::util::bot::{BotApi, Receiver, history, http, person_with_bot, say};
use crate::util::{Server, json_lines};
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn tokens_are_issued_reissued_and_revoked() {
    let server = Server::start();
    let ana = person_with_bot(&server, "ana", "echo_bot");
    let me = ana.bot.ok("getMe", json!({}));
    assert_eq!(me["id"], ana.bot_id);
    assert_eq!(
        (me["is_bot"].clone(), me["username"].clone()),
        (json!(true), json!("echo_bot"))
    );
    assert_eq!(me["can_read_all_group_messages"], false);
    // GET with a query string works too, and method names ignore case.
    let get = http(
        server.addr,
        "GET",
        &format!("/bot{}/GETME", ana.bot.token),
        None,
        b"",
    );
    assert_eq!(
        (get.status, get.json()["result"]["id"].clone()),
        (200, json!(ana.bot_id))
    );
    let list = json_lines(&server.cli_ok(&ana.profile, &["--json", "bot", "list"]));
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0]["handle"].clone(), list[0]["has_token"].clone()),
        (json!("echo_bot"), json!(true))
    );
    assert!(list[0]["token"].is_null(), "a listed bot shows no token");

    let new_token = server
        .cli_ok(&ana.profile, &["bot", "token", "@echo_bot"])
        .trim()
        .to_string();
    assert_ne!(new_token, ana.bot.token);
    ana.bot.fails("getMe", json!({}), 401);
    let renewed = BotApi {
        addr: server.addr,
        token: new_token.clone(),
    };
    renewed.ok("getMe", json!({}));
    server.cli_ok(&ana.profile, &["bot", "revoke", "echo_bot"]);
    renewed.fails("getMe", json!({}), 401);
    // A malformed token is 404, as on Telegram; an unknown bot id with any secret is 401.
    let junk = BotApi {
        addr: server.addr,
        token: "not-a-token".into(),
    };
    junk.fails("getMe", json!({}), 404);
    // Another person cannot touch ana's bot.
    let bob = server.profile("bob");
    server.cli_ok(&bob, &["register", "bob"]);
    let out = server.cli(&bob, &["bot", "token", "echo_bot"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not_found"),
        "{out:?}"
    );
    // Bot handles are handles: taken ones are refused.
    let out = server.cli(&bob, &["bot", "create", "ana"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("conflict"),
        "{out:?}"
    );
}

#[test]
fn offsets_confirm_updates() {
    let server = Server::start();
    let ana = person_with_bot(&server, "ana", "echo_bot");
    for text in ["one", "two", "three"] {
        say(&server, &ana.profile, "@echo_bot", text);
    }
    let first = ana.bot.ok("getUpdates", json!({}));
    let ids: Vec<i64> = first
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["update_id"].as_i64().unwrap())
        .collect();
    let texts: Vec<&str> = first
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["message"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec!["one", "two", "three"]);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let m = &first[0]["message"];
    assert_eq!(m["chat"]["type"], "private");
    assert_eq!(
        m["chat"]["id"], m["from"]["id"],
        "a private chat's id is the person's id"
    );
    assert_eq!(
        (m["message_id"].clone(), m["from"]["is_bot"].clone()),
        (json!(1), json!(false))
    );
    // Not confirmed yet: the same updates again.
    assert_eq!(ana.bot.ok("getUpdates", json!({})), first);
    // limit, then a later offset confirms.
    let one = ana
        .bot
        .ok("getUpdates", json!({"offset": ids[1], "limit": 1}));
    assert_eq!(one[0]["update_id"], ids[1]);
    assert_eq!(
        ana.bot.ok("getUpdates", json!({}))[0]["update_id"],
        ids[1],
        "below the offset is gone"
    );
    assert_eq!(
        ana.bot.ok("getUpdates", json!({"offset": ids[2] + 1})),
        json!([])
    );
    assert_eq!(
        ana.bot.ok("getUpdates", json!({})),
        json!([]),
        "confirmed stays confirmed"
    );
    say(&server, &ana.profile, "@echo_bot", "four");
    let (_, five) = say(&server, &ana.profile, "@echo_bot", "five");
    let last = ana.bot.ok("getUpdates", json!({"offset": -1}));
    assert_eq!(last.as_array().unwrap().len(), 1);
    assert_eq!(last[0]["message"]["text"], "five");
    assert!(last[0]["update_id"].as_i64().unwrap() > ids[2]);
    // The bot's own messages are not updates to it.
    let chat = last[0]["message"]["chat"]["id"].clone();
    ana.bot
        .ok("sendMessage", json!({"chat_id": chat, "text": "echo"}));
    let offset = last[0]["update_id"].as_i64().unwrap() + 1;
    assert_eq!(
        ana.bot.ok("getUpdates", json!({"offset": offset})),
        json!([])
    );
    // An edit by the person is an edited_message update of the same message_id.
    server.cli_ok(
        &ana.profile,
        &["edit", "@echo_bot", &five.to_string(), "FIVE!"],
    );
    let edited = ana.bot.wait_updates(offset, 1);
    let e = &edited[0]["edited_message"];
    assert_eq!(
        (e["message_id"].clone(), e["text"].clone()),
        (json!(five), json!("FIVE!"))
    );
    assert!(e["edit_date"].as_i64() >= e["date"].as_i64(), "{e}");
    assert_eq!(e["chat"]["id"], chat);
}

#[test]
fn long_polls_wake_up_and_a_newer_poll_ends_the_older() {
    let server = Server::start();
    let ana = person_with_bot(&server, "ana", "echo_bot");
    let bot = ana.bot.clone();
    let started = Instant::now();
    let poll = std::thread::spawn(move || bot.call("getUpdates", json!({"timeout": 20})));
    std::thread::sleep(Duration::from_millis(500));
    say(&server, &ana.profile, "@echo_bot", "wake up");
    let got = poll.join().unwrap();
    assert_eq!(got["result"][0]["message"]["text"], "wake up", "{got}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the poll was woken, not timed out"
    );
    // An empty poll waits for its timeout.
    let offset = got["result"][0]["update_id"].as_i64().unwrap() + 1;
    let t = Instant::now();
    assert_eq!(
        ana.bot
            .ok("getUpdates", json!({"offset": offset, "timeout": 1})),
        json!([])
    );
    assert!(t.elapsed() >= Duration::from_millis(900));
    // Two instances of one bot: the older poll is terminated with 409.
    let bot = ana.bot.clone();
    let older =
        std::thread::spawn(move || bot.raw("getUpdates", json!({"offset": offset, "timeout": 15})));
    std::thread::sleep(Duration::from_millis(500));
    let newer_bot = ana.bot.clone();
    let newer = std::thread::spawn(move || {
        newer_bot.call("getUpdates", json!({"offset": offset, "timeout": 2}))
    });
    let older = older.join().unwrap();
    assert_eq!(
        older.status,
        409,
        "{:?}",
        String::from_utf8_lossy(&older.body)
    );
    let v = older.json();
    assert!(
        v["description"]
            .as_str()
            .unwrap()
            .starts_with("Conflict: terminated by other getUpdates"),
        "{v}"
    );
    assert_eq!(newer.join().unwrap()["ok"], true);
}

#[test]
fn webhooks_retry_the_same_update_and_exclude_get_updates() {
    let server = Server::start_with(&[
        ("CHAPAR_BOTS__WEBHOOK_ALLOW_PRIVATE", "true"),
        ("CHAPAR_BOTS__WEBHOOK_MAX_BACKOFF_SECS", "1"),
    ]);
    let ana = person_with_bot(&server, "ana", "hook_bot");
    let hook = Receiver::start(vec![500, 502, 200]);
    ana.bot.ok(
        "setWebhook",
        json!({"url": hook.url(), "secret_token": "s3cr3t-Token_1", "allowed_updates": ["message"]}),
    );
    let v = ana.bot.fails("getUpdates", json!({}), 409);
    assert!(
        v["description"]
            .as_str()
            .unwrap()
            .contains("webhook is active"),
        "{v}"
    );
    say(&server, &ana.profile, "@hook_bot", "hello hook");
    let hits = hook.wait(3);
    assert_eq!(hits.len(), 3, "two failures, then a success: {hits:?}");
    let ids: Vec<_> = hits.iter().map(|h| h.body["update_id"].clone()).collect();
    assert!(
        ids.iter().all(|i| *i == ids[0] && i.is_i64()),
        "the same update each time: {ids:?}"
    );
    for h in &hits {
        assert_eq!(h.path, "/hook");
        assert_eq!(
            h.header("x-telegram-bot-api-secret-token"),
            Some("s3cr3t-Token_1")
        );
        assert_eq!(h.header("content-type"), Some("application/json"));
        assert_eq!(h.body["message"]["text"], "hello hook");
    }
    // Delivered: nothing pending, nothing sent again.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(hook.hits.lock().unwrap().len(), 3);
    let info = ana.bot.ok("getWebhookInfo", json!({}));
    assert_eq!(info["url"], hook.url());
    assert_eq!(info["pending_update_count"], 0);
    assert_eq!(info["allowed_updates"], json!(["message"]));
    assert!(
        info.get("last_error_message").is_none(),
        "cleared after a success: {info}"
    );
    // Updates keep coming in order, one at a time.
    say(&server, &ana.profile, "@hook_bot", "second");
    say(&server, &ana.profile, "@hook_bot", "third");
    let hits = hook.wait(5);
    let texts: Vec<_> = hits[3..]
        .iter()
        .map(|h| h.body["message"]["text"].clone())
        .collect();
    assert_eq!(texts, vec![json!("second"), json!("third")]);
    assert!(hits[3].body["update_id"].as_i64() < hits[4].body["update_id"].as_i64());
    // Deleting the webhook gives getUpdates back, with nothing already delivered in it.
    ana.bot.ok("deleteWebhook", json!({}));
    assert_eq!(ana.bot.ok("getWebhookInfo", json!({}))["url"], "");
    assert_eq!(ana.bot.ok("getUpdates", json!({})), json!([]));
    // A webhook that keeps failing shows its error; updates wait for it.
    let down = Receiver::start(vec![503]);
    ana.bot.ok("setWebhook", json!({"url": down.url()}));
    say(&server, &ana.profile, "@hook_bot", "anyone?");
    down.wait(2);
    let info = ana.bot.ok("getWebhookInfo", json!({}));
    assert_eq!(info["pending_update_count"], 1, "{info}");
    assert!(
        info["last_error_message"].as_str().unwrap().contains("503"),
        "{info}"
    );
    assert!(info["last_error_date"].as_i64().unwrap() > 1_700_000_000);
    // Webhooks must be http:// for now, and private addresses are refused by default.
    let v = ana.bot.fails(
        "setWebhook",
        json!({"url": "https://example.org/hook"}),
        400,
    );
    assert!(
        v["description"]
            .as_str()
            .unwrap()
            .starts_with("Bad Request: bad webhook"),
        "{v}"
    );
    ana.bot.fails(
        "setWebhook",
        json!({"url": hook.url(), "secret_token": "bad token!"}),
        400,
    );
}

#[test]
fn webhooks_to_private_addresses_are_refused_by_default() {
    let server = Server::start();
    let ana = person_with_bot(&server, "ana", "hook_bot");
    let v = ana
        .bot
        .fails("setWebhook", json!({"url": "http://127.0.0.1:9/hook"}), 400);
    assert!(
        v["description"].as_str().unwrap().contains("private"),
        "{v}"
    );
    assert_eq!(ana.bot.ok("getWebhookInfo", json!({}))["url"], "");
}

#[test]
fn errors_have_telegram_shape_and_codes() {
    let server = Server::start_with(&[
        ("CHAPAR_BOTS__SENDS_PER_CHAT__PER_MINUTE", "60"),
        ("CHAPAR_BOTS__SENDS_PER_CHAT__BURST", "3"),
    ]);
    let ana = person_with_bot(&server, "ana", "echo_bot");
    let v = ana.bot.fails("noSuchMethod", json!({}), 404);
    assert_eq!(
        v,
        json!({"ok": false, "error_code": 404, "description": "Not Found"})
    );
    let v = ana.bot.fails("sendPhoto", json!({}), 404);
    assert!(
        v["description"].as_str().unwrap().contains("not supported"),
        "{v}"
    );
    let v = ana.bot.fails("sendMessage", json!({"text": "hi"}), 400);
    assert_eq!(v["description"], "Bad Request: chat_id is empty");
    let carol = server.profile("carol");
    server.cli_ok(&carol, &["register", "carol"]);
    let carol_id = json_lines(&server.cli_ok(&carol, &["--json", "bot", "list"])).len();
    assert_eq!(carol_id, 0);
    // A bot cannot start a conversation: carol (user 3) never wrote to it.
    let v = ana
        .bot
        .fails("sendMessage", json!({"chat_id": 3, "text": "hi"}), 403);
    assert_eq!(
        v["description"],
        "Forbidden: bot can't initiate conversation with a user"
    );
    let (_, _) = say(&server, &ana.profile, "@echo_bot", "hi");
    let ana_id = ana.bot.ok("getUpdates", json!({}))[0]["message"]["from"]["id"].clone();
    let v = ana.bot.fails(
        "editMessageText",
        json!({"chat_id": ana_id, "message_id": 99, "text": "x"}),
        400,
    );
    assert_eq!(v["description"], "Bad Request: message to edit not found");
    let v = ana.bot.fails(
        "editMessageText",
        json!({"chat_id": ana_id, "message_id": 1, "text": "x"}),
        400,
    );
    assert_eq!(
        v["description"], "Bad Request: message can't be edited",
        "ana's message is not the bot's"
    );
    let v = ana.bot.fails(
        "answerCallbackQuery",
        json!({"callback_query_id": "12345"}),
        400,
    );
    assert!(
        v["description"]
            .as_str()
            .unwrap()
            .contains("query ID is invalid"),
        "{v}"
    );
    let v = ana.bot.fails(
        "sendMessage",
        json!({"chat_id": ana_id, "text": "<b>open", "parse_mode": "HTML"}),
        400,
    );
    assert!(
        v["description"]
            .as_str()
            .unwrap()
            .starts_with("Bad Request: can't parse entities"),
        "{v}"
    );
    let v = ana.bot.fails(
        "deleteMessage",
        json!({"chat_id": ana_id, "message_id": 77}),
        400,
    );
    assert_eq!(v["description"], "Bad Request: message to delete not found");
    // Per-chat send limit: 3 at once, then 429 with retry_after, in the body and the header.
    let mut limited = None;
    for i in 0..6 {
        let h = ana.bot.raw(
            "sendMessage",
            json!({"chat_id": ana_id, "text": format!("n{i}")}),
        );
        if h.status == 429 {
            limited = Some(h);
            break;
        }
        assert_eq!(h.status, 200);
    }
    let h = limited.expect("the per-chat limit answers 429");
    let v = h.json();
    assert_eq!(v["error_code"], 429);
    let retry = v["parameters"]["retry_after"]
        .as_u64()
        .expect("retry_after");
    assert!((1..=2).contains(&retry), "{v}");
    assert_eq!(
        v["description"],
        format!("Too Many Requests: retry after {retry}")
    );
    assert_eq!(h.header("retry-after"), Some(retry.to_string().as_str()));
    std::thread::sleep(Duration::from_secs(retry));
    ana.bot.ok(
        "sendMessage",
        json!({"chat_id": ana_id, "text": "after the wait"}),
    );
}

#[test]
fn a_bot_reads_only_groups_it_is_in_and_in_privacy_mode_only_what_is_addressed_to_it() {
    let server = Server::start();
    let ana = person_with_bot(&server, "ana", "echo_bot");
    let bob = server.profile("bob");
    server.cli_ok(&bob, &["register", "bob"]);
    let created =
        json_lines(&server.cli_ok(&ana.profile, &["--json", "group", "create", "club", "@bob"]));
    let conv = created[0]["conversation"].as_i64().unwrap();
    let chat = -conv;
    say(&server, &bob, &conv.to_string(), "secret plans");
    for (method, params) in [
        ("getChat", json!({"chat_id": chat})),
        ("getChatMemberCount", json!({"chat_id": chat})),
        ("getChatMember", json!({"chat_id": chat, "user_id": 1})),
        ("sendMessage", json!({"chat_id": chat, "text": "let me in"})),
        (
            "sendChatAction",
            json!({"chat_id": chat, "action": "typing"}),
        ),
        (
            "forwardMessage",
            json!({"chat_id": chat, "from_chat_id": chat, "message_id": 2}),
        ),
        ("leaveChat", json!({"chat_id": chat})),
    ] {
        let v = ana.bot.fails(method, params, 403);
        assert_eq!(
            v["description"], "Forbidden: bot is not a member of the group chat",
            "{method}"
        );
    }
    assert_eq!(
        ana.bot.ok("getUpdates", json!({})),
        json!([]),
        "nothing of the group reaches it"
    );
    // Added: it learns so, and the group is readable from there on.
    server.cli_ok(
        &ana.profile,
        &["group", "add", &conv.to_string(), "@echo_bot"],
    );
    let ups = ana.bot.wait_updates(0, 1);
    let added = &ups[0]["my_chat_member"];
    assert_eq!(
        added["chat"],
        json!({"id": chat, "type": "group", "title": "club"})
    );
    assert_eq!(added["new_chat_member"]["status"], "member");
    assert_eq!(added["old_chat_member"]["status"], "left");
    assert_eq!(added["new_chat_member"]["user"]["id"], ana.bot_id);
    let mut offset = ups[0]["update_id"].as_i64().unwrap() + 1;
    assert_eq!(
        ana.bot.ok("getChatMemberCount", json!({"chat_id": chat})),
        3
    );
    let full = ana.bot.ok("getChat", json!({"chat_id": chat}));
    assert_eq!(
        (full["type"].clone(), full["title"].clone()),
        (json!("group"), json!("club"))
    );
    let owner = ana
        .bot
        .ok("getChatMember", json!({"chat_id": chat, "user_id": 1}));
    assert_eq!(owner["status"], "creator");
    // Privacy mode: plain chatter is not delivered; commands, mentions and replies are.
    for text in [
        "just chatting",
        "/help",
        "/help@other_bot",
        "hey @echo_bot",
        "/start@echo_bot",
    ] {
        say(&server, &bob, &conv.to_string(), text);
    }
    let sent = ana
        .bot
        .ok("sendMessage", json!({"chat_id": chat, "text": "I am here"}));
    let bot_seq = sent["message_id"].as_u64().unwrap();
    server.cli_ok(
        &bob,
        &[
            "send",
            &conv.to_string(),
            "thanks bot",
            "--reply-to",
            &bot_seq.to_string(),
        ],
    );
    let got = ana.bot.wait_updates(offset, 4);
    let texts: Vec<&str> = got
        .iter()
        .map(|u| u["message"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        vec!["/help", "hey @echo_bot", "/start@echo_bot", "thanks bot"]
    );
    assert_eq!(got[0]["message"]["entities"][0]["type"], "bot_command");
    assert_eq!(got[3]["message"]["reply_to_message"]["message_id"], bot_seq);
    offset = got[3]["update_id"].as_i64().unwrap() + 1;
    // Privacy off: everything.
    server.cli_ok(&ana.profile, &["bot", "privacy", "echo_bot", "off"]);
    assert_eq!(
        ana.bot.ok("getMe", json!({}))["can_read_all_group_messages"],
        true
    );
    // Other bots' messages never reach it, even without privacy mode.
    let other = crate::util::bot::create_bot(&server, &ana.profile, "other_bot");
    let other = BotApi {
        addr: server.addr,
        token: other,
    };
    server.cli_ok(
        &ana.profile,
        &["group", "add", &conv.to_string(), "@other_bot"],
    );
    other.ok(
        "sendMessage",
        json!({"chat_id": chat, "text": "/help@echo_bot from a bot"}),
    );
    say(&server, &bob, &conv.to_string(), "more chatter");
    let got = ana.bot.wait_updates(offset, 1);
    let texts: Vec<_> = got
        .iter()
        .filter_map(|u| u["message"]["text"].as_str())
        .collect();
    assert_eq!(texts, vec!["more chatter"], "{got:?}");
    let got: Vec<_> = got
        .into_iter()
        .filter(|u| u["message"].is_object())
        .collect();
    offset = got[0]["update_id"].as_i64().unwrap() + 1;
    // Leaving: my_chat_member again, then nothing more.
    ana.bot.ok("leaveChat", json!({"chat_id": chat}));
    let got = ana.bot.wait_updates(offset, 1);
    assert_eq!(
        got[0]["my_chat_member"]["new_chat_member"]["status"],
        "left"
    );
    offset = got[0]["update_id"].as_i64().unwrap() + 1;
    say(&server, &bob, &conv.to_string(), "is it gone?");
    assert_eq!(
        ana.bot
            .ok("getUpdates", json!({"offset": offset, "timeout": 1})),
        json!([])
    );
    ana.bot.fails("getChat", json!({"chat_id": chat}), 403);
}

#[test]
fn buttons_callbacks_and_edits_with_the_terminal() {
    let server = Server::start();
    let ana = person_with_bot(&server, "ana", "echo_bot");
    let (_, _) = say(&server, &ana.profile, "@echo_bot", "/start");
    let ups = ana.bot.ok("getUpdates", json!({}));
    let chat = ups[0]["message"]["chat"]["id"].clone();
    let offset = ups[0]["update_id"].as_i64().unwrap() + 1;
    let keyboard = json!({"inline_keyboard": [[{"text": "Shout", "callback_data": "shout"},
                                                 {"text": "Docs", "url": "https://example.org/docs"}]]});
    let sent = ana.bot.ok(
        "sendMessage",
        json!({"chat_id": chat, "text": "*hello* there", "parse_mode": "MarkdownV2",
               "reply_markup": keyboard, "reply_parameters": {"message_id": 1}}),
    );
    assert_eq!(sent["text"], "hello there");
    assert_eq!(
        sent["entities"],
        json!([{"type": "bold", "offset": 0, "length": 5}])
    );
    assert_eq!(sent["reply_markup"], keyboard);
    assert_eq!(sent["reply_to_message"]["text"], "/start");
    let seq = sent["message_id"].as_u64().unwrap();
    // The person sees the buttons.
    let text = server.cli_ok(&ana.profile, &["history", "@echo_bot"]);
    assert!(
        text.contains("[Shout]") && text.contains("[Docs ↗ https://example.org/docs]"),
        "{text}"
    );
    let h = history(&server, &ana.profile, "@echo_bot");
    assert_eq!(h[1]["reply_markup"], keyboard);
    // Press (the CLI waits for the answer) while the bot answers.
    let press = {
        let (bin, url, profile) = (crate::util::BIN, server.url(), ana.profile.clone());
        std::thread::spawn(move || {
            std::process::Command::new(bin)
                .args(["--server", &url, "--profile"])
                .arg(&profile)
                .args([
                    "--json",
                    "press",
                    "@echo_bot",
                    &seq.to_string(),
                    "Shout",
                    "--wait",
                    "15",
                ])
                .output()
                .expect("run chapar press")
        })
    };
    let got = ana.bot.wait_updates(offset, 1);
    let q = &got[0]["callback_query"];
    assert_eq!(q["data"], "shout");
    assert_eq!(q["message"]["message_id"], seq);
    assert_eq!(q["from"]["username"], "ana");
    assert_eq!(
        q["chat_instance"].as_str().map(|s| !s.is_empty()),
        Some(true)
    );
    ana.bot.ok(
        "answerCallbackQuery",
        json!({"callback_query_id": q["id"], "text": "Shouted!"}),
    );
    let out = press.join().unwrap();
    let lines = json_lines(&String::from_utf8_lossy(&out.stdout));
    assert!(out.status.success(), "{out:?}");
    let answer = lines
        .iter()
        .find(|l| l["type"] == "callback_answer")
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(answer["text"], "Shouted!");
    // The bot edits the message; the person sees the new text and no buttons.
    let edited = ana.bot.ok(
        "editMessageText",
        json!({"chat_id": chat, "message_id": seq, "text": "HELLO THERE"}),
    );
    assert_eq!(edited["text"], "HELLO THERE");
    assert!(edited["edit_date"].is_i64());
    ana.bot.fails(
        "editMessageText",
        json!({"chat_id": chat, "message_id": seq, "text": "HELLO THERE"}),
        400,
    );
    let h = history(&server, &ana.profile, "@echo_bot");
    let m = h.iter().find(|m| m["seq"] == seq).unwrap();
    assert_eq!(
        (m["text"].clone(), m["edited"].clone()),
        (json!("HELLO THERE"), json!(true))
    );
    assert!(m.get("reply_markup").is_none(), "{m}");
    // Buttons only.
    let kb2 = json!({"inline_keyboard": [[{"text": "Again", "callback_data": "again"}]]});
    let e = ana.bot.ok(
        "editMessageReplyMarkup",
        json!({"chat_id": chat, "message_id": seq, "reply_markup": kb2}),
    );
    assert_eq!(
        (e["text"].clone(), e["reply_markup"].clone()),
        (json!("HELLO THERE"), kb2)
    );
    // Pressing a button that is gone fails in the terminal.
    let out = server.cli(
        &ana.profile,
        &["press", "@echo_bot", &seq.to_string(), "Shout"],
    );
    assert!(!out.status.success());
    // Forward and copy within the chat; delete.
    let fwd = ana.bot.ok(
        "forwardMessage",
        json!({"chat_id": chat, "from_chat_id": chat, "message_id": 1}),
    );
    assert_eq!(
        (
            fwd["text"].clone(),
            fwd["forward_origin"]["sender_user"]["username"].clone()
        ),
        (json!("/start"), json!("ana"))
    );
    let copy = ana.bot.ok(
        "copyMessage",
        json!({"chat_id": chat, "from_chat_id": chat, "message_id": seq}),
    );
    let copy_id = copy["message_id"].as_u64().unwrap();
    assert!(copy_id > seq);
    assert_eq!(
        ana.bot.ok(
            "deleteMessage",
            json!({"chat_id": chat, "message_id": copy_id})
        ),
        true
    );
    let h = history(&server, &ana.profile, "@echo_bot");
    assert!(
        h.iter()
            .any(|m| m["seq"] == copy_id && m["deleted"] == true)
    );
    ana.bot.ok(
        "sendChatAction",
        json!({"chat_id": chat, "action": "typing"}),
    );
    ana.bot.ok(
        "setMyCommands",
        json!({"commands": [{"command": "start", "description": "Start"}]}),
    );
    assert_eq!(
        ana.bot.ok("getMyCommands", json!({})),
        json!([{"command": "start", "description": "Start"}])
    );
}

/// A person's messages to a bot show as read once the bot has them (from `getUpdates`), as any
/// reader's would; until then they are only sent.
#[test]
fn messages_a_bot_has_taken_show_as_read() {
    let server = Server::start();
    let ana = person_with_bot(&server, "ana", "reader_bot");
    say(&server, &ana.profile, "@reader_bot", "one");
    let (conv, seq) = say(&server, &ana.profile, "@reader_bot", "two");
    let bot_marks = || {
        let members =
            json_lines(&server.cli_ok(&ana.profile, &["--json", "members", &conv.to_string()]));
        let bot = members
            .iter()
            .find(|m| m["handle"] == "reader_bot")
            .unwrap_or_else(|| panic!("no bot among {members:?}"))
            .clone();
        (bot["delivered_seq"].as_u64(), bot["read_seq"].as_u64())
    };
    assert_eq!(bot_marks(), (Some(0), Some(0)), "not taken yet");
    let updates = ana.bot.ok("getUpdates", json!({}));
    assert_eq!(updates.as_array().map(Vec::len), Some(2));
    assert_eq!(
        bot_marks(),
        (Some(seq), Some(seq)),
        "taken: read up to the last one"
    );
}
