//! The trust configuration: a TOML file (our own format, so unknown keys are refused), read and
//! checked once at start-up. Without a file the service runs the development profile, whose file is
//! embedded (`config/development.toml`).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jsonwebtoken::{Algorithm, AlgorithmFamily};
use serde::Deserialize;
use url::Url;

use super::fhir_server::{AllowedFhirBase, FhirServerPolicy, is_loopback};
use super::keys::{JwksSettings, KeySet};

/// The largest `leeway` accepted: it is for clock skew, and every second of it lengthens the time an
/// expired token still passes.
pub const MAX_LEEWAY: Duration = Duration::from_secs(5 * 60);
/// The default `max_token_lifetime`. The public sandbox mints tokens for 5 minutes (exp = iat + 300)
/// and Epic's documented example for 15 (exp - iat = 900); an hour leaves room without letting a
/// leaked token live for days.
pub const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// The development profile's file, also the configuration when none is given.
const DEVELOPMENT_TOML: &str = include_str!("../../config/development.toml");

/// A ready set of defaults; explicit settings in the file override them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Loopback only, tokens optional (verified when sent), loopback FHIR servers over http allowed.
    Development,
    /// The public CDS Hooks sandbox: its issuer with a pinned key. Test only: its private key is public.
    Sandbox,
    /// Tokens always required; beyond loopback only with a trusted issuer and a public base URL.
    Production,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Development => "development",
            Profile::Sandbox => "sandbox",
            Profile::Production => "production",
        }
    }
}

/// The checked trust configuration.
#[derive(Debug, Clone)]
pub struct TrustSettings {
    pub profile: Profile,
    /// The URL clients call us by; `None` on loopback means every loopback spelling of the bound port.
    pub public_base_url: Option<Url>,
    /// Other base URLs a token's `aud` may name (proxies, a manually configured EHR audience).
    pub audience_aliases: Vec<Url>,
    /// Tokens on service calls and feedback.
    pub require_tokens: bool,
    /// Tokens on discovery (verified when present either way).
    pub discovery_requires_token: bool,
    /// Clock skew allowed on `exp`, `iat` and `nbf`; at most [`MAX_LEEWAY`].
    pub leeway: Duration,
    /// Longest a token may live: `exp - iat`, and `exp` ahead of the clock (beyond the leeway).
    /// It also bounds how long a `jti` is remembered.
    pub max_token_lifetime: Duration,
    pub algorithms: Vec<Algorithm>,
    /// Most `jti`s remembered at once (see the replay cache).
    pub replay_cache_capacity: usize,
    pub jwks: JwksSettings,
    pub issuers: Vec<IssuerSettings>,
    pub fhir_servers: FhirServerPolicy,
}

/// A trusted CDS client (token issuer) and where its keys come from.
#[derive(Debug, Clone)]
pub struct IssuerSettings {
    pub iss: String,
    /// Keys pinned in the configuration (`jwks_file` or inline `jwks`).
    pub(super) keys: KeySet,
    /// Where to fetch the issuer's JWKS when a token has no `jku`.
    pub jwks_url: Option<Url>,
    /// The only `jku` values honoured for this issuer.
    pub jku: Vec<Url>,
    /// When set, a token must carry one of these `tenant`s.
    pub tenants: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrustConfigError {
    /// The cause is carried in the message, not also as a `source`: an error chain would print it twice.
    #[error("cannot read `{path}`: {cause}")]
    Read { path: String, cause: std::io::Error },
    #[error("{file}: line {line}: {message}")]
    Syntax { file: String, line: usize, message: String },
    #[error("{file}: `{field}`: {message}")]
    Invalid { file: String, field: String, message: String },
    #[error("{0}")]
    Refused(String),
    #[error("cannot build the JWKS client: {0}")]
    Client(String),
}

// The file as written. Every key is optional except `profile`; unknown keys are refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustFile {
    profile: Profile,
    public_base_url: Option<String>,
    #[serde(default)]
    audience_aliases: Vec<String>,
    require_tokens: Option<bool>,
    discovery_requires_token: Option<bool>,
    leeway: Option<String>,
    max_token_lifetime: Option<String>,
    algorithms: Option<Vec<String>>,
    replay_cache_capacity: Option<usize>,
    #[serde(default)]
    fhir_servers: Vec<String>,
    #[serde(default)]
    jwks: JwksFile,
    #[serde(default)]
    issuers: Vec<IssuerFile>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct JwksFile {
    ttl: Option<String>,
    max_stale: Option<String>,
    refresh_interval: Option<String>,
    timeout: Option<String>,
    max_bytes: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuerFile {
    iss: String,
    jwks_file: Option<PathBuf>,
    jwks: Option<serde_json::Value>,
    jwks_url: Option<String>,
    #[serde(default)]
    jku: Vec<String>,
    tenants: Option<Vec<String>>,
    fhir_servers: Option<Vec<String>>,
}

impl TrustSettings {
    /// The development profile (the embedded `config/development.toml`).
    pub fn development() -> Result<TrustSettings, TrustConfigError> {
        TrustSettings::parse(DEVELOPMENT_TOML, "config/development.toml (embedded)", None)
    }

    /// Reads the file at `path`; a relative `jwks_file` is read from the file's directory.
    pub fn load(path: &Path) -> Result<TrustSettings, TrustConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|cause| TrustConfigError::Read { path: path.display().to_string(), cause })?;
        TrustSettings::parse(&text, &path.display().to_string(), path.parent())
    }

    /// Parses and checks a configuration; `name` names it in errors, `dir` resolves `jwks_file`.
    pub fn parse(text: &str, name: &str, dir: Option<&Path>) -> Result<TrustSettings, TrustConfigError> {
        let file: TrustFile = toml::from_str(text).map_err(|error| TrustConfigError::Syntax {
            file: name.to_owned(),
            line: error.span().map_or(0, |span| line_of(text, span.start)),
            message: error.message().to_owned(),
        })?;
        let invalid = |field: &str, message: String| TrustConfigError::Invalid {
            file: name.to_owned(),
            field: field.to_owned(),
            message,
        };
        file.check(dir, &invalid)
    }

    /// Replaces the public base URL (from the command line or the environment).
    pub fn with_public_base_url(mut self, text: &str) -> Result<TrustSettings, TrustConfigError> {
        let url = base_url(text).map_err(|message| TrustConfigError::Invalid {
            file: "--public-base-url".to_owned(),
            field: "public_base_url".to_owned(),
            message,
        })?;
        self.public_base_url = Some(url);
        Ok(self)
    }

    /// Listening beyond loopback needs required tokens, a trusted issuer, and a public base URL.
    pub fn check_bind(&self, bind: SocketAddr) -> Result<(), TrustConfigError> {
        if bind.ip().is_loopback() {
            return Ok(());
        }
        let profile = self.profile.as_str();
        if !self.require_tokens {
            return Err(TrustConfigError::Refused(format!(
                "refusing to listen on {bind}: tokens are optional in the {profile} profile, so it listens on loopback only"
            )));
        }
        if self.issuers.is_empty() {
            return Err(TrustConfigError::Refused(format!(
                "refusing to listen on {bind}: the {profile} profile has no trusted issuer; add an [[issuers]] entry"
            )));
        }
        if self.public_base_url.is_none() {
            return Err(TrustConfigError::Refused(format!(
                "refusing to listen on {bind}: set `public_base_url` (token audiences are never taken from the Host header)"
            )));
        }
        Ok(())
    }
}

impl TrustFile {
    fn check(
        self,
        dir: Option<&Path>,
        invalid: &dyn Fn(&str, String) -> TrustConfigError,
    ) -> Result<TrustSettings, TrustConfigError> {
        let profile = self.profile;
        let development = profile == Profile::Development;
        let require_tokens = self.require_tokens.unwrap_or(profile != Profile::Development);
        if profile == Profile::Production && !require_tokens {
            return Err(invalid("require_tokens", "the production profile always requires tokens".to_owned()));
        }

        let public_base_url = match &self.public_base_url {
            Some(text) => Some(base_url(text).map_err(|message| invalid("public_base_url", message))?),
            None => None,
        };
        let audience_aliases = self
            .audience_aliases
            .iter()
            .map(|text| base_url(text))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|message| invalid("audience_aliases", message))?;

        let algorithms = match &self.algorithms {
            Some(names) => names.iter().map(|name| algorithm(name)).collect::<Result<Vec<_>, _>>(),
            None => Ok(vec![Algorithm::ES384, Algorithm::RS384]),
        }
        .map_err(|message| invalid("algorithms", message))?;
        if algorithms.is_empty() {
            return Err(invalid("algorithms", "must name at least one algorithm".to_owned()));
        }

        let jwks = self.jwks.check(invalid)?;
        let replay_cache_capacity = self.replay_cache_capacity.unwrap_or(100_000);
        if replay_cache_capacity == 0 {
            return Err(invalid("replay_cache_capacity", "must be at least 1".to_owned()));
        }

        let global = fhir_bases(&self.fhir_servers, development).map_err(|message| invalid("fhir_servers", message))?;
        let mut fhir_servers = FhirServerPolicy { global, any_loopback: development, ..FhirServerPolicy::default() };
        let mut issuers = Vec::new();
        let mut seen = HashSet::new();
        for (index, issuer) in self.issuers.into_iter().enumerate() {
            let field = |name: &str| format!("issuers[{index}].{name}");
            if issuer.iss.trim().is_empty() {
                return Err(invalid(&field("iss"), "must not be empty".to_owned()));
            }
            if !seen.insert(issuer.iss.clone()) {
                return Err(invalid(&field("iss"), format!("`{}` is configured twice", issuer.iss)));
            }
            if let Some(list) = &issuer.fhir_servers {
                let bases =
                    fhir_bases(list, development).map_err(|message| invalid(&field("fhir_servers"), message))?;
                fhir_servers.per_issuer.insert(issuer.iss.clone(), bases);
            }
            issuers.push(issuer.check(dir, development, &field, invalid)?);
        }

        let leeway =
            duration(self.leeway.as_deref(), Duration::from_secs(60)).map_err(|message| invalid("leeway", message))?;
        if leeway > MAX_LEEWAY {
            return Err(invalid(
                "leeway",
                format!(
                    "{} is more than the {} allowed: the leeway is for clock skew; fix the client's clock instead",
                    humantime::format_duration(leeway),
                    humantime::format_duration(MAX_LEEWAY)
                ),
            ));
        }
        let max_token_lifetime = duration(self.max_token_lifetime.as_deref(), DEFAULT_MAX_TOKEN_LIFETIME)
            .map_err(|message| invalid("max_token_lifetime", message))?;
        if max_token_lifetime.is_zero() {
            return Err(invalid("max_token_lifetime", "must be more than zero".to_owned()));
        }

        Ok(TrustSettings {
            profile,
            public_base_url,
            audience_aliases,
            require_tokens,
            discovery_requires_token: self.discovery_requires_token.unwrap_or(false),
            leeway,
            max_token_lifetime,
            algorithms,
            replay_cache_capacity,
            jwks,
            issuers,
            fhir_servers,
        })
    }
}

impl JwksFile {
    fn check(self, invalid: &dyn Fn(&str, String) -> TrustConfigError) -> Result<JwksSettings, TrustConfigError> {
        let defaults = JwksSettings::default();
        let settings = JwksSettings {
            ttl: duration(self.ttl.as_deref(), defaults.ttl).map_err(|message| invalid("jwks.ttl", message))?,
            max_stale: duration(self.max_stale.as_deref(), defaults.max_stale)
                .map_err(|message| invalid("jwks.max_stale", message))?,
            refresh_interval: duration(self.refresh_interval.as_deref(), defaults.refresh_interval)
                .map_err(|message| invalid("jwks.refresh_interval", message))?,
            timeout: duration(self.timeout.as_deref(), defaults.timeout)
                .map_err(|message| invalid("jwks.timeout", message))?,
            max_bytes: self.max_bytes.unwrap_or(defaults.max_bytes),
        };
        if settings.timeout.is_zero() {
            return Err(invalid("jwks.timeout", "must be more than zero".to_owned()));
        }
        Ok(settings)
    }
}

impl IssuerFile {
    fn check(
        self,
        dir: Option<&Path>,
        development: bool,
        field: &dyn Fn(&str) -> String,
        invalid: &dyn Fn(&str, String) -> TrustConfigError,
    ) -> Result<IssuerSettings, TrustConfigError> {
        let pinned = match (self.jwks_file, self.jwks) {
            (Some(_), Some(_)) => {
                return Err(invalid(&field("jwks"), "set `jwks_file` or `jwks`, not both".to_owned()));
            }
            (Some(path), None) => {
                let path = match dir {
                    Some(dir) if path.is_relative() => dir.join(path),
                    _ => path,
                };
                let bytes = std::fs::read(&path)
                    .map_err(|cause| TrustConfigError::Read { path: path.display().to_string(), cause })?;
                Some(KeySet::from_json(&bytes).map_err(|message| invalid(&field("jwks_file"), message))?)
            }
            (None, Some(value)) => Some(KeySet::from_value(value).map_err(|message| invalid(&field("jwks"), message))?),
            (None, None) => None,
        };
        if pinned.as_ref().is_some_and(|keys| keys.len() == 0) {
            return Err(invalid(&field("jwks"), "holds no usable signing key (each needs a `kid`)".to_owned()));
        }
        let jwks_url = match &self.jwks_url {
            Some(text) => Some(key_url(text, development).map_err(|message| invalid(&field("jwks_url"), message))?),
            None => None,
        };
        let jku = self
            .jku
            .iter()
            .map(|text| key_url(text, development))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|message| invalid(&field("jku"), message))?;
        if pinned.is_none() && jwks_url.is_none() && jku.is_empty() {
            return Err(invalid(&field("iss"), "needs keys: `jwks_file`, `jwks`, `jwks_url` or `jku`".to_owned()));
        }
        if self.tenants.as_ref().is_some_and(Vec::is_empty) {
            return Err(invalid(&field("tenants"), "must list at least one tenant, or be left out".to_owned()));
        }
        Ok(IssuerSettings { iss: self.iss, keys: pinned.unwrap_or_default(), jwks_url, jku, tenants: self.tenants })
    }
}

fn algorithm(name: &str) -> Result<Algorithm, String> {
    let algorithm: Algorithm =
        name.parse().map_err(|_| format!("`{name}` is not a supported signing algorithm (`none` never is)"))?;
    if algorithm.family() == AlgorithmFamily::Hmac {
        return Err(format!("`{name}` is symmetric: CDS Hooks forbids HMAC-signed tokens"));
    }
    Ok(algorithm)
}

fn duration(text: Option<&str>, default: Duration) -> Result<Duration, String> {
    match text {
        Some(text) => humantime::parse_duration(text).map_err(|_| format!("`{text}` is not a duration such as `60s`")),
        None => Ok(default),
    }
}

fn base_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|_| format!("`{text}` is not an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("`{text}` must be an http or https URL"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!("`{text}` must be scheme://host[:port][/path] only"));
    }
    Ok(url)
}

/// A JWKS location: https, or http on loopback in the development profile.
fn key_url(text: &str, development: bool) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|_| format!("`{text}` is not an absolute URL"))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if development && is_loopback(&url) => Ok(url),
        _ => Err(format!("`{text}` must use https (http only for loopback in the development profile)")),
    }
}

fn fhir_bases(texts: &[String], development: bool) -> Result<Vec<AllowedFhirBase>, String> {
    texts.iter().map(|text| AllowedFhirBase::parse(text, development)).collect()
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |before| before.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TrustSettings, TrustConfigError> {
        TrustSettings::parse(text, "test.toml", None)
    }

    const EC_KEY: &str = r#"{ kty = "EC", crv = "P-384", kid = "k1", x = "46SDH7Znh821wblCBglA61sNE9ZrHYKKt3qRtRTmSXyOI_FIGBLWrWa0GPUkDCEk", y = "XMcRuuoGW7CXjQdy-F5i3FeBE0x9hPLdeFdSoDd3ELmx404tLX0VRRcqzAsPhXcI" }"#;

    #[test]
    fn the_development_profile_is_the_default_and_answers_without_tokens() {
        let settings = TrustSettings::development().unwrap();
        assert_eq!(settings.profile, Profile::Development);
        assert!(!settings.require_tokens);
        assert!(!settings.discovery_requires_token);
        assert_eq!(settings.algorithms, [Algorithm::ES384, Algorithm::RS384]);
        assert_eq!(settings.leeway, Duration::from_secs(60));
        assert!(settings.fhir_servers.any_loopback);
        assert!(settings.check_bind("127.0.0.1:8080".parse().unwrap()).is_ok());
        let refused = settings.check_bind("0.0.0.0:8080".parse().unwrap()).unwrap_err().to_string();
        assert!(refused.contains("loopback only"), "{refused}");
    }

    #[test]
    fn hmac_and_none_are_refused_even_when_configured() {
        for name in ["HS256", "HS384", "HS512", "none"] {
            let error = parse(&format!("profile = \"production\"\nalgorithms = [\"{name}\"]")).unwrap_err();
            assert!(error.to_string().contains("`algorithms`"), "{error}");
        }
        let settings = parse("profile = \"production\"\nalgorithms = [\"ES256\", \"PS384\"]").unwrap();
        assert_eq!(settings.algorithms, [Algorithm::ES256, Algorithm::PS384]);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_with_their_place() {
        let error = parse("profile = \"production\"\nrequire_token = true").unwrap_err().to_string();
        assert!(error.contains("unknown field `require_token`"), "{error}");
        let error = parse("profile = \"production\"\n[jwks]\nttl = 5").unwrap_err().to_string();
        assert!(error.contains("line 3"), "{error}");
        let error = parse("profile = \"staging\"").unwrap_err().to_string();
        assert!(error.contains("line 1"), "{error}");
        let error = parse("profile = \"production\"\nleeway = \"a minute\"").unwrap_err().to_string();
        assert!(error.contains("`leeway`"), "{error}");
        let error = parse("profile = \"production\"\nrequire_tokens = false").unwrap_err().to_string();
        assert!(error.contains("always requires tokens"), "{error}");
        let error = parse("profile = \"production\"\n[[issuers]]\niss = \"https://ehr\"").unwrap_err().to_string();
        assert!(error.contains("issuers[0].iss") && error.contains("needs keys"), "{error}");
    }

    #[test]
    fn the_leeway_is_capped_and_the_token_lifetime_bounded() {
        let settings = parse("profile = \"production\"").unwrap();
        assert_eq!(settings.max_token_lifetime, DEFAULT_MAX_TOKEN_LIFETIME);
        assert!(parse("profile = \"production\"\nleeway = \"5m\"").is_ok());
        let error = parse("profile = \"production\"\nleeway = \"301s\"").unwrap_err().to_string();
        assert!(error.contains("`leeway`") && error.contains("more than the 5m allowed"), "{error}");
        let settings = parse("profile = \"production\"\nmax_token_lifetime = \"15m\"").unwrap();
        assert_eq!(settings.max_token_lifetime, Duration::from_secs(900));
        let error = parse("profile = \"production\"\nmax_token_lifetime = \"0s\"").unwrap_err().to_string();
        assert!(error.contains("`max_token_lifetime`"), "{error}");
        let error = parse("profile = \"production\"\nmax_token_lifetime = \"long\"").unwrap_err().to_string();
        assert!(error.contains("`max_token_lifetime`"), "{error}");
    }

    #[test]
    fn key_urls_must_be_https_except_loopback_in_development() {
        let production = "profile = \"production\"\n[[issuers]]\niss = \"https://ehr\"\n";
        assert!(parse(&format!("{production}jwks_url = \"https://ehr/jwks\"")).is_ok());
        let error = parse(&format!("{production}jwks_url = \"http://127.0.0.1:9/jwks\"")).unwrap_err();
        assert!(error.to_string().contains("issuers[0].jwks_url"), "{error}");
        let error = parse(&format!("{production}jku = [\"http://ehr/jwks\"]")).unwrap_err();
        assert!(error.to_string().contains("issuers[0].jku"), "{error}");
        assert!(
            parse(
                "profile = \"development\"\n[[issuers]]\niss = \"https://ehr\"\njwks_url = \"http://127.0.0.1:9/jwks\""
            )
            .is_ok()
        );
    }

    #[test]
    fn an_issuer_can_pin_keys_inline_and_restrict_fhir_servers() {
        let text = format!(
            "profile = \"production\"\npublic_base_url = \"https://cds.example.org\"\nfhir_servers = [\"https://shared/fhir\"]\n\
             [[issuers]]\niss = \"https://ehr\"\njwks = {{ keys = [{EC_KEY}] }}\ntenants = [\"t1\"]\nfhir_servers = [\"https://ehr/fhir\"]\n"
        );
        let settings = parse(&text).unwrap();
        let issuer = &settings.issuers[0];
        assert!(issuer.keys.get("k1").is_some());
        assert_eq!(issuer.tenants.as_deref(), Some(&["t1".to_owned()][..]));
        assert_eq!(settings.fhir_servers.per_issuer["https://ehr"][0].as_str(), "https://ehr/fhir");
        assert!(settings.check_bind("0.0.0.0:443".parse().unwrap()).is_ok());
    }

    #[test]
    fn production_refuses_to_listen_beyond_loopback_without_an_issuer() {
        let settings = parse("profile = \"production\"\npublic_base_url = \"https://cds.example.org\"").unwrap();
        assert!(settings.check_bind("127.0.0.1:8080".parse().unwrap()).is_ok());
        let error = settings.check_bind("0.0.0.0:8080".parse().unwrap()).unwrap_err().to_string();
        assert!(error.contains("no trusted issuer"), "{error}");
    }
}
