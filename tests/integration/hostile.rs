//! Hostile and unusual input against a real Envoy: what an attacker or an odd client can send
//! never changes, delays or fails the original, never crashes the plugin, and every request
//! ends in exactly one counter.

use mirror_harness::{send_raw, Backend, Client, Envoy, Received, Reply, Request, Scenario};
use serde_json::json;
use std::sync::{Arc, Barrier};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// The heavy tests test the plugin, not the Envoy version: `make integration-old` (the pass on
/// the oldest supported Envoy) sets `TRAFFIC_MIRROR_LIGHT` to leave them out. Each opens
/// thousands of connections, so they take turns: the guard returned is held for the test.
fn heavy_test() -> Option<std::sync::MutexGuard<'static, ()>> {
    static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());
    if std::env::var_os("TRAFFIC_MIRROR_LIGHT").is_some() {
        eprintln!("skipped: TRAFFIC_MIRROR_LIGHT is set (heavy tests run on the newest Envoy)");
        return None;
    }
    Some(
        HEAVY
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    )
}

fn plain() -> Scenario {
    Scenario::start(json!({"targets": [{"cluster": "mirror", "name": "m"}]}))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn websocket_upgrade_is_passed_untouched_and_not_mirrored() {
    let setup = plain();
    let answer = send_raw(
        setup.envoy.listener(),
        b"GET /chat HTTP/1.1\r\nhost: app.test\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\
          sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        Duration::from_millis(500),
    );
    assert!(!answer.is_empty(), "no answer");
    let received = setup.primary.wait_for(1, WAIT);
    assert_eq!(received[0].header("upgrade"), Some("websocket"));
    setup
        .envoy
        .wait_for_counter("m", "skipped_upgrade", 1, WAIT);
    // A plain request afterwards is still mirrored: only the upgrade was left alone.
    setup.get_ok("/after", 1);
    setup.mirror.wait_for(1, WAIT);
    assert_eq!(setup.mirror.received()[0].path, "/after");
    assert_eq!(setup.envoy.counter("m", "mirrored"), 1);
}

#[test]
fn connect_is_passed_untouched_and_not_mirrored() {
    let setup = plain();
    let answer = send_raw(
        setup.envoy.listener(),
        b"CONNECT app.test:443 HTTP/1.1\r\nhost: app.test:443\r\n\r\n",
        Duration::from_millis(500),
    );
    assert!(
        text(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        text(&answer)
    );
    assert_eq!(setup.primary.wait_for(1, WAIT)[0].method, "CONNECT");
    let mut h2 = Client::http2(setup.envoy.listener());
    let response = h2.send(Request {
        method: "CONNECT".into(),
        ..Request::get("/")
    });
    assert_eq!(response.status, 200, "the tunnel reaches the primary");
    assert_eq!(setup.primary.wait_for(2, WAIT)[1].method, "CONNECT");
    setup
        .envoy
        .wait_for_counter("m", "skipped_upgrade", 2, WAIT);
    setup.get_ok("/after", 1);
    setup.mirror.wait_for(1, WAIT);
    assert_eq!(setup.mirror.count(), 1, "only the plain request was copied");
}

fn both_protocols(setup: &Scenario) -> [(&'static str, Client); 2] {
    [
        ("HTTP/1.1", Client::http1(setup.envoy.listener())),
        ("HTTP/2", Client::http2(setup.envoy.listener())),
    ]
}

#[test]
fn ninety_five_headers_are_all_copied() {
    let setup = plain();
    for (round, (protocol, mut client)) in both_protocols(&setup).into_iter().enumerate() {
        // With :method, :path, :authority and :scheme (or host), 95 headers in all.
        let mut request = Request::get(&format!("/many/{round}"));
        for i in 0..91 {
            request = request.header(&format!("x-h-{i}"), format!("value {i}"));
        }
        assert_eq!(client.send(request).status, 200, "{protocol}");
        let copy = &setup.mirror.wait_for(round + 1, WAIT)[round];
        for i in 0..91 {
            assert_eq!(
                copy.header(&format!("x-h-{i}")),
                Some(format!("value {i}").as_str()),
                "{protocol}: x-h-{i}"
            );
        }
    }
    assert_eq!(setup.envoy.counter("m", "mirrored"), 2);
}

#[test]
fn over_envoys_header_limit_envoy_answers_431_itself_and_nothing_is_counted() {
    let setup = plain();
    let mut raw = b"GET /too-many HTTP/1.1\r\nhost: app.test\r\n".to_vec();
    for i in 0..100 {
        raw.extend(format!("x-h-{i}: v\r\n").as_bytes());
    }
    raw.extend(b"\r\n");
    let answer = send_raw(setup.envoy.listener(), &raw, Duration::from_millis(500));
    assert!(
        text(&answer).starts_with("HTTP/1.1 431"),
        "{}",
        text(&answer)
    );
    setup.get_ok("/after", 1);
    setup.mirror.wait_for(1, WAIT);
    assert_eq!(
        setup.envoy.counter("m", "mirrored"),
        1,
        "only the request after it"
    );
    assert_eq!(setup.mirror.count(), 1);
    assert_eq!(setup.primary.count(), 1);
}

#[test]
fn a_60_kb_header_value_is_copied_whole() {
    let setup = plain();
    let value = "v".repeat(59_000);
    for (round, (protocol, mut client)) in both_protocols(&setup).into_iter().enumerate() {
        let response = client.send(Request::get("/big-header").header("x-big", &value));
        assert_eq!(response.status, 200, "{protocol}");
        let copy = &setup.mirror.wait_for(round + 1, WAIT)[round];
        assert_eq!(copy.header("x-big"), Some(value.as_str()), "{protocol}");
    }
}

#[test]
fn repeated_headers_are_all_copied_in_order() {
    let setup = plain();
    for (round, (protocol, mut client)) in both_protocols(&setup).into_iter().enumerate() {
        let request = Request::get("/repeated")
            .header("x-rep", "one")
            .header("x-rep", "two")
            .header("x-rep", "three");
        assert_eq!(client.send(request).status, 200, "{protocol}");
        let copy = &setup.mirror.wait_for(round + 1, WAIT)[round];
        let original = &setup.primary.received()[round];
        let values = |r: &mirror_harness::Received| -> Vec<Vec<u8>> {
            r.headers
                .iter()
                .filter(|(n, _)| n == "x-rep")
                .map(|(_, v)| v.clone())
                .collect()
        };
        assert_eq!(values(copy), values(original), "{protocol}");
        // Kept as three fields, or folded into one: the same values either way.
        assert_eq!(values(copy).join(&b","[..]), b"one,two,three", "{protocol}");
    }
}

#[test]
fn empty_and_chunked_bodies_are_copied_exactly() {
    let setup = plain();
    for (round, (protocol, mut client)) in both_protocols(&setup).into_iter().enumerate() {
        let response = client.send(Request::post("/empty", Vec::new()));
        assert_eq!(response.status, 200, "{protocol}");
        let copy = &setup.mirror.wait_for(round + 1, WAIT)[round];
        assert!(copy.body.is_empty(), "{protocol}");
    }
    let chunked = b"POST /chunked HTTP/1.1\r\nhost: app.test\r\ntransfer-encoding: chunked\r\n\r\n\
                    5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n";
    let answer = send_raw(setup.envoy.listener(), chunked, Duration::from_millis(500));
    assert!(
        text(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        text(&answer)
    );
    let copy = &setup.mirror.wait_for(3, WAIT)[2];
    assert_eq!(copy.body, b"hello world");
    assert_eq!(copy.header("content-length"), Some("11"));
    assert!(copy.header("transfer-encoding").is_none());
}

#[test]
fn a_client_aborting_mid_body_leaves_no_partial_copy() {
    let setup = plain();
    let mut abandoned =
        b"POST /abandoned HTTP/1.1\r\nhost: app.test\r\ncontent-length: 10000\r\n\r\n".to_vec();
    abandoned.extend(vec![b'x'; 5000]);
    send_raw(
        setup.envoy.listener(),
        &abandoned,
        Duration::from_millis(300),
    );
    setup.envoy.wait_for_counter("m", "aborted", 1, WAIT);
    setup.get_ok("/after", 1);
    setup.mirror.wait_for(1, WAIT);
    std::thread::sleep(Duration::from_millis(200));
    let received = setup.mirror.received();
    assert_eq!(received.len(), 1, "only the complete request was copied");
    assert_eq!(received[0].path, "/after");
}

#[test]
fn head_and_options_are_copied_with_their_method() {
    let setup = plain();
    for (round, (protocol, mut client)) in both_protocols(&setup).into_iter().enumerate() {
        for (i, method) in ["HEAD", "OPTIONS"].iter().enumerate() {
            let request = Request {
                method: method.to_string(),
                ..Request::get("/resource")
            };
            assert_eq!(client.send(request).status, 200, "{protocol} {method}");
            let copy = &setup.mirror.wait_for(round * 2 + i + 1, WAIT)[round * 2 + i];
            assert_eq!(copy.method, *method, "{protocol}");
        }
    }
    setup.envoy.wait_for_counter("m", "responses_2xx", 4, WAIT);
}

#[test]
fn grpc_unary_over_http2_is_copied() {
    let primary = Backend::start();
    let mirror = Backend::start();
    let envoy = Envoy::builder(json!({"targets": [{"cluster": "mirror", "name": "m"}]}))
        .primary(primary.addr())
        .cluster("mirror", mirror.addr())
        .http2_upstreams()
        .start();
    // A length-prefixed protobuf message: uncompressed, 3 bytes.
    let message = vec![0, 0, 0, 0, 3, 0x08, 0x96, 0x01];
    let call = Request::post("/helloworld.Greeter/SayHello", message.clone())
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", "1S");
    let response = Client::http2(envoy.listener()).send(call);
    assert_eq!(response.status, 200);
    let copy = &mirror.wait_for(1, WAIT)[0];
    assert_eq!(copy.version, "HTTP/2.0");
    assert_eq!(copy.path, "/helloworld.Greeter/SayHello");
    assert_eq!(copy.body, message);
    assert_eq!(copy.header("content-type"), Some("application/grpc"));
    assert_eq!(copy.header("te"), Some("trailers"));
    assert_eq!(copy.header("grpc-timeout"), Some("1S"));
}

/// An Envoy for a thousand connections at once: each upstream connection gets the time to be
/// accepted (the test clusters allow 0.25 s, which a burst of a thousand connects overflows
/// on loopback), and Envoy's default circuit breakers (1,024 connections per cluster), which
/// would hold the other originals back, are lifted.
fn start_for_thousands(
    primary: std::net::SocketAddr,
    mirror: std::net::SocketAddr,
    workers: u32,
) -> Envoy {
    let mut bootstrap = Envoy::builder(json!({"targets": [{"cluster": "mirror", "name": "m"}]}))
        .primary(primary)
        .cluster("mirror", mirror)
        .bootstrap();
    let unlimited = json!({"thresholds": [{"max_connections": 100000,
        "max_pending_requests": 100000, "max_requests": 100000}]});
    for cluster in bootstrap["static_resources"]["clusters"]
        .as_array_mut()
        .expect("clusters")
    {
        cluster["connect_timeout"] = json!("10s");
        cluster["circuit_breakers"] = unlimited.clone();
    }
    let dir = mirror_harness::tempfile::tempdir().expect("temp dir");
    mirror_harness::start_bootstrap(&bootstrap, workers, dir)
}

#[test]
fn a_thousand_concurrent_requests_are_served_mirrored_and_counted() {
    const REQUESTS: usize = 1000;
    let Some(_turn) = heavy_test() else {
        return;
    };
    let (primary, mirror) = (Backend::start(), Backend::start());
    let envoy = start_for_thousands(primary.addr(), mirror.addr(), 1);
    let listener = envoy.listener();
    let start = Arc::new(Barrier::new(REQUESTS));
    let clients: Vec<_> = (0..REQUESTS)
        .map(|i| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let mut client = Client::http1(listener);
                start.wait();
                client
                    .send(Request::get(&format!("/concurrent/{i}")))
                    .status
            })
        })
        .collect();
    for client in clients {
        assert_eq!(client.join().expect("client thread"), 200);
    }
    let wait = 3 * WAIT; // a thousand copies on a loaded machine
    envoy.wait_for_counter("m", "mirrored", REQUESTS as u64, wait);
    envoy.wait_for_counter("m", "responses_2xx", REQUESTS as u64, wait);
    assert_eq!(mirror.wait_for(REQUESTS, wait).len(), REQUESTS);
    assert_eq!(primary.count(), REQUESTS);
}

/// A primary that reads every request and throws its body away, answering only complete ones:
/// the memory attack's uploads flow through Envoy (and the plugin) without piling up here.
struct DiscardingBackend {
    addr: std::net::SocketAddr,
}

impl DiscardingBackend {
    fn start() -> DiscardingBackend {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || discard(stream));
            }
        });
        DiscardingBackend { addr }
    }
}

/// Serves one keep-alive connection: each request's body is read and dropped, then answered.
fn discard(mut stream: std::net::TcpStream) {
    use std::io::{Read, Write};
    let mut buffer = vec![0u8; 64 * 1024];
    let mut head = Vec::new();
    loop {
        let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buffer[..n]),
            }
            continue;
        };
        let headers = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
        let length: usize = headers
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0);
        let mut remaining = length.saturating_sub(head.len() - end - 4);
        head.clear();
        while remaining > 0 {
            match stream.read(&mut buffer[..remaining.min(64 * 1024)]) {
                Ok(0) | Err(_) => return,
                Ok(n) => remaining -= n,
            }
        }
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        if stream.write_all(ok).is_err() {
            return;
        }
    }
}

/// The bytes Envoy has read from its clients on the test listener.
fn downstream_bytes_received(envoy: &Envoy) -> u64 {
    envoy
        .admin_get("/stats?filter=downstream_cx_rx_bytes_total")
        .lines()
        .filter_map(|line| line.strip_prefix("http.front.downstream_cx_rx_bytes_total: "))
        .filter_map(|value| value.trim().parse::<u64>().ok())
        .sum()
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The attack of issue 10: per worker, 1,100 uploads of 1,040,000 bytes (declaring one byte
/// more, so none ever completes), held open. Before the memory budget, the plugin buffered
/// every body and the VM died near 1 GB: a 503 for every later request on that worker.
fn memory_attack(workers: u32) {
    const BODY: usize = 1_040_000;
    let Some(_turn) = heavy_test() else {
        return;
    };
    let uploads = 1_100 * workers as usize;
    let primary = DiscardingBackend::start();
    let mirror = Backend::start();
    let envoy = start_for_thousands(primary.addr, mirror.addr(), workers);
    let listener = envoy.listener();
    let sent = Arc::new(Barrier::new(uploads + 1));
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = Arc::new(std::sync::Mutex::new(released));
    let attackers: Vec<_> = (0..uploads)
        .map(|i| {
            let sent = Arc::clone(&sent);
            let released = Arc::clone(&released);
            std::thread::spawn(move || {
                use std::io::Write;
                let mut stream = std::net::TcpStream::connect(listener).expect("connect");
                let head = format!(
                    "POST /upload/{i} HTTP/1.1\r\nhost: app.test\r\ncontent-length: {}\r\n\r\n",
                    BODY + 1
                );
                let written = stream
                    .write_all(head.as_bytes())
                    .and_then(|()| stream.write_all(&vec![b'u'; BODY]));
                sent.wait();
                // Held open until the test has checked Envoy under the attack.
                let _ = released.lock().map(|r| r.recv());
                written.is_ok()
            })
        })
        .collect();
    sent.wait();
    let envoy_pid = envoy.pid();
    // Every byte of every upload has been read by Envoy, so has been through the plugin
    // (whose callbacks see each chunk as it is read; the router buffers what the primary's
    // connection limit holds back).
    let expected = (uploads * BODY) as u64;
    mirror_harness::eventually("every upload received", Duration::from_secs(60), || {
        (downstream_bytes_received(&envoy) >= expected).then_some(())
    });
    // Under attack: originals are served and mirrored.
    let mut client = Client::http1(listener);
    for i in 0..(4 * workers) {
        let response = client.send(Request::get(&format!("/during/{i}")));
        assert_eq!(response.status, 200, "original during the attack");
        // New connections, so that every worker is asked.
        client = Client::http1(listener);
    }
    envoy.wait_for_counter("m", "mirrored", u64::from(4 * workers), WAIT);
    let peak_kb = rss_kb(envoy_pid, "VmHWM:");
    drop(release);
    for attacker in attackers {
        assert!(attacker.join().expect("attacker"), "an upload was refused");
    }
    // Every upload ends in exactly one counter: refused by the budget, or captured and then
    // abandoned by its client.
    mirror_harness::eventually("every upload counted", Duration::from_secs(30), || {
        let counted = envoy.counter("m", "skipped_memory_budget") + envoy.counter("m", "aborted");
        (counted == uploads as u64).then_some(())
    });
    let captured = envoy.counter("m", "aborted");
    // Afterwards the budget is whole again: a maximal upload is mirrored, byte for byte.
    let response = Client::http1(listener).send(Request::post("/after", vec![b'a'; BODY]));
    assert_eq!(response.status, 200);
    envoy.wait_for_counter("m", "mirrored", u64::from(4 * workers) + 1, WAIT);
    let copy = mirror
        .wait_for(4 * workers as usize + 1, WAIT)
        .into_iter()
        .find(|r| r.path == "/after")
        .expect("the copy of /after");
    assert_eq!(copy.body.len(), BODY);
    let log = envoy.log();
    assert!(!log.contains("panicked"), "a panic in the log");
    assert!(
        !log.contains("memory allocation"),
        "an allocation failure in the log"
    );
    eprintln!(
        "memory attack, {workers} worker(s): {uploads} uploads, {captured} captured until \
         abandoned, {} refused by the budget; Envoy peak RSS {} MB",
        uploads as u64 - captured,
        peak_kb / 1024
    );
    // At most the budget per worker is held for copies (32 MiB of 1,040,001-byte bodies).
    assert!(captured <= 32 * u64::from(workers), "{captured} captured");
}

#[test]
fn memory_attack_on_one_worker_is_refused_by_the_budget() {
    memory_attack(1);
}

#[test]
fn memory_attack_on_two_workers_is_refused_by_the_budget() {
    memory_attack(2);
}

/// `n` as a name of letters only (`b`, `c`, ..., `ba`): not data-like, so each is a name of its
/// own in an endpoint or a field.
fn letters(mut n: usize) -> String {
    let mut name = String::new();
    loop {
        name.insert(0, char::from(b'a' + (n % 26) as u8));
        n /= 26;
        if n == 0 {
            return name;
        }
    }
}

/// The series of one per-endpoint metric in Envoy's Prometheus output.
fn series(envoy: &Envoy, metric: &str) -> Vec<String> {
    envoy
        .admin_get("/stats/prometheus")
        .lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .map(String::from)
        .collect()
}

#[test]
fn an_endpoint_flood_new_json_keys_ids_and_endless_paths_stay_within_the_series_bounds() {
    let Some(_turn) = heavy_test() else { return };
    // Every answer of the canary carries a key never seen before; the primary's never does.
    let fresh = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let canary = Backend::replying(move |_: &Received| {
        let n = fresh.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let body = format!(r#"{{"same": 1, "k{}": 1}}"#, letters(n));
        Reply::json(200, body.leak())
    });
    let primary = Backend::replying(|_: &Received| Reply::json(200, r#"{"same": 1}"#));
    let config = json!({"targets": [{"cluster": "canary", "name": "canary", "max_endpoints": 4,
        "compare": {"body": "json", "max_fields_per_endpoint": 2}}]});
    let envoy = Envoy::builder(config)
        .primary(primary.addr())
        .cluster("canary", canary.addr())
        .concurrency(2)
        .start();
    let deep = "/a".repeat(3000);
    let mut paths: Vec<String> = (0..60).map(|i| format!("/{}", letters(i + 1))).collect();
    paths.extend((0..60).map(|i| format!("/users/{i}")));
    paths.extend((0..20).map(|_| deep.clone()));
    // Four clients at once, so both workers admit endpoints at the same moment.
    let chunks: Vec<Vec<String>> = paths.chunks(35).map(<[String]>::to_vec).collect();
    let barrier = Arc::new(Barrier::new(chunks.len()));
    let listener = envoy.listener();
    let clients: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let mut client = Client::http1(listener);
                barrier.wait();
                for path in chunk {
                    let response = client.send(Request::get(&path));
                    assert_eq!(response.status, 200, "the original is untouched");
                    assert_eq!(response.body, br#"{"same": 1}"#);
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    envoy.wait_for_counter("canary", "mirrored", 140, WAIT);
    let compared =
        mirror_harness::eventually("every comparison counted per endpoint", WAIT, || {
            let lines = series(&envoy, "traffic_mirror_endpoint_compared");
            let total: u64 = lines
                .iter()
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum();
            let decided =
                envoy.counter("canary", "matched") + envoy.counter("canary", "mismatched");
            (decided == 140 && total == 140).then_some(lines)
        });
    assert!(compared.len() <= 5, "4 endpoints and other: {compared:#?}");
    assert!(
        compared.iter().any(|l| l.contains(r#"endpoint="other""#)),
        "the flood is counted as other: {compared:#?}"
    );
    assert!(
        compared.iter().all(|l| l.len() < 200),
        "no label grows with the path: {compared:#?}"
    );
    // Each endpoint: at most 2 fields and other, each a differed and a noise series.
    let fields = series(&envoy, "traffic_mirror_field_differed");
    assert!(fields.len() <= 5 * 3, "{fields:#?}");
    assert!(
        fields.iter().any(|l| l.contains(r#"field="other""#)),
        "{fields:#?}"
    );
    assert!(
        fields
            .iter()
            .all(|l| !l.contains("users/1") && !l.contains("users/2")),
        "ids never become labels: {fields:#?}"
    );
    let all_series = envoy
        .admin_get("/stats/prometheus")
        .lines()
        .filter(|l| {
            l.starts_with("traffic_mirror_endpoint_") || l.starts_with("traffic_mirror_field_")
        })
        .count();
    assert!(all_series <= 5 * (6 + 2 * 3), "{all_series} series");
    assert!(!envoy.log().contains("panicked"), "the plugin never panics");
}
