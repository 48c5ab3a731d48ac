//! The JSON diff's fastest path for bodies that differ as bytes: both read side by side,
//! compared as bytes while they are alike.
//!
//! Two builds of one service write the same document with other whitespace, a number spelled
//! otherwise (`1.50` for `1.5`) or a character escaped. Here only the candidate is tokenized
//! (`crate::json`, checking it); the reference is compared with it byte for byte, whitespace
//! skipped on its side only between tokens (a token's bytes, a string's whole, must be equal).
//! Where a token's bytes differ, the reference's token is read by a tokenizer in the
//! candidate's state (`Tokenizer::before_last`: the tokens so far were the same) and compared by
//! value (a number's, a string's text). While the tokens are the same, the reference holds
//! what the candidate holds: it is just as well formed, as deep, as many values, with the
//! same keys; so the candidate's checks stand for both.
//!
//! It says only "equal": two documents, both read as the diff reads them (no lone surrogate,
//! no duplicate key, at most `MAX_VALUES` values), equal value by value, members in one order.
//! Anything else (a difference, other member order, an escaped key, an object of many
//! members) is left to the next path (`lockstep`, then `document` and `walk`), which gives
//! the answer it always gave: this one costs at most one more reading of the bodies.

use super::document::MAX_VALUES;
use super::lockstep::MAX_MEMBERS;
use crate::json::number::{numbers_equal, zeros_appended};
use crate::json::text::texts_equal;
use crate::json::tokenizer::LOOKAHEAD;
use crate::json::{
    bytes_equal, first_bytes, is_whitespace, word_at, Progress, Span, Token, Tokenizer,
    BYTE_ORDER_MARK,
};

/// Whether the bodies are equal JSON documents, members in the same order (`false`: the
/// slower paths will tell).
pub(super) fn equal(candidate: &[u8], reference: &[u8]) -> bool {
    Reader::new(candidate, reference).read(candidate, reference, usize::MAX) == Found::Equal
}

/// What reading the reference's token by value found.
enum Read {
    Same,
    Differ,
    /// It goes on past the slice: read again in the next.
    Cut,
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

/// The length of a body's byte order mark (as the tokenizer skips it).
fn bom(body: &[u8]) -> usize {
    if body.starts_with(BYTE_ORDER_MARK) {
        BYTE_ORDER_MARK.len()
    } else {
        0
    }
}

/// The side-by-side reading of two bodies, resumable: it holds no borrow of them (they are
/// handed in again, the same bytes, at every call).
#[derive(Debug, Clone)]
pub(super) struct Reader {
    /// The candidate's tokens.
    tokens: Tokenizer,
    /// Where each body's bytes are compared up to: after the last token (its own spacing).
    at_a: usize,
    at_b: usize,
    /// The last token read (`None`: none yet).
    previous: Option<Token>,
    /// The byte the candidate has before its next token unless that closes a container:
    /// `:` after a key, `,` after a value, none (0) after an open (see `separator`).
    separator: u8,
    /// The keys of the open objects (each object's after its base), for duplicates.
    keys: Vec<Span>,
    /// The open objects' bases in `keys`.
    objects: Vec<usize>,
    values: usize,
    /// For numbers' canonical forms and strings' decoded text.
    scratch: (Vec<u8>, Vec<u8>),
}

impl Reader {
    pub(super) fn new(candidate: &[u8], reference: &[u8]) -> Reader {
        Reader {
            tokens: Tokenizer::new(),
            at_a: bom(candidate),
            at_b: bom(reference),
            previous: None,
            separator: 0,
            keys: Vec::new(),
            objects: Vec::new(),
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
        let stop = self.work().saturating_add(budget);
        let found = if budget == usize::MAX {
            self.tokens_until::<false>(a, b, stop, budget)
        } else {
            self.tokens_until::<true>(a, b, stop, budget.max(LOOKAHEAD))
        };
        found.unwrap_or(Found::Unknown)
    }

    /// Reads tokens while fewer than `stop` bytes are read. A token is read whole in one
    /// slice, within what is left of it (`room`): one cut short is read again in the next
    /// slice; one that does not fit a whole slice (`budget`) is left to the slower paths,
    /// which read it in pieces. Not `SLICED`, all at once: the same, without the limits'
    /// sums (they cost the usual comparison 7%).
    fn tokens_until<const SLICED: bool>(
        &mut self,
        a: &[u8],
        b: &[u8],
        stop: usize,
        budget: usize,
    ) -> Option<Found> {
        while !SLICED || self.work() < stop {
            // Only a token cut short needs the state before it (all at once, none is).
            let before = SLICED.then(|| self.tokens.clone());
            let room = if SLICED {
                (stop - self.work()).max(LOOKAHEAD)
            } else {
                usize::MAX
            };
            let whole_slice = !SLICED || room >= budget;
            let limit_a = self.tokens.offset().saturating_add(room);
            let progress = if !SLICED || limit_a >= a.len() {
                // The quicker way, and the only one when comparing at once (`equal`).
                match self.tokens.next_inlined(a).ok()? {
                    Some(token) => Progress::Token(token),
                    None => Progress::End,
                }
            } else {
                self.tokens.next_within(a, limit_a).ok()?
            };
            let token = match progress {
                Progress::Token(token) => token,
                Progress::End => return self.end(b, room),
                Progress::Pending => return self.cut(before?, whole_slice),
            };
            let span = self.tokens.span();
            let limit_b = if SLICED {
                // What is left of the room after the candidate's bytes, for the reference's.
                let used_a = span.end.saturating_sub(self.at_a);
                self.at_b
                    .saturating_add(room.saturating_sub(used_a).max(LOOKAHEAD))
            } else {
                usize::MAX
            };
            let separator = match token {
                Token::ObjectEnd | Token::ArrayEnd => 0,
                _ => self.separator,
            };
            match same_bytes(a, separator, span, token, b, (self.at_b, limit_b)) {
                Ok(at_b) => self.at_b = at_b,
                // A tokenizer in the start state would take a second byte order mark.
                Err(token_b) => match self.same_value(a, (b, limit_b), token, token_b) {
                    Read::Same => {}
                    Read::Differ => return None,
                    Read::Cut => return self.cut(before?, whole_slice),
                },
            }
            self.previous = Some(token);
            self.separator = separator_after(token);
            self.at_a = span.end;
            self.track(a, token)?;
        }
        Some(Found::More)
    }

    /// A token cut short by the end of the slice: read again, whole, in the next slice (the
    /// candidate's tokenizer as it was before it); if a whole slice could not hold it, left
    /// to the slower paths.
    #[cold]
    fn cut(&mut self, before: Tokenizer, whole_slice: bool) -> Option<Found> {
        if whole_slice {
            return None;
        }
        self.tokens = before;
        Some(Found::More)
    }

    /// The candidate is read: the reference must have only whitespace left (checked `room`
    /// bytes at a time).
    fn end(&mut self, b: &[u8], room: usize) -> Option<Found> {
        let rest = b.get(self.at_b..).unwrap_or_default();
        let part = rest.get(..room).unwrap_or(rest);
        if self.tokens.lone_surrogates() || !part.iter().copied().all(is_whitespace) {
            return None;
        }
        self.at_b += part.len();
        Some(if part.len() < rest.len() {
            Found::More
        } else {
            Found::Equal
        })
    }

    /// The reference's next token, read where its bytes differ from the candidate's by a
    /// tokenizer in the candidate's state before its token (reading no byte of `b` from
    /// `limit_b` on): the same token with the same value (a number spelled otherwise, a
    /// string escaped otherwise), or not, or cut short. (Other tokens than keys and scalars
    /// are one spelling only: other bytes are another token.)
    #[cold]
    #[inline(never)]
    fn same_value(
        &mut self,
        a: &[u8],
        (b, limit_b): (&[u8], usize),
        token: Token,
        token_b: Option<usize>,
    ) -> Read {
        if let (Token::Number, Some(at)) = (token, token_b) {
            let within = b.get(..limit_b).unwrap_or(b);
            if let Some(end) = zeros_apart(self.tokens.span().of(a), within, at) {
                self.at_b = end;
                return Read::Same;
            }
        }
        let Some(mut other) = self
            .previous
            .and_then(|previous| self.tokens.before_last(token, previous, self.at_b))
        else {
            // (Before the first token, a tokenizer would take a second byte order mark.)
            return Read::Differ;
        };
        match other.next_within(b, limit_b) {
            Ok(Progress::Pending) => return Read::Cut,
            Ok(Progress::Token(read)) if read == token && !other.lone_surrogates() => {}
            _ => return Read::Differ,
        }
        let equal = match token {
            Token::Number => numbers_equal(
                self.tokens.span().of(a),
                other.span().of(b),
                &mut self.scratch,
            ),
            Token::String => {
                let (a, b) = ((self.tokens.string(), a), (other.string(), b));
                texts_equal(
                    (a.0.content(a.1), a.0.escaped),
                    (b.0.content(b.1), b.0.escaped),
                    &mut self.scratch,
                )
            }
            // Keys are compared as bytes (duplicates among them are looked for as bytes).
            Token::Key => self.tokens.string().content(a) == other.string().content(b),
            _ => true,
        };
        self.at_b = other.offset();
        if equal {
            Read::Same
        } else {
            Read::Differ
        }
    }

    /// Keeps what the diff's rules need of the candidate's token: its keys (no duplicates),
    /// its number of values.
    #[inline(always)]
    fn track(&mut self, a: &[u8], token: Token) -> Option<()> {
        match token {
            Token::ObjectStart => self.objects.push(self.keys.len()),
            Token::ObjectEnd => {
                let base = self.objects.pop()?;
                self.keys.truncate(base);
            }
            Token::Key => {
                let base = self.objects.last().copied()?;
                let key = self.tokens.string();
                let text = key.content(a);
                let siblings = self.keys.get(base..).unwrap_or_default();
                // (As `lockstep` does: escaped keys and large objects are the long way's.)
                if key.escaped
                    || siblings.len() >= MAX_MEMBERS
                    || siblings.iter().any(|sibling| {
                        // Lengths first: most keys differ there, without slicing the body.
                        sibling.end.saturating_sub(sibling.start) == text.len()
                            && sibling.of(a) == text
                    })
                {
                    return None;
                }
                self.keys.push(key.content);
            }
            _ => {}
        }
        if token.starts_value() {
            self.values += 1;
            if self.values > MAX_VALUES {
                return None;
            }
        }
        Some(())
    }
}

/// The byte the candidate has after `token` before the next token unless that closes a
/// container: `:` after a key, `,` after a value, none (0) after an open. (Its tokenizer
/// checked it: only whitespace was around it.)
#[inline(always)]
fn separator_after(token: Token) -> u8 {
    match token {
        Token::Key => b':',
        Token::ObjectStart | Token::ArrayStart => 0,
        _ => b',',
    }
}

/// Where the reference's bytes from `at_b` end if they are the candidate's `separator` (if
/// any; whitespace skipped around it) and then its token `span` exactly; if not, where the
/// reference's token starts if the bytes before it were the candidate's.
///
/// A number of the reference may go on past the candidate's (`1.50` for `1.5`): then it is
/// read as a token. Other tokens cannot (a string ends with its quote), or only with a byte
/// no token may be followed by (`truex`): the next step finds it where a `,`, a `:`, a close
/// or the end should be, and the reference's tokenizer refuses it.
#[inline(always)]
fn same_bytes(
    a: &[u8],
    separator: u8,
    span: Span,
    token: Token,
    b: &[u8],
    (at_b, limit_b): (usize, usize),
) -> Result<usize, Option<usize>> {
    // No byte of the reference is compared from `limit_b` on (then it is read as a token).
    let within = b.get(..limit_b).unwrap_or(b);
    let mut at_b = skip_whitespace(within, at_b);
    if separator != 0 {
        if within.get(at_b) != Some(&separator) {
            return Err(None);
        }
        at_b = skip_whitespace(within, at_b + 1);
    }
    // (A token's span is within the candidate: its tokenizer read it.)
    let len = span.end.saturating_sub(span.start);
    let end = at_b.saturating_add(len);
    // Most tokens are at most eight bytes: compared in one word where eight bytes are left.
    let equal = match (word_at(a, span.start), word_at(within, at_b)) {
        (Some(x), Some(y)) if len <= 8 => (x ^ y) & first_bytes(len) == 0,
        _ => within
            .get(at_b..end)
            .is_some_and(|r| bytes_equal(r, span.of(a))),
    };
    if !equal {
        return Err(Some(at_b));
    }
    if token == Token::Number && b.get(end).is_some_and(goes_on) {
        return Err(Some(at_b));
    }
    Ok(end)
}

/// Where the reference's number at `at_b` ends if it is the candidate's `number` with zeros appended to its fraction or taken from it (`1.50` and `1.5`, the usual
/// difference between serializers): told without a tokenizer. `None`: the tokenizer will tell
/// (also where the reference's number reaches the end of `within`, which may cut it).
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

fn skip_whitespace(body: &[u8], mut at: usize) -> usize {
    while body.get(at).copied().is_some_and(is_whitespace) {
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
        // The first token too, where a tokenizer would take a byte order mark.
        assert!(!alike("1", "1.0"));
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
