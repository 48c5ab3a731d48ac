//! What comparisons tell an operator: counts per window, the periodic summary line with the
//! paths that differed most often (Diffy's rule applied against the noise baseline), and the
//! mismatch log line, within its per-minute budget. Lines never carry a header or body value:
//! those may be secrets. Everything is per target and per worker.

use super::accounting::Counted;
use super::pairing::{Resolution, Resolved, Skipped};
use super::request::RequestInfo;
use super::response::NotCompared;
use super::spec::CompareSpec;
use super::verdict::Verdict;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::rc::Rc;

/// Differing paths a mismatch line names.
pub const MAX_LOGGED_PATHS: usize = 10;
/// Paths the summary names.
pub const MAX_SUMMARY_PATHS: usize = 10;
/// Distinct paths counted per window; differences at further paths are counted together
/// (`other_paths`), so a body with ever-new keys cannot grow the window.
pub const MAX_WINDOW_PATHS: usize = 256;
/// Endpoints the summary lists (those with the most mismatches); the rest are counted in
/// `endpoints_not_listed`.
pub const MAX_SUMMARY_ENDPOINTS: usize = 32;
/// Fields listed per endpoint in the summary (those that differed most often); the rest are
/// counted in the endpoint's `fields_not_listed`.
pub const MAX_SUMMARY_FIELDS: usize = 16;
/// Example `x-request-id`s kept per field and window.
pub const MAX_EXAMPLES: usize = 3;
/// An example `x-request-id` longer than this is cut.
pub const MAX_EXAMPLE_CHARS: usize = 64;
const MINUTE_NS: u64 = 60_000_000_000;

/// Counts of one window.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Counts {
    matched: u64,
    mismatched: u64,
    mismatched_status: u64,
    mismatched_headers: u64,
    mismatched_body: u64,
    skipped_incomplete: u64,
    skipped_expired: u64,
    skipped_no_answer: u64,
    skipped_full: u64,
    body_not_compared_too_large: u64,
    body_not_compared_encoding: u64,
    compared_without_reference: u64,
    noise_fields: u64,
    lines_suppressed: u64,
}

impl Counts {
    /// Comparisons started in the window: each ends in exactly one of these.
    fn started(&self) -> u64 {
        self.matched
            + self.mismatched
            + self.skipped_incomplete
            + self.skipped_expired
            + self.skipped_no_answer
            + self.skipped_full
    }
}

/// Per path: how often the candidate differed from the reference (noise or not), and how
/// often the reference differed from the noise baseline.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct PathCounts {
    raw: u64,
    noise: u64,
}

/// One field of an endpoint in the window.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct FieldWindow {
    counts: PathCounts,
    /// `x-request-id`s of requests where it differed (candidate vs reference).
    examples: Vec<String>,
}

/// One endpoint in the window. Its names (and fields') are those the accounting admitted, so
/// the window holds at most as many as the Envoy's series.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct EndpointWindow {
    compared: u64,
    mismatched: u64,
    /// At most the endpoint's admitted fields and `other`: a short list.
    fields: Vec<(Rc<str>, FieldWindow)>,
}

/// One candidate target's report.
#[derive(Debug)]
pub struct TargetReport {
    window_start_ns: u64,
    counts: Counts,
    endpoints: HashMap<Rc<str>, EndpointWindow>,
    paths: HashMap<String, PathCounts>,
    other_paths: u64,
    minute_start_ns: u64,
    lines_this_minute: u32,
}

impl TargetReport {
    pub fn new(now_ns: u64) -> TargetReport {
        TargetReport {
            window_start_ns: now_ns,
            counts: Counts::default(),
            endpoints: HashMap::new(),
            paths: HashMap::new(),
            other_paths: 0,
            minute_start_ns: now_ns,
            lines_this_minute: 0,
        }
    }

    /// Whether the current window has counts (a summary will be due).
    pub fn has_counts(&self) -> bool {
        self.counts != Counts::default()
    }

    /// Counts an ended comparison; returns the mismatch log line (`warn` level) if it was a
    /// mismatch and the minute's budget allows one.
    pub fn record(
        &mut self,
        spec: &CompareSpec,
        target: &str,
        resolved: &Resolved,
        now_ns: u64,
    ) -> Option<String> {
        let c = &mut self.counts;
        let (verdict, without_reference) = match &resolved.outcome {
            Resolution::Skipped(why) => {
                *match why {
                    Skipped::Incomplete => &mut c.skipped_incomplete,
                    Skipped::Expired => &mut c.skipped_expired,
                    Skipped::NoAnswer => &mut c.skipped_no_answer,
                    Skipped::Full => &mut c.skipped_full,
                } += 1;
                return None;
            }
            Resolution::Compared {
                verdict,
                without_reference,
            } => (verdict, *without_reference),
        };
        let aspects = verdict.mismatched;
        c.matched += u64::from(verdict.matched());
        c.mismatched += u64::from(!verdict.matched());
        c.mismatched_status += u64::from(aspects.status);
        c.mismatched_headers += u64::from(aspects.headers);
        c.mismatched_body += u64::from(aspects.body);
        c.compared_without_reference += u64::from(without_reference);
        c.noise_fields += u64::from(verdict.noise_fields());
        match verdict.body_not_compared {
            Some(NotCompared::TooLarge) => c.body_not_compared_too_large += 1,
            Some(NotCompared::Encoding) => c.body_not_compared_encoding += 1,
            None => {}
        }
        for (path, _) in &verdict.body.paths {
            self.count_path(path, |counts| counts.raw += 1);
        }
        for path in &verdict.baseline_paths {
            self.count_path(path, |counts| counts.noise += 1);
        }
        if verdict.matched() {
            return None;
        }
        if !self.within_budget(spec.log_mismatches_per_minute, now_ns) {
            self.counts.lines_suppressed += 1;
            return None;
        }
        Some(mismatch_line(
            spec,
            target,
            &resolved.request,
            resolved.target,
            verdict,
        ))
    }

    /// Counts a compared request under its endpoint and fields, as the accounting admitted
    /// them, keeping a few example request ids per field.
    pub fn record_endpoint(&mut self, counted: &Counted, matched: bool, request_id: Option<&str>) {
        let endpoint = self
            .endpoints
            .entry(Rc::clone(&counted.endpoint))
            .or_default();
        endpoint.compared += 1;
        endpoint.mismatched += u64::from(!matched);
        for change in &counted.fields {
            let at = match endpoint.fields.iter().position(|(f, _)| *f == change.field) {
                Some(at) => at,
                None => {
                    let field = (Rc::clone(&change.field), FieldWindow::default());
                    endpoint.fields.push(field);
                    endpoint.fields.len() - 1
                }
            };
            let Some((_, field)) = endpoint.fields.get_mut(at) else {
                continue;
            };
            field.counts.raw += u64::from(change.differed);
            field.counts.noise += u64::from(change.noise);
            if let (true, Some(id)) = (change.differed, request_id) {
                if field.examples.len() < MAX_EXAMPLES {
                    field
                        .examples
                        .push(id.chars().take(MAX_EXAMPLE_CHARS).collect());
                }
            }
        }
    }

    fn count_path(&mut self, path: &str, add: impl FnOnce(&mut PathCounts)) {
        if let Some(counts) = self.paths.get_mut(path) {
            add(counts);
        } else if self.paths.len() < MAX_WINDOW_PATHS {
            let mut counts = PathCounts::default();
            add(&mut counts);
            self.paths.insert(path.to_string(), counts);
        } else {
            self.other_paths += 1;
        }
    }

    /// A fixed one-minute window: at most `per_minute` lines in each.
    fn within_budget(&mut self, per_minute: u32, now_ns: u64) -> bool {
        if now_ns.saturating_sub(self.minute_start_ns) >= MINUTE_NS {
            self.minute_start_ns = now_ns;
            self.lines_this_minute = 0;
        }
        if self.lines_this_minute >= per_minute {
            return false;
        }
        self.lines_this_minute += 1;
        true
    }

    /// When the next summary is due: `None` while the window holds no comparison (an empty
    /// window writes nothing) or summaries are off.
    pub fn summary_due_ns(&self, spec: &CompareSpec) -> Option<u64> {
        let interval = u64::try_from(spec.summary_interval?.as_nanos()).unwrap_or(u64::MAX);
        (self.counts.started() > 0).then(|| self.window_start_ns.saturating_add(interval))
    }

    /// The summary line (`info` level) when `summary_interval_s` has passed since the window
    /// began and there were comparisons in it; each call past the interval starts a new window.
    pub fn summary(&mut self, spec: &CompareSpec, target: &str, now_ns: u64) -> Option<String> {
        let interval = spec.summary_interval?;
        let elapsed = now_ns.saturating_sub(self.window_start_ns);
        if u128::from(elapsed) < interval.as_nanos() {
            return None;
        }
        let counts = std::mem::take(&mut self.counts);
        let paths = std::mem::take(&mut self.paths);
        let endpoints = std::mem::take(&mut self.endpoints);
        let other_paths = std::mem::take(&mut self.other_paths);
        self.window_start_ns = now_ns;
        let c = &counts;
        if c.started() == 0 {
            return None;
        }
        let compared = c.matched + c.mismatched;
        let top = top_paths(spec, &paths, compared);
        let (endpoints, endpoints_not_listed) = endpoint_table(spec, endpoints);
        let line = json!({
            "compare_summary": {
                "target": target,
                "window_s": elapsed / 1_000_000_000,
                "compared": compared,
                "matched": c.matched,
                "mismatched": c.mismatched,
                "mismatched_status": c.mismatched_status,
                "mismatched_headers": c.mismatched_headers,
                "mismatched_body": c.mismatched_body,
                "compare_skipped_incomplete": c.skipped_incomplete,
                "compare_skipped_expired": c.skipped_expired,
                "compare_skipped_no_answer": c.skipped_no_answer,
                "compare_skipped_full": c.skipped_full,
                "body_not_compared_too_large": c.body_not_compared_too_large,
                "body_not_compared_encoding": c.body_not_compared_encoding,
                "compared_without_reference": c.compared_without_reference,
                "noise_fields": c.noise_fields,
                "mismatch_lines_suppressed": c.lines_suppressed,
                "differing_paths": top,
                "other_paths": other_paths,
                "endpoints": endpoints,
                "endpoints_not_listed": endpoints_not_listed,
            }
        });
        Some(line.to_string())
    }
}

/// The paths that differed most often (ties by name), those that are noise by Diffy's rule
/// left out when there is a noise baseline.
fn top_paths(spec: &CompareSpec, paths: &HashMap<String, PathCounts>, compared: u64) -> Vec<Value> {
    let mut listed: Vec<(&String, &PathCounts)> = paths
        .iter()
        .filter(|(_, counts)| counts.raw > 0)
        .filter(|(_, counts)| {
            spec.noise_baseline.is_none() || significant(spec, **counts, compared)
        })
        .collect();
    listed.sort_by(|(a, x), (b, y)| y.raw.cmp(&x.raw).then_with(|| a.cmp(b)));
    listed
        .into_iter()
        .take(MAX_SUMMARY_PATHS)
        .map(|(path, counts)| {
            if spec.noise_baseline.is_some() {
                json!({"path": path, "differed": counts.raw, "noise": counts.noise})
            } else {
                json!({"path": path, "differed": counts.raw})
            }
        })
        .collect()
}

/// Sorts a short list (at most the admitted endpoints or fields, once per summary): std's
/// sorts weighed some 12 KB of the module for these two lists.
fn insertion_sort<T>(items: &mut [T], order: impl Fn(&T, &T) -> std::cmp::Ordering) {
    for end in 1..items.len() {
        let mut at = end;
        while at > 0 {
            let (Some(before), Some(item)) = (items.get(at - 1), items.get(at)) else {
                break;
            };
            if order(before, item) != std::cmp::Ordering::Greater {
                break;
            }
            items.swap(at - 1, at);
            at -= 1;
        }
    }
}

/// The summary's endpoints, most mismatches first (ties by name), each with its fields, most
/// differences first, and whether each passes Diffy's rule against its noise; and how many
/// endpoints were left out.
fn endpoint_table(
    spec: &CompareSpec,
    endpoints: HashMap<Rc<str>, EndpointWindow>,
) -> (Vec<Value>, usize) {
    let mut listed: Vec<(Rc<str>, EndpointWindow)> = endpoints.into_iter().collect();
    insertion_sort(&mut listed, |(a, x), (b, y)| {
        y.mismatched.cmp(&x.mismatched).then_with(|| a.cmp(b))
    });
    let not_listed = listed.len().saturating_sub(MAX_SUMMARY_ENDPOINTS);
    let table = listed
        .into_iter()
        .take(MAX_SUMMARY_ENDPOINTS)
        .map(|(endpoint, window)| {
            let mut fields = window.fields;
            insertion_sort(&mut fields, |(a, x), (b, y)| {
                (y.counts.raw, y.counts.noise)
                    .cmp(&(x.counts.raw, x.counts.noise))
                    .then_with(|| a.cmp(b))
            });
            let fields_not_listed = fields.len().saturating_sub(MAX_SUMMARY_FIELDS);
            let fields: Vec<Value> = fields
                .into_iter()
                .take(MAX_SUMMARY_FIELDS)
                .map(|(field, f)| {
                    json!({
                        "field": &*field,
                        "differed": f.counts.raw,
                        "noise": f.counts.noise,
                        "passes": !significant(spec, f.counts, window.compared),
                        "examples": f.examples,
                    })
                })
                .collect();
            json!({
                "endpoint": &*endpoint,
                "compared": window.compared,
                "mismatched": window.mismatched,
                "fields": fields,
                "fields_not_listed": fields_not_listed,
            })
        })
        .collect();
    (table, not_listed)
}

/// Diffy's rule: the candidate's difference rate at a path exceeds the noise rate there, by
/// more than `noise_relative_threshold` (|raw - noise| / (raw + noise)) and
/// `noise_absolute_threshold` (|raw - noise| / compared), both in percent.
fn significant(spec: &CompareSpec, counts: PathCounts, compared: u64) -> bool {
    let difference = counts.raw.abs_diff(counts.noise) as f64;
    let total = (counts.raw + counts.noise) as f64;
    if total == 0.0 || compared == 0 {
        return false;
    }
    let relative = 100.0 * difference / total;
    let absolute = 100.0 * difference / compared as f64;
    relative > spec.noise_relative_threshold && absolute > spec.noise_absolute_threshold
}

/// The mismatch line: which request and endpoint, which aspects, headers and paths (the first
/// `MAX_LOGGED_PATHS`, and how many there were); never a value.
fn mismatch_line(
    spec: &CompareSpec,
    target: &str,
    request: &RequestInfo,
    index: usize,
    verdict: &Verdict,
) -> String {
    let paths: Vec<&str> = verdict.body.real_paths().take(MAX_LOGGED_PATHS).collect();
    let headers: Vec<&str> = spec
        .headers
        .iter()
        .enumerate()
        .take(32)
        .filter(|(bit, _)| verdict.differing_headers & (1 << bit) != 0)
        .map(|(_, name)| name.as_str())
        .collect();
    json!({
        "compare_mismatch": {
            "target": target,
            "endpoint": request.endpoint(index),
            "x_request_id": request.request_id(),
            "method": request.method(),
            "path": request.path(),
            "status": verdict.candidate_status,
            "reference_status": verdict.reference_status,
            "aspects": verdict.mismatched.names(),
            "headers": headers,
            "json_paths": paths,
            "json_paths_total": verdict.body.real,
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::json::Differences;
    use crate::compare::request::MAX_LOGGED_REQUEST_PATH;
    use crate::compare::verdict::Aspects;
    use crate::endpoints::{Endpoints, Template};
    use std::rc::Rc;
    use std::time::Duration;

    const SECOND: u64 = 1_000_000_000;

    fn spec() -> CompareSpec {
        CompareSpec {
            log_mismatches_per_minute: 3,
            summary_interval: Some(Duration::from_secs(10)),
            ..CompareSpec::new()
        }
    }

    fn verdict(aspects: Aspects, paths: &[(&str, bool)], baseline: &[&str]) -> Verdict {
        Verdict {
            mismatched: aspects,
            body_not_compared: None,
            body: Differences {
                paths: paths.iter().map(|(p, n)| (p.to_string(), *n)).collect(),
                real: paths.iter().filter(|(_, n)| !n).count() as u32,
                noise: paths.iter().filter(|(_, n)| *n).count() as u32,
            },
            baseline_paths: baseline.iter().map(|p| p.to_string()).collect(),
            baseline_differences: baseline.len() as u32,
            differing_headers: 0,
            baseline_status: false,
            baseline_headers: 0,
            candidate_status: Some(500),
            reference_status: Some(200),
        }
    }

    fn compared(verdict: Verdict) -> Resolved {
        Resolved {
            id: 1,
            target: 0,
            outcome: Resolution::Compared {
                verdict,
                without_reference: false,
            },
            request: Rc::new(RequestInfo::new(
                Some("req-42"),
                "POST",
                "/pay?card=REDACTED",
            )),
        }
    }

    fn body_mismatch(paths: &[&str]) -> Resolved {
        let listed: Vec<(&str, bool)> = paths.iter().map(|p| (*p, false)).collect();
        compared(verdict(
            Aspects {
                body: true,
                ..Aspects::default()
            },
            &listed,
            &[],
        ))
    }

    fn skipped(why: Skipped) -> Resolved {
        Resolved {
            outcome: Resolution::Skipped(why),
            ..compared(verdict(Aspects::default(), &[], &[]))
        }
    }

    fn summary_json(report: &mut TargetReport, spec: &CompareSpec, now: u64) -> Value {
        let line = report.summary(spec, "canary", now).expect("a summary");
        serde_json::from_str::<Value>(&line).unwrap()["compare_summary"].clone()
    }

    #[test]
    fn the_mismatch_line_names_the_request_and_paths_but_no_value() {
        let mut report = TargetReport::new(0);
        let paths: Vec<String> = (0..15).map(|i| format!("items.{i}.price")).collect();
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let mut mismatch = body_mismatch(&refs);
        let Resolution::Compared { verdict: v, .. } = &mut mismatch.outcome else {
            unreachable!()
        };
        v.mismatched.headers = true;
        v.differing_headers = 0b10;
        let mut request = (*mismatch.request).clone();
        let pay = Endpoints::new(vec![Template::parse("POST /pay").unwrap()]);
        request.add_endpoint(0, &pay, "POST", "/pay?card=REDACTED");
        mismatch.request = Rc::new(request);
        let with_headers = CompareSpec {
            headers: vec!["etag".into(), "content-type".into()],
            ..spec()
        };
        let line = report
            .record(&with_headers, "canary", &mismatch, 0)
            .unwrap();
        let value: Value = serde_json::from_str(&line).unwrap();
        let m = &value["compare_mismatch"];
        assert_eq!(m["target"], "canary");
        assert_eq!(m["x_request_id"], "req-42");
        assert_eq!(
            (m["method"].as_str(), m["path"].as_str()),
            (Some("POST"), Some("/pay?card={}")),
            "query values are data, whether redacted or not"
        );
        assert_eq!(
            (m["status"].as_u64(), m["reference_status"].as_u64()),
            (Some(500), Some(200))
        );
        assert_eq!(m["aspects"], json!(["headers", "body"]));
        assert_eq!(m["endpoint"], "POST /pay");
        assert_eq!(m["headers"], json!(["content-type"]), "names, never values");
        assert_eq!(m["json_paths"].as_array().unwrap().len(), MAX_LOGGED_PATHS);
        assert_eq!(m["json_paths"][0], "items.0.price");
        assert_eq!(m["json_paths_total"], 15, "no silent cut");
        assert_eq!(
            m.as_object().unwrap().len(),
            11,
            "nothing else: no header or body value"
        );
        assert!(
            report
                .record(
                    &spec(),
                    "canary",
                    &compared(verdict(Aspects::default(), &[], &[])),
                    0
                )
                .is_none(),
            "a match logs nothing"
        );
    }

    fn counted(endpoint: &str, fields: &[(&str, bool, bool)]) -> Counted {
        Counted {
            endpoint: Rc::from(endpoint),
            fields: fields
                .iter()
                .map(
                    |(field, differed, noise)| crate::compare::accounting::FieldChange {
                        field: Rc::from(*field),
                        differed: *differed,
                        noise: *noise,
                    },
                )
                .collect(),
        }
    }

    #[test]
    fn the_summary_lists_each_endpoint_with_its_fields_noise_and_examples() {
        let s = CompareSpec {
            noise_baseline: Some(2),
            ..spec()
        };
        let mut report = TargetReport::new(0);
        report.record(&s, "canary", &body_mismatch(&["price"]), SECOND);
        for i in 0..5 {
            let id = format!("req-{i}");
            let fields = [("$.price", true, false), ("$.ts", true, true)];
            report.record_endpoint(&counted("GET /users/{}", &fields), false, Some(&id));
        }
        for _ in 0..95 {
            report.record_endpoint(
                &counted("GET /users/{}", &[("$.ts", true, true)]),
                true,
                None,
            );
        }
        report.record_endpoint(&counted("GET /health", &[]), true, Some("req-h"));
        let summary = summary_json(&mut report, &s, 10 * SECOND);
        let endpoints = summary["endpoints"].as_array().unwrap();
        assert_eq!(endpoints.len(), 2);
        let users = &endpoints[0];
        assert_eq!(users["endpoint"], "GET /users/{}");
        assert_eq!(
            (users["compared"].as_u64(), users["mismatched"].as_u64()),
            (Some(100), Some(5))
        );
        assert_eq!(
            users["fields"],
            json!([
                {"field": "$.ts", "differed": 100, "noise": 100, "passes": true,
                 "examples": ["req-0", "req-1", "req-2"]},
                {"field": "$.price", "differed": 5, "noise": 0, "passes": false,
                 "examples": ["req-0", "req-1", "req-2"]},
            ])
        );
        assert_eq!(endpoints[1]["fields"], json!([]));
        assert_eq!(summary["endpoints_not_listed"], 0);
        let next = report.summary(&s, "canary", 100 * SECOND);
        assert!(next.is_none(), "a new window starts empty");
    }

    #[test]
    fn the_summary_lists_a_bounded_number_of_endpoints_and_says_how_many_are_left_out() {
        let s = spec();
        let mut report = TargetReport::new(0);
        report.record(&s, "canary", &body_mismatch(&["a"]), SECOND);
        for e in 0..MAX_SUMMARY_ENDPOINTS + 5 {
            let fields: Vec<String> = (0..MAX_SUMMARY_FIELDS + 2)
                .map(|f| format!("$.f{f}"))
                .collect();
            let listed: Vec<(&str, bool, bool)> =
                fields.iter().map(|f| (f.as_str(), true, false)).collect();
            let id = "x".repeat(500);
            report.record_endpoint(&counted(&format!("GET /e{e}"), &listed), false, Some(&id));
        }
        let summary = summary_json(&mut report, &s, 10 * SECOND);
        assert_eq!(
            summary["endpoints"].as_array().unwrap().len(),
            MAX_SUMMARY_ENDPOINTS
        );
        assert_eq!(summary["endpoints_not_listed"], 5);
        let first = &summary["endpoints"][0];
        assert_eq!(
            first["fields"].as_array().unwrap().len(),
            MAX_SUMMARY_FIELDS
        );
        assert_eq!(first["fields_not_listed"], 2);
        let example = first["fields"][0]["examples"][0].as_str().unwrap();
        assert_eq!(example.len(), MAX_EXAMPLE_CHARS, "a long id is cut");
    }

    #[test]
    fn mismatch_lines_keep_to_the_budget_per_minute() {
        let mut report = TargetReport::new(0);
        let s = spec();
        let lines = |report: &mut TargetReport, at: u64| {
            (0..5)
                .filter(|_| report.record(&s, "c", &body_mismatch(&["a"]), at).is_some())
                .count()
        };
        assert_eq!(lines(&mut report, SECOND), 3);
        assert_eq!(lines(&mut report, 59 * SECOND), 0, "same minute");
        assert_eq!(lines(&mut report, 61 * SECOND), 3, "a new minute");
        let none = CompareSpec {
            log_mismatches_per_minute: 0,
            ..spec()
        };
        assert_eq!(
            (0..5)
                .filter(|_| report
                    .record(&none, "c", &body_mismatch(&["a"]), 999 * SECOND)
                    .is_some())
                .count(),
            0
        );
        let summary = summary_json(&mut report, &s, 1000 * SECOND);
        assert_eq!(summary["mismatch_lines_suppressed"], 2 + 5 + 2 + 5);
    }

    #[test]
    fn the_summary_counts_the_window_and_names_the_most_frequent_paths() {
        let s = spec();
        let mut report = TargetReport::new(0);
        for _ in 0..3 {
            report.record(
                &s,
                "canary",
                &body_mismatch(&["price", "items.0.id"]),
                SECOND,
            );
        }
        report.record(&s, "canary", &body_mismatch(&["price"]), SECOND);
        report.record(&s, "canary", &body_mismatch(&["b"]), SECOND);
        report.record(
            &s,
            "canary",
            &compared(verdict(
                Aspects {
                    status: true,
                    ..Aspects::default()
                },
                &[],
                &[],
            )),
            SECOND,
        );
        report.record(
            &s,
            "canary",
            &compared(verdict(Aspects::default(), &[], &[])),
            SECOND,
        );
        report.record(&s, "canary", &skipped(Skipped::Expired), SECOND);
        report.record(&s, "canary", &skipped(Skipped::Incomplete), SECOND);
        assert_eq!(report.summary_due_ns(&s), Some(10 * SECOND));
        assert_eq!(
            report.summary(&s, "canary", 9 * SECOND),
            None,
            "the interval has not passed"
        );
        let summary = summary_json(&mut report, &s, 10 * SECOND);
        assert_eq!(summary["target"], "canary");
        assert_eq!(summary["window_s"], 10);
        assert_eq!(
            (summary["compared"].as_u64(), summary["matched"].as_u64()),
            (Some(7), Some(1))
        );
        assert_eq!(
            (
                summary["mismatched"].as_u64(),
                summary["mismatched_body"].as_u64()
            ),
            (Some(6), Some(5))
        );
        assert_eq!(summary["mismatched_status"], 1);
        assert_eq!(
            (
                summary["compare_skipped_expired"].as_u64(),
                summary["compare_skipped_incomplete"].as_u64()
            ),
            (Some(1), Some(1))
        );
        assert_eq!(
            summary["differing_paths"],
            json!([{"path": "price", "differed": 4}, {"path": "items.0.id", "differed": 3}, {"path": "b", "differed": 1}])
        );
        assert_eq!(report.summary_due_ns(&s), None, "nothing in the new window");
        assert_eq!(
            report.summary(&s, "canary", 25 * SECOND),
            None,
            "an empty window says nothing"
        );
        let off = CompareSpec {
            summary_interval: None,
            ..spec()
        };
        report.record(&off, "canary", &body_mismatch(&["a"]), 30 * SECOND);
        assert_eq!(report.summary(&off, "canary", 1000 * SECOND), None);
    }

    #[test]
    fn with_a_noise_baseline_only_paths_beyond_the_noise_are_reported() {
        let s = CompareSpec {
            noise_baseline: Some(2),
            ..spec()
        };
        let mut report = TargetReport::new(0);
        for i in 0..100 {
            // `ts` differs everywhere, always as noise; `flaky` is noisy one time in ten but
            // differs for the candidate half the time; `price` differs for the candidate only.
            let mut paths = vec![("ts", true)];
            let mut baseline = vec!["ts"];
            if i % 10 == 0 {
                baseline.push("flaky");
            }
            if i % 2 == 0 {
                paths.push(("flaky", i % 10 == 0));
            }
            if i < 5 {
                paths.push(("price", false));
            }
            let aspects = Aspects {
                body: paths.iter().any(|(_, noise)| !noise),
                ..Aspects::default()
            };
            report.record(
                &s,
                "canary",
                &compared(verdict(aspects, &paths, &baseline)),
                SECOND,
            );
        }
        let summary = summary_json(&mut report, &s, 10 * SECOND);
        assert_eq!(
            summary["differing_paths"],
            json!([{"path": "flaky", "differed": 50, "noise": 10}, {"path": "price", "differed": 5, "noise": 0}])
        );
        assert_eq!(summary["noise_fields"], 110);
        // The absolute threshold: 5 of 100 is 5%; at 6% `price` is not named.
        let strict = CompareSpec {
            noise_absolute_threshold: 6.0,
            ..s.clone()
        };
        let mut report = TargetReport::new(0);
        for i in 0..100 {
            let paths: &[(&str, bool)] = if i < 5 { &[("price", false)] } else { &[] };
            report.record(
                &strict,
                "c",
                &compared(verdict(Aspects::default(), paths, &[])),
                SECOND,
            );
        }
        assert_eq!(
            summary_json(&mut report, &strict, 10 * SECOND)["differing_paths"],
            json!([])
        );
    }

    #[test]
    fn the_window_counts_a_bounded_number_of_paths() {
        let s = spec();
        let mut report = TargetReport::new(0);
        for i in 0..MAX_WINDOW_PATHS + 50 {
            report.record(&s, "c", &body_mismatch(&[&format!("k{i}")]), SECOND);
        }
        assert_eq!(report.paths.len(), MAX_WINDOW_PATHS);
        assert_eq!(
            summary_json(&mut report, &s, 10 * SECOND)["other_paths"],
            50
        );
    }

    #[test]
    fn long_request_fields_are_cut() {
        let info = RequestInfo::new(Some(&"i".repeat(1000)), "GET", &"/p".repeat(1000));
        assert_eq!(info.path().chars().count(), MAX_LOGGED_REQUEST_PATH + 3);
        assert!(info.request_id().unwrap().len() < 300);
        assert_eq!(RequestInfo::new(None, "GET", "/é").path(), "/{}");
        assert_eq!(
            RequestInfo::new(None, "GET", "/users/ann@example.com/orders/42").path(),
            "/users/{}/orders/{}"
        );
    }
}
