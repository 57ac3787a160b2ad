//! Operations: `/metrics` counts what was sent, `/readyz` says whether the store answers, and
//! `X-Request-Id` is kept (or made), echoed and logged.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{
    ServiceProcess, TestService, by_query, client, closed_port, demo_case, order_select, overridden, service_for,
};

/// The samples of an OpenMetrics text page: `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (name, value) = line.rsplit_once(' ').unwrap();
            (name.to_owned(), value.parse().unwrap())
        })
        .collect()
}

async fn scrape(service: &TestService) -> BTreeMap<String, f64> {
    let response = client().get(service.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    samples(&text)
}

#[tokio::test]
async fn metrics_count_what_was_sent() {
    let service = TestService::start().await;
    let http = client();
    for _ in 0..2 {
        assert_eq!(http.get(service.url("/cds-services")).send().await.unwrap().status(), 200);
    }
    // A case whose answer has cards.
    let case = demo_case("iliofemoral-dvt-apixaban");
    let path = format!("/cds-services/{}", service_for(case["hook"].as_str().unwrap()));
    let answer = service.post_json(&path, &case).await;
    assert_eq!(answer.status(), 200);
    let cards = answer.json::<Value>().await.unwrap()["cards"].as_array().unwrap().clone();
    assert!(!cards.is_empty());
    // A token is verified when sent, even where it is optional: this one is refused.
    let refused = http
        .post(service.url("/cds-services/dvt-order-select"))
        .bearer_auth("not.a-token")
        .json(&order_select())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    // Every key queried from a FHIR server that is not there.
    let unreachable = by_query(&order_select(), &format!("{}/fhir", closed_port()));
    let second = service.post_json("/cds-services/dvt-order-select", &unreachable).await;
    let queried = second.status();
    let mut cards = cards;
    if queried == 200 {
        cards.extend(second.json::<Value>().await.unwrap()["cards"].as_array().unwrap().iter().cloned());
    }
    let feedback = json!({"feedback": [overridden(Uuid::from_u128(1)), {"card": "not-a-uuid"}]});
    assert_eq!(service.post_json("/cds-services/dvt-order-select/feedback", &feedback).await.status(), 200);
    assert_eq!(http.get(service.url("/no-such-page")).send().await.unwrap().status(), 404);

    let metrics = scrape(&service).await;
    let value = |name: &str| metrics.get(name).copied().unwrap_or_else(|| panic!("no {name} in {metrics:#?}"));
    assert_eq!(value(r#"dvt_cds_http_requests_total{route="/cds-services",status="200"}"#), 2.0);
    assert_eq!(value(r#"dvt_cds_http_request_duration_seconds_count{route="/cds-services"}"#), 2.0);
    assert_eq!(value(r#"dvt_cds_http_requests_total{route="/cds-services/{id}",status="401"}"#), 1.0);
    let service_calls =
        format!(r#"dvt_cds_http_requests_total{{route="/cds-services/{{id}}",status="{}"}}"#, queried.as_u16());
    let expected_calls = if queried == 200 { 2.0 } else { 1.0 };
    assert_eq!(value(&service_calls), expected_calls);
    assert_eq!(value(r#"dvt_cds_http_requests_total{route="/cds-services/{id}/feedback",status="200"}"#), 1.0);
    assert_eq!(value(r#"dvt_cds_http_requests_total{route="unmatched",status="404"}"#), 1.0);
    assert_eq!(value(r#"dvt_cds_token_refusals_total{reason="malformed"}"#), 1.0);
    assert_eq!(value(r#"dvt_cds_feedback_items_total{result="stored"}"#), 1.0);
    assert_eq!(value(r#"dvt_cds_feedback_items_total{result="rejected"}"#), 1.0);

    // Cards by indicator: every card of the answers above, counted once.
    let mut expected = BTreeMap::new();
    for card in &cards {
        let name = format!(r#"dvt_cds_cards_total{{indicator="{}"}}"#, card["indicator"].as_str().unwrap());
        *expected.entry(name).or_insert(0.0) += 1.0;
    }
    let counted: BTreeMap<String, f64> = metrics
        .iter()
        .filter(|(name, _)| name.starts_with("dvt_cds_cards_total"))
        .map(|(n, v)| (n.clone(), *v))
        .collect();
    assert_eq!(counted, expected);

    // FHIR queries by outcome: each key the request left to the server was tried and unreachable.
    let queries: Vec<(&String, &f64)> =
        metrics.iter().filter(|(name, _)| name.starts_with("dvt_cds_fhir_queries_total")).collect();
    assert!(!queries.is_empty(), "{metrics:#?}");
    assert!(queries.iter().all(|(name, _)| !name.contains("fetched")), "{queries:?}");
    service.stop().await;
}

#[tokio::test]
async fn readiness_is_200_while_the_store_answers() {
    let service = TestService::start().await;
    let response = client().get(service.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/health+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"status": "pass", "checks": {"store": "pass", "knowledge": "pass"}}));
    service.stop().await;
}

#[tokio::test]
async fn a_request_id_is_kept_when_safe_made_otherwise_and_echoed() {
    let service = TestService::start().await;
    let http = client();
    let send = |id: Option<&'static str>| {
        let mut request = http.get(service.url("/cds-services"));
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        request.send()
    };
    let kept = send(Some("ehr-7f3a.1:2")).await.unwrap();
    assert_eq!(kept.headers()["x-request-id"], "ehr-7f3a.1:2");
    for replaced in [None, Some("has space"), Some("x\"y"), Some(&*"a".repeat(129).leak())] {
        let answer = send(replaced).await.unwrap();
        let id = answer.headers()["x-request-id"].to_str().unwrap();
        assert!(Uuid::parse_str(id).is_ok(), "{replaced:?} became {id}");
    }
    // Error answers carry it too.
    let missing = http.get(service.url("/nowhere")).header("x-request-id", "abc").send().await.unwrap();
    assert_eq!((missing.status().as_u16(), missing.headers()["x-request-id"].to_str().unwrap()), (404, "abc"));
    service.stop().await;
}

#[test]
fn the_request_id_is_on_the_requests_log_line() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut service = ServiceProcess::spawn(data_dir.path(), &[]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let response =
            client().get(service.url("/cds-services")).header("x-request-id", "trace-4242").send().await.unwrap();
        assert_eq!(response.status(), 200);
    });
    service.terminate();
    let log = service.log();
    let line = log.lines().find(|line| line.contains("request finished")).unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("request_id=trace-4242"), "{line}");
}

#[test]
fn one_instance_audits_its_calls_in_sqlite_without_a_patient_when_no_key_is_given() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut service = ServiceProcess::spawn(data_dir.path(), &[]);
    let case = demo_case("iliofemoral-dvt-apixaban");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let path = format!("/cds-services/{}", service_for(case["hook"].as_str().unwrap()));
        assert_eq!(client().post(service.url(&path)).json(&case).send().await.unwrap().status(), 200);
        // Nothing rated, no card: nothing audited.
        let unrated = json!({"hook": "order-select"});
        let _ = client().post(service.url(&path)).json(&unrated).send().await.unwrap();
    });
    assert!(service.terminate().success());
    assert!(service.log().contains("no --audit-key-file"), "{}", service.log());
    let (status, stdout, stderr) =
        crate::support::run_cli(&["audit", "list", "--data-dir", data_dir.path().to_str().unwrap()]);
    assert!(status.success(), "{stderr}");
    let entries: Vec<Value> = stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(entries.len(), 1, "{stdout}");
    assert_eq!(entries[0]["hookInstance"], case["hookInstance"]);
    assert!(entries[0].get("patientHash").is_none(), "{stdout}");
    assert!(!stdout.contains(case["context"]["patientId"].as_str().unwrap()));
}
