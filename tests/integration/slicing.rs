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
