// The Zendesk-bound benchmark: the issue's mix (bench/mix.mjs) through deliverAll, batch mode and
// one-at-a-time mode in the same run, each against a fresh simulated Enterprise account that enforces
// the real limits (700 requests a minute, single-user writes 1/s per account and 5/min per user,
// Update Organization 5/min, 30 background jobs, jobs that take time). Time is virtual
// (bench/virtual-clock.mjs): it moves only while everything waits on Zendesk's limits, jobs or
// pacing, so the figures are the same on any machine. Reports simulated minutes to finish, requests
// per event by call type, the ratio, a steady-state pass (the same users again), and checks the account
// against the events: nothing lost, nothing written twice.
//
// Usage: node bench/zendesk-bound.mjs [--scale 1] [--batch-only] [--ttl SECONDS] [--paths]
//   --scale 0.1 runs a tenth of the mix (1,000 identifies, 200 groups, 500 tracks);
//   --ttl sets unchangedTtlSeconds for both modes (default: the setting's default, an hour);
//   --paths prints each mode's requests by method and path (ids folded), to see where they go.
import { createDestination } from "../pkg/index.js";
import { createSimulator } from "../pkg/simulator.js";
import { benchmarkMix, TRACK_EVENT } from "./mix.mjs";
import { inProcessFetch, virtualClock } from "./virtual-clock.mjs";

/**
 * Enterprise limits. Assumptions where Zendesk publishes no figure: jobs take 2 s plus 30 ms per item;
 * Sunshine events get 1,000 requests a minute (the top of the published 250–1,000 range).
 */
export const ENTERPRISE = {
  rateLimitPerMinute: 700,
  eventsRateLimitPerMinute: 1000,
  singleUserWriteLimit: true,
  organizationUpdateLimit: true,
  maxUnfinishedJobs: 30,
  jobPollsBeforeDone: Infinity,
  jobDurationMs: 2000,
  jobItemMs: 30,
};

/** Which call type a request serves, from its path. */
function callType(entry) {
  const path = entry.path.replace(/\.json$/, "");
  if (path.startsWith("/api/v2/job_statuses")) return "poll";
  if (/\/users\/\d+\/events$/.test(path) || (path === "/api/v2/users" && entry.query.external_id !== undefined)) return "track";
  if (path.startsWith("/api/v2/organization") ) return "group";
  return "identify";
}

/** Runs one mode; resolves to its figures and the account's check. */
export async function runMode({ mix, batch, simulatorOptions = ENTERPRISE, batchSize, steady = null, settings = {} }) {
  const clock = virtualClock();
  const simulator = createSimulator({ ...simulatorOptions, clock: clock.now });
  simulator.seed(mix.account);
  const logs = [];
  const destination = await createDestination(
    { subdomain: "acme", email: "agent@acme.test/token", password: "x", events: [TRACK_EVENT], ...settings },
    {
      fetch: inProcessFetch(simulator),
      now: clock.now,
      sleep: clock.sleep,
      logger: (entry) => entry.type !== "request" && entry.type !== "response" && logs.push(entry),
      retry: { maxTotalMs: 3_600_000 },
    },
  );
  const measure = async (events) => {
    const fromLog = simulator.log().length;
    const started = clock.now();
    const startReal = performance.now();
    const outcomes = await destination.deliverAll(events, { batch, batchSize });
    const simulatedMinutes = (clock.now() - started) / 60_000;
    const realSeconds = (performance.now() - startReal) / 1000;
    const requests = { identify: 0, group: 0, track: 0, poll: 0 };
    const paths = {};
    for (const entry of simulator.log().slice(fromLog)) {
      requests[callType(entry)]++;
      const path = `${entry.method} ${entry.path.replace(/\.json$/, "").replace(/\/\d+/g, "/{id}")}`;
      paths[path] = (paths[path] ?? 0) + 1;
    }
    const count = (type) => events.filter((e) => e.type === type).length;
    const byStatus = {};
    for (const o of outcomes) byStatus[`${o.status}/${o.code}`] = (byStatus[`${o.status}/${o.code}`] ?? 0) + 1;
    return { batch, simulatedMinutes, realSeconds, requests, paths, events: { identify: count("identify"), group: count("group"), track: count("track") }, byStatus };
  };
  const result = await measure(mix.events);
  result.check = checkAccount(simulator, mix);
  result.rateLimited = simulator.state().counters.rateLimited;
  if (steady) result.steady = await measure(steady);
  await destination.close();
  return result;
}

/** The account against the events: every user, organization, membership and event, once. */
export function checkAccount(simulator, mix) {
  const state = simulator.state();
  const problems = [];
  const byExternalId = new Map();
  for (const user of state.users) {
    if (user.external_id === null) continue;
    if (byExternalId.has(user.external_id)) problems.push(`user ${user.external_id} exists twice`);
    byExternalId.set(user.external_id, user);
  }
  for (const [userId, traits] of mix.expected.users) {
    const user = byExternalId.get(userId);
    if (!user) problems.push(`user ${userId} missing`);
    else if (user.name !== traits.name || user.user_fields.plan !== traits.plan) problems.push(`user ${userId} holds ${user.name}/${user.user_fields.plan}, not ${traits.name}/${traits.plan}`);
  }
  const orgs = new Map(state.organizations.map((o) => [o.external_id, o]));
  for (const [groupId, traits] of mix.expected.organizations) {
    if (orgs.get(groupId)?.name !== traits.name) problems.push(`organization ${groupId} missing or misnamed`);
  }
  if (state.organizations.length !== mix.expected.organizations.size) problems.push(`${state.organizations.length} organizations for ${mix.expected.organizations.size} groupIds`);
  const userIds = new Map(state.users.map((u) => [String(u.id), u.external_id]));
  const orgIds = new Map(state.organizations.map((o) => [String(o.id), o.external_id]));
  const memberships = new Set(state.memberships.map((m) => `${userIds.get(String(m.user_id))}@${orgIds.get(String(m.organization_id))}`));
  for (const expected of mix.expected.memberships) if (!memberships.has(expected)) problems.push(`membership ${expected} missing`);
  if (state.events.length !== mix.expected.tracks) problems.push(`${state.events.length} events recorded for ${mix.expected.tracks} tracks`);
  const created = state.counters.usersCreated;
  if (created !== mix.newUsers) problems.push(`${created} users created for ${mix.newUsers} new users`);
  return { ok: problems.length === 0, problems: problems.slice(0, 20), problemCount: problems.length };
}

function perEvent(result, type) {
  return result.requests[type] / result.events[type];
}

export function report(batchResult, singleResult) {
  const rows = [];
  const line = (r) => {
    const polls = r.requests.poll;
    return `| ${r.batch ? "batch" : "one at a time"} | ${r.simulatedMinutes.toFixed(1)} | ${perEvent(r, "identify").toFixed(3)} | ${perEvent(r, "group").toFixed(3)} | ${perEvent(r, "track").toFixed(3)} | ${polls} | ${r.check.ok ? "yes" : `NO (${r.check.problemCount})`} |`;
  };
  rows.push("| mode | simulated minutes | requests per identify | per group | per track | job polls | account matches the events |");
  rows.push("|---|---|---|---|---|---|---|");
  if (batchResult) rows.push(line(batchResult));
  if (singleResult) rows.push(line(singleResult));
  if (batchResult && singleResult) rows.push(`\nbatch mode is ${(singleResult.simulatedMinutes / batchResult.simulatedMinutes).toFixed(1)}× faster in simulated time; steady state ${(singleResult.steady.simulatedMinutes / batchResult.steady.simulatedMinutes).toFixed(1)}×`);
  return rows.join("\n");
}

/** The steady state: every user of the mix identified again, a fifth with a changed plan. */
export function steadyIdentifies(mix) {
  const events = [];
  let n = 0;
  for (const [userId, traits] of mix.expected.users) {
    const changed = n++ % 5 === 0 ? { ...traits, plan: traits.plan === "pro" ? "enterprise" : "pro" } : traits;
    events.push({ type: "identify", userId, traits: changed });
  }
  return events;
}

const isMain = import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  const args = process.argv.slice(2);
  const option = (name, fallback) => {
    const at = args.indexOf(name);
    return at >= 0 ? Number(args[at + 1]) : fallback;
  };
  const scale = option("--scale", 1);
  const mix = benchmarkMix({ identifies: Math.round(10_000 * scale), groups: Math.round(2_000 * scale), tracks: Math.round(5_000 * scale), organizations: Math.max(10, Math.round(200 * scale)) });
  const steady = steadyIdentifies(mix);
  console.log(`mix: ${mix.events.length} events (${mix.newUsers} new users, ${mix.newKeys} new trait keys); then ${steady.length} identifies of known users, a fifth changed`);
  const show = (name, r) => {
    console.log(`${name}: ${r.simulatedMinutes.toFixed(1)} simulated minutes (${r.realSeconds.toFixed(0)} s real), requests ${JSON.stringify(r.requests)}, outcomes ${JSON.stringify(r.byStatus)}, 429s: ${r.rateLimited}`);
    if (args.includes("--paths")) console.log(`${name}, requests by path:`, r.paths);
    if (!r.check.ok) console.log(`${name} problems (${r.check.problemCount}):`, r.check.problems);
    const s = r.steady;
    console.log(`${name}, steady state: ${s.simulatedMinutes.toFixed(1)} simulated minutes, ${((s.requests.identify + s.requests.poll) / s.events.identify).toFixed(3)} requests per identify (polls included)`);
  };
  const settings = args.includes("--ttl") ? { unchangedTtlSeconds: option("--ttl", 3600) } : {};
  const batched = await runMode({ mix, batch: true, steady, settings });
  show("batch mode", batched);
  let single = null;
  if (!args.includes("--batch-only")) {
    single = await runMode({ mix, batch: false, steady, settings });
    show("one at a time", single);
  }
  console.log(`\n${report(batched, single)}`);
}
