//! The classifier's answer: variants, the rules that fired with the facts each used, what is missing,
//! and the safety flags. It explains itself: cards quote it, `dvt-cds evaluate --explain` prints it (with
//! the facts and the missing facts in the cards' words, which `cards::explain` adds: this module holds no
//! sentence about them).

use serde::Serialize;

use super::criteria::FlagClass;
use super::rules::Rule;
use super::variant::Variant;
use super::verdict::OrderVerdict;
use crate::evidence::{
    AllergyClass, ClinicalStatus, CodeRef, Concept, DataGap, Dated, Lab, LabProblem, LabValue, Laterality, Match,
    MedicationClass, ProcedureKind, Severity, Unreadable, Verification,
};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Assessment {
    /// At most one variant per topic.
    pub variants: Vec<Variant>,
    pub rules: Vec<RuleHit>,
    /// Every fact a rule or a flag used, once.
    pub evidence: Vec<Fact>,
    pub missing: Vec<Missing>,
    /// The parts of the record that could not be obtained, and why: the answer may change once they are.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unobtained: Vec<DataGap>,
    pub safety: Vec<SafetyHit>,
    /// The verdict on each draft order acted on.
    pub orders: Vec<OrderVerdict>,
    /// Kinds of procedure a finding on record contraindicates (certainly or possibly) for this patient.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contraindicated: Vec<ProcedureKind>,
    /// The results lysis needs, as the record has them, when a lysis order is acted on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prelysis: Vec<LabStatus>,
}

/// A result lysis needs: the newest one, and whether it is current.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabStatus {
    /// The first of the labs that would do.
    pub lab: Lab,
    /// The LOINC code to order when none is current.
    pub order: String,
    /// The newest result of any of the labs that would do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newest: Option<Fact>,
    /// The newest result is recent enough to count (threshold `lab-current-days`) and can be read.
    pub current: bool,
    /// Why the newest result cannot be read (an unknown unit), when it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<LabProblem>,
    pub max_age_days: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleHit {
    pub id: Rule,
    pub description: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub facts: Vec<Fact>,
}

/// A finding from the record, with where it came from, as data: `cards::wording` says it (its label, value
/// and date), so every sentence a clinician reads is worded in one place. Two facts are equal when they
/// say the same of the same resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Fact {
    /// What it is, and what the record says of it.
    pub kind: FactKind,
    /// The resource, `Condition/abc`.
    pub resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeRef>,
    /// The date as written, and the element it came from (`onsetDateTime`, `recordedDate`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<Dated>,
}

/// The kinds of fact, each with what its line shows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum FactKind {
    /// A Condition of a concept.
    Condition {
        concept: Concept,
        severity: Option<Severity>,
        verification: Verification,
        clinical_status: ClinicalStatus,
        abated: bool,
        /// `bodySite` as text.
        body_sites: Vec<String>,
        matched_by: Match,
    },
    Lab {
        lab: Lab,
        value: LabValue,
    },
    Medication {
        class: MedicationClass,
        /// As the resource said: `active`, `completed`, ...
        status: Option<String>,
    },
    Procedure {
        status: Option<String>,
    },
    Allergy {
        class: AllergyClass,
        active: bool,
    },
    /// A venous duplex result.
    Imaging {
        /// Thrombus found, not found, or not stated.
        thrombus: Option<bool>,
        body_sites: Vec<String>,
    },
    /// A draft order, with its reasons' codes.
    Order {
        reasons: Vec<CodeRef>,
    },
}

/// Which fact is missing. Ids are stable (responses, fixtures and the audit name them), and a typo in one
/// is a compile error, not a fact no card asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MissingFact {
    UnreadableResource,
    PregnancyUnconfirmed,
    OrderSide,
    DvtSegment,
    DvtOnset,
    DvtSeverity,
    AnticoagulationStart,
    ContraindicationDate,
    /// No current result of the lab.
    RecentResult(Lab),
}

impl MissingFact {
    pub fn id(self) -> &'static str {
        match self {
            MissingFact::UnreadableResource => "unreadable-resource",
            MissingFact::PregnancyUnconfirmed => "pregnancy-unconfirmed",
            MissingFact::OrderSide => "order-side",
            MissingFact::DvtSegment => "dvt-segment",
            MissingFact::DvtOnset => "dvt-onset",
            MissingFact::DvtSeverity => "dvt-severity",
            MissingFact::AnticoagulationStart => "anticoagulation-start",
            MissingFact::ContraindicationDate => "contraindication-date",
            MissingFact::RecentResult(lab) => match lab {
                Lab::Platelets => "recent-platelets",
                Lab::Inr => "recent-inr",
                Lab::Hemoglobin => "recent-hemoglobin",
                Lab::Creatinine => "recent-creatinine",
                Lab::Egfr => "recent-egfr",
                Lab::Hcg => "recent-hcg",
                Lab::SystolicBp => "recent-systolic-bp",
                Lab::DiastolicBp => "recent-diastolic-bp",
            },
        }
    }
}

impl Serialize for MissingFact {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

/// A fact the decision needs and the record does not hold, as data: `cards::wording` says it (what is
/// missing, where to document it, each answer), so every sentence a clinician reads is worded in one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    /// What is missing and the parts of the record its sentence names.
    pub detail: MissingDetail,
    /// The variant the patient would be in for each possible answer (`None`: no ACR variant).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub if_documented: Vec<Alternative>,
}

/// What is missing, with what its sentence names: resources as references (`Condition/x`), thresholds as
/// numbers. Each variant is one `MissingFact`, so an id and its data cannot disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MissingDetail {
    /// A resource the service could not read or did not use, by where it was in the request and why.
    UnreadableResource(Unreadable),
    /// A pregnancy recorded longer ago than `max_days` with no end: not applied until confirmed.
    PregnancyUnconfirmed {
        pregnancy: String,
        max_days: i64,
    },
    /// A selected order names one leg (in its `named_in` element) and the only DVT on record is in the other.
    OrderSide {
        order: String,
        order_side: Laterality,
        named_in: &'static str,
        dvt: String,
        dvt_side: Laterality,
    },
    /// Which veins the DVT involves; `diagnosis` is the DVT diagnosis read, if there is one.
    DvtSegment {
        diagnosis: Option<String>,
    },
    DvtOnset {
        diagnosis: Option<String>,
    },
    DvtSeverity {
        diagnosis: Option<String>,
    },
    AnticoagulationStart {
        diagnosis: Option<String>,
    },
    /// The dates of the findings that may be absolute contraindications to lysis.
    ContraindicationDate {
        findings: Vec<String>,
    },
    /// No result of `lab` from the last `max_age_days`; `order` is the LOINC code to order.
    RecentResult {
        lab: Lab,
        order: String,
        max_age_days: i64,
    },
    /// The newest result of `lab` (`newest`, a reference) cannot be read, for `problem`.
    UnreadableResult {
        lab: Lab,
        order: String,
        newest: String,
        problem: LabProblem,
    },
}

impl MissingDetail {
    pub fn id(&self) -> MissingFact {
        match self {
            MissingDetail::UnreadableResource(_) => MissingFact::UnreadableResource,
            MissingDetail::PregnancyUnconfirmed { .. } => MissingFact::PregnancyUnconfirmed,
            MissingDetail::OrderSide { .. } => MissingFact::OrderSide,
            MissingDetail::DvtSegment { .. } => MissingFact::DvtSegment,
            MissingDetail::DvtOnset { .. } => MissingFact::DvtOnset,
            MissingDetail::DvtSeverity { .. } => MissingFact::DvtSeverity,
            MissingDetail::AnticoagulationStart { .. } => MissingFact::AnticoagulationStart,
            MissingDetail::ContraindicationDate { .. } => MissingFact::ContraindicationDate,
            MissingDetail::RecentResult { lab, .. } | MissingDetail::UnreadableResult { lab, .. } => {
                MissingFact::RecentResult(*lab)
            }
        }
    }
}

impl Missing {
    /// A missing fact with no answers to tabulate.
    pub fn new(detail: MissingDetail) -> Missing {
        Missing { detail, if_documented: Vec::new() }
    }

    /// Stable id: `dvt-severity`, `dvt-segment`, `dvt-onset`, ...
    pub fn id(&self) -> MissingFact {
        self.detail.id()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alternative {
    pub answer: Answer,
    pub variant: Option<Variant>,
}

/// A possible answer to a missing fact, for the "if it is" table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Answer {
    /// The iliac or common femoral vein.
    Iliofemoral,
    /// The femoral and popliteal veins only.
    Femoropopliteal,
    /// Symptoms began less than 14 days ago.
    OnsetUnder14Days,
    OnsetFrom14DaysTo3Months,
    Onset3MonthsOrMore,
    Severity(Severity),
    /// Anticoagulation alone for 3 months or more.
    AnticoagulatedLongEnough,
    AnticoagulationUnder3Months,
    /// The possible contraindication falls outside its time window.
    OutsideWindow,
    InsideWindow,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SafetyHit {
    pub flag: crate::ids::FlagId,
    pub class: FlagClass,
    pub label: String,
    /// A few words for card summaries.
    pub short: String,
    pub source: String,
    /// False when the finding is only suspected, or a date the window needs is missing or imprecise: the
    /// flag may not apply.
    pub certain: bool,
    pub facts: Vec<Fact>,
}

impl Assessment {
    pub fn variant_of_topic(&self, topic: u32) -> Option<Variant> {
        self.variants.iter().copied().find(|variant| variant.topic() == topic)
    }

    /// The topic whose criteria frame this patient, for an order no variant rates: the iliofemoral topic
    /// for a confirmed, active DVT on record, else the suspected-DVT imaging topic (the DVT is only
    /// suspected, or only an order's reason).
    pub fn framing_topic(&self) -> u32 {
        if self.rules.iter().any(|hit| hit.id == Rule::DvtConfirmedActive) {
            Variant::Acr193V1.topic()
        } else {
            Variant::Acr75V1.topic()
        }
    }

    pub fn flags_of(&self, class: FlagClass) -> impl Iterator<Item = &SafetyHit> {
        self.safety.iter().filter(move |hit| hit.class == class)
    }
}
