// The Zendesk-bound benchmark through the edge: Segment's analytics-node sends the mix (at a
// scale, default a tenth) to `serve` (pkg/serve.js on 127.0.0.1), whose destination talks to a simulated
// Enterprise account in-process (the limits of bench/zendesk-bound.mjs). Two runs: the handler's batch
// window on (default 25 ms) and off (every event alone). The account is checked against the events.
//
// Time here is the simulator's scaled real time (--time-scale, default 20): HTTP and analytics-node
// run on real timers, so a virtual clock cannot be used; CPU time counts too, multiplied by the scale,
// which weighs on the faster (batch) run, so its ratio is a lower bound.
//
// Usage: node bench/edge-bound.mjs [--scale 0.1] [--time-scale 20] [--window 25]
import { Analytics } from "@segment/analytics-node";
import { startServer } from "../pkg/serve.js";
import { createSimulator } from "../pkg/simulator.js";
import { benchmarkMix, TRACK_EVENT } from "./mix.mjs";
import { checkAccount, ENTERPRISE } from "./zendesk-bound.mjs";

const WRITE_KEY = "wk_bench";

export async function runEdge({ mix, timeScale, batchWindowMs }) {
  const simulator = createSimulator({ ...ENTERPRISE, timeScale });
  simulator.seed(mix.account);
  const server = await startServer({
    port: 0,
    logger: false,
    writeKey: WRITE_KEY,
    settings: { subdomain: "acme", email: "agent@acme.test/token", password: "x", events: [TRACK_EVENT] },
    fetch: simulator.fetch,
    batchWindowMs,
    responseTimeoutMs: 60_000,
    pacing: { singleUserWriteIntervalMs: 1100 / timeScale, engineDelayScale: 1 / timeScale },
    retry: { maxTotalMs: 600_000 },
  });
  const analytics = new Analytics({ writeKey: WRITE_KEY, host: server.url, flushAt: 20, flushInterval: 50, maxRetries: 20, httpRequestTimeout: 120_000 });
  let failed = 0;
  analytics.on("error", () => failed++);
  const started = simulator.now();
  const startReal = performance.now();
  for (const event of mix.events) {
    const { type, ...rest } = event;
    analytics[type](rest);
  }
  await analytics.closeAndFlush({ timeout: 1_800_000 });
  const simulatedMinutes = (simulator.now() - started) / 60_000;
  const realSeconds = (performance.now() - startReal) / 1000;
  await server.close();
  const requests = simulator.state().counters.requests;
  return { batchWindowMs, simulatedMinutes, realSeconds, requests, failed, check: checkAccount(simulator, mix) };
}

const isMain = import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  const args = process.argv.slice(2);
  const option = (name, fallback) => {
    const at = args.indexOf(name);
    return at >= 0 ? Number(args[at + 1]) : fallback;
  };
  const scale = option("--scale", 0.1);
  const timeScale = option("--time-scale", 20);
  const window = option("--window", 25);
  const mix = benchmarkMix({ identifies: Math.round(10_000 * scale), groups: Math.round(2_000 * scale), tracks: Math.round(5_000 * scale), organizations: Math.max(10, Math.round(200 * scale)) });
  console.log(`mix: ${mix.events.length} events through analytics-node → serve; simulator ${timeScale}× real time`);
  const rows = [];
  for (const batchWindowMs of [window, 0]) {
    const r = await runEdge({ mix, timeScale, batchWindowMs });
    rows.push(r);
    console.log(`batchWindowMs ${batchWindowMs}: ${r.simulatedMinutes.toFixed(1)} simulated minutes (${r.realSeconds.toFixed(0)} s real), ${r.requests} Zendesk requests, client errors ${r.failed}, account matches: ${r.check.ok ? "yes" : JSON.stringify(r.check.problems)}`);
  }
  console.log(`\nthe batch window is ${(rows[1].simulatedMinutes / rows[0].simulatedMinutes).toFixed(1)}× faster in simulated time`);
  process.exit(rows.every((r) => r.check.ok) ? 0 : 1);
}
