//! The token gate in front of discovery, service calls and feedback: reads `Authorization: Bearer`,
//! has `auth::Trust` verify it for the URL path called, and hands the verified client to the handler.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::metrics::Metrics;
use crate::auth::{AuthError, Endpoint, Refusal, Trust};

/// The middleware's state: the verifier and which kind of endpoint it guards.
#[derive(Clone)]
pub(super) struct Gate {
    pub(super) trust: Arc<Trust>,
    pub(super) endpoint: Endpoint,
    pub(super) metrics: Arc<Metrics>,
}

pub(super) async fn authenticate(State(gate): State<Gate>, mut request: Request, next: Next) -> Response {
    let token = match bearer_token(request.headers()) {
        Ok(Some(token)) => token,
        Ok(None) if !gate.trust.token_required(gate.endpoint) => return next.run(request).await,
        Ok(None) => return gate.unauthorized(AuthError::MissingToken.into()),
        Err(error) => return gate.unauthorized(error.into()),
    };
    let verified = gate.trust.verify(&token, request.uri().path(), unix_now()).await;
    match verified {
        Ok(client) => {
            tracing::Span::current().record("client_issuer", client.issuer.as_str());
            request.extensions_mut().insert(client);
            next.run(request).await
        }
        Err(refusal) => gate.unauthorized(refusal),
    }
}

impl Gate {
    fn unauthorized(&self, refusal: Refusal) -> Response {
        self.metrics.token_refused(&refusal.error);
        ApiError::Unauthorized(Box::new(refusal)).into_response()
    }
}

/// The token of an `Authorization: Bearer` header; `None` when there is no such header.
fn bearer_token(headers: &HeaderMap) -> Result<Option<String>, AuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| AuthError::NotBearer)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(AuthError::NotBearer)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(AuthError::NotBearer);
    }
    Ok(Some(token.to_owned()))
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| i64::try_from(since.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn only_a_bearer_scheme_with_a_token_is_read() {
        assert_eq!(bearer_token(&HeaderMap::new()), Ok(None));
        assert_eq!(bearer_token(&headers("Bearer a.b.c")), Ok(Some("a.b.c".to_owned())));
        assert_eq!(bearer_token(&headers("bearer  a.b.c ")), Ok(Some("a.b.c".to_owned())));
        assert_eq!(bearer_token(&headers("Basic dXNlcjpwdw==")), Err(AuthError::NotBearer));
        assert_eq!(bearer_token(&headers("Bearer")), Err(AuthError::NotBearer));
        assert_eq!(bearer_token(&headers("Bearer ")), Err(AuthError::NotBearer));
    }
}
