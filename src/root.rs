//! The root context: configuration, and the dispatch of every copy and its outcome.

use crate::config::Config;
use crate::copy::CapturedRequest;
use crate::decide::TargetSet;
use crate::filter::{MirrorFilter, PassThrough};
use crate::metrics::{Counter, TargetCounters};
use crate::outbox::Outbox;
use crate::outcome::{classify, UPSTREAM_TIME_HEADER};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, MapType};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

/// A validated configuration with the ids of its counters: what requests are decided under.
/// Jobs and in-flight copies hold on to the one they started with, so a new configuration
/// never re-labels or loses them.
pub struct Settings {
    pub config: Config,
    counters: Vec<TargetCounters>,
}

impl Settings {
    fn define(config: Config) -> Result<Settings, String> {
        let counters = config
            .targets
            .iter()
            .map(|target| {
                TargetCounters::define_in_host(&target.name).map_err(|status| {
                    format!("cannot define metrics for {}: {status:?}", target.name)
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Settings { config, counters })
    }

    pub fn count(&self, targets: TargetSet, counter: Counter) {
        targets
            .iter()
            .for_each(|index| self.count_one(index, counter));
    }

    pub fn count_one(&self, target: usize, counter: Counter) {
        if let Some(counters) = self.counters.get(target) {
            counters.increment(counter);
        }
    }
}

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
        for job in self.outbox.drain() {
            self.dispatch(&job);
        }
        // Sleep until the next request arms the timer again: no wake-ups while idle.
        let _ = hostcalls::set_tick_period(Duration::ZERO);
    }
}
