//! From FHIR resources to `Evidence`: each finding keeps the resource and code it came from.
//!
//! Lenient, never silent: a resource we cannot use for lack of a field is simply not a finding, but one we
//! could not read is listed in `Evidence.unreadable`, and a key we could not obtain in `Evidence.gaps`.

use time::{Date, Duration};

use super::fhir::{CodeableConcept, Quantity, Resource};
use super::orders::DraftOrder;
use super::record::{PatientRecord, local_reference};
use dvt_cds_core::evidence::{
    Acuity, AllergyClass, AllergyFact, ClinicalStatus, CodeName, CodeRef, Concept, ConditionFact, DataGap, Dated,
    Demographics, Disagreement, DvtCode, DvtPoint, Evidence, FhirDate, ImagingFact, Lab, LabFact, LabProblem, LabValue,
    Laterality, Match, MedicationClass, MedicationFact, OnsetForm, OrderFact, OrderSide, ProcedureFact, Reason,
    Segment, Severity, Source, Unreadable, UnreadableProblem, Verification,
};
use dvt_cds_core::ids::ProcedureId;
use dvt_cds_core::knowledge::{self, KnowledgeBase};

/// Everything the classifier may use, from the gathered record and the hook's draft orders.
pub fn extract(record: &PatientRecord, orders: &[DraftOrder], knowledge: &KnowledgeBase) -> Evidence {
    let mut evidence = Evidence::default();
    let patient = record.resources.iter().find(|resource| resource.resource_type == "Patient");
    let birth_date = patient.and_then(|p| p.birth_date.as_deref()).and_then(FhirDate::parse);
    if let Some(patient) = patient {
        evidence.patient = Some(Demographics {
            source: Source { resource: patient.reference(), code: None },
            sex: patient.gender.clone(),
            birth_date: birth_date.clone(),
        });
    }
    evidence.unreadable.clone_from(&record.unreadable);
    // Medications a MedicationRequest or MedicationStatement may name by reference (an `_include`).
    let medications: Vec<&Resource> =
        record.resources.iter().filter(|resource| resource.resource_type == "Medication").collect();
    for resource in &record.resources {
        if let Some(note) = unknown_modifier(resource) {
            evidence.unreadable.push(note);
            continue;
        }
        match resource.resource_type.as_str() {
            "Condition" => evidence.conditions.extend(conditions(
                resource,
                birth_date.as_ref(),
                knowledge,
                &mut evidence.unreadable,
            )),
            "Observation" => observation(resource, knowledge, &mut evidence),
            "MedicationRequest" | "MedicationStatement" => match medication_concept(resource, &medications) {
                Ok(Some(concept)) => match medication(resource, concept, knowledge) {
                    Some(fact) => evidence.medications.push(fact),
                    None => evidence.unreadable.extend(uncoded_medication(resource, concept, knowledge)),
                },
                Ok(None) => {}
                Err(problem) => evidence.unreadable.push(Unreadable { location: resource.reference(), problem }),
            },
            "Procedure" if happened(resource) => evidence.procedures.push(procedure(resource, knowledge)),
            "AllergyIntolerance" => evidence.allergies.extend(allergies(resource, knowledge)),
            _ => {}
        }
    }
    if let Some(egfr) = computed_egfr(&evidence, knowledge) {
        evidence.labs.push(egfr);
    }
    evidence.orders = orders.iter().map(|order| order_fact(order, &evidence, knowledge)).collect();
    evidence.order_sides = orders.iter().filter_map(order_side).collect();
    evidence.gaps =
        record.unavailable().map(|(spec, reason)| DataGap { part: spec.part, reason: reason.clone() }).collect();
    evidence
}

/// A resource with a `modifierExtension` is not used: we understand none, and FHIR (R4 §2.4, "Modifier
/// Extensions") says a system that does not understand one must not process the resource as if it were absent.
fn unknown_modifier(resource: &Resource) -> Option<Unreadable> {
    if resource.modifier_extension.is_empty() {
        return None;
    }
    let urls = resource.modifier_extension.iter().map(|extension| extension.url.clone()).collect();
    Some(Unreadable { location: resource.reference(), problem: UnreadableProblem::UnknownModifier(urls) })
}

/// With no eGFR in the record, the eGFR of the newest creatinine by CKD-EPI 2021 (race-free), when the
/// patient's sex (female or male) and age on that day are known; the fact says it was computed and from what.
fn computed_egfr(evidence: &Evidence, knowledge: &KnowledgeBase) -> Option<LabFact> {
    let number = |lab: &LabFact| match lab.value {
        LabValue::Number { value, .. } => Some(value),
        _ => None,
    };
    if evidence.labs.iter().any(|lab| lab.lab == Lab::Egfr && number(lab).is_some()) {
        return None;
    }
    let creatinine = evidence
        .labs
        .iter()
        .filter(|lab| lab.lab == Lab::Creatinine && number(lab).is_some())
        .filter_map(|lab| lab.date.as_ref().map(|date| (date.date.latest(), lab)))
        .max_by_key(|(latest, _)| *latest)
        .map(|(_, lab)| lab)?;
    let patient = evidence.patient.as_ref()?;
    let female = match patient.sex.as_deref() {
        Some("female") => true,
        Some("male") => false,
        _ => return None,
    };
    let birth = patient.birth_date.as_ref()?;
    let taken = &creatinine.date.as_ref()?.date;
    // The age must be the same whichever day of the birth date's and the result's ranges is meant.
    let age = whole_years(birth.earliest(), taken.earliest());
    let others = [
        whole_years(birth.latest(), taken.latest()),
        whole_years(birth.earliest(), taken.latest()),
        whole_years(birth.latest(), taken.earliest()),
    ];
    if others.iter().any(|other| *other != age) {
        return None;
    }
    let value = number(creatinine)?;
    let egfr = knowledge.egfr_equation().egfr(value, f64::from(age), female)?;
    Some(LabFact {
        source: Source {
            resource: creatinine.source.resource.clone(),
            code: Some(CodeRef {
                system: "computed".to_owned(),
                code: "CKD-EPI 2021".to_owned(),
                display: Some(format!(
                    "eGFR computed (CKD-EPI 2021, race-free) from creatinine {} mg/dL, age {age}, {}",
                    trim((value * 100.0).round() / 100.0),
                    if female { "female" } else { "male" }
                )),
            }),
        },
        lab: Lab::Egfr,
        value: LabValue::Number { value: egfr.round(), unit: knowledge.lab_unit(Lab::Egfr).to_owned() },
        date: creatinine.date.clone(),
    })
}

/// Whole years from `birth` to `on` (birthdays count on the day).
fn whole_years(birth: Date, on: Date) -> i32 {
    let had_birthday = (on.month() as u8, on.day()) >= (birth.month() as u8, birth.day());
    on.year() - birth.year() - i32::from(!had_birthday)
}

/// A Procedure entered in error or not done never happened: it is no finding.
fn happened(resource: &Resource) -> bool {
    !matches!(resource.status.as_deref(), Some("entered-in-error" | "not-done"))
}

/// A code as the record wrote it; our display when the record gave none.
fn code_ref(knowledge: &KnowledgeBase, system: &str, code: &str, display: Option<&str>) -> CodeRef {
    CodeRef {
        system: KnowledgeBase::system_name(system).to_owned(),
        code: code.to_owned(),
        display: display.or_else(|| knowledge.display(system, code)).map(str::to_owned),
    }
}

fn first_code(knowledge: &KnowledgeBase, concept: Option<&CodeableConcept>) -> Option<CodeRef> {
    let concept = concept?;
    concept
        .codes()
        .next()
        .map(|(system, code, display)| code_ref(knowledge, system, code, display.or(concept.text.as_deref())))
}

/// One fact per concept the Condition's codes or text name. A DVT coded several ways is read by its most
/// informative coding; codings that contradict each other are reported in `notes`, and the point they disagree
/// on is taken as not stated. A DVT named only in text, and an onset we cannot read, are reported too.
fn conditions(
    resource: &Resource,
    birth_date: Option<&FhirDate>,
    knowledge: &KnowledgeBase,
    notes: &mut Vec<Unreadable>,
) -> Vec<ConditionFact> {
    let Some(code) = &resource.code else { return Vec::new() };
    let mut matched: Vec<(knowledge::ConceptMatch, CodeRef)> = Vec::new();
    let mut dvt_codings: Vec<(DvtCode, CodeRef)> = Vec::new();
    for (system, value, display) in code.codes() {
        for concept in knowledge.concepts_for_code(system, value) {
            let reference = code_ref(knowledge, system, value, display.or(code.text.as_deref()));
            if let Some(dvt) = concept.dvt {
                dvt_codings.push((dvt, reference.clone()));
            }
            if !matched.iter().any(|(m, _)| m.concept == concept.concept) {
                matched.push((concept, reference));
            }
        }
    }
    if dvt_codings.len() > 1 {
        let (merged, best, conflicts) = merge_dvt_codings(&dvt_codings);
        if let Some((concept, reference)) = matched.iter_mut().find(|(m, _)| m.concept == Concept::Dvt) {
            concept.dvt = Some(merged);
            if let Some(best) = best {
                *reference = best;
            }
        }
        if !conflicts.is_empty() {
            notes.push(Unreadable {
                location: resource.reference(),
                problem: UnreadableProblem::DisagreeingCodings(conflicts),
            });
        }
    }
    let coded = !matched.is_empty();
    let texts = code.text.iter().map(String::as_str).chain(code.coding.iter().filter_map(|c| c.display.as_deref()));
    for text in texts.clone() {
        for concept in knowledge.concepts_for_text(text) {
            if !matched.iter().any(|(m, _)| m.concept == concept) {
                let code = first_code(knowledge, Some(code)).unwrap_or_else(|| CodeRef {
                    system: "text".to_owned(),
                    code: text.to_owned(),
                    display: None,
                });
                matched.push((knowledge::ConceptMatch { concept, dvt: None, matched_by: Match::Text }, code));
            }
        }
    }
    if !coded
        && !matched.iter().any(|(m, _)| m.concept == Concept::Dvt)
        && let Some(text) = texts.into_iter().find(|text| knowledge.text_only_concept(text) == Some(Concept::Dvt))
    {
        notes.push(Unreadable {
            location: resource.reference(),
            problem: UnreadableProblem::DvtTextOnly(text.to_owned()),
        });
    }
    if matched.is_empty() {
        return Vec::new();
    }

    let clinical_status = match status_code(resource.clinical_status.as_deref()).as_deref() {
        Some("active" | "recurrence" | "relapse") => ClinicalStatus::Active,
        Some("inactive" | "remission" | "resolved") => ClinicalStatus::Inactive,
        _ => ClinicalStatus::NotRecorded,
    };
    let verification = match status_code(resource.verification_status.as_deref()).as_deref() {
        Some("confirmed") => Verification::Confirmed,
        Some("unconfirmed" | "provisional" | "differential") => Verification::Suspected,
        Some("refuted") => Verification::Refuted,
        Some("entered-in-error") => Verification::EnteredInError,
        _ => Verification::NotRecorded,
    };
    let body_sites: Vec<String> =
        resource.body_site.iter().filter_map(|site| site.label().map(str::to_owned)).collect();
    let body_site_laterality = resource.body_site.iter().find_map(|site| {
        knowledge::LATERALITY_CODES
            .iter()
            .find(|(code, _)| site.has(knowledge::SNOMED, code))
            .map(|(_, laterality)| *laterality)
    });
    let onset = onset(resource, birth_date);
    // An onset given in a form we cannot read (`onsetString` "about 3 weeks ago", an age without a birth date)
    // is unknown: the recorded date is not a stand-in for it then.
    let onset_unreadable = onset.is_none()
        && (resource.onset_string.is_some() || resource.onset_age.is_some() || resource.onset_period.is_some());
    if onset_unreadable {
        let given = match &resource.onset_string {
            Some(text) => OnsetForm::String(text.clone()),
            None if resource.onset_age.is_some() => OnsetForm::Age,
            None => OnsetForm::Period,
        };
        notes.push(Unreadable { location: resource.reference(), problem: UnreadableProblem::UnreadableOnset(given) });
    }
    let recorded = if onset_unreadable { None } else { resource.recorded_date.as_deref().and_then(FhirDate::parse) };
    let abated = resource.abatement_date_time.is_some()
        || resource.abatement_period.is_some()
        || resource.abatement_age.is_some()
        || resource.abatement_string.is_some()
        || resource.abatement_boolean == Some(true);

    matched
        .into_iter()
        .map(|(concept, code)| ConditionFact {
            source: Source { resource: resource.reference(), code: Some(code) },
            concept: concept.concept,
            matched_by: concept.matched_by,
            dvt: concept.dvt,
            clinical_status,
            verification,
            severity: severity(resource.severity.as_deref()),
            body_sites: body_sites.clone(),
            body_site_laterality,
            onset: onset.clone(),
            recorded: recorded.clone(),
            abated,
        })
        .collect()
}

/// How specific a DVT segment is; a more specific one refines a less specific one it lies within.
fn refines(segment: Segment, of: Segment) -> bool {
    use Segment::{Femoral, Femoropopliteal, Iliofemoral, ProximalUnspecified, Unspecified};
    segment == of
        || of == Unspecified
        || (of == ProximalUnspecified && matches!(segment, Femoral | Iliofemoral | Femoropopliteal))
        || (of == Femoral && matches!(segment, Iliofemoral | Femoropopliteal))
}

fn segment_rank(segment: Segment) -> u8 {
    match segment {
        Segment::Unspecified => 0,
        Segment::ProximalUnspecified => 1,
        Segment::Femoral => 2,
        Segment::Iliofemoral | Segment::Femoropopliteal | Segment::Distal | Segment::InferiorVenaCava => 3,
    }
}

/// Several DVT codings of one Condition, read together: each point (segment, side, acuity) from the codings
/// that state it; where two state it differently, not stated, and the disagreement said. The coding returned
/// is the most informative one, for the card.
fn merge_dvt_codings(codings: &[(DvtCode, CodeRef)]) -> (DvtCode, Option<CodeRef>, Vec<Disagreement>) {
    let informative = |dvt: &DvtCode| {
        segment_rank(dvt.segment)
            + u8::from(dvt.laterality != Laterality::Unspecified)
            + u8::from(dvt.acuity != Acuity::Unspecified)
    };
    let best = codings.iter().fold(None, |best: Option<&(DvtCode, CodeRef)>, coding| match best {
        Some(kept) if informative(&kept.0) >= informative(&coding.0) => Some(kept),
        _ => Some(coding),
    });
    let name = |code: &CodeRef| CodeName { system: code.system.clone(), code: code.code.clone() };
    let disagreement = |point: DvtPoint, first: &CodeRef, other: &CodeRef| Disagreement {
        point,
        first: name(first),
        other: name(other),
    };
    let mut conflicts = Vec::new();
    let mut segment = Segment::Unspecified;
    let mut segment_from: Option<&CodeRef> = None;
    let mut segment_conflict = false;
    for (dvt, code) in codings {
        if refines(dvt.segment, segment) {
            segment = dvt.segment;
            segment_from = Some(code);
        } else if !refines(segment, dvt.segment) {
            segment_conflict = true;
            if let Some(first) = segment_from {
                conflicts.push(disagreement(DvtPoint::Segment, first, code));
            }
        }
    }
    let mut pick = |point: DvtPoint, values: Vec<(Option<&'static str>, &CodeRef)>| -> Option<&'static str> {
        let stated: Vec<&(Option<&'static str>, &CodeRef)> = values.iter().filter(|(v, _)| v.is_some()).collect();
        let first = stated.first()?;
        match stated.iter().find(|(v, _)| v != &first.0) {
            Some((_, other)) => {
                conflicts.push(disagreement(point, first.1, other));
                None
            }
            None => first.0,
        }
    };
    let side = |l: Laterality| match l {
        Laterality::Left => Some("left"),
        Laterality::Right => Some("right"),
        Laterality::Bilateral => Some("bilateral"),
        Laterality::Unspecified => None,
    };
    let age = |a: Acuity| match a {
        Acuity::Acute => Some("acute"),
        Acuity::Chronic => Some("chronic"),
        Acuity::Unspecified => None,
    };
    let laterality = match pick(DvtPoint::Side, codings.iter().map(|(d, c)| (side(d.laterality), c)).collect()) {
        Some("left") => Laterality::Left,
        Some("right") => Laterality::Right,
        Some("bilateral") => Laterality::Bilateral,
        _ => Laterality::Unspecified,
    };
    let acuity = match pick(DvtPoint::Acuity, codings.iter().map(|(d, c)| (age(d.acuity), c)).collect()) {
        Some("acute") => Acuity::Acute,
        Some("chronic") => Acuity::Chronic,
        _ => Acuity::Unspecified,
    };
    let merged = DvtCode { segment: if segment_conflict { Segment::Unspecified } else { segment }, laterality, acuity };
    (merged, best.map(|(_, code)| code.clone()), conflicts)
}

/// The code of a status CodeableConcept, whatever its system (EHRs vary).
fn status_code(concept: Option<&CodeableConcept>) -> Option<String> {
    concept?.coding.iter().find_map(|coding| coding.code.as_deref()).map(str::to_ascii_lowercase)
}

fn severity(concept: Option<&CodeableConcept>) -> Option<Severity> {
    let concept = concept?;
    let coded = knowledge::SEVERITY_CODES
        .iter()
        .find(|(code, _)| concept.has(knowledge::SNOMED, code))
        .map(|(_, severity)| *severity);
    coded.or_else(|| {
        let words =
            concept.text.iter().map(String::as_str).chain(concept.coding.iter().filter_map(|c| c.display.as_deref()));
        words.map(|word| word.trim().to_ascii_lowercase()).find_map(|word| match word.as_str() {
            "mild" => Some(Severity::Mild),
            "moderate" => Some(Severity::Moderate),
            "severe" => Some(Severity::Severe),
            _ => None,
        })
    })
}

/// `onset[x]`: dateTime, Period, Age (from the birth date) or a String that holds a date.
fn onset(resource: &Resource, birth_date: Option<&FhirDate>) -> Option<Dated> {
    if let Some(date) = resource.onset_date_time.as_deref().and_then(FhirDate::parse) {
        return Some(Dated { date, element: "onsetDateTime" });
    }
    if let Some(date) = resource.onset_period.as_ref().and_then(|p| p.start.as_deref()).and_then(FhirDate::parse) {
        return Some(Dated { date, element: "onsetPeriod.start" });
    }
    if let (Some(age), Some(birth)) = (&resource.onset_age, birth_date)
        && let Some(date) = age_to_date(age, birth)
    {
        return Some(Dated { date, element: "onsetAge" });
    }
    resource.onset_string.as_deref().and_then(FhirDate::parse).map(|date| Dated { date, element: "onsetString" })
}

/// An age in years (UCUM `a`) after a birth date, as the range of days it can mean.
fn age_to_date(age: &Quantity, birth: &FhirDate) -> Option<FhirDate> {
    let years = age.value?;
    let unit = age.code.as_deref().or(age.unit.as_deref()).unwrap_or("a").to_ascii_lowercase();
    if !(matches!(unit.as_str(), "a" | "yr" | "year" | "years") && (0.0..150.0).contains(&years)) {
        return None;
    }
    let whole = years.floor() as i32;
    let shift = |date: Date, years: i32| date.replace_year(date.year() + years).ok();
    let earliest = shift(birth.earliest(), whole)?;
    let latest = shift(birth.latest(), whole + 1)?.checked_sub(Duration::days(1))?;
    Some(FhirDate::between(earliest, latest, format!("age {} (born {})", trim(years), birth.text())))
}

fn trim(value: f64) -> String {
    if (value - value.round()).abs() < 1e-9 { format!("{value:.0}") } else { format!("{value}") }
}

fn observation(resource: &Resource, knowledge: &KnowledgeBase, evidence: &mut Evidence) {
    if !matches!(resource.status.as_deref(), Some("final" | "amended" | "corrected")) {
        return;
    }
    let Some(code) = &resource.code else { return };
    let date = observation_date(resource);
    for (system, value, display) in code.codes() {
        if knowledge.procedures_for_code(system, value).contains(&ProcedureId::US_DUPLEX) {
            evidence.imaging.push(ImagingFact {
                source: Source {
                    resource: resource.reference(),
                    code: Some(code_ref(knowledge, system, value, display)),
                },
                body_sites: resource.body_site.iter().filter_map(|site| site.label().map(str::to_owned)).collect(),
                positive: interpretation(resource, knowledge),
                date: date.clone(),
            });
            return;
        }
        if system != knowledge::LOINC {
            continue;
        }
        if knowledge.is_blood_pressure_panel(value) {
            for component in &resource.component {
                let Some(component_code) = &component.code else { continue };
                let Some((lab, loinc, loinc_display)) = component_code
                    .codes()
                    .filter(|(s, _, _)| *s == knowledge::LOINC)
                    .find_map(|(_, c, d)| knowledge.lab(c).map(|lab| (lab, c, d)))
                else {
                    continue;
                };
                evidence.labs.push(LabFact {
                    source: Source {
                        resource: resource.reference(),
                        code: Some(code_ref(knowledge, knowledge::LOINC, loinc, loinc_display)),
                    },
                    lab,
                    value: quantity_value(component.value_quantity.as_ref(), lab, knowledge),
                    date: date.clone(),
                });
            }
            return;
        }
        if let Some(lab) = knowledge.lab(value) {
            let lab_value = if lab == Lab::Hcg {
                match interpretation(resource, knowledge) {
                    Some(true) => LabValue::Positive,
                    Some(false) => LabValue::Negative,
                    None => LabValue::Unreadable { problem: LabProblem::NoResult },
                }
            } else {
                quantity_value(resource.value_quantity.as_deref(), lab, knowledge)
            };
            evidence.labs.push(LabFact {
                source: Source {
                    resource: resource.reference(),
                    code: Some(code_ref(knowledge, system, value, display)),
                },
                lab,
                value: lab_value,
                date,
            });
            return;
        }
    }
}

fn observation_date(resource: &Resource) -> Option<Dated> {
    let candidates: [(Option<&str>, &'static str); 4] = [
        (resource.effective_date_time.as_deref(), "effectiveDateTime"),
        (resource.effective_period.as_ref().and_then(|p| p.start.as_deref()), "effectivePeriod.start"),
        (resource.effective_instant.as_deref(), "effectiveInstant"),
        (resource.issued.as_deref(), "issued"),
    ];
    candidates
        .into_iter()
        .find_map(|(text, element)| text.and_then(FhirDate::parse).map(|date| Dated { date, element }))
}

/// Positive (`Some(true)`), negative or unstated, from the interpretation codes or the value's words.
fn interpretation(resource: &Resource, knowledge: &KnowledgeBase) -> Option<bool> {
    let rules = knowledge.interpretation();
    for concept in &resource.interpretation {
        for (system, code, _) in concept.codes() {
            if system != knowledge::OBSERVATION_INTERPRETATION {
                continue;
            }
            if rules.negative_codes.iter().any(|c| c == code) {
                return Some(false);
            }
            if rules.positive_codes.iter().any(|c| c == code) {
                return Some(true);
            }
        }
    }
    let words: Vec<String> = resource
        .value_string
        .iter()
        .cloned()
        .chain(resource.value_codeable_concept.iter().filter_map(|c| c.label().map(str::to_owned)))
        .map(|word| word.to_lowercase())
        .collect();
    // "not detected" contains "detected": the negative words are looked for first.
    if words.iter().any(|word| rules.negative_texts.iter().any(|t| word.contains(t.as_str()))) {
        return Some(false);
    }
    if words.iter().any(|word| rules.positive_texts.iter().any(|t| word.contains(t.as_str()))) {
        return Some(true);
    }
    resource.value_boolean
}

/// A quantity in the lab's canonical unit.
fn quantity_value(quantity: Option<&Quantity>, lab: Lab, knowledge: &KnowledgeBase) -> LabValue {
    let Some(quantity) = quantity else {
        return LabValue::Unreadable { problem: LabProblem::NoValue };
    };
    let Some(value) = quantity.value else {
        return LabValue::Unreadable { problem: LabProblem::NoValue };
    };
    // UCUM `code` first, else the human `unit`; either may be what the lab system filled in.
    let unit_text = quantity.code.as_deref().or(quantity.unit.as_deref()).unwrap_or("");
    let factor = knowledge.unit_factor(lab, unit_text).or_else(|| {
        quantity.unit.as_deref().filter(|unit| *unit != unit_text).and_then(|unit| knowledge.unit_factor(lab, unit))
    });
    match factor {
        Some(factor) => LabValue::Number { value: value * factor, unit: knowledge.lab_unit(lab).to_owned() },
        None => LabValue::Unreadable { problem: LabProblem::UnknownUnit(unit_text.to_owned()) },
    }
}

/// The medication a MedicationRequest or MedicationStatement names: `medicationCodeableConcept`, or the
/// code of the Medication its `medicationReference` points to, contained in it (`#id`) or in the record.
/// `Err` says why a referenced Medication could not be read, so the card can say what it did not see.
fn medication_concept<'a>(
    resource: &'a Resource,
    medications: &[&'a Resource],
) -> Result<Option<&'a CodeableConcept>, UnreadableProblem> {
    if let Some(concept) = &resource.medication_codeable_concept {
        return Ok(Some(concept));
    }
    let Some(reference) = &resource.medication_reference else { return Ok(None) };
    let Some(target) = reference.reference.as_deref() else {
        return Err(UnreadableProblem::MedicationReferenceNotLiteral);
    };
    let medication = match target.strip_prefix('#') {
        Some(id) => resource.contained.iter().find(|c| c.resource_type == "Medication" && c.id.as_deref() == Some(id)),
        None => local_reference(target)
            .filter(|(resource_type, _)| *resource_type == "Medication")
            .and_then(|(_, id)| medications.iter().copied().find(|medication| medication.id.as_deref() == Some(id))),
    };
    match medication {
        Some(medication) => Ok(medication.code.as_deref()),
        None => Err(UnreadableProblem::MedicationNotInRecord),
    }
}

/// A medication none of whose codes we know but whose text or display names one of our classes (an
/// anticoagulant written "Eliquis 5 mg twice daily" with no RxNorm code): reported, not used.
fn uncoded_medication(resource: &Resource, concept: &CodeableConcept, knowledge: &KnowledgeBase) -> Option<Unreadable> {
    let texts = concept.text.iter().chain(concept.coding.iter().filter_map(|coding| coding.display.as_ref()));
    let (text, class) =
        texts.into_iter().find_map(|text| knowledge.medication_named_in(text).map(|class| (text, class)))?;
    let problem =
        UnreadableProblem::UncodedMedication { coded: concept.codes().next().is_some(), text: text.clone(), class };
    Some(Unreadable { location: resource.reference(), problem })
}

fn medication(resource: &Resource, concept: &CodeableConcept, knowledge: &KnowledgeBase) -> Option<MedicationFact> {
    let (class, group, code) =
        concept.codes().filter(|(system, _, _)| *system == knowledge::RXNORM).find_map(|(system, code, display)| {
            knowledge.medication(code).map(|(class, group)| (class, group, code_ref(knowledge, system, code, display)))
        })?;
    let start = match resource.resource_type.as_str() {
        "MedicationRequest" => {
            resource.authored_on.as_deref().and_then(FhirDate::parse).map(|date| Dated { date, element: "authoredOn" })
        }
        _ => resource
            .effective_period
            .as_ref()
            .and_then(|p| p.start.as_deref())
            .and_then(FhirDate::parse)
            .map(|date| Dated { date, element: "effectivePeriod.start" })
            .or_else(|| {
                resource
                    .effective_date_time
                    .as_deref()
                    .and_then(FhirDate::parse)
                    .map(|date| Dated { date, element: "effectiveDateTime" })
            }),
    };
    Some(MedicationFact {
        source: Source { resource: resource.reference(), code: Some(code) },
        class,
        group,
        status: resource.status.clone(),
        start,
    })
}

fn procedure(resource: &Resource, knowledge: &KnowledgeBase) -> ProcedureFact {
    let procedures: Vec<ProcedureId> = resource
        .code
        .as_ref()
        .and_then(|code| {
            code.codes()
                .map(|(system, value, _)| knowledge.procedures_for_code(system, value))
                .find(|ids| !ids.is_empty())
        })
        .map(<[ProcedureId]>::to_vec)
        .unwrap_or_default();
    let kind = procedures.first().and_then(|id| knowledge.procedure(id)).map(|p| p.kind);
    let date = resource
        .performed_date_time
        .as_deref()
        .and_then(FhirDate::parse)
        .map(|date| Dated { date, element: "performedDateTime" })
        .or_else(|| {
            resource
                .performed_period
                .as_ref()
                .and_then(|p| p.start.as_deref())
                .and_then(FhirDate::parse)
                .map(|date| Dated { date, element: "performedPeriod.start" })
        });
    ProcedureFact {
        source: Source { resource: resource.reference(), code: first_code(knowledge, resource.code.as_deref()) },
        kind,
        procedures,
        status: resource.status.clone(),
        date,
    }
}

fn allergies(resource: &Resource, knowledge: &KnowledgeBase) -> Vec<AllergyFact> {
    if matches!(status_code(resource.verification_status.as_deref()).as_deref(), Some("refuted" | "entered-in-error")) {
        return Vec::new();
    }
    let active = !matches!(status_code(resource.clinical_status.as_deref()).as_deref(), Some("inactive" | "resolved"));
    let substances =
        resource.code.as_deref().into_iter().chain(resource.reaction.iter().filter_map(|r| r.substance.as_ref()));
    let mut facts: Vec<AllergyFact> = Vec::new();
    let mut add = |class: AllergyClass, code: CodeRef| {
        if !facts.iter().any(|fact| fact.class == class) {
            facts.push(AllergyFact {
                source: Source { resource: resource.reference(), code: Some(code) },
                class,
                active,
            });
        }
    };
    for concept in substances {
        for (system, code, display) in concept.codes() {
            let class = match system {
                knowledge::RXNORM => knowledge.medication(code).and_then(|(class, _)| match class {
                    MedicationClass::Thrombolytic => Some(AllergyClass::Thrombolytic),
                    MedicationClass::Anticoagulant => Some(AllergyClass::Anticoagulant),
                    MedicationClass::Antiplatelet => None,
                }),
                knowledge::SNOMED if knowledge.is_thrombolytic_allergy_code(code) => Some(AllergyClass::Thrombolytic),
                _ => None,
            };
            if let Some(class) = class {
                add(class, code_ref(knowledge, system, code, display));
            }
        }
        let names =
            concept.text.iter().map(String::as_str).chain(concept.coding.iter().filter_map(|c| c.display.as_deref()));
        for name in names {
            if knowledge.names_contrast(name) {
                let code = first_code(knowledge, Some(concept)).unwrap_or_else(|| CodeRef {
                    system: "text".to_owned(),
                    code: name.to_owned(),
                    display: None,
                });
                add(AllergyClass::Contrast, code);
            }
        }
    }
    facts
}

/// The side a draft order names: a laterality qualifier in `bodySite`, else the words left, right or bilateral
/// in its bodySite, code or note text. `None` when it names none, or both left and right.
fn order_side(order: &DraftOrder) -> Option<OrderSide> {
    let resource = &order.resource;
    let side = |laterality| Some(OrderSide { order: order.reference.clone(), laterality, named_in: "bodySite" });
    if let Some((_, laterality)) = resource
        .body_site
        .iter()
        .find_map(|site| knowledge::LATERALITY_CODES.iter().find(|(code, _)| site.has(knowledge::SNOMED, code)))
    {
        return side(*laterality);
    }
    let words = |concept: &CodeableConcept| -> Vec<String> {
        concept.text.iter().cloned().chain(concept.coding.iter().filter_map(|c| c.display.clone())).collect()
    };
    let places: [(&'static str, Vec<String>); 2] = [
        ("bodySite", resource.body_site.iter().flat_map(words).collect()),
        ("code", order_concept(resource).map(words).unwrap_or_default()),
    ];
    for (named_in, texts) in places {
        if let Some(laterality) = named_side(&texts) {
            return Some(OrderSide { order: order.reference.clone(), laterality, named_in });
        }
    }
    None
}

/// Left, right or bilateral when the texts name exactly one of them as a word.
fn named_side(texts: &[String]) -> Option<Laterality> {
    let mut found: Vec<Laterality> = Vec::new();
    for text in texts {
        for word in text.to_lowercase().split(|c: char| !c.is_alphanumeric()) {
            let side = match word {
                "left" | "lt" => Laterality::Left,
                "right" | "rt" => Laterality::Right,
                "bilateral" | "both" => Laterality::Bilateral,
                _ => continue,
            };
            if !found.contains(&side) {
                found.push(side);
            }
        }
    }
    match found.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// What an order asks for: ServiceRequest.code, MedicationRequest.medicationCodeableConcept or
/// DeviceRequest.codeCodeableConcept.
fn order_concept(resource: &Resource) -> Option<&CodeableConcept> {
    resource
        .code
        .as_deref()
        .or(resource.medication_codeable_concept.as_deref())
        .or(resource.code_codeable_concept.as_deref())
}

/// The ACR procedure rows an order's codes mean (knowledge/procedures.toml); empty when none.
pub fn order_procedures(resource: &Resource, knowledge: &KnowledgeBase) -> Vec<ProcedureId> {
    let mut procedures: Vec<ProcedureId> = Vec::new();
    for (system, code, _) in order_concept(resource).into_iter().flat_map(CodeableConcept::codes) {
        for procedure in knowledge.procedures_for_code(system, code) {
            if !procedures.contains(procedure) {
                procedures.push(procedure.clone());
            }
        }
    }
    procedures
}

/// Whether the order's `reasonCode` names one of `concepts`: asked before anything is gathered, so
/// `reasonReference` (which needs the record) is not looked at.
pub fn order_reason_in(resource: &Resource, knowledge: &KnowledgeBase, concepts: &[Concept]) -> bool {
    resource.reason_code.iter().flat_map(CodeableConcept::codes).any(|(system, code, _)| {
        knowledge.concepts_for_code(system, code).first().is_some_and(|m| concepts.contains(&m.concept))
    })
}

fn order_fact(order: &DraftOrder, evidence: &Evidence, knowledge: &KnowledgeBase) -> OrderFact {
    let resource = &order.resource;
    let concept = order_concept(resource);
    let procedures = order_procedures(resource, knowledge);
    let group = concept.and_then(|concept| {
        concept
            .codes()
            .filter(|(system, _, _)| *system == knowledge::RXNORM)
            .find_map(|(_, code, _)| knowledge.medication(code).and_then(|(_, group)| group))
    });
    let kind = procedures.iter().filter_map(|id| knowledge.procedure(id)).map(|p| p.kind).next();
    let mut reasons = Vec::new();
    for reason in &resource.reason_code {
        for (system, code, display) in reason.codes() {
            let concept = knowledge.concepts_for_code(system, code).first().map(|m| m.concept);
            reasons
                .push(Reason { code: code_ref(knowledge, system, code, display.or(reason.text.as_deref())), concept });
        }
    }
    for reference in resource.reason_reference.iter().filter_map(|r| r.reference.as_deref()) {
        let Some((resource_type, id)) = local_reference(reference) else { continue };
        let local = format!("{resource_type}/{id}");
        for condition in evidence.conditions.iter().filter(|c| c.source.resource == local) {
            if let Some(code) = &condition.source.code {
                reasons.push(Reason { code: code.clone(), concept: Some(condition.concept) });
            }
        }
    }
    OrderFact {
        source: Source { resource: order.reference.clone(), code: first_code(knowledge, concept) },
        selected: order.selected,
        procedures,
        kind,
        group,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::gather::fhir::parse_document;
    use dvt_cds_core::evidence::Laterality;

    fn knowledge() -> KnowledgeBase {
        KnowledgeBase::embedded().unwrap()
    }

    fn record(resources: serde_json::Value) -> PatientRecord {
        let document = parse_document(&json!({"resourceType": "Bundle", "entry": resources}).to_string()).unwrap();
        PatientRecord { patient_id: "p1".to_owned(), resources: document.resources, ..PatientRecord::default() }
    }

    #[test]
    fn a_dvt_condition_keeps_its_code_status_severity_onset_and_side() {
        let record = record(json!([{"resource": {"resourceType": "Condition", "id": "c1",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
            "verificationStatus": {"coding": [{"code": "confirmed"}]},
            "severity": {"coding": [{"system": "http://snomed.info/sct", "code": "24484000", "display": "Severe"}]},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I82422"}], "text": "Left iliac DVT"},
            "bodySite": [{"coding": [{"system": "http://snomed.info/sct", "code": "7771000"}], "text": "left common femoral vein"}],
            "onsetPeriod": {"start": "2026-11-20"}, "recordedDate": "2026-11-21"}}]));
        let evidence = extract(&record, &[], &knowledge());
        let dvt = &evidence.conditions[0];
        assert_eq!(dvt.concept, dvt_cds_core::evidence::Concept::Dvt);
        assert_eq!(dvt.dvt.unwrap().segment, dvt_cds_core::evidence::Segment::Iliofemoral);
        assert_eq!(dvt.dvt.unwrap().laterality, Laterality::Left);
        assert_eq!((dvt.clinical_status, dvt.verification), (ClinicalStatus::Active, Verification::Confirmed));
        assert_eq!(dvt.severity, Some(Severity::Severe));
        assert_eq!(dvt.onset.as_ref().unwrap().element, "onsetPeriod.start");
        assert_eq!(dvt.body_site_laterality, Some(Laterality::Left));
        assert_eq!(dvt.source.code.as_ref().unwrap().system, "ICD-10-CM");
    }

    #[test]
    fn one_code_can_mean_two_concepts_and_text_finds_what_has_no_code() {
        let record = record(json!([
            {"resource": {"resourceType": "Condition", "id": "preg-dvt",
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "O22.32"}]}}},
            {"resource": {"resourceType": "Condition", "id": "pcd",
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I82.422"}], "text": "Phlegmasia cerulea dolens, left leg"}}},
            {"resource": {"resourceType": "Condition", "id": "ca",
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C50.912"}]}}},
        ]));
        let evidence = extract(&record, &[], &knowledge());
        let concepts: Vec<(String, dvt_cds_core::evidence::Concept, Match)> =
            evidence.conditions.iter().map(|c| (c.source.resource.clone(), c.concept, c.matched_by)).collect();
        use dvt_cds_core::evidence::Concept::*;
        assert_eq!(
            concepts,
            [
                ("Condition/preg-dvt".to_owned(), Dvt, Match::Code),
                ("Condition/preg-dvt".to_owned(), Pregnancy, Match::Code),
                ("Condition/pcd".to_owned(), Dvt, Match::Code),
                ("Condition/pcd".to_owned(), PhlegmasiaCeruleaDolens, Match::Text),
                ("Condition/ca".to_owned(), ActiveCancer, Match::Code),
            ]
        );
    }

    fn condition(id: &str, code: serde_json::Value) -> serde_json::Value {
        json!({"resource": {"resourceType": "Condition", "id": id, "code": code}})
    }

    #[test]
    fn code_systems_are_read_in_the_forms_ehrs_send() {
        let record = record(json!([
            condition("oid", json!({"coding": [{"system": "urn:oid:2.16.840.1.113883.6.90", "code": "I82422"}]})),
            condition(
                "sct-version",
                json!({"coding": [{"system": "http://snomed.info/sct/731000124108/version/20230301",
                "code": "132281000119108"}]})
            ),
            condition(
                "sct-oid",
                json!({"coding": [{"system": "urn:oid:2.16.840.1.113883.6.96", "code": "706870000"}]})
            ),
            condition(
                "slash",
                json!({"coding": [{"system": "HTTP://hl7.org/fhir/sid/icd-10-cm/", "code": " i82.411 "}]})
            ),
        ]));
        let evidence = extract(&record, &[], &knowledge());
        let read: Vec<(&str, dvt_cds_core::evidence::Concept, &str)> = evidence
            .conditions
            .iter()
            .map(|c| (c.source.resource.as_str(), c.concept, c.source.code.as_ref().unwrap().system.as_str()))
            .collect();
        use dvt_cds_core::evidence::Concept::*;
        assert_eq!(
            read,
            [
                ("Condition/oid", Dvt, "ICD-10-CM"),
                ("Condition/sct-version", Dvt, "SNOMED CT"),
                ("Condition/sct-oid", PulmonaryEmbolism, "SNOMED CT"),
                ("Condition/slash", Dvt, "ICD-10-CM"),
            ]
        );
        assert_eq!(evidence.conditions[1].dvt.unwrap().acuity, dvt_cds_core::evidence::Acuity::Acute);
    }

    #[test]
    fn several_codings_are_read_by_the_most_informative_and_conflicts_are_reported() {
        let record = record(json!([
            // SNOMED CT "DVT" (nothing stated) first, ICD-10-CM left iliac acute second: the ICD code decides.
            condition(
                "two",
                json!({"coding": [
                {"system": "http://snomed.info/sct", "code": "128053003"},
                {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I82.422"}]})
            ),
            // Left and right: the side is not stated, and the disagreement is reported.
            condition(
                "sides",
                json!({"coding": [
                {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I82.422"},
                {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I82.421"}]})
            ),
        ]));
        let evidence = extract(&record, &[], &knowledge());
        let two = evidence.conditions[0].dvt.unwrap();
        assert_eq!((two.segment, two.laterality, two.acuity), (Segment::Iliofemoral, Laterality::Left, Acuity::Acute));
        assert_eq!(evidence.conditions[0].source.code.as_ref().unwrap().code, "I82.422");
        let sides = evidence.conditions[1].dvt.unwrap();
        assert_eq!((sides.segment, sides.laterality), (Segment::Iliofemoral, Laterality::Unspecified));
        let icd = |code: &str| CodeName { system: "ICD-10-CM".to_owned(), code: code.to_owned() };
        assert_eq!(
            evidence.unreadable,
            [Unreadable {
                location: "Condition/sides".to_owned(),
                problem: UnreadableProblem::DisagreeingCodings(vec![Disagreement {
                    point: DvtPoint::Side,
                    first: icd("I82.422"),
                    other: icd("I82.421"),
                }]),
            }]
        );
    }

    #[test]
    fn nothing_is_ignored_without_trace() {
        let record = record(json!([
            condition("text-only", json!({"text": "Left leg DVT"})),
            condition("history", json!({"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Z86.718"}],
                "text": "History of DVT"})),
            {"resource": {"resourceType": "Condition", "id": "modified",
                "modifierExtension": [{"url": "http://example.org/negated", "valueBoolean": true}],
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I82.422"}]}}},
            {"resource": {"resourceType": "Condition", "id": "vague",
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I82.422"}]},
                "onsetString": "about 3 weeks ago", "recordedDate": "2026-11-23"}},
        ]));
        let evidence = extract(&record, &[], &knowledge());
        let resources: Vec<&str> = evidence.conditions.iter().map(|c| c.source.resource.as_str()).collect();
        assert_eq!(resources, ["Condition/history", "Condition/vague"], "text only and modified are not used");
        let vague = &evidence.conditions[1];
        assert_eq!((vague.onset.as_ref(), vague.recorded.as_ref()), (None, None), "no fall back to recordedDate");
        let note = |id: &str, problem| Unreadable { location: format!("Condition/{id}"), problem };
        assert_eq!(
            evidence.unreadable,
            [
                note("text-only", UnreadableProblem::DvtTextOnly("Left leg DVT".to_owned())),
                note(
                    "modified",
                    UnreadableProblem::UnknownModifier(vec![Some("http://example.org/negated".to_owned())])
                ),
                note("vague", UnreadableProblem::UnreadableOnset(OnsetForm::String("about 3 weeks ago".to_owned()))),
            ]
        );
    }

    #[test]
    fn an_order_names_its_side_by_qualifier_or_word() {
        let texts = |words: &[&str]| words.iter().map(|w| (*w).to_owned()).collect::<Vec<String>>();
        assert_eq!(named_side(&texts(&["CDT, left lower extremity"])), Some(Laterality::Left));
        assert_eq!(named_side(&texts(&["Venogram RT leg"])), Some(Laterality::Right));
        assert_eq!(named_side(&texts(&["left and right"])), None, "both sides named: not decided");
        assert_eq!(named_side(&texts(&["Leftover"])), None, "a word, not a part of one");
    }

    #[test]
    fn a_medication_written_only_as_text_is_reported() {
        let request = |id: &str, concept: serde_json::Value| {
            json!({"resource": {"resourceType": "MedicationRequest",
            "id": id, "status": "active", "medicationCodeableConcept": concept}})
        };
        let record = record(json!([
            request("text", json!({"text": "Eliquis 5 mg twice daily"})),
            request(
                "local",
                json!({"coding": [{"system": "http://ehr.example.org/drugs", "code": "123",
                "display": "Warfarin 5mg tab"}]})
            ),
            request("other", json!({"text": "Paracetamol 1 g"})),
        ]));
        let evidence = extract(&record, &[], &knowledge());
        assert!(evidence.medications.is_empty());
        let uncoded = |id: &str, coded, text: &str| Unreadable {
            location: format!("MedicationRequest/{id}"),
            problem: UnreadableProblem::UncodedMedication {
                coded,
                text: text.to_owned(),
                class: MedicationClass::Anticoagulant,
            },
        };
        assert_eq!(
            evidence.unreadable,
            [uncoded("text", false, "Eliquis 5 mg twice daily"), uncoded("local", true, "Warfarin 5mg tab")]
        );
    }

    #[test]
    fn cell_counts_in_every_spelling_and_unknown_units_reported() {
        let platelets = |id: &str, value: f64, unit: &str| {
            json!({"resource": {"resourceType": "Observation", "id": id, "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
                "effectiveDateTime": "2026-11-23", "valueQuantity": {"value": value, "unit": unit}}})
        };
        let spellings = [
            ("10*3/uL", 150.0),
            ("10^3/uL", 150.0),
            ("K/uL", 150.0),
            ("THOU/uL", 150.0),
            ("THOU/mm3", 150.0),
            ("x10E3/uL", 150.0),
            ("10*9/L", 150.0),
            ("/uL", 150000.0),
            ("/mm3", 150000.0),
            ("10 ^3 / µL", 150.0),
        ];
        let resources: Vec<serde_json::Value> =
            spellings.iter().enumerate().map(|(i, (unit, value))| platelets(&format!("p{i}"), *value, unit)).collect();
        let mut resources = resources;
        resources.push(platelets("odd", 150.0, "per hpf"));
        let evidence = extract(&record(serde_json::Value::Array(resources)), &[], &knowledge());
        for lab in &evidence.labs[..spellings.len()] {
            assert_eq!(
                lab.value,
                LabValue::Number { value: 150.0, unit: "10*9/L".to_owned() },
                "{}",
                lab.source.resource
            );
        }
        assert_eq!(
            evidence.labs[spellings.len()].value,
            LabValue::Unreadable { problem: LabProblem::UnknownUnit("per hpf".to_owned()) }
        );
    }

    #[test]
    fn both_blood_pressure_panels_are_read_through_their_components() {
        let panel = |id: &str, code: &str| {
            json!({"resource": {"resourceType": "Observation", "id": id,
            "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "effectiveDateTime": "2026-11-23", "component": [
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                 "valueQuantity": {"value": 185, "unit": "mm[Hg]"}},
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                 "valueQuantity": {"value": 95, "unit": "mmHg"}}]}})
        };
        let evidence =
            extract(&record(json!([panel("fhir", "85354-9"), panel("synthea", "55284-4")])), &[], &knowledge());
        let read: Vec<(&str, Lab)> = evidence.labs.iter().map(|lab| (lab.source.resource.as_str(), lab.lab)).collect();
        assert_eq!(
            read,
            [
                ("Observation/fhir", Lab::SystolicBp),
                ("Observation/fhir", Lab::DiastolicBp),
                ("Observation/synthea", Lab::SystolicBp),
                ("Observation/synthea", Lab::DiastolicBp),
            ]
        );
    }

    #[test]
    fn egfr_is_computed_from_creatinine_age_and_sex_and_says_so() {
        let patient = |gender: &str| {
            json!({"resource": {"resourceType": "Patient", "id": "p1", "gender": gender,
            "birthDate": "1976-06-15"}})
        };
        let creatinine = |value: f64, unit: &str| {
            json!({"resource": {"resourceType": "Observation", "id": "cr",
            "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "2160-0"}]},
            "effectiveDateTime": "2026-11-23", "valueQuantity": {"value": value, "unit": unit}}})
        };
        let egfr = |resources: serde_json::Value| {
            let evidence = extract(&record(resources), &[], &knowledge());
            evidence.labs.into_iter().find(|lab| lab.lab == Lab::Egfr)
        };
        // CKD-EPI 2021 at 50 years, creatinine 1.0 mg/dL: 92 for a man, 69 for a woman (Inker 2021).
        let male = egfr(json!([patient("male"), creatinine(1.0, "mg/dL")])).unwrap();
        assert_eq!(male.value, LabValue::Number { value: 92.0, unit: "mL/min/{1.73_m2}".to_owned() });
        let code = male.source.code.unwrap();
        assert_eq!((code.system.as_str(), male.source.resource.as_str()), ("computed", "Observation/cr"));
        assert!(code.display.unwrap().contains("from creatinine 1 mg/dL, age 50, male"));
        let female = egfr(json!([patient("female"), creatinine(88.4, "umol/L")])).unwrap();
        assert_eq!(female.value, LabValue::Number { value: 69.0, unit: "mL/min/{1.73_m2}".to_owned() });
        assert_eq!(egfr(json!([patient("unknown"), creatinine(1.0, "mg/dL")])), None, "sex unknown: not computed");
        assert_eq!(egfr(json!([creatinine(1.0, "mg/dL")])), None, "no patient: not computed");
    }

    #[test]
    fn lab_units_are_converted_and_non_final_results_ignored() {
        let obs = |id: &str, status: &str, code: &str, value: serde_json::Value| {
            json!({"resource": {"resourceType": "Observation", "id": id, "status": status,
                "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "effectiveDateTime": "2026-11-23T08:00:00Z", "valueQuantity": value}})
        };
        let record = record(json!([
            obs("p1", "final", "777-3", json!({"value": 85000, "unit": "/uL"})),
            obs("p2", "final", "26515-7", json!({"value": 210, "code": "10*3/uL"})),
            obs("p3", "preliminary", "777-3", json!({"value": 5, "unit": "10*9/L"})),
            obs("c1", "amended", "2160-0", json!({"value": 176.8, "unit": "µmol/L"})),
            obs("e1", "final", "98979-8", json!({"value": 52, "unit": "furlongs"})),
            {"resource": {"resourceType": "Observation", "id": "bp", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]}, "effectiveDateTime": "2026-11-24",
                "component": [
                    {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, "valueQuantity": {"value": 190, "unit": "mmHg"}},
                    {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]}, "valueQuantity": {"value": 95, "code": "mm[Hg]"}}]}},
            {"resource": {"resourceType": "Observation", "id": "h1", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "2106-3"}]}, "effectiveDateTime": "2026-11-20",
                "valueCodeableConcept": {"text": "Not detected"}}},
        ]));
        let evidence = extract(&record, &[], &knowledge());
        let values: Vec<(String, LabValue)> =
            evidence.labs.iter().map(|l| (l.source.resource.clone(), l.value.clone())).collect();
        let number = |value: f64, unit: &str| LabValue::Number { value, unit: unit.to_owned() };
        assert_eq!(values[0], ("Observation/p1".to_owned(), number(85.0, "10*9/L")));
        assert_eq!(values[1], ("Observation/p2".to_owned(), number(210.0, "10*9/L")));
        assert_eq!(values[2].0, "Observation/c1");
        assert!(matches!(values[2].1, LabValue::Number { value, .. } if (value - 2.0).abs() < 1e-9));
        assert!(
            matches!(&values[3].1, LabValue::Unreadable { problem: LabProblem::UnknownUnit(unit) } if unit.contains("furlongs"))
        );
        assert_eq!(values[4], ("Observation/bp".to_owned(), number(190.0, "mm[Hg]")));
        assert_eq!(values[5], ("Observation/bp".to_owned(), number(95.0, "mm[Hg]")));
        assert_eq!(values[6], ("Observation/h1".to_owned(), LabValue::Negative));
        assert_eq!(values.len(), 7);
    }

    #[test]
    fn draft_orders_map_to_procedures_and_reasons() {
        let record = record(json!([{"resource": {"resourceType": "Condition", "id": "c1",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "102572006"}]}}}]));
        let order = |raw: serde_json::Value| {
            let resource: Resource = serde_json::from_value(raw.clone()).unwrap();
            DraftOrder { reference: resource.reference(), selected: true, resource, raw }
        };
        let orders = [
            order(
                json!({"resourceType": "ServiceRequest", "id": "f", "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "37191"}]}}),
            ),
            order(
                json!({"resourceType": "ServiceRequest", "id": "us", "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "93971"}]},
                "reasonReference": [{"reference": "Condition/c1"}]}),
            ),
            order(
                json!({"resourceType": "MedicationRequest", "id": "h", "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "854228"}]}}),
            ),
        ];
        let evidence = extract(&record, &orders, &knowledge());
        assert_eq!(evidence.orders[0].procedures, ["ivc-filter-retrievable", "ivc-filter-permanent"]);
        assert_eq!(evidence.orders[1].reasons[0].concept, Some(dvt_cds_core::evidence::Concept::LegEdema));
        assert_eq!(evidence.orders[2].procedures, ["anticoagulation"]);
        assert_eq!(evidence.orders[2].group, Some(dvt_cds_core::evidence::DrugGroup::Heparin));
    }

    #[test]
    fn a_reason_reference_with_a_base_or_a_version_finds_its_condition() {
        let record = record(json!([{"resource": {"resourceType": "Condition", "id": "c1",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "102572006"}]}}}]));
        let order = |reference: &str| {
            let raw = json!({"resourceType": "ServiceRequest", "id": "us",
                "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "93971"}]},
                "reasonReference": [{"reference": reference}]});
            let resource: Resource = serde_json::from_value(raw.clone()).unwrap();
            DraftOrder { reference: resource.reference(), selected: true, resource, raw }
        };
        for reference in ["Condition/c1/_history/2", "https://ehr.example/fhir/Condition/c1/_history/2"] {
            let evidence = extract(&record, &[order(reference)], &knowledge());
            let concepts: Vec<_> = evidence.orders[0].reasons.iter().map(|reason| reason.concept).collect();
            assert_eq!(concepts, [Some(dvt_cds_core::evidence::Concept::LegEdema)], "{reference}");
        }
        let evidence = extract(&record, &[order("Condition/c2/_history/2")], &knowledge());
        assert!(evidence.orders[0].reasons.is_empty());
    }

    #[test]
    fn procedures_entered_in_error_or_not_done_are_dropped() {
        let procedure = |id: &str, status: &str| {
            json!({"resource": {"resourceType": "Procedure", "id": id, "status": status,
                "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "37187"}]},
                "performedDateTime": "2026-11-01"}})
        };
        let record = record(json!([
            procedure("done", "completed"),
            procedure("error", "entered-in-error"),
            procedure("never", "not-done"),
            procedure("going", "in-progress"),
        ]));
        let evidence = extract(&record, &[], &knowledge());
        let kept: Vec<&str> = evidence.procedures.iter().map(|p| p.source.resource.as_str()).collect();
        assert_eq!(kept, ["Procedure/done", "Procedure/going"]);
    }

    #[test]
    fn a_medication_given_by_reference_is_read_when_the_record_holds_it_and_reported_when_not() {
        let apixaban =
            json!({"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1364430"}]});
        let record = record(json!([
            {"resource": {"resourceType": "MedicationRequest", "id": "contained", "status": "active",
                "contained": [{"resourceType": "Medication", "id": "m", "code": apixaban}],
                "medicationReference": {"reference": "#m"}, "authoredOn": "2026-11-20"}},
            {"resource": {"resourceType": "MedicationStatement", "id": "included", "status": "active",
                "medicationReference": {"reference": "https://ehr.example/fhir/Medication/m2/_history/1"}}},
            {"resource": {"resourceType": "Medication", "id": "m2", "code": apixaban}},
            {"resource": {"resourceType": "MedicationRequest", "id": "elsewhere", "status": "active",
                "medicationReference": {"reference": "Medication/m3"}}},
            {"resource": {"resourceType": "MedicationRequest", "id": "display-only", "status": "active",
                "medicationReference": {"display": "apixaban 5 mg"}}},
            {"resource": {"resourceType": "MedicationRequest", "id": "wrong-contained", "status": "active",
                "medicationReference": {"reference": "#nothing"}}},
        ]));
        let evidence = extract(&record, &[], &knowledge());
        let read: Vec<(&str, MedicationClass, &str)> = evidence
            .medications
            .iter()
            .map(|m| (m.source.resource.as_str(), m.class, m.source.code.as_ref().unwrap().code.as_str()))
            .collect();
        assert_eq!(
            read,
            [
                ("MedicationRequest/contained", MedicationClass::Anticoagulant, "1364430"),
                ("MedicationStatement/included", MedicationClass::Anticoagulant, "1364430"),
            ]
        );
        assert_eq!(evidence.medications[0].start.as_ref().unwrap().element, "authoredOn");
        assert_eq!(
            evidence.unreadable,
            [
                ("elsewhere", UnreadableProblem::MedicationNotInRecord),
                ("display-only", UnreadableProblem::MedicationReferenceNotLiteral),
                ("wrong-contained", UnreadableProblem::MedicationNotInRecord),
            ]
            .map(|(id, problem)| Unreadable { location: format!("MedicationRequest/{id}"), problem })
        );
    }

    #[test]
    fn a_duplex_result_is_found_by_its_study_code_however_spaced() {
        let duplex = |code: &str| {
            record(json!([{"resource": {"resourceType": "Observation", "id": "d1", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": code}]}}}]))
        };
        assert_eq!(extract(&duplex("39420-5"), &[], &knowledge()).imaging.len(), 1);
        assert_eq!(extract(&duplex(" 39420-5 "), &[], &knowledge()).imaging.len(), 1);
        assert!(extract(&duplex("39420-6"), &[], &knowledge()).imaging.is_empty());
    }

    #[test]
    fn allergies_to_contrast_and_thrombolytics_are_recognised_and_refuted_ones_dropped() {
        let record = record(json!([
            {"resource": {"resourceType": "AllergyIntolerance", "id": "a1", "code": {"text": "Iodinated contrast media"}}},
            {"resource": {"resourceType": "AllergyIntolerance", "id": "a2",
                "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "8410", "display": "alteplase"}]}}},
            {"resource": {"resourceType": "AllergyIntolerance", "id": "a3", "verificationStatus": {"coding": [{"code": "refuted"}]},
                "code": {"text": "contrast"}}},
        ]));
        let evidence = extract(&record, &[], &knowledge());
        let classes: Vec<AllergyClass> = evidence.allergies.iter().map(|a| a.class).collect();
        assert_eq!(classes, [AllergyClass::Contrast, AllergyClass::Thrombolytic]);
    }

    #[test]
    fn an_onset_age_becomes_a_year_wide_range() {
        let birth = FhirDate::parse("1980-05-10").unwrap();
        let date =
            age_to_date(&Quantity { value: Some(46.0), unit: Some("a".to_owned()), ..Quantity::default() }, &birth)
                .unwrap();
        assert_eq!(date.earliest().to_string(), "2026-05-10");
        assert_eq!(date.latest().to_string(), "2027-05-09");
    }
}
