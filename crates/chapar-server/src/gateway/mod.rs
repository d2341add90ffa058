//! The WebSocket gateway: `GET /v1/ws`. Admits or refuses (503 + Retry-After, see
//! [`crate::admission`]), negotiates the encoding, sizes the socket's buffers
//! small (an idle connection must cost kilobytes, not the library's default 128 KiB), and hands
//! the socket to [`connection::run`].

mod connection;
pub(crate) mod dispatch;

use crate::admission::Refusal;
use crate::state::App;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chapar_proto::Encoding;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

/// Bytes the socket reads at a time. Every idle connection holds this much: small frames (the
/// usual ones) still arrive several per read; a large frame is read in pieces of this size.
const READ_BUFFER: usize = 1024;

#[derive(Deserialize)]
pub struct WsQuery {
    encoding: Option<String>,
}

pub async fn upgrade(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<WsQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // Admission first, before any per-connection state exists.
    let permit = match app.admission.admit(app.registry.is_draining()) {
        Ok(p) => p,
        Err(refusal) => {
            let why = match refusal {
                Refusal::Cap => "this node is full; retry later or elsewhere",
                Refusal::Rate => "too many new connections right now; retry later",
                Refusal::Draining => "node is draining; reconnect elsewhere",
            };
            let mut resp = (StatusCode::SERVICE_UNAVAILABLE, why).into_response();
            if let Ok(v) = HeaderValue::from_str(&app.admission.retry_after().to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return resp;
        }
    };
    let offered = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|list| list.split(',').find_map(Encoding::parse));
    let from_query = match q.encoding.as_deref() {
        Some(e) => match Encoding::parse(e) {
            Some(e) => Some(e),
            None => {
                return (StatusCode::BAD_REQUEST, "encoding must be json or msgpack")
                    .into_response();
            }
        },
        None => None,
    };
    let encoding = offered.or(from_query).unwrap_or(Encoding::Json);
    let max = app.config.limits.max_frame_bytes as usize;
    let ws = ws
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        // Only used while the client's socket is full; must hold the largest reply (a page is
        // cut at max_page_bytes) plus whatever queued frames were already being written.
        .max_write_buffer_size(app.config.limits.max_page_bytes as usize * 2 + 4 * 1024 * 1024)
        .max_message_size(max)
        .max_frame_size(max);
    let ws = if offered.is_some() {
        ws.protocols([encoding.subprotocol()])
    } else {
        ws
    };
    ws.on_upgrade(move |socket| connection::run(app, socket, encoding, peer.ip(), permit))
}
