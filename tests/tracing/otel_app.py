#!/usr/bin/env python3
"""A mirror target that reads each request's trace context with the OpenTelemetry SDK, as a
canary's tracer would (tests/integration/tracing_and_containment.rs).

For every request it extracts the context with the SDK's propagators (W3C Trace Context,
W3C Baggage, B3 multi-header and single-header), starts a server span under the SDK's default
sampler (parent-based, always on) to see whether the canary would record it, and appends what
it found as one JSON line to --record. With --call-on, it is a canary that calls a downstream
service for each request, propagating the context (baggage included) as an instrumented app
does, and records the statuses it got back. Speaks HTTP/1.1, or HTTP/2 (prior knowledge)
with --h2. Prints its port on the first line of stdout; exits by itself after --lifetime s.
"""

import argparse
import json
import os
import socket
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry import baggage, context, propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.b3 import B3MultiFormat, B3SingleFormat
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

W3C = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
propagate.set_global_textmap(W3C)
trace.set_tracer_provider(TracerProvider())
TRACER = trace.get_tracer("otel_app")
LOCK = threading.Lock()


def span_context(propagator, carrier):
    found = trace.get_current_span(propagator.extract(carrier)).get_span_context()
    return {
        "valid": found.is_valid,
        "sampled": found.trace_flags.sampled,
        "trace_id": format(found.trace_id, "032x") if found.is_valid else None,
    }


def handle(args, method, path, headers, protocol):
    carrier = {}
    for name, value in headers:
        # A repeated header reaches the getter as one list, as WSGI frameworks hand it over.
        key = name.lower()
        carrier[key] = carrier[key] + "," + value if key in carrier else value
    extracted = W3C.extract(carrier)
    # As an instrumented server does: the extracted context (baggage included) is current
    # while the request is handled, so outgoing calls propagate it.
    token = context.attach(extracted)
    try:
        return handle_in_context(args, method, path, carrier, extracted, protocol)
    finally:
        context.detach(token)


def handle_in_context(args, method, path, carrier, extracted, protocol):
    with TRACER.start_as_current_span("copy", kind=trace.SpanKind.SERVER) as span:
        record = {
            "method": method,
            "path": path,
            "protocol": protocol,
            "headers": carrier,
            "w3c": span_context(TraceContextTextMapPropagator(), carrier),
            "b3multi": span_context(B3MultiFormat(), carrier),
            "b3single": span_context(B3SingleFormat(), carrier),
            "baggage": dict(baggage.get_all(extracted)),
            "recorded": span.is_recording(),
            "calls": [],
        }
        for call in args.call_on or []:
            call_method, call_path = call.split(" ", 1)
            outgoing = {}
            propagate.inject(outgoing)
            request = urllib.request.Request(
                args.downstream + call_path, method=call_method, headers=outgoing,
                data=b"{}" if call_method not in ("GET", "HEAD") else None)
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    status, body = response.status, response.read().decode("utf-8", "replace")
            except urllib.error.HTTPError as error:
                status, body = error.code, error.read().decode("utf-8", "replace")
            record["calls"].append({"method": call_method, "status": status, "body": body,
                                    "sent_baggage": outgoing.get("baggage")})
    with LOCK, open(args.record, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")
    return 200, b"recorded"


def serve_http1(args, sock):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_any(self):
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            status, body = handle(args, self.command, self.path, self.headers.items(), "HTTP/1.1")
            self.send_response(status)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_any

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    server.serve_forever()


def serve_h2_connection(args, conn_sock):
    import h2.config
    import h2.connection
    import h2.events

    conn = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
    conn.initiate_connection()
    conn_sock.sendall(conn.data_to_send())
    streams = {}
    while True:
        data = conn_sock.recv(65535)
        if not data:
            return
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                streams[event.stream_id] = list(event.headers)
            elif isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                headers = streams.pop(event.stream_id, [])
                pseudo = dict((n, v) for n, v in headers if n.startswith(":"))
                regular = [(n, v) for n, v in headers if not n.startswith(":")]
                status, body = handle(args, pseudo.get(":method"), pseudo.get(":path"), regular, "HTTP/2")
                conn.send_headers(event.stream_id, [(":status", str(status)), ("content-length", str(len(body)))])
                conn.send_data(event.stream_id, body, end_stream=True)
        conn_sock.sendall(conn.data_to_send())


def serve_h2(args, sock):
    while True:
        conn_sock, _ = sock.accept()
        threading.Thread(target=serve_h2_connection, args=(args, conn_sock), daemon=True).start()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", required=True)
    parser.add_argument("--h2", action="store_true")
    parser.add_argument("--downstream", help="base URL of the service a canary calls")
    parser.add_argument("--call-on", action="append", help='"METHOD /path" to call downstream')
    parser.add_argument("--lifetime", type=float, default=120)
    args = parser.parse_args()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    print(sock.getsockname()[1], flush=True)
    threading.Timer(args.lifetime, lambda: os._exit(0)).start()
    (serve_h2 if args.h2 else serve_http1)(args, sock)


if __name__ == "__main__":
    main()
