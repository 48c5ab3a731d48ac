//! Property tests of the redactors: for generated queries, form bodies, multipart bodies and
//! JSON documents that hold a configured secret under any spelling the naming rules cover
//! (`names`), the secret's value never appears in the copy, and every other byte is as sent.
//!
//! Each case is generated twice over: as the client sends it, and as the copy must be (the
//! secret's values replaced); the redactor's output must equal the second exactly.

use crate::config::Config;
use crate::redact::body::{redact_body, BodyHeaders};
use crate::redact::query::{redact_query, Parameters};
use crate::redact::Redaction;
use proptest::prelude::*;

/// Every secret value carries this, and nothing else generated does (fillers are lower-case).
const MARK: &str = "SECRET";

fn redaction() -> Redaction {
    let config = r#"{"targets": [{"cluster": "c"}], "redact": {
        "query_params": ["token", "api_key"], "json_fields": ["**.password"], "replacement": "REDACTED"}}"#;
    Config::parse(config.as_bytes()).unwrap().redaction
}

/// A secret value: the mark and some digits, optionally percent-encoded characters around it.
fn secret_value() -> impl Strategy<Value = String> {
    ("[0-9]{0,6}", prop::bool::ANY).prop_map(|(digits, encoded)| {
        if encoded {
            format!("%2F{MARK}{digits}%26")
        } else {
            format!("{MARK}{digits}")
        }
    })
}

/// `token` as a server could read it: any case per letter, some letters percent-encoded (or as
/// IIS's `%u`), the Kelvin sign for `k`, `+`-free; then bare, with a bracket suffix, or nested.
fn token_spelling() -> impl Strategy<Value = String> {
    let letter = |c: char| {
        let upper = c.to_ascii_uppercase();
        let mut choices = vec![
            c.to_string(),
            upper.to_string(),
            format!("%{:02X}", c as u8),
            format!("%{:02x}", upper as u8),
            format!("%u{:04X}", c as u32),
        ];
        if c == 'k' {
            choices.push("%E2%84%AA".to_string()); // U+212A KELVIN SIGN, percent-encoded
        }
        prop::sample::select(choices)
    };
    let name = ("token".chars().map(letter).collect::<Vec<_>>()).prop_map(|parts| parts.concat());
    let wrap = prop::sample::select(vec![
        "{}", "{}[]", "{}[0]", "{}[a]", "{}%5B%5D", "user[{}]", "Input.{}", "a.{}.b",
    ]);
    (name, wrap).prop_map(|(name, wrap)| wrap.replace("{}", &name))
}

/// A parameter that must stay as sent: names and values never spell `token` or the mark.
fn filler_pair() -> impl Strategy<Value = (String, String)> {
    ("[a-m]{1,6}(\\[[a-m0-9]{0,2}\\])?", "[a-z0-9%+=]{0,8}")
}

/// `api_key` as PHP binds it: `.`, a space (`+`, `%20`) or a `[` without its `]` for the `_`.
fn api_key_spelling() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["_", ".", "+", "%20", "[", "%5B", "%2E"])
        .prop_map(|joint| format!("api{joint}key"))
}

/// A configured name as some common server reads it: `token` or `api_key` in any of their
/// spellings, after the leading spaces that PHP and Rack drop or the `!` Spring drops.
fn secret_name() -> impl Strategy<Value = String> {
    let prefix = prop::sample::select(vec!["", "", " ", "+", "%20%20", "!", "%21"]);
    (prefix, prop_oneof![token_spelling(), api_key_spelling()])
        .prop_map(|(prefix, name)| format!("{prefix}{name}"))
}

#[derive(Debug, Clone)]
enum Param {
    Secret(String, String),
    Filler(String, String),
    /// A name without `=`: no value, nothing to hide.
    Bare(String),
}

fn params() -> impl Strategy<Value = (Vec<Param>, Vec<char>)> {
    let param = prop_oneof![
        (secret_name(), secret_value()).prop_map(|(n, v)| Param::Secret(n, v)),
        filler_pair().prop_map(|(n, v)| Param::Filler(n, v)),
        "[a-m]{0,4}".prop_map(Param::Bare),
    ];
    prop::collection::vec(param, 1..12).prop_flat_map(|params| {
        let separators = prop::collection::vec(prop::sample::select(vec!['&', ';']), params.len());
        (Just(params), separators)
    })
}

/// The pairs as sent (`redacted` false) or as the copy must carry them.
fn render_params(params: &[Param], separators: &[char], redacted: bool) -> String {
    let mut out = String::new();
    for (i, param) in params.iter().enumerate() {
        if i > 0 {
            out.push(separators.get(i).copied().unwrap_or('&'));
        }
        match param {
            Param::Secret(name, value) => {
                let value = if redacted { "REDACTED" } else { value.as_str() };
                out.push_str(&format!("{name}={value}"));
            }
            Param::Filler(name, value) => out.push_str(&format!("{name}={value}")),
            Param::Bare(name) => out.push_str(name),
        }
    }
    out
}

/// A JSON document: objects and arrays with filler keys (letters that never spell `password`)
/// and secret members whose key is `password` in any case, escaped or with Go's `ſ` for `s`.
#[derive(Debug, Clone)]
enum Doc {
    Filler(String),
    Secret(Box<Doc>),
    Object(Vec<(String, Doc)>),
    Array(Vec<Doc>),
}

fn password_key() -> impl Strategy<Value = String> {
    let letter = |c: char| {
        let mut choices = vec![
            c.to_string(),
            c.to_ascii_uppercase().to_string(),
            format!("\\u{:04x}", c as u32),
            format!("\\u{:04X}", c.to_ascii_uppercase() as u32),
        ];
        if c == 's' {
            choices.push("\u{17F}".to_string());
            choices.push("\\u017f".to_string());
        }
        prop::sample::select(choices)
    };
    "password"
        .chars()
        .map(letter)
        .collect::<Vec<_>>()
        .prop_map(|parts| parts.concat())
}

/// A secret value: a string with the mark, or a structure holding it (replaced whole).
fn secret_json() -> impl Strategy<Value = Doc> {
    prop_oneof![
        "[0-9]{0,4}".prop_map(|d| Doc::Filler(format!("\"{MARK}{d}\\n\""))),
        "[0-9]{0,4}".prop_map(|d| Doc::Object(vec![(
            "x".to_string(),
            Doc::Filler(format!("[\"{MARK}{d}\"]"))
        )])),
    ]
}

fn doc() -> impl Strategy<Value = Doc> {
    let leaf = prop_oneof![
        Just(Doc::Filler("null".into())),
        Just(Doc::Filler("-1.5e3".into())),
        Just(Doc::Filler("true".into())),
        "[a-z0-9 ]{0,6}".prop_map(|s| Doc::Filler(format!("\"{s}\""))),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        let member = prop_oneof![
            ("[a-o]{1,5}", inner.clone()).prop_map(|(k, v)| (k, v)),
            (password_key(), secret_json()).prop_map(|(k, v)| (k, Doc::Secret(Box::new(v)))),
        ];
        prop_oneof![
            prop::collection::vec(member, 0..5).prop_map(Doc::Object),
            prop::collection::vec(inner, 0..5).prop_map(Doc::Array),
        ]
    })
}

fn render_doc(doc: &Doc, space: &str, redacted: bool, out: &mut String) {
    match doc {
        Doc::Filler(text) => out.push_str(text),
        Doc::Secret(value) => {
            if redacted {
                out.push_str("\"REDACTED\"");
            } else {
                render_doc(value, space, redacted, out);
            }
        }
        Doc::Object(members) => {
            out.push('{');
            for (i, (key, value)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&format!("{space}\"{key}\"{space}:{space}"));
                render_doc(value, space, redacted, out);
            }
            out.push_str(space);
            out.push('}');
        }
        Doc::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(space);
                render_doc(item, space, redacted, out);
            }
            out.push(']');
        }
    }
}

fn rendered(doc: &Doc, space: &str, redacted: bool) -> String {
    let mut out = String::new();
    render_doc(doc, space, redacted, &mut out);
    out
}

fn typed(content_type: &str) -> BodyHeaders {
    let mut headers = BodyHeaders::default();
    headers.add("content-type", content_type.as_bytes());
    headers
}

/// What the copy carries for `body`: the redactor's output, or the body unchanged.
fn copied(body: &[u8], headers: &BodyHeaders) -> Vec<u8> {
    redact_body(body, headers, &redaction())
        .unwrap()
        .unwrap_or_else(|| body.to_vec())
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn query_secrets_never_survive(
        (params, separators) in params(),
        path in "/[a-z/]{0,8}",
    ) {
        let redaction = redaction();
        let sent = format!("{path}?{}", render_params(&params, &separators, false));
        let parameters = Parameters {
            names: &redaction.query_params,
            case_sensitive: false,
            replacement: &redaction.replacement,
        };
        let copy = redact_query(&sent, parameters).unwrap_or_else(|| sent.clone());
        prop_assert!(!copy.contains(MARK), "{copy}");
        let expected = format!("{path}?{}", render_params(&params, &separators, true));
        prop_assert_eq!(copy, expected);
    }

    #[test]
    fn form_secrets_never_survive((params, separators) in params(), typed_as_form in any::<bool>()) {
        let sent = render_params(&params, &separators, false);
        let headers = if typed_as_form {
            typed("application/x-www-form-urlencoded")
        } else {
            BodyHeaders::default()
        };
        let copy = copied(sent.as_bytes(), &headers);
        prop_assert!(!contains(&copy, MARK), "{}", String::from_utf8_lossy(&copy));
        prop_assert_eq!(copy, render_params(&params, &separators, true).into_bytes());
    }

    #[test]
    fn multipart_secrets_never_survive(
        (params, _) in params(),
        boundary in "[a-z0-9'()+_,./:=?-]{1,40}",
    ) {
        // One part per parameter: named parts hold a secret; filler parts keep their content.
        let part = |name: &str, content: &str| {
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{content}\r\n")
        };
        let body = |redacted: bool| {
            let mut body = String::new();
            for param in &params {
                match param {
                    Param::Secret(name, value) => {
                        body.push_str(&part(name, if redacted { "REDACTED" } else { value }));
                    }
                    Param::Filler(name, value) => body.push_str(&part(name, value)),
                    Param::Bare(name) => body.push_str(&part(name, "")),
                }
            }
            body.push_str(&format!("--{boundary}--\r\n"));
            body
        };
        let sent = body(false);
        prop_assume!(sent.matches(&format!("--{boundary}")).count() == params.len() + 1);
        let headers = typed(&format!("multipart/form-data; boundary=\"{boundary}\""));
        let copy = copied(sent.as_bytes(), &headers);
        prop_assert!(!contains(&copy, MARK), "{}", String::from_utf8_lossy(&copy));
        prop_assert_eq!(String::from_utf8(copy).unwrap(), body(true));
    }

    #[test]
    fn json_secrets_never_survive(
        doc in doc(),
        space in prop::sample::select(vec!["", " ", "\n\t", "\r\n  "]),
        content_type in prop::sample::select(vec![
            "application/json", "text/json", "application/x-json", "text/plain",
            "application/vnd.api+json; charset=utf-8", "",
        ]),
    ) {
        let sent = rendered(&doc, space, false);
        let headers = if content_type.is_empty() { BodyHeaders::default() } else { typed(content_type) };
        let copy = copied(sent.as_bytes(), &headers);
        prop_assert!(!contains(&copy, MARK), "{sent} -> {}", String::from_utf8_lossy(&copy));
        prop_assert_eq!(String::from_utf8(copy).unwrap(), rendered(&doc, space, true));
    }
}
