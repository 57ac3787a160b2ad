//! The draft orders of the hook context, read with the same tolerant structs as everything else.

use serde::Deserialize;
use serde_json::Value;

use super::fhir::{Resource, describe};
use dvt_cds_core::cds_hooks::{Hook, HookContext};
use dvt_cds_core::evidence::Unreadable;

/// One entry of `context.draftOrders`.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftOrder {
    /// `ServiceRequest/123`, as `selections` names it.
    pub reference: String,
    /// Whether the clinician is acting on it now: in `selections` for `order-select`, every order for
    /// `order-sign`.
    pub selected: bool,
    pub resource: Resource,
    /// The resource as the client sent it, for `update` actions that must return it whole.
    pub raw: Value,
}

/// The draft orders with an id, in Bundle order, and the entries that could not be read.
pub fn draft_orders(hook: Hook, context: &HookContext) -> (Vec<DraftOrder>, Vec<Unreadable>) {
    let mut orders = Vec::new();
    let mut unreadable = Vec::new();
    let entries = context
        .draft_orders
        .as_ref()
        .and_then(|bundle| bundle.get("entry"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (index, entry) in entries.iter().enumerate() {
        let Some(raw) = entry.get("resource") else { continue };
        match Resource::deserialize(raw) {
            Ok(resource) => {
                let Some(id) = resource.id.clone() else { continue };
                let reference = format!("{}/{id}", resource.resource_type);
                let selected = match hook {
                    Hook::OrderSelect => context.selections.contains(&reference),
                    Hook::OrderSign => true,
                    Hook::PatientView => false,
                };
                orders.push(DraftOrder { reference, selected, resource, raw: raw.clone() });
            }
            Err(error) => unreadable.push(Unreadable {
                location: format!("context.draftOrders.entry[{index}]"),
                problem: describe(&error),
            }),
        }
    }
    (orders, unreadable)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn context(selections: &[&str], draft_orders: Value) -> HookContext {
        HookContext {
            user_id: "Practitioner/1".to_owned(),
            patient_id: "p1".to_owned(),
            encounter_id: None,
            selections: selections.iter().map(|s| (*s).to_owned()).collect(),
            draft_orders: Some(draft_orders),
        }
    }

    #[test]
    fn selected_orders_are_marked_and_raw_resources_kept() {
        let bundle = json!({"resourceType": "Bundle", "entry": [
            {"resource": {"resourceType": "ServiceRequest", "id": "a", "code": {"coding": [{}]}, "x-unknown": 1}},
            {"resource": {"resourceType": "MedicationRequest", "id": "b"}},
            {"resource": {"resourceType": "ServiceRequest"}},
            {"resource": {"resourceType": "ServiceRequest", "id": "c", "reasonCode": "not an array of concepts"}},
        ]});
        let (orders, unreadable) = draft_orders(Hook::OrderSelect, &context(&["ServiceRequest/a"], bundle));
        let summary: Vec<(&str, bool)> = orders.iter().map(|o| (o.reference.as_str(), o.selected)).collect();
        assert_eq!(summary, [("ServiceRequest/a", true), ("MedicationRequest/b", false)]);
        assert_eq!(orders[0].raw["x-unknown"], 1);
        assert_eq!(unreadable.len(), 1);
        assert_eq!(unreadable[0].location, "context.draftOrders.entry[3]");

        let bundle =
            json!({"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "ServiceRequest", "id": "a"}}]});
        let (orders, _) = draft_orders(Hook::OrderSign, &context(&[], bundle));
        assert!(orders[0].selected);
    }
}
