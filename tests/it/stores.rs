//! The store traits' contract, one suite run against every implementation: feedback against SQLite
//! and PostgreSQL, the `jti` replay cache against memory and PostgreSQL. PostgreSQL is a real server
//! (`DVT_CDS_TEST_DATABASE_URL`), each test on a database of its own.

use std::sync::Arc;

use dvt_cds::audit::{AuditEntry, CardShown, Decision, OrderDecision};
use dvt_cds::auth::{AuthError, MemoryReplayCache, ReplayStore};
use dvt_cds::feedback_store::{
    AuditStore, ClientIdentity, FeedbackStore, InsertReport, NewFeedback, PostgresStore, SqliteFeedbackStore,
    StoreError,
};
use dvt_cds_core::cds_hooks::{Feedback, Outcome, OverrideReason};
use dvt_cds_core::ids::ProcedureId;
use time::macros::datetime;
use uuid::Uuid;

use crate::support::{fresh_database, postgres_url};

fn item(card: u128, outcome: Outcome) -> NewFeedback {
    NewFeedback {
        service_id: "dvt-order-select".to_owned(),
        feedback: Feedback {
            card: Uuid::from_u128(card),
            outcome,
            accepted_suggestions: match outcome {
                Outcome::Accepted => vec!["s-1".to_owned(), "s-2".to_owned()],
                Outcome::Overridden => Vec::new(),
            },
            override_reason: (outcome == Outcome::Overridden).then(|| OverrideReason {
                system: Some("https://example.org/override".to_owned()),
                code: Some("patient-preference".to_owned()),
                display: Some("Patient preference".to_owned()),
                user_comment: Some("discussed with patient".to_owned()),
            }),
            outcome_timestamp: datetime!(2026-11-24 10:00 +01:00),
        },
        client: Some(ClientIdentity {
            issuer: "https://sandbox.cds-hooks.org".to_owned(),
            tenant: card.is_multiple_of(2).then(|| "tenant-a".to_owned()),
        }),
    }
}

/// What every feedback store must do, on an empty store.
async fn feedback_contract(store: &dyn FeedbackStore) {
    store.ping().await.unwrap();
    assert!(store.recent(10).await.unwrap().is_empty());
    let now = datetime!(2026-11-24 09:05 UTC);
    let report = store.insert(vec![item(1, Outcome::Accepted), item(2, Outcome::Overridden)], now).await.unwrap();
    assert_eq!(report, InsertReport { stored: 2, already_stored: 0 });
    // A retry holds one item stored before and one new: the first is not stored twice.
    let later = datetime!(2026-11-24 09:06 UTC);
    let report = store.insert(vec![item(2, Outcome::Overridden), item(3, Outcome::Accepted)], later).await.unwrap();
    assert_eq!(report, InsertReport { stored: 1, already_stored: 1 });
    // The same card with another outcome is another item.
    let report = store.insert(vec![item(1, Outcome::Overridden)], later).await.unwrap();
    assert_eq!(report, InsertReport { stored: 1, already_stored: 0 });

    let rows = store.recent(10).await.unwrap();
    let cards: Vec<(String, &str)> = rows.iter().map(|row| (row.card.clone(), row.outcome.as_str())).collect();
    let card = |n: u128| Uuid::from_u128(n).to_string();
    assert_eq!(
        cards,
        [(card(1), "accepted"), (card(2), "overridden"), (card(3), "accepted"), (card(1), "overridden")],
        "oldest first"
    );
    assert!(rows.windows(2).all(|pair| pair[0].id < pair[1].id));
    let accepted = &rows[0];
    assert_eq!(accepted.accepted_suggestions, ["s-1", "s-2"]);
    assert_eq!(accepted.override_reason_code, None);
    assert_eq!(accepted.received_at, "2026-11-24T09:05:00Z");
    assert_eq!(accepted.outcome_timestamp, "2026-11-24T09:00:00Z");
    assert_eq!(accepted.client_issuer.as_deref(), Some("https://sandbox.cds-hooks.org"));
    assert_eq!(accepted.client_tenant, None);
    let overridden = &rows[1];
    assert!(overridden.accepted_suggestions.is_empty());
    assert_eq!(overridden.override_reason_system.as_deref(), Some("https://example.org/override"));
    assert_eq!(overridden.override_reason_code.as_deref(), Some("patient-preference"));
    assert_eq!(overridden.override_reason_display.as_deref(), Some("Patient preference"));
    assert_eq!(overridden.override_user_comment.as_deref(), Some("discussed with patient"));
    assert_eq!(overridden.client_tenant.as_deref(), Some("tenant-a"));
    assert_eq!(overridden.service_id, "dvt-order-select");
    assert_eq!(rows[2].received_at, "2026-11-24T09:06:00Z");

    // `recent(n)` is the n newest, still oldest first.
    let newest: Vec<i64> = store.recent(2).await.unwrap().iter().map(|row| row.id).collect();
    assert_eq!(newest, [rows[2].id, rows[3].id]);

    store.close().await.unwrap();
    assert!(matches!(store.recent(10).await, Err(StoreError::Closed)), "a closed store refuses work");
    assert!(store.ping().await.is_err());
}

#[tokio::test]
async fn sqlite_keeps_the_feedback_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feedback.sqlite3");
    feedback_contract(&SqliteFeedbackStore::open(&path).unwrap()).await;
    assert_eq!(SqliteFeedbackStore::open(&path).unwrap().recent(10).await.unwrap().len(), 4, "after a reopen");
}

#[tokio::test]
async fn postgres_keeps_the_feedback_store_contract() {
    let url = fresh_database().await;
    feedback_contract(&PostgresStore::connect(&url).await.unwrap()).await;
    assert_eq!(PostgresStore::connect(&url).await.unwrap().recent(10).await.unwrap().len(), 4, "after a reconnect");
}

#[tokio::test]
async fn two_postgres_stores_on_one_database_share_feedback_and_its_fingerprints() {
    let url = fresh_database().await;
    // Two instances starting together both migrate the empty database; one of them does the work.
    let (first, second) = tokio::join!(PostgresStore::connect(&url), PostgresStore::connect(&url));
    let (first, second) = (first.unwrap(), second.unwrap());
    let now = datetime!(2026-11-24 09:05 UTC);
    first.insert(vec![item(1, Outcome::Accepted)], now).await.unwrap();
    // A client retrying on the other instance after a lost answer.
    let report = second.insert(vec![item(1, Outcome::Accepted), item(2, Outcome::Overridden)], now).await.unwrap();
    assert_eq!(report, InsertReport { stored: 1, already_stored: 1 });
    let from_first: Vec<String> = first.recent(10).await.unwrap().into_iter().map(|row| row.card).collect();
    assert_eq!(from_first, [Uuid::from_u128(1).to_string(), Uuid::from_u128(2).to_string()]);
}

#[tokio::test]
async fn a_postgres_database_from_a_newer_build_is_refused() {
    let url = fresh_database().await;
    drop(PostgresStore::connect(&url).await.unwrap());
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute("INSERT INTO dvt_cds_migrations (version) VALUES (99)").await.unwrap();
    let refused = PostgresStore::connect(&url).await.err().unwrap();
    assert!(matches!(refused, StoreError::SchemaTooNew { found: 99, known: 3 }), "{refused}");
}

#[tokio::test]
async fn an_unreachable_postgres_server_fails_start_up_without_quoting_the_password() {
    let url = format!("postgres://cds:s3cret@{}/dvt", crate::support::closed_port().trim_start_matches("http://"));
    let error = PostgresStore::connect(&url).await.err().unwrap();
    assert!(!format!("{error} {error:?}").contains("s3cret"), "{error:?}");
    assert!(matches!(PostgresStore::connect("postgres://x:s3cret@[bad").await, Err(StoreError::BadUrl)));
}

/// What every replay store must do: an id accepted once while its token lives, per issuer.
async fn replay_contract(store: &dyn ReplayStore) {
    store.remember("https://ehr", "a", 100, 50).await.unwrap();
    assert_eq!(store.remember("https://ehr", "a", 100, 60).await, Err(AuthError::Replayed));
    assert_eq!(
        store.remember("https://ehr", "a", 100, 100).await,
        Err(AuthError::Replayed),
        "alive until forget_after"
    );
    // Ids are per issuer.
    store.remember("https://other", "a", 100, 60).await.unwrap();
    // Once the token is dead the id may come back (the token itself is refused as expired), and is
    // then remembered for the new token's life.
    store.remember("https://ehr", "a", 200, 101).await.unwrap();
    assert_eq!(store.remember("https://ehr", "a", 200, 150).await, Err(AuthError::Replayed));
}

#[tokio::test]
async fn memory_keeps_the_replay_store_contract() {
    replay_contract(&MemoryReplayCache::new(100)).await;
}

#[tokio::test]
async fn postgres_keeps_the_replay_store_contract() {
    replay_contract(&PostgresStore::connect(&fresh_database().await).await.unwrap()).await;
}

#[tokio::test]
async fn a_jti_raced_to_two_postgres_stores_at_once_is_accepted_exactly_once() {
    let url = fresh_database().await;
    let stores =
        [Arc::new(PostgresStore::connect(&url).await.unwrap()), Arc::new(PostgresStore::connect(&url).await.unwrap())];
    for round in 0..20 {
        let jti = format!("race-{round}");
        let attempts: Vec<_> = (0..8)
            .map(|n| {
                let store = Arc::clone(&stores[n % 2]);
                let jti = jti.clone();
                tokio::spawn(async move { store.remember("https://ehr", &jti, 1_000, 10).await })
            })
            .collect();
        let mut accepted = 0;
        for attempt in attempts {
            match attempt.await.unwrap() {
                Ok(()) => accepted += 1,
                Err(error) => assert_eq!(error, AuthError::Replayed),
            }
        }
        assert_eq!(accepted, 1, "round {round}");
    }
}

#[tokio::test]
async fn expired_jtis_are_swept_from_postgres() {
    let url = fresh_database().await;
    let store = PostgresStore::connect(&url).await.unwrap();
    store.remember("https://ehr", "dead", 100, 50).await.unwrap();
    store.remember("https://ehr", "alive", 10_000, 50).await.unwrap();
    // The first remember after the sweep interval sweeps, in the background.
    store.remember("https://ehr", "trigger", 10_000, 1_000).await.unwrap();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let mut left: Vec<String> = Vec::new();
    for _ in 0..200 {
        left = client
            .query("SELECT jti FROM replay_jti ORDER BY jti", &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        if left.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(left, ["alive", "trigger"]);
}

#[test]
fn the_postgres_tests_have_a_server() {
    // Fails, rather than skipping, when no server was given: see `postgres_url`.
    assert!(postgres_url().starts_with("postgres://"));
}

fn audit_entry(service: &str, patient_hash: Option<&str>) -> AuditEntry {
    AuditEntry {
        service_id: service.to_owned(),
        hook_instance: "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d".to_owned(),
        client_issuer: Some("https://ehr.example.org".to_owned()),
        client_tenant: Some("tenant-a".to_owned()),
        knowledge_version: "sha256:0123456789abcdef".to_owned(),
        patient_hash: patient_hash.map(str::to_owned),
        decision: Decision {
            orders: vec![OrderDecision {
                reference: "ServiceRequest/cdt".to_owned(),
                procedures: vec![ProcedureId::new("cdt")],
                code: Some("CPT|37212".to_owned()),
                variant: Some("acr-193-v2".to_owned()),
                acr_category: Some("usually-appropriate".to_owned()),
                pama_code: Some("appropriate".to_owned()),
            }],
            cards: vec![CardShown {
                uuid: Uuid::from_u128(9).to_string(),
                indicator: "info".to_owned(),
                summary: "CDT/PMT: usually appropriate".to_owned(),
                source: "ACR Appropriateness Criteria".to_owned(),
                variant: Some("acr-193-v2".to_owned()),
                rules: vec!["moderate-severe-v2".to_owned()],
            }],
            rules: vec!["dvt-confirmed-active".to_owned(), "age-acute".to_owned()],
            safety_flags: Vec::new(),
        },
        ..AuditEntry::default()
    }
}

/// What every audit store must do, on an empty store.
async fn audit_contract(store: &dyn AuditStore) {
    store.record(audit_entry("dvt-order-select", Some("ab12")), datetime!(2026-11-24 09:00 UTC)).await.unwrap();
    store.record(audit_entry("dvt-order-sign", None), datetime!(2026-11-25 09:00 UTC)).await.unwrap();
    store.record(audit_entry("dvt-patient-view", None), datetime!(2026-11-26 09:00 UTC)).await.unwrap();
    let all = store.audit(None, 10).await.unwrap();
    let services: Vec<&str> = all.iter().map(|entry| entry.service_id.as_str()).collect();
    assert_eq!(services, ["dvt-order-select", "dvt-order-sign", "dvt-patient-view"], "oldest first");
    let mut expected = audit_entry("dvt-order-select", Some("ab12"));
    expected.id = all[0].id;
    expected.recorded_at = "2026-11-24T09:00:00Z".to_owned();
    assert_eq!(all[0], expected, "read back whole");
    let since: Vec<String> = store
        .audit(Some(datetime!(2026-11-25 09:00 UTC)), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.recorded_at)
        .collect();
    assert_eq!(since, ["2026-11-25T09:00:00Z", "2026-11-26T09:00:00Z"], "since is inclusive");
    let newest = store.audit(None, 1).await.unwrap();
    assert_eq!(newest[0].service_id, "dvt-patient-view", "the limit keeps the newest");
    assert_eq!(store.purge_audit(datetime!(2026-11-25 09:00 UTC)).await.unwrap(), 1);
    assert_eq!(store.audit(None, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn sqlite_keeps_the_audit_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    audit_contract(&SqliteFeedbackStore::open(&dir.path().join("feedback.sqlite3")).unwrap()).await;
}

#[tokio::test]
async fn postgres_keeps_the_audit_store_contract() {
    audit_contract(&PostgresStore::connect(&fresh_database().await).await.unwrap()).await;
}
