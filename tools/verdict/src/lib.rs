//! traffic-mirror-verdict: is the canary safe to promote? Reads the plugin's per-endpoint,
//! per-field counters (the metric contract in [`contract`]) from Prometheus or Envoy admin
//! endpoints, applies Diffy's rule ([`rule`]) to every field of every endpoint, and gives one
//! verdict per mirror target ([`verdict`]). Everything but the fetching is pure and tested here.

pub mod api;
pub mod cli;
pub mod contract;
pub mod exposition;
pub mod http;
pub mod rule;
pub mod sample;
pub mod source;
pub mod tally;
pub mod verdict;
