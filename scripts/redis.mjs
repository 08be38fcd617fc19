// Redis for the tests and benchmarks: Debian's `redis-server`, installed with apt-get when missing (as
// browser.mjs does for Chromium), started on a free loopback port with persistence off, stopped after.
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { run } from "./toolchain.mjs";

let aptUpdated = false;

function redisServerPath() {
  const found = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" });
  return found.status === 0 ? found.stdout.trim() : null;
}

/** Installs Debian's redis-server when it is not on the PATH (needs root and apt). */
export function ensureRedis() {
  if (redisServerPath()) return;
  console.log("installing redis-server with apt-get (once)");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  if (!aptUpdated) {
    run("apt-get", ["update"], { env });
    aptUpdated = true;
  }
  run("apt-get", ["install", "-y", "--no-install-recommends", "redis-server"], { env });
  if (!redisServerPath()) throw new Error("redis-server is still missing after apt-get install");
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a throwaway redis-server on 127.0.0.1 (no snapshots, no append-only file: test data only).
 * @returns {Promise<{url: string, port: number, stop(): Promise<void>}>}
 */
export async function startRedis({ attempts = 5 } = {}) {
  ensureRedis();
  let lastError = null;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = await freePort();
    const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const ready = await new Promise((resolve) => {
      const onData = (chunk) => {
        output += chunk.toString();
        if (output.includes("Ready to accept connections")) resolve(true);
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.once("exit", () => resolve(false));
      setTimeout(() => resolve(false), 10_000).unref();
    });
    if (!ready) {
      child.kill("SIGKILL");
      lastError = new Error(`redis-server did not start on port ${port}: ${output.slice(-500)}`);
      continue; // the port was taken between the check and the start: another one
    }
    child.stdout.removeAllListeners("data");
    child.stderr.removeAllListeners("data");
    child.stdout.resume();
    child.stderr.resume();
    const exited = new Promise((resolve) => child.once("exit", resolve));
    return {
      url: `redis://127.0.0.1:${port}`,
      port,
      async stop() {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
        await exited;
      },
    };
  }
  throw lastError;
}
