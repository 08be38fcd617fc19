// The engine's entry for Node (the package's `node` condition): the .wasm is read from disk, since
// Node's fetch does not read file: URLs. Everything else is engine.js.
import { readFile } from "node:fs/promises";
import { freshWith, loadWith } from "./engine.js";

export { engineMemoryBytes } from "./engine.js";

const fromDisk = () => readFile(new URL("./wasm/zendesk_destination_bg.wasm", import.meta.url));

/** See engine.js; without `source`, reads the .wasm beside this module. */
export function loadEngine(source) {
  return loadWith(source, fromDisk);
}

/** See engine.js: a separate instance replacing one that failed. */
export function freshEngine(source) {
  return freshWith(source, fromDisk);
}
