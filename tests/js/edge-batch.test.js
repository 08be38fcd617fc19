// The edge handler's batch window: events arriving close together, from several requests, are planned
// as one engine batch; each request is still answered with its own events' outcomes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHandler } from "../../pkg/edge.js";
import { createSimulator } from "../../pkg/simulator.js";

const WRITE_KEY = "wk_test";
const SETTINGS = { subdomain: "acme", email: "agent@acme.test/token", password: "secret", events: ["Order Completed"] };
const BASIC = `Basic ${btoa(`${WRITE_KEY}:`)}`;

function post(path, body) {
  return new Request(`http://edge.test${path}`, { method: "POST", headers: { "content-type": "application/json", authorization: BASIC }, body: JSON.stringify(body) });
}

async function call(handler, request) {
  const response = await handler(request);
  return { status: response.status, body: JSON.parse(await response.text()) };
}

const identify = (n) => ({ type: "identify", messageId: `id-${n}`, userId: `u${n}`, traits: { name: `User ${n}` } });
const track = (n) => ({ type: "track", messageId: `tr-${n}`, userId: `u${n}`, event: "Order Completed", properties: { n } });

function setup(t, options = {}) {
  const simulator = createSimulator();
  const handler = createHandler({ settings: SETTINGS, writeKeys: [WRITE_KEY], fetch: simulator.fetch, pacing: { engineDelayScale: 0.01 }, ...options });
  t.after(() => handler.close({ timeoutMs: 0 }));
  return { simulator, handler };
}

test("requests arriving within the window share one batch: one user read, one job; each answer has its own events", async (t) => {
  const { simulator, handler } = setup(t, { batchWindowMs: 50 });
  const answers = await Promise.all([
    call(handler, post("/v1/batch", { batch: [identify(1), identify(2)] })),
    call(handler, post("/v1/identify", identify(3))),
    call(handler, post("/v1/batch", { batch: [identify(4)] })),
  ]);
  assert.deepEqual(answers.map((a) => a.status), [200, 200, 200]);
  assert.deepEqual(answers.map((a) => a.body.events.map((e) => e.messageId)), [["id-1", "id-2"], ["id-3"], ["id-4"]]);
  assert.ok(answers.flatMap((a) => a.body.events).every((e) => e.status === "delivered"));
  const paths = simulator.log().map((e) => `${e.method} ${e.path}`);
  assert.deepEqual(paths.filter((p) => p.includes("show_many") && p.includes("/users/")), ["GET /api/v2/users/show_many"], "one read for the four users");
  assert.equal(simulator.log().find((e) => e.path === "/api/v2/users/show_many").query.external_ids, "u1,u2,u3,u4");
  assert.deepEqual(paths.filter((p) => p.endsWith("create_or_update_many")), ["POST /api/v2/users/create_or_update_many"]);
  assert.equal(simulator.state().users.length, 4);
});

test("with batchWindowMs 0 each event is its own conversation", async (t) => {
  const { simulator, handler } = setup(t, { batchWindowMs: 0 });
  const answer = await call(handler, post("/v1/batch", { batch: [identify(1), identify(2)] }));
  assert.equal(answer.status, 200);
  const paths = simulator.log().map((e) => e.path);
  assert.ok(!paths.some((p) => p.endsWith("_many")), paths.join(" "));
  assert.equal(paths.filter((p) => p === "/api/v2/users/create_or_update").length, 2);
});

test("a track in the same window as its user's identify is recorded after it; a retry joins what is in flight", async (t) => {
  const { simulator, handler } = setup(t, { batchWindowMs: 50 });
  const first = call(handler, post("/v1/batch", { batch: [identify(7), track(7)] }));
  const retry = call(handler, post("/v1/batch", { batch: [identify(7), track(7)] }));
  const [a, b] = await Promise.all([first, retry]);
  assert.deepEqual([a.status, b.status], [200, 200]);
  assert.deepEqual(b.body.events.map((e) => e.duplicate), [true, true]);
  assert.equal(simulator.state().events.length, 1, "written once");
  assert.equal(simulator.state().users.length, 1);
});
