//! Body redaction a slice at a time (see `slices`), for a body larger than one slice: the
//! plan `body::plan` makes for it, carried out by passes that stop after a slice's worth of
//! bytes and resume at the next, with byte for byte the result `body::redact_body` gives in
//! one piece (tested below on a corpus, and through Envoy in tests/integration/slicing.rs).
//!
//! - Form: `query`'s rules, applied as the bytes go by: a pair's name is decided when its
//!   `=` is reached (`query::is_named`, once per pair), a named pair's value is dropped for
//!   the replacement, every other byte is copied.
//! - Multipart: `multipart::MultipartPass`.
//! - JSON: `json::JsonPass`, on the resumable tokenizer (`crate::json`).

use crate::redact::body::{multipart_rules, plan, BodyHeaders, Plan, Unsendable};
use crate::redact::json::JsonPass;
use crate::redact::multipart::MultipartPass;
use crate::redact::query::{is_named, is_separator, percent_encoded, Parameters};
use crate::redact::Redaction;
use crate::slices::{window, Progress};

/// A body's redaction in progress.
#[derive(Debug)]
pub struct SlicedRedaction {
    stage: Stage,
    /// What the JSON pass made of the body, when it changed something: the form pass reads it.
    json_output: Option<Vec<u8>>,
}

#[derive(Debug)]
enum Stage {
    Json { pass: JsonPass, then_form: bool },
    Form(FormPass),
    Multipart(MultipartPass),
}

/// What a finished redaction gives: `Ok(None)` when the body goes as it is.
pub type Redacted = Result<Option<Vec<u8>>, Unsendable>;

impl SlicedRedaction {
    /// The redaction `body` needs; `Ok(None)` when it goes as it is.
    pub fn start(
        body: &[u8],
        headers: &BodyHeaders,
        redaction: &Redaction,
    ) -> Result<Option<SlicedRedaction>, Unsendable> {
        let stage = match plan(body, headers, redaction)? {
            Plan::AsItIs => return Ok(None),
            Plan::Multipart(boundary) => Stage::Multipart(MultipartPass::new(boundary, body.len())),
            Plan::Passes { json: true, form } => Stage::Json {
                pass: JsonPass::new(redaction.json_paths(), body.len()),
                then_form: form,
            },
            Plan::Passes { json: false, .. } => Stage::Form(FormPass::new(redaction, body.len())),
        };
        Ok(Some(SlicedRedaction {
            stage,
            json_output: None,
        }))
    }

    /// The memory this redaction holds besides the body (its output, as allocated).
    pub fn bytes_held(&self) -> usize {
        let stage = match &self.stage {
            Stage::Json { pass, .. } => pass.bytes_held(),
            Stage::Form(form) => form.out.capacity(),
            Stage::Multipart(multipart) => multipart.bytes_held(),
        };
        stage + self.json_output.as_ref().map_or(0, Vec::capacity)
    }

    /// Works through about `budget` bytes.
    pub fn step(
        &mut self,
        body: &[u8],
        redaction: &Redaction,
        budget: usize,
    ) -> Progress<Redacted> {
        match &mut self.stage {
            Stage::Json { pass, then_form } => {
                let paths = redaction.json_paths();
                let replacement = &redaction.json_replacement;
                let redacted = match pass.step(body, paths, replacement, budget) {
                    Progress::More => return Progress::More,
                    Progress::Done(Err(_)) => return Progress::Done(Err(Unsendable::Unparseable)),
                    Progress::Done(Ok(redacted)) => redacted,
                };
                if !*then_form {
                    return Progress::Done(Ok(redacted));
                }
                let length = redacted.as_ref().map_or(body.len(), Vec::len);
                self.json_output = redacted;
                self.stage = Stage::Form(FormPass::new(redaction, length));
                Progress::More
            }
            Stage::Form(form) => {
                let input = self.json_output.as_deref().unwrap_or(body);
                match form.step(input, redaction.parameters(), budget) {
                    Progress::More => Progress::More,
                    // Nothing named in the form: what the JSON pass made of it, if anything.
                    Progress::Done(None) => Progress::Done(Ok(self.json_output.take())),
                    Progress::Done(Some(out)) => Progress::Done(Ok(Some(out))),
                }
            }
            Stage::Multipart(multipart) => {
                match multipart.step(body, multipart_rules(redaction), budget) {
                    Progress::More => Progress::More,
                    Progress::Done(done) => {
                        Progress::Done(done.map_err(|_| Unsendable::Unredactable))
                    }
                }
            }
        }
    }

    /// The whole redaction at once (for tests: what slicing must not change).
    #[cfg(test)]
    fn run(&mut self, body: &[u8], redaction: &Redaction, budget: usize) -> Redacted {
        loop {
            if let Progress::Done(done) = self.step(body, redaction, budget) {
                return done;
            }
        }
    }
}

/// What deciding one parameter name costs, in bytes of a slice: `names::names_parameter`
/// decodes the name and compares each of its readings (PHP's, Rack's, Spring's...) with every
/// configured name, about 25,000 fuel units in `make callback-cost` since the security round
/// (measured: docs/performance.md, Work in slices).
const NAME_WORK: usize = 1024;

/// `query::redact_pairs`, a slice at a time.
#[derive(Debug)]
struct FormPass {
    /// Where the next slice starts.
    at: usize,
    /// Where the pair being read starts.
    pair_start: usize,
    /// The pair being read has had its first `=`: its name is decided.
    named_yet: bool,
    /// Its value is being dropped (its name is named).
    dropping: bool,
    /// The input is in `out` up to here (copied, or dropped for a replacement).
    copied: usize,
    out: Vec<u8>,
    redacted: bool,
    /// The replacement, percent-encoded as `redact_pairs` writes it.
    replacement: String,
}

impl FormPass {
    fn new(redaction: &Redaction, length: usize) -> FormPass {
        FormPass {
            at: 0,
            pair_start: 0,
            named_yet: false,
            dropping: false,
            copied: 0,
            out: Vec::with_capacity(crate::slices::output_capacity(length)),
            redacted: false,
            replacement: percent_encoded(&redaction.replacement),
        }
    }

    fn step(
        &mut self,
        input: &[u8],
        parameters: Parameters<'_>,
        budget: usize,
    ) -> Progress<Option<Vec<u8>>> {
        let range = window(self.at, input.len(), budget);
        let mut end = range.end;
        // Deciding a name costs as much as reading `NAME_WORK` bytes: the slice ends sooner.
        let mut work = 0;
        for (at, byte) in input
            .get(range.clone())
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let at = range.start + at;
            work += 1;
            if is_separator(*byte) {
                if self.dropping {
                    self.copied = at; // the separator is copied, the value before it is not
                }
                self.pair_start = at + 1;
                self.named_yet = false;
                self.dropping = false;
            } else if *byte == b'=' && !self.named_yet {
                self.named_yet = true;
                work += NAME_WORK;
                let name = input.get(self.pair_start..at).unwrap_or_default();
                if is_named(name, parameters) {
                    self.out
                        .extend_from_slice(input.get(self.copied..=at).unwrap_or_default());
                    self.out.extend_from_slice(self.replacement.as_bytes());
                    self.copied = at + 1;
                    self.dropping = true;
                    self.redacted = true;
                }
            }
            if work >= budget {
                end = at + 1;
                break;
            }
        }
        if self.dropping {
            self.copied = end;
        } else {
            self.out
                .extend_from_slice(input.get(self.copied..end).unwrap_or_default());
            self.copied = end;
        }
        self.at = end;
        if end < input.len() {
            return Progress::More;
        }
        let out = std::mem::take(&mut self.out);
        Progress::Done(self.redacted.then_some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::redact::body::redact_body;

    fn redaction(redact: &str) -> Redaction {
        let json = format!(r#"{{"targets": [{{"cluster": "c"}}], "redact": {redact}}}"#);
        Config::parse(json.as_bytes()).unwrap().redaction
    }

    fn typed(content_type: &[u8]) -> BodyHeaders {
        let mut headers = BodyHeaders::default();
        headers.add("content-type", content_type);
        headers
    }

    /// Bodies of every kind the plan knows, with what makes slicing hard: pairs, names,
    /// delimiters and values cut by a slice's end, redacted values at the very start and end.
    fn corpus() -> Vec<(BodyHeaders, Vec<u8>)> {
        let form = typed(b"application/x-www-form-urlencoded");
        let json = typed(b"application/json");
        let multipart = typed(b"multipart/form-data; boundary=XyZ");
        let part = |name: &str, content: &str| {
            format!("--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{content}\r\n")
        };
        let mut bodies = vec![
            (form.clone(), b"password=1".to_vec()),
            (
                form.clone(),
                b"a=1&password=hunter2;b==3&&=x&password&PassWord=&x=%zz&user[password]=y".to_vec(),
            ),
            (form.clone(), b"password==x=y&a=b;token=".to_vec()),
            (form.clone(), "a=1&".repeat(3000).into_bytes()),
            (
                form.clone(),
                format!("{}&password={}&z=1", "a=b&".repeat(500), "s".repeat(5000)).into_bytes(),
            ),
            (
                form.clone(),
                format!("{}=1&{}password=2", "n".repeat(3000), "%70".repeat(3)).into_bytes(),
            ),
            (form.clone(), b"\xff\x00=&password=\xfe;".to_vec()),
            (
                BodyHeaders::default(),
                br#"{"a":"x&password=hunter2","password":"p"}"#.to_vec(),
            ),
            (BodyHeaders::default(), b"just=text&password=1".to_vec()),
            (
                json.clone(),
                br#"{"password":"p","n":[1,2,{"password":3}]}"#.to_vec(),
            ),
            (json.clone(), b"{not json".to_vec()),
            (json.clone(), format!("\u{feff}{{\"items\": [\"{}\", 2], \"card\": {{\"a\": [1, {{\"b\": \"x\"}}], \"c\": \"{}\"}}, \"p\\u0061ssword\": 1e5}}", "s".repeat(3000), "t".repeat(2000)).into_bytes()),
            (json.clone(), format!("[{}{{\"password\": [[[\"deep\"]]]}}]", "{\"k\": \"v\"}, ".repeat(300)).into_bytes()),
            (json.clone(), format!("{{\"items\": [{{\"password\": 1}}, 3], \"password\": {}}}", "9".repeat(4000)).into_bytes()),
            (json.clone(), format!("{{\"password\": \"{}\"", "u".repeat(500)).into_bytes()),
            (json.clone(), b"  {\"a\": 1}  ".to_vec()),
            (typed(b"text/plain"), b"password=1".to_vec()),
            (
                multipart.clone(),
                format!(
                    "{}{}{}--XyZ--\r\n",
                    part("user", "ann"),
                    part("password", "hunter2"),
                    part("f", &"--Xy".repeat(2000))
                )
                .into_bytes(),
            ),
            (
                multipart.clone(),
                format!("{}--XyZ--", part("meta", r#"{"password":1,"b":2}"#)).into_bytes(),
            ),
            (
                multipart.clone(),
                format!("{}--XyZ--\r\n", part("a", &"x".repeat(10_000))).into_bytes(),
            ),
            (multipart.clone(), b"preamble--XyZ\r\n".to_vec()),
            (
                multipart.clone(),
                format!("{}--XyZ--epilogue", part("password", "1")).into_bytes(),
            ),
        ];
        // The security round's cases: JSON in UTF-16 or UTF-32 (whole or as a part), a
        // repeated media type parameter, keys folded as Go, .NET and Java fold them, names as
        // PHP, Rack and Spring read them.
        let utf16be: Vec<u8> =
            r#"{"password":"hunter2"}"#.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let mut utf32le = b"\xff\xfe\x00\x00".to_vec();
        utf32le.extend(" [1]".chars().flat_map(|c| u32::from(c).to_le_bytes()));
        let mut wide_part = b"--XyZ\r\nContent-Disposition: form-data; name=\"w\"\r\n\r\n".to_vec();
        wide_part.extend_from_slice(&utf16be);
        wide_part.extend_from_slice(b"\r\n--XyZ--\r\n");
        bodies.extend([
            (BodyHeaders::default(), utf16be.clone()),
            (typed(b"text/plain"), utf32le),
            (form.clone(), utf16be),
            (multipart.clone(), wide_part),
            (
                typed(b"application/json; charset=utf-8; charset=utf-8"),
                br#"{"password":1}"#.to_vec(),
            ),
            (
                json.clone(),
                "{\"PASSWORD\":1,\"pa\u{17f}\u{17f}word\":2,\"Pass\\u0077ord\":3}"
                    .as_bytes()
                    .to_vec(),
            ),
            (
                form.clone(),
                b"user.password=1&password[]=2&pass%77ord=3&PASSWORD=4&password%00=5".to_vec(),
            ),
        ]);
        let mut rng = fastrand::Rng::with_seed(18);
        for _ in 0..200 {
            let pieces = [
                "password",
                "=",
                "&",
                ";",
                "a",
                "%70assword",
                "[",
                "]",
                "x",
                "==",
            ];
            let text: String = (0..rng.usize(0..60))
                .map(|_| pieces[rng.usize(0..pieces.len())])
                .collect();
            bodies.push((form.clone(), text.into_bytes()));
        }
        bodies
    }

    #[test]
    fn slices_of_any_size_give_the_bytes_of_one_piece() {
        let rules = redaction(
            r#"{"json_fields": ["**.password", "items.0", "card"], "query_params": ["password", "token"], "replacement": "R e"}"#,
        );
        for (headers, body) in corpus() {
            let whole = redact_body(&body, &headers, &rules);
            for budget in [1, 2, 3, 7, 64, 1000, usize::MAX] {
                let sliced = match SlicedRedaction::start(&body, &headers, &rules) {
                    Ok(Some(mut redaction)) => redaction.run(&body, &rules, budget),
                    Ok(None) => Ok(None),
                    Err(refusal) => Err(refusal),
                };
                assert_eq!(
                    sliced,
                    whole,
                    "budget {budget}: {}",
                    String::from_utf8_lossy(&body)
                );
            }
        }
    }

    #[test]
    fn a_slice_works_through_its_budget_and_no_more() {
        let rules = redaction(r#"{"query_params": ["password"]}"#);
        let form = typed(b"application/x-www-form-urlencoded");
        let body = format!("password={}&a=1", "s".repeat(100_000)).into_bytes();
        let mut redaction = SlicedRedaction::start(&body, &form, &rules)
            .unwrap()
            .unwrap();
        let mut slices = 1;
        while redaction.step(&body, &rules, 1000) == Progress::More {
            slices += 1;
        }
        // Bytes, and the one name's decision (a slice stops at or just past its budget).
        let least = (body.len() + NAME_WORK).div_ceil(1000);
        assert!((least..=least + 1).contains(&slices), "{slices}");
    }
}
