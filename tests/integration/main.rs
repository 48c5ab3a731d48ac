//! The integration suite: one test binary over the harness (tests/support), a module per
//! behaviour area. One binary links the harness (tokio, hyper) once instead of once per file,
//! and lets the test threads share out the whole suite instead of waiting for the slowest test
//! of each file. Every module but `without_envoy` starts a real Envoy with the built plugin;
//! `make integration` runs them. `make unit` runs `without_envoy` alone (no Envoy, no wasm).
//! The two long, ignored entry points run by name: `make soak` (`soak::`) and `make istio-e2e`
//! (`istio_e2e::`).

mod compare;
mod configuration;
mod controls;
mod copies;
mod cross_cluster;
mod decisions;
mod dynamic;
mod faults;
mod hostile;
mod isolation;
mod istio_e2e;
mod reconfiguration;
mod security;
mod slicing;
mod soak;
mod tracing_and_containment;
mod verdict;

/// Checks that need neither Envoy nor the built plugin: `make unit` runs them.
mod without_envoy {
    mod dashboard;
    mod fuzz_corpus;
    mod harness;
}
