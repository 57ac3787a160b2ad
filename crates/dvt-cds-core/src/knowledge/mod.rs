//! The knowledge base (ACR variants and ratings, procedure codes, value sets, thresholds, safety flags),
//! loaded from the `knowledge/` files embedded in the binary and validated once at start-up.
//!
//! Every row names its source (`knowledge/sources.toml`). Loading fails, with the file and the row, on an
//! unknown id, a duplicate code, a variant without rows, or a reference to nothing; after that, lookups
//! cannot fail.

mod files;
mod load;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

pub use crate::classify::Category;
use crate::classify::{Criteria, Variant};
use crate::evidence::{Concept, DrugGroup, DvtCode, Lab, Match, MedicationClass, ProcedureKind};
use crate::ids::ProcedureId;

use files::Files;

/// The loaded, validated knowledge.
#[derive(Debug, Clone)]
pub struct KnowledgeBase {
    sources: BTreeMap<String, Source>,
    topics: BTreeMap<u32, Topic>,
    variants: BTreeMap<Variant, VariantRows>,
    /// Procedure id → the topics that rate it, in topic order (from `variants`, at load).
    procedure_topics: HashMap<ProcedureId, Vec<u32>>,
    procedures: BTreeMap<ProcedureId, Procedure>,
    /// (system URI, normalised code) → the procedures an order with that code means.
    procedure_codes: HashMap<(String, String), Vec<ProcedureId>>,
    condition_codes: HashMap<(String, String), Vec<ConceptMatch>>,
    condition_prefixes: Vec<(String, String, ConceptMatch)>,
    condition_texts: Vec<(String, Concept)>,
    /// Phrases that name a concept but are only reported, never used (`text_only` in the value-set files).
    text_only: Vec<(String, Concept)>,
    /// How many codes (exact or prefix) each concept has, published and hand-made.
    concept_counts: HashMap<Concept, usize>,
    /// The published value sets the codes come from.
    value_sets: Vec<PublishedValueSet>,
    medications: HashMap<String, (MedicationClass, Option<DrugGroup>)>,
    /// Ingredient and brand names of each class (from the displays of its ingredient and branded codes),
    /// lower case, to recognise a medication written as text.
    medication_names: Vec<(String, MedicationClass)>,
    thrombolytic_allergy_codes: Vec<String>,
    contrast_texts: Vec<String>,
    labs: HashMap<String, Lab>,
    lab_units: HashMap<Lab, String>,
    /// (lab, unit key) → the factor to the lab's compared unit.
    lab_factors: HashMap<(Lab, String), f64>,
    egfr_equation: EgfrEquation,
    /// Our display of every code the files list, for records that send a code without one.
    displays: HashMap<(String, String), String>,
    blood_pressure_panels: Vec<String>,
    interpretation: Interpretation,
    unchecked: Vec<Unchecked>,
    plan: Vec<PlanItem>,
    criteria: Criteria,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub id: String,
    /// A few words for cards: "SIR 2014 (Vedantham, JVIR)".
    pub short: String,
    pub citation: String,
    pub supports: String,
    /// V, C or U for sources the reference does not list (reference §0 legend).
    pub status: Option<CodeStatus>,
}

/// An ACR topic, as `acr.toml` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    pub id: u32,
    pub title: String,
    pub panel: String,
    pub year: u32,
    pub citation: String,
    pub url: String,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VariantRows {
    pub variant: Variant,
    /// This service's few-word name of the variant, for card summaries.
    pub short: String,
    /// ACR's own wording of the variant.
    pub text: String,
    pub source: String,
    /// The procedure rows in ACR's order.
    pub rows: Vec<Rating>,
}

/// One procedure row of a variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rating {
    pub procedure: ProcedureId,
    /// ACR's wording of the row.
    pub wording: String,
    pub category: Category,
    /// Relative radiation level as ACR prints it, `n/a`, or `unknown`.
    pub rrl: String,
    /// Procedures the row rates along with its own when drafted together.
    pub covers: Vec<ProcedureId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Procedure {
    pub id: ProcedureId,
    /// The name card summaries use: "CDT/PMT".
    pub short: String,
    pub display: String,
    pub kind: ProcedureKind,
    pub contrast: bool,
    /// An order code to propose it with, when one is verified (the first verified CPT, else SNOMED CT).
    pub order_code: Option<OrderCode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderCode {
    pub system: String,
    pub code: String,
    pub display: String,
}

/// A published value set (VSAC expansion), as `value-sets/published.toml` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedValueSet {
    /// `concept`, `medication` or `lab`.
    pub target: String,
    /// The concept, medication class or lab it serves.
    pub id: String,
    pub file: String,
    pub title: String,
    pub oid: String,
    pub version: String,
    pub repository: String,
    pub commit: String,
    pub path: String,
    /// Codes of the set this service uses, of `published`.
    pub kept: usize,
    pub published: usize,
}

/// The CKD-EPI 2021 creatinine equation (race-free), as `labs.toml` gives its coefficients.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EgfrEquation {
    pub constant: f64,
    pub exponent_above: f64,
    pub age_base: f64,
    pub female_factor: f64,
    pub kappa_female: f64,
    pub kappa_male: f64,
    pub alpha_female: f64,
    pub alpha_male: f64,
    pub minimum_age: f64,
}

impl EgfrEquation {
    /// eGFR in mL/min/1.73 m2 from serum creatinine in mg/dL, age in years and sex; `None` under the minimum age
    /// or for a creatinine that is not a positive number.
    pub fn egfr(&self, creatinine_mg_dl: f64, age_years: f64, female: bool) -> Option<f64> {
        if !(creatinine_mg_dl.is_finite() && creatinine_mg_dl > 0.0) || age_years < self.minimum_age {
            return None;
        }
        let (kappa, alpha) =
            if female { (self.kappa_female, self.alpha_female) } else { (self.kappa_male, self.alpha_male) };
        let ratio = creatinine_mg_dl / kappa;
        let sex = if female { self.female_factor } else { 1.0 };
        Some(
            self.constant
                * ratio.min(1.0).powf(alpha)
                * ratio.max(1.0).powf(self.exponent_above)
                * self.age_base.powf(age_years)
                * sex,
        )
    }
}

/// A unit as compared: no spaces, lower case, the micro sign as `u`.
pub(crate) fn unit_key(unit: &str) -> String {
    unit.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase().replace(['µ', 'μ'], "u")
}

/// What a condition code means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConceptMatch {
    pub concept: Concept,
    pub dvt: Option<DvtCode>,
    pub matched_by: Match,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpretation {
    pub positive_codes: Vec<String>,
    pub negative_codes: Vec<String>,
    pub positive_texts: Vec<String>,
    pub negative_texts: Vec<String>,
}

/// One step of the plan after thrombus removal or stenting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanItem {
    pub id: String,
    pub applies: PlanApplies,
    pub text: String,
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanApplies {
    Always,
    /// Only when a stent is placed.
    Stent,
    /// Only when the DVT was unprovoked.
    Unprovoked,
}

/// A contraindication the record cannot show with the codes we know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unchecked {
    pub label: String,
    /// A few words for the one-line list on lysis cards.
    pub short: String,
    pub class: crate::classify::FlagClass,
    pub source: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    /// `line` is the line of the offending value when reading the file found it (bad TOML, an unknown field,
    /// an unknown id, a value of the wrong type), else the line the offending row starts on; a check across
    /// rows names the row it found wanting, and only a thing that is absent (a variant with no rows) has none.
    #[error("knowledge file `{file}`{}: {message}", .line.map(|line| format!(", line {line}")).unwrap_or_default())]
    Invalid { file: String, line: Option<usize>, message: String },
    #[error("threshold `{id}`: {message}")]
    Override { id: String, message: String },
}

/// How sure the reference is of a code or fact (its §0 legend): verified, confirmed from a secondary
/// source, or unverified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum CodeStatus {
    V,
    C,
    U,
}

/// The code systems the knowledge files use, by the short names the files give them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
pub enum CodeSystem {
    #[serde(rename = "icd-10-cm")]
    Icd10Cm,
    #[serde(rename = "snomed")]
    Snomed,
    #[serde(rename = "loinc")]
    Loinc,
    #[serde(rename = "rxnorm")]
    RxNorm,
    #[serde(rename = "cpt")]
    Cpt,
}

impl CodeSystem {
    pub const ALL: [CodeSystem; 5] =
        [CodeSystem::Icd10Cm, CodeSystem::Snomed, CodeSystem::Loinc, CodeSystem::RxNorm, CodeSystem::Cpt];

    /// The canonical URL (FHIR R4 terminologies-systems.html).
    pub fn uri(self) -> &'static str {
        match self {
            CodeSystem::Icd10Cm => ICD10CM,
            CodeSystem::Snomed => SNOMED,
            CodeSystem::Loinc => LOINC,
            CodeSystem::RxNorm => RXNORM,
            CodeSystem::Cpt => CPT,
        }
    }

    /// As clinicians write it.
    pub fn name(self) -> &'static str {
        match self {
            CodeSystem::Icd10Cm => "ICD-10-CM",
            CodeSystem::Snomed => "SNOMED CT",
            CodeSystem::Loinc => "LOINC",
            CodeSystem::RxNorm => "RxNorm",
            CodeSystem::Cpt => "CPT",
        }
    }
}

/// Other spellings of the code systems above that records use: the HL7 OIDs (FHIR R4 "Using Codes",
/// terminologies-systems.html lists each system's OID), an `http://snomed.info/sct/{module}` edition URI, and
/// a trailing slash or upper case in the URL. Matched after trimming and lower-casing.
const SYSTEM_ALIASES: [(&str, &str); 9] = [
    ("urn:oid:2.16.840.1.113883.6.90", ICD10CM),
    ("urn:oid:2.16.840.1.113883.6.96", SNOMED),
    ("urn:oid:2.16.840.1.113883.6.1", LOINC),
    ("urn:oid:2.16.840.1.113883.6.88", RXNORM),
    ("urn:oid:2.16.840.1.113883.6.12", CPT),
    ("2.16.840.1.113883.6.90", ICD10CM),
    ("2.16.840.1.113883.6.96", SNOMED),
    ("2.16.840.1.113883.6.1", LOINC),
    ("2.16.840.1.113883.6.88", RXNORM),
];

/// The canonical URL of a code system the knowledge knows, whatever form the record wrote it in; any other
/// system unchanged.
pub fn canonical_system(system: &str) -> &str {
    let trimmed = system.trim();
    let lowered = trimmed.trim_end_matches('/').to_ascii_lowercase();
    if let Some(system) = CodeSystem::ALL.iter().find(|system| system.uri().eq_ignore_ascii_case(&lowered)) {
        return system.uri();
    }
    if let Some((_, uri)) = SYSTEM_ALIASES.iter().find(|(alias, _)| *alias == lowered) {
        return uri;
    }
    // A SNOMED CT edition or version URI (`http://snomed.info/sct/731000124108/version/20230301`).
    if lowered.starts_with("http://snomed.info/sct/") {
        return SNOMED;
    }
    if lowered == "2.16.840.1.113883.6.12" {
        return CPT;
    }
    trimmed
}

pub const ICD10CM: &str = "http://hl7.org/fhir/sid/icd-10-cm";
pub const SNOMED: &str = "http://snomed.info/sct";
pub const LOINC: &str = "http://loinc.org";
pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
pub const CPT: &str = "http://www.ama-assn.org/go/cpt";
/// SNOMED CT laterality qualifiers (`bodySite` codings): left, right, right and left.
pub const LATERALITY_CODES: [(&str, crate::evidence::Laterality); 3] = [
    ("7771000", crate::evidence::Laterality::Left),
    ("24028007", crate::evidence::Laterality::Right),
    ("51440002", crate::evidence::Laterality::Bilateral),
];
/// SNOMED CT severity qualifiers of the FHIR condition-severity value set.
pub const SEVERITY_CODES: [(&str, crate::evidence::Severity); 3] = [
    ("255604002", crate::evidence::Severity::Mild),
    ("6736007", crate::evidence::Severity::Moderate),
    ("24484000", crate::evidence::Severity::Severe),
];
pub const OBSERVATION_INTERPRETATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";

/// Procedure id → the topics whose variants rate it, in the variants' (topic) order, each once.
fn procedure_topics(variants: &BTreeMap<Variant, VariantRows>) -> HashMap<ProcedureId, Vec<u32>> {
    let mut topics: HashMap<ProcedureId, Vec<u32>> = HashMap::new();
    for rows in variants.values() {
        let topic = rows.variant.topic();
        for row in &rows.rows {
            let rating = topics.entry(row.procedure.clone()).or_default();
            if !rating.contains(&topic) {
                rating.push(topic);
            }
        }
    }
    topics
}

/// ICD-10-CM codes are compared without the dot and in capitals (`I82.422` = `i82422`).
pub(crate) fn normalize(system: &str, code: &str) -> String {
    if system == ICD10CM { code.trim().replace('.', "").to_ascii_uppercase() } else { code.trim().to_owned() }
}

/// The text of every embedded knowledge file, in a fixed order: what a knowledge version is made of.
pub fn embedded_texts() -> Vec<String> {
    Files::embedded().texts().into_iter().map(str::to_owned).collect()
}

impl KnowledgeBase {
    /// The knowledge embedded in the binary, with the documented defaults.
    pub fn embedded() -> Result<KnowledgeBase, KnowledgeError> {
        load::load(&Files::embedded(), &[])
    }

    /// The embedded knowledge with configured values for thresholds that no source fixes.
    pub fn embedded_with(overrides: &[(String, f64)]) -> Result<KnowledgeBase, KnowledgeError> {
        load::load(&Files::embedded(), overrides)
    }

    pub fn criteria(&self) -> &Criteria {
        &self.criteria
    }

    pub fn topic(&self, id: u32) -> Option<&Topic> {
        self.topics.get(&id)
    }

    pub fn variant(&self, variant: Variant) -> Option<&VariantRows> {
        self.variants.get(&variant)
    }

    /// The row of `procedure` in `variant`, if the variant rates it.
    pub fn rating(&self, variant: Variant, procedure: &ProcedureId) -> Option<&Rating> {
        self.variants.get(&variant)?.rows.iter().find(|row| row.procedure == *procedure)
    }

    /// The topics that rate `procedure`, in topic order.
    pub fn topics_rating(&self, procedure: &ProcedureId) -> &[u32] {
        self.procedure_topics.get(procedure).map_or(&[], Vec::as_slice)
    }

    pub fn procedure(&self, id: &ProcedureId) -> Option<&Procedure> {
        self.procedures.get(id)
    }

    /// The procedures an order code means.
    pub fn procedures_for_code(&self, system: &str, code: &str) -> &[ProcedureId] {
        self.procedure_codes.get(&(system.to_owned(), normalize(system, code))).map_or(&[], Vec::as_slice)
    }

    /// Every concept a condition code means: exact codes and ICD-10-CM prefixes.
    pub fn concepts_for_code(&self, system: &str, code: &str) -> Vec<ConceptMatch> {
        let normalized = normalize(system, code);
        let mut matches: Vec<ConceptMatch> =
            self.condition_codes.get(&(system.to_owned(), normalized.clone())).cloned().unwrap_or_default();
        for (prefix_system, prefix, concept) in &self.condition_prefixes {
            if prefix_system == system && normalized.starts_with(prefix.as_str()) && !matches.contains(concept) {
                matches.push(*concept);
            }
        }
        matches
    }

    /// How many codes a concept has (published and hand-made; an ICD-10-CM prefix counts once).
    pub fn concept_code_count(&self, concept: Concept) -> usize {
        self.concept_counts.get(&concept).copied().unwrap_or(0)
    }

    /// The published value sets the knowledge uses, in file order.
    pub fn value_sets(&self) -> &[PublishedValueSet] {
        &self.value_sets
    }

    /// Concepts with no verified code, named in `text`.
    pub fn concepts_for_text(&self, text: &str) -> Vec<Concept> {
        let text = text.to_lowercase();
        let mut concepts: Vec<Concept> =
            self.condition_texts.iter().filter(|(phrase, _)| text.contains(phrase.as_str())).map(|(_, c)| *c).collect();
        concepts.dedup();
        concepts
    }

    /// The concept a Condition's text names when none of its codes is known, to report, not to use.
    pub fn text_only_concept(&self, text: &str) -> Option<Concept> {
        let text = text.to_lowercase();
        self.text_only.iter().find(|(phrase, _)| text.contains(phrase.as_str())).map(|(_, concept)| *concept)
    }

    /// The class a medication's text names by an ingredient or brand name of ours, as a whole word.
    pub fn medication_named_in(&self, text: &str) -> Option<MedicationClass> {
        let text = text.to_lowercase();
        let words: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
        self.medication_names.iter().find(|(name, _)| words.contains(&name.as_str())).map(|(_, class)| *class)
    }

    /// The class of an RxNorm code, and its anticoagulant group if it has one.
    pub fn medication(&self, code: &str) -> Option<(MedicationClass, Option<DrugGroup>)> {
        self.medications.get(code.trim()).copied()
    }

    pub fn is_thrombolytic_allergy_code(&self, code: &str) -> bool {
        self.thrombolytic_allergy_codes.iter().any(|known| known == code.trim())
    }

    pub fn names_contrast(&self, text: &str) -> bool {
        let text = text.to_lowercase();
        self.contrast_texts.iter().any(|phrase| text.contains(phrase.as_str()))
    }

    pub fn lab(&self, code: &str) -> Option<Lab> {
        self.labs.get(code.trim()).copied()
    }

    /// Our display for a code, when the files list it.
    pub fn display(&self, system: &str, code: &str) -> Option<&str> {
        self.displays.get(&(system.to_owned(), normalize(system, code))).map(String::as_str)
    }

    /// The factor from `unit` to the unit labs of this kind are compared in, when `labs.toml` lists the unit.
    pub fn unit_factor(&self, lab: Lab, unit: &str) -> Option<f64> {
        self.lab_factors.get(&(lab, unit_key(unit))).copied()
    }

    pub fn egfr_equation(&self) -> &EgfrEquation {
        &self.egfr_equation
    }

    /// The canonical unit labs of this kind are compared in.
    pub fn lab_unit(&self, lab: Lab) -> &str {
        self.lab_units.get(&lab).map_or("", String::as_str)
    }

    /// A blood pressure panel LOINC (85354-9, 55284-4): its components carry systolic and diastolic.
    pub fn is_blood_pressure_panel(&self, code: &str) -> bool {
        self.blood_pressure_panels.iter().any(|panel| panel == code.trim())
    }

    pub fn interpretation(&self) -> &Interpretation {
        &self.interpretation
    }

    pub fn unchecked(&self) -> &[Unchecked] {
        &self.unchecked
    }

    pub fn plan(&self) -> &[PlanItem] {
        &self.plan
    }

    pub fn source(&self, id: &str) -> Option<&Source> {
        self.sources.get(id)
    }

    /// The human name of a code system URI (`ICD-10-CM`), or the URI itself.
    pub fn system_name(system: &str) -> &str {
        CodeSystem::ALL.iter().find(|known| known.uri() == system).map_or(system, |known| known.name())
    }

    /// Every LOINC code an Observation we read may carry: the labs, the blood pressure panel and the venous
    /// duplex study codes. The `observations` prefetch template must ask for exactly these.
    pub fn observation_codes(&self) -> Vec<String> {
        let mut codes: Vec<String> = self.labs.keys().cloned().collect();
        codes.extend(self.blood_pressure_panels.iter().cloned());
        codes.extend(
            self.codes_of(&ProcedureId::US_DUPLEX)
                .into_iter()
                .filter(|(system, _)| system == LOINC)
                .map(|(_, code)| code),
        );
        codes.sort();
        codes.dedup();
        codes
    }

    /// Every procedure code that is also an imaging study code of `procedure` (for duplex results).
    pub fn codes_of(&self, procedure: &ProcedureId) -> Vec<(String, String)> {
        self.procedure_codes
            .iter()
            .filter(|(_, procedures)| procedures.contains(procedure))
            .map(|((system, code), _)| (system.clone(), code.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests;
