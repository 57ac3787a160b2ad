//! Client JWTs made at test time, as an EHR makes them: ES384 (the public sandbox) or RS384 (Epic)
//! keys generated here, signed with aws-lc-rs (not the verifier's code path). Shared by the
//! integration tests and the benchmarks (`benches/common.rs` includes this file).

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

enum PrivateKey {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// One signing key and its `kid`.
pub struct Signer {
    pub kid: String,
    key: PrivateKey,
    rng: SystemRandom,
}

impl Signer {
    pub fn es384(kid: &str) -> Signer {
        let key = EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
        Signer { kid: kid.to_owned(), key: PrivateKey::Ec(key), rng: SystemRandom::new() }
    }

    /// A key given as PKCS#8 PEM (the public sandbox's published key).
    pub fn es384_pkcs8_pem(kid: &str, pem: &str) -> Signer {
        let body: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD.decode(body).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &der).unwrap();
        Signer { kid: kid.to_owned(), key: PrivateKey::Ec(key), rng: SystemRandom::new() }
    }

    pub fn rs384(kid: &str) -> Signer {
        let key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        Signer { kid: kid.to_owned(), key: PrivateKey::Rsa(key), rng: SystemRandom::new() }
    }

    pub fn alg(&self) -> &'static str {
        match self.key {
            PrivateKey::Ec(_) => "ES384",
            PrivateKey::Rsa(_) => "RS384",
        }
    }

    /// The public JWK, as a client publishes it.
    pub fn jwk(&self) -> Value {
        match &self.key {
            PrivateKey::Ec(key) => {
                // Uncompressed point: 0x04 || x || y.
                let point = key.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-384", "use": "sig", "alg": "ES384", "kid": self.kid,
                       "x": b64(&point[1..49]), "y": b64(&point[49..97])})
            }
            PrivateKey::Rsa(key) => {
                let components = PublicKeyComponents::<Vec<u8>>::from(key.public_key());
                json!({"kty": "RSA", "use": "sig", "alg": "RS384", "kid": self.kid,
                       "n": b64(&components.n), "e": b64(&components.e)})
            }
        }
    }

    /// The header a well-behaved client sends.
    pub fn header(&self) -> Value {
        json!({"alg": self.alg(), "typ": "JWT", "kid": self.kid})
    }

    /// `claims` signed under [`Signer::header`].
    pub fn token(&self, claims: &Value) -> String {
        self.sign(&self.header(), claims)
    }

    /// `header` and `claims` as given, signed with this key.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let message = format!("{}.{}", b64_json(header), b64_json(claims));
        let signature = match &self.key {
            PrivateKey::Ec(key) => key.sign(&self.rng, message.as_bytes()).unwrap().as_ref().to_vec(),
            PrivateKey::Rsa(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(&signature::RSA_PKCS1_SHA384, &self.rng, message.as_bytes(), &mut signature).unwrap();
                signature
            }
        };
        format!("{message}.{}", b64(&signature))
    }
}

/// The public keys of `signers` as a JWK Set.
pub fn jwks(signers: &[&Signer]) -> Value {
    json!({"keys": signers.iter().map(|signer| signer.jwk()).collect::<Vec<_>>()})
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64_json(value: &Value) -> String {
    b64(&serde_json::to_vec(value).unwrap())
}

/// The clock, in unix seconds (a JWT NumericDate).
pub fn now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}
