//! Redacting `name=value` pairs, in the query string and in `application/x-www-form-urlencoded`
//! bodies alike (one function, so a form post is scrubbed exactly as a query): the value of
//! each named parameter is replaced, every other byte stays as sent.
//!
//! Pairs are separated by `&` and also by `;`, which older servers (Python before 3.9.2, some
//! Java containers) treat as a separator too: a value is never taken for a name's neighbour.
//! Names are compared as `names::names_parameter` says.

use crate::names::names_parameter;

/// The names to redact and how to compare them: `redact.query_params`, `redact.case_sensitive`.
#[derive(Debug, Clone, Copy)]
pub struct Parameters<'a> {
    pub names: &'a [String],
    pub case_sensitive: bool,
    /// What a redacted value becomes (percent-encoded on the way in).
    pub replacement: &'a str,
}

/// The path with the value of every named parameter replaced, or `None` when no parameter is
/// named (the path goes as it is).
pub fn redact_query(path: &str, parameters: Parameters<'_>) -> Option<String> {
    if parameters.names.is_empty() {
        return None;
    }
    let (before, query) = path.split_once('?')?;
    let redacted = redact_pairs(query.as_bytes(), parameters)?;
    // Only whole values between ASCII separators were replaced, by ASCII: still UTF-8.
    let redacted = String::from_utf8_lossy(&redacted);
    Some(format!("{before}?{redacted}"))
}

/// `text` (a query string or a form body) with the value of every named parameter replaced,
/// or `None` when no parameter is named. One pass; the output is built once.
pub fn redact_pairs(text: &[u8], parameters: Parameters<'_>) -> Option<Vec<u8>> {
    if parameters.names.is_empty() {
        return None;
    }
    let replacement = percent_encoded(parameters.replacement);
    let mut out = Vec::with_capacity(text.len());
    let mut redacted = false;
    for piece in text.split_inclusive(|byte| is_separator(*byte)) {
        let (pair, separator) = match piece.split_last() {
            Some((last, pair)) if is_separator(*last) => (pair, Some(*last)),
            _ => (piece, None),
        };
        let name = pair
            .iter()
            .position(|byte| *byte == b'=')
            .and_then(|at| pair.get(..at));
        match name {
            Some(name) if is_named(name, parameters) => {
                redacted = true;
                out.extend_from_slice(name);
                out.push(b'=');
                out.extend_from_slice(replacement.as_bytes());
                out.extend(separator);
            }
            _ => out.extend_from_slice(piece),
        }
    }
    redacted.then_some(out)
}

/// Whether the value of a pair whose name (before its first `=`) is `name` is replaced.
pub fn is_named(name: &[u8], parameters: Parameters<'_>) -> bool {
    names_parameter(name, parameters.names, parameters.case_sensitive)
}

pub fn is_separator(byte: u8) -> bool {
    byte == b'&' || byte == b';'
}

/// Everything but RFC 3986's unreserved characters, percent-encoded.
pub fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    fn redact_query(path: &str, names: &[String], replacement: &str) -> Option<String> {
        super::redact_query(path, parameters(names, replacement))
    }

    fn parameters<'a>(names: &'a [String], replacement: &'a str) -> Parameters<'a> {
        Parameters {
            names,
            case_sensitive: false,
            replacement,
        }
    }

    #[test]
    fn replaces_named_values_and_keeps_everything_else() {
        let redacted = redact_query(
            "/login?user=ann&token=s3cr%2Ft&x=1&token=again",
            &names(&["token"]),
            "REDACTED",
        );
        assert_eq!(
            redacted.as_deref(),
            Some("/login?user=ann&token=REDACTED&x=1&token=REDACTED")
        );
    }

    #[test]
    fn leaves_paths_without_named_parameters_alone() {
        assert_eq!(redact_query("/login", &names(&["token"]), "R"), None);
        assert_eq!(
            redact_query("/login?user=ann&tokens=1", &names(&["token"]), "R"),
            None
        );
        assert_eq!(
            redact_query("/login?token", &names(&["token"]), "R"),
            None,
            "no value, no secret"
        );
        assert_eq!(redact_query("/login?a=1", &[], "R"), None);
    }

    #[test]
    fn names_are_compared_percent_decoded() {
        let redacted = redact_query(
            "/?%74oken=1&access%5Ftoken=2",
            &names(&["token", "access_token"]),
            "X",
        );
        assert_eq!(redacted.as_deref(), Some("/?%74oken=X&access%5Ftoken=X"));
    }

    #[test]
    fn replacement_is_percent_encoded() {
        let redacted = redact_query("/?token=1", &names(&["token"]), "a b&c=d/é");
        assert_eq!(redacted.as_deref(), Some("/?token=a%20b%26c%3Dd%2F%C3%A9"));
    }

    #[test]
    fn empty_and_odd_parameters_survive() {
        let redacted = redact_query("/p?&token=1&&=x&%zz=2", &names(&["token"]), "R");
        assert_eq!(redacted.as_deref(), Some("/p?&token=R&&=x&%zz=2"));
    }

    #[test]
    fn every_spelling_a_server_binds_to_the_name_is_redacted() {
        let path = "/?TOKEN=1&token[]=2&token%5B0%5D=3&user[token]=4&Input.Token=5&%54oken=6&to%u006Ben=7&tokens=8&token-id=9";
        let redacted = redact_query(path, &names(&["token"]), "R");
        assert_eq!(
            redacted.as_deref(),
            Some("/?TOKEN=R&token[]=R&token%5B0%5D=R&user[token]=R&Input.Token=R&%54oken=R&to%u006Ben=R&tokens=8&token-id=9")
        );
    }

    #[test]
    fn semicolons_separate_pairs_too() {
        let redacted = redact_query("/?a=1;token=2;b=3&token=4;", &names(&["token"]), "R");
        assert_eq!(redacted.as_deref(), Some("/?a=1;token=R;b=3&token=R;"));
    }

    #[test]
    fn case_sensitive_compares_exactly() {
        let names = names(&["token"]);
        let exact = Parameters {
            case_sensitive: true,
            ..parameters(&names, "R")
        };
        assert_eq!(super::redact_query("/?TOKEN=1&Token=2", exact), None);
        assert_eq!(
            super::redact_query("/?TOKEN=1&token[]=2", exact).as_deref(),
            Some("/?TOKEN=1&token[]=R")
        );
    }

    #[test]
    fn form_bodies_follow_the_same_rules_byte_for_byte() {
        let names = names(&["password"]);
        let body = b"user=ann&Password=hunter2&note=\xff\x00%zz&user[password]=x+y";
        let redacted = redact_pairs(body, parameters(&names, "R")).unwrap();
        assert_eq!(
            redacted,
            b"user=ann&Password=R&note=\xff\x00%zz&user[password]=R".to_vec()
        );
        assert_eq!(redact_pairs(b"user=ann", parameters(&names, "R")), None);
        assert_eq!(redact_pairs(b"", parameters(&names, "R")), None);
        assert_eq!(
            redact_pairs(b"password", parameters(&names, "R")),
            None,
            "a name without a value carries no secret"
        );
        assert_eq!(
            redact_pairs(b"password=", parameters(&names, "R")),
            Some(b"password=R".to_vec())
        );
        assert_eq!(
            redact_pairs(b"a==b&password==x=y", parameters(&names, "R")),
            Some(b"a==b&password=R".to_vec()),
            "the value runs to the separator, `=` included"
        );
    }
}
