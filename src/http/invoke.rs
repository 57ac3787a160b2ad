//! `POST /cds-services/{id}`: a hook call.

use axum::Extension;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::body::json_body;
use super::error::ApiError;
use crate::auth::VerifiedClient;
use crate::cds_hooks::ServiceDefinition;
use crate::pipeline;

pub(super) async fn invoke(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    client: Option<Extension<VerifiedClient>>,
    request: Request,
) -> Result<Response, ApiError> {
    // The service first: an unknown id is a 404 whatever the body holds.
    let service = named_service(&state, id)?;
    let span = tracing::Span::current();
    span.record("service_id", service.id());

    let body = json_body(request, state.0.settings.max_body_bytes).await?;
    let issuer = client.as_ref().map(|Extension(client)| client.issuer.as_str());
    let hook_request = pipeline::admit(service, &body, state.0.settings.trust.fhir_servers(), issuer)?;
    // Only a UUID, as the spec says it is: anything else could be free text.
    if uuid::Uuid::try_parse(hook_request.hook_instance()).is_ok() {
        span.record("hook_instance", hook_request.hook_instance());
    }

    let response = pipeline::evaluate(service, &hook_request, &state.0.deps, state.now()).await?;
    let body = serde_json::to_vec(&response).map_err(|error| ApiError::Internal(error.to_string()))?;
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
