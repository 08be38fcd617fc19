// zendesk-destination: Segment identify/track/group events to Zendesk.
//
// The engine (WebAssembly) decides every request and every outcome; this host performs the requests with
// `fetch` and owns everything that needs a clock or a socket: timeouts, retries, pacing, ordering, OAuth
// refresh and shutdown. The same code runs in Node ≥ 20, browsers and edge runtimes (no Node imports).
import { letGo, readText } from "./host/body.js";
import { stringify } from "./host/json.js";
import { CLIENT_CREDENTIALS_PENDING, isInvalidToken, TokenRefresher } from "./host/oauth.js";
import { eventKeys, KeyedLocks, Limiter } from "./host/ordering.js";
import { Pacer } from "./host/pacing.js";
import { redactRequest } from "./host/redact.js";
import { Stopper } from "./host/stopper.js";
import { backoffDelay, classify, header, parseRetryAfter, retryPolicy } from "./host/retry.js";

export { redactHeaders, redactRequest } from "./host/redact.js";
export { eventKeys } from "./host/ordering.js";

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_CONCURRENCY = 8;
const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;
// The most the host reads of one answer, after decompression. Zendesk's largest page (100 records) is a
// few hundred KB; a body beyond this is a broken or hostile server, and reading it whole would take the
// process's memory (gzip turns 0.5 MB on the wire into 200 MB) and trap the engine that parses it.
export const DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;
const DEFAULT_BATCH_SIZE = 1000;
const BATCHES_AT_ONCE = 2;
const NOT_SENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ENETUNREACH", "EHOSTUNREACH", "UND_ERR_CONNECT_TIMEOUT"]);

/** Code of the outcome an event gets when the destination is closed before the event finished. */
export const CANCELLED = "cancelled";
/**
 * Code of the outcome an event gets when the runtime, not `close()`, cut its delivery short: a wait or a
 * request of the host failed in a way no answer explains (Cloudflare Workers end the promises of a request
 * that has ended). Retryable: the event itself is fine.
 */
export const INTERRUPTED = "interrupted";

/** Thrown (rejected) by `createDestination` for bad settings. `errors` lists `{key, code, message}`. */
export class SettingsError extends Error {
  constructor(message, errors) {
    super(message);
    this.name = "SettingsError";
    this.code = "invalid_settings";
    this.errors = errors;
  }
}

class Cancelled extends Error {
  constructor() {
    super("cancelled");
    this.name = "Cancelled";
  }
}

/** Ends the event with a host outcome (a redirect, an oversize answer): nothing the engine can decide. */
class HostFailure extends Error {
  constructor(code, message, { retryable = true } = {}) {
    super(message);
    this.name = "HostFailure";
    this.code = code;
    this.retryable = retryable;
  }
}

/** The engine failed on this event (it threw or trapped); `instance` is the Destination that failed. */
class EngineFailure extends Error {
  constructor(cause, instance) {
    super(String(cause?.message ?? cause));
    this.name = "EngineFailure";
    this.instance = instance;
  }
}

/** An answer's body as text, reading at most `limit` bytes (decompressed); throws HostFailure beyond it. */
async function readCapped(response, limit, describe) {
  const tooLarge = () =>
    new HostFailure("response_too_large", `${describe()} answered a body larger than ${limit} bytes (decompressed); the host reads at most that much of an answer, so the event was ended`);
  if (typeof response.body?.getReader !== "function") {
    // A fetch whose Response has no stream (some test doubles, old polyfills): read it, then check.
    const text = typeof response.text === "function" ? await response.text() : "";
    if (text.length > limit) throw tooLarge();
    return text;
  }
  const text = await readText(response.body, limit);
  if (text === null) {
    letGo(response.body);
    throw tooLarge();
  }
  return text;
}

/** `https://proxy.example.com/zendesk/api/v2/users` → "/zendesk": the path a baseUrl puts before Zendesk's. */
function pathPrefix(url) {
  const path = new URL(url).pathname;
  for (const marker of ["/api/v2/", "/oauth/"]) {
    const at = path.indexOf(marker);
    if (at >= 0) return path.slice(0, at);
  }
  return "";
}

/** A wait or request of the host failed without an answer or a close(): the runtime cut it short. */
class HostInterrupted extends Error {
  constructor(cause) {
    super("interrupted", { cause });
    this.name = "HostInterrupted";
  }
}

function defaultSleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

// Loaded on first use (not a static import) so that the host works with an injected engine, too.
// "#engine" is the runtime's own entry, picked by the package's `imports` conditions (engine-node.js on
// Node, engine-workerd.js on Workers, engine.js elsewhere). A browser loading these files unbundled has
// no package.json to ask: it cannot resolve "#engine" (a TypeError) and takes the web entry.
async function engineEntry() {
  try {
    return await import("#engine");
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return import("./engine.js");
  }
}

async function engineBindings(source) {
  return (await engineEntry()).loadEngine(source);
}

async function freshEngineBindings(source) {
  return (await engineEntry()).freshEngine(source);
}

function settingsError(thrown) {
  const errors = Array.isArray(thrown?.errors) ? thrown.errors.map((e) => ({ key: e.key, code: e.code, message: e.message })) : [];
  const message = errors.length
    ? `invalid settings: ${errors.map((e) => (e.message && (!e.key || String(e.message).includes(e.key)) ? e.message : `${e.key}: ${e.message}`)).join("; ")}`
    : `invalid settings: ${thrown?.message ?? String(thrown)}`;
  return new SettingsError(message, errors);
}

/**
 * With `oauthClient`, settings need no credentials of their own: the engine gets a stand-in bearer token
 * that the host replaces with the client-credentials token before any request goes out.
 */
function withClientCredentials(settings, options) {
  if (!options.oauthClient) return settings;
  let value = settings;
  if (typeof settings === "string") {
    try {
      value = JSON.parse(settings);
    } catch {
      return settings; // the engine reports the unreadable settings
    }
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) return settings;
  const hasOwn = ["oauthToken", "email", "password"].some((key) => value[key] !== undefined);
  return hasOwn ? value : { ...value, oauthToken: CLIENT_CREDENTIALS_PENDING };
}

function hostOutcome(code, message, { retryable = true, status = "failed", warnings = [] } = {}) {
  return { status, code, message, warnings, retryable, mapping: [] };
}

/**
 * Checks settings without building a destination.
 * @returns {Promise<{key: string, code: string, message: string}[]>} empty when the settings are usable
 */
export async function validateSettings(settings, options = {}) {
  const engine = options.engine ?? (await engineBindings(options.wasm));
  return engine.validateSettings(settings);
}

/**
 * Builds a destination. Resolves once the engine is loaded and the settings are checked; rejects with a
 * `SettingsError` (`code: "invalid_settings"`, `errors: [{key, code, message}]`) for bad settings.
 */
export async function createDestination(settings, options = {}) {
  const engine = options.engine ?? (await engineBindings(options.wasm));
  settings = withClientCredentials(settings, options);
  let destination;
  try {
    destination = new engine.Destination(settings);
  } catch (thrown) {
    throw settingsError(thrown);
  }
  if (options.redis === undefined || options.redis === null || options.redis === "") return new ZendeskDestination(engine, destination, settings, options);
  // Shared state (docs/scale-out.md): loaded only when asked for, so browsers and edge runtimes never see it.
  let shared;
  try {
    const module = "./scale/shared.js"; // a specifier bundlers leave alone: Node-only, and only needed here
    const { sharedState } = await import(module);
    const fetchImpl = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
    shared = await sharedState(options.redis, settings, { redisPrefix: options.redisPrefix, fetch: fetchImpl, oauth: options.oauthRefresh ?? options.oauthClient });
  } catch (error) {
    destination.free?.();
    throw error;
  }
  return new ZendeskDestination(engine, destination, settings, { ...options, fetch: shared.fetch, shared });
}

export class ZendeskDestination {
  #engine;
  #destination;
  #settings;
  #fetch;
  #now;
  #sleep;
  #random;
  #timeoutMs;
  #policy;
  #logger;
  #pacer;
  #locks = new KeyedLocks();
  #oauth = null;
  #shared = null;
  #concurrency;
  #pollDelayScale;
  #closing = new Stopper(); // close(): events that have not started are cancelled
  #stopping = new Stopper(); // grace over: requests and waits in progress are abandoned
  #pending = new Set();
  #planDestinations = new WeakMap();
  #stats = { events: 0, outcomes: {}, requests: 0, retries: 0, rateLimited: 0, timeouts: 0, networkErrors: 0, uncertain: 0, refreshes: 0 };
  #closed = null;
  #maxResponseBytes;
  #replaceEngine;
  #replacing = null; // a trapped engine being replaced: later events wait for the new one
  #failed = new WeakSet(); // Destinations whose engine instance failed: never used again

  constructor(engine, destination, settings, options = {}) {
    this.#engine = engine;
    this.#destination = destination;
    this.#settings = settings;
    this.#maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    if (!(this.#maxResponseBytes > 0)) throw new TypeError("options.maxResponseBytes must be a number > 0");
    // After an engine failure the instance is not trusted again: a fresh one (its own memory) replaces
    // it. An injected engine cannot be loaded twice: a new Destination of it is the best there is.
    this.#replaceEngine = options.engine ? async () => options.engine : () => freshEngineBindings(options.wasm);
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== "function") throw new TypeError("options.fetch must be a function (no global fetch here)");
    // Browsers and Workers throw "Illegal invocation" when their fetch is called as another object's method.
    this.#fetch = options.fetch ? fetchImpl : (url, init) => fetchImpl.call(globalThis, url, init);
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? defaultSleep;
    this.#random = options.random ?? Math.random;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#policy = retryPolicy(options.retry);
    this.#logger = typeof options.logger === "function" ? options.logger : null;
    this.#concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    // The engine's own waits (polling background jobs) are in real milliseconds; a simulator running
    // faster than real time wants them shorter by the same factor.
    this.#pollDelayScale = options.pacing?.engineDelayScale ?? 1;
    const clock = {
      now: this.#now,
      sleep: (ms) => this.#wait(ms),
      // Zendesk allows 1 per second; 1.1 s leaves room for network jitter. A simulator running faster
      // than real time wants less.
      singleUserWriteIntervalMs: options.pacing?.singleUserWriteIntervalMs ?? 1100,
    };
    // With `redis`, the budget, the OAuth pair and what the engine learns are shared (./scale/shared.js).
    this.#shared = options.shared ?? null;
    this.#pacer = this.#shared ? this.#shared.pacer({ ...clock, log: (entry) => this.#log(entry) }) : new Pacer(clock);
    if (options.oauthRefresh && options.oauthClient) throw new TypeError("give oauthRefresh or oauthClient, not both");
    if (options.oauthRefresh || options.oauthClient) {
      const credentials = options.oauthClient ?? options.oauthRefresh;
      const host = {
        grant: options.oauthClient ? "client_credentials" : "refresh_token",
        fetchOnce: (request) => this.#fetchOnce(request),
        onTokens: options.onTokens,
        log: (entry) => this.#log(entry),
        now: this.#now,
      };
      this.#oauth = this.#shared ? this.#shared.tokens(credentials, host) : new TokenRefresher(credentials, host);
    }
  }

  /** Delivers one event (a value or JSON text). Never rejects: every failure is an outcome. */
  deliver(event) {
    return this.#schedule(event, null);
  }

  /**
   * Delivers events, outcomes in input order. By default the events go in batches of `batchSize` (1000)
   * that the engine plans together (bulk jobs, batched lookups; see docs/engine-api.md); `batch: false`
   * sends them one conversation each. Either way, events touching the same user or organization keep
   * their input order, and up to `concurrency` (default 8) requests or events are in flight at once.
   * `onOutcome(outcome, index)` is called as each event (or batch) finishes. `onEnded(index, outcome)`
   * (internal, for the edge) is called as an event of an engine batch ends before its batch does, with
   * the very outcome its batch will give it (#converseBatch).
   */
  deliverAll(events, { concurrency = this.#concurrency, onOutcome, onEnded, batch = true, batchSize = DEFAULT_BATCH_SIZE } = {}) {
    const limiter = new Limiter(concurrency);
    const list = Array.from(events);
    const report = (outcome, index) => {
      if (onOutcome) {
        try {
          onOutcome(outcome, index);
        } catch (error) {
          this.#log({ type: "callback_error", callback: "onOutcome", message: String(error?.message ?? error) });
        }
      }
      return outcome;
    };
    if (!batch || typeof this.#destination.beginBatch !== "function" || list.length < 2) {
      return Promise.all(list.map((event, index) => this.#schedule(event, limiter).then((outcome) => report(outcome, index))));
    }
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new TypeError("batchSize must be an integer ≥ 1");
    const batches = [];
    // Two batches at a time: the next one plans and looks up while the last one's jobs run; more would
    // only queue behind Zendesk's 30 jobs. Later batches wait their turn (and are cancelled by close()).
    const turns = new Limiter(BATCHES_AT_ONCE);
    for (let start = 0; start < list.length; start += batchSize) {
      const part = list.slice(start, start + batchSize);
      const ended = onEnded && ((index, outcome) => onEnded(start + index, outcome));
      batches.push(
        this.#scheduleBatch(part, limiter, turns, ended).then((outcomes) => outcomes.map((outcome, i) => report(outcome, start + i))),
      );
    }
    return Promise.all(batches).then((parts) => parts.flat());
  }

  /**
   * The dry run: the whole conversation for `event` against an in-memory simulated account, nothing sent.
   * `account` is seed data for a fresh simulator (`{users, organizations, memberships, userFields,
   * organizationFields}`), or a simulator from `createSimulator()` to carry state from one plan to the next.
   * @returns {Promise<{outcome, requests: {request, response}[]}>} requests with Authorization redacted
   */
  async plan(event, { account } = {}) {
    let simulator = account;
    if (!simulator || typeof simulator.handle !== "function") {
      const { createSimulator } = await import("./simulator.js");
      simulator = createSimulator(this.#planSimulatorOptions());
      if (account) simulator.seed(account);
    }
    const destinationFor = async () => {
      let destination = this.#planDestinations.get(simulator);
      if (!destination || this.#failed.has(destination)) {
        if (this.#replacing) await this.#replacing;
        destination = new this.#engine.Destination(this.#settings);
        this.#planDestinations.set(simulator, destination);
      }
      return destination;
    };
    const requests = [];
    const outcome = await this.#converse(event, destinationFor, async (request) => {
      // A baseUrl with a path (a proxy: https://proxy.example.com/zendesk) puts it before Zendesk's paths;
      // the simulated account is Zendesk itself, so it gets the path without it, and its answers' own
      // URLs (next_page, url) get it back, as the proxy's would.
      const prefix = pathPrefix(request.url);
      const url = new URL(request.url);
      const inner = prefix ? `${url.origin}${url.pathname.slice(prefix.length)}${url.search}` : request.url;
      const response = await simulator.handle({ ...request, url: inner, headers: { ...request.headers } });
      const restore = (text) => (prefix && typeof text === "string" ? text.split(`${url.origin}/api/v2/`).join(`${url.origin}${prefix}/api/v2/`) : text);
      const headers = {};
      for (const [key, value] of Object.entries(response.headers ?? {})) headers[key] = restore(value);
      const answer = { status: response.status, headers, body: restore(response.body ?? "") };
      requests.push({ request: redactRequest(request), response: answer });
      return answer;
    });
    return { outcome, requests };
  }

  /**
   * The dry run of a batch: `events` planned together as `deliverAll` would send them (one engine batch)
   * against an in-memory simulated account (`account` as for `plan`), nothing sent.
   * @returns {Promise<{outcomes, requests: {request, response}[], jobs: {path, events: number[]}[]}>}
   *   requests in the order they were sent, Authorization redacted; `jobs` say which events (input
   *   positions) went in which background job
   */
  async planBatch(events, { account } = {}) {
    const list = Array.from(events);
    let simulator = account;
    if (!simulator || typeof simulator.handle !== "function") {
      const { createSimulator } = await import("./simulator.js");
      simulator = createSimulator(this.#planSimulatorOptions());
      if (account) simulator.seed(account);
    }
    let destination = this.#planDestinations.get(simulator);
    if (!destination) {
      destination = new this.#engine.Destination(this.#settings);
      this.#planDestinations.set(simulator, destination);
    }
    if (typeof destination.beginBatch !== "function") {
      const plans = [];
      for (const event of list) plans.push(await this.plan(event, { account: simulator }));
      return { outcomes: plans.map((p) => p.outcome), requests: plans.flatMap((p) => p.requests), jobs: [] };
    }
    const requests = [];
    let jobs = [];
    const outcomes = await this.#converseBatch(list, async () => destination, new Limiter(1), async (request) => {
      const response = await simulator.handle({ ...request, headers: { ...request.headers } });
      const answer = { status: response.status, headers: { ...(response.headers ?? {}) }, body: response.body ?? "" };
      requests.push({ request: redactRequest(request), response: answer });
      return answer;
    }, { onDone: (step) => (jobs = step.jobs ?? []), waits: false }); // the dry run's jobs finish on their first poll
    return { outcomes, requests, jobs };
  }

  /** Counters since creation: events, outcomes by status, requests, retries, rate-limited answers, … */
  stats() {
    return { ...this.#stats, outcomes: { ...this.#stats.outcomes }, refreshes: this.#oauth?.refreshes ?? 0, pacedMs: this.#pacer.pacedMs, pending: this.#pending.size };
  }

  /**
   * Graceful shutdown. Events not yet started get the `cancelled` outcome at once; events in progress
   * may finish within `timeoutMs` (default 10 s), after which their requests are abandoned and they get
   * the `cancelled` outcome too. Resolves when every event has its outcome. Later calls to `deliver`
   * resolve to `cancelled` immediately.
   */
  close({ timeoutMs = DEFAULT_CLOSE_TIMEOUT_MS } = {}) {
    // A second call with timeoutMs 0 (a second Ctrl-C) cuts the grace period short.
    if (this.#closed && timeoutMs <= 0) this.#stopping.abort(new Cancelled());
    this.#closed ??= (async () => {
      this.#closing.abort(new Cancelled());
      const all = Promise.allSettled([...this.#pending]);
      if (this.#pending.size > 0 && timeoutMs > 0) {
        const grace = new AbortController();
        await Promise.race([all, this.#sleep(timeoutMs, grace.signal).catch(() => {})]);
        grace.abort();
      }
      this.#stopping.abort(new Cancelled());
      await all;
      await this.#replacing;
      if (!this.#failed.has(this.#destination)) {
        try {
          this.#destination.free?.();
        } catch {
          // freeing is best effort; close() resolves regardless
        }
      }
      await this.#shared?.close();
    })();
    return this.#closed;
  }

  /** Same as `close()`. */
  stop(options) {
    return this.close(options);
  }

  // ---- scheduling ----

  #schedule(event, limiter) {
    this.#stats.events++;
    if (this.#closing.aborted) {
      return Promise.resolve(this.#count(hostOutcome(CANCELLED, "the destination was closed before this event was delivered; it was not sent")));
    }
    let keys = [];
    try {
      keys = eventKeys(event);
    } catch {
      // a throwing getter: the event is refused as unreadable below, it touches nobody
    }
    const lock = this.#locks.acquire(keys);
    const task = (async () => {
      let release = null;
      try {
        await this.#closing.race(lock.ready);
        if (limiter) {
          const link = this.#closing.link();
          try {
            release = await limiter.acquire(link.signal);
          } finally {
            link.release();
          }
        }
      } catch (error) {
        lock.release();
        if (this.#closing.aborted) return this.#count(hostOutcome(CANCELLED, "the destination was closed before this event was delivered; it was not sent"));
        return this.#count(hostOutcome(INTERRUPTED, `the runtime cut this event short while it waited for its turn (${error?.message ?? String(error)}); it was not sent: retry it`));
      }
      try {
        await this.#learned("pull");
        const outcome = await this.#converse(event, () => this.#liveDestination(), (request, context) => this.#perform(request, context));
        await this.#learned("push");
        return this.#count(outcome);
      } catch (error) {
        // #converse turns every failure into an outcome; this is the last guard of "never rejects".
        return this.#count(hostOutcome("internal_error", `the host failed on this event: ${error?.message ?? String(error)}`, { retryable: false }));
      } finally {
        release?.();
        lock.release();
      }
    })();
    this.#pending.add(task);
    const forget = () => this.#pending.delete(task);
    task.then(forget, forget); // not task.finally(): its copy of a rejection would go unhandled
    return task;
  }

  /** One engine batch: waits for earlier events sharing any key, then runs it. */
  #scheduleBatch(events, limiter, turns, onEnded) {
    this.#stats.events += events.length;
    const cancelled = () => events.map(() => this.#count(hostOutcome(CANCELLED, "the destination was closed before this event was delivered; it was not sent")));
    if (this.#closing.aborted) return Promise.resolve(cancelled());
    const keys = new Set();
    for (const event of events) {
      try {
        for (const key of eventKeys(event)) keys.add(key);
      } catch {
        // a throwing getter: refused as unreadable by #converseBatch
      }
    }
    const lock = this.#locks.acquire([...keys]);
    const task = (async () => {
      let turn = null;
      try {
        await this.#closing.race(lock.ready);
        const link = this.#closing.link();
        try {
          turn = await turns.acquire(link.signal);
        } finally {
          link.release();
        }
      } catch (error) {
        lock.release();
        if (this.#closing.aborted) return cancelled();
        return events.map(() => this.#count(hostOutcome(INTERRUPTED, `the runtime cut this event short while it waited for its turn (${error?.message ?? String(error)}); it was not sent: retry it`)));
      }
      try {
        await this.#learned("pull");
        const outcomes = await this.#converseBatch(events, () => this.#liveDestination(), limiter, (request, context) => this.#perform(request, context), { onEnded });
        await this.#learned("push");
        return outcomes.map((outcome) => this.#count(outcome));
      } finally {
        turn?.();
        lock.release();
      }
    })();
    this.#pending.add(task);
    const forget = () => this.#pending.delete(task);
    task.then(forget, forget);
    return task;
  }

  /**
   * Runs one engine batch conversation: starts each request the engine hands out (after its `delayMs`,
   * within `limiter`), answers the engine as each one finishes, in whatever order they finish.
   * `onEnded(index, outcome)` hears each event the engine reports ended before the batch is done.
   */
  async #converseBatch(events, destinationFor, limiter, perform, { onDone = null, waits = true, onEnded = null } = {}) {
    const refused = new Map(); // index -> outcome for events that cannot become JSON
    const texts = events.map((event, index) => {
      if (typeof event === "string") return event;
      try {
        return stringify(event);
      } catch (error) {
        refused.set(index, hostOutcome("invalid_event", `the event cannot be read as JSON: ${error?.message ?? String(error)}`, { status: "invalid", retryable: false }));
        return "null";
      }
    });
    const context = { warnings: [], sent: 0 };
    // A request the host itself ended (a redirect, an oversize answer) reaches the engine as "no answer"
    // carrying a token; the outcomes that name the token get the host's code and message.
    const hostFailures = [];
    const finished = []; // {id, answer} in the order requests finish
    // The host's version of an engine outcome: a refused event's own, a host failure's code, the batch's
    // warnings so far (each names a request that finished before the event ended: its own among them).
    const hostVersion = (outcome, index) => {
      if (refused.has(index)) return refused.get(index);
      const failure = hostFailures.find(({ token }) => String(outcome.message).includes(token));
      const copy = failure ? hostOutcome(failure.error.code, `${failure.error.message}.`, { retryable: failure.error.retryable, warnings: outcome.warnings ?? [] }) : { ...outcome };
      if (context.warnings.length) copy.warnings = [...(copy.warnings ?? []), ...context.warnings.map((w) => `a request of this batch: ${w}`)];
      return copy;
    };
    // Events that ended before their batch: that outcome is final, whatever happens to the batch later
    // (a later warning names another event's request; close() or a trap cannot undo writes that landed).
    const settled = new Map(); // index -> outcome
    const settle = (ended) => {
      for (const { index, outcome } of ended ?? []) {
        if (settled.has(index)) continue;
        const final = hostVersion(outcome, index);
        settled.set(index, final);
        try {
          onEnded?.(index, final);
        } catch (error) {
          this.#log({ type: "callback_error", callback: "onEnded", message: String(error?.message ?? error) });
        }
      }
    };
    let wake = null;
    const delayScale = this.#pollDelayScale;
    let destination = null;
    let batch;
    let inFlight = 0;
    const engine = this.#engineCalls(() => destination);
    try {
      destination = await destinationFor();
      batch = engine(() => destination.beginBatch(texts, this.#now()));
      let step = engine(() => batch.step());
      while (step.kind === "requests") {
        settle(step.ended);
        for (const { id, request, delayMs } of step.requests) {
          inFlight++;
          (async () => {
            let answer;
            try {
              if (delayMs > 0 && waits) await this.#wait(delayMs * delayScale);
              const link = this.#stopping.link();
              let release;
              try {
                release = await limiter.acquire(link.signal);
              } finally {
                link.release();
              }
              try {
                answer = { answer: await perform(request, context) };
              } finally {
                release();
              }
            } catch (error) {
              if (error instanceof HostFailure) {
                const token = `host-failure-${hostFailures.length}`;
                hostFailures.push({ token, error });
                answer = { answer: { status: 0, error: token } };
              } else answer = { error: error instanceof Cancelled ? error : new HostInterrupted(error) }; // see #converse
            }
            finished.push({ id, ...answer });
            wake?.();
          })();
        }
        if (inFlight === 0) break;
        while (finished.length === 0) await new Promise((resolve) => (wake = resolve));
        wake = null;
        const next = finished.shift();
        inFlight--;
        if (next.error) throw next.error;
        step = engine(() => batch.respond(next.id, next.answer));
      }
      for (const notice of step.notices ?? []) this.#log({ type: "notice", message: notice });
      onDone?.(step);
      return (step.outcomes ?? []).map((outcome, index) => settled.get(index) ?? hostVersion(outcome, index));
    } catch (error) {
      const landed = context.sent > 0 ? ` ${context.sent} request(s) of its batch had been sent and may have landed.` : "";
      // The failure is the outcome of the events still in progress; those that ended keep theirs.
      const rest = (outcome) => events.map((_, index) => settled.get(index) ?? outcome());
      if (error instanceof Cancelled || this.#stopping.aborted) {
        return rest(() => hostOutcome(CANCELLED, `the destination was closed while this event was being delivered.${landed}`));
      }
      if (error instanceof HostFailure) return rest(() => hostOutcome(error.code, `${error.message}.${landed}`, { retryable: error.retryable }));
      if (error instanceof HostInterrupted) {
        const cause = error.cause?.message ?? String(error.cause);
        return rest(() => hostOutcome(INTERRUPTED, `the runtime cut this event's delivery short (${cause}): retry it.${landed}`));
      }
      if (error instanceof EngineFailure && error.instance === null) {
        return rest(() => hostOutcome("internal_error", `the engine failed on another event and was replaced while this batch was in progress; retry it.${landed}`));
      }
      this.#log({ type: "engine_error", message: String(error?.message ?? error) });
      if (error instanceof EngineFailure) this.#engineFailed(error.instance);
      return rest(() => hostOutcome("internal_error", `the engine failed on this batch: ${error?.message ?? String(error)}.${landed}`, { retryable: false }));
    } finally {
      // A failed instance is never called again, not even to free (that would throw, too).
      if (batch && !this.#failed.has(destination)) {
        try {
          batch.free?.();
        } catch {
          // freeing is best effort; the outcomes stand
        }
      }
    }
  }

  #count(outcome) {
    const status = outcome?.status ?? "unknown";
    this.#stats.outcomes[status] = (this.#stats.outcomes[status] ?? 0) + 1;
    return outcome;
  }

  /**
   * Runs one engine conversation; `perform(request, context)` answers each request. `destinationFor()`
   * resolves to the engine Destination to use.
   */
  async #converse(event, destinationFor, perform) {
    let input;
    try {
      input = typeof event === "string" ? event : stringify(event);
    } catch (error) {
      // A cyclic object, a throwing getter or toJSON, a number JSON cannot hold: not an event, and not a
      // reason to reject (or, through an unhandled rejection, to end the process).
      return hostOutcome("invalid_event", `the event cannot be read as JSON: ${error?.message ?? String(error)}`, { status: "invalid", retryable: false });
    }
    const context = { warnings: [], sent: 0 };
    let destination = null;
    let conversation;
    const engine = this.#engineCalls(() => destination);
    try {
      destination = await destinationFor();
      conversation = engine(() => destination.begin(input, this.#now()));
      let step = engine(() => conversation.step());
      while (step.kind === "request") {
        let answer;
        try {
          answer = await perform(step.request, context);
        } catch (error) {
          // The host's own endings pass; anything else failed without an answer or a close().
          throw error instanceof Cancelled || error instanceof HostFailure ? error : new HostInterrupted(error);
        }
        step = engine(() => conversation.respond(answer));
      }
      const outcome = { ...step.outcomes[0] };
      if (context.warnings.length) outcome.warnings = [...(outcome.warnings ?? []), ...context.warnings];
      return outcome;
    } catch (error) {
      const landed = context.sent > 0 ? ` ${context.sent} request(s) had been sent and may have landed.` : "";
      if (error instanceof Cancelled) {
        return hostOutcome(CANCELLED, `the destination was closed while this event was being delivered.${landed}`, { warnings: context.warnings });
      }
      if (error instanceof HostFailure) return hostOutcome(error.code, `${error.message}.${landed}`, { retryable: error.retryable, warnings: context.warnings });
      if (error instanceof HostInterrupted) {
        const cause = error.cause?.message ?? String(error.cause);
        return hostOutcome(INTERRUPTED, `the runtime cut this event's delivery short (${cause}): retry it.${landed}`, { warnings: context.warnings });
      }
      if (error instanceof EngineFailure && error.instance === null) {
        // Not this event's fault: another event broke the engine instance this one was using.
        return hostOutcome("internal_error", `the engine failed on another event and was replaced while this event was in progress; retry it.${landed}`, { warnings: context.warnings });
      }
      this.#log({ type: "engine_error", message: String(error?.message ?? error) });
      if (error instanceof EngineFailure) this.#engineFailed(error.instance);
      return hostOutcome("internal_error", `the engine failed on this event: ${error?.message ?? String(error)}.${landed}`, { retryable: false, warnings: context.warnings });
    } finally {
      // A failed instance is never called again, not even to free (that would throw, too).
      if (conversation && !this.#failed.has(destination)) {
        try {
          conversation.free?.();
        } catch {
          // freeing is best effort; the outcome stands
        }
      }
    }
  }

  // ---- engine failures ----

  /** The Destination for the next event: a replacement once the current one has failed. */
  /** With Redis: takes in what other destinations of the account learned ("pull"), or shares what this one did ("push"). */
  async #learned(direction) {
    const destination = this.#destination;
    if (!this.#shared || this.#replacing || this.#failed.has(destination)) return;
    await this.#shared.learned[direction](destination);
  }

  async #liveDestination() {
    for (let attempt = 0; attempt < 2; attempt++) {
      if (this.#replacing) await this.#replacing;
      if (!this.#failed.has(this.#destination)) return this.#destination;
      this.#engineFailed(this.#destination);
    }
    throw new HostFailure("internal_error", "the engine failed earlier and could not be replaced");
  }

  /** Marks `destination` failed; when it is the one events use, starts replacing its engine instance. */
  #engineFailed(destination) {
    if (!destination) return;
    this.#failed.add(destination);
    if (destination !== this.#destination || this.#replacing) return;
    this.#replacing = (async () => {
      try {
        const engine = await this.#replaceEngine();
        const replacement = new engine.Destination(this.#settings);
        this.#engine = engine;
        this.#destination = replacement;
        this.#log({ type: "engine_replaced" });
      } catch (error) {
        this.#log({ type: "engine_error", message: `the engine could not be replaced: ${String(error?.message ?? error)}` });
      } finally {
        this.#replacing = null;
      }
    })();
  }

  /**
   * The gate every call into the engine goes through, for the destination `current()` names: a throw (a
   * trap) marks that instance failed, and an instance marked failed by another event is not called again.
   */
  #engineCalls(current) {
    return (call) => {
      const destination = current();
      if (this.#failed.has(destination)) throw new EngineFailure("the engine failed on another event and was replaced", null);
      try {
        return call();
      } catch (error) {
        throw new EngineFailure(error, destination);
      }
    };
  }

  // ---- one request: pacing, retries, OAuth ----

  async #perform(request, context) {
    const policy = this.#policy;
    const started = this.#now();
    let failures = 0; // attempts that failed with 5xx/409/timeout/network
    let rateLimited = 0;
    let refreshed = false;
    for (let attempt = 1; ; attempt++) {
      if (this.#oauth) await this.#oauth.prepare(request);
      await this.#pacer.before(request);
      const sent = this.#oauth ? this.#oauth.authorize(request) : request;
      context.sent++;
      const answer = await this.#fetchOnce(sent);
      await this.#pacer.after(request, answer);

      if (this.#oauth && !refreshed && isInvalidToken(answer)) {
        refreshed = true;
        const authorization = header(sent.headers, "authorization");
        if (await this.#oauth.refresh(request, authorization)) continue;
        return this.#forEngine(answer);
      }

      const kind = classify(request, answer, policy);
      if (kind === "done") return this.#forEngine(answer);
      if (kind === "uncertain") {
        this.#stats.uncertain++;
        const what = answer.status !== 0 ? `was answered ${answer.status} (which does not say whether it landed)` : answer.error === "timeout" ? "timed out" : "lost its connection";
        const warning = `${request.method} ${new URL(request.url).pathname} ${what} and was not retried: it writes a new record each time, and it may have landed`;
        context.warnings.push(warning);
        this.#log({ type: "not_retried", method: request.method, url: request.url, ...(answer.status ? { status: answer.status } : { error: answer.error }), attempt });
        return this.#forEngine(answer);
      }

      let delayMs;
      if (kind === "rate_limited") {
        this.#stats.rateLimited++;
        rateLimited++;
        delayMs = parseRetryAfter(header(answer.headers, "retry-after"), this.#now(), policy.maxRetryAfterMs) ?? backoffDelay(rateLimited, policy, this.#random);
        // 429s don't use up maxAttempts (nothing was written); they are bounded by maxTotalMs, and by
        // 10 × maxAttempts as a backstop against a server that answers 429 forever with Retry-After: 0.
        if (rateLimited >= policy.maxAttempts * 10) return this.#forEngine(answer);
      } else {
        failures++;
        if (failures >= policy.maxAttempts) return this.#forEngine(answer);
        delayMs = backoffDelay(failures, policy, this.#random);
        // 503 with Retry-After is a transient database timeout: wait at least that long.
        const retryAfter = parseRetryAfter(header(answer.headers, "retry-after"), this.#now(), policy.maxRetryAfterMs);
        if (retryAfter !== null) delayMs = Math.max(delayMs, retryAfter);
      }
      if (this.#now() - started + delayMs > policy.maxTotalMs) return this.#forEngine(answer);
      this.#stats.retries++;
      this.#log({
        type: "retry",
        method: request.method,
        url: request.url,
        status: answer.status,
        ...(answer.error ? { error: answer.error } : {}),
        attempt,
        delayMs,
      });
      if (kind === "rate_limited") await this.#pacer.rateLimited(request, answer, delayMs);
      else await this.#wait(delayMs);
    }
  }

  /** The engine's view of an answer: `{status, headers, body}` or `{status: 0, error}`. */
  #forEngine(answer) {
    if (answer.status === 0) return { status: 0, error: answer.error };
    return { status: answer.status, headers: answer.headers, body: answer.body };
  }

  /** One HTTP exchange with a timeout. Rejects only with Cancelled (the destination stops) or HostFailure (a redirect, an oversize answer). */
  async #fetchOnce(request) {
    if (this.#stopping.aborted) throw new Cancelled();
    const controller = new AbortController();
    let reason = null;
    const timer = setTimeout(() => {
      reason = "timeout";
      controller.abort();
    }, this.#timeoutMs);
    const onStop = () => {
      reason = "cancelled";
      controller.abort();
    };
    const unsubscribe = this.#stopping.subscribe(onStop);
    this.#stats.requests++;
    const started = this.#now();
    this.#log({ type: "request", method: request.method, url: request.url });
    try {
      const response = await this.#fetch(request.url, {
        method: request.method,
        headers: request.headers,
        body: request.body ?? undefined,
        signal: controller.signal,
        // Zendesk's API does not redirect. Following one would hand the request (personal data, the
        // credentials, an OAuth refresh token) to whatever host the Location names.
        redirect: "manual",
      });
      const describe = () => `${request.method} ${new URL(request.url).pathname}`;
      // "manual" gives the 3xx itself in Node and edge runtimes, an opaque redirect (status 0) in browsers.
      if (response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400)) {
        response.body?.cancel?.().catch(() => {});
        const location = response.headers?.get?.("location");
        let where = "";
        try {
          if (location) where = ` to ${new URL(location, request.url).origin}`;
        } catch {
          // an unreadable Location: the status says enough
        }
        this.#log({ type: "response", method: request.method, url: request.url, status: response.status || 302, redirect: true, durationMs: this.#now() - started });
        throw new HostFailure(
          "redirected",
          `${describe()} was answered with a redirect (${response.status || "opaque"}${where}), which the host never follows: Zendesk's API does not redirect, so baseUrl (or a proxy in front of it) is wrong`,
        );
      }
      const headers = {};
      response.headers.forEach((value, key) => {
        headers[key] = value;
      });
      let body;
      try {
        // Raced against the abort too: a fetch whose body ignores the signal must not hang the host.
        body = await new Promise((resolve, reject) => {
          if (controller.signal.aborted) return reject(controller.signal.reason);
          controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true });
          readCapped(response, this.#maxResponseBytes, describe).then(resolve, reject);
        });
      } catch (error) {
        if (reason === "cancelled") throw error;
        if (error instanceof HostFailure) {
          this.#log({ type: "response", method: request.method, url: request.url, status: response.status, error: error.code, durationMs: this.#now() - started });
          throw error;
        }
        // The status arrived, so Zendesk's answer is known: the request is not repeated on account of the
        // body (a 2xx has landed). The engine gets the status with an empty body.
        this.#log({ type: "body_lost", method: request.method, url: request.url, status: response.status, error: reason ?? "network" });
        body = "";
      }
      const answer = { status: response.status, headers, body };
      this.#log({ type: "response", method: request.method, url: request.url, status: response.status, durationMs: this.#now() - started });
      return answer;
    } catch (error) {
      if (reason === "cancelled") throw new Cancelled();
      if (error instanceof HostFailure) throw error;
      const code = error?.cause?.code ?? error?.code;
      const answer = reason === "timeout" ? { status: 0, error: "timeout" } : { status: 0, error: "network", sent: !NOT_SENT_CODES.has(code) };
      if (reason === "timeout") this.#stats.timeouts++;
      else this.#stats.networkErrors++;
      this.#log({ type: "response", method: request.method, url: request.url, status: 0, error: answer.error, ...(code ? { cause: String(code) } : {}), durationMs: this.#now() - started });
      return answer;
    } finally {
      clearTimeout(timer);
      unsubscribe();
    }
  }

  async #wait(ms) {
    if (ms <= 0) return;
    const link = this.#stopping.link();
    try {
      await this.#stopping.race(Promise.resolve(this.#sleep(ms, link.signal)));
    } catch (error) {
      if (this.#stopping.aborted) throw new Cancelled();
      throw error;
    } finally {
      link.release();
    }
  }

  #planSimulatorOptions() {
    // The dry run's account accepts the settings' own credentials, whatever they are.
    return {};
  }

  #log(entry) {
    if (!this.#logger) return;
    try {
      this.#logger({ time: this.#now(), ...entry });
    } catch {
      // a logger's failure is not the event's
    }
  }
}
