//! Scrubbing secrets out of copies before they leave: headers here, the query string in
//! `query`, JSON bodies in `json`.

pub mod json;
pub mod query;

/// Whether a header named `name` must be left out of copies. Configured names are
/// lower-case; the comparison ignores case anyway, so a host that keeps the client's spelling
/// still cannot leak a secret.
pub fn removes_header(redacted: &[String], name: &str) -> bool {
    redacted
        .iter()
        .any(|secret| secret.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_names_ignoring_case() {
        let redacted = vec!["authorization".to_string(), "x-api-key".to_string()];
        assert!(removes_header(&redacted, "authorization"));
        assert!(removes_header(&redacted, "Authorization"));
        assert!(removes_header(&redacted, "X-API-KEY"));
        assert!(!removes_header(&redacted, "x-api-key-id"));
        assert!(!removes_header(&redacted, "authorizatio"));
    }

    #[test]
    fn empty_list_removes_nothing() {
        assert!(!removes_header(&[], "authorization"));
    }
}
