//! Where a request may send us: the `fhirServer` it names is where the patient's bearer token would
//! go, so only configured FHIR base URLs are allowed (the issuer's own list when it has one).
//! The check is a pure function of the policy and the URL, so it can be repeated on every hop.

use std::collections::HashMap;

use url::{Host, Url};

/// A FHIR base URL we may call: scheme, host, port and a path prefix (whole segments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedFhirBase {
    url: Url,
}

impl AllowedFhirBase {
    /// Reads a configured base; `http` is accepted only for loopback hosts when `loopback_http` is set.
    pub fn parse(text: &str, loopback_http: bool) -> Result<AllowedFhirBase, String> {
        let url = Url::parse(text).map_err(|_| format!("`{text}` is not an absolute URL"))?;
        if url.host().is_none() || !url.username().is_empty() || url.password().is_some() {
            return Err(format!("`{text}` must be scheme://host[:port]/path without credentials"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("`{text}` must not have a query or fragment"));
        }
        match url.scheme() {
            "https" => {}
            "http" if loopback_http && is_loopback(&url) => {}
            "http" => {
                return Err(format!("`{text}` must use https (http only for loopback in the development profile)"));
            }
            _ => return Err(format!("`{text}` must be an https URL")),
        }
        Ok(AllowedFhirBase { url })
    }

    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    fn covers(&self, candidate: &Url) -> bool {
        let prefix = self.url.path().trim_end_matches('/');
        let path = candidate.path().trim_end_matches('/');
        self.url.scheme() == candidate.scheme()
            && self.url.host() == candidate.host()
            && self.url.port_or_known_default() == candidate.port_or_known_default()
            && (path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/')))
    }
}

/// Which FHIR servers requests may name.
#[derive(Debug, Clone, Default)]
pub struct FhirServerPolicy {
    pub global: Vec<AllowedFhirBase>,
    /// An issuer with its own list may name only those servers.
    pub per_issuer: HashMap<String, Vec<AllowedFhirBase>>,
    /// Any loopback server, http or https, any port (the development profile).
    pub any_loopback: bool,
}

/// Why a `fhirServer` was refused; the message names the setting that would allow it. It never quotes
/// the URL: it is the client's value, and goes back to the client and to the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FhirServerRefused {
    #[error("fhirServer must be a base URL without query or fragment")]
    NotABase,
    #[error("fhirServer must use https; plain http is allowed only for loopback in the development profile")]
    NotHttps,
    /// `setting` names our configuration (and a configured issuer), never the request.
    #[error("fhirServer is not an allowed FHIR server; add its base URL to {setting} in the trust configuration")]
    NotAllowed { setting: String },
}

impl FhirServerPolicy {
    /// Whether a request from `issuer` (when verified) may send us to `url`.
    pub fn check(&self, issuer: Option<&str>, url: &Url) -> Result<(), FhirServerRefused> {
        if url.query().is_some() || url.fragment().is_some() {
            return Err(FhirServerRefused::NotABase);
        }
        if self.any_loopback && is_loopback(url) && matches!(url.scheme(), "http" | "https") {
            return Ok(());
        }
        if url.scheme() != "https" {
            return Err(FhirServerRefused::NotHttps);
        }
        let own = issuer.and_then(|issuer| self.per_issuer.get(issuer).map(|list| (issuer, list)));
        let (allowed, setting) = match own {
            Some((issuer, list)) => (list, format!("`fhir_servers` of the issuer `{issuer}`")),
            None => (&self.global, "`fhir_servers`".to_owned()),
        };
        if allowed.iter().any(|base| base.covers(url)) {
            Ok(())
        } else {
            Err(FhirServerRefused::NotAllowed { setting })
        }
    }
}

pub(super) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(address)) => address.is_loopback(),
        Some(Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn policy(global: &[&str]) -> FhirServerPolicy {
        FhirServerPolicy {
            global: global.iter().map(|text| AllowedFhirBase::parse(text, false).unwrap()).collect(),
            ..FhirServerPolicy::default()
        }
    }

    #[test]
    fn a_base_covers_its_own_path_and_below_on_segment_boundaries() {
        let policy = policy(&["https://ehr.example.org/fhir/"]);
        for allowed in [
            "https://ehr.example.org/fhir",
            "https://EHR.example.org:443/fhir/",
            "https://ehr.example.org/fhir/r4",
            "https://ehr.example.org/fhir/x/../r4",
        ] {
            assert_eq!(policy.check(None, &url(allowed)), Ok(()), "{allowed}");
        }
        for refused in [
            "https://ehr.example.org/fhirx",
            "https://ehr.example.org/",
            "https://ehr.example.org/fhir/../admin",
            "https://ehr.example.org/fhir/%2e%2e/admin",
            "https://ehr.example.org:8443/fhir",
            "https://ehr.example.org.evil.com/fhir",
            "https://evil.com/ehr.example.org/fhir",
        ] {
            assert!(
                matches!(policy.check(None, &url(refused)), Err(FhirServerRefused::NotAllowed { .. })),
                "{refused}"
            );
        }
        assert!(matches!(policy.check(None, &url("http://ehr.example.org/fhir")), Err(FhirServerRefused::NotHttps)));
        assert!(matches!(
            policy.check(None, &url("https://ehr.example.org/fhir?x=1")),
            Err(FhirServerRefused::NotABase)
        ));
    }

    #[test]
    fn an_issuer_with_its_own_list_is_held_to_it() {
        let mut policy = policy(&["https://shared.example.org/fhir"]);
        policy.per_issuer.insert(
            "https://ehr-a".to_owned(),
            vec![AllowedFhirBase::parse("https://a.example.org/fhir", false).unwrap()],
        );
        assert_eq!(policy.check(Some("https://ehr-a"), &url("https://a.example.org/fhir")), Ok(()));
        let refused = policy.check(Some("https://ehr-a"), &url("https://shared.example.org/fhir")).unwrap_err();
        assert!(refused.to_string().contains("`fhir_servers` of the issuer `https://ehr-a`"), "{refused}");
        assert_eq!(policy.check(Some("https://ehr-b"), &url("https://shared.example.org/fhir")), Ok(()));
        assert!(policy.check(None, &url("https://a.example.org/fhir")).is_err());
    }

    #[test]
    fn loopback_is_open_only_when_the_profile_says_so() {
        let mut policy = policy(&[]);
        assert!(policy.check(None, &url("http://127.0.0.1:9999/fhir")).is_err());
        policy.any_loopback = true;
        for allowed in ["http://127.0.0.1:9999/fhir", "http://localhost/", "https://[::1]:8443/r4"] {
            assert_eq!(policy.check(None, &url(allowed)), Ok(()), "{allowed}");
        }
        assert!(policy.check(None, &url("http://10.0.0.1/fhir")).is_err());
    }

    #[test]
    fn configured_bases_must_be_https_except_loopback_in_development() {
        assert!(AllowedFhirBase::parse("https://ehr.example.org/fhir", false).is_ok());
        assert!(AllowedFhirBase::parse("http://ehr.example.org/fhir", true).is_err());
        assert!(AllowedFhirBase::parse("http://127.0.0.1:8080/fhir", false).is_err());
        assert!(AllowedFhirBase::parse("http://127.0.0.1:8080/fhir", true).is_ok());
        assert!(AllowedFhirBase::parse("https://user:pw@ehr.example.org/fhir", false).is_err());
        assert!(AllowedFhirBase::parse("ehr.example.org/fhir", false).is_err());
    }
}
