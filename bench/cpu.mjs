// One fresh process of the CPU benchmark: records the sample events' conversations, checks that the
// replay reproduces them, then times per call type, in this same process,
//   engine: raw event text → outcome through the documented surface (begin, step, respond, free), each
//           request answered instantly with its recorded response;
//   floor:  JSON.parse of the event text + JSON.stringify of the request bodies it becomes.
// steady = one destination whose caches are full; cold = a new destination per event (created and freed
// outside the timed loop), so catalogs and ids are looked up again. Prints one JSON line.
// Usage: node bench/cpu.mjs [--iterations N] [--events N] [--record PATH]
// Calls into the engine run in plain loops, not in Array callbacks: Node 20.20's V8 has aborted the
// process ("Fatal error ... unreachable code" in Deoptimizer::DoComputeBuiltinContinuation) when a
// wasm call inside a map/forEach callback was deoptimized.
import { engineMemoryBytes, loadEngine } from "../pkg/engine-node.js";
import { NOW, TYPES, record, replayChecked, sampleEvents, writeRecording } from "./record.mjs";

const option = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : process.argv[i + 1];
};
const iterations = Number(option("--iterations", 15));
const eventCount = Number(option("--events", Infinity));
const recordPath = option("--record", null);

const wasm = await loadEngine();
const recording = record(wasm, sampleEvents().slice(0, eventCount));
if (recordPath) writeRecording(recording, recordPath);

// The replay must be the recording, or the timings would measure something else.
const destination = new wasm.Destination(recording.settings);
replayChecked(() => destination, recording.first);
replayChecked(() => destination, recording.steady);
replayChecked(() => destination, recording.steady); // steady stays steady
const coldChecks = [];
for (let i = 0; i < recording.cold.length; i++) coldChecks.push(new wasm.Destination(recording.settings));
replayChecked((i) => coldChecks[i], recording.cold);
for (const d of coldChecks) d.free();

/** Per call type: the event texts, their recorded responses, and the request bodies as values. */
function groups(entries) {
  return TYPES.map((type) => {
    const chosen = entries.filter((e) => e.type === type);
    return {
      type,
      events: chosen.map((e) => e.event),
      responses: chosen.map((e) => e.exchanges.map((x) => x.response)),
      bodies: chosen.map((e) => e.exchanges.filter((x) => x.request.body !== null).map((x) => JSON.parse(x.request.body))),
    };
  });
}

let sink = 0;

function engineRun(destinations, group) {
  const { events, responses } = group;
  for (let i = 0; i < events.length; i++) {
    const conversation = destinations(i).begin(events[i], NOW);
    let step = conversation.step();
    const answers = responses[i];
    let n = 0;
    while (step.kind === "request") step = conversation.respond(answers[n++]);
    conversation.free();
    sink += step.outcomes.length;
  }
}

function floorRun(group) {
  const { events, bodies } = group;
  for (let i = 0; i < events.length; i++) {
    const value = JSON.parse(events[i]);
    sink += value.type.length;
    for (const body of bodies[i]) sink += JSON.stringify(body).length;
  }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/**
 * µs per event: the fastest iteration (the one least disturbed by other work on a shared machine; the
 * run prints medians over processes of these). Engine and floor alternate which goes first.
 */
function measure(group, makeDestinations) {
  const engine = [];
  const floor = [];
  const count = group.events.length;
  for (let it = -2; it < iterations; it++) {
    const { at, done } = makeDestinations(count);
    const timeEngine = () => {
      const t = performance.now();
      engineRun(at, group);
      return ((performance.now() - t) * 1000) / count;
    };
    const timeFloor = () => {
      const t = performance.now();
      floorRun(group);
      return ((performance.now() - t) * 1000) / count;
    };
    let e;
    let f;
    if (it % 2) {
      f = timeFloor();
      e = timeEngine();
    } else {
      e = timeEngine();
      f = timeFloor();
    }
    done();
    if (it >= 0) {
      engine.push(e);
      floor.push(f);
    }
  }
  return { count, engine: Math.min(...engine), floor: Math.min(...floor), engineMedian: median(engine), floorMedian: median(floor) };
}

const steady = {};
for (const group of groups(recording.steady)) {
  steady[group.type] = measure(group, () => ({ at: () => destination, done() {} }));
}
const cold = {};
for (const group of groups(recording.cold)) {
  cold[group.type] = measure(group, (count) => {
    const fresh = [];
    for (let i = 0; i < count; i++) fresh.push(new wasm.Destination(recording.settings));
    return {
      at: (i) => fresh[i],
      done: () => {
        for (const d of fresh) d.free();
      },
    };
  });
}
destination.free();

const requests = (entries) => entries.reduce((n, e) => n + e.exchanges.length, 0) / entries.length;
console.log(
  JSON.stringify({
    steady,
    cold,
    requestsPerEvent: { steady: requests(recording.steady), cold: requests(recording.cold) },
    wasmMemoryBytes: engineMemoryBytes(),
    sink: sink % 2,
  }),
);
