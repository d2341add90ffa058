//! Webhooks: setWebhook, deleteWebhook, getWebhookInfo, and the sender that pushes updates.
//!
//! One task per bot with a webhook (on nodes with `bots.webhooks` on) takes the next update
//! after the bot's confirmed offset and POSTs it to the URL, with the bot's secret in
//! `X-Telegram-Bot-Api-Secret-Token`. A 2xx answer confirms the update; anything else (or no
//! answer) keeps it, and the same update (same `update_id`) is sent again after a backoff that
//! doubles up to `webhook_max_backoff_secs`, until it is delivered or 24 hours old. Updates go
//! one at a time, in order. A webhook excludes `getUpdates` (409), as on Telegram; setting one
//! ends a waiting `getUpdates`. A 2xx answer whose JSON body names a `method` is run as a call
//! of that bot (Telegram's "reply in the webhook answer").

use super::http_client::{HttpUrl, post_json, resolve};
use super::params::Params;
use super::reply::ApiError;
use super::updates::{UPDATE_TYPES, collect, confirm, mark_read};
use super::{Ctx, dispatch};
use crate::state::App;
use crate::state::now_ms;
use chapar_core::bots::{Bot, BotChange, Webhook};
use chapar_proto::UserId;
use rand::Rng as _;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often the sender list is reloaded from the store (webhooks set on other nodes).
const RELOAD: Duration = Duration::from_secs(30);
/// How long an idle sender waits before looking at the store again without a wake-up.
const IDLE: Duration = Duration::from_secs(3);
/// Characters of a delivery error kept for getWebhookInfo (the remote server chooses them).
const MAX_ERROR_CHARS: usize = 256;

/// This node's webhook senders and the last error each saw. A sender forgets its error when
/// it ends, so both maps hold at most `bots.max_webhooks` entries.
#[derive(Default)]
pub struct Webhooks {
    tasks: Mutex<HashMap<UserId, JoinHandle<()>>>,
    errors: Mutex<HashMap<UserId, (i64, String)>>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

impl Webhooks {
    fn record(&self, bot: UserId, error: Option<String>) {
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        match error {
            Some(e) => {
                let e = e.chars().take(MAX_ERROR_CHARS).collect();
                errors.insert(bot, (now_ms() / 1000, e));
            }
            None => {
                errors.remove(&bot);
            }
        }
    }

    pub(crate) fn last_error(&self, bot: UserId) -> Option<(i64, String)> {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&bot)
            .cloned()
    }
}

/// Whether this node sends webhooks (`bots.webhooks`; unset: only with the embedded store).
pub fn sends(app: &App) -> bool {
    app.bots
        .config
        .webhooks
        .unwrap_or(!app.config.store.is_postgres())
}

/// Start the sender supervisor (once per node).
pub fn start(app: &Arc<App>) {
    if !sends(app) {
        return;
    }
    let task_app = Arc::clone(app);
    let handle = tokio::spawn(async move {
        loop {
            match task_app.store.webhook_bots().await {
                Ok(ids) => {
                    for id in ids {
                        ensure(&task_app, id);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot list bots with webhooks"),
            }
            tokio::time::sleep(RELOAD).await;
        }
    });
    *app.bots
        .webhooks
        .supervisor
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = Some(handle);
}

/// Make sure a sender runs for `bot` (it ends by itself when the webhook is gone).
pub fn ensure(app: &Arc<App>, bot: UserId) {
    if !sends(app) {
        return;
    }
    let mut tasks = app
        .bots
        .webhooks
        .tasks
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if tasks.get(&bot).is_some_and(|t| !t.is_finished()) {
        return;
    }
    // Finished senders are swept only when the table is full: the supervisor calls this for
    // every bot each pass, and a sweep per call made a pass quadratic.
    if tasks.len() >= app.bots.config.max_webhooks {
        tasks.retain(|_, t| !t.is_finished());
    }
    if tasks.len() >= app.bots.config.max_webhooks {
        tracing::warn!(
            bot = bot.0,
            "too many webhook senders on this node; not starting one"
        );
        return;
    }
    let task_app = Arc::clone(app);
    tasks.insert(bot, tokio::spawn(send_loop(task_app, bot)));
}

/// Forgets a sender's last error when the sender ends.
struct ForgetError<'a>(&'a Webhooks, UserId);

impl Drop for ForgetError<'_> {
    fn drop(&mut self) {
        self.0.record(self.1, None);
    }
}

async fn send_loop(app: Arc<App>, id: UserId) {
    let _forget = ForgetError(&app.bots.webhooks, id);
    let guard = app.bots.wakes.hold(id);
    let mut failures = 0u32;
    loop {
        let changed = guard.wake.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let mut bot = match app.store.bot(id).await {
            Ok(Some(b)) => b,
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %e, "webhook sender cannot read its bot");
                tokio::time::sleep(IDLE).await;
                continue;
            }
        };
        let Some(hook) = bot.webhook.clone() else {
            break;
        };
        let grew = guard.wake.notify.notified();
        tokio::pin!(grew);
        grew.as_mut().enable();
        let collected = match collect(&app, &bot, bot.offset.max(1), 1, &bot.allowed_updates).await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e.description, "webhook sender cannot read updates");
                tokio::time::sleep(IDLE).await;
                continue;
            }
        };
        let _ = confirm(&app, &mut bot, collected.confirm_below).await;
        let read = collected.read;
        let Some((pts, update)) = collected.updates.into_iter().next() else {
            tokio::select! {
                _ = &mut grew => {}
                _ = &mut changed => {}
                _ = tokio::time::sleep(IDLE) => {}
            }
            continue;
        };
        match deliver(&app, &bot, &hook, &update).await {
            Ok(answer) => {
                failures = 0;
                app.bots.webhooks.record(id, None);
                let _ = confirm(&app, &mut bot, pts + 1).await;
                mark_read(&app, &bot, &read).await;
                if let Some((method, params)) = answer {
                    let mut ctx = Ctx {
                        app: &app,
                        bot: bot.clone(),
                    };
                    if let Err(e) = dispatch(&mut ctx, &method, &params).await {
                        tracing::debug!(bot = id.0, %method, error = %e.description, "webhook answer call failed");
                    }
                }
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                app.bots.webhooks.record(id, Some(e));
                let cap = app.bots.config.webhook_max_backoff_secs.max(1) * 1000;
                let full = (1000u64 << failures.min(16)).min(cap);
                let pause = full / 2 + rand::thread_rng().gen_range(0..=full / 2);
                tokio::select! {
                    _ = &mut changed => {}
                    _ = tokio::time::sleep(Duration::from_millis(pause)) => {}
                }
            }
        }
    }
    {
        let mut tasks = app
            .bots
            .webhooks
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if tasks
            .get(&id)
            .is_some_and(|t| tokio::task::try_id() == Some(t.id()))
        {
            tasks.remove(&id);
        }
    }
    // A webhook set again while this sender was stopping found it still running and started
    // none: look once more now that it is gone.
    if let Ok(Some(b)) = app.store.bot(id).await
        && b.webhook.is_some()
    {
        ensure(&app, id);
    }
}

/// POST one update; `Ok(Some((method, params)))` when the answer asks for a call.
async fn deliver(
    app: &Arc<App>,
    bot: &Bot,
    hook: &Webhook,
    update: &Value,
) -> Result<Option<(String, Params)>, String> {
    let url = HttpUrl::parse(&hook.url)?;
    let body = update.to_string();
    let mut headers = Vec::new();
    if let Some(s) = &hook.secret_token {
        let name = match bot.kind {
            chapar_proto::BotKind::Service => crate::service::SECRET_HEADER,
            _ => "X-Telegram-Bot-Api-Secret-Token",
        };
        headers.push((name, s.as_str()));
    }
    let cfg = &app.bots.config;
    let answer = post_json(
        &url,
        &headers,
        body.as_bytes(),
        Duration::from_secs(cfg.webhook_timeout_secs.max(1)),
        cfg.webhook_allow_private,
    )
    .await?;
    if !(200..300).contains(&answer.status) {
        return Err(format!(
            "Wrong response from the webhook: {}",
            answer.status
        ));
    }
    let is_json = answer
        .content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/json"));
    if !is_json || answer.body.is_empty() || bot.kind != chapar_proto::BotKind::Bot {
        return Ok(None);
    }
    let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(&answer.body) else {
        return Ok(None);
    };
    match obj.remove("method") {
        Some(Value::String(m)) => Ok(Some((m, Params(obj)))),
        _ => Ok(None),
    }
}

/// A secret token is sent back as an HTTP header: 1 to 256 of `A-Z a-z 0-9 _ -`.
pub(crate) fn secret_ok(s: &str) -> bool {
    (1..=256).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `allowed_updates`, kept for the bot when given (empty: every type).
pub async fn allowed_updates(ctx: &mut Ctx<'_>, p: &Params) -> Result<(), ApiError> {
    let Some(list) = p.json::<Vec<String>>("allowed_updates")? else {
        return Ok(());
    };
    // Types chapar does not produce are kept too (Telegram accepts them); they match nothing.
    if list.len() > 20 || list.iter().any(|t| t.is_empty() || t.len() > 32) {
        return Err(ApiError::bad_request("allowed_updates is not valid"));
    }
    if list != ctx.bot.allowed_updates {
        ctx.app
            .store
            .update_bot(&ctx.bot.principal, BotChange::AllowedUpdates(list.clone()))
            .await?;
        ctx.bot.allowed_updates = list;
    }
    Ok(())
}

/// Drop every pending update (`drop_pending_updates`).
async fn drop_pending(ctx: &mut Ctx<'_>) -> Result<(), ApiError> {
    let head = ctx.app.store.head_pts(ctx.bot.id()).await?;
    confirm(ctx.app, &mut ctx.bot, head + 1).await
}

/// Store `bot`'s webhook (None: remove it), tell its waiting poll and its sender, and start a
/// sender for a new one. setWebhook, deleteWebhook and the service API all change it here.
pub(crate) async fn install(
    app: &Arc<App>,
    bot: &mut Bot,
    hook: Option<Webhook>,
) -> chapar_core::Result<()> {
    app.store
        .update_bot(&bot.principal, BotChange::Webhook(hook.clone()))
        .await?;
    let set = hook.is_some();
    bot.webhook = hook;
    changed(app, bot, set);
    if set {
        ensure(app, bot.id());
    }
    Ok(())
}

/// Tell this node's poll and sender of `bot` that its webhook changed.
fn changed(app: &Arc<App>, bot: &Bot, set: bool) {
    if let Some(w) = app.bots.wakes.peek(bot.id()) {
        if set {
            w.by_webhook.store(true, Ordering::Relaxed);
            w.poll_gen.fetch_add(1, Ordering::Relaxed);
            w.notify.notify_waiters();
        }
        w.changed.notify_waiters();
    }
}

pub async fn set_webhook(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    let url = p.opt_string("url")?.unwrap_or_default();
    if url.trim().is_empty() {
        return delete_webhook(ctx, p).await;
    }
    if url.len() > chapar_core::bots::MAX_URL {
        return Err(ApiError::bad_request("bad webhook: the URL is too long"));
    }
    let parsed =
        HttpUrl::parse(&url).map_err(|e| ApiError::bad_request(format!("bad webhook: {e}")))?;
    resolve(&parsed, ctx.app.bots.config.webhook_allow_private)
        .await
        .map_err(|e| ApiError::bad_request(format!("bad webhook: {e}")))?;
    let secret = p.opt_string("secret_token")?.filter(|s| !s.is_empty());
    if secret.as_deref().is_some_and(|s| !secret_ok(s)) {
        return Err(ApiError::bad_request(
            "bad webhook: secret token contains unallowed characters",
        ));
    }
    let max_connections = p.opt_int("max_connections")?.unwrap_or(40);
    if !(1..=100).contains(&max_connections) {
        return Err(ApiError::bad_request(
            "bad webhook: max_connections must be between 1 and 100",
        ));
    }
    allowed_updates(ctx, p).await?;
    if p.bool("drop_pending_updates")? {
        drop_pending(ctx).await?;
    }
    let hook = Webhook {
        url,
        secret_token: secret,
        max_connections: max_connections as u32,
        set_at: now_ms(),
    };
    install(ctx.app, &mut ctx.bot, Some(hook)).await?;
    Ok(json!(true))
}

pub async fn delete_webhook(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    if p.bool("drop_pending_updates")? {
        drop_pending(ctx).await?;
    }
    if ctx.bot.webhook.is_some() {
        install(ctx.app, &mut ctx.bot, None).await?;
    }
    Ok(json!(true))
}

pub async fn get_webhook_info(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let bot = &ctx.bot;
    let pending = collect(ctx.app, bot, bot.offset.max(1), 100, &bot.allowed_updates)
        .await?
        .updates
        .len();
    let mut v = json!({
        "url": bot.webhook.as_ref().map_or("", |w| w.url.as_str()),
        "has_custom_certificate": false,
        "pending_update_count": pending,
    });
    if let Some(w) = &bot.webhook {
        v["max_connections"] = json!(w.max_connections);
        if let Some((date, message)) = ctx.app.bots.webhooks.last_error(bot.id()) {
            v["last_error_date"] = json!(date);
            v["last_error_message"] = json!(message);
        }
    }
    if !bot.allowed_updates.is_empty() {
        let known: Vec<&String> = bot
            .allowed_updates
            .iter()
            .filter(|t| UPDATE_TYPES.contains(&t.as_str()))
            .collect();
        v["allowed_updates"] = json!(known);
    }
    Ok(v)
}
