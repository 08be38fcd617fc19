// The edge handler's batch window: events arriving close together, from several requests, are planned
// as one engine batch; each request is still answered with its own events' outcomes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHandler, DedupeWindow } from "../../pkg/edge.js";
import { createSimulator } from "../../pkg/simulator.js";
import { gatedJobPolls } from "./host-fakes.js";

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

test("a track that ended is in the messageId window, and its store, while its batch still runs: its retry is a duplicate", async (t) => {
  const simulator = createSimulator();
  // Job polls are held (closed below): the new user's job stays unfinished.
  const jobs = gatedJobPolls(simulator);
  const puts = [];
  const dedupe = new DedupeWindow({ store: { put: (id, entry) => puts.push([id, entry.status, entry.code]), delete: () => {} } });
  const outcomes = [];
  const handler = createHandler({ settings: SETTINGS, writeKeys: [WRITE_KEY], fetch: jobs.fetch, pacing: { engineDelayScale: 0.01 }, batchWindowMs: 50, dedupe, onOutcome: (o) => outcomes.push([o.messageId, o.duplicate]) });
  t.after(() => handler.close({ timeoutMs: 0 }));
  // u2 exists (and the engine knows it): its track costs one POST.
  assert.equal((await call(handler, post("/v1/identify", identify(2)))).status, 200);
  const known = puts.length;
  jobs.close();

  let answered = false;
  const batch = call(handler, post("/v1/batch", { batch: [identify(1), track(2)] })).then((a) => ((answered = true), a));
  const until = async (check) => {
    for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
    return check();
  };
  assert.ok(await until(() => jobs.polls > 0), "the identify's job is being polled");
  assert.ok(await until(() => puts.length > known), "the track was recorded");
  assert.deepEqual(puts.slice(known), [["tr-2", "delivered", "delivered"]], "the ended track alone, once");
  assert.equal(simulator.state().events.length, 1);
  assert.equal(answered, false, "the batch's request waits for all its events");
  assert.deepEqual(outcomes, [["id-2", false], ["tr-2", false]], "onOutcome hears each event once, when it ends");

  // A retry of the track now (a client whose connection dropped) is answered from the window at once.
  const retry = await call(handler, post("/v1/track", track(2)));
  assert.equal(retry.status, 200);
  assert.equal(retry.body.events[0].duplicate, true);
  assert.equal(answered, false);

  jobs.open();
  const first = await batch;
  assert.equal(first.status, 200);
  assert.deepEqual(first.body.events.map((e) => [e.messageId, e.status, e.code, e.duplicate ?? false]), [
    ["id-1", "delivered", "delivered", false],
    ["tr-2", "delivered", "delivered", false],
  ]);
  assert.deepEqual(puts.slice(known), [["tr-2", "delivered", "delivered"], ["id-1", "delivered", "delivered"]], "each messageId recorded once");
  assert.equal(simulator.state().events.length, 1, "written once");
  assert.deepEqual(outcomes, [["id-2", false], ["tr-2", false], ["tr-2", true], ["id-1", false]]);
});
