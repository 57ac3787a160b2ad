//! Connections against the real binary: a limit sized from the file limit, a header-read timeout
//! that also closes idle keep-alive connections, a bounded shutdown, and HTTP/1.1 only.
//!
//! The deadlines here only keep a broken run from hanging: none is a speed requirement.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{LoggedChild, ServiceProcess, by_query, order_select};

/// Longest any read here may wait: past it the test fails instead of hanging.
const HANG_GUARD: Duration = Duration::from_secs(20);

fn connect(base: &str) -> TcpStream {
    let stream = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
    stream
}

/// Everything the server sends until it closes the connection; fails if it is still open after the guard.
fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    match stream.read_to_end(&mut received) {
        Ok(_) => String::from_utf8_lossy(&received).into_owned(),
        // A reset also means the server closed it.
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {
            String::from_utf8_lossy(&received).into_owned()
        }
        Err(error) => panic!("the server kept the connection open ({error}); received {received:?}"),
    }
}

/// One request on a fresh connection, `Connection: close`: the whole answer.
fn get(base: &str, path: &str) -> String {
    let mut stream = connect(base);
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    read_until_closed(&mut stream)
}

/// `dvt-cds serve ARGS` with its file limit set to `nofile`.
fn spawn_with_file_limit(nofile: u32, data_dir: &std::path::Path, args: &[&str]) -> LoggedChild {
    LoggedChild::spawn(
        Command::new("bash")
            .arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_dvt-cds"))
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap()])
            .args(args),
    )
}

#[test]
fn idle_sockets_beyond_the_file_limit_are_refused_fast_and_closed_at_the_header_timeout() {
    let data_dir = tempfile::tempdir().unwrap();
    // A file limit of 128: at most 64 connections by default.
    let mut service = spawn_with_file_limit(128, data_dir.path(), &["--header-read-timeout", "2s"]);
    assert!(service.log().contains("max_connections=64"), "{}", service.log());
    let base = service.base.clone();

    // 64 idle sockets take every slot (accepted in order); the next ones, and a real request, get a 503 at once.
    let mut idle: Vec<TcpStream> = (0..64).map(|_| connect(&base)).collect();
    let mut over: Vec<TcpStream> = (0..36).map(|_| connect(&base)).collect();
    for stream in &mut over {
        let answer = read_until_closed(stream);
        assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
        // Readable by a browser client, though the request (and its Origin) was never read.
        assert!(answer.contains("\r\naccess-control-allow-origin: *\r\n"), "{answer}");
        assert!(answer.contains("\r\nretry-after: 1\r\n"), "{answer}");
        let body: Value = serde_json::from_str(answer.split_once("\r\n\r\n").unwrap().1).unwrap();
        assert_eq!(body["issue"][0]["code"], "throttled");
    }
    assert!(get(&base, "/healthz").starts_with("HTTP/1.1 503 "));

    // The idle sockets are closed by the server at the header-read timeout, and clients are served again.
    for stream in &mut idle {
        read_until_closed(stream);
    }
    assert!(get(&base, "/healthz").starts_with("HTTP/1.1 200 "));
    service.child.kill().unwrap();
    service.wait();
    assert!(service.log().contains("the connection limit is reached"), "{}", service.log());
}

#[test]
fn a_request_head_sent_byte_by_byte_and_an_idle_keep_alive_connection_are_closed_at_the_timeout() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut service = ServiceProcess::spawn(data_dir.path(), &["--header-read-timeout", "1s"]);

    // Half a request head, then silence (a client that sends one byte now and then fares the same:
    // the timeout counts from the start of the head, not from the last byte).
    let mut slow = connect(&service.base);
    slow.write_all(b"POST /cds-services/dvt-order-select HTTP/1.1\r\nHost: x\r\n").unwrap();
    read_until_closed(&mut slow);

    // A keep-alive connection after its response: closed when no new request comes.
    let mut keep_alive = connect(&service.base);
    keep_alive.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let answer = read_until_closed(&mut keep_alive);
    assert!(answer.starts_with("HTTP/1.1 200 ") && answer.ends_with(r#"{"status":"pass"}"#), "{answer}");
    assert!(service.terminate().success());
}

#[test]
fn sigterm_finishes_in_flight_requests_and_exits_although_clients_hold_half_sent_heads() {
    // A FHIR server that takes the query and never answers: the request stays in flight until the
    // gathering deadline, and is then answered (412).
    let stalled = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let fhir = format!("http://{}/fhir", stalled.local_addr().unwrap());
    let (queried, query_seen) = mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in stalled.incoming() {
            let _ = queried.send(());
            held.push(stream);
        }
    });

    let data_dir = tempfile::tempdir().unwrap();
    let mut service = ServiceProcess::spawn(
        data_dir.path(),
        &["--header-read-timeout", "600s", "--shutdown-grace", "3s", "--fhir-deadline", "1500ms"],
    );
    let mut half_sent: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut stream = connect(&service.base);
            stream.write_all(b"POST /cds-services/dvt-order-select HTTP/1.1\r\nHost: x\r\nContent-").unwrap();
            stream
        })
        .collect();
    let body = by_query(&order_select(), &fhir).to_string();
    let mut in_flight = connect(&service.base);
    write!(
        in_flight,
        "POST /cds-services/dvt-order-select HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    query_seen.recv_timeout(HANG_GUARD).expect("the request never reached the FHIR server");

    let asked = Instant::now();
    let status = service.terminate();
    let took = asked.elapsed();
    assert!(status.success(), "{}", service.log());
    let answer = read_until_closed(&mut in_flight);
    assert!(answer.starts_with("HTTP/1.1 412 "), "the in-flight request was not answered: {answer}");
    for stream in &mut half_sent {
        assert_eq!(read_until_closed(stream), "");
    }
    assert!(service.log().contains("the shutdown grace is over"), "{}", service.log());
    eprintln!("SIGTERM to exit with 3 half-sent heads and one in-flight request: {took:?}");
}

#[test]
fn http2_is_not_served_even_with_prior_knowledge() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut service = ServiceProcess::spawn(data_dir.path(), &[]);
    let mut stream = connect(&service.base);
    // The HTTP/2 connection preface, then an empty SETTINGS frame.
    stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").unwrap();
    let answer = read_until_closed(&mut stream);
    // An HTTP/2 server would answer with its own SETTINGS frame (type 4 in the fourth byte).
    assert!(answer.as_bytes().get(3).is_none_or(|kind| *kind != 4), "{answer:?}");
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 "), "{answer:?}");
    eprintln!("an HTTP/2 prior-knowledge client gets: {:?}", answer.lines().next());
    assert!(service.terminate().success());
}

/// What hyper refuses before any of our code runs, as the README's HTTP API section lists it: a status
/// with an empty body, and the connection closed.
#[test]
fn what_hyper_refuses_before_our_code_is_as_documented() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut service = ServiceProcess::spawn(data_dir.path(), &[]);
    let many_headers: String = (0..101).map(|n| format!("X-{n}: y\r\n")).collect();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not HTTP", b"HELLO\r\n\r\n".to_vec(), "400 Bad Request"),
        ("raw non-ASCII path", b"GET /cds-services/\xff HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), "400 Bad Request"),
        ("bad header name", b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n".to_vec(), "400 Bad Request"),
        (
            "bad Content-Length",
            b"POST /cds-services/dvt-order-select HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".to_vec(),
            "400 Bad Request",
        ),
        ("unknown HTTP version", b"GET /healthz HTTP/3.0\r\n\r\n".to_vec(), "400 Bad Request"),
        (
            "head over 400 KB",
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n", "a".repeat(500_000)).into_bytes(),
            "431 Request Header Fields Too Large",
        ),
        (
            "over 100 headers",
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n").into_bytes(),
            "431 Request Header Fields Too Large",
        ),
        (
            "URI over 64 KB",
            format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000)).into_bytes(),
            "414 URI Too Long",
        ),
    ];
    for (name, request, status) in cases {
        let mut stream = connect(&service.base);
        // A refused head may be answered before it is all written; the answer is what matters.
        let _ = stream.write_all(&request);
        let answer = read_until_closed(&mut stream);
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        assert!(head.starts_with(&format!("HTTP/1.1 {status}\r\n")), "{name}: {answer}");
        assert!(head.contains("content-length: 0") && body.is_empty(), "{name}: {answer}");
    }
    assert!(service.terminate().success());
}
