//! A checker of CDS Hooks 2.0 responses, written from the spec's rules (reference §1.2 and §1.7),
//! independent of the types that build them: every response the tests see goes through it.

use std::collections::HashSet;

use serde_json::Value;
use uuid::Uuid;

/// Every rule a response breaks, as `path: problem`.
pub fn problems(response: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut uuids = HashSet::new();
    no_empty_values(response, "$", &mut found);
    let Some(object) = response.as_object() else { return vec!["$: not an object".to_owned()] };
    match object.get("cards").and_then(Value::as_array) {
        Some(cards) => {
            for (index, card) in cards.iter().enumerate() {
                check_card(card, &format!("cards[{index}]"), &mut uuids, &mut found);
            }
        }
        None => found.push("$.cards: required array".to_owned()),
    }
    if let Some(actions) = object.get("systemActions") {
        for (index, action) in actions.as_array().into_iter().flatten().enumerate() {
            check_action(action, &format!("systemActions[{index}]"), &mut found);
        }
        if object.get("extension").and_then(|e| e.get("systemActions")) != Some(actions) {
            found.push("extension.systemActions: must mirror systemActions for PAMA clients".to_owned());
        }
    }
    for key in object.keys() {
        if !["cards", "systemActions", "extension"].contains(&key.as_str()) {
            found.push(format!("$.{key}: not a response field"));
        }
    }
    found
}

/// Elements are never null or empty (`""`, `[]`, `{}`), except the response's own `cards: []`.
fn no_empty_values(value: &Value, path: &str, found: &mut Vec<String>) {
    match value {
        Value::Null => found.push(format!("{path}: null")),
        Value::String(text) if text.is_empty() => found.push(format!("{path}: empty string")),
        Value::Array(items) => {
            if items.is_empty() && path != "$.cards" {
                found.push(format!("{path}: empty array"));
            }
            for (index, item) in items.iter().enumerate() {
                no_empty_values(item, &format!("{path}[{index}]"), found);
            }
        }
        Value::Object(map) => {
            if map.is_empty() {
                found.push(format!("{path}: empty object"));
            }
            for (key, item) in map {
                no_empty_values(item, &format!("{path}.{key}"), found);
            }
        }
        _ => {}
    }
}

fn text<'a>(value: &'a Value, field: &str) -> Option<&'a str> {
    value.get(field).and_then(Value::as_str).filter(|text| !text.trim().is_empty())
}

fn absolute_url(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
}

fn check_uuid(value: Option<&str>, path: &str, uuids: &mut HashSet<String>, found: &mut Vec<String>) {
    match value.map(Uuid::parse_str) {
        Some(Ok(uuid)) => {
            if !uuids.insert(uuid.to_string()) {
                found.push(format!("{path}: uuid used twice"));
            }
        }
        Some(Err(_)) => found.push(format!("{path}: not a UUID")),
        None => found.push(format!("{path}: a uuid is needed for feedback")),
    }
}

fn check_coding(coding: &Value, path: &str, display_required: bool, found: &mut Vec<String>) {
    if text(coding, "system").is_none() {
        found.push(format!("{path}.system: required"));
    }
    if text(coding, "code").is_none() {
        found.push(format!("{path}.code: required"));
    }
    if display_required && text(coding, "display").is_none() {
        found.push(format!("{path}.display: required on override reasons"));
    }
}

fn check_card(card: &Value, path: &str, uuids: &mut HashSet<String>, found: &mut Vec<String>) {
    check_uuid(card.get("uuid").and_then(Value::as_str), &format!("{path}.uuid"), uuids, found);
    match text(card, "summary") {
        Some(summary) if summary.chars().count() < 140 => {}
        Some(summary) => {
            found.push(format!("{path}.summary: {} characters, must be under 140", summary.chars().count()))
        }
        None => found.push(format!("{path}.summary: required")),
    }
    if !matches!(text(card, "indicator"), Some("info" | "warning" | "critical")) {
        found.push(format!("{path}.indicator: must be info, warning or critical"));
    }
    match card.get("source") {
        Some(source) => {
            if text(source, "label").is_none() {
                found.push(format!("{path}.source.label: required"));
            }
            for field in ["url", "icon"] {
                if source.get(field).is_some() && !text(source, field).is_some_and(absolute_url) {
                    found.push(format!("{path}.source.{field}: must be an absolute URL"));
                }
            }
            if let Some(topic) = source.get("topic") {
                check_coding(topic, &format!("{path}.source.topic"), false, found);
            }
        }
        None => found.push(format!("{path}.source: required")),
    }
    if let Some(suggestions) = card.get("suggestions").and_then(Value::as_array) {
        let behavior = text(card, "selectionBehavior");
        if !matches!(behavior, Some("at-most-one" | "any")) {
            found.push(format!("{path}.selectionBehavior: required with suggestions (at-most-one or any)"));
        }
        let recommended = suggestions.iter().filter(|s| s.get("isRecommended") == Some(&Value::Bool(true))).count();
        if behavior == Some("at-most-one") && recommended > 1 {
            found.push(format!("{path}: at most one suggestion may be recommended"));
        }
        for (index, suggestion) in suggestions.iter().enumerate() {
            let at = format!("{path}.suggestions[{index}]");
            if text(suggestion, "label").is_none() {
                found.push(format!("{at}.label: required"));
            }
            check_uuid(suggestion.get("uuid").and_then(Value::as_str), &format!("{at}.uuid"), uuids, found);
            for (n, action) in suggestion.get("actions").and_then(Value::as_array).into_iter().flatten().enumerate() {
                check_action(action, &format!("{at}.actions[{n}]"), found);
            }
        }
    } else if card.get("selectionBehavior").is_some() {
        found.push(format!("{path}.selectionBehavior: only with suggestions"));
    }
    for (index, reason) in card.get("overrideReasons").and_then(Value::as_array).into_iter().flatten().enumerate() {
        check_coding(reason, &format!("{path}.overrideReasons[{index}]"), true, found);
    }
    for (index, link) in card.get("links").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let at = format!("{path}.links[{index}]");
        if text(link, "label").is_none() {
            found.push(format!("{at}.label: required"));
        }
        if !text(link, "url").is_some_and(absolute_url) {
            found.push(format!("{at}.url: must be an absolute URL"));
        }
        match text(link, "type") {
            Some("absolute") if link.get("appContext").is_some() => {
                found.push(format!("{at}.appContext: only for smart links"))
            }
            Some("absolute" | "smart") => {}
            _ => found.push(format!("{at}.type: must be absolute or smart")),
        }
    }
}

fn check_action(action: &Value, path: &str, found: &mut Vec<String>) {
    if text(action, "description").is_none() {
        found.push(format!("{path}.description: required in CDS Hooks 2.0"));
    }
    let has_resource_type = action.get("resource").and_then(|r| text(r, "resourceType")).is_some();
    match text(action, "type") {
        Some("create" | "update") if !has_resource_type => {
            found.push(format!("{path}.resource: a FHIR resource is required"))
        }
        Some("delete") => {
            if action.get("resource").is_some() {
                found.push(format!("{path}.resource: a delete names its target by resourceId"));
            }
            let id = text(action, "resourceId").unwrap_or_default();
            if id.split('/').count() != 2 {
                found.push(format!("{path}.resourceId: a relative reference Type/id is required"));
            }
        }
        Some("create" | "update") => {}
        _ => found.push(format!("{path}.type: must be create, update or delete")),
    }
}

#[test]
fn the_checker_finds_each_broken_rule() {
    let broken = serde_json::json!({
        "cards": [{
            "uuid": "nope", "summary": "x".repeat(140), "indicator": "hard-stop", "source": {"label": "", "url": "/rel"},
            "suggestions": [{"label": "a", "uuid": "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "isRecommended": true,
                             "actions": [{"type": "delete", "description": "d", "resourceId": "x"}]},
                            {"label": "b", "uuid": "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "isRecommended": true, "actions": [{"type": "create"}]}],
            "selectionBehavior": "at-most-one",
            "overrideReasons": [{"system": "s", "code": "c"}],
            "links": [{"label": "l", "url": "https://x.org", "type": "absolute", "appContext": "a"}],
            "detail": null
        }],
        "systemActions": [{"type": "update", "description": "u", "resource": {"resourceType": "ServiceRequest"}}]
    });
    let found = problems(&broken);
    for expected in [
        "cards[0].uuid: not a UUID",
        "cards[0].summary: 140 characters",
        "cards[0].indicator",
        "cards[0].source.label",
        "cards[0].source.url",
        "at most one suggestion may be recommended",
        "cards[0].suggestions[1].uuid: uuid used twice",
        "cards[0].suggestions[0].actions[0].resourceId",
        "cards[0].suggestions[1].actions[0].description",
        "cards[0].overrideReasons[0].display",
        "cards[0].links[0].appContext",
        "$.cards[0].detail: null",
        "extension.systemActions: must mirror",
    ] {
        assert!(found.iter().any(|problem| problem.contains(expected)), "missing `{expected}` in {found:#?}");
    }
    assert!(problems(&serde_json::json!({"cards": []})).is_empty());
}
