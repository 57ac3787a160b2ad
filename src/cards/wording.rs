//! Every word a clinician reads: summaries, details (GitHub-flavoured markdown), labels.
//!
//! Text that comes from the record (displays, free text) is escaped: the public sandbox renders card
//! details with raw HTML allowed, so a record must not be able to inject markup.

use std::fmt::Write;

use crate::classify::{Assessment, Fact, FlagClass, Missing, Rule, SafetyHit, Variant};
use crate::knowledge::{Category, KnowledgeBase, PlanApplies, Rating, Topic};

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

/// Keeps a summary under the limit, cutting at a word boundary with an ellipsis.
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

pub(super) fn rating_summary(procedures: &str, category: Category, variant_short: &str, year: u32) -> String {
    fit(format!("{procedures}: {} for {variant_short} (ACR {year})", category_words(category)))
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
pub(super) fn rating_table(knowledge: &KnowledgeBase, variant: Variant, ordered: &[&str]) -> String {
    let Some(rows) = knowledge.variant(variant) else { return String::new() };
    let mut table = String::from("| Procedure | Appropriateness | Radiation (RRL) |\n|---|---|---|\n");
    for row in &rows.rows {
        let name = if ordered.contains(&row.procedure.as_str()) {
            format!("**{}** (ordered)", row.wording)
        } else {
            row.wording.clone()
        };
        let _ = writeln!(table, "| {name} | {} | {} |", row.category.label(), rrl_words(&row.rrl));
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
    if let Some(value) = &fact.value {
        parts.push(escape(value));
    }
    if let Some(date) = &fact.date {
        parts.push(escape(date));
    }
    format!("{}: {} (`{}`)", escape(&fact.finding), parts.join("; "), escape_code(&fact.resource))
}

/// Inside backticks only the backtick itself matters.
fn escape_code(text: &str) -> String {
    text.replace('`', "'")
}

/// Which rules explain a card for `topic`: the rules about the DVT itself, and the topic's own.
fn rule_topic(rule: Rule) -> Option<u32> {
    match rule {
        Rule::IvcV1 | Rule::IvcV2 | Rule::IvcV3 | Rule::IvcV6 => Some(6),
        Rule::SuspectedDvtImagingV1 => Some(75),
        Rule::DvtConfirmedActive
        | Rule::DvtNotCountedRefuted
        | Rule::DvtNotCountedInactive
        | Rule::DvtSuspectedOnly
        | Rule::SegmentIliofemoralCode
        | Rule::SegmentIliofemoralBodySite
        | Rule::SegmentFemoropopliteal
        | Rule::SegmentFemoralAmbiguous
        | Rule::SegmentUnspecified
        | Rule::SegmentDistalOnly
        | Rule::SegmentIvcOnly
        | Rule::AgeAcute
        | Rule::AgeFromRecordedDate
        | Rule::AgeUnknown
        | Rule::AgeImprecise
        | Rule::AgeSubacuteOutsideAcr
        | Rule::AgeChronic => None,
        _ => Some(193),
    }
}

/// "Why": the rules that placed the patient, then the facts they used, each once.
pub(super) fn why(assessment: &Assessment, topic: u32) -> String {
    let hits: Vec<_> = assessment.rules.iter().filter(|hit| rule_topic(hit.id).is_none_or(|t| t == topic)).collect();
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
        for fact in facts {
            let _ = writeln!(text, "- {}", fact_line(fact));
        }
    }
    text.push('\n');
    text
}

/// The DVT a plan is for: the facts of the rule that found it on record.
pub(super) fn plan_for(dvt: &[Fact]) -> String {
    let mut text = String::from("**For**\n\n");
    for fact in dvt {
        let _ = writeln!(text, "- {}", fact_line(fact));
    }
    text.push('\n');
    text
}

/// Data that could not be obtained or read, if any.
pub(super) fn not_seen(assessment: &Assessment) -> String {
    let unseen: Vec<&Missing> =
        assessment.missing.iter().filter(|m| matches!(m.id, "data-unavailable" | "unreadable-resource")).collect();
    if unseen.is_empty() {
        return String::new();
    }
    let mut text = String::from("**Not seen**: the answer may change once these are available.\n\n");
    for missing in unseen {
        let _ = writeln!(text, "- {}", escape(&missing.what));
    }
    text.push('\n');
    text
}

pub(super) fn class_words(class: FlagClass) -> &'static str {
    match class {
        FlagClass::LysisAbsolute => "Absolute contraindication to thrombolysis",
        FlagClass::LysisRelative => "Relative contraindication to thrombolysis",
        FlagClass::Anticoagulation => "Contraindication to anticoagulation",
        FlagClass::Heparin => "Contraindication to heparins",
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

/// Contraindications to lysis that the record cannot show.
pub(super) fn unchecked_section(knowledge: &KnowledgeBase) -> String {
    let labels: Vec<&str> = knowledge.unchecked().iter().map(|u| u.label.as_str()).collect();
    if labels.is_empty() {
        return String::new();
    }
    format!("**Not checked from the record** (confirm before lysis): {}.\n\n", labels.join("; "))
}

/// The facts a clinician should document, where, and what each answer would give.
pub(super) fn missing_section(knowledge: &KnowledgeBase, missing: &[&Missing], ordered: &[&str]) -> String {
    let mut text = String::new();
    for item in missing {
        let _ = writeln!(text, "**Missing: {}**\n", escape(&item.what));
        if let Some(document) = &item.document {
            let _ = writeln!(text, "Document: {}.\n", escape(document));
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
                                .map(|row| format!("{}: {}", row.wording, row.category.label()))
                                .collect::<Vec<_>>()
                                .join("; ")
                        };
                        let short = knowledge.variant(variant).map_or("", |rows| rows.short.as_str());
                        (format!("{} ({short})", variant.id()), rating)
                    }
                    None => ("none".to_owned(), "no ACR rating".to_owned()),
                };
                let _ = writeln!(text, "| {} | {variant} | {rating} |", escape(&alternative.answer));
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
}
