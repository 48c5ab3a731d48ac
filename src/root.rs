//! The root context: configuration, the dispatch of every copy, its outcome, and the counters.

use crate::config::Config;
use crate::copy::CapturedRequest;
use crate::decide::TargetSet;
use crate::filter::{MirrorFilter, PassThrough};
use crate::metrics::Counter;
use crate::outbox::Outbox;
use crate::outcome::{classify, Outcome};
use crate::settings::Settings;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, MapType, Status};
use std::borrow::Cow;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

/// How often the root wakes up while there is work: copies of requests completed within one
/// period go out together, and counts tallied meanwhile are handed to Envoy in one go.
const WAKE_UP_PERIOD: Duration = Duration::from_millis(1);

/// A complete request, scrubbed, with the targets that want a copy of it.
pub struct Job {
    pub settings: Rc<Settings>,
    pub targets: TargetSet,
    pub request: CapturedRequest,
}

struct InFlight {
    settings: Rc<Settings>,
    target: usize,
    dispatched_ns: u64,
}

#[derive(Default)]
pub struct MirrorRoot {
    settings: Option<Rc<Settings>>,
    outbox: Rc<Outbox<Job>>,
    in_flight: HashMap<u32, InFlight>,
    /// Envoy asked this root to finish (its configuration was replaced): it does once the
    /// copies in flight are done.
    finishing: bool,
}

/// Makes sure the root's timer runs: called by whoever leaves work (a job, counts) for it.
pub fn wake_root(outbox: &Outbox<Job>) {
    if outbox.claim_wake_up() && hostcalls::set_tick_period(WAKE_UP_PERIOD).is_err() {
        outbox.disarmed();
    }
}

/// Counts go to Envoy with the next tick when the root is ticking anyway (copies are flowing),
/// and at once otherwise: arming the timer just for them would cost more than they do.
pub fn hand_over_counts(settings: &Settings, outbox: &Outbox<Job>) {
    if !outbox.wake_up_armed() {
        settings.flush_counts();
    }
}

/// The host's clock, in nanoseconds since the epoch (0 if it cannot be read).
pub fn now_ns() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        })
}

impl MirrorRoot {
    fn dispatch_all(&mut self, jobs: &[Job]) {
        let now = if jobs.is_empty() { 0 } else { now_ns() };
        for job in jobs {
            for index in job.targets.iter() {
                self.dispatch(job, index, now);
            }
        }
    }

    /// Sends a request's `amplify` copies to one target: one decision, one result per copy.
    fn dispatch(&mut self, job: &Job, index: usize, now: u64) {
        let Some((target, state)) = job.settings.target(index) else {
            return;
        };
        state.metrics.add(Counter::Mirrored);
        let headers = job
            .request
            .headers_for(target, job.settings.config.marker_header.as_deref());
        for _ in 0..target.amplify {
            let call = hostcalls::dispatch_http_call(
                &target.cluster,
                headers.clone(),
                job.request.body(),
                Vec::new(),
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
                        },
                    );
                }
                Err(status) => {
                    let reason = refusal_reason(status, &target.cluster);
                    record_result(&job.settings, index, Outcome::Failed, now, &reason);
                }
            }
        }
    }

    fn is_current(&self, settings: &Rc<Settings>) -> bool {
        self.settings
            .as_ref()
            .is_some_and(|current| Rc::ptr_eq(current, settings))
    }

    /// When this root was asked to finish, it does once nothing is queued or in flight.
    fn finish_if_done(&mut self) -> bool {
        let done = self.in_flight.is_empty();
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
/// a healthy host does (measured: tests/security.rs).
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

/// Counts one copy's result, frees its slot, and warns (sparingly) when it failed.
fn record_result(settings: &Settings, index: usize, outcome: Outcome, now: u64, reason: &str) {
    let Some((target, state)) = settings.target(index) else {
        return;
    };
    state.metrics.add(outcome.counter());
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

impl Context for MirrorRoot {
    fn on_http_call_response(
        &mut self,
        token: u32,
        headers: usize,
        _body: usize,
        _trailers: usize,
    ) {
        let Some(call) = self.in_flight.remove(&token) else {
            return;
        };
        let response = if headers > 0 {
            hostcalls::get_map_bytes(MapType::HttpCallResponseHeaders).unwrap_or_default()
        } else {
            Vec::new()
        };
        let outcome = classify(
            response
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_slice())),
        );
        let now = now_ns();
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
        if self.finishing {
            call.settings.flush_counts();
            if self.finish_if_done() {
                let _ = hostcalls::done();
            }
        } else if self.is_current(&call.settings) {
            hand_over_counts(&call.settings, &self.outbox);
        } else {
            call.settings.flush_counts(); // a replaced configuration: no tick flushes it
        }
    }

    /// Envoy replaces this root (a new configuration) or shuts down: queued copies go out at
    /// once, and copies in flight are waited for, so that none is lost or left uncounted.
    fn on_done(&mut self) -> bool {
        let jobs = self.outbox.take_jobs();
        self.dispatch_all(&jobs);
        for job in &jobs {
            job.settings.flush_counts();
        }
        // No more ticks: from now on, counts go to Envoy as they are made.
        let _ = hostcalls::set_tick_period(Duration::ZERO);
        self.outbox.disarmed();
        self.finishing = true;
        self.finish_if_done()
    }
}

impl RootContext for MirrorRoot {
    fn on_configure(&mut self, configuration_size: usize) -> bool {
        let json = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, configuration_size)
            .ok()
            .flatten()
            .unwrap_or_default();
        let settings = Config::parse(&json)
            .map_err(|error| format!("invalid plugin configuration: {error}"))
            .and_then(Settings::define);
        match settings {
            Ok(settings) => {
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
            )),
            None => Box::new(PassThrough),
        })
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn on_tick(&mut self) {
        let jobs = self.outbox.take_jobs();
        self.dispatch_all(&jobs);
        let mut busy = !jobs.is_empty();
        for job in jobs.iter().filter(|job| !self.is_current(&job.settings)) {
            job.settings.flush_counts();
        }
        if let Some(settings) = &self.settings {
            busy |= settings.flush_counts();
        }
        if !busy {
            // Nothing came in since the last tick: sleep until new work arms the timer again.
            let _ = hostcalls::set_tick_period(Duration::ZERO);
            self.outbox.disarmed();
        }
    }
}
