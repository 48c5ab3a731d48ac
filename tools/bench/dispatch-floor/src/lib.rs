//! The floor under any proxy-wasm mirror built on `dispatch_http_call`: read the request
//! headers and dispatch them, from the request's own context, with nothing else (no sampling,
//! no scrubbing, no outcome, no counters; a copy may even be cut short). The profile compares
//! traffic-mirror with it to show what the plugin's own work costs, apart from the ABI's.

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};
use std::time::Duration;

proxy_wasm::main! {{
    proxy_wasm::set_http_context(|_, _| -> Box<dyn HttpContext> { Box::new(DispatchOnly) });
}}

struct DispatchOnly;

impl Context for DispatchOnly {}

impl HttpContext for DispatchOnly {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        if let Ok(headers) = hostcalls::get_map_bytes(MapType::HttpRequestHeaders) {
            let headers: Vec<(String, String)> = headers
                .into_iter()
                .filter_map(|(name, value)| Some((name, String::from_utf8(value).ok()?)))
                .collect();
            let pairs = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let _ = hostcalls::dispatch_http_call(
                "mirror",
                pairs,
                None,
                vec![],
                Duration::from_secs(5),
            );
        }
        Action::Continue
    }
}
