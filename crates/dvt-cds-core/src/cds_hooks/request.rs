//! `POST /cds-services/{id}`: the request body, read tolerantly, then checked against the hook's rules.

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use url::Url;

use super::hook::Hook;
use super::issue::{Issue, Typed, describe_json_error, is_fhir_id, split_relative_reference};
use crate::ids::{BadHookInstance, HookInstance};

/// A hook call that passed the protocol checks: the required fields are present and well formed.
///
/// Prefetch values are kept as raw JSON; reading them is the gathering layer's job.
#[derive(Debug)]
pub struct HookRequest {
    hook: Hook,
    hook_instance: HookInstance,
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
    /// The body is not JSON, or not a JSON object. The message is ours and quotes nothing of the body.
    #[error("request body is not a valid CDS Hooks request: {message}")]
    Malformed {
        message: String,
        /// Where serde stopped.
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
            message: describe_json_error(&error, "a CDS Hooks request"),
            line: error.line(),
            column: error.column(),
        })?;
        wire.validate(expected)
    }

    pub fn hook(&self) -> Hook {
        self.hook
    }

    pub fn hook_instance(&self) -> &HookInstance {
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

// The body as serde reads it: every field optional and of any JSON type, so that a missing or
// mistyped field is reported by `validate` with its location and what was expected, never with serde's
// message (which quotes the value). Unknown fields are ignored. Objects are kept raw and read on their
// own, so that the prefetch values stay raw JSON.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest {
    hook: Option<Typed<String>>,
    hook_instance: Option<Typed<String>>,
    fhir_server: Option<Typed<String>>,
    fhir_authorization: Option<Box<RawValue>>,
    context: Option<Box<RawValue>>,
    prefetch: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireContext {
    user_id: Option<Typed<String>>,
    patient_id: Option<Typed<String>>,
    encounter_id: Option<Typed<String>>,
    selections: Option<Value>,
    draft_orders: Option<Value>,
}

// The spec spells these in snake case.
#[derive(Deserialize)]
struct WireAuthorization {
    access_token: Option<Typed<String>>,
    token_type: Option<Typed<String>>,
    scope: Option<Typed<String>>,
    subject: Option<Typed<String>>,
    patient: Option<Typed<String>>,
}

/// A string field that must be present: an issue when it is missing or not a string.
fn required_text(value: Option<Typed<String>>, expression: &str, issues: &mut Vec<Issue>) -> Option<String> {
    match value {
        None => {
            issues.push(Issue::required(expression));
            None
        }
        Some(value) => value.check(expression, "a string", issues),
    }
}

/// A string field that may be absent: an issue only when it is not a string.
fn optional_text(value: Option<Typed<String>>, expression: &str, issues: &mut Vec<Issue>) -> Option<String> {
    value.and_then(|value| value.check(expression, "a string", issues))
}

/// A JSON object kept raw, read as `T`; an issue at `expression` when it is not one.
fn object<T: serde::de::DeserializeOwned>(
    raw: Option<Box<RawValue>>,
    expression: &str,
    expected: &str,
    issues: &mut Vec<Issue>,
) -> Option<T> {
    let raw = raw?;
    match serde_json::from_str(raw.get()) {
        Ok(value) => Some(value),
        Err(_) => {
            issues.push(Issue::new(expression, format!("must be {expected}")));
            None
        }
    }
}

impl WireRequest {
    fn validate(self, expected: Hook) -> Result<HookRequest, RequestError> {
        let mut issues = Vec::new();

        let hook = required_text(self.hook, "hook", &mut issues).and_then(|name| match Hook::parse(&name) {
            Some(hook) if hook == expected => Some(hook),
            _ => {
                issues.push(Issue::new("hook", format!("must be `{expected}`, the hook this service serves")));
                None
            }
        });

        let hook_instance = required_text(self.hook_instance, "hookInstance", &mut issues).and_then(|text| {
            match HookInstance::parse(text) {
                Ok(hook_instance) => Some(hook_instance),
                Err(BadHookInstance::Blank) => {
                    issues.push(Issue::new("hookInstance", "must not be empty"));
                    None
                }
                Err(BadHookInstance::Unprintable) => {
                    issues.push(Issue::new(
                        "hookInstance",
                        format!("must be a UUID (at most {} printable characters)", HookInstance::MAX_LEN),
                    ));
                    None
                }
            }
        });

        let fhir_server = optional_text(self.fhir_server, "fhirServer", &mut issues).and_then(|text| {
            match parse_fhir_server(&text) {
                Ok(url) => Some(url),
                Err(message) => {
                    issues.push(Issue::new("fhirServer", message));
                    None
                }
            }
        });

        let authorization: Option<WireAuthorization> = object(
            self.fhir_authorization,
            "fhirAuthorization",
            "an object with access_token and token_type",
            &mut issues,
        );
        let fhir_authorization = authorization.and_then(|wire| {
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
            Some(raw) => object::<WireContext>(Some(raw), "context", "an object", &mut issues)
                .and_then(|context| context.validate(expected, &mut issues)),
        };

        let prefetch: Option<HashMap<String, Box<RawValue>>> =
            object(self.prefetch, "prefetch", "an object whose fields are prefetch keys", &mut issues);

        match (hook, hook_instance, context) {
            (Some(hook), Some(hook_instance), Some(context)) if issues.is_empty() => Ok(HookRequest {
                hook,
                hook_instance,
                fhir_server,
                fhir_authorization,
                context,
                prefetch: prefetch.unwrap_or_default(),
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
        let access_token = match required_text(self.access_token, "fhirAuthorization.access_token", issues) {
            Some(token) if token.trim().is_empty() => {
                issues.push(Issue::new("fhirAuthorization.access_token", "must not be empty"));
                None
            }
            other => other.map(AccessToken),
        };
        match required_text(self.token_type, "fhirAuthorization.token_type", issues) {
            Some(kind) if !kind.eq_ignore_ascii_case("bearer") => {
                issues.push(Issue::new("fhirAuthorization.token_type", "must be `Bearer`"));
            }
            _ => {}
        }
        let scope = optional_text(self.scope, "fhirAuthorization.scope", issues);
        let subject = optional_text(self.subject, "fhirAuthorization.subject", issues);
        let patient = optional_text(self.patient, "fhirAuthorization.patient", issues);
        if issues.len() > before {
            return None;
        }
        access_token.map(|access_token| FhirAuthorization { access_token, scope, subject, patient })
    }
}

impl WireContext {
    fn validate(self, hook: Hook, issues: &mut Vec<Issue>) -> Option<HookContext> {
        let before = issues.len();

        let user_id = required_text(self.user_id, "context.userId", issues);
        if let Some(user_id) = &user_id {
            match split_relative_reference(user_id) {
                Some((resource_type, _)) if hook.user_types().contains(&resource_type) => {}
                _ => issues.push(Issue::new(
                    "context.userId",
                    format!("must be a reference `Type/id` to one of {}", hook.user_types().join(", ")),
                )),
            }
        }

        let patient_id = required_text(self.patient_id, "context.patientId", issues);
        if patient_id.as_deref().is_some_and(|id| !is_fhir_id(id)) {
            issues.push(Issue::new("context.patientId", "must be a FHIR id (not a reference)"));
        }
        let encounter_id = optional_text(self.encounter_id, "context.encounterId", issues);
        if encounter_id.as_deref().is_some_and(|id| !is_fhir_id(id)) {
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
                let selections =
                    required(self.selections, "context.selections", issues).and_then(|value| references(value, issues));
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
        Some(HookContext { user_id: user_id?, patient_id: patient_id?, encounter_id, selections, draft_orders })
    }
}

fn required<T>(value: Option<T>, expression: &str, issues: &mut Vec<Issue>) -> Option<T> {
    if value.is_none() {
        issues.push(Issue::required(expression));
    }
    value
}

/// `context.selections`: an array of strings (each checked as a reference later).
fn references(value: Value, issues: &mut Vec<Issue>) -> Option<Vec<String>> {
    let Value::Array(items) = value else {
        issues.push(Issue::new("context.selections", "must be an array of references `Type/id`"));
        return None;
    };
    let before = issues.len();
    let texts: Vec<String> = items
        .into_iter()
        .enumerate()
        .filter_map(|(index, item)| match item {
            Value::String(text) => Some(text),
            _ => {
                issues.push(Issue::new(format!("context.selections[{index}]"), "must be a reference `Type/id`"));
                None
            }
        })
        .collect();
    (issues.len() == before).then_some(texts)
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
            issues
                .push(Issue::new(format!("context.selections[{index}]"), "must name an entry of context.draftOrders"));
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
        assert_eq!(issues_of(&body, Hook::OrderSign), ["hook: must be `order-sign`, the hook this service serves"]);
    }

    #[test]
    fn selections_must_name_draft_orders() {
        let body = order_select(json!({
            "userId": "Practitioner/1", "patientId": "1",
            "selections": ["ServiceRequest/b", "nonsense"], "draftOrders": draft("a")}));
        assert_eq!(
            issues_of(&body, Hook::OrderSelect),
            [
                "context.selections[0]: must name an entry of context.draftOrders",
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
    fn wrong_json_types_are_located_and_say_what_was_expected() {
        let body = json!({"hook": 5, "hookInstance": ["secret"], "fhirServer": {"a": "secret"},
            "fhirAuthorization": "secret", "context": {"userId": 1, "patientId": "1", "encounterId": true,
            "selections": "secret", "draftOrders": draft("a")}, "prefetch": ["secret"]});
        assert_eq!(
            issues_of(&body, Hook::OrderSelect),
            [
                "hook: must be a string",
                "hookInstance: must be a string",
                "fhirServer: must be a string",
                "fhirAuthorization: must be an object with access_token and token_type",
                "context.userId: must be a string",
                "context.encounterId: must be a string",
                "context.selections: must be an array of references `Type/id`",
                "prefetch: must be an object whose fields are prefetch keys",
            ]
        );
        let body = json!({"hook": "patient-view", "hookInstance": "x", "context": "secret"});
        assert_eq!(issues_of(&body, Hook::PatientView), ["context: must be an object"]);
    }

    #[test]
    fn a_body_that_is_not_a_json_object_is_malformed_without_quoting_it() {
        for body in [&b"{"[..], b"\"secret\"", b"[1]", br#"{"hook": "x", "hook": "y"}"#, b"{\"hook\": secret}"] {
            let error = HookRequest::from_json(body, Hook::OrderSign).unwrap_err();
            assert!(matches!(error, RequestError::Malformed { .. }), "{error:?}");
            assert!(!error.to_string().contains("secret"), "{error}");
        }
    }

    #[test]
    fn access_tokens_never_print() {
        let token = AccessToken::new("eyJhbGciOi.secret".to_owned());
        assert_eq!(format!("{token:?}"), "AccessToken(<redacted>)");
        assert_eq!(token.expose(), "eyJhbGciOi.secret");
    }
}
