//! Every error status the API answers, each with a FHIR OperationOutcome body.

use std::sync::Arc;
use std::time::Duration;

use dvt_cds::feedback_store::{BoxFuture, FeedbackStore, InsertReport, NewFeedback, StoreError, StoredFeedback};
use dvt_cds::http::{AppState, CorsOrigins, HttpSettings};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::support::{
    TestService, client, demo_case, development_trust, diagnostics, expect_outcome, order_select, overridden,
    serve_router,
};

#[tokio::test]
async fn malformed_json_is_a_400_that_says_where() {
    let service = TestService::start().await;
    let response = client()
        .post(service.url("/cds-services/dvt-order-select"))
        .header("content-type", "application/json")
        .body(r#"{"hook": "order-select", "#)
        .send()
        .await
        .unwrap();
    let outcome = expect_outcome(response, 400).await;
    assert_eq!(outcome["issue"][0]["code"], "structure");
    assert!(diagnostics(&outcome)[0].contains("line 1 column"), "{outcome}");
    service.stop().await;
}

#[tokio::test]
async fn missing_fields_are_a_400_naming_each_one() {
    let service = TestService::start().await;
    let mut request = order_select();
    request.as_object_mut().unwrap().remove("hookInstance");
    request["context"].as_object_mut().unwrap().remove("patientId");
    let outcome = expect_outcome(service.post_json("/cds-services/dvt-order-select", &request).await, 400).await;
    let expressions: Vec<&str> =
        outcome["issue"].as_array().unwrap().iter().map(|i| i["expression"][0].as_str().unwrap()).collect();
    assert_eq!(expressions, ["hookInstance", "context.patientId"]);
    assert!(outcome["issue"].as_array().unwrap().iter().all(|issue| issue["code"] == "required"));

    let wrong_hook = json!({"hook": "order-sign", "hookInstance": "x", "context": request["context"]});
    let outcome = expect_outcome(service.post_json("/cds-services/dvt-order-select", &wrong_hook).await, 400).await;
    assert_eq!(diagnostics(&outcome)[0], "hook: must be `order-select`, the hook this service serves", "{outcome}");
    service.stop().await;
}

#[tokio::test]
async fn unknown_services_and_routes_are_404() {
    let service = TestService::start().await;
    for path in ["/cds-services/no-such-service", "/cds-services/no-such-service/feedback"] {
        let outcome = expect_outcome(service.post_json(path, &order_select()).await, 404).await;
        assert_eq!(outcome["issue"][0]["code"], "not-found");
        // The client's id is not quoted back; the answer says where the ids are.
        assert_eq!(diagnostics(&outcome)[0], "no service has this id; GET /cds-services lists them");
    }
    // The service id is checked before the body: even a non-JSON body to an unknown id is a 404.
    let response = client().post(service.url("/cds-services/nope")).body("x").send().await.unwrap();
    expect_outcome(response, 404).await;
    let response = client().get(service.url("/no/such/route")).send().await.unwrap();
    expect_outcome(response, 404).await;
    service.stop().await;
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow() {
    let service = TestService::start().await;
    let response = client().get(service.url("/cds-services/dvt-order-select")).send().await.unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    expect_outcome(response, 405).await;
    let response = client().delete(service.url("/cds-services")).send().await.unwrap();
    expect_outcome(response, 405).await;
    service.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let service = TestService::start().await;
    for path in ["/cds-services/dvt-order-select", "/cds-services/dvt-order-select/feedback"] {
        let response = client()
            .post(service.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(order_select().to_string())
            .send()
            .await
            .unwrap();
        let outcome = expect_outcome(response, 415).await;
        assert_eq!(outcome["issue"][0]["code"], "not-supported");
    }
    let response = client().post(service.url("/cds-services/dvt-order-select")).body("{}").send().await.unwrap();
    expect_outcome(response, 415).await;
    service.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let service = TestService::start_with(&["--max-body-bytes", "4096"]).await;
    let mut request = order_select();
    request["extension"] = json!({"padding": "x".repeat(8192)});
    let outcome = expect_outcome(service.post_json("/cds-services/dvt-order-select", &request).await, 413).await;
    assert_eq!(outcome["issue"][0]["code"], "too-long");
    assert!(diagnostics(&outcome)[0].contains("4096"));
    // Under the limit, the same service answers.
    let response = service.post_json("/cds-services/dvt-order-select", &order_select()).await;
    assert_eq!(response.status(), 200);
    service.stop().await;
}

/// A store that fails or stalls on demand: faults the real SQLite store does not produce at will.
struct FaultyStore {
    delay: Duration,
}

impl FeedbackStore for FaultyStore {
    fn insert(&self, _: Vec<NewFeedback>, _: OffsetDateTime) -> BoxFuture<'_, Result<InsertReport, StoreError>> {
        let delay = self.delay;
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            Err(StoreError::Worker("disk /var/lib/dvt-cds/feedback.sqlite3 is full".to_owned()))
        })
    }

    fn recent(&self, _: usize) -> BoxFuture<'_, Result<Vec<StoredFeedback>, StoreError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::Worker("disk /var/lib/dvt-cds/feedback.sqlite3 is full".to_owned())) })
    }
}

async fn faulty_service(delay: Duration, timeout: Duration) -> String {
    let settings = HttpSettings {
        max_body_bytes: 1 << 20,
        request_timeout: timeout,
        max_evaluations: 4,
        cors: CorsOrigins::default(),
        frozen_now: None,
        trust: development_trust(),
    };
    let state = AppState::new(
        dvt_cds::app::discovery().unwrap(),
        crate::support::deps(),
        Arc::new(FaultyStore { delay }),
        settings,
    );
    serve_router(dvt_cds::http::router(state)).await
}

#[tokio::test]
async fn an_internal_failure_is_500_without_internals() {
    let base = faulty_service(Duration::ZERO, Duration::from_secs(5)).await;
    let body = json!({"feedback": [overridden(Uuid::from_u128(7))]});
    let response =
        client().post(format!("{base}/cds-services/dvt-order-select/feedback")).json(&body).send().await.unwrap();
    let outcome = expect_outcome(response, 500).await;
    assert_eq!(outcome["issue"][0]["code"], "exception");
    let text = outcome.to_string();
    assert!(!text.contains("disk") && !text.contains("sqlite"), "internals leaked: {text}");
}

#[tokio::test]
async fn a_request_over_the_time_limit_is_503() {
    let base = faulty_service(Duration::from_secs(10), Duration::from_millis(200)).await;
    let body = json!({"feedback": [overridden(Uuid::from_u128(8))]});
    let response =
        client().post(format!("{base}/cds-services/dvt-order-select/feedback")).json(&body).send().await.unwrap();
    let outcome = expect_outcome(response, 503).await;
    assert_eq!(outcome["issue"][0]["code"], "timeout");
}

#[tokio::test]
async fn essential_data_that_cannot_be_obtained_is_a_412_naming_the_key() {
    let service = TestService::start().await;
    let mut request = order_select();
    request["prefetch"].as_object_mut().unwrap().remove("conditions");
    let outcome = expect_outcome(service.post_json("/cds-services/dvt-order-select", &request).await, 412).await;
    assert_eq!(outcome["issue"][0]["expression"][0], "prefetch.conditions");
    assert_eq!(outcome["issue"][0]["code"], "incomplete");
    service.stop().await;
}

#[tokio::test]
async fn prefetch_about_another_patient_is_a_400() {
    let service = TestService::start().await;
    let mut request = order_select();
    request["prefetch"]["conditions"] = json!({"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": {"resourceType": "Condition", "id": "c9", "subject": {"reference": "Patient/someone-else"}}}]});
    let outcome = expect_outcome(service.post_json("/cds-services/dvt-order-select", &request).await, 400).await;
    // The key (ours) is named; the resource and the other patient (the client's data) are not.
    assert_eq!(outcome["issue"][0]["expression"][0], "prefetch.conditions");
    assert!(diagnostics(&outcome)[0].contains("prefetch `conditions`"), "{outcome}");
    assert!(!outcome.to_string().contains("c9") && !outcome.to_string().contains("someone-else"), "{outcome}");
    service.stop().await;
}

#[tokio::test]
async fn an_order_we_do_not_rate_gets_no_card_and_needs_no_data() {
    let service = TestService::start().await;
    let mut request = order_select();
    request["context"]["draftOrders"]["entry"][0]["resource"]["code"] =
        json!({"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "72133"}]});
    // No conditions prefetch and no fhirServer: had it gathered, this would be a 412.
    request["prefetch"].as_object_mut().unwrap().remove("conditions");
    let response = service.post_json("/cds-services/dvt-order-select", &request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap(), json!({"cards": []}));
    service.stop().await;
}

#[tokio::test]
async fn an_order_sign_draft_whose_id_is_not_a_fhir_id_is_a_400_not_a_500() {
    let service = TestService::start_with(&["--now", "2026-11-24T12:00:00Z"]).await;
    // A case whose draft gets a better-rated suggestion, which removes the draft by its id.
    let mut request = demo_case("suspected-venography");
    request["hook"] = json!("order-sign");
    request["context"].as_object_mut().unwrap().remove("selections");
    let response = service.post_json("/cds-services/dvt-order-sign", &request).await;
    assert_eq!(response.status(), 200, "the case as it is gets its cards");
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body.to_string().contains(r#""resourceId":"ServiceRequest/venogram""#), "{body}");

    request["context"]["draftOrders"]["entry"][0]["resource"]["id"] = json!("venogram_1");
    let outcome = expect_outcome(service.post_json("/cds-services/dvt-order-sign", &request).await, 400).await;
    assert_eq!(outcome["issue"][0]["expression"][0], "context.draftOrders.entry[0].resource.id");
    assert_eq!(outcome["issue"][0]["code"], "invalid");
    assert_eq!(outcome["issue"].as_array().unwrap().len(), 1, "{outcome}");
    service.stop().await;
}

#[tokio::test]
async fn a_path_that_does_not_decode_gets_an_operation_outcome_too() {
    let service = TestService::start().await;
    for path in ["/cds-services/%FF", "/cds-services/%FF/feedback", "/cds-services/%C3%28", "/%FF", "/cds-services/%00"]
    {
        let response = client().post(service.url(path)).json(&order_select()).send().await.unwrap();
        let outcome = expect_outcome(response, 404).await;
        assert_eq!(outcome["issue"][0]["code"], "not-found", "{path}");
    }
    service.stop().await;
}

#[tokio::test]
async fn readiness_is_503_with_an_outcome_when_the_store_fails() {
    let base = faulty_service(Duration::ZERO, Duration::from_secs(5)).await;
    let response = client().get(format!("{base}/readyz")).send().await.unwrap();
    let outcome = expect_outcome(response, 503).await;
    assert_eq!(outcome["issue"][0]["code"], "transient");
    assert_eq!(outcome["issue"][0]["expression"], json!(["store"]));
    let text = outcome.to_string();
    assert!(!text.contains("disk") && !text.contains("sqlite"), "internals leaked: {text}");
    // Liveness stays 200.
    assert_eq!(client().get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
}

/// The request timeout bounds evaluation too: a record large enough to take longer than the limit
/// to read and evaluate gets its 503 at the limit, not when the work is done (the CPU work runs off
/// the async threads, and stops at the next stage once the deadline has passed).
#[tokio::test]
async fn the_request_timeout_bounds_evaluation_of_a_huge_record() {
    let service = TestService::start_with(&["--request-timeout", "100ms", "--max-body-bytes", "33554432"]).await;
    let mut request = demo_case("v1-mild-cdt-icd10");
    let dvt = request["prefetch"]["conditions"]["entry"][0].clone();
    let entries: Vec<serde_json::Value> = (0..16_000)
        .map(|n| {
            let mut entry = dvt.clone();
            entry["resource"]["id"] = json!(format!("c{n}"));
            entry
        })
        .collect();
    request["prefetch"]["conditions"]["entry"] = json!(entries);
    let outcome = expect_outcome(service.post_json("/cds-services/dvt-order-select", &request).await, 503).await;
    assert_eq!(outcome["issue"][0]["code"], "timeout");
    // The async threads were never blocked: the service answers at once while the abandoned work winds down.
    let response = client().get(service.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    service.stop().await;
}
