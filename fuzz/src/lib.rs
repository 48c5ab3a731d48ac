//! What each fuzz target does with its input: one function per target, shared by the fuzzer
//! (`fuzz_targets/*.rs`, `make fuzz`) and by the stable replay of the committed corpus and
//! regression inputs (`tests/integration/without_envoy/fuzz_corpus.rs`, which includes this file). Each function feeds
//! the input to the plugin's own code and checks what must hold for any input; a panic here
//! is a crash the fuzzer reports.

use std::rc::Rc;
use traffic_mirror::compare::json::{self as compare_json, IgnoredPath};
use traffic_mirror::compare::pairing::{Candidate, Missing, Pairing, Side};
use traffic_mirror::compare::request::RequestInfo;
use traffic_mirror::compare::response::{Body, Summary};
use traffic_mirror::compare::spec::{BodyMode, CompareSpec, Reference};
use traffic_mirror::compare::verdict;
use traffic_mirror::config::Config;
use traffic_mirror::copy::capture_headers;
use traffic_mirror::http::{is_hop_by_hop, HeaderMap};
use traffic_mirror::json::{Progress, Tokenizer};
use traffic_mirror::json_path::{JsonPath, JsonPaths, PathSet};
use traffic_mirror::metrics::Counter;
use traffic_mirror::outcome::classify;
use traffic_mirror::redact::json::redact_json;
use traffic_mirror::redact::query::{redact_query, Parameters};

/// What a fuzz target does with one input.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus directory.
pub const TARGETS: [(&str, Target); 10] = [
    ("config", config),
    ("header_map", header_map),
    ("headers", headers),
    ("query", query),
    ("json", json),
    ("json_paths", json_paths),
    ("json_tokens", json_tokens),
    ("outcome", outcome),
    ("compare_json", compare_json),
    ("pairing", pairing),
];

/// A configuration with every kind of redaction, for the capture target.
const CAPTURE_CONFIG: &str = r#"{
  "targets": [{"cluster": "mirror", "name": "canary",
               "set_headers": {"authorization": "Bearer mirror-test"}},
              {"cluster": "quiet", "name": "quiet", "tracing": {"sampled": "never"},
               "set_headers": {"authorization": "Bearer mirror-test"}}],
  "host_suffix": "-shadow",
  "redact": {"headers": ["authorization", "cookie", "x-api-key"],
             "query_params": ["token", "access_token"],
             "json_fields": ["password", "card.number", "users.*.ssn"]}
}"#;

fn capture_config() -> Config {
    Config::parse(CAPTURE_CONFIG.as_bytes()).expect("valid config")
}

/// Headers from text lines `name: value` (the value may be any bytes): a shape the fuzzer
/// finds quickly, unlike the host's binary serialization (fuzzed on its own by `header_map`).
fn header_lines(data: &[u8]) -> HeaderMap {
    let lines: Vec<(String, &[u8])> = data
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            // Pseudo-headers start with ':', so the separator is the first ':' after it.
            let at = line.iter().skip(1).position(|&b| b == b':')? + 1;
            let name = String::from_utf8_lossy(&line[..at]).to_ascii_lowercase();
            let value = line[at + 1..].strip_prefix(b" ").unwrap_or(&line[at + 1..]);
            Some((name, value))
        })
        .collect();
    HeaderMap::from_pairs(lines.iter().map(|(name, value)| (name.as_str(), *value)))
}

/// Any bytes as the plugin configuration: an error or a configuration, never a panic.
pub fn config(data: &[u8]) {
    if let Ok(config) = Config::parse(data) {
        assert!(!config.targets.is_empty());
    }
}

/// Any bytes as the host's serialized header map: read within its bounds or refused.
pub fn header_map(data: &[u8]) {
    if let Some(headers) = HeaderMap::parse(data.to_vec()) {
        let bytes: usize = headers.iter().map(|(n, v)| n.len() + v.len()).sum();
        assert!(bytes <= data.len() * 3, "more read than given"); // lossy names may grow
    }
}

/// Any request headers captured into copies: no redacted header, no hop-by-hop header, no
/// line break, and the target's own headers win; a never-sampled copy asks for no sampling,
/// and every copy carries one baggage (marked, or the original's past the W3C limits).
pub fn headers(data: &[u8]) {
    let config = &capture_config();
    let Ok(captured) = capture_headers(&header_lines(data), config) else {
        return;
    };
    for target in &config.targets {
        let member = target
            .containment
            .baggage_member
            .as_deref()
            .unwrap_or_default();
        let marked = captured.marked_baggage(member);
        let baggage = match &marked {
            traffic_mirror::baggage::Marked::Alone => Some(member),
            traffic_mirror::baggage::Marked::Merged(merged) => Some(merged.as_str()),
            traffic_mirror::baggage::Marked::NotMarked => None,
        };
        let copy = captured.headers_for(target, config.marker_header.as_deref(), baggage);
        check_copy(&copy);
        if let Some(baggage) = baggage {
            let carried: Vec<_> = copy.iter().filter(|(n, _)| *n == "baggage").collect();
            assert_eq!(carried, [&("baggage", baggage)]);
            assert!(traffic_mirror::baggage::has_member(
                baggage.as_bytes(),
                "traffic-mirror"
            ));
        }
        if target.name == "quiet" {
            for (name, value) in &copy {
                let forcing = ["x-b3-flags", "x-envoy-force-trace", "x-client-trace-id"];
                assert!(!forcing.contains(name), "{name} in an unsampled copy");
                if *name == "x-b3-sampled" || *name == "b3" {
                    assert!(*value == "0" || value.contains("-0"), "{name}: {value}");
                }
                if *name == "traceparent" {
                    assert!(value.get(53..55) == Some("00"), "{value}");
                }
            }
        }
    }
}

fn check_copy(copy: &[(&str, &str)]) {
    for (name, value) in copy {
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
    let parameters = Parameters {
        names: &names,
        case_sensitive: false,
        replacement: "REDACTED",
    };
    let Some(redacted) = redact_query(path, parameters) else {
        return;
    };
    let before_query = path.split('?').next().unwrap_or("");
    assert!(redacted.starts_with(before_query));
    if let Some(again) = redact_query(&redacted, parameters) {
        assert_eq!(again, redacted, "redaction is not idempotent");
    }
}

/// Paths of the attacker's choosing (first line, comma-separated; as many as the
/// configuration allows) over a document (the rest): the compiled automaton redacts valid
/// JSON into valid JSON, the same with the paths in any order, and each path alone redacts no
/// value the whole set does not.
pub fn json_paths(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (list, document) = text.split_once('\n').unwrap_or(("**.a", text));
    let parsed: Vec<JsonPath> = list
        .split(',')
        .filter_map(JsonPath::parse)
        .take(256)
        .collect();
    let forward: JsonPaths = parsed.iter().cloned().collect();
    let backward: JsonPaths = parsed.iter().rev().cloned().collect();
    let redact = |paths: &JsonPaths| {
        let set = PathSet {
            paths,
            case_sensitive: false,
        };
        redact_json(document.as_bytes(), set, "null")
    };
    let all = redact(&forward);
    assert_eq!(
        all,
        redact(&backward),
        "the order of the paths changed the result"
    );
    let Ok(Some(redacted)) = all else {
        return;
    };
    assert!(
        serde_json::from_slice::<serde_json::Value>(&redacted).is_ok()
            || serde_json::from_slice::<serde_json::Value>(document.as_bytes()).is_err(),
        "valid JSON in, invalid JSON out"
    );
    for path in parsed.iter().take(8) {
        // Whatever one path names, the set replaced already (with `null`): replacing it
        // again changes no byte. A value the automaton missed would change here.
        let alone: JsonPaths = std::iter::once(path.clone()).collect();
        let set = PathSet {
            paths: &alone,
            case_sensitive: false,
        };
        match redact_json(&redacted, set, "null") {
            Ok(None) => {}
            Ok(Some(again)) => assert_eq!(again, redacted, "{path:?} names what the set missed"),
            Err(_) => panic!("the set's output does not parse"),
        }
    }
}

/// Any body as JSON to redact: valid JSON in, valid JSON out, and redacting twice changes
/// nothing more.
pub fn json(data: &[u8]) {
    let list: JsonPaths = [
        "password",
        "card.number",
        "users.*.ssn",
        "items.0",
        "**.token",
        "**.a.**.b",
        "*.**.0",
    ]
    .iter()
    .filter_map(|p| JsonPath::parse(p))
    .collect();
    let paths = PathSet {
        paths: &list,
        case_sensitive: false,
    };
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

/// Any body (the first byte sets the size of the pieces): the plugin's JSON tokenizer, given
/// the body in pieces and resumed after each, reads exactly the tokens (with their spans) or
/// the error it reads from the whole body at once, and never a byte beyond its limit.
pub fn json_tokens(data: &[u8]) {
    let (step, body) = match data.split_first() {
        Some((first, rest)) => (usize::from(*first % 16) + 1, rest),
        None => (1, data),
    };
    let read = |pieces: Option<usize>| {
        let mut tokenizer = Tokenizer::new();
        let mut tokens = Vec::new();
        let mut limit = pieces.unwrap_or(body.len());
        loop {
            match tokenizer.next_within(body, limit) {
                Err(error) => return Err((error, tokens)),
                Ok(Progress::End) => return Ok(tokens),
                Ok(Progress::Token(token)) => {
                    let string = matches!(
                        token,
                        traffic_mirror::json::Token::Key | traffic_mirror::json::Token::String
                    )
                    .then(|| tokenizer.string());
                    tokens.push((token, tokenizer.span(), string));
                }
                Ok(Progress::Pending) => {
                    assert!(tokenizer.offset() <= limit, "read beyond its limit");
                    limit += pieces.unwrap_or(1);
                }
            }
        }
    };
    assert_eq!(
        read(Some(step)),
        read(None),
        "pieces of {step} read differently"
    );
}

/// Any response headers: exactly one result counter.
pub fn outcome(data: &[u8]) {
    let headers = header_lines(data);
    let outcome = classify(headers.iter());
    let counter = Counter::from(outcome);
    assert!(Counter::ALL.contains(&counter));
    assert!(!matches!(
        counter,
        Counter::Mirrored | Counter::SampledOut | Counter::SkippedMemoryBudget
    ));
}

/// Two bodies (split at the first `0xFF` byte, which JSON text never holds; without one, the
/// input against itself) compared as JSON, as the verdict does: an answer for any input, and a
/// body never differs from itself.
pub fn compare_json(data: &[u8]) {
    let (a, b) = match data.iter().position(|&byte| byte == 0xFF) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, data),
    };
    let ignore: Vec<IgnoredPath> = ["timestamp", "items.*.updated_at", "**.id"]
        .iter()
        .filter_map(|p| IgnoredPath::parse(p))
        .collect();
    let _ = compare_json::diff(a, b, Some(a), &ignore);
    if let Ok(same) = compare_json::diff(a, a, None, &ignore) {
        assert_eq!(same.candidate.real, 0, "a body differs from itself");
    }
    let spec = CompareSpec {
        body: BodyMode::Json,
        ignore_json_fields: ignore,
        ..CompareSpec::new()
    };
    let summary = |body: &[u8]| Summary {
        status: Some(200),
        grpc_status: None,
        headers: Vec::new(),
        body: Body::Bytes(body.to_vec()),
    };
    let (sa, sb) = (summary(a), summary(b));
    let _ = verdict::compare(&spec, &sa, &sb, None);
    assert!(
        verdict::compare(&spec, &sa, &sa, Some(&sb)).matched(),
        "a body differs from itself"
    );
}

/// Any sequence of operations on the pairing table (3 bytes each: operation, request id,
/// side): every comparison started ends exactly once, and nothing is left when time is up.
pub fn pairing(data: &[u8]) {
    let against_original = Rc::new(CompareSpec {
        body: BodyMode::Json,
        ..CompareSpec::new()
    });
    let against_baseline = Rc::new(CompareSpec {
        against: Reference::Target(1),
        noise_baseline: Some(2),
        ..CompareSpec::new()
    });
    let mut table = Pairing::new(4, 4096);
    let (mut started, mut ended, mut now) = (0usize, 0usize, 0u64);
    for op in data.chunks(3) {
        let (kind, id, side) = (
            op[0],
            u64::from(*op.get(1).unwrap_or(&0) % 6),
            *op.get(2).unwrap_or(&0),
        );
        now += u64::from(kind >> 3) * 100_000_000;
        let side = match side % 4 {
            0 => Side::Original,
            n => Side::Target(usize::from(n - 1)),
        };
        let summary = Summary {
            status: Some(200 + u16::from(op.get(2).copied().unwrap_or(0) % 3)),
            grpc_status: None,
            headers: Vec::new(),
            body: Body::Bytes(op.to_vec()),
        };
        let resolved = match kind % 5 {
            0 | 1 => {
                let spec = if kind % 5 == 0 {
                    &against_original
                } else {
                    &against_baseline
                };
                started += 1;
                let candidate = Candidate {
                    target: 0,
                    spec: Rc::clone(spec),
                };
                let request = Rc::new(RequestInfo::new(Some("r"), "GET", "/"));
                table.start(id, now, 1_000_000_000, vec![candidate], request)
            }
            2 => table.arrive(id, side, summary, now),
            3 => table.missing(id, side, Missing::NoAnswer, now),
            _ => table.expire(now),
        };
        ended += resolved.len();
    }
    ended += table.expire(u64::MAX).len();
    assert_eq!(started, ended, "every comparison started ends exactly once");
    assert!(table.is_empty());
}
