//! Gathering against a real FHIR R4 server on loopback: each prefetch state, no prefetch, the
//! fallback giving the same answer as prefetch for every demo patient, paging, the bearer token,
//! run-ahead reuse, and `dvt-cds demo load`.

use dvt_cds::gather::{KeyState, PatientRecord};
use serde_json::{Value, json};

use crate::fhir_server::FhirServer;
use crate::support::{
    ServiceProcess, TestService, UNHURRIED, by_query, client, demo_case, demo_cases, diagnostics, expect_outcome,
    gather_json, gatherer, patient_bundles, run_cli, service_for, states, unavailable,
};

const CASE: &str = "iliofemoral-dvt-apixaban";
const NOW: &str = "2026-11-24T12:00:00Z";

/// The record's resources without `meta` (which the server adds), in a stable order.
fn resources_of(record: &PatientRecord) -> Vec<String> {
    let mut resources: Vec<String> = record
        .resources
        .iter()
        .map(|resource| {
            let mut resource = resource.clone();
            resource.meta = None;
            format!("{resource:?}")
        })
        .collect();
    resources.sort();
    resources
}

/// The search paths (no host) the server saw, except its version check.
async fn queries(server: &FhirServer) -> Vec<String> {
    server
        .requests()
        .await
        .into_iter()
        .filter(|request| request.method == "GET" && !request.url.ends_with("/metadata"))
        .map(|request| request.url)
        .collect()
}

#[tokio::test]
async fn each_prefetch_state_is_honoured_key_by_key_in_one_request() {
    let server = FhirServer::with_demo_patients().await;
    let mut request = demo_case(CASE);
    request["fhirServer"] = json!(server.base);
    let prefetch = request["prefetch"].as_object_mut().unwrap();
    let failed = json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]});
    // Present: patient, conditions. Null: medicationRequests (the server has one: it must not be read).
    // OperationOutcome: observations, allergies. Missing: medicationStatements, procedures.
    prefetch.insert("medicationRequests".to_owned(), Value::Null);
    prefetch.insert("observations".to_owned(), failed.clone());
    prefetch.insert("allergies".to_owned(), failed);
    prefetch.remove("medicationStatements");
    prefetch.remove("procedures");

    let record = gather_json(&gatherer(|_| {}), &request).await.unwrap();
    let fetched = KeyState::Fetched { reused: false };
    let mut found = states(&record);
    found.sort_by_key(|(key, _)| *key);
    let mut expected = vec![
        ("patient", KeyState::Prefetched),
        ("conditions", KeyState::Prefetched),
        ("observations", fetched.clone()),
        ("medicationRequests", KeyState::KnownEmpty),
        ("medicationStatements", fetched.clone()),
        ("procedures", fetched.clone()),
        ("allergies", fetched),
    ];
    expected.sort_by_key(|(key, _)| *key);
    assert_eq!(found, expected);
    let types: Vec<&str> = record.resources.iter().map(|resource| resource.resource_type.as_str()).collect();
    assert_eq!(types.iter().filter(|t| **t == "Observation").count(), 3, "{types:?}");
    assert!(types.contains(&"Procedure") && types.contains(&"Condition") && types.contains(&"Patient"));
    assert!(!types.contains(&"MedicationRequest"), "a null prefetch is trusted: {types:?}");

    let mut paths: Vec<String> =
        queries(&server).await.iter().map(|url| url.split('?').next().unwrap().to_owned()).collect();
    paths.sort();
    assert_eq!(
        paths,
        ["/fhir/R4/AllergyIntolerance", "/fhir/R4/MedicationStatement", "/fhir/R4/Observation", "/fhir/R4/Procedure"]
    );
}

#[tokio::test]
async fn with_no_prefetch_at_all_every_key_is_queried_and_gives_the_same_record() {
    let server = FhirServer::with_demo_patients().await;
    let request = demo_case(CASE);
    let prefetched = gather_json(&gatherer(|_| {}), &request).await.unwrap();
    let queried = gather_json(&gatherer(|_| {}), &by_query(&request, &server.base)).await.unwrap();
    assert!(states(&queried).iter().all(|(_, state)| *state == KeyState::Fetched { reused: false }));
    assert_eq!(states(&queried).len(), 7);
    assert_eq!(resources_of(&queried), resources_of(&prefetched));
    let queried_urls = queries(&server).await;
    assert_eq!(queried_urls.len(), 7, "{queried_urls:?}");
    assert!(queried_urls.contains(&"/fhir/R4/Patient/iliofemoral-dvt-apixaban".to_owned()), "{queried_urls:?}");
    assert!(
        queried_urls.iter().any(|url| url.starts_with("/fhir/R4/Observation?patient=iliofemoral-dvt-apixaban&code=")),
        "{queried_urls:?}"
    );
}

#[tokio::test]
async fn the_fallback_gives_the_same_answer_as_prefetch_for_every_demo_patient() {
    let server = FhirServer::with_demo_patients().await;
    let service = TestService::start_with(&[&["--now", NOW][..], &UNHURRIED].concat()).await;
    for (name, request) in demo_cases() {
        let path = format!("/cds-services/{}", service_for(request["hook"].as_str().unwrap()));
        let prefetched = service.post_json(&path, &request).await;
        assert_eq!(prefetched.status(), 200, "{name}");
        let prefetched: Value = prefetched.json().await.unwrap();
        let queried = service.post_json(&path, &by_query(&request, &server.base)).await;
        assert_eq!(queried.status(), 200, "{name}");
        let queried: Value = queried.json().await.unwrap();
        assert_eq!(queried, prefetched, "{name}: the response differs when the data comes by query");

        let prefetched = gather_json(&gatherer(|_| {}), &request).await.unwrap();
        let queried = gather_json(&gatherer(|_| {}), &by_query(&request, &server.base)).await.unwrap();
        assert!(!prefetched.resources.is_empty(), "{name}");
        assert_eq!(resources_of(&queried), resources_of(&prefetched), "{name}: the records differ");
        assert_eq!(queried.unreadable, prefetched.unreadable, "{name}");
    }
    service.stop().await;
}

#[tokio::test]
async fn prefetch_for_another_patient_is_a_400_and_nothing_is_queried() {
    let server = FhirServer::with_demo_patients().await;
    let service = TestService::start_with(&UNHURRIED).await;
    let mut request = demo_case(CASE);
    request["fhirServer"] = json!(server.base);
    request["prefetch"].as_object_mut().unwrap().remove("procedures");
    request["prefetch"]["conditions"]["entry"][0]["resource"]["subject"]["reference"] =
        json!("Patient/no-dvt-knee-osteoarthritis");
    let outcome = expect_outcome(service.post_json("/cds-services/dvt-order-select", &request).await, 400).await;
    assert!(diagnostics(&outcome)[0].contains("prefetch `conditions`"), "{outcome}");
    assert!(queries(&server).await.is_empty());
    service.stop().await;
}

#[tokio::test]
async fn search_pages_are_followed_up_to_the_page_cap() {
    let server = FhirServer::start_paged(2);
    server.load_demo_patients().await;
    let request = by_query(&demo_case(CASE), &server.base);

    let record = gather_json(&gatherer(|_| {}), &request).await.unwrap();
    let observations = record.resources.iter().filter(|resource| resource.resource_type == "Observation").count();
    assert_eq!(observations, 3);
    let pages = queries(&server).await.iter().filter(|url| url.starts_with("/fhir/R4/Observation")).count();
    assert_eq!(pages, 2, "three observations at two a page");

    let capped = gather_json(&gatherer(|settings| settings.max_pages = 1), &request).await.unwrap();
    assert_eq!(
        unavailable(&capped),
        [("observations", "the FHIR server returned more results than the limit of 1 pages".to_owned())],
        "nice-to-have data over the cap degrades the answer instead of failing it"
    );
}

#[tokio::test]
async fn a_bearer_token_reaches_the_fhir_server_and_never_the_log() {
    const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.dvt-cds-test-token.c2lnbmF0dXJl";
    let server = FhirServer::with_demo_patients().await;
    let data_dir = tempfile::tempdir().unwrap();
    let mut service =
        ServiceProcess::spawn(data_dir.path(), &[&["--log", "dvt_cds=debug,info"][..], &UNHURRIED].concat());
    let mut request = by_query(&demo_case(CASE), &server.base);
    request["fhirAuthorization"] = json!({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 300,
        "scope": "user/*.read", "subject": "dvt-cds"});
    let response = client().post(service.url("/cds-services/dvt-order-select")).json(&request).send().await.unwrap();
    assert_eq!(response.status(), 200);

    let received = server.requests().await;
    let data_queries: Vec<_> = received.iter().filter(|r| r.method == "GET").collect();
    assert_eq!(data_queries.len(), 8, "seven keys and the version check: {received:?}");
    for query in data_queries {
        assert_eq!(query.authorization.as_deref(), Some(format!("Bearer {TOKEN}").as_str()), "{}", query.url);
    }
    // The whole log: the process has stopped and its last line has been read.
    assert!(service.terminate().success(), "{}", service.log());
    let log = service.log();
    assert!(log.contains("request finished") && log.contains("fetched"), "debug lines are logged: {log}");
    assert!(!log.contains("dvt-cds-test-token"), "the token was logged: {log}");
    assert!(!log.contains("iliofemoral-dvt-apixaban"), "a patient id was logged: {log}");
}

/// The case as `order-sign` would send it next, without prefetch, for `patient_id`.
fn order_sign(server: &FhirServer, patient_id: &str, token: Option<&str>) -> Value {
    let mut request = by_query(&demo_case(CASE), &server.base);
    request["hook"] = json!("order-sign");
    request["hookInstance"] = json!("0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e");
    request["context"]["patientId"] = json!(patient_id);
    request["context"].as_object_mut().unwrap().remove("selections");
    if let Some(token) = token {
        request["fhirAuthorization"] = json!({"access_token": token, "token_type": "Bearer", "scope": "user/*.read",
            "subject": "dvt-cds"});
    }
    request
}

fn order_select(server: &FhirServer, token: Option<&str>) -> Value {
    let mut request = order_sign(server, "iliofemoral-dvt-apixaban", token);
    request["hook"] = json!("order-select");
    request["context"]["selections"] = demo_case(CASE)["context"]["selections"].clone();
    request
}

#[tokio::test]
async fn order_sign_reuses_what_order_select_gathered_without_a_round_trip() {
    let server = FhirServer::with_demo_patients().await;
    let gatherer = gatherer(|_| {});
    let selected = gather_json(&gatherer, &order_select(&server, Some("token-a"))).await.unwrap();
    let asked = queries(&server).await.len();
    assert_eq!(asked, 7);

    let signed =
        gather_json(&gatherer, &order_sign(&server, "iliofemoral-dvt-apixaban", Some("token-a"))).await.unwrap();
    assert!(states(&signed).iter().all(|(_, state)| *state == KeyState::Fetched { reused: true }), "{signed:?}");
    assert_eq!(resources_of(&signed), resources_of(&selected));
    assert_eq!(queries(&server).await.len(), asked, "order-sign cost a FHIR round trip");

    // A key the sign-time prefetch answers is taken from it, not from the earlier gathering.
    let mut with_prefetch = order_sign(&server, "iliofemoral-dvt-apixaban", Some("token-a"));
    with_prefetch["prefetch"] = json!({"allergies": null});
    let signed = gather_json(&gatherer, &with_prefetch).await.unwrap();
    assert!(states(&signed).contains(&("allergies", KeyState::KnownEmpty)));
    assert_eq!(queries(&server).await.len(), asked);
}

#[tokio::test]
async fn run_ahead_data_is_never_reused_across_patients_tokens_or_servers() {
    let server = FhirServer::with_demo_patients().await;
    let other_server = FhirServer::with_demo_patients().await;
    let gatherer = gatherer(|_| {});
    gather_json(&gatherer, &order_select(&server, Some("token-a"))).await.unwrap();
    let asked = queries(&server).await.len();

    let other_patient =
        gather_json(&gatherer, &order_sign(&server, "no-dvt-knee-osteoarthritis", Some("token-a"))).await.unwrap();
    assert!(states(&other_patient).iter().all(|(_, state)| *state == KeyState::Fetched { reused: false }));
    assert!(other_patient.resources.iter().all(|resource| other_patient.is_about_patient(resource)));
    let after_patient = queries(&server).await.len();
    assert_eq!(after_patient, asked + 7);

    let other_token =
        gather_json(&gatherer, &order_sign(&server, "iliofemoral-dvt-apixaban", Some("token-b"))).await.unwrap();
    assert!(states(&other_token).iter().all(|(_, state)| *state == KeyState::Fetched { reused: false }));
    let no_token = gather_json(&gatherer, &order_sign(&server, "iliofemoral-dvt-apixaban", None)).await.unwrap();
    assert!(states(&no_token).iter().all(|(_, state)| *state == KeyState::Fetched { reused: false }));
    assert_eq!(queries(&server).await.len(), after_patient + 14);

    let elsewhere =
        gather_json(&gatherer, &order_sign(&other_server, "iliofemoral-dvt-apixaban", Some("token-a"))).await.unwrap();
    assert!(states(&elsewhere).iter().all(|(_, state)| *state == KeyState::Fetched { reused: false }));
    assert_eq!(queries(&other_server).await.len(), 7);

    // With reuse turned off, signing queries again.
    let off = crate::support::gatherer(|settings| settings.run_ahead_ttl = std::time::Duration::ZERO);
    gather_json(&off, &order_select(&other_server, None)).await.unwrap();
    let signed = gather_json(&off, &order_sign(&other_server, "iliofemoral-dvt-apixaban", None)).await.unwrap();
    assert!(states(&signed).iter().all(|(_, state)| *state == KeyState::Fetched { reused: false }));
    assert_eq!(queries(&other_server).await.len(), 21);
}

#[tokio::test]
async fn demo_load_uploads_every_patient_and_prints_their_ids() {
    let server = FhirServer::start();
    let base = server.base.clone();
    let (status, stdout, stderr) =
        tokio::task::spawn_blocking(move || run_cli(&["demo", "load", "--fhir-server", &base])).await.unwrap();
    assert!(status.success(), "{stderr}");
    let lines: Vec<(String, String)> = stdout
        .lines()
        .map(|line| {
            let (id, scenario) = line.split_once('\t').unwrap();
            (id.to_owned(), scenario.to_owned())
        })
        .collect();
    let scenarios: Vec<String> = patient_bundles().into_iter().map(|(name, _)| name).collect();
    let mut printed: Vec<String> = lines.iter().map(|(_, scenario)| scenario.clone()).collect();
    printed.sort();
    assert_eq!(printed, scenarios);
    // The README shows lines of this output, and opens the sandbox on a printed id.
    let readme = std::fs::read_to_string(crate::support::root().join("README.md")).unwrap();
    let shown: Vec<&str> =
        readme.lines().filter_map(|line| line.trim().strip_prefix("# ")).filter(|l| l.contains('\t')).collect();
    assert!(!shown.is_empty(), "the README shows no `demo load` output");
    for line in shown {
        let (id, scenario) = line.split_once('\t').unwrap();
        assert!(
            lines.contains(&(id.to_owned(), scenario.to_owned())),
            "the README shows `{line}`, which demo load does not print"
        );
    }
    let opened = readme.split("patientId=").nth(1).and_then(|rest| rest.split('&').next()).unwrap();
    assert!(
        lines.iter().any(|(id, _)| id == opened),
        "the README's sandbox URL opens `{opened}`, which demo load does not print"
    );
    for (id, _) in &lines {
        let response = client().get(format!("{}/Patient/{id}", server.base)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{id} was not loaded");
    }
    // The loaded patients are the ones the demo cases are about: the fallback answers them.
    let service = TestService::start_with(&UNHURRIED).await;
    for (name, request) in demo_cases() {
        let path = format!("/cds-services/{}", service_for(request["hook"].as_str().unwrap()));
        let response = service.post_json(&path, &by_query(&request, &server.base)).await;
        assert_eq!(response.status(), 200, "{name}");
    }
    service.stop().await;

    let (status, stdout, stderr) =
        tokio::task::spawn_blocking(|| run_cli(&["demo", "load", "--fhir-server", "http://127.0.0.1:9/fhir"]))
            .await
            .unwrap();
    assert!(!status.success() && stdout.is_empty());
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot load the demo patients"), "{stderr}");
}

/// The test FHIR server answers CORS, so a browser (the CDS Hooks sandbox) can read it as it reads an EHR's.
#[tokio::test]
async fn the_test_fhir_server_answers_cors_for_a_browser() {
    let server = FhirServer::start();
    let origin = "https://sandbox.cds-hooks.org";
    let preflight = client()
        .request(reqwest::Method::OPTIONS, format!("{}/Patient/x", server.base))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let allowed = |response: &reqwest::Response, name: &str| {
        response.headers().get(name).map(|value| value.to_str().unwrap().to_owned()).unwrap_or_default()
    };
    assert_eq!(allowed(&preflight, "access-control-allow-origin"), "*");
    assert!(allowed(&preflight, "access-control-allow-headers").contains("authorization"));
    let metadata = client().get(format!("{}/metadata", server.base)).header("origin", origin).send().await.unwrap();
    assert_eq!(metadata.status(), 200);
    assert_eq!(allowed(&metadata, "access-control-allow-origin"), "*");
}
