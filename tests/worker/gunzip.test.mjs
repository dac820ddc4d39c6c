// The Worker's gzip decoder (worker-ports/src/gunzip.js, the core's `Gunzip` port) in workerd:
// it must decode what zlib encodes, stop at the limit without decoding a bomb whole, and refuse
// what is not one valid gzip stream, as the core's own decoder (flate2) does natively
// (core/src/proxy/backend.rs tests). Through the gateway: scenarios.json's `/gzip-twice` cases.
//
// Run through scripts/worker-e2e.sh, which sets MANIFOLD_CACHE.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";

import { miniflare } from "./harness.mjs";

const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.join(here, "..", "..");

// A Worker that runs the port's `gunzip` on the request body with the limit in the query:
// 200 and the decoded bytes, 413 for null (over the limit), 400 and the message if it rejects.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "manifold-gunzip-"));
fs.copyFileSync(path.join(root, "worker-ports", "src", "gunzip.js"), path.join(dir, "gunzip.js"));
fs.writeFileSync(path.join(dir, "index.js"), `
import { gunzip } from "./gunzip.js";
export default {
  async fetch(request) {
    const limit = Number(new URL(request.url).searchParams.get("limit"));
    const body = new Uint8Array(await request.arrayBuffer());
    try {
      const out = await gunzip(body, limit);
      return out === null ? new Response("", { status: 413 }) : new Response(out);
    } catch (e) {
      return new Response(typeof e === "string" ? e : "not a string: " + e, { status: 400 });
    }
  },
};
`);
const mf = miniflare(dir, {});
after(async () => {
  await mf.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function run(body, limit) {
  const res = await fetch(`${(await mf.ready).origin}/?limit=${limit}`, { method: "POST", body });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

test("what zlib encodes decodes to the same bytes, up to a limit of exactly its size", async () => {
  const plain = Buffer.from(JSON.stringify({ items: Array.from({ length: 5000 }, (_, i) => i) }));
  for (const level of [1, 9]) {
    const gz = zlib.gzipSync(plain, { level });
    assert.deepEqual(await run(gz, plain.length), { status: 200, body: plain });
    assert.equal((await run(gz, plain.length - 1)).status, 413);
  }
  assert.deepEqual(await run(zlib.gzipSync(""), 0), { status: 200, body: Buffer.alloc(0) });
});

test("a gzip bomb stops at the limit", async () => {
  // 256 MiB of zeros decoded, about 256 KiB on the wire; the limit is the backend body limit.
  const bomb = zlib.gzipSync(Buffer.alloc(256 << 20), { level: 9 });
  assert.equal((await run(bomb, 16 << 20)).status, 413);
});

test("what is not one valid gzip stream is refused with the runtime's message", async () => {
  const good = zlib.gzipSync('{"a":1}');
  const crc = Buffer.from(good);
  crc[crc.length - 8] ^= 0xff;
  const size = Buffer.from(good);
  size[size.length - 1] ^= 0xff;
  for (const [what, body] of [
    ["plain text", Buffer.from('{"plain":true}')],
    ["a wrong CRC-32", crc],
    ["a wrong length", size],
    ["a truncated stream", good.subarray(0, good.length - 4)],
    ["nothing", Buffer.alloc(0)],
    ["deflate without the gzip header", zlib.deflateRawSync('{"a":1}')],
  ]) {
    const res = await run(body, 1 << 20);
    assert.equal(res.status, 400, `${what}: ${res.status} ${res.body}`);
    assert.ok(res.body.length > 0 && !res.body.toString().startsWith("not a string"), `${what}: ${res.body}`);
  }
});
