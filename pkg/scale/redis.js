// The connection to Redis (npm's official `redis` client, loaded only when a Redis URL is given, so the
// package keeps working without it in browsers and edge runtimes) and the few helpers every shared
// store uses: key names under one prefix, and Lua scripts run by their SHA1.
import { createHash } from "node:crypto";

export const DEFAULT_PREFIX = "zendesk-destination";

/**
 * A connected client for `redis`: a URL (`redis://host:port/db`, `rediss://…`) or an already connected
 * client of npm's `redis` (then the caller keeps owning it). `close()` quits only a client made here.
 */
export async function connectRedis(redis) {
  if (redis && typeof redis === "object" && typeof redis.sendCommand === "function") {
    return { client: redis, close: async () => {} };
  }
  if (typeof redis !== "string" || !/^rediss?:\/\//.test(redis)) {
    throw new TypeError(`redis must be a redis:// or rediss:// URL or a connected client of npm's "redis", got ${JSON.stringify(String(redis))}`);
  }
  let createClient;
  try {
    ({ createClient } = await import("redis"));
  } catch {
    throw new Error('the Redis URL needs npm\'s "redis" package: npm install redis');
  }
  const client = createClient({
    url: redis,
    // Reconnect with a capped backoff. Commands issued while disconnected fail at once instead of
    // waiting: a front answers 503 (the client keeps its events), a pacer paces alone, a worker waits.
    socket: { reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2_000), connectTimeout: 5_000 },
    disableOfflineQueue: true,
  });
  let lastError = null;
  client.on("error", (error) => {
    lastError = error; // reported by the command that fails; the client reconnects on its own
  });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`cannot connect to Redis at ${redactUrl(redis)}: ${error?.message ?? lastError?.message ?? error}`);
  }
  return {
    client,
    close: async () => {
      try {
        await client.close();
      } catch {
        client.destroy?.();
      }
    },
  };
}

/** The URL without its password (for messages). */
export function redactUrl(url) {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unreadable URL)";
  }
}

/** A Lua script run with EVALSHA (EVAL once when Redis does not know it yet). */
export function script(source) {
  const sha = createHash("sha1").update(source).digest("hex");
  return async (client, keys, args) => {
    const call = (command) => client.sendCommand([command, command === "EVALSHA" ? sha : source, String(keys.length), ...keys.map(String), ...args.map(String)]);
    try {
      return await call("EVALSHA");
    } catch (error) {
      if (!String(error?.message ?? error).includes("NOSCRIPT")) throw error;
      return call("EVAL");
    }
  };
}

/** The account a destination's shared state belongs to: its Zendesk host. */
export function accountName(settings) {
  if (settings && typeof settings.baseUrl === "string" && settings.baseUrl) {
    try {
      return new URL(settings.baseUrl).host + new URL(settings.baseUrl).pathname.replace(/\/+$/, "");
    } catch {
      // validated elsewhere
    }
  }
  return `${String(settings?.subdomain ?? "").toLowerCase()}.zendesk.com`;
}
