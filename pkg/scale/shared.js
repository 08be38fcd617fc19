// createDestination({redis}): the pieces of a destination whose state lives in Redis, so that every
// instance pointed at the same Redis shares it — the account's rate budget (./budget.js), the OAuth
// pair (./tokens.js), the write ledger (./ledger.js) and what the engine learned (./learned.js).
import { SharedPacer } from "./budget.js";
import { connectRedis, DEFAULT_PREFIX, accountName } from "./redis.js";
import { LearnedSync } from "./learned.js";
import { ledgerFetch } from "./ledger.js";
import { SharedTokens } from "./tokens.js";

export const DEFAULT_LEDGER_WINDOW_MS = 24 * 60 * 60 * 1000;

/**
 * @param {string | object} redis a URL or a connected client of npm's `redis`
 * @param {object} settings the destination's settings (they name the account)
 * @param {{redisPrefix?: string, fetch: Function}} options
 */
export async function sharedState(redis, settings, options) {
  const { client, close } = await connectRedis(redis);
  const prefix = options.redisPrefix ?? DEFAULT_PREFIX;
  const account = `${prefix}:account:${accountName(settings)}`;
  // One pair per OAuth client of the account; the stored one is loaded now (once any instance has
  // refreshed, the settings' tokens are dead).
  const tokensKey = `${account}:oauth:${options.oauth?.clientId ?? ""}`;
  let stored = null;
  if (options.oauth) {
    try {
      const [accessToken, refreshAt] = await client.sendCommand(["HMGET", tokensKey, "accessToken", "refreshAt"]);
      if (accessToken) stored = { accessToken: String(accessToken), refreshAt: refreshAt ? Number(refreshAt) : null };
    } catch (error) {
      await close();
      throw new Error(`cannot read the shared OAuth pair from Redis: ${error?.message ?? error}`);
    }
  }
  return {
    client,
    account,
    fetch: ledgerFetch(options.fetch, client, { prefix: account, windowMs: DEFAULT_LEDGER_WINDOW_MS }),
    learned: new LearnedSync(client, { key: `${account}:learned` }),
    pacer: (clock) => new SharedPacer(client, { key: `${account}:budget`, ...clock }),
    tokens: (credentials, host) => {
      const tokens = new SharedTokens(client, { key: tokensKey, credentials, ...host });
      if (stored) tokens.adopt(stored);
      return tokens;
    },
    close,
  };
}
