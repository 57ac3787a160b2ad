//! Reading a JSON request body: media type first (415), then size (413).

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;

use super::error::ApiError;
use dvt_cds_core::cds_hooks::RequestError;

/// The body of a POST that must be JSON, at most `limit` bytes (the router's `DefaultBodyLimit`).
pub(super) async fn json_body(request: Request, limit: usize) -> Result<Bytes, ApiError> {
    if !is_json(request.headers().get(CONTENT_TYPE).and_then(|value| value.to_str().ok())) {
        return Err(ApiError::UnsupportedMediaType);
    }
    Bytes::from_request(request, &()).await.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
            ApiError::PayloadTooLarge { limit }
        }
        _ => ApiError::BadRequest(RequestError::Malformed {
            message: "the request body could not be read".to_owned(),
            line: 0,
            column: 0,
        }),
    })
}

/// JSON media types: plain, FHIR's, and the DSTU2-era spelling some clients still send.
fn is_json(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else { return false };
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    ["application/json", "application/fhir+json", "application/json+fhir"]
        .iter()
        .any(|json| essence.eq_ignore_ascii_case(json))
}

#[cfg(test)]
mod tests {
    use super::is_json;

    #[test]
    fn json_media_types_are_recognised() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("Application/JSON; charset=utf-8")));
        assert!(is_json(Some("application/fhir+json")));
        assert!(!is_json(Some("application/x-www-form-urlencoded")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(None));
    }
}
