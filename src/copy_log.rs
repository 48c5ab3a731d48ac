//! A log line per copy (a target's `copy_log`): the access log Envoy cannot give for the
//! copies a filter dispatches (docs/copies.md). One JSON line per copy's outcome, within a
//! budget of lines per minute per worker; what the budget cuts is announced, with its count,
//! before the next line written. A line holds names, numbers and ids, never a header's or a
//! body's value.

use serde_json::json;
use std::cell::Cell;

const MINUTE_NS: u64 = 60_000_000_000;

/// What a copy's line says about the request, shared by the request's copies to one target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyRecord {
    pub endpoint: String,
    pub method: String,
    pub request_bytes: usize,
    pub x_request_id: Option<String>,
    pub trace_id: Option<String>,
}

/// How one copy ended, for its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyEnd<'a> {
    /// The result counter's name (`responses_2xx`, ..., `timed_out`, `failed`).
    pub outcome: &'a str,
    /// The response's `:status`, when there was a response.
    pub status: Option<u16>,
    pub duration_ms: u64,
    pub response_bytes: usize,
}

/// An `x-request-id` as an id: up to 128 characters of letters, digits, `-`, `_`, `.` and `:`
/// (UUIDs and the common formats). Anything else is not logged.
pub fn request_id(value: &str) -> Option<&str> {
    let id_char = |c: char| c.is_ascii_alphanumeric() || "-_.:".contains(c);
    (!value.is_empty() && value.len() <= 128 && value.chars().all(id_char)).then_some(value)
}

/// One target's lines on one worker: at most `per_minute` in each minute.
#[derive(Debug, Default)]
pub struct CopyLog {
    per_minute: u32,
    window_start_ns: Cell<u64>,
    written: Cell<u32>,
    suppressed: Cell<u64>,
}

impl CopyLog {
    pub fn new(per_minute: u32) -> CopyLog {
        CopyLog {
            per_minute,
            ..CopyLog::default()
        }
    }

    pub fn enabled(&self) -> bool {
        self.per_minute > 0
    }

    /// The lines to write for one copy's outcome at `now`: none when the budget is spent (the
    /// copy is counted as suppressed), else the suppressed count's line first if any.
    pub fn lines(&self, target: &str, now: u64, record: &CopyRecord, end: CopyEnd) -> Vec<String> {
        if !self.enabled() {
            return Vec::new();
        }
        if now.saturating_sub(self.window_start_ns.get()) >= MINUTE_NS {
            self.window_start_ns.set(now);
            self.written.set(0);
        }
        if self.written.get() >= self.per_minute {
            self.suppressed.set(self.suppressed.get().saturating_add(1));
            return Vec::new();
        }
        self.written.set(self.written.get() + 1);
        let mut lines = Vec::with_capacity(2);
        let suppressed = self.suppressed.take();
        if suppressed > 0 {
            lines.push(
                json!({"mirror_copy_suppressed": {"target": target, "count": suppressed}})
                    .to_string(),
            );
        }
        lines.push(
            json!({"mirror_copy": {
                "target": target,
                "endpoint": record.endpoint,
                "method": record.method,
                "outcome": end.outcome,
                "status": end.status,
                "duration_ms": end.duration_ms,
                "request_bytes": record.request_bytes,
                "response_bytes": end.response_bytes,
                "x_request_id": record.x_request_id,
                "trace_id": record.trace_id,
            }})
            .to_string(),
        );
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn record() -> CopyRecord {
        CopyRecord {
            endpoint: "GET /users/{}".into(),
            method: "GET".into(),
            request_bytes: 12,
            x_request_id: Some("4f1c-aa".into()),
            trace_id: None,
        }
    }

    const END: CopyEnd = CopyEnd {
        outcome: "responses_2xx",
        status: Some(200),
        duration_ms: 7,
        response_bytes: 30,
    };

    #[test]
    fn a_line_holds_the_documented_fields() {
        let log = CopyLog::new(10);
        let lines = log.lines("canary", 1, &record(), END);
        let line: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(
            line,
            json!({"mirror_copy": {"target": "canary", "endpoint": "GET /users/{}", "method": "GET",
                "outcome": "responses_2xx", "status": 200, "duration_ms": 7, "request_bytes": 12,
                "response_bytes": 30, "x_request_id": "4f1c-aa", "trace_id": null}})
        );
        assert!(CopyLog::new(0).lines("c", 1, &record(), END).is_empty());
    }

    #[test]
    fn the_budget_cuts_and_the_next_line_tells_how_many() {
        let log = CopyLog::new(2);
        let start = 5 * MINUTE_NS;
        let written: Vec<usize> = (0..5)
            .map(|i| log.lines("c", start + i, &record(), END).len())
            .collect();
        assert_eq!(written, [1, 1, 0, 0, 0]);
        let next = log.lines("c", start + MINUTE_NS, &record(), END);
        assert_eq!(next.len(), 2);
        assert_eq!(
            serde_json::from_str::<Value>(&next[0]).unwrap(),
            json!({"mirror_copy_suppressed": {"target": "c", "count": 3}})
        );
        assert!(next[1].starts_with("{\"mirror_copy\":"));
        assert_eq!(
            log.lines("c", start + MINUTE_NS + 1, &record(), END).len(),
            1
        );
    }

    #[test]
    fn only_an_id_like_request_id_is_logged() {
        assert_eq!(request_id("0f8e-11:ab_c.d"), Some("0f8e-11:ab_c.d"));
        for hostile in ["", "a b", "a\"}", "a\nb", &"a".repeat(129), "é"] {
            assert_eq!(request_id(hostile), None, "{hostile:?}");
        }
    }
}
