//! What a candidate target's `compare` block asks for, validated (src/config/compare.rs reads it).

use super::json::IgnoredPath;
use std::time::Duration;

pub const DEFAULT_MAX_BODY_BYTES: usize = 65_536;
/// Bodies compared are held in the VM's memory, per worker and pending comparison.
pub const MAX_BODY_BYTES_LIMIT: u64 = 64 << 20;
pub const DEFAULT_NOISE_RELATIVE_THRESHOLD: f64 = 20.0;
pub const DEFAULT_NOISE_ABSOLUTE_THRESHOLD: f64 = 0.03;
pub const DEFAULT_LOG_MISMATCHES_PER_MINUTE: u32 = 10;
pub const MAX_LOG_MISMATCHES_PER_MINUTE: u64 = 10_000;
pub const DEFAULT_SUMMARY_INTERVAL: Duration = Duration::from_secs(60);
pub const MAX_SUMMARY_INTERVAL_S: u64 = 86_400;
/// Fields counted per endpoint (`compare.max_fields_per_endpoint`).
pub const DEFAULT_MAX_FIELDS_PER_ENDPOINT: usize = 8;
pub const MAX_FIELDS_PER_ENDPOINT_LIMIT: usize = 64;
/// Header values are kept per response: a short list keeps that small.
pub const MAX_COMPARED_HEADERS: usize = 32;

/// What the candidate's response is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// The original request's response.
    Original,
    /// The response of another target (its index in `Config::targets`), which receives the
    /// very same copies.
    Target(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyMode {
    /// The body is not compared.
    None,
    /// Byte for byte (after decompression); only a hash is kept.
    Exact,
    /// Structurally, as JSON; bytes when either side is not JSON.
    Json,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CompareSpec {
    pub against: Reference,
    pub status: bool,
    /// Lower-case header names whose values must be equal.
    pub headers: Vec<String>,
    pub body: BodyMode,
    pub ignore_json_fields: Vec<IgnoredPath>,
    pub max_body_bytes: usize,
    /// The target (index) running the current version that cancels noise.
    pub noise_baseline: Option<usize>,
    /// Percent: Diffy's `|raw - noise| / (raw + noise)`.
    pub noise_relative_threshold: f64,
    /// Percent of compared requests: Diffy's `|raw - noise| / compared`.
    pub noise_absolute_threshold: f64,
    /// 0: no mismatch lines.
    pub log_mismatches_per_minute: u32,
    /// `None`: no periodic summary.
    pub summary_interval: Option<Duration>,
    /// Fields counted per endpoint and Envoy; further ones count as `other`.
    pub max_fields_per_endpoint: usize,
}

impl CompareSpec {
    /// The defaults of every field, comparing with the original.
    pub fn new() -> CompareSpec {
        CompareSpec {
            against: Reference::Original,
            status: true,
            headers: Vec::new(),
            body: BodyMode::None,
            ignore_json_fields: Vec::new(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            noise_baseline: None,
            noise_relative_threshold: DEFAULT_NOISE_RELATIVE_THRESHOLD,
            noise_absolute_threshold: DEFAULT_NOISE_ABSOLUTE_THRESHOLD,
            log_mismatches_per_minute: DEFAULT_LOG_MISMATCHES_PER_MINUTE,
            summary_interval: Some(DEFAULT_SUMMARY_INTERVAL),
            max_fields_per_endpoint: DEFAULT_MAX_FIELDS_PER_ENDPOINT,
        }
    }

    /// The targets whose copies this comparison needs besides the candidate's own.
    pub fn reference_targets(&self) -> impl Iterator<Item = usize> {
        let against = match self.against {
            Reference::Target(index) => Some(index),
            Reference::Original => None,
        };
        against.into_iter().chain(self.noise_baseline)
    }

    /// Whether the original's response must be captured.
    pub fn needs_original(&self) -> bool {
        self.against == Reference::Original
    }
}

impl Default for CompareSpec {
    fn default() -> Self {
        CompareSpec::new()
    }
}
