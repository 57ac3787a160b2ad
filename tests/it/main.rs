//! The integration tests: one binary, a module per area. Every test talks to a real server on a
//! loopback port, in-process (`app::start`) or as the `dvt-cds` process itself.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr,
    reason = "test code: a failure should stop the test loudly"
)]

mod architecture;
mod card_rules;
mod cases;
mod cli;
mod connections;
mod cors;
mod discovery;
mod echo;
mod errors;
mod feedback;
mod fhir_faults;
mod fhir_server;
mod gathering;
mod operations;
mod packaging;
mod pama;
mod requests;
mod scale_out;
mod signer;
mod stores;
mod support;
mod trust;
mod unreadable;
