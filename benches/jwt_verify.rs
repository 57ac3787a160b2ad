//! The cost of verifying one client JWT (ES384 and RS384, pinned keys): header and claim checks,
//! the signature, and the replay cache, as the token gate runs them on every call; read against the floor
//! (parsing the service benchmark's order-select body with `serde_json`), measured in the same run.
//!
//! `cargo bench --bench jwt_verify`. Under `cargo test` it does nothing: speed is never asserted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout,
    reason = "a benchmark driver: a failure should stop it loudly, and it prints its report"
)]

mod common;

use dvt_cds::auth::{Trust, TrustSettings};

const PATH: &str = "/cds-services/dvt-order-select";

const SAMPLES: usize = 15;
const BATCH: usize = 100;

fn main() {
    if !common::benchmarking() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let signer = common::EhrClient::new("https://ehr.example.org");
    let dir = tempfile::tempdir().unwrap();
    let settings = TrustSettings::load(&signer.trust_config(dir.path(), "https://cds.example.org")).unwrap();
    let trust = Trust::new(settings, "127.0.0.1:8080".parse().unwrap()).unwrap();

    // Every call needs a token with a fresh `jti` (the replay cache refuses a second use), so they are
    // all signed before the clock starts.
    let calls = (SAMPLES + 1) * BATCH;
    let audience = format!("https://cds.example.org{PATH}");
    let es384: Vec<String> = (0..calls).map(|_| signer.token("ES384", &audience)).collect();
    let rs384: Vec<String> = (0..calls).map(|_| signer.token("RS384", &audience)).collect();

    let body = common::full_prefetch_request().into_bytes();
    let floor = common::median_ns(SAMPLES, BATCH, || common::floor_parse(&body));
    println!("floor: parsing the {} byte order-select body with serde_json: {:.1} us", body.len(), floor / 1e3);
    for (alg, tokens) in [("ES384", &es384), ("RS384", &rs384)] {
        let mut next = tokens.iter();
        let verify = common::median_ns(SAMPLES, BATCH, || {
            let token = next.next().unwrap();
            runtime.block_on(trust.verify(token, PATH, common::now())).unwrap();
        });
        println!("verify {alg}: {:>7.1} us per token, {:.2}x the floor", verify / 1e3, verify / floor);
    }
}
