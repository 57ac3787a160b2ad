//! The axum adapter: routes, body handling, CORS, logging, timeouts, and the mapping of every error
//! to a status with an OperationOutcome. It holds no clinical logic and is the only layer that knows axum.
//! Tokens are verified by `auth`, called from the `auth` middleware here.

mod auth;
mod body;
mod error;
mod evaluations;
mod feedback;
mod invoke;
mod metrics;
mod observe;
mod readiness;
mod request_id;
mod serve;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use time::OffsetDateTime;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, AllowPrivateNetwork, CorsLayer};

use crate::audit::PatientKey;
use crate::auth::{Endpoint, Trust};
use crate::feedback_store::{AuditStore, FeedbackStore};
use crate::pipeline::Deps;
use dvt_cds_core::cds_hooks::Discovery;

pub use error::ApiError;
pub use evaluations::default_max_evaluations;
pub use serve::{ConnectionSettings, default_max_connections, serve};

/// The origin of the public CDS Hooks sandbox, a browser app that calls services directly.
pub const SANDBOX_ORIGIN: &str = "https://sandbox.cds-hooks.org";

/// HTTP settings, already parsed from the configuration.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// Hook calls evaluated at once; as many more may wait (see `evaluations`).
    pub max_evaluations: usize,
    pub cors: CorsOrigins,
    /// A fixed "now" for every evaluation (demos and reproducible tests); `None` reads the clock.
    /// Tokens are always checked against the clock.
    pub frozen_now: Option<OffsetDateTime>,
    /// Token verification and the `fhirServer` allow-list.
    pub trust: Arc<Trust>,
}

/// Which browser origins may call the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    Any,
    /// Exact origins, plus every `http://localhost`, `127.0.0.1` or `[::1]` origin when `loopback` is set.
    List {
        origins: Vec<String>,
        loopback: bool,
    },
}

impl Default for CorsOrigins {
    fn default() -> CorsOrigins {
        CorsOrigins::List { origins: vec![SANDBOX_ORIGIN.to_owned()], loopback: true }
    }
}

impl CorsOrigins {
    fn allows(&self, origin: &HeaderValue) -> bool {
        let Ok(origin) = origin.to_str() else { return false };
        match self {
            CorsOrigins::Any => true,
            CorsOrigins::List { origins, loopback } => {
                origins.iter().any(|allowed| allowed.eq_ignore_ascii_case(origin))
                    || (*loopback && is_loopback_origin(origin))
            }
        }
    }
}

fn is_loopback_origin(origin: &str) -> bool {
    let Some(rest) = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) else {
        return false;
    };
    let host = if rest.starts_with('[') {
        rest.split_inclusive(']').next().unwrap_or_default()
    } else {
        rest.split(':').next().unwrap_or_default()
    };
    let port_ok = rest.get(host.len()..).is_some_and(|port| {
        port.is_empty()
            || port
                .strip_prefix(':')
                .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
    });
    port_ok && matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState(Arc<StateInner>);

struct StateInner {
    discovery: Discovery,
    /// The discovery document as served, made once: each `GET /cds-services` shares it.
    discovery_body: Bytes,
    deps: Deps,
    feedback: Arc<dyn FeedbackStore>,
    settings: HttpSettings,
    metrics: Arc<metrics::Metrics>,
    audit: Option<Audit>,
    evaluations: evaluations::Evaluations,
}

/// Where and how hook calls' decisions are recorded.
#[derive(Clone)]
pub struct Audit {
    pub store: Arc<dyn AuditStore>,
    /// `None`: entries hold no patient hash.
    pub key: Option<PatientKey>,
    /// The knowledge every decision was made with.
    pub knowledge_version: String,
}

impl AppState {
    pub fn new(discovery: Discovery, deps: Deps, feedback: Arc<dyn FeedbackStore>, settings: HttpSettings) -> AppState {
        AppState::with_audit(discovery, deps, feedback, settings, None)
    }

    /// As [`AppState::new`], recording each hook call's decision in `audit`.
    pub fn with_audit(
        discovery: Discovery,
        deps: Deps,
        feedback: Arc<dyn FeedbackStore>,
        settings: HttpSettings,
        audit: Option<Audit>,
    ) -> AppState {
        let discovery_body = Bytes::from(discovery.text().to_owned());
        let metrics = Arc::new(metrics::Metrics::new(deps.gather.query_tally()));
        let evaluations = evaluations::Evaluations::new(settings.max_evaluations);
        AppState(Arc::new(StateInner {
            discovery,
            discovery_body,
            deps,
            feedback,
            settings,
            metrics,
            audit,
            evaluations,
        }))
    }

    fn now(&self) -> OffsetDateTime {
        self.0.settings.frozen_now.unwrap_or_else(OffsetDateTime::now_utc)
    }
}

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    let settings = state.0.settings.clone();
    let origins = Arc::new(settings.cors.clone());
    let origins_for_network = Arc::clone(&origins);
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| origins.allows(origin)))
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT, request_id::X_REQUEST_ID.clone()])
        .expose_headers([request_id::X_REQUEST_ID.clone()])
        .allow_private_network(AllowPrivateNetwork::predicate(move |origin, _| origins_for_network.allows(origin)))
        .max_age(Duration::from_secs(600));

    // Route layers: the gate runs for these routes only, after routing (404 and 405 need no token).
    let gate = |endpoint| {
        let gate = auth::Gate { trust: Arc::clone(&settings.trust), endpoint, metrics: Arc::clone(&state.0.metrics) };
        axum::middleware::from_fn_with_state(gate, auth::authenticate)
    };
    Router::new()
        .route("/cds-services", get(discovery).route_layer(gate(Endpoint::Discovery)))
        .route("/cds-services/{id}", post(invoke::invoke).route_layer(gate(Endpoint::Service)))
        .route("/cds-services/{id}/feedback", post(feedback::receive).route_layer(gate(Endpoint::Service)))
        .route("/healthz", get(health))
        .route("/readyz", get(readiness::ready))
        .route("/metrics", get(metrics::scrape))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(CatchPanicLayer::custom(|_panic: Box<dyn std::any::Any + Send>| {
            // The panic payload may quote request data: it is not logged.
            ApiError::Internal("a handler panicked".to_owned()).into_response()
        }))
        .layer(axum::middleware::from_fn_with_state(settings.request_timeout, observe::observe))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(axum::middleware::from_fn(request_id::request_id))
        .layer(cors)
        .with_state(state)
}

/// `GET /cds-services`: the discovery document exactly as `cds-services.json` holds it.
async fn discovery(State(state): State<AppState>) -> Response {
    let body = state.0.discovery_body.clone();
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

/// `GET /healthz`: the process is up and serving (liveness; `/readyz` says whether it can do its work).
async fn health() -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/health+json"))], r#"{"status":"pass"}"#)
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_origins_are_recognised_with_any_port() {
        for origin in ["http://localhost", "http://localhost:3000", "http://127.0.0.1:8080", "http://[::1]:5173"] {
            assert!(is_loopback_origin(origin), "{origin}");
        }
        for origin in
            ["http://localhost.evil.com", "http://127.0.0.1.nip.io", "http://localhost:80x", "null", "http://10.0.0.1"]
        {
            assert!(!is_loopback_origin(origin), "{origin}");
        }
    }

    #[test]
    fn the_default_origins_are_the_sandbox_and_loopback() {
        let origins = CorsOrigins::default();
        assert!(origins.allows(&HeaderValue::from_static(SANDBOX_ORIGIN)));
        assert!(origins.allows(&HeaderValue::from_static("http://localhost:3000")));
        assert!(!origins.allows(&HeaderValue::from_static("https://evil.example")));
    }
}
