//! Typed error codes. Every failed request gets one of these, with a human message and, when
//! waiting helps, a retry hint.

use serde::{Deserialize, Serialize};

/// The closed set of error codes of protocol v1. `Unknown` keeps old clients decoding codes added
/// later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not signed in, or the token/signature is not valid.
    Unauthorized,
    /// Signed in, but not allowed (e.g. not a member of the conversation).
    Forbidden,
    /// The thing does not exist (or the caller may not know it exists).
    NotFound,
    /// The request is malformed or breaks a rule (bad handle, empty text, unknown method...).
    Invalid,
    /// A frame, text or body is over its configured limit.
    TooLarge,
    /// Too many requests; retry after `retry_after_ms`.
    RateLimited,
    /// The node is busy (write queue full, connection cap); retry after `retry_after_ms`.
    Overloaded,
    /// The request conflicts with current state (handle taken, code already used...).
    Conflict,
    /// A backend is unavailable; retrying later is safe.
    Unavailable,
    /// A bug on the server side; the request may be retried.
    Internal,
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// Whether a client may retry the same request (with backoff) and expect a different outcome.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::RateLimited
                | ErrorCode::Overloaded
                | ErrorCode::Unavailable
                | ErrorCode::Internal
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Invalid => "invalid",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::Unknown => "unknown",
        }
    }
}

/// The error object carried by an error frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)?;
        if let Some(ms) = self.retry_after_ms {
            write!(f, " (retry after {:.1} s)", ms as f64 / 1000.0)?;
        }
        Ok(())
    }
}

impl std::error::Error for ErrorBody {}
