// Shared by the Worker e2e tests (run by scripts/worker-e2e.sh): the environment they are
// given, wrangler.toml's settings, and the built Worker loaded into Miniflare exactly as
// `wrangler deploy` would upload it. One copy, so every test starts workerd the same way.
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

/** The environment variable `name`, which scripts/worker-e2e.sh sets; throws when missing. */
export function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run scripts/worker-e2e.sh`);
  return value;
}

const here = path.dirname(new URL(import.meta.url).pathname);
/** wrangler.toml's text (its compatibility date and Durable Object binding are read from it). */
export const wranglerToml = fs.readFileSync(path.join(here, "..", "..", "wrangler.toml"), "utf8");
/** The compatibility date the Worker is deployed with. */
export const compatibilityDate = wranglerToml.match(/^compatibility_date\s*=\s*"([^"]+)"/m)?.[1];

/** The modules of wrangler's dry-run output `dir`, index.js first (the entry point). */
export function workerModules(dir) {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".js") || f.endsWith(".wasm"))
    .map((f) => ({
      type: f.endsWith(".wasm") ? "CompiledWasm" : "ESModule",
      path: path.join(dir, f),
      contents: fs.readFileSync(path.join(dir, f)),
    }))
    .sort((a, b) => Number(b.path.endsWith("index.js")) - Number(a.path.endsWith("index.js")));
}

/** A Miniflare serving the built Worker in `dir` on loopback, with the given extra options. */
export function miniflare(dir, options) {
  const require = createRequire(path.join(need("MANIFOLD_CACHE"), "npm", "package.json"));
  const { Miniflare } = require("miniflare");
  return new Miniflare({ host: "127.0.0.1", port: 0, modulesRoot: dir, modules: workerModules(dir), compatibilityDate, ...options });
}

/** Poll `check` (which throws while not yet true) every 100 ms for at most `ms`. */
export async function eventually(check, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
