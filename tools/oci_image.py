"""`make oci`: packs the plugin into an OCI image that Istio can pull (`url: oci://...`), without
a container daemon: an OCI image layout with one gzip tar layer holding `plugin.wasm`, the
layout Istio's image fetcher expects. The image is reproducible: the same .wasm gives the same
bytes, so the same digest (fixed tar metadata, gzip without a timestamp or file name).

Usage: oci_image.py <plugin.wasm> <layout dir> <tag>
Prints the image digest (the manifest's), to pin in a WasmPlugin's `sha256`.
"""

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


def layer_tar(wasm):
    """A tar of one file, plugin.wasm, with nothing in it that depends on when or by whom."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("plugin.wasm")
        info.size, info.mtime, info.mode = len(wasm), 0, 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(wasm))
    return out.getvalue()


def gzipped(data):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as file:
        file.write(data)
    return out.getvalue()


def canonical(document):
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


class Layout:
    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)

    def blob(self, data, media_type):
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(self.root, "blobs", "sha256", digest), "wb") as file:
            file.write(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def build(wasm_path, root, tag):
    with open(wasm_path, "rb") as file:
        wasm = file.read()
    tar = layer_tar(wasm)
    layout = Layout(root)
    layer = layout.blob(gzipped(tar), LAYER_TYPE)
    config = layout.blob(
        canonical({
            "architecture": "wasm",
            "os": "wasip1",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(tar).hexdigest()}"]},
        }),
        CONFIG_TYPE,
    )
    manifest = layout.blob(
        canonical({"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "config": config, "layers": [layer]}),
        MANIFEST_TYPE,
    )
    manifest["annotations"] = {"org.opencontainers.image.ref.name": tag}
    with open(os.path.join(root, "oci-layout"), "wb") as file:
        file.write(canonical({"imageLayoutVersion": "1.0.0"}))
    with open(os.path.join(root, "index.json"), "wb") as file:
        file.write(canonical({"schemaVersion": 2, "manifests": [manifest]}))
    return manifest["digest"]


def main(argv):
    if len(argv) != 4:
        print(__doc__)
        return 2
    digest = build(argv[1], argv[2], argv[3])
    print(digest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
