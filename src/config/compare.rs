//! A target's `compare` block: shadow verification, read into a `compare::spec::CompareSpec`.

use super::fields::{
    bounded_strings, strings, within_path_levels, Bounds, Field, FieldDefault, Fields, Unit, Whole,
    LIST_BOUNDS, MAX_LIST_ENTRIES, MAX_PATH_LEVELS,
};
use crate::compare::json::IgnoredPath;
use crate::compare::spec::{
    BodyMode, CompareSpec, Reference, DEFAULT_LOG_MISMATCHES_PER_MINUTE, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_FIELDS_PER_ENDPOINT, DEFAULT_NOISE_ABSOLUTE_THRESHOLD,
    DEFAULT_NOISE_RELATIVE_THRESHOLD, DEFAULT_SUMMARY_INTERVAL, MAX_BODY_BYTES_LIMIT,
    MAX_COMPARED_HEADERS, MAX_FIELDS_PER_ENDPOINT_LIMIT, MAX_LOG_MISMATCHES_PER_MINUTE,
    MAX_SUMMARY_INTERVAL_S,
};
use crate::http::header_name;
use serde_json::Value;
use std::time::Duration;

const MAX_BODY_BYTES: Whole = Whole::new(0, MAX_BODY_BYTES_LIMIT, Unit::Bytes);
const LOG_MISMATCHES_PER_MINUTE: Whole =
    Whole::new(0, MAX_LOG_MISMATCHES_PER_MINUTE, Unit::Count).min_means("no mismatch lines");
const SUMMARY_INTERVAL_S: Whole =
    Whole::new(0, MAX_SUMMARY_INTERVAL_S, Unit::Seconds).min_means("no summary");
const MAX_FIELDS_PER_ENDPOINT: Whole =
    Whole::new(0, MAX_FIELDS_PER_ENDPOINT_LIMIT as u64, Unit::Count);
const PERCENT: Bounds = Bounds::Number {
    min: 0.0,
    min_excluded: false,
    max: 100.0,
};

/// The fields of a target's `compare` block.
pub const COMPARE_FIELDS: &[Field] = &[
    Field::new("against").default(FieldDefault::Text("original")),
    Field::new("status").default(FieldDefault::Bool(true)),
    Field::new("headers")
        .default(FieldDefault::Texts(&[]))
        .bounds(Bounds::Items {
            min: 0,
            max: MAX_COMPARED_HEADERS,
        }),
    Field::new("body").default(FieldDefault::Text("none")),
    Field::new("ignore_json_fields")
        .default(FieldDefault::Texts(&[]))
        .bounds(LIST_BOUNDS),
    Field::new("max_body_bytes")
        .default(FieldDefault::Whole(DEFAULT_MAX_BODY_BYTES as u64))
        .bounds(Bounds::Whole(MAX_BODY_BYTES)),
    Field::new("noise_baseline"),
    Field::new("noise_relative_threshold")
        .default(FieldDefault::Number(DEFAULT_NOISE_RELATIVE_THRESHOLD))
        .bounds(PERCENT),
    Field::new("noise_absolute_threshold")
        .default(FieldDefault::Number(DEFAULT_NOISE_ABSOLUTE_THRESHOLD))
        .bounds(PERCENT),
    Field::new("log_mismatches_per_minute")
        .default(FieldDefault::Whole(
            DEFAULT_LOG_MISMATCHES_PER_MINUTE as u64,
        ))
        .bounds(Bounds::Whole(LOG_MISMATCHES_PER_MINUTE)),
    Field::new("summary_interval_s")
        .default(FieldDefault::Whole(DEFAULT_SUMMARY_INTERVAL.as_secs()))
        .bounds(Bounds::Whole(SUMMARY_INTERVAL_S)),
    Field::new("max_fields_per_endpoint")
        .default(FieldDefault::Whole(DEFAULT_MAX_FIELDS_PER_ENDPOINT as u64))
        .bounds(Bounds::Whole(MAX_FIELDS_PER_ENDPOINT)),
];

pub(super) fn compare(
    value: &Value,
    place: &str,
    names: &[&str],
    candidate: usize,
) -> Result<CompareSpec, String> {
    let fields = Fields::of(
        value,
        place,
        "an object with `against`, `status`, `headers`, `body`, ...",
        COMPARE_FIELDS,
    )?;
    let defaults = CompareSpec::new();
    let others: Vec<String> = names
        .iter()
        .enumerate()
        .filter(|(index, _)| *index != candidate)
        .map(|(_, name)| format!("\"{name}\""))
        .collect();
    let others = if others.is_empty() {
        "there is none".to_string()
    } else {
        others.join(", ")
    };
    let other_target = |v: &Value| {
        let name = v.as_str()?;
        names
            .iter()
            .position(|n| *n == name)
            .filter(|index| *index != candidate)
    };
    let against = fields.scalar(
        "against",
        &format!("\"original\" or the name of another target ({others})"),
        |v| match v.as_str() {
            Some("original") => Some(Reference::Original),
            _ => other_target(v).map(Reference::Target),
        },
    )?;
    let noise_baseline = fields.scalar(
        "noise_baseline",
        &format!("the name of another target running the current version ({others})"),
        other_target,
    )?;
    let against = against.unwrap_or(defaults.against);
    if noise_baseline.is_some() && Some(against) == noise_baseline.map(Reference::Target) {
        return Err(format!(
            "{place}`noise_baseline` must be a third target, not the one named by `against`: \
             the noise is what two instances of the current version disagree on"
        ));
    }
    let body = fields
        .scalar("body", "\"none\", \"exact\" or \"json\"", |v| {
            match v.as_str()? {
                "none" => Some(BodyMode::None),
                "exact" => Some(BodyMode::Exact),
                "json" => Some(BodyMode::Json),
                _ => None,
            }
        })?
        .unwrap_or(defaults.body);
    let ignore_json_fields = fields
        .scalar(
            "ignore_json_fields",
            &format!(
                "a list of at most {MAX_LIST_ENTRIES} dot paths of at most {MAX_PATH_LEVELS} \
                 levels, such as \"timestamp\" or \"items.*.updated_at\""
            ),
            |v| {
                bounded_strings(v, |p| {
                    within_path_levels(p)
                        .then(|| IgnoredPath::parse(p))
                        .flatten()
                })
            },
        )?
        .unwrap_or_default();
    if !ignore_json_fields.is_empty() && body != BodyMode::Json {
        return Err(format!(
            "{place}`ignore_json_fields` needs `body` \"json\" (the body is not compared as JSON)"
        ));
    }
    let percent = |v: &Value| v.as_f64().filter(|p| (0.0..=100.0).contains(p));
    Ok(CompareSpec {
        against,
        status: fields
            .scalar("status", "true or false", Value::as_bool)?
            .unwrap_or(defaults.status),
        headers: fields
            .scalar(
                "headers",
                &format!("a list of at most {MAX_COMPARED_HEADERS} header names"),
                |v| strings(v, header_name).filter(|names| names.len() <= MAX_COMPARED_HEADERS),
            )?
            .unwrap_or_default(),
        body,
        ignore_json_fields,
        max_body_bytes: fields
            .whole("max_body_bytes", &MAX_BODY_BYTES)?
            .unwrap_or(defaults.max_body_bytes),
        noise_baseline,
        noise_relative_threshold: fields
            .scalar(
                "noise_relative_threshold",
                "a percentage from 0 to 100",
                percent,
            )?
            .unwrap_or(defaults.noise_relative_threshold),
        noise_absolute_threshold: fields
            .scalar(
                "noise_absolute_threshold",
                "a percentage from 0 to 100",
                percent,
            )?
            .unwrap_or(defaults.noise_absolute_threshold),
        log_mismatches_per_minute: fields
            .whole("log_mismatches_per_minute", &LOG_MISMATCHES_PER_MINUTE)?
            .unwrap_or(defaults.log_mismatches_per_minute),
        summary_interval: fields
            .whole("summary_interval_s", &SUMMARY_INTERVAL_S)?
            .map_or(defaults.summary_interval, |s: u64| {
                (s > 0).then(|| Duration::from_secs(s))
            }),
        max_fields_per_endpoint: fields
            .whole("max_fields_per_endpoint", &MAX_FIELDS_PER_ENDPOINT)?
            .unwrap_or(defaults.max_fields_per_endpoint),
    })
}

/// A reference target serves the candidate's comparison: if it compared too, its own copies
/// would need references in turn, and who is compared with whom would stop being obvious.
pub(super) fn references_compare_nothing(
    spec: &CompareSpec,
    specs: &[Option<CompareSpec>],
    names: &[&str],
    candidate: usize,
) -> Result<(), String> {
    for reference in spec.reference_targets() {
        if specs.get(reference).is_some_and(Option::is_some) {
            return Err(format!(
                "targets[{candidate}]: compare: the reference target \"{}\" (targets[{reference}]) \
                 must not have a `compare` block itself: `against` and `noise_baseline` name \
                 targets that receive the candidate's copies and compare nothing",
                names.get(reference).copied().unwrap_or_default()
            ));
        }
    }
    Ok(())
}
