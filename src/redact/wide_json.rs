//! JSON in UTF-16 or UTF-32, which a server may read whatever the body's type says: Python's
//! `json.loads(bytes)` detects the encoding (RFC 4627, section 3), and FastAPI reads JSON from
//! a request without a content type, as do `json.loads(request.body)` in Django and
//! `get_json(force=True)` in Flask. Redaction compares names as UTF-8 bytes, so such a body
//! cannot be redacted: when it reads as a JSON object or array in one of these encodings it is
//! not sent.
//!
//! The test is what a decoder would see: after an optional byte order mark and JSON whitespace,
//! the first character is `{` or `[`. A binary body that merely has NUL bytes where wide text
//! would (a gRPC frame, `00 00 00 00 05 ...`; protobuf, `08 00 10 00`) decodes to a control
//! character first, and is sent as it is.

/// The wide encodings a JSON decoder detects.
#[derive(Debug, Clone, Copy)]
enum Wide {
    Utf16Le,
    Utf16Be,
    Utf32Le,
    Utf32Be,
}

impl Wide {
    const ALL: [Wide; 4] = [Wide::Utf16Le, Wide::Utf16Be, Wide::Utf32Le, Wide::Utf32Be];

    fn unit_len(self) -> usize {
        match self {
            Wide::Utf16Le | Wide::Utf16Be => 2,
            Wide::Utf32Le | Wide::Utf32Be => 4,
        }
    }

    fn byte_order_mark(self) -> &'static [u8] {
        match self {
            Wide::Utf16Le => b"\xff\xfe",
            Wide::Utf16Be => b"\xfe\xff",
            Wide::Utf32Le => b"\xff\xfe\x00\x00",
            Wide::Utf32Be => b"\x00\x00\xfe\xff",
        }
    }

    /// The code unit `bytes` (exactly `unit_len` of them) hold.
    fn unit(self, bytes: &[u8]) -> u32 {
        let big_endian = bytes
            .iter()
            .fold(0u32, |unit, byte| unit << 8 | u32::from(*byte));
        let little_endian = bytes
            .iter()
            .rev()
            .fold(0u32, |unit, byte| unit << 8 | u32::from(*byte));
        match self {
            Wide::Utf16Le | Wide::Utf32Le => little_endian,
            Wide::Utf16Be | Wide::Utf32Be => big_endian,
        }
    }

    /// Whether `body`, decoded in this encoding, starts (after a byte order mark and
    /// whitespace) with `{` or `[`. Stops at the first character that is not whitespace.
    fn starts_json(self, body: &[u8]) -> bool {
        let body = body.strip_prefix(self.byte_order_mark()).unwrap_or(body);
        let first = body
            .chunks_exact(self.unit_len())
            .map(|bytes| self.unit(bytes))
            .find(|unit| !matches!(unit, 0x20 | 0x09 | 0x0A | 0x0D));
        matches!(first, Some(0x7B | 0x5B))
    }
}

/// Whether a decoder that detects UTF-16 and UTF-32 could read `body` as a JSON object or
/// array. Plain UTF-8 is not this function's: see `json::looks_like_json`.
pub fn looks_like_wide_json(body: &[u8]) -> bool {
    Wide::ALL.iter().any(|wide| wide.starts_json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(text: &str, wide: Wide, with_mark: bool) -> Vec<u8> {
        let mut out = if with_mark {
            wide.byte_order_mark().to_vec()
        } else {
            Vec::new()
        };
        for unit in text.encode_utf16() {
            let unit = u32::from(unit);
            match wide {
                Wide::Utf16Le => out.extend_from_slice(&(unit as u16).to_le_bytes()),
                Wide::Utf16Be => out.extend_from_slice(&(unit as u16).to_be_bytes()),
                Wide::Utf32Le => out.extend_from_slice(&unit.to_le_bytes()),
                Wide::Utf32Be => out.extend_from_slice(&unit.to_be_bytes()),
            }
        }
        out
    }

    #[test]
    fn json_in_every_wide_encoding_with_or_without_a_mark_is_recognised() {
        for text in [r#"{"password":"hunter2"}"#, " \r\n\t[{\"password\":1}]"] {
            for wide in Wide::ALL {
                for with_mark in [false, true] {
                    let body = encoded(text, wide, with_mark);
                    assert!(looks_like_wide_json(&body), "{wide:?} {with_mark} {text}");
                }
            }
        }
    }

    #[test]
    fn binary_bodies_that_only_look_wide_are_not_json() {
        for binary in [
            &b"\x00\x00\x00\x00\x05\x0a\x03abc"[..], // a gRPC frame: flag, length, message
            b"\x00\x00\x00\x00\x7b",                 // a gRPC frame of 123 bytes
            b"\x08\x00\x10\x00",                     // protobuf: two varint fields of 0
            b"\x08\x00\x10\x00\x1a\x02{}",
            b"\x00\x00\x00\x00",
            b"\xff\xfe\x00\x00\x00\x00\x00\x00",
            b"",
            b"{", // UTF-8: not this function's
            b"plain text",
        ] {
            assert!(!looks_like_wide_json(binary), "{binary:?}");
        }
        let text = encoded("hello {", Wide::Utf16Be, true);
        assert!(!looks_like_wide_json(&text), "text is not JSON");
    }
}
