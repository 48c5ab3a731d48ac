//! The plugin's metrics: names defined once, ids cached at configure time.
//!
//! Envoy shares a metric across its workers by name, so every worker's VM defines the same
//! names and `/stats` shows their sum as `wasmcustom.traffic_mirror.<target>.<metric>`.
//! Counter and gauge changes are tallied in the VM and handed to the host in batches (see
//! `flush`): a host call per change would cost more than the decision it counts.

use crate::compare::pairing::Skipped;
use crate::compare::response::NotCompared;
use crate::copy::Skip;
use crate::decide::Refusal;
use crate::host::MetricHost;
use crate::outcome::Outcome;
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
    SkippedUnredactableBody,
    Aborted,
    RateLimited,
    InFlightLimited,
    SkippedUpgrade,
    SkippedMemoryBudget,
    SkippedSameCluster,
    // Beside the decision: a copy sent without the baggage marker (W3C limits).
    BaggageNotMarked,
    // The result, exactly one per copy sent.
    Responses2xx,
    Responses3xx,
    Responses4xx,
    Responses5xx,
    /// Answered with HTTP 2xx, but a gRPC status other than 0: a canary that fails every RPC
    /// must not look healthy.
    ResponsesGrpcError,
    TimedOut,
    Failed,
}

impl Counter {
    pub const ALL: [Counter; 21] = [
        Counter::Mirrored,
        Counter::SampledOut,
        Counter::Unmatched,
        Counter::SkippedLoop,
        Counter::SkippedBodyTooLarge,
        Counter::SkippedUnparseableBody,
        Counter::SkippedUnredactableBody,
        Counter::Aborted,
        Counter::RateLimited,
        Counter::InFlightLimited,
        Counter::SkippedUpgrade,
        Counter::SkippedMemoryBudget,
        Counter::SkippedSameCluster,
        Counter::BaggageNotMarked,
        Counter::Responses2xx,
        Counter::Responses3xx,
        Counter::Responses4xx,
        Counter::Responses5xx,
        Counter::ResponsesGrpcError,
        Counter::TimedOut,
        Counter::Failed,
    ];

    /// The decision family: exactly one per request and target, so their sum is the requests
    /// the target saw. Tests that check "every request counted once" sum this list, so a
    /// counter added to the family is summed there too.
    pub const DECISIONS: &'static [Counter] = &[
        Counter::Mirrored,
        Counter::SampledOut,
        Counter::Unmatched,
        Counter::SkippedLoop,
        Counter::SkippedBodyTooLarge,
        Counter::SkippedUnparseableBody,
        Counter::SkippedUnredactableBody,
        Counter::Aborted,
        Counter::RateLimited,
        Counter::InFlightLimited,
        Counter::SkippedUpgrade,
        Counter::SkippedMemoryBudget,
        Counter::SkippedSameCluster,
    ];

    /// The result family: exactly one per copy sent, so once copies are answered their sum is
    /// `mirrored` x `amplify`.
    pub const RESULTS: &'static [Counter] = &[
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
            Counter::SkippedUnredactableBody => "skipped_unredactable_body",
            Counter::Aborted => "aborted",
            Counter::RateLimited => "rate_limited",
            Counter::InFlightLimited => "in_flight_limited",
            Counter::SkippedUpgrade => "skipped_upgrade",
            Counter::SkippedMemoryBudget => "skipped_memory_budget",
            Counter::SkippedSameCluster => "skipped_same_cluster",
            Counter::BaggageNotMarked => "baggage_not_marked",
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

/// Why a target refused a request: each reason has its decision counter.
impl From<Refusal> for Counter {
    fn from(refusal: Refusal) -> Counter {
        match refusal {
            Refusal::SampledOut => Counter::SampledOut,
            Refusal::Unmatched => Counter::Unmatched,
            Refusal::MarkedAsCopy => Counter::SkippedLoop,
            Refusal::SameCluster => Counter::SkippedSameCluster,
            Refusal::Upgrade => Counter::SkippedUpgrade,
            Refusal::RateLimited => Counter::RateLimited,
            Refusal::InFlightLimited => Counter::InFlightLimited,
        }
    }
}

/// Why a wanted request was not copied after all.
impl From<Skip> for Counter {
    fn from(skip: Skip) -> Counter {
        match skip {
            // No usable request line: as a rule would, it matches nothing.
            Skip::Unroutable => Counter::Unmatched,
            Skip::BodyTooLarge => Counter::SkippedBodyTooLarge,
            Skip::UnparseableBody => Counter::SkippedUnparseableBody,
            Skip::UnredactableBody => Counter::SkippedUnredactableBody,
            Skip::Unreadable | Skip::Abandoned => Counter::Aborted,
            Skip::MemoryBudget => Counter::SkippedMemoryBudget,
        }
    }
}

/// How a copy ended: the result family, exactly one per copy sent.
impl From<Outcome> for Counter {
    fn from(outcome: Outcome) -> Counter {
        match outcome {
            Outcome::Answered(status) if status < 300 => Counter::Responses2xx,
            Outcome::Answered(status) if status < 400 => Counter::Responses3xx,
            Outcome::Answered(status) if status < 500 => Counter::Responses4xx,
            Outcome::Answered(_) => Counter::Responses5xx,
            Outcome::GrpcError(_) => Counter::ResponsesGrpcError,
            Outcome::TimedOut => Counter::TimedOut,
            // Not a final answer, a full circuit breaker, no answer: the copy failed.
            Outcome::Failed | Outcome::NotAnAnswer(_) | Outcome::Overloaded => Counter::Failed,
        }
    }
}

/// The counters of a candidate target's comparisons (defined only for targets that compare).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareCounter {
    // The verdict, exactly one per comparison started (a candidate's copy dispatched).
    Matched,
    Mismatched,
    SkippedIncomplete,
    SkippedExpired,
    SkippedNoAnswer,
    SkippedFull,
    // Details beside the verdict: a comparison may count in several, or none.
    MismatchedStatus,
    MismatchedHeaders,
    MismatchedBody,
    BodyNotComparedTooLarge,
    BodyNotComparedEncoding,
    ComparedWithoutReference,
    NoiseFields,
}

impl CompareCounter {
    pub const ALL: [CompareCounter; 13] = [
        CompareCounter::Matched,
        CompareCounter::Mismatched,
        CompareCounter::SkippedIncomplete,
        CompareCounter::SkippedExpired,
        CompareCounter::SkippedNoAnswer,
        CompareCounter::SkippedFull,
        CompareCounter::MismatchedStatus,
        CompareCounter::MismatchedHeaders,
        CompareCounter::MismatchedBody,
        CompareCounter::BodyNotComparedTooLarge,
        CompareCounter::BodyNotComparedEncoding,
        CompareCounter::ComparedWithoutReference,
        CompareCounter::NoiseFields,
    ];

    /// The verdict family: exactly one per comparison started (a candidate's copy dispatched),
    /// so comparisons started = the sum of this list.
    pub const VERDICTS: &'static [CompareCounter] = &[
        CompareCounter::Matched,
        CompareCounter::Mismatched,
        CompareCounter::SkippedIncomplete,
        CompareCounter::SkippedExpired,
        CompareCounter::SkippedNoAnswer,
        CompareCounter::SkippedFull,
    ];

    /// Details beside the verdict, not part of its sum: a comparison may count in several.
    pub const DETAILS: &'static [CompareCounter] = &[
        CompareCounter::MismatchedStatus,
        CompareCounter::MismatchedHeaders,
        CompareCounter::MismatchedBody,
        CompareCounter::BodyNotComparedTooLarge,
        CompareCounter::BodyNotComparedEncoding,
        CompareCounter::ComparedWithoutReference,
        CompareCounter::NoiseFields,
    ];

    pub fn suffix(self) -> &'static str {
        match self {
            CompareCounter::Matched => "matched",
            CompareCounter::Mismatched => "mismatched",
            CompareCounter::SkippedIncomplete => "compare_skipped_incomplete",
            CompareCounter::SkippedExpired => "compare_skipped_expired",
            CompareCounter::SkippedNoAnswer => "compare_skipped_no_answer",
            CompareCounter::SkippedFull => "compare_skipped_full",
            CompareCounter::MismatchedStatus => "mismatched_status",
            CompareCounter::MismatchedHeaders => "mismatched_headers",
            CompareCounter::MismatchedBody => "mismatched_body",
            CompareCounter::BodyNotComparedTooLarge => "body_not_compared_too_large",
            CompareCounter::BodyNotComparedEncoding => "body_not_compared_encoding",
            CompareCounter::ComparedWithoutReference => "compared_without_reference",
            CompareCounter::NoiseFields => "noise_fields",
        }
    }
}

/// Why a comparison was not made: its verdict counter.
impl From<Skipped> for CompareCounter {
    fn from(skipped: Skipped) -> CompareCounter {
        match skipped {
            Skipped::Incomplete => CompareCounter::SkippedIncomplete,
            Skipped::Expired => CompareCounter::SkippedExpired,
            Skipped::NoAnswer => CompareCounter::SkippedNoAnswer,
            Skipped::Full => CompareCounter::SkippedFull,
        }
    }
}

/// Why a body was left out of a comparison.
impl From<NotCompared> for CompareCounter {
    fn from(reason: NotCompared) -> CompareCounter {
        match reason {
            NotCompared::TooLarge => CompareCounter::BodyNotComparedTooLarge,
            NotCompared::Encoding => CompareCounter::BodyNotComparedEncoding,
        }
    }
}

pub const IN_FLIGHT_GAUGE: &str = "in_flight";
pub const LATENCY_HISTOGRAM: &str = "latency_ms";
/// Comparisons of a candidate waiting for a side (a gauge moved by increments).
pub const COMPARE_PENDING_GAUGE: &str = "compare_pending";

/// The plugin's own counter, not a target's: requests answered 403 because they carry the
/// marker and write (`refuse_marked_writes`).
pub const REFUSED_MARKED_WRITES: &str = "refused_marked_writes";

pub fn metric_name(target: &str, metric: &str) -> String {
    format!("traffic_mirror.{target}.{metric}")
}

/// One metric's host id and the change not yet handed to the host.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Tallied {
    id: u32,
    pending: Cell<i64>,
}

impl Tallied {
    /// Defines the metric `name` in the host (a metric already defined, by this worker or
    /// another, keeps its value).
    pub(crate) fn define(
        host: MetricHost,
        kind: MetricType,
        name: &str,
    ) -> Result<Tallied, Status> {
        (host.define)(kind, name).map(|id| Tallied {
            id,
            pending: Cell::new(0),
        })
    }

    pub(crate) fn add(&self, delta: i64) {
        self.pending.set(self.pending.get().saturating_add(delta));
    }

    /// Hands the pending change to `increment(id, delta)`; true if there was one.
    pub(crate) fn flush(&self, increment: &mut impl FnMut(u32, i64)) -> bool {
        let pending = self.pending.take();
        if pending != 0 {
            increment(self.id, pending);
        }
        pending != 0
    }
}

/// Where `TargetMetrics::counted` marks each metric: a counter at its `Counter` index, a
/// comparison counter from bit 32 on, the two gauges at the top.
const COMPARE_BITS: u32 = 32;
const COMPARE_PENDING_BIT: u32 = 62;
const IN_FLIGHT_BIT: u32 = 63;
const _: () = assert!(
    Counter::ALL.len() <= COMPARE_BITS as usize
        && COMPARE_BITS as usize + CompareCounter::ALL.len() <= COMPARE_PENDING_BIT as usize
);

/// One target's metrics.
#[derive(Debug)]
pub struct TargetMetrics {
    counters: Vec<Tallied>,
    /// Empty for a target that does not compare: its comparison metrics are not defined.
    compare: Vec<Tallied>,
    compare_pending: Option<Tallied>,
    /// Copies dispatched and not yet answered. A gauge moved by increments: workers share it.
    in_flight: Tallied,
    latency_ms: u32,
    host: MetricHost,
    /// What was counted since the last `flush`, a bit per metric (`counted_bit`): a flush
    /// goes through those only, not the fifty-odd counters (a flush with nothing to hand
    /// over, most of them, through none).
    counted: Cell<u64>,
}

impl TargetMetrics {
    /// Defines the target's metrics in the host; its comparison metrics when it `compares`.
    pub fn define(target: &str, compares: bool, host: MetricHost) -> Result<TargetMetrics, Status> {
        let tallied =
            |kind, metric: &str| Tallied::define(host, kind, &metric_name(target, metric));
        let counters = Counter::ALL
            .iter()
            .map(|counter| tallied(MetricType::Counter, counter.suffix()))
            .collect::<Result<_, Status>>()?;
        let in_flight = tallied(MetricType::Gauge, IN_FLIGHT_GAUGE)?;
        let compare = match compares {
            true => CompareCounter::ALL
                .iter()
                .map(|counter| tallied(MetricType::Counter, counter.suffix()))
                .collect::<Result<_, Status>>()?,
            false => Vec::new(),
        };
        let compare_pending = compares
            .then(|| tallied(MetricType::Gauge, COMPARE_PENDING_GAUGE))
            .transpose()?;
        let latency_ms = (host.define)(
            MetricType::Histogram,
            &metric_name(target, LATENCY_HISTOGRAM),
        )?;
        Ok(TargetMetrics {
            counters,
            compare,
            compare_pending,
            in_flight,
            latency_ms,
            host,
            counted: Cell::new(0),
        })
    }

    /// Counts one, to be handed to the host by the next `flush`.
    pub fn add(&self, counter: Counter) {
        if let Some(tallied) = self.counters.get(counter as usize) {
            tallied.add(1);
            self.mark(counter as u32);
        }
    }

    /// Counts `n` of a comparison counter (nothing for a target that does not compare).
    pub fn add_compare(&self, counter: CompareCounter, n: u32) {
        if let Some(tallied) = self.compare.get(counter as usize) {
            tallied.add(i64::from(n));
            self.mark(COMPARE_BITS + counter as u32);
        }
    }

    /// Moves the pending-comparisons gauge by `delta`, with the next `flush`.
    pub fn compare_pending(&self, delta: i64) {
        if let Some(gauge) = &self.compare_pending {
            gauge.add(delta);
            self.mark(COMPARE_PENDING_BIT);
        }
    }

    /// Moves the in-flight gauge by `delta`, with the next `flush`.
    pub fn in_flight(&self, delta: i64) {
        self.in_flight.add(delta);
        self.mark(IN_FLIGHT_BIT);
    }

    fn mark(&self, bit: u32) {
        self.counted.set(self.counted.get() | 1 << bit);
    }

    /// Hands every pending change to the host; true if there were any.
    pub fn flush(&self) -> bool {
        let mut counted = self.counted.replace(0);
        let mut increment = |id, delta| (self.host.increment)(id, delta);
        let mut any = false;
        if counted & 1 << IN_FLIGHT_BIT != 0 {
            any |= self.in_flight.flush(&mut increment);
        }
        counted &= !(1 << IN_FLIGHT_BIT);
        // The counted ones, lowest bit first: counters, comparison counters, then the gauge.
        while counted != 0 {
            let bit = counted.trailing_zeros();
            counted &= counted - 1;
            let tallied = match bit {
                COMPARE_PENDING_BIT => self.compare_pending.as_ref(),
                bit if bit >= COMPARE_BITS => self.compare.get((bit - COMPARE_BITS) as usize),
                bit => self.counters.get(bit as usize),
            };
            if let Some(tallied) = tallied {
                any |= tallied.flush(&mut increment);
            }
        }
        any
    }

    /// Records one copy's latency (dispatch to response) in the histogram, at once.
    pub fn record_latency(&self, milliseconds: u64) {
        (self.host.record)(self.latency_ms, milliseconds);
    }
}

/// The counters that belong to the plugin rather than to a target:
/// `traffic_mirror.<counter>`.
#[derive(Debug)]
pub struct PluginMetrics {
    refused_marked_writes: Tallied,
    host: MetricHost,
}

impl PluginMetrics {
    pub fn define(host: MetricHost) -> Result<PluginMetrics, Status> {
        let name = format!("traffic_mirror.{REFUSED_MARKED_WRITES}");
        let id = (host.define)(MetricType::Counter, &name)?;
        Ok(PluginMetrics {
            refused_marked_writes: Tallied {
                id,
                pending: Cell::new(0),
            },
            host,
        })
    }

    pub fn refused_marked_write(&self) {
        self.refused_marked_writes.add(1);
    }

    /// Hands the pending counts to the host; true if there were any.
    pub fn flush(&self) -> bool {
        let mut increment = |id, delta| (self.host.increment)(id, delta);
        self.refused_marked_writes.flush(&mut increment)
    }
}

impl Drop for PluginMetrics {
    fn drop(&mut self) {
        self.flush();
    }
}

impl Drop for TargetMetrics {
    /// The last job or copy of a replaced configuration is done: its counts still go out.
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::host::recording;

    fn defined() -> (TargetMetrics, Vec<(MetricType, String)>) {
        let metrics = TargetMetrics::define("t", false, recording::METRICS).unwrap();
        (metrics, recording::defined())
    }

    #[test]
    fn every_count_is_handed_over_once_by_the_next_flush_whatever_came_before() {
        let metrics = TargetMetrics::define("f", true, recording::METRICS).unwrap();
        let total = |metric: &str| recording::take_total(&metric_name("f", metric));
        assert!(!metrics.flush(), "nothing counted");
        metrics.add(Counter::Mirrored);
        metrics.add_compare(CompareCounter::Matched, 2);
        assert!(metrics.flush());
        assert!(!metrics.flush(), "handed over already");
        assert_eq!(total(Counter::Mirrored.suffix()), 1);
        assert_eq!(total(CompareCounter::Matched.suffix()), 2);
        metrics.in_flight(1);
        metrics.in_flight(-1);
        assert!(!metrics.flush(), "moves that cancel out hand nothing over");
        metrics.compare_pending(1);
        assert!(metrics.flush(), "counted after a flush that had nothing");
        assert_eq!(total(COMPARE_PENDING_GAUGE), 1);
    }

    /// A flush goes through the metrics marked counted only: every one of them must be
    /// marked where it is counted, and found where it is marked.
    #[test]
    fn every_metric_counted_is_handed_over_by_the_marked_flush() {
        let metrics = TargetMetrics::define("m", true, recording::METRICS).unwrap();
        let total = |metric: &str| recording::take_total(&metric_name("m", metric));
        for (n, counter) in (1..).zip(Counter::ALL) {
            metrics.add(counter);
            for _ in 1..n {
                metrics.add(counter);
            }
        }
        for (n, counter) in (1..).zip(CompareCounter::ALL) {
            metrics.add_compare(counter, n);
        }
        metrics.compare_pending(3);
        metrics.in_flight(2);
        assert!(metrics.flush());
        for (n, counter) in (1..).zip(Counter::ALL) {
            assert_eq!(total(counter.suffix()), n, "{counter:?}");
        }
        for (n, counter) in (1u32..).zip(CompareCounter::ALL) {
            assert_eq!(total(counter.suffix()), i64::from(n), "{counter:?}");
        }
        assert_eq!(total(COMPARE_PENDING_GAUGE), 3);
        assert_eq!(total(IN_FLIGHT_GAUGE), 2);
        assert!(!metrics.flush(), "all handed over");
    }

    /// Each counter is in exactly one family: a counter added to `ALL` but to no family (or
    /// to both) would be missing from, or doubled in, every sum the tests make of a family.
    #[test]
    fn the_families_split_every_counter_once() {
        let mut families: Vec<Counter> = Counter::DECISIONS.to_vec();
        // An annotation beside a decision (a copy sent without its baggage member), not a
        // family of its own.
        families.push(Counter::BaggageNotMarked);
        families.extend_from_slice(Counter::RESULTS);
        assert_eq!(families, Counter::ALL.to_vec());
        let mut compare: Vec<CompareCounter> = CompareCounter::VERDICTS.to_vec();
        compare.extend_from_slice(CompareCounter::DETAILS);
        assert_eq!(compare, CompareCounter::ALL.to_vec());
    }

    #[test]
    fn names_follow_the_documented_pattern() {
        let (_, names) = defined();
        let names: Vec<&str> = names.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names.len(), Counter::ALL.len() + 2);
        assert_eq!(names[0], "traffic_mirror.t.mirrored");
        assert!(names.contains(&"traffic_mirror.t.skipped_unparseable_body"));
        assert!(names.contains(&"traffic_mirror.t.skipped_unredactable_body"));
        assert!(names.contains(&"traffic_mirror.t.responses_5xx"));
        assert!(names.contains(&"traffic_mirror.t.responses_grpc_error"));
        assert!(names.contains(&"traffic_mirror.t.in_flight"));
        assert!(names.contains(&"traffic_mirror.t.latency_ms"));
    }

    #[test]
    fn comparison_metrics_exist_only_for_targets_that_compare() {
        let plain = TargetMetrics::define("plain", false, recording::METRICS).unwrap();
        let compared = TargetMetrics::define("canary", true, recording::METRICS).unwrap();
        let names: Vec<String> = recording::defined().into_iter().map(|(_, n)| n).collect();
        assert!(names.contains(&"traffic_mirror.canary.matched".to_string()));
        assert!(names.contains(&"traffic_mirror.canary.compare_pending".to_string()));
        assert!(!names
            .iter()
            .any(|n| n.starts_with("traffic_mirror.plain.match")));
        plain.add_compare(CompareCounter::Matched, 1);
        plain.compare_pending(1);
        assert!(
            !plain.flush(),
            "nothing to count for a target that does not compare"
        );
        compared.add_compare(CompareCounter::NoiseFields, 3);
        compared.compare_pending(1);
        assert!(compared.flush());
        assert_eq!(recording::take_increments().len(), 2);
        assert!(CompareCounter::ALL
            .iter()
            .enumerate()
            .all(|(slot, counter)| *counter as usize == slot));
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
        assert!(!metrics.flush(), "nothing pending yet");
        assert!(recording::take_increments().is_empty());
        metrics.add(Counter::Mirrored);
        metrics.add(Counter::Mirrored);
        metrics.add(Counter::Failed);
        metrics.in_flight(3);
        metrics.in_flight(-1);
        assert!(metrics.flush());
        // Ids in definition order: the counters from 1, then the gauge.
        let counters = Counter::ALL.len() as u32;
        let failed = Counter::Failed as u32 + 1;
        assert_eq!(
            recording::take_increments(),
            [(counters + 1, 2), (1, 2), (failed, 1)]
        );
        assert!(!metrics.flush(), "each change goes once");
        metrics.in_flight(1);
        metrics.in_flight(-1);
        assert!(!metrics.flush(), "no net change, no host call");
        assert!(recording::take_increments().is_empty());
    }

    #[test]
    fn counts_still_pending_go_out_when_the_metrics_are_dropped() {
        let (metrics, _) = defined();
        metrics.add(Counter::Mirrored);
        drop(metrics);
        assert_eq!(recording::take_increments(), [(1, 1)]);
    }

    #[test]
    fn answers_count_by_status_class_and_envoys_own_replies_do_not() {
        assert_eq!(Counter::from(Outcome::Answered(200)), Counter::Responses2xx);
        assert_eq!(Counter::from(Outcome::Answered(204)), Counter::Responses2xx);
        assert_eq!(Counter::from(Outcome::Answered(302)), Counter::Responses3xx);
        assert_eq!(Counter::from(Outcome::Answered(404)), Counter::Responses4xx);
        assert_eq!(Counter::from(Outcome::Answered(503)), Counter::Responses5xx);
        assert_eq!(Counter::from(Outcome::TimedOut), Counter::TimedOut);
        assert_eq!(Counter::from(Outcome::Failed), Counter::Failed);
    }

    #[test]
    fn every_refusal_and_skip_has_a_decision_counter() {
        assert_eq!(Counter::from(Refusal::MarkedAsCopy), Counter::SkippedLoop);
        assert_eq!(Counter::from(Refusal::Upgrade), Counter::SkippedUpgrade);
        assert_eq!(Counter::from(Skip::Unroutable), Counter::Unmatched);
        assert_eq!(Counter::from(Skip::Abandoned), Counter::Aborted);
        assert_eq!(
            Counter::from(Skip::MemoryBudget),
            Counter::SkippedMemoryBudget
        );
        let results = [Counter::Responses2xx, Counter::TimedOut, Counter::Failed];
        for refusal in [
            Refusal::SampledOut,
            Refusal::Unmatched,
            Refusal::RateLimited,
            Refusal::InFlightLimited,
        ] {
            assert!(!results.contains(&Counter::from(refusal)));
        }
    }

    #[test]
    fn a_failed_definition_is_reported() {
        let refusing = MetricHost {
            define: |_, _| Err(Status::InternalFailure),
            ..recording::METRICS
        };
        let result = TargetMetrics::define("t", false, refusing);
        assert_eq!(result.err(), Some(Status::InternalFailure));
    }
}
