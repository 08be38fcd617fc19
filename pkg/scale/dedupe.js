// messageId de-duplication shared by every instance: the edge handler's DedupeWindow, in Redis.
//
// `get(id)` → the final outcome remembered for a messageId (`{status, code, at}`) or null;
// `remember(id, outcome)` keeps it for the window; `claim(id)` / `release(id)` mark a delivery in
// progress, so that a client's retry reaching another instance while the first one still delivers is
// answered "retry later" instead of being delivered twice. Each key expires on its own (PX): the window
// is bounded in time by Redis, and in count by Redis's memory policy rather than by a local cap.

/** How long a claim outlives an instance that died while delivering (then another may deliver). */
export const CLAIM_TTL_MS = 120_000;

export class RedisDedupe {
  #client;
  #prefix;
  #windowMs;
  #now;

  constructor(client, { prefix, windowMs, now = Date.now }) {
    this.#client = client;
    this.#prefix = prefix;
    this.#windowMs = windowMs;
    this.#now = now;
  }

  #key(kind, id) {
    return `${this.#prefix}:${kind}:${id}`;
  }

  async get(id) {
    const text = await this.#client.sendCommand(["GET", this.#key("msg", id)]);
    if (text === null || text === undefined) return null;
    try {
      const entry = JSON.parse(String(text));
      return typeof entry?.status === "string" ? entry : null;
    } catch {
      return null;
    }
  }

  async remember(id, outcome) {
    const entry = JSON.stringify({ status: outcome.status, code: outcome.code, at: this.#now() });
    await this.#client.sendCommand(["SET", this.#key("msg", id), entry, "PX", String(Math.max(1, Math.round(this.#windowMs)))]);
    await this.release(id);
  }

  /** True when this instance may deliver `id` (no other instance is delivering it). */
  async claim(id) {
    const answer = await this.#client.sendCommand(["SET", this.#key("claim", id), "1", "NX", "PX", String(CLAIM_TTL_MS)]);
    return answer === "OK";
  }

  async release(id) {
    await this.#client.sendCommand(["DEL", this.#key("claim", id)]);
  }

  get size() {
    return null; // not counted here: Redis holds the window
  }
}
