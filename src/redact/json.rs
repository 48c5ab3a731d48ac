//! Redacting fields of JSON bodies in place: each value at a configured path is replaced by a
//! JSON string, and every other byte of the body stays as sent (key order, spacing, number
//! formats), so a mirror target sees the request the client made, minus its secrets.
//!
//! The body is read once by a strict scanner (RFC 8259; a leading UTF-8 byte order mark is
//! allowed, as .NET allows it). A body that is not valid JSON cannot be redacted with
//! certainty, so it is reported as such and never sent unredacted.
//!
//! Linear by construction: the scanner only moves forward; each value costs one step of the
//! path automaton, bounded by the configuration (see `json_path`); and nothing inside a value
//! that is replaced is looked at again, so replaced ranges never nest and are only appended.

use crate::json_path::{PathSet, Position, Step, Walked};
use crate::json_text::{simple_escape, surrogate_pair, HIGH_SURROGATES};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unparseable;

/// Deeper nesting than this is refused rather than followed: the scanner recurses, and the
/// VM's stack is small.
const MAX_DEPTH: usize = 128;

const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// The body with every value at one of `paths` replaced by `replacement`, which must be a JSON
/// value (a string literal, quotes and escapes included); `Ok(None)` when no value matched.
pub fn redact_json(
    body: &[u8],
    paths: PathSet<'_>,
    replacement: &str,
) -> Result<Option<Vec<u8>>, Unparseable> {
    let scanned = scan(body, paths)?;
    if scanned.hits.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(body.len());
    let mut copied = 0;
    for (start, end) in scanned.hits {
        out.extend_from_slice(body.get(copied..start).ok_or(Unparseable)?);
        out.extend_from_slice(replacement.as_bytes());
        copied = end;
    }
    out.extend_from_slice(body.get(copied..).ok_or(Unparseable)?);
    Ok(Some(out))
}

/// Whether a body is to be taken as JSON whatever its type says: it starts (after a byte order
/// mark and whitespace) with `{` or `[`. Such a body that does not parse is not sent, because
/// lenient parsers read it anyway: Go's decoder stops after the first value, Json.NET accepts
/// comments, trailing commas and single quotes.
pub fn looks_like_json(body: &[u8]) -> bool {
    let body = body.strip_prefix(BYTE_ORDER_MARK).unwrap_or(body);
    matches!(
        body.iter().find(|byte| !is_whitespace(**byte)),
        Some(b'{' | b'[')
    )
}

fn is_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// Where the values to replace are, and the work it took to find them (see the tests).
struct Scanned {
    hits: Vec<(usize, usize)>,
    #[cfg_attr(not(test), allow(dead_code))] // read by the linearity tests
    work: usize,
}

fn scan(body: &[u8], paths: PathSet<'_>) -> Result<Scanned, Unparseable> {
    std::str::from_utf8(body).map_err(|_| Unparseable)?;
    let mut scanner = Scanner {
        bytes: body,
        at: 0,
        paths,
        alive: Vec::new(),
        next: Vec::new(),
        hits: Vec::new(),
        work: 0,
    };
    if body.starts_with(BYTE_ORDER_MARK) {
        scanner.at = BYTE_ORDER_MARK.len();
    }
    paths.start(&mut scanner.alive);
    scanner.value(0, 0, false)?;
    scanner.whitespace();
    if scanner.at != body.len() {
        return Err(Unparseable);
    }
    Ok(Scanned {
        hits: scanner.hits,
        work: scanner.work,
    })
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
    paths: PathSet<'a>,
    /// The automaton's alive positions of every open level, one level after another.
    alive: Vec<Position>,
    /// Scratch for the positions of the level being entered.
    next: Vec<Position>,
    /// Byte ranges of the values to replace, in order, never overlapping.
    hits: Vec<(usize, usize)>,
    /// Automaton steps and key bytes compared: what the scan costs beyond reading each byte.
    work: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Result<u8, Unparseable> {
        let byte = self.peek().ok_or(Unparseable)?;
        self.at += 1;
        Ok(byte)
    }

    fn consume(&mut self, wanted: u8) -> Result<(), Unparseable> {
        (self.next()? == wanted).then_some(()).ok_or(Unparseable)
    }

    fn whitespace(&mut self) {
        while self.peek().is_some_and(is_whitespace) {
            self.at += 1;
        }
    }

    /// Reads one value whose alive positions start at `self.alive[level]`; `matched` when a
    /// path names it, and then nothing below it is matched (the whole is replaced).
    fn value(&mut self, depth: usize, level: usize, matched: bool) -> Result<(), Unparseable> {
        if depth > MAX_DEPTH {
            return Err(Unparseable);
        }
        self.work += 1;
        self.whitespace();
        let start = self.at;
        // Below a replaced value no position is alive: an empty level.
        let level = if matched { self.alive.len() } else { level };
        match self.peek().ok_or(Unparseable)? {
            b'{' => self.object(depth, level)?,
            b'[' => self.array(depth, level)?,
            b'"' => self.string(false).map(drop)?,
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            _ => self.number()?,
        }
        if matched {
            self.hits.push((start, self.at));
        }
        Ok(())
    }

    /// Steps the automaton from the level at `level` (the last one) into a child: pushes the
    /// child's alive positions, and says whether the child is named.
    fn enter(&mut self, level: usize, step: Step<'_>) -> bool {
        let alive = self.alive.get(level..).unwrap_or_default();
        if alive.is_empty() {
            return false;
        }
        self.next.clear();
        let Walked { work, complete } = self.paths.step(alive, step, &mut self.next);
        self.work += work;
        self.alive.extend_from_slice(&self.next);
        complete
    }

    fn object(&mut self, depth: usize, level: usize) -> Result<(), Unparseable> {
        self.consume(b'{')?;
        self.whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        let decode_keys = self
            .paths
            .compares_keys(self.alive.get(level..).unwrap_or_default());
        let child = self.alive.len();
        loop {
            self.whitespace();
            let key = self.string(decode_keys)?;
            self.whitespace();
            self.consume(b':')?;
            let matched = self.enter(level, Step::Key(key.as_deref()));
            self.value(depth + 1, child, matched)?;
            self.alive.truncate(child);
            self.whitespace();
            match self.next()? {
                b',' => continue,
                b'}' => return Ok(()),
                _ => return Err(Unparseable),
            }
        }
    }

    fn array(&mut self, depth: usize, level: usize) -> Result<(), Unparseable> {
        self.consume(b'[')?;
        self.whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        let child = self.alive.len();
        for index in 0.. {
            let matched = self.enter(level, Step::Index(index));
            self.value(depth + 1, child, matched)?;
            self.alive.truncate(child);
            self.whitespace();
            match self.next()? {
                b',' => continue,
                b']' => return Ok(()),
                _ => return Err(Unparseable),
            }
        }
        Ok(())
    }

    /// Reads a string; decodes it only when `decode` (object keys that a path may name).
    fn string(&mut self, decode: bool) -> Result<Option<String>, Unparseable> {
        self.consume(b'"')?;
        let mut decoded = Vec::new();
        loop {
            match self.next()? {
                b'"' => break,
                b'\\' => {
                    let escaped = self.escape()?;
                    if decode {
                        let mut utf8 = [0u8; 4];
                        decoded.extend_from_slice(escaped.encode_utf8(&mut utf8).as_bytes());
                    }
                }
                byte if byte < 0x20 => return Err(Unparseable),
                byte => {
                    if decode {
                        decoded.push(byte);
                    }
                }
            }
        }
        if !decode {
            return Ok(None);
        }
        String::from_utf8(decoded)
            .map(Some)
            .map_err(|_| Unparseable)
    }

    fn escape(&mut self) -> Result<char, Unparseable> {
        let letter = self.next()?;
        if letter != b'u' {
            return simple_escape(letter).ok_or(Unparseable);
        }
        let unit = self.hex4()?;
        if HIGH_SURROGATES.contains(&unit) && self.bytes.get(self.at..self.at + 2) == Some(b"\\u") {
            let resume = self.at;
            self.at += 2;
            if let Some(pair) = surrogate_pair(unit, self.hex4()?) {
                return Ok(pair);
            }
            self.at = resume; // not a pair: the second escape stands on its own
        }
        // A lone surrogate is valid JSON syntax but no character.
        Ok(char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER))
    }

    fn hex4(&mut self) -> Result<u32, Unparseable> {
        (0..4).try_fold(0, |value, _| {
            let digit = char::from(self.next()?).to_digit(16).ok_or(Unparseable)?;
            Ok(value * 16 + digit)
        })
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Unparseable> {
        let end = self.at + word.len();
        if self.bytes.get(self.at..end) != Some(word) {
            return Err(Unparseable);
        }
        self.at = end;
        Ok(())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<(), Unparseable> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(0)?,
            _ => return Err(Unparseable),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.digits(1)?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.digits(1)?;
        }
        Ok(())
    }

    /// At least `minimum` digits.
    fn digits(&mut self, minimum: usize) -> Result<(), Unparseable> {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        (self.at - start >= minimum)
            .then_some(())
            .ok_or(Unparseable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_path::{JsonPath, JsonPaths};

    fn paths(list: &[&str]) -> JsonPaths {
        list.iter().map(|p| JsonPath::parse(p).unwrap()).collect()
    }

    fn set(paths: &JsonPaths) -> PathSet<'_> {
        PathSet {
            paths,
            case_sensitive: false,
        }
    }

    fn redact(body: &str, list: &[&str]) -> Result<Option<String>, Unparseable> {
        redact_json(body.as_bytes(), set(&paths(list)), "\"REDACTED\"")
            .map(|out| out.map(|bytes| String::from_utf8(bytes).unwrap()))
    }

    #[test]
    fn replaces_top_level_and_nested_fields_keeping_every_other_byte() {
        let body = "{ \"user\" : \"ann\",\n  \"password\":\"hunter2\" ,\"card\": {\"number\": 4111111111111111, \"exp\": \"12/29\"},\"n\":1.50e+3}";
        let out = redact(body, &["password", "card.number"]).unwrap().unwrap();
        assert_eq!(
            out,
            "{ \"user\" : \"ann\",\n  \"password\":\"REDACTED\" ,\"card\": {\"number\": \"REDACTED\", \"exp\": \"12/29\"},\"n\":1.50e+3}"
        );
    }

    #[test]
    fn star_matches_every_key_and_index() {
        let body =
            r#"{"users":[{"ssn":"1","name":"a"},{"name":"b"},{"ssn":{"deep":[1,2]}}],"ssn":"top"}"#;
        let out = redact(body, &["users.*.ssn"]).unwrap().unwrap();
        assert_eq!(
            out,
            r#"{"users":[{"ssn":"REDACTED","name":"a"},{"name":"b"},{"ssn":"REDACTED"}],"ssn":"top"}"#
        );
        let out = redact(r#"{"a":{"x":1,"y":[2]}}"#, &["a.*"])
            .unwrap()
            .unwrap();
        assert_eq!(out, r#"{"a":{"x":"REDACTED","y":"REDACTED"}}"#);
    }

    #[test]
    fn numeric_segments_name_array_indexes() {
        let out = redact(r#"{"items":[{"p":1},{"p":2}]}"#, &["items.1.p"])
            .unwrap()
            .unwrap();
        assert_eq!(out, r#"{"items":[{"p":1},{"p":"REDACTED"}]}"#);
    }

    #[test]
    fn values_of_every_type_are_replaced() {
        let body = r#"{"a":null,"b":true,"c":false,"d":-0.5,"e":[],"f":{},"g":"s"}"#;
        let out = redact(body, &["a", "b", "c", "d", "e", "f", "g"])
            .unwrap()
            .unwrap();
        assert_eq!(
            out,
            r#"{"a":"REDACTED","b":"REDACTED","c":"REDACTED","d":"REDACTED","e":"REDACTED","f":"REDACTED","g":"REDACTED"}"#
        );
    }

    #[test]
    fn escaped_and_unicode_keys_are_compared_decoded() {
        let out = redact(
            r#"{"pass\u0077ord":"x","p\u00e4ss":"y","\ud83d\ude00":"z"}"#,
            &["password", "päss", "😀"],
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            out,
            r#"{"pass\u0077ord":"REDACTED","p\u00e4ss":"REDACTED","\ud83d\ude00":"REDACTED"}"#
        );
        let out = redact("{\"clé\":\"secret \\\"quoted\\\" ünïcode\"}", &["clé"])
            .unwrap()
            .unwrap();
        assert_eq!(out, "{\"clé\":\"REDACTED\"}");
    }

    #[test]
    fn nothing_to_redact_means_no_copy_of_the_body() {
        assert_eq!(redact(r#"{"a":1}"#, &["b"]), Ok(None));
        assert_eq!(redact(r#"[1,2]"#, &["a"]), Ok(None));
        assert_eq!(redact(r#""just a string""#, &["a"]), Ok(None));
    }

    #[test]
    fn invalid_json_is_unparseable() {
        for body in [
            "",
            "{",
            "{\"a\":}",
            "{\"a\":1,}",
            "[1,]",
            "{'a':1}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":.5}",
            "{\"a\":tru}",
            "{\"a\":\"\u{1}\"}",
            "{\"a\":\"\\x\"}",
            "{\"a\":1} x",
            "{\"a\" 1}",
            "-",
            "1e",
            "{\"a\":\"\\u12G4\"}",
            "nul",
        ] {
            assert_eq!(redact(body, &["a"]), Err(Unparseable), "{body:?}");
        }
        assert_eq!(
            redact_json(b"{\"a\":\"\xff\"}", set(&paths(&["a"])), "\"R\""),
            Err(Unparseable)
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_followed() {
        let deep = "[".repeat(MAX_DEPTH + 5) + &"]".repeat(MAX_DEPTH + 5);
        assert_eq!(redact(&deep, &["a"]), Err(Unparseable));
        let fine = "[".repeat(20) + &"]".repeat(20);
        assert_eq!(redact(&fine, &["a"]), Ok(None));
    }

    #[test]
    fn any_depth_names_a_secret_wherever_it_is() {
        let body = r#"[{"password":"a","x":{"password":{"deep":"b"}},"list":[{"PASSWORD":1}]},"password"]"#;
        let out = redact(body, &["**.password"]).unwrap().unwrap();
        assert_eq!(
            out,
            r#"[{"password":"REDACTED","x":{"password":"REDACTED"},"list":[{"PASSWORD":"REDACTED"}]},"password"]"#
        );
        let out = redact(r#"{"password":"top"}"#, &["**.password"])
            .unwrap()
            .unwrap();
        assert_eq!(out, r#"{"password":"REDACTED"}"#);
        assert_eq!(
            redact(r#"[{"password":"a"}]"#, &["password"]),
            Ok(None),
            "a bare name is the top-level key only"
        );
    }

    #[test]
    fn keys_are_compared_ignoring_case_unless_asked() {
        let out = redact(
            r#"{"PassWord":"x","card":{"NUMBER":1}}"#,
            &["password", "Card.number"],
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            out,
            r#"{"PassWord":"REDACTED","card":{"NUMBER":"REDACTED"}}"#
        );
        let out = redact(r#"{"pa\u017f\u017fword":"x"}"#, &["password"])
            .unwrap()
            .unwrap();
        assert_eq!(
            out, r#"{"pa\u017f\u017fword":"REDACTED"}"#,
            "Go reads ſ as s"
        );
        let exact = paths(&["password"]);
        let exact = PathSet {
            paths: &exact,
            case_sensitive: true,
        };
        assert_eq!(redact_json(br#"{"PASSWORD":1}"#, exact, "\"R\""), Ok(None));
    }

    #[test]
    fn a_byte_order_mark_is_allowed_and_kept() {
        let out = redact_json(
            b"\xEF\xBB\xBF{\"password\":1}",
            set(&paths(&["password"])),
            "\"R\"",
        );
        assert_eq!(out, Ok(Some(b"\xEF\xBB\xBF{\"password\":\"R\"}".to_vec())));
        assert!(looks_like_json(b"\xEF\xBB\xBF \n[1]"));
    }

    #[test]
    fn bodies_starting_with_a_brace_or_bracket_are_taken_as_json() {
        for json in [&b"{"[..], b"  [", b"\r\n\t{\"a\"", b"{'a': 1}"] {
            assert!(looks_like_json(json), "{json:?}");
        }
        for other in [
            &b""[..],
            b"a=1",
            b"\"s\"",
            b"1",
            b"<x/>",
            b"\xEF\xBB\xBF",
            b"x{",
        ] {
            assert!(!looks_like_json(other), "{other:?}");
        }
    }

    /// Work done by the scanner beyond reading each byte once.
    fn work(body: &str, list: &[&str]) -> usize {
        scan(body.as_bytes(), set(&paths(list))).unwrap().work
    }

    fn members(count: usize) -> String {
        format!("{{{}}}", vec![r#""password":0"#; count].join(","))
    }

    #[test]
    fn redaction_is_linear_however_many_values_are_replaced() {
        // Issue 10: 80,000 `"password":0` members took 2 s (each hit scanned every earlier
        // one). Now every value costs a bounded number of steps: the work per byte is the same
        // at every size, and replaced ranges are only ever appended.
        let per_byte = |count: usize| {
            let body = members(count);
            let work = work(&body, &["password", "**.password", "a.*.b"]);
            (work as f64 / body.len() as f64, work)
        };
        let (small, _) = per_byte(1_000);
        for count in [10_000, 80_000] {
            let (large, total) = per_byte(count);
            assert!(
                (large - small).abs() < 0.01 * small,
                "{count} members: {large} work per byte against {small}"
            );
            assert!(total < 20 * members(count).len(), "{total}");
        }
        let body = members(80_000);
        let scanned = scan(body.as_bytes(), set(&paths(&["password"]))).unwrap();
        assert_eq!(scanned.hits.len(), 80_000);
    }

    #[test]
    fn nested_secrets_and_wildcards_stay_linear() {
        // The worst shapes: deep nesting under `**` (every position alive at every level, keys
        // compared at every level), long keys compared at every level.
        let nested = |depth: usize| {
            format!(
                "{}{}",
                r#"{"a":{"a":["#.repeat(depth / 3),
                "]}}".repeat(depth / 3)
            )
        };
        let long_key = |count: usize| {
            let key = "k".repeat(1000);
            format!(
                "{{{}}}",
                vec![format!(r#""{key}":{{"{key}":0}}"#); count].join(",")
            )
        };
        for (build, list) in [
            (
                &nested as &dyn Fn(usize) -> String,
                &["**.password", "**.a.**.b", "**.*.**.x"][..],
            ),
            (&long_key, &["**.kkkkkkkkkk", "*.*.x", "**.k"]),
        ] {
            let ratio = |n: usize| {
                let body = build(n);
                work(&body, list) as f64 / body.len() as f64
            };
            let (small, large) = (ratio(60), ratio(120));
            assert!(large <= small * 1.05, "{small} -> {large}");
        }
    }
}
