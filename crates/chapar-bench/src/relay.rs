//! The bare baseline: a minimal WebSocket relay that speaks just enough of protocol v1 for the
//! same scenarios to run against it, with no authentication (any key and any token are
//! accepted), no storage (nothing survives a restart), no sync (feeds are always empty) and no
//! limits. What it does is what any relay must do: accept, decode a frame, look up the
//! recipients, encode the event once, queue it on every recipient's connection, and write.
//! chapar's figures divided by the relay's say how much of this machine chapar uses for being
//! a messenger rather than a pipe.

use chapar_proto::{ClientFrame, ConversationId, Encoding, ErrorBody, ErrorCode, Request, UserId};
use futures_util::{SinkExt, StreamExt};
use rand::RngCore;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{
    Request as HttpRequest, Response as HttpResponse,
};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Frames queued per connection (as in chapar's default); a full queue drops the frame.
const QUEUE: usize = 512;
const WRITE_BATCH: usize = 64;
const LISTEN_BACKLOG: u32 = 65_535;

/// A signed-in connection, as the fan-out sees it.
#[derive(Clone)]
struct Peer {
    conn: u64,
    encoding: Encoding,
    tx: mpsc::Sender<Message>,
}

/// One connection's own state.
struct Conn {
    peer: Peer,
    me: Option<(UserId, String)>,
}

#[derive(Default)]
struct Relay {
    handles: Mutex<HashMap<String, UserId>>,
    names: RwLock<HashMap<UserId, String>>,
    conns: RwLock<HashMap<UserId, Vec<Peer>>>,
    groups: RwLock<HashMap<ConversationId, Arc<Vec<UserId>>>>,
    /// Direct conversations by their pair of users (members are in `groups` too).
    directs: Mutex<HashMap<(UserId, UserId), ConversationId>>,
    next_user: AtomicI64,
    next_conv: AtomicI64,
    next_conn: AtomicU64,
    next_seq: AtomicU64,
}

/// `chapar-bench relay`: serve until killed. Prints `relay listening on http://ADDR` first.
pub async fn serve(listen: SocketAddr) -> anyhow::Result<()> {
    // A deep accept queue (the kernel caps it at net.core.somaxconn): a crowd reconnecting at
    // once must wait in it, not have its SYNs dropped and retried seconds later.
    let socket = if listen.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(listen)?;
    let listener = socket.listen(LISTEN_BACKLOG)?;
    println!("relay listening on http://{}", listener.local_addr()?);
    let relay = Arc::new(Relay::default());
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let relay = relay.clone();
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    connection(relay, stream).await;
                });
            }
            // Out of file descriptors: wait for some to be freed instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn connection(relay: Arc<Relay>, stream: TcpStream) {
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(128 * 1024));
    let mut encoding = Encoding::Json;
    #[allow(clippy::result_large_err)] // the callback's type is tungstenite's
    let callback = |req: &HttpRequest, resp: HttpResponse| {
        if let Some(q) = req.uri().query()
            && q.contains("encoding=msgpack")
        {
            encoding = Encoding::MsgPack;
        }
        Ok(resp)
    };
    let Ok(ws) =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)).await
    else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Message>(QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            if sink.feed(first).await.is_err() {
                return;
            }
            let mut n = 1;
            while n < WRITE_BATCH {
                let Ok(m) = rx.try_recv() else { break };
                if sink.feed(m).await.is_err() {
                    return;
                }
                n += 1;
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    let mut challenge = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut challenge);
    let hello = json!({
        "type": "hello",
        "version": chapar_proto::VERSION,
        "challenge": chapar_proto::Bytes(challenge),
        "server_time": now_ms(),
        "limits": {
            "max_frame_bytes": 128 * 1024,
            "max_text_chars": 4096,
            "max_body_bytes": 64 * 1024,
            "max_group_members": u32::MAX,
            "requests_per_second": u32::MAX,
            "max_page": 500,
        },
    });
    let _ = tx.try_send(encode(encoding, &hello));
    let mut conn = Conn {
        peer: Peer {
            conn: relay.next_conn.fetch_add(1, Ordering::Relaxed),
            encoding,
            tx: tx.clone(),
        },
        me: None,
    };
    while let Some(Ok(msg)) = stream.next().await {
        let (bytes, enc) = match msg {
            Message::Binary(b) => (b.to_vec(), Encoding::MsgPack),
            Message::Text(t) => (t.as_bytes().to_vec(), Encoding::Json),
            Message::Close(_) => break,
            _ => continue,
        };
        let reply = match enc.decode_client(&bytes) {
            Err(e) => encode(
                encoding,
                &ErrorFrame {
                    kind: "error",
                    id: e.id,
                    error: &e.to_error_body(),
                },
            ),
            Ok(ClientFrame { id, request }) => match relay.handle(request, &mut conn) {
                Ok(result) => encode(
                    encoding,
                    &ReplyFrame {
                        kind: "reply",
                        id,
                        result: &result,
                    },
                ),
                Err(error) => encode(
                    encoding,
                    &ErrorFrame {
                        kind: "error",
                        id: Some(id),
                        error: &error,
                    },
                ),
            },
        };
        if tx.send(reply).await.is_err() {
            break;
        }
    }
    if let Some((user, _)) = conn.me.take() {
        let mut conns = relay.conns.write().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = conns.get_mut(&user) {
            list.retain(|p| p.conn != conn.peer.conn);
            if list.is_empty() {
                conns.remove(&user);
            }
        }
    }
    drop(tx);
    drop(conn);
    let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
}

/// Frames as they travel (the relay writes the wire format itself; it needs none of chapar's
/// types beyond decoding requests).
#[derive(Serialize)]
struct ReplyFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: u64,
    result: &'a Value,
}

#[derive(Serialize)]
struct ErrorFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    error: &'a ErrorBody,
}

#[derive(Serialize)]
struct EventFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    event: MessageEvent<'a>,
}

#[derive(Serialize)]
struct MessageEvent<'a> {
    message: WireMessage<'a>,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    conversation: ConversationId,
    seq: u64,
    sender: UserId,
    sender_handle: &'a str,
    sender_device: i64,
    client_id: &'a str,
    server_time: i64,
    kind: &'static str,
    content_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a chapar_proto::Bytes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_to: Option<u64>,
}

fn encode<T: Serialize>(encoding: Encoding, frame: &T) -> Message {
    match encoding {
        Encoding::Json => Message::text(serde_json::to_string(frame).unwrap_or_default()),
        Encoding::MsgPack => Message::binary(rmp_serde::to_vec_named(frame).unwrap_or_default()),
    }
}

fn now_ms() -> i64 {
    (crate::lean::now_micros() / 1000) as i64
}

fn refuse(code: ErrorCode, message: &str) -> ErrorBody {
    ErrorBody::new(code, message)
}

impl Relay {
    fn handle(&self, request: Request, conn: &mut Conn) -> Result<Value, ErrorBody> {
        match request {
            Request::Ping => Ok(json!({"pong": {"server_time": now_ms()}})),
            Request::Register(r) => {
                let handle = r.handle.trim_start_matches('@').to_ascii_lowercase();
                let user = *self
                    .handles
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(handle.clone())
                    .or_insert_with(|| UserId(self.next_user.fetch_add(1, Ordering::Relaxed) + 1));
                self.names
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(user, handle.clone());
                let token = format!("relay:{}:{handle}", user.0);
                Ok(self.sign_in(conn, user, handle, Some(token)))
            }
            Request::Authenticate(a) => {
                // Relay tokens carry the identity ("relay:ID:HANDLE"), so a restarted relay
                // learns its users again from the clients that come back.
                let (user, handle) = a
                    .token
                    .strip_prefix("relay:")
                    .and_then(|rest| rest.split_once(':'))
                    .and_then(|(id, h)| Some((UserId(id.parse().ok()?), h.to_string())))
                    .ok_or_else(|| refuse(ErrorCode::Unauthorized, "not a relay token"))?;
                self.handles
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(handle.clone(), user);
                self.next_user.fetch_max(user.0, Ordering::Relaxed);
                self.names
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(user, handle.clone());
                Ok(self.sign_in(conn, user, handle, None))
            }
            Request::Sync(s) => Ok(json!({
                "sync": {"events": [], "pts": s.pts, "more": false, "reset": false}
            })),
            Request::Mark(_) | Request::Typing(_) => Ok(json!("ok")),
            Request::Send(s) => {
                let (user, handle) = conn
                    .me
                    .clone()
                    .ok_or_else(|| refuse(ErrorCode::Unauthorized, "sign in first"))?;
                let (conversation, members) = match (s.conversation, s.peer) {
                    (Some(c), None) => (c, self.members(c)?),
                    (None, Some(peer)) => {
                        let peer = self.user_of(&peer)?;
                        let c = self.direct(user, peer);
                        (c, Arc::new(vec![user, peer]))
                    }
                    _ => return Err(refuse(ErrorCode::Invalid, "give conversation or peer")),
                };
                let seq = self.next_seq.fetch_add(1, Ordering::Relaxed) + 1;
                let server_time = now_ms();
                let event = EventFrame {
                    kind: "event",
                    event: MessageEvent {
                        message: WireMessage {
                            conversation,
                            seq,
                            sender: user,
                            sender_handle: &handle,
                            sender_device: 1,
                            client_id: &s.client_id,
                            server_time,
                            kind: "text",
                            content_type: s.content_type.as_deref().unwrap_or("text/plain"),
                            text: s.text.as_deref(),
                            data: s.data.as_ref(),
                            reply_to: s.reply_to,
                        },
                    },
                };
                self.fan_out(&members, &event);
                Ok(sent(conversation, seq, server_time))
            }
            Request::CreateGroup(g) => {
                let (user, _) = conn
                    .me
                    .clone()
                    .ok_or_else(|| refuse(ErrorCode::Unauthorized, "sign in first"))?;
                let mut members = vec![user];
                for h in &g.members {
                    members.push(self.user_of(h)?);
                }
                let id = ConversationId(self.next_conv.fetch_add(1, Ordering::Relaxed) + 1);
                let count = members.len() as u32;
                self.groups
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id, Arc::new(members));
                Ok(json!({"conversation": {
                    "id": id,
                    "kind": "group",
                    "title": g.title,
                    "role": "owner",
                    "member_count": count,
                    "last_seq": 0,
                    "read_seq": 0,
                    "unread": 0,
                    "updated_at": now_ms(),
                }}))
            }
            Request::AddMembers(a) => {
                let mut added = vec![];
                for h in &a.handles {
                    added.push(self.user_of(h)?);
                }
                let mut groups = self.groups.write().unwrap_or_else(|e| e.into_inner());
                let group = groups
                    .get_mut(&a.conversation)
                    .ok_or_else(|| refuse(ErrorCode::Forbidden, "no such group"))?;
                let mut members = group.as_ref().clone();
                members.extend(added);
                *group = Arc::new(members);
                let seq = self.next_seq.fetch_add(1, Ordering::Relaxed) + 1;
                Ok(sent(a.conversation, seq, now_ms()))
            }
            other => Err(refuse(
                ErrorCode::Invalid,
                &format!("the relay does not do `{}`", other.method()),
            )),
        }
    }

    fn sign_in(
        &self,
        conn: &mut Conn,
        user: UserId,
        handle: String,
        token: Option<String>,
    ) -> Value {
        self.conns
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(user)
            .or_default()
            .push(conn.peer.clone());
        conn.me = Some((user, handle.clone()));
        let mut session = json!({
            "user": {"id": user, "handle": handle, "display_name": handle},
            "device_id": 1,
            "pts": 0,
        });
        if let Some(t) = token {
            session["token"] = json!(t);
        }
        json!({ "session": session })
    }

    fn user_of(&self, handle: &str) -> Result<UserId, ErrorBody> {
        let handle = handle.trim_start_matches('@').to_ascii_lowercase();
        self.handles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&handle)
            .copied()
            .ok_or_else(|| refuse(ErrorCode::NotFound, "no such user"))
    }

    fn direct(&self, a: UserId, b: UserId) -> ConversationId {
        let key = (a.min(b), a.max(b));
        let mut directs = self.directs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = directs.get(&key) {
            return *c;
        }
        let c = ConversationId(self.next_conv.fetch_add(1, Ordering::Relaxed) + 1);
        directs.insert(key, c);
        self.groups
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(c, Arc::new(vec![key.0, key.1]));
        c
    }

    /// The members of a conversation (no membership check: the relay trusts everyone).
    fn members(&self, c: ConversationId) -> Result<Arc<Vec<UserId>>, ErrorBody> {
        self.groups
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&c)
            .cloned()
            .ok_or_else(|| refuse(ErrorCode::Forbidden, "not a member"))
    }

    /// Encode once per encoding and queue the same bytes on every member's connections.
    fn fan_out<T: Serialize>(&self, members: &[UserId], frame: &T) {
        let mut binary = None;
        let mut text = None;
        let conns = self.conns.read().unwrap_or_else(|e| e.into_inner());
        for user in members {
            let Some(list) = conns.get(user) else {
                continue;
            };
            for p in list {
                let slot = match p.encoding {
                    Encoding::MsgPack => &mut binary,
                    Encoding::Json => &mut text,
                };
                let msg = slot
                    .get_or_insert_with(|| encode(p.encoding, frame))
                    .clone();
                // A full queue drops the frame: the relay promises nothing.
                let _ = p.tx.try_send(msg);
            }
        }
    }
}

fn sent(conversation: ConversationId, seq: u64, server_time: i64) -> Value {
    json!({"sent": {
        "conversation": conversation,
        "seq": seq,
        "server_time": server_time,
        "duplicate": false,
    }})
}
