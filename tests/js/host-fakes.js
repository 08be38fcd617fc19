// Test doubles for the host: a scripted engine, a scripted fetch, a manual clock.
// Not a test file itself (no .test.js suffix): imported by host*.test.js and cli*.test.js.

/**
 * A fake engine whose conversations follow `script(event, now)`, a generator that yields request
 * descriptors, receives each answer back, and returns the outcome.
 */
export function fakeEngine(script, { invalid } = {}) {
  const begun = [];
  const answers = [];
  class Destination {
    constructor(settings) {
      const errors = invalid ? invalid(settings) : [];
      if (errors.length) {
        const error = new Error(`invalid settings: ${errors.map((e) => e.message).join("; ")}`);
        Object.assign(error, { code: "invalid_settings", errors });
        throw error;
      }
      this.settings = typeof settings === "string" ? JSON.parse(settings) : settings;
    }
    begin(input, now) {
      const event = typeof input === "string" ? JSON.parse(input) : input;
      begun.push({ event, now, input });
      const generator = script(event, { now, settings: this.settings });
      let current = generator.next();
      const stepOf = () =>
        current.done ? { kind: "done", outcomes: [current.value] } : { kind: "request", request: current.value };
      return {
        step: stepOf,
        respond(answer) {
          answers.push(answer);
          if (!current.done) current = generator.next(answer);
          return stepOf();
        },
        free() {},
      };
    }
    free() {}
  }
  return {
    Destination,
    validateSettings: (settings) => (invalid ? invalid(settings) : []),
    begun,
    answers,
  };
}

export const outcome = (status, code, extra = {}) => ({ status, code, message: code, warnings: [], retryable: false, mapping: [], ...extra });

export const request = (method, path, body = null, token = "Basic c2VjcmV0") => ({
  method,
  url: `https://acme.zendesk.com${path}`,
  headers: { Authorization: token, "Content-Type": "application/json", Accept: "application/json" },
  body,
});

/** A script of one request; the outcome says which status came back. */
export function* oneRequest(event) {
  const answer = yield request(event.method ?? "GET", event.path ?? "/api/v2/users/search?external_id=1", event.body ?? null);
  return outcome(answer.status >= 200 && answer.status < 300 ? "delivered" : "failed", `status_${answer.status}${answer.error ? `_${answer.error}` : ""}`);
}

/**
 * A fetch that answers from `handler(call)` where call = {url, method, headers, body, signal, index}.
 * handler returns {status, headers, body}, a Response, or throws; returning "hang" waits for the abort.
 */
export function fakeFetch(handler) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    const call = { url, method: init.method, headers: { ...init.headers }, body: init.body, signal: init.signal, index: calls.length };
    calls.push(call);
    const result = await handler(call);
    if (result === "hang") {
      return new Promise((_, reject) => {
        init.signal.addEventListener("abort", () => reject(new DOMException("This operation was aborted", "AbortError")));
      });
    }
    if (result instanceof Response) return result;
    return new Response(result.body ?? "", { status: result.status, headers: result.headers ?? {} });
  };
  fetch.calls = calls;
  return fetch;
}

/** A manual clock: `sleep` advances `now` at once and records the waits. */
export function manualClock(start = Date.UTC(2026, 0, 1)) {
  const clock = { t: start, sleeps: [] };
  clock.now = () => clock.t;
  clock.sleep = async (ms) => {
    clock.sleeps.push(ms);
    clock.t += ms;
  };
  return clock;
}

/** A promise with its resolve exposed. */
export function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export const networkError = (code) => Object.assign(new TypeError("fetch failed"), { cause: Object.assign(new Error(code), { code }) });

/**
 * A fetch in front of `simulator` whose job-status polls wait at a gate (open at first), or until the host
 * abandons them: it holds a batch's jobs unfinished while the rest of the batch runs. `close()` shuts the
 * gate and counts `polls` afresh; `open()` lets the held polls through.
 */
export function gatedJobPolls(simulator) {
  let gate = Promise.resolve();
  let release = () => {};
  const gated = {
    polls: 0,
    fetch: async (request, init) => {
      const url = new URL(typeof request === "string" ? request : request.url);
      if (url.pathname.startsWith("/api/v2/job_statuses")) {
        gated.polls++;
        const signal = init?.signal ?? request.signal;
        await Promise.race([gate, new Promise((_, reject) => signal?.addEventListener("abort", () => reject(signal.reason ?? new Error("aborted"))))]);
      }
      return simulator.fetch(request, init);
    },
    close() {
      gated.polls = 0;
      gate = new Promise((resolve) => (release = resolve));
    },
    open: () => release(),
  };
  return gated;
}
