//! The application's handle: requests with timeouts, typed helpers, and idempotent retries.

use crate::config::{Auth, ClientConfig, Credentials};
use crate::driver::{self, Command, Driver, Shared};
use crate::error::SdkError;
use crate::event::ClientEvent;
use crate::tracker::PtsTracker;
use chapar_proto::frame::{
    AddMembers, ConversationRef, CreateGroup, Edit, History, Mark, MemberRef, MessageRef, React,
    Rename, RenameDevice, RevokeDevice, Send, Sync, UserQuery,
};
use chapar_proto::{
    ConversationId, ConversationInfo, DeviceId, DeviceInfo, MemberInfo, Message, Pts, Request,
    Response, Sent, Seq, Session, SyncPage, TEXT_PLAIN, Target, UserInfo,
};
use rand::Rng;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// A connected client. Cheap to clone; the connection closes when the last clone is dropped
/// (or on [`Client::close`]).
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    cmd_tx: mpsc::Sender<Command>,
    pub(crate) shared: Arc<Shared>,
    config: ClientConfig,
    signing_key: ed25519_dalek::SigningKey,
    /// Dropping this (with the last handle) tells the driver to stop.
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
}

/// A random idempotency key for one logical operation (reused across its retries).
pub fn new_client_id() -> String {
    let bytes: [u8; 12] = rand::thread_rng().r#gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Client {
    /// Connect to the first reachable server of `urls` (rotating on failure), sign in as `auth`
    /// says, and start the background task. Feed events after `start_pts` (see
    /// [`ClientConfig::catch_up`]) and status events arrive on the returned channel, which the
    /// application must keep draining.
    pub async fn connect(
        urls: Vec<String>,
        config: ClientConfig,
        mut creds: Credentials,
        auth: Auth,
        start_pts: Pts,
    ) -> Result<(Client, mpsc::Receiver<ClientEvent>), SdkError> {
        if urls.is_empty() {
            return Err(SdkError::Invalid("no server address given".into()));
        }
        for u in &urls {
            crate::conn::ws_url(u, config.encoding)?;
        }
        let mut url_idx = 0;
        let (ws, session, challenge) = driver::establish(
            &urls,
            &mut url_idx,
            &config,
            &mut creds,
            &auth,
            Some(config.initial_attempts.max(1) * urls.len() as u32),
            |_, _, _| {},
        )
        .await?;

        let (cmd_tx, cmd_rx) = mpsc::channel(config.request_buffer.max(1));
        let (ev_tx, ev_rx) = mpsc::channel(config.event_buffer.max(1));
        let (sd_tx, sd_rx) = oneshot::channel();
        let shared = Arc::new(Shared::default());
        shared.pts.store(start_pts, Ordering::Relaxed);
        let driver = Driver {
            urls,
            url_idx,
            tracker: PtsTracker::new(start_pts, config.held_events),
            config: config.clone(),
            creds: creds.clone(),
            cmd_rx,
            events: ev_tx,
            shutdown: sd_rx,
            shared: shared.clone(),
            me: session.user.id,
            next_id: 1000,
            first: true,
        };
        shared.set_session(&session, creds.token.clone());
        shared.set_challenge(challenge);
        tokio::spawn(driver.run(ws, session));
        let client = Client {
            inner: Arc::new(Inner {
                cmd_tx,
                shared,
                config,
                signing_key: creds.signing_key,
                shutdown: Mutex::new(Some(sd_tx)),
            }),
        };
        Ok((client, ev_rx))
    }

    /// The pts of the last feed event handed to the event channel.
    pub fn pts(&self) -> Pts {
        self.inner.shared.pts.load(Ordering::Relaxed)
    }

    /// The current session (user, device, server pts at sign-in).
    pub fn session(&self) -> Option<Session> {
        self.inner
            .shared
            .session
            .lock()
            .ok()
            .and_then(|g| g.clone())
    }

    /// The credentials to persist: this device's key and its latest session token.
    pub fn credentials(&self) -> Credentials {
        Credentials {
            signing_key: self.inner.signing_key.clone(),
            token: self.inner.shared.token.lock().ok().and_then(|g| g.clone()),
        }
    }

    /// Stop the background task and close the connection.
    pub fn close(&self) {
        if let Some(tx) = self.inner.shutdown.lock().ok().and_then(|mut g| g.take()) {
            let _ = tx.send(());
        }
    }

    /// Send one request and wait for its reply (waiting through a reconnect if need be), up to
    /// the configured request timeout. Not retried: see the typed helpers for that.
    pub async fn request(&self, request: Request) -> Result<Response, SdkError> {
        let (tx, rx) = oneshot::channel();
        let round_trip = async {
            self.inner
                .cmd_tx
                .send(Command { request, reply: tx })
                .await
                .map_err(|_| SdkError::Closed)?;
            rx.await.map_err(|_| SdkError::Closed)?
        };
        tokio::time::timeout(self.inner.config.request_timeout, round_trip)
            .await
            .map_err(|_| SdkError::Timeout)?
    }

    /// Send a request that is safe to repeat (it carries its idempotency key), retrying with
    /// backoff on dropped connections, timeouts and retryable errors.
    pub async fn request_idempotent(&self, request: Request) -> Result<Response, SdkError> {
        let mut attempt: u32 = 0;
        loop {
            match self.request(request.clone()).await {
                Err(e) if e.is_retryable() && attempt + 1 < self.inner.config.send_attempts => {
                    let delay = self
                        .inner
                        .config
                        .backoff
                        .delay_or_hint(attempt, e.retry_after_ms());
                    tracing::debug!(error = %e, ?delay, "retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                r => return r,
            }
        }
    }

    /// Append a message. An empty `client_id` gets a random one; retries reuse it, so the server
    /// stores the message once.
    pub async fn send(&self, mut send: Send) -> Result<Sent, SdkError> {
        if send.client_id.is_empty() {
            send.client_id = new_client_id();
        }
        expect_sent(self.request_idempotent(Request::Send(send)).await?)
    }

    /// Send a text message to a conversation or to the direct conversation with a handle.
    pub async fn send_text(
        &self,
        target: Target,
        text: impl Into<String>,
        reply_to: Option<Seq>,
    ) -> Result<Sent, SdkError> {
        let (conversation, peer) = split_target(target);
        self.send(Send {
            conversation,
            peer,
            client_id: new_client_id(),
            content_type: Some(TEXT_PLAIN.to_string()),
            text: Some(text.into()),
            data: None,
            reply_to,
        })
        .await
    }

    pub async fn edit(
        &self,
        conversation: ConversationId,
        seq: Seq,
        text: impl Into<String>,
    ) -> Result<Sent, SdkError> {
        let r = Request::Edit(Edit {
            conversation,
            seq,
            client_id: new_client_id(),
            text: Some(text.into()),
            data: None,
        });
        expect_sent(self.request_idempotent(r).await?)
    }

    pub async fn delete(&self, conversation: ConversationId, seq: Seq) -> Result<Sent, SdkError> {
        let r = Request::Delete(MessageRef {
            conversation,
            seq,
            client_id: new_client_id(),
        });
        expect_sent(self.request_idempotent(r).await?)
    }

    /// Forward message `seq` of `from` to `target` as it is, marked with its first author.
    pub async fn forward(
        &self,
        target: Target,
        from: ConversationId,
        seq: Seq,
    ) -> Result<Sent, SdkError> {
        let (conversation, peer) = split_target(target);
        let r = Request::Forward(chapar_proto::frame::Forward {
            conversation,
            peer,
            client_id: new_client_id(),
            from,
            seq,
        });
        expect_sent(self.request_idempotent(r).await?)
    }

    /// Put a conversation in my archive (or take it out); my other devices hear of it.
    pub async fn archive(
        &self,
        conversation: ConversationId,
        archived: bool,
    ) -> Result<(), SdkError> {
        let r = Request::Archive(chapar_proto::frame::Archive {
            conversation,
            archived,
        });
        match self.request(r).await? {
            Response::Ok => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Delete one message for me (the others keep it).
    pub async fn hide_message(
        &self,
        conversation: ConversationId,
        seq: Seq,
    ) -> Result<(), SdkError> {
        let r = Request::HideMessage(chapar_proto::frame::MessageAt { conversation, seq });
        match self.request(r).await? {
            Response::Ok => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Delete a conversation's history for me (the others keep theirs).
    pub async fn clear_history(&self, conversation: ConversationId) -> Result<(), SdkError> {
        let r = Request::ClearHistory(ConversationRef { conversation });
        match self.request(r).await? {
            Response::Ok => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Pin message `seq` at the top of the conversation (`None`: unpin).
    pub async fn pin(
        &self,
        conversation: ConversationId,
        seq: Option<Seq>,
    ) -> Result<Sent, SdkError> {
        let r = Request::Pin(chapar_proto::frame::Pin {
            conversation,
            seq,
            client_id: new_client_id(),
        });
        expect_sent(self.request_idempotent(r).await?)
    }

    pub async fn react(
        &self,
        conversation: ConversationId,
        seq: Seq,
        emoji: impl Into<String>,
        remove: bool,
    ) -> Result<Sent, SdkError> {
        let r = Request::React(React {
            conversation,
            seq,
            client_id: new_client_id(),
            emoji: emoji.into(),
            remove,
        });
        expect_sent(self.request_idempotent(r).await?)
    }

    /// Create a group with these handles as first members (retried safely by client id).
    pub async fn create_group(
        &self,
        title: impl Into<String>,
        members: Vec<String>,
    ) -> Result<ConversationInfo, SdkError> {
        let r = Request::CreateGroup(CreateGroup {
            title: title.into(),
            members,
            client_id: new_client_id(),
        });
        match self.request_idempotent(r).await? {
            Response::Conversation(c) => Ok(c),
            other => Err(unexpected(other)),
        }
    }

    pub async fn add_members(
        &self,
        conversation: ConversationId,
        handles: Vec<String>,
    ) -> Result<Sent, SdkError> {
        expect_sent(
            self.request(Request::AddMembers(AddMembers {
                conversation,
                handles,
            }))
            .await?,
        )
    }

    pub async fn remove_member(
        &self,
        conversation: ConversationId,
        handle: impl Into<String>,
    ) -> Result<Sent, SdkError> {
        expect_sent(
            self.request(Request::RemoveMember(MemberRef {
                conversation,
                handle: handle.into(),
            }))
            .await?,
        )
    }

    pub async fn leave(&self, conversation: ConversationId) -> Result<Sent, SdkError> {
        expect_sent(
            self.request(Request::Leave(ConversationRef { conversation }))
                .await?,
        )
    }

    /// Set a group's description (empty: none).
    pub async fn set_description(
        &self,
        conversation: ConversationId,
        description: impl Into<String>,
    ) -> Result<Sent, SdkError> {
        let r = Request::SetDescription(chapar_proto::frame::SetDescription {
            conversation,
            description: description.into(),
        });
        expect_sent(self.request(r).await?)
    }

    pub async fn rename(
        &self,
        conversation: ConversationId,
        title: impl Into<String>,
    ) -> Result<Sent, SdkError> {
        expect_sent(
            self.request(Request::Rename(Rename {
                conversation,
                title: title.into(),
            }))
            .await?,
        )
    }

    /// One of my conversations, with a group's description.
    pub async fn conversation(&self, id: ConversationId) -> Result<ConversationInfo, SdkError> {
        let r = Request::Conversation(ConversationRef { conversation: id });
        match self.request(r).await? {
            Response::Conversation(c) => Ok(c),
            other => Err(unexpected(other)),
        }
    }

    pub async fn conversations(&self) -> Result<Vec<ConversationInfo>, SdkError> {
        match self.request(Request::Conversations).await? {
            Response::Conversations(c) => Ok(c),
            other => Err(unexpected(other)),
        }
    }

    pub async fn members(&self, conversation: ConversationId) -> Result<Vec<MemberInfo>, SdkError> {
        match self
            .request(Request::Members(ConversationRef { conversation }))
            .await?
        {
            Response::Members(m) => Ok(m),
            other => Err(unexpected(other)),
        }
    }

    /// A page of a conversation's log, oldest first, ending before `before` (or at the newest).
    pub async fn history(
        &self,
        target: Target,
        before: Option<Seq>,
        limit: Option<u32>,
    ) -> Result<Vec<Message>, SdkError> {
        let (conversation, peer) = split_target(target);
        let r = Request::History(History {
            conversation,
            peer,
            before,
            limit,
        });
        match self.request(r).await? {
            Response::Messages(m) => Ok(m),
            other => Err(unexpected(other)),
        }
    }

    /// Move this user's markers (delivered and/or read) in a conversation.
    pub async fn mark(
        &self,
        conversation: ConversationId,
        delivered: Option<Seq>,
        read: Option<Seq>,
    ) -> Result<(), SdkError> {
        self.request(Request::Mark(Mark {
            conversation,
            delivered,
            read,
        }))
        .await
        .map(|_| ())
    }

    pub async fn typing(&self, conversation: ConversationId) -> Result<(), SdkError> {
        self.request(Request::Typing(ConversationRef { conversation }))
            .await
            .map(|_| ())
    }

    pub async fn user(&self, handle: impl Into<String>) -> Result<UserInfo, SdkError> {
        match self
            .request(Request::User(UserQuery {
                handle: handle.into(),
            }))
            .await?
        {
            Response::User(u) => Ok(u),
            other => Err(unexpected(other)),
        }
    }

    pub async fn devices(&self) -> Result<Vec<DeviceInfo>, SdkError> {
        match self.request(Request::Devices).await? {
            Response::Devices(d) => Ok(d),
            other => Err(unexpected(other)),
        }
    }

    /// A short one-time code that links a new device to this account: `(code, expires_at)`.
    pub async fn create_link_code(&self) -> Result<(String, i64), SdkError> {
        match self.request(Request::CreateLinkCode).await? {
            Response::LinkCode { code, expires_at } => Ok((code, expires_at)),
            other => Err(unexpected(other)),
        }
    }

    /// Give one of this account's devices a new name.
    pub async fn rename_device(&self, device_id: DeviceId, name: &str) -> Result<(), SdkError> {
        let r = RenameDevice {
            device_id,
            name: name.to_string(),
        };
        self.request(Request::RenameDevice(r)).await.map(|_| ())
    }

    pub async fn revoke_device(&self, device_id: DeviceId) -> Result<(), SdkError> {
        self.request(Request::RevokeDevice(RevokeDevice { device_id }))
            .await
            .map(|_| ())
    }

    /// One page of the feed after `pts` (the client syncs by itself; this is for tools).
    pub async fn sync(&self, pts: Pts, limit: Option<u32>) -> Result<SyncPage, SdkError> {
        match self.request(Request::Sync(Sync { pts, limit })).await? {
            Response::Sync(p) => Ok(p),
            other => Err(unexpected(other)),
        }
    }
}

fn split_target(target: Target) -> (Option<ConversationId>, Option<String>) {
    match target {
        Target::Conversation(c) => (Some(c), None),
        Target::Peer(h) => (None, Some(h.trim_start_matches('@').to_string())),
    }
}

fn expect_sent(r: Response) -> Result<Sent, SdkError> {
    match r {
        Response::Sent(s) => Ok(s),
        other => Err(unexpected(other)),
    }
}

pub(crate) fn unexpected(r: Response) -> SdkError {
    let s = format!("{r:?}");
    SdkError::Unexpected(s.chars().take(200).collect())
}
