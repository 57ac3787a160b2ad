//! Facts from evidence, in the shape assessments carry them: data only, which `cards::wording` words.

use super::assessment::{Fact, FactKind};
use crate::evidence::{
    AllergyFact, ConditionFact, Dated, ImagingFact, LabFact, MedicationFact, OrderFact, ProcedureFact,
};

pub(super) fn condition_fact(condition: &ConditionFact) -> Fact {
    // The onset, else when the condition was recorded: the date its age is counted from.
    let date = match (&condition.onset, &condition.recorded) {
        (Some(onset), _) => Some(onset.clone()),
        (None, Some(recorded)) => Some(Dated { date: recorded.clone(), element: "recordedDate" }),
        (None, None) => None,
    };
    Fact {
        kind: FactKind::Condition {
            concept: condition.concept,
            severity: condition.severity,
            verification: condition.verification,
            clinical_status: condition.clinical_status,
            abated: condition.abated,
            body_sites: condition.body_sites.clone(),
            matched_by: condition.matched_by,
        },
        resource: condition.source.resource.clone(),
        code: condition.source.code.clone(),
        date,
    }
}

pub(super) fn lab_fact(lab: &LabFact) -> Fact {
    Fact {
        kind: FactKind::Lab { lab: lab.lab, value: lab.value.clone() },
        resource: lab.source.resource.clone(),
        code: lab.source.code.clone(),
        date: lab.date.clone(),
    }
}

pub(super) fn medication_fact(medication: &MedicationFact) -> Fact {
    Fact {
        kind: FactKind::Medication { class: medication.class, status: medication.status.clone() },
        resource: medication.source.resource.clone(),
        code: medication.source.code.clone(),
        date: medication.start.clone(),
    }
}

pub(super) fn procedure_fact(procedure: &ProcedureFact) -> Fact {
    Fact {
        kind: FactKind::Procedure { status: procedure.status.clone() },
        resource: procedure.source.resource.clone(),
        code: procedure.source.code.clone(),
        date: procedure.date.clone(),
    }
}

pub(super) fn allergy_fact(allergy: &AllergyFact) -> Fact {
    Fact {
        kind: FactKind::Allergy { class: allergy.class, active: allergy.active },
        resource: allergy.source.resource.clone(),
        code: allergy.source.code.clone(),
        date: None,
    }
}

pub(super) fn imaging_fact(finding: &ImagingFact) -> Fact {
    Fact {
        kind: FactKind::Imaging { thrombus: finding.positive, body_sites: finding.body_sites.clone() },
        resource: finding.source.resource.clone(),
        code: finding.source.code.clone(),
        date: finding.date.clone(),
    }
}

pub(super) fn order_fact(order: &OrderFact) -> Fact {
    Fact {
        kind: FactKind::Order { reasons: order.reasons.iter().map(|reason| reason.code.clone()).collect() },
        resource: order.source.resource.clone(),
        code: order.source.code.clone(),
        date: None,
    }
}
