//! Group commands: create, add, remove, leave, rename, set role.
//!
//! Each one is judged with `chapar_core::rules` and recorded as a System entry in the log, so
//! every member (and every device, through the feed) learns of it in seq order. Who receives the
//! entry follows membership: added members receive their `added` entry (and read from its seq
//! on); a removed or leaving member receives that entry and nothing after it.

use crate::Db;
use crate::commands::{
    Entry, append, append_to_members, committed, event, fan_out_to_members, insert_member,
};
use crate::rows::{
    ConvRow, MemberRow, kind_str, member_ids, member_row, parse_role, require_member, require_user,
};
use crate::writer::Ctx;
use chapar_core::store::{Committed, Principal};
use chapar_core::{Error, Result, rules};
use chapar_proto::{ConversationId, ConversationKind, Role, UserId, UserInfo};
use rusqlite::{OptionalExtension, params};

/// Normalise and look up handles in order, skipping duplicates and `skip` (the actor).
fn resolve(ctx: &Ctx<'_>, handles: &[String], skip: UserId) -> Result<Vec<UserInfo>> {
    let mut users: Vec<UserInfo> = Vec::with_capacity(handles.len());
    for raw in handles {
        let handle = rules::handle(raw)?;
        let user = require_user(ctx.conn, &handle)?;
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

/// Membership and the right kind of conversation, for every command but create.
fn group_member(
    ctx: &Ctx<'_>,
    actor: &Principal,
    id: ConversationId,
) -> Result<(ConvRow, MemberRow)> {
    let (conv, member) = require_member(ctx.conn, id, actor.user.id)?;
    rules::is_group_like(conv.kind)?;
    Ok((conv, member))
}

/// A member named by handle, with their role; `NotFound` when they are not a member.
fn target_member(ctx: &Ctx<'_>, conv: &ConvRow, raw: &str) -> Result<(UserInfo, MemberRow)> {
    let handle = rules::handle(raw)?;
    let user = require_user(ctx.conn, &handle)?;
    let member = member_row(ctx.conn, conv.id, user.id)?.ok_or_else(|| {
        Error::not_found(format!("@{handle} is not a member of this conversation"))
    })?;
    Ok((user, member))
}

fn set_member_role(ctx: &Ctx<'_>, conv: ConversationId, user: UserId, role: Role) -> Result<()> {
    ctx.conn
        .prepare_cached("UPDATE members SET role = ?3 WHERE conversation_id = ?1 AND user_id = ?2")
        .db()?
        .execute(params![conv.0, user.0, role.as_str()])
        .db()?;
    Ok(())
}

fn delete_member(ctx: &Ctx<'_>, conv: ConversationId, user: UserId) -> Result<()> {
    ctx.conn
        .prepare_cached("DELETE FROM members WHERE conversation_id = ?1 AND user_id = ?2")
        .db()?
        .execute(params![conv.0, user.0])
        .db()?;
    Ok(())
}

pub fn create_group(
    ctx: &Ctx<'_>,
    actor: &Principal,
    title: &str,
    handles: &[String],
    client_id: &str,
) -> Result<Committed> {
    rules::client_id(client_id)?;
    let first: Option<(i64, i64)> = ctx
        .conn
        .prepare_cached(
            "SELECT id, created_at FROM conversations
             WHERE creator_device = ?1 AND create_client_id = ?2",
        )
        .db()?
        .query_row(params![actor.device.0, client_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
        .db()?;
    if let Some((id, created_at)) = first {
        return Ok(Committed {
            conversation: ConversationId(id),
            seq: Some(1),
            server_time: created_at,
            duplicate: true,
            fanout: Vec::new(),
        });
    }
    let title = rules::label("title", title, ctx.limits.max_title_chars)?;
    let others = resolve(ctx, handles, actor.user.id)?;
    too_large(ctx, others.len() + 1)?;
    ctx.conn
        .prepare_cached(
            "INSERT INTO conversations (kind, title, last_seq, created_at, updated_at,
                                        creator_device, create_client_id)
             VALUES (?1, ?2, 0, ?3, ?3, ?4, ?5)",
        )
        .db()?
        .execute(params![
            kind_str(ConversationKind::Group),
            title,
            ctx.now,
            actor.device.0,
            client_id
        ])
        .db()?;
    let id = ConversationId(ctx.conn.last_insert_rowid());
    insert_member(ctx, id, actor.user.id, Role::Owner, 1)?;
    for user in &others {
        insert_member(ctx, id, user.id, Role::Member, 1)?;
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
    append_to_members(ctx, actor, &conv, Entry::system(system))
}

pub fn add_members(
    ctx: &Ctx<'_>,
    actor: &Principal,
    id: ConversationId,
    handles: &[String],
) -> Result<Committed> {
    let (conv, member) = group_member(ctx, actor, id)?;
    rules::can_add_members(member.role)?;
    let mut new = Vec::new();
    for user in resolve(ctx, handles, actor.user.id)? {
        if member_row(ctx.conn, conv.id, user.id)?.is_none() {
            new.push(user);
        }
    }
    if new.is_empty() {
        return Err(Error::Conflict("they are already members".into()));
    }
    let current = member_ids(ctx.conn, conv.id)?.len();
    too_large(ctx, current + new.len())?;
    // New members read from the `added` entry on: it takes the next seq.
    let joined = conv.last_seq + 1;
    for user in &new {
        insert_member(ctx, conv.id, user.id, Role::Member, joined)?;
    }
    let system = event("added", new.into_iter().map(|u| u.handle).collect());
    append_to_members(ctx, actor, &conv, Entry::system(system))
}

pub fn remove_member(
    ctx: &Ctx<'_>,
    actor: &Principal,
    id: ConversationId,
    handle: &str,
) -> Result<Committed> {
    let (conv, member) = group_member(ctx, actor, id)?;
    let (user, target) = target_member(ctx, &conv, handle)?;
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
    )?;
    delete_member(ctx, conv.id, user.id)?;
    Ok(committed)
}

pub fn leave(ctx: &Ctx<'_>, actor: &Principal, id: ConversationId) -> Result<Committed> {
    let (conv, member) = group_member(ctx, actor, id)?;
    let message = append(
        ctx,
        actor,
        conv.id,
        Entry::system(event("left", vec![actor.user.handle.clone()])),
    )?;
    // Told before leaving: the one who leaves gets the entry too.
    let fanout = fan_out_to_members(ctx, message)?;
    delete_member(ctx, conv.id, actor.user.id)?;
    if member.role == Role::Owner {
        let mut stmt = ctx
            .conn
            .prepare_cached(
                "SELECT user_id, role, joined_order FROM members WHERE conversation_id = ?1",
            )
            .db()?;
        let rows = stmt
            .query_map([conv.id.0], |r| {
                Ok((
                    UserId(r.get(0)?),
                    parse_role(&r.get::<_, String>(1)?),
                    r.get::<_, i64>(2)?,
                ))
            })
            .db()?;
        let rest = rows.collect::<rusqlite::Result<Vec<_>>>().db()?;
        let candidates: Vec<(Role, i64)> = rest
            .iter()
            .map(|(_, role, order)| (*role, *order))
            .collect();
        if let Some(i) = rules::next_owner(&candidates)
            && let Some((user, _, _)) = rest.get(i)
        {
            set_member_role(ctx, conv.id, *user, Role::Owner)?;
        }
    }
    Ok(committed(fanout))
}

pub fn rename(
    ctx: &Ctx<'_>,
    actor: &Principal,
    id: ConversationId,
    title: &str,
) -> Result<Committed> {
    let (conv, member) = group_member(ctx, actor, id)?;
    rules::can_rename(member.role)?;
    let title = rules::label("title", title, ctx.limits.max_title_chars)?;
    ctx.conn
        .prepare_cached("UPDATE conversations SET title = ?2 WHERE id = ?1")
        .db()?
        .execute(params![conv.id.0, title])
        .db()?;
    let mut system = event("renamed", Vec::new());
    system.title = Some(title);
    append_to_members(ctx, actor, &conv, Entry::system(system))
}

pub fn set_role(
    ctx: &Ctx<'_>,
    actor: &Principal,
    id: ConversationId,
    handle: &str,
    role: Role,
) -> Result<Committed> {
    let (conv, member) = group_member(ctx, actor, id)?;
    rules::can_set_role(member.role, role)?;
    let (user, _) = target_member(ctx, &conv, handle)?;
    if user.id == actor.user.id {
        return Err(Error::invalid("you cannot change your own role"));
    }
    set_member_role(ctx, conv.id, user.id, role)?;
    if role == Role::Owner {
        set_member_role(ctx, conv.id, actor.user.id, Role::Admin)?;
    }
    let mut system = event("role_changed", vec![user.handle]);
    system.role = Some(role);
    append_to_members(ctx, actor, &conv, Entry::system(system))
}
