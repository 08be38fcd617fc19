// Ordering: events that touch the same user or organization go one at a time, in the order they were
// handed in; events for different people go concurrently, up to a limit.
import { JsonNumber, parse } from "./json.js";

const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
// Only strings, numbers and exact big integers name someone. Never String() of an object: an event can
// carry `{"toString": 1}` (any JSON client can send it), and converting that throws.
const text = (value) => (typeof value === "string" ? value.trim() : typeof value === "number" ? String(value) : value instanceof JsonNumber ? value.text : "");

/**
 * The people an event touches, as keys: `user:{userId}`, `email:{lowercased email}` (traits.email,
 * context.traits.email, properties.email), `org:{groupId}`, `org:{traits.company.id}`, and
 * `anonymous:{anonymousId}` for events without a userId. Events sharing any key are serialized.
 * `event` is a value or JSON text; unreadable text has no keys.
 */
export function eventKeys(event) {
  if (typeof event === "string") {
    try {
      event = parse(event);
    } catch {
      return [];
    }
  }
  if (!isObject(event)) return [];
  const keys = new Set();
  const add = (prefix, value, lower = false) => {
    const key = text(value);
    if (key) keys.add(`${prefix}:${lower ? key.toLowerCase() : key}`);
  };
  add("user", event.userId);
  if (!text(event.userId)) add("anonymous", event.anonymousId);
  const traits = isObject(event.traits) ? event.traits : {};
  const contextTraits = isObject(event.context) && isObject(event.context.traits) ? event.context.traits : {};
  const properties = isObject(event.properties) ? event.properties : {};
  add("email", traits.email, true);
  add("email", contextTraits.email, true);
  add("email", properties.email, true);
  add("org", event.groupId);
  if (isObject(traits.company)) add("org", traits.company.id);
  return [...keys];
}

/** Per-key queues: `acquire(keys)` returns at once; `ready` settles when every earlier holder of any key released. */
export class KeyedLocks {
  #tails = new Map();

  acquire(keys) {
    const earlier = [];
    let release;
    const done = new Promise((resolve) => (release = resolve));
    for (const key of keys) {
      const tail = this.#tails.get(key);
      if (tail) earlier.push(tail);
      this.#tails.set(key, done);
    }
    let released = false;
    return {
      ready: Promise.all(earlier).then(() => undefined),
      release: () => {
        if (released) return;
        released = true;
        release();
        for (const key of keys) if (this.#tails.get(key) === done) this.#tails.delete(key);
      },
    };
  }

  get size() {
    return this.#tails.size;
  }
}

/** A counting semaphore, first come first served. */
export class Limiter {
  #free;
  #waiting = [];

  constructor(limit) {
    if (!(limit >= 1)) throw new TypeError("concurrency must be a number ≥ 1");
    this.#free = limit;
  }

  /** Resolves to a `release` function once a slot is free; rejects with the signal's reason if aborted first. */
  acquire(signal) {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve, reject) => {
      const entry = { resolve, reject, signal, onAbort: null };
      if (signal) {
        entry.onAbort = () => {
          const index = this.#waiting.indexOf(entry);
          if (index >= 0) this.#waiting.splice(index, 1);
          reject(signal.reason);
        };
        signal.addEventListener("abort", entry.onAbort, { once: true });
      }
      this.#waiting.push(entry);
    });
  }

  #releaser() {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.#waiting.shift();
      if (next) {
        if (next.signal) next.signal.removeEventListener("abort", next.onAbort);
        next.resolve(this.#releaser());
      } else this.#free++;
    };
  }
}
