//! What a string's escapes stand for, and its decoded text.

use std::ops::Range;

/// The UTF-16 code units `\uD800`..`\uDBFF`: the first half of a surrogate pair.
pub const HIGH_SURROGATES: Range<u32> = 0xD800..0xDC00;
/// The UTF-16 code units `\uDC00`..`\uDFFF`: the second half of a surrogate pair.
pub const LOW_SURROGATES: Range<u32> = 0xDC00..0xE000;

/// The character a one-letter escape (`\"`, `\n`...) stands for; `None` for `u` (four hex
/// digits follow) and for any letter JSON does not define.
pub fn simple_escape(letter: u8) -> Option<char> {
    Some(match letter {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        _ => return None,
    })
}

/// The character of a surrogate pair, `None` when `low` is not the second half of one.
pub fn surrogate_pair(high: u32, low: u32) -> Option<char> {
    let pair = HIGH_SURROGATES.contains(&high) && LOW_SURROGATES.contains(&low);
    pair.then(|| char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)))?
}

/// The value of four hex digits, `None` if they are not.
pub fn hex4(digits: &[u8]) -> Option<u32> {
    if digits.len() != 4 {
        return None;
    }
    digits.iter().try_fold(0, |value, digit| {
        Some(value * 16 + char::from(*digit).to_digit(16)?)
    })
}

/// A decoded string: whether it had a lone surrogate (written as U+FFFD, as most readers do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    pub lone_surrogates: bool,
}

/// Appends the text of a string's content (between its quotes, as the tokenizer accepted it)
/// to `out`. Content the tokenizer did not accept is decoded as far as it goes.
pub fn decode(content: &[u8], out: &mut Vec<u8>) -> Decoded {
    let mut decoded = Decoded {
        lone_surrogates: false,
    };
    let mut rest = content;
    loop {
        let run = rest.iter().position(|b| *b == b'\\').unwrap_or(rest.len());
        let (plain, escape) = rest.split_at(run);
        out.extend_from_slice(plain);
        let Some((&letter, after)) = escape.get(1..).and_then(<[u8]>::split_first) else {
            return decoded;
        };
        let (c, after) = if letter == b'u' {
            let (c, after, lone) = unicode_escape(after);
            decoded.lone_surrogates |= lone;
            (c, after)
        } else {
            (
                simple_escape(letter).unwrap_or(char::REPLACEMENT_CHARACTER),
                after,
            )
        };
        let mut utf8 = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        rest = after;
    }
}

/// Whether two strings' contents (as the tokenizer accepted them; `escaped`: whether each has
/// escapes) stand for the same text. Decoded into the scratch buffers only where they differ
/// as written and one of them has escapes (without, the content is the text).
pub fn texts_equal(
    (a, a_escaped): (&[u8], bool),
    (b, b_escaped): (&[u8], bool),
    scratch: &mut (Vec<u8>, Vec<u8>),
) -> bool {
    if a == b || !(a_escaped || b_escaped) {
        return a == b;
    }
    scratch.0.clear();
    scratch.1.clear();
    decode(a, &mut scratch.0);
    decode(b, &mut scratch.1);
    scratch.0 == scratch.1
}

/// The character of a `\u` escape whose digits start `rest` (a pair takes the next escape
/// too), what follows it, and whether it was a lone surrogate.
fn unicode_escape(rest: &[u8]) -> (char, &[u8], bool) {
    let first = rest.get(..4).and_then(hex4).unwrap_or(0xFFFD);
    let after = rest.get(4..).unwrap_or_default();
    if HIGH_SURROGATES.contains(&first) {
        if let Some(low) = after.strip_prefix(b"\\u").and_then(|s| s.get(..4)) {
            if let Some(pair) = hex4(low).and_then(|low| surrogate_pair(first, low)) {
                return (pair, after.get(6..).unwrap_or_default(), false);
            }
        }
    }
    match char::from_u32(first) {
        Some(c) => (c, after, false),
        None => (char::REPLACEMENT_CHARACTER, after, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_stand_for_their_characters() {
        assert_eq!(simple_escape(b'n'), Some('\n'));
        assert_eq!(simple_escape(b'/'), Some('/'));
        assert_eq!(simple_escape(b'u'), None);
        assert_eq!(simple_escape(b'x'), None);
    }

    #[test]
    fn surrogate_pairs_make_one_character() {
        assert_eq!(surrogate_pair(0xD83D, 0xDE00), Some('😀'));
        assert_eq!(surrogate_pair(0xD83D, 0x0041), None, "not a low half");
        assert_eq!(surrogate_pair(0x0041, 0xDE00), None, "not a high half");
    }

    fn decoded(content: &str) -> (String, bool) {
        let mut out = Vec::new();
        let lone = decode(content.as_bytes(), &mut out).lone_surrogates;
        (String::from_utf8(out).unwrap(), lone)
    }

    #[test]
    fn decoding_writes_each_escape_as_its_character() {
        assert_eq!(decoded(r#"a\n\"b\u0041\/"#), ("a\n\"bA/".into(), false));
        assert_eq!(decoded(r"\ud83d\ude00!"), ("😀!".into(), false));
        assert_eq!(decoded("é\\té"), ("é\té".into(), false));
        assert_eq!(decoded(""), (String::new(), false));
    }

    #[test]
    fn lone_surrogates_are_replaced_and_reported() {
        assert_eq!(decoded(r"\ud800"), ("\u{fffd}".into(), true));
        assert_eq!(decoded(r"\ud800\u0041"), ("\u{fffd}A".into(), true));
        assert_eq!(decoded(r"\udc00x"), ("\u{fffd}x".into(), true));
    }
}
