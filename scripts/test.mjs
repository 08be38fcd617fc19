// Runs every test: the engine's Rust tests (with the property checks), its wasm-bindgen tests in Node,
// the JavaScript tests (host, simulator, CLI, edge handler, end to end over HTTP on 127.0.0.1), the edge
// handler on Workers, Deno, Bun and Vercel's edge runtime, and the browser tests in Debian's Chromium
// (preview page, Segment's browser client, the wasm-bindgen tests again in the browser). Installs what it
// needs first, so a fresh machine only needs Rust, Node and npm.
import { spawn } from "node:child_process";
import { build } from "./build.mjs";
import { ensureRedis } from "./redis.mjs";
import { ensureAll, root } from "./toolchain.mjs";

const totals = { passed: 0, failed: 0 };
const results = [];

/** Runs a command, echoing its output, and adds up the test counts its runner prints. */
function suite(name, cmd, args, env = {}) {
  return new Promise((resolve) => {
    console.log(`\n=== ${name}: ${cmd} ${args.join(" ")}`);
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    const echo = (stream) => (chunk) => {
      stream.write(chunk);
      text += chunk.toString();
    };
    child.stdout.on("data", echo(process.stdout));
    child.stderr.on("data", echo(process.stderr));
    child.on("error", (error) => {
      console.error(`${name}: ${error.message}`);
      results.push({ name, ok: false });
      resolve();
    });
    child.on("close", (code) => {
      for (const m of text.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
        totals.passed += Number(m[1]);
        totals.failed += Number(m[2]);
      }
      for (const m of text.matchAll(/^# pass (\d+)$/gm)) totals.passed += Number(m[1]);
      for (const m of text.matchAll(/^# fail (\d+)$/gm)) totals.failed += Number(m[1]);
      results.push({ name, ok: code === 0 });
      resolve();
    });
  });
}

const wasmRunner = { CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER: "wasm-bindgen-test-runner" };

try {
  ensureAll();
  ensureRedis(); // the scale-out tests start their own redis-server (tests/js/scale-*.test.js)
  build();
} catch (error) {
  console.error(`setup failed: ${error.message}`);
  process.exit(1);
}

await suite("engine (Rust)", "cargo", ["test", "--quiet"]);
await suite("engine through the bindings (Node)", "cargo", ["test", "--target", "wasm32-unknown-unknown", "--test", "wasm"], wasmRunner);
await suite("JavaScript", "node", ["--test", "--test-reporter=tap", "tests/js/"]);
// The edge handler on the runtimes it promises, each on its real binary from npm: Cloudflare Workers
// (workerd via miniflare, built by wrangler), Deno, Bun and Vercel's edge-runtime.
await suite("edge runtimes", "node", ["--test", "--test-reporter=tap", "tests/runtimes/"]);

const browser = await import("./browser.mjs");
try {
  await browser.ensureChromium();
  await suite("browser", "node", ["--test", "--test-reporter=tap", "tests/browser/"]);
  await suite("engine through the bindings (Chromium)", ...browser.wasmTestsInChromium());
} catch (error) {
  console.error(`browser tests could not run: ${error.message}`);
  results.push({ name: "browser", ok: false });
}

console.log("\n=== summary");
for (const { name, ok } of results) console.log(`${ok ? "ok  " : "FAIL"} ${name}`);
console.log(`tests: ${totals.passed} passed, ${totals.failed} failed`);
process.exit(results.every((r) => r.ok) && totals.failed === 0 ? 0 : 1);
