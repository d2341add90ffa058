//! Group commands: create, add, remove, leave, rename, set role.
//!
//! Each one is judged with [`crate::rules`] and recorded as a system entry in the log, so every
//! member (and every device, through the feed) learns of it in seq order. Who receives the entry
//! follows membership: added members receive their `added` entry (and read from its seq on); a
//! removed or leaving member receives that entry and nothing after it.

use super::messages::{Locked, append_to_members, lock_member, lock_new, require_user};
use super::safety::{Admission, admission, count_new_chat, invite};
use crate::error::{Error, Result};
use crate::rules;
use crate::storage::{Entry, MemberRow, NewConversation, Tx};
use crate::store::{Committed, Principal};
use chapar_proto::{ConversationId, ConversationKind, Role, SystemEvent, UserId, UserInfo};

/// A system entry about `users` (their handles, and their names as they are now).
pub(crate) fn event(action: &str, users: Vec<UserInfo>) -> SystemEvent {
    let (handles, names) = users
        .into_iter()
        .map(|u| (u.handle, u.display_name))
        .unzip();
    SystemEvent {
        action: action.to_string(),
        handles,
        names,
        title: None,
        role: None,
    }
}

/// Normalise and look up handles in order, skipping repeats and `skip` (the actor).
async fn resolve<T: Tx>(tx: &mut T, handles: &[String], skip: UserId) -> Result<Vec<UserInfo>> {
    let mut users: Vec<UserInfo> = Vec::with_capacity(handles.len());
    for raw in handles {
        let handle = rules::handle(raw)?;
        let user = require_user(tx, &handle).await?;
        if user.id != skip && !users.iter().any(|u| u.id == user.id) {
            users.push(user);
        }
    }
    Ok(users)
}

/// Split the people to add into those added now and those invited ([`admission`]).
async fn admit<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    users: Vec<UserInfo>,
) -> Result<(Vec<UserInfo>, Vec<UserInfo>)> {
    let (mut added, mut invited) = (Vec::new(), Vec::new());
    for user in users {
        match admission(tx, actor, &user).await? {
            Admission::Add => added.push(user),
            Admission::Invite => invited.push(user),
        }
    }
    Ok((added, invited))
}

/// The outcome of a command that appended `first` and may then have invited people: both
/// fan-outs, the later entry's seq.
fn merge(mut first: Committed, then: Option<Committed>) -> Committed {
    if let Some(then) = then {
        first.seq = then.seq;
        first.server_time = then.server_time;
        first.fanout.extend(then.fanout);
    }
    first
}

fn within_size<T: Tx>(tx: &T, total: usize) -> Result<()> {
    let max = tx.limits().max_group_members;
    if total > max as usize {
        return Err(Error::TooLarge(format!(
            "a group may have at most {max} members, this would make {total}"
        )));
    }
    Ok(())
}

/// Membership and the right kind of conversation, for every command but create.
async fn group_member<T: Tx>(tx: &mut T, actor: &Principal, id: ConversationId) -> Result<Locked> {
    let l = lock_member(tx, id, actor, None).await?;
    rules::is_group_like(l.conv.kind)?;
    Ok(l)
}

/// A member named by handle, with their row; `NotFound` when they are not a member.
async fn target_member<T: Tx>(
    tx: &mut T,
    conv: ConversationId,
    raw: &str,
) -> Result<(UserInfo, MemberRow)> {
    let handle = rules::handle(raw)?;
    let user = require_user(tx, &handle).await?;
    let member = tx.member(conv, user.id).await?.ok_or_else(|| {
        Error::not_found(format!("@{handle} is not a member of this conversation"))
    })?;
    Ok((user, member))
}

/// The creator becomes owner; the `created` entry is seq 1. Idempotent on (device, client_id).
pub(crate) async fn create<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    title: &str,
    handles: &[String],
    client_id: &str,
) -> Result<Committed> {
    rules::client_id(client_id)?;
    if let Some((id, created_at)) = tx.group_created_by(actor.device, client_id).await? {
        return Ok(Committed {
            conversation: id,
            seq: Some(1),
            server_time: created_at,
            duplicate: true,
            fanout: Vec::new(),
        });
    }
    let title = rules::label("title", title, tx.limits().max_title_chars)?;
    let others = resolve(tx, handles, actor.user.id).await?;
    within_size(tx, others.len() + 1)?;
    let (others, invited) = admit(tx, actor, others).await?;
    count_new_chat(tx, actor).await?;
    let new = NewConversation {
        kind: ConversationKind::Group,
        title: title.clone(),
        direct_key: None,
        creator: Some((actor.device, client_id.to_string())),
    };
    let id = tx
        .insert_conversation(&new)
        .await?
        .ok_or_else(|| Error::Unavailable("the new group could not be stored".into()))?;
    let lock = lock_new(tx, id, actor).await?;
    tx.insert_member(&lock, actor.user.id, Role::Owner, 1)
        .await?;
    for user in &others {
        tx.insert_member(&lock, user.id, Role::Member, 1).await?;
    }
    let mut system = event("created", others);
    system.title = Some(title.clone());
    let created = append_to_members(tx, actor, &lock, Entry::system(system)).await?;
    let invitations = match invited.is_empty() {
        true => None,
        false => Some(invite(tx, actor, &lock, &title, invited).await?),
    };
    Ok(merge(created, invitations))
}

pub(crate) async fn add_members<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    id: ConversationId,
    handles: &[String],
) -> Result<Committed> {
    let l = group_member(tx, actor, id).await?;
    rules::can_add_members(l.member.role)?;
    let mut new = Vec::new();
    for user in resolve(tx, handles, actor.user.id).await? {
        if tx.member(l.conv.id, user.id).await?.is_none() {
            new.push(user);
        }
    }
    if new.is_empty() {
        return Err(Error::Conflict("they are already members".into()));
    }
    let current = tx.member_ids(l.conv.id).await?.len();
    within_size(tx, current + new.len())?;
    let (new, invited) = admit(tx, actor, new).await?;
    let title = l.conv.title.clone();
    if new.is_empty() {
        return invite(tx, actor, &l.lock, &title, invited).await;
    }
    // New members read from the `added` entry on: it takes the next seq.
    let joined = l.conv.last_seq + 1;
    for user in &new {
        tx.insert_member(&l.lock, user.id, Role::Member, joined)
            .await?;
    }
    let system = event("added", new);
    let added = append_to_members(tx, actor, &l.lock, Entry::system(system)).await?;
    let invitations = match invited.is_empty() {
        true => None,
        false => Some(invite(tx, actor, &l.lock, &title, invited).await?),
    };
    Ok(merge(added, invitations))
}

pub(crate) async fn remove_member<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    id: ConversationId,
    handle: &str,
) -> Result<Committed> {
    let l = group_member(tx, actor, id).await?;
    let (user, target) = target_member(tx, l.conv.id, handle).await?;
    if user.id == actor.user.id {
        return Err(Error::invalid("to remove yourself, leave the conversation"));
    }
    rules::can_remove(l.member.role, target.role)?;
    // The removed member is still a member here, so they receive the entry; then they go.
    let system = event("removed", vec![user.clone()]);
    let committed = append_to_members(tx, actor, &l.lock, Entry::system(system)).await?;
    tx.delete_member(&l.lock, user.id).await?;
    Ok(committed)
}

pub(crate) async fn leave<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    id: ConversationId,
) -> Result<Committed> {
    let l = group_member(tx, actor, id).await?;
    // Told before leaving: the one who leaves gets the entry too.
    let system = event("left", vec![actor.user.clone()]);
    let committed = append_to_members(tx, actor, &l.lock, Entry::system(system)).await?;
    tx.delete_member(&l.lock, actor.user.id).await?;
    if l.member.role == Role::Owner {
        let rest = tx.member_roles(l.conv.id).await?;
        let candidates: Vec<(Role, i64)> = rest.iter().map(|(_, r, o)| (*r, *o)).collect();
        if let Some(i) = rules::next_owner(&candidates)
            && let Some((user, _, _)) = rest.get(i)
        {
            tx.set_role(&l.lock, *user, Role::Owner).await?;
        }
    }
    Ok(committed)
}

pub(crate) async fn rename<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    id: ConversationId,
    title: &str,
) -> Result<Committed> {
    let l = group_member(tx, actor, id).await?;
    rules::can_rename(l.member.role)?;
    let title = rules::label("title", title, tx.limits().max_title_chars)?;
    tx.set_title(&l.lock, &title).await?;
    let mut system = event("renamed", Vec::new());
    system.title = Some(title);
    append_to_members(tx, actor, &l.lock, Entry::system(system)).await
}

/// Most characters of a group's description.
const MAX_DESCRIPTION_CHARS: u32 = 255;

/// Set a group's description (admins and the owner; empty clears it); members see a
/// `description_changed` entry and read the conversation again.
pub(crate) async fn set_description<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    id: ConversationId,
    raw: &str,
) -> Result<Committed> {
    let l = group_member(tx, actor, id).await?;
    rules::can_rename(l.member.role)?;
    let description = match raw.trim() {
        "" => String::new(),
        text => rules::label("description", text, MAX_DESCRIPTION_CHARS)?,
    };
    tx.set_description(&l.lock, &description).await?;
    let system = event("description_changed", Vec::new());
    append_to_members(tx, actor, &l.lock, Entry::system(system)).await
}

pub(crate) async fn set_role<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    id: ConversationId,
    handle: &str,
    role: Role,
) -> Result<Committed> {
    let l = group_member(tx, actor, id).await?;
    rules::can_set_role(l.member.role, role)?;
    let (user, _) = target_member(tx, l.conv.id, handle).await?;
    if user.id == actor.user.id {
        return Err(Error::invalid("you cannot change your own role"));
    }
    tx.set_role(&l.lock, user.id, role).await?;
    if role == Role::Owner {
        tx.set_role(&l.lock, actor.user.id, Role::Admin).await?;
    }
    let mut system = event("role_changed", vec![user]);
    system.role = Some(role);
    append_to_members(tx, actor, &l.lock, Entry::system(system)).await
}
