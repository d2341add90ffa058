//! `Store::execute`: every change to a conversation's log or membership, run as one writer job.
//!
//! Each command reads the state it depends on, judges it with `chapar_core::rules`, then appends
//! (seq = last_seq + 1, dense from 1), updates current state and writes one feed row per
//! recipient with that user's next pts. All of it happens inside the job's savepoint, so a failed
//! check or write leaves nothing behind. Client-initiated appends are idempotent on
//! (conversation, sender device, client_id); group creation on (creator device, client_id).

use crate::Db;
use crate::rows::{
    ConvRow, MemberRow, direct_key, kind_str, load_message, member_ids, num, require_member,
    require_user, sql,
};
use crate::writer::Ctx;
use chapar_core::store::{Command, Committed, Fanout, Principal, Target};
use chapar_core::{Error, Result, rules};
use chapar_proto::{
    Bytes, ConversationId, ConversationKind, Entity, Event, Message, MessageKind, Receipt,
    ReplyMarkup, Role, Seq, SystemEvent, TEXT_PLAIN, UserId,
};
use rusqlite::{OptionalExtension, params};
use std::sync::Arc;

/// A log entry about to be appended.
pub(crate) struct Entry {
    pub(crate) kind: MessageKind,
    pub(crate) client_id: Option<String>,
    pub(crate) content_type: String,
    pub(crate) text: Option<String>,
    pub(crate) data: Option<Bytes>,
    pub(crate) reply_to: Option<Seq>,
    pub(crate) target: Option<Seq>,
    pub(crate) remove: bool,
    pub(crate) system: Option<SystemEvent>,
    /// Formatting and buttons (bot messages and their edits).
    pub(crate) entities: Vec<Entity>,
    pub(crate) reply_markup: Option<ReplyMarkup>,
}

impl Entry {
    pub(crate) fn system(event: SystemEvent) -> Entry {
        Entry {
            kind: MessageKind::System,
            client_id: None,
            content_type: TEXT_PLAIN.to_string(),
            text: None,
            data: None,
            reply_to: None,
            target: None,
            remove: false,
            system: Some(event),
            entities: Vec::new(),
            reply_markup: None,
        }
    }

    pub(crate) fn change(
        kind: MessageKind,
        client_id: String,
        content_type: String,
        target: Seq,
    ) -> Entry {
        Entry {
            kind,
            client_id: Some(client_id),
            content_type,
            text: None,
            data: None,
            reply_to: None,
            target: Some(target),
            remove: false,
            system: None,
            entities: Vec::new(),
            reply_markup: None,
        }
    }
}

pub(crate) fn event(action: &str, handles: Vec<String>) -> SystemEvent {
    SystemEvent {
        action: action.to_string(),
        handles,
        title: None,
        role: None,
    }
}

pub fn execute(ctx: &Ctx<'_>, actor: &Principal, command: Command) -> Result<Committed> {
    match command {
        Command::Send {
            target,
            client_id,
            content_type,
            text,
            data,
            reply_to,
        } => {
            rules::client_id(&client_id)?;
            let content_type = rules::body(
                ctx.limits,
                content_type.as_deref(),
                text.as_deref(),
                data.as_ref(),
            )?;
            let (conv, member) = match target {
                Target::Conversation(id) => require_member(ctx.conn, id, actor.user.id)?,
                Target::Peer(handle) => direct_conversation(ctx, actor, &handle)?,
            };
            if let Some(first) = duplicate(ctx, conv.id, actor, &client_id)? {
                return Ok(first);
            }
            rules::can_post(conv.kind, member.role)?;
            rules::reply_to(reply_to, conv.last_seq, member.joined_seq)?;
            let entry = Entry {
                kind: MessageKind::Text,
                client_id: Some(client_id),
                content_type,
                text,
                data,
                reply_to,
                target: None,
                remove: false,
                system: None,
                entities: Vec::new(),
                reply_markup: None,
            };
            append_to_members(ctx, actor, &conv, entry)
        }
        Command::Edit {
            conversation,
            seq,
            client_id,
            text,
            data,
        } => {
            let (conv, member, target) = change_target(ctx, actor, conversation, seq, &client_id)?;
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
            let ct = target.content_type.clone();
            rules::body(ctx.limits, Some(&ct), text.as_deref(), data.as_ref())?;
            let mut entry = Entry::change(MessageKind::Edit, client_id, ct, seq);
            entry.text = text.clone();
            entry.data = data.clone();
            let committed = append_to_members(ctx, actor, &conv, entry)?;
            ctx.conn
                .prepare_cached(
                    "UPDATE messages SET text = ?3, data = ?4, edited_at = ?5
                     WHERE conversation_id = ?1 AND seq = ?2",
                )
                .db()?
                .execute(params![
                    conv.id.0,
                    sql(seq),
                    text,
                    data.map(|d| d.0),
                    ctx.now
                ])
                .db()?;
            Ok(committed)
        }
        Command::Delete {
            conversation,
            seq,
            client_id,
        } => {
            let (conv, member, target) = change_target(ctx, actor, conversation, seq, &client_id)?;
            let target = match target {
                Ok(t) => t,
                Err(first) => return Ok(first),
            };
            rules::can_change_message(
                MessageKind::Delete,
                target.sender == actor.user.id,
                member.role,
                target.kind,
                target.deleted,
            )?;
            let entry = Entry::change(MessageKind::Delete, client_id, target.content_type, seq);
            let committed = append_to_members(ctx, actor, &conv, entry)?;
            ctx.conn
                .prepare_cached(
                    "UPDATE messages SET deleted = 1, text = NULL, data = NULL, entities = NULL,
                         reply_markup = NULL
                     WHERE conversation_id = ?1 AND seq = ?2",
                )
                .db()?
                .execute(params![conv.id.0, sql(seq)])
                .db()?;
            ctx.conn
                .prepare_cached("DELETE FROM reactions WHERE conversation_id = ?1 AND seq = ?2")
                .db()?
                .execute(params![conv.id.0, sql(seq)])
                .db()?;
            Ok(committed)
        }
        Command::React {
            conversation,
            seq,
            client_id,
            emoji,
            remove,
        } => {
            rules::emoji(&emoji)?;
            let (conv, member, target) = change_target(ctx, actor, conversation, seq, &client_id)?;
            let target = match target {
                Ok(t) => t,
                Err(first) => return Ok(first),
            };
            rules::can_change_message(
                MessageKind::Reaction,
                target.sender == actor.user.id,
                member.role,
                target.kind,
                target.deleted,
            )?;
            let mut entry = Entry::change(
                MessageKind::Reaction,
                client_id,
                TEXT_PLAIN.to_string(),
                seq,
            );
            entry.text = Some(emoji.clone());
            entry.remove = remove;
            let committed = append_to_members(ctx, actor, &conv, entry)?;
            let sql_text = if remove {
                "DELETE FROM reactions
                 WHERE conversation_id = ?1 AND seq = ?2 AND user_id = ?3 AND emoji = ?4"
            } else {
                "INSERT OR IGNORE INTO reactions (conversation_id, seq, user_id, emoji)
                 VALUES (?1, ?2, ?3, ?4)"
            };
            ctx.conn
                .prepare_cached(sql_text)
                .db()?
                .execute(params![conv.id.0, sql(seq), actor.user.id.0, emoji])
                .db()?;
            Ok(committed)
        }
        Command::CreateGroup {
            title,
            members,
            client_id,
        } => crate::membership::create_group(ctx, actor, &title, &members, &client_id),
        Command::AddMembers {
            conversation,
            handles,
        } => crate::membership::add_members(ctx, actor, conversation, &handles),
        Command::RemoveMember {
            conversation,
            handle,
        } => crate::membership::remove_member(ctx, actor, conversation, &handle),
        Command::Leave { conversation } => crate::membership::leave(ctx, actor, conversation),
        Command::Rename {
            conversation,
            title,
        } => crate::membership::rename(ctx, actor, conversation, &title),
        Command::SetRole {
            conversation,
            handle,
            role,
        } => crate::membership::set_role(ctx, actor, conversation, &handle, role),
        Command::Mark {
            conversation,
            delivered,
            read,
        } => mark(ctx, actor, conversation, delivered, read),
    }
}

/// The direct conversation between the actor and `handle`, created (with both as members) if it
/// does not exist yet.
pub(crate) fn direct_conversation(
    ctx: &Ctx<'_>,
    actor: &Principal,
    handle: &str,
) -> Result<(ConvRow, MemberRow)> {
    let handle = rules::handle(handle)?;
    let peer = require_user(ctx.conn, &handle)?;
    if peer.id == actor.user.id {
        return Err(Error::invalid(
            "you cannot send a direct message to yourself",
        ));
    }
    let key = direct_key(actor.user.id, peer.id);
    let existing: Option<i64> = ctx
        .conn
        .prepare_cached("SELECT id FROM conversations WHERE direct_key = ?1")
        .db()?
        .query_row([&key], |r| r.get(0))
        .optional()
        .db()?;
    let id = match existing {
        Some(id) => ConversationId(id),
        None => {
            ctx.conn
                .prepare_cached(
                    "INSERT INTO conversations (kind, title, last_seq, created_at, updated_at, direct_key)
                     VALUES (?1, '', 0, ?2, ?2, ?3)",
                )
                .db()?
                .execute(params![kind_str(ConversationKind::Direct), ctx.now, key])
                .db()?;
            let id = ConversationId(ctx.conn.last_insert_rowid());
            insert_member(ctx, id, actor.user.id, Role::Member, 1)?;
            insert_member(ctx, id, peer.id, Role::Member, 1)?;
            id
        }
    };
    require_member(ctx.conn, id, actor.user.id)
}

/// Add a member (joined_order continues the conversation's sequence).
pub(crate) fn insert_member(
    ctx: &Ctx<'_>,
    conversation: ConversationId,
    user: UserId,
    role: Role,
    joined_seq: Seq,
) -> Result<()> {
    ctx.conn
        .prepare_cached(
            "INSERT INTO members (conversation_id, user_id, role, joined_seq, joined_order,
                                  delivered_seq, read_seq)
             VALUES (?1, ?2, ?3, ?4,
                     (SELECT COALESCE(MAX(joined_order), 0) + 1 FROM members WHERE conversation_id = ?1),
                     0, 0)",
        )
        .db()?
        .execute(params![conversation.0, user.0, role.as_str(), sql(joined_seq)])
        .db()?;
    Ok(())
}

/// The first outcome of an append this device already made with `client_id`, if any.
pub(crate) fn duplicate(
    ctx: &Ctx<'_>,
    conversation: ConversationId,
    actor: &Principal,
    client_id: &str,
) -> Result<Option<Committed>> {
    let found: Option<(i64, i64)> = ctx
        .conn
        .prepare_cached(
            "SELECT seq, server_time FROM messages
             WHERE conversation_id = ?1 AND sender_device = ?2 AND client_id = ?3",
        )
        .db()?
        .query_row(params![conversation.0, actor.device.0, client_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
        .db()?;
    Ok(found.map(|(seq, server_time)| Committed {
        conversation,
        seq: Some(num(seq)),
        server_time,
        duplicate: true,
        fanout: Vec::new(),
    }))
}

/// For edit/delete/react: membership, then idempotency (`Err(first outcome)`), then the target
/// message, which must be visible to the actor.
#[allow(clippy::type_complexity)]
pub(crate) fn change_target(
    ctx: &Ctx<'_>,
    actor: &Principal,
    conversation: ConversationId,
    seq: Seq,
    client_id: &str,
) -> Result<(ConvRow, MemberRow, std::result::Result<Message, Committed>)> {
    rules::client_id(client_id)?;
    let (conv, member) = require_member(ctx.conn, conversation, actor.user.id)?;
    if let Some(first) = duplicate(ctx, conv.id, actor, client_id)? {
        return Ok((conv, member, Err(first)));
    }
    let target = match load_message(ctx.conn, conv.id, seq)? {
        Some(m) if seq >= member.joined_seq => m,
        _ => {
            return Err(Error::not_found(format!(
                "no message {seq} in this conversation"
            )));
        }
    };
    Ok((conv, member, Ok(target)))
}

/// Append an entry and tell every current member.
pub(crate) fn append_to_members(
    ctx: &Ctx<'_>,
    actor: &Principal,
    conv: &ConvRow,
    entry: Entry,
) -> Result<Committed> {
    let message = append(ctx, actor, conv.id, entry)?;
    let fanout = fan_out_to_members(ctx, message)?;
    Ok(committed(fanout))
}

pub(crate) fn committed(fanout: Fanout) -> Committed {
    let (conversation, seq, server_time) = match fanout.event.as_ref() {
        Event::Message(m) => (m.conversation, Some(m.seq), m.server_time),
        _ => (ConversationId(0), None, 0),
    };
    Committed {
        conversation,
        seq,
        server_time,
        duplicate: false,
        fanout: vec![fanout],
    }
}

/// Append one entry to the log: the next seq, the conversation's activity time, and the actor's
/// own markers (they have seen what they appended).
pub(crate) fn append(
    ctx: &Ctx<'_>,
    actor: &Principal,
    conversation: ConversationId,
    entry: Entry,
) -> Result<Message> {
    let seq: i64 = ctx
        .conn
        .prepare_cached(
            "UPDATE conversations SET last_seq = last_seq + 1, updated_at = ?2 WHERE id = ?1
             RETURNING last_seq",
        )
        .db()?
        .query_row(params![conversation.0, ctx.now], |r| r.get(0))
        .db()?;
    let system = match &entry.system {
        Some(s) => Some(
            serde_json::to_string(s)
                .map_err(|e| Error::Unavailable(format!("cannot encode a system event: {e}")))?,
        ),
        None => None,
    };
    let (entities, reply_markup) = crate::rows::rich_columns(&entry.entities, &entry.reply_markup)?;
    ctx.conn
        .prepare_cached(
            "INSERT INTO messages (conversation_id, seq, sender_id, sender_device, client_id,
                server_time, kind, content_type, text, data, reply_to, target, remove, system,
                edited_at, deleted, entities, reply_markup)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, NULL, 0, ?15, ?16)",
        )
        .db()?
        .execute(params![
            conversation.0,
            seq,
            actor.user.id.0,
            actor.device.0,
            entry.client_id,
            ctx.now,
            entry.kind.as_str(),
            entry.content_type,
            entry.text,
            entry.data.as_ref().map(|d| &d.0[..]),
            entry.reply_to.map(sql),
            entry.target.map(sql),
            entry.remove,
            system,
            entities,
            reply_markup,
        ])
        .db()?;
    ctx.conn
        .prepare_cached(
            "UPDATE members SET delivered_seq = MAX(delivered_seq, ?3), read_seq = MAX(read_seq, ?3)
             WHERE conversation_id = ?1 AND user_id = ?2",
        )
        .db()?
        .execute(params![conversation.0, actor.user.id.0, seq])
        .db()?;
    Ok(Message {
        conversation,
        seq: num(seq),
        sender: actor.user.id,
        sender_handle: actor.user.handle.clone(),
        sender_device: actor.device,
        client_id: entry.client_id.unwrap_or_default(),
        server_time: ctx.now,
        kind: entry.kind,
        content_type: entry.content_type,
        text: entry.text,
        data: entry.data,
        reply_to: entry.reply_to,
        target: entry.target,
        remove: entry.remove,
        system: entry.system,
        edited_at: None,
        deleted: false,
        reactions: Vec::new(),
        entities: entry.entities,
        reply_markup: entry.reply_markup,
    })
}

/// The next pts of a user's feed.
pub(crate) fn next_pts(ctx: &Ctx<'_>, user: UserId) -> Result<i64> {
    ctx.conn
        .prepare_cached("UPDATE users SET pts = pts + 1 WHERE id = ?1 RETURNING pts")
        .db()?
        .query_row([user.0], |r| r.get(0))
        .db()
}

/// One feed row per current member of the message's conversation.
///
/// Set-based: one UPDATE takes the next pts of every member and one INSERT ... SELECT writes
/// their feed rows, whatever the group's size. (A statement per member cost ~50 µs each in a
/// group of 10,000, most of it SQLite opening and closing a statement journal.)
pub(crate) fn fan_out_to_members(ctx: &Ctx<'_>, message: Message) -> Result<Fanout> {
    let conversation = message.conversation.0;
    let recipients = ctx
        .conn
        .prepare_cached(
            "UPDATE users SET pts = pts + 1
             WHERE id IN (SELECT user_id FROM members WHERE conversation_id = ?1)
             RETURNING id, pts",
        )
        .db()?
        .query_map([conversation], |r| Ok((UserId(r.get(0)?), num(r.get(1)?))))
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    ctx.conn
        .prepare_cached(
            "INSERT INTO feed (user_id, pts, kind, conversation_id, seq, payload)
             SELECT u.id, u.pts, 'message', ?1, ?2, NULL
             FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.conversation_id = ?1",
        )
        .db()?
        .execute(params![conversation, sql(message.seq)])
        .db()?;
    Ok(Fanout {
        event: Arc::new(Event::Message(message)),
        recipients,
    })
}

/// Move the actor's markers forward; tell the other members when one moved (small groups only).
fn mark(
    ctx: &Ctx<'_>,
    actor: &Principal,
    conversation: ConversationId,
    delivered: Option<Seq>,
    read: Option<Seq>,
) -> Result<Committed> {
    let (conv, member) = require_member(ctx.conn, conversation, actor.user.id)?;
    let read_seq = read.map_or(member.read_seq, |r| {
        member.read_seq.max(r.min(conv.last_seq))
    });
    let delivered_seq = delivered
        .map_or(member.delivered_seq, |d| {
            member.delivered_seq.max(d.min(conv.last_seq))
        })
        .max(read_seq);
    let mut result = Committed {
        conversation: conv.id,
        seq: None,
        server_time: ctx.now,
        duplicate: false,
        fanout: Vec::new(),
    };
    if read_seq == member.read_seq && delivered_seq == member.delivered_seq {
        return Ok(result);
    }
    ctx.conn
        .prepare_cached(
            "UPDATE members SET delivered_seq = ?3, read_seq = ?4
             WHERE conversation_id = ?1 AND user_id = ?2",
        )
        .db()?
        .execute(params![
            conv.id.0,
            actor.user.id.0,
            sql(delivered_seq),
            sql(read_seq)
        ])
        .db()?;
    let members = member_ids(ctx.conn, conv.id)?;
    if members.len() > ctx.limits.receipts_fanout_max_members as usize {
        return Ok(result);
    }
    let receipt = Receipt {
        conversation: conv.id,
        user: actor.user.id,
        handle: actor.user.handle.clone(),
        delivered_seq,
        read_seq,
    };
    let payload = serde_json::to_string(&receipt)
        .map_err(|e| Error::Unavailable(format!("cannot encode a receipt: {e}")))?;
    let mut recipients = Vec::with_capacity(members.len());
    for user in members.into_iter().filter(|u| *u != actor.user.id) {
        let pts = next_pts(ctx, user)?;
        ctx.conn
            .prepare_cached(
                "INSERT INTO feed (user_id, pts, kind, conversation_id, seq, payload)
                 VALUES (?1, ?2, 'receipt', ?3, NULL, ?4)",
            )
            .db()?
            .execute(params![user.0, pts, conv.id.0, payload])
            .db()?;
        recipients.push((user, num(pts)));
    }
    if !recipients.is_empty() {
        result.fanout.push(Fanout {
            event: Arc::new(Event::Receipt(receipt)),
            recipients,
        });
    }
    Ok(result)
}
