// Observability on Workers (issue 14, point 5): the second Worker (tests/worker/ssl.json, which
// has telemetry/opentelemetry) in workerd (Miniflare), with a real OTLP/HTTP receiver built on
// the official protobuf definitions (tests/telemetry/receiver.py, PyPI opentelemetry-proto),
// which also serves the two backends of /traced/{id} and tells which traceparent each got.
//   * the spans, sent through `fetch` in `ctx.wait_until` after the answer, reach the receiver:
//     the client's trace, server -> proxy -> one span per backend call, and each backend got
//     its own span in traceparent; each layer's static attributes on its spans;
//   * the access log, one JSON object per request through `console.log`, checked field by field;
//   * the metrics, pushed by the end of a request once a reporting period has passed: an
//     endpoint's request count and body sizes to the byte.
//
// Run through scripts/worker-e2e.sh, which builds the Worker with MANIFOLD_E2E_OTLP_PORT and
// MANIFOLD_E2E_TRACE_PORT expanded into it and sets MANIFOLD_CACHE, E2E_SSL_WORKER_DIR,
// E2E_OTEL_PYTHON (the venv of scripts/tools.sh telemetry).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";

import { eventually, need, miniflare } from "./harness.mjs";

const here = path.dirname(new URL(import.meta.url).pathname);
const OTLP_PORT = Number(need("MANIFOLD_E2E_OTLP_PORT"));
const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = "00f067aa0ba902b7";

let receiver;
let mf;
let output = "";


before(async () => {
  receiver = spawn(need("E2E_OTEL_PYTHON"), [path.join(here, "..", "telemetry", "receiver.py"), String(OTLP_PORT),
    need("MANIFOLD_E2E_TRACE_PORT")], { stdio: ["ignore", "inherit", "inherit"] });
  await eventually(() => new Promise((ok, fail) => {
    const s = net.connect(OTLP_PORT, "127.0.0.1", () => { s.end(); ok(); });
    s.on("error", fail);
  }), 20_000);
  const dir = need("E2E_SSL_WORKER_DIR");
  mf = miniflare(dir, {
    handleRuntimeStdio(stdout, stderr) {
      stdout.on("data", (d) => { output += d; });
      stderr.on("data", (d) => { output += d; });
    },
  });
  await mf.ready;
});

after(async () => {
  await mf?.dispose();
  receiver?.kill();
});

/** What the receiver has at `path`, as JSON. */
async function received(path) {
  return (await fetch(`http://127.0.0.1:${OTLP_PORT}${path}`)).json();
}

/** The `n` spans of `trace`, once they have all reached the receiver (sent after the answer). */
function spansOf(trace, n) {
  return eventually(async () => {
    const mine = (await received("/spans")).filter((s) => s.trace_id === trace);
    assert.equal(mine.length, n, `spans of the trace so far: ${JSON.stringify(mine)}`);
    return mine;
  }, 15_000);
}

test("telemetry on Workers: the client's trace at the OTLP receiver after the answer, and the access log as JSON", async (t) => {
  const res = await mf.dispatchFetch("https://secure.example/traced/7", {
    headers: { traceparent: `00-${TRACE}-${PARENT}-01`, "x-request-id": "worker-e2e-1" },
  });
  const body = await res.json();
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-request-id"), "worker-e2e-1");
  const spans = await spansOf(TRACE, 4);
  const server = spans.filter((s) => s.kind === 2);
  const proxy = spans.filter((s) => s.kind === 1);
  const client = spans.filter((s) => s.kind === 3);
  assert.equal(server.length, 1);
  assert.equal(proxy.length, 1);
  assert.equal(client.length, 2);
  assert.equal(server[0].parent, PARENT, "the server span continues the client's span");
  assert.equal(server[0].service, "manifold-worker-e2e");
  assert.equal(server[0].name, "GET /traced/{id}");
  assert.equal(proxy[0].parent, server[0].span_id, "proxy span under the server span");
  for (const c of client) assert.equal(c.parent, proxy[0].span_id, "backend spans under the proxy span");
  // Each layer's static attributes (layers.*.static_attributes), on its own spans only.
  assert.equal(server[0].attributes.owner, "team-charlie");
  assert.equal(proxy[0].attributes.owner, undefined);
  for (const c of client) assert.deepEqual([c.attributes.tier, c.attributes.owner], ["edge", undefined]);
  const sent = ["x", "y"].map((g) => body[g].traceparent.split("-"));
  for (const [version, trace, span, flags] of sent) {
    assert.deepEqual([version, trace, flags], ["00", TRACE, "01"]);
    assert.ok(client.some((c) => c.span_id === span), `backend got span ${span}, one of the client spans`);
  }
  assert.notEqual(sent[0][2], sent[1][2], "each backend call has its own span");
  const record = await eventually(() => {
    const line = output.split("\n").map((l) => l.slice(l.indexOf("{"))).find((l) => l.includes('"worker-e2e-1"'));
    assert.ok(line, `no access log line yet in:\n${output}`);
    return JSON.parse(line);
  }, 5_000);
  t.diagnostic(JSON.stringify(record));
  for (const [k, v] of Object.entries({
    level: "INFO", message: "request", request_id: "worker-e2e-1", trace_id: TRACE, method: "GET",
    endpoint: "/traced/{id}", path: "/traced/7", status: 200, completed: true,
  })) assert.deepEqual(record[k], v, k);
  assert.match(record.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(record.span_id, server[0].span_id);
  assert.ok(record.bytes > 0 && typeof record.duration_ms === "number", "bytes and duration_ms");
  const calls = record.backends.map((c) => [c.path, c.status, c.method, c.host]).sort();
  const host = `http://127.0.0.1:${need("MANIFOLD_E2E_TRACE_PORT")}`;
  assert.deepEqual(calls, [["/x/7", 200, "GET", host], ["/y", 200, "GET", host]]);
});

test("telemetry on Workers: an endpoint's and its backends' own layers (KrakenD CE's overrides)", async () => {
  const trace = "5c0f92f3577b34da6a3ce929d0e0e473";
  const res = await mf.dispatchFetch("https://secure.example/own/7", {
    headers: { traceparent: `00-${trace}-${PARENT}-01` },
  });
  const body = await res.json();
  assert.equal(res.status, 200);
  // No proxy span (the endpoint's `proxy`), no span for y (its `backend`): server and x.
  const spans = await spansOf(trace, 2);
  const server = spans.find((s) => s.kind === 2);
  const x = spans.find((s) => s.kind === 3);
  assert.ok(server && x, JSON.stringify(spans));
  assert.deepEqual([server.attributes.owner, server.attributes.product], ["team-charlie", "own"]);
  assert.equal(x.parent, server.span_id, "with no proxy span, the call is under the server span");
  assert.equal(x.attributes.tier, "own", "the backend's own static attributes, not the service's");
  assert.equal(body.x.traceparent, `00-${trace}-${x.span_id}-01`);
  assert.equal(body.y.traceparent, `00-${trace}-${server.span_id}-01`, "y's call is part of the server span");
});

test("telemetry on Workers: the metrics pushed after a reporting period, body sizes to the byte", async () => {
  // /sized/{id} is called by this test alone, and its answer has one length: once a push has
  // come (the end of a request a period after the last one pushes it, in `ctx.wait_until`),
  // its series counts some of these requests and their bytes exactly.
  let length;
  const histogram = async (name) => {
    const all = await received(`/histogram?name=${name}`);
    return all.filter((p) => p.attributes["http.route"] === "/sized/{id}");
  };
  const [size] = await eventually(async () => {
    const res = await mf.dispatchFetch("https://secure.example/sized/1");
    const bytes = new Uint8Array(await res.arrayBuffer()).length;
    assert.equal(res.status, 200);
    assert.ok(length === undefined || bytes === length, "one answer length");
    length = bytes;
    const points = await histogram("http.server.response.body.size");
    assert.equal(points.length, 1, "the endpoint's series at the receiver");
    return points;
  }, 20_000);
  assert.equal(size.unit, "By");
  assert.ok(size.count >= 1);
  assert.equal(size.sum, size.count * length, JSON.stringify(size));
  // The duration histogram of the same push counts the same requests.
  const durations = await histogram("http.server.request.duration");
  assert.ok(durations.length === 1 && durations[0].count >= size.count, JSON.stringify(durations));
});
