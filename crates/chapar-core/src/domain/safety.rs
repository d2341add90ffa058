//! Safety: blocking and contacts, privacy settings (who may start a chat with me, add me to a
//! group, see my last seen), group invitations, reports, daily limits against spam, and the
//! operator's moderation with its audit log.
//!
//! A block is one row per direction; a direct conversation either of whose people blocks the
//! other carries a `blocked` flag, set here under the conversation's lock, so a send checks it
//! for free. Operators are accounts with the `operator` flag (granted on the server's command
//! line); every operator action is written to the audit log in the same transaction.

use super::messages::{Locked, append_to_members, require_member, require_user};
use crate::error::{Error, Result};
use crate::rules;
use crate::storage::{
    AccountUpdate, ConvLock, Entry, FeedItem, ItemKind, MessageChange, NewAudit, NewReport,
    Recipients, Relation, RelationKind, Tx,
};
use crate::store::{Committed, Fanout, Principal};
use chapar_proto::{
    Audience, AuditEntry, ConversationId, ConversationKind, Event, FileReport, FindPeople,
    Invitation, MessageKind, Privacy, Report, Seq, SetPrivacy, TEXT_PLAIN, UserId, UserInfo,
};
use std::sync::Arc;

const DAY_MS: i64 = 86_400_000;

/// Most users listed in one blocked or contacts list, and in one group's receipts filter.
const MAX_RELATED: u32 = 10_000;

/// Most characters of a report's comment, a suspension's reason or a report's resolution.
const MAX_NOTE_CHARS: u32 = 1000;

fn today<T: Tx>(tx: &T) -> i64 {
    tx.now().div_euclid(DAY_MS)
}

/// Count one more `what` for the actor today; refuse when it passes `max` (the count is rolled
/// back with the refused command).
async fn within_daily<T: Tx>(
    tx: &mut T,
    actor: UserId,
    what: &str,
    max: u32,
    refusal: impl FnOnce(u32) -> String,
) -> Result<()> {
    let day = today(tx);
    if tx.count_daily(actor, what, day).await? > max {
        return Err(Error::forbidden(refusal(max)));
    }
    Ok(())
}

/// True while the account is within its first `new_account_hours`.
pub(crate) fn is_new<T: Tx>(tx: &T, actor: &Principal) -> bool {
    tx.limits().is_new_account(actor.since, tx.now())
}

/// The actor starts a new conversation (a direct chat or a group): within the daily limit,
/// lower for new accounts.
pub(crate) async fn count_new_chat<T: Tx>(tx: &mut T, actor: &Principal) -> Result<()> {
    let limits = tx.limits();
    let max = if is_new(tx, actor) {
        limits.new_account_new_chats_per_day
    } else {
        limits.new_chats_per_day
    };
    within_daily(tx, actor.user.id, "new_chat", max, |max| {
        format!("you can start at most {max} new conversations a day; try again tomorrow")
    })
    .await
}

fn label_note(what: &str, raw: &str) -> Result<String> {
    let note = raw.trim();
    if note.chars().nth(MAX_NOTE_CHARS as usize).is_some() {
        return Err(Error::TooLarge(format!(
            "the {what} is longer than {MAX_NOTE_CHARS} characters"
        )));
    }
    if let Some(c) = note
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return Err(Error::invalid(format!(
            "the {what} contains the control character U+{:04X}",
            c as u32
        )));
    }
    Ok(note.to_string())
}

// ---- blocking and contacts ----

/// Block or unblock, add or remove a contact.
pub(crate) async fn set_relation<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    raw: &str,
    kind: RelationKind,
    on: bool,
) -> Result<()> {
    let handle = rules::handle(raw)?;
    let other = require_user(tx, &handle).await?;
    if other.id == actor.user.id {
        return Err(Error::invalid(match kind {
            RelationKind::Block => "you cannot block yourself",
            RelationKind::Contact => "you cannot add yourself as a contact",
        }));
    }
    if kind == RelationKind::Contact {
        return tx.set_relation(actor.user.id, other.id, kind, on).await;
    }
    // The direct conversation's lock comes first, so a block and an unblock between the same
    // two people cannot pass each other when they recompute its flag.
    let key = rules::direct_key(actor.user.id, other.id);
    let direct = tx.direct_conversation(&key).await?;
    let locked = match direct {
        Some(id) => tx
            .lock(id, actor.user.id, None)
            .await?
            .map(|row| (ConvLock::new(id), row.conv.blocked)),
        None => None,
    };
    tx.set_relation(actor.user.id, other.id, kind, on).await?;
    if let Some((lock, was)) = locked {
        let blocked = on || tx.relation(other.id, actor.user.id).await?.blocked;
        if blocked != was {
            tx.set_blocked(&lock, blocked).await?;
        }
    }
    Ok(())
}

pub(crate) async fn related<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    kind: RelationKind,
) -> Result<Vec<UserInfo>> {
    tx.related(actor.user.id, kind, MAX_RELATED).await
}

/// Refuse to append to a blocked direct conversation, saying who blocks whom.
pub(crate) async fn not_blocked<T: Tx>(tx: &mut T, actor: &Principal, l: &Locked) -> Result<()> {
    if !l.conv.blocked {
        return Ok(());
    }
    let members = tx.members(l.conv.id).await?;
    let Some(peer) = members.into_iter().find(|m| m.user.id != actor.user.id) else {
        return Err(Error::forbidden("this conversation is blocked"));
    };
    if tx.relation(actor.user.id, peer.user.id).await?.blocked {
        Err(Error::forbidden(format!(
            "you blocked @{}: unblock them to send messages",
            peer.user.handle
        )))
    } else {
        Err(Error::forbidden(format!(
            "@{} does not accept messages from you",
            peer.user.handle
        )))
    }
}

/// Who starts a new direct conversation: a person is judged by the peer's privacy settings and
/// the daily limit; a bot or service account (already judged by its own rules) by blocks only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Starter {
    Person,
    Bot,
}

/// May the actor start a direct conversation with `peer`?
pub(crate) async fn may_start_chat<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    peer: &UserInfo,
    starter: Starter,
) -> Result<()> {
    if tx.relation(actor.user.id, peer.id).await?.blocked {
        return Err(Error::forbidden(format!(
            "you blocked @{}: unblock them to send messages",
            peer.handle
        )));
    }
    let theirs = tx.relation(peer.id, actor.user.id).await?;
    if theirs.blocked {
        return Err(Error::forbidden(format!(
            "@{} does not accept messages from you",
            peer.handle
        )));
    }
    if starter == Starter::Bot {
        return Ok(());
    }
    let privacy = privacy_of(tx, peer.id).await?;
    if !admits(privacy.messages, &theirs) {
        return Err(Error::forbidden(format!(
            "@{} does not accept new chats from people outside their contacts",
            peer.handle
        )));
    }
    count_new_chat(tx, actor).await
}

/// Whether a setting's audience includes someone, given what the setter set about them.
pub(crate) fn admits(audience: Audience, theirs: &Relation) -> bool {
    match audience {
        Audience::Everybody => true,
        Audience::Contacts => theirs.contact,
        Audience::Nobody => false,
    }
}

async fn privacy_of<T: Tx>(tx: &mut T, user: UserId) -> Result<Privacy> {
    Ok(tx
        .account(user)
        .await?
        .map(|a| a.privacy)
        .unwrap_or_default())
}

/// How a person named in `create_group` or `add_members` joins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    Add,
    Invite,
}

/// Judge adding `user` to a group by the actor: refused when either blocks the other, an
/// invitation when the user's privacy settings do not let the actor add them.
pub(crate) async fn admission<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    user: &UserInfo,
) -> Result<Admission> {
    if tx.relation(actor.user.id, user.id).await?.blocked {
        return Err(Error::forbidden(format!(
            "you blocked @{}: unblock them to add them",
            user.handle
        )));
    }
    let theirs = tx.relation(user.id, actor.user.id).await?;
    if theirs.blocked {
        return Err(Error::forbidden(format!(
            "@{} cannot be added to groups by you",
            user.handle
        )));
    }
    let Some(account) = tx.account(user.id).await? else {
        return Ok(Admission::Add);
    };
    let allowed = admits(account.privacy.groups, &theirs);
    Ok(if allowed {
        Admission::Add
    } else {
        Admission::Invite
    })
}

/// Record invitations of `users` to a locked group, tell each of them, and note it in the
/// group's log. Returns the outcome with both fan-outs.
pub(crate) async fn invite<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    lock: &ConvLock,
    title: &str,
    users: Vec<UserInfo>,
) -> Result<Committed> {
    let most = tx.limits().max_pending_invitations;
    for user in &users {
        if tx.pending_invitations(user.id, lock.id()).await? >= most {
            return Err(Error::forbidden(format!(
                "@{} has too many group invitations waiting: they must answer some first",
                user.handle
            )));
        }
        tx.put_invitation(lock, user.id, actor.user.id).await?;
    }
    let invitation = Invitation {
        conversation: lock.id(),
        title: title.to_string(),
        inviter: actor.user.clone(),
        created_at: tx.now(),
    };
    let item = FeedItem {
        kind: ItemKind::Invitation,
        seq: None,
        payload: crate::columns::encode(&invitation)?,
    };
    let to = Recipients::new(users.iter().map(|u| u.id).collect());
    let recipients = tx.push(lock, &to, &item).await?;
    let system = super::groups::event("invited", users);
    let mut committed = append_to_members(tx, actor, lock, Entry::system(system)).await?;
    committed.fanout.push(Fanout {
        event: Arc::new(Event::Invitation(invitation)),
        recipients,
    });
    Ok(committed)
}

pub(crate) async fn invitations<T: Tx>(tx: &mut T, actor: &Principal) -> Result<Vec<Invitation>> {
    tx.invitations(actor.user.id, MAX_RELATED).await
}

/// Join a group the actor was invited to: a `joined` entry, read from on.
pub(crate) async fn accept_invitation<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    id: ConversationId,
) -> Result<Committed> {
    let no_invitation = || Error::not_found("you have no invitation to this group");
    let row = tx
        .lock(id, actor.user.id, None)
        .await?
        .ok_or_else(no_invitation)?;
    let lock = ConvLock::new(id);
    tx.take_invitation(id, actor.user.id)
        .await?
        .ok_or_else(no_invitation)?;
    if row.member.is_some() {
        return Err(Error::Conflict("you are already a member".into()));
    }
    let max = tx.limits().max_group_members;
    if tx.member_ids(id).await?.len() >= max as usize {
        return Err(Error::TooLarge(format!(
            "a group may have at most {max} members"
        )));
    }
    let groups_max = tx.limits().groups_joined_per_day;
    within_daily(tx, actor.user.id, "group_joined", groups_max, |max| {
        format!("you can join at most {max} groups a day; try again tomorrow")
    })
    .await?;
    tx.insert_member(
        &lock,
        actor.user.id,
        chapar_proto::Role::Member,
        row.conv.last_seq + 1,
    )
    .await?;
    let system = super::groups::event("joined", vec![actor.user.clone()]);
    append_to_members(tx, actor, &lock, Entry::system(system)).await
}

pub(crate) async fn decline_invitation<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    id: ConversationId,
) -> Result<()> {
    match tx.take_invitation(id, actor.user.id).await? {
        Some(_) => Ok(()),
        None => Err(Error::not_found("you have no invitation to this group")),
    }
}

/// The users whose receipts from the actor are withheld: those the actor blocks.
pub(crate) async fn receipt_filter<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    kind: ConversationKind,
) -> Result<Vec<UserId>> {
    if kind == ConversationKind::Direct {
        return Ok(Vec::new());
    }
    let blocked = tx
        .related(actor.user.id, RelationKind::Block, MAX_RELATED)
        .await?;
    Ok(blocked.into_iter().map(|u| u.id).collect())
}

// ---- privacy ----

pub(crate) async fn privacy<T: Tx>(tx: &mut T, actor: &Principal) -> Result<Privacy> {
    privacy_of(tx, actor.user.id).await
}

/// Most people `find_people` returns, and its default.
const FIND_MAX: u32 = 20;
const FIND_DEFAULT: u32 = 10;

/// People whose handle (or, unless the query starts with `@`, display name) starts with the
/// query, without the actor, those who block the actor and those whose "who can find me"
/// setting leaves the actor out.
pub(crate) async fn find_people<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    q: &FindPeople,
) -> Result<Vec<UserInfo>> {
    let raw = q.query.trim();
    let handle_only = raw.starts_with('@');
    let text = raw.trim_start_matches('@').trim().to_lowercase();
    let chars = text.chars().count();
    if chars < 2 {
        return Err(Error::invalid("type at least 2 characters to find people"));
    }
    if chars > 64 || text.chars().any(char::is_control) {
        return Err(Error::invalid("that is not a name or handle to search for"));
    }
    let limit = q.limit.unwrap_or(FIND_DEFAULT).clamp(1, FIND_MAX);
    let name = (!handle_only).then_some(text.as_str());
    let mut found = Vec::new();
    for user in tx.find_users(&text, name, limit * 3).await? {
        if user.id != actor.user.id && findable(tx, actor, &user).await? {
            found.push(user);
            if found.len() == limit as usize {
                break;
            }
        }
    }
    Ok(found)
}

async fn findable<T: Tx>(tx: &mut T, actor: &Principal, user: &UserInfo) -> Result<bool> {
    let theirs = tx.relation(user.id, actor.user.id).await?;
    if theirs.blocked {
        return Ok(false);
    }
    let Some(account) = tx.account(user.id).await? else {
        return Ok(true);
    };
    Ok(admits(account.privacy.findable, &theirs))
}

pub(crate) async fn set_privacy<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    change: SetPrivacy,
) -> Result<Privacy> {
    let mut privacy = privacy_of(tx, actor.user.id).await?;
    if let Some(a) = change.messages {
        privacy.messages = a;
    }
    if let Some(a) = change.groups {
        privacy.groups = a;
    }
    if let Some(a) = change.last_seen {
        privacy.last_seen = a;
    }
    if let Some(a) = change.findable {
        privacy.findable = a;
    }
    tx.update_account(actor.user.id, &AccountUpdate::Privacy(privacy))
        .await?;
    Ok(privacy)
}

// ---- reports ----

pub(crate) async fn report<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    report: FileReport,
) -> Result<u64> {
    let comment = match report.comment.as_deref().map(str::trim) {
        Some(c) if !c.is_empty() => Some(label_note("comment", c)?),
        _ => None,
    };
    let (user, conversation, seq, text) = match (report.conversation, report.seq, report.handle) {
        (Some(conv), Some(seq), None) => {
            let (_, member) = require_member(tx, conv, actor.user.id).await?;
            let message = match tx.message(conv, seq).await? {
                Some(m) if seq >= member.joined_seq && m.kind == MessageKind::Text => m,
                _ => {
                    return Err(Error::not_found(format!(
                        "no message {seq} in this conversation"
                    )));
                }
            };
            let sender = require_user(tx, &message.sender_handle).await?;
            (sender, Some(conv), Some(seq), message.text)
        }
        (None, None, Some(raw)) => {
            let handle = rules::handle(&raw)?;
            (require_user(tx, &handle).await?, None, None, None)
        }
        _ => {
            return Err(Error::invalid(
                "report a message (conversation and seq) or a user (handle), not both",
            ));
        }
    };
    if user.id == actor.user.id {
        return Err(Error::invalid("you cannot report yourself"));
    }
    let max = tx.limits().reports_per_day;
    within_daily(tx, actor.user.id, "report", max, |max| {
        format!("you can file at most {max} reports a day")
    })
    .await?;
    let new = NewReport {
        reporter: actor.user.id,
        user: user.id,
        conversation,
        seq,
        text,
        reason: report.reason,
        comment,
    };
    tx.insert_report(&new).await
}

// ---- operators ----

/// A moderation action.
#[derive(Clone, Debug)]
pub enum AdminOp {
    Resolve {
        report: u64,
        resolution: String,
    },
    Suspend {
        handle: String,
        reason: String,
    },
    Unsuspend {
        handle: String,
    },
    /// Make an account an operator or not (the server's command line only).
    Grant {
        handle: String,
        operator: bool,
    },
}

/// Refuse unless the actor is an operator. `None` is the server's command line.
async fn operator<T: Tx>(tx: &mut T, actor: Option<&Principal>) -> Result<Option<UserId>> {
    let Some(actor) = actor else {
        return Ok(None);
    };
    match tx.account(actor.user.id).await? {
        Some(a) if a.operator => Ok(Some(actor.user.id)),
        _ => Err(Error::forbidden("only the server's operators may do this")),
    }
}

async fn audit_entry<T: Tx>(
    tx: &mut T,
    operator: Option<UserId>,
    action: &str,
    target: String,
    detail: String,
) -> Result<()> {
    let entry = NewAudit {
        operator,
        action: action.to_string(),
        target,
        detail,
    };
    tx.insert_audit(&entry).await
}

/// Run a moderation action; returns the user it was done to, if any (a suspended user's
/// connections are closed by the caller on every node).
pub(crate) async fn admin<T: Tx>(
    tx: &mut T,
    actor: Option<&Principal>,
    op: AdminOp,
) -> Result<Option<UserInfo>> {
    let by = operator(tx, actor).await?;
    match op {
        AdminOp::Resolve { report, resolution } => {
            let resolution = label_note("resolution", &resolution)?;
            if !tx.resolve_report(report, &resolution).await? {
                return Err(Error::not_found(format!("no open report {report}")));
            }
            audit_entry(
                tx,
                by,
                "resolve_report",
                format!("report {report}"),
                resolution,
            )
            .await?;
            Ok(None)
        }
        AdminOp::Suspend { handle, reason } => {
            let user = require_user(tx, &rules::handle(&handle)?).await?;
            if Some(user.id) == by {
                return Err(Error::invalid("you cannot suspend yourself"));
            }
            let reason = label_note("reason", &reason)?;
            if reason.is_empty() {
                return Err(Error::invalid("give a reason for the suspension"));
            }
            let suspended = Some((tx.now(), reason.clone()));
            tx.update_account(user.id, &AccountUpdate::Suspended(suspended))
                .await?;
            let ended = tx.delete_sessions(user.id).await?;
            let detail = format!("{reason} ({ended} sessions ended)");
            audit_entry(tx, by, "suspend", format!("@{}", user.handle), detail).await?;
            Ok(Some(user))
        }
        AdminOp::Unsuspend { handle } => {
            let user = require_user(tx, &rules::handle(&handle)?).await?;
            tx.update_account(user.id, &AccountUpdate::Suspended(None))
                .await?;
            audit_entry(
                tx,
                by,
                "unsuspend",
                format!("@{}", user.handle),
                String::new(),
            )
            .await?;
            Ok(Some(user))
        }
        AdminOp::Grant { handle, operator } => {
            let user = require_user(tx, &rules::handle(&handle)?).await?;
            tx.update_account(user.id, &AccountUpdate::Operator(operator))
                .await?;
            let action = if operator {
                "grant_operator"
            } else {
                "revoke_operator"
            };
            audit_entry(tx, by, action, format!("@{}", user.handle), String::new()).await?;
            Ok(Some(user))
        }
    }
}

/// An operator deletes a message for everyone: a `delete` entry by the operator, the message's
/// text (and every edit's) gone, as when its sender deletes it.
pub(crate) async fn admin_delete<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    conversation: ConversationId,
    seq: Seq,
    reason: Option<String>,
) -> Result<Committed> {
    let by = operator(tx, Some(actor)).await?;
    let reason = label_note("reason", reason.as_deref().unwrap_or(""))?;
    let missing = || {
        Error::not_found(format!(
            "no message {seq} in conversation {}",
            conversation.0
        ))
    };
    tx.lock(conversation, actor.user.id, None)
        .await?
        .ok_or_else(missing)?;
    let lock = ConvLock::new(conversation);
    let message = match tx.message(conversation, seq).await? {
        Some(m) if m.kind == MessageKind::Text => m,
        _ => return Err(missing()),
    };
    if message.deleted {
        return Err(Error::Conflict("that message is already deleted".into()));
    }
    let mut entry = Entry::change(
        MessageKind::Delete,
        String::new(),
        TEXT_PLAIN.to_string(),
        seq,
    );
    entry.client_id = None;
    let committed = append_to_members(tx, actor, &lock, entry).await?;
    tx.change_message(&lock, seq, &MessageChange::Delete)
        .await?;
    tx.index_message(&lock, seq, &[]).await?;
    let target = format!("conversation {} seq {seq}", conversation.0);
    let detail = match reason.is_empty() {
        true => format!("sent by @{}", message.sender_handle),
        false => format!("sent by @{}: {reason}", message.sender_handle),
    };
    audit_entry(tx, by, "delete_message", target, detail).await?;
    Ok(committed)
}

pub(crate) async fn reports<T: Tx>(
    tx: &mut T,
    actor: &Principal,
    all: bool,
    limit: u32,
) -> Result<Vec<Report>> {
    operator(tx, Some(actor)).await?;
    tx.reports(all, limit).await
}

pub(crate) async fn audit<T: Tx>(
    tx: &mut T,
    actor: Option<&Principal>,
    limit: u32,
) -> Result<Vec<AuditEntry>> {
    operator(tx, actor).await?;
    tx.audit(limit).await
}

/// Refuse to sign in to a suspended account.
pub(crate) async fn not_suspended<T: Tx>(tx: &mut T, user: UserId) -> Result<()> {
    if let Some((_, reason)) = tx.account(user).await?.and_then(|a| a.suspended) {
        return Err(Error::forbidden(format!(
            "this account is suspended by the server's operators: {reason}"
        )));
    }
    Ok(())
}
