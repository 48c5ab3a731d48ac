//! Just enough HTTP/1.1 to GET a page from Prometheus or an Envoy admin endpoint: plain
//! `http://`, one request per connection, a chunked or sized body, bounded in size and time.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A metrics page of a large mesh's Envoy is a few MB; far more is not a metrics page.
const MAX_BODY: usize = 256 << 20;
const TIMEOUT: Duration = Duration::from_secs(30);

/// An `http://host:port/base` URL, split.
#[derive(Debug, Clone, PartialEq)]
pub struct Url {
    /// `host:port`, as sent in `Host`.
    pub authority: String,
    /// The path prefix, without a trailing `/` (empty for the root).
    pub base: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            format!("{url:?}: only http:// URLs are supported (put a TLS proxy in front, or port-forward)")
        })?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() || authority.contains(['@', '?', '#', ' ']) {
            return Err(format!("{url:?}: expected http://host:port[/path]"));
        }
        if path.contains(['?', '#']) {
            return Err(format!(
                "{url:?}: give the server's base URL, without a query"
            ));
        }
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_string()
        } else if authority.ends_with(']') || !authority.contains(':') {
            format!("{authority}:80")
        } else {
            return Err(format!("{url:?}: the port is not a number"));
        };
        Ok(Url {
            authority,
            base: path.trim_end_matches('/').to_string(),
        })
    }
}

/// GETs `url.base + path_and_query`; the body of a 200, or why there is none.
pub fn get(url: &Url, path_and_query: &str) -> Result<String, String> {
    let target = format!("{}{}", url.base, path_and_query);
    let shown = format!("http://{}{}", url.authority, target);
    let fail = |what: String| format!("GET {shown}: {what}");
    let address = url
        .authority
        .to_socket_addrs()
        .map_err(|e| fail(e.to_string()))?
        .next()
        .ok_or_else(|| fail("no address".into()))?;
    let mut stream =
        TcpStream::connect_timeout(&address, TIMEOUT).map_err(|e| fail(e.to_string()))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| fail(e.to_string()))?;
    stream
        .set_write_timeout(Some(TIMEOUT))
        .map_err(|e| fail(e.to_string()))?;
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.authority
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let mut response = Vec::new();
    stream
        .take(MAX_BODY as u64 + 65536)
        .read_to_end(&mut response)
        .map_err(|e| fail(e.to_string()))?;
    parse_response(&response).map_err(fail)
}

/// The body of a complete HTTP/1.1 response, when its status is 200.
pub fn parse_response(response: &[u8]) -> Result<String, String> {
    let end = find(response, b"\r\n\r\n").ok_or("the response has no end of headers")?;
    let head = std::str::from_utf8(&response[..end]).map_err(|_| "headers that are not UTF-8")?;
    let body = &response[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line.split(' ').nth(1).unwrap_or("");
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let (name, value) = line.split_once(':').ok_or("a header line without ':'")?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| "a bad Content-Length")?);
        }
    }
    let body = if chunked {
        dechunk(body)?
    } else if let Some(length) = length {
        body.get(..length)
            .ok_or("the body is shorter than its Content-Length")?
            .to_vec()
    } else {
        body.to_vec()
    };
    if body.len() > MAX_BODY {
        return Err(format!("a body over {MAX_BODY} bytes"));
    }
    let body = String::from_utf8(body).map_err(|_| "a body that is not UTF-8")?;
    if status != "200" {
        let excerpt: String = body.chars().take(300).collect();
        return Err(format!("{status_line}: {excerpt}"));
    }
    Ok(body)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = find(rest, b"\r\n").ok_or("a chunk without its size line")?;
        let size_line = std::str::from_utf8(&rest[..line_end]).map_err(|_| "a bad chunk size")?;
        let size_text = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "a bad chunk size")?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if size > MAX_BODY || rest.len() < size + 2 {
            return Err("a truncated chunk".into());
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// `text` percent-encoded for a query string.
pub fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out += &format!("%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_base_urls() {
        let url = Url::parse("http://127.0.0.1:9090/prom/").unwrap();
        assert_eq!(url.authority, "127.0.0.1:9090");
        assert_eq!(url.base, "/prom");
        assert_eq!(
            Url::parse("http://prometheus").unwrap().authority,
            "prometheus:80"
        );
        assert_eq!(
            Url::parse("http://[::1]:15000").unwrap().authority,
            "[::1]:15000"
        );
        for bad in [
            "https://x:1",
            "x:1",
            "http://",
            "http://a:b",
            "http://u@x:1",
            "http://x:1/?q=1",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_sized_and_chunked_bodies() {
        let sized = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, and more";
        assert_eq!(parse_response(sized).unwrap(), "hello");
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), "hello");
        let closed = b"HTTP/1.0 200 OK\r\n\r\nuntil the end";
        assert_eq!(parse_response(closed).unwrap(), "until the end");
    }

    #[test]
    fn refuses_errors_and_broken_responses() {
        let cases: [(&[u8], &str); 6] = [
            (
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad",
                "400 Bad Request: bad",
            ),
            (b"HTTP/1.1 200 OK\r\n", "no end of headers"),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
                "shorter",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "chunk size",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nab",
                "truncated",
            ),
            (b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n", "without ':'"),
        ];
        for (response, wanted) in cases {
            let error = parse_response(response).unwrap_err();
            assert!(error.contains(wanted), "{error}");
        }
    }

    #[test]
    fn encodes_a_query() {
        assert_eq!(
            encode("sum by (a) (x{b=\"c d\"})"),
            "sum%20by%20%28a%29%20%28x%7Bb%3D%22c%20d%22%7D%29"
        );
    }
}
