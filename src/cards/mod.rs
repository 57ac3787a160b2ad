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
use crate::knowledge::{Category, KnowledgeBase, Rating};

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
    /// The draft orders as the client sent them, by reference (`ServiceRequest/123`).
    pub drafts: &'a [(String, Value)],
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

    let mut rated: BTreeMap<(Variant, Category), Vec<(&OrderFact, OrderRating<'_>)>> = BTreeMap::new();
    let mut undecided: BTreeMap<Vec<&str>, Undecided<'_>> = BTreeMap::new();
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
        let flags = rating::flags_for(order, assessment, knowledge);
        let (critical, other): (Vec<&SafetyHit>, Vec<&SafetyHit>) =
            flags.into_iter().partition(|hit| hit.class == FlagClass::LysisAbsolute);
        let has_own_card = matches!(
            order_rating,
            OrderRating::Rated { .. } | OrderRating::Undecided { .. } | OrderRating::Ambiguous { .. }
        );
        if !critical.is_empty() {
            let folded = if has_own_card { Vec::new() } else { other.clone() };
            cards.push(contraindication_card(&ids, order, &critical, &folded, knowledge)?);
        }
        match order_rating {
            OrderRating::Rated { variant, category, .. } => {
                rated.entry((variant, category)).or_default().push((order, order_rating));
            }
            OrderRating::Undecided { topic, ref missing } => {
                let key: Vec<&str> = missing.iter().map(|m| m.id).collect();
                let entry = undecided.entry(key).or_insert_with(|| (topic, missing.clone(), Vec::new()));
                entry.2.push(*order);
            }
            OrderRating::Ambiguous { variant, ref rows } => ambiguous.push((*order, variant, rows.clone())),
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
    for (topic, missing, orders) in undecided.values() {
        cards.push(missing_card(&ids, *topic, missing, orders, assessment, knowledge)?);
    }
    for (order, variant, rows) in &ambiguous {
        cards.push(ambiguous_card(&ids, order, *variant, rows, assessment, knowledge)?);
    }
    for (order, flags) in &unrated {
        cards.push(safety_card(&ids, order, flags, assessment, knowledge)?);
    }
    if context.hook == Hook::OrderSign {
        cards.extend(plan_card(&ids, &acted, assessment, knowledge)?);
    }
    CdsResponse::new(cards, system_actions)
}

/// Orders the data cannot rate for the same missing facts: the topic, what is missing, the orders.
type Undecided<'a> = (u32, Vec<&'a Missing>, Vec<&'a OrderFact>);

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
    context.drafts.iter().find(|(candidate, _)| candidate == reference).map(|(_, value)| value)
}

fn acr_source(knowledge: &KnowledgeBase, variant: Variant) -> Source {
    match knowledge.topic(variant.topic()) {
        Some(topic) => {
            let display = knowledge.variant(variant).map(|rows| rows.short.clone()).unwrap_or_default();
            Source::new(wording::source_label(topic)).url(topic.url.clone()).topic(Coding::new(
                VARIANT_SYSTEM,
                variant.id(),
                display,
            ))
        }
        None => Source::new("ACR Appropriateness Criteria"),
    }
}

fn acr_link(knowledge: &KnowledgeBase, variant: Variant) -> Option<Link> {
    let topic = knowledge.topic(variant.topic())?;
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
    orders: &[(&OrderFact, OrderRating<'_>)],
    assessment: &Assessment,
    knowledge: &KnowledgeBase,
) -> Result<Card, CardError> {
    let facts: Vec<&OrderFact> = orders.iter().map(|(order, _)| *order).collect();
    let references: Vec<&str> = facts.iter().map(|order| order.source.resource.as_str()).collect();
    let key = format!("rating|{}|{}|{}", variant.id(), category.id(), references.join(","));
    let ordered: Vec<&str> = facts.iter().flat_map(|order| order.procedures.iter().map(String::as_str)).collect();
    let mut flags: Vec<&SafetyHit> = Vec::new();
    for order in &facts {
        for hit in rating::flags_for(order, assessment, knowledge) {
            if hit.class != FlagClass::LysisAbsolute && !flags.contains(&hit) {
                flags.push(hit);
            }
        }
    }
    let short = knowledge.variant(variant).map_or("", |rows| rows.short.as_str());
    let year = knowledge.topic(variant.topic()).map_or(0, |topic| topic.year);
    let summary = wording::rating_summary(&wording::list(&short_names(&facts, knowledge)), category, short, year);

    let mut detail = wording::variant_heading(knowledge, variant);
    detail.push_str(&wording::rating_table(knowledge, variant, &ordered));
    detail.push_str(&better_rated_line(knowledge, variant, category, &ordered));
    detail.push_str(&wording::why(assessment, variant.topic()));
    detail.push_str(&wording::not_seen(assessment));
    detail.push_str(&wording::safety_section(knowledge, &flags));
    if facts.iter().any(|order| order.kind == Some(ProcedureKind::Lysis)) {
        detail.push_str(&wording::unchecked_section(knowledge));
    }

    let suggestions = better_alternatives(context, ids, &key, variant, category, &facts, knowledge);
    let mut builder =
        Card::builder(ids.uuid(&key), summary, indicator_for(category, &flags), acr_source(knowledge, variant))
            .detail(detail)
            .suggestions(SelectionBehavior::AtMostOne, suggestions);
    if let Some(link) = acr_link(knowledge, variant) {
        builder = builder.link(link);
    }
    with_override_reasons(builder).build()
}

/// "Rated higher for this variant: ...", when the ordered procedure is not the best rated.
fn better_rated_line(knowledge: &KnowledgeBase, variant: Variant, category: Category, ordered: &[&str]) -> String {
    let Some(rows) = knowledge.variant(variant) else { return String::new() };
    let better: Vec<String> = rows
        .rows
        .iter()
        .filter(|row| row.category.rank() < category.rank() && !ordered.contains(&row.procedure.as_str()))
        .map(|row| format!("{} ({})", row.wording, wording::category_words(row.category)))
        .collect();
    if better.is_empty() {
        return String::new();
    }
    format!("Rated higher for this variant: {}.\n\n", better.join("; "))
}

/// Better-rated procedures of the same variant that can be ordered: the best is recommended.
fn better_alternatives(
    context: Context<'_>,
    ids: &Ids<'_>,
    card_key: &str,
    variant: Variant,
    category: Category,
    orders: &[&OrderFact],
    knowledge: &KnowledgeBase,
) -> Vec<Suggestion> {
    let Some(rows) = knowledge.variant(variant) else { return Vec::new() };
    let ordered: Vec<&str> = orders.iter().flat_map(|order| order.procedures.iter().map(String::as_str)).collect();
    let mut better: Vec<&Rating> = rows
        .rows
        .iter()
        .filter(|row| row.category.rank() < category.rank() && !ordered.contains(&row.procedure.as_str()))
        .filter(|row| knowledge.procedure(&row.procedure).is_some_and(|p| p.order_code.is_some()))
        .collect();
    better.sort_by_key(|row| row.category.rank());
    let Some(best_rank) = better.first().map(|row| row.category.rank()) else { return Vec::new() };
    let mut suggestions = Vec::new();
    let mut recommended = false;
    for row in better {
        let Some(procedure) = knowledge.procedure(&row.procedure) else { continue };
        let Some(code) = &procedure.order_code else { continue };
        let Some(first) = orders.first() else { continue };
        let Some(replaced) = draft(context, &first.source.resource) else { continue };
        let key = format!("{card_key}|suggest|{}", procedure.id);
        let new_rating = OrderRating::Rated { variant, category: row.category, rows: vec![row] };
        let resource = actions::better_order(replaced, procedure, code, &new_rating, ids.uuid(&key), knowledge);
        // Anticoagulation is kept under thrombus removal: ACR rates "anticoagulation alone".
        let keeps_orders = orders.iter().all(|order| order.kind == Some(ProcedureKind::Anticoagulation));
        let mut actions = vec![Action::create(format!("Order {}", procedure.display), resource)];
        let label = if keeps_orders {
            format!("Add {} ({})", wording::in_sentence(&procedure.short), wording::category_words(row.category))
        } else {
            for order in orders {
                actions.push(Action::delete(
                    format!("Remove the draft order {}", order.source.resource),
                    order.source.resource.clone(),
                ));
            }
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
    orders: &[&OrderFact],
    assessment: &Assessment,
    knowledge: &KnowledgeBase,
) -> Result<Card, CardError> {
    let references: Vec<&str> = orders.iter().map(|order| order.source.resource.as_str()).collect();
    let key =
        format!("missing|{}|{}", missing.iter().map(|m| m.id).collect::<Vec<_>>().join(","), references.join(","));
    let what: Vec<String> = missing.iter().map(|m| missing_words(m.id).to_owned()).collect();
    let names = wording::list(&short_names(orders, knowledge));
    let summary = wording::fit(format!("Document {} to rate {names} by the ACR criteria", wording::list(&what)));
    let ordered: Vec<&str> = orders.iter().flat_map(|order| order.procedures.iter().map(String::as_str)).collect();

    let mut detail = format!(
        "The record cannot place the patient in an ACR variant, so {names} is not rated. Document what is missing below; the table gives the rating each answer would bring.\n\n"
    );
    detail.push_str(&wording::missing_section(knowledge, missing, &ordered));
    detail.push_str(&wording::why(assessment, topic));
    detail.push_str(&wording::not_seen(assessment));
    let mut flags: Vec<&SafetyHit> = Vec::new();
    for order in orders {
        for hit in rating::flags_for(order, assessment, knowledge) {
            if hit.class != FlagClass::LysisAbsolute && !flags.contains(&hit) {
                flags.push(hit);
            }
        }
    }
    detail.push_str(&wording::safety_section(knowledge, &flags));

    let source = match knowledge.topic(topic) {
        Some(topic) => Source::new(wording::source_label(topic)).url(topic.url.clone()),
        None => Source::new("ACR Appropriateness Criteria"),
    };
    let indicator = if flags.is_empty() { Indicator::Info } else { Indicator::Warning };
    let mut builder = Card::builder(ids.uuid(&key), summary, indicator, source).detail(detail);
    if let Some(topic) = knowledge.topic(topic) {
        builder =
            builder.link(Link::absolute(format!("ACR Appropriateness Criteria: {}", topic.title), topic.url.clone()));
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
    order: &OrderFact,
    variant: Variant,
    rows: &[&Rating],
    assessment: &Assessment,
    knowledge: &KnowledgeBase,
) -> Result<Card, CardError> {
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
    let flags = rating::flags_for(order, assessment, knowledge);
    detail.push_str(&wording::safety_section(knowledge, &flags));
    let mut builder =
        Card::builder(ids.uuid(&key), summary, Indicator::Info, acr_source(knowledge, variant)).detail(detail);
    if let Some(link) = acr_link(knowledge, variant) {
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
    let sources: Vec<&str> =
        absolute.iter().filter_map(|hit| knowledge.source(&hit.source).map(|s| s.short.as_str())).collect();
    let mut deduped: Vec<&str> = Vec::new();
    for source in sources {
        if !deduped.contains(&source) {
            deduped.push(source);
        }
    }
    let source = Source::new(format!("{}: contraindications to thrombolysis", deduped.join("; ")));
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
    let sources: Vec<&str> =
        flags.iter().filter_map(|hit| knowledge.source(&hit.source).map(|s| s.short.as_str())).collect();
    let mut deduped: Vec<&str> = Vec::new();
    for source in sources {
        if !deduped.contains(&source) {
            deduped.push(source);
        }
    }
    let source = Source::new(format!("{}: safety, not part of the ACR rating", deduped.join("; ")));
    with_override_reasons(Card::builder(ids.uuid(&key), summary, Indicator::Warning, source).detail(detail)).build()
}

/// Critical: phlegmasia cerulea dolens is a vascular emergency.
fn phlegmasia_card(
    ids: &Ids<'_>,
    assessment: &Assessment,
    knowledge: &KnowledgeBase,
) -> Result<Option<Card>, CardError> {
    let Some(hit) = assessment.flags_of(FlagClass::LimbThreat).next() else { return Ok(None) };
    let summary =
        "Phlegmasia cerulea dolens: emergent CDT/PMT or surgical thrombectomy is usually appropriate".to_owned();
    let mut detail = String::from(
        "Limb-threatening venous ischaemia. Escalate now to interventional radiology or vascular surgery for emergent thrombus removal; anticoagulation alone is usually not appropriate.\n\n",
    );
    detail.push_str(&wording::variant_heading(knowledge, Variant::Acr193V5));
    detail.push_str(&wording::rating_table(knowledge, Variant::Acr193V5, &[]));
    detail.push_str(&wording::safety_section(knowledge, &[hit]));
    let builder =
        Card::builder(ids.uuid("phlegmasia"), summary, Indicator::Critical, acr_source(knowledge, Variant::Acr193V5))
            .detail(detail);
    let builder = match acr_link(knowledge, Variant::Acr193V5) {
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
        let builder = match acr_link(knowledge, variant) {
            Some(link) => builder.link(link),
            None => builder,
        };
        return builder.build().map(Some);
    }
    let needs: Vec<&Missing> = assessment
        .missing
        .iter()
        .filter(|m| {
            matches!(
                m.id,
                "dvt-segment" | "dvt-onset" | "dvt-severity" | "anticoagulation-start" | "contraindication-date"
            )
        })
        .collect();
    if needs.is_empty() {
        return Ok(None);
    }
    let what: Vec<String> = needs.iter().map(|m| missing_words(m.id).to_owned()).collect();
    let summary =
        wording::fit(format!("DVT on record: document {} to place it in an ACR scenario", wording::list(&what)));
    let mut detail = wording::missing_section(knowledge, &needs, &[]);
    detail.push_str(&wording::why(assessment, 193));
    let source = match knowledge.topic(193) {
        Some(topic) => Source::new(wording::source_label(topic)).url(topic.url.clone()),
        None => Source::new("ACR Appropriateness Criteria"),
    };
    Card::builder(ids.uuid("summary|missing"), summary, Indicator::Info, source).detail(detail).build().map(Some)
}
