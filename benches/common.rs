//! Shared by the benchmarks: a plain timing loop, and the order-select request with a full prefetch.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "benchmark support: each benchmark uses part of it, and a failure should stop it loudly"
)]

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

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

/// The client an EHR would be: signs CDS Hooks JWTs with ES384 (as the public sandbox does) or RS384
/// (as Epic does), each with a fresh `jti`.
pub struct Signer {
    ec: EcdsaKeyPair,
    rsa: RsaKeyPair,
    rng: SystemRandom,
    pub issuer: String,
}

impl Signer {
    pub fn new(issuer: &str) -> Signer {
        Signer {
            ec: EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING).unwrap(),
            rsa: RsaKeyPair::generate(KeySize::Rsa2048).unwrap(),
            rng: SystemRandom::new(),
            issuer: issuer.to_owned(),
        }
    }

    /// The public keys as a JWK Set: `kid` "es" and "rs".
    pub fn jwks(&self) -> Value {
        let point = self.ec.public_key().as_ref();
        let parts = PublicKeyComponents::<Vec<u8>>::from(self.rsa.public_key());
        json!({"keys": [
            {"kty": "EC", "crv": "P-384", "kid": "es", "x": b64(&point[1..49]), "y": b64(&point[49..97])},
            {"kty": "RSA", "kid": "rs", "n": b64(&parts.n), "e": b64(&parts.e)},
        ]})
    }

    /// A token for `audience`, signed with `alg` ("ES384" or "RS384").
    pub fn token(&self, alg: &str, audience: &str) -> String {
        static JTI: AtomicU64 = AtomicU64::new(0);
        let kid = if alg == "ES384" { "es" } else { "rs" };
        let header = json!({"alg": alg, "typ": "JWT", "kid": kid});
        let claims = json!({"iss": self.issuer, "aud": audience, "exp": now() + 600, "iat": now(),
                            "jti": JTI.fetch_add(1, Ordering::Relaxed).to_string()});
        let message =
            format!("{}.{}", b64(&serde_json::to_vec(&header).unwrap()), b64(&serde_json::to_vec(&claims).unwrap()));
        let signature = if alg == "ES384" {
            self.ec.sign(&self.rng, message.as_bytes()).unwrap().as_ref().to_vec()
        } else {
            let mut signature = vec![0; self.rsa.public_modulus_len()];
            self.rsa.sign(&signature::RSA_PKCS1_SHA384, &self.rng, message.as_bytes(), &mut signature).unwrap();
            signature
        };
        format!("{message}.{}", b64(&signature))
    }

    /// A trust configuration (production profile) that trusts this signer, written into `dir`.
    pub fn trust_config(&self, dir: &Path, public_base_url: &str) -> std::path::PathBuf {
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

pub fn now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}
