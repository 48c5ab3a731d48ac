//! The one reader of JSON bodies: redaction (`redact::json`) and the comparison's diff
//! (`compare::document`, `compare::lockstep`) both stand on it, so they accept exactly the
//! same documents (RFC 8259, strictly), up to the same depth.
//!
//! `tokenizer` turns a body into tokens that are spans of it (nothing allocated per token),
//! its state in an explicit stack, so that it can stop at any byte offset and resume later;
//! `text` is what escapes stand for; `number` the grammar and the value of numbers.
//!
//! One policy for everyone: a leading UTF-8 byte order mark is skipped (as .NET writes it);
//! the body must be UTF-8 (only string contents can hold other than ASCII, so only they are
//! checked); escapes are checked as RFC 8259 writes them (a lone surrogate is valid syntax:
//! `Tokenizer::lone_surrogates` says whether one was seen, for readers that refuse them);
//! nesting deeper than `MAX_DEPTH` is malformed.

pub mod number;
pub mod text;
pub mod tokenizer;

pub use tokenizer::{Malformed, Progress, Span, Str, Token, Tokenizer};

/// Values nested deeper than this (the top-level value is at depth 0) are refused: readers
/// that recurse over a document (the comparison's walk) must not exhaust the VM's small stack.
pub const MAX_DEPTH: usize = 128;

/// What some serializers (.NET's) write before a document; skipped.
pub const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// JSON's whitespace (RFC 8259: space, tab, line feed, carriage return).
pub fn is_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}
