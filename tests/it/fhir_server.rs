//! The real FHIR R4 server of the tests: Medplum's FHIR router with its in-memory repository
//! behind the small Node front in `tests/fhir-server/` (installed by `.ci/test`), one process per
//! test on a loopback port. Needs only `support.rs` beside it, so `benches/gather.rs` can include
//! both.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

/// A running FHIR server; killed when dropped (and it exits by itself if this process dies).
pub struct FhirServer {
    child: Child,
    _stdin: ChildStdin,
    /// The FHIR base URL, e.g. `http://127.0.0.1:41234/fhir/R4`.
    pub base: String,
}

/// One request the server received, as its front recorded it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Recorded {
    pub method: String,
    pub url: String,
    pub authorization: Option<String>,
}

impl FhirServer {
    pub fn start() -> FhirServer {
        FhirServer::start_paged(20)
    }

    /// A server whose searches return at most `page_size` entries per page, with `next` links.
    pub fn start_paged(page_size: usize) -> FhirServer {
        let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fhir-server");
        assert!(
            directory.join("node_modules/@medplum/fhir-router").is_dir(),
            "the test FHIR server is not installed: run `bash .ci/test`, or `npm ci --prefix tests/fhir-server`"
        );
        let mut command = Command::new("node");
        if node_needs_websocket_flag() {
            command.arg("--experimental-websocket");
        }
        let mut child = command
            .arg("server.mjs")
            .args(["--page-size", &page_size.to_string()])
            .current_dir(&directory)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start node (Node.js 20 or later is needed)");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (found, base) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(base) = line.strip_prefix("listening ") {
                    let _ = found.send(base.trim().to_owned());
                }
            }
        });
        let base = base.recv_timeout(Duration::from_secs(60)).expect("the FHIR server did not start");
        FhirServer { child, _stdin: stdin, base }
    }

    /// A server holding the demo patients (`fixtures/patients/`).
    pub async fn with_demo_patients() -> FhirServer {
        let server = FhirServer::start();
        server.load_demo_patients().await;
        server
    }

    /// Loads every demo patient (`fixtures/patients/`, transaction Bundles).
    pub async fn load_demo_patients(&self) {
        for (_, bundle) in crate::support::patient_bundles() {
            self.load(&bundle).await;
        }
    }

    /// `http://127.0.0.1:port`, where the request log lives.
    pub fn origin(&self) -> String {
        let url = url::Url::parse(&self.base).unwrap();
        url.origin().ascii_serialization()
    }

    /// Posts a transaction Bundle and checks every entry was stored.
    pub async fn load(&self, bundle: &Value) {
        let response = reqwest::Client::new()
            .post(&self.base)
            .header("content-type", "application/fhir+json")
            .body(bundle.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        for entry in body["entry"].as_array().unwrap() {
            assert!(entry["response"]["status"].as_str().unwrap().starts_with('2'), "{entry}");
        }
    }

    /// Every request received so far, oldest first.
    pub async fn requests(&self) -> Vec<Recorded> {
        reqwest::get(format!("{}/_requests", self.origin())).await.unwrap().json().await.unwrap()
    }
}

impl Drop for FhirServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Node 20 has `WebSocket` (which Medplum's core needs) only behind a flag; 22 and later have it.
fn node_needs_websocket_flag() -> bool {
    static NEEDS: OnceLock<bool> = OnceLock::new();
    *NEEDS.get_or_init(|| {
        let output = Command::new("node").arg("--version").output().expect("node is not installed");
        let version = String::from_utf8_lossy(&output.stdout);
        let major: u32 = version.trim().trim_start_matches('v').split('.').next().unwrap_or("0").parse().unwrap_or(0);
        major < 22
    })
}
