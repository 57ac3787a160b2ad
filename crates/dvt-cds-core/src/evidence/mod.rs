//! Clinical facts about the patient, each with the FHIR resource it came from.
//!
//! This is the vocabulary shared by `gather` (which produces it) and `classify` (which reads it).
//! It holds no FHIR or JSON types and does no IO.

mod date;
mod gaps;
mod unreadable;

use serde::Serialize;

pub use date::{DayZone, FhirDate, add_months};
pub use gaps::{DataGap, RecordPart, Unobtained, Unusable};
pub use unreadable::{CodeName, Disagreement, DvtPoint, JsonProblem, OnsetForm, Unreadable, UnreadableProblem};

/// Everything known about the patient that the rules can use.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Evidence {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<Demographics>,
    pub conditions: Vec<ConditionFact>,
    pub labs: Vec<LabFact>,
    pub medications: Vec<MedicationFact>,
    pub procedures: Vec<ProcedureFact>,
    pub allergies: Vec<AllergyFact>,
    /// Venous duplex results (Observations with a duplex study code).
    pub imaging: Vec<ImagingFact>,
    /// The draft orders of the hook call.
    pub orders: Vec<OrderFact>,
    /// Data that could not be obtained at all (a prefetch key the FHIR server did not give).
    pub gaps: Vec<DataGap>,
    /// Resources that could not be read or were not used, each with where it is and why.
    pub unreadable: Vec<Unreadable>,
    /// The side of the leg a draft order names (bodySite, code or text), for orders that name one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub order_sides: Vec<OrderSide>,
}

/// A draft order that names a side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderSide {
    /// `ServiceRequest/x`.
    pub order: String,
    pub laterality: Laterality,
    /// Where the order says it: `bodySite`, `code` or `text`.
    pub named_in: &'static str,
}

impl Evidence {
    /// Every dateTime counted as the day it was in `zone` (dates written as days stay as written).
    pub fn count_days_in(&mut self, zone: &DayZone) {
        let rezone = |dated: &mut Option<Dated>| {
            if let Some(dated) = dated {
                dated.date = dated.date.in_zone(zone);
            }
        };
        for condition in &mut self.conditions {
            rezone(&mut condition.onset);
            condition.recorded = condition.recorded.as_ref().map(|date| date.in_zone(zone));
        }
        self.labs.iter_mut().for_each(|lab| rezone(&mut lab.date));
        self.medications.iter_mut().for_each(|medication| rezone(&mut medication.start));
        self.procedures.iter_mut().for_each(|procedure| rezone(&mut procedure.date));
        self.imaging.iter_mut().for_each(|imaging| rezone(&mut imaging.date));
    }
}

/// Where a fact comes from: the resource, and the code that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// `Condition/abc`, or `ServiceRequest/x` for a draft order.
    pub resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeRef>,
}

/// A code as the record wrote it, with a human name for its system.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct CodeRef {
    /// `ICD-10-CM`, `SNOMED CT`, `LOINC`, `RxNorm`, `CPT`, or the system URI when unknown.
    pub system: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// The clinical concepts the rules reason about (value sets in `knowledge/value-sets/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Concept {
    Dvt,
    PhlegmasiaCeruleaDolens,
    MayThurner,
    PostThromboticSyndrome,
    Pregnancy,
    Postpartum,
    ActiveCancer,
    IntracranialHemorrhage,
    IschemicStroke,
    Tia,
    StrokeHistory,
    ActiveBleeding,
    GiBleeding,
    Dic,
    BleedingDiathesis,
    Thrombocytopenia,
    HeparinInducedThrombocytopenia,
    AorticDissection,
    EndStageRenalDisease,
    LegEdema,
    DvtHistory,
    PulmonaryEmbolism,
    LongTermAnticoagulantUse,
    LongTermAntiplateletUse,
    IntracranialLesion,
    HeadTrauma,
    SeizureDisorder,
    PepticUlcer,
    SevereLiverDisease,
    StructuralCerebralLesion,
}

impl Concept {
    pub const ALL: [Concept; 30] = [
        Concept::Dvt,
        Concept::PhlegmasiaCeruleaDolens,
        Concept::MayThurner,
        Concept::PostThromboticSyndrome,
        Concept::Pregnancy,
        Concept::Postpartum,
        Concept::ActiveCancer,
        Concept::IntracranialHemorrhage,
        Concept::IschemicStroke,
        Concept::Tia,
        Concept::StrokeHistory,
        Concept::ActiveBleeding,
        Concept::GiBleeding,
        Concept::Dic,
        Concept::BleedingDiathesis,
        Concept::Thrombocytopenia,
        Concept::HeparinInducedThrombocytopenia,
        Concept::AorticDissection,
        Concept::EndStageRenalDisease,
        Concept::LegEdema,
        Concept::DvtHistory,
        Concept::PulmonaryEmbolism,
        Concept::LongTermAnticoagulantUse,
        Concept::LongTermAntiplateletUse,
        Concept::IntracranialLesion,
        Concept::HeadTrauma,
        Concept::SeizureDisorder,
        Concept::PepticUlcer,
        Concept::SevereLiverDisease,
        Concept::StructuralCerebralLesion,
    ];

    /// The id the knowledge files use.
    pub fn id(self) -> &'static str {
        match self {
            Concept::Dvt => "dvt",
            Concept::PhlegmasiaCeruleaDolens => "phlegmasia-cerulea-dolens",
            Concept::MayThurner => "may-thurner",
            Concept::PostThromboticSyndrome => "post-thrombotic-syndrome",
            Concept::Pregnancy => "pregnancy",
            Concept::Postpartum => "postpartum",
            Concept::ActiveCancer => "active-cancer",
            Concept::IntracranialHemorrhage => "intracranial-hemorrhage",
            Concept::IschemicStroke => "ischemic-stroke",
            Concept::Tia => "tia",
            Concept::StrokeHistory => "stroke-history",
            Concept::ActiveBleeding => "active-bleeding",
            Concept::GiBleeding => "gi-bleeding",
            Concept::Dic => "dic",
            Concept::BleedingDiathesis => "bleeding-diathesis",
            Concept::Thrombocytopenia => "thrombocytopenia",
            Concept::HeparinInducedThrombocytopenia => "heparin-induced-thrombocytopenia",
            Concept::AorticDissection => "aortic-dissection",
            Concept::EndStageRenalDisease => "end-stage-renal-disease",
            Concept::LegEdema => "leg-edema",
            Concept::DvtHistory => "dvt-history",
            Concept::PulmonaryEmbolism => "pulmonary-embolism",
            Concept::LongTermAnticoagulantUse => "long-term-anticoagulant-use",
            Concept::LongTermAntiplateletUse => "long-term-antiplatelet-use",
            Concept::IntracranialLesion => "intracranial-lesion",
            Concept::HeadTrauma => "head-trauma",
            Concept::SeizureDisorder => "seizure-disorder",
            Concept::PepticUlcer => "peptic-ulcer",
            Concept::SevereLiverDisease => "severe-liver-disease",
            Concept::StructuralCerebralLesion => "structural-cerebral-lesion",
        }
    }
}

/// Which part of the leg's deep veins a DVT code names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Segment {
    /// Iliac veins, or an explicitly iliofemoral concept.
    Iliofemoral,
    /// "Femoral vein": includes the common femoral vein (iliofemoral) and the femoral vein proper
    /// (femoropopliteal), so it does not decide the segment alone.
    Femoral,
    Femoropopliteal,
    /// Proximal deep veins, which ones not said.
    ProximalUnspecified,
    Unspecified,
    Distal,
    /// `ivc` in the knowledge files.
    #[serde(rename(deserialize = "ivc"))]
    InferiorVenaCava,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Laterality {
    Left,
    Right,
    Bilateral,
    Unspecified,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Acuity {
    Acute,
    Chronic,
    Unspecified,
}

/// What a DVT code says of the thrombus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DvtCode {
    pub segment: Segment,
    pub laterality: Laterality,
    pub acuity: Acuity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Mild,
    Moderate,
    Severe,
}

/// `Condition.clinicalStatus`, folded: active/recurrence/relapse count; resolved/inactive/remission do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClinicalStatus {
    Active,
    Inactive,
    NotRecorded,
}

/// `Condition.verificationStatus`, folded. Refuted and entered-in-error conditions are kept only to say
/// they were not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verification {
    Confirmed,
    /// provisional, differential or unconfirmed: suspected, not confirmed.
    Suspected,
    Refuted,
    EnteredInError,
    NotRecorded,
}

/// How a concept was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Match {
    /// A code of the concept's value set.
    Code,
    /// A code the reference marks unverified for this concept (e.g. ICD-10-CM I87.1 for May-Thurner).
    UnverifiedCode,
    /// The concept's name in the condition's text (no verified code exists).
    Text,
}

/// A Condition that matched a concept.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConditionFact {
    pub source: Source,
    pub concept: Concept,
    pub matched_by: Match,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dvt: Option<DvtCode>,
    pub clinical_status: ClinicalStatus,
    pub verification: Verification,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// `bodySite` as text (text, else displays), for the segment and side when the code does not say.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub body_sites: Vec<String>,
    /// Laterality from a bodySite laterality qualifier, when coded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_site_laterality: Option<Laterality>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onset: Option<Dated>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded: Option<FhirDate>,
    /// `abatement[x]` is present: the condition ended.
    pub abated: bool,
}

/// A date and the element it was read from (`onsetDateTime`, `onsetPeriod.start`, `onsetAge`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Dated {
    pub date: FhirDate,
    pub element: &'static str,
}

/// The laboratory and vital-sign kinds we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lab {
    Platelets,
    Inr,
    Hemoglobin,
    Creatinine,
    Egfr,
    Hcg,
    SystolicBp,
    DiastolicBp,
}

impl Lab {
    pub const ALL: [Lab; 8] = [
        Lab::Platelets,
        Lab::Inr,
        Lab::Hemoglobin,
        Lab::Creatinine,
        Lab::Egfr,
        Lab::Hcg,
        Lab::SystolicBp,
        Lab::DiastolicBp,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Lab::Platelets => "platelets",
            Lab::Inr => "inr",
            Lab::Hemoglobin => "hemoglobin",
            Lab::Creatinine => "creatinine",
            Lab::Egfr => "egfr",
            Lab::Hcg => "hcg",
            Lab::SystolicBp => "systolic-bp",
            Lab::DiastolicBp => "diastolic-bp",
        }
    }

    pub fn is_vital_sign(self) -> bool {
        matches!(self, Lab::SystolicBp | Lab::DiastolicBp)
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum LabValue {
    /// A number in the lab's canonical unit (knowledge/labs.toml), converted from what the record said.
    Number {
        value: f64,
        unit: String,
    },
    Positive,
    Negative,
    /// A value we could not interpret (unknown unit, no value): shown, never compared.
    Unreadable {
        problem: LabProblem,
    },
}

/// Why a result cannot be read; `cards::wording` says it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabProblem {
    /// No quantity, or a quantity without a number.
    NoValue,
    /// A qualitative test (hCG) with neither a positive nor a negative interpretation or word.
    NoResult,
    /// A unit (UCUM code, else the unit as written) the lab's conversions do not list.
    UnknownUnit(String),
}

// Equal when the same number (bit for bit) and unit: an equivalence, so results can be facts in a set
// (`f64`'s own equality is not one, NaN being unequal to itself).
impl PartialEq for LabValue {
    fn eq(&self, other: &LabValue) -> bool {
        match (self, other) {
            (LabValue::Number { value, unit }, LabValue::Number { value: other_value, unit: other_unit }) => {
                value.to_bits() == other_value.to_bits() && unit == other_unit
            }
            (LabValue::Positive, LabValue::Positive) | (LabValue::Negative, LabValue::Negative) => true,
            (LabValue::Unreadable { problem }, LabValue::Unreadable { problem: other }) => problem == other,
            _ => false,
        }
    }
}

impl Eq for LabValue {}

impl std::hash::Hash for LabValue {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            LabValue::Number { value, unit } => {
                value.to_bits().hash(state);
                unit.hash(state);
            }
            LabValue::Unreadable { problem } => problem.hash(state),
            LabValue::Positive | LabValue::Negative => {}
        }
    }
}

/// A final, amended or corrected result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabFact {
    pub source: Source,
    pub lab: Lab,
    pub value: LabValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<Dated>,
}

/// A venous duplex result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImagingFact {
    pub source: Source,
    /// `bodySite` as text, naming the vein.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub body_sites: Vec<String>,
    /// Thrombus found (positive / detected), not found, or not stated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub positive: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<Dated>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MedicationClass {
    Anticoagulant,
    Antiplatelet,
    Thrombolytic,
}

/// The anticoagulant groups drug-specific safety rules name (knowledge/medications.toml `group`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DrugGroup {
    /// Unfractionated or low-molecular-weight heparin.
    Heparin,
    /// Vitamin K antagonist (warfarin).
    Vka,
    /// Direct oral anticoagulant.
    Doac,
}

impl DrugGroup {
    pub fn is_oral(self) -> bool {
        matches!(self, DrugGroup::Vka | DrugGroup::Doac)
    }
}

/// A MedicationRequest or MedicationStatement of a class we care about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MedicationFact {
    pub source: Source,
    pub class: MedicationClass,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<DrugGroup>,
    /// `active`, `completed`, `stopped`, ... as the resource said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// When the therapy started (authoredOn, effective[x]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<Dated>,
}

/// What a procedure or an order is, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProcedureKind {
    Anticoagulation,
    /// Catheter-directed or systemic thrombolysis, pharmacomechanical thrombectomy, thrombolytic drugs.
    Lysis,
    SurgicalThrombectomy,
    VenousStent,
    IvcFilter,
    Imaging,
    Compression,
    Other,
}

impl ProcedureKind {
    pub const ALL: [ProcedureKind; 8] = [
        ProcedureKind::Anticoagulation,
        ProcedureKind::Lysis,
        ProcedureKind::SurgicalThrombectomy,
        ProcedureKind::VenousStent,
        ProcedureKind::IvcFilter,
        ProcedureKind::Imaging,
        ProcedureKind::Compression,
        ProcedureKind::Other,
    ];

    /// Thrombus removal: catheter-based or surgical.
    pub fn removes_thrombus(self) -> bool {
        matches!(self, ProcedureKind::Lysis | ProcedureKind::SurgicalThrombectomy)
    }
}

/// A Procedure resource (performed, in progress, or planned).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcedureFact {
    pub source: Source,
    /// The knowledge procedure it is, when its code is one we know.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<ProcedureKind>,
    /// The ACR procedure rows its code means (knowledge/procedures.toml); empty when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub procedures: Vec<crate::ids::ProcedureId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<Dated>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllergyClass {
    Thrombolytic,
    Anticoagulant,
    Contrast,
}

/// An AllergyIntolerance to a substance class that matters for these procedures (refuted ones dropped).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AllergyFact {
    pub source: Source,
    pub class: AllergyClass,
    pub active: bool,
}

/// A draft order of the hook call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderFact {
    pub source: Source,
    /// In `selections` (order-select), or any order (order-sign).
    pub selected: bool,
    /// The ACR procedure rows the order's code means (knowledge/procedures.toml); empty when none.
    pub procedures: Vec<crate::ids::ProcedureId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<ProcedureKind>,
    /// The anticoagulant group of a medication order (a heparin, warfarin, a DOAC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<DrugGroup>,
    /// `reasonCode`, and `reasonReference` resolved to the record's Conditions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    pub code: CodeRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concept: Option<Concept>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Demographics {
    pub source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<FhirDate>,
}

impl Evidence {
    /// Conditions of `concept` that count: not refuted or entered in error.
    pub fn conditions_of(&self, concept: Concept) -> impl Iterator<Item = &ConditionFact> {
        self.conditions.iter().filter(move |condition| {
            condition.concept == concept
                && !matches!(condition.verification, Verification::Refuted | Verification::EnteredInError)
        })
    }
}

impl ConditionFact {
    /// Active now: clinical status active (or not recorded) and no abatement.
    pub fn is_active(&self) -> bool {
        self.clinical_status != ClinicalStatus::Inactive && !self.abated
    }

    /// Asserted: active, and neither refuted, entered in error nor merely suspected.
    pub fn is_asserted(&self) -> bool {
        self.is_active()
            && !matches!(
                self.verification,
                Verification::Suspected | Verification::Refuted | Verification::EnteredInError
            )
    }

    /// The date the condition started, falling back to when it was recorded.
    pub fn start(&self) -> Option<&FhirDate> {
        self.onset.as_ref().map(|onset| &onset.date).or(self.recorded.as_ref())
    }
}

crate::ids::deserialize_by_id!(Concept: "concept", Lab: "lab");

impl std::fmt::Display for Concept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

impl std::fmt::Display for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}
