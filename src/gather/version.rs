//! Which FHIR release a server speaks, from its CapabilityStatement (`GET {fhirServer}/metadata`),
//! remembered per server for a while. Data from a server that is not R4 is never read as R4.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use url::Url;

use super::client::{Failure, Query, resolve};
use super::fhir;

/// How long a server's answer is trusted; servers change release rarely.
const REMEMBER_FOR: Duration = Duration::from_secs(600);
/// How long a server without a usable answer is not asked again, so a slow or missing `/metadata`
/// costs one wait a minute at most.
const REMEMBER_UNKNOWN_FOR: Duration = Duration::from_secs(60);
/// Servers remembered at most (one per EHR in practice).
const CAPACITY: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    R4,
    /// Another release, named for clinicians: `1.0.2 (DSTU2)`.
    Other(String),
    /// No usable CapabilityStatement: the data queries decide.
    Unknown,
}

#[derive(Debug, Default)]
pub(super) struct Versions {
    known: Mutex<HashMap<String, (Instant, Verdict)>>,
}

impl Versions {
    /// The remembered verdict for `server`, if still fresh.
    pub(super) fn remembered(&self, server: &Url) -> Option<Verdict> {
        let known = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        known
            .get(server.as_str())
            .filter(|(checked, verdict)| is_fresh(*checked, verdict))
            .map(|(_, verdict)| verdict.clone())
    }

    /// Asks the server and remembers its answer.
    pub(super) async fn check(&self, query: &Query<'_>) -> Verdict {
        let verdict = ask(query).await;
        self.remember(query.server, verdict.clone());
        verdict
    }

    /// Also used when the check ran out of time: the server is not asked again for a while.
    pub(super) fn remember(&self, server: &Url, verdict: Verdict) {
        let mut known = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if known.len() >= CAPACITY {
            known.retain(|_, (checked, verdict)| is_fresh(*checked, verdict));
            if known.len() >= CAPACITY {
                known.clear();
            }
        }
        known.insert(server.as_str().to_owned(), (Instant::now(), verdict));
    }
}

fn is_fresh(checked: Instant, verdict: &Verdict) -> bool {
    let remember_for = if *verdict == Verdict::Unknown { REMEMBER_UNKNOWN_FOR } else { REMEMBER_FOR };
    checked.elapsed() < remember_for
}

async fn ask(query: &Query<'_>) -> Verdict {
    let Some(url) = resolve(query.server, "metadata") else { return Verdict::Unknown };
    let body = match query.get(&url).await {
        Ok(body) => body,
        Err(failure) => {
            tracing::debug!(failure = failure.kind(), "the FHIR server's CapabilityStatement could not be read");
            return Verdict::Unknown;
        }
    };
    let Ok(document) =
        std::str::from_utf8(&body).map_err(|_| ()).and_then(|text| fhir::parse_document(text).map_err(|_| ()))
    else {
        return Verdict::Unknown;
    };
    // DSTU2 calls it a Conformance.
    if !matches!(document.top.resource_type.as_str(), "CapabilityStatement" | "Conformance") {
        return Verdict::Unknown;
    }
    match document.top.fhir_version.as_deref() {
        Some(version) => verdict_of(version),
        None => Verdict::Unknown,
    }
}

fn verdict_of(version: &str) -> Verdict {
    if version.starts_with("4.0") {
        return Verdict::R4;
    }
    // Only a short, plain version string is ever echoed to clinicians.
    let shown: String =
        version.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')).take(16).collect();
    let release = match shown.split('.').take(2).collect::<Vec<_>>().as_slice() {
        ["1", "0"] => Some("DSTU2"),
        ["3", "0"] => Some("STU3"),
        ["4", "3"] => Some("R4B"),
        ["5", _] => Some("R5"),
        ["6", _] => Some("R6"),
        _ => None,
    };
    match release {
        Some(release) => Verdict::Other(format!("{shown} ({release})")),
        None if shown.is_empty() => Verdict::Unknown,
        None => Verdict::Other(shown),
    }
}

impl Verdict {
    /// Why data from this server is refused, if it is.
    pub(super) fn refusal(&self) -> Option<Failure> {
        match self {
            Verdict::Other(version) => Some(Failure::NotR4(version.clone())),
            Verdict::R4 | Verdict::Unknown => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_are_named() {
        assert_eq!(verdict_of("4.0.1"), Verdict::R4);
        assert_eq!(verdict_of("1.0.2"), Verdict::Other("1.0.2 (DSTU2)".to_owned()));
        assert_eq!(verdict_of("3.0.2"), Verdict::Other("3.0.2 (STU3)".to_owned()));
        assert_eq!(verdict_of("4.3.0"), Verdict::Other("4.3.0 (R4B)".to_owned()));
        assert_eq!(verdict_of("5.0.0"), Verdict::Other("5.0.0 (R5)".to_owned()));
        assert_eq!(verdict_of("<script>"), Verdict::Other("script".to_owned()));
        assert_eq!(verdict_of("  "), Verdict::Unknown);
    }
}
