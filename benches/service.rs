//! The service against its floor, in one run: CPU per request, latency and memory.
//!
//! - The service: the real `dvt-cds serve` binary (release), answering an `order-select` whose prefetch
//!   is a full patient record of about 20 KB.
//! - The floor: this benchmark re-run as an axum server whose handler only parses the same body with
//!   `serde_json` (into a `Value`) and answers `{"cards":[]}`.
//!
//! Both are separate processes on loopback, driven by the same client; CPU is read from each server's
//! `/proc/<pid>/task/*/schedstat` (nanoseconds on CPU, all threads). Reports the ratio service / floor,
//! latency percentiles, throughput with 4 concurrent clients, and the service's peak resident memory.
//!
//! `cargo bench --bench service`. Under `cargo test` it does nothing: speed is never asserted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark driver: a failure should stop it loudly, and it prints its report"
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const WARM_UP: usize = 300;
const SEQUENTIAL: usize = 3000;
const CONCURRENT_CLIENTS: usize = 4;
const CONCURRENT_FOR: Duration = Duration::from_secs(4);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|arg| arg == "--floor-server") {
        floor_server();
        return;
    }
    if !args.iter().any(|arg| arg == "--bench") {
        return;
    }
    let body = request_body();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let data_dir = tempfile::tempdir().unwrap();

    let service = Server::spawn(
        Command::new(env!("CARGO_BIN_EXE_dvt-cds")).args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            data_dir.path().to_str().unwrap(),
            "--now",
            "2026-11-24T12:00:00Z",
        ]),
        "/cds-services/dvt-order-select",
    );
    let floor =
        Server::spawn(Command::new(std::env::current_exe().unwrap()).arg("--floor-server"), "/cds-services/floor");

    // The service must answer with cards, or the comparison means nothing.
    let answer: Value = runtime.block_on(async {
        reqwest::Client::new()
            .post(&service.url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert!(!answer["cards"].as_array().unwrap().is_empty(), "no card: {answer}");

    println!("request body: {} bytes (order-select, full prefetch)", body.len());
    let mut report = Vec::new();
    for server in [&floor, &service] {
        let result = runtime.block_on(measure(server, &body));
        report.push(result);
    }
    let (floor_result, service_result) = (&report[0], &report[1]);
    println!();
    println!(
        "{:<10} {:>14} {:>10} {:>10} {:>10} {:>12} {:>12}",
        "server", "CPU/request", "p50", "p90", "p99", "req/s (x4)", "peak RSS"
    );
    for (name, result) in [("floor", floor_result), ("dvt-cds", service_result)] {
        println!(
            "{:<10} {:>11.1} us {:>7.0} us {:>7.0} us {:>7.0} us {:>12.0} {:>9.1} MiB",
            name, result.cpu_us, result.p50_us, result.p90_us, result.p99_us, result.throughput, result.peak_rss_mib
        );
    }
    println!();
    println!(
        "CPU per request, dvt-cds / floor: {:.2}x (the bar: at most 2x)",
        service_result.cpu_us / floor_result.cpu_us
    );
    println!("p50 latency of dvt-cds: {:.0} us (the bar: under 500 us)", service_result.p50_us);
    println!("peak resident memory of dvt-cds: {:.1} MiB (the bar: under 30 MiB)", service_result.peak_rss_mib);
}

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn spawn(command: &mut Command, path: &str) -> Server {
        let mut child =
            command.env("DVT_CDS_LOG", "info").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Keep draining the log so the server never blocks on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(start) = line.find("listening on http://") {
                    let base = line[start + "listening on ".len()..].split_whitespace().next().unwrap().to_owned();
                    let _ = sender.send(base);
                }
            }
        });
        let base = receiver.recv_timeout(Duration::from_secs(30)).expect("the server did not start");
        Server { child, url: format!("{base}{path}") }
    }

    /// Nanoseconds on CPU so far, over every thread of the process.
    fn cpu_ns(&self) -> u64 {
        let tasks = format!("/proc/{}/task", self.child.id());
        std::fs::read_dir(tasks)
            .unwrap()
            .filter_map(|task| std::fs::read_to_string(task.unwrap().path().join("schedstat")).ok())
            .filter_map(|line| line.split_whitespace().next().and_then(|ns| ns.parse::<u64>().ok()))
            .sum()
    }

    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: f64 = status
            .lines()
            .find(|line| line.starts_with("VmHWM:"))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kib| kib.parse().ok())
            .unwrap();
        kib / 1024.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Measured {
    cpu_us: f64,
    p50_us: f64,
    p90_us: f64,
    p99_us: f64,
    throughput: f64,
    peak_rss_mib: f64,
}

async fn measure(server: &Server, body: &str) -> Measured {
    let client = reqwest::Client::builder().pool_max_idle_per_host(8).build().unwrap();
    let post = |client: reqwest::Client, url: String, body: String| async move {
        let response = client.post(url).header("content-type", "application/json").body(body).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    };
    for _ in 0..WARM_UP {
        post(client.clone(), server.url.clone(), body.to_owned()).await;
    }
    let cpu_before = server.cpu_ns();
    let mut latencies = Vec::with_capacity(SEQUENTIAL);
    for _ in 0..SEQUENTIAL {
        let started = Instant::now();
        post(client.clone(), server.url.clone(), body.to_owned()).await;
        latencies.push(started.elapsed());
    }
    let cpu_us = (server.cpu_ns() - cpu_before) as f64 / SEQUENTIAL as f64 / 1000.0;
    latencies.sort();
    let percentile =
        |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64() * 1e6;

    let deadline = Instant::now() + CONCURRENT_FOR;
    let workers: Vec<_> = (0..CONCURRENT_CLIENTS)
        .map(|_| {
            let (client, url, body) = (client.clone(), server.url.clone(), body.to_owned());
            tokio::spawn(async move {
                let mut done = 0usize;
                while Instant::now() < deadline {
                    post(client.clone(), url.clone(), body.clone()).await;
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.await.unwrap();
    }
    Measured {
        cpu_us,
        p50_us: percentile(0.50),
        p90_us: percentile(0.90),
        p99_us: percentile(0.99),
        throughput: total as f64 / CONCURRENT_FOR.as_secs_f64(),
        peak_rss_mib: server.peak_rss_mib(),
    }
}

/// The floor: parse the body with serde_json, answer no card.
fn floor_server() {
    use axum::Router;
    use axum::body::Bytes;
    use axum::routing::post;

    async fn parse_only(body: Bytes) -> &'static str {
        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        std::hint::black_box(value);
        r#"{"cards":[]}"#
    }

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        eprintln!("listening on http://{}", listener.local_addr().unwrap());
        let router = Router::new().route("/cds-services/floor", post(parse_only));
        axum::serve(listener, router).await.unwrap();
    });
}

/// An order-select for the seed scenario (severe left iliofemoral DVT, CDT ordered) whose prefetch is a
/// realistic full record of about 20 KB: months of labs, other diagnoses, medications and procedures.
fn request_body() -> String {
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
