// The package's TypeScript declarations type-check, strictly, against an example of their use
// (tests/types/usage.ts), with the engine's generated declarations included.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

test("the TypeScript declarations type-check", () => {
  const tsc = spawnSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tests/types"], { cwd: root, encoding: "utf8" });
  assert.equal(tsc.status, 0, `tsc reported:\n${tsc.stdout}${tsc.stderr}`);
});
