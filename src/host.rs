//! Every host call the plugin makes: reading the original request and its response (the HTTP
//! context's), the clock, the root's timer, dispatching copies, reading a copy's response, and
//! metrics. They sit behind the `Host` trait so that the root's bookkeeping (current, replaced
//! and finishing configurations; counts handed over exactly once) and the HTTP context's
//! capture (its memory budget, a stream that ends early) run in native unit tests with a
//! recording host instead of Envoy. Both contexts are generic over it: Envoy's is a unit
//! struct, so the seam costs nothing at run time.

use crate::abi::{self, HostStatus};
use crate::http::HeaderMap;
use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType, MetricType, Status};
use std::time::Duration;

/// Envoy's `xds.cluster_name` property, the cluster the original is routed to, as a path the
/// ABI takes (written joined: no allocation to join it per request).
pub const CLUSTER_NAME: &str = "xds\0cluster_name";

pub trait Host {
    /// The original request's headers (an error once their phase is over).
    fn request_headers(&self) -> Result<HeaderMap, HostStatus>;
    /// The original request's body chunk being delivered (`size` bytes, as Envoy announced).
    fn request_body(&self, size: usize) -> Result<Vec<u8>, HostStatus>;
    fn request_trailers(&self) -> Result<HeaderMap, HostStatus>;
    /// The original's response headers, on their way to the client.
    fn response_headers(&self) -> Result<HeaderMap, HostStatus>;
    /// The original's response body chunk being delivered (`size` bytes).
    fn response_body(&self, size: usize) -> Result<Vec<u8>, HostStatus>;
    fn response_trailers(&self) -> Result<HeaderMap, HostStatus>;
    /// A property of the stream, by its path's segments joined by NULs (`CLUSTER_NAME`);
    /// `None` when it has none or cannot be read.
    fn property(&self, path: &str) -> Option<Vec<u8>>;
    /// Answers the original request in the plugin's place; false if the host refused.
    fn send_local_response(&self, status: u32, headers: &[(&str, &str)], body: &[u8]) -> bool;
    /// The host's clock, in nanoseconds since the epoch (0 if it cannot be read).
    fn now_ns(&self) -> u64;
    /// Starts (a period above zero) or stops the root's timer; false if the host refused.
    fn set_tick_period(&self, period: Duration) -> bool;
    /// Sends one copy; the token names it in the response callback.
    fn dispatch(
        &self,
        cluster: &str,
        headers: Vec<(&str, &str)>,
        body: Option<&[u8]>,
        trailers: Vec<(&str, &str)>,
        timeout: Duration,
    ) -> Result<u32, Status>;
    /// The headers of the copy's response being delivered (empty when it was reset).
    fn call_response_headers(&self) -> HeaderMap;
    /// The body of the copy's response being delivered (`size` bytes, as Envoy announced).
    fn call_response_body(&self, size: usize) -> Vec<u8>;
    /// The trailers of the copy's response being delivered.
    fn call_response_trailers(&self) -> HeaderMap;
    /// The plugin configuration Envoy hands to `on_configure`.
    fn plugin_configuration(&self, size: usize) -> Vec<u8>;
    /// Tells the host that a finishing root is done.
    fn done(&self);
    /// Where metrics are defined and moved.
    fn metrics(&self) -> MetricHost;
    /// The data every worker of this Envoy shares (endpoints and fields admitted).
    fn shared_data(&self) -> SharedDataHost;
}

/// How metrics reach the host. Plain function pointers rather than a trait object, so a
/// metric handle can keep them and hand its last counts over when it is dropped.
#[derive(Debug, Clone, Copy)]
pub struct MetricHost {
    pub define: fn(MetricType, &str) -> Result<u32, Status>,
    pub increment: fn(u32, i64),
    pub record: fn(u32, u64),
}

/// A shared-data value and its compare-and-swap token (`None`: no such key).
pub type SharedValue = Option<(Vec<u8>, u32)>;

/// How the workers' shared data is read and written (function pointers, as `MetricHost`).
#[derive(Debug, Clone, Copy)]
pub struct SharedDataHost {
    /// The value and its compare-and-swap token; `Ok(None)` for a key that does not exist.
    pub get: fn(&str) -> Result<SharedValue, abi::HostStatus>,
    /// Sets the value if its token is still the given one (see `abi::set_shared_data`).
    pub set: fn(&str, &[u8], u32) -> Result<(), abi::HostStatus>,
}

pub const ENVOY_SHARED_DATA: SharedDataHost = SharedDataHost {
    get: abi::shared_data,
    set: abi::set_shared_data,
};

/// Envoy, through `abi` (every status handed back, never a panic), except for the dispatch
/// (see `abi`).
#[derive(Default)]
pub struct Envoy;

/// A metric that cannot move is not worth failing anything over.
fn increment_metric(id: u32, delta: i64) {
    let _ = abi::increment_metric(id, delta);
}

fn record_metric(id: u32, value: u64) {
    let _ = abi::record_metric(id, value);
}

fn define_metric(kind: MetricType, name: &str) -> Result<u32, Status> {
    abi::define_metric(kind, name).map_err(|_| Status::InternalFailure)
}

pub const ENVOY_METRICS: MetricHost = MetricHost {
    define: define_metric,
    increment: increment_metric,
    record: record_metric,
};

impl Host for Envoy {
    fn property(&self, path: &str) -> Option<Vec<u8>> {
        abi::property(path).ok().flatten()
    }

    fn send_local_response(&self, status: u32, headers: &[(&str, &str)], body: &[u8]) -> bool {
        abi::send_local_response(status, headers, body).is_ok()
    }

    fn request_headers(&self) -> Result<HeaderMap, HostStatus> {
        abi::request_headers()
    }

    fn request_body(&self, size: usize) -> Result<Vec<u8>, HostStatus> {
        abi::request_body(size)
    }

    fn request_trailers(&self) -> Result<HeaderMap, HostStatus> {
        abi::header_map(MapType::HttpRequestTrailers)
    }

    fn response_headers(&self) -> Result<HeaderMap, HostStatus> {
        abi::header_map(MapType::HttpResponseHeaders)
    }

    fn response_body(&self, size: usize) -> Result<Vec<u8>, HostStatus> {
        abi::buffer(BufferType::HttpResponseBody, size)
    }

    fn response_trailers(&self) -> Result<HeaderMap, HostStatus> {
        abi::header_map(MapType::HttpResponseTrailers)
    }

    fn now_ns(&self) -> u64 {
        abi::current_time_ns().unwrap_or(0)
    }

    fn set_tick_period(&self, period: Duration) -> bool {
        let millis = u32::try_from(period.as_millis()).unwrap_or(u32::MAX);
        abi::set_tick_period_ms(millis).is_ok()
    }

    fn dispatch(
        &self,
        cluster: &str,
        headers: Vec<(&str, &str)>,
        body: Option<&[u8]>,
        trailers: Vec<(&str, &str)>,
        timeout: Duration,
    ) -> Result<u32, Status> {
        hostcalls::dispatch_http_call(cluster, headers, body, trailers, timeout)
    }

    fn call_response_headers(&self) -> HeaderMap {
        abi::header_map(MapType::HttpCallResponseHeaders).unwrap_or_default()
    }

    fn call_response_body(&self, size: usize) -> Vec<u8> {
        hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, size)
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    fn call_response_trailers(&self) -> HeaderMap {
        abi::header_map(MapType::HttpCallResponseTrailers).unwrap_or_default()
    }

    fn plugin_configuration(&self, size: usize) -> Vec<u8> {
        abi::buffer(BufferType::PluginConfiguration, size).unwrap_or_default()
    }

    fn done(&self) {
        let _ = abi::done();
    }

    fn metrics(&self) -> MetricHost {
        ENVOY_METRICS
    }

    fn shared_data(&self) -> SharedDataHost {
        ENVOY_SHARED_DATA
    }
}

/// A host for native tests: metrics and host calls recorded per thread (the test harness
/// runs each test on its own thread).
#[cfg(test)]
pub mod recording {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        static DEFINED: RefCell<Vec<(MetricType, String)>> = const { RefCell::new(Vec::new()) };
        static INCREMENTS: RefCell<Vec<(u32, i64)>> = const { RefCell::new(Vec::new()) };
        static RECORDED: RefCell<Vec<(u32, u64)>> = const { RefCell::new(Vec::new()) };
    }

    /// Ids are 1, 2, 3... in the order of definition, on this thread.
    fn define(kind: MetricType, name: &str) -> Result<u32, Status> {
        DEFINED.with_borrow_mut(|defined| {
            defined.push((kind, name.to_string()));
            Ok(defined.len() as u32)
        })
    }

    pub const METRICS: MetricHost = MetricHost {
        define,
        increment: |id, delta| INCREMENTS.with_borrow_mut(|all| all.push((id, delta))),
        record: |id, value| RECORDED.with_borrow_mut(|all| all.push((id, value))),
    };

    thread_local! {
        /// Envoy's shared data (key: value, token), and a token counter as Envoy's.
        static SHARED: RefCell<std::collections::HashMap<String, (Vec<u8>, u32)>> =
            RefCell::new(std::collections::HashMap::new());
        static NEXT_CAS: std::cell::Cell<u32> = const { std::cell::Cell::new(1) };
        /// Run once before the next `set`, as another worker would between a read and a write.
        static BEFORE_NEXT_SET: RefCell<Option<Box<dyn FnOnce()>>> = RefCell::new(None);
    }

    /// Shared data with Envoy's semantics (`SharedData::set` in Envoy's wasm context): a
    /// token of 0 sets unconditionally, a key that does not exist is created whatever the
    /// token, and every write gives a new token.
    pub const SHARED_DATA: SharedDataHost = SharedDataHost {
        get: |key| Ok(SHARED.with_borrow(|all| all.get(key).cloned())),
        set: |key, value, cas| {
            if let Some(interfere) = BEFORE_NEXT_SET.with_borrow_mut(Option::take) {
                interfere();
            }
            SHARED.with_borrow_mut(|all| {
                if let Some((_, current)) = all.get(key) {
                    if cas != 0 && cas != *current {
                        return Err(abi::HostStatus::CAS_MISMATCH);
                    }
                }
                let token = NEXT_CAS.get();
                NEXT_CAS.set(token + 1);
                all.insert(key.to_string(), (value.to_vec(), token));
                Ok(())
            })
        },
    };

    /// Makes `interfere` run just before the next shared-data write.
    pub fn before_next_set(interfere: impl FnOnce() + 'static) {
        BEFORE_NEXT_SET.with_borrow_mut(|slot| *slot = Some(Box::new(interfere)));
    }

    /// Every shared-data key and its value.
    pub fn shared() -> Vec<(String, Vec<u8>)> {
        let mut all: Vec<(String, Vec<u8>)> = SHARED.with_borrow(|all| {
            all.iter()
                .map(|(key, (value, _))| (key.clone(), value.clone()))
                .collect()
        });
        all.sort();
        all
    }

    pub fn defined() -> Vec<(MetricType, String)> {
        DEFINED.with_borrow(Clone::clone)
    }

    /// The increments handed to the host since the last call.
    pub fn take_increments() -> Vec<(u32, i64)> {
        INCREMENTS.with_borrow_mut(std::mem::take)
    }

    /// The increments of one metric, by name, handed to the host since the last call.
    pub fn take_total(name: &str) -> i64 {
        let ids: Vec<u32> = defined()
            .iter()
            .enumerate()
            .filter(|(_, (_, defined))| defined == name)
            .map(|(index, _)| index as u32 + 1)
            .collect();
        let mut total = 0;
        INCREMENTS.with_borrow_mut(|all| {
            all.retain(|(id, delta)| {
                let ours = ids.contains(id);
                total += if ours { *delta } else { 0 };
                !ours
            })
        });
        total
    }
}

#[cfg(test)]
pub use fake::{raw, FakeHost};

/// A host whose calls are recorded, for native tests of the root, the outbox and the HTTP
/// context.
#[cfg(test)]
mod fake {
    use super::*;
    use std::cell::{Cell, RefCell};

    /// A dispatched copy: its token, cluster and headers.
    pub type Dispatched = (u32, String, Vec<(String, String)>);

    #[derive(Default)]
    pub struct FakeHost {
        pub now_ns: Cell<u64>,
        /// Every period the timer was set to, in order.
        pub tick_periods: RefCell<Vec<Duration>>,
        pub refuse_timer: Cell<bool>,
        /// Clusters that refuse dispatches (as Envoy does for an unknown cluster).
        pub refusing_clusters: RefCell<Vec<String>>,
        /// (token, cluster, headers) of every dispatched copy.
        pub dispatched: RefCell<Vec<Dispatched>>,
        /// What `call_response_headers`, `_body` and `_trailers` return.
        pub response: RefCell<HeaderMap>,
        pub response_body: RefCell<Vec<u8>>,
        pub response_trailers: RefCell<HeaderMap>,
        pub configuration: RefCell<Vec<u8>>,
        pub done_calls: Cell<u32>,
        /// The original request as the HTTP context reads it: its headers, the body chunk
        /// being delivered, its trailers.
        pub request_headers: RefCell<HeaderMap>,
        pub request_chunk: RefCell<Vec<u8>>,
        pub request_trailers: RefCell<HeaderMap>,
        /// The original's response, likewise.
        pub original_response_headers: RefCell<HeaderMap>,
        pub original_response_chunk: RefCell<Vec<u8>>,
        pub original_response_trailers: RefCell<HeaderMap>,
        /// Every read of the HTTP context fails (as once its phase is over).
        pub unreadable: Cell<bool>,
        /// Stream properties by path (joined with `.`), e.g. `xds.cluster_name`.
        pub properties: RefCell<Vec<(String, Vec<u8>)>>,
        /// Every local response sent: status and body.
        pub local_responses: RefCell<Vec<(u32, Vec<u8>)>>,
    }

    /// Headers as the host hands them over.
    pub fn raw(headers: &[(&str, &str)]) -> HeaderMap {
        HeaderMap::from_pairs(headers.iter().map(|(n, v)| (*n, v.as_bytes())))
    }

    impl FakeHost {
        pub fn timer_running(&self) -> bool {
            self.tick_periods
                .borrow()
                .last()
                .is_some_and(|period| !period.is_zero())
        }

        pub fn tokens(&self) -> Vec<u32> {
            self.dispatched
                .borrow()
                .iter()
                .map(|(t, _, _)| *t)
                .collect()
        }

        pub fn answer(&self, headers: &[(&str, &str)]) {
            *self.response.borrow_mut() = raw(headers);
        }

        /// What the HTTP context reads, unless `unreadable`.
        fn read<T: Clone>(&self, value: &RefCell<T>) -> Result<T, HostStatus> {
            if self.unreadable.get() {
                return Err(HostStatus::MALFORMED_MAP);
            }
            Ok(value.borrow().clone())
        }
    }

    impl Host for FakeHost {
        fn property(&self, path: &str) -> Option<Vec<u8>> {
            let path = path.replace('\0', ".");
            let properties = self.properties.borrow();
            properties
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, v)| v.clone())
        }

        fn send_local_response(&self, status: u32, _headers: &[(&str, &str)], body: &[u8]) -> bool {
            self.local_responses
                .borrow_mut()
                .push((status, body.to_vec()));
            true
        }

        fn request_headers(&self) -> Result<HeaderMap, HostStatus> {
            self.read(&self.request_headers)
        }

        fn request_body(&self, _size: usize) -> Result<Vec<u8>, HostStatus> {
            self.read(&self.request_chunk)
        }

        fn request_trailers(&self) -> Result<HeaderMap, HostStatus> {
            self.read(&self.request_trailers)
        }

        fn response_headers(&self) -> Result<HeaderMap, HostStatus> {
            self.read(&self.original_response_headers)
        }

        fn response_body(&self, _size: usize) -> Result<Vec<u8>, HostStatus> {
            self.read(&self.original_response_chunk)
        }

        fn response_trailers(&self) -> Result<HeaderMap, HostStatus> {
            self.read(&self.original_response_trailers)
        }

        fn now_ns(&self) -> u64 {
            self.now_ns.get()
        }

        fn set_tick_period(&self, period: Duration) -> bool {
            self.tick_periods.borrow_mut().push(period);
            !self.refuse_timer.get()
        }

        fn dispatch(
            &self,
            cluster: &str,
            headers: Vec<(&str, &str)>,
            _body: Option<&[u8]>,
            _trailers: Vec<(&str, &str)>,
            _timeout: Duration,
        ) -> Result<u32, Status> {
            if self.refusing_clusters.borrow().iter().any(|c| c == cluster) {
                return Err(Status::BadArgument);
            }
            let mut dispatched = self.dispatched.borrow_mut();
            let token = dispatched.len() as u32 + 1;
            let headers = headers
                .into_iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            dispatched.push((token, cluster.to_string(), headers));
            Ok(token)
        }

        fn call_response_headers(&self) -> HeaderMap {
            self.response.borrow().clone()
        }

        fn call_response_body(&self, _size: usize) -> Vec<u8> {
            self.response_body.borrow().clone()
        }

        fn call_response_trailers(&self) -> HeaderMap {
            self.response_trailers.borrow().clone()
        }

        fn plugin_configuration(&self, _size: usize) -> Vec<u8> {
            self.configuration.borrow().clone()
        }

        fn done(&self) {
            self.done_calls.set(self.done_calls.get() + 1);
        }

        fn metrics(&self) -> MetricHost {
            super::recording::METRICS
        }

        fn shared_data(&self) -> SharedDataHost {
            super::recording::SHARED_DATA
        }
    }
}
