// The Zendesk-bound benchmark in small (bench/zendesk-bound.mjs): both modes run, the account matches
// the events in each (nothing lost, nothing written twice), and the batch figures the README reports
// hold their shape. Time is virtual, so this takes seconds and asserts no wall-clock speed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { benchmarkMix } from "../../bench/mix.mjs";
import { runMode, steadyIdentifies } from "../../bench/zendesk-bound.mjs";

test("benchmark smoke: both modes leave the account the events describe; batch mode needs fewer requests and less time", async () => {
  const mix = benchmarkMix({ identifies: 300, groups: 60, tracks: 150, organizations: 10 });
  const steady = steadyIdentifies(mix);
  const batched = await runMode({ mix, batch: true, steady, batchSize: 100 });
  const single = await runMode({ mix, batch: false, steady });
  for (const result of [batched, single]) {
    assert.deepEqual(result.check.problems, [], `${result.batch ? "batch" : "one at a time"}: the account matches the events`);
    assert.equal(Object.keys(result.byStatus).every((key) => key.startsWith("delivered/")), true, JSON.stringify(result.byStatus));
  }
  const perIdentify = (r) => r.requests.identify / r.events.identify;
  assert.ok(perIdentify(batched) < perIdentify(single) / 2, `${perIdentify(batched)} vs ${perIdentify(single)}`);
  assert.ok(batched.requests.group / batched.events.group <= 1, "a group costs at most one request");
  const steadyPerIdentify = (batched.steady.requests.identify + batched.steady.requests.poll) / batched.steady.events.identify;
  assert.ok(steadyPerIdentify <= 0.05, `steady state: ${steadyPerIdentify} requests per identify`);
  assert.ok(batched.simulatedMinutes * 3 < single.simulatedMinutes, `${batched.simulatedMinutes} vs ${single.simulatedMinutes} simulated minutes`);
});
