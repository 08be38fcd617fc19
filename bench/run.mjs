// The engine's benchmark: CPU per call type against the JSON floor, start-up, memory and size, as one
// table. Every figure is a median over several fresh processes; each ratio is taken inside one process
// (engine and floor timed side by side) and then the median of those ratios is shown, so the ratios hold
// on a busy machine even when the µs move.
//
//   node bench/run.mjs              5 processes each, plus the native run (cargo bench) and Chromium
//   node bench/run.mjs --smoke      one short process, no native, no browser: checks that it all works
//   options: --processes N, --no-native, --no-browser
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { SIZE_LIMIT_GZIP, SIZE_LIMIT_RAW } from "../scripts/build.mjs";
import { TYPES } from "./record.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const args = process.argv.slice(2);
const smoke = args.includes("--smoke");
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const processes = Number(option("--processes", smoke ? 1 : 5));
const native = !smoke && !args.includes("--no-native");
const browser = !smoke && !args.includes("--no-browser");
const recordingPath = join(root, "target", "bench", "recording.json");

export const TARGETS = { steady: 2, cold: 3, loadMs: 10, rssMiB: 8, rawKB: 250, gzipKB: 100 };

/**
 * Node 20.20's V8 now and then aborts a benchmark process with "Fatal error ... unreachable code" in
 * Deoptimizer::DoComputeBuiltinContinuation (a V8 bug, seen with the engine before and after issue 12,
 * not reproducible on demand). Such a process is run again, at most twice, and counted in the output.
 */
let v8Aborts = 0;

function node(script, extra = [], attempt = 0) {
  const result = spawnSync(process.execPath, [join(root, "bench", script), ...extra], { cwd: root, encoding: "utf8" });
  if (result.status !== 0 && attempt < 2 && /Fatal error[\s\S]*Deoptimizer/.test(result.stderr)) {
    v8Aborts++;
    return node(script, extra, attempt + 1);
  }
  if (result.status !== 0) throw new Error(`bench/${script} failed:\n${result.stderr || result.stdout}`);
  return JSON.parse(result.stdout.trim().split("\n").pop());
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const fixed = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "–");

// CPU: fresh processes, the first one also writes the recording for the native run.
const cpuArgs = smoke ? ["--iterations", "2", "--events", "120"] : [];
const cpu = [];
for (let i = 0; i < processes; i++) cpu.push(node("cpu.mjs", [...cpuArgs, ...(i === 0 && native ? ["--record", recordingPath] : [])]));

let nativeRun = null;
if (native) {
  const result = spawnSync("cargo", ["bench", "--quiet", "--bench", "engine"], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, BENCH_RECORDING: recordingPath },
  });
  if (result.status !== 0) throw new Error(`cargo bench failed:\n${result.stderr}`);
  nativeRun = JSON.parse(result.stdout.trim().split("\n").pop());
}

// Start-up and memory: alternate loaded and empty processes.
const startup = [];
const empty = [];
for (let i = 0; i < Math.max(processes, smoke ? 1 : 7); i++) {
  startup.push(node("startup.mjs"));
  empty.push(node("startup.mjs", ["--empty"]));
}
let chromium = null;
if (browser) chromium = await (await import("./browser.mjs")).measureInChromium(processes);

const wasm = readFileSync(join(root, "pkg", "wasm", "zendesk_destination_bg.wasm"));
const size = { rawKB: wasm.length / 1024, gzipKB: gzipSync(wasm, { level: 9 }).length / 1024 };

const rows = [];
const verdicts = [];
const check = (what, ok) => verdicts.push(`${ok ? "meets" : "MISSES"} ${what}`);
for (const mode of ["steady", "cold"]) {
  for (const type of TYPES) {
    const engine = median(cpu.map((r) => r[mode][type].engine));
    const floor = median(cpu.map((r) => r[mode][type].floor));
    const ratio = median(cpu.map((r) => r[mode][type].engine / r[mode][type].floor));
    const nativeUs = nativeRun?.[mode]?.[type]?.native;
    rows.push(`| ${type}, ${mode} | ${cpu[0][mode][type].count} | ${fixed(engine)} | ${fixed(nativeUs)} | ${fixed(floor)} | **${fixed(ratio)}×** |`);
    check(`${type} ${mode} ≤ ${TARGETS[mode]}× floor (${fixed(ratio)}×)`, ratio <= TARGETS[mode]);
  }
}
const importMs = median(startup.map((r) => r.importMs));
const loadMs = median(startup.map((r) => r.loadMs));
const rssMiB = (median(startup.map((r) => r.rssBytes)) - median(empty.map((r) => r.rssBytes))) / 1048576;
check(`Node loadEngine() ≤ ${TARGETS.loadMs} ms (${fixed(loadMs)} ms)`, loadMs <= TARGETS.loadMs);
check(`Node RSS ≤ empty + ${TARGETS.rssMiB} MiB (+${fixed(rssMiB)} MiB)`, rssMiB <= TARGETS.rssMiB);
if (chromium) {
  check(`Chromium loadEngine() ≤ ${TARGETS.loadMs} ms (${fixed(chromium.loadMs)} ms)`, chromium.loadMs <= TARGETS.loadMs);
  check(`Chromium renderer RSS ≤ blank page + ${TARGETS.rssMiB} MiB (+${fixed(chromium.rssMiB)} MiB)`, chromium.rssMiB <= TARGETS.rssMiB);
}
check(
  `size ≤ ${TARGETS.rawKB} KB raw, ${TARGETS.gzipKB} KB gzipped (issue 12; the build's budget is ${SIZE_LIMIT_RAW / 1024} / ${SIZE_LIMIT_GZIP / 1024} KB)`,
  size.rawKB <= TARGETS.rawKB && size.gzipKB <= TARGETS.gzipKB,
);

const [load1, load5] = (() => {
  try {
    return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 2);
  } catch {
    return ["?", "?"];
  }
})();
console.log(`Node ${process.version}, ${processes} fresh process(es) per figure, load average ${load1} / ${load5} (1 / 5 min)${smoke ? ", SMOKE RUN (short: figures are indicative only)" : ""}`);
console.log("");
console.log("| µs per event (median) | events | engine via wasm | same engine native | floor (JSON) | engine / floor |");
console.log("|---|---|---|---|---|---|");
for (const row of rows) console.log(row);
console.log("");
console.log("| start-up and memory | figure |");
console.log("|---|---|");
console.log(`| Node, fresh process: import of pkg/engine-node.js / \`loadEngine()\` | ${fixed(importMs)} ms / **${fixed(loadMs)} ms** |`);
console.log(`| Node: RSS after load − RSS of an empty Node | +${fixed(rssMiB)} MiB |`);
if (chromium) {
  console.log(`| Chromium, fresh browser: \`import()\` over HTTP / \`loadEngine()\` (of which the .wasm's fetch) | ${fixed(chromium.importMs)} ms / **${fixed(chromium.loadMs)} ms** (${fixed(chromium.fetchMs)} ms) |`);
  console.log(`| Chromium: renderer RSS after load − before | +${fixed(chromium.rssMiB)} MiB |`);
}
console.log(`| WebAssembly memory after the CPU run | ${fixed(median(cpu.map((r) => r.wasmMemoryBytes)) / 1048576, 2)} MiB |`);
console.log(`| requests per event (steady / cold) | ${fixed(cpu[0].requestsPerEvent.steady, 2)} / ${fixed(cpu[0].requestsPerEvent.cold, 2)} |`);
console.log(`| module size | ${fixed(size.rawKB)} KB raw, ${fixed(size.gzipKB)} KB gzipped |`);
console.log("");
for (const v of verdicts) console.log(v);
if (v8Aborts) console.log(`(${v8Aborts} process(es) aborted by V8's deoptimizer and were run again)`);
