//! Two or more `dvt-cds` processes on one PostgreSQL database, as behind a load balancer: feedback
//! sent to either is in one list, a token is accepted once by all of them together, and `/readyz`
//! follows the database. Real processes, a real PostgreSQL server, real signed tokens.

use std::path::Path;

use serde_json::{Value, json};
use tempfile::TempDir;
use uuid::Uuid;

use crate::signer::{Signer, jwks, now};
use crate::support::{
    OwnPostgres, ServiceProcess, client, expect_outcome, fresh_database, fresh_database_on, order_select, overridden,
    run_cli,
};

const FEEDBACK: &str = "/cds-services/dvt-order-select/feedback";
const SELECT: &str = "/cds-services/dvt-order-select";
/// The URL clients call both instances by (the load balancer's): tokens name it as their audience.
const PUBLIC: &str = "https://cds.example.org";
const EHR: &str = "https://ehr.example.org";

/// A trust configuration requiring tokens from `EHR`, signed by `signer`, written into `dir`.
fn trust_config(dir: &Path, signer: &Signer) -> String {
    std::fs::write(dir.join("ehr.json"), jwks(&[signer]).to_string()).unwrap();
    let config = format!(
        "profile = \"development\"\nrequire_tokens = true\npublic_base_url = \"{PUBLIC}\"\n\
         [[issuers]]\niss = \"{EHR}\"\njwks_file = \"ehr.json\"\n"
    );
    let path = dir.join("trust.toml");
    std::fs::write(&path, config).unwrap();
    path.to_str().unwrap().to_owned()
}

fn token(signer: &Signer, jti: &str) -> String {
    signer.token(&json!({"iss": EHR, "aud": format!("{PUBLIC}{SELECT}"), "exp": now() + 300, "iat": now(), "jti": jti}))
}

/// An instance on `database`, with its own (unused) data directory.
fn instance(database: &str, extra: &[&str]) -> (ServiceProcess, TempDir) {
    let data_dir = tempfile::tempdir().unwrap();
    let process = ServiceProcess::spawn(data_dir.path(), &[&["--database-url", database], extra].concat());
    (process, data_dir)
}

async fn post(url: String, token: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = client().post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

fn listed_cards(database: &str) -> Vec<String> {
    let (status, stdout, stderr) = run_cli(&["feedback", "list", "--database-url", database]);
    assert!(status.success(), "{stderr}");
    stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["card"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn feedback_posted_to_two_instances_is_in_one_list() {
    let database = fresh_database().await;
    let (first, first_dir) = instance(&database, &[]);
    let (second, _second_dir) = instance(&database, &[]);
    let body = |card: u128| json!({"feedback": [overridden(Uuid::from_u128(card))]});
    assert_eq!(post(first.url(FEEDBACK), None, &body(31)).await.status(), 200);
    assert_eq!(post(second.url(FEEDBACK), None, &body(32)).await.status(), 200);
    // A client retrying on the other instance after a lost answer stores nothing twice.
    assert_eq!(post(second.url(FEEDBACK), None, &body(31)).await.status(), 200);
    assert_eq!(listed_cards(&database), [Uuid::from_u128(31).to_string(), Uuid::from_u128(32).to_string()]);
    assert!(!first_dir.path().join("feedback.sqlite3").exists(), "nothing went to SQLite");
    assert!(first.log().contains("feedback, the audit and the jti replay cache are in PostgreSQL"), "{}", first.log());
}

#[tokio::test]
async fn a_token_sent_to_two_instances_is_accepted_once() {
    let database = fresh_database().await;
    let signer = Signer::es384("k1");
    let config_dir = tempfile::tempdir().unwrap();
    let config = trust_config(config_dir.path(), &signer);
    let (first, _first_dir) = instance(&database, &["--config", &config]);
    let (mut second, _second_dir) = instance(&database, &["--config", &config]);

    let replayed = token(&signer, &format!("once-{}", Uuid::new_v4()));
    assert_eq!(post(first.url(SELECT), Some(&replayed), &order_select()).await.status(), 200);
    let refused = post(second.url(SELECT), Some(&replayed), &order_select()).await;
    assert_eq!(refused.status(), 401);
    assert!(refused.bytes().await.unwrap().is_empty(), "a 401 says nothing");
    // The other instance accepts a fresh token: it refused the replay, not the client.
    let fresh = token(&signer, &format!("fresh-{}", Uuid::new_v4()));
    assert_eq!(post(second.url(SELECT), Some(&fresh), &order_select()).await.status(), 200);
    second.terminate();
    assert!(second.log().contains("jti was seen before (replay)"), "{}", second.log());
    assert!(!second.log().contains(&replayed), "the token is never logged");
}

#[tokio::test]
async fn readiness_and_tokens_follow_the_database() {
    let server = OwnPostgres::start();
    let database = fresh_database_on(&server.url).await;
    let signer = Signer::es384("k1");
    let config_dir = tempfile::tempdir().unwrap();
    let config = trust_config(config_dir.path(), &signer);
    let (mut service, _data_dir) = instance(&database, &["--config", &config]);
    let ready = || async { client().get(service.url("/readyz")).send().await.unwrap() };

    let answer = ready().await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.json::<Value>().await.unwrap()["status"], "pass");

    server.stop();
    let outcome = expect_outcome(ready().await, 503).await;
    assert_eq!(outcome["issue"][0]["code"], "transient");
    assert!(!outcome.to_string().contains("127.0.0.1"), "no internals: {outcome}");
    // Fail closed: without the shared replay cache a replay to another instance would pass unseen.
    let during = token(&signer, &format!("down-{}", Uuid::new_v4()));
    assert_eq!(post(service.url(SELECT), Some(&during), &order_select()).await.status(), 401);
    // Liveness is not readiness: the process is up.
    assert_eq!(client().get(service.url("/healthz")).send().await.unwrap().status(), 200);

    server.restart();
    // The pool reconnects on the next request; the bound only keeps a broken run from hanging.
    let mut status = 0;
    for _ in 0..100 {
        status = ready().await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "{}", service.log());
    let after = token(&signer, &format!("up-{}", Uuid::new_v4()));
    assert_eq!(post(service.url(SELECT), Some(&after), &order_select()).await.status(), 200);
    service.terminate();
    let log = service.log();
    assert!(log.contains("refusing tokens") && log.contains("replay store cannot be reached"), "{log}");
    assert!(log.contains("not ready"), "{log}");
}

#[test]
fn a_kill_during_a_feedback_burst_to_postgres_loses_no_acknowledged_item() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let database = runtime.block_on(fresh_database());
    crate::feedback::kill_during_a_burst(&["--database-url", &database], &["--database-url", &database]);
}

/// HMAC-SHA-256 computed apart from the service's code (aws-lc-rs), hex.
fn hmac_hex(key: &[u8], message: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    aws_lc_rs::hmac::sign(&key, message.as_bytes()).as_ref().iter().map(|byte| format!("{byte:02x}")).collect()
}

#[tokio::test]
async fn a_call_audited_on_one_instance_is_read_on_another_and_joined_with_its_feedback() {
    let database = fresh_database().await;
    let key_dir = tempfile::tempdir().unwrap();
    let key = b"9f2c4e8a1b7d3f6054a2c9e8d7b1f3a6";
    let key_file = key_dir.path().join("audit.key");
    std::fs::write(&key_file, [&key[..], b"\n"].concat()).unwrap();
    let audited = ["--audit-key-file", key_file.to_str().unwrap()];
    let (first, _first_dir) = instance(&database, &audited);
    let (second, _second_dir) = instance(&database, &audited);

    let case = crate::support::demo_case("iliofemoral-dvt-apixaban");
    let patient = case["context"]["patientId"].as_str().unwrap().to_owned();
    let answer: Value = post(first.url(SELECT), None, &case).await.json().await.unwrap();
    let card = answer["cards"][0]["uuid"].as_str().unwrap().to_owned();
    let overridden = json!({"feedback": [{
        "card": card, "outcome": "overridden", "outcomeTimestamp": "2026-11-24T10:15:00Z",
        "overrideReason": {"reason": {"system": "urn:dvt-cds:override-reason", "code": "shared-decision", "display": "Shared decision with the patient"}},
    }]});
    assert_eq!(post(second.url(FEEDBACK), None, &overridden).await.status(), 200);

    let (status, stdout, stderr) = run_cli(&["audit", "list", "--database-url", &database]);
    assert!(status.success(), "{stderr}");
    let entries: Vec<Value> = stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(entries.len(), 1, "{stdout}");
    let entry = &entries[0];
    assert_eq!(entry["serviceId"], "dvt-order-select");
    assert_eq!(entry["hookInstance"], case["hookInstance"]);
    assert!(entry["knowledgeVersion"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(entry["patientHash"], hmac_hex(key, &patient), "HMAC-SHA-256 of the patient id under the key");
    assert!(!stdout.contains(&patient), "the patient id only as its hash: {stdout}");
    assert_eq!(entry["orders"][0]["reference"], "ServiceRequest/cdt");
    assert_eq!(entry["orders"][0]["variant"], "acr-193-v2");
    assert_eq!(entry["orders"][0]["acrCategory"], "usually-appropriate");
    assert_eq!(entry["orders"][0]["pamaCode"], "appropriate");
    assert_eq!(entry["cards"][0]["uuid"], card.as_str());
    assert_eq!(entry["cards"][0]["summary"], answer["cards"][0]["summary"]);
    assert!(entry["rules"].as_array().unwrap().iter().any(|rule| rule == "dvt-confirmed-active"), "{entry}");

    let (status, stdout, stderr) = run_cli(&["report", "--format", "json", "--database-url", &database]);
    assert!(status.success(), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((report["decisions"].as_u64(), report["cardsShown"].as_u64()), (Some(1), Some(1)), "{report}");
    let variant = report["byVariant"].as_array().unwrap().iter().find(|row| row["key"] == "acr-193-v2").unwrap();
    assert_eq!((variant["shown"].as_u64(), variant["overridden"].as_u64()), (Some(1), Some(1)), "{report}");
    assert_eq!(variant["overrideReasons"], json!({"shared-decision": 1}));
    assert_eq!(variant["overrideRate"], 1.0);
    let (status, html, _) =
        run_cli(&["report", "--format", "html", "--since", "2026-01-01", "--database-url", &database]);
    assert!(status.success() && html.contains("<svg") && html.contains("acr-193-v2"), "{html}");
}
