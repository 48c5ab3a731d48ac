//! The root context: configuration, the dispatch of every copy, its outcome, and the counters.
//!
//! Every host call goes through `Host`, so this bookkeeping (current, replaced and finishing
//! configurations; counts handed over exactly once) is unit-tested natively below.

use crate::budget::{Budget, Reservation};
use crate::config::Config;
use crate::filter::{MirrorFilter, PassThrough};
use crate::host::{Envoy, Host};
use crate::metrics::Counter;
use crate::outbox::{Job, Outbox};
use crate::outcome::{classify, Outcome};
use crate::settings::Settings;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
use std::collections::HashMap;
use std::rc::Rc;

/// A copy dispatched and not yet answered.
struct InFlight {
    settings: Rc<Settings>,
    target: usize,
    dispatched_ns: u64,
    /// The copy's share of the memory budget: Envoy holds the copy until it is answered.
    _held: Reservation,
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
    /// Envoy asked this root to finish (its configuration was replaced): it does once the
    /// copies in flight are done.
    finishing: bool,
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
            for index in job.targets.iter() {
                self.dispatch(job, index, now);
            }
        }
    }

    /// Sends a request's `amplify` copies to one target: one decision, one result per copy.
    fn dispatch(&mut self, job: &mut Job, index: usize, now: u64) {
        let Some((target, state)) = job.settings.target(index) else {
            return;
        };
        state.metrics.add(Counter::Mirrored);
        let headers = job
            .request
            .headers_for(target, job.settings.config.marker_header.as_deref());
        for _ in 0..target.amplify {
            let call = self.host.dispatch(
                &target.cluster,
                headers.clone(),
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
                            _held: job.reservation.split_off(job.per_copy),
                        },
                    );
                }
                Err(status) => {
                    let reason = format!(
                        "Envoy refused the dispatch ({status:?}): does cluster {} exist?",
                        target.cluster
                    );
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
        _body: usize,
        _trailers: usize,
    ) {
        let Some(call) = self.in_flight.remove(&token) else {
            return;
        };
        let response = if headers > 0 {
            self.host.call_response_headers()
        } else {
            Vec::new()
        };
        let outcome = classify(
            response
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_slice())),
        );
        let now = self.host.now_ns();
        if let Some((_, state)) = call.settings.target(call.target) {
            state.metrics.in_flight(-1);
            state
                .metrics
                .record_latency(now.saturating_sub(call.dispatched_ns) / 1_000_000);
        }
        let reason = match outcome {
            Outcome::TimedOut => "no answer within timeout_ms",
            _ => "no answer from the target (connection refused or reset, or no healthy host)",
        };
        record_result(&call.settings, call.target, outcome, now, reason);
        if self.finishing {
            call.settings.flush_counts();
            if self.finish_if_done() {
                self.host.done();
            }
        } else if self.is_current(&call.settings) {
            self.outbox.hand_over_counts(&call.settings);
        } else {
            call.settings.flush_counts(); // a replaced configuration: no tick flushes it
        }
    }

    /// Envoy replaces this root (a new configuration) or shuts down: queued copies go out at
    /// once, and copies in flight are waited for, so that none is lost or left uncounted.
    fn on_done(&mut self) -> bool {
        let mut jobs = self.outbox.take_jobs();
        self.dispatch_all(&mut jobs);
        for job in &jobs {
            job.settings.flush_counts();
        }
        // No more ticks: from now on, counts go to Envoy as they are made.
        self.outbox.sleep(&self.host);
        self.finishing = true;
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
        let mut busy = !jobs.is_empty();
        for job in jobs.iter().filter(|job| !self.is_current(&job.settings)) {
            job.settings.flush_counts();
        }
        if let Some(settings) = &self.settings {
            busy |= settings.flush_counts();
        }
        if !busy {
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
    use crate::targets::TargetSet;

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
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect();
        let mut request = capture_headers(raw, &settings.config).unwrap();
        request.finish(&settings.config.redaction).unwrap();
        let mut targets = TargetSet::default();
        targets.insert(0);
        let per_copy = request.held_bytes();
        let mut reservation = budget.reservation();
        reservation
            .grow(per_copy * settings.copies(targets))
            .unwrap();
        Job {
            settings: Rc::clone(settings),
            targets,
            request,
            reservation,
            per_copy,
        }
    }

    fn send_one(root: &MirrorRoot<FakeHost>) {
        let settings = root.settings.clone().unwrap();
        root.outbox.send(job(&settings, &root.budget), &root.host);
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
    fn counts_wait_for_a_running_timer_and_go_at_once_when_idle() {
        let root = configured(CONFIG);
        let settings = root.settings.clone().unwrap();
        settings.count_one(0, Counter::SampledOut);
        root.outbox.hand_over_counts(&settings);
        assert_eq!(total("sampled_out"), 1, "idle: handed over at once");
        send_one(&root);
        settings.count_one(0, Counter::SampledOut);
        root.outbox.hand_over_counts(&settings);
        assert_eq!(total("sampled_out"), 0, "ticking: waits for the tick");
        let mut root = root;
        root.on_tick();
        assert_eq!(total("sampled_out"), 1);
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
            .take(Counter::ALL.len() + 2)
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
