use std::fmt;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::operation_outcome::IssueType;

/// One problem found in client input, located by a FHIRPath-like expression
/// (`context.draftOrders.entry[2].resource`), as an OperationOutcome issue reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub expression: String,
    pub message: String,
    /// The OperationOutcome issue type: `required` for a missing value, `invalid` for a wrong one.
    pub code: IssueType,
}

impl Issue {
    /// A value that is present but wrong.
    pub fn new(expression: impl Into<String>, message: impl Into<String>) -> Issue {
        Issue { expression: expression.into(), message: message.into(), code: IssueType::Invalid }
    }

    /// A value that is missing: "is required".
    pub fn required(expression: impl Into<String>) -> Issue {
        Issue { expression: expression.into(), message: "is required".to_owned(), code: IssueType::Required }
    }

    /// A value that is missing under a condition: "is required when {condition}".
    pub fn required_when(expression: impl Into<String>, condition: &str) -> Issue {
        Issue {
            expression: expression.into(),
            message: format!("is required when {condition}"),
            code: IssueType::Required,
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.expression, self.message)
    }
}

/// A field of client input read whatever JSON type it holds: the type we read, or a note that it was
/// something else. A wrong type is then reported at its location with what was expected, in our words:
/// serde's own messages quote the value (`invalid type: string "eyJ..."`), which may be a token or free text.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Typed<T> {
    Right(T),
    Wrong(IgnoredAny),
}

impl<T> Typed<T> {
    /// The value when it has the right type; otherwise an issue at `expression` saying it `must be ...`.
    pub(crate) fn check(self, expression: &str, expected: &str, issues: &mut Vec<Issue>) -> Option<T> {
        match self {
            Typed::Right(value) => Some(value),
            Typed::Wrong(_) => {
                issues.push(Issue::new(expression, format!("must be {expected}")));
                None
            }
        }
    }
}

/// What a serde_json error may tell the client: its kind and position, never its message, which can
/// quote the input.
pub(crate) fn describe_json_error(error: &serde_json::Error, what: &str) -> String {
    use serde_json::error::Category;
    let position = format!("line {} column {}", error.line(), error.column());
    match error.classify() {
        Category::Eof => format!("the body ends before the JSON is complete ({position})"),
        Category::Syntax | Category::Io => format!("the body is not valid JSON ({position})"),
        Category::Data => format!("the body must be a JSON object, {what} ({position})"),
    }
}

/// FHIR `id` syntax: what `patientId`, `encounterId` and the id half of a reference may hold.
/// Checked before any of them is put into a FHIR query URL.
pub(crate) fn is_fhir_id(text: &str) -> bool {
    !text.is_empty() && text.len() <= 64 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// A relative reference `Type/id`, as `userId` and `selections` carry.
pub(crate) fn split_relative_reference(text: &str) -> Option<(&str, &str)> {
    let (resource_type, id) = text.split_once('/')?;
    let type_ok = resource_type.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && resource_type.chars().all(|c| c.is_ascii_alphabetic());
    (type_ok && is_fhir_id(id)).then_some((resource_type, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fhir_ids_follow_the_r4_id_grammar() {
        assert!(is_fhir_id("smart-1288992"));
        assert!(is_fhir_id("MRI-59879846.v2"));
        assert!(!is_fhir_id(""));
        assert!(!is_fhir_id("a b"));
        assert!(!is_fhir_id("1&_include=*"));
        assert!(!is_fhir_id(&"x".repeat(65)));
    }

    #[test]
    fn relative_references_need_a_type_and_an_id() {
        assert_eq!(split_relative_reference("Practitioner/123"), Some(("Practitioner", "123")));
        assert_eq!(split_relative_reference("practitioner/123"), None);
        assert_eq!(split_relative_reference("Practitioner/"), None);
        assert_eq!(split_relative_reference("Practitioner/1/_history/2"), None);
        assert_eq!(split_relative_reference("123"), None);
    }
}
