//! Bot commands: create, list, re-issue and revoke bot tokens, privacy mode, service accounts
//! (create, allow, stop), and pressing a button under a bot's message.

use super::{handle, request_session, resolve_conversation, session};
use crate::args::{BotCmd, GlobalArgs, ServiceCmd};
use crate::output::Printer;
use anyhow::{Context, Result, anyhow, bail};
use chapar_sdk::proto::bot::{AllowService, BotAccess, BotTokenRequest, CreateBot, PressButton};
use chapar_sdk::proto::{BotKind, BotToken, InlineButton, ReplyMarkup, Request, Response, Target};
use chapar_sdk::{Client, ClientEvent};
use serde_json::json;
use std::time::Duration;

async fn bot_token(client: &Client, request: Request) -> Result<BotToken> {
    match client.request(request).await? {
        Response::BotToken(t) => Ok(t),
        other => Err(anyhow!("unexpected reply {other:?}")),
    }
}

async fn create(
    global: &GlobalArgs,
    out: Printer,
    kind: BotKind,
    h: String,
    name: Option<String>,
) -> Result<()> {
    let (_p, client) = request_session(global).await?;
    let t = bot_token(
        &client,
        Request::CreateBot(CreateBot {
            handle: handle(&h),
            display_name: name,
            kind: Some(kind),
        }),
    )
    .await?;
    out.bot(&t.bot, t.token.as_deref());
    client.close();
    Ok(())
}

pub async fn bot(global: &GlobalArgs, out: Printer, cmd: BotCmd) -> Result<()> {
    let revoke = matches!(cmd, BotCmd::Revoke { .. });
    match cmd {
        BotCmd::Create { handle: h, name } => {
            return create(global, out, BotKind::Bot, h, name).await;
        }
        BotCmd::List => {
            let (_p, client) = request_session(global).await?;
            match client.request(Request::Bots).await? {
                Response::Bots(list) => {
                    for b in &list {
                        out.bot(b, None);
                    }
                }
                other => bail!("unexpected reply {other:?}"),
            }
            client.close();
        }
        BotCmd::Token { handle: h } | BotCmd::Revoke { handle: h } => {
            let (_p, client) = request_session(global).await?;
            let t = bot_token(
                &client,
                Request::BotToken(BotTokenRequest {
                    handle: handle(&h),
                    revoke,
                }),
            )
            .await?;
            if revoke {
                out.info(
                    "revoked",
                    &format!("the token of @{} no longer works", t.bot.user.handle),
                    json!({"handle": t.bot.user.handle, "bot": t.bot.user.id}),
                );
            } else {
                out.bot(&t.bot, t.token.as_deref());
            }
            client.close();
        }
        BotCmd::Privacy { handle: h, mode } => {
            let read_all = match mode.as_str() {
                "on" => false,
                "off" => true,
                other => bail!("privacy mode is on or off, not {other:?}"),
            };
            let (_p, client) = request_session(global).await?;
            match client
                .request(Request::BotAccess(BotAccess {
                    handle: handle(&h),
                    read_all,
                }))
                .await?
            {
                Response::Bot(b) => out.bot(&b, None),
                other => bail!("unexpected reply {other:?}"),
            }
            client.close();
        }
    }
    Ok(())
}

pub async fn service(global: &GlobalArgs, out: Printer, cmd: ServiceCmd) -> Result<()> {
    let (h, allowed) = match cmd {
        ServiceCmd::Create { handle: h, name } => {
            return create(global, out, BotKind::Service, h, name).await;
        }
        ServiceCmd::Allow { handle: h } => (h, true),
        ServiceCmd::Deny { handle: h } => (h, false),
    };
    let (_p, client) = request_session(global).await?;
    let h = handle(&h);
    client
        .request(Request::AllowService(AllowService {
            handle: h.clone(),
            allowed,
        }))
        .await?;
    out.info(
        "service",
        &if allowed {
            format!("@{h} may now send you notifications")
        } else {
            format!("@{h} may no longer send you notifications")
        },
        json!({"handle": h, "allowed": allowed}),
    );
    client.close();
    Ok(())
}

/// The button `arg` names: its label (any case), else its number as `history` shows it (1-based,
/// counting row by row), else its callback data.
fn pick_button<'a>(markup: &'a ReplyMarkup, arg: &str) -> Option<&'a InlineButton> {
    let arg = arg.trim();
    markup
        .buttons()
        .find(|b| b.text.trim().eq_ignore_ascii_case(arg))
        .or_else(|| {
            let n: usize = arg.parse().ok()?;
            markup.buttons().nth(n.checked_sub(1)?)
        })
        .or_else(|| {
            markup
                .buttons()
                .find(|b| b.callback_data.as_deref() == Some(arg))
        })
}

/// Press the button `button` names (see [`pick_button`]) under message `seq`, then wait up to
/// `wait` seconds for the bot's answer.
pub async fn press(
    global: &GlobalArgs,
    out: Printer,
    conversation: String,
    seq: u64,
    button: String,
    wait: u64,
) -> Result<()> {
    let (_p, client, mut events) = session(global, false).await?;
    let conv = resolve_conversation(&client, &conversation).await?;
    let page = client
        .history(Target::Conversation(conv), Some(seq + 1), Some(1))
        .await?;
    let message = page
        .into_iter()
        .find(|m| m.seq == seq)
        .with_context(|| format!("not_found: no message #{seq} in conversation {conv}"))?;
    let markup = message
        .reply_markup
        .with_context(|| format!("message #{seq} has no buttons"))?;
    let chosen = pick_button(&markup, &button).cloned().with_context(|| {
        let labels: Vec<String> = markup
            .buttons()
            .enumerate()
            .map(|(i, b)| format!("{} [{}]", i + 1, b.text))
            .collect();
        format!(
            "no button {button:?} under #{seq}; its buttons: {}",
            labels.join("  ")
        )
    })?;
    let Some(data) = chosen.callback_data else {
        let url = chosen.url.unwrap_or_default();
        out.info(
            "link",
            &format!("{} opens {url}", chosen.text),
            json!({"text": chosen.text, "url": url}),
        );
        client.close();
        return Ok(());
    };
    let query_id = match client
        .request(Request::PressButton(PressButton {
            conversation: conv,
            seq,
            data,
        }))
        .await?
    {
        Response::Pressed { query_id } => query_id,
        other => bail!("unexpected reply {other:?}"),
    };
    out.info(
        "pressed",
        &format!("pressed {:?} under #{seq}", chosen.text),
        json!({"conversation": conv, "seq": seq, "query_id": query_id}),
    );
    if wait > 0 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
        loop {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(ClientEvent::CallbackAnswer(a))) if a.query_id == query_id => {
                    out.callback_answer(&a);
                    break;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    eprintln!("note: the bot did not answer within {wait} s");
                    break;
                }
            }
        }
    }
    client.close();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn button(text: &str, data: &str) -> InlineButton {
        serde_json::from_value(json!({"text": text, "callback_data": data})).unwrap()
    }

    #[test]
    fn buttons_are_picked_by_label_number_or_data() {
        let markup = ReplyMarkup {
            inline_keyboard: vec![
                vec![button("Yes", "y"), button("No", "n")],
                vec![button("۳ Maybe 🤔", "m"), button("2", "two")],
            ],
        };
        let pick = |a: &str| pick_button(&markup, a).map(|b| b.text.as_str());
        assert_eq!(pick("yes"), Some("Yes"));
        assert_eq!(pick(" No "), Some("No"));
        assert_eq!(pick("1"), Some("Yes"));
        assert_eq!(pick("3"), Some("۳ Maybe 🤔"));
        // A label wins over a number.
        assert_eq!(pick("2"), Some("2"));
        assert_eq!(pick("4"), Some("2"));
        assert_eq!(pick("m"), Some("۳ Maybe 🤔"));
        assert_eq!(pick("0"), None);
        assert_eq!(pick("5"), None);
        assert_eq!(pick("nope"), None);
    }
}
