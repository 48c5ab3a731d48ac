//! What a response is reduced to for comparison, built as it streams past: status, gRPC
//! status, the listed headers' values, and the body as the `compare.body` mode needs it (a
//! hash, or bytes up to `max_body_bytes`, decompressed). Only that is kept, never more than
//! the cap, whatever the response.
//!
//! Decompression is bounded per callback: a compressed chunk of at most one slice
//! (`slices::INFLATE_SLICE_BYTES`) is inflated as it comes, to at most a slice of output;
//! larger chunks, and what is left when the response ends, are inflated by the root, a slice
//! per tick (`InflationJob`), so that a well-compressed 64 MiB body never holds the worker.

use super::inflate::{Encoding, Inflater};
use super::spec::{BodyMode, CompareSpec};
use crate::http::{grpc_status, is_grpc_content_type, status_code, HeaderMap};
use crate::slices::{Progress, INFLATE_SLICE_BYTES, SLICE_BYTES};
use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::mem::size_of;

/// Why a body was left out of a comparison (status and headers are still compared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotCompared {
    /// Over `max_body_bytes` (after decompression), or too many JSON values.
    TooLarge,
    /// An encoding other than gzip or deflate, or a corrupt compressed stream.
    Encoding,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Body {
    /// `body: "none"`.
    #[default]
    NotKept,
    /// `body: "exact"`: the (decompressed) body's length and hash.
    Hash {
        len: u64,
        hash: u64,
    },
    /// `body: "json"`: the (decompressed) bytes.
    Bytes(Vec<u8>),
    NotCompared(NotCompared),
}

/// A response, reduced to what its comparison needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// `None` when `:status` was missing or not a number.
    pub status: Option<u16>,
    /// For `application/grpc*` responses: from the trailers, or the headers of a
    /// trailers-only response; `None` when absent (or not gRPC).
    pub grpc_status: Option<u32>,
    /// Each captured header name with its values joined by `, ` (`None`: absent).
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub body: Body,
}

impl Summary {
    /// The value of a captured header (`None`: absent, or not captured).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, value)| value.as_deref())
    }

    /// Memory this summary holds (for the memory budget).
    pub fn bytes_held(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| {
                size_of::<(String, Option<Vec<u8>>)>()
                    + name.capacity()
                    + value.as_ref().map_or(0, Vec::capacity)
            })
            .sum();
        let body = match &self.body {
            Body::Bytes(bytes) => bytes.capacity(),
            _ => 0,
        };
        size_of::<Summary>() + headers + body
    }
}

/// What to capture of a response: one candidate's needs, or several candidates' together
/// (a response that serves several comparisons: the original's, a shared reference's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    pub body: BodyMode,
    pub max_body_bytes: usize,
    pub headers: Vec<String>,
}

impl Needs {
    pub fn of(spec: &CompareSpec) -> Needs {
        Needs {
            body: spec.body,
            max_body_bytes: spec.max_body_bytes,
            headers: spec.headers.clone(),
        }
    }

    /// What to capture of the original's response for a request copied to the candidates
    /// `specs()` gives: enough for those compared with the original; `None` if none is (then
    /// nothing of the response is read). They are gone through twice rather than collected:
    /// no allocation per compared request.
    pub fn for_original<'a, Specs>(specs: impl Fn() -> Specs) -> Option<Needs>
    where
        Specs: IntoIterator<Item = &'a CompareSpec>,
    {
        let users = || specs().into_iter().filter(|s| s.needs_original());
        users().next().is_some().then(|| Needs::union(users()))
    }

    /// Enough for every one of `specs`: the widest body mode (bytes serve an exact
    /// comparison too), the largest cap (each comparison applies its own), every header.
    pub fn union<'a>(specs: impl IntoIterator<Item = &'a CompareSpec>) -> Needs {
        let mut needs = Needs {
            body: BodyMode::None,
            max_body_bytes: 0,
            headers: Vec::new(),
        };
        for spec in specs {
            needs.body = match (needs.body, spec.body) {
                (BodyMode::Json, _) | (_, BodyMode::Json) => BodyMode::Json,
                (BodyMode::Exact, _) | (_, BodyMode::Exact) => BodyMode::Exact,
                _ => BodyMode::None,
            };
            if spec.body != BodyMode::None {
                needs.max_body_bytes = needs.max_body_bytes.max(spec.max_body_bytes);
            }
            for name in &spec.headers {
                if !needs.headers.contains(name) {
                    needs.headers.push(name.clone());
                }
            }
        }
        needs
    }
}

/// A response being captured: fed headers, body chunks and trailers, then `finish`ed.
pub struct Capture {
    mode: BodyMode,
    max_body_bytes: usize,
    headers: Vec<String>,
    summary: Summary,
    grpc: bool,
    body: BodyState,
}

enum BodyState {
    /// Nothing to keep (mode "none", or not compared any more: see `summary.body`).
    Ignored,
    Plain(Sink),
    Inflating(Box<Inflating>),
}

/// A compressed body being inflated: the compressed bytes not inflated yet wait in `backlog`
/// (from `taken` on), so that no callback inflates more than a slice.
struct Inflating {
    inflater: Inflater,
    sink: Sink,
    backlog: Vec<u8>,
    taken: usize,
    /// Compressed bytes received so far (see `compressed_cap`).
    received: usize,
}

/// The most compressed bytes kept for a body of at most `cap` bytes: deflate's stored blocks
/// add 5 bytes per 64 KiB, so a compressed body much longer than its cap cannot inflate to
/// within it (a slice's worth more leaves room for gzip's header and trailer).
fn compressed_cap(cap: usize) -> usize {
    cap.saturating_add(cap / 1024).saturating_add(SLICE_BYTES)
}

impl Inflating {
    fn new(encoding: Encoding, sink: Sink) -> Inflating {
        Inflating {
            inflater: Inflater::new(encoding),
            sink,
            backlog: Vec::new(),
            taken: 0,
            received: 0,
        }
    }

    /// Takes a chunk of the compressed body. A chunk of at most a slice, with nothing waiting
    /// before it, is inflated now (at most a slice of output: a small body is done in the
    /// callback that brings it); any other waits in the backlog for the job, so that the
    /// callback only copies it.
    fn chunk(&mut self, chunk: &[u8], cap: usize) -> Result<(), NotCompared> {
        self.received = self.received.saturating_add(chunk.len());
        if self.received > compressed_cap(cap) {
            return Err(NotCompared::TooLarge);
        }
        if self.inflater.finished() {
            return Ok(()); // what follows the stream (gzip's trailer) is ignored
        }
        let mut rest = chunk;
        if !self.has_backlog() && !self.inflater.draining() && chunk.len() <= INFLATE_SLICE_BYTES {
            let taken = self.inflate(chunk, cap)?;
            rest = chunk.get(taken..).unwrap_or_default();
        }
        if !rest.is_empty() && !self.inflater.finished() {
            if !self.has_backlog() {
                self.backlog.clear();
                self.taken = 0;
            }
            self.backlog.extend_from_slice(rest);
        }
        Ok(())
    }

    /// Inflates one slice of the backlog.
    fn slice(&mut self, cap: usize) -> Result<(), NotCompared> {
        let backlog = std::mem::take(&mut self.backlog);
        let rest = backlog.get(self.taken..).unwrap_or_default();
        let taken = self.inflate(rest, cap);
        self.backlog = backlog;
        self.taken = self.taken.saturating_add(taken?);
        if !self.has_backlog() {
            // All taken: the memory goes back at once, not when the response ends.
            self.backlog = Vec::new();
            self.taken = 0;
        }
        Ok(())
    }

    /// At most `INFLATE_SLICE_BYTES` of `input`, producing at most as much output; returns
    /// how much of `input` was taken.
    fn inflate(&mut self, input: &[u8], cap: usize) -> Result<usize, NotCompared> {
        let window = input.get(..INFLATE_SLICE_BYTES).unwrap_or(input);
        let sink = &mut self.sink;
        let mut fits = true;
        let fed = self
            .inflater
            .feed_some(window, INFLATE_SLICE_BYTES, &mut |piece| {
                fits = sink.write(piece, cap);
                fits
            });
        match (fed, fits) {
            (Err(_), _) => Err(NotCompared::Encoding),
            (Ok(_), false) => Err(NotCompared::TooLarge),
            (Ok(taken), true) => Ok(taken),
        }
    }

    fn has_backlog(&self) -> bool {
        self.taken < self.backlog.len() && !self.inflater.finished()
    }

    /// Whether inflation is over: the stream ended, or nothing is left to inflate.
    fn done(&self) -> bool {
        self.inflater.finished() || (!self.has_backlog() && !self.inflater.draining())
    }

    /// Frees what the body held.
    fn give_up(&mut self) {
        self.backlog = Vec::new();
        self.sink = Sink::Bytes(Vec::new());
    }

    fn held(&self) -> usize {
        Inflater::BYTES_HELD + self.sink.held() + self.backlog.capacity()
    }

    /// The body, once `done` (what the sink held is moved out).
    fn take_body(&mut self) -> Body {
        if self.inflater.finished() {
            std::mem::replace(&mut self.sink, Sink::Bytes(Vec::new())).into_body()
        } else {
            // A compressed stream cut short: its bytes say nothing certain.
            Body::NotCompared(NotCompared::Encoding)
        }
    }
}

/// A complete response: its summary, or, when some of its compressed body is still to be
/// inflated, the job that inflates it a slice at a time.
pub enum Finished {
    Ready(Summary),
    Inflating(InflationJob),
}

/// The rest of a compressed response body, inflated a slice per root tick.
pub struct InflationJob {
    summary: Summary,
    inflating: Box<Inflating>,
    max_body_bytes: usize,
}

impl InflationJob {
    /// One slice: at most `INFLATE_SLICE_BYTES` of compressed input, and of output.
    pub fn slice(&mut self) -> Progress<Summary> {
        let result = self.inflating.slice(self.max_body_bytes);
        match result {
            Err(reason) => {
                self.inflating.give_up();
                self.summary.body = Body::NotCompared(reason);
            }
            Ok(()) if self.inflating.done() => self.summary.body = self.inflating.take_body(),
            Ok(()) => return Progress::More,
        }
        Progress::Done(std::mem::take(&mut self.summary))
    }

    /// Memory held now (for the memory budget).
    pub fn bytes_held(&self) -> usize {
        size_of::<InflationJob>() + self.summary.bytes_held() + self.inflating.held()
    }

    /// The worker's memory budget cannot hold the rest: the summary without its body
    /// (`body_not_compared_too_large`); the job is over.
    pub fn leave_body_out(&mut self) -> Summary {
        self.inflating.give_up();
        self.summary.body = Body::NotCompared(NotCompared::TooLarge);
        std::mem::take(&mut self.summary)
    }
}

/// Where body bytes go: a running hash, or a buffer that never grows past the cap.
enum Sink {
    Hash { hasher: DefaultHasher, len: usize },
    Bytes(Vec<u8>),
}

impl Sink {
    fn len(&self) -> usize {
        match self {
            Sink::Hash { len, .. } => *len,
            Sink::Bytes(bytes) => bytes.len(),
        }
    }

    /// False when `bytes` would take the body over `cap` (nothing is kept then).
    fn write(&mut self, bytes: &[u8], cap: usize) -> bool {
        let Some(total) = self.len().checked_add(bytes.len()).filter(|t| *t <= cap) else {
            return false;
        };
        match self {
            Sink::Hash { hasher, len } => {
                hasher.write(bytes);
                *len = total;
            }
            Sink::Bytes(buffer) => {
                if total > buffer.capacity() {
                    // Doubling keeps the copying linear; the cap keeps the allocation bounded.
                    let wanted = total.max(buffer.capacity().saturating_mul(2)).min(cap);
                    buffer.reserve_exact(wanted - buffer.len());
                }
                buffer.extend_from_slice(bytes);
            }
        }
        true
    }

    fn into_body(self) -> Body {
        match self {
            Sink::Hash { hasher, len } => Body::Hash {
                len: len as u64,
                hash: hasher.finish(),
            },
            Sink::Bytes(mut bytes) => {
                // Doubling may have left up to as much again unused, which the pending
                // comparisons would hold against their byte cap; the allocator shrinks in place.
                bytes.shrink_to_fit();
                Body::Bytes(bytes)
            }
        }
    }
}

impl Capture {
    pub fn new(needs: Needs) -> Capture {
        Capture {
            mode: needs.body,
            max_body_bytes: needs.max_body_bytes,
            headers: needs.headers,
            summary: Summary {
                status: None,
                grpc_status: None,
                headers: Vec::new(),
                body: Body::NotKept,
            },
            grpc: false,
            body: BodyState::Ignored,
        }
    }

    /// The response headers (lower-case names). Call once, first.
    pub fn headers(&mut self, headers: &HeaderMap) {
        // The four every capture reads, found in one walk over the map (a walk each before).
        let mut status = None;
        let mut content_type = None;
        let mut grpc = None;
        let mut encoding = None;
        for (name, value) in headers.iter() {
            let slot = match name {
                ":status" => &mut status,
                "content-type" => &mut content_type,
                "grpc-status" => &mut grpc,
                "content-encoding" => &mut encoding,
                _ => continue,
            };
            join(slot, value);
        }
        self.summary.status = status.and_then(|s| status_code(&s));
        self.grpc = content_type.is_some_and(|ct| is_grpc_content_type(&ct));
        if self.grpc {
            // A trailers-only response carries its status here; real trailers replace it.
            self.summary.grpc_status = grpc.map(|s| grpc_status(&s));
        }
        if !self.headers.is_empty() {
            self.summary.headers = std::mem::take(&mut self.headers)
                .into_iter()
                .map(|name| {
                    let found = values(headers, &name).map(Cow::into_owned);
                    (name, found)
                })
                .collect();
        }
        let sink = match self.mode {
            BodyMode::None => return,
            BodyMode::Exact => Sink::Hash {
                hasher: DefaultHasher::new(),
                len: 0,
            },
            BodyMode::Json => Sink::Bytes(Vec::new()),
        };
        self.body = match Encoding::from_header(encoding.as_deref()) {
            Ok(None) => BodyState::Plain(sink),
            Ok(Some(encoding)) => BodyState::Inflating(Box::new(Inflating::new(encoding, sink))),
            Err(_) => self.give_up(NotCompared::Encoding),
        };
    }

    /// Whether body chunks are still wanted: false when the body is not compared (mode
    /// "none", over the cap, an unknown encoding), so the caller need not read them.
    pub fn wants_body(&self) -> bool {
        !matches!(self.body, BodyState::Ignored)
    }

    /// The next piece of the body.
    pub fn body_chunk(&mut self, chunk: &[u8]) {
        let cap = self.max_body_bytes;
        let outcome = match &mut self.body {
            BodyState::Ignored => return,
            BodyState::Plain(sink) => sink
                .write(chunk, cap)
                .then_some(())
                .ok_or(NotCompared::TooLarge),
            BodyState::Inflating(inflating) => inflating.chunk(chunk, cap),
        };
        if let Err(reason) = outcome {
            self.body = self.give_up(reason);
        }
    }

    /// The next piece of the body, handed over: the first piece of a body kept as bytes is
    /// kept as it is, not copied (a body that comes in one piece, the usual compared answer,
    /// costs no allocation and no copy of its own); any other as `body_chunk`.
    pub fn body_chunk_owned(&mut self, chunk: Vec<u8>) {
        if let BodyState::Plain(Sink::Bytes(buffer)) = &mut self.body {
            if buffer.is_empty() && chunk.len() <= self.max_body_bytes {
                *buffer = chunk;
                return;
            }
        }
        self.body_chunk(&chunk);
    }

    /// The worker's memory budget cannot hold the body: it is left out of the comparison
    /// (`body_not_compared_too_large`), status and headers are still compared.
    pub fn leave_body_out(&mut self) {
        self.body = self.give_up(NotCompared::TooLarge);
    }

    /// The response trailers (lower-case names).
    pub fn trailers(&mut self, trailers: &HeaderMap) {
        if self.grpc {
            if let Some(status) = values(trailers, "grpc-status") {
                self.summary.grpc_status = Some(grpc_status(&status));
            }
        }
    }

    /// Memory held now (for the memory budget).
    pub fn bytes_held(&self) -> usize {
        let body = match &self.body {
            BodyState::Ignored => 0,
            BodyState::Plain(sink) => sink.held(),
            BodyState::Inflating(inflating) => inflating.held(),
        };
        let names: usize = self.headers.iter().map(String::capacity).sum();
        size_of::<Capture>() - size_of::<Summary>() + self.summary.bytes_held() + names + body
    }

    /// The complete response: its summary, or the job that inflates the rest of its body.
    pub fn finish(mut self) -> Finished {
        match std::mem::replace(&mut self.body, BodyState::Ignored) {
            BodyState::Ignored => {}
            BodyState::Plain(sink) => self.summary.body = sink.into_body(),
            BodyState::Inflating(mut inflating) if inflating.done() => {
                self.summary.body = inflating.take_body();
            }
            BodyState::Inflating(inflating) => {
                return Finished::Inflating(InflationJob {
                    summary: self.summary,
                    inflating,
                    max_body_bytes: self.max_body_bytes,
                })
            }
        }
        Finished::Ready(self.summary)
    }

    /// Drops whatever the body held; the comparison goes on without it.
    fn give_up(&mut self, reason: NotCompared) -> BodyState {
        self.summary.body = Body::NotCompared(reason);
        BodyState::Ignored
    }
}

impl Sink {
    fn held(&self) -> usize {
        match self {
            Sink::Hash { .. } => 0,
            Sink::Bytes(bytes) => bytes.capacity(),
        }
    }
}

/// All values of `name`, joined by `, ` (HTTP's meaning of a repeated header): borrowed when
/// there is one (the usual case: a copy per header read cost an allocation in the VM).
fn values<'h>(headers: &'h HeaderMap, name: &str) -> Option<Cow<'h, [u8]>> {
    let mut joined: Option<Cow<'h, [u8]>> = None;
    for value in headers.values(name) {
        join(&mut joined, value);
    }
    joined
}

/// Adds one more `value` of a header to those found so far in `joined`.
fn join<'h>(joined: &mut Option<Cow<'h, [u8]>>, value: &'h [u8]) {
    match joined {
        None => *joined = Some(Cow::Borrowed(value)),
        Some(joined) => {
            let joined = joined.to_mut();
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{grpc_status as grpc_status_of, GRPC_STATUS_UNREADABLE};
    use miniz_oxide::deflate::{compress_to_vec, compress_to_vec_zlib};

    fn spec(body: BodyMode, max_body_bytes: usize) -> CompareSpec {
        CompareSpec {
            body,
            max_body_bytes,
            headers: vec!["content-type".into(), "x-version".into()],
            ..CompareSpec::new()
        }
    }

    fn headers(list: &[(&str, &str)]) -> HeaderMap {
        HeaderMap::from_pairs(list.iter().map(|(n, v)| (*n, v.as_bytes())))
    }

    /// The summary of a complete response, with its inflation run to the end.
    fn finished(capture: Capture) -> Summary {
        match capture.finish() {
            Finished::Ready(summary) => summary,
            Finished::Inflating(mut job) => loop {
                if let Progress::Done(summary) = job.slice() {
                    break summary;
                }
            },
        }
    }

    fn capture(spec: &CompareSpec, head: &[(&str, &str)], chunks: &[&[u8]]) -> Summary {
        let mut capture = Capture::new(Needs::of(spec));
        capture.headers(&headers(head));
        for chunk in chunks {
            capture.body_chunk(chunk);
        }
        finished(capture)
    }

    #[test]
    fn a_body_handed_over_is_kept_as_one_read_a_piece_at_a_time() {
        let s = spec(BodyMode::Json, 10);
        let head = [(":status", "200")];
        let handed = |chunks: &[&[u8]]| {
            let mut capture = Capture::new(Needs::of(&s));
            capture.headers(&headers(&head));
            for chunk in chunks {
                capture.body_chunk_owned(chunk.to_vec());
            }
            finished(capture)
        };
        for chunks in [
            &[&b"{}"[..]][..],
            &[b"[1,", b"", b"2]"],
            &[b"", b"[1]"],
            &[],
        ] {
            assert_eq!(handed(chunks), capture(&s, &head, chunks), "{chunks:?}");
        }
        let over = [&b"[1,2,3,4,5]"[..]];
        assert_eq!(
            handed(&over).body,
            Body::NotCompared(NotCompared::TooLarge),
            "the cap holds for a piece handed over"
        );
        assert_eq!(
            handed(&[b"[1,2,", b"3,4,5]"]).body,
            capture(&s, &head, &over).body
        );
        let gzip_head = [(":status", "200"), ("content-encoding", "gzip")];
        let compressed = gzip(b"[7]", 6);
        let mut inflated = Capture::new(Needs::of(&s));
        inflated.headers(&headers(&gzip_head));
        inflated.body_chunk_owned(compressed);
        assert_eq!(
            finished(inflated).body,
            Body::Bytes(b"[7]".to_vec()),
            "inflated"
        );
    }

    #[test]
    fn the_headers_read_in_one_walk_are_read_as_each_on_its_own() {
        let s = spec(BodyMode::Exact, 100);
        for head in [
            &[(":status", "200"), ("content-type", "application/grpc")][..],
            &[(":status", "200"), (":status", "200")],
            &[
                ("grpc-status", "3"),
                ("content-type", "application/grpc+proto"),
            ],
            &[
                ("content-type", "text/plain"),
                ("content-type", "application/grpc"),
            ],
            &[
                ("content-type", "application/grpc"),
                ("grpc-status", "1"),
                ("grpc-status", "2"),
            ],
            &[("content-encoding", "gzip"), ("content-encoding", "gzip")],
            &[
                ("content-encoding", "br"),
                ("x-version", "1"),
                ("x-version", "2"),
            ],
            &[(":status", "20x"), ("content-type", "application/grpc")],
            &[],
        ] {
            let map = headers(head);
            let summary = capture(&s, head, &[]);
            let status = values(&map, ":status")
                .and_then(|s| std::str::from_utf8(&s).ok()?.parse::<u16>().ok());
            assert_eq!(summary.status, status, "{head:?}");
            let grpc = values(&map, "content-type").is_some_and(|ct| is_grpc_content_type(&ct));
            let grpc_status = values(&map, "grpc-status").filter(|_| grpc);
            assert_eq!(summary.grpc_status, grpc_status.map(|s| grpc_status_of(&s)));
            let encoding = Encoding::from_header(values(&map, "content-encoding").as_deref());
            let expected_body = match encoding {
                Err(_) => Body::NotCompared(NotCompared::Encoding),
                Ok(_) => Body::Hash {
                    len: 0,
                    hash: DefaultHasher::new().finish(),
                },
            };
            if encoding.is_err() || summary.body != Body::NotCompared(NotCompared::Encoding) {
                assert_eq!(summary.body, expected_body, "{head:?}");
            }
            let version = values(&map, "x-version").map(Cow::into_owned);
            assert_eq!(summary.header("x-version"), version.as_deref(), "{head:?}");
        }
    }

    /// A gzip member with every optional header field, so the header parser meets them all.
    fn gzip(data: &[u8], level: u8) -> Vec<u8> {
        let flags = 2 | 4 | 8 | 16;
        let mut out = vec![0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 255];
        out.extend_from_slice(&[3, 0, b'a', b'b', b'c']); // FEXTRA
        out.extend_from_slice(b"name.json\0");
        out.extend_from_slice(b"a comment\0");
        out.extend_from_slice(&[0x12, 0x34]); // FHCRC (not checked)
        out.extend_from_slice(&compress_to_vec(data, level));
        out.extend_from_slice(&[0; 8]); // CRC32 and ISIZE (not checked)
        out
    }

    #[test]
    fn status_listed_headers_and_grpc_status_are_kept() {
        let s = spec(BodyMode::None, 100);
        let summary = capture(
            &s,
            &[
                (":status", "200"),
                ("content-type", "text/plain"),
                ("x-version", "1"),
                ("x-version", "2"),
                ("grpc-status", "13"),
            ],
            &[b"ignored"],
        );
        assert_eq!(summary.status, Some(200));
        assert_eq!(summary.grpc_status, None, "not a gRPC response");
        assert_eq!(summary.header("content-type"), Some(&b"text/plain"[..]));
        assert_eq!(summary.header("x-version"), Some(&b"1, 2"[..]));
        assert_eq!(summary.header("server"), None, "not captured");
        assert_eq!(summary.body, Body::NotKept);
        let missing = capture(&s, &[(":status", "abc")], &[]);
        assert_eq!(missing.status, None);
        assert_eq!(
            missing.headers,
            [
                ("content-type".to_string(), None),
                ("x-version".to_string(), None)
            ]
        );
    }

    #[test]
    fn grpc_status_comes_from_trailers_or_a_trailers_only_response() {
        let s = spec(BodyMode::None, 100);
        let mut capture = Capture::new(Needs::of(&s));
        capture.headers(&headers(&[
            (":status", "200"),
            ("content-type", "application/grpc+proto"),
        ]));
        capture.trailers(&headers(&[("grpc-status", "13"), ("grpc-message", "boom")]));
        assert_eq!(finished(capture).grpc_status, Some(13));
        let trailers_only = capture_grpc(&[("grpc-status", "0")], &[]);
        assert_eq!(trailers_only, Some(0));
        assert_eq!(
            capture_grpc(&[("grpc-status", "0")], &[("grpc-status", "14")]),
            Some(14)
        );
        assert_eq!(
            capture_grpc(&[], &[("grpc-status", "x")]),
            Some(GRPC_STATUS_UNREADABLE)
        );
        assert_eq!(capture_grpc(&[], &[]), None);
    }

    fn capture_grpc(head: &[(&str, &str)], trailers: &[(&str, &str)]) -> Option<u32> {
        let s = spec(BodyMode::None, 100);
        let mut capture = Capture::new(Needs::of(&s));
        let mut all = vec![(":status", "200"), ("content-type", "application/grpc")];
        all.extend_from_slice(head);
        capture.headers(&headers(&all));
        capture.trailers(&headers(trailers));
        finished(capture).grpc_status
    }

    #[test]
    fn json_bodies_are_kept_up_to_the_cap_and_dropped_beyond() {
        let s = spec(BodyMode::Json, 10);
        let kept = capture(&s, &[(":status", "200")], &[b"{\"a\":", b"1}"]);
        assert_eq!(kept.body, Body::Bytes(b"{\"a\":1}".to_vec()));
        let exact_fit = capture(&s, &[], &[b"0123456789"]);
        assert_eq!(exact_fit.body, Body::Bytes(b"0123456789".to_vec()));
        let mut over = Capture::new(Needs::of(&s));
        over.headers(&HeaderMap::default());
        let empty = over.bytes_held();
        over.body_chunk(b"01234");
        over.body_chunk(b"567890");
        assert!(!over.wants_body(), "nothing more to read once over the cap");
        assert!(over.bytes_held() <= empty, "the bytes are dropped");
        over.body_chunk(b"more");
        assert_eq!(
            finished(over).body,
            Body::NotCompared(NotCompared::TooLarge)
        );
    }

    #[test]
    fn the_buffer_never_grows_past_the_cap() {
        let cap = 1000;
        let s = spec(BodyMode::Json, cap);
        let mut capture = Capture::new(Needs::of(&s));
        capture.headers(&HeaderMap::default());
        let empty = capture.bytes_held();
        for _ in 0..cap {
            capture.body_chunk(b"x");
            assert!(capture.bytes_held() <= empty + cap);
        }
        match finished(capture).body {
            Body::Bytes(bytes) => assert!(bytes.len() == cap && bytes.capacity() <= cap),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exact_mode_keeps_a_hash_independent_of_chunking() {
        let s = spec(BodyMode::Exact, 100);
        let whole = capture(&s, &[], &[b"hello world"]);
        let pieces = capture(&s, &[], &[b"hel", b"", b"lo w", b"orld"]);
        let other = capture(&s, &[], &[b"hello worle"]);
        assert_eq!(whole.body, pieces.body);
        assert_ne!(whole.body, other.body);
        assert!(matches!(whole.body, Body::Hash { len: 11, .. }));
        let mut big = Capture::new(Needs::of(&s));
        big.headers(&HeaderMap::default());
        let empty = big.bytes_held();
        big.body_chunk(&[b'x'; 100]);
        assert!(big.bytes_held() == empty, "a hash, not the body");
        big.body_chunk(b"!");
        assert_eq!(finished(big).body, Body::NotCompared(NotCompared::TooLarge));
    }

    #[test]
    fn gzip_bodies_of_equal_content_are_equal_whatever_their_compression() {
        let json = br#"{"items": [1, 2, 3], "name": "widget"}"#.repeat(20);
        let s = spec(BodyMode::Json, json.len());
        let fast = gzip(&json, 1);
        let best = gzip(&json, 9);
        assert_ne!(fast, best);
        let gz = [(":status", "200"), ("content-encoding", "gzip")];
        let a = capture(&s, &gz, &[&fast]);
        // Byte by byte: the header parser and the inflater resume at every boundary.
        let pieces: Vec<&[u8]> = best.chunks(1).collect();
        let b = capture(&s, &gz, &pieces);
        assert_eq!(a.body, Body::Bytes(json.clone()));
        assert_eq!(a.body, b.body);
        let exact = spec(BodyMode::Exact, json.len());
        let plain = capture(&exact, &[], &[&json]);
        assert_eq!(
            capture(&exact, &[("content-encoding", "x-gzip")], &[&best]).body,
            plain.body
        );
    }

    #[test]
    fn deflate_is_read_zlib_wrapped_or_raw() {
        let data = b"{\"a\": [true, false, null]}".repeat(10);
        let s = spec(BodyMode::Json, 1000);
        let deflate = [("content-encoding", "Deflate")];
        for encoded in [compress_to_vec_zlib(&data, 6), compress_to_vec(&data, 6)] {
            assert_eq!(
                capture(&s, &deflate, &[&encoded]).body,
                Body::Bytes(data.clone())
            );
        }
    }

    #[test]
    fn other_encodings_and_corrupt_streams_are_not_compared() {
        let s = spec(BodyMode::Json, 1000);
        for encoding in ["br", "zstd", "gzip, br", "compress"] {
            let mut capture = Capture::new(Needs::of(&s));
            capture.headers(&headers(&[("content-encoding", encoding)]));
            assert!(!capture.wants_body(), "{encoding}");
            assert_eq!(
                finished(capture).body,
                Body::NotCompared(NotCompared::Encoding)
            );
        }
        let identity = capture(&s, &[("content-encoding", "identity")], &[b"x"]);
        assert_eq!(identity.body, Body::Bytes(b"x".to_vec()));
        let gz = [("content-encoding", "gzip")];
        let good = gzip(b"{\"a\": 1}", 6);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("not gzip at all", b"{\"a\": 1}".to_vec()),
            ("reserved flag", {
                let mut g = good.clone();
                g[3] |= 0x80;
                g
            }),
            ("wrong method", {
                let mut g = good.clone();
                g[2] = 7;
                g
            }),
            ("cut short", good[..good.len() - 12].to_vec()),
            ("header only", good[..12].to_vec()),
            ("garbage deflate", {
                let mut g = good[..10].to_vec();
                g.extend_from_slice(&[0xff; 40]);
                g
            }),
        ];
        for (what, body) in cases {
            let summary = capture(&spec(BodyMode::Json, 1000), &gz, &[&body]);
            assert_eq!(
                summary.body,
                Body::NotCompared(NotCompared::Encoding),
                "{what}"
            );
        }
    }

    #[test]
    fn a_zip_bomb_costs_at_most_the_cap() {
        let bomb = gzip(&vec![0u8; 20 << 20], 9);
        assert!(bomb.len() < 64 << 10, "{}", bomb.len());
        let cap = 64 << 10;
        for mode in [BodyMode::Json, BodyMode::Exact] {
            let s = spec(mode, cap);
            let mut capture = Capture::new(Needs::of(&s));
            capture.headers(&headers(&[("content-encoding", "gzip")]));
            let mut read = 0;
            for chunk in bomb.chunks(4096) {
                capture.body_chunk(chunk);
                read += chunk.len();
                // The cap, and at most the input read (waiting to be inflated, a slice a chunk,
                // in a buffer that grows by doubling).
                let most = size_of::<Capture>()
                    + size_of::<Inflating>()
                    + Inflater::BYTES_HELD
                    + cap
                    + 2 * read;
                assert!(
                    capture.bytes_held() <= most,
                    "{} > {most} after {read}",
                    capture.bytes_held()
                );
            }
            // The rest is inflated by the job, which stops at the cap.
            assert_eq!(
                finished(capture).body,
                Body::NotCompared(NotCompared::TooLarge)
            );
        }
    }

    #[test]
    fn a_large_compressed_body_is_inflated_a_slice_at_a_time_to_the_same_bytes() {
        let json = br#"{"items": [1, 2, 3], "name": "widget"}"#.repeat(40_000);
        let s = spec(BodyMode::Json, json.len());
        let gz = gzip(&json, 6);
        let mut capture = Capture::new(Needs::of(&s));
        capture.headers(&headers(&[("content-encoding", "gzip")]));
        capture.body_chunk(&gz);
        let inline = match &capture.body {
            BodyState::Inflating(inflating) => inflating.sink.len(),
            _ => panic!("still inflating"),
        };
        assert!(
            inline <= INFLATE_SLICE_BYTES,
            "one slice in the callback: {inline}"
        );
        let Finished::Inflating(mut job) = capture.finish() else {
            panic!("the rest is a job");
        };
        let mut slices = 0;
        let mut written = inline;
        let summary = loop {
            slices += 1;
            let progress = job.slice();
            let now = match &job.inflating.sink {
                Sink::Bytes(bytes) => bytes.len(),
                Sink::Hash { len, .. } => *len,
            };
            // (The last slice moves the body out: the sink is empty then.)
            assert!(
                now.saturating_sub(written) <= INFLATE_SLICE_BYTES,
                "a slice at most"
            );
            written = now;
            if let Progress::Done(summary) = progress {
                break summary;
            }
        };
        assert!(
            slices >= json.len() / (INFLATE_SLICE_BYTES),
            "{slices} slices"
        );
        assert_eq!(summary.body, Body::Bytes(json.clone()));
        assert_eq!(summary, capture_whole(&s, &gz), "as one piece");
    }

    /// The summary of a gzip response handed over whole and inflated to the end.
    fn capture_whole(s: &CompareSpec, gz: &[u8]) -> Summary {
        capture(s, &[("content-encoding", "gzip")], &[gz])
    }

    #[test]
    fn one_capture_serves_several_comparisons() {
        let a = CompareSpec {
            body: BodyMode::Exact,
            max_body_bytes: 10,
            headers: vec!["a".into(), "b".into()],
            ..CompareSpec::new()
        };
        let b = CompareSpec {
            body: BodyMode::Json,
            max_body_bytes: 5,
            headers: vec!["b".into(), "c".into()],
            ..CompareSpec::new()
        };
        let none = CompareSpec::new();
        let needs = Needs::union([&a, &b, &none]);
        assert_eq!(needs.body, BodyMode::Json);
        assert_eq!(needs.max_body_bytes, 10);
        assert_eq!(needs.headers, ["a", "b", "c"]);
        assert_eq!(Needs::union([&none, &a]).body, BodyMode::Exact);
        let against_target = CompareSpec {
            against: crate::compare::spec::Reference::Target(3),
            ..b.clone()
        };
        assert_eq!(Needs::for_original(|| [&against_target]), None);
        assert_eq!(
            Needs::for_original(|| [&against_target, &a]),
            Some(Needs::of(&a))
        );
        assert_eq!(Needs::union([&none]).body, BodyMode::None);
    }

    /// Random bytes and corrupted streams, cut anywhere: never a panic, never over the cap.
    #[test]
    fn hostile_compressed_bodies_are_bounded_and_never_panic() {
        let good = gzip(&br#"{"a": [1, 2, 3], "b": "text"}"#.repeat(50), 6);
        for seed in 0..400 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut body = if rng.bool() {
                good.clone()
            } else {
                (0..rng.usize(0..200)).map(|_| rng.u8(..)).collect()
            };
            for _ in 0..rng.usize(0..4) {
                if !body.is_empty() {
                    let at = rng.usize(0..body.len());
                    body[at] = rng.u8(..);
                }
            }
            let encoding = ["gzip", "deflate"][rng.usize(0..2)];
            let cap = rng.usize(0..2000);
            let s = spec(BodyMode::Json, cap);
            let mut capture = Capture::new(Needs::of(&s));
            capture.headers(&headers(&[("content-encoding", encoding)]));
            let empty = capture.bytes_held();
            let mut rest = &body[..];
            while !rest.is_empty() {
                let (chunk, after) = rest.split_at(rng.usize(1..=rest.len()));
                capture.body_chunk(chunk);
                rest = after;
                assert!(capture.bytes_held() <= empty + Inflater::BYTES_HELD + cap);
            }
            match finished(capture).body {
                Body::Bytes(bytes) => assert!(bytes.len() <= cap),
                Body::NotCompared(_) => {}
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn summaries_count_what_they_hold() {
        let s = spec(BodyMode::Json, 1 << 20);
        let small = capture(&s, &[], &[b"x"]);
        let large = capture(&s, &[("x-version", "v")], &[&[b'y'; 5000]]);
        assert!(large.bytes_held() >= small.bytes_held() + 5000);
    }
}
