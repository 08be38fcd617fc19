// What the engine learned (ids, field catalogs, unchanged-write digests), shared by every destination
// of one account through a Redis stream: after each event or batch a destination appends what it
// learned (the engine's takeLearned), and before each one it takes in what the others appended since
// (learn). Later entries win, so a digest is always the last write's, whoever made it.
//
// Why it matters beyond speed: a digest says "this is what Zendesk holds", and a destination that
// missed another's later write would skip a write that is needed. So when this destination cannot
// be sure it has seen everything — Redis failed, or the stream was trimmed past what it had read —
// it forgets every digest (at worst, one unneeded write each).
import { randomUUID } from "node:crypto";

const MAX_ENTRIES = 100_000; // the stream is trimmed to about this many appends
const READ_BATCH = 1_000;
const FORGET_DIGESTS = JSON.stringify({ entries: [{ forgetWritten: "" }] });

export class LearnedSync {
  constructor(client, { key }) {
    this.client = client;
    this.key = key;
    this.owner = randomUUID();
    this.cursor = null; // the last stream id taken in; null: nothing read yet
    this.started = new WeakSet(); // engine destinations whose journal is on
  }

  #start(destination) {
    if (this.started.has(destination)) return;
    destination.takeLearned(); // starts the journal (a fresh destination knows nothing yet)
    this.started.add(destination);
  }

  /** Takes in what other destinations appended since the last pull. Never rejects. */
  async pull(destination) {
    if (typeof destination.learn !== "function") return;
    try {
      this.#start(destination);
      for (;;) {
        const start = this.cursor === null ? "-" : `(${this.cursor}`;
        const entries = await this.client.sendCommand(["XRANGE", this.key, start, "+", "COUNT", String(READ_BATCH)]);
        if (this.cursor !== null && entries.length > 0) {
          // Trimmed past our cursor? Then entries were missed: digests can no longer be trusted.
          const first = await this.client.sendCommand(["XRANGE", this.key, "-", "+", "COUNT", "1"]);
          if (first.length && compareIds(first[0][0], this.cursor) > 0) destination.learn(FORGET_DIGESTS);
        }
        for (const [id, fields] of entries) {
          this.cursor = String(id);
          const owner = field(fields, "o");
          const text = field(fields, "l");
          if (owner !== this.owner && text) destination.learn(text);
        }
        if (entries.length < READ_BATCH) return;
      }
    } catch {
      try {
        destination.learn(FORGET_DIGESTS);
      } catch {
        // an engine that failed: the host replaces it
      }
    }
  }

  /** Appends what `destination` learned since the last push. Never rejects. */
  async push(destination) {
    if (typeof destination.takeLearned !== "function") return;
    let text;
    try {
      this.#start(destination);
      text = destination.takeLearned();
    } catch {
      return; // an engine that failed: the host replaces it, and the new one starts from nothing
    }
    if (text === '{"entries":[]}') return;
    try {
      await this.client.sendCommand(["XADD", this.key, "MAXLEN", "~", String(MAX_ENTRIES), "*", "o", this.owner, "l", text]);
    } catch {
      // not shared: the others look up again what this one learned (and never skip on its account)
    }
  }
}

function field(fields, name) {
  if (!Array.isArray(fields)) return fields?.[name] ?? null;
  for (let i = 0; i + 1 < fields.length; i += 2) if (String(fields[i]) === name) return String(fields[i + 1]);
  return null;
}

function compareIds(a, b) {
  const [am, as] = String(a).split("-").map(BigInt);
  const [bm, bs] = String(b).split("-").map(BigInt);
  return am === bm ? (as === bs ? 0 : as > bs ? 1 : -1) : am > bm ? 1 : -1;
}
