//! Gathering: turns the request's prefetch (and, when keys are missing, the EHR's FHIR server) into a
//! [`PatientRecord`], then into `Evidence`. The only layer that talks to FHIR servers or reads FHIR JSON.
//!
//! Prefetch is a hint: for each key the service declares, the request holds a resource or Bundle
//! (use it), `null` (known empty: do not re-query), an OperationOutcome (the client failed), or
//! nothing. Data about another patient is refused.

mod extract;
pub mod fhir;
mod keys;
mod orders;
mod record;

use serde_json::value::RawValue;

use crate::cds_hooks::{HookRequest, ServiceDefinition};

pub use extract::extract;
pub use keys::{KEYS, KeySpec, check_discovery};
pub use orders::{DraftOrder, draft_orders};
pub use record::{KeySource, KeyState, PatientRecord};

#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    /// Data essential to a decision could not be obtained (412).
    #[error("could not obtain {}", describe_missing(.0))]
    DataUnavailable(Vec<(String, String)>),
    /// The prefetch holds data about another patient (400).
    #[error("prefetch `{key}` holds `{reference}`, which is not about the patient in context")]
    WrongPatient { key: String, reference: String },
    /// The discovery document declares a prefetch key gathering cannot use (start-up only).
    #[error("{0}")]
    Discovery(String),
}

fn describe_missing(keys: &[(String, String)]) -> String {
    keys.iter().map(|(key, reason)| format!("prefetch `{key}` ({reason})")).collect::<Vec<_>>().join(", ")
}

/// Gathers what `service` declares for the patient of `request`.
pub async fn gather(service: &ServiceDefinition, request: &HookRequest) -> Result<PatientRecord, GatherError> {
    let patient_id = &request.context().patient_id;
    let mut record = PatientRecord::new(patient_id);
    let mut missing_essential = Vec::new();
    for (key, _template) in service.prefetch() {
        let Some(spec) = keys::spec(key) else { continue };
        let state = match request.prefetch().get(key.as_str()) {
            Some(raw) => read_prefetch(spec, raw, &mut record)?,
            None => KeyState::Unavailable { reason: "not in the prefetch".to_owned() },
        };
        if let (KeyState::Unavailable { reason }, true) = (&state, spec.essential) {
            missing_essential.push((key.clone(), reason.clone()));
        }
        record.sources.push(KeySource { key: spec.key, state });
    }
    if !missing_essential.is_empty() {
        return Err(GatherError::DataUnavailable(missing_essential));
    }
    Ok(record)
}

fn read_prefetch(spec: &'static KeySpec, raw: &RawValue, record: &mut PatientRecord) -> Result<KeyState, GatherError> {
    if raw.get().trim() == "null" {
        return Ok(KeyState::KnownEmpty);
    }
    let document = match fhir::parse_document(raw.get()) {
        Ok(document) => document,
        Err(unreadable) => {
            record.unreadable.push(fhir::Unreadable { location: format!("prefetch `{}`", spec.key), ..unreadable });
            return Ok(KeyState::Unavailable { reason: "the prefetch value could not be read".to_owned() });
        }
    };
    if document.top.resource_type == "OperationOutcome" {
        return Ok(KeyState::Unavailable { reason: "the client reported an error for it".to_owned() });
    }
    let resources = if document.top.resource_type == "Bundle" { document.resources } else { vec![document.top] };
    for resource in &resources {
        if !record.is_about_patient(resource) {
            return Err(GatherError::WrongPatient { key: spec.key.to_owned(), reference: resource.reference() });
        }
    }
    record.resources.extend(resources);
    record.unreadable.extend(document.unreadable);
    Ok(KeyState::Prefetched)
}
