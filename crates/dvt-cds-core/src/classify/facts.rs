//! Facts from evidence, in the shape assessments carry them.

use super::assessment::Fact;
use crate::evidence::{
    AllergyFact, ClinicalStatus, Concept, ConditionFact, Dated, ImagingFact, LabFact, LabValue, Match, MedicationClass,
    MedicationFact, OrderFact, ProcedureFact, Severity, Verification,
};

pub(super) fn concept_label(concept: Concept) -> &'static str {
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

pub(super) fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Mild => "mild",
        Severity::Moderate => "moderate",
        Severity::Severe => "severe",
    }
}

fn dated(date: Option<&Dated>) -> Option<String> {
    date.map(|dated| format!("{} ({})", dated.date.text(), dated.element))
}

pub(super) fn condition_fact(condition: &ConditionFact) -> Fact {
    let mut value = Vec::new();
    if let Some(severity) = condition.severity {
        value.push(format!("severity {}", severity_name(severity)));
    }
    match condition.verification {
        Verification::Suspected => value.push("suspected, not confirmed".to_owned()),
        Verification::Refuted => value.push("refuted".to_owned()),
        Verification::EnteredInError => value.push("entered in error".to_owned()),
        Verification::Confirmed | Verification::NotRecorded => {}
    }
    match (condition.clinical_status, condition.abated) {
        (ClinicalStatus::Inactive, _) => value.push("resolved or inactive".to_owned()),
        (_, true) => value.push("abated".to_owned()),
        (ClinicalStatus::NotRecorded, false) => value.push("clinical status not recorded".to_owned()),
        (ClinicalStatus::Active, false) => {}
    }
    if !condition.body_sites.is_empty() {
        value.push(format!("body site: {}", condition.body_sites.join(", ")));
    }
    match condition.matched_by {
        Match::Text => value.push("recognised by its name (no verified code exists)".to_owned()),
        Match::UnverifiedCode => value.push("code mapping unverified".to_owned()),
        Match::Code => {}
    }
    let date = match (&condition.onset, &condition.recorded) {
        (Some(onset), _) => dated(Some(onset)),
        (None, Some(recorded)) => Some(format!("{} (recordedDate)", recorded.text())),
        (None, None) => None,
    };
    Fact {
        finding: concept_label(condition.concept).to_owned(),
        resource: condition.source.resource.clone(),
        code: condition.source.code.clone(),
        value: (!value.is_empty()).then(|| value.join("; ")),
        date,
    }
}

pub(super) fn lab_fact(lab: &LabFact) -> Fact {
    let value = match &lab.value {
        LabValue::Number { value, unit } => format!("{} {unit}", trim_number(*value)),
        LabValue::Positive => "positive".to_owned(),
        LabValue::Negative => "negative".to_owned(),
        LabValue::Unreadable { reason } => format!("not interpretable: {reason}"),
    };
    Fact {
        finding: lab_label(lab.lab).to_owned(),
        resource: lab.source.resource.clone(),
        code: lab.source.code.clone(),
        value: Some(value),
        date: dated(lab.date.as_ref()),
    }
}

pub fn lab_label(lab: crate::evidence::Lab) -> &'static str {
    use crate::evidence::Lab;
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
pub(super) fn trim_number(value: f64) -> String {
    if (value - value.round()).abs() < 1e-9 { format!("{value:.0}") } else { format!("{value:.1}") }
}

pub(super) fn medication_fact(medication: &MedicationFact) -> Fact {
    let finding = match medication.class {
        MedicationClass::Anticoagulant => "Anticoagulant",
        MedicationClass::Antiplatelet => "Antiplatelet",
        MedicationClass::Thrombolytic => "Thrombolytic",
    };
    Fact {
        finding: finding.to_owned(),
        resource: medication.source.resource.clone(),
        code: medication.source.code.clone(),
        value: medication.status.clone(),
        date: dated(medication.start.as_ref()),
    }
}

pub(super) fn procedure_fact(procedure: &ProcedureFact) -> Fact {
    Fact {
        finding: "Procedure".to_owned(),
        resource: procedure.source.resource.clone(),
        code: procedure.source.code.clone(),
        value: procedure.status.clone(),
        date: dated(procedure.date.as_ref()),
    }
}

pub(super) fn allergy_fact(allergy: &AllergyFact) -> Fact {
    let finding = match allergy.class {
        crate::evidence::AllergyClass::Thrombolytic => "Allergy to a thrombolytic",
        crate::evidence::AllergyClass::Anticoagulant => "Allergy to an anticoagulant",
        crate::evidence::AllergyClass::Contrast => "Allergy to contrast media",
    };
    Fact {
        finding: finding.to_owned(),
        resource: allergy.source.resource.clone(),
        code: allergy.source.code.clone(),
        value: (!allergy.active).then(|| "inactive".to_owned()),
        date: None,
    }
}

pub(super) fn imaging_fact(finding: &ImagingFact) -> Fact {
    let mut value = Vec::new();
    match finding.positive {
        Some(true) => value.push("thrombus found".to_owned()),
        Some(false) => value.push("no thrombus".to_owned()),
        None => {}
    }
    if !finding.body_sites.is_empty() {
        value.push(format!("body site: {}", finding.body_sites.join(", ")));
    }
    Fact {
        finding: "Venous duplex".to_owned(),
        resource: finding.source.resource.clone(),
        code: finding.source.code.clone(),
        value: (!value.is_empty()).then(|| value.join("; ")),
        date: dated(finding.date.as_ref()),
    }
}

pub(super) fn order_fact(order: &OrderFact) -> Fact {
    let reasons: Vec<String> = order
        .reasons
        .iter()
        .map(|reason| {
            reason.code.display.clone().unwrap_or_else(|| format!("{} {}", reason.code.system, reason.code.code))
        })
        .collect();
    Fact {
        finding: "Draft order".to_owned(),
        resource: order.source.resource.clone(),
        code: order.source.code.clone(),
        value: (!reasons.is_empty()).then(|| format!("reason: {}", reasons.join(", "))),
        date: None,
    }
}
