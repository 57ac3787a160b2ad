//! Feedback: validated item by item, stored durably, readable after a restart, and never lost once
//! acknowledged, even when the process is killed.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dvt_cds::feedback_store::{FeedbackStore, SqliteFeedbackStore, StoredFeedback};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{ServiceProcess, TestService, client, diagnostics, expect_outcome, overridden, run_cli};

const FEEDBACK: &str = "/cds-services/dvt-order-select/feedback";

async fn stored(data_dir: &Path) -> Vec<StoredFeedback> {
    let store = SqliteFeedbackStore::open(&data_dir.join("feedback.sqlite3")).unwrap();
    let rows = store.recent(10_000).await.unwrap();
    store.close().await.unwrap();
    rows
}

#[tokio::test]
async fn a_valid_batch_is_stored_and_acknowledged_with_an_empty_object() {
    let service = TestService::start().await;
    let accepted = json!({
        "card": Uuid::from_u128(1).to_string(), "outcome": "accepted",
        "acceptedSuggestions": [{"id": Uuid::from_u128(11).to_string()}],
        "outcomeTimestamp": "2026-11-24T10:00:00+01:00",
    });
    let body = json!({"feedback": [accepted, overridden(Uuid::from_u128(2))]});
    let response = service.post_json(FEEDBACK, &body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({}));
    // A client retrying the same POST does not store the items twice.
    assert_eq!(service.post_json(FEEDBACK, &body).await.status(), 200);

    let data_dir = service.stop().await;
    let rows = stored(data_dir.path()).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].card, Uuid::from_u128(1).to_string());
    assert_eq!(rows[0].outcome, "accepted");
    assert_eq!(rows[0].accepted_suggestions, [Uuid::from_u128(11).to_string()]);
    assert_eq!(rows[0].outcome_timestamp, "2026-11-24T09:00:00Z");
    assert_eq!(rows[1].override_reason_code.as_deref(), Some("patient-preference"));
    assert_eq!(rows[1].override_reason_display.as_deref(), Some("Patient preference"));
    assert_eq!(rows[1].service_id, "dvt-order-select");
}

#[tokio::test]
async fn a_partly_valid_batch_stores_the_valid_items_and_reports_the_rest() {
    let service = TestService::start().await;
    let body = json!({"feedback": [
        overridden(Uuid::from_u128(3)),
        {"card": "not-a-uuid", "outcome": "overridden", "outcomeTimestamp": "2026-11-24T10:00:00Z"},
        {"card": Uuid::from_u128(4).to_string(), "outcome": "accepted", "outcomeTimestamp": "2026-11-24T10:00:00Z"},
        overridden(Uuid::from_u128(5)),
    ]});
    let outcome = expect_outcome(service.post_json(FEEDBACK, &body).await, 200).await;
    assert_eq!(
        diagnostics(&outcome),
        [
            "feedback[1].card: must be the uuid of a card",
            "feedback[2].acceptedSuggestions: is required when the outcome is `accepted`",
            "stored 2 of 4 feedback items; the others are listed as errors",
        ]
    );
    let data_dir = service.stop().await;
    let cards: Vec<String> = stored(data_dir.path()).await.into_iter().map(|row| row.card).collect();
    assert_eq!(cards, [Uuid::from_u128(3).to_string(), Uuid::from_u128(5).to_string()]);
}

#[tokio::test]
async fn a_batch_with_no_valid_item_is_a_400_and_stores_nothing() {
    let service = TestService::start().await;
    let outcome =
        expect_outcome(service.post_json(FEEDBACK, &json!({"feedback": [{"outcome": "ignored"}]})).await, 400).await;
    assert_eq!(
        diagnostics(&outcome),
        [
            "feedback[0].card: is required",
            "feedback[0].outcome: must be `accepted` or `overridden`",
            "feedback[0].outcomeTimestamp: is required",
        ]
    );
    expect_outcome(service.post_json(FEEDBACK, &json!({"feedback": []})).await, 400).await;
    expect_outcome(service.post_json(FEEDBACK, &json!({"cards": []})).await, 400).await;
    let data_dir = service.stop().await;
    assert!(stored(data_dir.path()).await.is_empty());
}

#[test]
fn feedback_survives_a_restart_of_the_server_on_the_same_database() {
    let data_dir = tempfile::tempdir().unwrap();
    let post = |base: &str, card: u128| {
        let url = format!("{base}{FEEDBACK}");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            client()
                .post(url)
                .json(&json!({"feedback": [overridden(Uuid::from_u128(card))]}))
                .send()
                .await
                .unwrap()
                .status()
        })
    };

    let mut first = ServiceProcess::spawn(data_dir.path(), &[]);
    assert_eq!(post(&first.base, 21), 200);
    assert!(first.terminate().success(), "{}", first.log());
    assert!(first.log().contains("stopped"), "{}", first.log());

    let mut second = ServiceProcess::spawn(data_dir.path(), &[]);
    assert_eq!(post(&second.base, 22), 200);
    assert!(second.terminate().success());

    let (status, stdout, stderr) = run_cli(&["feedback", "list", "--data-dir", data_dir.path().to_str().unwrap()]);
    assert!(status.success(), "{stderr}");
    let cards: Vec<String> = stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["card"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(cards, [Uuid::from_u128(21).to_string(), Uuid::from_u128(22).to_string()]);
}

#[test]
fn a_kill_during_a_feedback_burst_loses_no_acknowledged_item() {
    kill_during_a_burst(&[], &[]);
}

/// Four clients post feedback until the service, started with `serve_args`, is killed (SIGKILL);
/// then every acknowledged item must be in `feedback list LIST_ARGS`.
pub fn kill_during_a_burst(serve_args: &[&str], list_args: &[&str]) {
    let data_dir = tempfile::tempdir().unwrap();
    let mut service = ServiceProcess::spawn(data_dir.path(), serve_args);
    let url = service.url(FEEDBACK);
    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    // Four clients post one item at a time until the server disappears.
    let workers: Vec<_> = (0..4u128)
        .map(|worker| {
            let url = url.clone();
            let acknowledged = Arc::clone(&acknowledged);
            runtime.spawn(async move {
                let client = client();
                for n in 0.. {
                    let card = Uuid::from_u128(worker << 64 | n);
                    let body = json!({"feedback": [overridden(card)]});
                    match client.post(&url).json(&body).send().await {
                        Ok(response) if response.status() == 200 => {
                            acknowledged.lock().unwrap().insert(card.to_string());
                        }
                        Ok(response) => panic!("unexpected status {}", response.status()),
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();

    // Until 60 items are acknowledged, or every worker has stopped (a failure, surfaced below). The
    // deadline only keeps a broken run from hanging: it is not a speed requirement.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < 60 && !workers.iter().all(tokio::task::JoinHandle::is_finished) {
        assert!(
            Instant::now() < deadline,
            "only {} items acknowledged after 60 s: {}",
            acknowledged.lock().unwrap().len(),
            service.log()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    service.kill();
    for worker in workers {
        runtime.block_on(worker).unwrap();
    }

    let acknowledged = acknowledged.lock().unwrap().clone();
    let list = [&["feedback", "list", "--limit", "100000", "--data-dir", data_dir.path().to_str().unwrap()], list_args];
    let (status, stdout, stderr) = run_cli(&list.concat());
    assert!(status.success(), "{stderr}");
    let stored: BTreeSet<String> = stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["card"].as_str().unwrap().to_owned())
        .collect();
    let lost: Vec<&String> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "{} acknowledged items lost: {lost:?}", lost.len());
    assert!(acknowledged.len() >= 60);
}
