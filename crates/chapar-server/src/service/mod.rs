//! The service HTTP API: how other domains (a bank, a shop, a public service) reach people on
//! chapar. A service account (created by a person with `chapar service create`, token
//! `<id>:<secret>` in `Authorization: Bearer`) sends notifications to people who allowed it
//! (`chapar service allow @service`, the protocol's `allow_service`), and receives their
//! replies by webhook (or by polling `/v1/service/events`).
//!
//! The routes are described by the OpenAPI document served at `/v1/openapi.json`
//! (`openapi.json` beside this file; a test checks every documented route exists). Errors use
//! the protocol's error body, `{"error":{"code","message","retry_after_ms"?}}`, with the HTTP
//! status of the code. Consent is judged by the store, in the transaction that appends the
//! notification; a person's replies are ordinary messages in their direct conversation.

use crate::botapi::http_client::{HttpUrl, resolve};
use crate::botapi::updates::{Polled, confirm, long_poll};
use crate::botapi::{Ctx, authenticate, new_client_id, reply::ApiError, webhook};
use crate::state::App;
use axum::Router;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chapar_core::bots::{Bot, BotAction, UPDATE_RETENTION_MS, Webhook};
use chapar_core::store::Target;
use chapar_core::{Error, rules};
use chapar_proto::{BotKind, ErrorCode, Event, FeedEvent, MessageKind};
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("openapi.json");
/// The header carrying a service's webhook secret.
pub const SECRET_HEADER: &str = "X-Chapar-Service-Secret";
/// Most events one `/v1/service/events` call returns.
const MAX_EVENTS: usize = 100;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/service/me", get(me))
        .route("/v1/service/notifications", axum::routing::post(notify))
        .route(
            "/v1/service/webhook",
            get(get_webhook).put(set_webhook).delete(delete_webhook),
        )
        .route("/v1/service/events", get(events))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// An error of this API: the protocol's error body with the matching HTTP status (or the one
/// given, for failures the protocol has no code of its own for, like a body sent too slowly).
struct Failure(Error, Option<StatusCode>);

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure(e, None)
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        Failure::from(match e.code {
            401 | 404 => Error::Unauthorized(
                "a service token is needed: Authorization: Bearer <id>:<secret>".into(),
            ),
            403 => Error::Forbidden(e.description),
            413 => Error::TooLarge(e.description),
            429 => Error::RateLimited {
                retry_after_ms: e.retry_after.unwrap_or(1) * 1000,
            },
            500..=599 => Error::Unavailable(e.description),
            _ => Error::Invalid(
                e.description
                    .strip_prefix("Bad Request: ")
                    .unwrap_or(&e.description)
                    .to_string(),
            ),
        })
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = self.0.to_body();
        let status = self.1.unwrap_or(match body.code {
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Invalid => StatusCode::BAD_REQUEST,
            ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::RateLimited | ErrorCode::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        });
        let retry = body.retry_after_ms.map(|ms| ms.div_ceil(1000).max(1));
        let mut resp = (status, axum::Json(json!({ "error": body }))).into_response();
        if let Some(s) = retry
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

type Result<T> = std::result::Result<T, Failure>;

/// Who calls: the client's address and the bearer token.
fn credentials(request: &Request) -> (Option<std::net::IpAddr>, String) {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .trim()
        .to_string();
    (peer, token)
}

/// The service account behind the bearer token, after the per-account request limit.
async fn service(app: &Arc<App>, who: (Option<std::net::IpAddr>, String)) -> Result<Bot> {
    let (peer, token) = who;
    let bot = authenticate(app, &token, peer, BotKind::Service).await?;
    app.bots
        .check_request(bot.id())
        .map_err(|ms| Failure::from(Error::RateLimited { retry_after_ms: ms }))?;
    Ok(bot)
}

/// A JSON body (bounded by `bots.max_body_bytes`).
async fn body<T: serde::de::DeserializeOwned>(app: &Arc<App>, request: Request) -> Result<T> {
    let bytes = crate::accept::read_body(app, request.into_body(), app.bots.config.max_body_bytes)
        .await
        .map_err(|e| match e {
            crate::accept::BodyError::TooLarge(_) => {
                Failure::from(Error::TooLarge("the request body is too large".into()))
            }
            crate::accept::BodyError::Timeout(_) => Failure(
                Error::invalid(e.to_string()),
                Some(StatusCode::REQUEST_TIMEOUT),
            ),
        })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Failure::from(Error::invalid(format!("invalid JSON body: {e}"))))
}

fn describe(bot: &Bot) -> Value {
    json!({
        "id": bot.id(),
        "handle": bot.principal.user.handle,
        "display_name": bot.principal.user.display_name,
        "webhook": bot.webhook.as_ref().map(|w| json!({"url": w.url})),
    })
}

async fn me(State(app): State<Arc<App>>, request: Request) -> Result<axum::Json<Value>> {
    let bot = service(&app, credentials(&request)).await?;
    Ok(axum::Json(describe(&bot)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Notification {
    /// The person's handle (`@` optional).
    to: String,
    text: String,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    reply_to: Option<u64>,
}

async fn notify(State(app): State<Arc<App>>, request: Request) -> Result<axum::Json<Value>> {
    let bot = service(&app, credentials(&request)).await?;
    let n: Notification = body(&app, request).await?;
    let handle = rules::handle(&n.to)?;
    let client_id = n.client_id.unwrap_or_else(new_client_id);
    let ctx = Ctx {
        app: &app,
        bot: bot.clone(),
    };
    ctx.charge_bot()?;
    let committed = app
        .store
        .execute_bot(
            &bot.principal,
            BotAction::Send {
                target: Target::Peer(handle),
                client_id,
                text: n.text,
                entities: Vec::new(),
                reply_markup: None,
                reply_to: n.reply_to,
            },
        )
        .await?;
    Ok(axum::Json(json!({
        "conversation": committed.conversation,
        "seq": committed.seq,
        "server_time": committed.server_time,
        "duplicate": committed.duplicate,
    })))
}

async fn get_webhook(State(app): State<Arc<App>>, request: Request) -> Result<axum::Json<Value>> {
    let bot = service(&app, credentials(&request)).await?;
    let last_error = app.bots.webhooks.last_error(bot.id());
    Ok(axum::Json(json!({
        "url": bot.webhook.as_ref().map(|w| w.url.clone()),
        "last_error": last_error.map(|(date, message)| json!({"date": date, "message": message})),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetWebhook {
    url: String,
    #[serde(default)]
    secret: Option<String>,
}

async fn set_webhook(State(app): State<Arc<App>>, request: Request) -> Result<axum::Json<Value>> {
    let mut bot = service(&app, credentials(&request)).await?;
    let w: SetWebhook = body(&app, request).await?;
    let parsed = HttpUrl::parse(&w.url).map_err(|e| Failure::from(Error::invalid(e)))?;
    resolve(&parsed, app.bots.config.webhook_allow_private)
        .await
        .map_err(|e| Failure::from(Error::invalid(e)))?;
    if w.secret.as_deref().is_some_and(|s| !webhook::secret_ok(s)) {
        return Err(Error::invalid("secret must be 1 to 256 of A-Z a-z 0-9 _ -").into());
    }
    let hook = Webhook {
        url: w.url,
        secret_token: w.secret,
        max_connections: 1,
        set_at: crate::state::now_ms(),
    };
    webhook::install(&app, &mut bot, Some(hook)).await?;
    Ok(axum::Json(describe(&bot)))
}

async fn delete_webhook(State(app): State<Arc<App>>, request: Request) -> Result<StatusCode> {
    let mut bot = service(&app, credentials(&request)).await?;
    webhook::install(&app, &mut bot, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct EventsQuery {
    #[serde(default)]
    after: Option<u64>,
    #[serde(default)]
    timeout: Option<u64>,
}

/// Replies without a webhook: events after `after` (which confirms everything up to it),
/// waiting up to `timeout` seconds for the first.
async fn events(
    State(app): State<Arc<App>>,
    Query(q): Query<EventsQuery>,
    request: Request,
) -> Result<axum::Json<Value>> {
    let bot = service(&app, credentials(&request)).await?;
    if bot.webhook.is_some() {
        return Err(Error::Conflict("a webhook is set: events are pushed to it".into()).into());
    }
    let mut bot = bot;
    if let Some(after) = q.after {
        confirm(&app, &mut bot, after.saturating_add(1)).await?;
    }
    let timeout = q
        .timeout
        .unwrap_or(0)
        .min(app.bots.config.long_poll_max_secs);
    let events = match long_poll(&app, &mut bot, timeout, MAX_EVENTS, &[]).await? {
        Polled::Found(events) => events,
        Polled::Superseded { .. } => {
            return Err(Error::Conflict(
                "a newer wait for events of this account took over".into(),
            )
            .into());
        }
    };
    Ok(axum::Json(json!({ "events": events })))
}

/// A feed event as a service event: text messages people send it (replies).
pub fn event(bot: &Bot, ev: &FeedEvent, now: i64) -> Option<Value> {
    let Event::Message(m) = &ev.event else {
        return None;
    };
    if m.kind != MessageKind::Text
        || m.deleted
        || m.sender == bot.id()
        || now - m.server_time > UPDATE_RETENTION_MS
    {
        return None;
    }
    let text = m.text.as_ref()?;
    Some(json!({
        "id": ev.pts,
        "type": "message",
        "user": {"id": m.sender, "handle": m.sender_handle},
        "conversation": m.conversation,
        "seq": m.seq,
        "text": text,
        "reply_to": m.reply_to,
        "server_time": m.server_time,
    }))
}
