//! The root context: configuration, the dispatch of every copy, its outcome, and the counters.

use crate::config::Config;
use crate::copy::CapturedRequest;
use crate::decide::TargetSet;
use crate::filter::{MirrorFilter, PassThrough};
use crate::metrics::Counter;
use crate::outbox::Outbox;
use crate::outcome::{classify, UPSTREAM_TIME_HEADER};
use crate::settings::Settings;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, MapType};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

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
}

#[derive(Default)]
pub struct MirrorRoot {
    settings: Option<Rc<Settings>>,
    outbox: Rc<Outbox<Job>>,
    in_flight: HashMap<u32, InFlight>,
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

impl MirrorRoot {
    fn dispatch(&mut self, job: &Job) {
        let marker = job.settings.config.marker_header.as_deref();
        for index in job.targets.iter() {
            let Some(target) = job.settings.config.targets.get(index) else {
                continue;
            };
            let call = hostcalls::dispatch_http_call(
                &target.cluster,
                job.request.headers_for(target, marker),
                job.request.body(),
                Vec::new(),
                target.timeout,
            );
            job.settings.count_one(index, Counter::Mirrored);
            match call {
                Ok(token) => {
                    let settings = Rc::clone(&job.settings);
                    self.in_flight.insert(
                        token,
                        InFlight {
                            settings,
                            target: index,
                        },
                    );
                }
                Err(status) => {
                    log::debug!("copy to {} refused by Envoy: {status:?}", target.name);
                    job.settings.count_one(index, Counter::Failed);
                }
            }
        }
    }

    fn is_current(&self, settings: &Rc<Settings>) -> bool {
        self.settings
            .as_ref()
            .is_some_and(|current| Rc::ptr_eq(current, settings))
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
        let from_upstream = headers > 0
            && matches!(
                hostcalls::get_map_value_bytes(
                    MapType::HttpCallResponseHeaders,
                    UPSTREAM_TIME_HEADER
                ),
                Ok(Some(_))
            );
        call.settings
            .count_one(call.target, classify(headers, from_upstream).counter());
        if self.is_current(&call.settings) {
            hand_over_counts(&call.settings, &self.outbox);
        } else {
            call.settings.flush_counts(); // a replaced configuration: no tick flushes it
        }
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
        for job in &jobs {
            self.dispatch(job);
        }
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
