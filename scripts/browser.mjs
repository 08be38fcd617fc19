// Chromium for the tests: Debian's `chromium` driven by playwright-core, and the engine's
// wasm-bindgen-test suite run in the same Chromium through chromedriver.
//
// This machine (and CI) has no network beyond loopback: without the flags below Chromium stalls on
// connection attempts (component updates, background fetches). `npx playwright install` cannot download
// browsers here, so the browser is always the system one at /usr/bin/chromium.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { root, run } from "./toolchain.mjs";

export const CHROMIUM = "/usr/bin/chromium";
export const CHROMEDRIVER = "/usr/bin/chromedriver";
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
];

let aptUpdated = false;

/** Installs Debian's chromium and chromium-driver when either is missing (needs root and apt). */
export function ensureChromium() {
  const missing = [];
  if (!existsSync(CHROMIUM)) missing.push("chromium");
  if (!existsSync(CHROMEDRIVER)) missing.push("chromium-driver");
  if (missing.length === 0) return;
  console.log(`installing ${missing.join(" and ")} with apt-get (once)`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  if (!aptUpdated) {
    run("apt-get", ["update"], { env });
    aptUpdated = true;
  }
  run("apt-get", ["install", "-y", "--no-install-recommends", ...missing], { env });
  for (const path of [CHROMIUM, CHROMEDRIVER]) {
    if (!existsSync(path)) throw new Error(`${path} is still missing after apt-get install`);
  }
}

/**
 * Launches headless Chromium with playwright-core (imported here, lazily, so that scripts can import
 * this module before `npm install` has run). Playwright gives every launch a fresh profile in a temp
 * directory (it refuses a --user-data-dir argument to launch()).
 * @returns {Promise<import("playwright-core").Browser>}
 */
export async function launchBrowser(options = {}) {
  ensureChromium();
  const { chromium } = await import("playwright-core");
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
    timeout: options.timeout ?? 60_000,
  });
}

/**
 * The command that runs the engine's wasm-bindgen-test suite (tests/wasm.rs) in headless Chromium via
 * chromedriver, as `[cmd, args, env]` (env: only the additions): `cargo test --target
 * wasm32-unknown-unknown --test wasm` with wasm-bindgen-test-runner as the runner.
 * `WASM_BINDGEN_USE_BROWSER` makes the runner use a browser even for tests not marked
 * `run_in_browser`; the capabilities file (written under target/) passes Chromium's binary and the
 * no-network flags. chromedriver gives every session a fresh temporary profile.
 */
export function wasmTestsInChromium({ filter, extraArgs = [] } = {}) {
  const dir = join(root, "target", "wasm-bindgen-test-chromium");
  mkdirSync(dir, { recursive: true });
  const capabilities = join(dir, "webdriver.json");
  writeFileSync(capabilities, JSON.stringify({ "goog:chromeOptions": { binary: CHROMIUM, args: CHROMIUM_ARGS } }, null, 2));
  const env = {
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER: "wasm-bindgen-test-runner",
    CHROMEDRIVER,
    WASM_BINDGEN_USE_BROWSER: "1",
    WASM_BINDGEN_TEST_WEBDRIVER_JSON: capabilities,
    WASM_BINDGEN_TEST_TIMEOUT: process.env.WASM_BINDGEN_TEST_TIMEOUT ?? "180",
    WASM_BINDGEN_TEST_DRIVER_TIMEOUT: process.env.WASM_BINDGEN_TEST_DRIVER_TIMEOUT ?? "30",
  };
  const args = ["test", "--target", "wasm32-unknown-unknown", "--test", "wasm", ...extraArgs];
  if (filter) args.push("--", filter);
  return ["cargo", args, env];
}

/** Runs that suite (see wasmTestsInChromium), output inherited. Throws when it fails. */
export function runWasmTestsInChromium({ filter, extraArgs = [], cwd = root } = {}) {
  ensureChromium();
  const [cmd, args, env] = wasmTestsInChromium({ filter, extraArgs });
  const result = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: "inherit" });
  if (result.error) throw new Error(`${cmd}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`the wasm-bindgen-test suite failed in Chromium (cargo exited with ${result.status})`);
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const what = process.argv[2];
  try {
    if (what === "wasm-tests") runWasmTestsInChromium({ filter: process.argv[3] });
    else ensureChromium();
  } catch (error) {
    console.error(error.message);
    process.exit(1);
  }
}
