//! The decision audit: what each hook call that returned cards or rating actions decided, in plain
//! data (no FHIR, no record text, no token), so a CDS committee can read "the phlegmasia warning was
//! overridden 12 times out of 40" once feedback is joined to it (`report`).
//!
//! The patient appears only as a keyed hash ([`PatientKey`], HMAC-SHA-256 with a key from the
//! configuration): the same patient gives the same hash under one key, so a governance query can
//! find a patient's decisions only by someone who holds the key. This layer depends on no other.

mod report;

use dvt_cds_core::ids::{FlagId, ProcedureId};
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

pub use report::{FeedbackFact, Format, Report, report};

/// What the pipeline decided for one call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub orders: Vec<OrderDecision>,
    pub cards: Vec<CardShown>,
    /// Every classifier rule that fired for the call, by id.
    pub rules: Vec<String>,
    /// Every safety flag that was hit, by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub safety_flags: Vec<FlagId>,
}

impl Decision {
    /// Whether the call returned anything worth auditing (cards or rating actions).
    pub fn is_empty(&self) -> bool {
        self.cards.is_empty() && self.orders.iter().all(|order| order.pama_code.is_none())
    }
}

/// One draft order and how it was rated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderDecision {
    /// `ServiceRequest/cdt`: the EHR's draft, not the patient.
    pub reference: String,
    /// The ACR procedure rows the order's code means (`knowledge/procedures.toml`).
    pub procedures: Vec<ProcedureId>,
    /// The order's first code, `system|code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr_category: Option<String>,
    /// The PAMA rating code (`appropriate`, `not-appropriate`, `no-criteria-apply`), when rated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pama_code: Option<String>,
}

/// A card as it was shown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardShown {
    pub uuid: String,
    pub indicator: String,
    /// Our own sentence (it quotes no record text).
    pub summary: String,
    /// The card's source label: what kind of card it is (an ACR topic, a safety guideline, the plan).
    pub source: String,
    /// The ACR variant the card names, when it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The classifier rules the card rests on, by id (empty in entries written before cards had them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
}

/// A stored decision with its call's identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Assigned by the store; 0 before it is stored.
    pub id: i64,
    /// RFC 3339, UTC.
    pub recorded_at: String,
    pub service_id: String,
    pub hook_instance: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_tenant: Option<String>,
    pub knowledge_version: String,
    /// HMAC-SHA-256 of the patient id under the configured key, hex; absent when no key is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_hash: Option<String>,
    #[serde(flatten)]
    pub decision: Decision,
}

/// The key patient ids are hashed under. It has no printable form.
#[derive(Clone)]
pub struct PatientKey(Vec<u8>);

impl std::fmt::Debug for PatientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PatientKey(..)")
    }
}

/// Shorter keys are refused: HMAC-SHA-256 wants at least its output size of secret.
pub const MIN_KEY_BYTES: usize = 32;

impl PatientKey {
    pub fn new(key: &[u8]) -> Result<PatientKey, KeyTooShort> {
        if key.len() < MIN_KEY_BYTES {
            return Err(KeyTooShort(key.len()));
        }
        Ok(PatientKey(key.to_vec()))
    }

    /// The patient's hash: hex HMAC-SHA-256 of the id.
    pub fn hash(&self, patient_id: &str) -> String {
        // `new_from_slice` refuses no key length for HMAC.
        let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.0) else { return String::new() };
        mac.update(patient_id.as_bytes());
        mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the audit key has {0} bytes; it needs at least 32")]
pub struct KeyTooShort(pub usize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patient_hash_is_hmac_sha256_and_depends_on_the_key() {
        // Computed apart from this code: `printf pat-1 | openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef`.
        let key = PatientKey::new(b"0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(key.hash("pat-1"), "545cba9a2565b2e196c67936e7806c4e08531be25f6872a437264c19271ba0e7");
        assert_eq!(key.hash("pat-1"), key.hash("pat-1"));
        assert_ne!(key.hash("pat-1"), key.hash("pat-2"));
        let other = PatientKey::new(b"another key of at least thirty-two bytes").unwrap();
        assert_ne!(key.hash("pat-1"), other.hash("pat-1"));
        assert_eq!(PatientKey::new(b"short").err(), Some(KeyTooShort(5)));
        assert_eq!(format!("{key:?}"), "PatientKey(..)");
    }
}
