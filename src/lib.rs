//! dvt-cds: a CDS Hooks 2.0 service that rates imaging and interventional radiology orders for
//! patients with (suspected) deep vein thrombosis against the ACR Appropriateness Criteria.
//!
//! A hook call flows `http` → `pipeline` → `gather` → `classify` → `cards`; `knowledge` is data.
//! This crate is the service (HTTP, gathering, trust, stores, the audit, the command line); the
//! clinical core (`cds_hooks`, `evidence`, `knowledge`, `classify`, `cards`) is the `dvt_cds_core`
//! crate, which does no IO. `docs/ARCHITECTURE.md` is the map and states the invariants each layer keeps.

pub mod app;
pub mod audit;
pub mod auth;
pub mod config;
pub mod feedback_store;
pub mod gather;
pub mod http;
pub mod pipeline;
pub mod telemetry;
