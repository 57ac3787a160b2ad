//! The request shapes real clients send (spec examples, the public sandbox's PAMA tab, Argonaut
//! PAMA, Da Vinci CRD) are all accepted, over HTTP and by `dvt-cds evaluate`.

use serde_json::{Value, json};

use crate::support::{TestService, json_fixtures, offline, read_json, root, run_cli, service_for};

fn request_fixtures() -> Vec<(String, Value)> {
    let fixtures: Vec<(String, Value)> = json_fixtures("requests")
        .into_iter()
        .map(|(path, request)| (path.file_name().unwrap().to_string_lossy().into_owned(), offline(request)))
        .collect();
    assert!(fixtures.len() >= 8, "request fixtures are missing");
    fixtures
}

#[tokio::test]
async fn every_request_shape_is_accepted_over_http() {
    let service = TestService::start().await;
    for (name, request) in request_fixtures() {
        let path = format!("/cds-services/{}", service_for(request["hook"].as_str().unwrap()));
        let response = service.post_json(&path, &request).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{name}: {body}");
        let problems = crate::card_rules::problems(&body);
        assert!(problems.is_empty(), "{name}: {problems:?}");
    }
    service.stop().await;
}

/// Every request fixture, the request shapes and the clinical cases, with its fhirServer kept on loopback.
fn every_request_fixture() -> Vec<(String, Value)> {
    let mut fixtures = request_fixtures();
    let mut cases: Vec<(String, Value)> = std::fs::read_dir(root().join("fixtures/cases"))
        .unwrap()
        .map(|entry| entry.unwrap().path().join("request.json"))
        .filter(|path| path.is_file())
        .map(|path| {
            let name = path.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned();
            (name, offline(read_json(&path)))
        })
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(cases.len() >= 40, "case fixtures are missing");
    fixtures.extend(cases);
    fixtures
}

/// The route's answer and `dvt-cds evaluate`'s agree: the same response when the route says 200; when
/// it refuses, the CLI fails and says what each of the route's issues says.
fn assert_same(name: &str, status: u16, routed: &Value, cli: &(std::process::ExitStatus, String, String)) {
    let (exit, stdout, stderr) = cli;
    if status == 200 {
        assert!(exit.success(), "{name}: the route answered 200, evaluate failed: {stderr}");
        let evaluated: Value = serde_json::from_str(stdout).unwrap();
        assert_eq!(&evaluated, routed, "{name}: `dvt-cds evaluate` and the route differ");
        return;
    }
    assert!(!exit.success(), "{name}: the route answered {status}, evaluate printed {stdout}");
    for diagnostics in crate::support::diagnostics(routed) {
        assert!(stderr.contains(&diagnostics), "{name}: the route says `{diagnostics}`, evaluate says {stderr}");
    }
}

#[tokio::test]
async fn evaluate_refuses_what_the_route_refuses_and_answers_what_it_answers() {
    const NOW: &str = "2026-11-24T12:00:00Z";
    let service = TestService::start_with(&["--now", NOW]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut refused = 0;
    for (name, request) in every_request_fixture() {
        // As sent, and with a fhirServer the allow-list refuses (the CLI used to send the token there).
        let mut elsewhere = request.clone();
        elsewhere["fhirServer"] = json!("https://not-allowed.example/fhir");
        for (variant, request) in [("as sent", request), ("fhirServer not allowed", elsewhere)] {
            let name = format!("{name} ({variant})");
            let file = dir.path().join("request.json");
            std::fs::write(&file, request.to_string()).unwrap();
            let cli = tokio::task::spawn_blocking(move || run_cli(&["evaluate", file.to_str().unwrap(), "--now", NOW]))
                .await
                .unwrap();
            let path = format!("/cds-services/{}", service_for(request["hook"].as_str().unwrap()));
            let response = service.post_json(&path, &request).await;
            let status = response.status().as_u16();
            let routed: Value = response.json().await.unwrap();
            if status != 200 {
                refused += 1;
            }
            assert_same(&name, status, &routed, &cli);
        }
    }
    assert!(refused >= 40, "only {refused} refusals: the refused variant refuses nothing");
    service.stop().await;
}

#[test]
fn evaluate_fails_with_one_line_on_bad_input() {
    let (status, stdout, stderr) = run_cli(&["evaluate", "/nonexistent/request.json"]);
    assert!(!status.success());
    assert!(stdout.is_empty());
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot read `/nonexistent/request.json`"), "{stderr}");

    let invalid = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(invalid.path(), r#"{"hook": "order-select", "hookInstance": "x", "context": {}}"#).unwrap();
    let (status, _, stderr) = run_cli(&["evaluate", invalid.path().to_str().unwrap()]);
    assert!(!status.success());
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("context.userId: is required"), "{stderr}");
}

/// The README's first hook call (the first `--data @FILE` in it) shows a card, with the real clock.
#[tokio::test]
async fn the_readmes_first_call_shows_a_card() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let line = readme.lines().find(|line| line.contains("--data @")).unwrap();
    let file = line.split("--data @").nth(1).unwrap().split_whitespace().next().unwrap();
    let path = readme.lines().take_while(|l| *l != line).filter(|l| l.contains("/cds-services/")).last().unwrap();
    let path = path.split("http://127.0.0.1:8080").nth(1).unwrap().split_whitespace().next().unwrap();
    let service = TestService::start().await;
    let response = service.post_json(path, &read_json(&root().join(file))).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(!body["cards"].as_array().unwrap().is_empty(), "{file} gets no card: {body}");
    service.stop().await;
}
