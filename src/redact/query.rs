//! Redacting query parameters: the value of each named parameter is replaced, every other byte
//! of the path stays as sent.

/// The path with the value of every parameter named in `names` replaced by `replacement`
/// (percent-encoded), or `None` when no parameter is named (the path goes as it is).
/// Parameter names are compared after percent-decoding, so `%74oken` is `token` too.
pub fn redact_query(path: &str, names: &[String], replacement: &str) -> Option<String> {
    if names.is_empty() {
        return None;
    }
    let (before, query) = path.split_once('?')?;
    let mut redacted = false;
    let params: Vec<String> = query
        .split('&')
        .map(|param| match param.split_once('=') {
            Some((name, _)) if names.iter().any(|n| percent_decoded(name) == n.as_bytes()) => {
                redacted = true;
                format!("{name}={}", percent_encoded(replacement))
            }
            _ => param.to_string(),
        })
        .collect();
    redacted.then(|| format!("{before}?{}", params.join("&")))
}

fn percent_decoded(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|b| char::from(*b).to_digit(16));
        match (bytes.get(i), hex(i + 1), hex(i + 2)) {
            (Some(b'%'), Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (Some(byte), _, _) => {
                out.push(*byte);
                i += 1;
            }
            (None, _, _) => break,
        }
    }
    out
}

/// Everything but RFC 3986's unreserved characters, percent-encoded.
fn percent_encoded(text: &str) -> String {
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
}
