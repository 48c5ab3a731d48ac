#!/usr/bin/env python3
"""Prints the wasm exports the plugin needs, derived from the callbacks src/ implements.

The proxy-wasm SDK exports every callback of the ABI, and Envoy calls every exported callback
on every request, so `make wasm` keeps only these (tools/prune-exports). Deriving the list from
the source means a callback implemented in src/ is never silently stripped.

Usage: plugin-exports.py <src dir>             prints the comma-separated list
       plugin-exports.py --self-test
A `fn on_...` or `fn create_...` in src/ (outside #[cfg(test)]) that is not in CALLBACKS below
is an error: it may be a new SDK callback whose export must be kept.
"""
import os
import re
import sys
import tempfile

# What the ABI itself needs, whatever the plugin implements.
ALWAYS = [
    "memory",
    "_initialize",
    "proxy_abi_version_0_2_1",
    "proxy_on_memory_allocate",
    "proxy_on_context_create",
    "proxy_on_delete",
    "proxy_on_vm_start",
    "proxy_on_configure",
]

# SDK trait method -> the export through which the host calls it (proxy-wasm 0.2.5).
CALLBACKS = {
    "on_vm_start": "proxy_on_vm_start",
    "on_configure": "proxy_on_configure",
    "create_http_context": "proxy_on_context_create",
    "create_stream_context": "proxy_on_context_create",
    "on_tick": "proxy_on_tick",
    "on_queue_ready": "proxy_on_queue_ready",
    "on_done": "proxy_on_done",
    "on_log": "proxy_on_log",
    "on_http_call_response": "proxy_on_http_call_response",
    "on_grpc_call_response": "proxy_on_grpc_close",
    "on_grpc_stream_initial_metadata": "proxy_on_grpc_receive_initial_metadata",
    "on_grpc_stream_message": "proxy_on_grpc_receive",
    "on_grpc_stream_trailing_metadata": "proxy_on_grpc_receive_trailing_metadata",
    "on_grpc_stream_close": "proxy_on_grpc_close",
    "on_http_request_headers": "proxy_on_request_headers",
    "on_http_request_body": "proxy_on_request_body",
    "on_http_request_trailers": "proxy_on_request_trailers",
    "on_http_response_headers": "proxy_on_response_headers",
    "on_http_response_body": "proxy_on_response_body",
    "on_http_response_trailers": "proxy_on_response_trailers",
    "on_new_connection": "proxy_on_new_connection",
    "on_downstream_data": "proxy_on_downstream_data",
    "on_downstream_close": "proxy_on_downstream_connection_close",
    "on_upstream_data": "proxy_on_upstream_data",
    "on_upstream_close": "proxy_on_upstream_connection_close",
}

# A method of an `impl ... Context for ...` block that looks like a host callback.
CALLBACK_FN = re.compile(r"^\s*fn\s+((?:on|create)_[a-z_]+)\s*[<(]")
CONTEXT_IMPL = re.compile(r"^\s*impl\b.*\b(?:Context|HttpContext|RootContext|StreamContext)\s+for\b")


def implemented(src):
    """The SDK callbacks implemented in src/, outside test code."""
    found = set()
    for folder, _, files in os.walk(src):
        for name in sorted(files):
            if not name.endswith(".rs"):
                continue
            in_impl = False
            depth = 0
            with open(os.path.join(folder, name), encoding="utf-8") as source:
                for line in source:
                    if "#[cfg(test)]" in line:
                        break
                    if CONTEXT_IMPL.match(line):
                        in_impl, depth = True, 0
                    if in_impl:
                        match = CALLBACK_FN.match(line)
                        if match:
                            found.add(match.group(1))
                        depth += line.count("{") - line.count("}")
                        if depth <= 0 and "}" in line:
                            in_impl = False
    return found


def exports(src):
    names = implemented(src)
    unknown = sorted(names - CALLBACKS.keys())
    if unknown:
        raise SystemExit(
            f"plugin-exports: {', '.join(unknown)} in {src} is not a known proxy-wasm callback: "
            "add it with its export to CALLBACKS in tools/plugin-exports.py"
        )
    wanted = list(ALWAYS)
    for name in sorted(names):
        if CALLBACKS[name] not in wanted:
            wanted.append(CALLBACKS[name])
    return wanted


def self_test():
    with tempfile.TemporaryDirectory() as src:
        with open(os.path.join(src, "a.rs"), "w") as f:
            f.write(
                "impl HttpContext for F {\n    fn on_http_response_headers(&mut self) -> Action {\n"
                "        Action::Continue\n    }\n}\nfn on_helper() {}\n"
                "#[cfg(test)]\nimpl Context for T {\n    fn on_tick(&mut self) {}\n}\n"
            )
        got = exports(src)
        assert "proxy_on_response_headers" in got, got
        assert "proxy_on_tick" not in got, "test code does not count"
        assert not any("helper" in e for e in got), "free functions are not callbacks"
        with open(os.path.join(src, "b.rs"), "w") as f:
            f.write("impl RootContext for R {\n    fn on_something_new(&mut self) {}\n}\n")
        try:
            exports(src)
        except SystemExit as refusal:
            assert "on_something_new" in str(refusal)
        else:
            raise AssertionError("an unknown callback must be refused")
    print("plugin-exports self-test: ok")


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        self_test()
    elif len(sys.argv) == 2:
        print(",".join(exports(sys.argv[1])))
    else:
        raise SystemExit(__doc__)
