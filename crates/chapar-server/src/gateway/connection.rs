//! One WebSocket connection: a reader (decodes frames, answers requests in order, one at a time)
//! and a writer (owns the socket's sending half, sends replies and pushed events from one bounded
//! queue, pings, and closes with a reason). Two tasks, both ending when either ends.

use super::dispatch::{self, ConnSession};
use crate::admission::Permit;
use crate::ratelimit::{Limiters, TokenBucket};
use crate::registry::{ConnHandle, Outbound, control};
use crate::state::App;
use crate::state::now_ms;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chapar_core::Error;
use chapar_core::bus::BusMessage;
use chapar_proto::{Control, Encoding, ErrorBody, Hello, ServerFrame};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Most queued frames the writer sends before flushing the socket.
const WRITE_BATCH: usize = 64;
/// A single socket write that takes longer than this means the client is gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the close reason may take to reach a client before it is simply disconnected.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn run(
    app: Arc<App>,
    socket: WebSocket,
    encoding: Encoding,
    peer: IpAddr,
    permit: Permit,
) {
    // Holding the permit for the connection's lifetime keeps it counted under the cap.
    let _permit = permit;
    let gw = &app.config.gateway;
    let (tx, rx) = mpsc::channel(gw.outbound_queue);
    let conn = app.registry.open(tx.clone());
    let challenge = crate::auth::new_challenge();
    let hello = ServerFrame::Hello(Hello {
        version: chapar_proto::VERSION.into(),
        challenge: challenge.clone().into(),
        server_time: now_ms(),
        limits: app.config.limits.to_wire(),
    });
    let _ = conn.send_reply(Outbound::Frame(Box::new(hello))).await;
    let (sink, stream) = socket.split();
    // Milliseconds since `start` of the last frame received: the writer's idle check reads it.
    let start = Instant::now();
    let last_heard = Arc::new(AtomicU64::new(0));
    let writer = tokio::spawn(write_loop(
        sink,
        rx,
        conn.clone(),
        encoding,
        Duration::from_secs(gw.heartbeat_secs.max(1)),
        Duration::from_secs(gw.idle_timeout_secs.max(2)),
        start,
        last_heard.clone(),
    ));
    let limits = &app.config.limits;
    let mut session = ConnSession {
        conn: conn.clone(),
        challenge,
        principal: None,
        token_hash: None,
        peer,
        bucket: TokenBucket::new(limits.requests_per_second as f64, limits.request_burst),
        touched_at: 0,
        presence_asks: Vec::new(),
    };
    read_loop(&app, stream, &mut session, encoding, start, &last_heard).await;
    let signed_in = session.principal.as_ref().map(|p| (p.user_id(), p.device));
    let last = app.registry.remove(conn.id, signed_in.map(|(u, _)| u));
    app.registry.presence.forget(&conn);
    if let Some((user, device)) = signed_in {
        if last {
            app.bus.unwatch(user);
        }
        app.registry.presence.departed(user, device, last, now_ms());
    }
    conn.close(control("closed", "connection closed", None));
    drop(tx);
    // The writer sends the close frame and ends; never wait on it for long.
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
}

async fn read_loop(
    app: &Arc<App>,
    mut stream: SplitStream<WebSocket>,
    session: &mut ConnSession,
    encoding: Encoding,
    start: Instant,
    last_heard: &AtomicU64,
) {
    let conn = session.conn.clone();
    let auth_deadline = tokio::time::Instant::now()
        + Duration::from_secs(app.config.gateway.auth_timeout_secs.max(1));
    loop {
        let frame = tokio::select! {
            frame = stream.next() => frame,
            _ = conn.reader_closing() => return,
            _ = tokio::time::sleep_until(auth_deadline), if session.principal.is_none() => {
                session.conn.close(control("idle", "sign in sooner after connecting", None));
                return;
            }
        };
        last_heard.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
        let (bytes, frame_encoding) = match frame {
            Some(Ok(Message::Text(t))) => (t.as_str().as_bytes().to_vec(), Encoding::Json),
            Some(Ok(Message::Binary(b))) => (b.to_vec(), Encoding::MsgPack),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_))) | None => return,
            Some(Err(e)) => {
                let (reason, msg) = if e.to_string().contains("too long")
                    || e.to_string().contains("Space limit")
                {
                    (
                        "too_large",
                        format!(
                            "frame over the limit of {} bytes",
                            app.config.limits.max_frame_bytes
                        ),
                    )
                } else {
                    ("invalid", format!("unreadable frame: {e}"))
                };
                session.conn.close(control(reason, &msg, None));
                return;
            }
        };
        let reply = match frame_encoding.decode_client(&bytes) {
            Err(e) => ServerFrame::Error {
                id: e.id,
                error: e.to_error_body(),
            },
            Ok(frame) => {
                let result = match session.bucket.take(Instant::now()) {
                    Err(retry_after_ms) => {
                        app.limiters.refused[Limiters::CONNECTION].fetch_add(1, Ordering::Relaxed);
                        Err(Error::RateLimited { retry_after_ms })
                    }
                    // Boxed: the request's future lives on the heap only while it runs, so an
                    // idle connection's task stays small.
                    Ok(()) => Box::pin(dispatch::handle(app, session, frame.request)).await,
                };
                match result {
                    Ok(result) => ServerFrame::Reply {
                        id: frame.id,
                        result,
                    },
                    Err(e) => ServerFrame::Error {
                        id: Some(frame.id),
                        error: error_body(&e),
                    },
                }
            }
        };
        // Encoded here, so the reply is counted in the byte budget at its exact size. Replies
        // wait for room in frames and bytes (backpressure on this client's own requests: no
        // further request is read meanwhile); pushed events never do.
        let reply = Outbound::Encoded(encoding.encode_server(&reply));
        if conn.send_reply(reply).await.is_err() {
            return;
        }
        for user in session.presence_asks.drain(..) {
            app.bus.publish(user, BusMessage::PresenceAsk);
        }
    }
}

fn error_body(e: &Error) -> ErrorBody {
    if let Error::Unavailable(detail) = e {
        tracing::warn!(%detail, "backend unavailable");
    }
    e.to_body()
}

#[allow(clippy::too_many_arguments)]
async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Outbound>,
    conn: Arc<ConnHandle>,
    encoding: Encoding,
    heartbeat: Duration,
    idle_timeout: Duration,
    start: Instant,
    last_heard: Arc<AtomicU64>,
) {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    loop {
        let outcome = tokio::select! {
            biased;
            _ = conn.writer_closing() => Write::Closing,
            item = rx.recv() => {
                let Some(item) = item else { break };
                let weight = item.weight();
                let mut outcome = write(&mut sink, Some(encode(encoding, item)), false, &conn).await;
                conn.sent(weight);
                let mut n = 1;
                while outcome == Write::Done && n < WRITE_BATCH {
                    let Ok(item) = rx.try_recv() else { break };
                    let weight = item.weight();
                    outcome = write(&mut sink, Some(encode(encoding, item)), false, &conn).await;
                    conn.sent(weight);
                    n += 1;
                }
                if outcome == Write::Done {
                    outcome = write(&mut sink, None, true, &conn).await;
                }
                outcome
            }
            _ = ping.tick() => {
                let heard = Duration::from_millis(last_heard.load(Ordering::Relaxed));
                if start.elapsed().saturating_sub(heard) > idle_timeout {
                    conn.close(control("idle", "no frame or pong received in time", None));
                    Write::Closing
                } else {
                    write(&mut sink, Some(Message::Ping(Default::default())), true, &conn).await
                }
            }
        };
        match outcome {
            Write::Done => {}
            Write::Failed => {
                // Let the reader know: the connection is over.
                conn.close(control("closed", "the connection failed", None));
                return;
            }
            Write::Closing => break,
        }
    }
    // Boxed: only a closing connection needs this state, not every idle one.
    Box::pin(async move {
        if let Some(c) = conn.close_reason() {
            say_goodbye(&mut sink, encoding, c).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
    })
    .await;
}

/// Tell the client why it is being closed, if its socket takes it within a short time (a
/// lagging client's socket may be full: then it just gets disconnected).
async fn say_goodbye(sink: &mut SplitSink<WebSocket, Message>, encoding: Encoding, c: Control) {
    let code = match c.reason.as_str() {
        "too_large" => 1009,
        "invalid" => 1007,
        "shutdown" => 1012,
        "closed" => 1000,
        _ => 1008,
    };
    let reason = c.reason.clone();
    let goodbye = async {
        if reason != "closed" {
            sink.send(encode(
                encoding,
                Outbound::Frame(Box::new(ServerFrame::Control(c))),
            ))
            .await?;
        }
        sink.send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await
    };
    let _ = tokio::time::timeout(GOODBYE_TIMEOUT, goodbye).await;
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Write {
    Done,
    /// The socket failed or stayed blocked past the write timeout.
    Failed,
    /// The connection was asked to close while writing.
    Closing,
}

/// Feed one message (or with `msg` None, flush), giving up on a stuck client, and abandoning
/// the write as soon as the connection is asked to close.
async fn write(
    sink: &mut SplitSink<WebSocket, Message>,
    msg: Option<Message>,
    flush: bool,
    conn: &ConnHandle,
) -> Write {
    let io = async {
        match msg {
            Some(m) if flush => sink.send(m).await,
            Some(m) => sink.feed(m).await,
            None => sink.flush().await,
        }
    };
    tokio::select! {
        r = tokio::time::timeout(WRITE_TIMEOUT, io) => match r {
            Ok(Ok(())) => Write::Done,
            _ => Write::Failed,
        },
        _ = conn.writer_closing() => Write::Closing,
    }
}

fn encode(encoding: Encoding, item: Outbound) -> Message {
    let bytes = match item {
        Outbound::Frame(f) => encoding.encode_server(&f),
        Outbound::Encoded(bytes) => bytes,
        Outbound::Feed { pts, event } => encoding.encode_event(Some(pts), &event),
        Outbound::Ephemeral(event) => encoding.encode_event(None, &event),
    };
    match encoding {
        // JSON output of serde_json is always UTF-8.
        Encoding::Json => Message::Text(String::from_utf8(bytes).unwrap_or_default().into()),
        Encoding::MsgPack => Message::Binary(bytes.into()),
    }
}
