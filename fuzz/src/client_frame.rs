//! Target `client_frame`: one WebSocket frame from a client, as the gateway decodes it
//! (`Encoding::decode_client`; JSON in text frames, MessagePack in binary ones). The same bytes
//! go through both decoders.
//!
//! Checks: no panic; a frame that decodes encodes again, in both encodings, into bytes that
//! decode to the same frame; a frame that does not decode still gives the error frame the
//! gateway answers with, and that frame round-trips too.

use chapar_proto::{Encoding, ServerFrame};

const BOTH: [Encoding; 2] = [Encoding::Json, Encoding::MsgPack];

pub fn check(data: &[u8]) {
    for enc in BOTH {
        match enc.decode_client(data) {
            Ok(frame) => {
                let _ = frame.request.method();
                for out in BOTH {
                    let bytes = out.encode_client(&frame);
                    assert!(!bytes.is_empty(), "{out:?} cannot encode {frame:?}");
                    match out.decode_client(&bytes) {
                        Ok(back) => assert_eq!(back, frame, "{enc:?} -> {out:?} round trip"),
                        Err(e) => panic!("{out:?} cannot decode its own {frame:?}: {e}"),
                    }
                }
            }
            Err(e) => {
                // What the gateway sends back (crates/chapar-server/src/gateway/connection.rs).
                let reply = ServerFrame::Error {
                    id: e.id,
                    error: e.to_error_body(),
                };
                let bytes = enc.encode_server(&reply);
                match enc.decode_server(&bytes) {
                    Ok(back) => assert_eq!(back, reply, "{enc:?} error frame round trip"),
                    Err(e) => panic!("{enc:?} cannot decode its own {reply:?}: {e}"),
                }
            }
        }
    }
}
