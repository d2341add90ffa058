//! The bot requests of the WebSocket protocol: a person creates bots and service accounts,
//! lists them, re-issues or revokes their tokens, sets their privacy mode, presses buttons under
//! bot messages, and allows service accounts to message them.

use crate::auth;
use crate::state::App;
use chapar_core::bots::{BotAction, BotOp, NewBot};
use chapar_core::store::Principal;
use chapar_core::{Error, Result, rules};
use chapar_proto::{BotKind, BotToken, Event, Request, Response};
use rand::RngCore as _;
use std::sync::Arc;

/// The token shown once to the owner: the bot's id and the secret (only the secret's hash is
/// stored, and the id is known only after the store assigns it).
fn shown_token(id: chapar_proto::UserId, secret: &str) -> String {
    format!("{id}:{secret}")
}

pub async fn handle(app: &Arc<App>, p: &Principal, request: Request) -> Result<Response> {
    let store = &app.store;
    match request {
        Request::CreateBot(c) => {
            let kind = c.kind.unwrap_or_default();
            if !matches!(kind, BotKind::Bot | BotKind::Service) {
                return Err(Error::invalid("kind must be bot or service"));
            }
            let handle = rules::handle(&c.handle)?;
            // The token names the bot's id, which the store assigns: store the hash of the
            // secret alone, and show the full token once the id is known.
            let secret = auth::new_token();
            let mut key = vec![0u8; 32];
            rand::thread_rng().fill_bytes(&mut key);
            let bot = store
                .manage_bot(
                    p,
                    BotOp::Create(NewBot {
                        kind,
                        handle,
                        display_name: c.display_name.unwrap_or_default(),
                        public_key: key,
                        token_hash: auth::hash_secret(&secret),
                    }),
                )
                .await?;
            let token = shown_token(bot.user.id, &secret);
            Ok(Response::BotToken(BotToken {
                bot,
                token: Some(token),
            }))
        }
        Request::Bots => Ok(Response::Bots(store.bots(p).await?)),
        Request::BotToken(t) => {
            if t.revoke {
                let bot = store
                    .manage_bot(
                        p,
                        BotOp::Token {
                            handle: t.handle,
                            token_hash: None,
                        },
                    )
                    .await?;
                return Ok(Response::BotToken(BotToken { bot, token: None }));
            }
            let secret = auth::new_token();
            let bot = store
                .manage_bot(
                    p,
                    BotOp::Token {
                        handle: t.handle,
                        token_hash: Some(auth::hash_secret(&secret)),
                    },
                )
                .await?;
            let token = shown_token(bot.user.id, &secret);
            Ok(Response::BotToken(BotToken {
                bot,
                token: Some(token),
            }))
        }
        Request::BotAccess(a) => Ok(Response::Bot(
            store
                .manage_bot(
                    p,
                    BotOp::ReadAll {
                        handle: a.handle,
                        read_all: a.read_all,
                    },
                )
                .await?,
        )),
        Request::PressButton(b) => {
            let committed = store
                .execute_bot(
                    p,
                    BotAction::PressButton {
                        conversation: b.conversation,
                        seq: b.seq,
                        data: b.data,
                    },
                )
                .await?;
            let query_id = committed
                .fanout
                .iter()
                .find_map(|f| match f.event.as_ref() {
                    Event::CallbackQuery(q) => Some(q.id.clone()),
                    _ => None,
                })
                .ok_or_else(|| Error::Unavailable("the press was not recorded".into()))?;
            Ok(Response::Pressed { query_id })
        }
        Request::AllowService(a) => {
            store.set_consent(p, &a.handle, a.allowed).await?;
            Ok(Response::Ok)
        }
        other => Err(Error::invalid(format!(
            "`{}` is not a bot request",
            other.method()
        ))),
    }
}
