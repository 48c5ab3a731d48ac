//! The root context: configuration, the dispatch of every copy, its outcome, and the counters.
//!
//! Every host call goes through `Host`, so this bookkeeping (current, replaced and finishing
//! configurations; counts handed over exactly once) is unit-tested natively below.

use crate::baggage::Marked;
use crate::body_jobs::{BodyJob, Comparison, Ended, Inflation, Unredacted};
use crate::budget::{Budget, Reservation};
use crate::compare::accounting::configuration_hash;
use crate::compare::pairing::Side;
use crate::compare::response::{Capture, Finished, InflationJob, Needs, Summary};
use crate::comparisons::{capture_needs, count_ended, Accounting, Comparisons};
use crate::config::Config;
use crate::copy::Skip;
use crate::copy_log::{CopyEnd, CopyRecord};
use crate::filter::{MirrorFilter, PassThrough};
use crate::host::{Envoy, Host};
use crate::http::{is_grpc, status_code, HeaderMap};
use crate::metrics::Counter;
use crate::outbox::{Job, Outbox};
use crate::outcome::{classify, with_grpc_status, Outcome};
use crate::settings::Settings;
use crate::slices::Queue;
use crate::targets::TargetSet;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, Status};
use std::borrow::Cow;
use std::collections::HashMap;
use std::rc::Rc;

/// A copy dispatched and not yet answered.
struct InFlight {
    settings: Rc<Settings>,
    target: usize,
    dispatched_ns: u64,
    /// The first copy of a compared request's side: its pairing id and response capture.
    compared: Option<(u64, Capture)>,
    /// The copy's share of the memory budget: Envoy holds the copy until it is answered.
    _held: Reservation,
    /// What its copy-log line says of the request, when the target logs its copies.
    logged: Option<Rc<CopyRecord>>,
}

thread_local! {
    /// One budget per VM, that is per worker, shared by its root contexts (a replaced
    /// configuration's root still holds its copies in flight).
    static WORKER_BUDGET: Rc<Budget> = Budget::new(crate::config::DEFAULT_MAX_BUFFERED_BYTES);
}

#[derive(Default)]
pub struct MirrorRoot<H: Host = Envoy> {
    host: H,
    settings: Option<Rc<Settings>>,
    outbox: Rc<Outbox>,
    budget: Rc<Budget>,
    in_flight: HashMap<u32, InFlight>,
    /// Shadow verification under the current settings (when some target compares).
    comparisons: Option<Comparisons>,
    /// Envoy asked this root to finish (its configuration was replaced): it does once the
    /// copies in flight are done.
    finishing: bool,
    /// Work on large bodies, a slice per tick (see `slices`): requests being redacted,
    /// compared responses being inflated, comparisons being diffed.
    body_jobs: Queue<BodyJob>,
}

impl MirrorRoot<Envoy> {
    /// The root Envoy runs: it shares the worker's memory budget with the other roots of
    /// this VM.
    pub fn for_worker() -> MirrorRoot<Envoy> {
        MirrorRoot {
            budget: WORKER_BUDGET.with(Rc::clone),
            ..MirrorRoot::default()
        }
    }
}

impl<H: Host> MirrorRoot<H> {
    fn dispatch_all(&mut self, jobs: &mut [Job]) {
        let now = if jobs.is_empty() {
            0
        } else {
            self.host.now_ns()
        };
        for job in jobs {
            let captured = self.start_comparisons(job, now);
            for index in job.copies.targets.iter() {
                let needs = captured
                    .contains(index)
                    .then(|| capture_needs(&job.settings, job, index));
                self.dispatch(job, index, now, needs);
            }
        }
    }

    /// The comparisons of a job's request start as its copies go out; the targets whose
    /// first copy's response they need come back.
    fn start_comparisons(&mut self, job: &Job, now: u64) -> TargetSet {
        // Comparisons belong to the current settings (their targets, their reports).
        let current = self.is_current(&job.settings);
        match &mut self.comparisons {
            Some(comparisons) if current => comparisons.start(&job.settings, job, now),
            _ => TargetSet::default(),
        }
    }

    /// Sends a request's copies to one target (its `amplify`, or one when carried): one
    /// decision, one result per copy. With `needs`, the first copy's response is compared.
    fn dispatch(&mut self, job: &mut Job, index: usize, now: u64, needs: Option<Needs>) {
        let Some((target, state)) = job.settings.target(index) else {
            return;
        };
        state.metrics.add(Counter::Mirrored);
        let member = target.containment.baggage_member.as_deref();
        let marked = member.map(|member| job.request.marked_baggage(member));
        let baggage = match &marked {
            Some(Marked::Alone) => member,
            Some(Marked::Merged(merged)) => Some(merged.as_str()),
            Some(Marked::NotMarked) => {
                state.metrics.add(Counter::BaggageNotMarked);
                None
            }
            None => None,
        };
        let headers = job.request.headers_for(
            target,
            job.settings.config.marker_header.as_deref(),
            baggage,
        );
        let logged = state
            .copy_log
            .enabled()
            .then(|| Rc::new(job.request.copy_record(&target.endpoints)));
        let mut compared = needs
            .zip(job.pairing)
            .map(|(needs, id)| (id, Capture::new(needs)));
        // The host takes each copy's headers by value: the last copy is given them, the
        // others a clone (a single copy, the usual case, then costs no clone).
        let mut headers = Some(headers);
        for left in (0..job.copies.count(index, target.amplify)).rev() {
            let pairs = match left {
                0 => headers.take(),
                _ => headers.clone(),
            };
            let call = self.host.dispatch(
                &target.cluster,
                pairs.unwrap_or_default(),
                job.request.body(),
                job.request.trailers(),
                target.timeout,
            );
            match call {
                Ok(token) => {
                    state.metrics.in_flight(1);
                    let settings = Rc::clone(&job.settings);
                    self.in_flight.insert(
                        token,
                        InFlight {
                            settings,
                            target: index,
                            dispatched_ns: now,
                            compared: compared.take(),
                            _held: job.reservation.split_off(job.per_copy),
                            logged: logged.clone(),
                        },
                    );
                }
                Err(status) => {
                    let reason = refusal_reason(status, &target.cluster);
                    record_result(&job.settings, index, Outcome::Failed, now, &reason);
                    if let Some(record) = &logged {
                        let end = CopyEnd {
                            outcome: Counter::Failed.suffix(),
                            status: None,
                            duration_ms: 0,
                            response_bytes: 0,
                        };
                        log_copy(&job.settings, index, now, record, end);
                    }
                    if let Some((id, _)) = compared.take() {
                        self.copy_compared(&job.settings, id, index, None, now);
                    }
                }
            }
        }
    }

    /// Hands a compared copy's response (`None`: no upstream answer) to the comparisons.
    fn copy_compared(
        &mut self,
        settings: &Settings,
        id: u64,
        target: usize,
        summary: Option<Summary>,
        now: u64,
    ) {
        if let Some(comparisons) = &mut self.comparisons {
            comparisons.copy_answered(settings, id, target, summary, now);
        }
    }

    /// A compared response whose compressed body is still to be inflated: a job, a slice per
    /// tick, held against the budget (past it, compared without its body at once).
    fn inflate_later(
        &mut self,
        settings: &Rc<Settings>,
        pairing: u64,
        side: Side,
        job: InflationJob,
        now: u64,
    ) {
        let held = self.budget.reservation();
        match Inflation::start(Rc::clone(settings), pairing, side, job, held) {
            Ok(job) => {
                let current = self.is_current(settings);
                if let (Some(comparisons), true) = (&mut self.comparisons, current) {
                    // Its comparisons wait for it past their deadline: it will come.
                    comparisons.inflating(pairing, side);
                }
                self.body_jobs.push(BodyJob::Inflation(Box::new(job)));
                self.outbox.wake_root(&self.host);
            }
            Err(summary) => self.arrived(settings, pairing, side, Some(summary), now),
        }
    }

    /// A side's response (`None`: the original never completed, the copy got no answer),
    /// for the comparisons of the settings it was captured under, if they are still current.
    fn arrived(
        &mut self,
        settings: &Rc<Settings>,
        pairing: u64,
        side: Side,
        summary: Option<Summary>,
        now: u64,
    ) {
        // A replaced configuration's comparisons were ended when it was replaced.
        if !self.is_current(settings) {
            return;
        }
        match side {
            Side::Original => {
                if let Some(comparisons) = &mut self.comparisons {
                    comparisons.original(settings, pairing, summary, now);
                }
            }
            Side::Target(target) => self.copy_compared(settings, pairing, target, summary, now),
        }
    }

    /// The originals' responses handed over by HTTP contexts, and the comparisons' timing.
    fn advance_comparisons(&mut self, now: u64) {
        let mut originals = self.outbox.take_originals();
        let Some(settings) = self.settings.clone() else {
            return;
        };
        for original in &mut originals {
            match original.summary.take() {
                Some(Finished::Inflating(job)) => {
                    self.inflate_later(&settings, original.pairing, Side::Original, job, now);
                }
                summary => {
                    let summary = summary.map(|finished| match finished {
                        Finished::Ready(summary) => summary,
                        Finished::Inflating(mut job) => job.leave_body_out(),
                    });
                    self.arrived(&settings, original.pairing, Side::Original, summary, now);
                }
            }
        }
        // The list's room serves the next responses (no allocation for them).
        self.outbox.give_back_originals(originals);
        if let Some(comparisons) = &mut self.comparisons {
            comparisons.tick(&settings, now);
        }
        self.queue_comparisons();
    }

    /// The comparisons whose large bodies are to be diffed join the queue, under the current
    /// settings (theirs).
    fn queue_comparisons(&mut self) {
        let (Some(comparisons), Some(settings)) = (&mut self.comparisons, &self.settings) else {
            return;
        };
        let started = comparisons.take_comparing();
        if started.is_empty() {
            return;
        }
        for (comparing, held) in started {
            self.body_jobs
                .push(BodyJob::Comparison(Box::new(Comparison {
                    settings: Rc::clone(settings),
                    comparing,
                    held,
                })));
        }
        self.outbox.wake_root(&self.host);
    }

    fn is_current(&self, settings: &Rc<Settings>) -> bool {
        self.settings
            .as_ref()
            .is_some_and(|current| Rc::ptr_eq(current, settings))
    }

    /// One slice of the body job whose turn it is (see `slices`).
    fn work_on_bodies(&mut self) {
        for job in self.outbox.take_unredacted() {
            self.body_jobs.push(BodyJob::Redaction(Box::new(job)));
        }
        let Some(ended) = self.body_jobs.turn(BodyJob::slice) else {
            return;
        };
        let settings = match ended {
            Ended::Redacted(job, done) => self.redacted(job, done),
            Ended::Inflated(job, summary) => {
                let now = self.host.now_ns();
                self.arrived(&job.settings, job.pairing, job.side, Some(summary), now);
                self.queue_comparisons();
                job.settings
            }
            Ended::Compared(settings, resolved) => {
                let now = self.host.now_ns();
                let current = self.is_current(&settings);
                match &mut self.comparisons {
                    Some(comparisons) if current => {
                        comparisons.compared(&settings, resolved, now);
                    }
                    // Its configuration was replaced: its window and series went with it.
                    _ => count_ended(&settings, &resolved),
                }
                settings
            }
        };
        if !self.is_current(&settings) || self.finishing {
            settings.flush_counts(); // no later tick flushes replaced settings
        }
        if self.finishing && self.finish_if_done() {
            self.host.done();
        }
    }

    /// A request whose redaction ended is dispatched, or counted as not sent, under the
    /// settings it was decided with (returned).
    fn redacted(&mut self, job: Box<Unredacted>, done: Result<usize, Skip>) -> Rc<Settings> {
        let Unredacted {
            settings,
            copies,
            request,
            reservation,
            pairing,
            ..
        } = *job;
        match done {
            Ok(per_copy) => {
                let job = Job {
                    settings: Rc::clone(&settings),
                    copies,
                    request,
                    pairing,
                    reservation,
                    per_copy,
                };
                self.dispatch_all(&mut [job]);
            }
            Err(skip) => {
                log::debug!("request not mirrored: {skip:?}");
                settings.release_unsent(copies);
                settings.count(copies.targets, Counter::from(skip));
            }
        }
        settings
    }

    /// When this root was asked to finish, it does once nothing is queued or in flight; the
    /// comparisons still waiting then (for an original that never ends) end as expired, and
    /// those of them with all their sides in are compared first (in slices when large).
    fn finish_if_done(&mut self) -> bool {
        if !self.in_flight.is_empty() || !self.body_jobs.is_empty() {
            return false;
        }
        let now = self.host.now_ns();
        if let (Some(comparisons), Some(settings)) = (&mut self.comparisons, &self.settings) {
            comparisons.expire_all(settings, now);
        }
        self.queue_comparisons();
        let done = self.body_jobs.is_empty();
        if done {
            self.settings.iter().for_each(|settings| {
                settings.flush_counts();
            });
        }
        done
    }
}

/// Why Envoy refused a dispatch, from what `proxy_http_call` returned. In Envoy 1.40
/// (`Context::httpCall`, source/extensions/common/wasm/context.cc) `BadArgument` means the
/// cluster is not known to this Envoy (the headers and timeout the plugin sends are always
/// valid); `InternalFailure` means the async client failed the call before returning it, which
/// is what a full circuit breaker (`max_pending_requests`, `max_requests`) or a cluster without
/// a healthy host does (measured: tests/integration/security.rs).
fn refusal_reason(status: Status, cluster: &str) -> String {
    match status {
        Status::BadArgument => format!("Envoy has no cluster {cluster}"),
        Status::InternalFailure => format!(
            "Envoy failed the call at once: cluster {cluster}'s circuit breaker \
             (max_pending_requests, max_requests) is full, or it has no healthy host"
        ),
        other => format!("Envoy refused the dispatch to cluster {cluster} ({other:?})"),
    }
}

/// Writes a copy's line (and the count the budget cut before it), within its target's budget.
fn log_copy(settings: &Settings, index: usize, now: u64, record: &CopyRecord, end: CopyEnd) {
    if let Some((target, state)) = settings.target(index) {
        for line in state.copy_log.lines(&target.name, now, record, end) {
            log::info!("{line}");
        }
    }
}

/// The `:status` of a response, when it has one.
fn status_of(response: &HeaderMap) -> Option<u16> {
    status_code(response.get(":status")?)
}

/// Counts one copy's result, frees its slot, and warns (sparingly) when it failed.
fn record_result(settings: &Settings, index: usize, outcome: Outcome, now: u64, reason: &str) {
    let Some((target, state)) = settings.target(index) else {
        return;
    };
    state.metrics.add(Counter::from(outcome));
    state.limiter.release(1);
    if outcome.is_failure() {
        if let Some(failures) = state.failures.record(now) {
            log::warn!(
                "target {}: {failures} cop{} failed or timed out since the last warning; latest: {reason}",
                target.name,
                if failures == 1 { "y" } else { "ies" }
            );
        }
    }
}

impl<H: Host> Context for MirrorRoot<H> {
    fn on_http_call_response(
        &mut self,
        token: u32,
        headers: usize,
        body_size: usize,
        trailers: usize,
    ) {
        let Some(mut call) = self.in_flight.remove(&token) else {
            return;
        };
        // Read in place, in the bytes Envoy hands over: no pair per header.
        let response = if headers > 0 {
            self.host.call_response_headers()
        } else {
            HeaderMap::default()
        };
        let outcome = classify(response.iter());
        // Trailers are read only for a gRPC answer (its status) or a compared copy.
        let grpc = is_grpc(&response);
        let trailers = if trailers > 0 && (grpc || call.compared.is_some()) {
            self.host.call_response_trailers()
        } else {
            HeaderMap::default()
        };
        let outcome = with_grpc_status(outcome, grpc, &response, &trailers);
        let now = self.host.now_ns();
        if let Some((id, mut capture)) = call.compared.take() {
            let side = Side::Target(call.target);
            let finished = outcome.is_answer().then(|| {
                capture.headers(&response);
                if capture.wants_body() && body_size > 0 {
                    // One slice of a compressed body is inflated here; the rest by a job.
                    capture.body_chunk_owned(self.host.call_response_body(body_size));
                }
                capture.trailers(&trailers);
                capture.finish()
            });
            match finished {
                Some(Finished::Inflating(job)) => {
                    self.inflate_later(&call.settings, id, side, job, now);
                }
                Some(Finished::Ready(summary)) => {
                    self.arrived(&call.settings, id, side, Some(summary), now);
                }
                None => self.arrived(&call.settings, id, side, None, now),
            }
            self.queue_comparisons();
        }
        if let Some((_, state)) = call.settings.target(call.target) {
            state.metrics.in_flight(-1);
            state
                .metrics
                .record_latency(now.saturating_sub(call.dispatched_ns) / 1_000_000);
        }
        // Borrowed for all but the rare odd status: no allocation per response.
        let reason: Cow<'static, str> = match outcome {
            Outcome::TimedOut => "no answer within timeout_ms".into(),
            Outcome::Overloaded => "Envoy did not send it: the cluster's circuit breaker \
                                    (max_requests, max_pending_requests) was full"
                .into(),
            Outcome::NotAnAnswer(status) => format!(
                "the target's last word was status {status}, not a final answer \
                 (informational, or outside 100..599)"
            )
            .into(),
            _ => {
                "no answer from the target (connection refused or reset, or no healthy host)".into()
            }
        };
        record_result(&call.settings, call.target, outcome, now, &reason);
        if let Some(record) = &call.logged {
            let end = CopyEnd {
                outcome: Counter::from(outcome).suffix(),
                status: status_of(&response),
                duration_ms: now.saturating_sub(call.dispatched_ns) / 1_000_000,
                response_bytes: body_size,
            };
            log_copy(&call.settings, call.target, now, record, end);
        }
        if self.finishing {
            call.settings.flush_counts();
            if self.finish_if_done() {
                self.host.done();
            }
        } else if self.is_current(&call.settings) {
            self.outbox.hand_over_counts(&call.settings, &self.host);
        } else {
            call.settings.flush_counts(); // a replaced configuration: no tick flushes it
        }
    }

    /// Envoy replaces this root (a new configuration) or shuts down: queued copies go out at
    /// once, and copies in flight are waited for, so that none is lost or left uncounted.
    fn on_done(&mut self) -> bool {
        let mut jobs = self.outbox.take_jobs();
        self.dispatch_all(&mut jobs);
        let now = self.host.now_ns();
        self.advance_comparisons(now);
        for job in &jobs {
            job.settings.flush_counts();
        }
        // No more ticks: from now on, counts go to Envoy as they are made.
        self.outbox.finish(&self.host);
        self.finishing = true;
        // Except for the requests being redacted: their slices go on, one per tick, and
        // their copies go out under the settings they were decided with.
        for job in self.outbox.take_unredacted() {
            self.body_jobs.push(BodyJob::Redaction(Box::new(job)));
        }
        if !self.body_jobs.is_empty() {
            self.outbox.wake_root(&self.host);
        }
        self.finish_if_done()
    }
}

impl<H: Host + 'static> RootContext for MirrorRoot<H> {
    fn on_configure(&mut self, configuration_size: usize) -> bool {
        let json = self.host.plugin_configuration(configuration_size);
        let settings = Config::parse(&json)
            .map_err(|error| format!("invalid plugin configuration: {error}"))
            .and_then(|config| Settings::define(config, self.host.metrics()));
        match settings {
            Ok(settings) => {
                let now = self.host.now_ns();
                if let (Some(comparisons), Some(old)) = (&mut self.comparisons, &self.settings) {
                    comparisons.expire_all(old, now);
                }
                // Comparisons it ended with large bodies are diffed in slices still, under it.
                self.queue_comparisons();
                let compares = settings.config.targets.iter().any(|t| t.compare.is_some());
                let held = self.budget.reservation();
                let accounting = Accounting {
                    configuration: configuration_hash(&json),
                    metrics: self.host.metrics(),
                    shared: self.host.shared_data(),
                };
                self.comparisons =
                    compares.then(|| Comparisons::new(&settings, now, held, accounting));
                self.budget
                    .set_limit(settings.config.body.max_buffered_bytes);
                let names: Vec<&str> = settings
                    .config
                    .targets
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect();
                log::info!("mirroring to {}", names.join(", "));
                self.settings = Some(Rc::new(settings));
                true
            }
            Err(error) => {
                log::error!("{error}");
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Returning None would make the SDK panic, so an unconfigured root still answers.
        Some(match &self.settings {
            Some(settings) => Box::new(MirrorFilter::new(
                Rc::clone(settings),
                Rc::clone(&self.outbox),
                Rc::clone(&self.budget),
            )),
            None => Box::new(PassThrough),
        })
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn on_tick(&mut self) {
        let mut jobs = self.outbox.take_jobs();
        self.dispatch_all(&mut jobs);
        self.work_on_bodies();
        if self.comparisons.is_some() {
            self.advance_comparisons(self.host.now_ns());
        }
        // (After the comparisons: a comparison they end may have become a job.)
        let busy = !jobs.is_empty() || !self.body_jobs.is_empty();
        for job in jobs.iter().filter(|job| !self.is_current(&job.settings)) {
            job.settings.flush_counts();
        }
        if let Some(settings) = &self.settings {
            // Counts alone do not keep the timer running: the next ones set it again, so a
            // quiet stretch costs one tick per batch of counts, not two.
            settings.flush_counts();
        }
        // The list's room serves the next jobs (no allocation for them).
        self.outbox.give_back_jobs(jobs);
        if busy {
            return;
        }
        let waiting = match (&self.comparisons, &self.settings) {
            (Some(comparisons), Some(settings)) => comparisons.waiting(settings),
            _ => false,
        };
        if waiting {
            // Comparisons to expire or a summary due: wake up now and then for them.
            self.outbox.slow_down(&self.host);
        } else {
            // Nothing came in since the last tick: sleep until new work arms the timer again.
            self.outbox.sleep(&self.host);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::capture_headers;
    use crate::host::{recording, FakeHost};
    use crate::outbox::WAITING_PERIOD;
    use crate::slices::SLICE_BYTES;
    use crate::targets::Copies;

    const CONFIG: &str = r#"{"targets": [{"cluster": "canary", "name": "c"}]}"#;
    const UPSTREAM_200: [(&str, &str); 2] =
        [(":status", "200"), ("x-envoy-upstream-service-time", "1")];

    fn total(metric: &str) -> i64 {
        recording::take_total(&format!("traffic_mirror.c.{metric}"))
    }

    fn configured(json: &str) -> MirrorRoot<FakeHost> {
        let mut root = MirrorRoot::<FakeHost>::default();
        *root.host.configuration.borrow_mut() = json.as_bytes().to_vec();
        assert!(root.on_configure(json.len()));
        root
    }

    fn job(settings: &Rc<Settings>, budget: &Rc<Budget>) -> Job {
        let raw = [(":method", "GET"), (":path", "/x"), (":authority", "shop")]
            .map(|(n, v)| (n, v.as_bytes()));
        let raw = HeaderMap::from_pairs(raw.into_iter());
        let mut request = capture_headers(&raw, &settings.config).unwrap();
        request.finish(&settings.config.redaction).unwrap();
        let mut targets = TargetSet::default();
        targets.insert(0);
        let copies = Copies {
            targets,
            carried: TargetSet::default(),
        };
        let per_copy = request.held_bytes();
        let mut reservation = budget.reservation();
        reservation
            .grow(per_copy * settings.copy_count(copies))
            .unwrap();
        Job {
            settings: Rc::clone(settings),
            copies,
            request,
            pairing: None,
            reservation,
            per_copy,
        }
    }

    fn send_one(root: &MirrorRoot<FakeHost>) {
        let settings = root.settings.clone().unwrap();
        root.outbox.send(job(&settings, &root.budget), &root.host);
    }

    #[test]
    fn the_tick_hands_its_emptied_job_list_back_for_the_next_jobs() {
        let mut root = configured(CONFIG);
        send_one(&root);
        root.on_tick();
        assert_eq!(total("mirrored"), 1);
        let kept = root.outbox.take_jobs();
        assert!(
            kept.is_empty() && kept.capacity() > 0,
            "the list came back empty"
        );
    }

    const FORM_CONFIG: &str = r#"{"targets": [{"cluster": "canary", "name": "c"}],
        "redact": {"query_params": ["password"]}}"#;

    /// A form request of `pairs` pairs (`password` first) handed over for redaction in slices.
    fn send_large(root: &MirrorRoot<FakeHost>, pairs: usize) {
        let settings = root.settings.clone().unwrap();
        let Job {
            copies,
            mut request,
            reservation,
            ..
        } = job(&settings, &root.budget);
        let body = format!("password=1&{}", "a=b&".repeat(pairs)).into_bytes();
        request.append_body(body, usize::MAX).unwrap();
        let redaction = request
            .sliced_redaction(&settings.config.redaction)
            .unwrap()
            .unwrap();
        let job = Unredacted {
            settings,
            copies,
            request,
            reservation,
            copy_count: 1,
            pairing: None,
            redaction,
        };
        root.outbox.send_unredacted(job, &root.host);
    }

    #[test]
    fn a_large_body_goes_out_once_its_last_slice_is_done() {
        let mut root = configured(FORM_CONFIG);
        let pairs = SLICE_BYTES; // four slices' worth of `a=b&`
        send_large(&root, pairs);
        send_one(&root);
        root.on_tick();
        assert_eq!(root.host.tokens(), [1], "the small request does not wait");
        let mut ticks = 1;
        while root.host.tokens().len() < 2 {
            assert!(root.host.timer_running(), "still redacting: ticking");
            root.on_tick();
            ticks += 1;
            assert!(ticks < 10_000);
        }
        assert!(
            ticks > 4,
            "four slices' worth of bytes, and names: {ticks} ticks"
        );
        assert_eq!(root.host.tokens(), [1, 2]);
        assert_eq!(total("mirrored"), 2, "each counted once");
    }

    #[test]
    fn a_replaced_root_finishes_its_redactions_then_is_done() {
        let mut root = configured(FORM_CONFIG);
        send_large(&root, SLICE_BYTES);
        root.on_tick();
        assert!(!root.on_done(), "a redaction is in progress");
        assert!(root.host.timer_running(), "its slices go on");
        while root.host.tokens().is_empty() {
            root.on_tick();
        }
        assert_eq!(total("mirrored"), 1, "counted at once by a finishing root");
        assert_eq!(root.host.done_calls.get(), 0, "its copy is in flight");
        answer(&mut root, 1, &UPSTREAM_200);
        assert_eq!(root.host.done_calls.get(), 1);
    }

    #[test]
    fn a_redaction_that_ends_unsent_is_counted_and_frees_its_slot_and_budget() {
        let mut root = configured(
            r#"{"targets": [{"cluster": "canary", "name": "c", "limits": {"max_in_flight": 1}}],
                "redact": {"query_params": ["password"]}}"#,
        );
        let settings = root.settings.clone().unwrap();
        settings.admit(0, 1, || 0).unwrap();
        send_large(&root, SLICE_BYTES);
        root.budget.set_limit(0); // the next slice's output cannot be held
        for _ in 0..10 {
            root.on_tick();
        }
        assert!(root.host.tokens().is_empty());
        assert_eq!(total("skipped_memory_budget"), 1);
        assert_eq!(root.budget.used(), 0);
        assert!(
            settings.admit(0, 1, || 0).is_ok(),
            "the in-flight slot is free"
        );
    }

    const COMPARED: &str = r#"{"targets": [{"cluster": "canary", "name": "c",
        "compare": {"body": "json", "max_body_bytes": 4194304}}],
        "body": {"max_buffered_bytes": 67108864}}"#;

    /// A JSON body of about `size` bytes, several slices long.
    fn large_json(size: usize) -> Vec<u8> {
        let items: Vec<String> = (0..size / 30)
            .map(|i| format!(r#"{{"id": {i}, "name": "n{i}"}}"#))
            .collect();
        format!("[{}]", items.join(", ")).into_bytes()
    }

    /// A compared request dispatched, its original's `body` in: the copy's answer awaited.
    fn compared_request(root: &mut MirrorRoot<FakeHost>, body: &[u8]) {
        let settings = root.settings.clone().unwrap();
        let mut job = job(&settings, &root.budget);
        let id = root.outbox.next_pairing_id();
        job.pairing = Some(id);
        root.outbox.send(job, &root.host);
        root.on_tick();
        let original = Summary {
            status: Some(200),
            body: crate::compare::response::Body::Bytes(body.to_vec()),
            ..Summary::default()
        };
        root.outbox
            .send_original(id, Some(Finished::Ready(original)), &root.host);
        root.on_tick();
    }

    /// The copy's answer: `body`, gzip-compressed.
    fn answer_gzip(root: &mut MirrorRoot<FakeHost>, token: u32, body: &[u8]) {
        let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
        gz.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(body, 6));
        gz.extend_from_slice(&[0; 8]);
        let headers = [
            (":status", "200"),
            ("content-encoding", "gzip"),
            ("x-envoy-upstream-service-time", "1"),
        ];
        root.host.answer(&headers);
        let size = gz.len();
        *root.host.response_body.borrow_mut() = gz;
        root.on_http_call_response(token, headers.len(), size, 0);
    }

    fn ended_comparisons() -> i64 {
        ["matched", "mismatched", "compare_skipped_expired"]
            .iter()
            .map(|name| total(name))
            .sum()
    }

    #[test]
    fn a_large_gzip_comparison_is_inflated_and_diffed_in_slices_and_counted_once() {
        let mut root = configured(COMPARED);
        let body = large_json(SLICE_BYTES * 4);
        compared_request(&mut root, &body);
        answer_gzip(&mut root, 1, &body);
        assert_eq!(
            ended_comparisons(),
            0,
            "the callback inflated one slice only"
        );
        assert!(!root.body_jobs.is_empty());
        let mut ticks = 0;
        while !root.body_jobs.is_empty() {
            root.on_tick();
            ticks += 1;
            assert!(ticks < 10_000);
        }
        assert!(
            ticks >= 4,
            "inflated a slice per tick, then diffed: {ticks}"
        );
        root.on_tick();
        assert_eq!(total("matched"), 1, "the same bodies match");
        assert_eq!(ended_comparisons(), 0, "once");
        assert_eq!(total("compare_pending"), 0);
        assert_eq!(root.budget.used(), 0, "every byte given back");
    }

    #[test]
    fn a_comparison_in_slices_when_the_configuration_is_replaced_ends_once_under_it() {
        let mut root = configured(COMPARED);
        let body = large_json(SLICE_BYTES * 4);
        compared_request(&mut root, &body);
        let headers = [(":status", "200"), ("x-envoy-upstream-service-time", "1")];
        root.host.answer(&headers);
        *root.host.response_body.borrow_mut() = body.clone();
        root.on_http_call_response(1, headers.len(), body.len(), 0);
        assert!(!root.body_jobs.is_empty(), "its diff is a job");
        *root.host.configuration.borrow_mut() = COMPARED.replace("\"c\"", "\"d\"").into_bytes();
        assert!(root.on_configure(0));
        let mut ticks = 0;
        while !root.body_jobs.is_empty() {
            root.on_tick();
            ticks += 1;
            assert!(ticks < 10_000);
        }
        root.on_tick();
        // Its diff went on: counted once, under the configuration it was started with.
        assert_eq!(total("matched"), 1);
        assert_eq!(ended_comparisons(), 0);
        assert_eq!(total("compare_pending"), 0);
        assert_eq!(recording::take_total("traffic_mirror.d.matched"), 0);
        assert_eq!(root.budget.used(), 0);
    }

    fn answer(root: &mut MirrorRoot<FakeHost>, token: u32, headers: &[(&str, &str)]) {
        root.host.answer(headers);
        root.on_http_call_response(token, headers.len(), 0, 0);
    }

    #[test]
    fn an_invalid_configuration_is_refused() {
        let mut root = MirrorRoot::<FakeHost>::default();
        *root.host.configuration.borrow_mut() = br#"{"targets": []}"#.to_vec();
        assert!(!root.on_configure(15));
        assert!(root.settings.is_none());
    }

    #[test]
    fn work_arms_the_timer_once_and_an_idle_tick_stops_it() {
        let mut root = configured(CONFIG);
        send_one(&root);
        send_one(&root);
        assert_eq!(root.host.tick_periods.borrow().len(), 1, "armed once");
        assert!(root.host.timer_running());
        root.on_tick();
        assert_eq!(root.host.tokens(), [1, 2], "both copies go out on one tick");
        let (_, cluster, headers) = root.host.dispatched.borrow()[0].clone();
        assert_eq!(cluster, "canary");
        assert!(headers.contains(&("x-traffic-mirror".into(), "c".into())));
        assert!(root.host.timer_running(), "busy tick: keeps ticking");
        root.on_tick();
        assert!(!root.host.timer_running(), "idle tick: sleeps");
        send_one(&root);
        assert!(root.host.timer_running(), "new work wakes it again");
    }

    #[test]
    fn a_refused_arming_is_retried_by_the_next_piece_of_work() {
        let root = configured(CONFIG);
        root.host.refuse_timer.set(true);
        send_one(&root);
        root.host.refuse_timer.set(false);
        send_one(&root);
        assert_eq!(root.host.tick_periods.borrow().len(), 2);
    }

    #[test]
    fn counts_go_with_the_next_tick_and_an_idle_root_wakes_slowly_for_them() {
        let mut root = configured(CONFIG);
        let settings = root.settings.clone().unwrap();
        for _ in 0..3 {
            settings.count_one(0, Counter::SampledOut);
            root.outbox.hand_over_counts(&settings, &root.host);
        }
        assert_eq!(
            *root.host.tick_periods.borrow(),
            [WAITING_PERIOD],
            "set once"
        );
        assert_eq!(total("sampled_out"), 0, "waits for the tick");
        root.on_tick();
        assert_eq!(
            recording::take_increments().len(),
            1,
            "three counts, one host call"
        );
        root.on_tick();
        assert!(!root.host.timer_running(), "nothing more: sleeps");
        root.host.refuse_timer.set(true);
        settings.count_one(0, Counter::SampledOut);
        root.outbox.hand_over_counts(&settings, &root.host);
        assert_eq!(total("sampled_out"), 1, "no timer to be had: at once");
    }

    #[test]
    fn a_finishing_root_hands_counts_over_at_once() {
        let mut root = configured(CONFIG);
        assert!(root.on_done());
        let settings = root.settings.clone().unwrap();
        settings.count_one(0, Counter::SampledOut);
        root.outbox.hand_over_counts(&settings, &root.host);
        assert_eq!(total("sampled_out"), 1);
        assert!(!root.host.timer_running());
    }

    #[test]
    fn every_copy_ends_in_exactly_one_result_and_the_gauge_returns_to_zero() {
        let mut root = configured(CONFIG);
        for _ in 0..3 {
            send_one(&root);
        }
        root.on_tick();
        answer(&mut root, 1, &UPSTREAM_200);
        answer(&mut root, 2, &[(":status", "504")]);
        answer(&mut root, 3, &[]);
        answer(&mut root, 3, &UPSTREAM_200); // a token already answered: ignored
        answer(&mut root, 99, &UPSTREAM_200); // never dispatched: ignored
        root.on_tick();
        assert_eq!(total("mirrored"), 3);
        assert_eq!(total("responses_2xx"), 1);
        assert_eq!(total("timed_out"), 1);
        assert_eq!(total("failed"), 1);
        assert_eq!(total("in_flight"), 0);
        assert!(root.in_flight.is_empty());
    }

    #[test]
    fn each_copy_holds_its_share_of_the_budget_until_its_answer() {
        let mut root = configured(
            r#"{"targets": [{"cluster": "canary", "name": "c", "amplify": 2}],
                "body": {"max_buffered_bytes": 65536}}"#,
        );
        send_one(&root);
        let held = root.budget.used();
        assert!(held > 0, "queued: the job holds its copies' bytes");
        root.on_tick();
        assert_eq!(root.budget.used(), held, "dispatched: the copies hold them");
        answer(&mut root, 1, &UPSTREAM_200);
        assert_eq!(root.budget.used(), held / 2);
        answer(&mut root, 2, &[]);
        assert_eq!(root.budget.used(), 0);
    }

    #[test]
    fn a_refused_dispatch_gives_its_budget_back() {
        let mut root = configured(CONFIG);
        root.host
            .refusing_clusters
            .borrow_mut()
            .push("canary".into());
        send_one(&root);
        root.on_tick();
        assert_eq!(root.budget.used(), 0);
    }

    #[test]
    fn the_configured_budget_applies_to_the_worker() {
        let root = configured(
            r#"{"targets": [{"cluster": "canary"}], "body": {"max_buffered_bytes": 70000}}"#,
        );
        let mut reservation = root.budget.reservation();
        assert!(reservation.grow(70_001).is_err());
        assert!(reservation.grow(70_000).is_ok());
    }

    #[test]
    fn a_refused_dispatch_counts_mirrored_and_failed() {
        let mut root = configured(CONFIG);
        root.host
            .refusing_clusters
            .borrow_mut()
            .push("canary".into());
        send_one(&root);
        root.on_tick();
        root.on_tick();
        assert_eq!((total("mirrored"), total("failed")), (1, 1));
        assert!(root.in_flight.is_empty());
    }

    #[test]
    fn copies_of_a_replaced_configuration_are_counted_under_it_once() {
        let mut root = configured(CONFIG);
        send_one(&root);
        root.on_tick();
        *root.host.configuration.borrow_mut() =
            br#"{"targets": [{"cluster": "canary", "name": "c", "percentage": 50}]}"#.to_vec();
        assert!(root.on_configure(0));
        let old_ids: Vec<u32> = recording::defined()
            .iter()
            .take(Counter::ALL.len() + 2) // the first configuration's metrics
            .enumerate()
            .map(|(i, _)| i as u32 + 1)
            .collect();
        recording::take_increments();
        answer(&mut root, 1, &UPSTREAM_200);
        let handed: Vec<(u32, i64)> = recording::take_increments();
        assert!(
            handed.iter().all(|(id, _)| old_ids.contains(id)),
            "counted under the old configuration's metrics: {handed:?}"
        );
        assert_eq!(
            handed.len(),
            2,
            "in_flight -1 and responses_2xx +1, at once"
        );
        root.on_tick();
        root.on_tick();
        assert!(recording::take_increments().is_empty(), "and never again");
    }

    #[test]
    fn a_finishing_root_sends_what_is_queued_and_is_done_after_the_last_answer() {
        let mut root = configured(CONFIG);
        send_one(&root);
        root.on_tick();
        send_one(&root); // queued, not yet dispatched
        assert!(!root.on_done(), "copies in flight: not done yet");
        assert_eq!(
            root.host.tokens(),
            [1, 2],
            "the queued copy went out at once"
        );
        assert!(!root.host.timer_running());
        assert_eq!(total("mirrored"), 2, "counts go out at once when finishing");
        answer(&mut root, 1, &UPSTREAM_200);
        assert_eq!(total("responses_2xx"), 1);
        assert_eq!(root.host.done_calls.get(), 0);
        answer(&mut root, 2, &UPSTREAM_200);
        assert_eq!(total("responses_2xx"), 1);
        assert_eq!(
            root.host.done_calls.get(),
            1,
            "done once the last copy is answered"
        );
    }

    #[test]
    fn an_idle_root_finishes_at_once() {
        let mut root = configured(CONFIG);
        assert!(root.on_done());
        assert_eq!(root.host.done_calls.get(), 0, "returning true is enough");
    }
}
