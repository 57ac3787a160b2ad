//! Durable storage of card feedback and the shared `jti` replay cache, behind small traits.
//!
//! SQLite (embedded, one file, WAL) is the default for one instance; PostgreSQL
//! ([`PostgresStore`], chosen by `--database-url`) serves several instances at once and also
//! implements `auth`'s [`ReplayStore`](crate::auth::ReplayStore), so a token accepted by one
//! instance is refused by all. An item is acknowledged to the client only after its transaction has
//! committed, so an acknowledged item survives a crash of the process.

mod postgres;
mod sqlite;

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

use crate::audit::AuditEntry;
use dvt_cds_core::cds_hooks::Feedback;

pub use crate::auth::BoxFuture;
pub use postgres::PostgresStore;
pub use sqlite::SqliteFeedbackStore;

/// Where feedback goes. Implementations must be durable when `insert` returns `Ok`.
pub trait FeedbackStore: Send + Sync {
    /// Stores the items in one transaction; an item stored before (same content) is not stored twice.
    fn insert(
        &self,
        items: Vec<NewFeedback>,
        received_at: OffsetDateTime,
    ) -> BoxFuture<'_, Result<InsertReport, StoreError>>;

    /// The most recent `limit` items, oldest first.
    fn recent(&self, limit: usize) -> BoxFuture<'_, Result<Vec<StoredFeedback>, StoreError>>;

    /// Flushes and closes; later calls fail with [`StoreError::Closed`].
    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Whether the store answers now (for `/readyz`).
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>>;
}

/// Where the decision audit goes; the same backends as feedback.
pub trait AuditStore: Send + Sync {
    /// Stores `entry` as recorded at `recorded_at` (its `id` and `recorded_at` are ignored).
    fn record(&self, entry: AuditEntry, recorded_at: OffsetDateTime) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Entries recorded at or after `since`: the newest `limit`, oldest first.
    fn audit(&self, since: Option<OffsetDateTime>, limit: usize) -> BoxFuture<'_, Result<Vec<AuditEntry>, StoreError>>;

    /// Deletes the entries recorded before `before` (retention); how many.
    fn purge_audit(&self, before: OffsetDateTime) -> BoxFuture<'_, Result<u64, StoreError>>;
}

/// An audit entry's decision as stored (JSON text), and back.
fn decision_json(entry: &AuditEntry) -> Result<String, StoreError> {
    serde_json::to_string(&entry.decision).map_err(|error| StoreError::Worker(error.to_string()))
}

fn decision_of(text: &str) -> Result<crate::audit::Decision, StoreError> {
    serde_json::from_str(text).map_err(|error| StoreError::Worker(format!("an audit row does not read back: {error}")))
}

/// A checked feedback item with what we know of its sender.
#[derive(Debug, Clone)]
pub struct NewFeedback {
    pub service_id: String,
    pub feedback: Feedback,
    pub client: Option<ClientIdentity>,
}

/// The verified client that sent the feedback (from its JWT), when tokens are verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub issuer: String,
    pub tenant: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InsertReport {
    pub stored: usize,
    pub already_stored: usize,
}

/// A stored item, as `dvt-cds feedback list` prints it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StoredFeedback {
    pub id: i64,
    pub received_at: String,
    pub service_id: String,
    pub card: String,
    pub outcome: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accepted_suggestions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_reason_system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_reason_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_reason_display: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_user_comment: Option<String>,
    pub outcome_timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_tenant: Option<String>,
}

/// Each cause is carried in the message, never also as a `source` (an error chain would print it
/// twice): the request path logs these by their message alone.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory `{path}`: {cause}")]
    DataDir { path: String, cause: std::io::Error },
    #[error("feedback database error: {0}")]
    Sqlite(rusqlite::Error),
    #[error("database error: {0}")]
    Postgres(tokio_postgres::Error),
    /// The URL's text is not repeated: it may hold a password.
    #[error("the database URL is not a valid PostgreSQL connection URL")]
    BadUrl,
    #[error("no database connection: {0}")]
    Pool(String),
    #[error("the database did not answer within {0:?}")]
    Timeout(std::time::Duration),
    #[error("feedback database schema version {found} is newer than this build knows ({known})")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("feedback store is closed")]
    Closed,
    #[error("feedback store worker failed: {0}")]
    Worker(String),
    #[error("cannot format a timestamp: {0}")]
    Time(time::error::Format),
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> StoreError {
        StoreError::Sqlite(error)
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> StoreError {
        StoreError::Postgres(error)
    }
}

impl From<time::error::Format> for StoreError {
    fn from(error: time::error::Format) -> StoreError {
        StoreError::Time(error)
    }
}

/// Namespace of the content fingerprints that make a retried POST idempotent.
const FINGERPRINT_NAMESPACE: Uuid = Uuid::from_u128(0x6d1f_3c2a_8b4e_4f7a_9e21_5c0d_7a3b_1e94);

/// UUID v5 of the fields as a JSON array: unambiguous whatever characters the fields hold.
fn fingerprint(fields: &[&str; 8]) -> Result<String, StoreError> {
    let encoded = serde_json::to_string(fields).map_err(|error| StoreError::Worker(error.to_string()))?;
    Ok(Uuid::new_v5(&FINGERPRINT_NAMESPACE, encoded.as_bytes()).to_string())
}

fn utc_text(instant: OffsetDateTime) -> Result<String, StoreError> {
    Ok(instant.to_offset(UtcOffset::UTC).format(&Rfc3339)?)
}

/// One item's columns as every store writes them, with its fingerprint: the stores agree on what
/// "the same item" is, so a retry matches whichever store took the first attempt.
struct FeedbackRow<'a> {
    service_id: &'a str,
    card: String,
    outcome: &'static str,
    accepted_suggestions: &'a [String],
    /// `accepted_suggestions` as a JSON array, `None` when empty (the SQLite column, and a fingerprint field).
    accepted_json: Option<String>,
    reason_system: Option<&'a str>,
    reason_code: Option<&'a str>,
    reason_display: Option<&'a str>,
    user_comment: Option<&'a str>,
    outcome_timestamp: OffsetDateTime,
    /// `outcome_timestamp` in UTC, RFC 3339.
    outcome_timestamp_text: String,
    client_issuer: Option<&'a str>,
    client_tenant: Option<&'a str>,
    fingerprint: String,
}

impl<'a> FeedbackRow<'a> {
    fn new(item: &'a NewFeedback) -> Result<FeedbackRow<'a>, StoreError> {
        let feedback = &item.feedback;
        let reason = feedback.override_reason.as_ref();
        let accepted_json = (!feedback.accepted_suggestions.is_empty())
            .then(|| serde_json::to_string(&feedback.accepted_suggestions))
            .transpose()
            .map_err(|error| StoreError::Worker(error.to_string()))?;
        let outcome_timestamp = feedback.outcome_timestamp.to_offset(UtcOffset::UTC);
        let outcome_timestamp_text = utc_text(outcome_timestamp)?;
        let card = feedback.card.to_string();
        let reason_system = reason.and_then(|r| r.system.as_deref());
        let reason_code = reason.and_then(|r| r.code.as_deref());
        let user_comment = reason.and_then(|r| r.user_comment.as_deref());
        let fingerprint = fingerprint(&[
            &item.service_id,
            &card,
            feedback.outcome.as_str(),
            accepted_json.as_deref().unwrap_or(""),
            reason_system.unwrap_or(""),
            reason_code.unwrap_or(""),
            user_comment.unwrap_or(""),
            &outcome_timestamp_text,
        ])?;
        Ok(FeedbackRow {
            service_id: &item.service_id,
            card,
            outcome: feedback.outcome.as_str(),
            accepted_suggestions: &feedback.accepted_suggestions,
            accepted_json,
            reason_system,
            reason_code,
            reason_display: reason.and_then(|r| r.display.as_deref()),
            user_comment,
            outcome_timestamp,
            outcome_timestamp_text,
            client_issuer: item.client.as_ref().map(|client| client.issuer.as_str()),
            client_tenant: item.client.as_ref().and_then(|client| client.tenant.as_deref()),
            fingerprint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_apart_fields_that_hold_the_old_separator() {
        let fields = |first: &'static str, second: &'static str| [first, second, "", "", "", "", "", ""];
        assert_ne!(fingerprint(&fields("x\u{1f}", "y")).unwrap(), fingerprint(&fields("x", "\u{1f}y")).unwrap());
        assert_eq!(fingerprint(&fields("x", "y")).unwrap(), fingerprint(&fields("x", "y")).unwrap());
    }
}
