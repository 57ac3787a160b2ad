//! The service against its floor, in one run: CPU per request, latency and memory.
//!
//! - The service: the real `dvt-cds serve` binary (release), answering an `order-select` whose prefetch
//!   is a full patient record (27 KB in all).
//! - The floor: this benchmark re-run as an axum server whose handler only parses the same body with
//!   `serde_json` (into a `Value`) and answers `{"cards":[]}`.
//! - The service again in the production profile, every call carrying a fresh ES384 client token that it
//!   verifies in full: what a call from an EHR costs.
//!
//! Each is a separate process on loopback, driven by the same client; CPU is read from each server's
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
    dead_code,
    reason = "a benchmark driver: a failure should stop it loudly, it prints its report, and it shares the test harness"
)]

mod common;
#[path = "../tests/it/support.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

const WARM_UP: usize = 300;
const SEQUENTIAL: usize = 3000;
const CONCURRENT_CLIENTS: usize = 4;
const CONCURRENT_FOR: Duration = Duration::from_secs(4);
/// Enough for the warm-up, the sequential calls and four seconds of concurrent calls.
const TOKENS: usize = 30_000;
const PATH: &str = "/cds-services/dvt-order-select";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|arg| arg == "--floor-server") {
        floor_server();
        return;
    }
    if !common::benchmarking() {
        return;
    }
    let body = common::full_prefetch_request();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let serve = |data: &Path| -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dvt-cds"));
        command.args(["serve", "--bind", "127.0.0.1:0", "--now", "2026-11-24T12:00:00Z", "--data-dir"]).arg(data);
        command
    };

    let floor =
        Server::spawn(Command::new(std::env::current_exe().unwrap()).arg("--floor-server"), "/cds-services/floor");
    let service = Server::spawn(&mut serve(&data_dir.path().join("open")), PATH);
    // The same service as an EHR would run it: the production profile, every call carrying a fresh ES384
    // token (the public sandbox's algorithm, and the slower of the two defaults) that is verified in full.
    let signer = common::EhrClient::new("https://ehr.example.org");
    let config = signer.trust_config(data_dir.path(), "https://cds.example.org");
    let verifying = Server::spawn(serve(&data_dir.path().join("verifying")).arg("--config").arg(&config), PATH);
    let audience = format!("https://cds.example.org{PATH}");
    let tokens = Tokens::new((0..TOKENS).map(|_| signer.token("ES384", &audience)).collect());

    // The service must answer with cards, or the comparison means nothing.
    for (server, token) in [(&service, None), (&verifying, tokens.next())] {
        let answer: Value = runtime.block_on(async {
            let mut request =
                reqwest::Client::new().post(&server.url).header("content-type", "application/json").body(body.clone());
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send().await.unwrap().json().await.unwrap()
        });
        assert!(!answer["cards"].as_array().unwrap().is_empty(), "no card: {answer}");
    }

    println!("request body: {} bytes (order-select, full prefetch)", body.len());
    let results = [
        ("floor", runtime.block_on(measure(&floor, &body, None))),
        ("dvt-cds", runtime.block_on(measure(&service, &body, None))),
        ("+ ES384", runtime.block_on(measure(&verifying, &body, Some(&tokens)))),
    ];
    println!();
    println!(
        "{:<10} {:>14} {:>10} {:>10} {:>10} {:>12} {:>12}",
        "server", "CPU/request", "p50", "p90", "p99", "req/s (x4)", "peak RSS"
    );
    for (name, result) in &results {
        println!(
            "{:<10} {:>11.1} us {:>7.0} us {:>7.0} us {:>7.0} us {:>12.0} {:>9.1} MiB",
            name, result.cpu_us, result.p50_us, result.p90_us, result.p99_us, result.throughput, result.peak_rss_mib
        );
    }
    let [(_, floor), (_, open), (_, verified)] = &results;
    println!("(+ ES384: the service in the production profile, every call with a fresh ES384 client token)");
    println!();
    println!("CPU per request, dvt-cds / floor: {:.2}x (the bar: at most 2x)", open.cpu_us / floor.cpu_us);
    println!("  with ES384 token verification: {:.2}x", verified.cpu_us / floor.cpu_us);
    println!(
        "p50 latency of dvt-cds: {:.0} us (the bar: under 500 us); with verification {:.0} us",
        open.p50_us, verified.p50_us
    );
    println!(
        "peak resident memory of dvt-cds: {:.1} MiB (the bar: under 30 MiB); with verification {:.1} MiB",
        open.peak_rss_mib, verified.peak_rss_mib
    );
}

/// Pre-signed client tokens, each used once (the service refuses a replayed `jti`).
#[derive(Clone)]
struct Tokens {
    tokens: Arc<Vec<String>>,
    used: Arc<AtomicUsize>,
}

impl Tokens {
    fn new(tokens: Vec<String>) -> Tokens {
        Tokens { tokens: Arc::new(tokens), used: Arc::new(AtomicUsize::new(0)) }
    }

    fn next(&self) -> Option<String> {
        self.tokens.get(self.used.fetch_add(1, Ordering::Relaxed)).cloned()
    }
}

/// A server process (killed when dropped); its log is drained so it never blocks on a full pipe.
struct Server {
    process: support::LoggedChild,
    url: String,
}

impl Server {
    fn spawn(command: &mut Command, path: &str) -> Server {
        let process = support::LoggedChild::spawn(command.env("DVT_CDS_LOG", "info"));
        let url = format!("{}{path}", process.base);
        Server { process, url }
    }

    /// Nanoseconds on CPU so far, over every thread of the process.
    fn cpu_ns(&self) -> u64 {
        let tasks = format!("/proc/{}/task", self.process.child.id());
        std::fs::read_dir(tasks)
            .unwrap()
            .filter_map(|task| std::fs::read_to_string(task.unwrap().path().join("schedstat")).ok())
            .filter_map(|line| line.split_whitespace().next().and_then(|ns| ns.parse::<u64>().ok()))
            .sum()
    }

    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.process.child.id())).unwrap();
        let kib: f64 = status
            .lines()
            .find(|line| line.starts_with("VmHWM:"))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kib| kib.parse().ok())
            .unwrap();
        kib / 1024.0
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

/// Sequential calls for CPU and latency, then concurrent clients for throughput. With `tokens`, every call
/// carries the next one, and the concurrent phase ends early if they run out.
async fn measure(server: &Server, body: &str, tokens: Option<&Tokens>) -> Measured {
    let client = reqwest::Client::builder().pool_max_idle_per_host(8).build().unwrap();
    let post = |client: reqwest::Client, url: String, body: String, token: Option<String>| async move {
        let mut request = client.post(url).header("content-type", "application/json").body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    };
    let token = || tokens.map(|tokens| tokens.next().expect("more pre-signed tokens"));
    for _ in 0..WARM_UP {
        post(client.clone(), server.url.clone(), body.to_owned(), token()).await;
    }
    let cpu_before = server.cpu_ns();
    let mut latencies = Vec::with_capacity(SEQUENTIAL);
    for _ in 0..SEQUENTIAL {
        let token = token();
        let started = Instant::now();
        post(client.clone(), server.url.clone(), body.to_owned(), token).await;
        latencies.push(started.elapsed());
    }
    let cpu_us = (server.cpu_ns() - cpu_before) as f64 / SEQUENTIAL as f64 / 1000.0;
    latencies.sort();
    let percentile =
        |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64() * 1e6;

    let started = Instant::now();
    let deadline = started + CONCURRENT_FOR;
    let workers: Vec<_> = (0..CONCURRENT_CLIENTS)
        .map(|_| {
            let (client, url, body, tokens) = (client.clone(), server.url.clone(), body.to_owned(), tokens.cloned());
            tokio::spawn(async move {
                let mut done = 0usize;
                while Instant::now() < deadline {
                    let token = match &tokens {
                        Some(tokens) => match tokens.next() {
                            Some(token) => Some(token),
                            None => break,
                        },
                        None => None,
                    };
                    post(client.clone(), url.clone(), body.clone(), token).await;
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
    let elapsed = started.elapsed();
    Measured {
        cpu_us,
        p50_us: percentile(0.50),
        p90_us: percentile(0.90),
        p99_us: percentile(0.99),
        throughput: total as f64 / elapsed.as_secs_f64(),
        peak_rss_mib: server.peak_rss_mib(),
    }
}

/// The floor: parse the body with serde_json, answer no card.
fn floor_server() {
    use axum::Router;
    use axum::body::Bytes;
    use axum::routing::post;

    async fn parse_only(body: Bytes) -> &'static str {
        common::floor_parse(&body);
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
