//! CORS for browser clients (the public sandbox runs in the clinician's browser).

use reqwest::Method;

use crate::support::{TestService, client, order_select};

const SANDBOX: &str = "https://sandbox.cds-hooks.org";

#[tokio::test]
async fn every_route_answers_the_sandbox_preflight() {
    let service = TestService::start().await;
    for (path, method) in [
        ("/cds-services", "GET"),
        ("/cds-services/dvt-order-select", "POST"),
        ("/cds-services/dvt-order-select/feedback", "POST"),
    ] {
        let response = client()
            .request(Method::OPTIONS, service.url(path))
            .header("origin", SANDBOX)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "authorization,content-type")
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        let headers = response.headers();
        assert_eq!(headers["access-control-allow-origin"], SANDBOX, "{path}");
        let methods = headers["access-control-allow-methods"].to_str().unwrap().to_ascii_uppercase();
        assert!(methods.contains(method), "{path}: {methods}");
        let allowed = headers["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
        assert!(allowed.contains("authorization") && allowed.contains("content-type"), "{path}: {allowed}");
        assert!(headers.contains_key("access-control-max-age"));
        assert!(!headers.contains_key("access-control-allow-private-network"));
    }
    service.stop().await;
}

#[tokio::test]
async fn a_private_network_preflight_is_allowed_for_allowed_origins_only() {
    let service = TestService::start().await;
    let preflight = |origin: &'static str| {
        client()
            .request(Method::OPTIONS, service.url("/cds-services"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-private-network", "true")
            .send()
    };
    let response = preflight(SANDBOX).await.unwrap();
    assert_eq!(response.headers()["access-control-allow-private-network"], "true");
    let response = preflight("https://evil.example").await.unwrap();
    assert!(!response.headers().contains_key("access-control-allow-private-network"));
    assert!(!response.headers().contains_key("access-control-allow-origin"));
    service.stop().await;
}

#[tokio::test]
async fn error_responses_carry_cors_headers() {
    let service = TestService::start().await;
    let response = client()
        .post(service.url("/cds-services/unknown"))
        .header("origin", "http://localhost:3000")
        .json(&order_select())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["access-control-allow-origin"], "http://localhost:3000");

    let response = client()
        .post(service.url("/cds-services/dvt-order-select"))
        .header("origin", SANDBOX)
        .header("content-type", "application/json")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["access-control-allow-origin"], SANDBOX);
    service.stop().await;
}

#[tokio::test]
async fn configured_origins_replace_the_defaults() {
    let service = TestService::start_with(&["--cors-origin", "https://ehr.example.org"]).await;
    let get = |origin: &'static str| client().get(service.url("/cds-services")).header("origin", origin).send();
    let response = get("https://ehr.example.org").await.unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "https://ehr.example.org");
    let response = get(SANDBOX).await.unwrap();
    assert!(!response.headers().contains_key("access-control-allow-origin"));
    service.stop().await;
}
