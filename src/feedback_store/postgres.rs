//! The PostgreSQL store, for two or more instances on one database: feedback, and the `jti` replay
//! cache they share. A pool of connections (deadpool); migrations from `migrations/postgres/`, run at
//! start-up under an advisory lock so instances starting together apply each once.
//!
//! Every operation has a deadline: a database that hangs makes the request fail (and a token be
//! refused), never makes it wait for the request timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use time::OffsetDateTime;
use tokio_postgres::NoTls;

use super::{
    AuditStore, BoxFuture, FeedbackRow, FeedbackStore, InsertReport, NewFeedback, StoreError, StoredFeedback,
    decision_json, decision_of, utc_text,
};
use crate::audit::AuditEntry;
use crate::auth::{AuthError, ReplayStore};

/// Migrations in order; `dvt_cds_migrations` records which have run.
const MIGRATIONS: [&str; 3] = [
    include_str!("../../migrations/postgres/0001_feedback.sql"),
    include_str!("../../migrations/postgres/0002_replay.sql"),
    include_str!("../../migrations/postgres/0003_audit.sql"),
];

/// "dvt_cds" in ASCII: only our own instances take this advisory lock, while migrating.
const MIGRATION_LOCK: i64 = 0x0064_7674_5f63_6473;

/// Longest wait for a connection, a query or a transaction.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(3);

/// Expired `jti` rows are deleted at most this often (seconds), by whichever request comes first.
const SWEEP_INTERVAL: i64 = 60;

const MAX_CONNECTIONS: usize = 16;
const MAX_REPLAY_CONNECTIONS: usize = 8;

pub struct PostgresStore {
    pool: Pool,
    /// Connections for replay checks, committing without waiting for the WAL flush: every instance
    /// sees a jti the moment its insert commits, and only a crash of PostgreSQL itself could lose
    /// the last fraction of a second of them. Waiting for the flush would add a disk sync to every
    /// authenticated request (benches/stores.rs).
    replay_pool: Pool,
    /// Unix seconds of the last sweep of expired `jti`s started by this instance.
    last_sweep: Arc<AtomicI64>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`) and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|_| StoreError::BadUrl)?;
        config.connect_timeout(OPERATION_TIMEOUT).application_name("dvt-cds").keepalives(true);
        let pool = new_pool(config.clone(), MAX_CONNECTIONS)?;
        config.options("-c synchronous_commit=off");
        let replay_pool = new_pool(config, MAX_REPLAY_CONNECTIONS)?;
        let store = PostgresStore { pool, replay_pool, last_sweep: Arc::new(AtomicI64::new(0)) };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        within(async {
            let mut client = self.client().await?;
            let transaction = client.transaction().await?;
            // Taken before the table exists: two instances starting together must not both create it.
            transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
            transaction
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS dvt_cds_migrations (
                         version INTEGER PRIMARY KEY,
                         applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                )
                .await?;
            let applied: i32 =
                transaction.query_one("SELECT COALESCE(MAX(version), 0) FROM dvt_cds_migrations", &[]).await?.get(0);
            let known = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
            if applied > known {
                return Err(StoreError::SchemaTooNew { found: i64::from(applied), known: i64::from(known) });
            }
            for (version, sql) in (1..).zip(MIGRATIONS.iter()).skip(usize::try_from(applied).unwrap_or(0)) {
                transaction.batch_execute(sql).await?;
                transaction.execute("INSERT INTO dvt_cds_migrations (version) VALUES ($1)", &[&version]).await?;
            }
            transaction.commit().await?;
            Ok(())
        })
        .await
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        connection(&self.pool).await
    }

    async fn remember_jti(&self, issuer: &str, jti: &str, forget_after: i64, now: i64) -> Result<bool, StoreError> {
        let inserted = within(async {
            let client = connection(&self.replay_pool).await?;
            // A row whose token is dead may be taken over by a new token with the same id, as in the
            // memory cache; a live row makes the insert do nothing.
            let statement = client
                .prepare_cached(
                    "INSERT INTO replay_jti (issuer, jti, forget_after) VALUES ($1, $2, $3)
                     ON CONFLICT (issuer, jti) DO UPDATE SET forget_after = EXCLUDED.forget_after
                     WHERE replay_jti.forget_after < $4",
                )
                .await?;
            Ok(client.execute(&statement, &[&issuer, &jti, &forget_after, &now]).await? == 1)
        })
        .await?;
        self.sweep_now_and_then(now);
        Ok(inserted)
    }

    /// Deletes the rows of dead tokens, in the background, at most once per [`SWEEP_INTERVAL`].
    fn sweep_now_and_then(&self, now: i64) {
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now.saturating_sub(last) < SWEEP_INTERVAL
            || self.last_sweep.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err()
        {
            return;
        }
        let pool = self.replay_pool.clone();
        tokio::spawn(async move {
            let swept = within(async {
                let client = pool.get().await.map_err(|error| StoreError::Pool(error.to_string()))?;
                Ok(client.execute("DELETE FROM replay_jti WHERE forget_after < $1", &[&now]).await?)
            })
            .await;
            match swept {
                Ok(rows) => tracing::debug!(rows, "swept expired jtis"),
                Err(error) => tracing::warn!(error = %error, "could not sweep expired jtis"),
            }
        });
    }
}

fn new_pool(config: tokio_postgres::Config, size: usize) -> Result<Pool, StoreError> {
    // Fast recycling checks only that the connection is open: a connection the server dropped fails
    // its query once (the request is refused) and is then discarded.
    let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    let timeouts =
        Timeouts { wait: Some(OPERATION_TIMEOUT), create: Some(OPERATION_TIMEOUT), recycle: Some(OPERATION_TIMEOUT) };
    Pool::builder(manager)
        .max_size(size)
        .timeouts(timeouts)
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|error| StoreError::Pool(error.to_string()))
}

async fn connection(pool: &Pool) -> Result<deadpool_postgres::Object, StoreError> {
    pool.get().await.map_err(|error| match error {
        deadpool_postgres::PoolError::Backend(error) => StoreError::Postgres(error),
        deadpool_postgres::PoolError::Closed => StoreError::Closed,
        other => StoreError::Pool(other.to_string()),
    })
}

/// `work`, or [`StoreError::Timeout`] after [`OPERATION_TIMEOUT`].
async fn within<T>(work: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    tokio::time::timeout(OPERATION_TIMEOUT, work).await.unwrap_or(Err(StoreError::Timeout(OPERATION_TIMEOUT)))
}

impl FeedbackStore for PostgresStore {
    fn insert(
        &self,
        items: Vec<NewFeedback>,
        received_at: OffsetDateTime,
    ) -> BoxFuture<'_, Result<InsertReport, StoreError>> {
        Box::pin(within(async move {
            let rows = items.iter().map(FeedbackRow::new).collect::<Result<Vec<_>, _>>()?;
            let mut client = self.client().await?;
            let transaction = client.transaction().await?;
            let statement = transaction
                .prepare_cached(
                    "INSERT INTO feedback (received_at, service_id, card_uuid, outcome, accepted_suggestions,
                         override_reason_system, override_reason_code, override_reason_display, override_user_comment,
                         outcome_timestamp, client_issuer, client_tenant, fingerprint)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                     ON CONFLICT (fingerprint) DO NOTHING",
                )
                .await?;
            let mut report = InsertReport::default();
            for row in &rows {
                let accepted = (!row.accepted_suggestions.is_empty()).then_some(row.accepted_suggestions);
                let inserted = transaction
                    .execute(
                        &statement,
                        &[
                            &received_at,
                            &row.service_id,
                            &row.card,
                            &row.outcome,
                            &accepted,
                            &row.reason_system,
                            &row.reason_code,
                            &row.reason_display,
                            &row.user_comment,
                            &row.outcome_timestamp,
                            &row.client_issuer,
                            &row.client_tenant,
                            &row.fingerprint,
                        ],
                    )
                    .await?;
                if inserted == 1 {
                    report.stored += 1;
                } else {
                    report.already_stored += 1;
                }
            }
            // Durable once this returns: PostgreSQL's default synchronous_commit flushes the WAL.
            transaction.commit().await?;
            Ok(report)
        }))
    }

    fn recent(&self, limit: usize) -> BoxFuture<'_, Result<Vec<StoredFeedback>, StoreError>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Box::pin(within(async move {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT id, received_at, service_id, card_uuid, outcome, accepted_suggestions,
                            override_reason_system, override_reason_code, override_reason_display,
                            override_user_comment, outcome_timestamp, client_issuer, client_tenant
                     FROM (SELECT * FROM feedback ORDER BY id DESC LIMIT $1) AS latest ORDER BY id",
                    &[&limit],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(StoredFeedback {
                        id: row.try_get(0)?,
                        received_at: utc_text(row.try_get(1)?)?,
                        service_id: row.try_get(2)?,
                        card: row.try_get(3)?,
                        outcome: row.try_get(4)?,
                        accepted_suggestions: row.try_get::<_, Option<Vec<String>>>(5)?.unwrap_or_default(),
                        override_reason_system: row.try_get(6)?,
                        override_reason_code: row.try_get(7)?,
                        override_reason_display: row.try_get(8)?,
                        override_user_comment: row.try_get(9)?,
                        outcome_timestamp: utc_text(row.try_get(10)?)?,
                        client_issuer: row.try_get(11)?,
                        client_tenant: row.try_get(12)?,
                    })
                })
                .collect()
        }))
    }

    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        self.pool.close();
        self.replay_pool.close();
        Box::pin(std::future::ready(Ok(())))
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(within(async move {
            self.client().await?.simple_query("SELECT 1").await?;
            Ok(())
        }))
    }
}

impl ReplayStore for PostgresStore {
    fn remember<'a>(
        &'a self,
        issuer: &'a str,
        jti: &'a str,
        forget_after: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<(), AuthError>> {
        Box::pin(async move {
            match self.remember_jti(issuer, jti, forget_after, now).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(AuthError::Replayed),
                Err(error) => {
                    // Fail closed: without the shared cache a replay to another instance would pass.
                    tracing::error!(error = %error, "the replay cache in the database cannot be reached; refusing tokens");
                    Err(AuthError::ReplayStoreUnavailable)
                }
            }
        })
    }
}

impl AuditStore for PostgresStore {
    fn record(&self, entry: AuditEntry, recorded_at: OffsetDateTime) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(within(async move {
            let decision = decision_json(&entry)?;
            let client = self.client().await?;
            let statement = client
                .prepare_cached(
                    "INSERT INTO audit (recorded_at, service_id, hook_instance, client_issuer, client_tenant,
                         knowledge_version, patient_hash, decision)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .await?;
            client
                .execute(
                    &statement,
                    &[
                        &recorded_at,
                        &entry.service_id,
                        &entry.hook_instance,
                        &entry.client_issuer,
                        &entry.client_tenant,
                        &entry.knowledge_version,
                        &entry.patient_hash,
                        &decision,
                    ],
                )
                .await?;
            Ok(())
        }))
    }

    fn audit(&self, since: Option<OffsetDateTime>, limit: usize) -> BoxFuture<'_, Result<Vec<AuditEntry>, StoreError>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Box::pin(within(async move {
            let since = since.unwrap_or(OffsetDateTime::UNIX_EPOCH);
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT id, recorded_at, service_id, hook_instance, client_issuer, client_tenant,
                            knowledge_version, patient_hash, decision
                     FROM (SELECT * FROM audit WHERE recorded_at >= $1 ORDER BY id DESC LIMIT $2) AS latest
                     ORDER BY id",
                    &[&since, &limit],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(AuditEntry {
                        id: row.try_get(0)?,
                        recorded_at: utc_text(row.try_get(1)?)?,
                        service_id: row.try_get(2)?,
                        hook_instance: row.try_get(3)?,
                        client_issuer: row.try_get(4)?,
                        client_tenant: row.try_get(5)?,
                        knowledge_version: row.try_get(6)?,
                        patient_hash: row.try_get(7)?,
                        decision: decision_of(row.try_get(8)?)?,
                    })
                })
                .collect()
        }))
    }

    fn purge_audit(&self, before: OffsetDateTime) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(within(async move {
            Ok(self.client().await?.execute("DELETE FROM audit WHERE recorded_at < $1", &[&before]).await?)
        }))
    }
}
