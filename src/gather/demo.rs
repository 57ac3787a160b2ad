//! `dvt-cds demo load`: uploads the demo patients (transaction Bundles in `fixtures/patients/`,
//! embedded so the binary works from any directory) to a FHIR R4 server.
//!
//! The Bundles PUT every resource with a fixed id, so loading twice changes nothing and the patient
//! ids printed are the same on every server.

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use url::Url;

use super::client::{FHIR_JSON, resolve};
use super::{GatherError, Gatherer, fhir};

pub use super::demo_patients::DEMO_PATIENTS;

/// Uploads can be slow on a public server; this is a command, not a hook call.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// A patient loaded on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoPatient {
    pub patient_id: String,
    pub scenario: String,
}

/// Uploads every demo patient to `server`, in order.
pub async fn load_demo(gatherer: &Gatherer, server: &Url) -> Result<Vec<DemoPatient>, GatherError> {
    let client = gatherer.client.as_ref().ok_or_else(|| GatherError::Client("no HTTP client".to_owned()))?;
    let endpoint =
        resolve(server, "").ok_or_else(|| GatherError::Demo(format!("`{server}` is not a FHIR base URL")))?;
    let mut loaded = Vec::new();
    for (scenario, bundle) in DEMO_PATIENTS {
        let patient_id = patient_of(bundle)
            .ok_or_else(|| GatherError::Demo(format!("`{scenario}`: the bundle holds no Patient with an id")))?;
        let response = client
            .post(endpoint.clone())
            .header(CONTENT_TYPE, FHIR_JSON)
            .body(*bundle)
            .timeout(UPLOAD_TIMEOUT)
            .send()
            .await
            .map_err(|error| {
                GatherError::Demo(format!("`{scenario}`: cannot reach the FHIR server: {}", unreachable(&error)))
            })?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(GatherError::Demo(format!(
                "`{scenario}`: the FHIR server answered HTTP {}{}",
                status.as_u16(),
                diagnostics(&body).map(|text| format!(": {text}")).unwrap_or_default()
            )));
        }
        check_transaction_response(&body).map_err(|problem| GatherError::Demo(format!("`{scenario}`: {problem}")))?;
        loaded.push(DemoPatient { patient_id, scenario: (*scenario).to_owned() });
    }
    Ok(loaded)
}

fn patient_of(bundle: &str) -> Option<String> {
    let document = fhir::parse_document(bundle).ok()?;
    document.resources.into_iter().find(|resource| resource.resource_type == "Patient").and_then(|patient| patient.id)
}

/// Every entry of a transaction-response must say 2xx.
fn check_transaction_response(body: &Value) -> Result<(), String> {
    if body.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err("the FHIR server did not answer with a transaction-response Bundle".to_owned());
    }
    let entries = body.get("entry").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    for (index, entry) in entries.iter().enumerate() {
        let status = entry.pointer("/response/status").and_then(Value::as_str).unwrap_or_default();
        if !status.trim_start().starts_with('2') {
            return Err(format!("entry {index} was not stored (status `{status}`)"));
        }
    }
    Ok(())
}

fn diagnostics(outcome: &Value) -> Option<String> {
    let issue = outcome.get("issue")?.as_array()?.first()?;
    let text = issue.get("diagnostics").or_else(|| issue.pointer("/details/text"))?.as_str()?;
    Some(text.chars().take(300).collect())
}

/// Why a FHIR server could not be reached, in a few words: the innermost cause (`connection refused`),
/// not reqwest's wrapper, which repeats the URL the caller already names.
fn unreachable(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return format!("no answer within {} s", UPLOAD_TIMEOUT.as_secs());
    }
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    let io = (cause as &(dyn std::error::Error + 'static)).downcast_ref::<std::io::Error>();
    if io.is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused) {
        return "connection refused".to_owned();
    }
    cause.to_string().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_patient_file_is_embedded_with_its_patient() {
        let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/patients");
        let mut files: Vec<String> = std::fs::read_dir(directory)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut embedded: Vec<String> = DEMO_PATIENTS.iter().map(|(scenario, _)| (*scenario).to_owned()).collect();
        embedded.sort();
        assert_eq!(embedded, files, "add every fixtures/patients/*.json to DEMO_PATIENTS");
        for (scenario, bundle) in DEMO_PATIENTS {
            let on_disk = std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/patients/{scenario}.json")),
            )
            .unwrap();
            assert_eq!(*bundle, on_disk, "{scenario}: embedded under another name");
            assert!(patient_of(bundle).is_some(), "{scenario}: no Patient with an id");
            let value: Value = serde_json::from_str(bundle).unwrap();
            assert_eq!(value["type"], "transaction", "{scenario}");
            for entry in value["entry"].as_array().unwrap() {
                assert_eq!(entry["request"]["method"], "PUT", "{scenario}: ids must stay stable");
            }
        }
    }

    #[test]
    fn a_transaction_response_with_a_failed_entry_is_refused() {
        let ok = serde_json::json!({"resourceType": "Bundle", "entry": [{"response": {"status": "201 Created"}}]});
        assert!(check_transaction_response(&ok).is_ok());
        let failed = serde_json::json!({"resourceType": "Bundle", "entry": [{"response": {"status": "400"}}]});
        assert_eq!(check_transaction_response(&failed).unwrap_err(), "entry 0 was not stored (status `400`)");
    }
}
