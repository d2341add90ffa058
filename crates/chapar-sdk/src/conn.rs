//! One WebSocket connection: URL handling, the upgrade (with HTTP 503 Retry-After), frame
//! encoding, and the sign-in handshake that answers the server's challenge.

use crate::config::{Auth, ClientConfig, Credentials};
use crate::error::SdkError;
use chapar_proto::frame::{Authenticate, LinkDevice, Login, Register};
use chapar_proto::{
    ClientFrame, Encoding, ErrorCode, Hello, Request, Response, ServerFrame, Session, auth_message,
};
use ed25519_dalek::Signer;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The WebSocket URL for a server address: `http(s)://` becomes `ws(s)://`, a bare `host:port`
/// gets `ws://`, an empty path gets `/v1/ws`, and the encoding is named in the query.
pub fn ws_url(server: &str, encoding: Encoding) -> Result<String, SdkError> {
    let server = server.trim();
    if server.is_empty() {
        return Err(SdkError::Invalid("empty server address".into()));
    }
    let (scheme, rest) = match server.split_once("://") {
        Some(("http", r)) | Some(("ws", r)) => ("ws", r),
        Some(("https", r)) | Some(("wss", r)) => ("wss", r),
        Some((other, _)) => {
            return Err(SdkError::Invalid(format!(
                "unsupported scheme {other:?} in {server:?} (use http, https, ws or wss)"
            )));
        }
        None => ("ws", server),
    };
    let (authority, path_query) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(SdkError::Invalid(format!("no host in {server:?}")));
    }
    let (path, query) = match path_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_query, None),
    };
    let path = if path.is_empty() || path == "/" {
        "/v1/ws"
    } else {
        path
    };
    let enc = match encoding {
        Encoding::Json => "json",
        Encoding::MsgPack => "msgpack",
    };
    let query = match query {
        Some(q) if q.contains("encoding=") => q.to_string(),
        Some(q) if !q.is_empty() => format!("{q}&encoding={enc}"),
        _ => format!("encoding={enc}"),
    };
    Ok(format!("{scheme}://{authority}{path}?{query}"))
}

/// Split a comma-separated list of server addresses.
pub fn split_servers(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Open the WebSocket. A 503 answer becomes `SdkError::Busy` with its Retry-After.
pub(crate) async fn open(server: &str, config: &ClientConfig) -> Result<Ws, SdkError> {
    let url = ws_url(server, config.encoding)?;
    let request = url
        .as_str()
        .into_client_request()
        .map_err(|e| SdkError::Invalid(format!("bad server URL {url:?}: {e}")))?;
    let connect = tokio_tungstenite::connect_async(request);
    match tokio::time::timeout(config.request_timeout, connect).await {
        Err(_) => Err(SdkError::Io(format!("connecting to {server} timed out"))),
        Ok(Ok((ws, _resp))) => Ok(ws),
        Ok(Err(tungstenite::Error::Http(resp))) => {
            let status = resp.status();
            if status.as_u16() == 503 || status.as_u16() == 429 {
                let retry_after_ms = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(|s| (s * 1000.0) as u64);
                Err(SdkError::Busy { retry_after_ms })
            } else {
                Err(SdkError::Io(format!("{server} answered HTTP {status}")))
            }
        }
        Ok(Err(e)) => Err(SdkError::Io(format!("{server}: {e}"))),
    }
}

/// Encode and send one request frame.
pub(crate) async fn send_frame(
    ws: &mut Ws,
    enc: Encoding,
    frame: &ClientFrame,
) -> Result<(), SdkError> {
    let bytes = enc.encode_client(frame);
    let msg = match enc {
        Encoding::Json => Message::text(String::from_utf8_lossy(&bytes).into_owned()),
        Encoding::MsgPack => Message::binary(bytes),
    };
    ws.send(msg).await.map_err(|e| SdkError::Io(e.to_string()))
}

/// What reading the socket produced.
pub(crate) enum Incoming {
    Frame(Box<ServerFrame>),
    /// A control message or something to skip (ping, pong).
    Skip,
    Closed(String),
}

/// Decode one WebSocket message. The frame type tells the encoding: text is JSON, binary is
/// MessagePack, whatever was negotiated.
pub(crate) fn decode(msg: Result<Message, tungstenite::Error>) -> Result<Incoming, SdkError> {
    let frame = match msg {
        Err(e) => return Err(SdkError::Io(e.to_string())),
        Ok(Message::Text(t)) => Encoding::Json.decode_server(t.as_bytes()),
        Ok(Message::Binary(b)) => Encoding::MsgPack.decode_server(&b),
        Ok(Message::Close(frame)) => {
            let reason = match frame {
                Some(f) if !f.reason.is_empty() => format!("closed by server: {}", f.reason),
                _ => "closed by server".to_string(),
            };
            return Ok(Incoming::Closed(reason));
        }
        Ok(_) => return Ok(Incoming::Skip),
    };
    frame
        .map(|f| Incoming::Frame(Box::new(f)))
        .map_err(|e| SdkError::Protocol(e.to_string()))
}

/// Read the next server frame, skipping pings.
async fn next_frame(ws: &mut Ws) -> Result<ServerFrame, SdkError> {
    loop {
        match ws.next().await {
            None => return Err(SdkError::Disconnected),
            Some(m) => match decode(m)? {
                Incoming::Frame(f) => return Ok(*f),
                Incoming::Skip => continue,
                Incoming::Closed(_) => return Err(SdkError::Disconnected),
            },
        }
    }
}

/// Send one request during the handshake and wait for its answer (nothing else is in flight).
async fn call(ws: &mut Ws, enc: Encoding, id: u64, request: Request) -> Result<Response, SdkError> {
    send_frame(ws, enc, &ClientFrame { id, request }).await?;
    loop {
        match next_frame(ws).await? {
            ServerFrame::Reply { id: rid, result } if rid == id => return Ok(result),
            ServerFrame::Error {
                id: Some(rid),
                error,
            } if rid == id => {
                return Err(SdkError::Server(error));
            }
            ServerFrame::Error { id: None, error } => return Err(SdkError::Server(error)),
            ServerFrame::Control(c) => {
                return Err(if c.reason == "revoked" {
                    SdkError::Server(chapar_proto::ErrorBody::new(
                        ErrorCode::Unauthorized,
                        c.message,
                    ))
                } else {
                    SdkError::Server(chapar_proto::ErrorBody {
                        code: ErrorCode::Unavailable,
                        message: format!("{}: {}", c.reason, c.message),
                        retry_after_ms: c.retry_after_ms,
                    })
                });
            }
            _ => continue,
        }
    }
}

fn session_of(resp: Response) -> Result<Session, SdkError> {
    match resp {
        Response::Session(s) => Ok(s),
        other => Err(SdkError::Unexpected(format!("{other:?}"))),
    }
}

/// Wait for the server's hello, then sign in as `auth` says. On success the session is returned
/// and `creds.token` holds the token to resume with.
pub(crate) async fn handshake(
    ws: &mut Ws,
    config: &ClientConfig,
    creds: &mut Credentials,
    auth: &Auth,
) -> Result<(Session, Vec<u8>), SdkError> {
    let enc = config.encoding;
    let hello: Hello = match tokio::time::timeout(config.request_timeout, next_frame(ws)).await {
        Err(_) => return Err(SdkError::Timeout),
        Ok(Ok(ServerFrame::Hello(h))) => h,
        Ok(Ok(ServerFrame::Control(c))) => {
            return Err(SdkError::Server(chapar_proto::ErrorBody {
                code: ErrorCode::Unavailable,
                message: format!("{}: {}", c.reason, c.message),
                retry_after_ms: c.retry_after_ms,
            }));
        }
        Ok(Ok(other)) => {
            return Err(SdkError::Protocol(format!("expected hello, got {other:?}")));
        }
        Ok(Err(e)) => return Err(e),
    };
    let public_key: chapar_proto::Bytes =
        creds.signing_key.verifying_key().to_bytes().to_vec().into();
    let signature: chapar_proto::Bytes = creds
        .signing_key
        .sign(&auth_message(&hello.challenge.0))
        .to_bytes()
        .to_vec()
        .into();
    let login = Request::Login(Login {
        public_key: public_key.clone(),
        signature: signature.clone(),
    });
    let timeout = config.request_timeout;
    let step = async {
        match auth {
            Auth::Register {
                handle,
                display_name,
                invite_code,
            } => {
                let req = Request::Register(Register {
                    handle: handle.clone(),
                    display_name: display_name.clone(),
                    public_key: public_key.clone(),
                    signature: signature.clone(),
                    device_name: config.device_name.clone(),
                    invite_code: invite_code.clone(),
                });
                match call(ws, enc, 1, req).await {
                    // A retried sign-up whose first attempt went through: this key owns it.
                    Err(SdkError::Server(e)) if e.code == ErrorCode::Conflict => {
                        call(ws, enc, 2, login)
                            .await
                            .map_err(|_| SdkError::Server(e))
                    }
                    r => r,
                }
            }
            Auth::Link { code } => {
                let req = Request::LinkDevice(LinkDevice {
                    code: code.clone(),
                    public_key: public_key.clone(),
                    signature: signature.clone(),
                    device_name: config.device_name.clone(),
                });
                call(ws, enc, 1, req).await
            }
            Auth::Recover {
                handle,
                recovery_key,
                revoke_others,
            } => {
                let key = recovery_key.signing_key();
                let req = Request::Recover(chapar_proto::Recover {
                    handle: handle.trim_start_matches('@').to_string(),
                    recovery_key: key.verifying_key().to_bytes().to_vec().into(),
                    recovery_signature: key
                        .sign(&chapar_proto::recovery_message(&hello.challenge.0))
                        .to_bytes()
                        .to_vec()
                        .into(),
                    public_key: public_key.clone(),
                    signature: signature.clone(),
                    device_name: config.device_name.clone(),
                    revoke_others: *revoke_others,
                });
                call(ws, enc, 1, req).await
            }
            Auth::Resume => {
                if let Some(token) = creds.token.clone() {
                    match call(ws, enc, 1, Request::Authenticate(Authenticate { token })).await {
                        Err(SdkError::Server(e)) if e.code == ErrorCode::Unauthorized => {
                            call(ws, enc, 2, login).await
                        }
                        r => r,
                    }
                } else {
                    call(ws, enc, 1, login).await
                }
            }
        }
    };
    let session = match tokio::time::timeout(timeout, step).await {
        Err(_) => return Err(SdkError::Timeout),
        Ok(r) => session_of(r?)?,
    };
    if let Some(t) = &session.token {
        creds.token = Some(t.clone());
    }
    Ok((session, hello.challenge.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised() {
        let j = Encoding::Json;
        assert_eq!(
            ws_url("http://127.0.0.1:8080", j).unwrap(),
            "ws://127.0.0.1:8080/v1/ws?encoding=json"
        );
        assert_eq!(
            ws_url("https://chat.example/", Encoding::MsgPack).unwrap(),
            "wss://chat.example/v1/ws?encoding=msgpack"
        );
        assert_eq!(
            ws_url("ws://h:1/v1/ws", j).unwrap(),
            "ws://h:1/v1/ws?encoding=json"
        );
        assert_eq!(ws_url("h:1", j).unwrap(), "ws://h:1/v1/ws?encoding=json");
        assert_eq!(
            ws_url("ws://h:1/x?encoding=msgpack", j).unwrap(),
            "ws://h:1/x?encoding=msgpack"
        );
        assert!(ws_url("ftp://h", j).is_err());
        assert!(ws_url(" ", j).is_err());
    }

    #[test]
    fn server_lists_split() {
        assert_eq!(
            split_servers("http://a:1, ws://b:2,,"),
            vec!["http://a:1".to_string(), "ws://b:2".to_string()]
        );
    }
}
