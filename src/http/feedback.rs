//! `POST /cds-services/{id}/feedback`: stores what the clinician did with our cards.
//!
//! Valid items are stored even when others in the batch are not; the answer lists the rejected ones.

use axum::Extension;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use super::AppState;
use super::body::json_body;
use super::error::{ApiError, fhir_json, outcome_of};
use super::invoke::named_service;
use crate::auth::VerifiedClient;
use crate::feedback_store::{ClientIdentity, NewFeedback};
use dvt_cds_core::cds_hooks::{FeedbackBatch, IssueSeverity, IssueType, OperationOutcome, OutcomeIssue};

/// At most this many card uuids go into the log line of one batch; the counts cover the rest.
const LOGGED_CARDS: usize = 10;

pub(super) async fn receive(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    client: Option<Extension<VerifiedClient>>,
    request: Request,
) -> Result<Response, ApiError> {
    let service = named_service(&state, id)?;
    tracing::Span::current().record("service_id", service.id().as_str());

    let body = json_body(request, state.0.settings.max_body_bytes).await?;
    let batch = FeedbackBatch::from_json(&body)?;
    let (valid, issues) = batch.check();
    if valid.is_empty() {
        return Err(ApiError::NoValidFeedback(issues));
    }

    let total = batch.feedback.len();
    let client = client.map(|Extension(client)| ClientIdentity { issuer: client.issuer, tenant: client.tenant });
    let items: Vec<NewFeedback> = valid
        .into_iter()
        .map(|(_, feedback)| NewFeedback { service_id: service.id().to_string(), feedback, client: client.clone() })
        .collect();
    let accepted = items.len();
    // Card uuids and outcomes only (a user comment may hold patient details), and a bounded number.
    let cards: Vec<String> = items.iter().take(LOGGED_CARDS).map(|item| item.feedback.card.to_string()).collect();
    let report = state.0.feedback.insert(items, OffsetDateTime::now_utc()).await.map_err(|error| {
        state.0.metrics.store_failed("feedback");
        ApiError::Internal(error.to_string())
    })?;
    state.0.metrics.feedback_received(report, total - accepted);
    tracing::info!(
        cards = ?cards,
        stored = report.stored,
        already_stored = report.already_stored,
        rejected = total - accepted,
        "feedback stored"
    );

    if issues.is_empty() {
        return Ok((StatusCode::OK, axum::Json(serde_json::json!({}))).into_response());
    }
    // Some items were stored, some refused: 200, with the refused ones listed.
    let mut outcome_issues = outcome_of(&issues).issues().to_vec();
    outcome_issues.push(OutcomeIssue::new(
        IssueSeverity::Information,
        IssueType::Informational,
        format!("stored {accepted} of {total} feedback items; the others are listed as errors"),
    ));
    Ok(fhir_json(StatusCode::OK, &OperationOutcome::new(outcome_issues)))
}
