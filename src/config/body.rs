//! `body`: whether request bodies are copied, how large, and the worker's memory budget.

use super::fields::{Bounds, Field, FieldDefault, Fields, Unit, Whole};
use serde_json::Value;

pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
/// What one worker may hold for copies at once (docs/reliability.md): 32 maximal bodies, or
/// thousands of ordinary requests; 64 MiB on a two-worker sidecar, far below the V8 VM's
/// limit (the VM dies near 1 GiB) and an Istio sidecar's default 1 GiB memory limit.
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 32 << 20;
/// At least a request's headers (Envoy's default limit is 60 KiB) must fit.
pub const MIN_BUFFERED_BYTES: u64 = 64 << 10;
/// A quarter of the VM's practical limit: the rest is left for the plugin itself, for
/// allocator fragmentation and for a redacted body's second copy.
pub const MAX_BUFFERED_BYTES_LIMIT: u64 = 256 << 20;
/// Copies are buffered in the VM's memory, once per worker and request: past this, a canary
/// would be better served by a sampled subset than by copying huge uploads.
pub const MAX_BODY_BYTES_LIMIT: u64 = 64 << 20;

const MAX_BYTES: Whole = Whole::new(0, MAX_BODY_BYTES_LIMIT, Unit::Bytes);
const MAX_BUFFERED_BYTES: Whole =
    Whole::new(MIN_BUFFERED_BYTES, MAX_BUFFERED_BYTES_LIMIT, Unit::Bytes);

/// The fields of `body`.
pub const BODY_FIELDS: &[Field] = &[
    Field::new("mirror").default(FieldDefault::Bool(true)),
    Field::new("max_bytes")
        .default(FieldDefault::Whole(DEFAULT_MAX_BODY_BYTES as u64))
        .bounds(Bounds::Whole(MAX_BYTES)),
    Field::new("max_buffered_bytes")
        .default(FieldDefault::Whole(DEFAULT_MAX_BUFFERED_BYTES as u64))
        .bounds(Bounds::Whole(MAX_BUFFERED_BYTES)),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyPolicy {
    pub mirror: bool,
    pub max_bytes: usize,
    /// The worker's memory budget for copies (see `budget`).
    pub max_buffered_bytes: usize,
}

impl Default for BodyPolicy {
    fn default() -> Self {
        BodyPolicy {
            mirror: true,
            max_bytes: DEFAULT_MAX_BODY_BYTES,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
        }
    }
}

pub(super) fn body(value: &Value, place: &str) -> Result<BodyPolicy, String> {
    let fields = Fields::of(
        value,
        place,
        "an object with `mirror`, `max_bytes` and/or `max_buffered_bytes`",
        BODY_FIELDS,
    )?;
    let defaults = BodyPolicy::default();
    Ok(BodyPolicy {
        mirror: fields
            .scalar("mirror", "true or false", Value::as_bool)?
            .unwrap_or(defaults.mirror),
        max_bytes: fields
            .whole("max_bytes", &MAX_BYTES)?
            .unwrap_or(defaults.max_bytes),
        max_buffered_bytes: fields
            .whole("max_buffered_bytes", &MAX_BUFFERED_BYTES)?
            .unwrap_or(defaults.max_buffered_bytes),
    })
}
