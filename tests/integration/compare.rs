//! Shadow verification against a real Envoy: each candidate copy's response is compared with
//! the original's (or a baseline target's), and the verdict lands in exactly one counter.

use mirror_harness::flate2::write::GzEncoder;
use mirror_harness::flate2::Compression;
use mirror_harness::{send_raw, Backend, Client, Envoy, Received, Reply, Request};
use serde_json::{json, Value};
use std::io::Write;
use std::time::Duration;
use traffic_mirror::metrics::CompareCounter;

const WAIT: Duration = Duration::from_secs(10);

fn candidate(compare: Value) -> Value {
    json!({"targets": [{"cluster": "canary", "name": "canary", "compare": compare}]})
}

fn start(config: Value, primary: &Backend, clusters: &[(&str, &Backend)]) -> Envoy {
    let mut builder = Envoy::builder(config).primary(primary.addr());
    for (name, backend) in clusters {
        builder = builder.cluster(name, backend.addr());
    }
    builder.start()
}

/// Waits until every comparison started for `target` has a verdict; returns the verdicts.
fn verdicts(envoy: &Envoy, target: &str, started: u64) -> Vec<(&'static str, u64)> {
    envoy.wait_for_counter(target, "mirrored", started, WAIT);
    let all = decided(envoy, target, started, WAIT);
    assert_eq!(
        all.iter().map(|(_, n)| n).sum::<u64>(),
        started,
        "started = matched + mismatched + every compare_skipped_*: {all:?}"
    );
    all
}

/// The verdict counters of `target` that are not zero, once at least `started` comparisons
/// have one (each started comparison ends in exactly one of them), waiting at most `wait`.
pub(crate) fn decided(
    envoy: &Envoy,
    target: &str,
    started: u64,
    wait: Duration,
) -> Vec<(&'static str, u64)> {
    mirror_harness::eventually("every comparison decided", wait, || {
        let total: u64 = CompareCounter::VERDICTS
            .iter()
            .map(|v| envoy.counter(target, v.suffix()))
            .sum();
        (total >= started).then_some(())
    });
    CompareCounter::VERDICTS
        .iter()
        .map(|v| (v.suffix(), envoy.counter(target, v.suffix())))
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn get(path: &str, id: &str) -> Request {
    Request::get(path).header("x-request-id", id)
}

fn send_all(envoy: &Envoy, requests: Vec<Request>) {
    let mut client = Client::http1(envoy.listener());
    for request in requests {
        assert_eq!(
            client.send(request).status,
            200,
            "the original is untouched"
        );
    }
}

fn json_reply(body: &'static str) -> Backend {
    Backend::replying(move |_| Reply::json(200, body))
}

#[test]
fn equal_json_matches_whatever_key_order_whitespace_and_number_spelling() {
    let primary = json_reply(r#"{"id":7,"price":1,"tags":["a","b"],"big":12345678901234567890}"#);
    let canary = json_reply(
        "{ \"tags\": [\"a\", \"b\"],\n \"big\": 1.2345678901234567890e19, \"price\": 1.0, \"id\": 7 }",
    );
    let envoy = start(
        candidate(json!({"body": "json"})),
        &primary,
        &[("canary", &canary)],
    );
    send_all(
        &envoy,
        (0..5).map(|i| get("/item", &format!("r{i}"))).collect(),
    );
    assert_eq!(verdicts(&envoy, "canary", 5), [("matched", 5)]);
}

#[test]
fn a_different_status_header_or_json_value_is_a_mismatch_of_that_aspect() {
    let primary = Backend::replying(|_| Reply::json(200, r#"{"a":1,"b":[1,2]}"#));
    let canary = Backend::replying(|request: &Received| match request.path.as_str() {
        "/status" => Reply::json(500, r#"{"a":1,"b":[1,2]}"#),
        "/header" => Reply::new(200, r#"{"a":1,"b":[1,2]}"#).header("content-type", "text/plain"),
        "/value" => Reply::json(200, r#"{"a":2,"b":[1,2]}"#),
        "/extra" => Reply::json(200, r#"{"a":1,"b":[1,2],"c":true}"#),
        "/order" => Reply::json(200, r#"{"a":1,"b":[2,1]}"#),
        _ => Reply::json(200, r#"{"b":[1,2],"a":1}"#),
    });
    let config = candidate(json!({"body": "json", "headers": ["content-type"]}));
    let envoy = start(config, &primary, &[("canary", &canary)]);
    let paths = ["/status", "/header", "/value", "/extra", "/order", "/same"];
    send_all(
        &envoy,
        paths.iter().map(|p| get(p, &format!("id{p}"))).collect(),
    );
    assert_eq!(
        verdicts(&envoy, "canary", 6),
        [("matched", 1), ("mismatched", 5)]
    );
    assert_eq!(envoy.counter("canary", "mismatched_status"), 1);
    assert_eq!(envoy.counter("canary", "mismatched_headers"), 1);
    assert_eq!(envoy.counter("canary", "mismatched_body"), 3);
}

#[test]
fn the_mismatch_log_names_request_and_json_paths_but_never_values() {
    let primary = json_reply(r#"{"user":{"email":"ann@example.com","plan":"free"}}"#);
    let canary = json_reply(r#"{"user":{"email":"bob@example.com","plan":"free"}}"#);
    let envoy = start(
        candidate(json!({"body": "json"})),
        &primary,
        &[("canary", &canary)],
    );
    send_all(
        &envoy,
        vec![get("/account?token=s3cr3t", "req-42").header("x-secret", "hunter2")],
    );
    verdicts(&envoy, "canary", 1);
    let line = mirror_harness::eventually("a mismatch line", WAIT, || {
        envoy
            .log()
            .lines()
            .find(|l| l.contains("req-42") && l.contains("mismatch"))
            .map(String::from)
    });
    assert!(line.contains("user.email"), "{line}");
    assert!(line.contains("/account"), "{line}");
    for secret in ["ann@example.com", "bob@example.com", "hunter2", "free"] {
        assert!(
            !line.contains(secret),
            "a value leaked into the log: {line}"
        );
    }
}

#[test]
fn the_mismatch_log_writes_data_like_keys_segments_and_query_values_as_braces() {
    // Keys can be data (a session token, an email); so can URL segments and query values.
    let primary = json_reply(
        r#"{"sessions":{"sk_live_abc123":{"n":1}},"users":[{"jane.doe@example.com":1}]}"#,
    );
    let canary = json_reply(
        r#"{"sessions":{"sk_live_abc123":{"n":2}},"users":[{"jane.doe@example.com":2}]}"#,
    );
    let envoy = start(
        candidate(json!({"body": "json"})),
        &primary,
        &[("canary", &canary)],
    );
    send_all(
        &envoy,
        vec![get(
            "/users/ann@example.com/sessions?token=s3cr3t",
            "req-43",
        )],
    );
    verdicts(&envoy, "canary", 1);
    let line = mirror_harness::eventually("a mismatch line", WAIT, || {
        envoy
            .log()
            .lines()
            .find(|l| l.contains("req-43") && l.contains("mismatch"))
            .map(String::from)
    });
    assert!(line.contains("sessions.{}.n"), "{line}");
    assert!(line.contains("users.*.{}"), "{line}");
    assert!(line.contains("/users/{}/sessions?token={}"), "{line}");
    for data in ["sk_live_abc123", "jane.doe", "ann@example.com", "s3cr3t"] {
        assert!(!line.contains(data), "data leaked into the log: {line}");
    }
}

#[test]
fn ignored_json_fields_do_not_count() {
    let primary = Backend::replying(|r: &Received| {
        Reply::json(
            200,
            format!(r#"{{"timestamp":"{:?}","ok":true}}"#, r.at).leak(),
        )
    });
    let canary = Backend::replying(|r: &Received| {
        Reply::json(
            200,
            format!(r#"{{"ok":true,"timestamp":"{:?}x"}}"#, r.at).leak(),
        )
    });
    let config = candidate(json!({"body": "json", "ignore_json_fields": ["timestamp"]}));
    let envoy = start(config, &primary, &[("canary", &canary)]);
    send_all(
        &envoy,
        (0..3).map(|i| get("/t", &format!("t{i}"))).collect(),
    );
    assert_eq!(verdicts(&envoy, "canary", 3), [("matched", 3)]);
}

fn gzip(body: &[u8], level: u32) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::new(level));
    encoder.write_all(body).expect("gzip");
    encoder.finish().expect("gzip")
}

#[test]
fn gzip_bodies_of_equal_json_match_though_their_bytes_differ() {
    let document = br#"{"items":[{"id":1,"name":"book"},{"id":2,"name":"pen"}],"total":2}"#;
    let spaced =
        br#"{ "total": 2, "items": [ {"name": "book", "id": 1}, {"name": "pen", "id": 2} ] }"#;
    let (fast, best) = (gzip(document, 1), gzip(spaced, 9));
    assert_ne!(fast, best);
    let primary = Backend::replying(move |_| {
        Reply::json(200, "")
            .header("content-encoding", "gzip")
            .with_body(fast.clone())
    });
    let canary = Backend::replying(move |_| {
        Reply::json(200, "")
            .header("content-encoding", "gzip")
            .with_body(best.clone())
    });
    let envoy = start(
        candidate(json!({"body": "json"})),
        &primary,
        &[("canary", &canary)],
    );
    send_all(&envoy, vec![get("/gz", "gz1"), get("/gz", "gz2")]);
    assert_eq!(verdicts(&envoy, "canary", 2), [("matched", 2)]);
    assert_eq!(envoy.counter("canary", "body_not_compared_encoding"), 0);
}

#[test]
fn a_grpc_canary_failing_in_its_trailers_is_a_status_mismatch_and_a_grpc_error() {
    let grpc = |status: &'static str| {
        Backend::replying(move |_| {
            Reply::new(200, vec![0, 0, 0, 0, 0])
                .header("content-type", "application/grpc")
                .trailer("grpc-status", status)
        })
    };
    let (primary, canary) = (grpc("0"), grpc("13"));
    let envoy = Envoy::builder(candidate(json!({})))
        .primary(primary.addr())
        .cluster("canary", canary.addr())
        .http2_upstreams()
        .start();
    let call = Request::post("/pkg.Service/Method", vec![0, 0, 0, 0, 0])
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("x-request-id", "rpc-1");
    let response = Client::http2(envoy.listener()).send(call);
    assert_eq!(response.status, 200);
    assert_eq!(verdicts(&envoy, "canary", 1), [("mismatched", 1)]);
    assert_eq!(envoy.counter("canary", "mismatched_status"), 1);
    assert_eq!(envoy.counter("canary", "responses_grpc_error"), 1);
    assert_eq!(
        envoy.counter("canary", "responses_2xx"),
        0,
        "a failing RPC is not healthy"
    );
}

#[test]
fn either_side_may_answer_first() {
    let slow = |delay| Backend::replying(move |_| Reply::json(200, r#"{"v":1}"#).delayed(delay));
    let config = || candidate(json!({"body": "json"}));
    let (primary, canary) = (slow(Duration::ZERO), slow(Duration::from_millis(400)));
    let envoy = start(config(), &primary, &[("canary", &canary)]);
    send_all(&envoy, vec![get("/slow-canary", "s1")]);
    assert_eq!(verdicts(&envoy, "canary", 1), [("matched", 1)]);
    let (primary, canary) = (slow(Duration::from_millis(400)), slow(Duration::ZERO));
    let envoy = start(config(), &primary, &[("canary", &canary)]);
    send_all(&envoy, vec![get("/slow-original", "s2")]);
    assert_eq!(verdicts(&envoy, "canary", 1), [("matched", 1)]);
}

#[test]
fn an_oversize_body_is_compared_by_status_and_headers_only() {
    let big = "x".repeat(2000);
    let body: &'static str = format!(r#"{{"pad":"{big}"}}"#).leak();
    let (primary, canary) = (json_reply(body), json_reply(r#"{"pad":"other"}"#));
    let config = candidate(json!({"body": "json", "max_body_bytes": 1000}));
    let envoy = start(config, &primary, &[("canary", &canary)]);
    send_all(&envoy, vec![get("/big", "b1")]);
    assert_eq!(verdicts(&envoy, "canary", 1), [("matched", 1)]);
    assert_eq!(envoy.counter("canary", "body_not_compared_too_large"), 1);
}

/// Sends a request on a raw connection and hangs up after `wait`.
fn hang_up_after(envoy: &Envoy, path: &str, wait: Duration) {
    let request = format!("GET {path} HTTP/1.1\r\nhost: app.test\r\nx-request-id: gone\r\n\r\n");
    send_raw(envoy.listener(), request.as_bytes(), wait);
}

#[test]
fn a_client_hanging_up_before_the_original_response_ends_skips_the_comparison() {
    let primary = Backend::replying(|_| Reply::json(200, r#"{"part":"#).never_ending());
    let canary = json_reply(r#"{"part":1}"#);
    let envoy = start(
        candidate(json!({"body": "json"})),
        &primary,
        &[("canary", &canary)],
    );
    hang_up_after(&envoy, "/stream", Duration::from_millis(500));
    assert_eq!(
        verdicts(&envoy, "canary", 1),
        [("compare_skipped_incomplete", 1)]
    );
}

#[test]
fn an_original_that_never_ends_expires_and_memory_is_given_back() {
    let primary = Backend::replying(|_| Reply::json(200, r#"{"part":"#).never_ending());
    let canary = json_reply(r#"{"part":1}"#);
    let config = json!({"targets": [{"cluster": "canary", "name": "canary", "timeout_ms": 300,
                                      "compare": {"body": "json"}}]});
    let envoy = start(config, &primary, &[("canary", &canary)]);
    // The client stays connected far longer than the copy's timeout and margin.
    hang_up_after(&envoy, "/stream", Duration::from_secs(4));
    assert_eq!(
        verdicts(&envoy, "canary", 1),
        [("compare_skipped_expired", 1)]
    );
    assert_eq!(envoy.counter("canary", "compare_pending"), 0);
}

#[test]
fn a_copy_without_an_upstream_answer_is_skipped() {
    let primary = json_reply(r#"{"v":1}"#);
    let config = json!({"targets": [{"cluster": "canary", "name": "canary", "compare": {}}]});
    let envoy = Envoy::builder(config)
        .primary(primary.addr())
        .cluster("canary", mirror_harness::closed_port())
        .start();
    send_all(&envoy, vec![get("/down", "d1")]);
    assert_eq!(
        verdicts(&envoy, "canary", 1),
        [("compare_skipped_no_answer", 1)]
    );
}

fn stamped(tag: &'static str, price: u32) -> Backend {
    Backend::replying(move |r: &Received| {
        let body = format!(
            r#"{{"served_at":"{:?}-{tag}","price":{price},"name":"book"}}"#,
            r.at
        );
        Reply::json(200, body.leak())
    })
}

#[test]
fn the_noise_baseline_cancels_a_field_that_always_differs_and_keeps_a_real_change() {
    let primary = stamped("primary", 10);
    let baseline = stamped("baseline", 10);
    let canary = stamped("canary", 12);
    let config = json!({"targets": [
        {"cluster": "canary", "name": "canary",
         "compare": {"body": "json", "noise_baseline": "baseline", "summary_interval_s": 1}},
        {"cluster": "baseline", "name": "baseline", "percentage": 0}]});
    let envoy = start(
        config,
        &primary,
        &[("canary", &canary), ("baseline", &baseline)],
    );
    send_all(
        &envoy,
        (0..4).map(|i| get("/book", &format!("n{i}"))).collect(),
    );
    assert_eq!(verdicts(&envoy, "canary", 4), [("mismatched", 4)]);
    assert_eq!(envoy.counter("canary", "mismatched_body"), 4);
    assert_eq!(
        envoy.counter("canary", "noise_fields"),
        4,
        "served_at, per request"
    );
    envoy.wait_for_counter("baseline", "mirrored", 4, WAIT);
    assert_eq!(
        envoy.counter("baseline", "sampled_out"),
        0,
        "carried, not sampled out"
    );
    let summary = mirror_harness::eventually("a summary line naming price", WAIT, || {
        envoy
            .log()
            .lines()
            .find(|l| l.contains("summary") && l.contains("price"))
            .map(String::from)
    });
    let summary: Value = serde_json::from_str(&summary[summary.find('{').unwrap()..]).unwrap();
    let summary = &summary["compare_summary"];
    assert_eq!(
        summary["differing_paths"],
        json!([{"path": "price", "differed": 4, "noise": 0}]),
        "noise is not among the differing paths"
    );
    let fields = &summary["endpoints"][0]["fields"];
    assert_eq!(
        (fields[0]["field"].as_str(), fields[0]["passes"].as_bool()),
        (Some("$.served_at"), Some(true)),
        "the endpoint's table shows noise as passing: {fields}"
    );
    assert_eq!(
        (fields[1]["field"].as_str(), fields[1]["passes"].as_bool()),
        (Some("$.price"), Some(false))
    );
    let mismatch = envoy.log();
    let line = mismatch
        .lines()
        .find(|l| l.contains("n0"))
        .expect("mismatch line");
    assert!(
        line.contains("price") && !line.contains("served_at"),
        "{line}"
    );
}

#[test]
fn against_a_baseline_a_copy_that_lost_its_credentials_is_compared_fairly() {
    let authorizing = |tag: &'static str| {
        Backend::replying(move |r: &Received| match r.header("authorization") {
            Some(_) => Reply::json(200, r#"{"ok":true}"#),
            None => Reply::json(
                401,
                format!(r#"{{"error":"no credentials","by":"{tag}"}}"#).leak(),
            ),
        })
    };
    let (primary, canary, baseline) = (
        authorizing("primary"),
        authorizing("canary"),
        authorizing("canary"),
    );
    let config = json!({"targets": [
        {"cluster": "canary", "name": "canary",
         "compare": {"against": "baseline", "body": "json"}},
        {"cluster": "baseline", "name": "baseline", "percentage": 0}]});
    let envoy = start(
        config,
        &primary,
        &[("canary", &canary), ("baseline", &baseline)],
    );
    let request = get("/me", "auth1").header("authorization", "Bearer live");
    send_all(&envoy, vec![request]);
    assert_eq!(canary.wait_for(1, WAIT)[0].header("authorization"), None);
    assert_eq!(verdicts(&envoy, "canary", 1), [("matched", 1)]);
    assert_eq!(envoy.counter("canary", "responses_4xx"), 1);
}

#[test]
fn requests_that_are_not_compared_read_no_response() {
    let primary = json_reply(r#"{"v":1}"#);
    let canary = json_reply(r#"{"v":2}"#);
    let other = Backend::start();
    let config = json!({"targets": [
        {"cluster": "canary", "name": "canary", "match": {"path_prefixes": ["/compared"]},
         "compare": {"body": "json"}},
        {"cluster": "other", "name": "other"}]});
    let envoy = start(config, &primary, &[("canary", &canary), ("other", &other)]);
    send_all(&envoy, vec![get("/compared", "c1"), get("/plain", "p1")]);
    assert_eq!(verdicts(&envoy, "canary", 1), [("mismatched", 1)]);
    envoy.wait_for_counter("other", "responses_2xx", 2, WAIT);
    assert!(
        envoy.metric_line("other", "matched").is_none(),
        "no comparison metrics"
    );
}

/// The lines of Envoy's Prometheus output that start with `metric{`.
fn prometheus_lines(envoy: &Envoy, metric: &str) -> Vec<String> {
    let text = envoy.admin_get("/stats/prometheus");
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .map(String::from)
        .collect();
    lines.sort();
    lines
}

#[test]
fn comparisons_are_counted_per_endpoint_and_field_with_prometheus_labels() {
    let users = |name: &'static str| {
        move |r: &Received| {
            if r.path.starts_with("/users/") {
                Reply::json(200, name)
            } else {
                Reply::json(200, r#"{"orders": []}"#)
            }
        }
    };
    let primary = Backend::replying(users(r#"{"id": 1, "name": "ann", "tags": [{"k": 1}]}"#));
    let canary = Backend::replying(users(r#"{"id": 1, "name": "bob", "tags": [{"k": 2}]}"#));
    let config = json!({"targets": [{"cluster": "canary", "name": "canary",
        "endpoints": ["GET /users/{id}", "/v1.2/it's+ok:@%25/~(x)!$&*,/{*}"],
        "compare": {"body": "json", "summary_interval_s": 1}}]});
    let envoy = start(config, &primary, &[("canary", &canary)]);
    let mut requests: Vec<Request> = (0..3)
        .map(|i| get(&format!("/users/{i}?token=s3cret"), &format!("u{i}")))
        .collect();
    requests.extend((0..2).map(|i| get("/v1/orders", &format!("o{i}"))));
    requests.push(get("/v1.2/it's+ok:@%25/~(x)!$&*,/a/b", "odd"));
    send_all(&envoy, requests);
    assert_eq!(
        verdicts(&envoy, "canary", 6),
        [("matched", 3), ("mismatched", 3)]
    );
    let users = r#"mirror_target="canary",endpoint="GET /users/{id}""#;
    let orders = r#"mirror_target="canary",endpoint="GET /{}/orders""#;
    // Every character a template allows reaches Prometheus as it is.
    let expected = [
        r#"traffic_mirror_endpoint_compared{mirror_target="canary",endpoint="/v1.2/it's+ok:@%25/~(x)!$&*,/{*}"} 1"#.to_string(),
        format!("traffic_mirror_endpoint_compared{{{users}}} 3"),
        format!("traffic_mirror_endpoint_compared{{{orders}}} 2"),
    ];
    mirror_harness::eventually("the per-endpoint counts", WAIT, || {
        (prometheus_lines(&envoy, "traffic_mirror_endpoint_compared") == expected).then_some(())
    });
    assert_eq!(
        prometheus_lines(&envoy, "traffic_mirror_endpoint_mismatched")[1..],
        [
            format!("traffic_mirror_endpoint_mismatched{{{users}}} 3"),
            format!("traffic_mirror_endpoint_mismatched{{{orders}}} 0"),
        ]
    );
    let aspects = prometheus_lines(&envoy, "traffic_mirror_endpoint_mismatched_aspect");
    assert!(
        aspects.contains(&format!(
            r#"traffic_mirror_endpoint_mismatched_aspect{{{users},aspect="body"}} 3"#
        )),
        "{aspects:?}"
    );
    assert_eq!(
        prometheus_lines(&envoy, "traffic_mirror_field_differed"),
        [
            format!(r#"traffic_mirror_field_differed{{{users},field="$.name"}} 3"#),
            format!(r#"traffic_mirror_field_differed{{{users},field="$.tags.*.k"}} 3"#),
        ]
    );
    assert_eq!(
        prometheus_lines(&envoy, "traffic_mirror_field_noise"),
        [
            format!(r#"traffic_mirror_field_noise{{{users},field="$.name"}} 0"#),
            format!(r#"traffic_mirror_field_noise{{{users},field="$.tags.*.k"}} 0"#),
        ]
    );
    // The per-target metrics keep their names.
    assert!(envoy
        .admin_get("/stats/prometheus")
        .contains(r#"traffic_mirror_mismatched{mirror_target="canary"} 3"#));
    // Envoy writes its log file in its own time: wait for the line.
    let mismatch = mirror_harness::eventually("a mismatch line", WAIT, || {
        envoy
            .log()
            .lines()
            .find(|l| l.contains("compare_mismatch") && l.contains("u0"))
            .map(String::from)
    });
    assert!(
        mismatch.contains(r#""endpoint":"GET /users/{id}""#)
            && mismatch.contains(r#""json_paths_total":2"#),
        "{mismatch}"
    );
    let summary = mirror_harness::eventually("a summary with endpoints", WAIT, || {
        envoy
            .log()
            .lines()
            .find(|l| l.contains("compare_summary") && l.contains("GET /users/{id}"))
            .map(String::from)
    });
    assert!(summary.contains(r#""examples":["u"#), "{summary}");
    assert!(
        !summary.contains("s3cret") && !summary.contains("ann") && !summary.contains("bob"),
        "{summary}"
    );
}
