//! The invariants of `docs/ARCHITECTURE.md`, checked on the source text: which layer may use which,
//! which crates each may touch, and which layers are pure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::support::root;

/// What each layer (a folder or file directly under `src/`) may use of the crate.
const LAYERS: &[(&str, &[&str])] = &[
    ("cds_hooks", &[]),
    ("audit", &[]),
    ("evidence", &[]),
    ("classify", &["evidence"]),
    ("knowledge", &["classify", "evidence"]),
    ("cards", &["classify", "knowledge", "evidence", "cds_hooks"]),
    ("gather", &["cds_hooks", "evidence", "knowledge"]),
    ("feedback_store", &["cds_hooks", "auth", "audit"]),
    ("auth", &["cds_hooks"]),
    ("pipeline", &["auth", "cds_hooks", "gather", "classify", "cards", "knowledge", "evidence", "audit"]),
    ("http", &["auth", "cds_hooks", "pipeline", "feedback_store", "audit"]),
    ("config", &[]),
    ("telemetry", &["config"]),
    (
        "app",
        &[
            "audit",
            "auth",
            "cds_hooks",
            "config",
            "feedback_store",
            "http",
            "pipeline",
            "gather",
            "knowledge",
            "evidence",
            "classify",
            "cards",
        ],
    ),
    ("lib", &[]),
    ("main", &[]),
];

/// External crates only some layers may use.
const RESTRICTED_CRATES: &[(&str, &[&str])] = &[
    ("axum", &["http"]),
    ("tower_http", &["http"]),
    ("hyper", &["http"]),
    ("hyper_util", &["http"]),
    ("rlimit", &["http"]),
    // `gather` calls FHIR servers; `auth` fetches client JWKS from configured URLs only.
    ("reqwest", &["gather", "auth"]),
    ("fhirbolt", &[]),
    ("rusqlite", &["feedback_store"]),
    ("tokio_postgres", &["feedback_store"]),
    ("deadpool_postgres", &["feedback_store"]),
    ("prometheus_client", &["http"]),
    // The audit's keyed patient hash; the knowledge version.
    ("hmac", &["audit"]),
    ("sha2", &["audit", "app"]),
    ("anyhow", &["app", "main", "telemetry"]),
    ("clap", &["config", "main"]),
    ("tracing_subscriber", &["telemetry"]),
];

/// Layers that must be pure: no IO, no clock, no randomness, no async runtime.
const PURE: &[&str] = &["evidence", "classify", "cards", "knowledge", "cds_hooks", "audit"];
const IMPURE_TOKENS: &[&str] = &[
    "tokio",
    "async fn",
    ".await",
    "std::fs",
    "std::net",
    "std::env",
    "std::process",
    "std::thread",
    "now_utc",
    "now_local",
    "SystemTime",
    "Instant::now",
    "rand::",
    "File::",
];

/// Every source file under `src/`, except unit-test files (`tests.rs`): tests may use any layer.
fn sources() -> BTreeMap<PathBuf, String> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|ext| ext == "rs") && !path.ends_with("tests.rs") {
                out.insert(path.clone(), std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&root().join("src"), &mut out);
    out
}

fn layer_of(path: &Path) -> String {
    let relative = path.strip_prefix(root().join("src")).unwrap();
    let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// The code of a file without comments and without its `#[cfg(test)] mod tests` block.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(start) => &text[..start],
        None => text,
    };
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .map(|line| match line.find(" // ") {
            Some(comment) if !line[..comment].contains('"') => &line[..comment],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every crate module a file names as `crate::x` or inside `crate::{x, y::z}`.
fn crate_modules_used(code: &str) -> Vec<String> {
    let mut used = Vec::new();
    let mut rest = code;
    while let Some(start) = rest.find("crate::") {
        rest = &rest[start + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    used.push(name);
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            used.push(name);
        }
    }
    used
}

#[test]
fn every_source_file_belongs_to_a_known_layer() {
    for path in sources().keys() {
        let layer = layer_of(path);
        assert!(
            LAYERS.iter().any(|(name, _)| *name == layer),
            "{} is in no layer of docs/ARCHITECTURE.md",
            path.display()
        );
    }
}

#[test]
fn layers_use_only_the_layers_they_are_allowed() {
    let mut violations = Vec::new();
    for (path, text) in sources() {
        let layer = layer_of(&path);
        let allowed = LAYERS.iter().find(|(name, _)| *name == layer).map(|(_, allowed)| *allowed).unwrap_or(&[]);
        let code = code_of(&text);
        for module in crate_modules_used(&code) {
            if module != layer && !allowed.contains(&module.as_str()) {
                violations.push(format!("{}: `{layer}` uses `crate::{module}`", path.display()));
            }
        }
        // `super::` from a layer's root module reaches the crate root, around the rule above.
        if (path.ends_with("mod.rs") && code.contains("super::")) || code.contains("super::super") {
            violations.push(format!("{}: reaches out of its layer with `super::`", path.display()));
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn restricted_crates_stay_in_their_layers() {
    let mut violations = Vec::new();
    for (path, text) in sources() {
        let layer = layer_of(&path);
        let code = code_of(&text);
        for (krate, allowed) in RESTRICTED_CRATES {
            if !allowed.contains(&layer.as_str()) && code.contains(&format!("{krate}::")) {
                violations.push(format!("{}: `{layer}` uses `{krate}`", path.display()));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn pure_layers_do_no_io_and_read_no_clock() {
    let mut violations = Vec::new();
    for (path, text) in sources() {
        let layer = layer_of(&path);
        if !PURE.contains(&layer.as_str()) {
            continue;
        }
        let code = code_of(&text);
        for token in IMPURE_TOKENS {
            if code.contains(token) {
                violations.push(format!("{}: pure layer `{layer}` contains `{token}`", path.display()));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn every_layer_module_says_what_it_is() {
    for (path, text) in sources() {
        let relative = path.strip_prefix(root().join("src")).unwrap();
        let is_layer_root = relative.components().count() == 1 || path.ends_with("mod.rs");
        if is_layer_root {
            assert!(text.starts_with("//!"), "{} must open with a `//!` paragraph", path.display());
        }
    }
}

#[test]
fn the_checker_sees_grouped_imports() {
    assert_eq!(crate_modules_used("use crate::{gather, http::router};"), ["gather", "http"]);
    assert_eq!(crate_modules_used("let x = crate::cards::render();"), ["cards"]);
    assert_eq!(
        code_of("let a = 1; // crate::http\n// crate::gather\nlet b = \"x // y\";"),
        "let a = 1;\nlet b = \"x // y\";"
    );
}
