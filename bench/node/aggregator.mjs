// The hand-written Node aggregator that a user would write instead of a gateway: the same
// fan-out, filtering, grouping and merge as bench/manifold.json, with Node's built-in fetch.
// One process, one event loop. Usage: node aggregator.mjs PORT BACKEND_BASE_URL
import http from 'node:http';

const port = Number(process.argv[2]);
const base = process.argv[3];

// KrakenD's allow filter: dot paths over objects; a path crossing a non-object drops the key.
function allow(data, paths) {
  const out = {};
  for (const path of paths) {
    const keys = path.split('.');
    let src = data;
    let dst = out;
    for (let i = 0; i < keys.length; i++) {
      if (src === null || typeof src !== 'object' || Array.isArray(src) || !(keys[i] in src)) break;
      if (i === keys.length - 1) {
        dst[keys[i]] = src[keys[i]];
      } else {
        const next = src[keys[i]];
        if (next === null || typeof next !== 'object' || Array.isArray(next)) break;
        if (!(keys[i] in dst)) dst[keys[i]] = {};
        dst = dst[keys[i]];
        src = next;
      }
    }
  }
  return out;
}

// KrakenD's deny filter: removes the dot paths, objects only.
function deny(data, paths) {
  for (const path of paths) {
    const keys = path.split('.');
    let obj = data;
    for (let i = 0; i < keys.length - 1 && obj; i++) {
      const next = obj[keys[i]];
      obj = next && typeof next === 'object' && !Array.isArray(next) ? next : null;
    }
    if (obj) delete obj[keys[keys.length - 1]];
  }
  return data;
}

async function get(path, signal) {
  const res = await fetch(base + path, { signal });
  if (res.status !== 200 && res.status !== 201) throw new Error(`status ${res.status}`);
  return res.json();
}

// Calls every backend in parallel under a deadline; merges the successes shallowly.
async function aggregate(calls, deadlineMs) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), deadlineMs);
  const results = await Promise.allSettled(calls.map((c) => get(c.path, ctl.signal).then(c.shape)));
  clearTimeout(timer);
  const body = {};
  let complete = true;
  for (const r of results) {
    if (r.status === 'fulfilled') Object.assign(body, r.value);
    else complete = false;
  }
  return { body, complete, any: results.some((r) => r.status === 'fulfilled') };
}

const group = (name, f = (x) => x) => (data) => ({ [name]: f(data) });

const routes = [
  [/^\/frontpage\/([^/]+)$/, (m) => aggregate([
    { path: `/b/user-${m[1]}.json`, shape: group('user', (d) => allow(d, ['name', 'avatar', 'address.city'])) },
    { path: '/b/products.json', shape: group('products', (d) => allow(d, ['items', 'total'])) },
    { path: '/b/promos.json', shape: group('promos', (d) => allow(d, ['banner.title', 'banner.image', 'campaign'])) },
  ], 1700)],
  [/^\/c$/, () => aggregate([{ path: '/c/big.json', shape: (d) => deny(d, ['debug', 'meta.trace']) }], 2000)],
  [/^\/d$/, () => aggregate(
    Array.from({ length: 10 }, (_, i) => ({ path: i === 9 ? '/d/slow' : `/d/s${i}.json`, shape: group(`s${i}`) })),
    85)],
];

http.createServer(async (req, res) => {
  const url = req.url.split('?')[0];
  for (const [re, handler] of routes) {
    const m = re.exec(url);
    if (!m) continue;
    try {
      const { body, complete, any } = await handler(m);
      if (!any) throw new Error('all backends failed');
      res.writeHead(200, {
        'Content-Type': 'application/json; charset=utf-8',
        'X-Krakend-Completed': String(complete),
      });
      res.end(JSON.stringify(body));
    } catch (e) {
      res.writeHead(500);
      res.end();
    }
    return;
  }
  res.writeHead(404);
  res.end();
}).listen(port, '127.0.0.1', () => console.log(`aggregator listening on 127.0.0.1:${port}`));
