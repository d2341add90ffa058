use super::*;
use crate::frame::*;
use crate::model::*;
use crate::{Bytes, ConversationId, DeviceId, UserId};
use proptest::prelude::*;

fn sample_message() -> Message {
    Message {
        conversation: ConversationId(3),
        seq: 9,
        sender: UserId(1),
        sender_handle: "sara".into(),
        sender_name: "Sara".into(),
        sender_device: DeviceId(2),
        client_id: "c-1".into(),
        server_time: 1_764_352_000_000,
        kind: MessageKind::Text,
        content_type: TEXT_PLAIN.into(),
        text: Some("سلام".into()),
        data: Some(Bytes(vec![0, 1, 2, 255])),
        reply_to: Some(4),
        target: None,
        remove: false,
        system: None,
        edited_at: None,
        deleted: false,
        reactions: vec![],
        entities: vec![],
        reply_markup: None,
        forward: Some(crate::Forwarded {
            from: crate::UserInfo {
                id: crate::UserId(9),
                handle: "sara".into(),
                display_name: "سارا".into(),
            },
            server_time: 1_764_351_000_000,
        }),
        hidden: false,
    }
}

#[test]
fn client_frames_round_trip_in_both_encodings() {
    let frames = vec![
        ClientFrame {
            id: 1,
            request: Request::Ping,
        },
        ClientFrame {
            id: 2,
            request: Request::Conversations,
        },
        ClientFrame {
            id: 3,
            request: Request::Send(Send {
                conversation: None,
                peer: Some("bob".into()),
                client_id: "x".into(),
                content_type: None,
                text: Some("hi".into()),
                data: Some(Bytes(vec![9; 40])),
                reply_to: Some(2),
            }),
        },
        ClientFrame {
            id: 4,
            request: Request::Login(Login {
                public_key: Bytes(vec![1; 32]),
                signature: Bytes(vec![2; 64]),
            }),
        },
    ];
    for enc in [Encoding::Json, Encoding::MsgPack] {
        for f in &frames {
            let bytes = enc.encode_client(f);
            assert_eq!(&enc.decode_client(&bytes).unwrap(), f, "{enc:?}");
        }
    }
}

#[test]
fn server_frames_round_trip_in_both_encodings() {
    let frames = vec![
        ServerFrame::Event {
            pts: Some(7),
            event: Event::Message(sample_message()),
        },
        ServerFrame::Reply {
            id: 5,
            result: Response::Messages(vec![sample_message()]),
        },
        ServerFrame::Reply {
            id: 6,
            result: Response::Ok,
        },
        ServerFrame::Error {
            id: Some(1),
            error: ErrorBody {
                code: ErrorCode::RateLimited,
                message: "slow".into(),
                retry_after_ms: Some(250),
            },
        },
    ];
    for enc in [Encoding::Json, Encoding::MsgPack] {
        for f in &frames {
            let bytes = enc.encode_server(f);
            assert_eq!(&enc.decode_server(&bytes).unwrap(), f, "{enc:?}");
        }
    }
}

#[test]
fn borrowed_event_frames_encode_like_owned_ones() {
    let event = Event::Message(sample_message());
    for enc in [Encoding::Json, Encoding::MsgPack] {
        for pts in [Some(3), None] {
            let owned = enc.encode_server(&ServerFrame::Event {
                pts,
                event: event.clone(),
            });
            assert_eq!(enc.encode_event(pts, &event), owned, "{enc:?}");
        }
    }
}

#[test]
fn json_is_what_the_protocol_doc_shows() {
    let f = Encoding::Json
        .decode_client(br#"{"id":1,"method":"send","params":{"peer":"bob","client_id":"a1","text":"salam","future_field":true}}"#)
        .unwrap();
    match f.request {
        Request::Send(s) => {
            assert_eq!(s.peer.as_deref(), Some("bob"));
            assert_eq!(s.text.as_deref(), Some("salam"));
        }
        other => panic!("decoded as {other:?}"),
    }
    let unit = Encoding::Json
        .decode_client(br#"{"id":2,"method":"conversations"}"#)
        .unwrap();
    assert_eq!(unit.request, Request::Conversations);
    let reply = String::from_utf8(Encoding::Json.encode_server(&ServerFrame::Reply {
        id: 1,
        result: Response::Sent(Sent {
            conversation: ConversationId(3),
            seq: 1,
            server_time: 5,
            duplicate: false,
        }),
    }))
    .unwrap();
    assert_eq!(
        reply,
        r#"{"type":"reply","id":1,"result":{"sent":{"conversation":3,"seq":1,"server_time":5,"duplicate":false}}}"#
    );
}

#[test]
fn bad_frames_keep_the_request_id_when_it_can_be_read() {
    let e = Encoding::Json
        .decode_client(br#"{"id":42,"method":"fly","params":{}}"#)
        .unwrap_err();
    assert_eq!(e.id, Some(42));
    let e = Encoding::Json
        .decode_client(br#"{"id":43,"method":"send","params":{"client_id":7}}"#)
        .unwrap_err();
    assert_eq!(e.id, Some(43));
    let e = Encoding::Json
        .decode_client(b"\xff\x00garbage")
        .unwrap_err();
    assert_eq!(e.id, None);
    assert_eq!(e.to_error_body().code, ErrorCode::Invalid);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoder_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Encoding::Json.decode_client(&bytes);
        let _ = Encoding::MsgPack.decode_client(&bytes);
        let _ = Encoding::Json.decode_server(&bytes);
        let _ = Encoding::MsgPack.decode_server(&bytes);
    }

    #[test]
    fn decoder_never_panics_on_json_shaped_input(
        id in any::<i64>(),
        method in "[a-z_]{0,16}",
        params in "[\\[\\]{}\":,a-z0-9 ]{0,64}",
    ) {
        let text = format!(r#"{{"id":{id},"method":"{method}","params":{params}}}"#);
        let _ = Encoding::Json.decode_client(text.as_bytes());
    }
}
