"""An empty Kubernetes API server, on loopback, for istiod (tests/istio_e2e.rs).

Why it exists: istiod of the Istio versions the Go module proxy serves cannot start without a
Kubernetes client (with `--registries=` and file config, its ServiceEntry controller asks the
missing multi-cluster controller for the config cluster's namespaces, and panics on the nil
pointer). Given a kubeconfig that points here, istiod has its client; this server answers that
the cluster is empty: discovery, empty lists, watches that report nothing, 404 for any object,
403 for any write. Every Istio resource of the test still comes from files; nothing here is
read by istiod as configuration.

Usage: empty_apiserver.py <port>
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

# (group/version, plural, kind, namespaced) of what istiod lists and watches.
RESOURCES = [
    ("v1", "namespaces", "Namespace", False),
    ("v1", "nodes", "Node", False),
    ("v1", "pods", "Pod", True),
    ("v1", "services", "Service", True),
    ("v1", "endpoints", "Endpoints", True),
    ("v1", "secrets", "Secret", True),
    ("v1", "configmaps", "ConfigMap", True),
    ("v1", "serviceaccounts", "ServiceAccount", True),
    ("v1", "events", "Event", True),
    ("apiextensions.k8s.io/v1", "customresourcedefinitions", "CustomResourceDefinition", False),
    ("discovery.k8s.io/v1", "endpointslices", "EndpointSlice", True),
    ("coordination.k8s.io/v1", "leases", "Lease", True),
    ("networking.k8s.io/v1", "ingresses", "Ingress", True),
    ("networking.k8s.io/v1", "ingressclasses", "IngressClass", False),
    ("admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", False),
    ("admissionregistration.k8s.io/v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", False),
]
KINDS = {(gv, plural): kind for gv, plural, kind, _ in RESOURCES}
RESOURCE_VERSION = "1"
METADATA_ONLY = "as=PartialObjectMetadataList"


def resource_list(group_version):
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [
            {
                "name": plural,
                "singularName": kind.lower(),
                "namespaced": namespaced,
                "kind": kind,
                "verbs": ["get", "list", "watch"],
            }
            for gv, plural, kind, namespaced in RESOURCES
            if gv == group_version
        ],
    }


def group_list():
    groups = sorted({gv for gv, *_ in RESOURCES if "/" in gv})
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "name": gv.split("/")[0],
                "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
                "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]},
            }
            for gv in groups
        ],
    }


def collection(path):
    """(group/version, plural) of a list or watch URL, or None for anything else (an object)."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group_version, rest = parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
    else:
        return None
    if len(rest) == 3 and rest[0] == "namespaces":
        rest = rest[2:]
    if len(rest) == 1:
        return group_version, rest[0]
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        sys.stderr.write("%s %s\n" % (self.command, self.path))

    def send_json(self, status, document, content_type="application/json"):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def status(self, code, reason):
        self.send_json(code, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "reason": reason, "code": code})

    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path == "/version":
            return self.send_json(200, {"major": "1", "minor": "36", "gitVersion": "v1.36.0",
                                        "platform": "linux/amd64"})
        if url.path == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"]})
        if url.path == "/apis":
            return self.send_json(200, group_list())
        if url.path == "/api/v1":
            return self.send_json(200, resource_list("v1"))
        if url.path.startswith("/apis/") and url.path.count("/") == 3:
            return self.send_json(200, resource_list(url.path[len("/apis/"):]))
        found = collection(url.path)
        if found is None or found not in KINDS:
            return self.status(404, "NotFound")
        group_version, plural = found
        metadata_only = METADATA_ONLY in self.headers.get("Accept", "")
        if metadata_only:
            kind, api_version = "PartialObjectMetadata", "meta.k8s.io/v1"
            content_type = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"
        else:
            kind, api_version = KINDS[found], group_version
            content_type = "application/json"
        if query.get("watch", ["false"])[0] in ("true", "1"):
            return self.watch(kind, api_version, query)
        self.send_json(200, {"kind": f"{kind}List", "apiVersion": api_version,
                             "metadata": {"resourceVersion": RESOURCE_VERSION}, "items": []},
                       content_type)

    def watch(self, kind, api_version, query):
        """A watch that reports nothing: the initial-events bookmark if asked for (watch-list),
        then silence until the client's timeout."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if query.get("sendInitialEvents", ["false"])[0] == "true":
            bookmark = {"type": "BOOKMARK", "object": {
                "kind": kind, "apiVersion": api_version,
                "metadata": {"resourceVersion": RESOURCE_VERSION,
                             "annotations": {"k8s.io/initial-events-end": "true"}}}}
            self.chunk(json.dumps(bookmark).encode() + b"\n")
        timeout = min(float(query.get("timeoutSeconds", ["300"])[0]), 300.0)
        time.sleep(timeout)
        self.chunk(b"")

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.status(403, "Forbidden")

    do_PUT = do_PATCH = do_DELETE = do_POST


def main(argv):
    server = ThreadingHTTPServer(("127.0.0.1", int(argv[1])), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main(sys.argv)
