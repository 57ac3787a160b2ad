//! Cost against record size: one order-select whose `conditions` prefetch holds 1,000 to 32,000 DVT
//! Conditions (every one a finding, the worst case for the classifier's "each once" bookkeeping),
//! against the floor measured on the same bodies (parse the body with `serde_json`). Linear cost shows
//! as a pipeline / floor ratio and a cost per Condition that stay flat as the record grows.
//!
//! Peak memory is measured too, each figure in a process of its own (this binary run again for one
//! size): the peak resident set of one evaluation, of the floor (the body parsed into a `serde_json`
//! value), and of the process with nothing parsed, against the body's size.
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
/// Written as text, entry by entry: building it as a `serde_json` value would cost ten times the body,
/// and the memory figures would measure that instead.
fn body(conditions: usize) -> Vec<u8> {
    const ENTRIES: &str = "@entries@";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cases/v1-mild-cdt-icd10/request.json");
    let mut request: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let dvt = request["prefetch"]["conditions"]["entry"][0].clone();
    let id = format!(r#""id":{}"#, dvt["resource"]["id"]);
    let dvt = dvt.to_string();
    assert_eq!(dvt.matches(&id).count(), 1);
    request["prefetch"]["conditions"]["entry"] = json!(ENTRIES);
    let text = request.to_string();
    let (head, tail) = text.split_once(&format!(r#""{ENTRIES}""#)).unwrap();
    let mut body = String::with_capacity(head.len() + tail.len() + conditions * (dvt.len() + 8));
    body.push_str(head);
    body.push('[');
    for n in 0..conditions {
        if n > 0 {
            body.push(',');
        }
        body.push_str(&dvt.replace(&id, &format!(r#""id":"dvt-{n}""#)));
    }
    body.push(']');
    body.push_str(tail);
    body.into_bytes()
}

/// Set in the child processes that measure one peak: `pipeline:N`, `floor:N` or `idle:0`.
const PEAK_JOB: &str = "DVT_CDS_BENCH_PEAK_JOB";

fn main() {
    if !common::benchmarking() {
        return;
    }
    if let Ok(job) = std::env::var(PEAK_JOB) {
        measure_peak(&job);
        return;
    }
    speed();
    memory();
}

/// One job in this process, then its peak resident set (KiB) on stdout.
fn measure_peak(job: &str) {
    let (kind, conditions) = job.split_once(':').unwrap();
    let conditions: usize = conditions.parse().unwrap();
    let deps = Deps::new(KnowledgeBase::embedded().unwrap(), Gatherer::default());
    let discovery = dvt_cds::app::discovery().unwrap();
    let service = discovery.find("dvt-order-select").unwrap();
    let now = OffsetDateTime::parse("2026-11-24T12:00:00Z", &Rfc3339).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let body = body(conditions);
    // The body's own pages are counted in every job alike.
    let before = peak_kib();
    match kind {
        "pipeline" => {
            let request = HookRequest::from_json(&body, service.hook()).unwrap();
            let response = runtime.block_on(pipeline::evaluate(service, &request, &deps, now, Deadline::NONE)).unwrap();
            std::hint::black_box(serde_json::to_vec(&response).unwrap());
        }
        "floor" => common::floor_parse(&body),
        _ => {}
    }
    println!("{before} {}", peak_kib());
}

/// `VmHWM` of this process, in KiB.
fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|line| line.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Runs `job` in a child process: (peak before the job, peak after it), in MiB.
fn peak_of(job: &str) -> (f64, f64) {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--bench")
        .env(PEAK_JOB, job)
        .output()
        .unwrap();
    assert!(output.status.success(), "{job}: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    let mut numbers = text.split_whitespace().map(|n| n.parse::<f64>().unwrap() / 1024.0);
    (numbers.next().unwrap(), numbers.next().unwrap())
}

fn memory() {
    println!();
    println!("peak resident memory, each in its own process; 'added' is the peak over the process before the job");
    println!(
        "{:>10} {:>10} {:>12} {:>12} {:>14} {:>14}",
        "conditions", "body MiB", "floor added", "added", "added / body", "added / floor"
    );
    for conditions in SIZES {
        let mib = body(conditions).len() as f64 / (1024.0 * 1024.0);
        let (floor_before, floor_after) = peak_of(&format!("floor:{conditions}"));
        let (before, after) = peak_of(&format!("pipeline:{conditions}"));
        let floor = floor_after - floor_before;
        let added = after - before;
        println!(
            "{conditions:>10} {mib:>10.1} {floor:>8.1} MiB {added:>8.1} MiB {:>13.1}x {:>13.2}x",
            added / mib,
            added / floor
        );
    }
}

fn speed() {
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
