//! Trust: which CDS clients we answer, and where a request may send us.
//!
//! `Trust` verifies a client's JWT (`Authorization: Bearer`) against the configured issuers: the
//! algorithm allow-list (never `none` or HMAC), `iss`, `aud` (computed from the configured public
//! base URL, never from the Host header), `exp`/`iat`/`nbf` with leeway and a maximum lifetime,
//! `tenant`, the signature with a pinned key or one from an allow-listed JWKS URL (cached), and a
//! `jti` replay cache (`ReplayStore`: in memory for one instance, shared by several through the
//! database store, which implements the trait here so this layer knows no database).
//! `FhirServerPolicy` decides which `fhirServer` URLs a request may name. The trust configuration
//! file is read here (`TrustSettings`).
//! This layer knows neither axum (the `http` layer calls it) nor anything clinical, and it fetches
//! JWKS only from URLs the configuration names. Tokens never leave it: errors and `Refusal` carry
//! the reason, `iss`, `kid` and `jti`, never the token.

mod fhir_server;
mod keys;
mod replay;
mod settings;
mod verify;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

pub use fhir_server::{AllowedFhirBase, FhirServerPolicy, FhirServerRefused};
pub use keys::JwksSettings;
pub use replay::{BoxFuture, MemoryReplayCache, ReplayStore};
pub use settings::{IssuerSettings, Profile, TrustConfigError, TrustSettings};

use verify::Verifier;

/// The endpoints that take a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Discovery,
    /// Service calls and feedback.
    Service,
}

/// A client whose token verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClient {
    pub issuer: String,
    pub tenant: Option<String>,
}

/// Why a token was refused. The client only ever sees a bare 401; this goes to the log.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[default]
    #[error("no bearer token")]
    MissingToken,
    #[error("authorization is not a bearer token")]
    NotBearer,
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("algorithm `{0}` is not allowed")]
    AlgorithmNotAllowed(String),
    #[error("typ is not JWT")]
    WrongType,
    #[error("no kid in the header")]
    MissingKid,
    #[error("crit header parameters are not supported")]
    CriticalHeader,
    #[error("claim `{0}` is missing")]
    MissingClaim(&'static str),
    #[error("issuer is not trusted")]
    UntrustedIssuer,
    #[error("audience is not this endpoint")]
    WrongAudience,
    #[error("expired")]
    Expired,
    #[error("not yet valid (nbf)")]
    NotYetValid,
    #[error("issued in the future (iat)")]
    IssuedInFuture,
    #[error("lives longer than max_token_lifetime")]
    LifetimeTooLong,
    #[error("tenant is not allowed")]
    TenantNotAllowed,
    #[error("jku is not on the issuer's allow-list")]
    JkuNotAllowed,
    #[error("no key with this kid")]
    UnknownKey,
    #[error("the key does not fit the algorithm")]
    KeyUnusable,
    #[error("the issuer's keys could not be fetched")]
    KeysUnavailable,
    #[error("signature does not verify")]
    BadSignature,
    #[error("jti is longer than 256 bytes")]
    JtiTooLong,
    #[error("jti was seen before (replay)")]
    Replayed,
    #[error("the replay cache is full")]
    ReplayCacheFull,
    #[error("the replay store cannot be reached (fail closed)")]
    ReplayStoreUnavailable,
}

impl AuthError {
    /// A stable name for the reason, for metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing-token",
            AuthError::NotBearer => "not-bearer",
            AuthError::Malformed(_) => "malformed",
            AuthError::AlgorithmNotAllowed(_) => "algorithm-not-allowed",
            AuthError::WrongType => "wrong-type",
            AuthError::MissingKid => "missing-kid",
            AuthError::CriticalHeader => "critical-header",
            AuthError::MissingClaim(_) => "missing-claim",
            AuthError::UntrustedIssuer => "untrusted-issuer",
            AuthError::WrongAudience => "wrong-audience",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not-yet-valid",
            AuthError::IssuedInFuture => "issued-in-future",
            AuthError::LifetimeTooLong => "lifetime-too-long",
            AuthError::TenantNotAllowed => "tenant-not-allowed",
            AuthError::JkuNotAllowed => "jku-not-allowed",
            AuthError::UnknownKey => "unknown-key",
            AuthError::KeyUnusable => "key-unusable",
            AuthError::KeysUnavailable => "keys-unavailable",
            AuthError::BadSignature => "bad-signature",
            AuthError::JtiTooLong => "jti-too-long",
            AuthError::Replayed => "replayed",
            AuthError::ReplayCacheFull => "replay-cache-full",
            AuthError::ReplayStoreUnavailable => "replay-store-unavailable",
        }
    }
}

/// A refused token: the reason and what the (unverified) token claimed, bounded for the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refusal {
    pub error: AuthError,
    pub issuer: Option<String>,
    pub kid: Option<String>,
    pub jti: Option<String>,
}

impl From<AuthError> for Refusal {
    fn from(error: AuthError) -> Refusal {
        Refusal { error, ..Refusal::default() }
    }
}

/// Everything trust decides at request time, built once at start-up.
pub struct Trust {
    profile: Profile,
    require_on_discovery: bool,
    require_on_services: bool,
    issuers: usize,
    verifier: Verifier,
    fhir_servers: FhirServerPolicy,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trust")
            .field("profile", &self.profile)
            .field("require_on_discovery", &self.require_on_discovery)
            .field("require_on_services", &self.require_on_services)
            .field("issuers", &self.issuers)
            .finish_non_exhaustive()
    }
}

impl Trust {
    /// Builds the verifier for a service listening on `listening` (the audience on loopback
    /// defaults to it), remembering `jti`s in memory (one instance).
    pub fn new(settings: TrustSettings, listening: SocketAddr) -> Result<Trust, TrustConfigError> {
        let replay = Arc::new(MemoryReplayCache::new(settings.replay_cache_capacity));
        Trust::with_replay_store(settings, listening, replay)
    }

    /// As [`Trust::new`], remembering `jti`s in `replay` (shared by every instance that uses it).
    pub fn with_replay_store(
        settings: TrustSettings,
        listening: SocketAddr,
        replay: Arc<dyn ReplayStore>,
    ) -> Result<Trust, TrustConfigError> {
        let profile = settings.profile;
        let require_on_services = settings.require_tokens;
        let require_on_discovery = settings.discovery_requires_token;
        let issuers = settings.issuers.len();
        let fhir_servers = settings.fhir_servers.clone();
        let verifier =
            Verifier::new(settings, listening, replay).map_err(|error| TrustConfigError::Client(error.to_string()))?;
        Ok(Trust { profile, require_on_discovery, require_on_services, issuers, verifier, fhir_servers })
    }

    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// How many issuers are trusted.
    pub fn issuer_count(&self) -> usize {
        self.issuers
    }

    /// Whether `endpoint` refuses a request without a token (a token sent is verified either way).
    pub fn token_required(&self, endpoint: Endpoint) -> bool {
        match endpoint {
            Endpoint::Discovery => self.require_on_discovery,
            Endpoint::Service => self.require_on_services,
        }
    }

    /// Verifies `token` sent to the endpoint at `path` (e.g. `/cds-services/dvt-order-select`), at
    /// `now` in unix seconds.
    pub async fn verify(&self, token: &str, path: &str, now: i64) -> Result<VerifiedClient, Refusal> {
        self.verifier.verify(token, path, now).await
    }

    pub fn fhir_servers(&self) -> &FhirServerPolicy {
        &self.fhir_servers
    }
}
