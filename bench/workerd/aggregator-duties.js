// The hand-written JS Worker of aggregator.js, doing the duties Manifold's Worker does for the
// same config (bench/bench.py, workerd_config: /frontpage/{id}), as a JS developer would write
// them by hand, so that the runtime work both make can be told from the code that drives it:
//  - the endpoint's timeout (KrakenD's default, 2 s): one AbortController and one timer per
//    request, cleared when the answer is ready (Manifold: one timer per request, one
//    AbortController per call);
//  - KrakenD's forwarding headers to each backend (`User-Agent`, `X-Forwarded-For`,
//    `X-Forwarded-Host`) and `Accept-Encoding: gzip`, redirects not followed;
//  - a backend answer read only when 2xx and its declared length within the body limit;
//  - the answer as KrakenD writes it: keys sorted at every level (Go's encoding of a map),
//    `Content-Type`, `X-Krakend`, `X-Krakend-Completed` and an `X-Request-Id` taken from the
//    client or made (32 digits).
// bench.py checks that its answer's body is byte for byte Manifold's.

// Manifold names itself here as KrakenD does ("KrakenD Version …"): the same length either way.
const USER_AGENT = "Manifold/0.1.0";
const TIMEOUT_MS = 2000;
const MAX_BODY = 10 * 1024 * 1024;

const BACKENDS = [
  { path: (id) => `/b/user-${id}.json`, group: "user", allow: ["name", "avatar", "address.city"] },
  { path: () => "/b/products.json", group: "products", allow: ["items", "total"] },
  { path: () => "/b/promos.json", group: "promos", allow: ["banner.title", "banner.image", "campaign"] },
];

// Copy only the allowed (dotted) paths of `src`, like KrakenD's `allow`.
function allow(src, paths) {
  const out = {};
  for (const p of paths) {
    const parts = p.split(".");
    let from = src;
    let ok = true;
    for (const k of parts) {
      if (from === null || typeof from !== "object" || !(k in from)) {
        ok = false;
        break;
      }
      from = from[k];
    }
    if (!ok) continue;
    let to = out;
    for (const k of parts.slice(0, -1)) to = to[k] ??= {};
    to[parts[parts.length - 1]] = from;
  }
  return out;
}

// JSON.stringify with the keys of every object sorted, as Go encodes a map.
function sorted(value) {
  if (Array.isArray(value)) return value.map(sorted);
  if (value === null || typeof value !== "object") return value;
  const out = {};
  for (const k of Object.keys(value).sort()) out[k] = sorted(value[k]);
  return out;
}

function requestId(headers) {
  const given = headers.get("x-request-id");
  if (given) return given;
  const half = () => String(Math.floor(Math.random() * 1e16)).padStart(16, "0");
  return half() + half();
}

async function call(base, b, id, init) {
  const res = await fetch(base + b.path(id), init);
  const length = Number(res.headers.get("content-length") ?? 0);
  if (res.status < 200 || res.status >= 300 || length > MAX_BODY) {
    await res.body?.cancel();
    throw new Error(`status ${res.status}`);
  }
  return allow(await res.json(), b.allow);
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const m = url.pathname.match(/^\/frontpage\/([^/]+)$/);
    if (!m) {
      return new Response(url.pathname === "/" ? "ok" : "not found", { status: url.pathname === "/" ? 200 : 404 });
    }
    const id = m[1];
    const rid = requestId(request.headers);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
    const init = {
      headers: {
        "user-agent": USER_AGENT,
        "x-forwarded-for": request.headers.get("cf-connecting-ip") ?? "127.0.0.1",
        "x-forwarded-host": request.headers.get("host") ?? url.host,
        "accept-encoding": "gzip",
      },
      redirect: "manual",
      signal: controller.signal,
    };
    let results;
    try {
      results = await Promise.allSettled(BACKENDS.map((b) => call(env.BACKEND, b, id, init)));
    } finally {
      clearTimeout(timer);
    }
    const body = {};
    let complete = true;
    results.forEach((r, i) => {
      if (r.status === "fulfilled") body[BACKENDS[i].group] = r.value;
      else complete = false;
    });
    return new Response(JSON.stringify(sorted(body)), {
      headers: {
        "content-type": "application/json; charset=utf-8",
        "x-krakend": USER_AGENT,
        "x-krakend-completed": String(complete),
        "x-request-id": rid,
      },
    });
  },
};
