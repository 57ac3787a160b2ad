use super::*;
use crate::classify::Variant::*;
use crate::evidence::{Laterality, Segment};
use crate::ids::ProcedureId;

fn knowledge() -> KnowledgeBase {
    KnowledgeBase::embedded().unwrap()
}

const UA: &str = "usually-appropriate";
const MBA: &str = "may-be-appropriate";
const MBAD: &str = "may-be-appropriate-disagreement";
const UNA: &str = "usually-not-appropriate";

/// Every procedure row of every variant, as `../shared/reference/acr-iliofemoral.md` §1.2 and §1.5 give them.
#[rustfmt::skip]
const REFERENCE: &[(Variant, &[(&str, &str)])] = &[
    (Acr193V1, &[("anticoagulation", UA), ("compression-stockings", MBA), ("cdt-pmt", UNA), ("surgical-thrombectomy", UNA)]),
    (Acr193V2, &[("anticoagulation", UA), ("cdt-pmt", UA), ("surgical-thrombectomy", MBA)]),
    (Acr193V3, &[("anticoagulation", UA), ("compression-stockings", MBA), ("cdt-pmt", UNA)]),
    (Acr193V4, &[("cdt-pmt", UA), ("anticoagulation", MBA), ("surgical-thrombectomy", MBA)]),
    (Acr193V5, &[("cdt-pmt", UA), ("surgical-thrombectomy", UA), ("systemic-thrombolysis", MBA), ("anticoagulation", UNA)]),
    (Acr193V6, &[("anticoagulation", MBA), ("cdt-pmt", MBA), ("compression-stockings", MBA), ("surgical-thrombectomy", MBAD)]),
    (Acr193V7, &[("anticoagulation", UA), ("cdt-pmt", MBA), ("compression-stockings", MBA), ("surgical-thrombectomy", MBA)]),
    (Acr6V1, &[("anticoagulation", UA), ("ivc-filter-retrievable", MBA), ("ivc-filter-permanent", UNA)]),
    (Acr6V2, &[("ivc-filter-retrievable", UA), ("ivc-filter-permanent", MBA)]),
    (Acr6V3, &[("observation-serial-imaging", UA), ("anticoagulation", MBA), ("ivc-filter-permanent", UNA), ("ivc-filter-retrievable", UNA)]),
    (Acr6V4, &[("anticoagulation", UA), ("pulmonary-thromboendarterectomy", UA), ("balloon-pulmonary-angioplasty", MBA), ("ivc-filter-permanent", MBA), ("ivc-filter-retrievable", MBA)]),
    (Acr6V5, &[("intermittent-pneumatic-compression", UA), ("prophylactic-anticoagulation", UA), ("ivc-filter-retrievable", MBA), ("surveillance-us", MBA), ("ivc-filter-permanent", UNA)]),
    (Acr6V6, &[("anticoagulation", UA), ("ivc-filter-retrievable", MBA), ("ivc-filter-permanent", UNA)]),
    (Acr6V7, &[("venography-at-retrieval", UA), ("us-duplex-before-retrieval", MBA), ("ct-venography-before-retrieval", UNA)]),
    (Acr6V8, &[("venography-at-retrieval", UA), ("us-duplex-before-retrieval", MBAD), ("ct-venography-before-retrieval", UNA)]),
    (Acr6V9, &[("ivc-filter-advanced-retrieval", UA), ("ivc-filter-convert-permanent", MBA), ("ivc-filter-surgical-retrieval", UNA)]),
    (Acr75V1, &[("us-duplex", UA), ("mrv-with-and-without-contrast", MBA), ("mrv-without-contrast", MBA), ("ct-venography", MBA), ("catheter-venography", UNA)]),
];

#[test]
fn every_acr_row_matches_the_reference_tables() {
    let knowledge = knowledge();
    for (variant, expected) in REFERENCE {
        let rows = &knowledge.variant(*variant).unwrap().rows;
        let actual: Vec<(&str, &str)> = rows.iter().map(|row| (row.procedure.as_str(), row.category.id())).collect();
        assert_eq!(&actual, expected, "{variant}");
    }
    assert_eq!(REFERENCE.len(), Variant::ALL.len());
}

#[test]
fn variant_wording_and_radiation_levels_are_acr_s_own() {
    let knowledge = knowledge();
    assert_eq!(
        knowledge.variant(Acr193V2).unwrap().text,
        "Acute iliofemoral DVT with moderate to severe symptoms present for less than 14 days, otherwise healthy."
    );
    assert_eq!(
        knowledge.rating(Acr193V1, &ProcedureId::new("surgical-thrombectomy")).unwrap().wording,
        "Surgical thrombectomy techniques"
    );
    assert_eq!(
        knowledge.rating(Acr193V4, &ProcedureId::new("surgical-thrombectomy")).unwrap().wording,
        "Hybrid surgical thrombectomy with stenting"
    );
    assert_eq!(knowledge.rating(Acr193V3, &ProcedureId::new("cdt-pmt")).unwrap().wording, "CDT/PMT");
    assert_eq!(knowledge.rating(Acr75V1, &ProcedureId::new("us-duplex")).unwrap().rrl, "O 0 mSv");
    assert_eq!(knowledge.rating(Acr75V1, &ProcedureId::new("ct-venography")).unwrap().rrl, "☢☢☢ 1-10 mSv");
    assert_eq!(knowledge.rating(Acr193V2, &ProcedureId::new("cdt-pmt")).unwrap().rrl, "unknown");
    assert_eq!(knowledge.topic(193).unwrap().url, "https://acsearch.acr.org/docs/3082663/Narrative/");
}

#[test]
fn icd_10_cm_codes_match_with_or_without_the_dot_and_prefixes_match_families() {
    let knowledge = knowledge();
    for code in ["I82.422", "i82422", " I82.422 "] {
        let matches = knowledge.concepts_for_code(ICD10CM, code);
        let dvt = matches[0].dvt.unwrap();
        assert_eq!((dvt.segment, dvt.laterality), (Segment::Iliofemoral, Laterality::Left), "{code}");
    }
    assert_eq!(knowledge.concepts_for_code(ICD10CM, "I82.411")[0].dvt.unwrap().segment, Segment::Femoral);
    assert_eq!(knowledge.concepts_for_code(ICD10CM, "C50.912")[0].concept, Concept::ActiveCancer);
    assert_eq!(knowledge.concepts_for_code(ICD10CM, "I63.512")[0].concept, Concept::IschemicStroke);
    assert_eq!(knowledge.concepts_for_code(ICD10CM, "Z3A.32")[0].concept, Concept::Pregnancy);
    let both: Vec<Concept> = knowledge.concepts_for_code(ICD10CM, "O22.31").iter().map(|m| m.concept).collect();
    assert_eq!(both, [Concept::Dvt, Concept::Pregnancy]);
    assert!(knowledge.concepts_for_code(SNOMED, "I82.422").is_empty(), "codes are per system");
    assert_eq!(knowledge.concepts_for_code(ICD10CM, "I87.1")[0].matched_by, Match::UnverifiedCode);
    assert_eq!(knowledge.concepts_for_text("Left leg PHLEGMASIA CERULEA DOLENS"), [Concept::PhlegmasiaCeruleaDolens]);
    assert!(knowledge.concepts_for_text("phlegmasia alba dolens").is_empty());
}

#[test]
fn order_codes_map_to_their_procedures() {
    let knowledge = knowledge();
    assert_eq!(knowledge.procedures_for_code(CPT, "37212"), ["cdt-pmt"]);
    assert_eq!(knowledge.procedures_for_code(CPT, "37191"), ["ivc-filter-retrievable", "ivc-filter-permanent"]);
    assert_eq!(
        knowledge.procedures_for_code(LOINC, "36079-2"),
        ["mrv-with-and-without-contrast", "mrv-without-contrast"]
    );
    assert_eq!(knowledge.procedures_for_code(RXNORM, "1364445"), ["anticoagulation"]);
    assert_eq!(knowledge.procedures_for_code(RXNORM, "8410"), ["thrombolytic-drug"]);
    assert!(knowledge.procedures_for_code(CPT, "72133").is_empty());
    assert_eq!(
        knowledge.medication("854228"),
        Some((MedicationClass::Anticoagulant, Some(crate::evidence::DrugGroup::Heparin)))
    );
    assert_eq!(knowledge.medication("1191"), Some((MedicationClass::Antiplatelet, None)));
    assert_eq!(knowledge.procedure(&ProcedureId::new("cdt-pmt")).unwrap().order_code.as_ref().unwrap().code, "37212");
    assert_eq!(knowledge.procedure(&ProcedureId::new("us-duplex")).unwrap().order_code.as_ref().unwrap().code, "93970");
    assert_eq!(knowledge.topics_rating(&ProcedureId::new("anticoagulation")), [193, 6]);
    assert_eq!(knowledge.display(LOINC, "777-3"), Some("Platelets [#/volume] in Blood by Automated count"));
}

#[test]
fn only_unsourced_thresholds_can_be_configured() {
    let configured = KnowledgeBase::embedded_with(&[("lysis-platelets-below".to_owned(), 80.0)]).unwrap();
    let trigger = configured
        .criteria()
        .flags
        .iter()
        .find(|flag| flag.id == "lysis-relative-low-platelets")
        .map(|flag| flag.triggers[0].clone())
        .unwrap();
    assert_eq!(trigger, crate::classify::Trigger::LabBelow { lab: Lab::Platelets, threshold: 80.0 });
    let fixed = KnowledgeBase::embedded_with(&[("egfr-below".to_owned(), 30.0)]).unwrap_err();
    assert!(fixed.to_string().contains("fixed by source S11"), "{fixed}");
    assert!(KnowledgeBase::embedded_with(&[("nope".to_owned(), 1.0)]).is_err());
}

type Edit = Box<dyn FnOnce(&mut Files)>;

/// The embedded files with one of them edited.
fn edited(edit: impl FnOnce(&mut Files)) -> Result<KnowledgeBase, KnowledgeError> {
    let mut files = Files::embedded();
    edit(&mut files);
    load::load(&files, &[])
}

#[test]
fn broken_knowledge_is_refused_with_the_file_and_the_row() {
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|f| f.acr = f.acr.replace("id = \"acr-193-v7\"", "id = \"acr-193-v8\"")),
            "unknown variant `acr-193-v8`",
        ),
        (
            Box::new(|f| f.acr = f.acr.replace("procedure = \"compression-stockings\"", "procedure = \"stockings\"")),
            "rates unknown procedure `stockings`",
        ),
        (
            Box::new(|f| {
                f.acr = f.acr.replace("category = \"may-be-appropriate-disagreement\"", "category = \"maybe\"")
            }),
            "unknown category `maybe`",
        ),
        (
            Box::new(|f| {
                let start = f.acr.find("[[variant]]\nid = \"acr-75-v1\"").unwrap();
                f.acr.truncate(start);
            }),
            "variant `acr-75-v1` has no rows",
        ),
        (
            Box::new(|f| f.labs = f.labs.replace("{ code = \"8462-4\"", "{ code = \"8480-6\"")),
            "LOINC `8480-6` is listed for two labs",
        ),
        (
            Box::new(|f| f.labs = f.labs.replace(", hand_made = \"in no published value set for this test\"", "")),
            "a hand-made row says why",
        ),
        (
            Box::new(|f| {
                for (_, text) in &mut f.value_sets {
                    *text = text.replace(
                        "id = \"tia\"\ndescription = \"Transient ischaemic attack\"\ncodes = [\n",
                        "id = \"tia\"\ndescription = \"Transient ischaemic attack\"\ncodes = [\n  { system = \"icd-10-cm\", code = \"G45.9\", display = \"TIA\", status = \"V\", source = \"S8\", hand_made = \"x\" },\n",
                    );
                }
            }),
            "concept `tia` lists code `G45.9` twice (or a published set has it)",
        ),
        (
            Box::new(|f| {
                for (_, text) in &mut f.value_sets {
                    *text = text
                        .replace("{ system = \"snomed\", code = \"95449003\"", "{ system = \"snomed\", code = \"1\"");
                }
            }),
            "published DVT code `95449003` has no segment, side and acuity row",
        ),
        (
            Box::new(|f| {
                for (_, text) in &mut f.value_sets {
                    *text = text.replace("source = \"S8\", hand_made = \"no published value set holds gastrointestinal haemorrhage (K92.x; value-sets README, Not found)\" },\n  { system = \"icd-10-cm\", code = \"K92.1\"", "source = \"S8\" },\n  { system = \"icd-10-cm\", code = \"K92.1\"");
                }
            }),
            "code `K92.0`: in no published set, so it says why",
        ),
        (
            Box::new(|f| f.published = f.published.replacen("id = \"dvt\"", "id = \"dvt-ish\"", 1)),
            "unknown concept `dvt-ish`",
        ),
        (
            Box::new(|f| f.published = f.published.replacen("[\"rxnorm\", \"1037045\"", "[\"loinc\", \"1037045\"", 1)),
            "`1037045` is not RxNorm",
        ),
        (
            Box::new(|f| f.published = f.published.replacen("source = \"S7\"", "source = \"S77\"", 1)),
            "unknown source `S77`",
        ),
        (
            Box::new(|f| f.thresholds = f.thresholds.replace("source = \"S18\"", "source = \"S99\"")),
            "unknown source `S99`",
        ),
        (
            Box::new(|f| f.safety = f.safety.replace("\"active-bleeding\"", "\"bleeding\"")),
            "unknown concept `bleeding`",
        ),
        (Box::new(|f| f.value_sets.retain(|(file, _)| !file.ends_with("dvt.toml"))), "concept `dvt` has no value set"),
        (
            Box::new(|f| {
                f.thresholds.push_str(
                    "\n[[threshold]]\nid = \"unused\"\nvalue = 1\nunit = \"days\"\nmeaning = \"x\"\nsource = \"LOCAL\"\n",
                )
            }),
            "threshold `unused` is read by no rule or flag",
        ),
        (
            Box::new(|f| f.thresholds = f.thresholds.replace("value = 3\n", "value = -3\n")),
            "threshold `persistent-months` must be a number of months",
        ),
        (Box::new(|f| f.procedures.push_str("\nbogus = 1\n")), "procedures.toml"),
        (Box::new(|f| f.plan = f.plan.replace("at least 3 months", "<b>3</b> months")), "card text must not contain"),
    ];
    for (edit, expected) in cases {
        let error = edited(edit).unwrap_err().to_string();
        assert!(error.contains(expected), "expected `{expected}` in: {error}");
    }
}

/// Every error names its line: one found in reading the file (an unknown id or kind) the line of the value,
/// one found by the checks the line of the row's `[[...]]` header, and one found across rows (a threshold
/// nothing reads) the line of the row it found wanting.
#[test]
fn an_error_in_a_row_names_the_file_and_the_line() {
    let files = Files::embedded();
    let line_of = |text: &str, needle: &str| text[..text.find(needle).unwrap()].matches('\n').count() + 1;
    let row_line = |text: &str, needle: &str| {
        let header = text[..text.find(needle).unwrap()].rfind("\n[[").unwrap() + 1;
        text[..header].matches('\n').count() + 1
    };
    let unused = "\n[[threshold]]\nid = \"unused\"\nvalue = 1\nunit = \"days\"\nmeaning = \"x\"\nsource = \"LOCAL\"\n";
    let cases: Vec<(Edit, String)> = vec![
        (
            Box::new(|f| f.acr = f.acr.replace("id = \"acr-193-v7\"", "id = \"acr-193-v8\"")),
            format!(
                "knowledge file `acr.toml`, line {}: unknown variant `acr-193-v8`; known: acr-193-v1,",
                line_of(&files.acr, "id = \"acr-193-v7\"")
            ),
        ),
        (
            Box::new(|f| f.thresholds = f.thresholds.replace("source = \"S18\"", "source = \"S99\"")),
            format!("knowledge file `thresholds.toml`, line {}: ", row_line(&files.thresholds, "source = \"S18\"")),
        ),
        (
            Box::new(|f| f.safety = f.safety.replace("\"active-bleeding\"", "\"bleeding\"")),
            format!(
                "knowledge file `safety.toml`, line {}: unknown concept `bleeding`",
                line_of(&files.safety, "\"active-bleeding\"")
            ),
        ),
        (
            Box::new(|f| f.procedures = f.procedures.replacen("kind = \"anticoagulation\"", "kind = \"pills\"", 1)),
            format!(
                "knowledge file `procedures.toml`, line {}: unknown variant `pills`",
                line_of(&files.procedures, "kind = \"anticoagulation\"")
            ),
        ),
        (
            Box::new(|f| f.safety = f.safety.replacen("window = \"days:", "window = \"weeks:", 1)),
            format!(
                "knowledge file `safety.toml`, line {}: window `weeks:",
                line_of(&files.safety, "window = \"days:")
            ),
        ),
        (
            Box::new(|f| f.procedures = f.procedures.replacen("status = \"V\"", "status = \"maybe\"", 1)),
            format!(
                "knowledge file `procedures.toml`, line {}: unknown variant `maybe`",
                line_of(&files.procedures, "status = \"V\"")
            ),
        ),
        (
            Box::new(|f| f.published = f.published.replacen("[\"rxnorm\", ", "[\"loinc\", ", 1)),
            format!(
                "knowledge file `value-sets/published.toml`, line {}: value set `",
                row_line(&files.published, "[\"rxnorm\", ")
            ),
        ),
        (
            Box::new(move |f| f.thresholds.push_str(unused)),
            format!(
                "knowledge file `thresholds.toml`, line {}: threshold `unused` is read by no rule or flag",
                files.thresholds.matches('\n').count() + 2
            ),
        ),
    ];
    for (edit, expected) in cases {
        let error = edited(edit).unwrap_err().to_string();
        assert!(error.starts_with(&expected), "expected `{expected}`, got: {error}");
    }
}

#[test]
fn derived_flags_come_after_the_flags_they_read() {
    let knowledge = knowledge();
    let flags = &knowledge.criteria().flags;
    let derived = |flag: &crate::classify::FlagRule| {
        flag.triggers.iter().any(|t| matches!(t, crate::classify::Trigger::AnticoagulationContraindicated))
    };
    let first_derived = flags.iter().position(derived).unwrap();
    assert!(flags[..first_derived].iter().any(|f| f.class == crate::classify::FlagClass::Anticoagulation));
    assert!(flags[first_derived..].iter().all(derived), "{:?}", flags.iter().map(|f| &f.id).collect::<Vec<_>>());
}
