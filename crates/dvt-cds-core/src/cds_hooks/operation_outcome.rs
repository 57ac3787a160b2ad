//! FHIR R4 OperationOutcome: the body of every error response (CDS Hooks 3.0 recommends it).

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OperationOutcome {
    resource_type: &'static str,
    issue: Vec<OutcomeIssue>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OutcomeIssue {
    severity: IssueSeverity,
    code: IssueType,
    #[serde(skip_serializing_if = "Option::is_none")]
    diagnostics: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    expression: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueSeverity {
    Error,
    Information,
}

/// The subset of FHIR's IssueType codes we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssueType {
    Invalid,
    Structure,
    Required,
    Login,
    Forbidden,
    NotFound,
    NotSupported,
    TooLong,
    Exception,
    Timeout,
    Throttled,
    Incomplete,
    Informational,
    /// Something we depend on is down for now (the database): trying again later may work.
    Transient,
}

impl OperationOutcome {
    pub fn new(issue: Vec<OutcomeIssue>) -> OperationOutcome {
        OperationOutcome { resource_type: "OperationOutcome", issue }
    }

    /// An outcome with one error issue.
    pub fn error(code: IssueType, diagnostics: impl Into<String>) -> OperationOutcome {
        OperationOutcome::new(vec![OutcomeIssue::new(IssueSeverity::Error, code, diagnostics)])
    }

    pub fn issues(&self) -> &[OutcomeIssue] {
        &self.issue
    }
}

impl OutcomeIssue {
    pub fn new(severity: IssueSeverity, code: IssueType, diagnostics: impl Into<String>) -> OutcomeIssue {
        OutcomeIssue { severity, code, diagnostics: Some(diagnostics.into()), expression: Vec::new() }
    }

    #[must_use]
    pub fn at(mut self, expression: impl Into<String>) -> OutcomeIssue {
        self.expression.push(expression.into());
        self
    }
}
