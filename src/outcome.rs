//! How a dispatched copy ended.

use crate::metrics::Counter;

/// The header a response from a real upstream always carries. Envoy's own replies, a 503 when
/// it cannot connect or a 504 when the copy times out, come without it.
pub const UPSTREAM_TIME_HEADER: &str = "x-envoy-upstream-service-time";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A real upstream answered, whatever its status.
    Responded,
    /// No upstream answered: dispatch refused, connect failure, reset or timeout.
    Failed,
}

/// `response_headers` is the number of headers Envoy delivered with the call's response (0 when
/// the call was reset); `from_upstream` whether they include [`UPSTREAM_TIME_HEADER`].
pub fn classify(response_headers: usize, from_upstream: bool) -> Outcome {
    if response_headers > 0 && from_upstream {
        Outcome::Responded
    } else {
        Outcome::Failed
    }
}

impl Outcome {
    pub fn counter(self) -> Counter {
        match self {
            Outcome::Responded => Counter::Responded,
            Outcome::Failed => Counter::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_real_upstream_answer_counts_as_responded() {
        assert_eq!(classify(4, true), Outcome::Responded);
        assert_eq!(
            classify(3, false),
            Outcome::Failed,
            "Envoy's own 503/504 reply"
        );
        assert_eq!(
            classify(0, false),
            Outcome::Failed,
            "reset: no headers at all"
        );
    }
}
