//! The Grafana dashboard (envoy/grafana-dashboard.json) only queries metrics the plugin
//! defines, under the names Prometheus shows them (the `mirror_target` tag rule applied).

use std::collections::BTreeSet;
use traffic_mirror::compare::accounting::{ENDPOINT_METRICS, FIELD_METRICS};
use traffic_mirror::metrics::{
    CompareCounter, Counter, COMPARE_PENDING_GAUGE, IN_FLIGHT_GAUGE, LATENCY_HISTOGRAM,
    REFUSED_MARKED_WRITES,
};

fn exprs(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                match (key.as_str(), item.as_str()) {
                    ("expr", Some(expr)) => found.push(expr.to_string()),
                    _ => exprs(item, found),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| exprs(item, found)),
        _ => {}
    }
}

#[test]
fn every_queried_metric_is_one_the_plugin_defines() {
    let path = mirror_harness::repo_root().join("envoy/grafana-dashboard.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboard")).expect("json");
    let mut queries = Vec::new();
    exprs(&dashboard, &mut queries);
    assert!(queries.len() >= 5, "{queries:?}");

    let mut defined: BTreeSet<String> = Counter::ALL
        .iter()
        .map(|c| format!("traffic_mirror_{}", c.suffix()))
        .collect();
    defined.extend(
        CompareCounter::ALL
            .iter()
            .map(|c| format!("traffic_mirror_{}", c.suffix())),
    );
    defined.extend(
        ENDPOINT_METRICS
            .iter()
            .chain(&FIELD_METRICS)
            .map(|m| format!("traffic_mirror_{m}")),
    );
    defined.insert(format!("traffic_mirror_{IN_FLIGHT_GAUGE}"));
    defined.insert(format!("traffic_mirror_{COMPARE_PENDING_GAUGE}"));
    defined.insert(format!("traffic_mirror_{REFUSED_MARKED_WRITES}"));
    for series in ["bucket", "sum", "count"] {
        defined.insert(format!("traffic_mirror_{LATENCY_HISTOGRAM}_{series}"));
    }
    let mut used = BTreeSet::new();
    for query in &queries {
        for (start, _) in query.match_indices("traffic_mirror_") {
            let name: String = query[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                defined.contains(&name),
                "the dashboard queries {name}, which the plugin does not define"
            );
            used.insert(name);
        }
        assert!(
            query.contains("mirror_target") || !query.contains("by ("),
            "{query}"
        );
    }
    for needed in [
        "traffic_mirror_responses_2xx",
        "traffic_mirror_failed",
        "traffic_mirror_timed_out",
        "traffic_mirror_latency_ms_bucket",
        "traffic_mirror_in_flight",
        "traffic_mirror_skipped_unredactable_body",
        "traffic_mirror_responses_grpc_error",
        "traffic_mirror_matched",
        "traffic_mirror_mismatched",
        "traffic_mirror_mismatched_status",
        "traffic_mirror_mismatched_headers",
        "traffic_mirror_mismatched_body",
        "traffic_mirror_compare_skipped_expired",
        "traffic_mirror_skipped_memory_budget",
        "traffic_mirror_skipped_same_cluster",
        "traffic_mirror_baggage_not_marked",
        "traffic_mirror_refused_marked_writes",
        "traffic_mirror_endpoint_compared",
        "traffic_mirror_endpoint_mismatched",
        "traffic_mirror_field_differed",
        "traffic_mirror_field_noise",
    ] {
        assert!(
            used.contains(needed),
            "the dashboard does not show {needed}"
        );
    }
}
