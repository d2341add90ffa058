//! Reads: conversation lists, members, history and the per-user feed.
//!
//! Each runs on a pooled read connection inside one read transaction (a consistent snapshot)
//! and starts with the membership check (invariant 3): non-members get `Forbidden`, whether or
//! not the conversation exists. History shows only entries from the reader's join onwards.

use crate::Db;
use crate::rows::{
    ConvRow, MESSAGE_COLUMNS, MemberRow, direct_key, load_message, member_ids as ids, message_row,
    num, parse_role, reactions, require_member, require_user, sql,
};
use chapar_core::store::{Principal, Target};
use chapar_core::{Error, Limits, Result, rules};
use chapar_proto::{
    CallbackQuery, ConversationId, ConversationInfo, ConversationKind, Event, FeedEvent,
    MemberInfo, Message, MessageKind, Pts, Receipt, Seq, SyncPage, UserId, UserInfo,
};
use rusqlite::{Connection, OptionalExtension, params};

pub fn conversations(
    conn: &Connection,
    actor: &Principal,
    limit: u32,
    limits: &Limits,
) -> Result<Vec<ConversationInfo>> {
    let limit = limit.clamp(1, limits.max_page.max(1));
    let mut stmt = conn
        .prepare_cached(
            "SELECT c.id, c.kind, c.title, c.last_seq, c.updated_at,
                    m.role, m.joined_seq, m.delivered_seq, m.read_seq
             FROM members m JOIN conversations c ON c.id = m.conversation_id
             WHERE m.user_id = ?1 ORDER BY c.updated_at DESC, c.id DESC LIMIT ?2",
        )
        .db()?;
    let rows = stmt
        .query_map(params![actor.user.id.0, i64::from(limit)], |r| {
            Ok((
                ConvRow {
                    id: ConversationId(r.get(0)?),
                    kind: crate::rows::parse_kind(&r.get::<_, String>(1)?),
                    title: r.get(2)?,
                    last_seq: num(r.get(3)?),
                    updated_at: r.get(4)?,
                },
                MemberRow {
                    role: parse_role(&r.get::<_, String>(5)?),
                    joined_seq: num(r.get(6)?),
                    delivered_seq: num(r.get(7)?),
                    read_seq: num(r.get(8)?),
                },
            ))
        })
        .db()?;
    let rows = rows.collect::<rusqlite::Result<Vec<_>>>().db()?;
    rows.into_iter()
        .map(|(conv, member)| info(conn, actor.user.id, conv, member))
        .collect()
}

pub fn conversation(
    conn: &Connection,
    actor: &Principal,
    id: ConversationId,
) -> Result<ConversationInfo> {
    let (conv, member) = require_member(conn, id, actor.user.id)?;
    info(conn, actor.user.id, conv, member)
}

/// A conversation as `me` sees it.
fn info(
    conn: &Connection,
    me: UserId,
    conv: ConvRow,
    member: MemberRow,
) -> Result<ConversationInfo> {
    let member_count: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM members WHERE conversation_id = ?1")
        .db()?
        .query_row([conv.id.0], |r| r.get(0))
        .db()?;
    let from = member.read_seq.max(member.joined_seq.saturating_sub(1));
    let unread: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM messages WHERE conversation_id = ?1 AND seq > ?2
             AND kind = 'text' AND sender_id != ?3 AND deleted = 0",
        )
        .db()?
        .query_row(params![conv.id.0, sql(from), me.0], |r| r.get(0))
        .db()?;
    let last: Option<i64> = conn
        .prepare_cached(
            "SELECT seq FROM messages WHERE conversation_id = ?1 AND seq >= ?2
             AND kind IN ('text', 'system') ORDER BY seq DESC LIMIT 1",
        )
        .db()?
        .query_row(params![conv.id.0, sql(member.joined_seq)], |r| r.get(0))
        .optional()
        .db()?;
    let last_message = match last {
        Some(seq) => load_message(conn, conv.id, num(seq))?,
        None => None,
    };
    let (title, peer) = if conv.kind == ConversationKind::Direct {
        let peer = conn
            .prepare_cached(
                "SELECT u.id, u.handle, u.display_name FROM members m JOIN users u ON u.id = m.user_id
                 WHERE m.conversation_id = ?1 AND m.user_id != ?2 LIMIT 1",
            )
            .db()?
            .query_row(params![conv.id.0, me.0], |r| {
                Ok(UserInfo {
                    id: UserId(r.get(0)?),
                    handle: r.get(1)?,
                    display_name: r.get(2)?,
                })
            })
            .optional()
            .db()?;
        (
            peer.as_ref()
                .map(|p| p.display_name.clone())
                .unwrap_or_default(),
            peer,
        )
    } else {
        (conv.title, None)
    };
    Ok(ConversationInfo {
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
    })
}

pub fn members(
    conn: &Connection,
    actor: &Principal,
    id: ConversationId,
) -> Result<Vec<MemberInfo>> {
    require_member(conn, id, actor.user.id)?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT u.id, u.handle, u.display_name, m.role, m.delivered_seq, m.read_seq
             FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.conversation_id = ?1 ORDER BY m.joined_order",
        )
        .db()?;
    let rows = stmt
        .query_map([id.0], |r| {
            Ok(MemberInfo {
                user: UserInfo {
                    id: UserId(r.get(0)?),
                    handle: r.get(1)?,
                    display_name: r.get(2)?,
                },
                role: parse_role(&r.get::<_, String>(3)?),
                delivered_seq: num(r.get(4)?),
                read_seq: num(r.get(5)?),
            })
        })
        .db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

pub fn member_ids(conn: &Connection, actor: &Principal, id: ConversationId) -> Result<Vec<UserId>> {
    require_member(conn, id, actor.user.id)?;
    ids(conn, id)
}

pub fn history(
    conn: &Connection,
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
            let peer = require_user(conn, &handle)?;
            if peer.id == actor.user.id {
                return Err(Error::invalid(
                    "there is no direct conversation with yourself",
                ));
            }
            let found: Option<i64> = conn
                .prepare_cached("SELECT id FROM conversations WHERE direct_key = ?1")
                .db()?
                .query_row([direct_key(actor.user.id, peer.id)], |r| r.get(0))
                .optional()
                .db()?;
            match found {
                Some(id) => ConversationId(id),
                None => return Ok(Vec::new()),
            }
        }
    };
    let (conv, member) = require_member(conn, id, actor.user.id)?;
    let limit = limit.clamp(1, limits.max_page.max(1));
    let query = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m LEFT JOIN users u ON u.id = m.sender_id
         WHERE m.conversation_id = ?1 AND m.seq >= ?2 AND m.seq < ?3
         ORDER BY m.seq DESC LIMIT ?4"
    );
    let mut stmt = conn.prepare_cached(&query).db()?;
    let upper = before.map_or(i64::MAX, sql);
    let rows = stmt
        .query_map(
            params![conv.id.0, sql(member.joined_seq), upper, i64::from(limit)],
            message_row,
        )
        .db()?;
    let mut page = rows.collect::<rusqlite::Result<Vec<_>>>().db()?;
    page.reverse();
    for m in &mut page {
        if m.kind == MessageKind::Text {
            m.reactions = reactions(conn, conv.id, m.seq)?;
        }
    }
    Ok(page)
}

pub fn feed(
    conn: &Connection,
    actor: &Principal,
    after: Pts,
    limit: u32,
    limits: &Limits,
) -> Result<SyncPage> {
    let limit = limit.clamp(1, limits.max_page.max(1));
    let mut stmt = conn
        .prepare_cached(
            "SELECT pts, kind, conversation_id, seq, payload FROM feed
             WHERE user_id = ?1 AND pts > ?2 ORDER BY pts LIMIT ?3",
        )
        .db()?;
    let rows = stmt
        .query_map(
            params![actor.user.id.0, sql(after), i64::from(limit) + 1],
            |r| {
                Ok((
                    num(r.get(0)?),
                    r.get::<_, String>(1)?,
                    ConversationId(r.get(2)?),
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            },
        )
        .db()?;
    let mut rows = rows.collect::<rusqlite::Result<Vec<_>>>().db()?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let pts = rows.last().map_or(after, |r| r.0);
    let mut events = Vec::with_capacity(rows.len());
    for (pts, kind, conversation, seq, payload) in rows {
        let event = match (kind.as_str(), seq, payload) {
            ("message", Some(seq), _) => {
                load_message(conn, conversation, num(seq))?.map(Event::Message)
            }
            ("receipt", _, Some(p)) => serde_json::from_str::<Receipt>(&p).ok().map(Event::Receipt),
            ("callback", _, Some(p)) => serde_json::from_str::<CallbackQuery>(&p)
                .ok()
                .map(Event::CallbackQuery),
            _ => None,
        };
        // A row that cannot be read back is skipped rather than failing the whole page.
        if let Some(event) = event {
            events.push(FeedEvent { pts, event });
        } else {
            tracing::warn!(pts, user = actor.user.id.0, "unreadable feed row skipped");
        }
    }
    Ok(SyncPage {
        events,
        pts,
        more,
        reset: false,
    })
}
