//! Every FHIR resource the service emits is valid FHIR R4, by fhirbolt's Strict mode: the rating
//! updates, the orders suggestions create, and every OperationOutcome error body.
//!
//! The only test binary that uses fhirbolt (its generated code costs minutes to compile per binary).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code,
    reason = "test code: a failure should stop the test loudly; the shared harness has parts this binary does not use"
)]

#[path = "it/support.rs"]
mod support;

use fhirbolt::model::r4::Resource;
use fhirbolt::serde::{DeserializationConfig, DeserializationMode};
use serde_json::{Value, json};
use support::{TestService, client, order_select, read_json, root, service_for};

fn strict(resource: &Value) -> Result<Resource, String> {
    let config = DeserializationConfig { mode: DeserializationMode::Strict };
    fhirbolt::json::from_str::<Resource>(&resource.to_string(), Some(config)).map_err(|error| error.to_string())
}

/// Every resource inside an action of the response.
fn emitted(response: &Value) -> Vec<Value> {
    let mut resources: Vec<Value> = response["systemActions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|action| action.get("resource").cloned())
        .collect();
    for card in response["cards"].as_array().into_iter().flatten() {
        for suggestion in card["suggestions"].as_array().into_iter().flatten() {
            for action in suggestion["actions"].as_array().into_iter().flatten() {
                resources.extend(action.get("resource").cloned());
            }
        }
    }
    resources
}

fn requests() -> Vec<(String, Value)> {
    let mut requests = Vec::new();
    for folder in ["fixtures/cases", "fixtures/requests"] {
        for entry in std::fs::read_dir(root().join(folder)).unwrap() {
            let path = entry.unwrap().path();
            let file = if path.is_dir() { path.join("request.json") } else { path.clone() };
            if file.extension().is_some_and(|ext| ext == "json") {
                requests.push((file.display().to_string(), support::offline(read_json(&file))));
            }
        }
    }
    requests.sort_by(|a, b| a.0.cmp(&b.0));
    requests
}

#[tokio::test]
async fn every_resource_in_an_action_is_valid_r4() {
    let service = TestService::start_with(&["--now", "2026-11-24T12:00:00Z"]).await;
    let mut checked = 0;
    let mut invalid = Vec::new();
    for (name, request) in requests() {
        let path = format!("/cds-services/{}", service_for(request["hook"].as_str().unwrap()));
        let response = service.post_json(&path, &request).await;
        assert_eq!(response.status(), 200, "{name}");
        let response: Value = response.json().await.unwrap();
        for resource in emitted(&response) {
            checked += 1;
            if let Err(error) = strict(&resource) {
                invalid.push(format!("{name}: {} is not valid R4: {error}", resource["resourceType"]));
            }
        }
    }
    assert!(invalid.is_empty(), "{}", invalid.join("\n"));
    assert!(checked > 50, "only {checked} resources were checked");
    service.stop().await;
}

#[tokio::test]
async fn every_error_body_is_a_valid_operation_outcome() {
    let service = TestService::start_with(&["--max-body-bytes", "4096"]).await;
    let post = |path: &str, body: String, content_type: &'static str| {
        client().post(service.url(path)).header("content-type", content_type).body(body).send()
    };
    let mut no_conditions = order_select();
    no_conditions["prefetch"].as_object_mut().unwrap().remove("conditions");
    let mut foreign_server = order_select();
    foreign_server["fhirServer"] = json!("https://ehr.invalid/fhir");
    let responses = vec![
        post("/cds-services/dvt-order-select", "{".to_owned(), "application/json").await.unwrap(),
        post("/cds-services/dvt-order-select", json!({"context": {}}).to_string(), "application/json").await.unwrap(),
        post("/cds-services/unknown", order_select().to_string(), "application/json").await.unwrap(),
        post("/cds-services/dvt-order-select", order_select().to_string(), "text/plain").await.unwrap(),
        post("/cds-services/dvt-order-select", "x".repeat(8192), "application/json").await.unwrap(),
        post("/cds-services/dvt-order-select", no_conditions.to_string(), "application/json").await.unwrap(),
        post("/cds-services/dvt-order-select", foreign_server.to_string(), "application/json").await.unwrap(),
        post("/cds-services/dvt-order-select/feedback", json!({"feedback": [{}]}).to_string(), "application/json")
            .await
            .unwrap(),
        client().get(service.url("/cds-services/dvt-order-select")).send().await.unwrap(),
    ];
    let mut statuses = Vec::new();
    for response in responses {
        statuses.push(response.status().as_u16());
        let body: Value = response.json().await.unwrap();
        let parsed = strict(&body).unwrap_or_else(|error| panic!("{body} is not valid R4: {error}"));
        assert!(matches!(parsed, Resource::OperationOutcome(_)), "{body}");
    }
    assert_eq!(statuses, [400, 400, 404, 415, 413, 412, 403, 400, 405]);
    service.stop().await;
}

/// What this check can catch (fhirbolt accepts empty `{}` codings and single objects for arrays; the
/// card rules checker of the integration tests covers empty values).
#[test]
fn strict_mode_refuses_resources_we_must_not_emit() {
    let valid = json!({"resourceType": "ServiceRequest", "status": "draft", "intent": "order", "subject": {"reference": "Patient/p"}});
    assert!(strict(&valid).is_ok());
    let unknown_field = json!({"resourceType": "ServiceRequest", "status": "draft", "intent": "order", "subject": {"reference": "Patient/p"}, "rating": 1});
    assert!(strict(&unknown_field).is_err());
    let no_status = json!({"resourceType": "ServiceRequest", "intent": "order", "subject": {"reference": "Patient/p"}});
    assert!(strict(&no_status).is_err(), "status is required");
    let bad_extension = json!({"resourceType": "ServiceRequest", "status": "draft", "intent": "order", "subject": {"reference": "Patient/p"},
        "extension": [{"url": "http://fhir.org/argonaut/Extension/pama-rating", "valueRating": "appropriate"}]});
    assert!(strict(&bad_extension).is_err(), "an extension value must be a FHIR type");
}
