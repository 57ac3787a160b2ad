//! What gathering obtained for one patient, and where each part came from.

use dvt_cds_core::evidence::{Unobtained, Unreadable};

use super::fhir::Resource;
use super::keys::KeySpec;

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
    pub spec: &'static KeySpec,
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
    /// Neither the client nor the FHIR server gave it, for `reason`.
    Unavailable { reason: Unobtained },
}

impl PatientRecord {
    pub fn new(patient_id: &str) -> PatientRecord {
        PatientRecord { patient_id: patient_id.to_owned(), ..PatientRecord::default() }
    }

    /// The keys that could not be obtained, with why.
    pub fn unavailable(&self) -> impl Iterator<Item = (&'static KeySpec, &Unobtained)> {
        self.sources.iter().filter_map(|source| match &source.state {
            KeyState::Unavailable { reason } => Some((source.spec, reason)),
            _ => None,
        })
    }

    /// Whether `resource` is about this record's patient (see [`is_about_patient`]).
    pub fn is_about_patient(&self, resource: &Resource) -> bool {
        is_about_patient(resource, &self.patient_id)
    }
}

/// Whether `resource` is about patient `patient_id`. A Patient must be that patient; other resources
/// must not name another patient (`Patient/x`, absolute, or with `_history`).
pub(crate) fn is_about_patient(resource: &Resource, patient_id: &str) -> bool {
    if resource.resource_type == "Patient" {
        return resource.id.as_deref().is_none_or(|id| id == patient_id);
    }
    match resource.patient_reference() {
        Some(reference) => reference_names_patient(reference, patient_id),
        None => true,
    }
}

/// `Patient/123`, `https://ehr/fhir/Patient/123` and `Patient/123/_history/2` all name patient `123`.
pub(crate) fn reference_names_patient(reference: &str, patient_id: &str) -> bool {
    local_reference(reference).is_some_and(|(resource_type, id)| resource_type == "Patient" && id == patient_id)
}

/// The `Type` and `id` a literal reference names, whatever its form: relative (`Condition/c1`), absolute
/// (`https://ehr/fhir/Condition/c1`) or versioned (`Condition/c1/_history/2`). `None` for a reference
/// without both parts (`c1`, `#contained`).
pub(crate) fn local_reference(reference: &str) -> Option<(&str, &str)> {
    let reference = match reference.find("/_history/") {
        Some(history) => reference.get(..history).unwrap_or(reference),
        None => reference,
    };
    let mut segments = reference.rsplit('/');
    match (segments.next(), segments.next()) {
        (Some(id), Some(resource_type)) if !id.is_empty() && !resource_type.is_empty() => Some((resource_type, id)),
        _ => None,
    }
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

    #[test]
    fn local_references_drop_the_base_and_the_version() {
        assert_eq!(local_reference("Condition/c1"), Some(("Condition", "c1")));
        assert_eq!(local_reference("https://ehr.example/fhir/Condition/c1"), Some(("Condition", "c1")));
        assert_eq!(local_reference("Condition/c1/_history/2"), Some(("Condition", "c1")));
        assert_eq!(local_reference("https://ehr.example/fhir/Condition/c1/_history/2"), Some(("Condition", "c1")));
        assert_eq!(local_reference("c1"), None);
        assert_eq!(local_reference("#med1"), None);
        assert_eq!(local_reference("Condition/"), None);
    }

    #[test]
    fn a_resource_is_about_the_patient_unless_it_names_another() {
        let resource = |json: &str| serde_json::from_str::<Resource>(json).unwrap();
        assert!(is_about_patient(&resource(r#"{"resourceType":"Patient","id":"p1"}"#), "p1"));
        assert!(!is_about_patient(&resource(r#"{"resourceType":"Patient","id":"p2"}"#), "p1"));
        assert!(is_about_patient(&resource(r#"{"resourceType":"Medication","id":"m1"}"#), "p1"));
        let condition = r#"{"resourceType":"Condition","subject":{"reference":"Patient/p2/_history/1"}}"#;
        assert!(!is_about_patient(&resource(condition), "p1"));
        assert!(is_about_patient(&resource(condition), "p2"));
    }
}
