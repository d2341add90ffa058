//! Message commands: send, history, react, edit, delete, read, members.

use super::{parse_target, request_session, resolve_conversation};
use crate::args::GlobalArgs;
use crate::output::Printer;
use anyhow::{Result, bail};
use serde_json::json;

pub async fn send(
    global: &GlobalArgs,
    out: Printer,
    target: String,
    text: String,
    reply_to: Option<u64>,
) -> Result<()> {
    let target = parse_target(&target)?;
    if text.is_empty() {
        bail!("the message text is empty");
    }
    let (_p, client) = request_session(global).await?;
    let sent = client.send_text(target, text, reply_to).await?;
    out.sent(&sent);
    client.close();
    Ok(())
}

pub async fn history(
    global: &GlobalArgs,
    out: Printer,
    target: String,
    limit: Option<u32>,
    before: Option<u64>,
) -> Result<()> {
    let target = parse_target(&target)?;
    let (_p, client) = request_session(global).await?;
    out.history(client.history(target, before, limit).await?);
    client.close();
    Ok(())
}

pub async fn search(
    global: &GlobalArgs,
    out: Printer,
    query: String,
    conversation: Option<String>,
    before: Option<i64>,
) -> Result<()> {
    let (_p, client) = request_session(global).await?;
    let conv = match &conversation {
        Some(c) => Some(resolve_conversation(&client, c).await?),
        None => None,
    };
    for m in client.search_messages(&query, conv, before).await? {
        out.message(&m);
    }
    client.close();
    Ok(())
}

pub async fn members(global: &GlobalArgs, out: Printer, conversation: String) -> Result<()> {
    let (_p, client) = request_session(global).await?;
    let conv = resolve_conversation(&client, &conversation).await?;
    for m in client.members(conv).await? {
        out.member(&m);
    }
    client.close();
    Ok(())
}

pub async fn forward(
    global: &GlobalArgs,
    out: Printer,
    conversation: String,
    seq: u64,
    target: String,
) -> Result<()> {
    let to = parse_target(&target)?;
    let (_p, client) = request_session(global).await?;
    let from = resolve_conversation(&client, &conversation).await?;
    out.sent(&client.forward(to, from, seq).await?);
    client.close();
    Ok(())
}

pub async fn pin(
    global: &GlobalArgs,
    out: Printer,
    conversation: String,
    seq: Option<u64>,
) -> Result<()> {
    let (_p, client) = request_session(global).await?;
    let conv = resolve_conversation(&client, &conversation).await?;
    out.sent(&client.pin(conv, seq).await?);
    client.close();
    Ok(())
}

pub async fn archive(
    global: &GlobalArgs,
    out: Printer,
    conversation: String,
    archived: bool,
) -> Result<()> {
    let (_p, client) = request_session(global).await?;
    let conv = resolve_conversation(&client, &conversation).await?;
    client.archive(conv, archived).await?;
    let text = if archived {
        "archived"
    } else {
        "taken out of the archive"
    };
    out.info(
        "archived",
        &format!("conversation {conv} {text}"),
        json!({"conversation": conv, "archived": archived}),
    );
    client.close();
    Ok(())
}

pub async fn clear(global: &GlobalArgs, out: Printer, conversation: String) -> Result<()> {
    let (_p, client) = request_session(global).await?;
    let conv = resolve_conversation(&client, &conversation).await?;
    client.clear_history(conv).await?;
    out.info(
        "cleared",
        &format!("conversation {conv}: its history is deleted for you"),
        json!({"conversation": conv}),
    );
    client.close();
    Ok(())
}

pub async fn react(
    global: &GlobalArgs,
    out: Printer,
    conversation: String,
    seq: u64,
    emoji: String,
    remove: bool,
) -> Result<()> {
    let (_p, client) = request_session(global).await?;
    let conv = resolve_conversation(&client, &conversation).await?;
    out.sent(&client.react(conv, seq, emoji, remove).await?);
    client.close();
    Ok(())
}

pub async fn edit(
    global: &GlobalArgs,
    out: Printer,
    conversation: String,
    seq: u64,
    text: String,
) -> Result<()> {
    let (_p, client) = request_session(global).await?;
    let conv = resolve_conversation(&client, &conversation).await?;
    out.sent(&client.edit(conv, seq, text).await?);
    client.close();
    Ok(())
}

pub async fn delete(
    global: &GlobalArgs,
    out: Printer,
    conversation: String,
    seq: u64,
    for_me: bool,
) -> Result<()> {
    let (_p, client) = request_session(global).await?;
    let conv = resolve_conversation(&client, &conversation).await?;
    if for_me {
        client.hide_message(conv, seq).await?;
        out.info(
            "hidden",
            &format!("message {seq} of conversation {conv} is deleted for you"),
            json!({"conversation": conv, "seq": seq}),
        );
    } else {
        out.sent(&client.delete(conv, seq).await?);
    }
    client.close();
    Ok(())
}

/// Mark read up to `seq`, or up to the conversation's newest message.
pub async fn read(
    global: &GlobalArgs,
    out: Printer,
    conversation: String,
    seq: Option<u64>,
) -> Result<()> {
    let (_p, client) = request_session(global).await?;
    let conv = resolve_conversation(&client, &conversation).await?;
    let seq = match seq {
        Some(s) => s,
        None => client
            .conversations()
            .await?
            .iter()
            .find(|c| c.id == conv)
            .map(|c| c.last_seq)
            .ok_or_else(|| anyhow::anyhow!("not_found: no conversation {conv} in your list"))?,
    };
    client.mark(conv, None, Some(seq)).await?;
    out.info(
        "read",
        &format!("conversation {conv} read up to #{seq}"),
        json!({"conversation": conv, "read_seq": seq}),
    );
    client.close();
    Ok(())
}
