//! Evidence extraction and classification per fixture case, with criterion: from the gathered record
//! (prefetch already parsed) and the draft orders to an `Assessment`. Pure CPU work, no IO.
//!
//! Beside each case criterion also measures the floor, parsing the same request body with `serde_json`,
//! and the run ends with the ratio of the two per case, from criterion's own estimates of this run.
//! Criterion also compares each figure with the previous run's.
//!
//! `cargo bench --bench classify`. Under `cargo test` it does nothing: speed is never asserted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout,
    reason = "a benchmark driver: a failure should stop it loudly, and it prints its report"
)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use criterion::Criterion;
use dvt_cds::gather::{self, Gatherer};
use dvt_cds_core::cds_hooks::HookRequest;
use dvt_cds_core::classify::classify;
use dvt_cds_core::knowledge::KnowledgeBase;
use serde_json::Value;

const FLOOR: &str = "floor";
const PURE: &str = "extract_classify";

fn main() {
    if !common::benchmarking() {
        return;
    }
    let output = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"), PathBuf::from)
        .join("criterion");
    let mut criterion = Criterion::default().output_directory(&output).configure_from_args();
    let started = SystemTime::now();
    let names = cases(&mut criterion);
    criterion.final_summary();

    println!("\n{:<36} {:>10} {:>18} {:>7}", "case", "floor", "extract+classify", "ratio");
    for name in names {
        // A case a name filter left out has no estimates from this run (none, or an earlier run's):
        // it is not reported.
        let median = |function: &str| -> Option<f64> {
            let path = output.join(format!("classify-{name}")).join(function).join("new/estimates.json");
            let written = std::fs::metadata(&path).and_then(|metadata| metadata.modified()).ok()?;
            if written < started {
                return None;
            }
            let estimates: Value = serde_json::from_str(&std::fs::read_to_string(&path).ok()?).ok()?;
            estimates["median"]["point_estimate"].as_f64()
        };
        let (Some(floor), Some(pure)) = (median(FLOOR), median(PURE)) else { continue };
        println!("{name:<36} {:>7.1} us {:>15.1} us {:>6.2}x", floor / 1e3, pure / 1e3, pure / floor);
    }
}

/// Benchmarks every case; returns their names.
fn cases(c: &mut Criterion) -> Vec<String> {
    let knowledge = KnowledgeBase::embedded().unwrap();
    let discovery = dvt_cds::app::discovery().unwrap();
    let gatherer = Gatherer::default();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    let mut names = Vec::new();
    for common::Case { name, body, service, now } in common::cases() {
        let service = discovery.find(&service).unwrap();
        let request = HookRequest::from_json(&body, service.hook()).unwrap();
        let (orders, _) = gather::draft_orders(service.hook(), request.context());
        // Full prefetch: gathering parses it and makes no request.
        let record = runtime.block_on(gather::gather(&gatherer, service, &request)).unwrap();

        let mut group = c.benchmark_group(format!("classify-{name}"));
        group.warm_up_time(Duration::from_millis(200)).measurement_time(Duration::from_millis(500)).sample_size(20);
        group.bench_function(FLOOR, |b| b.iter(|| common::floor_parse(&body)));
        group.bench_function(PURE, |b| {
            b.iter(|| {
                let evidence = gather::extract(&record, &orders, &knowledge);
                classify(&evidence, knowledge.criteria(), now)
            });
        });
        group.finish();
        names.push(name);
    }
    names
}
