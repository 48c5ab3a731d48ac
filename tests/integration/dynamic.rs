//! Dynamic configuration as istiod delivers it: the plugin arrives by extension config
//! discovery (ECDS) from a watched file, and changes while traffic flows.

use mirror_harness::{Backend, Client, Envoy, Request};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

#[test]
fn config_changes_under_traffic_apply_without_failing_originals_or_losing_copies() {
    let primary = Backend::start();
    let first = Backend::start();
    let second = Backend::start();
    let mut envoy = Envoy::builder(
        json!({"targets": [{"cluster": "first", "name": "first", "percentage": 0}]}),
    )
    .primary(primary.addr())
    .cluster("first", first.addr())
    .cluster("second", second.addr())
    .concurrency(2)
    .from_ecds()
    .start();

    // Two clients send requests without pause for the whole test.
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let listener = envoy.listener();
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let (stop, sent, failed) = (Arc::clone(&stop), Arc::clone(&sent), Arc::clone(&failed));
            std::thread::spawn(move || {
                let mut client = Client::http1(listener);
                while !stop.load(Ordering::Relaxed) {
                    let status = client.send(Request::post("/live", "payload")).status;
                    sent.fetch_add(1, Ordering::Relaxed);
                    if status != 200 {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let wait_for_traffic = |after: u64| {
        mirror_harness::eventually("traffic", WAIT, || {
            (sent.load(Ordering::Relaxed) > after + 50).then_some(())
        })
    };

    wait_for_traffic(0);
    assert_eq!(first.count(), 0, "0% sends nothing");
    // 0% -> 100%, then a second target joins.
    envoy.update_plugin_config(json!({"targets": [{"cluster": "first", "name": "first"}]}));
    wait_for_traffic(sent.load(Ordering::Relaxed));
    envoy.update_plugin_config(json!({"targets": [
        {"cluster": "first", "name": "first"},
        {"cluster": "second", "name": "second", "percentage": 50}
    ]}));
    wait_for_traffic(sent.load(Ordering::Relaxed));
    stop.store(true, Ordering::Relaxed);
    clients
        .into_iter()
        .for_each(|client| client.join().expect("client thread"));

    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "every original succeeded"
    );
    assert!(first.count() > 50, "100% took effect: {}", first.count());
    assert!(second.count() > 0, "the new target took effect");
    // Every copy the targets received was counted, as dispatched and as answered, across both
    // updates (copies still on their way when the clients stop are waited for).
    for (name, backend) in [("first", &first), ("second", &second)] {
        mirror_harness::eventually(&format!("{name}'s copies all counted"), WAIT, || {
            let received = backend.count() as u64;
            let counted = envoy.counter(name, "mirrored");
            (counted == received && envoy.counter(name, "responses_2xx") == received).then_some(())
        });
    }
    assert_eq!(primary.count() as u64, sent.load(Ordering::Relaxed));
}
