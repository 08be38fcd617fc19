// Shared by the scale-out tests: a throwaway Redis, the command line as child processes (serve, work),
// and a simulator that counts the answers that enforce the account's per-minute limit.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startRedis } from "../../scripts/redis.mjs";
import { createSimulator } from "../../pkg/simulator.js";
import { startSimulatorServer } from "../../pkg/simulator-server.js";

export const CLI = fileURLToPath(new URL("../../pkg/cli.js", import.meta.url));
export const WRITE_KEY = "wk_test_scale";
export const ACCOUNT_LIMIT_BODY = "Number of allowed API requests per minute exceeded";

/** POST /v1/batch to a `serve` at `url` with the test write key: `{status, body}`. */
export async function postBatch(url, batch) {
  const response = await fetch(`${url}/v1/batch`, {
    method: "POST",
    headers: { authorization: `Basic ${btoa(`${WRITE_KEY}:`)}`, "content-type": "application/json" },
    body: JSON.stringify({ batch }),
  });
  return { status: response.status, body: await response.json() };
}

/** A redis-server for this test file, stopped after it. */
export async function redisFor(t) {
  const redis = await startRedis();
  t.after(() => redis.stop());
  return redis;
}

/**
 * The simulator on a socket, its `handle` wrapped to count the 429s of the account limit (other 429s —
 * jobs, single-user writes — are counted apart) and every request by real time.
 */
export async function simulatorFor(t, options) {
  const simulator = createSimulator(options);
  const counts = { accountLimited: 0, otherLimited: 0, requests: 0, eventsCreated: 0 };
  const handle = simulator.handle;
  simulator.handle = (request) => {
    const response = handle(request);
    counts.requests++;
    if (response.status === 202 && /\/events(\.json)?$/.test(new URL(request.url, "http://x").pathname)) counts.eventsCreated++;
    if (response.status === 429) {
      if (String(response.body).includes(ACCOUNT_LIMIT_BODY)) counts.accountLimited++;
      else counts.otherLimited++;
    }
    return response;
  };
  const server = await startSimulatorServer({ simulator });
  t.after(() => server.close());
  return { simulator, server, counts };
}

export function settingsFile(t, settings) {
  const dir = mkdtempSync(join(tmpdir(), "scale-test-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "settings.json");
  writeFileSync(file, JSON.stringify(settings));
  return file;
}

/**
 * `zendesk-destination <args>` as a child process: resolves once it printed its first line (serve: its
 * URL; work: its name). Killed (SIGKILL) after the test if still running.
 */
export async function spawnCli(t, args, { env = {} } = {}) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const first = await new Promise((resolve, reject) => {
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      if (stdout.includes("\n")) resolve(stdout.split("\n")[0]);
    });
    child.on("exit", () => reject(new Error(`${args[0]} exited early: ${stderr}`)));
  });
  return { child, first, exited, output: () => ({ stdout, stderr }) };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a truthy value (returned), or throws after `timeoutMs` with `describe()`. */
export async function until(check, { timeoutMs = 60_000, everyMs = 100, describe = () => "" } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await sleep(everyMs);
  }
}
