//! The structural diff of JSON bodies: which paths differ between the candidate's body and the
//! reference's, and which of those differ between the reference and the noise baseline too.
//!
//! Key order and whitespace do not count; numbers compare by exact decimal value (`1` equals
//! `1.0`, `1e2` equals `100`, also beyond f64's precision); strings by their decoded text;
//! arrays in order. A body that is not JSON (invalid UTF-8, bad syntax, a lone surrogate,
//! nesting deeper than `MAX_DEPTH`) or that has a duplicate key is compared as bytes.
//!
//! Work is linear in the bodies' size: equal bodies cost one comparison of bytes; bodies of one
//! shape (members in the same order) are compared as they are read (`lockstep`, without a
//! noise baseline); otherwise parsing reads each byte once (strings without escapes and numbers stay spans of the body;
//! a number is put in canonical form only when its spelling differs from its counterpart's);
//! the walk visits each value of each document at most twice (once in the pairwise walk, at
//! most once more in a deep comparison below a difference, which the walk does not enter), and
//! each visit costs a bounded number of path matches (patterns x depth, both bounded by the
//! configuration and `MAX_DEPTH`) and member look-ups: in place for objects of at most
//! `SMALL_OBJECT` members, else by hash (std's randomly keyed SipHash, so no input can make
//! keys collide on purpose). `tests::work_is_linear_in_the_input` counts it.
//!
//! Cost, measured natively (x86-64, opt-level "s", callgrind): two different 1.5 KB bodies
//! (about 120 values each) with two ignored paths: about 135k instructions in one member
//! order, 195k in different orders (half parsing, half the walk); with a noise baseline, about
//! 330k; equal bodies, a `memcmp`.

use crate::data_like;
use crate::json_path::{JsonPath, JsonPaths, PathSet, Step};
use crate::json_text::{simple_escape, surrogate_pair, HIGH_SURROGATES};
use std::collections::HashMap;

/// Deeper nesting is compared as bytes: the walk recurses, and the VM's stack is small.
pub const MAX_DEPTH: usize = 128;
/// Values per document: a parsed value takes 24 bytes, so this bounds the transient memory of
/// a comparison (about 3 MiB per document) whatever `max_body_bytes` allows.
pub const MAX_VALUES: usize = 131_072;
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
    fn matches(&self, path: &[Part<'_>]) -> bool {
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
    fn may_end_with(&self, last: &Part<'_>) -> bool {
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

/// Why a body could not be compared as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// Not JSON, or JSON with a duplicate key: compared as bytes.
    NotJson,
    /// More than `MAX_VALUES` values: not compared.
    TooComplex,
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
    if candidate == reference && noise.map_or(true, |n| n == reference) {
        return Ok((JsonDiff::default(), 0));
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
    let (c, r) = match (Doc::parse(candidate), Doc::parse(reference)) {
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
    let n = noise.and_then(|bytes| Doc::parse(bytes).ok());
    let ni = n.as_ref().and_then(Doc::index);
    let noise = n.as_ref().zip(ni.as_ref());
    let mut result = JsonDiff::default();
    let mut walk = Walk::new((&c, &ci), (&r, &ri), noise, ignore);
    walk.values(Some(0), Some(0), noise.map(|_| Some(0)));
    let mut visits = walk.cursor.visits;
    result.candidate = walk.differences;
    if let Some(noise) = noise {
        let mut walk = Walk::new((&r, &ri), noise, None, ignore);
        walk.values(Some(0), Some(0), None);
        visits += walk.cursor.visits;
        result.baseline_differences = walk.differences.real;
        result.baseline_paths = walk.differences.paths.into_iter().map(|(p, _)| p).collect();
    }
    Ok((result, visits))
}

/// Bodies that are not both JSON: equal bytes, or a difference of the whole.
fn diff_bytes(candidate: &[u8], reference: &[u8], noise: Option<&[u8]>) -> JsonDiff {
    let mut result = JsonDiff::default();
    let baseline_differs = noise.is_some_and(|n| n != reference);
    if candidate != reference {
        result.candidate.add(&[], baseline_differs);
    }
    if baseline_differs {
        result.baseline_differences = 1;
        result.baseline_paths.push(ROOT_PATH.to_string());
    }
    result
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    True,
    False,
    Number,
    String,
    Array,
    Object,
}

/// A span of `Doc::text`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

/// One value; its children follow it, and `end` is the index after its last descendant.
#[derive(Debug, Clone, Copy)]
struct Node {
    kind: Kind,
    end: u32,
    /// The member's key (decoded), for a value inside an object.
    key: Span,
    /// The decoded string, or the number's canonical form; for an array or object, `len` is
    /// its number of members.
    value: Span,
}

/// A parsed document: values in document order (pre-order). Numbers and strings without
/// escapes are spans of the body itself; strings with escapes are decoded into `text`.
struct Doc<'b> {
    bytes: &'b [u8],
    nodes: Vec<Node>,
    text: Vec<u8>,
}

/// Marks a span of `Doc::text` (else it is a span of the body). Bodies are far below 2^31.
const IN_TEXT: u32 = 1 << 31;

/// An object's members by key: (object's index, key) -> member's index.
type Index<'d> = HashMap<(u32, &'d [u8]), u32>;

impl<'b> Doc<'b> {
    fn parse(bytes: &'b [u8]) -> Result<Doc<'b>, Unreadable> {
        std::str::from_utf8(bytes).map_err(|_| Unreadable::NotJson)?;
        if u32::try_from(bytes.len()).map_or(true, |len| len >= IN_TEXT) {
            return Err(Unreadable::TooComplex);
        }
        let mut parser = Parser {
            scanner: Scanner::new(bytes),
            doc: Doc {
                bytes,
                nodes: Vec::new(),
                text: Vec::new(),
            },
        };
        parser.value(0, Span::default())?;
        if !parser.scanner.at_end() {
            return Err(Unreadable::NotJson);
        }
        Ok(parser.doc)
    }

    fn node(&self, index: u32) -> Option<&Node> {
        self.nodes.get(index as usize)
    }

    /// A key's or a value's bytes (decoded).
    fn text(&self, span: Span) -> &[u8] {
        let (buffer, len) = if span.len & IN_TEXT != 0 {
            (self.text.as_slice(), span.len & !IN_TEXT)
        } else {
            (self.bytes, span.len)
        };
        let start = span.start as usize;
        buffer
            .get(start..start.saturating_add(len as usize))
            .unwrap_or_default()
    }

    /// Members by key; `None` when an object has a key twice (such a document is compared
    /// as bytes: which of the two values counts is up to each reader).
    fn index(&self) -> Option<Index<'_>> {
        let mut index = Index::new();
        for (parent, node) in self.nodes.iter().enumerate() {
            if node.kind != Kind::Object {
                continue;
            }
            let parent = parent as u32;
            if node.value.len <= SMALL_OBJECT {
                // At most SMALL_OBJECT^2 / 2 key comparisons: bounded work per key.
                for (position, child) in self.children(parent).enumerate() {
                    let key = key_of(self, child);
                    if self
                        .children(parent)
                        .skip(position + 1)
                        .any(|other| key_of(self, other) == key)
                    {
                        return None;
                    }
                }
                continue;
            }
            for child in self.children(parent) {
                if index.insert((parent, key_of(self, child)), child).is_some() {
                    return None;
                }
            }
        }
        Some(index)
    }

    /// The direct children of a container, in order.
    fn children(&self, parent: u32) -> Children<'_> {
        Children {
            doc: self,
            next: parent + 1,
            end: self.node(parent).map_or(0, |n| n.end),
        }
    }
}

struct Children<'d> {
    doc: &'d Doc<'d>,
    next: u32,
    end: u32,
}

impl Iterator for Children<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.next >= self.end {
            return None;
        }
        let child = self.next;
        self.next = self.doc.node(child)?.end;
        Some(child)
    }
}

/// A document with its index.
type Side<'d> = (&'d Doc<'d>, &'d Index<'d>);

/// Objects with at most this many members are searched in place (cheaper than hashing their
/// keys); larger ones through the index.
const SMALL_OBJECT: u32 = 8;

/// The member `key` of `object` in `side`'s document.
fn find((doc, index): Side<'_>, object: u32, key: &[u8]) -> Option<u32> {
    if doc.node(object)?.value.len <= SMALL_OBJECT {
        doc.children(object)
            .find(|&child| doc.node(child).is_some_and(|n| doc.text(n.key) == key))
    } else {
        index.get(&(object, key)).copied()
    }
}

/// The key of a member.
fn key_of<'d>(doc: &'d Doc<'_>, member: u32) -> &'d [u8] {
    doc.node(member)
        .map(|n| doc.text(n.key))
        .unwrap_or_default()
}

/// Where a walk is, and what it skips.
pub(super) struct Cursor<'d, 'p> {
    path: Vec<Part<'d>>,
    ignore: &'p [IgnoredPath],
    /// For numbers' canonical forms.
    scratch: (Vec<u8>, Vec<u8>),
    /// Values visited (tests count the work with it).
    visits: usize,
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
struct Walk<'d, 'p> {
    a: Side<'d>,
    b: Side<'d>,
    /// `None`: no noise baseline.
    noise: Option<Side<'d>>,
    cursor: Cursor<'d, 'p>,
    differences: Differences,
}

impl<'d, 'p> Walk<'d, 'p> {
    fn new(a: Side<'d>, b: Side<'d>, noise: Option<Side<'d>>, ignore: &'p [IgnoredPath]) -> Self {
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
    fn values(&mut self, a: Option<u32>, b: Option<u32>, noise: Option<Option<u32>>) {
        self.cursor.visits += 1;
        if self.cursor.ignored() {
            return;
        }
        let kind_a = a.and_then(|i| self.a.0.node(i)).map(|n| n.kind);
        let kind_b = b.and_then(|i| self.b.0.node(i)).map(|n| n.kind);
        match (kind_a, kind_b, a, b) {
            (Some(Kind::Object), Some(Kind::Object), Some(a), Some(b)) => self.objects(a, b, noise),
            (Some(Kind::Array), Some(Kind::Array), Some(a), Some(b)) => self.arrays(a, b, noise),
            _ => {
                if !self.cursor.same(self.a, a, self.b, b) {
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

/// Reads JSON tokens from a body, strictly (RFC 8259): the parser and the lockstep reader
/// (`lockstep`) both read through it, so both accept exactly the same bodies.
pub(super) struct Scanner<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) at: usize,
}

/// A string's content (between its quotes) in the body, and whether it has escapes.
#[derive(Debug, Clone, Copy)]
pub(super) struct StringToken {
    start: usize,
    end: usize,
    pub(super) escaped: bool,
}

impl StringToken {
    pub(super) fn content<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        bytes.get(self.start..self.end).unwrap_or_default()
    }
}

impl<'a> Scanner<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Scanner<'a> {
        Scanner { bytes, at: 0 }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Result<u8, Unreadable> {
        let byte = self.peek().ok_or(Unreadable::NotJson)?;
        self.at += 1;
        Ok(byte)
    }

    fn consume(&mut self, wanted: u8) -> Result<(), Unreadable> {
        (self.next()? == wanted)
            .then_some(())
            .ok_or(Unreadable::NotJson)
    }

    pub(super) fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Whether only whitespace is left.
    pub(super) fn at_end(&mut self) -> bool {
        self.whitespace();
        self.at == self.bytes.len()
    }

    /// Opens an object or array (`{` or `[`); false when it is empty (and already closed).
    pub(super) fn open(&mut self, open: u8) -> Result<bool, Unreadable> {
        self.consume(open)?;
        self.whitespace();
        let close = if open == b'{' { b'}' } else { b']' };
        if self.peek() == Some(close) {
            self.at += 1;
            return Ok(false);
        }
        Ok(true)
    }

    /// After a member or item: whether another follows (`,`) or the container ends (`close`).
    pub(super) fn more(&mut self, close: u8) -> Result<bool, Unreadable> {
        self.whitespace();
        match self.next()? {
            b',' => Ok(true),
            byte if byte == close => Ok(false),
            _ => Err(Unreadable::NotJson),
        }
    }

    /// A member's key and its `:`.
    pub(super) fn key(&mut self) -> Result<StringToken, Unreadable> {
        self.whitespace();
        let key = self.string()?;
        self.whitespace();
        self.consume(b':')?;
        Ok(key)
    }

    pub(super) fn literal(&mut self, word: &[u8]) -> Result<(), Unreadable> {
        let end = self.at + word.len();
        if self.bytes.get(self.at..end) != Some(word) {
            return Err(Unreadable::NotJson);
        }
        self.at = end;
        Ok(())
    }

    /// A string, its escapes checked.
    pub(super) fn string(&mut self) -> Result<StringToken, Unreadable> {
        self.consume(b'"')?;
        let start = self.at;
        let mut escaped = false;
        loop {
            // Plain bytes are skipped a run at a time.
            let rest = self.bytes.get(self.at..).unwrap_or_default();
            let run = rest
                .iter()
                .position(|b| matches!(b, b'"' | b'\\') || *b < 0x20)
                .ok_or(Unreadable::NotJson)?;
            self.at += run;
            match self.next()? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                _ => return Err(Unreadable::NotJson),
            }
        }
        Ok(StringToken {
            start,
            end: self.at - 1,
            escaped,
        })
    }

    fn escape(&mut self) -> Result<char, Unreadable> {
        let letter = self.next()?;
        if letter != b'u' {
            return simple_escape(letter).ok_or(Unreadable::NotJson);
        }
        let first = self.hex4()?;
        if !HIGH_SURROGATES.contains(&first) {
            return char::from_u32(first).ok_or(Unreadable::NotJson);
        }
        // A high surrogate must be followed by a low one; a lone one has no text, and two
        // readers may read it differently: not JSON to compare.
        self.consume(b'\\')?;
        self.consume(b'u')?;
        let second = self.hex4()?;
        surrogate_pair(first, second).ok_or(Unreadable::NotJson)
    }

    fn hex4(&mut self) -> Result<u32, Unreadable> {
        let mut value = 0;
        for _ in 0..4 {
            let digit = char::from(self.next()?)
                .to_digit(16)
                .ok_or(Unreadable::NotJson)?;
            value = value * 16 + digit;
        }
        Ok(value)
    }

    /// A number (RFC 8259's grammar): its start in the body (it ends here).
    pub(super) fn number(&mut self) -> Result<usize, Unreadable> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return Err(Unreadable::NotJson),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.required_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.required_digits()?;
        }
        Ok(start)
    }

    fn required_digits(&mut self) -> Result<(), Unreadable> {
        let from = self.at;
        self.digits();
        (self.at > from).then_some(()).ok_or(Unreadable::NotJson)
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }
}

/// Decodes a string's content (checked by `Scanner::string`) into `out`.
pub(super) fn decode(content: &[u8], out: &mut Vec<u8>) -> Result<(), Unreadable> {
    let mut scanner = Scanner::new(content);
    loop {
        let rest = content.get(scanner.at..).unwrap_or_default();
        let run = rest.iter().position(|b| *b == b'\\').unwrap_or(rest.len());
        out.extend_from_slice(rest.get(..run).unwrap_or_default());
        scanner.at += run + 1;
        if scanner.at > content.len() {
            return Ok(());
        }
        let c = scanner.escape()?;
        let mut utf8 = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
    }
}

/// A strict RFC 8259 reader building a `Doc`.
struct Parser<'a> {
    scanner: Scanner<'a>,
    doc: Doc<'a>,
}

impl Parser<'_> {
    /// The span of the body from `start` to `end`.
    fn body_span(start: usize, end: usize) -> Span {
        // Both fit: the body is shorter than IN_TEXT (checked by `Doc::parse`).
        Span {
            start: start as u32,
            len: (end - start) as u32,
        }
    }

    fn value(&mut self, depth: usize, key: Span) -> Result<(), Unreadable> {
        if depth > MAX_DEPTH {
            return Err(Unreadable::NotJson);
        }
        if self.doc.nodes.len() >= MAX_VALUES {
            return Err(Unreadable::TooComplex);
        }
        self.scanner.whitespace();
        let index = self.doc.nodes.len();
        let s = &mut self.scanner;
        let (kind, value) = match s.peek().ok_or(Unreadable::NotJson)? {
            b'{' => (Kind::Object, Span::default()),
            b'[' => (Kind::Array, Span::default()),
            b'"' => (Kind::String, self.string()?),
            b't' => (Kind::True, s.literal(b"true").map(|()| Span::default())?),
            b'f' => (Kind::False, s.literal(b"false").map(|()| Span::default())?),
            b'n' => (Kind::Null, s.literal(b"null").map(|()| Span::default())?),
            _ => {
                let start = s.number()?;
                (Kind::Number, Parser::body_span(start, s.at))
            }
        };
        self.doc.nodes.push(Node {
            kind,
            end: 0,
            key,
            value,
        });
        let members = match kind {
            Kind::Object => Some(self.object(depth)?),
            Kind::Array => Some(self.array(depth)?),
            _ => None,
        };
        let end = u32::try_from(self.doc.nodes.len()).map_err(|_| Unreadable::TooComplex)?;
        if let Some(node) = self.doc.nodes.get_mut(index) {
            node.end = end;
            if let Some(members) = members {
                node.value.len = members;
            }
        }
        Ok(())
    }

    /// An object; returns its number of members.
    fn object(&mut self, depth: usize) -> Result<u32, Unreadable> {
        let mut members = 0u32;
        let mut more = self.scanner.open(b'{')?;
        while more {
            let key = self.scanner.key()?;
            let key = self.text_of(key)?;
            self.value(depth + 1, key)?;
            members += 1;
            more = self.scanner.more(b'}')?;
        }
        Ok(members)
    }

    /// An array; returns its number of items.
    fn array(&mut self, depth: usize) -> Result<u32, Unreadable> {
        let mut items = 0u32;
        let mut more = self.scanner.open(b'[')?;
        while more {
            self.value(depth + 1, Span::default())?;
            items += 1;
            more = self.scanner.more(b']')?;
        }
        Ok(items)
    }

    /// A string: its span in the body, or, if it has escapes, decoded into `text`.
    fn string(&mut self) -> Result<Span, Unreadable> {
        let token = self.scanner.string()?;
        self.text_of(token)
    }

    fn text_of(&mut self, token: StringToken) -> Result<Span, Unreadable> {
        if !token.escaped {
            return Ok(Parser::body_span(token.start, token.end));
        }
        let start = u32::try_from(self.doc.text.len()).map_err(|_| Unreadable::TooComplex)?;
        decode(token.content(self.scanner.bytes), &mut self.doc.text)?;
        let end = u32::try_from(self.doc.text.len()).map_err(|_| Unreadable::TooComplex)?;
        Ok(Span {
            start,
            len: (end - start) | IN_TEXT,
        })
    }
}

/// Whether two number tokens (valid JSON numbers) have the same value: the same spelling, or
/// the same canonical form (written into the scratch buffers).
pub(super) fn numbers_equal(a: &[u8], b: &[u8], scratch: &mut (Vec<u8>, Vec<u8>)) -> bool {
    if a == b {
        return true;
    }
    scratch.0.clear();
    scratch.1.clear();
    canonical_number(&NumberParts::of(a), &mut scratch.0);
    canonical_number(&NumberParts::of(b), &mut scratch.1);
    scratch.0 == scratch.1
}

struct NumberParts<'a> {
    token: &'a [u8],
    negative: bool,
    integer: &'a [u8],
    fraction: &'a [u8],
    /// With its sign, without the `e`.
    exponent: Option<&'a [u8]>,
}

impl NumberParts<'_> {
    /// The parts of a token the parser accepted.
    fn of(token: &[u8]) -> NumberParts<'_> {
        let (negative, unsigned) = match token.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, token),
        };
        let integer_len = unsigned.iter().take_while(|b| b.is_ascii_digit()).count();
        let (integer, rest) = unsigned.split_at(integer_len);
        let (fraction, rest) = match rest.split_first() {
            Some((b'.', after)) => {
                let len = after.iter().take_while(|b| b.is_ascii_digit()).count();
                after.split_at(len)
            }
            _ => (&[][..], rest),
        };
        let exponent = match rest.split_first() {
            Some((b'e' | b'E', after)) => Some(after),
            _ => None,
        };
        NumberParts {
            token,
            negative,
            integer,
            fraction,
            exponent,
        }
    }
}

/// Exponents with more significant digits than this are compared as written.
const MAX_EXPONENT_DIGITS: usize = 17;

/// Writes the number's canonical form: `0` for zero (of either sign), else the sign, the
/// significant digits without leading or trailing zeros, `e` and the exponent, so that equal
/// values have equal forms (`1`, `1.0`, `10e-1`, `0.1e1` are all `+1e0`). The exponent is never
/// expanded into digits, so `1e999999999` costs what its text costs. An exponent beyond
/// 10^17 (not a value any service means) is kept as written: `L` and the token.
fn canonical_number(parts: &NumberParts<'_>, out: &mut Vec<u8>) {
    let digits = || parts.integer.iter().chain(parts.fraction).copied();
    let leading = digits().take_while(|d| *d == b'0').count();
    let total = parts.integer.len() + parts.fraction.len();
    if leading == total {
        out.push(b'0');
        return;
    }
    let trailing = digits().rev().take_while(|d| *d == b'0').count();
    let Some(written) = exponent_value(parts.exponent) else {
        out.push(b'L');
        out.extend_from_slice(parts.token);
        return;
    };
    // Both counts are at most the body's length (< 2^32): no overflow in i64.
    let exponent = written - parts.fraction.len() as i64 + trailing as i64;
    out.push(if parts.negative { b'-' } else { b'+' });
    out.extend(digits().skip(leading).take(total - leading - trailing));
    out.push(b'e');
    // (Only numbers spelled differently on the two sides get here.)
    out.extend_from_slice(exponent.to_string().as_bytes());
}

/// The exponent's value; `None` when it has more than `MAX_EXPONENT_DIGITS` significant digits.
fn exponent_value(exponent: Option<&[u8]>) -> Option<i64> {
    let Some(text) = exponent else { return Some(0) };
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let significant: Vec<u8> = digits.iter().copied().skip_while(|d| *d == b'0').collect();
    if significant.len() > MAX_EXPONENT_DIGITS {
        return None;
    }
    let value = significant
        .iter()
        .fold(0i64, |v, d| v * 10 + i64::from(d - b'0'));
    Some(if negative { -value } else { value })
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
            let fast = super::super::lockstep::diff(a.as_bytes(), b.as_bytes(), ignore);
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
                    ["a", "b c", "é", "\u{1f600}", "q\"uote", ""][rng.usize(0..6)].to_string(),
                ),
                4 => Gen::Array(
                    (0..rng.usize(0..4))
                        .map(|_| Gen::value(rng, depth + 1))
                        .collect(),
                ),
                _ => Gen::Object(
                    (0..rng.usize(0..4))
                        .map(|i| (format!("k{i}"), Gen::value(rng, depth + 1)))
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
                    match rng.u8(0..3) {
                        0 => out.push_str(&format!("{digits}{zeros}e{}", exponent - shift)),
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
