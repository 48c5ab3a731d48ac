//! The test harness of traffic-mirror: a real Envoy running the built plugin, real HTTP
//! backends that record what they receive, and real HTTP/1.1, HTTP/2 and raw-TCP clients.
//! Everything listens on ephemeral loopback ports, so tests run side by side.

mod backend;
pub mod bootstrap;
mod client;
mod envoy;
mod frames;
mod paths;
mod runtime;
mod scenario;

pub use backend::{closed_port, Backend, Behaviour, Received, Reply};
pub use client::{send_raw, Client, Request, Response};
pub use envoy::{
    start_bootstrap, start_bootstrap_with, validate_file, Envoy, EnvoyBuilder, Launch,
};
pub use flate2;
pub use paths::{envoy_binary, newer_source, repo_root, wasm_path};
pub use scenario::Scenario;
pub use tempfile;

use std::time::{Duration, Instant};

/// Polls `probe` until it returns `Some`, or panics with `what` after `timeout`.
pub fn eventually<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
