//! The bot platform's server side: a Telegram-compatible Bot API, so existing bot libraries
//! work by changing their base URL.
//!
//! * this file: the routes (`/bot<token>/<method>`, `/file/bot<token>/<path>`), token checks,
//!   rate limits, the method table, and [`Bots`], the node's bot state.
//! * [`protocol`]: the bot requests of the WebSocket protocol (create and manage bots, press
//!   buttons, allow service accounts).
//! * [`params`]: query, JSON, form and multipart parameters; [`reply`]: Telegram's response and
//!   error shapes; [`types`]: chapar's objects as Telegram's (ids, chats, messages).
//! * [`messages`], [`chats`]: the methods; [`updates`]: updates from the bot's feed and
//!   `getUpdates` long polling; [`webhook`]: webhooks and their sender over
//!   [`http_client`]; [`format`]: `parse_mode` and entity detection.
//!
//! A bot acts only through the store, as its own principal: membership and every other rule
//! are judged there, exactly as for people.

pub mod chats;
pub mod config;
pub mod format;
pub mod http_client;
pub mod messages;
pub mod params;
pub mod protocol;
pub mod reply;
pub mod types;
pub mod updates;
pub mod webhook;

pub use config::BotConfig;

use crate::accept::{BodyError, read_body};
use crate::auth;
use crate::ratelimit::KeyedLimiter;
use crate::state::App;
use axum::Router;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use chapar_core::bots::Bot;
use chapar_proto::{BotKind, ConversationId, UserId};
use params::Params;
use reply::ApiError;
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;
use updates::Wakes;

/// The node's bot state: wake-ups, limits and webhook senders.
pub struct Bots {
    pub config: BotConfig,
    pub wakes: Arc<Wakes>,
    /// `getUpdates` calls that may wait at once.
    pub polls: Semaphore,
    requests: KeyedLimiter<UserId>,
    sends: KeyedLimiter<UserId>,
    chat_sends: KeyedLimiter<(UserId, ConversationId)>,
    bad_tokens: KeyedLimiter<IpAddr>,
    pub webhooks: webhook::Webhooks,
}

impl Bots {
    pub fn new(config: &BotConfig) -> Bots {
        Bots {
            config: config.clone(),
            wakes: Arc::default(),
            polls: Semaphore::new(config.max_long_polls.max(1)),
            requests: KeyedLimiter::new(config.requests_per_bot.clone(), config.max_keys),
            sends: KeyedLimiter::new(config.sends_per_bot.clone(), config.max_keys),
            chat_sends: KeyedLimiter::new(config.sends_per_chat.clone(), config.max_keys),
            bad_tokens: KeyedLimiter::new(config.bad_tokens_per_address.clone(), config.max_keys),
            webhooks: webhook::Webhooks::default(),
        }
    }

    /// Charge one call of `bot` to its request limit; the milliseconds to wait when over it.
    pub fn check_request(&self, bot: UserId) -> Result<(), u64> {
        self.requests.check(bot, Instant::now())
    }

    /// What the connection registry calls for every feed event of a user with no connection on
    /// this node (bots never have one): wakes that bot's long poll or webhook sender.
    pub fn feed_hook(&self) -> Arc<dyn Fn(UserId) + Send + Sync> {
        let wakes = Arc::clone(&self.wakes);
        Arc::new(move |user| wakes.feed_grew(user))
    }
}

/// Start the node's background work (the webhook senders).
pub fn start(app: &Arc<App>) {
    webhook::start(app);
}

/// One Bot API call: the node and the authenticated bot (its state as of this call).
pub struct Ctx<'a> {
    pub app: &'a Arc<App>,
    pub bot: Bot,
}

impl Ctx<'_> {
    /// Charge the per-bot send limit (and nothing per chat).
    pub fn charge_bot(&self) -> Result<(), ApiError> {
        self.app
            .bots
            .sends
            .check(self.bot.id(), Instant::now())
            .map_err(ApiError::too_many)
    }

    /// Charge the per-bot and per-chat send limits.
    pub fn charge_send(&self, conv: ConversationId) -> Result<(), ApiError> {
        self.charge_bot()?;
        self.app
            .bots
            .chat_sends
            .check((self.bot.id(), conv), Instant::now())
            .map_err(ApiError::too_many)
    }
}

/// A fresh idempotency key for a store action (Bot API calls have none of their own).
pub fn new_client_id() -> String {
    format!("botapi-{}", auth::new_token())
}

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/bot{token}/{method}", any(endpoint))
        .route("/file/bot{token}/{*path}", any(file))
}

/// Files are not served yet: every file path answers 404.
async fn file() -> Response {
    ApiError::new(404, "Not Found: files are not supported by this server yet").into_response()
}

async fn endpoint(
    State(app): State<Arc<App>>,
    Path((token, method)): Path<(String, String)>,
    request: Request,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    // The token first: a caller without one is answered before its body is read (a body of
    // up to `max_body_bytes` per connection is worth holding only for a bot).
    let bot = match authenticate(&app, &token, peer, BotKind::Bot).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let (parts, body) = request.into_parts();
    let bytes = match read_body(&app, body, app.bots.config.max_body_bytes).await {
        Ok(b) => b,
        Err(BodyError::TooLarge(_)) => {
            return ApiError::new(413, "Request Entity Too Large").into_response();
        }
        Err(e @ BodyError::Timeout(_)) => {
            return ApiError::new(408, format!("Request Timeout: {e}")).into_response();
        }
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let params = match Params::parse(parts.uri.query(), content_type, &bytes) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let mut ctx = Ctx { app: &app, bot };
    if let Err(ms) = app.bots.check_request(ctx.bot.id()) {
        return ApiError::too_many(ms).into_response();
    }
    match dispatch(&mut ctx, &method, &params).await {
        Ok(v) => reply::ok(v),
        Err(e) => e.into_response(),
    }
}

/// The bot (or service account, for `kind`) behind `token` = `<id>:<secret>`.
pub async fn authenticate(
    app: &Arc<App>,
    token: &str,
    peer: Option<IpAddr>,
    kind: BotKind,
) -> Result<Bot, ApiError> {
    let parsed = token.split_once(':').and_then(|(id, secret)| {
        let id = id.parse::<i64>().ok().filter(|id| *id > 0)?;
        let ok = (1..=128).contains(&secret.len()) && secret.bytes().all(|b| b.is_ascii_graphic());
        ok.then_some((id, secret))
    });
    let found = match parsed {
        Some((id, secret)) => app
            .store
            .bot_session(auth::hash_secret(secret))
            .await?
            .filter(|b| b.id().0 == id && b.kind == kind),
        None => None,
    };
    match found {
        Some(bot) => Ok(bot),
        None => {
            if let Some(ip) = peer
                && let Err(ms) = app
                    .bots
                    .bad_tokens
                    .check(crate::ratelimit::address_key(ip), Instant::now())
            {
                return Err(ApiError::too_many(ms));
            }
            // Telegram answers a malformed token with 404 and a wrong one with 401.
            Err(if parsed.is_some() {
                ApiError::unauthorized()
            } else {
                ApiError::not_found()
            })
        }
    }
}

/// Telegram methods chapar knows but does not implement (answered 404 with a reason).
const UNSUPPORTED: &[&str] = &[
    "sendphoto",
    "sendaudio",
    "senddocument",
    "sendvideo",
    "sendanimation",
    "sendvoice",
    "sendvideonote",
    "sendmediagroup",
    "sendlocation",
    "sendvenue",
    "sendcontact",
    "sendpoll",
    "senddice",
    "sendsticker",
    "sendinvoice",
    "getfile",
    "getuserprofilephotos",
    "editmessagecaption",
    "editmessagemedia",
    "stoppoll",
    "answerinlinequery",
    "setmessagereaction",
    "forwardmessages",
    "copymessages",
    "deletemessages",
    "pinchatmessage",
    "unpinchatmessage",
    "banchatmember",
    "unbanchatmember",
    "restrictchatmember",
    "promotechatmember",
    "exportchatinvitelink",
    "createchatinvitelink",
    "setchattitle",
    "setchatdescription",
    "setchatphoto",
    "getchatadministrators",
    "setmyname",
    "getmyname",
    "setmydescription",
    "getmydescription",
    "setmyshortdescription",
    "getmyshortdescription",
    "setchatmenubutton",
    "getchatmenubutton",
];

/// Run method `method` (case-insensitive, as on Telegram).
pub async fn dispatch(ctx: &mut Ctx<'_>, method: &str, p: &Params) -> Result<Value, ApiError> {
    let name = method.to_ascii_lowercase();
    match name.as_str() {
        "getme" => Ok(chats::get_me(ctx)),
        "getupdates" => updates::get_updates(ctx, p).await,
        "setwebhook" => webhook::set_webhook(ctx, p).await,
        "deletewebhook" => webhook::delete_webhook(ctx, p).await,
        "getwebhookinfo" => webhook::get_webhook_info(ctx).await,
        "sendmessage" => messages::send_message(ctx, p).await,
        "editmessagetext" => messages::edit_message_text(ctx, p).await,
        "editmessagereplymarkup" => messages::edit_message_reply_markup(ctx, p).await,
        "deletemessage" => messages::delete_message(ctx, p).await,
        "forwardmessage" => messages::forward_message(ctx, p).await,
        "copymessage" => messages::copy_message(ctx, p).await,
        "answercallbackquery" => messages::answer_callback_query(ctx, p).await,
        "sendchataction" => messages::send_chat_action(ctx, p).await,
        "getchat" => chats::get_chat(ctx, p).await,
        "getchatmember" => chats::get_chat_member(ctx, p).await,
        "getchatmembercount" | "getchatmemberscount" => chats::get_chat_member_count(ctx, p).await,
        "leavechat" => chats::leave_chat(ctx, p).await,
        "setmycommands" => chats::set_my_commands(ctx, p).await,
        "getmycommands" => chats::get_my_commands(ctx, p).await,
        "deletemycommands" => chats::delete_my_commands(ctx, p).await,
        "logout" | "close" => Ok(json!(true)),
        n if UNSUPPORTED.contains(&n) => Err(ApiError::new(
            404,
            format!("Not Found: method {method} is not supported by this server yet"),
        )),
        _ => Err(ApiError::not_found()),
    }
}
