// Native instructions per event, per row of the CPU benchmark: callgrind (valgrind) counts the
// instructions of `cargo bench --bench engine` timing one row (BENCH_ONLY), minus a run that times no
// row. Instruction counts repeat exactly whatever else the machine is doing, where wall-clock figures
// on a shared machine do not. Needs valgrind (Debian's package) and the recording that
// `node bench/run.mjs` writes first.
//
//   node bench/instructions.mjs [steady:identify ...]     (default: all six rows)
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const recording = join(root, "target", "bench", "recording.json");
const ROWS = ["steady:identify", "steady:track", "steady:group", "cold:identify", "cold:track", "cold:group"];
const ITERATIONS = 3; // the bench adds 2 warm-up iterations: 5 runs of the row in all

if (!existsSync(recording)) throw new Error(`${recording} is missing: run \`node bench/run.mjs\` first`);
const build = spawnSync("cargo", ["bench", "--bench", "engine", "--no-run", "--message-format=json"], { cwd: root, encoding: "utf8" });
if (build.status !== 0) throw new Error(`cargo bench --no-run failed:\n${build.stderr}`);
const executable = build.stdout
  .split("\n")
  .filter((line) => line.startsWith("{"))
  .map((line) => JSON.parse(line))
  .find((m) => m.reason === "compiler-artifact" && m.target?.name === "engine" && m.executable)?.executable;
if (!executable) throw new Error("cargo did not name the bench executable");

/** Instructions of one run of the bench with `only` as its row, and how many events that row has. */
function count(only, iterations) {
  const result = spawnSync("valgrind", ["--tool=callgrind", "--callgrind-out-file=/dev/null", executable], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, BENCH_RECORDING: recording, BENCH_ONLY: only, BENCH_ITERATIONS: String(iterations) },
  });
  if (result.status !== 0) throw new Error(`valgrind failed (is it installed?):\n${result.stderr}`);
  const refs = /I\s+refs:\s+([\d,]+)/.exec(result.stderr);
  const output = JSON.parse(result.stdout.trim().split("\n").pop());
  const [mode, type] = only.split(":");
  return { instructions: Number(refs[1].replaceAll(",", "")), events: output[mode]?.[type]?.count ?? 0 };
}

const rows = process.argv.slice(2).length ? process.argv.slice(2) : ROWS;
const baseline = count("none", 0).instructions;
console.log("| row | native instructions per event |");
console.log("|---|---|");
for (const row of rows) {
  const { instructions, events } = count(row, ITERATIONS);
  const perEvent = (instructions - baseline) / ((ITERATIONS + 2) * events);
  console.log(`| ${row.replace(":", ", ").split(", ").reverse().join(", ")} | ${(perEvent / 1000).toFixed(0)}K |`);
}
