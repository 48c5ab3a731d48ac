//! No callback holds the worker (issue 18): a body larger than one slice is redacted by the
//! root a slice per tick, and its copy goes out when the redaction is done. Through a real
//! Envoy: the copy carries exactly the bytes a one-piece redaction gives, on a corpus; a
//! configuration replaced mid-redaction, and a client gone mid-redaction, still get their
//! copy out, counted once.

use mirror_harness::{Backend, Client, Envoy, Request, Scenario};
use serde_json::{json, Value};
use std::time::Duration;
use traffic_mirror::config::Config;
use traffic_mirror::redact::body::{redact_body, BodyHeaders};

const WAIT: Duration = Duration::from_secs(60);
const TARGET: &str = "canary";

fn config(max_bytes: usize) -> Value {
    json!({
        "targets": [{"cluster": "mirror", "name": TARGET}],
        "redact": {
            "query_params": ["token", "password"],
            "json_fields": ["**.password"],
        },
        "body": {"max_bytes": max_bytes, "max_buffered_bytes": 256 << 20}
    })
}

/// The corpus: (content type, body), each several slices long, with secrets at the start,
/// across slice ends and at the end.
fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let form: String = (0..40_000)
        .map(|i| match i % 7 {
            0 => format!("password=secret{i}&"),
            3 => format!("user[token]={}&", "t".repeat(i % 200)),
            _ => format!("field{i}=value{i};"),
        })
        .collect();
    let part = |name: &str, content: &str| {
        format!(
            "--b0undary\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{content}\r\n"
        )
    };
    let multipart = format!(
        "{}{}{}{}--b0undary--\r\n",
        part("file", &"x".repeat(300_000)),
        part("password", "secret"),
        part("meta", r#"{"password": "secret", "kept": 1}"#),
        part("more", &"--b0undar".repeat(40_000)),
    );
    let json: String = format!(
        "{{\"users\": [{}{{\"password\": {{\"nested\": [1, 2]}}}}], \"password\": \"{}\"}}",
        (0..20_000)
            .map(|i| format!("{{\"name\": \"u{i}\", \"password\": \"p{i}\"}}, "))
            .collect::<String>(),
        "s".repeat(200_000)
    );
    vec![
        ("application/json", json.into_bytes()),
        (
            "application/x-www-form-urlencoded",
            form.clone().into_bytes(),
        ),
        ("", format!("{form}token=last").into_bytes()),
        (
            "multipart/form-data; boundary=b0undary",
            multipart.into_bytes(),
        ),
    ]
}

#[test]
fn a_large_body_redacted_in_slices_carries_the_bytes_of_a_one_piece_redaction() {
    let plugin = config(4 << 20);
    let redaction = Config::parse(plugin.to_string().as_bytes())
        .expect("valid config")
        .redaction;
    let setup = Scenario::start(plugin);
    let mut client = setup.client();
    let corpus = corpus();
    for (index, (content_type, body)) in corpus.iter().enumerate() {
        let mut request = Request::post(&format!("/corpus/{index}"), body.clone());
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        assert_eq!(client.send(request).status, 200);
    }
    let copies = setup.mirror.wait_for(corpus.len(), WAIT);
    for (index, (content_type, body)) in corpus.iter().enumerate() {
        let mut headers = BodyHeaders::default();
        if !content_type.is_empty() {
            headers.add("content-type", content_type.as_bytes());
        }
        let expected = redact_body(body, &headers, &redaction)
            .expect("redactable")
            .expect("something is redacted");
        let copy = copies
            .iter()
            .find(|copy| copy.path == format!("/corpus/{index}"))
            .expect("its copy");
        assert!(body.len() > 64 << 10, "several slices long");
        assert!(
            copy.body == expected,
            "corpus body {index}: not the one-piece bytes"
        );
        assert_eq!(
            copy.header("content-length"),
            Some(expected.len().to_string().as_str())
        );
    }
    assert_eq!(setup.envoy.counter(TARGET, "mirrored"), corpus.len() as u64);
}

/// A form body of about `size` bytes whose every pair is a secret.
fn secrets(size: usize) -> Vec<u8> {
    "password=hunter2&".repeat(size / 17).into_bytes()
}

#[test]
fn a_config_replaced_mid_redaction_still_sends_the_copy_counted_once() {
    let primary = Backend::start();
    let mirror = Backend::start();
    let mut envoy = Envoy::builder(config(16 << 20))
        .primary(primary.addr())
        .cluster("mirror", mirror.addr())
        .from_ecds()
        .start();
    let body = secrets(4 << 20);
    let request = Request::post("/large", body.clone())
        .header("content-type", "application/x-www-form-urlencoded");
    let response = Client::http1(envoy.listener()).send(request);
    assert_eq!(response.status, 200, "the original passes at once");
    let mut replaced = config(16 << 20);
    replaced["targets"] = json!([{"cluster": "mirror", "name": "after"}]);
    envoy.update_plugin_config(replaced);
    assert_eq!(
        mirror.count(),
        0,
        "replaced while the redaction was in progress"
    );
    let copies = mirror.wait_for(1, WAIT);
    let expected = "password=REDACTED&".repeat(body.len() / 17).into_bytes();
    assert!(
        copies[0].body == expected,
        "redacted under the settings it was decided with"
    );
    envoy.wait_for_counter(TARGET, "mirrored", 1, WAIT);
    envoy.wait_for_counter(TARGET, "responses_2xx", 1, WAIT);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(envoy.counter(TARGET, "mirrored"), 1, "counted once");
    assert_eq!(mirror.count(), 1);
    assert_eq!(primary.received()[0].body, body, "the original untouched");
}

#[test]
fn a_client_gone_mid_redaction_still_gets_its_complete_request_copied() {
    let setup = Scenario::start(config(16 << 20));
    let body = secrets(4 << 20);
    let head = format!(
        "POST /gone HTTP/1.1\r\nhost: shop\r\ncontent-type: application/x-www-form-urlencoded\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    // The whole request, then the connection closed without waiting for the response.
    {
        use std::io::Write;
        let mut stream = std::net::TcpStream::connect(setup.envoy.listener()).expect("connect");
        stream.write_all(head.as_bytes()).expect("head");
        stream.write_all(&body).expect("body");
    }
    let copies = setup.mirror.wait_for(1, WAIT);
    assert!(copies[0].body == "password=REDACTED&".repeat(body.len() / 17).into_bytes());
    setup.envoy.wait_for_counter(TARGET, "mirrored", 1, WAIT);
    assert_eq!(setup.envoy.counter(TARGET, "skipped_abandoned"), 0);
}

/// Comparisons in slices (issue 18): a compared pair whose JSON bodies are larger than a slice
/// is diffed by a job, and a compressed response larger than a slice is inflated by one; both
/// end in the verdict, counters and mismatch line a pair small enough to be done at once gets.
mod comparisons {
    use super::WAIT;
    use mirror_harness::flate2::write::GzEncoder;
    use mirror_harness::flate2::Compression;
    use mirror_harness::{Backend, Client, Envoy, Reply, Request};
    use serde_json::{json, Value};
    use std::io::Write;
    use std::time::Duration;

    const TARGET: &str = "canary";

    fn config(target: &str) -> Value {
        json!({
            "targets": [{"cluster": "canary", "name": target,
                         "compare": {"body": "json", "max_body_bytes": 32 << 20}}],
            "body": {"max_buffered_bytes": 256 << 20}
        })
    }

    /// A JSON document of about `bytes` bytes (items with a long text, so that it holds far
    /// fewer values than `compare::json::MAX_VALUES`); the candidate's differs at `total` and
    /// `meta.version`, whatever its size.
    fn document(bytes: usize, candidate: bool) -> Vec<u8> {
        let items = bytes / 660;
        let list: Vec<String> = (0..items)
            .map(|i| format!(r#"{{"id": {i}, "text": "{i:0>600}", "price": {}}}"#, i % 97))
            .collect();
        let (total, version) = if candidate {
            (items + 1, 2)
        } else {
            (items, 1)
        };
        format!(
            r#"{{"items": [{}], "total": {total}, "meta": {{"version": {version}}}}}"#,
            list.join(", ")
        )
        .into_bytes()
    }

    fn gzip(body: &[u8], level: u32) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::new(level));
        encoder.write_all(body).expect("gzip");
        encoder.finish().expect("gzip")
    }

    /// Answers `/small` and `/large` (about `large_bytes`) with the reference's or the
    /// candidate's document, gzip-compressed at `level` when there is one.
    fn backend(candidate: bool, large_bytes: usize, level: Option<u32>) -> Backend {
        let small = document(20_000, candidate);
        let large = document(large_bytes, candidate);
        assert!(small.len() < 32 << 10 && large.len() > 1 << 20);
        let (small, large) = match level {
            Some(level) => (gzip(&small, level), gzip(&large, level)),
            None => (small, large),
        };
        Backend::replying(move |received| {
            let body = if received.path.starts_with("/large") {
                large.clone()
            } else {
                small.clone()
            };
            let reply = Reply::json(200, "").with_body(body);
            match level {
                Some(_) => reply.header("content-encoding", "gzip"),
                None => reply,
            }
        })
    }

    fn mismatch_line(envoy: &Envoy, id: &str) -> String {
        mirror_harness::eventually("a mismatch line", WAIT, || {
            envoy
                .log()
                .lines()
                .find(|l| l.contains(id) && l.contains("mismatch"))
                .map(String::from)
        })
    }

    fn send(envoy: &Envoy, path: &str, id: &str) {
        let request = Request::get(path).header("x-request-id", id);
        let response = Client::http1(envoy.listener()).send(request);
        assert_eq!(response.status, 200, "the original is untouched");
    }

    #[test]
    fn a_large_pair_diffed_in_slices_reaches_the_verdict_of_a_small_pair_done_at_once() {
        let primary = backend(false, 2 << 20, None);
        let canary = backend(true, 2 << 20, None);
        let envoy = Envoy::builder(config(TARGET))
            .primary(primary.addr())
            .cluster("canary", canary.addr())
            .start();
        send(&envoy, "/small", "small-1");
        assert_eq!(
            crate::compare::decided(&envoy, TARGET, 1, WAIT),
            [("mismatched", 1)]
        );
        let small = mismatch_line(&envoy, "small-1");
        send(&envoy, "/large", "large-1");
        assert_eq!(
            crate::compare::decided(&envoy, TARGET, 2, WAIT),
            [("mismatched", 2)]
        );
        let large = mismatch_line(&envoy, "large-1");
        assert_eq!(envoy.counter(TARGET, "mismatched_body"), 2);
        assert_eq!(envoy.counter(TARGET, "body_not_compared_too_large"), 0);
        // The same record, paths named the same way (the lines differ in the request only).
        let paths = |line: &str| {
            let record = line
                .find("{\"compare_mismatch\"")
                .map_or(line, |at| &line[at..]);
            record
                .replace("large-1", "ID")
                .replace("small-1", "ID")
                .replace("/large", "PATH")
                .replace("/small", "PATH")
        };
        assert_eq!(paths(&large), paths(&small));
        assert!(
            large.contains("total") && large.contains("meta.version"),
            "{large}"
        );
    }

    #[test]
    fn large_gzip_bodies_inflated_in_slices_match_though_their_bytes_differ() {
        let primary = backend(false, 8 << 20, Some(1));
        let canary = backend(false, 8 << 20, Some(9));
        let envoy = Envoy::builder(config(TARGET))
            .primary(primary.addr())
            .cluster("canary", canary.addr())
            .start();
        send(&envoy, "/large", "gz-1");
        assert_eq!(
            crate::compare::decided(&envoy, TARGET, 1, WAIT),
            [("matched", 1)]
        );
        assert_eq!(envoy.counter(TARGET, "body_not_compared_encoding"), 0);
        assert_eq!(envoy.counter(TARGET, "body_not_compared_too_large"), 0);
    }

    #[test]
    fn a_config_replaced_mid_comparison_ends_it_once_under_the_old_one() {
        let primary = backend(false, 13 << 20, Some(6));
        let canary = backend(true, 13 << 20, Some(6));
        let mut envoy = Envoy::builder(config(TARGET))
            .primary(primary.addr())
            .cluster("canary", canary.addr())
            .from_ecds()
            .start();
        // The original's response ends with the call: its 13 MiB body is then inflated by a
        // job (about 830 ticks, taking turns with the copy's), then diffed.
        send(&envoy, "/large", "replaced-1");
        envoy.update_plugin_config(config("after"));
        assert_eq!(
            crate::compare::decided(&envoy, TARGET, 1, WAIT),
            [("mismatched", 1)]
        );
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            crate::compare::decided(&envoy, TARGET, 1, WAIT),
            [("mismatched", 1)],
            "counted once"
        );
        assert_eq!(envoy.counter("after", "mismatched"), 0);
    }
}
