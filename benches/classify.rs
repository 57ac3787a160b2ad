//! Evidence extraction and classification, per fixture case: from the gathered record (prefetch
//! already parsed) and the draft orders to an `Assessment`. Pure CPU work, no IO.
//!
//! `cargo bench --bench classify`; criterion reports each case's time against its previous run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a benchmark driver fails loudly"
)]

use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use dvt_cds::cds_hooks::HookRequest;
use dvt_cds::classify::classify;
use dvt_cds::gather::{self, Gatherer};
use dvt_cds::knowledge::KnowledgeBase;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn cases(c: &mut Criterion) {
    let knowledge = KnowledgeBase::embedded().unwrap();
    let discovery = dvt_cds::app::discovery().unwrap();
    let gatherer = Gatherer::default();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cases");
    let mut dirs: Vec<_> = std::fs::read_dir(&root).unwrap().map(|entry| entry.unwrap().path()).collect();
    dirs.sort();

    let mut group = c.benchmark_group("extract+classify");
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_millis(700)).sample_size(20);
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let expect: toml::Table = toml::from_str(&std::fs::read_to_string(dir.join("expect.toml")).unwrap()).unwrap();
        let now = OffsetDateTime::parse(expect["now"].as_str().unwrap(), &Rfc3339).unwrap();
        let service = discovery.find(expect["service"].as_str().unwrap()).unwrap();
        let body = std::fs::read(dir.join("request.json")).unwrap();
        let request = HookRequest::from_json(&body, service.hook()).unwrap();
        let (orders, _) = gather::draft_orders(service.hook(), request.context());
        // Full prefetch: gathering parses it and makes no request.
        let record = runtime.block_on(gather::gather(&gatherer, service, &request)).unwrap();
        group.bench_function(&name, |b| {
            b.iter(|| {
                let evidence = gather::extract(&record, &orders, &knowledge);
                classify(&evidence, knowledge.criteria(), now)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, cases);
criterion_main!(benches);
