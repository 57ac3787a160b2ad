//! `GET /readyz`: whether this instance can do its work now, for a load balancer to route by.
//! `/healthz` stays liveness (the process serves); readiness also needs the store to answer, since
//! without it tokens are refused (the replay cache lives there with PostgreSQL) and feedback is lost.
//! The knowledge is validated at start-up (the service does not start without it), so a serving
//! instance has it.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;

pub(super) async fn ready(State(state): State<AppState>) -> Result<Response, ApiError> {
    state.0.feedback.ping().await.map_err(|error| ApiError::NotReady(error.to_string()))?;
    let body = r#"{"status":"pass","checks":{"store":"pass","knowledge":"pass"}}"#;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/health+json"))], body).into_response())
}
