//! `POST /cds-services/{id}`: a hook call.

use axum::Extension;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::Audit;
use super::body::json_body;
use super::error::ApiError;
use crate::audit::AuditEntry;
use crate::auth::VerifiedClient;
use crate::cds_hooks::{CdsResponse, HookRequest};
use crate::pipeline::{self, Evaluation};

pub(super) async fn invoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    client: Option<Extension<VerifiedClient>>,
    request: Request,
) -> Result<Response, ApiError> {
    // The service first: an unknown id is a 404 whatever the body holds.
    let service = state.0.discovery.find(&id).ok_or(ApiError::UnknownService(id))?;
    let span = tracing::Span::current();
    span.record("service_id", service.id());

    let body = json_body(request, state.0.settings.max_body_bytes).await?;
    let hook_request = HookRequest::from_json(&body, service.hook())?;
    span.record("hook_instance", hook_request.hook_instance());
    // Before anything could contact it: the patient's token would go there.
    if let Some(fhir_server) = hook_request.fhir_server() {
        let issuer = client.as_ref().map(|Extension(client)| client.issuer.as_str());
        state.0.settings.trust.fhir_servers().check(issuer, fhir_server)?;
    }

    let (response, evaluation) =
        pipeline::evaluate_assessed(service, &hook_request, &state.0.deps, state.now()).await?;
    state.0.metrics.cards_returned(&response);
    if let (Some(audit), Some(evaluation)) = (&state.0.audit, &evaluation) {
        let client = client.as_ref().map(|Extension(client)| client);
        record(&state, audit, service.id(), &hook_request, client, evaluation, &response).await;
    }
    let body = serde_json::to_vec(&response).map_err(|error| ApiError::Internal(error.to_string()))?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response())
}

/// Records the call's decision before answering, so the audit holds every answer given. A failure
/// is logged and counted but does not withhold the clinical answer.
async fn record(
    state: &AppState,
    audit: &Audit,
    service_id: &str,
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
        service_id: service_id.to_owned(),
        hook_instance: request.hook_instance().to_owned(),
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
