//! Renders an `Assessment` and the draft orders into CDS Hooks cards and rating actions.
//!
//! Pure: decides nothing clinical (the classifier did), reads no clock, draws no random number. Card and
//! suggestion ids are UUID v5 of the call's `hookInstance` and the card's content key, so the same call
//! always gives the same answer and feedback can be matched to cards.
//!
//! What a clinician sees, per order acted on (`selections` at order-select, every draft at order-sign):
//! an order no ACR table rates gets nothing; a rated order gets a rating action and a card (info, or
//! warning when usually not appropriate or when a safety flag concerns it) with better-rated alternatives
//! as suggestions; an order the data cannot rate gets an info card saying what to document; an order
//! with an absolute contraindication to lysis, or any order but thrombus removal under phlegmasia, gets a
//! critical card. Signing thrombus removal or a stent adds the plan for after the procedure.

mod actions;
mod rating;
mod wording;

use std::collections::BTreeMap;

use serde_json::Value;
use uuid::Uuid;

use crate::cds_hooks::{
    Action, Card, CardError, CdsResponse, Coding, Hook, Indicator, Link, SelectionBehavior, Source, Suggestion,
};
use crate::classify::{Assessment, FlagClass, Missing, Rule, SafetyHit, Variant};
use crate::evidence::{Evidence, OrderFact, ProcedureKind};
use crate::knowledge::{Category, KnowledgeBase, OrderCode, Procedure, Rating};

pub use actions::{
    CATEGORY_SYSTEM, OVERRIDE_SYSTEM, PAMA_AUC_APPLIED, PAMA_CONSULT_ID, PAMA_RATING, PAMA_RATING_SYSTEM,
    VARIANT_EXTENSION, VARIANT_SYSTEM,
};
use rating::OrderRating;

/// The call being answered.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub hook: Hook,
    pub hook_instance: &'a str,
    /// The draft orders as the client sent them, by reference (`ServiceRequest/123`), borrowed.
    pub drafts: &'a [(&'a str, &'a Value)],
}

/// Namespace of card, suggestion and consultation ids.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x8b3e_51f0_4c7a_4d2e_b6a1_9f20_63c4_d715);

/// Reasons a clinician may give for overriding a card; feedback reports them.
const OVERRIDE_REASONS: [(&str, &str); 5] = [
    ("severity-differs", "Clinical judgement: the symptoms differ from the record"),
    ("shared-decision", "Shared decision with the patient"),
    ("contraindication-assessed", "Contraindication already assessed"),
    ("record-incomplete", "The record is incomplete or out of date"),
    ("emergent-need", "Emergent clinical need"),
];

pub fn render(
    context: Context<'_>,
    evidence: &Evidence,
    assessment: &Assessment,
    knowledge: &KnowledgeBase,
) -> Result<CdsResponse, CardError> {
    let mut cards = Vec::new();
    let mut system_actions = Vec::new();
    let ids = Ids { hook_instance: context.hook_instance };

    if context.hook == Hook::PatientView {
        cards.extend(phlegmasia_card(&ids, assessment, knowledge)?);
        cards.extend(summary_card(&ids, assessment, knowledge)?);
        return CdsResponse::new(cards, Vec::new());
    }

    let acted: Vec<&OrderFact> =
        evidence.orders.iter().filter(|order| order.selected && !order.procedures.is_empty()).collect();
    if acted.is_empty() {
        return CdsResponse::new(Vec::new(), Vec::new());
    }
    if acted.iter().any(|order| !rating::removes_thrombus_emergently(order)) {
        cards.extend(phlegmasia_card(&ids, assessment, knowledge)?);
    }

    let mut rated: BTreeMap<(Variant, Category), Vec<Acted<'_>>> = BTreeMap::new();
    // Keyed by what is missing, then the topic: orders of two topics missing the same facts get a card each.
    let mut undecided: BTreeMap<(Vec<&str>, u32), Undecided<'_>> = BTreeMap::new();
    let mut ambiguous = Vec::new();
    let mut unrated = Vec::new();
    for order in &acted {
        let order_rating = rating::rate(order, assessment, knowledge);
        let consult = ids.uuid(&format!("consult|{}", order.source.resource));
        if let Some(resource) = draft(context, &order.source.resource)
            .and_then(|draft| actions::rated(draft, &order_rating, consult, knowledge))
        {
            system_actions.push(Action::update(
                format!("Record the ACR appropriateness rating on {}", order.source.resource),
                resource,
            ));
        }
        let acted = Acted { order, flags: rating::flags_for(order, assessment, knowledge) };
        let critical: Vec<&SafetyHit> =
            acted.flags.iter().copied().filter(|hit| hit.class == FlagClass::LysisAbsolute).collect();
        let other: Vec<&SafetyHit> =
            acted.flags.iter().copied().filter(|hit| hit.class != FlagClass::LysisAbsolute).collect();
        let has_own_card = matches!(
            order_rating,
            OrderRating::Rated { .. } | OrderRating::Undecided { .. } | OrderRating::Ambiguous { .. }
        );
        if !critical.is_empty() {
            let folded: &[&SafetyHit] = if has_own_card { &[] } else { &other };
            cards.push(contraindication_card(&ids, order, &critical, folded, knowledge)?);
        }
        match order_rating {
            OrderRating::Rated { variant, category, .. } => rated.entry((variant, category)).or_default().push(acted),
            OrderRating::Undecided { topic, missing } => {
                let key: Vec<&str> = missing.iter().map(|m| m.id).collect();
                undecided
                    .entry((key, topic))
                    .or_insert_with(|| Undecided { missing, orders: Vec::new() })
                    .orders
                    .push(acted);
            }
            OrderRating::Ambiguous { variant, rows } => ambiguous.push((acted, variant, rows)),
            OrderRating::NoCriteriaApply | OrderRating::NotRated => {
                if critical.is_empty() && !other.is_empty() {
                    unrated.push((*order, other));
                }
            }
        }
    }

    for ((variant, category), orders) in &rated {
        cards.push(rating_card(context, &ids, *variant, *category, orders, assessment, knowledge)?);
    }
    for ((_, topic), Undecided { missing, orders }) in &undecided {
        cards.push(missing_card(&ids, *topic, missing, orders, assessment, knowledge)?);
    }
    for (acted, variant, rows) in &ambiguous {
        cards.push(ambiguous_card(&ids, acted, *variant, rows, assessment, knowledge)?);
    }
    for (order, flags) in &unrated {
        cards.push(safety_card(&ids, order, flags, assessment, knowledge)?);
    }
    if context.hook == Hook::OrderSign {
        cards.extend(plan_card(&ids, &acted, assessment, knowledge)?);
    }
    CdsResponse::new(cards, system_actions)
}

/// An order acted on, with the safety flags that concern it (found once per order).
struct Acted<'a> {
    order: &'a OrderFact,
    flags: Vec<&'a SafetyHit>,
}

/// Orders of one topic the data cannot rate for the same missing facts.
struct Undecided<'a> {
    missing: Vec<&'a Missing>,
    orders: Vec<Acted<'a>>,
}

/// The orders' facts.
fn facts<'a>(orders: &[Acted<'a>]) -> Vec<&'a OrderFact> {
    orders.iter().map(|acted| acted.order).collect()
}

/// The procedures the orders ask for.
fn ordered<'a>(orders: &[&'a OrderFact]) -> Vec<&'a str> {
    orders.iter().flat_map(|order| order.procedures.iter().map(String::as_str)).collect()
}

/// The flags of all the orders, each once, without the absolute contraindications to lysis (which
/// have a critical card of their own).
fn shared_flags<'a>(orders: &[Acted<'a>]) -> Vec<&'a SafetyHit> {
    let mut flags: Vec<&SafetyHit> = Vec::new();
    for hit in orders.iter().flat_map(|acted| acted.flags.iter().copied()) {
        if hit.class != FlagClass::LysisAbsolute && !flags.contains(&hit) {
            flags.push(hit);
        }
    }
    flags
}

/// The short names of the flags' sources, each once, in the flags' order.
fn source_names<'a>(knowledge: &'a KnowledgeBase, flags: &[&SafetyHit]) -> Vec<&'a str> {
    let mut names: Vec<&str> = Vec::new();
    for name in flags.iter().filter_map(|hit| knowledge.source(&hit.source).map(|s| s.short.as_str())) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Deterministic ids from the call and a content key.
struct Ids<'a> {
    hook_instance: &'a str,
}

impl Ids<'_> {
    fn uuid(&self, key: &str) -> Uuid {
        Uuid::new_v5(&ID_NAMESPACE, format!("{}|{key}", self.hook_instance).as_bytes())
    }
}

fn draft<'a>(context: Context<'a>, reference: &str) -> Option<&'a Value> {
    context.drafts.iter().find(|(candidate, _)| *candidate == reference).map(|(_, value)| *value)
}

/// The ACR topic as a card's source.
fn topic_source(knowledge: &KnowledgeBase, topic: u32) -> Source {
    match knowledge.topic(topic) {
        Some(topic) => Source::new(wording::source_label(topic)).url(topic.url.clone()),
        None => Source::new("ACR Appropriateness Criteria"),
    }
}

/// The variant's topic as a card's source, with the variant as its `topic` coding.
fn acr_source(knowledge: &KnowledgeBase, variant: Variant) -> Source {
    let source = topic_source(knowledge, variant.topic());
    if knowledge.topic(variant.topic()).is_none() {
        return source;
    }
    let display = knowledge.variant(variant).map(|rows| rows.short.clone()).unwrap_or_default();
    source.topic(Coding::new(VARIANT_SYSTEM, variant.id(), display))
}

fn acr_link(knowledge: &KnowledgeBase, topic: u32) -> Option<Link> {
    let topic = knowledge.topic(topic)?;
    Some(Link::absolute(format!("ACR Appropriateness Criteria: {}", topic.title), topic.url.clone()))
}

fn with_override_reasons(mut builder: crate::cds_hooks::CardBuilder) -> crate::cds_hooks::CardBuilder {
    for (code, display) in OVERRIDE_REASONS {
        builder = builder.override_reason(Coding::new(OVERRIDE_SYSTEM, code, display));
    }
    builder
}

/// The orders' short names; after the first, as they read inside a sentence.
fn short_names(orders: &[&OrderFact], knowledge: &KnowledgeBase) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for order in orders {
        // An order whose code means several procedures (a filter of unstated type) is named by all of them.
        let procedures: Vec<String> = order
            .procedures
            .iter()
            .filter_map(|id| knowledge.procedure(id))
            .enumerate()
            .map(|(index, p)| if index == 0 { p.short.clone() } else { wording::in_sentence(&p.short) })
            .collect();
        let name = if procedures.is_empty() { order.source.resource.clone() } else { procedures.join(" or ") };
        let name = if names.is_empty() { name } else { wording::in_sentence(&name) };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

fn indicator_for(category: Category, flags: &[&SafetyHit]) -> Indicator {
    if category == Category::UsuallyNotAppropriate || !flags.is_empty() { Indicator::Warning } else { Indicator::Info }
}

fn rating_card(
    context: Context<'_>,
    ids: &Ids<'_>,
    variant: Variant,
    category: Category,
    orders: &[Acted<'_>],
    assessment: &Assessment,
    knowledge: &KnowledgeBase,
) -> Result<Card, CardError> {
    let facts = facts(orders);
    let references: Vec<&str> = facts.iter().map(|order| order.source.resource.as_str()).collect();
    let key = format!("rating|{}|{}|{}", variant.id(), category.id(), references.join(","));
    let ordered = ordered(&facts);
    let flags = shared_flags(orders);
    let short = knowledge.variant(variant).map_or("", |rows| rows.short.as_str());
    let year = knowledge.topic(variant.topic()).map_or(0, |topic| topic.year);
    let summary = wording::rating_summary(&wording::list(&short_names(&facts, knowledge)), category, short, year);

    let mut detail = wording::variant_heading(knowledge, variant);
    detail.push_str(&wording::rating_table(knowledge, variant, &ordered));
    let better = better_rows(knowledge, variant, category, &ordered);
    detail.push_str(&better_rated_line(&better));
    detail.push_str(&wording::why(assessment, variant.topic()));
    detail.push_str(&wording::not_seen(assessment));
    detail.push_str(&wording::safety_section(knowledge, &flags));
    if facts.iter().any(|order| order.kind == Some(ProcedureKind::Lysis)) {
        detail.push_str(&wording::unchecked_section(knowledge));
    }

    let suggestions = better_alternatives(context, ids, &key, variant, &facts, &better, knowledge);
    let mut builder =
        Card::builder(ids.uuid(&key), summary, indicator_for(category, &flags), acr_source(knowledge, variant))
            .detail(detail)
            .suggestions(SelectionBehavior::AtMostOne, suggestions);
    if let Some(link) = acr_link(knowledge, variant.topic()) {
        builder = builder.link(link);
    }
    with_override_reasons(builder).build()
}

/// The rows of `variant` rated better than `category` for a procedure not already ordered, in ACR's order.
fn better_rows<'a>(
    knowledge: &'a KnowledgeBase,
    variant: Variant,
    category: Category,
    ordered: &[&str],
) -> Vec<&'a Rating> {
    let Some(rows) = knowledge.variant(variant) else { return Vec::new() };
    rows.rows
        .iter()
        .filter(|row| row.category.rank() < category.rank() && !ordered.contains(&row.procedure.as_str()))
        .collect()
}

/// "Rated higher for this variant: ...", when the ordered procedure is not the best rated.
fn better_rated_line(better: &[&Rating]) -> String {
    let better: Vec<String> =
        better.iter().map(|row| format!("{} ({})", row.wording, wording::category_words(row.category))).collect();
    if better.is_empty() {
        return String::new();
    }
    format!("Rated higher for this variant: {}.\n\n", better.join("; "))
}

/// Of the `better` rows, those whose procedure can be ordered, as suggestions: the best is recommended.
fn better_alternatives(
    context: Context<'_>,
    ids: &Ids<'_>,
    card_key: &str,
    variant: Variant,
    orders: &[&OrderFact],
    better: &[&Rating],
    knowledge: &KnowledgeBase,
) -> Vec<Suggestion> {
    let Some(replaced) = orders.first().and_then(|first| draft(context, &first.source.resource)) else {
        return Vec::new();
    };
    let mut better: Vec<(&Rating, &Procedure, &OrderCode)> = better
        .iter()
        .copied()
        .filter_map(|row| {
            let procedure = knowledge.procedure(&row.procedure)?;
            Some((row, procedure, procedure.order_code.as_ref()?))
        })
        .collect();
    better.sort_by_key(|(row, _, _)| row.category.rank());
    let Some(best_rank) = better.first().map(|(row, _, _)| row.category.rank()) else { return Vec::new() };
    // Anticoagulation is kept under thrombus removal: ACR rates "anticoagulation alone".
    let keeps_orders = orders.iter().all(|order| order.kind == Some(ProcedureKind::Anticoagulation));
    let removals: Vec<Action> = if keeps_orders {
        Vec::new()
    } else {
        orders
            .iter()
            .map(|order| {
                Action::delete(
                    format!("Remove the draft order {}", order.source.resource),
                    order.source.resource.clone(),
                )
            })
            .collect()
    };
    let mut suggestions = Vec::new();
    let mut recommended = false;
    for (row, procedure, code) in better {
        let key = format!("{card_key}|suggest|{}", procedure.id);
        let resource =
            actions::better_order(replaced, procedure, code, variant, row.category, ids.uuid(&key), knowledge);
        let mut actions = vec![Action::create(format!("Order {}", procedure.display), resource)];
        actions.extend(removals.iter().cloned());
        let label = if keeps_orders {
            format!("Add {} ({})", wording::in_sentence(&procedure.short), wording::category_words(row.category))
        } else {
            format!(
                "Order {} instead ({})",
                wording::in_sentence(&procedure.short),
                wording::category_words(row.category)
            )
        };
        let mut suggestion = Suggestion::new(ids.uuid(&key), label, actions);
        if !recommended && row.category.rank() == best_rank {
            suggestion = suggestion.recommended();
            recommended = true;
        }
        suggestions.push(suggestion);
    }
    suggestions
}

fn missing_card(
    ids: &Ids<'_>,
    topic: u32,
    missing: &[&Missing],
    acted: &[Acted<'_>],
    assessment: &Assessment,
    knowledge: &KnowledgeBase,
) -> Result<Card, CardError> {
    let orders = facts(acted);
    let references: Vec<&str> = orders.iter().map(|order| order.source.resource.as_str()).collect();
    let key =
        format!("missing|{}|{}", missing.iter().map(|m| m.id).collect::<Vec<_>>().join(","), references.join(","));
    let what: Vec<String> = missing.iter().map(|m| missing_words(m.id).to_owned()).collect();
    let names = wording::list(&short_names(&orders, knowledge));
    let summary = wording::fit(format!("Document {} to rate {names} by the ACR criteria", wording::list(&what)));
    let ordered = ordered(&orders);

    let mut detail = format!(
        "The record cannot place the patient in an ACR variant, so {names} is not rated. Document what is missing below; the table gives the rating each answer would bring.\n\n"
    );
    detail.push_str(&wording::missing_section(knowledge, missing, &ordered));
    detail.push_str(&wording::why(assessment, topic));
    detail.push_str(&wording::not_seen(assessment));
    let flags = shared_flags(acted);
    detail.push_str(&wording::safety_section(knowledge, &flags));

    let indicator = if flags.is_empty() { Indicator::Info } else { Indicator::Warning };
    let mut builder = Card::builder(ids.uuid(&key), summary, indicator, topic_source(knowledge, topic)).detail(detail);
    if let Some(link) = acr_link(knowledge, topic) {
        builder = builder.link(link);
    }
    with_override_reasons(builder).build()
}

fn missing_words(id: &str) -> &'static str {
    match id {
        "dvt-segment" => "which veins the DVT involves",
        "dvt-onset" => "when the symptoms began",
        "dvt-severity" => "symptom severity",
        "anticoagulation-start" => "when anticoagulation began",
        "contraindication-date" => "the date of a possible contraindication",
        _ => "the missing facts",
    }
}

fn ambiguous_card(
    ids: &Ids<'_>,
    acted: &Acted<'_>,
    variant: Variant,
    rows: &[&Rating],
    assessment: &Assessment,
    knowledge: &KnowledgeBase,
) -> Result<Card, CardError> {
    let order = acted.order;
    let key = format!("ambiguous|{}|{}", variant.id(), order.source.resource);
    let options: Vec<String> =
        rows.iter().map(|row| format!("{}: {}", row.wording, wording::category_words(row.category))).collect();
    let summary = wording::fit(format!("Not rated until the order says which: {}", options.join("; ")));
    let ordered: Vec<&str> = order.procedures.iter().map(String::as_str).collect();
    let mut detail = format!(
        "The order's code ({}) does not say which of these is meant, and ACR rates them differently, so it is not rated. Order the device type explicitly.\n\n",
        order.source.code.as_ref().map_or_else(|| "none".to_owned(), |code| wording::escape(&code.code))
    );
    detail.push_str(&wording::variant_heading(knowledge, variant));
    detail.push_str(&wording::rating_table(knowledge, variant, &ordered));
    detail.push_str(&wording::why(assessment, variant.topic()));
    detail.push_str(&wording::safety_section(knowledge, &acted.flags));
    let mut builder =
        Card::builder(ids.uuid(&key), summary, Indicator::Info, acr_source(knowledge, variant)).detail(detail);
    if let Some(link) = acr_link(knowledge, variant.topic()) {
        builder = builder.link(link);
    }
    with_override_reasons(builder).build()
}

/// Critical: an absolute contraindication to thrombolysis, with a lysis order.
fn contraindication_card(
    ids: &Ids<'_>,
    order: &OrderFact,
    absolute: &[&SafetyHit],
    other: &[&SafetyHit],
    knowledge: &KnowledgeBase,
) -> Result<Card, CardError> {
    let key = format!("contraindication|{}", order.source.resource);
    let certain = absolute.iter().any(|hit| hit.certain);
    let first = wording::in_sentence(absolute.first().map_or("", |hit| hit.label.as_str()));
    let summary = if certain {
        wording::fit(format!("Thrombolysis contraindicated: {first}"))
    } else {
        wording::fit(format!("Possible contraindication to thrombolysis: {first}; confirm the date"))
    };
    let mut flags: Vec<&SafetyHit> = absolute.to_vec();
    flags.extend(other.iter().copied());
    let mut detail = wording::safety_section(knowledge, &flags);
    detail.push_str(
        "For patients who cannot receive thrombolysis, ACR rates surgical thrombectomy (variant 2: may be appropriate; variant 5: usually appropriate), and a retrievable IVC filter when anticoagulation is also contraindicated (IVC filter variant 2: usually appropriate).\n\n",
    );
    detail.push_str(&wording::unchecked_section(knowledge));
    let source =
        Source::new(format!("{}: contraindications to thrombolysis", source_names(knowledge, absolute).join("; ")));
    with_override_reasons(Card::builder(ids.uuid(&key), summary, Indicator::Critical, source).detail(detail)).build()
}

/// Warning: safety flags on an order that has no rating card of its own.
fn safety_card(
    ids: &Ids<'_>,
    order: &OrderFact,
    flags: &[&SafetyHit],
    assessment: &Assessment,
    knowledge: &KnowledgeBase,
) -> Result<Card, CardError> {
    let key = format!("safety|{}", order.source.resource);
    let name = short_names(&[order], knowledge).join("");
    let first = flags.first().map_or("", |hit| hit.label.as_str());
    let summary = wording::fit(format!("{name}: {}", wording::in_sentence(first)));
    let mut detail = wording::safety_section(knowledge, flags);
    if assessment.variant_of_topic(6) == Some(Variant::Acr6V2) {
        detail.push_str(
            "Anticoagulation is contraindicated: the IVC filter topic's variant 2 applies (retrievable IVC filter usually appropriate, permanent filter may be appropriate).\n\n",
        );
    }
    detail.push_str("No ACR variant rates this order for this patient.\n\n");
    detail.push_str(&wording::why(assessment, 193));
    detail.push_str(&wording::not_seen(assessment));
    let source =
        Source::new(format!("{}: safety, not part of the ACR rating", source_names(knowledge, flags).join("; ")));
    with_override_reasons(Card::builder(ids.uuid(&key), summary, Indicator::Warning, source).detail(detail)).build()
}

/// Critical: phlegmasia cerulea dolens is a vascular emergency.
fn phlegmasia_card(
    ids: &Ids<'_>,
    assessment: &Assessment,
    knowledge: &KnowledgeBase,
) -> Result<Option<Card>, CardError> {
    let Some(hit) = assessment.flags_of(FlagClass::LimbThreat).next() else { return Ok(None) };
    // Suspected (or undated) phlegmasia stays critical, since the limb is at stake, but says so: the
    // patient is not in variant 5 until it is confirmed.
    let (summary, mut detail) = if hit.certain {
        (
            "Phlegmasia cerulea dolens: emergent CDT/PMT or surgical thrombectomy is usually appropriate",
            String::from(
                "Limb-threatening venous ischaemia. Escalate now to interventional radiology or vascular surgery for emergent thrombus removal; anticoagulation alone is usually not appropriate.\n\n",
            ),
        )
    } else {
        (
            "Possible phlegmasia cerulea dolens (unconfirmed): examine the limb now; if confirmed, emergent thrombus removal",
            String::from(
                "Phlegmasia cerulea dolens is recorded but not confirmed. Examine the limb now; if it is confirmed, escalate to interventional radiology or vascular surgery for emergent thrombus removal. Until then the ACR rating of the order follows the confirmed findings.\n\n**If confirmed:** ",
            ),
        )
    };
    detail.push_str(&wording::variant_heading(knowledge, Variant::Acr193V5));
    detail.push_str(&wording::rating_table(knowledge, Variant::Acr193V5, &[]));
    detail.push_str(&wording::safety_section(knowledge, &[hit]));
    // Only a confirmed phlegmasia places the patient in variant 5, so only then does the source name it.
    let source = if hit.certain {
        acr_source(knowledge, Variant::Acr193V5)
    } else {
        topic_source(knowledge, Variant::Acr193V5.topic())
    };
    let builder = Card::builder(ids.uuid("phlegmasia"), summary.to_owned(), Indicator::Critical, source).detail(detail);
    let builder = match acr_link(knowledge, Variant::Acr193V5.topic()) {
        Some(link) => builder.link(link),
        None => builder,
    };
    with_override_reasons(builder).build().map(Some)
}

/// Info, at order-sign of thrombus removal or a stent for a DVT on record: what comes after the procedure.
/// Without an active, confirmed DVT there is no plan: a stent for non-thrombotic iliac vein compression,
/// for one, does not call for months of anticoagulation.
fn plan_card(
    ids: &Ids<'_>,
    orders: &[&OrderFact],
    assessment: &Assessment,
    knowledge: &KnowledgeBase,
) -> Result<Option<Card>, CardError> {
    let Some(dvt) = assessment.rules.iter().find(|hit| hit.id == Rule::DvtConfirmedActive) else {
        return Ok(None);
    };
    let after: Vec<&OrderFact> = orders
        .iter()
        .copied()
        .filter(|order| {
            order.procedures.iter().any(|p| matches!(p.as_str(), "cdt-pmt" | "surgical-thrombectomy" | "venous-stent"))
        })
        .collect();
    if after.is_empty() {
        return Ok(None);
    }
    let stent = after.iter().any(|order| order.procedures.iter().any(|p| p == "venous-stent"));
    let names = wording::list(&short_names(&after, knowledge));
    let summary =
        wording::fit(format!("After {names}: anticoagulation for at least 3 months and an early follow-up duplex"));
    let mut detail = String::from("**Plan after the procedure** (practice, not part of the ACR rating)\n\n");
    detail.push_str(&wording::plan_items(knowledge, stent));
    detail.push('\n');
    detail.push_str(&wording::plan_for(&dvt.facts));
    let source_label = knowledge.source("SEED").map_or("Post-procedure practice", |source| source.short.as_str());
    let key = format!("plan|{}", after.iter().map(|o| o.source.resource.as_str()).collect::<Vec<_>>().join(","));
    Card::builder(ids.uuid(&key), summary, Indicator::Info, Source::new(source_label)).detail(detail).build().map(Some)
}

/// patient-view: the iliofemoral scenario and what is appropriate now, or what to document.
fn summary_card(ids: &Ids<'_>, assessment: &Assessment, knowledge: &KnowledgeBase) -> Result<Option<Card>, CardError> {
    if let Some(variant) = assessment.variant_of_topic(193) {
        let rows = knowledge.variant(variant).map(|rows| rows.rows.as_slice()).unwrap_or_default();
        let best: Vec<String> = rows
            .iter()
            .filter(|row| row.category == Category::UsuallyAppropriate)
            .filter_map(|row| knowledge.procedure(&row.procedure).map(|p| p.short.clone()))
            .collect();
        let short = knowledge.variant(variant).map_or("", |rows| rows.short.as_str());
        let best: Vec<String> = best.iter().map(|name| wording::in_sentence(name)).collect();
        let now = if best.is_empty() {
            "no procedure is usually appropriate".to_owned()
        } else {
            format!("{} usually appropriate", wording::list(&best))
        };
        let summary = wording::fit(format!("ACR variant {}, {short}: {now}", variant.number()));
        let mut detail = wording::variant_heading(knowledge, variant);
        detail.push_str(&wording::rating_table(knowledge, variant, &[]));
        detail.push_str(&wording::why(assessment, 193));
        detail.push_str(&wording::not_seen(assessment));
        let flags: Vec<&SafetyHit> =
            assessment.safety.iter().filter(|hit| hit.class != FlagClass::LimbThreat).collect();
        detail.push_str(&wording::safety_section(knowledge, &flags));
        let builder = Card::builder(
            ids.uuid(&format!("summary|{}", variant.id())),
            summary,
            Indicator::Info,
            acr_source(knowledge, variant),
        )
        .detail(detail);
        let builder = match acr_link(knowledge, variant.topic()) {
            Some(link) => builder.link(link),
            None => builder,
        };
        return builder.build().map(Some);
    }
    let needs: Vec<&Missing> = assessment.missing.iter().filter(|m| rating::needs_of(193).contains(&m.id)).collect();
    if needs.is_empty() {
        return Ok(None);
    }
    let what: Vec<String> = needs.iter().map(|m| missing_words(m.id).to_owned()).collect();
    let summary =
        wording::fit(format!("DVT on record: document {} to place it in an ACR scenario", wording::list(&what)));
    let mut detail = wording::missing_section(knowledge, &needs, &[]);
    detail.push_str(&wording::why(assessment, 193));
    Card::builder(ids.uuid("summary|missing"), summary, Indicator::Info, topic_source(knowledge, 193))
        .detail(detail)
        .build()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::Source as FactSource;

    fn order(id: &str, procedure: &str, kind: ProcedureKind) -> OrderFact {
        OrderFact {
            source: FactSource { resource: format!("ServiceRequest/{id}"), code: None },
            selected: true,
            procedures: vec![procedure.to_owned()],
            kind: Some(kind),
            heparin: false,
            reasons: Vec::new(),
        }
    }

    #[test]
    fn orders_of_two_topics_missing_the_same_fact_get_a_card_each() {
        let knowledge = KnowledgeBase::embedded().unwrap();
        let evidence = Evidence {
            orders: vec![
                order("cdt", "cdt-pmt", ProcedureKind::Lysis),
                order("filter", "ivc-filter-retrievable", ProcedureKind::IvcFilter),
            ],
            ..Evidence::default()
        };
        let assessment = Assessment {
            missing: vec![Missing {
                id: "dvt-segment",
                what: "which veins the DVT involves".to_owned(),
                document: None,
                if_documented: Vec::new(),
            }],
            ..Assessment::default()
        };
        let context = Context { hook: Hook::OrderSelect, hook_instance: "h", drafts: &[] };
        let response = render(context, &evidence, &assessment, &knowledge).unwrap();
        let json = serde_json::to_value(&response).unwrap();
        let cards: Vec<(String, String)> = json["cards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|card| {
                (card["summary"].as_str().unwrap().to_owned(), card["source"]["url"].as_str().unwrap().to_owned())
            })
            .collect();
        assert_eq!(cards.len(), 2, "{cards:?}");
        let of_topic = |topic: u32| {
            let url = &knowledge.topic(topic).unwrap().url;
            cards.iter().find(|(_, source)| source == url).map(|(summary, _)| summary.as_str()).unwrap()
        };
        assert!(of_topic(193).contains("CDT/PMT") && !of_topic(193).contains("filter"), "{cards:?}");
        assert!(of_topic(6).contains("filter") && !of_topic(6).contains("CDT/PMT"), "{cards:?}");
    }
}
