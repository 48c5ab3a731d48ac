//! The HTTP context: moves the original request's data from Envoy into a copy, never altering,
//! holding back or failing the original. Every callback returns `Continue`.

use crate::copy::{capture_headers, CapturedRequest, Skip};
use crate::decide::{sample_targets, TargetSet};
use crate::metrics::Counter;
use crate::outbox::Outbox;
use crate::root::{hand_over_counts, wake_root, Job};
use crate::sampling::random_draw;
use crate::settings::Settings;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, MapType};
use std::rc::Rc;

enum Stage {
    /// No target wants this request, or its fate is already decided and counted.
    Idle,
    /// Some targets want a copy: the request is being collected until it is complete.
    Capturing {
        targets: TargetSet,
        request: CapturedRequest,
    },
}

pub struct MirrorFilter {
    settings: Rc<Settings>,
    outbox: Rc<Outbox<Job>>,
    stage: Stage,
}

impl MirrorFilter {
    pub fn new(settings: Rc<Settings>, outbox: Rc<Outbox<Job>>) -> MirrorFilter {
        MirrorFilter {
            settings,
            outbox,
            stage: Stage::Idle,
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
        self.count(targets, Counter::Skipped);
    }

    fn count(&self, targets: TargetSet, counter: Counter) {
        if !targets.is_empty() {
            self.settings.count(targets, counter);
            hand_over_counts(&self.settings, &self.outbox);
        }
    }

    fn complete(&mut self) {
        let Stage::Capturing {
            targets,
            mut request,
        } = std::mem::replace(&mut self.stage, Stage::Idle)
        else {
            return;
        };
        request.finish();
        let job = Job {
            settings: Rc::clone(&self.settings),
            targets,
            request,
        };
        self.outbox.push(job);
        wake_root(&self.outbox);
    }

    fn capture_body_chunk(&mut self, size: usize) -> Result<(), Skip> {
        let body = self.settings.config.body;
        let Stage::Capturing { request, .. } = &mut self.stage else {
            return Ok(());
        };
        if !body.mirror || size == 0 {
            return Ok(());
        }
        let chunk = hostcalls::get_buffer(BufferType::HttpRequestBody, 0, size)
            .map_err(|_| Skip::Unreadable)?
            .unwrap_or_default();
        request.append_body(chunk, body.max_bytes)
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
        let sampling = sample_targets(&self.settings.config.targets, random_draw);
        self.count(sampling.sampled_out, Counter::SampledOut);
        if sampling.wanted.is_empty() {
            return Action::Continue;
        }
        let captured = hostcalls::get_map_bytes(MapType::HttpRequestHeaders)
            .map_err(|_| Skip::Unreadable)
            .and_then(|headers| capture_headers(headers, &self.settings.config));
        match captured {
            Ok(request) => {
                self.stage = Stage::Capturing {
                    targets: sampling.wanted,
                    request,
                };
                if end_of_stream {
                    self.complete();
                }
            }
            Err(skip) => self.count_skip(sampling.wanted, skip),
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
        self.complete();
        Action::Continue
    }
}

/// Stands in when the root has no valid configuration (Envoy normally refuses such a plugin).
pub struct PassThrough;

impl Context for PassThrough {}
impl HttpContext for PassThrough {}
