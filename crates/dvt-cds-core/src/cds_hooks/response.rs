//! What a service answers: cards, suggestions, actions, links, and the response envelope.
//!
//! Fields are private and constructors check the spec's rules (CDS Hooks 2.0 §"CDS Service Response"),
//! so everything that serializes is conformant: no `null` or empty values, summary under 140
//! characters, `selectionBehavior` with suggestions, a `display` on every override reason.

use std::collections::HashSet;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

use super::issue::split_relative_reference;

/// The longest summary the spec allows is 139 characters ("<140-character").
const SUMMARY_MAX_CHARS: usize = 139;

/// The response to a hook call.
///
/// System actions are written twice: at the top level, where CDS Hooks 2.0 puts them, and under
/// `extension.systemActions`, the only place the public sandbox's PAMA tab and Argonaut PAMA
/// clients read them.
#[derive(Debug, Clone, Default)]
pub struct CdsResponse {
    cards: Vec<Card>,
    system_actions: Vec<Action>,
}

impl CdsResponse {
    /// A response with no advice: `{"cards":[]}`.
    pub fn empty() -> CdsResponse {
        CdsResponse::default()
    }

    pub fn new(cards: Vec<Card>, system_actions: Vec<Action>) -> Result<CdsResponse, CardError> {
        let mut seen = HashSet::new();
        for card in &cards {
            if !seen.insert(card.uuid) {
                return Err(CardError::DuplicateUuid(card.uuid));
            }
        }
        for action in &system_actions {
            action.check()?;
        }
        Ok(CdsResponse { cards, system_actions })
    }

    /// Each card's indicator, in card order (for metrics).
    pub fn indicators(&self) -> impl Iterator<Item = Indicator> + '_ {
        self.cards.iter().map(|card| card.indicator)
    }
}

impl Serialize for CdsResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Mirror<'a>(&'a [Action]);
        impl Serialize for Mirror<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("systemActions", self.0)?;
                map.end()
            }
        }

        let has_actions = !self.system_actions.is_empty();
        let mut map = serializer.serialize_map(Some(if has_actions { 3 } else { 1 }))?;
        map.serialize_entry("cards", &self.cards)?;
        if has_actions {
            map.serialize_entry("systemActions", &self.system_actions)?;
            map.serialize_entry("extension", &Mirror(&self.system_actions))?;
        }
        map.end()
    }
}

/// A card, built only through [`CardBuilder`].
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    uuid: Uuid,
    summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    indicator: Indicator,
    source: Source,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    suggestions: Vec<Suggestion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    selection_behavior: Option<SelectionBehavior>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    override_reasons: Vec<Coding>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    links: Vec<Link>,
}

impl Card {
    pub fn uuid(&self) -> Uuid {
        self.uuid
    }

    pub fn builder(uuid: Uuid, summary: impl Into<String>, indicator: Indicator, source: Source) -> CardBuilder {
        CardBuilder {
            card: Card {
                uuid,
                summary: summary.into(),
                detail: None,
                indicator,
                source,
                suggestions: Vec::new(),
                selection_behavior: None,
                override_reasons: Vec::new(),
                links: Vec::new(),
            },
        }
    }
}

/// Collects a card's optional parts; [`CardBuilder::build`] checks the spec's rules.
#[must_use]
#[derive(Debug)]
pub struct CardBuilder {
    card: Card,
}

impl CardBuilder {
    pub fn detail(mut self, markdown: impl Into<String>) -> CardBuilder {
        self.card.detail = Some(markdown.into());
        self
    }

    pub fn suggestions(mut self, behavior: SelectionBehavior, suggestions: Vec<Suggestion>) -> CardBuilder {
        self.card.selection_behavior = (!suggestions.is_empty()).then_some(behavior);
        self.card.suggestions = suggestions;
        self
    }

    pub fn override_reason(mut self, reason: Coding) -> CardBuilder {
        self.card.override_reasons.push(reason);
        self
    }

    pub fn link(mut self, link: Link) -> CardBuilder {
        self.card.links.push(link);
        self
    }

    pub fn build(self) -> Result<Card, CardError> {
        let card = self.card;
        let summary_chars = card.summary.chars().count();
        if card.summary.trim().is_empty() || summary_chars > SUMMARY_MAX_CHARS {
            return Err(CardError::Summary { chars: summary_chars });
        }
        if card.detail.as_deref().is_some_and(|detail| detail.trim().is_empty()) {
            return Err(CardError::Empty("detail"));
        }
        card.source.check()?;
        for reason in &card.override_reasons {
            reason.check()?;
            if reason.display.as_deref().is_none_or(|display| display.trim().is_empty()) {
                return Err(CardError::OverrideReasonWithoutDisplay(reason.code.clone()));
            }
        }
        let mut suggestion_ids = HashSet::new();
        for suggestion in &card.suggestions {
            suggestion.check()?;
            if !suggestion_ids.insert(suggestion.uuid) {
                return Err(CardError::DuplicateUuid(suggestion.uuid));
            }
        }
        let recommended = card.suggestions.iter().filter(|s| s.is_recommended).count();
        if card.selection_behavior == Some(SelectionBehavior::AtMostOne) && recommended > 1 {
            return Err(CardError::SeveralRecommended);
        }
        for link in &card.links {
            link.check()?;
        }
        Ok(card)
    }
}

/// Why a card, suggestion or action could not be built. Always a defect in our code, never in input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("summary must hold 1 to 139 characters, not {chars}")]
    Summary { chars: usize },
    #[error("`{0}` must not be empty")]
    Empty(&'static str),
    /// A card was asked of a verdict it does not phrase: a defect in `cards`.
    #[error("inconsistent card: {0}")]
    Inconsistent(&'static str),
    #[error("`{0}` must be an absolute http(s) URL")]
    NotAbsoluteUrl(&'static str),
    #[error("override reason `{0}` needs a display")]
    OverrideReasonWithoutDisplay(String),
    #[error("uuid `{0}` is used twice")]
    DuplicateUuid(Uuid),
    #[error("at most one suggestion may be recommended when selectionBehavior is at-most-one")]
    SeveralRecommended,
    #[error("a suggestion needs at least one action")]
    SuggestionWithoutActions,
    #[error("a `{0}` action needs a FHIR resource with a resourceType")]
    ActionWithoutResource(&'static str),
    #[error("a delete action needs a `resourceId` of the form `Type/id` and no resource")]
    DeleteWithoutResourceId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Indicator {
    Info,
    Warning,
    Critical,
}

impl Indicator {
    pub fn as_str(self) -> &'static str {
        match self {
            Indicator::Info => "info",
            Indicator::Warning => "warning",
            Indicator::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SelectionBehavior {
    AtMostOne,
    Any,
}

/// The card's `source`: who says so.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Source {
    label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    icon: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    topic: Option<Coding>,
}

impl Source {
    pub fn new(label: impl Into<String>) -> Source {
        Source { label: label.into(), url: None, icon: None, topic: None }
    }

    #[must_use]
    pub fn url(mut self, url: impl Into<String>) -> Source {
        self.url = Some(url.into());
        self
    }

    #[must_use]
    pub fn topic(mut self, topic: Coding) -> Source {
        self.topic = Some(topic);
        self
    }

    fn check(&self) -> Result<(), CardError> {
        if self.label.trim().is_empty() {
            return Err(CardError::Empty("source.label"));
        }
        if self.url.as_deref().is_some_and(|url| !is_absolute_http_url(url)) {
            return Err(CardError::NotAbsoluteUrl("source.url"));
        }
        if self.icon.as_deref().is_some_and(|url| !is_absolute_http_url(url)) {
            return Err(CardError::NotAbsoluteUrl("source.icon"));
        }
        match &self.topic {
            Some(topic) => topic.check(),
            None => Ok(()),
        }
    }
}

/// CDS Hooks' own Coding: `system` and `code` required, `display` required on override reasons.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Coding {
    pub system: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Coding {
    pub fn new(system: impl Into<String>, code: impl Into<String>, display: impl Into<String>) -> Coding {
        Coding { system: system.into(), code: code.into(), display: Some(display.into()) }
    }

    fn check(&self) -> Result<(), CardError> {
        if self.system.trim().is_empty() {
            return Err(CardError::Empty("coding.system"));
        }
        if self.code.trim().is_empty() {
            return Err(CardError::Empty("coding.code"));
        }
        if self.display.as_deref().is_some_and(|display| display.trim().is_empty()) {
            return Err(CardError::Empty("coding.display"));
        }
        Ok(())
    }
}

/// A suggested change: one or more actions the clinician can accept together.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Suggestion {
    label: String,
    uuid: Uuid,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    is_recommended: bool,
    actions: Vec<Action>,
}

impl Suggestion {
    pub fn new(uuid: Uuid, label: impl Into<String>, actions: Vec<Action>) -> Suggestion {
        Suggestion { label: label.into(), uuid, is_recommended: false, actions }
    }

    #[must_use]
    pub fn recommended(mut self) -> Suggestion {
        self.is_recommended = true;
        self
    }

    fn check(&self) -> Result<(), CardError> {
        if self.label.trim().is_empty() {
            return Err(CardError::Empty("suggestion.label"));
        }
        if self.actions.is_empty() {
            return Err(CardError::SuggestionWithoutActions);
        }
        self.actions.iter().try_for_each(Action::check)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum ActionType {
    Create,
    Update,
    Delete,
}

/// A change to the client's record; `description` is required in 2.0 for every action.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    #[serde(rename = "type")]
    action_type: ActionType,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_id: Option<String>,
}

impl Action {
    pub fn create(description: impl Into<String>, resource: Value) -> Action {
        Action {
            action_type: ActionType::Create,
            description: description.into(),
            resource: Some(resource),
            resource_id: None,
        }
    }

    /// `resource` is the whole resource as it should be after the update.
    pub fn update(description: impl Into<String>, resource: Value) -> Action {
        Action {
            action_type: ActionType::Update,
            description: description.into(),
            resource: Some(resource),
            resource_id: None,
        }
    }

    /// `resource_id` is a relative reference, `ServiceRequest/123`.
    pub fn delete(description: impl Into<String>, resource_id: impl Into<String>) -> Action {
        Action {
            action_type: ActionType::Delete,
            description: description.into(),
            resource: None,
            resource_id: Some(resource_id.into()),
        }
    }

    fn check(&self) -> Result<(), CardError> {
        if self.description.trim().is_empty() {
            return Err(CardError::Empty("action.description"));
        }
        let has_resource_type = self
            .resource
            .as_ref()
            .and_then(|resource| resource.get("resourceType"))
            .and_then(Value::as_str)
            .is_some_and(|resource_type| !resource_type.is_empty());
        match self.action_type {
            ActionType::Create if !has_resource_type => Err(CardError::ActionWithoutResource("create")),
            ActionType::Update if !has_resource_type => Err(CardError::ActionWithoutResource("update")),
            ActionType::Delete
                if self.resource.is_some()
                    || self.resource_id.as_deref().and_then(split_relative_reference).is_none() =>
            {
                Err(CardError::DeleteWithoutResourceId)
            }
            _ => Ok(()),
        }
    }
}

/// `smart` links are never built: the public sandbox cannot launch them, and Oracle Health strips
/// links it has not registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum LinkType {
    Absolute,
}

/// A link shown on a card.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Link {
    label: String,
    url: String,
    #[serde(rename = "type")]
    link_type: LinkType,
}

impl Link {
    pub fn absolute(label: impl Into<String>, url: impl Into<String>) -> Link {
        Link { label: label.into(), url: url.into(), link_type: LinkType::Absolute }
    }

    fn check(&self) -> Result<(), CardError> {
        if self.label.trim().is_empty() {
            return Err(CardError::Empty("link.label"));
        }
        if !is_absolute_http_url(&self.url) {
            return Err(CardError::NotAbsoluteUrl("link.url"));
        }
        Ok(())
    }
}

fn is_absolute_http_url(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn source() -> Source {
        Source::new("ACR Appropriateness Criteria").url("https://acsearch.acr.org/list")
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn a_summary_of_140_characters_is_refused() {
        let ok = Card::builder(id(1), "x".repeat(139), Indicator::Info, source()).build();
        assert!(ok.is_ok());
        let long = Card::builder(id(1), "é".repeat(140), Indicator::Info, source()).build();
        assert_eq!(long.unwrap_err(), CardError::Summary { chars: 140 });
    }

    #[test]
    fn suggestions_bring_their_selection_behavior() {
        let suggestion = Suggestion::new(
            id(2),
            "Order duplex US",
            vec![Action::create("Add the duplex order", json!({"resourceType": "ServiceRequest", "status": "draft"}))],
        );
        let card = Card::builder(id(1), "Consider duplex US", Indicator::Info, source())
            .suggestions(SelectionBehavior::AtMostOne, vec![suggestion])
            .build()
            .unwrap();
        let json = serde_json::to_value(&card).unwrap();
        assert_eq!(json["selectionBehavior"], "at-most-one");
        assert!(json["suggestions"][0].get("isRecommended").is_none());
        assert!(json.get("links").is_none() && json.get("overrideReasons").is_none());
    }

    #[test]
    fn two_recommended_suggestions_break_at_most_one() {
        let action = || Action::delete("Remove the draft", "ServiceRequest/1");
        let card = Card::builder(id(1), "s", Indicator::Info, source())
            .suggestions(
                SelectionBehavior::AtMostOne,
                vec![
                    Suggestion::new(id(2), "a", vec![action()]).recommended(),
                    Suggestion::new(id(3), "b", vec![action()]).recommended(),
                ],
            )
            .build();
        assert_eq!(card.unwrap_err(), CardError::SeveralRecommended);
    }

    #[test]
    fn override_reasons_need_a_display() {
        let reason = Coding { system: "https://example.org".into(), code: "x".into(), display: None };
        let card = Card::builder(id(1), "s", Indicator::Info, source()).override_reason(reason).build();
        assert_eq!(card.unwrap_err(), CardError::OverrideReasonWithoutDisplay("x".into()));
    }

    #[test]
    fn actions_follow_their_type_rules() {
        let card = |action: Action| {
            Card::builder(id(1), "s", Indicator::Info, source())
                .suggestions(SelectionBehavior::Any, vec![Suggestion::new(id(2), "a", vec![action])])
                .build()
        };
        assert_eq!(card(Action::delete("d", "not a reference")).unwrap_err(), CardError::DeleteWithoutResourceId);
        assert_eq!(card(Action::create("c", json!({}))).unwrap_err(), CardError::ActionWithoutResource("create"));
        assert_eq!(
            card(Action::update("", json!({"resourceType": "X"}))).unwrap_err(),
            CardError::Empty("action.description")
        );
        assert!(card(Action::update("u", json!({"resourceType": "ServiceRequest"}))).is_ok());
    }

    #[test]
    fn links_and_sources_must_be_absolute() {
        let card = Card::builder(id(1), "s", Indicator::Info, Source::new("x").url("/relative")).build();
        assert_eq!(card.unwrap_err(), CardError::NotAbsoluteUrl("source.url"));
        let card = Card::builder(id(1), "s", Indicator::Info, source()).link(Link::absolute("ACR", "acr.org")).build();
        assert_eq!(card.unwrap_err(), CardError::NotAbsoluteUrl("link.url"));
    }

    #[test]
    fn system_actions_are_mirrored_under_extension() {
        let update = Action::update("Attach rating", json!({"resourceType": "ServiceRequest", "id": "1"}));
        let response = CdsResponse::new(Vec::new(), vec![update]).unwrap();
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(json["cards"], json!([]));
        assert_eq!(json["systemActions"], json["extension"]["systemActions"]);
        assert_eq!(json["systemActions"][0]["type"], "update");
        assert_eq!(serde_json::to_string(&CdsResponse::empty()).unwrap(), r#"{"cards":[]}"#);
    }

    #[test]
    fn card_uuids_are_unique_in_a_response() {
        let card = Card::builder(id(1), "s", Indicator::Info, source()).build().unwrap();
        let error = CdsResponse::new(vec![card.clone(), card], Vec::new()).unwrap_err();
        assert_eq!(error, CardError::DuplicateUuid(id(1)));
    }
}
