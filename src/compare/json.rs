//! The structural diff of JSON bodies: which paths differ between the candidate's body and the
//! reference's, and which of those differ between the reference and the noise baseline too.
//!
//! Key order and whitespace do not count; numbers compare by exact decimal value (`1` equals
//! `1.0`, `1e2` equals `100`, also beyond f64's precision); strings by their decoded text;
//! arrays in order. A body that is not JSON (invalid UTF-8, bad syntax, a lone surrogate,
//! nesting deeper than `MAX_DEPTH`) or that has a duplicate key is compared as bytes.
//!
//! Work is linear in the bodies' size: parsing reads each byte once; the walk visits each
//! value of each document at most twice (once in the pairwise walk, at most once more in a
//! deep comparison below a difference, which the walk does not enter), and each visit costs a
//! bounded number of path matches (patterns x depth, both bounded by the configuration and
//! `MAX_DEPTH`) and hash look-ups (keys are hashed with std's randomly keyed SipHash, so no
//! input can make them collide on purpose). `tests::work_is_linear_in_the_input` counts it.

use crate::json_path::{JsonPath, Step};
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
    /// The first `MAX_PATHS` differing paths, in document order (the candidate's members
    /// first, then those only the reference has), each with whether it is noise (it differs
    /// between the reference and the noise baseline too).
    pub paths: Vec<(String, bool)>,
    /// All differing paths that are not noise.
    pub real: u32,
    /// All differing paths that are noise.
    pub noise: u32,
}

impl Differences {
    fn add(&mut self, path: &[Step], noise: bool) {
        if noise {
            self.noise = self.noise.saturating_add(1);
        } else {
            self.real = self.real.saturating_add(1);
        }
        if self.paths.len() < MAX_PATHS {
            self.paths.push((render(path), noise));
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
    ignore: &[JsonPath],
) -> Result<JsonDiff, Unreadable> {
    diff_counting_visits(candidate, reference, noise, ignore).map(|(diff, _)| diff)
}

/// `diff`, and how many values the walks visited.
fn diff_counting_visits(
    candidate: &[u8],
    reference: &[u8],
    noise: Option<&[u8]>,
    ignore: &[JsonPath],
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
    let mut walk = Walk {
        a: (&c, &ci),
        b: (&r, &ri),
        noise,
        ignore,
        path: Vec::new(),
        differences: Differences::default(),
        visits: 0,
    };
    walk.values(Some(0), Some(0), noise.map(|_| Some(0)));
    let mut visits = walk.visits;
    result.candidate = walk.differences;
    if let Some(noise) = noise {
        let mut walk = Walk {
            a: (&r, &ri),
            b: noise,
            noise: None,
            ignore,
            path: Vec::new(),
            differences: Differences::default(),
            visits: 0,
        };
        walk.values(Some(0), Some(0), None);
        visits += walk.visits;
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

/// `a.0.b`, as `redact.json_fields` writes it; `$` for the whole body. At most
/// `MAX_PATH_CHARS` characters are written (then `...`), so a path of long keys costs no more.
fn render(path: &[Step]) -> String {
    if path.is_empty() {
        return ROOT_PATH.to_string();
    }
    let mut text = String::new();
    let mut budget = MAX_PATH_CHARS;
    for (i, step) in path.iter().enumerate() {
        let index;
        let segment = match step {
            Step::Key(key) => key.as_str(),
            Step::Index(position) => {
                index = position.to_string();
                index.as_str()
            }
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
    /// The decoded string, or the number's canonical form.
    value: Span,
}

/// A parsed document: values in document order (pre-order), text in one buffer.
struct Doc {
    nodes: Vec<Node>,
    text: Vec<u8>,
}

/// An object's members by key: (object's index, key) -> member's index.
type Index<'d> = HashMap<(u32, &'d [u8]), u32>;

impl Doc {
    fn parse(bytes: &[u8]) -> Result<Doc, Unreadable> {
        std::str::from_utf8(bytes).map_err(|_| Unreadable::NotJson)?;
        u32::try_from(bytes.len()).map_err(|_| Unreadable::TooComplex)?;
        let mut parser = Parser {
            bytes,
            at: 0,
            doc: Doc {
                nodes: Vec::new(),
                text: Vec::new(),
            },
        };
        parser.value(0, Span::default())?;
        parser.whitespace();
        if parser.at != bytes.len() {
            return Err(Unreadable::NotJson);
        }
        Ok(parser.doc)
    }

    fn node(&self, index: u32) -> Option<&Node> {
        self.nodes.get(index as usize)
    }

    fn text(&self, span: Span) -> &[u8] {
        let start = span.start as usize;
        self.text
            .get(start..start.saturating_add(span.len as usize))
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
            for child in self.children(parent as u32) {
                let key = self.node(child).map(|n| self.text(n.key))?;
                if index.insert((parent as u32, key), child).is_some() {
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
    doc: &'d Doc,
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

/// A value of one document, with its index.
type Side<'d> = (&'d Doc, &'d Index<'d>);

/// The pairwise walk of two documents (and the noise baseline beside them).
struct Walk<'d, 'p> {
    a: Side<'d>,
    b: Side<'d>,
    /// `None`: no noise baseline.
    noise: Option<Side<'d>>,
    ignore: &'p [JsonPath],
    path: Vec<Step>,
    differences: Differences,
    /// Values visited (tests count the work with it).
    visits: usize,
}

impl Walk<'_, '_> {
    fn ignored(&self) -> bool {
        !self.path.is_empty() && self.ignore.iter().any(|p| p.matches(&self.path))
    }

    /// Compares `a`'s value with `b`'s at the current path (`None`: absent). `noise` is the
    /// baseline's value there: `None` without a baseline, `Some(None)` if it has none.
    fn values(&mut self, a: Option<u32>, b: Option<u32>, noise: Option<Option<u32>>) {
        self.visits += 1;
        if self.ignored() {
            return;
        }
        let kind_a = a.and_then(|i| self.a.0.node(i)).map(|n| n.kind);
        let kind_b = b.and_then(|i| self.b.0.node(i)).map(|n| n.kind);
        match (kind_a, kind_b, a, b) {
            (Some(Kind::Object), Some(Kind::Object), Some(a), Some(b)) => self.objects(a, b, noise),
            (Some(Kind::Array), Some(Kind::Array), Some(a), Some(b)) => self.arrays(a, b, noise),
            _ => {
                if !same(
                    self.a,
                    a,
                    self.b,
                    b,
                    &mut self.path,
                    self.ignore,
                    &mut self.visits,
                ) {
                    // A noise value is only given with a noise document.
                    let baseline = self.noise.unwrap_or(self.b);
                    let noise = noise.is_some_and(|n| {
                        !same(
                            self.b,
                            b,
                            baseline,
                            n,
                            &mut self.path,
                            self.ignore,
                            &mut self.visits,
                        )
                    });
                    self.differences.add(&self.path, noise);
                }
            }
        }
    }

    fn objects(&mut self, a: u32, b: u32, noise: Option<Option<u32>>) {
        let (doc_a, _) = self.a;
        let (doc_b, index_b) = self.b;
        for child in doc_a.children(a) {
            let key = doc_a
                .node(child)
                .map(|n| doc_a.text(n.key))
                .unwrap_or_default();
            let in_b = index_b.get(&(b, key)).copied();
            let in_noise = self.member(noise, key);
            self.path
                .push(Step::Key(String::from_utf8_lossy(key).into_owned()));
            self.values(Some(child), in_b, in_noise);
            self.path.pop();
        }
        let (_, index_a) = self.a;
        for child in doc_b.children(b) {
            let key = doc_b
                .node(child)
                .map(|n| doc_b.text(n.key))
                .unwrap_or_default();
            if index_a.contains_key(&(a, key)) {
                continue;
            }
            let in_noise = self.member(noise, key);
            self.path
                .push(Step::Key(String::from_utf8_lossy(key).into_owned()));
            self.values(None, Some(child), in_noise);
            self.path.pop();
        }
    }

    /// The noise baseline's member `key` of its value `noise`.
    fn member(&self, noise: Option<Option<u32>>, key: &[u8]) -> Option<Option<u32>> {
        let (doc, index) = self.noise?;
        Some(noise.flatten().and_then(|n| {
            let object = doc.node(n)?.kind == Kind::Object;
            object.then(|| index.get(&(n, key)).copied()).flatten()
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
            self.path.push(Step::Index(position));
            self.values(item_a, item_b, item_noise);
            self.path.pop();
        }
    }
}

/// Deep equality of `a`'s value and `b`'s (`None`: absent), paths in `ignore` left out.
fn same(
    (doc_a, index_a): Side<'_>,
    a: Option<u32>,
    (doc_b, index_b): Side<'_>,
    b: Option<u32>,
    path: &mut Vec<Step>,
    ignore: &[JsonPath],
    visits: &mut usize,
) -> bool {
    *visits += 1;
    if !path.is_empty() && ignore.iter().any(|p| p.matches(path)) {
        return true;
    }
    let (Some(a), Some(b)) = (a, b) else {
        return a.is_none() && b.is_none();
    };
    let (Some(node_a), Some(node_b)) = (doc_a.node(a), doc_b.node(b)) else {
        return false;
    };
    if node_a.kind != node_b.kind {
        return false;
    }
    match node_a.kind {
        Kind::Object => {
            let mut equal = true;
            for child in doc_a.children(a) {
                let key = doc_a
                    .node(child)
                    .map(|n| doc_a.text(n.key))
                    .unwrap_or_default();
                let other = index_b.get(&(b, key)).copied();
                path.push(Step::Key(String::from_utf8_lossy(key).into_owned()));
                equal = same(
                    (doc_a, index_a),
                    Some(child),
                    (doc_b, index_b),
                    other,
                    path,
                    ignore,
                    visits,
                );
                path.pop();
                if !equal {
                    break;
                }
            }
            // Members only `b` has: equal only where ignored.
            equal
                && doc_b.children(b).all(|child| {
                    let key = doc_b
                        .node(child)
                        .map(|n| doc_b.text(n.key))
                        .unwrap_or_default();
                    if index_a.contains_key(&(a, key)) {
                        return true;
                    }
                    path.push(Step::Key(String::from_utf8_lossy(key).into_owned()));
                    let ignored = ignore.iter().any(|p| p.matches(path));
                    path.pop();
                    ignored
                })
        }
        Kind::Array => {
            let (mut items_a, mut items_b) = (doc_a.children(a), doc_b.children(b));
            for position in 0.. {
                let (item_a, item_b) = (items_a.next(), items_b.next());
                if item_a.is_none() && item_b.is_none() {
                    return true;
                }
                path.push(Step::Index(position));
                let equal = same(
                    (doc_a, index_a),
                    item_a,
                    (doc_b, index_b),
                    item_b,
                    path,
                    ignore,
                    visits,
                );
                path.pop();
                if !equal {
                    return false;
                }
            }
            true
        }
        _ => doc_a.text(node_a.value) == doc_b.text(node_b.value),
    }
}

/// A strict RFC 8259 reader building a `Doc`.
struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
    doc: Doc,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
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

    fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// The next position in `text` (its length fits: it is at most a few times the body's).
    fn text_at(&self) -> Result<u32, Unreadable> {
        u32::try_from(self.doc.text.len()).map_err(|_| Unreadable::TooComplex)
    }

    fn span_since(&self, start: u32) -> Result<Span, Unreadable> {
        Ok(Span {
            start,
            len: self.text_at()? - start,
        })
    }

    fn value(&mut self, depth: usize, key: Span) -> Result<(), Unreadable> {
        if depth > MAX_DEPTH {
            return Err(Unreadable::NotJson);
        }
        if self.doc.nodes.len() >= MAX_VALUES {
            return Err(Unreadable::TooComplex);
        }
        self.whitespace();
        let index = self.doc.nodes.len();
        let (kind, value) = match self.peek().ok_or(Unreadable::NotJson)? {
            b'{' => (Kind::Object, Span::default()),
            b'[' => (Kind::Array, Span::default()),
            b'"' => (Kind::String, self.string()?),
            b't' => (Kind::True, self.literal(b"true")?),
            b'f' => (Kind::False, self.literal(b"false")?),
            b'n' => (Kind::Null, self.literal(b"null")?),
            _ => (Kind::Number, self.number()?),
        };
        self.doc.nodes.push(Node {
            kind,
            end: 0,
            key,
            value,
        });
        match kind {
            Kind::Object => self.object(depth)?,
            Kind::Array => self.array(depth)?,
            _ => {}
        }
        let end = u32::try_from(self.doc.nodes.len()).map_err(|_| Unreadable::TooComplex)?;
        if let Some(node) = self.doc.nodes.get_mut(index) {
            node.end = end;
        }
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> Result<Span, Unreadable> {
        let end = self.at + word.len();
        if self.bytes.get(self.at..end) != Some(word) {
            return Err(Unreadable::NotJson);
        }
        self.at = end;
        Ok(Span::default())
    }

    fn object(&mut self, depth: usize) -> Result<(), Unreadable> {
        self.consume(b'{')?;
        self.whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.whitespace();
            let key = self.string()?;
            self.whitespace();
            self.consume(b':')?;
            self.value(depth + 1, key)?;
            self.whitespace();
            match self.next()? {
                b',' => continue,
                b'}' => return Ok(()),
                _ => return Err(Unreadable::NotJson),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), Unreadable> {
        self.consume(b'[')?;
        self.whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.value(depth + 1, Span::default())?;
            self.whitespace();
            match self.next()? {
                b',' => continue,
                b']' => return Ok(()),
                _ => return Err(Unreadable::NotJson),
            }
        }
    }

    /// A string, decoded into `text`.
    fn string(&mut self) -> Result<Span, Unreadable> {
        self.consume(b'"')?;
        let start = self.text_at()?;
        loop {
            match self.next()? {
                b'"' => break,
                b'\\' => {
                    let c = self.escape()?;
                    let mut utf8 = [0u8; 4];
                    self.doc
                        .text
                        .extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                }
                byte if byte < 0x20 => return Err(Unreadable::NotJson),
                byte => self.doc.text.push(byte),
            }
        }
        self.span_since(start)
    }

    fn escape(&mut self) -> Result<char, Unreadable> {
        Ok(match self.next()? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4()?;
                let code = if (0xd800..0xdc00).contains(&first) {
                    // A high surrogate must be followed by a low one; a lone one has no text,
                    // and two readers may read it differently: not JSON to compare.
                    self.consume(b'\\')?;
                    self.consume(b'u')?;
                    let second = self.hex4()?;
                    if !(0xdc00..0xe000).contains(&second) {
                        return Err(Unreadable::NotJson);
                    }
                    0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
                } else {
                    first
                };
                char::from_u32(code).ok_or(Unreadable::NotJson)?
            }
            _ => return Err(Unreadable::NotJson),
        })
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

    /// A number, in canonical form (see `canonical_number`).
    fn number(&mut self) -> Result<Span, Unreadable> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let int_start = self.at;
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return Err(Unreadable::NotJson),
        }
        let int_end = self.at;
        let mut fraction = (self.at, self.at);
        if self.peek() == Some(b'.') {
            self.at += 1;
            let from = self.at;
            self.digits();
            if self.at == from {
                return Err(Unreadable::NotJson);
            }
            fraction = (from, self.at);
        }
        let mut exponent = None;
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            let from = self.at;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            let digits_from = self.at;
            self.digits();
            if self.at == digits_from {
                return Err(Unreadable::NotJson);
            }
            exponent = Some(self.bytes.get(from..self.at).unwrap_or_default());
        }
        let parts = NumberParts {
            token: self.bytes.get(start..self.at).unwrap_or_default(),
            negative: start != int_start,
            integer: self.bytes.get(int_start..int_end).unwrap_or_default(),
            fraction: self.bytes.get(fraction.0..fraction.1).unwrap_or_default(),
            exponent,
        };
        let text_start = self.text_at()?;
        canonical_number(&parts, &mut self.doc.text);
        self.span_since(text_start)
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }
}

struct NumberParts<'a> {
    token: &'a [u8],
    negative: bool,
    integer: &'a [u8],
    fraction: &'a [u8],
    /// With its sign, without the `e`.
    exponent: Option<&'a [u8]>,
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

    fn paths(list: &[&str]) -> Vec<JsonPath> {
        list.iter().map(|p| JsonPath::parse(p).unwrap()).collect()
    }

    /// The candidate's differing paths against the reference (no baseline, nothing ignored).
    fn differing(a: &str, b: &str) -> Vec<String> {
        differing_bytes(a.as_bytes(), b.as_bytes())
    }

    fn differing_bytes(a: &[u8], b: &[u8]) -> Vec<String> {
        let diff = diff(a, b, None, &[]).unwrap();
        assert_eq!(diff.candidate.noise, 0);
        assert_eq!(diff.candidate.real as usize, diff.candidate.paths.len());
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
    }

    #[test]
    fn differences_are_named_by_path() {
        let a = r#"{"id": 7, "user": {"name": "a", "tags": ["x", "y"]}, "items": [{"p": 1}, {"p": 2}], "extra": 1}"#;
        let b = r#"{"id": 7, "user": {"name": "b", "tags": ["y", "x"]}, "items": [{"p": 1}, {"p": 3}, {"p": 4}], "gone": null}"#;
        assert_eq!(
            differing(a, b),
            [
                "user.name",
                "user.tags.0",
                "user.tags.1",
                "items.1.p",
                "items.2",
                "extra",
                "gone"
            ]
        );
        assert_eq!(
            differing("[1, 2]", "[2, 1]"),
            ["0", "1"],
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

    fn diff_paths(a: &str, b: &str, ignore: &[JsonPath]) -> Vec<String> {
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
                ("items.0.id".to_string(), true)
            ]
        );
        assert_eq!((diff.candidate.real, diff.candidate.noise), (1, 2));
        assert_eq!(diff.baseline_paths, ["ts", "items.0.id"]);
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
        let a: Vec<String> = (0..100).map(|i| format!("\"k{i}\": 1")).collect();
        let b: Vec<String> = (0..100).map(|i| format!("\"k{i}\": 2")).collect();
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
        assert_eq!(diff.candidate.paths[0].0, "k0");
    }

    #[test]
    fn long_paths_are_cut() {
        let key = "k".repeat(1000);
        let diff = differing(&format!(r#"{{"{key}": 1}}"#), &format!(r#"{{"{key}": 2}}"#));
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
            let expected = if target.is_empty() {
                ROOT_PATH.to_string()
            } else {
                target.join(".")
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

    /// An abstract JSON value for the generated tests.
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
                    rng.shuffle(&mut order);
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
