//! Reading the DVT itself: which diagnoses count, which segment and side, how old the thrombus is.

use time::Date;

use super::Fact;
use super::criteria::Thresholds;
use super::facts::{condition_fact, imaging_fact};
use super::rules::Rule;
use crate::evidence::{
    Concept, ConditionFact, Evidence, ImagingFact, Laterality, Segment, Severity, Verification, add_months,
};

/// The segment decision (classifier step 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SegmentDecision {
    Iliofemoral,
    Femoropopliteal,
    Distal,
    InferiorVenaCava,
    /// A femoral-vein code with nothing to tell which femoral vein.
    Ambiguous,
    /// A code that names no veins.
    Unknown,
}

impl SegmentDecision {
    /// Proximal DVT for the IVC filter topic.
    pub(super) fn is_proximal(self) -> bool {
        matches!(
            self,
            SegmentDecision::Iliofemoral
                | SegmentDecision::Femoropopliteal
                | SegmentDecision::InferiorVenaCava
                | SegmentDecision::Ambiguous
        )
    }
}

/// The thrombus age decision (classifier step 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Age {
    /// Under 14 days.
    Acute,
    /// 14 days to 3 months.
    Subacute,
    /// 3 months or more, or coded chronic.
    Chronic,
    Unknown,
    /// The date's precision straddles a boundary.
    Imprecise,
}

/// What the record says of the DVT, with the facts behind each part.
#[derive(Debug, Clone)]
pub(super) struct DvtReading<'a> {
    /// The diagnosis the decision rests on (segment, age, severity).
    pub index: &'a ConditionFact,
    pub segment: SegmentDecision,
    pub segment_rule: Rule,
    pub segment_facts: Vec<Fact>,
    pub laterality: Laterality,
    pub age: Age,
    /// The thrombus's age in days, fewest and most (a date-only or month onset is a range).
    pub age_days: Option<(i64, i64)>,
    pub age_rules: Vec<Rule>,
    pub age_facts: Vec<Fact>,
    pub severity: Option<(Severity, Fact)>,
}

/// Counted DVT diagnoses: not refuted or entered in error, active, not merely suspected.
pub(super) fn counted(evidence: &Evidence) -> Vec<&ConditionFact> {
    evidence.conditions_of(Concept::Dvt).filter(|condition| condition.is_asserted()).collect()
}

pub(super) fn suspected(evidence: &Evidence) -> Vec<&ConditionFact> {
    evidence
        .conditions_of(Concept::Dvt)
        .filter(|condition| condition.is_active() && condition.verification == Verification::Suspected)
        .collect()
}

/// DVT diagnoses on record that are not counted, with why.
pub(super) fn not_counted(evidence: &Evidence) -> Vec<(Rule, &ConditionFact)> {
    evidence
        .conditions
        .iter()
        .filter(|condition| condition.concept == Concept::Dvt)
        .filter_map(|condition| {
            if matches!(condition.verification, Verification::Refuted | Verification::EnteredInError) {
                Some((Rule::DvtNotCountedRefuted, condition))
            } else if !condition.is_active() {
                Some((Rule::DvtNotCountedInactive, condition))
            } else {
                None
            }
        })
        .collect()
}

/// What a body site's words say of the segment.
fn body_site_segment(sites: &[String]) -> Option<Segment> {
    let text = sites.join(" ").to_lowercase();
    if text.contains("common femoral") || text.contains("iliac") || text.contains("iliofemoral") {
        Some(Segment::Iliofemoral)
    } else if text.contains("popliteal") || text.contains("superficial femoral") {
        Some(Segment::Femoropopliteal)
    } else {
        None
    }
}

/// The side body-site words name, if any.
fn text_laterality(sites: &[String]) -> Option<Laterality> {
    let text = sites.join(" ").to_lowercase();
    match (text.contains("left"), text.contains("right")) {
        (true, true) => Some(Laterality::Bilateral),
        (true, false) => Some(Laterality::Left),
        (false, true) => Some(Laterality::Right),
        (false, false) => None,
    }
}

/// The side of a DVT diagnosis: its code, else its body site (coded qualifier, then words).
fn laterality_of(condition: &ConditionFact) -> Laterality {
    match condition.dvt.map(|dvt| dvt.laterality) {
        Some(Laterality::Unspecified) | None => condition
            .body_site_laterality
            .or_else(|| text_laterality(&condition.body_sites))
            .unwrap_or(Laterality::Unspecified),
        Some(laterality) => laterality,
    }
}

/// A positive duplex finding naming a segment.
fn duplex_segment(finding: &ImagingFact) -> Option<Segment> {
    if finding.positive != Some(true) {
        return None;
    }
    body_site_segment(&finding.body_sites)
}

/// A duplex finding can speak for a diagnosis only on the same leg; an unstated side (or both legs) agrees
/// with either. The duplex evidence carries its side only in its body-site words.
fn same_leg(condition: &ConditionFact, finding: &ImagingFact) -> bool {
    let duplex = text_laterality(&finding.body_sites).unwrap_or(Laterality::Unspecified);
    let agree = |side: Laterality| matches!(side, Laterality::Unspecified | Laterality::Bilateral);
    let dvt = laterality_of(condition);
    dvt == duplex || agree(dvt) || agree(duplex)
}

/// The latest-starting of `candidates` (ties: the first), for the diagnosis the decision rests on.
fn latest<'a>(candidates: impl Iterator<Item = &'a ConditionFact>) -> Option<&'a ConditionFact> {
    candidates.fold(None, |best: Option<&ConditionFact>, condition| match best {
        Some(best) if best.start().map(|d| d.latest()) >= condition.start().map(|d| d.latest()) => Some(best),
        _ => Some(condition),
    })
}

pub(super) fn read<'a>(
    evidence: &'a Evidence,
    counted: &[&'a ConditionFact],
    thresholds: &Thresholds,
    today: Date,
) -> Option<DvtReading<'a>> {
    let segment_of = |condition: &&ConditionFact| condition.dvt.map(|dvt| dvt.segment);
    let with_segment = |segment: Segment| counted.iter().copied().filter(move |c| segment_of(c) == Some(segment));
    let vague = |condition: &&ConditionFact| {
        matches!(segment_of(condition), Some(Segment::Femoral | Segment::ProximalUnspecified | Segment::Unspecified))
    };
    // Positive duplex findings of `segment` on the same leg as `condition`.
    let positive_duplex = |segment: Segment, condition: &'a ConditionFact| {
        evidence.imaging.iter().filter(move |f| duplex_segment(f) == Some(segment) && same_leg(condition, f))
    };
    let common_femoral_duplex = |condition: &'a ConditionFact| positive_duplex(Segment::Iliofemoral, condition).next();

    let (index, segment, segment_rule, segment_facts) = if let Some(index) = latest(with_segment(Segment::Iliofemoral))
    {
        (index, SegmentDecision::Iliofemoral, Rule::SegmentIliofemoralCode, vec![condition_fact(index)])
    } else if let Some(index) = latest(
        counted
            .iter()
            .copied()
            .filter(vague)
            .filter(|c| body_site_segment(&c.body_sites) == Some(Segment::Iliofemoral)),
    ) {
        (index, SegmentDecision::Iliofemoral, Rule::SegmentIliofemoralBodySite, vec![condition_fact(index)])
    } else if let Some((index, duplex)) =
        latest(counted.iter().copied().filter(vague).filter(|c| common_femoral_duplex(c).is_some()))
            .and_then(|index| common_femoral_duplex(index).map(|duplex| (index, duplex)))
    {
        (
            index,
            SegmentDecision::Iliofemoral,
            Rule::SegmentIliofemoralBodySite,
            vec![condition_fact(index), imaging_fact(duplex)],
        )
    } else if let Some(index) = latest(with_segment(Segment::Femoral)) {
        let femoropopliteal_evidence: Vec<Fact> = with_segment(Segment::Femoropopliteal)
            .chain(
                counted.iter().copied().filter(|c| body_site_segment(&c.body_sites) == Some(Segment::Femoropopliteal)),
            )
            .map(condition_fact)
            .chain(positive_duplex(Segment::Femoropopliteal, index).map(imaging_fact))
            .collect();
        if femoropopliteal_evidence.is_empty() {
            (index, SegmentDecision::Ambiguous, Rule::SegmentFemoralAmbiguous, vec![condition_fact(index)])
        } else {
            let mut facts = vec![condition_fact(index)];
            facts.extend(femoropopliteal_evidence.into_iter().filter(|fact| fact.resource != index.source.resource));
            (index, SegmentDecision::Femoropopliteal, Rule::SegmentFemoropopliteal, facts)
        }
    } else if let Some(index) = latest(with_segment(Segment::Femoropopliteal)) {
        (index, SegmentDecision::Femoropopliteal, Rule::SegmentFemoropopliteal, vec![condition_fact(index)])
    } else if let Some(index) = latest(
        counted
            .iter()
            .copied()
            .filter(vague)
            .filter(|c| body_site_segment(&c.body_sites) == Some(Segment::Femoropopliteal)),
    ) {
        (index, SegmentDecision::Femoropopliteal, Rule::SegmentFemoropopliteal, vec![condition_fact(index)])
    } else if let Some(index) = latest(counted.iter().copied().filter(vague)) {
        (index, SegmentDecision::Unknown, Rule::SegmentUnspecified, vec![condition_fact(index)])
    } else if let Some(index) = latest(with_segment(Segment::Distal)) {
        (index, SegmentDecision::Distal, Rule::SegmentDistalOnly, vec![condition_fact(index)])
    } else {
        let index = latest(with_segment(Segment::InferiorVenaCava))?;
        (index, SegmentDecision::InferiorVenaCava, Rule::SegmentIvcOnly, vec![condition_fact(index)])
    };

    let laterality = laterality_of(index);
    let (age, age_rules) = age_of(index, thresholds, today);
    // The index diagnosis's own severity only: another DVT's (say a calf DVT on the other leg) says nothing of it.
    let severity = index.severity.map(|severity| (severity, condition_fact(index)));

    Some(DvtReading {
        index,
        segment,
        segment_rule,
        segment_facts,
        laterality,
        age,
        age_days: index.start().map(|start| start.days_before(today)),
        age_rules,
        age_facts: vec![condition_fact(index)],
        severity,
    })
}

fn age_of(index: &ConditionFact, thresholds: &Thresholds, today: Date) -> (Age, Vec<Rule>) {
    let mut rules = Vec::new();
    if index.onset.is_none() && index.recorded.is_some() {
        rules.push(Rule::AgeFromRecordedDate);
    }
    let start = index.start();
    if index.dvt.is_some_and(|dvt| dvt.acuity == crate::evidence::Acuity::Chronic) {
        rules.push(Rule::AgeChronic);
        return (Age::Chronic, rules);
    }
    let Some(start) = start else {
        rules.push(Rule::AgeUnknown);
        return (Age::Unknown, rules);
    };
    let (fewest, most) = start.days_before(today);
    let months = thresholds.persistent_months;
    // ACR's "less than 14 days": an onset written as a date exactly 14 calendar days ago may be 13 days
    // and some hours, or 14; the record cannot tell, so neither is chosen (the card gives both answers).
    let on_the_line = start.is_date_only() && fewest == thresholds.acute_days && most == thresholds.acute_days;
    let age = if on_the_line {
        rules.push(Rule::AgeImprecise);
        Age::Imprecise
    } else if most < thresholds.acute_days {
        rules.push(Rule::AgeAcute);
        Age::Acute
    } else if add_months(start.latest(), months) <= today {
        rules.push(Rule::AgeChronic);
        Age::Chronic
    } else if fewest >= thresholds.acute_days && add_months(start.earliest(), months) > today {
        rules.push(Rule::AgeSubacuteOutsideAcr);
        Age::Subacute
    } else {
        rules.push(Rule::AgeImprecise);
        Age::Imprecise
    };
    (age, rules)
}
