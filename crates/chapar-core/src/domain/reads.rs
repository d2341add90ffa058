//! Reads: conversation lists, members, history and the per-user feed. Each starts with the
//! membership check (invariant 3): non-members get `Forbidden`, whether or not the conversation
//! exists. History shows only entries from the reader's join on.

use super::messages::{not_a_member, require_member, require_peer};
use crate::error::{Error, Result};
use crate::rules;
use crate::storage::{Summary, Tx};
use crate::store::{Principal, Target};
use chapar_proto::{
    ConversationId, ConversationInfo, ConversationKind, Event, FeedEvent, MemberInfo, Message, Pts,
    SearchMessages, Seq, SyncPage, UserId,
};

/// The page size to use: at least 1, at most the configured maximum.
fn clamp<T: Tx>(tx: &T, limit: u32) -> u32 {
    limit.clamp(1, tx.limits().max_page.max(1))
}

/// A conversation as its member sees it: a direct one is titled with the peer's name.
fn info(s: Summary) -> ConversationInfo {
    let (title, peer) = if s.conv.kind == ConversationKind::Direct {
        let title = s
            .peer
            .as_ref()
            .map(|p| p.display_name.clone())
            .unwrap_or_default();
        (title, s.peer)
    } else {
        (s.conv.title, None)
    };
    ConversationInfo {
        id: s.conv.id,
        kind: s.conv.kind,
        title,
        peer,
        role: s.member.role,
        member_count: s.member_count,
        last_seq: s.conv.last_seq,
        read_seq: s.member.read_seq,
        unread: s.unread,
        last_message: s.last_message,
        updated_at: s.conv.updated_at,
    }
}

pub(crate) async fn conversations<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    limit: u32,
) -> Result<Vec<ConversationInfo>> {
    let limit = clamp(tx, limit);
    let rows = tx.summaries(actor.user.id, limit, None).await?;
    Ok(rows.into_iter().map(info).collect())
}

pub(crate) async fn conversation<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    id: ConversationId,
) -> Result<ConversationInfo> {
    let mut rows = tx.summaries(actor.user.id, 1, Some(id)).await?;
    rows.pop().map(info).ok_or_else(not_a_member)
}

pub(crate) async fn members<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    id: ConversationId,
) -> Result<Vec<MemberInfo>> {
    require_member(tx, id, actor.user.id).await?;
    tx.members(id).await
}

pub(crate) async fn member_ids<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    id: ConversationId,
) -> Result<Vec<UserId>> {
    require_member(tx, id, actor.user.id).await?;
    tx.member_ids(id).await
}

pub(crate) async fn history<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    target: Target,
    before: Option<Seq>,
    limit: u32,
) -> Result<Vec<Message>> {
    let id = match target {
        Target::Conversation(id) => id,
        Target::Peer(raw) => {
            let handle = rules::handle(&raw)?;
            let (peer, existing) = require_peer(tx, &handle, actor.user.id).await?;
            if peer.id == actor.user.id {
                return Err(Error::invalid(
                    "there is no direct conversation with yourself",
                ));
            }
            match existing {
                Some(id) => id,
                None => return Ok(Vec::new()),
            }
        }
    };
    let (_, member) = require_member(tx, id, actor.user.id).await?;
    let limit = clamp(tx, limit);
    tx.history(id, member.joined_seq, before.unwrap_or(Seq::MAX), limit)
        .await
}

/// Most messages one search returns, and its default.
const SEARCH_MAX: u32 = 50;
const SEARCH_DEFAULT: u32 = 20;

/// Messages of the actor's conversations with a word starting with each query word, newest
/// first; each as the actor may read it (from their joining on), deleted ones never.
pub(crate) async fn search<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    q: &SearchMessages,
) -> Result<Vec<Message>> {
    let words = crate::search::query(&q.query)?;
    if let Some(id) = q.conversation {
        require_member(tx, id, actor.user.id).await?;
    }
    let limit = q.limit.unwrap_or(SEARCH_DEFAULT).clamp(1, SEARCH_MAX);
    let found = tx
        .search(actor.user.id, &words, q.conversation, q.before, limit)
        .await?;
    let mut out = Vec::with_capacity(found.len());
    for (conv, seq) in found {
        let Some(member) = tx.member(conv, actor.user.id).await? else {
            continue;
        };
        if seq < member.joined_seq {
            continue;
        }
        if let Some(m) = tx.message(conv, seq).await?
            && !m.deleted
        {
            out.push(m);
        }
    }
    Ok(out)
}

pub(crate) async fn feed<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    after: Pts,
    limit: u32,
) -> Result<SyncPage> {
    let limit = clamp(tx, limit);
    let mut rows = tx.feed(actor.user.id, after, limit + 1).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let pts = rows.last().map_or(after, |r| r.pts);
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        // A row that cannot be read back is skipped rather than failing the whole page.
        if let Some(mut event) = row.event {
            // A callback query's id is its feed pts.
            if let Event::CallbackQuery(q) = &mut event {
                q.id = row.pts.to_string();
            }
            events.push(FeedEvent {
                pts: row.pts,
                event,
            });
        }
    }
    Ok(SyncPage {
        events,
        pts,
        more,
        reset: false,
    })
}
