//! Redacting fields of JSON bodies in place: each value at a configured path is replaced by a
//! JSON string, and every other byte of the body stays as sent (key order, spacing, number
//! formats), so a mirror target sees the request the client made, minus its secrets.
//!
//! The body is read once by the plugin's JSON tokenizer (`crate::json`: RFC 8259, strictly, a
//! leading byte order mark allowed, nesting up to `MAX_DEPTH`), the reader the comparison uses
//! too. A body that is not valid JSON cannot be redacted with certainty, so it is reported as
//! such and never sent unredacted. A key that is there twice is redacted both times.
//!
//! Linear by construction: the tokenizer only moves forward; each value costs one step of the
//! path automaton, bounded by the configuration (see `json_path`); and nothing inside a value
//! that is replaced is looked at again (it is only checked), so replaced ranges never nest and
//! are only appended. No recursion: the open containers are a stack of `Frame`s.

use crate::json::text::decode;
use crate::json::{is_whitespace, Progress, Token, Tokenizer, BYTE_ORDER_MARK};
use crate::json_path::{PathSet, Position, Step, Walked};
use std::mem::size_of;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unparseable;

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

/// What reading one token costs, in bytes of a slice: a key's comparison with the paths, a
/// step of their automaton (measured: docs/performance.md, Work in slices).
const TOKEN_WORK: usize = 256;

/// `redact_json` a slice at a time (see `slices`): the scan goes on where it stopped, and the
/// output is copied as far as the scan has settled it (no value to replace can start before),
/// each at most `budget` bytes per step.
#[derive(Debug)]
pub struct JsonPass {
    scan: Scan,
    /// How far the scan may read.
    limit: usize,
    scanned: bool,
    out: Vec<u8>,
    /// The body is in `out` up to here (copied, or replaced).
    copied: usize,
    /// Hits already replaced in `out`.
    replaced: usize,
}

impl JsonPass {
    pub fn new(paths: PathSet<'_>, length: usize) -> JsonPass {
        JsonPass {
            scan: Scan::new(paths),
            limit: 0,
            scanned: false,
            out: Vec::with_capacity(crate::slices::output_capacity(length)),
            copied: 0,
            replaced: 0,
        }
    }

    /// The memory this pass holds (its output and the places to replace).
    pub fn bytes_held(&self) -> usize {
        self.out.capacity() + self.scan.scanner.hits.capacity() * size_of::<(usize, usize)>()
    }

    /// Reads, then copies, at most `budget` bytes of `body` each.
    pub fn step(
        &mut self,
        body: &[u8],
        paths: PathSet<'_>,
        replacement: &str,
        budget: usize,
    ) -> crate::slices::Progress<Result<Option<Vec<u8>>, Unparseable>> {
        use crate::slices::{window, Progress::Done, Progress::More};
        if !self.scanned {
            // At most a slice ahead, and always further than last time (the tokenizer may
            // stop short of a limit, in a byte order mark or an escape cut by it).
            let ahead = self.scan.tokenizer.offset().saturating_add(budget);
            self.limit = ahead.max(self.limit + 1).min(body.len());
            let tokens = budget / TOKEN_WORK + 1;
            match self.scan.read(body, paths, self.limit, tokens) {
                Err(refusal) => return Done(Err(refusal)),
                Ok(complete) => self.scanned = complete,
            }
        }
        let settled = if self.scanned {
            body.len()
        } else {
            self.scan.settled()
        };
        let mut left = budget.max(1);
        loop {
            let hit = self.scan.scanner.hits.get(self.replaced).copied();
            // A value to replace is complete once found: its start is settled.
            let until = hit.map_or(settled, |(start, _)| start);
            if self.copied >= until {
                match hit {
                    Some((_, end)) => {
                        self.out.extend_from_slice(replacement.as_bytes());
                        self.copied = end;
                        self.replaced += 1;
                        continue;
                    }
                    None if self.scanned => break,
                    None => return More,
                }
            }
            if left == 0 {
                return More;
            }
            let range = window(self.copied, until, left);
            self.out
                .extend_from_slice(body.get(range.clone()).unwrap_or_default());
            left -= range.len();
            self.copied = range.end;
        }
        let out = std::mem::take(&mut self.out);
        Done(Ok((self.replaced > 0).then_some(out)))
    }
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

/// Where the values to replace are, and the work it took to find them (see the tests).
struct Scanned {
    hits: Vec<(usize, usize)>,
    #[cfg_attr(not(test), allow(dead_code))] // read by the linearity tests
    work: usize,
}

/// An open container the automaton follows.
#[derive(Debug)]
struct Frame {
    /// Where its alive positions start in `Scanner::alive` (they run to the end).
    level: usize,
    /// The next item's index, in an array; `None` in an object.
    index: Option<usize>,
    /// Whether its keys are decoded (some alive position compares keys).
    decode_keys: bool,
}

fn scan(body: &[u8], paths: PathSet<'_>) -> Result<Scanned, Unparseable> {
    let mut scan = Scan::new(paths);
    if !scan.read(body, paths, body.len(), usize::MAX)? {
        return Err(Unparseable);
    }
    Ok(Scanned {
        hits: scan.scanner.hits,
        work: scan.scanner.work,
    })
}

/// A scan that can stop at any byte and go on later (the tokenizer's state, the open
/// containers and the automaton's positions are all kept here): `redact_json` reads a body
/// in one go, `JsonPass` a slice at a time.
#[derive(Debug)]
struct Scan {
    scanner: Scanner,
    tokenizer: Tokenizer,
    decoded: Vec<u8>,
    /// The level of the value about to start, and whether a path names it.
    member: Option<(usize, bool)>,
    /// A container being read through to its end, not followed: replaced whole, or only
    /// checked.
    skipping: Option<Skipping>,
}

#[derive(Debug, Clone, Copy)]
struct Skipping {
    start: usize,
    /// It ends when fewer containers than this are open.
    depth: usize,
    level: usize,
    /// Replaced whole (a path names it), or only checked (no path is alive in it).
    replaced: bool,
}

impl Scan {
    fn new(paths: PathSet<'_>) -> Scan {
        let mut scanner = Scanner {
            alive: Vec::new(),
            next: Vec::new(),
            frames: Vec::new(),
            hits: Vec::new(),
            work: 0,
        };
        paths.start(&mut scanner.alive);
        Scan {
            scanner,
            tokenizer: Tokenizer::new(),
            decoded: Vec::new(),
            member: None,
            skipping: None,
        }
    }

    /// Reads the body's tokens up to `limit`, at most `tokens` of them; true once the
    /// document is complete.
    fn read(
        &mut self,
        body: &[u8],
        paths: PathSet<'_>,
        limit: usize,
        mut tokens: usize,
    ) -> Result<bool, Unparseable> {
        let scanner = &mut self.scanner;
        loop {
            if tokens == 0 {
                return Ok(false);
            }
            tokens -= 1;
            let token = match self.tokenizer.next_within(body, limit) {
                Ok(Progress::Token(token)) => token,
                Ok(Progress::Pending) => return Ok(false),
                Ok(Progress::End) => return Ok(true),
                Err(_) => return Err(Unparseable),
            };
            if let Some(skipping) = self.skipping {
                if self.tokenizer.depth() < skipping.depth {
                    if skipping.replaced {
                        scanner.hits.push((skipping.start, self.tokenizer.offset()));
                    }
                    scanner.alive.truncate(skipping.level);
                    self.skipping = None;
                }
                continue;
            }
            match token {
                Token::Key => {
                    let key = self.tokenizer.string();
                    let Some(frame) = scanner.frames.last() else {
                        return Err(Unparseable);
                    };
                    let text = if frame.decode_keys {
                        Some(key_text(key.content(body), key.escaped, &mut self.decoded)?)
                    } else {
                        None
                    };
                    let level = frame.level;
                    let child = scanner.alive.len();
                    self.member = Some((child, scanner.enter(paths, level, Step::Key(text))));
                }
                Token::ObjectEnd | Token::ArrayEnd => {
                    if let Some(frame) = scanner.frames.pop() {
                        scanner.alive.truncate(frame.level);
                    }
                }
                _ => {
                    self.skipping =
                        scanner.value(paths, &self.tokenizer, token, self.member.take());
                }
            }
        }
    }

    /// Where the bytes before can be copied as they are: no value to replace starts there.
    fn settled(&self) -> usize {
        match self.skipping {
            Some(skipping) if skipping.replaced => skipping.start,
            // Nothing is named inside a container only checked.
            Some(_) => self.tokenizer.offset(),
            // A value being read may be named (an item is named once it is complete).
            None => self.tokenizer.token_start().min(self.tokenizer.offset()),
        }
    }
}

/// A key's text: its content, or (with escapes) its content decoded into `decoded`.
fn key_text<'t>(
    content: &'t [u8],
    escaped: bool,
    decoded: &'t mut Vec<u8>,
) -> Result<&'t str, Unparseable> {
    let text = if escaped {
        decoded.clear();
        decode(content, decoded);
        decoded.as_slice()
    } else {
        content
    };
    std::str::from_utf8(text).map_err(|_| Unparseable)
}

#[derive(Debug)]
struct Scanner {
    /// The automaton's alive positions of every open level, one level after another.
    alive: Vec<Position>,
    /// Scratch for the positions of the level being entered.
    next: Vec<Position>,
    /// The open containers followed (a replaced one is skipped, not followed).
    frames: Vec<Frame>,
    /// Byte ranges of the values to replace, in order, never overlapping.
    hits: Vec<(usize, usize)>,
    /// Automaton steps and key bytes compared: what the scan costs beyond reading each byte.
    work: usize,
}

impl Scanner {
    /// A value starts with `token`: a member's (`member`: its level and whether it is named,
    /// stepped into at its key), an item's (stepped into here), or the top-level value. A
    /// named container comes back: it is read through to its end, then replaced whole.
    fn value(
        &mut self,
        paths: PathSet<'_>,
        tokenizer: &Tokenizer,
        token: Token,
        member: Option<(usize, bool)>,
    ) -> Option<Skipping> {
        self.work += 1;
        let (level, named) = match (member, self.frames.last_mut()) {
            (Some(member), _) => member,
            (None, Some(frame)) => {
                let index = frame.index.unwrap_or_default();
                frame.index = Some(index + 1);
                let parent = frame.level;
                let child = self.alive.len();
                (child, self.enter(paths, parent, Step::Index(index)))
            }
            (None, None) => (0, false), // the top-level value: never named itself
        };
        let container = matches!(token, Token::ObjectStart | Token::ArrayStart);
        if named {
            // Replaced whole: nothing below it is looked at.
            let start = tokenizer.token_start();
            if container {
                return Some(Skipping {
                    start,
                    depth: tokenizer.depth(),
                    level,
                    replaced: true,
                });
            }
            self.hits.push((start, tokenizer.offset()));
            self.alive.truncate(level);
            return None;
        }
        if container && self.alive.len() == level {
            // No position is alive in it: nothing below can be named. Only checked.
            return Some(Skipping {
                start: tokenizer.token_start(),
                depth: tokenizer.depth(),
                level,
                replaced: false,
            });
        }
        if container {
            let object = token == Token::ObjectStart;
            let decode_keys =
                object && paths.compares_keys(self.alive.get(level..).unwrap_or_default());
            self.frames.push(Frame {
                level,
                index: (!object).then_some(0),
                decode_keys,
            });
        } else {
            self.alive.truncate(level);
        }
        None
    }

    /// Steps the automaton from the level at `level` (the last one) into a child: pushes the
    /// child's alive positions, and says whether the child is named.
    fn enter(&mut self, paths: PathSet<'_>, level: usize, step: Step<'_>) -> bool {
        let alive = self.alive.get(level..).unwrap_or_default();
        if alive.is_empty() {
            return false;
        }
        self.next.clear();
        let Walked { work, complete } = paths.step(alive, step, &mut self.next);
        self.work += work;
        self.alive.extend_from_slice(&self.next);
        complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::MAX_DEPTH;
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
    fn a_key_that_is_there_twice_is_redacted_both_times() {
        let out = redact(r#"{"password":"a","x":1,"password":"b"}"#, &["password"]);
        assert_eq!(
            out.unwrap().unwrap(),
            r#"{"password":"REDACTED","x":1,"password":"REDACTED"}"#
        );
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
