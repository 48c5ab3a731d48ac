//! Redacting fields of JSON bodies in place: each value at a configured path is replaced by a
//! JSON string, and every other byte of the body stays as sent (key order, spacing, number
//! formats), so a mirror target sees the request the client made, minus its secrets.
//!
//! The body is read once by a strict scanner (RFC 8259). A body that is not valid JSON cannot
//! be redacted with certainty, so it is reported as such and never sent unredacted.

use crate::json_path::{JsonPath, Step};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unparseable;

/// Deeper nesting than this is refused rather than followed: the scanner recurses, and the
/// VM's stack is small.
const MAX_DEPTH: usize = 128;

/// The body with every value at one of `paths` replaced by `replacement`, which must be a JSON
/// value (a string literal, quotes and escapes included); `Ok(None)` when no value matched.
pub fn redact_json(
    body: &[u8],
    paths: &[JsonPath],
    replacement: &str,
) -> Result<Option<Vec<u8>>, Unparseable> {
    std::str::from_utf8(body).map_err(|_| Unparseable)?;
    let mut scanner = Scanner {
        bytes: body,
        at: 0,
        paths,
        path: Vec::new(),
        hits: Vec::new(),
    };
    scanner.value(0)?;
    scanner.whitespace();
    if scanner.at != body.len() {
        return Err(Unparseable);
    }
    if scanner.hits.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(body.len());
    let mut copied = 0;
    for (start, end) in scanner.hits {
        out.extend_from_slice(body.get(copied..start).ok_or(Unparseable)?);
        out.extend_from_slice(replacement.as_bytes());
        copied = end;
    }
    out.extend_from_slice(body.get(copied..).ok_or(Unparseable)?);
    Ok(Some(out))
}

/// Whether a `content-type` value names JSON: `application/json`, or any `+json` type.
pub fn is_json_content_type(content_type: &[u8]) -> bool {
    let media_type = content_type
        .split(|b| *b == b';')
        .next()
        .unwrap_or_default();
    let media_type = String::from_utf8_lossy(media_type)
        .trim()
        .to_ascii_lowercase();
    media_type == "application/json" || media_type.ends_with("+json")
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
    paths: &'a [JsonPath],
    path: Vec<Step>,
    /// Byte ranges of the values to replace, in order.
    hits: Vec<(usize, usize)>,
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
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<(), Unparseable> {
        if depth > MAX_DEPTH {
            return Err(Unparseable);
        }
        self.whitespace();
        let start = self.at;
        let matched = !self.path.is_empty() && self.paths.iter().any(|p| p.matches(&self.path));
        match self.peek().ok_or(Unparseable)? {
            b'{' => self.object(depth)?,
            b'[' => self.array(depth)?,
            b'"' => self.string(false).map(drop)?,
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            _ => self.number()?,
        }
        if matched {
            // Anything matched inside this value is covered by the replacement of the whole.
            self.hits.retain(|(hit_start, _)| *hit_start < start);
            self.hits.push((start, self.at));
        }
        Ok(())
    }

    fn object(&mut self, depth: usize) -> Result<(), Unparseable> {
        self.consume(b'{')?;
        self.whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.whitespace();
            let key = self.string(self.tracking())?;
            self.whitespace();
            self.consume(b':')?;
            self.path.push(Step::Key(key));
            self.value(depth + 1)?;
            self.path.pop();
            self.whitespace();
            match self.next()? {
                b',' => continue,
                b'}' => return Ok(()),
                _ => return Err(Unparseable),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), Unparseable> {
        self.consume(b'[')?;
        self.whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        for index in 0.. {
            self.path.push(Step::Index(index));
            self.value(depth + 1)?;
            self.path.pop();
            self.whitespace();
            match self.next()? {
                b',' => continue,
                b']' => return Ok(()),
                _ => return Err(Unparseable),
            }
        }
        Ok(())
    }

    /// Whether keys below the current path can matter, i.e. must be decoded.
    fn tracking(&self) -> bool {
        self.paths.iter().any(|p| p.may_match_below(&self.path))
    }

    /// Reads a string; decodes it only when `decode` (object keys that a path may name).
    fn string(&mut self, decode: bool) -> Result<String, Unparseable> {
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
        String::from_utf8(decoded).map_err(|_| Unparseable)
    }

    fn escape(&mut self) -> Result<char, Unparseable> {
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
                let unit = self.hex4()?;
                if (0xD800..0xDC00).contains(&unit)
                    && self.bytes.get(self.at..self.at + 2) == Some(b"\\u")
                {
                    let resume = self.at;
                    self.at += 2;
                    let low = self.hex4()?;
                    if (0xDC00..0xE000).contains(&low) {
                        let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                        return Ok(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
                    }
                    self.at = resume; // not a pair: the second escape stands on its own
                }
                // A lone surrogate is valid JSON syntax but no character.
                char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER)
            }
            _ => return Err(Unparseable),
        })
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

    fn paths(list: &[&str]) -> Vec<JsonPath> {
        list.iter().map(|p| JsonPath::parse(p).unwrap()).collect()
    }

    fn redact(body: &str, list: &[&str]) -> Result<Option<String>, Unparseable> {
        redact_json(body.as_bytes(), &paths(list), "\"REDACTED\"")
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
            redact_json(b"{\"a\":\"\xff\"}", &paths(&["a"]), "\"R\""),
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
    fn json_content_types() {
        assert!(is_json_content_type(b"application/json"));
        assert!(is_json_content_type(b"Application/JSON; charset=utf-8"));
        assert!(is_json_content_type(b"application/merge-patch+json"));
        assert!(!is_json_content_type(b"text/plain"));
        assert!(!is_json_content_type(b"application/jsonl"));
    }
}
