// Engine benchmark: the 1,000 sample events through the WebAssembly engine, answered in-process by
// the simulator (no network), repeated. Reports events per second for the engine alone (time inside
// begin/step/respond) and end to end, requests per event, and the wasm memory after the run.
// Usage: node scripts/bench-engine.mjs [rounds]
import { readFileSync } from "node:fs";
import { loadEngine, engineMemoryBytes } from "zendesk-destination/engine"; // Node's entry (the package's node condition)
import { createSimulator } from "../pkg/simulator.js";

const rounds = Number(process.argv[2] ?? 5);
const lines = readFileSync(new URL("../../shared/data/segment-events-1k.ndjson", import.meta.url), "utf8").trim().split("\n");
const trackNames = [...new Set(lines.map((l) => JSON.parse(l)).filter((e) => e.type === "track").map((e) => e.event))];
const { Destination } = await loadEngine();

let engineMs = 0;
let totalMs = 0;
let requests = 0;
const outcomes = {};
for (let round = 0; round < rounds; round++) {
  // A fresh account and destination each round: the first round's cold caches are part of the figure.
  const simulator = createSimulator({ subdomain: "acme" });
  const destination = new Destination({ subdomain: "acme", oauthToken: "bench", events: trackNames });
  const started = performance.now();
  for (const line of lines) {
    let t = performance.now();
    const conversation = destination.begin(line, Date.now());
    let step = conversation.step();
    engineMs += performance.now() - t;
    while (step.kind === "request") {
      const response = simulator.handle(step.request);
      requests++;
      t = performance.now();
      step = conversation.respond(response);
      engineMs += performance.now() - t;
    }
    conversation.free();
    const key = `${step.outcomes[0].status}/${step.outcomes[0].code}`;
    outcomes[key] = (outcomes[key] ?? 0) + 1;
  }
  totalMs += performance.now() - started;
  destination.free();
}
const events = rounds * lines.length;
console.log(`events: ${events} (${rounds} rounds of ${lines.length})`);
console.log(`engine alone: ${(events / (engineMs / 1000)).toFixed(0)} events/s (${((engineMs * 1000) / events).toFixed(1)} µs/event)`);
console.log(`engine + in-process simulator: ${(events / (totalMs / 1000)).toFixed(0)} events/s`);
console.log(`requests per event: ${(requests / events).toFixed(2)}`);
console.log(`wasm memory after the run: ${(engineMemoryBytes() / 1024 / 1024).toFixed(2)} MiB`);
console.log("outcomes:", JSON.stringify(Object.fromEntries(Object.entries(outcomes).map(([k, v]) => [k, v / rounds]))));
