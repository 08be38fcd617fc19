// In-memory Zendesk simulator: one Zendesk account (users, identities, organizations, memberships,
// custom fields, Sunshine events, bulk jobs) behind the HTTP surface the destination uses.
//
// It is a pure, synchronous state machine: `handle(request) -> response`. No Node modules, no timers
// in the core (only `sim.fetch` sleeps, for `delayMs`), so the same files run in Node and in the
// browser preview. Time comes from an injectable clock so rate limits are testable.
//
// This file is the public entry; the simulator lives in ./simulator/: a small core (core.js) and one
// module per Zendesk resource (users, organizations, memberships, fields, jobs, events, auth,
// limits). The behaviour follows /work/shared/reference/zendesk-api.md; where the reference says
// "unconfirmed", the choice made is written next to the code that makes it.

export { createSimulator } from "./simulator/core.js";
export { parseJsonExact, toJson } from "./simulator/json.js";
export { ZENDESK_TIME_ZONES } from "./simulator/time-zones.js";
export { FAULT_KINDS } from "./simulator/options.js";
