//! Helpers for bot tests: a bare HTTP/1.1 client (so the tests see exact status codes and
//! bodies), Bot API calls, a person and their bot made with the CLI, and a webhook receiver
//! that records what it gets and answers with the statuses it is told.

use super::{Server, json_lines};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An HTTP answer: status, headers (lowercase names) and body.
#[derive(Debug)]
pub struct Http {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Http {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}), status {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One request over a fresh connection (`Connection: close`), read to the end.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Http {
    http_with(addr, method, path, content_type, &[], body)
}

pub fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Http {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(70))).ok();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("write");
    // The server may answer (413) before reading a large body.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse(&raw)
}

fn parse(raw: &[u8]) -> Http {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP header in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Http {
        status,
        headers,
        body,
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = raw.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(std::str::from_utf8(&raw[..i]).unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&raw[i + 2..i + 2 + n]);
        raw = &raw[i + 4 + n..];
    }
    out
}

/// A Bot API client for one token.
#[derive(Clone)]
pub struct BotApi {
    pub addr: SocketAddr,
    pub token: String,
}

impl BotApi {
    /// POST a JSON body; the raw answer.
    pub fn raw(&self, method: &str, params: Value) -> Http {
        http(
            self.addr,
            "POST",
            &format!("/bot{}/{method}", self.token),
            Some("application/json"),
            params.to_string().as_bytes(),
        )
    }

    /// Call a method; the whole Telegram envelope.
    pub fn call(&self, method: &str, params: Value) -> Value {
        self.raw(method, params).json()
    }

    /// Call a method that must succeed; its `result`.
    pub fn ok(&self, method: &str, params: Value) -> Value {
        let v = self.call(method, params.clone());
        assert_eq!(v["ok"], true, "{method} {params} failed: {v}");
        v["result"].clone()
    }

    /// Call a method that must fail with `code`; the envelope.
    pub fn fails(&self, method: &str, params: Value, code: u16) -> Value {
        let h = self.raw(method, params.clone());
        let v = h.json();
        assert_eq!(
            (h.status, v["ok"].clone(), v["error_code"].clone()),
            (code, json!(false), json!(code)),
            "{method} {params}: {v}"
        );
        assert!(v["description"].is_string(), "{v}");
        v
    }

    /// getUpdates until at least `n` updates from `offset` on are there (or 20 s pass).
    pub fn wait_updates(&self, offset: i64, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.ok("getUpdates", json!({"offset": offset, "timeout": 2}));
            let list = got.as_array().cloned().unwrap_or_default();
            if list.len() >= n || Instant::now() > deadline {
                return list;
            }
        }
    }
}

/// A person (a CLI profile) and the bot they created.
pub struct Owner {
    pub profile: PathBuf,
    pub bot: BotApi,
    pub bot_id: i64,
    pub bot_handle: String,
}

/// Register `person` and create their bot `handle`; the token comes from the CLI.
pub fn person_with_bot(server: &Server, person: &str, handle: &str) -> Owner {
    let profile = server.profile(person);
    server.cli_ok(&profile, &["register", person]);
    let token = create_bot(server, &profile, handle);
    let bot_id = token
        .split(':')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("token {token:?} is not <id>:<secret>"));
    Owner {
        profile,
        bot: BotApi {
            addr: server.addr,
            token,
        },
        bot_id,
        bot_handle: handle.to_string(),
    }
}

/// `chapar bot create HANDLE` as `profile`: the token it prints.
pub fn create_bot(server: &Server, profile: &std::path::Path, handle: &str) -> String {
    let out = server.cli_ok(profile, &["bot", "create", handle]);
    let token = out.trim().to_string();
    assert!(
        token.contains(':') && !token.contains(char::is_whitespace),
        "bot create printed {out:?}"
    );
    token
}

/// Send a text as `profile` with the CLI; the (conversation, seq) it got.
pub fn say(server: &Server, profile: &std::path::Path, target: &str, text: &str) -> (i64, u64) {
    let sent = json_lines(&server.cli_ok(profile, &["--json", "send", target, text]));
    (
        sent[0]["conversation"].as_i64().expect("conversation"),
        sent[0]["seq"].as_u64().expect("seq"),
    )
}

/// The `--json` history of a conversation as `profile` sees it.
pub fn history(server: &Server, profile: &std::path::Path, target: &str) -> Vec<Value> {
    json_lines(&server.cli_ok(profile, &["--json", "history", target]))
}

/// One request a webhook receiver got.
#[derive(Clone, Debug)]
pub struct Hit {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Hit {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A webhook endpoint on 127.0.0.1 that answers the n-th request with `statuses[n]` (the last
/// status once they run out) and records every request.
pub struct Receiver {
    pub addr: SocketAddr,
    pub hits: Arc<Mutex<Vec<Hit>>>,
}

impl Receiver {
    pub fn start(statuses: Vec<u16>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let sink = hits.clone();
        std::thread::spawn(move || {
            for (n, conn) in listener.incoming().enumerate() {
                let Ok(mut conn) = conn else { continue };
                let status = *statuses.get(n).or(statuses.last()).unwrap_or(&200);
                if let Some(hit) = read_request(&mut conn) {
                    sink.lock().unwrap().push(hit);
                }
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = conn.write_all(reply.as_bytes());
            }
        });
        Receiver { addr, hits }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Wait until at least `n` requests came (20 s at most); all of them.
    pub fn wait(&self, n: usize) -> Vec<Hit> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let hits = self.hits.lock().unwrap().clone();
            if hits.len() >= n || Instant::now() > deadline {
                return hits;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn read_request(conn: &mut TcpStream) -> Option<Hit> {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut headers = Vec::new();
    let mut length = 0;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            if k == "content-length" {
                length = v.trim().parse().unwrap_or(0);
            }
            headers.push((k, v.trim().to_string()));
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Hit {
        path,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}
