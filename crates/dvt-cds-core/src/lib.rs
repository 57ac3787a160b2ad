//! dvt-cds-core: the clinical core of dvt-cds, with no IO.
//!
//! `cds_hooks` is the CDS Hooks 2.0 wire model, `evidence` the findings the service gathers from a
//! patient's record, `knowledge` the ACR criteria and the clinical files (embedded, validated once),
//! `classify` the decisions (the ACR variant, the safety flags, each draft order's verdict) and
//! `cards` the sentences a clinician reads. Its dependencies are data crates only, so it cannot reach
//! the network, a database or the logs; its `clippy.toml` refuses the clock, randomness, files and
//! processes. `docs/ARCHITECTURE.md` states the invariants each module keeps.

pub mod cds_hooks;
pub mod evidence;
pub mod ids;
pub mod knowledge;

pub mod cards;
pub mod classify;
