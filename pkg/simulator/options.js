// The simulator's options (see simulator.d.ts) and the id ranges it allocates from.

import { isPlainObject } from "./util.js";

export const FAULT_KINDS = Object.freeze(["500", "503", "503-retry-after", "503-outage", "slow", "drop", "429-text"]);

/** Checks createSimulator()/configure() options and fills in defaults. */
export function normalizeOptions(options) {
  if (!isPlainObject(options)) throw new TypeError("createSimulator(options): options must be an object");
  const auth = options.auth
    ? {
        basic: (options.auth.basic ?? []).map((entry) => ({ ...entry })),
        bearer: [...(options.auth.bearer ?? [])],
      }
    : null;
  let faults = null;
  if (options.faults) {
    const kinds = options.faults.kinds ?? ["500", "503", "slow", "drop"];
    for (const kind of kinds) if (!FAULT_KINDS.includes(kind)) throw new TypeError(`faults.kinds: unknown kind "${kind}"`);
    faults = { rate: Number(options.faults.rate ?? 0), seed: Number(options.faults.seed ?? 1), kinds, slowMs: Number(options.faults.slowMs ?? 30000) };
  }
  if (options.role !== undefined && !["admin", "agent"].includes(options.role)) throw new TypeError('role must be "admin" or "agent"');
  const timeScale = Number(options.timeScale ?? 1);
  if (!(timeScale > 0)) throw new TypeError("timeScale must be a positive number");
  return {
    subdomain: options.subdomain ?? "acme",
    auth,
    oauthClients: (options.oauthClients ?? []).map((client) => ({ ...client })),
    accessTokenTtlSeconds: Number(options.accessTokenTtlSeconds ?? 1800),
    tokenSeed: Number(options.tokenSeed ?? 1),
    bulkImport: options.bulkImport ?? true,
    largeIds: Boolean(options.largeIds),
    role: options.role ?? "admin",
    rateLimitPerMinute: options.rateLimitPerMinute ? Number(options.rateLimitPerMinute) : null,
    eventsRateLimitPerMinute: options.eventsRateLimitPerMinute ? Number(options.eventsRateLimitPerMinute) : null,
    singleUserWriteLimit: Boolean(options.singleUserWriteLimit),
    organizationUpdateLimit: Boolean(options.organizationUpdateLimit),
    timeScale,
    clock: options.clock ?? (() => Date.now()),
    faults,
    // On by default: Zendesk's search lags behind writes ("minutes"); 2 simulated minutes here.
    searchIndexLagMs: Number(options.searchIndexLagMs ?? 120_000),
    jobPollsBeforeDone: Number(options.jobPollsBeforeDone ?? 0),
    jobDurationMs: Number(options.jobDurationMs ?? 2000),
    jobItemMs: Number(options.jobItemMs ?? 0),
    maxUnfinishedJobs: Number(options.maxUnfinishedJobs ?? 30),
  };
}

// Id sequences: each kind has its own range, like Zendesk's tables. Normal ids are ~10^13 (today's
// scale); with `largeIds` every id is beyond 2^53 so a client that rounds them is caught.
export const NORMAL_ID_BASE = 10_000_000_000_001n;
export const LARGE_ID_BASE = 9_007_199_254_740_993n; // 2^53 + 1: not representable as a JS number
export const ID_RANGE_OFFSETS = {
  user: 0n,
  organization: 1_000_000_000n,
  membership: 2_000_000_000n,
  identity: 3_000_000_000n,
  userField: 4_000_000_000n,
  organizationField: 5_000_000_000n,
};

// Attribute policy for writes: keys outside these sets (read-only ones like id, url, active, created_at,
