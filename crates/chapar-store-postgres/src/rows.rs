//! Row helpers shared by commands and queries: reading users, members, conversations and
//! messages back into protocol types, and the membership checks every read and write of a
//! conversation starts with (invariant 3). Writes use [`lock_member`], which takes the
//! conversation's row lock first: every write to one conversation, from any node, runs one at a
//! time from there on, and sees everything committed before it.

use crate::db::{Ctx, col, num, sql};
use chapar_core::{Error, Result};
use chapar_proto::{
    Bytes, ConversationId, ConversationKind, DeviceId, Entity, Message, MessageKind, ReactionCount,
    ReplyMarkup, Role, Seq, SystemEvent, UserId, UserInfo,
};
use std::collections::HashMap;
use tokio_postgres::Row;

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

pub fn user_row(r: &Row, at: usize) -> Result<UserInfo> {
    Ok(UserInfo {
        id: UserId(col(r, at)?),
        handle: col(r, at + 1)?,
        display_name: col(r, at + 2)?,
    })
}

/// Look up a normalised handle.
pub async fn user_by_handle(ctx: &Ctx<'_>, handle: &str) -> Result<Option<UserInfo>> {
    match ctx
        .opt(
            "SELECT id, handle, display_name FROM users WHERE handle = $1",
            &[&handle],
        )
        .await?
    {
        Some(r) => Ok(Some(user_row(&r, 0)?)),
        None => Ok(None),
    }
}

/// Like [`user_by_handle`], but an unknown handle is `NotFound` naming it.
pub async fn require_user(ctx: &Ctx<'_>, handle: &str) -> Result<UserInfo> {
    user_by_handle(ctx, handle)
        .await?
        .ok_or_else(|| Error::not_found(format!("no user @{handle}")))
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

pub fn conv_row(r: &Row, at: usize) -> Result<ConvRow> {
    Ok(ConvRow {
        id: ConversationId(col(r, at)?),
        kind: parse_kind(&col::<String>(r, at + 1)?),
        title: col(r, at + 2)?,
        last_seq: num(col(r, at + 3)?),
        updated_at: col(r, at + 4)?,
    })
}

/// A member row at `at`, or `None` when its columns are NULL (outer join without a member).
pub fn member_row_at(r: &Row, at: usize) -> Result<Option<MemberRow>> {
    let Some(role) = col::<Option<String>>(r, at)? else {
        return Ok(None);
    };
    Ok(Some(MemberRow {
        role: parse_role(&role),
        joined_seq: num(col(r, at + 1)?),
        delivered_seq: num(col(r, at + 2)?),
        read_seq: num(col(r, at + 3)?),
    }))
}

pub async fn member_row(
    ctx: &Ctx<'_>,
    conversation: ConversationId,
    user: UserId,
) -> Result<Option<MemberRow>> {
    match ctx
        .opt(
            "SELECT role, joined_seq, delivered_seq, read_seq FROM members
             WHERE conversation_id = $1 AND user_id = $2",
            &[&conversation.0, &user.0],
        )
        .await?
    {
        Some(r) => member_row_at(&r, 0),
        None => Ok(None),
    }
}

fn denied() -> Error {
    Error::forbidden("not a member of this conversation")
}

/// The conversation and the actor's membership, or `Forbidden` without saying whether the
/// conversation exists. For reads: no lock.
pub async fn require_member(
    ctx: &Ctx<'_>,
    conversation: ConversationId,
    user: UserId,
) -> Result<(ConvRow, MemberRow)> {
    let row = ctx
        .opt(
            "SELECT c.id, c.kind, c.title, c.last_seq, c.updated_at,
                    m.role, m.joined_seq, m.delivered_seq, m.read_seq
             FROM conversations c JOIN members m ON m.conversation_id = c.id AND m.user_id = $2
             WHERE c.id = $1",
            &[&conversation.0, &user.0],
        )
        .await?
        .ok_or_else(denied)?;
    let member = member_row_at(&row, 5)?.ok_or_else(denied)?;
    Ok((conv_row(&row, 0)?, member))
}

/// Like [`require_member`], for writes: first takes the conversation's row lock, held until the
/// transaction ends, so what is read here and everything after is current.
pub async fn lock_member(
    ctx: &Ctx<'_>,
    conversation: ConversationId,
    user: UserId,
) -> Result<(ConvRow, MemberRow)> {
    let row = ctx
        .opt(
            "SELECT c.id, c.kind, c.title, c.last_seq, c.updated_at,
                    m.role, m.joined_seq, m.delivered_seq, m.read_seq
             FROM conversations c
             LEFT JOIN members m ON m.conversation_id = c.id AND m.user_id = $2
             WHERE c.id = $1
             FOR NO KEY UPDATE OF c",
            &[&conversation.0, &user.0],
        )
        .await?
        .ok_or_else(denied)?;
    let member = member_row_at(&row, 5)?.ok_or_else(denied)?;
    Ok((conv_row(&row, 0)?, member))
}

/// [`lock_member`] and, in the same round trip, the first outcome of an append this device
/// already made in the conversation with `client_id` (idempotent retries).
pub async fn lock_member_dedup(
    ctx: &Ctx<'_>,
    conversation: ConversationId,
    actor: &chapar_core::store::Principal,
    client_id: &str,
) -> Result<(ConvRow, MemberRow, Option<chapar_core::store::Committed>)> {
    let row = ctx
        .opt(
            "SELECT c.id, c.kind, c.title, c.last_seq, c.updated_at,
                    m.role, m.joined_seq, m.delivered_seq, m.read_seq,
                    d.seq, d.server_time
             FROM conversations c
             LEFT JOIN members m ON m.conversation_id = c.id AND m.user_id = $2
             LEFT JOIN messages d ON d.conversation_id = c.id AND d.sender_device = $3
                                 AND d.client_id = $4
             WHERE c.id = $1
             FOR NO KEY UPDATE OF c",
            &[
                &conversation.0,
                &actor.user.id.0,
                &actor.device.0,
                &client_id,
            ],
        )
        .await?
        .ok_or_else(denied)?;
    let member = member_row_at(&row, 5)?.ok_or_else(denied)?;
    let conv = conv_row(&row, 0)?;
    let first = match col::<Option<i64>>(&row, 9)? {
        Some(seq) => Some(chapar_core::store::Committed {
            conversation: conv.id,
            seq: Some(num(seq)),
            server_time: col(&row, 10)?,
            duplicate: true,
            fanout: Vec::new(),
        }),
        None => None,
    };
    Ok((conv, member, first))
}

/// Members' user ids in the order they joined.
pub async fn member_ids(ctx: &Ctx<'_>, conversation: ConversationId) -> Result<Vec<UserId>> {
    let rows = ctx
        .query(
            "SELECT user_id FROM members WHERE conversation_id = $1 ORDER BY joined_order",
            &[&conversation.0],
        )
        .await?;
    rows.iter().map(|r| col(r, 0).map(UserId)).collect()
}

/// Columns read by [`message_row`]; the query aliases messages as `m` and joins users as `u`.
macro_rules! message_columns {
    () => {
        "m.conversation_id, m.seq, m.sender_id, u.handle, m.sender_device, m.client_id, \
         m.server_time, m.kind, m.content_type, m.text, m.data, m.reply_to, m.target, m.remove, \
         m.system, m.edited_at, m.deleted, m.entities, m.reply_markup"
    };
}
pub(crate) use message_columns;

/// A message row (starting at column `at`) with its current state; reactions come separately.
pub fn message_row(r: &Row, at: usize) -> Result<Message> {
    let system: Option<String> = col(r, at + 14)?;
    Ok(Message {
        conversation: ConversationId(col(r, at)?),
        seq: num(col(r, at + 1)?),
        sender: UserId(col(r, at + 2)?),
        sender_handle: col::<Option<String>>(r, at + 3)?.unwrap_or_default(),
        sender_device: DeviceId(col(r, at + 4)?),
        client_id: col::<Option<String>>(r, at + 5)?.unwrap_or_default(),
        server_time: col(r, at + 6)?,
        kind: MessageKind::parse(&col::<String>(r, at + 7)?),
        content_type: col(r, at + 8)?,
        text: col(r, at + 9)?,
        data: col::<Option<Vec<u8>>>(r, at + 10)?.map(Bytes),
        reply_to: col::<Option<i64>>(r, at + 11)?.map(num),
        target: col::<Option<i64>>(r, at + 12)?.map(num),
        remove: col(r, at + 13)?,
        system: system.and_then(|s| serde_json::from_str::<SystemEvent>(&s).ok()),
        edited_at: col(r, at + 15)?,
        deleted: col(r, at + 16)?,
        reactions: Vec::new(),
        entities: col::<Option<String>>(r, at + 17)?
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default(),
        reply_markup: col::<Option<String>>(r, at + 18)?
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

/// Reaction counts of several messages of one conversation, most given first.
pub async fn reactions(
    ctx: &Ctx<'_>,
    conversation: ConversationId,
    seqs: &[i64],
) -> Result<HashMap<Seq, Vec<ReactionCount>>> {
    let mut out: HashMap<Seq, Vec<ReactionCount>> = HashMap::new();
    if seqs.is_empty() {
        return Ok(out);
    }
    let rows = ctx
        .query(
            "SELECT seq, emoji, COUNT(*) AS n FROM reactions
             WHERE conversation_id = $1 AND seq = ANY($2)
             GROUP BY seq, emoji ORDER BY seq, n DESC, emoji COLLATE \"C\"",
            &[&conversation.0, &seqs],
        )
        .await?;
    for r in &rows {
        out.entry(num(col(r, 0)?)).or_default().push(ReactionCount {
            emoji: col(r, 1)?,
            count: u32::try_from(col::<i64>(r, 2)?).unwrap_or(u32::MAX),
        });
    }
    Ok(out)
}

/// Attach reactions to the normal messages of a page (all of one conversation).
pub async fn with_reactions(
    ctx: &Ctx<'_>,
    conversation: ConversationId,
    page: &mut [Message],
) -> Result<()> {
    let seqs: Vec<i64> = page
        .iter()
        .filter(|m| m.kind == MessageKind::Text)
        .map(|m| sql(m.seq))
        .collect();
    let mut counts = reactions(ctx, conversation, &seqs).await?;
    for m in page {
        if let Some(c) = counts.remove(&m.seq) {
            m.reactions = c;
        }
    }
    Ok(())
}

/// One log entry with its current state, reactions included.
pub async fn load_message(
    ctx: &Ctx<'_>,
    conversation: ConversationId,
    seq: Seq,
) -> Result<Option<Message>> {
    let row = ctx
        .opt(
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages m LEFT JOIN users u ON u.id = m.sender_id
                 WHERE m.conversation_id = $1 AND m.seq = $2"
            ),
            &[&conversation.0, &sql(seq)],
        )
        .await?;
    match row {
        Some(r) => {
            let mut m = [message_row(&r, 0)?];
            with_reactions(ctx, conversation, &mut m).await?;
            let [m] = m;
            Ok(Some(m))
        }
        None => Ok(None),
    }
}
