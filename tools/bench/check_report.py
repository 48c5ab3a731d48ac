"""Checks that a benchmark report (target/bench/*.json) has every figure docs/performance.md promises."""
import json
import math
import sys

SCENARIOS = ["none", "empty_filter", "native_mirror", "plugin_mirror", "plugin_sampled_out",
             "plugin_mirror_json", "plugin_compare", "plugin_compare_reordered",
             "native_mirror_body", "plugin_mirror_body"]
FIGURES = ["cpu_us_per_req", "rps", "p50_ms", "p99_ms"]
RATIOS = ["plugin_vs_native_cpu", "sampled_out_vs_empty_cpu", "sampled_out_vs_none_cpu",
          "plugin_body_vs_native_body_cpu", "compare_vs_mirror_cpu", "plugin_vs_native_p99"]


def positive(value):
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def problems(report):
    for name in SCENARIOS:
        for figure in FIGURES:
            value = report.get("scenarios", {}).get(name, {}).get(figure)
            if not positive(value):
                yield f"scenarios.{name}.{figure} = {value!r}"
    for ratio in RATIOS:
        if not positive(report.get("ratios", {}).get(ratio)):
            yield f"ratios.{ratio} = {report.get('ratios', {}).get(ratio)!r}"
    for key in ["wasm_bytes", "memory_overhead_bytes"]:
        if not isinstance(report.get(key), int):
            yield f"{key} = {report.get(key)!r}"
    slow = report.get("slow_target", {})
    for run in ["healthy", "slow"]:
        if not positive(slow.get(run, {}).get("p99_ms")):
            yield f"slow_target.{run}.p99_ms = {slow.get(run, {}).get('p99_ms')!r}"
    mirrored = report.get("scenarios", {}).get("plugin_mirror", {}).get("copies_per_request", 0)
    if not 0.9 <= mirrored <= 1.1:
        yield f"plugin_mirror sent {mirrored} copies per request, expected 1"


def main(path):
    with open(path) as file:
        report = json.load(file)
    found = list(problems(report))
    if found:
        print(f"{path} is incomplete:\n  " + "\n  ".join(found))
        return 1
    print(f"{path}: every figure present")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
