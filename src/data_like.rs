//! Whether a name in a reported path could be data: the one rule for every JSON key and URL
//! path segment the plugin writes into a log line or a metric label (mismatch lines, the
//! summary's differing paths, endpoint templates), so that `sessions.sk_live_abc123.n` or
//! `/users/jane.doe@example.com` never carries the id or the address.
//!
//! A name is data-like when it holds an ASCII digit, an `@`, any byte outside `[A-Za-z_-]`
//! (digits and `@` included; so are `.`, `%`, spaces and every non-ASCII byte), or is longer
//! than `MAX_NAME_BYTES`. Such a name is written `{}`; an array index is written `*`. Names
//! like `user`, `created_at`, `x-request-id` stay readable; `v2`, `items3`, a UUID, an email,
//! a hash, a long random token do not.

/// Longer names are taken for data (a token, a hash, a sentence), whatever their bytes.
pub const MAX_NAME_BYTES: usize = 32;

/// What a data-like key or segment is written as.
pub const DATA: &str = "{}";

/// What an array index is written as.
pub const INDEX: &str = "*";

/// Whether the JSON key or URL path segment `name` (decoded) could be data.
pub fn is_data_like(name: &[u8]) -> bool {
    name.len() > MAX_NAME_BYTES
        || name
            .iter()
            .any(|byte| !(byte.is_ascii_alphabetic() || matches!(byte, b'_' | b'-')))
}

/// `name` as a reported path writes it: itself, or `{}` when it is data-like.
pub fn reported(name: &[u8]) -> &str {
    match std::str::from_utf8(name) {
        Ok(text) if !is_data_like(name) => text,
        _ => DATA,
    }
}

/// A request's `:path` as a log line writes it: each data-like segment `{}`; in the query,
/// each data-like name `{}` and every value `{}` (a value is data by definition).
#[cfg(test)]
pub fn reported_url(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    write_reported_url(path, &mut out);
    out
}

/// `reported_url`, appended to `out` (no string of its own).
pub fn write_reported_url(path: &str, out: &mut String) {
    let (segments, query) = match path.split_once('?') {
        Some((segments, query)) => (segments, Some(query)),
        None => (path, None),
    };
    for (i, segment) in segments.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if !segment.is_empty() {
            out.push_str(reported(segment.as_bytes()));
        }
    }
    if let Some(query) = query {
        out.push('?');
        for (i, pair) in query.split(['&', ';']).enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((name, _)) => {
                    out.push_str(reported(name.as_bytes()));
                    out.push('=');
                    out.push_str(DATA);
                }
                None if !pair.is_empty() => out.push_str(reported(pair.as_bytes())),
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_digits_at_signs_other_bytes_or_length_are_data() {
        for data in [
            &b"sk_live_abc123"[..],
            b"jane.doe@example.com",
            b"v2",
            b"0",
            b"550e8400-e29b-41d4-a716-446655440000",
            b"a b",
            b"caf\xc3\xa9",
            b"a%20b",
            b"@",
            b"abcdefghijklmnopqrstuvwxyzABCDEFG",
        ] {
            assert!(is_data_like(data), "{}", String::from_utf8_lossy(data));
            assert_eq!(reported(data), "{}");
        }
        for name in [
            &b"user"[..],
            b"created_at",
            b"x-request-id",
            b"Items",
            b"",
            b"abcdefghijklmnopqrstuvwxyzABCDEF",
        ] {
            assert!(!is_data_like(name), "{}", String::from_utf8_lossy(name));
            assert_eq!(reported(name).as_bytes(), name);
        }
        assert_eq!(reported(b"\xff"), "{}");
    }

    #[test]
    fn urls_keep_their_shape_and_lose_their_data() {
        assert_eq!(
            reported_url("/users/jane.doe@example.com/orders/42?token=s3cr3t&page=2&x1&flag"),
            "/users/{}/orders/{}?token={}&page={}&{}&flag"
        );
        assert_eq!(reported_url("/"), "/");
        assert_eq!(reported_url("/a//b/"), "/a//b/");
        assert_eq!(reported_url("/a?"), "/a?");
        assert_eq!(reported_url("/a?b=1;c=2"), "/a?b={}&c={}");
    }
}
