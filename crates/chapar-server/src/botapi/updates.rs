//! Updates: a bot's feed, read as Telegram updates.
//!
//! A bot's feed (the same per-user feed people have) holds every message of its conversations,
//! written in the transaction that appended the message, plus its callback queries. An update's
//! `update_id` is its feed pts. [`collect`] turns feed events into the updates the bot may get:
//! its own messages, receipts, reactions and deletions are skipped; in groups the privacy rule
//! ([`chapar_core::bots::bot_sees`]) applies; updates older than 24 hours are dropped; and
//! `allowed_updates` filters by type. Skipped events are confirmed with the next delivered one,
//! so a bot in a busy group does not rescan what it will never get.
//!
//! `getUpdates` confirms every update below `offset`, then returns what is left, waiting up to
//! `timeout` seconds for something new (woken by [`Wakes`] when the bot's feed grows on this
//! node, and at least every few seconds so writes on other nodes are seen too).

use super::Ctx;
use super::params::Params;
use super::reply::ApiError;
use super::types::{View, chat_member, seconds};
use crate::state::App;
use crate::state::now_ms;
use chapar_core::bots::{Bot, BotChange, BotView, UPDATE_RETENTION_MS, bot_sees};
use chapar_core::store::Command;
use chapar_proto::{
    ConversationId, ConversationKind, Event, FeedEvent, MessageKind, Pts, Role, Seq, UserId,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Update types chapar produces.
pub const UPDATE_TYPES: &[&str] = &[
    "message",
    "edited_message",
    "callback_query",
    "my_chat_member",
];
/// Feed events read per page while collecting.
const PAGE: u32 = 100;
/// Pages read at most per collection (skipped events count too).
const MAX_PAGES: usize = 20;
/// How often a waiting poll looks at the store even without a local wake-up.
pub const POLL_INTERVAL: Duration = Duration::from_secs(3);

/// Wake-ups for bots whose feed grew, keyed by bot; entries exist only while someone waits.
#[derive(Default)]
pub struct Wakes {
    map: Mutex<HashMap<UserId, (Arc<Wake>, usize)>>,
    active: AtomicUsize,
}

/// One bot's wake-up: feed growth, and the generation of its long poll (a newer `getUpdates`
/// or a `setWebhook` ends the older poll with 409).
#[derive(Default)]
pub struct Wake {
    /// The bot's feed grew.
    pub notify: Notify,
    /// The bot's webhook was set or deleted.
    pub changed: Notify,
    pub poll_gen: AtomicU64,
    /// The last poll was ended by `setWebhook` (not by a newer `getUpdates`).
    pub by_webhook: AtomicBool,
}

/// Holds a bot's [`Wake`] while its owner waits.
pub struct WakeGuard {
    wakes: Arc<Wakes>,
    bot: UserId,
    pub wake: Arc<Wake>,
}

impl Drop for WakeGuard {
    fn drop(&mut self) {
        let mut map = self.wakes.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, n)) = map.get_mut(&self.bot) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.bot);
                self.wakes.active.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

impl Wakes {
    pub fn hold(self: &Arc<Self>, bot: UserId) -> WakeGuard {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(bot).or_insert_with(|| {
            self.active.fetch_add(1, Ordering::Relaxed);
            (Arc::new(Wake::default()), 0)
        });
        entry.1 += 1;
        WakeGuard {
            wakes: Arc::clone(self),
            bot,
            wake: Arc::clone(&entry.0),
        }
    }

    /// The bot's wake-up if someone waits for it.
    pub fn peek(&self, bot: UserId) -> Option<Arc<Wake>> {
        if self.active.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&bot).map(|(w, _)| Arc::clone(w))
    }

    /// `user`'s feed grew (called for every feed event of a user without a connection here).
    pub fn feed_grew(&self, user: UserId) {
        if let Some(w) = self.peek(user) {
            w.notify.notify_waiters();
        }
    }
}

/// Which update types a bot wants (empty: every type chapar produces).
pub fn allowed(list: &[String], kind: &str) -> bool {
    list.is_empty() || list.iter().any(|t| t == kind)
}

/// Updates found from some pts on.
pub struct Collected {
    pub updates: Vec<(Pts, Value)>,
    /// Every update below this can be confirmed (none of them will ever be delivered).
    pub confirm_below: Pts,
    /// The people's messages in direct chats among `updates`: once the bot has them, they are
    /// read ([`mark_read`]), as a person's ticks show for any reader.
    pub read: Vec<(ConversationId, Seq)>,
}

/// The deliverable updates from pts `from` on (at most `limit`).
pub async fn collect(
    app: &Arc<App>,
    bot: &Bot,
    from: Pts,
    limit: usize,
    allowed_updates: &[String],
) -> Result<Collected, ApiError> {
    let mut view = View::new(app, bot);
    let mut updates = Vec::new();
    let mut read = Vec::new();
    let mut after = from.saturating_sub(1);
    let mut scanned = after;
    let now = now_ms();
    'pages: for _ in 0..MAX_PAGES {
        let page = app.store.feed(&bot.principal, after, PAGE).await?;
        for ev in &page.events {
            scanned = ev.pts;
            if let Some(u) = update(&mut view, ev, now, allowed_updates).await? {
                if let Event::Message(m) = &ev.event
                    && m.kind == MessageKind::Text
                    && view
                        .info(m.conversation)
                        .await?
                        .is_some_and(|c| c.kind == ConversationKind::Direct)
                {
                    read.push((m.conversation, m.seq));
                }
                updates.push((ev.pts, u));
                if updates.len() >= limit {
                    break 'pages;
                }
            }
        }
        if !page.more || page.events.is_empty() {
            break;
        }
        after = page.pts;
    }
    let confirm_below = updates.first().map_or(scanned + 1, |(pts, _)| *pts);
    Ok(Collected {
        updates,
        confirm_below,
        read,
    })
}

/// The bot has these messages (returned by `getUpdates`, or its webhook took them): mark them
/// delivered and read, so their senders see it. Markers only move forward, so a poll that
/// returns the same updates again changes nothing. Best effort: a failure is only logged.
pub async fn mark_read(app: &Arc<App>, bot: &Bot, read: &[(ConversationId, Seq)]) {
    let mut upto: HashMap<ConversationId, Seq> = HashMap::new();
    for (conv, seq) in read {
        let at = upto.entry(*conv).or_default();
        *at = (*at).max(*seq);
    }
    for (conversation, seq) in upto {
        let mark = Command::Mark {
            conversation,
            delivered: Some(seq),
            read: Some(seq),
        };
        if let Err(e) = app.store.execute(&bot.principal, mark).await {
            tracing::debug!(bot = bot.id().0, error = %e, "could not mark a bot's updates read");
        }
    }
}

/// Persist a bot's confirmed offset if it moved.
pub async fn confirm(app: &Arc<App>, bot: &mut Bot, below: Pts) -> Result<(), ApiError> {
    if below > bot.offset {
        app.store
            .update_bot(&bot.principal, BotChange::Offset(below))
            .await?;
        bot.offset = below;
    }
    Ok(())
}

/// One feed event as a Telegram update, or `None` when the bot does not get it.
async fn update(
    view: &mut View<'_>,
    ev: &FeedEvent,
    now: i64,
    allowed_updates: &[String],
) -> Result<Option<Value>, ApiError> {
    let bot = view.bot;
    if bot.kind == chapar_proto::BotKind::Service {
        return Ok(crate::service::event(bot, ev, now));
    }
    let me = BotView {
        id: bot.id(),
        handle: &bot.principal.user.handle,
        read_all: bot.read_all,
    };
    let (kind, body) = match &ev.event {
        Event::Message(m) => {
            if now - m.server_time > UPDATE_RETENTION_MS {
                return Ok(None);
            }
            match m.kind {
                MessageKind::Text if !m.deleted && m.text.is_some() => {
                    if !allowed(allowed_updates, "message") || view.is_bot(m.sender).await? {
                        return Ok(None);
                    }
                    let Some(info) = view.info(m.conversation).await? else {
                        return Ok(None);
                    };
                    let replied_to = match m.reply_to {
                        Some(r) => view.load(m.conversation, r).await?.map(|o| o.sender),
                        None => None,
                    };
                    let text = m.text.as_deref().unwrap_or("");
                    if !bot_sees(me, info.kind, m.sender, text, replied_to) {
                        return Ok(None);
                    }
                    ("message", view.message_with_reply(m).await?)
                }
                MessageKind::Edit => {
                    let (Some(target), Some(text)) = (m.target, &m.text) else {
                        return Ok(None);
                    };
                    if !allowed(allowed_updates, "edited_message") || view.is_bot(m.sender).await? {
                        return Ok(None);
                    }
                    let Some(info) = view.info(m.conversation).await? else {
                        return Ok(None);
                    };
                    let Some(mut original) = view.load(m.conversation, target).await? else {
                        return Ok(None);
                    };
                    if original.deleted {
                        return Ok(None);
                    }
                    let replied_to = match original.reply_to {
                        Some(r) => view.load(m.conversation, r).await?.map(|o| o.sender),
                        None => None,
                    };
                    if !bot_sees(me, info.kind, m.sender, text, replied_to) {
                        return Ok(None);
                    }
                    original.text = Some(text.clone());
                    original.entities = m.entities.clone();
                    original.reply_markup = m.reply_markup.clone();
                    original.edited_at = Some(m.server_time);
                    ("edited_message", view.message(&original).await?)
                }
                MessageKind::System => {
                    let Some(s) = &m.system else {
                        return Ok(None);
                    };
                    let about_me = s
                        .handles
                        .iter()
                        .any(|h| h.eq_ignore_ascii_case(&bot.principal.user.handle));
                    if !about_me || !allowed(allowed_updates, "my_chat_member") {
                        return Ok(None);
                    }
                    let (old, new, kicked) = match s.action.as_str() {
                        "created" | "added" => (None, Some(Role::Member), false),
                        "removed" => (Some(Role::Member), None, true),
                        "left" => (Some(Role::Member), None, false),
                        "role_changed" => (Some(Role::Member), s.role, false),
                        _ => return Ok(None),
                    };
                    let me_json = super::types::user(&bot.principal.user, true);
                    let from = view
                        .user_in(m.conversation, m.sender, &m.sender_handle)
                        .await?;
                    (
                        "my_chat_member",
                        json!({
                            "chat": view.chat(m.conversation).await?,
                            "from": from,
                            "date": seconds(m.server_time),
                            "old_chat_member": chat_member(me_json.clone(), old, false),
                            "new_chat_member": chat_member(me_json, new, kicked),
                        }),
                    )
                }
                _ => return Ok(None),
            }
        }
        Event::CallbackQuery(q) => {
            if now - q.server_time > UPDATE_RETENTION_MS
                || !allowed(allowed_updates, "callback_query")
            {
                return Ok(None);
            }
            let from = view
                .user_in(q.conversation, q.from.id, &q.from.handle)
                .await?;
            let mut v = json!({
                "id": q.id,
                "from": from,
                "chat_instance": q.conversation.0.to_string(),
                "data": q.data,
            });
            if let Some(m) = view.load(q.conversation, q.seq).await?
                && !m.deleted
            {
                v["message"] = view.message(&m).await?;
            }
            ("callback_query", v)
        }
        _ => return Ok(None),
    };
    Ok(Some(json!({ "update_id": ev.pts, kind: body })))
}

/// `getUpdates`: confirm below `offset`, then return up to `limit` updates, waiting up to
/// `timeout` seconds for the first one.
pub async fn get_updates(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    let offset = p.opt_int("offset")?;
    let limit = p.opt_int("limit")?.unwrap_or(100).clamp(1, 100) as usize;
    let max_wait = i64::try_from(ctx.app.bots.config.long_poll_max_secs).unwrap_or(i64::MAX);
    let timeout = p.opt_int("timeout")?.unwrap_or(0).clamp(0, max_wait) as u64;
    super::webhook::allowed_updates(ctx, p).await?;
    if ctx.bot.webhook.is_some() {
        return Err(ApiError::conflict(
            "can't use getUpdates method while webhook is active; use deleteWebhook to delete \
             the webhook first",
        ));
    }
    match offset {
        Some(o) if o > 0 => confirm(ctx.app, &mut ctx.bot, o as Pts).await?,
        Some(o) if o < 0 => {
            let head = ctx.app.store.head_pts(ctx.bot.id()).await?;
            let from = (head + 1).saturating_sub(o.unsigned_abs());
            confirm(ctx.app, &mut ctx.bot, from).await?;
        }
        _ => {}
    }
    let allowed = ctx.bot.allowed_updates.clone();
    match long_poll(ctx.app, &mut ctx.bot, timeout, limit, &allowed).await? {
        Polled::Found(updates) => Ok(Value::Array(updates)),
        Polled::Superseded { by_webhook: true } => {
            Err(ApiError::conflict("terminated by setWebhook request"))
        }
        Polled::Superseded { by_webhook: false } => Err(ApiError::conflict(
            "terminated by other getUpdates request; make sure that only one bot instance is \
             running",
        )),
    }
}

/// How a long poll ended.
pub enum Polled {
    /// These updates (none when the wait ran out or the node is draining).
    Found(Vec<Value>),
    /// A newer poll of the same bot (or a webhook set meanwhile) ended this one.
    Superseded { by_webhook: bool },
}

/// Wait up to `timeout` seconds for a bot's next updates (up to `limit`), confirming what it
/// skips. Bounded: one wait per bot (a newer poll ends an older one, as on Telegram) and at most
/// `bots.max_long_polls` waits on the node (beyond, the poll answers at once). `getUpdates` and
/// the service API's events both wait here.
pub async fn long_poll(
    app: &Arc<App>,
    bot: &mut Bot,
    timeout: u64,
    limit: usize,
    allowed_updates: &[String],
) -> Result<Polled, ApiError> {
    let guard = app.bots.wakes.hold(bot.id());
    let my_gen = guard.wake.poll_gen.fetch_add(1, Ordering::Relaxed) + 1;
    guard.wake.by_webhook.store(false, Ordering::Relaxed);
    guard.wake.notify.notify_waiters();
    let permit = if timeout > 0 {
        app.bots.polls.try_acquire().ok()
    } else {
        None
    };
    let deadline = tokio::time::Instant::now()
        + Duration::from_secs(if permit.is_some() { timeout } else { 0 });
    loop {
        let notified = guard.wake.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let found = collect(app, bot, bot.offset.max(1), limit, allowed_updates).await?;
        confirm(app, bot, found.confirm_below).await?;
        if !found.updates.is_empty() {
            mark_read(app, bot, &found.read).await;
            return Ok(Polled::Found(
                found.updates.into_iter().map(|(_, u)| u).collect(),
            ));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline || app.registry.is_draining() {
            return Ok(Polled::Found(Vec::new()));
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep((deadline - now).min(POLL_INTERVAL)) => {}
        }
        if guard.wake.poll_gen.load(Ordering::Relaxed) != my_gen {
            return Ok(Polled::Superseded {
                by_webhook: guard.wake.by_webhook.load(Ordering::Relaxed),
            });
        }
    }
}
