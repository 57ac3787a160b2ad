//! Verification of one client JWT, in the order the CDS Hooks best practices give: header and
//! algorithm, `iss` allow-listed, `aud` this endpoint, `exp` (and `iat`, `nbf`), `tenant`, the
//! signature, and last the `jti` (remembered only once the signature holds).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, AlgorithmFamily};
use serde::Deserialize;
use url::Url;

use super::keys::{JwksCache, Key};
use super::replay::ReplayStore;
use super::settings::{IssuerSettings, TrustSettings};
use super::{AuthError, Refusal, VerifiedClient};

/// Longer `Authorization` values are refused before any decoding.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Longer `jti`s are refused: each one is kept in the replay cache for the token's lifetime.
const MAX_JTI_BYTES: usize = 256;

pub(super) struct Verifier {
    algorithms: Vec<Algorithm>,
    leeway: i64,
    max_lifetime: i64,
    issuers: HashMap<String, IssuerSettings>,
    audience: Audience,
    jwks: JwksCache,
    replay: Arc<dyn ReplayStore>,
}

#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
    typ: Option<String>,
    kid: Option<String>,
    jku: Option<String>,
    crit: Option<serde_json::Value>,
}

// Unknown claims (`sub` from Epic, anything else) are ignored.
#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    aud: Option<OneOrMany>,
    exp: Option<f64>,
    iat: Option<f64>,
    nbf: Option<f64>,
    jti: Option<String>,
    tenant: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl Verifier {
    pub(super) fn new(
        settings: TrustSettings,
        listening: SocketAddr,
        replay: Arc<dyn ReplayStore>,
    ) -> Result<Verifier, reqwest::Error> {
        let audience = Audience::new(settings.public_base_url.as_ref(), &settings.audience_aliases, listening);
        Ok(Verifier {
            algorithms: settings.algorithms,
            leeway: i64::try_from(settings.leeway.as_secs()).unwrap_or(i64::MAX),
            max_lifetime: i64::try_from(settings.max_token_lifetime.as_secs()).unwrap_or(i64::MAX),
            issuers: settings.issuers.into_iter().map(|issuer| (issuer.iss.clone(), issuer)).collect(),
            audience,
            jwks: JwksCache::new(settings.jwks)?,
            replay,
        })
    }

    /// Verifies `token`, sent to the endpoint at `path`, at `now` (unix seconds).
    pub(super) async fn verify(&self, token: &str, path: &str, now: i64) -> Result<VerifiedClient, Refusal> {
        let mut refusal = Refusal::default();
        match self.check(token, path, now, &mut refusal).await {
            Ok(client) => Ok(client),
            Err(error) => {
                refusal.error = error;
                Err(refusal)
            }
        }
    }

    async fn check(&self, token: &str, path: &str, now: i64, seen: &mut Refusal) -> Result<VerifiedClient, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed("too long"));
        }
        let mut parts = token.split('.');
        let (Some(header_part), Some(claims_part), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed("not three dot-separated parts"));
        };
        let header: Header = decode_part(header_part).ok_or(AuthError::Malformed("header is not base64url JSON"))?;
        seen.kid = header.kid.as_deref().map(loggable);

        // The algorithm is settled before any key is touched.
        let alg_name = header.alg.as_deref().unwrap_or_default();
        let algorithm = alg_name
            .parse::<Algorithm>()
            .ok()
            .filter(|algorithm| algorithm.family() != AlgorithmFamily::Hmac && self.algorithms.contains(algorithm))
            .ok_or_else(|| AuthError::AlgorithmNotAllowed(loggable(alg_name)))?;
        if !header.typ.as_deref().is_some_and(|typ| typ.eq_ignore_ascii_case("JWT")) {
            return Err(AuthError::WrongType);
        }
        let kid = header.kid.as_deref().filter(|kid| !kid.is_empty()).ok_or(AuthError::MissingKid)?;
        if header.crit.is_some() {
            return Err(AuthError::CriticalHeader);
        }

        let claims: Claims = decode_part(claims_part).ok_or(AuthError::Malformed("claims are not base64url JSON"))?;
        seen.issuer = claims.iss.as_deref().map(loggable);
        seen.jti = claims.jti.as_deref().map(loggable);

        let iss = claims.iss.as_deref().ok_or(AuthError::MissingClaim("iss"))?;
        let issuer = self.issuers.get(iss).ok_or(AuthError::UntrustedIssuer)?;
        let audiences: Vec<&str> = match claims.aud.as_ref().ok_or(AuthError::MissingClaim("aud"))? {
            OneOrMany::One(one) => vec![one.as_str()],
            OneOrMany::Many(many) => many.iter().map(String::as_str).collect(),
        };
        if !self.audience.accepts(&audiences, path) {
            return Err(AuthError::WrongAudience);
        }
        let exp = seconds(claims.exp).ok_or(AuthError::MissingClaim("exp"))?;
        if now > exp.saturating_add(self.leeway) {
            return Err(AuthError::Expired);
        }
        let iat = seconds(claims.iat).ok_or(AuthError::MissingClaim("iat"))?;
        if iat > now.saturating_add(self.leeway) {
            return Err(AuthError::IssuedInFuture);
        }
        if seconds(claims.nbf).is_some_and(|nbf| nbf > now.saturating_add(self.leeway)) {
            return Err(AuthError::NotYetValid);
        }
        // A long-lived token is a leaked token's long life, and its jti must be remembered as long.
        // `exp - iat` is what the client asked for; `exp - now` catches an `iat` set late, with the
        // leeway a client whose clock runs ahead needs.
        if exp.saturating_sub(iat) > self.max_lifetime
            || exp.saturating_sub(now) > self.max_lifetime.saturating_add(self.leeway)
        {
            return Err(AuthError::LifetimeTooLong);
        }
        if let Some(tenants) = &issuer.tenants
            && !claims.tenant.as_ref().is_some_and(|tenant| tenants.contains(tenant))
        {
            return Err(AuthError::TenantNotAllowed);
        }
        let jti = claims.jti.as_deref().filter(|jti| !jti.is_empty()).ok_or(AuthError::MissingClaim("jti"))?;
        if jti.len() > MAX_JTI_BYTES {
            return Err(AuthError::JtiTooLong);
        }

        let key = self.key(issuer, header.jku.as_deref(), kid).await?;
        if !key.fits(algorithm) {
            return Err(AuthError::KeyUnusable);
        }
        let message_length = header_part.len() + 1 + claims_part.len();
        let message = token.get(..message_length).ok_or(AuthError::Malformed("not three dot-separated parts"))?;
        let verified = jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key.decoding, algorithm)
            .map_err(|_| AuthError::BadSignature)?;
        if !verified {
            return Err(AuthError::BadSignature);
        }

        self.replay.remember(iss, jti, exp.saturating_add(self.leeway), now).await?;
        Ok(VerifiedClient { issuer: iss.to_owned(), tenant: claims.tenant })
    }

    /// The key for `kid`: pinned keys first, then the JWKS at the token's `jku` (only when it is on
    /// the issuer's allow-list) or at the issuer's `jwks_url`.
    async fn key(&self, issuer: &IssuerSettings, jku: Option<&str>, kid: &str) -> Result<Key, AuthError> {
        let jku = match jku {
            Some(text) => {
                let url = Url::parse(text).map_err(|_| AuthError::JkuNotAllowed)?;
                let allowed = issuer.jku.contains(&url) || issuer.jwks_url.as_ref() == Some(&url);
                if !allowed {
                    return Err(AuthError::JkuNotAllowed);
                }
                Some(url)
            }
            None => None,
        };
        if let Some(key) = issuer.keys.get(kid) {
            return Ok(key.clone());
        }
        match jku.as_ref().or(issuer.jwks_url.as_ref()) {
            Some(url) => self.jwks.key(url, kid).await,
            None => Err(AuthError::UnknownKey),
        }
    }
}

fn decode_part<T: serde::de::DeserializeOwned>(part: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A JWT NumericDate (may have a fraction) as whole seconds.
fn seconds(value: Option<f64>) -> Option<i64> {
    value.filter(|value| value.is_finite()).map(|value| value.floor() as i64)
}

/// Client-chosen text bounded for the log.
fn loggable(text: &str) -> String {
    text.chars().take(128).collect()
}

/// The base URLs a token's `aud` may name, each followed by the path of the endpoint called.
struct Audience {
    bases: Vec<String>,
}

impl Audience {
    fn new(public_base_url: Option<&Url>, aliases: &[Url], listening: SocketAddr) -> Audience {
        let mut bases: Vec<String> = match public_base_url {
            Some(url) => vec![url.to_string()],
            // Never the Host header: on loopback, the spellings of our own address.
            None => {
                let port = listening.port();
                vec![
                    format!("http://127.0.0.1:{port}"),
                    format!("http://localhost:{port}"),
                    format!("http://[::1]:{port}"),
                ]
            }
        };
        bases.extend(aliases.iter().map(Url::to_string));
        let bases = bases.iter().map(|base| normalize(base.trim_end_matches('/'))).collect();
        Audience { bases }
    }

    fn accepts(&self, audiences: &[&str], path: &str) -> bool {
        audiences.iter().any(|audience| {
            let audience = normalize(audience);
            self.bases.iter().any(|base| normalize(&format!("{base}{path}")) == audience)
        })
    }
}

/// One spelling per URL: parsed (host case, default port) and without one trailing slash.
fn normalize(text: &str) -> String {
    let parsed = Url::parse(text).map(String::from).unwrap_or_else(|_| text.to_owned());
    parsed.strip_suffix('/').map(str::to_owned).unwrap_or(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audience_is_the_endpoint_url_with_aliases_and_one_trailing_slash() {
        let base = Url::parse("https://cds.example.org/").unwrap();
        let alias = Url::parse("https://cds-internal.example.org:8443/dvt").unwrap();
        let audience = Audience::new(Some(&base), &[alias], "127.0.0.1:8080".parse().unwrap());
        let path = "/cds-services/dvt-order-select";
        for accepted in [
            "https://cds.example.org/cds-services/dvt-order-select",
            "https://cds.example.org/cds-services/dvt-order-select/",
            "https://CDS.example.org:443/cds-services/dvt-order-select",
            "https://cds-internal.example.org:8443/dvt/cds-services/dvt-order-select",
        ] {
            assert!(audience.accepts(&[accepted], path), "{accepted}");
        }
        for refused in [
            "https://cds.example.org/cds-services",
            "https://cds.example.org/cds-services/dvt-order-sign",
            "http://cds.example.org/cds-services/dvt-order-select",
            "https://cds.example.org/cds-services/dvt-order-select//",
            "http://127.0.0.1:8080/cds-services/dvt-order-select",
        ] {
            assert!(!audience.accepts(&[refused], path), "{refused}");
        }
        assert!(audience.accepts(&["https://other", "https://cds.example.org/cds-services/dvt-order-select"], path));
    }

    #[test]
    fn without_a_public_base_url_the_loopback_spellings_of_our_port_are_accepted() {
        let audience = Audience::new(None, &[], "127.0.0.1:8080".parse().unwrap());
        for accepted in [
            "http://127.0.0.1:8080/cds-services",
            "http://localhost:8080/cds-services/",
            "http://[::1]:8080/cds-services",
        ] {
            assert!(audience.accepts(&[accepted], "/cds-services"), "{accepted}");
        }
        assert!(!audience.accepts(&["http://127.0.0.1:8081/cds-services"], "/cds-services"));
    }

    #[test]
    fn numeric_dates_may_have_fractions() {
        assert_eq!(seconds(Some(1_700_000_000.9)), Some(1_700_000_000));
        assert_eq!(seconds(Some(f64::NAN)), None);
        assert_eq!(seconds(None), None);
    }
}
