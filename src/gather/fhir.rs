//! FHIR R4 JSON as we read it: our own tolerant structs, not a FHIR library.
//!
//! One struct, [`Resource`], holds the fields we use of every resource type we read (Patient,
//! Condition, Observation, MedicationRequest, MedicationStatement, Procedure, AllergyIntolerance,
//! ServiceRequest, DeviceRequest, Bundle, OperationOutcome, CapabilityStatement), so a searchset
//! Bundle parses in one pass with no buffering. Unknown fields are skipped; every field is optional.
//! Fields that share a name across types share a shape, or accept both shapes (`bodySite`).
//! Dates stay strings here; `evidence` parses them explicitly.
//!
//! A document that does not parse as a whole is parsed again entry by entry, so one broken resource
//! is reported (see [`Unreadable`]) instead of losing its whole Bundle.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use dvt_cds_core::evidence::{JsonProblem, Unreadable, UnreadableProblem};

/// Any resource we read; only the fields of its own type are present. Structured fields are boxed, so
/// an absent one costs a pointer: a large Bundle holds thousands of these, most fields empty.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Resource {
    pub resource_type: String,
    pub id: Option<String>,
    pub meta: Option<Box<Meta>>,
    /// Extensions that change the meaning of the resource. We understand none, so a resource with one is not
    /// used (FHIR R4 §2.4: a system that does not understand a modifier extension must not use the resource).
    #[serde(deserialize_with = "one_or_many")]
    pub modifier_extension: Vec<Extension>,
    /// Resources contained in this one (`#id` references), such as a MedicationRequest's Medication.
    #[serde(deserialize_with = "one_or_many")]
    pub contained: Vec<Resource>,

    /// The patient the resource is about (most clinical resources).
    pub subject: Option<Reference>,
    /// The patient the resource is about (AllergyIntolerance).
    pub patient: Option<Reference>,
    pub status: Option<String>,
    pub code: Option<Box<CodeableConcept>>,

    // Patient.
    pub gender: Option<String>,
    pub birth_date: Option<String>,

    // Condition, AllergyIntolerance.
    pub clinical_status: Option<Box<CodeableConcept>>,
    pub verification_status: Option<Box<CodeableConcept>>,
    pub severity: Option<Box<CodeableConcept>>,
    /// An array on Condition, Procedure and ServiceRequest, a single value on Observation.
    #[serde(deserialize_with = "one_or_many")]
    pub body_site: Vec<CodeableConcept>,
    pub onset_date_time: Option<String>,
    pub onset_period: Option<Box<Period>>,
    pub onset_age: Option<Box<Quantity>>,
    pub onset_string: Option<String>,
    pub abatement_date_time: Option<String>,
    pub abatement_period: Option<Box<Period>>,
    pub abatement_age: Option<Box<Quantity>>,
    pub abatement_string: Option<String>,
    pub abatement_boolean: Option<bool>,
    pub recorded_date: Option<String>,

    // Observation.
    pub effective_date_time: Option<String>,
    pub effective_period: Option<Box<Period>>,
    pub effective_instant: Option<String>,
    pub issued: Option<String>,
    pub value_quantity: Option<Box<Quantity>>,
    pub value_codeable_concept: Option<Box<CodeableConcept>>,
    pub value_string: Option<String>,
    pub value_boolean: Option<bool>,
    #[serde(deserialize_with = "one_or_many")]
    pub interpretation: Vec<CodeableConcept>,
    #[serde(deserialize_with = "one_or_many")]
    pub component: Vec<Component>,

    // MedicationRequest, MedicationStatement.
    pub medication_codeable_concept: Option<Box<CodeableConcept>>,
    pub medication_reference: Option<Reference>,
    pub authored_on: Option<String>,

    // Procedure.
    pub performed_date_time: Option<String>,
    pub performed_period: Option<Box<Period>>,

    // ServiceRequest, DeviceRequest.
    #[serde(deserialize_with = "one_or_many")]
    pub reason_code: Vec<CodeableConcept>,
    #[serde(deserialize_with = "one_or_many")]
    pub reason_reference: Vec<Reference>,
    pub code_codeable_concept: Option<Box<CodeableConcept>>,

    // AllergyIntolerance.
    #[serde(deserialize_with = "one_or_many")]
    pub reaction: Vec<Reaction>,

    // Bundle.
    #[serde(deserialize_with = "one_or_many")]
    pub link: Vec<BundleLink>,
    #[serde(deserialize_with = "one_or_many")]
    pub entry: Vec<BundleEntry>,

    // CapabilityStatement.
    pub fhir_version: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Meta {
    pub last_updated: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Extension {
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Reference {
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct CodeableConcept {
    #[serde(deserialize_with = "one_or_many")]
    pub coding: Vec<Coding>,
    pub text: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Coding {
    pub system: Option<String>,
    pub code: Option<String>,
    pub display: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Quantity {
    pub value: Option<f64>,
    pub unit: Option<String>,
    pub code: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Period {
    pub start: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Component {
    pub code: Option<CodeableConcept>,
    pub value_quantity: Option<Quantity>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Reaction {
    pub substance: Option<CodeableConcept>,
}

/// `Bundle.link`; `Patient.link` has the same name and parses into it harmlessly (its fields stay empty).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct BundleLink {
    pub relation: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct BundleEntry {
    pub resource: Option<Resource>,
}

/// A parsed document: its resources (a Bundle's entries, or the resource itself) and the ones that
/// could not be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    /// The top-level resource; for a Bundle its `entry` has been moved into `resources`.
    pub top: Resource,
    pub resources: Vec<Resource>,
    pub unreadable: Vec<Unreadable>,
}

impl Resource {
    /// `Type/id`, or the type alone when the resource has no id.
    pub fn reference(&self) -> String {
        match &self.id {
            Some(id) => format!("{}/{id}", self.resource_type),
            None => self.resource_type.clone(),
        }
    }

    /// Where the resource says which patient it is about.
    pub fn patient_reference(&self) -> Option<&str> {
        self.subject.as_ref().or(self.patient.as_ref()).and_then(|reference| reference.reference.as_deref())
    }
}

impl CodeableConcept {
    /// Codings with both a system and a code (the sandbox sends `{}` before a study is picked), the system
    /// as its canonical URL whatever form the record wrote (`urn:oid:2.16.840.1.113883.6.90` is ICD-10-CM).
    pub fn codes(&self) -> impl Iterator<Item = (&str, &str, Option<&str>)> {
        self.coding.iter().filter_map(|coding| match (coding.system.as_deref(), coding.code.as_deref()) {
            (Some(system), Some(code)) if !system.is_empty() && !code.trim().is_empty() => {
                Some((dvt_cds_core::knowledge::canonical_system(system), code.trim(), coding.display.as_deref()))
            }
            _ => None,
        })
    }

    /// The human text: `text`, else the first coding's display.
    pub fn label(&self) -> Option<&str> {
        self.text.as_deref().or_else(|| self.coding.iter().find_map(|coding| coding.display.as_deref()))
    }

    /// True when any coding of `system` has `code`.
    pub fn has(&self, system: &str, code: &str) -> bool {
        self.codes().any(|(s, c, _)| s == system && c == code)
    }
}

/// Parses a prefetch value or a FHIR server response.
pub fn parse_document(json: &str) -> Result<Document, Unreadable> {
    match serde_json::from_str::<Resource>(json) {
        Ok(mut top) => {
            let resources = std::mem::take(&mut top.entry).into_iter().filter_map(|entry| entry.resource).collect();
            Ok(Document { top, resources, unreadable: Vec::new() })
        }
        Err(whole_error) => parse_entry_by_entry(json)
            .ok_or_else(|| Unreadable { location: "document".to_owned(), problem: describe(&whole_error) }),
    }
}

/// The slow path: a Bundle whose entries are read one at a time.
fn parse_entry_by_entry(json: &str) -> Option<Document> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct LooseBundle<'a> {
        resource_type: String,
        #[serde(default)]
        link: Vec<BundleLink>,
        #[serde(default, borrow)]
        entry: Vec<LooseEntry<'a>>,
    }
    #[derive(Deserialize)]
    struct LooseEntry<'a> {
        #[serde(borrow)]
        resource: Option<&'a RawValue>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Identity {
        resource_type: Option<String>,
        id: Option<String>,
    }

    let bundle: LooseBundle<'_> = serde_json::from_str(json).ok()?;
    if bundle.resource_type != "Bundle" {
        return None;
    }
    let mut document = Document {
        top: Resource { resource_type: bundle.resource_type, link: bundle.link, ..Resource::default() },
        ..Document::default()
    };
    for (index, entry) in bundle.entry.into_iter().enumerate() {
        let Some(raw) = entry.resource else { continue };
        match serde_json::from_str::<Resource>(raw.get()) {
            Ok(resource) => document.resources.push(resource),
            Err(error) => {
                let identity = serde_json::from_str::<Identity>(raw.get()).ok();
                let location = match identity {
                    Some(Identity { resource_type: Some(resource_type), id: Some(id) }) => {
                        format!("{resource_type}/{id}")
                    }
                    Some(Identity { resource_type: Some(resource_type), id: None }) => {
                        format!("entry[{index}] ({resource_type})")
                    }
                    _ => format!("entry[{index}]"),
                };
                document.unreadable.push(Unreadable { location, problem: describe(&error) });
            }
        }
    }
    Some(document)
}

/// A serde error without its message, which can quote the data (a patient's name, say): its category,
/// line and column.
pub(super) fn describe(error: &serde_json::Error) -> UnreadableProblem {
    let kind = match error.classify() {
        serde_json::error::Category::Io => JsonProblem::Io,
        serde_json::error::Category::Syntax => JsonProblem::Syntax,
        serde_json::error::Category::Data => JsonProblem::Data,
        serde_json::error::Category::Eof => JsonProblem::Eof,
    };
    UnreadableProblem::Json { kind, line: error.line(), column: error.column() }
}

/// Deserializes either one `T` or an array of `T` into a Vec; `null` gives an empty Vec.
/// Used on every array field: real EHR data has `"coding": null` and single objects where arrays belong.
fn one_or_many<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct OneOrMany<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for OneOrMany<T> {
        type Value = Vec<T>;

        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            formatter.write_str("an object or an array of objects")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(1));
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(items)
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Vec<T>, A::Error> {
            Ok(vec![T::deserialize(MapAccessDeserializer::new(map))?])
        }

        fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
    }

    deserializer.deserialize_any(OneOrMany(PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_searchset_bundle_parses_in_one_pass_with_unknown_fields_skipped() {
        let json = r#"{"resourceType":"Bundle","type":"searchset","total":2,
            "link":[{"relation":"next","url":"https://ehr/fhir/Condition?page=2"}],
            "entry":[
              {"fullUrl":"https://ehr/fhir/Condition/c1","resource":{"resourceType":"Condition","id":"c1",
                "extension":[{"url":"x","valueString":"y"}],"text":{"status":"generated","div":"<div/>"},
                "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},
                "code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"I82.422"}]},
                "bodySite":[{"text":"left common femoral vein"}],
                "subject":{"reference":"Patient/p1"},"onsetDateTime":"2026-11-20"}},
              {"resource":{"resourceType":"Observation","id":"o1","status":"final",
                "code":{"coding":[{"system":"http://loinc.org","code":"777-3"}]},
                "bodySite":{"text":"arm"},"valueQuantity":{"value":210,"unit":"10*3/uL"},
                "subject":{"reference":"Patient/p1"}}}]}"#;
        let document = parse_document(json).unwrap();
        assert_eq!(document.top.resource_type, "Bundle");
        assert_eq!(document.top.link[0].url.as_deref(), Some("https://ehr/fhir/Condition?page=2"));
        assert_eq!(document.resources.len(), 2);
        let condition = &document.resources[0];
        assert_eq!(condition.reference(), "Condition/c1");
        assert!(condition.code.as_ref().unwrap().has("http://hl7.org/fhir/sid/icd-10-cm", "I82.422"));
        assert_eq!(condition.body_site[0].text.as_deref(), Some("left common femoral vein"));
        assert_eq!(condition.patient_reference(), Some("Patient/p1"));
        let observation = &document.resources[1];
        assert_eq!(observation.body_site.len(), 1);
        assert_eq!(observation.value_quantity.as_ref().unwrap().value, Some(210.0));
        assert!(document.unreadable.is_empty());
    }

    #[test]
    fn one_broken_entry_is_reported_and_the_others_kept() {
        let json = r#"{"resourceType":"Bundle","entry":[
            {"resource":{"resourceType":"Condition","id":"ok"}},
            {"resource":{"resourceType":"Condition","id":"bad","severity":"Jane Doe is severe"}},
            {"resource":{"resourceType":"Observation","valueQuantity":{"value":"7.5"}}}]}"#;
        let document = parse_document(json).unwrap();
        assert_eq!(document.resources.len(), 1);
        assert_eq!(document.resources[0].reference(), "Condition/ok");
        assert_eq!(document.unreadable.len(), 2);
        assert_eq!(document.unreadable[0].location, "Condition/bad");
        assert_eq!(document.unreadable[1].location, "entry[2] (Observation)");
        // The problem is a kind and a place, never the data.
        assert_eq!(
            document.unreadable[0].problem,
            UnreadableProblem::Json { kind: JsonProblem::Data, line: 1, column: 70 }
        );
    }

    #[test]
    fn a_broken_single_resource_or_garbage_is_one_unreadable() {
        let broken = parse_document(r#"{"resourceType":"Patient","birthDate":19800101}"#).unwrap_err();
        assert_eq!(broken.location, "document");
        assert!(parse_document("<html>").is_err());
        assert!(parse_document(r#"{"resourceType":"Bundle","entry":[{"resource":"#).is_err());
    }

    #[test]
    fn sandbox_placeholders_parse_to_nothing_usable() {
        let json = r#"{"resourceType":"ServiceRequest","id":"x","code":{"coding":[{}]},"reasonCode":[],
            "bodySite":null,"reasonReference":{"reference":"Condition/1"},"category":[{"coding":null}]}"#;
        let document = parse_document(json).unwrap();
        assert_eq!(document.top.code.as_ref().unwrap().codes().count(), 0);
        assert!(document.top.reason_code.is_empty() && document.top.body_site.is_empty());
        assert_eq!(document.top.reason_reference[0].reference.as_deref(), Some("Condition/1"));
    }
}
