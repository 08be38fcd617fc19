// The edge handler on Bun (npm `bun`: the real binary), imported by package name.
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { checkAnalyticsNode, checkLoad, checkRoutes, runtimeBinary, spawnServer } from "./support.js";

const SERVER = fileURLToPath(new URL("./servers/bun.js", import.meta.url));

const start = (options) => spawnServer(runtimeBinary("bun"), [SERVER, JSON.stringify(options)], { name: "bun" });

describe("Bun", () => {
  test("analytics-node sends identify, track, group and a batch through it", () => checkAnalyticsNode(start));
  test("every route and refusal answers", () => checkRoutes(start));
  test("load: concurrent clients, faults and a tight rate limit; every event delivered once", () => checkLoad(start));
});
