//! What the classifier is given besides the evidence: thresholds and safety flag definitions.
//! `knowledge` builds these from its files; the classifier only reads them.

use serde::{Deserialize, Deserializer, Serialize};

use super::variant::Variant;
use crate::evidence::{AllergyClass, Concept, Lab, ProcedureKind};
use crate::ids::{FlagId, ProcedureId};

#[derive(Debug, Clone, PartialEq)]
pub struct Criteria {
    pub thresholds: Thresholds,
    /// In evaluation order: a flag derived from others (`AnticoagulationContraindicated`) comes after them.
    pub flags: Vec<FlagRule>,
    /// Which orders each class of flag concerns, and what it does to them.
    pub applies: Vec<Applies>,
    /// The results a lysis order needs on its card.
    pub prelysis: Vec<PreLysisLab>,
    /// The ACR tables, as the per-order verdicts read them.
    pub acr: AcrTables,
}

/// The ACR ratings as plain data: each variant's rows, and what each procedure is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AcrTables {
    pub variants: Vec<VariantTable>,
    pub procedures: Vec<ProcedureInfo>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VariantTable {
    pub variant: Variant,
    /// In ACR's order.
    pub rows: Vec<AcrRow>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AcrRow {
    pub procedure: ProcedureId,
    pub category: Category,
    /// Procedures the row rates along with its own when drafted together ("with or without stent placement").
    pub covers: Vec<ProcedureId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProcedureInfo {
    pub id: ProcedureId,
    pub kind: ProcedureKind,
    pub contrast: bool,
    /// A suggestion can create an order for it (it has a verified order code).
    pub orderable: bool,
    /// The topics whose variants rate it, in topic order.
    pub topics: Vec<u32>,
}

impl AcrTables {
    pub fn rows(&self, variant: Variant) -> &[AcrRow] {
        self.variants.iter().find(|table| table.variant == variant).map_or(&[], |table| table.rows.as_slice())
    }

    pub fn row(&self, variant: Variant, procedure: &ProcedureId) -> Option<&AcrRow> {
        self.rows(variant).iter().find(|row| row.procedure == *procedure)
    }

    pub fn procedure(&self, id: &ProcedureId) -> Option<&ProcedureInfo> {
        self.procedures.iter().find(|procedure| procedure.id == *id)
    }
}

/// Orders a class of flag concerns, and its effect on them.
#[derive(Debug, Clone, PartialEq)]
pub struct Applies {
    pub class: FlagClass,
    pub orders: Vec<OrderSelector>,
    pub effect: Effect,
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderSelector {
    Kind(ProcedureKind),
    /// A heparin order (medications.toml group `heparin`).
    Heparin,
    /// A warfarin or direct oral anticoagulant order.
    OralAnticoagulant,
    /// A procedure that uses iodinated contrast.
    Contrast,
}

/// What a finding does to an order it concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// The ACR category stands, with a warning that names the finding.
    Cautions,
    /// The order is not endorsed: no "appropriate" stamp, a critical card, never suggested.
    Contraindicates,
}

/// A result a lysis card shows or asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct PreLysisLab {
    /// Any of these, in order of preference.
    pub labs: Vec<Lab>,
    /// The LOINC code to order when none is current.
    pub order: String,
    /// Any of these makes the result needed.
    pub when: Vec<PreLysisWhen>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreLysisWhen {
    Always,
    /// The patient takes warfarin.
    Vka,
    /// The procedure uses iodinated contrast.
    Contrast,
    /// An active condition of the concept is on record (severe liver disease, for the INR).
    Condition(Concept),
}

/// The numbers of `knowledge/thresholds.toml` the rules themselves compare against.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    pub acute_days: i64,
    pub persistent_months: u32,
    pub pregnancy_test_days: i64,
    /// A pregnancy diagnosis with no end that began longer ago than this is not applied but asked to be confirmed.
    pub pregnancy_max_days: i64,
    pub lab_current_days: i64,
    pub vital_current_days: i64,
    pub systolic_above: f64,
    pub diastolic_above: f64,
}

/// A safety flag: fires when any trigger holds.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagRule {
    pub id: FlagId,
    pub class: FlagClass,
    pub label: String,
    /// A few words for card summaries: the label up to its first colon, unless the file gives one.
    pub short: String,
    pub source: String,
    pub triggers: Vec<Trigger>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlagClass {
    LysisAbsolute,
    LysisRelative,
    Anticoagulation,
    /// A contraindication to heparins only (heparin-induced thrombocytopenia): shown on heparin orders,
    /// and not a contraindication to anticoagulation as such.
    Heparin,
    /// A reason to avoid warfarin and direct oral anticoagulants (pregnancy).
    OralAnticoagulant,
    Contrast,
    Review,
    Timing,
    LimbThreat,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// A Condition of one of `concepts`, active if `active_only`, starting within `window`.
    Condition {
        concepts: Vec<Concept>,
        window: Window,
        active_only: bool,
    },
    /// The newest current result of `lab` is below `threshold` (in the lab's canonical unit).
    LabBelow {
        lab: Lab,
        threshold: f64,
    },
    /// The newest current systolic or diastolic pressure is above its threshold.
    BloodPressureAbove,
    Allergy(Vec<AllergyClass>),
    /// Pregnant, as the classifier decides it.
    Pregnancy,
    /// A completed procedure we do not know, within `days`.
    RecentProcedure {
        days: i64,
    },
    /// Any anticoagulation flag before it fired.
    AnticoagulationContraindicated,
    /// A heparin is ordered while one of `concepts` is active.
    HeparinOrderedWith(Vec<Concept>),
    /// The DVT is 14 days to 3 months old (subacute) and, when given, at least `from_days` and under
    /// `before_days` old.
    ThrombusNotAcute {
        from_days: Option<i64>,
        before_days: Option<i64>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Active now (status decides).
    Current,
    /// At any time.
    Ever,
    Days(i64),
    Months(u32),
    /// Began at least this many months ago ("history of ischaemic stroke more than 3 months ago").
    OlderThanMonths(u32),
}

impl Window {
    /// `current`, `ever`, `days:N`, `months:N` or `older-than-months:N`.
    pub fn parse(text: &str) -> Option<Window> {
        match text {
            "current" => Some(Window::Current),
            "ever" => Some(Window::Ever),
            _ => {
                let (unit, count) = text.split_once(':')?;
                match unit {
                    "days" => count.parse().ok().filter(|n| *n > 0).map(Window::Days),
                    "months" => count.parse().ok().filter(|n| *n > 0).map(Window::Months),
                    "older-than-months" => count.parse().ok().filter(|n| *n > 0).map(Window::OlderThanMonths),
                    _ => None,
                }
            }
        }
    }
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Window, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Window::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "window `{text}` is not one of current, ever, days:N, months:N, older-than-months:N (N above 0)"
            ))
        })
    }
}

/// `heparin`, `oral-anticoagulant`, `contrast`, or a procedure kind.
impl<'de> Deserialize<'de> for OrderSelector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<OrderSelector, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(match &*text {
            "heparin" => OrderSelector::Heparin,
            "oral-anticoagulant" => OrderSelector::OralAnticoagulant,
            "contrast" => OrderSelector::Contrast,
            kind => OrderSelector::Kind(ProcedureKind::deserialize(serde::de::value::StrDeserializer::new(kind))?),
        })
    }
}

/// `always`, `vka`, `contrast`, or a concept.
impl<'de> Deserialize<'de> for PreLysisWhen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PreLysisWhen, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(match &*text {
            "always" => PreLysisWhen::Always,
            "vka" => PreLysisWhen::Vka,
            "contrast" => PreLysisWhen::Contrast,
            concept => PreLysisWhen::Condition(Concept::deserialize(serde::de::value::StrDeserializer::new(concept))?),
        })
    }
}

/// An ACR appropriateness category. No numeric rating is known for these revisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    UsuallyAppropriate,
    MayBeAppropriate,
    MayBeAppropriateDisagreement,
    UsuallyNotAppropriate,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::UsuallyAppropriate,
        Category::MayBeAppropriate,
        Category::MayBeAppropriateDisagreement,
        Category::UsuallyNotAppropriate,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Category::UsuallyAppropriate => "usually-appropriate",
            Category::MayBeAppropriate => "may-be-appropriate",
            Category::MayBeAppropriateDisagreement => "may-be-appropriate-disagreement",
            Category::UsuallyNotAppropriate => "usually-not-appropriate",
        }
    }

    /// Rank for "better than": usually appropriate first.
    pub fn rank(self) -> u8 {
        match self {
            Category::UsuallyAppropriate => 0,
            Category::MayBeAppropriate => 1,
            Category::MayBeAppropriateDisagreement => 2,
            Category::UsuallyNotAppropriate => 3,
        }
    }
}

crate::ids::deserialize_by_id!(Category: "category");
