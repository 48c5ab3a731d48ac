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

/// Whether two byte strings are equal, compared eight bytes at a time: the wasm build's
/// `memcmp`, which `==` on slices calls, goes a byte at a time (about ten instructions a
/// byte, and a call).
#[inline]
pub fn bytes_equal(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut words_a, mut words_b) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in words_a.by_ref().zip(words_b.by_ref()) {
        if word_at(x, 0) != word_at(y, 0) {
            return false;
        }
    }
    words_a
        .remainder()
        .iter()
        .zip(words_b.remainder())
        .all(|(x, y)| x == y)
}

/// The eight bytes of `body` from `at` as a word (the first in the lowest byte); `None` if
/// fewer are left.
#[inline(always)]
pub fn word_at(body: &[u8], at: usize) -> Option<u64> {
    // (One comparison of the length: `first_chunk` after the start.)
    Some(u64::from_le_bytes(*body.get(at..)?.first_chunk::<8>()?))
}

/// A mask of a word's first `len` bytes (of `word_at`'s), all eight from eight on.
#[inline(always)]
pub fn first_bytes(len: usize) -> u64 {
    let missing = 8usize.saturating_sub(len) as u32;
    u64::MAX.checked_shr(8 * missing).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_compared_eight_bytes_at_a_time_are_equal_as_slices_are() {
        for len in 0..40usize {
            let body: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            assert!(bytes_equal(&body, &body.clone()), "{len}");
            for at in 0..len {
                let mut other = body.clone();
                other[at] ^= 0x80;
                assert!(
                    !bytes_equal(&body, &other),
                    "{len} bytes, differing at {at}"
                );
            }
            let mut longer = body.clone();
            longer.push(0);
            assert!(!bytes_equal(&body, &longer) && !bytes_equal(&longer, &body));
        }
    }

    #[test]
    fn bytes_equal_is_slice_equality() {
        let text = b"abcdefghijklmnopqrstuvwxyz0123456789";
        for len in 0..=20 {
            for offset in 0..3 {
                let a = &text[offset..offset + len];
                assert!(bytes_equal(a, a.to_vec().as_slice()));
                for flip in 0..len {
                    let mut b = a.to_vec();
                    b[flip] ^= 0x20;
                    assert!(!bytes_equal(a, &b), "{len} {flip}");
                    assert!(!bytes_equal(&b, a), "{len} {flip}");
                }
                if len > 0 {
                    assert!(!bytes_equal(a, &a[..len - 1]));
                }
            }
        }
    }

    #[test]
    fn words_are_read_where_eight_bytes_are_left() {
        assert_eq!(
            word_at(b"abcdefgh", 0),
            Some(u64::from_le_bytes(*b"abcdefgh"))
        );
        assert_eq!(word_at(b"abcdefgh", 1), None);
        assert_eq!(word_at(b"abc", usize::MAX), None);
        assert_eq!(first_bytes(0), 0);
        assert_eq!(first_bytes(1), 0xff);
        assert_eq!(first_bytes(8), u64::MAX);
        assert_eq!(first_bytes(9), u64::MAX);
    }
}
