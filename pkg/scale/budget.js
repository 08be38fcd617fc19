// One rate budget for an account across every instance: the rule of ../host/pacing.js (read the
// budget from Zendesk's headers; below the low-water mark spread what is left until the reset; a 429
// pauses the account; single-user writes 1 per second once signalled), with its state in one Redis hash
// per account and each decision taken by a Lua script, so that two instances never spend the same slot.
//
// What differs from one process: an answer's `remaining` is Zendesk's count when it answered, and the
// requests other instances sent since are not in it yet; the hash counts requests granted and not yet
// answered (`inflight`) and subtracts them. An instance that dies with requests in flight leaves them
// counted until the window resets (the hash expires two minutes after its last use).
import { isSingleUserWrite, Pacer, readBudget } from "../host/pacing.js";
import { script } from "./redis.js";

const WINDOW_MS = 60_000;
const STATE_TTL_MS = 120_000;

// KEYS[1]: the account's hash. ARGV: now, single (0/1), single-write interval.
// Returns {waitUntil, granted}: granted 0 means "paused until waitUntil, then ask again".
const TAKE = script(`
local h = KEYS[1]
local now = tonumber(ARGV[1])
local single = ARGV[2] == '1'
local interval = tonumber(ARGV[3])
local s = redis.call('HMGET', h, 'limit', 'remaining', 'resetAt', 'lastSlot', 'pausedUntil', 'singleSignalled', 'singlePausedUntil', 'nextSingle', 'inflight')
local limit = tonumber(s[1])
local remaining = tonumber(s[2])
local resetAt = tonumber(s[3])
local lastSlot = tonumber(s[4]) or 0
local pausedUntil = tonumber(s[5]) or 0
local signalled = s[6] == '1'
local singlePausedUntil = tonumber(s[7]) or 0
local nextSingle = tonumber(s[8]) or 0
local inflight = tonumber(s[9]) or 0
local pause = pausedUntil
if single and signalled and singlePausedUntil > pause then pause = singlePausedUntil end
if pause > now then return {tostring(pause), 0} end
local slot = now
if remaining then
  if resetAt <= now then
    redis.call('HDEL', h, 'limit', 'remaining', 'resetAt')
    remaining = nil
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
if single and signalled then
  if nextSingle > slot then slot = nextSingle end
  redis.call('HSET', h, 'nextSingle', slot + interval)
end
if slot > lastSlot then redis.call('HSET', h, 'lastSlot', slot) end
redis.call('HSET', h, 'inflight', inflight + 1)
redis.call('PEXPIRE', h, ${STATE_TTL_MS})
return {tostring(slot), 1}
`);

// KEYS[1]: the account's hash. ARGV: now, limit|'' , remaining|'', resetMs|'', signalsSingle (0/1), interval.
const OBSERVE = script(`
local h = KEYS[1]
local now = tonumber(ARGV[1])
local inflight = tonumber(redis.call('HGET', h, 'inflight') or '0') - 1
if inflight < 0 then inflight = 0 end
redis.call('HSET', h, 'inflight', inflight)
if ARGV[5] == '1' and redis.call('HGET', h, 'singleSignalled') ~= '1' then
  redis.call('HSET', h, 'singleSignalled', '1')
  local next = tonumber(redis.call('HGET', h, 'nextSingle') or '0')
  if now + tonumber(ARGV[6]) > next then redis.call('HSET', h, 'nextSingle', now + tonumber(ARGV[6])) end
end
if ARGV[3] ~= '' then
  local remaining = tonumber(ARGV[3]) - inflight
  if ARGV[2] ~= '' then redis.call('HSET', h, 'limit', ARGV[2]) else redis.call('HDEL', h, 'limit') end
  redis.call('HSET', h, 'remaining', remaining, 'resetAt', now + tonumber(ARGV[4]))
end
redis.call('PEXPIRE', h, ${STATE_TTL_MS})
return 1
`);

// KEYS[1]: the account's hash. ARGV: until, singleOnly (0/1).
const PAUSE = script(`
local h = KEYS[1]
local until = tonumber(ARGV[1])
if ARGV[2] == '1' then
  redis.call('HSET', h, 'singleSignalled', '1')
  if until > tonumber(redis.call('HGET', h, 'singlePausedUntil') or '0') then redis.call('HSET', h, 'singlePausedUntil', until) end
  if until > tonumber(redis.call('HGET', h, 'nextSingle') or '0') then redis.call('HSET', h, 'nextSingle', until) end
else
  if until > tonumber(redis.call('HGET', h, 'pausedUntil') or '0') then redis.call('HSET', h, 'pausedUntil', until) end
end
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

/**
 * The Pacer's interface (`before`, `after`, `rateLimited`, `pacedMs`) over the account's hash in Redis.
 * While Redis cannot be reached, this instance paces alone (a local Pacer) rather than stop delivering.
 */
export class SharedPacer {
  constructor(client, { key, now, sleep, singleUserWriteIntervalMs = 1_000, log = () => {} }) {
    this.client = client;
    this.key = key;
    this.now = now;
    this.sleep = sleep;
    this.singleUserWriteIntervalMs = singleUserWriteIntervalMs;
    this.local = new Pacer({ now, sleep, singleUserWriteIntervalMs });
    this.log = log;
    this.failing = false;
    this.paced = 0;
  }

  get pacedMs() {
    return this.paced + this.local.pacedMs;
  }

  async #shared(name, call, fallback) {
    try {
      const result = await call();
      if (this.failing) this.log({ type: "shared_budget", ok: true, message: "Redis answers again: the account's budget is shared again" });
      this.failing = false;
      return result;
    } catch (error) {
      if (!(error instanceof RedisUnavailable)) throw error; // e.g. the destination stopping during a wait
      if (!this.failing) this.log({ type: "shared_budget", ok: false, operation: name, message: `Redis failed (${error?.message ?? error}); pacing this instance alone meanwhile` });
      this.failing = true;
      return fallback();
    }
  }

  before(request) {
    return this.#shared("before", () => this.#before(request), () => this.local.before(request));
  }

  after(request, answer) {
    this.local.after(request, answer);
    return this.#shared("after", () => this.#after(request, answer), () => {});
  }

  rateLimited(request, answer, delayMs) {
    this.local.rateLimited(request, answer, delayMs);
    return this.#shared("rateLimited", () => this.#rateLimited(request, answer, delayMs), () => {});
  }

  async #before(request) {
    const single = isSingleUserWrite(request) ? "1" : "0";
    for (;;) {
      const [at, granted] = await redis(() => TAKE(this.client, [this.key], [this.now(), single, this.singleUserWriteIntervalMs]));
      const wait = Math.ceil(Number(at) - this.now());
      if (wait > 0) {
        this.paced += wait;
        await this.sleep(wait);
      }
      if (Number(granted) === 1) {
        // A 429 may have paused the account while this request waited for its slot.
        const paused = Number((await redis(() => this.client.sendCommand(["HGET", this.key, "pausedUntil"]))) ?? 0);
        if (!(paused > this.now())) return;
        await this.#ungrant();
      }
    }
  }

  async #ungrant() {
    await redis(() => OBSERVE(this.client, [this.key], [this.now(), "", "", "", "0", this.singleUserWriteIntervalMs]));
  }

  async #after(request, answer) {
    const single = isSingleUserWrite(request) && Object.keys(answer.headers ?? {}).some((key) => key.toLowerCase() === "zendesk-ratelimit-create-update-user");
    const budget = readBudget(answer.headers);
    await redis(() => OBSERVE(this.client, [this.key], [
      this.now(),
      budget?.limit ?? "",
      budget ? budget.remaining : "",
      budget ? (budget.resetMs ?? WINDOW_MS) : "",
      single ? "1" : "0",
      this.singleUserWriteIntervalMs,
    ]));
  }

  async #rateLimited(request, answer, delayMs) {
    const budget = readBudget(answer.headers);
    const singleOnly = isSingleUserWrite(request) && !(budget && budget.remaining <= 0);
    await redis(() => PAUSE(this.client, [this.key], [this.now() + delayMs, singleOnly ? "1" : "0"]));
  }
}
