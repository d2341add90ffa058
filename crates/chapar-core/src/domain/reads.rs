//! Reads: conversation lists, members, history and the per-user feed. Each starts with the
//! membership check (invariant 3): non-members get `Forbidden`, whether or not the conversation
//! exists. History shows only entries from the reader's join on.

use super::messages::{lock_member, mark, not_a_member, require_member, require_peer};
use crate::error::{Error, Result};
use crate::rules;
use crate::storage::{ChatState, Summary, Tx};
use crate::store::{Committed, Principal, Target};
use chapar_proto::{
    ConversationId, ConversationInfo, ConversationKind, Event, FeedEvent, MemberInfo, Message, Pts,
    SearchMessages, Seq, SyncPage, UserId,
};
use std::collections::HashMap;

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
        // Pinned before this member joined: not theirs to see.
        pinned: s.conv.pinned.filter(|p| *p >= s.member.joined_seq),
        archived: false,
        description: String::new(),
    }
}

/// A conversation as its member sees it, with what they set about it for themselves: in the
/// archive or not, and their history cleared up to a seq (the last message then is newer, or
/// none).
fn with_state(mut c: ConversationInfo, state: ChatState) -> ConversationInfo {
    c.archived = state.archived;
    if c.last_message
        .as_ref()
        .is_some_and(|m| m.seq <= state.cleared_seq)
    {
        c.last_message = None;
    }
    if c.pinned.is_some_and(|p| p <= state.cleared_seq) {
        c.pinned = None;
    }
    c
}

async fn states<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    only: Option<ConversationId>,
) -> Result<HashMap<ConversationId, ChatState>> {
    Ok(tx
        .chat_states(actor.user.id, only)
        .await?
        .into_iter()
        .collect())
}

/// The actor's conversations, newest first; those whose history they cleared stay out until
/// something new is said in them.
pub(crate) async fn conversations<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    limit: u32,
) -> Result<Vec<ConversationInfo>> {
    let limit = clamp(tx, limit);
    let rows = tx.summaries(actor.user.id, limit, None).await?;
    let states = states(tx, actor, None).await?;
    Ok(rows
        .into_iter()
        .map(info)
        .filter_map(|c| {
            let state = states.get(&c.id).copied().unwrap_or_default();
            (state.cleared_seq == 0 || c.last_seq > state.cleared_seq).then(|| with_state(c, state))
        })
        .collect())
}

pub(crate) async fn conversation<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    id: ConversationId,
) -> Result<ConversationInfo> {
    let mut rows = tx.summaries(actor.user.id, 1, Some(id)).await?;
    let c = rows.pop().map(info).ok_or_else(not_a_member)?;
    let state = states(tx, actor, Some(id)).await?.remove(&id);
    let mut c = with_state(c, state.unwrap_or_default());
    if c.kind != ConversationKind::Direct {
        c.description = tx.description(id).await?;
    }
    Ok(c)
}

/// The first seq of a conversation the actor sees: from their joining, after what they cleared.
async fn visible_from<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    id: ConversationId,
    joined_seq: Seq,
) -> Result<Seq> {
    let cleared = states(tx, actor, Some(id))
        .await?
        .remove(&id)
        .map_or(0, |s| s.cleared_seq);
    Ok(joined_seq.max(cleared + 1))
}

/// Put a conversation in the actor's archive, or take it out (theirs alone).
pub(crate) async fn archive<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    id: ConversationId,
    archived: bool,
) -> Result<Committed> {
    let l = lock_member(tx, id, actor, None).await?;
    let mut state = states(tx, actor, Some(id))
        .await?
        .remove(&id)
        .unwrap_or_default();
    state.archived = archived;
    tx.set_chat_state(&l.lock, actor.user.id, &state).await?;
    Ok(Committed {
        conversation: id,
        seq: None,
        server_time: tx.now(),
        duplicate: false,
        fanout: Vec::new(),
    })
}

/// Delete a conversation's history for the actor: everything up to now is gone from their
/// history, list and search (the others keep theirs), and it is read.
pub(crate) async fn clear_history<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    id: ConversationId,
) -> Result<Committed> {
    let committed = mark(tx, actor, id, None, Some(Seq::MAX)).await?;
    let l = lock_member(tx, id, actor, None).await?;
    let mut state = states(tx, actor, Some(id))
        .await?
        .remove(&id)
        .unwrap_or_default();
    state.cleared_seq = state.cleared_seq.max(l.conv.last_seq);
    tx.set_chat_state(&l.lock, actor.user.id, &state).await?;
    Ok(committed)
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
    let from = visible_from(tx, actor, id, member.joined_seq).await?;
    let mut page = tx
        .history(id, from, before.unwrap_or(Seq::MAX), limit)
        .await?;
    hide_for(tx, actor, &mut page).await?;
    Ok(page)
}

/// Mark (and empty) the messages the actor deleted for themselves: they stay in the page, so
/// paging by count still works, but nothing of them is sent.
async fn hide_for<T: Tx>(tx: &mut T, actor: &Principal, page: &mut [Message]) -> Result<()> {
    let keys: Vec<(ConversationId, Seq)> = page
        .iter()
        .filter(|m| m.kind == chapar_proto::MessageKind::Text)
        .map(|m| (m.conversation, m.seq))
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    let hidden = tx.hidden(actor.user.id, &keys).await?;
    for m in page.iter_mut() {
        if hidden.contains(&(m.conversation, m.seq)) {
            m.hidden = true;
            m.text = None;
            m.data = None;
            m.entities.clear();
            m.reply_markup = None;
            m.reactions.clear();
            m.forward = None;
        }
    }
    Ok(())
}

/// Delete one message for the actor only: their history keeps its place, empty.
pub(crate) async fn hide<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    id: ConversationId,
    seq: Seq,
) -> Result<Committed> {
    let l = lock_member(tx, id, actor, None).await?;
    match tx.message(id, seq).await? {
        Some(m) if seq >= l.member.joined_seq && m.kind == chapar_proto::MessageKind::Text => {}
        _ => {
            return Err(Error::not_found(format!(
                "no message {seq} in this conversation"
            )));
        }
    }
    tx.hide_message(&l.lock, actor.user.id, seq).await?;
    Ok(Committed {
        conversation: id,
        seq: None,
        server_time: tx.now(),
        duplicate: false,
        fanout: Vec::new(),
    })
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
        if seq < visible_from(tx, actor, conv, member.joined_seq).await? {
            continue;
        }
        if let Some(m) = tx.message(conv, seq).await?
            && !m.deleted
        {
            out.push(m);
        }
    }
    // What the actor deleted for themselves is not found either.
    hide_for(tx, actor, &mut out).await?;
    out.retain(|m| !m.hidden);
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
