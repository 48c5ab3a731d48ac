//! A configured secret never leaves in a copy: each way a secret was seen to leak (issue 9),
//! tried as an attacker would, over HTTP/1.1 and HTTP/2, with the `redact` block of the example in docs/configuration.md.
//! Either the copy arrives without the secret, or no copy is sent and the refusal is counted.
//! See SECURITY.md for the threat model these tests hold.

use mirror_harness::{Backend, Client, Envoy, Received, Request, Scenario};
use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;
use traffic_mirror::metrics::Counter;

const WAIT: Duration = Duration::from_secs(10);
const TARGET: &str = "canary";
const SENT_OVER: &str = "x-test-sent-over";

/// The example `redact` block of docs/configuration.md.
fn readme_redaction() -> serde_json::Value {
    json!({
        "targets": [{"cluster": "mirror", "name": TARGET}],
        "redact": {
            "headers": ["authorization", "proxy-authorization", "cookie", "x-api-key"],
            "query_params": ["token", "access_token", "password"],
            "json_fields": ["**.password", "card.number", "users.*.ssn"]
        }
    })
}

/// What the plugin must do with a request that holds a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// The copy is sent, without the secret.
    Redacted,
    /// No copy is sent; the request is counted under this counter.
    Refused(&'static str),
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// Whether the copy carries `secret` anywhere: path, a header, the body.
fn carries(copy: &Received, secret: &str) -> bool {
    copy.path.contains(secret)
        || copy
            .headers
            .iter()
            .any(|(_, value)| contains(value, secret))
        || contains(&copy.body, secret)
}

/// Sends each request over HTTP/1.1 and over HTTP/2; every original must pass untouched, and
/// `secret` must never reach the mirror: each request meets `fate`.
fn assert_never_leaks(requests: &[Request], secret: &str, fate: Fate) {
    let setup = Scenario::start(readme_redaction());
    let mut http1 = Client::http1(setup.envoy.listener());
    let mut http2 = Client::http2(setup.envoy.listener());
    for request in requests {
        for (protocol, client) in [("HTTP/1.1", &mut http1), ("HTTP/2", &mut http2)] {
            // Tagged, so that a copy says which protocol its original came over.
            let response = client.send(request.clone().header(SENT_OVER, protocol));
            assert_eq!(response.status, 200, "{protocol} original of {request:?}");
        }
    }
    let sent = 2 * requests.len();
    let originals = setup.primary.wait_for(sent, WAIT);
    for (original, request) in originals.iter().zip(requests.iter().flat_map(|r| [r, r])) {
        assert_eq!(
            original.body, request.body,
            "the original's body is untouched"
        );
    }
    match fate {
        Fate::Redacted => {
            setup
                .envoy
                .wait_for_counter(TARGET, "mirrored", sent as u64, WAIT);
            assert_no_copy_carries(&setup.mirror.wait_for(sent, WAIT), secret);
        }
        Fate::Refused(counter) => {
            mirror_harness::eventually("the plugin's decisions", WAIT, || {
                let decided = setup.envoy.counter(TARGET, counter) as usize + setup.mirror.count();
                (decided >= sent).then_some(())
            });
            std::thread::sleep(Duration::from_millis(300));
            assert_no_copy_carries(&setup.mirror.received(), secret);
            assert_eq!(setup.mirror.count(), 0, "a copy was sent");
            assert_eq!(setup.envoy.counter(TARGET, counter), sent as u64);
            assert_eq!(setup.envoy.counter(TARGET, "mirrored"), 0);
        }
    }
}

/// Fails with every copy (of either protocol) that carries `secret`.
fn assert_no_copy_carries(copies: &[Received], secret: &str) {
    let leaks: Vec<String> = copies
        .iter()
        .filter(|copy| carries(copy, secret))
        .map(|copy| {
            let protocol = copy.header(SENT_OVER).unwrap_or("?");
            format!(
                "copy of an {protocol} original carries {secret}:\n{}",
                shown(copy)
            )
        })
        .collect();
    assert!(leaks.is_empty(), "{}", leaks.join("\n----\n"));
}

/// The copy as text, for failure messages.
fn shown(copy: &Received) -> String {
    let headers: Vec<String> = copy
        .headers
        .iter()
        .map(|(name, value)| format!("{name}: {}", String::from_utf8_lossy(value)))
        .collect();
    format!(
        "{} {}\n{}\n\n{}",
        copy.method,
        copy.path,
        headers.join("\n"),
        String::from_utf8_lossy(&copy.body)
    )
}

fn json_post(content_type: Option<&[u8]>, body: &str) -> Request {
    let request = Request::post("/login", body);
    match content_type {
        Some(value) => request.header("content-type", value),
        None => request,
    }
}

const JSON_SECRET: &str = r#"{"user":"ann","password":"hunter2"}"#;

#[test]
fn a_content_type_that_cannot_be_read_never_lets_the_body_out() {
    assert_never_leaks(
        &[json_post(
            Some(b"application/json; charset=\xff"),
            JSON_SECRET,
        )],
        "hunter2",
        Fate::Refused("skipped_unredactable_body"),
    );
}

#[test]
fn two_content_types_never_let_the_body_out() {
    assert_never_leaks(
        &[json_post(Some(b"application/json"), JSON_SECRET).header("content-type", "text/plain")],
        "hunter2",
        Fate::Refused("skipped_unredactable_body"),
    );
}

#[test]
fn query_names_in_any_case_or_with_brackets_are_redacted() {
    assert_never_leaks(
        &[
            Request::get("/search?TOKEN=s3cr3t&q=1"),
            Request::get("/search?token[]=s3cr3t"),
            Request::get("/search?token%5B0%5D=s3cr3t&Access_Token=s3cr3t"),
        ],
        "s3cr3t",
        Fate::Redacted,
    );
}

#[test]
fn json_keys_in_any_case_are_redacted() {
    assert_never_leaks(
        &[json_post(
            Some(b"application/json"),
            r#"{"PASSWORD":"hunter2","Password":"hunter2"}"#,
        )],
        "hunter2",
        Fate::Redacted,
    );
}

#[test]
fn a_header_spelled_with_underscores_is_redacted() {
    assert_never_leaks(
        &[Request::get("/").header("X_Api_Key", "k3y")],
        "k3y",
        Fate::Redacted,
    );
}

#[test]
fn json_under_any_type_or_none_is_redacted() {
    assert_never_leaks(
        &[
            json_post(Some(b"text/json"), JSON_SECRET),
            json_post(Some(b"application/x-json"), JSON_SECRET),
            json_post(Some(b"text/plain"), JSON_SECRET),
            json_post(None, JSON_SECRET),
        ],
        "hunter2",
        Fate::Redacted,
    );
}

#[test]
fn a_login_form_is_redacted() {
    assert_never_leaks(
        &[
            json_post(
                Some(b"application/x-www-form-urlencoded"),
                "user=ann&password=hunter2",
            ),
            json_post(
                Some(b"application/x-www-form-urlencoded; charset=UTF-8"),
                "user%5Bpassword%5D=hunter2&Password=hunter2",
            ),
        ],
        "hunter2",
        Fate::Redacted,
    );
}

fn multipart(part_name: &str, content: &str) -> Request {
    let body = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nann\r\n\
         --XyZ\r\nContent-Disposition: form-data; name=\"{part_name}\"\r\n\r\n{content}\r\n--XyZ--\r\n"
    );
    Request::post("/upload", body).header("content-type", "multipart/form-data; boundary=XyZ")
}

#[test]
fn multipart_form_fields_are_redacted() {
    assert_never_leaks(
        &[
            multipart("password", "hunter2"),
            multipart("meta", r#"{"password":"hunter2"}"#),
        ],
        "hunter2",
        Fate::Redacted,
    );
}

#[test]
fn a_multipart_body_that_parsers_could_read_differently_is_not_sent() {
    let lf_only = "--XyZ\nContent-Disposition: form-data; name=\"password\"\n\nhunter2\n--XyZ--\n";
    assert_never_leaks(
        &[Request::post("/upload", lf_only)
            .header("content-type", "multipart/form-data; boundary=XyZ")],
        "hunter2",
        Fate::Refused("skipped_unredactable_body"),
    );
}

#[test]
fn a_top_level_array_of_objects_is_redacted_by_any_depth_paths() {
    assert_never_leaks(
        &[json_post(
            Some(b"application/json"),
            r#"[{"password":"hunter2"},{"user":{"password":"hunter2"}}]"#,
        )],
        "hunter2",
        Fate::Redacted,
    );
}

#[test]
fn a_compressed_body_is_not_sent() {
    // The bytes of `{"password":"hunter2"}` gzip'd are not the secret: the point is that the
    // plugin cannot look inside, so it does not send what it cannot check.
    assert_never_leaks(
        &[json_post(Some(b"application/json"), JSON_SECRET).header("content-encoding", "gzip")],
        "hunter2",
        Fate::Refused("skipped_unredactable_body"),
    );
}

#[test]
fn json_that_lenient_parsers_read_is_not_sent() {
    // Go's decoder reads the first value and ignores what follows.
    assert_never_leaks(
        &[json_post(
            Some(b"text/plain"),
            r#"{"password":"hunter2"} trailing"#,
        )],
        "hunter2",
        Fate::Refused("skipped_unparseable_body"),
    );
}

/// A backend that answers every request on every connection with `response`, as is.
fn raw_backend(response: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buffer) {
                    if n == 0 || stream.write_all(response).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn outcome_of_one_copy(
    response: &'static [u8],
) -> (std::collections::BTreeMap<String, u64>, String) {
    let primary = Backend::start();
    let envoy = Envoy::builder(
        json!({"targets": [{"cluster": "odd", "name": TARGET, "timeout_ms": 2000}]}),
    )
    .primary(primary.addr())
    .cluster("odd", raw_backend(response))
    .start();
    let response = Client::http1(envoy.listener()).send(Request::get("/"));
    assert_eq!(response.status, 200);
    mirror_harness::eventually("the copy's result", WAIT, || {
        let stats = envoy.plugin_stats();
        let results: u64 = Counter::RESULTS
            .iter()
            .map(|c| c.suffix())
            .map(|c| {
                stats
                    .get(&format!("wasmcustom.traffic_mirror.{TARGET}.{c}"))
                    .copied()
                    .unwrap_or(0)
            })
            .sum();
        (results == 1).then_some(())
    });
    std::thread::sleep(Duration::from_millis(200));
    (envoy.plugin_stats(), envoy.log())
}

#[test]
fn an_informational_final_status_is_not_an_answer() {
    let (stats, log) = outcome_of_one_copy(b"HTTP/1.1 101 Switching Protocols\r\n\r\n");
    let failed = format!("wasmcustom.traffic_mirror.{TARGET}.failed");
    assert_eq!(stats.get(&failed), Some(&1), "{stats:#?}\n{log}");
}

#[test]
fn a_status_outside_100_to_599_is_not_an_answer() {
    let (stats, log) = outcome_of_one_copy(b"HTTP/1.1 600 Odd\r\ncontent-length: 0\r\n\r\n");
    let failed = format!("wasmcustom.traffic_mirror.{TARGET}.failed");
    assert_eq!(stats.get(&failed), Some(&1), "{stats:#?}\n{log}");
}

/// The plugin's first warning about a failed copy (the first failure always warns).
fn failure_warning(envoy: &Envoy) -> String {
    mirror_harness::eventually("a warning about a failed copy", WAIT, || {
        envoy
            .log()
            .lines()
            .find(|line| line.contains("failed or timed out since the last warning"))
            .map(String::from)
    })
}

/// Sends one request whose 4 copies go to a slow mirror behind `circuit_breakers`; returns
/// the plugin's warning about the copies Envoy failed.
fn warning_with_circuit_breaker(thresholds: serde_json::Value) -> String {
    let primary = Backend::start();
    let mirror = Backend::slow(Duration::from_secs(2));
    let mut cluster = mirror_harness::bootstrap::cluster("mirror", mirror.addr(), false);
    cluster["circuit_breakers"] = json!({ "thresholds": [thresholds] });
    let config = json!({"targets": [{"cluster": "mirror", "name": TARGET, "amplify": 4}]});
    let envoy = Envoy::builder(config)
        .primary(primary.addr())
        .raw_cluster(cluster)
        .start();
    let response = Client::http1(envoy.listener()).send(Request::get("/"));
    assert_eq!(response.status, 200, "the original never waits for a copy");
    envoy.wait_for_counter(TARGET, "failed", 3, WAIT);
    let warning = failure_warning(&envoy);
    envoy.wait_for_counter(TARGET, "responses_2xx", 1, WAIT);
    warning
}

#[test]
fn a_full_circuit_breaker_is_named_in_the_warning() {
    // The first copy waits for a connection to the slow mirror; Envoy fails the other three
    // inside proxy_http_call, whichever of the two limits is reached.
    for thresholds in [
        json!({"max_pending_requests": 1}),
        json!({"max_requests": 1}),
    ] {
        let warning = warning_with_circuit_breaker(thresholds.clone());
        eprintln!("measured with {thresholds}: {warning}");
        assert!(
            warning.contains("circuit breaker") && !warning.contains("exist"),
            "{thresholds}: {warning}"
        );
    }
}

#[test]
fn an_unknown_cluster_is_named_in_the_warning() {
    let primary = Backend::start();
    let envoy = Envoy::builder(json!({"targets": [{"cluster": "nowhere", "name": TARGET}]}))
        .primary(primary.addr())
        .start();
    let response = Client::http1(envoy.listener()).send(Request::get("/"));
    assert_eq!(response.status, 200);
    envoy.wait_for_counter(TARGET, "failed", 1, WAIT);
    let warning = failure_warning(&envoy);
    eprintln!("measured: {warning}");
    assert!(
        warning.contains("Envoy has no cluster nowhere"),
        "{warning}"
    );
}

#[test]
fn a_cluster_without_hosts_is_named_in_the_warning() {
    let primary = Backend::start();
    let empty = json!({
        "name": "empty", "type": "STATIC", "connect_timeout": "0.25s",
        "load_assignment": {"cluster_name": "empty", "endpoints": []}
    });
    let envoy = Envoy::builder(json!({"targets": [{"cluster": "empty", "name": TARGET}]}))
        .primary(primary.addr())
        .raw_cluster(empty)
        .start();
    let response = Client::http1(envoy.listener()).send(Request::get("/"));
    assert_eq!(response.status, 200);
    envoy.wait_for_counter(TARGET, "failed", 1, WAIT);
    let warning = failure_warning(&envoy);
    eprintln!("measured: {warning}");
    assert!(warning.contains("no healthy host"), "{warning}");
}

/// A multipart form of one part, with the part's `Content-Disposition` parameters as given.
fn multipart_part(disposition: &str, content: &str) -> Request {
    let body = format!(
        "--XyZ\r\nContent-Disposition: form-data; {disposition}\r\n\r\n{content}\r\n--XyZ--\r\n"
    );
    Request::post("/upload", body).header("content-type", "multipart/form-data; boundary=XyZ")
}

#[test]
fn multipart_parameters_split_extended_repeated_or_php_quoted_never_let_the_body_out() {
    // Go and Flask read `password` from each of these dispositions (RFC 2231 continuations and
    // extended values; PHP reads `'...'` as quotes); the plugin read none of them as
    // `password` and sent the part as it was.
    let mut requests: Vec<Request> = [
        "name*0=password",
        "name*0=pass; name*1=word",
        "name*0*=utf-8''pass%77ord",
        "name=\"safe\"; name*0=\"password\"",
        "name='password'",
    ]
    .iter()
    .map(|disposition| multipart_part(disposition, "hunter2"))
    .collect();
    // A second boundary: split at AAA, the body is one harmless part; split at XyZ (as a
    // parser that keeps the other boundary does), it is a form with `password`.
    let hidden = "--AAA\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\
                  --XyZ\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nhunter2\r\n\
                  --XyZ--\r\n\r\n--AAA--\r\n";
    requests.push(Request::post("/upload", hidden).header(
        "content-type",
        "multipart/form-data; boundary=AAA; boundary*0=XyZ",
    ));
    assert_never_leaks(
        &requests,
        "hunter2",
        Fate::Refused("skipped_unredactable_body"),
    );
}

/// `text` in UTF-16 (big- or little-endian), with a byte order mark or not.
fn utf16(text: &str, big_endian: bool, with_mark: bool) -> Vec<u8> {
    let units = text.encode_utf16();
    let mark: &[u8] = match (with_mark, big_endian) {
        (false, _) => b"",
        (true, true) => b"\xfe\xff",
        (true, false) => b"\xff\xfe",
    };
    let mut out = mark.to_vec();
    for unit in units {
        if big_endian {
            out.extend_from_slice(&unit.to_be_bytes());
        } else {
            out.extend_from_slice(&unit.to_le_bytes());
        }
    }
    out
}

#[test]
fn json_in_utf16_or_utf32_under_no_json_type_never_leaves() {
    // Python's json.loads(bytes) detects UTF-16 and UTF-32; FastAPI, Django and Flask
    // (force=True) read JSON whatever the type. The plugin only saw `{` in UTF-8.
    let utf32be: Vec<u8> = JSON_SECRET
        .chars()
        .flat_map(|c| (c as u32).to_be_bytes())
        .collect();
    let bodies = [
        utf16(JSON_SECRET, true, false),
        utf16(JSON_SECRET, true, true),
        utf16(&format!(" \n{JSON_SECRET}"), false, false),
        utf16(JSON_SECRET, false, true),
        utf32be,
    ];
    let mut requests = Vec::new();
    for body in &bodies {
        requests.push(Request::post("/login", body.clone()));
        requests.push(Request::post("/login", body.clone()).header("content-type", "text/plain"));
        requests.push(
            Request::post("/login", body.clone())
                .header("content-type", "application/octet-stream"),
        );
    }
    // The secret as those bodies carry it: every count is checked, no copy may go.
    assert_never_leaks(
        &requests,
        "hunter2",
        Fate::Refused("skipped_unredactable_body"),
    );
}

#[test]
fn binary_bodies_that_look_like_wide_text_are_still_mirrored_as_sent() {
    let setup = Scenario::start(readme_redaction());
    let bodies: [&[u8]; 3] = [
        b"\x00\x00\x00\x00\x05\x0a\x03abc", // a gRPC frame: flag, length, message
        b"\x08\x00\x10\x00\x1a\x02{}",      // protobuf: varint fields of 0, then bytes
        b"\x00\x00\x00\x00\x7b",            // a gRPC frame's header, 123 bytes announced
    ];
    let mut http1 = Client::http1(setup.envoy.listener());
    let mut http2 = Client::http2(setup.envoy.listener());
    for body in bodies {
        for client in [&mut http1, &mut http2] {
            let request =
                Request::post("/upload", body).header("content-type", "application/octet-stream");
            assert_eq!(client.send(request).status, 200);
        }
    }
    setup.envoy.wait_for_counter(TARGET, "mirrored", 6, WAIT);
    let copies = setup.mirror.wait_for(6, WAIT);
    for body in bodies {
        let same = copies.iter().filter(|copy| copy.body == body).count();
        assert_eq!(same, 2, "{body:?} arrives as sent over both protocols");
    }
}

#[test]
fn names_as_php_rack_and_spring_read_them_are_redacted() {
    // PHP binds `access.token`, `access token`, `access[token` to `access_token` and drops
    // leading spaces; Rack drops the spaces after `&`; Spring reads `!password` as a default
    // for `password`. Each reached the copy unredacted.
    let form = |body: &str| {
        Request::post("/login", body.to_string())
            .header("content-type", "application/x-www-form-urlencoded")
    };
    assert_never_leaks(
        &[
            Request::get("/search?access.token=hunter2&q=1"),
            Request::get("/search?access%5Btoken=hunter2"),
            Request::get("/search?access+token=hunter2&%20%20token=hunter2"),
            Request::get("/search?!password=hunter2"),
            form("user=ann& password=hunter2"),
            form("user=ann&  access.token=hunter2&!token=hunter2"),
            form("access[token=hunter2"),
            multipart_part("name=\"access.token\"", "hunter2"),
            multipart_part("name=\" password\"", "hunter2"),
            multipart_part("name=\"!password\"", "hunter2"),
        ],
        "hunter2",
        Fate::Redacted,
    );
}
