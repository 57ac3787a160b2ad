//! The one place that knows the order of the work: gather → classify → cards.
//!
//! Used by the HTTP route and by `dvt-cds evaluate` alike, so both give the same answer.

use time::OffsetDateTime;

use crate::cds_hooks::{CardError, CdsResponse, HookRequest, ServiceDefinition};

/// What evaluation needs besides the request: built once at start-up, shared by all requests.
#[derive(Debug, Default)]
pub struct Deps {}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A card broke the spec's rules: a defect in our wording, never the client's fault.
    #[error("a card could not be built: {0}")]
    Card(#[from] CardError),
}

/// Evaluates one hook call for `service` at the instant `now` (every date comparison uses it).
#[tracing::instrument(level = "debug", skip_all, fields(service_id = service.id()))]
pub async fn evaluate(
    service: &ServiceDefinition,
    request: &HookRequest,
    deps: &Deps,
    now: OffsetDateTime,
) -> Result<CdsResponse, PipelineError> {
    let _ = (request, deps, now);
    Ok(CdsResponse::new(Vec::new(), Vec::new())?)
}
