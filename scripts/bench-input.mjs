// Reading EVENTS: the 1,000 sample events repeated to 4,000, 8,000, 16,000 and 100,000 events, read as
// `plan`/`send` read a file (64 KB chunks through readEventStream), and the edge's 500 KB body of many
// small values. Reading must be linear (time doubles when the input doubles) and memory bounded (the
// heap after reading does not grow with the input). Usage: node --expose-gc scripts/bench-input.mjs
import { readFileSync } from "node:fs";
import { parse } from "../pkg/host/json.js";
import { readEventStream } from "../pkg/host/input.js";

const path = process.argv[2] ?? new URL("../../shared/data/segment-events-1k.ndjson", import.meta.url);
const sample = readFileSync(path, "utf8");
const heapMb = () => {
  globalThis.gc?.();
  return (process.memoryUsage().heapUsed / 1e6).toFixed(0);
};

/** The text in 64 KB chunks, produced lazily (as a file stream gives them): the whole input is never held. */
function* chunksOf(copies) {
  for (let i = 0; i < copies; i++) for (let at = 0; at < sample.length; at += 65_536) yield sample.slice(at, at + 65_536);
}

for (const copies of [4, 8, 16, 100]) {
  const started = performance.now();
  let events = 0;
  let peak = 0;
  for await (const _ of readEventStream(chunksOf(copies))) {
    events++;
    if (events % 1_000 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed);
  }
  const ms = performance.now() - started;
  console.log(`${events} events (${((sample.length * copies) / 1e6).toFixed(1)} MB): ${ms.toFixed(0)} ms, ${((events / ms) * 1000).toFixed(0)} events/s; heap peak ${(peak / 1e6).toFixed(0)} MB, after ${heapMb()} MB`);
}

const flood = "1 ".repeat(250_000);
const started = performance.now();
try {
  parse(flood);
} catch {
  // more than one JSON value: refused, as the edge refuses it
}
console.log(`the edge's 500 KB body of 250,000 values: refused in ${(performance.now() - started).toFixed(1)} ms`);
