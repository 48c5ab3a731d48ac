//! One value of one series, as both sources give it: a metric name, its labels, a number.

use std::collections::BTreeMap;

/// A series' labels, by name.
pub type Labels = BTreeMap<String, String>;

/// One series' value: from a line of Envoy's `/stats/prometheus`, or one element of a
/// Prometheus instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Labels,
    pub value: f64,
}

impl Sample {
    /// The value of label `name`, empty when absent (as PromQL treats a missing label).
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map(String::as_str).unwrap_or("")
    }
}
