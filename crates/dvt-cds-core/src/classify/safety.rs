//! Safety flags (classifier step 8): contraindications to thrombolysis and anticoagulation, contrast
//! cautions, limb threat. Independent of the variant and never part of the ACR rating.

use std::collections::HashSet;

use time::Date;

use super::assessment::{Fact, SafetyHit};
use super::criteria::{Criteria, FlagClass, FlagRule, Thresholds, Trigger, Window};
use super::facts::{allergy_fact, condition_fact, lab_fact, order_fact, procedure_fact};
use crate::evidence::{
    ConditionFact, DrugGroup, Evidence, Lab, LabFact, LabValue, ProcedureFact, Verification, add_months,
};

/// Whether the patient is pregnant, and the facts that say so.
#[derive(Debug, Clone, Default)]
pub(super) struct Pregnancy {
    pub pregnant: bool,
    pub facts: Vec<Fact>,
    /// Pregnancy diagnoses with no end that began longer ago than a pregnancy lasts: not applied, to confirm.
    pub implausible: Vec<Fact>,
}

/// Classifier step 4's pregnancy test: an active pregnancy diagnosis, or a positive hCG within the window
/// with no negative one after it.
pub(super) fn pregnancy(evidence: &Evidence, thresholds: &Thresholds, today: Date) -> Pregnancy {
    let (too_old, conditions): (Vec<&ConditionFact>, Vec<&ConditionFact>) = evidence
        .conditions_of(crate::evidence::Concept::Pregnancy)
        .filter(|condition| condition.is_asserted())
        .partition(|condition| began_too_long_ago(condition, thresholds, today));
    let implausible: Vec<Fact> = too_old.into_iter().map(condition_fact).collect();
    if !conditions.is_empty() {
        return Pregnancy { pregnant: true, facts: conditions.into_iter().map(condition_fact).collect(), implausible };
    }
    let tests = || {
        evidence
            .labs
            .iter()
            .filter(|lab| lab.lab == Lab::Hcg)
            .filter_map(|lab| lab.date.as_ref().map(|date| (lab, &date.date)))
    };
    let newest_positive = tests()
        .filter(|(lab, _)| lab.value == LabValue::Positive)
        .filter(|(_, date)| date.days_before(today).0 <= thresholds.pregnancy_test_days)
        .max_by_key(|(_, date)| date.latest());
    let Some((positive, positive_date)) = newest_positive else {
        return Pregnancy { implausible, ..Pregnancy::default() };
    };
    let negated =
        tests().any(|(lab, date)| lab.value == LabValue::Negative && date.earliest() > positive_date.latest());
    if negated {
        return Pregnancy { implausible, ..Pregnancy::default() };
    }
    Pregnancy { pregnant: true, facts: vec![lab_fact(positive)], implausible }
}

/// A pregnancy with no end recorded whose start is, even at its latest, longer ago than a pregnancy lasts.
fn began_too_long_ago(condition: &ConditionFact, thresholds: &Thresholds, today: Date) -> bool {
    !condition.abated
        && condition.start().is_some_and(|start| (today - start.latest()).whole_days() > thresholds.pregnancy_max_days)
}

/// The newest result of `lab`, if it is recent enough to count as current.
pub(super) fn current_lab<'a>(
    evidence: &'a Evidence,
    lab: Lab,
    thresholds: &Thresholds,
    today: Date,
) -> Option<&'a LabFact> {
    let max_age = if lab.is_vital_sign() { thresholds.vital_current_days } else { thresholds.lab_current_days };
    evidence
        .labs
        .iter()
        .filter(|fact| fact.lab == lab)
        .filter_map(|fact| fact.date.as_ref().map(|date| (fact, &date.date)))
        .max_by_key(|(_, date)| date.latest())
        .filter(|(_, date)| date.days_before(today).0 <= max_age)
        .map(|(fact, _)| fact)
}

/// The newest dated result of `lab`, however old.
pub(super) fn newest_lab(evidence: &Evidence, lab: Lab) -> Option<&LabFact> {
    evidence
        .labs
        .iter()
        .filter(|fact| fact.lab == lab)
        .filter_map(|fact| fact.date.as_ref().map(|date| (fact, date.date.latest())))
        .max_by_key(|(_, latest)| *latest)
        .map(|(fact, _)| fact)
}

fn number(fact: &LabFact) -> Option<f64> {
    match fact.value {
        LabValue::Number { value, .. } => Some(value),
        _ => None,
    }
}

/// What a flag's triggers found: facts, and whether every one is certain.
struct Found {
    facts: Vec<Fact>,
    /// The facts, for "each once" in O(1): a list scan is quadratic on a large record.
    seen: HashSet<Fact>,
    certain: bool,
}

impl Found {
    fn none() -> Found {
        Found { facts: Vec::new(), seen: HashSet::new(), certain: true }
    }

    fn add(&mut self, fact: Fact, certain: bool) {
        if self.seen.insert(fact.clone()) {
            self.facts.push(fact);
        }
        self.certain &= certain;
    }
}

/// Context the triggers need beyond the evidence.
pub(super) struct SafetyContext<'a> {
    pub pregnancy: &'a Pregnancy,
    /// The DVT is 14 days or older (certain or not), with the fact that says so.
    pub thrombus_not_acute: Option<NotAcute>,
}

/// A DVT 14 days to 3 months old.
pub(super) struct NotAcute {
    pub fact: Fact,
    pub certain: bool,
    /// Its age in days, fewest and most, when its onset is dated.
    pub days: Option<(i64, i64)>,
}

pub(super) fn evaluate(
    evidence: &Evidence,
    criteria: &Criteria,
    context: &SafetyContext<'_>,
    today: Date,
) -> Vec<SafetyHit> {
    // `criteria.flags` puts the flags derived from others after them, so each sees the hits before it.
    let mut hits = Vec::new();
    for rule in &criteria.flags {
        if let Some(hit) = evaluate_flag(rule, evidence, criteria, context, today, &hits) {
            hits.push(hit);
        }
    }
    drop_repeated_relative_facts(&mut hits);
    hits
}

/// A finding that is already an absolute contraindication is not repeated as a relative one.
fn drop_repeated_relative_facts(hits: &mut Vec<SafetyHit>) {
    let absolute: Vec<String> = hits
        .iter()
        .filter(|hit| hit.class == FlagClass::LysisAbsolute)
        .flat_map(|hit| hit.facts.iter().map(|fact| fact.resource.clone()))
        .collect();
    for hit in hits.iter_mut().filter(|hit| hit.class == FlagClass::LysisRelative) {
        hit.facts.retain(|fact| !absolute.contains(&fact.resource));
    }
    hits.retain(|hit| !hit.facts.is_empty());
}

fn evaluate_flag(
    rule: &FlagRule,
    evidence: &Evidence,
    criteria: &Criteria,
    context: &SafetyContext<'_>,
    today: Date,
    earlier: &[SafetyHit],
) -> Option<SafetyHit> {
    let thresholds = &criteria.thresholds;
    let mut found = Found::none();
    for trigger in &rule.triggers {
        match trigger {
            Trigger::Condition { concepts, window, active_only } => {
                for condition in evidence.conditions.iter().filter(|c| concepts.contains(&c.concept)) {
                    if let Some(certain) = condition_in_window(condition, *window, *active_only, today) {
                        found.add(condition_fact(condition), certain);
                    }
                }
            }
            Trigger::LabBelow { lab, threshold } => {
                if let Some(fact) = current_lab(evidence, *lab, thresholds, today)
                    && number(fact).is_some_and(|value| value < *threshold)
                {
                    found.add(lab_fact(fact), true);
                }
            }
            Trigger::BloodPressureAbove => {
                for (lab, limit) in
                    [(Lab::SystolicBp, thresholds.systolic_above), (Lab::DiastolicBp, thresholds.diastolic_above)]
                {
                    if let Some(fact) = current_lab(evidence, lab, thresholds, today)
                        && number(fact).is_some_and(|value| value > limit)
                    {
                        found.add(lab_fact(fact), true);
                    }
                }
            }
            Trigger::Allergy(classes) => {
                for allergy in evidence.allergies.iter().filter(|a| a.active && classes.contains(&a.class)) {
                    found.add(allergy_fact(allergy), true);
                }
            }
            Trigger::Pregnancy => {
                if context.pregnancy.pregnant {
                    for fact in &context.pregnancy.facts {
                        found.add(fact.clone(), true);
                    }
                }
            }
            Trigger::RecentProcedure { days } => {
                for procedure in evidence.procedures.iter().filter(|p| is_unknown_completed(p)) {
                    let within = procedure.date.as_ref().map(|dated| dated.date.days_before(today));
                    match within {
                        Some((fewest, _)) if fewest < *days && fewest >= 0 => {
                            found.add(procedure_fact(procedure), true)
                        }
                        _ => {}
                    }
                }
            }
            Trigger::AnticoagulationContraindicated => {
                for hit in earlier.iter().filter(|hit| hit.class == FlagClass::Anticoagulation) {
                    for fact in &hit.facts {
                        found.add(fact.clone(), hit.certain);
                    }
                }
            }
            Trigger::HeparinOrderedWith(concepts) => {
                let active = evidence
                    .conditions
                    .iter()
                    .filter(|c| concepts.contains(&c.concept) && c.is_active())
                    .filter(|c| !matches!(c.verification, Verification::Refuted | Verification::EnteredInError));
                let heparin_orders: Vec<Fact> =
                    evidence.orders.iter().filter(|o| o.group == Some(DrugGroup::Heparin)).map(order_fact).collect();
                if !heparin_orders.is_empty() {
                    let conditions: Vec<Fact> = active.map(condition_fact).collect();
                    if !conditions.is_empty() {
                        for fact in heparin_orders.into_iter().chain(conditions) {
                            found.add(fact, true);
                        }
                    }
                }
            }
            Trigger::ThrombusNotAcute { from_days, before_days } => {
                if let Some(not_acute) = &context.thrombus_not_acute {
                    // An undated or imprecise age may fall in either band: each band fires, uncertain.
                    let (fewest, most) = not_acute.days.unwrap_or((i64::MIN, i64::MAX));
                    let may = from_days.is_none_or(|from| most >= from) && before_days.is_none_or(|b| fewest < b);
                    let surely = from_days.is_none_or(|from| fewest >= from) && before_days.is_none_or(|b| most < b);
                    if may {
                        found.add(not_acute.fact.clone(), not_acute.certain && surely);
                    }
                }
            }
        }
    }
    (!found.facts.is_empty()).then(|| SafetyHit {
        flag: rule.id.clone(),
        class: rule.class,
        label: rule.label.clone(),
        short: rule.short.clone(),
        source: rule.source.clone(),
        certain: found.certain,
        facts: found.facts,
    })
}

/// A completed (or status-less) procedure that is not one of the DVT procedures we know.
fn is_unknown_completed(procedure: &ProcedureFact) -> bool {
    procedure.kind.is_none() && procedure.status.as_deref().is_none_or(|status| status == "completed")
}

/// `Some(certain)` when the condition falls in the window: certain unless its date is missing or straddles
/// the window's edge, or the diagnosis is only suspected.
fn condition_in_window(condition: &ConditionFact, window: Window, active_only: bool, today: Date) -> Option<bool> {
    if matches!(condition.verification, Verification::Refuted | Verification::EnteredInError) {
        return None;
    }
    if (active_only || window == Window::Current) && !condition.is_active() {
        return None;
    }
    let confirmed = condition.verification != Verification::Suspected;
    let within = |earliest_or_latest: Date| match window {
        Window::Current | Window::Ever => true,
        Window::Days(days) => (today - earliest_or_latest).whole_days() < days,
        Window::Months(months) => add_months(earliest_or_latest, months) > today,
        Window::OlderThanMonths(_) => false,
    };
    if matches!(window, Window::Current | Window::Ever) {
        return Some(confirmed);
    }
    if let Window::OlderThanMonths(months) = window {
        // The mirror image: certain only when even the latest possible start is old enough.
        let older = |date: Date| add_months(date, months) <= today;
        return match condition.start() {
            None => Some(false),
            Some(start) if !older(start.earliest()) => None,
            Some(start) => Some(confirmed && older(start.latest())),
        };
    }
    match condition.start() {
        None => Some(false),
        Some(start) if !within(start.latest()) => None,
        Some(start) => Some(confirmed && within(start.earliest())),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::evidence::{ClinicalStatus, Concept, Dated, FhirDate, Match, Source};

    fn stroke(onset: Option<&str>) -> ConditionFact {
        ConditionFact {
            source: Source { resource: "Condition/s".to_owned(), code: None },
            concept: Concept::IschemicStroke,
            matched_by: Match::Code,
            dvt: None,
            clinical_status: ClinicalStatus::Inactive,
            verification: Verification::Confirmed,
            severity: None,
            body_sites: Vec::new(),
            body_site_laterality: None,
            onset: onset.map(|text| Dated { date: FhirDate::parse(text).unwrap(), element: "onsetDateTime" }),
            recorded: None,
            abated: true,
        }
    }

    #[test]
    fn windows_count_resolved_history_and_say_when_they_are_unsure() {
        let today = date!(2026 - 11 - 24);
        let months3 = Window::Months(3);
        let check = |onset| condition_in_window(&stroke(onset), months3, false, today);
        assert_eq!(check(Some("2026-10-20")), Some(true), "5 weeks ago");
        assert_eq!(check(Some("2026-08-25")), Some(true), "one day inside 3 months");
        assert_eq!(check(Some("2026-08-24")), None, "exactly 3 months ago is outside");
        assert_eq!(check(Some("2026-08")), Some(false), "the month straddles the edge");
        assert_eq!(check(None), Some(false), "no date: it may apply");
        assert_eq!(condition_in_window(&stroke(None), Window::Current, false, today), None, "resolved");
    }

    #[test]
    fn an_older_than_window_is_the_mirror_image_of_a_within_window() {
        let today = date!(2026 - 11 - 24);
        let older = Window::OlderThanMonths(3);
        let check = |onset| condition_in_window(&stroke(onset), older, false, today);
        assert_eq!(check(Some("2025-01-10")), Some(true), "almost two years ago");
        assert_eq!(check(Some("2026-08-24")), Some(true), "exactly 3 months ago counts as older");
        assert_eq!(check(Some("2026-08-25")), None, "one day inside 3 months is recent, not history");
        assert_eq!(check(Some("2026-08")), Some(false), "the month straddles the edge");
        assert_eq!(check(None), Some(false), "no date: it may apply");
        assert_eq!(Window::parse("older-than-months:3"), Some(older));
    }
}
