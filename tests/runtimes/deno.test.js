// The edge handler on Deno (npm `deno`: the real binary), imported by package name.
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { checkAnalyticsNode, checkLoad, checkRoutes, PKG, runtimeBinary, spawnServer } from "./support.js";

const SERVER = fileURLToPath(new URL("./servers/deno.js", import.meta.url));

// Only what it needs: the network on loopback, and reading the package (the .wasm).
const start = (options) =>
  spawnServer(runtimeBinary("deno"), ["run", "--quiet", "--no-prompt", "--no-lock", "--allow-net=127.0.0.1", `--allow-read=${PKG}`, SERVER, JSON.stringify(options)], { name: "deno" });

describe("Deno", () => {
  test("analytics-node sends identify, track, group and a batch through it", () => checkAnalyticsNode(start));
  test("every route and refusal answers", () => checkRoutes(start));
  test("load: concurrent clients, faults and a tight rate limit; every event delivered once", () => checkLoad(start));
});
