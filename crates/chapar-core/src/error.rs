//! The domain error. Each variant is one protocol error code; the message is for people.

use chapar_proto::{ErrorBody, ErrorCode};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("too large: {0}")]
    TooLarge(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("rate limited, retry after {retry_after_ms} ms")]
    RateLimited { retry_after_ms: u64 },
    #[error("overloaded: {reason}, retry after {retry_after_ms} ms")]
    Overloaded { reason: String, retry_after_ms: u64 },
    /// The backend failed or is unreachable; nothing was committed and a retry is safe.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Unauthorized(_) => ErrorCode::Unauthorized,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::Invalid(_) => ErrorCode::Invalid,
            Error::TooLarge(_) => ErrorCode::TooLarge,
            Error::Conflict(_) => ErrorCode::Conflict,
            Error::RateLimited { .. } => ErrorCode::RateLimited,
            Error::Overloaded { .. } => ErrorCode::Overloaded,
            Error::Unavailable(_) => ErrorCode::Unavailable,
        }
    }

    pub fn to_body(&self) -> ErrorBody {
        let message = match self {
            Error::Unauthorized(m)
            | Error::Forbidden(m)
            | Error::NotFound(m)
            | Error::Invalid(m)
            | Error::TooLarge(m)
            | Error::Conflict(m)
            | Error::Unavailable(m) => m.clone(),
            Error::RateLimited { .. } => "too many requests".to_string(),
            Error::Overloaded { reason, .. } => reason.clone(),
        };
        let retry_after_ms = match self {
            Error::RateLimited { retry_after_ms } | Error::Overloaded { retry_after_ms, .. } => {
                Some(*retry_after_ms)
            }
            Error::Unavailable(_) => Some(1000),
            _ => None,
        };
        ErrorBody {
            code: self.code(),
            message,
            retry_after_ms,
        }
    }

    pub fn invalid(m: impl Into<String>) -> Self {
        Error::Invalid(m.into())
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        Error::Forbidden(m.into())
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Error::NotFound(m.into())
    }
}
