//! Building copies from what the original request carried.
//!
//! The original is never touched: everything here works on our own copy of its headers and
//! body, taken while the original streams past.

use crate::baggage;
use crate::config::{Config, Target};
use crate::copy_log::{request_id, CopyRecord};
use crate::endpoints::Endpoints;
use crate::http::{is_hop_by_hop, HeaderMap};
use crate::redact::body::{redact_body, BodyHeaders, Unsendable};
use crate::redact::query::redact_query;
use crate::redact::removes_header;
use crate::redact::sliced::SlicedRedaction;
use crate::redact::Redaction;
use crate::tracing::{trace_id, Sampled, Unsampled};

/// Why a request that a target wanted is not copied after all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// `:method`, `:path` or `:authority` is missing or unreadable, so no copy can be dispatched.
    Unroutable,
    /// Its body outgrew `body.max_bytes`: a truncated copy would lie to the target.
    BodyTooLarge,
    /// Its body is taken to be JSON (by its type or its first byte) and must be redacted, but
    /// is not valid JSON: never sent unredacted.
    UnparseableBody,
    /// Body redaction is configured and its body cannot be read with certainty: a
    /// `content-encoding`, an unreadable or doubled `content-type`, a multipart body that is
    /// not strictly well-formed.
    UnredactableBody,
    /// Envoy could not hand over its headers or part of its body.
    Unreadable,
    /// The client went away before the request was complete.
    Abandoned,
    /// Holding it would go over the worker's memory budget for copies
    /// (`body.max_buffered_bytes`), or the VM could not allocate it.
    MemoryBudget,
}

impl From<Unsendable> for Skip {
    fn from(refusal: Unsendable) -> Skip {
        match refusal {
            Unsendable::Unparseable => Skip::UnparseableBody,
            Unsendable::Unredactable => Skip::UnredactableBody,
        }
    }
}

/// Where one header the copies carry lies in `CapturedRequest::text`: its name, then its value.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Field {
    start: usize,
    name_end: usize,
    end: usize,
}

/// What every copy of one request shares: its scrubbed headers, its body and its scrubbed
/// trailers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CapturedRequest {
    /// The names and values of the headers the copies carry, end to end, then the
    /// authority and (once complete) the length: two allocations for all the headers
    /// (this and `headers`) instead of two per header.
    text: String,
    /// `:method`, `:path` and the end-to-end headers left after redaction, in `text`.
    headers: Vec<Field>,
    /// The original `:authority` with `host_suffix` applied, in `text`.
    authority: std::ops::Range<usize>,
    body: Vec<u8>,
    /// The original's trailers, scrubbed like its headers (gRPC's checksums, statuses).
    trailers: Vec<(String, String)>,
    /// Set once the request is complete, when the original declared a length or had a body
    /// (in `text`).
    content_length: Option<std::ops::Range<usize>>,
    had_content_length: bool,
    /// What `content-type` and `content-encoding` say about the body, for body redaction. Taken
    /// from the original's headers before any is redacted or found unreadable.
    body_headers: BodyHeaders,
    /// The original's `content-length`, to size the body's allocation once.
    declared_length: Option<usize>,
    /// How the headers change in the copies of targets whose traces are never sampled;
    /// `None` when no target says so or there is nothing to change.
    unsampled: Option<Unsampled>,
}

/// Takes the original's headers over in one pass: redaction (headers and query) and
/// hop-by-hop filtering. The loop guard has been applied already (see `decide`).
pub fn capture_headers(raw: &HeaderMap, config: &Config) -> Result<CapturedRequest, Skip> {
    let redaction = &config.redaction;
    let mut captured = CapturedRequest {
        text: String::with_capacity(raw.text_len().saturating_add(config.host_suffix.len())),
        headers: Vec::with_capacity(raw.len()),
        ..Default::default()
    };
    let mut authority = None;
    let mut connection_options = None;
    let (mut has_method, mut has_path) = (false, false);
    for (name, value) in raw.iter() {
        captured.body_headers.add(name, value);
        let Some(value) = crate::http::text(value) else {
            if name.starts_with(':') {
                return Err(Skip::Unroutable);
            }
            // Left out: the SDK's dispatch takes `&str`.
            continue;
        };
        match name {
            ":authority" => authority = Some(value),
            ":path" => {
                has_path = true;
                let redacted = redact_query(value, redaction.parameters());
                captured.keep(name, redacted.as_deref().unwrap_or(value));
            }
            ":method" => {
                has_method = true;
                captured.keep(name, value);
            }
            "connection" => connection_options = Some(value),
            "content-length" => {
                captured.had_content_length = true;
                captured.declared_length = value.trim().parse().ok();
            }
            "te" if value.eq_ignore_ascii_case("trailers") => captured.keep(name, value),
            other if other.starts_with(':') || is_hop_by_hop(other) => {}
            other if removes_header(&redaction.headers, other) => {}
            _ => captured.keep(name, value),
        }
    }
    let authority = authority
        .filter(|_| has_method && has_path)
        .ok_or(Skip::Unroutable)?;
    let start = captured.text.len();
    for piece in with_host_suffix(authority, &config.host_suffix) {
        captured.text.push_str(piece);
    }
    captured.authority = start..captured.text.len();
    if let Some(options) = connection_options {
        // Headers the client named in `Connection` are for this hop only (RFC 9110, 7.6.1).
        let hop_only = connection_options_sorted(options);
        let text = &captured.text;
        captured.headers.retain(|field| {
            let name = text.get(field.start..field.name_end).unwrap_or_default();
            hop_only
                .binary_search_by(|option| option.as_str().cmp(name))
                .is_err()
        });
    }
    captured.plan_beyond_first_hop(config);
    Ok(captured)
}

/// The header names a `Connection` value lists, lower-cased (as Envoy hands names over),
/// sorted: looking each header up costs a binary search, so a request with many headers and a
/// long `Connection` list is still handled in n log n, never n x m.
fn connection_options_sorted(value: &str) -> Vec<String> {
    let mut options: Vec<String> = value
        .split(',')
        .map(|option| option.trim().to_ascii_lowercase())
        .filter(|option| !option.is_empty())
        .collect();
    options.sort_unstable();
    options.dedup();
    options
}

/// Appends `suffix` to the host, before any port, as Envoy's native mirroring does:
/// `shop.example:8080` with `-shadow` becomes `shop.example-shadow:8080`. The new authority
/// in three pieces, to be written one after the other (no string of its own).
pub fn with_host_suffix<'a>(authority: &'a str, suffix: &'a str) -> [&'a str; 3] {
    if suffix.is_empty() {
        return [authority, "", ""];
    }
    match authority.rfind(':') {
        // A colon inside `[...]` belongs to an IPv6 literal, not to a port.
        Some(at) if !authority.get(at..).unwrap_or_default().contains(']') => [
            authority.get(..at).unwrap_or_default(),
            suffix,
            authority.get(at..).unwrap_or_default(),
        ],
        _ => [authority, suffix, ""],
    }
}

impl CapturedRequest {
    /// Adds a header the copies carry.
    fn keep(&mut self, name: &str, value: &str) {
        let start = self.text.len();
        self.text.push_str(name);
        let name_end = self.text.len();
        self.text.push_str(value);
        let end = self.text.len();
        self.headers.push(Field {
            start,
            name_end,
            end,
        });
    }

    /// The headers the copies carry, (name, value), in the order they came.
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.headers.iter().map(|field| {
            let text = |range: std::ops::Range<usize>| self.text.get(range).unwrap_or_default();
            (
                text(field.start..field.name_end),
                text(field.name_end..field.end),
            )
        })
    }

    fn authority(&self) -> &str {
        self.text.get(self.authority.clone()).unwrap_or_default()
    }

    /// What the copies' trace headers need, worked out once for all targets (their
    /// baggage is marked as each copy goes out: `marked_baggage`).
    fn plan_beyond_first_hop(&mut self, config: &Config) {
        let pairs = self.pairs();
        let never = |t: &Target| t.containment.sampled == Sampled::Never;
        if config.targets.iter().any(never) {
            self.unsampled = Some(Unsampled::plan(pairs)).filter(|plan| !plan.is_empty());
        }
    }

    /// A copy's `baggage`, marked with a target's `member` (`traffic-mirror=canary`): the
    /// original's `baggage` headers (those left after redaction) and the member, built in one
    /// allocation as the copy goes out rather than joined beforehand for every request.
    pub fn marked_baggage(&self, member: &str) -> baggage::Marked {
        // `mark` reads the values three times: over the headers from the first `baggage` to
        // the last only (most requests carry one, or none).
        let text = |range: std::ops::Range<usize>| self.text.get(range).unwrap_or_default();
        let is_baggage = |field: &&Field| text(field.start..field.name_end) == "baggage";
        let first = self.headers.iter().position(|field| is_baggage(&field));
        let last = self.headers.iter().rposition(|field| is_baggage(&field));
        let holding = first
            .zip(last)
            .and_then(|(first, last)| self.headers.get(first..=last))
            .unwrap_or_default();
        let values = holding
            .iter()
            .filter(is_baggage)
            .map(|field| text(field.name_end..field.end));
        baggage::mark(values, member)
    }

    /// Whether `more` bytes of body would take it past `limit`: then the whole copy is given
    /// up, never truncated. Asked before a chunk is read, so an oversized body costs nothing.
    pub fn body_would_exceed(&self, more: usize, limit: usize) -> bool {
        self.body.len().saturating_add(more) > limit
    }

    /// How many bytes the body's allocation grows by when `more` bytes are appended: what the
    /// memory budget must grant before the chunk is read.
    pub fn body_growth(&self, more: usize, limit: usize) -> usize {
        self.planned_capacity(more, limit)
            .saturating_sub(self.body.capacity())
    }

    /// The body's capacity once `more` bytes are appended. The first chunk is kept as Envoy
    /// handed it over (its exact size); the second allocates the declared `content-length`
    /// at once when the body fits in it; otherwise the allocation doubles, so that appending
    /// stays linear in the body's size, but never past `limit`.
    fn planned_capacity(&self, more: usize, limit: usize) -> usize {
        let needed = self.body.len().saturating_add(more);
        if needed <= self.body.capacity() {
            return self.body.capacity();
        }
        if self.body.is_empty() {
            return needed;
        }
        match self.declared_length {
            Some(declared) if (needed..=limit).contains(&declared) => declared,
            _ => needed.max(self.body.capacity().saturating_mul(2).min(limit)),
        }
    }

    /// Adds a body chunk. Past `limit` the whole copy is given up, never truncated; an
    /// allocation the VM cannot make gives it up too, instead of aborting the VM.
    pub fn append_body(&mut self, chunk: Vec<u8>, limit: usize) -> Result<(), Skip> {
        if self.body_would_exceed(chunk.len(), limit) {
            return Err(Skip::BodyTooLarge);
        }
        if self.body.is_empty() {
            // The first chunk is usually the whole body: keep it instead of copying it.
            self.body = chunk;
            return Ok(());
        }
        let capacity = self.planned_capacity(chunk.len(), limit);
        self.body
            .try_reserve_exact(capacity.saturating_sub(self.body.len()))
            .map_err(|_| Skip::MemoryBudget)?;
        self.body.extend_from_slice(&chunk);
        Ok(())
    }

    /// Takes the original's trailers over, scrubbed as headers are: redacted names,
    /// hop-by-hop names, pseudo-headers and values that are not UTF-8 are left out.
    pub fn capture_trailers(&mut self, raw: &HeaderMap, redaction: &Redaction) {
        self.trailers = raw
            .iter()
            .filter(|(name, _)| {
                !name.starts_with(':')
                    && !is_hop_by_hop(name)
                    && !removes_header(&redaction.headers, name)
            })
            .filter_map(|(name, value)| {
                let value = crate::http::text(value)?;
                Some((name.to_string(), value.to_string()))
            })
            .collect();
    }

    pub fn trailers(&self) -> Vec<(&str, &str)> {
        self.trailers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect()
    }

    /// The bytes this request holds in the VM (headers, authority, body, as allocated): what
    /// each of its copies is charged against the memory budget.
    pub fn held_bytes(&self) -> usize {
        let pair = std::mem::size_of::<(String, String)>();
        let trailers: usize = self
            .trailers
            .iter()
            .map(|(name, value)| pair + name.capacity() + value.capacity())
            .sum();
        let fields = self.headers.capacity() * std::mem::size_of::<Field>();
        fields + self.text.capacity() + trailers + self.body.capacity()
    }

    /// Called once the request is complete: redacts the body (see `redact::body`), and the
    /// copy declares the length it really carries.
    pub fn finish(&mut self, redaction: &Redaction) -> Result<(), Skip> {
        let redacted = redact_body(&self.body, &self.body_headers, redaction)?;
        self.finish_with(redacted);
        Ok(())
    }

    /// The redaction a large body needs, to be done in slices (see `slices`); `Ok(None)`
    /// when the body goes as it is.
    pub fn sliced_redaction(&self, redaction: &Redaction) -> Result<Option<SlicedRedaction>, Skip> {
        Ok(SlicedRedaction::start(
            &self.body,
            &self.body_headers,
            redaction,
        )?)
    }

    /// The request is complete and its body redacted (`None`: it goes as it is): the copy
    /// declares the length it really carries.
    pub fn finish_with(&mut self, redacted: Option<Vec<u8>>) {
        if let Some(body) = redacted {
            self.body = body;
        }
        if self.had_content_length || !self.body.is_empty() {
            use std::fmt::Write;
            let start = self.text.len();
            let _ = write!(self.text, "{}", self.body.len());
            self.content_length = Some(start..self.text.len());
        }
    }

    /// The body as captured so far (empty when there is none).
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }

    /// The headers of the copy sent to `target`: the scrubbed originals (trace headers made
    /// unsampled for a target that says so), the target's `:authority`, the marker header,
    /// the `baggage` given (in place of the original's), the target's `set_headers`
    /// (replacing originals of the same name) and the length of the body the copy carries.
    pub fn headers_for<'a>(
        &'a self,
        target: &'a Target,
        marker_header: Option<&'a str>,
        baggage: Option<&'a str>,
    ) -> Vec<(&'a str, &'a str)> {
        let mut headers = Vec::with_capacity(self.headers.len() + 4 + target.set_headers.len());
        let replaced = |name: &str| target.set_headers.iter().any(|(set, _)| set == name);
        let kept = |(name, _): &(&str, &str)| {
            // The marked baggage takes the original's place.
            let remarked = baggage.is_some() && *name == "baggage";
            !(replaced(name) || remarked)
        };
        let originals = self.pairs();
        match &self.unsampled {
            Some(plan) if target.containment.sampled == Sampled::Never => {
                headers.extend(plan.apply(originals).filter(kept));
            }
            _ => headers.extend(originals.filter(kept)),
        }
        headers.push((
            ":authority",
            target.authority.as_deref().unwrap_or(self.authority()),
        ));
        if let Some(marker) = marker_header {
            headers.push((marker, target.name.as_str()));
        }
        if let Some(baggage) = baggage.filter(|_| !replaced("baggage")) {
            headers.push(("baggage", baggage));
        }
        headers.extend(
            target
                .set_headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        );
        if let Some(length) = &self.content_length {
            let length = self.text.get(length.clone()).unwrap_or_default();
            headers.push(("content-length", length));
        }
        headers
    }

    /// What a copy's log line says of the request: its endpoint (by the target's templates,
    /// else the automatic one), method, body size and ids, never a header's or the body's value.
    pub fn copy_record(&self, endpoints: &Endpoints) -> CopyRecord {
        let method = self.header(":method").unwrap_or_default();
        let path = self.header(":path").unwrap_or_default();
        CopyRecord {
            // The verdict's endpoint: never the raw path.
            endpoint: endpoints.label(method, path),
            method: method.to_string(),
            request_bytes: self.body.len(),
            x_request_id: self
                .header("x-request-id")
                .and_then(request_id)
                .map(String::from),
            trace_id: trace_id(|name| self.header(name)).map(String::from),
        }
    }

    /// The first value of a header the copy carries (`:method` and `:path` included).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.pairs()
            .find(|(n, _)| *n == name)
            .map(|(_, value)| value)
    }

    pub fn body(&self) -> Option<&[u8]> {
        (!self.body.is_empty()).then_some(self.body.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Counter;

    fn parse(json: &str) -> Config {
        Config::parse(json.as_bytes()).unwrap()
    }

    fn default_config() -> Config {
        parse(r#"{"targets": [{"cluster": "mirror", "name": "canary"}]}"#)
    }

    /// `capture_headers` on the map of these headers.
    fn capture(headers: Vec<(String, Vec<u8>)>, config: &Config) -> Result<CapturedRequest, Skip> {
        let map = HeaderMap::from_pairs(headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())));
        capture_headers(&map, config)
    }

    fn raw(headers: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
        headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_vec()))
            .collect()
    }

    fn request_headers() -> Vec<(String, Vec<u8>)> {
        raw(&[
            (":method", b"POST"),
            (":path", b"/orders?id=7&x=%20"),
            (":authority", b"shop.example:8080"),
            (":scheme", b"http"),
            ("content-type", b"application/json"),
            ("content-length", b"11"),
            ("authorization", b"Bearer secret"),
            ("cookie", b"session=1"),
            ("x-api-key", b"k"),
            ("proxy-authorization", b"Basic x"),
            ("x-custom", b"kept"),
            ("x-repeated", b"one"),
            ("x-repeated", b"two"),
        ])
    }

    fn copy_headers(captured: &CapturedRequest, config: &Config) -> Vec<(String, String)> {
        captured
            .headers_for(&config.targets[0], config.marker_header.as_deref(), None)
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn copy_keeps_request_line_and_end_to_end_headers_minus_secrets() {
        let config = default_config();
        let mut captured = capture(request_headers(), &config).unwrap();
        captured
            .append_body(b"{\"a\": 1234}".to_vec(), 100)
            .unwrap();
        captured.finish(&config.redaction).unwrap();
        assert_eq!(
            copy_headers(&captured, &config),
            pairs(&[
                (":method", "POST"),
                (":path", "/orders?id=7&x=%20"),
                ("content-type", "application/json"),
                ("x-custom", "kept"),
                ("x-repeated", "one"),
                ("x-repeated", "two"),
                (":authority", "shop.example:8080"),
                ("x-traffic-mirror", "canary"),
                ("content-length", "11"),
            ])
        );
        assert_eq!(captured.body(), Some(&b"{\"a\": 1234}"[..]));
    }

    #[test]
    fn redaction_list_replaces_the_default_and_ignores_case() {
        let config = parse(
            r#"{"targets": [{"cluster": "m"}], "redact": {"headers": ["X-Custom"]}, "marker_header": ""}"#,
        );
        let mut headers = request_headers();
        headers.push(("X-CUSTOM".into(), b"shouting".to_vec()));
        let mut captured = capture(headers, &config).unwrap();
        captured.finish(&config.redaction).unwrap();
        let names: Vec<String> = copy_headers(&captured, &config)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert!(names.contains(&"authorization".to_string()));
        assert!(names.contains(&"cookie".to_string()));
        assert!(!names.iter().any(|n| n.eq_ignore_ascii_case("x-custom")));
        assert!(!names.contains(&"x-traffic-mirror".to_string()));
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_stay_behind() {
        let config = default_config();
        let mut headers = request_headers();
        headers.extend(raw(&[
            ("connection", b"keep-alive, X-Hop"),
            ("keep-alive", b"timeout=5"),
            ("x-hop", b"one hop only"),
            ("transfer-encoding", b"chunked"),
            ("upgrade", b"websocket"),
            ("te", b"gzip"),
            ("trailer", b"grpc-status"),
        ]));
        let captured = capture(headers, &config).unwrap();
        let names: Vec<String> = copy_headers(&captured, &config)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        for gone in [
            "connection",
            "keep-alive",
            "x-hop",
            "transfer-encoding",
            "upgrade",
            "te",
            "trailer",
            ":scheme",
        ] {
            assert!(
                !names.contains(&gone.to_string()),
                "{gone} leaked into {names:?}"
            );
        }
    }

    #[test]
    fn te_trailers_survives_for_grpc() {
        let mut headers = request_headers();
        headers.push(("te".into(), b"trailers".to_vec()));
        let config = default_config();
        let captured = capture(headers, &config).unwrap();
        assert!(copy_headers(&captured, &config).contains(&("te".into(), "trailers".into())));
    }

    #[test]
    fn non_utf8_values_are_left_out() {
        let config = default_config();
        let mut headers = request_headers();
        headers.push(("x-binary".into(), vec![0xff, 0xfe, b'a']));
        let captured = capture(headers, &config).unwrap();
        assert!(!copy_headers(&captured, &config)
            .iter()
            .any(|(n, _)| n == "x-binary"));
    }

    #[test]
    fn request_without_routable_pseudo_headers_is_skipped() {
        let config = default_config();
        for missing in [":method", ":path", ":authority"] {
            let headers = request_headers()
                .into_iter()
                .filter(|(n, _)| n != missing)
                .collect();
            assert_eq!(
                capture(headers, &config),
                Err(Skip::Unroutable),
                "{missing}"
            );
        }
        let mut headers = request_headers();
        headers.retain(|(n, _)| n != ":path");
        headers.push((":path".into(), vec![b'/', 0xff]));
        assert_eq!(capture(headers, &config), Err(Skip::Unroutable));
    }

    #[test]
    fn host_suffix_goes_before_the_port() {
        assert_eq!(
            with_host_suffix("shop.example:8080", "-shadow").concat(),
            "shop.example-shadow:8080"
        );
        assert_eq!(
            with_host_suffix("shop.example", "-shadow").concat(),
            "shop.example-shadow"
        );
        assert_eq!(
            with_host_suffix("[::1]:8080", "-shadow").concat(),
            "[::1]-shadow:8080"
        );
        assert_eq!(
            with_host_suffix("[::1]", "-shadow").concat(),
            "[::1]-shadow"
        );
        assert_eq!(
            with_host_suffix("shop.example:8080", "").concat(),
            "shop.example:8080"
        );
    }

    #[test]
    fn target_authority_overrides_host_and_suffix() {
        let config = parse(
            r#"{"targets": [{"cluster": "m", "authority": "canary.internal"}], "host_suffix": "-shadow"}"#,
        );
        let captured = capture(request_headers(), &config).unwrap();
        assert!(copy_headers(&captured, &config)
            .contains(&(":authority".into(), "canary.internal".into())));

        let config = parse(r#"{"targets": [{"cluster": "m"}], "host_suffix": "-shadow"}"#);
        let captured = capture(request_headers(), &config).unwrap();
        assert!(copy_headers(&captured, &config)
            .contains(&(":authority".into(), "shop.example-shadow:8080".into())));
    }

    #[test]
    fn body_over_the_limit_gives_up_the_copy() {
        let mut captured = CapturedRequest::default();
        assert_eq!(captured.append_body(vec![1; 6], 10), Ok(()));
        assert_eq!(captured.append_body(vec![2; 4], 10), Ok(()));
        assert_eq!(
            captured.append_body(vec![3; 1], 10),
            Err(Skip::BodyTooLarge)
        );
        assert_eq!(captured.body().map(<[u8]>::len), Some(10));
        assert_eq!(
            CapturedRequest::default().append_body(vec![0; 1], 0),
            Err(Skip::BodyTooLarge)
        );
    }

    #[test]
    fn body_growth_announces_exactly_what_appending_allocates() {
        let limit = 1 << 20;
        let mut captured = CapturedRequest::default();
        let mut reallocations = 0;
        for _ in 0..4096 {
            let before = captured.body.capacity();
            let growth = captured.body_growth(256, limit);
            captured.append_body(vec![1; 256], limit).unwrap();
            assert_eq!(captured.body.capacity(), before + growth);
            reallocations += usize::from(growth > 0);
        }
        assert_eq!(captured.body.len(), limit);
        assert_eq!(captured.body.capacity(), limit, "never past the limit");
        // Doubling: a 1 MiB body in 256-byte chunks is reallocated about log2(4096) times,
        // so the bytes moved stay linear in the body's size.
        assert!(reallocations <= 14, "{reallocations} reallocations");
    }

    #[test]
    fn a_declared_length_is_allocated_once_and_exactly() {
        let config = default_config();
        let headers = raw(&[
            (":method", b"POST"),
            (":path", b"/"),
            (":authority", b"a"),
            ("content-length", b"10000"),
        ]);
        let mut captured = capture(headers, &config).unwrap();
        captured.append_body(vec![1; 16], 1 << 20).unwrap();
        assert_eq!(captured.body_growth(100, 1 << 20), 10000 - 16);
        captured.append_body(vec![1; 100], 1 << 20).unwrap();
        assert_eq!(captured.body.capacity(), 10000);
        assert_eq!(captured.body_growth(9884, 1 << 20), 0);
    }

    #[test]
    fn trailers_are_scrubbed_like_headers() {
        let config = default_config();
        let mut captured = capture(request_headers(), &config).unwrap();
        captured.capture_trailers(
            &HeaderMap::from_pairs(
                [
                    ("grpc-status", &b"0"[..]),
                    ("authorization", b"Bearer t"),
                    ("connection", b"close"),
                    ("x-bin", b"\xff"),
                    (":path", b"/x"),
                ]
                .into_iter(),
            ),
            &config.redaction,
        );
        assert_eq!(captured.trailers(), [("grpc-status", "0")]);
    }

    #[test]
    fn a_long_connection_list_and_many_headers_are_matched_by_lookup() {
        // 30,000 options and 90 headers: a name-by-option scan would compare 2.7 million
        // pairs; the sorted list is built once and looked up once per header.
        let mut headers = vec![
            (":method", b"GET".to_vec()),
            (":path", b"/".to_vec()),
            (":authority", b"a".to_vec()),
        ];
        let options: Vec<String> = (0..30_000).map(|i| format!("X-Opt-{i}")).collect();
        let connection = options.join(", ");
        headers.push(("connection", connection.into_bytes()));
        let names: Vec<String> = (0..90).map(|i| format!("x-opt-{}", i * 300)).collect();
        for name in &names {
            headers.push((name.as_str(), b"v".to_vec()));
        }
        headers.push(("x-kept", b"v".to_vec()));
        let raw: Vec<(String, Vec<u8>)> = headers
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect();
        let captured = capture(raw, &default_config()).unwrap();
        let left: Vec<&str> = captured.pairs().map(|(n, _)| n).collect();
        assert_eq!(left, [":method", ":path", "x-kept"]);
        let sorted = connection_options_sorted("b, A,a , ,c");
        assert_eq!(sorted, ["a", "b", "c"]);
    }

    #[test]
    fn held_bytes_count_headers_and_body() {
        let config = default_config();
        let mut captured = capture(request_headers(), &config).unwrap();
        let headers_only = captured.held_bytes();
        assert!(headers_only > 0);
        captured.append_body(vec![0; 1000], 4000).unwrap();
        assert_eq!(captured.held_bytes(), headers_only + 1000);
    }

    #[test]
    fn content_length_matches_the_copy_body() {
        let config = default_config();
        // No body captured (as with `body.mirror` off): the original declared 11 bytes, the copy none.
        let mut captured = capture(request_headers(), &config).unwrap();
        captured.finish(&config.redaction).unwrap();
        assert!(copy_headers(&captured, &config).contains(&("content-length".into(), "0".into())));
        assert_eq!(captured.body(), None);

        // A GET without a length stays without one.
        let get = raw(&[(":method", b"GET"), (":path", b"/"), (":authority", b"h")]);
        let mut captured = capture(get, &config).unwrap();
        captured.finish(&config.redaction).unwrap();
        assert!(!copy_headers(&captured, &config)
            .iter()
            .any(|(n, _)| n == "content-length"));

        // A chunked body (no declared length) gets its real length.
        let chunked = raw(&[
            (":method", b"POST"),
            (":path", b"/"),
            (":authority", b"h"),
            ("transfer-encoding", b"chunked"),
        ]);
        let mut captured = capture(chunked, &config).unwrap();
        captured.append_body(vec![7; 300], 1000).unwrap();
        captured.finish(&config.redaction).unwrap();
        let headers = copy_headers(&captured, &config);
        assert!(headers.contains(&("content-length".into(), "300".into())));
        assert!(!headers.iter().any(|(n, _)| n == "transfer-encoding"));
    }

    #[test]
    fn query_parameters_are_redacted_in_the_copy_path() {
        let config = parse(
            r#"{"targets": [{"cluster": "m"}], "redact": {"query_params": ["token"], "replacement": "X"}}"#,
        );
        let headers = raw(&[
            (":method", b"GET"),
            (":path", b"/a?token=s3cret&b=1"),
            (":authority", b"h"),
        ]);
        let captured = capture(headers, &config).unwrap();
        assert!(
            copy_headers(&captured, &config).contains(&(":path".into(), "/a?token=X&b=1".into()))
        );
    }

    fn json_request(
        config: &Config,
        content_type: &[u8],
        body: &str,
    ) -> Result<CapturedRequest, Skip> {
        let headers = raw(&[
            (":method", b"POST"),
            (":path", b"/"),
            (":authority", b"h"),
            ("content-type", content_type),
        ]);
        let mut captured = capture(headers, config)?;
        captured.append_body(body.as_bytes().to_vec(), 1 << 20)?;
        captured.finish(&config.redaction)?;
        Ok(captured)
    }

    #[test]
    fn json_fields_are_redacted_and_content_length_follows() {
        let config =
            parse(r#"{"targets": [{"cluster": "m"}], "redact": {"json_fields": ["password"]}}"#);
        let captured = json_request(
            &config,
            b"application/json",
            r#"{"user":"a","password":"pw"}"#,
        )
        .unwrap();
        let body = r#"{"user":"a","password":"REDACTED"}"#;
        assert_eq!(captured.body(), Some(body.as_bytes()));
        assert!(copy_headers(&captured, &config)
            .contains(&("content-length".into(), body.len().to_string())));
    }

    #[test]
    fn unparseable_json_is_never_sent_and_other_bodies_are_left_alone() {
        let config =
            parse(r#"{"targets": [{"cluster": "m"}], "redact": {"json_fields": ["password"]}}"#);
        for content_type in [&b"application/json"[..], b"text/plain"] {
            assert_eq!(
                json_request(&config, content_type, r#"{"password": "#).err(),
                Some(Skip::UnparseableBody),
                "taken as JSON by its type or its first byte"
            );
        }
        let text = json_request(&config, b"text/plain", "password: hunter2").unwrap();
        assert_eq!(
            text.body(),
            Some(&b"password: hunter2"[..]),
            "neither JSON, form nor multipart: sent as is"
        );
        let no_fields = parse(r#"{"targets": [{"cluster": "m"}]}"#);
        assert!(
            json_request(&no_fields, b"application/json", "not json").is_ok(),
            "nothing to redact"
        );
    }

    #[test]
    fn a_body_that_cannot_be_read_with_certainty_is_not_sent() {
        let config =
            parse(r#"{"targets": [{"cluster": "m"}], "redact": {"json_fields": ["password"]}}"#);
        let body = r#"{"password":"hunter2"}"#;
        assert_eq!(
            json_request(&config, b"application/json; charset=\xff", body).err(),
            Some(Skip::UnredactableBody)
        );
        let mut headers = raw(&[
            (":method", b"POST"),
            (":path", b"/"),
            (":authority", b"h"),
            ("content-encoding", b"gzip"),
        ]);
        let mut captured = capture(headers.clone(), &config).unwrap();
        captured
            .append_body(body.as_bytes().to_vec(), 1 << 20)
            .unwrap();
        assert_eq!(
            captured.finish(&config.redaction),
            Err(Skip::UnredactableBody)
        );
        assert_eq!(
            Counter::from(Skip::UnredactableBody),
            Counter::SkippedUnredactableBody
        );
        headers.retain(|(name, _)| name != "content-encoding");
        headers.push(("content-type".into(), b"application/json".to_vec()));
        headers.push(("content-type".into(), b"text/plain".to_vec()));
        let mut captured = capture(headers, &config).unwrap();
        captured
            .append_body(body.as_bytes().to_vec(), 1 << 20)
            .unwrap();
        assert_eq!(
            captured.finish(&config.redaction),
            Err(Skip::UnredactableBody)
        );
    }

    #[test]
    fn a_redacted_content_type_still_decides_the_redaction() {
        let config = parse(
            r#"{"targets": [{"cluster": "m"}], "redact": {"headers": ["content-type"], "query_params": ["password"]}}"#,
        );
        let captured = json_request(
            &config,
            b"application/x-www-form-urlencoded",
            "user=a&password=hunter2",
        )
        .unwrap();
        assert_eq!(captured.body(), Some(&b"user=a&password=REDACTED"[..]));
        assert!(!copy_headers(&captured, &config)
            .iter()
            .any(|(n, _)| n == "content-type"));
    }

    #[test]
    fn header_and_query_spellings_servers_read_as_the_secret_are_redacted() {
        let config =
            parse(r#"{"targets": [{"cluster": "m"}], "redact": {"query_params": ["token"]}}"#);
        let headers = raw(&[
            (":method", b"GET"),
            (":path", b"/a?TOKEN=1&token[]=2&b=3"),
            (":authority", b"h"),
            ("X_Api_Key", b"k3y"),
            ("x_api-key", b"k3y"),
        ]);
        let captured = capture(headers, &config).unwrap();
        let copy = copy_headers(&captured, &config);
        assert!(copy.contains(&(
            ":path".into(),
            "/a?TOKEN=REDACTED&token[]=REDACTED&b=3".into()
        )));
        assert!(!copy.iter().any(|(_, v)| v == "k3y"), "{copy:?}");
    }

    #[test]
    fn set_headers_replace_originals_after_redaction() {
        let config = parse(
            r#"{"targets": [{"cluster": "m", "name": "c", "set_headers": {"authorization": "Bearer test", "x-tenant": "mirror"}}]}"#,
        );
        let mut headers = request_headers();
        headers.push(("x-tenant".into(), b"acme".to_vec()));
        let captured = capture(headers, &config).unwrap();
        let copy = copy_headers(&captured, &config);
        let values = |name: &str| {
            copy.iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(values("authorization"), ["Bearer test"]);
        assert_eq!(values("x-tenant"), ["mirror"]);
    }

    #[test]
    fn a_never_sampled_target_gets_unsampled_trace_headers_and_others_get_them_as_they_came() {
        let config = parse(
            r#"{"targets": [{"cluster": "a", "name": "never", "tracing": {"sampled": "never"}},
                            {"cluster": "b", "name": "inherit"}]}"#,
        );
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let headers = raw(&[
            (":method", b"GET"),
            (":path", b"/"),
            (":authority", b"h"),
            ("traceparent", traceparent.as_bytes()),
            ("x-envoy-force-trace", b"true"),
            ("baggage", b"user=1"),
        ]);
        let captured = capture(headers, &config).unwrap();
        assert_eq!(
            captured.marked_baggage("traffic-mirror=never"),
            baggage::Marked::Merged("user=1,traffic-mirror=never".into())
        );
        let copy = |index: usize, baggage| -> Vec<(String, String)> {
            captured
                .headers_for(&config.targets[index], None, baggage)
                .into_iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        let never = copy(0, Some("user=1,traffic-mirror=never"));
        assert!(never.contains(&(
            "traceparent".into(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00".into()
        )));
        assert!(!never.iter().any(|(n, _)| n == "x-envoy-force-trace"));
        let baggage: Vec<&String> = never
            .iter()
            .filter(|(n, _)| n == "baggage")
            .map(|(_, v)| v)
            .collect();
        assert_eq!(
            baggage,
            ["user=1,traffic-mirror=never"],
            "one baggage, marked"
        );
        let inherit = copy(1, None);
        assert!(inherit.contains(&("traceparent".into(), traceparent.into())));
        assert!(inherit.contains(&("x-envoy-force-trace".into(), "true".into())));
        assert!(
            inherit.contains(&("baggage".into(), "user=1".into())),
            "not marked: as it came"
        );
    }

    #[test]
    fn the_copy_record_holds_ids_and_the_template_never_values() {
        let config = default_config();
        let headers = raw(&[
            (":method", b"POST"),
            (":path", b"/users/42?token=s3cret"),
            (":authority", b"h"),
            ("x-request-id", b"9b2f-11"),
            (
                "traceparent",
                b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ]);
        let mut captured = capture(headers, &config).unwrap();
        captured.append_body(b"{}".to_vec(), 100).unwrap();
        let record = captured.copy_record(&Endpoints::default());
        assert_eq!(record.endpoint, "POST /users/{}");
        assert_eq!(record.request_bytes, 2);
        assert_eq!(record.x_request_id.as_deref(), Some("9b2f-11"));
        assert_eq!(
            record.trace_id.as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
    }
}
