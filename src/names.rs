//! How a configured name is compared with a name in a request: the way a server on the other
//! side could read it, so that a spelling the server binds to a secret field is redacted too.
//!
//! - Header names: ASCII case ignored, and `_` is the same as `-` (CGI, WSGI, PHP and Rack turn
//!   both into the same variable).
//! - Parameter names (query, form, multipart) and JSON keys: compared case-insensitively unless
//!   `redact.case_sensitive` (see `same_name`).
//! - Parameter names are percent-decoded first (`+` is a space; IIS's `%uXXXX` is decoded
//!   too), then compared in every reading a common server gives them (`readings`: PHP's,
//!   Rack's, Spring's, and by their parts, `user[password]` being `password`): a name matches
//!   if any reading does.

/// Whether the header `name` is one of `redacted` (lower-case, as configured).
pub fn same_header(redacted: &str, name: &str) -> bool {
    let canonical = |byte: &u8| match byte.to_ascii_lowercase() {
        b'_' => b'-',
        other => other,
    };
    redacted.len() == name.len()
        && redacted
            .as_bytes()
            .iter()
            .map(canonical)
            .eq(name.as_bytes().iter().map(canonical))
}

/// Whether `candidate` is `configured`. Case-insensitive comparison folds ASCII letters, the
/// Latin-1 letters (`É` is `é`), and the four non-ASCII letters that servers fold onto ASCII
/// ones: Go's `encoding/json` reads the Kelvin sign `K` as `k` and `ſ` as `s`; .NET and Java
/// upper-case `ı` to `I`; Java lower-cases `İ` to `i`. Other letters are compared as they are:
/// full Unicode case tables would grow the module (docs/performance.md: *Build*). One pass, no
/// allocation.
pub fn same_name(configured: &str, candidate: &str, case_sensitive: bool) -> bool {
    if case_sensitive {
        return configured == candidate;
    }
    if configured.is_ascii() && candidate.is_ascii() {
        return configured.eq_ignore_ascii_case(candidate);
    }
    configured
        .chars()
        .map(folded)
        .eq(candidate.chars().map(folded))
}

/// `c` as case-insensitive comparison sees it (see `same_name`).
pub fn folded(c: char) -> char {
    match c {
        'A'..='Z' => c.to_ascii_lowercase(),
        '\u{212A}' => 'k',
        '\u{17F}' => 's',
        '\u{131}' | '\u{130}' => 'i',
        // Latin-1 capitals À..Þ but ×: their small letters are 0x20 above.
        '\u{C0}'..='\u{DE}' if c != '\u{D7}' => char::from_u32(c as u32 + 0x20).unwrap_or(c),
        _ => c,
    }
}

/// Whether the raw (still percent-encoded) parameter name `raw` is one of `names`: whether any
/// of its `readings` is.
pub fn names_parameter(raw: &[u8], names: &[String], case_sensitive: bool) -> bool {
    if names.is_empty() {
        return false;
    }
    let decoded = percent_decoded(raw);
    let decoded = String::from_utf8_lossy(&decoded);
    readings(&decoded).iter().any(|reading| {
        names
            .iter()
            .any(|name| same_name(name, reading, case_sensitive))
    })
}

/// Every name a common server binds the (percent-decoded) parameter name `name` to; the table
/// in SECURITY.md says which server reads what:
///
/// - the name as sent;
/// - with leading spaces dropped: Rack splits pairs at `&` followed by spaces (`a=1& password=`),
///   PHP drops leading spaces from every name;
/// - PHP's: leading spaces dropped, then `.` and space become `_` and a `[` without its `]`
///   becomes `_` (`api.key`, `api key`, `api[key` bind to `api_key`);
/// - Spring's: a leading `!` dropped (`!password` is the default value of `password`);
/// - and each of these split at `[`, `]` and `.`, every part a name of its own: Rails, PHP and
///   Express read `token[]` as `token`, Rails, Spring and ASP.NET bind `user[password]` and
///   `Input.Password` to a nested `password`.
///
/// At most a few dozen readings per name, each at most as long as it: linear in the name.
pub fn readings(name: &str) -> Vec<String> {
    // Each server's reading applied to the others' too (at most eight wholes): a name some
    // server reads after another's rewriting is caught, at the price of a few spellings that
    // no single server binds.
    let mut wholes: Vec<String> = vec![name.to_string()];
    let rewrites: [fn(&str) -> String; 3] = [
        |name| name.trim_start_matches(' ').to_string(),
        |name| name.strip_prefix('!').unwrap_or(name).to_string(),
        php_reading,
    ];
    for rewrite in rewrites {
        for at in 0..wholes.len() {
            let rewritten = wholes.get(at).map(|whole| rewrite(whole));
            if let Some(rewritten) = rewritten.filter(|r| !wholes.contains(r)) {
                wholes.push(rewritten);
            }
        }
    }
    let mut readings: Vec<String> = Vec::with_capacity(2 * wholes.len());
    for whole in wholes {
        for part in whole.split(['[', ']', '.']).filter(|part| !part.is_empty()) {
            if part.len() != whole.len() && !readings.iter().any(|seen| seen == part) {
                readings.push(part.to_string());
            }
        }
        if !readings.contains(&whole) {
            readings.push(whole);
        }
    }
    readings
}

/// The name PHP registers for `name` (`php_register_variable_ex`): leading spaces dropped;
/// before the first `[`, `.` and space become `_`; a first `[` with no `]` after it becomes
/// `_` too, and what follows it is kept as it is.
fn php_reading(name: &str) -> String {
    let name = name.trim_start_matches(' ');
    let mut out = String::with_capacity(name.len());
    for (at, c) in name.char_indices() {
        match c {
            ' ' | '.' => out.push('_'),
            '[' => {
                let rest = name.get(at + 1..).unwrap_or_default();
                if rest.contains(']') {
                    out.push('[');
                } else {
                    out.push('_');
                }
                out.push_str(rest);
                return out;
            }
            other => out.push(other),
        }
    }
    out
}

/// Percent-decoding as form parsers do it: `%XX`, IIS's `%uXXXX`, and `+` as a space.
/// Malformed escapes stay as they are.
pub fn percent_decoded(bytes: &[u8]) -> Vec<u8> {
    let hex = |at: usize| bytes.get(at).and_then(|b| char::from(*b).to_digit(16));
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match (byte, hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b'%', _, _) if matches!(bytes.get(i + 1), Some(b'u' | b'U')) => {
                let unit = (2..6).try_fold(0u32, |value, at| Some(value * 16 + hex(i + at)?));
                match unit.and_then(char::from_u32) {
                    Some(decoded) => {
                        let mut utf8 = [0u8; 4];
                        out.extend_from_slice(decoded.encode_utf8(&mut utf8).as_bytes());
                        i += 6;
                    }
                    None => {
                        out.push(byte);
                        i += 1;
                    }
                }
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn header_names_ignore_case_and_underscores_are_dashes() {
        for spelling in ["x-api-key", "X-Api-Key", "X_Api_Key", "x_api-KEY"] {
            assert!(same_header("x-api-key", spelling), "{spelling}");
        }
        for other in ["x-api-keys", "xapikey", "x-api-ke", "x.api.key", ""] {
            assert!(!same_header("x-api-key", other), "{other}");
        }
        assert!(same_header("my_header", "my-header"));
    }

    #[test]
    fn names_fold_case_as_servers_do() {
        assert!(same_name("password", "PASSWORD", false));
        assert!(same_name("Password", "pAsSwOrD", false));
        assert!(
            same_name("token", "to\u{212A}en", false),
            "Kelvin sign, Go's k"
        );
        assert!(
            same_name("pass", "pa\u{17F}\u{17F}", false),
            "long s, Go's s"
        );
        assert!(
            same_name("api_key", "ap\u{131}_key", false),
            ".NET's dotless i"
        );
        assert!(same_name("clé", "CLÉ", false));
        assert!(same_name("ÀÞ", "àþ", false));
        assert!(!same_name("×", "÷", false), "not letters");
        assert!(same_name("id", "\u{130}D", false), "Java's İ");
        assert!(!same_name("password", "passwort", false));
        assert!(!same_name("password", "password ", false));
        assert!(!same_name("password", "PASSWORD", true));
        assert!(same_name("password", "password", true));
    }

    #[test]
    fn parameter_names_are_decoded_and_split_into_parts() {
        let token = names(&["token"]);
        for named in [
            &b"token"[..],
            b"TOKEN",
            b"%74oken",
            b"%54OKEN",
            b"%u0074oken",
            b"token[]",
            b"token%5B%5D",
            b"token[0]",
            b"token[a][b]",
            b"user[token]",
            b"Input.Token",
            b"a.b.token",
            b"\xff[token]",
        ] {
            let shown = String::from_utf8_lossy(named);
            assert!(names_parameter(named, &token, false), "{shown}");
        }
        for other in [
            &b"tokens"[..],
            b"my_token",
            b"to ken",
            b"%zzoken",
            b"",
            b"[]",
            b"token\xff",
        ] {
            assert!(
                !names_parameter(other, &token, false),
                "{}",
                String::from_utf8_lossy(other)
            );
        }
        assert!(names_parameter(b"to+ken", &names(&["to ken"]), false));
        assert!(!names_parameter(b"TOKEN", &token, true));
        assert!(names_parameter(b"token[]", &token, true));
        assert!(!names_parameter(b"token", &[], false));
    }

    #[test]
    fn php_rack_and_spring_readings_bind_to_the_name() {
        let api_key = names(&["api_key"]);
        for named in [
            &b"api.key"[..],
            b"api+key",
            b"api%20key",
            b"api[key",
            b"api%5Bkey",
            b"+api_key",
            b"%20%20api_key",
            b"+api.key",
            b"!api_key",
            b"API.KEY",
            b"user[api_key]",
            b"!user.api_key",
        ] {
            let shown = String::from_utf8_lossy(named);
            assert!(names_parameter(named, &api_key, false), "{shown}");
        }
        for other in [
            &b"api-key"[..],
            b"api[key]",
            b"apikey",
            b"api__key",
            b"!!api_key",
        ] {
            let shown = String::from_utf8_lossy(other);
            assert!(!names_parameter(other, &api_key, false), "{shown}");
        }
        let password = names(&["password"]);
        for named in [&b" password"[..], b"+password", b"!password", b"!Password"] {
            let shown = String::from_utf8_lossy(named);
            assert!(names_parameter(named, &password, false), "{shown}");
        }
    }

    #[test]
    fn readings_are_few_and_each_named_once() {
        assert_eq!(readings("token"), ["token"]);
        assert_eq!(
            readings(" api.key[x"),
            [
                " api",
                "key",
                "x",
                " api.key[x",
                "api",
                "api.key[x",
                "api_key_x"
            ]
        );
        assert_eq!(readings("!pw"), ["!pw", "pw"]);
        assert_eq!(php_reading("a.b[c.d]"), "a_b[c.d]");
        assert_eq!(php_reading("a b[c.d"), "a_b_c.d");
        assert_eq!(php_reading("  x"), "x");
    }

    #[test]
    fn malformed_escapes_stay_as_they_are() {
        assert_eq!(percent_decoded(b"%"), b"%");
        assert_eq!(percent_decoded(b"%4"), b"%4");
        assert_eq!(percent_decoded(b"%u12"), b"%u12");
        assert_eq!(percent_decoded(b"%uD800x"), b"%uD800x", "a lone surrogate");
        assert_eq!(percent_decoded(b"a%20b+c%2B"), b"a b c+");
        assert_eq!(percent_decoded("%u00e9".as_bytes()), "é".as_bytes());
    }
}
