//! Conformance cases. Bots and service accounts: ownership and tokens, messages with buttons and
//! entities, edits, button presses, who may open a direct conversation, bot state.

use super::*;
use crate::bots::{Bot, BotAction, BotChange, BotOp, MenuCommand, NewBot, Webhook};
use chapar_proto::{BotKind, CallbackQuery, Entity, InlineButton, ReplyMarkup};

fn new_bot(kind: BotKind, handle: &str) -> (NewBot, SecretHash) {
    let token = fresh(5);
    (
        NewBot {
            kind,
            handle: handle.into(),
            display_name: format!("{handle} name"),
            public_key: fresh(3).to_vec(),
            token_hash: token,
        },
        token,
    )
}

/// Create a bot owned by `owner`; returns its state (with its principal).
async fn make_bot<S: Store>(s: &S, owner: &Principal, kind: BotKind, handle: &str) -> Bot {
    let (new, token) = new_bot(kind, handle);
    let info = ok(s.manage_bot(owner, BotOp::Create(new)).await, "create bot");
    assert_eq!((info.kind, info.has_token), (kind, true));
    let bot = ok(s.bot_session(token).await, "bot session").expect("token works");
    assert_eq!(bot.id(), info.user.id);
    bot
}

fn keyboard(data: &[&str]) -> ReplyMarkup {
    ReplyMarkup {
        inline_keyboard: vec![
            data.iter()
                .map(|d| InlineButton {
                    text: d.to_uppercase(),
                    callback_data: Some(d.to_string()),
                    url: None,
                })
                .collect(),
        ],
    }
}

fn bot_send(target: Target, cid: &str, text: &str, markup: Option<ReplyMarkup>) -> BotAction {
    BotAction::Send {
        target,
        client_id: cid.into(),
        text: text.into(),
        entities: Vec::new(),
        reply_markup: markup,
        reply_to: None,
    }
}

fn bot_edit(
    conversation: ConversationId,
    seq: Seq,
    cid: &str,
    text: Option<&str>,
    markup: Option<ReplyMarkup>,
) -> BotAction {
    BotAction::Edit {
        conversation,
        seq,
        client_id: cid.into(),
        text: text.map(Into::into),
        entities: Vec::new(),
        reply_markup: markup,
    }
}

async fn message_at<S: Store>(s: &S, who: &Principal, conv: ConversationId, seq: Seq) -> Message {
    let page = ok(
        s.history(who, Target::Conversation(conv), Some(seq + 1), 1)
            .await,
        "history",
    );
    page.into_iter()
        .find(|m| m.seq == seq)
        .unwrap_or_else(|| panic!("message {seq} not in history"))
}

pub async fn bots_are_owned_and_their_tokens_managed<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let bob = signup(&s, "bob").await;
    let (new, first_token) = new_bot(BotKind::Bot, "echo_bot");
    let info = ok(s.manage_bot(&alice, BotOp::Create(new)).await, "create");
    assert_eq!(info.user.handle, "echo_bot");
    assert!(!info.read_all && !info.webhook);
    let (taken, _) = new_bot(BotKind::Bot, "echo_bot");
    expect(
        s.manage_bot(&bob, BotOp::Create(taken)).await,
        ErrorCode::Conflict,
        "handle taken",
    );
    let (person_taken, _) = new_bot(BotKind::Bot, "alice");
    expect(
        s.manage_bot(&bob, BotOp::Create(person_taken)).await,
        ErrorCode::Conflict,
        "a person's handle",
    );
    let (bad, _) = new_bot(BotKind::Bot, "No Spaces");
    expect(
        s.manage_bot(&bob, BotOp::Create(bad)).await,
        ErrorCode::Invalid,
        "bad handle",
    );
    let service = make_bot(&s, &alice, BotKind::Service, "shop").await;
    let mine = ok(s.bots(&alice).await, "list");
    assert_eq!(
        mine.iter()
            .map(|b| b.user.handle.as_str())
            .collect::<Vec<_>>(),
        vec!["echo_bot", "shop"]
    );
    assert!(ok(s.bots(&bob).await, "bob's list").is_empty());
    // The bot is a user others can find and write to.
    assert_eq!(
        ok(s.user_by_handle("echo_bot").await, "lookup").id,
        info.user.id
    );
    // Only the owner changes it.
    expect(
        s.manage_bot(
            &bob,
            BotOp::Token {
                handle: "echo_bot".into(),
                token_hash: Some(fresh(5)),
            },
        )
        .await,
        ErrorCode::NotFound,
        "not the owner",
    );
    expect(
        s.manage_bot(
            &alice,
            BotOp::ReadAll {
                handle: "bob".into(),
                read_all: true,
            },
        )
        .await,
        ErrorCode::NotFound,
        "a person is not a bot",
    );
    let bot = ok(s.bot_session(first_token).await, "session").expect("first token");
    assert_eq!(bot.principal.user.handle, "echo_bot");
    assert_eq!(
        (bot.kind, bot.owner, bot.offset),
        (BotKind::Bot, alice.user.id, 0)
    );
    // Re-issue: the old token stops working at once.
    let second = fresh(5);
    ok(
        s.manage_bot(
            &alice,
            BotOp::Token {
                handle: "@Echo_Bot".into(),
                token_hash: Some(second),
            },
        )
        .await,
        "re-issue",
    );
    assert!(ok(s.bot_session(first_token).await, "old").is_none());
    assert!(ok(s.bot_session(second).await, "new").is_some());
    let revoked = ok(
        s.manage_bot(
            &alice,
            BotOp::Token {
                handle: "echo_bot".into(),
                token_hash: None,
            },
        )
        .await,
        "revoke",
    );
    assert!(!revoked.has_token);
    assert!(ok(s.bot_session(second).await, "revoked").is_none());
    // Still a bot (found by id), just without a token.
    let by_id = ok(s.bot(info.user.id).await, "by id").expect("bot");
    assert_eq!(by_id.principal, bot.principal);
    let open = ok(
        s.manage_bot(
            &alice,
            BotOp::ReadAll {
                handle: "echo_bot".into(),
                read_all: true,
            },
        )
        .await,
        "read all",
    );
    assert!(open.read_all);
    assert!(ok(s.bot(info.user.id).await, "by id").is_some_and(|b| b.read_all));
    assert!(ok(s.bot(alice.user.id).await, "a person").is_none());
    assert_eq!(service.kind, BotKind::Service);
}

pub async fn bot_messages_carry_buttons_and_edits_replace_them<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let bot = make_bot(&s, &alice, BotKind::Bot, "echo_bot").await;
    let b = &bot.principal;
    let hi = ok(
        s.execute(
            &alice,
            text_cmd(Target::Peer("echo_bot".into()), "a1", "/start"),
        )
        .await,
        "person to bot",
    );
    let conv = hi.conversation;
    let bold = Entity {
        kind: "bold".into(),
        offset: 0,
        length: 5,
        url: None,
        language: None,
    };
    let sent = ok(
        s.execute_bot(
            b,
            BotAction::Send {
                target: Target::Conversation(conv),
                client_id: "b1".into(),
                text: "hello there".into(),
                entities: vec![bold.clone()],
                reply_markup: Some(keyboard(&["yes", "no"])),
                reply_to: Some(1),
            },
        )
        .await,
        "bot send",
    );
    assert_eq!(sent.seq, Some(2));
    assert_eq!(
        recipients(&sent),
        sorted(vec![alice.user.id, bot.id()]),
        "a bot message reaches every member"
    );
    let again = ok(
        s.execute_bot(b, bot_send(Target::Conversation(conv), "b1", "x", None))
            .await,
        "retry",
    );
    assert!(again.duplicate && again.seq == Some(2) && again.fanout.is_empty());
    let m = message_at(&s, &alice, conv, 2).await;
    assert_eq!(m.text.as_deref(), Some("hello there"));
    assert_eq!(
        (m.entities.clone(), m.reply_to),
        (vec![bold.clone()], Some(1))
    );
    assert_eq!(m.reply_markup, Some(keyboard(&["yes", "no"])));
    // Buttons only: the text and its entities stay.
    let e1 = ok(
        s.execute_bot(b, bot_edit(conv, 2, "e1", None, Some(keyboard(&["maybe"]))))
            .await,
        "edit buttons",
    );
    let entry = match e1.fanout.first().map(|f| f.event.as_ref()) {
        Some(Event::Message(m)) => m.clone(),
        other => panic!("edit fan-out: {other:?}"),
    };
    assert_eq!((entry.kind, entry.target), (MessageKind::Edit, Some(2)));
    assert_eq!(
        entry.text.as_deref(),
        Some("hello there"),
        "edit entries carry the text"
    );
    assert_eq!(entry.reply_markup, Some(keyboard(&["maybe"])));
    let m = message_at(&s, &alice, conv, 2).await;
    assert_eq!(m.text.as_deref(), Some("hello there"));
    assert_eq!(m.entities, vec![bold]);
    assert_eq!(m.reply_markup, Some(keyboard(&["maybe"])));
    // New text without buttons removes the buttons (as Telegram).
    ok(
        s.execute_bot(b, bot_edit(conv, 2, "e2", Some("HELLO"), None))
            .await,
        "edit text",
    );
    let m = message_at(&s, &alice, conv, 2).await;
    assert_eq!(m.text.as_deref(), Some("HELLO"));
    assert!(m.entities.is_empty() && m.reply_markup.is_none());
    assert!(m.edited_at.is_some());
    expect(
        s.execute_bot(b, bot_edit(conv, 2, "e3", Some("HELLO"), None))
            .await,
        ErrorCode::Invalid,
        "not modified",
    );
    expect(
        s.execute_bot(b, bot_edit(conv, 1, "e4", Some("mine now"), None))
            .await,
        ErrorCode::Forbidden,
        "someone else's message",
    );
    expect(
        s.execute_bot(b, bot_edit(conv, 99, "e5", Some("?"), None))
            .await,
        ErrorCode::NotFound,
        "no such message",
    );
    // Bad buttons, entities and text change nothing.
    let last = ok(s.conversation(&alice, conv).await, "info").last_seq;
    let wide = ReplyMarkup {
        inline_keyboard: vec![
            keyboard(&["a", "b", "c", "d", "e", "f", "g", "h", "i"])
                .inline_keyboard
                .remove(0),
        ],
    };
    expect(
        s.execute_bot(
            b,
            bot_send(Target::Conversation(conv), "x1", "hi", Some(wide)),
        )
        .await,
        ErrorCode::TooLarge,
        "nine buttons in a row",
    );
    let mut no_data = keyboard(&["a"]);
    no_data.inline_keyboard[0][0].callback_data = None;
    expect(
        s.execute_bot(
            b,
            bot_send(Target::Conversation(conv), "x2", "hi", Some(no_data)),
        )
        .await,
        ErrorCode::Invalid,
        "a button without action",
    );
    expect(
        s.execute_bot(
            b,
            BotAction::Send {
                target: Target::Conversation(conv),
                client_id: "x3".into(),
                text: "hi".into(),
                entities: vec![Entity {
                    kind: "bold".into(),
                    offset: 1,
                    length: 5,
                    url: None,
                    language: None,
                }],
                reply_markup: None,
                reply_to: None,
            },
        )
        .await,
        ErrorCode::Invalid,
        "entity outside the text",
    );
    expect(
        s.execute_bot(b, bot_send(Target::Conversation(conv), "x4", " ", None))
            .await,
        ErrorCode::Invalid,
        "empty text",
    );
    assert_eq!(
        ok(s.conversation(&alice, conv).await, "info").last_seq,
        last,
        "failed actions appended nothing"
    );
}

pub async fn bots_wait_to_be_addressed_and_services_for_consent<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let carol = signup(&s, "carol").await;
    let bot = make_bot(&s, &alice, BotKind::Bot, "echo_bot").await;
    let shop = make_bot(&s, &alice, BotKind::Service, "shop").await;
    assert_eq!(
        ok(
            s.direct_conversation(&bot.principal, carol.user.id).await,
            "none yet"
        ),
        None
    );
    expect(
        s.execute_bot(
            &bot.principal,
            bot_send(Target::Peer("carol".into()), "b1", "hi", None),
        )
        .await,
        ErrorCode::Forbidden,
        "a bot cannot start a conversation",
    );
    let started = ok(
        s.execute(
            &carol,
            text_cmd(Target::Peer("echo_bot".into()), "c1", "hi"),
        )
        .await,
        "carol starts",
    );
    assert_eq!(
        ok(
            s.direct_conversation(&bot.principal, carol.user.id).await,
            "found"
        ),
        Some(started.conversation)
    );
    assert_eq!(
        ok(s.direct_conversation(&carol, bot.id()).await, "both ways"),
        Some(started.conversation)
    );
    let reply = ok(
        s.execute_bot(
            &bot.principal,
            bot_send(Target::Peer("carol".into()), "b2", "hello", None),
        )
        .await,
        "bot answers",
    );
    assert_eq!(reply.conversation, started.conversation);
    let to_carol = bot_send(
        Target::Peer("carol".into()),
        "s1",
        "your order shipped",
        None,
    );
    expect(
        s.execute_bot(&shop.principal, to_carol.clone()).await,
        ErrorCode::Forbidden,
        "no consent",
    );
    ok(s.set_consent(&carol, "@Shop", true).await, "allow");
    let note = ok(
        s.execute_bot(&shop.principal, to_carol).await,
        "notification",
    );
    assert_eq!(recipients(&note), sorted(vec![carol.user.id, shop.id()]));
    ok(s.set_consent(&carol, "shop", false).await, "stop");
    expect(
        s.execute_bot(
            &shop.principal,
            bot_send(Target::Conversation(note.conversation), "s2", "more", None),
        )
        .await,
        ErrorCode::Forbidden,
        "consent withdrawn, even in the existing conversation",
    );
    // Carol can still write to the service herself.
    ok(
        s.execute(
            &carol,
            text_cmd(Target::Peer("shop".into()), "c2", "where is it?"),
        )
        .await,
        "person to service",
    );
    expect(
        s.set_consent(&carol, "echo_bot", true).await,
        ErrorCode::NotFound,
        "not a service",
    );
    expect(
        s.set_consent(&carol, "alice", true).await,
        ErrorCode::NotFound,
        "a person",
    );
    // A bot is an ordinary group member; outside a group it reads nothing.
    let g = group(&s, &alice, "club", &["carol"]).await;
    expect(
        s.history(&bot.principal, Target::Conversation(g), None, 10)
            .await,
        ErrorCode::Forbidden,
        "not a member",
    );
    expect(
        s.execute_bot(
            &bot.principal,
            bot_send(Target::Conversation(g), "b3", "let me in", None),
        )
        .await,
        ErrorCode::Forbidden,
        "not a member",
    );
    ok(
        s.execute(
            &alice,
            Command::AddMembers {
                conversation: g,
                handles: vec!["echo_bot".into()],
            },
        )
        .await,
        "add the bot",
    );
    ok(
        s.execute_bot(
            &bot.principal,
            bot_send(Target::Conversation(g), "b4", "thanks", None),
        )
        .await,
        "member now",
    );
}

pub async fn button_presses_reach_the_bot_only<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let bob = signup(&s, "bob").await;
    let carol = signup(&s, "carol").await;
    let bot = make_bot(&s, &alice, BotKind::Bot, "echo_bot").await;
    let g = group(&s, &alice, "club", &["bob", "echo_bot"]).await;
    let with_buttons = ok(
        s.execute_bot(
            &bot.principal,
            bot_send(
                Target::Conversation(g),
                "b1",
                "pick",
                Some(keyboard(&["go", "stop"])),
            ),
        )
        .await,
        "buttons",
    );
    let seq = with_buttons.seq.expect("seq");
    let plain = send(&s, &alice, g, "plain").await.seq.expect("seq");
    let press = |data: &str, at: Seq| BotAction::PressButton {
        conversation: g,
        seq: at,
        data: data.into(),
    };
    let before = ok(s.conversation(&alice, g).await, "info").last_seq;
    let pressed = ok(s.execute_bot(&bob, press("go", seq)).await, "press");
    assert_eq!((pressed.conversation, pressed.seq), (g, None));
    assert_eq!(recipients(&pressed), vec![bot.id()], "only the bot is told");
    let (query, pts) = match pressed.fanout.first() {
        Some(f) => match (f.event.as_ref(), f.recipients.first()) {
            (Event::CallbackQuery(q), Some((_, pts))) => (q.clone(), *pts),
            other => panic!("press fan-out: {other:?}"),
        },
        None => panic!("no fan-out"),
    };
    assert_eq!(
        query.id,
        pts.to_string(),
        "the query id is the bot's feed pts"
    );
    assert_eq!(
        (
            query.conversation,
            query.seq,
            query.from.id,
            query.data.as_str()
        ),
        (g, seq, bob.user.id, "go")
    );
    assert_eq!(
        ok(s.conversation(&alice, g).await, "info").last_seq,
        before,
        "a press is not a log entry"
    );
    let feed = all_feed(&s, &bot.principal).await;
    let queries: Vec<&CallbackQuery> = feed
        .iter()
        .filter_map(|(_, e)| match e {
            Event::CallbackQuery(q) => Some(q),
            _ => None,
        })
        .collect();
    assert_eq!(queries, vec![&query], "the bot's feed holds the query");
    for p in [&alice, &bob] {
        assert!(
            all_feed(&s, p)
                .await
                .iter()
                .all(|(_, e)| !matches!(e, Event::CallbackQuery(_))),
            "people's feeds do not"
        );
    }
    expect(
        s.execute_bot(&bob, press("nope", seq)).await,
        ErrorCode::Invalid,
        "no such button",
    );
    expect(
        s.execute_bot(&bob, press("go", plain)).await,
        ErrorCode::Invalid,
        "a message without buttons",
    );
    expect(
        s.execute_bot(&bob, press("go", 999)).await,
        ErrorCode::NotFound,
        "no such message",
    );
    expect(
        s.execute_bot(&carol, press("go", seq)).await,
        ErrorCode::Forbidden,
        "not a member",
    );
    // Once the buttons are gone, pressing the old one fails.
    ok(
        s.execute_bot(&bot.principal, bot_edit(g, seq, "e1", Some("done"), None))
            .await,
        "remove buttons",
    );
    expect(
        s.execute_bot(&bob, press("go", seq)).await,
        ErrorCode::Invalid,
        "buttons removed",
    );
    // A deleted message keeps nothing of its content: no text, no buttons.
    let doomed = ok(
        s.execute_bot(
            &bot.principal,
            bot_send(
                Target::Conversation(g),
                "b2",
                "soon gone",
                Some(keyboard(&["go"])),
            ),
        )
        .await,
        "buttons",
    )
    .seq
    .expect("seq");
    ok(
        s.execute(
            &bot.principal,
            Command::Delete {
                conversation: g,
                seq: doomed,
                client_id: "d1".into(),
            },
        )
        .await,
        "delete",
    );
    let gone = message_at(&s, &alice, g, doomed).await;
    assert!(
        gone.deleted && gone.text.is_none() && gone.reply_markup.is_none(),
        "{gone:?}"
    );
}

pub async fn bots_keep_their_own_state<S: Store>(s: S) {
    let alice = signup(&s, "alice").await;
    let bot = make_bot(&s, &alice, BotKind::Bot, "echo_bot").await;
    let other = make_bot(&s, &alice, BotKind::Bot, "quiet_bot").await;
    let b = &bot.principal;
    assert!(ok(s.webhook_bots().await, "none").is_empty());
    ok(s.update_bot(b, BotChange::Offset(7)).await, "offset");
    ok(s.update_bot(b, BotChange::Offset(3)).await, "older offset");
    let hook = Webhook {
        url: "http://127.0.0.1:9/hook".into(),
        secret_token: Some("s3cret".into()),
        max_connections: 40,
        set_at: now_ms(),
    };
    ok(
        s.update_bot(b, BotChange::Webhook(Some(hook.clone())))
            .await,
        "webhook",
    );
    let commands = vec![MenuCommand {
        command: "start".into(),
        description: "Start".into(),
    }];
    ok(
        s.update_bot(b, BotChange::Commands(commands.clone())).await,
        "commands",
    );
    ok(
        s.update_bot(
            b,
            BotChange::AllowedUpdates(vec!["message".into(), "callback_query".into()]),
        )
        .await,
        "allowed updates",
    );
    let state = ok(s.bot(bot.id()).await, "state").expect("bot");
    assert_eq!(state.offset, 7, "the offset only moves forward");
    assert_eq!(state.webhook, Some(hook));
    assert_eq!(state.commands, commands);
    assert_eq!(state.allowed_updates, vec!["message", "callback_query"]);
    assert_eq!(ok(s.webhook_bots().await, "listed"), vec![bot.id()]);
    let listed = ok(s.bots(&alice).await, "list");
    assert!(listed.iter().any(|i| i.user.id == bot.id() && i.webhook));
    ok(
        s.update_bot(b, BotChange::Webhook(None)).await,
        "delete webhook",
    );
    assert!(ok(s.webhook_bots().await, "none again").is_empty());
    expect(
        s.update_bot(
            b,
            BotChange::Commands(vec![MenuCommand {
                command: "Bad Command".into(),
                description: "x".into(),
            }]),
        )
        .await,
        ErrorCode::Invalid,
        "bad command",
    );
    expect(
        s.update_bot(&alice, BotChange::Offset(1)).await,
        ErrorCode::NotFound,
        "a person is not a bot",
    );
    let quiet = ok(s.bot(other.id()).await, "other").expect("bot");
    assert_eq!((quiet.offset, quiet.webhook), (0, None), "state is per bot");
}
