//! `Store::execute_bot`: messages with formatting and buttons, their edits, and button presses,
//! one transaction each, judged with `chapar_core::rules` and `chapar_core::bots` after taking
//! the conversation's row lock (as `commands::execute` does). The same behaviour as the SQLite
//! store's `bot_actions.rs`.

use crate::bots::{has_consent, kind_of};
use crate::commands::{Entry, append_to_members, change_target, direct_conversation, duplicate};
use crate::db::{Ctx, col, num, sql};
use crate::rows::{direct_key, load_message, lock_member, member_row, require_user};
use chapar_core::bots::{self, BotAction};
use chapar_core::store::{Committed, Fanout, Principal, Target};
use chapar_core::{Error, Result, rules};
use chapar_proto::{
    BotKind, CallbackQuery, ConversationId, ConversationKind, Entity, Event, MessageKind,
    ReplyMarkup, Seq, UserId,
};
use std::sync::Arc;

pub async fn execute(ctx: &Ctx<'_>, actor: &Principal, action: BotAction) -> Result<Committed> {
    match action {
        BotAction::Send {
            target,
            client_id,
            text,
            entities,
            reply_markup,
            reply_to,
        } => {
            let rich = Rich {
                text,
                entities,
                reply_markup,
            };
            send(ctx, actor, target, client_id, rich, reply_to).await
        }
        BotAction::Edit {
            conversation,
            seq,
            client_id,
            text,
            entities,
            reply_markup,
        } => {
            edit(
                ctx,
                actor,
                conversation,
                seq,
                client_id,
                text,
                entities,
                reply_markup,
            )
            .await
        }
        BotAction::PressButton {
            conversation,
            seq,
            data,
        } => press(ctx, actor, conversation, seq, &data).await,
    }
}

struct Rich {
    text: String,
    entities: Vec<Entity>,
    reply_markup: Option<ReplyMarkup>,
}

fn check_rich(text: &str, entities: &[Entity], markup: &Option<ReplyMarkup>) -> Result<()> {
    bots::entities(text, entities)?;
    if let Some(m) = markup {
        bots::reply_markup(m)?;
    }
    Ok(())
}

/// The other member of a direct conversation.
async fn peer_of(ctx: &Ctx<'_>, conv: ConversationId, me: UserId) -> Result<Option<UserId>> {
    ctx.opt(
        "SELECT user_id FROM members WHERE conversation_id = $1 AND user_id <> $2",
        &[&conv.0, &me.0],
    )
    .await?
    .map(|r| col(&r, 0).map(UserId))
    .transpose()
}

async fn send(
    ctx: &Ctx<'_>,
    actor: &Principal,
    target: Target,
    client_id: String,
    rich: Rich,
    reply_to: Option<Seq>,
) -> Result<Committed> {
    rules::client_id(&client_id)?;
    rules::body(ctx.limits, None, Some(&rich.text), None)?;
    check_rich(&rich.text, &rich.entities, &rich.reply_markup)?;
    let Some(kind) = kind_of(ctx, actor.user.id).await? else {
        return Err(Error::forbidden(
            "only bots and service accounts send messages with buttons",
        ));
    };
    let (conv, member) = match target {
        Target::Conversation(id) => {
            let (conv, member) = lock_member(ctx, id, actor.user.id).await?;
            if conv.kind == ConversationKind::Direct && kind == BotKind::Service {
                let consent = match peer_of(ctx, conv.id, actor.user.id).await? {
                    Some(p) => has_consent(ctx, p, actor.user.id).await?,
                    None => false,
                };
                bots::may_message_directly(Some(kind), true, consent)?;
            }
            (conv, member)
        }
        Target::Peer(raw) => {
            let handle = rules::handle(&raw)?;
            let peer = require_user(ctx, &handle).await?;
            let key = direct_key(actor.user.id, peer.id);
            let exists = ctx
                .opt("SELECT 1 FROM conversations WHERE direct_key = $1", &[&key])
                .await?
                .is_some();
            let consent =
                kind == BotKind::Service && has_consent(ctx, peer.id, actor.user.id).await?;
            bots::may_message_directly(Some(kind), exists, consent)?;
            direct_conversation(ctx, actor, &handle).await?
        }
    };
    if let Some(first) = duplicate(ctx, conv.id, actor, &client_id).await? {
        return Ok(first);
    }
    rules::can_post(conv.kind, member.role)?;
    rules::reply_to(reply_to, conv.last_seq, member.joined_seq)?;
    let entry = Entry {
        kind: MessageKind::Text,
        client_id: Some(client_id),
        content_type: chapar_proto::TEXT_PLAIN.to_string(),
        text: Some(rich.text),
        data: None,
        reply_to,
        target: None,
        remove: false,
        system: None,
        entities: rich.entities,
        reply_markup: rich.reply_markup,
    };
    append_to_members(ctx, actor, &conv, entry).await
}

#[allow(clippy::too_many_arguments)]
async fn edit(
    ctx: &Ctx<'_>,
    actor: &Principal,
    conversation: ConversationId,
    seq: Seq,
    client_id: String,
    text: Option<String>,
    entities: Vec<Entity>,
    reply_markup: Option<ReplyMarkup>,
) -> Result<Committed> {
    let (conv, member, target) = change_target(ctx, actor, conversation, seq, &client_id).await?;
    let target = match target {
        Ok(t) => t,
        Err(first) => return Ok(first),
    };
    rules::can_change_message(
        MessageKind::Edit,
        target.sender == actor.user.id,
        member.role,
        target.kind,
        target.deleted,
    )?;
    let (text, entities) = match text {
        Some(t) => {
            rules::body(ctx.limits, None, Some(&t), None)?;
            (Some(t), entities)
        }
        None => (target.text.clone(), target.entities.clone()),
    };
    check_rich(text.as_deref().unwrap_or(""), &entities, &reply_markup)?;
    if text == target.text && entities == target.entities && reply_markup == target.reply_markup {
        return Err(Error::invalid(
            "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
        ));
    }
    let mut entry = Entry::change(
        MessageKind::Edit,
        client_id,
        target.content_type.clone(),
        seq,
    );
    entry.text = text.clone();
    entry.data = target.data.clone();
    entry.entities = entities;
    entry.reply_markup = reply_markup;
    let (entities_col, markup_col) =
        crate::rows::rich_columns(&entry.entities, &entry.reply_markup)?;
    let committed = append_to_members(ctx, actor, &conv, entry).await?;
    ctx.exec(
        "UPDATE messages SET text = $3, entities = $4, reply_markup = $5, edited_at = $6
         WHERE conversation_id = $1 AND seq = $2",
        &[
            &conv.id.0,
            &sql(seq),
            &text,
            &entities_col,
            &markup_col,
            &ctx.now,
        ],
    )
    .await?;
    Ok(committed)
}

async fn press(
    ctx: &Ctx<'_>,
    actor: &Principal,
    conversation: ConversationId,
    seq: Seq,
    data: &str,
) -> Result<Committed> {
    bots::callback_data(data)?;
    let (conv, member) = lock_member(ctx, conversation, actor.user.id).await?;
    let message = match load_message(ctx, conv.id, seq).await? {
        Some(m) if seq >= member.joined_seq && !m.deleted => m,
        _ => {
            return Err(Error::not_found(format!(
                "no message {seq} in this conversation"
            )));
        }
    };
    let pressed = message.reply_markup.as_ref().is_some_and(|m| {
        m.buttons()
            .any(|b| b.callback_data.as_deref() == Some(data))
    });
    if !pressed {
        return Err(Error::invalid("that message has no such button"));
    }
    let bot = message.sender;
    if member_row(ctx, conv.id, bot).await?.is_none() {
        return Err(Error::invalid("the bot is no longer in this conversation"));
    }
    // The conversation's lock is held; the bot's user row comes after it (the store's order).
    let pts: i64 = col(
        &ctx.one(
            "UPDATE users SET pts = pts + 1 WHERE id = $1 RETURNING pts",
            &[&bot.0],
        )
        .await?,
        0,
    )?;
    let query = CallbackQuery {
        id: pts.to_string(),
        conversation: conv.id,
        seq,
        from: actor.user.clone(),
        data: data.to_string(),
        server_time: ctx.now,
    };
    let payload = serde_json::to_string(&query)
        .map_err(|e| Error::Unavailable(format!("cannot encode a callback query: {e}")))?;
    ctx.exec(
        "INSERT INTO feed (user_id, pts, kind, conversation_id, seq, payload)
         VALUES ($1, $2, 'callback', $3, $4, $5)",
        &[&bot.0, &pts, &conv.id.0, &sql(seq), &payload],
    )
    .await?;
    Ok(Committed {
        conversation: conv.id,
        seq: None,
        server_time: ctx.now,
        duplicate: false,
        fanout: vec![Fanout {
            event: Arc::new(Event::CallbackQuery(query)),
            recipients: vec![(bot, num(pts))],
        }],
    })
}
