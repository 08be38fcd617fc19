// What a response's headers cost the engine: the benchmark's steady tracks (one lookup or one event
// POST each), every recorded answer given back once as recorded (the simulator sends one header) and
// once with the headers of a typical production answer: Zendesk's documented rate-limit headers
// (X-Rate-Limit*, ratelimit-*, Zendesk-RateLimit-*; "Rate limits" in the API reference) beside common
// HTTP, tracing and CDN headers. Which and how many of those a given account sees is an assumption
// (about twenty). Prints µs per response taken in (`respond`), the fastest of 15 passes.
//   node bench/headers.mjs
import { loadEngine } from "../pkg/engine-node.js";
import { NOW, record } from "./record.mjs";

const PRODUCTION_HEADERS = {
  "content-type": "application/json; charset=utf-8",
  date: "Wed, 02 Dec 2026 18:00:00 GMT",
  "cache-control": "max-age=0, private, must-revalidate",
  etag: 'W/"5b3f4c6a9d2e1f0a8b7c6d5e4f3a2b1c"',
  "x-zendesk-api-version": "v2",
  "x-frame-options": "SAMEORIGIN",
  "x-rate-limit": "700",
  "x-rate-limit-remaining": "699",
  "ratelimit-limit": "700",
  "ratelimit-remaining": "699",
  "ratelimit-reset": "42",
  "zendesk-ratelimit-users": "total=700; remaining=699; resets=42",
  "x-request-id": "8f1e2d3c4b5a6978-SJC",
  "x-runtime": "0.061234",
  "x-zendesk-origin-server": "app-server-7f8e9d.pod-17.us-west-2",
  "strict-transport-security": "max-age=31536000;",
  "x-content-type-options": "nosniff",
  vary: "Accept-Encoding, Origin",
  server: "cloudflare",
  "cf-ray": "8f1e2d3c4b5a6978-SJC",
};

const wasm = await loadEngine();
const recording = record(wasm);
const tracks = recording.steady.filter((e) => e.type === "track");
const results = {};
for (const [name, headersOf] of [
  ["as recorded", (response) => response],
  ["production headers", (response) => ({ ...response, headers: PRODUCTION_HEADERS })],
]) {
  const destination = new wasm.Destination(recording.settings);
  // Plain loops around engine calls (see bench/cpu.mjs on V8 and Array callbacks).
  for (const entry of recording.first) {
    const conversation = destination.begin(entry.event, NOW);
    let step = conversation.step();
    let n = 0;
    while (step.kind === "request") step = conversation.respond(headersOf(entry.exchanges[n++].response));
    conversation.free();
  }
  let best = Infinity;
  for (let pass = 0; pass < 15; pass++) {
    let spent = 0;
    let responses = 0;
    for (const entry of tracks) {
      const conversation = destination.begin(entry.event, NOW);
      let step = conversation.step();
      let n = 0;
      const started = performance.now();
      while (step.kind === "request") {
        step = conversation.respond(headersOf(entry.exchanges[n++].response));
        responses++;
      }
      spent += performance.now() - started;
      conversation.free();
    }
    best = Math.min(best, (spent * 1000) / responses);
  }
  destination.free();
  results[name] = Number(best.toFixed(1));
}
console.log(JSON.stringify({ usPerResponse: results, headers: Object.keys(PRODUCTION_HEADERS).length }));
