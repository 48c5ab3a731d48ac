//! The structural diff of JSON bodies: which paths differ between the candidate's body and the
//! reference's, and which of those differ between the reference and the noise baseline too.
//!
//! Key order and whitespace do not count; numbers compare by exact decimal value (`1` equals
//! `1.0`, `1e2` equals `100`, also beyond f64's precision: `crate::json::number`); strings by
//! their decoded text; arrays in order. Bodies are read by the plugin's one JSON tokenizer
//! (`crate::json`, as redaction reads them: a byte order mark is skipped). A body that is not
//! JSON (invalid UTF-8, bad syntax, nesting deeper than `MAX_DEPTH`), or that has a lone
//! surrogate or a duplicate key (no reading every service agrees on), is compared as bytes.
//!
//! Work is linear in the bodies' size: equal bodies cost one comparison of bytes; one document
//! written otherwise (spacing, number spelling, escapes) costs one tokenizer and a comparison
//! of bytes (`alike`, without a noise baseline); bodies of one
//! shape (members in the same order) are compared as they are read (`lockstep`, without a
//! noise baseline, nothing stored but the path); otherwise both (or all three) are read into
//! documents (`document`: strings without escapes and numbers stay spans of the body) and
//! walked (`walk`: a number is put in canonical form only when its spelling differs from its
//! counterpart's). `tests::work_is_linear_in_the_input` counts it.

use super::alike;
use super::document::{Detached, Doc, Index, Indexing, Parser, Side};
use super::lockstep;
use super::walk::{Sides, Walk, OVERSHOOT};
use crate::json::bytes_equal;
use crate::slices::Progress;

pub use super::document::{Unreadable, MAX_VALUES};
pub use super::walk::{Differences, IgnoredPath, MAX_PATHS, MAX_PATH_CHARS, ROOT_PATH};
pub use crate::json::MAX_DEPTH;

/// The JSON comparison of one request's bodies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonDiff {
    pub candidate: Differences,
    /// The first `MAX_PATHS` paths that differ between the reference and the noise baseline
    /// (for the window's noise rate), and how many there were.
    pub baseline_paths: Vec<String>,
    pub baseline_differences: u32,
}

/// Compares the bodies; `Err(TooComplex)` when one of them holds too many values to compare.
/// A noise baseline that is not JSON when the others are is left out.
pub fn diff(
    candidate: &[u8],
    reference: &[u8],
    noise: Option<&[u8]>,
    ignore: &[IgnoredPath],
) -> Result<JsonDiff, Unreadable> {
    diff_counting_visits(candidate, reference, noise, ignore).map(|(diff, _)| diff)
}

/// `diff`, and how many values the walks visited.
fn diff_counting_visits(
    candidate: &[u8],
    reference: &[u8],
    noise: Option<&[u8]>,
    ignore: &[IgnoredPath],
) -> Result<(JsonDiff, usize), Unreadable> {
    // The usual case costs a comparison of bytes: nothing differs, not even noise.
    if bytes_equal(candidate, reference) && noise.map_or(true, |n| bytes_equal(n, reference)) {
        return Ok((JsonDiff::default(), 0));
    }
    if noise.is_none() {
        // The next most usual: the same document written otherwise.
        if alike::equal(candidate, reference) {
            return Ok((JsonDiff::default(), 0));
        }
        if let Some(candidate) = lockstep::diff(candidate, reference, ignore) {
            let diff = JsonDiff {
                candidate,
                ..JsonDiff::default()
            };
            return Ok((diff, 0));
        }
    }
    diff_parsed(candidate, reference, noise, ignore)
}

/// The long way: both (or all three) bodies parsed, then walked.
fn diff_parsed(
    candidate: &[u8],
    reference: &[u8],
    noise: Option<&[u8]>,
    ignore: &[IgnoredPath],
) -> Result<(JsonDiff, usize), Unreadable> {
    let (c, r) = (Doc::parse(candidate), Doc::parse(reference));
    let n = || noise.and_then(|bytes| Doc::parse(bytes).ok());
    diff_documents(c, r, n, (candidate, reference, noise), ignore)
}

/// The documents read from the bodies (the noise baseline's read only if it is needed),
/// walked.
fn diff_documents<'b>(
    c: Result<Doc<'b>, Unreadable>,
    r: Result<Doc<'b>, Unreadable>,
    n: impl FnOnce() -> Option<Doc<'b>>,
    (candidate, reference, noise): (&[u8], &[u8], Option<&[u8]>),
    ignore: &[IgnoredPath],
) -> Result<(JsonDiff, usize), Unreadable> {
    let (c, r) = match (c, r) {
        (Err(Unreadable::TooComplex), _) | (_, Err(Unreadable::TooComplex)) => {
            return Err(Unreadable::TooComplex)
        }
        (Ok(c), Ok(r)) => (c, r),
        _ => return Ok((diff_bytes(candidate, reference, noise), 0)),
    };
    let (ci, ri) = match (c.index(), r.index()) {
        (Some(ci), Some(ri)) => (ci, ri),
        _ => return Ok((diff_bytes(candidate, reference, noise), 0)),
    };
    let n = n();
    let ni = n.as_ref().and_then(Doc::index);
    let noise = n.as_ref().zip(ni.as_ref());
    let walked = Walks::default().run((&c, &ci), (&r, &ri), noise, ignore, &mut 0, usize::MAX);
    Ok(walked.unwrap_or_default())
}

/// The walks of the indexed documents (the candidate against the reference, then, with a
/// noise baseline, the reference against the baseline), resumable.
#[derive(Default)]
struct Walks {
    candidate: Walk,
    baseline: Walk,
}

impl Walks {
    /// Walks on until `work` reaches `limit` (in values, as `Walk::run`): the diff and the
    /// values visited when both walks are done.
    fn run(
        &mut self,
        c: Side<'_>,
        r: Side<'_>,
        noise: Option<Side<'_>>,
        ignore: &[IgnoredPath],
        work: &mut usize,
        limit: usize,
    ) -> Option<(JsonDiff, usize)> {
        let sides = Sides { a: c, b: r, noise };
        if !self.candidate.run(sides, ignore, work, limit) {
            return None;
        }
        let mut result = JsonDiff {
            candidate: self.candidate.differences.clone(),
            ..JsonDiff::default()
        };
        if let Some(noise) = noise {
            let sides = Sides {
                a: r,
                b: noise,
                noise: None,
            };
            if !self.baseline.run(sides, ignore, work, limit) {
                return None;
            }
            let differences = &self.baseline.differences;
            result.baseline_differences = differences.real;
            result.baseline_paths = differences.paths.iter().map(|(p, _)| p.clone()).collect();
        }
        Some((result, self.candidate.visits + self.baseline.visits))
    }
}

/// A byte read into a document weighs this many bytes of a `DiffJob`'s budget: measured in
/// the plugin (tools/callback-cost), reading a body into a document costs up to about 50
/// units of fuel a byte (long strings), where the comparison of bytes and the side-by-side
/// reader cost far less.
pub const READ_WEIGHT: usize = 2;

/// Work on documents is counted in values; in a `DiffJob`'s budget, one value (looked at in
/// the index, or stepped to or visited in the walk) weighs this many bytes. Measured in the
/// plugin (tools/callback-cost: a 15 MiB pair that differs in every item), a value walked
/// costs about what reading 50 to 90 bytes of a body does, and writing a differing path
/// (counted as 8 values) about 10 values.
pub const VALUE_WEIGHT: usize = 128;

/// The values a step of `budget` bytes indexes or walks: a step of the walk may go
/// `OVERSHOOT` values beyond its limit, so a step's work stays within its budget (or within
/// `(1 + OVERSHOOT) * VALUE_WEIGHT` bytes' worth, for smaller budgets).
fn values_within(budget: usize) -> usize {
    (budget / VALUE_WEIGHT).saturating_sub(OVERSHOOT).max(1)
}

/// The documents read, then indexed and walked a bounded number of values at a time.
struct Finishing {
    c: Detached,
    r: Detached,
    /// `None`: no noise baseline, or not JSON.
    n: Option<Detached>,
    indexing: Indexing,
    /// The candidate's, the reference's and the noise baseline's index, as they are made.
    indexes: (Option<Index>, Option<Index>, Option<Index>),
    /// Whether the baseline has been indexed (or found to have a key twice).
    noise_indexed: bool,
    walks: Walks,
}

impl Finishing {
    /// Goes on until `work` reaches `limit`: the diff when done (`Some(None)`: a document
    /// has a key twice, the bodies are to be compared as bytes).
    fn run(
        &mut self,
        (c, r, n): (&Doc<'_>, &Doc<'_>, Option<&Doc<'_>>),
        ignore: &[IgnoredPath],
        work: &mut usize,
        limit: usize,
    ) -> Option<Option<JsonDiff>> {
        let indexed = |indexing: &mut Indexing, doc, work: &mut usize| {
            let index = indexing.run(doc, work, limit)?;
            *indexing = Indexing::default();
            Some(index)
        };
        if self.indexes.0.is_none() {
            match indexed(&mut self.indexing, c, work)? {
                Some(index) => self.indexes.0 = Some(index),
                None => return Some(None),
            }
        }
        if self.indexes.1.is_none() {
            match indexed(&mut self.indexing, r, work)? {
                Some(index) => self.indexes.1 = Some(index),
                None => return Some(None),
            }
        }
        if let (Some(n), false) = (n, self.noise_indexed) {
            // A baseline with a key twice is left out.
            self.indexes.2 = indexed(&mut self.indexing, n, work)?;
            self.noise_indexed = true;
        }
        let (Some(ci), Some(ri)) = (&self.indexes.0, &self.indexes.1) else {
            return Some(None);
        };
        let noise = n.zip(self.indexes.2.as_ref());
        let walked = self
            .walks
            .run((c, ci), (r, ri), noise, ignore, work, limit)?;
        Some(Some(walked.0))
    }
}

/// The diff of one comparison, done a bounded slice at a time. Holds no borrow: the bodies
/// are handed in again on every step (the same bytes each time).
///
/// The steps take the ways `diff` takes, in its order, each resumable: the comparison of
/// bytes, the side-by-side reader (`alike`), the bodies read into documents one after the
/// other, each document's index of members (`document::Indexing`), then the walks (`walk::Walk`:
/// the candidate against the reference, then the reference against the noise baseline). The
/// documents are kept between steps without their bodies (spans into them), the index owned
/// (a keyed hash of object and key), the walk's path and place in each container as indexes
/// on an explicit stack. `lockstep` is not taken (the documents' walk gives the same answer:
/// `tests::the_fast_path_agrees_with_the_long_way`).
///
/// A step's bound: a step that compares bytes or reads side by side reads at most its budget
/// and twice the tokenizer's lookahead (12 bytes) of the bodies; one that reads a document,
/// at most half its budget (each byte weighs `READ_WEIGHT`, 2) and twice the lookahead;
/// besides, a string whose bytes differ from its counterpart's is compared by value, and one
/// with escapes decoded into a document, in the step that reads its end. The side-by-side
/// reader leaves a token longer than a whole slice to the documents (read in pieces). A step
/// that indexes or walks counts values, one value (looked at, added to the index, stepped to
/// or visited; a differing path written counts 8) weighing `VALUE_WEIGHT` (128) bytes, and
/// works through at most `budget / 128 - OVERSHOOT` values and `OVERSHOOT` (12) more (at
/// least one): within its budget, or 1,664 bytes' worth for smaller budgets. Not bounded by
/// Bodies that are not both JSON are compared as bytes, a budget's worth of each at a time
/// (the candidate with the reference, then the noise baseline with it), as in the first step.
#[derive(Default)]
pub struct DiffJob {
    /// Boxed: a job waits in every comparison in progress, its documents' readers are large.
    stage: Box<Stage>,
    spent: usize,
}

enum Stage {
    /// The bodies compared as bytes, so many bytes of each so far.
    Bytes(usize),
    /// The side-by-side reader (without a noise baseline).
    Alike(alike::Reader),
    /// The candidate read into a document.
    Candidate(Parser),
    /// The reference read into a document, the candidate's read (or not JSON).
    Reference(Result<Parser, Unreadable>, Parser),
    /// The noise baseline read into a document, both others read.
    Noise(Parser, Parser, Parser),
    /// Not both JSON: the candidate compared as bytes with the reference, so many bytes of
    /// each so far (`None`), then the noise baseline (`Some(whether the candidate differs)`).
    AsBytes(usize, Option<bool>),
    /// Everything read: whether the documents are JSON is told in this step.
    Read(
        Result<Parser, Unreadable>,
        Result<Parser, Unreadable>,
        Option<Parser>,
    ),
    /// The documents indexed and walked.
    Finishing(Box<Finishing>),
}

impl Default for Stage {
    fn default() -> Self {
        Stage::Bytes(0)
    }
}

impl DiffJob {
    pub fn new() -> DiffJob {
        DiffJob::default()
    }

    /// Does at most about `budget` bytes' worth of work (of the bodies read, values indexed
    /// or walked, each `VALUE_WEIGHT` bytes), then
    /// returns `Progress::More`, or `Progress::Done(result)` when the diff is complete. Its
    /// result equals `diff(candidate, reference, noise, ignore)`.
    pub fn step(
        &mut self,
        candidate: &[u8],
        reference: &[u8],
        noise: Option<&[u8]>,
        ignore: &[IgnoredPath],
        budget: usize,
    ) -> Progress<Result<JsonDiff, Unreadable>> {
        let budget = budget.max(1);
        let stage = std::mem::take(&mut *self.stage);
        *self.stage = match stage {
            Stage::Bytes(at) => {
                let (equal, end) = equal_bytes_from(at, candidate, reference, noise, budget);
                self.spent += end - at;
                match equal {
                    Some(true) => return Progress::Done(Ok(JsonDiff::default())),
                    Some(false) if noise.is_none() => {
                        Stage::Alike(alike::Reader::new(candidate, reference))
                    }
                    Some(false) => Stage::Candidate(Parser::new(candidate)),
                    None => Stage::Bytes(end),
                }
            }
            Stage::Alike(mut reader) => {
                let before = reader.work();
                let found = reader.read(candidate, reference, budget);
                self.spent += reader.work().saturating_sub(before);
                match found {
                    alike::Found::Equal => return Progress::Done(Ok(JsonDiff::default())),
                    alike::Found::Unknown => Stage::Candidate(Parser::new(candidate)),
                    alike::Found::More => Stage::Alike(reader),
                }
            }
            Stage::Candidate(mut parser) => match self.read(&mut parser, candidate, budget) {
                None => Stage::Candidate(parser),
                Some(read) => Stage::Reference(read.map(|()| parser), Parser::new(reference)),
            },
            Stage::Reference(c, mut parser) => match self.read(&mut parser, reference, budget) {
                None => Stage::Reference(c, parser),
                Some(read) => {
                    let r = read.map(|()| parser);
                    match (c, r, noise) {
                        (Ok(c), Ok(r), Some(noise)) => Stage::Noise(c, r, Parser::new(noise)),
                        (c, r, _) => Stage::Read(c, r, None),
                    }
                }
            },
            Stage::Noise(c, r, mut parser) => {
                match self.read(&mut parser, noise.unwrap_or_default(), budget) {
                    None => Stage::Noise(c, r, parser),
                    Some(read) => Stage::Read(Ok(c), Ok(r), read.ok().map(|()| parser)),
                }
            }
            Stage::Read(c, r, n) => match (c, r) {
                (Err(Unreadable::TooComplex), _) | (_, Err(Unreadable::TooComplex)) => {
                    return Progress::Done(Err(Unreadable::TooComplex))
                }
                (Ok(c), Ok(r)) => Stage::Finishing(Box::new(Finishing {
                    c: c.into_detached(),
                    r: r.into_detached(),
                    n: n.map(Parser::into_detached),
                    indexing: Indexing::default(),
                    indexes: (None, None, None),
                    noise_indexed: false,
                    walks: Walks::default(),
                })),
                _ => Stage::AsBytes(0, None),
            },
            Stage::Finishing(mut finishing) => {
                let c = std::mem::take(&mut finishing.c).attach(candidate);
                let r = std::mem::take(&mut finishing.r).attach(reference);
                let n = finishing
                    .n
                    .take()
                    .zip(noise)
                    .map(|(n, bytes)| n.attach(bytes));
                let mut work = 0;
                let limit = values_within(budget);
                let done = finishing.run((&c, &r, n.as_ref()), ignore, &mut work, limit);
                self.spent += work * VALUE_WEIGHT;
                match done {
                    Some(Some(diff)) => return Progress::Done(Ok(diff)),
                    Some(None) => Stage::AsBytes(0, None),
                    None => {
                        finishing.c = c.detach();
                        finishing.r = r.detach();
                        finishing.n = n.map(Doc::detach);
                        Stage::Finishing(finishing)
                    }
                }
            }
            Stage::AsBytes(at, differs) => {
                let body = match differs {
                    None => candidate,
                    Some(_) => noise.unwrap_or(reference),
                };
                let (equal, end) = equal_bytes_from(at, body, reference, None, budget);
                self.spent += end - at;
                match (equal, differs) {
                    (None, _) => Stage::AsBytes(end, differs),
                    (Some(equal), None) if noise.is_some() => Stage::AsBytes(0, Some(!equal)),
                    (Some(equal), None) => return Progress::Done(Ok(bytes_diff(!equal, false))),
                    (Some(equal), Some(differs)) => {
                        return Progress::Done(Ok(bytes_diff(differs, !equal)))
                    }
                }
            }
        };
        Progress::More
    }

    /// A slice of `parser`'s reading, counted.
    fn read(
        &mut self,
        parser: &mut Parser,
        body: &[u8],
        budget: usize,
    ) -> Option<Result<(), Unreadable>> {
        let before = parser.offset();
        let read = parser.read(body, (budget / READ_WEIGHT).max(1));
        self.spent += READ_WEIGHT * parser.offset().saturating_sub(before);
        read
    }

    /// Bytes' worth of work so far: bytes of the bodies compared, read side by side or read
    /// into documents, and values indexed or walked (`VALUE_WEIGHT` bytes each).
    pub fn spent(&self) -> usize {
        self.spent
    }
}

/// Whether the bodies are equal as bytes (and the noise baseline's too: nothing differs, not
/// even noise), compared from `at` up to `budget` bytes: `None` when equal so far; and where it stopped.
fn equal_bytes_from(
    at: usize,
    candidate: &[u8],
    reference: &[u8],
    noise: Option<&[u8]>,
    budget: usize,
) -> (Option<bool>, usize) {
    let same_length = |body: &[u8]| body.len() == reference.len();
    if !same_length(candidate) || !noise.map_or(true, same_length) {
        return (Some(false), at);
    }
    let end = at.saturating_add(budget).min(reference.len());
    let part = |body| part_of(body, at, end);
    let differs = |body| !bytes_equal(part(body), part(reference));
    if differs(candidate) || noise.is_some_and(differs) {
        return (Some(false), end);
    }
    ((end == reference.len()).then_some(true), end)
}

fn part_of(body: &[u8], at: usize, end: usize) -> &[u8] {
    body.get(at..end).unwrap_or_default()
}

/// Bodies that are not both JSON: equal bytes, or a difference of the whole.
fn diff_bytes(candidate: &[u8], reference: &[u8], noise: Option<&[u8]>) -> JsonDiff {
    bytes_diff(
        !bytes_equal(candidate, reference),
        noise.is_some_and(|n| !bytes_equal(n, reference)),
    )
}

/// A difference of the whole body (bodies compared as bytes), noise when the baseline's
/// differs too.
fn bytes_diff(candidate_differs: bool, baseline_differs: bool) -> JsonDiff {
    let mut result = JsonDiff::default();
    if candidate_differs {
        result.candidate.add(&[], baseline_differs);
    }
    if baseline_differs {
        result.baseline_differences = 1;
        result.baseline_paths.push(ROOT_PATH.to_string());
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(list: &[&str]) -> Vec<IgnoredPath> {
        list.iter()
            .map(|p| IgnoredPath::parse(p).unwrap())
            .collect()
    }

    /// The candidate's differing paths against the reference (no baseline, nothing ignored).
    fn differing(a: &str, b: &str) -> Vec<String> {
        differing_bytes(a.as_bytes(), b.as_bytes())
    }

    fn differing_bytes(a: &[u8], b: &[u8]) -> Vec<String> {
        let diff = diff(a, b, None, &[]).unwrap();
        assert_eq!(diff.candidate.noise, 0);
        assert!(diff.candidate.paths.len() <= diff.candidate.real as usize);
        diff.candidate.real_paths().map(String::from).collect()
    }

    #[test]
    fn key_order_whitespace_and_number_spelling_do_not_count() {
        let equal = [
            (
                r#"{"a": 1, "b": [true, null, "x"]}"#,
                r#"{"b":[true,null,"x"],"a":1}"#,
            ),
            ("1", "1.0"),
            ("1e2", "100"),
            ("100", "1E+2"),
            ("0.1e1", "1"),
            ("0.0001", "1e-4"),
            ("-0", "0"),
            ("0.000", "0e5"),
            ("12345678901234567890123", "1.2345678901234567890123e22"),
            ("1.50", "15e-1"),
            (r#""\u0041\n""#, "\"A\\n\""),
            (r#""\ud83d\ude00""#, "\"\u{1f600}\""),
            ("1e999999999", "10e999999998"),
            ("[]", " [ ] "),
            ("{}", "{ }"),
        ];
        for (a, b) in equal {
            assert_eq!(differing(a, b), Vec::<String>::new(), "{a} vs {b}");
        }
    }

    #[test]
    fn numbers_differ_by_value_beyond_f64() {
        let different = [
            ("12345678901234567890123", "12345678901234567890124"),
            ("0.1", "0.10000000000000001"),
            ("1", "-1"),
            ("1e999999999", "1e999999998"),
            ("1", "\"1\""),
            ("1e400", "1e401"),
        ];
        for (a, b) in different {
            assert_eq!(differing(a, b), ["$"], "{a} vs {b}");
        }
        // f64 cannot tell these apart; the comparison can.
        assert_eq!(9007199254740993u64 as f64, 9007199254740992u64 as f64);
        assert_eq!(differing("9007199254740993", "9007199254740992"), ["$"]);
    }

    #[test]
    fn huge_exponents_are_compared_without_expanding_them() {
        let beyond = "1e99999999999999999999";
        assert_eq!(differing(beyond, beyond), Vec::<String>::new());
        assert_eq!(differing(beyond, "1e99999999999999999998"), ["$"]);
        assert_eq!(
            differing("1e00000000000000000000000002", "100"),
            Vec::<String>::new()
        );
        let long = format!("[1e{}]", "9".repeat(100_000));
        assert_eq!(differing(&long, &long), Vec::<String>::new());
        assert_eq!(
            differing(&long, &long.replace("1e", "10e")),
            ["*"],
            "compared as written"
        );
        let padded = format!("[1e{}5]", "0".repeat(100_000));
        assert_eq!(differing(&padded, "[100000]"), Vec::<String>::new());
    }

    #[test]
    fn differences_are_named_by_path() {
        let a = r#"{"id": 7, "user": {"name": "a", "tags": ["x", "y"]}, "items": [{"p": 1}, {"p": 2}], "extra": 1}"#;
        let b = r#"{"id": 7, "user": {"name": "b", "tags": ["y", "x"]}, "items": [{"p": 1}, {"p": 3}, {"p": 4}], "gone": null}"#;
        assert_eq!(
            differing(a, b),
            [
                "user.name",
                "user.tags.*",
                "items.*.p",
                "items.*",
                "extra",
                "gone"
            ]
        );
        assert_eq!(
            differing("[1, 2]", "[2, 1]"),
            ["*"],
            "arrays compare in order"
        );
        assert_eq!(differing(r#"{"a": {}}"#, r#"{"a": []}"#), ["a"]);
        assert_eq!(differing("[]", "{}"), ["$"]);
    }

    #[test]
    fn ignored_paths_do_not_count_present_or_not() {
        let ignore = paths(&["timestamp", "items.*.updated_at"]);
        let a = r#"{"timestamp": 1, "items": [{"id": 1, "updated_at": "x"}], "n": 1}"#;
        let b = r#"{"items": [{"id": 1, "updated_at": "y"}], "n": 2, "timestamp": {"deep": 2}}"#;
        let diff = diff(a.as_bytes(), b.as_bytes(), None, &ignore).unwrap();
        assert_eq!(diff.candidate.real_paths().collect::<Vec<_>>(), ["n"]);
        let c = r#"{"items": [{"id": 1}], "n": 1}"#;
        assert_eq!(diff_paths(a, c, &ignore), Vec::<String>::new());
    }

    /// The walk keeps its path as indexes and writes it out only where it is looked at: a
    /// differing path written (in the pairwise walk, below a difference, among the members
    /// only the reference has) and ignored paths matched, at any depth, in reordered
    /// members, whole or in slices.
    #[test]
    fn paths_written_out_late_are_the_paths_where_values_differ() {
        let none: &[IgnoredPath] = &[];
        let cases: [(&str, &str, &[&str], &[&str]); 6] = [
            (
                r#"{"a": [{"x": 1, "y": 1}, {"x": 2}], "b": {"c": {"d": 1}}}"#,
                r#"{"b": {"c": {"d": 2}}, "a": [{"y": 1, "x": 9}, {"x": 3}]}"#,
                &["a.*.x"],
                &["b.c.d"],
            ),
            (
                r#"{"k": {"m": [1, {"z": 1}]}}"#,
                r#"{"k": {"m": [1, {"w": 2, "z": 1}]}}"#,
                &["k.m.*.w"],
                &[],
            ),
            (
                r#"{"k": {"m": [1, {"z": 1}]}}"#,
                r#"{"k": {"m": [1, {"w": 2, "z": 1}]}}"#,
                &[],
                &["k.m.*.w"],
            ),
            (
                r#"{"p": 1, "s": [[{"t": 1}]]}"#,
                r#"{"q": {"r": 1}, "p": 1, "s": [[{"t": 2}]]}"#,
                &[],
                &["s.*.*.t", "q"],
            ),
            (
                r#"{"p": 1, "s": [[{"t": 1}]]}"#,
                r#"{"q": {"r": 1}, "p": 1, "s": [[{"t": 2}]]}"#,
                &["q", "s.0.0.t"],
                &[],
            ),
            (
                r#"{"deep": [[[[{"a": {"b": [1, 2, {"c": 3}]}}]]]]}"#,
                r#"{"deep": [[[[{"a": {"b": [1, 2, {"c": 4}]}}]]]]}"#,
                &[],
                &["deep.*.*.*.*.a.b.*.c"],
            ),
        ];
        for (a, b, ignored, expected) in cases {
            let ignore = if ignored.is_empty() {
                none.to_vec()
            } else {
                paths(ignored)
            };
            assert_eq!(
                diff_paths(a, b, &ignore),
                expected,
                "{a} / {b} / {ignored:?}"
            );
            for budget in [1, 200, 1000] {
                let mut job = DiffJob::new();
                let result = loop {
                    if let Progress::Done(result) =
                        job.step(a.as_bytes(), b.as_bytes(), None, &ignore, budget)
                    {
                        break result.unwrap();
                    }
                };
                let named: Vec<&str> = result.candidate.real_paths().collect();
                assert_eq!(named, expected, "budget {budget}: {a} / {b}");
            }
        }
        // Below a difference, with a noise baseline: the candidate's path and the baseline's.
        let diff = diff_with_noise(
            r#"{"o": {"l": [1, {"v": 1}]}}"#,
            r#"{"o": {"l": [1, {"v": 2}]}}"#,
            r#"{"o": {"l": [1, {"v": 3}]}}"#,
        );
        assert_eq!(diff.candidate.paths, [("o.l.*.v".to_string(), true)]);
        assert_eq!(diff.baseline_paths, ["o.l.*.v"]);
    }

    fn diff_paths(a: &str, b: &str, ignore: &[IgnoredPath]) -> Vec<String> {
        let diff = diff(a.as_bytes(), b.as_bytes(), None, ignore).unwrap();
        diff.candidate.real_paths().map(String::from).collect()
    }

    #[test]
    fn noise_is_what_the_baseline_disagrees_on_too() {
        let candidate = r#"{"ts": 3, "price": 11, "items": [{"id": "c"}], "same": 1}"#;
        let reference = r#"{"ts": 1, "price": 10, "items": [{"id": "r"}], "same": 1}"#;
        let baseline = r#"{"ts": 2, "price": 10, "items": [{"id": "n"}], "same": 1}"#;
        let diff = diff(
            candidate.as_bytes(),
            reference.as_bytes(),
            Some(baseline.as_bytes()),
            &[],
        )
        .unwrap();
        assert_eq!(
            diff.candidate.paths,
            [
                ("ts".to_string(), true),
                ("price".to_string(), false),
                ("items.*.id".to_string(), true)
            ]
        );
        assert_eq!((diff.candidate.real, diff.candidate.noise), (1, 2));
        assert_eq!(diff.baseline_paths, ["ts", "items.*.id"]);
        assert_eq!(diff.baseline_differences, 2);
        // A subtree that differs in the baseline covers differences below it.
        let diff2 = diff_with_noise(r#"{"a": {"x": 1}}"#, r#"{"a": {"x": 2}}"#, r#"{"a": 5}"#);
        assert_eq!(diff2.candidate.paths, [("a.x".to_string(), true)]);
        // The baseline has the member the reference lacks: noise.
        let diff3 = diff_with_noise(r#"{"a": 1}"#, r#"{}"#, r#"{"a": 1}"#);
        assert_eq!(diff3.candidate.paths, [("a".to_string(), true)]);
        // A baseline that is not JSON is left out rather than cancelling everything.
        let diff4 = diff_with_noise(r#"{"a": 1}"#, r#"{"a": 2}"#, "<html>");
        assert_eq!(diff4.candidate.paths, [("a".to_string(), false)]);
    }

    fn diff_with_noise(c: &str, r: &str, n: &str) -> JsonDiff {
        diff(c.as_bytes(), r.as_bytes(), Some(n.as_bytes()), &[]).unwrap()
    }

    #[test]
    fn bodies_that_are_not_json_on_both_sides_compare_as_bytes() {
        assert_eq!(differing("<html>", "<html>"), Vec::<String>::new());
        assert_eq!(differing("<html>", "<html >"), ["$"]);
        assert_eq!(differing("{\"a\": 1}", "{\"a\":1"), ["$"]);
        assert_eq!(differing("{\"a\":1}", "not json"), ["$"]);
        assert_eq!(differing("", ""), Vec::<String>::new());
        let bytes = diff_with_noise("a", "b", "c");
        assert_eq!(bytes.candidate.paths, [("$".to_string(), true)]);
        assert_eq!(bytes.baseline_paths, ["$"]);
        let real = diff_with_noise("a", "b", "b");
        assert_eq!(real.candidate.paths, [("$".to_string(), false)]);
    }

    /// As redaction reads it (and .NET writes it): a byte order mark is no difference.
    #[test]
    fn a_byte_order_mark_is_skipped() {
        let marked = "\u{feff}{\"a\": [1, 2]}";
        assert_eq!(differing(marked, r#"{"a":[1,2]}"#), Vec::<String>::new());
        assert_eq!(differing(r#"{"a":[1,2]}"#, marked), Vec::<String>::new());
        assert_eq!(differing(marked, r#"{"a":[1,3]}"#), ["a.*"]);
        assert_eq!(
            differing("\u{feff}\u{feff}[]", "[]"),
            ["$"],
            "one mark only"
        );
    }

    #[test]
    fn duplicate_keys_make_a_document_compare_as_bytes() {
        let twice = r#"{"a": 1, "a": 2}"#;
        assert_eq!(differing(twice, twice), Vec::<String>::new());
        assert_eq!(differing(twice, r#"{"a": 2}"#), ["$"]);
        assert_eq!(differing(twice, r#"{"a": 1,  "a": 2}"#), ["$"]);
        // Keys equal once decoded are the same key.
        assert_eq!(differing(r#"{"a": 1, "\u0061": 1}"#, r#"{"a": 1}"#), ["$"]);
        // In a large object too (found through the index, not in place).
        let many: Vec<String> = (0..20).map(|i| format!("\"k{i}\": {i}")).collect();
        let large_twice = format!("{{{}, \"k3\": 0}}", many.join(","));
        assert_eq!(differing(&large_twice, &large_twice), Vec::<String>::new());
        let large_spaced = large_twice.replace(": ", ":");
        assert_eq!(differing(&large_twice, &large_spaced), ["$"]);
        let large = format!("{{{}}}", many.join(","));
        assert_eq!(
            differing(&large, &large.replace(": ", ":")),
            Vec::<String>::new()
        );
        // The same key in different objects is no duplicate.
        assert_eq!(
            differing(r#"{"a": {"a": 1}}"#, r#"{"a": {"a": 1}}"#),
            Vec::<String>::new()
        );
    }

    #[test]
    fn malformed_and_hostile_input_is_compared_as_bytes_without_panicking() {
        let malformed: &[&[u8]] = &[
            b"",
            b"{",
            b"}",
            b"[1,]",
            b"{\"a\" 1}",
            b"{\"a\":1,}",
            b"01",
            b"1.",
            b".5",
            b"-",
            b"1e",
            b"1e+",
            b"tru",
            b"nul",
            b"\"\x01\"",
            b"[1] x",
            b"NaN",
            b"+1",
            b"\"\\x\"",
            b"\"\\u12\"",
            b"\"\\ud800\"",
            b"\"\\ud800\\u0041\"",
            b"\"\\udc00\"",
            b"\xff",
            b"\"\xc3\"",
            b"{\"\xff\": 1}",
            b"[\"a\"",
            b"\"abc",
            b"{\"a\":}",
            b"[,]",
            b"--1",
            b"1..2",
        ];
        for body in malformed {
            assert_eq!(
                differing_bytes(body, body),
                Vec::<String>::new(),
                "{body:?}"
            );
            assert_eq!(differing_bytes(body, b"[]"), ["$"], "{body:?}");
        }
        let deep_ok = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let deep_ok_spaced = deep_ok.replace("[]", "[ ]");
        assert_eq!(
            differing(&deep_ok, &deep_ok_spaced),
            Vec::<String>::new(),
            "parsed as JSON"
        );
        let too_deep = format!("{}{}", "[".repeat(MAX_DEPTH + 2), "]".repeat(MAX_DEPTH + 2));
        let too_deep_spaced = too_deep.replace("[]", "[ ]");
        assert_eq!(differing(&too_deep, &too_deep), Vec::<String>::new());
        assert_eq!(
            differing(&too_deep, &too_deep_spaced),
            ["$"],
            "compared as bytes"
        );
        let very_deep = "[".repeat(1_000_000);
        assert_eq!(differing(&very_deep, &very_deep), Vec::<String>::new());
    }

    #[test]
    fn documents_with_too_many_values_are_not_compared() {
        let many = format!("[{}0]", "0,".repeat(MAX_VALUES));
        let few = format!("[{}0]", "0,".repeat(MAX_VALUES - 2));
        assert_eq!(
            diff(many.as_bytes(), b"[]", None, &[]),
            Err(Unreadable::TooComplex)
        );
        assert_eq!(
            diff(b"[]", many.as_bytes(), None, &[]),
            Err(Unreadable::TooComplex)
        );
        assert!(diff(few.as_bytes(), few.as_bytes(), None, &[]).is_ok());
    }

    #[test]
    fn only_the_first_paths_are_named_and_all_are_counted() {
        // Keys of letters only (`kaa`, `kab`...): a digit would make them data-like, all `{}`.
        let key = |i: u8| {
            format!(
                "k{}{}",
                char::from(b'a' + i / 26),
                char::from(b'a' + i % 26)
            )
        };
        let a: Vec<String> = (0..100).map(|i| format!("\"{}\": 1", key(i))).collect();
        let b: Vec<String> = (0..100).map(|i| format!("\"{}\": 2", key(i))).collect();
        let diff = diff(
            format!("{{{}}}", a.join(",")).as_bytes(),
            format!("{{{}}}", b.join(",")).as_bytes(),
            None,
            &[],
        )
        .unwrap();
        assert_eq!(
            (diff.candidate.paths.len(), diff.candidate.real),
            (MAX_PATHS, 100)
        );
        assert_eq!(diff.candidate.paths[0].0, "kaa");
    }

    #[test]
    fn long_paths_are_cut() {
        let deep = |value: u8| format!("{}{value}{}", r#"{"key":"#.repeat(100), "}".repeat(100));
        let diff = differing(&deep(1), &deep(2));
        assert_eq!(diff[0].chars().count(), MAX_PATH_CHARS + 3);
    }

    /// Each value is visited a bounded number of times, whatever the shape of the input.
    #[test]
    fn work_is_linear_in_the_input() {
        let n = 20_000;
        let wide_a = format!(
            "{{{}}}",
            (0..n)
                .map(|i| format!("\"k{i}\":{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let wide_b = format!(
            "{{{}}}",
            (0..n)
                .rev()
                .map(|i| format!("\"k{i}\":{}", i + 1))
                .collect::<Vec<_>>()
                .join(",")
        );
        let long_a = format!("[{}]", vec!["[1,{\"a\":[2]}]"; n / 4].join(","));
        let long_b = format!("[{}]", vec!["{\"a\":[1,{\"b\":2}]}"; n / 4].join(","));
        let deep = |leaf: &str| {
            format!(
                "{}{leaf}{}",
                "{\"a\":".repeat(MAX_DEPTH - 2),
                "}".repeat(MAX_DEPTH - 2)
            )
        };
        let nested_a = format!("[{}]", vec![deep("1"); 100].join(","));
        let nested_b = format!("[{}]", vec![deep("[1,2,3]"); 100].join(","));
        let cases = [
            (wide_a.clone(), wide_b.clone(), wide_b),
            (long_a.clone(), long_b.clone(), long_a),
            (nested_a.clone(), nested_b.clone(), nested_a),
        ];
        for (a, b, noise) in &cases {
            let values: usize = [a, b, noise]
                .iter()
                .map(|d| Doc::parse(d.as_bytes()).unwrap().nodes.len())
                .sum();
            let (_, visits) =
                diff_counting_visits(a.as_bytes(), b.as_bytes(), Some(noise.as_bytes()), &[])
                    .unwrap();
            assert!(visits <= 2 * values, "{visits} visits for {values} values");
        }
    }

    /// A random document, written twice in different but equal ways (key order, spacing,
    /// number spelling, escapes): equal; then one leaf changed: exactly that path differs.
    #[test]
    fn random_documents_written_differently_are_equal_and_one_change_is_found() {
        for seed in 0..300 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let doc = Gen::value(&mut rng, 0);
            let a = doc.write(&mut fastrand::Rng::with_seed(seed * 2 + 1), None);
            let b = doc.write(&mut fastrand::Rng::with_seed(seed * 2 + 2), None);
            assert_eq!(
                differing(&a, &b),
                Vec::<String>::new(),
                "seed {seed}:\n{a}\n{b}"
            );
            let leaves = doc.leaves(&mut Vec::new());
            if leaves.is_empty() {
                continue;
            }
            let target = &leaves[rng.usize(0..leaves.len())];
            let changed = doc.write(&mut fastrand::Rng::with_seed(seed), Some(target));
            // Keys are `k0`, `k1`...: data-like, written `{}`; indices `*`.
            let template = |step: &String| if step.starts_with('k') { "{}" } else { "*" };
            let expected = if target.is_empty() {
                ROOT_PATH.to_string()
            } else {
                target.iter().map(template).collect::<Vec<_>>().join(".")
            };
            assert_eq!(
                differing(&a, &changed),
                [expected],
                "seed {seed}:\n{a}\n{changed}"
            );
        }
    }

    /// Random corruption of valid documents: never a panic, and a body always equals itself.
    #[test]
    fn corrupted_documents_never_panic() {
        for seed in 0..300 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let doc = Gen::value(&mut rng, 0).write(&mut rng, None);
            let mut bytes = doc.into_bytes();
            for _ in 0..rng.usize(1..4) {
                if bytes.is_empty() {
                    break;
                }
                let at = rng.usize(0..bytes.len());
                match rng.u8(0..3) {
                    0 => bytes[at] = rng.u8(..),
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, *b"{}[],:\"\\0e-.".get(rng.usize(0..12)).unwrap()),
                }
            }
            let other = Gen::value(&mut rng, 0).write(&mut rng, None);
            assert!(diff(&bytes, &bytes, None, &[])
                .unwrap()
                .candidate
                .paths
                .is_empty());
            let _ = diff(&bytes, other.as_bytes(), Some(&bytes), &[]);
            let _ = diff(
                other.as_bytes(),
                &bytes,
                Some(other.as_bytes()),
                &paths(&["a.*"]),
            );
        }
    }

    thread_local! {
        /// Whether `Gen::write` shuffles members (off: both sides in one order).
        static SHUFFLE: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
    }

    impl Gen {
        /// One structural change somewhere: an array loses its last item, or a container
        /// becomes a scalar. False if there was nothing to change.
        fn mutate(&mut self, rng: &mut fastrand::Rng) -> bool {
            match self {
                Gen::Array(items) => {
                    if !items.is_empty() && rng.bool() {
                        let at = rng.usize(0..items.len());
                        if items[at].mutate(rng) {
                            return true;
                        }
                    }
                    if rng.bool() && items.pop().is_some() {
                        return true;
                    }
                    *self = Gen::Number(7, 0);
                    true
                }
                Gen::Object(members) => {
                    if !members.is_empty() && rng.u8(0..4) > 0 {
                        let at = rng.usize(0..members.len());
                        if members[at].1.mutate(rng) {
                            return true;
                        }
                    }
                    *self = Gen::Text("was an object".into());
                    true
                }
                _ => false,
            }
        }
    }

    /// The fast path (`lockstep`) answers exactly as the long way does, whenever it answers;
    /// and it does answer for bodies of one shape.
    #[test]
    fn the_fast_path_agrees_with_the_long_way() {
        let ignores = [
            vec![],
            paths(&["k0"]),
            paths(&["k1.*", "*.k2"]),
            paths(&["0", "k0.k1"]),
        ];
        let mut answered = 0;
        for seed in 0..3000 {
            let mut rng = fastrand::Rng::with_seed(seed);
            SHUFFLE.with(|s| s.set(seed % 5 == 0));
            let doc = Gen::value(&mut rng, 0);
            let a = doc.write(&mut rng, None);
            let b = match rng.u8(0..3) {
                0 => doc.write(&mut rng, None),
                1 => {
                    let leaves = doc.leaves(&mut Vec::new());
                    let target = leaves.get(rng.usize(0..leaves.len().max(1))).cloned();
                    doc.write(&mut rng, target.as_ref())
                }
                _ => {
                    let mut changed = doc.clone();
                    changed.mutate(&mut rng);
                    changed.write(&mut rng, None)
                }
            };
            let ignore = &ignores[rng.usize(0..ignores.len())];
            let fast =
                super::super::lockstep::diff(a.as_bytes(), b.as_bytes(), ignore).map(|candidate| {
                    JsonDiff {
                        candidate,
                        ..JsonDiff::default()
                    }
                });
            let long = diff_parsed(a.as_bytes(), b.as_bytes(), None, ignore).map(|(d, _)| d);
            if let Some(fast) = fast {
                answered += 1;
                assert_eq!(Ok(fast), long, "seed {seed}:\n{a}\n{b}");
            }
        }
        SHUFFLE.with(|s| s.set(true));
        assert!(
            answered > 2000,
            "the fast path answered {answered} times of 3000"
        );
    }

    /// The side-by-side reader (`alike`) says "equal" only where the long way finds no
    /// difference (whatever the spacing, spelling, escapes, order, changes or corruption),
    /// `diff` answers as the long way does, and the reader does answer for most documents
    /// written otherwise in one order.
    #[test]
    fn the_side_by_side_reader_agrees_with_the_long_way() {
        let mut answered = 0;
        for seed in 0..3000 {
            let mut rng = fastrand::Rng::with_seed(seed);
            SHUFFLE.with(|s| s.set(seed % 7 == 0));
            let (a, b) = generated_pair(&mut rng);
            let long = diff_parsed(a.as_bytes(), b.as_bytes(), None, &[]).map(|(d, _)| d);
            if alike::equal(a.as_bytes(), b.as_bytes()) {
                answered += 1;
                assert_eq!(long, Ok(JsonDiff::default()), "seed {seed}:\n{a}\n{b}");
            }
            assert_eq!(
                diff(a.as_bytes(), b.as_bytes(), None, &[]),
                long,
                "seed {seed}:\n{a}\n{b}"
            );
        }
        SHUFFLE.with(|s| s.set(true));
        assert!(
            answered > 800,
            "the side-by-side reader answered {answered} times of 3000"
        );
    }

    /// One whitespace byte put anywhere into a document: between tokens the side-by-side
    /// reader still finds the documents equal; inside a token (a string, a number, a literal)
    /// it does not, exactly as the long way.
    #[test]
    fn whitespace_anywhere_is_told_between_from_inside_tokens() {
        let mut equal = 0;
        for seed in 0..2000 {
            let mut rng = fastrand::Rng::with_seed(seed);
            SHUFFLE.with(|s| s.set(false));
            let a = Gen::value(&mut rng, 0).write(&mut rng, None);
            let mut b = a.clone().into_bytes();
            b.insert(rng.usize(0..=b.len()), b" \t\n\r"[rng.usize(0..4)]);
            let long = diff_parsed(a.as_bytes(), &b, None, &[]).map(|(d, _)| d);
            let alike = alike::equal(a.as_bytes(), &b);
            assert_eq!(
                alike,
                long == Ok(JsonDiff::default()),
                "seed {seed}:\n{a}\n{}",
                String::from_utf8_lossy(&b)
            );
            equal += usize::from(alike);
        }
        SHUFFLE.with(|s| s.set(true));
        assert!(equal > 800, "equal {equal} times of 2000");
    }

    /// A random document and another: the same written otherwise, with a leaf changed, with
    /// its structure changed, or corrupted by a byte.
    fn generated_pair(rng: &mut fastrand::Rng) -> (String, String) {
        let doc = Gen::value(rng, 0);
        let a = doc.write(rng, None);
        let b = match rng.u8(0..5) {
            0 | 1 => doc.write(rng, None),
            2 => {
                let leaves = doc.leaves(&mut Vec::new());
                let target = leaves.get(rng.usize(0..leaves.len().max(1))).cloned();
                doc.write(rng, target.as_ref())
            }
            3 => {
                let mut changed = doc.clone();
                changed.mutate(rng);
                changed.write(rng, None)
            }
            _ => {
                let mut bytes = doc.write(rng, None).into_bytes();
                if !bytes.is_empty() {
                    let at = rng.usize(0..bytes.len());
                    bytes.insert(at, *b" \"1e.-,]tu\\\x01".get(rng.usize(0..12)).unwrap());
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
        };
        // Now and then a byte order mark before one of them (skipped, once).
        let mark = |body: String| format!("\u{feff}{body}");
        match rng.u8(0..20) {
            0 => (mark(a), b),
            1 => (a, mark(b)),
            _ => (a, b),
        }
    }

    /// Stepped with any budget, a `DiffJob` gives `diff`'s result (with or without a noise
    /// baseline, paths ignored or not); every step that leaves work for later reads at most
    /// its budget and twice the tokenizer's lookahead of the bodies.
    #[test]
    fn a_diff_job_in_slices_gives_the_diffs_result() {
        use crate::json::tokenizer::LOOKAHEAD;
        let ignores = [vec![], paths(&["k0"]), paths(&["k1.*", "*.k2"])];
        let mut corpus: Vec<(String, String, Option<String>)> = vec![
            ("[1, 2]".into(), "[1, 2]".into(), None),
            ("[1, 2]".into(), "[1, 2]".into(), Some("[1,2]".into())),
            ("<html>".into(), "<html >".into(), None),
            ("\u{feff}[1]".into(), "[1.0]".into(), None),
            (
                r#"{"a": 1, "a": 2}"#.into(),
                r#"{"a":1,"a":2}"#.into(),
                None,
            ),
            ("[".repeat(MAX_DEPTH + 2), "[ ".repeat(MAX_DEPTH + 2), None),
        ];
        let wide = |order: &mut dyn Iterator<Item = usize>| {
            let members: Vec<String> = order.map(|i| format!("\"k{i}\": [{i}, \"x\"]")).collect();
            format!("{{{}}}", members.join(", "))
        };
        corpus.push((wide(&mut (0..500)), wide(&mut (0..500).rev()), None));
        // Not JSON, compared as bytes in steps: differing at the end, with or without a
        // baseline that differs too; equal, but not the baseline; a key twice.
        let page = |end: &str| format!("<p>{}{end}", "x".repeat(5000));
        corpus.push((page("a"), page("b"), Some(page("a"))));
        corpus.push((page("a"), page("b"), Some(page("c"))));
        corpus.push((page("a"), page("b"), None));
        corpus.push((page("a"), page("a"), Some(page("ab"))));
        let twice = |end: &str| format!("{{\"a\": \"{}\", \"a\": {end}}}", "x".repeat(3000));
        corpus.push((twice("1"), twice("2"), Some(twice("2"))));
        corpus.push((
            wide(&mut (0..500)),
            wide(&mut (0..500)).replace(' ', ""),
            None,
        ));
        // Large objects (found through the index) with a baseline: a difference whose
        // noise is told by a deep comparison of large containers.
        let nested = |inner: &str| format!("{{\"a\": {inner}, \"b\": [{inner}, 1]}}");
        corpus.push((
            nested("1"),
            nested(&wide(&mut (0..50))),
            Some(nested(&wide(&mut (0..50).rev()))),
        ));
        corpus.push((
            nested("1"),
            nested(&wide(&mut (0..50))),
            Some(nested(&wide(&mut (0..49)))),
        ));
        corpus.push((
            wide(&mut (0..300)),
            wide(&mut (0..300).rev()).replace("\"x\"", "\"y\""),
            Some(wide(&mut (0..300)).replace("[7,", "[8,")),
        ));
        for seed in 0..400 {
            let mut rng = fastrand::Rng::with_seed(seed);
            SHUFFLE.with(|s| s.set(seed % 3 == 0));
            let (a, b) = generated_pair(&mut rng);
            let noise = rng.bool().then(|| generated_pair(&mut rng).0);
            corpus.push((a, b, noise));
        }
        SHUFFLE.with(|s| s.set(true));
        let values = |body: Option<&[u8]>| {
            body.and_then(|b| Doc::parse(b).ok())
                .map_or(0, |d| d.nodes.len())
        };
        for budget in [1, 7, 64, 4096] {
            // Bytes compared or read (read into a document: `READ_WEIGHT` each), or values
            // indexed and walked (`VALUE_WEIGHT` each): a step goes beyond its budget by at
            // most the tokenizer's lookahead twice, or a step of the walk.
            let most =
                budget.max(LOOKAHEAD).max(VALUE_WEIGHT) + 2 * LOOKAHEAD + OVERSHOOT * VALUE_WEIGHT;
            for (i, (a, b, n)) in corpus.iter().enumerate() {
                let (a, b, n) = (a.as_bytes(), b.as_bytes(), n.as_ref().map(String::as_bytes));
                let ignore = &ignores[i % ignores.len()];
                let total = a.len() + b.len() + n.map_or(0, <[u8]>::len);
                let total_values = values(Some(a)) + values(Some(b)) + values(n);
                let mut job = DiffJob::new();
                let mut steps = 0;
                let result = loop {
                    let before = job.spent();
                    let progress = job.step(a, b, n, ignore, budget);
                    let worked = job.spent() - before;
                    assert!(
                        worked <= most,
                        "{worked} bytes in a step of {budget}, case {i}"
                    );
                    steps += 1;
                    // Each body is compared, read side by side and read into a document
                    // at most once; each document indexed once, its values visited at most
                    // twice in each walk.
                    let limit = values_within(budget);
                    assert!(
                        steps <= 6 * total / budget + 16 * total_values / limit + 16,
                        "{steps} steps of {budget}, case {i}"
                    );
                    if let Progress::Done(result) = progress {
                        break result;
                    }
                };
                assert_eq!(result, diff(a, b, n, ignore), "budget {budget}, case {i}");
            }
        }
    }

    /// An abstract JSON value for the generated tests.
    #[derive(Clone)]
    enum Gen {
        Null,
        Bool(bool),
        /// digits x 10^exponent
        Number(u64, i32),
        Text(String),
        Array(Vec<Gen>),
        Object(Vec<(String, Gen)>),
    }

    impl Gen {
        fn value(rng: &mut fastrand::Rng, depth: usize) -> Gen {
            match rng.u8(0..if depth > 3 { 4 } else { 6 }) {
                0 => Gen::Null,
                1 => Gen::Bool(rng.bool()),
                2 => Gen::Number(rng.u64(0..100_000), rng.i32(-5..5)),
                3 => Gen::Text(
                    // Short and long (a string's end at each place of an eight-byte word),
                    // other than ASCII at places in a word, escapes.
                    [
                        "a",
                        "b c",
                        "é",
                        "\u{1f600}",
                        "q\"uote",
                        "",
                        "abcdefg",
                        "abcdefgh",
                        "abcdefghijklmno",
                        "abcdefghijklmnop\u{1f600}x",
                        "seven\\ back",
                        "line\nfeed\ttab",
                        "abcdefgé",
                        "abcdefghéijklmnopq",
                    ][rng.usize(0..14)]
                    .to_string(),
                ),
                4 => Gen::Array(
                    (0..rng.usize(0..4))
                        .map(|_| Gen::value(rng, depth + 1))
                        .collect(),
                ),
                _ => Gen::Object(
                    (0..rng.usize(0..4))
                        .map(|i| {
                            let key = ["k", "key-of-some-length-", "ké"][rng.usize(0..3)];
                            (format!("{key}{i}"), Gen::value(rng, depth + 1))
                        })
                        .collect(),
                ),
            }
        }

        /// Paths of the leaves (keys and indexes as text).
        fn leaves(&self, path: &mut Vec<String>) -> Vec<Vec<String>> {
            let mut found = Vec::new();
            match self {
                Gen::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        path.push(i.to_string());
                        found.extend(item.leaves(path));
                        path.pop();
                    }
                }
                Gen::Object(members) => {
                    for (key, item) in members {
                        path.push(key.clone());
                        found.extend(item.leaves(path));
                        path.pop();
                    }
                }
                _ => found.push(path.clone()),
            }
            found
        }

        /// Written with random key order, spacing, number spelling and escapes; the leaf at
        /// `change` (if any) written as a different value.
        fn write(&self, rng: &mut fastrand::Rng, change: Option<&Vec<String>>) -> String {
            let mut out = String::new();
            self.write_at(rng, change, &mut Vec::new(), &mut out);
            out
        }

        fn write_at(
            &self,
            rng: &mut fastrand::Rng,
            change: Option<&Vec<String>>,
            path: &mut Vec<String>,
            out: &mut String,
        ) {
            let space = |rng: &mut fastrand::Rng, out: &mut String| {
                out.push_str([" ", "", "\n\t", "  "][rng.usize(0..4)])
            };
            space(rng, out);
            if change == Some(path) {
                out.push_str(match self {
                    Gen::Null => "false",
                    _ => "null",
                });
                return;
            }
            match self {
                Gen::Null => out.push_str("null"),
                Gen::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Gen::Number(digits, exponent) => {
                    // The same value: digits x 10^exponent, spelled one of several ways.
                    let shift = rng.i32(0..3);
                    let zeros = "0".repeat(shift as usize);
                    match rng.u8(0..4) {
                        0 => out.push_str(&format!("{digits}{zeros}e{}", exponent - shift)),
                        3 if *exponent < 0 => {
                            // A decimal fraction, zeros appended or not (`1.5`, `1.50`).
                            let text = format!("{digits:0>6}");
                            let (whole, fraction) =
                                text.split_at(text.len() - exponent.unsigned_abs() as usize);
                            let whole = whole.trim_start_matches('0');
                            let whole = if whole.is_empty() { "0" } else { whole };
                            out.push_str(&format!("{whole}.{fraction}{zeros}"));
                        }
                        3 => out.push_str(&format!("{digits}{}", "0".repeat(*exponent as usize))),
                        1 => out.push_str(
                            &format!("{digits}{zeros}E+{}", exponent - shift).replace("+-", "-"),
                        ),
                        _ => {
                            let text = digits.to_string();
                            out.push_str(&format!("0.{text}e{}", exponent + text.len() as i32));
                        }
                    }
                }
                Gen::Text(text) => {
                    out.push('"');
                    for c in text.chars() {
                        match c {
                            '"' => out.push_str("\\\""),
                            '\\' => out.push_str("\\\\"),
                            '\n' => out.push_str(["\\n", "\\u000a"][rng.usize(0..2)]),
                            '\t' => out.push_str("\\t"),
                            c if rng.bool() && (c as u32) < 0x10000 => {
                                out.push_str(&format!("\\u{:04x}", c as u32))
                            }
                            c => out.push(c),
                        }
                    }
                    out.push('"');
                }
                Gen::Array(items) => {
                    out.push('[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        path.push(i.to_string());
                        item.write_at(rng, change, path, out);
                        path.pop();
                    }
                    space(rng, out);
                    out.push(']');
                }
                Gen::Object(members) => {
                    let mut order: Vec<usize> = (0..members.len()).collect();
                    if SHUFFLE.with(std::cell::Cell::get) {
                        rng.shuffle(&mut order);
                    }
                    out.push('{');
                    for (n, i) in order.into_iter().enumerate() {
                        let (key, item) = &members[i];
                        if n > 0 {
                            out.push(',');
                        }
                        space(rng, out);
                        out.push_str(&format!("\"{key}\":"));
                        path.push(key.clone());
                        item.write_at(rng, change, path, out);
                        path.pop();
                    }
                    space(rng, out);
                    out.push('}');
                }
            }
        }
    }
}
