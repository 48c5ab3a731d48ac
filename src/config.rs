//! The plugin configuration: JSON in, validated and typed values out.
//!
//! It is parsed once per `on_configure`, so the request path never meets an unchecked setting.
//! Every error names the field (with its place, e.g. `targets[1]`) and what the field allows,
//! because the only place a user sees it is one line in Envoy's log.

use crate::sampling::SampleRate;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::fmt;
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
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(5000);
/// Copies are buffered in the VM's memory, once per worker and request: past this, a canary
/// would be better served by a sampled subset than by copying huge uploads.
pub const MAX_BODY_BYTES_LIMIT: u64 = 64 << 20;
pub const MAX_TIMEOUT_MS: u64 = 60_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub targets: Vec<Target>,
    pub host_suffix: String,
    /// `None` when the user turned marker and loop guard off with `""`.
    pub marker_header: Option<String>,
    /// Lower-case header names removed from every copy.
    pub redacted_headers: Vec<String>,
    pub body: BodyPolicy,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub cluster: String,
    pub name: String,
    pub sample_rate: SampleRate,
    pub timeout: Duration,
    /// When set, the copy's `:authority` is exactly this and `host_suffix` does not apply.
    pub authority: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyPolicy {
    pub mirror: bool,
    pub max_bytes: usize,
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
        let raw: RawConfig =
            serde_json::from_value(value).map_err(|error| ConfigError(error.to_string()))?;
        Ok(raw.into_config())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object with `targets`")]
struct RawConfig {
    targets: Targets,
    host_suffix: Option<HostSuffix>,
    marker_header: Option<MarkerHeader>,
    redact: Option<Redact>,
    body: Option<Body>,
}

impl RawConfig {
    fn into_config(self) -> Config {
        Config {
            targets: self.targets.0,
            host_suffix: self.host_suffix.map(|s| s.0).unwrap_or_default(),
            marker_header: self
                .marker_header
                .map_or_else(|| Some(DEFAULT_MARKER_HEADER.to_string()), |m| m.0),
            redacted_headers: self.redact.and_then(|r| r.0.headers).map_or_else(
                || DEFAULT_REDACTED_HEADERS.map(String::from).to_vec(),
                |h| h.0,
            ),
            body: self.body.map_or(
                BodyPolicy {
                    mirror: true,
                    max_bytes: DEFAULT_MAX_BODY_BYTES,
                },
                |b| b.0,
            ),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `cluster`")]
struct RawTarget {
    cluster: ClusterName,
    name: Option<TargetName>,
    percentage: Option<Percentage>,
    timeout_ms: Option<TimeoutMs>,
    authority: Option<Authority>,
}

impl RawTarget {
    fn into_target(self) -> Result<Target, String> {
        let name = match self.name {
            Some(name) => name.0,
            None => name_from_cluster(&self.cluster.0)?,
        };
        Ok(Target {
            cluster: self.cluster.0,
            name,
            sample_rate: self.percentage.map_or(SampleRate::ALWAYS, |p| p.0),
            timeout: self.timeout_ms.map_or(DEFAULT_TIMEOUT, |t| t.0),
            authority: self.authority.map(|a| a.0),
        })
    }
}

/// Istio cluster names hold `|` and dots, which do not belong in a stat name.
fn name_from_cluster(cluster: &str) -> Result<String, String> {
    let name: String = cluster
        .chars()
        .map(|c| if is_name_char(c) { c } else { '_' })
        .collect();
    if name.chars().count() > MAX_NAME_LEN {
        return Err(format!(
            "`name` is required when `cluster` is longer than {MAX_NAME_LEN} characters (the \
             default name is the cluster with every character outside [A-Za-z0-9_-] replaced by \
             `_`)"
        ));
    }
    Ok(name)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

#[derive(Deserialize)]
#[serde(try_from = "Value")]
struct Targets(Vec<Target>);

impl TryFrom<Value> for Targets {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, String> {
        let items = match value {
            Value::Array(items) if (1..=MAX_TARGETS).contains(&items.len()) => items,
            other => {
                return Err(format!(
                    "`targets` must be a list of 1 to {MAX_TARGETS} targets, got {}",
                    describe(&other)
                ))
            }
        };
        let mut targets: Vec<Target> = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            let place = format!("targets[{index}]");
            let target = nested::<RawTarget>(&place, item)?
                .into_target()
                .map_err(|error| format!("{place}: {error}"))?;
            if let Some(first) = targets.iter().position(|t| t.name == target.name) {
                return Err(format!(
                    "{place}: `name` \"{}\" is already used by targets[{first}]; names must be \
                     unique (a target without `name` is named after its cluster)",
                    target.name
                ));
            }
            targets.push(target);
        }
        Ok(Targets(targets))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `headers`")]
struct RawRedact {
    headers: Option<HeaderNames>,
}

#[derive(Deserialize)]
#[serde(try_from = "Value")]
struct Redact(RawRedact);

impl TryFrom<Value> for Redact {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, String> {
        nested("redact", value).map(Redact)
    }
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an object with `mirror` and/or `max_bytes`"
)]
struct RawBody {
    mirror: Option<MirrorBody>,
    max_bytes: Option<MaxBytes>,
}

#[derive(Deserialize)]
#[serde(try_from = "Value")]
struct Body(BodyPolicy);

impl TryFrom<Value> for Body {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, String> {
        let raw: RawBody = nested("body", value)?;
        Ok(Body(BodyPolicy {
            mirror: raw.mirror.map_or(true, |m| m.0),
            max_bytes: raw.max_bytes.map_or(DEFAULT_MAX_BODY_BYTES, |m| m.0),
        }))
    }
}

/// Deserializes an object found at `place`, naming that place in any error.
fn nested<T: DeserializeOwned>(place: &str, value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|error| format!("{place}: {error}"))
}

/// A scalar field: the value is taken as JSON and checked by `parse`; the error names the field
/// and what it allows, e.g. "`percentage` must be a number from 0 to 100, got "50"".
macro_rules! scalar_field {
    ($type:ident($inner:ty), $field:literal, $allowed:expr, $parse:expr) => {
        #[derive(Deserialize)]
        #[serde(try_from = "Value")]
        struct $type($inner);

        impl TryFrom<Value> for $type {
            type Error = String;

            fn try_from(value: Value) -> Result<Self, String> {
                let parse: fn(&Value) -> Option<$inner> = $parse;
                parse(&value).map($type).ok_or_else(|| {
                    format!(
                        "`{}` must be {}, got {}",
                        $field,
                        $allowed,
                        describe(&value)
                    )
                })
            }
        }
    };
}

scalar_field!(
    ClusterName(String),
    "cluster",
    "a non-empty Envoy cluster name",
    |v| {
        v.as_str()
            .filter(|s| !s.is_empty() && !s.contains(char::is_whitespace))
            .map(String::from)
    }
);

scalar_field!(
    TargetName(String),
    "name",
    "1 to 64 characters of [A-Za-z0-9_-]",
    |v| {
        v.as_str()
            .filter(|s| (1..=MAX_NAME_LEN).contains(&s.len()) && s.chars().all(is_name_char))
            .map(String::from)
    }
);

scalar_field!(
    Percentage(SampleRate),
    "percentage",
    "a number from 0 to 100",
    |v| v.as_f64().and_then(SampleRate::from_percentage)
);

scalar_field!(
    TimeoutMs(Duration),
    "timeout_ms",
    "a whole number of milliseconds from 1 to 60000",
    |v| whole_number(v)
        .filter(|ms| (1..=MAX_TIMEOUT_MS).contains(ms))
        .map(Duration::from_millis)
);

scalar_field!(
    Authority(String),
    "authority",
    "a non-empty host or host:port without spaces",
    |v| {
        v.as_str()
            .filter(|s| !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control()))
            .map(String::from)
    }
);

scalar_field!(
    HostSuffix(String),
    "host_suffix",
    "a string of letters, digits, `.`, `-` and `_` (\"\" for none)",
    |v| {
        v.as_str()
            .filter(|s| {
                s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            })
            .map(String::from)
    }
);

scalar_field!(
    MarkerHeader(Option<String>),
    "marker_header",
    "a header name, or \"\" to turn the marker and the loop guard off",
    |v| match v.as_str() {
        Some("") => Some(None),
        Some(name) => header_name(name).map(Some),
        None => None,
    }
);

scalar_field!(
    HeaderNames(Vec<String>),
    "headers",
    "a list of header names",
    |v| v
        .as_array()?
        .iter()
        .map(|item| header_name(item.as_str()?))
        .collect()
);

scalar_field!(MirrorBody(bool), "mirror", "true or false", Value::as_bool);

scalar_field!(
    MaxBytes(usize),
    "max_bytes",
    "a whole number of bytes from 0 to 67108864 (64 MiB)",
    |v| {
        whole_number(v)
            .filter(|n| *n <= MAX_BODY_BYTES_LIMIT)
            .and_then(|n| usize::try_from(n).ok())
    }
);

/// Istio hands `pluginConfig` over as a protobuf Struct, where every number is a double:
/// `5000.0` has to mean 5000.
fn whole_number(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        let float = value.as_f64()?;
        let exact = float.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&float);
        exact.then_some(float as u64)
    })
}

/// Header names travel lower-case in Envoy (and must, in HTTP/2), so configured names are
/// lower-cased once here instead of compared case-insensitively on every request.
fn header_name(name: &str) -> Option<String> {
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    (!name.is_empty() && name.chars().all(is_token_char)).then(|| name.to_ascii_lowercase())
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
            config.redacted_headers,
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
                max_bytes: 1_048_576
            }
        );
    }

    #[test]
    fn full_version_one_config_is_read_as_written() {
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
              "body": {"mirror": false, "max_bytes": 0}
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
        assert_eq!(config.redacted_headers, ["authorization", "x-session"]);
        assert_eq!(
            config.body,
            BodyPolicy {
                mirror: false,
                max_bytes: 0
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
        assert!(config.redacted_headers.is_empty());
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
            &["`targets` must be a list of 1 to 16", "got []"],
        );
        assert_error(
            r#"{"targets": {"cluster": "c"}}"#,
            &["`targets` must be a list"],
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
}
