//! Mirror targets that fail in every way a network can: the originals all succeed, undelayed;
//! each copy lands in exactly one result counter; `mirrored x amplify = sum of results`.

use mirror_harness::{closed_port, Backend, Behaviour, Envoy, Request};
use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;
use traffic_mirror::metrics::Counter;

const WAIT: Duration = Duration::from_secs(15);
const REQUESTS: usize = 6;
const AMPLIFY: u64 = 2;

/// A mirror target that handles each connection with `serve` (a raw socket: it can do what
/// no HTTP library would).
fn raw_target(serve: fn(TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    addr
}

/// Reads one request head (the copies of these tests carry no body).
fn read_head(stream: &mut TcpStream) -> bool {
    let mut head = Vec::new();
    let mut byte = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&byte[..n]),
        }
    }
    true
}

/// Sends originals through a plugin whose only target is `mirror`, and checks the promises:
/// every original answered 200 quickly, every copy in exactly one result, and all of them in
/// `expected`.
fn every_copy_lands_in(mirror: SocketAddr, timeout_ms: u64, expected: &str) {
    let primary = Backend::start();
    let envoy = Envoy::builder(json!({"targets": [{"cluster": "mirror", "name": "m",
        "amplify": AMPLIFY, "timeout_ms": timeout_ms}]}))
    .primary(primary.addr())
    .cluster("mirror", mirror)
    .start();
    let mut client = mirror_harness::Client::http1(envoy.listener());
    for i in 0..REQUESTS {
        let response = client.send(Request::get(&format!("/original/{i}")));
        assert_eq!(response.status, 200, "original {i}");
        assert!(
            response.elapsed < Duration::from_secs(1),
            "original {i} held back: {:?}",
            response.elapsed
        );
    }
    let copies = REQUESTS as u64 * AMPLIFY;
    envoy.wait_for_counter("m", expected, copies, WAIT);
    assert_eq!(envoy.counter("m", "mirrored"), REQUESTS as u64);
    let results: u64 = Counter::RESULTS
        .iter()
        .map(|r| envoy.counter("m", r.suffix()))
        .sum();
    assert_eq!(results, copies, "mirrored x amplify = sum of results");
    mirror_harness::eventually("no copy in flight", WAIT, || {
        (envoy.metric_line("m", "in_flight").as_deref() == Some("0")).then_some(())
    });
    assert_eq!(primary.count(), REQUESTS);
}

#[test]
fn a_target_refusing_connections_counts_every_copy_failed() {
    every_copy_lands_in(closed_port(), 5000, "failed");
}

#[test]
fn a_target_resetting_mid_response_counts_every_copy_failed() {
    let resetting = raw_target(|mut stream| {
        if read_head(&mut stream) {
            let partial = b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nonly part of it";
            let _ = stream.write_all(partial);
        }
        // Dropped mid-body: Envoy sees the connection end before the response does.
    });
    every_copy_lands_in(resetting, 5000, "failed");
}

#[test]
fn a_target_that_never_answers_counts_every_copy_timed_out() {
    let silent = Backend::slow(Duration::from_secs(120));
    every_copy_lands_in(silent.addr(), 300, "timed_out");
}

#[test]
fn a_target_answering_5xx_counts_every_copy_as_its_answer() {
    let failing = Backend::with(Behaviour {
        status: 503,
        ..Behaviour::default()
    });
    every_copy_lands_in(failing.addr(), 5000, "responses_5xx");
}

/// Envoy buffers an `http_call`'s whole response, up to 32 MiB (measured on Envoy 1.40:
/// 33,500,000 bytes are answered, 33,600,000 are not). Past that it ends the call with
/// `ExceedResponseBufferLimit`, which its wasm host reports exactly as a reset: a response
/// without headers. So such a copy counts as `failed`, not by the status it began with.
#[test]
fn a_target_answering_a_body_over_envoys_buffer_limit_counts_every_copy_failed() {
    let oversized = raw_target(|mut stream| {
        if read_head(&mut stream) {
            let size = (32 << 20) + (1 << 20);
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {size}\r\n\r\n");
            let chunk = vec![b'b'; 1 << 20];
            let _ = stream.write_all(head.as_bytes());
            for _ in 0..33 {
                if stream.write_all(&chunk).is_err() {
                    return;
                }
            }
        }
    });
    every_copy_lands_in(oversized, 10000, "failed");
}

#[test]
fn a_healthy_target_counts_every_copy_as_its_answer() {
    let healthy = Backend::start();
    every_copy_lands_in(healthy.addr(), 5000, "responses_2xx");
    assert_eq!(healthy.count(), REQUESTS * AMPLIFY as usize);
}
