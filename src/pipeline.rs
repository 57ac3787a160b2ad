//! The one place that knows the order of the work: gather → classify → cards.
//!
//! Used by the HTTP route and by `dvt-cds evaluate` alike, so both give the same answer.

use std::sync::Arc;

use time::OffsetDateTime;

use crate::cards;
use crate::cds_hooks::{CardError, CdsResponse, Hook, HookRequest, ServiceDefinition};
use crate::classify::{self, Assessment};
use crate::evidence::DayZone;
use crate::evidence::Evidence;
use crate::gather::{self, DraftOrder, GatherError, Gatherer};
use crate::knowledge::KnowledgeBase;

/// What evaluation needs besides the request: built once at start-up, shared by all requests.
#[derive(Debug)]
pub struct Deps {
    /// The validated knowledge, with the configured thresholds.
    pub knowledge: Arc<KnowledgeBase>,
    /// The FHIR client, the run-ahead data and the gathering limits.
    pub gather: Gatherer,
    /// The deployment's time zone: thrombus age and every window are counted in its calendar days.
    pub zone: DayZone,
}

impl Deps {
    /// With days counted in UTC.
    pub fn new(knowledge: KnowledgeBase, gather: Gatherer) -> Deps {
        Deps { knowledge: Arc::new(knowledge), gather, zone: DayZone::utc() }
    }

    /// Calendar days counted in `zone`.
    pub fn in_zone(self, zone: DayZone) -> Deps {
        Deps { zone, ..self }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A card broke the spec's rules: a defect in our wording, never the client's fault.
    #[error("a card could not be built: {0}")]
    Card(#[from] CardError),
    /// Data essential to a decision could not be obtained: each prefetch key with why (412).
    #[error("could not obtain the data this decision needs")]
    DataUnavailable(Vec<(String, String)>),
    /// The prefetch `key` holds `reference`, which is about another patient (400). Only the key may
    /// be logged: the reference names another patient's resource.
    #[error("prefetch `{key}` holds `{reference}`, which is not about the patient in context")]
    WrongPatient { key: String, reference: String },
    /// Gathering failed in a way that is our fault.
    #[error("gathering failed: {0}")]
    Internal(String),
}

impl From<GatherError> for PipelineError {
    fn from(error: GatherError) -> PipelineError {
        match error {
            GatherError::DataUnavailable(keys) => PipelineError::DataUnavailable(keys),
            GatherError::WrongPatient { key, reference } => PipelineError::WrongPatient { key, reference },
            GatherError::Discovery(_) | GatherError::Client(_) | GatherError::Demo(_) => {
                PipelineError::Internal(error.to_string())
            }
        }
    }
}

/// Everything decided about one hook call before it is phrased as cards.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub orders: Vec<DraftOrder>,
    pub evidence: Evidence,
    pub assessment: Assessment,
}

/// Evaluates one hook call for `service` at the instant `now` (every date comparison uses it).
#[tracing::instrument(level = "debug", skip_all, fields(service_id = service.id()))]
pub async fn evaluate(
    service: &ServiceDefinition,
    request: &HookRequest,
    deps: &Deps,
    now: OffsetDateTime,
) -> Result<CdsResponse, PipelineError> {
    let orders = draft_orders(service, request);
    // An order hook where no order acted on maps to an ACR procedure gets nothing, and costs no FHIR
    // round trip: silence beats noise.
    if service.hook() != Hook::PatientView && !orders.iter().any(|order| order.selected && maps(order, deps)) {
        return Ok(CdsResponse::empty());
    }
    let evaluation = assess_orders(service, request, deps, now, orders).await?;
    let drafts: Vec<(&str, &serde_json::Value)> =
        evaluation.orders.iter().map(|order| (order.reference.as_str(), &order.raw)).collect();
    let context = cards::Context { hook: service.hook(), hook_instance: request.hook_instance(), drafts: &drafts };
    Ok(cards::render(context, &evaluation.evidence, &evaluation.assessment, &deps.knowledge)?)
}

/// The assessment alone, for `dvt-cds evaluate --explain`: gathers and classifies whatever the orders.
pub async fn assess(
    service: &ServiceDefinition,
    request: &HookRequest,
    deps: &Deps,
    now: OffsetDateTime,
) -> Result<Evaluation, PipelineError> {
    let orders = draft_orders(service, request);
    assess_orders(service, request, deps, now, orders).await
}

fn draft_orders(service: &ServiceDefinition, request: &HookRequest) -> Vec<DraftOrder> {
    let (orders, unreadable) = gather::draft_orders(service.hook(), request.context());
    for entry in &unreadable {
        tracing::info!(location = %entry.location, "a draft order could not be read");
    }
    orders
}

fn maps(order: &DraftOrder, deps: &Deps) -> bool {
    !gather::order_procedures(&order.resource, &deps.knowledge).is_empty()
}

async fn assess_orders(
    service: &ServiceDefinition,
    request: &HookRequest,
    deps: &Deps,
    now: OffsetDateTime,
    orders: Vec<DraftOrder>,
) -> Result<Evaluation, PipelineError> {
    let record = gather::gather(&deps.gather, service, request).await?;
    let mut evidence = gather::extract(&record, &orders, &deps.knowledge);
    // Days as the clinician counts them: every dateTime as the day it was in the deployment's zone, and `now`
    // in that zone's offset, so the classifier's today is the local date.
    evidence.count_days_in(&deps.zone);
    let local_now = now.to_offset(deps.zone.offset_at(now));
    let assessment = classify::classify(&evidence, deps.knowledge.criteria(), local_now);
    tracing::debug!(
        variants = ?assessment.variants.iter().map(|v| v.id()).collect::<Vec<_>>(),
        rules = assessment.rules.len(),
        flags = assessment.safety.len(),
        "assessed"
    );
    Ok(Evaluation { orders, evidence, assessment })
}
