//! `GET /metrics`: counters and a latency histogram in the OpenMetrics text format Prometheus
//! scrapes (prometheus-client). Labels are bounded sets (route templates, status codes, reasons,
//! indicators): never a path, an id, a patient or a token.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::AppState;
use super::error::ApiError;
use crate::auth::AuthError;
use crate::feedback_store::InsertReport;
use crate::pipeline::QueryTally;
use dvt_cds_core::cds_hooks::CdsResponse;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IndicatorLabels {
    indicator: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// Every metric the service keeps, registered once per [`AppState`].
#[derive(Debug)]
pub(super) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    token_refusals: Family<ReasonLabels, Counter>,
    cards: Family<IndicatorLabels, Counter>,
    feedback: Family<ResultLabels, Counter>,
    store_failures: Family<ResultLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 8 s: our answers take well under a millisecond from prefetch, seconds when the
    // FHIR server is slow.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

impl Metrics {
    pub(super) fn new(fhir_queries: Arc<QueryTally>) -> Metrics {
        let mut registry = Registry::with_prefix("dvt_cds");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered, by route template and status", requests.clone());
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            latency.clone(),
        );
        let token_refusals = Family::<ReasonLabels, Counter>::default();
        registry.register("token_refusals", "Client tokens refused (401), by reason", token_refusals.clone());
        let cards = Family::<IndicatorLabels, Counter>::default();
        registry.register("cards", "Cards returned by hook calls, by indicator", cards.clone());
        let feedback = Family::<ResultLabels, Counter>::default();
        registry.register(
            "feedback_items",
            "Feedback items received: stored, already stored (a retry) or rejected as invalid",
            feedback.clone(),
        );
        let store_failures = Family::<ResultLabels, Counter>::default();
        registry.register(
            "store_failures",
            "Writes the database refused or did not answer, by operation",
            store_failures.clone(),
        );
        registry.register_collector(Box::new(FhirQueries(fhir_queries)));
        Metrics { registry, requests, latency, token_refusals, cards, feedback, store_failures }
    }

    pub(super) fn token_refused(&self, error: &AuthError) {
        self.token_refusals.get_or_create(&ReasonLabels { reason: error.code() }).inc();
    }

    pub(super) fn cards_returned(&self, response: &CdsResponse) {
        for indicator in response.indicators() {
            self.cards.get_or_create(&IndicatorLabels { indicator: indicator.as_str() }).inc();
        }
    }

    pub(super) fn feedback_received(&self, report: InsertReport, rejected: usize) {
        let count = |result, n: usize| {
            if n > 0 {
                self.feedback.get_or_create(&ResultLabels { result }).inc_by(u64::try_from(n).unwrap_or(u64::MAX));
            }
        };
        count("stored", report.stored);
        count("already-stored", report.already_stored);
        count("rejected", rejected);
    }

    pub(super) fn store_failed(&self, operation: &'static str) {
        self.store_failures.get_or_create(&ResultLabels { result: operation }).inc();
    }

    fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The gathering layer's tally of FHIR query outcomes, read at each scrape.
#[derive(Debug)]
struct FhirQueries(Arc<QueryTally>);

impl Collector for FhirQueries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "fhir_queries",
            "FHIR queries made for missing prefetch keys, by outcome.",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (outcome, count) in self.0.snapshot() {
            let labels = [("outcome", outcome)];
            ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// Counts every answer by route template and status, with its latency; outside the request timeout,
/// so a timed-out request counts as the 503 it became.
pub(super) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let metrics = &state.0.metrics;
    metrics.latency.get_or_create(&RouteLabels { route: route.clone() }).observe(started.elapsed().as_secs_f64());
    metrics.requests.get_or_create(&RequestLabels { route, status: response.status().as_u16() }).inc();
    response
}

/// `GET /metrics`.
pub(super) async fn scrape(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = state.0.metrics.encode().map_err(|_| ApiError::Internal("cannot encode the metrics".to_owned()))?;
    let content_type = HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8");
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}
