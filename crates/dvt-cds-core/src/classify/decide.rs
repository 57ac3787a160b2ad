//! The variant decisions, as pure functions of a resolved [`Situation`], so that the answer under each
//! possible value of a missing fact is the same function run again.

use super::dvt::{Age, SegmentDecision};
use super::rules::Rule;
use super::variant::Variant;
use crate::evidence::Severity;

/// Everything topic 193's decision depends on, already read from the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Situation {
    pub phlegmasia: bool,
    pub segment: SegmentDecision,
    pub age: Age,
    pub pregnant: bool,
    pub may_thurner: bool,
    pub severity: Option<Severity>,
    pub healthy: Healthy,
    pub persistence: Persistence,
}

/// "Otherwise healthy" (variants 1-3): no active cancer, no absolute contraindication to thrombolysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Healthy {
    Yes,
    Cancer,
    AbsoluteContraindication,
    /// An absolute contraindication may apply but a date is missing or imprecise.
    Uncertain,
}

/// What variant 6 needs of the treatment history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Persistence {
    /// Anticoagulation alone for at least 3 months.
    AnticoagulatedLongEnough,
    NoAnticoagulation,
    AnticoagulationUnder3Months,
    ThrombusRemovedSince,
    /// The anticoagulant's start date (or a later procedure's date) is not recorded.
    Unknown,
}

/// What a decision needs and the record lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Need {
    Segment,
    Onset,
    Severity,
    AnticoagulationStart,
    ContraindicationDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Decision {
    pub variant: Option<Variant>,
    pub rules: Vec<Rule>,
    pub needs: Vec<Need>,
}

impl Decision {
    fn variant(variant: Variant, rule: Rule) -> Decision {
        Decision { variant: Some(variant), rules: vec![rule], needs: Vec::new() }
    }

    fn outside(rule: Rule) -> Decision {
        Decision { variant: None, rules: vec![rule], needs: Vec::new() }
    }

    fn needs(need: Need) -> Decision {
        Decision { variant: None, rules: Vec::new(), needs: vec![need] }
    }

    fn with_rule(mut self, rule: Rule) -> Decision {
        self.rules.insert(0, rule);
        self
    }
}

/// Topic 193, in the order the clinical core issue fixes: phlegmasia, segment, age, pregnancy,
/// May-Thurner, severity, "otherwise healthy".
pub(super) fn topic_193(s: &Situation) -> Decision {
    if s.phlegmasia {
        return Decision::variant(Variant::Acr193V5, Rule::PhlegmasiaV5);
    }
    match s.segment {
        SegmentDecision::Iliofemoral => iliofemoral(s),
        SegmentDecision::Femoropopliteal => femoropopliteal(s),
        SegmentDecision::Ambiguous | SegmentDecision::Unknown => Decision::needs(Need::Segment),
        SegmentDecision::Distal | SegmentDecision::InferiorVenaCava => Decision::default(),
    }
}

fn iliofemoral(s: &Situation) -> Decision {
    match s.age {
        Age::Unknown | Age::Imprecise => Decision::needs(Need::Onset),
        Age::Subacute => Decision::default(),
        Age::Chronic => persistent(s),
        Age::Acute => acute_iliofemoral(s),
    }
}

fn acute_iliofemoral(s: &Situation) -> Decision {
    if s.pregnant {
        match s.severity {
            Some(Severity::Moderate | Severity::Severe) => {
                return Decision::variant(Variant::Acr193V7, Rule::PregnancyV7);
            }
            None if !s.may_thurner => return Decision::needs(Need::Severity).with_rule(Rule::SeverityMissing),
            _ => {}
        }
    }
    if s.may_thurner {
        return Decision::variant(Variant::Acr193V4, Rule::MayThurnerV4);
    }
    match s.severity {
        None => Decision::needs(Need::Severity).with_rule(Rule::SeverityMissing),
        Some(Severity::Mild) => otherwise_healthy(s, Variant::Acr193V1, Rule::MildV1),
        Some(Severity::Moderate | Severity::Severe) => otherwise_healthy(s, Variant::Acr193V2, Rule::ModerateSevereV2),
    }
}

fn femoropopliteal(s: &Situation) -> Decision {
    match s.age {
        Age::Unknown | Age::Imprecise => Decision::needs(Need::Onset),
        Age::Subacute | Age::Chronic => Decision::outside(Rule::FemoropoplitealNotAcute),
        Age::Acute => match s.severity {
            None => Decision::needs(Need::Severity).with_rule(Rule::SeverityMissing),
            Some(Severity::Severe) => Decision::outside(Rule::FemoropoplitealSevereOutside),
            Some(Severity::Mild | Severity::Moderate) => {
                otherwise_healthy(s, Variant::Acr193V3, Rule::FemoropoplitealV3)
            }
        },
    }
}

fn otherwise_healthy(s: &Situation, variant: Variant, rule: Rule) -> Decision {
    match s.healthy {
        Healthy::Yes => Decision::variant(variant, rule),
        Healthy::Cancer => Decision::outside(Rule::NotOtherwiseHealthyCancer),
        Healthy::AbsoluteContraindication => Decision::outside(Rule::NotOtherwiseHealthyLysisContraindication),
        Healthy::Uncertain => Decision::needs(Need::ContraindicationDate),
    }
}

fn persistent(s: &Situation) -> Decision {
    match s.persistence {
        Persistence::NoAnticoagulation => Decision::outside(Rule::ChronicNoAnticoagulation),
        Persistence::AnticoagulationUnder3Months => Decision::outside(Rule::ChronicAnticoagulationUnder3Months),
        Persistence::ThrombusRemovedSince => Decision::outside(Rule::ChronicThrombusRemoved),
        Persistence::Unknown => Decision::needs(Need::AnticoagulationStart),
        Persistence::AnticoagulatedLongEnough => match s.severity {
            None => Decision::needs(Need::Severity).with_rule(Rule::SeverityMissing),
            Some(Severity::Mild) => Decision::outside(Rule::ChronicMild),
            Some(Severity::Moderate | Severity::Severe) => Decision::variant(Variant::Acr193V6, Rule::PersistentV6),
        },
    }
}

/// The inputs of the IVC filter topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FilterSituation {
    /// An active DVT's segment, if any.
    pub segment: Option<SegmentDecision>,
    pub age: Option<Age>,
    pub pulmonary_embolism: bool,
    pub anticoagulation_contraindicated: bool,
    pub lysis_planned: bool,
}

/// Topic 6: variants 1, 2, 3 and 6 (the others need an indwelling filter or prophylaxis context).
pub(super) fn topic_6(s: &FilterSituation) -> Decision {
    let acute = |age: Option<Age>| !matches!(age, Some(Age::Chronic));
    let proximal_dvt = s.segment.is_some_and(SegmentDecision::is_proximal) && acute(s.age);
    if proximal_dvt || s.pulmonary_embolism {
        if s.anticoagulation_contraindicated {
            return Decision::variant(Variant::Acr6V2, Rule::IvcV2);
        }
        if s.lysis_planned && proximal_dvt {
            return Decision::variant(Variant::Acr6V6, Rule::IvcV6);
        }
        return Decision::variant(Variant::Acr6V1, Rule::IvcV1);
    }
    if s.segment == Some(SegmentDecision::Distal) && s.age == Some(Age::Acute) {
        return Decision::variant(Variant::Acr6V3, Rule::IvcV3);
    }
    Decision::default()
}
