//! Group commands: create, add, remove, leave, rename, set role.
//!
//! Each one is judged with `chapar_core::rules` under the conversation's row lock and recorded as
//! a System entry in the log, so every member (and every device, through the feed) learns of it
//! in seq order. Added members receive their `added` entry (and read from its seq on); a removed
//! or leaving member receives that entry and nothing after it.

use crate::commands::{Entry, append_to_members, event, insert_member};
use crate::db::{Ctx, col};
use crate::rows::{
    ConvRow, MemberRow, kind_str, lock_member, member_ids, member_row, parse_role, require_user,
};
use chapar_core::store::{Committed, Principal};
use chapar_core::{Error, Result, rules};
use chapar_proto::{ConversationId, ConversationKind, Role, UserId, UserInfo};

/// Normalise and look up handles in order, skipping duplicates and `skip` (the actor).
async fn resolve(ctx: &Ctx<'_>, handles: &[String], skip: UserId) -> Result<Vec<UserInfo>> {
    let mut users: Vec<UserInfo> = Vec::with_capacity(handles.len());
    for raw in handles {
        let handle = rules::handle(raw)?;
        let user = require_user(ctx, &handle).await?;
        if user.id != skip && !users.iter().any(|u| u.id == user.id) {
            users.push(user);
        }
    }
    Ok(users)
}

fn too_large(ctx: &Ctx<'_>, total: usize) -> Result<()> {
    let max = ctx.limits.max_group_members;
    if total > max as usize {
        return Err(Error::TooLarge(format!(
            "a group may have at most {max} members, this would make {total}"
        )));
    }
    Ok(())
}

/// Membership (with the conversation's lock) and the right kind of conversation.
async fn group_member(
    ctx: &Ctx<'_>,
    actor: &Principal,
    id: ConversationId,
) -> Result<(ConvRow, MemberRow)> {
    let (conv, member) = lock_member(ctx, id, actor.user.id).await?;
    rules::is_group_like(conv.kind)?;
    Ok((conv, member))
}

/// A member named by handle, with their role; `NotFound` when they are not a member.
async fn target_member(ctx: &Ctx<'_>, conv: &ConvRow, raw: &str) -> Result<(UserInfo, MemberRow)> {
    let handle = rules::handle(raw)?;
    let user = require_user(ctx, &handle).await?;
    let member = member_row(ctx, conv.id, user.id).await?.ok_or_else(|| {
        Error::not_found(format!("@{handle} is not a member of this conversation"))
    })?;
    Ok((user, member))
}

async fn set_member_role(
    ctx: &Ctx<'_>,
    conv: ConversationId,
    user: UserId,
    role: Role,
) -> Result<()> {
    ctx.exec(
        "UPDATE members SET role = $3 WHERE conversation_id = $1 AND user_id = $2",
        &[&conv.0, &user.0, &role.as_str()],
    )
    .await?;
    Ok(())
}

async fn delete_member(ctx: &Ctx<'_>, conv: ConversationId, user: UserId) -> Result<()> {
    ctx.exec(
        "DELETE FROM members WHERE conversation_id = $1 AND user_id = $2",
        &[&conv.0, &user.0],
    )
    .await?;
    Ok(())
}

async fn first_outcome(
    ctx: &Ctx<'_>,
    actor: &Principal,
    client_id: &str,
) -> Result<Option<Committed>> {
    let first = ctx
        .opt(
            "SELECT id, created_at FROM conversations
             WHERE creator_device = $1 AND create_client_id = $2",
            &[&actor.device.0, &client_id],
        )
        .await?;
    match first {
        Some(r) => Ok(Some(Committed {
            conversation: ConversationId(col(&r, 0)?),
            seq: Some(1),
            server_time: col(&r, 1)?,
            duplicate: true,
            fanout: Vec::new(),
        })),
        None => Ok(None),
    }
}

pub async fn create_group(
    ctx: &Ctx<'_>,
    actor: &Principal,
    title: &str,
    handles: &[String],
    client_id: &str,
) -> Result<Committed> {
    rules::client_id(client_id)?;
    if let Some(first) = first_outcome(ctx, actor, client_id).await? {
        return Ok(first);
    }
    let title = rules::label("title", title, ctx.limits.max_title_chars)?;
    let others = resolve(ctx, handles, actor.user.id).await?;
    too_large(ctx, others.len() + 1)?;
    let created = ctx
        .opt(
            "INSERT INTO conversations (kind, title, last_seq, created_at, updated_at,
                                        creator_device, create_client_id)
             VALUES ($1, $2, 0, $3, $3, $4, $5)
             ON CONFLICT (creator_device, create_client_id) DO NOTHING RETURNING id",
            &[
                &kind_str(ConversationKind::Group),
                &title,
                &ctx.now,
                &actor.device.0,
                &client_id,
            ],
        )
        .await?;
    let Some(created) = created else {
        // The same request committed meanwhile (a retry racing its original on another node).
        return first_outcome(ctx, actor, client_id)
            .await?
            .ok_or_else(|| Error::Unavailable("group creation raced; retry".into()));
    };
    let id = ConversationId(col(&created, 0)?);
    insert_member(ctx, id, actor.user.id, Role::Owner, 1).await?;
    for user in &others {
        insert_member(ctx, id, user.id, Role::Member, 1).await?;
    }
    let mut system = event("created", others.into_iter().map(|u| u.handle).collect());
    system.title = Some(title.clone());
    let conv = ConvRow {
        id,
        kind: ConversationKind::Group,
        title,
        last_seq: 0,
        updated_at: ctx.now,
    };
    append_to_members(ctx, actor, &conv, Entry::system(system)).await
}

pub async fn add_members(
    ctx: &Ctx<'_>,
    actor: &Principal,
    id: ConversationId,
    handles: &[String],
) -> Result<Committed> {
    let (conv, member) = group_member(ctx, actor, id).await?;
    rules::can_add_members(member.role)?;
    let mut new = Vec::new();
    for user in resolve(ctx, handles, actor.user.id).await? {
        if member_row(ctx, conv.id, user.id).await?.is_none() {
            new.push(user);
        }
    }
    if new.is_empty() {
        return Err(Error::Conflict("they are already members".into()));
    }
    let current = member_ids(ctx, conv.id).await?.len();
    too_large(ctx, current + new.len())?;
    // New members read from the `added` entry on: it takes the next seq.
    let joined = conv.last_seq + 1;
    for user in &new {
        insert_member(ctx, conv.id, user.id, Role::Member, joined).await?;
    }
    let system = event("added", new.into_iter().map(|u| u.handle).collect());
    append_to_members(ctx, actor, &conv, Entry::system(system)).await
}

pub async fn remove_member(
    ctx: &Ctx<'_>,
    actor: &Principal,
    id: ConversationId,
    handle: &str,
) -> Result<Committed> {
    let (conv, member) = group_member(ctx, actor, id).await?;
    let (user, target) = target_member(ctx, &conv, handle).await?;
    if user.id == actor.user.id {
        return Err(Error::invalid("to remove yourself, leave the conversation"));
    }
    rules::can_remove(member.role, target.role)?;
    // The removed member is still a member here, so they receive the entry; then they go.
    let committed = append_to_members(
        ctx,
        actor,
        &conv,
        Entry::system(event("removed", vec![user.handle])),
    )
    .await?;
    delete_member(ctx, conv.id, user.id).await?;
    Ok(committed)
}

pub async fn leave(ctx: &Ctx<'_>, actor: &Principal, id: ConversationId) -> Result<Committed> {
    let (conv, member) = group_member(ctx, actor, id).await?;
    // The leaver is still a member here, so they receive their own `left` entry.
    let committed = append_to_members(
        ctx,
        actor,
        &conv,
        Entry::system(event("left", vec![actor.user.handle.clone()])),
    )
    .await?;
    delete_member(ctx, conv.id, actor.user.id).await?;
    if member.role == Role::Owner {
        let rows = ctx
            .query(
                "SELECT user_id, role, joined_order FROM members WHERE conversation_id = $1",
                &[&conv.id.0],
            )
            .await?;
        let mut rest = Vec::with_capacity(rows.len());
        for r in &rows {
            rest.push((
                UserId(col(r, 0)?),
                parse_role(&col::<String>(r, 1)?),
                col::<i64>(r, 2)?,
            ));
        }
        let candidates: Vec<(Role, i64)> = rest
            .iter()
            .map(|(_, role, order)| (*role, *order))
            .collect();
        if let Some(i) = rules::next_owner(&candidates)
            && let Some((user, _, _)) = rest.get(i)
        {
            set_member_role(ctx, conv.id, *user, Role::Owner).await?;
        }
    }
    Ok(committed)
}

pub async fn rename(
    ctx: &Ctx<'_>,
    actor: &Principal,
    id: ConversationId,
    title: &str,
) -> Result<Committed> {
    let (conv, member) = group_member(ctx, actor, id).await?;
    rules::can_rename(member.role)?;
    let title = rules::label("title", title, ctx.limits.max_title_chars)?;
    ctx.exec(
        "UPDATE conversations SET title = $2 WHERE id = $1",
        &[&conv.id.0, &title],
    )
    .await?;
    let mut system = event("renamed", Vec::new());
    system.title = Some(title);
    append_to_members(ctx, actor, &conv, Entry::system(system)).await
}

pub async fn set_role(
    ctx: &Ctx<'_>,
    actor: &Principal,
    id: ConversationId,
    handle: &str,
    role: Role,
) -> Result<Committed> {
    let (conv, member) = group_member(ctx, actor, id).await?;
    rules::can_set_role(member.role, role)?;
    let (user, _) = target_member(ctx, &conv, handle).await?;
    if user.id == actor.user.id {
        return Err(Error::invalid("you cannot change your own role"));
    }
    set_member_role(ctx, conv.id, user.id, role).await?;
    if role == Role::Owner {
        set_member_role(ctx, conv.id, actor.user.id, Role::Admin).await?;
    }
    let mut system = event("role_changed", vec![user.handle]);
    system.role = Some(role);
    append_to_members(ctx, actor, &conv, Entry::system(system)).await
}
