//! A real Prometheus (the binary `make prometheus-bin` caches) scraping metrics endpoints on
//! loopback every second, the rollout templates' queries, and the command's JSON report read
//! back. Shared by the verdict's test on
//! stand-in Envoys (tools/verdict/tests/prometheus.rs) and the integration suite's test on real
//! Envoys (tests/integration/verdict.rs), which includes this file by path.

#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use traffic_mirror_verdict::api;
use traffic_mirror_verdict::http::{self, Url};
use traffic_mirror_verdict::sample::Sample;

/// The workspace root: this file is compiled into the root package's tests and tools/verdict's.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").exists())
        .expect("the workspace root")
        .to_path_buf()
}

/// Where `make prometheus-bin` puts Prometheus, unless PROMETHEUS_BIN says otherwise.
pub fn prometheus_binary() -> PathBuf {
    match std::env::var_os("PROMETHEUS_BIN") {
        Some(path) => PathBuf::from(path),
        None => workspace_root().join(".prometheus-bin/v0.316.0/prometheus"),
    }
}

/// The Prometheus binary, or None (saying SKIPPED) when it is absent and PROMETHEUS_BIN does not
/// name it: named explicitly (the Makefile does), its absence is a failure, not a skip.
pub fn prometheus_or_skip() -> Option<PathBuf> {
    let binary = prometheus_binary();
    if binary.exists() {
        return Some(binary);
    }
    assert!(
        std::env::var_os("PROMETHEUS_BIN").is_none(),
        "PROMETHEUS_BIN={} does not exist",
        binary.display()
    );
    eprintln!(
        "SKIPPED: no Prometheus at {} (run `make prometheus-bin`, or set PROMETHEUS_BIN)",
        binary.display()
    );
    None
}

/// Runs the verdict command `binary` with `args` and `--json`: its report and exit status.
pub fn run_verdict(binary: &Path, args: &[String]) -> (Value, i32) {
    let output = Command::new(binary)
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    (report, output.status.code().unwrap())
}

/// The (endpoint, field) pairs that fail.
pub type Failing = BTreeSet<(String, String)>;

/// Each target's name, verdict and what fails, from a report.
pub fn outcome(report: &Value) -> Vec<(String, String, Failing)> {
    report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let failing = t["failing"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    (
                        f["endpoint"].as_str().unwrap().to_string(),
                        f["field"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            (
                t["target"].as_str().unwrap().to_string(),
                t["verdict"].as_str().unwrap().to_string(),
                failing,
            )
        })
        .collect()
}

/// Every count of a report, by where it is in the document.
pub fn counts(report: &Value) -> Vec<(String, f64)> {
    let mut found = Vec::new();
    for target in report["targets"].as_array().unwrap() {
        for endpoint in target["endpoints"].as_array().unwrap() {
            let at = format!("{} {}", target["target"], endpoint["endpoint"]);
            for key in ["compared", "matched", "mismatched"] {
                found.push((format!("{at} {key}"), endpoint[key].as_f64().unwrap()));
            }
            for field in endpoint["fields"].as_array().unwrap() {
                for key in ["differed", "noise"] {
                    let value = field[key].as_f64().unwrap();
                    found.push((format!("{at} {} {key}", field["field"]), value));
                }
            }
        }
    }
    found
}

/// The command's arguments to read Envoys' admin endpoints (base URLs).
pub fn envoy_args(urls: impl IntoIterator<Item = String>) -> Vec<String> {
    urls.into_iter()
        .flat_map(|url| ["--envoy".to_string(), url])
        .collect()
}

/// Asserts that a report read from Prometheus holds the same counts as one read from the
/// Envoys, within what increase() extrapolates past the last scrape, less `before_first_scrape`
/// (counted by the Envoys before Prometheus' first sample, which increase() cannot see).
pub fn assert_counts_agree(from_envoys: &Value, from_prometheus: &Value, before_first_scrape: f64) {
    let (exact, estimated) = (counts(from_envoys), counts(from_prometheus));
    assert_eq!(
        exact.iter().map(|(at, _)| at).collect::<Vec<_>>(),
        estimated.iter().map(|(at, _)| at).collect::<Vec<_>>(),
        "the same endpoints and fields"
    );
    for ((at, exact), (_, estimated)) in exact.iter().zip(&estimated) {
        assert!(
            *estimated >= exact * 0.99 - before_first_scrape && *estimated <= exact * 1.2 + 0.01,
            "{at}: Prometheus {estimated}, Envoys {exact}"
        );
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

    /// Waits until Prometheus holds the final counters (`compared` comparisons in all), then a
    /// few more scrapes, so that increase()'s extrapolation to the window's end is a small part
    /// of what it measured.
    pub fn wait_for_final_counters(&self, compared: f64) {
        eventually(
            "the final counters scraped",
            Duration::from_secs(20),
            || {
                let sum = self.value("sum(traffic_mirror_endpoint_compared)");
                (sum == Some(compared)).then_some(())
            },
        );
        std::thread::sleep(Duration::from_secs(3));
    }

    /// The command's arguments to read this Prometheus over `window`.
    pub fn verdict_args(&self, window: &str) -> Vec<String> {
        ["--prometheus", &self.url, "--window", window]
            .map(String::from)
            .to_vec()
    }

    /// Asserts that both rollout templates' queries, for `target` over `window`, return `code`
    /// (the command's exit code).
    pub fn assert_templates_give(&self, target: &str, window: &str, code: i32) {
        for file in ["analysis-template.yaml", "metric-template.yaml"] {
            let query = rendered(file, target, window);
            let result = self
                .query(&query)
                .unwrap_or_else(|e| panic!("{file}: {e}\n{query}"));
            let values: Vec<f64> = result.iter().map(|s| s.value).collect();
            assert_eq!(values, [code as f64], "{file} for {target}:\n{query}");
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

/// The `query: |` block of a template (a YAML literal block, as envoy/rollouts/ writes it).
fn template_query(yaml: &str) -> String {
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

/// A rollout template's query (envoy/rollouts/`file`) with its arguments filled in, as Argo
/// Rollouts and Flagger would: the target, a window and the default thresholds.
fn rendered(file: &str, target: &str, window: &str) -> String {
    let path = workspace_root().join("envoy/rollouts").join(file);
    let query = template_query(&std::fs::read_to_string(path).unwrap());
    let values = [
        ("{{args.target}}", target),
        ("{{ variables.target }}", target),
        ("{{args.window}}", window),
        ("{{ interval }}", window),
        ("{{args.relative-threshold}}", "20"),
        ("{{ variables.relative_threshold }}", "20"),
        ("{{args.absolute-threshold}}", "0.03"),
        ("{{ variables.absolute_threshold }}", "0.03"),
        ("{{args.min-compared}}", "100"),
        ("{{ variables.min_compared }}", "100"),
    ];
    let query = values
        .iter()
        .fold(query, |q, (from, to)| q.replace(from, to));
    assert!(!query.contains("{{"), "an argument left unfilled: {query}");
    query
}
