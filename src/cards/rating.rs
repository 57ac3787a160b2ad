//! How each draft order is rated: a lookup of the assessment's variant in the topic that rates the
//! ordered procedure. No clinical decision is made here; the classifier made them.

use crate::classify::{Assessment, FlagClass, Missing, SafetyHit, Variant};
use crate::evidence::{OrderFact, ProcedureKind};
use crate::knowledge::{Category, KnowledgeBase, Rating};

/// Topics in the order they are consulted: the iliofemoral topic first, then IVC filters, then imaging.
const TOPICS: [u32; 3] = [193, 6, 75];

/// Missing facts that keep a topic from deciding.
pub(super) fn needs_of(topic: u32) -> &'static [&'static str] {
    match topic {
        193 => &["dvt-segment", "dvt-onset", "dvt-severity", "anticoagulation-start", "contraindication-date"],
        6 => &["dvt-segment"],
        _ => &[],
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum OrderRating<'a> {
    /// The patient's variant rates the ordered procedure.
    Rated { variant: Variant, category: Category, rows: Vec<&'a Rating> },
    /// A topic rates the procedure, but no variant of it applies to this patient.
    NoCriteriaApply,
    /// The data cannot decide the variant: what to document.
    Undecided { topic: u32, missing: Vec<&'a Missing> },
    /// The order's code means rows of different categories (an IVC filter that does not say retrievable
    /// or permanent): no rating, the card lists both.
    Ambiguous { variant: Variant, rows: Vec<&'a Rating> },
    /// A procedure no ACR table rates (a thrombolytic drug, a stent on its own).
    NotRated,
}

impl OrderRating<'_> {
    /// The PAMA rating code, when the order gets one.
    pub(super) fn pama_code(&self) -> Option<&'static str> {
        match self {
            OrderRating::Rated { category, .. } => Some(rated_pama_code(*category)),
            OrderRating::NoCriteriaApply => Some("no-criteria-apply"),
            OrderRating::Undecided { .. } | OrderRating::Ambiguous { .. } | OrderRating::NotRated => None,
        }
    }
}

/// The PAMA rating code of an order rated `category`.
pub(super) fn rated_pama_code(category: Category) -> &'static str {
    match category {
        Category::UsuallyNotAppropriate => "not-appropriate",
        _ => "appropriate",
    }
}

pub(super) fn rate<'a>(order: &OrderFact, assessment: &'a Assessment, knowledge: &'a KnowledgeBase) -> OrderRating<'a> {
    let topics: Vec<u32> = TOPICS
        .into_iter()
        .filter(|topic| order.procedures.iter().any(|procedure| knowledge.topics_rating(procedure).contains(topic)))
        .collect();
    if topics.is_empty() {
        return OrderRating::NotRated;
    }
    for topic in topics {
        if let Some(variant) = assessment.variant_of_topic(topic) {
            let rows: Vec<&Rating> = order.procedures.iter().filter_map(|p| knowledge.rating(variant, p)).collect();
            let Some(first) = rows.first() else { continue };
            let category = first.category;
            return if rows.iter().all(|row| row.category == category) {
                OrderRating::Rated { variant, category, rows }
            } else {
                OrderRating::Ambiguous { variant, rows }
            };
        }
        let missing: Vec<&Missing> =
            assessment.missing.iter().filter(|missing| needs_of(topic).contains(&missing.id)).collect();
        if !missing.is_empty() {
            return OrderRating::Undecided { topic, missing };
        }
    }
    OrderRating::NoCriteriaApply
}

/// The order's kind and whether any of its procedures uses iodinated contrast.
pub(super) fn kind_and_contrast(order: &OrderFact, knowledge: &KnowledgeBase) -> (Option<ProcedureKind>, bool) {
    let contrast = order.procedures.iter().filter_map(|id| knowledge.procedure(id)).any(|procedure| procedure.contrast);
    (order.kind, contrast)
}

/// The safety flags that concern an order of this kind.
pub(super) fn flags_for<'a>(
    order: &OrderFact,
    assessment: &'a Assessment,
    knowledge: &KnowledgeBase,
) -> Vec<&'a SafetyHit> {
    let (kind, contrast) = kind_and_contrast(order, knowledge);
    assessment
        .safety
        .iter()
        .filter(|hit| match hit.class {
            FlagClass::LysisAbsolute | FlagClass::LysisRelative | FlagClass::Timing => {
                kind == Some(ProcedureKind::Lysis)
            }
            FlagClass::Review => kind.is_some_and(ProcedureKind::removes_thrombus),
            FlagClass::Heparin => order.heparin,
            FlagClass::Anticoagulation => matches!(
                kind,
                Some(
                    ProcedureKind::Anticoagulation
                        | ProcedureKind::Lysis
                        | ProcedureKind::SurgicalThrombectomy
                        | ProcedureKind::VenousStent
                )
            ),
            FlagClass::Contrast => contrast,
            // Phlegmasia has a card of its own.
            FlagClass::LimbThreat => false,
        })
        .collect()
}

/// Emergent thrombus removal: what phlegmasia calls for.
pub(super) fn removes_thrombus_emergently(order: &OrderFact) -> bool {
    order.procedures.iter().any(|p| p == "cdt-pmt" || p == "surgical-thrombectomy")
}
