// The simulator's bulk endpoints, background jobs and write limits: exact answers and the account's
// state after each (the batch benchmark and the engine's batch tests run against these).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSimulator, parseJsonExact, toJson } from "../../pkg/simulator.js";

const BASIC = "Basic " + btoa("agent@acme.com/token:secret-token");
const ORIGIN = "https://acme.zendesk.com";

function client(sim) {
  return (method, path, body) => {
    const response = sim.handle({
      method,
      url: `${ORIGIN}/api/v2${path}`,
      headers: { "Content-Type": "application/json", Authorization: BASIC },
      body: body === undefined ? null : toJson(body),
    });
    return { ...response, json: response.body ? parseJsonExact(response.body) : null };
  };
}

function manualClock(startMs = Date.UTC(2026, 0, 31, 12, 0, 0)) {
  let nowMs = startMs;
  const clock = () => nowMs;
  clock.advance = (ms) => (nowMs += ms);
  return clock;
}

/** Submits a job and returns its finished status (polled through show_many). */
function runJob(call, method, path, body) {
  const queued = call(method, path, body);
  assert.equal(queued.status, 200, JSON.stringify(queued.json));
  assert.equal(queued.json.job_status.status, "queued");
  const polled = call("GET", `/job_statuses/show_many?ids=${queued.json.job_status.id}`);
  assert.equal(polled.status, 200);
  return polled.json.job_statuses[0];
}

test("users/update_many: per-item results; an unknown id is a failed item, the rest are written", () => {
  const sim = createSimulator();
  sim.seed({ users: [{ name: "Ann", email: "ann@x.com", external_id: "ann" }] });
  const call = client(sim);
  const ann = sim.state().users[0];
  const job = runJob(call, "PUT", "/users/update_many", { users: [{ id: 999, name: "Ghost" }, { id: ann.id, name: "Ann Two", user_fields: {} }] });
  assert.equal(job.status, "completed");
  assert.equal(job.job_type, "Bulk Update Users");
  assert.deepEqual(job.results, [
    { index: 0, id: null, status: "Failed", success: false, error: "RecordNotFound", details: "Not found", email: null, external_id: null },
    { index: 1, success: true, id: ann.id, action: "update", status: "Updated", email: "ann@x.com", external_id: "ann" },
  ]);
  assert.equal(sim.state().users[0].name, "Ann Two");
  assert.equal(sim.state().users.length, 1, "nothing created");
});

test("organizations: create_many and update_many jobs, show_many by external_ids", () => {
  const sim = createSimulator();
  sim.seed({ organizations: [{ name: "Taken", external_id: "t" }] });
  const call = client(sim);
  const created = runJob(call, "POST", "/organizations/create_many", {
    organizations: [{ name: "Fresh", external_id: "f" }, { name: "Taken", external_id: "other" }],
  });
  assert.equal(created.results[0].status, "Created");
  assert.equal(created.results[0].external_id, "f");
  assert.deepEqual(
    { status: created.results[1].status, error: created.results[1].error, details: created.results[1].details },
    { status: "Failed", error: "DuplicateValue", details: "Name: has already been taken" },
  );
  const read = call("GET", "/organizations/show_many?external_ids=f,T,missing");
  assert.deepEqual(read.json.organizations.map((o) => o.external_id).sort(), ["f", "t"]);
  const fresh = read.json.organizations.find((o) => o.external_id === "f");
  const updated = runJob(call, "PUT", "/organizations/update_many", { organizations: [{ id: fresh.id, tags: ["vip"] }] });
  assert.equal(updated.results[0].status, "Updated");
  assert.deepEqual(sim.state().organizations.find((o) => o.external_id === "f").tags, ["vip"]);
  assert.equal(call("GET", "/organizations/show_many").status, 400);
});

test("organizations/create_many: a taken name fails its item with the single create's error and words (the item's shape is an assumption)", () => {
  const sim = createSimulator();
  sim.seed({ organizations: [{ name: "Initech" }] });
  const call = client(sim);
  const single = call("POST", "/organizations", { organization: { name: "initech", external_id: "a" } });
  assert.equal(single.status, 422);
  assert.deepEqual(single.json.details.name, [{ description: "Name: has already been taken", error: "DuplicateValue" }]);
  const job = runJob(call, "POST", "/organizations/create_many", { organizations: [{ name: "initech", external_id: "a" }] });
  assert.deepEqual(job.results, [{ index: 0, id: null, status: "Failed", success: false, error: "DuplicateValue", details: "Name: has already been taken" }]);
  assert.equal(sim.state().organizations.length, 1, "nothing created");
});

test("organization_memberships/create_many: an existing membership is a failed item, not a 422", () => {
  const sim = createSimulator();
  sim.seed({ users: [{ name: "Ann", external_id: "ann" }, { name: "Bob", external_id: "bob" }], organizations: [{ name: "Org", external_id: "o" }] });
  const call = client(sim);
  const [ann, bob] = sim.state().users;
  const org = sim.state().organizations[0];
  assert.equal(call("POST", "/organization_memberships", { organization_membership: { user_id: ann.id, organization_id: org.id } }).status, 201);
  const job = runJob(call, "POST", "/organization_memberships/create_many", {
    organization_memberships: [{ user_id: ann.id, organization_id: org.id }, { user_id: bob.id, organization_id: org.id }],
  });
  assert.equal(job.results[0].status, "Failed");
  assert.equal(job.results[0].details, "User is already a member of this organization");
  assert.equal(job.results[1].status, "Created");
  assert.deepEqual(job.results[1].user_id, bob.id);
  assert.equal(sim.state().memberships.length, 2);
});

test("jobs take their time: duration plus a cost per item; 30 unfinished jobs of any kind → 429 TooManyJobs", () => {
  const clock = manualClock();
  const sim = createSimulator({ clock, jobPollsBeforeDone: Infinity, jobDurationMs: 1000, jobItemMs: 50 });
  const call = client(sim);
  const queued = call("POST", "/users/create_or_update_many", { users: [{ name: "A", external_id: "a" }, { name: "B", external_id: "b" }] });
  const id = queued.json.job_status.id;
  assert.equal(call("GET", `/job_statuses/show_many?ids=${id}`).json.job_statuses[0].status, "working");
  assert.equal(sim.state().users.length, 0, "nothing written while the job runs");
  clock.advance(1099);
  assert.equal(call("GET", `/job_statuses/${id}`).json.job_status.status, "working");
  clock.advance(1); // 1000 + 2 × 50
  assert.equal(call("GET", `/job_statuses/${id}`).json.job_status.status, "completed");
  assert.equal(sim.state().users.length, 2);

  for (let i = 0; i < 15; i++) assert.equal(call("PUT", "/users/update_many", { users: [{ id: 1, name: "x" }] }).status, 200);
  for (let i = 0; i < 15; i++) assert.equal(call("POST", "/organizations/create_many", { organizations: [{ name: `O${i}` }] }).status, 200);
  const tooMany = call("POST", "/organization_memberships/create_many", { organization_memberships: [{ user_id: 1, organization_id: 2 }] });
  assert.equal(tooMany.status, 429);
  assert.equal(tooMany.json.error, "TooManyJobs");
  assert.equal(tooMany.headers["retry-after"], "2", "until the soonest job is due (1.05 s, rounded up)");
});

test("failNextJobs: a job that fails whole writes nothing and says so", () => {
  const sim = createSimulator();
  const call = client(sim);
  sim.failNextJobs(1);
  const job = runJob(call, "POST", "/users/create_or_update_many", { users: [{ name: "A", external_id: "a" }] });
  assert.equal(job.status, "failed");
  assert.equal(job.results, null);
  assert.match(job.message, /failed/);
  assert.equal(sim.state().users.length, 0);
  assert.equal(runJob(call, "POST", "/users/create_or_update_many", { users: [{ name: "A", external_id: "a" }] }).status, "completed");
  assert.equal(sim.state().users.length, 1);
});

test("bulk import off: create_or_update_many is 403, update_many and the organization jobs still work", () => {
  const sim = createSimulator({ bulkImport: false });
  sim.seed({ users: [{ name: "Ann", external_id: "ann" }] });
  const call = client(sim);
  const refused = call("POST", "/users/create_or_update_many", { users: [{ name: "X" }] });
  assert.equal(refused.status, 403);
  assert.equal(refused.json.error, "Forbidden");
  assert.equal(runJob(call, "PUT", "/users/update_many", { users: [{ id: sim.state().users[0].id, name: "Ann 2" }] }).status, "completed");
  assert.equal(runJob(call, "POST", "/organizations/create_many", { organizations: [{ name: "O" }] }).status, "completed");
});

test("single-user writes: Zendesk-RateLimit-create-update-user, 1 per second per account, 5 per minute per user", () => {
  const clock = manualClock();
  const sim = createSimulator({ clock, singleUserWriteLimit: true });
  const call = client(sim);
  const first = call("POST", "/users/create_or_update", { user: { name: "Ann", external_id: "ann" } });
  assert.equal(first.status, 201);
  assert.equal(first.headers["zendesk-ratelimit-create-update-user"], "total=5; remaining=4; resets=60");
  const tooSoon = call("POST", "/users/create_or_update", { user: { name: "Bob", external_id: "bob" } });
  assert.equal(tooSoon.status, 429, "a second write within the same second");
  assert.equal(tooSoon.headers["retry-after"], "1");
  const id = first.json.user.id;
  for (let i = 1; i < 5; i++) {
    clock.advance(1000);
    const put = call("PUT", `/users/${id}`, { user: { name: `Ann ${i}` } });
    assert.equal(put.status, 200);
    assert.equal(put.headers["zendesk-ratelimit-create-update-user"], `total=5; remaining=${4 - i}; resets=${60 - i}`);
  }
  clock.advance(1000);
  const sixth = call("PUT", `/users/${id}`, { user: { name: "Ann 6" } });
  assert.equal(sixth.status, 429, "the sixth write to one user within a minute");
  assert.equal(sixth.headers["retry-after"], "55");
  assert.equal(sim.state().users[0].name, "Ann 4");
});

test("Update Organization: 5 per minute per organization, with its own 429 body", () => {
  const clock = manualClock();
  const sim = createSimulator({ clock, organizationUpdateLimit: true });
  sim.seed({ organizations: [{ name: "Hot", external_id: "hot" }, { name: "Cold", external_id: "cold" }] });
  const call = client(sim);
  const [hot, cold] = sim.state().organizations;
  for (let i = 0; i < 5; i++) {
    clock.advance(1000);
    const path = i % 2 ? `/organizations/${hot.id}` : "/organizations/create_or_update";
    const body = i % 2 ? { organization: { notes: `n${i}` } } : { organization: { external_id: "hot", notes: `n${i}` } };
    assert.equal(call(i % 2 ? "PUT" : "POST", path, body).status, 200);
  }
  const limited = call("PUT", `/organizations/${hot.id}`, { organization: { notes: "six" } });
  assert.equal(limited.status, 429);
  assert.deepEqual(limited.json, { errors: [{ code: "TooManyRequests", title: "Too many requests to update" }] });
  assert.equal(limited.headers["retry-after"], "56", "until the first of the five leaves the minute");
  assert.equal(sim.state().organizations[0].notes, "n4", "the refused update changed nothing");
  assert.equal(call("PUT", `/organizations/${cold.id}`, { organization: { notes: "fine" } }).status, 200, "another organization has its own budget");
  clock.advance(56_000);
  assert.equal(call("PUT", `/organizations/${hot.id}`, { organization: { notes: "later" } }).status, 200);
});
