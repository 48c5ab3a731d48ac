//! `make callback-cost`: the most work the plugin does in any one callback while it redacts the
//! largest body `body.max_bytes` allows (64 MiB), while it inflates the largest compressed
//! compared responses (`compare.max_body_bytes` at its bound) and while it makes the largest
//! comparison,
//! counted in the plugin itself: the built module runs in the wasmi interpreter with fuel
//! metering, behind a small proxy-wasm host (this file) that plays Envoy's part (headers,
//! body chunks, the timer, dispatches, a copy's response). Deterministic, unlike time.
//!
//! A unit of fuel is one Wasmi instruction (Wasmi's register IR fuses some Wasm instructions);
//! memory copies cost one unit per 64 bytes. Envoy's own work (copying a body into the VM,
//! copying a copy's body inside `dispatch_http_call`) is not the plugin's and is not counted.
//!
//! Usage: callback-cost WASM [--gate FUEL] [--out FILE] [--only NAME]. With `--gate`, exits 1
//! when a gated scenario has a callback over FUEL.
//!
//! `callback-cost WASM --replay`: the fuel per request of `make profile`'s comparison
//! scenarios (`plugin_mirror_json`, `plugin_compare`, `plugin_compare_reordered`: ~2 KB JSON
//! answers, the copy's written otherwise), callback by callback, to tell where a comparison's
//! cost goes (docs/performance.md).
//!
//! Gated: the redactions, and the capture and inflation of the largest compressed compared
//! responses (`inflate_gzip_64MiB`). The JSON comparisons (`compare_json_gzip_15MiB`: equal
//! bodies; `compare_json_differing_15MiB`: bodies that differ in every item, read into
//! documents, indexed and walked) are gated since the diff is made in steps:
//! `DIFF_IN_STEPS` says so. So are the comparison as bytes of bodies that are not JSON
//! (`compare_text_differing_15MiB`) and the hashing, for an exact comparison, of bytes
//! captured for a JSON one (`compare_exact_beside_json_15MiB`).

/// The profile's ~2 KB answers, the very ones `make profile` serves.
#[path = "../../bench/src/documents.rs"]
mod documents;

use documents::{json_document, Shape};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Instant;
use wasmi::{Caller, Config, Engine, Extern, Func, Instance, Linker, Memory, Module, Store, Val};

const MIB: usize = 1 << 20;
/// Whether the plugin's JSON diff is resumable (`compare::json::DiffJob` stepping by bytes,
/// the documents' reading, index and walk included): then the comparisons' largest callback
/// is gated too.
const DIFF_IN_STEPS: bool = true;
/// What Envoy hands the filter per body callback here (it varies with buffers and reads).
const CHUNK: usize = MIB;
const ROOT: u32 = 1;
const HTTP: u32 = 2;
// proxy-wasm's buffer and map types.
const REQUEST_BODY: u32 = 0;
const RESPONSE_BODY: u32 = 1;
const CALL_RESPONSE_BODY: u32 = 4;
const PLUGIN_CONFIGURATION: u32 = 7;
const REQUEST_HEADERS: u32 = 0;
const RESPONSE_HEADERS: u32 = 2;
const CALL_RESPONSE_HEADERS: u32 = 6;
const NOT_FOUND: i32 = 1;

type Headers = Vec<(String, Vec<u8>)>;

/// What the host holds for the plugin: what each callback may read, what the plugin did.
#[derive(Default)]
struct Host {
    configuration: Vec<u8>,
    buffers: BTreeMap<u32, Vec<u8>>,
    maps: BTreeMap<u32, Headers>,
    now_ns: u64,
    tick_period_ms: u32,
    calls: u32,
    metric_names: Vec<String>,
    metrics: BTreeMap<u32, i64>,
    memory: Option<Memory>,
    /// With a module instrumented by `wasm-opt --log-execution`: the fuel spent after each
    /// logged place (a function's entry or a loop's head) until the next, by place.
    places: BTreeMap<u32, u64>,
    /// The last place logged, and the fuel left then.
    last_place: Option<(u32, u64)>,
    /// Shared data by key: the value and its compare-and-swap token.
    shared: BTreeMap<Vec<u8>, (Vec<u8>, u32)>,
}

struct Plugin {
    store: Store<Host>,
    instance: Instance,
    /// Per callback name: (calls, most fuel in one call).
    costs: BTreeMap<&'static str, (u64, u64)>,
    /// Per callback name: the fuel of all its calls.
    spent: BTreeMap<&'static str, u64>,
    /// Fuel spent in every callback since loaded.
    total: u64,
}

fn memory(caller: &Caller<'_, Host>) -> Memory {
    caller.data().memory.expect("memory")
}

fn read(caller: &Caller<'_, Host>, at: i32, len: i32) -> Vec<u8> {
    let mut bytes = vec![0; len as usize];
    memory(caller)
        .read(caller, at as u32 as usize, &mut bytes)
        .expect("read guest memory");
    bytes
}

fn write(caller: &mut Caller<'_, Host>, at: i32, bytes: &[u8]) {
    let memory = memory(caller);
    memory
        .write(caller, at as u32 as usize, bytes)
        .expect("write guest memory");
}

/// Copies `bytes` into memory the plugin allocates, and writes where and how long.
fn hand_over(caller: &mut Caller<'_, Host>, bytes: &[u8], data_at: i32, size_at: i32) -> i32 {
    let allocate = caller
        .get_export("proxy_on_memory_allocate")
        .and_then(Extern::into_func)
        .expect("proxy_on_memory_allocate")
        .typed::<i32, i32>(&caller)
        .expect("allocator type");
    let at = allocate
        .call(&mut *caller, bytes.len() as i32)
        .expect("allocate");
    write(caller, at, bytes);
    write(caller, data_at, &at.to_le_bytes());
    write(caller, size_at, &(bytes.len() as u32).to_le_bytes());
    0
}

fn serialize(headers: &Headers) -> Vec<u8> {
    let mut out = (headers.len() as u32).to_le_bytes().to_vec();
    for (name, value) in headers {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    }
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.extend_from_slice(value);
        out.push(0);
    }
    out
}

fn headers(list: &[(&str, &str)]) -> Headers {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
        .collect()
}

impl Plugin {
    fn load(engine: &Engine, module: &Module, configuration: &Value) -> Plugin {
        let mut store = Store::new(engine, Host::default());
        store.data_mut().configuration = configuration.to_string().into_bytes();
        store.set_fuel(u64::MAX).expect("fuel");
        let mut linker = Linker::<Host>::new(engine);
        define_host(&mut linker);
        for import in module.imports() {
            let (module_name, name) = (import.module(), import.name());
            if DEFINED.contains(&name) {
                continue;
            }
            // Everything else the SDK may import: "not found", as a host without it says.
            let ty = import.ty().func().expect("function import").clone();
            let results: Vec<_> = ty.results().to_vec();
            let func = Func::new(&mut store, ty, move |_, _, out: &mut [Val]| {
                for (slot, kind) in out.iter_mut().zip(&results) {
                    *slot = match kind {
                        wasmi::ValType::I64 => Val::I64(NOT_FOUND.into()),
                        _ => Val::I32(NOT_FOUND),
                    };
                }
                Ok(())
            });
            linker.define(module_name, name, func).expect("define stub");
        }
        let instance = linker
            .instantiate_and_start(&mut store, module)
            .expect("instantiate");
        let memory = instance.get_memory(&store, "memory").expect("memory");
        store.data_mut().memory = Some(memory);
        let mut plugin = Plugin {
            store,
            instance,
            costs: BTreeMap::new(),
            spent: BTreeMap::new(),
            total: 0,
        };
        plugin.call::<(), ()>("_initialize", ());
        plugin.call::<(i32, i32), ()>("proxy_on_context_create", (ROOT as i32, 0));
        let size = plugin.store.data().configuration.len() as i32;
        let started: i32 = plugin.call("proxy_on_vm_start", (ROOT as i32, 0));
        let configured: i32 = plugin.call("proxy_on_configure", (ROOT as i32, size));
        assert!(
            started == 1 && configured == 1,
            "the plugin refused its configuration"
        );
        plugin.costs.clear();
        plugin.spent.clear();
        plugin
    }

    fn call<P: wasmi::WasmParams, R: wasmi::WasmResults>(
        &mut self,
        name: &'static str,
        params: P,
    ) -> R {
        let func = self
            .instance
            .get_typed_func::<P, R>(&self.store, name)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let before = self.store.get_fuel().expect("fuel");
        let result = func
            .call(&mut self.store, params)
            .unwrap_or_else(|e| panic!("{name} trapped: {e}"));
        let used = before - self.store.get_fuel().expect("fuel");
        // CALLBACK_COST_TRACE=FUEL prints every call over FUEL (2,000,000 when not a number).
        let trace = std::env::var("CALLBACK_COST_TRACE")
            .ok()
            .map(|over| over.parse().unwrap_or(2_000_000));
        if trace.is_some_and(|over| used > over) {
            eprintln!(
                "  {name} call {} used {used}",
                self.costs.get(name).map_or(0, |c| c.0)
            );
        }
        let entry = self.costs.entry(name).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(used);
        *self.spent.entry(name).or_default() += used;
        self.total += used;
        self.store.data_mut().now_ns += 1_000_000;
        result
    }

    fn tick(&mut self) {
        self.call::<i32, ()>("proxy_on_tick", ROOT as i32);
    }

    fn metric(&self, suffix: &str) -> i64 {
        let host = self.store.data();
        host.metric_names
            .iter()
            .enumerate()
            .filter(|(_, name)| name.ends_with(suffix))
            .map(|(id, _)| host.metrics.get(&(id as u32 + 1)).copied().unwrap_or(0))
            .sum()
    }

    /// A request through the filter: headers, then its body in chunks.
    fn request(&mut self, head: Headers, body: &[u8]) {
        self.call::<(i32, i32), ()>("proxy_on_context_create", (HTTP as i32, ROOT as i32));
        let count = head.len() as i32;
        self.store.data_mut().maps.insert(REQUEST_HEADERS, head);
        let _: i32 = self.call(
            "proxy_on_request_headers",
            (HTTP as i32, count, i32::from(body.is_empty())),
        );
        let chunks: Vec<&[u8]> = body.chunks(CHUNK).collect();
        for (index, chunk) in chunks.iter().enumerate() {
            self.store
                .data_mut()
                .buffers
                .insert(REQUEST_BODY, chunk.to_vec());
            let last = i32::from(index + 1 == chunks.len());
            let _: i32 = self.call(
                "proxy_on_request_body",
                (HTTP as i32, chunk.len() as i32, last),
            );
        }
    }

    /// The original's response through the filter.
    fn response(&mut self, head: Headers, body: &[u8]) {
        let count = head.len() as i32;
        self.store.data_mut().maps.insert(RESPONSE_HEADERS, head);
        let _: i32 = self.call("proxy_on_response_headers", (HTTP as i32, count, 0));
        let chunks: Vec<&[u8]> = body.chunks(CHUNK).collect();
        for (index, chunk) in chunks.iter().enumerate() {
            self.store
                .data_mut()
                .buffers
                .insert(RESPONSE_BODY, chunk.to_vec());
            let last = i32::from(index + 1 == chunks.len());
            let _: i32 = self.call(
                "proxy_on_response_body",
                (HTTP as i32, chunk.len() as i32, last),
            );
        }
        let _: i32 = self.call("proxy_on_done", HTTP as i32);
        self.call::<i32, ()>("proxy_on_delete", HTTP as i32);
    }

    /// Ticks until `done` says so (at most `limit` ticks).
    fn tick_until(&mut self, limit: usize, done: impl Fn(&Plugin) -> bool) -> usize {
        for ticks in 1..=limit {
            self.tick();
            if done(self) {
                return ticks;
            }
        }
        let host = self.store.data();
        let counted: Vec<(&String, i64)> = host
            .metric_names
            .iter()
            .enumerate()
            .filter_map(|(id, name)| Some((name, *host.metrics.get(&(id as u32 + 1))?)))
            .filter(|(_, n)| *n != 0)
            .collect();
        panic!("not done after {limit} ticks; counts {counted:?}");
    }

    /// The copy's response, delivered to the root as Envoy does: the whole body in one go.
    fn answer(&mut self, token: u32, mut head: Headers, body: &[u8]) {
        // What tells an upstream's answer from Envoy's own (see `outcome::classify`).
        head.push(("x-envoy-upstream-service-time".into(), b"1".to_vec()));
        let count = head.len() as i32;
        let host = self.store.data_mut();
        host.maps.insert(CALL_RESPONSE_HEADERS, head);
        host.buffers.insert(CALL_RESPONSE_BODY, body.to_vec());
        self.call::<(i32, i32, i32, i32, i32), ()>(
            "proxy_on_http_call_response",
            (ROOT as i32, token as i32, count, body.len() as i32, 0),
        );
    }
}

/// The imports `define_host` plays; every other one answers "not found".
const DEFINED: [&str; 20] = [
    "log_execution",
    "proxy_get_shared_data",
    "proxy_set_shared_data",
    "proxy_log",
    "proxy_set_effective_context",
    "proxy_get_current_time_nanoseconds",
    "proxy_set_tick_period_milliseconds",
    "proxy_get_buffer_bytes",
    "proxy_get_header_map_pairs",
    "proxy_define_metric",
    "proxy_increment_metric",
    "proxy_record_metric",
    "proxy_done",
    "proxy_http_call",
    "random_get",
    "clock_time_get",
    "environ_sizes_get",
    "environ_get",
    "fd_write",
    "proc_exit",
];

fn define_host(linker: &mut Linker<Host>) {
    let env = "env";
    linker
        .func_wrap(
            env,
            "log_execution",
            |mut caller: Caller<'_, Host>, place: i32| {
                let left = caller.get_fuel().unwrap_or(0);
                let host = caller.data_mut();
                if let Some((last, before)) = host.last_place {
                    *host.places.entry(last).or_default() += before.saturating_sub(left);
                }
                host.last_place = Some((place as u32, left));
            },
        )
        .expect("log_execution");
    linker
        .func_wrap(
            env,
            "proxy_log",
            |_: Caller<'_, Host>, _: i32, _: i32, _: i32| 0i32,
        )
        .expect("log");
    linker
        .func_wrap(
            env,
            "proxy_get_current_time_nanoseconds",
            |mut caller: Caller<'_, Host>, at: i32| {
                let now = caller.data().now_ns;
                write(&mut caller, at, &now.to_le_bytes());
                0i32
            },
        )
        .expect("time");
    linker
        .func_wrap(
            env,
            "proxy_set_tick_period_milliseconds",
            |mut caller: Caller<'_, Host>, period: i32| {
                caller.data_mut().tick_period_ms = period as u32;
                0i32
            },
        )
        .expect("tick");
    linker
        .func_wrap(
            env,
            "proxy_get_buffer_bytes",
            |mut caller: Caller<'_, Host>,
             kind: i32,
             start: i32,
             size: i32,
             data: i32,
             len: i32| {
                let host = caller.data();
                let buffer = if kind as u32 == PLUGIN_CONFIGURATION {
                    host.configuration.clone()
                } else {
                    match host.buffers.get(&(kind as u32)) {
                        Some(buffer) => buffer.clone(),
                        None => return NOT_FOUND,
                    }
                };
                let start = (start as usize).min(buffer.len());
                let end = start.saturating_add(size as u32 as usize).min(buffer.len());
                hand_over(&mut caller, &buffer[start..end], data, len)
            },
        )
        .expect("buffer");
    linker
        .func_wrap(
            env,
            "proxy_get_header_map_pairs",
            |mut caller: Caller<'_, Host>, kind: i32, data: i32, len: i32| {
                let map = caller
                    .data()
                    .maps
                    .get(&(kind as u32))
                    .cloned()
                    .unwrap_or_default();
                hand_over(&mut caller, &serialize(&map), data, len)
            },
        )
        .expect("headers");
    linker
        .func_wrap(
            env,
            "proxy_define_metric",
            |mut caller: Caller<'_, Host>, _kind: i32, name: i32, size: i32, id_at: i32| {
                let name = String::from_utf8_lossy(&read(&caller, name, size)).into_owned();
                let host = caller.data_mut();
                host.metric_names.push(name);
                let id = host.metric_names.len() as u32;
                write(&mut caller, id_at, &id.to_le_bytes());
                0i32
            },
        )
        .expect("define metric");
    linker
        .func_wrap(
            env,
            "proxy_increment_metric",
            |mut caller: Caller<'_, Host>, id: i32, delta: i64| {
                *caller.data_mut().metrics.entry(id as u32).or_default() += delta;
                0i32
            },
        )
        .expect("increment");
    linker
        .func_wrap(
            env,
            "proxy_record_metric",
            |_: Caller<'_, Host>, _: i32, _: i64| 0i32,
        )
        .expect("record");
    // Shared data as Envoy keeps it (the endpoints and fields admitted are kept there: a host
    // without it would have them admitted anew at every comparison).
    linker
        .func_wrap(
            env,
            "proxy_get_shared_data",
            |mut caller: Caller<'_, Host>, key: i32, size: i32, data: i32, len: i32, cas: i32| {
                let key = read(&caller, key, size);
                let Some((value, token)) = caller.data().shared.get(&key).cloned() else {
                    return NOT_FOUND;
                };
                write(&mut caller, cas, &token.to_le_bytes());
                hand_over(&mut caller, &value, data, len)
            },
        )
        .expect("get shared data");
    linker
        .func_wrap(
            env,
            "proxy_set_shared_data",
            |mut caller: Caller<'_, Host>, key: i32, size: i32, data: i32, len: i32, cas: i32| {
                const CAS_MISMATCH: i32 = 8;
                let (key, value) = (read(&caller, key, size), read(&caller, data, len));
                let shared = &mut caller.data_mut().shared;
                let token = shared.get(&key).map(|(_, token)| *token);
                if token.is_some_and(|token| cas != 0 && cas as u32 != token) {
                    return CAS_MISMATCH;
                }
                shared.insert(key, (value, token.map_or(1, |t| t + 1)));
                0
            },
        )
        .expect("set shared data");
    linker
        .func_wrap(env, "proxy_done", |_: Caller<'_, Host>| 0i32)
        .expect("done");
    linker
        .func_wrap(
            env,
            "proxy_set_effective_context",
            |_: Caller<'_, Host>, _: i32| 0i32,
        )
        .expect("effective context");
    linker
        .func_wrap(
            env,
            "proxy_http_call",
            |mut caller: Caller<'_, Host>,
             _: i32,
             _: i32,
             _: i32,
             _: i32,
             _: i32,
             _: i32,
             _: i32,
             _: i32,
             _: i32,
             token_at: i32| {
                let host = caller.data_mut();
                host.calls += 1;
                let token = host.calls;
                write(&mut caller, token_at, &token.to_le_bytes());
                0i32
            },
        )
        .expect("http call");
    let wasi = "wasi_snapshot_preview1";
    linker
        .func_wrap(
            wasi,
            "proc_exit",
            |_: Caller<'_, Host>, code: i32| -> Result<(), wasmi::Error> {
                Err(wasmi::Error::i32_exit(code))
            },
        )
        .expect("proc_exit");
    linker
        .func_wrap(
            wasi,
            "random_get",
            |mut caller: Caller<'_, Host>, at: i32, len: i32| {
                let bytes: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
                write(&mut caller, at, &bytes);
                0i32
            },
        )
        .expect("random");
    linker
        .func_wrap(
            wasi,
            "clock_time_get",
            |mut caller: Caller<'_, Host>, _: i32, _: i64, at: i32| {
                let now = caller.data().now_ns;
                write(&mut caller, at, &now.to_le_bytes());
                0i32
            },
        )
        .expect("clock");
    linker
        .func_wrap(
            wasi,
            "environ_sizes_get",
            |mut caller: Caller<'_, Host>, count: i32, size: i32| {
                write(&mut caller, count, &0u32.to_le_bytes());
                write(&mut caller, size, &0u32.to_le_bytes());
                0i32
            },
        )
        .expect("environ sizes");
    linker
        .func_wrap(
            wasi,
            "environ_get",
            |_: Caller<'_, Host>, _: i32, _: i32| 0i32,
        )
        .expect("environ");
    linker
        .func_wrap(
            wasi,
            "fd_write",
            |mut caller: Caller<'_, Host>, _: i32, iovs: i32, count: i32, written: i32| {
                let mut total = 0u32;
                for i in 0..count {
                    let iov = read(&caller, iovs + 8 * i, 8);
                    total += u32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]]);
                }
                write(&mut caller, written, &total.to_le_bytes());
                0i32
            },
        )
        .expect("fd_write");
}

/// `{"items": [{"id": 0, "password": "p0", "name": "..."}, ...]}` of about `size` bytes.
fn json_body(size: usize) -> Vec<u8> {
    let mut body = b"{\"items\": [".to_vec();
    let mut i = 0;
    while body.len() + 100 < size {
        if i > 0 {
            body.extend_from_slice(b", ");
        }
        body.extend_from_slice(
            format!("{{\"id\": {i}, \"password\": \"p{i}\", \"name\": \"item number {i}\"}}")
                .as_bytes(),
        );
        i += 1;
    }
    body.extend_from_slice(b"]}");
    body
}

/// `{"items": [{"id": 0, "name": "xx...x0", "price": 0}, ...]}` of about `size` bytes in
/// 30,000 items: about 120,000 values, under the diff's 131,072 per document
/// (`compare::json::MAX_VALUES`), so that the document is read and walked. The candidate's
/// items have their members in another order and another `price`: every item differs.
fn items_body(size: usize, candidate: bool) -> Vec<u8> {
    const ITEMS: usize = 30_000;
    let padding = "x".repeat(size / ITEMS - 60);
    let mut body = b"{\"items\": [".to_vec();
    for i in 0..ITEMS {
        if i > 0 {
            body.extend_from_slice(b", ");
        }
        let item = if candidate {
            let price = i + 1;
            format!("{{\"price\": {price}, \"name\": \"{padding}{i}\", \"id\": {i}}}")
        } else {
            format!("{{\"id\": {i}, \"name\": \"{padding}{i}\", \"price\": {i}}}")
        };
        body.extend_from_slice(item.as_bytes());
    }
    body.extend_from_slice(b"]}");
    body
}

/// Lines of a log, not JSON, of about `size` bytes.
fn text_body(size: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(size + 64);
    let mut i = 0;
    while body.len() + 40 < size {
        body.extend_from_slice(format!("line {i}: nothing to report\n").as_bytes());
        i += 1;
    }
    body
}

fn form_body(size: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(size);
    let mut i = 0;
    while body.len() + 40 < size {
        body.extend_from_slice(format!("password=p{i}&name{i}=value{i}&").as_bytes());
        i += 1;
    }
    body.extend_from_slice(b"end=1");
    body
}

fn multipart_body(size: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(size);
    let mut i = 0;
    while body.len() + 200 < size {
        let name = if i % 2 == 0 { "password" } else { "field" };
        body.extend_from_slice(
            format!(
                "--b0undary\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{}\r\n",
                "v".repeat(i % 97)
            )
            .as_bytes(),
        );
        i += 1;
    }
    body.extend_from_slice(b"--b0undary--\r\n");
    body
}

/// `--replay`: each of the profile's JSON scenarios, request by request as Envoy plays them
/// (the request's headers, the dispatch on a tick, the original's response, the copy's
/// answer, the ticks that compare and count), and the fuel per request of each callback,
/// after a few requests of warm-up (the first ones allocate the worker's tables).
fn replay(engine: &Engine, module: &Module) {
    const WARM_UP: usize = 5;
    const REQUESTS: u64 = 50;
    // Besides the profile's three: the comparison without its body (status and headers
    // only), and with bodies of the same bytes (compared as bytes, no JSON read): what the
    // comparison costs besides the diff.
    let scenarios = [
        ("plugin_mirror_json", None, "json"),
        ("plugin_compare", Some(Shape::Spaced), "json"),
        ("plugin_compare_reordered", Some(Shape::Reordered), "json"),
        ("compare, bodies not compared", Some(Shape::Spaced), "none"),
        ("compare, the same bytes", Some(Shape::Compact), "json"),
    ];
    let original = json_document(Shape::Compact).into_bytes();
    let length = original.len().to_string();
    let answer_head = headers(&[
        (":status", "200"),
        ("content-type", "application/json"),
        ("content-length", &length),
        ("date", "Sun, 06 Dec 2026 17:00:00 GMT"),
    ]);
    let mut baseline = None;
    for (name, compared, body) in scenarios {
        let target = match compared {
            Some(_) => json!({"cluster": "mirror_json", "name": "bench_compare",
                              "compare": {"body": body}}),
            None => json!({"cluster": "mirror_json", "name": "bench_json"}),
        };
        let copy = json_document(compared.unwrap_or(Shape::Spaced)).into_bytes();
        let mut plugin = Plugin::load(engine, module, &json!({"targets": [target]}));
        for round in 0..WARM_UP + REQUESTS as usize {
            if round == WARM_UP {
                plugin.spent.clear();
                plugin.total = 0;
                plugin.store.data_mut().places.clear();
            }
            let calls = plugin.store.data().calls;
            plugin.request(
                headers(&[
                    (":method", "GET"),
                    (":path", "/"),
                    (":authority", "127.0.0.1:10000"),
                    (":scheme", "http"),
                    ("user-agent", "wrk"),
                    ("x-forwarded-proto", "http"),
                    ("x-request-id", "4f9b8c1e-2a7d-4b3e-9c61-0d5e8f7a1b2c"),
                ]),
                b"",
            );
            plugin.tick();
            assert_eq!(plugin.store.data().calls, calls + 1, "{name}: dispatched");
            plugin.response(answer_head.clone(), &original);
            plugin.answer(calls + 1, answer_head.clone(), &copy);
            plugin.tick();
            plugin.tick();
        }
        let per_request = plugin.total / REQUESTS;
        let over = baseline.map_or(String::new(), |base: u64| {
            format!(
                " (+{} over plugin_mirror_json)",
                per_request.saturating_sub(base)
            )
        });
        baseline.get_or_insert(per_request);
        println!("{name:<26} fuel per request {per_request:>9}{over}");
        for (callback, fuel) in &plugin.spent {
            println!("    {callback:<32} {:>9}", fuel / REQUESTS);
        }
        // With an instrumented module (see `Host::places`): the places that cost most.
        let mut places: Vec<(&u32, &u64)> = plugin.store.data().places.iter().collect();
        places.sort_by(|a, b| b.1.cmp(a.1));
        for (place, fuel) in places.iter().take(40) {
            println!("    place {place:<6} {:>9}", *fuel / REQUESTS);
        }
        if compared.is_some() {
            assert_eq!(
                plugin.metric(".matched"),
                (WARM_UP as u64 + REQUESTS) as i64,
                "{name}: every pair matched"
            );
        }
    }
}

struct Scenario {
    name: &'static str,
    gated: bool,
    result: BTreeMap<&'static str, (u64, u64)>,
    ticks: usize,
    seconds: f64,
}

fn redaction(
    engine: &Engine,
    module: &Module,
    name: &'static str,
    content_type: &str,
    body: Vec<u8>,
) -> Scenario {
    let started = Instant::now();
    let config = json!({
        "targets": [{"cluster": "mirror", "name": "m"}],
        "redact": {"json_fields": ["**.password"], "query_params": ["password"]},
        "body": {"max_bytes": 64 * MIB, "max_buffered_bytes": 256 * MIB}
    });
    let mut plugin = Plugin::load(engine, module, &config);
    let length = body.len().to_string();
    let head = headers(&[
        (":method", "POST"),
        (":path", "/upload"),
        (":authority", "shop"),
        ("content-type", content_type),
        ("content-length", &length),
    ]);
    plugin.request(head, &body);
    drop(body);
    let ticks = plugin.tick_until(2_000_000, |p| p.store.data().calls > 0);
    assert_eq!(plugin.metric(".mirrored"), 1, "{name}: the copy went out");
    plugin.answer(1, headers(&[(":status", "200")]), b"");
    Scenario {
        name,
        gated: true,
        result: plugin.costs,
        ticks,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// `body`, gzip-compressed as a server does (level 6).
fn gzip(body: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    out.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(body, 6));
    // CRC32 and ISIZE: the plugin does not check them.
    out.extend_from_slice(&[0; 8]);
    out
}

/// A compared request whose original's response is `reference` and whose copies' answers
/// are `candidate`, gzip-compressed: captured through the filter a chunk at a time, and by the
/// root in one piece, as Envoy hands them; each copy (one a mode in `modes`) is compared as its
/// mode says, and ends in a match when the bodies are the same, else in a mismatch.
fn comparison(
    engine: &Engine,
    module: &Module,
    name: &'static str,
    modes: &[&str],
    (reference, candidate): (&[u8], &[u8]),
    gated: bool,
) -> Scenario {
    let started = Instant::now();
    let targets: Vec<Value> = modes
        .iter()
        .enumerate()
        .map(|(i, mode)| {
            json!({"cluster": "mirror", "name": format!("m{i}"),
                   "compare": {"body": mode, "max_body_bytes": 64 * MIB}})
        })
        .collect();
    let config = json!({"targets": targets, "body": {"max_buffered_bytes": 256 * MIB}});
    let copies = modes.len() as u32;
    let mut plugin = Plugin::load(engine, module, &config);
    plugin.request(
        headers(&[
            (":method", "GET"),
            (":path", "/report"),
            (":authority", "shop"),
        ]),
        b"",
    );
    plugin.tick_until(10, |p| p.store.data().calls == copies);
    let head = headers(&[
        (":status", "200"),
        ("content-type", "application/json"),
        ("content-encoding", "gzip"),
    ]);
    plugin.response(head.clone(), &gzip(reference));
    plugin.tick();
    let answer = gzip(candidate);
    for token in 1..=copies {
        plugin.answer(token, head.clone(), &answer);
    }
    let ticks = plugin.tick_until(1_000_000, |p| {
        p.metric(".matched") + p.metric(".mismatched") == i64::from(copies)
    });
    let outcome = if reference == candidate {
        ".matched"
    } else {
        ".mismatched"
    };
    assert_eq!(
        plugin.metric(outcome),
        i64::from(copies),
        "{name}: {outcome}"
    );
    assert_eq!(
        plugin.metric("body_not_compared_too_large") + plugin.metric("body_not_compared_encoding"),
        0,
        "{name}: the bodies were compared"
    );
    Scenario {
        name,
        gated,
        result: plugin.costs,
        ticks,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// The configuration `--calibrate` and `mirror-bench --calibrate-slices` run: JSON bodies of
/// `/upload` requests are copied with `**.password` redacted; other paths are not copied.
fn calibration_config() -> Value {
    json!({
        "targets": [{"cluster": "mirror", "name": "m"}],
        "match": {"path_prefixes": ["/upload"]},
        "redact": {"json_fields": ["**.password"]},
        "body": {"max_bytes": 64 * MIB, "max_buffered_bytes": 256 * MIB}
    })
}

/// `--calibrate FILE`: the fuel of copying the JSON body in FILE to `/upload` (captured, then
/// redacted in slices, then dispatched) beyond that of the same request to a path not copied,
/// and the ticks it took: what `mirror-bench --calibrate-slices FILE` counts in machine
/// instructions in Envoy, so that a unit of fuel can be told in instructions
/// (docs/performance.md).
fn calibrate(engine: &Engine, module: &Module, body: &[u8]) {
    let fuel = |path: &str| {
        let mut plugin = Plugin::load(engine, module, &calibration_config());
        plugin.total = 0;
        let length = body.len().to_string();
        let head = headers(&[
            (":method", "POST"),
            (":path", path),
            (":authority", "shop"),
            ("content-type", "application/json"),
            ("content-length", &length),
        ]);
        plugin.request(head, body);
        let copied = path == "/upload";
        let ticks = plugin.tick_until(1_000_000, |p| !copied || p.store.data().calls > 0);
        (plugin.total, ticks)
    };
    let (copied, ticks) = fuel("/upload");
    let (not_copied, _) = fuel("/elsewhere");
    println!(
        "calibration: {} bytes; copied {copied} fuel in {ticks} ticks, not copied {not_copied}; \
         the copy's work {} fuel",
        body.len(),
        copied - not_copied
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let wasm = args
        .get(1)
        .expect("usage: callback-cost WASM [--gate FUEL] [--out FILE]");
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let gate: Option<u64> = flag("--gate").map(|g| g.parse().expect("--gate FUEL"));
    let mut config = Config::default();
    config.consume_fuel(true);
    let engine = Engine::new(&config);
    let bytes = std::fs::read(wasm).expect("read the wasm");
    let module = Module::new(&engine, &bytes).expect("compile the wasm");
    if let Some(file) = flag("--calibrate") {
        let body = std::fs::read(&file).expect("read the calibration body");
        return calibrate(&engine, &module, &body);
    }
    if let Some(file) = flag("--write-calibration") {
        // What both tools measure: a 4 MiB body (about 2,000 slices of JSON redaction) in
        // FILE, the plugin's configuration in FILE.config.json.
        std::fs::write(&file, json_body(4 * MIB)).expect("write the calibration body");
        let config = calibration_config().to_string();
        return std::fs::write(format!("{file}.config.json"), config).expect("write the config");
    }
    if args.iter().any(|a| a == "--replay") {
        return replay(&engine, &module);
    }
    let only = flag("--only");
    let mut scenarios = Vec::new();
    let wanted = |name: &str| only.as_deref().is_none_or(|o| name.contains(o));
    if wanted("redact_json") {
        scenarios.push(redaction(
            &engine,
            &module,
            "redact_json_64MiB",
            "application/json",
            json_body(64 * MIB - 4096),
        ));
    }
    if wanted("redact_form") {
        scenarios.push(redaction(
            &engine,
            &module,
            "redact_form_64MiB",
            "application/x-www-form-urlencoded",
            form_body(64 * MIB - 4096),
        ));
    }
    if wanted("redact_multipart") {
        scenarios.push(redaction(
            &engine,
            &module,
            "redact_multipart_64MiB",
            "multipart/form-data; boundary=b0undary",
            multipart_body(64 * MIB - 4096),
        ));
    }
    if wanted("inflate") {
        // The largest inflation: `max_body_bytes` at its bound (64 MiB), both sides gzip; the
        // bodies compared by hash, so that the figure is the capture's and inflation's.
        let body = json_body(64 * MIB - 4096);
        scenarios.push(comparison(
            &engine,
            &module,
            "inflate_gzip_64MiB",
            &["exact"],
            (&body, &body),
            true,
        ));
    }
    if wanted("compare") {
        // The largest JSON comparison made: two summaries must fit in the 32 MiB the pending
        // comparisons may hold (compare::pairing::MAX_PENDING_BYTES), so 15 MiB a side.
        let body = json_body(15 * MIB);
        scenarios.push(comparison(
            &engine,
            &module,
            "compare_json_gzip_15MiB",
            &["json"],
            (&body, &body),
            DIFF_IN_STEPS,
        ));
    }
    if wanted("compare_json_differing") {
        // The same size, bodies that differ: both read into documents, indexed and walked.
        let (reference, candidate) = (items_body(15 * MIB, false), items_body(15 * MIB, true));
        scenarios.push(comparison(
            &engine,
            &module,
            "compare_json_differing_15MiB",
            &["json"],
            (&reference, &candidate),
            DIFF_IN_STEPS,
        ));
    }
    if wanted("compare_text") {
        // Bodies that are not JSON, compared with `"body": "json"`: compared as bytes, first
        // to find that they differ (at the end), then, once found not JSON, as a whole.
        let text = |end: &str| {
            let mut body = text_body(15 * MIB);
            body.extend_from_slice(end.as_bytes());
            body
        };
        scenarios.push(comparison(
            &engine,
            &module,
            "compare_text_differing_15MiB",
            &["json"],
            (&text("a"), &text("b")),
            true,
        ));
    }
    if wanted("compare_exact_beside_json") {
        // An exact comparison beside a JSON one on the same original: the original's body is
        // captured as bytes (for the JSON comparison), which the exact one hashes.
        let body = json_body(15 * MIB);
        scenarios.push(comparison(
            &engine,
            &module,
            "compare_exact_beside_json_15MiB",
            &["json", "exact"],
            (&body, &body),
            true,
        ));
    }
    let mut report = serde_json::Map::new();
    let mut over = Vec::new();
    for scenario in &scenarios {
        let most = scenario
            .result
            .values()
            .map(|(_, most)| *most)
            .max()
            .unwrap_or(0);
        println!(
            "{:<26} most fuel in one callback {most:>12}  ({} ticks, {:.1} s){}",
            scenario.name,
            scenario.ticks,
            scenario.seconds,
            if scenario.gated { "" } else { "  [not gated]" }
        );
        for (callback, (calls, most)) in &scenario.result {
            println!("    {callback:<32} {calls:>8} calls, most {most:>12}");
        }
        if scenario.gated && gate.is_some_and(|gate| most > gate) {
            over.push(scenario.name);
        }
        report.insert(
            scenario.name.into(),
            json!({
                "most_fuel_in_one_callback": most,
                "gated": scenario.gated,
                "ticks": scenario.ticks,
                "callbacks": scenario.result.iter().map(|(name, (calls, most))| {
                    (name.to_string(), json!({"calls": calls, "most_fuel": most}))
                }).collect::<serde_json::Map<String, Value>>(),
            }),
        );
    }
    if let Some(out) = flag("--out") {
        std::fs::write(
            &out,
            serde_json::to_string_pretty(&Value::Object(report)).expect("json") + "\n",
        )
        .expect("write the report");
        println!("wrote {out}");
    }
    if !over.is_empty() {
        eprintln!(
            "over the gate of {} fuel per callback: {over:?}",
            gate.unwrap_or(0)
        );
        std::process::exit(1);
    }
}
