//! The lean client path for load: one raw WebSocket per simulated device, MessagePack frames,
//! the same Ed25519 sign-in as the SDK, and none of the SDK's per-client machinery (no driver
//! task, no event channel, no pts tracker). Holding 15,000 connections or pushing tens of
//! thousands of messages a second from the same two cores the server runs on needs that.
//!
//! * [`Dialer`]: TCP + WebSocket upgrade from a rotating 127.0.0.x source address, with small
//!   buffers; an HTTP 503/429 answer becomes [`OpenError::Refused`] with its Retry-After.
//! * [`call`], [`register`], [`authenticate`]: request/reply while setting up.
//! * [`Link`]: a connection split into a writer task (batched sends) and a reader task that
//!   hands every frame, decoded only as far as a benchmark needs ([`Light`]), to a handler.

use chapar_proto::frame::{Authenticate, Register};
use chapar_proto::{
    ClientFrame, Encoding, ErrorBody, ErrorCode, Hello, Request, Response, ServerFrame, Session,
    UserId, auth_message,
};
use ed25519_dalek::{Signer, SigningKey};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

pub type Ws = WebSocketStream<TcpStream>;

/// Why a connection could not be opened.
#[derive(Debug, Clone)]
pub enum OpenError {
    /// The server answered the upgrade with this status (503, 429) and maybe a Retry-After.
    Refused {
        status: u16,
        retry_after_ms: Option<u64>,
    },
    /// TCP or WebSocket failure, or a timeout.
    Failed(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Refused {
                status,
                retry_after_ms,
            } => write!(f, "HTTP {status} (retry after {retry_after_ms:?} ms)"),
            OpenError::Failed(e) => write!(f, "{e}"),
        }
    }
}

/// A request that failed: the server's typed error, or the connection.
#[derive(Debug, Clone)]
pub enum CallError {
    Server(ErrorBody),
    Io(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Server(e) => write!(f, "{}: {}", e.code.as_str(), e.message),
            CallError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CallError {}

/// Opens connections to one server, spreading them over several loopback source addresses so
/// that no single address runs out of ports.
pub struct Dialer {
    addr: SocketAddr,
    url: String,
    sources: Vec<IpAddr>,
    next: AtomicUsize,
    pub timeout: Duration,
}

impl Dialer {
    /// `sources` loopback addresses 127.0.0.1 .. 127.0.0.N (1 means: let the kernel choose).
    pub fn new(addr: SocketAddr, sources: u8) -> Dialer {
        let sources = if sources <= 1 || !addr.ip().is_loopback() {
            vec![]
        } else {
            (1..=sources)
                .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i)))
                .collect()
        };
        Dialer {
            addr,
            url: format!("ws://{addr}/v1/ws?encoding=msgpack"),
            sources,
            next: AtomicUsize::new(0),
            timeout: Duration::from_secs(20),
        }
    }

    /// TCP connect, WebSocket upgrade, and the server's hello.
    pub async fn open(&self) -> Result<(Ws, Hello), OpenError> {
        tokio::time::timeout(self.timeout, self.open_inner())
            .await
            .unwrap_or_else(|_| Err(OpenError::Failed("timed out".into())))
    }

    async fn open_inner(&self) -> Result<(Ws, Hello), OpenError> {
        let fail = |e: std::io::Error| OpenError::Failed(e.to_string());
        let socket = TcpSocket::new_v4().map_err(fail)?;
        if !self.sources.is_empty() {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.sources.len();
            socket
                .bind(SocketAddr::new(self.sources[i], 0))
                .map_err(fail)?;
        }
        let stream = socket.connect(self.addr).await.map_err(fail)?;
        stream.set_nodelay(true).map_err(fail)?;
        let request = self
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| OpenError::Failed(e.to_string()))?;
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(8192)
            .max_message_size(Some(16 << 20));
        let mut ws = match client_async_with_config(request, stream, Some(config)).await {
            Ok((ws, _)) => ws,
            Err(tungstenite::Error::Http(resp)) => {
                let retry_after_ms = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .map(|s| (s * 1000.0) as u64);
                return Err(OpenError::Refused {
                    status: resp.status().as_u16(),
                    retry_after_ms,
                });
            }
            Err(e) => return Err(OpenError::Failed(e.to_string())),
        };
        match next_frame(&mut ws).await {
            Ok(ServerFrame::Hello(h)) => Ok((ws, h)),
            Ok(other) => Err(OpenError::Failed(format!("expected hello, got {other:?}"))),
            Err(e) => Err(OpenError::Failed(e.to_string())),
        }
    }
}

/// Encode a request as a binary MessagePack frame.
pub fn frame(id: u64, request: Request) -> Message {
    Message::binary(Encoding::MsgPack.encode_client(&ClientFrame { id, request }))
}

async fn next_frame(ws: &mut Ws) -> Result<ServerFrame, CallError> {
    loop {
        let msg = match ws.next().await {
            None => return Err(CallError::Io("connection closed".into())),
            Some(Err(e)) => return Err(CallError::Io(e.to_string())),
            Some(Ok(m)) => m,
        };
        let decoded = match msg {
            Message::Binary(b) => Encoding::MsgPack.decode_server(&b),
            Message::Text(t) => Encoding::Json.decode_server(t.as_bytes()),
            Message::Close(_) => return Err(CallError::Io("closed by the server".into())),
            _ => continue,
        };
        return decoded.map_err(|e| CallError::Io(e.to_string()));
    }
}

/// Send one request and wait for its answer, skipping pushed events.
pub async fn call(ws: &mut Ws, id: u64, request: Request) -> Result<Response, CallError> {
    ws.send(frame(id, request))
        .await
        .map_err(|e| CallError::Io(e.to_string()))?;
    loop {
        match next_frame(ws).await? {
            ServerFrame::Reply { id: i, result } if i == id => return Ok(result),
            ServerFrame::Error { id: Some(i), error } if i == id => {
                return Err(CallError::Server(error));
            }
            ServerFrame::Error { id: None, error } => return Err(CallError::Server(error)),
            ServerFrame::Control(c) => {
                return Err(CallError::Server(ErrorBody {
                    code: ErrorCode::Unavailable,
                    message: format!("{}: {}", c.reason, c.message),
                    retry_after_ms: c.retry_after_ms,
                }));
            }
            _ => continue,
        }
    }
}

/// A device the bench created: enough to sign in again.
#[derive(Clone)]
pub struct Account {
    pub handle: String,
    pub user: UserId,
    pub key: SigningKey,
    pub token: String,
}

fn session(r: Response) -> Result<Session, CallError> {
    match r {
        Response::Session(s) => Ok(s),
        other => Err(CallError::Io(format!("expected a session, got {other:?}"))),
    }
}

/// Create an account on an open connection (signing the hello's challenge with a new key).
pub async fn register(ws: &mut Ws, hello: &Hello, handle: &str) -> Result<Account, CallError> {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let signature = key.sign(&auth_message(&hello.challenge.0)).to_bytes();
    let r = call(
        ws,
        1,
        Request::Register(Register {
            handle: handle.into(),
            display_name: None,
            public_key: key.verifying_key().to_bytes().to_vec().into(),
            signature: signature.to_vec().into(),
            device_name: Some("bench".into()),
            invite_code: None,
        }),
    )
    .await?;
    let s = session(r)?;
    Ok(Account {
        handle: handle.to_string(),
        user: s.user.id,
        key,
        token: s.token.unwrap_or_default(),
    })
}

/// Resume an existing device with its session token.
pub async fn authenticate(ws: &mut Ws, token: &str) -> Result<Session, CallError> {
    session(
        call(
            ws,
            1,
            Request::Authenticate(Authenticate {
                token: token.into(),
            }),
        )
        .await?,
    )
}

/// A server frame decoded only as far as load handling needs. Unknown fields are skipped
/// without building them, which keeps the generator's share of the CPU small.
#[derive(Deserialize, Debug)]
pub struct Light<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: &'a str,
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub error: Option<ErrorBody>,
    #[serde(default, borrow)]
    pub event: Option<LightEvent<'a>>,
    /// The reason of a control frame.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Deserialize, Debug)]
pub struct LightEvent<'a> {
    #[serde(default, borrow)]
    pub message: Option<LightMessage<'a>>,
}

#[derive(Deserialize, Debug)]
pub struct LightMessage<'a> {
    pub sender: UserId,
    #[serde(default, borrow)]
    pub text: Option<&'a str>,
}

/// What the reader hands to a scenario's handler.
pub enum Incoming<'a> {
    Frame(Light<'a>),
    /// The connection ended (with the server's control reason, if it sent one).
    Closed(Option<String>),
}

/// A connection in load mode: a writer task fed through a bounded channel, and a reader task.
#[derive(Clone)]
pub struct Link {
    pub tx: mpsc::Sender<Message>,
}

/// Frames a writer sends before flushing the socket.
const WRITE_BATCH: usize = 64;

impl Link {
    /// Split `ws` into a writer (queue of `queue` frames) and a reader calling `handler`.
    pub fn start<F>(ws: Ws, queue: usize, handler: F) -> Link
    where
        F: FnMut(Incoming<'_>) + Send + 'static,
    {
        let (sink, stream) = ws.split();
        let (tx, rx) = mpsc::channel(queue.max(1));
        tokio::spawn(write_loop(sink, rx));
        tokio::spawn(read_loop(stream, handler));
        Link { tx }
    }

    /// Queue a frame without waiting; false when the queue is full or the connection is gone.
    pub fn try_send(&self, msg: Message) -> bool {
        self.tx.try_send(msg).is_ok()
    }
}

async fn write_loop(mut sink: SplitSink<Ws, Message>, mut rx: mpsc::Receiver<Message>) {
    while let Some(first) = rx.recv().await {
        let closing = matches!(first, Message::Close(_));
        if sink.feed(first).await.is_err() {
            return;
        }
        let mut n = 1;
        while n < WRITE_BATCH && !closing {
            match rx.try_recv() {
                Ok(m) => {
                    if sink.feed(m).await.is_err() {
                        return;
                    }
                    n += 1;
                }
                Err(_) => break,
            }
        }
        if sink.flush().await.is_err() || closing {
            return;
        }
    }
    let _ = sink.close().await;
}

async fn read_loop<F>(mut stream: SplitStream<Ws>, mut handler: F)
where
    F: FnMut(Incoming<'_>),
{
    let mut reason = None;
    while let Some(msg) = stream.next().await {
        let bytes = match msg {
            Ok(Message::Binary(b)) => b,
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        match rmp_serde::from_slice::<Light<'_>>(&bytes) {
            Ok(light) => {
                if light.kind == "control" {
                    reason = light.reason.clone();
                }
                handler(Incoming::Frame(light));
            }
            Err(e) => {
                reason = Some(format!("undecodable frame: {e}"));
                break;
            }
        }
    }
    handler(Incoming::Closed(reason));
}

/// Microseconds since the Unix epoch: timestamps that mean the same in every process.
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chapar_proto::{Event, Message as ChatMessage, Sent};

    #[test]
    fn light_decoding_reads_what_the_server_writes() {
        // Built from JSON so that fields added to the protocol later (with defaults) do not
        // break this test.
        let m: ChatMessage = serde_json::from_value(serde_json::json!({
            "conversation": 3, "seq": 9, "sender": 7, "sender_handle": "ana",
            "sender_device": 1, "client_id": "c1", "server_time": 1, "kind": "text",
            "content_type": "text/plain", "text": "1700000000000000:12",
        }))
        .unwrap();
        let bytes = Encoding::MsgPack.encode_server(&ServerFrame::Event {
            pts: Some(4),
            event: Event::Message(m),
        });
        let l: Light = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(l.kind, "event");
        let msg = l.event.unwrap().message.unwrap();
        assert_eq!(msg.sender, UserId(7));
        assert_eq!(msg.text, Some("1700000000000000:12"));

        let bytes = Encoding::MsgPack.encode_server(&ServerFrame::Reply {
            id: 42,
            result: Response::Sent(
                serde_json::from_value::<Sent>(serde_json::json!({
                    "conversation": 3, "seq": 1, "server_time": 5, "duplicate": false,
                }))
                .unwrap(),
            ),
        });
        let l: Light = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!((l.kind, l.id), ("reply", Some(42)));

        let bytes = Encoding::MsgPack.encode_server(&ServerFrame::Error {
            id: Some(5),
            error: ErrorBody {
                code: ErrorCode::RateLimited,
                message: "slow down".into(),
                retry_after_ms: Some(20),
            },
        });
        let l: Light = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(l.error.unwrap().retry_after_ms, Some(20));
    }
}
