//! Hostile and unusual input against a real Envoy: what an attacker or an odd client can send
//! never changes, delays or fails the original, never crashes the plugin, and every request
//! ends in exactly one counter.

use mirror_harness::{send_raw, Client, Request, Scenario};
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn plain() -> Scenario {
    Scenario::start(json!({"targets": [{"cluster": "mirror", "name": "m"}]}))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn websocket_upgrade_is_passed_untouched_and_not_mirrored() {
    let setup = plain();
    let answer = send_raw(
        setup.envoy.listener(),
        b"GET /chat HTTP/1.1\r\nhost: app.test\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\
          sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        Duration::from_millis(500),
    );
    assert!(!answer.is_empty(), "no answer");
    let received = setup.primary.wait_for(1, WAIT);
    assert_eq!(received[0].header("upgrade"), Some("websocket"));
    setup
        .envoy
        .wait_for_counter("m", "skipped_upgrade", 1, WAIT);
    // A plain request afterwards is still mirrored: only the upgrade was left alone.
    setup.get_ok("/after", 1);
    setup.mirror.wait_for(1, WAIT);
    assert_eq!(setup.mirror.received()[0].path, "/after");
    assert_eq!(setup.envoy.counter("m", "mirrored"), 1);
}

#[test]
fn connect_is_passed_untouched_and_not_mirrored() {
    let setup = plain();
    let answer = send_raw(
        setup.envoy.listener(),
        b"CONNECT app.test:443 HTTP/1.1\r\nhost: app.test:443\r\n\r\n",
        Duration::from_millis(500),
    );
    assert!(
        text(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        text(&answer)
    );
    assert_eq!(setup.primary.wait_for(1, WAIT)[0].method, "CONNECT");
    let mut h2 = Client::http2(setup.envoy.listener());
    let response = h2.send(Request {
        method: "CONNECT".into(),
        ..Request::get("/")
    });
    assert_eq!(response.status, 200, "the tunnel reaches the primary");
    assert_eq!(setup.primary.wait_for(2, WAIT)[1].method, "CONNECT");
    setup
        .envoy
        .wait_for_counter("m", "skipped_upgrade", 2, WAIT);
    setup.get_ok("/after", 1);
    setup.mirror.wait_for(1, WAIT);
    assert_eq!(setup.mirror.count(), 1, "only the plain request was copied");
}
