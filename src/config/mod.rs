//! The plugin configuration: JSON in, validated and typed values out.
//!
//! It is parsed once per `on_configure`, so the request path never meets an unchecked setting.
//! Every error names the field (with its place, e.g. `targets[1]: limits`) and what the field
//! allows, because the only place a user sees it is one line in Envoy's log.
//!
//! One file per section (`targets`, `matching`, `compare`, `redaction`, `body`), each with the
//! table of its fields (`SECTIONS` lists them all with their place), which the parser reads
//! unknown fields against and states bounds from; `fields` is how an object is read.

mod body;
mod compare;
mod containment;
mod duplicate_keys;
pub mod fields;
mod matching;
mod redaction;
mod targets;
#[cfg(test)]
mod tests;

pub use body::{
    BodyPolicy, BODY_FIELDS, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_BUFFERED_BYTES,
    MAX_BODY_BYTES_LIMIT, MAX_BUFFERED_BYTES_LIMIT, MIN_BUFFERED_BYTES,
};
pub use compare::COMPARE_FIELDS;
pub use containment::{
    Containment, TargetContainment, COPY_LOG_FIELDS, DEFAULT_MARKER_BAGGAGE, TRACING_FIELDS,
};
pub use fields::{Bounds, Field, FieldDefault, Unit, Whole, MAX_LIST_ENTRIES, MAX_PATH_LEVELS};
pub use matching::{HEADER_CONDITION_FIELDS, MATCH_FIELDS};
pub use redaction::{DEFAULT_REDACTED_HEADERS, DEFAULT_REPLACEMENT, REDACT_FIELDS};
pub use targets::{
    SamplingKey, Target, DEFAULT_TIMEOUT, LIMITS_FIELDS, MAX_AMPLIFY, MAX_NAME_LEN, MAX_TARGETS,
    MAX_TIMEOUT_MS, SAMPLING_FIELDS, TARGET_FIELDS,
};

use crate::http::header_name;
use crate::matching::Match;
use crate::redact::Redaction;
use fields::Fields;
use serde_json::Value;
use std::fmt;

pub const DEFAULT_MARKER_HEADER: &str = "x-traffic-mirror";

/// The largest plugin configuration read: it is parsed on every `on_configure` of every
/// worker, and a larger one is a mistake (a generated list gone wrong), not a mesh's policy.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;

/// The top-level fields.
pub const CONFIG_FIELDS: &[Field] = &[
    Field::new("targets")
        .default(FieldDefault::Required)
        .bounds(Bounds::Items {
            min: 1,
            max: MAX_TARGETS,
        }),
    Field::new("host_suffix").default(FieldDefault::Text("")),
    Field::new("marker_header").default(FieldDefault::Text(DEFAULT_MARKER_HEADER)),
    Field::new("match"),
    Field::new("redact"),
    Field::new("body"),
    containment::MARKER_BAGGAGE_FIELD,
    containment::REFUSE_MARKED_WRITES_FIELD,
];

/// A configuration object and the fields it may hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Section {
    /// Where the object is: "" for the top level, `[]` for each item of a list, e.g.
    /// "targets[].limits".
    pub path: &'static str,
    pub fields: &'static [Field],
}

/// Every object of the configuration with its known fields, defaults and bounds: what the
/// parser accepts, for checks that the JSON Schema and the docs say the same.
pub const SECTIONS: &[Section] = &[
    Section {
        path: "",
        fields: CONFIG_FIELDS,
    },
    Section {
        path: "match",
        fields: MATCH_FIELDS,
    },
    Section {
        path: "match.headers[]",
        fields: HEADER_CONDITION_FIELDS,
    },
    Section {
        path: "redact",
        fields: REDACT_FIELDS,
    },
    Section {
        path: "body",
        fields: BODY_FIELDS,
    },
    Section {
        path: "targets[]",
        fields: TARGET_FIELDS,
    },
    Section {
        path: "targets[].sampling",
        fields: SAMPLING_FIELDS,
    },
    Section {
        path: "targets[].match",
        fields: MATCH_FIELDS,
    },
    Section {
        path: "targets[].match.headers[]",
        fields: HEADER_CONDITION_FIELDS,
    },
    Section {
        path: "targets[].limits",
        fields: LIMITS_FIELDS,
    },
    Section {
        path: "targets[].compare",
        fields: COMPARE_FIELDS,
    },
    Section {
        path: "targets[].tracing",
        fields: TRACING_FIELDS,
    },
    Section {
        path: "targets[].copy_log",
        fields: COPY_LOG_FIELDS,
    },
];

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub targets: Vec<Target>,
    pub host_suffix: String,
    /// `None` when the user turned marker and loop guard off with `""`.
    pub marker_header: Option<String>,
    /// Top-level `match`: applies to every target, with the target's own.
    pub request_match: Option<Match>,
    pub redaction: Redaction,
    pub body: BodyPolicy,
    /// The baggage marker and refused writes (`marker_baggage`, `refuse_marked_writes`).
    pub containment: Containment,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    pub fn parse(json: &[u8]) -> Result<Config, ConfigError> {
        if json.iter().all(u8::is_ascii_whitespace) {
            return Err(ConfigError(format!(
                "the plugin configuration is empty: it needs at least `targets`, a list of 1 to \
                 {MAX_TARGETS} mirror targets"
            )));
        }
        if json.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError(format!(
                "the plugin configuration is {} bytes: at most {MAX_CONFIG_BYTES} (1 MiB) are \
                 read",
                json.len()
            )));
        }
        let value: Value = serde_json::from_slice(json).map_err(|error| {
            ConfigError(format!(
                "the plugin configuration is not valid JSON: {error}"
            ))
        })?;
        // serde_json keeps the last of two equal keys silently: a second `redact` further
        // down would replace the first unseen.
        if let Some(duplicate) = duplicate_keys::first_duplicate(json) {
            return Err(ConfigError(format!(
                "{}`{}` is given twice in one object: each key may appear once (a JSON parser \
                 keeps one of the two silently)",
                duplicate.place, duplicate.key
            )));
        }
        config(&value).map_err(ConfigError)
    }
}

// The configuration is read from a `serde_json::Value` by hand rather than with serde's
// derive: the errors say more (each names its field's place, e.g. `targets[1]: limits:`, and
// what the field allows), and the derived code, monomorphised per struct and field, weighed
// about 62 KB of the .wasm. `Fields` keeps the derive's strictness (unknown fields are errors).

fn config(value: &Value) -> Result<Config, String> {
    let fields = Fields::of(value, "", "a JSON object with `targets`", CONFIG_FIELDS)?;
    let mut targets = targets::targets(fields.required("targets")?)?;
    let containment = containment::containment(&fields)?;
    containment::name_members(&mut targets, containment.marker_baggage.as_deref());
    let host_suffix = fields.scalar(
        "host_suffix",
        "a string of letters, digits, `.`, `-` and `_` (\"\" for none)",
        |v| {
            v.as_str()
                .filter(|s| {
                    s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                })
                .map(String::from)
        },
    )?;
    let marker_header = fields.scalar(
        "marker_header",
        "a header name, or \"\" to turn the marker and the loop guard off",
        |v| match v.as_str() {
            Some("") => Some(None),
            Some(name) => header_name(name).map(Some),
            None => None,
        },
    )?;
    Ok(Config {
        targets,
        host_suffix: host_suffix.unwrap_or_default(),
        marker_header: marker_header.unwrap_or_else(|| Some(DEFAULT_MARKER_HEADER.to_string())),
        request_match: fields.nested("match", matching::request_match)?,
        redaction: match fields.get("redact") {
            Some(redact) => redaction::redaction(redact, "redact: ")?,
            None => redaction::redaction(&Value::Object(serde_json::Map::new()), "redact: ")?,
        },
        body: fields.nested("body", body::body)?.unwrap_or_default(),
        containment,
    })
}
