// The write ledger: what makes a redelivered event's non-idempotent write land once.
//
// Redelivery is how the shared modes keep their at-least-once promise (a worker that died mid-batch,
// a client's retry). Every request the engine sends is an upsert, a read, or answered "already done" —
// except a Sunshine event POST, which writes a new event each time it lands. The ledger remembers,
// for the de-duplication window, each such POST that Zendesk answered 2xx (by a hash of its method,
// URL and body, which the engine derives from the event alone); when the same POST comes again it is
// not sent: the recorded answer is replayed.
//
// What no ledger can settle: a POST that was on the wire when its process died. Zendesk's answer was
// never read, and Sunshine events have no idempotency key and no read-back. Before sending, the ledger
// notes its intent; a later process that finds another's intent without an answer knows the write may
// have landed, sends it again (at least once) and counts it in `{prefix}:uncertain` — the only writes
// that can land twice.
import { createHash, randomUUID } from "node:crypto";
import { isNonIdempotent } from "../host/retry.js";

/** `fetch` with the ledger in front of non-idempotent writes. */
export function ledgerFetch(fetchImpl, client, { prefix, windowMs }) {
  const ttl = String(Math.max(1, Math.round(windowMs)));
  const owner = randomUUID(); // this process: its own retries are the host's business, not uncertain
  return async (url, init = {}) => {
    const request = { method: init.method ?? "GET", url: String(url) };
    if (!isNonIdempotent(request)) return fetchImpl(url, init);
    const body = typeof init.body === "string" ? init.body : "";
    const hash = createHash("sha256").update(`${request.method} ${request.url}\n${body}`).digest("base64url");
    const landedKey = `${prefix}:landed:${hash}`;
    const intentKey = `${prefix}:intent:${hash}`;
    try {
      const [recorded, intent] = await Promise.all([client.sendCommand(["GET", landedKey]), client.sendCommand(["GET", intentKey])]);
      if (recorded) {
        const { status, body: text } = JSON.parse(String(recorded));
        return new Response(text, { status, headers: { "content-type": "application/json; charset=utf-8", "x-zendesk-destination-ledger": "replayed" } });
      }
      if (intent && String(intent) !== owner) {
        await client.sendCommand(["SADD", `${prefix}:uncertain`, hash]);
      }
      await client.sendCommand(["SET", intentKey, owner, "PX", ttl]);
    } catch {
      // Redis unreachable: send (at least once) rather than hold the event
    }
    const response = await fetchImpl(url, init);
    if (response.status >= 200 && response.status < 300) {
      const text = await response.text();
      try {
        await client.sendCommand(["SET", landedKey, JSON.stringify({ status: response.status, body: text }), "PX", ttl]);
      } catch {
        // not recorded: a redelivery would send it again (at least once)
      }
      return new Response(text, { status: response.status, statusText: response.statusText, headers: response.headers });
    }
    return response;
  };
}
