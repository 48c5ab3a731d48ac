//! Where the counters come from: Prometheus (their increase over a window, summed over every
//! pod) or Envoy admin endpoints (the counters as they stand, summed over the Envoys given).

use crate::contract;
use crate::http::{self, Url};
use crate::tally::{self, Tally};
use crate::{api, exposition};

/// The PromQL query of one contract metric: its increase over `window`, summed over every pod
/// by the labels the verdict needs, for `targets` only when some are named.
pub fn prometheus_query(metric: &str, by: &[&str], window: &str, targets: &[String]) -> String {
    let selector = if targets.is_empty() {
        String::new()
    } else {
        let alternatives: Vec<String> = targets.iter().map(|t| regex_escape(t)).collect();
        format!(
            "{{{}=~{}}}",
            contract::TARGET_LABEL,
            promql_string(&alternatives.join("|"))
        )
    };
    format!(
        "sum by ({}) (increase({metric}{selector}[{window}]))",
        by.join(", ")
    )
}

/// `text` matched literally by an RE2 regular expression.
fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `text` as a double-quoted PromQL string.
fn promql_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '\\' => out += "\\\\",
            '"' => out += "\\\"",
            '\n' => out += "\\n",
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Prometheus range duration: `10m`, `1h30m`, `90s`.
pub fn valid_window(window: &str) -> bool {
    let mut rest = window;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ms", "s", "m", "h", "d", "w", "y"]
            .into_iter()
            .find(|unit| rest.starts_with(unit));
        match unit {
            Some(unit) => rest = &rest[unit.len()..],
            None => return false,
        }
    }
    true
}

pub fn from_prometheus(url: &Url, window: &str, targets: &[String]) -> Result<Tally, String> {
    let mut tally = Tally::new();
    for (metric, by) in contract::METRICS {
        let query = prometheus_query(metric, by, window, targets);
        let body = http::get(
            url,
            &format!("/api/v1/query?query={}", http::encode(&query)),
        )?;
        let mut samples = api::parse(&body).map_err(|e| format!("{query}: {e}"))?;
        for sample in &mut samples {
            sample.name = metric.to_string();
        }
        tally::add(&mut tally, &samples)?;
    }
    Ok(tally)
}

/// The page of an Envoy admin endpoint holding the plugin's stats (the filter spares a
/// sidecar from printing all of its own).
pub const ENVOY_STATS: &str = "/stats/prometheus?filter=traffic_mirror_";

pub fn from_envoys(urls: &[Url]) -> Result<Tally, String> {
    let mut tally = Tally::new();
    for url in urls {
        let body = http::get(url, ENVOY_STATS)?;
        let samples = exposition::parse(&body)
            .map_err(|e| format!("http://{}{}: {e}", url.authority, ENVOY_STATS))?;
        tally::add(&mut tally, &samples)?;
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_sum_every_pod_over_the_window() {
        let query = prometheus_query(
            contract::FIELD_DIFFERED,
            &["mirror_target", "endpoint", "field"],
            "10m",
            &[],
        );
        assert_eq!(
            query,
            "sum by (mirror_target, endpoint, field) (increase(traffic_mirror_field_differed[10m]))"
        );
    }

    #[test]
    fn named_targets_are_matched_literally() {
        let targets = ["canary".to_string(), "v2.beta\"x".to_string()];
        let query = prometheus_query(contract::COMPARED, &["mirror_target"], "5m", &targets);
        assert_eq!(
            query,
            r#"sum by (mirror_target) (increase(traffic_mirror_endpoint_compared{mirror_target=~"canary|v2\\.beta\"x"}[5m]))"#
        );
    }

    #[test]
    fn windows_are_prometheus_durations() {
        for good in ["10m", "1h30m", "90s", "500ms", "1d"] {
            assert!(valid_window(good), "{good}");
        }
        for bad in ["", "10", "m", "10 m", "-5m", "10m]", "1.5h"] {
            assert!(!valid_window(bad), "{bad}");
        }
    }
}
