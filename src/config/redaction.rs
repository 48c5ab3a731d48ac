//! `redact`: what is scrubbed from every copy, read into the `redact::Redaction` it scrubs by.

use super::fields::{
    bounded_strings, within_path_levels, Field, FieldDefault, Fields, LIST_BOUNDS,
    MAX_LIST_ENTRIES, MAX_PATH_LEVELS,
};
use crate::http::header_name;
use crate::json_path::{JsonPath, JsonPaths};
use crate::redact::Redaction;
use serde_json::Value;

pub const DEFAULT_REDACTED_HEADERS: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
];
pub const DEFAULT_REPLACEMENT: &str = "REDACTED";

/// The fields of `redact`.
pub const REDACT_FIELDS: &[Field] = &[
    Field::new("headers")
        .default(FieldDefault::Texts(&DEFAULT_REDACTED_HEADERS))
        .bounds(LIST_BOUNDS),
    Field::new("query_params")
        .default(FieldDefault::Texts(&[]))
        .bounds(LIST_BOUNDS),
    Field::new("json_fields")
        .default(FieldDefault::Texts(&[]))
        .bounds(LIST_BOUNDS),
    Field::new("replacement").default(FieldDefault::Text(DEFAULT_REPLACEMENT)),
    Field::new("case_sensitive").default(FieldDefault::Bool(false)),
];

pub(super) fn redaction(value: &Value, place: &str) -> Result<Redaction, String> {
    let fields = Fields::of(
        value,
        place,
        "an object with `headers`, `query_params`, `json_fields`, `replacement` and/or \
         `case_sensitive`",
        REDACT_FIELDS,
    )?;
    let replacement = fields
        .scalar("replacement", "a string without control characters", |v| {
            v.as_str()
                .filter(|s| !s.chars().any(char::is_control))
                .map(String::from)
        })?
        .unwrap_or_else(|| DEFAULT_REPLACEMENT.to_string());
    Ok(Redaction {
        headers: fields
            .scalar(
                "headers",
                &format!("a list of at most {MAX_LIST_ENTRIES} header names"),
                |v| bounded_strings(v, header_name),
            )?
            .unwrap_or_else(|| DEFAULT_REDACTED_HEADERS.map(String::from).to_vec()),
        query_params: fields
            .scalar(
                "query_params",
                &format!("a list of at most {MAX_LIST_ENTRIES} parameter names"),
                |v| bounded_strings(v, |p| (!p.is_empty()).then(|| p.to_string())),
            )?
            .unwrap_or_default(),
        json_fields: fields
            .scalar(
                "json_fields",
                &format!(
                    "a list of at most {MAX_LIST_ENTRIES} dot paths of at most {MAX_PATH_LEVELS} \
                     levels, such as \"card.number\", \"users.*.ssn\" or \"**.password\""
                ),
                |v| {
                    bounded_strings(v, |p| {
                        within_path_levels(p).then(|| JsonPath::parse(p)).flatten()
                    })
                },
            )?
            .map(JsonPaths::from)
            .unwrap_or_default(),
        json_replacement: Value::String(replacement.clone()).to_string(),
        replacement,
        case_sensitive: fields
            .scalar("case_sensitive", "true or false", Value::as_bool)?
            .unwrap_or(false),
    })
}
