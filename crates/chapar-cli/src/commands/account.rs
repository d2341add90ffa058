//! Account and device commands: register, devices, device link, device revoke.

use super::{connect_with, request_session};
use crate::args::{DeviceCmd, GlobalArgs};
use crate::output::Printer;
use crate::profile::Profile;
use anyhow::Result;
use chapar_sdk::proto::DeviceId;
use chapar_sdk::{Auth, Client, Credentials};
use serde_json::json;

/// Save what a fresh sign-in taught us.
fn remember(profile: &mut Profile, client: &Client) -> Result<()> {
    if let Some(s) = client.session() {
        profile.state.user_id = Some(s.user.id);
        profile.state.handle = Some(s.user.handle.clone());
        profile.state.device_id = Some(s.device_id);
        // Start the cursor now: older events are reachable through `history`.
        profile.state.pts = s.pts;
    }
    profile.state.token = client.credentials().token;
    profile.save()
}

pub async fn register(
    global: &GlobalArgs,
    out: Printer,
    handle: String,
    name: Option<String>,
    invite: Option<String>,
) -> Result<()> {
    let mut profile = Profile::open(&global.profile)?;
    profile.require_empty()?;
    let key = profile.key_or_create()?;
    let auth = Auth::Register {
        handle: super::handle(&handle),
        display_name: name,
        invite_code: invite,
    };
    let creds = Credentials {
        signing_key: key,
        token: None,
    };
    let (client, _events) = connect_with(global, creds, auth, 0, false).await?;
    remember(&mut profile, &client)?;
    let s = client.session();
    let (uid, dev, h) = s
        .map(|s| (s.user.id.0, s.device_id.0, s.user.handle))
        .unwrap_or_default();
    out.info(
        "registered",
        &format!(
            "registered @{h} (user {uid}, device {dev}); profile {}",
            profile.dir().display()
        ),
        json!({"handle": h, "user": uid, "device": dev}),
    );
    client.close();
    Ok(())
}

pub async fn devices(global: &GlobalArgs, out: Printer) -> Result<()> {
    let (_p, client) = request_session(global).await?;
    for d in client.devices().await? {
        out.device(&d);
    }
    client.close();
    Ok(())
}

pub async fn device(global: &GlobalArgs, out: Printer, cmd: DeviceCmd) -> Result<()> {
    match cmd {
        DeviceCmd::Link { code: None } => {
            let (_p, client) = request_session(global).await?;
            let (code, expires_at) = client.create_link_code().await?;
            out.info(
                "link_code",
                &format!(
                    "link code: {code}\non the new device run: chapar --profile NEW_DIR device link {code}\n(expires {} UTC)",
                    crate::output::format_time(expires_at)
                ),
                json!({"code": code, "expires_at": expires_at}),
            );
            client.close();
        }
        DeviceCmd::Link { code: Some(code) } => {
            let mut profile = Profile::open(&global.profile)?;
            profile.require_empty()?;
            let key = profile.key_or_create()?;
            let creds = Credentials {
                signing_key: key,
                token: None,
            };
            let auth = Auth::Link {
                code: code.trim().to_string(),
            };
            let (client, _events) = connect_with(global, creds, auth, 0, false).await?;
            remember(&mut profile, &client)?;
            let s = client.session();
            let (uid, dev, h) = s
                .map(|s| (s.user.id.0, s.device_id.0, s.user.handle))
                .unwrap_or_default();
            out.info(
                "linked",
                &format!("linked this device (device {dev}) to @{h}"),
                json!({"handle": h, "user": uid, "device": dev}),
            );
            client.close();
        }
        DeviceCmd::Revoke { id } => {
            let (_p, client) = request_session(global).await?;
            client.revoke_device(DeviceId(id)).await?;
            out.info(
                "revoked",
                &format!("revoked device {id}"),
                json!({"device": id}),
            );
            client.close();
        }
    }
    Ok(())
}
