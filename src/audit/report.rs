//! The governance report: the audit joined with feedback by card uuid. Per card kind (its summary,
//! our own sentence, and indicator), per ACR variant and per classifier rule: how many cards were shown, accepted and
//! overridden (by override reason), and the override rate. As text, JSON, or one self-contained
//! HTML file with an inline SVG bar chart (nothing fetched).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::AuditEntry;

/// One feedback item, as the report needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackFact {
    pub card: String,
    /// `accepted` or `overridden`.
    pub outcome: String,
    /// The override reason's code (or display), when one was given.
    pub override_reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Html,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub key: String,
    pub shown: usize,
    pub accepted: usize,
    pub overridden: usize,
    /// Overrides by reason; `(none given)` when the clinician gave none.
    pub override_reasons: BTreeMap<String, usize>,
    /// Overridden over shown; absent when nothing was shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_rate: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    pub decisions: usize,
    pub cards_shown: usize,
    /// Feedback on cards the audit does not hold (shown before the audit, or purged by retention).
    pub feedback_without_audit: usize,
    pub by_card: Vec<Row>,
    pub by_variant: Vec<Row>,
    pub by_rule: Vec<Row>,
}

const NO_REASON: &str = "(none given)";

/// Joins `entries` with `feedback` by card uuid. A card shown by several calls with the same uuid
/// (the same `hookInstance` and content) counts once.
pub fn report(entries: &[AuditEntry], feedback: &[FeedbackFact], since: Option<String>) -> Report {
    // Each distinct card: its groups (card kind, variant, its rules; its call's for older entries).
    let mut groups: BTreeMap<&str, Vec<(Table, String)>> = BTreeMap::new();
    for entry in entries {
        for card in &entry.decision.cards {
            groups.entry(card.uuid.as_str()).or_insert_with(|| {
                // Our own sentence names the card kind ("Phlegmasia cerulea dolens: emergent ..."); the
                // same sentence at another indicator is another kind.
                let mut keys = vec![(Table::Card, format!("{} [{}]", card.summary, card.indicator))];
                if let Some(variant) = &card.variant {
                    keys.push((Table::Variant, variant.clone()));
                }
                let rules = if card.rules.is_empty() { &entry.decision.rules } else { &card.rules };
                keys.extend(rules.iter().map(|rule| (Table::Rule, rule.clone())));
                keys
            });
        }
    }
    let mut tables: [BTreeMap<String, Row>; 3] = Default::default();
    for keys in groups.values() {
        for (table, key) in keys {
            row(&mut tables, *table, key).shown += 1;
        }
    }
    let mut without_audit = 0;
    for fact in feedback {
        let Some(keys) = groups.get(fact.card.as_str()) else {
            without_audit += 1;
            continue;
        };
        for (table, key) in keys {
            let row = row(&mut tables, *table, key);
            if fact.outcome == "overridden" {
                row.overridden += 1;
                *row.override_reasons
                    .entry(fact.override_reason.clone().unwrap_or_else(|| NO_REASON.to_owned()))
                    .or_default() += 1;
            } else {
                row.accepted += 1;
            }
        }
    }
    let [by_card, by_variant, by_rule] = tables.map(|table| {
        table
            .into_values()
            .map(|mut row| {
                row.override_rate = (row.shown > 0).then(|| row.overridden as f64 / row.shown as f64);
                row
            })
            .collect()
    });
    Report {
        since,
        decisions: entries.len(),
        cards_shown: groups.len(),
        feedback_without_audit: without_audit,
        by_card,
        by_variant,
        by_rule,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Card,
    Variant,
    Rule,
}

fn row<'a>(tables: &'a mut [BTreeMap<String, Row>; 3], table: Table, key: &str) -> &'a mut Row {
    let [cards, variants, rules] = tables;
    let table = match table {
        Table::Card => cards,
        Table::Variant => variants,
        Table::Rule => rules,
    };
    table.entry(key.to_owned()).or_insert_with(|| Row { key: key.to_owned(), ..Row::default() })
}

impl Report {
    pub fn render(&self, format: Format) -> Result<String, serde_json::Error> {
        Ok(match format {
            Format::Json => serde_json::to_string_pretty(self)?,
            Format::Text => self.text(),
            Format::Html => self.html(),
        })
    }

    fn text(&self) -> String {
        let mut out = String::new();
        let since = self.since.as_deref().unwrap_or("the start of the audit");
        let _ =
            writeln!(out, "Decisions since {since}: {}; distinct cards shown: {}", self.decisions, self.cards_shown);
        if self.feedback_without_audit > 0 {
            let _ = writeln!(out, "Feedback on cards the audit does not hold: {}", self.feedback_without_audit);
        }
        for (title, rows) in self.tables() {
            let _ = writeln!(out, "\n{title}");
            let _ = writeln!(out, "{:>6} {:>9} {:>11} {:>8}", "shown", "accepted", "overridden", "rate");
            for row in rows {
                let rate = row.override_rate.map_or_else(|| "-".to_owned(), |rate| format!("{:.0}%", rate * 100.0));
                let _ = writeln!(
                    out,
                    "{:>6} {:>9} {:>11} {:>8}  {}",
                    row.shown, row.accepted, row.overridden, rate, row.key
                );
                for (reason, count) in &row.override_reasons {
                    let _ = writeln!(out, "{:>37}  overridden: {reason}", count);
                }
            }
        }
        out
    }

    fn tables(&self) -> [(&'static str, &[Row]); 3] {
        [
            ("By card (summary [indicator])", &self.by_card),
            ("By ACR variant", &self.by_variant),
            ("By classifier rule (the cards of the calls where it fired)", &self.by_rule),
        ]
    }

    fn html(&self) -> String {
        let mut out = String::from(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>dvt-cds governance report</title>\n\
             <style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin-bottom:2em}\
             td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}\
             .shown{fill:#9bb7d4}.overridden{fill:#c0392b}</style></head><body>\n<h1>dvt-cds governance report</h1>\n",
        );
        let since = self.since.as_deref().unwrap_or("the start of the audit");
        let _ = writeln!(
            out,
            "<p>Decisions since {}: {}; distinct cards shown: {}; feedback on cards the audit does not hold: {}.</p>",
            escape(since),
            self.decisions,
            self.cards_shown,
            self.feedback_without_audit
        );
        out.push_str(&bar_chart(&self.by_card));
        for (title, rows) in self.tables() {
            let _ = writeln!(
                out,
                "<h2>{}</h2>\n<table><tr><th>key</th><th>shown</th><th>accepted</th><th>overridden</th><th>override rate</th><th>override reasons</th></tr>",
                escape(title)
            );
            for row in rows {
                let rate = row.override_rate.map_or_else(|| "-".to_owned(), |rate| format!("{:.0}%", rate * 100.0));
                let reasons: Vec<String> = row
                    .override_reasons
                    .iter()
                    .map(|(reason, count)| format!("{} ({count})", escape(reason)))
                    .collect();
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{rate}</td><td>{}</td></tr>",
                    escape(&row.key),
                    row.shown,
                    row.accepted,
                    row.overridden,
                    reasons.join(", ")
                );
            }
            out.push_str("</table>\n");
        }
        out.push_str("</body></html>\n");
        out
    }
}

/// Horizontal bars per card kind: shown (light) with overridden (red) over it.
fn bar_chart(rows: &[Row]) -> String {
    const LABEL: usize = 420;
    const WIDTH: usize = 360;
    const BAR: usize = 22;
    let most = rows.iter().map(|row| row.shown).max().unwrap_or(0).max(1);
    let height = rows.len() * (BAR + 8) + 30;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" role=\"img\" aria-label=\"Cards shown and overridden by card kind\">\n",
        LABEL + WIDTH + 80
    );
    let _ =
        writeln!(svg, "<text x=\"0\" y=\"14\" font-size=\"13\">Shown (blue) and overridden (red), by card kind</text>");
    for (index, row) in rows.iter().enumerate() {
        let y = 24 + index * (BAR + 8);
        let shown = row.shown * WIDTH / most;
        let overridden = row.overridden.min(row.shown) * WIDTH / most;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">{}</text>\
             <rect class=\"shown\" x=\"{}\" y=\"{y}\" width=\"{shown}\" height=\"{BAR}\"/>\
             <rect class=\"overridden\" x=\"{}\" y=\"{y}\" width=\"{overridden}\" height=\"{BAR}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\">{}/{}</text>",
            LABEL - 6,
            y + 15,
            escape(&row.key),
            LABEL,
            LABEL,
            LABEL + shown + 6,
            y + 15,
            row.overridden,
            row.shown
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{CardShown, Decision};

    fn entry(cards: &[(&str, &str, Option<&str>)], rules: &[&str]) -> AuditEntry {
        AuditEntry {
            decision: Decision {
                cards: cards
                    .iter()
                    .map(|(uuid, source, variant)| CardShown {
                        uuid: (*uuid).to_owned(),
                        indicator: "warning".to_owned(),
                        summary: (*source).to_owned(),
                        source: (*source).to_owned(),
                        variant: variant.map(str::to_owned),
                        rules: Vec::new(),
                    })
                    .collect(),
                rules: rules.iter().map(|rule| (*rule).to_owned()).collect(),
                ..Decision::default()
            },
            ..AuditEntry::default()
        }
    }

    #[test]
    fn a_card_with_its_own_rules_counts_under_those_only() {
        let mut with_rules = entry(&[("c1", "ACR", Some("acr-193-v2"))], &["age-acute", "pregnancy-v7"]);
        with_rules.decision.cards[0].rules = vec!["age-acute".to_owned()];
        let report = report(&[with_rules], &[fact("c1", "overridden", None)], None);
        let keys: Vec<&str> = report.by_rule.iter().map(|row| row.key.as_str()).collect();
        assert_eq!(keys, vec!["age-acute"], "a rule of the call that is not the card's is not counted for it");
    }

    fn fact(card: &str, outcome: &str, reason: Option<&str>) -> FeedbackFact {
        FeedbackFact { card: card.to_owned(), outcome: outcome.to_owned(), override_reason: reason.map(str::to_owned) }
    }

    #[test]
    fn shown_accepted_and_overridden_are_counted_per_kind_variant_and_rule() {
        let entries = [
            entry(&[("c1", "Phlegmasia", Some("acr-193-v5")), ("c2", "ACR", Some("acr-193-v2"))], &["age-acute"]),
            entry(&[("c3", "Phlegmasia", Some("acr-193-v5"))], &["age-acute", "severity-severe"]),
            // The same card again (same hookInstance): shown once.
            entry(&[("c3", "Phlegmasia", Some("acr-193-v5"))], &["age-acute", "severity-severe"]),
        ];
        let feedback = [
            fact("c1", "overridden", Some("emergent-need")),
            fact("c3", "overridden", None),
            fact("c2", "accepted", None),
            fact("elsewhere", "accepted", None),
        ];
        let report = report(&entries, &feedback, None);
        assert_eq!((report.decisions, report.cards_shown, report.feedback_without_audit), (3, 3, 1));
        let phlegmasia = &report.by_card[1];
        assert_eq!(phlegmasia.key, "Phlegmasia [warning]");
        assert_eq!((phlegmasia.shown, phlegmasia.accepted, phlegmasia.overridden), (2, 0, 2));
        assert_eq!(phlegmasia.override_rate, Some(1.0));
        assert_eq!(
            phlegmasia.override_reasons,
            BTreeMap::from([("(none given)".to_owned(), 1), ("emergent-need".to_owned(), 1)])
        );
        let v2 = report.by_variant.iter().find(|row| row.key == "acr-193-v2").unwrap();
        assert_eq!((v2.shown, v2.accepted, v2.override_rate), (1, 1, Some(0.0)));
        let acute = report.by_rule.iter().find(|row| row.key == "age-acute").unwrap();
        assert_eq!((acute.shown, acute.accepted, acute.overridden), (3, 1, 2));
        let severe = report.by_rule.iter().find(|row| row.key == "severity-severe").unwrap();
        assert_eq!((severe.shown, severe.overridden), (1, 1));
    }

    #[test]
    fn the_html_report_is_one_file_that_fetches_nothing_and_escapes_its_labels() {
        let entries = [entry(&[("c1", "<script>x</script>", None)], &[])];
        let html = report(&entries, &[fact("c1", "overridden", None)], Some("2026-11-01".to_owned())).html();
        assert!(html.contains("<svg") && html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>") && !html.contains("src=") && !html.contains("href="), "{html}");
        assert!(!html.contains("http://") || html.matches("http://").count() == 1, "only the SVG namespace: {html}");
    }
}
