//! How a dispatched copy ended.

use crate::metrics::Counter;

/// The header a response from a real upstream always carries. Envoy's own replies, a 503 when
/// it cannot connect or a 504 when the copy times out, come without it.
pub const UPSTREAM_TIME_HEADER: &str = "x-envoy-upstream-service-time";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A real upstream answered with this status.
    Answered(u16),
    /// Envoy gave up waiting (its own 504).
    TimedOut,
    /// No upstream answered: dispatch refused, connect failure, reset, anything else.
    Failed,
}

/// What Envoy delivered for a copy: the response headers (empty when the call was reset).
pub fn classify<'a>(headers: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Outcome {
    let mut status = None;
    let mut from_upstream = false;
    for (name, value) in headers {
        match name {
            ":status" => status = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok()),
            UPSTREAM_TIME_HEADER => from_upstream = true,
            _ => {}
        }
    }
    match (status, from_upstream) {
        (Some(status), true) => Outcome::Answered(status),
        (Some(504), false) => Outcome::TimedOut,
        _ => Outcome::Failed,
    }
}

impl Outcome {
    /// The result counter; `grpc_status` is the answer's (trailers, or the headers of a
    /// trailers-only response; `compare::response::grpc_status_of`): a gRPC call that failed
    /// under HTTP 200 is `responses_grpc_error`, so a canary failing every RPC does not look
    /// healthy.
    pub fn counter_with_grpc(self, grpc_status: Option<u32>) -> Counter {
        match (self.counter(), grpc_status) {
            (Counter::Responses2xx, Some(status)) if status != 0 => Counter::ResponsesGrpcError,
            (counter, _) => counter,
        }
    }

    pub fn counter(self) -> Counter {
        match self {
            Outcome::Answered(status) if status < 300 => Counter::Responses2xx,
            Outcome::Answered(status) if status < 400 => Counter::Responses3xx,
            Outcome::Answered(status) if status < 500 => Counter::Responses4xx,
            Outcome::Answered(_) => Counter::Responses5xx,
            Outcome::TimedOut => Counter::TimedOut,
            Outcome::Failed => Counter::Failed,
        }
    }

    pub fn is_failure(self) -> bool {
        !matches!(self, Outcome::Answered(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(headers: &[(&str, &str)]) -> Outcome {
        classify(headers.iter().map(|(n, v)| (*n, v.as_bytes())))
    }

    #[test]
    fn a_real_upstream_answer_is_counted_by_status_class() {
        let upstream =
            |status| outcome(&[(":status", status), ("x-envoy-upstream-service-time", "3")]);
        assert_eq!(upstream("200").counter(), Counter::Responses2xx);
        assert_eq!(upstream("204").counter(), Counter::Responses2xx);
        assert_eq!(upstream("302").counter(), Counter::Responses3xx);
        assert_eq!(upstream("404").counter(), Counter::Responses4xx);
        assert_eq!(
            upstream("503").counter(),
            Counter::Responses5xx,
            "a real 503 is an answer"
        );
        assert_eq!(upstream("504").counter(), Counter::Responses5xx);
        assert!(!upstream("500").is_failure());
    }

    #[test]
    fn a_grpc_failure_under_http_200_is_a_grpc_error() {
        let answered = Outcome::Answered(200);
        assert_eq!(
            answered.counter_with_grpc(Some(13)),
            Counter::ResponsesGrpcError
        );
        assert_eq!(answered.counter_with_grpc(Some(0)), Counter::Responses2xx);
        assert_eq!(answered.counter_with_grpc(None), Counter::Responses2xx);
        assert_eq!(
            Outcome::Answered(503).counter_with_grpc(Some(14)),
            Counter::Responses5xx
        );
        assert_eq!(Outcome::Failed.counter_with_grpc(Some(13)), Counter::Failed);
    }

    #[test]
    fn envoys_own_replies_are_timeouts_or_failures() {
        assert_eq!(
            outcome(&[(":status", "504"), ("content-length", "24")]),
            Outcome::TimedOut
        );
        assert_eq!(outcome(&[(":status", "503")]), Outcome::Failed);
        assert_eq!(outcome(&[]), Outcome::Failed, "reset: no headers at all");
        assert_eq!(
            outcome(&[(":status", "oops"), ("x-envoy-upstream-service-time", "1")]),
            Outcome::Failed
        );
        assert!(Outcome::TimedOut.is_failure());
    }
}
