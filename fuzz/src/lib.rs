//! What each fuzz target does with its input: one function per target, shared by the fuzzer
//! (`fuzz_targets/*.rs`, `make fuzz`) and by the stable replay of the committed corpus and
//! regression inputs (`tests/fuzz_corpus.rs`, which includes this file). Each function feeds
//! the input to the plugin's own code and checks what must hold for any input; a panic here
//! is a crash the fuzzer reports.

use std::sync::OnceLock;
use traffic_mirror::config::Config;
use traffic_mirror::copy::capture_headers;
use traffic_mirror::http::{is_hop_by_hop, parse_header_map, RawHeaders};
use traffic_mirror::json_path::JsonPath;
use traffic_mirror::metrics::Counter;
use traffic_mirror::outcome::classify;
use traffic_mirror::redact::json::redact_json;
use traffic_mirror::redact::query::redact_query;

/// What a fuzz target does with one input.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus directory.
pub const TARGETS: [(&str, Target); 6] = [
    ("config", config),
    ("header_map", header_map),
    ("headers", headers),
    ("query", query),
    ("json", json),
    ("outcome", outcome),
];

/// A configuration with every kind of redaction, for the capture target.
const CAPTURE_CONFIG: &str = r#"{
  "targets": [{"cluster": "mirror", "name": "canary",
               "set_headers": {"authorization": "Bearer mirror-test"}}],
  "host_suffix": "-shadow",
  "redact": {"headers": ["authorization", "cookie", "x-api-key"],
             "query_params": ["token", "access_token"],
             "json_fields": ["password", "card.number", "users.*.ssn"]}
}"#;

fn capture_config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| Config::parse(CAPTURE_CONFIG.as_bytes()).expect("valid config"))
}

/// Headers from text lines `name: value` (the value may be any bytes): a shape the fuzzer
/// finds quickly, unlike the host's binary serialization (fuzzed on its own by `header_map`).
fn header_lines(data: &[u8]) -> RawHeaders {
    data.split(|&b| b == b'\n')
        .filter_map(|line| {
            // Pseudo-headers start with ':', so the separator is the first ':' after it.
            let at = line.iter().skip(1).position(|&b| b == b':')? + 1;
            let name = String::from_utf8_lossy(&line[..at]).to_ascii_lowercase();
            let value = line[at + 1..].strip_prefix(b" ").unwrap_or(&line[at + 1..]);
            Some((name, value.to_vec()))
        })
        .collect()
}

/// Any bytes as the plugin configuration: an error or a configuration, never a panic.
pub fn config(data: &[u8]) {
    if let Ok(config) = Config::parse(data) {
        assert!(!config.targets.is_empty());
    }
}

/// Any bytes as the host's serialized header map: read within its bounds or refused.
pub fn header_map(data: &[u8]) {
    if let Some(headers) = parse_header_map(data) {
        let bytes: usize = headers.iter().map(|(n, v)| n.len() + v.len()).sum();
        assert!(bytes <= data.len() * 3, "more read than given"); // lossy names may grow
    }
}

/// Any request headers captured into copies: no redacted header, no hop-by-hop header, no
/// line break, and the target's own headers win.
pub fn headers(data: &[u8]) {
    let config = capture_config();
    let Ok(captured) = capture_headers(header_lines(data), config) else {
        return;
    };
    let Some(target) = config.targets.first() else {
        return;
    };
    let copy = captured.headers_for(target, config.marker_header.as_deref());
    for (name, value) in &copy {
        let redacted = ["cookie", "x-api-key"].contains(name);
        assert!(!redacted, "redacted header {name} in the copy");
        assert!(
            !is_hop_by_hop(name) || *name == "te",
            "hop-by-hop {name} in the copy"
        );
        if *name == "authorization" {
            assert_eq!(*value, "Bearer mirror-test");
        }
    }
    let authorities = copy.iter().filter(|(n, _)| *n == ":authority").count();
    assert_eq!(authorities, 1);
}

/// A list of parameter names (first line, comma-separated) and a path: redacting twice
/// changes nothing more, and a redacted path still starts with the original's path part.
pub fn query(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (names, path) = text.split_once('\n').unwrap_or(("token", text));
    let names: Vec<String> = names.split(',').map(str::to_string).collect();
    let Some(redacted) = redact_query(path, &names, "REDACTED") else {
        return;
    };
    let before_query = path.split('?').next().unwrap_or("");
    assert!(redacted.starts_with(before_query));
    if let Some(again) = redact_query(&redacted, &names, "REDACTED") {
        assert_eq!(again, redacted, "redaction is not idempotent");
    }
}

/// Any body as JSON to redact: valid JSON in, valid JSON out, and redacting twice changes
/// nothing more.
pub fn json(data: &[u8]) {
    static PATHS: OnceLock<Vec<JsonPath>> = OnceLock::new();
    let paths = PATHS.get_or_init(|| {
        ["password", "card.number", "users.*.ssn", "items.0"]
            .iter()
            .filter_map(|p| JsonPath::parse(p))
            .collect()
    });
    let replacement = "\"REDACTED\"";
    let Ok(Some(redacted)) = redact_json(data, paths, replacement) else {
        return;
    };
    if serde_json::from_slice::<serde_json::Value>(data).is_ok() {
        assert!(
            serde_json::from_slice::<serde_json::Value>(&redacted).is_ok(),
            "valid JSON in, invalid JSON out"
        );
    }
    match redact_json(&redacted, paths, replacement) {
        Ok(Some(again)) => assert_eq!(again, redacted, "redaction is not idempotent"),
        Ok(None) => {}
        Err(_) => panic!("its own output does not parse"),
    }
}

/// Any response headers: exactly one result counter.
pub fn outcome(data: &[u8]) {
    let headers = header_lines(data);
    let outcome = classify(headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())));
    let counter = Counter::from(outcome);
    assert!(Counter::ALL.contains(&counter));
    assert!(!matches!(
        counter,
        Counter::Mirrored | Counter::SampledOut | Counter::SkippedMemoryBudget
    ));
}
