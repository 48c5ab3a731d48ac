//! The plugin configuration: JSON in, validated and typed values out.
//!
//! It is parsed once per `on_configure`, so the request path never meets an unchecked setting.
//! Every error names the field (with its place, e.g. `targets[1]: limits`) and what the field
//! allows, because the only place a user sees it is one line in Envoy's log.

use crate::compare::accounting::{
    series_per_target, DEFAULT_MAX_ENDPOINTS, MAX_ENDPOINTS_LIMIT, MAX_SERIES,
};
use crate::compare::json::IgnoredPath;
use crate::compare::spec::{
    BodyMode, CompareSpec, Reference, DEFAULT_MAX_FIELDS_PER_ENDPOINT,
    MAX_BODY_BYTES_LIMIT as MAX_COMPARE_BODY_BYTES, MAX_COMPARED_HEADERS,
    MAX_FIELDS_PER_ENDPOINT_LIMIT, MAX_LOG_MISMATCHES_PER_MINUTE, MAX_SUMMARY_INTERVAL_S,
};
use crate::endpoints::{Endpoints, Template, MAX_TEMPLATES};
use crate::http::{header_name, is_hop_by_hop, is_token_char, HOP_BY_HOP};
use crate::json_path::JsonPath;
use crate::matching::{HeaderCondition, Match};
use crate::sampling::SampleRate;
use serde_json::Value;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

pub const MAX_TARGETS: usize = 16;
pub const MAX_NAME_LEN: usize = 64;
pub const DEFAULT_MARKER_HEADER: &str = "x-traffic-mirror";
pub const DEFAULT_REDACTED_HEADERS: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
];
pub const DEFAULT_REPLACEMENT: &str = "REDACTED";
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
/// What one worker may hold for copies at once (README: Reliability): 32 maximal bodies, or
/// thousands of ordinary requests; 64 MiB on a two-worker sidecar, far below the V8 VM's
/// limit (the VM dies near 1 GiB) and an Istio sidecar's default 1 GiB memory limit.
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 32 << 20;
/// At least a request's headers (Envoy's default limit is 60 KiB) must fit.
pub const MIN_BUFFERED_BYTES: u64 = 64 << 10;
/// A quarter of the VM's practical limit: the rest is left for the plugin itself, for
/// allocator fragmentation and for a redacted body's second copy.
pub const MAX_BUFFERED_BYTES_LIMIT: u64 = 256 << 20;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(5000);
/// Copies are buffered in the VM's memory, once per worker and request: past this, a canary
/// would be better served by a sampled subset than by copying huge uploads.
pub const MAX_BODY_BYTES_LIMIT: u64 = 64 << 20;
pub const MAX_TIMEOUT_MS: u64 = 60_000;
pub const MAX_AMPLIFY: u64 = 10;
/// Headers a copy cannot be given with `set_headers`: the plugin sets these per copy, and
/// hop-by-hop headers (`http::HOP_BY_HOP`) describe a connection, not the request.
const SET_PER_COPY: [&str; 2] = ["host", "content-length"];

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
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub cluster: String,
    pub name: String,
    pub sample_rate: SampleRate,
    /// Consistent sampling: decide by this header's value instead of at random.
    pub sampling_key: Option<SamplingKey>,
    pub timeout: Duration,
    /// When set, the copy's `:authority` is exactly this and `host_suffix` does not apply.
    pub authority: Option<String>,
    pub request_match: Option<Match>,
    pub max_per_second: Option<f64>,
    pub max_in_flight: Option<u32>,
    /// Set on the copy after redaction; lower-case names.
    pub set_headers: Vec<(String, String)>,
    /// How many copies of each sampled request are sent.
    pub amplify: u32,
    /// Shadow verification: this target is a candidate whose responses are compared.
    /// Shared with the comparisons pending for this target (one allocation per configuration).
    pub compare: Option<Rc<CompareSpec>>,
    /// Templates naming the endpoints its comparisons are counted under.
    pub endpoints: Endpoints,
    /// Endpoints counted per Envoy; further ones count as `other`.
    pub max_endpoints: usize,
}

impl Target {
    /// Whether deciding for this target needs the request's headers.
    pub fn needs_headers(&self, global_match: bool) -> bool {
        global_match || self.request_match.is_some() || self.sampling_key.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamplingKey {
    pub header: String,
    pub salt: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    /// Lower-case header names removed from every copy.
    pub headers: Vec<String>,
    pub query_params: Vec<String>,
    pub json_fields: Vec<JsonPath>,
    pub replacement: String,
    /// `replacement` as a JSON string literal, ready to stand in for a JSON value.
    pub json_replacement: String,
    /// Parameter names and JSON keys compared exactly; by default case is ignored, as the
    /// servers that bind them ignore it (see `redact::names`).
    pub case_sensitive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyPolicy {
    pub mirror: bool,
    pub max_bytes: usize,
    /// The worker's memory budget for copies (see `budget`).
    pub max_buffered_bytes: usize,
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
            return Err(ConfigError(
                "the plugin configuration is empty: it needs at least `targets`, a list of 1 to 16 \
                 mirror targets"
                    .into(),
            ));
        }
        let value: Value = serde_json::from_slice(json).map_err(|error| {
            ConfigError(format!(
                "the plugin configuration is not valid JSON: {error}"
            ))
        })?;
        config(&value).map_err(ConfigError)
    }
}

// The configuration is read from a `serde_json::Value` by hand rather than with serde's
// derive: the errors say more (each names its field's place, e.g. `targets[1]: limits:`, and
// what the field allows), and the derived code, monomorphised per struct and field, weighed
// about 62 KB of the .wasm. `Fields` keeps the derive's strictness (unknown fields are errors).

fn config(value: &Value) -> Result<Config, String> {
    let fields = Fields::of(
        value,
        "",
        "a JSON object with `targets`",
        &[
            "targets",
            "host_suffix",
            "marker_header",
            "match",
            "redact",
            "body",
        ],
    )?;
    let targets = targets(fields.required("targets")?)?;
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
        request_match: fields.nested("match", request_match)?,
        redaction: match fields.get("redact") {
            Some(redact) => redaction(redact, "redact: ")?,
            None => redaction(&Value::Object(serde_json::Map::new()), "redact: ")?,
        },
        body: fields.nested("body", body)?.unwrap_or(BodyPolicy {
            mirror: true,
            max_bytes: DEFAULT_MAX_BODY_BYTES,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
        }),
    })
}

fn targets(value: &Value) -> Result<Vec<Target>, String> {
    let items = match value.as_array() {
        Some(items) if (1..=MAX_TARGETS).contains(&items.len()) => items,
        _ => {
            return Err(format!(
                "targets: must be a list of 1 to {MAX_TARGETS} targets, got {}",
                describe(value)
            ))
        }
    };
    let mut targets: Vec<Target> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let place = format!("targets[{index}]: ");
        let target = target(item, &place)?;
        if let Some(first) = targets.iter().position(|t| t.name == target.name) {
            return Err(format!(
                "{place}`name` \"{}\" is already used by targets[{first}]; names must be \
                 unique (a target without `name` is named after its cluster)",
                target.name
            ));
        }
        targets.push(target);
    }
    // `compare` names other targets, so it is read once every name is known.
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    let mut specs = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let place = format!("targets[{index}]: compare: ");
        specs.push(match item.get("compare") {
            Some(value) => Some(compare(value, &place, &names, index)?),
            None => None,
        });
    }
    for (index, spec) in specs.iter().enumerate() {
        if let Some(spec) = spec {
            references_compare_nothing(spec, &specs, &names, index)?;
        }
    }
    for (target, spec) in targets.iter_mut().zip(specs) {
        target.compare = spec.map(Rc::new);
    }
    series_within_bound(&targets)?;
    Ok(targets)
}

/// The per-endpoint series the comparing targets may define in one Envoy stay within
/// `MAX_SERIES`: Prometheus (and Envoy's admin) must not be flooded by a configuration.
fn series_within_bound(targets: &[Target]) -> Result<(), String> {
    let per_target: Vec<(String, usize)> = targets
        .iter()
        .filter_map(|t| {
            let spec = t.compare.as_ref()?;
            let series = series_per_target(t.max_endpoints, spec.max_fields_per_endpoint);
            Some((format!("{} ({series})", t.name), series))
        })
        .collect();
    let total: usize = per_target.iter().map(|(_, n)| n).sum();
    if total > MAX_SERIES {
        let listed: Vec<&str> = per_target.iter().map(|(t, _)| t.as_str()).collect();
        return Err(format!(
            "targets: the comparing targets may define {total} per-endpoint series in an Envoy, \
             more than {MAX_SERIES}: each defines (max_endpoints + 1) x (6 + 2 x \
             (compare.max_fields_per_endpoint + 1)), here {}; lower `max_endpoints` or \
             `compare.max_fields_per_endpoint`",
            listed.join(" + ")
        ));
    }
    Ok(())
}

/// `targets[].endpoints`: templates such as "GET /users/{id}", at most `max_endpoints`.
fn endpoints(value: &Value, place: &str) -> Result<Endpoints, String> {
    let items = match value.as_array() {
        Some(items) if items.len() <= MAX_TEMPLATES => items,
        _ => {
            return Err(format!(
                "{place}must be a list of at most {MAX_TEMPLATES} templates such as \
                 \"GET /users/{{id}}\" or \"/files/{{*}}\", got {}",
                describe(value)
            ))
        }
    };
    let templates = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let text = item.as_str().ok_or_else(|| {
                format!("{place}[{index}] must be a string, got {}", describe(item))
            })?;
            Template::parse(text).map_err(|error| format!("{place}[{index}] \"{text}\": {error}"))
        })
        .collect::<Result<_, String>>()?;
    Ok(Endpoints::new(templates))
}

fn compare(
    value: &Value,
    place: &str,
    names: &[&str],
    candidate: usize,
) -> Result<CompareSpec, String> {
    let fields = Fields::of(
        value,
        place,
        "an object with `against`, `status`, `headers`, `body`, ...",
        &[
            "against",
            "status",
            "headers",
            "body",
            "ignore_json_fields",
            "max_body_bytes",
            "noise_baseline",
            "noise_relative_threshold",
            "noise_absolute_threshold",
            "log_mismatches_per_minute",
            "summary_interval_s",
            "max_fields_per_endpoint",
        ],
    )?;
    let defaults = CompareSpec::new();
    let others: Vec<String> = names
        .iter()
        .enumerate()
        .filter(|(index, _)| *index != candidate)
        .map(|(_, name)| format!("\"{name}\""))
        .collect();
    let other_target = |v: &Value| {
        let name = v.as_str()?;
        names
            .iter()
            .position(|n| *n == name)
            .filter(|index| *index != candidate)
    };
    let against = fields.scalar(
        "against",
        &format!(
            "\"original\" or the name of another target ({})",
            if others.is_empty() {
                "there is none".to_string()
            } else {
                others.join(", ")
            }
        ),
        |v| match v.as_str() {
            Some("original") => Some(Reference::Original),
            _ => other_target(v).map(Reference::Target),
        },
    )?;
    let noise_baseline = fields.scalar(
        "noise_baseline",
        &format!(
            "the name of another target running the current version ({})",
            if others.is_empty() {
                "there is none".to_string()
            } else {
                others.join(", ")
            }
        ),
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
            "a list of dot paths such as \"timestamp\" or \"items.*.updated_at\"",
            |v| strings(v, IgnoredPath::parse),
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
            .scalar(
                "max_body_bytes",
                "a whole number of bytes from 0 to 67108864 (64 MiB)",
                |v| {
                    whole_number(v)
                        .filter(|n| *n <= MAX_COMPARE_BODY_BYTES)
                        .and_then(|n| usize::try_from(n).ok())
                },
            )?
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
            .scalar(
                "log_mismatches_per_minute",
                "a whole number from 0 (no mismatch lines) to 10000",
                |v| {
                    whole_number(v)
                        .filter(|n| *n <= MAX_LOG_MISMATCHES_PER_MINUTE)
                        .and_then(|n| u32::try_from(n).ok())
                },
            )?
            .unwrap_or(defaults.log_mismatches_per_minute),
        summary_interval: fields
            .scalar(
                "summary_interval_s",
                "a whole number of seconds from 0 (no summary) to 86400",
                |v| {
                    whole_number(v)
                        .filter(|n| *n <= MAX_SUMMARY_INTERVAL_S)
                        .map(|s| (s > 0).then(|| Duration::from_secs(s)))
                },
            )?
            .unwrap_or(defaults.summary_interval),
        max_fields_per_endpoint: fields
            .scalar(
                "max_fields_per_endpoint",
                &format!("a whole number from 0 to {MAX_FIELDS_PER_ENDPOINT_LIMIT}"),
                |v| {
                    whole_number(v)
                        .and_then(|n| usize::try_from(n).ok())
                        .filter(|n| *n <= MAX_FIELDS_PER_ENDPOINT_LIMIT)
                },
            )?
            .unwrap_or(DEFAULT_MAX_FIELDS_PER_ENDPOINT),
    })
}

/// A reference target serves the candidate's comparison: if it compared too, its own copies
/// would need references in turn, and who is compared with whom would stop being obvious.
fn references_compare_nothing(
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

fn target(value: &Value, place: &str) -> Result<Target, String> {
    let fields = Fields::of(
        value,
        place,
        "an object with `cluster`, or `service` and `port`",
        &[
            "cluster",
            "service",
            "port",
            "subset",
            "name",
            "percentage",
            "sampling",
            "timeout_ms",
            "authority",
            "match",
            "limits",
            "set_headers",
            "amplify",
            "compare",
            "endpoints",
            "max_endpoints",
        ],
    )?;
    let cluster = fields.scalar("cluster", "a non-empty Envoy cluster name", |v| {
        v.as_str()
            .filter(|s| !s.is_empty() && !s.contains(char::is_whitespace))
            .map(String::from)
    })?;
    let service = fields.scalar(
        "service",
        "a service's full host name, e.g. user-service.default.svc.cluster.local",
        |v| {
            v.as_str()
                .filter(|s| {
                    !s.is_empty()
                        && s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || ".-*".contains(c))
                })
                .map(String::from)
        },
    )?;
    let port = fields.scalar("port", "a port number from 1 to 65535", |v| {
        whole_number(v)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0)
    })?;
    let subset = fields.scalar(
        "subset",
        "a subset name of letters, digits, `-`, `_` and `.`",
        |v| {
            v.as_str()
                .filter(|s| {
                    !s.is_empty()
                        && s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                })
                .map(String::from)
        },
    )?;
    let cluster = match (cluster, service, port, subset) {
        (Some(cluster), None, None, None) => cluster,
        // The name istiod gives the cluster of a service's port (and subset).
        (None, Some(service), Some(port), subset) => {
            format!("outbound|{port}|{}|{service}", subset.unwrap_or_default())
        }
        (Some(_), _, _, _) => {
            return Err(format!(
                "{place}give either `cluster`, or `service` with `port` (and `subset`), not both"
            ))
        }
        (None, Some(_), None, _) => return Err(format!("{place}`service` needs `port`")),
        (None, None, _, _) => {
            return Err(format!(
                "{place}missing field `cluster` (or `service` with `port`)"
            ))
        }
    };
    let name = match fields.scalar("name", "1 to 64 characters of [A-Za-z0-9_-]", |v| {
        v.as_str()
            .filter(|s| (1..=MAX_NAME_LEN).contains(&s.len()) && s.chars().all(is_name_char))
            .map(String::from)
    })? {
        Some(name) => name,
        None => name_from_cluster(&cluster).map_err(|error| format!("{place}{error}"))?,
    };
    let amplify = fields
        .scalar("amplify", "a whole number from 1 to 10", |v| {
            whole_number(v)
                .filter(|n| (1..=MAX_AMPLIFY).contains(n))
                .and_then(|n| u32::try_from(n).ok())
        })?
        .unwrap_or(1);
    let (max_per_second, max_in_flight) = fields.nested("limits", limits)?.unwrap_or_default();
    if max_per_second.is_some_and(|rate| rate < f64::from(amplify))
        || max_in_flight.is_some_and(|max| max < amplify)
    {
        return Err(format!(
            "{place}limits: `max_per_second` and `max_in_flight` must be at least `amplify` \
             ({amplify}): a request's copies are admitted all together or not at all"
        ));
    }
    let endpoints = fields.nested("endpoints", endpoints)?.unwrap_or_default();
    let max_endpoints = fields
        .scalar(
            "max_endpoints",
            &format!("a whole number from 0 to {MAX_ENDPOINTS_LIMIT}"),
            |v| {
                whole_number(v)
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| *n <= MAX_ENDPOINTS_LIMIT)
            },
        )?
        .unwrap_or(DEFAULT_MAX_ENDPOINTS);
    if endpoints.len() > max_endpoints {
        return Err(format!(
            "{place}`endpoints` lists {} templates, more than `max_endpoints` ({max_endpoints}): \
             raise `max_endpoints` (at most {MAX_ENDPOINTS_LIMIT}) or list fewer",
            endpoints.len()
        ));
    }
    Ok(Target {
        cluster,
        name,
        sample_rate: fields
            .scalar("percentage", "a number from 0 to 100", |v| {
                v.as_f64().and_then(SampleRate::from_percentage)
            })?
            .unwrap_or(SampleRate::ALWAYS),
        sampling_key: fields.nested("sampling", sampling_key)?,
        timeout: fields
            .scalar(
                "timeout_ms",
                "a whole number of milliseconds from 1 to 60000",
                |v| {
                    whole_number(v)
                        .filter(|ms| (1..=MAX_TIMEOUT_MS).contains(ms))
                        .map(Duration::from_millis)
                },
            )?
            .unwrap_or(DEFAULT_TIMEOUT),
        authority: fields.scalar(
            "authority",
            "a non-empty host or host:port without spaces",
            |v| {
                v.as_str()
                    .filter(|s| {
                        !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
                    })
                    .map(String::from)
            },
        )?,
        request_match: fields.nested("match", request_match)?,
        max_per_second,
        max_in_flight,
        set_headers: fields
            .nested("set_headers", set_headers)?
            .unwrap_or_default(),
        amplify,
        // Read by `targets`, which knows the other targets' names.
        compare: None,
        endpoints,
        max_endpoints,
    })
}

/// Istio cluster names hold `|` and dots, which do not belong in a stat name.
fn name_from_cluster(cluster: &str) -> Result<String, String> {
    let name: String = cluster
        .chars()
        .map(|c| if is_name_char(c) { c } else { '_' })
        .collect();
    if name.chars().count() > MAX_NAME_LEN {
        return Err(format!(
            "`name` is required when the cluster name is longer than {MAX_NAME_LEN} characters \
             (the default name is the cluster's with every character outside [A-Za-z0-9_-] \
             replaced by `_`)"
        ));
    }
    Ok(name)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn sampling_key(value: &Value, place: &str) -> Result<SamplingKey, String> {
    let fields = Fields::of(
        value,
        place,
        "an object with `key_header`",
        &["key_header", "salt"],
    )?;
    Ok(SamplingKey {
        header: fields.required_scalar("key_header", "a header name", |v| {
            v.as_str().and_then(header_name)
        })?,
        salt: fields
            .scalar("salt", "a string", |v| v.as_str().map(String::from))?
            .unwrap_or_default(),
    })
}

fn request_match(value: &Value, place: &str) -> Result<Match, String> {
    let fields = Fields::of(
        value,
        place,
        "an object with `methods`, `path_prefixes` and/or `headers`",
        &["methods", "path_prefixes", "headers"],
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
        &["name", "exact", "present"],
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

fn limits(value: &Value, place: &str) -> Result<(Option<f64>, Option<u32>), String> {
    let fields = Fields::of(
        value,
        place,
        "an object with `max_per_second` and/or `max_in_flight`",
        &["max_per_second", "max_in_flight"],
    )?;
    Ok((
        fields.scalar(
            "max_per_second",
            "a number of copies per second above 0, at most 1000000",
            |v| v.as_f64().filter(|r| *r > 0.0 && *r <= 1e6),
        )?,
        fields.scalar(
            "max_in_flight",
            "a whole number of copies from 1 to 1000000",
            |v| {
                whole_number(v)
                    .filter(|n| (1..=1_000_000).contains(n))
                    .and_then(|n| u32::try_from(n).ok())
            },
        )?,
    ))
}

fn set_headers(value: &Value, place: &str) -> Result<Vec<(String, String)>, String> {
    let entries = value.as_object().ok_or_else(|| {
        format!(
            "{place}must be an object of header names to values, got {}",
            describe(value)
        )
    })?;
    entries
        .iter()
        .map(|(name, value)| {
            let settable = header_name(name)
                .filter(|n| !SET_PER_COPY.contains(&n.as_str()) && !is_hop_by_hop(n));
            let name = settable.ok_or_else(|| {
                format!(
                    "{place}{name:?} cannot be set: give a header name other than {}, {} (the \
                     copy's host is `authority`)",
                    SET_PER_COPY.join(", "),
                    HOP_BY_HOP.join(", ")
                )
            })?;
            let value = value
                .as_str()
                .filter(|v| !v.contains(['\r', '\n', '\0']))
                .map(String::from)
                .ok_or_else(|| format!("{place}`{name}` must be a string without line breaks"))?;
            Ok((name, value))
        })
        .collect()
}

fn redaction(value: &Value, place: &str) -> Result<Redaction, String> {
    let fields = Fields::of(
        value,
        place,
        "an object with `headers`, `query_params`, `json_fields`, `replacement` and/or \
         `case_sensitive`",
        &[
            "headers",
            "query_params",
            "json_fields",
            "replacement",
            "case_sensitive",
        ],
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
            .scalar("headers", "a list of header names", |v| {
                strings(v, header_name)
            })?
            .unwrap_or_else(|| DEFAULT_REDACTED_HEADERS.map(String::from).to_vec()),
        query_params: fields
            .scalar("query_params", "a list of parameter names", |v| {
                strings(v, |p| (!p.is_empty()).then(|| p.to_string()))
            })?
            .unwrap_or_default(),
        json_fields: fields
            .scalar(
                "json_fields",
                "a list of dot paths such as \"card.number\", \"users.*.ssn\" or \"**.password\"",
                |v| strings(v, JsonPath::parse),
            )?
            .unwrap_or_default(),
        json_replacement: Value::String(replacement.clone()).to_string(),
        replacement,
        case_sensitive: fields
            .scalar("case_sensitive", "true or false", Value::as_bool)?
            .unwrap_or(false),
    })
}

fn body(value: &Value, place: &str) -> Result<BodyPolicy, String> {
    let fields = Fields::of(
        value,
        place,
        "an object with `mirror`, `max_bytes` and/or `max_buffered_bytes`",
        &["mirror", "max_bytes", "max_buffered_bytes"],
    )?;
    Ok(BodyPolicy {
        mirror: fields
            .scalar("mirror", "true or false", Value::as_bool)?
            .unwrap_or(true),
        max_bytes: fields
            .scalar(
                "max_bytes",
                "a whole number of bytes from 0 to 67108864 (64 MiB)",
                |v| {
                    whole_number(v)
                        .filter(|n| *n <= MAX_BODY_BYTES_LIMIT)
                        .and_then(|n| usize::try_from(n).ok())
                },
            )?
            .unwrap_or(DEFAULT_MAX_BODY_BYTES),
        max_buffered_bytes: fields
            .scalar(
                "max_buffered_bytes",
                "a whole number of bytes from 65536 (64 KiB) to 268435456 (256 MiB)",
                |v| {
                    whole_number(v)
                        .filter(|n| (MIN_BUFFERED_BYTES..=MAX_BUFFERED_BYTES_LIMIT).contains(n))
                        .and_then(|n| usize::try_from(n).ok())
                },
            )?
            .unwrap_or(DEFAULT_MAX_BUFFERED_BYTES),
    })
}

/// An object of the configuration, read field by field. Like serde's `deny_unknown_fields`,
/// a field it does not know is an error. `null` is a value like any other (and the wrong type
/// for every field), as in the JSON Schema (envoy/plugin-config.schema.json).
struct Fields<'a> {
    map: &'a serde_json::Map<String, Value>,
    /// Where the object is, as an error prefix: "" or e.g. "targets[1]: limits: ".
    place: &'a str,
}

impl<'a> Fields<'a> {
    fn of(
        value: &'a Value,
        place: &'a str,
        expecting: &str,
        known: &[&str],
    ) -> Result<Fields<'a>, String> {
        let map = value.as_object().ok_or_else(|| {
            format!(
                "{place}invalid type: {}, expected {expecting}",
                describe(value)
            )
        })?;
        if let Some(unknown) = map.keys().find(|key| !known.contains(&key.as_str())) {
            let known: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            return Err(format!(
                "{place}unknown field `{unknown}`, expected one of {}",
                known.join(", ")
            ));
        }
        Ok(Fields { map, place })
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name)
    }

    fn required(&self, name: &str) -> Result<&'a Value, String> {
        self.get(name)
            .ok_or_else(|| format!("{}missing field `{name}`", self.place))
    }

    /// A scalar (or list) field checked by `parse`; the error names the field and what it
    /// allows, e.g. "`percentage` must be a number from 0 to 100, got "50"".
    fn scalar<T>(
        &self,
        name: &str,
        allowed: &str,
        parse: impl Fn(&Value) -> Option<T>,
    ) -> Result<Option<T>, String> {
        self.get(name)
            .map(|value| {
                parse(value).ok_or_else(|| {
                    format!(
                        "{}`{name}` must be {allowed}, got {}",
                        self.place,
                        describe(value)
                    )
                })
            })
            .transpose()
    }

    fn required_scalar<T>(
        &self,
        name: &str,
        allowed: &str,
        parse: impl Fn(&Value) -> Option<T>,
    ) -> Result<T, String> {
        self.scalar(name, allowed, parse)?
            .ok_or_else(|| format!("{}missing field `{name}`", self.place))
    }

    /// An object field, read by `read` with its place named in errors.
    fn nested<T>(
        &self,
        name: &str,
        read: impl FnOnce(&Value, &str) -> Result<T, String>,
    ) -> Result<Option<T>, String> {
        self.get(name)
            .map(|value| read(value, &format!("{}{name}: ", self.place)))
            .transpose()
    }
}

/// A list of strings, each checked by `item`.
fn strings<T>(value: &Value, item: impl Fn(&str) -> Option<T>) -> Option<Vec<T>> {
    value
        .as_array()?
        .iter()
        .map(|v| item(v.as_str()?))
        .collect()
}

/// Istio hands `pluginConfig` over as a protobuf Struct, where every number is a double:
/// `5000.0` has to mean 5000.
fn whole_number(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        let float = value.as_f64()?;
        let exact = float.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&float);
        exact.then_some(float as u64)
    })
}

/// The offending value, as JSON and short enough for one log line.
fn describe(value: &Value) -> String {
    const LIMIT: usize = 60;
    let text = value.to_string();
    if text.chars().count() <= LIMIT {
        return text;
    }
    let mut short: String = text.chars().take(LIMIT).collect();
    short.push_str("...");
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Config, String> {
        Config::parse(json.as_bytes()).map_err(|e| e.to_string())
    }

    fn error(json: &str) -> String {
        match parse(json) {
            Ok(config) => panic!("accepted {json}: {config:?}"),
            Err(message) => message,
        }
    }

    fn assert_error(json: &str, expected_parts: &[&str]) {
        let message = error(json);
        for part in expected_parts {
            assert!(message.contains(part), "error {message:?} lacks {part:?}");
        }
    }

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let config = parse(
            r#"{"targets": [{"cluster": "outbound|8080|canary|user.ns.svc.cluster.local"}]}"#,
        )
        .unwrap();
        let target = &config.targets[0];
        assert_eq!(
            target.name,
            "outbound_8080_canary_user_ns_svc_cluster_local"
        );
        assert_eq!(target.sample_rate, SampleRate::ALWAYS);
        assert_eq!(target.timeout, Duration::from_millis(5000));
        assert_eq!(target.authority, None);
        assert_eq!(config.host_suffix, "");
        assert_eq!(config.marker_header.as_deref(), Some("x-traffic-mirror"));
        assert_eq!(
            config.redaction.headers,
            [
                "authorization",
                "proxy-authorization",
                "cookie",
                "x-api-key"
            ]
        );
        assert_eq!(
            config.body,
            BodyPolicy {
                mirror: true,
                max_bytes: 1_048_576,
                max_buffered_bytes: 33_554_432
            }
        );
    }

    #[test]
    fn every_basic_field_is_read_as_written() {
        let config = parse(
            r#"{
              "targets": [
                {"cluster": "outbound|8080|canary|user-service.default.svc.cluster.local",
                 "name": "canary", "percentage": 12.5, "timeout_ms": 250,
                 "authority": "user-service-canary:8080"},
                {"cluster": "shadow", "percentage": 0}
              ],
              "host_suffix": "-shadow",
              "marker_header": "X-Mirror-Of",
              "redact": {"headers": ["Authorization", "x-session"]},
              "body": {"mirror": false, "max_bytes": 0, "max_buffered_bytes": 65536}
            }"#,
        )
        .unwrap();
        assert_eq!(config.targets.len(), 2);
        assert_eq!(config.targets[0].name, "canary");
        assert_eq!(
            config.targets[0].sample_rate,
            SampleRate::from_percentage(12.5).unwrap()
        );
        assert_eq!(config.targets[0].timeout, Duration::from_millis(250));
        assert_eq!(
            config.targets[0].authority.as_deref(),
            Some("user-service-canary:8080")
        );
        assert_eq!(config.targets[1].name, "shadow");
        assert_eq!(config.targets[1].sample_rate, SampleRate::NEVER);
        assert_eq!(config.host_suffix, "-shadow");
        assert_eq!(config.marker_header.as_deref(), Some("x-mirror-of"));
        assert_eq!(config.redaction.headers, ["authorization", "x-session"]);
        assert_eq!(
            config.body,
            BodyPolicy {
                mirror: false,
                max_bytes: 0,
                max_buffered_bytes: 65536
            }
        );
    }

    #[test]
    fn empty_marker_turns_the_marker_off_and_empty_redact_list_sends_all_headers() {
        let config = parse(
            r#"{"targets": [{"cluster": "c"}], "marker_header": "", "redact": {"headers": []}}"#,
        )
        .unwrap();
        assert_eq!(config.marker_header, None);
        assert!(config.redaction.headers.is_empty());
    }

    #[test]
    fn whole_doubles_are_accepted_as_integers() {
        let config = parse(
            r#"{"targets": [{"cluster": "c", "timeout_ms": 250.0}], "body": {"max_bytes": 10.0}}"#,
        )
        .unwrap();
        assert_eq!(config.targets[0].timeout, Duration::from_millis(250));
        assert_eq!(config.body.max_bytes, 10);
    }

    #[test]
    fn empty_and_malformed_json_are_rejected() {
        assert_error("", &["empty", "`targets`"]);
        assert_error("  \n", &["empty"]);
        assert_error(r#"{"targets": [}"#, &["not valid JSON", "line 1"]);
        assert_error("[]", &["a JSON object with `targets`"]);
        assert_error("{}", &["missing field `targets`"]);
    }

    #[test]
    fn unknown_fields_are_rejected_at_every_level() {
        assert_error(
            r#"{"targets": [{"cluster": "c"}], "target": 1}"#,
            &["unknown field `target`", "`targets`"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c", "percent": 5}]}"#,
            &["targets[0]", "unknown field `percent`", "`percentage`"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c"}], "redact": {"header": []}}"#,
            &["redact", "unknown field `header`", "`headers`"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c"}], "body": {"max": 1}}"#,
            &["body", "unknown field `max`", "`max_bytes`"],
        );
    }

    #[test]
    fn target_list_must_hold_one_to_sixteen() {
        assert_error(
            r#"{"targets": []}"#,
            &["targets: must be a list of 1 to 16", "got []"],
        );
        assert_error(
            r#"{"targets": {"cluster": "c"}}"#,
            &["targets: must be a list"],
        );
        let seventeen: Vec<String> = (0..17)
            .map(|i| format!(r#"{{"cluster": "c{i}"}}"#))
            .collect();
        assert_error(
            &format!(r#"{{"targets": [{}]}}"#, seventeen.join(",")),
            &["1 to 16"],
        );
        let sixteen = &seventeen[..16];
        assert_eq!(
            parse(&format!(r#"{{"targets": [{}]}}"#, sixteen.join(",")))
                .unwrap()
                .targets
                .len(),
            16
        );
    }

    #[test]
    fn out_of_range_values_name_field_and_range() {
        assert_error(
            r#"{"targets": [{"cluster": "c"}, {"cluster": "d", "percentage": 100.5}]}"#,
            &[
                "targets[1]",
                "`percentage` must be a number from 0 to 100",
                "got 100.5",
            ],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c", "percentage": -1}]}"#,
            &["`percentage`"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c", "percentage": "50"}]}"#,
            &["`percentage`", "got \"50\""],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c", "timeout_ms": 0}]}"#,
            &["`timeout_ms`", "1 to 60000"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c", "timeout_ms": 60001}]}"#,
            &["`timeout_ms`"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c", "timeout_ms": 1.5}]}"#,
            &["`timeout_ms`"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c"}], "body": {"max_bytes": 67108865}}"#,
            &["body", "`max_bytes`", "67108864"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c"}], "body": {"max_buffered_bytes": 65535}}"#,
            &["body", "`max_buffered_bytes`", "65536", "268435456"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c"}], "body": {"max_buffered_bytes": 268435457}}"#,
            &["`max_buffered_bytes`"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c"}], "body": {"max_bytes": -1}}"#,
            &["`max_bytes`"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c"}], "body": {"mirror": "yes"}}"#,
            &["`mirror` must be true or false"],
        );
    }

    #[test]
    fn malformed_strings_name_field_and_form() {
        assert_error(
            r#"{"targets": [{"percentage": 5}]}"#,
            &["targets[0]", "missing field `cluster`"],
        );
        assert_error(
            r#"{"targets": [{"cluster": ""}]}"#,
            &["`cluster` must be a non-empty"],
        );
        assert_error(r#"{"targets": [{"cluster": 7}]}"#, &["`cluster`", "got 7"]);
        assert_error(
            r#"{"targets": [{"cluster": "c", "name": "can ary"}]}"#,
            &["`name` must be 1 to 64 characters of [A-Za-z0-9_-]"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c", "name": ""}]}"#,
            &["`name`"],
        );
        let long = "a".repeat(65);
        assert_error(
            &format!(r#"{{"targets": [{{"cluster": "c", "name": "{long}"}}]}}"#),
            &["`name`"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c", "authority": "a b"}]}"#,
            &["`authority`"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c"}], "host_suffix": "-sh:adow"}"#,
            &["`host_suffix`"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c"}], "marker_header": "x mirror"}"#,
            &["`marker_header`"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c"}], "redact": {"headers": ["ok", ""]}}"#,
            &["redact", "`headers` must be a list of header names"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c"}], "redact": {"headers": "cookie"}}"#,
            &["`headers`"],
        );
    }

    #[test]
    fn names_must_be_unique_including_derived_ones() {
        assert_error(
            r#"{"targets": [{"cluster": "a", "name": "x"}, {"cluster": "b", "name": "x"}]}"#,
            &["targets[1]", "\"x\" is already used by targets[0]"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "a|b"}, {"cluster": "a.b"}]}"#,
            &["targets[1]", "\"a_b\" is already used by targets[0]"],
        );
    }

    #[test]
    fn long_cluster_needs_an_explicit_name() {
        let cluster = format!("outbound|8080|canary|{}", "x".repeat(60));
        assert_error(
            &format!(r#"{{"targets": [{{"cluster": "{cluster}"}}]}}"#),
            &["targets[0]", "`name` is required"],
        );
        let named = format!(r#"{{"targets": [{{"cluster": "{cluster}", "name": "canary"}}]}}"#);
        assert_eq!(parse(&named).unwrap().targets[0].cluster, cluster);
    }

    #[test]
    fn long_values_are_shortened_in_errors() {
        let long = "y".repeat(500);
        let message = error(&format!(
            r#"{{"targets": [{{"cluster": "c", "percentage": "{long}"}}]}}"#
        ));
        assert!(message.len() < 200, "{message}");
    }

    #[test]
    fn match_limits_sampling_amplify_and_set_headers_are_read_as_written() {
        let config = parse(
            r#"{
              "match": {"path_prefixes": ["/api/"]},
              "targets": [
                {"service": "user-service.default.svc.cluster.local", "port": 8080, "subset": "canary",
                 "percentage": 10,
                 "sampling": {"key_header": "X-User-Id", "salt": "s1"},
                 "match": {"methods": ["GET", "HEAD"], "path_prefixes": ["/api/"],
                           "headers": [{"name": "x-env", "exact": "prod"}, {"name": "x-debug", "present": false}]},
                 "limits": {"max_per_second": 200, "max_in_flight": 100},
                 "set_headers": {"Authorization": "Bearer mirror-test-token"},
                 "amplify": 3},
                {"service": "user-service.default.svc.cluster.local", "port": 8080, "name": "all-subsets"}
              ],
              "redact": {"headers": ["authorization"], "query_params": ["token"],
                         "json_fields": ["password", "users.*.ssn"], "replacement": "***",
                         "case_sensitive": true}
            }"#,
        )
        .unwrap();
        let target = &config.targets[0];
        assert_eq!(
            target.cluster,
            "outbound|8080|canary|user-service.default.svc.cluster.local"
        );
        assert_eq!(
            target.name,
            "outbound_8080_canary_user-service_default_svc_cluster_local"
        );
        assert_eq!(
            config.targets[1].cluster,
            "outbound|8080||user-service.default.svc.cluster.local"
        );
        assert_eq!(
            target.sampling_key,
            Some(SamplingKey {
                header: "x-user-id".into(),
                salt: "s1".into()
            })
        );
        let rule = target.request_match.as_ref().unwrap();
        assert_eq!(rule.methods, ["GET", "HEAD"]);
        assert_eq!(
            rule.headers[0],
            HeaderCondition::Exact {
                name: "x-env".into(),
                value: "prod".into()
            }
        );
        assert_eq!(
            rule.headers[1],
            HeaderCondition::Present {
                name: "x-debug".into(),
                present: false
            }
        );
        assert_eq!(
            (target.max_per_second, target.max_in_flight, target.amplify),
            (Some(200.0), Some(100), 3)
        );
        assert_eq!(
            target.set_headers,
            [(
                "authorization".to_string(),
                "Bearer mirror-test-token".to_string()
            )]
        );
        assert_eq!(
            config.request_match.as_ref().unwrap().path_prefixes,
            ["/api/"]
        );
        assert_eq!(config.redaction.query_params, ["token"]);
        assert_eq!(config.redaction.json_fields.len(), 2);
        assert_eq!(
            (
                config.redaction.replacement.as_str(),
                config.redaction.json_replacement.as_str()
            ),
            ("***", "\"***\"")
        );
        assert!(config.redaction.case_sensitive);
        assert!(target.needs_headers(false) && config.targets[1].needs_headers(true));
        assert!(!config.targets[1].needs_headers(false));
    }

    #[test]
    fn production_control_defaults() {
        let config = parse(r#"{"targets": [{"cluster": "c"}]}"#).unwrap();
        let target = &config.targets[0];
        assert_eq!(
            (target.amplify, target.max_per_second, target.max_in_flight),
            (1, None, None)
        );
        assert!(
            target.sampling_key.is_none()
                && target.request_match.is_none()
                && target.set_headers.is_empty()
        );
        assert_eq!(config.redaction.replacement, "REDACTED");
        assert!(
            !config.redaction.case_sensitive,
            "names ignore case by default"
        );
        assert!(
            config.redaction.query_params.is_empty() && config.redaction.json_fields.is_empty()
        );
        assert_eq!(config.request_match, None);
    }

    #[test]
    fn bad_match_limits_sampling_and_set_headers_name_their_field() {
        let t = |target: &str| format!(r#"{{"targets": [{target}]}}"#);
        assert_error(
            &t(r#"{"cluster": "c", "service": "s.ns", "port": 80}"#),
            &["targets[0]", "not both"],
        );
        assert_error(&t(r#"{"service": "s.ns"}"#), &["`service` needs `port`"]);
        assert_error(
            &t(r#"{"port": 80}"#),
            &["missing field `cluster` (or `service` with `port`)"],
        );
        assert_error(
            &t(r#"{"service": "s.ns", "port": 70000}"#),
            &["`port` must be a port number"],
        );
        assert_error(
            &t(r#"{"service": "s ns", "port": 80}"#),
            &["`service` must be"],
        );
        assert_error(
            &t(r#"{"service": "s.ns", "port": 80, "subset": "a|b"}"#),
            &["`subset` must be"],
        );
        assert_error(
            &t(r#"{"cluster": "c", "sampling": {}}"#),
            &["targets[0]: sampling: missing field `key_header`"],
        );
        assert_error(
            &t(r#"{"cluster": "c", "sampling": {"key_header": "x y"}}"#),
            &["sampling: `key_header` must be a header name"],
        );
        assert_error(
            &t(r#"{"cluster": "c", "sampling": {"key_header": "k", "pepper": 1}}"#),
            &["sampling: unknown field `pepper`"],
        );
        assert_error(
            &t(r#"{"cluster": "c", "match": {"methods": "GET"}}"#),
            &["match: `methods` must be a list of HTTP methods"],
        );
        assert_error(
            &t(r#"{"cluster": "c", "match": {"path_prefixes": ["api"]}}"#),
            &["`path_prefixes` must be a list of paths starting with /"],
        );
        assert_error(
            &t(r#"{"cluster": "c", "match": {"headers": [{"name": "a"}]}}"#),
            &["match: headers[0]: give exactly one of `exact` and `present`"],
        );
        assert_error(
            &t(
                r#"{"cluster": "c", "match": {"headers": [{"name": "a", "exact": "x", "present": true}]}}"#,
            ),
            &["exactly one"],
        );
        assert_error(
            &t(r#"{"cluster": "c", "match": {"headers": [{"name": "a", "regex": "x"}]}}"#),
            &["headers[0]: unknown field `regex`"],
        );
        assert_error(
            &t(r#"{"cluster": "c", "limits": {"max_per_second": 0}}"#),
            &["limits: `max_per_second` must be"],
        );
        assert_error(
            &t(r#"{"cluster": "c", "limits": {"max_in_flight": 0.5}}"#),
            &["limits: `max_in_flight` must be"],
        );
        assert_error(
            &t(r#"{"cluster": "c", "limits": {"burst": 1}}"#),
            &["limits: unknown field `burst`"],
        );
        assert_error(
            &t(r#"{"cluster": "c", "amplify": 11}"#),
            &["`amplify` must be a whole number from 1 to 10"],
        );
        assert_error(
            &t(r#"{"cluster": "c", "amplify": 3, "limits": {"max_in_flight": 2}}"#),
            &["at least `amplify` (3)"],
        );
        assert_error(
            &t(r#"{"cluster": "c", "set_headers": {"content-length": "1"}}"#),
            &["set_headers", "cannot be set"],
        );
        assert_error(
            &t(r#"{"cluster": "c", "set_headers": {":path": "/x"}}"#),
            &["cannot be set"],
        );
        assert_error(
            &t(r#"{"cluster": "c", "set_headers": {"x-a": "1\r\nx-b: 2"}}"#),
            &["`x-a` must be a string without line breaks"],
        );
        assert_error(
            &t(r#"{"cluster": "c", "set_headers": ["x-a"]}"#),
            &["set_headers: must be an object"],
        );
        let redact = |r: &str| format!(r#"{{"targets": [{{"cluster": "c"}}], "redact": {r}}}"#);
        assert_error(
            &redact(r#"{"json_fields": ["a..b"]}"#),
            &["redact: `json_fields` must be a list of dot paths"],
        );
        assert_error(
            &redact(r#"{"query_params": [""]}"#),
            &["`query_params` must be"],
        );
        assert_error(
            &redact(r#"{"replacement": "a\nb"}"#),
            &["`replacement` must be"],
        );
        assert_error(
            &redact(r#"{"json_fields": ["**"]}"#),
            &["`json_fields` must be a list of dot paths", "**.password"],
        );
        assert_error(
            &redact(r#"{"case_sensitive": "yes"}"#),
            &["redact: `case_sensitive` must be true or false"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c"}], "match": {"method": ["GET"]}}"#,
            &["match: unknown field `method`"],
        );
    }

    #[test]
    fn compare_defaults_follow_the_issue() {
        let config =
            parse(r#"{"targets": [{"cluster": "c", "compare": {}}, {"cluster": "d"}]}"#).unwrap();
        assert_eq!(
            config.targets[0].compare.as_deref(),
            Some(&CompareSpec::new())
        );
        assert_eq!(config.targets[1].compare, None);
        let spec = CompareSpec::new();
        assert_eq!(
            (spec.against, spec.status, spec.body, spec.max_body_bytes),
            (Reference::Original, true, BodyMode::None, 65_536)
        );
        assert_eq!(
            (
                spec.noise_relative_threshold,
                spec.noise_absolute_threshold,
                spec.log_mismatches_per_minute,
                spec.summary_interval
            ),
            (20.0, 0.03, 10, Some(Duration::from_secs(60)))
        );
    }

    #[test]
    fn compare_block_is_read_as_written() {
        let config = parse(
            r#"{"targets": [
              {"cluster": "canary", "compare": {
                "against": "baseline", "status": false, "headers": ["Content-Type"],
                "body": "json", "ignore_json_fields": ["timestamp", "items.*.updated_at"],
                "max_body_bytes": 67108864, "noise_baseline": "noise",
                "noise_relative_threshold": 50, "noise_absolute_threshold": 0.5,
                "log_mismatches_per_minute": 0, "summary_interval_s": 0}},
              {"cluster": "baseline"},
              {"cluster": "noise"}
            ]}"#,
        )
        .unwrap();
        let spec = config.targets[0].compare.as_ref().unwrap();
        assert_eq!(spec.against, Reference::Target(1));
        assert_eq!(spec.noise_baseline, Some(2));
        assert!(!spec.status);
        assert_eq!(spec.headers, ["content-type"]);
        assert_eq!(spec.body, BodyMode::Json);
        assert_eq!(spec.ignore_json_fields.len(), 2);
        assert_eq!(spec.max_body_bytes, 64 << 20);
        assert_eq!(
            (spec.noise_relative_threshold, spec.noise_absolute_threshold),
            (50.0, 0.5)
        );
        assert_eq!(spec.log_mismatches_per_minute, 0);
        assert_eq!(spec.summary_interval, None, "0 turns the summary off");
        assert_eq!(spec.reference_targets().collect::<Vec<_>>(), [1, 2]);
        assert!(!spec.needs_original());
    }

    #[test]
    fn bad_compare_fields_name_field_and_allowed_values() {
        let t = |compare: &str| {
            format!(
                r#"{{"targets": [{{"cluster": "c", "compare": {compare}}}, {{"cluster": "b"}}]}}"#
            )
        };
        let cases: &[(&str, &[&str])] = &[
            (r#"{"against": "nope"}"#, &["targets[0]: compare: `against` must be \"original\" or the name of another target (\"b\")", "got \"nope\""]),
            (r#"{"against": "c"}"#, &["`against`", "another target"]),
            (r#"{"against": 1}"#, &["`against`"]),
            (r#"{"status": "yes"}"#, &["`status` must be true or false"]),
            (r#"{"headers": ["a b"]}"#, &["`headers` must be a list of at most 32 header names"]),
            (r#"{"headers": "content-type"}"#, &["`headers`"]),
            (r#"{"body": "text"}"#, &["`body` must be \"none\", \"exact\" or \"json\"", "got \"text\""]),
            (r#"{"body": "json", "ignore_json_fields": ["a..b"]}"#, &["`ignore_json_fields` must be a list of dot paths"]),
            (r#"{"ignore_json_fields": ["a"]}"#, &["`ignore_json_fields` needs `body` \"json\""]),
            (r#"{"max_body_bytes": 67108865}"#, &["`max_body_bytes` must be a whole number of bytes from 0 to 67108864"]),
            (r#"{"max_body_bytes": -1}"#, &["`max_body_bytes`"]),
            (r#"{"noise_baseline": "c"}"#, &["`noise_baseline` must be the name of another target"]),
            (r#"{"noise_baseline": "zz"}"#, &["`noise_baseline`", "(\"b\")"]),
            (r#"{"noise_relative_threshold": 101}"#, &["`noise_relative_threshold` must be a percentage from 0 to 100"]),
            (r#"{"noise_absolute_threshold": -0.1}"#, &["`noise_absolute_threshold`"]),
            (r#"{"log_mismatches_per_minute": 1.5}"#, &["`log_mismatches_per_minute` must be a whole number from 0"]),
            (r#"{"log_mismatches_per_minute": 10001}"#, &["`log_mismatches_per_minute`"]),
            (r#"{"summary_interval_s": 86401}"#, &["`summary_interval_s` must be a whole number of seconds from 0"]),
            (r#"{"summary_interval": 5}"#, &["compare: unknown field `summary_interval`", "`summary_interval_s`"]),
            (r#"[]"#, &["targets[0]: compare: invalid type"]),
            (r#"null"#, &["compare"]),
        ];
        for (compare, parts) in cases {
            assert_error(&t(compare), parts);
        }
        let too_many: Vec<String> = (0..33).map(|i| format!(r#""h{i}""#)).collect();
        assert_error(
            &t(&format!(r#"{{"headers": [{}]}}"#, too_many.join(","))),
            &["at most 32"],
        );
    }

    #[test]
    fn reference_targets_must_be_others_that_compare_nothing() {
        assert_error(
            r#"{"targets": [{"cluster": "c", "compare": {"against": "b", "noise_baseline": "b"}},
                            {"cluster": "b"}]}"#,
            &["targets[0]: compare: `noise_baseline` must be a third target"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c", "compare": {"against": "b"}},
                            {"cluster": "b", "compare": {}}]}"#,
            &["targets[0]: compare: the reference target \"b\" (targets[1]) must not have a `compare` block"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c", "compare": {"noise_baseline": "b"}},
                            {"cluster": "b", "compare": {"against": "c"}}]}"#,
            &["must not have a `compare` block"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c", "compare": {"against": "x"}}]}"#,
            &["another target (there is none)"],
        );
        // Two candidates may share their references; a noise baseline beside the original.
        let config = parse(
            r#"{"targets": [{"cluster": "c1", "compare": {"against": "b", "noise_baseline": "n"}},
                            {"cluster": "c2", "compare": {"against": "b", "noise_baseline": "n"}},
                            {"cluster": "b"}, {"cluster": "n"},
                            {"cluster": "c3", "compare": {"noise_baseline": "n"}}]}"#,
        )
        .unwrap();
        assert_eq!(
            config.targets[1].compare.as_ref().unwrap().against,
            Reference::Target(2)
        );
        let c3 = config.targets[4].compare.as_ref().unwrap();
        assert_eq!(
            (c3.against, c3.noise_baseline),
            (Reference::Original, Some(3))
        );
        assert!(c3.needs_original());
    }

    #[test]
    fn null_is_not_absent() {
        assert_error(
            r#"{"targets": [{"cluster": "c", "percentage": null}]}"#,
            &["`percentage` must be", "got null"],
        );
        assert_error(
            r#"{"targets": [{"cluster": "c"}], "redact": null}"#,
            &["redact"],
        );
        assert_error(r#"{"targets": null}"#, &["targets: must be a list"]);
    }
}
