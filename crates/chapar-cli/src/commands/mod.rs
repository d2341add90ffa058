//! One module per family of commands, and what they share: opening a session from the profile
//! and parsing targets.

pub mod account;
pub mod bots;
pub mod feed;
pub mod groups;
pub mod messages;
pub mod safety;

use crate::args::GlobalArgs;
use crate::profile::Profile;
use anyhow::{Context, Result, bail};
use chapar_sdk::proto::{ConversationId, Target};
use chapar_sdk::{Auth, Client, ClientConfig, ClientEvent, Credentials, split_servers};
use tokio::sync::mpsc;

/// The SDK settings the CLI uses.
pub fn config(catch_up: bool) -> ClientConfig {
    ClientConfig {
        device_name: Some(device_name()),
        catch_up,
        ..ClientConfig::default()
    }
}

fn device_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty());
    match host {
        Some(h) => format!("chapar-cli on {h}"),
        None => "chapar-cli".into(),
    }
}

/// The server list from `--server`.
pub fn servers(global: &GlobalArgs) -> Result<Vec<String>> {
    let urls = split_servers(&global.server);
    if urls.is_empty() {
        bail!("--server is empty");
    }
    Ok(urls)
}

/// Connect with explicit credentials and sign in as `auth` says.
pub async fn connect_with(
    global: &GlobalArgs,
    creds: Credentials,
    auth: Auth,
    start_pts: u64,
    catch_up: bool,
) -> Result<(Client, mpsc::Receiver<ClientEvent>)> {
    let urls = servers(global)?;
    Client::connect(urls, config(catch_up), creds, auth, start_pts)
        .await
        .with_context(|| format!("cannot sign in at {}", global.server))
}

/// Open the profile's session. With `catch_up`, feed events after the profile's cursor are
/// delivered; otherwise only live ones. The (possibly new) token is saved.
pub async fn session(
    global: &GlobalArgs,
    catch_up: bool,
) -> Result<(Profile, Client, mpsc::Receiver<ClientEvent>)> {
    let mut profile = Profile::open(&global.profile)?;
    let creds = profile.credentials()?;
    let (client, events) =
        connect_with(global, creds, Auth::Resume, profile.state.pts, catch_up).await?;
    let token = client.credentials().token;
    if token != profile.state.token {
        profile.state.token = token;
        profile.save()?;
    }
    Ok((profile, client, events))
}

/// A session for a command that only makes requests: pushed events are drained and dropped.
pub async fn request_session(global: &GlobalArgs) -> Result<(Profile, Client)> {
    let (profile, client, mut events) = session(global, false).await?;
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    Ok((profile, client))
}

/// `@handle` (direct conversation) or a numeric conversation id.
pub fn parse_target(s: &str) -> Result<Target> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix('@') {
        if h.is_empty() {
            bail!("empty handle in target {s:?}");
        }
        return Ok(Target::Peer(h.to_string()));
    }
    match parse_conversation(s) {
        Ok(c) => Ok(Target::Conversation(c)),
        Err(_) => bail!("target {s:?} is neither @handle nor a conversation id"),
    }
}

/// A conversation id (a leading `#` is accepted).
pub fn parse_conversation(s: &str) -> Result<ConversationId> {
    let t = s.trim().trim_start_matches('#');
    t.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .map(ConversationId)
        .with_context(|| format!("{s:?} is not a conversation id"))
}

/// A handle without its `@`.
pub fn handle(s: &str) -> String {
    s.trim().trim_start_matches('@').to_string()
}

/// A conversation id, or the direct conversation with `@handle` (looked up in the list).
pub async fn resolve_conversation(client: &Client, s: &str) -> Result<ConversationId> {
    match parse_target(s)? {
        Target::Conversation(c) => Ok(c),
        Target::Peer(h) => {
            let list = client.conversations().await?;
            list.iter()
                .find(|c| c.peer.as_ref().is_some_and(|p| p.handle == h))
                .map(|c| c.id)
                .with_context(|| format!("no direct conversation with @{h} yet"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(parse_target("@bob").unwrap(), Target::Peer("bob".into()));
        assert_eq!(
            parse_target("12").unwrap(),
            Target::Conversation(ConversationId(12))
        );
        assert_eq!(
            parse_target("#3").unwrap(),
            Target::Conversation(ConversationId(3))
        );
        assert!(parse_target("bob").is_err());
        assert!(parse_target("@").is_err());
        assert!(parse_target("-1").is_err());
        assert_eq!(handle("@ana"), "ana");
    }
}
