//! The HTTP side of gathering: one FHIR read or search (with its pages) against the request's
//! `fhirServer`, bounded in size, never leaving that server's origin.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::redirect::Policy;
use url::Url;

use super::fhir::{self, Resource};
use super::record::is_about_patient;
use dvt_cds_core::cds_hooks::AccessToken;
use dvt_cds_core::evidence::{Unobtained, Unreadable, Unusable};

pub(super) const FHIR_JSON: &str = "application/fhir+json";
/// Redirects within the server's origin are followed up to this many times.
const MAX_REDIRECTS: usize = 5;

/// Limits of one gathering, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatherSettings {
    /// All FHIR queries of one request together must finish within this.
    pub deadline: Duration,
    /// Search result pages read per key (the first included).
    pub max_pages: usize,
    /// Largest single response read.
    pub max_response_bytes: usize,
    /// Most bytes read for one request, all keys and pages together.
    pub max_total_bytes: usize,
    /// How long `order-select` data is reused at `order-sign`; zero turns reuse off.
    pub run_ahead_ttl: Duration,
}

impl Default for GatherSettings {
    fn default() -> GatherSettings {
        GatherSettings {
            deadline: Duration::from_secs(2),
            max_pages: 10,
            max_response_bytes: 8 * 1024 * 1024,
            max_total_bytes: 32 * 1024 * 1024,
            run_ahead_ttl: Duration::from_secs(60),
        }
    }
}

/// Why a key could not be read from the FHIR server. Clinicians are told its `unobtained` value, the log
/// its `kind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Failure {
    NoServer,
    /// The client sent an OperationOutcome for the key, and no FHIR server.
    PrefetchError,
    /// The client's value for the key could not be used (see `keys::usable`), and no FHIR server was given.
    PrefetchUnreadable(Unusable),
    NoTokenValue,
    /// The rendered query does not make a URL on the FHIR server (it does not join, or leaves its origin).
    BadQueryUrl,
    NoClient,
    /// The access token holds characters an HTTP header cannot carry.
    BadToken,
    Deadline(Duration),
    Unreachable,
    Refused(u16),
    NoSuchRecord,
    Status(u16),
    Redirected,
    CutOff,
    TooLarge(usize),
    TotalTooLarge(usize),
    TooManyPages(usize),
    NextElsewhere,
    NotFhir,
    /// A resource of another type than asked for: its type's name, when it is a plain one.
    Unexpected(Option<String>),
    ServerReportedError,
    OtherPatient,
    NotR4(String),
    /// The server's answer for the key could not be used (see `keys::usable`).
    Unusable(Unusable),
}

impl Failure {
    /// What the clinician is told (`cards::unobtained_words` says it in words).
    pub(super) fn unobtained(&self) -> Unobtained {
        match self {
            Failure::NoServer => Unobtained::NotSent,
            Failure::PrefetchError => Unobtained::PrefetchFailed,
            Failure::PrefetchUnreadable(problem) => Unobtained::PrefetchUnusable(*problem),
            Failure::NoTokenValue => Unobtained::QueryValueMissing,
            Failure::BadQueryUrl => Unobtained::QueryOffServer,
            Failure::NoClient => Unobtained::NoHttpClient,
            Failure::BadToken => Unobtained::TokenNotSendable,
            Failure::Deadline(deadline) => Unobtained::Deadline(*deadline),
            Failure::Unreachable => Unobtained::Unreachable,
            Failure::Refused(status) => Unobtained::Refused(*status),
            Failure::NoSuchRecord => Unobtained::NoSuchPatient,
            Failure::Status(status) => Unobtained::ErrorStatus(*status),
            Failure::Redirected => Unobtained::RedirectedElsewhere,
            Failure::CutOff => Unobtained::CutOff,
            Failure::TooLarge(limit) => Unobtained::AnswerTooLarge(*limit),
            Failure::TotalTooLarge(limit) => Unobtained::AnswersTooLarge(*limit),
            Failure::TooManyPages(limit) => Unobtained::TooManyPages(*limit),
            Failure::NextElsewhere => Unobtained::NextPageElsewhere,
            Failure::NotFhir => Unobtained::NotFhirJson,
            Failure::Unexpected(resource_type) => Unobtained::OtherResource(resource_type.clone()),
            Failure::ServerReportedError => Unobtained::ServerReportedError,
            Failure::OtherPatient => Unobtained::OtherPatient,
            Failure::NotR4(release) => Unobtained::NotR4(release.clone()),
            Failure::Unusable(problem) => Unobtained::AnswerUnusable(*problem),
        }
    }

    /// A label for the log: no URL, no data.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Failure::NoServer => "no-fhir-server",
            Failure::PrefetchError => "prefetch-error",
            Failure::PrefetchUnreadable(_) => "prefetch-unreadable",
            Failure::NoTokenValue => "no-token-value",
            Failure::BadQueryUrl => "bad-query-url",
            Failure::NoClient => "no-client",
            Failure::BadToken => "bad-token",
            Failure::Deadline(_) => "deadline",
            Failure::Unreachable => "unreachable",
            Failure::Refused(_) => "refused",
            Failure::NoSuchRecord => "no-such-record",
            Failure::Status(_) => "http-status",
            Failure::Redirected => "redirect-elsewhere",
            Failure::CutOff => "cut-off",
            Failure::TooLarge(_) => "too-large",
            Failure::TotalTooLarge(_) => "total-too-large",
            Failure::TooManyPages(_) => "too-many-pages",
            Failure::NextElsewhere => "next-elsewhere",
            Failure::NotFhir => "not-fhir",
            Failure::Unexpected(_) => "unexpected-resource",
            Failure::ServerReportedError => "operation-outcome",
            Failure::OtherPatient => "other-patient",
            Failure::NotR4(_) => "not-r4",
            Failure::Unusable(_) => "unusable-answer",
        }
    }
}

/// What one key gave: its resources across all pages.
#[derive(Debug, Default)]
pub(super) struct Fetched {
    pub resources: Vec<Resource>,
    pub unreadable: Vec<Unreadable>,
    pub pages: usize,
    pub bytes: usize,
}

/// The bytes one request may still read, shared by its concurrent queries.
#[derive(Debug)]
pub(super) struct Budget {
    left: AtomicUsize,
    limit: usize,
}

impl Budget {
    pub(super) fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget { left: AtomicUsize::new(limit), limit })
    }

    fn take(&self, bytes: usize) -> Result<(), Failure> {
        self.left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(bytes))
            .map(|_| ())
            .map_err(|_| Failure::TotalTooLarge(self.limit))
    }
}

/// The reqwest client gathering uses: FHIR JSON, no redirect off the server's origin.
pub(super) fn build_client() -> Result<reqwest::Client, reqwest::Error> {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static(FHIR_JSON));
    reqwest::Client::builder()
        .default_headers(headers)
        .user_agent(concat!("dvt-cds/", env!("CARGO_PKG_VERSION")))
        .redirect(Policy::custom(|attempt| {
            let same_origin = attempt.previous().first().is_some_and(|first| first.origin() == attempt.url().origin());
            if attempt.previous().len() > MAX_REDIRECTS || !same_origin { attempt.stop() } else { attempt.follow() }
        }))
        .connect_timeout(Duration::from_secs(5))
        .build()
}

/// `{base}/{relative}`, with `base`'s path kept (`https://ehr/fhir` + `Patient/1`).
pub(super) fn resolve(base: &Url, relative: &str) -> Option<Url> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.set_query(None);
    base.set_fragment(None);
    let url = base.join(relative).ok()?;
    (url.origin() == base.origin()).then_some(url)
}

/// One query: what a key's rendered template names.
pub(super) struct Query<'a> {
    pub client: &'a reqwest::Client,
    pub server: &'a Url,
    pub token: Option<&'a AccessToken>,
    pub settings: &'a GatherSettings,
    pub budget: &'a Budget,
}

impl Query<'_> {
    /// Reads `relative` (a read or a search) and every next page, checking each resource is about `patient_id`.
    pub(super) async fn fetch(
        &self,
        relative: &str,
        expected_type: &str,
        patient_id: &str,
    ) -> Result<Fetched, Failure> {
        let mut url = resolve(self.server, relative).ok_or(Failure::BadQueryUrl)?;
        let is_search = relative.starts_with(expected_type)
            && relative.get(expected_type.len()..).is_some_and(|rest| rest.is_empty() || rest.starts_with('?'));
        let mut fetched = Fetched::default();
        loop {
            if fetched.pages >= self.settings.max_pages {
                return Err(Failure::TooManyPages(self.settings.max_pages));
            }
            let body = self.get(&url).await.map_err(|failure| match failure {
                Failure::Status(404 | 410) if !is_search => Failure::NoSuchRecord,
                other => other,
            })?;
            fetched.pages += 1;
            fetched.bytes += body.len();
            let text = std::str::from_utf8(&body).map_err(|_| Failure::NotFhir)?;
            let mut document = fhir::parse_document(text).map_err(|_| Failure::NotFhir)?;
            let next = match document.top.resource_type.as_str() {
                "OperationOutcome" => return Err(Failure::ServerReportedError),
                "Bundle" if is_search => next_link(&document.top, &url)?,
                found if !is_search && found == expected_type => {
                    document.resources = vec![std::mem::take(&mut document.top)];
                    None
                }
                // Named in the answer only when it is a resource type's name: the server's text is not quoted.
                other if !other.is_empty() && other.len() <= 64 && other.bytes().all(|b| b.is_ascii_alphabetic()) => {
                    return Err(Failure::Unexpected(Some(other.to_owned())));
                }
                _ => return Err(Failure::Unexpected(None)),
            };
            fetched.resources.append(&mut document.resources);
            fetched.unreadable.append(&mut document.unreadable);
            match next {
                Some(next) if next.origin() == self.server.origin() => url = next,
                Some(_) => return Err(Failure::NextElsewhere),
                None => break,
            }
        }
        if !fetched.resources.iter().all(|resource| is_about_patient(resource, patient_id)) {
            return Err(Failure::OtherPatient);
        }
        Ok(fetched)
    }

    /// GET with the token, the body read within the size limits.
    pub(super) async fn get(&self, url: &Url) -> Result<Vec<u8>, Failure> {
        let mut request = self.client.get(url.clone());
        if let Some(token) = self.token {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| Failure::BadToken)?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let response = request.send().await.map_err(|_| Failure::Unreachable)?;
        let status = response.status();
        if status.is_redirection() {
            return Err(Failure::Redirected);
        }
        if matches!(status.as_u16(), 401 | 403) {
            return Err(Failure::Refused(status.as_u16()));
        }
        if !status.is_success() {
            return Err(Failure::Status(status.as_u16()));
        }
        read_body(response, self.settings.max_response_bytes, self.budget).await
    }
}

/// The body, refused as soon as it passes `limit` (a 50 MB Bundle is never buffered whole).
async fn read_body(mut response: reqwest::Response, limit: usize, budget: &Budget) -> Result<Vec<u8>, Failure> {
    if response.content_length().is_some_and(|length| length > limit as u64) {
        return Err(Failure::TooLarge(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|_| Failure::CutOff)? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(Failure::TooLarge(limit));
        }
        budget.take(chunk.len())?;
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn next_link(bundle: &Resource, current: &Url) -> Result<Option<Url>, Failure> {
    let Some(link) = bundle.link.iter().find(|link| link.relation.as_deref() == Some("next")) else {
        return Ok(None);
    };
    match link.url.as_deref() {
        Some(next) => current.join(next).map(Some).map_err(|_| Failure::NotFhir),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_queries_keep_the_base_path_and_origin() {
        let base = Url::parse("https://ehr.example/fhir/R4").unwrap();
        assert_eq!(resolve(&base, "Patient/p1").unwrap().as_str(), "https://ehr.example/fhir/R4/Patient/p1");
        let with_slash = Url::parse("https://ehr.example/fhir/R4/").unwrap();
        assert_eq!(
            resolve(&with_slash, "Condition?patient=p1").unwrap().as_str(),
            "https://ehr.example/fhir/R4/Condition?patient=p1"
        );
        assert_eq!(resolve(&base, "//elsewhere.example/Patient/1"), None);
    }

    #[test]
    fn the_budget_is_shared_and_exhausts() {
        let budget = Budget::new(10);
        assert!(budget.take(6).is_ok());
        assert_eq!(budget.take(6), Err(Failure::TotalTooLarge(10)));
        assert!(budget.take(4).is_ok());
    }

    #[test]
    fn a_query_that_leaves_the_server_is_not_a_missing_hook_value() {
        let base = Url::parse("https://ehr.example/fhir/R4").unwrap();
        assert_eq!(resolve(&base, "https://elsewhere.example/Patient/1"), None);
        assert_eq!(Failure::BadQueryUrl.unobtained(), Unobtained::QueryOffServer);
    }
}
