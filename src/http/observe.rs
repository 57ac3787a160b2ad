//! One log line per request (route, status, latency, and the hook call's ids) and the request timeout.
//! The timeout can fire because every CPU-heavy step runs off the async threads (see `invoke`).

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;
use tracing::field::Empty;

use super::error::ApiError;
use super::request_id::RequestId;
use crate::pipeline::Deadline;

pub(super) async fn observe(State(timeout): State<Duration>, mut request: Request, next: Next) -> Response {
    // The route template, not the raw path: ids in the path are recorded by the handler once checked.
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    // Checked by `request_id` (safe characters, bounded), so it can go on the line as it is.
    let request_id = request.extensions().get::<RequestId>().and_then(|id| id.0.to_str().ok()).unwrap_or("").to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        route = %route,
        service_id = Empty,
        hook_instance = Empty,
        client_issuer = Empty,
    );
    let started = Instant::now();
    // The handler's evaluation gives up at the same instant this answers 503 (see `invoke`).
    request.extensions_mut().insert(Deadline::at(started + timeout));
    let response = match tokio::time::timeout(timeout, next.run(request).instrument(span.clone())).await {
        Ok(response) => response,
        Err(_) => span.in_scope(|| ApiError::Timeout.into_response()),
    };
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            "request finished"
        );
    });
    response
}
