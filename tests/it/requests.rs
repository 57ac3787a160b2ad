//! The request shapes real clients send (spec examples, the public sandbox's PAMA tab, Argonaut
//! PAMA, Da Vinci CRD) are all accepted, over HTTP and by `dvt-cds evaluate`.

use serde_json::Value;

use crate::support::{TestService, json_fixtures, offline, run_cli, service_for};

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

#[tokio::test]
async fn evaluate_gives_the_same_answer_as_the_route() {
    const NOW: &str = "2026-11-24T12:00:00Z";
    let service = TestService::start_with(&["--now", NOW]).await;
    let dir = tempfile::tempdir().unwrap();
    for (name, request) in request_fixtures() {
        let file = dir.path().join(&name);
        std::fs::write(&file, request.to_string()).unwrap();
        let (status, stdout, stderr) =
            tokio::task::spawn_blocking(move || run_cli(&["evaluate", file.to_str().unwrap(), "--now", NOW]))
                .await
                .unwrap();
        assert!(status.success(), "{name}: {stderr}");
        let evaluated: Value = serde_json::from_str(&stdout).unwrap();
        assert!(evaluated["cards"].is_array(), "{name}: {stdout}");

        let path = format!("/cds-services/{}", service_for(request["hook"].as_str().unwrap()));
        let response = service.post_json(&path, &request).await;
        assert_eq!(response.status(), 200, "{name}");
        let routed: Value = response.json().await.unwrap();
        assert_eq!(evaluated, routed, "{name}: `dvt-cds evaluate` and the route differ");
    }
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
