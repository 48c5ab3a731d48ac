use crate::frames::Frames;
use crate::runtime::runtime;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// One request as a backend received it, whole.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    /// "HTTP/1.1" or "HTTP/2.0".
    pub version: String,
    /// Every header in arrival order, with `host` for the request's authority.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, Vec<u8>)>,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_bytes(name)
            .and_then(|value| std::str::from_utf8(value).ok())
    }

    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.header_bytes(name).is_some()
    }

    /// The headers that describe the request itself, sorted: without hop-by-hop headers,
    /// `content-length`, and what Envoy adds on each leg (`x-forwarded-*`, `x-envoy-*`), so
    /// that an original and its copy can be compared.
    pub fn end_to_end_headers(&self) -> Vec<(String, Vec<u8>)> {
        const PER_LEG: [&str; 7] = [
            "connection",
            "keep-alive",
            "transfer-encoding",
            "te",
            "upgrade",
            "content-length",
            "proxy-connection",
        ];
        let mut headers: Vec<(String, Vec<u8>)> = self
            .headers
            .iter()
            .filter(|(name, _)| {
                let name = name.to_ascii_lowercase();
                !PER_LEG.contains(&name.as_str())
                    && !name.starts_with("x-forwarded-")
                    && !name.starts_with("x-envoy-")
            })
            .cloned()
            .collect();
        headers.sort();
        headers
    }
}

/// How a backend answers.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Held after the whole request has arrived (and been recorded), before answering.
    pub delay: Duration,
    pub status: u16,
    pub reply: &'static str,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            delay: Duration::ZERO,
            status: 200,
            reply: "ok",
        }
    }
}

/// A response decided per request, for backends whose answers a test controls.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, Vec<u8>)>,
    /// Held after the whole request has arrived, before answering.
    pub delay: Duration,
    /// After `body`, the response never ends.
    pub never_ends: bool,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
            trailers: Vec::new(),
            delay: Duration::ZERO,
            never_ends: false,
        }
    }

    /// A JSON body with its content type.
    pub fn json(status: u16, body: &str) -> Reply {
        Reply::new(status, body).header("content-type", "application/json")
    }

    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Reply {
        self.headers.push((name.into(), value.as_ref().to_vec()));
        self
    }

    pub fn with_body(mut self, body: Vec<u8>) -> Reply {
        self.body = body;
        self
    }

    pub fn trailer(mut self, name: &str, value: &str) -> Reply {
        self.trailers.push((name.into(), value.as_bytes().to_vec()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    pub fn never_ending(mut self) -> Reply {
        self.never_ends = true;
        self
    }
}

/// How a backend that replies per request decides its answer.
pub type Replier = Arc<dyn Fn(&Received) -> Reply + Send + Sync>;

/// A recording HTTP server (HTTP/1.1 and HTTP/2 cleartext) on loopback.
pub struct Backend {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Received>>>,
    task: JoinHandle<()>,
}

impl Backend {
    pub fn start() -> Backend {
        Backend::with(Behaviour::default())
    }

    /// A backend that takes `delay` to answer each request.
    pub fn slow(delay: Duration) -> Backend {
        Backend::with(Behaviour {
            delay,
            ..Behaviour::default()
        })
    }

    pub fn with(behaviour: Behaviour) -> Backend {
        Backend::bind("127.0.0.1:0".parse().expect("address"), behaviour).expect("bind backend")
    }

    /// A backend whose answer to each request is `reply(request)`.
    pub fn replying(reply: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Backend {
        Backend::bind_replying("127.0.0.1:0".parse().expect("address"), reply)
            .expect("bind backend")
    }

    /// `replying`, on a given address.
    pub fn bind_replying(
        addr: SocketAddr,
        reply: impl Fn(&Received) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<Backend> {
        Backend::serve_with(addr, Arc::new(reply))
    }

    pub fn bind(addr: SocketAddr, behaviour: Behaviour) -> std::io::Result<Backend> {
        let replier: Replier = Arc::new(move |_: &Received| Reply {
            delay: behaviour.delay,
            ..Reply::new(behaviour.status, behaviour.reply)
        });
        Backend::serve_with(addr, replier)
    }

    fn serve_with(addr: SocketAddr, replier: Replier) -> std::io::Result<Backend> {
        let listener = listen(addr)?;
        let addr = listener.local_addr()?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let task = runtime().spawn(serve(listener, replier, Arc::clone(&log)));
        Ok(Backend { addr, log, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.lock().expect("backend log").clone()
    }

    pub fn count(&self) -> usize {
        self.log.lock().expect("backend log").len()
    }

    /// Waits until at least `n` requests have arrived whole.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        crate::eventually(&format!("{n} requests at {}", self.addr), timeout, || {
            let received = self.received();
            (received.len() >= n).then_some(received)
        })
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How many connections may wait to be accepted: a test that opens a thousand at once must
/// not see Envoy's 0.25 s connect timeout expire on a full queue (std's default is 128).
const ACCEPT_BACKLOG: u32 = 4096;

/// A non-blocking listener on `addr` with a deep accept queue (and `SO_REUSEADDR`, as std's).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let _runtime = runtime().enter();
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)?.into_std()
}

/// An address nobody listens on: a mirror target that is down.
pub fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

async fn serve(listener: TcpListener, replier: Replier, log: Arc<Mutex<Vec<Received>>>) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let replier = Arc::clone(&replier);
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            let service =
                service_fn(move |request| answer(request, Arc::clone(&replier), Arc::clone(&log)));
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    request: hyper::Request<Incoming>,
    replier: Replier,
    log: Arc<Mutex<Vec<Received>>>,
) -> Result<hyper::Response<Frames>, hyper::Error> {
    let (parts, body) = request.into_parts();
    let collected = body.collect().await?;
    let trailers = collected.trailers().map(header_pairs).unwrap_or_default();
    let mut headers = header_pairs(&parts.headers);
    if let Some(authority) = parts
        .uri
        .authority()
        .filter(|_| !parts.headers.contains_key("host"))
    {
        // HTTP/2 carries the host as :authority; record it as `host` for both protocols.
        headers.insert(
            0,
            ("host".to_string(), authority.as_str().as_bytes().to_vec()),
        );
    }
    let received = Received {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        version: format!("{:?}", parts.version),
        headers,
        body: collected.to_bytes().to_vec(),
        trailers,
        at: Instant::now(),
    };
    let reply = replier(&received);
    log.lock().expect("backend log").push(received);
    tokio::time::sleep(reply.delay).await;
    let mut response = hyper::Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(name.as_str(), value.as_slice());
    }
    let mut body = Frames::new(reply.body, &reply.trailers);
    if reply.never_ends {
        body = body.open_ended();
    }
    Ok(response.body(body).expect("response"))
}

fn header_pairs(headers: &hyper::HeaderMap) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
        .collect()
}
