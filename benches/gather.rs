//! What the FHIR fallback costs: one demo case posted to the service (in-process, on loopback) with
//! its full prefetch, then without prefetch so every key is queried from the real FHIR server of the
//! tests (Medplum's FHIR router on Node, on loopback). Prints p50 and p90 of each and the added p50.
//!
//! Run with `cargo bench --bench gather` (after `bash .ci/test` has installed the FHIR server).
//! Under `cargo test` or nextest it lists no test and does nothing: speed is never asserted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::print_stderr,
    dead_code,
    reason = "a benchmark driver: a failure should stop it loudly, and it shares the test harness"
)]

mod common;
#[path = "../tests/it/fhir_server.rs"]
mod fhir_server;
#[path = "../tests/it/support.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::Value;

const CASE: &str = "iliofemoral-dvt-apixaban";
const WARM_UP: usize = 20;
const SAMPLES: usize = 200;

fn main() {
    if !common::benchmarking() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(measure());
}

async fn measure() {
    let server = fhir_server::FhirServer::with_demo_patients().await;
    let service = support::TestService::start_with(&["--now", "2026-11-24T12:00:00Z"]).await;
    let prefetched = support::demo_case(CASE);
    let queried = support::by_query(&prefetched, &server.base);
    let client = support::client();
    let url = service.url("/cds-services/dvt-order-select");

    let prefetch = time(&client, &url, &prefetched).await;
    let fallback = time(&client, &url, &queried).await;
    let (prefetch_p50, prefetch_p90) = (percentile(&prefetch, 50), percentile(&prefetch, 90));
    let (fallback_p50, fallback_p90) = (percentile(&fallback, 50), percentile(&fallback, 90));
    println!("case {CASE}, {SAMPLES} calls each, service and FHIR server on loopback");
    println!("prefetch  p50 {prefetch_p50:>9.2?}  p90 {prefetch_p90:>9.2?}");
    println!("fallback  p50 {fallback_p50:>9.2?}  p90 {fallback_p90:>9.2?}  (7 keys queried, version check cached)");
    println!("added by the fallback: p50 {:.2?}", fallback_p50.saturating_sub(prefetch_p50));
    service.stop().await;
}

/// Each call's latency, after a warm-up; every answer must be a 200.
async fn time(client: &reqwest::Client, url: &str, request: &Value) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(SAMPLES);
    for n in 0..WARM_UP + SAMPLES {
        let started = Instant::now();
        let response = client.post(url).json(request).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
        if n >= WARM_UP {
            samples.push(started.elapsed());
        }
    }
    samples.sort();
    samples
}

fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    sorted[(sorted.len() * percent / 100).min(sorted.len() - 1)]
}
