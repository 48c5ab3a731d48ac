//! HTTP header vocabulary shared by every part of the plugin: how Envoy hands headers over,
//! which ones describe a hop rather than the request, and what a header name may be.

/// Headers as the SDK hands them over: lower-case names, values as bytes (a value need not be
/// UTF-8, and reading it as a `String` would panic the VM).
pub type RawHeaders = Vec<(String, Vec<u8>)>;

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
    HOP_BY_HOP.iter().any(|hop| hop.eq_ignore_ascii_case(name))
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

/// A `grpc-status` value as its code.
pub fn grpc_status(value: &[u8]) -> u32 {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(GRPC_STATUS_UNREADABLE)
}

/// Whether a response is gRPC, by its headers.
pub fn is_grpc(headers: &[(String, Vec<u8>)]) -> bool {
    headers
        .iter()
        .any(|(name, value)| name == "content-type" && is_grpc_content_type(value))
}

/// The request's headers as Envoy handed them over, for the decisions that need them.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    headers: &'a [(String, Vec<u8>)],
}

impl<'a> RequestHead<'a> {
    pub fn new(headers: &'a [(String, Vec<u8>)]) -> RequestHead<'a> {
        RequestHead { headers }
    }

    /// The first value of the header `name` (configured names are lower-case, as Envoy's).
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.values(name).next()
    }

    /// Whether the request asks to leave HTTP: a `CONNECT` tunnel (HTTP/2's extended CONNECT
    /// too, with `:protocol`) or an HTTP/1.1 `upgrade` (WebSocket; Envoy presents an HTTP/2
    /// WebSocket this way as well). A copy of such a request cannot be an HTTP request.
    pub fn asks_for_upgrade(&self) -> bool {
        self.headers
            .iter()
            .any(|(name, value)| match name.as_str() {
                ":method" => value.eq_ignore_ascii_case(b"CONNECT"),
                ":protocol" | "upgrade" => true,
                _ => false,
            })
    }

    /// Every value of the header `name`, in the order they came.
    pub fn values<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + 'n
    where
        'a: 'n,
    {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, value)| value.as_slice())
    }
}

fn read_u32(bytes: &[u8], at: usize) -> Option<usize> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    let word: [u8; 4] = word.try_into().ok()?;
    usize::try_from(u32::from_le_bytes(word)).ok()
}

/// Reads a header map as the host serializes it: a little-endian u32 count, then a (name
/// size, value size) u32 pair per header, then each name and value followed by a NUL. `None`
/// when the bytes do not hold what they announce; a name that is not UTF-8 (Envoy's codecs
/// never let one through) is read lossily rather than failing the map. Linear in its input.
pub fn parse_header_map(bytes: &[u8]) -> Option<RawHeaders> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let count = read_u32(bytes, 0)?;
    let sizes_end = count.checked_mul(8)?.checked_add(4)?;
    if sizes_end > bytes.len() {
        return None;
    }
    let mut headers = Vec::with_capacity(count);
    let mut data = sizes_end;
    let mut take = |size: usize| -> Option<&[u8]> {
        let end = data.checked_add(size)?;
        let field = bytes.get(data..end)?;
        data = end.checked_add(1)?; // the NUL after each name and value
        Some(field)
    };
    for index in 0..count {
        let at = 4 + index * 8;
        let name = take(read_u32(bytes, at)?)?;
        let value = take(read_u32(bytes, at + 4)?)?;
        headers.push((String::from_utf8_lossy(name).into_owned(), value.to_vec()));
    }
    Some(headers)
}

/// Serializes a header map as the host reads one (the layout `parse_header_map` reads).
pub fn serialize_header_map(headers: &[(&str, &str)]) -> Vec<u8> {
    let size = headers
        .iter()
        .map(|(n, v)| n.len() + v.len() + 10)
        .sum::<usize>()
        + 4;
    let mut bytes = Vec::with_capacity(size);
    let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    bytes.extend_from_slice(&len(headers.len()));
    for (name, value) in headers {
        bytes.extend_from_slice(&len(name.len()));
        bytes.extend_from_slice(&len(value.len()));
    }
    for (name, value) in headers {
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_names_are_recognised_in_any_case() {
        assert!(is_hop_by_hop("Connection"));
        assert!(is_hop_by_hop("transfer-encoding"));
        assert!(!is_hop_by_hop("content-length"));
    }

    #[test]
    fn header_names_are_tokens_lower_cased() {
        assert_eq!(header_name("X-Api-Key").as_deref(), Some("x-api-key"));
        for bad in ["", "x y", "x:y", "é", "a\r\nb"] {
            assert_eq!(header_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn upgrades_and_tunnels_are_recognised() {
        let head = |pairs: &[(&str, &str)]| -> bool {
            let raw: RawHeaders = pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect();
            RequestHead::new(&raw).asks_for_upgrade()
        };
        assert!(head(&[(":method", "GET"), ("upgrade", "websocket")]));
        assert!(head(&[(":method", "CONNECT"), (":authority", "a:443")]));
        assert!(head(&[(":method", "CONNECT"), (":protocol", "websocket")]));
        assert!(!head(&[(":method", "GET"), ("connection", "keep-alive")]));
        assert!(!head(&[(":method", "POST"), ("x-upgrade", "no")]));
    }

    #[test]
    fn request_head_finds_first_and_every_value() {
        let raw: RawHeaders = vec![
            ("x-env".into(), b"a".to_vec()),
            ("other".into(), b"b".to_vec()),
            ("x-env".into(), b"\xff".to_vec()),
        ];
        let head = RequestHead::new(&raw);
        assert_eq!(head.get("x-env"), Some(&b"a"[..]));
        assert_eq!(head.values("x-env").count(), 2);
        assert_eq!(head.get("missing"), None);
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

    #[test]
    fn a_map_serialized_for_the_host_reads_back() {
        let headers = [("content-type", "text/plain"), ("x-empty", "")];
        let parsed = parse_header_map(&serialize_header_map(&headers)).unwrap();
        let expected: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect();
        assert_eq!(parsed, expected);
    }

    #[test]
    fn a_serialized_map_reads_back_with_byte_values() {
        let headers: [(&str, &[u8]); 3] = [
            (":method", b"GET"),
            ("x-bin", b"\xff\x00\xfe"),
            ("empty", b""),
        ];
        let parsed = parse_header_map(&serialize(&headers)).unwrap();
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[1], ("x-bin".to_string(), b"\xff\x00\xfe".to_vec()));
        assert_eq!(parsed[2], ("empty".to_string(), Vec::new()));
        assert_eq!(parse_header_map(&[]), Some(Vec::new()));
        assert_eq!(parse_header_map(&[0, 0, 0, 0]), Some(Vec::new()));
    }

    #[test]
    fn a_map_that_does_not_hold_what_it_announces_is_refused_without_panic() {
        let good = serialize(&[("name", b"value")]);
        for cut in 0..good.len() - 1 {
            assert_eq!(parse_header_map(&good[..cut.max(1)]), None, "cut at {cut}");
        }
        assert_eq!(parse_header_map(&[0xff, 0xff, 0xff, 0xff]), None);
        let mut huge_size = good.clone();
        huge_size[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse_header_map(&huge_size), None);
    }

    #[test]
    fn a_name_that_is_not_utf8_is_read_lossily() {
        let mut bytes = serialize(&[("ab", b"v")]);
        let name_at = 4 + 8;
        bytes[name_at] = 0xff;
        let parsed = parse_header_map(&bytes).unwrap();
        assert_eq!(parsed[0].0, "\u{fffd}b");
    }
}
