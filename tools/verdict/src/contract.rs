//! The metric contract between the plugin and everything that reads its verdict counters
//! (this command, envoy/rollouts/, the Grafana dashboard). The plugin emits, per mirror target
//! and endpoint, these counters; Envoy's admin `/stats/prometheus` shows them as
//!
//! ```text
//! # TYPE traffic_mirror_endpoint_compared counter
//! traffic_mirror_endpoint_compared{mirror_target="canary",endpoint="GET /users/{}"} 12
//! ```
//!
//! The Envoy stat behind that line is
//! `wasmcustom.traffic_mirror_endpoint_compared.mirror_target=.=canary;.;endpoint=.=GET /users/{};.;`:
//! Istio's tag convention (`tag=.=value;.;`), which `stats_tags` regexes such as
//! `(mirror_target=\.=(.*?);\.;)` (or Istio's `extraStatTags`) turn into labels. Envoy drops the
//! `wasmcustom` namespace (no `envoy_` prefix) and leaves no trailing `.`; label values are
//! written verbatim except `\` and `"`, which it escapes as `\\` and `\"`.
//!
//! Per (target, endpoint): `compared = matched + mismatched`. `field_differed` counts the
//! comparisons in which that field differed between the candidate and its reference;
//! `field_noise` those in which it differed between the reference and the noise baseline
//! (Diffy's noise). A field is a JSON path (data-like keys `{}`, indices `*`), a header name,
//! `status` or `body` (a body compared as bytes); endpoints and fields beyond the plugin's
//! bounds are counted as `other`. Every series starts at 0 when the plugin admits it.

/// Comparisons made, per `mirror_target` and `endpoint`.
pub const COMPARED: &str = "traffic_mirror_endpoint_compared";
/// Comparisons in which the copy's response matched the original's.
pub const MATCHED: &str = "traffic_mirror_endpoint_matched";
/// Comparisons in which it did not.
pub const MISMATCHED: &str = "traffic_mirror_endpoint_mismatched";
/// Mismatches per `aspect` (`status`, `headers`, `body`).
pub const MISMATCHED_ASPECT: &str = "traffic_mirror_endpoint_mismatched_aspect";
/// Comparisons in which `field` differed between the candidate and its reference.
pub const FIELD_DIFFERED: &str = "traffic_mirror_field_differed";
/// Comparisons in which `field` differed between the reference and the noise baseline.
pub const FIELD_NOISE: &str = "traffic_mirror_field_noise";

/// The label naming the mirror target (the candidate), as in the per-target metrics.
pub const TARGET_LABEL: &str = "mirror_target";
/// The label naming the endpoint (`GET /users/{}`, or `other` past the bound).
pub const ENDPOINT_LABEL: &str = "endpoint";
/// The label naming the aspect of a mismatch.
pub const ASPECT_LABEL: &str = "aspect";
/// The label naming the field.
pub const FIELD_LABEL: &str = "field";

/// How each metric is summed across pods: the labels it keeps.
pub const METRICS: [(&str, &[&str]); 6] = [
    (COMPARED, &[TARGET_LABEL, ENDPOINT_LABEL]),
    (MATCHED, &[TARGET_LABEL, ENDPOINT_LABEL]),
    (MISMATCHED, &[TARGET_LABEL, ENDPOINT_LABEL]),
    (
        MISMATCHED_ASPECT,
        &[TARGET_LABEL, ENDPOINT_LABEL, ASPECT_LABEL],
    ),
    (FIELD_DIFFERED, &[TARGET_LABEL, ENDPOINT_LABEL, FIELD_LABEL]),
    (FIELD_NOISE, &[TARGET_LABEL, ENDPOINT_LABEL, FIELD_LABEL]),
];

/// Diffy's relative threshold, percent: the plugin's own default.
pub const DEFAULT_RELATIVE_THRESHOLD: f64 =
    traffic_mirror::compare::spec::DEFAULT_NOISE_RELATIVE_THRESHOLD;
/// Diffy's absolute threshold, percent: the plugin's own default.
pub const DEFAULT_ABSOLUTE_THRESHOLD: f64 =
    traffic_mirror::compare::spec::DEFAULT_NOISE_ABSOLUTE_THRESHOLD;
/// Fewer comparisons than this for a target is `insufficient`.
pub const DEFAULT_MIN_COMPARED: u64 = 100;
/// The window Prometheus sums `increase()` over.
pub const DEFAULT_WINDOW: &str = "10m";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_issue_s_and_the_plugin_s() {
        assert_eq!(DEFAULT_RELATIVE_THRESHOLD, 20.0);
        assert_eq!(DEFAULT_ABSOLUTE_THRESHOLD, 0.03);
    }
}
