//! The host calls on the plugin's path, made directly through the proxy-wasm ABI.
//!
//! The SDK's `hostcalls` return a `Result`, but panic on any status they do not expect:
//! `get_buffer` panicked with `unexpected status: 6` (InvalidMemoryAccess) when the VM ran
//! short of memory, and `get_map_bytes` panics on a header name that is not UTF-8 or a map
//! it cannot slice. A panic kills the VM, so these wrappers hand every status back as an
//! error instead, and read header maps with a parser that cannot panic (`parse_header_map`,
//! unit-tested and fuzzed). The SDK's `dispatch_http_call` stays in use (it registers the
//! call's token with the SDK's dispatcher, which routes the response); README: Reliability
//! lists the SDK calls that remain and why they cannot fire.

use crate::http::RawHeaders;
use proxy_wasm::types::{BufferType, MapType, MetricType};

/// A status the host returned instead of `Ok` (the ABI's numbering: 1 NotFound, 2
/// BadArgument, 6 InvalidMemoryAccess, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostStatus(pub u32);

impl HostStatus {
    /// Not a host status: the host said `Ok` but its header map did not parse.
    pub const MALFORMED_MAP: HostStatus = HostStatus(u32::MAX);
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

/// A header map (the request's, or a copy's response's), values as bytes.
pub fn header_map(map_type: MapType) -> Result<RawHeaders, HostStatus> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: as in `buffer`.
    status(unsafe { proxy_get_header_map_pairs(map_type as u32, &mut data, &mut size) })?;
    let serialized = unsafe { host_bytes(data, size) };
    parse_header_map(&serialized).ok_or(HostStatus::MALFORMED_MAP)
}

pub fn request_headers() -> Result<RawHeaders, HostStatus> {
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

fn read_u32(bytes: &[u8], at: usize) -> Option<usize> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    let word: [u8; 4] = word.try_into().ok()?;
    usize::try_from(u32::from_le_bytes(word)).ok()
}

/// Reads a header map as the host serializes it: a little-endian u32 count, then a (name
/// size, value size) u32 pair per header, then each name and value followed by a NUL. `None`
/// when the bytes do not hold what they announce; a name that is not UTF-8 (Envoy's codecs
/// never let one through) is read lossily rather than failing the map. Linear in its input.
pub fn parse_header_map(bytes: &[u8]) -> Option<RawHeaders> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let count = read_u32(bytes, 0)?;
    let sizes_end = count.checked_mul(8)?.checked_add(4)?;
    if sizes_end > bytes.len() {
        return None;
    }
    let mut headers = Vec::with_capacity(count);
    let mut data = sizes_end;
    let mut take = |size: usize| -> Option<&[u8]> {
        let end = data.checked_add(size)?;
        let field = bytes.get(data..end)?;
        data = end.checked_add(1)?; // the NUL after each name and value
        Some(field)
    };
    for index in 0..count {
        let at = 4 + index * 8;
        let name = take(read_u32(bytes, at)?)?;
        let value = take(read_u32(bytes, at + 4)?)?;
        headers.push((String::from_utf8_lossy(name).into_owned(), value.to_vec()));
    }
    Some(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host's serialization, as Envoy writes it.
    pub fn serialize(headers: &[(&str, &[u8])]) -> Vec<u8> {
        let mut bytes = (headers.len() as u32).to_le_bytes().to_vec();
        for (name, value) in headers {
            bytes.extend((name.len() as u32).to_le_bytes());
            bytes.extend((value.len() as u32).to_le_bytes());
        }
        for (name, value) in headers {
            bytes.extend(name.as_bytes());
            bytes.push(0);
            bytes.extend(*value);
            bytes.push(0);
        }
        bytes
    }

    #[test]
    fn a_serialized_map_reads_back_with_byte_values() {
        let headers: [(&str, &[u8]); 3] = [
            (":method", b"GET"),
            ("x-bin", b"\xff\x00\xfe"),
            ("empty", b""),
        ];
        let parsed = parse_header_map(&serialize(&headers)).unwrap();
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[1], ("x-bin".to_string(), b"\xff\x00\xfe".to_vec()));
        assert_eq!(parsed[2], ("empty".to_string(), Vec::new()));
        assert_eq!(parse_header_map(&[]), Some(Vec::new()));
        assert_eq!(parse_header_map(&[0, 0, 0, 0]), Some(Vec::new()));
    }

    #[test]
    fn a_map_that_does_not_hold_what_it_announces_is_refused_without_panic() {
        let good = serialize(&[("name", b"value")]);
        for cut in 0..good.len() - 1 {
            assert_eq!(parse_header_map(&good[..cut.max(1)]), None, "cut at {cut}");
        }
        assert_eq!(parse_header_map(&[0xff, 0xff, 0xff, 0xff]), None);
        let mut huge_size = good.clone();
        huge_size[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse_header_map(&huge_size), None);
    }

    #[test]
    fn a_name_that_is_not_utf8_is_read_lossily() {
        let mut bytes = serialize(&[("ab", b"v")]);
        let name_at = 4 + 8;
        bytes[name_at] = 0xff;
        let parsed = parse_header_map(&bytes).unwrap();
        assert_eq!(parsed[0].0, "\u{fffd}b");
    }
}
