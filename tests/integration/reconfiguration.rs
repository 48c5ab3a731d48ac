//! A new configuration applies to new requests, while copies queued or in flight under the
//! old one still go out, finish and are counted. The plugin arrives by ECDS from a watched
//! file, as istiod delivers it.

use mirror_harness::{Backend, Client, Envoy, Request};
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

#[test]
fn copies_in_flight_under_the_old_config_finish_and_are_counted() {
    let primary = Backend::start();
    let slow = Backend::slow(Duration::from_secs(2));
    let fast = Backend::start();
    let mut envoy = Envoy::builder(json!({"targets": [{"cluster": "slow", "name": "before"}]}))
        .primary(primary.addr())
        .cluster("slow", slow.addr())
        .cluster("fast", fast.addr())
        .from_ecds()
        .start();
    let mut client = Client::http1(envoy.listener());
    for i in 0..5 {
        assert_eq!(
            client
                .send(Request::post(&format!("/old/{i}"), "old"))
                .status,
            200
        );
    }
    slow.wait_for(5, WAIT); // the copies are in flight: the target holds them for 2 s

    let taken =
        envoy.update_plugin_config(json!({"targets": [{"cluster": "fast", "name": "after"}]}));
    assert!(
        taken,
        "Envoy refused the new configuration:\n{}",
        envoy.log()
    );
    let mut client = Client::http1(envoy.listener());
    for i in 0..5 {
        assert_eq!(
            client
                .send(Request::post(&format!("/new/{i}"), "new"))
                .status,
            200
        );
    }
    let new_copies = fast.wait_for(5, WAIT);
    assert!(new_copies
        .iter()
        .all(|c| c.path.starts_with("/new/") && c.header("x-traffic-mirror") == Some("after")));

    // The old configuration's copies were answered after the switch, and counted.
    envoy.wait_for_counter("before", "responses_2xx", 5, WAIT);
    assert_eq!(envoy.counter("before", "failed"), 0);
    assert_eq!(
        slow.count(),
        5,
        "no copy of a new request went to the old target"
    );
    envoy.wait_for_counter("after", "responses_2xx", 5, WAIT);
    assert_eq!(primary.count(), 10);
}

#[test]
fn a_bad_update_is_rejected_and_the_old_config_keeps_working() {
    let primary = Backend::start();
    let mirror = Backend::start();
    let mut envoy = Envoy::builder(json!({"targets": [{"cluster": "mirror", "name": "steady"}]}))
        .primary(primary.addr())
        .cluster("mirror", mirror.addr())
        .from_ecds()
        .start();
    envoy.update_plugin_config(json!({"targets": [{"cluster": "mirror", "percentage": 250}]}));
    let refusal = mirror_harness::eventually("the plugin to refuse the update", WAIT, || {
        envoy
            .log()
            .lines()
            .find(|l| l.contains("invalid plugin configuration"))
            .map(String::from)
    });
    assert!(
        refusal.contains("targets[0]: `percentage` must be a number from 0 to 100, got 250"),
        "{refusal}"
    );
    let mut client = Client::http1(envoy.listener());
    for _ in 0..3 {
        assert_eq!(client.send(Request::get("/still")).status, 200);
    }
    mirror.wait_for(3, WAIT);
    envoy.wait_for_counter("steady", "responses_2xx", 3, WAIT);
}
