// Reading a body that may be larger than we accept: an answer from Zendesk (the host), a request to the
// edge, and what is left of a request the edge refuses.

/**
 * Reads a byte stream to its end, at most `limit` bytes: the bytes as text, or null past the limit. Past
 * it the stream is released unread, for the caller to let go of (`letGo`) or drain (`drainBody`).
 * @param {ReadableStream<Uint8Array>} stream
 */
export async function readText(stream, limit) {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  const parts = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      reader.releaseLock();
      return null;
    }
    parts.push(decoder.decode(value, { stream: true }));
  }
  parts.push(decoder.decode());
  return parts.join("");
}

/**
 * Lets go of a stream without awaiting the cancel: on some runtimes (Vercel's edge-runtime) the cancel
 * of a body still arriving never settles.
 */
export function letGo(stream) {
  try {
    stream?.cancel().catch(() => {});
  } catch {
    // locked or gone: nothing to let go of
  }
}

/**
 * How much more of a refused request's body the edge reads (and drops) before answering, and for how
 * long: four times the request limit, a second. A client still sending then finishes and reads the answer; a
 * server that stops reading may reset the connection under it, and the client never learns why (workerd
 * does: seen in the runtime tests; Node's server reads the rest itself). Past either bound the rest is
 * let go of, so a body that stalls cannot hold the answer.
 */
export const DRAIN = Object.freeze({ factor: 4, waitMs: 1_000 });

/** Reads what is left of a body the answer does not need, keeping nothing, within DRAIN's bounds. */
export async function drainBody(body, requestLimit) {
  if (!body || body.locked) return;
  const reader = body.getReader();
  const drainTo = DRAIN.factor * requestLimit;
  let size = 0;
  let timer;
  const reading = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      size += value.byteLength;
      if (size > drainTo) return;
    }
  })().catch(() => {}); // the client went away: nothing left to read
  await Promise.race([reading, new Promise((resolve) => (timer = setTimeout(resolve, DRAIN.waitMs)))]);
  clearTimeout(timer);
  reader.cancel().catch(() => {}); // not awaited: see letGo
}
