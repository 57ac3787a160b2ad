//! The prefetch keys gathering understands: what each holds and whether a decision needs it.

use crate::cds_hooks::Discovery;

use super::GatherError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    pub key: &'static str,
    pub resource_type: &'static str,
    /// Without it no decision can be made: 412 when it cannot be obtained. Other keys degrade the
    /// answer (the card says what could not be seen).
    pub essential: bool,
    /// What the clinician loses when it is missing, in card wording.
    pub contents: &'static str,
}

pub const KEYS: [KeySpec; 7] = [
    KeySpec { key: "patient", resource_type: "Patient", essential: false, contents: "the patient's age and sex" },
    KeySpec { key: "conditions", resource_type: "Condition", essential: true, contents: "diagnoses" },
    KeySpec {
        key: "observations",
        resource_type: "Observation",
        essential: false,
        contents: "laboratory results and blood pressure (platelets, INR, haemoglobin, creatinine, eGFR, hCG)",
    },
    KeySpec {
        key: "medicationRequests",
        resource_type: "MedicationRequest",
        essential: false,
        contents: "medication orders (anticoagulants, antiplatelets, thrombolytics)",
    },
    KeySpec {
        key: "medicationStatements",
        resource_type: "MedicationStatement",
        essential: false,
        contents: "medication history",
    },
    KeySpec {
        key: "procedures",
        resource_type: "Procedure",
        essential: false,
        contents: "procedures (recent surgery, earlier thrombus removal or stenting)",
    },
    KeySpec {
        key: "allergies",
        resource_type: "AllergyIntolerance",
        essential: false,
        contents: "allergies (contrast, thrombolytics)",
    },
];

pub(super) fn spec(key: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|spec| spec.key == key)
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
