"""Validates envoy/rollouts/ the way a Kubernetes API server with Argo Rollouts' and Flagger's
CRDs installed would (their OpenAPI v3 schemas, with tests/istio/validate_manifests.py's
checker), and checks that the two templates ask Prometheus the same question: rendered with the
same values (Argo's `{{args.x}}`, Flagger's `{{ variables.x }}` and `{{ interval }}`), their
queries are identical, and every argument they use is declared.

Usage: check_rollouts.py <rollouts dir> <Argo Rollouts CRD dir> <Flagger CRD dir> [<validator dir>]
(the CRD dirs: manifests/crds of github.com/argoproj/argo-rollouts, artifacts/flagger of
github.com/fluxcd/flagger, as `go mod download` unpacks them).
"""

import copy
import os
import re
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))

# The values both templates are rendered with for the comparison.
VALUES = {
    "target": "canary",
    "window": "10m",
    "relative-threshold": "20",
    "absolute-threshold": "0.03",
    "min-compared": "100",
}
# Flagger's names for them: Go templates take no `-` in a key, the window is the metric's interval.
FLAGGER = {
    "variables.target": "target",
    "interval": "window",
    "variables.relative_threshold": "relative-threshold",
    "variables.absolute_threshold": "absolute-threshold",
    "variables.min_compared": "min-compared",
}


def render_argo(template):
    spec = template["spec"]
    declared = {arg["name"] for arg in spec.get("args", [])}
    errors = []
    queries = []
    for metric in spec["metrics"]:
        query = metric["provider"]["prometheus"]["query"]
        for name in re.findall(r"\{\{\s*args\.([\w-]+)\s*\}\}", query):
            if name not in declared:
                errors.append(f"AnalysisTemplate: query uses undeclared arg {name!r}")
        queries.append(
            re.sub(r"\{\{\s*args\.([\w-]+)\s*\}\}", lambda m: VALUES.get(m.group(1), m.group(0)), query)
        )
    address = spec["metrics"][0]["provider"]["prometheus"].get("address", "")
    if not re.fullmatch(r"\{\{args\.[\w-]+\}\}", address) or address[7:-2] not in declared:
        errors.append(f"AnalysisTemplate: the Prometheus address {address!r} is not an arg")
    return queries, errors


def argo_metric_rules(template):
    """What Argo Rollouts' controller checks beyond the schema (utils/analysis/factory.go,
    ValidateMetric), for the fields the template sets: an AnalysisRun breaking them errors."""
    errors = []
    for metric in template["spec"]["metrics"]:
        count = int(metric.get("count", 0))
        failure = int(metric.get("failureLimit", 0))
        success = int(metric.get("consecutiveSuccessLimit", 0))
        inconclusive = int(metric.get("inconclusiveLimit", 0))
        where = f"AnalysisTemplate metric {metric['name']}"
        if count > 0 and failure >= 0 and count < failure + success:
            errors.append(f"{where}: count must be >= failureLimit + consecutiveSuccessLimit")
        if count > 0 and count < inconclusive:
            errors.append(f"{where}: count must be >= inconclusiveLimit")
        if count > 1 and not metric.get("interval"):
            errors.append(f"{where}: interval must be specified when count > 1")
        if len(metric["provider"]) != 1:
            errors.append(f"{where}: exactly one provider")
    return errors


def render_flagger(template):
    errors = []

    def value(match):
        name = match.group(1)
        if name not in FLAGGER:
            errors.append(f"MetricTemplate: query uses {{{{ {name} }}}}, which the comparison does not know")
            return match.group(0)
        return VALUES[FLAGGER[name]]

    query = re.sub(r"\{\{\s*([\w.]+)\s*\}\}", value, template["spec"]["query"])
    return [query], errors


def check(rollouts_dir, crds, validate_resource):
    errors, rendered = [], {}
    for name in sorted(os.listdir(rollouts_dir)):
        if not name.endswith(".yaml"):
            continue
        with open(os.path.join(rollouts_dir, name)) as file:
            docs = [d for d in yaml.safe_load_all(file) if d]
        for index, doc in enumerate(docs):
            errors += validate_resource(doc, crds, f"{name}#{index}")
            if doc.get("kind") == "AnalysisTemplate":
                queries, found = render_argo(doc)
                found += argo_metric_rules(doc)
            elif doc.get("kind") == "MetricTemplate":
                queries, found = render_flagger(doc)
            else:
                continue
            errors += found
            rendered[doc["kind"]] = queries
    if set(rendered) != {"AnalysisTemplate", "MetricTemplate"}:
        errors.append(f"{rollouts_dir}: expected an AnalysisTemplate and a MetricTemplate, found {sorted(rendered)}")
    elif rendered["AnalysisTemplate"] != rendered["MetricTemplate"]:
        errors.append("the AnalysisTemplate's and the MetricTemplate's queries differ once rendered")
    return errors, len(rendered)


def self_test(rollouts_dir, crds, validate_resource):
    """The check must be able to fail: each broken template below has to be refused."""
    docs = {}
    for name in ("analysis-template.yaml", "metric-template.yaml"):
        with open(os.path.join(rollouts_dir, name)) as file:
            doc = yaml.safe_load(file)
            docs[doc["kind"]] = doc
    broken = {
        "unknown metric field": ("AnalysisTemplate", lambda d: d["spec"]["metrics"][0].update(succesCondition="x")),
        "metric without provider": ("AnalysisTemplate", lambda d: d["spec"]["metrics"][0].pop("provider")),
        "count of the wrong type": ("AnalysisTemplate", lambda d: d["spec"]["metrics"][0].update(count=[1])),
        "provider type": ("MetricTemplate", lambda d: d["spec"]["provider"].update(type="prom")),
        "missing query": ("MetricTemplate", lambda d: d["spec"].pop("query")),
    }
    for what, (kind, change) in broken.items():
        doc = copy.deepcopy(docs[kind])
        change(doc)
        assert validate_resource(doc, crds, what), f"the check accepted a template with a {what}"
    argo = copy.deepcopy(docs["AnalysisTemplate"])
    argo["spec"]["args"] = [a for a in argo["spec"]["args"] if a["name"] != "min-compared"]
    assert render_argo(argo)[1], "the check accepted an undeclared arg"
    few = copy.deepcopy(docs["AnalysisTemplate"])
    few["spec"]["metrics"][0].update(count=1, consecutiveSuccessLimit=2)
    assert argo_metric_rules(few), "the check accepted a count below consecutiveSuccessLimit"
    flagger = copy.deepcopy(docs["MetricTemplate"])
    flagger["spec"]["query"] = flagger["spec"]["query"].replace("* 100 >", "* 10 >", 1)
    assert render_flagger(flagger)[0] != render_argo(docs["AnalysisTemplate"])[0], "a changed query compared equal"
    print("self-test: every broken template refused")


def main(argv):
    rollouts_dir, argo_dir, flagger_dir = argv[1:4]
    validator_dir = argv[4] if len(argv) > 4 else os.path.join(HERE, "..", "istio")
    sys.path.insert(0, validator_dir)
    from validate_manifests import load_crds, validate_resource  # noqa: E402

    crds = {**load_crds(argo_dir), **load_crds(flagger_dir)}
    self_test(rollouts_dir, crds, validate_resource)
    errors, checked = check(rollouts_dir, crds, validate_resource)
    if errors:
        print("\n".join(errors))
        return 1
    print(f"{rollouts_dir}: {checked} templates valid against Argo Rollouts' and Flagger's CRDs; same query")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
