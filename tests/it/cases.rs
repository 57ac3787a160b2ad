//! The fixture cases (`fixtures/cases/*`): each request's assessment and answer against what its
//! `expect.toml` says a reviewer expects.

use std::collections::BTreeSet;
use std::path::PathBuf;

use dvt_cds::pipeline;
use dvt_cds_core::cds_hooks::HookRequest;
use dvt_cds_core::classify::Rule;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::card_rules;
use crate::support::{TestService, deps, read_json, root, run_cli};

/// What a case expects. Variants exactly; rules, missing facts and safety flags at least these.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub description: String,
    pub now: String,
    pub service: String,
    pub variants: Vec<String>,
    pub rules: Vec<String>,
    pub missing: Vec<String>,
    pub safety: Vec<String>,
    /// The indicator of every card, sorted.
    pub cards: Vec<String>,
    #[serde(default)]
    pub orders: Vec<ExpectedOrder>,
    /// The deployment time zone the case is evaluated in (`--time-zone`); UTC when absent.
    #[serde(default = "utc")]
    pub time_zone: String,
}

fn utc() -> String {
    "UTC".to_owned()
}

/// An order's expected ACR category, `no-criteria-apply`, or `none` (not rated).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedOrder {
    pub reference: String,
    pub category: String,
}

pub struct Case {
    pub name: String,
    pub dir: PathBuf,
    pub request: Value,
    pub expect: Expect,
}

impl Case {
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::parse(&self.expect.now, &Rfc3339).unwrap()
    }
}

pub fn cases() -> Vec<Case> {
    // The generated scenarios, and the cases from records no one here wrote (`fixtures/real_cases.py`).
    let dirs = ["fixtures/cases", "fixtures/real-cases"]
        .into_iter()
        .flat_map(|dir| std::fs::read_dir(root().join(dir)).unwrap())
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir() && path.join("expect.toml").exists());
    let mut cases: Vec<Case> = dirs
        .map(|dir| {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            let expect_text =
                std::fs::read_to_string(dir.join("expect.toml")).unwrap_or_else(|e| panic!("{name}: {e}"));
            let expect: Expect = toml::from_str(&expect_text).unwrap_or_else(|e| panic!("{name}/expect.toml: {e}"));
            Case { request: read_json(&dir.join("request.json")), name, dir, expect }
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(cases.len() >= 50, "the fixture cases are missing");
    assert!(
        cases.iter().filter(|case| case.name.starts_with("real-")).count() >= 30,
        "the real-record cases are missing"
    );
    cases
}

#[tokio::test]
async fn every_case_is_classified_as_its_expectation_says() {
    let utc_deps = deps();
    let discovery = dvt_cds::app::discovery().unwrap();
    let mut failures = Vec::new();
    for case in cases() {
        let service = discovery.find(&case.expect.service).unwrap();
        let request = HookRequest::from_json(case.request.to_string().as_bytes(), service.hook()).unwrap();
        let zoned;
        let deps = if case.expect.time_zone == "UTC" {
            &utc_deps
        } else {
            zoned = deps().in_zone(dvt_cds_core::evidence::DayZone::named(&case.expect.time_zone).unwrap());
            &zoned
        };
        let evaluation = pipeline::assess(service, &request, deps, case.now()).await.unwrap();
        let assessment = &evaluation.assessment;
        let mut variants: Vec<&str> = assessment.variants.iter().map(|v| v.id()).collect();
        variants.sort();
        let fired: BTreeSet<&str> = assessment.rules.iter().map(|hit| hit.id.id()).collect();
        let missing: BTreeSet<&str> = assessment.missing.iter().map(|m| m.id().id()).collect();
        let flags: BTreeSet<&str> = assessment.safety.iter().map(|hit| hit.flag.as_str()).collect();
        let expect = &case.expect;
        let mut problems = Vec::new();
        if variants != expect.variants {
            problems.push(format!("variants {variants:?}, expected {:?}", expect.variants));
        }
        for (kind, expected, actual) in
            [("rule", &expect.rules, &fired), ("missing", &expect.missing, &missing), ("flag", &expect.safety, &flags)]
        {
            for id in expected.iter().filter(|id| !actual.contains(id.as_str())) {
                problems.push(format!("{kind} `{id}` expected, got {actual:?}"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{} ({}):\n  {}", case.name, expect.description, problems.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The rating actions by order reference: (PAMA code, ACR category if any).
fn ratings(response: &Value) -> Vec<(String, String, Option<String>)> {
    let mut ratings: Vec<(String, String, Option<String>)> = response["systemActions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|action| {
            let resource = &action["resource"];
            let reference =
                format!("{}/{}", resource["resourceType"].as_str().unwrap(), resource["id"].as_str().unwrap());
            let rating = resource["extension"]
                .as_array()
                .unwrap()
                .iter()
                .find(|extension| extension["url"] == dvt_cds_core::cards::PAMA_RATING)
                .unwrap();
            let codings = rating["valueCodeableConcept"]["coding"].as_array().unwrap();
            let pama = codings[0]["code"].as_str().unwrap().to_owned();
            let category = codings.get(1).map(|coding| coding["code"].as_str().unwrap().to_owned());
            (reference, pama, category)
        })
        .collect();
    ratings.sort();
    ratings
}

#[tokio::test]
async fn every_case_answers_as_its_expectation_says() {
    // One service per instant and time zone the cases are set at (the generated ones share one; real records
    // keep their dates).
    let mut services: std::collections::BTreeMap<(String, String), TestService> = std::collections::BTreeMap::new();
    let mut failures = Vec::new();
    for case in cases() {
        let key = (case.expect.now.clone(), case.expect.time_zone.clone());
        if !services.contains_key(&key) {
            let started = TestService::start_with(&["--now", &key.0, "--time-zone", &key.1]).await;
            services.insert(key.clone(), started);
        }
        let service = &services[&key];
        let response = service.post_json(&format!("/cds-services/{}", case.expect.service), &case.request).await;
        assert_eq!(response.status(), 200, "{}", case.name);
        let body: Value = response.json().await.unwrap();
        let mut problems: Vec<String> = card_rules::problems(&body);
        problems.extend(explanation_problems(&case, &body));

        let mut indicators: Vec<String> = body["cards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|card| card["indicator"].as_str().unwrap().to_owned())
            .collect();
        indicators.sort();
        if indicators != case.expect.cards {
            problems.push(format!("card indicators {indicators:?}, expected {:?}", case.expect.cards));
        }
        let ratings = ratings(&body);
        for expected in &case.expect.orders {
            let found = ratings.iter().find(|(reference, _, _)| *reference == expected.reference);
            let pama =
                |category: &str| if category == "usually-not-appropriate" { "not-appropriate" } else { "appropriate" };
            let ok = match (expected.category.as_str(), found) {
                ("none", None) => true,
                ("no-criteria-apply", Some((_, code, None))) => code == "no-criteria-apply",
                // An IVC filter code meaning devices of different categories but one PAMA code.
                ("appropriate" | "not-appropriate", Some((_, code, None))) => code == expected.category.as_str(),
                (category, Some((_, code, Some(found)))) => found == category && code == pama(category),
                _ => false,
            };
            if !ok {
                problems.push(format!("{} rated {found:?}, expected {}", expected.reference, expected.category));
            }
        }
        if ratings.len() != case.expect.orders.iter().filter(|o| o.category != "none").count() {
            problems.push(format!("ratings {ratings:?} include orders the expectation does not list"));
        }
        if !problems.is_empty() {
            failures.push(format!("{} ({}):\n  {}", case.name, case.expect.description, problems.join("\n  ")));
        }
        insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false, description => case.expect.description.clone() }, {
            insta::assert_json_snapshot!(case.name.as_str(), body);
        });
    }
    for service in services.into_values() {
        service.stop().await;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every card explains itself from the record it was given: each resource a card quotes is in the request
/// (no invented facts), a card that rates names its variant and says why with the record's facts, a card
/// with no variant either asks for what is missing or says it is not part of the ACR rating.
fn explanation_problems(case: &Case, response: &Value) -> Vec<String> {
    let mut in_request = BTreeSet::new();
    let prefetch = case.request["prefetch"].as_object().cloned().unwrap_or_default();
    let orders = case.request["context"]["draftOrders"].clone();
    for value in prefetch.values().chain([&orders]) {
        let resources: Vec<&Value> = match value["entry"].as_array() {
            Some(entries) => entries.iter().map(|entry| &entry["resource"]).collect(),
            None => vec![value],
        };
        for resource in resources {
            if let (Some(kind), Some(id)) = (resource["resourceType"].as_str(), resource["id"].as_str()) {
                in_request.insert(format!("{kind}/{id}"));
            }
        }
    }
    let mut problems = Vec::new();
    for (index, card) in response["cards"].as_array().unwrap().iter().enumerate() {
        let detail = card["detail"].as_str().unwrap_or_default();
        let at = format!("cards[{index}] ({})", card["summary"].as_str().unwrap_or_default());
        let quoted: Vec<&str> = detail
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|text| text.contains('/') && text.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
            .collect();
        for reference in &quoted {
            if !in_request.contains(*reference) {
                problems.push(format!("{at}: quotes {reference}, which is not in the request"));
            }
        }
        if quoted.is_empty() {
            problems.push(format!("{at}: quotes no resource of the record"));
        }
        match card["source"]["topic"]["code"].as_str() {
            Some(variant) => {
                if !case.expect.variants.iter().any(|expected| expected == variant) {
                    problems.push(format!("{at}: source.topic {variant} is not one of the patient's variants"));
                }
                if !detail.contains(&format!("(`{variant}`)")) && !detail.contains("**Safety**") {
                    problems.push(format!("{at}: the detail does not name {variant}"));
                }
            }
            None => {
                let asks = detail.contains("**Missing: ") && detail.contains("Document: ");
                if !asks && !detail.contains("not part of the ACR rating") {
                    problems.push(format!(
                        "{at}: no variant, asks for nothing, and does not say it is outside the ACR rating"
                    ));
                }
            }
        }
        let rates = card["source"]["topic"].is_object() && !detail.contains("**Safety**");
        if rates && !(detail.contains("**Why**") && detail.contains("**From the record**")) {
            problems.push(format!("{at}: a rating card without its why and the facts from the record"));
        }
    }
    problems
}

#[test]
fn expectations_name_orders_of_their_request() {
    for case in cases() {
        let entries = case.request["context"]["draftOrders"]["entry"].as_array().cloned().unwrap_or_default();
        let references: Vec<String> = entries
            .iter()
            .map(|entry| {
                format!(
                    "{}/{}",
                    entry["resource"]["resourceType"].as_str().unwrap(),
                    entry["resource"]["id"].as_str().unwrap()
                )
            })
            .collect();
        for order in &case.expect.orders {
            assert!(references.contains(&order.reference), "{}: no draft order {}", case.name, order.reference);
            let known = [
                "usually-appropriate",
                "may-be-appropriate",
                "may-be-appropriate-disagreement",
                "usually-not-appropriate",
                "no-criteria-apply",
                "appropriate",
                "not-appropriate",
                "none",
            ];
            assert!(known.contains(&order.category.as_str()), "{}: category {}", case.name, order.category);
        }
    }
}

/// The README pictures cards (`docs/cards/NAME.png`, made by `docs/cards/render.mjs` from the snapshots);
/// the cards each picture shows are kept beside it, and must still be what the service answers.
#[test]
fn the_readme_pictures_show_the_current_cards() {
    let pictured: Vec<PathBuf> = std::fs::read_dir(root().join("docs/cards"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json") && path.with_extension("png").exists())
        .collect();
    assert!(pictured.len() >= 2, "the README's example cards are missing from docs/cards");
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for path in pictured {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let snapshot = std::fs::read_to_string(root().join(format!("tests/it/snapshots/{name}.snap"))).unwrap();
        let body = snapshot.split("\n---\n").nth(1).unwrap();
        let current: Value = serde_json::from_str::<Value>(body).unwrap()["cards"].clone();
        assert_eq!(
            read_json(&path),
            current,
            "docs/cards/{name}.png shows cards the service no longer gives: run `node docs/cards/render.mjs`"
        );
        assert!(readme.contains(&format!("](docs/cards/{name}.png)")), "README.md does not show docs/cards/{name}.png");
    }
}

#[test]
fn every_rule_has_a_fixture() {
    let covered: BTreeSet<String> = cases().into_iter().flat_map(|case| case.expect.rules).collect();
    let uncovered: Vec<&str> = Rule::ALL.iter().map(|rule| rule.id()).filter(|id| !covered.contains(*id)).collect();
    assert!(uncovered.is_empty(), "rules no fixture expects: {uncovered:?}");
    let known: BTreeSet<&str> = Rule::ALL.iter().map(|rule| rule.id()).collect();
    let unknown: Vec<&String> = covered.iter().filter(|id| !known.contains(id.as_str())).collect();
    assert!(unknown.is_empty(), "fixtures name rules that do not exist: {unknown:?}");
}

#[test]
fn explain_prints_the_assessment_of_every_case() {
    for case in cases() {
        let path = case.dir.join("request.json");
        let (status, stdout, stderr) = run_cli(&[
            "evaluate",
            "--explain",
            path.to_str().unwrap(),
            "--now",
            &case.expect.now,
            "--time-zone",
            &case.expect.time_zone,
        ]);
        assert!(status.success(), "{}: {stderr}", case.name);
        let explained: Value = serde_json::from_str(&stdout).unwrap();
        for field in ["variants", "rules", "evidence", "missing", "safety"] {
            assert!(explained[field].is_array(), "{}: no `{field}` in {stdout}", case.name);
        }
        let mut variants: Vec<String> =
            explained["variants"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
        variants.sort();
        assert_eq!(variants, case.expect.variants, "{}", case.name);
        for fact in explained["evidence"].as_array().unwrap() {
            assert!(fact["resource"].as_str().is_some_and(|r| r.contains('/')), "{}: {fact}", case.name);
        }
    }
}

/// Safety before rating, on every case: no suggestion creates a procedure the record contraindicates, and
/// an order the record contraindicates gets no "appropriate" (or "not-appropriate") stamp and only
/// critical cards. The contraindications are worked out here from the assessment's flags and the
/// knowledge's `[[applies]]` rows, apart from the code that decides the verdicts.
#[tokio::test]
async fn no_card_suggestion_or_stamp_endorses_a_contraindicated_order() {
    use dvt_cds_core::classify::{Effect, OrderSelector};
    use dvt_cds_core::evidence::{DrugGroup, ProcedureKind};

    let deps = deps();
    let knowledge = &deps.knowledge;
    let discovery = dvt_cds::app::discovery().unwrap();
    let contraindicated = |assessment: &dvt_cds_core::classify::Assessment,
                           kind: Option<ProcedureKind>,
                           group: Option<DrugGroup>,
                           contrast: bool| {
        assessment.safety.iter().any(|hit| {
            knowledge.criteria().applies.iter().any(|applies| {
                applies.class == hit.class
                    && applies.effect == Effect::Contraindicates
                    && applies.orders.iter().any(|selector| match selector {
                        OrderSelector::Kind(selected) => kind == Some(*selected),
                        OrderSelector::Heparin => group == Some(DrugGroup::Heparin),
                        OrderSelector::OralAnticoagulant => matches!(group, Some(DrugGroup::Vka | DrugGroup::Doac)),
                        OrderSelector::Contrast => contrast,
                    })
            })
        })
    };
    let (mut suggestions_checked, mut orders_checked) = (0, 0);
    let mut failures = Vec::new();
    for case in cases() {
        let service = discovery.find(&case.expect.service).unwrap();
        let request = HookRequest::from_json(case.request.to_string().as_bytes(), service.hook()).unwrap();
        let evaluation = pipeline::assess(service, &request, &deps, case.now()).await.unwrap();
        let response = serde_json::to_value(
            pipeline::evaluate(service, &request, &deps, case.now(), pipeline::Deadline::NONE).await.unwrap(),
        )
        .unwrap();
        let assessment = &evaluation.assessment;
        let cards = response["cards"].as_array().cloned().unwrap_or_default();
        for card in &cards {
            for suggestion in card["suggestions"].as_array().into_iter().flatten() {
                for action in suggestion["actions"].as_array().into_iter().flatten().filter(|a| a["type"] == "create") {
                    let coding = &action["resource"]["code"]["coding"][0];
                    let procedures = knowledge
                        .procedures_for_code(coding["system"].as_str().unwrap(), coding["code"].as_str().unwrap());
                    assert!(!procedures.is_empty(), "{}: a suggestion creates an unknown code", case.name);
                    for procedure in procedures.iter().filter_map(|id| knowledge.procedure(id)) {
                        suggestions_checked += 1;
                        if contraindicated(assessment, Some(procedure.kind), None, procedure.contrast) {
                            failures.push(format!(
                                "{}: suggests {}, which the record contraindicates",
                                case.name, procedure.id
                            ));
                        }
                    }
                }
            }
        }
        for order in evaluation.evidence.orders.iter().filter(|o| o.selected && !o.procedures.is_empty()) {
            let contrast = order.procedures.iter().filter_map(|id| knowledge.procedure(id)).any(|p| p.contrast);
            if !contraindicated(assessment, order.kind, order.group, contrast) {
                continue;
            }
            orders_checked += 1;
            let reference = &order.source.resource;
            let stamped = ratings(&response).into_iter().find(|(r, _, _)| r == reference);
            if let Some((_, code, _)) = &stamped
                && code != "no-criteria-apply"
            {
                failures.push(format!("{}: {reference} is contraindicated but stamped {code}", case.name));
            }
            let its_cards: Vec<&Value> = cards
                .iter()
                .filter(|card| {
                    let detail = card["detail"].as_str().unwrap_or_default();
                    detail.lines().any(|line| line.starts_with("Orders: ") && line.contains(&format!("`{reference}`")))
                })
                .collect();
            if its_cards.is_empty() {
                failures.push(format!("{}: {reference} is contraindicated and no card says so", case.name));
            }
            for card in its_cards.iter().filter(|card| card["indicator"] != "critical") {
                failures.push(format!(
                    "{}: {reference} is contraindicated but has a {} card",
                    case.name, card["indicator"]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The property means something only if the cases exercise it.
    assert!(orders_checked >= 8, "only {orders_checked} contraindicated orders in the cases");
    assert!(suggestions_checked >= 4, "only {suggestions_checked} suggestions in the cases");
}

/// The decision audit attributes each card to the rules it rests on, not to every rule of the call.
#[tokio::test]
async fn the_audit_records_each_cards_own_rules() {
    let deps = deps();
    let discovery = dvt_cds::app::discovery().unwrap();
    let case = cases().into_iter().find(|case| case.name == "v2-cdt-stent-sign").unwrap();
    let service = discovery.find(&case.expect.service).unwrap();
    let request = HookRequest::from_json(case.request.to_string().as_bytes(), service.hook()).unwrap();
    let (response, evaluation) =
        pipeline::evaluate_assessed(service, &request, &deps, case.now(), pipeline::Deadline::NONE).await.unwrap();
    let decision = pipeline::decision(&evaluation.unwrap(), &response).unwrap();
    let rules_of = |summary_start: &str| -> Vec<String> {
        decision.cards.iter().find(|card| card.summary.starts_with(summary_start)).unwrap().rules.clone()
    };
    let rating = rules_of("CDT/PMT and venous stent");
    assert!(rating.contains(&"moderate-severe-v2".to_owned()), "{rating:?}");
    // The IVC filter topic's rule fired for the call but explains no card here.
    assert!(decision.rules.contains(&"ivc-v6".to_owned()) && !rating.contains(&"ivc-v6".to_owned()), "{rating:?}");
    assert_eq!(rules_of("After CDT/PMT"), vec!["dvt-confirmed-active".to_owned()]);
    // The stent is audited with the rating it shares with its CDT/PMT.
    let stent = decision.orders.iter().find(|order| order.reference == "ServiceRequest/stent").unwrap();
    assert_eq!(
        (stent.pama_code.as_deref(), stent.acr_category.as_deref()),
        (Some("appropriate"), Some("usually-appropriate"))
    );

    // A rating the record voids is audited as stamped: no-criteria-apply, with no variant or category.
    let case = cases().into_iter().find(|case| case.name == "stroke-40-days-v4-cdt").unwrap();
    let service = discovery.find(&case.expect.service).unwrap();
    let request = HookRequest::from_json(case.request.to_string().as_bytes(), service.hook()).unwrap();
    let (response, evaluation) =
        pipeline::evaluate_assessed(service, &request, &deps, case.now(), pipeline::Deadline::NONE).await.unwrap();
    let decision = pipeline::decision(&evaluation.unwrap(), &response).unwrap();
    let cdt = decision.orders.iter().find(|order| order.reference == "ServiceRequest/cdt").unwrap();
    assert_eq!(
        (cdt.pama_code.as_deref(), cdt.variant.as_deref(), cdt.acr_category.as_deref()),
        (Some("no-criteria-apply"), None, None)
    );
}
