//! Row helpers shared by commands and queries: number conversions, reading users, members,
//! conversations and messages back into protocol types, and the membership check every read and
//! write of a conversation starts with (invariant 3).

use crate::Db;
use chapar_core::{Error, Result};
use chapar_proto::{
    Bytes, ConversationId, ConversationKind, DeviceId, Entity, Message, MessageKind, ReactionCount,
    ReplyMarkup, Role, Seq, SystemEvent, UserId, UserInfo,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

/// A seq or pts as SQLite stores it (saturating; real values are far below `i64::MAX`).
pub fn sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A stored counter back as a seq or pts (negative values cannot occur; they read as 0).
pub fn num(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub fn kind_str(kind: ConversationKind) -> &'static str {
    match kind {
        ConversationKind::Direct => "direct",
        ConversationKind::Group => "group",
        ConversationKind::Channel => "channel",
        ConversationKind::Unknown => "unknown",
    }
}

pub fn parse_kind(s: &str) -> ConversationKind {
    match s {
        "direct" => ConversationKind::Direct,
        "group" => ConversationKind::Group,
        "channel" => ConversationKind::Channel,
        _ => ConversationKind::Unknown,
    }
}

pub fn parse_role(s: &str) -> Role {
    Role::parse(s).unwrap_or(Role::Unknown)
}

pub use chapar_core::rules::direct_key;

/// Look up a normalised handle.
pub fn user_by_handle(conn: &Connection, handle: &str) -> Result<Option<UserInfo>> {
    conn.prepare_cached("SELECT id, handle, display_name FROM users WHERE handle = ?1")
        .db()?
        .query_row([handle], user_row)
        .optional()
        .db()
}

/// Like [`user_by_handle`], but an unknown handle is `NotFound` naming it.
pub fn require_user(conn: &Connection, handle: &str) -> Result<UserInfo> {
    user_by_handle(conn, handle)?.ok_or_else(|| Error::not_found(format!("no user @{handle}")))
}

fn user_row(r: &Row<'_>) -> rusqlite::Result<UserInfo> {
    Ok(UserInfo {
        id: UserId(r.get(0)?),
        handle: r.get(1)?,
        display_name: r.get(2)?,
    })
}

/// A conversation's own row.
#[derive(Clone, Debug)]
pub struct ConvRow {
    pub id: ConversationId,
    pub kind: ConversationKind,
    pub title: String,
    pub last_seq: Seq,
    pub updated_at: i64,
}

/// One member's row.
#[derive(Clone, Debug)]
pub struct MemberRow {
    pub role: Role,
    pub joined_seq: Seq,
    pub delivered_seq: Seq,
    pub read_seq: Seq,
}

pub fn conversation_row(conn: &Connection, id: ConversationId) -> Result<Option<ConvRow>> {
    conn.prepare_cached(
        "SELECT id, kind, title, last_seq, updated_at FROM conversations WHERE id = ?1",
    )
    .db()?
    .query_row([id.0], |r| {
        Ok(ConvRow {
            id: ConversationId(r.get(0)?),
            kind: parse_kind(&r.get::<_, String>(1)?),
            title: r.get(2)?,
            last_seq: num(r.get(3)?),
            updated_at: r.get(4)?,
        })
    })
    .optional()
    .db()
}

pub fn member_row(
    conn: &Connection,
    conversation: ConversationId,
    user: UserId,
) -> Result<Option<MemberRow>> {
    conn.prepare_cached(
        "SELECT role, joined_seq, delivered_seq, read_seq FROM members
         WHERE conversation_id = ?1 AND user_id = ?2",
    )
    .db()?
    .query_row(params![conversation.0, user.0], |r| {
        Ok(MemberRow {
            role: parse_role(&r.get::<_, String>(0)?),
            joined_seq: num(r.get(1)?),
            delivered_seq: num(r.get(2)?),
            read_seq: num(r.get(3)?),
        })
    })
    .optional()
    .db()
}

/// The conversation and the actor's membership, or `Forbidden` without saying whether the
/// conversation exists.
pub fn require_member(
    conn: &Connection,
    conversation: ConversationId,
    user: UserId,
) -> Result<(ConvRow, MemberRow)> {
    let denied = || Error::forbidden("not a member of this conversation");
    let member = member_row(conn, conversation, user)?.ok_or_else(denied)?;
    let conv = conversation_row(conn, conversation)?.ok_or_else(denied)?;
    Ok((conv, member))
}

pub fn member_ids(conn: &Connection, conversation: ConversationId) -> Result<Vec<UserId>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT user_id FROM members WHERE conversation_id = ?1 ORDER BY joined_order",
        )
        .db()?;
    let rows = stmt
        .query_map([conversation.0], |r| r.get(0).map(UserId))
        .db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

/// Columns read by [`message_row`]; the query must alias messages as `m` and join users as `u`.
pub const MESSAGE_COLUMNS: &str = "m.conversation_id, m.seq, m.sender_id, u.handle, \
    m.sender_device, m.client_id, m.server_time, m.kind, m.content_type, m.text, m.data, \
    m.reply_to, m.target, m.remove, m.system, m.edited_at, m.deleted, m.entities, m.reply_markup";

/// A message row with its current state (edit, deletion); reactions are added separately.
pub fn message_row(r: &Row<'_>) -> rusqlite::Result<Message> {
    let system: Option<String> = r.get(14)?;
    Ok(Message {
        conversation: ConversationId(r.get(0)?),
        seq: num(r.get(1)?),
        sender: UserId(r.get(2)?),
        sender_handle: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
        sender_device: DeviceId(r.get(4)?),
        client_id: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
        server_time: r.get(6)?,
        kind: MessageKind::parse(&r.get::<_, String>(7)?),
        content_type: r.get(8)?,
        text: r.get(9)?,
        data: r.get::<_, Option<Vec<u8>>>(10)?.map(Bytes),
        reply_to: r.get::<_, Option<i64>>(11)?.map(num),
        target: r.get::<_, Option<i64>>(12)?.map(num),
        remove: r.get(13)?,
        system: system.and_then(|s| serde_json::from_str::<SystemEvent>(&s).ok()),
        edited_at: r.get(15)?,
        deleted: r.get(16)?,
        reactions: Vec::new(),
        entities: r
            .get::<_, Option<String>>(17)?
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default(),
        reply_markup: r
            .get::<_, Option<String>>(18)?
            .and_then(|s| serde_json::from_str(&s).ok()),
    })
}

/// The `entities` and `reply_markup` columns of a message: JSON, NULL when there are none.
pub fn rich_columns(
    entities: &[Entity],
    reply_markup: &Option<ReplyMarkup>,
) -> Result<(Option<String>, Option<String>)> {
    let encode = |v: serde_json::Result<String>| {
        v.map_err(|e| Error::Unavailable(format!("cannot encode message formatting: {e}")))
    };
    let entities = if entities.is_empty() {
        None
    } else {
        Some(encode(serde_json::to_string(entities))?)
    };
    let reply_markup = match reply_markup {
        Some(m) => Some(encode(serde_json::to_string(m))?),
        None => None,
    };
    Ok((entities, reply_markup))
}

/// Reaction counts of one message, most given first.
pub fn reactions(
    conn: &Connection,
    conversation: ConversationId,
    seq: Seq,
) -> Result<Vec<ReactionCount>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT emoji, COUNT(*) AS n FROM reactions WHERE conversation_id = ?1 AND seq = ?2
             GROUP BY emoji ORDER BY n DESC, emoji",
        )
        .db()?;
    let rows = stmt
        .query_map(params![conversation.0, sql(seq)], |r| {
            Ok(ReactionCount {
                emoji: r.get(0)?,
                count: u32::try_from(r.get::<_, i64>(1)?).unwrap_or(u32::MAX),
            })
        })
        .db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

/// One log entry with its current state, reactions included.
pub fn load_message(
    conn: &Connection,
    conversation: ConversationId,
    seq: Seq,
) -> Result<Option<Message>> {
    let query = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m LEFT JOIN users u ON u.id = m.sender_id
         WHERE m.conversation_id = ?1 AND m.seq = ?2"
    );
    let msg = conn
        .prepare_cached(&query)
        .db()?
        .query_row(params![conversation.0, sql(seq)], message_row)
        .optional()
        .db()?;
    match msg {
        Some(mut m) => {
            if m.kind == MessageKind::Text {
                m.reactions = reactions(conn, conversation, seq)?;
            }
            Ok(Some(m))
        }
        None => Ok(None),
    }
}
