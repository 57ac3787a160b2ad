//! Client public keys: JWK Sets read from the configuration or fetched from allow-listed URLs, and
//! the cache that keeps fetched sets for a while and refetches on an unknown `kid` at most once per
//! interval.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde::Deserialize;
use url::Url;

use super::AuthError;

/// A verification key and what it may verify.
#[derive(Debug, Clone)]
pub(super) struct Key {
    pub(super) decoding: DecodingKey,
    /// The `alg` the JWK names, if it names one: a token must then use exactly this algorithm.
    pub(super) algorithm: Option<Algorithm>,
}

impl Key {
    /// Whether this key may verify a signature made with `algorithm`.
    pub(super) fn fits(&self, algorithm: Algorithm) -> bool {
        self.decoding.family() == algorithm.family() && self.algorithm.is_none_or(|own| own == algorithm)
    }
}

/// Signing keys by `kid`. Keys without a `kid`, encryption keys, symmetric keys and key types we do
/// not know are left out rather than failing the whole set: a JWKS may hold keys for other uses.
#[derive(Debug, Clone, Default)]
pub(super) struct KeySet {
    by_kid: HashMap<String, Key>,
}

impl KeySet {
    pub(super) fn get(&self, kid: &str) -> Option<&Key> {
        self.by_kid.get(kid)
    }

    pub(super) fn len(&self) -> usize {
        self.by_kid.len()
    }

    /// Reads a JWK Set (`{"keys": [...]}`), given as any serde value (JSON, or a TOML table).
    pub(super) fn from_value(value: serde_json::Value) -> Result<KeySet, String> {
        #[derive(Deserialize)]
        struct Wire {
            keys: Vec<serde_json::Value>,
        }
        let wire: Wire =
            serde_json::from_value(value).map_err(|_| "is not a JWK Set (`{\"keys\": [...]}`)".to_owned())?;
        let by_kid = wire.keys.into_iter().filter_map(signing_key).collect();
        Ok(KeySet { by_kid })
    }

    pub(super) fn from_json(bytes: &[u8]) -> Result<KeySet, String> {
        let value = serde_json::from_slice(bytes).map_err(|_| "is not JSON".to_owned())?;
        KeySet::from_value(value)
    }
}

fn signing_key(value: serde_json::Value) -> Option<(String, Key)> {
    let jwk: Jwk = serde_json::from_value(value).ok()?;
    let kid = jwk.common.key_id.clone()?;
    if matches!(&jwk.common.public_key_use, Some(use_) if *use_ != PublicKeyUse::Signature) {
        return None;
    }
    let algorithm = match jwk.common.key_algorithm {
        Some(named) => Some(named.to_string().parse::<Algorithm>().ok()?),
        None => None,
    };
    let decoding = DecodingKey::from_jwk(&jwk).ok()?;
    // A symmetric key in a public key set is a misconfiguration; never use it.
    if decoding.family() == AlgorithmFamily::Hmac {
        return None;
    }
    Some((kid, Key { decoding, algorithm }))
}

/// How fetched JWK Sets are cached and fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksSettings {
    /// A fetched set is refetched when older than this.
    pub ttl: Duration,
    /// When a refetch fails, the last set keeps serving for this long past its `ttl`.
    pub max_stale: Duration,
    /// At most one fetch per URL in this interval (an unknown `kid` or a failed fetch waits for it).
    pub refresh_interval: Duration,
    /// The whole fetch, connection to last byte.
    pub timeout: Duration,
    /// Larger bodies are refused.
    pub max_bytes: usize,
}

impl Default for JwksSettings {
    fn default() -> JwksSettings {
        JwksSettings {
            ttl: Duration::from_secs(3600),
            max_stale: Duration::from_secs(24 * 3600),
            refresh_interval: Duration::from_secs(60),
            timeout: Duration::from_secs(2),
            max_bytes: 256 * 1024,
        }
    }
}

/// JWK Sets fetched from configured URLs, shared by every request.
pub(super) struct JwksCache {
    client: reqwest::Client,
    settings: JwksSettings,
    entries: Mutex<HashMap<Url, Arc<Entry>>>,
}

#[derive(Default)]
struct Entry {
    cached: Mutex<Cached>,
    // Held while fetching, so concurrent misses for one URL cause one fetch.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Cached {
    keys: Option<Arc<KeySet>>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

impl Cached {
    fn fresh(&self, ttl: Duration) -> bool {
        self.fetched_at.is_some_and(|at| at.elapsed() < ttl)
    }

    fn usable(&self, settings: &JwksSettings) -> Option<&Arc<KeySet>> {
        let limit = settings.ttl.saturating_add(settings.max_stale);
        self.keys.as_ref().filter(|_| self.fetched_at.is_some_and(|at| at.elapsed() < limit))
    }

    fn may_fetch(&self, interval: Duration) -> bool {
        self.last_attempt.is_none_or(|at| at.elapsed() >= interval)
    }
}

impl JwksCache {
    pub(super) fn new(settings: JwksSettings) -> Result<JwksCache, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            // A redirect could lead anywhere; a JWKS URL is configured exactly.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(JwksCache { client, settings, entries: Mutex::new(HashMap::new()) })
    }

    /// The key `kid` of the set at `url`: from the cache while fresh, otherwise fetched (at most once
    /// per refresh interval); a set that cannot be refetched keeps serving until `max_stale`.
    pub(super) async fn key(&self, url: &Url, kid: &str) -> Result<Key, AuthError> {
        let entry = self.entry(url);
        if let Some(key) = self.fresh_key(&entry, kid) {
            return Ok(key);
        }
        let _fetching = entry.fetching.lock().await;
        let may_fetch = {
            let mut cached = entry.cached.lock().unwrap_or_else(PoisonError::into_inner);
            // Another request may have fetched while this one waited.
            if cached.fresh(self.settings.ttl) && cached.keys.as_ref().is_some_and(|keys| keys.get(kid).is_some()) {
                false
            } else if cached.may_fetch(self.settings.refresh_interval) {
                cached.last_attempt = Some(Instant::now());
                true
            } else {
                false
            }
        };
        if may_fetch {
            match self.fetch(url).await {
                Ok(keys) => {
                    tracing::info!(jwks_url = %url, keys = keys.len(), "fetched a client JWKS");
                    let mut cached = entry.cached.lock().unwrap_or_else(PoisonError::into_inner);
                    cached.keys = Some(Arc::new(keys));
                    cached.fetched_at = Some(Instant::now());
                }
                Err(error) => {
                    tracing::warn!(jwks_url = %url, %error, "cannot fetch a client JWKS; cached keys stay in use")
                }
            }
        }
        let cached = entry.cached.lock().unwrap_or_else(PoisonError::into_inner);
        match cached.usable(&self.settings) {
            Some(keys) => keys.get(kid).cloned().ok_or(AuthError::UnknownKey),
            None => Err(AuthError::KeysUnavailable),
        }
    }

    fn fresh_key(&self, entry: &Entry, kid: &str) -> Option<Key> {
        let cached = entry.cached.lock().unwrap_or_else(PoisonError::into_inner);
        let keys = cached.keys.as_ref().filter(|_| cached.fresh(self.settings.ttl))?;
        keys.get(kid).cloned()
    }

    fn entry(&self, url: &Url) -> Arc<Entry> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(entries.entry(url.clone()).or_default())
    }

    async fn fetch(&self, url: &Url) -> Result<KeySet, FetchError> {
        let mut response =
            self.client.get(url.clone()).header(reqwest::header::ACCEPT, "application/json").send().await?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        let limit = self.settings.max_bytes;
        if response.content_length().is_some_and(|length| length > limit as u64) {
            return Err(FetchError::TooLarge(limit));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > limit {
                return Err(FetchError::TooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        KeySet::from_json(&body).map_err(FetchError::NotJwks)
    }
}

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error("answered status {0}")]
    Status(u16),
    #[error("body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("body {0}")]
    NotJwks(String),
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    // The CDS Hooks specification's example key (public part).
    fn spec_key() -> serde_json::Value {
        json!({
            "kty": "EC", "use": "sig", "crv": "P-384", "kid": "example-kid", "alg": "ES384",
            "x": "46SDH7Znh821wblCBglA61sNE9ZrHYKKt3qRtRTmSXyOI_FIGBLWrWa0GPUkDCEk",
            "y": "XMcRuuoGW7CXjQdy-F5i3FeBE0x9hPLdeFdSoDd3ELmx404tLX0VRRcqzAsPhXcI"
        })
    }

    #[test]
    fn signing_keys_are_kept_and_others_left_out() {
        let mut no_kid = spec_key();
        no_kid.as_object_mut().unwrap().remove("kid");
        let mut encryption = spec_key();
        encryption["kid"] = json!("enc");
        encryption["use"] = json!("enc");
        let symmetric = json!({"kty": "oct", "kid": "secret", "k": "c2VjcmV0"});
        let unknown = json!({"kty": "XYZ", "kid": "strange"});
        let set = KeySet::from_value(json!({"keys": [spec_key(), no_kid, encryption, symmetric, unknown]})).unwrap();
        assert_eq!(set.len(), 1);
        let key = set.get("example-kid").unwrap();
        assert!(key.fits(Algorithm::ES384));
        assert!(!key.fits(Algorithm::ES256), "the JWK names ES384");
        assert!(!key.fits(Algorithm::RS384));
    }

    #[test]
    fn a_document_that_is_not_a_jwk_set_is_refused() {
        assert!(KeySet::from_json(b"not json").is_err());
        assert!(KeySet::from_json(br#"{"kid": "x"}"#).is_err());
        assert_eq!(KeySet::from_json(br#"{"keys": []}"#).unwrap().len(), 0);
    }
}
