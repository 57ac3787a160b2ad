//! `POST /cds-services/{id}`: the request body, read tolerantly, then checked against the hook's rules.

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use url::Url;

use super::hook::Hook;
use super::issue::{Issue, is_fhir_id, split_relative_reference};

/// A hook call that passed the protocol checks: the required fields are present and well formed.
///
/// Prefetch values are kept as raw JSON; reading them is the gathering layer's job.
#[derive(Debug)]
pub struct HookRequest {
    hook: Hook,
    hook_instance: String,
    fhir_server: Option<Url>,
    fhir_authorization: Option<FhirAuthorization>,
    context: HookContext,
    prefetch: HashMap<String, Box<RawValue>>,
}

/// The hook context, for the three hooks this service serves.
#[derive(Debug)]
pub struct HookContext {
    pub user_id: String,
    pub patient_id: String,
    pub encounter_id: Option<String>,
    /// `order-select` only: the references (`ServiceRequest/123`) of the orders just selected.
    pub selections: Vec<String>,
    /// `order-select` and `order-sign`: the Bundle of unsigned orders (its `type` may be missing).
    pub draft_orders: Option<Value>,
}

/// `fhirAuthorization`: the OAuth token the client lends us for its FHIR server.
#[derive(Debug, Clone)]
pub struct FhirAuthorization {
    pub access_token: AccessToken,
    pub scope: Option<String>,
    pub subject: Option<String>,
    pub patient: Option<String>,
}

/// A bearer token that never prints: `Debug` and `Display` hide it, so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    pub fn new(token: String) -> AccessToken {
        AccessToken(token)
    }

    /// The token itself, for the `Authorization` header of a FHIR request and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// Why a request body was refused.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The body is not JSON, or a field has the wrong JSON type.
    #[error("request body is not a valid CDS Hooks request: {message}")]
    Malformed {
        message: String,
        /// Where serde stopped, for logs: the message itself may quote client data.
        line: usize,
        column: usize,
    },
    /// The JSON is well formed but breaks the spec's rules for this hook.
    #[error("request breaks the CDS Hooks rules: {}", format_issues(.0))]
    Invalid(Vec<Issue>),
}

fn format_issues(issues: &[Issue]) -> String {
    issues.iter().map(Issue::to_string).collect::<Vec<_>>().join("; ")
}

impl HookRequest {
    /// Reads a request body sent to a service that serves `expected`.
    pub fn from_json(body: &[u8], expected: Hook) -> Result<HookRequest, RequestError> {
        let wire: WireRequest = serde_json::from_slice(body).map_err(|error| RequestError::Malformed {
            message: error.to_string(),
            line: error.line(),
            column: error.column(),
        })?;
        wire.validate(expected)
    }

    pub fn hook(&self) -> Hook {
        self.hook
    }

    pub fn hook_instance(&self) -> &str {
        &self.hook_instance
    }

    pub fn fhir_server(&self) -> Option<&Url> {
        self.fhir_server.as_ref()
    }

    pub fn fhir_authorization(&self) -> Option<&FhirAuthorization> {
        self.fhir_authorization.as_ref()
    }

    pub fn context(&self) -> &HookContext {
        &self.context
    }

    /// The prefetch the client sent, by key; a JSON `null` value is kept (it means "known empty").
    pub fn prefetch(&self) -> &HashMap<String, Box<RawValue>> {
        &self.prefetch
    }
}

// The body as serde reads it: every field optional and loosely typed, so that a missing field is
// reported by `validate` with its name rather than as a serde error. Unknown fields are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest {
    hook: Option<String>,
    hook_instance: Option<String>,
    fhir_server: Option<String>,
    fhir_authorization: Option<WireAuthorization>,
    context: Option<WireContext>,
    prefetch: Option<HashMap<String, Box<RawValue>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireContext {
    user_id: Option<String>,
    patient_id: Option<String>,
    encounter_id: Option<String>,
    selections: Option<Vec<String>>,
    draft_orders: Option<Value>,
}

// The spec spells these in snake case.
#[derive(Deserialize)]
struct WireAuthorization {
    access_token: Option<String>,
    token_type: Option<String>,
    scope: Option<String>,
    subject: Option<String>,
    patient: Option<String>,
}

/// Longest `hookInstance` we accept; it is echoed in logs and hashed into card ids.
const MAX_HOOK_INSTANCE_LEN: usize = 128;

impl WireRequest {
    fn validate(self, expected: Hook) -> Result<HookRequest, RequestError> {
        let mut issues = Vec::new();

        let hook = match self.hook.as_deref() {
            None => {
                issues.push(Issue::required("hook"));
                None
            }
            Some(name) => match Hook::parse(name) {
                Some(hook) if hook == expected => Some(hook),
                _ => {
                    issues.push(Issue::new("hook", format!("this service serves `{expected}`, not `{name}`")));
                    None
                }
            },
        };

        let hook_instance = match self.hook_instance {
            None => {
                issues.push(Issue::required("hookInstance"));
                None
            }
            Some(text) if text.trim().is_empty() => {
                issues.push(Issue::new("hookInstance", "must not be empty"));
                None
            }
            Some(text) if text.len() > MAX_HOOK_INSTANCE_LEN || text.chars().any(char::is_control) => {
                issues.push(Issue::new(
                    "hookInstance",
                    format!("must be a UUID (at most {MAX_HOOK_INSTANCE_LEN} printable characters)"),
                ));
                None
            }
            Some(text) => Some(text),
        };

        let fhir_server = self.fhir_server.and_then(|text| match parse_fhir_server(&text) {
            Ok(url) => Some(url),
            Err(message) => {
                issues.push(Issue::new("fhirServer", message));
                None
            }
        });

        let fhir_authorization = self.fhir_authorization.and_then(|wire| {
            let checked = wire.validate(&mut issues);
            if checked.is_some() && fhir_server.is_none() && !issues.iter().any(|i| i.expression == "fhirServer") {
                issues.push(Issue::required_when("fhirServer", "fhirAuthorization is present"));
            }
            checked
        });

        let context = match self.context {
            None => {
                issues.push(Issue::required("context"));
                None
            }
            Some(context) => context.validate(expected, &mut issues),
        };

        match (hook, hook_instance, context) {
            (Some(hook), Some(hook_instance), Some(context)) if issues.is_empty() => Ok(HookRequest {
                hook,
                hook_instance,
                fhir_server,
                fhir_authorization,
                context,
                prefetch: self.prefetch.unwrap_or_default(),
            }),
            _ => Err(RequestError::Invalid(issues)),
        }
    }
}

fn parse_fhir_server(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|_| "must be an absolute URL".to_owned())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("must be an http or https URL".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".to_owned());
    }
    Ok(url)
}

impl WireAuthorization {
    fn validate(self, issues: &mut Vec<Issue>) -> Option<FhirAuthorization> {
        let before = issues.len();
        let access_token = match self.access_token {
            Some(token) if !token.trim().is_empty() => Some(AccessToken(token)),
            _ => {
                issues.push(Issue::required("fhirAuthorization.access_token"));
                None
            }
        };
        match self.token_type.as_deref() {
            Some(kind) if kind.eq_ignore_ascii_case("bearer") => {}
            Some(_) => issues.push(Issue::new("fhirAuthorization.token_type", "must be `Bearer`")),
            None => issues.push(Issue::required("fhirAuthorization.token_type")),
        }
        if issues.len() > before {
            return None;
        }
        access_token.map(|access_token| FhirAuthorization {
            access_token,
            scope: self.scope,
            subject: self.subject,
            patient: self.patient,
        })
    }
}

impl WireContext {
    fn validate(self, hook: Hook, issues: &mut Vec<Issue>) -> Option<HookContext> {
        let before = issues.len();

        let user_id = required(self.user_id, "context.userId", issues);
        if let Some(user_id) = &user_id {
            match split_relative_reference(user_id) {
                Some((resource_type, _)) if hook.user_types().contains(&resource_type) => {}
                _ => issues.push(Issue::new(
                    "context.userId",
                    format!("must be a reference `Type/id` to one of {}", hook.user_types().join(", ")),
                )),
            }
        }

        let patient_id = required(self.patient_id, "context.patientId", issues);
        if patient_id.as_deref().is_some_and(|id| !is_fhir_id(id)) {
            issues.push(Issue::new("context.patientId", "must be a FHIR id (not a reference)"));
        }
        if self.encounter_id.as_deref().is_some_and(|id| !is_fhir_id(id)) {
            issues.push(Issue::new("context.encounterId", "must be a FHIR id (not a reference)"));
        }

        let (selections, draft_orders) = match hook {
            Hook::PatientView => (Vec::new(), None),
            Hook::OrderSign => {
                let draft_orders = required(self.draft_orders, "context.draftOrders", issues);
                if let Some(bundle) = &draft_orders {
                    // Every draft is acted on at order-sign, and a suggestion may remove it by `Type/id`.
                    draft_order_references(bundle, DraftIds::MustBeReferences, issues);
                }
                (Vec::new(), draft_orders)
            }
            Hook::OrderSelect => {
                let selections = required(self.selections, "context.selections", issues);
                let draft_orders = required(self.draft_orders, "context.draftOrders", issues);
                // Only the selected drafts are acted on; `selections` already names them by `Type/id`.
                let present =
                    draft_orders.as_ref().map(|bundle| draft_order_references(bundle, DraftIds::Tolerated, issues));
                if let (Some(selections), Some(present)) = (&selections, &present) {
                    check_selections(selections, present, issues);
                }
                (selections.unwrap_or_default(), draft_orders)
            }
        };

        if issues.len() > before {
            return None;
        }
        Some(HookContext {
            user_id: user_id?,
            patient_id: patient_id?,
            encounter_id: self.encounter_id,
            selections,
            draft_orders,
        })
    }
}

fn required<T>(value: Option<T>, expression: &str, issues: &mut Vec<Issue>) -> Option<T> {
    if value.is_none() {
        issues.push(Issue::required(expression));
    }
    value
}

/// Whether each draft's `resourceType` and `id` must make a reference `Type/id`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DraftIds {
    MustBeReferences,
    Tolerated,
}

/// Checks the Bundle's structure and returns the `Type/id` of every entry that has an id.
/// A missing `Bundle.type` is tolerated: the spec's own examples and the public sandbox omit it.
fn draft_order_references(bundle: &Value, ids: DraftIds, issues: &mut Vec<Issue>) -> Vec<String> {
    let mut references = Vec::new();
    let Some(bundle) = bundle.as_object() else {
        issues.push(Issue::new("context.draftOrders", "must be a FHIR Bundle object"));
        return references;
    };
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        issues.push(Issue::new("context.draftOrders.resourceType", "must be `Bundle`"));
    }
    let entries = match bundle.get("entry") {
        None | Some(Value::Null) => return references,
        Some(Value::Array(entries)) => entries,
        Some(_) => {
            issues.push(Issue::new("context.draftOrders.entry", "must be an array"));
            return references;
        }
    };
    for (index, entry) in entries.iter().enumerate() {
        let resource = entry.get("resource");
        let resource_type = resource.and_then(|r| r.get("resourceType")).and_then(Value::as_str);
        match (resource, resource_type) {
            (Some(Value::Object(resource)), Some(resource_type)) => {
                if let Some(id) = resource.get("id").and_then(Value::as_str) {
                    let reference = format!("{resource_type}/{id}");
                    if ids == DraftIds::MustBeReferences && split_relative_reference(&reference).is_none() {
                        let (field, message) = if is_fhir_id(id) {
                            ("resourceType", "must be a FHIR resource type")
                        } else {
                            ("id", "must be a FHIR id (letters, digits, `-` and `.`, at most 64)")
                        };
                        issues
                            .push(Issue::new(format!("context.draftOrders.entry[{index}].resource.{field}"), message));
                    }
                    references.push(reference);
                }
            }
            _ => issues.push(Issue::new(
                format!("context.draftOrders.entry[{index}].resource"),
                "must be a FHIR resource with a resourceType",
            )),
        }
    }
    references
}

fn check_selections(selections: &[String], present: &[String], issues: &mut Vec<Issue>) {
    if selections.is_empty() {
        issues.push(Issue::new("context.selections", "must name at least one draft order"));
    }
    for (index, selection) in selections.iter().enumerate() {
        if split_relative_reference(selection).is_none() {
            issues.push(Issue::new(format!("context.selections[{index}]"), "must be a reference `Type/id`"));
        } else if !present.contains(selection) {
            issues.push(Issue::new(
                format!("context.selections[{index}]"),
                format!("`{selection}` is not in context.draftOrders"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn order_select(context: Value) -> Value {
        json!({
            "hook": "order-select",
            "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context": context,
        })
    }

    fn issues_of(body: &Value, hook: Hook) -> Vec<String> {
        match HookRequest::from_json(body.to_string().as_bytes(), hook) {
            Ok(_) => Vec::new(),
            Err(RequestError::Invalid(issues)) => issues.iter().map(Issue::to_string).collect(),
            Err(other) => vec![other.to_string()],
        }
    }

    fn draft(id: &str) -> Value {
        json!({"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "ServiceRequest", "id": id}}]})
    }

    #[test]
    fn a_sandbox_shaped_order_select_is_accepted() {
        let body = order_select(json!({
            "userId": "Practitioner/COREPRACTITIONER1", "patientId": "smart-1288992",
            "selections": ["ServiceRequest/example-request-id"],
            "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": {
                "resourceType": "ServiceRequest", "id": "example-request-id", "status": "draft",
                "intent": "plan", "code": {"coding": [{}]}, "reasonCode": []}}]},
            "extension": {"com.example.unknown": true}
        }));
        assert_eq!(issues_of(&body, Hook::OrderSelect), Vec::<String>::new());
    }

    #[test]
    fn every_missing_required_field_is_named() {
        let body = json!({"context": {}});
        assert_eq!(
            issues_of(&body, Hook::OrderSelect),
            [
                "hook: is required",
                "hookInstance: is required",
                "context.userId: is required",
                "context.patientId: is required",
                "context.selections: is required",
                "context.draftOrders: is required",
            ]
        );
    }

    #[test]
    fn a_hook_the_service_does_not_serve_is_refused() {
        let body = json!({"hook": "order-select", "hookInstance": "x", "context": {
            "userId": "Practitioner/1", "patientId": "1", "draftOrders": draft("a")}});
        assert_eq!(issues_of(&body, Hook::OrderSign), ["hook: this service serves `order-sign`, not `order-select`"]);
    }

    #[test]
    fn selections_must_name_draft_orders() {
        let body = order_select(json!({
            "userId": "Practitioner/1", "patientId": "1",
            "selections": ["ServiceRequest/b", "nonsense"], "draftOrders": draft("a")}));
        assert_eq!(
            issues_of(&body, Hook::OrderSelect),
            [
                "context.selections[0]: `ServiceRequest/b` is not in context.draftOrders",
                "context.selections[1]: must be a reference `Type/id`",
            ]
        );
    }

    #[test]
    fn patient_ids_that_could_alter_a_query_are_refused() {
        let body = json!({"hook": "patient-view", "hookInstance": "x", "context": {
            "userId": "Practitioner/1", "patientId": "1&_include=*"}});
        assert_eq!(issues_of(&body, Hook::PatientView), ["context.patientId: must be a FHIR id (not a reference)"]);
    }

    #[test]
    fn fhir_authorization_needs_a_fhir_server_and_a_bearer_token() {
        let body = json!({"hook": "patient-view", "hookInstance": "x",
            "fhirAuthorization": {"access_token": "secret", "token_type": "Bearer"},
            "context": {"userId": "Practitioner/1", "patientId": "1"}});
        assert_eq!(issues_of(&body, Hook::PatientView), ["fhirServer: is required when fhirAuthorization is present"]);
        let body = json!({"hook": "patient-view", "hookInstance": "x", "fhirServer": "ftp://x",
            "fhirAuthorization": {"token_type": "MAC"},
            "context": {"userId": "Practitioner/1", "patientId": "1"}});
        assert_eq!(
            issues_of(&body, Hook::PatientView),
            [
                "fhirServer: must be an http or https URL",
                "fhirAuthorization.access_token: is required",
                "fhirAuthorization.token_type: must be `Bearer`",
            ]
        );
    }

    #[test]
    fn a_draft_orders_entry_without_a_resource_is_located() {
        let body = json!({"hook": "order-sign", "hookInstance": "x", "context": {
            "userId": "Practitioner/1", "patientId": "1",
            "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "ServiceRequest"}}, {"fullUrl": "x"}]}}});
        assert_eq!(
            issues_of(&body, Hook::OrderSign),
            ["context.draftOrders.entry[1].resource: must be a FHIR resource with a resourceType"]
        );
    }

    #[test]
    fn order_sign_draft_ids_must_be_fhir_ids() {
        let body = |id: &str, resource_type: &str| {
            json!({"hook": "order-sign", "hookInstance": "x", "context": {
                "userId": "Practitioner/1", "patientId": "1",
                "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": resource_type, "id": id}}]}}})
        };
        assert_eq!(
            issues_of(&body("venogram_1", "ServiceRequest"), Hook::OrderSign),
            ["context.draftOrders.entry[0].resource.id: must be a FHIR id (letters, digits, `-` and `.`, at most 64)"]
        );
        assert_eq!(
            issues_of(&body("v1", "service-request"), Hook::OrderSign),
            ["context.draftOrders.entry[0].resource.resourceType: must be a FHIR resource type"]
        );
        assert!(issues_of(&body("venogram-1.v2", "ServiceRequest"), Hook::OrderSign).is_empty());
        // At order-select only the selections are acted on, and they are checked as references.
        let body = order_select(json!({
            "userId": "Practitioner/1", "patientId": "1", "selections": ["ServiceRequest/a"],
            "draftOrders": {"resourceType": "Bundle", "entry": [
                {"resource": {"resourceType": "ServiceRequest", "id": "a"}},
                {"resource": {"resourceType": "ServiceRequest", "id": "not_selected"}}]}}));
        assert!(issues_of(&body, Hook::OrderSelect).is_empty());
    }

    #[test]
    fn wrong_json_types_are_malformed_and_located() {
        let error = HookRequest::from_json(br#"{"hook": 5}"#, Hook::OrderSign).unwrap_err();
        assert!(matches!(error, RequestError::Malformed { line: 1, column: 10, .. }), "{error:?}");
        let error = HookRequest::from_json(b"{", Hook::OrderSign).unwrap_err();
        assert!(matches!(error, RequestError::Malformed { .. }), "{error:?}");
    }

    #[test]
    fn access_tokens_never_print() {
        let token = AccessToken::new("eyJhbGciOi.secret".to_owned());
        assert_eq!(format!("{token:?}"), "AccessToken(<redacted>)");
        assert_eq!(token.expose(), "eyJhbGciOi.secret");
    }
}
