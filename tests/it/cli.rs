//! The command line's own messages: each says what is wrong and what would be right, once.

use std::process::Command;

use crate::support::{ServiceProcess, closed_port, root, run_cli};

const REQUEST: &str = "fixtures/cases/v1-mild-cdt-icd10/request.json";

#[test]
fn now_given_a_date_says_a_date_time_is_needed_with_an_example() {
    let request = root().join(REQUEST);
    let (status, _, stderr) = run_cli(&["evaluate", request.to_str().unwrap(), "--now", "2026-11-24"]);
    assert!(!status.success());
    assert!(
        stderr.contains("`2026-11-24` is a date; a date-time with a time zone is needed, e.g. `2026-11-24T12:00:00Z`"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("2026-11-24").count(), 3, "each cause once: {stderr}");
}

#[test]
fn a_missing_trust_configuration_names_the_file_and_the_cause_once() {
    let request = root().join(REQUEST);
    let missing = "/nonexistent/dvt-cds-trust.toml";
    let (status, _, stderr) = run_cli(&["evaluate", request.to_str().unwrap(), "--config", missing]);
    assert!(!status.success());
    assert!(stderr.contains(&format!("cannot read `{missing}`")), "{stderr}");
    assert_eq!(stderr.matches("No such file or directory").count(), 1, "each cause once: {stderr}");
    assert_eq!(stderr.matches(missing).count(), 1, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn a_bad_threshold_lists_the_ids_that_can_be_set() {
    let request = root().join(REQUEST);
    let (status, _, stderr) = run_cli(&["evaluate", request.to_str().unwrap(), "--threshold", "platelets=80"]);
    assert!(!status.success());
    assert!(stderr.contains("threshold `platelets`: no such threshold; those that can be set are"), "{stderr}");
    assert!(stderr.contains("`lysis-platelets-below`"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn demo_load_says_connection_refused_and_names_the_server_once() {
    let server = format!("{}/fhir", closed_port());
    let (status, stdout, stderr) = run_cli(&["demo", "load", "--fhir-server", &server]);
    assert!(!status.success() && stdout.is_empty());
    assert!(stderr.contains("connection refused"), "{stderr}");
    assert_eq!(stderr.matches(&server).count(), 1, "{stderr}");
}

#[test]
fn the_production_profile_without_an_issuer_warns_at_start() {
    let data_dir = tempfile::tempdir().unwrap();
    let config = root().join("config/production.toml");
    let mut service = ServiceProcess::spawn(data_dir.path(), &["--config", config.to_str().unwrap()]);
    let status = service.terminate();
    assert!(status.success(), "{status:?}: {}", service.log());
    assert!(service.log().contains("production profile with no trusted issuer"), "{}", service.log());
    // The development profile trusts no issuer either, and says nothing: tokens are optional there.
    let mut development = ServiceProcess::spawn(data_dir.path(), &[]);
    assert!(development.terminate().success());
    assert!(!development.log().contains("no trusted issuer"), "{}", development.log());
}

#[test]
fn version_names_the_commit() {
    let (status, stdout, _) = run_cli(&["--version"]);
    assert!(status.success());
    let head = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).current_dir(root()).output().ok();
    let expected = match head.filter(|output| output.status.success()) {
        Some(output) => String::from_utf8(output.stdout).unwrap().trim().to_owned(),
        None => "unknown commit".to_owned(),
    };
    assert_eq!(stdout.trim(), format!("dvt-cds {} (commit {expected})", env!("CARGO_PKG_VERSION")));
}
