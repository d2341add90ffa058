//! The background task that owns the socket: it matches replies to requests, feeds pushed events
//! through the [`PtsTracker`], sends coalesced delivery marks, and reconnects with backoff.
//!
//! Bounds: requests wait in a bounded channel and at most `max_in_flight` are outstanding; the
//! event channel is bounded and awaited for feed events (a slow application slows reading, the
//! server then disconnects us as lagging and we resync); status and typing events are shed.

use crate::config::{Auth, ClientConfig, Credentials};
use crate::conn::{self, Incoming, Ws};
use crate::error::SdkError;
use crate::event::ClientEvent;
use crate::tracker::{PtsTracker, Step};
use chapar_proto::frame::{Mark, Sync};
use chapar_proto::{
    ClientFrame, ConversationId, ErrorCode, Event, FeedEvent, Request, Response, Seq, ServerFrame,
    Session, UserId,
};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// A request from a `Client` handle to the driver.
pub(crate) struct Command {
    pub request: Request,
    pub reply: oneshot::Sender<Result<Response, SdkError>>,
}

/// State the handles read without asking the driver.
#[derive(Default)]
pub(crate) struct Shared {
    pub pts: AtomicU64,
    pub session: Mutex<Option<Session>>,
    pub token: Mutex<Option<String>>,
    /// The current connection's challenge (a recovery key signs it to be registered).
    pub challenge: Mutex<Vec<u8>>,
}

impl Shared {
    pub(crate) fn set_challenge(&self, challenge: Vec<u8>) {
        if let Ok(mut g) = self.challenge.lock() {
            *g = challenge;
        }
    }

    pub(crate) fn set_session(&self, s: &Session, token: Option<String>) {
        if let Ok(mut g) = self.session.lock() {
            *g = Some(s.clone());
        }
        if let Ok(mut g) = self.token.lock() {
            *g = token;
        }
    }
}

/// Who is waiting for a reply.
enum Pending {
    App(oneshot::Sender<Result<Response, SdkError>>),
    Sync,
    Mark,
}

/// Why a connection ended.
enum End {
    /// The application is gone or closed the client.
    Closed,
    Revoked,
    /// The operators suspended the account.
    Suspended(String),
    Lost {
        reason: String,
        retry_after_ms: Option<u64>,
    },
}

pub(crate) struct Driver {
    pub urls: Vec<String>,
    pub url_idx: usize,
    pub config: ClientConfig,
    pub creds: Credentials,
    pub cmd_rx: mpsc::Receiver<Command>,
    pub events: mpsc::Sender<ClientEvent>,
    pub shutdown: oneshot::Receiver<()>,
    pub shared: Arc<Shared>,
    pub tracker: PtsTracker,
    pub me: UserId,
    pub next_id: u64,
    pub first: bool,
}

/// Try the URLs in turn (with backoff between attempts) until one signs in. Gives up after
/// `max_attempts` (if given) or on an error retrying cannot fix.
pub(crate) async fn establish(
    urls: &[String],
    url_idx: &mut usize,
    config: &ClientConfig,
    creds: &mut Credentials,
    auth: &Auth,
    max_attempts: Option<u32>,
    mut on_wait: impl FnMut(u32, Duration, bool),
) -> Result<(Ws, Session, Vec<u8>), SdkError> {
    let mut attempt: u32 = 0;
    loop {
        let url = &urls[*url_idx % urls.len()];
        let result = async {
            let mut ws = conn::open(url, config).await?;
            let (session, challenge) = conn::handshake(&mut ws, config, creds, auth).await?;
            Ok::<_, SdkError>((ws, session, challenge))
        }
        .await;
        let err = match result {
            Ok(ok) => return Ok(ok),
            Err(e) => e,
        };
        if !err.is_retryable() {
            return Err(err);
        }
        *url_idx = (*url_idx + 1) % urls.len();
        attempt += 1;
        if max_attempts.is_some_and(|m| attempt >= m) {
            return Err(err);
        }
        let delay = config
            .backoff
            .delay_or_hint(attempt.saturating_sub(1), err.retry_after_ms());
        tracing::debug!(%url, error = %err, ?delay, "connect failed, retrying");
        on_wait(attempt, delay, err.retry_after_ms().is_some());
        tokio::time::sleep(delay).await;
    }
}

impl Driver {
    /// Serve the connection we have, then reconnect until closed or revoked.
    pub(crate) async fn run(mut self, mut ws: Ws, mut session: Session) {
        loop {
            let end = self.serve(&mut ws, &session).await;
            let _ = futures_util::SinkExt::close(&mut ws).await;
            // Free the dead socket before reconnecting: a reconnecting client must not hold
            // two descriptors (15,000 clients in one process would need 30,000).
            drop(ws);
            let hint = match end {
                End::Closed => return,
                End::Revoked => {
                    let _ = self.events.send(ClientEvent::Revoked).await;
                    return;
                }
                End::Suspended(message) => {
                    let _ = self.events.send(ClientEvent::Suspended { message }).await;
                    return;
                }
                End::Lost {
                    reason,
                    retry_after_ms,
                } => {
                    tracing::info!(%reason, "disconnected");
                    let _ = self.events.try_send(ClientEvent::Disconnected { reason });
                    retry_after_ms
                }
            };
            match self.reconnect(hint).await {
                Ok(Some((w, s, challenge))) => {
                    ws = w;
                    session = s;
                    self.shared.set_challenge(challenge);
                }
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot sign in again");
                    let _ = self.events.send(ClientEvent::Revoked).await;
                    return;
                }
            }
        }
    }

    /// Wait (jittered, or as the server asked), then connect again. `Ok(None)`: shut down.
    async fn reconnect(
        &mut self,
        hint: Option<u64>,
    ) -> Result<Option<(Ws, Session, Vec<u8>)>, SdkError> {
        let first_delay = self.config.backoff.delay_or_hint(0, hint);
        let _ = self.events.try_send(ClientEvent::Reconnecting {
            attempt: 1,
            delay: first_delay,
            busy: hint.is_some(),
        });
        let Driver {
            urls,
            url_idx,
            config,
            creds,
            shutdown,
            events,
            ..
        } = self;
        let attempt = async {
            tokio::time::sleep(first_delay).await;
            let mut rounds: u32 = 0;
            loop {
                let r = establish(
                    urls,
                    url_idx,
                    config,
                    creds,
                    &Auth::Resume,
                    None,
                    |attempt, delay, busy| {
                        let _ = events.try_send(ClientEvent::Reconnecting {
                            attempt: attempt + 1,
                            delay,
                            busy,
                        });
                    },
                )
                .await;
                match r {
                    Ok(c) => return Ok(c),
                    // The device is revoked or unknown: retrying cannot help.
                    Err(SdkError::Server(e)) if e.code == ErrorCode::Unauthorized => {
                        return Err(SdkError::Server(e));
                    }
                    Err(e) => {
                        // Anything else (a confused proxy, a bad frame) may pass: keep trying.
                        rounds = rounds.saturating_add(1);
                        let delay = config.backoff.delay(rounds.saturating_add(4));
                        tracing::warn!(error = %e, ?delay, "reconnect failed");
                        tokio::time::sleep(delay).await;
                    }
                }
            }
        };
        tokio::select! {
            _ = shutdown => Ok(None),
            r = attempt => r.map(Some),
        }
    }

    fn alloc_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    async fn emit(&self, ev: ClientEvent) {
        // The application dropping its receiver is not an error for the connection.
        let _ = self.events.send(ev).await;
    }

    async fn serve(&mut self, ws: &mut Ws, session: &Session) -> End {
        let enc = self.config.encoding;
        self.me = session.user.id;
        self.shared.set_session(session, self.creds.token.clone());
        if self.first {
            self.first = false;
            if !self.config.catch_up {
                self.tracker.jump_to(session.pts);
                self.shared
                    .pts
                    .store(self.tracker.last(), Ordering::Relaxed);
            }
        }
        self.emit(ClientEvent::Connected(session.clone())).await;
        if session.pts < self.tracker.last() {
            // The server's feed is behind our cursor (its data was replaced): start over from
            // its pts, and tell the app to refetch what it shows.
            self.tracker.rewind(session.pts);
            self.shared.pts.store(session.pts, Ordering::Relaxed);
            self.emit(ClientEvent::Reset).await;
        }

        let mut pending: HashMap<u64, Pending> = HashMap::new();
        let mut marks: HashMap<ConversationId, Seq> = HashMap::new();
        let mut mark_at: Option<Instant> = None;
        let mut steps = vec![self.tracker.on_connected()];

        let end = 'conn: loop {
            // Act on what the tracker decided.
            for step in std::mem::take(&mut steps) {
                match step {
                    Step::Deliver(ev) => {
                        self.note_mark(&ev, &mut marks, &mut mark_at);
                        self.shared.pts.store(ev.pts, Ordering::Relaxed);
                        self.emit(ClientEvent::Feed(ev)).await;
                    }
                    Step::Reset => self.emit(ClientEvent::Reset).await,
                    Step::Synced(pts) => {
                        // Acknowledge what the catch-up brought before saying it is done, so
                        // an app that exits on `Synced` still leaves its delivery marks.
                        mark_at = None;
                        if let Err(e) = self.flush_marks(ws, &mut marks, &mut pending).await {
                            break 'conn lost(e);
                        }
                        self.emit(ClientEvent::Synced { pts }).await;
                    }
                    Step::Sync(pts) => {
                        let id = self.alloc_id();
                        pending.insert(id, Pending::Sync);
                        let request = Request::Sync(Sync {
                            pts,
                            limit: self.config.sync_page,
                        });
                        if let Err(e) =
                            conn::send_frame(ws, enc, &ClientFrame { id, request }).await
                        {
                            break 'conn lost(e);
                        }
                    }
                }
            }

            let can_take = pending.len() < self.config.max_in_flight;
            let mark_deadline = mark_at.unwrap_or_else(Instant::now);
            tokio::select! {
                _ = &mut self.shutdown => break 'conn End::Closed,
                msg = ws.next() => {
                    let Some(msg) = msg else {
                        break 'conn End::Lost { reason: "connection closed".into(), retry_after_ms: None };
                    };
                    let frame = match conn::decode(msg) {
                        Ok(Incoming::Frame(f)) => *f,
                        Ok(Incoming::Skip) => continue,
                        Ok(Incoming::Closed(reason)) => break 'conn End::Lost { reason, retry_after_ms: None },
                        Err(e) => break 'conn lost(e),
                    };
                    if let Some(end) = self.on_frame(frame, &mut pending, &mut steps) {
                        break 'conn end;
                    }
                }
                cmd = self.cmd_rx.recv(), if can_take => {
                    let Some(Command { request, reply }) = cmd else { break 'conn End::Closed };
                    if reply.is_closed() {
                        continue; // the caller gave up (timeout) while this waited
                    }
                    let id = self.alloc_id();
                    pending.insert(id, Pending::App(reply));
                    if let Err(e) = conn::send_frame(ws, enc, &ClientFrame { id, request }).await {
                        break 'conn lost(e);
                    }
                }
                _ = tokio::time::sleep_until(mark_deadline), if mark_at.is_some() => {
                    mark_at = None;
                    if let Err(e) = self.flush_marks(ws, &mut marks, &mut pending).await {
                        break 'conn lost(e);
                    }
                }
            }
            if !can_take {
                // Callers that timed out no longer need their slot.
                pending.retain(|_, p| !matches!(p, Pending::App(tx) if tx.is_closed()));
            }
        };

        for (_, p) in pending.drain() {
            if let Pending::App(tx) = p {
                let _ = tx.send(Err(match end {
                    End::Closed => SdkError::Closed,
                    _ => SdkError::Disconnected,
                }));
            }
        }
        end
    }

    fn on_frame(
        &mut self,
        frame: ServerFrame,
        pending: &mut HashMap<u64, Pending>,
        steps: &mut Vec<Step>,
    ) -> Option<End> {
        match frame {
            ServerFrame::Reply { id, result } => match pending.remove(&id) {
                Some(Pending::App(tx)) => {
                    let _ = tx.send(Ok(result));
                }
                Some(Pending::Sync) => match result {
                    Response::Sync(page) => self.tracker.on_sync_page(page, steps),
                    other => {
                        return Some(End::Lost {
                            reason: format!("unexpected sync reply {other:?}"),
                            retry_after_ms: None,
                        });
                    }
                },
                Some(Pending::Mark) | None => {}
            },
            ServerFrame::Error {
                id: Some(id),
                error,
            } => match pending.remove(&id) {
                Some(Pending::App(tx)) => {
                    let _ = tx.send(Err(SdkError::Server(error)));
                }
                Some(Pending::Sync) => {
                    // Start over on a fresh connection; the sync resumes from the cursor.
                    return Some(End::Lost {
                        reason: format!("sync failed: {error}"),
                        retry_after_ms: error.retry_after_ms,
                    });
                }
                Some(Pending::Mark) | None => {
                    tracing::debug!(%error, "error for an internal request");
                }
            },
            ServerFrame::Error { id: None, error } => {
                tracing::warn!(%error, "server could not read a frame");
            }
            ServerFrame::Event {
                pts: Some(pts),
                event,
            } => self.tracker.on_live(FeedEvent { pts, event }, steps),
            ServerFrame::Event { pts: None, event } => match event {
                Event::Typing(t) => {
                    let _ = self.events.try_send(ClientEvent::Typing(t));
                }
                Event::CallbackAnswer(a) => {
                    let _ = self.events.try_send(ClientEvent::CallbackAnswer(a));
                }
                Event::SettingsChanged(c) => {
                    let _ = self.events.try_send(ClientEvent::SettingsChanged(c.what));
                }
                Event::Presence(p) => {
                    let _ = self.events.try_send(ClientEvent::Presence(p));
                }
                _ => {}
            },
            ServerFrame::Control(c) => {
                if c.reason == "revoked" {
                    return Some(End::Revoked);
                }
                if c.reason == "suspended" {
                    return Some(End::Suspended(c.message));
                }
                return Some(End::Lost {
                    reason: format!("{}: {}", c.reason, c.message),
                    retry_after_ms: c.retry_after_ms,
                });
            }
            ServerFrame::Hello(_) => {}
        }
        None
    }

    fn note_mark(
        &self,
        ev: &FeedEvent,
        marks: &mut HashMap<ConversationId, Seq>,
        mark_at: &mut Option<Instant>,
    ) {
        if !self.config.auto_delivered {
            return;
        }
        if let Event::Message(m) = &ev.event
            && m.sender != self.me
        {
            let e = marks.entry(m.conversation).or_insert(0);
            *e = (*e).max(m.seq);
            if mark_at.is_none() {
                *mark_at = Some(Instant::now() + self.config.mark_delay);
            }
        }
    }

    async fn flush_marks(
        &mut self,
        ws: &mut Ws,
        marks: &mut HashMap<ConversationId, Seq>,
        pending: &mut HashMap<u64, Pending>,
    ) -> Result<(), SdkError> {
        for (conversation, seq) in marks.drain() {
            if pending.len() >= self.config.max_in_flight {
                break; // best effort: the next message moves the marker anyway
            }
            let id = self.alloc_id();
            pending.insert(id, Pending::Mark);
            let request = Request::Mark(Mark {
                conversation,
                delivered: Some(seq),
                read: None,
            });
            conn::send_frame(ws, self.config.encoding, &ClientFrame { id, request }).await?;
        }
        Ok(())
    }
}

fn lost(e: SdkError) -> End {
    End::Lost {
        reason: e.to_string(),
        retry_after_ms: e.retry_after_ms(),
    }
}
