"""The real receivers' side of scripts/telemetry-e2e.sh: an OTLP/HTTP receiver that decodes what
the gateway exports with the official protobuf definitions (PyPI opentelemetry-proto), and a
JSON backend that tells which traceparent it was called with.

Usage: receiver.py OTLP_PORT BACKEND_PORT [GRPC_PORT]
  POST /v1/traces, /v1/metrics (OTLP_PORT)  decoded; a payload that does not parse is a 400
  TraceService/Export, MetricsService/Export (GRPC_PORT, OTLP/gRPC with grpcio and
                                opentelemetry-proto's service definitions): the same, the
                                spans marked "via": "grpc"
  GET  /spans                   (OTLP_PORT)  every span received so far, as JSON
  GET  /metrics-names           (OTLP_PORT)  the metric names received so far
  GET  /histogram?name=NAME      (OTLP_PORT)  the latest data points of that histogram (OTLP/HTTP):
                                            attributes, count, sum, bucket counts, bounds
  GET  /payload-errors          (OTLP_PORT)  how many payloads failed to parse
  GET  /*                       (BACKEND_PORT) {"path": ..., "traceparent": ...}
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

LOCK = threading.Lock()
SPANS = []
METRICS = set()
GRPC_METRICS = set()
# Histogram name -> {attributes as sorted JSON: the latest data point} (OTLP/HTTP; cumulative,
# so the latest point of a series is its whole count).
HISTOGRAMS = {}
ERRORS = [0]


def attributes(kvs):
    out = {}
    for kv in kvs:
        v = kv.value
        if v.HasField("array_value"):
            out[kv.key] = [x.string_value for x in v.array_value.values]
        else:
            out[kv.key] = v.string_value if v.HasField("string_value") else v.int_value
    return out


def keep_spans(req, via):
    """The spans of an ExportTraceServiceRequest, as JSON, kept with the transport they came by."""
    spans = []
    for rs in req.resource_spans:
        service = attributes(rs.resource.attributes).get("service.name")
        for ss in rs.scope_spans:
            for s in ss.spans:
                spans.append({
                    "via": via,
                    "service": service,
                    "trace_id": s.trace_id.hex(),
                    "span_id": s.span_id.hex(),
                    "parent": s.parent_span_id.hex(),
                    "name": s.name,
                    "kind": s.kind,
                    "start": s.start_time_unix_nano,
                    "end": s.end_time_unix_nano,
                    "attributes": attributes(s.attributes),
                    "status": s.status.code,
                })
    with LOCK:
        SPANS.extend(spans)


def keep_metrics(req, names, histograms=None):
    with LOCK:
        for rm in req.resource_metrics:
            for sm in rm.scope_metrics:
                names.update(m.name for m in sm.metrics)
                for m in sm.metrics:
                    if histograms is None or not m.HasField("histogram"):
                        continue
                    for p in m.histogram.data_points:
                        point = {"unit": m.unit, "attributes": attributes(p.attributes), "count": p.count,
                                 "sum": p.sum, "bucket_counts": list(p.bucket_counts),
                                 "bounds": list(p.explicit_bounds)}
                        key = json.dumps(point["attributes"], sort_keys=True)
                        histograms.setdefault(m.name, {})[key] = point


class Otlp(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            if self.path == "/v1/traces":
                req = ExportTraceServiceRequest()
                req.ParseFromString(body)
                keep_spans(req, "http")
            elif self.path == "/v1/metrics":
                req = ExportMetricsServiceRequest()
                req.ParseFromString(body)
                keep_metrics(req, METRICS, HISTOGRAMS)
            else:
                return self.reply(404, {"error": "unknown path"})
        except Exception as e:  # a payload that does not parse is the gateway's bug
            with LOCK:
                ERRORS[0] += 1
            return self.reply(400, {"error": str(e)})
        # An empty ExportTraceServiceResponse.
        self.reply(200, b"", "application/x-protobuf")

    def do_GET(self):
        with LOCK:
            if self.path == "/spans":
                return self.reply(200, SPANS)
            if self.path == "/metrics-names":
                return self.reply(200, sorted(METRICS))
            if self.path.startswith("/histogram?name="):
                name = self.path.split("=", 1)[1]
                return self.reply(200, list(HISTOGRAMS.get(name, {}).values()))
            if self.path == "/grpc-metrics-names":
                return self.reply(200, sorted(GRPC_METRICS))
            if self.path == "/payload-errors":
                return self.reply(200, ERRORS[0])
        self.reply(404, {"error": "unknown path"})


class Backend(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        data = json.dumps({
            "path": self.path,
            "traceparent": self.headers.get("traceparent"),
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve_grpc(port):
    """OTLP/gRPC on `port`: opentelemetry-proto's own service definitions, served by grpcio."""
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    class Traces(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):
            keep_spans(request, "grpc")
            return trace_service_pb2.ExportTraceServiceResponse()

    class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
        def Export(self, request, context):
            keep_metrics(request, GRPC_METRICS)
            return metrics_service_pb2.ExportMetricsServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server


def main():
    otlp = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Otlp)
    backend = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Backend)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    # Kept referenced: a grpcio server that is collected stops serving.
    grpc_server = serve_grpc(int(sys.argv[3])) if len(sys.argv) > 3 else None
    otlp.serve_forever()
    del grpc_server


if __name__ == "__main__":
    main()
