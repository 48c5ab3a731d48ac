//! Helpers of the verdict's integration tests: a real Prometheus (the binary `make
//! prometheus-bin` caches) scraping any metrics endpoints on loopback, and stand-in Envoys
//! serving the plugin's counters as Envoy's admin `/stats/prometheus` does. To run the same
//! checks on real Envoys, start Prometheus on their admin addresses instead.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use traffic_mirror_verdict::api;
use traffic_mirror_verdict::http::{self, Url};
use traffic_mirror_verdict::sample::Sample;

/// Where `make prometheus-bin` puts Prometheus, unless PROMETHEUS_BIN says otherwise.
pub fn prometheus_binary() -> PathBuf {
    match std::env::var_os("PROMETHEUS_BIN") {
        Some(path) => PathBuf::from(path),
        None => {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.prometheus-bin/v0.316.0/prometheus")
        }
    }
}

/// Polls `check` until it gives a value or `timeout` passes.
pub fn eventually<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Prometheus on loopback scraping `targets` every second; stopped when dropped (and, should
/// the test be killed, by `timeout` after five minutes).
pub struct Prometheus {
    child: Child,
    dir: PathBuf,
    pub url: String,
}

impl Prometheus {
    /// Starts `binary` scraping `metrics_path` of every `host:port` in `targets`, and waits until
    /// it is ready.
    pub fn start(binary: &Path, targets: &[String], metrics_path: &str) -> Prometheus {
        let dir = std::env::temp_dir().join(format!(
            "verdict-prometheus-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let listed: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        // Envoy's admin answers text/plain; Prometheus 3 wants to be told how to read that.
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n- job_name: envoy\n  metrics_path: {metrics_path}\n  \
             fallback_scrape_protocol: PrometheusText0.0.4\n  static_configs:\n  - targets: [{}]\n",
            listed.join(", ")
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let port = free_port();
        let child = Command::new("timeout")
            .args(["-s", "TERM", "300"])
            .arg(binary)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let prometheus = Prometheus {
            child,
            dir,
            url: format!("http://127.0.0.1:{port}"),
        };
        let url = Url::parse(&prometheus.url).unwrap();
        eventually("Prometheus to be ready", Duration::from_secs(30), || {
            http::get(&url, "/-/ready").ok()
        });
        prometheus
    }

    /// An instant query's samples.
    pub fn query(&self, promql: &str) -> Result<Vec<Sample>, String> {
        let url = Url::parse(&self.url).unwrap();
        let body = http::get(
            &url,
            &format!("/api/v1/query?query={}", http::encode(promql)),
        )?;
        api::parse(&body)
    }

    /// The single value of a query that returns one, if it does.
    pub fn value(&self, promql: &str) -> Option<f64> {
        match self.query(promql) {
            Ok(samples) if samples.len() == 1 => Some(samples[0].value),
            _ => None,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // TERM reaches Prometheus through `timeout`, which passes it on.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The counters a stand-in Envoy holds, by series: the metric name and its labels, in order.
#[derive(Default, Clone)]
pub struct Counters {
    series: BTreeMap<(String, Vec<(String, String)>), u64>,
}

/// A label value escaped as Envoy's `/stats/prometheus` writes it.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

impl Counters {
    /// Adds `by` to a series, defining it (at 0 first, as the plugin does) if new.
    pub fn add(&mut self, metric: &str, labels: &[(&str, &str)], by: u64) {
        let key = (
            metric.to_string(),
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        *self.series.entry(key).or_default() += by;
    }

    /// The exposition, grouped by metric under `# TYPE` lines, as Envoy writes it.
    pub fn render(&self) -> String {
        let mut text = String::new();
        let mut current = "";
        for ((metric, labels), value) in &self.series {
            if metric != current {
                text += &format!("# TYPE {metric} counter\n");
                current = metric;
            }
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            text += &format!("{metric}{{{}}} {value}\n", labels.join(","));
        }
        text
    }
}

/// An HTTP server on loopback answering every GET with its current counters, as an Envoy's
/// admin endpoint would; stopped when dropped.
pub struct StandInEnvoy {
    pub address: String,
    pub counters: Arc<Mutex<Counters>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StandInEnvoy {
    pub fn start() -> StandInEnvoy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let counters = Arc::new(Mutex::new(Counters::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, stopping) = (counters.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let body = shared.lock().unwrap().render();
                        let _ = answer(stream, &body);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        StandInEnvoy {
            address,
            counters,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn update(&self, change: impl FnOnce(&mut Counters)) {
        change(&mut self.counters.lock().unwrap());
    }
}

fn answer(mut stream: TcpStream, body: &str) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&buffer[..n]);
    }
    // Envoy's admin content type for /stats/prometheus.
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=UTF-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())
}

impl Drop for StandInEnvoy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The `query: |` block of a template (a YAML literal block, as envoy/rollouts/ writes it).
pub fn template_query(yaml: &str) -> String {
    let mut lines = yaml.lines();
    let indent = |line: &str| line.len() - line.trim_start().len();
    let start = lines
        .by_ref()
        .find(|line| line.trim() == "query: |")
        .expect("a `query: |` block");
    let outer = indent(start);
    let block: Vec<&str> = lines
        .take_while(|line| line.trim().is_empty() || indent(line) > outer)
        .collect();
    let inner = block
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| indent(l))
        .min()
        .unwrap_or(0);
    block
        .iter()
        .map(|l| l.get(inner..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}
