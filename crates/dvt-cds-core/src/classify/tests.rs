//! Table-driven tests of the classifier: one row per rule and per boundary. The instant is fixed at
//! 2026-11-24 12:00 UTC; dates are written as days before it.

use time::macros::{date, datetime};
use time::{Date, Duration, OffsetDateTime};

use super::*;
use crate::evidence::{
    Acuity, AllergyClass, AllergyFact, ClinicalStatus, CodeRef, ConditionFact, DataGap, Dated, DrugGroup, DvtCode,
    FhirDate, JsonProblem, Lab, LabFact, LabValue, Laterality, MedicationFact, OrderFact, ProcedureFact, Reason,
    RecordPart, Segment, Source, Unobtained, Unreadable, UnreadableProblem, Verification,
};
use crate::ids::{FlagId, ProcedureId};
use crate::knowledge::KnowledgeBase;

const NOW: OffsetDateTime = datetime!(2026-11-24 12:00 UTC);
const TODAY: Date = date!(2026 - 11 - 24);

fn ago(days: i64) -> String {
    (TODAY - Duration::days(days)).to_string()
}

fn dated(text: &str, element: &'static str) -> Dated {
    Dated { date: FhirDate::parse(text).unwrap(), element }
}

fn source(resource: &str) -> Source {
    Source { resource: resource.to_owned(), code: None }
}

fn condition(resource: &str, concept: Concept) -> ConditionFact {
    ConditionFact {
        source: source(resource),
        concept,
        matched_by: Match::Code,
        dvt: None,
        clinical_status: ClinicalStatus::Active,
        verification: Verification::Confirmed,
        severity: None,
        body_sites: Vec::new(),
        body_site_laterality: None,
        onset: None,
        recorded: None,
        abated: false,
    }
}

fn dvt(segment: Segment, laterality: Laterality) -> ConditionFact {
    ConditionFact {
        dvt: Some(DvtCode { segment, laterality, acuity: Acuity::Acute }),
        ..condition("Condition/dvt", Concept::Dvt)
    }
}

/// An acute left iliofemoral DVT, `days` old, of `severity`.
fn iliofemoral(days: i64, severity: Option<Severity>) -> ConditionFact {
    dvt(Segment::Iliofemoral, Laterality::Left).onset_days(days).severity(severity)
}

trait Tweak {
    fn onset_days(self, days: i64) -> Self;
    fn severity(self, severity: Option<Severity>) -> Self;
}

impl Tweak for ConditionFact {
    fn onset_days(self, days: i64) -> ConditionFact {
        ConditionFact { onset: Some(dated(&ago(days), "onsetDateTime")), ..self }
    }

    fn severity(self, severity: Option<Severity>) -> ConditionFact {
        ConditionFact { severity, ..self }
    }
}

fn lab(resource: &str, lab: Lab, value: LabValue, days: i64) -> LabFact {
    LabFact { source: source(resource), lab, value, date: Some(dated(&ago(days), "effectiveDateTime")) }
}

fn number(value: f64) -> LabValue {
    LabValue::Number { value, unit: "x".to_owned() }
}

fn anticoagulant(days: i64) -> MedicationFact {
    MedicationFact {
        source: source("MedicationRequest/apixaban"),
        class: MedicationClass::Anticoagulant,
        group: None,
        status: Some("active".to_owned()),
        start: Some(dated(&ago(days), "authoredOn")),
    }
}

fn procedure(kind: Option<ProcedureKind>, days: i64) -> ProcedureFact {
    ProcedureFact {
        source: source("Procedure/p"),
        kind,
        procedures: Vec::new(),
        status: Some("completed".to_owned()),
        date: Some(dated(&ago(days), "performedDateTime")),
    }
}

/// A CDT/PMT Procedure `days` ago with `status`.
fn cdt_procedure(status: &str, days: i64) -> ProcedureFact {
    ProcedureFact {
        procedures: vec![ProcedureId::CDT_PMT],
        status: Some(status.to_owned()),
        ..procedure(Some(ProcedureKind::Lysis), days)
    }
}

/// A draft order of the knowledge procedure `id`.
fn order_of(id: &str, kind: ProcedureKind) -> OrderFact {
    OrderFact { procedures: vec![ProcedureId::new(id)], ..order(kind, &[]) }
}

fn order(kind: ProcedureKind, reasons: &[Concept]) -> OrderFact {
    OrderFact {
        source: source("ServiceRequest/o"),
        selected: true,
        procedures: Vec::new(),
        kind: Some(kind),
        group: None,
        reasons: reasons
            .iter()
            .map(|concept| Reason {
                code: CodeRef { system: "SNOMED CT".to_owned(), code: "x".to_owned(), display: None },
                concept: Some(*concept),
            })
            .collect(),
    }
}

fn classify_now(evidence: &Evidence) -> Assessment {
    let knowledge = KnowledgeBase::embedded().unwrap();
    classify(evidence, knowledge.criteria(), NOW)
}

/// What a row expects: the variants exactly, and these rules, missing ids and flags among the others.
#[derive(Default)]
struct Expect {
    variants: &'static [&'static str],
    rules: &'static [&'static str],
    missing: &'static [&'static str],
    flags: &'static [&'static str],
    not_rules: &'static [&'static str],
    not_flags: &'static [&'static str],
}

fn check(name: &str, evidence: Evidence, expect: Expect) {
    let assessment = classify_now(&evidence);
    let variants: Vec<&str> = assessment.variants.iter().map(|v| v.id()).collect();
    let rules: Vec<&str> = assessment.rules.iter().map(|hit| hit.id.id()).collect();
    let missing: Vec<&str> = assessment.missing.iter().map(|m| m.id().id()).collect();
    let flags: Vec<&str> = assessment.safety.iter().map(|hit| hit.flag.as_str()).collect();
    let summary = format!("{name}: variants {variants:?}, rules {rules:?}, missing {missing:?}, flags {flags:?}");
    assert_eq!(variants, expect.variants, "{summary}");
    for rule in expect.rules {
        assert!(rules.contains(rule), "{summary}: expected rule {rule}");
    }
    for rule in expect.not_rules {
        assert!(!rules.contains(rule), "{summary}: unexpected rule {rule}");
    }
    for id in expect.missing {
        assert!(missing.contains(id), "{summary}: expected missing {id}");
    }
    for flag in expect.flags {
        assert!(flags.contains(flag), "{summary}: expected flag {flag}");
    }
    for flag in expect.not_flags {
        assert!(!flags.contains(flag), "{summary}: unexpected flag {flag}");
    }
}

fn with_conditions(conditions: Vec<ConditionFact>) -> Evidence {
    Evidence { conditions, ..Evidence::default() }
}

#[test]
fn acute_iliofemoral_dvt_by_severity() {
    check(
        "severe, 5 days",
        with_conditions(vec![iliofemoral(5, Some(Severity::Severe))]),
        Expect {
            variants: &["acr-193-v2", "acr-6-v1"],
            rules: &["dvt-confirmed-active", "segment-iliofemoral-code", "age-acute", "moderate-severe-v2", "ivc-v1"],
            ..Expect::default()
        },
    );
    check(
        "moderate",
        with_conditions(vec![iliofemoral(5, Some(Severity::Moderate))]),
        Expect { variants: &["acr-193-v2", "acr-6-v1"], ..Expect::default() },
    );
    check(
        "mild",
        with_conditions(vec![iliofemoral(5, Some(Severity::Mild))]),
        Expect { variants: &["acr-193-v1", "acr-6-v1"], rules: &["mild-v1"], ..Expect::default() },
    );
}

#[test]
fn missing_severity_says_what_to_document_and_what_each_answer_gives() {
    let assessment = classify_now(&with_conditions(vec![iliofemoral(5, None)]));
    assert_eq!(assessment.variants, [Variant::Acr6V1]);
    assert!(assessment.rules.iter().any(|hit| hit.id == Rule::SeverityMissing));
    let missing = assessment.missing.iter().find(|m| m.id() == MissingFact::DvtSeverity).unwrap();
    assert_eq!(missing.detail, MissingDetail::DvtSeverity { diagnosis: Some("Condition/dvt".to_owned()) });
    let answers: Vec<(Answer, Option<&str>)> =
        missing.if_documented.iter().map(|a| (a.answer, a.variant.map(Variant::id))).collect();
    assert_eq!(
        answers,
        [
            (Answer::Severity(Severity::Mild), Some("acr-193-v1")),
            (Answer::Severity(Severity::Moderate), Some("acr-193-v2")),
            (Answer::Severity(Severity::Severe), Some("acr-193-v2"))
        ]
    );
}

#[test]
fn severity_is_the_index_dvt_s_own() {
    let calf = ConditionFact {
        source: source("Condition/calf"),
        ..dvt(Segment::Distal, Laterality::Right).onset_days(5).severity(Some(Severity::Severe))
    };
    check(
        "index without severity, a severe calf DVT on the other leg",
        with_conditions(vec![iliofemoral(5, None), calf]),
        Expect {
            variants: &["acr-6-v1"],
            rules: &["severity-missing"],
            missing: &["dvt-severity"],
            ..Expect::default()
        },
    );
}

#[test]
fn thrombus_age_boundaries() {
    let severe = Some(Severity::Severe);
    check(
        "13 days is acute",
        with_conditions(vec![iliofemoral(13, severe)]),
        Expect { variants: &["acr-193-v2", "acr-6-v1"], rules: &["age-acute"], ..Expect::default() },
    );
    // A date exactly 14 days ago may be 13 days and some hours: not chosen, both answers asked for.
    check(
        "a date exactly 14 days ago is on the line",
        with_conditions(vec![iliofemoral(14, severe)]),
        Expect { variants: &["acr-6-v1"], rules: &["age-imprecise"], missing: &["dvt-onset"], ..Expect::default() },
    );
    let at_time = |days: i64| ConditionFact {
        onset: Some(dated(&format!("{}T08:00:00Z", ago(days)), "onsetDateTime")),
        ..iliofemoral(14, severe)
    };
    check(
        "a date-time 14 days ago is not acute",
        with_conditions(vec![at_time(14)]),
        Expect {
            variants: &["acr-6-v1"],
            rules: &["age-subacute-outside-acr"],
            flags: &["lysis-thrombus-past-acr-window"],
            // AHA's class III starts at 21 days: a day-14 thrombus must not be told "over 21 days".
            not_flags: &["lysis-thrombus-over-21-days"],
            ..Expect::default()
        },
    );
    check(
        "20 days is still under 21",
        with_conditions(vec![iliofemoral(20, severe)]),
        Expect {
            variants: &["acr-6-v1"],
            flags: &["lysis-thrombus-past-acr-window"],
            not_flags: &["lysis-thrombus-over-21-days"],
            ..Expect::default()
        },
    );
    check(
        "21 days is over 21",
        with_conditions(vec![iliofemoral(21, severe)]),
        Expect {
            variants: &["acr-6-v1"],
            flags: &["lysis-thrombus-over-21-days"],
            not_flags: &["lysis-thrombus-past-acr-window"],
            ..Expect::default()
        },
    );
    // 2026-08-25 is one day short of 3 months before 2026-11-24.
    let almost = dvt(Segment::Iliofemoral, Laterality::Left).onset_days(91).severity(severe);
    assert_eq!(almost.onset.as_ref().unwrap().date.text(), "2026-08-25");
    check(
        "3 months less a day",
        with_conditions(vec![almost]),
        Expect { variants: &["acr-6-v1"], rules: &["age-subacute-outside-acr"], ..Expect::default() },
    );
    let exactly = dvt(Segment::Iliofemoral, Laterality::Left).onset_days(92).severity(severe);
    assert_eq!(exactly.onset.as_ref().unwrap().date.text(), "2026-08-24");
    check(
        "exactly 3 months is chronic",
        with_conditions(vec![exactly]),
        Expect { variants: &[], rules: &["age-chronic", "chronic-no-anticoagulation"], ..Expect::default() },
    );
    // Medications that could not be seen are not "no anticoagulant": when it began is asked for instead.
    let chronic = dvt(Segment::Iliofemoral, Laterality::Left).onset_days(92).severity(severe);
    let unseen = |part| Evidence {
        gaps: vec![DataGap { part, reason: Unobtained::Unreachable }],
        ..with_conditions(vec![chronic.clone()])
    };
    for part in [RecordPart::MedicationOrders, RecordPart::MedicationHistory] {
        check(
            "chronic, medications not seen",
            unseen(part),
            Expect {
                variants: &[],
                rules: &["age-chronic"],
                missing: &["anticoagulation-start"],
                not_rules: &["chronic-no-anticoagulation"],
                ..Expect::default()
            },
        );
    }
    check(
        "chronic, allergies not seen",
        unseen(RecordPart::Allergies),
        Expect { variants: &[], rules: &["age-chronic", "chronic-no-anticoagulation"], ..Expect::default() },
    );
}

#[test]
fn onset_falls_back_to_the_recorded_date_and_otherwise_is_asked_for() {
    let recorded = ConditionFact {
        recorded: Some(FhirDate::parse(&ago(3)).unwrap()),
        ..dvt(Segment::Iliofemoral, Laterality::Left).severity(Some(Severity::Severe))
    };
    check(
        "recordedDate",
        with_conditions(vec![recorded]),
        Expect {
            variants: &["acr-193-v2", "acr-6-v1"],
            rules: &["age-from-recorded-date", "age-acute"],
            ..Expect::default()
        },
    );
    let undated = dvt(Segment::Iliofemoral, Laterality::Left).severity(Some(Severity::Severe));
    check(
        "no date",
        with_conditions(vec![undated]),
        Expect { variants: &["acr-6-v1"], rules: &["age-unknown"], missing: &["dvt-onset"], ..Expect::default() },
    );
    let month = ConditionFact {
        onset: Some(dated("2026-11", "onsetDateTime")),
        ..dvt(Segment::Iliofemoral, Laterality::Left).severity(Some(Severity::Severe))
    };
    check(
        "month precision straddles 14 days",
        with_conditions(vec![month]),
        Expect { variants: &["acr-6-v1"], rules: &["age-imprecise"], missing: &["dvt-onset"], ..Expect::default() },
    );
}

#[test]
fn refuted_resolved_and_suspected_dvts_do_not_count() {
    let refuted = ConditionFact { verification: Verification::Refuted, ..iliofemoral(5, Some(Severity::Severe)) };
    check(
        "refuted",
        with_conditions(vec![refuted]),
        Expect {
            variants: &[],
            rules: &["dvt-not-counted-refuted"],
            not_rules: &["dvt-confirmed-active"],
            ..Expect::default()
        },
    );
    let error = ConditionFact { verification: Verification::EnteredInError, ..iliofemoral(5, Some(Severity::Severe)) };
    check(
        "entered in error",
        with_conditions(vec![error]),
        Expect { variants: &[], rules: &["dvt-not-counted-refuted"], ..Expect::default() },
    );
    let resolved =
        ConditionFact { clinical_status: ClinicalStatus::Inactive, ..iliofemoral(5, Some(Severity::Severe)) };
    check(
        "resolved",
        with_conditions(vec![resolved]),
        Expect { variants: &[], rules: &["dvt-not-counted-inactive"], ..Expect::default() },
    );
    let abated = ConditionFact { abated: true, ..iliofemoral(5, Some(Severity::Severe)) };
    check(
        "abated",
        with_conditions(vec![abated]),
        Expect { variants: &[], rules: &["dvt-not-counted-inactive"], ..Expect::default() },
    );
    let provisional = ConditionFact { verification: Verification::Suspected, ..iliofemoral(2, None) };
    check(
        "provisional, no imaging order (patient-view)",
        with_conditions(vec![provisional.clone()]),
        Expect {
            variants: &[],
            rules: &["dvt-suspected-only"],
            not_rules: &["suspected-dvt-imaging-v1"],
            ..Expect::default()
        },
    );
    let imaging = |reasons: &[Concept]| Evidence {
        conditions: vec![provisional.clone()],
        orders: vec![order(ProcedureKind::Imaging, reasons)],
        ..Evidence::default()
    };
    check(
        "provisional, imaging for suspected DVT",
        imaging(&[Concept::Dvt]),
        Expect {
            variants: &["acr-75-v1"],
            rules: &["dvt-suspected-only", "suspected-dvt-imaging-v1"],
            ..Expect::default()
        },
    );
    check(
        "provisional, imaging with no reason",
        imaging(&[]),
        Expect { variants: &[], not_rules: &["suspected-dvt-imaging-v1"], ..Expect::default() },
    );
}

#[test]
fn segment_decisions() {
    let femoral = || dvt(Segment::Femoral, Laterality::Left).onset_days(4).severity(Some(Severity::Moderate));
    check(
        "femoral alone is ambiguous",
        with_conditions(vec![femoral()]),
        Expect {
            variants: &["acr-6-v1"],
            rules: &["segment-femoral-ambiguous"],
            missing: &["dvt-segment"],
            ..Expect::default()
        },
    );
    let common = ConditionFact { body_sites: vec!["Left common femoral vein".to_owned()], ..femoral() };
    check(
        "femoral with a common femoral body site",
        with_conditions(vec![common]),
        Expect {
            variants: &["acr-193-v2", "acr-6-v1"],
            rules: &["segment-iliofemoral-body-site"],
            ..Expect::default()
        },
    );
    let popliteal = ConditionFact {
        source: source("Condition/pop"),
        ..dvt(Segment::Femoropopliteal, Laterality::Left).onset_days(4)
    };
    check(
        "femoral with a popliteal DVT",
        with_conditions(vec![femoral(), popliteal]),
        Expect {
            variants: &["acr-193-v3", "acr-6-v1"],
            rules: &["segment-femoropopliteal", "femoropopliteal-v3"],
            ..Expect::default()
        },
    );
    let severe_popliteal =
        dvt(Segment::Femoropopliteal, Laterality::Right).onset_days(4).severity(Some(Severity::Severe));
    check(
        "severe femoropopliteal",
        with_conditions(vec![severe_popliteal]),
        Expect { variants: &["acr-6-v1"], rules: &["femoropopliteal-severe-outside"], ..Expect::default() },
    );
    let old_popliteal = dvt(Segment::Femoropopliteal, Laterality::Right).onset_days(20).severity(Some(Severity::Mild));
    check(
        "femoropopliteal 20 days",
        with_conditions(vec![old_popliteal]),
        Expect { variants: &["acr-6-v1"], rules: &["femoropopliteal-not-acute"], ..Expect::default() },
    );
    let unspecified = dvt(Segment::Unspecified, Laterality::Unspecified).onset_days(4).severity(Some(Severity::Severe));
    check(
        "unspecified",
        with_conditions(vec![unspecified]),
        Expect { variants: &[], rules: &["segment-unspecified"], missing: &["dvt-segment"], ..Expect::default() },
    );
    let calf = dvt(Segment::Distal, Laterality::Left).onset_days(4);
    check(
        "distal only",
        with_conditions(vec![calf]),
        Expect { variants: &["acr-6-v3"], rules: &["segment-distal-only", "ivc-v3"], ..Expect::default() },
    );
    let cava = dvt(Segment::InferiorVenaCava, Laterality::Unspecified).onset_days(4);
    check(
        "IVC only",
        with_conditions(vec![cava]),
        Expect { variants: &["acr-6-v1"], rules: &["segment-ivc-only"], ..Expect::default() },
    );
}

#[test]
fn a_positive_duplex_naming_the_common_femoral_vein_decides_the_segment() {
    let femoral = dvt(Segment::Femoral, Laterality::Left).onset_days(4).severity(Some(Severity::Severe));
    let duplex = crate::evidence::ImagingFact {
        source: source("Observation/duplex"),
        body_sites: vec!["left common femoral vein".to_owned()],
        positive: Some(true),
        date: None,
    };
    let with_duplex = |site: &str| Evidence {
        conditions: vec![femoral.clone()],
        imaging: vec![crate::evidence::ImagingFact { body_sites: vec![site.to_owned()], ..duplex.clone() }],
        ..Evidence::default()
    };
    let iliofemoral_segment = Expect {
        variants: &["acr-193-v2", "acr-6-v1"],
        rules: &["segment-iliofemoral-body-site"],
        ..Expect::default()
    };
    check("duplex on the same leg", with_duplex("left common femoral vein"), iliofemoral_segment);
    check(
        "duplex naming no side",
        with_duplex("common femoral vein"),
        Expect { variants: &["acr-193-v2", "acr-6-v1"], ..Expect::default() },
    );
    check(
        "duplex on the other leg",
        with_duplex("Right common femoral vein"),
        Expect {
            variants: &["acr-6-v1"],
            rules: &["segment-femoral-ambiguous"],
            missing: &["dvt-segment"],
            not_rules: &["segment-iliofemoral-body-site"],
            ..Expect::default()
        },
    );
    let unsided = dvt(Segment::Femoral, Laterality::Unspecified).onset_days(4).severity(Some(Severity::Severe));
    let unsided_dvt = Evidence { conditions: vec![unsided], ..with_duplex("right common femoral vein") };
    check(
        "a DVT of unstated side",
        unsided_dvt,
        Expect {
            variants: &["acr-193-v2", "acr-6-v1"],
            rules: &["segment-iliofemoral-body-site"],
            ..Expect::default()
        },
    );
}

#[test]
fn phlegmasia_is_variant_5_whatever_the_timing() {
    let pcd = ConditionFact { matched_by: Match::Text, ..condition("Condition/pcd", Concept::PhlegmasiaCeruleaDolens) };
    check(
        "phlegmasia with a 20-day thrombus",
        with_conditions(vec![iliofemoral(20, Some(Severity::Mild)), pcd.clone()]),
        Expect {
            variants: &["acr-193-v5", "acr-6-v1"],
            rules: &["phlegmasia-v5"],
            flags: &["phlegmasia-cerulea-dolens"],
            not_rules: &["age-subacute-outside-acr"],
            ..Expect::default()
        },
    );
    let suspected = ConditionFact { verification: Verification::Suspected, ..pcd };
    check(
        "phlegmasia only suspected",
        with_conditions(vec![iliofemoral(5, Some(Severity::Severe)), suspected]),
        Expect { variants: &["acr-193-v2", "acr-6-v1"], not_rules: &["phlegmasia-v5"], ..Expect::default() },
    );
}

#[test]
fn pregnancy_by_condition_or_recent_positive_test() {
    let pregnant = condition("Condition/preg", Concept::Pregnancy);
    check(
        "pregnant, severe",
        with_conditions(vec![iliofemoral(3, Some(Severity::Severe)), pregnant.clone()]),
        Expect {
            variants: &["acr-193-v7", "acr-6-v1"],
            rules: &["pregnancy-v7"],
            flags: &["lysis-relative-pregnancy"],
            ..Expect::default()
        },
    );
    check(
        "pregnant, mild",
        with_conditions(vec![iliofemoral(3, Some(Severity::Mild)), pregnant]),
        Expect {
            variants: &["acr-193-v1", "acr-6-v1"],
            rules: &["mild-v1", "relative-contraindication-kept"],
            ..Expect::default()
        },
    );
    let test = |days| Evidence {
        conditions: vec![iliofemoral(3, Some(Severity::Severe))],
        labs: vec![lab("Observation/hcg", Lab::Hcg, LabValue::Positive, days)],
        ..Evidence::default()
    };
    check("positive hCG 30 days ago", test(30), Expect { variants: &["acr-193-v7", "acr-6-v1"], ..Expect::default() });
    check("positive hCG 31 days ago", test(31), Expect { variants: &["acr-193-v2", "acr-6-v1"], ..Expect::default() });
    let negated = Evidence {
        labs: vec![
            lab("Observation/pos", Lab::Hcg, LabValue::Positive, 10),
            lab("Observation/neg", Lab::Hcg, LabValue::Negative, 5),
        ],
        ..test(10)
    };
    check("a later negative test", negated, Expect { variants: &["acr-193-v2", "acr-6-v1"], ..Expect::default() });
}

#[test]
fn may_thurner_by_name_or_by_i87_1_on_the_left() {
    let named = ConditionFact { matched_by: Match::Text, ..condition("Condition/mt", Concept::MayThurner) };
    check(
        "named",
        with_conditions(vec![iliofemoral(6, None), named]),
        Expect { variants: &["acr-193-v4", "acr-6-v1"], rules: &["may-thurner-v4"], ..Expect::default() },
    );
    let coded = ConditionFact { matched_by: Match::UnverifiedCode, ..condition("Condition/i871", Concept::MayThurner) };
    let right = dvt(Segment::Iliofemoral, Laterality::Right).onset_days(6).severity(Some(Severity::Severe));
    check(
        "I87.1 with a right DVT",
        with_conditions(vec![right, coded.clone()]),
        Expect { variants: &["acr-193-v2", "acr-6-v1"], rules: &["may-thurner-code-not-left"], ..Expect::default() },
    );
    check(
        "I87.1 with a left DVT",
        with_conditions(vec![iliofemoral(6, Some(Severity::Severe)), coded]),
        Expect { variants: &["acr-193-v4", "acr-6-v1"], ..Expect::default() },
    );
}

#[test]
fn persistent_symptoms_after_three_months_of_anticoagulation() {
    let old = || dvt(Segment::Iliofemoral, Laterality::Left).onset_days(120).severity(Some(Severity::Moderate));
    let history =
        |medications, procedures| Evidence { conditions: vec![old()], medications, procedures, ..Evidence::default() };
    check(
        "anticoagulated 4 months",
        history(vec![anticoagulant(118)], vec![]),
        Expect { variants: &["acr-193-v6"], rules: &["persistent-v6", "age-chronic"], ..Expect::default() },
    );
    check(
        "anticoagulated 2 months",
        history(vec![anticoagulant(60)], vec![]),
        Expect { variants: &[], rules: &["chronic-anticoagulation-under-3-months"], ..Expect::default() },
    );
    check(
        "thrombus removed since",
        history(vec![anticoagulant(118)], vec![procedure(Some(ProcedureKind::Lysis), 100)]),
        Expect { variants: &[], rules: &["chronic-thrombus-removed"], ..Expect::default() },
    );
    let mild = Evidence {
        conditions: vec![old().severity(Some(Severity::Mild))],
        medications: vec![anticoagulant(118)],
        ..Evidence::default()
    };
    check("mild", mild, Expect { variants: &[], rules: &["chronic-mild"], ..Expect::default() });
    let undated = MedicationFact { start: None, ..anticoagulant(0) };
    check(
        "start not recorded",
        history(vec![undated], vec![]),
        Expect { variants: &[], missing: &["anticoagulation-start"], ..Expect::default() },
    );
    let coded_chronic = ConditionFact {
        dvt: Some(DvtCode { segment: Segment::Iliofemoral, laterality: Laterality::Left, acuity: Acuity::Chronic }),
        ..old()
    };
    let chronic = Evidence {
        conditions: vec![coded_chronic.clone()],
        medications: vec![anticoagulant(118)],
        ..Evidence::default()
    };
    check("coded chronic", chronic, Expect { variants: &["acr-193-v6"], rules: &["age-chronic"], ..Expect::default() });
}

#[test]
fn only_a_removal_done_or_under_way_counts_against_variant_6() {
    let old = dvt(Segment::Iliofemoral, Laterality::Left).onset_days(120).severity(Some(Severity::Moderate));
    let with = |procedure: ProcedureFact| Evidence {
        conditions: vec![old.clone()],
        medications: vec![anticoagulant(118)],
        procedures: vec![procedure],
        ..Evidence::default()
    };
    for status in ["not-done", "entered-in-error", "preparation"] {
        check(status, with(cdt_procedure(status, 100)), Expect { variants: &["acr-193-v6"], ..Expect::default() });
    }
    for status in ["completed", "in-progress"] {
        check(
            status,
            with(cdt_procedure(status, 100)),
            Expect { variants: &[], rules: &["chronic-thrombus-removed"], ..Expect::default() },
        );
    }
}

#[test]
fn three_months_of_anticoagulation_count_from_the_dvt_not_from_an_older_prescription() {
    let chronic_code = |onset: Option<i64>| {
        let condition = ConditionFact {
            dvt: Some(DvtCode { segment: Segment::Iliofemoral, laterality: Laterality::Left, acuity: Acuity::Chronic }),
            ..dvt(Segment::Iliofemoral, Laterality::Left).severity(Some(Severity::Moderate))
        };
        match onset {
            Some(days) => condition.onset_days(days),
            None => condition,
        }
    };
    let on_warfarin_for_years = |conditions, procedures| Evidence {
        conditions,
        medications: vec![anticoagulant(1500)],
        procedures,
        ..Evidence::default()
    };
    check(
        "coded chronic, onset 40 days ago",
        on_warfarin_for_years(vec![chronic_code(Some(40))], vec![]),
        Expect { variants: &[], rules: &["chronic-anticoagulation-under-3-months"], ..Expect::default() },
    );
    check(
        "coded chronic, no onset: when this DVT's treatment began is not known",
        on_warfarin_for_years(vec![chronic_code(None)], vec![]),
        Expect { variants: &[], missing: &["anticoagulation-start"], ..Expect::default() },
    );
    check(
        "a removal before this DVT does not count",
        on_warfarin_for_years(vec![chronic_code(Some(120))], vec![cdt_procedure("completed", 600)]),
        Expect { variants: &["acr-193-v6"], rules: &["persistent-v6"], ..Expect::default() },
    );
}

#[test]
fn not_otherwise_healthy_leaves_variants_1_to_3() {
    let cancer = condition("Condition/ca", Concept::ActiveCancer);
    check(
        "active cancer",
        with_conditions(vec![iliofemoral(5, Some(Severity::Severe)), cancer]),
        Expect { variants: &["acr-6-v1"], rules: &["not-otherwise-healthy-cancer"], ..Expect::default() },
    );
    let stroke = ConditionFact {
        clinical_status: ClinicalStatus::Inactive,
        ..condition("Condition/stroke", Concept::IschemicStroke).onset_days(35)
    };
    check(
        "ischaemic stroke 5 weeks ago",
        with_conditions(vec![iliofemoral(5, Some(Severity::Severe)), stroke]),
        Expect {
            variants: &["acr-6-v1"],
            rules: &["not-otherwise-healthy-lysis-contraindication"],
            flags: &["lysis-absolute-recent-cerebrovascular-event"],
            ..Expect::default()
        },
    );
    let old_stroke = ConditionFact {
        clinical_status: ClinicalStatus::Inactive,
        ..condition("Condition/stroke", Concept::IschemicStroke).onset_days(200)
    };
    check(
        "stroke 200 days ago",
        with_conditions(vec![iliofemoral(5, Some(Severity::Severe)), old_stroke]),
        Expect { variants: &["acr-193-v2", "acr-6-v1"], ..Expect::default() },
    );
    let undated_stroke = condition("Condition/stroke", Concept::IschemicStroke);
    check(
        "stroke with no date",
        with_conditions(vec![iliofemoral(5, Some(Severity::Severe)), undated_stroke]),
        Expect { variants: &["acr-6-v1"], missing: &["contraindication-date"], ..Expect::default() },
    );
}

#[test]
fn a_relative_contraindication_keeps_the_variant_and_warns() {
    let evidence = Evidence {
        conditions: vec![iliofemoral(5, Some(Severity::Severe))],
        labs: vec![
            lab("Observation/sbp", Lab::SystolicBp, number(192.0), 1),
            lab("Observation/egfr", Lab::Egfr, number(48.0), 2),
        ],
        allergies: vec![AllergyFact {
            source: source("AllergyIntolerance/c"),
            class: AllergyClass::Contrast,
            active: true,
        }],
        ..Evidence::default()
    };
    check(
        "hypertension, low eGFR, contrast allergy",
        evidence,
        Expect {
            variants: &["acr-193-v2", "acr-6-v1"],
            rules: &["relative-contraindication-kept"],
            flags: &[
                "lysis-relative-uncontrolled-hypertension",
                "lysis-relative-renal-failure",
                "egfr-below-60",
                "contrast-allergy",
                "lysis-relative-allergy",
            ],
            ..Expect::default()
        },
    );
    let stale = Evidence {
        conditions: vec![iliofemoral(5, Some(Severity::Severe))],
        labs: vec![lab("Observation/sbp", Lab::SystolicBp, number(192.0), 8)],
        ..Evidence::default()
    };
    let assessment = classify_now(&stale);
    assert!(assessment.safety.is_empty(), "a blood pressure 8 days old is not current: {:?}", assessment.safety);
}

#[test]
fn contraindications_to_anticoagulation_bring_in_filter_variant_2() {
    let evidence = Evidence {
        conditions: vec![iliofemoral(5, Some(Severity::Severe))],
        labs: vec![lab("Observation/plt", Lab::Platelets, number(40.0), 1)],
        ..Evidence::default()
    };
    check(
        "platelets 40",
        evidence,
        Expect {
            variants: &["acr-6-v2"],
            rules: &["ivc-v2", "not-otherwise-healthy-lysis-contraindication"],
            // The same count is not repeated as a relative contraindication once it is an absolute one.
            flags: &["anticoagulation-low-platelets", "lysis-absolute-anticoagulation-contraindicated"],
            ..Expect::default()
        },
    );
    let ich = ConditionFact {
        clinical_status: ClinicalStatus::Inactive,
        ..condition("Condition/ich", Concept::IntracranialHemorrhage).onset_days(2000)
    };
    check(
        "old intracranial haemorrhage",
        with_conditions(vec![iliofemoral(5, Some(Severity::Severe)), ich]),
        Expect {
            variants: &["acr-6-v2"],
            flags: &["anticoagulation-intracranial-hemorrhage-history", "lysis-absolute-intracranial-hemorrhage"],
            ..Expect::default()
        },
    );
}

#[test]
fn planned_catheter_directed_lysis_is_filter_variant_6() {
    let with = |orders, procedures| Evidence {
        conditions: vec![iliofemoral(5, Some(Severity::Severe))],
        orders,
        procedures,
        ..Evidence::default()
    };
    check(
        "CDT ordered",
        with(vec![order_of("cdt-pmt", ProcedureKind::Lysis)], vec![]),
        Expect {
            variants: &["acr-193-v2", "acr-6-v6"],
            rules: &["ivc-v6"],
            missing: &["recent-platelets", "recent-egfr"],
            ..Expect::default()
        },
    );
    check(
        "CDT under way",
        with(vec![], vec![cdt_procedure("in-progress", 0)]),
        Expect { variants: &["acr-193-v2", "acr-6-v6"], rules: &["ivc-v6"], ..Expect::default() },
    );
    check(
        "CDT done",
        with(vec![], vec![cdt_procedure("completed", 1)]),
        Expect { variants: &["acr-193-v2", "acr-6-v1"], not_rules: &["ivc-v6"], ..Expect::default() },
    );
    for id in ["systemic-thrombolysis", "thrombolytic-drug"] {
        check(
            id,
            with(vec![order_of(id, ProcedureKind::Lysis)], vec![]),
            Expect { variants: &["acr-193-v2", "acr-6-v1"], not_rules: &["ivc-v6"], ..Expect::default() },
        );
    }
    let systemic = ProcedureFact {
        procedures: vec![ProcedureId::new("systemic-thrombolysis")],
        ..cdt_procedure("in-progress", 0)
    };
    check(
        "systemic thrombolysis under way",
        with(vec![], vec![systemic]),
        Expect { variants: &["acr-193-v2", "acr-6-v1"], not_rules: &["ivc-v6"], ..Expect::default() },
    );
}

#[test]
fn imaging_for_suspected_dvt_is_the_imaging_topic() {
    let evidence =
        Evidence { orders: vec![order(ProcedureKind::Imaging, &[Concept::LegEdema])], ..Evidence::default() };
    check(
        "duplex for leg swelling",
        evidence,
        Expect { variants: &["acr-75-v1"], rules: &["suspected-dvt-imaging-v1"], ..Expect::default() },
    );
    let no_reason = Evidence { orders: vec![order(ProcedureKind::Imaging, &[])], ..Evidence::default() };
    check("imaging with no reason", no_reason, Expect { variants: &[], ..Expect::default() });
    let confirmed = Evidence {
        conditions: vec![iliofemoral(5, Some(Severity::Severe))],
        orders: vec![order(ProcedureKind::Imaging, &[Concept::Dvt])],
        ..Evidence::default()
    };
    check(
        "imaging when DVT is confirmed",
        confirmed,
        Expect { variants: &["acr-193-v2", "acr-6-v1"], not_rules: &["suspected-dvt-imaging-v1"], ..Expect::default() },
    );
}

/// What frames an order no variant rates (its card cites that topic): a confirmed DVT's iliofemoral topic,
/// whether or not a variant of it applies, else the suspected-DVT imaging topic.
#[test]
fn the_framing_topic_follows_what_the_record_confirms() {
    let unmapped = |reasons: &[Concept]| OrderFact { kind: None, ..order(ProcedureKind::Other, reasons) };
    let suspected_only = Evidence { orders: vec![unmapped(&[Concept::Dvt])], ..Evidence::default() };
    let assessment = classify_now(&suspected_only);
    assert!(assessment.variants.is_empty());
    assert_eq!(assessment.framing_topic(), 75);
    let duplex_for_swelling =
        Evidence { orders: vec![order(ProcedureKind::Imaging, &[Concept::LegEdema])], ..Evidence::default() };
    assert_eq!(classify_now(&duplex_for_swelling).framing_topic(), 75);
    let confirmed = Evidence {
        conditions: vec![iliofemoral(5, Some(Severity::Severe))],
        orders: vec![unmapped(&[Concept::Dvt])],
        ..Evidence::default()
    };
    assert_eq!(classify_now(&confirmed).framing_topic(), 193);
    let confirmed_no_variant = Evidence {
        conditions: vec![ConditionFact { onset: None, ..iliofemoral(5, Some(Severity::Severe)) }],
        orders: vec![unmapped(&[Concept::Dvt])],
        ..Evidence::default()
    };
    let assessment = classify_now(&confirmed_no_variant);
    assert_eq!(assessment.variant_of_topic(193), None, "{:?}", assessment.variants);
    assert_eq!(assessment.framing_topic(), 193);
    let refuted = Evidence {
        conditions: vec![ConditionFact { verification: Verification::Refuted, ..iliofemoral(5, None) }],
        orders: vec![unmapped(&[Concept::Dvt])],
        ..Evidence::default()
    };
    assert_eq!(classify_now(&refuted).framing_topic(), 75);
}

#[test]
fn a_recent_unknown_procedure_asks_whether_it_was_major_surgery() {
    let evidence = Evidence {
        conditions: vec![iliofemoral(5, Some(Severity::Severe))],
        procedures: vec![procedure(None, 6)],
        ..Evidence::default()
    };
    let assessment = classify_now(&evidence);
    let review = assessment.safety.iter().find(|hit| hit.flag == "review-recent-procedure").unwrap();
    assert_eq!(review.class, FlagClass::Review);
    assert_eq!(assessment.variants, [Variant::Acr193V2, Variant::Acr6V1], "a review flag changes no variant");
}

#[test]
fn heparin_with_hit_warns_but_does_not_contraindicate_anticoagulation() {
    let hit = condition("Condition/hit", Concept::HeparinInducedThrombocytopenia);
    let heparin =
        OrderFact { group: Some(crate::evidence::DrugGroup::Heparin), ..order(ProcedureKind::Anticoagulation, &[]) };
    let evidence = Evidence {
        conditions: vec![iliofemoral(5, Some(Severity::Severe)), hit],
        orders: vec![heparin],
        ..Evidence::default()
    };
    check(
        "heparin with HIT",
        evidence,
        Expect {
            variants: &["acr-193-v2", "acr-6-v1"],
            flags: &["heparin-with-hit", "lysis-relative-thrombocytopenia-diagnosis"],
            ..Expect::default()
        },
    );
}

#[test]
fn unavailable_and_unreadable_data_are_part_of_the_answer() {
    let gap = DataGap {
        part: RecordPart::LabsAndBloodPressure,
        reason: Unobtained::Deadline(std::time::Duration::from_secs(2)),
    };
    let unreadable = Unreadable {
        location: "Observation/x".to_owned(),
        problem: UnreadableProblem::Json { kind: JsonProblem::Data, line: 1, column: 9 },
    };
    let evidence = Evidence {
        conditions: vec![iliofemoral(5, Some(Severity::Severe))],
        gaps: vec![gap.clone()],
        unreadable: vec![unreadable.clone()],
        ..Evidence::default()
    };
    let assessment = classify_now(&evidence);
    assert_eq!(assessment.unobtained, [gap]);
    let details: Vec<&MissingDetail> = assessment.missing.iter().map(|m| &m.detail).collect();
    assert_eq!(details, [&MissingDetail::UnreadableResource(unreadable)]);
}

#[test]
fn every_rule_and_fact_is_explained() {
    let assessment = classify_now(&with_conditions(vec![iliofemoral(5, Some(Severity::Severe))]));
    for hit in &assessment.rules {
        assert!(!hit.facts.is_empty(), "{} has no facts", hit.id.id());
    }
    let fact = &assessment.evidence[0];
    assert_eq!(fact.resource, "Condition/dvt");
    assert!(
        matches!(fact.kind, FactKind::Condition { concept: Concept::Dvt, severity: Some(Severity::Severe), .. }),
        "{fact:?}"
    );
    let date = fact.date.as_ref().map(|dated| (dated.date.text(), dated.element));
    assert_eq!(date, Some(("2026-11-19", "onsetDateTime")));
}

/// A draft order `id` (`ServiceRequest/id`) of the knowledge procedure `procedure`.
fn draft(id: &str, procedure: &str, kind: ProcedureKind) -> OrderFact {
    OrderFact { source: source(&format!("ServiceRequest/{id}")), ..order_of(procedure, kind) }
}

fn verdict_of<'a>(assessment: &'a Assessment, order: &str) -> &'a OrderVerdict {
    assessment.orders.iter().find(|verdict| verdict.order == order).unwrap()
}

fn phlegmasia() -> ConditionFact {
    condition("Condition/phlegmasia", Concept::PhlegmasiaCeruleaDolens).onset_days(1)
}

fn pregnancy() -> ConditionFact {
    condition("Condition/pregnancy", Concept::Pregnancy).onset_days(100)
}

#[test]
fn an_absolute_contraindication_voids_a_lysis_rating_in_variants_without_otherwise_healthy() {
    let stroke = condition("Condition/stroke", Concept::IschemicStroke).onset_days(40);
    let evidence = Evidence {
        conditions: vec![iliofemoral(2, Some(Severity::Severe)), phlegmasia(), stroke],
        orders: vec![draft("pmt", "cdt-pmt", ProcedureKind::Lysis)],
        ..Evidence::default()
    };
    let assessment = classify_now(&evidence);
    assert_eq!(assessment.variant_of_topic(193), Some(Variant::Acr193V5));
    let verdict = verdict_of(&assessment, "ServiceRequest/pmt");
    assert!(matches!(verdict.rating, OrderRating::Withheld { variant: Some(Variant::Acr193V5), .. }), "{verdict:?}");
    assert_eq!(verdict.pama, Some(Pama::NoCriteriaApply));
    assert_eq!(verdict.indicator, Urgency::Critical);
    // ACR's alternative for a patient who cannot have lysis, with its rating in the patient's variant.
    assert_eq!(
        verdict.instead,
        vec![Instead {
            procedure: ProcedureId::SURGICAL_THROMBECTOMY,
            rated: Some((Variant::Acr193V5, Category::UsuallyAppropriate))
        }]
    );
    assert!(assessment.contraindicated.contains(&ProcedureKind::Lysis));
}

#[test]
fn suggestions_never_offer_a_contraindicated_procedure_nor_recommend_a_cautioned_one() {
    let apixaban = || OrderFact {
        group: Some(DrugGroup::Doac),
        ..draft("apixaban", "anticoagulation", ProcedureKind::Anticoagulation)
    };
    // Phlegmasia, anticoagulation alone: CDT/PMT and surgical thrombectomy are rated higher.
    let plain = classify_now(&Evidence {
        conditions: vec![iliofemoral(2, Some(Severity::Severe)), phlegmasia()],
        orders: vec![apixaban()],
        ..Evidence::default()
    });
    let offered = |assessment: &Assessment| -> Vec<(String, bool)> {
        verdict_of(assessment, "ServiceRequest/apixaban")
            .alternatives
            .iter()
            .map(|s| (s.procedure.as_str().to_owned(), s.recommended))
            .collect()
    };
    assert_eq!(offered(&plain), vec![("cdt-pmt".to_owned(), true), ("surgical-thrombectomy".to_owned(), false)]);
    assert!(verdict_of(&plain, "ServiceRequest/apixaban").alternatives.iter().all(|s| s.adds));

    // Pregnancy is a relative contraindication to lysis: CDT/PMT is still offered, never recommended.
    let pregnant = classify_now(&Evidence {
        conditions: vec![iliofemoral(2, Some(Severity::Severe)), phlegmasia(), pregnancy()],
        orders: vec![apixaban()],
        ..Evidence::default()
    });
    assert_eq!(offered(&pregnant), vec![("cdt-pmt".to_owned(), false), ("surgical-thrombectomy".to_owned(), true)]);

    // GI haemorrhage is an absolute one: CDT/PMT is not offered at all.
    let bleeding = condition("Condition/gi-bleed", Concept::GiBleeding).onset_days(1);
    let apixaban_with_bleeding = classify_now(&Evidence {
        conditions: vec![iliofemoral(2, Some(Severity::Severe)), phlegmasia(), bleeding],
        orders: vec![apixaban()],
        ..Evidence::default()
    });
    // Anticoagulation itself is contraindicated too, so nothing is suggested in its place.
    let verdict = verdict_of(&apixaban_with_bleeding, "ServiceRequest/apixaban");
    assert!(verdict.alternatives.is_empty(), "{verdict:?}");
    assert!(matches!(verdict.rating, OrderRating::Withheld { .. }));
}

#[test]
fn the_draft_orders_are_one_plan() {
    let evidence = Evidence {
        conditions: vec![iliofemoral(4, Some(Severity::Severe)), phlegmasia()],
        orders: vec![
            draft("pmt", "cdt-pmt", ProcedureKind::Lysis),
            draft("stent", "venous-stent", ProcedureKind::VenousStent),
            OrderFact {
                group: Some(DrugGroup::Heparin),
                ..draft("heparin", "anticoagulation", ProcedureKind::Anticoagulation)
            },
        ],
        ..Evidence::default()
    };
    let assessment = classify_now(&evidence);
    let pmt = verdict_of(&assessment, "ServiceRequest/pmt");
    let stent = verdict_of(&assessment, "ServiceRequest/stent");
    let heparin = verdict_of(&assessment, "ServiceRequest/heparin");
    // "CDT/PMT with or without stent placement": the stent shares the removal's rating.
    assert_eq!(stent.rating, pmt.rating);
    assert_eq!(stent.rated_with.as_deref(), Some("ServiceRequest/pmt"));
    // Heparin with PMT is not "anticoagulation alone" (usually not appropriate in variant 5).
    assert_eq!(heparin.rating, OrderRating::WithRemoval);
    assert_eq!(heparin.pama, None);
    assert_eq!(heparin.with_removal, vec!["ServiceRequest/pmt".to_owned()]);
    // Nothing already drafted is suggested again.
    assert!(pmt.alternatives.is_empty() && heparin.alternatives.is_empty());
}

#[test]
fn drug_specific_contraindications() {
    let hit = condition("Condition/hit", Concept::HeparinInducedThrombocytopenia).onset_days(2);
    let enoxaparin = OrderFact {
        group: Some(DrugGroup::Heparin),
        ..draft("enoxaparin", "anticoagulation", ProcedureKind::Anticoagulation)
    };
    let with_hit = classify_now(&Evidence {
        conditions: vec![iliofemoral(3, Some(Severity::Moderate)), hit],
        orders: vec![enoxaparin],
        ..Evidence::default()
    });
    let verdict = verdict_of(&with_hit, "ServiceRequest/enoxaparin");
    assert_eq!(verdict.indicator, Urgency::Critical);
    assert_eq!(verdict.pama, Some(Pama::NoCriteriaApply));

    let apixaban = OrderFact {
        group: Some(DrugGroup::Doac),
        ..draft("apixaban", "anticoagulation", ProcedureKind::Anticoagulation)
    };
    let pregnant = classify_now(&Evidence {
        conditions: vec![iliofemoral(3, Some(Severity::Severe)), pregnancy()],
        orders: vec![apixaban],
        ..Evidence::default()
    });
    let verdict = verdict_of(&pregnant, "ServiceRequest/apixaban");
    // The ACR category stands (anticoagulation is usually appropriate in variant 7), with a warning.
    assert_eq!(verdict.rating.category(), Some(Category::UsuallyAppropriate));
    assert_eq!(verdict.indicator, Urgency::Warning);
    assert_eq!(
        verdict.findings,
        vec![Finding { flag: FlagId::new("oral-anticoagulant-in-pregnancy"), effect: Effect::Cautions, certain: true }]
    );
}

#[test]
fn orders_outside_every_variant_for_a_dvt_patient_say_why() {
    let cases = [
        ("subacute", vec![iliofemoral(30, Some(Severity::Severe))], Rule::AgeSubacuteOutsideAcr),
        (
            "provisional",
            vec![ConditionFact { verification: Verification::Suspected, ..iliofemoral(2, Some(Severity::Severe)) }],
            Rule::DvtSuspectedOnly,
        ),
    ];
    for (name, conditions, rule) in cases {
        let assessment = classify_now(&Evidence {
            conditions,
            orders: vec![draft("cdt", "cdt-pmt", ProcedureKind::Lysis)],
            ..Evidence::default()
        });
        let verdict = verdict_of(&assessment, "ServiceRequest/cdt");
        assert!(verdict.notes.contains(&rule), "{name}: {verdict:?}");
        assert_eq!(verdict.pama, Some(Pama::NoCriteriaApply), "{name}");
        assert_eq!(verdict.indicator, Urgency::Warning, "{name}");
    }
    // A stand-alone stent over an acute thrombus: no table rates it, and the verdict says so.
    let stent = classify_now(&Evidence {
        conditions: vec![iliofemoral(4, Some(Severity::Severe))],
        orders: vec![draft("stent", "venous-stent", ProcedureKind::VenousStent)],
        ..Evidence::default()
    });
    let verdict = verdict_of(&stent, "ServiceRequest/stent");
    assert_eq!((&verdict.rating, verdict.notes.as_slice()), (&OrderRating::NotRated, &[Rule::StentWithoutRemoval][..]));
    // The same stent with no DVT on record stays silent.
    let no_dvt = classify_now(&Evidence {
        orders: vec![draft("stent", "venous-stent", ProcedureKind::VenousStent)],
        ..Evidence::default()
    });
    assert!(verdict_of(&no_dvt, "ServiceRequest/stent").notes.is_empty());
}

#[test]
fn an_ivc_filter_code_is_rated_when_both_devices_share_a_pama_code() {
    let filter = || draft("filter", "ivc-filter-retrievable", ProcedureKind::IvcFilter);
    let both = |order: OrderFact| OrderFact {
        procedures: vec![ProcedureId::IVC_FILTER_RETRIEVABLE, ProcedureId::new("ivc-filter-permanent")],
        ..order
    };
    // Variant 1 (anticoagulation possible): retrievable may be, permanent usually not appropriate.
    let v1 = classify_now(&Evidence {
        conditions: vec![iliofemoral(3, Some(Severity::Moderate))],
        orders: vec![both(filter())],
        ..Evidence::default()
    });
    let verdict = verdict_of(&v1, "ServiceRequest/filter");
    assert!(matches!(verdict.rating, OrderRating::Ambiguous { variant: Variant::Acr6V1, .. }), "{verdict:?}");
    assert_eq!(verdict.pama, None);
    assert!(verdict.notes.contains(&Rule::FilterAnticoagulationPossible));
    assert_eq!(verdict.indicator, Urgency::Warning);
    // Variant 2 (anticoagulation contraindicated): both devices are "appropriate".
    let bleeding = condition("Condition/gi-bleed", Concept::GiBleeding).onset_days(1);
    let v2 = classify_now(&Evidence {
        conditions: vec![iliofemoral(3, Some(Severity::Moderate)), bleeding],
        orders: vec![both(filter())],
        ..Evidence::default()
    });
    let verdict = verdict_of(&v2, "ServiceRequest/filter");
    assert!(matches!(verdict.rating, OrderRating::Rated { variant: Variant::Acr6V2, .. }), "{verdict:?}");
    assert_eq!(verdict.pama, Some(Pama::Appropriate));
    assert_eq!(verdict.rating.category(), None, "the devices' categories differ");
}
