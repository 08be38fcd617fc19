// What the engine learns, shared: takeLearned/learn on the engine's Destination, and through Redis
// between two destinations of one account — ids and digests one learned spare the other its lookups
// and unchanged writes, and (the reason it must be shared) a destination never skips a write because
// of a digest another destination's later write made stale.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createDestination } from "../../pkg/index.js";
import { loadEngine } from "zendesk-destination/engine"; // Node's entry (the package's node condition)
import { createSimulator } from "../../pkg/simulator.js";
import { redisFor, simulatorFor } from "./scale-support.js";

const settingsFor = (url) => ({ subdomain: "acme", email: "agent@acme.test/token", password: "x", baseUrl: url, events: ["Order Completed"] });
const identify = (plan) => ({ type: "identify", userId: "ln-1", traits: { name: "Lena", email: "lena@learned.example", plan } });

describe("the engine's learned state", () => {
  test("takeLearned starts with everything known, then hands out only what is new; learn takes it in", async () => {
    const engine = await loadEngine();
    const a = new engine.Destination(settingsFor("http://127.0.0.1:9"));
    const b = new engine.Destination(settingsFor("http://127.0.0.1:9"));
    assert.equal(a.takeLearned(), '{"entries":[]}');
    // A conversation against the in-memory simulator: the user is created, its id and digest learned.
    const simulator = createSimulator({ largeIds: true });
    const run = (destination, event, now) => {
      const conversation = destination.begin(event, now);
      let step = conversation.step();
      let requests = 0;
      while (step.kind === "request") {
        requests++;
        step = conversation.respond(simulator.handle(step.request));
      }
      return { outcome: step.outcomes[0], requests };
    };
    const first = run(a, identify("p1"), 1_700_000_000_000);
    assert.equal(first.outcome.status, "delivered");
    const id = simulator.state().users[0].id;
    const learned = JSON.parse(a.takeLearned());
    assert.ok(learned.entries.some((e) => e.user === String(id) && e.externalId === "ln-1"), JSON.stringify(learned));
    assert.ok(BigInt(id) > BigInt(Number.MAX_SAFE_INTEGER), "an id beyond 2^53 crosses exactly");
    assert.ok(learned.entries.some((e) => typeof e.written === "string" && /^[0-9a-f]{16}$/.test(e.digest)), JSON.stringify(learned));
    assert.equal(a.takeLearned(), '{"entries":[]}', "handed out once");
    assert.ok(learned.userFields?.plan?.type === "text", "the catalog, with the field created on the way");
    assert.equal(b.learn(JSON.stringify(learned)), learned.entries.length + 1, "every entry and the catalog applied");
    // B now skips the same write without a request; a fresh C (nothing learned) writes it again.
    const repeat = run(b, identify("p1"), 1_700_000_001_000);
    assert.deepEqual([repeat.outcome.status, repeat.outcome.code, repeat.requests], ["delivered", "unchanged", 0]);
    const c = new engine.Destination(settingsFor("http://127.0.0.1:9"));
    const fresh = run(c, identify("p1"), 1_700_000_001_000);
    assert.equal(fresh.outcome.code, "delivered");
    assert.ok(fresh.requests > 0);
    assert.equal(b.learn("not json"), 0);
    assert.equal(b.learn('{"entries":[{"user":"x"},{"nothing":1}]}'), 0);
  });
});

describe("two destinations of one account", () => {
  for (const shared of [true, false]) {
    test(`${shared ? "on one Redis" : "without Redis"}: a write another destination made stale is ${shared ? "made again" : "wrongly skipped"}`, async (t) => {
      const redis = await redisFor(t);
      const { simulator, server: zendesk } = await simulatorFor(t, {});
      simulator.seed({ userFields: [{ type: "text", title: "Plan", key: "plan" }] });
      const options = shared ? { redis: redis.url } : {};
      const one = await createDestination(settingsFor(zendesk.url), options);
      const two = await createDestination(settingsFor(zendesk.url), options);
      t.after(() => Promise.all([one.close(), two.close()]));
      const plan = () => simulator.state().users.find((u) => u.external_id === "ln-1")?.user_fields.plan;

      assert.equal((await one.deliver(identify("gold"))).status, "delivered");
      const requests = one.stats().requests + two.stats().requests;
      const again = await two.deliver(identify("gold"));
      if (shared) {
        assert.deepEqual([again.status, again.code], ["delivered", "unchanged"], "the other destination's digest spares the write");
        assert.equal(one.stats().requests + two.stats().requests, requests, "and every request");
      } else assert.deepEqual([again.status, again.code], ["delivered", "delivered"]);
      assert.equal((await two.deliver(identify("silver"))).status, "delivered");
      assert.equal(plan(), "silver");
      const back = await one.deliver(identify("gold"));
      if (shared) {
        assert.deepEqual([back.status, back.code], ["delivered", "delivered"]);
        assert.equal(plan(), "gold");
      } else {
        assert.deepEqual([back.status, back.code], ["delivered", "unchanged"]);
        assert.equal(plan(), "silver", "without sharing the first destination trusted its stale digest");
      }
    });
  }
});
