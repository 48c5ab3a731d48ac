//! Helpers of the verdict's integration tests: a real Prometheus (prometheus.rs, shared with
//! the integration suite's real-Envoy test) and stand-in Envoys serving the plugin's counters as
//! Envoy's admin `/stats/prometheus` does.

#![allow(dead_code)]

mod prometheus;
pub use prometheus::{
    assert_counts_agree, envoy_args, eventually, outcome, prometheus_or_skip, run_verdict, Failing,
    Prometheus,
};

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

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
