//! How the FHIR queries ended, counted by outcome for `/metrics`: `fetched`, or the failure's kind
//! (`deadline`, `unreachable`, `status`, ...). No URL, patient or resource is kept.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

#[derive(Debug, Default)]
pub struct QueryTally {
    counts: Mutex<BTreeMap<&'static str, u64>>,
}

impl QueryTally {
    pub(super) fn count(&self, outcome: &'static str) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry(outcome).or_default() += 1;
    }

    /// Every outcome seen so far with its count, by outcome.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.iter().map(|(outcome, count)| (*outcome, *count)).collect()
    }
}
