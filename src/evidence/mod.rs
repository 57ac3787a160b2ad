//! Clinical facts about the patient, each with the FHIR resource it came from.
//!
//! This is the vocabulary shared by `gather` (which produces it) and `classify` (which reads it).
//! It holds no FHIR or JSON types and does no IO.
