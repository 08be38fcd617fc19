// The scale-out benchmark (docs/scale-out.md): events/s accepted by a `serve --queue` front, and
// delivery throughput with 1, 2 and 4 `work` processes against one account and against four.
//
//   node bench/scale.mjs [--events N] [--time-scale X]
//
// Everything runs on this machine: a throwaway redis-server, the Zendesk simulator (Enterprise limit,
// 700 requests per simulated minute, simulated time X× faster: default 10), the fronts and the
// workers as child processes. Figures depend on the machine's load: compare ratios within one run.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { startRedis } from "../scripts/redis.mjs";
import { connectRedis } from "../pkg/scale/redis.js";
import { Queue } from "../pkg/scale/queue.js";
import { eventKeys } from "../pkg/host/ordering.js";
import { startSimulatorServer } from "../pkg/simulator-server.js";

const CLI = fileURLToPath(new URL("../pkg/cli.js", import.meta.url));
const WRITE_KEY = "wk_bench";
const { values } = parseArgs({ options: { events: { type: "string", default: "2000" }, "time-scale": { type: "string", default: "10" } } });
const EVENTS = Number(values.events);
const TIME_SCALE = Number(values["time-scale"]);
const dir = mkdtempSync(join(tmpdir(), "bench-scale-"));
const children = new Set();

function spawnCli(args) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  child.on("exit", () => children.delete(child));
  child.stderr.resume();
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      if (out.includes("\n")) resolve({ child, first: out.split("\n")[0] });
    });
    child.on("exit", (code) => reject(new Error(`${args[0]} exited with ${code}`)));
  });
}

async function stop(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.on("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

/** Mixed events for `users` people: identify first, then tracks and a group. */
function events(n, tag) {
  const list = [];
  const users = Math.max(1, Math.floor(n / 10));
  for (let i = 0; i < n; i++) {
    const u = i % users;
    const step = Math.floor(i / users);
    const userId = `${tag}-${u}`;
    const messageId = `${tag}-${i}`;
    if (step === 0) list.push({ type: "identify", userId, messageId, timestamp: "2026-01-01T00:00:00.000Z", traits: { name: `User ${u}`, email: `${userId}@bench.example` } });
    else if (step === 5) list.push({ type: "group", userId, messageId, timestamp: "2026-01-01T00:00:00.000Z", groupId: `${tag}-org-${u % 20}`, traits: { name: `Org ${u % 20}` } });
    else list.push({ type: "track", userId, messageId, timestamp: "2026-01-01T00:00:00.000Z", event: "Order Completed", properties: { step } });
  }
  return list;
}

async function frontAcceptance(redisUrl, settingsFile) {
  const front = await spawnCli(["serve", "--settings", settingsFile, "--write-key", WRITE_KEY, "--port", "0", "--redis", redisUrl, "--queue"]);
  const batches = 200;
  const perBatch = 100;
  const all = events(batches * perBatch, "front");
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < batches) {
        const i = next++;
        const response = await fetch(`${front.first}/v1/batch`, {
          method: "POST",
          headers: { authorization: `Basic ${btoa(`${WRITE_KEY}:`)}`, "content-type": "application/json" },
          body: JSON.stringify({ batch: all.slice(i * perBatch, (i + 1) * perBatch) }),
        });
        if (response.status !== 200) throw new Error(`front answered ${response.status}`);
        await response.arrayBuffer();
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await stop(front.child);
  return { events: batches * perBatch, seconds, perSecond: (batches * perBatch) / seconds };
}

async function delivery(redisUrl, accounts, workersPerAccount) {
  const { client, close } = await connectRedis(redisUrl);
  await client.sendCommand(["FLUSHALL"]);
  const sims = [];
  const workers = [];
  try {
    for (let a = 0; a < accounts; a++) {
      const sim = await startSimulatorServer({ rateLimitPerMinute: 700, timeScale: TIME_SCALE, jobDurationMs: 2_000 });
      sims.push(sim);
      const settings = join(dir, `settings-${accounts}-${workersPerAccount}-${a}.json`);
      writeFileSync(settings, JSON.stringify({ subdomain: "acme", email: "agent@acme.test/token", password: "x", baseUrl: sim.url, events: ["Order Completed"] }));
      const queue = new Queue(client, { prefix: "zendesk-destination", name: `account-${a}` });
      const list = events(EVENTS, `a${a}`);
      for (let i = 0; i < list.length; i += 500) {
        await queue.enqueue(list.slice(i, i + 500).map((event) => ({ messageId: event.messageId, keys: eventKeys(event), event: JSON.stringify(event) })));
      }
      sims[a].queue = queue;
      sims[a].settings = settings;
    }
    const started = performance.now();
    for (const sim of sims) {
      for (let w = 0; w < workersPerAccount; w++) workers.push(await spawnCli(["work", "--settings", sim.settings, "--redis", redisUrl, "--queue", sim.queue.name]));
    }
    for (;;) {
      const depths = await Promise.all(sims.map((sim) => sim.queue.stats().then((s) => s.depth)));
      if (depths.every((d) => d === 0)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const seconds = (performance.now() - started) / 1000;
    const requests = sims.reduce((sum, sim) => sum + sim.simulator.state().counters.requests, 0);
    const limited = sims.reduce((sum, sim) => sum + sim.simulator.state().counters.rateLimited, 0);
    return { accounts, workersPerAccount, events: EVENTS * accounts, seconds, perSecond: (EVENTS * accounts) / seconds, requests, limited };
  } finally {
    await Promise.all(workers.map((w) => stop(w.child)));
    await Promise.all(sims.map((sim) => sim.close()));
    await close();
  }
}

const redis = await startRedis();
try {
  const settingsFile = join(dir, "front-settings.json");
  writeFileSync(settingsFile, JSON.stringify({ subdomain: "acme", email: "agent@acme.test/token", password: "x", baseUrl: "http://127.0.0.1:9", events: ["Order Completed"] }));
  const front = await frontAcceptance(redis.url, settingsFile);
  console.log(`front (serve --queue): ${front.events} events in ${front.seconds.toFixed(2)} s = ${Math.round(front.perSecond)} events/s accepted (batches of 100, 8 clients)`);
  console.log(`delivery: ${EVENTS} mixed events per account, Enterprise limit (700/min) at time scale ${TIME_SCALE}`);
  console.log("accounts | workers per account | events | seconds | events/s | requests | 429s");
  for (const accounts of [1, 4]) {
    for (const workers of [1, 2, 4]) {
      const r = await delivery(redis.url, accounts, workers);
      console.log(`${r.accounts} | ${r.workersPerAccount} | ${r.events} | ${r.seconds.toFixed(1)} | ${Math.round(r.perSecond)} | ${r.requests} | ${r.limited}`);
    }
  }
} finally {
  for (const child of children) child.kill("SIGKILL");
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
}
