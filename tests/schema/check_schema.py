"""Keeps envoy/plugin-config.schema.json honest:
- every example configuration in the repository (envoy/envoy.yaml's, each Istio manifest's
  pluginConfig, the JSON examples of the README and docs/) passes the schema and the plugin;
- on a set of valid and invalid samples, the schema accepts exactly what the plugin accepts
  (the plugin's own parser, check-config);
- the rules between fields that a JSON Schema cannot state (docs/configuration.md) are refused by the plugin
  and listed here, outside that comparison.

Usage: check_schema.py <repo root> <check-config binary>
"""

import copy
import json
import os
import re
import subprocess
import sys

import jsonschema
import yaml

BASE = {"targets": [{"cluster": "mirror"}]}


def with_target(**fields):
    config = copy.deepcopy(BASE)
    config["targets"][0].update(fields)
    return config


def with_top(**fields):
    config = copy.deepcopy(BASE)
    config.update(fields)
    return config


# (what, config, valid?)
SAMPLES = [
    ("minimal", BASE, True),
    ("marker_baggage off", with_top(marker_baggage=""), True),
    ("marker_baggage key", with_top(marker_baggage="Shadow_Of"), True),
    ("marker_baggage 65", with_top(marker_baggage="k" * 65), False),
    ("marker_baggage space", with_top(marker_baggage="a b"), False),
    ("refuse_marked_writes", with_top(refuse_marked_writes=True), True),
    ("refuse_marked_writes string", with_top(refuse_marked_writes="yes"), False),
    ("tracing never", with_target(tracing={"sampled": "never"}), True),
    ("tracing inherit", with_target(tracing={"sampled": "inherit"}), True),
    ("tracing always", with_target(tracing={"sampled": "always"}), False),
    ("tracing unknown", with_target(tracing={"rate": 1}), False),
    ("copy_log", with_target(copy_log={"per_minute": 60}), True),
    ("copy_log off", with_target(copy_log={"per_minute": 0}), True),
    ("copy_log 6001", with_target(copy_log={"per_minute": 6001}), False),
    ("copy_log fraction", with_target(copy_log={"per_minute": 1.5}), False),
    ("allow_same_cluster", with_target(allow_same_cluster=True), True),
    ("allow_same_cluster number", with_target(allow_same_cluster=1), False),
    ("empty object", {}, False),
    ("not an object", [], False),
    ("targets empty", {"targets": []}, False),
    ("16 targets", {"targets": [{"cluster": f"c{i}"} for i in range(16)]}, True),
    ("17 targets", {"targets": [{"cluster": f"c{i}"} for i in range(17)]}, False),
    ("unknown top field", with_top(sample=1), False),
    ("unknown target field", with_target(weight=1), False),
    ("null field", with_target(percentage=None), False),
    ("cluster empty", {"targets": [{"cluster": ""}]}, False),
    ("cluster with space", {"targets": [{"cluster": "a b"}]}, False),
    ("istio names", {"targets": [{"service": "s.ns.svc.cluster.local", "port": 8080, "subset": "canary"}]}, True),
    ("istio without subset", {"targets": [{"service": "s.ns", "port": 80}]}, True),
    ("service without port", {"targets": [{"service": "s.ns"}]}, False),
    ("cluster and service", with_target(service="s.ns", port=80), False),
    ("port only", {"targets": [{"port": 80}]}, False),
    ("port 0", {"targets": [{"service": "s", "port": 0}]}, False),
    ("port 65536", {"targets": [{"service": "s", "port": 65536}]}, False),
    ("subset with bar", {"targets": [{"service": "s", "port": 1, "subset": "a|b"}]}, False),
    ("name ok", with_target(name="canary-1_a"), True),
    ("name 64", with_target(name="n" * 64), True),
    ("name 65", with_target(name="n" * 65), False),
    ("name with dot", with_target(name="a.b"), False),
    ("percentage 0", with_target(percentage=0), True),
    ("percentage 12.5", with_target(percentage=12.5), True),
    ("percentage 100.5", with_target(percentage=100.5), False),
    ("percentage string", with_target(percentage="50"), False),
    ("timeout 1", with_target(timeout_ms=1), True),
    ("timeout 60000", with_target(timeout_ms=60000), True),
    ("timeout 0", with_target(timeout_ms=0), False),
    ("timeout 1.5", with_target(timeout_ms=1.5), False),
    ("timeout 250.0", with_target(timeout_ms=250.0), True),
    ("authority", with_target(authority="canary:8080"), True),
    ("authority with space", with_target(authority="a b"), False),
    ("sampling", with_target(sampling={"key_header": "X-User-Id", "salt": "s"}), True),
    ("sampling no key", with_target(sampling={"salt": "s"}), False),
    ("sampling bad key", with_target(sampling={"key_header": "x user"}), False),
    ("match all kinds", with_target(match={"methods": ["GET"], "path_prefixes": ["/api/"],
                                           "headers": [{"name": "x-env", "exact": "prod"},
                                                       {"name": "x-debug", "present": False}]}), True),
    ("match bad prefix", with_target(match={"path_prefixes": ["api"]}), False),
    ("match bad method", with_target(match={"methods": ["GE T"]}), False),
    ("header condition neither", with_target(match={"headers": [{"name": "a"}]}), False),
    ("header condition both", with_target(match={"headers": [{"name": "a", "exact": "x", "present": True}]}), False),
    ("header condition unknown", with_target(match={"headers": [{"name": "a", "regex": "x"}]}), False),
    ("top match", with_top(match={"methods": ["GET"]}), True),
    ("limits", with_target(limits={"max_per_second": 1.5, "max_in_flight": 1}), True),
    ("limits rate below 1", with_target(limits={"max_per_second": 0.5}), False),
    ("limits in flight 0", with_target(limits={"max_in_flight": 0}), False),
    ("limits unknown", with_target(limits={"burst": 1}), False),
    ("set headers", with_target(set_headers={"Authorization": "Bearer t", "x-tenant": "mirror"}), True),
    ("set host", with_target(set_headers={"host": "x"}), False),
    ("set Content-Length", with_target(set_headers={"Content-Length": "1"}), False),
    ("set pseudo header", with_target(set_headers={":path": "/x"}), False),
    ("set header line break", with_target(set_headers={"x-a": "1\r\nx-b: 2"}), False),
    ("set header number", with_target(set_headers={"x-a": 1}), False),
    ("amplify 10", with_target(amplify=10), True),
    ("amplify 11", with_target(amplify=11), False),
    ("amplify 0", with_target(amplify=0), False),
    ("host suffix", with_top(host_suffix="-shadow"), True),
    ("host suffix colon", with_top(host_suffix="-sh:adow"), False),
    ("marker off", with_top(marker_header=""), True),
    ("marker bad", with_top(marker_header="x mirror"), False),
    ("redact all", with_top(redact={"headers": [], "query_params": ["token"], "json_fields": ["a.*.b", "c"],
                                    "replacement": "***"}), True),
    ("redact bad path", with_top(redact={"json_fields": ["a..b"]}), False),
    ("redact any depth", with_top(redact={"json_fields": ["**.password", "a.**", "a.**.b.*"]}), True),
    ("redact whole document", with_top(redact={"json_fields": ["**"]}), False),
    ("redact whole document twice", with_top(redact={"json_fields": ["**.**"]}), False),
    ("redact case sensitive", with_top(redact={"case_sensitive": True}), True),
    ("redact case sensitive string", with_top(redact={"case_sensitive": "yes"}), False),
    ("redact empty param", with_top(redact={"query_params": [""]}), False),
    ("redact 256 params", with_top(redact={"query_params": [f"p{i}" for i in range(256)]}), True),
    ("redact 257 params", with_top(redact={"query_params": [f"p{i}" for i in range(257)]}), False),
    ("redact 257 headers", with_top(redact={"headers": [f"x-{i}" for i in range(257)]}), False),
    ("redact 257 paths", with_top(redact={"json_fields": [f"**.k{i}" for i in range(257)]}), False),
    ("redact path of 32 levels", with_top(redact={"json_fields": [".".join(["a"] * 32)]}), True),
    ("redact path of 33 levels", with_top(redact={"json_fields": [".".join(["a"] * 33)]}), False),
    ("redact control in replacement", with_top(redact={"replacement": "a\nb"}), False),
    ("redact unknown", with_top(redact={"header": []}), False),
    ("body", with_top(body={"mirror": False, "max_bytes": 0}), True),
    ("body too big", with_top(body={"max_bytes": 67108865}), False),
    ("body mirror string", with_top(body={"mirror": "yes"}), False),
    ("compare defaults", with_target(compare={}), True),
    ("compare all fields", {"targets": [
        {"cluster": "canary", "compare": {
            "against": "baseline", "status": True, "headers": ["content-type"], "body": "json",
            "ignore_json_fields": ["timestamp", "items.*.updated_at"], "max_body_bytes": 65536,
            "noise_baseline": "noise", "noise_relative_threshold": 20,
            "noise_absolute_threshold": 0.03, "log_mismatches_per_minute": 10,
            "summary_interval_s": 60}},
        {"cluster": "baseline"}, {"cluster": "noise"}]}, True),
    ("compare exact body", with_target(compare={"body": "exact", "max_body_bytes": 67108864}), True),
    ("compare 257 ignored paths", with_target(compare={"body": "json", "ignore_json_fields": [f"k{i}" for i in range(257)]}), False),
    ("compare ignored path of 33 levels", with_target(compare={"body": "json", "ignore_json_fields": [".".join(["a"] * 33)]}), False),
    ("compare unknown body", with_target(compare={"body": "text"}), False),
    ("compare unknown field", with_target(compare={"summary_interval": 5}), False),
    ("compare body too big", with_target(compare={"max_body_bytes": 67108865}), False),
    ("compare bad header", with_target(compare={"headers": ["a b"]}), False),
    ("compare 33 headers", with_target(compare={"headers": [f"h{i}" for i in range(33)]}), False),
    ("compare bad ignore path", with_target(compare={"body": "json", "ignore_json_fields": ["a..b"]}), False),
    ("compare threshold 101", with_target(compare={"noise_relative_threshold": 101}), False),
    ("compare log budget 1.5", with_target(compare={"log_mismatches_per_minute": 1.5}), False),
    ("compare log budget 0", with_target(compare={"log_mismatches_per_minute": 0}), True),
    ("compare summary off", with_target(compare={"summary_interval_s": 0}), True),
    ("compare summary a day and more", with_target(compare={"summary_interval_s": 86401}), False),
    ("compare status string", with_target(compare={"status": "yes"}), False),
    ("memory budget", with_top(body={"max_buffered_bytes": 65536}), True),
    ("memory budget too small", with_top(body={"max_buffered_bytes": 65535}), False),
    ("memory budget too big", with_top(body={"max_buffered_bytes": 268435457}), False),
]

# Rules between fields: the plugin refuses these, the schema cannot say so (docs/configuration.md).
CROSS_FIELD = [
    ("duplicate names", {"targets": [{"cluster": "a", "name": "x"}, {"cluster": "b", "name": "x"}]}),
    ("duplicate derived names", {"targets": [{"cluster": "a|b"}, {"cluster": "a.b"}]}),
    ("derived name over 64 characters", {"targets": [{"cluster": "c" * 70}]}),
    ("limits below amplify", with_target(amplify=3, limits={"max_in_flight": 2})),
    ("compare against an unknown target", with_target(compare={"against": "nobody"})),
    ("compare against itself", with_target(compare={"against": "mirror"})),
    ("compare noise baseline is against", {"targets": [
        {"cluster": "c", "compare": {"against": "b", "noise_baseline": "b"}}, {"cluster": "b"}]}),
    ("compare reference compares", {"targets": [
        {"cluster": "c", "compare": {"against": "b"}}, {"cluster": "b", "compare": {}}]}),
    ("compare ignored fields without json body", with_target(compare={"ignore_json_fields": ["a"]})),
]


def plugin_accepts(config, check_config):
    result = subprocess.run([check_config], input=json.dumps(config).encode(), capture_output=True)
    return result.returncode == 0, result.stdout.decode().strip()


def examples(root):
    """(where, config) for every example configuration in the repository."""
    with open(os.path.join(root, "envoy", "envoy.yaml")) as file:
        envoy = yaml.safe_load(file)
    for listener in envoy["static_resources"]["listeners"]:
        for chain in listener["filter_chains"]:
            for network_filter in chain["filters"]:
                for http_filter in network_filter["typed_config"].get("http_filters", []):
                    value = http_filter["typed_config"].get("config", {}).get("configuration", {}).get("value")
                    if value:
                        yield "envoy/envoy.yaml", json.loads(value)
    istio = os.path.join(root, "envoy", "istio")
    for name in sorted(os.listdir(istio)):
        with open(os.path.join(istio, name)) as file:
            for doc in yaml.safe_load_all(file):
                spec = (doc or {}).get("spec", {})
                for holder in (spec, spec.get("wasm", {})):
                    if "pluginConfig" in holder:
                        yield f"envoy/istio/{name}", holder["pluginConfig"]
    docs = os.path.join(root, "docs")
    pages = ["README.md"] + [os.path.join("docs", name) for name in sorted(os.listdir(docs)) if name.endswith(".md")]
    for page in pages:
        with open(os.path.join(root, page)) as file:
            text = file.read()
        # A block fenced "```json output" shows what a command prints, not a configuration.
        for index, block in enumerate(re.findall(r"```json\n(.*?)```", text, re.S)):
            config = json.loads(block)
            if "targets" in config:
                yield f"{page} json block {index}", config
        # The minimal Envoy and Istio configurations of the README: their plugin configuration.
        for index, block in enumerate(re.findall(r"```yaml\n(.*?)```", text, re.S)):
            for doc in yaml.safe_load_all(block):
                for config in plugin_configs(doc):
                    yield f"{page} yaml block {index}", config


def plugin_configs(node):
    """Every plugin configuration in a YAML document: a pluginConfig, or an Envoy `configuration`
    whose `value` is the JSON."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pluginConfig":
                yield value
            elif key == "configuration" and isinstance(value, dict) and isinstance(value.get("value"), str):
                yield json.loads(value["value"])
            else:
                yield from plugin_configs(value)
    elif isinstance(node, list):
        for item in node:
            yield from plugin_configs(item)


def main(root, check_config):
    with open(os.path.join(root, "envoy", "plugin-config.schema.json")) as file:
        schema = json.load(file)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    problems = []

    count = 0
    for where, config in examples(root):
        count += 1
        errors = [e.message for e in validator.iter_errors(config)]
        accepted, message = plugin_accepts(config, check_config)
        if errors or not accepted:
            problems.append(f"{where}: schema {errors or 'ok'}; plugin: {message}")
    if count < 4:
        problems.append(f"only {count} example configurations found")

    for what, config, valid in SAMPLES:
        by_schema = validator.is_valid(config)
        by_plugin, message = plugin_accepts(config, check_config)
        if by_schema != valid or by_plugin != valid:
            problems.append(f"sample {what!r}: expected {'valid' if valid else 'invalid'}, "
                            f"schema says {by_schema}, plugin says {by_plugin} ({message})")

    for what, config in CROSS_FIELD:
        if not validator.is_valid(config) or plugin_accepts(config, check_config)[0]:
            problems.append(f"cross-field {what!r}: expected the schema to accept and the plugin to refuse")

    if problems:
        print("\n".join(problems))
        return 1
    print(f"plugin-config.schema.json: {count} examples valid; schema and plugin agree on "
          f"{len(SAMPLES)} samples; {len(CROSS_FIELD)} cross-field rules refused by the plugin only")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
