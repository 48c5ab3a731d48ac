"""The OCI image round trip: `make oci`'s image is pushed to a registry on loopback (Debian's
docker-registry) with skopeo, pulled back, and must hold the very plugin.wasm that was built,
under the digest `make oci` printed (what a WasmPlugin's `sha256` pins). The image must also be
reproducible: packing the same .wasm again gives the same digest.

Usage: roundtrip.py <plugin.wasm> <layout dir> <tag> <digest printed by make oci>
"""

import gzip
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
import oci_image  # noqa: E402


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_registry(storage):
    port = free_port()
    config = os.path.join(storage, "config.yml")
    with open(config, "w") as file:
        file.write(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {storage}/data\nhttp:\n  addr: 127.0.0.1:{port}\n"
        )
    registry = subprocess.Popen(
        ["docker-registry", "serve", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
            return registry, port
        except OSError:
            time.sleep(0.1)
    registry.kill()
    raise SystemExit("docker-registry did not come up")


def skopeo(*args):
    result = subprocess.run(["skopeo", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"skopeo {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def wasm_in(layout, tag):
    """The plugin.wasm of the image `tag` in an OCI layout (one gzip tar layer)."""
    def blob(digest):
        with open(os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1]), "rb") as file:
            return file.read()

    with open(os.path.join(layout, "index.json")) as file:
        index = json.load(file)
    entry = next(
        m for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag
    )
    manifest = json.loads(blob(entry["digest"]))
    layers = manifest["layers"]
    assert len(layers) == 1, f"expected one layer, got {len(layers)}"
    assert layers[0]["mediaType"] == oci_image.LAYER_TYPE, layers[0]["mediaType"]
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob(layers[0]["digest"])))) as tar:
        assert tar.getnames() == ["plugin.wasm"], tar.getnames()
        return tar.extractfile("plugin.wasm").read()


def main(argv):
    wasm_path, layout, tag, printed = argv[1:5]
    with open(wasm_path, "rb") as file:
        wasm = file.read()
    with tempfile.TemporaryDirectory() as work:
        again = oci_image.build(wasm_path, os.path.join(work, "again"), tag)
        assert again == printed, f"not reproducible: {printed} then {again}"
        registry, port = start_registry(work)
        try:
            reference = f"docker://127.0.0.1:{port}/traffic-mirror:{tag}"
            skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:{tag}", reference)
            pushed = skopeo("inspect", "--tls-verify=false", "--format", "{{.Digest}}", reference).strip()
            assert pushed == printed, f"the registry has {pushed}, make oci printed {printed}"
            pulled = os.path.join(work, "pulled")
            skopeo("copy", "--src-tls-verify=false", reference, f"oci:{pulled}:{tag}")
            assert wasm_in(pulled, tag) == wasm, "the pulled plugin.wasm differs from the build"
        finally:
            registry.kill()
    print(f"oci round trip: {printed} pushed, pulled back byte-identical, reproducible")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
