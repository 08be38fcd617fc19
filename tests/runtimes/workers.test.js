// The ready Worker (zendesk-destination/worker) on Cloudflare's runtime, workerd, through miniflare: the
// Worker checks and forwards, one Durable Object per Zendesk account delivers. The code is what
// `wrangler deploy` would upload for examples/cloudflare-worker (its --dry-run output: wrangler's own
// bundling, the "workerd" condition, the .wasm as a CompiledWasm module, no nodejs_compat), and the
// bindings are those its wrangler.toml declares. workerd lets a Worker reach loopback only through a
// network service allowing it.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { call, checkAnalyticsNode, checkLoad, checkRoutes, ROOT } from "./support.js";

const EXAMPLE = fileURLToPath(new URL("../../examples/cloudflare-worker/", import.meta.url));
const WRANGLER = fileURLToPath(new URL("../../node_modules/wrangler/bin/wrangler.js", import.meta.url));
const COMPATIBILITY_DATE = "2026-04-01"; // the example's
const dirs = [];
after(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

/** `wrangler deploy --dry-run` of the example: the Worker exactly as it would be uploaded. */
async function bundle() {
  const outdir = await mkdtemp(join(tmpdir(), "zendesk-worker-"));
  dirs.push(outdir);
  await new Promise((resolve, reject) =>
    execFile(process.execPath, [WRANGLER, "deploy", "--dry-run", "--outdir", outdir, "--config", join(EXAMPLE, "wrangler.toml")], { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" } }, (error, stdout, stderr) =>
      error ? reject(new Error(`wrangler deploy --dry-run failed: ${error.message}\n${stdout}\n${stderr}`)) : resolve(),
    ),
  );
  return outdir;
}
const bundled = bundle();

test("the example's wrangler.toml: a Durable Object binding ZENDESK_ACCOUNT of class ZendeskAccount, with its migration; no nodejs_compat", async () => {
  const toml = await readFile(join(EXAMPLE, "wrangler.toml"), "utf8");
  assert.match(toml, /^\[\[durable_objects\.bindings\]\]\nname = "ZENDESK_ACCOUNT"\nclass_name = "ZendeskAccount"$/m);
  assert.match(toml, /^new_sqlite_classes = \["ZendeskAccount"\]$/m);
  assert.doesNotMatch(toml, /^compatibility_flags/m, "no compatibility flag (nodejs_compat) is needed");
  const compatibilityDate = /^compatibility_date = "([0-9-]+)"$/m.exec(toml)?.[1];
  assert.equal(compatibilityDate, COMPATIBILITY_DATE, "the test runs the example's compatibility date");
  const files = await readdir(await bundled);
  assert.ok(files.some((file) => file.endsWith("zendesk_destination_bg.wasm")), `wrangler uploads the .wasm as a module: ${files.join(", ")}`);
});

/** Miniflare options for the Worker configured with these createHandler options. */
async function workerOptions(options, persist) {
  const { settings, writeKeys, ...handlerOptions } = options;
  const outdir = await bundled;
  // The modules listed, not collected by miniflare: it cannot follow the package's dynamic imports (the
  // Redis code, loaded only with the redis option), which wrangler uploads as they are.
  const wasm = (await readdir(outdir)).find((file) => file.endsWith(".wasm"));
  return {
    modules: [
      { type: "ESModule", path: join(outdir, "index.js") },
      { type: "CompiledWasm", path: join(outdir, wasm) },
    ],
    modulesRoot: outdir,
    compatibilityDate: COMPATIBILITY_DATE,
    bindings: { ZENDESK_SETTINGS: JSON.stringify(settings), SEGMENT_WRITE_KEYS: writeKeys.join(","), HANDLER_OPTIONS: JSON.stringify(handlerOptions) },
    durableObjects: { ZENDESK_ACCOUNT: "ZendeskAccount" },
    durableObjectsPersist: persist,
    outboundService: { network: { allow: ["local"] } },
    host: "127.0.0.1",
    port: 0,
  };
}

async function start(options) {
  const persist = await mkdtemp(join(tmpdir(), "zendesk-do-"));
  dirs.push(persist);
  const config = await workerOptions(options, persist);
  const mf = new Miniflare(config);
  const url = (await mf.ready).href.replace(/\/$/, "");
  return {
    url,
    mf,
    stop: () => mf.dispose(),
    /** Restarts workerd (the Durable Object with it), as a deploy does; its storage stays. */
    restart: async () => {
      await mf.setOptions({ ...config, port: Number(new URL(url).port) });
      const now = (await mf.ready).href.replace(/\/$/, "");
      assert.equal(now, url, "the Worker came back on the same address");
    },
  };
}

test("Workers compile no WebAssembly from bytes: loadEngine(bytes) says so and names the module to import instead", async () => {
  const outdir = await mkdtemp(join(tmpdir(), "zendesk-bytes-"));
  dirs.push(outdir);
  const entry = `
    import { loadEngine } from "zendesk-destination/engine";
    import bytes from "./engine.bin";
    export default {
      async fetch() {
        const results = [];
        for (const source of [bytes, undefined]) {
          try {
            const engine = await loadEngine(source);
            results.push("loaded " + typeof engine.Destination);
          } catch (error) {
            results.push(error.message);
          }
        }
        return Response.json(results);
      },
    };`;
  await build({ stdin: { contents: entry, resolveDir: ROOT, loader: "js" }, outfile: join(outdir, "worker.js"), bundle: true, format: "esm", platform: "neutral", conditions: ["workerd", "worker", "browser"], loader: { ".wasm": "copy" }, external: ["./engine.bin"], logLevel: "error" });
  await copyFile(join(ROOT, "pkg/wasm/zendesk_destination_bg.wasm"), join(outdir, "engine.bin"));
  const copied = (await readdir(outdir)).find((file) => file.endsWith(".wasm"));
  const modules = [
    { type: "ESModule", path: join(outdir, "worker.js") },
    { type: "CompiledWasm", path: join(outdir, copied) },
    { type: "Data", path: join(outdir, "engine.bin") },
  ];
  const mf = new Miniflare({ modules, modulesRoot: outdir, compatibilityDate: COMPATIBILITY_DATE });
  try {
    const [fromBytes, byDefault] = await (await mf.dispatchFetch("http://worker.test/")).json();
    assert.match(fromBytes, /^zendesk-destination: this runtime does not compile WebAssembly from bytes at run time \(.*disallowed by embedder\)\. Pass the wasm option as a WebAssembly\.Module compiled at deploy time: on Cloudflare Workers `import wasm from "zendesk-destination\/wasm\/zendesk_destination_bg\.wasm"`/);
    assert.equal(byDefault, "loaded function", "without a source, the workerd entry uses the module bundled with the Worker");
  } finally {
    await mf.dispose();
  }
});

describe("Cloudflare Workers (workerd, through miniflare)", () => {
  test("analytics-node sends identify, track, group and a batch through it", () => checkAnalyticsNode(start));
  test("every route and refusal answers", () => checkRoutes(start));
  test("load: concurrent clients, faults and a tight rate limit; every event delivered once", () => checkLoad(start));
  test("load with the Durable Object restarted mid-run: nothing lost; users, organizations and memberships once", async () => {
    let restartedAt = null;
    await checkLoad(start, {
      trackRepeats: true,
      during: async ({ runtime, tracks, expected }) => {
        // Once a third of the forwarded tracks (the last writes of each user) have landed: the rest are
        // queued, in flight or not yet sent.
        while (tracks() < expected.events / 3) await new Promise((resolve) => setTimeout(resolve, 20));
        restartedAt = tracks();
        await runtime.restart();
      },
      afterwards: async ({ runtime, sim }) => {
        // Restarted once more: the messageIds it finished are still known, from its storage alone.
        await runtime.restart();
        const before = sim.simulator.state().counters.requests;
        const batch = ["i", "t1", "t2", "g"].map((suffix) => ({ type: { i: "identify", t1: "track", t2: "track", g: "group" }[suffix], userId: "c0-u0", messageId: `c0-u0-${suffix}`, event: "Order Completed", groupId: "org-c0-u0", traits: { name: "Load c0-u0" }, properties: { orderId: "o-c0-u0" } }));
        const again = await call(runtime.url, "/v1/batch", { body: JSON.stringify({ batch }), headers: { "content-type": "application/json" } });
        assert.equal(again.status, 200, JSON.stringify(again.body));
        assert.deepEqual(again.body.events.map((e) => [e.messageId, e.duplicate ?? false]), batch.map((e) => [e.messageId, true]));
        assert.equal(sim.simulator.state().counters.requests, before, "nothing was sent to Zendesk again");
      },
    });
    assert.ok(restartedAt !== null && restartedAt < 32, `restarted mid-run (${restartedAt} of 32 forwarded tracks had landed)`);
  });
});
