#!/usr/bin/env node
// Load run of the edge handler (`serve` on node:http) against the Zendesk simulator, all on 127.0.0.1.
//
//   node scripts/bench-edge.mjs [--events 4000] [--clients 8] [--batch 20] [--rounds 3] [--concurrency 8] [--batch-window MS] [--json]
//
// Concurrent clients send Segment batches as analytics-node does (Basic auth with the write key, {batch,
// writeKey, sentAt}), retrying on 503/429 like it. Some batches are sent twice on purpose, one after the
// other and at the same time, as a client does when an answer is lost. At the end the simulator's state
// must hold exactly what was sent: every user, organization, membership and event once (no loss, no
// duplicate). Prints throughput, request latency (p50/p99/max) and memory (RSS, heap after GC) per round.
// The simulator runs in a child process, so the memory figures are the server's and the clients' only.
// Exits 1 when anything is lost or duplicated.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startServer } from "../pkg/serve.js";

const WRITE_KEY = "wk_bench";
const SIMULATOR = fileURLToPath(new URL("../pkg/simulator-server.js", import.meta.url));

/** Starts the simulator in a child process; resolves to {url, stop()}. */
function startSimulatorProcess() {
  const code = `import(${JSON.stringify(SIMULATOR)}).then(async (m) => { const s = await m.startSimulatorServer({ port: 0 }); process.stdout.write(s.url + "\\n"); process.on("SIGTERM", () => s.close().then(() => process.exit(0))); });`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      if (out.includes("\n")) {
        resolve({
          url: out.split("\n")[0],
          stop: () =>
            new Promise((done) => {
              if (child.exitCode !== null) return done();
              child.once("exit", () => done());
              child.kill("SIGTERM");
            }),
        });
      }
    });
    child.once("exit", (code) => reject(new Error(`the simulator exited (${code}) before it listened`)));
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function memory() {
  globalThis.gc?.();
  const { rss, heapUsed, external } = process.memoryUsage();
  const mb = (bytes) => +(bytes / 2 ** 20).toFixed(1);
  // external includes the WebAssembly engine's linear memory
  return { rssMB: mb(rss), heapMB: mb(heapUsed), externalMB: mb(external) };
}

/** The events of one round: per user identify, a forwarded track, a track that is not forwarded, and a group for every 4th user. */
function roundEvents(round, clients, events) {
  const perClient = Array.from({ length: clients }, () => []);
  const expected = { users: 0, organizations: 0, memberships: 0, events: 0, total: 0, delivered: 0, skipped: 0 };
  let user = 0;
  while (expected.total < events) {
    const client = user % clients;
    const userId = `r${round}-u${user}`;
    const list = perClient[client];
    const at = new Date().toISOString();
    list.push({ type: "identify", userId, messageId: `${userId}-i`, timestamp: at, traits: { email: `${userId}@bench.example`, name: `Bench User ${user}`, plan: user % 2 ? "pro" : "free" } });
    list.push({ type: "track", userId, messageId: `${userId}-t1`, timestamp: at, event: "Order Completed", properties: { orderId: `o-${userId}`, total: user } });
    list.push({ type: "track", userId, messageId: `${userId}-t2`, timestamp: at, event: "Page Scrolled", properties: { depth: 50 } });
    expected.users++;
    expected.events++;
    expected.total += 3;
    expected.delivered += 2;
    expected.skipped += 1;
    if (user % 4 === 0) {
      list.push({ type: "group", userId, messageId: `${userId}-g`, timestamp: at, groupId: `r${round}-org${user}`, traits: { name: `Bench Org ${round}-${user}` } });
      expected.organizations++;
      expected.memberships++;
      expected.total++;
      expected.delivered++;
    }
    user++;
  }
  return { perClient, expected };
}

/**
 * One bounded load run. Resolves to the figures and the checks; `ok` is false when anything was lost or
 * duplicated. Options: events (per round), clients, batch, rounds, concurrency, log(line).
 */
export async function runBench({ events = 4000, clients = 8, batch = 20, rounds = 3, concurrency = 8, batchWindowMs, log = () => {} } = {}) {
  const sim = await startSimulatorProcess();
  const server = await startServer({
    settings: { subdomain: "acme", email: "agent@acme.test/token", password: "x", baseUrl: sim.url, events: ["Order Completed"] },
    writeKeys: [WRITE_KEY],
    port: 0,
    concurrency,
    ...(batchWindowMs === undefined ? {} : { batchWindowMs }),
    logger: false,
  });
  const authorization = "Basic " + btoa(`${WRITE_KEY}:`);
  const problems = [];
  const figures = { rounds: [], memory: { before: memory() } };
  const totals = { users: 0, organizations: 0, memberships: 0, events: 0, total: 0, delivered: 0, skipped: 0 };
  const counts = { requests: 0, retried: 0, duplicatesReported: 0, delivered: 0, skipped: 0, other: 0 };

  /** Sends one batch until it is answered 200 (as analytics-node: retry 5xx and 429). */
  async function send(items, latencies) {
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      const response = await fetch(`${server.url}/v1/batch`, {
        method: "POST",
        headers: { authorization, "content-type": "application/json" },
        body: JSON.stringify({ batch: items, writeKey: WRITE_KEY, sentAt: new Date().toISOString() }),
      });
      const body = await response.json();
      latencies.push(performance.now() - started);
      counts.requests++;
      if (response.status === 200) return body;
      if ((response.status === 503 || response.status === 429) && attempt < 10) {
        counts.retried++;
        await sleep(50 * attempt);
        continue;
      }
      problems.push(`a batch was answered ${response.status} ${JSON.stringify(body).slice(0, 200)}`);
      return null;
    }
  }

  function tally(body, { duplicate }) {
    if (!body) return;
    for (const line of body.events) {
      if (duplicate) {
        if (line.duplicate) counts.duplicatesReported++;
        else problems.push(`a re-sent event was not reported as a duplicate: ${line.messageId}`);
        continue;
      }
      if (line.duplicate) problems.push(`a first delivery was reported as a duplicate: ${line.messageId}`);
      if (line.status === "delivered") counts.delivered++;
      else if (line.status === "skipped") counts.skipped++;
      else {
        counts.other++;
        problems.push(`${line.messageId}: ${line.status} ${line.code} ${line.message}`);
      }
    }
  }

  for (let round = 1; round <= rounds; round++) {
    const { perClient, expected } = roundEvents(round, clients, events);
    for (const key of Object.keys(totals)) totals[key] += expected[key];
    const latencies = [];
    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
    const started = performance.now();
    await Promise.all(
      perClient.map(async (list) => {
        for (let at = 0, n = 0; at < list.length; at += batch, n++) {
          const items = list.slice(at, at + batch);
          if (n % 15 === 7) {
            // the same batch twice at once: the second joins the first's deliveries
            const [first, second] = await Promise.all([send(items, latencies), send(items, latencies)]);
            const [a, b] = first?.events.some((line) => line.duplicate) ? [second, first] : [first, second];
            tally(a, { duplicate: false });
            tally(b, { duplicate: true });
          } else {
            tally(await send(items, latencies), { duplicate: false });
            // an answer "lost": the client sends the batch again
            if (n % 10 === 3) tally(await send(items, latencies), { duplicate: true });
          }
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    latencies.sort((a, b) => a - b);
    const mem = memory();
    const figure = {
      round,
      events: expected.total,
      requests: latencies.length,
      seconds: +seconds.toFixed(2),
      eventsPerSecond: Math.round(expected.total / seconds),
      latencyMs: { p50: +percentile(latencies, 50).toFixed(1), p99: +percentile(latencies, 99).toFixed(1), max: +latencies[latencies.length - 1].toFixed(1) },
      peakRssMB: +(peakRss / 2 ** 20).toFixed(1),
      after: mem,
    };
    figures.rounds.push(figure);
    log(
      `round ${round}: ${figure.events} events in ${figure.requests} requests, ${figure.seconds} s, ${figure.eventsPerSecond} events/s; ` +
        `latency p50 ${figure.latencyMs.p50} ms, p99 ${figure.latencyMs.p99} ms, max ${figure.latencyMs.max} ms; ` +
        `RSS peak ${figure.peakRssMB} MB, after GC: RSS ${mem.rssMB} MB, heap ${mem.heapMB} MB, external ${mem.externalMB} MB`,
    );
  }

  // The account must hold each thing exactly once.
  const state = await (await fetch(`${sim.url}/__simulator/state`)).json();
  const distinct = (list, key) => new Set(list.map(key)).size;
  const check = (what, actual, expected) => {
    if (actual !== expected) problems.push(`${what}: ${actual}, expected ${expected}`);
  };
  check("users", state.users.length, totals.users);
  check("distinct user external_ids", distinct(state.users, (u) => u.external_id), totals.users);
  check("organizations", state.organizations.length, totals.organizations);
  check("memberships", state.memberships.length, totals.memberships);
  check("distinct memberships", distinct(state.memberships, (m) => `${m.user_id}/${m.organization_id}`), totals.memberships);
  check("events", state.events.length, totals.events);
  check("distinct events", distinct(state.events, (e) => `${e.user_id}/${e.properties?.orderId}`), totals.events);
  check("users created (writes)", state.counters.usersCreated, totals.users);
  check("events received (writes)", state.counters.eventsReceived, totals.events);
  check("outcomes delivered", counts.delivered, totals.delivered);
  check("outcomes skipped", counts.skipped, totals.skipped);
  const stats = server.handler.stats();
  check("events started by the handler (duplicates excluded)", stats.events, totals.total);

  await server.close({ timeoutMs: 0 });
  await sim.stop();
  figures.memory.after = memory();
  return {
    ok: problems.length === 0,
    problems,
    options: { events, clients, batch, rounds, concurrency },
    totals,
    counts,
    handler: stats,
    figures,
  };
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  if (typeof globalThis.gc !== "function") {
    // Heap figures after a full GC need --expose-gc: run again with it.
    const child = spawn(process.execPath, ["--expose-gc", fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: "inherit" });
    child.on("exit", (code) => process.exit(code ?? 1));
  } else {
    const { values } = parseArgs({
      options: {
        events: { type: "string" },
        clients: { type: "string" },
        batch: { type: "string" },
        rounds: { type: "string" },
        concurrency: { type: "string" },
        "batch-window": { type: "string" },
        json: { type: "boolean" },
      },
    });
    const number = (value, fallback) => (value === undefined ? fallback : Number(value));
    const options = {
      events: number(values.events, 4000),
      clients: number(values.clients, 8),
      batch: number(values.batch, 20),
      rounds: number(values.rounds, 3),
      concurrency: number(values.concurrency, 8),
      batchWindowMs: number(values["batch-window"], undefined),
    };
    console.log(`bench-edge: ${options.rounds} round(s) of ${options.events} events, ${options.clients} concurrent clients, batches of ${options.batch}, delivery concurrency ${options.concurrency}; node ${process.version}`);
    const result = await runBench({ ...options, log: (line) => console.log(line) });
    if (values.json) console.log(JSON.stringify(result, null, 2));
    const { before, after } = result.figures.memory;
    console.log(`memory: before RSS ${before.rssMB} MB heap ${before.heapMB} MB external ${before.externalMB} MB; after all rounds RSS ${after.rssMB} MB heap ${after.heapMB} MB external ${after.externalMB} MB (the de-duplication window holds ${result.handler.remembered} messageIds)`);
    console.log(
      `checks: ${result.totals.users} users, ${result.totals.organizations} organizations, ${result.totals.memberships} memberships, ${result.totals.events} events in Zendesk, each once; ` +
        `${result.counts.requests} requests (${result.counts.retried} retried), ${result.counts.duplicatesReported} re-sent events reported as duplicates and not written again`,
    );
    if (!result.ok) {
      console.error(`FAILED:\n  ${result.problems.slice(0, 20).join("\n  ")}`);
      process.exitCode = 1;
    } else console.log("ok: no event lost or duplicated");
  }
}
