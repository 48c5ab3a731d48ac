//! The plugin's counters: names defined once, ids cached at configure time.
//!
//! Envoy shares a metric across its workers by name, so every worker's VM defines the same
//! names and `/stats` shows their sum as `wasmcustom.traffic_mirror.<target>.<counter>`.

use proxy_wasm::hostcalls;
use proxy_wasm::types::{MetricType, Status};
use std::cell::Cell;

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

/// One counter: the host's id and the increments not yet handed to the host.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tallied {
    id: u32,
    pending: Cell<u64>,
}

impl Tallied {
    fn new(id: u32) -> Tallied {
        Tallied {
            id,
            pending: Cell::new(0),
        }
    }

    /// Hands the pending increments to the host; true if there were any.
    fn flush(&self, increment: &mut impl FnMut(u32, u64)) -> bool {
        let pending = self.pending.take();
        if pending > 0 {
            increment(self.id, pending);
        }
        pending > 0
    }
}

/// One target's counters. Increments are tallied in the VM and handed to the host in batches
/// (see `flush`): a host call per increment would cost more than the decision it counts.
#[derive(Debug, PartialEq, Eq)]
pub struct TargetCounters {
    mirrored: Tallied,
    sampled_out: Tallied,
    skipped: Tallied,
    responded: Tallied,
    failed: Tallied,
}

impl TargetCounters {
    /// `define` turns a metric name into the host's id for it.
    pub fn define(
        target: &str,
        mut define: impl FnMut(&str) -> Result<u32, Status>,
    ) -> Result<TargetCounters, Status> {
        let mut counter = |counter| define(&metric_name(target, counter)).map(Tallied::new);
        Ok(TargetCounters {
            mirrored: counter(Counter::Mirrored)?,
            sampled_out: counter(Counter::SampledOut)?,
            skipped: counter(Counter::Skipped)?,
            responded: counter(Counter::Responded)?,
            failed: counter(Counter::Failed)?,
        })
    }

    /// Defines the counters in the host (Envoy).
    pub fn define_in_host(target: &str) -> Result<TargetCounters, Status> {
        TargetCounters::define(target, |name| {
            hostcalls::define_metric(MetricType::Counter, name)
        })
    }

    fn tallied(&self, counter: Counter) -> &Tallied {
        match counter {
            Counter::Mirrored => &self.mirrored,
            Counter::SampledOut => &self.sampled_out,
            Counter::Skipped => &self.skipped,
            Counter::Responded => &self.responded,
            Counter::Failed => &self.failed,
        }
    }

    pub fn id(&self, counter: Counter) -> u32 {
        self.tallied(counter).id
    }

    /// Counts one, to be handed to the host by the next `flush`.
    pub fn add(&self, counter: Counter) {
        let pending = &self.tallied(counter).pending;
        pending.set(pending.get().saturating_add(1));
    }

    /// Hands every pending increment to `increment(id, amount)`; true if there were any.
    pub fn flush(&self, mut increment: impl FnMut(u32, u64)) -> bool {
        let mut any = false;
        for counter in Counter::ALL {
            any |= self.tallied(counter).flush(&mut increment);
        }
        any
    }

    /// Hands every pending increment to the host.
    pub fn flush_to_host(&self) -> bool {
        self.flush(|id, amount| {
            // A counter that cannot move is not worth failing anything over.
            let _ = hostcalls::increment_metric(id, i64::try_from(amount).unwrap_or(i64::MAX));
        })
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
    fn increments_are_tallied_until_flushed() {
        let mut next = 0;
        let counters = TargetCounters::define("t", |_| {
            next += 10;
            Ok(next)
        })
        .unwrap();
        let mut flushed = Vec::new();
        assert!(
            !counters.flush(|id, n| flushed.push((id, n))),
            "nothing pending yet"
        );
        counters.add(Counter::Mirrored);
        counters.add(Counter::Mirrored);
        counters.add(Counter::Failed);
        assert!(counters.flush(|id, n| flushed.push((id, n))));
        assert_eq!(flushed, [(10, 2), (50, 1)]);
        flushed.clear();
        assert!(
            !counters.flush(|id, n| flushed.push((id, n))),
            "each increment goes once"
        );
        assert!(flushed.is_empty());
    }

    #[test]
    fn a_failed_definition_is_reported() {
        let result = TargetCounters::define("t", |_| Err(Status::InternalFailure));
        assert_eq!(result, Err(Status::InternalFailure));
    }
}
