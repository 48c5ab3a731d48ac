//! Configuration: every invalid plugin configuration is refused by Envoy with an error that
//! names the field, and every example Envoy configuration in `envoy/` is valid.

use mirror_harness::{repo_root, validate_file, Envoy};

/// Envoy's validate mode builds the filter chain, so it runs the plugin's `on_configure`.
fn rejection(plugin_config: &str) -> String {
    match Envoy::builder(plugin_config)
        .cluster("mirror", "127.0.0.1:9".parse().expect("addr"))
        .validate()
    {
        Ok(output) => panic!("Envoy accepted {plugin_config}:\n{output}"),
        Err(output) => output,
    }
}

#[test]
fn each_kind_of_invalid_config_is_rejected_with_the_field_named() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "malformed JSON",
            r#"{"targets": [{"cluster": "mirror"}"#,
            &["not valid JSON"],
        ),
        ("empty configuration", "", &["empty", "`targets`"]),
        (
            "no targets field",
            r#"{"host_suffix": ""}"#,
            &["missing field `targets`"],
        ),
        (
            "empty targets",
            r#"{"targets": []}"#,
            &["targets: must be a list of 1 to 16"],
        ),
        (
            "unknown top-level field",
            r#"{"targets": [{"cluster": "mirror"}], "sample": 5}"#,
            &["unknown field `sample`"],
        ),
        (
            "unknown target field",
            r#"{"targets": [{"cluster": "mirror", "weight": 5}]}"#,
            &["targets[0]", "unknown field `weight`"],
        ),
        (
            "unknown nested field",
            r#"{"targets": [{"cluster": "mirror"}], "body": {"limit": 5}}"#,
            &["body", "unknown field `limit`"],
        ),
        (
            "missing cluster",
            r#"{"targets": [{"name": "canary"}]}"#,
            &["targets[0]", "missing field `cluster`"],
        ),
        (
            "percentage out of range",
            r#"{"targets": [{"cluster": "mirror", "percentage": 101}]}"#,
            &["targets[0]", "`percentage` must be a number from 0 to 100"],
        ),
        (
            "timeout out of range",
            r#"{"targets": [{"cluster": "mirror", "timeout_ms": 0}]}"#,
            &["`timeout_ms` must be", "1 to 60000"],
        ),
        (
            "max_bytes out of range",
            r#"{"targets": [{"cluster": "mirror"}], "body": {"max_bytes": 100000000}}"#,
            &["`max_bytes` must be"],
        ),
        (
            "wrong type",
            r#"{"targets": [{"cluster": "mirror", "percentage": "all"}]}"#,
            &["`percentage`", "got \"all\""],
        ),
        (
            "bad name",
            r#"{"targets": [{"cluster": "mirror", "name": "can ary"}]}"#,
            &["`name` must be 1 to 64 characters"],
        ),
        (
            "duplicate names",
            r#"{"targets": [{"cluster": "mirror", "name": "a"}, {"cluster": "mirror", "name": "a"}]}"#,
            &["targets[1]", "already used by targets[0]"],
        ),
        (
            "bad marker header",
            r#"{"targets": [{"cluster": "mirror"}], "marker_header": "x mirror"}"#,
            &["`marker_header` must be"],
        ),
    ];
    let target_controls: &[(&str, &str, &[&str])] = &[
        (
            "cluster and service together",
            r#"{"targets": [{"cluster": "mirror", "service": "a.ns", "port": 80}]}"#,
            &["targets[0]", "not both"],
        ),
        (
            "bad key header",
            r#"{"targets": [{"cluster": "mirror", "sampling": {"key_header": "x user"}}]}"#,
            &["targets[0]: sampling: `key_header` must be a header name"],
        ),
        (
            "ambiguous header condition",
            r#"{"targets": [{"cluster": "mirror"}], "match": {"headers": [{"name": "x-env"}]}}"#,
            &["match: headers[0]: give exactly one of `exact` and `present`"],
        ),
        (
            "limits smaller than amplify",
            r#"{"targets": [{"cluster": "mirror", "amplify": 5, "limits": {"max_per_second": 2}}]}"#,
            &["targets[0]: limits", "at least `amplify` (5)"],
        ),
        (
            "unsettable header",
            r#"{"targets": [{"cluster": "mirror", "set_headers": {"host": "x"}}]}"#,
            &["targets[0]: set_headers", "cannot be set"],
        ),
        (
            "bad json path",
            r#"{"targets": [{"cluster": "mirror"}], "redact": {"json_fields": ["card..number"]}}"#,
            &["redact: `json_fields` must be a list of at most 256 dot paths"],
        ),
        (
            "a second redact further down (the last one used to win silently)",
            r#"{"targets": [{"cluster": "mirror"}], "redact": {"headers": ["authorization"]}, "redact": {"headers": []}}"#,
            &["`redact` is given twice in one object"],
        ),
        (
            "a json path deeper than 32 levels",
            r#"{"targets": [{"cluster": "mirror"}], "redact": {"json_fields": ["a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a"]}}"#,
            &["redact: `json_fields` must be a list of at most 256 dot paths of at most 32 levels"],
        ),
    ];
    let mut failures = Vec::new();
    for (kind, config, expected) in cases.iter().chain(target_controls) {
        let output = rejection(config);
        let plugin_line = output
            .lines()
            .find(|line| line.contains("invalid plugin configuration"));
        match plugin_line {
            Some(line) if expected.iter().all(|part| line.contains(part)) => {}
            _ => failures.push(format!(
                "{kind}: expected {expected:?} in the plugin's error line of\n{output}"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn envoy_refuses_to_start_with_an_invalid_plugin_config() {
    let log = Envoy::builder(r#"{"targets": [{"cluster": "mirror", "percentage": 150}]}"#)
        .cluster("mirror", "127.0.0.1:9".parse().expect("addr"))
        .start_expecting_rejection();
    assert!(
        log.contains("invalid plugin configuration: targets[0]: `percentage` must be a number from 0 to 100, got 150"),
        "{log}"
    );
}

#[test]
fn valid_config_is_accepted() {
    let accepted = Envoy::builder(r#"{"targets": [{"cluster": "mirror"}]}"#)
        .cluster("mirror", "127.0.0.1:9".parse().expect("addr"))
        .validate();
    assert!(accepted.is_ok(), "{accepted:?}");
}

#[test]
fn every_example_envoy_config_is_valid() {
    let dir = repo_root().join("envoy");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("envoy/") {
        let path = entry.expect("entry").path();
        // Envoy configs are envoy*.yaml; envoy/ also holds a dashboard, a compose file and
        // Istio manifests, checked elsewhere.
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with("envoy") && name.ends_with(".yaml") {
            if let Err(output) = validate_file(&path) {
                panic!("{} is not a valid Envoy config:\n{output}", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 1, "no Envoy configs found in {}", dir.display());
}
