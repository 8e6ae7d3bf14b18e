//! The HTTP server's connections, with the limits `axum::serve` does not set: a deadline for a
//! request's headers (a client sending them a byte at a time, or a kept-alive connection that
//! sends nothing, is closed when it passes), and a cap on open connections. Past the cap a new
//! connection gets a fixed 503 problem+json written straight to the socket and is closed, before
//! any parsing, signature check or database read: idle or slow connections cannot grow past the
//! cap, and each one counts against it. At the cap, a newcomer that sends its first byte at once
//! (as a calm client does) takes the place of the connection that has sent nothing for longest
//! (at least [`EVICT_SILENT_AFTER`]); a newcomer that is silent too is refused. So a crowd of idle
//! connections, from one address or many, cannot keep the calm out until their header deadline,
//! and idle newcomers cannot evict one another.

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Connection-level limits (`ServerConfig::connections`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at most; more are refused at once with 503.
    pub max_connections: usize,
    /// How long a client has to send a request's headers, on a new connection and between
    /// requests on a kept-alive one.
    pub header_read_timeout: Duration,
    /// How long a graceful shutdown waits for requests in progress.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 10_000,
            header_read_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// How long a connection must have sent nothing before a newcomer at the cap may take its place.
pub const EVICT_SILENT_AFTER: Duration = Duration::from_secs(1);

/// How long a newcomer past the cap has to send its first byte to be let in.
const PROVE_WITHIN: Duration = Duration::from_millis(250);

/// Newcomers past the cap waiting to prove themselves at once, at most.
const MAX_TRIALS: usize = 1024;

/// A newcomer past the cap being given [`PROVE_WITHIN`] to send its first byte.
struct Trial(Arc<std::sync::atomic::AtomicUsize>);

impl Trial {
    fn begin(count: &Arc<std::sync::atomic::AtomicUsize>) -> Option<Trial> {
        use std::sync::atomic::Ordering;
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_TRIALS).then_some(n + 1)
            })
            .ok()
            .map(|_| Trial(count.clone()))
    }
}

impl Drop for Trial {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// How long a newcomer waits for the place of the silent connection it evicted.
const EVICTION_WAIT: Duration = Duration::from_millis(250);

/// Where an evicted connection hands its place (its permit) straight to the newcomer, so that
/// another connection arriving meanwhile cannot take it first.
type Handoff = tokio::sync::oneshot::Sender<tokio::sync::OwnedSemaphorePermit>;

/// Connections still waiting for their first byte, oldest first: each can be told to give its
/// place up.
#[derive(Default)]
struct Silent {
    next: u64,
    waiting: std::collections::BTreeMap<u64, (std::time::Instant, tokio::sync::oneshot::Sender<Handoff>)>,
}

impl Silent {
    fn enter(&mut self) -> (u64, tokio::sync::oneshot::Receiver<Handoff>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let id = self.next;
        self.next += 1;
        self.waiting.insert(id, (std::time::Instant::now(), tx));
        (id, rx)
    }

    /// Tells the longest-silent connection to close and hand its place over, if it has been
    /// silent long enough; the place arrives on the returned receiver.
    fn evict_oldest(
        &mut self,
        silent_for: Duration,
    ) -> Option<tokio::sync::oneshot::Receiver<tokio::sync::OwnedSemaphorePermit>> {
        let (&id, (since, _)) = self.waiting.first_key_value()?;
        if since.elapsed() < silent_for {
            return None;
        }
        let (_, tx) = self.waiting.remove(&id)?;
        let (handoff, place) = tokio::sync::oneshot::channel();
        tx.send(handoff).ok()?;
        Some(place)
    }
}

fn lock_silent(m: &std::sync::Mutex<Silent>) -> std::sync::MutexGuard<'_, Silent> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The answer to a connection past the cap (no request is read).
const REFUSAL: &str = "HTTP/1.1 503 Service Unavailable\r\n\
Content-Type: application/problem+json\r\n\
Retry-After: 1\r\n\
Cache-Control: no-store\r\n\
Connection: close\r\n\
Content-Length: 172\r\n\
\r\n\
{\"type\":\"https://lineup.dev/problems/overloaded\",\"title\":\"The server is busy; retry after the time given\",\"status\":503,\"detail\":\"Too many connections.\",\"code\":\"overloaded\"}";

/// Serves `router` on `listener` until `shutdown` completes, then lets requests in progress end
/// (at most `limits.shutdown_grace`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let silent = Arc::new(std::sync::Mutex::new(Silent::default()));
    let trials = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.header_read_timeout)
        .keep_alive_timeout(limits.header_read_timeout);
    // Tells connections still waiting for their first byte that the server is stopping.
    let (stopping, stop_seen) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors and the like: wait a moment instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let permit = slots.clone().try_acquire_owned().ok();
        // Past the cap a newcomer may still prove itself (send its first byte) and take a silent
        // connection's place; how many may be trying at once is bounded too.
        let trial = match permit {
            Some(_) => None,
            None => Trial::begin(&trials),
        };
        if permit.is_none() && trial.is_none() {
            tokio::spawn(async move {
                let mut stream = stream;
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(REFUSAL.as_bytes())).await;
                let _ = stream.shutdown().await;
            });
            continue;
        }
        let _ = stream.set_nodelay(true);
        // hyper's header deadline starts with the first byte; a connection that never sends one
        // gets the same deadline here.
        let deadline = limits.header_read_timeout;
        // The peer address rides on each request (axum's `ConnectInfo`) for the rate limits.
        let service = TowerToHyperService::new(tower::ServiceExt::map_request(
            router.clone(),
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                req
            },
        ));
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let mut stop_seen = stop_seen.clone();
        let silent = silent.clone();
        tokio::spawn(async move {
            // A newcomer past the cap: if it sends its first byte at once (a calm client does), the
            // longest-silent connection hands it its place; one that is silent too is refused.
            let handed = match (permit.is_some(), trial) {
                (false, Some(trial)) => {
                    let mut first = [0u8; 1];
                    let spoke = matches!(
                        tokio::time::timeout(PROVE_WITHIN, stream.peek(&mut first)).await,
                        Ok(Ok(1..))
                    );
                    let place = if spoke {
                        lock_silent(&silent).evict_oldest(EVICT_SILENT_AFTER)
                    } else {
                        None
                    };
                    let handed = match place {
                        Some(place) => tokio::time::timeout(EVICTION_WAIT, place)
                            .await
                            .ok()
                            .and_then(Result::ok),
                        None => None,
                    };
                    drop(trial);
                    handed
                }
                _ => None,
            };
            let Some(permit) = permit.or(handed) else {
                let mut stream = stream;
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(REFUSAL.as_bytes())).await;
                let _ = stream.shutdown().await;
                return;
            };
            // `peek` waits for a byte (tokio's readiness starts out optimistic, so `readable`
            // would not); 0 bytes is the client closing.
            let (id, evict) = lock_silent(&silent).enter();
            let mut first = [0u8; 1];
            let first_byte = tokio::select! {
                r = tokio::time::timeout(deadline, stream.peek(&mut first)) => matches!(r, Ok(Ok(1..))),
                _ = stop_seen.wait_for(|s| *s) => false,
                handoff = evict => {
                    // Evicted: the place goes to the newcomer (or back to the pool if it left).
                    if let Ok(handoff) = handoff {
                        let _ = handoff.send(permit);
                    }
                    return;
                }
            };
            lock_silent(&silent).waiting.remove(&id);
            if !first_byte {
                drop(permit);
                return;
            }
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            let _ = watcher.watch(conn).await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_well_formed() {
        let (head, body) = REFUSAL.split_once("\r\n\r\n").unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, body.len());
        let p: lineup_protocol::Problem = serde_json::from_str(body).unwrap();
        assert_eq!(p.code, lineup_protocol::ProblemCode::Overloaded);
    }
}
