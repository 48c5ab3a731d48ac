//! Per-target limits on what a mirror target receives, per Envoy worker (each worker runs its
//! own VM, so the effective limits are workers x these).

use std::cell::Cell;

/// Why a request's copies did not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    Rate,
    InFlight,
}

/// A token bucket holding at most one second of tokens; starts full.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    per_second: f64,
    tokens: f64,
    last_refill_ns: Option<u64>,
}

impl TokenBucket {
    pub fn new(per_second: f64) -> TokenBucket {
        TokenBucket {
            per_second,
            tokens: per_second,
            last_refill_ns: None,
        }
    }

    /// Takes `n` tokens at time `now_ns` if there are that many.
    pub fn take(&mut self, now_ns: u64, n: u32) -> bool {
        if let Some(last) = self.last_refill_ns {
            // A clock that steps back refills nothing rather than panicking or overflowing.
            let elapsed_s = now_ns.saturating_sub(last) as f64 / 1e9;
            self.tokens = (self.tokens + elapsed_s * self.per_second).min(self.per_second);
        }
        self.last_refill_ns = Some(now_ns.max(self.last_refill_ns.unwrap_or(0)));
        let wanted = f64::from(n);
        if self.tokens >= wanted {
            self.tokens -= wanted;
            true
        } else {
            false
        }
    }
}

/// One target's limits and their state in this worker's VM.
#[derive(Debug)]
pub struct Limiter {
    bucket: Option<Cell<TokenBucket>>,
    max_in_flight: Option<u32>,
    in_flight: Cell<u32>,
}

impl Limiter {
    pub fn new(max_per_second: Option<f64>, max_in_flight: Option<u32>) -> Limiter {
        Limiter {
            bucket: max_per_second.map(|rate| Cell::new(TokenBucket::new(rate))),
            max_in_flight,
            in_flight: Cell::new(0),
        }
    }

    /// Whether the limiter needs the time (the rate limit does).
    pub fn needs_time(&self) -> bool {
        self.bucket.is_some()
    }

    /// Admits `copies` copies (all or none), reserving their in-flight slots until `release`.
    /// Tokens are only taken when the in-flight cap has room, so a full cap spends no tokens.
    pub fn admit(&self, now_ns: u64, copies: u32) -> Result<(), Limited> {
        let in_flight = self.in_flight.get().saturating_add(copies);
        if self.max_in_flight.is_some_and(|max| in_flight > max) {
            return Err(Limited::InFlight);
        }
        if let Some(bucket) = &self.bucket {
            let mut state = bucket.get();
            let taken = state.take(now_ns, copies);
            bucket.set(state);
            if !taken {
                return Err(Limited::Rate);
            }
        }
        self.in_flight.set(in_flight);
        Ok(())
    }

    /// `copies` reserved copies are done (answered, failed, or never sent).
    pub fn release(&self, copies: u32) {
        self.in_flight
            .set(self.in_flight.get().saturating_sub(copies));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn bucket_allows_a_burst_of_one_second_then_the_rate() {
        let mut bucket = TokenBucket::new(10.0);
        let burst = (0..100).filter(|_| bucket.take(0, 1)).count();
        assert_eq!(burst, 10);
        assert!(!bucket.take(SECOND / 20, 1), "half a token after 50 ms");
        assert!(bucket.take(SECOND / 10, 1), "one token after 100 ms");
        // Idle for an hour: still at most one second of tokens.
        let after_idle = (0..100).filter(|_| bucket.take(3600 * SECOND, 1)).count();
        assert_eq!(after_idle, 10);
    }

    #[test]
    fn bucket_takes_all_or_nothing_and_survives_a_clock_step_back() {
        let mut bucket = TokenBucket::new(5.0);
        assert!(bucket.take(10 * SECOND, 3));
        assert!(!bucket.take(10 * SECOND, 3), "2 left, 3 wanted");
        assert!(
            bucket.take(5 * SECOND, 2),
            "clock went back: no refill, no panic"
        );
        assert!(!bucket.take(10 * SECOND, 1));
    }

    #[test]
    fn bounded_over_time() {
        let mut bucket = TokenBucket::new(200.0);
        // 10,000 attempts over 2 s: at most capacity + rate x elapsed = 200 + 400.
        let admitted = (0..10_000u64)
            .filter(|i| bucket.take(i * 2 * SECOND / 10_000, 1))
            .count();
        assert!(admitted <= 600, "{admitted}");
        assert!(admitted >= 590, "{admitted}");
    }

    #[test]
    fn in_flight_cap_counts_every_copy_and_spends_no_tokens_when_full() {
        let limiter = Limiter::new(Some(100.0), Some(5));
        assert_eq!(limiter.admit(0, 3), Ok(()));
        assert_eq!(limiter.admit(0, 3), Err(Limited::InFlight), "3 + 3 > 5");
        assert_eq!(limiter.admit(0, 2), Ok(()));
        limiter.release(3);
        assert_eq!(limiter.admit(0, 3), Ok(()));
        // 8 tokens spent so far, none by the refused request.
        let limiter_tokens = limiter.bucket.as_ref().map(|b| b.get().tokens);
        assert_eq!(limiter_tokens, Some(92.0));
    }

    #[test]
    fn rate_limit_refuses_when_tokens_run_out() {
        let limiter = Limiter::new(Some(2.0), None);
        assert!(limiter.needs_time());
        assert_eq!(limiter.admit(0, 2), Ok(()));
        assert_eq!(limiter.admit(0, 1), Err(Limited::Rate));
        assert_eq!(limiter.admit(SECOND, 2), Ok(()));
    }

    #[test]
    fn no_limits_admit_everything() {
        let limiter = Limiter::new(None, None);
        assert!(!limiter.needs_time());
        assert!((0..1000).all(|_| limiter.admit(0, 10).is_ok()));
    }
}
