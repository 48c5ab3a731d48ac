//! The HTTP context: moves the original request's data from Envoy into a copy, and, for
//! requests whose copies are compared, the original's response into a summary for the root;
//! never altering, holding back or failing either. Every callback returns `Continue`, and the
//! response callbacks return at once for a request that is not compared.

use crate::body_jobs::Unredacted;
use crate::budget::{Budget, Reservation};
use crate::compare::response::{Capture, Needs};
use crate::copy::{capture_headers, CapturedRequest, Skip};
use crate::decide::{inspect, Decisions, Destination};
use crate::host::{Envoy, Host, CLUSTER_NAME};
use crate::http::HeaderMap;
use crate::metrics::Counter;
use crate::outbox::{Job, Outbox};
use crate::sampling::random_draw;
use crate::settings::Settings;
use crate::slices::{output_capacity, SLICE_BYTES};
use crate::targets::{Copies, TargetSet};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use std::cell::OnceCell;
use std::rc::Rc;

enum Stage {
    /// No target wants this request, or its fate is already decided and counted.
    Idle,
    /// Some targets want a copy (their copies are admitted by the limits): the request is
    /// being collected until it is complete. Boxed: a request no target wants (most of them,
    /// usually) then creates and drops a small context.
    Capturing(Box<Capturing>),
}

struct Capturing {
    copies: Copies,
    request: CapturedRequest,
    /// What the request holds, once for each of its copies (`copy_count`), reserved against
    /// the worker's memory budget before it is allocated.
    reservation: Reservation,
    copy_count: usize,
}

/// The original's response, observed for the comparisons of this request.
struct Observed {
    pairing: u64,
    capture: Capture,
    /// What the capture holds, against the worker's memory budget.
    reservation: Reservation,
}

/// What `decide` made of a request.
enum Decided {
    /// No copy, nothing more to do (its decisions are counted).
    Nothing,
    /// A marked write, answered 403 by the plugin (`refuse_marked_writes`).
    Refused,
    /// The targets that get copies (possibly none), and the headers if they were read.
    Copies(Copies, HeaderMap),
}

/// The body of the 403 a marked write gets: what refused it, and why.
const REFUSED_WRITE_BODY: &[u8] = b"refused by traffic-mirror: this request carries the mirror \
marker (it comes from a mirrored copy) and is not GET, HEAD or OPTIONS (refuse_marked_writes)\n";

/// The methods a marked request may still use with `refuse_marked_writes`.
fn is_read_only(method: Option<&[u8]>) -> bool {
    matches!(method, Some(b"GET" | b"HEAD" | b"OPTIONS"))
}

/// Generic over the host so that native tests drive it with a fake one; Envoy's `Host` is a
/// unit struct, so Envoy's filter pays nothing for the seam.
pub struct MirrorFilter<H: Host = Envoy> {
    host: H,
    settings: Rc<Settings>,
    outbox: Rc<Outbox>,
    budget: Rc<Budget>,
    stage: Stage,
    /// Set while the original's response is captured for a comparison (boxed, for the same
    /// reason as `Stage::Capturing`).
    original: Option<Box<Observed>>,
    /// Names this request's comparisons (root-side pairing), when any target compares.
    pairing: Option<u64>,
}

impl MirrorFilter<Envoy> {
    pub fn new(settings: Rc<Settings>, outbox: Rc<Outbox>, budget: Rc<Budget>) -> MirrorFilter {
        MirrorFilter::with_host(Envoy, settings, outbox, budget)
    }
}

impl<H: Host> MirrorFilter<H> {
    pub fn with_host(
        host: H,
        settings: Rc<Settings>,
        outbox: Rc<Outbox>,
        budget: Rc<Budget>,
    ) -> MirrorFilter<H> {
        MirrorFilter {
            host,
            settings,
            outbox,
            budget,
            stage: Stage::Idle,
            original: None,
            pairing: None,
        }
    }

    /// Starts capturing a wanted request, if the worker's budget can hold its headers once
    /// per copy (each copy is held by Envoy until it is answered).
    fn start_capture(&mut self, copies: Copies, request: CapturedRequest) -> Result<(), Skip> {
        let copy_count = self.settings.copy_count(copies);
        let mut reservation = self.budget.reservation();
        reservation
            .grow(request.held_bytes().saturating_mul(copy_count))
            .map_err(|_| Skip::MemoryBudget)?;
        self.stage = Stage::Capturing(Box::new(Capturing {
            copies,
            request,
            reservation,
            copy_count,
        }));
        Ok(())
    }

    /// Decides for every target; the wanted ones come back with their copies admitted, and
    /// with the headers, which are read whenever some target wants the request (or every
    /// request, with `refuse_marked_writes`).
    fn decide(&self) -> Decided {
        let config = &self.settings.config;
        let global_match = config.request_match.as_ref();
        let mut decisions = Decisions::before_headers(&config.targets, global_match, random_draw);
        let mut headers = HeaderMap::default();
        let refuse_writes = config.containment.refuse_marked_writes;
        let mut refused = false;
        if decisions.needs_headers() || refuse_writes {
            let Ok(read) = self.host.request_headers() else {
                self.count(decisions.open(), Counter::Aborted);
                self.count_refusals(&decisions);
                return Decided::Nothing;
            };
            headers = read;
            let seen = inspect(
                &headers,
                config.marker_header.as_deref(),
                config.containment.marker_baggage.as_deref(),
            );
            refused = refuse_writes && seen.marked && !is_read_only(headers.get(":method"));
            decisions.with_headers(&config.targets, global_match, seen, &headers, random_draw);
            if decisions.guards_destination(&config.targets) {
                // Set before the router for a request whose route matched (absent otherwise:
                // then no copy is refused for it).
                let cluster = self.host.property(CLUSTER_NAME);
                let destination = Destination {
                    cluster: cluster.as_deref(),
                    authority: headers.get(":authority"),
                };
                decisions.refuse_same_destination(&config.targets, &destination);
            }
            // The clock is read once, and only if a rate limit needs it.
            let now = OnceCell::new();
            let clock = || *now.get_or_init(|| self.host.now_ns());
            let targets = &config.targets;
            decisions.apply_limits(|index| {
                let copies = targets.get(index).map_or(1, |target| target.amplify);
                self.settings.admit(index, copies, clock)
            });
            decisions.carry_references(targets, |index| self.settings.admit(index, 1, clock));
        }
        self.count_refusals(&decisions);
        if refused {
            self.refuse_write();
            return Decided::Refused;
        }
        Decided::Copies(decisions.copies(), headers)
    }

    /// Answers a marked write in the service's place (`refuse_marked_writes`): 403, counted.
    fn refuse_write(&self) {
        let headers = [("content-type", "text/plain; charset=utf-8")];
        if self
            .host
            .send_local_response(403, &headers, REFUSED_WRITE_BODY)
        {
            self.settings.count_refused_write();
            self.outbox.hand_over_counts(&self.settings, &self.host);
        }
    }

    /// Tallies every refusal, then hands the counts over once.
    fn count_refusals(&self, decisions: &Decisions) {
        let mut any = false;
        for (refusal, targets) in decisions.refusals() {
            self.settings.count(targets, Counter::from(refusal));
            any |= !targets.is_empty();
        }
        if any {
            self.outbox.hand_over_counts(&self.settings, &self.host);
        }
    }

    /// Gives up the copy being captured, if any.
    fn skip(&mut self, skip: Skip) {
        if let Stage::Capturing(capturing) = std::mem::replace(&mut self.stage, Stage::Idle) {
            self.count_skip(capturing.copies, skip);
        }
    }

    fn count_skip(&mut self, copies: Copies, skip: Skip) {
        log::debug!("request not mirrored: {skip:?}");
        // No copy goes out, so no comparison starts: the response is none of our business.
        self.original = None;
        self.pairing = None;
        self.settings.release_unsent(copies);
        self.count(copies.targets, Counter::from(skip));
    }

    fn count(&self, targets: TargetSet, counter: Counter) {
        if !targets.is_empty() {
            self.settings.count(targets, counter);
            self.outbox.hand_over_counts(&self.settings, &self.host);
        }
    }

    fn complete(&mut self) {
        let Stage::Capturing(capturing) = std::mem::replace(&mut self.stage, Stage::Idle) else {
            return;
        };
        let Capturing {
            copies,
            mut request,
            mut reservation,
            copy_count,
        } = *capturing;
        let redaction = &self.settings.config.redaction;
        if request.body_bytes().len() > SLICE_BYTES {
            // A large body is redacted by the root a slice per tick: this callback (the
            // original's last chunk) returns at once. Its output is reserved first.
            let output = output_capacity(request.body_bytes().len());
            if reservation.grow(output).is_err() {
                return self.count_skip(copies, Skip::MemoryBudget);
            }
            match request.sliced_redaction(redaction) {
                Err(skip) => return self.count_skip(copies, skip),
                Ok(Some(redaction)) => {
                    let job = Unredacted {
                        settings: Rc::clone(&self.settings),
                        copies,
                        request,
                        reservation,
                        copy_count,
                        pairing: self.pairing,
                        redaction,
                    };
                    return self.outbox.send_unredacted(job, &self.host);
                }
                Ok(None) => {} // it goes as it is
            }
        }
        if let Err(skip) = request.finish(redaction) {
            return self.count_skip(copies, skip);
        }
        // Redaction may have changed the body's size: the copies hold what they will send.
        let per_copy = request.held_bytes();
        if reservation
            .resize(per_copy.saturating_mul(copy_count))
            .is_err()
        {
            return self.count_skip(copies, Skip::MemoryBudget);
        }
        let job = Job {
            settings: Rc::clone(&self.settings),
            copies,
            request,
            reservation,
            per_copy,
            pairing: self.pairing,
        };
        self.outbox.send(job, &self.host);
    }

    /// The original's trailers, scrubbed, go to the dispatch with the copy; Envoy's
    /// `http_call` does not send them yet (README: Limitations). Charged to the budget by
    /// `complete`.
    fn capture_trailers(&mut self) -> Result<(), Skip> {
        let Stage::Capturing(capturing) = &mut self.stage else {
            return Ok(());
        };
        let request = &mut capturing.request;
        let trailers = self.host.request_trailers().map_err(|_| Skip::Unreadable)?;
        request.capture_trailers(&trailers, &self.settings.config.redaction);
        Ok(())
    }

    /// Prepares the comparisons of a request that some candidates' copies will be made of:
    /// a pairing id, and a capture of the original's response when a candidate compares
    /// with it.
    fn prepare_comparisons(&mut self, copies: Copies) {
        let config = &self.settings.config;
        let specs = || {
            copies
                .targets
                .iter()
                .filter_map(|index| config.targets.get(index)?.compare.as_deref())
        };
        if specs().next().is_none() {
            return;
        }
        let pairing = self.outbox.next_pairing_id();
        self.pairing = Some(pairing);
        if let Some(needs) = Needs::for_original(specs) {
            self.original = Some(Box::new(Observed {
                pairing,
                capture: Capture::new(needs),
                reservation: self.budget.reservation(),
            }));
        }
    }

    /// The original's response is complete (or will never be): its summary goes to the root.
    fn hand_over_original(&mut self, complete: bool) {
        if let Some(observed) = self.original.take() {
            let Observed {
                pairing, capture, ..
            } = *observed;
            let summary = complete.then(|| capture.finish());
            // The root holds the summary from now on, within its own caps and the budget.
            self.outbox.send_original(pairing, summary, &self.host);
        }
    }

    fn capture_body_chunk(&mut self, size: usize) -> Result<(), Skip> {
        let body = self.settings.config.body;
        let Stage::Capturing(capturing) = &mut self.stage else {
            return Ok(());
        };
        let Capturing {
            request,
            reservation,
            copy_count,
            ..
        } = &mut **capturing;
        if !body.mirror || size == 0 {
            return Ok(());
        }
        if request.body_would_exceed(size, body.max_bytes) {
            return Err(Skip::BodyTooLarge);
        }
        // Reserved before Envoy copies the chunk into the VM: the body's growth once per
        // copy, and the chunk itself while it is appended (the first chunk becomes the body).
        let growth = request.body_growth(size, body.max_bytes);
        let transient = if request.body().is_some() { size } else { 0 };
        reservation
            .grow(growth.saturating_mul(*copy_count).saturating_add(transient))
            .map_err(|_| Skip::MemoryBudget)?;
        let chunk = self.host.request_body(size).map_err(|_| Skip::Unreadable)?;
        request.append_body(chunk, body.max_bytes)?;
        // The chunk is now part of the body (or freed): hold what the copies will.
        reservation
            .resize(request.held_bytes().saturating_mul(*copy_count))
            .map_err(|_| Skip::MemoryBudget)
    }
}

impl<H: Host> Context for MirrorFilter<H> {
    fn on_done(&mut self) -> bool {
        // Still capturing when the stream ends: the client went away mid-request.
        self.skip(Skip::Abandoned);
        // Still observing the response: the client went away before it was complete.
        self.hand_over_original(false);
        true
    }
}

impl<H: Host> HttpContext for MirrorFilter<H> {
    fn on_http_request_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        let (copies, headers) = match self.decide() {
            Decided::Nothing => return Action::Continue,
            // Envoy sends the 403; the request goes no further.
            Decided::Refused => return Action::Pause,
            Decided::Copies(copies, headers) => (copies, headers),
        };
        if copies.targets.is_empty() {
            return Action::Continue;
        }
        let captured = capture_headers(&headers, &self.settings.config)
            .and_then(|request| self.start_capture(copies, request));
        match captured {
            Ok(()) => {
                self.prepare_comparisons(copies);
                if end_of_stream {
                    self.complete();
                }
            }
            Err(skip) => self.count_skip(copies, skip),
        }
        Action::Continue
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        match self.capture_body_chunk(body_size) {
            Err(skip) => self.skip(skip),
            Ok(()) if end_of_stream => self.complete(),
            Ok(()) => {}
        }
        Action::Continue
    }

    fn on_http_request_trailers(&mut self, _trailers: usize) -> Action {
        // Trailers end the request: with them, the body callback never sees end of stream.
        match self.capture_trailers() {
            Ok(()) => self.complete(),
            Err(skip) => self.skip(skip),
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        let Some(observed) = &mut self.original else {
            return Action::Continue;
        };
        match self.host.response_headers() {
            Ok(headers) => observed.capture.headers(&headers),
            // Nothing to compare with: as if the response never completed.
            Err(_) => return self.abandon_original(),
        }
        if end_of_stream {
            self.hand_over_original(true);
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let Some(observed) = &mut self.original else {
            return Action::Continue;
        };
        if observed.capture.wants_body() && body_size > 0 {
            // The chunk, and what the capture grows by, are reserved before they are read;
            // past the budget the body is left out (compared on status and headers).
            if observed
                .reservation
                .grow(body_size.saturating_mul(2))
                .is_err()
            {
                observed.capture.leave_body_out();
            } else {
                match self.host.response_body(body_size) {
                    Ok(chunk) => observed.capture.body_chunk_owned(chunk),
                    Err(_) => return self.abandon_original(),
                }
                let held = observed.capture.bytes_held();
                if observed.reservation.resize(held).is_err() {
                    observed.capture.leave_body_out();
                }
            }
        }
        if end_of_stream {
            self.hand_over_original(true);
        }
        Action::Continue
    }

    fn on_http_response_trailers(&mut self, _trailers: usize) -> Action {
        let Some(observed) = &mut self.original else {
            return Action::Continue;
        };
        // gRPC's status comes in the trailers, which end the response.
        if let Ok(trailers) = self.host.response_trailers() {
            observed.capture.trailers(&trailers);
        }
        self.hand_over_original(true);
        Action::Continue
    }
}

impl<H: Host> MirrorFilter<H> {
    /// The original's response cannot be read: its comparisons are skipped as incomplete.
    fn abandon_original(&mut self) -> Action {
        self.hand_over_original(false);
        Action::Continue
    }
}

/// Stands in when the root has no valid configuration (Envoy normally refuses such a plugin).
pub struct PassThrough;

impl Context for PassThrough {}
impl HttpContext for PassThrough {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::response::{Body, Finished};
    use crate::config::Config;
    use crate::host::{raw, recording, FakeHost};

    const HEADERS: [(&str, &str); 5] = [
        (":method", "POST"),
        (":path", "/orders"),
        (":authority", "shop"),
        ("authorization", "Bearer secret"),
        ("x-request", "kept"),
    ];

    fn settings(json: &str) -> Rc<Settings> {
        let config = Config::parse(json.as_bytes()).unwrap();
        Rc::new(Settings::define(config, recording::METRICS).unwrap())
    }

    /// A request's context under `settings`, with a worker budget of `budget` bytes.
    struct Request {
        filter: MirrorFilter<FakeHost>,
        outbox: Rc<Outbox>,
        budget: Rc<Budget>,
    }

    impl Request {
        fn new(settings: &Rc<Settings>, budget: usize) -> Request {
            let outbox = Rc::new(Outbox::default());
            let budget = Budget::new(budget);
            let filter = MirrorFilter::with_host(
                FakeHost::default(),
                Rc::clone(settings),
                Rc::clone(&outbox),
                Rc::clone(&budget),
            );
            *filter.host.request_headers.borrow_mut() = raw(&HEADERS);
            Request {
                filter,
                outbox,
                budget,
            }
        }

        fn body(&mut self, chunk: &[u8], end_of_stream: bool) {
            *self.filter.host.request_chunk.borrow_mut() = chunk.to_vec();
            let action = self.filter.on_http_request_body(chunk.len(), end_of_stream);
            assert_eq!(action, Action::Continue, "the original is never held back");
        }

        fn response_body(&mut self, chunk: &[u8], end_of_stream: bool) {
            *self.filter.host.original_response_chunk.borrow_mut() = chunk.to_vec();
            let action = self
                .filter
                .on_http_response_body(chunk.len(), end_of_stream);
            assert_eq!(action, Action::Continue);
        }

        fn settings(&self) -> &Settings {
            &self.filter.settings
        }
    }

    /// The counts of target `c` handed over since the last call.
    fn total(settings: &Settings, metric: &str) -> i64 {
        settings.flush_counts();
        recording::take_total(&format!("traffic_mirror.c.{metric}"))
    }

    const ONE_TARGET: &str =
        r#"{"targets": [{"cluster": "canary", "name": "c", "limits": {"max_in_flight": 1}}]}"#;

    #[test]
    fn a_request_whose_body_outgrows_the_budget_mid_body_is_not_copied() {
        let settings = settings(ONE_TARGET);
        let mut request = Request::new(&settings, 64 << 10);
        request.filter.on_http_request_headers(HEADERS.len(), false);
        request.body(&[b'a'; 30 << 10], false);
        let held = request.budget.used();
        assert!(
            held > 30 << 10,
            "the first chunk is held for the copy: {held}"
        );
        request.body(&[b'b'; 40 << 10], false);
        assert_eq!(request.budget.used(), 0, "giving up frees what was held");
        assert_eq!(total(request.settings(), "skipped_memory_budget"), 1);
        request.body(b"end", true);
        assert!(request.outbox.take_jobs().is_empty());
        assert_eq!(
            total(request.settings(), "skipped_memory_budget"),
            0,
            "counted once"
        );
        // The copy's in-flight slot came back: the next request is admitted.
        let mut next = Request::new(&settings, 64 << 10);
        next.filter.on_http_request_headers(HEADERS.len(), true);
        assert_eq!(next.outbox.take_jobs().len(), 1);
        assert_eq!(total(next.settings(), "in_flight_limited"), 0);
    }

    #[test]
    fn a_body_over_one_slice_is_handed_to_the_root_unredacted_and_a_small_one_is_done_at_once() {
        let settings = settings(
            r#"{"targets": [{"cluster": "canary", "name": "c"}],
                "redact": {"query_params": ["password"]}, "body": {"max_bytes": 1048576}}"#,
        );
        let large = format!("password=1&{}", "a".repeat(SLICE_BYTES)).into_bytes();
        let mut request = Request::new(&settings, 8 << 20);
        request.filter.on_http_request_headers(HEADERS.len(), false);
        request.body(&large, true);
        assert!(request.outbox.take_jobs().is_empty(), "not redacted here");
        let unredacted = request.outbox.take_unredacted();
        assert_eq!(unredacted.len(), 1);
        assert_eq!(
            unredacted[0].request.body(),
            Some(&large[..]),
            "as captured"
        );
        assert!(
            request.budget.used() >= large.len() * 2,
            "the body and its redaction's output are held"
        );
        let mut small = Request::new(&settings, 8 << 20);
        small.filter.on_http_request_headers(HEADERS.len(), false);
        small.body(b"password=1&a=b", true);
        assert!(small.outbox.take_unredacted().is_empty());
        let jobs = small.outbox.take_jobs();
        assert_eq!(jobs[0].request.body(), Some(&b"password=REDACTED&a=b"[..]));
    }

    #[test]
    fn trailers_end_the_request_and_go_with_the_copy_scrubbed() {
        let settings = settings(ONE_TARGET);
        let mut request = Request::new(&settings, 1 << 20);
        request.filter.on_http_request_headers(HEADERS.len(), false);
        request.body(b"{\"id\": 7}", false);
        assert!(request.outbox.take_jobs().is_empty(), "not complete yet");
        *request.filter.host.request_trailers.borrow_mut() =
            raw(&[("x-checksum", "abc"), ("authorization", "Bearer secret")]);
        request.filter.on_http_request_trailers(2);
        let jobs = request.outbox.take_jobs();
        let [job] = jobs.as_slice() else {
            panic!("one job, got {}", jobs.len());
        };
        assert_eq!(job.request.body(), Some(&b"{\"id\": 7}"[..]));
        assert_eq!(job.request.trailers(), [("x-checksum", "abc")]);
        assert_eq!(job.reservation.bytes(), job.per_copy);
        assert_eq!(request.budget.used(), job.per_copy);
    }

    #[test]
    fn unreadable_trailers_give_up_the_copy() {
        let settings = settings(ONE_TARGET);
        let mut request = Request::new(&settings, 1 << 20);
        request.filter.on_http_request_headers(HEADERS.len(), false);
        request.filter.host.unreadable.set(true);
        request.filter.on_http_request_trailers(1);
        assert!(request.outbox.take_jobs().is_empty());
        assert_eq!(total(request.settings(), "aborted"), 1);
        assert_eq!(request.budget.used(), 0);
    }

    #[test]
    fn a_stream_that_ends_during_capture_is_counted_aborted_and_frees_everything() {
        let settings = settings(ONE_TARGET);
        let mut request = Request::new(&settings, 1 << 20);
        request.filter.on_http_request_headers(HEADERS.len(), false);
        request.body(b"half a bo", false);
        assert!(request.budget.used() > 0);
        assert!(request.filter.on_done());
        assert!(request.outbox.take_jobs().is_empty());
        assert_eq!(total(request.settings(), "aborted"), 1);
        assert_eq!(request.budget.used(), 0);
        // Done twice (or after completion) counts nothing more.
        assert!(request.filter.on_done());
        assert_eq!(total(request.settings(), "aborted"), 0);
        let mut next = Request::new(&settings, 1 << 20);
        next.filter.on_http_request_headers(HEADERS.len(), true);
        assert_eq!(
            next.outbox.take_jobs().len(),
            1,
            "the in-flight slot came back"
        );
    }

    #[test]
    fn a_request_the_host_cannot_show_is_counted_aborted() {
        let settings = settings(
            r#"{"targets": [{"cluster": "canary", "name": "c", "match": {"methods": ["POST"]}}]}"#,
        );
        let mut request = Request::new(&settings, 1 << 20);
        request.filter.host.unreadable.set(true);
        request.filter.on_http_request_headers(HEADERS.len(), true);
        assert!(request.outbox.take_jobs().is_empty());
        assert_eq!(total(request.settings(), "aborted"), 1);
    }

    const COMPARED: &str = r#"{"targets": [
        {"cluster": "canary", "name": "c", "compare": {"body": "json"}}]}"#;

    #[test]
    fn a_response_body_over_the_budget_is_left_out_of_the_comparison() {
        let settings = settings(COMPARED);
        let mut request = Request::new(&settings, 64 << 10);
        request.filter.on_http_request_headers(HEADERS.len(), true);
        let jobs = request.outbox.take_jobs();
        assert_eq!(jobs.len(), 1);
        *request.filter.host.original_response_headers.borrow_mut() =
            raw(&[(":status", "200"), ("content-type", "application/json")]);
        request.filter.on_http_response_headers(2, false);
        request.response_body(b"{\"a\": 1,", false);
        let held = request.budget.used();
        // Twice the chunk, reserved before it is read, cannot fit what is left.
        request.response_body(&[b' '; 40 << 10], false);
        assert_eq!(request.budget.used(), held, "the chunk was never reserved");
        request.response_body(b"}", true);
        let originals = request.outbox.take_originals();
        let [original] = originals.as_slice() else {
            panic!("one original, got {}", originals.len());
        };
        assert_eq!(Some(original.pairing), jobs[0].pairing);
        let Some(Finished::Ready(summary)) = &original.summary else {
            panic!("the response completed, nothing left to inflate");
        };
        assert_eq!(summary.status, Some(200));
        assert!(
            matches!(summary.body, Body::NotCompared(_)),
            "{:?}",
            summary.body
        );
    }

    #[test]
    fn a_response_within_the_budget_is_summarised_whole() {
        let settings = settings(COMPARED);
        let mut request = Request::new(&settings, 1 << 20);
        request.filter.on_http_request_headers(HEADERS.len(), true);
        *request.filter.host.original_response_headers.borrow_mut() = raw(&[(":status", "201")]);
        request.filter.on_http_response_headers(1, false);
        request.response_body(b"{\"a\": 1}", true);
        let originals = request.outbox.take_originals();
        let Some(Finished::Ready(summary)) = &originals[0].summary else {
            panic!("the response completed, nothing left to inflate");
        };
        assert_eq!(summary.body, Body::Bytes(b"{\"a\": 1}".to_vec()));
        assert_eq!(summary.status, Some(201));
    }

    #[test]
    fn a_response_cut_short_hands_over_no_summary() {
        let settings = settings(COMPARED);
        let mut request = Request::new(&settings, 1 << 20);
        request.filter.on_http_request_headers(HEADERS.len(), true);
        drop(request.outbox.take_jobs());
        *request.filter.host.original_response_headers.borrow_mut() = raw(&[(":status", "200")]);
        request.filter.on_http_response_headers(1, false);
        request.response_body(b"{\"a\"", false);
        assert!(request.budget.used() > 0, "the capture holds the chunk");
        request.filter.on_done();
        let originals = request.outbox.take_originals();
        assert_eq!(originals.len(), 1);
        assert!(originals[0].summary.is_none());
        assert_eq!(request.budget.used(), 0, "the capture's share came back");
    }

    #[test]
    fn a_configuration_replaced_mid_request_keeps_the_request_under_its_own() {
        let old = settings(ONE_TARGET);
        let mut request = Request::new(&old, 1 << 20);
        request.filter.on_http_request_headers(HEADERS.len(), false);
        // The root takes a new configuration now: its targets and redaction are others.
        let new = settings(
            r#"{"targets": [{"cluster": "other", "name": "c"}], "redact": {"headers": []}}"#,
        );
        drop(new);
        request.body(b"body", true);
        let jobs = request.outbox.take_jobs();
        let [job] = jobs.as_slice() else {
            panic!("one job, got {}", jobs.len());
        };
        assert!(Rc::ptr_eq(&job.settings, &old));
        let (target, _) = job.settings.target(0).unwrap();
        assert_eq!(target.cluster, "canary");
        assert_eq!(
            job.request.header("authorization"),
            None,
            "scrubbed as it started"
        );
        assert_eq!(job.request.header("x-request"), Some("kept"));
    }

    #[test]
    fn a_request_no_target_wants_reads_nothing_and_holds_nothing() {
        let settings =
            settings(r#"{"targets": [{"cluster": "canary", "name": "c", "percentage": 0}]}"#);
        let mut request = Request::new(&settings, 1 << 20);
        request.filter.host.unreadable.set(true);
        request.filter.on_http_request_headers(HEADERS.len(), false);
        request.body(b"x", true);
        assert!(request.outbox.take_jobs().is_empty());
        assert_eq!(total(request.settings(), "sampled_out"), 1);
        assert_eq!(total(request.settings(), "aborted"), 0);
        assert_eq!(request.budget.used(), 0);
    }

    #[test]
    fn a_marked_write_is_answered_403_and_counted_and_a_marked_read_passes() {
        let settings = settings(
            r#"{"refuse_marked_writes": true, "targets": [{"cluster": "canary", "name": "c", "percentage": 0}]}"#,
        );
        let marked_post = [
            (":method", "POST"),
            (":path", "/orders"),
            (":authority", "shop"),
            ("baggage", "user=1,traffic-mirror=canary"),
        ];
        let mut request = Request::new(&settings, 1 << 20);
        *request.filter.host.request_headers.borrow_mut() = raw(&marked_post);
        let action = request.filter.on_http_request_headers(4, true);
        assert_eq!(action, Action::Pause, "answered in the service's place");
        let responses = request.filter.host.local_responses.borrow().clone();
        assert_eq!(responses.len(), 1);
        assert_eq!(responses[0].0, 403);
        assert!(String::from_utf8_lossy(&responses[0].1).contains("refuse_marked_writes"));
        settings.flush_counts();
        assert_eq!(
            recording::take_total("traffic_mirror.refused_marked_writes"),
            1
        );

        for (method, marker) in [
            ("GET", "baggage"),
            ("HEAD", "x-traffic-mirror"),
            ("POST", "x-other"),
        ] {
            let mut request = Request::new(&settings, 1 << 20);
            let headers = [
                (":method", method),
                (":path", "/"),
                (":authority", "shop"),
                (marker, "traffic-mirror=x"),
            ];
            *request.filter.host.request_headers.borrow_mut() = raw(&headers);
            assert_eq!(
                request.filter.on_http_request_headers(4, true),
                Action::Continue
            );
            assert!(
                request.filter.host.local_responses.borrow().is_empty(),
                "{method} {marker}"
            );
        }
        settings.flush_counts();
        assert_eq!(
            recording::take_total("traffic_mirror.refused_marked_writes"),
            0
        );
    }

    #[test]
    fn the_original_clusters_target_gets_no_copy_and_no_route_means_no_refusal() {
        let settings = settings(
            r#"{"targets": [{"cluster": "shop-v1", "name": "c"}, {"cluster": "canary", "name": "d"}]}"#,
        );
        let mut routed = Request::new(&settings, 1 << 20);
        routed
            .filter
            .host
            .properties
            .borrow_mut()
            .push(("xds.cluster_name".into(), b"shop-v1".to_vec()));
        routed.filter.on_http_request_headers(HEADERS.len(), true);
        let jobs = routed.outbox.take_jobs();
        assert_eq!(jobs[0].copies.targets.iter().collect::<Vec<_>>(), [1]);
        assert_eq!(total(&settings, "skipped_same_cluster"), 1);

        let mut unrouted = Request::new(&settings, 1 << 20);
        unrouted.filter.on_http_request_headers(HEADERS.len(), true);
        let jobs = unrouted.outbox.take_jobs();
        assert_eq!(jobs[0].copies.targets.iter().collect::<Vec<_>>(), [0, 1]);
        assert_eq!(total(&settings, "skipped_same_cluster"), 0);
    }
}
