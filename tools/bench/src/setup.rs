//! The Envoys of the benchmark and what is read from them.

use crate::documents::{json_document, Shape};
use crate::load::{wrk, Sample};
use crate::Scenario;
use mirror_harness::bootstrap::{
    bootstrap, cluster, http_listener, plugin_filter, to_cluster, wasm_filter,
};
use mirror_harness::{
    repo_root, start_bootstrap, start_bootstrap_with, Client, Envoy, Launch, Request,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Answers every request itself, so that backends cost the same in every scenario.
pub struct Backend {
    pub envoy: Envoy,
}

impl Backend {
    pub fn start() -> Backend {
        let answer = json!({"direct_response": {"status": 200, "body": {"inline_string": "ok"}}});
        let one_second_delay = json!({
            "name": "envoy.filters.http.fault",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
                "delay": {"fixed_delay": "1s", "percentage": {"numerator": 100, "denominator": "HUNDRED"}}
            }
        });
        let json = |document: String| json!({"direct_response": {"status": 200, "body": {"inline_string": document}}});
        let listeners = vec![
            http_listener("primary", answer.clone(), vec![]),
            http_listener("mirror", answer.clone(), vec![]),
            http_listener("primary_json", json(json_document(Shape::Compact)), vec![]),
            http_listener("mirror_json", json(json_document(Shape::Spaced)), vec![]),
            // The primary's very bytes: the comparison with no JSON to read.
            http_listener(
                "mirror_json_same",
                json(json_document(Shape::Compact)),
                vec![],
            ),
            http_listener(
                "mirror_json_reordered",
                json(json_document(Shape::Reordered)),
                vec![],
            ),
            http_listener("slow_mirror", answer, vec![one_second_delay]),
        ];
        let envoy = start_bootstrap(&bench_bootstrap(listeners, vec![]), 1, temp_dir());
        pin_to_cpu(envoy.pid(), LOAD_CPU);
        Backend { envoy }
    }

    fn address(&self, listener: &str) -> SocketAddr {
        listener_address(&self.envoy, listener)
    }

    /// Copies received so far by the (healthy) mirror listener.
    pub fn copies_received(&self) -> u64 {
        stat(&self.envoy, "http.mirror.downstream_rq_total")
    }

    pub fn slow_copies_in_flight(&self) -> u64 {
        stat(&self.envoy, "http.slow_mirror.downstream_rq_active")
    }
}

/// The Envoy under test: one listener per scenario.
pub struct Front {
    pub envoy: Envoy,
}

impl Front {
    pub fn start(backend: &Backend, workers: u32) -> Front {
        let envoy = start_front(backend, front_listeners(), workers, &Launch::default());
        pin_to_cpu(envoy.pid(), FRONT_CPU);
        Front { envoy }
    }

    pub fn listener(&self, name: &str) -> SocketAddr {
        listener_address(&self.envoy, name)
    }

    pub fn address(&self, scenario: Scenario) -> SocketAddr {
        self.listener(scenario.listener)
    }

    /// One wrk run on `scenario`, with the front Envoy's CPU time per request.
    pub fn measure(&self, backend: &Backend, scenario: Scenario, duration: Duration) -> Sample {
        let cpu_before = cpu_seconds(self.envoy.pid());
        let copies_before = backend.copies_received();
        let run = wrk(self.address(scenario), duration, scenario.post_16k);
        // Copies still on their way when wrk stops are part of what these requests cost.
        std::thread::sleep(Duration::from_millis(200));
        let cpu = cpu_seconds(self.envoy.pid()) - cpu_before;
        let copies = backend.copies_received() - copies_before;
        Sample::new(run, cpu, copies)
    }

    /// A counter or gauge of the plugin in the front Envoy.
    pub fn plugin_metric(&self, target: &str, metric: &str) -> u64 {
        stat(
            &self.envoy,
            &format!("wasmcustom.traffic_mirror.{target}.{metric}"),
        )
    }

    pub fn version(&self) -> String {
        let info: Value =
            serde_json::from_str(&self.envoy.admin_get("/server_info")).unwrap_or_default();
        info["version"].as_str().unwrap_or("unknown").to_string()
    }

    /// Envoy's allocated bytes, sampled in the background until `stop`.
    pub fn sample_memory_every(&self, period: Duration) -> MemorySampler {
        let admin = self.envoy.admin();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut samples = Vec::new();
            while !stopping.load(Ordering::Relaxed) {
                samples.push((started.elapsed().as_secs(), allocated_bytes(admin)));
                let next = started + period * u32::try_from(samples.len()).unwrap_or(u32::MAX);
                while Instant::now() < next && !stopping.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            samples
        });
        MemorySampler { stop, thread }
    }
}

pub struct MemorySampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<(u64, u64)>>,
}

impl MemorySampler {
    /// (seconds since start, allocated bytes) pairs.
    pub fn stop(self) -> Vec<(u64, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// The tests' bootstrap with Envoy's default stats flush (every 5 s): the tests flush every
/// second to see histograms sooner, which would add work that grows with the run's length.
fn bench_bootstrap(listeners: Vec<Value>, clusters: Vec<Value>) -> Value {
    let mut bootstrap = bootstrap(listeners, clusters);
    if let Some(fields) = bootstrap.as_object_mut() {
        fields.remove("stats_flush_interval");
    }
    bootstrap
}

/// `max_in_flight` of the capped slow-target scenario.
pub const CAPPED_IN_FLIGHT: u32 = 50;

/// The front's listeners for the throughput benchmark.
const FRONT_LISTENERS: [&str; 10] = [
    "none",
    "empty_filter",
    "native_mirror",
    "plugin_mirror",
    "plugin_sampled_out",
    "plugin_mirror_json",
    "plugin_compare",
    "plugin_compare_reordered",
    "plugin_slow_target",
    "plugin_slow_capped",
];

fn front_listeners() -> Vec<Value> {
    FRONT_LISTENERS
        .iter()
        .map(|name| front_listener(name))
        .collect()
}

/// A front listener by name: all route to `primary`, and differ in how they mirror.
pub fn front_listener(name: &str) -> Value {
    let plugin = |config: Value| vec![plugin_filter(&config.to_string())];
    let fixture = |crate_name: &str| {
        let wasm = repo_root().join(format!("target/wasm32-wasip1/release/{crate_name}.wasm"));
        assert!(
            wasm.exists(),
            "{} is missing: run `make bench`",
            wasm.display()
        );
        vec![wasm_filter(crate_name, "", &wasm)]
    };
    let native = json!({"route": {"cluster": "primary", "timeout": "30s", "request_mirror_policies": [
        {"cluster": "mirror", "runtime_fraction": {"default_value": {"numerator": 100, "denominator": "HUNDRED"}}}
    ]}});
    let (action, filters) = match name {
        "none" => (to_cluster("primary"), vec![]),
        "empty_filter" => (to_cluster("primary"), fixture("empty_filter")),
        "dispatch_floor" => (to_cluster("primary"), fixture("dispatch_floor")),
        "native_mirror" => (native, vec![]),
        "plugin_mirror" => (
            to_cluster("primary"),
            plugin(json!({"targets": [{"cluster": "mirror", "name": "bench"}]})),
        ),
        "plugin_sampled_out" => (
            to_cluster("primary"),
            plugin(
                json!({"targets": [{"cluster": "mirror", "name": "bench_off", "percentage": 0}]}),
            ),
        ),
        // The comparison's baseline: the same ~2 KB JSON answers, copies not compared.
        "plugin_mirror_json" => (
            to_cluster("primary_json"),
            plugin(json!({"targets": [{"cluster": "mirror_json", "name": "bench_json"}]})),
        ),
        "plugin_compare" => (
            to_cluster("primary_json"),
            plugin(
                json!({"targets": [{"cluster": "mirror_json", "name": "bench_compare",
                                       "compare": {"body": "json"}}]}),
            ),
        ),
        // What a comparison costs apart from reading JSON: the copy answers the primary's
        // bytes, which the diff compares as bytes.
        "plugin_compare_same_bytes" => (
            to_cluster("primary_json"),
            plugin(
                json!({"targets": [{"cluster": "mirror_json_same", "name": "bench_same_bytes",
                                       "compare": {"body": "json"}}]}),
            ),
        ),
        "plugin_compare_reordered" => (
            to_cluster("primary_json"),
            plugin(
                json!({"targets": [{"cluster": "mirror_json_reordered", "name": "bench_reordered",
                                       "compare": {"body": "json"}}]}),
            ),
        ),
        "plugin_slow_target" => (
            to_cluster("primary"),
            plugin(json!({"targets": [{"cluster": "slow_mirror", "name": "bench_slow"}]})),
        ),
        "plugin_slow_capped" => (
            to_cluster("primary"),
            plugin(
                json!({"targets": [{"cluster": "slow_mirror", "name": "bench_capped",
                                       "limits": {"max_in_flight": CAPPED_IN_FLIGHT}}]}),
            ),
        ),
        other => panic!("no front listener {other}"),
    };
    http_listener(name, action, filters)
}

pub fn start_front(
    backend: &Backend,
    listeners: Vec<Value>,
    workers: u32,
    launch: &Launch,
) -> Envoy {
    let clusters = [
        "primary",
        "mirror",
        "slow_mirror",
        "primary_json",
        "mirror_json",
        "mirror_json_same",
        "mirror_json_reordered",
    ]
    .iter()
    .map(|name| cluster(name, backend.address(name), false))
    .collect();
    start_bootstrap_with(
        &bench_bootstrap(listeners, clusters),
        workers,
        temp_dir(),
        launch,
    )
}

/// Allocated bytes of a 2-worker Envoy with the plugin on its only listener, minus the same
/// Envoy without it, each after some traffic.
pub fn memory_overhead(backend: &Backend) -> MemoryOverhead {
    let measure = |with_plugin: bool| {
        let listener = if with_plugin {
            http_listener(
                "front",
                to_cluster("primary"),
                vec![plugin_filter(
                    &json!({"targets": [{"cluster": "mirror", "name": "memory"}]}).to_string(),
                )],
            )
        } else {
            http_listener("front", to_cluster("primary"), vec![])
        };
        let envoy = start_front(backend, vec![listener], 2, &Launch::default());
        wrk(envoy.listener(), Duration::from_secs(2), false);
        std::thread::sleep(Duration::from_millis(300));
        allocated_bytes(envoy.admin())
    };
    let without = measure(false);
    let with = measure(true);
    MemoryOverhead { without, with }
}

#[derive(Debug, Clone, Copy)]
pub struct MemoryOverhead {
    pub without: u64,
    pub with: u64,
}

fn allocated_bytes(admin: SocketAddr) -> u64 {
    let response = Client::http1(admin).send(Request::get("/memory"));
    let memory: Value = serde_json::from_slice(&response.body).unwrap_or_default();
    memory["allocated"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub fn listener_address(envoy: &Envoy, name: &str) -> SocketAddr {
    let listeners: BTreeMap<String, SocketAddr> = envoy.listeners();
    *listeners
        .get(name)
        .unwrap_or_else(|| panic!("no listener {name} in {listeners:?}"))
}

fn stat(envoy: &Envoy, name: &str) -> u64 {
    let text = envoy.admin_get(&format!("/stats?filter={name}"));
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(": ")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// User plus system CPU time of a process, all threads, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    const CLOCK_TICKS_PER_SECOND: f64 = 100.0; // USER_HZ, 100 on Linux
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / CLOCK_TICKS_PER_SECOND // utime and stime, fields 14 and 15
}

/// The front Envoy gets a core of its own; the backend and the load generators share the
/// other. Without this, the three compete for both cores and the front's CPU time per request
/// swings by a third from run to run.
pub const FRONT_CPU: usize = 0;
pub const LOAD_CPU: usize = 1;

/// Pins every thread of `pid` (threads created later inherit it).
fn pin_to_cpu(pid: u32, cpu: usize) {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if cores < 2 {
        return; // one core: nothing to separate
    }
    let status = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", &cpu.to_string(), &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        eprintln!(
            "warning: could not pin pid {pid} to CPU {cpu} (taskset); figures will be noisier"
        );
    }
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}
