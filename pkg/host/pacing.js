// Pacing: slow down before Zendesk says 429, from the rate-limit headers its answers carry.
//
// The rule (one Pacer per destination, i.e. per account):
// - The account's budget comes from `X-Rate-Limit` / `X-Rate-Limit-Remaining` (a per-minute window)
//   and `ratelimit-limit` / `ratelimit-remaining` / `ratelimit-reset` (seconds until the window
//   resets); the tightest wins. While the remaining budget is above the low-water mark (a fifth of the
//   limit, at least 10 requests) requests go out unpaced. Below it, the remaining requests are spread
//   evenly until the reset; at 0 nothing goes out until the reset. Requests sent since the last answer
//   count against the budget.
// - `Zendesk-RateLimit-<name>: total=N; remaining=N; resets=S` headers are scoped to the endpoint that
//   sent them, not to the account (Zendesk's rate-limit guide: check the account-wide headers first,
//   endpoint headers only for that endpoint). `PUT /users/{id}` and `POST /users/create_or_update`
//   send `Zendesk-RateLimit-create-update-user` on every write; reading it as the account's budget
//   would stall every lookup and event for up to a minute after each user write. So such a budget
//   only holds back later requests to the same endpoint (method and path), and only once it is spent.
// - Sunshine events (`/users/{id}/events`, `/user_profiles/events`) have a budget of their own: their
//   answers' headers and account-wide 429s pace only event requests, and the account's only the rest.
// - A 429 pauses what it limits: the whole account when the answer's account headers say the account
//   budget is spent, or when it carries no sign of a narrower limit (no rate-limit header at all);
//   otherwise (an endpoint header, account headers with budget left, or Update Organization's
//   `{"errors":[{"code":"TooManyRequests"}]}` body) only that endpoint, ids in the path counted as one.
// - Single-user writes (`PUT /users/{id}`, `POST /users/create_or_update`) are limited by Zendesk to
//   1 per second per account. The pacer spaces them 1 s apart only once the account has signalled that
//   limit (a 429 on such a write); accounts that never do are not slowed down. Such a 429 pauses only
//   single-user writes, unless the answer's headers say the account budget itself is spent.

const WINDOW_MS = 60_000; // Zendesk's account limits are per minute
const SINGLE_WRITE_INTERVAL_MS = 1_000;
// The longest wait a reset time in a header can cause. Zendesk's windows are a minute long; a server
// saying `ratelimit-reset: 86400` must not stall the host for a day.
export const MAX_RESET_WAIT_MS = WINDOW_MS;
const MAX_TRACKED = 10_000; // endpoint pauses and budgets remembered at once: memory stays bounded

const SINGLE_USER_WRITE = /\/api\/v2\/users\/(\d+|create_or_update)(\.json)?$/;

/** `PUT /users/{id}` and `POST /users/create_or_update`: the writes under the 1-per-second account limit. */
export function isSingleUserWrite(request) {
  const method = String(request.method).toUpperCase();
  const match = SINGLE_USER_WRITE.exec(new URL(request.url).pathname);
  if (!match) return false;
  return match[1] === "create_or_update" ? method === "POST" : method === "PUT";
}

const number = (value) => {
  if (value === undefined || value === null || String(value).trim() === "") return null;
  const n = Number(String(value).trim());
  return Number.isFinite(n) ? n : null;
};

const lowerCased = (headers) => {
  const lower = {};
  for (const [key, value] of Object.entries(headers ?? {})) lower[key.toLowerCase()] = value;
  return lower;
};

const budgetOf = (limit, remaining, resetSeconds) =>
  remaining === null ? null : { limit, remaining, resetMs: resetSeconds === null ? null : Math.min(MAX_RESET_WAIT_MS, Math.max(0, resetSeconds * 1000)) };

/**
 * The account's budget from its headers (`X-Rate-Limit*`, `ratelimit-*`), the tightest of them:
 * `{limit, remaining, resetMs}` (resetMs: time until the window resets, or null when unknown), or null
 * when none is present. Endpoint-scoped `Zendesk-RateLimit-*` headers are not the account's: see
 * readEndpointBudgets.
 */
export function readBudget(headers) {
  if (!headers) return null;
  const lower = lowerCased(headers);
  const budgets = [
    budgetOf(number(lower["x-rate-limit"]), number(lower["x-rate-limit-remaining"]), null),
    budgetOf(number(lower["ratelimit-limit"]), number(lower["ratelimit-remaining"]), number(lower["ratelimit-reset"])),
  ].filter(Boolean);
  if (budgets.length === 0) return null;
  // The tightest budget; on a tie, the one that says when it resets.
  return budgets.reduce((a, b) => (b.remaining < a.remaining || (b.remaining === a.remaining && a.resetMs === null && b.resetMs !== null) ? b : a));
}

/** `Zendesk-RateLimit-<name>: total=N; remaining=N; resets=S` headers: `{name: {limit, remaining, resetMs}}`. */
export function readEndpointBudgets(headers) {
  const budgets = {};
  for (const [key, value] of Object.entries(lowerCased(headers))) {
    if (!key.startsWith("zendesk-ratelimit-")) continue;
    const fields = {};
    for (const part of String(value).split(/[;,]/)) {
      const [k, v] = part.split("=").map((s) => s?.trim());
      if (k && v !== undefined) fields[k.toLowerCase()] = number(v);
    }
    const budget = budgetOf(fields.total ?? null, fields.remaining ?? null, fields.resets ?? null);
    if (budget) budgets[key.slice("zendesk-ratelimit-".length)] = budget;
  }
  return budgets;
}

/** "PUT /api/v2/users/{id}": the endpoint a request goes to, ids counted as one (for 429 pauses). */
export function endpointOf(request) {
  const path = new URL(request.url).pathname.replace(/\.json$/, "").replace(/\/\d+(?=\/|$)/g, "/{id}");
  return `${String(request.method).toUpperCase()} ${path}`;
}

/** "PUT /api/v2/users/123": the exact target (for budgets an endpoint header announced). */
const targetOf = (request) => `${String(request.method).toUpperCase()} ${new URL(request.url).pathname.replace(/\.json$/, "")}`;

/** Update Organization's own 429 body: `{"errors":[{"code":"TooManyRequests",…}]}`. */
function isEndpointThrottleBody(body) {
  if (typeof body !== "string" || !body.includes("TooManyRequests")) return false;
  try {
    return JSON.parse(body)?.errors?.some?.((e) => e?.code === "TooManyRequests") === true;
  } catch {
    return false;
  }
}

function newScope() {
  return { budget: null, lastSlot: -Infinity, pausedUntil: 0 };
}

const EVENTS = /\/api\/v2\/(users\/[^/]+|user_profiles)\/events(\.json)?$/;

/** Sunshine events (`/users/{id}/events`, `/user_profiles/events`) are paced on a budget of their own. */
export function scopeOf(request) {
  return EVENTS.test(new URL(request.url).pathname) ? "events" : "account";
}

export class Pacer {
  /**
   * @param {{now: () => number, sleep: (ms: number) => Promise<void>}} clock  sleep rejects when the host stops
   */
  constructor({ now, sleep, singleUserWriteIntervalMs = SINGLE_WRITE_INTERVAL_MS }) {
    this.singleUserWriteIntervalMs = singleUserWriteIntervalMs;
    this.now = now;
    this.sleep = sleep;
    // The account's budget, and Sunshine events' (a budget of their own: Zendesk's rate-limit page):
    // each {budget: {limit, remaining, resetAt}, lastSlot (the last paced request), pausedUntil (a 429)}.
    this.scopes = { account: newScope(), events: newScope() };
    this.endpointPausedUntil = new Map(); // endpointOf(request) -> time, after an endpoint's 429
    this.targetBudgets = new Map(); // targetOf(request) -> {name: {remaining, resetAt}} from Zendesk-RateLimit-* headers
    this.singleWriteSignalled = false;
    this.singleWritePausedUntil = 0;
    this.nextSingleWrite = 0;
    this.pacedMs = 0; // total time requests waited here
  }

  /** Waits until `request` may go out, and counts it against the budget. */
  async before(request) {
    const single = isSingleUserWrite(request);
    const scope = this.scopes[scopeOf(request)];
    for (;;) {
      const now = this.now();
      const pause = Math.max(
        scope.pausedUntil,
        this.endpointPausedUntil.get(endpointOf(request)) ?? 0,
        this.#spentUntil(request, now),
        single && this.singleWriteSignalled ? this.singleWritePausedUntil : 0,
      );
      if (pause > now) {
        await this.#wait(pause - now);
        continue;
      }
      let slot = now;
      const budget = scope.budget;
      if (budget) {
        if (budget.resetAt <= now) scope.budget = null;
        else if (budget.remaining <= 0) slot = budget.resetAt;
        else if (budget.remaining <= lowWater(budget.limit)) {
          slot = Math.max(now, scope.lastSlot + (budget.resetAt - now) / budget.remaining);
        }
        if (scope.budget) budget.remaining -= 1;
      }
      if (single && this.singleWriteSignalled) {
        slot = Math.max(slot, this.nextSingleWrite);
        this.nextSingleWrite = slot + this.singleUserWriteIntervalMs;
      }
      if (slot > scope.lastSlot) scope.lastSlot = slot;
      if (slot > now) await this.#wait(slot - now);
      // A 429 may have arrived while this request waited for its slot.
      const after = this.now();
      if (scope.pausedUntil <= after && (this.endpointPausedUntil.get(endpointOf(request)) ?? 0) <= after) return;
    }
  }

  /** When a spent endpoint budget for this exact target resets (0 when none is spent). */
  #spentUntil(request, now) {
    const budgets = this.targetBudgets.get(targetOf(request));
    if (!budgets) return 0;
    let until = 0;
    for (const [name, budget] of Object.entries(budgets)) {
      if (budget.resetAt <= now) delete budgets[name];
      else if (budget.remaining <= 0) until = Math.max(until, budget.resetAt);
    }
    if (Object.keys(budgets).length === 0) this.targetBudgets.delete(targetOf(request));
    return until;
  }

  /** Reads the account's budget, and the endpoint's, from an answer's headers. */
  after(request, answer) {
    const now = this.now();
    const endpointBudgets = Object.entries(readEndpointBudgets(answer.headers));
    if (endpointBudgets.length) {
      // Kept only while spent: a budget with requests left changes nothing for the next request.
      const spent = {};
      for (const [name, b] of endpointBudgets) if (b.remaining <= 0) spent[name] = { remaining: b.remaining, resetAt: now + (b.resetMs ?? WINDOW_MS) };
      if (Object.keys(spent).length) this.targetBudgets.set(targetOf(request), spent);
      else this.targetBudgets.delete(targetOf(request));
      if (this.targetBudgets.size > MAX_TRACKED) this.targetBudgets.delete(this.targetBudgets.keys().next().value);
    }
    const budget = readBudget(answer.headers);
    if (!budget) return;
    const resetMs = budget.resetMs ?? WINDOW_MS;
    this.scopes[scopeOf(request)].budget = { limit: budget.limit, remaining: budget.remaining, resetAt: now + resetMs };
  }

  /** A 429 said to wait `delayMs`. */
  rateLimited(request, answer, delayMs) {
    const until = this.now() + delayMs;
    const budget = readBudget(answer.headers);
    const accountSpent = budget !== null && budget.remaining <= 0;
    if (isSingleUserWrite(request) && !accountSpent) {
      this.singleWriteSignalled = true;
      this.singleWritePausedUntil = Math.max(this.singleWritePausedUntil, until);
      this.nextSingleWrite = Math.max(this.nextSingleWrite, until);
      return;
    }
    const narrower = budget !== null || Object.keys(readEndpointBudgets(answer.headers)).length > 0 || isEndpointThrottleBody(answer.body);
    if (accountSpent || !narrower) {
      // A spent budget pauses its own scope (the account's, or events'); a 429 that says nothing pauses both.
      const scopes = accountSpent ? [this.scopes[scopeOf(request)]] : Object.values(this.scopes);
      for (const scope of scopes) scope.pausedUntil = Math.max(scope.pausedUntil, until);
      return;
    }
    const endpoint = endpointOf(request);
    this.endpointPausedUntil.set(endpoint, Math.max(this.endpointPausedUntil.get(endpoint) ?? 0, until));
    if (this.endpointPausedUntil.size > MAX_TRACKED) this.endpointPausedUntil.delete(this.endpointPausedUntil.keys().next().value);
  }

  async #wait(ms) {
    this.pacedMs += ms;
    await this.sleep(ms);
  }
}

function lowWater(limit) {
  return Math.max(10, limit ? Math.ceil(limit / 5) : 0);
}
