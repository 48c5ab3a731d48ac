//! Fixture of `mirror-bench --host-costs` (tools/bench/src/host_costs.rs): what Envoy does
//! with a body on the plugin's behalf, one thing at a time, chosen by the request's path, so
//! that two requests differ by exactly that work:
//! - `/dispatch-big` dispatches a copy whose body is 64 MiB (made once, when the VM starts),
//!   `/dispatch-empty` one without a body;
//! - `/answer-read` dispatches a copy (the mirror answers 32 MiB) and reads the answer's body
//!   into the VM (`host_costs_answer_bytes` counts it), `/answer-skip` the same without
//!   reading it;
//! - `/chunks-read` reads each request body chunk into the VM (and counts them:
//!   `host_costs_chunks`), `/chunks-skip` does not.
//!
//! Copies are dispatched by the root context on its next tick, as the plugin does (Envoy 1.40
//! hands a call's response body only to the root context); `host_costs_answers` counts their
//! answers.

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, MetricType};
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::time::Duration;

/// `body.max_bytes`' and `compare.max_body_bytes`' bound.
const BIG: usize = 64 << 20;

thread_local! {
    static BODY: OnceCell<Vec<u8>> = const { OnceCell::new() };
    /// Paths whose copy the root is to dispatch on its next tick.
    static QUEUED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    /// Per call: whether to read the answer.
    static WAITING: RefCell<HashMap<u32, bool>> = RefCell::new(HashMap::new());
}

proxy_wasm::main! {{
    BODY.with(|body| {
        body.get_or_init(|| vec![b'x'; BIG]);
    });
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root) });
    proxy_wasm::set_http_context(|_, _| -> Box<dyn HttpContext> {
        Box::new(Fixture { path: String::new() })
    });
}}

struct Root;

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, _: usize, body_size: usize, _: usize) {
        let Some(read) = WAITING.with(|w| w.borrow_mut().remove(&token)) else {
            return;
        };
        if read {
            let body = self.get_http_call_response_body(0, body_size);
            count("host_costs_answer_bytes", body.map_or(0, |body| body.len()));
        }
        count("host_costs_answers", 1);
    }
}

impl RootContext for Root {
    fn on_tick(&mut self) {
        let _ = hostcalls::set_tick_period(Duration::ZERO);
        for path in QUEUED.with(|q| std::mem::take(&mut *q.borrow_mut())) {
            let headers = vec![
                (":method", "POST"),
                (":path", path.as_str()),
                (":authority", "mirror"),
            ];
            let dispatched = BODY.with(|body| {
                let body = (path == "/dispatch-big").then(|| body.get().map(Vec::as_slice));
                self.dispatch_http_call(
                    "mirror",
                    headers,
                    body.flatten(),
                    vec![],
                    Duration::from_secs(600),
                )
            });
            if let Ok(token) = dispatched {
                WAITING.with(|w| w.borrow_mut().insert(token, path == "/answer-read"));
            }
        }
    }
}

struct Fixture {
    path: String,
}

impl Context for Fixture {}

impl HttpContext for Fixture {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        self.path = self.get_http_request_header(":path").unwrap_or_default();
        if matches!(
            self.path.as_str(),
            "/dispatch-big" | "/dispatch-empty" | "/answer-read" | "/answer-skip"
        ) {
            QUEUED.with(|q| q.borrow_mut().push(self.path.clone()));
            let _ = hostcalls::set_tick_period(Duration::from_millis(1));
        }
        Action::Continue
    }

    fn on_http_request_body(&mut self, body_size: usize, _: bool) -> Action {
        if self.path == "/chunks-read" {
            let _ = self.get_http_request_body(0, body_size);
            count("host_costs_chunks", 1);
        }
        Action::Continue
    }
}

fn count(name: &str, by: usize) {
    if let Ok(id) = hostcalls::define_metric(MetricType::Counter, name) {
        let _ = hostcalls::increment_metric(id, by as i64);
    }
}
