// Pacing: slow down before Zendesk says 429, from the rate-limit headers its answers carry.
//
// The rule (one Pacer per destination, i.e. per account):
// - Every answer's headers update the account's budget: `X-Rate-Limit` / `X-Rate-Limit-Remaining`
//   (a per-minute window), `ratelimit-limit` / `ratelimit-remaining` / `ratelimit-reset` (seconds until
//   the window resets) and any `zendesk-ratelimit-*: total=N; remaining=N; resets=S`. The tightest wins.
// - While the remaining budget is above the low-water mark (a fifth of the limit, at least 10 requests)
//   requests go out unpaced. Below it, the remaining requests are spread evenly until the reset; at 0
//   nothing goes out until the reset. Requests sent since the last answer count against the budget.
// - A 429 pauses the whole account until its Retry-After.
// - Single-user writes (`PUT /users/{id}`, `POST /users/create_or_update`) are limited by Zendesk to
//   1 per second per account. The pacer spaces them 1 s apart only once the account has signalled that
//   limit (a 429 on such a write); accounts that never do are not slowed down. Such a 429 pauses only
//   single-user writes, unless the answer's headers say the account budget itself is spent.

const WINDOW_MS = 60_000; // Zendesk's account limits are per minute
const SINGLE_WRITE_INTERVAL_MS = 1_000;
// The longest wait a reset time in a header can cause. Zendesk's windows are a minute long; a server
// saying `ratelimit-reset: 86400` must not stall the host for a day.
export const MAX_RESET_WAIT_MS = WINDOW_MS;

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

/**
 * The tightest budget the headers announce: `{limit, remaining, resetMs}` (resetMs: time until the
 * window resets, or null when unknown), or null when no rate-limit header is present.
 */
export function readBudget(headers) {
  if (!headers) return null;
  const lower = {};
  for (const [key, value] of Object.entries(headers)) lower[key.toLowerCase()] = value;
  const budgets = [];
  const add = (limit, remaining, resetSeconds) => {
    if (remaining === null) return;
    budgets.push({ limit, remaining, resetMs: resetSeconds === null ? null : Math.min(MAX_RESET_WAIT_MS, Math.max(0, resetSeconds * 1000)) });
  };
  add(number(lower["x-rate-limit"]), number(lower["x-rate-limit-remaining"]), null);
  add(number(lower["ratelimit-limit"]), number(lower["ratelimit-remaining"]), number(lower["ratelimit-reset"]));
  for (const [key, value] of Object.entries(lower)) {
    if (!key.startsWith("zendesk-ratelimit-")) continue;
    const fields = {};
    for (const part of String(value).split(/[;,]/)) {
      const [k, v] = part.split("=").map((s) => s?.trim());
      if (k && v !== undefined) fields[k.toLowerCase()] = number(v);
    }
    add(fields.total ?? null, fields.remaining ?? null, fields.resets ?? null);
  }
  if (budgets.length === 0) return null;
  // The tightest budget; on a tie, the one that says when it resets.
  return budgets.reduce((a, b) => (b.remaining < a.remaining || (b.remaining === a.remaining && a.resetMs === null && b.resetMs !== null) ? b : a));
}

export class Pacer {
  /**
   * @param {{now: () => number, sleep: (ms: number) => Promise<void>}} clock  sleep rejects when the host stops
   */
  constructor({ now, sleep, singleUserWriteIntervalMs = SINGLE_WRITE_INTERVAL_MS }) {
    this.singleUserWriteIntervalMs = singleUserWriteIntervalMs;
    this.now = now;
    this.sleep = sleep;
    this.budget = null; // {limit, remaining, resetAt}
    this.lastSlot = -Infinity; // when the last paced request went out
    this.pausedUntil = 0; // account-wide pause after a 429
    this.singleWriteSignalled = false;
    this.singleWritePausedUntil = 0;
    this.nextSingleWrite = 0;
    this.pacedMs = 0; // total time requests waited here
  }

  /** Waits until `request` may go out, and counts it against the budget. */
  async before(request) {
    const single = isSingleUserWrite(request);
    for (;;) {
      const now = this.now();
      const pause = Math.max(this.pausedUntil, single && this.singleWriteSignalled ? this.singleWritePausedUntil : 0);
      if (pause > now) {
        await this.#wait(pause - now);
        continue;
      }
      let slot = now;
      const budget = this.budget;
      if (budget) {
        if (budget.resetAt <= now) this.budget = null;
        else if (budget.remaining <= 0) slot = budget.resetAt;
        else if (budget.remaining <= lowWater(budget.limit)) {
          slot = Math.max(now, this.lastSlot + (budget.resetAt - now) / budget.remaining);
        }
        if (this.budget) budget.remaining -= 1;
      }
      if (single && this.singleWriteSignalled) {
        slot = Math.max(slot, this.nextSingleWrite);
        this.nextSingleWrite = slot + this.singleUserWriteIntervalMs;
      }
      if (slot > this.lastSlot) this.lastSlot = slot;
      if (slot > now) await this.#wait(slot - now);
      // A 429 may have arrived while this request waited for its slot.
      if (this.pausedUntil <= this.now()) return;
    }
  }

  /** Reads the budget from an answer's headers. */
  after(request, answer) {
    const budget = readBudget(answer.headers);
    if (!budget) return;
    const now = this.now();
    const resetMs = budget.resetMs ?? WINDOW_MS;
    this.budget = { limit: budget.limit, remaining: budget.remaining, resetAt: now + resetMs };
  }

  /** A 429 said to wait `delayMs`. */
  rateLimited(request, answer, delayMs) {
    const until = this.now() + delayMs;
    const budget = readBudget(answer.headers);
    if (isSingleUserWrite(request) && !(budget && budget.remaining <= 0)) {
      this.singleWriteSignalled = true;
      this.singleWritePausedUntil = Math.max(this.singleWritePausedUntil, until);
      this.nextSingleWrite = Math.max(this.nextSingleWrite, until);
    } else {
      this.pausedUntil = Math.max(this.pausedUntil, until);
    }
  }

  async #wait(ms) {
    this.pacedMs += ms;
    await this.sleep(ms);
  }
}

function lowWater(limit) {
  return Math.max(10, limit ? Math.ceil(limit / 5) : 0);
}
