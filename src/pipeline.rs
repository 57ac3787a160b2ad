//! The one place that knows the order of the work: gather → classify → cards.
//!
//! Used by the HTTP route and by `dvt-cds evaluate` alike, so both give the same answer.

use time::OffsetDateTime;

use crate::cds_hooks::{CardError, CdsResponse, HookRequest, ServiceDefinition};
use crate::gather::{self, GatherError};

/// What evaluation needs besides the request: built once at start-up, shared by all requests.
#[derive(Debug, Default)]
pub struct Deps {
    /// The FHIR client, the run-ahead data and the gathering limits.
    pub gather: gather::Gatherer,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A card broke the spec's rules: a defect in our wording, never the client's fault.
    #[error("a card could not be built: {0}")]
    Card(#[from] CardError),
    /// Data essential to a decision could not be obtained: each prefetch key with why (412).
    #[error("could not obtain the data this decision needs")]
    DataUnavailable(Vec<(String, String)>),
    /// The request's data is about another patient (400).
    #[error("{0}")]
    WrongPatient(String),
    /// Gathering failed in a way that is our fault.
    #[error("gathering failed: {0}")]
    Internal(String),
}

/// Evaluates one hook call for `service` at the instant `now` (every date comparison uses it).
impl From<GatherError> for PipelineError {
    fn from(error: GatherError) -> PipelineError {
        match error {
            GatherError::DataUnavailable(keys) => PipelineError::DataUnavailable(keys),
            GatherError::WrongPatient { .. } => PipelineError::WrongPatient(error.to_string()),
            GatherError::Discovery(_) | GatherError::Client(_) | GatherError::Demo(_) => {
                PipelineError::Internal(error.to_string())
            }
        }
    }
}

#[tracing::instrument(level = "debug", skip_all, fields(service_id = service.id()))]
pub async fn evaluate(
    service: &ServiceDefinition,
    request: &HookRequest,
    deps: &Deps,
    now: OffsetDateTime,
) -> Result<CdsResponse, PipelineError> {
    let _ = (deps, now);
    let (_orders, _unreadable_orders) = gather::draft_orders(service.hook(), request.context());
    let _record = gather::gather(&deps.gather, service, request).await?;
    Ok(CdsResponse::new(Vec::new(), Vec::new())?)
}
