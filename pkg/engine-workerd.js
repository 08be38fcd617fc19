// The engine's entry for Cloudflare Workers (the package's `workerd` condition). Workers compile
// WebAssembly only at deploy time: wrangler turns this import of the .wasm into a WebAssembly.Module
// (its default CompiledWasm rule), and bytes would be refused at run time.
import wasm from "./wasm/zendesk_destination_bg.wasm";
import { freshWith, loadWith } from "./engine.js";

export { engineMemoryBytes } from "./engine.js";

/** See engine.js; without `source`, the module bundled with the Worker. */
export function loadEngine(source) {
  return loadWith(source, () => wasm);
}

/** See engine.js: a separate instance replacing one that failed. */
export function freshEngine(source) {
  return freshWith(source, () => wasm);
}
