//! The invariants of `docs/ARCHITECTURE.md` that the compiler does not keep by itself.
//!
//! The compiler keeps the rest: the clinical core (`crates/dvt-cds-core`) cannot name the service
//! (it is not among the core's dependencies) nor an IO crate (none is in its `Cargo.toml`), and its
//! `clippy.toml` refuses the clock, randomness, files, sockets, processes, threads and the environment.
//! What is left is checked here: that the core's dependencies stay data crates, which layer of a crate
//! may use which, which external crates only some layers of the service may use, and that every
//! layer says what it is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::root;

/// What each layer (a folder or file directly under a crate's `src/`) may use of ours: the core's
/// modules (`crate::x` inside the core, `dvt_cds_core::x` in the service) and the service's own.
const LAYERS: &[(&str, &[&str])] = &[
    // The core. `ids` is the vocabulary of ids every layer may name.
    ("ids", &[]),
    ("cds_hooks", &["ids"]),
    ("evidence", &["ids"]),
    ("classify", &["evidence", "ids"]),
    ("knowledge", &["classify", "evidence", "ids"]),
    ("cards", &["classify", "knowledge", "evidence", "cds_hooks", "ids"]),
    // The service.
    ("audit", &["ids"]),
    ("gather", &["cds_hooks", "evidence", "knowledge", "ids"]),
    ("feedback_store", &["cds_hooks", "auth", "audit"]),
    ("auth", &["cds_hooks"]),
    ("pipeline", &["auth", "cds_hooks", "gather", "classify", "cards", "knowledge", "evidence", "audit", "ids"]),
    ("http", &["auth", "cds_hooks", "pipeline", "feedback_store", "audit", "ids"]),
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
            "ids",
        ],
    ),
    ("lib", &[]),
    ("main", &[]),
];

/// The core's modules: the only layers of `crates/dvt-cds-core/src` besides its `lib.rs`.
const CORE: &[&str] = &["ids", "cds_hooks", "evidence", "classify", "knowledge", "cards"];

/// External crates only some layers of the service may use (the core has none of them).
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

/// Crates the core must never depend on, directly or through another crate: the async runtime,
/// HTTP, databases, logging, randomness, the command line and start-up errors.
const NOT_IN_THE_CORE: &[&str] = &[
    "tokio",
    "mio",
    "socket2",
    "axum",
    "tower",
    "tower-http",
    "hyper",
    "hyper-util",
    "reqwest",
    "rustls",
    "rusqlite",
    "libsqlite3-sys",
    "tokio-postgres",
    "deadpool-postgres",
    "tracing",
    "tracing-subscriber",
    "rand",
    "prometheus-client",
    "jsonwebtoken",
    "clap",
    "anyhow",
    "fhirbolt",
];

/// A crate's source files, by path, except unit-test files (`tests.rs`): tests may use any layer.
struct Crate {
    src: PathBuf,
    files: BTreeMap<PathBuf, String>,
}

fn crate_at(src: PathBuf) -> Crate {
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
    let mut files = BTreeMap::new();
    walk(&src, &mut files);
    assert!(!files.is_empty(), "{} holds no source", src.display());
    Crate { src, files }
}

fn service() -> Crate {
    crate_at(root().join("src"))
}

fn core() -> Crate {
    crate_at(root().join("crates/dvt-cds-core/src"))
}

impl Crate {
    fn layer_of(&self, path: &Path) -> String {
        let relative = path.strip_prefix(&self.src).unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        first.trim_end_matches(".rs").to_owned()
    }
}

/// The code of a file without comments and without its `#[cfg(test)]` modules (the whole block,
/// however much code follows it).
fn code_of(text: &str) -> String {
    let without_comments = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .map(|line| match line.find(" // ") {
            Some(comment) if !line[..comment].contains('"') => &line[..comment],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut code = String::new();
    let mut rest = without_comments.as_str();
    while let Some(start) = rest.find("#[cfg(test)]") {
        code.push_str(&rest[..start]);
        let after = rest[start + "#[cfg(test)]".len()..].trim_start();
        match after.strip_prefix("mod ") {
            Some(module) => {
                let end = module.find(['{', ';']).unwrap_or(module.len());
                rest = match module[end..].strip_prefix('{') {
                    Some(body) => &body[block_end(body)..],
                    None => module[end..].strip_prefix(';').unwrap_or(""),
                };
            }
            // Not a module: keep the item, only the attribute goes.
            None => rest = after,
        }
    }
    code.push_str(rest);
    code
}

/// Where the block whose opening brace was just read ends (after its closing brace), skipping
/// braces in string and character literals.
fn block_end(body: &str) -> usize {
    let mut depth = 1;
    let mut chars = body.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => {
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '\'' if matches!(chars.clone().nth(1), Some((_, '\''))) => {
                chars.next();
                chars.next();
            }
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return index + 1;
                }
            }
            _ => {}
        }
    }
    body.len()
}

/// Every path a file names: each `use` tree expanded (`use a::{b, c::{d, e}}` names `a::b`,
/// `a::c::d` and `a::c::e`), and every `x::y` written in the code.
fn paths_named(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest_of_code = String::new();
    let mut rest = code;
    while let Some(start) = find_use(rest) {
        rest_of_code.push_str(&rest[..start]);
        let tree = &rest[start + "use ".len()..];
        let end = tree.find(';').unwrap_or(tree.len());
        expand("", &tree[..end], &mut paths);
        rest = tree.get(end + 1..).unwrap_or("");
    }
    rest_of_code.push_str(rest);
    let bytes = rest_of_code.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut index = 0;
    while let Some(found) = rest_of_code[index..].find("::") {
        let colons = index + found;
        let mut start = colons;
        while start > 0 && ident(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = colons + 2;
        while end < bytes.len() && (ident(bytes[end]) || rest_of_code[end..].starts_with("::")) {
            end += if bytes[end] == b':' { 2 } else { 1 };
        }
        if start < colons && (start == 0 || bytes[start - 1] != b':') {
            paths.push(rest_of_code[start..end].to_owned());
        }
        index = end.max(colons + 2);
    }
    paths
}

/// Where the next `use` declaration starts: a line that opens with `use`, `pub use` or `pub(…) use`.
fn find_use(code: &str) -> Option<usize> {
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let visibility = match trimmed.strip_prefix("pub") {
            Some(rest) if rest.starts_with('(') => rest.find(')').map(|end| 3 + end + 1),
            Some(rest) if rest.starts_with(' ') => Some(3),
            _ => Some(0),
        };
        if let Some(visibility) = visibility {
            let after = trimmed[visibility..].trim_start();
            if after.starts_with("use ") {
                return Some(offset + line.len() - after.len());
            }
        }
        offset += line.len();
    }
    None
}

/// Expands one `use` tree under `prefix` into full paths.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    for item in split_top_level(tree.trim().trim_start_matches("::")) {
        let item = item.trim();
        let joined = |tail: &str| if prefix.is_empty() { tail.to_owned() } else { format!("{prefix}::{tail}") };
        match item.find('{') {
            Some(open) => {
                let head = item[..open].trim().trim_end_matches("::").trim();
                let inner = item[open + 1..].trim_end().strip_suffix('}').unwrap_or(&item[open + 1..]);
                if head.is_empty() { expand(prefix, inner, out) } else { expand(&joined(head), inner, out) }
            }
            // `x as y` names `x`.
            None => {
                if let Some(path) = item.split_whitespace().next() {
                    out.push(joined(path));
                }
            }
        }
    }
}

fn split_top_level(tree: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in tree.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    items.push(current);
    items
}

/// The modules of ours a file uses: `crate::x` (and, in the service, `dvt_cds_core::x`).
fn our_modules_used(code: &str, in_core: bool) -> BTreeSet<String> {
    paths_named(code)
        .iter()
        .filter_map(|path| {
            let mut segments = path.split("::");
            let first = segments.next()?;
            (first == "crate" || (!in_core && first == "dvt_cds_core")).then(|| segments.next()).flatten()
        })
        .map(str::to_owned)
        .collect()
}

fn allowed_for(layer: &str) -> &'static [&'static str] {
    LAYERS.iter().find(|(name, _)| *name == layer).map(|(_, allowed)| *allowed).unwrap_or(&[])
}

#[test]
fn every_source_file_belongs_to_a_known_layer() {
    for (krate, in_core) in [(core(), true), (service(), false)] {
        for path in krate.files.keys() {
            let layer = krate.layer_of(path);
            assert!(
                LAYERS.iter().any(|(name, _)| *name == layer),
                "{} is in no layer of docs/ARCHITECTURE.md",
                path.display()
            );
            assert!(
                layer == "lib" || CORE.contains(&layer.as_str()) == in_core,
                "{}: `{layer}` belongs in the {}",
                path.display(),
                if CORE.contains(&layer.as_str()) { "core" } else { "service" }
            );
        }
    }
}

#[test]
fn layers_use_only_the_layers_they_are_allowed() {
    let mut violations = Vec::new();
    for (krate, in_core) in [(core(), true), (service(), false)] {
        for (path, text) in &krate.files {
            let layer = krate.layer_of(path);
            let code = code_of(text);
            for module in our_modules_used(&code, in_core) {
                if module != layer && !allowed_for(&layer).contains(&module.as_str()) {
                    violations.push(format!("{}: `{layer}` uses `{module}`", path.display()));
                }
            }
            // `super::` from a layer's root module reaches the crate root, around the rule above.
            if (path.ends_with("mod.rs") && code.contains("super::")) || code.contains("super::super") {
                violations.push(format!("{}: reaches out of its layer with `super::`", path.display()));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn restricted_crates_stay_in_their_layers() {
    let krate = service();
    let mut violations = Vec::new();
    for (path, text) in &krate.files {
        let layer = krate.layer_of(path);
        let paths = paths_named(&code_of(text));
        for (restricted, allowed) in RESTRICTED_CRATES {
            let uses = paths.iter().any(|path| path.split("::").next() == Some(restricted));
            if uses && !allowed.contains(&layer.as_str()) {
                violations.push(format!("{}: `{layer}` uses `{restricted}`", path.display()));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

/// The core's dependencies, direct and indirect, as Cargo resolves them for the core alone (offline,
/// from the lock file; `cargo tree` reads only the packages this platform builds, which a build has
/// already downloaded): none of them may do IO, so nothing the core calls can.
#[test]
fn the_core_depends_on_data_crates_only() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // Normal dependencies only: build scripts run at build time, not in the core.
    let output = Command::new(cargo)
        .args(["tree", "-p", "dvt-cds-core", "-e", "normal", "--prefix", "none", "-f", "{p}", "--offline", "--locked"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(output.status.success(), "cargo tree: {}", String::from_utf8_lossy(&output.stderr));
    let closure: BTreeSet<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    assert!(closure.contains("dvt-cds-core") && closure.contains("serde") && closure.contains("toml"), "{closure:?}");
    assert!(!closure.contains("dvt-cds"), "the core depends on the service");
    let found: Vec<&&str> = NOT_IN_THE_CORE.iter().filter(|name| closure.contains(**name)).collect();
    assert!(found.is_empty(), "the core depends on {found:?} (its dependencies: {closure:?})");
}

#[test]
fn every_layer_module_says_what_it_is() {
    for krate in [core(), service()] {
        for (path, text) in &krate.files {
            let relative = path.strip_prefix(&krate.src).unwrap();
            let is_layer_root = relative.components().count() == 1 || path.ends_with("mod.rs");
            if is_layer_root {
                assert!(text.starts_with("//!"), "{} must open with a `//!` paragraph", path.display());
            }
        }
    }
}

#[test]
fn the_checker_sees_grouped_imports_and_code_after_test_modules() {
    let used = |code: &str| our_modules_used(code, false).into_iter().collect::<Vec<_>>();
    assert_eq!(used("use crate::{gather, http::router};"), ["gather", "http"]);
    assert_eq!(used("use crate::{gather::{a, b}, http::{self, router}, pipeline};"), ["gather", "http", "pipeline"]);
    assert_eq!(used("pub(crate) use dvt_cds_core::{classify::Assessment, cards as c};"), ["cards", "classify"]);
    assert_eq!(used("let x = crate::cards::render();"), ["cards"]);
    assert_eq!(used("use {reqwest::Client, crate::auth};"), ["auth"]);
    assert!(paths_named("use {reqwest::Client, crate::auth};").contains(&"reqwest::Client".to_owned()));
    assert_eq!(
        code_of("let a = 1; // crate::http\n// crate::gather\nlet b = \"x // y\";"),
        "let a = 1;\nlet b = \"x // y\";"
    );
    let after_tests =
        "use crate::a;\n#[cfg(test)]\nmod tests {\n    use crate::b;\n    fn f() { let s = \"}\"; }\n}\nuse crate::c;";
    assert_eq!(our_modules_used(&code_of(after_tests), true).into_iter().collect::<Vec<_>>(), ["a", "c"]);
}
