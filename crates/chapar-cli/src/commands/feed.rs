//! Feed commands: conversations, sync (catch up once) and follow (stream until interrupted).
//! Both feed commands advance the profile's cursor only past events they have printed.

use super::{request_session, session};
use crate::args::GlobalArgs;
use crate::output::Printer;
use anyhow::Result;
use chapar_sdk::ClientEvent;
use std::time::{Duration, Instant};

pub async fn conversations(global: &GlobalArgs, out: Printer) -> Result<()> {
    let (_p, client) = request_session(global).await?;
    for c in client.conversations().await? {
        out.conversation(&c);
    }
    client.close();
    Ok(())
}

pub async fn sync(global: &GlobalArgs, out: Printer) -> Result<()> {
    let (mut profile, client, mut events) = session(global, true).await?;
    let result = loop {
        match events.recv().await {
            None => {
                break Err(anyhow::anyhow!(
                    "the connection closed before the sync finished"
                ));
            }
            Some(ClientEvent::Feed(ev)) => {
                out.feed(&ev);
                profile.state.pts = ev.pts;
            }
            Some(ClientEvent::Synced { pts }) => {
                profile.state.pts = profile.state.pts.max(pts);
                break Ok(());
            }
            Some(ClientEvent::Reset) => {
                eprintln!(
                    "note: you were too far behind; older events were skipped (see `history`)"
                );
            }
            Some(ClientEvent::Revoked) => {
                break Err(anyhow::anyhow!("unauthorized: this device was revoked"));
            }
            Some(ClientEvent::Suspended { message }) => {
                break Err(anyhow::anyhow!("suspended: {message}"));
            }
            Some(_) => {}
        }
    };
    profile.save()?;
    client.close();
    result
}

pub async fn follow(global: &GlobalArgs, out: Printer) -> Result<()> {
    let (mut profile, client, mut events) = session(global, true).await?;
    let mut saved_at = Instant::now();
    let mut dirty = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let result = loop {
        tokio::select! {
            _ = &mut ctrl_c => break Ok(()),
            ev = events.recv() => match ev {
                None => break Err(anyhow::anyhow!("the client stopped")),
                Some(ClientEvent::Feed(ev)) => {
                    out.feed(&ev);
                    profile.state.pts = ev.pts;
                    dirty = true;
                }
                Some(ClientEvent::Typing(t)) => out.typing(&t),
                Some(ClientEvent::CallbackAnswer(a)) => out.callback_answer(&a),
                Some(ClientEvent::SettingsChanged(what)) => out.settings_changed(what),
                Some(ClientEvent::Presence(p)) => out.presence(None, &p),
                Some(ClientEvent::Synced { pts }) => {
                    profile.state.pts = profile.state.pts.max(pts);
                    dirty = true;
                }
                Some(ClientEvent::Connected(s)) => eprintln!("connected as @{}", crate::output::visible(&s.user.handle)),
                Some(ClientEvent::Disconnected { reason }) => eprintln!("disconnected: {}", crate::output::visible(&reason)),
                Some(ClientEvent::Reconnecting { attempt, delay, busy }) => eprintln!(
                    "{} in {:.1} s (attempt {attempt})",
                    if busy { "server busy, retrying" } else { "reconnecting" },
                    delay.as_secs_f64()
                ),
                Some(ClientEvent::Reset) => {
                    eprintln!("note: you were too far behind; older events were skipped (see `history`)");
                }
                Some(ClientEvent::Revoked) => {
                    break Err(anyhow::anyhow!("unauthorized: this device was revoked"));
                }
                Some(ClientEvent::Suspended { message }) => {
                    break Err(anyhow::anyhow!("suspended: {message}"));
                }
            }
        }
        if dirty && saved_at.elapsed() > Duration::from_millis(500) {
            profile.save()?;
            saved_at = Instant::now();
            dirty = false;
        }
    };
    profile.save()?;
    client.close();
    result
}
