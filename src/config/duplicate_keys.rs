//! A key given twice in one object of the plugin configuration: serde_json keeps the last one
//! silently, so a second `"redact": {"headers": []}` further down a long configuration would
//! turn header redaction off unseen (issue 17). The configuration's text is read once more,
//! after serde_json accepted it, only to find such a key: one pass, each object's keys in a
//! set, keys compared as serde_json decodes them (`"h\u0065aders"` is `headers`).

use serde_json::Value;
use std::collections::HashSet;

/// Deeper configurations are refused by serde_json before this scan runs (its recursion limit
/// is 128); the scan stops there too rather than recurse further.
const MAX_DEPTH: usize = 128;

/// The first key given twice, and where: the object's place as the configuration's errors
/// name it (`redact: `, `targets[1]: compare: `; empty for the top level).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub key: String,
    pub place: String,
}

/// The first key given twice in one object of `json`, which serde_json has parsed; `None` when
/// every object names each key once (or the text is not what serde_json accepted).
pub fn first_duplicate(json: &[u8]) -> Option<Duplicate> {
    let mut scan = Scan {
        bytes: json,
        at: 0,
        place: Vec::new(),
    };
    match scan.value(0) {
        Err(Stop::Duplicate(duplicate)) => Some(duplicate),
        Ok(()) | Err(Stop::Malformed) => None,
    }
}

enum Stop {
    Duplicate(Duplicate),
    /// Not JSON as serde_json reads it: serde_json has said so already.
    Malformed,
}

/// A step of the place: an object's key or an array's index.
enum Step {
    Key(String),
    Index(usize),
}

struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
    place: Vec<Step>,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn consume(&mut self, byte: u8) -> Result<(), Stop> {
        self.whitespace();
        if self.peek() != Some(byte) {
            return Err(Stop::Malformed);
        }
        self.at += 1;
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<(), Stop> {
        if depth > MAX_DEPTH {
            return Err(Stop::Malformed);
        }
        self.whitespace();
        match self.peek().ok_or(Stop::Malformed)? {
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'"' => self.string().map(drop),
            _ => {
                // A number or a literal: up to the next delimiter.
                while self.peek().is_some_and(|b| {
                    !matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
                }) {
                    self.at += 1;
                }
                Ok(())
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<(), Stop> {
        self.consume(b'{')?;
        let mut keys: HashSet<String> = HashSet::new();
        self.whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.whitespace();
            let key = self.string()?;
            if keys.contains(&key) {
                return Err(Stop::Duplicate(Duplicate {
                    key,
                    place: self.rendered_place(),
                }));
            }
            self.consume(b':')?;
            self.place.push(Step::Key(key.clone()));
            self.value(depth + 1)?;
            self.place.pop();
            keys.insert(key);
            self.whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(Stop::Malformed),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), Stop> {
        self.consume(b'[')?;
        self.whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        let mut index = 0;
        loop {
            self.place.push(Step::Index(index));
            self.value(depth + 1)?;
            self.place.pop();
            index += 1;
            self.whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(Stop::Malformed),
            }
        }
    }

    /// A string, decoded as serde_json decodes it.
    fn string(&mut self) -> Result<String, Stop> {
        let start = self.at;
        self.consume(b'"')?;
        loop {
            match self.peek().ok_or(Stop::Malformed)? {
                b'"' => break,
                b'\\' => self.at += 2,
                _ => self.at += 1,
            }
        }
        self.at += 1;
        let token = self.bytes.get(start..self.at).ok_or(Stop::Malformed)?;
        match serde_json::from_slice::<Value>(token) {
            Ok(Value::String(text)) => Ok(text),
            _ => Err(Stop::Malformed),
        }
    }

    /// `targets[1]: compare: `, as the configuration's errors name places.
    fn rendered_place(&self) -> String {
        let mut out = String::new();
        for step in &self.place {
            match step {
                Step::Key(key) => {
                    out.push_str(": ");
                    out.push_str(key);
                }
                Step::Index(index) => out.push_str(&format!("[{index}]")),
            }
        }
        match out.strip_prefix(": ") {
            Some(place) => format!("{place}: "),
            None => out,
        }
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
    fn many_keys_cost_one_pass() {
        let members: Vec<String> = (0..50_000).map(|i| format!("\"k{i}\": {i}")).collect();
        let text = format!("{{{}}}", members.join(","));
        assert_eq!(duplicate(&text), None);
        let text = format!("{{{}, \"k7\": 0}}", members.join(","));
        assert_eq!(duplicate(&text), Some(("k7".to_string(), String::new())));
    }
}
