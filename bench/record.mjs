// Records what the benchmark replays: every sample event's conversation with the in-process simulator
// (each request the engine made and the answer it got), so that the timed runs feed the same answers
// back instantly and time only the engine. Three recordings, all on one simulator account:
//   first:  a new destination, every event once in order (this fills the destination's caches);
//   steady: the same destination, every event again (catalogs and ids are known: steady state);
//   cold:   every event on a new destination of its own (empty caches: catalog reads and lookups).
// Replaying `first` then `steady` on a new destination reproduces the recorded state exactly (the engine
// is deterministic given its inputs); `replay` checks every request against the recording.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { gunzipSync } from "node:zlib";
import { createSimulator } from "../pkg/simulator.js";

/** The engine's clock in every run: fixed, so that track calls without a timestamp replay identically. */
export const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);
export const TYPES = ["identify", "track", "group"];

/** The sample events as JSON text, one per line (bench/events.ndjson.gz: a copy of the shared 1,000-event corpus). */
export function sampleEvents() {
  const text = gunzipSync(readFileSync(new URL("./events.ndjson.gz", import.meta.url))).toString("utf8");
  return text.split("\n").filter((line) => line.trim() !== "");
}

export function benchSettings(lines) {
  const names = new Set();
  for (const line of lines) {
    const event = JSON.parse(line);
    if (event.type === "track") names.add(event.event);
  }
  return { subdomain: "acme", oauthToken: "bench-token", events: [...names].sort() };
}

/** One event's conversation: `answer(request)` gives each response; returns what was exchanged. */
function converse(destination, text, answer) {
  const conversation = destination.begin(text, NOW);
  const exchanges = [];
  let step = conversation.step();
  while (step.kind === "request") {
    const request = { method: step.request.method, url: step.request.url, body: step.request.body };
    const response = answer(step.request);
    exchanges.push({ request, response: { status: response.status, headers: { ...response.headers }, body: response.body } });
    step = conversation.respond(response);
  }
  conversation.free();
  const [outcome] = step.outcomes;
  return { exchanges, outcome: { status: outcome.status, code: outcome.code, message: outcome.message } };
}

/** Records the three passes with the engine `wasm` (the bindings from loadEngine). */
export function record(wasm, lines = sampleEvents()) {
  const settings = benchSettings(lines);
  const simulator = createSimulator({ subdomain: "acme" });
  const answer = (request) => simulator.handle(request);
  const entry = (text, conversation) => ({ type: JSON.parse(text).type, event: text, ...conversation });

  const destination = new wasm.Destination(settings);
  // Plain loops around engine calls (see bench/cpu.mjs on V8 and Array callbacks).
  const first = [];
  for (const text of lines) first.push(entry(text, converse(destination, text, answer)));
  const steady = [];
  for (const text of lines) steady.push(entry(text, converse(destination, text, answer)));
  destination.free();
  const cold = [];
  for (const text of lines) {
    const fresh = new wasm.Destination(settings);
    const conversation = converse(fresh, text, answer);
    fresh.free();
    cold.push(entry(text, conversation));
  }
  return { settings, now: NOW, first, steady, cold };
}

/**
 * Replays `entries` on `destination` (a function giving the destination per entry for cold runs),
 * checking every request and outcome against the recording. Throws on the first difference.
 */
export function replayChecked(destinationFor, entries) {
  for (let index = 0; index < entries.length; index++) {
    const entry = entries[index];
    const destination = destinationFor(index);
    const conversation = destination.begin(entry.event, NOW);
    let step = conversation.step();
    for (const [i, { request, response }] of entry.exchanges.entries()) {
      const got = step.kind === "request" ? step.request : null;
      if (!got || got.method !== request.method || got.url !== request.url || got.body !== request.body) {
        throw new Error(`replay differs from the recording at event ${index} (${entry.type}), request ${i}: expected ${request.method} ${request.url}, got ${got ? `${got.method} ${got.url}` : "done"}`);
      }
      step = conversation.respond(response);
    }
    conversation.free();
    const outcome = step.kind === "done" ? step.outcomes[0] : null;
    if (!outcome || outcome.code !== entry.outcome.code || outcome.message !== entry.outcome.message) {
      throw new Error(`replay of event ${index} (${entry.type}) ended differently: expected ${entry.outcome.code} "${entry.outcome.message}", got ${outcome ? `${outcome.code} "${outcome.message}"` : step.kind}`);
    }
  }
}

/** Writes the recording for the native benchmark (`cargo bench`), which reads the same exchanges. */
export function writeRecording(recording, path) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(recording));
}
