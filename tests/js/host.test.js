// The host's duties, one by one, against a scripted engine and a scripted fetch (no network, no engine build).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createDestination, SettingsError } from "../../pkg/index.js";
import { Pacer } from "../../pkg/host/pacing.js";
import { deferred, fakeEngine, fakeFetch, manualClock, networkError, oneRequest, outcome, request } from "./host-fakes.js";

const SETTINGS = { subdomain: "acme", email: "agent@acme.test/token", password: "s3cret-token" };

async function setup(handler, { script = oneRequest, options = {} } = {}) {
  const engine = fakeEngine(script);
  const fetch = fakeFetch(handler);
  const clock = manualClock();
  const logs = [];
  const destination = await createDestination(SETTINGS, {
    engine,
    fetch,
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    logger: (entry) => logs.push(entry),
    ...options,
  });
  return { engine, fetch, clock, logs, destination };
}

describe("settings", () => {
  test("bad settings reject with invalid_settings naming the key", async () => {
    const engine = fakeEngine(oneRequest, {
      invalid: (s) => (s.subdomain ? [] : [{ key: "subdomain", code: "missing", message: "subdomain is required" }]),
    });
    await assert.rejects(createDestination({ email: "a@b.c", password: "pw" }, { engine }), (error) => {
      assert.ok(error instanceof SettingsError);
      assert.equal(error.code, "invalid_settings");
      assert.match(error.message, /subdomain/);
      assert.doesNotMatch(error.message, /pw/);
      assert.deepEqual(error.errors, [{ key: "subdomain", code: "missing", message: "subdomain is required" }]);
      return true;
    });
  });
});

describe("timeouts", () => {
  test("every request has a timeout; a timed-out read is retried, then the engine gets status 0 timeout", async () => {
    const { fetch, destination, engine } = await setup(() => "hang", { options: { timeoutMs: 20, retry: { maxAttempts: 3 } } });
    const result = await destination.deliver({ type: "identify", userId: "u1" });
    assert.equal(fetch.calls.length, 3);
    for (const call of fetch.calls) assert.ok(call.signal instanceof AbortSignal && call.signal.aborted);
    assert.deepEqual(engine.answers, [{ status: 0, error: "timeout" }]);
    assert.equal(result.code, "status_0_timeout");
    assert.equal(destination.stats().timeouts, 3);
    assert.equal(destination.stats().retries, 2);
  });

  test("a timeout on a Sunshine event POST is retried by default (at least once)", async () => {
    const { fetch, destination, engine } = await setup(({ index }) => (index === 0 ? "hang" : { status: 202, body: "{}" }), { options: { timeoutMs: 20 } });
    const result = await destination.deliver({ type: "track", userId: "u1", method: "POST", path: "/api/v2/user_profiles/events", body: "{}" });
    assert.equal(fetch.calls.length, 2);
    assert.equal(engine.answers[0].status, 202);
    assert.deepEqual(result.warnings, []);
  });

  test("with uncertainWrites: report, a timed-out Sunshine event POST is not retried: it may have landed", async () => {
    const { fetch, destination, engine } = await setup(() => "hang", { options: { timeoutMs: 20, retry: { uncertainWrites: "report" } } });
    const result = await destination.deliver({ type: "track", userId: "u1", method: "POST", path: "/api/v2/user_profiles/events", body: "{}" });
    assert.equal(fetch.calls.length, 1);
    assert.deepEqual(engine.answers, [{ status: 0, error: "timeout" }]);
    assert.equal(result.warnings.length, 1);
    assert.match(result.warnings[0], /POST \/api\/v2\/user_profiles\/events timed out and was not retried.*may have landed/);
  });
});

describe("429 and Retry-After", () => {
  test("Retry-After in seconds is honoured; a plain-text body is fine", async () => {
    const { fetch, clock, destination, engine } = await setup(({ index }) =>
      index === 0 ? { status: 429, headers: { "Retry-After": "7" }, body: "Too Many Requests" } : { status: 200, body: "{}" },
    );
    const result = await destination.deliver({ type: "identify", userId: "u1" });
    assert.equal(result.status, "delivered");
    assert.equal(fetch.calls.length, 2);
    assert.deepEqual(clock.sleeps, [7000]);
    assert.equal(engine.answers.length, 1);
    assert.equal(engine.answers[0].status, 200);
    assert.equal(destination.stats().rateLimited, 1);
  });

  test("Retry-After as an HTTP date", async () => {
    const clock = manualClock(Date.parse("2026-01-01T00:00:00Z"));
    const { destination } = await setup(
      ({ index }) => (index === 0 ? { status: 429, headers: { "Retry-After": "Thu, 01 Jan 2026 00:00:05 GMT" }, body: "" } : { status: 200, body: "{}" }),
      { options: { now: clock.now, sleep: clock.sleep } },
    );
    assert.equal((await destination.deliver({ userId: "u1" })).status, "delivered");
    assert.deepEqual(clock.sleeps, [5000]);
  });

  test("Retry-After is capped", async () => {
    const { clock, destination } = await setup(
      ({ index }) => (index === 0 ? { status: 429, headers: { "Retry-After": "3600" }, body: '{"error":"APIRateLimitExceeded"}' } : { status: 200, body: "{}" }),
      { options: { retry: { maxRetryAfterMs: 30_000 } } },
    );
    await destination.deliver({ userId: "u1" });
    assert.deepEqual(clock.sleeps, [30_000]);
  });

  test("429s don't use up the attempts: more 429s than maxAttempts, then the answer", async () => {
    const { fetch, clock, destination, engine } = await setup(({ index }) =>
      index < 7 ? { status: 429, headers: { "Retry-After": "1" }, body: "" } : { status: 200, body: "{}" },
    );
    assert.equal((await destination.deliver({ userId: "u1" })).status, "delivered");
    assert.equal(fetch.calls.length, 8);
    assert.deepEqual(clock.sleeps, Array(7).fill(1000));
    assert.deepEqual(engine.answers.map((a) => a.status), [200]);
  });

  test("429s are bounded by the total time; the engine gets the last 429", async () => {
    const { fetch, clock, destination, engine } = await setup(() => ({ status: 429, headers: { "Retry-After": "20" }, body: "" }));
    const result = await destination.deliver({ userId: "u1" });
    // waits of 20 s fit six times in the default 120 s; the seventh would pass it
    assert.equal(fetch.calls.length, 7);
    assert.deepEqual(clock.sleeps, Array(6).fill(20_000));
    assert.deepEqual(engine.answers.map((a) => a.status), [429]);
    assert.equal(result.code, "status_429");
  });

  test("429 forever with Retry-After: 0 still ends (10 × maxAttempts)", async () => {
    // After 100 calls the fake gives in, so a host without the bound fails here instead of hanging.
    const { fetch, destination } = await setup(({ index }) => (index < 100 ? { status: 429, headers: { "Retry-After": "0" }, body: "" } : { status: 200, body: "{}" }), {
      options: { retry: { maxAttempts: 2 } },
    });
    assert.equal((await destination.deliver({ userId: "u1" })).code, "status_429");
    assert.equal(fetch.calls.length, 20);
  });

  test("an unreadable Retry-After falls back to the backoff", async () => {
    const { clock, destination } = await setup(({ index }) => (index === 0 ? { status: 429, headers: { "Retry-After": "soon, maybe" }, body: "<html>" } : { status: 200, body: "{}" }));
    assert.equal((await destination.deliver({ userId: "u1" })).status, "delivered");
    assert.deepEqual(clock.sleeps, [375]);
  });

  test("a 429 on a single-user write that says the account budget is spent does not start single-write pacing", async () => {
    const { clock, destination } = await setup(({ index }) =>
      index === 0 ? { status: 429, headers: { "Retry-After": "1", "ratelimit-limit": "200", "ratelimit-remaining": "0", "ratelimit-reset": "1" }, body: "" } : { status: 200, body: "{}" },
    );
    const put = (id) => ({ userId: `u${id}`, method: "PUT", path: `/api/v2/users/${id}`, body: "{}" });
    for (const id of [1, 2, 3]) assert.equal((await destination.deliver(put(id))).status, "delivered");
    assert.deepEqual(clock.sleeps, [1000]);
  });

  test("a 429 pauses the whole account, not only the request that got it", async () => {
    const clock = manualClock();
    const waits = [];
    const sleep = (ms) => {
      clock.sleeps.push(ms);
      const wait = deferred();
      waits.push(() => {
        clock.t += ms;
        wait.resolve();
      });
      return wait.promise;
    };
    let first = true;
    const { fetch, destination } = await setup(
      (call) => {
        if (first) {
          first = false;
          return { status: 429, headers: { "Retry-After": "10" }, body: "" };
        }
        return { status: 200, body: "{}" };
      },
      { options: { now: clock.now, sleep } },
    );
    const a = destination.deliver({ userId: "a" });
    await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(clock.sleeps, [10_000]);
    const b = destination.deliver({ userId: "b" });
    await new Promise((r) => setTimeout(r, 5));
    // b (another user) is held back by the same pause before it is sent.
    assert.equal(fetch.calls.length, 1);
    assert.deepEqual(clock.sleeps, [10_000, 10_000]);
    for (const go of waits) go();
    assert.deepEqual([(await a).status, (await b).status], ["delivered", "delivered"]);
    assert.equal(fetch.calls.length, 3);
  });
});

describe("retries", () => {
  test("5xx and 409 are retried with exponential backoff and jitter", async () => {
    const statuses = [500, 502, 409, 200];
    const { fetch, clock, destination, engine } = await setup(({ index }) => ({ status: statuses[index], body: "{}" }));
    const result = await destination.deliver({ userId: "u1" });
    assert.equal(result.status, "delivered");
    assert.equal(fetch.calls.length, 4);
    // random() = 0.5 → half of each step fixed plus a quarter: 500·2^(n-1) · 0.75
    assert.deepEqual(clock.sleeps, [375, 750, 1500]);
    assert.deepEqual(engine.answers.map((a) => a.status), [200]);
  });

  test("jitter varies the wait within [step/2, step]", async () => {
    for (const [random, expected] of [[0, 250], [1, 500]]) {
      const { clock, destination } = await setup(({ index }) => ({ status: index === 0 ? 503 : 200, body: "" }), { options: { random: () => random } });
      await destination.deliver({ userId: "u1" });
      assert.deepEqual(clock.sleeps, [expected]);
    }
  });

  test("503 with Retry-After waits at least that long", async () => {
    const { clock, destination } = await setup(({ index }) => (index === 0 ? { status: 503, headers: { "Retry-After": "4" }, body: "" } : { status: 200, body: "" }));
    await destination.deliver({ userId: "u1" });
    assert.deepEqual(clock.sleeps, [4000]);
  });

  test("other 4xx are not retried and go to the engine", async () => {
    for (const status of [400, 401, 403, 404, 422]) {
      const { fetch, destination, engine } = await setup(() => ({ status, body: '{"error":"RecordInvalid"}' }));
      const result = await destination.deliver({ userId: "u1" });
      assert.equal(fetch.calls.length, 1, `status ${status}`);
      assert.equal(result.code, `status_${status}`);
      assert.deepEqual(engine.answers, [{ status, headers: { "content-type": "text/plain;charset=UTF-8" }, body: '{"error":"RecordInvalid"}' }]);
    }
  });

  test("a status that arrived is never repeated, even when its body is then lost", async () => {
    const broken = () =>
      new Response(new ReadableStream({ pull: (controller) => controller.error(new TypeError("terminated")) }), { status: 202, headers: { "content-type": "application/json" } });
    for (const uncertainWrites of ["retry", "report"]) {
      const { fetch, destination, engine, logs } = await setup(() => broken(), { options: { retry: { uncertainWrites } } });
      const result = await destination.deliver({ userId: "u1", method: "POST", path: "/api/v2/users/12/events", body: "{}" });
      assert.equal(fetch.calls.length, 1, uncertainWrites);
      assert.deepEqual(engine.answers, [{ status: 202, headers: { "content-type": "application/json" }, body: "" }]);
      assert.equal(result.code, "status_202");
      assert.ok(logs.some((e) => e.type === "body_lost" && e.status === 202));
    }
  });

  test("bounded in attempts: the engine gets the last answer", async () => {
    const { fetch, destination, engine } = await setup(({ index }) => ({ status: 500 + index, body: `attempt ${index}` }), { options: { retry: { maxAttempts: 4 } } });
    const result = await destination.deliver({ userId: "u1" });
    assert.equal(fetch.calls.length, 4);
    assert.equal(engine.answers.length, 1);
    assert.equal(engine.answers[0].status, 503);
    assert.equal(engine.answers[0].body, "attempt 3");
    assert.equal(result.code, "status_503");
  });

  test("bounded in total time", async () => {
    const { fetch, clock, destination } = await setup(() => ({ status: 500, body: "" }), {
      options: { retry: { maxAttempts: 100, baseDelayMs: 1000, maxDelayMs: 1000, maxTotalMs: 5000 } },
    });
    await destination.deliver({ userId: "u1" });
    // each wait is 750 ms (random 0.5): six waits fit in 5 s, the seventh would not
    assert.equal(fetch.calls.length, 7);
    assert.ok(clock.sleeps.reduce((a, b) => a + b, 0) <= 5000);
  });

  test("connection errors are retried for reads and upserts", async () => {
    const { fetch, destination, engine } = await setup(({ index }) => {
      if (index < 2) throw networkError("ECONNRESET");
      return { status: 200, body: "{}" };
    });
    const result = await destination.deliver({ userId: "u1", method: "POST", path: "/api/v2/users/create_or_update", body: "{}" });
    assert.equal(result.status, "delivered");
    assert.equal(fetch.calls.length, 3);
    assert.equal(engine.answers[0].status, 200);
  });

  test("with uncertainWrites: report, a dropped connection on a Sunshine event POST is not retried; a refused one is", async () => {
    const options = { retry: { uncertainWrites: "report" } };
    {
      const { fetch, destination, engine } = await setup(() => {
        throw networkError("ECONNRESET");
      }, { options });
      const result = await destination.deliver({ userId: "u1", method: "POST", path: "/api/v2/users/12/events", body: "{}" });
      assert.equal(fetch.calls.length, 1);
      assert.deepEqual(engine.answers, [{ status: 0, error: "network" }]);
      assert.match(result.warnings[0], /lost its connection and was not retried/);
    }
    {
      const { fetch, destination, engine } = await setup(({ index }) => {
        if (index === 0) throw networkError("ECONNREFUSED");
        return { status: 202, body: "{}" };
      }, { options });
      const result = await destination.deliver({ userId: "u1", method: "POST", path: "/api/v2/user_profiles/events", body: "{}" });
      assert.equal(fetch.calls.length, 2);
      assert.equal(engine.answers[0].status, 202);
      assert.deepEqual(result.warnings, []);
    }
  });

  test("once the status is known the request is not repeated, even if the body never arrives", async () => {
    const { fetch, destination, engine } = await setup(
      () =>
        new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(new TextEncoder().encode('{"profile_id":'));
            },
          }),
          { status: 202 },
        ),
      { options: { timeoutMs: 30 } },
    );
    const result = await destination.deliver({ userId: "u1", method: "POST", path: "/api/v2/user_profiles/events", body: "{}" });
    assert.equal(fetch.calls.length, 1);
    assert.deepEqual(engine.answers, [{ status: 202, headers: {}, body: "" }]);
    assert.equal(result.status, "delivered");
  });

  test("5xx on a Sunshine event POST is retried (an error answer means it was not stored)", async () => {
    const { fetch, destination } = await setup(({ index }) => ({ status: index === 0 ? 500 : 202, body: "{}" }));
    const result = await destination.deliver({ userId: "u1", method: "POST", path: "/api/v2/user_profiles/events", body: "{}" });
    assert.equal(result.status, "delivered");
    assert.equal(fetch.calls.length, 2);
  });
});

describe("pacing", () => {
  const paced = (headers) => () => ({ status: 200, headers, body: "{}" });

  test("unpaced while the budget is comfortable", async () => {
    const { clock, destination } = await setup(paced({ "X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "600" }));
    for (let i = 0; i < 5; i++) await destination.deliver({ userId: `u${i}` });
    assert.deepEqual(clock.sleeps, []);
  });

  test("ratelimit-remaining low spreads the rest of the window", async () => {
    const { clock, destination } = await setup(paced({ "ratelimit-limit": "100", "ratelimit-remaining": "5", "ratelimit-reset": "10" }));
    await destination.deliver({ userId: "u0" });
    await destination.deliver({ userId: "u1" });
    // 5 left for 10 s → one every 2 s
    assert.deepEqual(clock.sleeps, [2000]);
  });

  test("X-Rate-Limit-Remaining 0 waits for the minute window", async () => {
    const { clock, destination } = await setup(paced({ "X-Rate-Limit": "200", "X-Rate-Limit-Remaining": "0" }));
    await destination.deliver({ userId: "u0" });
    await destination.deliver({ userId: "u1" });
    assert.deepEqual(clock.sleeps, [60_000]);
  });

  test("a spent zendesk-ratelimit-* budget holds back its own endpoint only", async () => {
    const { clock, destination } = await setup(paced({ "zendesk-ratelimit-users": "total=100; remaining=0; resets=12" }));
    await destination.deliver({ userId: "u0" });
    await destination.deliver({ userId: "u1", path: "/api/v2/organizations/search?external_id=1" });
    assert.deepEqual(clock.sleeps, []);
    await destination.deliver({ userId: "u2" });
    assert.deepEqual(clock.sleeps, [12_000]);
  });

  test("after a user write's Zendesk-RateLimit-create-update-user header, nothing else waits", async () => {
    const { clock, destination } = await setup(paced({ "Zendesk-RateLimit-create-update-user": "total=5; remaining=4; resets=60", "X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "650" }));
    const put = (id) => ({ userId: `u${id}`, method: "PUT", path: `/api/v2/users/${id}`, body: "{}" });
    for (const id of [1, 2, 3]) await destination.deliver(put(id));
    for (let i = 0; i < 10; i++) await destination.deliver({ userId: `r${i}` });
    assert.deepEqual(clock.sleeps, []);
  });

  test("Sunshine events are paced on their own budget: a spent events budget holds back events only", async () => {
    const { clock, destination } = await setup((call) =>
      call.url.endsWith("/events") ? { status: 202, headers: { "X-Rate-Limit": "1000", "X-Rate-Limit-Remaining": "0" }, body: "{}" } : { status: 200, headers: { "X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "600" }, body: "{}" },
    );
    const event = (n) => ({ userId: `e${n}`, method: "POST", path: `/api/v2/users/${n}/events`, body: "{}" });
    await destination.deliver(event(1));
    await destination.deliver({ userId: "r1" }); // a lookup: the account's budget has room
    assert.deepEqual(clock.sleeps, []);
    await destination.deliver(event(2)); // the events budget is spent: wait for its window
    assert.deepEqual(clock.sleeps, [60_000]);
  });

  test("a 429 from one endpoint (Update Organization) pauses that endpoint, not the account", async () => {
    let throttled = 0;
    const { clock, destination, fetch } = await setup((call) => {
      if (call.url.includes("/organizations/") && throttled++ === 0) {
        return { status: 429, headers: { "Retry-After": "30" }, body: '{"errors":[{"code":"TooManyRequests","title":"Too many requests to update"}]}' };
      }
      return { status: 200, body: "{}" };
    });
    await destination.deliver({ userId: "o1", method: "PUT", path: "/api/v2/organizations/77", body: "{}" });
    assert.deepEqual(clock.sleeps, [30_000]);
    // Another organization's update waits out the endpoint's pause (the clock has moved 30 s: none left);
    // lookups and events never waited.
    await destination.deliver({ userId: "r1" });
    await destination.deliver({ userId: "o2", method: "PUT", path: "/api/v2/organizations/78", body: "{}" });
    assert.deepEqual(clock.sleeps, [30_000]);
    assert.equal(fetch.calls.length, 4);
  });

  test("while an endpoint is paused by its 429, other requests go out at once", async () => {
    const clock = manualClock();
    const pacer = new Pacer({ now: clock.now, sleep: clock.sleep });
    const at = (method, path) => ({ method, url: `https://acme.zendesk.com${path}` });
    const throttle = '{"errors":[{"code":"TooManyRequests","title":"Too many requests to update"}]}';
    pacer.rateLimited(at("PUT", "/api/v2/organizations/77"), { status: 429, headers: { "retry-after": "30" }, body: throttle }, 30_000);
    await pacer.before(at("GET", "/api/v2/users?external_id=u1"));
    await pacer.before(at("POST", "/api/v2/users/5/events"));
    assert.deepEqual(clock.sleeps, []);
    await pacer.before(at("PUT", "/api/v2/organizations/78.json"));
    assert.deepEqual(clock.sleeps, [30_000]);
    // A 429 that names no narrower limit (no rate-limit header, a plain body) still pauses the account.
    pacer.rateLimited(at("GET", "/api/v2/users/search"), { status: 429, headers: { "retry-after": "5" }, body: "Too Many Requests" }, 5_000);
    await pacer.before(at("POST", "/api/v2/users/5/events"));
    assert.deepEqual(clock.sleeps, [30_000, 5_000]);
  });

  test("single-user writes are spaced 1.1 s apart only after the account signalled the limit", async () => {
    let limited = 0;
    const { fetch, clock, destination } = await setup((call) => {
      if (call.method === "PUT" && call.url.endsWith("/users/3") && limited++ === 0) return { status: 429, headers: { "Retry-After": "1" }, body: "" };
      return { status: 200, body: "{}" };
    });
    const put = (id) => ({ userId: `u${id}`, method: "PUT", path: `/api/v2/users/${id}`, body: "{}" });
    // Not signalled yet: no pacing at all.
    await destination.deliver(put(1));
    await destination.deliver(put(2));
    assert.deepEqual(clock.sleeps, []);
    // The 429 on a single-user write: wait its Retry-After, then 1.1 s between such writes.
    await destination.deliver(put(3));
    assert.deepEqual(clock.sleeps, [1000]);
    await destination.deliver(put(4));
    await destination.deliver({ userId: "u5", method: "POST", path: "/api/v2/users/create_or_update", body: "{}" });
    assert.deepEqual(clock.sleeps, [1000, 1100, 1100]);
    // Reads are not slowed by the single-user write limit.
    await destination.deliver({ userId: "u6" });
    assert.deepEqual(clock.sleeps, [1000, 1100, 1100]);
    assert.equal(fetch.calls.length, 7);
  });
});

describe("ordering", () => {
  test("same user in order one at a time; different users concurrently up to the limit", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const active = new Map();
    const seen = new Map();
    const violations = [];
    const { destination } = await setup(async (call) => {
      const [user, n] = new URL(call.url).searchParams.get("external_id").split(".");
      if (active.get(user)) violations.push(`${user}.${n} while ${user} is being delivered`);
      if (n !== String((seen.get(user) ?? 0) + 1)) violations.push(`${user}.${n} out of order`);
      seen.set(user, Number(n));
      active.set(user, 1);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, (Number(n) * 7 + user.charCodeAt(0)) % 5));
      inFlight--;
      active.set(user, 0);
      return { status: 200, body: "{}" };
    });
    const events = [];
    for (let i = 0; i < 60; i++) {
      const user = "abcdefg"[i % 7 === 6 ? 0 : i % 5];
      const n = events.filter((e) => e.userId === user).length + 1;
      events.push({ userId: user, path: `/api/v2/users/search?external_id=${user}.${n}` });
    }
    const done = [];
    const outcomes = await destination.deliverAll(events, { concurrency: 3, onOutcome: (o, i) => done.push(i) });
    assert.equal(outcomes.length, 60);
    assert.ok(outcomes.every((o) => o.status === "delivered"));
    assert.deepEqual(violations, []);
    assert.equal(maxInFlight, 3);
    assert.deepEqual(done.sort((x, y) => x - y), events.map((_, i) => i));
    assert.deepEqual([...seen.values()].reduce((a, b) => a + b, 0), 60);
  });

  test("emails and organizations are keys too: an identify and a group on the same organization are serialized", async () => {
    const order = [];
    const { destination } = await setup(async (call) => {
      const id = new URL(call.url).searchParams.get("external_id");
      order.push(`start ${id}`);
      await new Promise((r) => setTimeout(r, id === "1" ? 20 : 0));
      order.push(`end ${id}`);
      return { status: 200, body: "{}" };
    });
    await destination.deliverAll(
      [
        { type: "group", userId: "x", groupId: "org-1", path: "/api/v2/users/search?external_id=1" },
        { type: "identify", userId: "y", traits: { email: "Y@e.com", company: { id: "org-1" } }, path: "/api/v2/users/search?external_id=2" },
        { type: "track", userId: "z", properties: { email: "y@E.com" }, path: "/api/v2/users/search?external_id=3" },
      ],
      { concurrency: 5 },
    );
    assert.deepEqual(order, ["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]);
  });

  test("outcomes come back in input order", async () => {
    const { destination } = await setup(async (call) => {
      const id = Number(new URL(call.url).searchParams.get("external_id"));
      await new Promise((r) => setTimeout(r, (5 - id) * 3));
      return { status: [200, 201, 400, 404, 422][id], body: "{}" };
    });
    const events = [0, 1, 2, 3, 4].map((i) => ({ userId: `u${i}`, path: `/api/v2/users/search?external_id=${i}` }));
    const outcomes = await destination.deliverAll(events, { concurrency: 5 });
    assert.deepEqual(outcomes.map((o) => o.code), ["status_200", "status_201", "status_400", "status_404", "status_422"]);
  });
});

describe("shutdown", () => {
  test("close(): waiting events are cancelled, in-flight ones finish, nothing is dropped", async () => {
    const gate = deferred();
    const { fetch, destination } = await setup(
      async () => {
        await gate.promise;
        return { status: 200, body: "{}" };
      },
      { options: { sleep: () => new Promise(() => {}) } }, // the grace period does not run out here
    );
    const all = destination.deliverAll(
      [{ userId: "a" }, { userId: "a" }, { userId: "b" }, { userId: "c" }],
      { concurrency: 2 },
    );
    await new Promise((r) => setTimeout(r, 5));
    const closing = destination.close({ timeoutMs: 60_000 });
    gate.resolve();
    await closing;
    const outcomes = await all;
    assert.deepEqual(outcomes.map((o) => o.status), ["delivered", "failed", "delivered", "failed"]);
    assert.equal(outcomes[1].code, "cancelled");
    assert.equal(outcomes[1].retryable, true);
    assert.match(outcomes[1].message, /not sent/);
    assert.equal(fetch.calls.length, 2);
    const after = await destination.deliver({ userId: "d" });
    assert.equal(after.code, "cancelled");
    assert.equal(fetch.calls.length, 2);
  });

  test("close() past its grace period abandons requests in flight: the event is cancelled, not lost", async () => {
    const { destination } = await setup(() => "hang", { options: { timeoutMs: 60_000 } });
    const pending = destination.deliver({ userId: "a" });
    await new Promise((r) => setTimeout(r, 5));
    await destination.close({ timeoutMs: 0 });
    const result = await pending;
    assert.equal(result.code, "cancelled");
    assert.match(result.message, /1 request\(s\) had been sent and may have landed/);
    assert.equal(destination.stats().pending, 0);
  });

  test("close() interrupts a backoff wait", async () => {
    const never = () => new Promise(() => {});
    const { destination } = await setup(() => ({ status: 500, body: "" }), { options: { sleep: never } });
    const pending = destination.deliver({ userId: "a" });
    await new Promise((r) => setTimeout(r, 5));
    await destination.close({ timeoutMs: 0 });
    assert.equal((await pending).code, "cancelled");
  });
});

describe("cut short by the runtime", () => {
  // Cloudflare Workers reject the pending waits of a request that has ended with errors like this one.
  const RUNTIME_ERROR = "Cannot perform I/O on behalf of a different request (a promise created by a request that has since ended)";

  test("a wait the runtime cuts short ends interrupted (retryable), not cancelled nor internal_error", async () => {
    const { destination } = await setup(() => ({ status: 500, body: "" }), { options: { sleep: () => Promise.reject(new Error(RUNTIME_ERROR)) } });
    const result = await destination.deliver({ userId: "a" });
    assert.equal(result.status, "failed");
    assert.equal(result.code, "interrupted");
    assert.equal(result.retryable, true);
    assert.match(result.message, /the runtime cut this event's delivery short \(Cannot perform I\/O on behalf of a different request/);
    assert.match(result.message, /1 request\(s\) had been sent and may have landed/);
    assert.doesNotMatch(result.message, /closed/);
  });

  test("only close() makes an event cancelled", async () => {
    const never = () => new Promise(() => {});
    const { destination } = await setup(() => ({ status: 500, body: "" }), { options: { sleep: never } });
    const pending = destination.deliver({ userId: "a" });
    await new Promise((r) => setTimeout(r, 5));
    await destination.close({ timeoutMs: 0 });
    const result = await pending;
    assert.equal(result.code, "cancelled");
    assert.match(result.message, /the destination was closed/);
  });
});

describe("OAuth refresh", () => {
  function* twoReads() {
    const a = yield request("GET", "/api/v2/users/search?external_id=1", null, "Bearer old-token");
    const b = yield request("GET", "/api/v2/users/search?external_id=2", null, "Bearer old-token");
    return outcome(a.status === 200 && b.status === 200 ? "delivered" : "failed", `${a.status}/${b.status}`);
  }
  const oauthRefresh = { refreshToken: "refresh-1", clientId: "client", clientSecret: "client-secret" };

  test("a 401 invalid_token refreshes once, redoes the request, and hands the tokens over", async () => {
    const tokens = [];
    const { fetch, destination, logs } = await setup(
      (call) => {
        if (call.url.endsWith("/oauth/tokens")) return { status: 201, body: JSON.stringify({ access_token: "new-token", refresh_token: "refresh-2", expires_in: 1800, token_type: "bearer" }) };
        if (call.headers.Authorization === "Bearer new-token") return { status: 200, body: "{}" };
        return { status: 401, body: '{"error":"invalid_token","error_description":"expired"}' };
      },
      { script: twoReads, options: { oauthRefresh, onTokens: (t) => tokens.push(t) } },
    );
    const result = await destination.deliver({ userId: "u" });
    assert.equal(result.code, "200/200");
    const refresh = fetch.calls.filter((c) => c.url.endsWith("/oauth/tokens"));
    assert.equal(refresh.length, 1);
    assert.equal(refresh[0].url, "https://acme.zendesk.com/oauth/tokens");
    assert.equal(refresh[0].method, "POST");
    // Zendesk leaves expires_in out of its answer unless the request asks for it: the request asks.
    assert.deepEqual(JSON.parse(refresh[0].body), { grant_type: "refresh_token", refresh_token: "refresh-1", client_id: "client", client_secret: "client-secret", expires_in: 1800 });
    assert.deepEqual(tokens, [{ accessToken: "new-token", refreshToken: "refresh-2", expiresIn: 1800 }]);
    // old → 401, refresh, redo with new, then the second request carries the new token from the start
    assert.deepEqual(fetch.calls.map((c) => c.headers.Authorization ?? "none"), ["Bearer old-token", "none", "Bearer new-token", "Bearer new-token"]);
    assert.equal(destination.stats().refreshes, 1);
    const logged = JSON.stringify(logs);
    for (const secret of ["new-token", "refresh-1", "refresh-2", "client-secret", "old-token"]) assert.ok(!logged.includes(secret), secret);
  });

  test("concurrent 401s share one refresh", async () => {
    const refreshGate = deferred();
    const { fetch, destination } = await setup(
      async (call) => {
        if (call.url.endsWith("/oauth/tokens")) {
          await refreshGate.promise;
          return { status: 200, body: JSON.stringify({ access_token: "new-token", refresh_token: "refresh-2", expires_in: 1800 }) };
        }
        if (call.headers.Authorization === "Bearer new-token") return { status: 200, body: "{}" };
        return { status: 401, body: '{"error":"invalid_token"}' };
      },
      { script: twoReads, options: { oauthRefresh } },
    );
    const all = destination.deliverAll([{ userId: "a" }, { userId: "b" }, { userId: "c" }], { concurrency: 3 });
    await new Promise((r) => setTimeout(r, 10));
    refreshGate.resolve();
    const outcomes = await all;
    assert.deepEqual(outcomes.map((o) => o.code), ["200/200", "200/200", "200/200"]);
    assert.equal(fetch.calls.filter((c) => c.url.endsWith("/oauth/tokens")).length, 1);
  });

  test("a second 401 after a refresh goes to the engine; a plain 401 triggers no refresh", async () => {
    {
      const { fetch, destination } = await setup(
        (call) => (call.url.endsWith("/oauth/tokens") ? { status: 200, body: '{"access_token":"new-token","refresh_token":"r2","expires_in":60}' } : { status: 401, body: '{"error":"invalid_token"}' }),
        { options: { oauthRefresh } },
      );
      const result = await destination.deliver({ userId: "u" });
      assert.equal(result.code, "status_401");
      assert.equal(fetch.calls.length, 3); // request, refresh, redo
    }
    {
      const { fetch, destination } = await setup(() => ({ status: 401, body: `{"error":"Couldn't authenticate you"}` }), { options: { oauthRefresh } });
      assert.equal((await destination.deliver({ userId: "u" })).code, "status_401");
      assert.equal(fetch.calls.length, 1);
    }
  });

  test("a failed refresh hands the 401 to the engine", async () => {
    const { fetch, destination } = await setup(
      (call) => (call.url.endsWith("/oauth/tokens") ? { status: 400, body: '{"error":"invalid_grant"}' } : { status: 401, body: '{"error":"invalid_token"}' }),
      { options: { oauthRefresh } },
    );
    assert.equal((await destination.deliver({ userId: "u" })).code, "status_401");
    assert.equal(fetch.calls.length, 2);
  });
});

describe("logger", () => {
  test("structured entries, never a credential", async () => {
    const { logs, destination } = await setup(({ index }) => (index === 0 ? { status: 500, body: "" } : { status: 200, body: "{}" }));
    await destination.deliver({ userId: "u1" });
    assert.deepEqual(logs.map((e) => e.type), ["request", "response", "retry", "request", "response"]);
    assert.equal(logs[2].status, 500);
    assert.equal(logs[2].delayMs, 375);
    const text = JSON.stringify(logs);
    assert.ok(!text.includes("c2VjcmV0") && !text.includes("s3cret-token") && !/authorization/i.test(text));
  });

  test("a throwing logger does not break delivery", async () => {
    const { destination } = await setup(() => ({ status: 200, body: "{}" }), {
      options: {
        logger: () => {
          throw new Error("boom");
        },
      },
    });
    assert.equal((await destination.deliver({ userId: "u1" })).status, "delivered");
  });
});

describe("engine input", () => {
  test("events go to the engine as JSON text, big integers exact; JSON text passes through", async () => {
    const { destination, engine } = await setup(() => ({ status: 200, body: "{}" }));
    await destination.deliver('{"userId":"u","traits":{"organizationId":12345678901234567890}}');
    assert.equal(engine.begun[0].input, '{"userId":"u","traits":{"organizationId":12345678901234567890}}');
    await destination.deliver({ userId: "u", n: 1 });
    assert.equal(engine.begun[1].input, '{"userId":"u","n":1}');
  });

  test("a value that cannot become JSON is an invalid_event outcome: no rejection, nothing lost, nothing sent", async () => {
    const unhandled = [];
    const onUnhandled = (reason) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const { destination, fetch, engine } = await setup(() => ({ status: 200, body: "{}" }));
      const cyclic = { type: "identify", userId: "u1" };
      cyclic.self = cyclic;
      const getter = { type: "identify", get userId() { throw new Error("no userId today"); } };
      const toJSON = { toJSON() { throw new Error("not serializable"); } };
      for (const event of [cyclic, getter, toJSON]) {
        const result = await destination.deliver(event);
        assert.deepEqual([result.status, result.code, result.retryable], ["invalid", "invalid_event", false], result.message);
        assert.match(result.message, /cannot be read as JSON/);
      }
      const outcomes = await destination.deliverAll([cyclic, { userId: "u2" }]);
      assert.deepEqual(outcomes.map((o) => o.code), ["invalid_event", "status_200"]);
      assert.equal((await destination.plan(cyclic)).outcome.code, "invalid_event");
      assert.equal(fetch.calls.length, 1);
      assert.equal(engine.begun.length, 1);
      await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  test("begin gets the injected clock's now", async () => {
    const { destination, engine, clock } = await setup(() => ({ status: 200, body: "{}" }));
    await destination.deliver({ userId: "u" });
    assert.equal(engine.begun[0].now, clock.now());
  });
});
