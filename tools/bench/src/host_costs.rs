//! `mirror-bench --host-costs`: what Envoy itself does with a body on the plugin's behalf,
//! out of the plugin's reach (issue 18; docs/performance.md, "What the host does"), in machine
//! instructions counted by callgrind in the front Envoy (Envoy 1.40, V8), each the difference
//! between two requests that differ by that work alone (the fixture tools/bench/host-costs,
//! whose every path does one thing):
//! - a copy dispatched with a 64 MiB body (`body.max_bytes`' bound) against one without a
//!   body: the body copied inside `dispatch_http_call`, and sent to the mirror;
//! - a copy's 32 MiB answer read into the VM against the same answer not read:
//!   `proxy_get_buffer_bytes` of the call's response body. 32 MiB is the most Envoy's async
//!   client buffers of an answer (its runtime key `http.async_response_buffer_limit`; past
//!   it the call fails), so a larger body up to `compare.max_body_bytes` (64 MiB) only comes
//!   compressed;
//! - a 64 MiB request body whose every chunk is read into the VM against the same body not
//!   read: `proxy_get_buffer_bytes` of each chunk, per chunk and per MiB.
//!
//! Build the fixture first: `cargo build --release --target wasm32-wasip1 -p host-costs`.

use crate::calibrate::instructions;
use mirror_harness::{repo_root, start_bootstrap_with, Backend, Client, Reply, Request};
use serde_json::json;
use std::time::Duration;

const BIG: usize = 64 << 20;
/// The largest answer Envoy's async client hands over (`kBufferLimitForResponse`).
const ANSWER: usize = 32 << 20;

pub fn run() {
    let fixture = repo_root().join("target/wasm32-wasip1/release/host_costs.wasm");
    assert!(
        fixture.exists(),
        "{} is missing: cargo build --release --target wasm32-wasip1 -p host-costs",
        fixture.display()
    );
    // The harness loads the plugin from here; only this process's Envoy reads it.
    std::env::set_var("TRAFFIC_MIRROR_WASM", &fixture);
    let primary = Backend::start();
    let answer = vec![b'y'; ANSWER];
    let mirror = Backend::replying(move |received| {
        let body = if received.path.starts_with("/answer") {
            answer.clone()
        } else {
            Vec::new()
        };
        Reply::new(200, body)
    });
    let builder = mirror_harness::Envoy::builder(json!({}))
        .primary(primary.addr())
        .cluster("mirror", mirror.addr());
    let dir = tempfile::tempdir().expect("temp dir");
    let callgrind = dir.path().join("callgrind");
    std::fs::create_dir(&callgrind).expect("callgrind dir");
    let launch = crate::calibrate::callgrind_launch(&callgrind);
    println!("starting Envoy under callgrind (about a minute)");
    let envoy = start_bootstrap_with(&builder.bootstrap(), 1, dir, &launch);
    let big_body = vec![b'z'; BIG];
    let send = |path: &str| {
        let body = if path.starts_with("/chunks") {
            big_body.clone()
        } else {
            Vec::new()
        };
        let copies = mirror.count() + 1;
        let response = Client::http1(envoy.listener()).send(Request::post(path, body));
        assert_eq!(response.status, 200, "{path}");
        if !path.starts_with("/chunks") {
            // The copy received, then time for its answer to come back (checked below).
            mirror.wait_for(copies, Duration::from_secs(600));
            std::thread::sleep(Duration::from_secs(5));
        }
    };
    let paths = [
        "/dispatch-big",
        "/dispatch-empty",
        "/answer-read",
        "/answer-skip",
        "/chunks-read",
        "/chunks-skip",
    ];
    // Warm-up: V8 compiles the module's functions on their first calls.
    for path in paths {
        send(path);
    }
    let stat = |name: &str| {
        envoy
            .plugin_stats()
            .get(&format!("wasmcustom.{name}"))
            .copied()
            .unwrap_or(0)
    };
    let chunks = || stat("host_costs_chunks");
    let mut counts = Vec::new();
    let mut chunks_read = 0;
    for path in paths {
        let before = chunks();
        counts.push(instructions(&envoy, &callgrind, || send(path)));
        chunks_read += chunks() - before;
    }
    let dispatched = mirror
        .received()
        .iter()
        .filter(|r| r.path == "/dispatch-big")
        .map(|r| r.body.len())
        .max()
        .unwrap_or(0);
    // Read twice: in the warm-up and in the count. (Not asserted: the release profile
    // aborts on a panic, which would leave Envoy running.)
    let answered = stat("host_costs_answer_bytes") / 2;
    println!(
        "the mirror received {dispatched} bytes of the large copy (of {BIG}); the VM was \
         handed {answered} bytes of the {ANSWER}-byte answer; {} of 8 copies answered",
        stat("host_costs_answers")
    );
    let difference = |i: usize| counts[i].saturating_sub(counts[i + 1]);
    let ms = |instructions: u64| instructions as f64 / 3e6;
    println!("instructions (callgrind, the front Envoy), each less its pair:");
    for (name, value) in [
        ("dispatch_http_call with a 64 MiB body", difference(0)),
        ("a 32 MiB call response read into the VM", difference(2)),
        ("a 64 MiB request body read into the VM", difference(4)),
    ] {
        println!(
            "  {name:<42} {value:>14}  (about {:.1} ms at an instruction a cycle, 3 GHz)",
            ms(value)
        );
    }
    let chunks_read = chunks_read.max(1);
    println!(
        "  request body chunks: {chunks_read} ({} bytes each on average), {} instructions a chunk",
        BIG as u64 / chunks_read,
        difference(4) / chunks_read
    );
    println!("raw counts: {paths:?} {counts:?}");
}
