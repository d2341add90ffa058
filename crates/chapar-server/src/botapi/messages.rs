//! Bot API methods on messages: sendMessage, editMessageText, editMessageReplyMarkup,
//! deleteMessage, forwardMessage, copyMessage, answerCallbackQuery, sendChatAction.
//!
//! Each resolves the chat as the bot (the store checks membership), charges the per-bot and
//! per-chat send limits, and runs one store action; store errors become the descriptions
//! Telegram uses for the same case.

use super::format;
use super::params::Params;
use super::reply::ApiError;
use super::types::{View, seconds};
use super::{Ctx, new_client_id};
use chapar_core::Error;
use chapar_core::bots::BotAction;
use chapar_core::bus::BusMessage;
use chapar_core::store::{Command, Committed, Target};
use chapar_proto::{
    CallbackAnswer, ConversationId, ConversationKind, Entity, Event, InlineButton, Message,
    ReplyMarkup, Seq,
};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Longest callback answer text (Telegram: 200 characters).
const MAX_ANSWER_CHARS: usize = 200;

/// `chat_id`: an integer (a `@username` names public channels on Telegram; chapar has none).
pub fn chat_id(p: &Params, name: &str) -> Result<i64, ApiError> {
    match p.get(name) {
        Some(Value::String(s)) if s.trim_start().starts_with('@') => {
            Err(ApiError::bad_request("chat not found"))
        }
        _ => p.int(name),
    }
}

/// Store errors about a chat the bot is not in, as Telegram words them.
fn not_member(e: Error) -> ApiError {
    match e {
        Error::Forbidden(m) if m.contains("not a member") => {
            ApiError::forbidden("bot is not a member of the group chat")
        }
        other => other.into(),
    }
}

#[derive(Deserialize)]
struct TgButton {
    text: String,
    #[serde(default)]
    callback_data: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(flatten)]
    other: serde_json::Map<String, Value>,
}

/// `reply_markup`: an inline keyboard becomes buttons; reply keyboards, their removal and
/// force-reply (which chapar clients do not show) are accepted and ignored.
pub fn reply_markup(p: &Params) -> Result<Option<ReplyMarkup>, ApiError> {
    let Some(v) = p.json::<Value>("reply_markup")? else {
        return Ok(None);
    };
    let Some(obj) = v.as_object() else {
        return Err(ApiError::bad_request(
            "field \"reply_markup\" must be an object",
        ));
    };
    let Some(rows) = obj.get("inline_keyboard") else {
        return Ok(None);
    };
    let rows: Vec<Vec<TgButton>> = serde_json::from_value(rows.clone())
        .map_err(|_| ApiError::bad_request("can't parse inline keyboard button"))?;
    let mut keyboard = Vec::with_capacity(rows.len());
    for row in rows {
        let mut out = Vec::with_capacity(row.len());
        for b in row {
            if let Some(kind) = b.other.keys().next() {
                return Err(ApiError::bad_request(format!(
                    "unsupported inline keyboard button type \"{kind}\": chapar supports \
                     callback_data and url buttons"
                )));
            }
            out.push(InlineButton {
                text: b.text,
                callback_data: b.callback_data,
                url: b.url,
            });
        }
        keyboard.push(out);
    }
    Ok(Some(ReplyMarkup {
        inline_keyboard: keyboard,
    }))
}

/// The text and its entities: explicit `entities` win over `parse_mode`.
fn formatted(
    p: &Params,
    text_name: &str,
    entities_name: &str,
) -> Result<(String, Vec<Entity>), ApiError> {
    let text = p.opt_string(text_name)?.unwrap_or_default();
    if text.trim().is_empty() {
        return Err(ApiError::bad_request("message text is empty"));
    }
    if let Some(entities) = p.json::<Vec<Entity>>(entities_name)? {
        return Ok((text, entities));
    }
    format::parse(p.opt_string("parse_mode")?.as_deref(), &text).map_err(ApiError::bad_request)
}

/// The message a send replies to: `reply_parameters.message_id` or `reply_to_message_id`.
async fn reply_to(
    view: &mut View<'_>,
    p: &Params,
    conv: ConversationId,
) -> Result<Option<Seq>, ApiError> {
    #[derive(Deserialize)]
    struct ReplyParameters {
        message_id: i64,
        #[serde(default)]
        chat_id: Option<Value>,
        #[serde(default)]
        allow_sending_without_reply: bool,
    }
    let (id, lenient) = match p.json::<ReplyParameters>("reply_parameters")? {
        Some(r) => {
            if r.chat_id.is_some() {
                return Err(ApiError::bad_request(
                    "replies to messages of other chats are not supported",
                ));
            }
            (Some(r.message_id), r.allow_sending_without_reply)
        }
        None => (
            p.opt_int("reply_to_message_id")?,
            p.bool("allow_sending_without_reply")?,
        ),
    };
    let Some(id) = id.filter(|id| *id != 0) else {
        return Ok(None);
    };
    let found = match u64::try_from(id) {
        Ok(seq) => view
            .load(conv, seq)
            .await?
            .filter(|m| !m.deleted)
            .map(|m| m.seq),
        Err(_) => None,
    };
    match found {
        Some(seq) => Ok(Some(seq)),
        None if lenient => Ok(None),
        None => Err(ApiError::bad_request("message to be replied not found")),
    }
}

/// The message appended by `c` (its fan-out carries it), or read back.
async fn appended(view: &mut View<'_>, c: &Committed) -> Result<Message, ApiError> {
    if let Some(m) = c.fanout.iter().find_map(|f| match f.event.as_ref() {
        Event::Message(m) => Some(m.clone()),
        _ => None,
    }) {
        return Ok(m);
    }
    let seq = c.seq.unwrap_or(0);
    view.load(c.conversation, seq)
        .await?
        .ok_or_else(|| ApiError::new(500, "Internal Server Error: the message was not found"))
}

async fn send_rich(
    ctx: &mut Ctx<'_>,
    view: &mut View<'_>,
    conv: ConversationId,
    text: String,
    entities: Vec<Entity>,
    markup: Option<ReplyMarkup>,
    reply: Option<Seq>,
) -> Result<Message, ApiError> {
    ctx.charge_send(conv)?;
    let committed = ctx
        .app
        .store
        .execute_bot(
            &ctx.bot.principal,
            BotAction::Send {
                target: Target::Conversation(conv),
                client_id: new_client_id(),
                text,
                entities,
                reply_markup: markup,
                reply_to: reply,
            },
        )
        .await
        .map_err(|e| match e {
            Error::TooLarge(m) if m.starts_with("text") => {
                ApiError::bad_request("message is too long")
            }
            other => not_member(other),
        })?;
    appended(view, &committed).await
}

pub async fn send_message(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    let chat = chat_id(p, "chat_id")?;
    let (text, entities) = formatted(p, "text", "entities")?;
    let markup = reply_markup(p)?;
    let (app, bot) = (ctx.app, ctx.bot.clone());
    let mut view = View::new(app, &bot);
    let conv = view.conversation(chat).await?;
    let reply = reply_to(&mut view, p, conv).await?;
    let m = send_rich(ctx, &mut view, conv, text, entities, markup, reply).await?;
    view.message_with_reply(&m).await
}

/// chat_id + message_id of a message to act on.
async fn target(view: &mut View<'_>, p: &Params) -> Result<(ConversationId, Seq), ApiError> {
    if p.has("inline_message_id") {
        return Err(ApiError::bad_request("inline messages are not supported"));
    }
    let conv = view.conversation(chat_id(p, "chat_id")?).await?;
    let seq = u64::try_from(p.int("message_id")?)
        .map_err(|_| ApiError::bad_request("message identifier is not specified"))?;
    Ok((conv, seq))
}

async fn edit(
    ctx: &mut Ctx<'_>,
    p: &Params,
    text: Option<(String, Vec<Entity>)>,
) -> Result<Value, ApiError> {
    let markup = reply_markup(p)?;
    let (app, bot) = (ctx.app, ctx.bot.clone());
    let mut view = View::new(app, &bot);
    let (conv, seq) = target(&mut view, p).await?;
    ctx.charge_send(conv)?;
    let (text, entities) = match text {
        Some((t, e)) => (Some(t), e),
        None => (None, Vec::new()),
    };
    app.store
        .execute_bot(
            &bot.principal,
            BotAction::Edit {
                conversation: conv,
                seq,
                client_id: new_client_id(),
                text,
                entities,
                reply_markup: markup,
            },
        )
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => ApiError::bad_request("message to edit not found"),
            Error::Forbidden(m) if !m.contains("not a member") => {
                ApiError::bad_request("message can't be edited")
            }
            Error::Invalid(m) if m.starts_with("only normal messages") => {
                ApiError::bad_request("message can't be edited")
            }
            Error::TooLarge(m) if m.starts_with("text") => {
                ApiError::bad_request("message is too long")
            }
            other => not_member(other),
        })?;
    let m = view
        .load(conv, seq)
        .await?
        .ok_or_else(|| ApiError::bad_request("message to edit not found"))?;
    view.message(&m).await
}

pub async fn edit_message_text(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    let text = formatted(p, "text", "entities")?;
    edit(ctx, p, Some(text)).await
}

pub async fn edit_message_reply_markup(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    edit(ctx, p, None).await
}

pub async fn delete_message(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    let (app, bot) = (ctx.app, ctx.bot.clone());
    let mut view = View::new(app, &bot);
    let (conv, seq) = target(&mut view, p).await?;
    ctx.charge_send(conv)?;
    app.store
        .execute(
            &bot.principal,
            Command::Delete {
                conversation: conv,
                seq,
                client_id: new_client_id(),
            },
        )
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => ApiError::bad_request("message to delete not found"),
            Error::Forbidden(m) if !m.contains("not a member") => {
                ApiError::bad_request("message can't be deleted")
            }
            Error::Invalid(_) => ApiError::bad_request("message can't be deleted"),
            other => not_member(other),
        })?;
    Ok(json!(true))
}

/// The message to forward or copy: a text message the bot can see in `from_chat_id`.
async fn source(view: &mut View<'_>, p: &Params) -> Result<Message, ApiError> {
    let from = view.conversation(chat_id(p, "from_chat_id")?).await?;
    if view.info(from).await?.is_none() {
        return Err(ApiError::forbidden("bot is not a member of the group chat"));
    }
    let seq = u64::try_from(p.int("message_id")?)
        .map_err(|_| ApiError::bad_request("message identifier is not specified"))?;
    let m = view
        .load(from, seq)
        .await
        .map_err(|e| {
            if e.code == 403 {
                ApiError::bad_request("message to forward not found")
            } else {
                e
            }
        })?
        .filter(|m| !m.deleted && m.kind == chapar_proto::MessageKind::Text)
        .ok_or_else(|| ApiError::bad_request("message to forward not found"))?;
    if m.text.is_none() {
        return Err(ApiError::bad_request("message can't be forwarded"));
    }
    Ok(m)
}

pub async fn forward_message(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    let (app, bot) = (ctx.app, ctx.bot.clone());
    let mut view = View::new(app, &bot);
    let original = source(&mut view, p).await?;
    let conv = view.conversation(chat_id(p, "chat_id")?).await?;
    let origin = json!({
        "type": "user",
        "sender_user": view.user_in(original.conversation, original.sender, &original.sender_handle).await?,
        "date": seconds(original.server_time),
    });
    let text = original.text.clone().unwrap_or_default();
    let m = send_rich(
        ctx,
        &mut view,
        conv,
        text,
        original.entities.clone(),
        None,
        None,
    )
    .await?;
    let mut v = view.message(&m).await?;
    v["forward_origin"] = origin;
    Ok(v)
}

pub async fn copy_message(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    let markup = reply_markup(p)?;
    let (app, bot) = (ctx.app, ctx.bot.clone());
    let mut view = View::new(app, &bot);
    let original = source(&mut view, p).await?;
    let conv = view.conversation(chat_id(p, "chat_id")?).await?;
    let reply = reply_to(&mut view, p, conv).await?;
    let text = original.text.clone().unwrap_or_default();
    let m = send_rich(
        ctx,
        &mut view,
        conv,
        text,
        original.entities.clone(),
        markup,
        reply,
    )
    .await?;
    Ok(json!({ "message_id": m.seq }))
}

pub async fn answer_callback_query(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "query is too old and response timeout expired or query ID is invalid",
        )
    };
    let id = p.string("callback_query_id")?;
    let pts: u64 = id.trim().parse().map_err(|_| invalid())?;
    let text = p.opt_string("text")?.filter(|t| !t.is_empty());
    if text
        .as_ref()
        .is_some_and(|t| t.chars().count() > MAX_ANSWER_CHARS)
    {
        return Err(ApiError::bad_request("MESSAGE_TOO_LONG"));
    }
    let url = p.opt_string("url")?.filter(|u| !u.is_empty());
    if let Some(u) = &url {
        chapar_core::bots::url(u).map_err(|_| ApiError::bad_request("URL_INVALID"))?;
    }
    let show_alert = p.bool("show_alert")?;
    ctx.charge_bot()?;
    let page = ctx
        .app
        .store
        .feed(&ctx.bot.principal, pts.saturating_sub(1), 1)
        .await?;
    let query = match page.events.first() {
        Some(ev) if ev.pts == pts => match &ev.event {
            Event::CallbackQuery(q) if q.id == id.trim() => q.clone(),
            _ => return Err(invalid()),
        },
        _ => return Err(invalid()),
    };
    if crate::state::now_ms() - query.server_time > chapar_core::bots::UPDATE_RETENTION_MS {
        return Err(invalid());
    }
    let answer = Event::CallbackAnswer(CallbackAnswer {
        query_id: query.id,
        conversation: query.conversation,
        seq: query.seq,
        text,
        show_alert,
        url,
    });
    ctx.app
        .bus
        .publish(query.from.id, BusMessage::Ephemeral(Arc::new(answer)));
    Ok(json!(true))
}

/// Actions Telegram knows; chapar shows each as "typing".
const ACTIONS: &[&str] = &[
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
];

pub async fn send_chat_action(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    let action = p.string("action")?;
    if !ACTIONS.contains(&action.as_str()) {
        return Err(ApiError::bad_request("wrong parameter action in request"));
    }
    let (app, bot) = (ctx.app, ctx.bot.clone());
    let mut view = View::new(app, &bot);
    let conv = view.conversation(chat_id(p, "chat_id")?).await?;
    ctx.charge_bot()?;
    app.limiters.check_typing(bot.id()).map_err(|e| match e {
        chapar_core::Error::RateLimited { retry_after_ms } => ApiError::too_many(retry_after_ms),
        other => ApiError::from(other),
    })?;
    app.typing(&bot.principal, conv).await.map_err(not_member)?;
    Ok(json!(true))
}

/// Whether a conversation is private, for methods that only make sense in groups.
pub fn is_private(kind: ConversationKind) -> bool {
    kind == ConversationKind::Direct
}
