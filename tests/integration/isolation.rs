//! The original request is sacred: whatever happens to its copies, it passes untouched and
//! undelayed, and every copy's fate is still counted.

use mirror_harness::{closed_port, send_raw, Backend, Behaviour, Envoy, Request, Scenario};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn target(name: &str) -> Value {
    json!({"targets": [{"cluster": "mirror", "name": name}]})
}

#[test]
fn slow_mirror_does_not_slow_the_original_and_every_copy_arrives_whole() {
    let mirror_delay = Duration::from_secs(3);
    let setup = Scenario::with_mirror(target("slow"), Backend::slow(mirror_delay));
    let mut client = setup.client();
    let bodies: Vec<Vec<u8>> = (0..10u8)
        .map(|i| vec![i; 20_000 + usize::from(i)])
        .collect();
    for (i, body) in bodies.iter().enumerate() {
        let response = client.send(Request::post(&format!("/slow/{i}"), body.clone()));
        assert_eq!(response.status, 200);
        // Generous on purpose: waiting for the copy would take the full mirror delay.
        assert!(
            response.elapsed < mirror_delay / 2,
            "original {i} took {:?}",
            response.elapsed
        );
    }
    assert_eq!(setup.primary.count(), 10);

    let copies = setup.mirror.wait_for(10, WAIT);
    for (i, body) in bodies.iter().enumerate() {
        let copy = copies
            .iter()
            .find(|c| c.path == format!("/slow/{i}"))
            .expect("copy");
        assert!(copy.body == *body, "copy {i} is not whole");
    }
    // The originals finished seconds ago; the copies' answers are still observed and counted.
    setup
        .envoy
        .wait_for_counter("slow", "responses_2xx", 10, WAIT);
    assert_eq!(setup.envoy.counter("slow", "failed"), 0);
    assert_eq!(setup.envoy.counter("slow", "mirrored"), 10);
}

#[test]
fn mirror_target_that_is_down_fails_every_copy_and_no_original() {
    let primary = Backend::start();
    let envoy = Envoy::builder(target("down"))
        .primary(primary.addr())
        .cluster("mirror", closed_port())
        .start();
    let mut client = mirror_harness::Client::http1(envoy.listener());
    for i in 0..20 {
        let response = client.send(Request::post(&format!("/{i}"), "payload"));
        assert_eq!(response.status, 200, "original {i}");
        assert_eq!(response.body, b"ok");
    }
    assert_eq!(primary.count(), 20);
    envoy.wait_for_counter("down", "failed", 20, WAIT);
    assert_eq!(envoy.counter("down", "mirrored"), 20);
    assert_eq!(
        envoy.counter("down", "responses_5xx"),
        0,
        "Envoy's own 503 is not a response"
    );
}

#[test]
fn copy_that_times_out_counts_as_timed_out() {
    let config = json!({"targets": [{"cluster": "mirror", "name": "late", "timeout_ms": 100}]});
    let setup = Scenario::with_mirror(config, Backend::slow(Duration::from_secs(2)));
    setup.get_ok("/", 3);
    setup.envoy.wait_for_counter("late", "timed_out", 3, WAIT);
    assert_eq!(
        setup.envoy.counter("late", "responses_5xx"),
        0,
        "Envoy's own 504 is not a response"
    );
    assert_eq!(setup.envoy.counter("late", "failed"), 0);
}

#[test]
fn mirror_answering_errors_counts_as_a_5xx_response() {
    let failing = Backend::with(Behaviour {
        status: 503,
        ..Behaviour::default()
    });
    let setup = Scenario::with_mirror(target("sad"), failing);
    setup.get_ok("/", 3);
    // A real upstream answered: that is a response (with a 5xx), not a failure to deliver.
    setup
        .envoy
        .wait_for_counter("sad", "responses_5xx", 3, WAIT);
    assert_eq!(setup.envoy.counter("sad", "failed"), 0);
}

#[test]
fn non_utf8_header_value_passes_and_is_left_out_of_the_copy() {
    let setup = Scenario::start(target("canary"));
    let raw = b"GET /latin1 HTTP/1.1\r\nHost: app.test\r\nx-latin1: caf\xe9 \xff\r\n\
                x-plain: yes\r\nConnection: close\r\n\r\n";
    let answer = send_raw(setup.envoy.listener(), raw, WAIT);
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    let original = &setup.primary.wait_for(1, WAIT)[0];
    assert_eq!(
        original.header_bytes("x-latin1"),
        Some(&b"caf\xe9 \xff"[..])
    );
    let copy = &setup.mirror.wait_for(1, WAIT)[0];
    assert_eq!(copy.path, "/latin1");
    assert_eq!(copy.header("x-plain"), Some("yes"));
    assert!(!copy.has_header("x-latin1"));

    // The VM is alive: later requests are still mirrored.
    setup.get_ok("/after", 3);
    setup.mirror.wait_for(4, WAIT);
    setup.envoy.wait_for_counter("canary", "mirrored", 4, WAIT);
}

#[test]
fn request_abandoned_by_its_client_is_never_copied() {
    let setup = Scenario::start(target("canary"));
    let partial =
        b"POST /partial HTTP/1.1\r\nHost: app.test\r\nContent-Length: 1000\r\n\r\n0123456789";
    send_raw(setup.envoy.listener(), partial, Duration::from_millis(300));
    setup.envoy.wait_for_counter("canary", "aborted", 1, WAIT);

    // A complete request afterwards is mirrored; it is the only copy the target ever sees.
    setup.client().send(Request::post("/complete", "whole"));
    setup.mirror.wait_for(1, WAIT);
    std::thread::sleep(Duration::from_millis(200));
    let paths: Vec<String> = setup
        .mirror
        .received()
        .into_iter()
        .map(|c| c.path)
        .collect();
    assert_eq!(paths, ["/complete"]);
    assert_eq!(setup.envoy.counter("canary", "mirrored"), 1);
}
