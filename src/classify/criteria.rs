//! What the classifier is given besides the evidence: thresholds and safety flag definitions.
//! `knowledge` builds these from its files; the classifier only reads them.

use serde::Serialize;

use crate::evidence::{AllergyClass, Concept, Lab};

#[derive(Debug, Clone, PartialEq)]
pub struct Criteria {
    pub thresholds: Thresholds,
    /// In evaluation order: a flag derived from others (`AnticoagulationContraindicated`) comes after them.
    pub flags: Vec<FlagRule>,
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
    pub id: String,
    pub class: FlagClass,
    pub label: String,
    pub source: String,
    pub triggers: Vec<Trigger>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlagClass {
    LysisAbsolute,
    LysisRelative,
    Anticoagulation,
    /// A contraindication to heparins only (heparin-induced thrombocytopenia): shown on heparin orders,
    /// and not a contraindication to anticoagulation as such.
    Heparin,
    Contrast,
    Review,
    Timing,
    LimbThreat,
}

impl FlagClass {
    pub fn parse(id: &str) -> Option<FlagClass> {
        match id {
            "lysis-absolute" => Some(FlagClass::LysisAbsolute),
            "lysis-relative" => Some(FlagClass::LysisRelative),
            "anticoagulation" => Some(FlagClass::Anticoagulation),
            "heparin" => Some(FlagClass::Heparin),
            "contrast" => Some(FlagClass::Contrast),
            "review" => Some(FlagClass::Review),
            "timing" => Some(FlagClass::Timing),
            "limb-threat" => Some(FlagClass::LimbThreat),
            _ => None,
        }
    }
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
    /// The DVT is 14 days to 3 months old (subacute).
    ThrombusNotAcute,
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
