// Host throughput without a network: the 1,000 sample events through the engine and the host, answered by
// the in-process simulator's fetch. Measures what the host adds (scheduling, ordering, pacing bookkeeping).
// One conversation per event (batch: false): batches spend their time waiting for the simulator's jobs,
// which bench/zendesk-bound.mjs measures in virtual time.
// Usage: node scripts/bench-host.mjs [DATA.ndjson] [--concurrency N]
import { readFileSync } from "node:fs";
import { createDestination } from "../pkg/index.js";
import { createSimulator } from "../pkg/simulator.js";

const args = process.argv.slice(2);
const at = args.indexOf("--concurrency");
const concurrency = at >= 0 ? Number(args[at + 1]) : 8;
const path = args.find((a, i) => !a.startsWith("--") && args[i - 1] !== "--concurrency") ?? new URL("../../shared/data/segment-events-1k.ndjson", import.meta.url);
const lines = readFileSync(path, "utf8").split("\n").filter(Boolean);
const names = [...new Set(lines.map((l) => JSON.parse(l)).filter((e) => e.type === "track").map((e) => e.event))];

for (let round = 1; round <= 3; round++) {
  const simulator = createSimulator();
  const destination = await createDestination(
    { subdomain: "acme", email: "agent@acme.test/token", password: "x", baseUrl: "http://127.0.0.1:1", events: names },
    { fetch: simulator.fetch },
  );
  const started = performance.now();
  const outcomes = await destination.deliverAll(lines, { concurrency, batch: false });
  const ms = performance.now() - started;
  const { requests } = destination.stats();
  await destination.close();
  console.log(`round ${round}: ${outcomes.length} events, ${requests} requests in ${ms.toFixed(0)} ms → ${((outcomes.length / ms) * 1000).toFixed(0)} events/s, ${((requests / ms) * 1000).toFixed(0)} requests/s`);
}
