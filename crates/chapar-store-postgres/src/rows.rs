//! Row conversions: users, members, conversations and messages back into the storage
//! interface's and the protocol's types, and pages of messages loaded with their reactions in
//! two queries whatever their number.

use crate::db::{Ctx, col, num, sql};
use chapar_core::Result;
use chapar_core::columns::json;
pub use chapar_core::columns::{kind_str, parse_kind, parse_role, rich_columns};
use chapar_core::storage::{ConvRow, MemberRow};
use chapar_proto::{
    Bytes, ConversationId, DeviceId, Entity, Forwarded, Message, MessageKind, ReactionCount,
    ReplyMarkup, Seq, SystemEvent, UserId, UserInfo,
};
use std::collections::HashMap;
use tokio_postgres::Row;

pub fn user_row(r: &Row, at: usize) -> Result<UserInfo> {
    Ok(UserInfo {
        id: UserId(col(r, at)?),
        handle: col(r, at + 1)?,
        display_name: col(r, at + 2)?,
    })
}

pub fn conv_row(r: &Row, at: usize) -> Result<ConvRow> {
    Ok(ConvRow {
        id: ConversationId(col(r, at)?),
        kind: parse_kind(&col::<String>(r, at + 1)?),
        title: col(r, at + 2)?,
        last_seq: num(col(r, at + 3)?),
        updated_at: col(r, at + 4)?,
        blocked: col(r, at + 5)?,
        pinned: col::<Option<i64>>(r, at + 6)?.map(num),
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

/// Columns read by [`message_row`]; the query aliases messages as `m` and joins users as `u`.
macro_rules! message_columns {
    () => {
        "m.conversation_id, m.seq, m.sender_id, u.handle, m.sender_device, m.client_id, \
         m.server_time, m.kind, m.content_type, m.text, m.data, m.reply_to, m.target, m.remove, \
         m.system, m.edited_at, m.deleted, m.entities, m.reply_markup, u.display_name, m.forward"
    };
}
pub(crate) use message_columns;

/// A message row (starting at column `at`) with its current state; reactions come separately.
pub fn message_row(r: &Row, at: usize) -> Result<Message> {
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
        system: json::<SystemEvent>(col(r, at + 14)?),
        edited_at: col(r, at + 15)?,
        deleted: col(r, at + 16)?,
        reactions: Vec::new(),
        entities: json::<Vec<Entity>>(col(r, at + 17)?).unwrap_or_default(),
        reply_markup: json::<ReplyMarkup>(col(r, at + 18)?),
        sender_name: col::<Option<String>>(r, at + 19)?.unwrap_or_default(),
        forward: json::<Forwarded>(col(r, at + 20)?),
        hidden: false,
    })
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

/// Messages by (conversation, seq), with reactions, in two queries.
pub async fn messages_at(
    ctx: &Ctx<'_>,
    wanted: &[(i64, i64)],
) -> Result<HashMap<(i64, i64), Message>> {
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
                m.reactions.push(ReactionCount {
                    emoji: col(r, 2)?,
                    count: u32::try_from(col::<i64>(r, 3)?).unwrap_or(u32::MAX),
                });
            }
        }
    }
    Ok(out)
}
