//! A prefetch value for every key, read into a record as the pipeline does (no FHIR server, so no
//! network): never a panic, whatever the value.
#![no_main]

use std::sync::OnceLock;

use dvt_cds_core::cds_hooks::HookRequest;
use dvt_cds::gather::{self, Gatherer};
use libfuzzer_sys::fuzz_target;

struct Fixed {
    discovery: dvt_cds_core::cds_hooks::Discovery,
    gatherer: Gatherer,
    runtime: tokio::runtime::Runtime,
}

fn fixed() -> &'static Fixed {
    static FIXED: OnceLock<Fixed> = OnceLock::new();
    FIXED.get_or_init(|| Fixed {
        discovery: dvt_cds::app::discovery().expect("the embedded discovery document"),
        gatherer: Gatherer::default(),
        runtime: tokio::runtime::Builder::new_current_thread().build().expect("a runtime"),
    })
}

const KEYS: [&str; 7] =
    ["patient", "conditions", "observations", "medicationRequests", "medicationStatements", "procedures", "allergies"];

fuzz_target!(|value: &[u8]| {
    let Ok(value) = std::str::from_utf8(value) else { return };
    let fixed = fixed();
    let Some(service) = fixed.discovery.find("dvt-patient-view") else { return };
    let prefetch: Vec<String> = KEYS.iter().map(|key| format!("\"{key}\": {value}")).collect();
    let body = format!(
        r#"{{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context":{{"userId":"Practitioner/1","patientId":"p1"}},"prefetch":{{{}}}}}"#,
        prefetch.join(",")
    );
    let Ok(request) = HookRequest::from_json(body.as_bytes(), service.hook()) else { return };
    let _ = fixed.runtime.block_on(gather::gather(&fixed.gatherer, service, &request));
});
