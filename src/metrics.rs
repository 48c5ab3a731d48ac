//! The plugin's metrics: names defined once, ids cached at configure time.
//!
//! Envoy shares a metric across its workers by name, so every worker's VM defines the same
//! names and `/stats` shows their sum as `wasmcustom.traffic_mirror.<target>.<metric>`.
//! Counter and gauge changes are tallied in the VM and handed to the host in batches (see
//! `flush`): a host call per change would cost more than the decision it counts.

use proxy_wasm::hostcalls;
use proxy_wasm::types::{MetricType, Status};
use std::cell::Cell;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    // The decision, exactly one per request and target.
    Mirrored,
    SampledOut,
    Unmatched,
    SkippedLoop,
    SkippedBodyTooLarge,
    SkippedUnparseableBody,
    Aborted,
    RateLimited,
    InFlightLimited,
    // The result, exactly one per copy sent.
    Responses2xx,
    Responses3xx,
    Responses4xx,
    Responses5xx,
    /// A 2xx answer whose `grpc-status` is not 0 (instead of `Responses2xx`).
    ResponsesGrpcError,
    TimedOut,
    Failed,
}

impl Counter {
    pub const ALL: [Counter; 16] = [
        Counter::Mirrored,
        Counter::SampledOut,
        Counter::Unmatched,
        Counter::SkippedLoop,
        Counter::SkippedBodyTooLarge,
        Counter::SkippedUnparseableBody,
        Counter::Aborted,
        Counter::RateLimited,
        Counter::InFlightLimited,
        Counter::Responses2xx,
        Counter::Responses3xx,
        Counter::Responses4xx,
        Counter::Responses5xx,
        Counter::ResponsesGrpcError,
        Counter::TimedOut,
        Counter::Failed,
    ];

    pub fn suffix(self) -> &'static str {
        match self {
            Counter::Mirrored => "mirrored",
            Counter::SampledOut => "sampled_out",
            Counter::Unmatched => "unmatched",
            Counter::SkippedLoop => "skipped_loop",
            Counter::SkippedBodyTooLarge => "skipped_body_too_large",
            Counter::SkippedUnparseableBody => "skipped_unparseable_body",
            Counter::Aborted => "aborted",
            Counter::RateLimited => "rate_limited",
            Counter::InFlightLimited => "in_flight_limited",
            Counter::Responses2xx => "responses_2xx",
            Counter::Responses3xx => "responses_3xx",
            Counter::Responses4xx => "responses_4xx",
            Counter::Responses5xx => "responses_5xx",
            Counter::ResponsesGrpcError => "responses_grpc_error",
            Counter::TimedOut => "timed_out",
            Counter::Failed => "failed",
        }
    }
}

pub const IN_FLIGHT_GAUGE: &str = "in_flight";
pub const LATENCY_HISTOGRAM: &str = "latency_ms";

pub fn metric_name(target: &str, metric: &str) -> String {
    format!("traffic_mirror.{target}.{metric}")
}

/// One metric's host id and the change not yet handed to the host.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tallied {
    id: u32,
    pending: Cell<i64>,
}

impl Tallied {
    fn add(&self, delta: i64) {
        self.pending.set(self.pending.get().saturating_add(delta));
    }

    /// Hands the pending change to `increment(id, delta)`; true if there was one.
    fn flush(&self, increment: &mut impl FnMut(u32, i64)) -> bool {
        let pending = self.pending.take();
        if pending != 0 {
            increment(self.id, pending);
        }
        pending != 0
    }
}

/// One target's metrics.
#[derive(Debug, PartialEq, Eq)]
pub struct TargetMetrics {
    counters: Vec<Tallied>,
    /// Copies dispatched and not yet answered. A gauge moved by increments: workers share it.
    in_flight: Tallied,
    latency_ms: u32,
}

impl TargetMetrics {
    /// `define(type, name)` gives the host's id for a metric.
    pub fn define(
        target: &str,
        mut define: impl FnMut(MetricType, &str) -> Result<u32, Status>,
    ) -> Result<TargetMetrics, Status> {
        let counters = Counter::ALL
            .iter()
            .map(|counter| {
                let id = define(MetricType::Counter, &metric_name(target, counter.suffix()))?;
                Ok(Tallied {
                    id,
                    pending: Cell::new(0),
                })
            })
            .collect::<Result<_, Status>>()?;
        let in_flight = define(MetricType::Gauge, &metric_name(target, IN_FLIGHT_GAUGE))?;
        let latency_ms = define(
            MetricType::Histogram,
            &metric_name(target, LATENCY_HISTOGRAM),
        )?;
        Ok(TargetMetrics {
            counters,
            in_flight: Tallied {
                id: in_flight,
                pending: Cell::new(0),
            },
            latency_ms,
        })
    }

    /// Defines the metrics in the host (Envoy).
    pub fn define_in_host(target: &str) -> Result<TargetMetrics, Status> {
        TargetMetrics::define(target, hostcalls::define_metric)
    }

    /// Counts one, to be handed to the host by the next `flush`.
    pub fn add(&self, counter: Counter) {
        if let Some(tallied) = self.counters.get(counter as usize) {
            tallied.add(1);
        }
    }

    /// Moves the in-flight gauge by `delta`, with the next `flush`.
    pub fn in_flight(&self, delta: i64) {
        self.in_flight.add(delta);
    }

    /// Hands every pending change to `increment(id, delta)`; true if there were any.
    pub fn flush(&self, mut increment: impl FnMut(u32, i64)) -> bool {
        let mut any = self.in_flight.flush(&mut increment);
        for tallied in &self.counters {
            any |= tallied.flush(&mut increment);
        }
        any
    }

    /// Hands every pending change to the host.
    pub fn flush_to_host(&self) -> bool {
        self.flush(|id, delta| {
            // A metric that cannot move is not worth failing anything over.
            let _ = hostcalls::increment_metric(id, delta);
        })
    }

    /// Records one copy's latency (dispatch to response) in the histogram, at once.
    pub fn record_latency(&self, milliseconds: u64) {
        let _ = hostcalls::record_metric(self.latency_ms, milliseconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defined() -> (TargetMetrics, Vec<(MetricType, String)>) {
        let mut names = Vec::new();
        let metrics = TargetMetrics::define("t", |kind, name| {
            names.push((kind, name.to_string()));
            Ok(names.len() as u32)
        })
        .unwrap();
        (metrics, names)
    }

    #[test]
    fn names_follow_the_documented_pattern() {
        let (_, names) = defined();
        let names: Vec<&str> = names.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names.len(), Counter::ALL.len() + 2);
        assert_eq!(names[0], "traffic_mirror.t.mirrored");
        assert!(names.contains(&"traffic_mirror.t.skipped_unparseable_body"));
        assert!(names.contains(&"traffic_mirror.t.responses_5xx"));
        assert!(names.contains(&"traffic_mirror.t.responses_grpc_error"));
        assert!(names.contains(&"traffic_mirror.t.in_flight"));
        assert!(names.contains(&"traffic_mirror.t.latency_ms"));
    }

    #[test]
    fn counters_are_listed_in_declaration_order() {
        // `add` finds a counter's slot by its discriminant.
        assert!(Counter::ALL
            .iter()
            .enumerate()
            .all(|(slot, counter)| *counter as usize == slot));
    }

    #[test]
    fn metric_kinds_are_right() {
        let (_, names) = defined();
        let kind = |name: &str| {
            names
                .iter()
                .find(|(_, n)| n.ends_with(name))
                .map(|(k, _)| *k)
        };
        assert_eq!(kind(".failed"), Some(MetricType::Counter));
        assert_eq!(kind(".in_flight"), Some(MetricType::Gauge));
        assert_eq!(kind(".latency_ms"), Some(MetricType::Histogram));
    }

    #[test]
    fn changes_are_tallied_until_flushed() {
        let (metrics, _) = defined();
        let mut flushed = Vec::new();
        assert!(
            !metrics.flush(|id, n| flushed.push((id, n))),
            "nothing pending yet"
        );
        metrics.add(Counter::Mirrored);
        metrics.add(Counter::Mirrored);
        metrics.add(Counter::Failed);
        metrics.in_flight(3);
        metrics.in_flight(-1);
        assert!(metrics.flush(|id, n| flushed.push((id, n))));
        // Ids in definition order: counters 1..=16, gauge 17.
        assert_eq!(flushed, [(17, 2), (1, 2), (16, 1)]);
        flushed.clear();
        assert!(
            !metrics.flush(|id, n| flushed.push((id, n))),
            "each change goes once"
        );
        metrics.in_flight(1);
        metrics.in_flight(-1);
        assert!(
            !metrics.flush(|id, n| flushed.push((id, n))),
            "no net change, no host call"
        );
    }

    #[test]
    fn a_failed_definition_is_reported() {
        let result = TargetMetrics::define("t", |_, _| Err(Status::InternalFailure));
        assert_eq!(result, Err(Status::InternalFailure));
    }
}
