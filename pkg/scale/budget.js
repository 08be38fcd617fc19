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
// requests other instances sent since are not in it yet. Each grant is therefore recorded (a sorted set
// beside the hash, scored by when it was granted) until its answer comes back, and an answer's
// `remaining` is taken less the grants still unanswered. Grants are counted across window resets: one
// sent just before a reset lands in the new window. A grant whose answer never comes (its instance died)
// stops counting after IN_FLIGHT_MAX_MS.
import { Pacer, readBudget, scopeOf } from "../host/pacing.js";
import { script } from "./redis.js";

const WINDOW_MS = 60_000;
const STATE_TTL_MS = 120_000;
// Longer than any request waits for its answer (the host's timeout is 30 s by default), and than the
// wait for a slot: a grant older than this belongs to an instance that is gone.
const IN_FLIGHT_MAX_MS = 120_000;
const ACCOUNT_HEADERS = new Set(["x-rate-limit", "x-rate-limit-remaining", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"]);

// KEYS[1]: the scope's hash, KEYS[2]: its grants in flight. ARGV: now. Returns {at, granted, grant}:
// granted 0 means "paused until at, then ask again"; granted 1 means "go at `at`", and the grant's id
// is counted in flight until OBSERVE hands it back.
const TAKE = script(`
local h = KEYS[1]
local z = KEYS[2]
local now = tonumber(ARGV[1])
local s = redis.call('HMGET', h, 'limit', 'remaining', 'resetAt', 'lastSlot', 'pausedUntil')
local limit = tonumber(s[1])
local remaining = tonumber(s[2])
local resetAt = tonumber(s[3])
local lastSlot = tonumber(s[4]) or 0
local pausedUntil = tonumber(s[5]) or 0
if pausedUntil > now then return {tostring(pausedUntil), 0, ''} end
local slot = now
if remaining then
  if resetAt <= now then
    redis.call('HDEL', h, 'limit', 'remaining', 'resetAt')
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
local grant = redis.call('HINCRBY', h, 'grants', 1)
redis.call('ZADD', z, now, grant)
redis.call('PEXPIRE', h, ${STATE_TTL_MS})
redis.call('PEXPIRE', z, ${STATE_TTL_MS})
return {tostring(slot), 1, tostring(grant)}
`);

// KEYS[1]: the scope's hash, KEYS[2]: its grants in flight. ARGV: now, grant, limit|'', remaining|'',
// resetMs|''. An answer to a grant (or the grant given back unused).
const OBSERVE = script(`
local h = KEYS[1]
local z = KEYS[2]
local now = tonumber(ARGV[1])
redis.call('ZREM', z, ARGV[2])
redis.call('ZREMRANGEBYSCORE', z, '-inf', '(' .. (now - ${IN_FLIGHT_MAX_MS}))
local inflight = redis.call('ZCARD', z)
if ARGV[4] ~= '' then
  if ARGV[3] ~= '' then redis.call('HSET', h, 'limit', ARGV[3]) else redis.call('HDEL', h, 'limit') end
  redis.call('HSET', h, 'remaining', tonumber(ARGV[4]) - inflight, 'resetAt', now + tonumber(ARGV[5]))
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
    this.grants = new WeakMap(); // request → its grant in flight (a retry of it takes a new one)
  }

  get pacedMs() {
    return this.paced + this.local.pacedMs;
  }

  #keys(request) {
    const key = `${this.key}:${scopeOf(request)}`;
    return [key, `${key}:inflight`];
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
    const keys = this.#keys(request);
    for (;;) {
      const [at, granted, grant] = await redis(() => TAKE(this.client, keys, [this.now()]));
      const wait = Math.ceil(Number(at) - this.now());
      if (wait > 0) {
        this.paced += wait;
        await this.sleep(wait);
      }
      if (Number(granted) !== 1) continue;
      // A 429 may have paused the account while this request waited for its slot.
      const paused = Number((await redis(() => this.client.sendCommand(["HGET", keys[0], "pausedUntil"]))) ?? 0);
      if (!(paused > this.now())) {
        this.grants.set(request, grant);
        return;
      }
      await redis(() => OBSERVE(this.client, keys, [this.now(), grant, "", "", ""]));
    }
  }

  async after(request, answer) {
    const budget = readBudget(answer.headers);
    const grant = this.grants.get(request) ?? ""; // none when Redis failed at the grant
    this.grants.delete(request);
    // The local Pacer keeps the account's budget only while Redis fails; otherwise Redis has it.
    const shared = await this.#shared("after", () =>
      redis(() => OBSERVE(this.client, this.#keys(request), [this.now(), grant, budget?.limit ?? "", budget ? budget.remaining : "", budget ? (budget.resetMs ?? WINDOW_MS) : ""])),
    );
    this.local.after(request, shared ? { ...answer, headers: withoutAccountHeaders(answer.headers) } : answer);
  }

  async rateLimited(request, answer, delayMs) {
    this.local.rateLimited(request, answer, delayMs);
    const budget = readBudget(answer.headers);
    if (budget && budget.remaining <= 0) {
      await this.#shared("rateLimited", () => redis(() => PAUSE(this.client, [this.#keys(request)[0]], [this.now() + delayMs])));
    }
  }
}
