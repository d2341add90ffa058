//! Bad input: every kind of broken frame gets a typed error or a clean close, the server keeps
//! serving everyone else, and nothing is stored.

use crate::util::Server;
use crate::util::raw::Raw;
use chapar_proto::frame::*;
use chapar_proto::*;
use tokio_tungstenite::tungstenite::Message as WsMessage;

async fn expect_error(raw: &mut Raw, frame: WsMessage) -> ErrorBody {
    raw.send_bytes(frame).await;
    loop {
        match raw.next_frame().await {
            Some(ServerFrame::Error { error, .. }) => return error,
            Some(ServerFrame::Event { .. }) => continue,
            other => panic!("expected an error frame, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_frames_get_typed_errors_and_change_nothing() {
    let server = Server::start_with(&[("CHAPAR_LIMITS__MAX_TEXT_CHARS", "100")]);
    let url = server.ws_url();
    let mut a = Raw::register(&url, "bad_a").await;
    let mut b = Raw::register(&url, "bad_b").await;
    let conv = a
        .send_to_peer("bad_b", "hello", "h1")
        .await
        .unwrap()
        .conversation;

    let cases: Vec<(WsMessage, ErrorCode)> = vec![
        (WsMessage::Binary(vec![0xc1, 0xff, 0x00, 0x13].into()), ErrorCode::Invalid),
        (WsMessage::Text("{not json".into()), ErrorCode::Invalid),
        (WsMessage::Text(r#"{"id":7,"method":"teleport","params":{}}"#.into()), ErrorCode::Invalid),
        (WsMessage::Text(r#"{"id":8,"method":"send","params":{"conversation":"three","client_id":1,"text":5}}"#.into()), ErrorCode::Invalid),
        (WsMessage::Text(r#"{"id":9,"method":"send","params":{"conversation":1}}"#.into()), ErrorCode::Invalid),
        (WsMessage::Text("[]".into()), ErrorCode::Invalid),
        (WsMessage::Text(r#"{"id":-1}"#.into()), ErrorCode::Invalid),
    ];
    for (frame, code) in cases {
        let shown = format!("{frame:?}");
        let e = expect_error(&mut a, frame).await;
        assert_eq!(e.code, code, "{shown}: {e}");
    }
    // The request id is echoed when it can be read.
    a.send_bytes(WsMessage::Text(r#"{"id":77,"method":"teleport"}"#.into()))
        .await;
    match a.reply_frame().await {
        Some(ServerFrame::Error { id, error }) => {
            assert_eq!(id, Some(77));
            assert!(
                error.message.contains("teleport") || error.message.contains("variant"),
                "{}",
                error.message
            );
        }
        other => panic!("{other:?}"),
    }
    // Valid frames with invalid content: typed errors from the rules.
    let too_long = "ش".repeat(101);
    let e = a.send_text(conv, &too_long, "long1").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::TooLarge);
    let e = a.send_text(conv, "   ", "blank").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid);
    let e = a.send_text(conv, "x", "").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid);
    let e = a
        .send_to_peer("no_such_user", "hi", "n1")
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    let e = a.send_to_peer("a b!", "hi", "n2").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid);
    let e = a
        .call(Request::History(History {
            conversation: Some(conv),
            peer: Some("bad_b".into()),
            before: None,
            limit: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid);
    // The connection still works, and nothing was stored.
    assert_eq!(a.history(conv).await.unwrap().len(), 1);
    assert_eq!(b.history(conv).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_close_only_that_connection() {
    let server = Server::start();
    let url = server.ws_url();
    let mut a = Raw::register(&url, "big_a").await;
    let mut b = Raw::register(&url, "big_b").await;
    let conv = b
        .send_to_peer("big_a", "hi", "h1")
        .await
        .unwrap()
        .conversation;
    // A 10 MB text in an otherwise valid send.
    let huge = "x".repeat(10 * 1024 * 1024);
    let frame = format!(
        r#"{{"id":1,"method":"send","params":{{"conversation":{},"client_id":"huge","text":"{huge}"}}}}"#,
        conv.0
    );
    let _ = a.ws.send_msg(WsMessage::Text(frame.into())).await;
    let control = a.wait_close().await;
    if let Some(c) = control {
        assert_eq!(c.reason, "too_large");
    }
    // Everyone else is served; nothing was stored.
    let history = b.history(conv).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(b.send_text(conv, "still here", "h2").await.unwrap().seq, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_before_sign_in_are_refused_and_garbage_handshakes_do_no_harm() {
    let server = Server::start();
    let url = server.ws_url();
    let mut anon = Raw::connect(&url, Encoding::MsgPack).await;
    let e = anon.call(Request::Conversations).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Unauthorized);
    let e = anon
        .call(Request::Authenticate(Authenticate {
            token: "nope".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Unauthorized);
    let sig = anon.sign();
    let e = anon
        .call(Request::Register(Register {
            handle: "x".into(),
            display_name: None,
            public_key: anon.key.verifying_key().to_bytes().to_vec().into(),
            signature: sig,
            device_name: None,
            invite_code: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid);
    let e = anon
        .call(Request::Register(Register {
            handle: "shortkey".into(),
            display_name: None,
            public_key: vec![1, 2, 3].into(),
            signature: vec![0; 64].into(),
            device_name: None,
            invite_code: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Invalid);
    // Plain HTTP garbage on the port does not hurt the node.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"\x16\x03\x01garbage\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 256];
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read(&mut buf)).await;
    let health = reqwest_free_get(server.addr, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
}

/// A GET without an HTTP client dependency.
pub async fn reqwest_free_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).await.unwrap();
    out
}

trait SendMsg {
    async fn send_msg(&mut self, m: WsMessage)
    -> Result<(), tokio_tungstenite::tungstenite::Error>;
}

impl SendMsg for crate::util::raw::Ws {
    async fn send_msg(
        &mut self,
        m: WsMessage,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        use futures_util::SinkExt;
        self.send(m).await
    }
}
