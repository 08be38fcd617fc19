// The durable queue and its workers, in process: a person's failing event is retried with backoff
// while everyone else's go on and that person's later events wait behind it; an event that fails for
// good is a dead letter with its outcome, which `zendesk-destination queue` shows and replays.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { main } from "../../pkg/cli.js";
import { createHandler } from "../../pkg/edge.js";
import { connectRedis } from "../../pkg/scale/redis.js";
import { Queue } from "../../pkg/scale/queue.js";
import { decide } from "../../pkg/scale/worker.js";
import { startWorker } from "../../pkg/scale/worker.js";
import { redisFor, simulatorFor, until, WRITE_KEY } from "./scale-support.js";

const settingsFor = (url) => ({ subdomain: "acme", email: "agent@acme.test/token", password: "x", baseUrl: url, events: ["Order Completed"] });

async function enqueue(handler, batch) {
  const response = await handler(
    new Request("http://front/v1/batch", { method: "POST", headers: { authorization: `Basic ${btoa(`${WRITE_KEY}:`)}` }, body: JSON.stringify({ batch }) }),
  );
  return { status: response.status, body: await response.json(), retryAfter: response.headers.get("retry-after") };
}

/** Runs the CLI in process: `{code, stdout, stderr}`. */
async function cli(args, env) {
  let stdout = "";
  let stderr = "";
  const code = await main(args, { stdout: { write: (t) => (stdout += t) }, stderr: { write: (t) => (stderr += t) }, env });
  return { code, stdout, stderr };
}

describe("retry decisions", () => {
  const policy = { retryBaseMs: 1_000, retryMaxDelayMs: 300_000, retryForMs: 4 * 3_600_000 };
  const failed = { status: "failed", code: "zendesk_unavailable", message: "503", retryable: true, warnings: [] };
  test("backoff doubles up to 5 minutes, for 4 hours from the first failure, then a dead letter", () => {
    const first = decide({ messageId: "m" }, failed, 1_000_000, policy, () => 1);
    assert.deepEqual(first, { kind: "retry", nextAt: 1_001_000, info: { attempts: 1, firstFailedAt: 1_000_000, nextAt: 1_001_000, code: "zendesk_unavailable", message: "503", messageId: "m" } });
    const tenth = decide({ messageId: "m", retry: { attempts: 9, firstFailedAt: 1_000_000 } }, failed, 2_000_000, policy, () => 1);
    assert.equal(tenth.nextAt - 2_000_000, 300_000);
    const late = decide({ messageId: "m", retry: { attempts: 60, firstFailedAt: 0 } }, failed, 4 * 3_600_000, policy, () => 1);
    assert.equal(late.kind, "dead");
    assert.match(late.info.gaveUp, /retried 61 time\(s\) for 240 minute\(s\)/);
    assert.deepEqual(decide({}, { status: "failed", code: "unauthorized", retryable: false }, 0, policy, () => 0).kind, "retry");
    assert.deepEqual(decide({}, { status: "invalid", code: "missing_name", message: "x", retryable: false }, 0, policy).kind, "dead");
    assert.deepEqual(decide({}, { status: "delivered", code: "unchanged" }, 0, policy), { kind: "done" });
    assert.deepEqual(decide({}, { status: "failed", code: "cancelled", retryable: true }, 0, policy), { kind: "release" });
  });
});

describe("the queue with a worker", () => {
  test("a person's failing event is retried while the others go on; their later events wait behind it", { timeout: 60_000 }, async (t) => {
    const redis = await redisFor(t);
    const { simulator, server: zendesk } = await simulatorFor(t, {});
    const handler = createHandler({ settings: settingsFor(zendesk.url), writeKeys: [WRITE_KEY], redis: redis.url, queue: true });
    t.after(() => handler.close());
    // Zendesk fails every request about "stuck" (503) until it is healed.
    let healed = false;
    const order = [];
    const fetchImpl = async (url, init) => {
      const text = `${url} ${init?.body ?? ""}`;
      if (!healed && text.includes("stuck")) return new Response('{"error":"ServiceUnavailable"}', { status: 503, headers: { "content-type": "application/json" } });
      return fetch(url, init);
    };
    const worker = await startWorker({
      redis: redis.url,
      settings: settingsFor(zendesk.url),
      fetch: fetchImpl,
      retry: { maxAttempts: 1 },
      retryBaseMs: 100,
      retryMaxDelayMs: 200,
      idleMs: 20,
      onFinish: ({ entry, outcome, kind }) => order.push([JSON.parse(entry.event).messageId, kind, outcome.code]),
    });
    t.after(() => worker.stop());
    const batch = [
      { type: "identify", userId: "stuck", messageId: "s1", traits: { name: "Stuck" } },
      { type: "identify", userId: "stuck", messageId: "s2", traits: { name: "Stuck Again" } },
      ...Array.from({ length: 5 }, (_, i) => ({ type: "identify", userId: `free-${i}`, messageId: `f${i}`, traits: { name: `Free ${i}` } })),
    ];
    const answer = await enqueue(handler, batch);
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body.events.map((line) => line.code), Array(7).fill("queued"));
    await until(() => order.filter(([id, kind]) => id.startsWith("f") && kind === "done").length === 5 && order.filter(([id]) => id === "s1").length >= 2, { timeoutMs: 20_000, describe: () => JSON.stringify(order) });
    assert.ok(!order.some(([id]) => id === "s2"), "the person's later event waits behind the retried one");
    const { client, close } = await connectRedis(redis.url);
    t.after(close);
    const queue = new Queue(client, { prefix: "zendesk-destination" });
    const waiting = await queue.stats();
    assert.equal(waiting.depth, 2);
    assert.equal(waiting.retrying, 1);
    const shown = await cli(["queue", "retries", "--redis", redis.url]);
    assert.equal(shown.code, 0);
    assert.match(shown.stdout, /messageId s1: attempt \d+, next .*, last zendesk_unavailable/);
    healed = true;
    await until(async () => (await queue.stats()).depth === 0, { timeoutMs: 20_000 });
    const stuck = order.filter(([id]) => id.startsWith("s"));
    assert.deepEqual(stuck.at(-2), ["s1", "done", "delivered"]);
    assert.deepEqual(stuck.at(-1), ["s2", "done", "delivered"]);
    assert.ok(stuck.slice(0, -2).every(([id, kind]) => id === "s1" && kind === "retry"));
    assert.equal(simulator.state().users.find((u) => u.external_id === "stuck").name, "Stuck Again");
  });

  test("failed for good: a dead letter with its outcome; `queue` shows it and `queue replay` delivers it after a fix", { timeout: 60_000 }, async (t) => {
    const redis = await redisFor(t);
    const { simulator, server: zendesk } = await simulatorFor(t, {});
    const handler = createHandler({ settings: settingsFor(zendesk.url), writeKeys: [WRITE_KEY], redis: redis.url, queue: true });
    t.after(() => handler.close());
    let refused = true; // Zendesk refuses the write (422) until the operator fixes the account
    const fetchImpl = async (url, init) => {
      if (refused && init?.method === "POST") {
        return new Response('{"error":"RecordInvalid","description":"Record validation errors","details":{"name":[{"description":"Name: is invalid"}]}}', { status: 422, headers: { "content-type": "application/json" } });
      }
      return fetch(url, init);
    };
    const worker = await startWorker({ redis: redis.url, settings: settingsFor(zendesk.url), fetch: fetchImpl, idleMs: 20 });
    t.after(() => worker.stop());
    const batch = [
      { type: "identify", userId: "dl-1", messageId: "dl-1", traits: { name: "Dee" } },
      { type: "identify", userId: "dl-2", messageId: "dl-2", traits: {} },
    ];
    assert.equal((await enqueue(handler, batch)).status, 200);
    // The same batch again: nothing queued twice.
    assert.deepEqual((await enqueue(handler, batch)).body.events.map((line) => [line.code, line.duplicate]), [["duplicate", true], ["duplicate", true]]);
    const env = { REDIS_URL: redis.url };
    await until(async () => JSON.parse((await cli(["queue", "--json"], env)).stdout).deadLetters === 2, { timeoutMs: 20_000 });
    const show = await cli(["queue"], env);
    assert.equal(show.code, 0);
    assert.match(show.stdout, /^depth +0 event\(s\) not yet finished$/m);
    assert.match(show.stdout, /^dead letters 2$/m);
    assert.match(show.stdout, /2 queued, 2 duplicate\(s\) not queued, 0 finished, 0 retries, 2 dead-lettered, 0 replayed/);
    const dead = JSON.parse((await cli(["queue", "dead", "--json"], env)).stdout);
    assert.deepEqual(dead.map((d) => [d.messageId, d.outcome.status, d.outcome.code]), [["dl-1", "failed", "zendesk_rejected"], ["dl-2", "invalid", "missing_name"]]);
    const text = await cli(["queue", "dead"], env);
    assert.match(text.stdout, /messageId dl-2: invalid\/missing_name: identify needs a `name` trait/);
    refused = false;
    const replay = await cli(["queue", "replay", dead[0].id], env);
    assert.deepEqual([replay.code, replay.stdout], [0, "1 dead letter(s) put back on the queue\n"]);
    await until(() => simulator.state().users.some((u) => u.external_id === "dl-1"), { timeoutMs: 20_000 });
    const after = JSON.parse((await cli(["queue", "--json"], env)).stdout);
    assert.deepEqual([after.depth, after.deadLetters, after.replayed], [0, 1, 1]);
    assert.equal((await cli(["queue", "frob"], env)).code, 2);
    assert.match((await cli(["queue"], {})).stderr, /needs --redis URL/);
  });
});

describe("Redis unreachable", () => {
  test("a queue front answers 503 with Retry-After at once (nothing queued: the client keeps its events)", { timeout: 60_000 }, async (t) => {
    const redis = await redisFor(t);
    const { server: zendesk } = await simulatorFor(t, {});
    const handler = createHandler({ settings: settingsFor(zendesk.url), writeKeys: [WRITE_KEY], redis: redis.url, queue: true });
    t.after(() => handler.close());
    const event = [{ type: "identify", userId: "r-1", messageId: "r-1", traits: { name: "R" } }];
    assert.equal((await enqueue(handler, event)).status, 200);
    await redis.stop();
    const started = Date.now();
    const down = await enqueue(handler, [{ ...event[0], messageId: "r-2" }]);
    assert.equal(down.status, 503);
    assert.equal(down.body.error, "queue_unavailable");
    assert.equal(down.retryAfter, "5");
    assert.match(down.body.message, /nothing was queued, retry later/);
    assert.ok(Date.now() - started < 2_000, "answered at once, not after Redis comes back");
  });
});
