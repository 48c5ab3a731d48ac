//! How a dispatched copy ended.

use crate::http::{grpc_status, status_code, HeaderMap};

/// The header a response from a real upstream always carries. Envoy's own replies, a 503 when
/// it cannot connect or a 504 when the copy times out, come without it.
pub const UPSTREAM_TIME_HEADER: &str = "x-envoy-upstream-service-time";

/// The header Envoy sets on its own 503 when a circuit breaker of the cluster is full.
pub const OVERLOADED_HEADER: &str = "x-envoy-overloaded";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A real upstream answered with this final status (200 to 599).
    Answered(u16),
    /// A real upstream answered a gRPC call with HTTP 2xx, but with this `grpc-status` (not 0).
    GrpcError(u32),
    /// A real upstream's last word was not a final answer: an informational status (1xx, such
    /// as `101 Switching Protocols`, which a copy never asks for) or one outside 100..599.
    NotAnAnswer(u16),
    /// Envoy gave up waiting (its own 504).
    TimedOut,
    /// Envoy did not send the copy: the cluster's circuit breaker (`max_requests`,
    /// `max_pending_requests`, ...) was full when the copy's turn came (its own 503 with
    /// `x-envoy-overloaded`). A breaker full at dispatch time fails the dispatch instead.
    Overloaded,
    /// No upstream answered: dispatch refused, connect failure, reset, anything else.
    Failed,
}

/// What Envoy delivered for a copy: the response headers (empty when the call was reset).
pub fn classify<'a>(headers: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Outcome {
    let mut status = None;
    let mut from_upstream = false;
    let mut overloaded = false;
    for (name, value) in headers {
        match name {
            ":status" => status = status_code(value),
            UPSTREAM_TIME_HEADER => from_upstream = true,
            OVERLOADED_HEADER => overloaded = true,
            _ => {}
        }
    }
    match (status, from_upstream) {
        (Some(503), false) if overloaded => Outcome::Overloaded,
        (Some(status @ 200..=599), true) => Outcome::Answered(status),
        (Some(status), true) => Outcome::NotAnAnswer(status),
        (Some(504), false) => Outcome::TimedOut,
        _ => Outcome::Failed,
    }
}

impl Outcome {
    pub fn is_failure(self) -> bool {
        !self.is_answer()
    }

    /// Whether a real upstream answered (whatever it said).
    pub fn is_answer(self) -> bool {
        matches!(self, Outcome::Answered(_) | Outcome::GrpcError(_))
    }
}

/// A gRPC call answered with HTTP 2xx has really failed when its `grpc-status` (in the
/// trailers, or in the headers of a trailers-only response) is not 0.
pub fn with_grpc_status(
    outcome: Outcome,
    grpc: bool,
    headers: &HeaderMap,
    trailers: &HeaderMap,
) -> Outcome {
    let Outcome::Answered(200..=299) = outcome else {
        return outcome;
    };
    let status = trailers
        .get("grpc-status")
        .or_else(|| headers.get("grpc-status"))
        .map(grpc_status);
    match status {
        Some(code) if grpc && code != 0 => Outcome::GrpcError(code),
        _ => outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Counter;

    fn outcome(headers: &[(&str, &str)]) -> Outcome {
        classify(headers.iter().map(|(n, v)| (*n, v.as_bytes())))
    }

    #[test]
    fn a_real_upstream_answer_is_an_answer_whatever_its_status() {
        let upstream =
            |status| outcome(&[(":status", status), ("x-envoy-upstream-service-time", "3")]);
        assert_eq!(upstream("200"), Outcome::Answered(200));
        assert_eq!(upstream("302"), Outcome::Answered(302));
        assert_eq!(
            upstream("503"),
            Outcome::Answered(503),
            "a real 503 is an answer"
        );
        assert_eq!(upstream("504"), Outcome::Answered(504));
        assert!(!upstream("500").is_failure());
    }

    #[test]
    fn envoys_own_replies_are_timeouts_or_failures() {
        assert_eq!(
            outcome(&[(":status", "504"), ("content-length", "24")]),
            Outcome::TimedOut
        );
        assert_eq!(outcome(&[(":status", "503")]), Outcome::Failed);
        let overloaded = outcome(&[(":status", "503"), ("x-envoy-overloaded", "true")]);
        assert_eq!(overloaded, Outcome::Overloaded);
        assert_eq!(Counter::from(overloaded), Counter::Failed);
        assert_eq!(
            outcome(&[
                (":status", "503"),
                ("x-envoy-overloaded", "true"),
                ("x-envoy-upstream-service-time", "1")
            ]),
            Outcome::Answered(503),
            "an upstream's own 503 is an answer, whatever it says"
        );
        assert_eq!(outcome(&[]), Outcome::Failed, "reset: no headers at all");
        assert_eq!(
            outcome(&[(":status", "oops"), ("x-envoy-upstream-service-time", "1")]),
            Outcome::Failed
        );
        assert!(Outcome::TimedOut.is_failure());
    }

    #[test]
    fn informational_or_out_of_range_statuses_are_not_answers() {
        let upstream =
            |status| outcome(&[(":status", status), ("x-envoy-upstream-service-time", "3")]);
        for status in ["101", "100", "199", "600", "999", "0", "99", "65535"] {
            let outcome = upstream(status);
            assert!(
                matches!(outcome, Outcome::NotAnAnswer(_)),
                "{status}: {outcome:?}"
            );
            assert_eq!(Counter::from(outcome), Counter::Failed, "{status}");
            assert!(outcome.is_failure());
        }
        assert_eq!(upstream("200"), Outcome::Answered(200));
        assert_eq!(upstream("599"), Outcome::Answered(599));
        assert_eq!(upstream("65536"), Outcome::Failed, "not a status at all");
        assert_eq!(upstream("-1"), Outcome::Failed);
    }

    #[test]
    fn a_2xx_grpc_answer_with_a_failing_status_is_a_grpc_error() {
        let headers = |pairs: &[(&str, &str)]| -> HeaderMap {
            HeaderMap::from_pairs(pairs.iter().map(|(n, v)| (*n, v.as_bytes())))
        };
        let none = HeaderMap::default();
        let grpc = headers(&[(":status", "200"), ("content-type", "application/grpc")]);
        let failed = headers(&[("grpc-status", "13")]);
        let ok = Outcome::Answered(200);
        assert_eq!(
            with_grpc_status(ok, true, &grpc, &failed),
            Outcome::GrpcError(13)
        );
        assert_eq!(
            with_grpc_status(ok, true, &grpc, &none),
            ok,
            "no status: the HTTP answer"
        );
        assert_eq!(with_grpc_status(ok, false, &grpc, &failed), ok, "not gRPC");
        let trailers_only = headers(&[
            (":status", "200"),
            ("content-type", "application/grpc"),
            ("grpc-status", "7"),
        ]);
        assert_eq!(
            with_grpc_status(ok, true, &trailers_only, &none),
            Outcome::GrpcError(7)
        );
        let passed = headers(&[("grpc-status", "0")]);
        assert_eq!(with_grpc_status(ok, true, &grpc, &passed), ok);
        let error = Outcome::Answered(503);
        assert_eq!(
            with_grpc_status(error, true, &grpc, &failed),
            error,
            "only 2xx"
        );
        assert_eq!(
            Counter::from(Outcome::GrpcError(13)),
            Counter::ResponsesGrpcError
        );
    }
}
