//! What a copy carries: the original minus secrets and hop-by-hop headers, plus the marker.

use mirror_harness::{Backend, Client, Envoy, Received, Request, Scenario};
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn canary() -> serde_json::Value {
    json!({"targets": [{"cluster": "mirror", "name": "canary"}]})
}

fn without(headers: Vec<(String, Vec<u8>)>, names: &[&str]) -> Vec<(String, Vec<u8>)> {
    headers
        .into_iter()
        .filter(|(n, _)| !names.contains(&n.as_str()))
        .collect()
}

fn request_with_secrets() -> Request {
    Request::post(
        "/orders/7?expand=items&token=abc",
        r#"{"item": "book", "qty": 2}"#,
    )
    .authority("shop.example:8080")
    .header("content-type", "application/json")
    .header("authorization", "Bearer live-secret")
    .header("proxy-authorization", "Basic cHJveHk6c2VjcmV0")
    .header("cookie", "session=s3cr3t")
    .header("x-api-key", "key-123")
    .header("x-tenant", "acme")
    .header("accept", "application/json")
    .header("user-agent", "mirror-test/1.0")
}

#[test]
fn copy_equals_original_minus_redacted_headers_plus_marker() {
    let setup = Scenario::start(canary());
    let response = Client::http1(setup.envoy.listener()).send(request_with_secrets());
    assert_eq!(response.status, 200);

    let original = &setup.primary.wait_for(1, WAIT)[0];
    let copy = &setup.mirror.wait_for(1, WAIT)[0];
    assert_eq!(copy.method, original.method);
    assert_eq!(copy.path, original.path);
    assert_eq!(copy.body, original.body);
    assert_eq!(copy.header("x-traffic-mirror"), Some("canary"));
    assert_eq!(
        copy.header("baggage"),
        Some("traffic-mirror=canary"),
        "the marker that travels (docs/copies.md)"
    );
    let redacted = [
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
    ];
    for secret in redacted {
        assert!(!copy.has_header(secret), "copy carries {secret}");
    }
    assert_eq!(
        without(copy.end_to_end_headers(), &["x-traffic-mirror", "baggage"]),
        without(original.end_to_end_headers(), &redacted),
    );
    assert_eq!(copy.header("content-length"), Some("26"));
}

#[test]
fn original_reaches_its_upstream_exactly_as_sent() {
    let setup = Scenario::start(canary());
    let request = request_with_secrets();
    Client::http1(setup.envoy.listener()).send(request.clone());

    let original = &setup.primary.wait_for(1, WAIT)[0];
    assert_eq!(original.path, request.path);
    assert_eq!(original.body, request.body);
    assert_eq!(original.header("host"), Some("shop.example:8080"));
    for (name, value) in &request.headers {
        assert_eq!(
            original.header_bytes(name),
            Some(value.as_slice()),
            "{name}"
        );
    }
    assert!(
        !original.has_header("x-traffic-mirror"),
        "the plugin marked the original"
    );
    setup.mirror.wait_for(1, WAIT);
}

#[test]
fn post_body_of_200_kb_is_copied_byte_exact() {
    let setup = Scenario::start(canary());
    let body: Vec<u8> = (0..200 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let response =
        Client::http1(setup.envoy.listener()).send(Request::post("/upload", body.clone()));
    assert_eq!(response.status, 200);

    assert_eq!(setup.primary.wait_for(1, WAIT)[0].body, body);
    let copy = &setup.mirror.wait_for(1, WAIT)[0];
    assert_eq!(copy.body.len(), body.len());
    assert!(copy.body == body, "copied body differs from the original");
    setup
        .envoy
        .wait_for_counter("canary", "responses_2xx", 1, WAIT);
}

#[test]
fn http2_request_with_body_is_copied() {
    let setup = Scenario::start(canary());
    let body = vec![b'h'; 50_000];
    let mut client = Client::http2(setup.envoy.listener());
    let response = client.send(
        Request::post("/h2?x=1", body.clone())
            .header("authorization", "Bearer h2")
            .header("x-h2", "yes"),
    );
    assert_eq!(response.status, 200);
    let response = client.send(Request::get("/h2-second"));
    assert_eq!(response.status, 200);

    let original = &setup.primary.wait_for(2, WAIT)[0];
    assert_eq!(original.body, body);
    assert_eq!(original.header("authorization"), Some("Bearer h2"));
    let copies = setup.mirror.wait_for(2, WAIT);
    let copy = copies
        .iter()
        .find(|c| c.path == "/h2?x=1")
        .expect("copy of the POST");
    assert_eq!(copy.method, "POST");
    assert_eq!(copy.body, body);
    assert_eq!(copy.header("x-h2"), Some("yes"));
    assert_eq!(copy.header("host"), Some("app.test"));
    assert!(!copy.has_header("authorization"));
}

#[test]
fn host_suffix_and_target_authority_set_the_copy_host() {
    let primary = Backend::start();
    let suffixed = Backend::start();
    let fixed = Backend::start();
    let envoy = Envoy::builder(json!({
        "targets": [
            {"cluster": "suffixed", "name": "suffixed"},
            {"cluster": "fixed", "name": "fixed", "authority": "canary.internal:9000"}
        ],
        "host_suffix": "-shadow"
    }))
    .primary(primary.addr())
    .cluster("suffixed", suffixed.addr())
    .cluster("fixed", fixed.addr())
    .start();
    Client::http1(envoy.listener()).send(Request::get("/").authority("shop.example:8080"));

    assert_eq!(
        primary.wait_for(1, WAIT)[0].header("host"),
        Some("shop.example:8080")
    );
    assert_eq!(
        suffixed.wait_for(1, WAIT)[0].header("host"),
        Some("shop.example-shadow:8080")
    );
    let to_fixed: Received = fixed.wait_for(1, WAIT).remove(0);
    assert_eq!(to_fixed.header("host"), Some("canary.internal:9000"));
    assert_eq!(to_fixed.header("x-traffic-mirror"), Some("fixed"));
}

#[test]
fn every_target_gets_its_own_copy_and_counters() {
    let primary = Backend::start();
    let first = Backend::start();
    let second = Backend::start();
    let envoy = Envoy::builder(json!({
        "targets": [
            {"cluster": "first", "name": "first"},
            {"cluster": "second", "name": "second"}
        ],
        "redact": {"headers": []}
    }))
    .primary(primary.addr())
    .cluster("first", first.addr())
    .cluster("second", second.addr())
    .start();
    let mut client = Client::http1(envoy.listener());
    for i in 0..5 {
        client
            .send(Request::post(&format!("/{i}"), vec![b'x'; 100]).header("authorization", "kept"));
    }
    for (backend, name) in [(&first, "first"), (&second, "second")] {
        let copies = backend.wait_for(5, WAIT);
        assert!(copies
            .iter()
            .all(|c| c.header("x-traffic-mirror") == Some(name)));
        assert!(
            copies
                .iter()
                .all(|c| c.header("authorization") == Some("kept")),
            "redact [] sends all"
        );
        assert!(copies.iter().all(|c| c.body.len() == 100));
        envoy.wait_for_counter(name, "mirrored", 5, WAIT);
        envoy.wait_for_counter(name, "responses_2xx", 5, WAIT);
    }
}

#[test]
fn body_mirroring_off_sends_headers_only() {
    let setup = Scenario::start(
        json!({"targets": [{"cluster": "mirror", "name": "canary"}], "body": {"mirror": false}}),
    );
    Client::http1(setup.envoy.listener()).send(Request::post("/no-body", vec![b'b'; 5000]));
    assert_eq!(setup.primary.wait_for(1, WAIT)[0].body.len(), 5000);
    let copy = &setup.mirror.wait_for(1, WAIT)[0];
    assert_eq!(copy.method, "POST");
    assert!(copy.body.is_empty());
    assert_eq!(copy.header("content-length").unwrap_or("0"), "0");
}

#[test]
fn request_ending_in_trailers_is_copied_without_its_trailers() {
    let primary = Backend::start();
    let mirror = Backend::start();
    let envoy = Envoy::builder(canary())
        .primary(primary.addr())
        .cluster("mirror", mirror.addr())
        .http2_upstreams()
        .start();
    let grpc_like = Request::post("/pkg.Service/Method", vec![0, 0, 0, 0, 3, 1, 2, 3])
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .trailer("x-checksum", "abc")
        .trailer("authorization", "Bearer in-a-trailer");
    let response = Client::http2(envoy.listener()).send(grpc_like);
    assert_eq!(response.status, 200);

    let original = &primary.wait_for(1, WAIT)[0];
    assert_eq!(original.trailers.len(), 2, "{original:?}");
    let copy = &mirror.wait_for(1, WAIT)[0];
    assert_eq!(copy.body, [0, 0, 0, 0, 3, 1, 2, 3]);
    assert_eq!(copy.header("te"), Some("trailers"));
    // The plugin hands the original's trailers, scrubbed, to dispatch_http_call; Envoy's
    // AsyncRequest sends headers and body only (async_client_impl.cc: "TODO: Support request
    // trailers"), so even this HTTP/2 target receives none. Should a later Envoy send them,
    // this fails: the scrubbed trailers are then what a copy carries.
    assert!(
        !copy
            .trailers
            .iter()
            .any(|(name, _)| name == "authorization"),
        "a redacted trailer reached the target: {:?}",
        copy.trailers
    );
    assert!(copy.trailers.is_empty(), "{:?}", copy.trailers);
}
