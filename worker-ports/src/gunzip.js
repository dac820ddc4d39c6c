// Gzip decoding with the runtime's DecompressionStream, for worker-ports/src/gunzip.rs: a
// backend's `Content-Encoding: gzip` body that reaches the core still encoded (the runtime
// decodes one layer while fetch reads it; convert::runtime_decoded) is decoded by the runtime
// here instead of by code compiled into the Worker. tests/worker/gunzip.test.mjs runs it in
// workerd.

// Resolves to the decoded bytes, or to null as soon as they would exceed `limit` (the stream
// is cancelled: a gzip bomb is never decoded whole); rejects with the runtime's message for a
// body that is not one valid gzip stream.
export async function gunzip(body, limit) {
  // A copy: `body` is a view of the wasm memory, which may change while this runs.
  const reader = new Blob([body.slice()]).stream().pipeThrough(new DecompressionStream("gzip")).getReader();
  const parts = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limit) {
        await reader.cancel().catch(() => {});
        return null;
      }
      parts.push(value);
    }
  } catch (e) {
    throw String(e?.message ?? e);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}
