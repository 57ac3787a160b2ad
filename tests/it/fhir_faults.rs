//! Faults a real FHIR server does not produce on demand, from a fault-injecting server: each gives
//! its documented answer within the deadline (a 412 naming the key when the key is essential, a
//! degraded record when it is not), and the service never leaves `fhirServer`'s origin.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dvt_cds::gather::KeyState;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{
    TestService, by_query, closed_port, diagnostics, expect_outcome, gather_json, gatherer, order_select, serve_router,
    states, unavailable,
};

const DEADLINE: &str = "500ms";

/// What a fault server saw: each request's path and query, and its `Authorization` header.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

fn fhir_json(body: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/fhir+json")], body.to_string()).into_response()
}

fn searchset(resources: &[Value]) -> Value {
    let entries: Vec<Value> = resources.iter().map(|resource| json!({"resource": resource})).collect();
    json!({"resourceType": "Bundle", "type": "searchset", "total": entries.len(), "entry": entries})
}

/// An R4 server under `/fhir` whose every search is empty, except Condition searches, answered by
/// `conditions`. Records what it sees in `seen`.
fn fault_server<F, R>(seen: &Seen, conditions: F) -> Router
where
    F: Fn(HeaderMap) -> R + Clone + Send + Sync + 'static,
    R: std::future::Future<Output = Response> + Send + 'static,
{
    server_of_release(json!({"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1"}), seen, conditions)
}

/// [`fault_server`] with `capability` as its `/metadata`.
fn server_of_release<F, R>(capability: Value, seen: &Seen, conditions: F) -> Router
where
    F: Fn(HeaderMap) -> R + Clone + Send + Sync + 'static,
    R: std::future::Future<Output = Response> + Send + 'static,
{
    let record = {
        let seen = Arc::clone(seen);
        move |request: Request, next: axum::middleware::Next| {
            let seen = Arc::clone(&seen);
            async move {
                let authorization =
                    request.headers().get(header::AUTHORIZATION).map(|value| value.to_str().unwrap().to_owned());
                seen.lock().unwrap().push((request.uri().to_string(), authorization));
                next.run(request).await
            }
        }
    };
    Router::new()
        .route("/fhir/metadata", get(move || async move { fhir_json(capability) }))
        .route("/fhir/Patient/{id}", get(|| async { fhir_json(json!({"resourceType": "Patient", "id": "pat-1"})) }))
        .route("/fhir/Condition", get(move |headers: HeaderMap| conditions(headers)))
        .fallback(|| async { fhir_json(searchset(&[])) })
        .layer(axum::middleware::from_fn(record))
}

/// The smallest order-select, sent without prefetch to the FHIR server under `base`.
fn request_to(base: &str) -> Value {
    by_query(&order_select(), &format!("{base}/fhir"))
}

/// Posts `request` to a service with a 500 ms FHIR deadline (and a 5 s request limit) and expects a
/// 412 whose one issue names `conditions` with `reason`.
async fn expect_conditions_unavailable(request: &Value, reason: &str) {
    let service = TestService::start_with(&["--fhir-deadline", DEADLINE]).await;
    let response = service.post_json("/cds-services/dvt-order-select", request).await;
    let outcome = expect_outcome(response, 412).await;
    assert_eq!(outcome["issue"].as_array().unwrap().len(), 1, "{outcome}");
    assert_eq!(outcome["issue"][0]["expression"][0], "prefetch.conditions", "{outcome}");
    assert_eq!(diagnostics(&outcome), [format!("prefetch `conditions` could not be obtained: {reason}")]);
    service.stop().await;
}

#[tokio::test]
async fn a_server_that_hangs_past_the_deadline_is_a_412_before_the_request_limit() {
    let seen = Seen::default();
    let base = serve_router(fault_server(&seen, |_| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        fhir_json(searchset(&[]))
    }))
    .await;
    // The request limit is 5 s: a 412 (not a 503) shows the 500 ms deadline ended the wait.
    expect_conditions_unavailable(&request_to(&base), "the FHIR server did not answer within 500 ms").await;
}

#[tokio::test]
async fn a_server_error_is_a_412_naming_the_status() {
    let seen = Seen::default();
    let base =
        serve_router(fault_server(&seen, |_| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response() }))
            .await;
    expect_conditions_unavailable(&request_to(&base), "the FHIR server answered with an error (HTTP 500)").await;
}

#[tokio::test]
async fn a_token_the_server_refuses_is_a_412_and_the_token_was_sent() {
    let seen = Seen::default();
    let base = serve_router(fault_server(&seen, |headers: HeaderMap| async move {
        match headers.get(header::AUTHORIZATION) {
            Some(value) if value == "Bearer good" => fhir_json(searchset(&[])),
            _ => (StatusCode::UNAUTHORIZED, "").into_response(),
        }
    }))
    .await;
    let mut request = request_to(&base);
    request["fhirAuthorization"] = json!({"access_token": "expired", "token_type": "Bearer", "scope": "user/*.read",
        "subject": "dvt-cds"});
    expect_conditions_unavailable(&request, "the FHIR server refused access (HTTP 401)").await;
    let seen = seen.lock().unwrap().clone();
    assert!(seen.iter().any(|(path, _)| path.starts_with("/fhir/Condition?patient=pat-1")), "{seen:?}");
    assert!(seen.iter().all(|(_, authorization)| authorization.as_deref() == Some("Bearer expired")), "{seen:?}");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_412() {
    let seen = Seen::default();
    let base = serve_router(fault_server(&seen, |_| async {
        ([(header::CONTENT_TYPE, "text/html")], "<html><body>Service Unavailable</body></html>").into_response()
    }))
    .await;
    expect_conditions_unavailable(&request_to(&base), "the FHIR server's answer was not readable FHIR JSON").await;
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed_and_the_other_host_sees_nothing() {
    let elsewhere_seen = Seen::default();
    let elsewhere = serve_router(fault_server(&elsewhere_seen, |_| async { fhir_json(searchset(&[])) })).await;
    let target = elsewhere.replace("127.0.0.1", "localhost");
    let seen = Seen::default();
    let base = serve_router(fault_server(&seen, move |_| {
        let location = format!("{target}/fhir/Condition?patient=pat-1");
        async move { (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, location)]).into_response() }
    }))
    .await;
    let reason = "the FHIR server redirected the query to another address, which this service does not follow";
    expect_the_other_host_never_called(&base, &elsewhere_seen, reason).await;
    assert!(!seen.lock().unwrap().is_empty());
}

/// A request with a token to `base` is a 412 for `reason`, and the other host saw nothing (so
/// never the token).
async fn expect_the_other_host_never_called(base: &str, elsewhere_seen: &Seen, reason: &str) {
    let mut request = request_to(base);
    request["fhirAuthorization"] = json!({"access_token": "secret", "token_type": "Bearer", "scope": "user/*.read",
        "subject": "dvt-cds"});
    expect_conditions_unavailable(&request, reason).await;
    assert!(elsewhere_seen.lock().unwrap().is_empty(), "the other host was called");
}

#[tokio::test]
async fn a_next_page_on_another_host_is_not_followed() {
    let elsewhere_seen = Seen::default();
    let elsewhere = serve_router(fault_server(&elsewhere_seen, |_| async { fhir_json(searchset(&[])) })).await;
    let seen = Seen::default();
    let base = serve_router(fault_server(&seen, move |_| {
        let next = format!("{elsewhere}/fhir/Condition?patient=pat-1&page=2");
        async move {
            let mut page = searchset(&[json!({"resourceType": "Condition", "id": "c1",
                "subject": {"reference": "Patient/pat-1"}})]);
            page["link"] = json!([{"relation": "next", "url": next}]);
            fhir_json(page)
        }
    }))
    .await;
    let reason = "the FHIR server's next page is on another address, which this service does not follow";
    expect_the_other_host_never_called(&base, &elsewhere_seen, reason).await;
}

#[tokio::test]
async fn records_of_another_patient_from_the_server_are_refused() {
    let seen = Seen::default();
    let base = serve_router(fault_server(&seen, |_| async {
        fhir_json(searchset(&[json!({"resourceType": "Condition", "id": "c9",
            "subject": {"reference": "Patient/someone-else"}})]))
    }))
    .await;
    expect_conditions_unavailable(&request_to(&base), "the FHIR server returned records of another patient").await;
}

#[tokio::test]
async fn a_dstu2_server_is_named_instead_of_misread() {
    let seen = Seen::default();
    let conformance = json!({"resourceType": "Conformance", "fhirVersion": "1.0.2"});
    let base = serve_router(server_of_release(conformance, &seen, |_| async {
        fhir_json(searchset(&[
            json!({"resourceType": "Condition", "id": "c1", "patient": {"reference": "Patient/pat-1"}}),
        ]))
    }))
    .await;
    let refusal = "the FHIR server speaks FHIR 1.0.2 (DSTU2); this service reads R4";
    expect_conditions_unavailable(&request_to(&base), refusal).await;
    // A prefetch the client read from that server is DSTU2 too: it is refused, not misread.
    let mut prefetched = order_select();
    prefetched["fhirServer"] = json!(format!("{base}/fhir"));
    prefetched["prefetch"]["conditions"] = searchset(&[json!({"resourceType": "Condition", "id": "c1",
        "patient": {"reference": "Patient/pat-1"}, "clinicalStatus": "active"})]);
    expect_conditions_unavailable(&prefetched, refusal).await;
}

#[tokio::test]
async fn no_fhir_server_and_a_server_that_is_down_are_412s() {
    let mut request = order_select();
    request["prefetch"].as_object_mut().unwrap().remove("conditions");
    expect_conditions_unavailable(&request, "the EHR did not send it and gave no FHIR server to read it from").await;
    request["prefetch"]["conditions"] = json!({"resourceType": "OperationOutcome", "issue": []});
    expect_conditions_unavailable(
        &request,
        "the EHR reported an error fetching it and gave no FHIR server to read it from",
    )
    .await;

    expect_conditions_unavailable(&request_to(&closed_port()), "the FHIR server could not be reached").await;
}

/// A raw HTTP server for bodies axum would not send: each connection gets `respond`.
async fn raw_server<F, R>(respond: F) -> String
where
    F: Fn(tokio::net::TcpStream) -> R + Send + Sync + 'static,
    R: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let respond = Arc::new(respond);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let respond = Arc::clone(&respond);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0_u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).await.is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                if head.starts_with("GET /fhir/Condition") {
                    respond(stream).await;
                } else if head.starts_with("GET /fhir/metadata") {
                    let body = json!({"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1"}).to_string();
                    let _ = stream.write_all(response_head(Some(body.len())).as_bytes()).await;
                    let _ = stream.write_all(body.as_bytes()).await;
                } else {
                    let body = searchset(&[]).to_string();
                    let _ = stream.write_all(response_head(Some(body.len())).as_bytes()).await;
                    let _ = stream.write_all(body.as_bytes()).await;
                }
            });
        }
    });
    format!("http://{address}")
}

fn response_head(length: Option<usize>) -> String {
    let length = length.map(|length| format!("content-length: {length}\r\n")).unwrap_or_default();
    format!("HTTP/1.1 200 OK\r\ncontent-type: application/fhir+json\r\n{length}connection: close\r\n\r\n")
}

#[tokio::test]
async fn a_truncated_body_is_a_412() {
    let base = raw_server(|mut stream| async move {
        let _ = stream.write_all(response_head(Some(4096)).as_bytes()).await;
        let _ = stream.write_all(br#"{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resou"#).await;
        let _ = stream.shutdown().await;
    })
    .await;
    expect_conditions_unavailable(&request_to(&base), "the FHIR server's answer was cut off").await;
}

#[tokio::test]
async fn a_50_mb_bundle_is_refused_while_streaming_without_being_read_whole() {
    let written = Arc::new(Mutex::new(0_usize));
    let counter = Arc::clone(&written);
    let base = raw_server(move |mut stream| {
        let counter = Arc::clone(&counter);
        async move {
            // No content-length: the limit can only be enforced while reading.
            let _ = stream.write_all(response_head(None).as_bytes()).await;
            let entry =
                json!({"resource": {"resourceType": "Condition", "id": "c", "subject": {"reference": "Patient/pat-1"},
                "note": [{"text": "x".repeat(1000)}]}})
                .to_string();
            let mut chunk = String::new();
            while chunk.len() < 64 * 1024 {
                chunk.push_str(&entry);
                chunk.push(',');
            }
            let mut sent = 0;
            if stream.write_all(br#"{"resourceType":"Bundle","type":"searchset","entry":["#).await.is_err() {
                return;
            }
            while sent < 50 * 1024 * 1024 {
                if stream.write_all(chunk.as_bytes()).await.is_err() {
                    break;
                }
                sent += chunk.len();
                *counter.lock().unwrap() = sent;
            }
        }
    })
    .await;
    let service = TestService::start_with(&["--fhir-deadline", "10s", "--fhir-max-response-bytes", "1048576"]).await;
    let response = service.post_json("/cds-services/dvt-order-select", &request_to(&base)).await;
    let outcome = expect_outcome(response, 412).await;
    assert_eq!(
        diagnostics(&outcome),
        [
            "prefetch `conditions` could not be obtained: the FHIR server's answer was larger than the limit of 1048576 bytes"
        ]
    );
    service.stop().await;
    let sent = *written.lock().unwrap();
    assert!(sent < 50 * 1024 * 1024, "the service read the whole 50 MB ({sent} bytes)");
}

#[tokio::test]
async fn nice_to_have_data_that_fails_degrades_the_record_instead_of_failing() {
    let seen = Seen::default();
    let router = Router::new()
        .route("/fhir/Observation", get(|| async { (StatusCode::BAD_GATEWAY, "").into_response() }))
        .route(
            "/fhir/Procedure",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                fhir_json(searchset(&[]))
            }),
        )
        .merge(fault_server(&seen, |_| async {
            fhir_json(searchset(&[
                json!({"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/pat-1"}}),
            ]))
        }));
    let base = serve_router(router).await;
    let request = request_to(&base);

    let service = TestService::start_with(&["--fhir-deadline", DEADLINE]).await;
    let response = service.post_json("/cds-services/dvt-order-select", &request).await;
    assert_eq!(response.status(), 200);
    service.stop().await;

    let record =
        gather_json(&gatherer(|settings| settings.deadline = Duration::from_millis(500)), &request).await.unwrap();
    assert_eq!(record.resources.iter().filter(|resource| resource.resource_type == "Condition").count(), 1);
    assert_eq!(
        unavailable(&record),
        [
            ("observations", "the FHIR server answered with an error (HTTP 502)".to_owned()),
            ("procedures", "the FHIR server did not answer within 500 ms".to_owned()),
        ]
    );
    assert!(states(&record).contains(&("conditions", KeyState::Fetched { reused: false })));
}

/// `--max-evaluations 1`: one evaluation runs (its FHIR server is slow), one more waits for it, and the
/// next is answered 503 `throttled` with `Retry-After` at once; the running and the waiting one are
/// answered in full.
#[tokio::test]
async fn an_evaluation_beyond_the_limit_and_its_queue_is_refused_busy_and_the_others_answered() {
    let seen = Seen::default();
    let base = serve_router(fault_server(&seen, |_| async {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        fhir_json(searchset(&[]))
    }))
    .await;
    let service = TestService::start_with(&["--max-evaluations", "1", "--fhir-deadline", "3s"]).await;
    let request = request_to(&base);
    let path = "/cds-services/dvt-order-select";

    let running = service.post_json(path, &request);
    let others = async {
        // The first holds the one slot once the FHIR server has its Condition search.
        while !seen.lock().unwrap().iter().any(|(path, _)| path.starts_with("/fhir/Condition")) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Of two more, one waits in the queue and the other finds it full (which is which is a race).
        tokio::join!(service.post_json(path, &request), service.post_json(path, &request))
    };
    let (running, (second, third)) = tokio::join!(running, others);

    assert_eq!(running.status().as_u16(), 200);
    let (queued, refused) = if second.status().as_u16() == 503 { (third, second) } else { (second, third) };
    assert_eq!(queued.status().as_u16(), 200);
    assert_eq!(refused.headers()["retry-after"], "1");
    let outcome = expect_outcome(refused, 503).await;
    assert_eq!(outcome["issue"][0]["code"], "throttled", "{outcome}");
    assert_eq!(diagnostics(&outcome), ["the service is busy; try again shortly"]);
    service.stop().await;
}
