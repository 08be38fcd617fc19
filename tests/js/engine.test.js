// Loading the engine: each accepted source, the package's conditions, and the errors for what a runtime
// cannot do. The loader keeps one engine per process, so each case runs in a fresh Node process.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const WASM = fileURLToPath(new URL("../../pkg/wasm/zendesk_destination_bg.wasm", import.meta.url));
const PKG = JSON.parse(readFileSync(new URL("../../pkg/package.json", import.meta.url), "utf8"));

/** Runs `code` (an ES module body) in a fresh Node; resolves to what it printed as JSON. */
function inFreshNode(code, args = []) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...args, "--input-type=module", "-e", code], { cwd: ROOT }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${error.message}\n${stderr}`));
      resolve(JSON.parse(stdout));
    });
  });
}

const usable = `const { Destination } = engine; new Destination({ subdomain: "acme", email: "a@acme.test/token", password: "x" }).free(); console.log(JSON.stringify({ ok: true, memory: (await import("zendesk-destination/engine")).engineMemoryBytes() > 0 }));`;

for (const [what, source] of [
  ["nothing: Node's entry reads the file", "undefined"],
  ["a compiled WebAssembly.Module", `await WebAssembly.compile(readFileSync(${JSON.stringify(WASM)}))`],
  ["bytes (a Uint8Array)", `new Uint8Array(readFileSync(${JSON.stringify(WASM)}))`],
  ["bytes (an ArrayBuffer)", `new Uint8Array(readFileSync(${JSON.stringify(WASM)})).buffer`],
  ["a Response (application/wasm: compiled while streaming)", `new Response(readFileSync(${JSON.stringify(WASM)}), { headers: { "content-type": "application/wasm" } })`],
  ["a promise of a Response", `Promise.resolve(new Response(readFileSync(${JSON.stringify(WASM)}), { headers: { "content-type": "application/wasm" } }))`],
]) {
  test(`loadEngine takes ${what}`, async () => {
    const result = await inFreshNode(`import { readFileSync } from "node:fs"; import { loadEngine } from "zendesk-destination/engine"; const engine = await loadEngine(${source}); ${usable}`);
    assert.deepEqual(result, { ok: true, memory: true });
  });
}

test("loadEngine takes a URL (served over http)", async () => {
  const result = await inFreshNode(`
    import http from "node:http"; import { readFileSync } from "node:fs"; import { loadEngine } from "zendesk-destination/engine";
    const server = http.createServer((req, res) => { res.writeHead(200, { "content-type": "application/wasm" }); res.end(readFileSync(${JSON.stringify(WASM)})); });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    const engine = await loadEngine(new URL("http://127.0.0.1:" + server.address().port + "/engine.wasm"));
    server.close();
    ${usable}`);
  assert.deepEqual(result, { ok: true, memory: true });
});

test("a source of another kind is refused by name, and a later load may still succeed", async () => {
  const result = await inFreshNode(`
    import { loadEngine } from "zendesk-destination/engine";
    const message = await loadEngine({ wasm: "here" }).then(() => "loaded", (e) => e.message);
    const engine = await loadEngine();
    console.log(JSON.stringify({ message, loaded: typeof engine.Destination }));`);
  assert.equal(result.message, "zendesk-destination: the wasm option must be a WebAssembly.Module, bytes (ArrayBuffer or typed array), a URL or a Response; got object");
  assert.equal(result.loaded, "function");
});

test("the web entry on Node (whose fetch reads no file:) says so and what to pass instead", async () => {
  const result = await inFreshNode(`
    import { loadEngine } from "./pkg/engine.js";
    console.log(JSON.stringify(await loadEngine().then(() => "loaded", (e) => e.message)));`);
  assert.match(result, /^zendesk-destination: this runtime's fetch cannot read file:\/\/.*zendesk_destination_bg\.wasm \(fetch failed\)\. Pass the wasm option: the file's bytes or a WebAssembly\.Module$/);
});

test("the package's conditions pick an entry per runtime; Node's is the only one that reads files", () => {
  const expected = { workerd: "./engine-workerd.js", deno: "./engine.js", bun: "./engine.js", node: "./engine-node.js", browser: "./engine.js", default: "./engine.js" };
  assert.deepEqual(PKG.exports["./engine"], { types: "./engine.d.ts", ...expected });
  assert.deepEqual(PKG.imports["#engine"], expected);
  assert.equal(PKG.exports["./wasm/*"], "./wasm/*", "bundlers can name the .wasm");
  assert.equal(PKG.exports["./worker"].default, "./worker.js");
  // No entry but Node's imports a node: module, and none looks at process.versions.
  for (const file of ["engine.js", "engine-workerd.js", "index.js", "edge.js", "worker.js"]) {
    const text = readFileSync(new URL(`../../pkg/${file}`, import.meta.url), "utf8");
    assert.doesNotMatch(text, /from "node:|import\("node:/, file);
    assert.doesNotMatch(text, /process\.versions/, file);
  }
  assert.match(readFileSync(new URL("../../pkg/engine-node.js", import.meta.url), "utf8"), /from "node:fs\/promises"/);
});

test("importing the package does no work: nothing loads until the first use", async () => {
  const result = await inFreshNode(`
    await import("zendesk-destination"); await import("zendesk-destination/edge"); await import("zendesk-destination/worker");
    const { engineMemoryBytes } = await import("zendesk-destination/engine");
    console.log(JSON.stringify({ memory: engineMemoryBytes() }));`);
  assert.deepEqual(result, { memory: 0 });
});
