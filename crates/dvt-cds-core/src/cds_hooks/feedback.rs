//! `POST /cds-services/{id}/feedback`: what the clinician did with our cards.
//!
//! Items are checked one by one so that a batch with one bad item still stores the good ones.

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::issue::{Issue, Typed, describe_json_error};

/// The request body: `{"feedback": [ ... ]}`, items kept raw until checked one by one.
#[derive(Debug)]
pub struct FeedbackBatch {
    pub feedback: Vec<Value>,
}

#[derive(Deserialize)]
struct WireBatch {
    feedback: Option<Value>,
}

/// One checked feedback item.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    pub card: Uuid,
    pub outcome: Outcome,
    /// Suggestion uuids, present exactly when the outcome is `accepted`.
    pub accepted_suggestions: Vec<String>,
    pub override_reason: Option<OverrideReason>,
    pub outcome_timestamp: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Overridden,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Overridden => "overridden",
        }
    }
}

/// Why the card was overridden: a coded reason the user picked, free text, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideReason {
    pub system: Option<String>,
    pub code: Option<String>,
    pub display: Option<String>,
    pub user_comment: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    /// Not JSON, or not an object. The message is ours and quotes nothing of the body.
    #[error("feedback body is not valid: {message}")]
    Malformed { message: String, line: usize, column: usize },
    /// `feedback` is missing or not an array.
    #[error("feedback: must be an array of feedback items")]
    NotAList,
    #[error("feedback holds no item")]
    Empty,
}

impl FeedbackBatch {
    pub fn from_json(body: &[u8]) -> Result<FeedbackBatch, FeedbackError> {
        let batch: WireBatch = serde_json::from_slice(body).map_err(|error| FeedbackError::Malformed {
            message: describe_json_error(&error, "a feedback batch"),
            line: error.line(),
            column: error.column(),
        })?;
        let Some(Value::Array(feedback)) = batch.feedback else { return Err(FeedbackError::NotAList) };
        if feedback.is_empty() {
            return Err(FeedbackError::Empty);
        }
        Ok(FeedbackBatch { feedback })
    }

    /// Checks every item; valid ones come back with their index, invalid ones as issues located
    /// at `feedback[i]...`.
    pub fn check(&self) -> (Vec<(usize, Feedback)>, Vec<Issue>) {
        let mut valid = Vec::new();
        let mut issues = Vec::new();
        for (index, item) in self.feedback.iter().enumerate() {
            match Feedback::check(item) {
                Ok(feedback) => valid.push((index, feedback)),
                Err(item_issues) => issues.extend(item_issues.into_iter().map(|issue| Issue {
                    expression: if issue.expression.is_empty() {
                        format!("feedback[{index}]")
                    } else {
                        format!("feedback[{index}].{}", issue.expression)
                    },
                    ..issue
                })),
            }
        }
        (valid, issues)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireFeedback {
    card: Option<Typed<String>>,
    outcome: Option<Typed<String>>,
    accepted_suggestions: Option<Typed<Vec<Value>>>,
    override_reason: Option<Typed<WireOverrideReason>>,
    outcome_timestamp: Option<Typed<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireOverrideReason {
    reason: Option<Typed<WireCoding>>,
    user_comment: Option<Typed<String>>,
}

#[derive(Deserialize)]
struct WireCoding {
    system: Option<Typed<String>>,
    code: Option<Typed<String>>,
    display: Option<Typed<String>>,
}

/// A string field: `None` when absent, blank, or (with an issue) not a string.
fn text(value: Option<Typed<String>>, expression: &str, issues: &mut Vec<Issue>) -> Option<String> {
    value.and_then(|value| value.check(expression, "a string", issues)).filter(|text| !text.trim().is_empty())
}

impl Feedback {
    fn check(item: &Value) -> Result<Feedback, Vec<Issue>> {
        let wire = WireFeedback::deserialize(item).map_err(|_| vec![Issue::new("", "must be a feedback object")])?;
        let mut issues = Vec::new();

        let card = match wire.card.map(|card| card.check("card", "the uuid of a card", &mut issues)) {
            Some(Some(card)) => match Uuid::parse_str(&card) {
                Ok(card) => Some(card),
                Err(_) => {
                    issues.push(Issue::new("card", "must be the uuid of a card"));
                    None
                }
            },
            Some(None) => None,
            None => {
                issues.push(Issue::required("card"));
                None
            }
        };

        let outcome = match wire.outcome.map(|outcome| outcome.check("outcome", "a string", &mut issues)) {
            Some(Some(outcome)) => match outcome.as_str() {
                "accepted" => Some(Outcome::Accepted),
                "overridden" => Some(Outcome::Overridden),
                _ => {
                    issues.push(Issue::new("outcome", "must be `accepted` or `overridden`"));
                    None
                }
            },
            Some(None) => None,
            None => {
                issues.push(Issue::required("outcome"));
                None
            }
        };

        let suggestions = wire
            .accepted_suggestions
            .and_then(|list| list.check("acceptedSuggestions", "an array of objects with an id", &mut issues));
        let accepted_suggestions: Vec<String> = suggestions
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .filter_map(|(index, suggestion)| match suggestion.get("id") {
                Some(Value::String(id)) if !id.trim().is_empty() => Some(id.clone()),
                Some(Value::String(_)) | Some(Value::Null) | None => {
                    issues.push(Issue::required(format!("acceptedSuggestions[{index}].id")));
                    None
                }
                Some(_) => {
                    issues.push(Issue::new(format!("acceptedSuggestions[{index}].id"), "must be a string"));
                    None
                }
            })
            .collect();
        match outcome {
            Some(Outcome::Accepted) if accepted_suggestions.is_empty() => {
                issues.push(Issue::required_when("acceptedSuggestions", "the outcome is `accepted`"));
            }
            Some(Outcome::Overridden) if !accepted_suggestions.is_empty() => {
                issues.push(Issue::new("acceptedSuggestions", "is only allowed when the outcome is `accepted`"));
            }
            _ => {}
        }

        let override_reason = wire
            .override_reason
            .and_then(|reason| reason.check("overrideReason", "an object", &mut issues))
            .map(|reason| {
                let coding = reason
                    .reason
                    .and_then(|coding| coding.check("overrideReason.reason", "a Coding object", &mut issues))
                    .unwrap_or(WireCoding { system: None, code: None, display: None });
                OverrideReason {
                    system: text(coding.system, "overrideReason.reason.system", &mut issues),
                    code: text(coding.code, "overrideReason.reason.code", &mut issues),
                    display: text(coding.display, "overrideReason.reason.display", &mut issues),
                    user_comment: text(reason.user_comment, "overrideReason.userComment", &mut issues),
                }
            });
        if let Some(reason) = &override_reason {
            if outcome == Some(Outcome::Accepted) {
                issues.push(Issue::new("overrideReason", "is only allowed when the outcome is `overridden`"));
            }
            if reason.code.is_none() && reason.user_comment.is_none() {
                issues.push(Issue::new("overrideReason", "needs a reason code or a userComment"));
            }
        }

        const TIMESTAMP: &str = "an RFC 3339 date-time with a time zone";
        let outcome_timestamp =
            match wire.outcome_timestamp.map(|text| text.check("outcomeTimestamp", TIMESTAMP, &mut issues)) {
                Some(Some(text)) => match OffsetDateTime::parse(&text, &Rfc3339) {
                    Ok(timestamp) => Some(timestamp),
                    Err(_) => {
                        issues.push(Issue::new("outcomeTimestamp", format!("must be {TIMESTAMP}")));
                        None
                    }
                },
                Some(None) => None,
                None => {
                    issues.push(Issue::required("outcomeTimestamp"));
                    None
                }
            };

        match (card, outcome, outcome_timestamp) {
            (Some(card), Some(outcome), Some(outcome_timestamp)) if issues.is_empty() => {
                Ok(Feedback { card, outcome, accepted_suggestions, override_reason, outcome_timestamp })
            }
            _ => Err(issues),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const CARD: &str = "4f1c9a4e-3a5f-5b8e-9d3c-2b1a0f9e8d7c";

    fn check(item: Value) -> Result<Feedback, Vec<String>> {
        Feedback::check(&item).map_err(|issues| issues.iter().map(Issue::to_string).collect())
    }

    #[test]
    fn accepted_feedback_names_its_suggestions() {
        let feedback = check(json!({"card": CARD, "outcome": "accepted",
            "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
            "outcomeTimestamp": "2026-11-24T10:00:00Z"}))
        .unwrap();
        assert_eq!(feedback.outcome, Outcome::Accepted);
        assert_eq!(feedback.accepted_suggestions, ["e56e1945-20b3-4393-8503-a1a20fd73152"]);
        assert_eq!(
            check(json!({"card": CARD, "outcome": "accepted", "outcomeTimestamp": "2026-11-24T10:00:00Z"}))
                .unwrap_err(),
            ["acceptedSuggestions: is required when the outcome is `accepted`"]
        );
    }

    #[test]
    fn the_sandbox_dismissal_shape_is_accepted() {
        // The sandbox sends a reason code without display and no userComment.
        let feedback =
            check(json!({"card": CARD, "outcome": "overridden", "outcomeTimestamp": "2026-11-24T10:00:00.123Z",
            "overrideReason": {"reason": {"code": "patient-preference", "system": "https://example.org"}}}))
            .unwrap();
        assert_eq!(feedback.override_reason.unwrap().code.as_deref(), Some("patient-preference"));
    }

    #[test]
    fn every_problem_of_an_item_is_reported() {
        assert_eq!(
            check(json!({"card": "not-a-uuid", "outcome": "ignored", "overrideReason": {}, "outcomeTimestamp": "yesterday"})).unwrap_err(),
            [
                "card: must be the uuid of a card",
                "outcome: must be `accepted` or `overridden`",
                "overrideReason: needs a reason code or a userComment",
                "outcomeTimestamp: must be an RFC 3339 date-time with a time zone",
            ]
        );
        assert_eq!(check(json!("secret")).unwrap_err(), [": must be a feedback object"]);
        assert_eq!(
            check(json!({"card": 5, "outcome": ["secret"], "outcomeTimestamp": {"secret": 1},
                "overrideReason": {"reason": "secret", "userComment": 7}}))
            .unwrap_err(),
            [
                "card: must be the uuid of a card",
                "outcome: must be a string",
                "overrideReason.reason: must be a Coding object",
                "overrideReason.userComment: must be a string",
                "overrideReason: needs a reason code or a userComment",
                "outcomeTimestamp: must be an RFC 3339 date-time with a time zone",
            ]
        );
    }

    #[test]
    fn a_batch_separates_good_items_from_bad_ones() {
        let batch = FeedbackBatch::from_json(
            json!({"feedback": [
                {"card": CARD, "outcome": "overridden", "outcomeTimestamp": "2026-11-24T10:00:00Z"},
                {"card": CARD},
            ]})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        let (valid, issues) = batch.check();
        assert_eq!(valid.len(), 1);
        assert_eq!(valid[0].0, 0);
        let issues: Vec<String> = issues.iter().map(Issue::to_string).collect();
        assert_eq!(issues, ["feedback[1].outcome: is required", "feedback[1].outcomeTimestamp: is required"]);
        assert!(matches!(FeedbackBatch::from_json(br#"{"feedback": []}"#), Err(FeedbackError::Empty)));
        assert!(matches!(FeedbackBatch::from_json(br#"{"cards": []}"#), Err(FeedbackError::NotAList)));
        assert!(matches!(FeedbackBatch::from_json(br#"{"feedback": "secret"}"#), Err(FeedbackError::NotAList)));
        assert!(matches!(FeedbackBatch::from_json(br#""secret""#), Err(FeedbackError::Malformed { .. })));
    }
}
