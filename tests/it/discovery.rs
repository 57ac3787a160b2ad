//! `GET /cds-services` serves `cds-services.json` as written.

use serde_json::Value;

use crate::support::{TestService, client, root};

#[tokio::test]
async fn discovery_serves_the_discovery_document_byte_for_byte() {
    let service = TestService::start().await;
    let response = client().get(service.url("/cds-services")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = response.text().await.unwrap();
    let file = std::fs::read_to_string(root().join("cds-services.json")).unwrap();
    assert_eq!(body, file);

    let discovery: Value = serde_json::from_str(&body).unwrap();
    let services = discovery["services"].as_array().unwrap();
    let pairs: Vec<(&str, &str)> =
        services.iter().map(|service| (service["id"].as_str().unwrap(), service["hook"].as_str().unwrap())).collect();
    assert_eq!(
        pairs,
        [("dvt-order-select", "order-select"), ("dvt-order-sign", "order-sign"), ("dvt-patient-view", "patient-view")]
    );
    for service in services {
        for field in ["title", "description", "usageRequirements"] {
            assert!(!service[field].as_str().unwrap().is_empty(), "{field}");
        }
        let prefetch = service["prefetch"].as_object().unwrap();
        for resource_type in ["Patient", "Condition", "Observation", "MedicationRequest", "Procedure"] {
            assert!(
                prefetch.values().any(|template| template.as_str().unwrap().starts_with(resource_type)),
                "{} has no {resource_type} prefetch",
                service["id"]
            );
        }
        for template in prefetch.values() {
            let template = template.as_str().unwrap();
            assert!(template.contains("{{context.patientId}}"), "not patient-scoped: {template}");
        }
    }
    service.stop().await;
}

#[tokio::test]
async fn health_answers_while_serving() {
    let service = TestService::start().await;
    let response = client().get(service.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), r#"{"status":"pass"}"#);
    service.stop().await;
}
