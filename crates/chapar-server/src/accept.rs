//! The accept loop: every TCP connection of the node, plain HTTP and WebSocket alike.
//!
//! * A cap on open connections (`gateway.max_http_connections`). Beyond it a new connection is
//!   closed at once, before anything is read from it, so the process never runs out of file
//!   descriptors and the connections already in keep working. A WebSocket keeps its place for
//!   its whole life (the place travels with the socket through the upgrade).
//! * Timers for plain HTTP, checked by a small watchdog per connection while it speaks HTTP:
//!   a connection that has not sent a whole request header within
//!   `gateway.header_read_timeout_secs` of its first byte (or, for a new connection, of being
//!   accepted) is closed; so is a keep-alive connection that sends nothing for
//!   `gateway.http_idle_timeout_secs` after its last answer. While a request is being handled
//!   the watchdog leaves it alone: handlers that read a body bound that with
//!   `gateway.body_read_timeout_secs` ([`read_body`]), long polls bound themselves.
//! * Once a connection is upgraded to a WebSocket, hyper hands the socket over and none of these
//!   timers applies any more: the gateway's own heartbeat and idle timeout take over.

use crate::config::GatewayConfig;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

/// Largest read buffer of one HTTP connection: bounds what a half-sent header can hold
/// (hyper's default is about 400 KiB).
const MAX_BUF: usize = 64 * 1024;

/// The node's HTTP counters (for `/metrics`).
#[derive(Default)]
pub struct HttpStats {
    /// Connections open now (HTTP and WebSocket).
    pub open: AtomicU64,
    /// The cap in force.
    pub cap: AtomicU64,
    /// Connections closed at once because the cap was reached.
    pub refused: AtomicU64,
    /// Connections closed for not sending a header in time.
    pub header_timeouts: AtomicU64,
    /// Keep-alive connections closed for being idle.
    pub idle_timeouts: AtomicU64,
    /// Requests answered 408 because their body did not arrive in time.
    pub body_timeouts: AtomicU64,
}

/// The timers of plain HTTP connections.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub header: Duration,
    pub idle: Duration,
}

impl Timeouts {
    pub fn from_config(gw: &GatewayConfig) -> Timeouts {
        Timeouts {
            header: Duration::from_secs(gw.header_read_timeout_secs.max(1)),
            idle: Duration::from_secs(gw.http_idle_timeout_secs.max(1)),
        }
    }

    /// How often the watchdog looks: often enough to close within a quarter of a second (or a
    /// tenth of the shortest timer) of the deadline.
    fn tick(&self) -> Duration {
        (self.header.min(self.idle) / 10)
            .clamp(Duration::from_millis(50), Duration::from_millis(250))
    }
}

/// "Not set" for the millisecond stamps below.
const NONE: u64 = u64::MAX;

/// What a connection did and when, in milliseconds since it was accepted. Written by the socket
/// wrapper and the request counter, read by the watchdog.
struct Activity {
    start: Instant,
    /// Requests being handled now.
    in_flight: AtomicU32,
    /// Requests received so far.
    requests: AtomicU64,
    /// When the connection last became idle (accepted, or its last request answered) or last
    /// wrote a byte (an answer's body is still being sent).
    idle_since: AtomicU64,
    /// First byte read while no request was being handled: a request header has begun.
    header_started: AtomicU64,
    /// HTTP is over on this socket (closed, or upgraded to a WebSocket): nothing watches the
    /// stamps any more, so they are not kept.
    done: AtomicBool,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            in_flight: AtomicU32::new(0),
            requests: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            header_started: AtomicU64::new(NONE),
            done: AtomicBool::new(false),
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn read(&self) {
        if !self.done.load(Ordering::Relaxed)
            && self.in_flight.load(Ordering::Relaxed) == 0
            && self.header_started.load(Ordering::Relaxed) == NONE
        {
            self.header_started.store(self.now(), Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        if !self.done.load(Ordering::Relaxed) {
            self.idle_since.store(self.now(), Ordering::Relaxed);
        }
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.header_started.store(NONE, Ordering::Relaxed);
    }

    fn request_done(&self) {
        self.idle_since.store(self.now(), Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// Why the connection must be closed now, if it must.
    fn expired(&self, t: &Timeouts) -> Option<Expired> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let now = self.now();
        let header = t.header.as_millis() as u64;
        let started = self.header_started.load(Ordering::Relaxed);
        if started != NONE {
            return (now.saturating_sub(started) > header).then_some(Expired::Header);
        }
        let since = self.idle_since.load(Ordering::Relaxed);
        if self.requests.load(Ordering::Relaxed) == 0 {
            // Accepted and silent: it gets the header's time, not a keep-alive's.
            return (now.saturating_sub(since) > header).then_some(Expired::Header);
        }
        (now.saturating_sub(since) > t.idle.as_millis() as u64).then_some(Expired::Idle)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expired {
    Header,
    Idle,
}

/// A TCP stream that holds its place under the connection cap and records its activity. It
/// goes with the socket through a WebSocket upgrade, so the place is kept until the socket
/// closes.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
    stats: Arc<HttpStats>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote();
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Counts a request as in flight until its handler has answered (also when it is dropped).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(activity: &Arc<Activity>) -> InFlight {
        activity.request_started();
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_done();
    }
}

/// Serve `router` on `listener` until `shutdown` resolves, then stop accepting, let every HTTP
/// connection finish its request, and return once they have. Upgraded WebSockets are not
/// waited for here (the registry drains them before `shutdown` resolves).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    cap: usize,
    timeouts: Timeouts,
    stats: Arc<HttpStats>,
    shutdown: impl Future<Output = ()>,
) {
    let places = Arc::new(Semaphore::new(cap));
    stats.cap.store(cap as u64, Ordering::Relaxed);
    // Every connection task holds a receiver: when all are dropped, `closed` resolves.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors or memory: wait instead of spinning; anything else is one
                // failed connection.
                if !matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                ) {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                continue;
            }
        };
        let Ok(permit) = places.clone().try_acquire_owned() else {
            // Full: close at once. Nothing is read and nothing is kept for it.
            stats.refused.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        stats.open.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity::new());
        let io = Tracked {
            inner: stream,
            activity: activity.clone(),
            stats: stats.clone(),
            _permit: permit,
        };
        tokio::spawn(connection(
            io,
            peer,
            router.clone(),
            activity,
            timeouts,
            stats.clone(),
            stop_rx.clone(),
        ));
    }
    let _ = stop_tx.send(true);
    drop(stop_rx);
    stop_tx.closed().await;
}

async fn connection(
    io: Tracked,
    peer: SocketAddr,
    router: Router,
    activity: Arc<Activity>,
    timeouts: Timeouts,
    stats: Arc<HttpStats>,
    mut stop: watch::Receiver<bool>,
) {
    let counted = activity.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let guard = InFlight::new(&counted);
        let mut router = router.clone();
        async move {
            let response = tower_service::Service::call(&mut router, request.map(Body::new)).await;
            drop(guard);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .keep_alive(true)
        .max_buf_size(MAX_BUF)
        // The watchdog below keeps the time (hyper's header timer would also end idle
        // keep-alive connections at the header's deadline).
        .header_read_timeout(None);
    let mut conn = pin!(
        builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades()
    );
    let mut watchdog = tokio::time::interval(timeouts.tick());
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                // A WebSocket upgrade lands here too: its frames need no timekeeping.
                activity.done.store(true, Ordering::Relaxed);
                if let Err(e) = result {
                    tracing::trace!(error = %e, "http connection ended");
                }
                return;
            }
            _ = watchdog.tick() => match activity.expired(&timeouts) {
                Some(Expired::Header) => {
                    stats.header_timeouts.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Some(Expired::Idle) => {
                    stats.idle_timeouts.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                None => {}
            },
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the request body did not arrive within {0} s")]
    Timeout(u64),
}

/// Read a whole request body of at most `limit` bytes within the body read timeout.
pub async fn read_body(
    app: &crate::state::App,
    body: Body,
    limit: usize,
) -> Result<Bytes, BodyError> {
    let secs = app.config.gateway.body_read_timeout_secs.max(1);
    match tokio::time::timeout(Duration::from_secs(secs), axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(BodyError::TooLarge(limit)),
        Err(_) => {
            app.http.body_timeouts.fetch_add(1, Ordering::Relaxed);
            Err(BodyError::Timeout(secs))
        }
    }
}

/// The connection cap `gateway.max_http_connections` names (0: the open-file limit minus 128).
pub fn cap(gw: &GatewayConfig) -> usize {
    if gw.max_http_connections == 0 {
        crate::admission::open_file_limit()
            .saturating_sub(128)
            .max(128)
    } else {
        // A semaphore holds at most this many places; a larger number means "no cap" anyway.
        gw.max_http_connections.min(Semaphore::MAX_PERMITS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Timeouts {
        Timeouts {
            header: Duration::from_millis(100),
            idle: Duration::from_millis(300),
        }
    }

    #[test]
    fn a_silent_new_connection_gets_the_header_time() {
        let a = Activity::new();
        assert_eq!(a.expired(&t()), None);
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(a.expired(&t()), Some(Expired::Header));
    }

    #[test]
    fn a_request_in_flight_is_never_expired_and_then_idle_counts() {
        let a = Activity::new();
        a.read();
        a.request_started();
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(
            a.expired(&t()),
            None,
            "a long request is the handler's business"
        );
        a.request_done();
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(a.expired(&t()), None, "idle, but not for long");
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(a.expired(&t()), Some(Expired::Idle));
    }

    #[test]
    fn a_header_begun_after_a_request_must_finish_in_time() {
        let a = Activity::new();
        a.request_started();
        a.request_done();
        a.read();
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(a.expired(&t()), Some(Expired::Header));
    }
}
