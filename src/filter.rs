//! The HTTP context: moves the original request's data from Envoy into a copy, never altering,
//! holding back or failing the original. Every callback returns `Continue`.

use crate::abi;
use crate::budget::{Budget, Reservation};
use crate::copy::{capture_headers, CapturedRequest, Skip};
use crate::decide::Decisions;
use crate::host::{Envoy, Host};
use crate::http::{RawHeaders, RequestHead};
use crate::metrics::Counter;
use crate::outbox::{Job, Outbox};
use crate::sampling::random_draw;
use crate::settings::Settings;
use crate::targets::TargetSet;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};
use std::rc::Rc;

enum Stage {
    /// No target wants this request, or its fate is already decided and counted.
    Idle,
    /// Some targets want a copy (their copies are admitted by the limits): the request is
    /// being collected until it is complete.
    Capturing {
        targets: TargetSet,
        request: CapturedRequest,
        /// What the request holds, once for each of its copies (`copies`), reserved against
        /// the worker's memory budget before it is allocated.
        reservation: Reservation,
        copies: usize,
    },
}

pub struct MirrorFilter {
    settings: Rc<Settings>,
    outbox: Rc<Outbox>,
    budget: Rc<Budget>,
    stage: Stage,
}

impl MirrorFilter {
    pub fn new(settings: Rc<Settings>, outbox: Rc<Outbox>, budget: Rc<Budget>) -> MirrorFilter {
        MirrorFilter {
            settings,
            outbox,
            budget,
            stage: Stage::Idle,
        }
    }

    /// Starts capturing a wanted request, if the worker's budget can hold its headers once
    /// per copy (each copy is held by Envoy until it is answered).
    fn start_capture(&mut self, targets: TargetSet, request: CapturedRequest) -> Result<(), Skip> {
        let copies = self.settings.copies(targets);
        let mut reservation = self.budget.reservation();
        reservation
            .grow(request.held_bytes().saturating_mul(copies))
            .map_err(|_| Skip::MemoryBudget)?;
        self.stage = Stage::Capturing {
            targets,
            request,
            reservation,
            copies,
        };
        Ok(())
    }

    /// Decides for every target; the wanted ones come back with their copies admitted, and
    /// with the headers, which are read whenever some target wants the request.
    fn decide(&self) -> Option<(TargetSet, RawHeaders)> {
        let config = &self.settings.config;
        let global_match = config.request_match.as_ref();
        let mut decisions = Decisions::before_headers(&config.targets, global_match, random_draw);
        let mut headers = Vec::new();
        if decisions.needs_headers() {
            let Ok(read) = abi::request_headers() else {
                self.count(decisions.open(), Counter::Aborted);
                self.count_refusals(&decisions);
                return None;
            };
            headers = read;
            let head = RequestHead::new(&headers);
            let marker = config.marker_header.as_deref();
            decisions.with_headers(&config.targets, global_match, marker, &head, random_draw);
            let now = if self.settings.limits_need_time(decisions.wanted) {
                Envoy.now_ns()
            } else {
                0
            };
            decisions.apply_limits(|target| self.settings.admit(target, now));
        }
        self.count_refusals(&decisions);
        Some((decisions.wanted, headers))
    }

    /// Tallies every refusal, then hands the counts over once.
    fn count_refusals(&self, decisions: &Decisions) {
        let mut any = false;
        for (refusal, targets) in decisions.refusals() {
            self.settings.count(targets, Counter::from(refusal));
            any |= !targets.is_empty();
        }
        if any {
            self.outbox.hand_over_counts(&self.settings);
        }
    }

    /// Gives up the copy being captured, if any.
    fn skip(&mut self, skip: Skip) {
        if let Stage::Capturing { targets, .. } = std::mem::replace(&mut self.stage, Stage::Idle) {
            self.count_skip(targets, skip);
        }
    }

    fn count_skip(&self, targets: TargetSet, skip: Skip) {
        log::debug!("request not mirrored: {skip:?}");
        self.settings.release_unsent(targets);
        self.count(targets, Counter::from(skip));
    }

    fn count(&self, targets: TargetSet, counter: Counter) {
        if !targets.is_empty() {
            self.settings.count(targets, counter);
            self.outbox.hand_over_counts(&self.settings);
        }
    }

    fn complete(&mut self) {
        let Stage::Capturing {
            targets,
            mut request,
            mut reservation,
            copies,
        } = std::mem::replace(&mut self.stage, Stage::Idle)
        else {
            return;
        };
        if let Err(skip) = request.finish(&self.settings.config.redaction) {
            return self.count_skip(targets, skip);
        }
        // Redaction may have changed the body's size: the copies hold what they will send.
        let per_copy = request.held_bytes();
        if reservation.resize(per_copy.saturating_mul(copies)).is_err() {
            return self.count_skip(targets, Skip::MemoryBudget);
        }
        let job = Job {
            settings: Rc::clone(&self.settings),
            targets,
            request,
            reservation,
            per_copy,
        };
        self.outbox.send(job, &Envoy);
    }

    /// The original's trailers, scrubbed, go to the dispatch with the copy; Envoy's
    /// `http_call` does not send them yet (README: Limitations). Charged to the budget by
    /// `complete`.
    fn capture_trailers(&mut self) -> Result<(), Skip> {
        let Stage::Capturing { request, .. } = &mut self.stage else {
            return Ok(());
        };
        let trailers =
            abi::header_map(MapType::HttpRequestTrailers).map_err(|_| Skip::Unreadable)?;
        request.capture_trailers(trailers, &self.settings.config.redaction);
        Ok(())
    }

    fn capture_body_chunk(&mut self, size: usize) -> Result<(), Skip> {
        let body = self.settings.config.body;
        let Stage::Capturing {
            request,
            reservation,
            copies,
            ..
        } = &mut self.stage
        else {
            return Ok(());
        };
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
            .grow(growth.saturating_mul(*copies).saturating_add(transient))
            .map_err(|_| Skip::MemoryBudget)?;
        let chunk = abi::request_body(size).map_err(|_| Skip::Unreadable)?;
        request.append_body(chunk, body.max_bytes)?;
        // The chunk is now part of the body (or freed): hold what the copies will.
        reservation
            .resize(request.held_bytes().saturating_mul(*copies))
            .map_err(|_| Skip::MemoryBudget)
    }
}

impl Context for MirrorFilter {
    fn on_done(&mut self) -> bool {
        // Still capturing when the stream ends: the client went away mid-request.
        self.skip(Skip::Abandoned);
        true
    }
}

impl HttpContext for MirrorFilter {
    fn on_http_request_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        let Some((wanted, headers)) = self.decide() else {
            return Action::Continue;
        };
        if wanted.is_empty() {
            return Action::Continue;
        }
        let captured = capture_headers(headers, &self.settings.config)
            .and_then(|request| self.start_capture(wanted, request));
        match captured {
            Ok(()) if end_of_stream => self.complete(),
            Ok(()) => {}
            Err(skip) => self.count_skip(wanted, skip),
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
}

/// Stands in when the root has no valid configuration (Envoy normally refuses such a plugin).
pub struct PassThrough;

impl Context for PassThrough {}
impl HttpContext for PassThrough {}
