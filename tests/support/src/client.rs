use crate::frames::Frames;
use crate::runtime::runtime;
use http_body_util::BodyExt;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The authority requests carry unless a test sets another.
pub const DEFAULT_AUTHORITY: &str = "app.test";

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub authority: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// Sent after the body (gRPC-style); HTTP/2 only.
    pub trailers: Vec<(String, Vec<u8>)>,
}

impl Request {
    pub fn get(path: &str) -> Request {
        Request {
            method: "GET".into(),
            path: path.into(),
            authority: DEFAULT_AUTHORITY.into(),
            headers: Vec::new(),
            body: Vec::new(),
            trailers: Vec::new(),
        }
    }

    pub fn post(path: &str, body: impl Into<Vec<u8>>) -> Request {
        Request {
            method: "POST".into(),
            body: body.into(),
            ..Request::get(path)
        }
    }

    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Request {
        self.headers.push((name.into(), value.as_ref().to_vec()));
        self
    }

    pub fn trailer(mut self, name: &str, value: &str) -> Request {
        self.trailers.push((name.into(), value.as_bytes().to_vec()));
        self
    }

    pub fn authority(mut self, authority: &str) -> Request {
        self.authority = authority.into();
        self
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub elapsed: Duration,
}

enum Sender {
    Http1(http1::SendRequest<Frames>),
    Http2(http2::SendRequest<Frames>),
}

/// One client connection (HTTP/1.1 keep-alive, or HTTP/2 with prior knowledge).
pub struct Client {
    sender: Sender,
}

impl Client {
    pub fn http1(addr: SocketAddr) -> Client {
        let sender = runtime().block_on(async {
            let (sender, connection) = http1::handshake(connect(addr).await)
                .await
                .expect("HTTP/1.1 handshake");
            tokio::spawn(connection);
            sender
        });
        Client {
            sender: Sender::Http1(sender),
        }
    }

    pub fn http2(addr: SocketAddr) -> Client {
        let sender = runtime().block_on(async {
            let (sender, connection) = http2::handshake(TokioExecutor::new(), connect(addr).await)
                .await
                .expect("HTTP/2 handshake");
            tokio::spawn(connection);
            sender
        });
        Client {
            sender: Sender::Http2(sender),
        }
    }

    pub fn send(&mut self, request: Request) -> Response {
        let started = Instant::now();
        let http2 = matches!(self.sender, Sender::Http2(_));
        let hyper_request = build(request, http2);
        runtime().block_on(async {
            let response = match &mut self.sender {
                Sender::Http1(sender) => {
                    sender.ready().await.expect("HTTP/1.1 connection ready");
                    sender.send_request(hyper_request).await
                }
                Sender::Http2(sender) => {
                    sender.ready().await.expect("HTTP/2 connection ready");
                    sender.send_request(hyper_request).await
                }
            }
            .expect("response");
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let body = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes()
                .to_vec();
            Response {
                status,
                headers,
                body,
                elapsed: started.elapsed(),
            }
        })
    }
}

async fn connect(addr: SocketAddr) -> TokioIo<tokio::net::TcpStream> {
    TokioIo::new(tokio::net::TcpStream::connect(addr).await.expect("connect"))
}

fn build(request: Request, http2: bool) -> hyper::Request<Frames> {
    let uri = if http2 {
        format!("http://{}{}", request.authority, request.path)
    } else {
        request.path.clone()
    };
    let mut builder = hyper::Request::builder()
        .method(request.method.as_str())
        .uri(uri);
    if !http2 {
        builder = builder.header("host", request.authority.as_str());
    }
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_slice());
    }
    builder
        .body(Frames::new(request.body, &request.trailers))
        .expect("valid request")
}

/// Writes `bytes` on a fresh connection and returns what comes back within `wait`
/// (for requests no HTTP library would send).
pub fn send_raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(bytes).expect("write");
    stream.set_read_timeout(Some(wait)).expect("timeout");
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
    }
    answer
}
