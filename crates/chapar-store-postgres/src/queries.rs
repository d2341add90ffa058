//! Reads: conversation lists, members, history and the per-user feed.
//!
//! Multi-statement reads run in one read-only REPEATABLE READ transaction (one consistent
//! snapshot) and start with the membership check (invariant 3): non-members get `Forbidden`,
//! whether or not the conversation exists. History shows only entries from the reader's join on.
//! Each read is a few statements whatever the page size (no query per row): the round trip to
//! PostgreSQL is what costs.

use crate::db::{Ctx, col, num, sql};
use crate::rows::{
    conv_row, direct_key, member_ids as ids, member_row_at, message_columns, message_row,
    parse_role, reactions, require_member, require_user, with_reactions,
};
use chapar_core::store::{Principal, Target};
use chapar_core::{Error, Limits, Result, rules};
use chapar_proto::{
    CallbackQuery, ConversationId, ConversationInfo, ConversationKind, Event, FeedEvent,
    MemberInfo, Message, MessageKind, Pts, Receipt, Seq, SyncPage, UserId, UserInfo,
};
use std::collections::HashMap;
use tokio_postgres::Row;

/// The conversation as a member sees it: its row, the member's row, the member count, unread
/// count, the seq of the last visible text or system entry, and the peer of a direct chat.
macro_rules! conversation_select {
    () => {
        "SELECT c.id, c.kind, c.title, c.last_seq, c.updated_at,
                m.role, m.joined_seq, m.delivered_seq, m.read_seq,
                (SELECT COUNT(*) FROM members x WHERE x.conversation_id = c.id),
                (SELECT COUNT(*) FROM messages g WHERE g.conversation_id = c.id
                    AND g.seq > GREATEST(m.read_seq, m.joined_seq - 1) AND g.kind = 'text'
                    AND g.sender_id <> $1 AND NOT g.deleted),
                (SELECT g.seq FROM messages g WHERE g.conversation_id = c.id
                    AND g.seq >= m.joined_seq AND g.kind IN ('text', 'system')
                    ORDER BY g.seq DESC LIMIT 1),
                p.id, p.handle, p.display_name
         FROM members m JOIN conversations c ON c.id = m.conversation_id
         LEFT JOIN LATERAL (
             SELECT u.id, u.handle, u.display_name FROM members pm JOIN users u ON u.id = pm.user_id
             WHERE pm.conversation_id = c.id AND pm.user_id <> $1 AND c.kind = 'direct'
             LIMIT 1
         ) p ON TRUE
         WHERE m.user_id = $1 "
    };
}

pub async fn conversations(
    ctx: &Ctx<'_>,
    actor: &Principal,
    limit: u32,
    limits: &Limits,
) -> Result<Vec<ConversationInfo>> {
    let limit = limit.clamp(1, limits.max_page.max(1));
    let rows = ctx
        .query(
            concat!(
                conversation_select!(),
                "ORDER BY c.updated_at DESC, c.id DESC LIMIT $2"
            ),
            &[&actor.user.id.0, &i64::from(limit)],
        )
        .await?;
    infos(ctx, &rows).await
}

pub async fn conversation(
    ctx: &Ctx<'_>,
    actor: &Principal,
    id: ConversationId,
) -> Result<ConversationInfo> {
    let rows = ctx
        .query(
            concat!(conversation_select!(), "AND c.id = $2"),
            &[&actor.user.id.0, &id.0],
        )
        .await?;
    infos(ctx, &rows)
        .await?
        .pop()
        .ok_or_else(|| Error::forbidden("not a member of this conversation"))
}

/// Build the infos, loading every last message in one query.
async fn infos(ctx: &Ctx<'_>, rows: &[Row]) -> Result<Vec<ConversationInfo>> {
    let mut wanted: Vec<(i64, i64)> = Vec::new();
    for r in rows {
        if let Some(seq) = col::<Option<i64>>(r, 11)? {
            wanted.push((col(r, 0)?, seq));
        }
    }
    let mut last = messages_at(ctx, &wanted).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let conv = conv_row(r, 0)?;
        let member = member_row_at(r, 5)?
            .ok_or_else(|| Error::Unavailable("a membership row without a role".into()))?;
        let member_count: i64 = col(r, 9)?;
        let unread: i64 = col(r, 10)?;
        let last_seq: Option<i64> = col(r, 11)?;
        let peer = match col::<Option<i64>>(r, 12)? {
            Some(id) => Some(UserInfo {
                id: UserId(id),
                handle: col(r, 13)?,
                display_name: col(r, 14)?,
            }),
            None => None,
        };
        let (title, peer) = if conv.kind == ConversationKind::Direct {
            (
                peer.as_ref()
                    .map(|p| p.display_name.clone())
                    .unwrap_or_default(),
                peer,
            )
        } else {
            (conv.title, None)
        };
        let last_message = last_seq.and_then(|s| last.remove(&(conv.id.0, s)));
        out.push(ConversationInfo {
            id: conv.id,
            kind: conv.kind,
            title,
            peer,
            role: member.role,
            member_count: u32::try_from(member_count).unwrap_or(u32::MAX),
            last_seq: conv.last_seq,
            read_seq: member.read_seq,
            unread: u32::try_from(unread).unwrap_or(u32::MAX),
            last_message,
            updated_at: conv.updated_at,
        });
    }
    Ok(out)
}

/// Messages by (conversation, seq), with reactions, in two queries.
async fn messages_at(ctx: &Ctx<'_>, wanted: &[(i64, i64)]) -> Result<HashMap<(i64, i64), Message>> {
    let mut out = HashMap::new();
    if wanted.is_empty() {
        return Ok(out);
    }
    let convs: Vec<i64> = wanted.iter().map(|w| w.0).collect();
    let seqs: Vec<i64> = wanted.iter().map(|w| w.1).collect();
    let rows = ctx
        .query(
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM unnest($1::bigint[], $2::bigint[]) AS w(c, s)
                 JOIN messages m ON m.conversation_id = w.c AND m.seq = w.s
                 LEFT JOIN users u ON u.id = m.sender_id"
            ),
            &[&convs, &seqs],
        )
        .await?;
    let mut texts: Vec<(i64, i64)> = Vec::new();
    for r in &rows {
        let m = message_row(r, 0)?;
        if m.kind == MessageKind::Text {
            texts.push((m.conversation.0, sql(m.seq)));
        }
        out.insert((m.conversation.0, sql(m.seq)), m);
    }
    if !texts.is_empty() {
        let convs: Vec<i64> = texts.iter().map(|w| w.0).collect();
        let seqs: Vec<i64> = texts.iter().map(|w| w.1).collect();
        let rows = ctx
            .query(
                "SELECT r.conversation_id, r.seq, r.emoji, COUNT(*) AS n
                 FROM unnest($1::bigint[], $2::bigint[]) AS w(c, s)
                 JOIN reactions r ON r.conversation_id = w.c AND r.seq = w.s
                 GROUP BY r.conversation_id, r.seq, r.emoji
                 ORDER BY r.conversation_id, r.seq, n DESC, r.emoji COLLATE \"C\"",
                &[&convs, &seqs],
            )
            .await?;
        for r in &rows {
            let key = (col::<i64>(r, 0)?, col::<i64>(r, 1)?);
            if let Some(m) = out.get_mut(&key) {
                m.reactions.push(chapar_proto::ReactionCount {
                    emoji: col(r, 2)?,
                    count: u32::try_from(col::<i64>(r, 3)?).unwrap_or(u32::MAX),
                });
            }
        }
    }
    Ok(out)
}

pub async fn members(
    ctx: &Ctx<'_>,
    actor: &Principal,
    id: ConversationId,
) -> Result<Vec<MemberInfo>> {
    require_member(ctx, id, actor.user.id).await?;
    let rows = ctx
        .query(
            "SELECT u.id, u.handle, u.display_name, m.role, m.delivered_seq, m.read_seq
             FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.conversation_id = $1 ORDER BY m.joined_order",
            &[&id.0],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(MemberInfo {
                user: UserInfo {
                    id: UserId(col(r, 0)?),
                    handle: col(r, 1)?,
                    display_name: col(r, 2)?,
                },
                role: parse_role(&col::<String>(r, 3)?),
                delivered_seq: num(col(r, 4)?),
                read_seq: num(col(r, 5)?),
            })
        })
        .collect()
}

pub async fn member_ids(
    ctx: &Ctx<'_>,
    actor: &Principal,
    id: ConversationId,
) -> Result<Vec<UserId>> {
    require_member(ctx, id, actor.user.id).await?;
    ids(ctx, id).await
}

pub async fn history(
    ctx: &Ctx<'_>,
    actor: &Principal,
    target: Target,
    before: Option<Seq>,
    limit: u32,
    limits: &Limits,
) -> Result<Vec<Message>> {
    let id = match target {
        Target::Conversation(id) => id,
        Target::Peer(raw) => {
            let handle = rules::handle(&raw)?;
            let peer = require_user(ctx, &handle).await?;
            if peer.id == actor.user.id {
                return Err(Error::invalid(
                    "there is no direct conversation with yourself",
                ));
            }
            let found = ctx
                .opt(
                    "SELECT id FROM conversations WHERE direct_key = $1",
                    &[&direct_key(actor.user.id, peer.id)],
                )
                .await?;
            match found {
                Some(r) => ConversationId(col(&r, 0)?),
                None => return Ok(Vec::new()),
            }
        }
    };
    let (conv, member) = require_member(ctx, id, actor.user.id).await?;
    let limit = limit.clamp(1, limits.max_page.max(1));
    let upper = before.map_or(i64::MAX, sql);
    let rows = ctx
        .query(
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages m LEFT JOIN users u ON u.id = m.sender_id
                 WHERE m.conversation_id = $1 AND m.seq >= $2 AND m.seq < $3
                 ORDER BY m.seq DESC LIMIT $4"
            ),
            &[
                &conv.id.0,
                &sql(member.joined_seq),
                &upper,
                &i64::from(limit),
            ],
        )
        .await?;
    let mut page = rows
        .iter()
        .map(|r| message_row(r, 0))
        .collect::<Result<Vec<_>>>()?;
    page.reverse();
    with_reactions(ctx, conv.id, &mut page).await?;
    Ok(page)
}

pub async fn feed(
    ctx: &Ctx<'_>,
    actor: &Principal,
    after: Pts,
    limit: u32,
    limits: &Limits,
) -> Result<SyncPage> {
    let limit = limit.clamp(1, limits.max_page.max(1));
    let rows = ctx
        .query(
            concat!(
                "SELECT f.pts, f.kind, f.conversation_id, f.seq, f.payload, m.seq, ",
                message_columns!(),
                " FROM feed f
                 LEFT JOIN messages m ON f.kind = 'message'
                     AND m.conversation_id = f.conversation_id AND m.seq = f.seq
                 LEFT JOIN users u ON u.id = m.sender_id
                 WHERE f.user_id = $1 AND f.pts > $2 ORDER BY f.pts LIMIT $3"
            ),
            &[&actor.user.id.0, &sql(after), &(i64::from(limit) + 1)],
        )
        .await?;
    let more = rows.len() > limit as usize;
    let rows = &rows[..rows.len().min(limit as usize)];
    let mut pts = after;
    let mut events = Vec::with_capacity(rows.len());
    // Reactions of the text messages in the page, per conversation.
    let mut by_conv: HashMap<ConversationId, Vec<i64>> = HashMap::new();
    for r in rows {
        let p = num(col(r, 0)?);
        pts = p;
        let kind: String = col(r, 1)?;
        let event = match kind.as_str() {
            "message" if col::<Option<i64>>(r, 5)?.is_some() => {
                let m = message_row(r, 6)?;
                if m.kind == MessageKind::Text {
                    by_conv.entry(m.conversation).or_default().push(sql(m.seq));
                }
                Some(Event::Message(m))
            }
            "receipt" => col::<Option<String>>(r, 4)?
                .and_then(|p| serde_json::from_str::<Receipt>(&p).ok())
                .map(Event::Receipt),
            "callback" => col::<Option<String>>(r, 4)?
                .and_then(|p| serde_json::from_str::<CallbackQuery>(&p).ok())
                .map(Event::CallbackQuery),
            _ => None,
        };
        // A row that cannot be read back is skipped rather than failing the whole page.
        match event {
            Some(event) => events.push(FeedEvent { pts: p, event }),
            None => tracing::warn!(
                pts = p,
                user = actor.user.id.0,
                "unreadable feed row skipped"
            ),
        }
    }
    for (conv, seqs) in by_conv {
        let mut counts = reactions(ctx, conv, &seqs).await?;
        for e in &mut events {
            if let Event::Message(m) = &mut e.event
                && m.conversation == conv
                && let Some(c) = counts.get(&m.seq)
            {
                m.reactions = c.clone();
            }
        }
        counts.clear();
    }
    Ok(SyncPage {
        events,
        pts,
        more,
        reset: false,
    })
}
