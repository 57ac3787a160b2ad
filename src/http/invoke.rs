//! `POST /cds-services/{id}`: a hook call.

use axum::Extension;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::AppState;
use super::body::json_body;
use super::error::ApiError;
use crate::auth::VerifiedClient;
use crate::cds_hooks::ServiceDefinition;
use crate::pipeline::{self, Deadline};

pub(super) async fn invoke(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    client: Option<Extension<VerifiedClient>>,
    deadline: Option<Extension<Deadline>>,
    request: Request,
) -> Result<Response, ApiError> {
    // The service first: an unknown id is a 404 whatever the body holds.
    let service_id = named_service(&state, id)?.id().to_owned();
    let span = tracing::Span::current();
    span.record("service_id", service_id.as_str());

    let body = json_body(request, state.0.settings.max_body_bytes).await?;
    let issuer = client.map(|Extension(client)| client.issuer);
    let deadline = deadline.map_or(Deadline::NONE, |Extension(deadline)| deadline);
    let now = state.now();
    // Parsing a large body, reading its prefetch and evaluating are CPU work: they run on a blocking
    // thread, so the request timeout can answer 503 on time, and the deadline stops them at the next stage.
    let runtime = tokio::runtime::Handle::current();
    let work_span = span.clone();
    let evaluation = tokio::task::spawn_blocking(move || {
        let evaluating = async {
            let service = state.0.discovery.find(&service_id).ok_or(ApiError::UnknownService)?;
            let fhir_servers = state.0.settings.trust.fhir_servers();
            let hook_request = pipeline::admit(service, &body, fhir_servers, issuer.as_deref())?;
            // Only a UUID, as the spec says it is: anything else could be free text.
            if uuid::Uuid::try_parse(hook_request.hook_instance()).is_ok() {
                tracing::Span::current().record("hook_instance", hook_request.hook_instance());
            }
            let response = pipeline::evaluate(service, &hook_request, &state.0.deps, now, deadline).await?;
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
