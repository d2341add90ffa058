//! Telegram's response shapes: `{"ok":true,"result":...}` and
//! `{"ok":false,"error_code":N,"description":"...","parameters":{"retry_after":S}}`, with the
//! HTTP status equal to `error_code` (libraries look at both), and how chapar's domain errors
//! map onto them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chapar_core::Error;
use serde_json::{Value, json};

/// A failed Bot API call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: u16,
    pub description: String,
    /// Seconds to wait (429 only).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: u16, description: impl Into<String>) -> ApiError {
        ApiError {
            code,
            description: description.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(why: impl AsRef<str>) -> ApiError {
        ApiError::new(400, format!("Bad Request: {}", why.as_ref()))
    }

    pub fn forbidden(why: impl AsRef<str>) -> ApiError {
        ApiError::new(403, format!("Forbidden: {}", why.as_ref()))
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(401, "Unauthorized")
    }

    pub fn not_found() -> ApiError {
        ApiError::new(404, "Not Found")
    }

    pub fn conflict(why: impl AsRef<str>) -> ApiError {
        ApiError::new(409, format!("Conflict: {}", why.as_ref()))
    }

    /// 429 with `retry_after` in whole seconds (at least 1), from milliseconds.
    pub fn too_many(retry_after_ms: u64) -> ApiError {
        let secs = retry_after_ms.div_ceil(1000).max(1);
        ApiError {
            code: 429,
            description: format!("Too Many Requests: retry after {secs}"),
            retry_after: Some(secs),
        }
    }

    pub fn body(&self) -> Value {
        let mut v = json!({
            "ok": false,
            "error_code": self.code,
            "description": self.description,
        });
        if let Some(s) = self.retry_after {
            v["parameters"] = json!({ "retry_after": s });
        }
        v
    }
}

impl From<Error> for ApiError {
    /// The generic mapping; methods refine it where Telegram has a specific description.
    fn from(e: Error) -> ApiError {
        match e {
            Error::Invalid(m) | Error::NotFound(m) | Error::TooLarge(m) => ApiError::bad_request(m),
            Error::Conflict(m) => ApiError::bad_request(m),
            Error::Forbidden(m) => ApiError::forbidden(m),
            Error::Unauthorized(_) => ApiError::unauthorized(),
            Error::RateLimited { retry_after_ms } | Error::Overloaded { retry_after_ms, .. } => {
                ApiError::too_many(retry_after_ms)
            }
            Error::Unavailable(m) => {
                tracing::warn!(error = %m, "bot api: store unavailable");
                ApiError::new(
                    500,
                    "Internal Server Error: the store is unavailable, retry",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, json_body(&self.body())).into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

/// `{"ok":true,"result":...}`.
pub fn ok(result: Value) -> Response {
    (
        StatusCode::OK,
        json_body(&json!({"ok": true, "result": result})),
    )
        .into_response()
}

fn json_body(v: &Value) -> ([(header::HeaderName, HeaderValue); 1], String) {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        v.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_have_telegram_shape() {
        let e = ApiError::too_many(1200);
        assert_eq!(
            e.body(),
            json!({"ok": false, "error_code": 429,
                   "description": "Too Many Requests: retry after 2",
                   "parameters": {"retry_after": 2}})
        );
        assert_eq!(ApiError::too_many(1).retry_after, Some(1));
        let f: ApiError = Error::forbidden("bot is not a member of the group chat").into();
        assert_eq!(f.code, 403);
        assert_eq!(
            f.description,
            "Forbidden: bot is not a member of the group chat"
        );
        let n: ApiError = Error::not_found("x").into();
        assert_eq!((n.code, n.body()["ok"].clone()), (400, json!(false)));
    }
}
