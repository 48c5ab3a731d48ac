//! Which requests are copied: sampling, the loop guard and the body limit, each counted.

use mirror_harness::{Backend, Client, Envoy, Request, Scenario};
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn percentages_zero_fifty_and_hundred_sample_as_configured() {
    const REQUESTS: u64 = 400;
    let primary = Backend::start();
    let [zero, half, all] = [Backend::start(), Backend::start(), Backend::start()];
    let envoy = Envoy::builder(json!({"targets": [
        {"cluster": "zero", "name": "zero", "percentage": 0},
        {"cluster": "half", "name": "half", "percentage": 50},
        {"cluster": "all", "name": "all", "percentage": 100}
    ]}))
    .primary(primary.addr())
    .cluster("zero", zero.addr())
    .cluster("half", half.addr())
    .cluster("all", all.addr())
    .start();
    let mut client = Client::http1(envoy.listener());
    for i in 0..REQUESTS {
        assert_eq!(client.send(Request::get(&format!("/{i}"))).status, 200);
    }
    all.wait_for(REQUESTS as usize, WAIT);
    envoy.wait_for_counter("all", "mirrored", REQUESTS, WAIT);
    envoy.wait_for_counter("all", "responses_2xx", REQUESTS, WAIT);
    assert_eq!(envoy.counter("all", "sampled_out"), 0);

    assert_eq!(envoy.counter("zero", "sampled_out"), REQUESTS);
    assert_eq!(envoy.counter("zero", "mirrored"), 0);
    assert_eq!(zero.count(), 0);

    let mirrored = envoy.counter("half", "mirrored");
    // Binomial(400, 0.5): standard deviation 10, so 4.5 sigma either side.
    assert!(
        (155..=245).contains(&mirrored),
        "50% mirrored {mirrored} of {REQUESTS}"
    );
    assert_eq!(mirrored + envoy.counter("half", "sampled_out"), REQUESTS);
    envoy.wait_for_counter("half", "responses_2xx", mirrored, WAIT);
    assert_eq!(half.count() as u64, mirrored);
}

#[test]
fn request_carrying_the_marker_is_never_mirrored_again() {
    let Scenario {
        primary,
        mirror,
        envoy,
    } = Scenario::start(json!({"targets": [{"cluster": "mirror", "name": "canary"}]}));
    let mut client = Client::http1(envoy.listener());
    client.send(Request::get("/already-a-copy").header("x-traffic-mirror", "upstream-canary"));
    envoy.wait_for_counter("canary", "skipped_loop", 1, WAIT);
    client.send(Request::get("/fresh"));
    mirror.wait_for(1, WAIT);

    let originals = primary.wait_for(2, WAIT);
    assert_eq!(
        originals[0].header("x-traffic-mirror"),
        Some("upstream-canary"),
        "original untouched"
    );
    let paths: Vec<String> = mirror.received().into_iter().map(|c| c.path).collect();
    assert_eq!(paths, ["/fresh"]);
    assert_eq!(envoy.counter("canary", "mirrored"), 1);
}

#[test]
fn custom_marker_header_is_set_and_guarded() {
    let Scenario {
        primary: _,
        mirror,
        envoy,
    } = Scenario::start(
        json!({"targets": [{"cluster": "mirror", "name": "canary"}], "marker_header": "x-shadowed-by"}),
    );
    let mut client = Client::http1(envoy.listener());
    client.send(Request::get("/marked").header("x-shadowed-by", "x"));
    client.send(Request::get("/plain").header("x-traffic-mirror", "not our marker"));
    let copies = mirror.wait_for(1, WAIT);
    assert_eq!(copies[0].path, "/plain");
    assert_eq!(copies[0].header("x-shadowed-by"), Some("canary"));
    envoy.wait_for_counter("canary", "skipped_loop", 1, WAIT);
}

#[test]
fn empty_marker_turns_marker_and_guard_off() {
    let Scenario {
        primary: _,
        mirror,
        envoy,
    } = Scenario::start(
        json!({"targets": [{"cluster": "mirror", "name": "canary"}], "marker_header": ""}),
    );
    Client::http1(envoy.listener()).send(Request::get("/").header("x-traffic-mirror", "x"));
    let copy = &mirror.wait_for(1, WAIT)[0];
    assert_eq!(
        copy.header("x-traffic-mirror"),
        Some("x"),
        "passed through as an ordinary header"
    );
    assert_eq!(envoy.counter("canary", "skipped_loop"), 0);
}

#[test]
fn body_over_max_bytes_is_skipped_never_truncated() {
    let Scenario {
        primary,
        mirror,
        envoy,
    } = Scenario::start(
        json!({"targets": [{"cluster": "mirror", "name": "canary"}], "body": {"max_bytes": 1000}}),
    );
    let mut client = Client::http1(envoy.listener());
    assert_eq!(
        client
            .send(Request::post("/too-big", vec![b'x'; 1001]))
            .status,
        200
    );
    // Streamed in several chunks, the limit still holds across them.
    assert_eq!(
        client
            .send(Request::post("/too-big-2", vec![b'y'; 300_000]))
            .status,
        200
    );
    assert_eq!(
        client.send(Request::post("/fits", vec![b'z'; 1000])).status,
        200
    );

    let copies = mirror.wait_for(1, WAIT);
    envoy.wait_for_counter("canary", "skipped_body_too_large", 2, WAIT);
    assert_eq!(copies[0].path, "/fits");
    assert_eq!(copies[0].body.len(), 1000);
    assert_eq!(envoy.counter("canary", "mirrored"), 1);
    let originals = primary.wait_for(3, WAIT);
    assert_eq!(originals[0].body.len(), 1001);
    assert_eq!(originals[1].body.len(), 300_000);
}
