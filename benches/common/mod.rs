//! Shared by the benchmarks: a plain timing loop, the order-select request with a full prefetch, the
//! fixture cases, and an EHR that signs client tokens.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "benchmark support: each benchmark uses part of it, and a failure should stop it loudly"
)]

#[path = "../../tests/it/signer.rs"]
mod signer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use signer::{Signer, jwks, now};

/// True when run by `cargo bench`; under `cargo test` or nextest a benchmark does nothing.
pub fn benchmarking() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// Median nanoseconds per call of `call`, over `samples` timed batches of `batch` calls, after one
/// untimed batch. The median keeps a stray scheduling hiccup out of the figure.
pub fn median_ns(samples: usize, batch: usize, mut call: impl FnMut()) -> f64 {
    for _ in 0..batch {
        call();
    }
    let mut per_call: Vec<f64> = (0..samples)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..batch {
                call();
            }
            started.elapsed().as_nanos() as f64 / batch as f64
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    per_call[per_call.len() / 2]
}

/// The floor every benchmark is read against: what an axum handler that only parses the body does.
pub fn floor_parse(body: &[u8]) {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    std::hint::black_box(value);
}

/// An order-select for the seed scenario (severe left iliofemoral DVT, CDT ordered) whose prefetch is a
/// realistic full record of over 20 KB: the case's own record plus months of labs and other diagnoses.
pub fn full_prefetch_request() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cases/iliofemoral-dvt-apixaban/request.json");
    let mut request: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let patient = request["context"]["patientId"].as_str().unwrap().to_owned();
    let subject = json!({"reference": format!("Patient/{patient}")});
    let labs = [
        ("777-3", "Platelets", 230.0, "10*3/uL"),
        ("718-7", "Hemoglobin", 13.4, "g/dL"),
        ("6301-6", "INR", 1.1, "{INR}"),
        ("2160-0", "Creatinine", 0.9, "mg/dL"),
    ];
    let observations = request["prefetch"]["observations"]["entry"].as_array_mut().unwrap();
    for month in 1..=9 {
        for (code, display, value, unit) in labs {
            observations.push(json!({"fullUrl": format!("https://ehr.example.org/fhir/Observation/hist-{code}-{month}"), "resource": {
                "resourceType": "Observation", "id": format!("hist-{code}-{month}"), "status": "final",
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
                "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]},
                "subject": subject, "effectiveDateTime": format!("2026-{:02}-10T08:00:00Z", 11 - month),
                "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}}));
        }
    }
    let conditions = request["prefetch"]["conditions"]["entry"].as_array_mut().unwrap();
    for (code, display) in [
        ("I10", "Essential (primary) hypertension"),
        ("E78.5", "Hyperlipidemia, unspecified"),
        ("J45.909", "Unspecified asthma, uncomplicated"),
        ("M17.11", "Unilateral primary osteoarthritis, right knee"),
    ] {
        conditions.push(json!({"resource": {"resourceType": "Condition", "id": format!("other-{code}"),
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code, "display": display}]},
            "subject": subject, "onsetDateTime": "2019-03-01", "recordedDate": "2019-03-02"}}));
    }
    let body = request.to_string();
    assert!(body.len() > 18_000, "the body is only {} bytes", body.len());
    body
}

/// The client an EHR would be: signs CDS Hooks JWTs with ES384 (as the public sandbox does, kid "es")
/// or RS384 (as Epic does, kid "rs"), each with a fresh `jti`. The keys and signing are the tests'
/// (`tests/it/signer.rs`).
pub struct EhrClient {
    es384: Signer,
    rs384: Signer,
    pub issuer: String,
}

impl EhrClient {
    pub fn new(issuer: &str) -> EhrClient {
        EhrClient { es384: Signer::es384("es"), rs384: Signer::rs384("rs"), issuer: issuer.to_owned() }
    }

    /// The public keys as a JWK Set.
    pub fn jwks(&self) -> Value {
        jwks(&[&self.es384, &self.rs384])
    }

    /// A token for `audience`, signed with `alg` ("ES384" or "RS384").
    pub fn token(&self, alg: &str, audience: &str) -> String {
        static JTI: AtomicU64 = AtomicU64::new(0);
        let signer = if alg == "ES384" { &self.es384 } else { &self.rs384 };
        let claims = json!({"iss": self.issuer, "aud": audience, "exp": now() + 600, "iat": now(),
                            "jti": JTI.fetch_add(1, Ordering::Relaxed).to_string()});
        signer.token(&claims)
    }

    /// A trust configuration (production profile) that trusts this client, written into `dir`.
    pub fn trust_config(&self, dir: &Path, public_base_url: &str) -> PathBuf {
        std::fs::write(dir.join("jwks.json"), self.jwks().to_string()).unwrap();
        let config = format!(
            "profile = \"production\"\npublic_base_url = \"{public_base_url}\"\nreplay_cache_capacity = 100000000\n\
             [[issuers]]\niss = \"{}\"\njwks_file = \"jwks.json\"\n",
            self.issuer
        );
        let path = dir.join("trust.toml");
        std::fs::write(&path, config).unwrap();
        path
    }
}

/// A fixture case (`fixtures/cases/NAME/`): its request body, the service it calls, its instant.
pub struct Case {
    pub name: String,
    pub body: Vec<u8>,
    pub service: String,
    pub now: OffsetDateTime,
}

/// Every fixture case, by name.
pub fn cases() -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cases");
    let mut cases: Vec<Case> = std::fs::read_dir(&root)
        .unwrap()
        .map(|entry| {
            let dir = entry.unwrap().path();
            let expect: toml::Table =
                toml::from_str(&std::fs::read_to_string(dir.join("expect.toml")).unwrap()).unwrap();
            Case {
                name: dir.file_name().unwrap().to_string_lossy().into_owned(),
                body: std::fs::read(dir.join("request.json")).unwrap(),
                service: expect["service"].as_str().unwrap().to_owned(),
                now: OffsetDateTime::parse(expect["now"].as_str().unwrap(), &Rfc3339).unwrap(),
            }
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}
