//! Reading a JSON request body: media type first (415), then size (413).

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http_body_util::BodyExt;

use super::error::ApiError;
use dvt_cds_core::cds_hooks::RequestError;

/// The body of a POST that must be JSON, at most `limit` bytes. Read into one buffer sized from
/// `Content-Length`, so a large body is held once (buffering its chunks and joining them would hold it
/// twice); a body over the limit is refused as soon as it is known to be, before or while reading.
pub(super) async fn json_body(request: Request, limit: usize) -> Result<Bytes, ApiError> {
    if !is_json(request.headers().get(CONTENT_TYPE).and_then(|value| value.to_str().ok())) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|declared| declared > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let capacity = declared.and_then(|declared| usize::try_from(declared).ok()).unwrap_or(0).min(limit);
    let mut buffer = Vec::with_capacity(capacity);
    let mut body = request.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| unreadable())?;
        let Ok(data) = frame.into_data() else { continue };
        if buffer.len() + data.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        buffer.extend_from_slice(&data);
    }
    Ok(Bytes::from(buffer))
}

/// The client's connection broke, or the body was not valid HTTP framing.
fn unreadable() -> ApiError {
    ApiError::BadRequest(RequestError::Malformed {
        message: "the request body could not be read".to_owned(),
        line: 0,
        column: 0,
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
