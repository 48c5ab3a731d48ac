//! Failures are counted, not logged per request: a failing target gets a warning at most once
//! per period, saying how many copies failed since the previous one.

use std::cell::Cell;

pub const WARNING_PERIOD_NS: u64 = 10_000_000_000;

#[derive(Debug, Default)]
pub struct FailureLog {
    since_last_warning: Cell<u64>,
    last_warning_ns: Cell<Option<u64>>,
}

impl FailureLog {
    /// Records one failure at `now_ns`. Returns the number of failures to report when a
    /// warning is due (the first failure, then at most once per period).
    pub fn record(&self, now_ns: u64) -> Option<u64> {
        let failures = self.since_last_warning.get().saturating_add(1);
        let due = self.last_warning_ns.get().map_or(true, |last| {
            now_ns.saturating_sub(last) >= WARNING_PERIOD_NS
        });
        if due {
            self.since_last_warning.set(0);
            self.last_warning_ns.set(Some(now_ns));
            Some(failures)
        } else {
            self.since_last_warning.set(failures);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn warns_at_first_then_at_most_once_per_period_with_the_count() {
        let log = FailureLog::default();
        assert_eq!(log.record(100 * SECOND), Some(1));
        let quiet: Vec<Option<u64>> = (1..=50)
            .map(|i| log.record(100 * SECOND + i * SECOND / 10))
            .collect();
        assert!(
            quiet.iter().all(Option::is_none),
            "5 s of failures, no warning"
        );
        assert_eq!(
            log.record(110 * SECOND),
            Some(51),
            "the 50 quiet ones and this one"
        );
        assert_eq!(log.record(111 * SECOND), None);
        assert_eq!(log.record(500 * SECOND), Some(2));
    }
}
