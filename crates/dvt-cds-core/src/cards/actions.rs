//! The FHIR side of cards: the Argonaut PAMA rating extensions on a draft order, and the draft of a
//! better-rated order a suggestion creates.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::classify::{OrderRating, OrderVerdict, Pama, Variant};
use crate::knowledge::{Category, KnowledgeBase, OrderCode, Procedure};

/// The Argonaut PAMA extensions (the public sandbox's PAMA tab reads `pama-rating` at exactly this URL).
pub const PAMA_RATING: &str = "http://fhir.org/argonaut/Extension/pama-rating";
pub const PAMA_RATING_SYSTEM: &str = "http://fhir.org/argonaut/CodeSystem/pama-rating";
pub const PAMA_CONSULT_ID: &str = "http://fhir.org/argonaut/Extension/pama-rating-consult-id";
pub const PAMA_AUC_APPLIED: &str = "http://fhir.org/argonaut/Extension/pama-rating-auc-applied";
/// This service's own code systems and extension: the exact ACR category, the ACR variant, override reasons.
pub const CATEGORY_SYSTEM: &str = "urn:dvt-cds:acr-category";
pub const VARIANT_SYSTEM: &str = "urn:dvt-cds:acr-variant";
pub const VARIANT_EXTENSION: &str = "urn:dvt-cds:extension:acr-variant";
pub const OVERRIDE_SYSTEM: &str = "urn:dvt-cds:override-reason";

const OURS: [&str; 4] = [PAMA_RATING, PAMA_CONSULT_ID, PAMA_AUC_APPLIED, VARIANT_EXTENSION];

/// The draft as the client sent it, with our rating extensions in place of any earlier ones.
pub(super) fn rated(draft: &Value, verdict: &OrderVerdict, consult: Uuid, knowledge: &KnowledgeBase) -> Option<Value> {
    let code = verdict.pama?.code();
    // Only a rating that stands carries ACR's category and variant; one the record voids carries neither.
    let rated = match &verdict.rating {
        OrderRating::Rated { variant, .. } => Some((*variant, verdict.rating.category())),
        _ => None,
    };
    let mut resource = draft.as_object()?.clone();
    let mut extensions: Vec<Value> = resource
        .get("extension")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter(|extension| {
                    !extension.get("url").and_then(Value::as_str).is_some_and(|url| OURS.contains(&url))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    extensions.extend(rating_extensions(code, rated, consult, knowledge));
    resource.insert("extension".to_owned(), Value::Array(extensions));
    Some(Value::Object(resource))
}

/// The PAMA rating `code`, and for an order `rated` in a variant its category (when the order means one
/// row, or rows of one category), topic and variant.
fn rating_extensions(
    code: &str,
    rated: Option<(Variant, Option<Category>)>,
    consult: Uuid,
    knowledge: &KnowledgeBase,
) -> Vec<Value> {
    let mut coding = vec![json!({"system": PAMA_RATING_SYSTEM, "code": code})];
    let mut extensions = vec![json!({"url": PAMA_CONSULT_ID, "valueUri": format!("urn:uuid:{consult}")})];
    if let Some((variant, category)) = rated {
        if let Some(category) = category {
            coding.push(category_coding(category));
        }
        if let Some(topic) = knowledge.topic(variant.topic()) {
            extensions.push(json!({"url": PAMA_AUC_APPLIED, "valueUri": topic.url}));
        }
        let display = knowledge.variant(variant).map(|rows| rows.short.clone()).unwrap_or_default();
        extensions.push(json!({"url": VARIANT_EXTENSION, "valueCoding": {
            "system": VARIANT_SYSTEM, "code": variant.id(), "display": display}}));
    }
    extensions.insert(0, json!({"url": PAMA_RATING, "valueCodeableConcept": {"coding": coding}}));
    extensions
}

fn category_coding(category: Category) -> Value {
    json!({"system": CATEGORY_SYSTEM, "code": category.id(), "display": super::wording::category_label(category)})
}

/// A new draft ServiceRequest for `procedure`, for the same patient and reasons as `replaced`, already
/// carrying the rating it would get (`category` in `variant`).
pub(super) fn better_order(
    replaced: &Value,
    procedure: &Procedure,
    code: &OrderCode,
    variant: Variant,
    category: Category,
    consult: Uuid,
    knowledge: &KnowledgeBase,
) -> Value {
    let mut resource = Map::new();
    resource.insert("resourceType".to_owned(), json!("ServiceRequest"));
    let pama = rating_extensions(Pama::of(category).code(), Some((variant, Some(category))), consult, knowledge);
    resource.insert("extension".to_owned(), Value::Array(pama));
    resource.insert("status".to_owned(), json!("draft"));
    let intent = replaced.get("intent").filter(|intent| intent.is_string()).cloned().unwrap_or(json!("order"));
    resource.insert("intent".to_owned(), intent);
    resource.insert(
        "code".to_owned(),
        json!({"coding": [{"system": code.system, "code": code.code, "display": code.display}], "text": procedure.display}),
    );
    for field in ["subject", "encounter", "requester", "reasonCode", "reasonReference"] {
        if let Some(value) = replaced.get(field) {
            resource.insert(field.to_owned(), value.clone());
        }
    }
    Value::Object(resource)
}
