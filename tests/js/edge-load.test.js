// A small bounded load run of `serve` against the simulator (scripts/bench-edge.mjs with small numbers):
// concurrent clients, batches re-sent one after the other and at the same time; the account must hold
// every user, organization, membership and event exactly once. No timing assertions.
import assert from "node:assert/strict";
import { test } from "node:test";
import { runBench } from "../../scripts/bench-edge.mjs";

test("concurrent clients, re-sent batches: no event lost or duplicated", async () => {
  const result = await runBench({ events: 400, clients: 4, batch: 10, rounds: 2, concurrency: 4 });
  assert.deepEqual(result.problems, []);
  assert.equal(result.ok, true);
  // 123 users per round: identify + two tracks each (one not forwarded), a group for every 4th user.
  assert.deepEqual(result.totals, { users: 246, organizations: 62, memberships: 62, events: 246, total: 800, delivered: 554, skipped: 246 });
  assert.equal(result.counts.delivered, 554);
  assert.equal(result.counts.skipped, 246);
  assert.equal(result.handler.events, 800, "each event delivered once; every re-sent one was a duplicate");
  assert.ok(result.counts.duplicatesReported > 0);
  assert.equal(result.handler.duplicates, result.counts.duplicatesReported);
  assert.equal(result.handler.pending, 0);
});
