//! What gathering obtained for one patient, and where each part came from.

use super::fhir::{Resource, Unreadable};

/// The patient's resources from every key, the state of each key, and what could not be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatientRecord {
    pub patient_id: String,
    pub resources: Vec<Resource>,
    pub sources: Vec<KeySource>,
    pub unreadable: Vec<Unreadable>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySource {
    pub key: &'static str,
    pub state: KeyState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// The client sent it.
    Prefetched,
    /// The client sent `null`: it knows there is nothing.
    KnownEmpty,
    /// We read it from the FHIR server; `reused` when it came from an earlier hook's gathering.
    Fetched { reused: bool },
    /// Neither the client nor the FHIR server gave it; `reason` says why, in card wording.
    Unavailable { reason: String },
}

impl PatientRecord {
    pub fn new(patient_id: &str) -> PatientRecord {
        PatientRecord { patient_id: patient_id.to_owned(), ..PatientRecord::default() }
    }

    /// The keys that could not be obtained, with why.
    pub fn unavailable(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.sources.iter().filter_map(|source| match &source.state {
            KeyState::Unavailable { reason } => Some((source.key, reason.as_str())),
            _ => None,
        })
    }

    /// Whether `resource` is about this record's patient. A Patient must be that patient; other
    /// resources must not name another patient (`Patient/x`, absolute, or with `_history`).
    pub fn is_about_patient(&self, resource: &Resource) -> bool {
        if resource.resource_type == "Patient" {
            return resource.id.as_deref().is_none_or(|id| id == self.patient_id);
        }
        match resource.patient_reference() {
            Some(reference) => reference_names_patient(reference, &self.patient_id),
            None => true,
        }
    }
}

/// `Patient/123`, `https://ehr/fhir/Patient/123` and `Patient/123/_history/2` all name patient `123`.
pub(crate) fn reference_names_patient(reference: &str, patient_id: &str) -> bool {
    let reference = match reference.find("/_history/") {
        Some(history) => reference.get(..history).unwrap_or(reference),
        None => reference,
    };
    let mut segments = reference.rsplit('/');
    matches!((segments.next(), segments.next()), (Some(id), Some("Patient")) if id == patient_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patient_references_in_every_form_are_recognised() {
        assert!(reference_names_patient("Patient/123", "123"));
        assert!(reference_names_patient("https://ehr.example/fhir/Patient/123", "123"));
        assert!(reference_names_patient("Patient/123/_history/4", "123"));
        assert!(!reference_names_patient("Patient/1234", "123"));
        assert!(!reference_names_patient("Group/123", "123"));
        assert!(!reference_names_patient("123", "123"));
    }
}
