//! Parts of the record that could not be obtained, and why, as values: `gather` says what went wrong,
//! `cards` says it in words (`cards/wording.rs`), so every sentence a clinician reads is written in one place.

use std::time::Duration;

use serde::Serialize;

/// A part of the record that could not be obtained at all (a prefetch key neither the EHR nor its FHIR
/// server gave).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataGap {
    pub part: RecordPart,
    pub reason: Unobtained,
}

/// The part of the patient's record one prefetch key holds: what the clinician cannot see when it is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordPart {
    /// Age and sex (the Patient).
    Demographics,
    Diagnoses,
    /// Laboratory results and blood pressure (Observations).
    LabsAndBloodPressure,
    MedicationOrders,
    MedicationHistory,
    Procedures,
    Allergies,
}

impl RecordPart {
    /// The medications on record (ordered or taken): without them anticoagulation cannot be judged.
    pub fn is_medications(self) -> bool {
        matches!(self, RecordPart::MedicationOrders | RecordPart::MedicationHistory)
    }
}

/// Why a part of the record could not be obtained. Each carries only what its sentence shows: limits,
/// HTTP statuses, a resource type's name, a FHIR release; never the record's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unobtained {
    /// The EHR did not send it, and named no FHIR server to read it from.
    NotSent,
    /// The EHR sent an OperationOutcome for it (its own fetch failed), and named no FHIR server.
    PrefetchFailed,
    /// The EHR sent something that cannot be used for it, and named no FHIR server.
    PrefetchUnusable(Unusable),
    /// The hook call lacks a value the key's query needs (a `{{context.x}}` it does not have).
    QueryValueMissing,
    /// The key's query does not make an address on the FHIR server (it does not join, or leaves its origin).
    QueryOffServer,
    /// This service could not set up its HTTP client for FHIR servers.
    NoHttpClient,
    /// The EHR's access token holds characters an HTTP header cannot carry.
    TokenNotSendable,
    /// The FHIR server did not answer within the deadline of all the request's queries.
    Deadline(Duration),
    /// No connection to the FHIR server.
    Unreachable,
    /// The FHIR server answered 401 or 403.
    Refused(u16),
    /// A read of the patient's own resource answered 404 or 410.
    NoSuchPatient,
    /// Any other HTTP error status.
    ErrorStatus(u16),
    /// The FHIR server redirected the query off its origin.
    RedirectedElsewhere,
    /// The answer ended before its body did.
    CutOff,
    /// One answer was larger than this many bytes.
    AnswerTooLarge(usize),
    /// The request's answers together were larger than this many bytes.
    AnswersTooLarge(usize),
    /// The search had more pages than this.
    TooManyPages(usize),
    /// The search's next page is off the FHIR server's origin.
    NextPageElsewhere,
    /// The answer is not JSON a FHIR reader can read.
    NotFhirJson,
    /// The answer is a resource of another type than asked for: its type's name, when it has a plain one.
    OtherResource(Option<String>),
    /// The FHIR server answered with an OperationOutcome.
    ServerReportedError,
    /// The answer holds resources about another patient.
    OtherPatient,
    /// The FHIR server speaks another release than R4, named as the server gives it: `1.0.2 (DSTU2)`.
    NotR4(String),
    /// The FHIR server's answer cannot be used for the key.
    AnswerUnusable(Unusable),
}

/// Why what a prefetch key holds (prefetched or fetched) cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unusable {
    /// Not JSON, not an object, or an object without a `resourceType`.
    NotFhir,
    /// A resource, or Bundle entries, of another type than the key's (named).
    OtherType(&'static str),
    /// A resource of the key's type (named) that could not be read, in an essential key: its findings
    /// would be missing without a trace in the decision.
    UnreadableResource(&'static str),
}
