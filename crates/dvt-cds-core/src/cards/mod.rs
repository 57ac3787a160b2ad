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
mod wording;

use serde_json::Value;
use uuid::Uuid;

use crate::cds_hooks::{
    Action, Card, CardError, CdsResponse, Coding, Hook, Indicator, Link, SelectionBehavior, Source, Suggestion,
};
use crate::classify::{
    Assessment, Effect, Fact, FlagClass, Missing, OrderRating, OrderVerdict, Rule, SafetyHit, Urgency, Variant,
    needs_of,
};
use crate::evidence::{Evidence, ProcedureKind};
use crate::ids::{HookInstance, ProcedureId};
use crate::knowledge::{Category, KnowledgeBase, Procedure};

pub use wording::{part_words, unobtained_words};

pub use actions::{
    CATEGORY_SYSTEM, OVERRIDE_SYSTEM, PAMA_AUC_APPLIED, PAMA_CONSULT_ID, PAMA_RATING, PAMA_RATING_SYSTEM,
    VARIANT_EXTENSION, VARIANT_SYSTEM,
};

/// The call being answered.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub hook: Hook,
    pub hook_instance: &'a HookInstance,
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
    render_explained(context, evidence, assessment, knowledge).map(|rendered| rendered.response)
}

/// The assessment as `dvt-cds evaluate --explain` prints it: as it serializes, but with each fact and
/// missing fact in the words its card uses (the assessment carries only their data), under the keys it
/// always had.
pub fn explain(assessment: &Assessment) -> Result<Value, serde_json::Error> {
    let worded = |facts: &[Fact]| serde_json::to_value(facts.iter().map(wording::fact_explained).collect::<Vec<_>>());
    let mut explained = serde_json::to_value(assessment)?;
    if let Some(evidence) = explained.get_mut("evidence") {
        *evidence = worded(&assessment.evidence)?;
    }
    if let Some(Value::Array(rules)) = explained.get_mut("rules") {
        for (rule, hit) in rules.iter_mut().zip(&assessment.rules) {
            if let Some(facts) = rule.get_mut("facts") {
                *facts = worded(&hit.facts)?;
            }
        }
    }
    if let Some(missing) = explained.get_mut("missing") {
        *missing = serde_json::to_value(assessment.missing.iter().map(wording::missing_explained).collect::<Vec<_>>())?;
    }
    if let Some(Value::Array(safety)) = explained.get_mut("safety") {
        for (flag, hit) in safety.iter_mut().zip(&assessment.safety) {
            if let Some(facts) = flag.get_mut("facts") {
                *facts = worded(&hit.facts)?;
            }
        }
    }
    if let Some(Value::Array(prelysis)) = explained.get_mut("prelysis") {
        for (lab, status) in prelysis.iter_mut().zip(&assessment.prelysis) {
            if let (Some(newest), Some(fact)) = (lab.get_mut("newest"), &status.newest) {
                *newest = serde_json::to_value(wording::fact_explained(fact))?;
            }
            if let (Some(unreadable), Some(problem)) = (lab.get_mut("unreadable"), &status.unreadable) {
                *unreadable = Value::String(wording::lab_problem_words(problem));
            }
        }
    }
    Ok(explained)
}

/// A response, and for each card the rules it rests on (by card uuid): what the decision audit records.
#[derive(Debug)]
pub struct Rendered {
    pub response: CdsResponse,
    pub card_rules: Vec<(Uuid, Vec<Rule>)>,
}

/// As [`render`], keeping each card's rules.
pub fn render_explained(
    context: Context<'_>,
    evidence: &Evidence,
    assessment: &Assessment,
    knowledge: &KnowledgeBase,
) -> Result<Rendered, CardError> {
    let mut cards = Vec::new();
    let mut card_rules = Vec::new();
    let mut system_actions = Vec::new();
    let ids = Ids { hook_instance: context.hook_instance };
    let mut keep = |card: Card, rules: Vec<Rule>| {
        card_rules.push((card.uuid(), rules));
        cards.push(card);
    };
    let phlegmasia_rules = || wording::rules_of(assessment, &[Rule::PhlegmasiaV5]);

    let mut tables = Tables::default();
    if context.hook == Hook::PatientView {
        if let Some(card) = phlegmasia_card(&ids, assessment, knowledge, &mut tables)? {
            keep(card, phlegmasia_rules());
        }
        if let Some(card) = summary_card(&ids, assessment, knowledge, &mut tables)? {
            keep(card, wording::why_rules(assessment, Some(193)));
        }
        return Ok(Rendered { response: CdsResponse::new(cards, Vec::new())?, card_rules });
    }
    let verdicts = &assessment.orders;
    if verdicts.is_empty() {
        return Ok(Rendered { response: CdsResponse::new(Vec::new(), Vec::new())?, card_rules });
    }
    // Phlegmasia calls for emergent thrombus removal: a plan that has it needs no alarm.
    if !verdicts.iter().any(|verdict| verdict.emergent_removal)
        && let Some(card) = phlegmasia_card(&ids, assessment, knowledge, &mut tables)?
    {
        keep(card, phlegmasia_rules());
    }
    for verdict in verdicts {
        let consult = ids.uuid(&format!("consult|{}", verdict.order));
        if let Some(resource) =
            draft(context, &verdict.order).and_then(|draft| actions::rated(draft, verdict, consult, knowledge))
        {
            system_actions
                .push(Action::update(format!("Record the ACR appropriateness rating on {}", verdict.order), resource));
        }
    }

    for group in groups(verdicts) {
        // The card's rules: those its "why" lists for its topic, and its orders' own.
        let topic = group.members.first().map_or(Some(193), |lead| why_topic(lead));
        let mut rules = wording::why_rules(assessment, topic);
        for note in group.members.iter().flat_map(|verdict| verdict.notes.iter()) {
            if !rules.contains(note) {
                rules.push(*note);
            }
        }
        let card = match group.kind {
            GroupKind::Rated => Some(rating_card(context, &ids, &group.members, assessment, knowledge, &mut tables)?),
            GroupKind::Withheld => {
                Some(contraindication_card(&ids, &group.members, assessment, knowledge, &mut tables)?)
            }
            GroupKind::Undecided => Some(missing_card(&ids, &group.members, assessment, knowledge)?),
            GroupKind::Ambiguous => Some(ambiguous_card(&ids, &group.members, assessment, knowledge, &mut tables)?),
            GroupKind::Outside => Some(outside_card(&ids, &group.members, assessment, knowledge)?),
            GroupKind::Silent => None,
        };
        if let Some(card) = card {
            keep(card, rules);
        }
    }
    if context.hook == Hook::OrderSign
        && let Some(card) = plan_card(&ids, verdicts, evidence, assessment, knowledge)?
    {
        keep(card, wording::rules_of(assessment, &[Rule::DvtConfirmedActive]));
    }
    Ok(Rendered { response: CdsResponse::new(cards, system_actions)?, card_rules })
}

/// What kind of card a verdict gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupKind {
    Rated,
    Withheld,
    Undecided,
    Ambiguous,
    /// No ACR variant applies (or no table rates it) for a DVT patient, or a safety finding concerns it.
    Outside,
    /// Orders outside our topics, for a patient with no DVT on record: silence beats noise.
    Silent,
}

/// Orders that share a verdict share a card.
struct Group<'a> {
    kind: GroupKind,
    members: Vec<&'a OrderVerdict>,
}

fn kind_of(verdict: &OrderVerdict) -> GroupKind {
    match verdict.rating {
        OrderRating::Rated { .. } => GroupKind::Rated,
        OrderRating::Withheld { .. } => GroupKind::Withheld,
        OrderRating::Undecided { .. } => GroupKind::Undecided,
        OrderRating::Ambiguous { .. } => GroupKind::Ambiguous,
        OrderRating::NoVariant { .. } | OrderRating::NotRated | OrderRating::WithRemoval => {
            if verdict.notes.is_empty() && verdict.findings.is_empty() { GroupKind::Silent } else { GroupKind::Outside }
        }
    }
}

/// What makes two verdicts one card: the same kind and rating (a stent rated with its CDT/PMT, an
/// anticoagulant drafted with removal join the removal's card).
fn groups(verdicts: &[OrderVerdict]) -> Vec<Group<'_>> {
    let mut groups: Vec<(String, Group<'_>)> = Vec::new();
    let key_of = |verdict: &OrderVerdict| -> String {
        let rating = serde_json::to_string(&verdict.rating).unwrap_or_default();
        match kind_of(verdict) {
            GroupKind::Withheld => {
                let flags: Vec<&str> = verdict.findings.iter().map(|f| f.flag.as_str()).collect();
                format!("withheld|{rating}|{}", flags.join(","))
            }
            GroupKind::Outside => format!("outside|{}", verdict.order),
            GroupKind::Ambiguous => format!("ambiguous|{}", verdict.order),
            GroupKind::Silent => format!("silent|{}", verdict.order),
            GroupKind::Rated | GroupKind::Undecided => rating,
        }
    };
    // A stent rated with its removal, or an anticoagulant drafted with one, goes on the removal's card
    // (after it: the card leads with the removal's verdict).
    let host_of = |verdict: &OrderVerdict| {
        let host = verdict.rated_with.iter().chain(verdict.with_removal.iter()).find_map(|host| {
            verdicts
                .iter()
                .find(|other| other.order == *host && other.rated_with.is_none() && kind_of(other) != GroupKind::Silent)
        })?;
        let joins = !verdict.findings.iter().any(|f| f.effect == Effect::Contraindicates)
            && matches!(verdict.rating, OrderRating::Rated { .. } | OrderRating::WithRemoval);
        joins.then_some(host)
    };
    let joining = |verdict: &OrderVerdict| host_of(verdict).is_some();
    for verdict in verdicts.iter().filter(|v| !joining(v)).chain(verdicts.iter().filter(|v| joining(v))) {
        let (key, kind) = match host_of(verdict) {
            Some(host) => (key_of(host), kind_of(host)),
            None => (key_of(verdict), kind_of(verdict)),
        };
        match groups.iter_mut().find(|(existing, _)| *existing == key) {
            Some((_, group)) => group.members.push(verdict),
            None => groups.push((key, Group { kind, members: vec![verdict] })),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

/// The variants whose table a card of this response already shows: each table appears once.
#[derive(Default)]
struct Tables {
    shown: Vec<(Variant, String)>,
}

impl Tables {
    /// The variant's heading and table, or a line pointing to the card that has them.
    fn show(&mut self, knowledge: &KnowledgeBase, variant: Variant, ordered: &[&ProcedureId], card: &str) -> String {
        if let Some((_, first)) = self.shown.iter().find(|(shown, _)| *shown == variant) {
            return wording::table_elsewhere(knowledge, variant, first);
        }
        self.shown.push((variant, card.to_owned()));
        let mut text = wording::variant_heading(knowledge, variant);
        text.push_str(&wording::rating_table(knowledge, variant, ordered));
        text
    }
}

/// The procedures the verdicts' orders ask for, as their card rates them: an anticoagulant drafted with
/// thrombus removal is not "anticoagulation alone".
fn ordered<'a>(members: &[&'a OrderVerdict]) -> Vec<&'a ProcedureId> {
    rated(members).flat_map(|verdict| &verdict.procedures).collect()
}

/// The members a card names and rates (not an anticoagulant that only goes with a removal).
fn rated<'a, 'b>(members: &'b [&'a OrderVerdict]) -> impl Iterator<Item = &'a OrderVerdict> + 'b {
    let all_with_removal = members.iter().all(|verdict| verdict.rating == OrderRating::WithRemoval);
    members.iter().copied().filter(move |verdict| all_with_removal || verdict.rating != OrderRating::WithRemoval)
}

/// The safety flags of the members' findings, each once, in the assessment's order.
fn flags_of<'a>(members: &[&OrderVerdict], assessment: &'a Assessment, effect: Option<Effect>) -> Vec<&'a SafetyHit> {
    assessment
        .safety
        .iter()
        .filter(|hit| {
            members.iter().any(|verdict| {
                verdict.findings.iter().any(|f| f.flag == hit.flag && effect.is_none_or(|effect| f.effect == effect))
            })
        })
        .collect()
}

fn indicator_of(members: &[&OrderVerdict]) -> Indicator {
    match members.iter().map(|verdict| verdict.indicator).max() {
        Some(Urgency::Critical) => Indicator::Critical,
        Some(Urgency::Warning) => Indicator::Warning,
        Some(Urgency::Info) | None => Indicator::Info,
    }
}

fn references(members: &[&OrderVerdict]) -> String {
    members.iter().map(|verdict| verdict.order.as_str()).collect::<Vec<_>>().join(",")
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
    hook_instance: &'a HookInstance,
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

/// The orders' short names; after the first, as they read inside a sentence. An order whose code means
/// several procedures (a filter of unstated type) is named by its first one's kind.
fn short_names(members: &[&OrderVerdict], knowledge: &KnowledgeBase) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for verdict in rated(members) {
        let procedures: Vec<&Procedure> = verdict.procedures.iter().filter_map(|id| knowledge.procedure(id)).collect();
        let name = match procedures.as_slice() {
            [] => verdict
                .code
                .as_ref()
                .map_or_else(|| verdict.order.clone(), |code| format!("{} {}", code.system, code.code)),
            [one] => one.short.clone(),
            [first, ..] if first.kind == ProcedureKind::IvcFilter => "IVC filter".to_owned(),
            many => many.iter().map(|p| p.short.clone()).collect::<Vec<_>>().join(" or "),
        };
        let name = if names.is_empty() { name } else { wording::in_sentence(&name) };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

fn rating_card(
    context: Context<'_>,
    ids: &Ids<'_>,
    members: &[&OrderVerdict],
    assessment: &Assessment,
    knowledge: &KnowledgeBase,
    tables: &mut Tables,
) -> Result<Card, CardError> {
    let Some(lead) = members.first() else { return Err(CardError::Inconsistent("a rating card with no order")) };
    let (OrderRating::Rated { variant, rows } | OrderRating::Withheld { variant: Some(variant), rows, .. }) =
        &lead.rating
    else {
        return Err(CardError::Inconsistent("a rating card for an order that is not rated"));
    };
    let variant = *variant;
    let key = format!("rating|{}|{}", variant.id(), references(members));
    let ordered = ordered(members);
    let cautions = flags_of(members, assessment, None);
    let short = knowledge.variant(variant).map_or("", |rows| rows.short.as_str());
    let year = knowledge.topic(variant.topic()).map_or(0, |topic| topic.year);
    // The iliofemoral topic rates "anticoagulation alone"; the filter topic rates anticoagulation as such.
    let alone =
        lead.kind == Some(ProcedureKind::Anticoagulation) && lead.with_removal.is_empty() && variant.topic() == 193;
    let names = wording::list(&short_names(members, knowledge));
    let verdict_words = wording::rows_verdict(knowledge, rows);
    let summary_cautions = wording::cautions(&lead.notes, &cautions);
    let summary =
        wording::rating_summary(&names, alone, &verdict_words, lead.rating.category(), short, year, &summary_cautions);

    let mut detail = String::new();
    if alone && lead.rating.category() == Some(Category::UsuallyNotAppropriate) {
        detail.push_str(wording::ANTICOAGULATION_ALONE);
    }
    detail.push_str(&wording::members_line(members, knowledge));
    detail.push_str(&wording::notes(&lead.notes));
    detail.push_str(&wording::safety_section(knowledge, &cautions));
    detail.push_str(&tables.show(knowledge, variant, &ordered, &summary));
    detail.push_str(&wording::better_line(knowledge, &lead.alternatives));
    detail.push_str(&wording::why(assessment, Some(variant.topic())));
    if members.iter().any(|verdict| verdict.kind == Some(ProcedureKind::Lysis)) {
        detail.push_str(&wording::prelysis_section(&assessment.prelysis));
        detail.push_str(&wording::unchecked_line(knowledge));
    }
    detail.push_str(&wording::not_seen(assessment));
    detail.push_str(&wording::orders_line(members));

    let suggestions = suggestions(context, ids, &key, lead, knowledge);
    let mut builder = Card::builder(ids.uuid(&key), summary, indicator_of(members), acr_source(knowledge, variant))
        .detail(detail)
        .suggestions(SelectionBehavior::AtMostOne, suggestions);
    if let Some(link) = acr_link(knowledge, variant.topic()) {
        builder = builder.link(link);
    }
    with_override_reasons(builder).build()
}

/// The verdict's alternatives as suggestions: create the better-rated order (with its rating) and, unless
/// the order is an anticoagulant that keeps going under thrombus removal, delete the current one.
fn suggestions(
    context: Context<'_>,
    ids: &Ids<'_>,
    card_key: &str,
    lead: &OrderVerdict,
    knowledge: &KnowledgeBase,
) -> Vec<Suggestion> {
    let Some(replaced) = draft(context, &lead.order) else { return Vec::new() };
    let mut suggestions = Vec::new();
    for alternative in &lead.alternatives {
        let Some(procedure) = knowledge.procedure(&alternative.procedure) else { continue };
        let Some(code) = procedure.order_code.as_ref() else { continue };
        let key = format!("{card_key}|suggest|{}", procedure.id);
        let resource = actions::better_order(
            replaced,
            procedure,
            code,
            alternative.variant,
            alternative.category,
            ids.uuid(&key),
            knowledge,
        );
        let mut actions = vec![Action::create(format!("Order {}", procedure.display), resource)];
        if !alternative.adds {
            actions.push(Action::delete(format!("Remove the draft order {}", lead.order), lead.order.clone()));
        }
        let label = wording::suggestion_label(procedure, alternative);
        let mut suggestion = Suggestion::new(ids.uuid(&key), label, actions);
        if alternative.recommended {
            suggestion = suggestion.recommended();
        }
        suggestions.push(suggestion);
    }
    suggestions
}

fn missing_card(
    ids: &Ids<'_>,
    members: &[&OrderVerdict],
    assessment: &Assessment,
    knowledge: &KnowledgeBase,
) -> Result<Card, CardError> {
    let Some(OrderRating::Undecided { topic, missing }) = members.first().map(|lead| &lead.rating) else {
        return Err(CardError::Inconsistent("a missing-data card for an order that is not undecided"));
    };
    let fact_ids: Vec<&str> = missing.iter().map(|fact| fact.id()).collect();
    let key = format!("missing|{}|{}", fact_ids.join(","), references(members));
    let items: Vec<&Missing> = assessment.missing.iter().filter(|m| missing.contains(&m.id())).collect();
    let names = wording::list(&short_names(members, knowledge));
    let summary = wording::missing_summary(missing, &names, flags_of(members, assessment, None).first().copied());
    let ordered = ordered(members);
    let cautions = flags_of(members, assessment, None);
    let mut detail = wording::not_rated_until(&names);
    detail.push_str(&wording::missing_section(knowledge, &items, &ordered));
    detail.push_str(&wording::safety_section(knowledge, &cautions));
    detail.push_str(&wording::why(assessment, Some(*topic)));
    if members.iter().any(|verdict| verdict.kind == Some(ProcedureKind::Lysis)) {
        detail.push_str(&wording::prelysis_section(&assessment.prelysis));
    }
    detail.push_str(&wording::not_seen(assessment));
    detail.push_str(&wording::orders_line(members));
    let mut builder =
        Card::builder(ids.uuid(&key), summary, indicator_of(members), topic_source(knowledge, *topic)).detail(detail);
    if let Some(link) = acr_link(knowledge, *topic) {
        builder = builder.link(link);
    }
    with_override_reasons(builder).build()
}

/// An IVC filter code that means either device, which ACR rates with different PAMA codes here.
fn ambiguous_card(
    ids: &Ids<'_>,
    members: &[&OrderVerdict],
    assessment: &Assessment,
    knowledge: &KnowledgeBase,
    tables: &mut Tables,
) -> Result<Card, CardError> {
    let Some(lead) = members.first() else { return Err(CardError::Inconsistent("an ambiguous card with no order")) };
    let OrderRating::Ambiguous { variant, rows } = &lead.rating else {
        return Err(CardError::Inconsistent("an ambiguous card for an order that is not ambiguous"));
    };
    let key = format!("ambiguous|{}|{}", variant.id(), lead.order);
    let summary = wording::ambiguous_summary(knowledge, rows);
    let mut detail = wording::ambiguous_detail(knowledge, rows);
    detail.push_str(&wording::notes(&lead.notes));
    detail.push_str(&wording::safety_section(knowledge, &flags_of(members, assessment, None)));
    detail.push_str(&tables.show(knowledge, *variant, &ordered(members), &summary));
    detail.push_str(&wording::why(assessment, Some(variant.topic())));
    detail.push_str(&wording::orders_line(members));
    let mut builder =
        Card::builder(ids.uuid(&key), summary, indicator_of(members), acr_source(knowledge, *variant)).detail(detail);
    if let Some(link) = acr_link(knowledge, variant.topic()) {
        builder = builder.link(link);
    }
    with_override_reasons(builder).build()
}

/// Critical: a finding on record contraindicates the order. It leads with the finding, says the rating
/// does not stand, and names what ACR rates for this patient instead.
fn contraindication_card(
    ids: &Ids<'_>,
    members: &[&OrderVerdict],
    assessment: &Assessment,
    knowledge: &KnowledgeBase,
    tables: &mut Tables,
) -> Result<Card, CardError> {
    let Some(lead) = members.first() else {
        return Err(CardError::Inconsistent("a contraindication card with no order"));
    };
    let key = format!("contraindication|{}", references(members));
    let contraindications = flags_of(members, assessment, Some(Effect::Contraindicates));
    let cautions = flags_of(members, assessment, Some(Effect::Cautions));
    let names = wording::list(&short_names(members, knowledge));
    let certain = members
        .iter()
        .flat_map(|verdict| verdict.findings.iter())
        .any(|finding| finding.effect == Effect::Contraindicates && finding.certain);
    let summary = wording::contraindication_summary(&names, contraindications.first().copied(), certain);
    let mut detail = wording::safety_section(knowledge, &contraindications);
    detail.push_str(&wording::withheld_line(knowledge, &lead.rating));
    detail.push_str(&wording::instead_line(knowledge, &lead.instead));
    if let OrderRating::Withheld { missing, .. } = &lead.rating
        && !missing.is_empty()
    {
        let items: Vec<&Missing> = assessment.missing.iter().filter(|m| missing.contains(&m.id())).collect();
        detail.push_str(&wording::missing_section(knowledge, &items, &ordered(members)));
    }
    detail.push_str(&wording::safety_section(knowledge, &cautions));
    let source = match lead.rating.variant() {
        Some(variant) => {
            detail.push_str(&tables.show(knowledge, variant, &ordered(members), &summary));
            detail.push_str(&wording::why(assessment, Some(variant.topic())));
            acr_source(knowledge, variant)
        }
        None => {
            detail.push_str(&wording::why(assessment, Some(193)));
            Source::new(wording::safety_source(&source_names(knowledge, &contraindications)))
        }
    };
    if members.iter().any(|verdict| verdict.kind == Some(ProcedureKind::Lysis)) {
        detail.push_str(&wording::prelysis_section(&assessment.prelysis));
        detail.push_str(&wording::unchecked_line(knowledge));
    }
    detail.push_str(&wording::not_seen(assessment));
    detail.push_str(&wording::orders_line(members));
    with_override_reasons(Card::builder(ids.uuid(&key), summary, Indicator::Critical, source).detail(detail)).build()
}

/// The topic whose rules explain a verdict's card; `None` for an order no ACR table rates: only the rules
/// about the DVT itself and the order's own explain it (a variant placing the patient for other procedures
/// does not, nor a contraindication to a treatment not ordered).
fn why_topic(verdict: &OrderVerdict) -> Option<u32> {
    if verdict.notes.contains(&Rule::OrderNotInTables) {
        return None;
    }
    Some(match &verdict.rating {
        OrderRating::Undecided { topic, .. } | OrderRating::NoVariant { topic } => *topic,
        rating => rating.variant().map_or(193, Variant::topic),
    })
}

/// No ACR variant applies (or no ACR table rates the order) for a patient with a DVT on record: why, and
/// what to confirm; with the safety findings that concern the order.
fn outside_card(
    ids: &Ids<'_>,
    members: &[&OrderVerdict],
    assessment: &Assessment,
    knowledge: &KnowledgeBase,
) -> Result<Card, CardError> {
    let Some(lead) = members.first() else { return Err(CardError::Inconsistent("a card with no order")) };
    let key = format!("outside|{}", references(members));
    let names = wording::list(&short_names(members, knowledge));
    let cautions = flags_of(members, assessment, None);
    let summary =
        wording::outside_summary(&names, lead.rating == OrderRating::NotRated, &lead.notes, cautions.first().copied());
    // The topic that rates the order, or for what no table rates the topic that frames the patient.
    let topic = match lead.rating {
        OrderRating::NoVariant { topic } => topic,
        _ => assessment.framing_topic(),
    };
    let not_in_tables = lead.notes.contains(&Rule::OrderNotInTables);
    let mut detail = if not_in_tables {
        wording::not_in_tables_line(&names)
    } else {
        wording::outside_line(&names, !lead.notes.is_empty())
    };
    // The opening line already says no table rates the order, and "Why" gives the rule: not a third time.
    let notes: Vec<Rule> = lead.notes.iter().copied().filter(|rule| *rule != Rule::OrderNotInTables).collect();
    detail.push_str(&wording::notes(&notes));
    detail.push_str(&wording::confirm_section(&lead.notes));
    detail.push_str(&wording::safety_section(knowledge, &cautions));
    if assessment.variant_of_topic(6) == Some(Variant::Acr6V2) {
        detail.push_str(wording::FILTER_VARIANT_2);
    }
    detail.push_str(&wording::why(assessment, why_topic(lead)));
    if members.iter().any(|verdict| verdict.kind == Some(ProcedureKind::Lysis)) {
        detail.push_str(&wording::prelysis_section(&assessment.prelysis));
        detail.push_str(&wording::unchecked_line(knowledge));
    }
    detail.push_str(&wording::not_seen(assessment));
    detail.push_str(&wording::orders_line(members));
    let source = if lead.notes.is_empty() {
        Source::new(wording::safety_source(&source_names(knowledge, &cautions)))
    } else {
        topic_source(knowledge, topic)
    };
    with_override_reasons(Card::builder(ids.uuid(&key), summary, indicator_of(members), source).detail(detail)).build()
}

/// Critical: phlegmasia cerulea dolens is a vascular emergency.
fn phlegmasia_card(
    ids: &Ids<'_>,
    assessment: &Assessment,
    knowledge: &KnowledgeBase,
    tables: &mut Tables,
) -> Result<Option<Card>, CardError> {
    let Some(hit) = assessment.flags_of(FlagClass::LimbThreat).next() else { return Ok(None) };
    // Emergent removal is CDT/PMT or surgical thrombectomy, unless the record contraindicates lysis.
    let lysis_contraindicated = assessment.contraindicated.contains(&ProcedureKind::Lysis);
    let (summary, mut detail) = wording::phlegmasia_opening(hit.certain, lysis_contraindicated);
    let summary = summary.to_owned();
    detail.push_str(&tables.show(knowledge, Variant::Acr193V5, &[], &summary));
    let mut flags = vec![hit];
    if lysis_contraindicated {
        flags.extend(assessment.flags_of(FlagClass::LysisAbsolute));
    }
    detail.push_str(&wording::safety_section(knowledge, &flags));
    // Only a confirmed phlegmasia places the patient in variant 5, so only then does the source name it.
    let source = if hit.certain {
        acr_source(knowledge, Variant::Acr193V5)
    } else {
        topic_source(knowledge, Variant::Acr193V5.topic())
    };
    let builder = Card::builder(ids.uuid("phlegmasia"), summary, Indicator::Critical, source).detail(detail);
    let builder = match acr_link(knowledge, Variant::Acr193V5.topic()) {
        Some(link) => builder.link(link),
        None => builder,
    };
    with_override_reasons(builder).build().map(Some)
}

/// Info, at order-sign of thrombus removal or a stent for a DVT on record: what comes after the procedure.
/// Without an active, confirmed DVT there is no plan: a stent for non-thrombotic iliac vein compression,
/// for one, does not call for months of anticoagulation. A contraindicated procedure gets no plan.
fn plan_card(
    ids: &Ids<'_>,
    verdicts: &[OrderVerdict],
    evidence: &Evidence,
    assessment: &Assessment,
    knowledge: &KnowledgeBase,
) -> Result<Option<Card>, CardError> {
    let Some(dvt) = assessment.rules.iter().find(|hit| hit.id == Rule::DvtConfirmedActive) else {
        return Ok(None);
    };
    let after: Vec<&OrderVerdict> = verdicts
        .iter()
        .filter(|verdict| !matches!(verdict.rating, OrderRating::Withheld { .. }))
        .filter(|verdict| {
            verdict.kind.is_some_and(|kind| kind.removes_thrombus() || kind == ProcedureKind::VenousStent)
                && (verdict.emergent_removal || verdict.kind == Some(ProcedureKind::VenousStent))
        })
        .collect();
    if after.is_empty() {
        return Ok(None);
    }
    let _ = evidence;
    let stent = after.iter().any(|verdict| verdict.kind == Some(ProcedureKind::VenousStent));
    let names = wording::list(&short_names(&after, knowledge));
    let summary = wording::plan_summary(&names);
    let mut detail = String::from("**Plan after the procedure** (practice, not part of the ACR rating)\n\n");
    detail.push_str(&wording::plan_items(knowledge, stent));
    detail.push('\n');
    detail.push_str(&wording::plan_for(&dvt.facts));
    let source_label = knowledge.source("SEED").map_or("Post-procedure practice", |source| source.short.as_str());
    let key = format!("plan|{}", references(&after));
    Card::builder(ids.uuid(&key), summary, Indicator::Info, Source::new(source_label)).detail(detail).build().map(Some)
}

/// patient-view: the iliofemoral scenario and what is appropriate now, or what to document.
fn summary_card(
    ids: &Ids<'_>,
    assessment: &Assessment,
    knowledge: &KnowledgeBase,
    tables: &mut Tables,
) -> Result<Option<Card>, CardError> {
    if let Some(variant) = assessment.variant_of_topic(193) {
        let rows = knowledge.variant(variant).map(|rows| rows.rows.as_slice()).unwrap_or_default();
        // What the record contraindicates is not offered as "usually appropriate now".
        let best: Vec<String> = rows
            .iter()
            .filter(|row| row.category == Category::UsuallyAppropriate)
            .filter_map(|row| knowledge.procedure(&row.procedure))
            .filter(|procedure| !assessment.contraindicated.contains(&procedure.kind))
            .map(|procedure| procedure.short.clone())
            .collect();
        let short = knowledge.variant(variant).map_or("", |rows| rows.short.as_str());
        let best: Vec<String> = best.iter().map(|name| wording::in_sentence(name)).collect();
        let now = if best.is_empty() {
            "no procedure is usually appropriate".to_owned()
        } else {
            format!("{} usually appropriate", wording::list(&best))
        };
        let summary = wording::patient_summary(variant.number(), short, &now, &assessment.contraindicated);
        let mut detail = tables.show(knowledge, variant, &[], &summary);
        detail.push_str(&wording::why(assessment, Some(193)));
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
    let needs: Vec<&Missing> = assessment.missing.iter().filter(|m| needs_of(193).contains(&m.id())).collect();
    if needs.is_empty() {
        return Ok(None);
    }
    let what: Vec<String> = needs.iter().map(|m| wording::missing_words(m.id()).to_owned()).collect();
    let summary =
        wording::fit(format!("DVT on record: document {} to place it in an ACR scenario", wording::list(&what)));
    let mut detail = wording::missing_section(knowledge, &needs, &[]);
    detail.push_str(&wording::why(assessment, Some(193)));
    Card::builder(ids.uuid("summary|missing"), summary, Indicator::Info, topic_source(knowledge, 193))
        .detail(detail)
        .build()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{MissingDetail, MissingFact};

    fn undecided(id: &str, procedure: &str, kind: ProcedureKind, topic: u32) -> OrderVerdict {
        OrderVerdict {
            order: format!("ServiceRequest/{id}"),
            procedures: vec![ProcedureId::new(procedure)],
            code: None,
            kind: Some(kind),
            rating: OrderRating::Undecided { topic, missing: vec![MissingFact::DvtSegment] },
            pama: None,
            findings: Vec::new(),
            rated_with: None,
            with_removal: Vec::new(),
            notes: Vec::new(),
            alternatives: Vec::new(),
            instead: Vec::new(),
            emergent_removal: false,
            indicator: Urgency::Info,
        }
    }

    #[test]
    fn orders_of_two_topics_missing_the_same_fact_get_a_card_each() {
        let knowledge = KnowledgeBase::embedded().unwrap();
        let evidence = Evidence::default();
        let assessment = Assessment {
            orders: vec![
                undecided("cdt", "cdt-pmt", ProcedureKind::Lysis, 193),
                undecided("filter", "ivc-filter-retrievable", ProcedureKind::IvcFilter, 6),
            ],
            missing: vec![Missing::new(MissingDetail::DvtSegment { diagnosis: None })],
            ..Assessment::default()
        };
        let hook_instance = HookInstance::parse("h".to_owned()).unwrap();
        let context = Context { hook: Hook::OrderSelect, hook_instance: &hook_instance, drafts: &[] };
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
