// Two plain `serve` instances (no queue) on one Redis: a batch resent to the other instance is not
// delivered twice, the two spend one rate budget (no 429 of the account limit where two in-memory
// instances collect them), and an expired OAuth token is refreshed once for both. Each is checked
// against the same two instances without Redis, which get it wrong: the tests can fail.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createDestination } from "../../pkg/index.js";
import { startServer } from "../../pkg/serve.js";
import { startSimulatorServer } from "../../pkg/simulator-server.js";
import { postBatch, redisFor, simulatorFor, WRITE_KEY } from "./scale-support.js";

const settingsFor = (url) => ({ subdomain: "acme", email: "agent@acme.test/token", password: "x", baseUrl: url, events: ["Order Completed"] });

async function twoInstances(t, zendeskUrl, options) {
  const servers = [];
  for (let i = 0; i < 2; i++) {
    const server = await startServer({ settings: settingsFor(zendeskUrl), writeKeys: [WRITE_KEY], logger: false, responseTimeoutMs: 120_000, ...options });
    t.after(() => server.close({ timeoutMs: 0 }));
    servers.push(server);
  }
  return servers;
}

describe("two serve instances on one Redis", () => {
  for (const shared of [true, false]) {
    test(`a batch resent to the other instance is ${shared ? "not delivered again (shared de-duplication)" : "delivered twice without Redis"}`, async (t) => {
      const redis = await redisFor(t);
      const { simulator, server: zendesk } = await simulatorFor(t, {});
      const [a, b] = await twoInstances(t, zendesk.url, shared ? { redis: redis.url } : {});
      const batch = [
        { type: "identify", userId: "dd-1", messageId: "dd-m1", traits: { name: "Dee Dee" } },
        { type: "track", userId: "dd-1", messageId: "dd-m2", event: "Order Completed", properties: { order: 1 } },
      ];
      const first = await postBatch(a.url, batch);
      assert.equal(first.status, 200);
      assert.deepEqual(first.body.events.map((line) => line.status), ["delivered", "delivered"]);
      const again = await postBatch(b.url, batch);
      assert.equal(again.status, 200);
      if (shared) {
        assert.deepEqual(again.body.events.map((line) => [line.status, line.duplicate]), [["delivered", true], ["delivered", true]]);
        assert.match(again.body.events[1].message, /already ended as delivered/);
        assert.equal(simulator.state().events.length, 1);
      } else {
        assert.deepEqual(again.body.events.map((line) => line.duplicate ?? false), [false, false]);
        assert.equal(simulator.state().events.length, 2, "without Redis the other instance delivers the track again");
      }
    });
  }

  for (const shared of [true, false]) {
    test(`${shared ? "one rate budget: the two together never get a 429 of the account limit" : "without Redis each spends the budget as if alone, and they collect 429s"}`, { timeout: 120_000 }, async (t) => {
      const redis = await redisFor(t);
      // 60 requests per simulated minute at 20× is 60 per 3 s: both instances have to share it.
      const { simulator, server: zendesk, counts } = await simulatorFor(t, { rateLimitPerMinute: 60, timeScale: 20 });
      // Each event alone (no batch window): one request or more per event, many requests to pace.
      const [a, b] = await twoInstances(t, zendesk.url, { concurrency: 8, batchWindowMs: 0, ...(shared ? { redis: redis.url } : {}) });
      const events = (tag) => Array.from({ length: 70 }, (_, i) => ({ type: "identify", userId: `${tag}-${i}`, messageId: `${tag}-${i}`, traits: { name: `${tag} ${i}` } }));
      const [answerA, answerB] = await Promise.all([postBatch(a.url, events("a")), postBatch(b.url, events("b"))]);
      assert.equal(answerA.status, 200, JSON.stringify(answerA.body).slice(0, 300));
      assert.equal(answerB.status, 200, JSON.stringify(answerB.body).slice(0, 300));
      assert.equal(simulator.state().users.length, 140);
      if (shared) assert.equal(counts.accountLimited, 0, `${counts.accountLimited} answers of 429 for the account's limit`);
      else assert.ok(counts.accountLimited > 0, "two in-memory budgets overspend the account's");
      t.diagnostic(`${counts.requests} requests, ${counts.accountLimited} account-limit 429s`);
    });
  }

  for (const shared of [true, false]) {
    test(`an expired OAuth token is ${shared ? "refreshed once for both instances, the rotated pair stored" : "refreshed by each instance without Redis, locking one out"}`, async (t) => {
      const redis = await redisFor(t);
      const client = { clientId: "client-1", clientSecret: "secret-1", refreshToken: "refresh-1", accessToken: "live-token" };
      const zendesk = await startSimulatorServer({ auth: { basic: [], bearer: [] }, oauthClients: [{ ...client }] });
      t.after(() => zendesk.close());
      const make = () =>
        createDestination(
          { subdomain: "acme", oauthToken: "expired-token", baseUrl: zendesk.url },
          { oauthRefresh: { refreshToken: "refresh-1", clientId: "client-1", clientSecret: "secret-1" }, ...(shared ? { redis: redis.url } : {}) },
        );
      const [one, two] = [await make(), await make()];
      t.after(() => Promise.all([one.close(), two.close()]));
      const events = (tag) => Array.from({ length: 6 }, (_, i) => ({ type: "identify", userId: `${tag}-${i}`, traits: { name: `${tag} ${i}` } }));
      const [first, second] = await Promise.all([one.deliverAll(events("one")), two.deliverAll(events("two"))]);
      const statuses = [...first, ...second].map((outcome) => outcome.status);
      const tokenRequests = zendesk.simulator.log().filter((entry) => entry.path === "/oauth/tokens");
      if (shared) {
        assert.deepEqual(statuses, Array(12).fill("delivered"));
        assert.equal(tokenRequests.length, 1, "one refresh for both instances");
        // A third instance starts with the stored pair: no refresh at all.
        const three = await make();
        t.after(() => three.close());
        assert.deepEqual((await three.deliverAll(events("three"))).map((o) => o.status), Array(6).fill("delivered"));
        assert.equal(zendesk.simulator.log().filter((entry) => entry.path === "/oauth/tokens").length, 1);
      } else {
        assert.equal(tokenRequests.length, 2, "each instance refreshed");
        assert.ok(statuses.includes("failed"), "the instance whose refresh token was rotated away failed");
      }
    });
  }
});
