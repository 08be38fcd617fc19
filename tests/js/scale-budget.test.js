// The shared rate budget (pkg/scale/budget.js) on a real Redis, with a clock the test moves: requests
// granted just before Zendesk's window resets land in the new window, so they must still count against
// what the next answers say is left. Two pacers stand for two instances.
import assert from "node:assert/strict";
import { test } from "node:test";
import { connectRedis } from "../../pkg/scale/redis.js";
import { SharedPacer } from "../../pkg/scale/budget.js";
import { redisFor } from "./scale-support.js";

const URL_LOOKUP = "https://acme.zendesk.com/api/v2/users.json?external_id=x";
const request = () => ({ method: "GET", url: URL_LOOKUP, headers: {} });
const answer = (limit, remaining, resetSeconds) => ({
  status: 200,
  headers: { "x-rate-limit": String(limit), "x-rate-limit-remaining": String(remaining), "ratelimit-limit": String(limit), "ratelimit-remaining": String(remaining), "ratelimit-reset": String(resetSeconds) },
  body: "{}",
});

/** Two instances' pacers on one Redis, and the clock they share: the test moves it, and so does a pacer's wait. */
async function twoInstances(t, start) {
  const redis = await redisFor(t);
  const { client, close } = await connectRedis(redis.url);
  t.after(close);
  const clock = { at: start };
  const options = { key: `budget-${process.pid}`, now: () => clock.at, sleep: async (ms) => void (clock.at += ms), log: (entry) => assert.fail(`Redis failed: ${entry.message}`) };
  return { clock, pacers: [new SharedPacer(client, options), new SharedPacer(client, options)] };
}

/** How many requests `pacer` lets go at once before it makes one wait (that wait moves the clock). */
async function unpacedRequests(pacer, clock) {
  const start = clock.at;
  let unpaced = 0;
  while (clock.at === start && unpaced < 100) {
    await pacer.before(request());
    if (clock.at === start) unpaced++;
  }
  return unpaced;
}

test("requests granted before a window reset and answered after it still count against the new window's budget", async (t) => {
  const { clock, pacers: [one, two] } = await twoInstances(t, 1_000_000);

  // Window 1: Zendesk says 99 of 100 are left, resetting in 1 s. Instance one sends five more.
  const first = request();
  await one.before(first);
  await one.after(first, answer(100, 99, 1));
  const early = Array.from({ length: 5 }, request);
  for (const r of early) await one.before(r);
  assert.equal(clock.at, 1_000_000, "above the low-water mark nothing waits");

  // The window resets before those five arrive. Instance two sends five while no answer of the new
  // window is known yet.
  clock.at += 1_001;
  const late = Array.from({ length: 5 }, request);
  for (const r of late) await two.before(r);

  // The five early ones are answered from the new window: Zendesk has counted them and nothing else,
  // so the last answer says 95 left. The five late ones are still on their way: 90 are really left.
  for (const [i, r] of early.entries()) await one.after(r, answer(100, 99 - i, 59));

  // Requests go out unpaced down to the low-water mark (a fifth of the limit, 20), then are spread
  // until the reset: 70 unpaced ones leave the 20.
  assert.equal(await unpacedRequests(two, clock), 70, "sent unpaced: the 90 really left less the low-water mark");
});

test("the grants of an instance that died stop counting after two minutes", async (t) => {
  const { clock, pacers: [dead, alive] } = await twoInstances(t, 5_000_000);
  for (let i = 0; i < 30; i++) await dead.before(request()); // never answered

  const unpacedAfter = async (answerRemaining) => {
    const r = request();
    await alive.before(r);
    await alive.after(r, answer(100, answerRemaining, 59));
    return unpacedRequests(alive, clock);
  };
  assert.equal(await unpacedAfter(99), 49, "30 unanswered grants count: 99 − 30 left, 20 of them spread");
  clock.at += 121_000;
  // alive's own 49 + 1 spread grants are unanswered too, and as old: all have stopped counting.
  assert.equal(await unpacedAfter(99), 79, "two minutes on, nothing unanswered counts: 99 left, 20 of them spread");
});
