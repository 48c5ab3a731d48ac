//! Copies beyond the first hop (docs/tracing.md, docs/copies.md): what a canary's real
//! OpenTelemetry SDK reads from a copy's trace headers, the baggage marker an instrumented
//! canary carries on to the services it calls, writes refused there, the copy log, and no
//! second copy to where the original goes.

use mirror_harness::bootstrap::cluster;
use mirror_harness::{eventually, repo_root, Backend, Client, Envoy, Request};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// tests/tracing/otel_app.py: a mirror target (or a canary calling on) that reads every
/// request with the OpenTelemetry SDK installed by `make deps` into .venv.
struct OtelApp {
    child: Child,
    port: u16,
    record: PathBuf,
    _dir: mirror_harness::tempfile::TempDir,
}

impl OtelApp {
    fn start(args: &[&str]) -> OtelApp {
        let dir = mirror_harness::tempfile::tempdir().expect("temp dir");
        let record = dir.path().join("records.jsonl");
        let python = repo_root().join(".venv/bin/python");
        let mut child = Command::new(&python)
            .arg(repo_root().join("tests/tracing/otel_app.py"))
            .arg("--record")
            .arg(&record)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).expect("stderr log"))
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e} (run `make deps`)", python.display()));
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("port line");
        let port = line.trim().parse().unwrap_or_else(|_| {
            panic!("otel_app.py printed {line:?}: is opentelemetry-sdk installed (`make deps`)?")
        });
        OtelApp {
            child,
            port,
            record,
            _dir: dir,
        }
    }

    fn addr(&self) -> std::net::SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("record"))
            .collect()
    }

    fn wait_for(&self, n: usize) -> Vec<Value> {
        eventually(&format!("{n} records"), WAIT, || {
            let records = self.records();
            (records.len() >= n).then_some(records)
        })
    }
}

impl Drop for OtelApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn traced(request: Request) -> Request {
    request
        .header("traceparent", TRACEPARENT)
        .header("tracestate", "vendor=opaque")
        .header("x-b3-traceid", "463ac35c9f6413ad48485a3953bb6124")
        .header("x-b3-spanid", "a2fb4a1d1a96d312")
        .header("x-b3-sampled", "1")
        .header("x-b3-flags", "1")
        .header("x-envoy-force-trace", "true")
        .header("x-client-trace-id", "client-1")
        .header("baggage", "user.tier=gold")
}

#[test]
fn never_sampled_copies_are_not_recorded_by_the_canarys_opentelemetry_sdk_over_http1_and_http2() {
    let primary = Backend::start();
    let [h1_never, h2_never, h1_inherit] = [
        OtelApp::start(&[]),
        OtelApp::start(&["--h2"]),
        OtelApp::start(&[]),
    ];
    let envoy = Envoy::builder(json!({"targets": [
        {"cluster": "h1_never", "name": "h1-never", "tracing": {"sampled": "never"}},
        {"cluster": "h2_never", "name": "h2-never", "tracing": {"sampled": "never"}},
        {"cluster": "h1_inherit", "name": "inherit"}
    ]}))
    .primary(primary.addr())
    .cluster("h1_never", h1_never.addr())
    .cluster("h1_inherit", h1_inherit.addr())
    .raw_cluster(cluster("h2_never", h2_never.addr(), true))
    .start();
    for mut client in [
        Client::http1(envoy.listener()),
        Client::http2(envoy.listener()),
    ] {
        assert_eq!(client.send(traced(Request::get("/orders/7"))).status, 200);
    }

    let original = &primary.wait_for(2, WAIT)[0];
    assert_eq!(
        original.header("traceparent"),
        Some(TRACEPARENT),
        "original untouched"
    );
    assert_eq!(original.header("x-b3-flags"), Some("1"));
    assert_eq!(original.header("x-client-trace-id"), Some("client-1"));
    for (app, name, protocol) in [
        (&h1_never, "h1-never", "HTTP/1.1"),
        (&h2_never, "h2-never", "HTTP/2"),
    ] {
        for copy in app.wait_for(2) {
            assert_eq!(copy["protocol"], protocol);
            assert_eq!(
                copy["w3c"],
                json!({"valid": true, "sampled": false, "trace_id": TRACE_ID})
            );
            assert_eq!(copy["b3multi"]["sampled"], false, "{copy}");
            assert_eq!(
                copy["recorded"], false,
                "the canary's tracer drops its span: {copy}"
            );
            assert_eq!(copy["headers"]["tracestate"], "vendor=opaque");
            for forcing in ["x-b3-flags", "x-envoy-force-trace", "x-client-trace-id"] {
                assert!(
                    copy["headers"].get(forcing).is_none(),
                    "{forcing} in {copy}"
                );
            }
            assert_eq!(
                copy["baggage"],
                json!({"user.tier": "gold", "traffic-mirror": name}),
                "the marker travels in the baggage, beside the original's members"
            );
        }
    }
    for copy in h1_inherit.wait_for(2) {
        assert_eq!(
            copy["w3c"],
            json!({"valid": true, "sampled": true, "trace_id": TRACE_ID})
        );
        assert_eq!(
            copy["recorded"], true,
            "inherit: the canary's spans join the trace"
        );
        assert_eq!(copy["headers"]["x-b3-flags"], "1");
        assert_eq!(copy["headers"]["x-client-trace-id"], "client-1");
    }
}

#[test]
fn hostile_trace_and_baggage_headers_still_give_a_documented_copy() {
    let primary = Backend::start();
    let app = OtelApp::start(&[]);
    let envoy = Envoy::builder(json!({"targets": [
        {"cluster": "otel", "name": "quiet", "tracing": {"sampled": "never"}}
    ]}))
    .primary(primary.addr())
    .cluster("otel", app.addr())
    .start();
    let mut client = Client::http1(envoy.listener());
    // Uppercase hex, a second traceparent, a baggage past W3C's 8192 bytes.
    let oversized = format!("big={}", "v".repeat(9000));
    let requests = [
        Request::get("/upper")
            .header(
                "traceparent",
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
            )
            .header("tracestate", "vendor=opaque"),
        Request::get("/twice")
            .header("traceparent", TRACEPARENT)
            .header("traceparent", TRACEPARENT),
        Request::get("/ff").header(
            "traceparent",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        Request::get("/big-baggage").header("baggage", oversized.as_str()),
        Request::get("/odd-baggage").header("baggage", "traffic%2Dmirror=x;p, =, ,k=%ZZ"),
    ];
    for request in requests {
        assert_eq!(client.send(request).status, 200);
    }
    let copies = app.wait_for(5);
    let by_path = |path: &str| copies.iter().find(|c| c["path"] == path).unwrap().clone();
    for path in ["/upper", "/twice", "/ff"] {
        let copy = by_path(path);
        assert!(
            copy["headers"].get("traceparent").is_none(),
            "malformed: left out, {copy}"
        );
        assert!(copy["headers"].get("tracestate").is_none(), "{copy}");
        assert_eq!(copy["headers"]["x-traffic-mirror"], "quiet");
    }
    let big = by_path("/big-baggage");
    assert_eq!(
        big["headers"]["baggage"],
        oversized.as_str(),
        "as it came, not marked"
    );
    assert_eq!(
        big["headers"]["x-traffic-mirror"], "quiet",
        "the header marker alone"
    );
    envoy.wait_for_counter("quiet", "baggage_not_marked", 1, WAIT);
    let odd = by_path("/odd-baggage");
    assert_eq!(odd["baggage"]["traffic-mirror"], "quiet", "{odd}");
    envoy.wait_for_counter("quiet", "responses_2xx", 5, WAIT);
    assert_eq!(envoy.counter("quiet", "mirrored"), 5);
}

/// Envoy B: the sidecar of a service a canary calls, running the plugin with
/// `refuse_marked_writes` and a mirror target of its own.
fn downstream_sidecar(service: &Backend, mirror: &Backend) -> Envoy {
    Envoy::builder(json!({"refuse_marked_writes": true,
                          "targets": [{"cluster": "b_mirror", "name": "b-shadow"}]}))
    .primary(service.addr())
    .cluster("b_mirror", mirror.addr())
    .start()
}

#[test]
fn a_canarys_calls_carry_the_marker_and_its_writes_are_refused_downstream() {
    let (service, service_mirror) = (Backend::start(), Backend::start());
    let sidecar_b = downstream_sidecar(&service, &service_mirror);
    let downstream = format!("http://{}", sidecar_b.listener());
    let canary = OtelApp::start(&[
        "--downstream",
        &downstream,
        "--call-on",
        "POST /accounts/debit",
        "--call-on",
        "GET /accounts/balance",
    ]);
    let production = Backend::start();
    let sidecar_a = Envoy::builder(json!({"targets": [{"cluster": "canary", "name": "canary"}]}))
        .primary(production.addr())
        .cluster("canary", canary.addr())
        .start();

    let mut client = Client::http1(sidecar_a.listener());
    let response =
        client.send(Request::post("/checkout", "{}").header("baggage", "user.tier=gold"));
    assert_eq!(
        response.status, 200,
        "the original is answered by production"
    );
    let calls = canary.wait_for(1)[0]["calls"].clone();
    assert_eq!(calls[0]["method"], "POST");
    assert_eq!(calls[0]["status"], 403, "{calls}");
    assert!(
        calls[0]["body"]
            .as_str()
            .unwrap()
            .contains("refuse_marked_writes"),
        "{calls}"
    );
    assert!(
        calls[0]["sent_baggage"]
            .as_str()
            .unwrap()
            .contains("traffic-mirror=canary"),
        "the SDK propagated the member: {calls}"
    );
    assert_eq!(calls[1]["method"], "GET");
    assert_eq!(calls[1]["status"], 200, "reads pass: {calls}");

    let reached: Vec<String> = service
        .wait_for(1, WAIT)
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(
        reached,
        ["/accounts/balance"],
        "the write never reached the service"
    );
    let refused = "wasmcustom.traffic_mirror.refused_marked_writes";
    eventually("refused_marked_writes counted", WAIT, || {
        (sidecar_b.plugin_stats().get(refused) == Some(&1)).then_some(())
    });
    sidecar_b.wait_for_counter("b-shadow", "skipped_loop", 2, WAIT);
    assert_eq!(
        sidecar_b.counter("b-shadow", "mirrored"),
        0,
        "the canary's calls are not mirrored"
    );
    assert_eq!(service_mirror.count(), 0);

    // An unmarked write is none of the guard's business.
    let response = Client::http1(sidecar_b.listener()).send(Request::post("/accounts/debit", "{}"));
    assert_eq!(response.status, 200);
    sidecar_b.wait_for_counter("b-shadow", "mirrored", 1, WAIT);
    assert_eq!(sidecar_b.plugin_stats().get(refused), Some(&1));
}

#[test]
fn no_second_copy_goes_to_the_cluster_the_original_is_routed_to() {
    let (primary, mirror) = (Backend::start(), Backend::start());
    let envoy = Envoy::builder(json!({"targets": [
        {"cluster": "primary", "name": "production"},
        {"cluster": "mirror", "name": "canary"},
        {"cluster": "primary", "name": "load-test", "allow_same_cluster": true}
    ]}))
    .primary(primary.addr())
    .cluster("mirror", mirror.addr())
    .start();
    let response = Client::http1(envoy.listener()).send(Request::post("/orders", "{}"));
    assert_eq!(response.status, 200);
    envoy.wait_for_counter("production", "skipped_same_cluster", 1, WAIT);
    envoy.wait_for_counter("canary", "responses_2xx", 1, WAIT);
    envoy.wait_for_counter("load-test", "responses_2xx", 1, WAIT);
    assert_eq!(envoy.counter("production", "mirrored"), 0);
    // The original and the load test's copy, which asked for it: not a third.
    primary.wait_for(2, WAIT);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(primary.count(), 2);
}

#[test]
fn in_istio_a_target_that_is_the_addressed_service_gets_no_copy() {
    let (inbound, same, canary) = (Backend::start(), Backend::start(), Backend::start());
    let service = "users.prod.svc.cluster.local";
    let envoy = Envoy::builder(json!({"targets": [
        {"service": service, "port": 8080, "name": "users"},
        {"service": service, "port": 8080, "subset": "canary", "name": "users-canary"}
    ]}))
    .primary(inbound.addr())
    .raw_cluster(cluster(
        &format!("outbound|8080||{service}"),
        same.addr(),
        false,
    ))
    .raw_cluster(cluster(
        &format!("outbound|8080|canary|{service}"),
        canary.addr(),
        false,
    ))
    .start();
    let mut client = Client::http1(envoy.listener());
    for authority in ["users.prod:8080", "users.prod.svc.cluster.local", "users"] {
        let response = client.send(Request::get("/profile").authority(authority));
        assert_eq!(response.status, 200);
    }
    envoy.wait_for_counter("users", "skipped_same_cluster", 3, WAIT);
    envoy.wait_for_counter("users-canary", "responses_2xx", 3, WAIT);
    assert_eq!(same.count(), 0);
    // Addressed to another service: the plain target is a copy's destination like any other.
    client.send(Request::get("/profile").authority("billing.prod"));
    envoy.wait_for_counter("users", "responses_2xx", 1, WAIT);
    assert_eq!(same.wait_for(1, WAIT).len(), 1);
}

#[test]
fn each_copy_writes_one_json_line_within_its_budget() {
    let (primary, mirror) = (Backend::start(), Backend::start());
    let envoy = Envoy::builder(json!({"targets": [
        {"cluster": "mirror", "name": "logged", "copy_log": {"per_minute": 2}}
    ]}))
    .primary(primary.addr())
    .cluster("mirror", mirror.addr())
    .start();
    let mut client = Client::http1(envoy.listener());
    for i in 0..4 {
        let request = Request::post(&format!("/users/{i}42/orders?token=s3cret"), "{\"a\":1}")
            .header("x-request-id", format!("req-{i}"))
            .header("traceparent", TRACEPARENT)
            .header("authorization", "Bearer secret");
        assert_eq!(client.send(request).status, 200);
    }
    envoy.wait_for_counter("logged", "responses_2xx", 4, WAIT);
    let lines = eventually("two copy lines", WAIT, || {
        let lines: Vec<Value> = envoy
            .log()
            .lines()
            .filter_map(|line| serde_json::from_str(&line[line.find("{\"mirror_copy")?..]).ok())
            .collect();
        (lines.len() >= 2).then_some(lines)
    });
    assert_eq!(lines.len(), 2, "the budget of 2 a minute: {lines:?}");
    let copy = &lines[0]["mirror_copy"];
    assert_eq!(copy["target"], "logged");
    assert_eq!(copy["method"], "POST");
    assert_eq!(
        copy["endpoint"], "POST /users/{}/orders",
        "a template, never the raw path"
    );
    assert_eq!(copy["outcome"], "responses_2xx");
    assert_eq!(copy["status"], 200);
    assert_eq!(copy["request_bytes"], 7);
    // Copies answer in any order (each is in flight while the next request is sent): the
    // line is one of the four requests', by its own id.
    let id = copy["x_request_id"].as_str().unwrap_or_default();
    assert!(
        (0..4).any(|i| id == format!("req-{i}")),
        "the request's own x-request-id: {id:?}"
    );
    assert_ne!(
        lines[1]["mirror_copy"]["x_request_id"], copy["x_request_id"],
        "one line per copy"
    );
    assert_eq!(copy["trace_id"], TRACE_ID);
    assert!(copy["duration_ms"].is_u64() && copy["response_bytes"].is_u64());
    let log = envoy.log();
    for secret in ["s3cret", "Bearer", "\"a\":1"] {
        assert!(!log.contains(secret), "{secret} in the log");
    }
}
