//! The plugin's own work on the worst inputs a client can build, beside a benign input of the
//! same size: microseconds per MB, run natively (the same code the VM runs, without Envoy). A
//! linear step costs about the same per MB on both; a super-linear one shows as a worst case
//! many times the benign one, growing with the size.

use serde_json::{json, Value};
use std::time::Instant;
use traffic_mirror::config::Config;
use traffic_mirror::copy::capture_headers;
use traffic_mirror::http::HeaderMap;
use traffic_mirror::json_path::{JsonPath, JsonPaths, PathSet};
use traffic_mirror::redact::json::redact_json;
use traffic_mirror::redact::query::{redact_query, Parameters};

pub struct Case {
    pub name: &'static str,
    pub bytes: usize,
    pub worst_us_per_mb: f64,
    pub benign_us_per_mb: f64,
}

/// Median microseconds per MB of `work` on `input`, over `runs` runs.
fn us_per_mb(runs: usize, bytes: usize, mut work: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            work();
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2] / (bytes as f64 / 1e6)
}

fn repeated(item: &str, separator: &str, bytes: usize) -> String {
    let count = bytes / (item.len() + separator.len());
    vec![item; count].join(separator)
}

/// Every case, with inputs of about `bytes` (1 MB in `make bench`, less in the smoke run).
pub fn measure(bytes: usize, runs: usize) -> Vec<Case> {
    let mut cases = Vec::new();
    let list: JsonPaths = ["password", "users.*.ssn"]
        .iter()
        .filter_map(|p| JsonPath::parse(p))
        .collect();
    let paths = PathSet {
        paths: &list,
        case_sensitive: false,
    };
    let replacement = "\"REDACTED\"";
    let json_case = |name: &'static str, worst: String, benign: String| {
        let worst_us = us_per_mb(runs, worst.len(), || {
            let _ = redact_json(worst.as_bytes(), paths, replacement);
        });
        let benign_us = us_per_mb(runs, benign.len(), || {
            let _ = redact_json(benign.as_bytes(), paths, replacement);
        });
        Case {
            name,
            bytes: worst.len(),
            worst_us_per_mb: worst_us,
            benign_us_per_mb: benign_us,
        }
    };
    // Many hits: every member is redacted (issue 10: quadratic before the rewrite).
    let members = |key: &str| format!("{{{}}}", repeated(&format!("\"{key}\":0"), ",", bytes));
    cases.push(json_case(
        "json_many_hits",
        members("password"),
        members("passwore"),
    ));
    // Deep nesting, as deep as is accepted (128 levels), over and over.
    let deep = |key: &str| {
        let one = format!("{}{{\"{key}\":1}}{}", "[".repeat(120), "]".repeat(120));
        format!("[{}]", repeated(&one, ",", bytes))
    };
    cases.push(json_case("json_deep_nesting", deep("password"), deep("x")));
    // A long key: one member whose key is nearly the whole body.
    let long_key = |c: &str| format!("{{\"{}\":1}}", c.repeat(bytes));
    cases.push(json_case("json_long_key", long_key("p"), long_key("q")));
    // Wildcards: many array elements under `users.*.ssn`.
    let users = |key: &str| {
        format!(
            "{{\"users\":[{}]}}",
            repeated(&format!("{{\"{key}\":1}}"), ",", bytes)
        )
    };
    cases.push(json_case("json_wildcard_hits", users("ssn"), users("ssm")));

    // Many `**.` paths (issue 17: the matcher cost the square of them per value): the same
    // body, nested objects and arrays with one hit per item, redacted with 16 and 256
    // `**.keyN` paths (worst) against 1 (benign). The ratio is what the paths cost.
    let item = r#"{"alpha":{"beta":[1,{"key0":"x","delta":true}]},"gamma":2,"epsilon":"y"}"#;
    let body = format!("[{}]", repeated(item, ",", bytes));
    let any_depth = |count: usize| -> JsonPaths {
        (0..count)
            .filter_map(|i| JsonPath::parse(&format!("**.key{i}")))
            .collect()
    };
    let one = any_depth(1);
    for (name, count) in [
        ("json_any_depth_1_path", 1),
        ("json_any_depth_16_paths", 16),
        ("json_any_depth_256_paths", 256),
    ] {
        let many = any_depth(count);
        let redact_with = |paths: &JsonPaths| {
            let set = PathSet {
                paths,
                case_sensitive: false,
            };
            us_per_mb(runs, body.len(), || {
                let _ = redact_json(body.as_bytes(), set, replacement);
            })
        };
        cases.push(Case {
            name,
            bytes: body.len(),
            worst_us_per_mb: redact_with(&many),
            benign_us_per_mb: redact_with(&one),
        });
    }

    // Many query parameters, all named (worst) or none (benign).
    let names = vec!["token".to_string(), "access_token".to_string()];
    let parameters = Parameters {
        names: &names,
        case_sensitive: false,
        replacement: "REDACTED",
    };
    let query = |param: &str| format!("/p?{}", repeated(param, "&", bytes));
    let (worst, benign) = (query("token=1"), query("tokex=1"));
    cases.push(Case {
        name: "query_many_params",
        bytes: worst.len(),
        worst_us_per_mb: us_per_mb(runs, worst.len(), || {
            let _ = redact_query(&worst, parameters);
        }),
        benign_us_per_mb: us_per_mb(runs, benign.len(), || {
            let _ = redact_query(&benign, parameters);
        }),
    });

    // Header capture: a `Connection` list naming every one of many headers, against the same
    // headers without it (Envoy caps a request's headers at 60 KiB by default; this is larger).
    let config = Config::parse(br#"{"targets": [{"cluster": "c"}]}"#).expect("config");
    let headers = |with_connection: bool| {
        let count = bytes / 64;
        let mut raw: Vec<(String, Vec<u8>)> = vec![
            (":method".into(), b"GET".to_vec()),
            (":path".into(), b"/".to_vec()),
            (":authority".into(), b"a".to_vec()),
        ];
        let names: Vec<String> = (0..count).map(|i| format!("x-h-{i}")).collect();
        if with_connection {
            raw.push(("connection".into(), names.join(", ").into_bytes()));
        }
        raw.extend(names.into_iter().map(|n| (n, b"v".to_vec())));
        raw
    };
    let map = |raw: Vec<(String, Vec<u8>)>| {
        HeaderMap::from_pairs(raw.iter().map(|(n, v)| (n.as_str(), v.as_slice())))
    };
    let (worst, benign) = (map(headers(true)), map(headers(false)));
    let (worst_bytes, benign_bytes) = (worst.text_len(), benign.text_len());
    cases.push(Case {
        name: "headers_connection_list",
        bytes: worst_bytes,
        worst_us_per_mb: us_per_mb(runs, worst_bytes, || {
            let _ = capture_headers(&worst, &config);
        }),
        benign_us_per_mb: us_per_mb(runs, benign_bytes, || {
            let _ = capture_headers(&benign, &config);
        }),
    });
    cases
}

pub fn table(cases: &[Case]) -> String {
    let mut out = format!(
        "\nthe plugin's work on worst-case input (native, median): us per MB\n{:<26} {:>10} {:>14} {:>14} {:>8}\n",
        "case", "bytes", "worst", "benign", "ratio"
    );
    for case in cases {
        out.push_str(&format!(
            "{:<26} {:>10} {:>14.0} {:>14.0} {:>8.1}\n",
            case.name,
            case.bytes,
            case.worst_us_per_mb,
            case.benign_us_per_mb,
            case.worst_us_per_mb / case.benign_us_per_mb
        ));
    }
    out
}

pub fn json(cases: &[Case]) -> Value {
    cases
        .iter()
        .map(|c| {
            (
                c.name.to_string(),
                json!({"bytes": c.bytes, "worst_us_per_mb": c.worst_us_per_mb.round(),
                       "benign_us_per_mb": c.benign_us_per_mb.round()}),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}
