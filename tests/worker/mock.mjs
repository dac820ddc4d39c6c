// Mock backends for the Workers end-to-end suite: one HTTP server on loopback that both the
// native server and the Worker (in workerd) call. Every route is deterministic. `/slow` and
// `/shadow/{ms}` record whether the caller hung up before the answer: that is how the suite
// sees that a timed-out backend call was really cancelled, and that a shadow call made after
// the response (`ctx.wait_until` on Workers) ran to its end.

import http from "node:http";
import zlib from "node:zlib";

// Headers that depend on the platform or the connection, not on what the gateway decided to
// forward: left out of `/echo` so both platforms' answers compare byte for byte.
//  - framing: content-length, transfer-encoding, connection, keep-alive
//  - cf-*: workerd adds `cf-worker` (and on the edge `cf-ray`, `cf-connecting-ip`...)
//  - x-forwarded-host: the gateway's own host:port, which differs between the two servers
const PLATFORM_HEADERS = new Set([
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "x-forwarded-host",
]);

function json(res, status, value, headers = {}) {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(body);
}

/** Start the mock on 127.0.0.1:`port`. Returns `{ server, tracked, counted, close() }`. */
export async function startMock(port) {
  // One record per tracked call: { path, aborted }, `aborted` set when the connection closes.
  const tracked = [];
  // Calls per `/counted/{name}` path: how a test sees that a cached answer spared the backend.
  const counted = new Map();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => route(req, res, Buffer.concat(chunks), tracked, counted));
  });
  server.keepAliveTimeout = 1000;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return {
    server,
    tracked,
    counted,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

function route(req, res, body, tracked, counted) {
  const url = new URL(req.url, "http://mock");
  const path = url.pathname;
  let m;
  if ((m = path.match(/^\/users\/([^/]+)$/))) {
    return json(res, 200, {
      id_user: m[1],
      first_name: `user-${m[1]}`,
      address: { city: "Lisbon", zip: "1000" },
      session: "secret",
    });
  }
  if (path === "/posts") {
    return json(res, 200, [
      { id: 1, title: "first", user: url.searchParams.get("user") },
      { id: 2, title: "second", user: url.searchParams.get("user") },
    ]);
  }
  if (path.startsWith("/echo")) {
    const headers = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (!PLATFORM_HEADERS.has(k) && !k.startsWith("cf-")) headers[k] = v;
    }
    return json(res, 200, {
      method: req.method,
      path,
      query: url.search,
      headers,
      body: body.toString("utf8"),
    });
  }
  // Tracked routes: the record says whether the caller hung up before the answer.
  if (path === "/slow" || (m = path.match(/^\/shadow\/(\d+)$/))) {
    const call = { path, aborted: null };
    tracked.push(call);
    const delay = path === "/slow" ? 3000 : Number(m[1]);
    const timer = setTimeout(() => json(res, 200, { late: true }), delay);
    res.on("close", () => {
      clearTimeout(timer);
      call.aborted = !res.writableFinished;
    });
    return;
  }
  if ((m = path.match(/^\/counted\/([^/]+)$/))) {
    const calls = (counted.get(path) ?? 0) + 1;
    counted.set(path, calls);
    return json(res, 200, { name: m[1], call: calls }, { "cache-control": "public, max-age=3600" });
  }
  if ((m = path.match(/^\/delay\/(\d+)\/(\d+)$/))) {
    return setTimeout(() => json(res, 200, { [`d${m[2]}`]: Number(m[2]) }), Number(m[1]));
  }
  if ((m = path.match(/^\/status\/(\d+)$/))) {
    return json(res, Number(m[1]), { error: `status ${m[1]}` }, { "x-mock": "status" });
  }
  if (path === "/gzip") {
    const gz = zlib.gzipSync(JSON.stringify({ compressed: true, items: [1, 2, 3] }));
    res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" });
    return res.end(gz);
  }
  if (path === "/redirect") {
    res.writeHead(302, { location: "/users/42" });
    return res.end();
  }
  if (path === "/noop") {
    res.writeHead(201, {
      "content-type": "text/plain; charset=utf-8",
      "x-mock": "noop",
      "set-cookie": ["a=1; Path=/", "b=2; Path=/"],
    });
    return res.end("raw body, not JSON");
  }
  if (path === "/big") {
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(JSON.stringify({ blob: "x".repeat(256 * 1024) }));
  }
  json(res, 404, { error: "no such mock route", path });
}
