//! Unreadable is never silent: a prefetch value that is not the key's resources, or holds one we
//! cannot read, is "could not be obtained". For the essential key, the FHIR server is asked when there
//! is one, else the answer is 412 naming the key and why; never a `no-criteria-apply` silence.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use crate::support::{TestService, connection_counter, demo_case, diagnostics, expect_outcome};

/// Every shape a value for a key of `own` resources can have that holds no readable list of them.
fn unusable(own: &str, other: &str) -> Vec<(&'static str, Value)> {
    let bundle =
        |resource: Value| json!({"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": resource}]});
    vec![
        ("an empty object", json!({})),
        ("an empty array", json!([])),
        ("an object that is no resource", json!({"a": 1})),
        ("an array of numbers", json!([1])),
        ("a string", json!("x")),
        ("another resource type", json!({"resourceType": other, "id": "o1"})),
        ("a Bundle of another type", bundle(json!({"resourceType": other, "id": "o1"}))),
        ("a resource that cannot be read", json!({"resourceType": own, "id": "c1", "code": 5})),
        ("a Bundle with a resource that cannot be read", bundle(json!({"resourceType": own, "id": "c1", "code": 5}))),
    ]
}

#[tokio::test]
async fn an_unusable_essential_key_is_a_412_without_a_fhir_server() {
    let service = TestService::start().await;
    let request = demo_case("v1-mild-cdt-icd10");
    let path = "/cds-services/dvt-order-select";
    assert_eq!(service.post_json(path, &request).await.status(), 200);
    for (shape, value) in unusable("Condition", "Observation") {
        let mut request = request.clone();
        request["prefetch"]["conditions"] = value;
        let outcome = expect_outcome(service.post_json(path, &request).await, 412).await;
        assert_eq!(outcome["issue"][0]["expression"][0], "prefetch.conditions", "{shape}: {outcome}");
        let message = &diagnostics(&outcome)[0];
        assert!(message.contains("could not be read") && message.contains("no FHIR server"), "{shape}: {message}");
    }
    service.stop().await;
}

#[tokio::test]
async fn an_unusable_essential_key_is_queried_from_the_fhir_server_when_there_is_one() {
    let service = TestService::start().await;
    let mut request = demo_case("v1-mild-cdt-icd10");
    let (address, connections) = connection_counter().await;
    request["fhirServer"] = json!(format!("http://{address}/fhir"));
    for (shape, value) in unusable("Condition", "Observation") {
        let before = connections.load(Ordering::SeqCst);
        let mut request = request.clone();
        request["prefetch"]["conditions"] = value;
        let outcome = expect_outcome(service.post_json("/cds-services/dvt-order-select", &request).await, 412).await;
        assert!(connections.load(Ordering::SeqCst) > before, "{shape}: the FHIR server was not asked");
        assert!(diagnostics(&outcome)[0].contains("could not be reached"), "{shape}: {outcome}");
    }
    service.stop().await;
}

#[tokio::test]
async fn an_unusable_nice_to_have_key_is_named_in_the_cards() {
    let service = TestService::start().await;
    for (shape, value) in unusable("Observation", "Condition") {
        let mut request = demo_case("v1-mild-cdt-icd10");
        request["prefetch"]["observations"] = value;
        let response = service.post_json("/cds-services/dvt-order-select", &request).await;
        assert_eq!(response.status(), 200, "{shape}");
        let body = response.text().await.unwrap();
        // The key as a whole, or (a Bundle with one broken entry, the rest kept) the resource.
        assert!(
            body.contains("Could not see laboratory results") || body.contains("Could not read Observation/c1"),
            "{shape}: {body}"
        );
    }
    service.stop().await;
}
