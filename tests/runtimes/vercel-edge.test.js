// The edge handler on Vercel's edge runtime (npm `edge-runtime`, the sandbox Vercel runs edge functions
// in locally). The function is bundled with esbuild the way Vercel builds it: the package's conditions
// `edge-light`, `worker`, `browser`, and the "?module" import of the .wasm bound to a WebAssembly.Module
// compiled at build time. As on Vercel, the sandbox compiles no WebAssembly (nor code) from bytes.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { EdgeRuntime, runServer } from "edge-runtime";
import { call, checkAnalyticsNode, checkLoad, checkRoutes, handlerOptions, ROOT } from "./support.js";

const ENTRY = fileURLToPath(new URL("./servers/vercel-edge.js", import.meta.url));
const WASM_BINDING = "__zendesk_destination_wasm"; // the global the "?module" import reads

/** esbuild in Vercel's place: "<file>.wasm?module" becomes the module bound to WASM_BINDING. */
const wasmModules = {
  name: "wasm-module",
  setup(build) {
    build.onResolve({ filter: /\.wasm\?module$/ }, (args) => ({ path: args.path, namespace: "wasm-module" }));
    build.onLoad({ filter: /.*/, namespace: "wasm-module" }, () => ({ contents: `export default globalThis.${WASM_BINDING};`, loader: "js" }));
  },
};

async function bundle(options) {
  const result = await build({
    entryPoints: [ENTRY],
    absWorkingDir: ROOT,
    bundle: true,
    write: false,
    format: "iife",
    platform: "browser",
    conditions: ["edge-light", "worker", "browser"],
    define: { "process.env.ZENDESK_HANDLER_OPTIONS": JSON.stringify(JSON.stringify(options)) },
    plugins: [wasmModules],
    logLevel: "error",
  });
  return result.outputFiles[0].text;
}

const compiled = readFile(new URL("../../pkg/wasm/zendesk_destination_bg.wasm", import.meta.url)).then((bytes) => WebAssembly.compile(bytes));

async function start(options, { binding } = {}) {
  const module = binding === undefined ? await compiled : binding.value;
  const runtime = new EdgeRuntime({
    initialCode: await bundle(options),
    codeGeneration: { strings: false, wasm: false },
    extend: (context) => Object.assign(context, { [WASM_BINDING]: module }),
  });
  const server = await runServer({ runtime, port: 0, host: "127.0.0.1" });
  return { url: server.url.replace(/\/$/, ""), stop: () => server.close() };
}

describe("Vercel's edge runtime", () => {
  test("analytics-node sends identify, track, group and a batch through it", () => checkAnalyticsNode(start));
  test("every route and refusal answers", () => checkRoutes(start));
  test("load: concurrent clients, faults and a tight rate limit; every event delivered once", () => checkLoad(start));

  for (const [what, value, message] of [
    ["the .wasm as bytes", readFile(new URL("../../pkg/wasm/zendesk_destination_bg.wasm", import.meta.url)).then((b) => new Uint8Array(b)), /this runtime does not compile WebAssembly from bytes at run time \(.*disallowed by embedder\)\. Pass the wasm option as a WebAssembly\.Module compiled at deploy time/],
    ["no wasm option", Promise.resolve(undefined), /cannot locate the engine's \.wasm \(this runtime gives modules no URL\)\. Pass the wasm option/],
  ]) {
    test(`given ${what}, every request answers 500 with the runtime's rule`, async () => {
      const runtime = await start(handlerOptions("http://127.0.0.1:9"), { binding: { value: await value } });
      try {
        const answer = await call(runtime.url, "/v1/batch", { body: JSON.stringify({ batch: [{ type: "identify", userId: "u1", messageId: "w-1", traits: { name: "A" } }] }), headers: { "content-type": "application/json" } });
        assert.equal(answer.status, 500);
        assert.equal(answer.body.error, "internal_error");
        assert.match(answer.body.message, message);
      } finally {
        await runtime.stop();
      }
    });
  }
});
