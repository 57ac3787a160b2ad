//! The one place that knows the order of the work: admit → gather → classify → cards.
//!
//! Used by the HTTP route and by `dvt-cds evaluate` alike, so both refuse the same requests and give
//! the same answer.

use std::sync::Arc;
use std::time::Instant;

use time::OffsetDateTime;

use crate::audit::{CardShown, Decision, OrderDecision};
use crate::auth::{FhirServerPolicy, FhirServerRefused};
use crate::gather::{self, DraftOrder, GatherError, Gatherer};
use dvt_cds_core::cards;
use dvt_cds_core::cds_hooks::{CardError, CdsResponse, Hook, HookRequest, RequestError, ServiceDefinition};
use dvt_cds_core::classify::{self, Assessment};
use dvt_cds_core::evidence::DayZone;
use dvt_cds_core::evidence::Evidence;

/// How the FHIR queries of gathering ended, by outcome (read by `/metrics`).
pub use crate::gather::QueryTally;
use dvt_cds_core::knowledge::KnowledgeBase;

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
    Card(CardError),
    /// Data essential to a decision could not be obtained: each prefetch key with why (412).
    #[error("could not obtain the data this decision needs: {}", describe_missing(.0))]
    DataUnavailable(Vec<(String, String)>),
    /// The prefetch `key` holds `reference`, which is about another patient (400). Only the key may
    /// be logged: the reference names another patient's resource.
    #[error("prefetch `{key}` holds `{reference}`, which is not about the patient in context")]
    WrongPatient { key: String, reference: String },
    /// Gathering failed in a way that is our fault.
    #[error("gathering failed: {0}")]
    Internal(String),
    /// The deadline passed between two stages: the rest of the work was not done (503).
    #[error("the request's time limit passed during evaluation")]
    DeadlinePassed,
}

impl From<CardError> for PipelineError {
    fn from(error: CardError) -> PipelineError {
        PipelineError::Card(error)
    }
}

/// When an evaluation must be done by. It is checked between stages, so an evaluation whose caller
/// has given up (the route answers 503 at its time limit) stops at the next stage instead of running on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// No limit: `dvt-cds evaluate`.
    pub const NONE: Deadline = Deadline(None);

    pub fn at(instant: Instant) -> Deadline {
        Deadline(Some(instant))
    }

    fn check(self) -> Result<(), PipelineError> {
        match self.0 {
            Some(deadline) if Instant::now() >= deadline => Err(PipelineError::DeadlinePassed),
            _ => Ok(()),
        }
    }
}

/// The keys and reasons, as the route's 412 words each issue.
fn describe_missing(keys: &[(String, String)]) -> String {
    keys.iter()
        .map(|(key, reason)| format!("prefetch `{key}` could not be obtained: {reason}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<GatherError> for PipelineError {
    fn from(error: GatherError) -> PipelineError {
        match error {
            // Gathering says what went wrong; the core's cards say it in the words the 412 carries.
            GatherError::DataUnavailable(keys) => PipelineError::DataUnavailable(
                keys.into_iter().map(|(key, reason)| (key, cards::unobtained_words(&reason))).collect(),
            ),
            GatherError::WrongPatient { key, reference } => PipelineError::WrongPatient { key, reference },
            GatherError::Discovery(_) | GatherError::Client(_) | GatherError::Demo(_) => {
                PipelineError::Internal(error.to_string())
            }
        }
    }
}

/// Why a hook call was refused before anything was evaluated or fetched.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The body is not a CDS Hooks request for this service's hook (400).
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The `fhirServer` is not one we may send the patient's token to (403).
    #[error(transparent)]
    FhirServer(#[from] FhirServerRefused),
}

/// Every check a hook call must pass before it is evaluated, in one place for the route and the CLI:
/// the body against the hook's rules, then its `fhirServer` against the allow-list (before anything
/// could contact it: the patient's token would go there). `issuer` is the verified client, if any.
pub fn admit(
    service: &ServiceDefinition,
    body: &[u8],
    fhir_servers: &FhirServerPolicy,
    issuer: Option<&str>,
) -> Result<HookRequest, Refused> {
    let request = HookRequest::from_json(body, service.hook())?;
    if let Some(fhir_server) = request.fhir_server() {
        fhir_servers.check(issuer, fhir_server)?;
    }
    Ok(request)
}

/// Everything decided about one hook call before it is phrased as cards.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub orders: Vec<DraftOrder>,
    pub evidence: Evidence,
    pub assessment: Assessment,
    /// Each card's rules by uuid, once the cards are made (for the audit).
    pub card_rules: Vec<(uuid::Uuid, Vec<classify::Rule>)>,
}

/// Evaluates one hook call for `service` at the instant `now` (every date comparison uses it), giving
/// up between stages once `deadline` has passed.
#[tracing::instrument(level = "debug", skip_all, fields(service_id = service.id().as_str()))]
pub async fn evaluate(
    service: &ServiceDefinition,
    request: &HookRequest,
    deps: &Deps,
    now: OffsetDateTime,
    deadline: Deadline,
) -> Result<CdsResponse, PipelineError> {
    Ok(evaluate_assessed(service, request, deps, now, deadline).await?.0)
}

/// As [`evaluate`], with the evaluation behind the response (`None` when nothing was assessed: no
/// order acted on maps to an ACR procedure), for [`decision`].
pub async fn evaluate_assessed(
    service: &ServiceDefinition,
    request: &HookRequest,
    deps: &Deps,
    now: OffsetDateTime,
    deadline: Deadline,
) -> Result<(CdsResponse, Option<Evaluation>), PipelineError> {
    deadline.check()?;
    let orders = draft_orders(service, request);
    // An order hook where no order acted on is ours (see `maps`) gets nothing, and costs no FHIR
    // round trip: silence beats noise.
    if service.hook() != Hook::PatientView && !orders.iter().any(|order| order.selected && maps(order, deps)) {
        return Ok((CdsResponse::empty(), None));
    }
    let evaluation = assess_orders(service, request, deps, now, orders, deadline).await?;
    deadline.check()?;
    let drafts: Vec<(&str, &serde_json::Value)> =
        evaluation.orders.iter().map(|order| (order.reference.as_str(), &order.raw)).collect();
    let context = cards::Context { hook: service.hook(), hook_instance: request.hook_instance(), drafts: &drafts };
    let rendered = cards::render_explained(context, &evaluation.evidence, &evaluation.assessment, &deps.knowledge)?;
    let mut evaluation = evaluation;
    evaluation.card_rules = rendered.card_rules;
    Ok((rendered.response, Some(evaluation)))
}

/// What the audit keeps of a call: each order's rating as its verdict stamped it,
/// each card as shown, the rules and flags of the assessment. No record text: summaries are ours.
pub fn decision(evaluation: &Evaluation, response: &CdsResponse) -> Result<Decision, serde_json::Error> {
    use serde_json::Value;
    fn text(value: &Value, pointer: &str) -> Option<String> {
        value.pointer(pointer).and_then(Value::as_str).map(str::to_owned)
    }
    fn items<'a>(value: &'a Value, pointer: &str) -> &'a [Value] {
        value.pointer(pointer).and_then(Value::as_array).map_or(&[], Vec::as_slice)
    }
    let body = serde_json::to_value(response)?;
    // Each order acted on as its verdict stamped it: the variant and category only when the rating stands.
    let orders = evaluation
        .assessment
        .orders
        .iter()
        .map(|verdict| {
            let rated = matches!(verdict.rating, classify::OrderRating::Rated { .. });
            let code = evaluation
                .evidence
                .orders
                .iter()
                .find(|order| order.source.resource == verdict.order)
                .and_then(|order| order.source.code.as_ref());
            OrderDecision {
                reference: verdict.order.clone(),
                procedures: verdict.procedures.clone(),
                code: code.map(|code| format!("{}|{}", code.system, code.code)),
                variant: verdict.rating.variant().filter(|_| rated).map(|variant| variant.id().to_owned()),
                acr_category: verdict.rating.category().filter(|_| rated).map(|category| category.id().to_owned()),
                pama_code: verdict.pama.map(|pama| pama.code().to_owned()),
            }
        })
        .collect();
    let cards = items(&body, "/cards")
        .iter()
        .map(|card| CardShown {
            uuid: text(card, "/uuid").unwrap_or_default(),
            indicator: text(card, "/indicator").unwrap_or_default(),
            summary: text(card, "/summary").unwrap_or_default(),
            source: text(card, "/source/label").unwrap_or_default(),
            variant: text(card, "/source/topic/code"),
            rules: text(card, "/uuid")
                .and_then(|uuid| evaluation.card_rules.iter().find(|(id, _)| id.to_string() == uuid))
                .map(|(_, rules)| rules.iter().map(|rule| rule.id().to_owned()).collect())
                .unwrap_or_default(),
        })
        .collect();
    let assessment = &evaluation.assessment;
    Ok(Decision {
        orders,
        cards,
        rules: assessment.rules.iter().map(|rule| rule.id.id().to_owned()).collect(),
        safety_flags: assessment.safety.iter().map(|hit| hit.flag.clone()).collect(),
    })
}

/// The assessment alone, for `dvt-cds evaluate --explain`: gathers and classifies whatever the orders.
pub async fn assess(
    service: &ServiceDefinition,
    request: &HookRequest,
    deps: &Deps,
    now: OffsetDateTime,
) -> Result<Evaluation, PipelineError> {
    let orders = draft_orders(service, request);
    assess_orders(service, request, deps, now, orders, Deadline::NONE).await
}

fn draft_orders(service: &ServiceDefinition, request: &HookRequest) -> Vec<DraftOrder> {
    let (orders, unreadable) = gather::draft_orders(service.hook(), request.context());
    for entry in &unreadable {
        tracing::info!(location = %entry.location, "a draft order could not be read");
    }
    orders
}

/// Whether the order is one we answer for: it maps to an ACR procedure, or it is placed for DVT
/// (`classify::UNRATED_ORDER_REASONS`), so a study no table rates is said to be unrated.
fn maps(order: &DraftOrder, deps: &Deps) -> bool {
    !gather::order_procedures(&order.resource, &deps.knowledge).is_empty()
        || gather::order_reason_in(&order.resource, &deps.knowledge, &classify::UNRATED_ORDER_REASONS)
}

async fn assess_orders(
    service: &ServiceDefinition,
    request: &HookRequest,
    deps: &Deps,
    now: OffsetDateTime,
    orders: Vec<DraftOrder>,
    deadline: Deadline,
) -> Result<Evaluation, PipelineError> {
    let record = gather::gather(&deps.gather, service, request).await?;
    deadline.check()?;
    let mut evidence = gather::extract(&record, &orders, &deps.knowledge);
    drop(record);
    // Days as the clinician counts them: every dateTime as the day it was in the deployment's zone, and `now`
    // in that zone's offset, so the classifier's today is the local date.
    evidence.count_days_in(&deps.zone);
    let local_now = now.to_offset(deps.zone.offset_at(now));
    deadline.check()?;
    let assessment = classify::classify(&evidence, deps.knowledge.criteria(), local_now);
    tracing::debug!(
        variants = ?assessment.variants.iter().map(|v| v.id()).collect::<Vec<_>>(),
        rules = assessment.rules.len(),
        flags = assessment.safety.len(),
        "assessed"
    );
    Ok(Evaluation { orders, evidence, assessment, card_rules: Vec::new() })
}
