// Installs, idempotently, what building and testing need on a fresh machine that has only Rust,
// Node and npm: the wasm32 target, wasm-bindgen-cli at the exact version of the wasm-bindgen crate in
// Cargo.lock, and the npm dev dependencies (binaryen's wasm-opt, playwright-core, Segment's clients, and
// the edge runtimes the tests run on: miniflare/workerd and wrangler, deno, bun, edge-runtime, esbuild).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = fileURLToPath(new URL("..", import.meta.url));

export function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { stdio: "inherit", cwd: root, ...options });
  if (result.error) throw new Error(`${cmd}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited with ${result.status}`);
}

function output(cmd, args) {
  try {
    return execFileSync(cmd, args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return "";
  }
}

export function ensureWasmTarget() {
  if (!output("rustup", ["target", "list", "--installed"]).split("\n").includes("wasm32-unknown-unknown")) {
    run("rustup", ["target", "add", "wasm32-unknown-unknown"]);
  }
}

/** The wasm-bindgen version Cargo.lock pins (the CLI must match it exactly). */
export function lockedWasmBindgenVersion() {
  if (!existsSync(join(root, "Cargo.lock"))) run("cargo", ["generate-lockfile"]);
  const lock = readFileSync(join(root, "Cargo.lock"), "utf8");
  const match = lock.match(/name = "wasm-bindgen"\nversion = "([^"]+)"/);
  if (!match) throw new Error("Cargo.lock does not list the wasm-bindgen crate");
  return match[1];
}

export function ensureWasmBindgenCli() {
  const version = lockedWasmBindgenVersion();
  if (!output("wasm-bindgen", ["--version"]).includes(version)) {
    console.log(`installing wasm-bindgen-cli ${version} (takes a few minutes, once)`);
    // No --locked: the registry mirror here lacks some of the CLI's locked dependency versions.
    run("cargo", ["install", "wasm-bindgen-cli", "--version", version]);
  }
}

export function ensureNpmDependencies() {
  const lock = join(root, "node_modules", ".package-lock.json");
  const stale = !existsSync(lock) || statSync(lock).mtimeMs < statSync(join(root, "package.json")).mtimeMs;
  if (stale) run("npm", ["install", "--no-audit", "--no-fund"]);
}

export function ensureAll() {
  ensureNpmDependencies();
  ensureWasmTarget();
  ensureWasmBindgenCli();
}
