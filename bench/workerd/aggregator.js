// Hand-written JS Worker with the same logic as Manifold's scenario b (bench/bench.py,
// manifold_config: /frontpage/{id}): three backends in parallel, each body decoded as JSON,
// filtered with an `allow` list (dotted paths keep nested fields) and put under its group.
// A backend that fails or answers non-2xx is left out, as Manifold does for a partial answer.
// The backend base URL comes from the BACKEND binding (bench/workerd/serve.mjs sets it).

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

async function call(base, b, id) {
  const res = await fetch(base + b.path(id), { redirect: "manual" });
  if (res.status < 200 || res.status >= 300) {
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
    const results = await Promise.allSettled(BACKENDS.map((b) => call(env.BACKEND, b, id)));
    const body = {};
    let complete = true;
    results.forEach((r, i) => {
      if (r.status === "fulfilled") body[BACKENDS[i].group] = r.value;
      else complete = false;
    });
    return new Response(JSON.stringify(body), {
      headers: { "content-type": "application/json; charset=utf-8", "x-krakend-completed": String(complete) },
    });
  },
};
