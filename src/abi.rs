//! The host calls on the plugin's path, made directly through the proxy-wasm ABI.
//!
//! The SDK's `hostcalls` return a `Result`, but panic on any status they do not expect:
//! `get_buffer` panicked with `unexpected status: 6` (InvalidMemoryAccess) when the VM ran
//! short of memory, and `get_map_bytes` panics on a header name that is not UTF-8 or a map
//! it cannot slice. A panic kills the VM, so these wrappers hand every status back as an
//! error instead, and read header maps with a parser that cannot panic (`http::HeaderMap::parse`,
//! unit-tested and fuzzed), keeping the host's bytes rather than a string per header. The SDK's `dispatch_http_call` stays in use (it registers the
//! call's token with the SDK's dispatcher, which routes the response); docs/reliability.md
//! lists the SDK calls that remain and why they cannot fire.

use crate::http::HeaderMap;
use proxy_wasm::types::{BufferType, MapType, MetricType};

/// A status the host returned instead of `Ok` (the ABI's numbering: 1 NotFound, 2
/// BadArgument, 6 InvalidMemoryAccess, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostStatus(pub u32);

impl HostStatus {
    /// Not a host status: the host said `Ok` but its header map did not parse.
    pub const MALFORMED_MAP: HostStatus = HostStatus(u32::MAX);
    /// The shared-data value changed since it was read (`proxy_set_shared_data`).
    pub const CAS_MISMATCH: HostStatus = HostStatus(8);
}

const OK: u32 = 0;
const NOT_FOUND: u32 = 1;

// The statuses are declared as `u32`, not as the SDK's `Status` enum: a value the enum does
// not list (6, for one) would otherwise be undefined behaviour before any match could see it.
#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(
        map_type: u32,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_done() -> u32;
    fn proxy_define_metric(
        metric_type: u32,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
    fn proxy_record_metric(metric_id: u32, value: u64) -> u32;
    fn proxy_get_shared_data(
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
        return_cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    #[allow(clippy::too_many_arguments)]
    fn proxy_send_local_response(
        status_code: u32,
        status_code_details_data: *const u8,
        status_code_details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
}

/// Native builds (unit tests, the fuzzer) never call the host: every call reports
/// `InternalFailure`, which the callers handle like any other refusal.
#[cfg(not(target_arch = "wasm32"))]
mod native {
    pub unsafe fn proxy_get_buffer_bytes(
        _: u32,
        _: usize,
        _: usize,
        _: *mut *mut u8,
        _: *mut usize,
    ) -> u32 {
        10
    }
    pub unsafe fn proxy_get_header_map_pairs(_: u32, _: *mut *mut u8, _: *mut usize) -> u32 {
        10
    }
    pub unsafe fn proxy_get_current_time_nanoseconds(_: *mut u64) -> u32 {
        10
    }
    pub unsafe fn proxy_set_tick_period_milliseconds(_: u32) -> u32 {
        10
    }
    pub unsafe fn proxy_done() -> u32 {
        10
    }
    pub unsafe fn proxy_define_metric(_: u32, _: *const u8, _: usize, _: *mut u32) -> u32 {
        10
    }
    pub unsafe fn proxy_increment_metric(_: u32, _: i64) -> u32 {
        10
    }
    pub unsafe fn proxy_record_metric(_: u32, _: u64) -> u32 {
        10
    }
    pub unsafe fn proxy_get_property(
        _: *const u8,
        _: usize,
        _: *mut *mut u8,
        _: *mut usize,
    ) -> u32 {
        10
    }
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn proxy_send_local_response(
        _: u32,
        _: *const u8,
        _: usize,
        _: *const u8,
        _: usize,
        _: *const u8,
        _: usize,
        _: i32,
    ) -> u32 {
        10
    }
    pub unsafe fn proxy_get_shared_data(
        _: *const u8,
        _: usize,
        _: *mut *mut u8,
        _: *mut usize,
        _: *mut u32,
    ) -> u32 {
        10
    }
    pub unsafe fn proxy_set_shared_data(
        _: *const u8,
        _: usize,
        _: *const u8,
        _: usize,
        _: u32,
    ) -> u32 {
        10
    }
}
#[cfg(not(target_arch = "wasm32"))]
use native::*;

fn status(code: u32) -> Result<(), HostStatus> {
    if code == OK {
        Ok(())
    } else {
        Err(HostStatus(code))
    }
}

/// Takes ownership of bytes the host wrote into memory it allocated in the VM.
///
/// # Safety
/// `data` must be null, or point to `size` bytes allocated by the SDK's
/// `proxy_on_memory_allocate` (a boxed slice of exactly `size` bytes), as the host does for
/// `proxy_get_buffer_bytes` and `proxy_get_header_map_pairs`.
unsafe fn host_bytes(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() {
        Vec::new()
    } else {
        Vec::from_raw_parts(data, size, size)
    }
}

/// Up to `size` bytes of a buffer from its start; empty when the host has none.
pub fn buffer(buffer_type: BufferType, size: usize) -> Result<Vec<u8>, HostStatus> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut returned: usize = 0;
    // SAFETY: the host writes a pointer it allocated through the VM's allocator and its size.
    let code =
        unsafe { proxy_get_buffer_bytes(buffer_type as u32, 0, size, &mut data, &mut returned) };
    match code {
        OK => Ok(unsafe { host_bytes(data, returned) }),
        NOT_FOUND => Ok(Vec::new()),
        other => Err(HostStatus(other)),
    }
}

/// The original request's body chunk being delivered.
pub fn request_body(size: usize) -> Result<Vec<u8>, HostStatus> {
    buffer(BufferType::HttpRequestBody, size)
}

/// A header map (the request's, or a copy's response's), values as bytes: the bytes the host
/// wrote, read in place.
pub fn header_map(map_type: MapType) -> Result<HeaderMap, HostStatus> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: as in `buffer`.
    status(unsafe { proxy_get_header_map_pairs(map_type as u32, &mut data, &mut size) })?;
    let serialized = unsafe { host_bytes(data, size) };
    HeaderMap::parse(serialized).ok_or(HostStatus::MALFORMED_MAP)
}

pub fn request_headers() -> Result<HeaderMap, HostStatus> {
    header_map(MapType::HttpRequestHeaders)
}

pub fn current_time_ns() -> Result<u64, HostStatus> {
    let mut time = 0;
    // SAFETY: the host writes one u64 into `time`.
    status(unsafe { proxy_get_current_time_nanoseconds(&mut time) })?;
    Ok(time)
}

pub fn set_tick_period_ms(period: u32) -> Result<(), HostStatus> {
    // SAFETY: scalar arguments only.
    status(unsafe { proxy_set_tick_period_milliseconds(period) })
}

pub fn done() -> Result<(), HostStatus> {
    // SAFETY: no arguments.
    status(unsafe { proxy_done() })
}

pub fn define_metric(metric_type: MetricType, name: &str) -> Result<u32, HostStatus> {
    let mut id = 0;
    // SAFETY: the host reads `name` within its length and writes one u32 into `id`.
    status(unsafe { proxy_define_metric(metric_type as u32, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

pub fn increment_metric(id: u32, delta: i64) -> Result<(), HostStatus> {
    // SAFETY: scalar arguments only.
    status(unsafe { proxy_increment_metric(id, delta) })
}

pub fn record_metric(id: u32, value: u64) -> Result<(), HostStatus> {
    // SAFETY: scalar arguments only.
    status(unsafe { proxy_record_metric(id, value) })
}

/// A property of the stream, by its path as the ABI takes it: its segments joined by NULs
/// (`"xds\0cluster_name"`, see `host::CLUSTER_NAME`); `None` when the host has no value for it.
pub fn property(path: &str) -> Result<Option<Vec<u8>>, HostStatus> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the host reads the path within its length and writes back as in `buffer`.
    let code = unsafe { proxy_get_property(path.as_ptr(), path.len(), &mut data, &mut size) };
    match code {
        OK if data.is_null() => Ok(None),
        OK => Ok(Some(unsafe { host_bytes(data, size) })),
        NOT_FOUND => Ok(None),
        other => Err(HostStatus(other)),
    }
}

/// Answers the request in the plugin's place: Envoy sends this response downstream and the
/// request goes no further.
pub fn send_local_response(
    status_code: u32,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(), HostStatus> {
    let serialized = crate::http::serialize_header_map(headers);
    // SAFETY: the host reads each buffer within the length given with it.
    status(unsafe {
        proxy_send_local_response(
            status_code,
            std::ptr::null(),
            0,
            body.as_ptr(),
            body.len(),
            serialized.as_ptr(),
            serialized.len(),
            -1,
        )
    })
}

/// A shared-data value and its compare-and-swap token; `Ok(None)` when the key does not exist.
pub fn shared_data(key: &str) -> Result<Option<(Vec<u8>, u32)>, HostStatus> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    let mut cas: u32 = 0;
    // SAFETY: as in `buffer`; the host writes one u32 into `cas`.
    let code =
        unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas) };
    match code {
        OK => Ok(Some((unsafe { host_bytes(data, size) }, cas))),
        NOT_FOUND => Ok(None),
        other => Err(HostStatus(other)),
    }
}

/// Sets a shared-data value if its token is still `cas` (0: whatever it is); a key that does
/// not exist is created whatever `cas` is. `Err(HostStatus::CAS_MISMATCH)`: someone else set
/// it since it was read.
pub fn set_shared_data(key: &str, value: &[u8], cas: u32) -> Result<(), HostStatus> {
    // SAFETY: the host reads `key` and `value` within their lengths.
    status(unsafe {
        proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas)
    })
}
