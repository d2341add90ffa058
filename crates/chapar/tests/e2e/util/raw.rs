//! A bare protocol client for tests that need to see exact frames (errors, events, closes)
//! without the SDK's retries and resyncs in between.

use chapar_proto::frame::*;
use chapar_proto::*;
use ed25519_dalek::{Signer, SigningKey};
use futures_util::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct Raw {
    pub ws: Ws,
    pub encoding: Encoding,
    pub challenge: Vec<u8>,
    pub key: SigningKey,
    pub token: Option<String>,
    pub session: Option<Session>,
    next_id: u64,
    /// Server frames received while waiting for a reply.
    pub pending: VecDeque<ServerFrame>,
}

pub const TIMEOUT: Duration = Duration::from_secs(20);

impl Raw {
    pub async fn connect(ws_url: &str, encoding: Encoding) -> Raw {
        let url = format!(
            "{ws_url}?encoding={}",
            if encoding == Encoding::Json {
                "json"
            } else {
                "msgpack"
            }
        );
        let (ws, _) = connect_async(url).await.expect("websocket connect");
        Raw::from_ws(ws, encoding).await
    }

    /// Take over an open WebSocket and read the server's hello.
    pub async fn from_ws(ws: Ws, encoding: Encoding) -> Raw {
        let mut raw = Raw {
            ws,
            encoding,
            challenge: vec![],
            key: SigningKey::generate(&mut rand::thread_rng()),
            token: None,
            session: None,
            next_id: 1,
            pending: VecDeque::new(),
        };
        match raw.next_frame().await {
            Some(ServerFrame::Hello(h)) => raw.challenge = h.challenge.0,
            other => panic!("expected hello, got {other:?}"),
        }
        raw
    }

    /// Connect and register a fresh account.
    pub async fn register(ws_url: &str, handle: &str) -> Raw {
        let mut raw = Raw::connect(ws_url, Encoding::Json).await;
        raw.sign_up(handle).await;
        raw
    }

    pub async fn sign_up(&mut self, handle: &str) {
        let sig = self.sign();
        let r = self
            .call(Request::Register(Register {
                handle: handle.into(),
                display_name: None,
                public_key: self.key.verifying_key().to_bytes().to_vec().into(),
                signature: sig,
                device_name: Some("test".into()),
                invite_code: None,
            }))
            .await
            .unwrap_or_else(|e| panic!("register {handle}: {e}"));
        self.take_session(r);
    }

    /// Link a new device to this account (a link code from this one) and sign it in.
    pub async fn link_device(&mut self, ws_url: &str, name: &str) -> Raw {
        let code = match self.call(Request::CreateLinkCode).await {
            Ok(Response::LinkCode { code, .. }) => code,
            other => panic!("link code: {other:?}"),
        };
        let mut raw = Raw::connect(ws_url, self.encoding).await;
        let sig = raw.sign();
        let r = raw
            .call(Request::LinkDevice(LinkDevice {
                code,
                public_key: raw.key.verifying_key().to_bytes().to_vec().into(),
                signature: sig,
                device_name: Some(name.into()),
            }))
            .await
            .unwrap_or_else(|e| panic!("link {name}: {e}"));
        raw.take_session(r);
        raw
    }

    /// Open a new connection for the same device and resume with its token.
    pub async fn reconnect(&self, ws_url: &str) -> Result<Raw, ErrorBody> {
        let mut raw = Raw::connect(ws_url, self.encoding).await;
        raw.key = self.key.clone();
        raw.token = self.token.clone();
        let r = raw
            .call(Request::Authenticate(Authenticate {
                token: self.token.clone().unwrap_or_default(),
            }))
            .await?;
        raw.take_session(r);
        Ok(raw)
    }

    pub fn take_session(&mut self, r: Response) {
        match r {
            Response::Session(s) => {
                if s.token.is_some() {
                    self.token = s.token.clone();
                }
                self.session = Some(s);
            }
            other => panic!("expected a session, got {other:?}"),
        }
    }

    pub fn sign(&self) -> Bytes {
        self.key
            .sign(&auth_message(&self.challenge))
            .to_bytes()
            .to_vec()
            .into()
    }

    pub fn user_id(&self) -> UserId {
        self.session.as_ref().expect("signed in").user.id
    }

    pub async fn send_bytes(&mut self, msg: WsMessage) {
        self.ws.send(msg).await.expect("send frame");
    }

    pub async fn send_request(&mut self, request: Request) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let bytes = self.encoding.encode_client(&ClientFrame { id, request });
        let msg = match self.encoding {
            Encoding::Json => WsMessage::Text(String::from_utf8(bytes).unwrap().into()),
            Encoding::MsgPack => WsMessage::Binary(bytes.into()),
        };
        self.send_bytes(msg).await;
        id
    }

    /// The next server frame, or None when the connection closed.
    pub async fn next_frame(&mut self) -> Option<ServerFrame> {
        if let Some(f) = self.pending.pop_front() {
            return Some(f);
        }
        self.read_frame().await
    }

    async fn read_frame(&mut self) -> Option<ServerFrame> {
        loop {
            let msg = tokio::time::timeout(TIMEOUT, self.ws.next())
                .await
                .expect("server frame in time")?;
            let bytes = match msg {
                Ok(WsMessage::Text(t)) => t.as_bytes().to_vec(),
                Ok(WsMessage::Binary(b)) => b.to_vec(),
                Ok(WsMessage::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            };
            let enc = if std::str::from_utf8(&bytes).is_ok() && bytes.first() == Some(&b'{') {
                Encoding::Json
            } else {
                Encoding::MsgPack
            };
            return Some(enc.decode_server(&bytes).expect("server frame decodes"));
        }
    }

    /// The next frame that is not a pushed event.
    pub async fn reply_frame(&mut self) -> Option<ServerFrame> {
        loop {
            match self.next_frame().await {
                Some(ServerFrame::Event { .. }) => continue,
                other => return other,
            }
        }
    }

    /// Wait for the reply (or error) to request `id`, keeping other frames for later.
    pub async fn reply(&mut self, id: u64) -> Result<Response, ErrorBody> {
        loop {
            match self.read_frame().await {
                Some(ServerFrame::Reply { id: i, result }) if i == id => return Ok(result),
                Some(ServerFrame::Error { id: Some(i), error }) if i == id => return Err(error),
                Some(other) => self.pending.push_back(other),
                None => panic!("connection closed while waiting for reply {id}"),
            }
        }
    }

    pub async fn call(&mut self, request: Request) -> Result<Response, ErrorBody> {
        let id = self.send_request(request).await;
        self.reply(id).await
    }

    pub async fn send_text(
        &mut self,
        conversation: ConversationId,
        text: &str,
        client_id: &str,
    ) -> Result<Sent, ErrorBody> {
        match self
            .call(Request::Send(Send {
                conversation: Some(conversation),
                peer: None,
                client_id: client_id.into(),
                content_type: None,
                text: Some(text.into()),
                data: None,
                reply_to: None,
            }))
            .await?
        {
            Response::Sent(s) => Ok(s),
            other => panic!("expected sent, got {other:?}"),
        }
    }

    pub async fn send_to_peer(
        &mut self,
        peer: &str,
        text: &str,
        client_id: &str,
    ) -> Result<Sent, ErrorBody> {
        match self
            .call(Request::Send(Send {
                conversation: None,
                peer: Some(peer.into()),
                client_id: client_id.into(),
                content_type: None,
                text: Some(text.into()),
                data: None,
                reply_to: None,
            }))
            .await?
        {
            Response::Sent(s) => Ok(s),
            other => panic!("expected sent, got {other:?}"),
        }
    }

    pub async fn create_group(&mut self, title: &str, members: &[&str]) -> ConversationId {
        match self
            .call(Request::CreateGroup(CreateGroup {
                title: title.into(),
                members: members.iter().map(|s| s.to_string()).collect(),
                client_id: format!("g-{title}"),
            }))
            .await
            .expect("create group")
        {
            Response::Conversation(c) => c.id,
            other => panic!("expected conversation, got {other:?}"),
        }
    }

    /// The whole visible history of a conversation, oldest first.
    pub async fn history(
        &mut self,
        conversation: ConversationId,
    ) -> Result<Vec<Message>, ErrorBody> {
        let mut all: Vec<Message> = vec![];
        let mut before = None;
        loop {
            let page = match self
                .call(Request::History(History {
                    conversation: Some(conversation),
                    peer: None,
                    before,
                    limit: Some(500),
                }))
                .await?
            {
                Response::Messages(m) => m,
                other => panic!("expected messages, got {other:?}"),
            };
            if page.is_empty() {
                break;
            }
            before = Some(page[0].seq);
            let mut page = page;
            page.append(&mut all);
            all = page;
            if before == Some(1) {
                break;
            }
        }
        Ok(all)
    }

    /// Feed events after `pts`, all pages.
    pub async fn sync_all(&mut self, mut pts: Pts) -> Vec<FeedEvent> {
        let mut out = vec![];
        loop {
            match self
                .call(Request::Sync(chapar_proto::frame::Sync {
                    pts,
                    limit: Some(500),
                }))
                .await
                .expect("sync")
            {
                Response::Sync(page) => {
                    pts = page.pts;
                    out.extend(page.events);
                    if !page.more {
                        return out;
                    }
                }
                other => panic!("expected sync page, got {other:?}"),
            }
        }
    }

    /// Wait for a pushed feed event whose message matches `pred`.
    pub async fn wait_event(
        &mut self,
        mut pred: impl FnMut(&Event) -> bool,
    ) -> (Option<Pts>, Event) {
        loop {
            match self.next_frame().await {
                Some(ServerFrame::Event { pts, event }) if pred(&event) => return (pts, event),
                Some(_) => continue,
                None => panic!("connection closed while waiting for an event"),
            }
        }
    }

    /// Read until the server closes; returns the control frame it sent first, if any.
    pub async fn wait_close(&mut self) -> Option<Control> {
        let mut control = None;
        loop {
            match self.next_frame().await {
                Some(ServerFrame::Control(c)) => control = Some(c),
                Some(_) => continue,
                None => return control,
            }
        }
    }
}
