//! Cost against record size: one order-select whose `conditions` prefetch holds 1,000 to 32,000 DVT
//! Conditions (every one a finding, the worst case for the classifier's "each once" bookkeeping),
//! against the floor measured on the same bodies (parse the body with `serde_json`). Linear cost shows
//! as a pipeline / floor ratio and a cost per Condition that stay flat as the record grows.
//!
//! `cargo bench --bench large_record`. Under `cargo test` it does nothing: speed is never asserted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout,
    reason = "a benchmark driver: a failure should stop it loudly, and it prints its report"
)]

mod common;

use std::path::Path;

use dvt_cds::gather::Gatherer;
use dvt_cds::pipeline::{self, Deadline, Deps};
use dvt_cds_core::cds_hooks::HookRequest;
use dvt_cds_core::knowledge::KnowledgeBase;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const SIZES: [usize; 4] = [1_000, 4_000, 16_000, 32_000];
const SAMPLES: usize = 3;

/// The `v1-mild-cdt-icd10` case with its DVT diagnosis repeated `conditions` times (distinct ids).
fn body(conditions: usize) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cases/v1-mild-cdt-icd10/request.json");
    let mut request: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let dvt = request["prefetch"]["conditions"]["entry"][0].clone();
    let entries: Vec<Value> = (0..conditions)
        .map(|n| {
            let mut entry = dvt.clone();
            entry["resource"]["id"] = json!(format!("dvt-{n}"));
            entry
        })
        .collect();
    request["prefetch"]["conditions"]["entry"] = Value::Array(entries);
    serde_json::to_vec(&request).unwrap()
}

fn main() {
    if !common::benchmarking() {
        return;
    }
    let deps = Deps::new(KnowledgeBase::embedded().unwrap(), Gatherer::default());
    let discovery = dvt_cds::app::discovery().unwrap();
    let service = discovery.find("dvt-order-select").unwrap();
    let now = OffsetDateTime::parse("2026-11-24T12:00:00Z", &Rfc3339).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    println!(
        "{:>10} {:>10} {:>10} {:>10} {:>7} {:>14}",
        "conditions", "bytes", "floor", "pipeline", "ratio", "per condition"
    );
    for conditions in SIZES {
        let body = body(conditions);
        let evaluate = || {
            let request = HookRequest::from_json(&body, service.hook()).unwrap();
            let response = runtime.block_on(pipeline::evaluate(service, &request, &deps, now, Deadline::NONE)).unwrap();
            std::hint::black_box(serde_json::to_vec(&response).unwrap());
        };
        let floor = common::median_ns(SAMPLES, 1, || common::floor_parse(&body));
        let whole = common::median_ns(SAMPLES, 1, evaluate);
        println!(
            "{conditions:>10} {:>10} {:>7.1} ms {:>7.1} ms {:>6.2}x {:>11.2} us",
            body.len(),
            floor / 1e6,
            whole / 1e6,
            whole / floor,
            whole / conditions as f64 / 1e3
        );
    }
}
