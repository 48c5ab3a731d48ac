//! The verdict on real scraped data: a real Prometheus scrapes two stand-in Envoys (their
//! counters grow while it scrapes), and the command reading Prometheus, the command reading
//! the Envoys and the rollout templates' queries run on that Prometheus must give the same
//! verdicts, failing endpoints and fields, for every scenario: an identical canary passes, a
//! canary differing on one endpoint fails naming it, noise on the baseline too passes, too
//! few comparisons are insufficient, and of several targets the worst wins.
//!
//! Needs the Prometheus binary `make prometheus-bin` builds (`make verdict-test` builds it
//! first, and names it in PROMETHEUS_BIN, so there its absence fails); run bare without the
//! cached binary, the test says so (SKIPPED, shown with --nocapture) and does nothing.

mod support;

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use support::{
    assert_counts_agree, envoy_args, eventually, outcome, prometheus_or_skip, run_verdict,
    Counters, Failing, Prometheus, StandInEnvoy,
};

const WINDOW: &str = "1m";

/// One comparison outcome, recorded on an Envoy: `n` comparisons of `endpoint` for `target`,
/// `mismatched` of them mismatched, and per field how often it differed and was noise.
struct Traffic<'a> {
    target: &'a str,
    endpoint: &'a str,
    n: u64,
    mismatched: u64,
    fields: &'a [(&'a str, u64, u64)],
}

fn record(counters: &mut Counters, traffic: &Traffic, share: u64, of: u64) {
    let part = |total: u64| total * share / of;
    let labels = [
        ("mirror_target", traffic.target),
        ("endpoint", traffic.endpoint),
    ];
    counters.add("traffic_mirror_endpoint_compared", &labels, part(traffic.n));
    counters.add(
        "traffic_mirror_endpoint_matched",
        &labels,
        part(traffic.n - traffic.mismatched),
    );
    counters.add(
        "traffic_mirror_endpoint_mismatched",
        &labels,
        part(traffic.mismatched),
    );
    let body = [labels[0], labels[1], ("aspect", "body")];
    counters.add(
        "traffic_mirror_endpoint_mismatched_aspect",
        &body,
        part(traffic.mismatched),
    );
    for (field, differed, noise) in traffic.fields {
        let labels = [labels[0], labels[1], ("field", *field)];
        counters.add("traffic_mirror_field_differed", &labels, part(*differed));
        counters.add("traffic_mirror_field_noise", &labels, part(*noise));
    }
}

/// What each target's canary did, in total over both Envoys.
const TRAFFIC: &[Traffic] = &[
    // Identical: nothing differs (a field admitted once stays at 0).
    Traffic {
        target: "identical",
        endpoint: "GET /users/{}",
        n: 120,
        mismatched: 0,
        fields: &[("$.name", 0, 0)],
    },
    Traffic {
        target: "identical",
        endpoint: "GET /q\"uote\\{}",
        n: 40,
        mismatched: 0,
        fields: &[],
    },
    // Differs on one endpoint: `$.email` of GET /users/{}, never noise; its `$.updated_at`
    // and GET /orders/{}'s `status` differ as often on the noise baseline.
    Traffic {
        target: "differs",
        endpoint: "GET /users/{}",
        n: 160,
        mismatched: 160,
        fields: &[("$.email", 40, 0), ("$.updated_at", 160, 160)],
    },
    Traffic {
        target: "differs",
        endpoint: "GET /orders/{}",
        n: 100,
        mismatched: 20,
        fields: &[("status", 20, 20)],
    },
    // Noise: fields that differ on every request, on the baseline too.
    Traffic {
        target: "noisy",
        endpoint: "GET /users/{}",
        n: 200,
        mismatched: 200,
        fields: &[
            ("$.timestamp", 200, 200),
            ("x-request-id", 200, 198),
            ("status", 0, 0),
        ],
    },
    // Too few comparisons.
    Traffic {
        target: "sparse",
        endpoint: "GET /users/{}",
        n: 40,
        mismatched: 0,
        fields: &[("$.name", 0, 0)],
    },
];

/// The command's JSON report and exit status.
fn verdict(source: &[String], targets: &[&str]) -> (Value, i32) {
    let mut args = source.to_vec();
    for target in targets {
        args.extend(["--target".to_string(), target.to_string()]);
    }
    run_verdict(
        Path::new(env!("CARGO_BIN_EXE_traffic-mirror-verdict")),
        &args,
    )
}

#[test]
fn the_verdict_agrees_across_prometheus_envoys_and_the_rollout_templates() {
    let Some(binary) = prometheus_or_skip() else {
        return;
    };
    let envoys = [StandInEnvoy::start(), StandInEnvoy::start()];
    // Every series defined at 0 first, as the plugin does: increase() needs a first sample.
    for envoy in &envoys {
        envoy.update(|c| TRAFFIC.iter().for_each(|t| record(c, t, 0, 1)));
    }
    let addresses: Vec<String> = envoys.iter().map(|e| e.address.clone()).collect();
    let prometheus = Prometheus::start(&binary, &addresses, "/stats/prometheus");
    let series = envoys[0]
        .counters
        .lock()
        .unwrap()
        .render()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    // Both Envoys scraped twice (every series has a first sample at 0), all their series seen.
    eventually("both Envoys scraped twice", Duration::from_secs(30), || {
        let scraped = "count(count_over_time(up[1m]) >= 2 and up == 1)";
        let seen = "count({__name__=~\"traffic_mirror_.+\"})";
        (prometheus.value(scraped) == Some(2.0)
            && prometheus.value(seen) == Some(2.0 * series as f64))
        .then_some(())
    });
    // The traffic arrives over a few scrapes: a quarter on each Envoy, then another.
    for step in 0..2 {
        if step > 0 {
            std::thread::sleep(Duration::from_millis(2500));
        }
        for envoy in &envoys {
            envoy.update(|c| TRAFFIC.iter().for_each(|t| record(c, t, 1, 4)));
        }
    }
    let total: u64 = TRAFFIC.iter().map(|t| t.n / 4 * 4).sum();
    prometheus.wait_for_final_counters(total as f64);
    let from_prometheus = prometheus.verdict_args(WINDOW);
    let from_envoys = envoy_args(envoys.iter().map(|e| e.url()));
    let expected = [
        ("identical", "pass", 0),
        ("differs", "fail", 1),
        ("noisy", "pass", 0),
        ("sparse", "insufficient", 2),
    ];
    for (target, wanted, code) in expected {
        let (by_prometheus, status) = verdict(&from_prometheus, &[target]);
        assert_eq!(
            status,
            code,
            "{target} read from Prometheus: {by_prometheus:#}\n{}",
            prometheus.log()
        );
        assert_eq!(by_prometheus["targets"][0]["verdict"], wanted);
        let (by_envoys, status) = verdict(&from_envoys, &[target]);
        assert_eq!(status, code, "{target} read from the Envoys: {by_envoys:#}");
        assert_eq!(outcome(&by_prometheus), outcome(&by_envoys), "{target}");
        assert_counts_agree(&by_envoys, &by_prometheus, 0.0);
        prometheus.assert_templates_give(target, WINDOW, code);
    }
    let (differs, _) = verdict(&from_prometheus, &["differs"]);
    let failing = &outcome(&differs)[0].2;
    let wanted: Failing = [("GET /users/{}".to_string(), "$.email".to_string())].into();
    assert_eq!(
        failing, &wanted,
        "the failing endpoint and field, and nothing else"
    );

    // Of several targets, the worst verdict wins.
    for (targets, code) in [
        (&["identical", "noisy"][..], 0),
        (&["identical", "sparse"][..], 2),
        (&["sparse", "differs"][..], 1),
        (&[][..], 1),
    ] {
        for source in [&from_prometheus[..], &from_envoys[..]] {
            let (report, status) = verdict(source, targets);
            assert_eq!(status, code, "{targets:?} from {source:?}: {report:#}");
        }
    }
    let (every, _) = verdict(&from_envoys, &[]);
    let seen: Vec<&str> = every["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        seen,
        ["differs", "identical", "noisy", "sparse"],
        "every target seen, by default"
    );
}
