//! Group commands: create, add, remove, leave, rename.

use super::{handle, parse_conversation, request_session};
use crate::args::{GlobalArgs, GroupCmd};
use crate::output::Printer;
use anyhow::{Result, bail};
use serde_json::json;

pub async fn group(global: &GlobalArgs, out: Printer, cmd: GroupCmd) -> Result<()> {
    // Parse everything before connecting, so bad input fails fast.
    match &cmd {
        GroupCmd::Create { title, .. } | GroupCmd::Rename { title, .. }
            if title.trim().is_empty() =>
        {
            bail!("the title is empty")
        }
        GroupCmd::Add { conversation, .. }
        | GroupCmd::Remove { conversation, .. }
        | GroupCmd::Leave { conversation }
        | GroupCmd::Rename { conversation, .. }
        | GroupCmd::Describe { conversation, .. }
        | GroupCmd::Info { conversation } => {
            parse_conversation(conversation)?;
        }
        GroupCmd::Create { .. } => {}
    }
    let (_p, client) = request_session(global).await?;
    match cmd {
        GroupCmd::Create { title, members } => {
            let members = members.iter().map(|h| handle(h)).collect();
            let c = client.create_group(title, members).await?;
            out.info(
                "group",
                &format!("created group {} {:?}", c.id, c.title),
                json!({"conversation": c.id, "title": c.title, "members": c.member_count}),
            );
        }
        GroupCmd::Add {
            conversation,
            handles,
        } => {
            let conv = parse_conversation(&conversation)?;
            let handles = handles.iter().map(|h| handle(h)).collect();
            out.sent(&client.add_members(conv, handles).await?);
        }
        GroupCmd::Remove {
            conversation,
            handle: h,
        } => {
            let conv = parse_conversation(&conversation)?;
            out.sent(&client.remove_member(conv, handle(&h)).await?);
        }
        GroupCmd::Leave { conversation } => {
            let conv = parse_conversation(&conversation)?;
            out.sent(&client.leave(conv).await?);
        }
        GroupCmd::Rename {
            conversation,
            title,
        } => {
            let conv = parse_conversation(&conversation)?;
            out.sent(&client.rename(conv, title).await?);
        }
        GroupCmd::Describe {
            conversation,
            description,
        } => {
            let conv = parse_conversation(&conversation)?;
            out.sent(&client.set_description(conv, description).await?);
        }
        GroupCmd::Info { conversation } => {
            let conv = parse_conversation(&conversation)?;
            let c = client.conversation(conv).await?;
            out.info(
                "group",
                &format!(
                    "{} {:?} · {} members\n{}",
                    c.id,
                    c.title,
                    c.member_count,
                    crate::output::visible(&c.description)
                ),
                json!({"conversation": c.id, "title": c.title, "members": c.member_count,
                       "description": c.description, "pinned": c.pinned}),
            );
        }
    }
    client.close();
    Ok(())
}
