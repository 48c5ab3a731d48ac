//! The plugin's counters: names defined once, ids cached at configure time.
//!
//! Envoy shares a metric across its workers by name, so every worker's VM defines the same
//! names and `/stats` shows their sum as `wasmcustom.traffic_mirror.<target>.<counter>`.

use proxy_wasm::hostcalls;
use proxy_wasm::types::{MetricType, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Decision: a copy was handed to `dispatch_http_call`.
    Mirrored,
    /// Decision: the percentage said no.
    SampledOut,
    /// Decision: loop guard, body over `max_bytes`, client gone before the request completed.
    Skipped,
    /// Result: a real upstream answered the copy.
    Responded,
    /// Result: no upstream answered (refused, connect failure, reset, timeout).
    Failed,
}

impl Counter {
    pub const ALL: [Counter; 5] = [
        Counter::Mirrored,
        Counter::SampledOut,
        Counter::Skipped,
        Counter::Responded,
        Counter::Failed,
    ];

    pub fn suffix(self) -> &'static str {
        match self {
            Counter::Mirrored => "mirrored",
            Counter::SampledOut => "sampled_out",
            Counter::Skipped => "skipped",
            Counter::Responded => "responded",
            Counter::Failed => "failed",
        }
    }
}

pub fn metric_name(target: &str, counter: Counter) -> String {
    format!("traffic_mirror.{target}.{}", counter.suffix())
}

/// The host's ids for one target's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetCounters {
    mirrored: u32,
    sampled_out: u32,
    skipped: u32,
    responded: u32,
    failed: u32,
}

impl TargetCounters {
    /// `define` turns a metric name into the host's id for it.
    pub fn define(
        target: &str,
        mut define: impl FnMut(&str) -> Result<u32, Status>,
    ) -> Result<TargetCounters, Status> {
        let mut id = |counter| define(&metric_name(target, counter));
        Ok(TargetCounters {
            mirrored: id(Counter::Mirrored)?,
            sampled_out: id(Counter::SampledOut)?,
            skipped: id(Counter::Skipped)?,
            responded: id(Counter::Responded)?,
            failed: id(Counter::Failed)?,
        })
    }

    /// Defines the counters in the host (Envoy).
    pub fn define_in_host(target: &str) -> Result<TargetCounters, Status> {
        TargetCounters::define(target, |name| {
            hostcalls::define_metric(MetricType::Counter, name)
        })
    }

    pub fn id(&self, counter: Counter) -> u32 {
        match counter {
            Counter::Mirrored => self.mirrored,
            Counter::SampledOut => self.sampled_out,
            Counter::Skipped => self.skipped,
            Counter::Responded => self.responded,
            Counter::Failed => self.failed,
        }
    }

    pub fn increment(&self, counter: Counter) {
        // A counter that cannot move is not worth failing a request over.
        let _ = hostcalls::increment_metric(self.id(counter), 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_pattern() {
        assert_eq!(
            metric_name("canary", Counter::Mirrored),
            "traffic_mirror.canary.mirrored"
        );
        assert_eq!(
            metric_name("canary", Counter::SampledOut),
            "traffic_mirror.canary.sampled_out"
        );
        assert_eq!(
            metric_name("c-1", Counter::Failed),
            "traffic_mirror.c-1.failed"
        );
    }

    #[test]
    fn every_counter_gets_its_own_id() {
        let mut defined = Vec::new();
        let counters = TargetCounters::define("t", |name| {
            defined.push(name.to_string());
            Ok(defined.len() as u32)
        })
        .unwrap();
        assert_eq!(defined.len(), Counter::ALL.len());
        let ids: Vec<u32> = Counter::ALL.iter().map(|c| counters.id(*c)).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        assert_eq!(defined[2], "traffic_mirror.t.skipped");
    }

    #[test]
    fn a_failed_definition_is_reported() {
        let result = TargetCounters::define("t", |_| Err(Status::InternalFailure));
        assert_eq!(result, Err(Status::InternalFailure));
    }
}
