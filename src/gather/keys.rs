//! The prefetch keys gathering understands: what each holds and whether a decision needs it.

use dvt_cds_core::cds_hooks::Discovery;
use dvt_cds_core::evidence::{RecordPart, Unusable};

use super::GatherError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    pub key: &'static str,
    pub resource_type: &'static str,
    /// Without it no decision can be made: 412 when it cannot be obtained. Other keys degrade the
    /// answer (the card says what could not be seen).
    pub essential: bool,
    /// The part of the record it holds: what the card says could not be seen when it is missing.
    pub part: RecordPart,
    /// Other resource types its Bundle may hold besides `resource_type`: what an `_include` adds.
    pub includes: &'static [&'static str],
}

pub const KEYS: [KeySpec; 7] = [
    KeySpec {
        key: "patient",
        resource_type: "Patient",
        essential: false,
        part: RecordPart::Demographics,
        includes: &[],
    },
    KeySpec {
        key: "conditions",
        resource_type: "Condition",
        essential: true,
        part: RecordPart::Diagnoses,
        includes: &[],
    },
    KeySpec {
        key: "observations",
        resource_type: "Observation",
        essential: false,
        part: RecordPart::LabsAndBloodPressure,
        includes: &[],
    },
    KeySpec {
        key: "medicationRequests",
        resource_type: "MedicationRequest",
        essential: false,
        part: RecordPart::MedicationOrders,
        includes: &["Medication"],
    },
    KeySpec {
        key: "medicationStatements",
        resource_type: "MedicationStatement",
        essential: false,
        part: RecordPart::MedicationHistory,
        includes: &["Medication"],
    },
    KeySpec {
        key: "procedures",
        resource_type: "Procedure",
        essential: false,
        part: RecordPart::Procedures,
        includes: &[],
    },
    KeySpec {
        key: "allergies",
        resource_type: "AllergyIntolerance",
        essential: false,
        part: RecordPart::Allergies,
        includes: &[],
    },
];

pub(super) fn spec(key: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|spec| spec.key == key)
}

/// The one rule for what a key may hold, prefetched or fetched: resources of its type (and what its
/// search may include), OperationOutcomes a searchset carries as warnings (dropped), and nothing else;
/// for an essential key, no resource that could not be read. `unreadable` counts the entries that
/// did not parse.
pub(super) fn usable(
    spec: &KeySpec,
    resources: Vec<super::fhir::Resource>,
    unreadable: usize,
) -> Result<Vec<super::fhir::Resource>, Unusable> {
    for resource in &resources {
        match resource.resource_type.as_str() {
            "" => return Err(Unusable::NotFhir),
            "OperationOutcome" => {}
            found if found == spec.resource_type || spec.includes.contains(&found) => {}
            _ => return Err(Unusable::OtherType(spec.resource_type)),
        }
    }
    if spec.essential && unreadable > 0 {
        return Err(Unusable::UnreadableResource(spec.resource_type));
    }
    // In place: a large Bundle's resources are not copied.
    let mut kept = resources;
    kept.retain(|resource| resource.resource_type != "OperationOutcome");
    Ok(kept)
}

/// Every prefetch key of every service must be one we read, for the resource type we expect, and
/// every service must declare the essential keys.
pub fn check_discovery(discovery: &Discovery) -> Result<(), GatherError> {
    for service in discovery.services() {
        for (key, template) in service.prefetch() {
            let spec = spec(key).ok_or_else(|| {
                GatherError::Discovery(format!(
                    "service `{}`: prefetch key `{key}` is not one gathering reads",
                    service.id()
                ))
            })?;
            if template.resource_type() != spec.resource_type {
                return Err(GatherError::Discovery(format!(
                    "service `{}`: prefetch `{key}` must read {}, not {}",
                    service.id(),
                    spec.resource_type,
                    template.resource_type()
                )));
            }
        }
        for essential in KEYS.iter().filter(|spec| spec.essential) {
            if !service.prefetch().iter().any(|(key, _)| key == essential.key) {
                return Err(GatherError::Discovery(format!(
                    "service `{}` must declare the prefetch key `{}`",
                    service.id(),
                    essential.key
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discovery(prefetch: &str) -> Discovery {
        Discovery::parse(&format!(
            r#"{{"services":[{{"id":"s","hook":"order-select","title":"T","description":"D","usageRequirements":"U","prefetch":{prefetch}}}]}}"#
        ))
        .unwrap()
    }

    fn of_types(types: &[&str]) -> Vec<super::super::fhir::Resource> {
        types
            .iter()
            .map(|t| super::super::fhir::Resource { resource_type: (*t).to_owned(), ..Default::default() })
            .collect()
    }

    #[test]
    fn one_rule_says_what_a_key_may_hold() {
        let conditions = spec("conditions").unwrap();
        let medications = spec("medicationRequests").unwrap();
        let observations = spec("observations").unwrap();
        let kept = |spec, types: &[&str], unreadable| usable(spec, of_types(types), unreadable).map(|r| r.len());
        assert_eq!(kept(conditions, &["Condition", "OperationOutcome", "Condition"], 0), Ok(2));
        assert_eq!(kept(medications, &["MedicationRequest", "Medication"], 0), Ok(2));
        assert_eq!(kept(conditions, &["Condition", "Medication"], 0), Err(Unusable::OtherType("Condition")));
        assert_eq!(kept(conditions, &["Observation"], 0), Err(Unusable::OtherType("Condition")));
        assert_eq!(kept(conditions, &[""], 0), Err(Unusable::NotFhir));
        // One broken entry: the essential key cannot be used; a nice-to-have keeps the rest (listed as unreadable).
        assert_eq!(kept(conditions, &["Condition"], 1), Err(Unusable::UnreadableResource("Condition")));
        assert_eq!(kept(observations, &["Observation"], 1), Ok(1));
    }

    #[test]
    fn unknown_keys_wrong_types_and_missing_essentials_are_refused() {
        assert!(check_discovery(&discovery(r#"{"conditions":"Condition?patient={{context.patientId}}"}"#)).is_ok());
        let unknown = check_discovery(&discovery(
            r#"{"conditions":"Condition?patient={{context.patientId}}","x":"Encounter?patient={{context.patientId}}"}"#,
        ));
        assert!(unknown.unwrap_err().to_string().contains("`x` is not one gathering reads"));
        let wrong = check_discovery(&discovery(r#"{"conditions":"Observation?patient={{context.patientId}}"}"#));
        assert!(wrong.unwrap_err().to_string().contains("must read Condition, not Observation"));
        let missing = check_discovery(&discovery(r#"{"patient":"Patient/{{context.patientId}}"}"#));
        assert!(missing.unwrap_err().to_string().contains("must declare the prefetch key `conditions`"));
    }
}
