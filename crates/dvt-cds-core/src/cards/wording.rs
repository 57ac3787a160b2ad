//! Every word a clinician reads: summaries, details (GitHub-flavoured markdown), labels.
//!
//! Text that comes from the record (displays, free text) is escaped: the public sandbox renders card
//! details with raw HTML allowed, so a record must not be able to inject markup.

use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;

use crate::classify::{
    Answer, Assessment, Category, Fact, FactKind, FlagClass, Instead, LabStatus, Missing, MissingDetail, MissingFact,
    OrderRating, OrderVerdict, Rule, SafetyHit, Suggested, Variant,
};
use crate::evidence::{
    AllergyClass, ClinicalStatus, CodeName, Concept, DataGap, Disagreement, DvtPoint, JsonProblem, Lab, LabProblem,
    LabValue, Laterality, Match, MedicationClass, OnsetForm, ProcedureKind, RecordPart, Severity, Unobtained,
    Unreadable, UnreadableProblem, Unusable, Verification,
};
use crate::ids::ProcedureId;
use crate::knowledge::{KnowledgeBase, PlanApplies, Procedure, Rating, Topic};

/// Escapes text from the record for markdown and HTML: no tags, no entities, no table or emphasis marks.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' | '\t' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The longest summary we write; the spec allows 139 characters.
const SUMMARY_LIMIT: usize = 139;

/// A summary from its parts: the first always, each further part only while the whole fits, so a summary
/// never ends mid-sentence. Only a first part too long on its own (a long list of names) is cut.
pub(super) fn compose(first: String, optional: &[String]) -> String {
    let mut summary = first;
    for part in optional {
        if summary.chars().count() + part.chars().count() <= SUMMARY_LIMIT {
            summary.push_str(part);
        }
    }
    fit(summary)
}

/// A summary from parts kept in their reading order: when the whole is too long, the parts of the
/// highest `drop` rank go first (rank 0 is never dropped).
pub(super) fn compose_ranked(parts: &[(String, u8)]) -> String {
    let mut kept: Vec<&(String, u8)> = parts.iter().collect();
    let length = |kept: &[&(String, u8)]| kept.iter().map(|(text, _)| text.chars().count()).sum::<usize>();
    while length(&kept) > SUMMARY_LIMIT {
        let Some(worst) = kept.iter().map(|(_, rank)| *rank).max().filter(|rank| *rank > 0) else { break };
        let Some(at) = kept.iter().rposition(|(_, rank)| *rank == worst) else { break };
        kept.remove(at);
    }
    fit(kept.iter().map(|(text, _)| text.as_str()).collect())
}

/// Keeps a summary under the limit, cutting at a word boundary with an ellipsis (the last resort of
/// `compose`).
pub(super) fn fit(summary: String) -> String {
    if summary.chars().count() <= SUMMARY_LIMIT {
        return summary;
    }
    let cut: String = summary.chars().take(SUMMARY_LIMIT - 1).collect();
    let cut = match cut.rfind(' ') {
        Some(space) if space > SUMMARY_LIMIT / 2 => cut.get(..space).unwrap_or(&cut).to_owned(),
        _ => cut,
    };
    format!("{}…", cut.trim_end_matches([',', ';', ':', ' ']))
}

pub(super) fn category_words(category: Category) -> &'static str {
    match category {
        Category::UsuallyAppropriate => "usually appropriate",
        Category::MayBeAppropriate => "may be appropriate",
        Category::MayBeAppropriateDisagreement => "may be appropriate (panel disagreement)",
        Category::UsuallyNotAppropriate => "usually not appropriate",
    }
}

/// A category as ACR prints it: the ratings table's column and the PAMA extension's display.
pub(super) fn category_label(category: Category) -> &'static str {
    match category {
        Category::UsuallyAppropriate => "Usually appropriate",
        Category::MayBeAppropriate => "May be appropriate",
        Category::MayBeAppropriateDisagreement => "May be appropriate (disagreement)",
        Category::UsuallyNotAppropriate => "Usually not appropriate",
    }
}

/// A name inside a sentence: "Surgical thrombectomy" becomes "surgical thrombectomy", "CDT/PMT" and
/// "IVC filter" stay as they are.
pub(super) fn in_sentence(name: &str) -> String {
    let mut chars = name.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_uppercase() && second.is_lowercase() => {
            first.to_lowercase().chain(name.chars().skip(1)).collect()
        }
        _ => name.to_owned(),
    }
}

/// "A and B" from short names.
pub(super) fn list(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

pub(super) fn source_label(topic: &Topic) -> String {
    format!("ACR Appropriateness Criteria: {} ({})", topic.title, topic.year)
}

/// "CDT/PMT: usually appropriate for ... (ACR 2020); caution: pregnancy".
pub(super) fn rating_summary(
    names: &str,
    alone: bool,
    verdict: &str,
    category: Option<Category>,
    variant_short: &str,
    year: u32,
    cautions: &[String],
) -> String {
    let names = if alone { format!("{names} alone") } else { names.to_owned() };
    // A caution is what matters most after the verdict: the variant's name and the year give way first.
    let mut parts =
        vec![(format!("{names}: {verdict}"), 0), (format!(" for {variant_short}"), 2), (format!(" (ACR {year})"), 3)];
    // The first caution outranks the variant's name; a second one gives way before it.
    for (caution, rank) in cautions.iter().zip([1, 2]) {
        parts.push((format!("; {caution}"), rank));
    }
    if cautions.is_empty() && alone && category == Some(Category::UsuallyNotAppropriate) {
        parts.push(("; keep it and add thrombus removal".to_owned(), 1));
    }
    compose_ranked(&parts)
}

/// The category words of the rows an order means: one category, or one per device.
pub(super) fn rows_verdict(knowledge: &KnowledgeBase, rows: &[(ProcedureId, Category)]) -> String {
    match rows.first() {
        Some((_, first)) if rows.iter().all(|(_, category)| category == first) => category_words(*first).to_owned(),
        // Rows rated together share one PAMA code; categories that differ under it are all "appropriate" ones.
        _ => format!("appropriate ({})", device_words(knowledge, rows)),
    }
}

pub(super) const ANTICOAGULATION_ALONE: &str = "ACR rates anticoagulation **alone** usually not appropriate here. Anticoagulation is still required: keep it, and add thrombus removal (suggested below).\n\n";

/// The summary and first lines of the phlegmasia card: confirmed or not, and whether lysis is ruled out.
pub(super) fn phlegmasia_opening(certain: bool, lysis_contraindicated: bool) -> (&'static str, String) {
    let removal = if lysis_contraindicated {
        "emergent surgical thrombectomy (thrombolysis is contraindicated: see below)"
    } else {
        "emergent thrombus removal"
    };
    if certain {
        let summary = if lysis_contraindicated {
            "Phlegmasia cerulea dolens: emergent surgical thrombectomy; thrombolysis is contraindicated"
        } else {
            "Phlegmasia cerulea dolens: emergent CDT/PMT or surgical thrombectomy is usually appropriate"
        };
        let detail = format!(
            "Limb-threatening venous ischaemia. Escalate now to interventional radiology or vascular surgery for {removal}; anticoagulation alone is usually not appropriate.\n\n"
        );
        (summary, detail)
    } else {
        let detail = format!(
            "Phlegmasia cerulea dolens is recorded but not confirmed. Examine the limb now; if it is confirmed, escalate to interventional radiology or vascular surgery for {removal}. Until then the ACR rating of the order follows the confirmed findings.\n\n**If confirmed:** "
        );
        (
            "Possible phlegmasia cerulea dolens (unconfirmed): examine the limb now; if confirmed, emergent thrombus removal",
            detail,
        )
    }
}

pub(super) const FILTER_VARIANT_2: &str = "Anticoagulation is contraindicated: the IVC filter topic's variant 2 applies (retrievable IVC filter usually appropriate, permanent filter may be appropriate).\n\n";

/// The other orders of the card: a stent rated with its CDT/PMT, an anticoagulant drafted with removal.
pub(super) fn members_line(members: &[&OrderVerdict], knowledge: &KnowledgeBase) -> String {
    let name = |verdict: &OrderVerdict| {
        verdict
            .procedures
            .first()
            .and_then(|id| knowledge.procedure(id))
            .map_or_else(|| verdict.order.clone(), |p| in_sentence(&p.short))
    };
    let mut text = String::new();
    for verdict in members {
        if verdict.rated_with.is_some() {
            let _ = writeln!(
                text,
                "{} (`{}`) is rated with the thrombus removal it is drafted with: ACR rates \"with or without stent placement\".\n",
                capitalised(&name(verdict)),
                escape_code(&verdict.order)
            );
        }
        if !verdict.with_removal.is_empty() {
            let _ = writeln!(
                text,
                "{} (`{}`) is drafted with thrombus removal: it is not \"anticoagulation alone\" and is not rated as such; anticoagulation continues with and after removal.\n",
                capitalised(&name(verdict)),
                escape_code(&verdict.order)
            );
        }
    }
    text
}

fn capitalised(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// What qualifies the order, or why no variant applies: the rules, one a line.
pub(super) fn notes(rules: &[Rule]) -> String {
    if rules.is_empty() {
        return String::new();
    }
    let mut text = String::new();
    for rule in rules {
        let _ = writeln!(text, "- {}.", rule.description());
    }
    text.push('\n');
    text
}

/// What to confirm for each reason no variant applies.
pub(super) fn confirm_section(rules: &[Rule]) -> String {
    let items: Vec<&str> = rules.iter().filter_map(|rule| confirm(*rule)).collect();
    if items.is_empty() {
        return String::new();
    }
    let mut text = String::from("**To confirm**\n\n");
    for item in items {
        let _ = writeln!(text, "- {item}");
    }
    text.push('\n');
    text
}

fn confirm(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::DvtNotCountedRefuted => "Whether the DVT was ruled out: a refuted diagnosis is not treated.",
        Rule::DvtNotCountedInactive => {
            "Whether there is a new thrombus: the DVT on record is resolved; image the leg if symptoms recur."
        }
        Rule::DvtSuspectedOnly => "The diagnosis: duplex ultrasound before any thrombus removal.",
        Rule::SegmentDistalOnly | Rule::SegmentIvcOnly => "Which leg veins are involved (duplex or venography report).",
        Rule::AgeSubacuteOutsideAcr => {
            "When the symptoms began: no ACR variant rates removal of a thrombus 14 days to 3 months old."
        }
        Rule::FemoropoplitealSevereOutside => "Whether the common femoral or iliac vein is involved, and the severity.",
        Rule::FemoropoplitealNotAcute => "When the symptoms began.",
        Rule::ChronicNoAnticoagulation | Rule::ChronicAnticoagulationUnder3Months => {
            "When anticoagulation for this DVT began: variant 6 needs at least 3 months of anticoagulation alone."
        }
        Rule::ChronicThrombusRemoved => "What was done since: variant 6 is for anticoagulation alone.",
        Rule::ChronicMild => "The severity of the persistent symptoms: variant 6 is for moderate symptoms.",
        Rule::NotOtherwiseHealthyCancer => {
            "The cancer's activity and the bleeding risk: variants 1-3 assume an otherwise healthy patient."
        }
        Rule::NotOtherwiseHealthyLysisContraindication => "The contraindication on record, and its date.",
        Rule::StentWithoutRemoval => "Whether thrombus removal is planned with the stent.",
        Rule::ThrombolyticRouteUnknown => "Whether the thrombolytic is given systemically or through a catheter.",
        Rule::NoVariantMatches => "The indication: the record matches none of the topic's scenarios.",
        Rule::OrderNotInTables => {
            "Which study is meant: only the studies and procedures of the ACR tables this service uses are rated."
        }
        Rule::OrderOtherLeg => "Which leg is meant: the order and the DVT on record name opposite sides.",
        _ => return None,
    })
}

/// What a rating card's summary adds after the verdict, most important first: the first safety finding,
/// then a note that warns.
pub(super) fn cautions(notes: &[Rule], findings: &[&SafetyHit]) -> Vec<String> {
    let finding = findings.first().map(|hit| format!("caution: {}", in_sentence(&hit.short)));
    let note = notes.iter().find_map(|rule| match rule {
        Rule::OrderOtherLeg => Some("confirm the side: the DVT is in the other leg".to_owned()),
        _ => None,
    });
    finding.into_iter().chain(note).collect()
}

/// "Rated higher for this variant: ..." from the alternatives the classifier allows.
pub(super) fn better_line(knowledge: &KnowledgeBase, alternatives: &[Suggested]) -> String {
    if alternatives.is_empty() {
        return String::new();
    }
    let names: Vec<String> = alternatives
        .iter()
        .map(|alternative| {
            let row = knowledge.rating(alternative.variant, &alternative.procedure);
            let name = row.map_or(alternative.procedure.as_str(), |row| row.wording.as_str());
            format!("{name} ({})", category_words(alternative.category))
        })
        .collect();
    format!("Rated higher for this variant: {}.\n\n", names.join("; "))
}

pub(super) fn suggestion_label(procedure: &Procedure, alternative: &Suggested) -> String {
    let name = in_sentence(&procedure.short);
    let category = category_words(alternative.category);
    if alternative.adds { format!("Add {name} ({category})") } else { format!("Order {name} instead ({category})") }
}

/// The results lysis needs: each with value, unit, date and resource, or what to order.
pub(super) fn prelysis_section(labs: &[LabStatus]) -> String {
    if labs.is_empty() {
        return String::new();
    }
    let mut text = String::from("**Before lysis**\n\n");
    for status in labs {
        match (&status.newest, status.current, &status.unreadable) {
            (Some(fact), false, Some(problem)) => {
                let _ = writeln!(
                    text,
                    "- {}: not interpretable ({}); order a readable one (LOINC {})",
                    result_line(fact),
                    escape(&lab_problem_words(problem)),
                    status.order
                );
            }
            (Some(fact), true, _) => {
                let _ = writeln!(text, "- {}", result_line(fact));
            }
            (Some(fact), false, None) => {
                let _ = writeln!(
                    text,
                    "- {}: older than {} days; order a new one (LOINC {})",
                    result_line(fact),
                    status.max_age_days,
                    status.order
                );
            }
            (None, _, _) => {
                let _ = writeln!(
                    text,
                    "- {}: no result in the last {} days; order LOINC {}",
                    lab_words(status.lab),
                    status.max_age_days,
                    status.order
                );
            }
        }
    }
    text.push('\n');
    text
}

/// A result in few words: "Platelets 210 10*9/L (LOINC 777-3), 2026-11-22 (`Observation/x`)".
fn result_line(fact: &Fact) -> String {
    let code = fact
        .code
        .as_ref()
        .map(|code| format!(" ({} {})", escape(&code.system), escape(&code.code)))
        .unwrap_or_default();
    let value = fact_value(fact).map(|value| format!(" {}", escape(&value))).unwrap_or_default();
    // The day is enough here; the time and element are in `--explain`.
    let date = fact_date(fact).map(|date| format!(", {}", escape(date.get(..10).unwrap_or(&date)))).unwrap_or_default();
    format!("{}{value}{code}{date} (`{}`)", escape(fact_label(fact)), escape_code(&fact.resource))
}

/// The labs lysis needs, as the "Before lysis" list names one with no result.
fn lab_words(lab: Lab) -> &'static str {
    match lab {
        Lab::Platelets => "Platelets",
        Lab::Inr => "INR (on warfarin or with liver disease)",
        Lab::Egfr => "eGFR or creatinine",
        Lab::Hemoglobin => "Haemoglobin",
        other => other.id(),
    }
}

/// What a fact is: "DVT diagnosis", "Platelets", "Anticoagulant".
pub fn fact_label(fact: &Fact) -> &'static str {
    match &fact.kind {
        FactKind::Condition { concept, .. } => concept_label(*concept),
        FactKind::Lab { lab, .. } => lab_label(*lab),
        FactKind::Medication { class, .. } => match class {
            MedicationClass::Anticoagulant => "Anticoagulant",
            MedicationClass::Antiplatelet => "Antiplatelet",
            MedicationClass::Thrombolytic => "Thrombolytic",
        },
        FactKind::Procedure { .. } => "Procedure",
        FactKind::Allergy { class, .. } => match class {
            AllergyClass::Thrombolytic => "Allergy to a thrombolytic",
            AllergyClass::Anticoagulant => "Allergy to an anticoagulant",
            AllergyClass::Contrast => "Allergy to contrast media",
        },
        FactKind::Imaging { .. } => "Venous duplex",
        FactKind::Order { .. } => "Draft order",
    }
}

/// What the record says of a fact, as its line shows it ("severity severe; suspected, not confirmed",
/// "210 10*9/L", "reason: Acute DVT"); `None` when there is nothing to say. Record text is not escaped here.
pub fn fact_value(fact: &Fact) -> Option<String> {
    match &fact.kind {
        FactKind::Condition { severity, verification, clinical_status, abated, body_sites, matched_by, .. } => {
            let mut value = Vec::new();
            if let Some(severity) = severity {
                value.push(format!("severity {}", severity_name(*severity)));
            }
            match verification {
                Verification::Suspected => value.push("suspected, not confirmed".to_owned()),
                Verification::Refuted => value.push("refuted".to_owned()),
                Verification::EnteredInError => value.push("entered in error".to_owned()),
                Verification::Confirmed | Verification::NotRecorded => {}
            }
            match (clinical_status, abated) {
                (ClinicalStatus::Inactive, _) => value.push("resolved or inactive".to_owned()),
                (_, true) => value.push("abated".to_owned()),
                (ClinicalStatus::NotRecorded, false) => value.push("clinical status not recorded".to_owned()),
                (ClinicalStatus::Active, false) => {}
            }
            if !body_sites.is_empty() {
                value.push(format!("body site: {}", body_sites.join(", ")));
            }
            match matched_by {
                Match::Text => value.push("recognised by its name (no verified code exists)".to_owned()),
                Match::UnverifiedCode => value.push("code mapping unverified".to_owned()),
                Match::Code => {}
            }
            (!value.is_empty()).then(|| value.join("; "))
        }
        FactKind::Lab { value, .. } => Some(match value {
            LabValue::Number { value, unit } => format!("{} {unit}", trim_number(*value)),
            LabValue::Positive => "positive".to_owned(),
            LabValue::Negative => "negative".to_owned(),
            LabValue::Unreadable { problem } => format!("not interpretable: {}", lab_problem_words(problem)),
        }),
        FactKind::Medication { status, .. } | FactKind::Procedure { status } => status.clone(),
        FactKind::Allergy { active, .. } => (!active).then(|| "inactive".to_owned()),
        FactKind::Imaging { thrombus, body_sites } => {
            let mut value = Vec::new();
            match thrombus {
                Some(true) => value.push("thrombus found".to_owned()),
                Some(false) => value.push("no thrombus".to_owned()),
                None => {}
            }
            if !body_sites.is_empty() {
                value.push(format!("body site: {}", body_sites.join(", ")));
            }
            (!value.is_empty()).then(|| value.join("; "))
        }
        FactKind::Order { reasons } => {
            let reasons: Vec<String> = reasons
                .iter()
                .map(|code| code.display.clone().unwrap_or_else(|| format!("{} {}", code.system, code.code)))
                .collect();
            (!reasons.is_empty()).then(|| format!("reason: {}", reasons.join(", ")))
        }
    }
}

/// A fact's date as written, and the element it came from: `2026-11-20 (onsetDateTime)`.
pub fn fact_date(fact: &Fact) -> Option<String> {
    fact.date.as_ref().map(|dated| format!("{} ({})", dated.date.text(), dated.element))
}

/// Why a result cannot be read: "no value", "unit `x` is not one we convert" (the unit as the record wrote
/// it, not escaped here).
pub fn lab_problem_words(problem: &LabProblem) -> String {
    match problem {
        LabProblem::NoValue => "no value".to_owned(),
        LabProblem::NoResult => "no positive or negative result".to_owned(),
        LabProblem::UnknownUnit(unit) => format!("unit `{unit}` is not one we convert"),
    }
}

/// A concept as a fact's line names it.
pub fn concept_label(concept: Concept) -> &'static str {
    match concept {
        Concept::Dvt => "DVT diagnosis",
        Concept::PhlegmasiaCeruleaDolens => "Phlegmasia cerulea dolens",
        Concept::MayThurner => "May-Thurner syndrome (iliac vein compression)",
        Concept::PostThromboticSyndrome => "Post-thrombotic syndrome",
        Concept::Pregnancy => "Pregnancy",
        Concept::Postpartum => "Puerperium (recent delivery)",
        Concept::ActiveCancer => "Cancer",
        Concept::IntracranialHemorrhage => "Intracranial haemorrhage",
        Concept::IschemicStroke => "Ischaemic stroke",
        Concept::Tia => "Transient ischaemic attack",
        Concept::StrokeHistory => "History of stroke or TIA",
        Concept::ActiveBleeding => "Bleeding",
        Concept::GiBleeding => "Gastrointestinal bleeding",
        Concept::Dic => "Disseminated intravascular coagulation",
        Concept::BleedingDiathesis => "Bleeding diathesis",
        Concept::Thrombocytopenia => "Thrombocytopenia",
        Concept::HeparinInducedThrombocytopenia => "Heparin-induced thrombocytopenia",
        Concept::AorticDissection => "Aortic dissection",
        Concept::EndStageRenalDisease => "End stage renal disease",
        Concept::LegEdema => "Leg swelling",
        Concept::DvtHistory => "History of DVT",
        Concept::PulmonaryEmbolism => "Pulmonary embolism",
        Concept::LongTermAnticoagulantUse => "Long-term anticoagulant use",
        Concept::LongTermAntiplateletUse => "Long-term antiplatelet use",
        Concept::IntracranialLesion => "Intracranial lesion or tumour",
        Concept::HeadTrauma => "Head or facial trauma",
        Concept::SeizureDisorder => "Seizure disorder",
        Concept::PepticUlcer => "Active peptic ulcer",
        Concept::SevereLiverDisease => "Moderate to severe liver disease",
        Concept::StructuralCerebralLesion => "Cerebral AVM or malignant intracranial neoplasm",
    }
}

fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Mild => "mild",
        Severity::Moderate => "moderate",
        Severity::Severe => "severe",
    }
}

/// A lab as a fact's line, and a missing result's sentence, name it.
pub fn lab_label(lab: Lab) -> &'static str {
    match lab {
        Lab::Platelets => "Platelets",
        Lab::Inr => "INR",
        Lab::Hemoglobin => "Haemoglobin",
        Lab::Creatinine => "Creatinine",
        Lab::Egfr => "eGFR",
        Lab::Hcg => "Pregnancy test (hCG)",
        Lab::SystolicBp => "Systolic blood pressure",
        Lab::DiastolicBp => "Diastolic blood pressure",
    }
}

/// `210` rather than `210.0`; one decimal otherwise.
fn trim_number(value: f64) -> String {
    if (value - value.round()).abs() < 1e-9 { format!("{value:.0}") } else { format!("{value:.1}") }
}

pub(super) fn missing_summary(missing: &[MissingFact], names: &str, caution: Option<&SafetyHit>) -> String {
    let what: Vec<String> = missing.iter().map(|id| missing_words(*id).to_owned()).collect();
    let mut parts = vec![(format!("Document {}", list(&what)), 0), (format!(" to rate {}", in_sentence(names)), 2)];
    parts.push((" by the ACR criteria".to_owned(), 3));
    if let Some(hit) = caution {
        parts.push((format!("; caution: {}", in_sentence(&hit.short)), 1));
    }
    compose_ranked(&parts)
}

pub(super) fn missing_words(id: MissingFact) -> &'static str {
    match id {
        MissingFact::DvtSegment => "which veins the DVT involves",
        MissingFact::DvtOnset => "when the symptoms began",
        MissingFact::DvtSeverity => "symptom severity",
        MissingFact::AnticoagulationStart => "when anticoagulation began",
        MissingFact::ContraindicationDate => "the date of a possible contraindication",
        _ => "the missing facts",
    }
}

pub(super) fn not_rated_until(names: &str) -> String {
    format!(
        "The record cannot place the patient in an ACR variant, so {names} is not rated. Document what is missing below; the table gives the rating each answer would bring.\n\n"
    )
}

pub(super) fn ambiguous_summary(knowledge: &KnowledgeBase, rows: &[(ProcedureId, Category)]) -> String {
    compose(format!("IVC filter not rated: {}", device_words(knowledge, rows)), &[])
}

fn device_words(knowledge: &KnowledgeBase, rows: &[(ProcedureId, Category)]) -> String {
    rows.iter()
        .map(|(procedure, category)| {
            let name = knowledge.procedure(procedure).map_or(procedure.as_str(), |p| p.short.as_str());
            format!("{} {}", in_sentence(name), category_words(*category))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn ambiguous_detail(knowledge: &KnowledgeBase, rows: &[(ProcedureId, Category)]) -> String {
    format!(
        "The order's code (CPT 37191) covers both devices, and ACR rates them differently for this patient ({}), so the order gets no rating. This service knows no verified order code that names the device: an order coded by a procedure concept that names the retrievable or the permanent device would be rated. Until then, choose the device with the ratings below.\n\n",
        device_words(knowledge, rows)
    )
}

pub(super) fn contraindication_summary(names: &str, first: Option<&SafetyHit>, certain: bool) -> String {
    let finding = first.map_or(String::new(), |hit| in_sentence(&hit.short));
    let what = first.map_or("the order", |hit| contraindicated_words(hit.class));
    if certain {
        compose(
            format!("{} contraindicated: {finding}", capitalised(what)),
            &[format!(" ({} not rated)", in_sentence(names))],
        )
    } else {
        compose(
            format!("Possible contraindication to {what}: {finding}"),
            &["; confirm before ordering".to_owned(), format!(" ({} not rated)", in_sentence(names))],
        )
    }
}

fn contraindicated_words(class: FlagClass) -> &'static str {
    match class {
        FlagClass::LysisAbsolute | FlagClass::LysisRelative | FlagClass::Timing => "thrombolysis",
        FlagClass::Anticoagulation => "anticoagulation",
        FlagClass::Heparin => "heparins",
        FlagClass::OralAnticoagulant => "oral anticoagulants",
        FlagClass::Contrast => "contrast",
        FlagClass::Review | FlagClass::LimbThreat => "the order",
    }
}

/// Why the order gets no rating, and what ACR would have said.
pub(super) fn withheld_line(knowledge: &KnowledgeBase, rating: &OrderRating) -> String {
    let mut text = String::from(
        "**Not rated**: ACR's variants assume a patient who can have this treatment, so the order gets no appropriateness rating (PAMA no-criteria-apply).",
    );
    if let OrderRating::Withheld { variant: Some(variant), rows, .. } = rating {
        let rows: Vec<String> = rows
            .iter()
            .filter_map(|(procedure, category)| {
                knowledge
                    .rating(*variant, procedure)
                    .map(|row| format!("{} {}", in_sentence(&row.wording), category_words(*category)))
            })
            .collect();
        if !rows.is_empty() {
            let _ = write!(
                text,
                " Without the contraindication, variant {} would rate {}.",
                variant.number(),
                rows.join("; ")
            );
        }
    }
    text.push_str("\n\n");
    text
}

/// What ACR rates for this patient instead of the contraindicated order.
pub(super) fn instead_line(knowledge: &KnowledgeBase, instead: &[Instead]) -> String {
    if instead.is_empty() {
        return String::new();
    }
    let items: Vec<String> = instead
        .iter()
        .map(|alternative| {
            let name = knowledge.procedure(&alternative.procedure).map_or(alternative.procedure.as_str(), |p| p.short.as_str());
            match alternative.rated {
                Some((variant, category)) => {
                    let row = knowledge.rating(variant, &alternative.procedure).map_or(name, |row| row.wording.as_str());
                    format!("{row}: {} ({} variant {})", category_words(category), topic_words(variant), variant.number())
                }
                None => format!("{}: named by ACR's 2013 version when thrombolysis or anticoagulation is contraindicated; no 2020 variant rates it for this patient", in_sentence(name)),
            }
        })
        .collect();
    let mut text = String::from("**What ACR rates instead**\n\n");
    for item in items {
        let _ = writeln!(text, "- {item}");
    }
    text.push('\n');
    text
}

fn topic_words(variant: Variant) -> &'static str {
    match variant.topic() {
        6 => "IVC filter",
        75 => "DVT imaging",
        _ => "iliofemoral DVT",
    }
}

pub(super) fn safety_source(names: &[&str]) -> String {
    if names.is_empty() {
        "Safety, not part of the ACR rating".to_owned()
    } else {
        format!("{}: safety, not part of the ACR rating", names.join("; "))
    }
}

pub(super) fn outside_summary(names: &str, not_rated: bool, notes: &[Rule], caution: Option<&SafetyHit>) -> String {
    let verdict = if not_rated { "no ACR row rates it" } else { "no ACR variant applies" };
    let Some(reason) = notes.first() else {
        let finding = caution.map_or(String::new(), |hit| in_sentence(&hit.short));
        return compose_ranked(&[(format!("{names}: {finding}"), 0), (format!("; {verdict}"), 1)]);
    };
    let mut parts = vec![(format!("{names}: {verdict}"), 0), (format!(" ({})", outside_words(*reason)), 1)];
    if let Some(hit) = caution {
        parts.push((format!("; caution: {}", in_sentence(&hit.short)), 2));
    }
    parts.push(("; confirm below".to_owned(), 3));
    compose_ranked(&parts)
}

fn outside_words(rule: Rule) -> &'static str {
    match rule {
        Rule::DvtNotCountedRefuted => "DVT refuted",
        Rule::DvtNotCountedInactive => "DVT resolved",
        Rule::DvtSuspectedOnly => "DVT not confirmed",
        Rule::SegmentDistalOnly => "calf veins only",
        Rule::SegmentIvcOnly => "no leg segment recorded",
        Rule::AgeSubacuteOutsideAcr => "thrombus 14 days to 3 months old",
        Rule::FemoropoplitealSevereOutside => "severe femoropopliteal DVT",
        Rule::FemoropoplitealNotAcute => "femoropopliteal DVT over 14 days old",
        Rule::ChronicNoAnticoagulation | Rule::ChronicAnticoagulationUnder3Months | Rule::ChronicThrombusRemoved => {
            "chronic DVT without 3 months of anticoagulation alone"
        }
        Rule::ChronicMild => "chronic DVT with mild symptoms",
        Rule::NotOtherwiseHealthyCancer => "active cancer",
        Rule::NotOtherwiseHealthyLysisContraindication => "contraindication to lysis",
        Rule::StentWithoutRemoval => "stent without thrombus removal",
        Rule::ThrombolyticRouteUnknown => "route not stated",
        Rule::NoVariantMatches => "no scenario matches",
        Rule::OrderNotInTables => "not in the ACR tables used",
        _ => "see below",
    }
}

/// patient-view: the variant and what is usually appropriate now, and what the record rules out.
pub(super) fn patient_summary(number: u32, short: &str, now: &str, contraindicated: &[ProcedureKind]) -> String {
    let mut parts = vec![(format!("ACR variant {number}"), 0), (format!(", {short}"), 2), (format!(": {now}"), 0)];
    if contraindicated.contains(&ProcedureKind::Lysis) {
        parts.push(("; thrombolysis contraindicated".to_owned(), 1));
    }
    compose_ranked(&parts)
}

pub(super) fn plan_summary(names: &str) -> String {
    compose(
        format!("After {}: anticoagulation for at least 3 months", in_sentence(names)),
        &[" and an early follow-up duplex".to_owned()],
    )
}

/// The draft orders a card is about.
pub(super) fn orders_line(members: &[&OrderVerdict]) -> String {
    let orders: Vec<String> = members.iter().map(|verdict| format!("`{}`", escape_code(&verdict.order))).collect();
    format!("Orders: {}\n", orders.join(", "))
}

/// Opens a card with no ACR rating.
pub(super) fn not_in_tables_line(names: &str) -> String {
    format!(
        "**No ACR rating**: no ACR table this service uses rates {}. This card is not part of the ACR rating.\n\n",
        in_sentence(names)
    )
}

pub(super) fn outside_line(names: &str, outside_variants: bool) -> String {
    if outside_variants {
        format!(
            "**No ACR rating**: no variant of the topic applies to {} for this patient. This card is not part of the ACR rating.\n\n",
            in_sentence(names)
        )
    } else {
        format!(
            "**No ACR rating** for {} for this patient: the findings below are not part of the ACR rating.\n\n",
            in_sentence(names)
        )
    }
}

/// A pointer to the card of this response that shows the variant's table.
pub(super) fn table_elsewhere(knowledge: &KnowledgeBase, variant: Variant, card: &str) -> String {
    let topic = knowledge.topic(variant.topic()).map_or("", |topic| topic.title.as_str());
    format!(
        "{topic}, variant {} (`{}`): the full table is on the card \"{}\".\n\n",
        variant.number(),
        variant.id(),
        escape(card)
    )
}

pub(super) fn variant_heading(knowledge: &KnowledgeBase, variant: Variant) -> String {
    let (Some(topic), Some(rows)) = (knowledge.topic(variant.topic()), knowledge.variant(variant)) else {
        return String::new();
    };
    format!(
        "**{} ({}), variant {}** (`{}`)\n\n> {}\n\n",
        topic.title,
        topic.year,
        variant.number(),
        variant.id(),
        rows.text
    )
}

fn rrl_words(rrl: &str) -> &str {
    match rrl {
        "n/a" => "none",
        "unknown" => "not given",
        other => other,
    }
}

/// Every procedure row of the variant, the ordered ones marked.
pub(super) fn rating_table(knowledge: &KnowledgeBase, variant: Variant, ordered: &[&ProcedureId]) -> String {
    let Some(rows) = knowledge.variant(variant) else { return String::new() };
    let mut table = String::from("| Procedure | Appropriateness | Radiation (RRL) |\n|---|---|---|\n");
    for row in &rows.rows {
        let name = if ordered.contains(&&row.procedure) {
            format!("**{}** (ordered)", row.wording)
        } else {
            row.wording.clone()
        };
        let _ = writeln!(table, "| {name} | {} | {} |", category_label(row.category), rrl_words(&row.rrl));
    }
    table.push_str("\nACR publishes no numeric (1-9) rating for this revision.\n\n");
    table
}

pub(super) fn fact_line(fact: &Fact) -> String {
    let mut parts = Vec::new();
    if let Some(code) = &fact.code {
        let display = code.display.as_deref().map(|d| format!(" {}", escape(d))).unwrap_or_default();
        parts.push(format!("{} {}{display}", escape(&code.system), escape(&code.code)));
    }
    if let Some(value) = fact_value(fact) {
        parts.push(escape(&value));
    }
    if let Some(date) = fact_date(fact) {
        parts.push(escape(&date));
    }
    format!("{}: {} (`{}`)", escape(fact_label(fact)), parts.join("; "), escape_code(&fact.resource))
}

/// A fact in words, for `dvt-cds evaluate --explain`: the text of its line, under the keys it always had.
#[derive(Debug, Serialize)]
pub(super) struct FactExplained<'a> {
    finding: &'static str,
    resource: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a crate::evidence::CodeRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    date: Option<String>,
}

pub(super) fn fact_explained(fact: &Fact) -> FactExplained<'_> {
    FactExplained {
        finding: fact_label(fact),
        resource: &fact.resource,
        code: fact.code.as_ref(),
        value: fact_value(fact),
        date: fact_date(fact),
    }
}

/// Inside backticks only the backtick itself matters.
fn escape_code(text: &str) -> String {
    text.replace('`', "'")
}

/// The rules a card for `topic` shows in its "why": those about the DVT itself and, for a topic, the topic's
/// own (`None`: an order no ACR table rates, which no topic's decision explains).
pub(super) fn why_rules(assessment: &Assessment, topic: Option<u32>) -> Vec<Rule> {
    assessment.rules.iter().map(|hit| hit.id).filter(|rule| explains(*rule, topic)).collect()
}

fn explains(rule: Rule, topic: Option<u32>) -> bool {
    rule.topic().is_none_or(|own| Some(own) == topic)
}

/// Those of `rules` that fired.
pub(super) fn rules_of(assessment: &Assessment, rules: &[Rule]) -> Vec<Rule> {
    assessment.rules.iter().map(|hit| hit.id).filter(|rule| rules.contains(rule)).collect()
}

/// "Why": the rules that placed the patient, then the facts they used, each once.
pub(super) fn why(assessment: &Assessment, topic: Option<u32>) -> String {
    let hits: Vec<_> = assessment.rules.iter().filter(|hit| explains(hit.id, topic)).collect();
    if hits.is_empty() {
        return String::new();
    }
    let mut text = String::from("**Why**\n\n");
    let mut facts: Vec<&Fact> = Vec::new();
    // A set for "each once": a list scan made thousands of diagnoses quadratic.
    let mut seen: std::collections::HashSet<&Fact> = std::collections::HashSet::new();
    for hit in hits {
        let _ = writeln!(text, "- {}", hit.description);
        for fact in &hit.facts {
            if seen.insert(fact) {
                facts.push(fact);
            }
        }
    }
    if !facts.is_empty() {
        text.push_str("\n**From the record**\n\n");
        fact_lines(&mut text, facts);
    }
    text.push('\n');
    text
}

/// The DVT a plan is for: the facts of the rule that found it on record.
pub(super) fn plan_for(dvt: &[Fact]) -> String {
    let mut text = String::from("**For**\n\n");
    fact_lines(&mut text, dvt);
    text.push('\n');
    text
}

/// Facts listed on one card at most: a record that repeats a diagnosis thousands of times gets a card
/// a clinician can read (and a response that does not grow with the record), with the rest counted.
const LISTED_FACTS: usize = 10;

/// One line per fact, the first [`LISTED_FACTS`], then how many more there are.
fn fact_lines<'a>(text: &mut String, facts: impl IntoIterator<Item = &'a Fact>) {
    let mut facts = facts.into_iter();
    for fact in facts.by_ref().take(LISTED_FACTS) {
        let _ = writeln!(text, "- {}", fact_line(fact));
    }
    let more = facts.count();
    if more > 0 {
        let _ = writeln!(text, "- and {more} more, not listed");
    }
}

/// Data that could not be obtained or read, if any, and what the record says that needs confirming.
pub(super) fn not_seen(assessment: &Assessment) -> String {
    let of = |ids: &[MissingFact]| -> Vec<String> {
        assessment.missing.iter().filter(|m| ids.contains(&m.id())).map(|m| missing_what(&m.detail)).collect()
    };
    let unseen = assessment.unobtained.iter().map(gap_line).chain(of(&[MissingFact::UnreadableResource])).collect();
    let mut text = String::new();
    for (heading, items) in [
        ("**Not seen**: the answer may change once these are available.", unseen),
        (
            "**To confirm**: the record is not consistent here.",
            of(&[MissingFact::OrderSide, MissingFact::PregnancyUnconfirmed]),
        ),
    ] {
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(text, "{heading}\n");
        for item in items {
            let _ = writeln!(text, "- {}", escape(&item));
        }
        text.push('\n');
    }
    text
}

/// "Could not see diagnoses: the FHIR server refused access (HTTP 401)".
fn gap_line(gap: &DataGap) -> String {
    format!("Could not see {}: {}", part_words(gap.part), unobtained_words(&gap.reason))
}

/// What a part of the record holds, as the clinician misses it: "could not see {part}".
pub fn part_words(part: RecordPart) -> &'static str {
    match part {
        RecordPart::Demographics => "the patient's age and sex",
        RecordPart::Diagnoses => "diagnoses",
        RecordPart::LabsAndBloodPressure => {
            "laboratory results and blood pressure (platelets, INR, haemoglobin, creatinine, eGFR, hCG)"
        }
        RecordPart::MedicationOrders => "medication orders (anticoagulants, antiplatelets, thrombolytics)",
        RecordPart::MedicationHistory => "medication history",
        RecordPart::Procedures => "procedures (recent surgery, earlier thrombus removal or stenting)",
        RecordPart::Allergies => "allergies (contrast, thrombolytics)",
    }
}

/// Why a part of the record could not be obtained, as a clause: the cards' "could not see diagnoses:
/// {reason}" and the 412's "prefetch `conditions` could not be obtained: {reason}".
pub fn unobtained_words(reason: &Unobtained) -> String {
    match reason {
        Unobtained::NotSent => "the EHR did not send it and gave no FHIR server to read it from".to_owned(),
        Unobtained::PrefetchFailed => {
            "the EHR reported an error fetching it and gave no FHIR server to read it from".to_owned()
        }
        Unobtained::PrefetchUnusable(problem) => format!(
            "the EHR sent it in a form that could not be read ({}) and gave no FHIR server to read it from",
            unusable_words(*problem)
        ),
        Unobtained::QueryValueMissing => "the hook call lacks a value its query needs".to_owned(),
        Unobtained::QueryOffServer => "its query does not resolve to an address on the FHIR server".to_owned(),
        Unobtained::NoHttpClient => "this service could not set up its connection to FHIR servers".to_owned(),
        Unobtained::TokenNotSendable => {
            "the EHR's access token could not be sent (it is not a valid header value)".to_owned()
        }
        Unobtained::Deadline(deadline) => {
            format!("the FHIR server did not answer within {}", duration_words(*deadline))
        }
        Unobtained::Unreachable => "the FHIR server could not be reached".to_owned(),
        Unobtained::Refused(status) => format!("the FHIR server refused access (HTTP {status})"),
        Unobtained::NoSuchPatient => "the FHIR server has no record of this patient".to_owned(),
        Unobtained::ErrorStatus(status) => format!("the FHIR server answered with an error (HTTP {status})"),
        Unobtained::RedirectedElsewhere => {
            "the FHIR server redirected the query to another address, which this service does not follow".to_owned()
        }
        Unobtained::CutOff => "the FHIR server's answer was cut off".to_owned(),
        Unobtained::AnswerTooLarge(limit) => {
            format!("the FHIR server's answer was larger than the limit of {limit} bytes")
        }
        Unobtained::AnswersTooLarge(limit) => {
            format!("the FHIR server's answers together were larger than the limit of {limit} bytes")
        }
        Unobtained::TooManyPages(limit) => {
            format!("the FHIR server returned more results than the limit of {limit} pages")
        }
        Unobtained::NextPageElsewhere => {
            "the FHIR server's next page is on another address, which this service does not follow".to_owned()
        }
        Unobtained::NotFhirJson => "the FHIR server's answer was not readable FHIR JSON".to_owned(),
        Unobtained::OtherResource(resource_type) => format!(
            "the FHIR server answered with a {} instead of the data asked for",
            resource_type.as_deref().unwrap_or("resource of no known type")
        ),
        Unobtained::ServerReportedError => "the FHIR server reported an error for the query".to_owned(),
        Unobtained::OtherPatient => "the FHIR server returned records of another patient".to_owned(),
        Unobtained::NotR4(release) => format!("the FHIR server speaks FHIR {release}; this service reads R4"),
        Unobtained::AnswerUnusable(problem) => {
            format!("the FHIR server's answer could not be read ({})", unusable_words(*problem))
        }
    }
}

/// Why what a key holds cannot be used, after "could not be read".
fn unusable_words(problem: Unusable) -> String {
    match problem {
        Unusable::NotFhir => "it is not a FHIR resource or Bundle".to_owned(),
        Unusable::OtherType(expected) => format!("it holds resources other than {expected}"),
        Unusable::UnreadableResource(expected) => format!("a {expected} in it could not be read"),
    }
}

/// A resource that could not be read or used, after "Could not read": "Observation/x (not valid JSON (line 1,
/// column 9))". Not escaped here: the whole line is, where it is shown.
pub fn unreadable_line(unreadable: &Unreadable) -> String {
    format!("{} ({})", unreadable.location, unreadable_words(&unreadable.problem))
}

/// Why a resource could not be read or was not used, and what to do about it when there is something to do.
pub fn unreadable_words(problem: &UnreadableProblem) -> String {
    match problem {
        UnreadableProblem::Json { kind, line, column } => {
            format!("{} (line {line}, column {column})", json_problem_words(*kind))
        }
        UnreadableProblem::UnknownModifier(urls) => {
            let urls: Vec<&str> = urls.iter().map(|url| url.as_deref().unwrap_or("no url")).collect();
            format!(
                "it has a modifierExtension this service does not understand ({}), so it is not used",
                urls.join(", ")
            )
        }
        UnreadableProblem::DisagreeingCodings(disagreements) => {
            let points: Vec<String> = disagreements.iter().map(disagreement_words).collect();
            format!("its codings disagree on {}; taken as not stated: record which is right", points.join("; "))
        }
        UnreadableProblem::DvtTextOnly(text) => format!(
            "DVT recorded as text only, \"{text}\": not used; record a coded diagnosis, ICD-10-CM or SNOMED CT, so its segment, side and age can be read"
        ),
        UnreadableProblem::UnreadableOnset(form) => {
            let given = match form {
                OnsetForm::String(text) => format!("onsetString \"{text}\""),
                OnsetForm::Age => "onsetAge".to_owned(),
                OnsetForm::Period => "onsetPeriod".to_owned(),
            };
            format!(
                "its onset, {given}, is not a date we can read: the onset is unknown, and the recorded date is not used for it; record the onset date"
            )
        }
        UnreadableProblem::MedicationReferenceNotLiteral => {
            "medication given by reference without a literal reference, not read".to_owned()
        }
        UnreadableProblem::MedicationNotInRecord => {
            "medication given by reference to a Medication the record does not hold, not read".to_owned()
        }
        UnreadableProblem::UncodedMedication { coded, text, class } => {
            let (recorded, ask) = if *coded {
                ("with codes this service does not know", "check it by hand")
            } else {
                ("as text only", "record its RxNorm code")
            };
            let class = match class {
                MedicationClass::Anticoagulant => "an anticoagulant",
                MedicationClass::Antiplatelet => "an antiplatelet",
                MedicationClass::Thrombolytic => "a thrombolytic",
            };
            format!("a medication recorded {recorded}, \"{text}\", names {class}: not used; {ask}")
        }
    }
}

fn json_problem_words(kind: JsonProblem) -> &'static str {
    match kind {
        JsonProblem::Io => "unreadable",
        JsonProblem::Syntax => "not valid JSON",
        JsonProblem::Data => "a field has an unexpected type",
        JsonProblem::Eof => "truncated JSON",
    }
}

/// "the side (ICD-10-CM I82.422 and ICD-10-CM I82.421)".
fn disagreement_words(disagreement: &Disagreement) -> String {
    let point = match disagreement.point {
        DvtPoint::Segment => "the vein segment",
        DvtPoint::Side => "the side",
        DvtPoint::Acuity => "acute or chronic",
    };
    let name = |code: &CodeName| format!("{} {}", code.system, code.code);
    format!("{point} ({} and {})", name(&disagreement.first), name(&disagreement.other))
}

/// A limit in the unit it was set in: "2 s", "300 ms".
fn duration_words(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

pub(super) fn class_words(class: FlagClass) -> &'static str {
    match class {
        FlagClass::LysisAbsolute => "Absolute contraindication to thrombolysis",
        FlagClass::LysisRelative => "Relative contraindication to thrombolysis",
        FlagClass::Anticoagulation => "Contraindication to anticoagulation",
        FlagClass::Heparin => "Contraindication to heparins",
        FlagClass::OralAnticoagulant => "Avoid oral anticoagulants",
        FlagClass::Contrast => "Contrast caution",
        FlagClass::Review => "To check",
        FlagClass::Timing => "Timing",
        FlagClass::LimbThreat => "Limb threat",
    }
}

/// The safety flags, each with its guideline and findings, marked as outside the ACR rating.
pub(super) fn safety_section(knowledge: &KnowledgeBase, flags: &[&SafetyHit]) -> String {
    if flags.is_empty() {
        return String::new();
    }
    let mut text = String::from("**Safety** (not part of the ACR rating)\n\n");
    for hit in flags {
        let source = knowledge.source(&hit.source).map_or(hit.source.as_str(), |s| s.short.as_str());
        let unsure = if hit.certain {
            ""
        } else {
            " Possibly: a finding is unconfirmed or its date is missing or imprecise; confirm it."
        };
        let _ = writeln!(text, "- {}: {} ({source}).{unsure}", class_words(hit.class), hit.label);
        for fact in &hit.facts {
            let _ = writeln!(text, "  - {}", fact_line(fact));
        }
    }
    text.push('\n');
    text
}

/// Contraindications to lysis that the record cannot show, as one line.
pub(super) fn unchecked_line(knowledge: &KnowledgeBase) -> String {
    let labels: Vec<&str> = knowledge.unchecked().iter().map(|u| u.short.as_str()).collect();
    if labels.is_empty() {
        return String::new();
    }
    format!("**Also confirm** (no code shows them): {}.\n\n", labels.join("; "))
}

/// What is missing, as the card's "Missing:" line (or "Not seen" / "To confirm" item) says it.
pub fn missing_what(detail: &MissingDetail) -> String {
    let side = |side: Laterality| if side == Laterality::Left { "left" } else { "right" };
    match detail {
        MissingDetail::UnreadableResource(unreadable) => format!("Could not read {}", unreadable_line(unreadable)),
        MissingDetail::PregnancyUnconfirmed { pregnancy, max_days } => format!(
            "Whether the pregnancy on {pregnancy} is current: it began more than {max_days} days ago and has no end recorded, so it is not applied"
        ),
        MissingDetail::OrderSide { order, order_side, named_in, dvt, dvt_side } => format!(
            "Which leg: {order} names the {} leg ({named_in}), but the only DVT on record ({dvt}) is in the {} leg",
            side(*order_side),
            side(*dvt_side)
        ),
        MissingDetail::DvtSegment { .. } => {
            "Which veins the DVT involves: iliac or common femoral vein, or only the femoral and popliteal veins".to_owned()
        }
        MissingDetail::DvtOnset { .. } => "When the DVT symptoms began".to_owned(),
        MissingDetail::DvtSeverity { .. } => "How severe the symptoms are: mild, moderate or severe".to_owned(),
        MissingDetail::AnticoagulationStart { .. } => {
            "When anticoagulation for this DVT began (not before the DVT itself), and whether the thrombus was removed since"
                .to_owned()
        }
        MissingDetail::ContraindicationDate { .. } => {
            "Whether a possible absolute contraindication to thrombolysis falls in its time window".to_owned()
        }
        MissingDetail::RecentResult { lab, max_age_days, .. } => {
            format!("{} from the last {max_age_days} days", lab_label(*lab))
        }
        MissingDetail::UnreadableResult { lab, newest, problem, .. } => format!(
            "{} that can be read: the newest ({newest}) is not interpretable: {}",
            lab_label(*lab),
            lab_problem_words(problem)
        ),
    }
}

/// Where to document what is missing, as the card's "Document:" line says it; `None` for a resource the
/// service could not read (there is nothing to document, only to fix).
pub fn missing_document(detail: &MissingDetail) -> Option<String> {
    let on = |diagnosis: &Option<String>| diagnosis.clone().unwrap_or_else(|| "the DVT diagnosis".to_owned());
    Some(match detail {
        MissingDetail::UnreadableResource(_) => return None,
        MissingDetail::PregnancyUnconfirmed { pregnancy, .. } => {
            format!("the pregnancy's end (abatement) or clinical status on {pregnancy}")
        }
        MissingDetail::OrderSide { dvt, .. } => format!("the side in the order's bodySite, or the DVT's side on {dvt}"),
        MissingDetail::DvtSegment { diagnosis } => format!(
            "an iliac or iliofemoral DVT code, or Condition.bodySite naming the vein (e.g. common femoral vein) on {}",
            on(diagnosis)
        ),
        MissingDetail::DvtOnset { diagnosis } => format!("Condition.onsetDateTime on {}", on(diagnosis)),
        MissingDetail::DvtSeverity { diagnosis } => format!(
            "Condition.severity on {} (SNOMED CT 255604002 mild, 6736007 moderate, 24484000 severe)",
            on(diagnosis)
        ),
        MissingDetail::AnticoagulationStart { diagnosis } => format!(
            "Condition.onsetDateTime on {}, MedicationRequest.authoredOn (or MedicationStatement.effective[x]) of the anticoagulant, and Procedure.performed[x] of any thrombus removal",
            on(diagnosis)
        ),
        MissingDetail::ContraindicationDate { findings } => {
            format!("Condition.onsetDateTime on {}", findings.join(", "))
        }
        MissingDetail::RecentResult { order, .. } | MissingDetail::UnreadableResult { order, .. } => {
            format!("LOINC {order}")
        }
    })
}

/// A possible answer to a missing fact, as the "If it is" column says it.
pub fn answer_words(answer: Answer) -> &'static str {
    match answer {
        Answer::Iliofemoral => "iliac or common femoral vein",
        Answer::Femoropopliteal => "femoral and popliteal veins only",
        Answer::OnsetUnder14Days => "less than 14 days ago",
        Answer::OnsetFrom14DaysTo3Months => "14 days to 3 months ago",
        Answer::Onset3MonthsOrMore => "3 months ago or more",
        Answer::Severity(Severity::Mild) => "mild",
        Answer::Severity(Severity::Moderate) => "moderate",
        Answer::Severity(Severity::Severe) => "severe",
        Answer::AnticoagulatedLongEnough => "anticoagulation alone for 3 months or more",
        Answer::AnticoagulationUnder3Months => "anticoagulation for less than 3 months",
        Answer::OutsideWindow => "outside the window",
        Answer::InsideWindow => "inside the window",
    }
}

/// A missing fact in words, for `dvt-cds evaluate --explain`: the id and the sentences the cards show.
#[derive(Debug, Serialize)]
pub(super) struct MissingExplained {
    id: MissingFact,
    what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    if_documented: Vec<AlternativeExplained>,
}

#[derive(Debug, Serialize)]
struct AlternativeExplained {
    answer: &'static str,
    variant: Option<Variant>,
}

pub(super) fn missing_explained(missing: &Missing) -> MissingExplained {
    MissingExplained {
        id: missing.id(),
        what: missing_what(&missing.detail),
        document: missing_document(&missing.detail),
        if_documented: missing
            .if_documented
            .iter()
            .map(|alternative| AlternativeExplained {
                answer: answer_words(alternative.answer),
                variant: alternative.variant,
            })
            .collect(),
    }
}

/// The facts a clinician should document, where, and what each answer would give.
pub(super) fn missing_section(knowledge: &KnowledgeBase, missing: &[&Missing], ordered: &[&ProcedureId]) -> String {
    let mut text = String::new();
    for item in missing {
        let _ = writeln!(text, "**Missing: {}**\n", escape(&missing_what(&item.detail)));
        if let Some(document) = missing_document(&item.detail) {
            let _ = writeln!(text, "Document: {}.\n", escape(&document));
        }
        if !item.if_documented.is_empty() {
            text.push_str("| If it is | ACR variant | Ordered procedure |\n|---|---|---|\n");
            for alternative in &item.if_documented {
                let (variant, rating) = match alternative.variant {
                    Some(variant) => {
                        let rows: Vec<&Rating> = ordered.iter().filter_map(|p| knowledge.rating(variant, p)).collect();
                        let rating = if rows.is_empty() {
                            "not rated in this variant".to_owned()
                        } else {
                            rows.iter()
                                .map(|row| format!("{}: {}", row.wording, category_label(row.category)))
                                .collect::<Vec<_>>()
                                .join("; ")
                        };
                        let short = knowledge.variant(variant).map_or("", |rows| rows.short.as_str());
                        (format!("{} ({short})", variant.id()), rating)
                    }
                    None => ("none".to_owned(), "no ACR rating".to_owned()),
                };
                let _ = writeln!(text, "| {} | {variant} | {rating} |", escape(answer_words(alternative.answer)));
            }
            text.push('\n');
        }
    }
    text
}

pub(super) fn plan_items(knowledge: &KnowledgeBase, stent: bool) -> String {
    let mut text = String::new();
    for item in knowledge.plan() {
        let line = match item.applies {
            PlanApplies::Always => item.text.clone(),
            PlanApplies::Stent if stent => format!("After stenting: {}", item.text),
            PlanApplies::Stent => format!("If a stent is placed: {}", item.text),
            PlanApplies::Unprovoked => format!("If the DVT was unprovoked: {}", item.text),
        };
        let _ = writeln!(text, "- {line}.");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_text_cannot_inject_markup() {
        assert_eq!(escape("<img src=x onerror=alert(1)>"), "&lt;img src=x onerror=alert(1)&gt;");
        assert_eq!(escape("a | b\n**c**"), "a \\| b \\*\\*c\\*\\*");
        assert_eq!(escape("[link](javascript:x)"), "\\[link\\](javascript:x)");
    }

    #[test]
    fn long_summaries_are_cut_at_a_word() {
        let long = format!("CDT/PMT: usually appropriate {}", "word ".repeat(40));
        let fitted = fit(long);
        assert!(fitted.chars().count() <= 139, "{fitted}");
        assert!(fitted.ends_with("word…"), "{fitted}");
        assert_eq!(fit("short".to_owned()), "short");
    }

    #[test]
    fn names_inside_sentences_keep_acronyms() {
        assert_eq!(in_sentence("Surgical thrombectomy"), "surgical thrombectomy");
        assert_eq!(in_sentence("CDT/PMT"), "CDT/PMT");
        assert_eq!(in_sentence("IVC filter"), "IVC filter");
        assert_eq!(in_sentence("Duplex US"), "duplex US");
    }

    #[test]
    fn lists_read_as_english() {
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(list(&names(&["CDT/PMT"])), "CDT/PMT");
        assert_eq!(list(&names(&["A", "B", "C"])), "A, B and C");
    }

    #[test]
    fn reasons_data_was_not_obtained_are_plain_and_name_the_limit() {
        assert_eq!(
            unobtained_words(&Unobtained::Deadline(Duration::from_millis(300))),
            "the FHIR server did not answer within 300 ms"
        );
        assert_eq!(
            unobtained_words(&Unobtained::Deadline(Duration::from_secs(2))),
            "the FHIR server did not answer within 2 s"
        );
        assert_eq!(unobtained_words(&Unobtained::Refused(401)), "the FHIR server refused access (HTTP 401)");
        assert_eq!(
            unobtained_words(&Unobtained::QueryOffServer),
            "its query does not resolve to an address on the FHIR server"
        );
        assert_eq!(
            unobtained_words(&Unobtained::OtherResource(Some("Patient".to_owned()))),
            "the FHIR server answered with a Patient instead of the data asked for"
        );
        assert_eq!(
            unobtained_words(&Unobtained::OtherResource(None)),
            "the FHIR server answered with a resource of no known type instead of the data asked for"
        );
        assert_eq!(
            unobtained_words(&Unobtained::PrefetchUnusable(Unusable::OtherType("Condition"))),
            "the EHR sent it in a form that could not be read (it holds resources other than Condition) and gave no FHIR server to read it from"
        );
        assert_eq!(
            unobtained_words(&Unobtained::AnswerUnusable(Unusable::UnreadableResource("Condition"))),
            "the FHIR server's answer could not be read (a Condition in it could not be read)"
        );
    }

    #[test]
    fn missing_facts_no_case_shows_are_worded_too() {
        // Anticoagulation start, a DVT fact with no diagnosis read, and an unreadable result: no fixture case
        // words these, so their sentences are pinned here.
        let start = MissingDetail::AnticoagulationStart { diagnosis: Some("Condition/dvt".to_owned()) };
        assert_eq!(
            missing_what(&start),
            "When anticoagulation for this DVT began (not before the DVT itself), and whether the thrombus was removed since"
        );
        assert_eq!(
            missing_document(&start).as_deref(),
            Some(
                "Condition.onsetDateTime on Condition/dvt, MedicationRequest.authoredOn (or MedicationStatement.effective[x]) of the anticoagulant, and Procedure.performed[x] of any thrombus removal"
            )
        );
        assert_eq!(
            missing_document(&MissingDetail::DvtOnset { diagnosis: None }).as_deref(),
            Some("Condition.onsetDateTime on the DVT diagnosis")
        );
        let unreadable = MissingDetail::UnreadableResult {
            lab: crate::evidence::Lab::Platelets,
            order: "777-3".to_owned(),
            newest: "Observation/plt".to_owned(),
            problem: LabProblem::UnknownUnit("furlongs".to_owned()),
        };
        assert_eq!(
            missing_what(&unreadable),
            "Platelets that can be read: the newest (Observation/plt) is not interpretable: unit `furlongs` is not one we convert"
        );
        assert_eq!(missing_document(&unreadable).as_deref(), Some("LOINC 777-3"));
        let unreadable = Unreadable {
            location: "Condition/x".to_owned(),
            problem: UnreadableProblem::MedicationReferenceNotLiteral,
        };
        assert_eq!(missing_document(&MissingDetail::UnreadableResource(unreadable)), None);
        assert_eq!(answer_words(Answer::AnticoagulationUnder3Months), "anticoagulation for less than 3 months");
    }

    #[test]
    fn what_could_not_be_read_is_said_with_what_to_do() {
        // The real-* cases show most of these on cards; each is pinned here, where its words are written.
        let line = |problem| unreadable_line(&Unreadable { location: "Condition/x".to_owned(), problem });
        let json = |kind| UnreadableProblem::Json { kind, line: 1, column: 9 };
        assert_eq!(line(json(JsonProblem::Data)), "Condition/x (a field has an unexpected type (line 1, column 9))");
        assert_eq!(line(json(JsonProblem::Syntax)), "Condition/x (not valid JSON (line 1, column 9))");
        assert_eq!(line(json(JsonProblem::Eof)), "Condition/x (truncated JSON (line 1, column 9))");
        assert_eq!(line(json(JsonProblem::Io)), "Condition/x (unreadable (line 1, column 9))");
        assert_eq!(
            line(UnreadableProblem::UnknownModifier(vec![Some("http://example.org/negated".to_owned()), None])),
            "Condition/x (it has a modifierExtension this service does not understand (http://example.org/negated, no url), so it is not used)"
        );
        let icd = |code: &str| CodeName { system: "ICD-10-CM".to_owned(), code: code.to_owned() };
        assert_eq!(
            line(UnreadableProblem::DisagreeingCodings(vec![
                Disagreement { point: DvtPoint::Segment, first: icd("I82.412"), other: icd("I82.432") },
                Disagreement { point: DvtPoint::Side, first: icd("I82.422"), other: icd("I82.421") },
                Disagreement { point: DvtPoint::Acuity, first: icd("I82.422"), other: icd("I82.522") },
            ])),
            "Condition/x (its codings disagree on the vein segment (ICD-10-CM I82.412 and ICD-10-CM I82.432); the side (ICD-10-CM I82.422 and ICD-10-CM I82.421); acute or chronic (ICD-10-CM I82.422 and ICD-10-CM I82.522); taken as not stated: record which is right)"
        );
        assert_eq!(
            line(UnreadableProblem::DvtTextOnly("Left leg DVT".to_owned())),
            "Condition/x (DVT recorded as text only, \"Left leg DVT\": not used; record a coded diagnosis, ICD-10-CM or SNOMED CT, so its segment, side and age can be read)"
        );
        assert_eq!(
            line(UnreadableProblem::UnreadableOnset(OnsetForm::String("about 3 weeks ago".to_owned()))),
            "Condition/x (its onset, onsetString \"about 3 weeks ago\", is not a date we can read: the onset is unknown, and the recorded date is not used for it; record the onset date)"
        );
        assert!(
            line(UnreadableProblem::UnreadableOnset(OnsetForm::Age))
                .starts_with("Condition/x (its onset, onsetAge, is")
        );
        assert!(
            line(UnreadableProblem::UnreadableOnset(OnsetForm::Period))
                .starts_with("Condition/x (its onset, onsetPeriod, is")
        );
        assert_eq!(
            line(UnreadableProblem::MedicationReferenceNotLiteral),
            "Condition/x (medication given by reference without a literal reference, not read)"
        );
        assert_eq!(
            line(UnreadableProblem::MedicationNotInRecord),
            "Condition/x (medication given by reference to a Medication the record does not hold, not read)"
        );
        let uncoded =
            |coded, class| UnreadableProblem::UncodedMedication { coded, text: "Eliquis 5 mg".to_owned(), class };
        assert_eq!(
            line(uncoded(false, MedicationClass::Anticoagulant)),
            "Condition/x (a medication recorded as text only, \"Eliquis 5 mg\", names an anticoagulant: not used; record its RxNorm code)"
        );
        assert_eq!(
            line(uncoded(true, MedicationClass::Thrombolytic)),
            "Condition/x (a medication recorded with codes this service does not know, \"Eliquis 5 mg\", names a thrombolytic: not used; check it by hand)"
        );
        assert!(line(uncoded(true, MedicationClass::Antiplatelet)).contains("names an antiplatelet: not used"));
        // Record text in these lines is escaped where the line is shown, once.
        let text_only = MissingDetail::UnreadableResource(Unreadable {
            location: "Condition/x".to_owned(),
            problem: UnreadableProblem::DvtTextOnly("<b>DVT</b> *left*".to_owned()),
        });
        let assessment = Assessment { missing: vec![Missing::new(text_only)], ..Assessment::default() };
        assert!(
            not_seen(&assessment).contains("- Could not read Condition/x (DVT recorded as text only, \"&lt;b&gt;DVT&lt;/b&gt; \\*left\\*\": not used;"),
            "{}",
            not_seen(&assessment)
        );
    }

    #[test]
    fn data_not_obtained_is_listed_first_under_not_seen() {
        let assessment = Assessment {
            unobtained: vec![
                DataGap { part: RecordPart::Diagnoses, reason: Unobtained::Refused(403) },
                DataGap { part: RecordPart::Demographics, reason: Unobtained::NotSent },
            ],
            missing: vec![Missing::new(MissingDetail::UnreadableResource(Unreadable {
                location: "Observation/x".to_owned(),
                problem: UnreadableProblem::Json { kind: JsonProblem::Syntax, line: 1, column: 9 },
            }))],
            ..Assessment::default()
        };
        assert_eq!(
            not_seen(&assessment),
            "**Not seen**: the answer may change once these are available.\n\n\
             - Could not see diagnoses: the FHIR server refused access (HTTP 403)\n\
             - Could not see the patient's age and sex: the EHR did not send it and gave no FHIR server to read it from\n\
             - Could not read Observation/x (not valid JSON (line 1, column 9))\n\n"
        );
        assert_eq!(not_seen(&Assessment::default()), "");
    }

    #[test]
    fn a_long_list_of_facts_shows_the_first_ten_and_counts_the_rest() {
        let fact = |n: usize| Fact { resource: format!("Condition/dvt-{n}"), ..dvt_fact() };
        let facts: Vec<Fact> = (0..12).map(fact).collect();
        let mut text = String::new();
        fact_lines(&mut text, &facts);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 11, "{text}");
        assert_eq!(lines[9], "- DVT diagnosis:  (`Condition/dvt-9`)");
        assert_eq!(lines[10], "- and 2 more, not listed");
        let mut exact = String::new();
        fact_lines(&mut exact, facts.iter().take(10));
        assert!(!exact.contains("more"), "{exact}");
    }

    /// A confirmed, active DVT diagnosis coded as such, with nothing more to say.
    fn dvt_fact() -> Fact {
        Fact {
            kind: FactKind::Condition {
                concept: Concept::Dvt,
                severity: None,
                verification: Verification::Confirmed,
                clinical_status: ClinicalStatus::Active,
                abated: false,
                body_sites: Vec::new(),
                matched_by: Match::Code,
            },
            resource: "Condition/dvt".to_owned(),
            code: None,
            date: None,
        }
    }

    #[test]
    fn a_fact_line_says_what_the_record_says_of_it() {
        let date = crate::evidence::FhirDate::parse("2026-11-20")
            .map(|date| crate::evidence::Dated { date, element: "recordedDate" });
        let condition = Fact {
            kind: FactKind::Condition {
                concept: Concept::Dvt,
                severity: Some(Severity::Severe),
                verification: Verification::Suspected,
                clinical_status: ClinicalStatus::NotRecorded,
                abated: false,
                body_sites: vec!["Left femoral vein".to_owned(), "popliteal_vein".to_owned()],
                matched_by: Match::UnverifiedCode,
            },
            date,
            ..dvt_fact()
        };
        assert_eq!(
            fact_line(&condition),
            "DVT diagnosis: severity severe; suspected, not confirmed; clinical status not recorded; \
             body site: Left femoral vein, popliteal\\_vein; code mapping unverified; 2026-11-20 (recordedDate) \
             (`Condition/dvt`)"
        );
        let lab = |value| Fact {
            kind: FactKind::Lab { lab: Lab::Platelets, value },
            resource: "Observation/plt".to_owned(),
            code: None,
            date: None,
        };
        let number = lab(LabValue::Number { value: 210.0, unit: "10*9/L".to_owned() });
        assert_eq!(fact_line(&number), "Platelets: 210 10\\*9/L (`Observation/plt`)");
        let unit = lab(LabValue::Unreadable { problem: LabProblem::UnknownUnit("per hpf".to_owned()) });
        assert_eq!(
            fact_line(&unit),
            "Platelets: not interpretable: unit \\`per hpf\\` is not one we convert (`Observation/plt`)"
        );
        let order = Fact {
            kind: FactKind::Order {
                reasons: vec![crate::evidence::CodeRef {
                    system: "SNOMED CT".to_owned(),
                    code: "128053003".to_owned(),
                    display: None,
                }],
            },
            resource: "ServiceRequest/o".to_owned(),
            code: None,
            date: None,
        };
        assert_eq!(fact_line(&order), "Draft order: reason: SNOMED CT 128053003 (`ServiceRequest/o`)");
    }

    #[test]
    fn a_result_that_cannot_be_read_says_why() {
        assert_eq!(lab_problem_words(&LabProblem::NoValue), "no value");
        assert_eq!(lab_problem_words(&LabProblem::NoResult), "no positive or negative result");
        assert_eq!(lab_problem_words(&LabProblem::UnknownUnit("x".to_owned())), "unit `x` is not one we convert");
    }
}
