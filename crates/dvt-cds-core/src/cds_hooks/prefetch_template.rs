//! Prefetch templates with CDS Hooks 2.0 tokens only: `{{context.<field>}}` for the hook's
//! prefetch-token fields and the user tokens derived from `context.userId`.

use super::hook::Hook;
use super::request::HookContext;

/// A parsed prefetch template, e.g. `Condition?patient={{context.patientId}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefetchTemplate {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Token(Token),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    UserId,
    PatientId,
    EncounterId,
    /// `{{userPractitionerId}}` and friends: the id half of `context.userId` when its type matches.
    UserOfType(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("template `{0}` must be a relative FHIR read or search URL")]
    NotRelative(String),
    #[error("template `{template}` has an unclosed `{{{{`")]
    Unclosed { template: String },
    #[error("template `{template}` uses `{{{{{token}}}}}`, which is not a CDS Hooks 2.0 prefetch token for `{hook}`")]
    UnknownToken { template: String, token: String, hook: Hook },
}

const USER_TOKENS: [(&str, &str); 4] = [
    ("userPractitionerId", "Practitioner"),
    ("userPractitionerRoleId", "PractitionerRole"),
    ("userPatientId", "Patient"),
    ("userRelatedPersonId", "RelatedPerson"),
];

impl PrefetchTemplate {
    pub fn parse(template: &str, hook: Hook) -> Result<PrefetchTemplate, TemplateError> {
        // `Type?query` or `Type/{{id}}`: the path part names a resource type, with no scheme or host.
        let path = template.split('?').next().unwrap_or_default();
        let first = path.chars().next();
        if !first.is_some_and(|c| c.is_ascii_uppercase()) || path.contains(':') || path.contains(char::is_whitespace) {
            return Err(TemplateError::NotRelative(template.to_owned()));
        }
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            let (literal, after_open) = rest.split_at(start);
            if !literal.is_empty() {
                parts.push(Part::Literal(literal.to_owned()));
            }
            let after_open = after_open.get(2..).unwrap_or_default();
            let Some(end) = after_open.find("}}") else {
                return Err(TemplateError::Unclosed { template: template.to_owned() });
            };
            let (name, after_close) = after_open.split_at(end);
            let token = parse_token(name.trim(), hook).ok_or_else(|| TemplateError::UnknownToken {
                template: template.to_owned(),
                token: name.trim().to_owned(),
                hook,
            })?;
            parts.push(Part::Token(token));
            rest = after_close.get(2..).unwrap_or_default();
        }
        if rest.contains("}}") {
            return Err(TemplateError::Unclosed { template: template.to_owned() });
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(PrefetchTemplate { source: template.to_owned(), parts })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The resource type the template reads or searches (`Condition` for `Condition?patient=...`).
    pub fn resource_type(&self) -> &str {
        let end = self.source.find(['?', '/']).unwrap_or(self.source.len());
        self.source.get(..end).unwrap_or_default()
    }

    /// True for a search (`Type?...`), false for a read (`Type/{{id}}`).
    pub fn is_search(&self) -> bool {
        self.source.get(self.resource_type().len()..).is_some_and(|rest| rest.is_empty() || rest.starts_with('?'))
    }

    /// The relative URL with the tokens filled from `context`, or `None` when a token has no value
    /// (no `encounterId`, or a user token that does not match `userId`'s type): such a key cannot be
    /// fetched, exactly as a client would leave it out.
    ///
    /// Every value substituted was checked to be a FHIR id, so it needs no escaping.
    pub fn render(&self, context: &HookContext) -> Option<String> {
        let mut url = String::with_capacity(self.source.len() + 32);
        for part in &self.parts {
            match part {
                Part::Literal(text) => url.push_str(text),
                Part::Token(Token::UserId) => url.push_str(&context.user_id),
                Part::Token(Token::PatientId) => url.push_str(&context.patient_id),
                Part::Token(Token::EncounterId) => url.push_str(context.encounter_id.as_deref()?),
                Part::Token(Token::UserOfType(wanted)) => {
                    let (resource_type, id) = context.user_id.split_once('/')?;
                    if resource_type != *wanted {
                        return None;
                    }
                    url.push_str(id);
                }
            }
        }
        Some(url)
    }
}

fn parse_token(name: &str, hook: Hook) -> Option<Token> {
    if let Some(field) = name.strip_prefix("context.") {
        if !hook.prefetch_token_fields().contains(&field) {
            return None;
        }
        return match field {
            "userId" => Some(Token::UserId),
            "patientId" => Some(Token::PatientId),
            "encounterId" => Some(Token::EncounterId),
            _ => None,
        };
    }
    USER_TOKENS.iter().find(|(token, _)| *token == name).map(|(_, resource_type)| Token::UserOfType(resource_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(user_id: &str, encounter_id: Option<&str>) -> HookContext {
        HookContext {
            user_id: user_id.to_owned(),
            patient_id: "p1".to_owned(),
            encounter_id: encounter_id.map(str::to_owned),
            selections: Vec::new(),
            draft_orders: None,
        }
    }

    #[test]
    fn context_tokens_render_from_the_hook_context() {
        let template =
            PrefetchTemplate::parse("Condition?patient={{context.patientId}}&_count=100", Hook::OrderSign).unwrap();
        assert_eq!(template.resource_type(), "Condition");
        assert!(template.is_search());
        assert_eq!(
            template.render(&context("Practitioner/u", None)).as_deref(),
            Some("Condition?patient=p1&_count=100")
        );

        let read = PrefetchTemplate::parse("Patient/{{context.patientId}}", Hook::PatientView).unwrap();
        assert!(!read.is_search());
        assert_eq!(read.render(&context("Practitioner/u", None)).as_deref(), Some("Patient/p1"));
    }

    #[test]
    fn tokens_without_a_value_leave_the_key_unrendered() {
        let encounter = PrefetchTemplate::parse("Encounter/{{context.encounterId}}", Hook::OrderSelect).unwrap();
        assert_eq!(encounter.render(&context("Practitioner/u", None)), None);
        let user = PrefetchTemplate::parse("PractitionerRole/{{userPractitionerRoleId}}", Hook::OrderSelect).unwrap();
        assert_eq!(user.render(&context("Practitioner/u", None)), None);
        assert_eq!(user.render(&context("PractitionerRole/r", None)).as_deref(), Some("PractitionerRole/r"));
    }

    #[test]
    fn only_cds_hooks_2_tokens_are_allowed() {
        let refused = [
            "Observation?date=ge{{today() - 90 days}}",
            "ServiceRequest/{{context.draftOrders.ServiceRequest.id}}",
            "Patient/{{context.selections}}",
            "Patient/{{user}}",
        ];
        for template in refused {
            assert!(
                matches!(PrefetchTemplate::parse(template, Hook::OrderSelect), Err(TemplateError::UnknownToken { .. })),
                "{template}"
            );
        }
        assert!(matches!(
            PrefetchTemplate::parse("Patient/{{context.patientId", Hook::PatientView),
            Err(TemplateError::Unclosed { .. })
        ));
        assert!(matches!(
            PrefetchTemplate::parse("https://ehr/Patient/1", Hook::PatientView),
            Err(TemplateError::NotRelative(_))
        ));
        assert!(matches!(PrefetchTemplate::parse("/Patient/1", Hook::PatientView), Err(TemplateError::NotRelative(_))));
    }
}
