//! `match`, at the top level and in a target: which requests are copied.

use super::fields::{describe, strings, Field, FieldDefault, Fields};
use crate::http::{header_name, is_token_char};
use crate::matching::{HeaderCondition, Match};
use serde_json::Value;

/// The fields of a `match` block.
pub const MATCH_FIELDS: &[Field] = &[
    Field::new("methods").default(FieldDefault::Texts(&[])),
    Field::new("path_prefixes").default(FieldDefault::Texts(&[])),
    Field::new("headers").default(FieldDefault::Texts(&[])),
];

/// The fields of each of a `match` block's `headers`.
pub const HEADER_CONDITION_FIELDS: &[Field] = &[
    Field::new("name").default(FieldDefault::Required),
    Field::new("exact"),
    Field::new("present"),
];

pub(super) fn request_match(value: &Value, place: &str) -> Result<Match, String> {
    let fields = Fields::of(
        value,
        place,
        "an object with `methods`, `path_prefixes` and/or `headers`",
        MATCH_FIELDS,
    )?;
    let conditions = match fields.get("headers") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(index, item)| header_condition(item, &format!("{place}headers[{index}]: ")))
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(format!(
                "{place}`headers` must be a list of header conditions, got {}",
                describe(other)
            ))
        }
    };
    Ok(Match {
        methods: fields
            .scalar("methods", "a list of HTTP methods such as \"GET\"", |v| {
                strings(v, |m| {
                    (!m.is_empty() && m.chars().all(is_token_char)).then(|| m.to_string())
                })
            })?
            .unwrap_or_default(),
        path_prefixes: fields
            .scalar("path_prefixes", "a list of paths starting with /", |v| {
                strings(v, |p| p.starts_with('/').then(|| p.to_string()))
            })?
            .unwrap_or_default(),
        headers: conditions,
    })
}

fn header_condition(value: &Value, place: &str) -> Result<HeaderCondition, String> {
    let fields = Fields::of(
        value,
        place,
        "an object with `name` and `exact` or `present`",
        HEADER_CONDITION_FIELDS,
    )?;
    let name = fields.required_scalar("name", "a header name", |v| {
        v.as_str().and_then(header_name)
    })?;
    let exact = fields.scalar("exact", "a string", |v| v.as_str().map(String::from))?;
    let present = fields.scalar("present", "true or false", Value::as_bool)?;
    match (exact, present) {
        (Some(value), None) => Ok(HeaderCondition::Exact { name, value }),
        (None, Some(present)) => Ok(HeaderCondition::Present { name, present }),
        _ => Err(format!("{place}give exactly one of `exact` and `present`")),
    }
}
