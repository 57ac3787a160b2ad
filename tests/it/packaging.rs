//! What the packaging promises and can be tested without a container engine: the binary serves as
//! an unprivileged user whose only writable place is its data directory (the image and the systemd
//! unit run it so), and it refuses to start, saying why (permission denied, once), when the data directory is
//! not writable.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;

use serde_json::json;
use uuid::Uuid;

use crate::support::{LoggedChild, client, overridden};

fn id(args: &[&str]) -> u32 {
    let output = Command::new("id").args(args).output().unwrap();
    String::from_utf8(output.stdout).unwrap().trim().parse().unwrap()
}

fn is_root() -> bool {
    id(&["-u"]) == 0
}

/// The service as `nobody` when the tests run as root (as a container or systemd would start it),
/// else as the current user; both without write access anywhere but `data_dir`.
fn unprivileged(cwd: &std::path::Path, data_dir: &std::path::Path) -> Command {
    let binary = env!("CARGO_BIN_EXE_dvt-cds");
    let args = ["serve", "--bind", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap()];
    let mut command = Command::new(binary);
    command.args(args).current_dir(cwd);
    if is_root() {
        // Set before exec (no wrapper process): the supplementary groups are dropped with them.
        command.uid(id(&["-u", "nobody"])).gid(id(&["-g", "nobody"]));
    }
    command
}

#[tokio::test]
async fn the_binary_serves_as_an_unprivileged_user_writing_only_its_data_directory() {
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let read_only = root.path().join("read-only");
    let data_dir = root.path().join("data");
    std::fs::create_dir(&read_only).unwrap();
    std::fs::create_dir(&data_dir).unwrap();
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o555)).unwrap();
    if is_root() {
        assert!(Command::new("chown").args(["nobody", data_dir.to_str().unwrap()]).status().unwrap().success());
    }
    let mut service = LoggedChild::spawn(&mut unprivileged(&read_only, &data_dir));
    let body = json!({"feedback": [overridden(Uuid::from_u128(61))]});
    let url = format!("{}/cds-services/dvt-order-select/feedback", service.base);
    assert_eq!(client().post(url).json(&body).send().await.unwrap().status(), 200);
    assert!(data_dir.join("feedback.sqlite3").exists());
    assert_eq!(std::fs::read_dir(&read_only).unwrap().count(), 0, "nothing written outside the data directory");
    service.kill();

    // A data directory it cannot write: it does not start, and says so.
    let locked = root.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    let output = unprivileged(&read_only, &locked.join("data")).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot open the feedback database"), "{stderr}");
    // As root the service runs as `nobody` here, so the directory refuses it as it would any unprivileged user.
    assert_eq!(stderr.matches("Permission denied").count(), 1, "the cause, once: {stderr}");
}
