//! JSON text vocabulary shared by the readers of JSON bodies (redaction's scanner and the
//! comparison's): what an escape stands for.

use std::ops::Range;

/// The UTF-16 code units `\uD800`..`\uDBFF`: the first half of a surrogate pair.
pub const HIGH_SURROGATES: Range<u32> = 0xD800..0xDC00;

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
    let pair = HIGH_SURROGATES.contains(&high) && (0xDC00..0xE000).contains(&low);
    pair.then(|| char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)))?
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
}
