// deliverAll in batches, through the real engine against the simulator: the account ends the same as
// one event at a time, with far fewer requests; a refused bulk import falls back and is said once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createDestination } from "../../pkg/index.js";
import { createSimulator } from "../../pkg/simulator.js";
import { gatedJobPolls } from "./host-fakes.js";

const SETTINGS = { subdomain: "acme", email: "agent@acme.test/token", password: "secret", events: ["Order Completed"] };

function mix() {
  const events = [];
  for (let i = 0; i < 40; i++) {
    events.push({ type: "identify", userId: `u${i}`, traits: { name: `User ${i}`, email: `u${i}@example.com`, plan: i % 3 ? "free" : "pro" } });
    if (i % 4 === 0) events.push({ type: "group", userId: `u${i}`, groupId: `org${i % 3}`, traits: { name: `Org ${i % 3}`, industry: "Tech" } });
    if (i % 5 === 0) events.push({ type: "track", userId: `u${i}`, event: "Order Completed", properties: { total: i } });
    if (i % 6 === 0) events.push({ type: "identify", userId: `u${i}`, traits: { name: `User ${i}`, email: `u${i}@example.com`, plan: i % 3 ? "free" : "pro" } });
  }
  events.push({ type: "identify", userId: "u1", traits: { name: "User 1 renamed", email: "u1@example.com" } });
  return events;
}

/** What the account holds, without ids and times: comparable between two runs. */
function account(sim) {
  const state = sim.state();
  const userById = new Map(state.users.map((u) => [String(u.id), u.external_id]));
  const orgById = new Map(state.organizations.map((o) => [String(o.id), o.external_id]));
  return {
    users: state.users.map((u) => ({ external_id: u.external_id, name: u.name, email: u.email, user_fields: u.user_fields })).sort((a, b) => a.external_id.localeCompare(b.external_id)),
    organizations: state.organizations.map((o) => ({ external_id: o.external_id, name: o.name, organization_fields: o.organization_fields })).sort((a, b) => a.external_id.localeCompare(b.external_id)),
    memberships: state.memberships.map((m) => `${userById.get(String(m.user_id))}@${orgById.get(String(m.organization_id))}`).sort(),
    events: state.events.length,
  };
}

async function run(events, { batch, simulator = {} } = {}) {
  const sim = createSimulator(simulator);
  const logs = [];
  const destination = await createDestination(SETTINGS, {
    fetch: sim.fetch,
    logger: (entry) => logs.push(entry),
    pacing: { engineDelayScale: 0.01 },
  });
  const seen = [];
  const outcomes = await destination.deliverAll(events, { batch, onOutcome: (outcome, index) => seen.push(index) });
  await destination.close();
  return { sim, outcomes, logs, seen };
}

test("batches leave the account as one event at a time does, with far fewer requests, and every event gets its outcome", async () => {
  const events = mix();
  const single = await run(events, { batch: false });
  const batched = await run(events);
  assert.deepEqual(account(batched.sim), account(single.sim));
  assert.equal(account(batched.sim).users.length, 40);
  assert.equal(account(batched.sim).users.find((u) => u.external_id === "u1").name, "User 1 renamed", "the later identify won");
  assert.equal(batched.outcomes.length, events.length);
  assert.deepEqual([...batched.seen].sort((a, b) => a - b), events.map((_, i) => i), "onOutcome once per event");
  const statuses = (outcomes) => outcomes.map((o) => `${o.status}`);
  assert.deepEqual(statuses(batched.outcomes), statuses(single.outcomes));
  // Repeats are skipped in both modes.
  const unchanged = batched.outcomes.filter((o) => o.code === "unchanged").length;
  assert.equal(unchanged, 7);
  const requests = (sim) => sim.state().counters.requests;
  // New users cost one email search each (the seed's email rule); writes, lookups by id and fields are shared.
  assert.ok(requests(batched.sim) * 2 < requests(single.sim), `batched ${requests(batched.sim)} vs single ${requests(single.sim)}`);
  const paths = new Set(batched.sim.log().map((e) => `${e.method} ${e.path}`));
  for (const expected of ["PUT /api/v2/users/update_many", "POST /api/v2/users/create_or_update_many", "POST /api/v2/organizations/create_many", "POST /api/v2/organization_memberships/create_many", "GET /api/v2/job_statuses/show_many"]) {
    assert.ok(paths.has(expected), `${expected} used`);
  }
  assert.ok(!paths.has("POST /api/v2/users/create_or_update"), "no single-user write");
});

test("bulk import off: new users are written one at a time, existing ones still in jobs; said once in the log and the outcomes", async () => {
  const sim = createSimulator({ bulkImport: false });
  sim.seed({ users: [{ name: "Old", external_id: "old" }] });
  const logs = [];
  const destination = await createDestination(SETTINGS, { fetch: sim.fetch, logger: (entry) => logs.push(entry), pacing: { engineDelayScale: 0.01 } });
  const first = await destination.deliverAll([
    { type: "identify", userId: "old", traits: { name: "Old 2" } },
    { type: "identify", userId: "n1", traits: { name: "N1" } },
    { type: "identify", userId: "n2", traits: { name: "N2" } },
  ]);
  assert.deepEqual(first.map((o) => o.status), ["delivered", "delivered", "delivered"]);
  const refusals = (outcome) => outcome.warnings.filter((w) => w.includes("refused")).length;
  assert.equal(refusals(first[0]), 0, "the existing user's write was not affected");
  assert.match(first[1].warnings.at(-1), /refused \/users\/create_or_update_many \(403: bulk import is off/);
  const notices = () => logs.filter((e) => e.type === "notice");
  assert.equal(notices().length, 1);
  const second = await destination.deliverAll([
    { type: "identify", userId: "n3", traits: { name: "N3" } },
    { type: "identify", userId: "n4", traits: { name: "N4" } },
  ]);
  assert.deepEqual(second.map((o) => [o.status, refusals(o)]), [["delivered", 0], ["delivered", 0]]);
  assert.equal(notices().length, 1, "said once for the destination's life");
  const bulkTries = sim.log().filter((e) => e.path === "/api/v2/users/create_or_update_many").length;
  assert.equal(bulkTries, 1, "remembered: not asked again");
  assert.equal(sim.log().filter((e) => e.path === "/api/v2/users/create_or_update").length, 4);
  assert.deepEqual(sim.state().users.map((u) => u.name).sort(), ["N1", "N2", "N3", "N4", "Old 2"]);
  await destination.close();
});

test("a failed job item fails only its own event, with Zendesk's detail", async () => {
  const sim = createSimulator();
  sim.seed({ users: [{ name: "Owner", email: "taken@example.com", external_id: "owner" }] });
  const destination = await createDestination(SETTINGS, { fetch: sim.fetch, pacing: { engineDelayScale: 0.01 } });
  const outcomes = await destination.deliverAll([
    { type: "identify", userId: "a", traits: { name: "A", email: "a@example.com" } },
    { type: "identify", userId: "b", traits: { name: "B" } },
  ]);
  assert.equal(outcomes[0].status, "delivered");
  // b's write is fine; now one whose email belongs to someone else, found by userId first.
  const clash = await destination.deliverAll([
    { type: "identify", userId: "a", traits: { name: "A", email: "taken@example.com" } },
    { type: "identify", userId: "b", traits: { name: "B2" } },
  ]);
  assert.equal(clash[0].status, "failed");
  assert.equal(clash[0].code, "zendesk_rejected");
  assert.match(clash[0].message, /^Zendesk's job rejected this user: DuplicateValue: Email: taken@example.com is already being used by another user/);
  assert.equal(clash[1].status, "delivered");
  assert.equal(sim.state().users.find((u) => u.external_id === "b").name, "B2");
  await destination.close();
});

test("a job that fails whole is submitted again; Zendesk's 30-job limit (429 TooManyJobs) is waited out", async () => {
  const sim = createSimulator({ maxUnfinishedJobs: 1, timeScale: 100 });
  sim.failNextJobs(1);
  const destination = await createDestination(SETTINGS, { fetch: sim.fetch, pacing: { engineDelayScale: 0.01 } });
  const events = Array.from({ length: 250 }, (_, i) => ({ type: "identify", userId: `u${i}`, traits: { name: `U${i}` } }));
  const outcomes = await destination.deliverAll(events);
  await destination.close();
  assert.deepEqual([...new Set(outcomes.map((o) => o.code))], ["delivered"]);
  assert.equal(sim.state().users.length, 250);
  const jobs = sim.state().jobStatuses;
  assert.equal(jobs.filter((j) => j.status === "failed").length, 1, "one job failed whole");
  assert.equal(jobs.filter((j) => j.status === "completed").length, 3, "three jobs of ≤100 users, the failed one submitted again");
  const tooMany = sim.log().filter((e) => e.status === 429 && e.path.endsWith("_many"));
  assert.ok(tooMany.length > 0, "the second and third jobs met TooManyJobs and waited");
});

test("by default 1,000 events are planned as one batch: an exact repeat 999 events later is recognised within it", async () => {
  // The default batch size (1,000) decides how many events share lookups, jobs and polls (README,
  // "Zendesk-bound"); an identify repeated within one batch ends as an echo of the first, with no write.
  const events = Array.from({ length: 999 }, (_, i) => ({ type: "identify", userId: `u${i}`, traits: { name: `User ${i}` } }));
  events.push({ type: "identify", userId: "u0", traits: { name: "User 0" } });
  const { sim, outcomes } = await run(events);
  assert.equal(outcomes.length, 1000);
  assert.deepEqual(outcomes.slice(0, 999).filter((o) => o.status !== "delivered"), []);
  assert.equal(outcomes[999].code, "unchanged");
  assert.match(outcomes[999].message, /^user unchanged: the same write as event 0 of this batch \(/);
  const state = sim.state();
  assert.equal(state.users.length, 999);
  assert.equal(sim.log().filter((entry) => /create_or_update_many/.test(entry.path)).length, 10, "ten jobs of 100");
});

test("a new groupId is created straight away; its name is looked up only when Zendesk's job refuses the item, then adopted or failed as before", async () => {
  const sim = createSimulator();
  sim.seed({ organizations: [{ name: "Initech" }, { name: "Taken", external_id: "other" }] });
  const [initech, taken] = sim.state().organizations;
  const destination = await createDestination({ ...SETTINGS, allowGroupWithoutUserId: true }, { fetch: sim.fetch, pacing: { engineDelayScale: 0.01 } });
  const outcomes = await destination.deliverAll([
    { type: "group", groupId: "ini", traits: { name: "Initech", industry: "Paper" } },
    { type: "group", groupId: "new", traits: { name: "taken" } },
    { type: "group", groupId: "free", traits: { name: "Free" } },
  ]);
  await destination.close();
  const free = sim.state().organizations.find((o) => o.external_id === "free");
  assert.deepEqual(outcomes.map((o) => [o.status, o.code, o.message]), [
    ["delivered", "delivered", `organization ${initech.id} updated`],
    ["failed", "organization_name_taken", `organization ${taken.id} already has the name \`taken\` with external_id \`other\`; Zendesk organization names are unique, so groupId \`new\` was not written (rename one of them)`],
    ["delivered", "delivered", `organization ${free.id} created`],
  ]);
  assert.ok(outcomes[0].warnings.includes(`organization ${initech.id} is named \`Initech\` and had no external_id: it was adopted for groupId \`ini\` (its external_id is now \`ini\`)`));
  // One create_many for all three; names looked up only for the two items it refused, after it.
  const organizationRequests = sim.log().filter((e) => e.path.includes("/organizations")).map((e) => `${e.method} ${e.path}${e.query.name ? `?name=${e.query.name}` : ""}`);
  assert.deepEqual(organizationRequests, [
    "GET /api/v2/organizations/show_many",
    "POST /api/v2/organizations/create_many",
    "GET /api/v2/organizations/search?name=Initech",
    "GET /api/v2/organizations/search?name=taken",
    "PUT /api/v2/organizations/update_many",
  ]);
  const createJob = sim.state().jobStatuses.find((j) => j.job_type === "Bulk Create Organizations");
  assert.deepEqual(createJob.results.map((r) => r.status), ["Failed", "Failed", "Created"]);
  assert.deepEqual(
    sim.state().organizations.map((o) => [o.name, o.external_id, o.organization_fields.industry ?? null]),
    [["Initech", "ini", "Paper"], ["Taken", "other", null], ["Free", "free", null]],
  );
});

test("onEnded hears an event as it ends inside its batch, with the outcome the batch returns; a later close() does not undo it", async () => {
  const sim = createSimulator();
  const jobs = gatedJobPolls(sim);
  const destination = await createDestination(SETTINGS, { fetch: jobs.fetch, pacing: { engineDelayScale: 0.01 } });
  assert.equal((await destination.deliver({ type: "identify", userId: "known", traits: { name: "Known" } })).status, "delivered");
  jobs.close(); // never opened: the new user's job never finishes
  const cyclic = { type: "identify", userId: "loop" };
  cyclic.self = cyclic;
  const early = new Map();
  const all = destination.deliverAll(
    [
      { type: "identify", userId: "new", traits: { name: "New" } },
      { type: "track", userId: "known", event: "Order Completed", properties: { n: 1 } },
      { type: "page", userId: "known" },
      cyclic,
    ],
    { onEnded: (index, outcome) => early.set(index, outcome) },
  );
  for (let i = 0; i < 500 && !(jobs.polls > 0 && early.has(1)); i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual([...early.keys()].sort(), [1, 2, 3], "the track, the page and the unreadable event; not the identify");
  assert.equal(early.get(1).code, "delivered");
  assert.equal(early.get(1).message, `event recorded on user ${sim.state().users[0].id}`);
  assert.equal(early.get(2).code, "unsupported_type");
  assert.equal(early.get(3).code, "invalid_event");
  assert.match(early.get(3).message, /^the event cannot be read as JSON/, "the host's own outcome for what it refused");
  // Closed with the identify's job unfinished: it is cancelled; the events that ended keep their outcome.
  await destination.close({ timeoutMs: 0 });
  const outcomes = await all;
  assert.equal(outcomes[0].code, "cancelled");
  for (const index of [1, 2, 3]) assert.equal(outcomes[index], early.get(index), `event ${index}: the very outcome heard early`);
  assert.equal(sim.state().events.length, 1);
});
