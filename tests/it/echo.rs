//! No echo: an error names where the problem is and what was expected, never what the client sent,
//! and the log never quotes a request either. A marker string is planted in every field of a hook
//! request and of a feedback body, one field at a time and in every JSON shape, against the real
//! binary; it must appear in no error body and in no log line.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{ServiceProcess, client, order_select, overridden};

/// Nothing we write could contain this by chance.
const MARKER: &str = "Qx7MarkerZ9";

/// Every JSON pointer of `value` below the root.
fn pointers(value: &Value, at: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            for (key, child) in fields {
                let pointer = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                out.push(pointer.clone());
                pointers(child, &pointer, out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                let pointer = format!("{at}/{index}");
                out.push(pointer.clone());
                pointers(child, &pointer, out);
            }
        }
        _ => {}
    }
}

/// `body` with the marker planted at each pointer in each shape: the marker as a string, as the
/// string's tail (so a value that was valid may stay valid), as an object key and value, in an
/// array, and as a key added to every object.
fn planted(body: &Value) -> Vec<(String, Value)> {
    let mut at = Vec::new();
    pointers(body, "", &mut at);
    let mut variants = Vec::new();
    for pointer in &at {
        let original = body.pointer(pointer).unwrap().clone();
        let mut shapes = vec![json!(MARKER), json!({MARKER: MARKER}), json!([MARKER]), json!(MARKER.repeat(2000))];
        if let Value::String(text) = &original {
            shapes.push(json!(format!("{text}{MARKER}")));
        }
        if let Value::Object(fields) = &original {
            let mut with_key = fields.clone();
            with_key.insert(MARKER.to_owned(), json!(MARKER));
            shapes.push(Value::Object(with_key));
        }
        for shape in shapes {
            let mut variant = body.clone();
            *variant.pointer_mut(pointer).unwrap() = shape;
            variants.push((pointer.clone(), variant));
        }
    }
    variants
}

/// Where a card may rightly quote what the request holds: the record and the draft orders.
fn is_record(pointer: &str) -> bool {
    pointer.starts_with("/prefetch/") || pointer.starts_with("/context/draftOrders")
}

#[test]
fn no_error_body_and_no_log_line_quotes_a_planted_marker() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut service = ServiceProcess::spawn(data_dir.path(), &["--log", "dvt_cds=debug,info"]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let http = client();
    let post = |path: &str, body: &Value| {
        runtime.block_on(async {
            let response = http.post(service.url(path)).json(body).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        })
    };

    let mut request = order_select();
    request["fhirServer"] = json!("http://127.0.0.1:9/fhir");
    request["fhirAuthorization"] = json!({"access_token": "t0ken", "token_type": "Bearer", "scope": "patient/*.read", "subject": "s", "patient": "pat-1"});
    request["context"]["encounterId"] = json!("enc-1");
    let mut cases: Vec<(String, String, Value)> = planted(&request)
        .into_iter()
        .map(|(pointer, body)| (pointer, "/cds-services/dvt-order-select".to_owned(), body))
        .collect();
    // A fhirServer the allow-list refuses (403), and ids that are not ours in the path (404).
    let mut refused = request.clone();
    refused["fhirServer"] = json!(format!("https://{MARKER}.example/fhir/{MARKER}"));
    cases.push(("/fhirServer (refused)".to_owned(), "/cds-services/dvt-order-select".to_owned(), refused));
    for path in [format!("/cds-services/{MARKER}"), format!("/cds-services/{MARKER}/feedback")] {
        cases.push(("path".to_owned(), path, request.clone()));
    }
    let mut feedback_item = overridden(Uuid::from_u128(7));
    feedback_item["overrideReason"]["userComment"] = json!("a comment");
    let feedback = json!({"feedback": [feedback_item, overridden(Uuid::from_u128(8))]});
    cases.extend(planted(&feedback).into_iter().map(|(pointer, body)| {
        (format!("feedback {pointer}"), "/cds-services/dvt-order-select/feedback".to_owned(), body)
    }));

    let mut errors = 0;
    for (pointer, path, body) in &cases {
        let (status, text) = post(path, body);
        assert!(status < 500, "{pointer}: {status} {text}");
        if status != 200 {
            errors += 1;
        }
        if status != 200 || !is_record(pointer) {
            assert!(!text.contains(MARKER), "{pointer}: the {status} answer quotes the client: {text}");
        }
    }
    assert!(
        errors > cases.len() / 3,
        "too few variants were refused ({errors} of {}): the test plants nothing",
        cases.len()
    );
    assert!(service.terminate().success());
    let log = service.log();
    let quoting: Vec<&str> = log.lines().filter(|line| line.contains(MARKER)).collect();
    assert!(quoting.is_empty(), "{} log lines quote the client, e.g. {:?}", quoting.len(), quoting.first());
}

#[test]
fn a_huge_feedback_batch_gets_a_bounded_answer_and_log_line() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut service = ServiceProcess::spawn(data_dir.path(), &[]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let post = |items: Vec<Value>| {
        runtime.block_on(async {
            let response = client()
                .post(service.url("/cds-services/dvt-order-select/feedback"))
                .json(&json!({"feedback": items}))
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        })
    };
    // 10,000 invalid items: a 400; 10,000 valid ones and 10,000 invalid ones: a 200 listing problems.
    let (status, invalid_answer) = post(vec![json!({}); 10_000]);
    assert_eq!(status, 400, "{invalid_answer}");
    let mut mixed: Vec<Value> = (0..10_000_u128).map(|n| overridden(Uuid::from_u128(n + 1))).collect();
    mixed.extend(std::iter::repeat_n(json!({"card": "x"}), 10_000));
    let (status, mixed_answer) = post(mixed);
    assert_eq!(status, 200, "{mixed_answer}");
    assert!(service.terminate().success());

    for answer in [&invalid_answer, &mixed_answer] {
        let outcome: Value = serde_json::from_str(answer).unwrap();
        assert!(answer.len() < 32 * 1024, "{} bytes: {}", answer.len(), &answer[..200]);
        // The answer says how many problems there were beyond those it lists.
        assert!(
            outcome["issue"]
                .as_array()
                .unwrap()
                .iter()
                .any(|issue| { issue["diagnostics"].as_str().unwrap().contains("more problems") }),
            "{answer}"
        );
    }
    assert!(mixed_answer.contains("stored 10000 of 20000"), "{mixed_answer}");
    let log = service.log();
    let longest = log.lines().map(str::len).max().unwrap();
    assert!(longest < 2048, "a log line of {longest} bytes");
    assert!(log.contains("stored=10000"), "{log}");
}
