//! What PAMA clients do with our answer: the public sandbox's PAMA tab (its rating box reads the first
//! `update` in `extension.systemActions`), Argonaut PAMA requests, and feedback on our cards.

use serde_json::{Value, json};

use crate::card_rules;
use crate::support::{TestService, read_json, root};

/// The sandbox's reading of a response (`src/components/Pama/pama.jsx`: `onSystemActions`,
/// `actionToRating`, `.slice(0, 1)`): the rating code and the order it was applied to.
fn sandbox_rating_box(response: &Value) -> Option<(String, String)> {
    let actions = response.get("extension")?.get("systemActions")?.as_array()?;
    actions
        .iter()
        .filter(|action| action["type"] == "update")
        .flat_map(|action| {
            let resource_id = action["resource"]["id"].as_str().unwrap_or_default().to_owned();
            action["resource"]["extension"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|extension| extension["url"] == "http://fhir.org/argonaut/Extension/pama-rating")
                .flat_map(move |extension| {
                    let resource_id = resource_id.clone();
                    extension["valueCodeableConcept"]["coding"].as_array().cloned().unwrap_or_default().into_iter().map(
                        move |coding| (coding["code"].as_str().unwrap_or_default().to_owned(), resource_id.clone()),
                    )
                })
                .collect::<Vec<_>>()
        })
        .next()
}

fn request(name: &str) -> Value {
    crate::support::offline(read_json(&root().join("fixtures/requests").join(name)))
}

#[tokio::test]
async fn the_sandbox_rating_box_shows_our_rating() {
    let service = TestService::start().await;
    let response: Value = service
        .post_json("/cds-services/dvt-order-select", &request("sandbox-pama-ct-venography.json"))
        .await
        .json()
        .await
        .unwrap();
    assert!(card_rules::problems(&response).is_empty(), "{:?}", card_rules::problems(&response));
    // CT venography for suspected DVT (no DVT on record): ACR 75 variant 1, may be appropriate.
    assert_eq!(sandbox_rating_box(&response), Some(("appropriate".to_owned(), "example-request-id".to_owned())));
    let card = &response["cards"][0];
    assert_eq!(card["source"]["topic"]["code"], "acr-75-v1");
    let suggestion = &card["suggestions"][0];
    assert_eq!(suggestion["isRecommended"], true);
    let created = &suggestion["actions"][0]["resource"];
    assert_eq!(created["code"]["coding"][0]["code"], "93970");
    assert_eq!(created["reasonCode"], response["systemActions"][0]["resource"]["reasonCode"]);
    assert_eq!(
        suggestion["actions"][1],
        json!({"type": "delete", "description": "Remove the draft order ServiceRequest/example-request-id", "resourceId": "ServiceRequest/example-request-id"})
    );
    service.stop().await;
}

/// The sandbox's nuclear venogram (CPT 78457) for a DVT reason: no ACR table we use rates it, and the card
/// and the rating box say so (`no-criteria-apply`) instead of leaving the last study's rating in place.
#[tokio::test]
async fn a_study_no_table_rates_ordered_for_dvt_is_said_to_be_unrated() {
    let service = TestService::start().await;
    let response: Value = service
        .post_json("/cds-services/dvt-order-select", &request("sandbox-pama-nuclear-venogram.json"))
        .await
        .json()
        .await
        .unwrap();
    assert!(card_rules::problems(&response).is_empty(), "{:?}", card_rules::problems(&response));
    assert_eq!(sandbox_rating_box(&response), Some(("no-criteria-apply".to_owned(), "example-request-id".to_owned())));
    let cards = response["cards"].as_array().unwrap();
    assert_eq!(cards.len(), 1, "{response}");
    assert_eq!(cards[0]["indicator"], "info");
    assert_eq!(cards[0]["summary"], "CPT 78457: no ACR row rates it (not in the ACR tables used); confirm below");
    let detail = cards[0]["detail"].as_str().unwrap();
    assert!(detail.contains("no ACR table this service uses rates its code"), "{detail}");
    assert!(cards[0].get("suggestions").is_none(), "{response}");
    service.stop().await;
}

#[tokio::test]
async fn the_sandbox_placeholder_orders_get_no_card_and_no_rating() {
    let service = TestService::start().await;
    for name in ["sandbox-pama-empty-coding.json", "sandbox-pama-no-code.json"] {
        let response = service.post_json("/cds-services/dvt-order-select", &request(name)).await;
        assert_eq!(response.status(), 200, "{name}");
        assert_eq!(response.json::<Value>().await.unwrap(), json!({"cards": []}), "{name}");
    }
    service.stop().await;
}

#[tokio::test]
async fn an_argonaut_pama_request_gets_a_rating() {
    let service = TestService::start().await;
    let response: Value = service
        .post_json("/cds-services/dvt-order-select", &request("argonaut-pama-order-select.json"))
        .await
        .json()
        .await
        .unwrap();
    // Duplex for leg swelling, no DVT on record: usually appropriate.
    assert_eq!(sandbox_rating_box(&response), Some(("appropriate".to_owned(), "example-US-20450117".to_owned())));
    let rating = &response["systemActions"][0]["resource"]["extension"];
    let urls: Vec<&str> = rating.as_array().unwrap().iter().map(|e| e["url"].as_str().unwrap()).collect();
    assert!(urls.contains(&"http://fhir.org/argonaut/Extension/pama-rating-consult-id"), "{urls:?}");
    assert!(urls.contains(&"http://fhir.org/argonaut/Extension/pama-rating-auc-applied"), "{urls:?}");
    let consult =
        rating.as_array().unwrap().iter().find(|e| e["url"].as_str().unwrap().ends_with("consult-id")).unwrap();
    assert!(consult["valueUri"].as_str().unwrap().starts_with("urn:uuid:"));
    service.stop().await;
}

#[tokio::test]
async fn the_rating_action_returns_the_draft_whole_with_our_extensions_only_added() {
    let service = TestService::start().await;
    let mut sent = request("sandbox-pama-ct-venography.json");
    let draft = &mut sent["context"]["draftOrders"]["entry"][0]["resource"];
    draft["extension"] = json!([
        {"url": "https://ehr.example/ordering-location", "valueString": "ED"},
        {"url": "http://fhir.org/argonaut/Extension/pama-rating", "valueCodeableConcept": {"coding": [{"code": "stale"}]}}
    ]);
    draft["note"] = json!([{"text": "please expedite"}]);
    let original = draft.clone();
    let response: Value = service.post_json("/cds-services/dvt-order-select", &sent).await.json().await.unwrap();
    let mut updated = response["systemActions"][0]["resource"].clone();
    let extensions = updated["extension"].as_array().unwrap().clone();
    assert_eq!(extensions[0], original["extension"][0], "the client's own extension is kept");
    assert_eq!(extensions.iter().filter(|e| e["url"] == "http://fhir.org/argonaut/Extension/pama-rating").count(), 1);
    // Everything but `extension` is the draft as sent.
    updated.as_object_mut().unwrap().remove("extension");
    let mut expected = original.clone();
    expected.as_object_mut().unwrap().remove("extension");
    assert_eq!(updated, expected);
    service.stop().await;
}

#[tokio::test]
async fn card_ids_are_stable_for_a_call_and_differ_between_calls() {
    let service = TestService::start_with(&["--now", "2026-11-24T12:00:00Z"]).await;
    let case = read_json(&root().join("fixtures/cases/v5-phlegmasia-apixaban/request.json"));
    let first: Value = service.post_json("/cds-services/dvt-order-select", &case).await.json().await.unwrap();
    let again: Value = service.post_json("/cds-services/dvt-order-select", &case).await.json().await.unwrap();
    assert_eq!(first, again);
    let mut other = case.clone();
    other["hookInstance"] = json!("6f1d3e2a-0b9c-4d8e-a7f6-5c4b3a291807");
    let third: Value = service.post_json("/cds-services/dvt-order-select", &other).await.json().await.unwrap();
    let ids = |response: &Value| -> Vec<String> {
        response["cards"].as_array().unwrap().iter().map(|card| card["uuid"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(ids(&first).len(), ids(&third).len());
    assert!(ids(&first).iter().all(|id| !ids(&third).contains(id)));
    service.stop().await;
}

#[tokio::test]
async fn feedback_on_our_card_and_suggestion_is_stored_with_their_ids() {
    let service = TestService::start_with(&["--now", "2026-11-24T12:00:00Z"]).await;
    let case = read_json(&root().join("fixtures/cases/v5-phlegmasia-apixaban/request.json"));
    let response: Value = service.post_json("/cds-services/dvt-order-select", &case).await.json().await.unwrap();
    let card = response["cards"].as_array().unwrap().iter().find(|card| card["suggestions"].is_array()).unwrap();
    let suggestion = card["suggestions"][0]["uuid"].clone();
    let feedback = json!({"feedback": [{
        "card": card["uuid"], "outcome": "accepted", "acceptedSuggestions": [{"id": suggestion}],
        "outcomeTimestamp": "2026-11-24T12:01:00Z"}]});
    assert_eq!(service.post_json("/cds-services/dvt-order-select/feedback", &feedback).await.status(), 200);
    let data_dir = service.stop().await;
    let store = dvt_cds::feedback_store::SqliteFeedbackStore::open(&data_dir.path().join("feedback.sqlite3")).unwrap();
    use dvt_cds::feedback_store::FeedbackStore;
    let rows = store.recent(10).await.unwrap();
    assert_eq!(rows[0].card, card["uuid"].as_str().unwrap());
    assert_eq!(rows[0].accepted_suggestions, [suggestion.as_str().unwrap()]);
}
