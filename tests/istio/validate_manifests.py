"""Validates the Istio manifests in envoy/istio/ the way a Kubernetes API server with Istio's
CRDs installed would: against each CRD's OpenAPI v3 schema (types, required fields, enums,
patterns, bounds, unknown fields, oneOf/anyOf/not), plus the CEL rules under
`x-kubernetes-validations` that apply to the manifests, checked by hand (a rule met on the way
that is not implemented here fails the check rather than passing unseen). The plugin
configuration each manifest carries is then parsed by the plugin's own parser (check-config).

Usage: validate_manifests.py <manifest dir> <CRD dir> <check-config binary>
       validate_manifests.py --self-test <CRD dir> <check-config binary>
Where the CRD dir is absent, it says so and skips (exit 0).
"""

import json
import os
import re
import subprocess
import sys
from urllib.parse import urlparse

import yaml

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def load_crds(crd_dir):
    """(group, version, kind) -> (openAPIV3Schema, served)."""
    crds = {}
    for name in sorted(os.listdir(crd_dir)):
        if not name.endswith(".yaml"):
            continue
        with open(os.path.join(crd_dir, name)) as file:
            for doc in yaml.safe_load_all(file):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for version in spec["versions"]:
                    key = (spec["group"], version["name"], spec["names"]["kind"])
                    crds[key] = (version["schema"]["openAPIV3Schema"], version.get("served", False))
    return crds


def url_scheme_ok(url):
    scheme = urlparse(url).scheme if "://" in url else ""
    return scheme in ("", "http", "https", "oci", "file")


# The CEL rules (by message) that the manifests can meet, each as a check of the value at the
# rule's node.
CEL_RULES = {
    "wildcard not allowed in label value match": lambda v: "*" not in v,
    "wildcard not allowed in label key match": lambda v: all("*" not in k for k in v),
    "key must not be empty": lambda v: all(len(k) != 0 for k in v),
    "cross namespace referencing is not currently supported": lambda v: len(v) == 0,
    "url must have schema one of [http, https, file, oci]": url_scheme_ok,
    "value may only be set when valueFrom is INLINE": lambda v: v.get("valueFrom", "") != "HOST"
    or "value" not in v,
    "exactly one of wasm or lua must be set": lambda v: ("wasm" in v) != ("lua" in v),
    "only one of targetRefs or selector can be set": lambda v: sum(
        1 for key in ("selector", "targetRef", "targetRefs") if key in v
    )
    <= 1,
}

TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}


def validate(value, schema, path, errors, strict=True):
    """Appends to `errors` what is wrong with `value` under `schema`. `strict`: unknown fields
    are errors (kubectl's strict field validation); off inside oneOf/anyOf/not branches, which
    only constrain."""
    if value is None:
        if not schema.get("nullable"):
            errors.append(f"{path}: null is not allowed")
        return
    kind = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        if not isinstance(value, (int, str)) or isinstance(value, bool):
            errors.append(f"{path}: must be an integer or a string")
            return
    elif kind and not TYPES[kind](value):
        errors.append(f"{path}: must be of type {kind}, got {type(value).__name__}")
        return
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
        if len(value) > schema.get("maxLength", len(value)) or len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: length {len(value)} out of bounds")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: {value} is below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: {value} is above {schema['maximum']}")
        if schema.get("format") == "int32" and not -(2**31) <= value < 2**31:
            errors.append(f"{path}: {value} is not an int32")
    if isinstance(value, list):
        if len(value) > schema.get("maxItems", len(value)):
            errors.append(f"{path}: more than {schema['maxItems']} items")
        for index, item in enumerate(value):
            if "items" in schema:
                validate(item, schema["items"], f"{path}[{index}]", errors, strict)
    if isinstance(value, dict):
        validate_object(value, schema, path, errors, strict)
    validate_combinators(value, schema, path, errors)
    for rule in schema.get("x-kubernetes-validations", []):
        check = CEL_RULES.get(rule["message"])
        if check is None:
            errors.append(f"{path}: CEL rule not checked by this validator: {rule['message']!r}")
        elif not check(value):
            errors.append(f"{path}: {rule['message']}")


def validate_object(value, schema, path, errors, strict):
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            errors.append(f"{path}: missing required field {name!r}")
    if len(value) > schema.get("maxProperties", len(value)):
        errors.append(f"{path}: more than {schema['maxProperties']} properties")
    additional = schema.get("additionalProperties")
    for name, item in value.items():
        if name in properties:
            validate(item, properties[name], f"{path}.{name}", errors, strict)
        elif isinstance(additional, dict):
            validate(item, additional, f"{path}.{name}", errors, strict)
        elif strict and properties and not schema.get("x-kubernetes-preserve-unknown-fields"):
            errors.append(f"{path}: unknown field {name!r}")


def validate_combinators(value, schema, path, errors):
    def passes(sub):
        found = []
        validate(value, sub, path, found, strict=False)
        return not found

    if "oneOf" in schema and sum(passes(sub) for sub in schema["oneOf"]) != 1:
        errors.append(f"{path}: must match exactly one of the oneOf alternatives")
    if "anyOf" in schema and not any(passes(sub) for sub in schema["anyOf"]):
        errors.append(f"{path}: must match one of the anyOf alternatives")
    for sub in schema.get("allOf", []):
        validate(value, sub, path, errors, strict=False)
    if "not" in schema and passes(schema["not"]):
        errors.append(f"{path}: matches a forbidden shape (not)")


def validate_resource(doc, crds, where):
    """Errors of one Kubernetes resource."""
    group, _, version = doc.get("apiVersion", "").rpartition("/")
    key = (group, version, doc.get("kind"))
    if key not in crds:
        return [f"{where}: no Istio CRD for {doc.get('apiVersion')} {doc.get('kind')}"]
    schema, served = crds[key]
    errors = [] if served else [f"{where}: version {version} is not served"]
    name = doc.get("metadata", {}).get("name", "")
    if not (name and len(name) <= 253 and DNS_SUBDOMAIN.match(name)):
        errors.append(f"{where}: metadata.name {name!r} is not a DNS subdomain")
    body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
    validate(body, schema, where, errors)
    return errors


def plugin_configs(doc):
    spec = doc.get("spec", {})
    for holder in (spec, spec.get("wasm", {})):
        if "pluginConfig" in holder:
            yield holder["pluginConfig"]


def check_plugin_config(config, check_config, where):
    result = subprocess.run([check_config], input=json.dumps(config).encode(), capture_output=True)
    if result.returncode != 0:
        return [f"{where}: the plugin refuses its pluginConfig: {result.stdout.decode().strip()}"]
    return []


def check_proxy_stats_patch(doc, where):
    """The pod annotation that exposes the plugin's stats (not an Istio resource)."""
    annotations = doc.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations", {})
    proxy_config = yaml.safe_load(annotations.get("proxy.istio.io/config", "")) or {}
    prefixes = proxy_config.get("proxyStatsMatcher", {}).get("inclusionPrefixes", [])
    if "wasmcustom.traffic_mirror" not in prefixes:
        return [f"{where}: proxy.istio.io/config does not include wasmcustom.traffic_mirror"]
    return []


def validate_dir(manifest_dir, crds, check_config):
    errors, checked = [], 0
    for name in sorted(os.listdir(manifest_dir)):
        if not name.endswith(".yaml"):
            continue
        with open(os.path.join(manifest_dir, name)) as file:
            docs = [d for d in yaml.safe_load_all(file) if d]
        for index, doc in enumerate(docs):
            where = f"{name}#{index}"
            checked += 1
            if "apiVersion" not in doc:
                errors += check_proxy_stats_patch(doc, where)
                continue
            errors += validate_resource(doc, crds, where)
            for config in plugin_configs(doc):
                errors += check_plugin_config(config, check_config, where)
    return errors, checked


def self_test(crds, check_config):
    """The validator must be able to fail: each broken manifest below has to be refused."""
    good = {
        "apiVersion": "extensions.istio.io/v1alpha1",
        "kind": "WasmPlugin",
        "metadata": {"name": "m"},
        "spec": {"selector": {"matchLabels": {"app": "a"}}, "url": "oci://r/i:1", "phase": "STATS"},
    }
    assert validate_resource(good, crds, "good") == [], validate_resource(good, crds, "good")
    broken = {
        "enum": {"phase": "EARLY"},
        "unknown field": {"phasee": "STATS"},
        "url scheme": {"url": "ftp://r/i"},
        "selector and targetRefs": {"targetRefs": [{"kind": "Gateway", "name": "g"}]},
        "sha256 pattern": {"sha256": "abc"},
        "label wildcard": {"selector": {"matchLabels": {"app": "a*"}}},
        "type": {"priority": "high"},
    }
    for what, change in broken.items():
        doc = json.loads(json.dumps(good))
        doc["spec"].update(change)
        assert validate_resource(doc, crds, what), f"the validator accepted a manifest with a bad {what}"
    bad_name = dict(good, metadata={"name": "Not_A_Name"})
    assert validate_resource(bad_name, crds, "name"), "the validator accepted a bad name"
    both = {
        "apiVersion": "extensions.istio.io/v1alpha1",
        "kind": "TrafficExtension",
        "metadata": {"name": "t"},
        "spec": {"wasm": {"url": "oci://r/i:1"}, "lua": {"inlineCode": "x"}},
    }
    assert validate_resource(both, crds, "both"), "the validator accepted wasm and lua together"
    refused = check_plugin_config({"targets": [{"cluster": "c", "percentage": 150}]}, check_config, "p")
    assert refused and "percentage" in refused[0], refused
    assert check_plugin_config({"targets": [{"cluster": "c"}]}, check_config, "p") == []
    print("self-test: every broken manifest refused")


def main(argv):
    if argv[1:2] == ["--self-test"]:
        crd_dir, check_config = argv[2:4]
        if not os.path.isdir(crd_dir):
            print(f"SKIPPED: {crd_dir} (Istio's CRD schemas) is absent")
            return 0
        self_test(load_crds(crd_dir), check_config)
        return 0
    manifest_dir, crd_dir, check_config = argv[1:4]
    if not os.path.isdir(crd_dir):
        print(f"SKIPPED: {crd_dir} (Istio's CRD schemas) is absent, so {manifest_dir} is not validated")
        return 0
    errors, checked = validate_dir(manifest_dir, load_crds(crd_dir), check_config)
    if errors:
        print("\n".join(errors))
        return 1
    print(f"{manifest_dir}: {checked} manifests valid against Istio's CRDs; pluginConfig accepted")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
