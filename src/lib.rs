//! dvt-cds: a CDS Hooks 2.0 service that rates imaging and interventional radiology orders for
//! patients with (suspected) deep vein thrombosis against the ACR Appropriateness Criteria.
//!
//! A hook call flows `http` → `pipeline` → `gather` → `classify` → `cards`; `knowledge` is data.
//! `docs/ARCHITECTURE.md` is the map and states the invariants each layer keeps.

pub mod app;
pub mod audit;
pub mod auth;
pub mod cds_hooks;
pub mod config;
pub mod feedback_store;
pub mod http;
pub mod pipeline;
pub mod telemetry;

pub mod cards;
pub mod classify;
pub mod evidence;
pub mod gather;
pub mod knowledge;
