//! Load generators: `wrk` for throughput, `h2load` for a fixed rate.

use std::fmt;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

/// One scenario's run, as wrk and /proc saw it.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub cpu_us_per_req: f64,
    /// Copies the mirror backend received per original (1 when every request was mirrored).
    pub copies_per_request: f64,
}

impl Sample {
    pub fn new(run: WrkRun, cpu_seconds: f64, copies: u64) -> Sample {
        let requests = run.requests.max(1) as f64;
        Sample {
            rps: run.rps,
            p50_ms: run.p50_ms,
            p99_ms: run.p99_ms,
            cpu_us_per_req: cpu_seconds * 1e6 / requests,
            copies_per_request: copies as f64 / requests,
        }
    }
}

impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>7.1} us/req cpu  {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  copies/req {:.2}",
            self.cpu_us_per_req, self.rps, self.p50_ms, self.p99_ms, self.copies_per_request
        )
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct WrkRun {
    pub requests: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// As many requests as 16 connections on one wrk thread can send for `duration`: GETs, or
/// POSTs with a 16 KiB body.
pub fn wrk(address: SocketAddr, duration: Duration, post_16k: bool) -> WrkRun {
    let script = tempfile::Builder::new()
        .suffix(".lua")
        .tempfile()
        .expect("wrk script");
    let lua = if post_16k {
        "wrk.method = \"POST\"\nwrk.body = string.rep(\"b\", 16384)\n\
         wrk.headers[\"Content-Type\"] = \"application/octet-stream\"\n"
    } else {
        ""
    };
    std::fs::write(script.path(), lua).expect("write wrk script");
    let output = Command::new("taskset")
        .args([
            "-c",
            &crate::setup::LOAD_CPU.to_string(),
            "wrk",
            "-t1",
            "-c16",
            "--latency",
        ])
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("-s")
        .arg(script.path())
        .arg(format!("http://{address}/bench"))
        .output()
        .expect("run wrk (apt-get install wrk, or `make bench` installs it)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run = parse_wrk(&text);
    assert!(!text.contains("Non-2xx"), "some originals failed:\n{text}");
    assert!(run.requests > 0, "wrk sent nothing:\n{text}");
    run
}

fn parse_wrk(text: &str) -> WrkRun {
    let mut run = WrkRun::default();
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", value] => run.p50_ms = milliseconds(value),
            ["99%", value] => run.p99_ms = milliseconds(value),
            ["Requests/sec:", value] => run.rps = value.parse().unwrap_or(0.0),
            [count, "requests", "in", ..] => run.requests = count.parse().unwrap_or(0),
            _ => {}
        }
    }
    run
}

/// wrk prints latencies as `812.00us`, `1.62ms` or `1.20s`.
fn milliseconds(value: &str) -> f64 {
    let (number, scale) = if let Some(n) = value.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = value.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = value.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (value, 1.0)
    };
    number.parse::<f64>().unwrap_or(f64::NAN) * scale
}

/// Latency of originals sent at a fixed rate.
#[derive(Debug, Clone, Copy, Default)]
pub struct FixedRate {
    pub requests: u64,
    pub failed: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl FixedRate {
    /// Several runs' latencies (ms), pooled.
    pub fn of(runs: &[FixedRateRun]) -> FixedRate {
        let mut latencies: Vec<f64> = runs
            .iter()
            .flat_map(|run| run.latencies_ms.iter().copied())
            .collect();
        latencies.sort_by(f64::total_cmp);
        FixedRate {
            requests: latencies.len() as u64,
            failed: runs.iter().map(|run| run.failed).sum(),
            p50_ms: percentile(&latencies, 0.50),
            p99_ms: percentile(&latencies, 0.99),
        }
    }
}

#[derive(Clone)]
pub struct FixedRateRun {
    pub latencies_ms: Vec<f64>,
    pub failed: u64,
}

/// `rate` requests per second over 10 HTTP/1.1 connections for `duration` (wrk cannot hold
/// a rate; h2load can), with each request's latency from h2load's log.
pub fn h2load_fixed_rate(address: SocketAddr, rate: u32, duration: Duration) -> FixedRateRun {
    const CONNECTIONS: u32 = 10;
    let log = tempfile::NamedTempFile::new().expect("h2load log");
    let output = Command::new("taskset")
        .args([
            "-c",
            &crate::setup::LOAD_CPU.to_string(),
            "h2load",
            "--h1",
            "-c",
            &CONNECTIONS.to_string(),
            "--rps",
            &(rate / CONNECTIONS).to_string(),
        ])
        .arg(format!("-D{}", duration.as_secs().max(1)))
        .arg("--log-file")
        .arg(log.path())
        .arg(format!("http://{address}/fixed-rate"))
        .output()
        .expect("run h2load (apt-get install nghttp2-client, or `make bench` installs it)");
    assert!(
        output.status.success(),
        "h2load failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Each line: start time (us), status, duration (us).
    let log = std::fs::read_to_string(log.path()).unwrap_or_default();
    let mut latencies = Vec::new();
    let mut failed = 0;
    for line in log.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        if let [_, status, micros] = fields.as_slice() {
            if !status.starts_with('2') {
                failed += 1;
            }
            latencies.push(micros.parse::<f64>().unwrap_or(f64::NAN) / 1000.0);
        }
    }
    FixedRateRun {
        latencies_ms: latencies,
        failed,
    }
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((fraction * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() {
        let text = "Running 5s test @ http://127.0.0.1:1/\n  1 threads and 16 connections\n\
            \x20 Latency Distribution\n     50%  812.00us\n     75%    1.10ms\n     99%    2.50ms\n\
            \x20 51234 requests in 5.00s, 6.09MB read\nRequests/sec:  10246.80\n";
        let run = parse_wrk(text);
        assert_eq!(run.requests, 51234);
        assert!((run.p50_ms - 0.812).abs() < 1e-9);
        assert!((run.p99_ms - 2.5).abs() < 1e-9);
        assert!((run.rps - 10246.8).abs() < 1e-9);
        assert!((milliseconds("1.20s") - 1200.0).abs() < 1e-9);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.99), 99.0);
        assert_eq!(percentile(&values, 0.5), 50.0);
        assert_eq!(percentile(&[3.0], 0.99), 3.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
