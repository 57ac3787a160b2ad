//! What in the record could not be read or used, and why, as values: `gather` says what was wrong, `cards`
//! says it in words (`cards/wording.rs`, `unreadable_words`), so every sentence a clinician reads is written
//! in one place.

use serde::Serialize;

use super::MedicationClass;

/// A resource, or an entry of the request, that could not be read or was read but not used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    /// `Type/id` when they could be read, else where it was (`entry[3] (Observation)`,
    /// `context.draftOrders.entry[3]`, `document`); never the resource's content.
    pub location: String,
    pub problem: UnreadableProblem,
}

/// Why a resource could not be read or used. Each carries only what its sentence shows: a line and
/// column, the texts and codes the record wrote that the clinician must find; never more of the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnreadableProblem {
    /// The JSON reader refused it: the kind of error and where (its message could quote the data).
    Json { kind: JsonProblem, line: usize, column: usize },
    /// It has `modifierExtension`s, which this service does not understand, so it is not used: their
    /// urls (`None` for one without).
    UnknownModifier(Vec<Option<String>>),
    /// A DVT coded several ways whose codings state a point differently: each point taken as not stated.
    DisagreeingCodings(Vec<Disagreement>),
    /// A DVT named in the text alone (quoted), with no code: not used.
    DvtTextOnly(String),
    /// An onset in a form that is not a date (`onsetString`, an `onsetAge` without a birth date).
    UnreadableOnset(OnsetForm),
    /// A `medicationReference` without a literal reference.
    MedicationReferenceNotLiteral,
    /// A `medicationReference` to a Medication the record does not hold.
    MedicationNotInRecord,
    /// A medication whose text or display (quoted) names a class we care about, but with no code we know:
    /// `coded` when it has codes (of systems or values unknown to us), else text only. Not used.
    UncodedMedication { coded: bool, text: String, class: MedicationClass },
}

/// The JSON reader's category of error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JsonProblem {
    /// The input could not be read at all.
    Io,
    /// Not valid JSON.
    Syntax,
    /// Valid JSON, but a field of an unexpected type.
    Data,
    /// The JSON ended early.
    Eof,
}

/// One point two DVT codings of a Condition state differently, and the two codings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disagreement {
    pub point: DvtPoint,
    pub first: CodeName,
    pub other: CodeName,
}

/// What a DVT code says of the thrombus, as a point codings can disagree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DvtPoint {
    Segment,
    Side,
    Acuity,
}

/// A coding named by its system's human name and its code: `ICD-10-CM I82.422`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CodeName {
    pub system: String,
    pub code: String,
}

/// The form of an onset that could not be read as a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnsetForm {
    /// `onsetString`, quoted.
    String(String),
    Age,
    Period,
}
