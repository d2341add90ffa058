//! Safety commands: block and unblock, contacts, privacy settings, group invitations, reports,
//! and the operators' moderation.

use super::{handle, parse_conversation, request_session};
use crate::args::{AdminCmd, ContactCmd, GlobalArgs};
use crate::output::{Printer, format_time, visible_inline};
use anyhow::{Context, Result, bail};
use chapar_sdk::proto::{Audience, FileReport, Privacy, ReportReason, SetPrivacy, UserInfo};
use serde_json::json;

fn user_line(out: &Printer, kind: &str, u: &UserInfo) {
    out.info(
        kind,
        &format!("@{}  {}", u.handle, visible_inline(&u.display_name)),
        json!({"id": u.id, "handle": u.handle, "display_name": u.display_name}),
    );
}

pub async fn block(global: &GlobalArgs, out: Printer, who: String, on: bool) -> Result<()> {
    let h = handle(&who);
    let (_p, client) = request_session(global).await?;
    if on {
        client.block(&h).await?;
    } else {
        client.unblock(&h).await?;
    }
    let verb = if on { "blocked" } else { "unblocked" };
    out.info(verb, &format!("{verb} @{h}"), json!({"handle": h}));
    client.close();
    Ok(())
}

pub async fn blocked(global: &GlobalArgs, out: Printer) -> Result<()> {
    let (_p, client) = request_session(global).await?;
    for u in client.blocked().await? {
        user_line(&out, "blocked_user", &u);
    }
    client.close();
    Ok(())
}

pub async fn contact(global: &GlobalArgs, out: Printer, cmd: ContactCmd) -> Result<()> {
    let (_p, client) = request_session(global).await?;
    match cmd {
        ContactCmd::Add { handle: h } => {
            let h = handle(&h);
            client.add_contact(&h).await?;
            out.info(
                "contact_added",
                &format!("added @{h}"),
                json!({"handle": h}),
            );
        }
        ContactCmd::Remove { handle: h } => {
            let h = handle(&h);
            client.remove_contact(&h).await?;
            out.info(
                "contact_removed",
                &format!("removed @{h}"),
                json!({"handle": h}),
            );
        }
        ContactCmd::List => {
            for u in client.contacts().await? {
                user_line(&out, "contact", &u);
            }
        }
    }
    client.close();
    Ok(())
}

fn audience(what: &str, value: Option<String>) -> Result<Option<Audience>> {
    value
        .map(|v| {
            Audience::parse(v.trim())
                .with_context(|| format!("--{what} is everybody, contacts or nobody, not {v:?}"))
        })
        .transpose()
}

fn print_privacy(out: &Printer, p: &Privacy) {
    out.info(
        "privacy",
        &format!(
            "messages: {}\ngroups: {}\nlast seen: {}\nfindable: {}",
            p.messages.as_str(),
            p.groups.as_str(),
            p.last_seen.as_str(),
            p.findable.as_str()
        ),
        json!({
            "messages": p.messages.as_str(), "groups": p.groups.as_str(),
            "last_seen": p.last_seen.as_str(), "findable": p.findable.as_str(),
        }),
    );
}

pub async fn privacy(
    global: &GlobalArgs,
    out: Printer,
    messages: Option<String>,
    groups: Option<String>,
    last_seen: Option<String>,
    findable: Option<String>,
) -> Result<()> {
    let change = SetPrivacy {
        messages: audience("messages", messages)?,
        groups: audience("groups", groups)?,
        last_seen: audience("last-seen", last_seen)?,
        findable: audience("findable", findable)?,
    };
    let (_p, client) = request_session(global).await?;
    let now = if change == SetPrivacy::default() {
        client.privacy().await?
    } else {
        client.set_privacy(change).await?
    };
    print_privacy(&out, &now);
    client.close();
    Ok(())
}

/// `chapar find QUERY`: one line per person found.
pub async fn find(global: &GlobalArgs, out: Printer, query: String) -> Result<()> {
    let (_p, client) = request_session(global).await?;
    for u in client.find_people(&query).await? {
        out.info(
            "user",
            &format!("@{}  {}", u.handle, crate::output::visible(&u.display_name)),
            json!({"id": u.id, "handle": u.handle, "display_name": u.display_name}),
        );
    }
    client.close();
    Ok(())
}

pub async fn presence(
    global: &GlobalArgs,
    out: Printer,
    handles: Vec<String>,
    follow: bool,
) -> Result<()> {
    let (_p, client, mut events) = super::session(global, false).await?;
    let mut names = std::collections::HashMap::new();
    for h in &handles {
        let u = client.user(handle(h)).await?;
        names.insert(u.id, u.handle);
    }
    let ids: Vec<_> = names.keys().copied().collect();
    let shown = client.watch_presence(ids.clone()).await?;
    for id in &ids {
        let name = names.get(id).map(String::as_str);
        match shown.iter().find(|p| p.user == *id) {
            Some(p) => out.presence(name, p),
            None => out.info(
                "presence",
                &format!("@{}  hidden", name.unwrap_or_default()),
                json!({"user": id, "handle": name, "hidden": true}),
            ),
        }
    }
    if !follow {
        client.close();
        return Ok(());
    }
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => break,
            ev = events.recv() => match ev {
                None => bail!("the client stopped"),
                Some(chapar_sdk::ClientEvent::Presence(p)) => {
                    out.presence(names.get(&p.user).map(String::as_str), &p);
                }
                // A watch ends with its connection: watch again on the new one.
                Some(chapar_sdk::ClientEvent::Connected(_)) => {
                    let client = client.clone();
                    let ids = ids.clone();
                    tokio::spawn(async move { client.watch_presence(ids).await });
                }
                Some(_) => {}
            }
        }
    }
    client.close();
    Ok(())
}

pub async fn invitations(global: &GlobalArgs, out: Printer) -> Result<()> {
    let (_p, client) = request_session(global).await?;
    for i in client.invitations().await? {
        out.invitation(&i);
    }
    client.close();
    Ok(())
}

pub async fn answer(
    global: &GlobalArgs,
    out: Printer,
    conversation: String,
    accept: bool,
) -> Result<()> {
    let conv = parse_conversation(&conversation)?;
    let (_p, client) = request_session(global).await?;
    if accept {
        let c = client.accept_invitation(conv).await?;
        out.conversation(&c);
    } else {
        client.decline_invitation(conv).await?;
        out.info(
            "declined",
            &format!("declined the invitation to {}", conv.0),
            json!({"conversation": conv}),
        );
    }
    client.close();
    Ok(())
}

pub async fn report(
    global: &GlobalArgs,
    out: Printer,
    target: String,
    seq: Option<u64>,
    reason: String,
    comment: Option<String>,
) -> Result<()> {
    let reason = ReportReason::parse(reason.trim()).with_context(|| {
        format!("--reason is spam, abuse, illegal, impersonation or other, not {reason:?}")
    })?;
    let mut report = FileReport {
        conversation: None,
        seq: None,
        handle: None,
        reason,
        comment,
    };
    match (target.trim().strip_prefix('@'), seq) {
        (Some(h), None) => report.handle = Some(handle(h)),
        (Some(_), Some(_)) => bail!("report a user as @handle, or a message as CONVERSATION SEQ"),
        (None, Some(seq)) => {
            report.conversation = Some(parse_conversation(&target)?);
            report.seq = Some(seq);
        }
        (None, None) => bail!("give the message's seq after the conversation id"),
    }
    let (_p, client) = request_session(global).await?;
    let id = client.report(report).await?;
    out.info(
        "reported",
        &format!("report {id} sent to the operators"),
        json!({"id": id}),
    );
    client.close();
    Ok(())
}

pub async fn admin(global: &GlobalArgs, out: Printer, cmd: AdminCmd) -> Result<()> {
    let (_p, client) = request_session(global).await?;
    match cmd {
        AdminCmd::Reports { all, limit } => {
            for r in client.admin_reports(all, limit).await? {
                out.report(&r);
            }
        }
        AdminCmd::Resolve { report, resolution } => {
            client.admin_resolve(report, resolution).await?;
            out.info(
                "resolved",
                &format!("report {report} resolved"),
                json!({"id": report}),
            );
        }
        AdminCmd::Suspend { handle: h, reason } => {
            let h = handle(&h);
            client.admin_suspend(&h, reason).await?;
            out.info(
                "suspended",
                &format!("suspended @{h}"),
                json!({"handle": h}),
            );
        }
        AdminCmd::Unsuspend { handle: h } => {
            let h = handle(&h);
            client.admin_unsuspend(&h).await?;
            out.info(
                "unsuspended",
                &format!("lifted the suspension of @{h}"),
                json!({"handle": h}),
            );
        }
        AdminCmd::Delete {
            conversation,
            seq,
            reason,
        } => {
            let conv = parse_conversation(&conversation)?;
            out.sent(&client.admin_delete(conv, seq, reason).await?);
        }
        AdminCmd::Audit { limit } => {
            for a in client.admin_audit(limit).await? {
                let by = a
                    .operator
                    .as_ref()
                    .map(|u| format!("@{}", u.handle))
                    .unwrap_or_else(|| "server".into());
                out.info(
                    "audit",
                    &format!(
                        "{}  {by}  {}  {}  {}",
                        format_time(a.at),
                        a.action,
                        a.target,
                        visible_inline(&a.detail)
                    ),
                    json!({
                        "id": a.id, "at": a.at, "operator": a.operator.as_ref().map(|u| &u.handle),
                        "action": a.action, "target": a.target, "detail": a.detail,
                    }),
                );
            }
        }
    }
    client.close();
    Ok(())
}
