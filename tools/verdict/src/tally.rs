//! The contract's counters summed per target, endpoint and field: over every Envoy given, or
//! as Prometheus already summed them over every pod.

use crate::contract;
use crate::sample::Sample;
use std::collections::BTreeMap;

/// What was counted for one field of one endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FieldCounts {
    /// Comparisons where the field differed between the candidate and its reference.
    pub differed: f64,
    /// Comparisons where it differed between the reference and the noise baseline.
    pub noise: f64,
}

/// What was counted for one endpoint of one target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointCounts {
    pub compared: f64,
    pub matched: f64,
    pub mismatched: f64,
    /// Mismatches by aspect (`status`, `headers`, `body`).
    pub aspects: BTreeMap<String, f64>,
    pub fields: BTreeMap<String, FieldCounts>,
}

/// Per target, per endpoint.
pub type Tally = BTreeMap<String, BTreeMap<String, EndpointCounts>>;

/// Adds every sample of the contract's metrics to `tally`; the rest (Envoy's own stats, the
/// per-target metrics) is not ours and left out. Values that are not finite and non-negative
/// cannot be counts: they are refused rather than summed into a verdict.
pub fn add(tally: &mut Tally, samples: &[Sample]) -> Result<(), String> {
    for sample in samples {
        let Some((_, labels)) = contract::METRICS
            .iter()
            .find(|(name, _)| *name == sample.name)
        else {
            continue;
        };
        if !(sample.value.is_finite() && sample.value >= 0.0) {
            return Err(format!(
                "{}{:?} is {}, not a count",
                sample.name, sample.labels, sample.value
            ));
        }
        if let Some(missing) = labels.iter().find(|l| !sample.labels.contains_key(**l)) {
            return Err(format!(
                "{}{:?} has no {missing} label: are the stats_tags (or Istio's extraStatTags) set?",
                sample.name, sample.labels
            ));
        }
        let endpoint = tally
            .entry(sample.label(contract::TARGET_LABEL).to_string())
            .or_default()
            .entry(sample.label(contract::ENDPOINT_LABEL).to_string())
            .or_default();
        let value = sample.value;
        match sample.name.as_str() {
            contract::COMPARED => endpoint.compared += value,
            contract::MATCHED => endpoint.matched += value,
            contract::MISMATCHED => endpoint.mismatched += value,
            contract::MISMATCHED_ASPECT => {
                let aspect = sample.label(contract::ASPECT_LABEL).to_string();
                *endpoint.aspects.entry(aspect).or_default() += value;
            }
            contract::FIELD_DIFFERED | contract::FIELD_NOISE => {
                let field = sample.label(contract::FIELD_LABEL).to_string();
                let counts = endpoint.fields.entry(field).or_default();
                if sample.name == contract::FIELD_DIFFERED {
                    counts.differed += value;
                } else {
                    counts.noise += value;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition;

    #[test]
    fn sums_each_series_over_envoys_and_leaves_other_stats_out() {
        let envoy = r#"
traffic_mirror_endpoint_compared{mirror_target="canary",endpoint="GET /users/{}"} 10
traffic_mirror_endpoint_mismatched_aspect{mirror_target="canary",endpoint="GET /users/{}",aspect="body"} 2
traffic_mirror_field_differed{mirror_target="canary",endpoint="GET /users/{}",field="$.name"} 2
traffic_mirror_field_noise{mirror_target="canary",endpoint="GET /users/{}",field="$.name"} 1
traffic_mirror_compared{mirror_target="canary"} 10
envoy_cluster_upstream_rq{cluster="x"} 5
"#;
        let samples = exposition::parse(envoy).unwrap();
        let mut tally = Tally::new();
        add(&mut tally, &samples).unwrap();
        add(&mut tally, &samples).unwrap();
        let endpoint = &tally["canary"]["GET /users/{}"];
        assert_eq!(endpoint.compared, 20.0);
        assert_eq!(endpoint.aspects["body"], 4.0);
        assert_eq!(
            endpoint.fields["$.name"],
            FieldCounts {
                differed: 4.0,
                noise: 2.0
            }
        );
        assert_eq!(tally.len(), 1);
        assert_eq!(tally["canary"].len(), 1);
    }

    #[test]
    fn refuses_what_cannot_be_a_count_or_lacks_its_labels() {
        for text in [
            "traffic_mirror_endpoint_compared{mirror_target=\"c\",endpoint=\"e\"} -1",
            "traffic_mirror_endpoint_compared{mirror_target=\"c\",endpoint=\"e\"} NaN",
            "traffic_mirror_endpoint_compared{mirror_target=\"c\",endpoint=\"e\"} +Inf",
            "traffic_mirror_field_noise{mirror_target=\"c\",endpoint=\"e\"} 1",
            "traffic_mirror_endpoint_compared{} 1",
        ] {
            let samples = exposition::parse(text).unwrap();
            assert!(add(&mut Tally::new(), &samples).is_err(), "{text}");
        }
    }
}
