// The retry policy: which answers are worth another attempt, and how long to wait first.
// The engine sees only the final answer for each request; everything here happens before it.

export const DEFAULT_RETRY = Object.freeze({
  maxAttempts: 5, // attempts per request for 5xx, 409, timeouts and connection errors (429s don't count)
  baseDelayMs: 500, // first backoff; doubles each attempt
  maxDelayMs: 30_000, // cap of one backoff
  maxTotalMs: 120_000, // no new attempt starts once a request has been retried for this long
  maxRetryAfterMs: 60_000, // cap of one Retry-After wait
  // A timeout or dropped connection on a request that writes a new record each time it lands (a Sunshine
  // event POST) may or may not have landed. "retry" (default) retries it like any other request: at least
  // once, a rare duplicate event possible. "report" does not retry it: at most once, the outcome says the
  // event may have landed. Either way, nothing is retried once Zendesk's answer (its status) is known.
  uncertainWrites: "retry",
});

/** The policy with defaults filled in; throws on nonsense values. */
export function retryPolicy(options = {}) {
  const policy = { ...DEFAULT_RETRY };
  for (const [key, value] of Object.entries(options ?? {})) {
    if (!(key in DEFAULT_RETRY)) throw new TypeError(`unknown retry option "${key}"`);
    if (value === undefined) continue;
    if (key === "uncertainWrites") {
      if (value !== "retry" && value !== "report") throw new TypeError('retry.uncertainWrites must be "retry" or "report"');
      policy[key] = value;
      continue;
    }
    if (typeof value !== "number" || !(value >= 0) || (key === "maxAttempts" && value < 1)) {
      throw new TypeError(`retry.${key} must be a ${key === "maxAttempts" ? "number ≥ 1" : "number ≥ 0"}`);
    }
    policy[key] = value;
  }
  return Object.freeze(policy);
}

/**
 * Milliseconds to wait according to a `Retry-After` value (delta-seconds or an HTTP date), capped;
 * null when absent or unreadable.
 */
export function parseRetryAfter(value, nowMs, capMs = DEFAULT_RETRY.maxRetryAfterMs) {
  if (value === undefined || value === null) return null;
  const text = String(value).trim();
  if (text === "") return null;
  let ms;
  if (/^\d+(\.\d+)?$/.test(text)) ms = Number(text) * 1000;
  else {
    const date = Date.parse(text);
    if (Number.isNaN(date)) return null;
    ms = date - nowMs;
  }
  return Math.min(Math.max(0, Math.ceil(ms)), capMs);
}

/** Exponential backoff with "equal jitter": half the step fixed, half random. `attempt` is 1-based. */
export function backoffDelay(attempt, policy, random = Math.random) {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(step / 2 + random() * (step / 2));
}

/** A header of a plain header object, any case. */
export function header(headers, name) {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  for (const key of Object.keys(headers)) if (key.toLowerCase() === wanted) return headers[key];
  return undefined;
}

/**
 * Requests that write something new each time they land: a second copy is a second Sunshine event.
 * Everything else the engine sends is an upsert, a read, or answers "already done" (a membership that
 * exists gives 422, a field key that exists gives 422), so repeating it is harmless.
 */
export function isNonIdempotent(request) {
  if (String(request.method).toUpperCase() !== "POST") return false;
  const path = new URL(request.url).pathname;
  return /\/api\/v2\/(user_profiles|users\/[^/]+)\/events(\.json)?$/.test(path);
}

/**
 * What to do with one answer. `answer` is `{status, headers, body}` or `{status: 0, error, sent}` where
 * `sent` is false only when the connection was refused before anything left.
 * @returns {"done" | "rate_limited" | "retry" | "uncertain"}
 *   - done: hand it to the engine;
 *   - rate_limited: 429, wait (Retry-After) and try again — nothing was written;
 *   - retry: 5xx, 409, or a failure known to have happened before the request was sent;
 *   - uncertain: an answer that does not prove the write failed, on a request that writes a new record
 *     each time, which the policy says not to retry (`uncertainWrites: "report"`): a timeout, a dropped
 *     connection, or any 5xx (a gateway's 502/504 may come after Zendesk wrote; a 500 or 503 proves
 *     nothing either). Only 429 and 409 (Zendesk refused a concurrent write) say it did not land.
 */
export function classify(request, answer, policy = DEFAULT_RETRY) {
  const { status } = answer;
  if (status === 429) return "rate_limited";
  const atMostOnce = policy.uncertainWrites === "report" && isNonIdempotent(request);
  if (status === 409) return "retry";
  if (status >= 500 && status <= 599) return atMostOnce ? "uncertain" : "retry";
  if (status === 0) {
    if (answer.sent === false) return "retry";
    return atMostOnce ? "uncertain" : "retry";
  }
  return "done";
}
