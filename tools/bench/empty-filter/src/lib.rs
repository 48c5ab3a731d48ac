//! The cost floor of any proxy-wasm filter: an HTTP context that does nothing. Built with the
//! same SDK and release profile as traffic-mirror, so the benchmark can tell what the plugin's
//! own work costs.

use proxy_wasm::traits::{Context, HttpContext};

proxy_wasm::main! {{
    proxy_wasm::set_http_context(|_, _| -> Box<dyn HttpContext> { Box::new(Empty) });
}}

struct Empty;

impl Context for Empty {}
impl HttpContext for Empty {}
