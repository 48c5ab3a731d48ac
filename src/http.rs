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
}
