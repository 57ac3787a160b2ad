//! The cost of verifying one client JWT (ES384 and RS384, pinned keys): header and claim checks,
//! the signature, and the replay cache, as the token gate runs them on every call.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, reason = "benchmark set-up")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use dvt_cds::auth::{Trust, TrustSettings};
use serde_json::{Value, json};

const PATH: &str = "/cds-services/dvt-order-select";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

fn claims() -> Value {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    json!({"iss": "https://ehr.example.org", "aud": format!("https://cds.example.org{PATH}"),
           "exp": now() + 300, "iat": now(), "jti": COUNTER.fetch_add(1, Ordering::Relaxed).to_string()})
}

fn message(alg: &str, kid: &str) -> String {
    let header = json!({"alg": alg, "typ": "JWT", "kid": kid});
    format!("{}.{}", b64(&serde_json::to_vec(&header).unwrap()), b64(&serde_json::to_vec(&claims()).unwrap()))
}

fn trust(keys: &[Value]) -> Trust {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jwks.json"), json!({"keys": keys}).to_string()).unwrap();
    let config = "profile = \"production\"\npublic_base_url = \"https://cds.example.org\"\n\
                  replay_cache_capacity = 100000000\n\
                  [[issuers]]\niss = \"https://ehr.example.org\"\njwks_file = \"jwks.json\"\n";
    let settings = TrustSettings::parse(config, "bench.toml", Some(dir.path())).unwrap();
    Trust::new(settings, "127.0.0.1:8080".parse().unwrap()).unwrap()
}

fn verify(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let rng = SystemRandom::new();

    let ec = EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
    let point = ec.public_key().as_ref();
    let ec_jwk = json!({"kty": "EC", "crv": "P-384", "kid": "es", "x": b64(&point[1..49]), "y": b64(&point[49..97])});
    let rsa = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let parts = PublicKeyComponents::<Vec<u8>>::from(rsa.public_key());
    let rsa_jwk = json!({"kty": "RSA", "kid": "rs", "n": b64(&parts.n), "e": b64(&parts.e)});
    let trust = trust(&[ec_jwk, rsa_jwk]);

    let es384 = || {
        let message = message("ES384", "es");
        let signature = ec.sign(&rng, message.as_bytes()).unwrap();
        format!("{message}.{}", b64(signature.as_ref()))
    };
    let rs384 = || {
        let message = message("RS384", "rs");
        let mut signature = vec![0; rsa.public_modulus_len()];
        rsa.sign(&signature::RSA_PKCS1_SHA384, &rng, message.as_bytes(), &mut signature).unwrap();
        format!("{message}.{}", b64(&signature))
    };

    let mut group = c.benchmark_group("verify");
    group.bench_function("ES384", |b| {
        b.iter_batched(
            es384,
            |token| runtime.block_on(trust.verify(&token, PATH, now())).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("RS384", |b| {
        b.iter_batched(
            rs384,
            |token| runtime.block_on(trust.verify(&token, PATH, now())).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
