//! The SDK's error type, which tells the caller whether retrying may help.

use chapar_proto::{ErrorBody, ErrorCode};

/// Everything a client call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// The server answered with a typed error.
    #[error("{0}")]
    Server(ErrorBody),
    /// No reply within the request timeout.
    #[error("timed out waiting for the server")]
    Timeout,
    /// The connection dropped before the reply arrived (the request may or may not have run).
    #[error("disconnected from the server")]
    Disconnected,
    /// The client was shut down (closed, revoked, or its task ended).
    #[error("client closed")]
    Closed,
    /// The server could not be reached or the socket failed.
    #[error("connection failed: {0}")]
    Io(String),
    /// The server sent something this client does not understand.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server answered with a reply of the wrong kind for this request.
    #[error("unexpected reply from the server: {0}")]
    Unexpected(String),
    /// The server is refusing new connections (HTTP 503 on the upgrade).
    #[error("server busy{}", match retry_after_ms { Some(ms) => format!(", retry after {:.1} s", *ms as f64 / 1000.0), None => String::new() })]
    Busy { retry_after_ms: Option<u64> },
    /// Bad input given to the SDK (before anything was sent).
    #[error("invalid argument: {0}")]
    Invalid(String),
}

impl SdkError {
    /// Whether the same call may succeed if repeated later (with backoff).
    pub fn is_retryable(&self) -> bool {
        match self {
            SdkError::Server(body) => body.code.is_retryable(),
            SdkError::Timeout
            | SdkError::Disconnected
            | SdkError::Io(_)
            | SdkError::Busy { .. } => true,
            SdkError::Closed
            | SdkError::Protocol(_)
            | SdkError::Unexpected(_)
            | SdkError::Invalid(_) => false,
        }
    }

    /// The server's retry hint, when it gave one.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            SdkError::Server(body) => body.retry_after_ms,
            SdkError::Busy { retry_after_ms } => *retry_after_ms,
            _ => None,
        }
    }

    /// The server's error code, when the server answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            SdkError::Server(body) => Some(body.code),
            _ => None,
        }
    }
}

impl From<ErrorBody> for SdkError {
    fn from(body: ErrorBody) -> Self {
        SdkError::Server(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_classification() {
        assert!(SdkError::Timeout.is_retryable());
        assert!(SdkError::Disconnected.is_retryable());
        assert!(!SdkError::Closed.is_retryable());
        let busy = ErrorBody {
            code: ErrorCode::Overloaded,
            message: "busy".into(),
            retry_after_ms: Some(1500),
        };
        let e = SdkError::from(busy);
        assert!(e.is_retryable());
        assert_eq!(e.retry_after_ms(), Some(1500));
        assert!(!SdkError::from(ErrorBody::new(ErrorCode::Forbidden, "no")).is_retryable());
    }
}
