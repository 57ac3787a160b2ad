//! `POST /cds-services/{id}`: a hook call.

use axum::Extension;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use dvt_cds_core::ids::ServiceId;
use tracing::Instrument;

use super::AppState;
use super::Audit;
use super::body::json_body;
use super::error::ApiError;
use crate::audit::AuditEntry;
use crate::auth::VerifiedClient;
use crate::pipeline::{self, Deadline, Evaluation};
use dvt_cds_core::cds_hooks::{CdsResponse, HookRequest, ServiceDefinition};

pub(super) async fn invoke(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    client: Option<Extension<VerifiedClient>>,
    deadline: Option<Extension<Deadline>>,
    request: Request,
) -> Result<Response, ApiError> {
    // The service first: an unknown id is a 404 whatever the body holds.
    let service_id = named_service(&state, id)?.id().clone();
    let span = tracing::Span::current();
    span.record("service_id", service_id.as_str());

    let body = json_body(request, state.0.settings.max_body_bytes).await?;
    let issuer = client.as_ref().map(|Extension(client)| client.issuer.clone());
    let deadline = deadline.map_or(Deadline::NONE, |Extension(deadline)| deadline);
    let now = state.now();
    let slot = state.0.evaluations.slot().await?;
    // Parsing a large body, reading its prefetch and evaluating are CPU work: they run on a blocking
    // thread, so the request timeout can answer 503 on time, and the deadline stops them at the next stage.
    let runtime = tokio::runtime::Handle::current();
    let work_span = span.clone();
    let evaluation = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let evaluating = async {
            let service = state.0.discovery.find(service_id.as_str()).ok_or(ApiError::UnknownService)?;
            let fhir_servers = state.0.settings.trust.fhir_servers();
            let hook_request = pipeline::admit(service, &body, fhir_servers, issuer.as_deref())?;
            // The request holds what it needs: the body is not kept through the evaluation.
            drop(body);
            // Only a UUID, as the spec says it is: anything else could be free text.
            if uuid::Uuid::try_parse(hook_request.hook_instance().as_str()).is_ok() {
                tracing::Span::current().record("hook_instance", hook_request.hook_instance().as_str());
            }
            let (response, evaluation) =
                pipeline::evaluate_assessed(service, &hook_request, &state.0.deps, now, deadline).await?;
            state.0.metrics.cards_returned(&response);
            if let (Some(audit), Some(evaluation)) = (&state.0.audit, &evaluation) {
                let client = client.as_ref().map(|Extension(client)| client);
                record(&state, audit, service.id(), &hook_request, client, evaluation, &response).await;
            }
            serde_json::to_vec(&response).map_err(|error| ApiError::Internal(error.to_string()))
        };
        runtime.block_on(evaluating.instrument(work_span))
    });
    let body =
        evaluation.await.map_err(|error| ApiError::Internal(format!("the evaluation task failed: {error}")))??;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response())
}

/// The service the path names. An id that does not decode (`%FF`) names none: a 404 like any other
/// unknown id, not axum's plain-text 400.
pub(super) fn named_service(
    state: &AppState,
    id: Result<Path<String>, PathRejection>,
) -> Result<&ServiceDefinition, ApiError> {
    let Ok(Path(id)) = id else { return Err(ApiError::UnknownService) };
    state.0.discovery.find(&id).ok_or(ApiError::UnknownService)
}

/// Records the call's decision before answering, so the audit holds every answer given. A failure
/// is logged and counted but does not withhold the clinical answer.
async fn record(
    state: &AppState,
    audit: &Audit,
    service_id: &ServiceId,
    request: &HookRequest,
    client: Option<&VerifiedClient>,
    evaluation: &Evaluation,
    response: &CdsResponse,
) {
    let decision = match pipeline::decision(evaluation, response) {
        Ok(decision) if decision.is_empty() => return,
        Ok(decision) => decision,
        Err(error) => {
            state.0.metrics.store_failed("audit");
            tracing::error!(error = %error, "cannot make the audit entry");
            return;
        }
    };
    let entry = AuditEntry {
        service_id: service_id.to_string(),
        hook_instance: request.hook_instance().to_string(),
        client_issuer: client.map(|client| client.issuer.clone()),
        client_tenant: client.and_then(|client| client.tenant.clone()),
        knowledge_version: audit.knowledge_version.clone(),
        patient_hash: audit.key.as_ref().map(|key| key.hash(&request.context().patient_id)),
        decision,
        ..AuditEntry::default()
    };
    // Whole seconds: stored times compare as text in SQLite, and both stores print the same.
    let now = time::OffsetDateTime::now_utc();
    let recorded_at = now.replace_nanosecond(0).unwrap_or(now);
    if let Err(error) = audit.store.record(entry, recorded_at).await {
        state.0.metrics.store_failed("audit");
        tracing::error!(error = %error, "the decision could not be written to the audit");
    }
}
