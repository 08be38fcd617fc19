// zendesk-destination/edge: Segment's HTTP Tracking API in front of the destination.
//
// `createHandler({settings, writeKeys})` returns `(request: Request) => Promise<Response>`: point
// `@segment/analytics-node`, analytics.js or any client of the Tracking API at it and identify, track and
// group calls land in Zendesk. Web-standard APIs only (fetch, Request, Response, Headers, TextEncoder,
// ReadableStream): the same code runs on Node, Deno, Bun and edge runtimes.
//
// The contract: by default the answer waits until every event's outcome is known. 200 when each event was
// delivered, skipped, invalid (it can never succeed) or failed for good; 503 + Retry-After when any failed
// in a way a retry can fix (429 when Zendesk throttled), so the client keeps the events and retries. A
// retried batch does not write twice what landed: events are de-duplicated by `messageId` within a bounded
// window, and a retry of an event still in flight joins that delivery instead of starting another.
import { createDestination, eventKeys } from "./index.js";
import { drainBody, readText } from "./host/body.js";
import { mergeBatchItem } from "./host/input.js";
import { parse, stringify } from "./host/json.js";
import { KeyedLocks, Limiter } from "./host/ordering.js";

/** Segment's limits (its HTTP Tracking API documentation). */
export const LIMITS = Object.freeze({
  eventBytes: 32 * 1024, // one event, as JSON
  requestBytes: 500 * 1024, // one request body
  batchEvents: 2_500, // items of one batch
});

export const DEFAULTS = Object.freeze({
  concurrency: 8, // events in delivery at once, across all requests
  maxPendingEvents: 10_000, // accepted but unfinished events; beyond it new requests get 503 (nothing sent)
  dedupeMaxEntries: 100_000, // messageIds remembered
  dedupeWindowMs: 24 * 60 * 60 * 1000, // and for how long
  responseTimeoutMs: 8_000, // longest wait for outcomes before answering 503 (deliveries go on)
  batchWindowMs: 25, // events arriving this close together (across requests) are delivered as one batch
  maxBatchEvents: 500, // a gathered batch is sent at once when it reaches this many events
  retryAfterSeconds: 5, // Retry-After of a 503
  maxRetryAfterSeconds: 60, // the most a 429 passes on from Zendesk's Retry-After (the host waits at most that, too)
  closeTimeoutMs: 10_000, // close(): grace for deliveries in progress
});

const SINGLE = {
  identify: "identify",
  track: "track",
  group: "group",
  page: "page",
  screen: "screen",
  alias: "alias",
  i: "identify",
  t: "track",
  g: "group",
  p: "page",
  s: "screen",
  a: "alias",
};
const ROUTES = new Map([
  ...Object.entries(SINGLE).map(([name, type]) => [`/v1/${name}`, { kind: "single", type }]),
  ["/v1/batch", { kind: "batch" }],
  ["/v1/b", { kind: "batch" }],
  ["/v1/import", { kind: "batch" }],
  ["/v1/m", { kind: "metrics" }],
]);

const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
const encoder = new TextEncoder();
const byteLength = (text) => encoder.encode(text).length;

/** An outcome that makes the client keep the event and try again. */
function asksForRetry(outcome) {
  // `unauthorized`: Zendesk refused the destination's own credentials. Nothing is wrong with the event;
  // once the operator fixes the settings, a retry delivers it. Answering 200 would drop it.
  return outcome.status === "failed" && (outcome.retryable === true || outcome.code === "unauthorized");
}

/** Compares two strings in time that depends only on their lengths. */
export function sameText(a, b) {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return diff === 0;
}

/** The write key of an `Authorization: Basic base64("key:")` header; null when not Basic or unreadable. */
export function basicUser(authorization) {
  const match = /^\s*basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(authorization);
  if (!match) return null;
  try {
    const binary = atob(match[1].replace(/-/g, "+").replace(/_/g, "/"));
    const text = new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
    const colon = text.indexOf(":");
    return colon >= 0 ? text.slice(0, colon) : text;
  } catch {
    return null;
  }
}

/**
 * The key a messageId is remembered by: a string of its own. A messageId read from a request body may be
 * a slice that keeps the whole body alive; remembering it as is would keep every body in the window.
 * Ids over 256 characters (Segment allows 100) are shortened to a prefix, their length and a hash.
 */
export function messageKey(id) {
  let key = id;
  if (key.length > 256) {
    let h1 = 0x811c9dc5;
    let h2 = 0x01000193;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
      h2 = Math.imul(h2 + c, 0x5bd1e995) >>> 0;
    }
    key = `${key.slice(0, 200)}…${key.length}:${h1.toString(36)}${h2.toString(36)}`;
  }
  return JSON.parse(JSON.stringify(key));
}

/**
 * Remembers which messageIds reached a final outcome: bounded in count and in time. `store` (optional,
 * `{put(id, entry), delete(id)}`) is told of every change, so that the window can outlive the process
 * (the Cloudflare Worker keeps it in its Durable Object's storage); `restore` refills it from there.
 */
export class DedupeWindow {
  #seen = new Map(); // messageId → {status, code, at}, oldest first
  #max;
  #windowMs;
  #now;
  #store;

  constructor({ maxEntries = DEFAULTS.dedupeMaxEntries, windowMs = DEFAULTS.dedupeWindowMs, now = Date.now, store = null } = {}) {
    if (!(maxEntries >= 1)) throw new TypeError("dedupe.maxEntries must be a number ≥ 1");
    if (!(windowMs > 0)) throw new TypeError("dedupe.windowMs must be a number > 0");
    this.#max = maxEntries;
    this.#windowMs = windowMs;
    this.#now = now;
    this.#store = store;
  }

  get(messageId) {
    const id = messageId.length > 256 ? messageKey(messageId) : messageId;
    const entry = this.#seen.get(id);
    if (!entry) return null;
    if (this.#now() - entry.at >= this.#windowMs) {
      this.#forget(id);
      return null;
    }
    return entry;
  }

  remember(messageId, outcome) {
    const id = messageKey(messageId);
    const entry = { status: outcome.status, code: outcome.code, at: this.#now() };
    this.#seen.delete(id);
    this.#seen.set(id, entry);
    this.#store?.put(id, entry);
    this.prune();
  }

  /** Puts back entries saved by `store` (oldest first); the store is not told. */
  restore(entries) {
    for (const [id, entry] of entries) {
      this.#seen.delete(id);
      this.#seen.set(id, { status: entry.status, code: entry.code, at: entry.at });
    }
    this.prune();
  }

  prune() {
    const cutoff = this.#now() - this.#windowMs;
    for (const [id, entry] of this.#seen) {
      if (this.#seen.size > this.#max || entry.at <= cutoff) this.#forget(id);
      else break;
    }
  }

  #forget(id) {
    this.#seen.delete(id);
    this.#store?.delete(id);
  }

  get size() {
    return this.#seen.size;
  }
}

class RequestError extends Error {
  constructor(status, error, message, extra = {}) {
    super(message);
    this.status = status;
    this.error = error;
    this.extra = extra;
  }
}

/**
 * Reads a body as text, at most `limit` bytes. Throws a 400 `request_too_large` beyond it (the handler
 * then drains what is left).
 * @param {Request} request
 */
async function readBody(request, limit) {
  const declared = Number(request.headers.get("content-length"));
  const tooLarge = () =>
    new RequestError(400, "request_too_large", `the request body is larger than ${limit} bytes (500 KB per request is the limit)`, { limit: "500 KB per request", limitBytes: limit });
  if (Number.isFinite(declared) && declared > limit) throw tooLarge();
  if (!request.body) return "";
  const text = await readText(request.body, limit);
  if (text === null) throw tooLarge();
  return text;
}

/**
 * Builds the handler. Options:
 * - `settings` (required): the destination's settings; `writeKeys` (required): string or string[];
 * - `mode`: "wait" (default: answer once every outcome is known) or "waitUntil" (answer 200 at once and
 *   deliver after; see the README for what it risks);
 * - `dedupe`: `{maxEntries, windowMs}`, a `DedupeWindow`, or `false`; `concurrency`, `maxPendingEvents`,
 *   `responseTimeoutMs`, `retryAfterSeconds`, `basePath`, `cors` (`{origins: "*" | string[]}`);
 * - `batchWindowMs` (default 25; 0 delivers each event alone) and `maxBatchEvents` (500): events that
 *   arrive within the window, from any requests, are planned together as one engine batch;
 * - `redis` (a redis:// URL or a connected client of npm's `redis`), `redisPrefix`: messageId
 *   de-duplication, and the destination's rate budget, OAuth pair and learned state, shared by every
 *   instance using the same Redis (docs/scale-out.md); `queue` (true or a queue name, needs `redis`):
 *   answer 200 once the events are durably queued, for `zendesk-destination work` to deliver;
 * - `onOutcome({messageId, type, outcome, duplicate})`: each event's outcome (both modes);
 * - `onRequest(request, {method, path, status, events, durationMs})`: once per answered request;
 * - everything else (`fetch`, `now`, `timeoutMs`, `retry`, `logger`, `wasm`, `engine`, …) goes to
 *   `createDestination`.
 * The handler also has `ready` (resolves once the engine is loaded and the settings checked; rejects
 * with the SettingsError), `drain()`, `close({timeoutMs})` and `stats()`.
 */
export function createHandler(options = {}) {
  const {
    settings,
    writeKeys,
    mode = "wait",
    dedupe = {},
    concurrency = DEFAULTS.concurrency,
    maxPendingEvents = DEFAULTS.maxPendingEvents,
    responseTimeoutMs = DEFAULTS.responseTimeoutMs,
    retryAfterSeconds = DEFAULTS.retryAfterSeconds,
    batchWindowMs = DEFAULTS.batchWindowMs,
    maxBatchEvents = DEFAULTS.maxBatchEvents,
    basePath = "",
    cors = {},
    limits: limitOverrides,
    onOutcome,
    onRequest,
    waitUntil: defaultWaitUntil,
    redis,
    redisPrefix,
    queue,
    ...destinationOptions
  } = options;
  if (settings === undefined) throw new TypeError("createHandler: settings is required");
  const keys = (Array.isArray(writeKeys) ? writeKeys : [writeKeys]).filter((key) => typeof key === "string" && key !== "");
  if (keys.length === 0) throw new TypeError("createHandler: writeKeys must hold at least one non-empty write key");
  if (mode !== "wait" && mode !== "waitUntil") throw new TypeError('createHandler: mode must be "wait" or "waitUntil"');
  if (queue && !redis) throw new TypeError("createHandler: queue needs redis (the queue is a Redis stream)");
  const limits = { ...LIMITS, ...(limitOverrides ?? {}) };
  const now = destinationOptions.now ?? Date.now;
  const origins = cors.origins ?? "*";
  const prefix = basePath.replace(/\/+$/, "");

  let window = dedupe === false ? null : dedupe instanceof DedupeWindow ? dedupe : new DedupeWindow({ ...dedupe, now });
  let claims = null; // with Redis: a delivery in progress on another instance
  let enqueue = null;
  let shared = null;
  const inflight = new Map(); // messageId → Promise<outcome>
  const locks = new KeyedLocks();
  const limiter = new Limiter(concurrency);
  const pending = new Set(); // promises of accepted, unfinished events
  const counters = { requests: 0, events: 0, duplicates: 0, rejected: 0, shed: 0, outcomes: {} };
  let closing = null;

  const ready = redis
    ? (async () => {
        // A specifier bundlers leave alone: the Redis modules are Node-only, and needed only here.
        const module = "./scale/handler.js";
        const { handlerState } = await import(module);
        shared = await handlerState(redis, { prefix: redisPrefix, queue, dedupeWindowMs: dedupe?.windowMs ?? DEFAULTS.dedupeWindowMs, now });
        if (window) window = claims = shared.dedupe;
        enqueue = shared.enqueue;
        try {
          // A queue front never delivers: its destination only checks the settings.
          return await createDestination(settings, queue ? destinationOptions : { ...destinationOptions, redis: shared.client, redisPrefix });
        } catch (error) {
          await shared.close();
          throw error;
        }
      })()
    : createDestination(settings, destinationOptions);
  ready.catch(() => {}); // reported to each request (500) and to whoever awaits `ready`

  // ---- per-event delivery ----

  // Events arriving within `batchWindowMs` of the first one waiting (from any requests) go to the engine
  // as one batch; each caller still gets its own event's outcome. Ordering across batches is the
  // destination's (events sharing a user or organization wait for earlier ones). An event that ends
  // before its batch (a track whose POST answered) gets its outcome then, the one the batch will end it
  // with: dispatch records it in the messageId window at once, so a restart later in a long batch does
  // not make its retry write it again. Its later resolve with the same outcome changes nothing.
  let gathered = [];
  let gatherTimer = null;
  function flushGathered() {
    clearTimeout(gatherTimer);
    gatherTimer = null;
    const group = gathered;
    gathered = [];
    if (group.length === 0) return;
    (async () => {
      const destination = await ready;
      const onEnded = (index, outcome) => group[index]?.resolve(outcome);
      const outcomes = await destination.deliverAll(group.map(({ item }) => stringify(item)), { concurrency, batchSize: group.length, onEnded });
      group.forEach(({ resolve }, i) => resolve(outcomes[i]));
    })().catch((error) => group.forEach(({ reject }) => reject(error)));
  }

  function run(item) {
    if (!(batchWindowMs > 0)) return runAlone(item);
    return new Promise((resolve, reject) => {
      gathered.push({ item, resolve, reject });
      if (gathered.length >= maxBatchEvents) flushGathered();
      else gatherTimer ??= setTimeout(flushGathered, batchWindowMs);
    });
  }

  async function runAlone(item) {
    const destination = await ready;
    let keys = [];
    try {
      keys = eventKeys(item);
    } catch {
      // as in the library: an event that cannot be read touches nobody, and the engine refuses it
    }
    const lock = locks.acquire(keys);
    let release = null;
    try {
      await lock.ready;
      release = await limiter.acquire();
      return await destination.deliver(stringify(item));
    } finally {
      release?.();
      lock.release();
    }
  }

  function count(outcome) {
    counters.outcomes[outcome.status] = (counters.outcomes[outcome.status] ?? 0) + 1;
    return outcome;
  }

  /** Starts (or joins) the delivery of one event. Resolves to `{outcome, duplicate}`; never rejects. */
  async function dispatch(item) {
    const id = isObject(item) && typeof item.messageId === "string" && item.messageId !== "" && window ? messageKey(item.messageId) : null;
    if (id !== null && window) {
      let seen;
      try {
        // In memory (no Redis) the lookup is synchronous: no await, so the event is pending at once, as before.
        seen = claims ? await window.get(id) : window.get(id);
      } catch (error) {
        return { duplicate: false, outcome: count(sharedStoreFailed(error)) };
      }
      if (seen) {
        counters.duplicates++;
        const at = new Date(seen.at).toISOString();
        return Promise.resolve({
          duplicate: true,
          outcome: { status: seen.status, code: seen.code, message: `messageId ${JSON.stringify(item.messageId)} already ended as ${seen.status} (${seen.code}) at ${at}; not sent again`, warnings: [], retryable: false },
        });
      }
      const joined = inflight.get(id);
      if (joined) {
        counters.duplicates++;
        return joined.then((outcome) => ({ duplicate: true, outcome }));
      }
    }
    counters.events++;
    // The handler failing on an event is a bug, not something a retry fixes: asking the client to retry
    // would bring the same event back forever (and refuse every batch holding it). Like the library's
    // engine failures, it ends internal_error, not retryable. Bad settings are fixed by the operator: retry.
    let claimed = false;
    const task = (async () => {
      // Another instance delivering the same messageId (a client's retry that reached another instance):
      // the client retries later and finds its outcome.
      if (id !== null && claims) {
        try {
          claimed = await claims.claim(id);
        } catch (error) {
          return sharedStoreFailed(error);
        }
        if (!claimed) return { status: "failed", code: "in_progress", message: `messageId ${JSON.stringify(item.messageId)} is being delivered by another instance; retry later`, warnings: [], retryable: true };
      }
      return run(item);
    })()
      .catch((error) => ({
        status: "failed",
        code: error?.code === "invalid_settings" ? "invalid_settings" : "internal_error",
        message: error?.code === "invalid_settings" ? error.message : `the handler failed on this event: ${error?.message ?? String(error)}`,
        warnings: [],
        retryable: error?.code === "invalid_settings",
      }))
      .then(async (outcome) => {
        if (id !== null && window) {
          inflight.delete(id);
          // An event that asks for a retry is not remembered: the retry must deliver it.
          try {
            if (!asksForRetry(outcome)) await window.remember(id, outcome);
            else if (claimed) await claims.release(id);
          } catch {
            // Redis failed to remember: a retry of this event may deliver it again (at least once)
          }
        }
        return count(outcome);
      });
    if (id !== null && window) inflight.set(id, task);
    pending.add(task);
    task.finally(() => pending.delete(task));
    return task.then((outcome) => ({ duplicate: false, outcome }));
  }

  function report(item, { outcome, duplicate }) {
    const messageId = isObject(item) && typeof item.messageId === "string" ? item.messageId : null;
    const type = isObject(item) && typeof item.type === "string" ? item.type : null;
    if (onOutcome) {
      try {
        onOutcome({ messageId, type, outcome, duplicate });
      } catch {
        // a callback's failure is not the event's
      }
    }
    const line = { messageId, type, status: outcome.status, code: outcome.code, message: outcome.message, warnings: outcome.warnings ?? [], retryable: asksForRetry(outcome) };
    if (duplicate) line.duplicate = true;
    return line;
  }

  // ---- HTTP ----

  function corsHeaders(request) {
    const origin = request.headers.get("origin");
    const headers = { "Access-Control-Expose-Headers": "Retry-After" };
    if (origins === "*") headers["Access-Control-Allow-Origin"] = origin ?? "*";
    else if (origin && origins.includes(origin)) headers["Access-Control-Allow-Origin"] = origin;
    if (origin) headers.Vary = "Origin";
    return headers;
  }

  function json(request, status, body, extra = {}) {
    return new Response(JSON.stringify(body), {
      status,
      headers: { "Content-Type": "application/json", "Cache-Control": "no-store", ...corsHeaders(request), ...extra },
    });
  }

  function shuttingDown(request) {
    return json(request, 503, { success: false, error: "shutting_down", message: "the server is shutting down; nothing was sent" }, { "Retry-After": String(retryAfterSeconds) });
  }

  function acceptedKey(key) {
    let ok = false;
    for (const candidate of keys) ok = sameText(candidate, key) || ok;
    return ok;
  }

  /**
   * The events of a parsed body, each `{item}` (merged, `writeKey` removed) or `{item, rejected}` (an
   * oversize item of a batch, with its outcome). Throws RequestError (400).
   */
  function eventsOf(route, body) {
    const strip = (item) => {
      if (!isObject(item) || !("writeKey" in item)) return item;
      const { writeKey: _, ...rest } = item;
      return rest;
    };
    let items;
    if (route.kind === "batch") {
      if (!Array.isArray(body.batch)) throw new RequestError(400, "invalid_batch", 'a batch body is {"batch": [events…]}: "batch" must be an array');
      if (body.batch.length > limits.batchEvents) {
        throw new RequestError(400, "batch_too_large", `the batch holds ${body.batch.length} events; at most ${limits.batchEvents} events per batch`, { limit: `${limits.batchEvents} events per batch`, events: body.batch.length });
      }
      items = body.batch;
    } else {
      items = [body];
    }
    return items.map((item, index) => {
      const size = byteLength(stringify(strip(item)));
      if (size > limits.eventBytes) {
        const messageId = isObject(item) && typeof item.messageId === "string" ? item.messageId : null;
        const message = `event ${index}${messageId ? ` (messageId ${JSON.stringify(messageId)})` : ""} is ${size} bytes; at most ${limits.eventBytes} bytes (32 KB) per event`;
        // A single event: the request is refused. An item of a batch: refused alone, reported invalid, so
        // that the good items beside it are not lost (Segment's clients drop a batch answered 400).
        if (route.kind !== "batch") throw new RequestError(400, "event_too_large", message, { limit: "32 KB per event", limitBytes: limits.eventBytes, index, messageId });
        return { item, rejected: { status: "invalid", code: "event_too_large", message: `${message}: not sent`, warnings: [], retryable: false } };
      }
      if (route.kind === "batch") return { item: strip(mergeBatchItem(item, body)) };
      // The path says what the call is (as in Segment's API).
      return { item: { ...strip(item), type: route.type } };
    });
  }

  function sharedStoreFailed(error) {
    return { status: "failed", code: "store_unavailable", message: `the shared store (Redis) failed: ${error?.message ?? String(error)}; nothing was sent`, warnings: [], retryable: true };
  }

  /** Queue mode: 200 once the events are in the queue (duplicates by messageId are not added again). */
  async function queued(request, items) {
    const accepted = items.filter((entry) => !entry.rejected);
    let duplicates;
    try {
      duplicates = await enqueue(accepted.map((entry) => entry.item));
    } catch (error) {
      return json(request, 503, { success: false, error: "queue_unavailable", message: `the events could not be queued (Redis: ${error?.message ?? String(error)}); nothing was queued, retry later` }, { "Retry-After": String(retryAfterSeconds) });
    }
    let next = 0;
    const lines = items.map(({ item, rejected }) => {
      if (rejected) return report(item, { outcome: rejected, duplicate: false });
      const duplicate = duplicates[next++];
      counters.events++;
      if (duplicate) counters.duplicates++;
      const line = {
        messageId: isObject(item) && typeof item.messageId === "string" ? item.messageId : null,
        type: isObject(item) && typeof item.type === "string" ? item.type : null,
        status: "queued",
        code: duplicate ? "duplicate" : "queued",
        message: duplicate ? "this messageId was queued already; not queued again" : "queued for delivery",
        warnings: [],
        retryable: false,
      };
      if (duplicate) line.duplicate = true;
      return line;
    });
    counters.outcomes.queued = (counters.outcomes.queued ?? 0) + accepted.length;
    return json(request, 200, { success: true, events: lines });
  }

  async function answer(request, waitUntil) {
    const url = new URL(request.url);
    let path = url.pathname.replace(/\/+$/, "") || "/";
    if (prefix) {
      if (path !== prefix && !path.startsWith(`${prefix}/`)) return { response: json(request, 404, { success: false, error: "not_found", message: `no such endpoint: ${path}` }), events: 0 };
      path = path.slice(prefix.length) || "/";
    }
    if (request.method === "OPTIONS") {
      const headers = {
        ...corsHeaders(request),
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": request.headers.get("access-control-request-headers") ?? "Content-Type, Authorization",
        "Access-Control-Max-Age": "86400",
      };
      return { response: new Response(null, { status: 204, headers }), events: 0 };
    }
    const route = ROUTES.get(path);
    if (!route) return { response: json(request, 404, { success: false, error: "not_found", message: `no such endpoint: ${path}` }), events: 0 };
    if (request.method !== "POST") {
      return { response: json(request, 405, { success: false, error: "method_not_allowed", message: `${path} accepts POST` }, { Allow: "POST, OPTIONS" }), events: 0 };
    }
    if (route.kind === "metrics") {
      // The browser library's own telemetry: accepted and ignored.
      return { response: json(request, 200, { success: true }), events: 0 };
    }
    if (closing) {
      return { response: shuttingDown(request), events: 0 };
    }

    const unauthorized = () => json(request, 401, { success: false, error: "unauthorized", message: "a valid write key is required (HTTP Basic with the write key as user name, or writeKey in the body); nothing was sent" }, { "WWW-Authenticate": 'Basic realm="segment"' });
    const authorization = request.headers.get("authorization");
    let headerKey = null;
    if (authorization !== null && authorization.trim() !== "") {
      headerKey = basicUser(authorization);
      if (headerKey === null || !acceptedKey(headerKey)) {
        return { response: unauthorized(), events: 0 };
      }
    }

    const text = await readBody(request, limits.requestBytes);
    if (text.trim() === "") throw new RequestError(400, "empty_body", "the request body is empty: send a JSON event or batch");
    let body;
    try {
      body = parse(text);
    } catch (error) {
      throw new RequestError(400, "malformed_json", `the request body is not valid JSON: ${error.message}`);
    }
    if (!isObject(body)) throw new RequestError(400, "invalid_body", "the request body must be a JSON object (an event, or a batch)");
    if (headerKey === null && !(typeof body.writeKey === "string" && acceptedKey(body.writeKey))) return { response: unauthorized(), events: 0 };

    const items = eventsOf(route, body);
    await ready; // bad settings: 500 invalid_settings, nothing accepted
    // close() may have begun while the body was read: an event dispatched now would only be cancelled
    // (and, in waitUntil mode, lost after a 200). No await from here to the dispatch below.
    if (closing) return { response: shuttingDown(request), events: 0 };
    // With nothing pending a request is always taken, or a batch larger than the limit would be refused
    // on every retry until the client gave its events up.
    if (pending.size > 0 && pending.size + items.filter((entry) => !entry.rejected).length > maxPendingEvents) {
      counters.shed++;
      return {
        response: json(request, 503, { success: false, error: "overloaded", message: `more than ${maxPendingEvents} events are being delivered; nothing was sent, retry later` }, { "Retry-After": String(retryAfterSeconds) }),
        events: items.length,
      };
    }

    if (enqueue) return { response: await queued(request, items), events: items.length };

    const deliveries = items.map(({ item, rejected }) => (rejected ? Promise.resolve({ outcome: rejected, duplicate: false }) : dispatch(item)).then((result) => report(item, result)));
    const all = Promise.all(deliveries);

    if (mode === "waitUntil") {
      if (waitUntil) waitUntil(all);
      return { response: json(request, 200, { success: true, accepted: items.length }), events: items.length };
    }

    let timer;
    const timedOut = new Promise((resolve) => {
      timer = setTimeout(() => resolve(null), responseTimeoutMs);
    });
    const lines = await Promise.race([all, timedOut]);
    clearTimeout(timer);
    if (lines === null) {
      // Deliveries go on; the client's retry joins them (or finds them done) by messageId.
      return {
        response: json(
          request,
          503,
          { success: false, error: "timeout", message: `the events' outcomes were not known within ${responseTimeoutMs} ms; they are still being delivered, and a retry with the same messageIds will not send them twice` },
          { "Retry-After": String(retryAfterSeconds) },
        ),
        events: items.length,
      };
    }
    const retry = lines.filter((line) => line.retryable);
    if (retry.length === 0) return { response: json(request, 200, { success: true, events: lines }), events: items.length };
    const throttled = retry.some((line) => line.code === "rate_limited");
    let after = retryAfterSeconds;
    if (throttled) {
      const hinted = retry.map((line) => Number(/Retry-After: ([0-9.]+)/.exec(line.message)?.[1])).filter(Number.isFinite);
      if (hinted.length) after = Math.min(DEFAULTS.maxRetryAfterSeconds, Math.max(1, Math.ceil(Math.max(...hinted))));
    }
    return {
      response: json(
        request,
        throttled ? 429 : 503,
        { success: false, error: throttled ? "rate_limited" : "retry", message: `${retry.length} of ${lines.length} event(s) failed in a way a retry can fix; the others will not be sent twice`, events: lines },
        { "Retry-After": String(after) },
      ),
      events: items.length,
    };
  }

  async function handler(request, ...rest) {
    const started = now();
    counters.requests++;
    const context = rest.find((arg) => arg && typeof arg.waitUntil === "function");
    const waitUntil = context ? (promise) => context.waitUntil(promise) : defaultWaitUntil;
    let result;
    try {
      result = await answer(request, waitUntil);
    } catch (error) {
      if (error instanceof RequestError) {
        counters.rejected++;
        result = { response: json(request, error.status, { success: false, error: error.error, message: error.message, ...error.extra }), events: 0 };
      } else if (error?.code === "invalid_settings") {
        result = { response: json(request, 500, { success: false, error: "invalid_settings", message: error.message }), events: 0 };
      } else {
        result = { response: json(request, 500, { success: false, error: "internal_error", message: `the handler failed: ${error?.message ?? String(error)}` }), events: 0 };
      }
    }
    // Whatever the answer (a refusal, a 404, telemetry), what is left of the body is read first, within
    // bounds: see drainBody. A body the handler read is locked and left alone.
    await drainBody(request.body, limits.requestBytes);
    if (onRequest) {
      try {
        onRequest(request, { method: request.method, path: new URL(request.url).pathname, status: result.response.status, events: result.events, durationMs: now() - started });
      } catch {
        // a callback's failure is not the request's
      }
    }
    return result.response;
  }

  /** Resolves once every event accepted so far has its outcome. */
  async function drain() {
    while (pending.size > 0) await Promise.allSettled([...pending]);
  }

  handler.ready = ready.then(() => undefined);
  handler.ready.catch(() => {}); // a rejection nobody awaits must not end the process (or a sandbox)
  handler.limits = Object.freeze({ ...limits });
  handler.drain = drain;
  handler.stats = () => ({ ...counters, outcomes: { ...counters.outcomes }, pending: pending.size, inflight: inflight.size, remembered: window?.size ?? 0 });
  let graceOver = false;
  let endGrace = () => {};
  /**
   * Stops accepting events (new requests get 503 + Retry-After), lets deliveries in progress finish within
   * `timeoutMs` (then they end as failed/cancelled, and their requests get 503), and closes the destination.
   */
  handler.close = ({ timeoutMs = DEFAULTS.closeTimeoutMs } = {}) => {
    // A later call with timeoutMs 0 (a second SIGTERM or Ctrl-C) cuts the grace of the first one short.
    if (closing && timeoutMs <= 0) {
      graceOver = true;
      endGrace();
    }
    flushGathered(); // events waiting for their batch window go now
    closing ??= (async () => {
      let destination = null;
      try {
        destination = await ready;
      } catch {
        return;
      }
      let timer;
      const grace = new Promise((resolve) => {
        endGrace = resolve;
        if (graceOver) resolve();
        else timer = setTimeout(resolve, timeoutMs);
      });
      await Promise.race([drain(), grace]);
      clearTimeout(timer);
      await destination.close({ timeoutMs: 0 });
      await drain();
      await shared?.close();
    })();
    return closing;
  };
  return handler;
}
