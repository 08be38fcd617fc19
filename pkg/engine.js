// Loads the WebAssembly engine once, the same way in Node, browsers and edge runtimes.
import init, * as bindings from "./wasm/zendesk_destination.js";

let loading;
let exports;

/**
 * Resolves to the engine's bindings (`Destination`, `validateSettings`).
 * `source` is optional: a `WebAssembly.Module`, bytes, a URL or a `Response`, for runtimes that bundle
 * the .wasm themselves. Without it, Node reads the file beside this module and browsers fetch it.
 */
export function loadEngine(source) {
  loading ??= (async () => {
    if (source !== undefined) {
      exports = await init({ module_or_path: source });
    } else if (typeof process !== "undefined" && process.versions?.node) {
      const { readFile } = await import("node:fs/promises");
      const bytes = await readFile(new URL("./wasm/zendesk_destination_bg.wasm", import.meta.url));
      exports = await init({ module_or_path: bytes });
    } else {
      exports = await init();
    }
    return bindings;
  })();
  return loading;
}

/** Bytes of linear memory the engine holds now (0 before it is loaded): for benchmarks and leak checks. */
export function engineMemoryBytes() {
  return exports?.memory?.buffer.byteLength ?? 0;
}

let instances = 0;

/**
 * A second, separate engine instance (its own linear memory), for replacing one that failed: after a trap
 * an instance's memory is in an unknown state and is never used again. A fresh copy of the generated
 * bindings module (a distinct module URL) holds the new instance; the compiled module is reused when
 * `source` is one.
 */
export async function freshEngine(source) {
  instances++;
  const glue = await import(`./wasm/zendesk_destination.js?instance=${instances}`);
  let moduleOrPath = source;
  if (moduleOrPath === undefined && typeof process !== "undefined" && process.versions?.node) {
    const { readFile } = await import("node:fs/promises");
    moduleOrPath = await readFile(new URL("./wasm/zendesk_destination_bg.wasm", import.meta.url));
  }
  await glue.default(moduleOrPath === undefined ? undefined : { module_or_path: moduleOrPath });
  return glue;
}
