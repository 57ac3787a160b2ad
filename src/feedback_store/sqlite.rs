//! The embedded SQLite feedback store: one file, WAL, `synchronous=FULL`, migrations from the repo.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use time::OffsetDateTime;

use super::{
    AuditStore, BoxFuture, FeedbackRow, FeedbackStore, InsertReport, NewFeedback, StoreError, StoredFeedback,
    decision_json, decision_of, fingerprint, utc_text,
};
use crate::audit::AuditEntry;

/// Migrations in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: [Migration; 3] = [
    Migration::Sql(include_str!("../../migrations/sqlite/0001_feedback.sql")),
    // Fingerprints were once the fields joined by U+001F (ambiguous when a field held one); each stored
    // row's fingerprint is made again from its own columns, so a retry after the upgrade still matches.
    Migration::Code(refingerprint),
    Migration::Sql(include_str!("../../migrations/sqlite/0003_audit.sql")),
];

/// One schema or data change; each runs in its own transaction with the `user_version` update.
enum Migration {
    Sql(&'static str),
    Code(fn(&Transaction<'_>) -> Result<(), StoreError>),
}

pub struct SqliteFeedbackStore {
    // `None` once closed. One connection: SQLite serializes writers anyway, and each insert is short.
    connection: Arc<Mutex<Option<Connection>>>,
}

impl SqliteFeedbackStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteFeedbackStore, StoreError> {
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|cause| StoreError::DataDir { path: parent.display().to_string(), cause })?;
        }
        let mut connection = Connection::open(path)?;
        // WAL lets readers run beside the writer; FULL syncs the WAL on every commit, so an item we
        // acknowledged survives a power cut, not only a crash of the process.
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut connection)?;
        Ok(SqliteFeedbackStore { connection: Arc::new(Mutex::new(Some(connection))) })
    }

    fn run<T, F>(&self, work: F) -> BoxFuture<'_, Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut guard = connection.lock().map_err(|_| StoreError::Worker("lock poisoned".to_owned()))?;
                let connection = guard.as_mut().ok_or(StoreError::Closed)?;
                work(connection)
            })
            .await
            .map_err(|error| StoreError::Worker(error.to_string()))?
        })
    }
}

fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let applied: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if applied > known {
        return Err(StoreError::SchemaTooNew { found: applied, known });
    }
    for (version, migration) in (1..).zip(MIGRATIONS.iter()).skip(usize::try_from(applied).unwrap_or(0)) {
        let transaction = connection.transaction()?;
        match migration {
            Migration::Sql(sql) => transaction.execute_batch(sql)?,
            Migration::Code(change) => change(&transaction)?,
        }
        transaction.pragma_update(None, "user_version", version)?;
        transaction.commit()?;
    }
    Ok(())
}

impl FeedbackStore for SqliteFeedbackStore {
    fn insert(
        &self,
        items: Vec<NewFeedback>,
        received_at: OffsetDateTime,
    ) -> BoxFuture<'_, Result<InsertReport, StoreError>> {
        self.run(move |connection| {
            let received_at = utc_text(received_at)?;
            let transaction = connection.transaction()?;
            let mut report = InsertReport::default();
            {
                let mut statement = transaction.prepare_cached(
                    "INSERT INTO feedback (received_at, service_id, card_uuid, outcome, accepted_suggestions,
                         override_reason_system, override_reason_code, override_reason_display, override_user_comment,
                         outcome_timestamp, client_issuer, client_tenant, fingerprint)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                     ON CONFLICT (fingerprint) DO NOTHING",
                )?;
                for item in &items {
                    let row = FeedbackRow::new(item)?;
                    let inserted = statement.execute(params![
                        received_at,
                        row.service_id,
                        row.card,
                        row.outcome,
                        row.accepted_json,
                        row.reason_system,
                        row.reason_code,
                        row.reason_display,
                        row.user_comment,
                        row.outcome_timestamp_text,
                        row.client_issuer,
                        row.client_tenant,
                        row.fingerprint,
                    ])?;
                    if inserted == 1 {
                        report.stored += 1;
                    } else {
                        report.already_stored += 1;
                    }
                }
            }
            transaction.commit()?;
            Ok(report)
        })
    }

    fn recent(&self, limit: usize) -> BoxFuture<'_, Result<Vec<StoredFeedback>, StoreError>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |connection| {
            let mut statement = connection.prepare(
                "SELECT id, received_at, service_id, card_uuid, outcome, accepted_suggestions, override_reason_system,
                        override_reason_code, override_reason_display, override_user_comment, outcome_timestamp,
                        client_issuer, client_tenant
                 FROM (SELECT * FROM feedback ORDER BY id DESC LIMIT ?1) ORDER BY id",
            )?;
            let rows = statement.query_map([limit], |row| {
                let accepted: Option<String> = row.get(5)?;
                Ok(StoredFeedback {
                    id: row.get(0)?,
                    received_at: row.get(1)?,
                    service_id: row.get(2)?,
                    card: row.get(3)?,
                    outcome: row.get(4)?,
                    accepted_suggestions: accepted
                        .and_then(|json| serde_json::from_str(&json).ok())
                        .unwrap_or_default(),
                    override_reason_system: row.get(6)?,
                    override_reason_code: row.get(7)?,
                    override_reason_display: row.get(8)?,
                    override_user_comment: row.get(9)?,
                    outcome_timestamp: row.get(10)?,
                    client_issuer: row.get(11)?,
                    client_tenant: row.get(12)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        let connection = Arc::clone(&self.connection);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut guard = connection.lock().map_err(|_| StoreError::Worker("lock poisoned".to_owned()))?;
                if let Some(connection) = guard.take() {
                    // Fold the WAL into the main file so a copy of the .sqlite3 file alone is complete.
                    connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).optional()?;
                    connection.close().map_err(|(_, error)| StoreError::Sqlite(error))?;
                }
                Ok(())
            })
            .await
            .map_err(|error| StoreError::Worker(error.to_string()))?
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        self.run(|connection| Ok(connection.query_row("SELECT 1", [], |_| Ok(()))?))
    }
}

impl AuditStore for SqliteFeedbackStore {
    fn record(&self, entry: AuditEntry, recorded_at: OffsetDateTime) -> BoxFuture<'_, Result<(), StoreError>> {
        self.run(move |connection| {
            let decision = decision_json(&entry)?;
            connection
                .prepare_cached(
                    "INSERT INTO audit (recorded_at, service_id, hook_instance, client_issuer, client_tenant,
                     knowledge_version, patient_hash, decision)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![
                    utc_text(recorded_at)?,
                    entry.service_id,
                    entry.hook_instance,
                    entry.client_issuer,
                    entry.client_tenant,
                    entry.knowledge_version,
                    entry.patient_hash,
                    decision,
                ])?;
            Ok(())
        })
    }

    fn audit(&self, since: Option<OffsetDateTime>, limit: usize) -> BoxFuture<'_, Result<Vec<AuditEntry>, StoreError>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |connection| {
            // RFC 3339 in UTC with the same precision sorts as text; the empty string is before all.
            let since = since.map(utc_text).transpose()?.unwrap_or_default();
            let mut statement = connection.prepare(
                "SELECT id, recorded_at, service_id, hook_instance, client_issuer, client_tenant, knowledge_version,
                        patient_hash, decision
                 FROM (SELECT * FROM audit WHERE recorded_at >= ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id",
            )?;
            let rows = statement.query_map(params![since, limit], |row| {
                Ok((
                    AuditEntry {
                        id: row.get(0)?,
                        recorded_at: row.get(1)?,
                        service_id: row.get(2)?,
                        hook_instance: row.get(3)?,
                        client_issuer: row.get(4)?,
                        client_tenant: row.get(5)?,
                        knowledge_version: row.get(6)?,
                        patient_hash: row.get(7)?,
                        decision: crate::audit::Decision::default(),
                    },
                    row.get::<_, String>(8)?,
                ))
            })?;
            rows.map(|row| {
                let (mut entry, decision) = row?;
                entry.decision = decision_of(&decision)?;
                Ok(entry)
            })
            .collect()
        })
    }

    fn purge_audit(&self, before: OffsetDateTime) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.run(move |connection| {
            let deleted = connection.execute("DELETE FROM audit WHERE recorded_at < ?1", [utc_text(before)?])?;
            Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
        })
    }
}

/// Migration 2: every stored row's fingerprint made again from its columns, as `insert` makes it.
fn refingerprint(transaction: &Transaction<'_>) -> Result<(), StoreError> {
    let mut select = transaction.prepare(
        "SELECT id, service_id, card_uuid, outcome, accepted_suggestions, override_reason_system,
                override_reason_code, override_user_comment, outcome_timestamp
         FROM feedback",
    )?;
    let rows = select.query_map([], |row| {
        let mut fields: [String; 8] = Default::default();
        for (index, field) in (1..).zip(fields.iter_mut()) {
            *field = row.get::<_, Option<String>>(index)?.unwrap_or_default();
        }
        Ok((row.get::<_, i64>(0)?, fields))
    })?;
    let mut update = transaction.prepare("UPDATE feedback SET fingerprint = ?1 WHERE id = ?2")?;
    for row in rows {
        let (id, fields) = row?;
        let [a, b, c, d, e, f, g, h] = &fields;
        update.execute(params![fingerprint(&[a, b, c, d, e, f, g, h])?, id])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use uuid::Uuid;

    use super::super::FINGERPRINT_NAMESPACE;
    use super::*;
    use crate::feedback_store::ClientIdentity;
    use dvt_cds_core::cds_hooks::{Feedback, Outcome, OverrideReason};

    fn item(card: u128, outcome: Outcome) -> NewFeedback {
        NewFeedback {
            service_id: "dvt-order-select".to_owned(),
            feedback: Feedback {
                card: Uuid::from_u128(card),
                outcome,
                accepted_suggestions: match outcome {
                    Outcome::Accepted => vec!["s-1".to_owned()],
                    Outcome::Overridden => Vec::new(),
                },
                override_reason: (outcome == Outcome::Overridden).then(|| OverrideReason {
                    system: Some("https://example.org/override".to_owned()),
                    code: Some("patient-preference".to_owned()),
                    display: None,
                    user_comment: Some("discussed with patient".to_owned()),
                }),
                outcome_timestamp: datetime!(2026-11-24 10:00 +01:00),
            },
            client: Some(ClientIdentity { issuer: "https://sandbox.cds-hooks.org".to_owned(), tenant: None }),
        }
    }

    #[tokio::test]
    async fn stored_items_survive_a_reopen_and_duplicates_are_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/feedback.sqlite3");
        let store = SqliteFeedbackStore::open(&path).unwrap();
        let now = datetime!(2026-11-24 09:05 UTC);
        let report = store.insert(vec![item(1, Outcome::Accepted), item(2, Outcome::Overridden)], now).await.unwrap();
        assert_eq!(report, InsertReport { stored: 2, already_stored: 0 });
        let report = store.insert(vec![item(2, Outcome::Overridden), item(3, Outcome::Accepted)], now).await.unwrap();
        assert_eq!(report, InsertReport { stored: 1, already_stored: 1 });
        store.close().await.unwrap();
        assert!(matches!(store.recent(10).await, Err(StoreError::Closed)));

        let reopened = SqliteFeedbackStore::open(&path).unwrap();
        let rows = reopened.recent(10).await.unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].card, Uuid::from_u128(1).to_string());
        assert_eq!(rows[0].accepted_suggestions, ["s-1"]);
        assert_eq!(rows[1].override_reason_code.as_deref(), Some("patient-preference"));
        assert_eq!(rows[1].outcome_timestamp, "2026-11-24T09:00:00Z");
        assert_eq!(rows[1].received_at, "2026-11-24T09:05:00Z");
        assert_eq!(rows[2].client_issuer.as_deref(), Some("https://sandbox.cds-hooks.org"));
        assert_eq!(reopened.recent(1).await.unwrap()[0].id, rows[2].id);
    }

    #[test]
    fn a_database_from_a_newer_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feedback.sqlite3");
        let connection = Connection::open(&path).unwrap();
        connection.pragma_update(None, "user_version", 99).unwrap();
        drop(connection);
        assert!(matches!(SqliteFeedbackStore::open(&path), Err(StoreError::SchemaTooNew { found: 99, known: 3 })));
    }

    #[tokio::test]
    async fn rows_stored_with_the_old_fingerprint_still_catch_a_retry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feedback.sqlite3");
        // A database as the first schema left it, holding one item under the old, joined fingerprint.
        let mut connection = Connection::open(&path).unwrap();
        let Migration::Sql(first) = MIGRATIONS[0] else { panic!("the first migration is SQL") };
        connection.execute_batch(first).unwrap();
        connection.pragma_update(None, "user_version", 1).unwrap();
        let old = |fields: &[&str]| {
            let joined = fields.iter().map(|f| f.replace('\u{1f}', "\u{1f}\u{1f}")).collect::<Vec<_>>().join("\u{1f}");
            Uuid::new_v5(&FINGERPRINT_NAMESPACE, joined.as_bytes()).to_string()
        };
        let card = Uuid::from_u128(2).to_string();
        let comment = "discussed with patient";
        let timestamp = "2026-11-24T09:00:00Z";
        let fields = [
            "dvt-order-select",
            &card,
            "overridden",
            "",
            "https://example.org/override",
            "patient-preference",
            comment,
            timestamp,
        ];
        let transaction = connection.transaction().unwrap();
        transaction
            .execute(
                "INSERT INTO feedback (received_at, service_id, card_uuid, outcome, override_reason_system,
                     override_reason_code, override_user_comment, outcome_timestamp, fingerprint)
                 VALUES ('2026-11-24T09:05:00Z', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![fields[0], fields[1], fields[2], fields[4], fields[5], fields[6], fields[7], old(&fields)],
            )
            .unwrap();
        transaction.commit().unwrap();
        drop(connection);

        let store = SqliteFeedbackStore::open(&path).unwrap();
        let now = datetime!(2026-11-24 09:10 UTC);
        let report = store.insert(vec![item(2, Outcome::Overridden)], now).await.unwrap();
        assert_eq!(report, InsertReport { stored: 0, already_stored: 1 });
        let report = store.insert(vec![item(3, Outcome::Overridden)], now).await.unwrap();
        assert_eq!(report, InsertReport { stored: 1, already_stored: 0 });
        store.close().await.unwrap();
    }
}
