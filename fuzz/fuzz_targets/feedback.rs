//! A feedback body, read and every item checked: never a panic.
#![no_main]

use dvt_cds_core::cds_hooks::FeedbackBatch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(batch) = FeedbackBatch::from_json(body) {
        let _ = batch.check();
    }
});
