//! Numbers: RFC 8259's grammar (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`), read one
//! byte at a time so that a number can be cut anywhere and resumed, and their values compared
//! exactly (`1` equals `1.0` and `1e2` equals `100`, also beyond f64's precision).

/// Where the grammar is after the bytes read so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grammar {
    /// Nothing read yet.
    Start,
    /// `-`
    Minus,
    /// `0` (no more integer digits may follow)
    Zero,
    Integer,
    /// `.`
    Point,
    Fraction,
    /// `e` or `E`
    Exponent,
    /// The exponent's sign.
    ExponentSign,
    ExponentDigits,
}

/// What a byte does to a number being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The byte is part of the number.
    Continue(Grammar),
    /// The byte is not; the number is complete before it.
    Complete,
    /// The byte is not, and what was read is no number (`-`, `1.`, `1e`).
    Malformed,
}

impl Grammar {
    /// Whether what was read is a whole number.
    pub fn complete(self) -> bool {
        matches!(
            self,
            Grammar::Zero | Grammar::Integer | Grammar::Fraction | Grammar::ExponentDigits
        )
    }

    pub fn next(self, byte: u8) -> Next {
        use Grammar::*;
        let digit = byte.is_ascii_digit();
        let to = match (self, byte) {
            (Start, b'-') => Minus,
            (Start | Minus, b'0') => Zero,
            (Start | Minus, _) if digit => Integer,
            (Integer, _) if digit => Integer,
            (Zero | Integer, b'.') => Point,
            (Point | Fraction, _) if digit => Fraction,
            (Zero | Integer | Fraction, b'e' | b'E') => Exponent,
            (Exponent, b'+' | b'-') => ExponentSign,
            (Exponent | ExponentSign | ExponentDigits, _) if digit => ExponentDigits,
            _ if self.complete() => return Next::Complete,
            _ => return Next::Malformed,
        };
        Next::Continue(to)
    }
}

/// `scan(bytes, at, Grammar::Start)`, faster: the grammar followed in straight code, and
/// stepped through byte by byte only when the number reaches the end of `bytes` (then it may
/// go on beyond, and the state there is wanted).
pub fn scan_whole(bytes: &[u8], start: usize) -> Option<(usize, Grammar)> {
    let digits = |mut at: usize| {
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        at
    };
    let mut at = start + usize::from(bytes.get(start) == Some(&b'-'));
    let mut grammar = match bytes.get(at) {
        Some(b'0') => {
            at += 1;
            Grammar::Zero
        }
        Some(b'1'..=b'9') => {
            at = digits(at + 1);
            Grammar::Integer
        }
        _ => return scan(bytes, start, Grammar::Start),
    };
    if bytes.get(at) == Some(&b'.') {
        let end = digits(at + 1);
        if end == at + 1 {
            return scan(bytes, start, Grammar::Start);
        }
        (at, grammar) = (end, Grammar::Fraction);
    }
    if let Some(b'e' | b'E') = bytes.get(at) {
        let signed = at + 1 + usize::from(matches!(bytes.get(at + 1), Some(b'+' | b'-')));
        let end = digits(signed);
        if end == signed {
            return scan(bytes, start, Grammar::Start);
        }
        (at, grammar) = (end, Grammar::ExponentDigits);
    }
    if at >= bytes.len() {
        return scan(bytes, start, Grammar::Start);
    }
    Some((at, grammar))
}

/// Reads a number's bytes from `bytes[at..]` in state `grammar`: where it stopped (the first
/// byte not part of it, or the end of `bytes`) and the state there; `None` at a byte that
/// makes it no number.
pub fn scan(bytes: &[u8], mut at: usize, mut grammar: Grammar) -> Option<(usize, Grammar)> {
    for &byte in bytes.get(at..).unwrap_or_default() {
        if grammar == Grammar::Integer || grammar == Grammar::Fraction {
            // The common case, digits after digits, without the general step.
            if byte.is_ascii_digit() {
                at += 1;
                continue;
            }
        }
        match grammar.next(byte) {
            Next::Continue(to) => grammar = to,
            Next::Complete => return Some((at, grammar)),
            Next::Malformed => return None,
        }
        at += 1;
    }
    Some((at, grammar))
}

/// Whether `long` is `short` with zeros appended to its fraction (`1.50` for `1.5`, as
/// serializers differ): the same value, told without the canonical forms. Both must be
/// numbers: `short` is not checked (`1.` would pass for `1.0`), `long` is one if `short` is.
pub fn zeros_appended(short: &[u8], long: &[u8]) -> bool {
    let Some(zeros) = long.strip_prefix(short) else {
        return false;
    };
    short.contains(&b'.')
        && !short.iter().any(|b| matches!(b, b'e' | b'E'))
        && zeros.iter().all(|b| *b == b'0')
}

/// Whether two number tokens (valid JSON numbers) have the same value: the same spelling, or
/// the same canonical form (written into the scratch buffers).
pub fn numbers_equal(a: &[u8], b: &[u8], scratch: &mut (Vec<u8>, Vec<u8>)) -> bool {
    if spelled_alike(a, b) {
        return true;
    }
    canonical_forms_equal(a, b, scratch)
}

/// Whether two number tokens are the same bytes, or one is the other with zeros appended to
/// its fraction (`1.50`, `1.5`): as `a == b || zeros_appended(a, b) || zeros_appended(b, a)`,
/// in one pass over the shorter and without a call (the wasm build's `memcmp`, which `==`
/// and `strip_prefix` call, goes a byte at a time; these tokens are short).
#[inline(always)]
fn spelled_alike(a: &[u8], b: &[u8]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    // Whether the shorter ends in a fraction: a `.` seen, no exponent after it (JSON has no
    // `.` after an exponent).
    let mut in_fraction = false;
    for (x, y) in short.iter().zip(long) {
        if x != y {
            return false;
        }
        match x {
            b'.' => in_fraction = true,
            b'e' | b'E' => in_fraction = false,
            _ => {}
        }
    }
    let zeros = long.get(short.len()..).unwrap_or_default();
    zeros.is_empty() || (in_fraction && zeros.iter().all(|&d| d == b'0'))
}

/// The canonical forms compared (out of line: the usual pair is spelled alike).
#[inline(never)]
fn canonical_forms_equal(a: &[u8], b: &[u8], scratch: &mut (Vec<u8>, Vec<u8>)) -> bool {
    scratch.0.clear();
    scratch.1.clear();
    canonical_number(&NumberParts::of(a), &mut scratch.0);
    canonical_number(&NumberParts::of(b), &mut scratch.1);
    scratch.0 == scratch.1
}

struct NumberParts<'a> {
    token: &'a [u8],
    negative: bool,
    integer: &'a [u8],
    fraction: &'a [u8],
    /// With its sign, without the `e`.
    exponent: Option<&'a [u8]>,
}

impl NumberParts<'_> {
    /// The parts of a token the parser accepted.
    fn of(token: &[u8]) -> NumberParts<'_> {
        let (negative, unsigned) = match token.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, token),
        };
        let integer_len = unsigned.iter().take_while(|b| b.is_ascii_digit()).count();
        let (integer, rest) = unsigned.split_at(integer_len);
        let (fraction, rest) = match rest.split_first() {
            Some((b'.', after)) => {
                let len = after.iter().take_while(|b| b.is_ascii_digit()).count();
                after.split_at(len)
            }
            _ => (&[][..], rest),
        };
        let exponent = match rest.split_first() {
            Some((b'e' | b'E', after)) => Some(after),
            _ => None,
        };
        NumberParts {
            token,
            negative,
            integer,
            fraction,
            exponent,
        }
    }
}

/// Exponents with more significant digits than this are compared as written.
const MAX_EXPONENT_DIGITS: usize = 17;

/// Writes the number's canonical form: `0` for zero (of either sign), else the sign, the
/// significant digits without leading or trailing zeros, `e` and the exponent, so that equal
/// values have equal forms (`1`, `1.0`, `10e-1`, `0.1e1` are all `+1e0`). The exponent is never
/// expanded into digits, so `1e999999999` costs what its text costs. An exponent beyond
/// 10^17 (not a value any service means) is kept as written: `L` and the token.
fn canonical_number(parts: &NumberParts<'_>, out: &mut Vec<u8>) {
    let digits = || parts.integer.iter().chain(parts.fraction).copied();
    let leading = digits().take_while(|d| *d == b'0').count();
    let total = parts.integer.len() + parts.fraction.len();
    if leading == total {
        out.push(b'0');
        return;
    }
    let trailing = digits().rev().take_while(|d| *d == b'0').count();
    let Some(written) = exponent_value(parts.exponent) else {
        out.push(b'L');
        out.extend_from_slice(parts.token);
        return;
    };
    // Both counts are at most the body's length (< 2^32): no overflow in i64.
    let exponent = written - parts.fraction.len() as i64 + trailing as i64;
    out.push(if parts.negative { b'-' } else { b'+' });
    out.extend(digits().skip(leading).take(total - leading - trailing));
    out.push(b'e');
    // (Only numbers spelled differently on the two sides get here.)
    out.extend_from_slice(exponent.to_string().as_bytes());
}

/// The exponent's value; `None` when it has more than `MAX_EXPONENT_DIGITS` significant digits.
fn exponent_value(exponent: Option<&[u8]>) -> Option<i64> {
    let Some(text) = exponent else { return Some(0) };
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let significant: Vec<u8> = digits.iter().copied().skip_while(|d| *d == b'0').collect();
    if significant.len() > MAX_EXPONENT_DIGITS {
        return None;
    }
    let value = significant
        .iter()
        .fold(0i64, |v, d| v * 10 + i64::from(d - b'0'));
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(text: &str) -> bool {
        matches!(scan(text.as_bytes(), 0, Grammar::Start), Some((end, g)) if end == text.len() && g.complete())
    }

    #[test]
    fn the_grammar_is_rfc_8259s() {
        for good in ["0", "-0", "1", "10", "1.5", "-1.50e+3", "1E5", "0e0", "0.0"] {
            assert!(number(good), "{good}");
        }
        for bad in [
            "", "-", "01", "1.", ".5", "1e", "1e+", "+1", "--1", "1..2", "0x1",
        ] {
            assert!(!number(bad), "{bad}");
        }
    }

    #[test]
    fn the_fast_scan_reads_as_the_grammar_does() {
        for text in [
            "0",
            "-0",
            "12",
            "1.5",
            "-1.50e+3,",
            "1E5]",
            "0e0 ",
            "01",
            "1.",
            "1.e5",
            "-",
            "1e",
            "1e+",
            "-x",
            "0.0.",
            "7,",
        ] {
            for cut in 0..=text.len() {
                let bytes = &text.as_bytes()[..cut];
                assert_eq!(
                    scan_whole(bytes, 0),
                    scan(bytes, 0, Grammar::Start),
                    "{text:?} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn a_number_cut_anywhere_reads_the_same() {
        let text = b"-12.50e+17,";
        for cut in 0..text.len() {
            let (at, grammar) = scan(&text[..cut], 0, Grammar::Start).unwrap();
            assert_eq!(at, cut);
            assert_eq!(scan(text, at, grammar), Some((10, Grammar::ExponentDigits)));
        }
    }

    #[test]
    fn equal_values_are_equal_numbers() {
        let mut scratch = (Vec::new(), Vec::new());
        for (a, b, equal) in [
            ("1", "1.0", true),
            ("1e2", "100", true),
            ("-0", "0", true),
            ("9007199254740993", "9007199254740992", false),
            ("1e99999999999999999999", "1e99999999999999999998", false),
            // Zeros appended to a fraction (told without canonical forms) and look-alikes.
            ("1.5", "1.500", true),
            ("-0.50", "-0.5", true),
            ("1.5", "1.51", false),
            ("1", "10", false),
            ("1e5", "1e50", false),
            ("1.5e1", "1.5e10", false),
            ("1.5", "1.5e0", true),
        ] {
            assert_eq!(
                numbers_equal(a.as_bytes(), b.as_bytes(), &mut scratch),
                equal,
                "{a} {b}"
            );
        }
    }

    /// The one-pass check says what the bytes' comparison and `zeros_appended` both ways say,
    /// on generated numbers and their spellings with zeros, exponents and digits changed.
    #[test]
    fn spelled_alike_is_the_same_bytes_or_zeros_appended() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut numbers = Vec::new();
        for _ in 0..3000 {
            let mut text = String::new();
            if rng.bool() {
                text.push('-');
            }
            text.push_str(["0", "1", "25", "900"][rng.usize(0..4)]);
            if rng.bool() {
                text.push('.');
                text.push_str(["0", "5", "50", "500", "05"][rng.usize(0..5)]);
            }
            if rng.u8(0..4) == 0 {
                text.push_str(["e", "E", "e+", "e-"][rng.usize(0..4)]);
                text.push_str(["0", "1", "10", "100"][rng.usize(0..4)]);
            }
            assert!(number(&text), "{text}");
            numbers.push(text);
        }
        for pair in numbers.chunks(2).chain(numbers.windows(2)) {
            let (a, b) = (pair[0].as_bytes(), pair[pair.len() - 1].as_bytes());
            let with_zeros = [a, b"0"].concat();
            for (a, b) in [(a, b), (a, a), (a, &with_zeros[..]), (&with_zeros[..], a)] {
                let expected = a == b || zeros_appended(a, b) || zeros_appended(b, a);
                let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
                assert_eq!(
                    spelled_alike(a.as_bytes(), b.as_bytes()),
                    expected,
                    "{a} {b}"
                );
            }
        }
    }
}
