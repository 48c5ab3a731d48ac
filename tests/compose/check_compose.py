"""envoy/docker-compose.yaml cannot run here (no Docker engine), so this keeps it consistent
with what the suite does run: the Envoy image is the tested version, the config it mounts is
envoy/envoy.yaml (validated by the suite), the wasm it mounts is the build's, and the demo
backends listen where envoy.yaml's clusters send.

Usage: check_compose.py <repo root> <tested Envoy version>
"""

import os
import sys

import yaml


def main(root, version):
    compose_path = os.path.join(root, "envoy", "docker-compose.yaml")
    with open(compose_path) as file:
        compose = yaml.safe_load(file)
    with open(os.path.join(root, "envoy", "envoy.yaml")) as file:
        envoy_config = yaml.safe_load(file)
    services = compose["services"]
    errors = []

    envoy = services["envoy"]
    if envoy["image"] != f"envoyproxy/envoy:v{version}":
        errors.append(f"the envoy image is {envoy['image']}, the suite tests {version}")
    mounts = dict(volume.rsplit(":", 1)[0].split(":", 1) for volume in envoy["volumes"])
    config_mount = mounts.get("./envoy.yaml")
    if config_mount is None or config_mount not in envoy["command"]:
        errors.append("envoy does not run the mounted envoy/envoy.yaml")
    wasm_source = "../target/wasm32-wasip1/release/traffic_mirror.wasm"
    wasm_in_config = find_wasm_filename(envoy_config)
    expected_target = os.path.join(envoy.get("working_dir", "/"), wasm_in_config)
    if mounts.get(wasm_source) != expected_target:
        errors.append(f"the wasm is mounted at {mounts.get(wasm_source)}, envoy.yaml loads {expected_target}")

    ports = sorted(
        int(service["environment"]["HTTP_PORT"])
        for name, service in services.items()
        if name != "envoy"
    )
    cluster_ports = sorted(
        endpoint["endpoint"]["address"]["socket_address"]["port_value"]
        for cluster in envoy_config["static_resources"]["clusters"]
        for group in cluster["load_assignment"]["endpoints"]
        for endpoint in group["lb_endpoints"]
    )
    if ports != cluster_ports:
        errors.append(f"the backends listen on {ports}, envoy.yaml's clusters send to {cluster_ports}")
    if any(service.get("network_mode") != "host" for service in services.values()):
        errors.append("every service must use host networking (envoy.yaml uses 127.0.0.1)")

    if errors:
        print("\n".join(f"{compose_path}: {e}" for e in errors))
        return 1
    print(f"{compose_path}: consistent with the tested Envoy {version} and envoy/envoy.yaml")
    return 0


def find_wasm_filename(node):
    if isinstance(node, dict):
        if "filename" in node and str(node["filename"]).endswith(".wasm"):
            return node["filename"]
        for value in node.values():
            found = find_wasm_filename(value)
            if found:
                return found
    elif isinstance(node, list):
        for value in node:
            found = find_wasm_filename(value)
            if found:
                return found
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
