//! What a request's `content-type` says about its body, read strictly: a value that is not
//! exactly one well-formed media type (RFC 9110, 8.3.1) is *unreadable*, never "not JSON", so
//! a malformed or doubled header cannot turn redaction off.

/// The kinds of body redaction knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyType {
    /// `application/json`, `text/json`, `application/x-json`, any `+json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// Any `multipart/*`, with its boundary.
    Multipart { boundary: Vec<u8> },
    /// Anything else (binary, XML, text): redaction only looks at its bytes (see `body`).
    Other,
}

/// What the request's `content-type` headers, all of them, say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Declared {
    #[default]
    Absent,
    Type(BodyType),
    /// Not UTF-8, not a media type, two values (two headers, or one joined with a comma), a
    /// repeated parameter, a multipart type without a usable boundary, or a charset that is
    /// not ASCII-compatible (names would not read as the bytes we compare).
    Unreadable,
}

impl Declared {
    /// `self` with one more `content-type` header value.
    pub fn and(self, value: &[u8]) -> Declared {
        match self {
            Declared::Absent => body_type(value).map_or(Declared::Unreadable, Declared::Type),
            _ => Declared::Unreadable,
        }
    }
}

/// Charsets in which ASCII names are the bytes they are in ASCII.
const ASCII_COMPATIBLE: [&str; 6] = [
    "utf-8",
    "utf8",
    "us-ascii",
    "ascii",
    "iso-8859-1",
    "windows-1252",
];

/// RFC 2046: a boundary is 1 to 70 of these, not ending with a space.
fn is_boundary_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&byte)
}

/// The body type a `content-type` value names, `None` when it cannot be read with certainty.
pub fn body_type(value: &[u8]) -> Option<BodyType> {
    let parsed = parse(value, true, &["charset", "boundary"])?;
    let charset = parsed.parameter("charset");
    if let Some(charset) = charset {
        let charset = String::from_utf8_lossy(charset).to_ascii_lowercase();
        if !ASCII_COMPATIBLE.contains(&charset.as_str()) {
            return None;
        }
    }
    let (kind, subtype) = parsed.head.split_once('/')?;
    Some(match (kind, subtype) {
        ("multipart", _) => {
            let boundary = parsed.parameter("boundary")?;
            let usable = (1..=70).contains(&boundary.len())
                && boundary.iter().all(|b| is_boundary_char(*b))
                && !boundary.ends_with(b" ");
            BodyType::Multipart {
                boundary: usable.then(|| boundary.to_vec())?,
            }
        }
        ("application", "x-www-form-urlencoded") => BodyType::Form,
        (_, "json" | "x-json") => BodyType::Json,
        (_, subtype) if subtype.ends_with("+json") => BodyType::Json,
        _ => BodyType::Other,
    })
}

/// A header value of the form `head *( OWS ";" OWS name=value )`: a media type (`type/subtype`)
/// or a disposition (`form-data`). The head and parameter names are lower-cased; only the
/// parameters asked for are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameterised {
    pub head: String,
    pub parameters: Vec<(String, Vec<u8>)>,
}

impl Parameterised {
    pub fn parameter(&self, name: &str) -> Option<&[u8]> {
        self.parameters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// Parses strictly, accepting a parameter only when every server we know reads it the same
/// way (SECURITY.md, *What the plugin accepts*): its name a plain token without `*` (no RFC 2231
/// extended or continued parameter, `name*0=pass; name*1=word`, which Go and Flask join), each
/// name once (`boundary=a; boundary=b`: parsers keep one or the other), its value a token that
/// does not start with `'` (PHP reads `'...'` as quoted) or a quoted string without a backslash
/// (browsers send `\` as it is, RFC parsers read it as an escape). Every parameter is checked,
/// not only the `wanted` ones kept: a parameter we ignore may be the one a server reads.
/// Linear apart from sorting the parameter names once to find a repeated one.
pub fn parse(value: &[u8], media_type: bool, wanted: &[&str]) -> Option<Parameterised> {
    let mut cursor = Cursor {
        bytes: value,
        at: 0,
    };
    cursor.spaces();
    let mut head = cursor.token()?.to_ascii_lowercase();
    if media_type {
        cursor.consume(b'/')?;
        head.push('/');
        head.push_str(&cursor.token()?.to_ascii_lowercase());
    }
    let mut parameters: Vec<(String, Vec<u8>)> = Vec::new();
    let mut every_name: Vec<String> = Vec::new();
    loop {
        cursor.spaces();
        if cursor.done() {
            break;
        }
        cursor.consume(b';')?;
        cursor.spaces();
        if cursor.done() || cursor.peek() == Some(b';') {
            continue; // an empty parameter, allowed by the grammar
        }
        let name = cursor.token()?.to_ascii_lowercase();
        if name.contains('*') {
            return None;
        }
        cursor.consume(b'=')?;
        let value = if cursor.peek() == Some(b'"') {
            cursor.quoted()?
        } else {
            let token = cursor.token()?;
            if token.starts_with('\'') {
                return None;
            }
            token.into_bytes()
        };
        if wanted.contains(&name.as_str()) {
            parameters.push((name.clone(), value));
        }
        every_name.push(name);
    }
    every_name.sort_unstable();
    if every_name
        .windows(2)
        .any(|pair| pair.first() == pair.last())
    {
        return None;
    }
    Some(Parameterised { head, parameters })
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    fn consume(&mut self, wanted: u8) -> Option<()> {
        (self.peek() == Some(wanted)).then(|| self.at += 1)
    }

    /// A non-empty token, as sent.
    fn token(&mut self) -> Option<String> {
        let start = self.at;
        while self.peek().is_some_and(is_token_char) {
            self.at += 1;
        }
        let token = self.bytes.get(start..self.at)?;
        (!token.is_empty()).then(|| String::from_utf8_lossy(token).into_owned())
    }

    /// A quoted string's content: tab, space, visible ASCII but `"` and `\`, and non-ASCII.
    fn quoted(&mut self) -> Option<Vec<u8>> {
        self.consume(b'"')?;
        let start = self.at;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' => return None,
                b'\t' | b' '..=b'~' | 0x80..=0xff => self.at += 1,
                _ => return None,
            }
        }
        let content = self.bytes.get(start..self.at)?.to_vec();
        self.at += 1;
        Some(content)
    }
}

/// RFC 9110's `tchar`.
fn is_token_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(values: &[&[u8]]) -> Declared {
        values
            .iter()
            .fold(Declared::Absent, |declared, value| declared.and(value))
    }

    #[test]
    fn json_types() {
        for json in [
            &b"application/json"[..],
            b"Application/JSON; charset=utf-8",
            b"application/merge-patch+json",
            b"text/json",
            b"application/x-json",
            b"application/vnd.api+json ; charset=\"UTF-8\"",
            b"application/json;",
            b" application/json ;; x=1",
        ] {
            assert_eq!(
                body_type(json),
                Some(BodyType::Json),
                "{}",
                String::from_utf8_lossy(json)
            );
        }
        for other in [&b"text/plain"[..], b"application/jsonl", b"application/xml"] {
            assert_eq!(body_type(other), Some(BodyType::Other));
        }
    }

    #[test]
    fn form_and_multipart_types() {
        assert_eq!(
            body_type(b"application/x-www-form-urlencoded; charset=UTF-8"),
            Some(BodyType::Form)
        );
        assert_eq!(
            body_type(b"multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxk"),
            Some(BodyType::Multipart {
                boundary: b"----WebKitFormBoundary7MA4YWxk".to_vec()
            })
        );
        assert_eq!(
            body_type(b"multipart/mixed; boundary=\"a b:c\""),
            Some(BodyType::Multipart {
                boundary: b"a b:c".to_vec()
            })
        );
    }

    #[test]
    fn what_cannot_be_read_with_certainty_is_unreadable() {
        for unreadable in [
            &b"application/json; charset=\xff"[..],
            b"application/json,text/plain",
            b"application/json, text/plain",
            b"",
            b"   ",
            b"application",
            b"application/",
            b"/json",
            b"application/json; charset",
            b"application/json; charset=",
            b"application/json; charset =utf-8",
            b"application/json; charset=\"utf-8",
            b"application/json; charset=\"ut\\f-8\"",
            b"application/json; charset=utf-8; charset=latin1",
            b"application/json; CHARSET=utf-8; charset=utf-8",
            b"application/json; charset=utf-16",
            b"application/x-www-form-urlencoded; charset=utf-16le",
            b"text/plain; charset=utf-32",
            b"multipart/form-data",
            b"multipart/form-data; boundary=",
            b"multipart/form-data; boundary=\"a\\\"b\"",
            b"multipart/form-data; boundary=\"ends with space \"",
            b"multipart/form-data; boundary=\"has;semicolon\"",
            b"multipart/form-data; boundary=a; BOUNDARY=b",
            b"multipart/form-data; boundary=AAA; boundary*0=BBB",
            b"multipart/form-data; boundary*=utf-8''AAA",
            b"multipart/form-data; boundary=AAA; x=1; x=2",
            b"multipart/form-data; boundary='AAA'",
            b"application/json; charset*=utf-8''utf-16",
            b"application/json\x00",
            b"application/json\r\n",
        ] {
            assert_eq!(
                body_type(unreadable),
                None,
                "{}",
                String::from_utf8_lossy(unreadable)
            );
        }
        let long = format!("multipart/form-data; boundary={}", "b".repeat(71));
        assert_eq!(body_type(long.as_bytes()), None);
    }

    #[test]
    fn many_parameters_cost_one_pass() {
        // Envoy allows header values of tens of kilobytes, a multipart part's disposition can be
        // as long as the body: parameters are not compared with each other.
        let many: String = (0..100_000).map(|i| format!("; p{i}=v")).collect();
        let value = format!("text/plain{many}; charset=utf-8");
        assert_eq!(body_type(value.as_bytes()), Some(BodyType::Other));
    }

    #[test]
    fn a_second_content_type_makes_it_unreadable() {
        assert_eq!(declared(&[]), Declared::Absent);
        assert_eq!(
            declared(&[b"application/json"]),
            Declared::Type(BodyType::Json)
        );
        assert_eq!(
            declared(&[b"application/json", b"application/json"]),
            Declared::Unreadable
        );
        assert_eq!(
            declared(&[b"application/json", b"text/plain"]),
            Declared::Unreadable
        );
        assert_eq!(declared(&[b"\xff"]), Declared::Unreadable);
    }

    #[test]
    fn dispositions_parse_with_their_parameters() {
        let wanted = ["name", "filename"];
        let parse = |value: &[u8]| parse(value, false, &wanted);
        let parsed = parse(
            "form-data; name=\"user[password]\"; filename=\"caf\u{e9}.txt\"; x=1; y=2".as_bytes(),
        )
        .unwrap();
        assert_eq!(parsed.head, "form-data");
        assert_eq!(parsed.parameter("name"), Some(&b"user[password]"[..]));
        assert_eq!(
            parsed.parameter("filename"),
            Some("caf\u{e9}.txt".as_bytes())
        );
        assert_eq!(parse(b"form-data; name=a; name=b"), None);
        assert_eq!(parse(b"form-data; NAME=a; name=b"), None);
        assert_eq!(parse(b"form-data; name=\"a\\\"b\""), None);
        assert_eq!(parse(b"form-data; name=\"a\"x"), None);
        assert_eq!(parse(b"form-data name=a"), None);
        assert_eq!(parse(b"form-data; x=1; X=2"), None, "any parameter twice");
        assert_eq!(parse(b"form-data; name*=utf-8''password"), None);
        assert_eq!(parse(b"form-data; name*0=pass; name*1=word"), None);
        assert_eq!(parse(b"form-data; name='password'"), None, "PHP's quotes");
        assert_eq!(
            parse(b"form-data; name=\"'password'\""),
            Some(Parameterised {
                head: "form-data".into(),
                parameters: vec![("name".into(), b"'password'".to_vec())],
            })
        );
    }
}
