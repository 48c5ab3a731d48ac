//! Shadow verification: each candidate copy's response compared with the original's (or a
//! reference target's), with the noise a second instance of the current version shows removed.
//!
//! Plain data and functions, no host calls: `spec` (what a target's `compare` block asks for),
//! `response` (what a response is reduced to, as it streams past; `inflate` undoes gzip and
//! deflate), `json` (the structural diff of two JSON bodies), `verdict` (one comparison's
//! result), `pairing` (responses waiting for their counterparts), `report` (counts per window,
//! the summary and mismatch log lines), `metrics` (the counters' names). `Comparator` ties them
//! together for the glue, which only moves data:
//!
//! - HTTP context, request copied to candidates: `Needs::for_original(their specs)`; if some,
//!   a `Capture` fed the response headers, body chunks and trailers; at the end of the stream
//!   its `finish()` goes to the root (`arrive(id, Side::Original, ..)`); `on_done` before that:
//!   `missing(id, Side::Original, Missing::Incomplete)`.
//! - Root, copies dispatched: `start(id, now, timeout, candidates, RequestInfo)`; a refused
//!   dispatch: `missing(id, Side::Target(t), Missing::NoAnswer)`.
//! - Root, a copy's response: `needs(id, Side::Target(t))`; if some, a `Capture` from the call's
//!   headers, body and trailers, then `arrive`; Envoy's own 503/504 or a reset: `missing`.
//! - Root, tick: `tick(now)`; `next_deadline()` says when it is next needed.
//!
//! Every call returns `Effects`: counter increments, `warn` lines, `info` lines.

pub mod inflate;
pub mod json;
mod lockstep;
pub mod metrics;
pub mod pairing;
pub mod report;
pub mod response;
pub mod spec;
pub mod verdict;

use crate::config::Target;
use metrics::CompareCounter;
use pairing::{Candidate, Missing, Pairing, Resolved, Side};
use report::{RequestInfo, TargetReport};
use response::{Needs, Summary};
use spec::CompareSpec;
use std::rc::Rc;

/// What the glue hands to the host after a call: counter increments, `warn` lines (mismatches),
/// `info` lines (summaries).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// (target index, counter, amount).
    pub counts: Vec<(usize, CompareCounter, u64)>,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

/// One worker's shadow verification: the candidates' specs, the pending comparisons and each
/// candidate's report. The root context owns one and calls it; every method is plain data in,
/// `Effects` out.
#[derive(Debug)]
pub struct Comparator {
    /// Per target index: its spec if it is a candidate.
    specs: Vec<Option<Rc<CompareSpec>>>,
    names: Vec<String>,
    pairing: Pairing,
    reports: Vec<Option<TargetReport>>,
}

impl Comparator {
    pub fn new(targets: &[Target], now_ns: u64) -> Comparator {
        Comparator {
            specs: targets
                .iter()
                .map(|t| t.compare.clone().map(Rc::new))
                .collect(),
            names: targets.iter().map(|t| t.name.clone()).collect(),
            pairing: Pairing::default(),
            reports: targets
                .iter()
                .map(|t| t.compare.as_ref().map(|_| TargetReport::new(now_ns)))
                .collect(),
        }
    }

    /// Whether any target is a candidate (if not, nothing here needs calling).
    pub fn is_active(&self) -> bool {
        self.specs.iter().any(Option::is_some)
    }

    /// Whether `target` is a candidate.
    pub fn compares(&self, target: usize) -> bool {
        self.specs.get(target).is_some_and(Option::is_some)
    }

    /// Starts comparisons for request `id`: `candidates` are the candidate targets whose copy
    /// was just dispatched (with `amplify`, once: only the first copy is compared).
    pub fn start(
        &mut self,
        id: u64,
        now_ns: u64,
        timeout_ns: u64,
        candidates: &[usize],
        request: RequestInfo,
    ) -> Effects {
        let candidates: Vec<Candidate> = candidates
            .iter()
            .filter_map(|&target| {
                let spec = self.specs.get(target)?.as_ref()?;
                Some(Candidate {
                    target,
                    spec: Rc::clone(spec),
                })
            })
            .collect();
        let resolved = self
            .pairing
            .start(id, now_ns, timeout_ns, candidates, Rc::new(request));
        self.effects(resolved, now_ns)
    }

    /// What to capture of `side`'s response for request `id`; `None`: nothing (do not read it).
    pub fn needs(&self, id: u64, side: Side) -> Option<Needs> {
        self.pairing.needs(id, side)
    }

    /// `side`'s response for request `id`, complete.
    pub fn arrive(&mut self, id: u64, side: Side, summary: Summary, now_ns: u64) -> Effects {
        let resolved = self.pairing.arrive(id, side, summary, now_ns);
        self.effects(resolved, now_ns)
    }

    /// `side`'s response for request `id` will never come.
    pub fn missing(&mut self, id: u64, side: Side, why: Missing, now_ns: u64) -> Effects {
        let resolved = self.pairing.missing(id, side, why, now_ns);
        self.effects(resolved, now_ns)
    }

    /// Expires what is overdue and writes the summaries that are due. Call it from the tick.
    pub fn tick(&mut self, now_ns: u64) -> Effects {
        let resolved = self.pairing.expire(now_ns);
        let mut effects = self.effects(resolved, now_ns);
        for (target, report) in self.reports.iter_mut().enumerate() {
            let (Some(report), Some(Some(spec))) = (report, self.specs.get(target)) else {
                continue;
            };
            let name = self.names.get(target).map_or("", String::as_str);
            effects.infos.extend(report.summary(spec, name, now_ns));
        }
        effects
    }

    /// When `tick` next has work: the soonest expiry or summary due (`None`: nothing pending,
    /// so the root's timer may stop).
    pub fn next_deadline(&self) -> Option<u64> {
        let summaries = self
            .reports
            .iter()
            .zip(&self.specs)
            .filter_map(|(report, spec)| report.as_ref()?.summary_due_ns(spec.as_ref()?));
        summaries.chain(self.pairing.next_deadline()).min()
    }

    /// Memory held by pending comparisons.
    pub fn bytes_held(&self) -> usize {
        self.pairing.bytes_held()
    }

    fn effects(&mut self, resolved: Vec<Resolved>, now_ns: u64) -> Effects {
        let mut effects = Effects::default();
        for ended in resolved {
            let target = ended.target;
            for (counter, amount) in metrics::counts(&ended.outcome) {
                effects.counts.push((target, counter, amount));
            }
            let (Some(Some(report)), Some(Some(spec))) =
                (self.reports.get_mut(target), self.specs.get(target))
            else {
                continue;
            };
            let name = self.names.get(target).map_or("", String::as_str);
            effects
                .warnings
                .extend(report.record(spec, name, &ended, now_ns));
        }
        effects
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use response::Capture;

    const SECOND: u64 = 1_000_000_000;

    fn comparator(json: &str) -> Comparator {
        let config = Config::parse(json.as_bytes()).unwrap();
        Comparator::new(&config.targets, 0)
    }

    /// A response captured as the comparator asks, the way the glue does it.
    fn response(needs: Needs, status: &str, body: &str) -> Summary {
        let mut capture = Capture::new(needs);
        capture.headers(&[
            (":status".to_string(), status.as_bytes().to_vec()),
            ("content-type".to_string(), b"application/json".to_vec()),
        ]);
        if capture.wants_body() {
            capture.body_chunk(body.as_bytes());
        }
        capture.finish()
    }

    fn request() -> RequestInfo {
        RequestInfo::new(Some("req-9"), "GET", "/items?token=REDACTED")
    }

    fn count(effects: &Effects, counter: CompareCounter) -> u64 {
        effects
            .counts
            .iter()
            .filter(|(_, c, _)| *c == counter)
            .map(|(_, _, n)| n)
            .sum()
    }

    #[test]
    fn a_canary_that_changes_a_field_is_counted_logged_and_summarised() {
        let mut comparator = comparator(
            r#"{"targets": [{"cluster": "canary", "compare": {"body": "json", "summary_interval_s": 10}},
                            {"cluster": "other"}]}"#,
        );
        assert!(comparator.is_active() && comparator.compares(0) && !comparator.compares(1));
        assert!(comparator
            .start(1, 0, SECOND, &[0], request())
            .counts
            .is_empty());
        let needs = comparator.needs(1, Side::Original).unwrap();
        assert_eq!(comparator.needs(1, Side::Target(1)), None);
        let original = response(needs, "200", r#"{"price": 10, "name": "a"}"#);
        assert_eq!(
            comparator.arrive(1, Side::Original, original, 1),
            Effects::default()
        );
        let needs = comparator.needs(1, Side::Target(0)).unwrap();
        let copy = response(needs, "200", r#"{"name": "a", "price": 11}"#);
        let effects = comparator.arrive(1, Side::Target(0), copy, 2);
        assert_eq!(
            effects.counts,
            [
                (0, CompareCounter::Mismatched, 1),
                (0, CompareCounter::MismatchedBody, 1)
            ]
        );
        let [line] = &effects.warnings[..] else {
            panic!("{effects:?}")
        };
        assert!(
            line.contains("\"req-9\"") && line.contains("\"price\""),
            "{line}"
        );
        assert!(
            !line.contains("11") && !line.contains("10,"),
            "no values: {line}"
        );
        assert_eq!(comparator.bytes_held(), 0);
        let summary = comparator.tick(10 * SECOND);
        let [line] = &summary.infos[..] else {
            panic!("{summary:?}")
        };
        assert!(
            line.contains("\"mismatched\":1") && line.contains("\"canary\""),
            "{line}"
        );
    }

    #[test]
    fn a_missing_original_and_an_expired_copy_are_counted_once_each() {
        let mut comparator = comparator(r#"{"targets": [{"cluster": "c", "compare": {}}]}"#);
        comparator.start(1, 0, SECOND, &[0], request());
        comparator.start(2, 0, SECOND, &[0], request());
        let effects = comparator.missing(1, Side::Original, Missing::Incomplete, 5);
        assert_eq!(effects.counts, [(0, CompareCounter::SkippedIncomplete, 1)]);
        assert_eq!(
            comparator.next_deadline(),
            Some(SECOND + pairing::EXPIRY_MARGIN_NS)
        );
        let effects = comparator.tick(3 * SECOND);
        assert_eq!(count(&effects, CompareCounter::SkippedExpired), 1);
        assert_eq!(
            comparator.next_deadline(),
            Some(60 * SECOND),
            "the summary is due"
        );
        assert_eq!(comparator.tick(60 * SECOND).infos.len(), 1);
        assert_eq!(comparator.next_deadline(), None, "nothing left to do");
    }

    #[test]
    fn a_request_without_candidates_starts_nothing() {
        let mut comparator = comparator(r#"{"targets": [{"cluster": "c"}]}"#);
        assert!(!comparator.is_active());
        assert_eq!(
            comparator.start(1, 0, SECOND, &[0], request()),
            Effects::default()
        );
        assert_eq!(comparator.needs(1, Side::Original), None);
    }
}
