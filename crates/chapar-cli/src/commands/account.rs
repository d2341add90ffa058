//! Account and device commands: register, recover and the recovery code, profiles, devices,
//! device link, device revoke.

use super::{connect_with, request_session};
use crate::args::{DeviceCmd, GlobalArgs};
use crate::output::Printer;
use crate::profile::Profile;
use anyhow::Context;
use anyhow::Result;
use chapar_sdk::proto::{DeviceId, Me, SetProfile};
use chapar_sdk::{Auth, Client, Credentials, RecoveryKey};
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

/// A first sign-in on an empty profile (register, link, recover): its new device key, the
/// session saved in the profile. Returns the client and (user id, device id, handle).
async fn first_sign_in(
    global: &GlobalArgs,
    auth: Auth,
) -> Result<(Profile, Client, (i64, i64, String))> {
    let mut profile = Profile::open(&global.profile)?;
    profile.require_empty()?;
    let creds = Credentials {
        signing_key: profile.key_or_create()?,
        token: None,
    };
    let (client, _events) = connect_with(global, creds, auth, 0, false).await?;
    remember(&mut profile, &client)?;
    let who = client
        .session()
        .map(|s| (s.user.id.0, s.device_id.0, s.user.handle))
        .unwrap_or_default();
    Ok((profile, client, who))
}

pub async fn register(
    global: &GlobalArgs,
    out: Printer,
    handle: String,
    name: Option<String>,
    invite: Option<String>,
) -> Result<()> {
    let auth = Auth::Register {
        handle: super::handle(&handle),
        display_name: name,
        invite_code: invite,
    };
    let (profile, client, (uid, dev, h)) = first_sign_in(global, auth).await?;
    // The account exists now; a recovery code is what keeps it when this device is lost.
    let recovery = RecoveryKey::generate();
    let code = match client.set_recovery_key(&recovery).await {
        Ok(()) => Some(recovery.to_code()),
        Err(e) => {
            eprintln!("warning: no recovery code was set ({e}); run `chapar recovery-key`");
            None
        }
    };
    let mut text = format!(
        "registered @{h} (user {uid}, device {dev}); profile {}",
        profile.dir().display()
    );
    if let Some(c) = &code {
        text.push_str(&recovery_note(c, &h));
    }
    out.info(
        "registered",
        &text,
        json!({"handle": h, "user": uid, "device": dev, "recovery_code": code}),
    );
    client.close();
    Ok(())
}

fn recovery_note(code: &str, handle: &str) -> String {
    format!(
        "\nrecovery code: {code}\nwrite it down and keep it apart from this device: if every device is lost, \
         `chapar recover @{handle} CODE` brings the account back (it is shown only now)"
    )
}

pub async fn recover(
    global: &GlobalArgs,
    out: Printer,
    handle: String,
    code: String,
    revoke_others: bool,
) -> Result<()> {
    let recovery_key = RecoveryKey::from_code(&code).context("recovery code")?;
    let auth = Auth::Recover {
        handle: super::handle(&handle),
        recovery_key,
        revoke_others,
    };
    let (_profile, client, (uid, dev, h)) = first_sign_in(global, auth).await?;
    let others = if revoke_others {
        "; every other device was revoked"
    } else {
        ""
    };
    out.info(
        "recovered",
        &format!("signed in as @{h} on this new device (device {dev}){others}"),
        json!({"handle": h, "user": uid, "device": dev, "revoked_others": revoke_others}),
    );
    client.close();
    Ok(())
}

pub async fn recovery_key(global: &GlobalArgs, out: Printer) -> Result<()> {
    let (profile, client) = request_session(global).await?;
    let key = RecoveryKey::generate();
    client.set_recovery_key(&key).await?;
    let code = key.to_code();
    let h = profile.state.handle.clone().unwrap_or_default();
    out.info(
        "recovery_code",
        &format!(
            "the old recovery code no longer works{}",
            recovery_note(&code, &h)
        ),
        json!({"recovery_code": code}),
    );
    client.close();
    Ok(())
}

fn print_me(out: &Printer, m: &Me) {
    let recovery = if m.recovery_key_set {
        "set"
    } else {
        "NOT SET: run `chapar recovery-key`, or losing your devices loses the account"
    };
    out.info(
        "me",
        &format!(
            "@{}  {}\nbio: {}\ndevices: {}\nrecovery code: {recovery}",
            m.user.handle,
            crate::output::visible_inline(&m.user.display_name),
            crate::output::visible_inline(&m.bio),
            m.devices
        ),
        json!({
            "id": m.user.id, "handle": m.user.handle, "display_name": m.user.display_name,
            "bio": m.bio, "created_at": m.created_at, "devices": m.devices,
            "recovery_key_set": m.recovery_key_set,
        }),
    );
}

pub async fn me(global: &GlobalArgs, out: Printer) -> Result<()> {
    let (_p, client) = request_session(global).await?;
    print_me(&out, &client.me().await?);
    client.close();
    Ok(())
}

pub async fn set_profile(
    global: &GlobalArgs,
    out: Printer,
    name: Option<String>,
    bio: Option<String>,
) -> Result<()> {
    if name.is_none() && bio.is_none() {
        anyhow::bail!("give --name and/or --bio");
    }
    let (_p, client) = request_session(global).await?;
    let me = client
        .set_profile(SetProfile {
            display_name: name,
            bio,
        })
        .await?;
    print_me(&out, &me);
    client.close();
    Ok(())
}

pub async fn profile(global: &GlobalArgs, out: Printer, handle: String) -> Result<()> {
    let (_p, client) = request_session(global).await?;
    let p = client.profile(super::handle(&handle)).await?;
    out.info(
        "profile",
        &format!(
            "@{}  {}\n{}",
            p.user.handle,
            crate::output::visible_inline(&p.user.display_name),
            crate::output::visible_inline(&p.bio)
        ),
        json!({"id": p.user.id, "handle": p.user.handle, "display_name": p.user.display_name, "bio": p.bio}),
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
            let auth = Auth::Link {
                code: code.trim().to_string(),
            };
            let (_profile, client, (uid, dev, h)) = first_sign_in(global, auth).await?;
            out.info(
                "linked",
                &format!("linked this device (device {dev}) to @{h}"),
                json!({"handle": h, "user": uid, "device": dev}),
            );
            client.close();
        }
        DeviceCmd::Rename { id, name } => {
            let (_p, client) = request_session(global).await?;
            client.rename_device(DeviceId(id), &name).await?;
            out.info(
                "renamed",
                &format!("device {id} is now called {name:?}"),
                json!({"device": id, "name": name}),
            );
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
