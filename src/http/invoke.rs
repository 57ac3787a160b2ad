//! `POST /cds-services/{id}`: a hook call.

use axum::Extension;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::body::json_body;
use super::error::ApiError;
use crate::auth::VerifiedClient;
use crate::cds_hooks::HookRequest;
use crate::pipeline;

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

    let response = pipeline::evaluate(service, &hook_request, &state.0.deps, state.now()).await?;
    state.0.metrics.cards_returned(&response);
    let body = serde_json::to_vec(&response).map_err(|error| ApiError::Internal(error.to_string()))?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response())
}
