//! Messages: send, edit, delete, react, markers; and the steps every append shares (the
//! conversation lock with the membership check, direct conversations made on first use, the
//! append to the members, the committed outcome).
//!
//! Client-initiated appends are idempotent on (conversation, sender device, client_id): the
//! first outcome is read under the conversation's lock, so a retry never appends twice.

use super::safety::{Starter, may_start_chat, not_blocked, receipt_filter};
use crate::error::{Error, Result};
use crate::rules;
use crate::storage::{
    ConvLock, ConvRow, Entry, FeedItem, ItemKind, MemberRow, MessageChange, NewConversation,
    Recipients, Tx,
};
use crate::store::{Committed, Fanout, Principal, Target};
use chapar_proto::{
    Bytes, ConversationId, ConversationKind, Event, Forwarded, Message, MessageKind, Receipt, Role,
    Seq, SystemEvent, TEXT_PLAIN, UserId, UserInfo,
};
use std::sync::Arc;

/// A conversation locked by this transaction, with the actor's membership.
pub(crate) struct Locked {
    pub lock: ConvLock,
    pub conv: ConvRow,
    pub member: MemberRow,
    /// The first outcome of a retried append (same device and client_id).
    pub first: Option<Committed>,
}

pub(crate) fn not_a_member() -> Error {
    Error::forbidden("not a member of this conversation")
}

/// Lock `conversation` and check that the actor is a member (`Forbidden` otherwise, without
/// saying whether it exists). With `client_id`, also find that device's first outcome with it.
pub(crate) async fn lock_member<T: Tx>(
    tx: &mut T,
    conversation: ConversationId,
    actor: &Principal,
    client_id: Option<&str>,
) -> Result<Locked> {
    let dedup = client_id.map(|c| (actor.device, c));
    let row = tx
        .lock(conversation, actor.user.id, dedup)
        .await?
        .ok_or_else(not_a_member)?;
    let member = row.member.ok_or_else(not_a_member)?;
    let first = row.first.map(|(seq, server_time)| Committed {
        conversation: row.conv.id,
        seq: Some(seq),
        server_time,
        duplicate: true,
        fanout: Vec::new(),
    });
    Ok(Locked {
        lock: ConvLock::new(row.conv.id),
        conv: row.conv,
        member,
        first,
    })
}

/// Lock a conversation this transaction has just made (it has no members yet).
pub(crate) async fn lock_new<T: Tx>(
    tx: &mut T,
    id: ConversationId,
    actor: &Principal,
) -> Result<ConvLock> {
    match tx.lock(id, actor.user.id, None).await? {
        Some(_) => Ok(ConvLock::new(id)),
        None => Err(Error::Unavailable(
            "the new conversation disappeared".into(),
        )),
    }
}

/// A conversation and the actor's membership, for reads (no lock).
pub(crate) async fn require_member<T: Tx>(
    tx: &mut T,
    conversation: ConversationId,
    user: UserId,
) -> Result<(ConvRow, MemberRow)> {
    match tx.conversation_member(conversation, user).await? {
        Some((conv, Some(member))) => Ok((conv, member)),
        _ => Err(not_a_member()),
    }
}

/// A normalised handle's user, or `NotFound` naming it.
pub(crate) async fn require_user<T: Tx>(tx: &mut T, handle: &str) -> Result<UserInfo> {
    tx.user_by_handle(handle)
        .await?
        .ok_or_else(|| Error::not_found(format!("no user @{handle}")))
}

/// A normalised handle's user and their direct conversation with `me`, or `NotFound`.
pub(crate) async fn require_peer<T: Tx>(
    tx: &mut T,
    handle: &str,
    me: UserId,
) -> Result<(UserInfo, Option<ConversationId>)> {
    tx.peer(handle, me)
        .await?
        .ok_or_else(|| Error::not_found(format!("no user @{handle}")))
}

/// The id of the direct conversation between the actor and `handle`, made (with both as
/// members) if it does not exist yet.
pub(crate) async fn direct_conversation_id<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    handle: &str,
    starter: Starter,
) -> Result<ConversationId> {
    let handle = rules::handle(handle)?;
    let (peer, existing) = require_peer(tx, &handle, actor.user.id).await?;
    if peer.id == actor.user.id {
        return Err(Error::invalid(
            "you cannot send a direct message to yourself",
        ));
    }
    if let Some(id) = existing {
        return Ok(id);
    }
    may_start_chat(tx, actor, &peer, starter).await?;
    let key = rules::direct_key(actor.user.id, peer.id);
    let new = NewConversation {
        kind: ConversationKind::Direct,
        title: String::new(),
        direct_key: Some(key.clone()),
        creator: None,
    };
    match tx.insert_conversation(&new).await? {
        Some(id) => {
            let lock = lock_new(tx, id, actor).await?;
            tx.insert_member(&lock, actor.user.id, Role::Member, 1)
                .await?;
            tx.insert_member(&lock, peer.id, Role::Member, 1).await?;
            Ok(id)
        }
        // Another transaction made it first: use theirs.
        None => tx
            .direct_conversation(&key)
            .await?
            .ok_or_else(|| Error::Unavailable("the direct conversation disappeared".into())),
    }
}

/// Append an entry and tell every current member.
pub(crate) async fn append_to_members<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    lock: &ConvLock,
    entry: Entry,
) -> Result<Committed> {
    let appended = tx.append(lock, actor, &entry).await?;
    if entry.kind == MessageKind::Text
        && let Some(text) = &entry.text
    {
        let words = crate::search::words(text);
        if !words.is_empty() {
            tx.index_message(lock, appended.seq, &words).await?;
        }
    }
    let mut recipients = appended.recipients;
    recipients.sort_unstable();
    let message = Message {
        conversation: lock.id(),
        seq: appended.seq,
        sender: actor.user.id,
        sender_handle: actor.user.handle.clone(),
        sender_name: actor.user.display_name.clone(),
        sender_device: actor.device,
        client_id: entry.client_id.unwrap_or_default(),
        server_time: tx.now(),
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
        forward: entry.forward,
        hidden: false,
    };
    Ok(Committed {
        conversation: message.conversation,
        seq: Some(message.seq),
        server_time: message.server_time,
        duplicate: false,
        fanout: vec![Fanout {
            event: Arc::new(Event::Message(message)),
            recipients,
        }],
    })
}

/// A person's message.
pub(crate) async fn send<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    target: Target,
    client_id: String,
    content_type: Option<String>,
    body: (Option<String>, Option<Bytes>),
    reply_to: Option<Seq>,
) -> Result<Committed> {
    let (text, data) = body;
    rules::client_id(&client_id)?;
    let content_type = rules::body(
        tx.limits(),
        content_type.as_deref(),
        text.as_deref(),
        data.as_ref(),
    )?;
    let l = match postable(tx, actor, target, &client_id).await? {
        Ok(l) => l,
        Err(first) => return Ok(first),
    };
    rules::reply_to(reply_to, l.conv.last_seq, l.member.joined_seq)?;
    let mut entry = Entry::text(client_id, content_type);
    entry.text = text;
    entry.data = data;
    entry.reply_to = reply_to;
    append_to_members(tx, actor, &l.lock, entry).await
}

/// The conversation a person's post goes to (a direct one is made on first use), locked, with
/// the checks every post passes (blocks, who may post); `Err` holds the first outcome of a
/// retry with the same `client_id`.
async fn postable<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    target: Target,
    client_id: &str,
) -> Result<std::result::Result<Locked, Committed>> {
    let id = match target {
        Target::Conversation(id) => id,
        Target::Peer(handle) => direct_conversation_id(tx, actor, &handle, Starter::Person).await?,
    };
    let l = lock_member(tx, id, actor, Some(client_id)).await?;
    if let Some(first) = l.first {
        return Ok(Err(first));
    }
    not_blocked(tx, actor, &l).await?;
    rules::can_post(l.conv.kind, l.member.role)?;
    Ok(Ok(l))
}

/// Forward message `seq` of `from`, as the actor may read it, into a conversation: the same
/// body and formatting (not buttons), marked with its first author.
pub(crate) async fn forward<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    target: Target,
    client_id: String,
    from: ConversationId,
    seq: Seq,
) -> Result<Committed> {
    rules::client_id(&client_id)?;
    let member = tx
        .member(from, actor.user.id)
        .await?
        .ok_or_else(not_a_member)?;
    let original = match tx.message(from, seq).await? {
        Some(m) if seq >= member.joined_seq && m.kind == MessageKind::Text && !m.deleted => m,
        _ => {
            return Err(Error::not_found(format!(
                "no message {seq} to forward in conversation {from}"
            )));
        }
    };
    let l = match postable(tx, actor, target, &client_id).await? {
        Ok(l) => l,
        Err(first) => return Ok(first),
    };
    let mut entry = Entry::text(client_id, original.content_type);
    entry.text = original.text;
    entry.data = original.data;
    entry.entities = original.entities;
    entry.forward = Some(original.forward.unwrap_or(Forwarded {
        from: UserInfo {
            id: original.sender,
            handle: original.sender_handle,
            display_name: original.sender_name,
        },
        server_time: original.server_time,
    }));
    append_to_members(tx, actor, &l.lock, entry).await
}

/// Pin a message at the top of a conversation, or unpin (`None`); everyone sees a system entry
/// naming the pinned message in `target`.
pub(crate) async fn pin<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    conversation: ConversationId,
    seq: Option<Seq>,
    client_id: String,
) -> Result<Committed> {
    rules::client_id(&client_id)?;
    let l = lock_member(tx, conversation, actor, Some(&client_id)).await?;
    if let Some(first) = l.first {
        return Ok(first);
    }
    not_blocked(tx, actor, &l).await?;
    rules::can_pin(l.conv.kind, l.member.role)?;
    let target = match seq {
        Some(seq) => {
            let m = visible_message(tx, &l, seq).await?;
            if m.kind != MessageKind::Text || m.deleted {
                return Err(Error::invalid("only a message can be pinned"));
            }
            Some(seq)
        }
        None => match l.conv.pinned {
            Some(old) => Some(old),
            None => return Err(Error::invalid("nothing is pinned here")),
        },
    };
    tx.set_pinned(&l.lock, seq).await?;
    let action = if seq.is_some() { "pinned" } else { "unpinned" };
    let mut entry = Entry::system(SystemEvent {
        action: action.into(),
        handles: Vec::new(),
        names: Vec::new(),
        title: None,
        role: None,
    });
    entry.client_id = Some(client_id);
    entry.target = target;
    append_to_members(tx, actor, &l.lock, entry).await
}

/// The message an edit, deletion, reaction or button press acts on.
pub(crate) enum ChangeTarget {
    /// The command was done before: its first outcome.
    Done(Committed),
    Found(Box<(Locked, Message)>),
}

/// For edit/delete/react: membership, then idempotency, then the target message, which must be
/// visible to the actor.
pub(crate) async fn change_target<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    conversation: ConversationId,
    seq: Seq,
    client_id: &str,
) -> Result<ChangeTarget> {
    rules::client_id(client_id)?;
    let l = lock_member(tx, conversation, actor, Some(client_id)).await?;
    if let Some(first) = l.first {
        return Ok(ChangeTarget::Done(first));
    }
    let message = visible_message(tx, &l, seq).await?;
    Ok(ChangeTarget::Found(Box::new((l, message))))
}

/// Message `seq` of a locked conversation, if the member may see it.
pub(crate) async fn visible_message<T: Tx>(tx: &mut T, l: &Locked, seq: Seq) -> Result<Message> {
    match tx.message(l.conv.id, seq).await? {
        Some(m) if seq >= l.member.joined_seq => Ok(m),
        _ => Err(Error::not_found(format!(
            "no message {seq} in this conversation"
        ))),
    }
}

/// Judge a change of `target` by the actor.
pub(crate) fn may_change(
    op: MessageKind,
    actor: &Principal,
    l: &Locked,
    target: &Message,
) -> Result<()> {
    rules::can_change_message(
        op,
        target.sender == actor.user.id,
        l.member.role,
        target.kind,
        target.deleted,
    )
}

pub(crate) async fn edit<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    (conversation, seq): (ConversationId, Seq),
    client_id: String,
    text: Option<String>,
    data: Option<Bytes>,
) -> Result<Committed> {
    let (l, target) = match change_target(tx, actor, conversation, seq, &client_id).await? {
        ChangeTarget::Done(first) => return Ok(first),
        ChangeTarget::Found(found) => *found,
    };
    may_change(MessageKind::Edit, actor, &l, &target)?;
    not_blocked(tx, actor, &l).await?;
    let ct = target.content_type.clone();
    rules::body(tx.limits(), Some(&ct), text.as_deref(), data.as_ref())?;
    let mut entry = Entry::change(MessageKind::Edit, client_id, ct, seq);
    entry.text = text.clone();
    entry.data = data.clone();
    let committed = append_to_members(tx, actor, &l.lock, entry).await?;
    // Formatting belongs to the old text; buttons stay.
    let words = text
        .as_deref()
        .map(crate::search::words)
        .unwrap_or_default();
    let change = MessageChange::Edit {
        text,
        data,
        entities: Vec::new(),
        reply_markup: target.reply_markup,
        edited_at: tx.now(),
    };
    tx.change_message(&l.lock, seq, &change).await?;
    tx.index_message(&l.lock, seq, &words).await?;
    Ok(committed)
}

pub(crate) async fn delete<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    conversation: ConversationId,
    seq: Seq,
    client_id: String,
) -> Result<Committed> {
    let (l, target) = match change_target(tx, actor, conversation, seq, &client_id).await? {
        ChangeTarget::Done(first) => return Ok(first),
        ChangeTarget::Found(found) => *found,
    };
    may_change(MessageKind::Delete, actor, &l, &target)?;
    let entry = Entry::change(MessageKind::Delete, client_id, target.content_type, seq);
    let committed = append_to_members(tx, actor, &l.lock, entry).await?;
    tx.change_message(&l.lock, seq, &MessageChange::Delete)
        .await?;
    tx.index_message(&l.lock, seq, &[]).await?;
    Ok(committed)
}

pub(crate) async fn react<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    (conversation, seq): (ConversationId, Seq),
    client_id: String,
    emoji: String,
    remove: bool,
) -> Result<Committed> {
    rules::emoji(&emoji)?;
    let (l, target) = match change_target(tx, actor, conversation, seq, &client_id).await? {
        ChangeTarget::Done(first) => return Ok(first),
        ChangeTarget::Found(found) => *found,
    };
    may_change(MessageKind::Reaction, actor, &l, &target)?;
    not_blocked(tx, actor, &l).await?;
    let mut entry = Entry::change(
        MessageKind::Reaction,
        client_id,
        TEXT_PLAIN.to_string(),
        seq,
    );
    entry.text = Some(emoji.clone());
    entry.remove = remove;
    let committed = append_to_members(tx, actor, &l.lock, entry).await?;
    let change = MessageChange::React {
        user: actor.user.id,
        emoji,
        remove,
    };
    tx.change_message(&l.lock, seq, &change).await?;
    Ok(committed)
}

/// Move the actor's markers forward (a marker beyond the last seq is clamped); tell the other
/// members when one moved (groups up to `receipts_fanout_max_members` only).
pub(crate) async fn mark<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    conversation: ConversationId,
    delivered: Option<Seq>,
    read: Option<Seq>,
) -> Result<Committed> {
    let l = lock_member(tx, conversation, actor, None).await?;
    let (conv, member) = (&l.conv, &l.member);
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
        server_time: tx.now(),
        duplicate: false,
        fanout: Vec::new(),
    };
    if read_seq == member.read_seq && delivered_seq == member.delivered_seq {
        return Ok(result);
    }
    tx.set_markers(&l.lock, actor.user.id, delivered_seq, read_seq)
        .await?;
    if conv.blocked {
        return Ok(result);
    }
    let members = tx.member_ids(conv.id).await?;
    if members.len() > tx.limits().receipts_fanout_max_members as usize {
        return Ok(result);
    }
    // Those the actor blocks do not see the actor's receipts.
    let withheld = receipt_filter(tx, actor, conv.kind).await?;
    let others = Recipients::new(
        members
            .into_iter()
            .filter(|u| *u != actor.user.id && !withheld.contains(u))
            .collect(),
    );
    if others.is_empty() {
        return Ok(result);
    }
    let receipt = Receipt {
        conversation: conv.id,
        user: actor.user.id,
        handle: actor.user.handle.clone(),
        delivered_seq,
        read_seq,
    };
    let item = FeedItem {
        kind: ItemKind::Receipt,
        seq: None,
        payload: crate::columns::encode(&receipt)?,
    };
    let recipients = tx.push(&l.lock, &others, &item).await?;
    result.fanout.push(Fanout {
        event: Arc::new(Event::Receipt(receipt)),
        recipients,
    });
    Ok(result)
}
