//! A small request's latency on a worker busy with the plugin's work on large bodies (issue
//! 18): one Envoy worker, a small GET sent again and again, alone, then while 16 MB JSON
//! bodies are redacted one after another (`**.password`), then while 16 MB JSON responses are
//! compared one after another. Its p50 and p99 beside each other say how long the plugin held
//! the worker; run with `TRAFFIC_MIRROR_WASM` to measure another build (a "before").
//!
//! Real backends on loopback (the test harness's), so every copy goes out and every
//! comparison is made; figures for the docs, not a timed test.

use mirror_harness::{Backend, Client, Envoy, Reply, Request};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// About 16 MB of JSON with a `password` in every item; `variant` changes one value, so that
/// the comparison has a difference to find at the end.
fn large_json(variant: u32) -> Vec<u8> {
    let mut body = String::with_capacity(16_100_000);
    body.push_str("{\"items\": [");
    let mut i = 0u32;
    while body.len() < 16_000_000 {
        if i > 0 {
            body.push_str(", ");
        }
        // Long notes: far fewer values than the diff's cap (`compare::json::MAX_VALUES`).
        body.push_str(&format!(
            "{{\"id\": {i}, \"password\": \"p{i}\", \"notes\": \"{i:0>1000}\"}}"
        ));
        i += 1;
    }
    body.push_str(&format!("], \"version\": {variant}}}"));
    body.into_bytes()
}

/// Answers `/large` with a 16 MB JSON document, anything else with a small one.
fn backend(variant: u32) -> Backend {
    let large = large_json(variant);
    Backend::replying(move |received| {
        if received.path.starts_with("/large") {
            Reply::json(200, "").with_body(large.clone())
        } else {
            Reply::json(200, r#"{"ok": true}"#)
        }
    })
}

pub struct Latencies {
    pub name: &'static str,
    pub samples: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Large requests completed meanwhile.
    pub large: usize,
}

/// Small requests for `duration` while `background` sends large ones in a loop (if any).
fn small_requests(
    envoy: &Envoy,
    name: &'static str,
    duration: Duration,
    background: Option<Request>,
) -> Latencies {
    let running = Arc::new(AtomicBool::new(true));
    let worker = background.map(|request| {
        let listener = envoy.listener();
        let running = Arc::clone(&running);
        std::thread::spawn(move || {
            let mut client = Client::http1(listener);
            let mut sent = 0;
            while running.load(Ordering::Relaxed) {
                assert_eq!(client.send(request.clone()).status, 200);
                sent += 1;
            }
            sent
        })
    });
    // The large requests' first callbacks (reading the body) come before the first sample.
    std::thread::sleep(Duration::from_millis(300));
    let mut client = Client::http1(envoy.listener());
    let mut times = Vec::new();
    let started = Instant::now();
    while started.elapsed() < duration {
        let sent = Instant::now();
        assert_eq!(client.send(Request::get("/small")).status, 200);
        times.push(sent.elapsed().as_secs_f64() * 1e3);
        std::thread::sleep(Duration::from_millis(5));
    }
    running.store(false, Ordering::Relaxed);
    let large = worker.map_or(0, |w| w.join().unwrap_or(0));
    times.sort_by(f64::total_cmp);
    Latencies {
        name,
        samples: times.len(),
        p50_ms: crate::load::percentile(&times, 0.50),
        p99_ms: crate::load::percentile(&times, 0.99),
        large,
    }
}

/// The three runs, `seconds` each.
pub fn measure(seconds: u64) -> Vec<Latencies> {
    let primary = backend(1);
    let mirror = backend(2);
    let config = json!({
        "targets": [{"cluster": "mirror", "name": "busy",
                     "compare": {"body": "json", "max_body_bytes": 16 << 20}}],
        "redact": {"json_fields": ["**.password"]},
        "body": {"max_bytes": 32 << 20, "max_buffered_bytes": 256 << 20}
    });
    let envoy = Envoy::builder(config)
        .primary(primary.addr())
        .cluster("mirror", mirror.addr())
        .concurrency(1)
        .start();
    let duration = Duration::from_secs(seconds);
    let upload = Request::post("/upload", large_json(0)).header("content-type", "application/json");
    vec![
        small_requests(&envoy, "no large job", duration, None),
        small_requests(&envoy, "16 MB body redacted", duration, Some(upload)),
        small_requests(
            &envoy,
            "16 MB comparison made",
            duration,
            Some(Request::get("/large")),
        ),
    ]
}

pub fn table(runs: &[Latencies]) -> String {
    let mut out = String::from(
        "small request on the same worker | p50 ms | p99 ms | samples | large requests\n",
    );
    for run in runs {
        out.push_str(&format!(
            "{:<32} | {:>6.2} | {:>6.2} | {:>7} | {:>5}\n",
            run.name, run.p50_ms, run.p99_ms, run.samples, run.large
        ));
    }
    out
}
