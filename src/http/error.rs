//! Every failure the HTTP API can answer, mapped to a status and an OperationOutcome in one place.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::auth::{FhirServerRefused, Refusal};
use crate::pipeline::{PipelineError, Refused};
use dvt_cds_core::cds_hooks::{
    FeedbackError, Issue, IssueSeverity, IssueType, OperationOutcome, OutcomeIssue, RequestError,
};

/// An error answer. Internals are logged once, where the error is turned into a response, and never
/// sent to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not a CDS Hooks request, or breaks the hook's rules.
    #[error(transparent)]
    BadRequest(#[from] RequestError),
    /// 400: the feedback body is not valid, or none of its items is.
    #[error(transparent)]
    BadFeedback(#[from] FeedbackError),
    /// 400: every feedback item was invalid.
    #[error("no feedback item is valid")]
    NoValidFeedback(Vec<Issue>),
    /// 400: the prefetch `key` (one we declare) holds a resource about another patient. Which one is
    /// not said: it is the client's data.
    #[error("prefetch `{key}` holds a resource that is not about the patient in context.patientId")]
    WrongPatient { key: String },
    /// 401, with an empty body: the token is missing or did not verify (the reason goes to the log only).
    #[error("unauthorized: {}", .0.error)]
    Unauthorized(Box<Refusal>),
    /// 403: the request names a `fhirServer` we may not send a patient's token to.
    #[error(transparent)]
    FhirServerNotAllowed(#[from] FhirServerRefused),
    /// 412: data essential to a decision could not be obtained; names each prefetch key and why.
    #[error("could not obtain the data this decision needs")]
    DataUnavailable(Vec<(String, String)>),
    /// 404: no service has this id (which is not quoted: it is the client's).
    #[error("no service has this id; GET /cds-services lists them")]
    UnknownService,
    /// 404: no such route.
    #[error("no such endpoint")]
    NotFound,
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 413.
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 415.
    #[error("request body must be JSON (Content-Type application/json)")]
    UnsupportedMediaType,
    /// 503: the request took longer than the configured timeout.
    #[error("request timed out")]
    Timeout,
    /// 503, with `Retry-After`: as many evaluations as allowed are running and as many again are
    /// waiting for one to finish.
    #[error("the service is busy; try again shortly")]
    Busy,
    /// 503 from `/readyz`: the database does not answer (the detail is logged, not sent).
    #[error("not ready: {0}")]
    NotReady(String),
    /// 500: our fault; the detail is logged, the client gets a generic message.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> ApiError {
        match refused {
            Refused::Request(error) => ApiError::BadRequest(error),
            Refused::FhirServer(error) => ApiError::FhirServerNotAllowed(error),
        }
    }
}

impl From<PipelineError> for ApiError {
    fn from(error: PipelineError) -> ApiError {
        match error {
            PipelineError::DataUnavailable(keys) => ApiError::DataUnavailable(keys),
            PipelineError::WrongPatient { key, .. } => ApiError::WrongPatient { key },
            PipelineError::DeadlinePassed => ApiError::Timeout,
            PipelineError::Card(_) | PipelineError::Internal(_) => ApiError::Internal(error.to_string()),
        }
    }
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_)
            | ApiError::BadFeedback(_)
            | ApiError::NoValidFeedback(_)
            | ApiError::WrongPatient { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::FhirServerNotAllowed(_) => StatusCode::FORBIDDEN,
            ApiError::DataUnavailable(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::UnknownService | ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Timeout | ApiError::Busy | ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn outcome(&self) -> OperationOutcome {
        match self {
            ApiError::BadRequest(RequestError::Invalid(issues)) | ApiError::NoValidFeedback(issues) => {
                outcome_of(issues)
            }
            ApiError::BadRequest(RequestError::Malformed { .. })
            | ApiError::BadFeedback(FeedbackError::Malformed { .. }) => {
                OperationOutcome::error(IssueType::Structure, self.to_string())
            }
            ApiError::WrongPatient { key } => OperationOutcome::new(vec![
                OutcomeIssue::new(IssueSeverity::Error, IssueType::Invalid, self.to_string())
                    .at(format!("prefetch.{key}")),
            ]),
            ApiError::DataUnavailable(keys) => OperationOutcome::new(
                keys.iter()
                    .map(|(key, reason)| {
                        OutcomeIssue::new(
                            IssueSeverity::Error,
                            IssueType::Incomplete,
                            format!("prefetch `{key}` could not be obtained: {reason}"),
                        )
                        .at(format!("prefetch.{key}"))
                    })
                    .collect(),
            ),
            ApiError::BadFeedback(FeedbackError::Empty) => {
                OperationOutcome::error(IssueType::Required, self.to_string())
            }
            ApiError::BadFeedback(FeedbackError::NotAList) => OperationOutcome::new(vec![
                OutcomeIssue::new(IssueSeverity::Error, IssueType::Structure, self.to_string()).at("feedback"),
            ]),
            ApiError::Unauthorized(_) => OperationOutcome::error(IssueType::Login, "unauthorized"),
            ApiError::FhirServerNotAllowed(_) => OperationOutcome::error(IssueType::Forbidden, self.to_string()),
            ApiError::UnknownService | ApiError::NotFound => {
                OperationOutcome::error(IssueType::NotFound, self.to_string())
            }
            ApiError::MethodNotAllowed | ApiError::UnsupportedMediaType => {
                OperationOutcome::error(IssueType::NotSupported, self.to_string())
            }
            ApiError::PayloadTooLarge { .. } => OperationOutcome::error(IssueType::TooLong, self.to_string()),
            ApiError::Timeout => OperationOutcome::error(IssueType::Timeout, self.to_string()),
            ApiError::Busy => OperationOutcome::error(IssueType::Throttled, self.to_string()),
            ApiError::NotReady(_) => OperationOutcome::new(vec![
                OutcomeIssue::new(
                    IssueSeverity::Error,
                    IssueType::Transient,
                    "the database cannot be reached: client tokens are refused and feedback cannot be stored",
                )
                .at("store"),
            ]),
            ApiError::Internal(_) => {
                OperationOutcome::error(IssueType::Exception, "internal error; see the service log")
            }
        }
    }

    /// What the log may say: never the client's data (serde messages can quote it), never a token.
    fn log(&self) {
        match self {
            ApiError::Internal(detail) => tracing::error!(error = %detail, "request failed"),
            ApiError::NotReady(detail) => tracing::warn!(error = %detail, "not ready: the store does not answer"),
            // What the unverified token claimed, never the token.
            ApiError::Unauthorized(refusal) => tracing::warn!(
                reason = %refusal.error,
                iss = refusal.issuer.as_deref(),
                kid = refusal.kid.as_deref(),
                jti = refusal.jti.as_deref(),
                "refused a client token"
            ),
            ApiError::BadRequest(RequestError::Malformed { line, column, .. })
            | ApiError::BadFeedback(FeedbackError::Malformed { line, column, .. }) => {
                tracing::info!(line, column, "refused a malformed body");
            }
            // Locations only (they hold our field names and indices), and a bounded number of them.
            ApiError::BadRequest(RequestError::Invalid(issues)) | ApiError::NoValidFeedback(issues) => {
                let fields: Vec<&str> =
                    issues.iter().take(LOGGED_ISSUES).map(|issue| issue.expression.as_str()).collect();
                tracing::info!(problems = issues.len(), fields = ?fields, "refused an invalid request");
            }
            // The reference names another patient's resource: the key alone is logged.
            ApiError::WrongPatient { key, .. } => {
                tracing::info!(key = %key, "refused a prefetch about another patient");
            }
            other => tracing::info!(error = %other, "refused a request"),
        }
    }
}

/// At most this many problems are listed in one answer, and their locations in one log line: a body of
/// 10,000 bad items gets a bounded answer that says how many more there were.
const LISTED_ISSUES: usize = 50;
const LOGGED_ISSUES: usize = 10;

/// An OperationOutcome with one error issue per problem (the first [`LISTED_ISSUES`]), each located by
/// its expression, and one saying how many more there were.
pub(super) fn outcome_of(issues: &[Issue]) -> OperationOutcome {
    let mut listed: Vec<OutcomeIssue> = issues
        .iter()
        .take(LISTED_ISSUES)
        .map(|issue| {
            OutcomeIssue::new(IssueSeverity::Error, issue.code, format!("{}: {}", issue.expression, issue.message))
                .at(issue.expression.clone())
        })
        .collect();
    if issues.len() > LISTED_ISSUES {
        listed.push(OutcomeIssue::new(
            IssueSeverity::Information,
            IssueType::Informational,
            format!("{} more problems are not listed", issues.len() - LISTED_ISSUES),
        ));
    }
    OperationOutcome::new(listed)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // axum adds the `Allow` header to 405 answers itself.
        self.log();
        if let ApiError::Unauthorized(_) = self {
            // Best practice: a plain 401 that tells a prober nothing.
            return (self.status(), [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))]).into_response();
        }
        let mut response = fhir_json(self.status(), &self.outcome());
        if let ApiError::Busy = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// A FHIR JSON response; falls back to a fixed body if serialization ever fails.
pub(super) fn fhir_json(status: StatusCode, outcome: &OperationOutcome) -> Response {
    let body = serde_json::to_vec(outcome).unwrap_or_else(|_| {
        br#"{"resourceType":"OperationOutcome","issue":[{"severity":"fatal","code":"exception"}]}"#.to_vec()
    });
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/fhir+json"))], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_type_comes_from_the_issue_not_its_wording() {
        let issues = [
            Issue::required("hookInstance"),
            Issue::required_when("acceptedSuggestions", "the outcome is `accepted`"),
            Issue::new("context.patientId", "must be a FHIR id (not a reference)"),
        ];
        let outcome = serde_json::to_value(outcome_of(&issues)).unwrap();
        let codes: Vec<&str> =
            outcome["issue"].as_array().unwrap().iter().map(|i| i["code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["required", "required", "invalid"]);
    }
}
