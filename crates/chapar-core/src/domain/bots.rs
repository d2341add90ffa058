//! Bots and service accounts: what their owners do to them, what they change of their own
//! state, people's consent to services, and the bot actions of the log (messages with
//! formatting and buttons, their edits, button presses).

use super::accounts::{free_handle, free_key};
use super::messages::{
    ChangeTarget, append_to_members, change_target, direct_conversation_id, lock_member,
    may_change, require_peer, visible_message,
};
use super::safety::{Starter, not_blocked};
use crate::bots::{self as rules_bots, Bot, BotAction, BotChange, BotOp, NewBot};
use crate::error::{Error, Result};
use crate::rules;
use crate::storage::{BotKey, BotUpdate, Entry, FeedItem, ItemKind, NewUser, Recipients, Tx};
use crate::store::{Committed, Fanout, Principal, Target};
use chapar_proto::{
    BotInfo, BotKind, CallbackQuery, ConversationId, ConversationKind, Entity, Event, MessageKind,
    ReplyMarkup, Seq, TEXT_PLAIN, UserId, UserInfo,
};
use std::sync::Arc;

fn info(bot: &Bot, has_token: bool) -> BotInfo {
    BotInfo {
        user: bot.principal.user.clone(),
        kind: bot.kind,
        read_all: bot.read_all,
        has_token,
        webhook: bot.webhook.is_some(),
        created_at: bot.created_at,
    }
}

/// The kind of bot `user` is, or `None` for a person.
async fn kind_of<T: Tx>(tx: &mut T, user: UserId) -> Result<Option<BotKind>> {
    Ok(tx.bot(BotKey::Id(user)).await?.map(|(b, _)| b.kind))
}

/// The bot or service account with this handle owned by `owner`; `NotFound` otherwise.
async fn owned<T: Tx>(tx: &mut T, owner: &Principal, raw: &str) -> Result<Bot> {
    let handle = rules::handle(raw)?;
    match tx.bot(BotKey::Handle(&handle)).await? {
        Some((bot, _)) if bot.owner == owner.user.id => Ok(bot),
        _ => Err(Error::not_found(format!("you have no bot @{handle}"))),
    }
}

pub(crate) async fn manage<T: Tx>(tx: &mut T, owner: &Principal, op: BotOp) -> Result<BotInfo> {
    match op {
        BotOp::Create(new) => create(tx, owner, new).await,
        BotOp::Token { handle, token_hash } => {
            let bot = owned(tx, owner, &handle).await?;
            tx.update_bot(bot.id(), &BotUpdate::Token(token_hash))
                .await?;
            Ok(info(&bot, token_hash.is_some()))
        }
        BotOp::ReadAll { handle, read_all } => {
            let bot = owned(tx, owner, &handle).await?;
            tx.update_bot(bot.id(), &BotUpdate::ReadAll(read_all))
                .await?;
            let (bot, has_token) = tx
                .bot(BotKey::Id(bot.id()))
                .await?
                .ok_or_else(|| Error::Unavailable("the bot disappeared".into()))?;
            Ok(info(&bot, has_token))
        }
    }
}

async fn create<T: Tx>(tx: &mut T, owner: &Principal, new: NewBot) -> Result<BotInfo> {
    let (handle, display_name) = rules_bots::new_bot(tx.limits(), &new)?;
    if kind_of(tx, owner.user.id).await?.is_some() {
        return Err(Error::forbidden("bots cannot own bots"));
    }
    let owned = tx.bots_of(owner.user.id).await?.len();
    if owned as i64 >= rules_bots::MAX_BOTS_PER_OWNER {
        return Err(Error::forbidden(format!(
            "a person may own at most {} bots",
            rules_bots::MAX_BOTS_PER_OWNER
        )));
    }
    free_handle(tx, &handle).await?;
    free_key(tx, &new.public_key).await?;
    let user = NewUser {
        handle: handle.clone(),
        display_name: display_name.clone(),
        bot: Some(new.kind),
    };
    let id = tx.insert_user(&user).await?;
    let device = tx
        .insert_device(id, &new.public_key, "bot api", None)
        .await?;
    tx.insert_bot(id, owner.user.id, device, new.kind, &new.token_hash)
        .await?;
    Ok(BotInfo {
        user: UserInfo {
            id,
            handle,
            display_name,
        },
        kind: new.kind,
        read_all: false,
        has_token: true,
        webhook: false,
        created_at: tx.now(),
    })
}

pub(crate) async fn list<T: Tx>(tx: &mut T, owner: &Principal) -> Result<Vec<BotInfo>> {
    let bots = tx.bots_of(owner.user.id).await?;
    Ok(bots.iter().map(|(b, t)| info(b, *t)).collect())
}

pub(crate) async fn update<T: Tx>(tx: &mut T, actor: &Principal, change: BotChange) -> Result<()> {
    if kind_of(tx, actor.user.id).await?.is_none() {
        return Err(Error::not_found("not a bot"));
    }
    let update = match change {
        BotChange::Offset(pts) => BotUpdate::Offset(pts),
        BotChange::Webhook(hook) => {
            if let Some(h) = &hook {
                rules_bots::webhook(h)?;
            }
            BotUpdate::Webhook(hook)
        }
        BotChange::Commands(commands) => {
            rules_bots::menu_commands(&commands)?;
            BotUpdate::Commands(commands)
        }
        BotChange::AllowedUpdates(types) => {
            rules_bots::allowed_updates(&types)?;
            BotUpdate::AllowedUpdates(types)
        }
    };
    tx.update_bot(actor.user.id, &update).await
}

pub(crate) async fn set_consent<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    raw: &str,
    allowed: bool,
) -> Result<()> {
    let handle = rules::handle(raw)?;
    let service = match tx.bot(BotKey::Handle(&handle)).await? {
        Some((bot, _)) if bot.kind == BotKind::Service => bot.id(),
        _ => return Err(Error::not_found(format!("no service account @{handle}"))),
    };
    tx.set_consent(actor.user.id, service, allowed).await
}

// ---- bot actions -------------------------------------------------------------------------

pub(crate) async fn execute<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    action: BotAction,
) -> Result<Committed> {
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
                text: Some(text),
                entities,
                reply_markup,
            };
            send(tx, actor, target, client_id, rich, reply_to).await
        }
        BotAction::Edit {
            conversation,
            seq,
            client_id,
            text,
            entities,
            reply_markup,
        } => {
            let rich = Rich {
                text,
                entities,
                reply_markup,
            };
            edit(tx, actor, (conversation, seq), client_id, rich).await
        }
        BotAction::PressButton {
            conversation,
            seq,
            data,
        } => press(tx, actor, conversation, seq, &data).await,
    }
}

/// Text with formatting and buttons.
struct Rich {
    text: Option<String>,
    entities: Vec<Entity>,
    reply_markup: Option<ReplyMarkup>,
}

fn check_rich(text: &str, entities: &[Entity], markup: &Option<ReplyMarkup>) -> Result<()> {
    rules_bots::entities(text, entities)?;
    if let Some(m) = markup {
        rules_bots::reply_markup(m)?;
    }
    Ok(())
}

/// The other member of a direct conversation.
async fn peer_of<T: Tx>(tx: &mut T, conv: ConversationId, me: UserId) -> Result<Option<UserId>> {
    Ok(tx.member_ids(conv).await?.into_iter().find(|u| *u != me))
}

/// The direct conversation a bot asks to write to by handle: a bot only where the person
/// started it, a service account only with the person's consent.
async fn peer_conversation<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    kind: BotKind,
    raw: &str,
) -> Result<ConversationId> {
    let handle = rules::handle(raw)?;
    let (peer, existing) = require_peer(tx, &handle, actor.user.id).await?;
    let exists = existing.is_some();
    let consent = kind == BotKind::Service && tx.consent(peer.id, actor.user.id).await?;
    rules_bots::may_message_directly(Some(kind), exists, consent)?;
    direct_conversation_id(tx, actor, &handle, Starter::Bot).await
}

async fn send<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    target: Target,
    client_id: String,
    rich: Rich,
    reply_to: Option<Seq>,
) -> Result<Committed> {
    let text = rich.text.unwrap_or_default();
    rules::client_id(&client_id)?;
    rules::body(tx.limits(), None, Some(&text), None)?;
    check_rich(&text, &rich.entities, &rich.reply_markup)?;
    let Some(kind) = kind_of(tx, actor.user.id).await? else {
        return Err(Error::forbidden(
            "only bots and service accounts send messages with buttons",
        ));
    };
    let (id, by_id) = match target {
        Target::Conversation(id) => (id, true),
        Target::Peer(raw) => (peer_conversation(tx, actor, kind, &raw).await?, false),
    };
    let l = lock_member(tx, id, actor, Some(&client_id)).await?;
    if by_id && l.conv.kind == ConversationKind::Direct && kind == BotKind::Service {
        let consent = match peer_of(tx, id, actor.user.id).await? {
            Some(p) => tx.consent(p, actor.user.id).await?,
            None => false,
        };
        rules_bots::may_message_directly(Some(kind), true, consent)?;
    }
    if let Some(first) = l.first {
        return Ok(first);
    }
    not_blocked(tx, actor, &l).await?;
    rules::can_post(l.conv.kind, l.member.role)?;
    rules::reply_to(reply_to, l.conv.last_seq, l.member.joined_seq)?;
    let mut entry = Entry::text(client_id, TEXT_PLAIN.to_string());
    entry.text = Some(text);
    entry.reply_to = reply_to;
    entry.entities = rich.entities;
    entry.reply_markup = rich.reply_markup;
    append_to_members(tx, actor, &l.lock, entry).await
}

/// `text: None` keeps the text and its entities; the buttons are always replaced.
async fn edit<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    (conversation, seq): (ConversationId, Seq),
    client_id: String,
    rich: Rich,
) -> Result<Committed> {
    let (l, target) = match change_target(tx, actor, conversation, seq, &client_id).await? {
        ChangeTarget::Done(first) => return Ok(first),
        ChangeTarget::Found(found) => *found,
    };
    may_change(MessageKind::Edit, actor, &l, &target)?;
    let (text, entities) = match rich.text {
        Some(t) => {
            rules::body(tx.limits(), None, Some(&t), None)?;
            (Some(t), rich.entities)
        }
        None => (target.text.clone(), target.entities.clone()),
    };
    let reply_markup = rich.reply_markup;
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
    entry.entities = entities.clone();
    entry.reply_markup = reply_markup.clone();
    let committed = append_to_members(tx, actor, &l.lock, entry).await?;
    let words = text
        .as_deref()
        .map(crate::search::words)
        .unwrap_or_default();
    let change = crate::storage::MessageChange::Edit {
        text,
        // A bot's messages carry text only; an edit keeps whatever body it had besides.
        data: target.data,
        entities,
        reply_markup,
        edited_at: tx.now(),
    };
    tx.change_message(&l.lock, seq, &change).await?;
    tx.index_message(&l.lock, seq, &words).await?;
    Ok(committed)
}

/// A member presses a callback button: the message's sender (a bot) gets a callback query in
/// its feed, whose id is that feed pts.
async fn press<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    conversation: ConversationId,
    seq: Seq,
    data: &str,
) -> Result<Committed> {
    rules_bots::callback_data(data)?;
    let l = lock_member(tx, conversation, actor, None).await?;
    let message = visible_message(tx, &l, seq).await?;
    if message.deleted {
        return Err(Error::not_found(format!(
            "no message {seq} in this conversation"
        )));
    }
    let pressed = message.reply_markup.as_ref().is_some_and(|m| {
        m.buttons()
            .any(|b| b.callback_data.as_deref() == Some(data))
    });
    if !pressed {
        return Err(Error::invalid("that message has no such button"));
    }
    let bot = message.sender;
    if tx.member(l.conv.id, bot).await?.is_none() {
        return Err(Error::invalid("the bot is no longer in this conversation"));
    }
    let mut query = CallbackQuery {
        // Set from the feed pts when read back (it is not known before the push).
        id: String::new(),
        conversation: l.conv.id,
        seq,
        from: actor.user.clone(),
        data: data.to_string(),
        server_time: tx.now(),
    };
    let item = FeedItem {
        kind: ItemKind::Callback,
        seq: Some(seq),
        payload: crate::columns::encode(&query)?,
    };
    let recipients = tx.push(&l.lock, &Recipients::new(vec![bot]), &item).await?;
    if let Some((_, pts)) = recipients.first() {
        query.id = pts.to_string();
    }
    Ok(Committed {
        conversation: l.conv.id,
        seq: None,
        server_time: tx.now(),
        duplicate: false,
        fanout: vec![Fanout {
            event: Arc::new(Event::CallbackQuery(query)),
            recipients,
        }],
    })
}
