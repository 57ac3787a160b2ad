//! The knowledge files as serde reads them. Our own files: unknown fields are refused.

use serde::Deserialize;

use super::{CodeStatus, CodeSystem, PlanApplies};
use crate::classify::{Category, Effect, FlagClass, OrderSelector, PreLysisWhen, Variant, Window};
use crate::evidence::{
    Acuity, AllergyClass, Concept, DrugGroup, Lab, Laterality, MedicationClass, ProcedureKind, Segment,
};
use crate::ids::{FlagId, ProcedureId};

/// The text of every knowledge file, embedded at build time.
/// A row of a knowledge file with where it is in the file's text, so that an error in it can name its line.
pub(super) type Row<T> = toml::Spanned<T>;

#[derive(Debug, Clone)]
pub struct Files {
    pub sources: String,
    pub acr: String,
    pub procedures: String,
    pub value_sets: Vec<(String, String)>,
    /// `value-sets/published.toml`, written by `knowledge/value-sets/generate.py` from the published sets.
    pub published: String,
    pub medications: String,
    pub labs: String,
    pub thresholds: String,
    pub safety: String,
    pub plan: String,
}

impl Files {
    pub fn embedded() -> Files {
        Files {
            sources: include_str!("../../../../knowledge/sources.toml").to_owned(),
            acr: include_str!("../../../../knowledge/acr.toml").to_owned(),
            procedures: include_str!("../../../../knowledge/procedures.toml").to_owned(),
            value_sets: vec![
                (
                    "value-sets/dvt.toml".to_owned(),
                    include_str!("../../../../knowledge/value-sets/dvt.toml").to_owned(),
                ),
                (
                    "value-sets/conditions.toml".to_owned(),
                    include_str!("../../../../knowledge/value-sets/conditions.toml").to_owned(),
                ),
            ],
            published: include_str!("../../../../knowledge/value-sets/published.toml").to_owned(),
            medications: include_str!("../../../../knowledge/medications.toml").to_owned(),
            labs: include_str!("../../../../knowledge/labs.toml").to_owned(),
            thresholds: include_str!("../../../../knowledge/thresholds.toml").to_owned(),
            safety: include_str!("../../../../knowledge/safety.toml").to_owned(),
            plan: include_str!("../../../../knowledge/plan.toml").to_owned(),
        }
    }

    /// Every file's text, in a fixed order.
    pub fn texts(&self) -> Vec<&str> {
        let mut texts = vec![
            self.sources.as_str(),
            self.acr.as_str(),
            self.procedures.as_str(),
            self.published.as_str(),
            self.medications.as_str(),
            self.labs.as_str(),
            self.thresholds.as_str(),
            self.safety.as_str(),
            self.plan.as_str(),
        ];
        texts.extend(self.value_sets.iter().map(|(_, text)| text.as_str()));
        texts
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SourcesFile {
    pub source: Vec<Row<SourceRow>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SourceRow {
    pub id: String,
    pub short: String,
    pub citation: String,
    pub supports: String,
    /// V, C or U, as the reference marks a fact, for sources added beside the reference's own.
    pub status: Option<CodeStatus>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AcrFile {
    pub topic: Vec<Row<super::Topic>>,
    pub variant: Vec<Row<VariantRow>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VariantRow {
    pub id: Variant,
    pub short: String,
    pub text: String,
    pub source: String,
    pub rows: Vec<RatingRow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RatingRow {
    pub procedure: ProcedureId,
    pub wording: String,
    pub category: Category,
    pub rrl: String,
    #[serde(default)]
    pub covers: Vec<ProcedureId>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProceduresFile {
    pub procedure: Vec<Row<ProcedureRow>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProcedureRow {
    pub id: ProcedureId,
    pub short: String,
    pub display: String,
    pub kind: ProcedureKind,
    #[serde(default)]
    pub contrast: bool,
    pub medication_class: Option<MedicationClass>,
    #[serde(default)]
    pub codes: Vec<CodeRow>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CodeRow {
    pub system: CodeSystem,
    pub code: String,
    pub display: String,
    #[serde(default)]
    pub prefix: bool,
    pub segment: Option<Segment>,
    pub laterality: Option<Laterality>,
    pub acuity: Option<Acuity>,
    pub status: CodeStatus,
    pub source: String,
    /// Why this row is not from a published value set (in the value-set files, every row that is not the
    /// segment, side and acuity of a published DVT code says this).
    pub hand_made: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ValueSetFile {
    pub concept: Vec<Row<ConceptRow>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConceptRow {
    pub id: Concept,
    /// For reviewers of the file; required, not used at run time.
    #[serde(rename = "description")]
    pub _description: String,
    #[serde(default)]
    pub texts: Vec<String>,
    pub texts_source: Option<String>,
    /// Phrases that name the concept in a Condition's text when none of its codes is known: not used as the
    /// concept (the phrase may be negated or historical), but reported so the clinician codes it.
    #[serde(default)]
    pub text_only: Vec<String>,
    pub text_only_source: Option<String>,
    #[serde(default)]
    pub codes: Vec<CodeRow>,
}

/// `value-sets/published.toml`: the published value sets, one per target it serves.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PublishedFile {
    pub value_set: Vec<Row<PublishedSet>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PublishedSet {
    pub target: PublishedTarget,
    /// The concept, medication class or lab (checked against `target` when loaded).
    pub id: String,
    pub file: String,
    pub title: String,
    pub oid: String,
    pub version: String,
    pub repository: String,
    pub commit: String,
    pub path: String,
    pub source: String,
    /// For reviewers: which codes of the set serve the target, and why.
    #[serde(rename = "selection")]
    pub _selection: String,
    /// How many codes the set lists (the selection keeps `codes`).
    pub published: usize,
    /// Medication sets: the codes that are heparins, warfarin, direct oral anticoagulants.
    #[serde(default)]
    pub heparins: Vec<String>,
    #[serde(default)]
    pub vkas: Vec<String>,
    #[serde(default)]
    pub doacs: Vec<String>,
    /// `[system, code, display]` as published.
    pub codes: Vec<(CodeSystem, String, String)>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MedicationsFile {
    pub class: Vec<Row<MedicationClassRow>>,
    pub allergy: AllergyRow,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MedicationClassRow {
    pub id: MedicationClass,
    /// For reviewers of the file; required, not used at run time.
    #[serde(rename = "description")]
    pub _description: String,
    #[serde(default)]
    pub codes: Vec<MedicationCodeRow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MedicationCodeRow {
    pub code: String,
    pub display: String,
    pub group: Option<DrugGroup>,
    #[expect(dead_code, reason = "required of every row for its reviewers; reading it checks it is V, C or U")]
    pub status: CodeStatus,
    pub source: String,
    /// Why the code is listed by hand (no published set holds it); required in `medications.toml` classes.
    pub hand_made: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AllergyRow {
    pub thrombolytic_allergy_snomed: Vec<MedicationCodeRow>,
    pub contrast_texts: Vec<String>,
    pub contrast_texts_source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LabsFile {
    pub lab: Vec<Row<LabRow>>,
    pub panel: PanelRow,
    pub interpretation: InterpretationRow,
    pub egfr_from_creatinine: EgfrEquationRow,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UnitRow {
    pub unit: String,
    pub factor: f64,
    pub source: String,
}

/// The CKD-EPI 2021 creatinine equation's coefficients.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EgfrEquationRow {
    pub source: String,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LabRow {
    pub id: Lab,
    pub unit: String,
    /// Units results arrive in, with the factor to `unit`.
    #[serde(default)]
    pub units: Vec<UnitRow>,
    #[serde(default)]
    pub codes: Vec<LabCodeRow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LabCodeRow {
    pub code: String,
    pub display: String,
    #[expect(dead_code, reason = "required of every row for its reviewers; reading it checks it is V, C or U")]
    pub status: CodeStatus,
    pub source: String,
    /// Why the code is listed by hand (no published set holds it); required.
    pub hand_made: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PanelRow {
    /// Blood pressure panels: systolic and diastolic are read from their components.
    pub blood_pressure: Vec<PanelCode>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PanelCode {
    pub code: String,
    pub display: String,
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InterpretationRow {
    pub positive_codes: Vec<String>,
    pub negative_codes: Vec<String>,
    pub source: String,
    pub positive_texts: Vec<String>,
    pub negative_texts: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ThresholdsFile {
    pub threshold: Vec<Row<ThresholdRow>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ThresholdRow {
    pub id: String,
    pub value: f64,
    #[expect(dead_code, reason = "required of every row for its readers; the rules use the value only")]
    pub unit: String,
    #[expect(dead_code, reason = "required of every row for its readers; the rules use the value only")]
    pub meaning: String,
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SafetyFile {
    pub flag: Vec<Row<FlagRow>>,
    pub applies: Vec<Row<AppliesRow>>,
    pub prelysis: Vec<Row<PreLysisRow>>,
    pub unchecked: Vec<Row<UncheckedRow>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AppliesRow {
    pub class: FlagClass,
    pub orders: Vec<OrderSelector>,
    pub effect: Effect,
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PreLysisRow {
    pub labs: Vec<Lab>,
    pub order: String,
    pub when: Vec<PreLysisWhen>,
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FlagRow {
    pub id: FlagId,
    pub class: FlagClass,
    pub label: String,
    pub short: Option<String>,
    pub triggers: Vec<TriggerRow>,
    pub source: String,
}

/// One trigger: exactly one of its kinds is set (checked when loaded).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TriggerRow {
    pub condition: Option<Vec<Concept>>,
    pub window: Option<Window>,
    pub status: Option<ConditionStatus>,
    pub lab_below: Option<Lab>,
    pub threshold: Option<String>,
    pub blood_pressure_above: Option<bool>,
    pub allergy: Option<Vec<AllergyClass>>,
    pub pregnancy: Option<bool>,
    pub recent_procedure: Option<Window>,
    pub anticoagulation_contraindicated: Option<bool>,
    pub heparin_ordered_with: Option<Vec<Concept>>,
    pub thrombus_not_acute: Option<bool>,
    pub from_days: Option<i64>,
    pub before_days: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UncheckedRow {
    pub label: String,
    pub short: String,
    pub class: FlagClass,
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PlanFile {
    pub item: Vec<Row<PlanRow>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PlanRow {
    pub id: String,
    pub applies: PlanApplies,
    pub text: String,
    pub source: String,
}

/// What a published set serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum PublishedTarget {
    Concept,
    Medication,
    Lab,
}

impl PublishedTarget {
    pub fn id(self) -> &'static str {
        match self {
            PublishedTarget::Concept => "concept",
            PublishedTarget::Medication => "medication",
            PublishedTarget::Lab => "lab",
        }
    }
}

/// Which Conditions a condition trigger counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum ConditionStatus {
    Active,
    Any,
}
