// Mock backends for the Workers end-to-end suite: one HTTP server on loopback that both the
// native server and the Worker (in workerd) call. Every route is deterministic. `/slow`,
// `/shadow/{ms}`, `/drip` and `/endless` record whether the caller hung up before the answer:
// that is how the suite sees that a timed-out backend call was really cancelled, and that a
// shadow call made after the response (`ctx.wait_until` on Workers) ran to its end. Every
// request is logged (`calls`), so a scenario can assert that no backend was called at all.
// The routes after `/big` are the misbehaving backends of docs/bad-input.md (group D and E).

import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import zlib from "node:zlib";

// The test-only signing keys of the JWT scenarios (served as JWK sets by `/jwks/<name>`).
const JWT_KEYS = JSON.parse(fs.readFileSync(new URL("../scenarios/jwt/keys.json", import.meta.url), "utf8"));

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

/** Start the mock on 127.0.0.1:`port`. Returns `{ server, tracked, calls, close() }`. */
export async function startMock(port) {
  // One record per tracked call: { path, aborted, closedAt }, `aborted` set when the
  // connection closes.
  const tracked = [];
  // Every request as it arrived: { method, url (the raw request target), headers }.
  const calls = [];
  // Node's default 16 KiB head limit would refuse what the gateways forward (a 20 KB path
  // parameter, bad-input case A12) before the suite could see it arrive whole.
  const server = http.createServer({ maxHeaderSize: 256 * 1024 }, (req, res) => {
    calls.push({ method: req.method, url: req.url, headers: req.headers });
    // `/sink` only counts: a 10 MiB upload is hashed as it streams, never kept.
    if (req.url.startsWith("/sink")) return sink(req, res);
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => route(req, res, Buffer.concat(chunks), tracked, calls));
  });
  // Idle keep-alive connections stay open for the whole run (close() ends them): with a short
  // timeout, workerd may reuse a connection just as Node closes it, and that request fails
  // with "Network connection lost" — seen on a loaded host as a 500 in unrelated tests.
  server.keepAliveTimeout = 120_000;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return {
    server,
    tracked,
    calls,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

// `/events` (streaming passthrough, docs/streaming.md): the first Server-Sent Event at once,
// the second only when the suite calls `releaseEvents()` after reading the first (or never,
// after 30 s). `releasedFirst` says which happened.
export const events = { release: null, releasedFirst: null };

export function releaseEvents() {
  events.release?.(true);
}

function route(req, res, body, tracked, calls) {
  const url = new URL(req.url, "http://mock");
  const path = url.pathname;
  let m;
  if (path === "/events") {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.write("data: one\n\n");
    const timer = setTimeout(() => events.release?.(false), 30_000);
    events.release = (first) => {
      events.release = null;
      clearTimeout(timer);
      events.releasedFirst = first;
      res.end("data: two\n\n");
    };
    return;
  }
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
  // `/jwks/<name>`: the public half of tests/scenarios/jwt/keys.json's key `name` as a JWK set
  // (kid `k1`), for `jwk_url` (signatures.test.mjs).
  if ((m = path.match(/^\/jwks\/(\w+)$/)) && JWT_KEYS[m[1]]) {
    const jwk = crypto.createPublicKey(JWT_KEYS[m[1]]).export({ format: "jwk" });
    return json(res, 200, { keys: [{ ...jwk, kid: "k1" }] });
  }
  if (path.startsWith("/echo")) {
    const headers = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (!PLATFORM_HEADERS.has(k) && !k.startsWith("cf-")) headers[k] = v;
    }
    return json(res, 200, {
      method: req.method,
      // The request target exactly as received: `path` below has been through URL parsing,
      // which would hide dot segments and decode nothing else.
      target: req.url,
      path,
      query: url.search,
      headers,
      body: body.toString("utf8"),
    });
  }
  // Tracked routes: the record says whether the caller hung up before the answer.
  if (path === "/slow" || (m = path.match(/^\/shadow\/(\d+)$/))) {
    const call = track(tracked, path, res);
    const delay = path === "/slow" ? 3000 : Number(m[1]);
    const timer = setTimeout(() => json(res, 200, { late: true }), delay);
    call.onClose = () => clearTimeout(timer);
    return;
  }
  // Cacheable for an hour; `call` says how many requests reached it (the HTTP cache tests).
  if ((m = path.match(/^\/counted\/([^/]+)$/))) {
    const call = calls.filter((c) => c.url === req.url).length;
    return json(res, 200, { name: m[1], call }, { "cache-control": "public, max-age=3600" });
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
  if (!misbehave(req, res, path, tracked)) json(res, 404, { error: "no such mock route", path });
}

/** A tracked call: `aborted` (and `closedAt`, ms) are set when the connection closes. */
function track(tracked, path, res) {
  const call = { path, aborted: null, closedAt: null, onClose: null };
  tracked.push(call);
  res.on("close", () => {
    call.onClose?.();
    call.closedAt = Date.now();
    call.aborted = !res.writableFinished;
  });
  return call;
}

/** `/sink`: the body's length and SHA-256, read as it streams. */
function sink(req, res) {
  const hash = crypto.createHash("sha256");
  let bytes = 0;
  req.on("data", (c) => {
    bytes += c.length;
    hash.update(c);
  });
  req.on("end", () => json(res, 200, { bytes, sha256: hash.digest("hex") }));
}

// Raw JSON texts the gateway must pass on digit for digit, or filter by decoded key (D35, D36).
const NUMBERS = '{"big":9007199254740993,"huge":18446744073709551616,"neg_zero":-0,"over":1e400,"long":0.1000000000000000055511}';
const DUPLICATES = '{"a":1,"a":2,"pass\\u0077ord":"escaped","password":"plain","kept":true}';
// Bodies that are not the JSON object they claim to be (D38).
const NOT_JSON = {
  html: "<html><body>502 Bad Gateway</body></html>",
  empty: "",
  null: "null",
  string: '"str"',
  trailing: '{"a":1}xyz',
  bom: '\ufeff{"a":1}',
  latin1: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xe9, 0x22, 0x7d]), // {"a":"\xe9"}
};

let bomb;
/** 64 MiB of JSON once decompressed (over the 16 MiB backend body limit), 64 KiB on the wire. */
function gzipBomb() {
  bomb ??= zlib.gzipSync(Buffer.concat([Buffer.from('{"a":"'), Buffer.alloc(64 << 20, 0x30), Buffer.from('"}')]), { level: 9 });
  return bomb;
}

/** Bodies sent gzipped once more under one `Content-Encoding: gzip`: workerd decodes the outer
 * layer while fetch reads it, and a body still in gzip keeps its header
 * (convert::runtime_decoded), so the core decodes the inner one with the platform's
 * DecompressionStream (worker-ports/src/gunzip.js). */
const GZIP_TWICE = {
  json: () => zlib.gzipSync(JSON.stringify({ twice: true })),
  bomb: gzipBomb,
  // The CRC-32 in the trailer is wrong.
  crc: () => {
    const b = zlib.gzipSync('{"a":1}');
    b[b.length - 8] ^= 0xff;
    return b;
  },
};

/** The misbehaving backends (docs/bad-input.md groups B, D and E); false: no such route. */
function misbehave(req, res, path, tracked) {
  let m;
  const send = (status, headers, body) => {
    res.writeHead(status, headers);
    res.end(body);
    return true;
  };
  if (path === "/numbers") return send(200, { "content-type": "application/json" }, NUMBERS);
  if (path === "/duplicates") return send(200, { "content-type": "application/json" }, DUPLICATES);
  if ((m = path.match(/^\/not-json\/(\w+)$/)) && m[1] in NOT_JSON) {
    return send(200, { "content-type": "application/json" }, NOT_JSON[m[1]]);
  }
  if (path === "/deep") {
    const depth = 10_000;
    return send(200, { "content-type": "application/json" }, "[".repeat(depth) + "]".repeat(depth));
  }
  if ((m = path.match(/^\/collide\/(\d+)\/(\w+)$/))) {
    setTimeout(() => json(res, 200, { id: m[2], [m[2]]: true }), Number(m[1]));
    return true;
  }
  if (path === "/leaky") {
    // Response headers a merged JSON endpoint must not hand to the client (B24).
    json(res, 200, { leaky: true }, {
      "set-cookie": "session=backend; Path=/",
      "access-control-allow-origin": "*",
      server: "backend/1.0",
      "x-powered-by": "PHP/5.1",
    });
    return true;
  }
  if (path === "/gzip-lie") {
    return send(200, { "content-type": "application/json", "content-encoding": "gzip" }, '{"plain":true}');
  }
  if (path === "/gzip-bomb") {
    return send(200, { "content-type": "application/json", "content-encoding": "gzip" }, gzipBomb());
  }
  if ((m = path.match(/^\/gzip-twice\/(\w+)$/)) && m[1] in GZIP_TWICE) {
    return send(200, { "content-type": "application/json", "content-encoding": "gzip" }, zlib.gzipSync(GZIP_TWICE[m[1]]()));
  }
  if (path === "/unknown-encoding") {
    return send(200, { "content-type": "application/json", "content-encoding": "x-unknown" }, '{"coded":true}');
  }
  if (path === "/short") {
    // Declares 1000 bytes, sends 500, then closes (E44).
    res.writeHead(200, { "content-type": "application/json", "content-length": "1000" });
    res.write('{"a":"' + "x".repeat(494));
    setTimeout(() => res.socket?.destroy(), 50);
    return true;
  }
  if (path === "/garbage") {
    // Not HTTP at all (E45): bytes instead of a status line, then close.
    res.socket.end("SSH-2.0-OpenSSH_9.6\r\nthis is not a status line\r\n\r\n");
    return true;
  }
  if (path === "/reset") {
    // Reset before any header (E45).
    res.socket.resetAndDestroy();
    return true;
  }
  if (path === "/huge-headers") {
    // 200 response headers of 600 bytes each: 120 KB of head (E48).
    const headers = { "content-type": "application/json" };
    for (let i = 0; i < 200; i++) headers[`x-big-${i}`] = "h".repeat(600);
    json(res, 200, { ok: true }, headers);
    return true;
  }
  if (path === "/redirect-metadata") {
    // A backend sending the gateway to the cloud metadata service (E47).
    res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" });
    res.end();
    return true;
  }
  if (path === "/drip") {
    // Headers at once, then the body one byte every 100 ms (E42).
    const call = track(tracked, path, res);
    res.writeHead(200, { "content-type": "application/json" });
    res.write('{"a":"');
    const timer = setInterval(() => res.write("x"), 100);
    call.onClose = () => clearInterval(timer);
    return true;
  }
  if (path === "/endless") {
    // A chunked body that never ends (D37): written as fast as the caller reads it.
    const call = track(tracked, path, res);
    res.writeHead(200, { "content-type": "application/json" });
    res.write('{"a":"');
    const chunk = Buffer.alloc(64 * 1024, 0x78);
    const pump = () => {
      while (!res.destroyed && res.write(chunk));
    };
    res.on("drain", pump);
    pump();
    return true;
  }
  return false;
}
