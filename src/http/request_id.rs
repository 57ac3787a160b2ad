//! `X-Request-Id`: the client's, when it is a short token of safe characters, or a new UUID; echoed
//! on the response and written on the request's log line, so one call can be followed from the
//! EHR's log through a proxy to ours.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use uuid::Uuid;

pub(super) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longer ids are replaced: the id is logged with every request.
const MAX_LENGTH: usize = 128;

/// The id of the request being served, for the log line.
#[derive(Debug, Clone)]
pub(super) struct RequestId(pub(super) HeaderValue);

pub(super) async fn request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .filter(|value| acceptable(value.as_bytes()))
        .cloned()
        .unwrap_or_else(new_id);
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    response.headers_mut().insert(X_REQUEST_ID.clone(), id);
    response
}

/// 1 to 128 letters, digits and `-_.:`: whatever a proxy or an EHR makes (UUIDs, hex, dotted
/// trace ids), and nothing that could break a log line or smuggle data.
fn acceptable(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LENGTH
        && id.iter().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b':'))
}

fn new_id() -> HeaderValue {
    let mut buffer = Uuid::encode_buffer();
    let text = Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_ids_of_safe_characters_are_kept() {
        for kept in ["a", "0f8fad5b-d9cb-469f-a165-70867728950e", "trace.span:1_2", &"x".repeat(128)] {
            assert!(acceptable(kept.as_bytes()), "{kept}");
        }
        for replaced in ["", "a b", "id\"quote", "line\nbreak", "é", "a/b", &"x".repeat(129)] {
            assert!(!acceptable(replaced.as_bytes()), "{replaced}");
        }
        assert!(acceptable(new_id().as_bytes()));
    }
}
