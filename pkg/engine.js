// Loads the WebAssembly engine once. This file is the entry for browsers, Deno, Bun and any runtime
// without an entry of its own: it uses web APIs only. Node's entry (engine-node.js) reads the file from
// disk and Cloudflare's (engine-workerd.js) imports the module Workers compile at deploy time; the
// package's `exports`/`imports` conditions pick the entry, never a sniff of the runtime.
import init, * as bindings from "./wasm/zendesk_destination.js";

const WASM_FILE = "./wasm/zendesk_destination_bg.wasm";
let loading = null;
let exports;
let compiled = null; // the engine's WebAssembly.Module, once loaded: fresh instances reuse it
let instances = 0;

/**
 * Resolves to the engine's bindings (`Destination`, `validateSettings`).
 * `source` (optional): a `WebAssembly.Module`, bytes (ArrayBuffer or a typed array), a URL (or its
 * string) or a `Response` (or a promise of one). Without it, this entry fetches the .wasm beside this
 * module (browsers over http(s); Deno and Bun read file: URLs).
 */
export function loadEngine(source) {
  return loadWith(source, defaultSource);
}

/** Bytes of linear memory the engine holds now (0 before it is loaded): for benchmarks and leak checks. */
export function engineMemoryBytes() {
  return exports?.memory?.buffer.byteLength ?? 0;
}

function defaultSource() {
  try {
    return new URL(WASM_FILE, import.meta.url);
  } catch {
    // Bundles that keep no module URL (Cloudflare Workers, Vercel's edge runtime) end up here.
    throw new Error(
      `zendesk-destination: cannot locate the engine's .wasm (this runtime gives modules no URL). Pass the wasm option: ` +
        `a WebAssembly.Module imported from "zendesk-destination/wasm/zendesk_destination_bg.wasm" (how your bundler imports .wasm), its bytes, a URL or a Response`,
    );
  }
}

/**
 * The loader shared by every entry: `fallback()` gives the entry's default source. Loads once; a failed
 * load is not remembered, so a later call (with a better source) can try again.
 */
export function loadWith(source, fallback) {
  if (loading) return loading;
  const attempt = (async () => {
    compiled = await compile(source === undefined ? await fallback() : await source);
    exports = await init({ module_or_path: compiled });
    return bindings;
  })();
  loading = attempt;
  attempt.catch(() => {
    if (loading === attempt) loading = null;
  });
  return attempt;
}

/**
 * A second, separate engine instance (its own linear memory), for replacing one that failed: after a trap
 * an instance's memory is in an unknown state and is never used again. A fresh copy of the generated
 * bindings module (a distinct module URL) holds the new instance, made from the module compiled for the
 * first one (or, before any load, from `source` or the entry's default).
 */
export async function freshWith(source, fallback) {
  instances++;
  const glue = await import(`./wasm/zendesk_destination.js?instance=${instances}`);
  const module = compiled ?? (await compile(source === undefined ? await fallback() : await source));
  await glue.default({ module_or_path: module });
  return glue;
}

/** See freshWith; without `source`, this entry's default. */
export function freshEngine(source) {
  return freshWith(source, defaultSource);
}

/** Any accepted source, compiled: a WebAssembly.Module, or an error that names the runtime's rule. */
async function compile(given) {
  let source = checked(given);
  try {
    if (isModule(source)) return source;
    // Bytes before the fetch types: in Node, even `typeof Request` loads its whole fetch (~25 ms, ~8 MB).
    if (tag(source) === "[object ArrayBuffer]" || ArrayBuffer.isView(source)) return await WebAssembly.compile(source);
    if (source instanceof URL || typeof source === "string" || (typeof Request === "function" && source instanceof Request)) source = await fetch(source);
    if (typeof Response === "function" && source instanceof Response) {
      if (!source.ok) throw new Error(`fetching the .wasm answered ${source.status}`);
      // Compiled while it streams when served as application/wasm; otherwise (Deno's file: fetch gives no
      // type) from the bytes, instead of failing over with a warning.
      if (typeof WebAssembly.compileStreaming === "function" && /^application\/wasm\b/i.test(source.headers.get("content-type") ?? "")) {
        return await WebAssembly.compileStreaming(source);
      }
      source = await source.arrayBuffer();
    }
    return await WebAssembly.compile(source);
  } catch (error) {
    throw explained(error, given);
  }
}

// By tag, not instanceof: a module compiled in another realm (a bundler's host, a vm context) is fine.
const tag = (value) => Object.prototype.toString.call(value);
const isModule = (value) => tag(value) === "[object WebAssembly.Module]";

function checked(source) {
  if (isModule(source)) return source;
  if (tag(source) === "[object ArrayBuffer]" || ArrayBuffer.isView(source)) return source;
  if (source instanceof URL || typeof source === "string") return source;
  if (typeof Response === "function" && source instanceof Response) return source;
  if (typeof Request === "function" && source instanceof Request) return source;
  throw new TypeError(
    `zendesk-destination: the wasm option must be a WebAssembly.Module, bytes (ArrayBuffer or typed array), a URL or a Response; got ${source === null ? "null" : typeof source}`,
  );
}

function explained(error, source) {
  const message = String(error?.message ?? error);
  // Workers and Vercel's edge runtime refuse to compile WebAssembly at run time (their "embedder" rule).
  if (/disallowed by embedder|code generation|not allowed/i.test(message) && !isModule(source)) {
    return new Error(
      `zendesk-destination: this runtime does not compile WebAssembly from bytes at run time (${message}). ` +
        `Pass the wasm option as a WebAssembly.Module compiled at deploy time: on Cloudflare Workers \`import wasm from "zendesk-destination/wasm/zendesk_destination_bg.wasm"\`, on Vercel append "?module" to that import`,
      { cause: error },
    );
  }
  if (source instanceof URL && source.protocol === "file:" && /fetch|scheme|not implemented|unsupported|protocol/i.test(message)) {
    return new Error(`zendesk-destination: this runtime's fetch cannot read ${source.href} (${message}). Pass the wasm option: the file's bytes or a WebAssembly.Module`, { cause: error });
  }
  return new Error(`zendesk-destination: the engine did not load: ${message}`, { cause: error });
}
