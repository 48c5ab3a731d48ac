//! The verdict on real Envoys: two Envoys (two workers each) run the plugin with two candidate
//! targets compared against a noise baseline, a real Prometheus scrapes both admin
//! `/stats/prometheus` every second, and the built `traffic-mirror-verdict` reading Prometheus,
//! the same command reading the Envoys, and the rollout templates' queries run on that
//! Prometheus all agree: the canary answering as production passes (its timestamp differs on
//! every response, as on the noise baseline: noise passes); the canary differing in one field of
//! one endpoint fails, naming that endpoint and field and nothing else.
//!
//! Needs the Prometheus binary of `make prometheus-bin` (`make integration` builds it and names
//! it in PROMETHEUS_BIN, so there its absence fails) and the command, built by `cargo build -p
//! traffic-mirror-verdict` (`make integration` does).

#[path = "../../tools/verdict/tests/support/prometheus.rs"]
mod prometheus;

use mirror_harness::{Backend, Client, Envoy, Received, Reply, Request};
use prometheus::{
    assert_counts_agree, counts, envoy_args, outcome, prometheus_or_skip, run_verdict, Failing,
    Prometheus,
};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;
use traffic_mirror::metrics::CompareCounter;

const WINDOW: &str = "1m";
const ENDPOINTS: [&str; 3] = ["users", "orders", "items"];
/// Requests per endpoint and Envoy: 2 Envoys x 3 endpoints x 20 = 120 comparisons per target,
/// over the command's default minimum of 100.
const PER_ENDPOINT: usize = 20;

/// A backend answering JSON per endpoint, stamped with when it answered (a field that differs
/// on every response, between any two backends); `email` is the user's address.
fn service(email: &'static str) -> Backend {
    Backend::replying(move |r: &Received| {
        let endpoint = r.path.split('/').nth(1).unwrap_or("");
        let body = match endpoint {
            "users" => json!({"name": "ann", "email": email, "served_at": format!("{:?}", r.at)}),
            "orders" => json!({"total": 10, "lines": [1, 2], "served_at": format!("{:?}", r.at)}),
            _ => json!({"sku": "b-7", "stock": 3, "served_at": format!("{:?}", r.at)}),
        };
        Reply::json(200, &body.to_string())
    })
}

fn candidate(name: &str) -> Value {
    json!({"cluster": name, "name": name,
           "endpoints": ["GET /users/{id}", "GET /orders/{id}", "GET /items/{id}"],
           "compare": {"body": "json", "noise_baseline": "baseline"}})
}

/// The built command, next to this test binary's directory (target/debug/deps/..).
fn verdict_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let binary = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("traffic-mirror-verdict");
    assert!(
        binary.exists(),
        "{} missing: `cargo build -p traffic-mirror-verdict` (make integration does)",
        binary.display()
    );
    binary
}

/// The command's JSON report on one target, and its exit status.
fn verdict(source: &[String], target: &str) -> (Value, i32) {
    let mut args = source.to_vec();
    args.extend(["--target".to_string(), target.to_string()]);
    run_verdict(&verdict_binary(), &args)
}

/// Sends `per_endpoint` requests to each endpoint and waits until every copy is compared.
fn send(envoys: &[Envoy], per_endpoint: usize, compared_before: u64) {
    for envoy in envoys {
        let mut client = Client::http1(envoy.listener());
        for i in 0..per_endpoint {
            for endpoint in ENDPOINTS {
                let request = Request::get(&format!("/{endpoint}/{i}"));
                assert_eq!(
                    client.send(request).status,
                    200,
                    "the original is untouched"
                );
            }
        }
    }
    let wanted = compared_before + (per_endpoint * ENDPOINTS.len()) as u64;
    for envoy in envoys {
        for target in ["identical", "differs"] {
            mirror_harness::eventually("every copy compared", Duration::from_secs(10), || {
                let decided: u64 = CompareCounter::VERDICTS
                    .iter()
                    .map(|v| envoy.counter(target, v.suffix()))
                    .sum();
                (decided >= wanted).then_some(())
            });
        }
    }
}

#[test]
fn the_verdict_on_real_envoys_agrees_across_prometheus_the_envoys_and_the_rollout_templates() {
    let Some(binary) = prometheus_or_skip() else {
        return;
    };
    let (primary, baseline) = (service("ann@example.com"), service("ann@example.com"));
    let (identical, differs) = (service("ann@example.com"), service("ann@example.org"));
    let config = json!({"targets": [candidate("identical"), candidate("differs"),
        {"cluster": "baseline", "name": "baseline", "percentage": 0}]});
    let envoys: Vec<Envoy> = (0..2)
        .map(|_| {
            Envoy::builder(&config)
                .primary(primary.addr())
                .cluster("identical", identical.addr())
                .cluster("differs", differs.addr())
                .cluster("baseline", baseline.addr())
                .concurrency(2)
                .start()
        })
        .collect();
    // One request per endpoint admits every endpoint and field (each series defined at 0 on
    // admission) before Prometheus' first scrape: increase() then counts from there.
    send(&envoys, 1, 0);
    let admins: Vec<String> = envoys.iter().map(|e| e.admin().to_string()).collect();
    let prometheus = Prometheus::start(&binary, &admins, "/stats/prometheus");
    prometheus::eventually("both Envoys scraped twice", Duration::from_secs(20), || {
        let scraped = "count(count_over_time(up[1m]) >= 2 and up == 1)";
        (prometheus.value(scraped) == Some(2.0)).then_some(())
    });
    send(&envoys, PER_ENDPOINT, ENDPOINTS.len() as u64);
    let total = (2 * 2 * (PER_ENDPOINT + 1) * ENDPOINTS.len()) as f64;
    prometheus.wait_for_final_counters(total);
    let from_prometheus = prometheus.verdict_args(WINDOW);
    let from_envoys = envoy_args(envoys.iter().map(|e| format!("http://{}", e.admin())));
    let differing: Failing = [("GET /users/{id}".to_string(), "$.email".to_string())].into();
    for (target, wanted, code, failing) in [
        ("identical", "pass", 0, Failing::new()),
        ("differs", "fail", 1, differing),
    ] {
        let (by_prometheus, status) = verdict(&from_prometheus, target);
        assert_eq!(
            (status, outcome(&by_prometheus)),
            (
                code,
                vec![(target.to_string(), wanted.to_string(), failing)]
            ),
            "{target} read from Prometheus: {by_prometheus:#}\n{}",
            prometheus.log()
        );
        let (by_envoys, status) = verdict(&from_envoys, target);
        assert_eq!(
            (status, outcome(&by_envoys)),
            (code, outcome(&by_prometheus)),
            "{target} read from the Envoys: {by_envoys:#}"
        );
        // The timestamp differed on every comparison and was noise on every one: it passes.
        let served_at = counts(&by_envoys)
            .into_iter()
            .filter(|(at, _)| at.contains("$.served_at"))
            .collect::<Vec<_>>();
        assert_eq!(served_at.len(), 2 * ENDPOINTS.len(), "{by_envoys:#}");
        assert!(served_at
            .iter()
            .all(|(_, n)| *n == 2.0 * (PER_ENDPOINT + 1) as f64));
        assert_counts_agree(&by_envoys, &by_prometheus, 2.0);
        prometheus.assert_templates_give(target, WINDOW, code);
    }
}
