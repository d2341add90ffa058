//! Requests to actions: sign-in on the connection, then store commands and queries. Permission
//! and validation rules live in the core and are applied by the store inside its transactions;
//! this layer decodes, authenticates, and publishes what a commit produced.

use crate::auth;
use crate::config::SignupPolicy;
use crate::ratelimit::TokenBucket;
use crate::registry::{BindError, ConnHandle};
use crate::state::App;
use crate::state::now_ms;
use chapar_core::bus::BusMessage;
use chapar_core::store::{
    AdminOp, Command, NewAccount, NewDevice, NewRecovery, Principal, RelationKind, SecretHash,
    Target,
};
use chapar_core::{Error, Result, paging, rules};
use chapar_proto::{
    ConversationId, Event, MAX_WATCHED, PresenceInfo, Request, Response, Sent, Session, Setting,
    SettingsChanged, UserId,
};
use std::net::IpAddr;
use std::sync::Arc;

/// How long a device link code stays valid.
const LINK_CODE_TTL_MS: i64 = 10 * 60 * 1000;
/// Default page sizes when the client does not ask for one.
const DEFAULT_HISTORY: u32 = 50;
const DEFAULT_SYNC: u32 = 200;

/// Per-connection state the dispatcher needs.
pub struct ConnSession {
    pub conn: Arc<ConnHandle>,
    pub challenge: Vec<u8>,
    pub principal: Option<Principal>,
    pub token_hash: Option<SecretHash>,
    /// The client's address, for the per-address sign-up budget.
    pub peer: IpAddr,
    pub bucket: TokenBucket,
    /// When this connection last told the store its session is in use (ms).
    pub touched_at: i64,
    /// People whose nodes are asked, once the reply is queued, to say they are online
    /// (`watch_presence`: the answers then come after the reply).
    pub presence_asks: Vec<UserId>,
}

/// How often a long connection marks its session as used, so it does not expire while open.
const TOUCH_EVERY_MS: i64 = 3_600_000;

pub async fn handle(app: &Arc<App>, s: &mut ConnSession, request: Request) -> Result<Response> {
    if s.principal.is_none() && !request.is_pre_auth() {
        return Err(Error::Unauthorized(format!(
            "sign in before `{}`",
            request.method()
        )));
    }
    if s.principal.is_some()
        && matches!(
            request,
            Request::Register(_)
                | Request::Login(_)
                | Request::Authenticate(_)
                | Request::LinkDevice(_)
                | Request::Recover(_)
        )
    {
        return Err(Error::invalid("this connection is already signed in"));
    }
    let store = &app.store;
    match request {
        Request::Ping => Ok(Response::Pong {
            server_time: now_ms(),
        }),
        Request::Register(r) => {
            match app.config.signup {
                SignupPolicy::Closed => {
                    return Err(Error::forbidden("sign-up is closed on this server"));
                }
                SignupPolicy::Invite if r.invite_code.is_none() => {
                    return Err(Error::forbidden(
                        "sign-up needs an invite code on this server",
                    ));
                }
                _ => {}
            }
            auth::verify_device(&r.public_key.0, &r.signature.0, &s.challenge)?;
            let handle = rules::handle(&r.handle)?;
            app.admission.admit_signup(s.peer, app.queued_writes())?;
            let limits = &app.config.limits;
            let display_name = rules::label(
                "display name",
                r.display_name.as_deref().unwrap_or(&handle),
                limits.max_name_chars,
            )?;
            let device_name = rules::label(
                "device name",
                r.device_name.as_deref().unwrap_or("device"),
                limits.max_name_chars,
            )?;
            let token = auth::new_token();
            let invite_hash = match app.config.signup {
                SignupPolicy::Invite => r.invite_code.as_deref().map(auth::hash_code),
                _ => None,
            };
            let principal = store
                .create_account(NewAccount {
                    handle,
                    display_name,
                    public_key: r.public_key.0,
                    device_name,
                    token_hash: auth::hash_secret(&token),
                    invite_hash,
                })
                .await?;
            // A new account's feed starts empty: syncing from 0 is exact, and a sign-up storm
            // saves a read per account.
            sign_in(app, s, principal, Some(token), Some(0)).await
        }
        Request::Login(l) => {
            auth::verify_device(&l.public_key.0, &l.signature.0, &s.challenge)?;
            let token = auth::new_token();
            let principal = store
                .login(&l.public_key.0, auth::hash_secret(&token))
                .await?;
            sign_in(app, s, principal, Some(token), None).await
        }
        Request::Authenticate(a) => {
            if a.token.is_empty() || a.token.len() > 256 {
                return Err(Error::Unauthorized("token is not valid".into()));
            }
            let hash = auth::hash_secret(&a.token);
            let principal = store.session(hash).await?.ok_or_else(|| {
                Error::Unauthorized("session expired or device revoked; sign in again".into())
            })?;
            store.touch_session(hash).await?;
            s.token_hash = Some(hash);
            s.touched_at = now_ms();
            sign_in(app, s, principal, None, None).await
        }
        Request::LinkDevice(l) => {
            auth::verify_device(&l.public_key.0, &l.signature.0, &s.challenge)?;
            // Link codes carry ~139 bits; the sign-up budgets bound attempts all the same.
            app.admission.admit_signup(s.peer, app.queued_writes())?;
            let device_name = rules::label(
                "device name",
                l.device_name.as_deref().unwrap_or("device"),
                app.config.limits.max_name_chars,
            )?;
            let token = auth::new_token();
            let principal = store
                .link_device(NewDevice {
                    code_hash: auth::hash_code(&l.code),
                    public_key: l.public_key.0,
                    device_name,
                    token_hash: auth::hash_secret(&token),
                })
                .await?;
            publish_setting(app, principal.user_id(), Setting::Devices);
            sign_in(app, s, principal, Some(token), None).await
        }
        Request::Recover(r) => {
            auth::verify_recovery(&r.recovery_key.0, &r.recovery_signature.0, &s.challenge)?;
            auth::verify_device(&r.public_key.0, &r.signature.0, &s.challenge)?;
            // Recovery keys carry 256 bits; the sign-up budgets bound attempts all the same.
            app.admission.admit_signup(s.peer, app.queued_writes())?;
            let token = auth::new_token();
            let recovered = store
                .recover(NewRecovery {
                    handle: r.handle,
                    recovery_key: r.recovery_key.0,
                    public_key: r.public_key.0,
                    device_name: r.device_name.unwrap_or_default(),
                    token_hash: auth::hash_secret(&token),
                    revoke_others: r.revoke_others,
                })
                .await?;
            let user = recovered.principal.user_id();
            for device in recovered.revoked {
                app.bus.publish(user, BusMessage::DeviceRevoked(device));
            }
            publish_setting(app, user, Setting::Devices);
            sign_in(app, s, recovered.principal, Some(token), None).await
        }
        other => {
            let p = s
                .principal
                .clone()
                .ok_or_else(|| Error::Unauthorized("sign in first".into()))?;
            let touched = setting_touched(&other);
            let response = signed_in(app, s, &p, other).await?;
            if let Some(what) = touched {
                publish_setting(app, p.user_id(), what);
            }
            Ok(response)
        }
    }
}

/// Watch exactly `users`' presence on this connection: the store judges who may be seen, this
/// node knows who is connected here, and every node is asked after the reply.
async fn watch_presence(
    app: &Arc<App>,
    s: &mut ConnSession,
    p: &Principal,
    mut users: Vec<UserId>,
) -> Result<Response> {
    if users.len() > MAX_WATCHED {
        return Err(Error::invalid(format!(
            "watch at most {MAX_WATCHED} people at once"
        )));
    }
    users.sort_unstable();
    users.dedup();
    let seen = app.store.last_seen(p, users).await?;
    let allowed: Vec<UserId> = seen.iter().map(|(u, _)| *u).collect();
    // Watch before asking, so no answer is missed.
    app.registry.presence.watch(&s.conn, &allowed);
    let now = now_ms();
    let hub = &app.registry.presence;
    let infos = seen
        .into_iter()
        .map(|(user, stored)| {
            let here = app.registry.is_online(user);
            if here {
                hub.here(user, app.bus.node_id());
            }
            let online = here || hub.known_online(user);
            let last_seen = if online {
                Some(now)
            } else {
                stored.max(hub.left_at(user))
            };
            // Every node where they are connected (this one too) says so on their channel:
            // this node's watch state learns which nodes those are.
            s.presence_asks.push(user);
            PresenceInfo {
                user,
                online,
                last_seen,
            }
        })
        .collect();
    Ok(Response::Presence(infos))
}

/// Tell every device of `user` that `what` changed; they re-read it (the asking one may, too).
fn publish_setting(app: &App, user: chapar_proto::UserId, what: Setting) {
    let event = Event::SettingsChanged(SettingsChanged { what });
    app.bus
        .publish(user, BusMessage::Ephemeral(Arc::new(event)));
}

/// Which of the person's own settings or lists `request` changes, if any.
fn setting_touched(request: &Request) -> Option<Setting> {
    Some(match request {
        Request::Block(_) | Request::Unblock(_) => Setting::Blocked,
        Request::AddContact(_) | Request::RemoveContact(_) => Setting::Contacts,
        Request::SetPrivacy(_) => Setting::Privacy,
        Request::AcceptInvitation(_) | Request::DeclineInvitation(_) => Setting::Invitations,
        Request::SetProfile(_) => Setting::Profile,
        Request::RevokeDevice(_) | Request::RenameDevice(_) => Setting::Devices,
        _ => return None,
    })
}

async fn sign_in(
    app: &Arc<App>,
    s: &mut ConnSession,
    principal: Principal,
    token: Option<String>,
    known_head: Option<chapar_proto::Pts>,
) -> Result<Response> {
    if let Some(t) = &token {
        s.token_hash = Some(auth::hash_secret(t));
    }
    // Bind before reading the head pts: every event committed from here on reaches this
    // connection live, and everything before it is covered by the device's sync.
    match app
        .registry
        .bind(&s.conn, principal.user_id(), principal.device)
    {
        Ok(true) => {
            app.bus.watch(principal.user_id());
            app.registry.presence.arrived(principal.user_id(), now_ms());
        }
        Ok(false) => {}
        Err(BindError::TooManyForDevice(max)) => {
            return Err(Error::Overloaded {
                reason: format!(
                    "this device already has {max} connections to this server; close one (a dead one is closed by the server within a minute or two)"
                ),
                retry_after_ms: 5000,
            });
        }
    }
    let pts = match known_head {
        Some(pts) => pts,
        None => match app.store.head_pts(principal.user_id()).await {
            Ok(pts) => pts,
            Err(e) => {
                // Not signed in after all: the binding goes, or the device's places fill up.
                if app.registry.unbind(s.conn.id, principal.user_id()) {
                    app.bus.unwatch(principal.user_id());
                }
                return Err(e);
            }
        },
    };
    if token.is_some() {
        s.touched_at = now_ms();
    }
    let session = Session {
        user: principal.user.clone(),
        device_id: principal.device,
        token,
        pts,
    };
    s.principal = Some(principal);
    Ok(Response::Session(session))
}

async fn signed_in(
    app: &Arc<App>,
    s: &mut ConnSession,
    p: &Principal,
    request: Request,
) -> Result<Response> {
    let new_account = app.config.limits.is_new_account(p.since, now_ms());
    app.limiters
        .check(p.user_id(), p.device, new_account, &request)?;
    let store = &app.store;
    let limits = &app.config.limits;
    if let Some(hash) = s.token_hash
        && now_ms() - s.touched_at >= TOUCH_EVERY_MS
    {
        store.touch_session(hash).await?;
        s.touched_at = now_ms();
    }
    let command = match request {
        Request::CreateLinkCode => {
            let code = auth::new_code();
            let expires_at = now_ms() + LINK_CODE_TTL_MS;
            store
                .create_link_code(p, auth::hash_code(&code), expires_at)
                .await?;
            return Ok(Response::LinkCode { code, expires_at });
        }
        Request::Devices => return Ok(Response::Devices(store.devices(p).await?)),
        Request::RenameDevice(r) => {
            store.rename_device(p, r.device_id, &r.name).await?;
            return Ok(Response::Ok);
        }
        Request::RevokeDevice(r) => {
            store.revoke_device(p, r.device_id).await?;
            app.bus
                .publish(p.user_id(), BusMessage::DeviceRevoked(r.device_id));
            return Ok(Response::Ok);
        }
        Request::Logout => {
            if let Some(h) = s.token_hash.take() {
                store.delete_session(h).await?;
            }
            s.conn
                .close(crate::registry::control("logged_out", "signed out", None));
            return Ok(Response::Ok);
        }
        Request::User(q) => return Ok(Response::User(store.user_by_handle(&q.handle).await?)),
        Request::SetRecoveryKey(k) => {
            auth::verify_recovery(&k.public_key.0, &k.signature.0, &s.challenge)?;
            store.set_recovery_key(p, Some(k.public_key.0)).await?;
            return Ok(Response::Ok);
        }
        Request::Me => return Ok(Response::Me(store.me(p).await?)),
        Request::SetProfile(change) => {
            let me = store.set_profile(p, change).await?;
            // What this connection sends from now on carries the new name. (The person's other
            // connections carry the name they signed in with until they reconnect; what is
            // read back from the store always has the current one.)
            if let Some(principal) = &mut s.principal {
                principal.user = me.user.clone();
            }
            return Ok(Response::Me(me));
        }
        Request::Profile(q) => return Ok(Response::Profile(store.profile(p, &q.handle).await?)),
        Request::Conversation(c) => {
            return Ok(Response::Conversation(
                store.conversation(p, c.conversation).await?,
            ));
        }
        Request::Conversations => {
            return Ok(Response::Conversations(
                store.conversations(p, limits.max_page).await?,
            ));
        }
        Request::Members(c) => {
            return Ok(Response::Members(store.members(p, c.conversation).await?));
        }
        Request::History(h) => {
            let target = target(h.conversation, h.peer)?;
            let limit = rules::page(limits, h.limit, DEFAULT_HISTORY);
            let mut messages = store.history(p, target, h.before, limit).await?;
            paging::trim_history(&mut messages, limits.max_page_bytes as usize);
            return Ok(Response::Messages(messages));
        }
        Request::Sync(q) => {
            let limit = rules::page(limits, q.limit, DEFAULT_SYNC);
            let mut page = store.feed(p, q.pts, limit).await?;
            paging::trim_feed(&mut page, limits.max_page_bytes as usize);
            return Ok(Response::Sync(page));
        }
        Request::Typing(c) => {
            app.typing(p, c.conversation).await?;
            return Ok(Response::Ok);
        }
        Request::Send(m) => Command::Send {
            target: target(m.conversation, m.peer)?,
            client_id: m.client_id,
            content_type: m.content_type,
            text: m.text,
            data: m.data,
            reply_to: m.reply_to,
        },
        Request::Forward(f) => Command::Forward {
            target: target(f.conversation, f.peer)?,
            client_id: f.client_id,
            from: f.from,
            seq: f.seq,
        },
        Request::SetDescription(d) => Command::SetDescription {
            conversation: d.conversation,
            description: d.description,
        },
        Request::Pin(p) => Command::Pin {
            conversation: p.conversation,
            seq: p.seq,
            client_id: p.client_id,
        },
        Request::Archive(a) => {
            let command = Command::Archive {
                conversation: a.conversation,
                archived: a.archived,
            };
            return own_view(app, p, command).await;
        }
        Request::ClearHistory(c) => {
            let command = Command::ClearHistory {
                conversation: c.conversation,
            };
            return own_view(app, p, command).await;
        }
        Request::HideMessage(m) => {
            let command = Command::Hide {
                conversation: m.conversation,
                seq: m.seq,
            };
            return own_view(app, p, command).await;
        }
        Request::Edit(e) => Command::Edit {
            conversation: e.conversation,
            seq: e.seq,
            client_id: e.client_id,
            text: e.text,
            data: e.data,
        },
        Request::Delete(d) => Command::Delete {
            conversation: d.conversation,
            seq: d.seq,
            client_id: d.client_id,
        },
        Request::React(r) => Command::React {
            conversation: r.conversation,
            seq: r.seq,
            client_id: r.client_id,
            emoji: r.emoji,
            remove: r.remove,
        },
        Request::CreateGroup(g) => {
            let committed = store
                .execute(
                    p,
                    Command::CreateGroup {
                        title: g.title,
                        members: g.members,
                        client_id: g.client_id,
                    },
                )
                .await?;
            return Ok(Response::Conversation(
                store.conversation(p, committed.conversation).await?,
            ));
        }
        Request::AddMembers(a) => Command::AddMembers {
            conversation: a.conversation,
            handles: a.handles,
        },
        Request::RemoveMember(r) => Command::RemoveMember {
            conversation: r.conversation,
            handle: r.handle,
        },
        Request::Leave(l) => Command::Leave {
            conversation: l.conversation,
        },
        Request::Rename(r) => Command::Rename {
            conversation: r.conversation,
            title: r.title,
        },
        Request::SetRole(r) => Command::SetRole {
            conversation: r.conversation,
            handle: r.handle,
            role: r.role,
        },
        Request::Mark(m) => {
            store
                .execute(
                    p,
                    Command::Mark {
                        conversation: m.conversation,
                        delivered: m.delivered,
                        read: m.read,
                    },
                )
                .await?;
            return Ok(Response::Ok);
        }
        Request::Block(q) => {
            store
                .set_relation(p, &q.handle, RelationKind::Block, true)
                .await?;
            return Ok(Response::Ok);
        }
        Request::Unblock(q) => {
            store
                .set_relation(p, &q.handle, RelationKind::Block, false)
                .await?;
            return Ok(Response::Ok);
        }
        Request::Blocked => {
            return Ok(Response::Users(
                store.related(p, RelationKind::Block).await?,
            ));
        }
        Request::AddContact(q) => {
            store
                .set_relation(p, &q.handle, RelationKind::Contact, true)
                .await?;
            return Ok(Response::Ok);
        }
        Request::RemoveContact(q) => {
            store
                .set_relation(p, &q.handle, RelationKind::Contact, false)
                .await?;
            return Ok(Response::Ok);
        }
        Request::FindPeople(q) => return Ok(Response::Users(store.find_people(p, q).await?)),
        Request::WatchPresence(w) => return watch_presence(app, s, p, w.users).await,
        Request::SearchMessages(q) => return Ok(Response::Messages(store.search(p, q).await?)),
        Request::Contacts => {
            return Ok(Response::Users(
                store.related(p, RelationKind::Contact).await?,
            ));
        }
        Request::Privacy => return Ok(Response::Privacy(store.privacy(p).await?)),
        Request::SetPrivacy(change) => {
            let privacy = store.set_privacy(p, change).await?;
            if change.last_seen.is_some() {
                // Watchers forget this person and watch again: their setting is judged anew.
                let user = p.user_id();
                let reset = PresenceInfo {
                    user,
                    online: false,
                    last_seen: None,
                };
                let node = app.bus.node_id();
                app.bus
                    .publish_presence(user, BusMessage::Presence { node, info: reset });
            }
            return Ok(Response::Privacy(privacy));
        }
        Request::Invitations => return Ok(Response::Invitations(store.invitations(p).await?)),
        Request::AcceptInvitation(c) => {
            let committed = store
                .execute(
                    p,
                    Command::AcceptInvitation {
                        conversation: c.conversation,
                    },
                )
                .await?;
            return Ok(Response::Conversation(
                store.conversation(p, committed.conversation).await?,
            ));
        }
        Request::DeclineInvitation(c) => {
            store.decline_invitation(p, c.conversation).await?;
            return Ok(Response::Ok);
        }
        Request::Report(r) => {
            let id = store.report(p, r).await?;
            return Ok(Response::Reported { id });
        }
        Request::AdminReports(q) => {
            let limit = rules::page(limits, q.limit, DEFAULT_HISTORY);
            return Ok(Response::Reports(store.reports(p, q.all, limit).await?));
        }
        Request::AdminResolve(r) => {
            let op = AdminOp::Resolve {
                report: r.report,
                resolution: r.resolution.unwrap_or_default(),
            };
            store.admin(Some(p), op).await?;
            return Ok(Response::Ok);
        }
        Request::AdminSuspend(r) => {
            let op = AdminOp::Suspend {
                handle: r.handle,
                reason: r.reason,
            };
            if let Some(user) = store.admin(Some(p), op).await? {
                // Its sessions are gone; its open connections close on every node.
                app.bus.publish(user.id, BusMessage::Suspended);
            }
            return Ok(Response::Ok);
        }
        Request::AdminUnsuspend(q) => {
            let op = AdminOp::Unsuspend { handle: q.handle };
            store.admin(Some(p), op).await?;
            return Ok(Response::Ok);
        }
        Request::AdminDelete(d) => Command::AdminDelete {
            conversation: d.conversation,
            seq: d.seq,
            reason: d.reason,
        },
        Request::AdminAudit(q) => {
            let limit = rules::page(limits, q.limit, DEFAULT_HISTORY);
            return Ok(Response::Audit(store.audit(Some(p), limit).await?));
        }
        Request::Ping
        | Request::Register(_)
        | Request::Login(_)
        | Request::Authenticate(_)
        | Request::LinkDevice(_)
        | Request::Recover(_) => {
            return Err(Error::invalid("not valid after sign-in"));
        }
        bot @ (Request::CreateBot(_)
        | Request::Bots
        | Request::BotToken(_)
        | Request::BotAccess(_)
        | Request::PressButton(_)
        | Request::AllowService(_)) => {
            return crate::botapi::protocol::handle(app, p, bot).await;
        }
    };
    // The store announces the commit (and so publishes its fan-out) before it answers.
    let committed = store.execute(p, command).await?;
    Ok(Response::Sent(Sent {
        conversation: committed.conversation,
        seq: committed.seq.unwrap_or(0),
        server_time: committed.server_time,
        duplicate: committed.duplicate,
    }))
}

/// A command that changes only the person's own view of their chats (archive, clear, hide):
/// their other devices read their list again.
async fn own_view(app: &App, p: &Principal, command: Command) -> Result<Response> {
    app.store.execute(p, command).await?;
    publish_setting(app, p.user_id(), Setting::Chats);
    Ok(Response::Ok)
}

fn target(conversation: Option<ConversationId>, peer: Option<String>) -> Result<Target> {
    match (conversation, peer) {
        (Some(c), None) => Ok(Target::Conversation(c)),
        (None, Some(h)) => Ok(Target::Peer(rules::handle(&h)?)),
        _ => Err(Error::invalid("give exactly one of conversation and peer")),
    }
}
