//! `Store::execute`: every change to a conversation's log or membership, one transaction each.
//!
//! Each command first locks the conversation's row ([`lock_member`]), then reads the state it
//! depends on, judges it with `chapar_core::rules`, appends (seq = last_seq + 1 under that lock:
//! dense and unique whichever node writes), updates current state, and writes one feed row per
//! recipient with that user's next pts. Users' rows are locked in id order when their pts is
//! bumped, and the conversation lock always comes first, so two transactions never wait for each
//! other in a cycle. Client-initiated appends are idempotent on (conversation, sender device,
//! client_id); group creation on (creator device, client_id).

use crate::db::{Ctx, col, num, sql};
use crate::rows::{
    ConvRow, MemberRow, direct_key, kind_str, load_message, lock_member, lock_member_dedup,
    member_ids,
};
use chapar_core::store::{Command, Committed, Fanout, Principal, Target};
use chapar_core::{Error, Result, rules};
use chapar_proto::{
    Bytes, ConversationId, ConversationKind, Entity, Event, Message, MessageKind, Receipt,
    ReplyMarkup, Role, Seq, SystemEvent, TEXT_PLAIN, UserId,
};
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

pub async fn execute(ctx: &Ctx<'_>, actor: &Principal, command: Command) -> Result<Committed> {
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
            let id = match target {
                Target::Conversation(id) => id,
                Target::Peer(handle) => direct_conversation_id(ctx, actor, &handle).await?,
            };
            let (conv, member, first) = lock_member_dedup(ctx, id, actor, &client_id).await?;
            if let Some(first) = first {
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
            append_to_members(ctx, actor, &conv, entry).await
        }
        Command::Edit {
            conversation,
            seq,
            client_id,
            text,
            data,
        } => {
            let (conv, member, target) =
                change_target(ctx, actor, conversation, seq, &client_id).await?;
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
            let committed = append_to_members(ctx, actor, &conv, entry).await?;
            let data = data.map(|d| d.0);
            ctx.exec(
                "UPDATE messages SET text = $3, data = $4, edited_at = $5
                 WHERE conversation_id = $1 AND seq = $2",
                &[&conv.id.0, &sql(seq), &text, &data, &ctx.now],
            )
            .await?;
            Ok(committed)
        }
        Command::Delete {
            conversation,
            seq,
            client_id,
        } => {
            let (conv, member, target) =
                change_target(ctx, actor, conversation, seq, &client_id).await?;
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
            let committed = append_to_members(ctx, actor, &conv, entry).await?;
            ctx.exec(
                "UPDATE messages SET deleted = TRUE, text = NULL, data = NULL, entities = NULL,
                     reply_markup = NULL
                 WHERE conversation_id = $1 AND seq = $2",
                &[&conv.id.0, &sql(seq)],
            )
            .await?;
            ctx.exec(
                "DELETE FROM reactions WHERE conversation_id = $1 AND seq = $2",
                &[&conv.id.0, &sql(seq)],
            )
            .await?;
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
            let (conv, member, target) =
                change_target(ctx, actor, conversation, seq, &client_id).await?;
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
            let committed = append_to_members(ctx, actor, &conv, entry).await?;
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
                [&conv.id.0, &sql(seq), &actor.user.id.0, &emoji];
            if remove {
                ctx.exec(
                    "DELETE FROM reactions
                     WHERE conversation_id = $1 AND seq = $2 AND user_id = $3 AND emoji = $4",
                    &params,
                )
                .await?;
            } else {
                ctx.exec(
                    "INSERT INTO reactions (conversation_id, seq, user_id, emoji)
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    &params,
                )
                .await?;
            }
            Ok(committed)
        }
        Command::CreateGroup {
            title,
            members,
            client_id,
        } => crate::membership::create_group(ctx, actor, &title, &members, &client_id).await,
        Command::AddMembers {
            conversation,
            handles,
        } => crate::membership::add_members(ctx, actor, conversation, &handles).await,
        Command::RemoveMember {
            conversation,
            handle,
        } => crate::membership::remove_member(ctx, actor, conversation, &handle).await,
        Command::Leave { conversation } => crate::membership::leave(ctx, actor, conversation).await,
        Command::Rename {
            conversation,
            title,
        } => crate::membership::rename(ctx, actor, conversation, &title).await,
        Command::SetRole {
            conversation,
            handle,
            role,
        } => crate::membership::set_role(ctx, actor, conversation, &handle, role).await,
        Command::Mark {
            conversation,
            delivered,
            read,
        } => mark(ctx, actor, conversation, delivered, read).await,
    }
}

/// The direct conversation between the actor and `handle`, created (with both as members) if it
/// does not exist yet, and locked.
pub(crate) async fn direct_conversation(
    ctx: &Ctx<'_>,
    actor: &Principal,
    handle: &str,
) -> Result<(ConvRow, MemberRow)> {
    let id = direct_conversation_id(ctx, actor, handle).await?;
    lock_member(ctx, id, actor.user.id).await
}

/// The id of the direct conversation between the actor and `handle`, created (with both as
/// members) if it does not exist yet. Not locked yet.
pub(crate) async fn direct_conversation_id(
    ctx: &Ctx<'_>,
    actor: &Principal,
    handle: &str,
) -> Result<ConversationId> {
    let handle = rules::handle(handle)?;
    // The peer and the conversation, if any, in one round trip.
    let row = ctx
        .opt(
            // The join spells chapar_core::rules::direct_key in SQL: keep the two alike.
            "SELECT u.id, c.id FROM users u
             LEFT JOIN conversations c
                 ON c.direct_key = LEAST(u.id, $2)::text || ':' || GREATEST(u.id, $2)::text
             WHERE u.handle = $1",
            &[&handle, &actor.user.id.0],
        )
        .await?
        .ok_or_else(|| Error::not_found(format!("no user @{handle}")))?;
    let peer = UserId(col(&row, 0)?);
    if peer == actor.user.id {
        return Err(Error::invalid(
            "you cannot send a direct message to yourself",
        ));
    }
    if let Some(id) = col::<Option<i64>>(&row, 1)? {
        return Ok(ConversationId(id));
    }
    let key = direct_key(actor.user.id, peer);
    // Two nodes may create it at once: the loser's insert does nothing (after waiting for the
    // winner's commit) and finds the winner's row.
    let created = ctx
        .opt(
            "INSERT INTO conversations (kind, title, last_seq, created_at, updated_at,
                                        direct_key)
             VALUES ($1, '', 0, $2, $2, $3)
             ON CONFLICT (direct_key) DO NOTHING RETURNING id",
            &[&kind_str(ConversationKind::Direct), &ctx.now, &key],
        )
        .await?;
    match created {
        Some(r) => {
            let id = ConversationId(col(&r, 0)?);
            insert_member(ctx, id, actor.user.id, Role::Member, 1).await?;
            insert_member(ctx, id, peer, Role::Member, 1).await?;
            Ok(id)
        }
        None => {
            let found = ctx
                .one(
                    "SELECT id FROM conversations WHERE direct_key = $1",
                    &[&key],
                )
                .await?;
            Ok(ConversationId(col(&found, 0)?))
        }
    }
}

/// Add a member (joined_order continues the conversation's sequence).
pub(crate) async fn insert_member(
    ctx: &Ctx<'_>,
    conversation: ConversationId,
    user: UserId,
    role: Role,
    joined_seq: Seq,
) -> Result<()> {
    ctx.exec(
        "INSERT INTO members (conversation_id, user_id, role, joined_seq, joined_order,
                              delivered_seq, read_seq)
         VALUES ($1, $2, $3, $4,
                 (SELECT COALESCE(MAX(joined_order), 0) + 1 FROM members
                  WHERE conversation_id = $1),
                 0, 0)",
        &[&conversation.0, &user.0, &role.as_str(), &sql(joined_seq)],
    )
    .await?;
    Ok(())
}

/// The first outcome of an append this device already made with `client_id`, if any.
pub(crate) async fn duplicate(
    ctx: &Ctx<'_>,
    conversation: ConversationId,
    actor: &Principal,
    client_id: &str,
) -> Result<Option<Committed>> {
    let found = ctx
        .opt(
            "SELECT seq, server_time FROM messages
             WHERE conversation_id = $1 AND sender_device = $2 AND client_id = $3",
            &[&conversation.0, &actor.device.0, &client_id],
        )
        .await?;
    match found {
        Some(r) => Ok(Some(Committed {
            conversation,
            seq: Some(num(col(&r, 0)?)),
            server_time: col(&r, 1)?,
            duplicate: true,
            fanout: Vec::new(),
        })),
        None => Ok(None),
    }
}

/// For edit/delete/react: membership (and the lock), then idempotency (`Err(first outcome)`),
/// then the target message, which must be visible to the actor.
#[allow(clippy::type_complexity)]
pub(crate) async fn change_target(
    ctx: &Ctx<'_>,
    actor: &Principal,
    conversation: ConversationId,
    seq: Seq,
    client_id: &str,
) -> Result<(ConvRow, MemberRow, std::result::Result<Message, Committed>)> {
    rules::client_id(client_id)?;
    let (conv, member, first) = lock_member_dedup(ctx, conversation, actor, client_id).await?;
    if let Some(first) = first {
        return Ok((conv, member, Err(first)));
    }
    let target = match load_message(ctx, conv.id, seq).await? {
        Some(m) if seq >= member.joined_seq => m,
        _ => {
            return Err(Error::not_found(format!(
                "no message {seq} in this conversation"
            )));
        }
    };
    Ok((conv, member, Ok(target)))
}

/// Append an entry and tell every current member: one statement (one round trip) that takes
/// the next seq (under the conversation's row lock, which the caller holds), stores the entry,
/// moves the actor's own markers (they have seen what they appended), and gives every member the
/// next pts of their feed, locking the members' user rows in id order (one order for every
/// transaction: no deadlock between them).
pub(crate) async fn append_to_members(
    ctx: &Ctx<'_>,
    actor: &Principal,
    conv: &ConvRow,
    entry: Entry,
) -> Result<Committed> {
    let system = match &entry.system {
        Some(s) => Some(
            serde_json::to_string(s)
                .map_err(|e| Error::Unavailable(format!("cannot encode a system event: {e}")))?,
        ),
        None => None,
    };
    let data: Option<&[u8]> = entry.data.as_ref().map(|d| &d.0[..]);
    let (entities, reply_markup) = crate::rows::rich_columns(&entry.entities, &entry.reply_markup)?;
    let reply_to = entry.reply_to.map(sql);
    let target = entry.target.map(sql);
    let rows = ctx
        .query(
            "WITH s AS (
                 UPDATE conversations SET last_seq = last_seq + 1, updated_at = $6
                 WHERE id = $1 RETURNING last_seq
             ), m AS (
                 INSERT INTO messages (conversation_id, seq, sender_id, sender_device, client_id,
                     server_time, kind, content_type, text, data, reply_to, target, remove,
                     system, edited_at, deleted, entities, reply_markup)
                 SELECT $1, s.last_seq, $2, $3, $4, $6, $7, $8, $9, $10, $11, $12, $13, $5,
                        NULL, FALSE, $14, $15
                 FROM s RETURNING seq
             ), k AS (
                 UPDATE members
                 SET delivered_seq = GREATEST(delivered_seq, (SELECT seq FROM m)),
                     read_seq = GREATEST(read_seq, (SELECT seq FROM m))
                 WHERE conversation_id = $1 AND user_id = $2
             ), r AS (
                 SELECT u.id FROM members mb JOIN users u ON u.id = mb.user_id
                 WHERE mb.conversation_id = $1 ORDER BY u.id FOR NO KEY UPDATE OF u
             ), b AS (
                 UPDATE users u SET pts = u.pts + 1 FROM r WHERE u.id = r.id
                 RETURNING u.id, u.pts
             ), f AS (
                 INSERT INTO feed (user_id, pts, kind, conversation_id, seq, payload)
                 SELECT b.id, b.pts, 'message', $1, m.seq, NULL FROM b, m
                 RETURNING user_id, pts, seq
             )
             SELECT user_id, pts, seq FROM f",
            &[
                &conv.id.0,
                &actor.user.id.0,
                &actor.device.0,
                &entry.client_id,
                &system,
                &ctx.now,
                &entry.kind.as_str(),
                &entry.content_type,
                &entry.text,
                &data,
                &reply_to,
                &target,
                &entry.remove,
                &entities,
                &reply_markup,
            ],
        )
        .await?;
    let Some(first) = rows.first() else {
        // The actor is a member, so there is always at least one recipient.
        return Err(Error::Unavailable("an append reached no member".into()));
    };
    let seq = num(col(first, 2)?);
    let message = Message {
        conversation: conv.id,
        seq,
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
    };
    Ok(committed(Fanout {
        recipients: recipients(&rows)?,
        event: Arc::new(Event::Message(message)),
    }))
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

fn recipients(rows: &[tokio_postgres::Row]) -> Result<Vec<(UserId, u64)>> {
    let mut out = rows
        .iter()
        .map(|r| Ok((UserId(col(r, 0)?), num(col(r, 1)?))))
        .collect::<Result<Vec<_>>>()?;
    out.sort_unstable();
    Ok(out)
}

/// Move the actor's markers forward; tell the other members when one moved (small groups only).
async fn mark(
    ctx: &Ctx<'_>,
    actor: &Principal,
    conversation: ConversationId,
    delivered: Option<Seq>,
    read: Option<Seq>,
) -> Result<Committed> {
    let (conv, member) = lock_member(ctx, conversation, actor.user.id).await?;
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
    ctx.exec(
        "UPDATE members SET delivered_seq = $3, read_seq = $4
         WHERE conversation_id = $1 AND user_id = $2",
        &[
            &conv.id.0,
            &actor.user.id.0,
            &sql(delivered_seq),
            &sql(read_seq),
        ],
    )
    .await?;
    let members = member_ids(ctx, conv.id).await?;
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
    let others: Vec<i64> = members
        .into_iter()
        .filter(|u| *u != actor.user.id)
        .map(|u| u.0)
        .collect();
    if others.is_empty() {
        return Ok(result);
    }
    let rows = ctx
        .query(
            "WITH r AS (
                 SELECT id FROM users WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE
             ), b AS (
                 UPDATE users u SET pts = u.pts + 1 FROM r WHERE u.id = r.id
                 RETURNING u.id, u.pts
             )
             INSERT INTO feed (user_id, pts, kind, conversation_id, seq, payload)
             SELECT id, pts, 'receipt', $2, NULL, $3 FROM b
             RETURNING user_id, pts",
            &[&others, &conv.id.0, &payload],
        )
        .await?;
    let recipients = recipients(&rows)?;
    if !recipients.is_empty() {
        result.fanout.push(Fanout {
            event: Arc::new(Event::Receipt(receipt)),
            recipients,
        });
    }
    Ok(result)
}
