//! Scrubbing secrets out of copies before they leave: headers here, the query string and form
//! bodies in `query`, JSON in `json`, multipart bodies in `multipart` (JSON in UTF-16 or UTF-32 is recognised by `wide_json`,
//! and not sent); `body` decides which of
//! them a body needs (or that it cannot be made safe); `crate::names` says how names compare.

pub mod body;
pub mod json;
pub mod media_type;
pub mod multipart;
pub mod query;
pub mod sliced;
pub mod wide_json;

#[cfg(test)]
mod properties;

use crate::json_path::{JsonPaths, PathSet};
use crate::redact::query::Parameters;

/// What is scrubbed from every copy, as `redact` configures it (src/config/redaction.rs
/// reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    /// Lower-case header names removed from every copy.
    pub headers: Vec<String>,
    pub query_params: Vec<String>,
    pub json_fields: JsonPaths,
    pub replacement: String,
    /// `replacement` as a JSON string literal, ready to stand in for a JSON value.
    pub json_replacement: String,
    /// Parameter names and JSON keys compared exactly; by default case is ignored, as the
    /// servers that bind them ignore it (see `crate::names`).
    pub case_sensitive: bool,
}

impl Redaction {
    /// `redact.query_params`, how their names compare, and what replaces their values.
    pub fn parameters(&self) -> Parameters<'_> {
        Parameters {
            names: &self.query_params,
            case_sensitive: self.case_sensitive,
            replacement: &self.replacement,
        }
    }

    /// `redact.json_fields` and how their keys compare.
    pub fn json_paths(&self) -> PathSet<'_> {
        PathSet {
            paths: &self.json_fields,
            case_sensitive: self.case_sensitive,
        }
    }
}

/// Whether a header named `name` must be left out of copies. Configured names are
/// lower-case; the comparison ignores case, and `_` stands for `-` (see `names`), so a host
/// that keeps the client's spelling still cannot leak a secret.
pub fn removes_header(redacted: &[String], name: &str) -> bool {
    redacted
        .iter()
        .any(|secret| crate::names::same_header(secret, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_names_ignoring_case_and_underscores() {
        let redacted = vec!["authorization".to_string(), "x-api-key".to_string()];
        assert!(removes_header(&redacted, "authorization"));
        assert!(removes_header(&redacted, "Authorization"));
        assert!(removes_header(&redacted, "X-API-KEY"));
        assert!(removes_header(&redacted, "X_Api_Key"));
        assert!(!removes_header(&redacted, "x-api-key-id"));
        assert!(!removes_header(&redacted, "authorizatio"));
    }

    #[test]
    fn empty_list_removes_nothing() {
        assert!(!removes_header(&[], "authorization"));
    }
}
