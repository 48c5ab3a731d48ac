//! traffic-mirror: a proxy-wasm HTTP filter that copies live requests to mirror clusters while
//! the original request goes on untouched.
//!
//! The request path, module by module: `filter` (HTTP context) decides per target with `decide`
//! (`sampling`, `matching`, `limits`), captures the request with `copy` (scrubbed by `redact`),
//! and hands it through the `outbox` to `root`, which dispatches each copy and counts its
//! `outcome` in `metrics` (with `warnings` for failing targets). `settings` holds a
//! configuration with its run-time state. Only `host` (through `abi`) talks to Envoy: `filter`
//! and `root` are generic over its `Host` trait, and `metrics` reaches the host through its
//! `MetricHost`, so every module has native unit tests (with `host::FakeHost`).

// A panic kills the VM and, fail-closed, turns every later request on that worker into a 503.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable,
        clippy::todo
    )
)]

mod abi;
pub mod baggage;
pub mod body_jobs;
pub mod budget;
pub mod compare;
pub mod comparisons;
pub mod config;
pub mod copy;
pub mod copy_log;
pub mod data_like;
pub mod decide;
pub mod endpoints;
mod filter;
pub mod host;
pub mod http;
pub mod json;
pub mod json_path;
pub mod limits;
pub mod matching;
pub mod metrics;
pub mod names;
pub mod outbox;
pub mod outcome;
pub mod redact;
mod root;
pub mod sampling;
mod settings;
pub mod slices;
pub mod targets;
pub mod tracing;
pub mod warnings;

use proxy_wasm::traits::RootContext;
use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(root::MirrorRoot::for_worker()) });
}}
