//! A key given twice in one object of the plugin configuration: serde_json keeps the last one
//! silently, so a second `"redact": {"headers": []}` further down a long configuration would
//! turn header redaction off unseen (issue 17). The configuration's text is read once more,
//! after serde_json accepted it, only to find such a key: one pass of the plugin's JSON
//! tokenizer (`crate::json`, the reader of bodies too), each open object's keys in a set, keys
//! compared as decoded (`"h\u0065aders"` is `headers`).

use crate::json::{text, Token, Tokenizer};
use std::collections::HashSet;

/// The first key given twice, and where: the object's place as the configuration's errors
/// name it (`redact: `, `targets[1]: compare: `; empty for the top level).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub key: String,
    pub place: String,
}

/// An open container, innermost last: what the place of a duplicate is made of.
enum Open {
    /// The keys read so far (decoded), and the last one: the member being read.
    Object {
        keys: HashSet<Vec<u8>>,
        key: Vec<u8>,
    },
    /// Values begun so far: the one being read is the last.
    Array { items: usize },
}

/// The first key given twice in one object of `json`, which serde_json has parsed; `None` when
/// every object names each key once (or the text is not what serde_json accepted).
///
/// Linear in the text: each byte is tokenized once, each key decoded once and hashed into its
/// object's set; the place is rendered only for the duplicate. The tokenizer bounds the depth
/// (`json::MAX_DEPTH`, above serde_json's own limit), so the stack of open containers too.
pub fn first_duplicate(json: &[u8]) -> Option<Duplicate> {
    let mut tokenizer = Tokenizer::new();
    let mut open: Vec<Open> = Vec::new();
    let mut decoded = Vec::new();
    // A malformed text ends the scan with `None`: serde_json has said so already.
    while let Some(token) = tokenizer.next(json).ok()? {
        // serde_json refuses a lone surrogate anywhere; the tokenizer accepts it as syntax.
        if tokenizer.lone_surrogates() {
            return None;
        }
        if token.starts_value() {
            if let Some(Open::Array { items }) = open.last_mut() {
                *items += 1;
            }
        }
        match token {
            Token::ObjectStart => open.push(Open::Object {
                keys: HashSet::new(),
                key: Vec::new(),
            }),
            Token::ArrayStart => open.push(Open::Array { items: 0 }),
            Token::ObjectEnd | Token::ArrayEnd => {
                open.pop();
            }
            Token::Key => {
                let string = tokenizer.string();
                decoded.clear();
                text::decode(string.content(json), &mut decoded);
                let (enclosing, innermost) = match open.split_last_mut() {
                    Some((Open::Object { keys, key }, enclosing)) => (enclosing, (keys, key)),
                    // The tokenizer gives keys inside objects only.
                    _ => return None,
                };
                let (keys, key) = innermost;
                if keys.contains(&decoded) {
                    return Some(Duplicate {
                        key: String::from_utf8_lossy(&decoded).into_owned(),
                        place: rendered_place(enclosing),
                    });
                }
                keys.insert(decoded.clone());
                key.clone_from(&decoded);
            }
            Token::String | Token::Number | Token::True | Token::False | Token::Null => {}
        }
    }
    None
}

/// `targets[1]: compare: `, as the configuration's errors name places: the member or item
/// each enclosing container is reading.
fn rendered_place(enclosing: &[Open]) -> String {
    let mut out = String::new();
    for container in enclosing {
        match container {
            Open::Object { key, .. } => {
                out.push_str(": ");
                out.push_str(&String::from_utf8_lossy(key));
            }
            Open::Array { items } => out.push_str(&format!("[{}]", items.saturating_sub(1))),
        }
    }
    match out.strip_prefix(": ") {
        Some(place) => format!("{place}: "),
        None => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duplicate(json: &str) -> Option<(String, String)> {
        first_duplicate(json.as_bytes()).map(|d| (d.key, d.place))
    }

    #[test]
    fn a_key_twice_in_one_object_is_found_with_its_place() {
        let found = |key: &str, place: &str| Some((key.to_string(), place.to_string()));
        assert_eq!(duplicate(r#"{"a": 1, "a": 2}"#), found("a", ""));
        assert_eq!(
            duplicate(r#"{"redact": {"headers": ["x"], "query_params": [], "headers": []}}"#),
            found("headers", "redact: ")
        );
        assert_eq!(
            duplicate(
                r#"{"targets": [{"cluster": "a"}, {"cluster": "b", "compare": {"body": "json", "body": "bytes"}}]}"#
            ),
            found("body", "targets[1]: compare: ")
        );
        assert_eq!(
            duplicate(r#"{"redact": {}, "targets": [], "redact": {"headers": []}}"#),
            found("redact", "")
        );
        assert_eq!(
            duplicate(r#"{"headers": 1, "h\u0065aders": 2}"#),
            found("headers", ""),
            "keys compare as decoded"
        );
    }

    #[test]
    fn keys_whose_escapes_decode_alike_are_the_same_key() {
        let found = |key: &str, place: &str| Some((key.to_string(), place.to_string()));
        assert_eq!(duplicate(r#"{"a": 1, "\u0061": 2}"#), found("a", ""));
        assert_eq!(
            duplicate(r#"{"targets": [{"set_headers": {"x-\u00e9": "1", "x-é": "2"}}]}"#),
            found("x-é", "targets[0]: set_headers: ")
        );
        assert_eq!(
            duplicate(r#"{"\ud83d\ude00": 1, "😀": 2}"#),
            found("😀", ""),
            "a surrogate pair is its character"
        );
        assert_eq!(duplicate(r#"{"a/b": 1, "a\/b": 2}"#), found("a/b", ""));
        assert_eq!(
            duplicate(r#"{"a": 1, "\u0041": 2, "a\u0000": 3}"#),
            None,
            "escapes that decode to other text are other keys"
        );
    }

    #[test]
    fn the_same_key_in_different_objects_is_fine() {
        for fine in [
            r#"{"a": {"a": {"a": 1}}, "b": [{"a": 1}, {"a": 2}]}"#,
            r#"{"a": "\"a\": 1, \"a\": 2", "b": "\\"}"#,
            r#"[]"#,
            r#"{}"#,
            r#" { "a" : [ 1 , 2.5e3 , true , null , "x" ] } "#,
        ] {
            assert_eq!(duplicate(fine), None, "{fine}");
        }
    }

    #[test]
    fn what_serde_json_refused_is_left_to_its_error() {
        for malformed in [
            r#"{"a": 1"#,
            r#"{"a" 1}"#,
            r#"{"a": "#,
            "[1,",
            "\"",
            "{\"a\\",
        ] {
            assert_eq!(duplicate(malformed), None, "{malformed}");
        }
    }

    #[test]
    fn what_serde_json_refuses_but_json_syntax_allows_is_left_to_its_error_too() {
        // A lone surrogate is valid syntax, which serde_json refuses: no duplicate is named.
        assert_eq!(duplicate(r#"{"\ud800": 1, "\ud800": 2}"#), None);
        assert_eq!(duplicate(r#"{"a": "\udc00", "b": 1, "b": 2}"#), None);
        // Deeper than serde_json (and the tokenizer) read: the scan stops there.
        let nested = |depth: usize| {
            let (open, close) = ("[".repeat(depth), "]".repeat(depth));
            format!(r#"{{"x": {open}{{"a": 1, "a": 2}}{close}}}"#)
        };
        assert_eq!(duplicate(&nested(200)), None);
        assert_eq!(
            duplicate(&nested(2)),
            Some(("a".to_string(), "x[0][0]: ".to_string()))
        );
    }

    /// A generated configuration-like value, its keys from a small set so that they repeat.
    #[derive(Debug, Clone)]
    enum Shape {
        Leaf,
        Array(Vec<Shape>),
        Object(Vec<(&'static str, bool, Shape)>),
    }

    fn shape() -> impl proptest::strategy::Strategy<Value = Shape> {
        use proptest::prelude::*;
        Just(Shape::Leaf).prop_recursive(5, 40, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Shape::Array),
                prop::collection::vec(
                    (
                        prop::sample::select(vec!["a", "b", "ab", "é"]),
                        any::<bool>(),
                        inner
                    ),
                    0..4
                )
                .prop_map(Shape::Object),
            ]
        })
    }

    /// The text of `shape`; a key marked `escaped` has its first character as a `\u` escape.
    fn text(shape: &Shape) -> String {
        match shape {
            Shape::Leaf => "1".into(),
            Shape::Array(items) => {
                let items: Vec<String> = items.iter().map(text).collect();
                format!("[{}]", items.join(", "))
            }
            Shape::Object(members) => {
                let members: Vec<String> = members
                    .iter()
                    .map(|(key, escaped, value)| {
                        let mut chars = key.chars();
                        let key = match (escaped, chars.next()) {
                            (true, Some(first)) => {
                                format!("\\u{:04x}{}", u32::from(first), chars.as_str())
                            }
                            _ => key.to_string(),
                        };
                        format!("\"{key}\": {}", text(value))
                    })
                    .collect();
                format!("{{{}}}", members.join(", "))
            }
        }
    }

    /// The first key given twice, found on the structure: members in order, each value read
    /// before the next key. `path`: the members and items that lead to `shape`.
    fn expected(shape: &Shape, path: &mut Vec<String>) -> Option<(String, String)> {
        match shape {
            Shape::Leaf => None,
            Shape::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                path.push(format!("[{i}]"));
                let found = expected(item, path);
                path.pop();
                found
            }),
            Shape::Object(members) => {
                let mut seen = std::collections::HashSet::new();
                members.iter().find_map(|(key, _, value)| {
                    if !seen.insert(*key) {
                        return Some((key.to_string(), place(path)));
                    }
                    path.push(format!(": {key}"));
                    let found = expected(value, path);
                    path.pop();
                    found
                })
            }
        }
    }

    /// The place as the configuration's errors write it: `targets[1]: compare: `, empty at the
    /// top; under a top-level array, `[0]` (no member names the place's start).
    fn place(path: &[String]) -> String {
        let joined = path.concat();
        match joined.strip_prefix(": ") {
            Some(place) => format!("{place}: "),
            None => joined,
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// The scan names the duplicate the structure has, with its place, or none.
        #[test]
        fn the_scan_finds_what_the_structure_holds(shape in shape()) {
            let json = text(&shape);
            proptest::prop_assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
            proptest::prop_assert_eq!(duplicate(&json), expected(&shape, &mut Vec::new()), "{}", json);
        }
    }

    #[test]
    fn many_keys_cost_one_pass() {
        let members: Vec<String> = (0..50_000).map(|i| format!("\"k{i}\": {i}")).collect();
        let text = format!("{{{}}}", members.join(","));
        assert_eq!(duplicate(&text), None);
        let text = format!("{{{}, \"k7\": 0}}", members.join(","));
        assert_eq!(duplicate(&text), Some(("k7".to_string(), String::new())));
    }
}
