//! The connection loop: HTTP/1.1 only, a bounded number of connections, a header-read timeout that
//! also closes idle keep-alive connections, and a shutdown that finishes in-flight requests within a
//! bounded grace period.
//!
//! HTTP/2 is not served, deliberately: the EHRs and the sandbox call us over HTTP/1.1 (behind TLS
//! termination), and one protocol means one set of limits to get right. A client that opens with
//! the HTTP/2 preface has its connection closed by hyper without an answer, never an HTTP/2 session.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use dvt_cds_core::cds_hooks::{IssueType, OperationOutcome};

/// How connections are held: limits and timeouts, already parsed from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// Connections served at once; one more is answered 503 and closed at once.
    pub max_connections: usize,
    /// Time a client has to send a whole request head, counted from when the connection is ready for
    /// it: from the accept, or from the end of the previous response on a keep-alive connection (so it
    /// is also the idle keep-alive timeout).
    pub header_read_timeout: Duration,
    /// After a shutdown is asked for, time left to in-flight requests; connections still open then
    /// (a half-sent request, a slow client) are closed.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionSettings {
    fn default() -> ConnectionSettings {
        ConnectionSettings {
            max_connections: default_max_connections(),
            header_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Half the process's file limit (the soft `RLIMIT_NOFILE`): the other half is for the FHIR and JWKS
/// connections requests make, the database and the log. At least 16, at most 65,536.
pub fn default_max_connections() -> usize {
    const FALLBACK: u64 = 512;
    let soft = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(FALLBACK * 2, |(soft, _)| soft);
    usize::try_from((soft / 2).clamp(16, 65_536)).unwrap_or(512)
}

/// Refused connections waiting for the client to read the 503 (so closing does not reset it away).
const MAX_LINGERING: usize = 64;
/// How long a refused connection waits for the client to read the 503 and close.
const LINGER: Duration = Duration::from_millis(500);
/// After an accept error (out of file descriptors, most likely), wait this long before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one log line a second about refused connections, with the count since the last one.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` resolves, then lets complete in-flight requests
/// finish for at most the shutdown grace, and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ConnectionSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1.timer(TokioTimer::new()).header_read_timeout(settings.header_read_timeout).keep_alive(true);
    let http1 = Arc::new(http1);
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let lingering = Arc::new(Semaphore::new(MAX_LINGERING));
    let busy = Arc::new(busy_response());
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut refusals = RefusalLog::default();
    tokio::pin!(shutdown);

    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(%error, "cannot accept a connection");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    refusals.refused(settings.max_connections);
                    refuse(stream, &lingering, &busy);
                    continue;
                };
                let http1 = Arc::clone(&http1);
                let service = TowerToHyperService::new(router.clone());
                let mut stopping = stopping.clone();
                connections.spawn(async move {
                    let _slot = slot;
                    let connection = http1.serve_connection(TokioIo::new(stream), service);
                    tokio::pin!(connection);
                    let finished = tokio::select! {
                        finished = connection.as_mut() => finished,
                        _ = stopping.changed() => {
                            connection.as_mut().graceful_shutdown();
                            connection.await
                        }
                    };
                    if let Err(error) = finished {
                        // A client's broken or timed-out connection: nothing of ours failed.
                        tracing::debug!(%error, "a connection ended with an error");
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }

    drop(listener);
    let _ = stop.send(true);
    tracing::info!(
        connections = connections.len(),
        grace_ms = u64::try_from(settings.shutdown_grace.as_millis()).unwrap_or(u64::MAX),
        "finishing in-flight requests"
    );
    let drained =
        tokio::time::timeout(settings.shutdown_grace, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "the shutdown grace is over: closing the connections still open"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// The answer to a connection over the limit, written before anything is read. The request's `Origin`
/// is not read either, so the CORS header is `*`: it lets a browser client (the sandbox) read the 503
/// and its `Retry-After` instead of reporting a network error, and the body says nothing but "busy".
fn busy_response() -> Vec<u8> {
    let outcome = OperationOutcome::error(IssueType::Throttled, "too many connections; try again shortly");
    let body = serde_json::to_vec(&outcome).unwrap_or_default();
    let mut response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/fhir+json\r\ncontent-length: {}\r\n\
         retry-after: 1\r\naccess-control-allow-origin: *\r\naccess-control-expose-headers: retry-after\r\n\
         connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    response
}

/// Answers 503 without reading the request, then closes. The close waits (briefly, for a bounded number
/// of connections) for the client to read the answer: closing a socket with unread input resets it,
/// and the client would see the reset instead of the 503.
fn refuse(stream: TcpStream, lingering: &Arc<Semaphore>, busy: &Arc<Vec<u8>>) {
    let _ = stream.try_write(busy);
    let Ok(permit) = Arc::clone(lingering).try_acquire_owned() else { return };
    tokio::spawn(async move {
        let _permit = permit;
        let mut stream = stream;
        let _ = stream.shutdown().await;
        let mut sink = [0_u8; 4096];
        let _ = tokio::time::timeout(LINGER, async { while let Ok(1..) = stream.read(&mut sink).await {} }).await;
    });
}

/// Logs refused connections at most once per interval, with how many since the last line.
#[derive(Default)]
struct RefusalLog {
    last: Option<Instant>,
    unlogged: u64,
}

impl RefusalLog {
    fn refused(&mut self, limit: usize) {
        self.unlogged += 1;
        if self.last.is_some_and(|last| last.elapsed() < REFUSAL_LOG_INTERVAL) {
            return;
        }
        tracing::warn!(limit, refused = self.unlogged, "refused connections: the connection limit is reached");
        self.last = Some(Instant::now());
        self.unlogged = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_limit_is_half_the_file_limit() {
        let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        assert_eq!(default_max_connections() as u64, (soft / 2).clamp(16, 65_536));
    }

    #[test]
    fn the_busy_answer_is_a_complete_http_response_with_an_operation_outcome() {
        let response = String::from_utf8(busy_response()).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        let outcome: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(outcome["issue"][0]["code"], "throttled");
    }
}
