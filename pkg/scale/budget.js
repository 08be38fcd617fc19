// One rate budget for an account across every instance. The account's budget (and Sunshine events',
// which have their own: ../host/pacing.js scopeOf) is read from Zendesk's `X-Rate-Limit*` /
// `ratelimit-*` headers as in one process — below a fifth of the limit what is left is spread until the
// reset, at 0 nothing goes out until it, a 429 with the budget spent pauses everyone until its
// Retry-After — but its state is one Redis hash per account and scope, and each decision a Lua script,
// so two instances never spend the same slot. What is narrower than the account (endpoint-scoped
// `Zendesk-RateLimit-*` budgets, an endpoint's 429, single-user write spacing) stays with each
// instance's own Pacer, which this one wraps.
//
// What differs from one process: an answer's `remaining` is Zendesk's count when it answered, and the
// requests other instances sent since are not in it yet; the hash counts requests granted and not yet
// answered (`inflight`) and subtracts them. An instance that dies with requests in flight leaves them
// counted until the window resets (the hash expires two minutes after its last use).
import { Pacer, readBudget, scopeOf } from "../host/pacing.js";
import { script } from "./redis.js";

const WINDOW_MS = 60_000;
const STATE_TTL_MS = 120_000;
const ACCOUNT_HEADERS = new Set(["x-rate-limit", "x-rate-limit-remaining", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"]);

// KEYS[1]: the scope's hash. ARGV: now. Returns {at, granted}: granted 0 means "paused until at, then
// ask again"; granted 1 means "go at `at`" (the request is counted).
const TAKE = script(`
local h = KEYS[1]
local now = tonumber(ARGV[1])
local s = redis.call('HMGET', h, 'limit', 'remaining', 'resetAt', 'lastSlot', 'pausedUntil', 'inflight')
local limit = tonumber(s[1])
local remaining = tonumber(s[2])
local resetAt = tonumber(s[3])
local lastSlot = tonumber(s[4]) or 0
local pausedUntil = tonumber(s[5]) or 0
local inflight = tonumber(s[6]) or 0
if pausedUntil > now then return {tostring(pausedUntil), 0} end
local slot = now
if remaining then
  if resetAt <= now then
    redis.call('HDEL', h, 'limit', 'remaining', 'resetAt')
    inflight = 0
  else
    local low = 10
    if limit and math.ceil(limit / 5) > low then low = math.ceil(limit / 5) end
    if remaining <= 0 then slot = resetAt
    elseif remaining <= low then
      local spread = lastSlot + (resetAt - now) / remaining
      if spread > slot then slot = spread end
    end
    redis.call('HSET', h, 'remaining', remaining - 1)
  end
end
if slot > lastSlot then redis.call('HSET', h, 'lastSlot', slot) end
redis.call('HSET', h, 'inflight', inflight + 1)
redis.call('PEXPIRE', h, ${STATE_TTL_MS})
return {tostring(slot), 1}
`);

// KEYS[1]: the scope's hash. ARGV: now, limit|'', remaining|'', resetMs|''. An answer (or a grant given back).
const OBSERVE = script(`
local h = KEYS[1]
local now = tonumber(ARGV[1])
local inflight = tonumber(redis.call('HGET', h, 'inflight') or '0') - 1
if inflight < 0 then inflight = 0 end
redis.call('HSET', h, 'inflight', inflight)
if ARGV[3] ~= '' then
  if ARGV[2] ~= '' then redis.call('HSET', h, 'limit', ARGV[2]) else redis.call('HDEL', h, 'limit') end
  redis.call('HSET', h, 'remaining', tonumber(ARGV[3]) - inflight, 'resetAt', now + tonumber(ARGV[4]))
end
redis.call('PEXPIRE', h, ${STATE_TTL_MS})
return 1
`);

// KEYS[1]: the scope's hash. ARGV: until.
const PAUSE = script(`
local h = KEYS[1]
if tonumber(ARGV[1]) > tonumber(redis.call('HGET', h, 'pausedUntil') or '0') then redis.call('HSET', h, 'pausedUntil', ARGV[1]) end
redis.call('PEXPIRE', h, ${STATE_TTL_MS})
return 1
`);

class RedisUnavailable extends Error {}

async function redis(call) {
  try {
    return await call();
  } catch (error) {
    throw new RedisUnavailable(error?.message ?? String(error));
  }
}

const withoutAccountHeaders = (headers) => Object.fromEntries(Object.entries(headers ?? {}).filter(([key]) => !ACCOUNT_HEADERS.has(key.toLowerCase())));

/**
 * The Pacer's interface (`before`, `after`, `rateLimited`, `pacedMs`): the account's budget from Redis,
 * everything narrower from a local Pacer. While Redis cannot be reached, the local Pacer paces the
 * account too (this instance alone) rather than stop delivering.
 */
export class SharedPacer {
  constructor(client, { key, now, sleep, singleUserWriteIntervalMs, log = () => {} }) {
    this.client = client;
    this.key = key;
    this.now = now;
    this.sleep = sleep;
    this.local = new Pacer({ now, sleep, singleUserWriteIntervalMs });
    this.log = log;
    this.failing = false;
    this.paced = 0;
  }

  get pacedMs() {
    return this.paced + this.local.pacedMs;
  }

  #scopeKey(request) {
    return `${this.key}:${scopeOf(request)}`;
  }

  async #shared(name, call) {
    try {
      await call();
      if (this.failing) this.log({ type: "shared_budget", ok: true, message: "Redis answers again: the account's budget is shared again" });
      this.failing = false;
      return true;
    } catch (error) {
      if (!(error instanceof RedisUnavailable)) throw error; // e.g. the destination stopping during a wait
      if (!this.failing) this.log({ type: "shared_budget", ok: false, operation: name, message: `Redis failed (${error.message}); pacing this instance alone meanwhile` });
      this.failing = true;
      return false;
    }
  }

  async before(request) {
    await this.local.before(request);
    await this.#shared("before", () => this.#take(request));
  }

  async #take(request) {
    const key = this.#scopeKey(request);
    for (;;) {
      const [at, granted] = await redis(() => TAKE(this.client, [key], [this.now()]));
      const wait = Math.ceil(Number(at) - this.now());
      if (wait > 0) {
        this.paced += wait;
        await this.sleep(wait);
      }
      if (Number(granted) !== 1) continue;
      // A 429 may have paused the account while this request waited for its slot.
      const paused = Number((await redis(() => this.client.sendCommand(["HGET", key, "pausedUntil"]))) ?? 0);
      if (!(paused > this.now())) return;
      await redis(() => OBSERVE(this.client, [key], [this.now(), "", "", ""]));
    }
  }

  async after(request, answer) {
    const budget = readBudget(answer.headers);
    // The local Pacer keeps the account's budget only while Redis fails; otherwise Redis has it.
    const shared = await this.#shared("after", () =>
      redis(() => OBSERVE(this.client, [this.#scopeKey(request)], [this.now(), budget?.limit ?? "", budget ? budget.remaining : "", budget ? (budget.resetMs ?? WINDOW_MS) : ""])),
    );
    this.local.after(request, shared ? { ...answer, headers: withoutAccountHeaders(answer.headers) } : answer);
  }

  async rateLimited(request, answer, delayMs) {
    this.local.rateLimited(request, answer, delayMs);
    const budget = readBudget(answer.headers);
    if (budget && budget.remaining <= 0) {
      await this.#shared("rateLimited", () => redis(() => PAUSE(this.client, [this.#scopeKey(request)], [this.now() + delayMs])));
    }
  }
}
