//! Shadow verification: each candidate copy's response compared with the original's (or a
//! reference target's), with the noise a second instance of the current version shows removed.
//!
//! Plain data and functions, no host calls: `spec` (what a target's `compare` block asks for),
//! `response` (what a response is reduced to, as it streams past), `json` (the structural
//! diff of two JSON bodies), `verdict` (one comparison's result), `pairing` (responses waiting
//! for their counterpart), `report` (counts per window, the summary and mismatch log lines),
//! `metrics` (the counters' names). The proxy-wasm glue feeds them and moves their output to
//! the host.

pub mod inflate;
pub mod json;
pub mod metrics;
pub mod pairing;
pub mod report;
pub mod response;
pub mod spec;
pub mod verdict;
