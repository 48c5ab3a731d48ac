//! HTTP header vocabulary shared by every part of the plugin: how Envoy hands headers over,
//! which ones describe a hop rather than the request, and what a header name may be.

/// Connection-level headers that describe one hop, not the request. `te` is kept when it is
/// exactly `trailers`, which gRPC servers require.
pub const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "trailer",
    "http2-settings",
    "te",
];

pub fn is_hop_by_hop(name: &str) -> bool {
    // By length first: this runs for every header of every copied request.
    let candidates: &[&str] = match name.len() {
        2 => &["te"],
        7 => &["upgrade", "trailer"],
        10 => &["connection", "keep-alive"],
        14 => &["http2-settings"],
        16 => &["proxy-connection"],
        17 => &["transfer-encoding"],
        _ => &[],
    };
    candidates.iter().any(|hop| hop.eq_ignore_ascii_case(name))
}

/// A character of an RFC 9110 token: what header names and methods are made of.
pub fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// A configured header name, lower-cased: names travel lower-case in Envoy (and must, in
/// HTTP/2), so they are lower-cased once at configure time instead of compared
/// case-insensitively on every request. `None` when `name` is not a token.
pub fn header_name(name: &str) -> Option<String> {
    (!name.is_empty() && name.chars().all(is_token_char)).then(|| name.to_ascii_lowercase())
}

/// A `grpc-status` that is not a number (still different from every real code and from 0).
pub const GRPC_STATUS_UNREADABLE: u32 = u32::MAX;

/// `application/grpc`, `application/grpc+proto`, `application/grpc-web...`.
pub fn is_grpc_content_type(content_type: &[u8]) -> bool {
    content_type
        .get(..16)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(b"application/grpc"))
}

/// A header's bytes as text when they are UTF-8. Headers are ASCII but for a broken or
/// hostile peer's: `is_ascii` costs a fraction of `str::from_utf8`'s per header in the wasm
/// build (a mirrored request checks every name and value it reads).
pub fn text(bytes: &[u8]) -> Option<&str> {
    if bytes.is_ascii() {
        // SAFETY: ASCII bytes are UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).ok()
}

/// A `:status` value as a number, read as `str::parse::<u16>` reads it (an optional `+`, then
/// digits, within `u16`), without a check for UTF-8 first. The one reading of a status: the
/// copy's class, the comparison's summary and the root's both use it.
pub fn status_code(value: &[u8]) -> Option<u16> {
    let digits = value.strip_prefix(b"+").unwrap_or(value);
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u16, |code, &byte| {
        let digit = byte.checked_sub(b'0').filter(|d| *d <= 9)?;
        code.checked_mul(10)?.checked_add(u16::from(digit))
    })
}

/// A `grpc-status` value as its code.
pub fn grpc_status(value: &[u8]) -> u32 {
    text(value)
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(GRPC_STATUS_UNREADABLE)
}

/// Whether a response is gRPC, by its headers.
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers.values("content-type").any(is_grpc_content_type)
}

/// Whether this header of a request asks to leave HTTP: a `CONNECT` tunnel (HTTP/2's extended
/// CONNECT too, with `:protocol`) or an HTTP/1.1 `upgrade` (WebSocket; Envoy presents an
/// HTTP/2 WebSocket this way as well). A copy of such a request cannot be an HTTP request.
pub fn asks_for_upgrade(name: &str, value: &[u8]) -> bool {
    match name {
        ":method" => value.eq_ignore_ascii_case(b"CONNECT"),
        ":protocol" | "upgrade" => true,
        _ => false,
    }
}

fn read_u32(bytes: &[u8], at: usize) -> Option<usize> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    let word: [u8; 4] = word.try_into().ok()?;
    usize::try_from(u32::from_le_bytes(word)).ok()
}

/// A header map kept as the host serialized it (a little-endian u32 count, then a (name
/// size, value size) u32 pair per header, then each name and value followed by a NUL) and
/// read in place: no allocation per header, only the one buffer the host hands over. Names
/// are lower-case as Envoy hands them over; values are bytes (a value need not be UTF-8).
///
/// Invariant, checked once by `parse` (the only way to build one): the bytes hold every
/// field they announce, and every name is UTF-8. The bytes are never changed afterwards, so
/// the walk that reads them (`Fields`, the same one `parse` checks with) finds the same
/// fields, and a name can be handed out as `&str` without checking it again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMap {
    bytes: Vec<u8>,
    count: usize,
}

/// The walk over a serialized map's fields: the (name, value) pairs in the order they came.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    bytes: &'a [u8],
    /// Where the next header's sizes are.
    sizes_at: usize,
    /// Where the next header's name starts.
    data_at: usize,
    left: usize,
}

impl<'a> Fields<'a> {
    fn take(&mut self, size: usize) -> Option<&'a [u8]> {
        let end = self.data_at.saturating_add(size);
        let field = self.bytes.get(self.data_at..end)?;
        self.data_at = end.saturating_add(1); // the NUL after each name and value
        Some(field)
    }
}

impl<'a> Fields<'a> {
    /// The next header's name, with where it starts in the bytes.
    fn next_at(&mut self) -> Option<(usize, &'a [u8])> {
        let start = self.data_at;
        let (name, _) = self.next()?;
        Some((start, name))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (&'a [u8], &'a [u8]);

    /// `None` at the end, or where the bytes stop holding what they announce (which `parse`
    /// has ruled out for a `HeaderMap`'s bytes). Positions saturate rather than overflow: a
    /// saturated one is past the bytes, so the field is not there.
    fn next(&mut self) -> Option<Self::Item> {
        self.left = self.left.checked_sub(1)?;
        let sizes_end = self.sizes_at.saturating_add(8);
        let sizes: [u8; 8] = self.bytes.get(self.sizes_at..sizes_end)?.try_into().ok()?;
        self.sizes_at = sizes_end;
        let [n0, n1, n2, n3, v0, v1, v2, v3] = sizes;
        let name_size = usize::try_from(u32::from_le_bytes([n0, n1, n2, n3])).ok()?;
        let value_size = usize::try_from(u32::from_le_bytes([v0, v1, v2, v3])).ok()?;
        let name = self.take(name_size)?;
        let value = self.take(value_size)?;
        Some((name, value))
    }
}

/// A `HeaderMap`'s headers as (name, value), names as `&str`.
#[derive(Debug, Clone)]
pub struct Headers<'a>(Fields<'a>);

impl<'a> Iterator for Headers<'a> {
    type Item = (&'a str, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (name, value) = self.0.next()?;
        // SAFETY: `Headers` walks only a `HeaderMap`'s bytes, which `HeaderMap::parse` walked
        // with the same `Fields` and found every name UTF-8; they are never changed after.
        let name = unsafe { std::str::from_utf8_unchecked(name) };
        Some((name, value))
    }
}

impl HeaderMap {
    /// Reads a header map as the host serializes it, keeping its bytes. `None` when they do
    /// not hold what they announce. A name that is not UTF-8 (Envoy's codecs never let one
    /// through) does not fail the map: its bytes outside ASCII are read as `?` (before, as
    /// U+FFFD: either way a name no configured name, a token, can match). Linear in its input.
    pub fn parse(mut bytes: Vec<u8>) -> Option<HeaderMap> {
        if bytes.is_empty() {
            return Some(HeaderMap::default());
        }
        let count = read_u32(&bytes, 0)?;
        let sizes_end = count.checked_mul(8)?.checked_add(4)?;
        if sizes_end > bytes.len() {
            return None;
        }
        let mut names_utf8 = true;
        let mut fields = HeaderMap::walk(&bytes, count);
        for _ in 0..count {
            let (name, _) = fields.next()?;
            names_utf8 &= text(name).is_some();
        }
        if !names_utf8 {
            // The same walk, by position: the map holds what it announces (checked above).
            let mut fields = HeaderMap::walk(&bytes, count);
            let mut names = Vec::new();
            while let Some((start, name)) = fields.next_at() {
                if std::str::from_utf8(name).is_err() {
                    names.push(start..start.saturating_add(name.len()));
                }
            }
            for name in names {
                let name = bytes.get_mut(name).unwrap_or_default();
                name.iter_mut()
                    .filter(|b| !b.is_ascii())
                    .for_each(|b| *b = b'?');
            }
        }
        Some(HeaderMap { bytes, count })
    }

    /// A map of these headers, serialized as the host would.
    pub fn from_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a [u8])> + Clone) -> HeaderMap {
        let bytes = serialize(pairs.map(|(name, value)| (name.as_bytes(), value)));
        // Built from `&str` names in the layout `parse` reads: it never refuses it.
        HeaderMap::parse(bytes).unwrap_or_default()
    }

    fn walk(bytes: &[u8], count: usize) -> Fields<'_> {
        Fields {
            bytes,
            sizes_at: 4,
            data_at: count.saturating_mul(8).saturating_add(4),
            left: count,
        }
    }

    fn fields(&self) -> Fields<'_> {
        HeaderMap::walk(&self.bytes, self.count)
    }

    /// Every header, (name, value), in the order they came.
    pub fn iter(&self) -> Headers<'_> {
        Headers(self.fields())
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// How many bytes the names and values take together.
    pub fn text_len(&self) -> usize {
        let overhead = self.count.saturating_mul(10).saturating_add(4);
        self.bytes.len().saturating_sub(overhead)
    }

    /// The first value of the header `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.values(name).next()
    }

    /// Every value of the header `name`, in the order they came.
    pub fn values<'s, 'n>(&'s self, name: &'n str) -> impl Iterator<Item = &'s [u8]> + 'n
    where
        's: 'n,
    {
        self.fields()
            .filter(move |(n, _)| *n == name.as_bytes())
            .map(|(_, value)| value)
    }
}

/// Serializes headers in the layout the host reads and writes (see `HeaderMap`).
fn serialize<'a>(headers: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone) -> Vec<u8> {
    let (count, size) = headers
        .clone()
        .fold((0usize, 4usize), |(count, size), (n, v)| {
            (count + 1, size + n.len() + v.len() + 10)
        });
    let mut bytes = Vec::with_capacity(size);
    let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    bytes.extend_from_slice(&len(count));
    for (name, value) in headers.clone() {
        bytes.extend_from_slice(&len(name.len()));
        bytes.extend_from_slice(&len(value.len()));
    }
    for (name, value) in headers {
        bytes.extend_from_slice(name);
        bytes.push(0);
        bytes.extend_from_slice(value);
        bytes.push(0);
    }
    bytes
}

/// Serializes a header map as the host reads one (the layout `HeaderMap::parse` reads).
pub fn serialize_header_map(headers: &[(&str, &str)]) -> Vec<u8> {
    serialize(
        headers
            .iter()
            .map(|(name, value)| (name.as_bytes(), value.as_bytes())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_as_str_parse_reads_it() {
        for text in [
            "200",
            "0",
            "65535",
            "65536",
            "+204",
            "+",
            "",
            "-1",
            "2 00",
            " 200",
            "20x",
            "00042",
            "１２",
            "99999999999999999999",
            "++1",
        ] {
            assert_eq!(
                status_code(text.as_bytes()),
                text.parse::<u16>().ok(),
                "{text:?}"
            );
        }
        assert_eq!(status_code(b"\xff200"), None);
        for n in (0..70_000u32).step_by(7) {
            for text in [n.to_string(), format!("+{n}"), format!("0{n}")] {
                assert_eq!(
                    status_code(text.as_bytes()),
                    text.parse::<u16>().ok(),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn header_text_is_read_as_utf8_with_or_without_the_ascii_shortcut() {
        assert_eq!(text(b"application/json"), Some("application/json"));
        assert_eq!(text(b""), Some(""));
        assert_eq!(
            text("caf\u{e9} \u{1f600}".as_bytes()),
            Some("caf\u{e9} \u{1f600}")
        );
        for broken in [
            &b"caf\xe9"[..],
            b"\xff",
            b"ok\xc3",
            b"\xed\xa0\x80",
            b"a\x80b",
        ] {
            assert_eq!(text(broken), None, "{broken:?}");
        }
    }

    #[test]
    fn hop_by_hop_names_are_recognised_in_any_case() {
        assert!(is_hop_by_hop("Connection"));
        assert!(is_hop_by_hop("transfer-encoding"));
        assert!(!is_hop_by_hop("content-length"));
        for hop in HOP_BY_HOP {
            assert!(is_hop_by_hop(hop), "{hop}");
            assert!(is_hop_by_hop(&hop.to_ascii_uppercase()), "{hop}");
            assert!(!is_hop_by_hop(&format!("{hop}s")), "{hop}s");
        }
        for other in ["tf", "upgrades", "connectiox", "x-connection", ""] {
            assert!(!is_hop_by_hop(other), "{other}");
        }
    }

    #[test]
    fn header_names_are_tokens_lower_cased() {
        assert_eq!(header_name("X-Api-Key").as_deref(), Some("x-api-key"));
        for bad in ["", "x y", "x:y", "é", "a\r\nb"] {
            assert_eq!(header_name(bad), None, "{bad:?}");
        }
    }

    /// A map of these headers, values as text.
    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        HeaderMap::from_pairs(pairs.iter().map(|(n, v)| (*n, v.as_bytes())))
    }

    #[test]
    fn upgrades_and_tunnels_are_recognised() {
        let head = |pairs: &[(&str, &str)]| -> bool {
            map(pairs)
                .iter()
                .any(|(name, value)| asks_for_upgrade(name, value))
        };
        assert!(head(&[(":method", "GET"), ("upgrade", "websocket")]));
        assert!(head(&[(":method", "CONNECT"), (":authority", "a:443")]));
        assert!(head(&[(":method", "CONNECT"), (":protocol", "websocket")]));
        assert!(!head(&[(":method", "GET"), ("connection", "keep-alive")]));
        assert!(!head(&[(":method", "POST"), ("x-upgrade", "no")]));
    }

    #[test]
    fn a_map_finds_a_names_first_and_every_value() {
        let raw = HeaderMap::from_pairs(
            [("x-env", &b"a"[..]), ("other", b"b"), ("x-env", b"\xff")].into_iter(),
        );
        let head = raw;
        assert_eq!(head.get("x-env"), Some(&b"a"[..]));
        assert_eq!(
            head.values("x-env").collect::<Vec<_>>(),
            [&b"a"[..], b"\xff"]
        );
        assert_eq!(head.get("missing"), None);
        assert_eq!(head.get("x-en"), None, "a name is matched whole");
    }

    /// The host's serialization, as Envoy writes it.
    fn serialize(headers: &[(&str, &[u8])]) -> Vec<u8> {
        let mut bytes = (headers.len() as u32).to_le_bytes().to_vec();
        for (name, value) in headers {
            bytes.extend((name.len() as u32).to_le_bytes());
            bytes.extend((value.len() as u32).to_le_bytes());
        }
        for (name, value) in headers {
            bytes.extend(name.as_bytes());
            bytes.push(0);
            bytes.extend(*value);
            bytes.push(0);
        }
        bytes
    }

    fn pairs(map: &HeaderMap) -> Vec<(String, Vec<u8>)> {
        map.iter()
            .map(|(n, v)| (n.to_string(), v.to_vec()))
            .collect()
    }

    #[test]
    fn a_map_serialized_for_the_host_reads_back() {
        let headers = [("content-type", "text/plain"), ("x-empty", "")];
        let parsed = HeaderMap::parse(serialize_header_map(&headers)).unwrap();
        let expected: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect();
        assert_eq!(pairs(&parsed), expected);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed.text_len(), "content-typetext/plainx-empty".len());
    }

    #[test]
    fn a_serialized_map_reads_back_with_byte_values() {
        let headers: [(&str, &[u8]); 3] = [
            (":method", b"GET"),
            ("x-bin", b"\xff\x00\xfe"),
            ("empty", b""),
        ];
        let parsed = HeaderMap::parse(serialize(&headers)).unwrap();
        let read = pairs(&parsed);
        assert_eq!(read.len(), 3);
        assert_eq!(read[1], ("x-bin".to_string(), b"\xff\x00\xfe".to_vec()));
        assert_eq!(read[2], ("empty".to_string(), Vec::new()));
        assert_eq!(parsed.get("x-bin"), Some(&b"\xff\x00\xfe"[..]));
        assert!(HeaderMap::parse(Vec::new()).unwrap().is_empty());
        assert!(HeaderMap::parse(vec![0, 0, 0, 0]).unwrap().is_empty());
        assert_eq!(HeaderMap::default().iter().count(), 0);
    }

    #[test]
    fn a_map_that_does_not_hold_what_it_announces_is_refused_without_panic() {
        let good = serialize(&[("name", b"value")]);
        for cut in 0..good.len() - 1 {
            let bytes = good[..cut.max(1)].to_vec();
            assert_eq!(HeaderMap::parse(bytes), None, "cut at {cut}");
        }
        assert_eq!(HeaderMap::parse(vec![0xff, 0xff, 0xff, 0xff]), None);
        let mut huge_size = good.clone();
        huge_size[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(HeaderMap::parse(huge_size), None);
        let mut huge_value = good.clone();
        huge_value[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(HeaderMap::parse(huge_value), None);
        // Two headers announced, one held.
        let mut more_announced = serialize(&[("a", b"1"), ("b", b"2")]);
        more_announced.truncate(4 + 16 + 4);
        assert_eq!(HeaderMap::parse(more_announced), None);
    }

    #[test]
    fn a_name_that_is_not_utf8_is_read_with_question_marks() {
        let mut bytes = serialize(&[("ab", b"v"), ("x-é", b"\xfe"), ("x-kept", b"\xfe")]);
        let name_at = 4 + 24;
        bytes[name_at] = 0xff;
        let parsed = HeaderMap::parse(bytes).unwrap();
        assert_eq!(
            pairs(&parsed),
            [
                ("?b".to_string(), b"v".to_vec()),
                ("x-é".to_string(), b"\xfe".to_vec()),
                ("x-kept".to_string(), b"\xfe".to_vec())
            ]
        );
        assert_eq!(parsed.get("x-kept"), Some(&b"\xfe"[..]));
    }

    #[test]
    fn grpc_is_told_by_any_content_type() {
        assert!(is_grpc(&map(&[("content-type", "application/grpc+proto")])));
        assert!(is_grpc(&map(&[
            ("x", "y"),
            ("content-type", "application/grpc")
        ])));
        assert!(!is_grpc(&map(&[("content-type", "application/json")])));
        assert!(!is_grpc(&map(&[("x-content-type", "application/grpc")])));
    }
}
