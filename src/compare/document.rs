//! A JSON body read into a document for the diff's walk (`walk`): values in document order,
//! each with its key, its text (a span of the body, or decoded when it has escapes) and where
//! its descendants end, and an index of large objects' members by key.
//!
//! Read by the plugin's one tokenizer (`crate::json`), as redaction reads bodies; two rules
//! are the diff's own: a document with a duplicate key, or with a lone surrogate, has no
//! reading every service agrees on, so it is compared as bytes; and a document is not read
//! beyond `MAX_VALUES` values.

use crate::json::text::decode;
use crate::json::tokenizer::LOOKAHEAD;
use crate::json::{self, Progress, Str, Token, Tokenizer};
use std::collections::hash_map::{Entry, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

/// Values per document: a parsed value takes 24 bytes, so this bounds the transient memory of
/// a comparison (about 3 MiB per document) whatever `max_body_bytes` allows.
pub const MAX_VALUES: usize = 131_072;

/// Values room is made for before a body is read (24 bytes each: 24 KiB).
const RESERVED_VALUES: usize = 1024;

/// Why a body could not be compared as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// Not JSON, or JSON with a duplicate key: compared as bytes.
    NotJson,
    /// More than `MAX_VALUES` values: not compared.
    TooComplex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
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
pub(super) struct Span {
    start: u32,
    pub(super) len: u32,
}

/// One value; its children follow it, and `end` is the index after its last descendant.
#[derive(Debug, Clone, Copy)]
pub(super) struct Node {
    pub(super) kind: Kind,
    pub(super) end: u32,
    /// The member's key (decoded), for a value inside an object.
    pub(super) key: Span,
    /// The decoded string, or the number's canonical form; for an array or object, `len` is
    /// its number of members.
    pub(super) value: Span,
}

/// A parsed document: values in document order (pre-order). Numbers and strings without
/// escapes are spans of the body itself; strings with escapes are decoded into `text`.
pub(super) struct Doc<'b> {
    bytes: &'b [u8],
    pub(super) nodes: Vec<Node>,
    text: Vec<u8>,
    objects: Objects,
}

/// What reading a document finds out about its objects' keys: small objects are checked for a
/// key given twice as they close (their keys just read), large ones are listed for the index.
#[derive(Default)]
struct Objects {
    /// The objects of more than `SMALL_OBJECT` members, in document order.
    large: Vec<u32>,
    /// Whether a small object has a key twice.
    duplicate: bool,
}

/// Marks a span of `Doc::text` (else it is a span of the body). Bodies are far below 2^31.
const IN_TEXT: u32 = 1 << 31;

/// An object's members by key, owned (it outlives each step of a `DiffJob`): a keyed hash of
/// (object's index, key) -> (object's index, member's index), the member's key checked on
/// every look-up. The hash is std's randomly keyed SipHash, so no input can make keys collide
/// on purpose; two that collide by chance are kept aside and searched in turn.
#[derive(Default)]
pub(super) struct Index {
    keys: std::collections::hash_map::RandomState,
    members: HashMap<u64, (u32, u32), BuildHasherDefault<Hashed>>,
    collided: Vec<(u64, u32, u32)>,
}

/// A hasher for keys that are hashes already.
#[derive(Default)]
pub(super) struct Hashed(u64);

impl Hasher for Hashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
}

impl Index {
    fn hash(&self, object: u32, key: &[u8]) -> u64 {
        self.keys.hash_one((object, key))
    }

    /// Adds `object`'s `member`: false if the object has its key already.
    fn insert(&mut self, doc: &Doc<'_>, object: u32, member: u32) -> bool {
        let key = key_of(doc, member);
        let hash = self.hash(object, key);
        let same = |&(o, m): &(u32, u32)| o == object && key_of(doc, m) == key;
        match self.members.entry(hash) {
            Entry::Vacant(slot) => {
                slot.insert((object, member));
                true
            }
            Entry::Occupied(slot) if same(slot.get()) => false,
            Entry::Occupied(_) => {
                if self
                    .collided
                    .iter()
                    .any(|&(h, o, m)| h == hash && same(&(o, m)))
                {
                    return false;
                }
                self.collided.push((hash, object, member));
                true
            }
        }
    }

    fn get(&self, doc: &Doc<'_>, object: u32, key: &[u8]) -> Option<u32> {
        let hash = self.hash(object, key);
        let &(o, m) = self.members.get(&hash)?;
        if o == object && key_of(doc, m) == key {
            return Some(m);
        }
        self.collided
            .iter()
            .find(|&&(h, o, m)| h == hash && o == object && key_of(doc, m) == key)
            .map(|&(_, _, m)| m)
    }
}

/// A document's index being built, a bounded number of values at a time.
#[derive(Default)]
pub(super) struct Indexing {
    index: Index,
    /// The next of the document's large objects.
    next: u32,
    /// The large object whose members are being added, and its next member.
    object: Option<(u32, Members)>,
}

impl Indexing {
    /// Indexes on until `work` reaches `limit` (one a large object looked at or a member
    /// added): `None`: call again; `Some(None)`: an object has a key twice (such a document is
    /// compared as bytes: which of the two values counts is up to each reader).
    pub(super) fn run(
        &mut self,
        doc: &Doc<'_>,
        work: &mut usize,
        limit: usize,
    ) -> Option<Option<Index>> {
        if doc.objects.duplicate {
            return Some(None);
        }
        loop {
            if let Some((object, members)) = &mut self.object {
                let object = *object;
                loop {
                    if *work >= limit {
                        return None;
                    }
                    *work += 1;
                    let Some(member) = members.next(doc) else {
                        break;
                    };
                    if !self.index.insert(doc, object, member) {
                        return Some(None);
                    }
                }
                self.object = None;
            }
            let Some(&object) = doc.objects.large.get(self.next as usize) else {
                return Some(Some(std::mem::take(&mut self.index)));
            };
            if *work >= limit {
                return None;
            }
            *work += 1;
            self.next += 1;
            self.object = Some((object, doc.members(object)));
        }
    }
}

/// Whether a small object (its node at `object` of `nodes`, its members read) has a key
/// twice: at most SMALL_OBJECT^2 / 2 key comparisons (only objects of at most SMALL_OBJECT
/// members are given), bounded work per key, most settled by the keys' lengths (kept in
/// their spans) without looking at their bytes; siblings found through their nodes' `end`.
fn has_duplicate_key(nodes: &[Node], (body, text): (&[u8], &[u8]), object: u32) -> bool {
    let end = nodes.get(object as usize).map_or(0, |n| n.end);
    let mut first = object + 1;
    while first < end {
        let Some(a) = nodes.get(first as usize) else {
            return false;
        };
        let len = a.key.len & !IN_TEXT;
        let mut second = a.end;
        while second < end {
            let Some(b) = nodes.get(second as usize) else {
                return false;
            };
            if b.key.len & !IN_TEXT == len
                && same_key(span_text(body, text, a.key), span_text(body, text, b.key))
            {
                return true;
            }
            second = b.end;
        }
        first = a.end;
    }
    false
}

/// Whether two keys (or strings) are the same bytes: their lengths and first bytes compared
/// inline first (sibling keys mostly differ there), the rest only when those agree, without
/// the wasm build's `memcmp` (which `==` on slices calls: a byte at a time, and a call).
#[inline(always)]
pub(super) fn same_key(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.first() == b.first() && same_bytes(a, b)
}

/// Whether two keys or strings of one length are the same bytes, compared eight at a time
/// (`memcmp` cost about 500 units of fuel a call on the bench's short keys). Out of line: it
/// is called from the walk's every comparison.
#[inline(never)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    // Most keys and strings are short: at most sixteen bytes are compared as two words that
    // overlap (the first and the last four or eight bytes), fewer than four one at a time.
    fn ends<const N: usize>(bytes: &[u8]) -> Option<(&[u8; N], &[u8; N])> {
        Some((bytes.first_chunk::<N>()?, bytes.last_chunk::<N>()?))
    }
    match a.len() {
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=8 => ends::<4>(a) == ends::<4>(b),
        9..=16 => ends::<8>(a) == ends::<8>(b),
        _ => json::bytes_equal(a, b),
    }
}

/// A read document without its body: what a `DiffJob` keeps between steps.
#[derive(Default)]
pub(super) struct Detached {
    nodes: Vec<Node>,
    text: Vec<u8>,
    objects: Objects,
}

impl Detached {
    /// The document again, given its body (the same bytes it was read from).
    pub(super) fn attach(self, bytes: &[u8]) -> Doc<'_> {
        Doc {
            bytes,
            nodes: self.nodes,
            text: self.text,
            objects: self.objects,
        }
    }
}

impl<'b> Doc<'b> {
    /// Reads a body (its byte order mark skipped) into a document: `NotJson` where the
    /// tokenizer refuses it or it has a lone surrogate, `TooComplex` beyond `MAX_VALUES`.
    pub(super) fn parse(bytes: &'b [u8]) -> Result<Doc<'b>, Unreadable> {
        let mut parser = Parser::new(bytes);
        match parser.read(bytes, usize::MAX) {
            Some(Ok(())) => Ok(parser.into_doc(bytes)),
            Some(Err(unreadable)) => Err(unreadable),
            // (Not with an unbounded budget.)
            None => Err(Unreadable::NotJson),
        }
    }

    pub(super) fn node(&self, index: u32) -> Option<&Node> {
        self.nodes.get(index as usize)
    }

    /// A key's or a value's bytes (decoded).
    pub(super) fn text(&self, span: Span) -> &[u8] {
        span_text(self.bytes, &self.text, span)
    }

    /// Members by key; `None` when an object has a key twice (such a document is compared
    /// as bytes: which of the two values counts is up to each reader).
    pub(super) fn index(&self) -> Option<Index> {
        Indexing::default().run(self, &mut 0, usize::MAX).flatten()
    }

    /// The document without its body (`Detached::attach` gives it back).
    pub(super) fn detach(self) -> Detached {
        Detached {
            nodes: self.nodes,
            text: self.text,
            objects: self.objects,
        }
    }

    /// The direct children of a container, as a position to keep between steps.
    pub(super) fn members(&self, parent: u32) -> Members {
        Members {
            next: parent + 1,
            end: self.node(parent).map_or(0, |n| n.end),
        }
    }

    /// The direct children of a container, in order.
    pub(super) fn children(&self, parent: u32) -> Children<'_> {
        Children {
            doc: self,
            members: self.members(parent),
        }
    }
}

/// A body being read into a document, a bounded slice at a time if need be (`DiffJob`): it
/// holds no borrow of the body, which is handed in again, the same bytes, at every call.
pub(super) struct Parser {
    nodes: Vec<Node>,
    text: Vec<u8>,
    tokenizer: Tokenizer,
    /// The innermost open container (`Open::NONE` at the top level), kept out of `open`: it
    /// is written at every value.
    top: Open,
    /// The containers open around `top` (at most MAX_DEPTH).
    open: Vec<Open>,
    /// The next member's key.
    key: Span,
    objects: Objects,
}

impl Parser {
    pub(super) fn new(bytes: &[u8]) -> Parser {
        Parser {
            // A value takes at least two bytes of the body (`0,`) and usually more: room for
            // a small body's values at once, rather than growing five or six times; a large
            // body's grows as it is read (no reservation in proportion to untrusted input).
            nodes: Vec::with_capacity((bytes.len() / 8).min(RESERVED_VALUES)),
            text: Vec::new(),
            tokenizer: Tokenizer::new(),
            top: Open::NONE,
            open: Vec::new(),
            key: Span::default(),
            objects: Objects::default(),
        }
    }

    /// Bytes of the body read so far.
    pub(super) fn offset(&self) -> usize {
        self.tokenizer.offset()
    }

    /// Reads on until about `budget` more bytes are read (`None`: call again; a string with
    /// escapes is decoded when it ends) or the document is read (`Some`, as `Doc::parse`).
    pub(super) fn read(&mut self, bytes: &[u8], budget: usize) -> Option<Result<(), Unreadable>> {
        match self.read_within(bytes, budget) {
            Ok(true) => Some(Ok(())),
            Ok(false) => None,
            Err(unreadable) => Some(Err(unreadable)),
        }
    }

    /// The document, once `read` said it is read.
    pub(super) fn into_doc(self, bytes: &[u8]) -> Doc<'_> {
        self.into_detached().attach(bytes)
    }

    /// The document, once `read` said it is read, without its body.
    pub(super) fn into_detached(self) -> Detached {
        Detached {
            nodes: self.nodes,
            text: self.text,
            objects: self.objects,
        }
    }

    /// `Ok(true)`: the document is read; `Ok(false)`: the budget is spent.
    fn read_within(&mut self, bytes: &[u8], budget: usize) -> Result<bool, Unreadable> {
        if u32::try_from(bytes.len()).map_or(true, |len| len >= IN_TEXT) {
            return Err(Unreadable::TooComplex);
        }
        let limit = self
            .tokenizer
            .offset()
            .saturating_add(budget.max(LOOKAHEAD));
        loop {
            let token = if limit >= bytes.len() {
                // The rest of the body is within the budget: the tokenizer's quicker way.
                match self.tokenizer.next_inlined(bytes) {
                    Ok(Some(token)) => token,
                    Ok(None) => return Ok(true),
                    Err(_) => return Err(Unreadable::NotJson),
                }
            } else {
                match self.tokenizer.next_within(bytes, limit) {
                    Ok(Progress::Token(token)) => token,
                    Ok(Progress::Pending) => return Ok(false),
                    Ok(Progress::End) => return Ok(true),
                    Err(_) => return Err(Unreadable::NotJson),
                }
            };
            self.take(bytes, token)?;
        }
    }

    /// Adds what `token` says to the document.
    #[inline(always)]
    fn take(&mut self, bytes: &[u8], token: Token) -> Result<(), Unreadable> {
        let (kind, value) = match token {
            Token::Key => {
                let key = self.text_of(bytes)?;
                self.top.key(span_text(bytes, &self.text, key));
                self.key = key;
                return Ok(());
            }
            Token::ObjectEnd | Token::ArrayEnd => {
                let end = self.len()?;
                let open = self.top;
                self.top = self.open.pop().unwrap_or(Open::NONE);
                let Some(node) = self.nodes.get_mut(open.index as usize) else {
                    return Ok(());
                };
                node.end = end;
                node.value.len = open.members;
                let look = open.maybe_twice() || open.members > SMALL_OBJECT;
                if look && node.kind == Kind::Object {
                    self.closed(bytes, open.index);
                }
                return Ok(());
            }
            Token::ObjectStart => (Kind::Object, Span::default()),
            Token::ArrayStart => (Kind::Array, Span::default()),
            Token::String => (Kind::String, self.text_of(bytes)?),
            Token::Number => (Kind::Number, body_span(self.tokenizer.span())),
            Token::True => (Kind::True, Span::default()),
            Token::False => (Kind::False, Span::default()),
            Token::Null => (Kind::Null, Span::default()),
        };
        if self.nodes.len() >= MAX_VALUES {
            // As if the whole body had been checked first: what is not UTF-8 is not JSON.
            let rest = bytes.get(self.tokenizer.offset()..).unwrap_or_default();
            return Err(match std::str::from_utf8(rest) {
                Ok(_) => Unreadable::TooComplex,
                Err(_) => Unreadable::NotJson,
            });
        }
        self.top.members += 1;
        let index = self.len()?;
        self.nodes.push(Node {
            kind,
            end: index + 1,
            key: std::mem::take(&mut self.key),
            value,
        });
        if matches!(kind, Kind::Object | Kind::Array) {
            self.open
                .push(std::mem::replace(&mut self.top, Open::at(index)));
        }
        Ok(())
    }

    /// An object just read, large or two of whose keys may be the same
    /// (`MAYBE_TWICE`): a small one's keys checked for one given twice (in cache, and no second pass over the
    /// document), a large one listed for the index. Out of line: kept out of the reading of
    /// every token.
    #[inline(never)]
    fn closed(&mut self, bytes: &[u8], object: u32) {
        let members = self.nodes.get(object as usize).map_or(0, |n| n.value.len);
        if members > SMALL_OBJECT {
            self.objects.large.push(object);
        } else if !self.objects.duplicate
            && has_duplicate_key(&self.nodes, (bytes, &self.text), object)
        {
            self.objects.duplicate = true;
        }
    }

    fn len(&self) -> Result<u32, Unreadable> {
        u32::try_from(self.nodes.len()).map_err(|_| Unreadable::TooComplex)
    }

    /// The last string's span: in the body, or, if it has escapes, decoded into `text` (a
    /// lone surrogate has no text two readers agree on: not JSON to compare).
    #[inline(always)]
    fn text_of(&mut self, bytes: &[u8]) -> Result<Span, Unreadable> {
        let string = self.tokenizer.string();
        if !string.escaped {
            return Ok(body_span(string.content));
        }
        self.decoded(string, bytes)
    }

    /// A string with escapes, decoded into `text` (out of line: `text_of` is inlined into
    /// the reading of every token).
    #[inline(never)]
    fn decoded(&mut self, string: Str, bytes: &[u8]) -> Result<Span, Unreadable> {
        if self.tokenizer.lone_surrogates() {
            return Err(Unreadable::NotJson);
        }
        let start = u32::try_from(self.text.len()).map_err(|_| Unreadable::TooComplex)?;
        decode(string.content(bytes), &mut self.text);
        let end = u32::try_from(self.text.len()).map_err(|_| Unreadable::TooComplex)?;
        Ok(Span {
            start,
            len: (end - start) | IN_TEXT,
        })
    }
}

/// An open container, as it is being read: 16 bytes, no padding (copied as words where a
/// container opens and closes; a `bool` beside them made the wasm build copy it with
/// `memcpy`).
#[derive(Debug, Clone, Copy)]
struct Open {
    /// Its node.
    index: u32,
    /// Its members so far (written into its node as it closes).
    members: u32,
    /// For an object, a bit (of the low 63) per key read, chosen by the key's length and
    /// first and last bytes (`key_bit`): two keys that are the same set the same bit. The
    /// top bit (`MAYBE_TWICE`): a key's bit was set already, two keys may be the same, to be
    /// checked as the object closes; else no two are (most objects: no key compared with
    /// another).
    keys: u64,
}

/// `Open::keys`' flag.
const MAYBE_TWICE: u64 = 1 << 63;

impl Open {
    /// The top level (no container): its `index` is no node's.
    const NONE: Open = Open::at(u32::MAX);

    const fn at(index: u32) -> Open {
        Open {
            index,
            members: 0,
            keys: 0,
        }
    }

    /// A member's key read (decoded), while its bytes are in hand.
    #[inline(always)]
    fn key(&mut self, key: &[u8]) {
        let bit = key_bit(key);
        if self.keys & bit != 0 {
            self.keys |= MAYBE_TWICE;
        }
        self.keys |= bit;
    }

    fn maybe_twice(&self) -> bool {
        self.keys & MAYBE_TWICE != 0
    }
}

/// One of 63 bits (not `MAYBE_TWICE`) for a key, from its length and first and last bytes,
/// mixed by a multiplication (the product's top bits scaled to 0..63). Keys that differ may
/// share a bit (then the object's keys are compared as it closes); the same key always does.
#[inline(always)]
fn key_bit(key: &[u8]) -> u64 {
    let ends = match (key.first(), key.last()) {
        (Some(&first), Some(&last)) => u32::from(first) << 8 | u32::from(last) << 16,
        _ => 0,
    };
    let mixed = (ends ^ key.len() as u32).wrapping_mul(0x9E37_79B1);
    1 << ((u64::from(mixed) * 63) >> 32)
}

pub(super) struct Children<'d> {
    doc: &'d Doc<'d>,
    members: Members,
}

impl Iterator for Children<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        self.members.next(self.doc)
    }
}

/// Where a walk through a container's direct children is: no borrow, so it can be kept
/// between steps.
#[derive(Debug, Clone, Copy)]
pub(super) struct Members {
    next: u32,
    end: u32,
}

impl Members {
    /// The next child, in `doc` (the container's document).
    pub(super) fn next(&mut self, doc: &Doc<'_>) -> Option<u32> {
        if self.next >= self.end {
            return None;
        }
        let child = self.next;
        self.next = doc.node(child)?.end;
        Some(child)
    }
}

/// A document with its index.
pub(super) type Side<'d> = (&'d Doc<'d>, &'d Index);

/// Objects with at most this many members are searched in place (cheaper than hashing their
/// keys); larger ones through the index.
const SMALL_OBJECT: u32 = 8;

/// The member `key` of `object` in `side`'s document.
pub(super) fn find((doc, index): Side<'_>, object: u32, key: &[u8]) -> Option<u32> {
    if doc.node(object)?.value.len <= SMALL_OBJECT {
        // A key of another length is passed over without looking at its bytes.
        let len = u32::try_from(key.len()).ok()?;
        doc.children(object).find(|&child| {
            doc.node(child)
                .is_some_and(|n| n.key.len & !IN_TEXT == len && same_key(doc.text(n.key), key))
        })
    } else {
        index.get(doc, object, key)
    }
}

/// The key of a member.
#[inline]
pub(super) fn key_of<'d>(doc: &'d Doc<'_>, member: u32) -> &'d [u8] {
    doc.node(member)
        .map(|n| doc.text(n.key))
        .unwrap_or_default()
}

/// A span's bytes: of the decoded `text` or of the `body`.
#[inline]
fn span_text<'a>(body: &'a [u8], text: &'a [u8], span: Span) -> &'a [u8] {
    let (buffer, len) = if span.len & IN_TEXT != 0 {
        (text, span.len & !IN_TEXT)
    } else {
        (body, span.len)
    };
    let start = span.start as usize;
    buffer
        .get(start..start.saturating_add(len as usize))
        .unwrap_or_default()
}

/// A span of the body (shorter than IN_TEXT: checked by `Doc::parse`).
fn body_span(span: json::Span) -> Span {
    Span {
        start: span.start as u32,
        len: (span.end - span.start) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::MAX_DEPTH;
    use crate::json_path::{JsonPath, JsonPaths, PathSet};
    use crate::redact::json::redact_json;
    use proptest::prelude::*;

    /// Whether redaction reads `body` as JSON.
    fn redaction_reads(body: &[u8]) -> bool {
        let paths = JsonPaths::from(vec![JsonPath::parse("a").unwrap()]);
        let set = PathSet {
            paths: &paths,
            case_sensitive: false,
        };
        redact_json(body, set, "\"R\"").is_ok()
    }

    /// Whether a `\u` escape of `body` is half a surrogate pair without the other half (read
    /// here without the tokenizer).
    fn has_lone_surrogate(body: &[u8]) -> bool {
        let unit = |at: usize| {
            let digits = std::str::from_utf8(body.get(at + 2..at + 6)?).ok()?;
            (body.get(at..at + 2) == Some(b"\\u"))
                .then(|| u32::from_str_radix(digits, 16).ok())
                .flatten()
        };
        let mut at = 0;
        while at < body.len() {
            if body[at] != b'\\' {
                at += 1;
                continue;
            }
            match unit(at) {
                Some(0xD800..=0xDBFF) => match unit(at + 6) {
                    Some(0xDC00..=0xDFFF) => at += 12,
                    _ => return true,
                },
                Some(0xDC00..=0xDFFF) => return true,
                Some(_) => at += 6,
                None => at += 2,
            }
        }
        false
    }

    /// A JSON value, written with random spacing, escapes and duplicate keys.
    fn value() -> impl Strategy<Value = String> {
        let space = prop::sample::select(vec!["", " ", "\n\t", "\r\n "]);
        let leaf = prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            prop::sample::select(vec!["0", "-1.5e3", "1E+2", "0.25", "12345678901234567890"])
                .prop_map(String::from),
            prop::sample::select(vec![
                r#""a""#,
                r#""é\n""#,
                r#""\u00e9\ud83d\ude00""#,
                r#""\ud800""#,
                r#""\\ud800""#,
                "\"x\u{1f600}\"",
            ])
            .prop_map(String::from),
        ];
        leaf.prop_recursive(6, 48, 5, move |inner| {
            let space = space.clone();
            prop_oneof![
                (prop::collection::vec(inner.clone(), 0..5), space.clone())
                    .prop_map(|(items, s)| format!("[{s}{}{s}]", items.join(&format!("{s},")))),
                (
                    prop::collection::vec(
                        (prop::sample::select(vec!["a", "b", "c", "a\\u0062"]), inner),
                        0..5
                    ),
                    space
                )
                    .prop_map(|(members, s)| {
                        let members: Vec<String> = members
                            .into_iter()
                            .map(|(k, v)| format!("{s}\"{k}\"{s}:{s}{v}"))
                            .collect();
                        format!("{{{}{s}}}", members.join(","))
                    }),
            ]
        })
    }

    /// A body: a value, maybe nested about as deep as is allowed, maybe after a byte order
    /// mark, then maybe broken in a few places.
    fn body() -> impl Strategy<Value = Vec<u8>> {
        let edits = prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                0..3u8,
                prop::sample::select(b"{}[],:\"\\ue0-.\xff\xc3 x".to_vec()),
            ),
            0..3,
        );
        (
            value(),
            prop::option::of(MAX_DEPTH - 3..MAX_DEPTH + 3),
            any::<bool>(),
            edits,
        )
            .prop_map(|(value, nesting, bom, edits)| {
                let nesting = nesting.unwrap_or(0);
                let mut body = if bom { BOM_TEXT.to_vec() } else { Vec::new() };
                body.extend("[".repeat(nesting).bytes());
                body.extend(value.bytes());
                body.extend("]".repeat(nesting).bytes());
                for (at, edit, byte) in edits {
                    let at = at.index(body.len() + 1);
                    match edit {
                        0 => body.insert(at, byte),
                        1 if at < body.len() => {
                            body.remove(at);
                        }
                        _ if at < body.len() => body[at] = byte,
                        _ => {}
                    }
                }
                body
            })
    }

    const BOM_TEXT: &[u8] = crate::json::BYTE_ORDER_MARK;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Redaction and the diff read the same documents as JSON (the same syntax, UTF-8,
        /// byte order mark and depth limit), but for the diff's own rules: a lone surrogate
        /// makes a document compared as bytes, and so does a duplicate key, which redaction
        /// still reads (and redacts).
        #[test]
        fn redaction_and_the_diff_read_the_same_documents(body in body()) {
            let redacted = redaction_reads(&body);
            match Doc::parse(&body) {
                Ok(doc) => {
                    prop_assert!(redacted, "the diff reads it, redaction does not");
                    let _ = doc.index(); // a duplicate key: compared as bytes, redacted all the same
                }
                Err(Unreadable::NotJson) => prop_assert!(
                    !redacted || has_lone_surrogate(&body),
                    "redaction reads it, the diff does not"
                ),
                Err(Unreadable::TooComplex) => prop_assert!(false, "not generated that large"),
            }
        }
    }

    /// Keys given twice are found as objects close (small ones) or by the index (large
    /// ones), whatever the object's size, nesting, the keys' lengths and first bytes, and
    /// escapes: as a reading of every object's keys finds them.
    #[test]
    fn a_key_given_twice_is_found_in_objects_of_any_size() {
        let mut rng = fastrand::Rng::with_seed(15);
        // Keys that collide in length and first byte, or only differ once decoded.
        let names = [
            "a", "b", "ab", "ac", "ba", "a\\u0062", "abc", "abd", "k1", "k2",
        ];
        for _ in 0..3000 {
            let members = rng.usize(0..=2 * SMALL_OBJECT as usize + 2);
            let keys: Vec<String> = (0..members)
                .map(|i| match rng.u8(0..4) {
                    0 => names[rng.usize(0..names.len())].to_string(),
                    _ => format!("m{i}"),
                })
                .collect();
            let inner = keys
                .iter()
                .map(|key| format!("\"{key}\": {{\"{key}\": [1]}}"))
                .collect::<Vec<_>>()
                .join(",");
            let depth = rng.usize(0..4);
            let body = format!("{}{{{inner}}}{}", "[".repeat(depth), "]".repeat(depth));
            // The generated keys, decoded: each inner object has one key.
            let decoded: Vec<String> = keys.iter().map(|k| k.replace("\\u0062", "b")).collect();
            let set: std::collections::HashSet<&String> = decoded.iter().collect();
            let twice = set.len() < decoded.len();
            let doc = Doc::parse(body.as_bytes()).unwrap();
            assert_eq!(doc.index().is_none(), twice, "{body}");
        }
        // Deep nesting and many members: each object checked once, the document read.
        let deep = format!(
            "{}{}",
            "{\"a\":".repeat(MAX_DEPTH - 1),
            "1".to_string() + &"}".repeat(MAX_DEPTH - 1)
        );
        assert!(Doc::parse(deep.as_bytes()).unwrap().index().is_some());
        let many: Vec<String> = (0..5000)
            .map(|i| format!("\"{i}\":{{\"x\":{i},\"y\":{i}}}"))
            .collect();
        let wide = format!("{{{}}}", many.join(","));
        assert!(Doc::parse(wide.as_bytes()).unwrap().index().is_some());
        let twice = format!("{{{},\"17\":0}}", many.join(","));
        assert!(Doc::parse(twice.as_bytes()).unwrap().index().is_none());
    }

    /// Keys that differ but share a bit (`key_bit`) are told apart as the object closes;
    /// keys that are the same share one whatever their escapes.
    #[test]
    fn keys_sharing_a_bit_are_compared_before_a_key_is_found_twice() {
        let names: Vec<String> = (0..200).map(|i| format!("k{i}x")).collect();
        let (a, b) = names
            .iter()
            .enumerate()
            .find_map(|(i, a)| {
                let b = names[i + 1..]
                    .iter()
                    .find(|b| key_bit(b.as_bytes()) == key_bit(a.as_bytes()))?;
                Some((a.clone(), b.clone()))
            })
            .unwrap();
        let apart = format!(r#"{{"{a}": 1, "x": [], "{b}": 2}}"#);
        assert!(
            Doc::parse(apart.as_bytes()).unwrap().index().is_some(),
            "{apart}"
        );
        let twice = format!(r#"[{{"{a}": 1, "x": [], "{a}": 2}}]"#);
        assert!(
            Doc::parse(twice.as_bytes()).unwrap().index().is_none(),
            "{twice}"
        );
        let escaped = r#"{"ab": {"ab": 1}, "a\u0062": 2}"#;
        assert!(Doc::parse(escaped.as_bytes()).unwrap().index().is_none());
        assert_eq!(key_bit(b""), key_bit(b""));
        assert!(Doc::parse(br#"{"": 1, "": 2}"#).unwrap().index().is_none());
        assert!(Doc::parse(br#"{"": 1, "a": 2}"#).unwrap().index().is_some());
    }

    /// Keys and strings of every length are the same bytes exactly when they are, whichever
    /// byte differs (short ones are compared as two words that overlap).
    #[test]
    fn same_key_tells_every_byte() {
        for len in 0..40usize {
            let a: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(same_key(&a, &a.clone()), "{len}");
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same_key(&a, &b), "{len} {at}");
                assert!(!same_bytes(&a, &b), "{len} {at}");
            }
            assert!(!same_key(&a, &[&a[..], b"x"].concat()));
        }
    }

    #[test]
    fn the_diff_refuses_what_redaction_reads_only_for_its_own_rules() {
        for (body, diff_reads) in [
            (&br#"{"a": 1, "a": 2}"#[..], true), // read, then compared as bytes (no index)
            (br#"["\ud800"]"#, false),
            (b"\xEF\xBB\xBF{\"a\": 1}", true),
        ] {
            assert!(redaction_reads(body), "{body:?}");
            assert_eq!(Doc::parse(body).is_ok(), diff_reads, "{body:?}");
        }
        assert!(Doc::parse(br#"{"a": 1, "a": 2}"#)
            .unwrap()
            .index()
            .is_none());
    }
}
