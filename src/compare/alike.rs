//! The JSON diff's fastest path for bodies that differ as bytes: both read side by side,
//! compared as bytes while they are alike.
//!
//! Two builds of one service write the same document with other whitespace, a number spelled
//! otherwise (`1.50` for `1.5`) or a character escaped. Here both bodies are read at once by
//! a small state machine of JSON's grammar, specialised for this: whitespace skipped on each
//! side between tokens; a string's plain bytes (printable ASCII but `"` and `\`) checked and
//! compared with the other body's eight at a time; numbers and literals checked and compared
//! in the same pass. While the bytes are the same, the reference holds what the candidate
//! holds (as well formed, as deep, as many values, the same keys): the candidate's checks
//! stand for both. Where a token is not plain (escapes, other than ASCII) or its bytes differ,
//! both bodies' tokens are read by the plugin's tokenizer (`crate::json`, which judges them
//! as it judges every document) and compared by value (a number's, a string's text).
//!
//! It says only "equal": two documents, both read as the diff reads them (well formed, at most
//! `MAX_DEPTH` deep, no lone surrogate, no duplicate key, at most `MAX_VALUES` values), equal
//! value by value, members in one order. Anything else (a difference, other member order, an
//! escaped key, an object of many members) is left to the next path (`lockstep`, then
//! `document` and `walk`), which gives the answer it always gave: this one costs at most one
//! more reading of the bodies.

use super::document::MAX_VALUES;
use super::lockstep::MAX_MEMBERS;
use crate::json::number::{self, numbers_equal, zeros_appended};
use crate::json::text::texts_equal;
use crate::json::tokenizer::{Expect, LOOKAHEAD};
use crate::json::{
    bytes_equal, first_bytes, is_whitespace, word_at, Progress, Span, Str, Token, Tokenizer,
    BYTE_ORDER_MARK, MAX_DEPTH,
};

/// Whether the bodies are equal JSON documents, members in the same order (`false`: the
/// slower paths will tell).
pub(super) fn equal(candidate: &[u8], reference: &[u8]) -> bool {
    Reader::new(candidate, reference).read(candidate, reference, usize::MAX) == Found::Equal
}

/// What the reader found so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// Equal documents (see `equal`).
    Equal,
    /// Not equal, or not here: the slower paths will tell.
    Unknown,
    /// The budget is spent: call again.
    More,
}

/// Why a token was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// It goes on past the slice: read again, whole, in the next.
    Cut,
    /// Not this path's answer (malformed, different, or not told here).
    Unknown,
}

/// An open container's mark in `Reader::open`: an array's; an object's is the base of its
/// keys in `Reader::keys`.
const ARRAY: usize = usize::MAX;

/// The length of a body's byte order mark (as the tokenizer skips it).
fn bom(body: &[u8]) -> usize {
    if body.starts_with(BYTE_ORDER_MARK) {
        BYTE_ORDER_MARK.len()
    } else {
        0
    }
}

/// One body as a token of it may be read: `bytes`, the part within the slice's limit, of
/// `body`, the whole (a token that reaches the limit may go on beyond it).
#[derive(Clone, Copy)]
struct Side<'x> {
    bytes: &'x [u8],
    body: &'x [u8],
}

impl<'x> Side<'x> {
    #[inline(always)]
    fn whole(body: &'x [u8]) -> Side<'x> {
        Side { bytes: body, body }
    }

    #[inline(always)]
    fn within(body: &'x [u8], limit: usize) -> Side<'x> {
        Side {
            bytes: body.get(..limit).unwrap_or(body),
            body,
        }
    }

    /// Why bytes that end at the limit do not make a token: cut by the slice, or malformed.
    #[inline(always)]
    fn short(self) -> Stop {
        if self.bytes.len() < self.body.len() {
            Stop::Cut
        } else {
            Stop::Unknown
        }
    }
}

/// The side-by-side reading of two bodies, resumable: it holds no borrow of them (they are
/// handed in again, the same bytes, at every call).
#[derive(Debug, Clone)]
pub(super) struct Reader {
    /// Where each body's bytes are read up to: after the last token (its own spacing).
    at_a: usize,
    at_b: usize,
    expect: Expect,
    /// The open containers (`ARRAY`, or an object's base in `keys`).
    open: Vec<usize>,
    /// The keys of the open objects (each object's after its base), for duplicates.
    keys: Vec<Span>,
    values: usize,
    /// For numbers' canonical forms and strings' decoded text.
    scratch: (Vec<u8>, Vec<u8>),
}

impl Reader {
    pub(super) fn new(candidate: &[u8], reference: &[u8]) -> Reader {
        Reader {
            at_a: bom(candidate),
            at_b: bom(reference),
            expect: Expect::Value,
            open: Vec::new(),
            keys: Vec::new(),
            values: 0,
            scratch: (Vec::new(), Vec::new()),
        }
    }

    /// Bytes of both bodies read so far.
    pub(super) fn work(&self) -> usize {
        self.at_a.saturating_add(self.at_b)
    }

    /// Reads on until about `budget` more bytes of both bodies are read (at most the
    /// tokenizer's lookahead twice more), or the answer is known; `usize::MAX`: at once.
    pub(super) fn read(&mut self, a: &[u8], b: &[u8], budget: usize) -> Found {
        if [a, b].iter().any(|body| body.len() >= 1 << 31) {
            // What the long way refuses (too long for its spans), this does too.
            return Found::Unknown;
        }
        let (a, b) = if budget == usize::MAX {
            (Side::whole(a), Side::whole(b))
        } else {
            // Each body read within half the budget and of the lookahead.
            let reach = budget.max(LOOKAHEAD).saturating_add(LOOKAHEAD) / 2;
            (
                Side::within(a, self.at_a.saturating_add(reach)),
                Side::within(b, self.at_b.saturating_add(reach)),
            )
        };
        let before = self.work();
        match self.tokens(a, b) {
            Ok(()) => self.end(a, b),
            // A token cut short by the slice's end is read again, whole, in the next; one
            // longer than a whole slice is left to the slower paths (which read in pieces).
            Err(Stop::Cut) if self.work() > before => Found::More,
            Err(_) => Found::Unknown,
        }
    }

    /// The top-level value is read: both bodies must have only whitespace left.
    fn end(&mut self, a: Side, b: Side) -> Found {
        let mut more = false;
        for (at, side) in [(&mut self.at_a, a), (&mut self.at_b, b)] {
            let rest = side.bytes.get(*at..).unwrap_or_default();
            if !rest.iter().copied().all(is_whitespace) {
                return Found::Unknown;
            }
            *at = side.bytes.len();
            more |= side.bytes.len() < side.body.len();
        }
        if more {
            Found::More
        } else {
            Found::Equal
        }
    }

    /// Reads tokens of both bodies (each with the `,` or `:` before it) until the top-level
    /// value is read (`Ok`) or one stops; what is kept is as after the last token read
    /// whole (and the whitespace after it).
    ///
    /// Each phase of the loop reads one token of both bodies, or none, and falls through to
    /// the next: the usual order (a `,` or a close, a key, a `:`, a value) in one pass, with
    /// no dispatch on `expect` (a table of branches costs wasmi's fuel for all of its arms).
    fn tokens(&mut self, a: Side, b: Side) -> Result<(), Stop> {
        /// What was read, or the loop's end with why it stopped.
        macro_rules! or_stop {
            ($read:expr) => {
                match $read {
                    Ok(read) => read,
                    Err(stop) => break Err(stop),
                }
            };
        }
        let (mut i, mut j, mut expect) = (self.at_a, self.at_b, self.expect);
        let stopped = loop {
            if expect == Expect::Trailing {
                break Ok(());
            }
            if expect == Expect::CommaOrClose {
                let (x, y);
                (x, y, i, j) = or_stop!(next_bytes(a, i, b, j));
                if x != b',' || y != b',' {
                    (i, j, expect) = or_stop!(self.close(x, y, i, j));
                    continue;
                }
                (i, j) = (i + 1, j + 1);
                expect = if self.open.last() == Some(&ARRAY) {
                    Expect::Value
                } else {
                    Expect::Key
                };
            }
            if expect == Expect::ItemOrClose || expect == Expect::KeyOrClose {
                let (x, y);
                (x, y, i, j) = or_stop!(next_bytes(a, i, b, j));
                if matches!(x, b']' | b'}') {
                    (i, j, expect) = or_stop!(self.close(x, y, i, j));
                    continue;
                }
                // (Not a close: a key or a value is read next.)
                expect = if expect == Expect::KeyOrClose {
                    Expect::Key
                } else {
                    Expect::Value
                };
            }
            if expect == Expect::Key {
                let read = next_bytes(a, i, b, j).and_then(|next| self.key(a, b, next));
                (i, j) = or_stop!(read);
                expect = Expect::Colon;
            }
            if expect == Expect::Colon {
                let (x, y);
                (x, y, i, j) = or_stop!(next_bytes(a, i, b, j));
                if x != b':' || y != b':' {
                    break Err(Stop::Unknown);
                }
                (i, j, expect) = (i + 1, j + 1, Expect::Value);
            }
            // A value is expected.
            let read = next_bytes(a, i, b, j).and_then(|next| self.value(a, b, next));
            (i, j, expect) = or_stop!(read);
        };
        (self.at_a, self.at_b, self.expect) = (i, j, expect);
        stopped
    }

    /// What is expected after a value.
    #[inline(always)]
    fn after_value(&self) -> Expect {
        if self.open.is_empty() {
            Expect::Trailing
        } else {
            Expect::CommaOrClose
        }
    }

    /// `x` at `a[i]`, `]` or `}`, closes the open container in both bodies (`y` at `b[j]`):
    /// where each is read up to after it, and what is expected next.
    #[inline(always)]
    fn close(&mut self, x: u8, y: u8, i: usize, j: usize) -> Result<(usize, usize, Expect), Stop> {
        let object = x == b'}';
        let base = self.open.last().copied().ok_or(Stop::Unknown)?;
        if y != x || (base != ARRAY) != object {
            return Err(Stop::Unknown);
        }
        self.open.pop();
        if object {
            self.keys.truncate(base);
        }
        Ok((i + 1, j + 1, self.after_value()))
    }

    /// A value of both bodies, starting with `x` at `a[i]` and `y` at `b[j]`: where each ends
    /// and what is expected next.
    #[inline(always)]
    fn value(
        &mut self,
        a: Side,
        b: Side,
        (x, y, i, j): Next,
    ) -> Result<(usize, usize, Expect), Stop> {
        if self.open.len() > MAX_DEPTH || self.values >= MAX_VALUES {
            return Err(Stop::Unknown);
        }
        let (end_a, end_b) = match x {
            b'"' if y == b'"' => match plain_strings(a.bytes, i, b.bytes, j) {
                Some(ends) => ends,
                None => self.strings_by_value(a, i, b, j)?,
            },
            b'-' | b'0'..=b'9' => self.numbers(a, i, b, j)?,
            b't' => literals(a, i, b, j, b"true")?,
            b'f' => literals(a, i, b, j, b"false")?,
            b'n' => literals(a, i, b, j, b"null")?,
            b'{' | b'[' if y == x => {
                self.values += 1;
                let (mark, expect) = if x == b'{' {
                    (self.keys.len(), Expect::KeyOrClose)
                } else {
                    (ARRAY, Expect::ItemOrClose)
                };
                self.open.push(mark);
                return Ok((i + 1, j + 1, expect));
            }
            _ => return Err(Stop::Unknown),
        };
        self.values += 1;
        Ok((end_a, end_b, self.after_value()))
    }

    /// A member's key of both bodies: the same bytes, no escapes, not one of its object's
    /// keys so far (as `lockstep` does: escaped keys and large objects are the long way's).
    #[inline(always)]
    fn key(&mut self, a: Side, b: Side, (x, y, i, j): Next) -> Result<(usize, usize), Stop> {
        if x != b'"' || y != b'"' {
            return Err(Stop::Unknown);
        }
        let (end_a, end_b) = match plain_strings(a.bytes, i, b.bytes, j) {
            Some(ends) => ends,
            None => keys_read(a, i, b, j)?,
        };
        let base = self.open.last().copied().ok_or(Stop::Unknown)?;
        let key = Span {
            start: i + 1,
            end: end_a - 1,
        };
        let len = key.end - key.start;
        let siblings = self.keys.get(base..).unwrap_or_default();
        if siblings.len() >= MAX_MEMBERS
            || siblings.iter().any(|sibling| {
                // Lengths first: most keys differ there, without slicing the body.
                sibling.end.wrapping_sub(sibling.start) == len
                    && sibling.of(a.body) == key.of(a.body)
            })
        {
            return Err(Stop::Unknown);
        }
        self.keys.push(key);
        Ok((end_a, end_b))
    }

    /// Two strings that are not the same plain bytes, read by the tokenizer: where they end
    /// if they stand for the same text.
    #[cold]
    #[inline(never)]
    fn strings_by_value(
        &mut self,
        a: Side,
        i: usize,
        b: Side,
        j: usize,
    ) -> Result<(usize, usize), Stop> {
        let (string_a, end_a) = read_string(a, i)?;
        let (string_b, end_b) = read_string(b, j)?;
        let (body_a, body_b) = (a.body.get(i..), b.body.get(j..));
        let (body_a, body_b) = (body_a.unwrap_or_default(), body_b.unwrap_or_default());
        if texts_equal(
            (string_a.content(body_a), string_a.escaped),
            (string_b.content(body_b), string_b.escaped),
            &mut self.scratch,
        ) {
            Ok((end_a, end_b))
        } else {
            Err(Stop::Unknown)
        }
    }

    /// Two numbers: the candidate's checked, the reference's the same bytes ending where the
    /// candidate's does, or read and compared by value.
    #[inline(always)]
    fn numbers(&mut self, a: Side, i: usize, b: Side, j: usize) -> Result<(usize, usize), Stop> {
        let (end_a, grammar) = number::scan_whole(a.bytes, i).ok_or(Stop::Unknown)?;
        if end_a >= a.bytes.len() && a.bytes.len() < a.body.len() {
            return Err(Stop::Cut);
        }
        if !grammar.complete() {
            return Err(Stop::Unknown);
        }
        let len = end_a - i;
        let end_b = j + len;
        // Most numbers are at most eight bytes: compared in one word where eight are left.
        let same = match (word_at(a.bytes, i), word_at(b.bytes, j)) {
            (Some(x), Some(y)) if len <= 8 => (x ^ y) & first_bytes(len) == 0,
            _ => b
                .bytes
                .get(j..end_b)
                .is_some_and(|other| bytes_equal(other, a.bytes.get(i..end_a).unwrap_or_default())),
        };
        match b.bytes.get(end_b) {
            Some(next) if same && !goes_on(next) => Ok((end_a, end_b)),
            None if same && b.bytes.len() == b.body.len() => Ok((end_a, end_b)),
            _ => self.numbers_by_value(a.bytes.get(i..end_a).unwrap_or_default(), end_a, b, j),
        }
    }

    /// The reference's number, not the candidate's bytes (`number`, ending at `end_a`): zeros
    /// appended to its fraction or taken from it, or read by the tokenizer and compared by
    /// value.
    #[cold]
    #[inline(never)]
    fn numbers_by_value(
        &mut self,
        number: &[u8],
        end_a: usize,
        b: Side,
        j: usize,
    ) -> Result<(usize, usize), Stop> {
        if let Some(end_b) = zeros_apart(number, b.bytes, j) {
            return Ok((end_a, end_b));
        }
        let (mut tokens, rest) = tokenizer_at(b, j);
        match tokens.next_within(rest, b.bytes.len().saturating_sub(j)) {
            Ok(Progress::Token(Token::Number)) => {}
            Ok(Progress::Pending) => return Err(Stop::Cut),
            _ => return Err(Stop::Unknown),
        }
        if numbers_equal(number, tokens.span().of(rest), &mut self.scratch) {
            Ok((end_a, j + tokens.offset()))
        } else {
            Err(Stop::Unknown)
        }
    }
}

/// A tokenizer at the start of `side`'s body from `at` (a token there: no byte order mark),
/// and that part of the body.
fn tokenizer_at<'x>(side: Side<'x>, at: usize) -> (Tokenizer, &'x [u8]) {
    (Tokenizer::new(), side.body.get(at..).unwrap_or_default())
}

/// The string at `side`'s `at` (its quote) read by the tokenizer, within the slice: its
/// content and escapes (spans from `at`) and where it ends.
fn read_string(side: Side, at: usize) -> Result<(Str, usize), Stop> {
    let (mut tokens, rest) = tokenizer_at(side, at);
    match tokens.next_within(rest, side.bytes.len().saturating_sub(at)) {
        Ok(Progress::Token(Token::String)) if !tokens.lone_surrogates() => {
            Ok((tokens.string(), at + tokens.offset()))
        }
        Ok(Progress::Pending) => Err(Stop::Cut),
        _ => Err(Stop::Unknown),
    }
}

/// Two keys that are not the same plain bytes, read by the tokenizer: where they end if they
/// are the same bytes without escapes (other than ASCII in both, say).
#[cold]
#[inline(never)]
fn keys_read(a: Side, i: usize, b: Side, j: usize) -> Result<(usize, usize), Stop> {
    let (key_a, end_a) = read_string(a, i)?;
    let (key_b, end_b) = read_string(b, j)?;
    let (body_a, body_b) = (a.body.get(i..), b.body.get(j..));
    let (body_a, body_b) = (body_a.unwrap_or_default(), body_b.unwrap_or_default());
    if key_a.escaped || key_b.escaped || key_a.content(body_a) != key_b.content(body_b) {
        return Err(Stop::Unknown);
    }
    Ok((end_a, end_b))
}

/// The literal `word` at `a[i]` and `b[j]`: where each ends.
#[inline(always)]
fn literals(a: Side, i: usize, b: Side, j: usize, word: &[u8]) -> Result<(usize, usize), Stop> {
    let (end_a, end_b) = (i + word.len(), j + word.len());
    for (side, at, end) in [(a, i, end_a), (b, j, end_b)] {
        match side.bytes.get(at..end) {
            Some(bytes) if bytes == word => {}
            None => return Err(side.short()),
            Some(_) => return Err(Stop::Unknown),
        }
    }
    Ok((end_a, end_b))
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The bytes of `word` that are not a string's plain content (`"`, `\`, a control character,
/// other than ASCII), each flagged by its high bit. The lowest flagged byte is the first such
/// (a false flag only follows a true one).
#[inline(always)]
fn not_plain(word: u64) -> u64 {
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    ((quote.wrapping_sub(ONES) & !quote)
        | (backslash.wrapping_sub(ONES) & !backslash)
        | word.wrapping_sub(ONES * 0x20)
        | word)
        & HIGHS
}

/// The bytes of `word` that are not zero, each flagged by its high bit (exactly).
#[inline(always)]
fn nonzero(word: u64) -> u64 {
    (((word & !HIGHS) + !HIGHS) | word) & HIGHS
}

/// Where two strings that start at `a[i]` and `b[j]` (their quotes) end, if they are the same
/// bytes, all plain (printable ASCII); `None` if not, or if either reaches the end of its
/// bytes: the tokenizer will tell. Eight bytes at a time while both have eight left.
#[inline(always)]
fn plain_strings(a: &[u8], i: usize, b: &[u8], j: usize) -> Option<(usize, usize)> {
    let (mut p, mut q) = (i + 1, j + 1);
    while let (Some(x), Some(y)) = (word_at(a, p), word_at(b, q)) {
        let stops = not_plain(x) | nonzero(x ^ y);
        if stops != 0 {
            // The first byte that stops the run is the closing quote on both sides, or the
            // tokenizer's to read (told from the words, without reading the bodies again).
            let shift = stops.trailing_zeros() & !7;
            let quote = u64::from(b'"');
            let ends = (x >> shift) & 0xff == quote && (y >> shift) & 0xff == quote;
            let past = (shift / 8) as usize + 1;
            return ends.then_some((p + past, q + past));
        }
        (p, q) = (p + 8, q + 8);
    }
    loop {
        let (x, y) = (*a.get(p)?, *b.get(q)?);
        if x != y {
            return None;
        }
        match x {
            b'"' => return Some((p + 1, q + 1)),
            b'\\' | 0..=0x1f | 0x80.. => return None,
            _ => (p, q) = (p + 1, q + 1),
        }
    }
}

/// Where the reference's number at `at_b` ends if it is the candidate's `number` with zeros
/// appended to its fraction or taken from it (`1.50` and `1.5`, the usual difference between
/// serializers): told without a tokenizer. `None`: the tokenizer will tell (also where the
/// reference's number reaches the end of `within`, which may cut it).
fn zeros_apart(number: &[u8], within: &[u8], at_b: usize) -> Option<usize> {
    let rest = within.get(at_b..)?;
    let len = rest.iter().position(|byte| !goes_on(byte))?;
    let other = rest.get(..len)?;
    let appended = if other.len() > number.len() {
        zeros_appended(number, other)
    } else {
        // The reference's, the shorter, is a number if its fraction keeps a digit.
        other.last().is_some_and(u8::is_ascii_digit) && zeros_appended(other, number)
    };
    appended.then_some(at_b + len)
}

/// Whether a byte may go on a number (`1.50` after `1.5`; for the grammar, the tokenizer).
fn goes_on(byte: &u8) -> bool {
    matches!(byte, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
}

/// The next byte of each body (`x`, `y`) and where they are (`i`, `j`).
type Next = (u8, u8, usize, usize);

/// The bytes after whitespace from `a[i]` and `b[j]`, and where they are.
#[inline(always)]
fn next_bytes(a: Side, i: usize, b: Side, j: usize) -> Result<Next, Stop> {
    let (i, j) = (skip_whitespace(a.bytes, i), skip_whitespace(b.bytes, j));
    match (a.bytes.get(i), b.bytes.get(j)) {
        (Some(&x), Some(&y)) => Ok((x, y, i, j)),
        (None, _) => Err(a.short()),
        (_, None) => Err(b.short()),
    }
}

/// Where whitespace from `at` ends.
#[inline(always)]
fn skip_whitespace(body: &[u8], mut at: usize) -> usize {
    // Most bytes after a token are not whitespace: told by one comparison.
    while let Some(&byte) = body.get(at) {
        if byte > b' ' || !is_whitespace(byte) {
            break;
        }
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::MAX_DEPTH;

    fn alike(a: &str, b: &str) -> bool {
        let answer = equal(a.as_bytes(), b.as_bytes());
        assert_eq!(answer, equal(b.as_bytes(), a.as_bytes()), "{a} / {b}");
        answer
    }

    #[test]
    fn whitespace_counts_only_inside_tokens() {
        assert!(alike(
            r#"{"a":[1,true,"x y"]}"#,
            "{ \"a\" :\n[ 1 ,\ttrue, \"x y\" ] }\r\n"
        ));
        assert!(!alike(r#"{"a":"x y"}"#, r#"{"a":"xy"}"#));
        assert!(!alike(r#"{"a":"x y"}"#, r#"{"a":"x  y"}"#));
        assert!(!alike("[true]", "[tr ue]"));
        assert!(!alike("[12]", "[1 2]"));
        assert!(!alike("[1,2]", "[12]"));
        assert!(!alike("[-1]", "[- 1]"));
        assert!(!alike(r#"{"ab":1}"#, r#"{"a b":1}"#));
        assert!(!alike("[true]", "[truex]"));
        assert!(!alike("[1]", "[1] 2"));
        assert!(!alike("1", "12"));
    }

    #[test]
    fn tokens_written_otherwise_are_compared_by_value() {
        assert!(alike("[1.5, 2]", "[1.50, 2]"));
        assert!(alike(r#"{"p":1.5,"q":0}"#, r#"{"p": 15e-1, "q": 0.0}"#));
        assert!(alike(r#"["A\n", "é"]"#, r#"["\u0041\n", "\u00e9"]"#));
        assert!(!alike("[1.5]", "[1.51]"));
        assert!(!alike(r#"["a"]"#, r#"["b"]"#));
        assert!(!alike("[1]", r#"["1"]"#));
        assert!(!alike("[null]", "[false]"));
        // A key escaped otherwise is left to the slower paths (they decode keys).
        assert!(!alike(r#"{"a":1}"#, r#"{"\u0061":1}"#));
        // The first token too.
        assert!(alike("1", "1.0"));
    }

    #[test]
    fn zeros_appended_to_a_fraction_are_the_same_number() {
        assert!(alike(
            r#"{"p":1.5,"q":[2.0]}"#,
            r#"{"p": 1.500, "q": [2.00]}"#
        ));
        assert!(alike("[-0.25,1]", "[-0.250, 1]"));
        assert!(!alike("[1.0]", "[1.]"));
        assert!(!alike("[1.0]", "[1.,0]"));
        assert!(!alike("[1.00]", "[1.]"));
        assert!(!alike("[1.50]", "[1.5.0]"));
        assert!(!alike("[1.50]", "[1.5-0]"));
        assert!(!alike("[15]", "[150]"));
        assert!(alike("[1.5e1]", "[1.50e1]"));
        assert!(!alike("[1.5]", "[1.500x]"));
        assert!(!alike("[1.5]", "[1.50 0]"));
        // Cut by a slice's end: read again in the next.
        let (a, b) = ("[1.5, 2.5, 3.5]", "[1.5000000, 2.50000000, 3.500000000]");
        for budget in [20, 30, 64] {
            assert_eq!(stepped(a, b, budget), Found::Equal, "{budget}");
            assert_eq!(stepped(b, a, budget), Found::Equal, "{budget}");
        }
    }

    #[test]
    fn only_documents_the_diff_reads_are_equal() {
        let twice = r#"{"a": 1, "a": 2}"#;
        assert!(!alike(twice, &twice.replace(' ', "")));
        assert!(alike(r#"{"a": {"a": 1}}"#, r#"{"a":{"a":1}}"#));
        assert!(!alike(r#"["\ud800"]"#, r#"[ "\ud800"]"#));
        assert!(!alike(r#"["\ud800"]"#, r#"["\ud800" ]"#));
        assert!(!alike("[1,]", "[1 ,]"));
        assert!(!alike("[1", "[1 "));
        let deep =
            |n: usize, space: &str| format!("{}{}", "[".repeat(n), format!("]{space}").repeat(n));
        assert!(alike(&deep(MAX_DEPTH + 1, ""), &deep(MAX_DEPTH + 1, " ")));
        assert!(!alike(&deep(MAX_DEPTH + 2, ""), &deep(MAX_DEPTH + 2, " ")));
        let values = |n: usize, space: &str| format!("[{}0]", format!("0,{space}").repeat(n - 1));
        assert!(alike(
            &values(MAX_VALUES - 1, ""),
            &values(MAX_VALUES - 1, " ")
        ));
        assert!(!alike(&values(MAX_VALUES, ""), &values(MAX_VALUES, " ")));
    }

    #[test]
    fn a_byte_order_mark_is_skipped_once() {
        assert!(alike("\u{feff}[1]", "[ 1 ]"));
        assert!(alike("\u{feff}[1]", "\u{feff}[1.0]"));
        assert!(!alike("\u{feff}\u{feff}[1]", "[1]"));
        assert!(!alike("\u{feff}[1]", "\u{feff}\u{feff}[1]"));
    }

    #[test]
    fn words_flag_their_first_byte_that_is_not_plain_and_their_first_difference() {
        let mut rng = fastrand::Rng::with_seed(7);
        let interesting = [
            b'"', b'\\', 0, 0x1f, b' ', b'!', 0x7f, 0x80, 0xc3, 0xff, b'a',
        ];
        for _ in 0..20_000 {
            let mut bytes = [0u8; 8];
            for byte in &mut bytes {
                *byte = if rng.bool() {
                    interesting[rng.usize(0..interesting.len())]
                } else {
                    rng.u8(..)
                };
            }
            let word = u64::from_le_bytes(bytes);
            let first = bytes
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b));
            let flags = not_plain(word);
            assert_eq!(
                (flags != 0).then(|| (flags.trailing_zeros() / 8) as usize),
                first,
                "{bytes:x?}"
            );
            let mut other = bytes;
            let at = rng.usize(0..8);
            other[at] = other[at].wrapping_add(rng.u8(1..));
            let differ = nonzero(word ^ u64::from_le_bytes(other));
            assert_eq!(differ, 0x80 << (8 * at), "{bytes:x?} {other:x?}");
            assert_eq!(nonzero(0), 0);
        }
    }

    #[test]
    fn plain_strings_end_at_their_quotes_wherever_words_end() {
        for len in 0..40 {
            let text: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            let (a, b) = (format!("\"{text}\",1"), format!("\"{text}\" , 1"));
            let end = len + 2;
            assert_eq!(
                plain_strings(a.as_bytes(), 0, b.as_bytes(), 0),
                Some((end, end)),
                "{len}"
            );
            // Offset in the other body: the words are not aligned.
            let shifted = format!("[ {b}");
            assert_eq!(
                plain_strings(a.as_bytes(), 0, shifted.as_bytes(), 2),
                Some((end, end + 2))
            );
            for at in 1..=len {
                // A byte that differs, one that is not plain, a quote on one side only: the
                // tokenizer's to tell.
                for byte in [b'A', b'\\', 0x01, 0xc3, b'"'] {
                    let mut other = b.clone().into_bytes();
                    other[at] = byte;
                    assert_eq!(
                        plain_strings(a.as_bytes(), 0, &other, 0),
                        None,
                        "{len} {at}"
                    );
                    if byte != b'A' && byte != b'"' {
                        assert_eq!(plain_strings(&other, 0, &other, 0), None, "{len} {at}");
                    }
                }
            }
            // Cut short: no end found.
            let cut = &a.as_bytes()[..len + 1];
            assert_eq!(plain_strings(cut, 0, b.as_bytes(), 0), None);
            assert_eq!(plain_strings(b.as_bytes(), 0, cut, 0), None);
        }
    }

    #[test]
    fn malformed_tokens_are_never_equal() {
        for (a, b) in [
            ("[tru]", "[tru]"),
            ("[nul", "[nul "),
            ("[1.]", "[1.]"),
            ("[01]", "[01]"),
            ("[-]", "[-]"),
            ("[1e]", "[1e ]"),
            ("[1e+]", "[1e+]"),
            ("[.5]", "[.5]"),
            ("[+1]", "[+1]"),
            ("[\"a\u{1}\"]", "[ \"a\u{1}\"]"),
            ("[\"a\\x\"]", "[ \"a\\x\"]"),
            ("[\"a\\u12\"]", "[ \"a\\u12\"]"),
            ("[\"abcdefghijk", "[ \"abcdefghijk"),
            ("{\"a\" 1}", "{\"a\": 1}"),
            ("{\"a\":1 \"b\":2}", "{\"a\":1, \"b\":2}"),
            ("{1:1}", "{1: 1}"),
            ("[1}", "[1 }"),
            ("{\"a\":1]", "{\"a\":1 ]"),
            ("[1,]", "[1 ,]"),
            ("{\"a\":1,}", "{\"a\":1 ,}"),
            ("[] []", "[]  []"),
            ("", " "),
            ("[\"x\"] x", "[\"x\"] x"),
        ] {
            assert!(!alike(a, b), "{a} / {b}");
        }
        // Not UTF-8, the same bytes on both sides, within a word and across words' ends.
        for bad in [
            &b"\xff"[..],
            b"\xc3",
            b"\xc3(",
            b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80",
        ] {
            for before in ["", "abcdef", "abcdefgh"] {
                let mut a = format!("[\"{before}").into_bytes();
                a.extend_from_slice(bad);
                a.extend_from_slice(b"\"]");
                let mut b = a.clone();
                b.insert(1, b' ');
                assert!(!equal(&a, &b) && !equal(&b, &a), "{a:x?}");
            }
        }
        // Well formed other than ASCII, the same or escaped otherwise.
        assert!(alike("[\"abcdefgé\"]", "[ \"abcdefgé\"]"));
        assert!(alike("{\"ké\": \"é\"}", "{\"ké\":\"\\u00e9\"}"));
        assert!(!alike("{\"ké\": 1}", "{\"kè\":1}"));
    }

    #[test]
    fn numbers_and_literals_at_a_bodys_end() {
        assert!(alike("12", " 12 "));
        assert!(alike("1.5", "1.50"));
        assert!(alike("true", "true\n"));
        assert!(alike("\"abcdefghijk\"", " \"abcdefghijk\""));
        assert!(!alike("12", "1"));
        assert!(!alike("true", "tru"));
        assert!(!alike("null", "nul"));
        assert!(!alike("1.5", "1.5-"));
    }

    /// Stepped: Reader::read until it answers, each step's bytes counted.
    fn stepped(a: &str, b: &str, budget: usize) -> Found {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        let mut reader = Reader::new(a, b);
        loop {
            let before = reader.work();
            let found = reader.read(a, b, budget);
            let worked = reader.work() - before;
            assert!(
                worked <= budget.max(LOOKAHEAD) + 2 * LOOKAHEAD,
                "{worked} of {budget}"
            );
            if found != Found::More {
                return found;
            }
        }
    }

    #[test]
    fn read_in_slices_it_answers_as_at_once_within_each_slice() {
        let doc = |space: &str, zeros: &str| {
            let item = |i: usize| {
                format!(
                    r#"{{"id":{space}{i},{space}"name":{space}"item-{i}","price":{space}{i}.5{zeros}}}"#
                )
            };
            format!("[{}]", (0..300).map(item).collect::<Vec<_>>().join(","))
        };
        let (compact, spaced) = (doc("", ""), doc(" ", "0"));
        assert!(equal(compact.as_bytes(), spaced.as_bytes()));
        for budget in [20, 30, 64] {
            assert_eq!(stepped(&compact, &spaced, budget), Found::Equal, "{budget}");
            assert_eq!(stepped(&spaced, &compact, budget), Found::Equal, "{budget}");
            let changed = spaced.replace("item-299", "item-298");
            assert_eq!(stepped(&compact, &changed, budget), Found::Unknown);
        }
        // A token, or a run of the reference's whitespace, longer than a slice: left to the
        // slower paths (which read in pieces), though equal.
        let long = format!(r#"["{}"]"#, "x".repeat(10_000));
        assert!(alike(&long, &long.replace('[', "[ ")));
        assert_eq!(
            stepped(&long, &long.replace('[', "[ "), 4096),
            Found::Unknown
        );
        let spaces = format!("[{}1]", " ".repeat(10_000));
        assert!(alike("[1]", &spaces));
        assert_eq!(stepped("[1]", &spaces, 4096), Found::Unknown);
        assert_eq!(
            stepped("[1] ", &format!("[1]{}", " ".repeat(10_000)), 64),
            Found::Equal
        );
    }
}
