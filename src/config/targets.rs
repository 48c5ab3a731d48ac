//! `targets`: where copies go, how many and how often, and the blocks of each target
//! (`sampling`, `limits`, `set_headers`; `match` and `compare` have files of their own).

use super::compare::{compare, references_compare_nothing};
use super::containment::{
    target_containment, TargetContainment, ALLOW_SAME_CLUSTER_FIELD, COPY_LOG_FIELD, TRACING_FIELD,
};
use super::fields::{describe, Bounds, Field, FieldDefault, Fields, Unit, Whole};
use super::matching::request_match;
use crate::compare::accounting::{
    series_per_target, DEFAULT_MAX_ENDPOINTS, MAX_ENDPOINTS_LIMIT, MAX_SERIES,
};
use crate::compare::spec::CompareSpec;
use crate::endpoints::{Endpoints, Template, MAX_TEMPLATES};
use crate::http::{header_name, is_hop_by_hop, HOP_BY_HOP};
use crate::matching::Match;
use crate::sampling::SampleRate;
use serde_json::Value;
use std::rc::Rc;
use std::time::Duration;

pub const MAX_TARGETS: usize = 16;
pub const MAX_NAME_LEN: usize = 64;
pub const DEFAULT_TIMEOUT_MS: u64 = 5000;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(DEFAULT_TIMEOUT_MS);
pub const MAX_TIMEOUT_MS: u64 = 60_000;
pub const DEFAULT_AMPLIFY: u32 = 1;
pub const MAX_AMPLIFY: u64 = 10;
pub const DEFAULT_PERCENTAGE: f64 = 100.0;
/// `limits`: beyond these a limit limits nothing a sidecar could send.
/// (A whole number: stating it in an error then needs no float formatting in the .wasm.)
pub const MAX_PER_SECOND_LIMIT: u32 = 1_000_000;
pub const MAX_IN_FLIGHT_LIMIT: u64 = 1_000_000;
/// Headers a copy cannot be given with `set_headers`: the plugin sets these per copy, and
/// hop-by-hop headers (`http::HOP_BY_HOP`) describe a connection, not the request.
const SET_PER_COPY: [&str; 2] = ["host", "content-length"];

const PORT: Whole = Whole::new(1, u16::MAX as u64, Unit::Port);
const TIMEOUT_MS: Whole = Whole::new(1, MAX_TIMEOUT_MS, Unit::Milliseconds);
const AMPLIFY: Whole = Whole::new(1, MAX_AMPLIFY, Unit::Count);
const MAX_IN_FLIGHT: Whole = Whole::new(1, MAX_IN_FLIGHT_LIMIT, Unit::Copies);
const MAX_ENDPOINTS: Whole = Whole::new(0, MAX_ENDPOINTS_LIMIT as u64, Unit::Count);

/// The fields of each of `targets`.
pub const TARGET_FIELDS: &[Field] = &[
    Field::new("cluster"),
    Field::new("service"),
    Field::new("port").bounds(Bounds::Whole(PORT)),
    Field::new("subset"),
    Field::new("name").bounds(Bounds::Characters {
        min: 1,
        max: MAX_NAME_LEN,
    }),
    Field::new("percentage")
        .default(FieldDefault::Number(DEFAULT_PERCENTAGE))
        .bounds(Bounds::Number {
            min: 0.0,
            min_excluded: false,
            max: 100.0,
        }),
    Field::new("sampling"),
    Field::new("timeout_ms")
        .default(FieldDefault::Whole(DEFAULT_TIMEOUT_MS))
        .bounds(Bounds::Whole(TIMEOUT_MS)),
    Field::new("authority"),
    Field::new("match"),
    Field::new("limits"),
    Field::new("set_headers"),
    Field::new("amplify")
        .default(FieldDefault::Whole(DEFAULT_AMPLIFY as u64))
        .bounds(Bounds::Whole(AMPLIFY)),
    Field::new("compare"),
    TRACING_FIELD,
    COPY_LOG_FIELD,
    ALLOW_SAME_CLUSTER_FIELD,
    Field::new("endpoints")
        .default(FieldDefault::Texts(&[]))
        .bounds(Bounds::Items {
            min: 0,
            max: MAX_TEMPLATES,
        }),
    Field::new("max_endpoints")
        .default(FieldDefault::Whole(DEFAULT_MAX_ENDPOINTS as u64))
        .bounds(Bounds::Whole(MAX_ENDPOINTS)),
];

/// The fields of a target's `sampling`.
pub const SAMPLING_FIELDS: &[Field] = &[
    Field::new("key_header").default(FieldDefault::Required),
    Field::new("salt").default(FieldDefault::Text("")),
];

/// The fields of a target's `limits`.
pub const LIMITS_FIELDS: &[Field] = &[
    Field::new("max_per_second").bounds(Bounds::Number {
        min: 0.0,
        min_excluded: true,
        max: MAX_PER_SECOND_LIMIT as f64,
    }),
    Field::new("max_in_flight").bounds(Bounds::Whole(MAX_IN_FLIGHT)),
];

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
    /// Trace sampling, copy log, same-cluster guard, baggage member.
    pub containment: TargetContainment,
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

pub(super) fn targets(value: &Value) -> Result<Vec<Target>, String> {
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

fn target(value: &Value, place: &str) -> Result<Target, String> {
    let fields = Fields::of(
        value,
        place,
        "an object with `cluster`, or `service` and `port`",
        TARGET_FIELDS,
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
    let port: Option<u16> = fields.whole("port", &PORT)?;
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
    let mut containment = target_containment(&fields)?;
    if subset.is_none() {
        containment.same_service.clone_from(&service);
    }
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
    let name = match fields.scalar(
        "name",
        &format!("1 to {MAX_NAME_LEN} characters of [A-Za-z0-9_-]"),
        |v| {
            v.as_str()
                .filter(|s| (1..=MAX_NAME_LEN).contains(&s.len()) && s.chars().all(is_name_char))
                .map(String::from)
        },
    )? {
        Some(name) => name,
        None => name_from_cluster(&cluster).map_err(|error| format!("{place}{error}"))?,
    };
    let amplify = fields
        .whole("amplify", &AMPLIFY)?
        .unwrap_or(DEFAULT_AMPLIFY);
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
        .whole("max_endpoints", &MAX_ENDPOINTS)?
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
            .whole("timeout_ms", &TIMEOUT_MS)?
            .map_or(DEFAULT_TIMEOUT, Duration::from_millis),
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
        containment,
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
    let fields = Fields::of(value, place, "an object with `key_header`", SAMPLING_FIELDS)?;
    Ok(SamplingKey {
        header: fields.required_scalar("key_header", "a header name", |v| {
            v.as_str().and_then(header_name)
        })?,
        salt: fields
            .scalar("salt", "a string", |v| v.as_str().map(String::from))?
            .unwrap_or_default(),
    })
}

fn limits(value: &Value, place: &str) -> Result<(Option<f64>, Option<u32>), String> {
    let fields = Fields::of(
        value,
        place,
        "an object with `max_per_second` and/or `max_in_flight`",
        LIMITS_FIELDS,
    )?;
    Ok((
        fields.scalar(
            "max_per_second",
            &format!("a number of copies per second above 0, at most {MAX_PER_SECOND_LIMIT}"),
            |v| {
                v.as_f64()
                    .filter(|r| *r > 0.0 && *r <= f64::from(MAX_PER_SECOND_LIMIT))
            },
        )?,
        fields.whole("max_in_flight", &MAX_IN_FLIGHT)?,
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
