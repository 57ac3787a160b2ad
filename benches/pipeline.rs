//! The whole evaluation in process, per fixture case, against the floor measured beside it.
//!
//! For each case: the floor (parse the request body with `serde_json`, as an axum handler that does
//! nothing else would) and the full pipeline (read and check the request, gather from the prefetch, extract
//! evidence, classify, render the cards, write the response JSON). No HTTP and no FHIR server:
//! `benches/service.rs` measures the service over loopback, `benches/classify.rs` the pure part alone.
//!
//! `cargo bench --bench pipeline`. Under `cargo test` it does nothing: speed is never asserted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout,
    reason = "a benchmark driver: a failure should stop it loudly, and it prints its report"
)]

mod common;

use dvt_cds::gather::Gatherer;
use dvt_cds::pipeline::{self, Deps};
use dvt_cds_core::cds_hooks::HookRequest;
use dvt_cds_core::knowledge::KnowledgeBase;

const SAMPLES: usize = 15;
const BATCH: usize = 200;

fn main() {
    if !common::benchmarking() {
        return;
    }
    let deps = Deps::new(KnowledgeBase::embedded().unwrap(), Gatherer::default());
    let discovery = dvt_cds::app::discovery().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    let mut cases = common::cases();
    let seed_now = cases.iter().find(|case| case.name == "iliofemoral-dvt-apixaban").unwrap().now;
    cases.push(common::Case {
        name: "full-prefetch (service bench body)".to_owned(),
        body: common::full_prefetch_request().into_bytes(),
        service: "dvt-order-select".to_owned(),
        now: seed_now,
    });
    cases.sort_by(|a, b| a.name.cmp(&b.name));

    println!("{:<38} {:>7} {:>10} {:>10} {:>7}", "case", "bytes", "floor", "pipeline", "ratio");
    let (mut floor_total, mut pipeline_total) = (0.0, 0.0);
    for common::Case { name, body, service: service_id, now } in &cases {
        let service = discovery.find(service_id).unwrap();
        let evaluate = || {
            let request = HookRequest::from_json(body, service.hook()).unwrap();
            let response =
                runtime.block_on(pipeline::evaluate(service, &request, &deps, *now, pipeline::Deadline::NONE)).unwrap();
            std::hint::black_box(serde_json::to_vec(&response).unwrap());
        };
        let floor = common::median_ns(SAMPLES, BATCH, || common::floor_parse(body));
        let whole = common::median_ns(SAMPLES, BATCH, evaluate);
        floor_total += floor;
        pipeline_total += whole;
        println!(
            "{name:<38} {:>7} {:>7.1} us {:>7.1} us {:>6.2}x",
            body.len(),
            floor / 1e3,
            whole / 1e3,
            whole / floor
        );
    }
    println!();
    println!(
        "all {} cases: pipeline / floor = {:.2}x (in process; the HTTP comparison is `cargo bench --bench service`)",
        cases.len(),
        pipeline_total / floor_total
    );
}
