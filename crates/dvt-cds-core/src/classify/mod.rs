//! The ACR scenario classifier: from `Evidence` and an instant to an `Assessment`.
//!
//! Pure: no IO, no clock (the instant is an argument), no randomness, never fails. Missing data is part of
//! the answer (what to document, and the variant each possible answer would give), not an error.
//! The decisions follow the clinical core issue's order: the DVT and its segment, the thrombus age,
//! phlegmasia, pregnancy, May-Thurner, severity, "otherwise healthy"; then safety flags, the IVC filter
//! topic, and suspected DVT imaging.

mod assessment;
mod criteria;
mod decide;
mod dvt;
mod facts;
mod rules;
mod safety;
mod variant;
mod verdict;

use std::collections::{HashMap, HashSet};

use time::{Date, OffsetDateTime};

use crate::evidence::{
    Concept, ConditionFact, DrugGroup, Evidence, Match, MedicationClass, ProcedureKind, Severity, Verification,
    add_months,
};

pub use assessment::{
    Alternative, Answer, Assessment, Fact, FactKind, LabStatus, Missing, MissingDetail, MissingFact, RuleHit, SafetyHit,
};
pub use criteria::{
    AcrRow, AcrTables, Applies, Category, Criteria, Effect, FlagClass, FlagRule, OrderSelector, PreLysisLab,
    PreLysisWhen, ProcedureInfo, Thresholds, Trigger, VariantTable, Window,
};
pub use rules::Rule;
pub use variant::Variant;
pub use verdict::{
    Finding, Instead, OrderRating, OrderVerdict, Pama, Suggested, UNRATED_ORDER_REASONS, Urgency, needs_of,
};

use crate::ids::ProcedureId;
use decide::{Decision, FilterSituation, Healthy, Need, Persistence, Situation};
use dvt::{Age, DvtReading, SegmentDecision};
use facts::{condition_fact, lab_fact, medication_fact, order_fact, procedure_fact};

/// Classifies the patient at the instant `now` (every date comparison uses its UTC day).
pub fn classify(evidence: &Evidence, criteria: &Criteria, now: OffsetDateTime) -> Assessment {
    // The calendar day at `now` in the offset it is given in: the pipeline gives it in the deployment's zone.
    let today = now.date();
    let thresholds = &criteria.thresholds;
    let mut out = Recorder::default();

    for (rule, condition) in dvt::not_counted(evidence) {
        out.rule(rule, vec![condition_fact(condition)]);
    }
    let counted = dvt::counted(evidence);
    let suspected = dvt::suspected(evidence);
    if !counted.is_empty() {
        out.rule(Rule::DvtConfirmedActive, counted.iter().map(|c| condition_fact(c)).collect());
    } else if !suspected.is_empty() {
        out.rule(Rule::DvtSuspectedOnly, suspected.iter().map(|c| condition_fact(c)).collect());
    }

    let reading = dvt::read(evidence, &counted, thresholds, today);
    let pregnancy = safety::pregnancy(evidence, thresholds, today);
    // Lysis loses efficacy from 14 days on; a thrombus of 3 months or more is judged by variant 6 instead.
    let thrombus_not_acute = reading.as_ref().and_then(|reading| {
        let certain = match reading.age {
            Age::Subacute => true,
            Age::Imprecise => false,
            Age::Acute | Age::Chronic | Age::Unknown => return None,
        };
        Some(safety::NotAcute { fact: condition_fact(reading.index), certain, days: reading.age_days })
    });
    let safety_hits = safety::evaluate(
        evidence,
        criteria,
        &safety::SafetyContext { pregnancy: &pregnancy, thrombus_not_acute },
        today,
    );

    // Variant 5 needs phlegmasia asserted: a suspected one is not enough.
    let phlegmasia: Vec<&ConditionFact> =
        evidence.conditions_of(Concept::PhlegmasiaCeruleaDolens).filter(|condition| condition.is_asserted()).collect();
    if let Some(reading) = &reading
        && phlegmasia.is_empty()
    {
        out.rule(reading.segment_rule, reading.segment_facts.clone());
        for rule in &reading.age_rules {
            out.rule(*rule, reading.age_facts.clone());
        }
    }

    let topic_193 =
        decide_193(evidence, criteria, reading.as_ref(), &phlegmasia, &pregnancy, &safety_hits, today, &mut out);
    if let Some(variant) = topic_193 {
        out.variant(variant);
        let relative: Vec<Fact> = safety_hits
            .iter()
            .filter(|hit| hit.class == FlagClass::LysisRelative)
            .flat_map(|hit| hit.facts.clone())
            .collect();
        if matches!(variant, Variant::Acr193V1 | Variant::Acr193V2 | Variant::Acr193V3) && !relative.is_empty() {
            out.rule(Rule::RelativeContraindicationKept, relative);
        }
    }

    decide_6(evidence, reading.as_ref(), &safety_hits, &mut out);
    if counted.is_empty() {
        decide_75(evidence, &suspected, &mut out);
    }

    prelysis(evidence, criteria, today, &mut out);
    implausible_pregnancy(&pregnancy, thresholds, &mut out);
    order_on_the_other_side(evidence, &mut out);
    out.assessment.unobtained.clone_from(&evidence.gaps);
    for unreadable in &evidence.unreadable {
        out.missing(Missing::new(MissingDetail::UnreadableResource(unreadable.clone())));
    }

    for hit in &safety_hits {
        for fact in &hit.facts {
            out.evidence(fact.clone());
        }
    }
    out.assessment.safety = safety_hits;
    let verdicts = verdict::verdicts(evidence, criteria, &out.assessment);
    // The rules particular to an order (why no variant applies to it, what qualifies its rating) are
    // rules of the assessment too, with the order as their fact.
    for verdict in &verdicts {
        let Some(order) = evidence.orders.iter().find(|order| order.source.resource == verdict.order) else { continue };
        for rule in &verdict.notes {
            if !out.assessment.rules.iter().any(|hit| hit.id == *rule) || verdict_only(*rule) {
                out.rule(*rule, vec![order_fact(order)]);
            }
        }
    }
    out.assessment.orders = verdicts;
    out.assessment.contraindicated = verdict::contraindicated_kinds(criteria, &out.assessment.safety);
    out.assessment
}

/// Rules only a verdict fires (the others it notes were fired by the classifier already).
fn verdict_only(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::StentWithoutRemoval
            | Rule::ThrombolyticRouteUnknown
            | Rule::FilterAnticoagulationPossible
            | Rule::NoVariantMatches
            | Rule::OrderNotInTables
    )
}

/// A pregnancy recorded longer ago than a pregnancy lasts, with no end, is not applied: the card asks to confirm it.
fn implausible_pregnancy(pregnancy: &safety::Pregnancy, thresholds: &Thresholds, out: &mut Recorder) {
    for fact in &pregnancy.implausible {
        out.evidence(fact.clone());
        out.missing(Missing::new(MissingDetail::PregnancyUnconfirmed {
            pregnancy: fact.resource.clone(),
            max_days: thresholds.pregnancy_max_days,
        }));
    }
}

/// A selected order for one leg when the only DVT on record is in the other: the card says so, to confirm the side.
fn order_on_the_other_side(evidence: &Evidence, out: &mut Recorder) {
    use crate::evidence::Laterality::{Left, Right};
    let sides: Vec<(crate::evidence::Laterality, &crate::evidence::ConditionFact)> = evidence
        .conditions_of(crate::evidence::Concept::Dvt)
        .filter(|condition| condition.is_asserted() && condition.is_active())
        .filter_map(|condition| {
            let side = condition.dvt.map(|dvt| dvt.laterality).filter(|side| matches!(side, Left | Right));
            side.or(condition.body_site_laterality).map(|side| (side, condition))
        })
        .collect();
    let [(dvt_side, dvt)] = sides.as_slice() else { return };
    if !matches!(dvt_side, Left | Right) {
        return;
    }
    let selected =
        |reference: &str| evidence.orders.iter().any(|order| order.selected && order.source.resource == reference);
    for named in evidence.order_sides.iter().filter(|named| selected(&named.order)) {
        if matches!((named.laterality, dvt_side), (Left, Right) | (Right, Left)) {
            // A rule of the order (its verdict warns) and a fact to confirm (the card says which).
            let order = evidence.orders.iter().find(|order| order.source.resource == named.order);
            out.rule(Rule::OrderOtherLeg, order.map(order_fact).into_iter().chain([condition_fact(dvt)]).collect());
            out.missing(Missing::new(MissingDetail::OrderSide {
                order: named.order.clone(),
                order_side: named.laterality,
                named_in: named.named_in,
                dvt: dvt.source.resource.clone(),
                dvt_side: *dvt_side,
            }));
        }
    }
}

/// Collects rules, facts, variants and missing items, each once. The sets make "once" cost O(1) per
/// fact: a record with thousands of diagnoses made the list scans quadratic.
#[derive(Default)]
struct Recorder {
    assessment: Assessment,
    evidence_seen: HashSet<Fact>,
    rule_facts_seen: HashMap<Rule, HashSet<Fact>>,
}

impl Recorder {
    fn rule(&mut self, rule: Rule, facts: Vec<Fact>) {
        for fact in &facts {
            self.evidence(fact.clone());
        }
        let seen = self.rule_facts_seen.entry(rule).or_default();
        if let Some(hit) = self.assessment.rules.iter_mut().find(|hit| hit.id == rule) {
            for fact in facts {
                if seen.insert(fact.clone()) {
                    hit.facts.push(fact);
                }
            }
            return;
        }
        seen.extend(facts.iter().cloned());
        self.assessment.rules.push(RuleHit { id: rule, description: rule.description(), facts });
    }

    fn evidence(&mut self, fact: Fact) {
        if self.evidence_seen.insert(fact.clone()) {
            self.assessment.evidence.push(fact);
        }
    }

    fn variant(&mut self, variant: Variant) {
        if !self.assessment.variants.contains(&variant) {
            self.assessment.variants.push(variant);
        }
    }

    fn missing(&mut self, missing: Missing) {
        // The same fact about the same resources once (the detail is what its sentence says).
        if !self.assessment.missing.iter().any(|m| m.detail == missing.detail) {
            self.assessment.missing.push(missing);
        }
    }
}

#[expect(clippy::too_many_arguments, reason = "the decision reads several independent parts of the record")]
fn decide_193(
    evidence: &Evidence,
    criteria: &Criteria,
    reading: Option<&DvtReading<'_>>,
    phlegmasia: &[&ConditionFact],
    pregnancy: &safety::Pregnancy,
    safety_hits: &[SafetyHit],
    today: Date,
    out: &mut Recorder,
) -> Option<Variant> {
    if reading.is_none() && phlegmasia.is_empty() {
        return None;
    }
    let thresholds = &criteria.thresholds;

    // May-Thurner: asserted by name or code; ICD-10-CM I87.1 alone only with a left iliofemoral DVT.
    let left_iliofemoral = reading.is_some_and(|r| {
        r.segment == SegmentDecision::Iliofemoral && matches!(r.laterality, crate::evidence::Laterality::Left)
    });
    let mut may_thurner_facts = Vec::new();
    for condition in evidence.conditions_of(Concept::MayThurner).filter(|c| c.verification != Verification::Suspected) {
        if condition.matched_by == Match::UnverifiedCode && !left_iliofemoral {
            out.rule(Rule::MayThurnerCodeNotLeft, vec![condition_fact(condition)]);
        } else {
            may_thurner_facts.push(condition_fact(condition));
        }
    }

    let cancer: Vec<Fact> =
        evidence.conditions_of(Concept::ActiveCancer).filter(|c| c.is_asserted()).map(condition_fact).collect();
    let absolute: Vec<&SafetyHit> = safety_hits.iter().filter(|hit| hit.class == FlagClass::LysisAbsolute).collect();
    let healthy = if !cancer.is_empty() {
        Healthy::Cancer
    } else if absolute.iter().any(|hit| hit.certain) {
        Healthy::AbsoluteContraindication
    } else if !absolute.is_empty() {
        Healthy::Uncertain
    } else {
        Healthy::Yes
    };

    let (persistence, persistence_facts) = persistence(evidence, reading, thresholds, today);
    let situation = Situation {
        phlegmasia: !phlegmasia.is_empty(),
        segment: reading.map_or(SegmentDecision::Unknown, |r| r.segment),
        age: reading.map_or(Age::Unknown, |r| r.age),
        pregnant: pregnancy.pregnant,
        may_thurner: !may_thurner_facts.is_empty(),
        severity: reading.and_then(|r| r.severity.as_ref().map(|(severity, _)| *severity)),
        healthy,
        persistence,
    };
    let decision = decide::topic_193(&situation);

    let severity_facts: Vec<Fact> =
        reading.and_then(|r| r.severity.as_ref().map(|(_, fact)| vec![fact.clone()])).unwrap_or_default();
    let index_facts: Vec<Fact> = reading.map(|r| vec![condition_fact(r.index)]).unwrap_or_default();
    let absolute_facts: Vec<Fact> = absolute.iter().flat_map(|hit| hit.facts.clone()).collect();
    for rule in &decision.rules {
        let facts = match rule {
            Rule::PhlegmasiaV5 => phlegmasia.iter().map(|c| condition_fact(c)).collect(),
            Rule::PregnancyV7 => pregnancy.facts.iter().cloned().chain(severity_facts.clone()).collect(),
            Rule::MayThurnerV4 => may_thurner_facts.clone(),
            Rule::MildV1
            | Rule::ModerateSevereV2
            | Rule::FemoropoplitealV3
            | Rule::FemoropoplitealSevereOutside
            | Rule::ChronicMild => severity_facts.clone(),
            Rule::PersistentV6 => persistence_facts.iter().cloned().chain(severity_facts.clone()).collect(),
            Rule::ChronicAnticoagulationUnder3Months | Rule::ChronicThrombusRemoved => persistence_facts.clone(),
            Rule::NotOtherwiseHealthyCancer => cancer.clone(),
            Rule::NotOtherwiseHealthyLysisContraindication => absolute_facts.clone(),
            _ => index_facts.clone(),
        };
        out.rule(*rule, facts);
    }
    for need in &decision.needs {
        out.missing(missing_for(*need, &situation, reading, &absolute));
    }
    decision.variant
}

/// Variant 6's treatment history: anticoagulation alone, begun at least 3 months ago for this DVT.
fn persistence(
    evidence: &Evidence,
    reading: Option<&DvtReading<'_>>,
    thresholds: &Thresholds,
    today: Date,
) -> (Persistence, Vec<Fact>) {
    let anticoagulants: Vec<_> = evidence
        .medications
        .iter()
        .filter(|m| m.class == MedicationClass::Anticoagulant)
        .filter(|m| !matches!(m.status.as_deref(), Some("entered-in-error" | "cancelled" | "not-taken")))
        .collect();
    if anticoagulants.is_empty() {
        let medications_unseen = evidence.gaps.iter().any(|gap| gap.part.is_medications());
        return (if medications_unseen { Persistence::Unknown } else { Persistence::NoAnticoagulation }, Vec::new());
    }
    let Some(first) = anticoagulants
        .iter()
        .filter_map(|m| m.start.as_ref().map(|start| (*m, start.date.earliest())))
        .min_by_key(|(_, start)| *start)
    else {
        return (Persistence::Unknown, anticoagulants.iter().map(|m| medication_fact(m)).collect());
    };
    let (medication, medication_start) = first;
    let mut facts = vec![medication_fact(medication)];
    // Treatment of this DVT starts at the later of the anticoagulant's start and the DVT's onset: an
    // anticoagulant taken since before the DVT is not 3 months of treatment for it.
    let Some(index) = reading.map(|r| r.index) else {
        return (Persistence::Unknown, facts);
    };
    let Some(onset) = index.start().map(|date| date.latest()) else {
        facts.push(condition_fact(index));
        return (Persistence::Unknown, facts);
    };
    let start = if onset > medication_start {
        facts.push(condition_fact(index));
        onset
    } else {
        medication_start
    };
    if add_months(start, thresholds.persistent_months) > today {
        return (Persistence::AnticoagulationUnder3Months, facts);
    }
    // Only a removal done or under way counts, not one planned, not done or entered in error (a status-less
    // one, which FHIR does not allow, is taken as done, as the recent-procedure flag takes it).
    let removals = evidence
        .procedures
        .iter()
        .filter(|p| p.kind.is_some_and(ProcedureKind::removes_thrombus))
        .filter(|p| matches!(p.status.as_deref(), Some("completed" | "in-progress") | None));
    for procedure in removals {
        match procedure.date.as_ref().map(|dated| dated.date.latest()) {
            Some(date) if date >= start => {
                facts.push(procedure_fact(procedure));
                return (Persistence::ThrombusRemovedSince, facts);
            }
            Some(_) => {}
            None => {
                facts.push(procedure_fact(procedure));
                return (Persistence::Unknown, facts);
            }
        }
    }
    (Persistence::AnticoagulatedLongEnough, facts)
}

fn missing_for(
    need: Need,
    situation: &Situation,
    reading: Option<&DvtReading<'_>>,
    absolute: &[&SafetyHit],
) -> Missing {
    let with =
        |answer: Answer, changed: Situation| Alternative { answer, variant: decide::topic_193(&changed).variant };
    let diagnosis = reading.map(|r| r.index.source.resource.clone());
    match need {
        Need::Segment => Missing {
            detail: MissingDetail::DvtSegment { diagnosis },
            if_documented: vec![
                with(Answer::Iliofemoral, Situation { segment: SegmentDecision::Iliofemoral, ..*situation }),
                with(Answer::Femoropopliteal, Situation { segment: SegmentDecision::Femoropopliteal, ..*situation }),
            ],
        },
        Need::Onset => Missing {
            detail: MissingDetail::DvtOnset { diagnosis },
            if_documented: vec![
                with(Answer::OnsetUnder14Days, Situation { age: Age::Acute, ..*situation }),
                with(Answer::OnsetFrom14DaysTo3Months, Situation { age: Age::Subacute, ..*situation }),
                with(Answer::Onset3MonthsOrMore, Situation { age: Age::Chronic, ..*situation }),
            ],
        },
        Need::Severity => Missing {
            detail: MissingDetail::DvtSeverity { diagnosis },
            if_documented: [Severity::Mild, Severity::Moderate, Severity::Severe]
                .into_iter()
                .map(|severity| with(Answer::Severity(severity), Situation { severity: Some(severity), ..*situation }))
                .collect(),
        },
        Need::AnticoagulationStart => Missing {
            detail: MissingDetail::AnticoagulationStart { diagnosis },
            if_documented: vec![
                with(
                    Answer::AnticoagulatedLongEnough,
                    Situation { persistence: Persistence::AnticoagulatedLongEnough, ..*situation },
                ),
                with(
                    Answer::AnticoagulationUnder3Months,
                    Situation { persistence: Persistence::AnticoagulationUnder3Months, ..*situation },
                ),
            ],
        },
        Need::ContraindicationDate => Missing {
            detail: MissingDetail::ContraindicationDate {
                findings: absolute.iter().flat_map(|hit| hit.facts.iter().map(|f| f.resource.clone())).collect(),
            },
            if_documented: vec![
                with(Answer::OutsideWindow, Situation { healthy: Healthy::Yes, ..*situation }),
                with(Answer::InsideWindow, Situation { healthy: Healthy::AbsoluteContraindication, ..*situation }),
            ],
        },
    }
}

fn decide_6(evidence: &Evidence, reading: Option<&DvtReading<'_>>, safety_hits: &[SafetyHit], out: &mut Recorder) {
    let pulmonary_embolism: Vec<Fact> =
        evidence.conditions_of(Concept::PulmonaryEmbolism).filter(|c| c.is_asserted()).map(condition_fact).collect();
    let anticoagulation: Vec<&SafetyHit> =
        safety_hits.iter().filter(|hit| hit.class == FlagClass::Anticoagulation && hit.certain).collect();
    // Variant 6 is "undergoing catheter-directed thrombolysis": CDT/PMT ordered or under way, not systemic
    // thrombolysis or a thrombolytic drug order, which may be either.
    let cdt = |procedures: &[ProcedureId]| procedures.contains(&ProcedureId::CDT_PMT);
    let lysis: Vec<Fact> = evidence
        .orders
        .iter()
        .filter(|order| cdt(&order.procedures))
        .map(order_fact)
        .chain(
            evidence
                .procedures
                .iter()
                .filter(|p| cdt(&p.procedures))
                .filter(|p| matches!(p.status.as_deref(), Some("preparation" | "in-progress")))
                .map(procedure_fact),
        )
        .collect();
    let situation = FilterSituation {
        segment: reading.map(|r| r.segment),
        age: reading.map(|r| r.age),
        pulmonary_embolism: !pulmonary_embolism.is_empty(),
        anticoagulation_contraindicated: !anticoagulation.is_empty(),
        lysis_planned: !lysis.is_empty(),
    };
    let Decision { variant, rules, .. } = decide::topic_6(&situation);
    let dvt_facts: Vec<Fact> = reading
        .map(|r| vec![condition_fact(r.index)])
        .unwrap_or_default()
        .into_iter()
        .chain(pulmonary_embolism)
        .collect();
    for rule in rules {
        let facts = match rule {
            Rule::IvcV2 => anticoagulation.iter().flat_map(|hit| hit.facts.clone()).collect(),
            Rule::IvcV6 => dvt_facts.iter().cloned().chain(lysis.clone()).collect(),
            _ => dvt_facts.clone(),
        };
        out.rule(rule, facts);
    }
    if let Some(variant) = variant {
        out.variant(variant);
    }
}

/// Topic 75 (classifier step 9): an imaging order whose reason is suspected DVT or leg swelling, with no
/// confirmed DVT. A suspected DVT on record without such an order (e.g. patient-view) is not enough.
fn decide_75(evidence: &Evidence, suspected: &[&ConditionFact], out: &mut Recorder) {
    let reasons = [Concept::Dvt, Concept::LegEdema];
    let imaging_for_suspected: Vec<Fact> = evidence
        .orders
        .iter()
        .filter(|order| order.kind == Some(ProcedureKind::Imaging))
        .filter(|order| order.reasons.iter().any(|reason| reason.concept.is_some_and(|c| reasons.contains(&c))))
        .map(order_fact)
        .collect();
    if imaging_for_suspected.is_empty() {
        return;
    }
    let facts = imaging_for_suspected.into_iter().chain(suspected.iter().map(|c| condition_fact(c))).collect();
    out.rule(Rule::SuspectedDvtImagingV1, facts);
    out.variant(Variant::Acr75V1);
}

/// The results lysis needs (knowledge/safety.toml `[[prelysis]]`), when a lysis order is acted on: the newest
/// of each, and a missing fact for each with no current result.
fn prelysis(evidence: &Evidence, criteria: &Criteria, today: Date, out: &mut Recorder) {
    let lysis: Vec<&crate::evidence::OrderFact> =
        evidence.orders.iter().filter(|order| order.selected && order.kind == Some(ProcedureKind::Lysis)).collect();
    if lysis.is_empty() {
        return;
    }
    let thresholds = &criteria.thresholds;
    let contrast = lysis
        .iter()
        .flat_map(|order| order.procedures.iter())
        .any(|id| criteria.acr.procedure(id).is_some_and(|procedure| procedure.contrast));
    let on_vka = evidence
        .medications
        .iter()
        .filter(|m| {
            !matches!(
                m.status.as_deref(),
                Some("entered-in-error" | "cancelled" | "not-taken" | "stopped" | "completed")
            )
        })
        .any(|m| m.group == Some(DrugGroup::Vka));
    for needed in &criteria.prelysis {
        let applies = needed.when.iter().any(|when| match when {
            PreLysisWhen::Always => true,
            PreLysisWhen::Vka => on_vka,
            PreLysisWhen::Contrast => contrast,
            PreLysisWhen::Condition(concept) => evidence.conditions_of(*concept).any(|c| c.is_asserted()),
        });
        let Some(first) = needed.labs.first() else { continue };
        if !applies {
            continue;
        }
        let current = needed.labs.iter().find_map(|lab| safety::current_lab(evidence, *lab, thresholds, today));
        // A result we cannot read (an unknown unit) is no result: it is shown, never compared or relied on.
        let unreadable = current.and_then(|fact| match &fact.value {
            crate::evidence::LabValue::Unreadable { problem } => Some((fact, problem)),
            _ => None,
        });
        let current = current.filter(|_| unreadable.is_none());
        let newest = current.or(unreadable.map(|(fact, _)| fact)).or_else(|| {
            needed
                .labs
                .iter()
                .filter_map(|lab| safety::newest_lab(evidence, *lab))
                .max_by_key(|fact| fact.date.as_ref().map(|dated| dated.date.latest()))
        });
        if let Some(fact) = newest {
            out.evidence(lab_fact(fact));
        }
        if let Some((fact, problem)) = unreadable {
            out.missing(Missing::new(MissingDetail::UnreadableResult {
                lab: *first,
                order: needed.order.clone(),
                newest: fact.source.resource.clone(),
                problem: problem.clone(),
            }));
        } else if current.is_none() {
            out.missing(Missing::new(MissingDetail::RecentResult {
                lab: *first,
                order: needed.order.clone(),
                max_age_days: thresholds.lab_current_days,
            }));
        }
        out.assessment.prelysis.push(LabStatus {
            lab: *first,
            order: needed.order.clone(),
            newest: newest.map(lab_fact),
            current: current.is_some(),
            unreadable: unreadable.map(|(_, problem)| problem.clone()),
            max_age_days: thresholds.lab_current_days,
        });
    }
}

#[cfg(test)]
mod tests;
