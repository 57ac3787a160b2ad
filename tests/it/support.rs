//! Test harness: the service in-process on a loopback port, the service as a child process, and
//! request builders.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dvt_cds::app::{self, Running};
use dvt_cds::auth::{Trust, TrustSettings};
use dvt_cds::config::{Cli, Command as CliCommand, ServeArgs};
use serde_json::{Value, json};
use tempfile::TempDir;
use uuid::Uuid;

/// The project root, where `fixtures/` and `cds-services.json` live.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

/// `ServeArgs` as the command line would build them, bound to an ephemeral loopback port.
pub fn serve_args(data_dir: &Path, extra: &[&str]) -> ServeArgs {
    let mut argv = vec!["dvt-cds", "serve", "--bind", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap()];
    argv.extend_from_slice(extra);
    match parse_without_env(&argv).command {
        CliCommand::Serve(args) => args,
        other => panic!("not serve: {other:?}"),
    }
}

/// The command line as the binary reads it, except that no option falls back to its `DVT_CDS_*`
/// variable, so a developer's environment cannot change what an in-process test runs.
pub fn parse_without_env(argv: &[&str]) -> Cli {
    Cli::parse_args_only(argv).unwrap()
}

/// `command` without the `DVT_CDS_*` variables of this process's environment (every option of the
/// binary reads one), so a developer's shell cannot change what a child process runs. Variables
/// the command sets itself, and the rest of the environment (`PATH`, `HOME`, ...), are kept.
pub fn without_dvt_cds_env(command: &mut Command) -> &mut Command {
    let set: Vec<std::ffi::OsString> =
        command.get_envs().filter(|(_, value)| value.is_some()).map(|(name, _)| name.to_owned()).collect();
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("DVT_CDS_") && !set.contains(&name) {
            command.env_remove(name);
        }
    }
    command
}

/// The service in this process, on its own data directory.
pub struct TestService {
    running: Option<Running>,
    pub base: String,
    pub data_dir: TempDir,
}

impl TestService {
    pub async fn start() -> TestService {
        TestService::start_with(&[]).await
    }

    pub async fn start_with(extra: &[&str]) -> TestService {
        let data_dir = tempfile::tempdir().unwrap();
        let running = app::start(serve_args(data_dir.path(), extra)).await.unwrap();
        let base = format!("http://{}", running.address());
        TestService { running: Some(running), base, data_dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        client().post(self.url(path)).json(body).send().await.unwrap()
    }

    /// Stops the service and hands back its data directory (deleted when dropped).
    pub async fn stop(mut self) -> TempDir {
        if let Some(running) = self.running.take() {
            running.stop().await.unwrap();
        }
        self.data_dir
    }
}

/// The trust of a service started without `--config` (the development profile).
pub fn development_trust() -> Arc<Trust> {
    let settings = TrustSettings::development().unwrap();
    Arc::new(Trust::new(settings, "127.0.0.1:0".parse().unwrap()).unwrap())
}

/// Serves an arbitrary router (a fault-injecting one) on a loopback port until the test ends.
pub async fn serve_router(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let settings = dvt_cds::http::ConnectionSettings::default();
    tokio::spawn(dvt_cds::http::serve(listener, router, settings, std::future::pending()));
    format!("http://{address}")
}

/// A child process that logs `listening on http://ADDRESS` on stderr once it serves; its stderr
/// (the log) is collected line by line until it closes.
pub struct LoggedChild {
    pub child: Child,
    /// `http://ADDRESS`, from the `listening on` line.
    pub base: String,
    log: Arc<Mutex<Vec<String>>>,
    /// Ends when the child's stderr closes, that is when the child has exited.
    reader: Option<JoinHandle<()>>,
}

impl LoggedChild {
    /// Starts `command` without the `DVT_CDS_*` environment and waits until it listens.
    pub fn spawn(command: &mut Command) -> LoggedChild {
        let mut child = without_dvt_cds_env(command).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (address_found, address) = std::sync::mpsc::channel();
        let lines = Arc::clone(&log);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(base) = listening_base(&line) {
                    let _ = address_found.send(base);
                }
                lines.lock().unwrap().push(line);
            }
        });
        let base = address
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the process did not start: {}", log.lock().unwrap().join("\n")));
        LoggedChild { child, base, log, reader: Some(reader) }
    }

    /// Everything logged so far; all of it once [`LoggedChild::wait`] has returned.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits (at most 30 s) for the child to exit, then for its last log lines.
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the process did not stop: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        status
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self) -> ExitStatus {
        self.child.kill().unwrap();
        self.wait()
    }
}

impl Drop for LoggedChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The base URL in a `listening on http://ADDRESS` log line.
pub fn listening_base(line: &str) -> Option<String> {
    let start = line.find("listening on http://")?;
    line.get(start + "listening on ".len()..)?.split_whitespace().next().map(str::to_owned)
}

/// A loopback port of this test that counts the TCP connections made to it and closes each at
/// once: a server nothing may reach, or one that need not answer. Returns `127.0.0.1:PORT`.
pub async fn connection_counter() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    (address.to_string(), connections)
}

/// The `dvt-cds` binary serving as a child process; its stderr (the log) is collected.
pub struct ServiceProcess {
    process: LoggedChild,
    pub base: String,
}

impl ServiceProcess {
    pub fn spawn(data_dir: &Path, extra: &[&str]) -> ServiceProcess {
        let process = LoggedChild::spawn(
            Command::new(env!("CARGO_BIN_EXE_dvt-cds"))
                .args(["serve", "--bind", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap()])
                .args(extra),
        );
        let base = process.base.clone();
        ServiceProcess { process, base }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything the process logged so far; all of it once it has been stopped.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// SIGTERM, then wait for the exit and the last log line.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.process.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        self.process.wait()
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self) {
        self.process.kill();
    }
}

/// Runs `dvt-cds ARGS` to completion: (exit status, stdout, stderr).
pub fn run_cli(args: &[&str]) -> (ExitStatus, String, String) {
    let output = without_dvt_cds_env(Command::new(env!("CARGO_BIN_EXE_dvt-cds")).args(args)).output().unwrap();
    (output.status, String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap())
}

/// A valid feedback item for `card`.
pub fn overridden(card: Uuid) -> Value {
    json!({
        "card": card.to_string(),
        "outcome": "overridden",
        "overrideReason": {"reason": {"system": "https://dvt-cds.example/override", "code": "patient-preference", "display": "Patient preference"}},
        "outcomeTimestamp": "2026-11-24T10:15:00Z",
    })
}

/// The smallest valid order-select request. Its prefetch answers every key the service declares
/// (the patient, `null` for the rest), so it makes no FHIR query even when a test adds a
/// `fhirServer`.
pub fn order_select() -> Value {
    let mut request = json!({
        "hook": "order-select",
        "hookInstance": "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d",
        "context": {
            "userId": "Practitioner/p1",
            "patientId": "pat-1",
            "selections": ["ServiceRequest/sr-1"],
            "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": {
                "resourceType": "ServiceRequest", "id": "sr-1", "status": "draft", "intent": "order",
                "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "37212"}]},
                "subject": {"reference": "Patient/pat-1"}}}]}
        },
        "prefetch": {"patient": {"resourceType": "Patient", "id": "pat-1"}}
    });
    let discovery = app::discovery().unwrap();
    for (key, _) in discovery.find(service_for("order-select")).unwrap().prefetch() {
        request["prefetch"].as_object_mut().unwrap().entry(key.as_str()).or_insert(Value::Null);
    }
    assert!(request["prefetch"].as_object().unwrap().contains_key("conditions"));
    request
}

/// `request` without its prefetch, naming `fhir_server`: every key must be queried.
pub fn by_query(request: &Value, fhir_server: &str) -> Value {
    let mut request = request.clone();
    request.as_object_mut().unwrap().remove("prefetch");
    request["fhirServer"] = json!(fhir_server);
    request
}

/// `http://127.0.0.1:PORT` where nothing listens: bound, then closed.
pub fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

/// Asserts `response` has `status` and a FHIR OperationOutcome body; returns the body.
pub async fn expect_outcome(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
    assert_eq!(content_type, "application/fhir+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    assert!(!body["issue"].as_array().unwrap().is_empty(), "{body}");
    for issue in body["issue"].as_array().unwrap() {
        assert!(issue["severity"].is_string() && issue["code"].is_string(), "{issue}");
    }
    body
}

/// The `diagnostics` of every issue.
pub fn diagnostics(outcome: &Value) -> Vec<String> {
    outcome["issue"].as_array().unwrap().iter().map(|issue| issue["diagnostics"].as_str().unwrap().to_owned()).collect()
}

/// The service id that serves `hook`.
pub fn service_for(hook: &str) -> &'static str {
    match hook {
        "order-select" => "dvt-order-select",
        "order-sign" => "dvt-order-sign",
        "patient-view" => "dvt-patient-view",
        other => panic!("no service for {other}"),
    }
}

/// `request` with its `fhirServer`, when it names a host beyond loopback (the request-shape fixtures name
/// the sandbox's server), moved to a loopback port where nothing listens: tests never leave the machine,
/// and gathering meets the same unreachable server it would meet offline.
pub fn offline(mut request: Value) -> Value {
    let remote = request["fhirServer"]
        .as_str()
        .is_some_and(|server| !server.starts_with("http://127.0.0.1") && !server.starts_with("http://localhost"));
    if remote {
        request["fhirServer"] = Value::String(format!("{}/fhir", closed_port()));
    }
    request
}

/// Every `*.json` file of `fixtures/FOLDER`, by path, parsed.
pub fn json_fixtures(folder: &str) -> Vec<(PathBuf, Value)> {
    let mut files: Vec<(PathBuf, Value)> = std::fs::read_dir(root().join("fixtures").join(folder))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let json = read_json(&path);
            (path, json)
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

/// The demo patients, `fixtures/patients/*.json` (transaction Bundles), by file stem.
pub fn patient_bundles() -> Vec<(String, Value)> {
    let bundles: Vec<(String, Value)> = json_fixtures("patients")
        .into_iter()
        .map(|(path, bundle)| (path.file_stem().unwrap().to_string_lossy().into_owned(), bundle))
        .collect();
    assert!(!bundles.is_empty(), "fixtures/patients is empty");
    bundles
}

/// The patient ids the demo Bundles hold.
pub fn demo_patient_ids() -> Vec<String> {
    patient_bundles()
        .iter()
        .flat_map(|(_, bundle)| bundle["entry"].as_array().unwrap().clone())
        .filter(|entry| entry["resource"]["resourceType"] == "Patient")
        .map(|entry| entry["resource"]["id"].as_str().unwrap().to_owned())
        .collect()
}

/// `fixtures/cases/*/request.json` whose patient is a demo patient: (case name, request).
pub fn demo_cases() -> Vec<(String, Value)> {
    let patients = demo_patient_ids();
    let mut cases: Vec<(String, Value)> = std::fs::read_dir(root().join("fixtures/cases"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("request.json").is_file())
        .map(|path| (path.file_name().unwrap().to_string_lossy().into_owned(), read_json(&path.join("request.json"))))
        .filter(|(_, request)| patients.iter().any(|id| request["context"]["patientId"] == id.as_str()))
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!cases.is_empty(), "no fixtures/cases/*/request.json is about a demo patient");
    cases
}

/// One demo case by name.
pub fn demo_case(name: &str) -> Value {
    read_json(&root().join("fixtures/cases").join(name).join("request.json"))
}

/// Gathers `request` (JSON) with `gatherer`, as the pipeline does.
pub async fn gather_json(
    gatherer: &dvt_cds::gather::Gatherer,
    request: &Value,
) -> Result<dvt_cds::gather::PatientRecord, dvt_cds::gather::GatherError> {
    let discovery = app::discovery().unwrap();
    let service = discovery.find(service_for(request["hook"].as_str().unwrap())).unwrap();
    let request =
        dvt_cds_core::cds_hooks::HookRequest::from_json(request.to_string().as_bytes(), service.hook()).unwrap();
    dvt_cds::gather::gather(gatherer, service, &request).await
}

/// Options for a service that queries the real FHIR server in a test about what it answers, not how
/// fast: a loaded machine (two cores shared with other builds) must not turn the answer into a 412/503.
pub const UNHURRIED: [&str; 4] = ["--fhir-deadline", "30s", "--request-timeout", "60s"];

/// A gatherer with the default limits but an unhurried deadline (see [`UNHURRIED`]), changed by `settings`.
pub fn gatherer(settings: impl FnOnce(&mut dvt_cds::gather::GatherSettings)) -> dvt_cds::gather::Gatherer {
    let mut defaults = dvt_cds::gather::GatherSettings { deadline: Duration::from_secs(30), ..Default::default() };
    settings(&mut defaults);
    dvt_cds::gather::Gatherer::new(defaults).unwrap()
}

/// Each key's state, by key.
pub fn states(record: &dvt_cds::gather::PatientRecord) -> Vec<(&'static str, dvt_cds::gather::KeyState)> {
    record.sources.iter().map(|source| (source.spec.key, source.state.clone())).collect()
}

/// The keys that could not be obtained, each with why as the clinician reads it.
pub fn unavailable(record: &dvt_cds::gather::PatientRecord) -> Vec<(&'static str, String)> {
    record.unavailable().map(|(spec, reason)| (spec.key, dvt_cds_core::cards::unobtained_words(reason))).collect()
}

/// What evaluation needs, as the service builds it: the embedded knowledge and a FHIR client.
pub fn deps() -> dvt_cds::pipeline::Deps {
    dvt_cds::pipeline::Deps::new(
        dvt_cds_core::knowledge::KnowledgeBase::embedded().unwrap(),
        dvt_cds::gather::Gatherer::default(),
    )
}

/// The PostgreSQL server of the tests: `DVT_CDS_TEST_DATABASE_URL` (`.ci/test` starts one with
/// `.ci/postgres.sh`). Without it the test fails: a PostgreSQL test that passes without PostgreSQL
/// proves nothing.
pub fn postgres_url() -> String {
    match std::env::var("DVT_CDS_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "DVT_CDS_TEST_DATABASE_URL is not set: run `bash .ci/test`, which starts PostgreSQL, or \
             `eval \"$(bash .ci/postgres.sh env /tmp/dvt-cds-pg)\"` first"
        ),
    }
}

/// A new, empty database on the tests' PostgreSQL server, for one test: its URL.
pub async fn fresh_database() -> String {
    fresh_database_on(&postgres_url()).await
}

/// A new, empty database on the server at `server_url`: its URL.
pub async fn fresh_database_on(server_url: &str) -> String {
    let (client, connection) = tokio_postgres::connect(server_url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let name = format!("dvt_test_{}", Uuid::new_v4().simple());
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let mut url = url::Url::parse(server_url).unwrap();
    url.set_path(&name);
    url.to_string()
}

/// A PostgreSQL server of one test's own, which it may stop and start (`.ci/postgres.sh`).
pub struct OwnPostgres {
    dir: TempDir,
    pub url: String,
}

impl OwnPostgres {
    pub fn start() -> OwnPostgres {
        let dir = tempfile::tempdir().unwrap();
        let url = OwnPostgres::script("start", dir.path());
        OwnPostgres { dir, url }
    }

    pub fn stop(&self) {
        OwnPostgres::script("stop", self.dir.path());
    }

    /// Starts it again, on the same port with the same data.
    pub fn restart(&self) {
        assert_eq!(OwnPostgres::script("start", self.dir.path()), self.url);
    }

    fn script(command: &str, dir: &Path) -> String {
        let output = Command::new("bash")
            .arg(root().join(".ci/postgres.sh"))
            .args([command, dir.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(output.status.success(), "postgres.sh {command}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(root().join(".ci/postgres.sh"))
            .args(["stop", self.dir.path().to_str().unwrap()])
            .output();
    }
}
