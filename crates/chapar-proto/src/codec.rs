//! The two encodings of protocol v1, negotiated per connection: JSON in WebSocket text frames and
//! MessagePack (maps with field names, so unknown fields stay ignorable) in binary frames.

use crate::error::{ErrorBody, ErrorCode};
use crate::frame::{ClientFrame, Event, ServerFrame};
use crate::ids::Pts;
use serde::{Deserialize, Serialize};

/// Serialises exactly like `ServerFrame::Event`, borrowing the event.
#[derive(Serialize)]
#[serde(tag = "type", rename = "event")]
struct EventFrameRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pts: Option<Pts>,
    event: &'a Event,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Json,
    MsgPack,
}

impl Encoding {
    /// The WebSocket subprotocol name that selects this encoding.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Encoding::Json => "chapar.v1.json",
            Encoding::MsgPack => "chapar.v1.msgpack",
        }
    }

    /// Parse a subprotocol name or a short name (`json`, `msgpack`).
    pub fn parse(s: &str) -> Option<Encoding> {
        match s.trim() {
            "chapar.v1.json" | "json" => Some(Encoding::Json),
            "chapar.v1.msgpack" | "msgpack" => Some(Encoding::MsgPack),
            _ => None,
        }
    }

    pub fn encode_server(self, frame: &ServerFrame) -> Vec<u8> {
        encode(self, frame)
    }

    /// Encode a pushed event frame without owning (cloning) the event: the same event is
    /// encoded once per recipient connection.
    pub fn encode_event(self, pts: Option<Pts>, event: &Event) -> Vec<u8> {
        encode(self, &EventFrameRef { pts, event })
    }

    pub fn encode_client(self, frame: &ClientFrame) -> Vec<u8> {
        encode(self, frame)
    }

    pub fn decode_client(self, bytes: &[u8]) -> Result<ClientFrame, DecodeError> {
        match decode::<ClientFrame>(self, bytes) {
            Ok(f) => Ok(f),
            Err(detail) => {
                // Recover the request id (if any) so the error can answer that request.
                let id = decode::<Header>(self, bytes).ok().and_then(|h| h.id);
                Err(DecodeError { id, detail })
            }
        }
    }

    pub fn decode_server(self, bytes: &[u8]) -> Result<ServerFrame, DecodeError> {
        decode::<ServerFrame>(self, bytes).map_err(|detail| DecodeError { id: None, detail })
    }
}

fn encode<T: serde::Serialize>(enc: Encoding, v: &T) -> Vec<u8> {
    match enc {
        // Serialising these types cannot fail: all map keys are strings.
        Encoding::Json => serde_json::to_vec(v).unwrap_or_default(),
        Encoding::MsgPack => rmp_serde::to_vec_named(v).unwrap_or_default(),
    }
}

fn decode<T: for<'de> Deserialize<'de>>(enc: Encoding, bytes: &[u8]) -> Result<T, String> {
    match enc {
        Encoding::Json => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
        Encoding::MsgPack => rmp_serde::from_slice(bytes).map_err(|e| e.to_string()),
    }
}

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    id: Option<u64>,
}

/// A frame that could not be decoded; `id` is the request id when it could still be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid frame: {detail}")]
pub struct DecodeError {
    pub id: Option<u64>,
    pub detail: String,
}

impl DecodeError {
    pub fn to_error_body(&self) -> ErrorBody {
        ErrorBody::new(
            ErrorCode::Invalid,
            format!("invalid frame: {}", self.detail),
        )
    }
}

#[cfg(test)]
mod tests;
