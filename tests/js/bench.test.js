// The engine benchmark's smoke run (bench/run.mjs --smoke): records the sample events' conversations
// with the simulator, replays them through the engine and checks that every request and outcome is the
// recorded one, then prints the table. Figures are not asserted (speed is checked by the benchmark, not
// by tests); that it runs, replays faithfully and reports every row is.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

test("bench/run.mjs --smoke replays the recorded conversations and prints every row", () => {
  const run = spawnSync(process.execPath, ["bench/run.mjs", "--smoke"], { cwd: root, encoding: "utf8", timeout: 120_000 });
  assert.equal(run.status, 0, run.stderr);
  for (const type of ["identify", "track", "group"]) {
    for (const mode of ["steady", "cold"]) assert.match(run.stdout, new RegExp(`^\\| ${type}, ${mode} \\| \\d+ \\| [\\d.]+ \\| – \\| [\\d.]+ \\| \\*\\*[\\d.]+×\\*\\* \\|$`, "m"));
  }
  assert.match(run.stdout, /loadEngine\(\)` \| [\d.]+ ms \/ \*\*[\d.]+ ms\*\* \|/);
  assert.match(run.stdout, /module size \| [\d.]+ KB raw, [\d.]+ KB gzipped \|/);
});

test("the replay check refuses a recording the engine does not reproduce", async () => {
  const { loadEngine } = await import("../../pkg/engine-node.js");
  const { record, replayChecked, sampleEvents } = await import("../../bench/record.mjs");
  const wasm = await loadEngine();
  const recording = record(wasm, sampleEvents().slice(0, 30));
  const tampered = structuredClone(recording.first);
  const index = tampered.findIndex((e) => e.exchanges.length > 0);
  tampered[index].exchanges[0].request.url += "x";
  const destination = new wasm.Destination(recording.settings);
  try {
    assert.throws(() => replayChecked(() => destination, tampered), /replay differs from the recording/);
  } finally {
    destination.free();
  }
});
