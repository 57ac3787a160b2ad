//! The discovery document (`cds-services.json`): the single source of truth for the services we offer.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use serde_json::Value;

use super::hook::Hook;
use super::prefetch_template::{PrefetchTemplate, TemplateError};
use crate::ids::ServiceId;

/// The parsed and checked discovery document, with its original text (served byte for byte).
#[derive(Debug, Clone)]
pub struct Discovery {
    text: String,
    services: Vec<ServiceDefinition>,
}

/// One service of the discovery document.
#[derive(Debug, Clone)]
pub struct ServiceDefinition {
    id: ServiceId,
    hook: Hook,
    prefetch: Vec<(String, PrefetchTemplate)>,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// Causes are carried in the message, never also as a `source`: a chain would print them twice.
    #[error("the discovery document is not valid JSON of the expected shape: {0}")]
    Shape(serde_json::Error),
    #[error("the discovery document lists no service")]
    NoService,
    #[error("service `{0}`: the id must be non-empty and hold only letters, digits, `-`, `_` and `.`")]
    BadId(String),
    #[error("service id `{0}` is used twice (clients key services by id)")]
    DuplicateId(String),
    #[error("service `{id}` names hook `{hook}`, which this service cannot serve")]
    UnsupportedHook { id: String, hook: String },
    #[error("service `{id}`: `{field}` is required and must not be empty")]
    MissingField { id: String, field: &'static str },
    #[error("service `{id}`: prefetch key `{key}` must be a simple name")]
    BadPrefetchKey { id: String, key: String },
    #[error("service `{id}`: {cause}")]
    Template { id: String, cause: TemplateError },
}

impl From<serde_json::Error> for DiscoveryError {
    fn from(error: serde_json::Error) -> DiscoveryError {
        DiscoveryError::Shape(error)
    }
}

// Our own file, so unknown fields are refused: a typo must not silently drop a setting.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireDiscovery {
    services: Vec<WireService>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WireService {
    hook: String,
    title: Option<String>,
    description: Option<String>,
    id: String,
    #[serde(default)]
    prefetch: BTreeMap<String, String>,
    usage_requirements: Option<String>,
    #[serde(default)]
    #[expect(dead_code, reason = "extensions are allowed and served as written, never read")]
    extension: Option<Value>,
}

impl Discovery {
    pub fn parse(text: &str) -> Result<Discovery, DiscoveryError> {
        let wire: WireDiscovery = serde_json::from_str(text)?;
        if wire.services.is_empty() {
            return Err(DiscoveryError::NoService);
        }
        let mut ids = HashSet::new();
        let mut services = Vec::with_capacity(wire.services.len());
        for service in wire.services {
            let id = service.id;
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
                return Err(DiscoveryError::BadId(id));
            }
            if !ids.insert(id.clone()) {
                return Err(DiscoveryError::DuplicateId(id));
            }
            let Some(hook) = Hook::parse(&service.hook) else {
                return Err(DiscoveryError::UnsupportedHook { id, hook: service.hook });
            };
            let non_empty = |value: Option<String>, field| match value {
                Some(text) if !text.trim().is_empty() => Ok(text),
                _ => Err(DiscoveryError::MissingField { id: id.clone(), field }),
            };
            non_empty(service.title, "title")?;
            non_empty(service.description, "description")?;
            non_empty(service.usage_requirements, "usageRequirements")?;
            let mut prefetch = Vec::with_capacity(service.prefetch.len());
            for (key, template) in service.prefetch {
                if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err(DiscoveryError::BadPrefetchKey { id, key });
                }
                let template = PrefetchTemplate::parse(&template, hook)
                    .map_err(|cause| DiscoveryError::Template { id: id.clone(), cause })?;
                prefetch.push((key, template));
            }
            services.push(ServiceDefinition { id: ServiceId::new(id), hook, prefetch });
        }
        Ok(Discovery { text: text.to_owned(), services })
    }

    /// The document exactly as written, for `GET /cds-services`.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn services(&self) -> &[ServiceDefinition] {
        &self.services
    }

    /// The service a request path names (the path is the caller's, so a plain string).
    pub fn find(&self, id: &str) -> Option<&ServiceDefinition> {
        self.services.iter().find(|service| service.id == *id)
    }
}

impl ServiceDefinition {
    pub fn id(&self) -> &ServiceId {
        &self.id
    }

    pub fn hook(&self) -> Hook {
        self.hook
    }

    /// Prefetch keys and their templates, sorted by key.
    pub fn prefetch(&self) -> &[(String, PrefetchTemplate)] {
        &self.prefetch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(id: &str, hook: &str, prefetch: &str) -> String {
        format!(
            r#"{{"id":"{id}","hook":"{hook}","title":"T","description":"D","usageRequirements":"U","prefetch":{prefetch}}}"#
        )
    }

    fn parse(services: &[String]) -> Result<Discovery, DiscoveryError> {
        Discovery::parse(&format!(r#"{{"services":[{}]}}"#, services.join(",")))
    }

    #[test]
    fn a_valid_document_keeps_its_text_and_services() {
        let discovery =
            parse(&[service("a", "order-select", r#"{"patient":"Patient/{{context.patientId}}"}"#)]).unwrap();
        assert!(discovery.text().starts_with(r#"{"services":"#));
        let service = discovery.find("a").unwrap();
        assert_eq!(service.hook(), Hook::OrderSelect);
        assert_eq!(service.prefetch()[0].0, "patient");
        assert!(discovery.find("b").is_none());
    }

    #[test]
    fn invalid_documents_are_refused_with_the_reason() {
        let cases = [
            (
                vec![service("a", "order-select", "{}"), service("a", "order-sign", "{}")],
                "service id `a` is used twice",
            ),
            (vec![service("a", "encounter-start", "{}")], "cannot serve"),
            (vec![service("a b", "order-select", "{}")], "the id must be non-empty"),
            (
                vec![service("a", "order-select", r#"{"x":"Patient/{{today()}}"}"#)],
                "not a CDS Hooks 2.0 prefetch token",
            ),
            (vec![service("a", "order-select", r#"{"x-y":"Patient/1"}"#)], "must be a simple name"),
            (vec![], "lists no service"),
        ];
        for (services, expected) in cases {
            let error = parse(&services).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
        let missing_title =
            r#"{"services":[{"id":"a","hook":"order-select","description":"D","usageRequirements":"U"}]}"#;
        assert!(Discovery::parse(missing_title).unwrap_err().to_string().contains("`title` is required"));
        let typo = r#"{"services":[{"id":"a","hook":"order-select","title":"T","description":"D","usageRequirements":"U","prefecth":{}}]}"#;
        assert!(matches!(Discovery::parse(typo), Err(DiscoveryError::Shape(_))));
    }
}
