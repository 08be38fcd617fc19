// Builds the engine into pkg/wasm/: cargo (release, wasm32) → wasm-bindgen (--target web) → wasm-opt.
// Skips all of it when nothing under src/ or the manifests changed since the last build.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { ensureAll, root, run } from "./toolchain.mjs";

const OUT = join(root, "pkg", "wasm");
const WASM = join(OUT, "zendesk_destination_bg.wasm");
const STAMP = join(root, ".build-stamp");
// Lowered from 400 / 170 KB when issue 12's work brought the module to 378 / 162 KB: the budget keeps
// what was won (README, "Size"); a change that needs more says so there, with its measured gain.
export const SIZE_LIMIT_RAW = 385 * 1024;
export const SIZE_LIMIT_GZIP = 165 * 1024;

function sourceHash() {
  const hash = createHash("sha256");
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else hash.update(path).update(readFileSync(path));
    }
  };
  walk(join(root, "src"));
  for (const file of ["Cargo.toml", "Cargo.lock", "scripts/build.mjs"]) hash.update(readFileSync(join(root, file)));
  return hash.digest("hex");
}

export function build({ force = false } = {}) {
  ensureAll();
  const hash = sourceHash();
  if (!force && existsSync(WASM) && existsSync(STAMP) && readFileSync(STAMP, "utf8") === hash) {
    reportSize();
    return;
  }
  run("cargo", ["build", "--release", "--lib", "--target", "wasm32-unknown-unknown"]);
  const built = join(root, "target", "wasm32-unknown-unknown", "release", "zendesk_destination.wasm");
  run("wasm-bindgen", [built, "--out-dir", OUT, "--target", "web", "--typescript"]);
  const wasmOpt = join(root, "node_modules", ".bin", "wasm-opt");
  run(wasmOpt, [WASM, "-Oz", "--strip-debug", "--strip-producers", "-o", WASM]);
  patchGlue(join(OUT, "zendesk_destination.js"));
  writeFileSync(STAMP, hash);
  reportSize();
}

/**
 * The generated loader asks `typeof Response` / `typeof Request` before it looks at what it was given.
 * In Node those globals are lazy: the first touch loads Node's whole fetch implementation (~25 ms and
 * ~8 MB RSS at start-up) even when the engine is handed bytes or a compiled module. Bytes and modules
 * are recognised first here, so only a URL or a real Response reaches those globals. Each pattern must
 * match exactly once: a new wasm-bindgen that changes the glue fails the build instead of going slow.
 */
function patchGlue(path) {
  let glue = readFileSync(path, "utf8");
  const replace = (from, to) => {
    const count = glue.split(from).length - 1;
    if (count !== 1) throw new Error(`patching ${path}: expected one \`${from}\`, found ${count}`);
    glue = glue.replace(from, to);
  };
  replace(
    "typeof Response === 'function' && module instanceof Response",
    "!isModuleOrBytes(module) && typeof Response === 'function' && module instanceof Response",
  );
  replace(
    "(typeof Request === 'function' && module_or_path instanceof Request)",
    "(!isModuleOrBytes(module_or_path) && typeof Request === 'function' && module_or_path instanceof Request)",
  );
  glue +=
    "\n// Added by scripts/build.mjs: lets bytes and compiled modules skip the fetch globals (see patchGlue).\n" +
    "function isModuleOrBytes(x) { return x instanceof WebAssembly.Module || x instanceof ArrayBuffer || ArrayBuffer.isView(x); }\n";
  writeFileSync(path, glue);
}

function reportSize() {
  const bytes = readFileSync(WASM);
  const raw = bytes.length;
  const gzip = gzipSync(bytes, { level: 9 }).length;
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
  console.log(`pkg/wasm/zendesk_destination_bg.wasm: ${kb(raw)} raw, ${kb(gzip)} gzipped (limits ${kb(SIZE_LIMIT_RAW)}, ${kb(SIZE_LIMIT_GZIP)})`);
  if (raw > SIZE_LIMIT_RAW || gzip > SIZE_LIMIT_GZIP) throw new Error("the WebAssembly module is over its size budget");
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    build({ force: process.argv.includes("--force") });
  } catch (error) {
    console.error(`build failed: ${error.message}`);
    process.exit(1);
  }
}
