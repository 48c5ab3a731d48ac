//! Production controls: consistent sampling, match rules, limits, amplification, set headers,
//! query and JSON redaction, Istio cluster names, and the metrics that show each of them.

use mirror_harness::{
    closed_port, Backend, Behaviour, Client, Envoy, EnvoyBuilder, Request, Scenario,
};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use traffic_mirror::metrics::Counter;
use traffic_mirror::sampling::{keyed_draw, SampleRate};

const WAIT: Duration = Duration::from_secs(10);

fn keyed_config(percentage: f64) -> Value {
    json!({"targets": [{"cluster": "mirror", "name": "users", "percentage": percentage,
                        "sampling": {"key_header": "x-user-id"}}]})
}

fn start_keyed(percentage: f64, mirror: &Backend, primary: &Backend) -> Envoy {
    Envoy::builder(keyed_config(percentage))
        .primary(primary.addr())
        .cluster("mirror", mirror.addr())
        .concurrency(2)
        .start()
}

/// Sends one request per user over several connections (so both workers see traffic), and
/// returns the users whose requests the mirror received.
fn mirrored_users(envoy: &Envoy, mirror: &Backend, users: usize) -> BTreeSet<String> {
    let before = mirror.count();
    let decided_before = decided(envoy);
    for chunk in (0..users).collect::<Vec<_>>().chunks(50) {
        let mut client = Client::http1(envoy.listener());
        for user in chunk {
            let response =
                client.send(Request::get("/profile").header("x-user-id", format!("user-{user}")));
            assert_eq!(response.status, 200);
        }
    }
    // Every request decided, and every copy answered, before the copies are read.
    mirror_harness::eventually("every request decided", WAIT, || {
        (decided(envoy) == decided_before + users as u64).then_some(())
    });
    let mirrored = envoy.counter("users", "mirrored");
    envoy.wait_for_counter("users", "responses_2xx", mirrored, WAIT);
    let received = mirror.received();
    received[before..]
        .iter()
        .filter_map(|r| r.header("x-user-id").map(String::from))
        .collect()
}

fn decided(envoy: &Envoy) -> u64 {
    envoy.counter("users", "mirrored") + envoy.counter("users", "sampled_out")
}

#[test]
fn consistent_sampling_keeps_the_same_users_across_passes_restarts_and_a_higher_percentage() {
    const USERS: usize = 1000;
    let primary = Backend::start();
    let mirror = Backend::start();
    let rate = |p: f64| SampleRate::from_percentage(p).unwrap_or(SampleRate::NEVER);
    let expected = |p: f64| -> BTreeSet<String> {
        (0..USERS)
            .map(|u| format!("user-{u}"))
            .filter(|u| rate(p).admits(keyed_draw(b"", u.as_bytes())))
            .collect()
    };

    let envoy = start_keyed(30.0, &mirror, &primary);
    let first = mirrored_users(&envoy, &mirror, USERS);
    assert!(
        (220..=380).contains(&first.len()),
        "30% of 1000 users: {}",
        first.len()
    );
    assert_eq!(
        first,
        expected(30.0),
        "decisions follow the documented hash"
    );
    assert_eq!(mirrored_users(&envoy, &mirror, USERS), first, "second pass");
    assert_eq!(
        envoy.counter("users", "sampled_out") + envoy.counter("users", "mirrored"),
        2 * USERS as u64
    );
    drop(envoy);

    let restarted = start_keyed(30.0, &mirror, &primary);
    assert_eq!(
        mirrored_users(&restarted, &mirror, USERS),
        first,
        "after a restart"
    );
    drop(restarted);

    let raised = start_keyed(60.0, &mirror, &primary);
    let at_60 = mirrored_users(&raised, &mirror, USERS);
    assert!(
        first.is_subset(&at_60),
        "raising the percentage only adds users"
    );
    assert_eq!(at_60, expected(60.0));
}

#[test]
fn requests_without_the_key_header_are_sampled_at_random() {
    let setup = Scenario::start(
        json!({"targets": [{"cluster": "mirror", "name": "users", "percentage": 50,
                                                    "sampling": {"key_header": "x-user-id"}}]}),
    );
    setup.get_ok("/anonymous", 200);
    let mirrored = setup.envoy.counter("users", "mirrored");
    assert!((60..=140).contains(&mirrored), "{mirrored} of 200 at 50%");
}

#[test]
fn match_rules_of_the_target_and_the_top_level_both_apply() {
    let setup = Scenario::start(json!({
        "match": {"path_prefixes": ["/api/"]},
        "targets": [{"cluster": "mirror", "name": "reads", "match": {
            "methods": ["GET", "HEAD"],
            "headers": [{"name": "x-env", "exact": "prod"}, {"name": "x-debug", "present": false}]
        }}]
    }));
    let mut client = setup.client();
    let cases = [
        (Request::get("/api/users").header("x-env", "prod"), true),
        (Request::get("/api/users").header("x-env", "staging"), false),
        (Request::get("/api/users"), false),
        (
            Request::get("/api/users")
                .header("x-env", "prod")
                .header("x-debug", "1"),
            false,
        ),
        (
            Request::post("/api/users", "{}").header("x-env", "prod"),
            false,
        ),
        (Request::get("/health").header("x-env", "prod"), false),
        (
            Request::get("/api/orders?page=2").header("x-env", "prod"),
            true,
        ),
    ];
    for (request, _) in &cases {
        assert_eq!(client.send(request.clone()).status, 200);
    }
    setup.envoy.wait_for_counter("reads", "unmatched", 5, WAIT);
    setup.envoy.wait_for_counter("reads", "mirrored", 2, WAIT);
    let copies = setup.mirror.wait_for(2, WAIT);
    let paths: BTreeSet<&str> = copies.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, BTreeSet::from(["/api/users", "/api/orders?page=2"]));
    assert_eq!(setup.primary.count(), cases.len(), "every original passed");
}

#[test]
fn max_per_second_caps_a_burst_at_capacity_plus_rate_times_elapsed() {
    const RATE: u64 = 20;
    let setup = Scenario::start(json!({"targets": [{"cluster": "mirror", "name": "capped",
                                                    "limits": {"max_per_second": RATE}}]}));
    let started = Instant::now();
    setup.get_ok("/burst", 200);
    let elapsed = started.elapsed().as_secs_f64();
    // Every request is decided one way or the other (counts reach Envoy within a tick).
    let mirrored = mirror_harness::eventually("200 decisions", WAIT, || {
        let mirrored = setup.envoy.counter("capped", "mirrored");
        (mirrored + setup.envoy.counter("capped", "rate_limited") == 200).then_some(mirrored)
    });
    let bound = RATE as f64 + RATE as f64 * elapsed;
    assert!(
        mirrored as f64 <= bound.ceil(),
        "{mirrored} copies in {elapsed:.2} s, bound {bound:.1}"
    );
    assert!(mirrored >= RATE, "the bucket starts full: {mirrored}");
    assert_eq!(setup.primary.count(), 200);
}

#[test]
fn max_in_flight_caps_copies_awaiting_a_target_that_never_answers() {
    let silent = Backend::slow(Duration::from_secs(120));
    let setup = Scenario::with_mirror(
        json!({"targets": [{"cluster": "mirror", "name": "stuck", "timeout_ms": 60000,
                            "limits": {"max_in_flight": 3}}]}),
        silent,
    );
    let mut client = setup.client();
    for _ in 0..10 {
        let response = client.send(Request::get("/stuck"));
        assert_eq!(response.status, 200);
        assert!(
            response.elapsed < Duration::from_secs(5),
            "original held back: {:?}",
            response.elapsed
        );
    }
    setup
        .envoy
        .wait_for_counter("stuck", "in_flight_limited", 7, WAIT);
    assert_eq!(setup.envoy.counter("stuck", "mirrored"), 3);
    assert_eq!(
        setup.envoy.metric_line("stuck", "in_flight").as_deref(),
        Some("3")
    );
    setup.mirror.wait_for(3, WAIT);
}

#[test]
fn amplify_sends_each_sampled_request_that_many_times() {
    let setup =
        Scenario::start(json!({"targets": [{"cluster": "mirror", "name": "loud", "amplify": 3}]}));
    let mut client = setup.client();
    for i in 0..4 {
        client.send(Request::post(&format!("/order/{i}"), format!("body {i}")));
    }
    let copies = setup.mirror.wait_for(12, WAIT);
    for i in 0..4 {
        let of_this = copies
            .iter()
            .filter(|c| c.path == format!("/order/{i}"))
            .collect::<Vec<_>>();
        assert_eq!(of_this.len(), 3, "copies of request {i}");
        assert!(of_this
            .iter()
            .all(|c| c.body == format!("body {i}").as_bytes()));
    }
    setup
        .envoy
        .wait_for_counter("loud", "responses_2xx", 12, WAIT);
    assert_eq!(
        setup.envoy.counter("loud", "mirrored"),
        4,
        "one decision per request"
    );
    assert_eq!(setup.primary.count(), 4);
}

#[test]
fn set_headers_give_copies_a_test_credential_and_leave_the_original_alone() {
    let setup = Scenario::start(json!({"targets": [{"cluster": "mirror", "name": "canary",
        "set_headers": {"authorization": "Bearer mirror-test-token", "x-mirror-tenant": "test"}}]}));
    setup
        .client()
        .send(Request::get("/me").header("authorization", "Bearer real-user-token"));
    let copy = &setup.mirror.wait_for(1, WAIT)[0];
    assert_eq!(
        copy.header("authorization"),
        Some("Bearer mirror-test-token")
    );
    assert_eq!(copy.header("x-mirror-tenant"), Some("test"));
    let original = &setup.primary.wait_for(1, WAIT)[0];
    assert_eq!(
        original.header("authorization"),
        Some("Bearer real-user-token")
    );
    assert!(!original.has_header("x-mirror-tenant"));
}

fn redacting() -> Scenario {
    Scenario::start(json!({
        "targets": [{"cluster": "mirror", "name": "scrubbed"}],
        "redact": {"query_params": ["token", "access_token"],
                   "json_fields": ["password", "card.number", "users.*.ssn", "clé"]}
    }))
}

#[test]
fn query_and_json_fields_are_redacted_in_copies_only() {
    let setup = redacting();
    let body = "{ \"user\": \"ann\", \"password\": \"hunter2\",\n  \"card\": {\"number\": 4111111111111111, \"cvc\": \"123\"},\n  \
                \"users\": [{\"ssn\": \"1\", \"n\": 1.50}, {\"ssn\": {\"deep\": [1, 2]}}, {\"x\": null}],\n  \
                \"cl\\u00e9\": \"sécret \\\"quoted\\\"\", \"note\": \"ünïcödé ✓\" }";
    let request = Request::post(
        "/login?user=ann&token=abc123&access_token=xyz&next=%2Fhome",
        body,
    )
    .header("content-type", "application/json; charset=utf-8");
    assert_eq!(setup.client().send(request).status, 200);

    let original = &setup.primary.wait_for(1, WAIT)[0];
    assert_eq!(
        original.path,
        "/login?user=ann&token=abc123&access_token=xyz&next=%2Fhome"
    );
    assert_eq!(original.body, body.as_bytes());
    let copy = &setup.mirror.wait_for(1, WAIT)[0];
    assert_eq!(
        copy.path,
        "/login?user=ann&token=REDACTED&access_token=REDACTED&next=%2Fhome"
    );
    let expected = "{ \"user\": \"ann\", \"password\": \"REDACTED\",\n  \"card\": {\"number\": \"REDACTED\", \"cvc\": \"123\"},\n  \
                    \"users\": [{\"ssn\": \"REDACTED\", \"n\": 1.50}, {\"ssn\": \"REDACTED\"}, {\"x\": null}],\n  \
                    \"cl\\u00e9\": \"REDACTED\", \"note\": \"ünïcödé ✓\" }";
    assert_eq!(String::from_utf8_lossy(&copy.body), expected);
    assert_eq!(
        copy.header("content-length"),
        Some(expected.len().to_string().as_str())
    );
}

#[test]
fn json_body_that_cannot_be_parsed_is_not_mirrored() {
    let setup = redacting();
    let mut client = setup.client();
    let broken = Request::post("/login", r#"{"password": "hunter2""#)
        .header("content-type", "application/json");
    assert_eq!(client.send(broken).status, 200);
    setup
        .envoy
        .wait_for_counter("scrubbed", "skipped_unparseable_body", 1, WAIT);
    // Taken as JSON by its first byte whatever its type says: not mirrored either.
    let looks_like_json =
        Request::post("/notes", r#"{"password": "#).header("content-type", "text/plain");
    client.send(looks_like_json);
    setup
        .envoy
        .wait_for_counter("scrubbed", "skipped_unparseable_body", 2, WAIT);
    // Neither JSON by type nor by bytes, nor a form: nothing to redact, sent as is.
    let text = Request::post("/notes", "password: hunter2").header("content-type", "text/plain");
    client.send(text);
    let copies = setup.mirror.wait_for(1, WAIT);
    assert_eq!(copies[0].path, "/notes");
    assert_eq!(copies[0].body, b"password: hunter2");
    assert_eq!(
        setup.primary.wait_for(3, WAIT)[0].body,
        br#"{"password": "hunter2""#
    );
    assert_eq!(setup.envoy.counter("scrubbed", "mirrored"), 1);
}

#[test]
fn istio_service_port_and_subset_name_the_cluster() {
    let istio_cluster = "outbound|8080|canary|user-service.default.svc.cluster.local";
    let primary = Backend::start();
    let mirror = Backend::start();
    let envoy = EnvoyBuilder::clone(&Envoy::builder(json!({"targets": [
        {"service": "user-service.default.svc.cluster.local", "port": 8080, "subset": "canary"}
    ]})))
    .primary(primary.addr())
    .cluster(istio_cluster, mirror.addr())
    .start();
    Client::http1(envoy.listener()).send(Request::get("/users/1"));
    let copy = &mirror.wait_for(1, WAIT)[0];
    let name = "outbound_8080_canary_user-service_default_svc_cluster_local";
    assert_eq!(copy.header("x-traffic-mirror"), Some(name));
    envoy.wait_for_counter(name, "responses_2xx", 1, WAIT);
}

#[test]
fn result_metrics_classify_answers_and_track_in_flight_and_latency() {
    let not_found = Backend::with(Behaviour {
        status: 404,
        delay: Duration::from_millis(30),
        ..Behaviour::default()
    });
    let setup = Scenario::with_mirror(
        json!({"targets": [{"cluster": "mirror", "name": "probe"}]}),
        not_found,
    );
    setup.get_ok("/missing", 5);
    setup
        .envoy
        .wait_for_counter("probe", "responses_4xx", 5, WAIT);
    for counter in Counter::RESULTS
        .iter()
        .filter(|c| **c != Counter::Responses4xx)
    {
        let counter = counter.suffix();
        assert_eq!(setup.envoy.counter("probe", counter), 0, "{counter}");
    }
    assert_eq!(
        setup.envoy.metric_line("probe", "in_flight").as_deref(),
        Some("0")
    );
    let latency = mirror_harness::eventually("latency_ms recorded", WAIT, || {
        let line = setup.envoy.metric_line("probe", "latency_ms")?;
        (!line.contains("No recorded values")).then_some(line)
    });
    assert!(latency.contains("P50("), "{latency}");
}

#[test]
fn a_failing_target_is_warned_about_once_per_ten_seconds_with_a_count() {
    let primary = Backend::start();
    let envoy = Envoy::builder(json!({"targets": [{"cluster": "mirror", "name": "gone"}]}))
        .primary(primary.addr())
        .cluster("mirror", closed_port())
        .start();
    let mut client = Client::http1(envoy.listener());
    for _ in 0..20 {
        assert_eq!(client.send(Request::get("/")).status, 200);
    }
    envoy.wait_for_counter("gone", "failed", 20, WAIT);
    std::thread::sleep(Duration::from_millis(300)); // the log is flushed every 100 ms
    let warnings: Vec<String> = envoy
        .log()
        .lines()
        .filter(|l| l.contains("target gone:"))
        .map(String::from)
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("1 copy failed or timed out"),
        "{}",
        warnings[0]
    );
}

#[test]
fn prometheus_shows_the_target_as_a_tag() {
    let setup = Scenario::start(json!({"targets": [{"cluster": "mirror", "name": "canary"}]}));
    setup.get_ok("/", 2);
    setup
        .envoy
        .wait_for_counter("canary", "responses_2xx", 2, WAIT);
    let prometheus = setup.envoy.admin_get("/stats/prometheus");
    assert!(
        prometheus.contains("traffic_mirror_mirrored{mirror_target=\"canary\"} 2"),
        "{prometheus}"
    );
    assert!(prometheus.contains("traffic_mirror_in_flight{mirror_target=\"canary\"} 0"));
    assert!(prometheus.contains("traffic_mirror_latency_ms_bucket{mirror_target=\"canary\""));
    // The example configuration carries the same rule.
    let example = std::fs::read_to_string(mirror_harness::repo_root().join("envoy/envoy.yaml"))
        .unwrap_or_default();
    let rule = mirror_harness::bootstrap::MIRROR_TARGET_TAG_REGEX;
    assert!(
        example.contains(&format!("regex: '{rule}'")),
        "envoy/envoy.yaml lacks {rule}"
    );
}

#[test]
fn redirects_from_the_target_count_as_3xx() {
    let redirecting = Backend::with(Behaviour {
        status: 302,
        ..Behaviour::default()
    });
    let setup = Scenario::with_mirror(
        json!({"targets": [{"cluster": "mirror", "name": "moved"}]}),
        redirecting,
    );
    setup.get_ok("/old-place", 2);
    setup
        .envoy
        .wait_for_counter("moved", "responses_3xx", 2, WAIT);
    assert_eq!(setup.envoy.counter("moved", "failed"), 0);
}

#[test]
fn copies_over_the_memory_budget_are_skipped_and_their_budget_comes_back() {
    // 15 KB bodies against a 64 KiB budget: four copies fit while the target sits on them.
    let silent = Backend::slow(Duration::from_secs(120));
    let setup = Scenario::with_mirror(
        json!({"targets": [{"cluster": "mirror", "name": "held", "timeout_ms": 1500}],
               "body": {"max_buffered_bytes": 65536}}),
        silent,
    );
    let mut client = setup.client();
    for i in 0..6 {
        let response = client.send(Request::post(&format!("/upload/{i}"), vec![b'x'; 15_000]));
        assert_eq!(response.status, 200, "original {i}");
    }
    let envoy = &setup.envoy;
    envoy.wait_for_counter("held", "skipped_memory_budget", 2, WAIT);
    assert_eq!(envoy.counter("held", "mirrored"), 4);
    // Timed out copies give their bytes back: the next upload is mirrored again.
    envoy.wait_for_counter("held", "timed_out", 4, WAIT);
    let response = client.send(Request::post("/upload/again", vec![b'x'; 15_000]));
    assert_eq!(response.status, 200);
    envoy.wait_for_counter("held", "mirrored", 5, WAIT);
    assert_eq!(envoy.counter("held", "skipped_memory_budget"), 2);
}
