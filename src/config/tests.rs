//! The parser, end to end: each section's values, defaults and errors.

use super::*;
use crate::compare::spec::{BodyMode, CompareSpec, Reference};
use crate::matching::HeaderCondition;
use crate::sampling::SampleRate;
use std::time::Duration;

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
    let config =
        parse(r#"{"targets": [{"cluster": "outbound|8080|canary|user.ns.svc.cluster.local"}]}"#)
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
    let config =
        parse(r#"{"targets": [{"cluster": "c"}], "marker_header": "", "redact": {"headers": []}}"#)
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
        &[
            "redact",
            "`headers` must be a list of at most 256 header names",
        ],
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
    assert!(config.redaction.query_params.is_empty() && config.redaction.json_fields.is_empty());
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
        &["redact: `json_fields` must be a list of at most 256 dot paths"],
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
        &[
            "`json_fields` must be a list of at most 256 dot paths",
            "**.password",
        ],
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
        format!(r#"{{"targets": [{{"cluster": "c", "compare": {compare}}}, {{"cluster": "b"}}]}}"#)
    };
    let cases: &[(&str, &[&str])] = &[
        (r#"{"against": "nope"}"#, &["targets[0]: compare: `against` must be \"original\" or the name of another target (\"b\")", "got \"nope\""]),
        (r#"{"against": "c"}"#, &["`against`", "another target"]),
        (r#"{"against": 1}"#, &["`against`"]),
        (r#"{"status": "yes"}"#, &["`status` must be true or false"]),
        (r#"{"headers": ["a b"]}"#, &["`headers` must be a list of at most 32 header names"]),
        (r#"{"headers": "content-type"}"#, &["`headers`"]),
        (r#"{"body": "text"}"#, &["`body` must be \"none\", \"exact\" or \"json\"", "got \"text\""]),
        (r#"{"body": "json", "ignore_json_fields": ["a..b"]}"#, &["`ignore_json_fields` must be a list of at most 256 dot paths"]),
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

/// The configuration `{"targets": [{"cluster": "c"}]}` with `name: value` in the object at
/// `path` (a `SECTIONS` path).
fn with_field(path: &str, name: &str, value: serde_json::Value) -> String {
    let mut config = serde_json::json!({"targets": [{"cluster": "c"}]});
    let mut object = &mut config;
    for step in path.split('.').filter(|step| !step.is_empty()) {
        let (key, list) = match step.strip_suffix("[]") {
            Some(key) => (key, true),
            None => (step, false),
        };
        let map = object.as_object_mut().unwrap();
        let entry = map.entry(key).or_insert_with(|| {
            if list {
                serde_json::json!([{}])
            } else {
                serde_json::json!({})
            }
        });
        object = if list { &mut entry[0] } else { entry };
    }
    object
        .as_object_mut()
        .unwrap()
        .insert(name.to_string(), value);
    config.to_string()
}

#[test]
fn every_whole_field_is_refused_just_outside_the_bounds_its_table_states() {
    let mut checked = 0;
    for section in SECTIONS {
        for field in section.fields {
            let Bounds::Whole(range) = field.bounds else {
                continue;
            };
            let allowed = format!("`{}` must be {}", field.name, range.allowed());
            let mut outside = vec![range.max + 1];
            if range.min > 0 {
                outside.push(range.min - 1);
            }
            for n in outside {
                assert_error(&with_field(section.path, field.name, n.into()), &[&allowed]);
            }
            for n in [range.min, range.max] {
                let config = with_field(section.path, field.name, n.into());
                if let Err(message) = parse(&config) {
                    assert!(!message.contains(&allowed), "{config}: {message}");
                }
            }
            if let FieldDefault::Whole(default) = field.default {
                assert!(range.contains(default), "{}: {default}", field.name);
            }
            checked += 1;
        }
    }
    assert_eq!(
        checked, 12,
        "the twelve bounded whole numbers, `port` to `copy_log.per_minute` and `max_fields_per_endpoint`"
    );
}

#[test]
fn the_field_tables_state_the_defaults_the_parser_gives() {
    let config = parse(r#"{"targets": [{"cluster": "c", "compare": {}}]}"#).unwrap();
    let target = &config.targets[0];
    let spec = target.compare.as_deref().unwrap();
    let default = |fields: &[Field], name: &str| {
        fields
            .iter()
            .find(|field| field.name == name)
            .unwrap()
            .default
    };
    let whole = |n: usize| FieldDefault::Whole(n as u64);
    let expected = [
        (
            default(BODY_FIELDS, "max_bytes"),
            whole(config.body.max_bytes),
        ),
        (
            default(BODY_FIELDS, "max_buffered_bytes"),
            whole(config.body.max_buffered_bytes),
        ),
        (
            default(BODY_FIELDS, "mirror"),
            FieldDefault::Bool(config.body.mirror),
        ),
        (
            default(TARGET_FIELDS, "timeout_ms"),
            FieldDefault::Whole(target.timeout.as_millis() as u64),
        ),
        (
            default(TARGET_FIELDS, "amplify"),
            whole(target.amplify as usize),
        ),
        (
            default(COMPARE_FIELDS, "max_body_bytes"),
            whole(spec.max_body_bytes),
        ),
        (
            default(COMPARE_FIELDS, "log_mismatches_per_minute"),
            whole(spec.log_mismatches_per_minute as usize),
        ),
        (
            default(COMPARE_FIELDS, "summary_interval_s"),
            FieldDefault::Whole(spec.summary_interval.unwrap().as_secs()),
        ),
        (
            default(COMPARE_FIELDS, "noise_relative_threshold"),
            FieldDefault::Number(spec.noise_relative_threshold),
        ),
        (
            default(TARGET_FIELDS, "max_endpoints"),
            whole(target.max_endpoints),
        ),
        (
            default(COMPARE_FIELDS, "max_fields_per_endpoint"),
            whole(spec.max_fields_per_endpoint),
        ),
    ];
    for (stated, given) in expected {
        assert_eq!(stated, given);
    }
    let texts = [
        (
            default(CONFIG_FIELDS, "marker_header"),
            config.marker_header.as_deref().unwrap(),
        ),
        (
            default(REDACT_FIELDS, "replacement"),
            config.redaction.replacement.as_str(),
        ),
        (
            default(CONFIG_FIELDS, "host_suffix"),
            config.host_suffix.as_str(),
        ),
    ];
    for (stated, given) in texts {
        assert!(
            matches!(stated, FieldDefault::Text(text) if text == given),
            "{given}"
        );
    }
    let FieldDefault::Texts(headers) = default(REDACT_FIELDS, "headers") else {
        panic!("redact.headers defaults to a list");
    };
    assert_eq!(config.redaction.headers, headers);
}

/// A list of `count` distinct entries fit for the list field `name`.
fn entries(name: &str, count: usize, levels: usize) -> serde_json::Value {
    let letters = |i: usize| -> String {
        (0..4)
            .map(|at| char::from(b'a' + (i / 26usize.pow(at) % 26) as u8))
            .collect()
    };
    (0..count)
        .map(|i| match name {
            "headers" => format!("x-{}", letters(i)),
            "query_params" => letters(i),
            "endpoints" => format!("/{}", letters(i)),
            _ => std::iter::repeat_n(letters(i), levels)
                .collect::<Vec<_>>()
                .join("."),
        })
        .collect()
}

#[test]
fn every_list_compared_per_request_is_refused_beyond_its_bound() {
    let mut checked = 0;
    for section in SECTIONS {
        for field in section.fields {
            if field.bounds != fields::LIST_BOUNDS {
                continue;
            }
            let endpoints = field.name == "endpoints";
            let config = |value: serde_json::Value| {
                let config = with_field(section.path, field.name, value);
                // ignore_json_fields needs the body compared as JSON; as many endpoints as
                // templates need as high a max_endpoints.
                let config = config.replace(r#""compare":{"#, r#""compare":{"body":"json","#);
                if endpoints {
                    config.replace(r#""endpoints":"#, r#""max_endpoints":256,"endpoints":"#)
                } else {
                    config
                }
            };
            let allowed = if endpoints {
                format!("endpoints: must be a list of at most {MAX_LIST_ENTRIES} templates")
            } else {
                format!(
                    "`{}` must be a list of at most {MAX_LIST_ENTRIES}",
                    field.name
                )
            };
            assert_error(
                &config(entries(field.name, MAX_LIST_ENTRIES + 1, 1)),
                &[&allowed],
            );
            let at_bound = config(entries(field.name, MAX_LIST_ENTRIES, 1));
            assert!(parse(&at_bound).is_ok(), "{}", error(&at_bound));
            if field.name.ends_with("json_fields") {
                let deepest = config(entries(field.name, 2, MAX_PATH_LEVELS));
                assert!(parse(&deepest).is_ok(), "{}", error(&deepest));
                assert_error(
                    &config(entries(field.name, 2, MAX_PATH_LEVELS + 1)),
                    &[&format!("of at most {MAX_PATH_LEVELS} levels")],
                );
            }
            checked += 1;
        }
    }
    assert_eq!(
        checked, 5,
        "redact's headers, query_params and json_fields, compare's ignore_json_fields, a target's endpoints"
    );
    let million = format!(
        r#"{{"targets": [{{"cluster": "c"}}], "redact": {{"query_params": [{}]}}}}"#,
        vec!["\"a\""; 500_000].join(",")
    );
    assert_error(
        &million,
        &["the plugin configuration is", "at most 1048576"],
    );
}

#[test]
fn a_configuration_over_1_mib_is_refused_before_it_is_parsed() {
    let padded = |bytes: usize| {
        let config = r#"{"targets": [{"cluster": "c"}]}"#;
        format!("{config}{}", " ".repeat(bytes - config.len()))
    };
    assert!(parse(&padded(MAX_CONFIG_BYTES)).is_ok());
    assert_error(
        &padded(MAX_CONFIG_BYTES + 1),
        &["1048577 bytes: at most 1048576 (1 MiB)"],
    );
}

#[test]
fn a_key_given_twice_is_refused_with_its_place() {
    assert_error(
        r#"{"targets": [{"cluster": "c"}], "redact": {"headers": ["authorization"]},
            "body": {}, "redact": {"headers": []}}"#,
        &["`redact` is given twice in one object"],
    );
    assert_error(
        r#"{"targets": [{"cluster": "c"}], "redact": {"headers": ["authorization"], "headers": []}}"#,
        &["redact: `headers` is given twice"],
    );
    assert_error(
        r#"{"targets": [{"cluster": "a"}, {"cluster": "b", "compare": {"body": "json", "b\u006fdy": "none"}}]}"#,
        &["targets[1]: compare: `body` is given twice"],
    );
    assert_error(
        r#"{"targets": [{"cluster": "c", "set_headers": {"x-a": "1", "x-a": "2"}}]}"#,
        &["targets[0]: set_headers: `x-a` is given twice"],
    );
    assert!(parse(
        r#"{"targets": [{"cluster": "a", "name": "a"}, {"cluster": "b", "name": "b"}]}"#
    )
    .is_ok());
}

#[test]
fn endpoints_are_templates_within_max_endpoints() {
    let config = parse(
        r#"{"targets": [{"cluster": "c", "endpoints": ["GET /users/{id}", "/files/{*}"],
            "max_endpoints": 2, "compare": {"max_fields_per_endpoint": 3}}]}"#,
    )
    .unwrap();
    let target = &config.targets[0];
    assert_eq!(
        target.endpoints.label("GET", "/users/7?x=1"),
        "GET /users/{id}"
    );
    assert_eq!(target.endpoints.label("PUT", "/v2/items"), "PUT /{}/items");
    assert_eq!(target.max_endpoints, 2);
    assert_eq!(
        target.compare.as_deref().unwrap().max_fields_per_endpoint,
        3
    );
    let cases: &[(&str, &[&str])] = &[
        (
            r#"{"targets": [{"cluster": "c", "endpoints": ["/a", "users/{id}"]}]}"#,
            &["targets[0]: endpoints: [1] \"users/{id}\": the path must start with `/`"],
        ),
        (
            r#"{"targets": [{"cluster": "c", "endpoints": "/a"}]}"#,
            &["targets[0]: endpoints: must be a list of at most 256 templates"],
        ),
        (
            r#"{"targets": [{"cluster": "c", "endpoints": ["/a", "/b"], "max_endpoints": 1}]}"#,
            &["`endpoints` lists 2 templates, more than `max_endpoints` (1)"],
        ),
        (
            r#"{"targets": [{"cluster": "c", "max_endpoints": 257}]}"#,
            &["`max_endpoints` must be"],
        ),
    ];
    for (config, expected) in cases {
        assert_error(config, expected);
    }
}

#[test]
fn a_configuration_allowing_more_than_ten_thousand_series_is_refused_with_the_formula() {
    // (256 + 1) x (6 + 2 x (8 + 1)) = 6168 per target: one fits, two do not.
    let one = r#"{"cluster": "a", "max_endpoints": 256, "compare": {}}"#;
    assert!(parse(&format!(r#"{{"targets": [{one}]}}"#)).is_ok());
    let two = format!(
        r#"{{"targets": [{one}, {{"cluster": "b", "max_endpoints": 256, "compare": {{}}}}]}}"#
    );
    assert_error(
        &two,
        &[
            "may define 12336 per-endpoint series in an Envoy, more than 10000",
            "(max_endpoints + 1) x (6 + 2 x (compare.max_fields_per_endpoint + 1))",
            "a (6168) + b (6168)",
        ],
    );
    // Targets that do not compare define none.
    let plain = format!(r#"{{"targets": [{one}, {{"cluster": "b", "max_endpoints": 256}}]}}"#);
    assert!(parse(&plain).is_ok());
}
