//! Per-order verdicts: for each draft order acted on, its ACR rating in the patient's variant, the safety
//! findings that concern its kind of procedure, its place in the order set, the alternatives a suggestion
//! may offer, and the indicator its card must have. Decided here so that `cards` only phrases them.
//!
//! Safety comes before the rating (reference §2.5.3: the 2020 variants assume a lysis candidate):
//! a finding that contraindicates the order voids its rating (no "appropriate" stamp), a cautioning one
//! keeps the category and raises a warning, and no alternative is offered that the record contraindicates.

use serde::Serialize;

use super::assessment::{Assessment, Missing, MissingFact, SafetyHit};
use super::criteria::{AcrTables, Category, Criteria, Effect, OrderSelector};
use super::rules::Rule;
use super::variant::Variant;
use crate::evidence::{CodeRef, Concept, DrugGroup, Evidence, OrderFact, ProcedureKind};
use crate::ids::{FlagId, ProcedureId};

/// Topics in the order they are consulted: the iliofemoral topic first, then IVC filters, then imaging.
const TOPICS: [u32; 3] = [193, 6, 75];

/// Missing facts that keep a topic from deciding.
pub fn needs_of(topic: u32) -> &'static [MissingFact] {
    use MissingFact::*;
    match topic {
        193 => &[DvtSegment, DvtOnset, DvtSeverity, AnticoagulationStart, ContraindicationDate],
        6 => &[DvtSegment],
        _ => &[],
    }
}

/// Rules that, with a DVT on record, say why no variant of the iliofemoral topic applies.
const OUTSIDE_RULES: [Rule; 16] = [
    Rule::DvtNotCountedRefuted,
    Rule::DvtNotCountedInactive,
    Rule::DvtSuspectedOnly,
    Rule::SegmentDistalOnly,
    Rule::SegmentIvcOnly,
    Rule::AgeSubacuteOutsideAcr,
    Rule::FemoropoplitealSevereOutside,
    Rule::FemoropoplitealNotAcute,
    Rule::ChronicNoAnticoagulation,
    Rule::ChronicAnticoagulationUnder3Months,
    Rule::ChronicThrombusRemoved,
    Rule::ChronicMild,
    Rule::NotOtherwiseHealthyCancer,
    Rule::NotOtherwiseHealthyLysisContraindication,
    Rule::StentWithoutRemoval,
    Rule::ThrombolyticRouteUnknown,
];

/// The reasons that make an order no ACR table we use rates worth a card (rule `order-not-in-tables`):
/// it is placed for the condition the service is about.
pub const UNRATED_ORDER_REASONS: [Concept; 2] = [Concept::Dvt, Concept::LegEdema];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderVerdict {
    /// The draft order, `ServiceRequest/cdt`.
    pub order: String,
    pub procedures: Vec<ProcedureId>,
    /// The order's code, for an order that names no procedure (the card can only name it by its code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<ProcedureKind>,
    pub rating: OrderRating,
    /// The Argonaut PAMA code the order is stamped with, when it gets one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pama: Option<Pama>,
    /// The safety findings that concern this order's kind, with what each does to it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// Another draft order whose rating this one shares (a stent drafted with CDT/PMT).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rated_with: Option<String>,
    /// Thrombus removal drafted in the same order set as this anticoagulant.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub with_removal: Vec<String>,
    /// Rules particular to this order: why no variant applies, or what qualifies its rating.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Rule>,
    /// Better-rated procedures a suggestion may create, best first; none the record contraindicates,
    /// none already drafted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<Suggested>,
    /// For an order the record contraindicates: what ACR rates for this patient instead (named, not
    /// suggested: the choice needs the clinician).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub instead: Vec<Instead>,
    /// Emergent thrombus removal (CDT/PMT or surgical thrombectomy): what phlegmasia calls for.
    pub emergent_removal: bool,
    pub indicator: Urgency,
}

/// An alternative to a contraindicated order, with its ACR rating for this patient when a variant rates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instead {
    pub procedure: ProcedureId,
    /// `None`: no 2020 variant rates it for this patient; ACR's 2013 comment names it (reference §1.4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rated: Option<(Variant, Category)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum OrderRating {
    /// The patient's variant rates the order: one row, or one per device an IVC filter code may mean, all
    /// with the same PAMA code.
    Rated { variant: Variant, rows: Vec<(ProcedureId, Category)> },
    /// The order's code means rows whose PAMA codes differ: not rated, each shown.
    Ambiguous { variant: Variant, rows: Vec<(ProcedureId, Category)> },
    /// A finding contraindicates the order: the rating ACR would give (when a variant applies) does not
    /// stand. `missing` lists what the variant also needs, if anything.
    Withheld {
        #[serde(skip_serializing_if = "Option::is_none")]
        variant: Option<Variant>,
        rows: Vec<(ProcedureId, Category)>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        missing: Vec<MissingFact>,
    },
    /// The data cannot decide the topic's variant: what to document.
    Undecided { topic: u32, missing: Vec<MissingFact> },
    /// A topic rates the procedure, but no variant of it applies to this patient.
    NoVariant { topic: u32 },
    /// No ACR table rates the procedure (a stand-alone stent, a thrombolytic drug).
    NotRated,
    /// An anticoagulant drafted with thrombus removal: part of that plan, not "anticoagulation alone".
    WithRemoval,
}

impl OrderRating {
    /// The category when every row has the same one.
    pub fn category(&self) -> Option<Category> {
        let rows = match self {
            OrderRating::Rated { rows, .. } | OrderRating::Withheld { rows, .. } => rows,
            _ => return None,
        };
        let first = rows.first()?.1;
        rows.iter().all(|(_, category)| *category == first).then_some(first)
    }

    pub fn variant(&self) -> Option<Variant> {
        match self {
            OrderRating::Rated { variant, .. } | OrderRating::Ambiguous { variant, .. } => Some(*variant),
            OrderRating::Withheld { variant, .. } => *variant,
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pama {
    Appropriate,
    NotAppropriate,
    NoCriteriaApply,
}

impl Pama {
    pub fn code(self) -> &'static str {
        match self {
            Pama::Appropriate => "appropriate",
            Pama::NotAppropriate => "not-appropriate",
            Pama::NoCriteriaApply => "no-criteria-apply",
        }
    }

    pub fn of(category: Category) -> Pama {
        match category {
            Category::UsuallyNotAppropriate => Pama::NotAppropriate,
            _ => Pama::Appropriate,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Urgency {
    Info,
    Warning,
    Critical,
}

/// A safety flag (by id, as in `Assessment::safety`) and its effect on the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub flag: FlagId,
    pub effect: Effect,
    /// False when the flag may not apply (unconfirmed, or a date it needs is missing or imprecise).
    pub certain: bool,
}

/// A procedure a suggestion may create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suggested {
    pub procedure: ProcedureId,
    pub variant: Variant,
    pub category: Category,
    /// The suggestion adds it beside the order (an anticoagulant keeps going under thrombus removal)
    /// instead of replacing the order.
    pub adds: bool,
    pub recommended: bool,
}

/// The kinds of procedure a finding on record contraindicates for this patient, whatever is ordered.
pub(super) fn contraindicated_kinds(criteria: &Criteria, safety: &[SafetyHit]) -> Vec<ProcedureKind> {
    ProcedureKind::ALL
        .into_iter()
        .filter(|kind| {
            findings_of(Some(*kind), None, false, criteria, safety).iter().any(|f| f.effect == Effect::Contraindicates)
        })
        .collect()
}

/// The verdict on every order acted on (`selections` at order-select, every draft at order-sign); the
/// order set is every draft order of the call.
pub(super) fn verdicts(evidence: &Evidence, criteria: &Criteria, assessment: &Assessment) -> Vec<OrderVerdict> {
    let dvt_on_record = assessment.rules.iter().any(|hit| {
        matches!(
            hit.id,
            Rule::DvtConfirmedActive
                | Rule::DvtSuspectedOnly
                | Rule::DvtNotCountedRefuted
                | Rule::DvtNotCountedInactive
        )
    });
    // Orders of ours, and those no table rates that are placed for DVT (rule `order-not-in-tables`).
    let ours = |order: &&OrderFact| !order.procedures.is_empty() || placed_for_dvt(order);
    let acted = evidence.orders.iter().filter(|order| order.selected).filter(ours);
    acted.map(|order| verdict(order, evidence, criteria, assessment, dvt_on_record)).collect()
}

fn verdict(
    order: &OrderFact,
    evidence: &Evidence,
    criteria: &Criteria,
    assessment: &Assessment,
    dvt_on_record: bool,
) -> OrderVerdict {
    let acr = &criteria.acr;
    let mut findings = findings_for(order, criteria, &assessment.safety);
    let others = || evidence.orders.iter().filter(|other| other.source.resource != order.source.resource);

    let mut rated_with = None;
    let mut with_removal = Vec::new();
    let mut notes = Vec::new();
    let mut rating = rate(&order.procedures, assessment, acr);
    if order.kind == Some(ProcedureKind::Anticoagulation) {
        // ACR rates "anticoagulation alone": an anticoagulant drafted with thrombus removal is not that,
        // unless the record contraindicates the removal, which then does not count.
        with_removal = others()
            .filter(|other| other.kind.is_some_and(ProcedureKind::removes_thrombus))
            .filter(|other| {
                !findings_for(other, criteria, &assessment.safety).iter().any(|f| f.effect == Effect::Contraindicates)
            })
            .map(|other| other.source.resource.clone())
            .collect();
        if !with_removal.is_empty() {
            rating = OrderRating::WithRemoval;
        }
    }
    if order.kind == Some(ProcedureKind::VenousStent) {
        // "CDT/PMT with or without stent placement": a stent drafted with the removal its row covers shares
        // that rating.
        let companion = others().find_map(|other| {
            let other_rating = rate(&other.procedures, assessment, acr);
            let variant = other_rating.variant()?;
            other
                .procedures
                .iter()
                .filter_map(|procedure| acr.row(variant, procedure))
                .any(|row| order.procedures.iter().any(|p| row.covers.contains(p)))
                .then_some((other, other_rating))
        });
        match companion {
            Some((companion, companion_rating)) => {
                // The stent is part of the removal: what contraindicates the removal voids the stent's rating too.
                for finding in findings_for(companion, criteria, &assessment.safety) {
                    if !findings.iter().any(|f| f.flag == finding.flag) {
                        findings.push(finding);
                    }
                }
                rated_with = Some(companion.source.resource.clone());
                rating = companion_rating;
            }
            None if dvt_on_record && acute_or_subacute(assessment) => notes.push(Rule::StentWithoutRemoval),
            None => {}
        }
    }
    if rating == OrderRating::NotRated && dvt_on_record && order.kind == Some(ProcedureKind::Lysis) {
        notes.push(Rule::ThrombolyticRouteUnknown);
    }
    // An order whose code we do not know, placed for DVT (a nuclear venogram, say): said, not silent, so
    // the ordering clinician (and a PAMA client) sees that no criteria were applied.
    if rating == OrderRating::NotRated && order.procedures.is_empty() && placed_for_dvt(order) {
        notes.push(Rule::OrderNotInTables);
    }
    if let OrderRating::NoVariant { topic } = rating
        && dvt_on_record
    {
        // The DVT's own status explains any topic; the others are the iliofemoral topic's reasons.
        let explains = |rule: &Rule| {
            OUTSIDE_RULES.contains(rule)
                && (topic == 193
                    || matches!(
                        rule,
                        Rule::DvtNotCountedRefuted | Rule::DvtNotCountedInactive | Rule::DvtSuspectedOnly
                    ))
        };
        notes.extend(assessment.rules.iter().map(|hit| hit.id).filter(explains));
        if notes.is_empty() {
            notes.push(Rule::NoVariantMatches);
        }
    }
    if rating.variant() == Some(Variant::Acr6V1) && order.kind == Some(ProcedureKind::IvcFilter) {
        notes.push(Rule::FilterAnticoagulationPossible);
    }

    let names_this_order =
        |hit: &&super::assessment::RuleHit| hit.facts.iter().any(|fact| fact.resource == order.source.resource);
    if assessment.rules.iter().filter(|hit| hit.id == Rule::OrderOtherLeg).any(|hit| names_this_order(&hit)) {
        notes.push(Rule::OrderOtherLeg);
    }

    let contraindicated = findings.iter().any(|finding| finding.effect == Effect::Contraindicates);
    if contraindicated {
        rating = match rating {
            OrderRating::Rated { variant, rows } | OrderRating::Ambiguous { variant, rows } => {
                OrderRating::Withheld { variant: Some(variant), rows, missing: Vec::new() }
            }
            OrderRating::Undecided { missing, .. } => {
                OrderRating::Withheld { variant: None, rows: Vec::new(), missing }
            }
            OrderRating::Withheld { .. }
            | OrderRating::NoVariant { .. }
            | OrderRating::NotRated
            | OrderRating::WithRemoval => {
                OrderRating::Withheld { variant: None, rows: Vec::new(), missing: Vec::new() }
            }
        };
    }
    let pama = match &rating {
        OrderRating::Rated { rows, .. } => rows.first().map(|(_, category)| Pama::of(*category)),
        OrderRating::Withheld { .. } | OrderRating::NoVariant { .. } => Some(Pama::NoCriteriaApply),
        OrderRating::NotRated if notes.contains(&Rule::OrderNotInTables) => Some(Pama::NoCriteriaApply),
        OrderRating::Ambiguous { .. }
        | OrderRating::Undecided { .. }
        | OrderRating::NotRated
        | OrderRating::WithRemoval => None,
    };
    let alternatives = alternatives(order, &rating, evidence, criteria, assessment);
    let instead = if contraindicated { instead(order, assessment, &criteria.acr) } else { Vec::new() };
    let indicator = indicator(&rating, &findings, &notes, order);
    OrderVerdict {
        order: order.source.resource.clone(),
        procedures: order.procedures.clone(),
        code: if order.procedures.is_empty() { order.source.code.clone() } else { None },
        kind: order.kind,
        rating,
        pama,
        findings,
        rated_with,
        with_removal,
        notes,
        alternatives,
        instead,
        emergent_removal: order
            .procedures
            .iter()
            .any(|p| *p == ProcedureId::CDT_PMT || *p == ProcedureId::SURGICAL_THROMBECTOMY),
        indicator,
    }
}

fn placed_for_dvt(order: &OrderFact) -> bool {
    order.reasons.iter().any(|reason| reason.concept.is_some_and(|concept| UNRATED_ORDER_REASONS.contains(&concept)))
}

/// What ACR rates for a patient who cannot have the order (reference §2.5.3): for thrombolysis, surgical
/// thrombectomy; when anticoagulation is contraindicated too (IVC filter variant 2), the filter rows.
fn instead(order: &OrderFact, assessment: &Assessment, acr: &AcrTables) -> Vec<Instead> {
    let mut instead = Vec::new();
    if order.kind == Some(ProcedureKind::Lysis) {
        let rated = assessment.variant_of_topic(193).and_then(|variant| {
            acr.row(variant, &ProcedureId::SURGICAL_THROMBECTOMY).map(|row| (variant, row.category))
        });
        instead.push(Instead { procedure: ProcedureId::SURGICAL_THROMBECTOMY, rated });
    }
    if let Some(variant) = assessment.variant_of_topic(6).filter(|variant| *variant == Variant::Acr6V2) {
        for row in acr.rows(variant) {
            instead.push(Instead { procedure: row.procedure.clone(), rated: Some((variant, row.category)) });
        }
    }
    instead
}

/// The order's rating in the first topic that rates its procedures and places the patient.
fn rate(procedures: &[ProcedureId], assessment: &Assessment, acr: &AcrTables) -> OrderRating {
    let topics: Vec<u32> = TOPICS
        .into_iter()
        .filter(|topic| {
            procedures.iter().any(|id| acr.procedure(id).is_some_and(|procedure| procedure.topics.contains(topic)))
        })
        .collect();
    let Some(first) = topics.first().copied() else {
        return OrderRating::NotRated;
    };
    for topic in topics {
        if let Some(variant) = assessment.variant_of_topic(topic) {
            let rows: Vec<(ProcedureId, Category)> = procedures
                .iter()
                .filter_map(|id| acr.row(variant, id).map(|row| (row.procedure.clone(), row.category)))
                .collect();
            let Some((_, category)) = rows.first() else { continue };
            let pama = Pama::of(*category);
            return if rows.iter().all(|(_, category)| Pama::of(*category) == pama) {
                OrderRating::Rated { variant, rows }
            } else {
                OrderRating::Ambiguous { variant, rows }
            };
        }
        let missing: Vec<MissingFact> =
            assessment.missing.iter().map(Missing::id).filter(|id| needs_of(topic).contains(id)).collect();
        if !missing.is_empty() {
            return OrderRating::Undecided { topic, missing };
        }
    }
    OrderRating::NoVariant { topic: first }
}

/// The DVT on record is under 3 months old (a stent alone over it is not what ACR rates).
fn acute_or_subacute(assessment: &Assessment) -> bool {
    assessment.rules.iter().any(|hit| matches!(hit.id, Rule::AgeAcute | Rule::AgeSubacuteOutsideAcr))
}

/// Whether an order of these properties is one the selectors name.
fn selected_by(selector: OrderSelector, kind: Option<ProcedureKind>, group: Option<DrugGroup>, contrast: bool) -> bool {
    match selector {
        OrderSelector::Kind(selected) => kind == Some(selected),
        OrderSelector::Heparin => group == Some(DrugGroup::Heparin),
        OrderSelector::OralAnticoagulant => group.is_some_and(DrugGroup::is_oral),
        OrderSelector::Contrast => contrast,
    }
}

/// The safety findings that concern an order, each once, with the strongest effect any row gives it.
fn findings_for(order: &OrderFact, criteria: &Criteria, safety: &[SafetyHit]) -> Vec<Finding> {
    let contrast = order.procedures.iter().any(|id| criteria.acr.procedure(id).is_some_and(|p| p.contrast));
    findings_of(order.kind, order.group, contrast, criteria, safety)
}

fn findings_of(
    kind: Option<ProcedureKind>,
    group: Option<DrugGroup>,
    contrast: bool,
    criteria: &Criteria,
    safety: &[SafetyHit],
) -> Vec<Finding> {
    let mut findings: Vec<Finding> = Vec::new();
    for hit in safety {
        let effect = criteria
            .applies
            .iter()
            .filter(|applies| applies.class == hit.class)
            .filter(|applies| applies.orders.iter().any(|selector| selected_by(*selector, kind, group, contrast)))
            .map(|applies| applies.effect)
            .max();
        if let Some(effect) = effect {
            findings.push(Finding { flag: hit.flag.clone(), effect, certain: hit.certain });
        }
    }
    findings
}

/// The best-rated procedures of the variant that are better than the order, not drafted already, and not
/// contraindicated; a relatively contraindicated one is never the recommended one.
fn alternatives(
    order: &OrderFact,
    rating: &OrderRating,
    evidence: &Evidence,
    criteria: &Criteria,
    assessment: &Assessment,
) -> Vec<Suggested> {
    let OrderRating::Rated { variant, .. } = rating else { return Vec::new() };
    let Some(category) = rating.category() else { return Vec::new() };
    let acr = &criteria.acr;
    let drafted: Vec<&ProcedureId> = evidence.orders.iter().flat_map(|order| &order.procedures).collect();
    let candidates: Vec<(&ProcedureId, Category, Vec<Finding>)> = acr
        .rows(*variant)
        .iter()
        .filter(|row| row.category.rank() < category.rank() && !drafted.contains(&&row.procedure))
        .filter_map(|row| {
            let procedure = acr.procedure(&row.procedure).filter(|p| p.orderable)?;
            let findings = findings_of(Some(procedure.kind), None, procedure.contrast, criteria, &assessment.safety);
            let contraindicated = findings.iter().any(|finding| finding.effect == Effect::Contraindicates);
            (!contraindicated).then_some((&row.procedure, row.category, findings))
        })
        .collect();
    let Some(best) = candidates.iter().map(|(_, category, _)| category.rank()).min() else { return Vec::new() };
    let adds = order.kind == Some(ProcedureKind::Anticoagulation);
    let mut recommended = false;
    candidates
        .into_iter()
        .filter(|(_, category, _)| category.rank() == best)
        .map(|(procedure, category, findings)| {
            let recommend = !recommended && findings.is_empty();
            recommended |= recommend;
            Suggested { procedure: procedure.clone(), variant: *variant, category, adds, recommended: recommend }
        })
        .collect()
}

fn indicator(rating: &OrderRating, findings: &[Finding], notes: &[Rule], order: &OrderFact) -> Urgency {
    if findings.iter().any(|finding| finding.effect == Effect::Contraindicates) {
        return Urgency::Critical;
    }
    let invasive = order.kind.is_some_and(|kind| {
        matches!(kind, ProcedureKind::Lysis | ProcedureKind::SurgicalThrombectomy | ProcedureKind::VenousStent)
    });
    let warning = !findings.is_empty()
        || rating.category() == Some(Category::UsuallyNotAppropriate)
        || notes.contains(&Rule::FilterAnticoagulationPossible)
        || notes.contains(&Rule::OrderOtherLeg)
        || (invasive && !notes.is_empty());
    if warning { Urgency::Warning } else { Urgency::Info }
}
