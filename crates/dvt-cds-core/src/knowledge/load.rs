//! Loading and validating the knowledge files.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::de::DeserializeOwned;

use super::files::{self, CodeRow, ConditionStatus, Files, PublishedTarget, TriggerRow};
use super::{
    CodeStatus, CodeSystem, ConceptMatch, Interpretation, KnowledgeBase, KnowledgeError, OrderCode, PlanItem,
    Procedure, PublishedValueSet, Rating, Source, Unchecked, VariantRows, normalize,
};
use crate::classify::{
    AcrRow, AcrTables, Applies, Criteria, FlagRule, PreLysisLab, ProcedureInfo, Thresholds, Trigger, Variant,
    VariantTable, Window,
};
use crate::evidence::{Concept, DrugGroup, DvtCode, Lab, Match, MedicationClass};
use crate::ids::ProcedureId;

/// Checks that a row cites a source `sources.toml` lists: `(file, what, source)`.
type Cite<'a> = dyn Fn(&str, &str, &str) -> Result<(), KnowledgeError> + 'a;
/// A threshold's value by id (noting that it was read).
type Threshold<'a> = dyn Fn(&str) -> Result<f64, KnowledgeError> + 'a;
/// The display of every code the files list, by (system URI, normalised code).
type Displays = HashMap<(String, String), String>;
/// The procedures an order code means, by (system URI, normalised code).
type ProcedureCodes = HashMap<(String, String), Vec<ProcedureId>>;

/// Every knowledge file, each by its own function below, in the order their references need:
/// sources first (every row cites one), procedures before the ratings and medications that name them.
pub(super) fn load(files: &Files, overrides: &[(String, f64)]) -> Result<KnowledgeBase, KnowledgeError> {
    let sources = sources(&files.sources)?;
    let cite = |file: &str, what: &str, source: &str| -> Result<(), KnowledgeError> {
        if sources.contains_key(source) {
            Ok(())
        } else {
            invalid(file, format!("{what} cites unknown source `{source}`"))
        }
    };
    let mut displays = Displays::new();

    // Procedures first: ratings refer to them.
    let procedures_file: files::ProceduresFile = parse("procedures.toml", &files.procedures)?;
    let medications_file: files::MedicationsFile = parse("medications.toml", &files.medications)?;
    let (procedures, mut procedure_codes, medication_procedures) =
        procedures(&files.procedures, procedures_file, &cite, &mut displays)?;
    let published: files::PublishedFile = parse("value-sets/published.toml", &files.published)?;
    let value_sets = published_sets(&files.published, &published, &cite)?;
    let (medications, medication_names) = medications(
        &files.medications,
        &medications_file,
        &published,
        &medication_procedures,
        &cite,
        &mut displays,
        &mut procedure_codes,
    )?;
    let (topics, variants) = acr(&files.acr, &procedures, &cite)?;
    let conditions = conditions(&files.value_sets, &published, &cite, &mut displays)?;
    let labs_file: files::LabsFile = parse("labs.toml", &files.labs)?;
    let labs = labs(&files.labs, &labs_file, &published, &cite, &mut displays)?;
    let thresholds = thresholds(&files.thresholds, overrides, &cite)?;
    // Every threshold read is noted: a row nothing reads is refused (it would claim a rule that is not there).
    let read = RefCell::new(BTreeSet::new());
    let value = |id: &str| -> Result<f64, KnowledgeError> {
        read.borrow_mut().insert(id.to_owned());
        thresholds
            .get(id)
            .map(|(_, t)| t.value)
            .ok_or_else(|| error("thresholds.toml", format!("threshold `{id}` is missing")))
    };
    let criteria_thresholds = criteria_thresholds(&value)?;
    let (flags, unchecked, applies, prelysis) = safety(&files.safety, &cite, &value, &labs.labs)?;
    if let Some((unread, (line, _))) = thresholds.iter().find(|(id, _)| !read.borrow().contains(id.as_str())) {
        return Err(KnowledgeError::Invalid {
            file: "thresholds.toml".to_owned(),
            line: Some(*line),
            message: format!("threshold `{unread}` is read by no rule or flag"),
        });
    }
    let plan = plan(&files.plan, &cite)?;

    let Labs { labs, lab_units, lab_factors, egfr_equation } = labs;
    let Conditions { condition_codes, condition_prefixes, condition_texts, text_only, concept_counts } = conditions;

    let interpretation = Interpretation {
        positive_codes: labs_file.interpretation.positive_codes,
        negative_codes: labs_file.interpretation.negative_codes,
        positive_texts: labs_file.interpretation.positive_texts.iter().map(|t| t.to_lowercase()).collect(),
        negative_texts: labs_file.interpretation.negative_texts.iter().map(|t| t.to_lowercase()).collect(),
    };
    let procedure_topics = super::procedure_topics(&variants);
    let acr_tables = acr_tables(&variants, &procedures, &procedure_topics);
    Ok(KnowledgeBase {
        sources,
        topics,
        variants,
        procedure_topics,
        procedures,
        procedure_codes,
        condition_codes,
        condition_prefixes,
        condition_texts,
        text_only,
        concept_counts,
        value_sets,
        medications,
        medication_names,
        thrombolytic_allergy_codes: medications_file
            .allergy
            .thrombolytic_allergy_snomed
            .into_iter()
            .map(|c| c.code)
            .collect(),
        contrast_texts: medications_file.allergy.contrast_texts.iter().map(|t| t.to_lowercase()).collect(),
        labs,
        lab_units,
        lab_factors,
        egfr_equation,
        displays,
        blood_pressure_panels: labs_file.panel.blood_pressure.iter().map(|panel| panel.code.clone()).collect(),
        interpretation,
        unchecked,
        plan,
        criteria: Criteria { thresholds: criteria_thresholds, flags, applies, prelysis, acr: acr_tables },
    })
}

fn sources(text: &str) -> Result<BTreeMap<String, Source>, KnowledgeError> {
    let sources_file: files::SourcesFile = parse("sources.toml", text)?;

    let mut sources = BTreeMap::new();
    for row in sources_file.source {
        let line = line_of(text, &row);
        let row = row.into_inner();
        at("sources.toml", line, || {
            let source = Source {
                id: row.id.clone(),
                short: row.short,
                citation: row.citation,
                supports: row.supports,
                status: row.status,
            };
            if sources.insert(row.id.clone(), source).is_some() {
                return invalid("sources.toml", format!("source `{}` is defined twice", row.id));
            }
            Ok(())
        })?;
    }
    Ok(sources)
}

/// `procedures.toml`: the procedures by id, the procedures each order code means, and the procedures a
/// medication class's orders mean.
#[expect(clippy::type_complexity, reason = "three results, each named by its binding in `load`")]
fn procedures(
    text: &str,
    procedures_file: files::ProceduresFile,
    cite: &Cite,
    displays: &mut Displays,
) -> Result<(BTreeMap<ProcedureId, Procedure>, ProcedureCodes, Vec<(MedicationClass, ProcedureId)>), KnowledgeError> {
    let mut procedures = BTreeMap::new();
    let mut procedure_codes = ProcedureCodes::new();
    let mut medication_procedures: Vec<(MedicationClass, ProcedureId)> = Vec::new();

    for row in procedures_file.procedure {
        let line = line_of(text, &row);
        let row = row.into_inner();
        at("procedures.toml", line, || {
            let file = "procedures.toml";
            let mut seen = HashSet::new();
            for code in &row.codes {
                cite(file, &format!("procedure `{}` code `{}`", row.id, code.code), &code.source)?;
                let system = code.system.uri();
                let key = (system.to_owned(), normalize(system, &code.code));
                if !seen.insert(key.clone()) {
                    return invalid(file, format!("procedure `{}` lists code `{}` twice", row.id, code.code));
                }
                displays.entry(key.clone()).or_insert_with(|| code.display.clone());
                procedure_codes.entry(key).or_default().push(row.id.clone());
            }
            if let Some(class) = row.medication_class {
                medication_procedures.push((class, row.id.clone()));
            }
            // Propose a procedure with a verified code only: CPT first, then SNOMED CT.
            let order_code = [CodeSystem::Cpt, CodeSystem::Snomed].into_iter().find_map(|system| {
                row.codes.iter().find(|code| code.system == system && code.status == CodeStatus::V).map(|code| {
                    OrderCode {
                        system: system.uri().to_owned(),
                        code: code.code.clone(),
                        display: code.display.clone(),
                    }
                })
            });
            let procedure = Procedure {
                id: row.id.clone(),
                short: row.short,
                display: row.display,
                kind: row.kind,
                contrast: row.contrast,
                order_code,
            };
            if procedures.insert(row.id.clone(), procedure).is_some() {
                return invalid(file, format!("procedure `{}` is defined twice", row.id));
            }
            Ok(())
        })?;
    }
    if let Some(missing) = ProcedureId::NAMED_IN_CODE.iter().find(|id| !procedures.contains_key(*id)) {
        return invalid(
            "procedures.toml",
            format!("procedure `{missing}`, which the classifier names, is not defined"),
        );
    }
    Ok((procedures, procedure_codes, medication_procedures))
}

/// `value-sets/published.toml` (generated): the sets, each for a known concept, medication class or lab.
fn published_sets(
    text: &str,
    published: &files::PublishedFile,
    cite: &Cite,
) -> Result<Vec<PublishedValueSet>, KnowledgeError> {
    let mut value_sets = Vec::new();
    for set in &published.value_set {
        let line = line_of(text, set);
        let set = set.get_ref();
        at("value-sets/published.toml", line, || {
            let file = "value-sets/published.toml";
            cite(file, &format!("value set `{}`", set.oid), &set.source)?;
            if set.codes.is_empty() || set.codes.len() > set.published {
                return invalid(file, format!("value set `{}` for `{}`: codes do not fit its size", set.oid, set.id));
            }
            // Medications are read by their RxNorm code and labs by their LOINC code only.
            let system =
                match served(set).map_err(|message| error(file, format!("value set `{}`: {message}", set.oid)))? {
                    Served::Concept(_) => None,
                    Served::Medication(_) => Some(CodeSystem::RxNorm),
                    Served::Lab(_) => Some(CodeSystem::Loinc),
                };
            if let Some(system) = system
                && let Some((_, code, _)) = set.codes.iter().find(|(other, _, _)| *other != system)
            {
                return invalid(file, format!("value set `{}`: `{code}` is not {}", set.oid, system.name()));
            }
            value_sets.push(PublishedValueSet {
                target: set.target.id().to_owned(),
                id: set.id.clone(),
                file: set.file.clone(),
                title: set.title.clone(),
                oid: set.oid.clone(),
                version: set.version.clone(),
                repository: set.repository.clone(),
                commit: set.commit.clone(),
                path: set.path.clone(),
                kept: set.codes.len(),
                published: set.published,
            });
            Ok(())
        })?;
    }
    Ok(value_sets)
}

/// What a published set serves, its `id` read as its `target` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Served {
    Concept(Concept),
    Medication(MedicationClass),
    Lab(Lab),
}

fn served(set: &files::PublishedSet) -> Result<Served, String> {
    use serde::Deserialize;
    use serde::de::value::{Error, StrDeserializer};
    let id = StrDeserializer::<Error>::new(&set.id);
    let read = match set.target {
        PublishedTarget::Concept => Concept::deserialize(id).map(Served::Concept),
        PublishedTarget::Medication => MedicationClass::deserialize(id).map(Served::Medication),
        PublishedTarget::Lab => Lab::deserialize(id).map(Served::Lab),
    };
    read.map_err(|error| error.to_string())
}

/// The published codes for what a set serves, with the set each comes from.
fn published_for(
    published: &files::PublishedFile,
    target: Served,
) -> Vec<(&files::PublishedSet, &(CodeSystem, String, String))> {
    published
        .value_set
        .iter()
        .map(files::Row::get_ref)
        .filter(|set| served(set) == Ok(target))
        .flat_map(|set| set.codes.iter().map(move |code| (set, code)))
        .collect()
}

/// `medications.toml`: RxNorm codes by class (published sets, then the hand-made rows); an order for one
/// means the class's procedure.
#[expect(clippy::type_complexity, reason = "two results, each named by its binding in `load`")]
fn medications(
    text: &str,
    medications_file: &files::MedicationsFile,
    published: &files::PublishedFile,
    medication_procedures: &[(MedicationClass, ProcedureId)],
    cite: &Cite,
    displays: &mut Displays,
    procedure_codes: &mut ProcedureCodes,
) -> Result<(HashMap<String, (MedicationClass, Option<DrugGroup>)>, Vec<(String, MedicationClass)>), KnowledgeError> {
    let mut medications = HashMap::new();
    let mut medication_names: Vec<(String, MedicationClass)> = Vec::new();
    for class_row in &medications_file.class {
        let line = line_of(text, class_row);
        let class_row = class_row.get_ref();
        at("medications.toml", line, || {
            let file = "medications.toml";
            let class = class_row.id;
            let mut class_codes: Vec<(String, String, Option<DrugGroup>)> = Vec::new();
            for (set, (_, code, display)) in published_for(published, Served::Medication(class)) {
                if !class_codes.iter().any(|(known, _, _)| known == code) {
                    let group = if set.heparins.contains(code) {
                        Some(DrugGroup::Heparin)
                    } else if set.vkas.contains(code) {
                        Some(DrugGroup::Vka)
                    } else if set.doacs.contains(code) {
                        Some(DrugGroup::Doac)
                    } else {
                        None
                    };
                    class_codes.push((code.clone(), display.clone(), group));
                }
            }
            for code in &class_row.codes {
                cite(file, &format!("RxNorm `{}`", code.code), &code.source)?;
                if code.hand_made.is_none() {
                    return invalid(file, format!("RxNorm `{}`: a hand-made row says why (`hand_made`)", code.code));
                }
                if class_codes.iter().any(|(known, _, _)| *known == code.code) {
                    return invalid(file, format!("RxNorm `{}` is in a published set already", code.code));
                }
                class_codes.push((code.code.clone(), code.display.clone(), code.group));
            }
            for (code, display, group) in class_codes {
                for name in medication_names_of(&display) {
                    if !medication_names.iter().any(|(known, _)| *known == name) {
                        medication_names.push((name, class));
                    }
                }
                displays.insert((super::RXNORM.to_owned(), code.clone()), display);
                if medications.insert(code.clone(), (class, group)).is_some() {
                    return invalid(file, format!("RxNorm `{code}` is listed in two classes"));
                }
                for (procedure_class, procedure) in medication_procedures {
                    if *procedure_class == class {
                        procedure_codes
                            .entry((super::RXNORM.to_owned(), code.clone()))
                            .or_default()
                            .push(procedure.clone());
                    }
                }
            }
            Ok(())
        })?;
    }
    for code in &medications_file.allergy.thrombolytic_allergy_snomed {
        cite("medications.toml", &format!("SNOMED CT `{}`", code.code), &code.source)?;
        displays.insert((super::SNOMED.to_owned(), code.code.clone()), code.display.clone());
    }
    cite("medications.toml", "contrast_texts", &medications_file.allergy.contrast_texts_source)?;
    Ok((medications, medication_names))
}

/// `acr.toml`: the ACR topics and variants, each rating only procedures `procedures.toml` defines.
#[expect(clippy::type_complexity, reason = "two results, each named by its binding in `load`")]
fn acr(
    text: &str,
    procedures: &BTreeMap<ProcedureId, Procedure>,
    cite: &Cite,
) -> Result<(BTreeMap<u32, super::Topic>, BTreeMap<Variant, VariantRows>), KnowledgeError> {
    let acr: files::AcrFile = parse("acr.toml", text)?;

    let mut topics = BTreeMap::new();
    for topic in acr.topic {
        let line = line_of(text, &topic);
        let topic = topic.into_inner();
        at("acr.toml", line, || {
            cite("acr.toml", &format!("topic {}", topic.id), &topic.source)?;
            topics.insert(topic.id, topic);
            Ok(())
        })?;
    }
    let mut variants = BTreeMap::new();
    for row in acr.variant {
        let line = line_of(text, &row);
        let row = row.into_inner();
        at("acr.toml", line, || {
            let file = "acr.toml";
            let variant = row.id;
            cite(file, &format!("variant `{}`", row.id), &row.source)?;
            plain(file, &format!("variant `{}`", row.id), &format!("{} {}", row.short, row.text))?;
            if !topics.contains_key(&variant.topic()) {
                return invalid(file, format!("variant `{}` belongs to no listed topic", row.id));
            }
            if row.rows.is_empty() {
                return invalid(file, format!("variant `{}` has no procedure rows", row.id));
            }
            let mut rows = Vec::new();
            for rating in row.rows {
                if !procedures.contains_key(&rating.procedure) {
                    return invalid(
                        file,
                        format!("variant `{}` rates unknown procedure `{}`", row.id, rating.procedure),
                    );
                }
                if rows.iter().any(|r: &Rating| r.procedure == rating.procedure) {
                    return invalid(file, format!("variant `{}` rates `{}` twice", row.id, rating.procedure));
                }
                if let Some(unknown) = rating.covers.iter().find(|id| !procedures.contains_key(*id)) {
                    return invalid(
                        file,
                        format!("variant `{}` row `{}` covers unknown procedure `{unknown}`", row.id, rating.procedure),
                    );
                }
                rows.push(Rating {
                    procedure: rating.procedure,
                    wording: rating.wording,
                    category: rating.category,
                    rrl: rating.rrl,
                    covers: rating.covers,
                });
            }
            let rows = VariantRows { variant, short: row.short, text: row.text, source: row.source, rows };
            if variants.insert(variant, rows).is_some() {
                return invalid(file, format!("variant `{}` is defined twice", row.id));
            }
            Ok(())
        })?;
    }
    if let Some(missing) = Variant::ALL.iter().find(|variant| !variants.contains_key(variant)) {
        return invalid("acr.toml", format!("variant `{missing}` has no rows"));
    }
    Ok((topics, variants))
}

/// What the value-set files say about conditions.
struct Conditions {
    condition_codes: HashMap<(String, String), Vec<ConceptMatch>>,
    condition_prefixes: Vec<(String, String, ConceptMatch)>,
    condition_texts: Vec<(String, Concept)>,
    text_only: Vec<(String, Concept)>,
    concept_counts: HashMap<Concept, usize>,
}

/// `value-sets/*.toml`: each concept's codes are those of its published sets plus its hand-made rows. In the
/// DVT file a row without `hand_made` gives the segment, side and acuity of a published DVT code.
fn conditions(
    value_set_files: &[(String, String)],
    published: &files::PublishedFile,
    cite: &Cite,
    displays: &mut Displays,
) -> Result<Conditions, KnowledgeError> {
    let mut condition_codes: HashMap<(String, String), Vec<ConceptMatch>> = HashMap::new();
    let mut condition_prefixes = Vec::new();
    let mut condition_texts = Vec::new();
    let mut text_only = Vec::new();
    let mut concept_counts: HashMap<Concept, usize> = HashMap::new();
    let mut concepts_seen = BTreeSet::new();
    for (file, text) in value_set_files {
        let value_sets: files::ValueSetFile = parse(file, text)?;
        for row in value_sets.concept {
            let line = line_of(text, &row);
            let row = row.into_inner();
            at(file, line, || {
                let concept = row.id;
                if !concepts_seen.insert(concept) {
                    return invalid(file, format!("concept `{}` is defined twice", row.id));
                }
                let published_codes = published_for(published, Served::Concept(concept));
                if row.codes.is_empty() && row.texts.is_empty() && published_codes.is_empty() {
                    return invalid(file, format!("concept `{}` has neither codes nor texts", row.id));
                }
                if !row.texts.is_empty() {
                    let source = row.texts_source.as_deref().unwrap_or_default();
                    cite(file, &format!("concept `{}` texts", row.id), source)?;
                    condition_texts.extend(row.texts.iter().map(|text| (text.to_lowercase(), concept)));
                }
                if !row.text_only.is_empty() {
                    let source = row.text_only_source.as_deref().unwrap_or_default();
                    cite(file, &format!("concept `{}` text_only", row.id), source)?;
                    text_only.extend(row.text_only.iter().map(|text| (text.to_lowercase(), concept)));
                }
                // (system, normalised code) → (row, display, source) for every code of the concept.
                let mut seen: HashSet<(&'static str, String)> = HashSet::new();
                let mut rows: Vec<(CodeRow, bool)> = Vec::new();
                for (set, (system, code, display)) in &published_codes {
                    let uri = system.uri();
                    if !seen.insert((uri, normalize(uri, code))) {
                        continue;
                    }
                    let annotation = row.codes.iter().find(|hand| {
                        hand.hand_made.is_none()
                            && hand.system == *system
                            && normalize(uri, &hand.code) == normalize(uri, code)
                    });
                    if concept == Concept::Dvt && annotation.is_none() {
                        return invalid(
                            file,
                            format!("published DVT code `{code}` has no segment, side and acuity row"),
                        );
                    }
                    rows.push((
                        CodeRow {
                            system: *system,
                            code: code.clone(),
                            display: display.clone(),
                            prefix: false,
                            segment: annotation.and_then(|a| a.segment),
                            laterality: annotation.and_then(|a| a.laterality),
                            acuity: annotation.and_then(|a| a.acuity),
                            status: CodeStatus::V,
                            source: set.source.clone(),
                            hand_made: None,
                        },
                        true,
                    ));
                }
                for code in &row.codes {
                    let system = code.system.uri();
                    let normalized = normalize(system, &code.code);
                    if code.hand_made.is_none() {
                        if concept == Concept::Dvt && seen.contains(&(system, normalized)) {
                            continue;
                        }
                        return invalid(
                            file,
                            format!(
                                "concept `{}` code `{}`: in no published set, so it says why (`hand_made`)",
                                row.id, code.code
                            ),
                        );
                    }
                    if !seen.insert((system, normalized)) {
                        return invalid(
                            file,
                            format!(
                                "concept `{}` lists code `{}` twice (or a published set has it)",
                                row.id, code.code
                            ),
                        );
                    }
                    rows.push((code.clone(), false));
                }
                concept_counts.insert(concept, rows.len());
                for (code, _published) in &rows {
                    cite(file, &format!("concept `{}` code `{}`", row.id, code.code), &code.source)?;
                    let system = code.system.uri();
                    let normalized = normalize(system, &code.code);
                    if !code.prefix {
                        displays.entry((system.to_owned(), normalized.clone())).or_insert_with(|| code.display.clone());
                    }
                    let matched = ConceptMatch {
                        concept,
                        dvt: dvt_code(file, concept, code)?,
                        matched_by: if code.status == CodeStatus::U { Match::UnverifiedCode } else { Match::Code },
                    };
                    if code.prefix {
                        if system != super::ICD10CM {
                            return invalid(
                                file,
                                format!("prefix `{}`: only ICD-10-CM codes may be prefixes", code.code),
                            );
                        }
                        condition_prefixes.push((system.to_owned(), normalized, matched));
                    } else {
                        condition_codes.entry((system.to_owned(), normalized)).or_default().push(matched);
                    }
                }
                Ok(())
            })?;
        }
    }
    if let Some(missing) = Concept::ALL.iter().find(|concept| !concepts_seen.contains(concept)) {
        return invalid("value-sets", format!("concept `{}` has no value set", missing.id()));
    }
    Ok(Conditions { condition_codes, condition_prefixes, condition_texts, text_only, concept_counts })
}

/// What `labs.toml` says, besides the panels and interpretations `load` reads from the file itself.
struct Labs {
    labs: HashMap<String, Lab>,
    lab_units: HashMap<Lab, String>,
    lab_factors: HashMap<(Lab, String), f64>,
    egfr_equation: super::EgfrEquation,
}

/// `labs.toml`: each lab's codes (published sets, then hand-made rows), units and factors; the panels; the
/// eGFR equation.
fn labs(
    text: &str,
    labs_file: &files::LabsFile,
    published: &files::PublishedFile,
    cite: &Cite,
    displays: &mut Displays,
) -> Result<Labs, KnowledgeError> {
    let mut labs = HashMap::new();
    let mut lab_units = HashMap::new();
    let mut lab_factors = HashMap::new();
    for row in &labs_file.lab {
        let line = line_of(text, row);
        let row = row.get_ref();
        at("labs.toml", line, || {
            let file = "labs.toml";
            let lab = row.id;
            lab_units.insert(lab, row.unit.clone());
            for unit in &row.units {
                cite(file, &format!("lab `{}` unit `{}`", row.id, unit.unit), &unit.source)?;
                if !(unit.factor.is_finite() && unit.factor > 0.0) {
                    return invalid(file, format!("lab `{}` unit `{}`: the factor must be above 0", row.id, unit.unit));
                }
                if lab_factors.insert((lab, super::unit_key(&unit.unit)), unit.factor).is_some() {
                    return invalid(file, format!("lab `{}` lists unit `{}` twice", row.id, unit.unit));
                }
            }
            let mut lab_codes: Vec<(String, String)> = Vec::new();
            for (_, (_, code, display)) in published_for(published, Served::Lab(lab)) {
                if !lab_codes.iter().any(|(known, _)| known == code) {
                    lab_codes.push((code.clone(), display.clone()));
                }
            }
            for code in &row.codes {
                cite(file, &format!("LOINC `{}`", code.code), &code.source)?;
                if code.hand_made.is_none() {
                    return invalid(file, format!("LOINC `{}`: a hand-made row says why (`hand_made`)", code.code));
                }
                if lab_codes.iter().any(|(known, _)| *known == code.code) {
                    return invalid(file, format!("LOINC `{}` is in a published set already", code.code));
                }
                lab_codes.push((code.code.clone(), code.display.clone()));
            }
            for (code, display) in lab_codes {
                displays.insert((super::LOINC.to_owned(), code.clone()), display);
                if labs.insert(code.clone(), lab).is_some() {
                    return invalid(file, format!("LOINC `{code}` is listed for two labs"));
                }
            }
            Ok(())
        })?;
    }
    if let Some(missing) = Lab::ALL.iter().find(|lab| !lab_units.contains_key(lab)) {
        return invalid("labs.toml", format!("lab `{}` has no codes", missing.id()));
    }
    for panel in &labs_file.panel.blood_pressure {
        cite("labs.toml", &format!("blood pressure panel `{}`", panel.code), &panel.source)?;
        displays.insert((super::LOINC.to_owned(), panel.code.clone()), panel.display.clone());
    }
    cite("labs.toml", "interpretation", &labs_file.interpretation.source)?;
    cite("labs.toml", "egfr_from_creatinine", &labs_file.egfr_from_creatinine.source)?;
    let equation = &labs_file.egfr_from_creatinine;
    let egfr_equation = super::EgfrEquation {
        constant: equation.constant,
        exponent_above: equation.exponent_above,
        age_base: equation.age_base,
        female_factor: equation.female_factor,
        kappa_female: equation.kappa_female,
        kappa_male: equation.kappa_male,
        alpha_female: equation.alpha_female,
        alpha_male: equation.alpha_male,
        minimum_age: equation.minimum_age,
    };
    Ok(Labs { labs, lab_units, lab_factors, egfr_equation })
}

/// `thresholds.toml` by id, each with the line of its row, with the configured values (`overrides`) for the
/// ones no source fixes.
fn thresholds(
    text: &str,
    overrides: &[(String, f64)],
    cite: &Cite,
) -> Result<BTreeMap<String, (usize, files::ThresholdRow)>, KnowledgeError> {
    let thresholds_file: files::ThresholdsFile = parse("thresholds.toml", text)?;

    let mut thresholds: BTreeMap<String, (usize, files::ThresholdRow)> = BTreeMap::new();
    for row in thresholds_file.threshold {
        let line = line_of(text, &row);
        let row = row.into_inner();
        at("thresholds.toml", line, || {
            cite("thresholds.toml", &format!("threshold `{}`", row.id), &row.source)?;
            let id = row.id.clone();
            if thresholds.insert(id.clone(), (line, row)).is_some() {
                return invalid("thresholds.toml", format!("threshold `{id}` is defined twice"));
            }
            Ok(())
        })?;
    }
    // The ids an override may name, for the message when it names another.
    let configurable: Vec<String> =
        thresholds.values().filter(|(_, row)| row.source == "LOCAL").map(|(_, row)| format!("`{}`", row.id)).collect();
    for (id, value) in overrides {
        let (_, threshold) = thresholds.get_mut(id).ok_or_else(|| KnowledgeError::Override {
            id: id.clone(),
            message: format!("no such threshold; those that can be set are {}", configurable.join(", ")),
        })?;
        if threshold.source != "LOCAL" {
            return Err(KnowledgeError::Override {
                id: id.clone(),
                message: format!("it is fixed by source {} and cannot be configured", threshold.source),
            });
        }
        if !value.is_finite() || *value < 0.0 {
            return Err(KnowledgeError::Override { id: id.clone(), message: "must be a number >= 0".to_owned() });
        }
        threshold.value = *value;
    }
    Ok(thresholds)
}

/// The thresholds the classifier compares against.
fn criteria_thresholds(value: &Threshold) -> Result<Thresholds, KnowledgeError> {
    let whole = |id: &str| -> Result<i64, KnowledgeError> { Ok(value(id)?.round() as i64) };
    let persistent_months = u32::try_from(whole("persistent-months")?).map_err(|_| {
        error("thresholds.toml", "threshold `persistent-months` must be a number of months >= 0".to_owned())
    })?;
    Ok(Thresholds {
        acute_days: whole("acute-days")?,
        persistent_months,
        pregnancy_test_days: whole("pregnancy-test-days")?,
        pregnancy_max_days: whole("pregnancy-max-days")?,
        lab_current_days: whole("lab-current-days")?,
        vital_current_days: whole("vital-current-days")?,
        systolic_above: value("systolic-above")?,
        diastolic_above: value("diastolic-above")?,
    })
}

/// `safety.toml`: the flags (in the order the classifier evaluates them), the contraindications no code can
/// show, which orders each class concerns, and the results every lysis card shows.
#[expect(clippy::type_complexity, reason = "four results, each named by its binding in `load`")]
fn safety(
    text: &str,
    cite: &Cite,
    value: &Threshold,
    labs: &HashMap<String, Lab>,
) -> Result<(Vec<FlagRule>, Vec<Unchecked>, Vec<Applies>, Vec<PreLysisLab>), KnowledgeError> {
    let safety: files::SafetyFile = parse("safety.toml", text)?;

    let mut flags = Vec::new();
    for row in safety.flag {
        let line = line_of(text, &row);
        let row = row.into_inner();
        at("safety.toml", line, || {
            let file = "safety.toml";
            cite(file, &format!("flag `{}`", row.id), &row.source)?;
            if row.triggers.is_empty() {
                return invalid(file, format!("flag `{}` has no trigger", row.id));
            }
            let triggers = row
                .triggers
                .iter()
                .map(|trigger| parse_trigger(row.id.as_str(), trigger, value))
                .collect::<Result<Vec<_>, _>>()?;
            plain(file, &format!("flag `{}`", row.id), &row.label)?;
            if flags.iter().any(|f: &FlagRule| f.id == row.id) {
                return invalid(file, format!("flag `{}` is defined twice", row.id));
            }
            let short = match row.short {
                Some(short) => short,
                None => row.label.split([':', ';']).next().unwrap_or(&row.label).trim().to_owned(),
            };
            plain(file, &format!("flag `{}`", row.id), &short)?;
            flags.push(FlagRule {
                id: row.id,
                class: row.class,
                label: row.label,
                short,
                source: row.source,
                triggers,
            });
            Ok(())
        })?;
    }
    // The classifier evaluates flags in order; one derived from others must come after them (a stable sort
    // keeps the file's order otherwise).
    flags.sort_by_key(|flag| flag.triggers.iter().any(|t| matches!(t, Trigger::AnticoagulationContraindicated)));
    let mut unchecked = Vec::new();
    for row in safety.unchecked {
        let line = line_of(text, &row);
        let row = row.into_inner();
        at("safety.toml", line, || {
            cite("safety.toml", "unchecked contraindication", &row.source)?;
            plain("safety.toml", "unchecked contraindication", &row.label)?;
            plain("safety.toml", "unchecked contraindication", &row.short)?;
            unchecked.push(Unchecked { label: row.label, short: row.short, class: row.class, source: row.source });
            Ok(())
        })?;
    }
    let mut applies = Vec::new();
    for row in safety.applies {
        let line = line_of(text, &row);
        let row = row.into_inner();
        at("safety.toml", line, || {
            applies.push(parse_applies(&row, cite)?);
            Ok(())
        })?;
    }
    let mut prelysis = Vec::new();
    for row in safety.prelysis {
        let line = line_of(text, &row);
        let row = row.into_inner();
        at("safety.toml", line, || {
            prelysis.push(parse_prelysis(&row, cite, labs)?);
            Ok(())
        })?;
    }
    Ok((flags, unchecked, applies, prelysis))
}

/// `plan.toml`: the plan after thrombus removal or stenting.
fn plan(text: &str, cite: &Cite) -> Result<Vec<PlanItem>, KnowledgeError> {
    let plan_file: files::PlanFile = parse("plan.toml", text)?;
    let mut plan = Vec::new();
    for row in plan_file.item {
        let line = line_of(text, &row);
        let row = row.into_inner();
        at("plan.toml", line, || {
            cite("plan.toml", &format!("plan item `{}`", row.id), &row.source)?;
            plain("plan.toml", &format!("plan item `{}`", row.id), &row.text)?;
            plan.push(PlanItem { id: row.id, applies: row.applies, text: row.text, source: row.source });
            Ok(())
        })?;
    }
    Ok(plan)
}

/// The ACR tables as the classifier reads them.
fn acr_tables(
    variants: &BTreeMap<Variant, VariantRows>,
    procedures: &BTreeMap<ProcedureId, Procedure>,
    procedure_topics: &HashMap<ProcedureId, Vec<u32>>,
) -> AcrTables {
    AcrTables {
        variants: variants
            .values()
            .map(|rows| VariantTable {
                variant: rows.variant,
                rows: rows
                    .rows
                    .iter()
                    .map(|row| AcrRow {
                        procedure: row.procedure.clone(),
                        category: row.category,
                        covers: row.covers.clone(),
                    })
                    .collect(),
            })
            .collect(),
        procedures: procedures
            .values()
            .map(|procedure| ProcedureInfo {
                id: procedure.id.clone(),
                kind: procedure.kind,
                contrast: procedure.contrast,
                orderable: procedure.order_code.is_some(),
                topics: procedure_topics.get(&procedure.id).cloned().unwrap_or_default(),
            })
            .collect(),
    }
}

fn parse_applies(row: &files::AppliesRow, cite: &Cite) -> Result<Applies, KnowledgeError> {
    let file = "safety.toml";
    cite(file, &format!("applies `{}`", id_of(&row.class)), &row.source)?;
    if row.orders.is_empty() {
        return invalid(file, format!("applies `{}` names no orders", id_of(&row.class)));
    }
    Ok(Applies { class: row.class, orders: row.orders.clone(), effect: row.effect, source: row.source.clone() })
}

fn parse_prelysis(
    row: &files::PreLysisRow,
    cite: &Cite,
    loinc: &HashMap<String, Lab>,
) -> Result<PreLysisLab, KnowledgeError> {
    let file = "safety.toml";
    cite(file, &format!("prelysis `{}`", row.order), &row.source)?;
    let Some(first) = row.labs.first() else {
        return invalid(file, format!("prelysis `{}` names no lab", row.order));
    };
    if loinc.get(&row.order) != Some(first) {
        return invalid(
            file,
            format!("prelysis: order code `{}` is not a LOINC code of lab `{}`", row.order, first.id()),
        );
    }
    if row.when.is_empty() {
        return invalid(file, format!("prelysis `{}` says not when it is needed", row.order));
    }
    Ok(PreLysisLab { labs: row.labs.clone(), order: row.order.clone(), when: row.when.clone() })
}

/// The names a medication display gives: a brand in brackets (`apixaban 5 MG Oral Tablet [Eliquis]`), or the
/// whole display when it is one word (an ingredient or brand code: `apixaban`, `Eliquis`).
fn medication_names_of(display: &str) -> Vec<String> {
    let mut names = Vec::new();
    if let Some((_, rest)) = display.rsplit_once('[')
        && let Some((brand, _)) = rest.split_once(']')
    {
        names.push(brand.trim().to_lowercase());
    }
    let trimmed = display.trim();
    if !trimmed.is_empty() && trimmed.chars().all(|c| c.is_alphanumeric() || c == '-') {
        names.push(trimmed.to_lowercase());
    }
    names.retain(|name| name.chars().all(|c| c.is_alphanumeric() || c == '-') && name.len() > 3);
    names
}

/// The line (from 1) a row starts on in its file's text.
fn line_of<T>(text: &str, row: &files::Row<T>) -> usize {
    line_at(text, row.span().start)
}

/// The line (from 1) of a byte offset in a file's text.
fn line_at(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |before| before.matches('\n').count()) + 1
}

/// Runs a row's checks: an error they find in `file` names the row's line.
fn at(file: &str, line: usize, checks: impl FnOnce() -> Result<(), KnowledgeError>) -> Result<(), KnowledgeError> {
    checks().map_err(|error| match error {
        KnowledgeError::Invalid { file: in_file, line: None, message } if in_file == file => {
            KnowledgeError::Invalid { file: in_file, line: Some(line), message }
        }
        other => other,
    })
}

fn parse<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, KnowledgeError> {
    toml::from_str(text).map_err(|e| KnowledgeError::Invalid {
        file: file.to_owned(),
        line: e.span().map(|span| line_at(text, span.start)),
        message: e.message().trim_end().to_owned(),
    })
}

fn error(file: &str, message: String) -> KnowledgeError {
    KnowledgeError::Invalid { file: file.to_owned(), line: None, message }
}

fn invalid<T>(file: &str, message: String) -> Result<T, KnowledgeError> {
    Err(error(file, message))
}

/// Text cards show as written (clients may render card details as HTML) holds no markup characters.
fn plain(file: &str, what: &str, text: &str) -> Result<(), KnowledgeError> {
    if text.contains(['<', '>']) {
        return invalid(file, format!("{what}: card text must not contain `<` or `>`"));
    }
    Ok(())
}

fn dvt_code(file: &str, concept: Concept, row: &CodeRow) -> Result<Option<DvtCode>, KnowledgeError> {
    if concept != Concept::Dvt {
        if row.segment.is_some() || row.laterality.is_some() || row.acuity.is_some() {
            return invalid(
                file,
                format!("code `{}`: segment, laterality and acuity are for DVT codes only", row.code),
            );
        }
        return Ok(None);
    }
    match (row.segment, row.laterality, row.acuity) {
        (Some(segment), Some(laterality), Some(acuity)) => Ok(Some(DvtCode { segment, laterality, acuity })),
        _ => invalid(file, format!("DVT code `{}` needs its segment, laterality and acuity", row.code)),
    }
}

fn parse_trigger(flag: &str, row: &TriggerRow, threshold: &Threshold) -> Result<Trigger, KnowledgeError> {
    let file = "safety.toml";
    let kinds = [
        row.condition.is_some(),
        row.lab_below.is_some(),
        row.blood_pressure_above == Some(true),
        row.allergy.is_some(),
        row.pregnancy == Some(true),
        row.recent_procedure.is_some(),
        row.anticoagulation_contraindicated == Some(true),
        row.heparin_ordered_with.is_some(),
        row.thrombus_not_acute == Some(true),
    ];
    if kinds.iter().filter(|set| **set).count() != 1 {
        return invalid(file, format!("flag `{flag}`: each trigger must have exactly one kind"));
    }
    if (row.from_days.is_some() || row.before_days.is_some()) && row.thrombus_not_acute != Some(true) {
        return invalid(file, format!("flag `{flag}`: from_days and before_days belong to thrombus_not_acute"));
    }
    if (row.window.is_some() || row.status.is_some()) && row.condition.is_none() {
        return invalid(file, format!("flag `{flag}`: window and status belong to a condition trigger"));
    }
    if row.threshold.is_some() && row.lab_below.is_none() {
        return invalid(file, format!("flag `{flag}`: threshold belongs to lab_below"));
    }
    if let Some(concepts) = &row.condition {
        let Some(window) = row.window else {
            return invalid(file, format!("flag `{flag}`: a condition trigger needs a window"));
        };
        let Some(status) = row.status else {
            return invalid(file, format!("flag `{flag}`: a condition trigger needs status active or any"));
        };
        return Ok(Trigger::Condition {
            concepts: concepts.clone(),
            window,
            active_only: status == ConditionStatus::Active,
        });
    }
    if let Some(lab) = row.lab_below {
        let id = row
            .threshold
            .as_deref()
            .ok_or_else(|| error(file, format!("flag `{flag}`: lab_below needs a threshold")))?;
        return Ok(Trigger::LabBelow { lab, threshold: threshold(id)? });
    }
    if let Some(classes) = &row.allergy {
        return Ok(Trigger::Allergy(classes.clone()));
    }
    if let Some(window) = row.recent_procedure {
        return match window {
            Window::Days(days) => Ok(Trigger::RecentProcedure { days }),
            _ => invalid(file, format!("flag `{flag}`: recent_procedure needs days:N")),
        };
    }
    if let Some(concepts) = &row.heparin_ordered_with {
        return Ok(Trigger::HeparinOrderedWith(concepts.clone()));
    }
    Ok(if row.blood_pressure_above == Some(true) {
        Trigger::BloodPressureAbove
    } else if row.pregnancy == Some(true) {
        Trigger::Pregnancy
    } else if row.anticoagulation_contraindicated == Some(true) {
        Trigger::AnticoagulationContraindicated
    } else {
        Trigger::ThrombusNotAcute { from_days: row.from_days, before_days: row.before_days }
    })
}

/// A closed id as the knowledge files write it (its serde name).
fn id_of<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|value| value.as_str().map(str::to_owned)).unwrap_or_default()
}
