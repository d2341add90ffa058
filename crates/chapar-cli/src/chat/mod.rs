//! The interactive chat (`chapar chat`): a ratatui screen driven by one loop that reacts to key
//! presses (read on a blocking thread), client events, and the results of requests it spawned.
//! Requests run in tasks so a slow server never freezes the screen.
//!
//! * [`app`]: the state and how keys and events change it (no I/O).
//! * [`ui`]: drawing the screen.

pub mod app;
pub mod ui;

use crate::args::GlobalArgs;
use anyhow::{Context, Result};
use app::{Action, App};
use chapar_sdk::Client;
use chapar_sdk::proto::{ConversationId, ConversationInfo, Message, PresenceInfo, Target, UserId};
use crossterm::event::{self, Event as TermEvent, KeyEventKind};
use std::time::Duration;
use tokio::sync::mpsc;

/// Results of requests the loop spawned.
enum Done {
    Conversations(Vec<ConversationInfo>),
    History(ConversationId, Vec<Message>),
    Older(ConversationId, Vec<Message>),
    /// `/chat @handle`: the handle exists.
    User(String),
    /// Who of the watched may be seen, and whether they are online.
    Presence(UserId, Vec<PresenceInfo>),
    Failed(String),
}

pub async fn run(global: &GlobalArgs) -> Result<()> {
    let (mut profile, client, mut events) = crate::commands::session(global, true).await?;
    let session = client.session().context("no session")?;
    let mut app = App::new(session.user.id, session.user.handle.clone());

    let mut terminal = ratatui::try_init().context("cannot start the terminal UI")?;
    // Keys come from a blocking reader thread through a small bounded channel.
    let (key_tx, mut keys) = mpsc::channel::<TermEvent>(64);
    std::thread::spawn(move || {
        loop {
            if key_tx.is_closed() {
                return;
            }
            match event::poll(Duration::from_millis(200)) {
                Ok(true) => match event::read() {
                    Ok(ev) => {
                        if key_tx.blocking_send(ev).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                },
                Ok(false) => {}
                Err(_) => return,
            }
        }
    });
    let (done_tx, mut done) = mpsc::channel::<Done>(64);
    let mut actions = vec![Action::Refresh];
    let mut tick = tokio::time::interval(Duration::from_secs(1));

    let result: Result<()> = 'ui: loop {
        for action in std::mem::take(&mut actions) {
            match action {
                Action::Quit => break 'ui Ok(()),
                other => perform(&client, other, &done_tx),
            }
        }
        let mut view = app.view;
        if let Err(e) = terminal.draw(|f| view = ui::draw(f, &app)) {
            break 'ui Err(e.into());
        }
        app.set_view(view);
        tokio::select! {
            k = keys.recv() => match k {
                Some(TermEvent::Key(key)) if key.kind == KeyEventKind::Press => app.on_key(key, &mut actions),
                Some(_) => {}
                None => break 'ui Ok(()),
            },
            ev = events.recv() => match ev {
                Some(ev) => {
                    if let chapar_sdk::ClientEvent::Feed(f) = &ev {
                        profile.state.pts = f.pts;
                    }
                    app.on_client_event(ev, &mut actions);
                }
                None => app.status = "the client stopped; press Esc to quit".into(),
            },
            d = done.recv() => match d {
                Some(Done::Conversations(list)) => app.set_conversations(list, &mut actions),
                Some(Done::History(c, page)) => app.set_history(c, page),
                Some(Done::Older(c, page)) => app.set_older(c, page),
                Some(Done::User(h)) => app.user_found(h, &mut actions),
                Some(Done::Presence(u, shown)) => app.set_presence(u, shown),
                Some(Done::Failed(msg)) => app.status = msg,
                None => {}
            },
            _ = tick.tick() => app.tick(),
        }
        // Coalesce repeated refreshes into one request.
        let mut seen = false;
        actions.retain(|a| {
            if *a == Action::Refresh {
                let keep = !seen;
                seen = true;
                keep
            } else {
                true
            }
        });
    };
    ratatui::restore();
    drop(keys);
    profile.save()?;
    client.close();
    result
}

/// Start the request an action needs; its result comes back on `done`.
fn perform(client: &Client, action: Action, done: &mpsc::Sender<Done>) {
    let client = client.clone();
    let done = done.clone();
    tokio::spawn(async move {
        let msg = match action {
            Action::Quit => return,
            Action::Refresh => match client.conversations().await {
                Ok(list) => Done::Conversations(list),
                Err(e) => Done::Failed(format!("cannot load conversations: {e}")),
            },
            Action::LoadHistory(c) => {
                match client
                    .history(Target::Conversation(c), None, Some(app::PAGE))
                    .await
                {
                    Ok(page) => Done::History(c, page),
                    Err(e) => Done::Failed(format!("cannot load history: {e}")),
                }
            }
            Action::LoadOlder(c, before) => {
                match client
                    .history(Target::Conversation(c), Some(before), Some(app::PAGE))
                    .await
                {
                    Ok(page) => Done::Older(c, page),
                    Err(e) => Done::Failed(format!("cannot load older messages: {e}")),
                }
            }
            Action::LookupUser(h) => match client.user(h.clone()).await {
                Ok(u) => Done::User(u.handle),
                Err(e) => Done::Failed(format!("cannot start a chat with @{h}: {e}")),
            },
            Action::SendToPeer(h, text) => {
                match client.send_text(Target::Peer(h), text, None).await {
                    // The new conversation comes back as a feed event, then in the list.
                    Ok(_) => return,
                    Err(e) => Done::Failed(format!("not sent: {e}")),
                }
            }
            Action::Reply(c, seq, text) => {
                match client
                    .send_text(Target::Conversation(c), text, Some(seq))
                    .await
                {
                    Ok(_) => return,
                    Err(e) => Done::Failed(format!("reply not sent: {e}")),
                }
            }
            Action::Edit(c, seq, text) => match client.edit(c, seq, text).await {
                Ok(_) => return,
                Err(e) => Done::Failed(format!("#{seq} not edited: {e}")),
            },
            Action::React(c, seq, emoji) => match client.react(c, seq, emoji, false).await {
                Ok(_) => return,
                Err(e) => Done::Failed(format!("no reaction to #{seq}: {e}")),
            },
            Action::Send(c, text) => {
                match client.send_text(Target::Conversation(c), text, None).await {
                    Ok(_) => return, // the message comes back as a feed event
                    Err(e) => Done::Failed(format!("not sent: {e}")),
                }
            }
            Action::MarkRead(c, seq) => {
                let _ = client.mark(c, None, Some(seq)).await;
                return;
            }
            Action::Typing(c) => {
                let _ = client.typing(c).await;
                return;
            }
            Action::WatchPresence(u) => match client.watch_presence(vec![u]).await {
                Ok(shown) => Done::Presence(u, shown),
                // Presence is a nicety: a refusal (rate limit) leaves the header as it is.
                Err(_) => return,
            },
        };
        let _ = done.send(msg).await;
    });
}
