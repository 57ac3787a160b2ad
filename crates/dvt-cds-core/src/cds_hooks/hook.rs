use std::fmt;

/// The hooks this service can serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    PatientView,
    OrderSelect,
    OrderSign,
}

impl Hook {
    pub const ALL: [Hook; 3] = [Hook::PatientView, Hook::OrderSelect, Hook::OrderSign];

    pub fn parse(name: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|hook| hook.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Hook::PatientView => "patient-view",
            Hook::OrderSelect => "order-select",
            Hook::OrderSign => "order-sign",
        }
    }

    /// Context fields a prefetch template may name as `{{context.<field>}}` for this hook
    /// (the fields the hook definition marks "Prefetch Token: Yes").
    pub fn prefetch_token_fields(self) -> &'static [&'static str] {
        // All three hooks share the same primitive ids; `selections` and `draftOrders` are not tokens.
        &["userId", "patientId", "encounterId"]
    }

    /// Resource types `context.userId` may name for this hook.
    pub fn user_types(self) -> &'static [&'static str] {
        match self {
            Hook::PatientView => &["Practitioner", "PractitionerRole", "Patient", "RelatedPerson"],
            Hook::OrderSelect | Hook::OrderSign => &["Practitioner", "PractitionerRole"],
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
