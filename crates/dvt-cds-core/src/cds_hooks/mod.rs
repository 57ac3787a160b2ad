//! The CDS Hooks 2.0 wire model: what clients send, what we answer, and the discovery document.
//!
//! This layer knows the protocol and nothing clinical.
//! Client input is read tolerantly (unknown fields and `extension` are ignored, never refused) and then
//! validated against the spec's required fields; what we emit is built through types whose constructors
//! enforce the spec's rules, so a non-conformant card cannot be serialized.

mod discovery;
mod feedback;
mod hook;
mod issue;
mod operation_outcome;
mod prefetch_template;
mod request;
mod response;

pub use discovery::{Discovery, DiscoveryError, ServiceDefinition};
pub use feedback::{Feedback, FeedbackBatch, FeedbackError, Outcome, OverrideReason};
pub use hook::Hook;
pub use issue::Issue;
pub use operation_outcome::{IssueSeverity, IssueType, OperationOutcome, OutcomeIssue};
pub use prefetch_template::{PrefetchTemplate, TemplateError};
pub use request::{AccessToken, FhirAuthorization, HookContext, HookRequest, RequestError};
pub use response::{
    Action, Card, CardBuilder, CardError, CdsResponse, Coding, Indicator, Link, SelectionBehavior, Source, Suggestion,
};
