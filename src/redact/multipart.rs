//! Redacting `multipart/*` bodies (RFC 2046, RFC 7578 for `form-data`): the content of a part
//! whose `name` is one of `redact.query_params` is replaced; a part that is JSON (by its type
//! or by its bytes, as for whole bodies) has its `redact.json_fields` redacted. Every other
//! byte stays as sent.
//!
//! Parsers disagree at the edges (LF-only line ends, a preamble, header folding, escapes in
//! quoted names, RFC 2231 parameters such as `name*0=`, transfer encodings), and a part one parser sees and another does not
//! is a leak. So the body is read strictly, and anything this reader is not certain every
//! server reads the same way makes the body unredactable: the copy is not sent.
//!
//! The strict shape: the body starts with `--boundary`, each delimiter is followed by CRLF,
//! each part's headers end with an empty line, each part ends with CRLF before the next
//! `--boundary`, the last delimiter is `--boundary--`, optionally followed by one CRLF, and
//! `--boundary` occurs nowhere else in the body. Linear: one search for the delimiter (at most
//! 72 bytes) over the body, then one pass over each part.

use crate::json_path::PathSet;
use crate::names::names_parameter;
use crate::redact::json::{looks_like_json, redact_json};
use crate::redact::media_type::{self, BodyType};
use crate::redact::query::Parameters;
use crate::redact::wide_json::looks_like_wide_json;
use crate::slices::{window, Progress};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unredactable;

/// What to redact: `redact.query_params` (by part name) and `redact.json_fields`.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// Part names to replace, and what their content becomes (as it is, not percent-encoded).
    pub parameters: Parameters<'a>,
    pub json: PathSet<'a>,
    /// `replacement` as a JSON string.
    pub json_replacement: &'a str,
}

/// The body with named parts replaced and JSON parts redacted; `Ok(None)` when nothing changed.
pub fn redact_multipart(
    body: &[u8],
    boundary: &[u8],
    rules: Rules<'_>,
) -> Result<Option<Vec<u8>>, Unredactable> {
    let parts = split(body, boundary)?;
    let mut out = Vec::new();
    let mut copied = 0;
    for part in parts {
        let content = body
            .get(part.content.0..part.content.1)
            .ok_or(Unredactable)?;
        let headers = body
            .get(part.headers.0..part.headers.1)
            .ok_or(Unredactable)?;
        let Some(redacted) = redact_part(headers, content, rules)? else {
            continue;
        };
        if out.is_empty() {
            out.reserve(body.len());
        }
        out.extend_from_slice(body.get(copied..part.content.0).ok_or(Unredactable)?);
        out.extend_from_slice(&redacted);
        copied = part.content.1;
    }
    if copied == 0 {
        return Ok(None);
    }
    out.extend_from_slice(body.get(copied..).ok_or(Unredactable)?);
    Ok(Some(out))
}

/// What reading one part's headers and deciding its name costs, in bytes of a slice
/// (measured: docs/performance.md, Work in slices).
const PART_WORK: usize = 4096;

/// `redact_multipart` a slice at a time (see `slices`): the search for the delimiter, then
/// part by part, the output copied a slice at a time too. Each part's headers are read, and a
/// JSON part redacted, as `redact_multipart` does (one part at a time).
#[derive(Debug)]
pub struct MultipartPass {
    delimiter: Vec<u8>,
    /// Where the delimiter search goes on; `None` once it is over.
    searching: Option<usize>,
    found: Vec<usize>,
    /// The next part is between `found[next_part]` and `found[next_part + 1]`.
    next_part: usize,
    out: Vec<u8>,
    /// The body is in `out` up to here (copied, or replaced by a redacted part's content).
    copied: usize,
    /// How far the body is to be copied as it is before the next part is read.
    copy_to: usize,
    changed: bool,
}

impl MultipartPass {
    pub fn new(boundary: &[u8], body_length: usize) -> MultipartPass {
        MultipartPass {
            delimiter: delimiter(boundary),
            searching: Some(0),
            found: Vec::new(),
            next_part: 0,
            out: Vec::with_capacity(crate::slices::output_capacity(body_length)),
            copied: 0,
            copy_to: 0,
            changed: false,
        }
    }

    /// The output this pass holds (for the memory budget).
    pub fn bytes_held(&self) -> usize {
        self.out.capacity() + self.found.capacity() * std::mem::size_of::<usize>()
    }

    /// Works through about `budget` bytes of `body`.
    pub fn step(
        &mut self,
        body: &[u8],
        rules: Rules<'_>,
        budget: usize,
    ) -> Progress<Result<Option<Vec<u8>>, Unredactable>> {
        if let Some(at) = self.searching {
            self.searching = search(body, &self.delimiter, at, budget, &mut self.found);
            if self.searching.is_none() {
                if let Err(refusal) = check_ends(body, self.delimiter.len(), &self.found) {
                    return Progress::Done(Err(refusal));
                }
            }
            return Progress::More;
        }
        let mut spent = 0;
        while spent < budget {
            if self.copied < self.copy_to {
                let range = window(self.copied, self.copy_to, budget - spent);
                self.out
                    .extend_from_slice(body.get(range.clone()).unwrap_or_default());
                spent += range.len();
                self.copied = range.end;
                continue;
            }
            let next = self.found.get(self.next_part..self.next_part + 2);
            let Some(&[at, next]) = next else {
                if self.copied < body.len() {
                    self.copy_to = body.len();
                    continue;
                }
                let out = std::mem::take(&mut self.out);
                return Progress::Done(Ok(self.changed.then_some(out)));
            };
            let part = match part_between(body, self.delimiter.len(), at, next) {
                Ok(part) => part,
                Err(refusal) => return Progress::Done(Err(refusal)),
            };
            if self.copied < part.content.0 {
                self.copy_to = part.content.0;
                continue;
            }
            let headers = body.get(part.headers.0..part.headers.1);
            let content = body.get(part.content.0..part.content.1);
            let (Some(headers), Some(content)) = (headers, content) else {
                return Progress::Done(Err(Unredactable));
            };
            match redact_part(headers, content, rules) {
                Err(refusal) => return Progress::Done(Err(refusal)),
                Ok(Some(redacted)) => {
                    self.out.extend_from_slice(&redacted);
                    self.copied = part.content.1;
                    self.changed = true;
                    spent += content.len();
                }
                Ok(None) => self.copy_to = part.content.1,
            }
            spent += headers.len() + PART_WORK;
            self.next_part += 1;
        }
        Progress::More
    }
}

/// Byte ranges of one part: its header block (without the empty line) and its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Part {
    headers: (usize, usize),
    content: (usize, usize),
}

/// The parts of a strictly shaped body, or `Unredactable`.
fn split(body: &[u8], boundary: &[u8]) -> Result<Vec<Part>, Unredactable> {
    let delimiter = delimiter(boundary);
    parts_at(body, delimiter.len(), &occurrences(body, &delimiter))
}

fn delimiter(boundary: &[u8]) -> Vec<u8> {
    [&b"--"[..], boundary].concat()
}

/// The parts of a body whose delimiters (`delimiter_length` bytes long) were `found` there.
fn parts_at(
    body: &[u8],
    delimiter_length: usize,
    found: &[usize],
) -> Result<Vec<Part>, Unredactable> {
    check_ends(body, delimiter_length, found)?;
    found
        .windows(2)
        .map(|pair| match pair {
            [at, next] => part_between(body, delimiter_length, *at, *next),
            _ => Err(Unredactable),
        })
        .collect()
}

/// The body starts with a delimiter and ends with the closing one.
fn check_ends(body: &[u8], delimiter: usize, found: &[usize]) -> Result<(), Unredactable> {
    if found.first() != Some(&0) {
        return Err(Unredactable); // a preamble, or no delimiter at all
    }
    let last = found.last().ok_or(Unredactable)?;
    let end = body.get(last + delimiter..).ok_or(Unredactable)?;
    if !(end == b"--" || end == b"--\r\n") {
        return Err(Unredactable);
    }
    Ok(())
}

/// The part between the delimiters found at `at` and `next`.
fn part_between(
    body: &[u8],
    delimiter: usize,
    at: usize,
    next: usize,
) -> Result<Part, Unredactable> {
    // After `--boundary`: CRLF and a part that ends with CRLF right before the next one.
    let start = at + delimiter;
    let part = body.get(start..next).ok_or(Unredactable)?;
    let part = part
        .strip_prefix(b"\r\n")
        .and_then(|p| p.strip_suffix(b"\r\n"))
        .ok_or(Unredactable)?;
    part_at(start + 2, part)
}

/// Every position where `needle` starts in `haystack`, left to right without overlaps (as
/// parsers search). Overlaps cannot hide a delimiter: a delimiter preceded by CRLF inside
/// another would put CRLF inside the boundary, which no boundary has. The needle is at most 72
/// bytes (the boundary's limit), so this is linear in the body.
fn occurrences(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    let mut found = Vec::new();
    search(haystack, needle, 0, usize::MAX, &mut found);
    found
}

/// Goes on with `occurrences` from `at`, for at most `budget` positions; returns where it
/// stopped, `None` once the search has reached the end.
fn search(
    haystack: &[u8],
    needle: &[u8],
    mut at: usize,
    budget: usize,
    found: &mut Vec<usize>,
) -> Option<usize> {
    let stop = at.saturating_add(budget);
    while let Some(rest) = haystack.get(at..) {
        if needle.is_empty() || rest.len() < needle.len() {
            break;
        }
        if at >= stop {
            return Some(at);
        }
        if rest.starts_with(needle) {
            found.push(at);
            at += needle.len();
        } else {
            // No match can start before the next byte that is the needle's first.
            let window = rest
                .get(1..stop - at)
                .unwrap_or(rest.get(1..).unwrap_or_default());
            let first = needle.first().copied().unwrap_or_default();
            at += window
                .iter()
                .position(|byte| *byte == first)
                .map_or(window.len(), |skip| skip)
                + 1;
        }
    }
    None
}

/// Splits one part (its bytes start at `offset` in the body) into header block and content.
fn part_at(offset: usize, part: &[u8]) -> Result<Part, Unredactable> {
    if part.starts_with(b"\r\n") {
        // No headers at all.
        return Ok(Part {
            headers: (offset, offset),
            content: (offset + 2, offset + part.len()),
        });
    }
    let end = part
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or(Unredactable)?;
    Ok(Part {
        headers: (offset, offset + end),
        content: (offset + end + 4, offset + part.len()),
    })
}

/// What the headers of a part say.
#[derive(Debug, Default, PartialEq, Eq)]
struct PartHeaders {
    name: Option<Vec<u8>>,
    body_type: Option<BodyType>,
}

/// The part headers that decide its redaction: each may be there once.
const DECIDING: [&str; 4] = [
    "content-disposition",
    "content-type",
    "content-transfer-encoding",
    "content-encoding",
];

/// Reads a part's headers, refusing anything ambiguous: folded or malformed lines, a deciding
/// header twice, a parameter `media_type::parse` refuses, a transfer or content encoding. Linear: each line is compared with
/// the four deciding names only.
fn part_headers(block: &[u8]) -> Result<PartHeaders, Unredactable> {
    let mut headers = PartHeaders::default();
    let mut seen = [false; DECIDING.len()];
    for line in split_lines(block) {
        let colon = line
            .iter()
            .position(|byte| *byte == b':')
            .ok_or(Unredactable)?;
        let (name, value) = (line.get(..colon), line.get(colon + 1..));
        let (Some(name), Some(value)) = (name, value) else {
            return Err(Unredactable);
        };
        if name.is_empty() || !name.iter().all(|b| is_header_name_char(*b)) {
            return Err(Unredactable); // includes folding (a leading space) and bare CR or LF
        }
        let Some(deciding) = DECIDING
            .iter()
            .position(|known| known.as_bytes().eq_ignore_ascii_case(name))
        else {
            continue;
        };
        match seen.get_mut(deciding) {
            Some(true) | None => return Err(Unredactable),
            Some(seen) => *seen = true,
        }
        match DECIDING.get(deciding).copied().unwrap_or_default() {
            "content-disposition" => headers.name = disposition_name(value)?,
            "content-type" => {
                headers.body_type = Some(media_type::body_type(value).ok_or(Unredactable)?);
            }
            "content-transfer-encoding" => {
                let encoding = String::from_utf8_lossy(value).trim().to_ascii_lowercase();
                if !matches!(encoding.as_str(), "7bit" | "8bit" | "binary") {
                    return Err(Unredactable);
                }
            }
            "content-encoding" => return Err(Unredactable),
            _ => {}
        }
    }
    Ok(headers)
}

fn split_lines(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(block).filter(|b| !b.is_empty());
    std::iter::from_fn(move || {
        let current = rest?;
        match current.windows(2).position(|w| w == b"\r\n") {
            Some(at) => {
                rest = current.get(at + 2..);
                current.get(..at)
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

fn is_header_name_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// The `name` of a `Content-Disposition` value, refusing what parsers read differently.
fn disposition_name(value: &[u8]) -> Result<Option<Vec<u8>>, Unredactable> {
    let parsed = media_type::parse(value, false, &["name"]).ok_or(Unredactable)?;
    Ok(parsed.parameter("name").map(<[u8]>::to_vec))
}

/// The replacement content of one part, `None` when it stays as it is.
fn redact_part(
    headers: &[u8],
    content: &[u8],
    rules: Rules<'_>,
) -> Result<Option<Vec<u8>>, Unredactable> {
    let headers = part_headers(headers)?;
    let parameters = rules.parameters;
    let named = headers
        .name
        .as_deref()
        .is_some_and(|name| names_parameter(name, parameters.names, parameters.case_sensitive));
    if named {
        return Ok(Some(parameters.replacement.as_bytes().to_vec()));
    }
    match headers.body_type {
        Some(BodyType::Multipart { .. }) => Err(Unredactable), // nested: not followed
        // JSON in UTF-16 or UTF-32, as for whole bodies (see `body`): not redactable.
        None | Some(BodyType::Other) if looks_like_wide_json(content) => Err(Unredactable),
        _ if rules.json.paths.is_empty() => Ok(None),
        Some(BodyType::Json) => {
            redact_json(content, rules.json, rules.json_replacement).map_err(|_| Unredactable)
        }
        _ if looks_like_json(content) => {
            redact_json(content, rules.json, rules.json_replacement).map_err(|_| Unredactable)
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_path::{JsonPath, JsonPaths};

    const BOUNDARY: &[u8] = b"XyZ";

    fn rules<'a>(names: &'a [String], paths: &'a JsonPaths) -> Rules<'a> {
        Rules {
            parameters: Parameters {
                names,
                case_sensitive: false,
                replacement: "R",
            },
            json: PathSet {
                paths,
                case_sensitive: false,
            },
            json_replacement: "\"R\"",
        }
    }

    fn redact(body: &str) -> Result<Option<String>, Unredactable> {
        let names = vec!["password".to_string()];
        let paths = JsonPaths::from(vec![JsonPath::parse("**.secret").unwrap()]);
        redact_multipart(body.as_bytes(), BOUNDARY, rules(&names, &paths))
            .map(|out| out.map(|b| String::from_utf8(b).unwrap()))
    }

    fn form(parts: &[&str]) -> String {
        let mut body = String::new();
        for part in parts {
            body.push_str("--XyZ\r\n");
            body.push_str(part);
            body.push_str("\r\n");
        }
        body.push_str("--XyZ--\r\n");
        body
    }

    #[test]
    fn named_parts_are_replaced_and_everything_else_kept() {
        let body = form(&[
            "Content-Disposition: form-data; name=\"user\"\r\n\r\nann",
            "Content-Disposition: form-data; name=\"Password\"\r\n\r\nhunter2\r\nsecond line",
            "content-disposition: form-data; name=\"user[password]\"\r\nX-Other: 1\r\n\r\nx",
            "Content-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n\x01\x02",
        ]);
        let expected = form(&[
            "Content-Disposition: form-data; name=\"user\"\r\n\r\nann",
            "Content-Disposition: form-data; name=\"Password\"\r\n\r\nR",
            "content-disposition: form-data; name=\"user[password]\"\r\nX-Other: 1\r\n\r\nR",
            "Content-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n\x01\x02",
        ]);
        assert_eq!(redact(&body), Ok(Some(expected)));
    }

    #[test]
    fn json_parts_are_redacted_by_json_fields() {
        let body = form(&[
            "Content-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json\r\n\r\n{\"a\":{\"Secret\":1}}",
            "Content-Disposition: form-data; name=\"untyped\"\r\n\r\n [{\"secret\":2}]",
            "Content-Disposition: form-data; name=\"text\"\r\n\r\nsecret=3",
        ]);
        let expected = form(&[
            "Content-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json\r\n\r\n{\"a\":{\"Secret\":\"R\"}}",
            "Content-Disposition: form-data; name=\"untyped\"\r\n\r\n [{\"secret\":\"R\"}]",
            "Content-Disposition: form-data; name=\"text\"\r\n\r\nsecret=3",
        ]);
        assert_eq!(redact(&body), Ok(Some(expected)));
    }

    #[test]
    fn nothing_named_means_no_copy_of_the_body() {
        let body = form(&[
            "Content-Disposition: form-data; name=\"user\"\r\n\r\nann",
            "\r\nheaderless",
        ]);
        assert_eq!(redact(&body), Ok(None));
        assert_eq!(redact("--XyZ--"), Ok(None), "no parts at all");
    }

    #[test]
    fn what_parsers_could_read_differently_is_unredactable() {
        let part = "Content-Disposition: form-data; name=\"password\"\r\n\r\nhunter2";
        for body in [
            String::new(),
            "no delimiter".to_string(),
            format!("preamble\r\n{}", form(&[part])),
            form(&[part]).replace("\r\n", "\n"),
            form(&[part]).replace("--XyZ--\r\n", ""),
            form(&[part]).replace("--XyZ--\r\n", "--XyZ--\r\nepilogue"),
            form(&[part]).replace("--XyZ\r\n", "--XyZ \r\n"),
            form(&[&format!("{part}--XyZ inside")]),
            form(&["Content-Disposition: form-data;\r\n name=\"password\"\r\n\r\nx"]),
            form(&["Content-Disposition: form-data; name=\"a\"; name=\"password\"\r\n\r\nx"]),
            form(&["Content-Disposition: form-data; name*=utf-8''password\r\n\r\nx"]),
            form(&["Content-Disposition: form-data; name*0=password\r\n\r\nx"]),
            form(&["Content-Disposition: form-data; name*0=pass; name*1=word\r\n\r\nx"]),
            form(&["Content-Disposition: form-data; name*0*=utf-8''pass%77ord\r\n\r\nx"]),
            form(&["Content-Disposition: form-data; name=\"safe\"; name*0=\"password\"\r\n\r\nx"]),
            form(&["Content-Disposition: form-data; name='password'\r\n\r\nx"]),
            form(&["Content-Disposition: form-data; name=\"a\"; filename=x; filename=y\r\n\r\nx"]),
            form(&["Content-Disposition: form-data; name=\"pass\\word\"\r\n\r\nx"]),
            form(&["Content-Disposition: form-data; name=\"a\"\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nx"]),
            form(&["Content-Disposition: form-data; name=\"a\"\r\nContent-Transfer-Encoding: base64\r\n\r\naHVudGVyMg=="]),
            form(&["Content-Disposition: form-data; name=\"a\"\r\nContent-Encoding: gzip\r\n\r\nx"]),
            form(&["Content-Disposition: form-data; name=\"a\"\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b--"]),
            form(&["Content-Disposition: form-data; name=\"a\"\r\nContent-Type: application/json; charset=utf-16\r\n\r\n{}"]),
            form(&["Content-Disposition: form-data; name=\"a\"\r\nContent-Type: application/json\r\n\r\n{\"secret\":"]),
            form(&["Content-Disposition: form-data; name=\"a\"\r\n\r\n{\"secret\":1} trailing"]),
            form(&["Content-Disposition: form-data; name=\"password\"\r\nno colon\r\n\r\nx"]),
            form(&["Content-Disposition: form-data; name=\"a\"\r\n\r\n\u{0}{\u{0}\"\u{0}}"]),
            form(&["Content-Disposition: form-data; name=\"password\"\r\n\r"]),
            form(&["Content-Disposition: form-data; name=\"password\"\rx: y\r\n\r\nx"]),
        ] {
            assert_eq!(redact(&body), Err(Unredactable), "{body:?}");
        }
    }

    #[test]
    fn a_closing_crlf_is_optional_and_empty_parts_are_fine() {
        let body = form(&["Content-Disposition: form-data; name=\"password\"\r\n\r\n"]);
        let expected = form(&["Content-Disposition: form-data; name=\"password\"\r\n\r\nR"]);
        assert_eq!(redact(&body), Ok(Some(expected.clone())));
        let trimmed = body.trim_end_matches("\r\n");
        assert_eq!(
            redact(trimmed),
            Ok(Some(expected.trim_end_matches("\r\n").to_string()))
        );
    }

    #[test]
    fn many_parts_and_near_delimiters() {
        // Many parts, and a body full of near-delimiters: the search costs at most the
        // delimiter's length (72 bytes at most) per byte.
        let many =
            form(&vec!["Content-Disposition: form-data; name=\"password\"\r\n\r\nx"; 20_000]);
        assert!(redact(&many).unwrap().is_some());
        let near = format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n{}\r\n--XyZ--",
            "--Xy".repeat(50_000)
        );
        assert_eq!(redact(&near), Ok(None));
        assert_eq!(occurrences(b"--Xy--XyZ--XyZ", b"--XyZ"), [4, 9]);
        assert_eq!(occurrences(b"-----\r\n", b"---"), [0]);
        // Many headers in one part, many parameters in its disposition: one pass each.
        let headers: String = (0..50_000).map(|i| format!("X-{i}: v\r\n")).collect();
        let parameters: String = (0..50_000).map(|i| format!("; p{i}=v")).collect();
        let body = form(&[&format!(
            "{headers}Content-Disposition: form-data{parameters}; name=\"password\"\r\n\r\nx"
        )]);
        assert!(redact(&body).unwrap().is_some());
    }
}
