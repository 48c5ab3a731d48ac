//! One comparison: the candidate's response summary against the reference's, per the
//! candidate's `compare` block, with the noise baseline's summary when there is one.
//!
//! Status and headers are compared at once; so are bodies whose JSON diff, or whose hashing
//! for an exact comparison, fits in one slice (`begin`'s `inline_bytes`). Larger bodies are
//! diffed or hashed by a `VerdictJob`, a slice per root tick, so that no callback holds the
//! worker for the whole body.

use super::json::{self, DiffJob, Differences, JsonDiff, Unreadable, ROOT_PATH};
use super::response::{Body, NotCompared, Summary};
use super::spec::{BodyMode, CompareSpec};
use crate::slices::Progress;
use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::mem::size_of;
use std::rc::Rc;

/// What differed; a comparison can differ in several aspects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Aspects {
    pub status: bool,
    pub headers: bool,
    pub body: bool,
}

impl Aspects {
    pub fn any(self) -> bool {
        self.status || self.headers || self.body
    }

    /// The names of the aspects that differ, for the log.
    pub fn names(self) -> Vec<&'static str> {
        [
            (self.status, "status"),
            (self.headers, "headers"),
            (self.body, "body"),
        ]
        .into_iter()
        .filter_map(|(differs, name)| differs.then_some(name))
        .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub mismatched: Aspects,
    /// The body was left out (status and headers were compared).
    pub body_not_compared: Option<NotCompared>,
    /// Candidate-vs-reference body differences, noise marked (empty when the body was not
    /// compared or is compared as a whole: then `$` names it).
    pub body: Differences,
    /// Paths where the reference and the noise baseline differ (for the window's noise rate).
    pub baseline_paths: Vec<String>,
    /// How many paths differed between the reference and the noise baseline (more than
    /// `baseline_paths` names when the diff cut them).
    pub baseline_differences: u32,
    /// Bit `i`: `spec.headers[i]` differs between the candidate and the reference.
    pub differing_headers: u32,
    /// The status (or gRPC status) differs between the reference and the noise baseline.
    pub baseline_status: bool,
    /// Bit `i`: `spec.headers[i]` differs between the reference and the noise baseline.
    pub baseline_headers: u32,
    pub candidate_status: Option<u16>,
    pub reference_status: Option<u16>,
}

impl Verdict {
    pub fn matched(&self) -> bool {
        !self.mismatched.any()
    }

    /// Differing paths cancelled as noise.
    pub fn noise_fields(&self) -> u32 {
        self.body.noise
    }
}

/// Compares `candidate` with `reference` as `spec` asks; `noise` is the noise baseline's
/// summary, when the spec names one and its copy was answered.
pub fn compare(
    spec: &CompareSpec,
    candidate: &Summary,
    reference: &Summary,
    noise: Option<&Summary>,
) -> Verdict {
    let verdict = without_body(spec, candidate, reference, noise);
    with_body(verdict, compare_bodies(spec, candidate, reference, noise))
}

/// How a comparison begins: done at once, or its body diff to be made in slices.
pub enum Begun {
    Done(Verdict),
    Sliced(VerdictJob),
}

/// Compares as `compare` does, at once when the JSON bodies to diff, or the bytes to hash,
/// hold at most `inline_bytes` (bodies compared by their captured hash, or not compared,
/// always are); otherwise the status and headers are compared now and the bodies by the job
/// returned.
pub fn begin(
    spec: &Rc<CompareSpec>,
    candidate: &Rc<Summary>,
    reference: &Rc<Summary>,
    noise: Option<&Rc<Summary>>,
    inline_bytes: usize,
) -> Begun {
    let bodies = views(spec, candidate, reference, noise.map(|n| &**n));
    let bytes = |view: View| match view {
        View::Json(bytes) | View::Unhashed(bytes) => bytes.len(),
        View::Hash(_) => 0,
    };
    let work = bodies.map_or(0, |(c, r, n)| bytes(c) + bytes(r) + n.map_or(0, bytes));
    if work <= inline_bytes {
        return Begun::Done(compare(spec, candidate, reference, noise.map(|n| &**n)));
    }
    Begun::Sliced(VerdictJob {
        verdict: without_body(spec, candidate, reference, noise.map(|n| &**n)),
        spec: Rc::clone(spec),
        candidate: Rc::clone(candidate),
        reference: Rc::clone(reference),
        noise: noise.map(Rc::clone),
        diff: DiffJob::new(),
        hashing: Hashing::default(),
    })
}

/// A comparison whose status and headers are compared and whose JSON bodies are diffed (or
/// whose bytes are hashed, for an exact comparison) a slice at a time. It holds the summaries (shared with the pending table while other
/// candidates use them) until it ends.
pub struct VerdictJob {
    spec: Rc<CompareSpec>,
    candidate: Rc<Summary>,
    reference: Rc<Summary>,
    noise: Option<Rc<Summary>>,
    /// Status and headers compared; the body not yet.
    verdict: Verdict,
    diff: DiffJob,
    hashing: Hashing,
}

impl VerdictJob {
    /// At most about `budget` bytes of the diff (or of the hashing); then the verdict, once
    /// it is done.
    pub fn step(&mut self, budget: usize) -> Progress<Verdict> {
        let (spec, noise) = (&*self.spec, self.noise.as_deref());
        let body = match views(spec, &self.candidate, &self.reference, noise) {
            Ok((View::Json(c), View::Json(r), n)) => {
                match self
                    .diff
                    .step(c, r, json(n), &spec.ignore_json_fields, budget)
                {
                    Progress::More => return Progress::More,
                    Progress::Done(diff) => json_outcome(diff),
                }
            }
            Ok(views) => match self.hashing.step(views, budget) {
                Progress::More => return Progress::More,
                Progress::Done(body) => body,
            },
            Err(reason) => Err(reason),
        };
        Progress::Done(with_body(self.verdict.clone(), body))
    }

    /// Memory the job holds (its summaries, counted whole even when shared).
    pub fn bytes_held(&self) -> usize {
        size_of::<VerdictJob>()
            + self.candidate.bytes_held()
            + self.reference.bytes_held()
            + self.noise.as_ref().map_or(0, |n| n.bytes_held())
    }
}

/// The verdict on status and headers, the body not compared yet.
fn without_body(
    spec: &CompareSpec,
    candidate: &Summary,
    reference: &Summary,
    noise: Option<&Summary>,
) -> Verdict {
    let headers = differing_headers(spec, candidate, reference);
    Verdict {
        mismatched: Aspects {
            status: spec.status && statuses_differ(candidate, reference),
            headers: headers != 0,
            body: false,
        },
        body_not_compared: None,
        body: Differences::default(),
        baseline_paths: Vec::new(),
        baseline_differences: 0,
        differing_headers: headers,
        baseline_status: spec.status && noise.is_some_and(|n| statuses_differ(reference, n)),
        baseline_headers: noise.map_or(0, |n| differing_headers(spec, reference, n)),
        candidate_status: candidate.status,
        reference_status: reference.status,
    }
}

/// `verdict` with the body's comparison in.
fn with_body(mut verdict: Verdict, body: Result<JsonDiff, Option<NotCompared>>) -> Verdict {
    match body {
        Ok(diff) => {
            verdict.mismatched.body = diff.candidate.real > 0;
            verdict.body = diff.candidate;
            verdict.baseline_paths = diff.baseline_paths;
            verdict.baseline_differences = diff.baseline_differences;
        }
        Err(reason) => verdict.body_not_compared = reason,
    }
    verdict
}

fn statuses_differ(a: &Summary, b: &Summary) -> bool {
    a.status != b.status || a.grpc_status != b.grpc_status
}

/// Bit `i` set: `spec.headers[i]` differs between `a` and `b` (at most
/// `MAX_COMPARED_HEADERS`, 32, names).
fn differing_headers(spec: &CompareSpec, a: &Summary, b: &Summary) -> u32 {
    spec.headers
        .iter()
        .take(super::spec::MAX_COMPARED_HEADERS)
        .enumerate()
        .filter(|(_, name)| a.header(name) != b.header(name))
        .fold(0, |bits, (i, _)| bits | (1 << i))
}

/// `Err(Some(reason))`: not compared, and counted; `Err(None)`: not compared (mode "none").
fn compare_bodies(
    spec: &CompareSpec,
    candidate: &Summary,
    reference: &Summary,
    noise: Option<&Summary>,
) -> Result<JsonDiff, Option<NotCompared>> {
    match views(spec, candidate, reference, noise)? {
        (View::Json(c), View::Json(r), n) => {
            json_outcome(json::diff(c, r, json(n), &spec.ignore_json_fields))
        }
        views => match Hashing::default().step(views, usize::MAX) {
            Progress::Done(body) => body,
            Progress::More => Err(None),
        },
    }
}

/// The bodies as `spec` compares them: the candidate's, the reference's and the noise
/// baseline's (a baseline whose body cannot be read this way is left out, not held against
/// anyone).
type Views<'a> = (View<'a>, View<'a>, Option<View<'a>>);

fn views<'a>(
    spec: &CompareSpec,
    candidate: &'a Summary,
    reference: &'a Summary,
    noise: Option<&'a Summary>,
) -> Result<Views<'a>, Option<NotCompared>> {
    if spec.body == BodyMode::None {
        return Err(None);
    }
    let c = view(&candidate.body, spec)?;
    let r = view(&reference.body, spec)?;
    Ok((c, r, noise.and_then(|n| view(&n.body, spec).ok())))
}

/// The noise baseline's JSON body, if it has one.
fn json(noise: Option<View<'_>>) -> Option<&[u8]> {
    match noise {
        Some(View::Json(n)) => Some(n),
        _ => None,
    }
}

/// Hashes, for an exact comparison, the bytes captured for a JSON one, a slice at a time:
/// the hasher's state is kept between steps (bytes hashed in pieces hash as in one, as the
/// capture hashes them chunk by chunk: `response::Sink`). Each byte weighs one byte of the
/// budget (tools/callback-cost: about 7.4 units of fuel a byte, 490,000 a slice).
#[derive(Default)]
struct Hashing {
    /// The hashes of the views done (in order: candidate, reference, noise baseline).
    done: Vec<(u64, u64)>,
    /// How far into the next view's bytes.
    at: usize,
    hasher: DefaultHasher,
}

impl Hashing {
    /// Hashes on from where it stopped, at most `budget` bytes; then the comparison of the
    /// hashes, a difference of the whole body.
    fn step(
        &mut self,
        (c, r, n): Views<'_>,
        budget: usize,
    ) -> Progress<Result<JsonDiff, Option<NotCompared>>> {
        let mut left = budget.max(1);
        for view in [Some(c), Some(r), n]
            .into_iter()
            .flatten()
            .skip(self.done.len())
        {
            let bytes = match view {
                View::Hash(hash) => {
                    self.done.push(hash);
                    continue;
                }
                View::Unhashed(bytes) => bytes,
                // Summaries of one spec's needs never mix JSON with the rest; if they did,
                // nothing is certain.
                View::Json(_) => return Progress::Done(Err(None)),
            };
            let end = self.at.saturating_add(left).min(bytes.len());
            self.hasher
                .write(bytes.get(self.at..end).unwrap_or_default());
            left -= end.saturating_sub(self.at);
            if end < bytes.len() {
                self.at = end;
                return Progress::More;
            }
            let hasher = std::mem::take(&mut self.hasher);
            self.done.push((bytes.len() as u64, hasher.finish()));
            self.at = 0;
        }
        let (c, r) = (self.done.first(), self.done.get(1));
        let n = self.done.get(2).map(|n| Some(n) != r);
        Progress::Done(Ok(whole_body_diff(c != r, n)))
    }
}

/// A JSON diff's result as the verdict counts it. (`diff` compares what is not JSON as
/// bytes: only too many values is an error.)
fn json_outcome(diff: Result<JsonDiff, Unreadable>) -> Result<JsonDiff, Option<NotCompared>> {
    diff.map_err(|unreadable| match unreadable {
        Unreadable::TooComplex | Unreadable::NotJson => Some(NotCompared::TooLarge),
    })
}

/// A difference of the whole body, at `$`.
fn whole_body_diff(differs: bool, baseline_differs: Option<bool>) -> JsonDiff {
    let mut diff = JsonDiff::default();
    let noise = baseline_differs.unwrap_or(false);
    if differs {
        diff.candidate.paths.push((ROOT_PATH.to_string(), noise));
        if noise {
            diff.candidate.noise = 1;
        } else {
            diff.candidate.real = 1;
        }
    }
    if noise {
        diff.baseline_paths.push(ROOT_PATH.to_string());
        diff.baseline_differences = 1;
    }
    diff
}

/// A body as the spec compares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View<'a> {
    /// Length and hash.
    Hash((u64, u64)),
    /// Bytes captured for a JSON comparison, compared exactly: hashed (`Hashing`).
    Unhashed(&'a [u8]),
    Json(&'a [u8]),
}

/// The body as `spec` compares it: its own cap applies (a summary may have been captured for
/// several comparisons, with the largest cap), and bytes serve an exact comparison too,
/// hashed as the capture hashes.
fn view<'a>(body: &'a Body, spec: &CompareSpec) -> Result<View<'a>, Option<NotCompared>> {
    let cap = spec.max_body_bytes as u64;
    match body {
        Body::NotCompared(reason) => return Err(Some(*reason)),
        Body::Hash { len, .. } if *len > cap => return Err(Some(NotCompared::TooLarge)),
        Body::Bytes(bytes) if bytes.len() as u64 > cap => return Err(Some(NotCompared::TooLarge)),
        _ => {}
    }
    match (body, spec.body) {
        (Body::Hash { len, hash }, BodyMode::Exact) => Ok(View::Hash((*len, *hash))),
        (Body::Bytes(bytes), BodyMode::Exact) => Ok(View::Unhashed(bytes)),
        (Body::Bytes(bytes), BodyMode::Json) => Ok(View::Json(bytes)),
        _ => Err(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(status: u16, headers: &[(&str, &str)], body: Body) -> Summary {
        Summary {
            status: Some(status),
            grpc_status: None,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), Some(v.as_bytes().to_vec())))
                .collect(),
            body,
        }
    }

    fn json(text: &str) -> Body {
        Body::Bytes(text.as_bytes().to_vec())
    }

    fn json_spec() -> CompareSpec {
        CompareSpec {
            body: BodyMode::Json,
            headers: vec!["content-type".into()],
            ..CompareSpec::new()
        }
    }

    #[test]
    fn equal_responses_match() {
        let a = summary(
            200,
            &[("content-type", "application/json")],
            json(r#"{"a": 1, "b": 2}"#),
        );
        let b = summary(
            200,
            &[("content-type", "application/json")],
            json(r#"{"b":2.0,"a":1}"#),
        );
        let verdict = compare(&json_spec(), &a, &b, None);
        assert!(verdict.matched(), "{verdict:?}");
        assert_eq!(verdict.body_not_compared, None);
    }

    #[test]
    fn each_aspect_is_told_apart() {
        let spec = json_spec();
        let base = summary(
            200,
            &[("content-type", "application/json")],
            json(r#"{"a": 1}"#),
        );
        let status = summary(
            500,
            &[("content-type", "application/json")],
            json(r#"{"a": 1}"#),
        );
        let header = summary(200, &[("content-type", "text/plain")], json(r#"{"a": 1}"#));
        let body = summary(
            200,
            &[("content-type", "application/json")],
            json(r#"{"a": 2}"#),
        );
        let all = summary(404, &[], json(r#"{"a": 2}"#));
        let aspects = |s: &Summary| compare(&spec, s, &base, None).mismatched;
        assert_eq!(
            aspects(&status),
            Aspects {
                status: true,
                ..Aspects::default()
            }
        );
        assert_eq!(
            aspects(&header),
            Aspects {
                headers: true,
                ..Aspects::default()
            }
        );
        assert_eq!(
            aspects(&body),
            Aspects {
                body: true,
                ..Aspects::default()
            }
        );
        assert_eq!(aspects(&all).names(), ["status", "headers", "body"]);
        let verdict = compare(&spec, &body, &base, None);
        assert_eq!(verdict.body.real_paths().collect::<Vec<_>>(), ["a"]);
        assert_eq!(
            (verdict.candidate_status, verdict.reference_status),
            (Some(200), Some(200))
        );
        // Aspects the spec does not ask for are not compared.
        let lenient = CompareSpec {
            status: false,
            headers: vec![],
            body: BodyMode::None,
            ..CompareSpec::new()
        };
        assert!(compare(&lenient, &all, &base, None).matched());
    }

    #[test]
    fn a_grpc_error_under_http_200_is_a_status_mismatch() {
        let ok = Summary {
            grpc_status: Some(0),
            ..summary(200, &[], Body::NotKept)
        };
        let internal = Summary {
            grpc_status: Some(13),
            ..ok.clone()
        };
        let spec = CompareSpec::new();
        assert!(compare(&spec, &internal, &ok, None).mismatched.status);
        assert!(compare(&spec, &ok, &ok.clone(), None).matched());
    }

    #[test]
    fn headers_absent_on_both_sides_are_equal() {
        let spec = CompareSpec {
            headers: vec!["etag".into()],
            ..CompareSpec::new()
        };
        let a = Summary {
            headers: vec![("etag".into(), None)],
            ..summary(200, &[], Body::NotKept)
        };
        assert!(compare(&spec, &a, &a.clone(), None).matched());
        let b = summary(200, &[("etag", "x")], Body::NotKept);
        assert!(compare(&spec, &a, &b, None).mismatched.headers);
    }

    #[test]
    fn bodies_left_out_are_counted_with_their_reason_and_the_rest_compared() {
        let spec = CompareSpec {
            max_body_bytes: 8,
            ..json_spec()
        };
        let small = summary(200, &[], json("{}"));
        let big = summary(200, &[], json(r#"{"long": "value"}"#));
        let verdict = compare(&spec, &big, &small, None);
        assert_eq!(
            verdict.body_not_compared,
            Some(NotCompared::TooLarge),
            "the spec's own cap"
        );
        assert!(verdict.matched());
        let encoded = summary(500, &[], Body::NotCompared(NotCompared::Encoding));
        let verdict = compare(&spec, &small, &encoded, None);
        assert_eq!(verdict.body_not_compared, Some(NotCompared::Encoding));
        assert!(verdict.mismatched.status && !verdict.mismatched.body);
        let many = format!("[{}0]", "0,".repeat(json::MAX_VALUES));
        let complex = summary(200, &[], json(&many));
        let spec = CompareSpec {
            max_body_bytes: 1 << 20,
            ..json_spec()
        };
        let other = summary(200, &[], json(&many.replace("0]", "1]")));
        assert_eq!(
            compare(&spec, &complex, &other, None).body_not_compared,
            Some(NotCompared::TooLarge)
        );
        // Equal bytes need no parsing: equal, whatever their size.
        let verdict = compare(&spec, &complex, &complex.clone(), None);
        assert!(verdict.matched() && verdict.body_not_compared.is_none());
    }

    #[test]
    fn exact_bodies_compare_by_hash_or_by_bytes_captured_for_json() {
        let spec = CompareSpec {
            body: BodyMode::Exact,
            ..CompareSpec::new()
        };
        let hash = |text: &str| {
            let mut hasher = DefaultHasher::new();
            hasher.write(text.as_bytes());
            Body::Hash {
                len: text.len() as u64,
                hash: hasher.finish(),
            }
        };
        let a = summary(200, &[], hash("{\"a\":1}"));
        let same_bytes = summary(200, &[], json("{\"a\":1}"));
        let reordered = summary(200, &[], json("{\"a\": 1}"));
        assert!(compare(&spec, &a, &same_bytes, None).matched());
        let verdict = compare(&spec, &a, &reordered, None);
        assert!(verdict.mismatched.body);
        assert_eq!(verdict.body.real_paths().collect::<Vec<_>>(), ["$"]);
        let noise = summary(200, &[], hash("other"));
        let verdict = compare(&spec, &a, &reordered, Some(&noise));
        assert!(verdict.matched(), "the baseline differs too: noise");
        assert_eq!(verdict.noise_fields(), 1);
        assert_eq!(verdict.baseline_paths, ["$"]);
    }

    #[test]
    fn noise_from_the_baseline_is_cancelled_and_real_changes_remain() {
        let spec = CompareSpec {
            noise_baseline: Some(2),
            ..json_spec()
        };
        let candidate = summary(200, &[], json(r#"{"ts": 3, "price": 11}"#));
        let reference = summary(200, &[], json(r#"{"ts": 1, "price": 10}"#));
        let baseline = summary(200, &[], json(r#"{"ts": 2, "price": 10}"#));
        let verdict = compare(&spec, &candidate, &reference, Some(&baseline));
        assert!(verdict.mismatched.body);
        assert_eq!(verdict.body.real_paths().collect::<Vec<_>>(), ["price"]);
        assert_eq!(verdict.noise_fields(), 1);
        assert_eq!(verdict.baseline_paths, ["ts"]);
        let only_noise = summary(200, &[], json(r#"{"ts": 3, "price": 10}"#));
        let verdict = compare(&spec, &only_noise, &reference, Some(&baseline));
        assert!(verdict.matched());
        assert_eq!(verdict.noise_fields(), 1);
        // A baseline whose body was not captured is left out.
        let unread = summary(200, &[], Body::NotCompared(NotCompared::TooLarge));
        let verdict = compare(&spec, &only_noise, &reference, Some(&unread));
        assert!(verdict.mismatched.body && verdict.body_not_compared.is_none());
    }

    #[test]
    fn bodies_over_the_inline_bound_are_diffed_by_a_job_to_the_same_verdict() {
        let spec = Rc::new(CompareSpec {
            noise_baseline: Some(2),
            max_body_bytes: 1 << 20,
            ..json_spec()
        });
        let items = |price: u32, ts: u32| {
            let list: Vec<String> = (0..2000)
                .map(|i| format!(r#"{{"id": {i}, "price": {}, "ts": {ts}}}"#, price + i % 3))
                .collect();
            json(&format!("[{}]", list.join(", ")))
        };
        let candidate = Rc::new(summary(500, &[], items(11, 3)));
        let reference = Rc::new(summary(200, &[("content-type", "a")], items(10, 1)));
        let baseline = Rc::new(summary(200, &[], items(10, 2)));
        let at_once = compare(&spec, &candidate, &reference, Some(&baseline));
        assert!(at_once.mismatched.body && at_once.mismatched.status);
        let Begun::Sliced(mut job) = begin(&spec, &candidate, &reference, Some(&baseline), 1024)
        else {
            panic!("larger than the inline bound: a job");
        };
        assert!(job.bytes_held() > 3 * 2000 * 20, "it holds the summaries");
        let sliced = loop {
            if let Progress::Done(verdict) = job.step(1024) {
                break verdict;
            }
        };
        assert_eq!(sliced, at_once);
        match begin(&spec, &candidate, &reference, Some(&baseline), usize::MAX) {
            Begun::Done(verdict) => assert_eq!(verdict, at_once),
            Begun::Sliced(_) => panic!("within the bound: at once"),
        }
    }

    /// An exact comparison of bytes captured for a JSON one hashes them a slice at a time,
    /// to the verdict of the hash made at once; bodies captured as a hash are compared at
    /// once, whatever their size.
    #[test]
    fn bytes_compared_exactly_are_hashed_by_a_job_to_the_same_verdict() {
        let exact = Rc::new(CompareSpec {
            body: BodyMode::Exact,
            noise_baseline: Some(2),
            ..CompareSpec::new()
        });
        let text = |end: &str| format!("{}{end}", "x".repeat(3000));
        let hash = |text: &str| {
            let mut hasher = DefaultHasher::new();
            hasher.write(text.as_bytes());
            Rc::new(summary(
                200,
                &[],
                Body::Hash {
                    len: text.len() as u64,
                    hash: hasher.finish(),
                },
            ))
        };
        let bytes = |text: &str| Rc::new(summary(200, &[], json(text)));
        let (a, b) = (text("a"), text("b"));
        let cases = [
            (bytes(&a), bytes(&a), None),
            (bytes(&a), bytes(&b), None),
            (hash(&a), bytes(&a), Some(bytes(&a))),
            (hash(&a), bytes(&b), Some(bytes(&a))),
            (bytes(&b), bytes(&a), Some(hash(&b))),
            (hash(&b), bytes(&a), Some(hash(&a))),
        ];
        for (i, (candidate, reference, noise)) in cases.iter().enumerate() {
            let at_once = compare(&exact, candidate, reference, noise.as_deref());
            let Begun::Sliced(mut job) = begin(&exact, candidate, reference, noise.as_ref(), 100)
            else {
                panic!("bytes over the inline bound: a job, case {i}");
            };
            let mut steps = 0;
            let sliced = loop {
                steps += 1;
                if let Progress::Done(verdict) = job.step(100) {
                    break verdict;
                }
            };
            assert_eq!(sliced, at_once, "case {i}");
            assert!(
                (30..=93).contains(&steps),
                "{steps} steps of 100 bytes, case {i}"
            );
        }
        let (c, r, n) = &cases[3];
        assert!(compare(&exact, c, r, None).mismatched.body);
        assert!(compare(&exact, c, r, Some(&bytes(&b))).mismatched.body);
        assert!(compare(&exact, c, r, n.as_deref()).matched(), "noise");
        let Some(n) = n else { unreachable!() };
        assert!(
            compare(&exact, n, c, None).matched(),
            "bytes against their hash"
        );
        assert!(matches!(
            begin(&exact, &hash(&a), &hash(&b), Some(&hash(&a)), 0),
            Begun::Done(_)
        ));
    }

    #[test]
    fn ignored_fields_are_not_compared() {
        let spec = CompareSpec {
            ignore_json_fields: vec![json::IgnoredPath::parse("timestamp").unwrap()],
            ..json_spec()
        };
        let a = summary(200, &[], json(r#"{"timestamp": 1, "a": 1}"#));
        let b = summary(200, &[], json(r#"{"timestamp": 2, "a": 1}"#));
        assert!(compare(&spec, &a, &b, None).matched());
    }
}
