//! The stores under load: feedback inserts and `jti` replay checks per second, PostgreSQL against
//! SQLite (the default, the floor for feedback) and against the in-memory cache (the floor for replay
//! checks), measured in the same run with the same concurrency. PostgreSQL is a real server:
//! `DVT_CDS_TEST_DATABASE_URL` (`eval "$(bash .ci/postgres.sh env /tmp/dvt-cds-pg)"`), a fresh
//! database each run. Both stores commit durably (SQLite `synchronous=FULL`, PostgreSQL's default).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout,
    reason = "a benchmark: a failure should stop it loudly"
)]

mod common;

use std::sync::Arc;
use std::time::Instant;

use dvt_cds::auth::{MemoryReplayCache, ReplayStore};
use dvt_cds::feedback_store::{FeedbackStore, NewFeedback, PostgresStore, SqliteFeedbackStore};
use dvt_cds_core::cds_hooks::{Feedback, Outcome, OverrideReason};
use time::OffsetDateTime;
use uuid::Uuid;

/// Concurrent clients, as several EHR sessions at once.
const CLIENTS: usize = 8;
const FEEDBACK_PER_CLIENT: usize = 60;
const CHECKS_PER_CLIENT: usize = 400;

fn item(n: u128) -> NewFeedback {
    NewFeedback {
        service_id: "dvt-order-select".to_owned(),
        feedback: Feedback {
            card: Uuid::from_u128(n),
            outcome: Outcome::Overridden,
            accepted_suggestions: Vec::new(),
            override_reason: Some(OverrideReason {
                system: Some("urn:dvt-cds:override-reason".to_owned()),
                code: Some("shared-decision".to_owned()),
                display: Some("Shared decision with the patient".to_owned()),
                user_comment: None,
            }),
            outcome_timestamp: OffsetDateTime::now_utc(),
        },
        client: None,
    }
}

/// Operations per second of `CLIENTS` tasks each running `operation(client, i)` `per_client` times.
async fn throughput<F, Fut>(per_client: usize, operation: F) -> f64
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let operation = Arc::new(operation);
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let operation = Arc::clone(&operation);
            tokio::spawn(async move {
                for i in 0..per_client {
                    operation(client, i).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (CLIENTS * per_client) as f64 / started.elapsed().as_secs_f64()
}

async fn feedback_rate(store: Arc<dyn FeedbackStore>, run: u128) -> f64 {
    throughput(FEEDBACK_PER_CLIENT, move |client, i| {
        let store = Arc::clone(&store);
        async move {
            let n = run << 64 | (client as u128) << 32 | i as u128;
            store.insert(vec![item(n)], OffsetDateTime::now_utc()).await.unwrap();
        }
    })
    .await
}

async fn replay_rate(store: Arc<dyn ReplayStore>, run: &'static str) -> f64 {
    let now = common::now();
    throughput(CHECKS_PER_CLIENT, move |client, i| {
        let store = Arc::clone(&store);
        async move {
            let jti = format!("{run}-{client}-{i}");
            store.remember("https://ehr.example.org", &jti, now + 300, now).await.unwrap();
        }
    })
    .await
}

fn main() {
    if !common::benchmarking() {
        return;
    }
    let url = std::env::var("DVT_CDS_TEST_DATABASE_URL")
        .expect("set DVT_CDS_TEST_DATABASE_URL: eval \"$(bash .ci/postgres.sh env /tmp/dvt-cds-pg)\"");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let database = {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            let name = format!("dvt_bench_{}", Uuid::new_v4().simple());
            client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
            let mut database = url::Url::parse(&url).unwrap();
            database.set_path(&name);
            database.to_string()
        };
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Arc::new(SqliteFeedbackStore::open(&dir.path().join("feedback.sqlite3")).unwrap());
        let postgres = Arc::new(PostgresStore::connect(&database).await.unwrap());
        let memory = Arc::new(MemoryReplayCache::new(1_000_000));

        println!("{CLIENTS} concurrent clients, 2 runtime threads; each figure is the better of two runs");
        let mut best = [0.0_f64; 4];
        for run in 0..2 {
            let figures = [
                feedback_rate(sqlite.clone(), run).await,
                feedback_rate(postgres.clone(), run).await,
                replay_rate(memory.clone(), ["m0", "m1"][run as usize]).await,
                replay_rate(postgres.clone(), ["p0", "p1"][run as usize]).await,
            ];
            for (best, figure) in best.iter_mut().zip(figures) {
                *best = best.max(figure);
            }
        }
        let [sqlite_feedback, postgres_feedback, memory_replay, postgres_replay] = best;
        println!(
            "feedback inserts (one item, durable commit): SQLite {sqlite_feedback:>8.0}/s (floor), PostgreSQL {postgres_feedback:>8.0}/s: {:.2}x the floor",
            postgres_feedback / sqlite_feedback
        );
        println!(
            "jti replay checks: memory {memory_replay:>10.0}/s (floor), PostgreSQL {postgres_replay:>8.0}/s: {:.4}x the floor ({:.0} us each)",
            postgres_replay / memory_replay,
            1e6 * CLIENTS as f64 / postgres_replay
        );
        sqlite.close().await.unwrap();
    });
}
