//! The diff's walk over two documents (`document`), with a noise baseline beside them: which
//! paths differ, which of those differ in the baseline too (noise), which are ignored.
//!
//! Each value of each document is visited at most twice (once in the pairwise walk, at most
//! once more in a deep comparison below a difference, which the walk does not enter), and
//! each visit costs a bounded number of path matches (patterns x depth, both bounded by the
//! configuration and `MAX_DEPTH`) and member look-ups: in place for objects of at most
//! `SMALL_OBJECT` members, else by hash (std's randomly keyed SipHash, so no input can make
//! keys collide on purpose).

use super::document::{find, key_of, Kind, Side};
use crate::data_like;
use crate::json::number::numbers_equal;
use crate::json_path::{JsonPath, JsonPaths, PathSet, Step};

/// Differing paths named per comparison (more are counted, not named).
pub const MAX_PATHS: usize = 32;
/// A longer path is cut (keys are data and may be long).
pub const MAX_PATH_CHARS: usize = 200;
/// The path of the whole body: not JSON, or different types at the top.
pub const ROOT_PATH: &str = "$";

/// A path whose values are not compared (`compare.ignore_json_fields`), with its last segment
/// when that is a plain key: only a value with that key (or index) can match, a test far
/// cheaper than the full match, so it is made first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredPath {
    path: JsonPaths,
    last_key: Option<String>,
    last_index: Option<usize>,
}

impl IgnoredPath {
    /// `None` where `JsonPath::parse` refuses the text.
    pub fn parse(text: &str) -> Option<IgnoredPath> {
        let path = JsonPath::parse(text)?;
        // `redact.json_fields` syntax: segments separated by `.`; a segment with `*` is a
        // wildcard (`*`, `**`), which says nothing about the last key.
        let last_key = text
            .rsplit('.')
            .next()
            .filter(|last| !last.contains('*'))
            .map(String::from);
        let last_index = last_key.as_deref().and_then(|key| key.parse().ok());
        Some(IgnoredPath {
            path: JsonPaths::from(vec![path]),
            last_key,
            last_index,
        })
    }

    /// Whether the walk's `path` is this one (names compared exactly: a service's responses
    /// spell their own keys).
    pub(super) fn matches(&self, path: &[Part<'_>]) -> bool {
        let set = PathSet {
            paths: &self.path,
            case_sensitive: true,
        };
        set.matches(path.iter().map(|part| match part {
            Part::Key(key) => Step::Key(std::str::from_utf8(key).ok()),
            Part::Index(index) => Step::Index(*index),
        }))
    }

    /// Whether a value whose own key or index is `last` may match.
    pub(super) fn may_end_with(&self, last: &Part<'_>) -> bool {
        match (&self.last_key, last) {
            (None, _) => true,
            (Some(key), Part::Key(actual)) => key.as_bytes() == *actual,
            (Some(_), Part::Index(index)) => self.last_index == Some(*index),
        }
    }
}

/// A step of the walk's path: a member's key (decoded, borrowed from its document) or an
/// array index. Turned into `Step`s only to match an ignored path.
#[derive(Debug, Clone, Copy)]
pub(super) enum Part<'d> {
    Key(&'d [u8]),
    Index(usize),
}

/// Candidate-vs-reference differences.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Differences {
    /// The first `MAX_PATHS` distinct differing paths, as `render` writes them (templates:
    /// data-like keys `{}`, indices `*`), in document order (the candidate's members
    /// first, then those only the reference has), each with whether it is noise (it differs
    /// between the reference and the noise baseline too).
    pub paths: Vec<(String, bool)>,
    /// All differing paths that are not noise.
    pub real: u32,
    /// All differing paths that are noise.
    pub noise: u32,
}

impl Differences {
    pub(super) fn add(&mut self, path: &[Part<'_>], noise: bool) {
        if noise {
            self.noise = self.noise.saturating_add(1);
        } else {
            self.real = self.real.saturating_add(1);
        }
        if self.paths.len() < MAX_PATHS {
            // Rendered paths are templates (`items.*.p`): each is listed once.
            let rendered = (render(path), noise);
            if !self.paths.contains(&rendered) {
                self.paths.push(rendered);
            }
        }
    }

    /// The first differing paths that are not noise.
    pub fn real_paths(&self) -> impl Iterator<Item = &str> {
        self.paths
            .iter()
            .filter(|(_, noise)| !noise)
            .map(|(path, _)| path.as_str())
    }
}

/// `a.*.b`, as `redact.json_fields` writes it, data-like keys as `{}` and indices as `*`
/// (`data_like`: a log line never carries a key that is data); `$` for the whole body. At most
/// `MAX_PATH_CHARS` characters are written (then `...`), so a path of long keys costs no more.
fn render(path: &[Part<'_>]) -> String {
    if path.is_empty() {
        return ROOT_PATH.to_string();
    }
    let mut text = String::new();
    let mut budget = MAX_PATH_CHARS;
    for (i, part) in path.iter().enumerate() {
        let segment = match part {
            Part::Key(key) => data_like::reported(key),
            Part::Index(_) => data_like::INDEX,
        };
        let separator = if i > 0 { "." } else { "" };
        for c in separator.chars().chain(segment.chars()) {
            if budget == 0 {
                text.push_str("...");
                return text;
            }
            text.push(c);
            budget -= 1;
        }
    }
    text
}

/// Where a walk is, and what it skips.
pub(super) struct Cursor<'d, 'p> {
    path: Vec<Part<'d>>,
    ignore: &'p [IgnoredPath],
    /// For numbers' canonical forms.
    scratch: (Vec<u8>, Vec<u8>),
    /// Values visited (tests count the work with it).
    pub(super) visits: usize,
}

impl<'d, 'p> Cursor<'d, 'p> {
    pub(super) fn new(ignore: &'p [IgnoredPath]) -> Self {
        Cursor {
            path: Vec::new(),
            ignore,
            scratch: (Vec::new(), Vec::new()),
            visits: 0,
        }
    }

    /// The path here.
    pub(super) fn path(&self) -> &[Part<'d>] {
        &self.path
    }

    /// Buffers for numbers' canonical forms and strings' decoded text.
    pub(super) fn scratch(&mut self) -> &mut (Vec<u8>, Vec<u8>) {
        &mut self.scratch
    }

    pub(super) fn push_key(&mut self, key: &'d [u8]) {
        self.path.push(Part::Key(key));
    }

    pub(super) fn push_index(&mut self, index: usize) {
        self.path.push(Part::Index(index));
    }

    pub(super) fn pop(&mut self) {
        self.path.pop();
    }

    pub(super) fn ignored(&mut self) -> bool {
        if self.ignore.is_empty() {
            return false;
        }
        let Some(&last) = self.path.last() else {
            return false;
        };
        self.ignore
            .iter()
            .filter(|ignored| ignored.may_end_with(&last))
            .any(|ignored| ignored.matches(&self.path))
    }

    /// Deep equality of `a`'s value and `b`'s (`None`: absent), ignored paths left out.
    fn same(&mut self, side_a: Side<'d>, a: Option<u32>, side_b: Side<'d>, b: Option<u32>) -> bool {
        self.visits += 1;
        if self.ignored() {
            return true;
        }
        let (Some(a), Some(b)) = (a, b) else {
            return a.is_none() && b.is_none();
        };
        let (doc_a, doc_b) = (side_a.0, side_b.0);
        let (Some(node_a), Some(node_b)) = (doc_a.node(a), doc_b.node(b)) else {
            return false;
        };
        if node_a.kind != node_b.kind {
            return false;
        }
        match node_a.kind {
            Kind::Object => {
                for child in doc_a.children(a) {
                    let key = key_of(doc_a, child);
                    let other = find(side_b, b, key);
                    self.push_key(key);
                    let equal = self.same(side_a, Some(child), side_b, other);
                    self.pop();
                    if !equal {
                        return false;
                    }
                }
                // Members only `b` has: equal only where ignored.
                doc_b.children(b).all(|child| {
                    let key = key_of(doc_b, child);
                    if find(side_a, a, key).is_some() {
                        return true;
                    }
                    self.push_key(key);
                    let ignored = self.ignored();
                    self.pop();
                    ignored
                })
            }
            Kind::Array => {
                let (mut items_a, mut items_b) = (doc_a.children(a), doc_b.children(b));
                for position in 0.. {
                    let (item_a, item_b) = (items_a.next(), items_b.next());
                    if item_a.is_none() && item_b.is_none() {
                        break;
                    }
                    self.push_index(position);
                    let equal = self.same(side_a, item_a, side_b, item_b);
                    self.pop();
                    if !equal {
                        return false;
                    }
                }
                true
            }
            Kind::Number => numbers_equal(
                doc_a.text(node_a.value),
                doc_b.text(node_b.value),
                &mut self.scratch,
            ),
            _ => doc_a.text(node_a.value) == doc_b.text(node_b.value),
        }
    }
}

/// The pairwise walk of two documents (and the noise baseline beside them).
pub(super) struct Walk<'d, 'p> {
    a: Side<'d>,
    b: Side<'d>,
    /// `None`: no noise baseline.
    noise: Option<Side<'d>>,
    pub(super) cursor: Cursor<'d, 'p>,
    pub(super) differences: Differences,
}

impl<'d, 'p> Walk<'d, 'p> {
    pub(super) fn new(
        a: Side<'d>,
        b: Side<'d>,
        noise: Option<Side<'d>>,
        ignore: &'p [IgnoredPath],
    ) -> Self {
        Walk {
            a,
            b,
            noise,
            cursor: Cursor::new(ignore),
            differences: Differences::default(),
        }
    }

    /// Compares `a`'s value with `b`'s at the current path (`None`: absent). `noise` is the
    /// baseline's value there: `None` without a baseline, `Some(None)` if it has none.
    pub(super) fn values(&mut self, a: Option<u32>, b: Option<u32>, noise: Option<Option<u32>>) {
        self.cursor.visits += 1;
        if self.cursor.ignored() {
            return;
        }
        let node_a = a.and_then(|i| self.a.0.node(i));
        let node_b = b.and_then(|i| self.b.0.node(i));
        let (kind_a, kind_b) = (node_a.map(|n| n.kind), node_b.map(|n| n.kind));
        match (kind_a, kind_b, a, b) {
            (Some(Kind::Object), Some(Kind::Object), Some(a), Some(b)) => self.objects(a, b, noise),
            (Some(Kind::Array), Some(Kind::Array), Some(a), Some(b)) => self.arrays(a, b, noise),
            _ => {
                // Two scalars of one kind, the usual leaf, are compared here at once (as
                // `same` would, without looking them up again).
                let equal_scalars = match (node_a, node_b) {
                    (Some(x), Some(y)) if x.kind == y.kind => {
                        let (x, y) = (self.a.0.text(x.value), self.b.0.text(y.value));
                        if kind_a == Some(Kind::Number) {
                            numbers_equal(x, y, self.cursor.scratch())
                        } else {
                            x == y
                        }
                    }
                    _ => false,
                };
                if !equal_scalars && !self.cursor.same(self.a, a, self.b, b) {
                    // A noise value is only given with a noise document.
                    let baseline = self.noise.unwrap_or(self.b);
                    let noise = noise.is_some_and(|n| !self.cursor.same(self.b, b, baseline, n));
                    self.differences.add(&self.cursor.path, noise);
                }
            }
        }
    }

    fn objects(&mut self, a: u32, b: u32, noise: Option<Option<u32>>) {
        let doc_a = self.a.0;
        let doc_b = self.b.0;
        let mut in_order = doc_b.children(b);
        let mut found = 0;
        for child in doc_a.children(a) {
            let key = key_of(doc_a, child);
            // Members usually come in the same order on both sides: try the next one first.
            let in_b = in_order
                .next()
                .filter(|other| key_of(doc_b, *other) == key)
                .or_else(|| find(self.b, b, key));
            found += u32::from(in_b.is_some());
            let in_noise = self.member(noise, key);
            self.cursor.push_key(key);
            self.values(Some(child), in_b, in_noise);
            self.cursor.pop();
        }
        if doc_b.node(b).is_some_and(|n| n.value.len == found) {
            // Every member of `b` was found (keys are unique): none is `b`'s alone.
            return;
        }
        for child in doc_b.children(b) {
            let key = key_of(doc_b, child);
            if find(self.a, a, key).is_some() {
                continue;
            }
            let in_noise = self.member(noise, key);
            self.cursor.push_key(key);
            self.values(None, Some(child), in_noise);
            self.cursor.pop();
        }
    }

    /// The noise baseline's member `key` of its value `noise`.
    fn member(&self, noise: Option<Option<u32>>, key: &[u8]) -> Option<Option<u32>> {
        let side = self.noise?;
        Some(noise.flatten().and_then(|n| {
            let object = side.0.node(n)?.kind == Kind::Object;
            object.then(|| find(side, n, key)).flatten()
        }))
    }

    fn arrays(&mut self, a: u32, b: u32, noise: Option<Option<u32>>) {
        let mut items_a = self.a.0.children(a);
        let mut items_b = self.b.0.children(b);
        let noise_doc = self.noise.map(|(doc, _)| doc);
        let mut items_noise = noise_doc
            .zip(noise.flatten())
            .and_then(|(doc, n)| (doc.node(n)?.kind == Kind::Array).then(|| doc.children(n)));
        for position in 0.. {
            let (item_a, item_b) = (items_a.next(), items_b.next());
            if item_a.is_none() && item_b.is_none() {
                break;
            }
            let item_noise = noise.map(|_| items_noise.as_mut().and_then(Iterator::next));
            self.cursor.push_index(position);
            self.values(item_a, item_b, item_noise);
            self.cursor.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cheap test on the last key never disagrees with the full match.
    #[test]
    fn ignored_paths_match_as_json_paths_do() {
        let steps = |text: &'static str| -> Vec<Step<'static>> {
            text.split('.')
                .map(|s| match s.parse() {
                    Ok(index) => Step::Index(index),
                    Err(_) => Step::Key(Some(s)),
                })
                .collect()
        };
        let patterns = ["a", "a.b", "a.*", "a.*.c", "*", "a.0", "0", "a.*.0"];
        let paths = [
            "a", "b", "a.b", "a.c", "a.0", "a.1", "a.x.c", "a.3.c", "a.3.0", "0", "x.0",
        ];
        for pattern in patterns {
            let ignored = IgnoredPath::parse(pattern).unwrap();
            for path in paths {
                let steps = steps(path);
                let parts: Vec<Part<'_>> = steps
                    .iter()
                    .map(|step| match step {
                        Step::Key(key) => Part::Key(key.unwrap_or_default().as_bytes()),
                        Step::Index(index) => Part::Index(*index),
                    })
                    .collect();
                let mut cursor = Cursor {
                    path: parts,
                    ignore: std::slice::from_ref(&ignored),
                    scratch: (Vec::new(), Vec::new()),
                    visits: 0,
                };
                assert_eq!(
                    cursor.ignored(),
                    PathSet {
                        paths: &JsonPaths::from(vec![JsonPath::parse(pattern).unwrap()]),
                        case_sensitive: true
                    }
                    .matches(steps.iter().copied()),
                    "{pattern} on {path}"
                );
            }
        }
        assert_eq!(IgnoredPath::parse("a..b"), None);
    }
}
