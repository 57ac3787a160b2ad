//! Names the commit the binary is built from, for `dvt-cds --version`: `DVT_CDS_COMMIT` when the
//! builder sets it (a build from a source archive), else `git rev-parse`, else "unknown commit".

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout).ok().map(|text| text.trim().to_owned()).filter(|text| !text.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=DVT_CDS_COMMIT");
    let commit = std::env::var("DVT_CDS_COMMIT")
        .ok()
        .filter(|commit| !commit.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown commit".to_owned());
    println!("cargo:rustc-env=DVT_CDS_COMMIT={commit}");
    // Build again when HEAD moves: HEAD itself (a checkout), the branch it points to (a commit) and
    // packed-refs (where a branch's commit may be instead). Only files that exist are watched: cargo
    // takes a missing one as changed, and would rebuild the crate on every command.
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    let watched = [Some("HEAD"), branch.as_deref(), Some("packed-refs")];
    for path in watched.into_iter().flatten().filter_map(|path| git(&["rev-parse", "--git-path", path])) {
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
