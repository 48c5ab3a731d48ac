//! The strict tokenizer (RFC 8259) every JSON reader of the plugin stands on.
//!
//! Tokens are spans of the body: nothing is allocated, nothing decoded. Its whole state is in
//! `Tokenizer` (the open containers in a bit stack, what may come next, a token cut short), so
//! a caller can give it a bounded amount of work and come back later: `next_within(body,
//! limit)` reads no byte at or after `limit`, and says `Pending` when it needs more; a later
//! call, with the same body and a larger limit, goes on where it stopped (inside a string or a
//! number too), and the tokens are exactly those of one call over the whole body.
//!
//! Linear: each byte is looked at once (an escape at a limit is looked at again, at most
//! twelve bytes, once more); string contents are skipped eight bytes at a time.

use super::number::{self, Grammar};
use super::text::{hex4, simple_escape, HIGH_SURROGATES, LOW_SURROGATES};
use super::{is_whitespace, BYTE_ORDER_MARK, MAX_DEPTH};

/// The body is not JSON (or is nested deeper than `MAX_DEPTH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// A range of the body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn of<'b>(&self, body: &'b [u8]) -> &'b [u8] {
        body.get(self.start..self.end).unwrap_or_default()
    }
}

/// A string: its content (between the quotes, escapes as written), and whether it has
/// escapes (without, the content is the text, and valid UTF-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Str {
    pub content: Span,
    pub escaped: bool,
}

impl Str {
    pub fn content<'b>(&self, body: &'b [u8]) -> &'b [u8] {
        self.content.of(body)
    }
}

/// One token. A member's key comes as `Key`, then its value; the `:` and `,` are checked
/// and not reported. Where it is in the body, `Tokenizer::span` and `Tokenizer::string` say
/// (a token is one byte: handing it on copies nothing more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    ObjectStart,
    ObjectEnd,
    ArrayStart,
    ArrayEnd,
    Key,
    String,
    Number,
    True,
    False,
    Null,
}

impl Token {
    /// Whether the token begins a value (every token but keys and containers' ends).
    pub fn starts_value(&self) -> bool {
        !matches!(self, Token::Key | Token::ObjectEnd | Token::ArrayEnd)
    }
}

/// What one step of `next_within` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Token(Token),
    /// Every byte before the limit is read: call again with a larger one.
    Pending,
    /// The document is complete (only whitespace followed it).
    End,
}

/// What may come next. Shared with the comparison's side-by-side reader
/// (`compare::alike`), which follows the same grammar over two bodies at once (it never
/// reaches the last two states: it stops instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Value,
    /// After `[`.
    ItemOrClose,
    /// After `{`.
    KeyOrClose,
    /// After `,` in an object.
    Key,
    Colon,
    CommaOrClose,
    /// After the top-level value: whitespace only.
    Trailing,
    Finished,
    Failed,
}

/// A token cut short by a limit, or the start of the body (where a byte order mark may
/// come): what is not the usual next token, told by one comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Partial {
    None,
    Start,
    String {
        key: bool,
        escaped: bool,
        /// Whether a byte of the content so far is not ASCII (then it is checked as UTF-8).
        non_ascii: bool,
    },
    Number(Grammar),
}

/// Open containers at most: `MAX_DEPTH + 1` (depths 0 to `MAX_DEPTH`).
const STACK_WORDS: usize = MAX_DEPTH / 64 + 1;

/// The longest escape: a surrogate pair, `\uD83D\uDE00`.
const LONGEST_ESCAPE: usize = 12;

/// The most bytes `next_within` must see past where it stands to make progress (an escape is
/// read whole, a literal too): a reader that gives it a smaller slice may wait forever.
pub const LOOKAHEAD: usize = LONGEST_ESCAPE;

/// A resumable reader of one body's tokens. The body must be the same at every call.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    at: usize,
    token_start: usize,
    /// Whether the last string (or key) has escapes.
    escaped: bool,
    expect: Expect,
    partial: Partial,
    /// Open containers.
    depth: usize,
    /// Bit `d`: the open container at depth `d` is an object (else an array).
    objects: [u64; STACK_WORDS],
    lone_surrogates: bool,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Tokenizer::new()
    }
}

impl Tokenizer {
    pub fn new() -> Tokenizer {
        Tokenizer {
            at: 0,
            token_start: 0,
            escaped: false,
            expect: Expect::Value,
            partial: Partial::Start,
            depth: 0,
            objects: [0; STACK_WORDS],
            lone_surrogates: false,
        }
    }

    /// The next token of a whole body; `None` once the document is complete.
    #[inline]
    pub fn next(&mut self, body: &[u8]) -> Result<Option<Token>, Malformed> {
        self.next_inlined(body)
    }

    /// `next`, inlined into its caller: for the diff's hot loops, where a call per token
    /// costs about a tenth of the token's work; not everywhere, as each copy adds about 2 KB
    /// to the module.
    #[inline(always)]
    pub fn next_inlined(&mut self, body: &[u8]) -> Result<Option<Token>, Malformed> {
        // `whole` is constant here: the checks for a limit fold away.
        match self.advance(body, true)? {
            Progress::Token(token) => Ok(Some(token)),
            Progress::End => Ok(None),
            Progress::Pending => Err(Malformed),
        }
    }

    /// The next token, reading no byte of `body` at or after `limit` (the whole body when
    /// `limit >= body.len()`). After an error, every call is an error.
    #[inline(never)]
    pub fn next_within(&mut self, body: &[u8], limit: usize) -> Result<Progress, Malformed> {
        let whole = limit >= body.len();
        self.advance(body.get(..limit).unwrap_or(body), whole)
    }

    /// The next token of `bytes`, which are the whole body if `whole`, else a prefix of it.
    #[inline(always)]
    fn advance(&mut self, bytes: &[u8], whole: bool) -> Result<Progress, Malformed> {
        if self.partial != Partial::None {
            if let Some(progress) = self.resume(bytes, whole) {
                return progress;
            }
        }
        let mut at = self.at;
        loop {
            while bytes.get(at).copied().is_some_and(is_whitespace) {
                at += 1;
            }
            self.at = at;
            let Some(&byte) = bytes.get(at) else {
                return self.out_of_bytes(whole);
            };
            self.token_start = at;
            match self.expect {
                Expect::Value => return self.value(bytes, whole, byte),
                Expect::ItemOrClose if byte == b']' => return self.close(false),
                Expect::ItemOrClose => return self.value(bytes, whole, byte),
                Expect::KeyOrClose if byte == b'}' => return self.close(true),
                Expect::KeyOrClose | Expect::Key if byte == b'"' => {
                    return self.string_start(bytes, whole, true)
                }
                Expect::Colon if byte == b':' => {
                    at += 1;
                    self.expect = Expect::Value;
                }
                Expect::CommaOrClose => match byte {
                    b',' => {
                        at += 1;
                        self.expect = if self.in_object() {
                            Expect::Key
                        } else {
                            Expect::Value
                        };
                    }
                    b'}' => return self.close(true),
                    b']' => return self.close(false),
                    _ => return self.fail(),
                },
                _ => return self.fail(),
            }
        }
    }

    /// A token cut short by a limit, resumed; or the first call, where a byte order mark is
    /// skipped (`None`: go on to the next token as usual).
    #[inline(never)]
    fn resume(&mut self, bytes: &[u8], whole: bool) -> Option<Result<Progress, Malformed>> {
        let partial = self.partial;
        self.partial = Partial::None;
        Some(match partial {
            Partial::None => return None,
            Partial::Start => {
                if !whole
                    && bytes.len() < BYTE_ORDER_MARK.len()
                    && BYTE_ORDER_MARK.starts_with(bytes)
                {
                    self.partial = Partial::Start;
                    return Some(Ok(Progress::Pending));
                }
                if bytes.starts_with(BYTE_ORDER_MARK) {
                    self.at = BYTE_ORDER_MARK.len();
                }
                return None;
            }
            Partial::String {
                key,
                escaped,
                non_ascii,
            } => self.rest_of_string(bytes, whole, key, escaped, non_ascii),
            Partial::Number(grammar) => self.number(bytes, whole, grammar),
        })
    }

    /// Every byte given is read.
    #[cold]
    #[inline(never)]
    fn out_of_bytes(&mut self, whole: bool) -> Result<Progress, Malformed> {
        match self.expect {
            _ if !whole => Ok(Progress::Pending),
            Expect::Trailing | Expect::Finished => {
                self.expect = Expect::Finished;
                Ok(Progress::End)
            }
            _ => self.fail(),
        }
    }

    /// Bytes read so far: where the next token (or whitespace) starts, or where a token cut
    /// short by a limit stopped.
    pub fn offset(&self) -> usize {
        self.at
    }

    /// Where the last token started (the `"` of a string, the `{` of an object...).
    pub fn token_start(&self) -> usize {
        self.token_start
    }

    /// The last token's bytes (a string's with its quotes).
    pub fn span(&self) -> Span {
        Span {
            start: self.token_start,
            end: self.at,
        }
    }

    /// The last token as a string (for `Key` and `String` tokens): its content and whether it
    /// has escapes.
    pub fn string(&self) -> Str {
        Str {
            content: Span {
                start: self.token_start + 1,
                end: self.at.saturating_sub(1).max(self.token_start + 1),
            },
            escaped: self.escaped,
        }
    }

    /// Containers open now.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Whether an escape so far was half a surrogate pair without the other half: valid
    /// syntax, but no character (readers differ on what it stands for).
    pub fn lone_surrogates(&self) -> bool {
        self.lone_surrogates
    }

    /// Reads the rest of the value whose first token was `first` (nothing more for a
    /// scalar), checking it.
    pub fn skip_rest(&mut self, body: &[u8], first: Token) -> Result<(), Malformed> {
        if !matches!(first, Token::ObjectStart | Token::ArrayStart) {
            return Ok(());
        }
        let depth = self.depth;
        while self.depth >= depth {
            self.next(body)?.ok_or(Malformed)?;
        }
        Ok(())
    }

    #[inline(always)]
    fn in_object(&self) -> bool {
        let Some(open) = self.depth.checked_sub(1) else {
            return false;
        };
        let word = self.objects.get(open / 64).copied().unwrap_or(0);
        word & (1 << (open % 64)) != 0
    }

    #[cold]
    fn fail<T>(&mut self) -> Result<T, Malformed> {
        self.expect = Expect::Failed;
        self.partial = Partial::None;
        Err(Malformed)
    }

    #[inline(always)]
    fn after_value(&mut self) {
        self.expect = if self.depth == 0 {
            Expect::Trailing
        } else {
            Expect::CommaOrClose
        };
    }

    #[inline(always)]
    fn value(&mut self, bytes: &[u8], whole: bool, byte: u8) -> Result<Progress, Malformed> {
        if self.depth > MAX_DEPTH {
            return self.fail();
        }
        let token = match byte {
            b'{' | b'[' => {
                let object = byte == b'{';
                let Some(word) = self.objects.get_mut(self.depth / 64) else {
                    return self.fail();
                };
                let bit = 1 << (self.depth % 64);
                *word = if object { *word | bit } else { *word & !bit };
                self.depth += 1;
                self.at += 1;
                if object {
                    self.expect = Expect::KeyOrClose;
                    Token::ObjectStart
                } else {
                    self.expect = Expect::ItemOrClose;
                    Token::ArrayStart
                }
            }
            b'"' => return self.string_start(bytes, whole, false),
            b't' => return self.literal(bytes, whole, b"true", Token::True),
            b'f' => return self.literal(bytes, whole, b"false", Token::False),
            b'n' => return self.literal(bytes, whole, b"null", Token::Null),
            b'-' | b'0'..=b'9' => return self.number(bytes, whole, Grammar::Start),
            _ => return self.fail(),
        };
        Ok(Progress::Token(token))
    }

    #[inline(always)]
    fn close(&mut self, object: bool) -> Result<Progress, Malformed> {
        if self.depth == 0 || self.in_object() != object {
            return self.fail();
        }
        self.depth -= 1;
        self.at += 1;
        self.after_value();
        Ok(Progress::Token(if object {
            Token::ObjectEnd
        } else {
            Token::ArrayEnd
        }))
    }

    #[inline(always)]
    fn literal(
        &mut self,
        bytes: &[u8],
        whole: bool,
        word: &[u8],
        token: Token,
    ) -> Result<Progress, Malformed> {
        let rest = bytes.get(self.at..).unwrap_or_default();
        if rest.starts_with(word) {
            self.at += word.len();
            self.after_value();
            return Ok(Progress::Token(token));
        }
        if !whole && rest.len() < word.len() && word.starts_with(rest) {
            return Ok(Progress::Pending);
        }
        self.fail()
    }

    #[inline(always)]
    fn number(
        &mut self,
        bytes: &[u8],
        whole: bool,
        grammar: Grammar,
    ) -> Result<Progress, Malformed> {
        let scanned = if grammar == Grammar::Start {
            number::scan_whole(bytes, self.at)
        } else {
            number::scan(bytes, self.at, grammar)
        };
        let Some((at, grammar)) = scanned else {
            return self.fail();
        };
        self.at = at;
        if at == bytes.len() && !whole {
            self.partial = Partial::Number(grammar);
            return Ok(Progress::Pending);
        }
        if !grammar.complete() {
            return self.fail();
        }
        self.after_value();
        Ok(Progress::Token(Token::Number))
    }

    #[inline(always)]
    fn string_start(
        &mut self,
        bytes: &[u8],
        whole: bool,
        key: bool,
    ) -> Result<Progress, Malformed> {
        self.at += 1;
        self.rest_of_string(bytes, whole, key, false, false)
    }

    /// The rest of a string whose content starts after `token_start` (a key's if `key`), with
    /// escapes or other than ASCII so far if `escaped` or `non_ascii`.
    #[inline(always)]
    fn rest_of_string(
        &mut self,
        bytes: &[u8],
        whole: bool,
        key: bool,
        mut escaped: bool,
        mut non_ascii: bool,
    ) -> Result<Progress, Malformed> {
        loop {
            let (stop, high) = plain_run(bytes, self.at);
            non_ascii |= high;
            self.at = stop;
            match bytes.get(stop) {
                Some(b'"') => break,
                Some(b'\\') => {
                    let rest = bytes.get(stop..).unwrap_or_default();
                    if !whole && rest.len() < LONGEST_ESCAPE {
                        break;
                    }
                    escaped = true;
                    match self.escape(rest) {
                        Some(len) => self.at += len,
                        None => return self.fail(),
                    }
                }
                Some(_) => return self.fail(), // a control character
                None if whole => return self.fail(),
                None => break,
            }
        }
        if bytes.get(self.at) != Some(&b'"') {
            self.partial = Partial::String {
                key,
                escaped,
                non_ascii,
            };
            return Ok(Progress::Pending);
        }
        let content = bytes.get(self.token_start + 1..self.at).unwrap_or_default();
        self.at += 1;
        self.escaped = escaped;
        if non_ascii && std::str::from_utf8(content).is_err() {
            return self.fail();
        }
        Ok(Progress::Token(if key {
            self.expect = Expect::Colon;
            Token::Key
        } else {
            self.after_value();
            Token::String
        }))
    }

    /// The length of the escape `rest` starts with; `None` if it is none.
    fn escape(&mut self, rest: &[u8]) -> Option<usize> {
        let letter = *rest.get(1)?;
        if letter != b'u' {
            return simple_escape(letter).map(|_| 2);
        }
        let unit = hex4(rest.get(2..6)?)?;
        if HIGH_SURROGATES.contains(&unit) {
            let low = rest
                .get(6..8)
                .filter(|u| *u == b"\\u")
                .and_then(|_| hex4(rest.get(8..12)?));
            if low.is_some_and(|low| LOW_SURROGATES.contains(&low)) {
                return Some(LONGEST_ESCAPE);
            }
            self.lone_surrogates = true;
        } else if LOW_SURROGATES.contains(&unit) {
            self.lone_surrogates = true;
        }
        Some(6)
    }
}

/// Bytes that end a run of a string's plain content: `"`, `\` and control characters.
// Evaluated at compile time: an index out of bounds would not compile, so it cannot panic.
#[allow(clippy::indexing_slicing)]
const STOPS: [bool; 256] = {
    let mut stops = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        stops[byte] = true;
        byte += 1;
    }
    stops[b'"' as usize] = true;
    stops[b'\\' as usize] = true;
    stops
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Where the plain content of a string from `at` ends (at a stop byte, or the end of
/// `bytes`), and whether it has bytes that are not ASCII. Eight bytes at a time while no stop
/// byte is among them. The first eight inline (most strings end there), the rest in a loop
/// out of line.
#[inline(always)]
fn plain_run(bytes: &[u8], at: usize) -> (usize, bool) {
    if let Some(chunk) = bytes.get(at..).and_then(|rest| rest.first_chunk::<8>()) {
        let word = u64::from_le_bytes(*chunk);
        let stops = stops(word);
        if stops != 0 {
            return (
                at + (stops.trailing_zeros() / 8) as usize,
                word & HIGHS != 0,
            );
        }
        let (end, high) = long_run(bytes, at + 8);
        return (end, high || word & HIGHS != 0);
    }
    long_run(bytes, at)
}

/// The bytes of `word` that end a run of plain content (`"`, `\`, a control character), each
/// flagged by its high bit. The lowest flagged byte is the first stop (a false flag only
/// follows a true one); bytes after it may be flagged as not ASCII: at worst the content is
/// checked as UTF-8.
#[inline(always)]
fn stops(word: u64) -> u64 {
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let stops = (quote.wrapping_sub(ONES) & !quote)
        | (backslash.wrapping_sub(ONES) & !backslash)
        | (word.wrapping_sub(ONES * 0x20) & !word);
    stops & HIGHS
}

/// `plain_run`'s loop (the bit tricks find whether a word has a zero byte, or one below 0x20).
#[inline(never)]
fn long_run(bytes: &[u8], mut at: usize) -> (usize, bool) {
    let mut seen = 0u64;
    for chunk in bytes.get(at..).unwrap_or_default().chunks_exact(8) {
        let word = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or([0; 8]));
        let stops = stops(word);
        seen |= word;
        if stops != 0 {
            return (
                at + (stops.trailing_zeros() / 8) as usize,
                seen & HIGHS != 0,
            );
        }
        at += 8;
    }
    while let Some(&byte) = bytes.get(at) {
        if STOPS.get(usize::from(byte)).copied().unwrap_or(true) {
            break;
        }
        seen |= u64::from(byte);
        at += 1;
    }
    (at, seen & HIGHS != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token with where it is: its span, and for strings, its content and escapes.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Found(Token, Span, Option<Str>);

    fn found(tokenizer: &Tokenizer, token: Token) -> Found {
        let string = matches!(token, Token::Key | Token::String).then(|| tokenizer.string());
        Found(token, tokenizer.span(), string)
    }

    /// Every token of a whole body, or the error.
    fn tokens(body: &[u8]) -> Result<Vec<Found>, Malformed> {
        let mut tokenizer = Tokenizer::new();
        let mut out = Vec::new();
        while let Some(token) = tokenizer.next(body)? {
            out.push(found(&tokenizer, token));
        }
        Ok(out)
    }

    /// The same, the limit raised by the given steps (cycling) at every `Pending`.
    fn tokens_in_pieces(body: &[u8], steps: &[usize]) -> Result<Vec<Found>, Malformed> {
        let mut tokenizer = Tokenizer::new();
        let mut out = Vec::new();
        let mut limit = 0;
        let mut step = steps.iter().cycle();
        loop {
            match tokenizer.next_within(body, limit)? {
                Progress::Token(token) => out.push(found(&tokenizer, token)),
                Progress::End => return Ok(out),
                Progress::Pending => {
                    assert!(tokenizer.offset() <= limit, "read past the limit");
                    limit += step.next().copied().unwrap_or(1);
                }
            }
        }
    }

    fn valid(body: &str) -> bool {
        tokens(body.as_bytes()).is_ok()
    }

    #[test]
    fn tokens_are_spans_of_the_body() {
        let body = br#" {"a\n": [1.5, "x", true, false, null, {}]} "#;
        let at = |start, end| Span { start, end };
        let s = |start, end, escaped| Str {
            content: Span { start, end },
            escaped,
        };
        assert_eq!(
            tokens(body).unwrap(),
            [
                Found(Token::ObjectStart, at(1, 2), None),
                Found(Token::Key, at(2, 7), Some(s(3, 6, true))),
                Found(Token::ArrayStart, at(9, 10), None),
                Found(Token::Number, at(10, 13), None),
                Found(Token::String, at(15, 18), Some(s(16, 17, false))),
                Found(Token::True, at(20, 24), None),
                Found(Token::False, at(26, 31), None),
                Found(Token::Null, at(33, 37), None),
                Found(Token::ObjectStart, at(39, 40), None),
                Found(Token::ObjectEnd, at(40, 41), None),
                Found(Token::ArrayEnd, at(41, 42), None),
                Found(Token::ObjectEnd, at(42, 43), None),
            ]
        );
    }

    #[test]
    fn only_json_is_read() {
        for good in [
            "1",
            "-0.5e+3",
            "\"\"",
            "[]",
            "{}",
            " [1, [2, {\"a\": null}]]\n",
            "\"\\ud800\"",
            "\"é\\u00e9\\ud83d\\ude00\"",
        ] {
            assert!(valid(good), "{good}");
        }
        for bad in [
            "",
            " ",
            "{",
            "}",
            "[1,]",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "tru",
            "nul",
            "\"\u{1}\"",
            "[1] x",
            "NaN",
            "+1",
            "\"\\x\"",
            "\"\\u12\"",
            "[\"a\"",
            "\"abc",
            "{\"a\":}",
            "[,]",
            "{1: 2}",
            "[1 2]",
            "{\"a\":1 \"b\":2}",
            "[}",
            "{]",
            "\u{feff}\u{feff}1",
            "'a'",
            "[1]]",
            "truex",
        ] {
            assert!(!valid(bad), "{bad:?}");
        }
        assert!(tokens(b"\"\xff\"").is_err(), "not UTF-8");
        assert!(tokens(b"\"\xc3\"").is_err(), "cut UTF-8");
        assert!(tokens(b"[1]\xff").is_err());
    }

    #[test]
    fn a_byte_order_mark_may_start_the_body_only() {
        assert!(tokens(b"\xEF\xBB\xBF{\"a\":1}").is_ok());
        assert!(tokens(b" \xEF\xBB\xBF{}").is_err());
        assert!(tokens(b"\xEF\xBB\xBF").is_err());
        assert!(tokens(b"\xEF\xBB{}").is_err());
    }

    #[test]
    fn depth_is_limited_to_max_depth() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(valid(&nested(MAX_DEPTH + 1)));
        assert!(!valid(&nested(MAX_DEPTH + 2)));
        let scalar = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        assert!(valid(&scalar(MAX_DEPTH)));
        assert!(!valid(&scalar(MAX_DEPTH + 1)));
        assert!(!valid(&"[".repeat(1_000_000)));
    }

    #[test]
    fn lone_surrogates_are_valid_syntax_and_reported() {
        for (body, lone) in [
            (r#""\ud83d\ude00""#, false),
            (r#""\ud800""#, true),
            (r#""\ud800\u0041""#, true),
            (r#""\udc00""#, true),
            (r#""\u0041""#, false),
        ] {
            let mut tokenizer = Tokenizer::new();
            while tokenizer.next(body.as_bytes()).unwrap().is_some() {}
            assert_eq!(tokenizer.lone_surrogates(), lone, "{body}");
        }
    }

    #[test]
    fn strings_of_every_length_find_their_end() {
        for len in 0..40 {
            for special in ["", "é", "\\n", "\\u00e9"] {
                let text = format!("{}{special}{}", "a".repeat(len), "b".repeat(len % 9));
                let body = format!("[\"{text}\",1]");
                let tokens = tokens(body.as_bytes()).unwrap();
                let Found(Token::String, _, Some(s)) = tokens[1] else {
                    panic!("{tokens:?}")
                };
                assert_eq!(s.content(body.as_bytes()), text.as_bytes());
                assert_eq!(s.escaped, special.starts_with('\\'));
            }
        }
        let control = format!("\"{}\u{1f}\"", "a".repeat(20));
        assert!(!valid(&control));
    }

    /// Cut anywhere, in pieces of any size, the tokens are those of one call.
    #[test]
    fn tokenizing_in_pieces_gives_the_same_tokens() {
        let bodies: &[&[u8]] = &[
            b"\xEF\xBB\xBF {\"key\": [1, -2.50e+10, true, false, null, \"s\\u00e9\\ud83d\\ude00\\n\"], \"\xc3\xa9t\xc3\xa9\": {}}  ",
            b"12345678901234567890",
            b"\"a long string without anything special in it at all\"",
            b"[[[[[]]]],{\"a\":{\"b\":{\"c\":[0,0.0,1e5]}}}]",
            b"[1, 2,",
            b"[\"\\ud800\\u0041\", \"\\x\"]",
            b"{\"a\":tru}",
            b"\"\xc3\"",
            b"-",
        ];
        for body in bodies {
            let whole = tokens(body);
            for steps in [&[1][..], &[2], &[3, 7], &[5, 1, 13], &[64]] {
                assert_eq!(
                    tokens_in_pieces(body, steps),
                    whole,
                    "{:?} in pieces of {steps:?}",
                    String::from_utf8_lossy(body)
                );
            }
        }
    }

    #[test]
    fn skipping_a_value_checks_it() {
        let body = br#"[{"a": [1, {"b": 2}]}, 3]"#;
        let mut tokenizer = Tokenizer::new();
        assert_eq!(tokenizer.next(body), Ok(Some(Token::ArrayStart)));
        let first = tokenizer.next(body).unwrap().unwrap();
        tokenizer.skip_rest(body, first).unwrap();
        assert_eq!(tokenizer.next(body), Ok(Some(Token::Number)));
        assert_eq!(tokenizer.span(), Span { start: 23, end: 24 });
        let bad = br#"[{"a": [1, {"b" 2}]}, 3]"#;
        let mut tokenizer = Tokenizer::new();
        tokenizer.next(bad).unwrap();
        let first = tokenizer.next(bad).unwrap().unwrap();
        assert_eq!(tokenizer.skip_rest(bad, first), Err(Malformed));
    }
}
