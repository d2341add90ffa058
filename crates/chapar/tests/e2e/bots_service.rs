//! The service HTTP API against the real binary: the OpenAPI document and its routes,
//! notifications only to people who allowed the service, idempotent retries, replies by
//! webhook and by polling, and errors in the protocol's shape.

use crate::util::bot::{BotApi, Http, Receiver, http_with, person_with_bot};
use crate::util::{Server, json_lines};
use serde_json::{Value, json};

struct Service<'a> {
    server: &'a Server,
    token: String,
}

impl Service<'_> {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Http {
        let auth = format!("Bearer {}", self.token);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        http_with(
            self.server.addr,
            method,
            path,
            Some("application/json"),
            &[("Authorization", auth.as_str())],
            body.as_bytes(),
        )
    }

    fn notify(&self, to: &str, text: &str, client_id: Option<&str>) -> Http {
        let mut body = json!({"to": to, "text": text});
        if let Some(c) = client_id {
            body["client_id"] = json!(c);
        }
        self.call("POST", "/v1/service/notifications", Some(body))
    }
}

fn error_code(h: &Http) -> String {
    let v = h.json();
    v["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {v}"))
        .to_string()
}

#[test]
fn the_openapi_document_is_served_and_describes_the_routes() {
    let server = Server::start();
    let h = http_with(server.addr, "GET", "/v1/openapi.json", None, &[], b"");
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-type"), Some("application/json"));
    let doc = h.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/v1/service/notifications"));
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let h = http_with(server.addr, &method.to_uppercase(), path, None, &[], b"");
            if path == "/v1/openapi.json" {
                assert_eq!(h.status, 200);
                continue;
            }
            // Every documented route exists and wants a service token.
            assert_eq!(
                h.status,
                401,
                "{method} {path}: {}",
                String::from_utf8_lossy(&h.body)
            );
            assert_eq!(error_code(&h), "unauthorized", "{method} {path}");
        }
    }
}

#[test]
fn notifications_need_consent_and_replies_come_back_by_webhook_and_polling() {
    let server = Server::start_with(&[
        ("CHAPAR_BOTS__WEBHOOK_ALLOW_PRIVATE", "true"),
        ("CHAPAR_BOTS__WEBHOOK_MAX_BACKOFF_SECS", "1"),
    ]);
    let (ana, bob) = (server.profile("ana"), server.profile("bob"));
    server.cli_ok(&ana, &["register", "ana"]);
    server.cli_ok(&bob, &["register", "bob"]);
    let token = server.cli_ok(&ana, &["service", "create", "shop", "--name", "The Shop"]);
    let shop = Service {
        server: &server,
        token: token.trim().to_string(),
    };
    let me = shop.call("GET", "/v1/service/me", None);
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["handle"], "shop");
    assert_eq!(me.json()["display_name"], "The Shop");

    let refused = shop.notify("@bob", "your order shipped", None);
    assert_eq!(
        (refused.status, error_code(&refused)),
        (403, "forbidden".into())
    );
    let out = server.cli_ok(&bob, &["--json", "sync"]);
    assert!(
        json_lines(&out).iter().all(|e| e["type"] != "message"),
        "{out}"
    );

    server.cli_ok(&bob, &["service", "allow", "@shop"]);
    let sent = shop.notify("bob", "your order shipped", Some("order-17"));
    assert_eq!(
        sent.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&sent.body)
    );
    let s = sent.json();
    assert_eq!(
        (s["seq"].clone(), s["duplicate"].clone()),
        (json!(1), json!(false))
    );
    let again = shop
        .notify("bob", "your order shipped", Some("order-17"))
        .json();
    assert_eq!(
        (again["seq"].clone(), again["duplicate"].clone()),
        (json!(1), json!(true))
    );
    let got = json_lines(&server.cli_ok(&bob, &["--json", "sync"]));
    let msgs: Vec<&Value> = got.iter().filter(|e| e["type"] == "message").collect();
    assert_eq!(msgs.len(), 1, "one notification, not two: {got:?}");
    assert_eq!(
        (msgs[0]["sender"].clone(), msgs[0]["text"].clone()),
        (json!("shop"), json!("your order shipped"))
    );

    // Replies by webhook, with the secret.
    let hook = Receiver::start(vec![500, 200]);
    let set = shop.call(
        "PUT",
        "/v1/service/webhook",
        Some(json!({"url": hook.url(), "secret": "hush"})),
    );
    assert_eq!(set.status, 200, "{:?}", String::from_utf8_lossy(&set.body));
    server.cli_ok(
        &bob,
        &["send", "@shop", "when does it arrive?", "--reply-to", "1"],
    );
    let hits = hook.wait(2);
    assert_eq!(hits.len(), 2, "a retry after the 500: {hits:?}");
    assert_eq!(
        hits[0].body["id"], hits[1].body["id"],
        "the same event again"
    );
    let e = &hits[1].body;
    assert_eq!(hits[1].header("x-chapar-service-secret"), Some("hush"));
    assert_eq!(
        (e["type"].clone(), e["text"].clone()),
        (json!("message"), json!("when does it arrive?"))
    );
    assert_eq!(
        (e["user"]["handle"].clone(), e["reply_to"].clone()),
        (json!("bob"), json!(1))
    );
    let info = shop.call("GET", "/v1/service/webhook", None).json();
    assert_eq!(info["url"], hook.url());
    let polled = shop.call("GET", "/v1/service/events", None);
    assert_eq!(
        (polled.status, error_code(&polled)),
        (409, "conflict".into())
    );

    // Replies by polling, confirmed by `after`.
    assert_eq!(shop.call("DELETE", "/v1/service/webhook", None).status, 204);
    server.cli_ok(&bob, &["send", "@shop", "thanks!"]);
    let events = shop
        .call("GET", "/v1/service/events?timeout=5", None)
        .json();
    let list = events["events"].as_array().expect("events");
    assert_eq!(
        list.len(),
        1,
        "the webhook's event is not repeated: {events}"
    );
    assert_eq!(list[0]["text"], "thanks!");
    let after = list[0]["id"].as_i64().unwrap();
    let none = shop
        .call("GET", &format!("/v1/service/events?after={after}"), None)
        .json();
    assert_eq!(none["events"], json!([]));
    // Confirming past anything that can exist is answered, not a crash.
    let past = shop.call("GET", "/v1/service/events?after=18446744073709551615", None);
    assert_eq!(
        (past.status, past.json()["events"].clone()),
        (200, json!([]))
    );

    // Withdrawn consent stops notifications, even in the existing conversation.
    server.cli_ok(&bob, &["service", "deny", "shop"]);
    let refused = shop.notify("bob", "a special offer", None);
    assert_eq!(refused.status, 403);

    // Errors in the protocol's shape.
    let bad = http_with(
        server.addr,
        "POST",
        "/v1/service/notifications",
        Some("application/json"),
        &[("Authorization", &format!("Bearer {}", shop.token))],
        b"{\"to\": ",
    );
    assert_eq!((bad.status, error_code(&bad)), (400, "invalid".into()));
    let unknown = shop.notify("nobody_here", "hi", None);
    assert_eq!(
        (unknown.status, error_code(&unknown)),
        (404, "not_found".into())
    );
    server.cli_ok(&bob, &["service", "allow", "shop"]);
    let long = shop.notify("bob", &"x".repeat(5000), None);
    assert_eq!((long.status, error_code(&long)), (413, "too_large".into()));
    let extra = shop.call(
        "POST",
        "/v1/service/notifications",
        Some(json!({"to": "bob", "text": "hi", "colour": "red"})),
    );
    assert_eq!(extra.status, 400);
}

#[test]
fn bot_and_service_tokens_do_not_cross() {
    let server = Server::start();
    let ana = person_with_bot(&server, "ana", "echo_bot");
    let token = server.cli_ok(&ana.profile, &["service", "create", "shop"]);
    let as_bot = BotApi {
        addr: server.addr,
        token: token.trim().to_string(),
    };
    as_bot.fails("getMe", json!({}), 401);
    let shop = Service {
        server: &server,
        token: ana.bot.token.clone(),
    };
    let h = shop.call("GET", "/v1/service/me", None);
    assert_eq!((h.status, error_code(&h)), (401, "unauthorized".into()));
    // Only services can be allowed.
    let out = server.cli(&ana.profile, &["service", "allow", "echo_bot"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not_found"),
        "{out:?}"
    );
}
