//! Durable storage of card feedback, behind a small trait.
//!
//! SQLite (embedded, one file, WAL) is the default; a PostgreSQL store for several instances would
//! implement the same [`FeedbackStore`] trait. An item is acknowledged to the client only after its
//! transaction has committed, so an acknowledged item survives a crash of the process.

mod sqlite;

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;
use time::OffsetDateTime;

use crate::cds_hooks::Feedback;

pub use sqlite::SqliteFeedbackStore;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory `{path}`: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("feedback database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("feedback database schema version {found} is newer than this build knows ({known})")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("feedback store is closed")]
    Closed,
    #[error("feedback store worker failed: {0}")]
    Worker(String),
    #[error("cannot format a timestamp: {0}")]
    Time(#[from] time::error::Format),
}
