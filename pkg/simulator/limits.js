// Rate limits (account, single-user writes, organization updates) and injected faults.

import { ApiError } from "./util.js";
import { toJson } from "./json.js";

/** Adds the limits handlers and routes to the simulator core `sim`. */
export function installLimits(sim) {
  // ----- rate limits and faults ---------------------------------------------------------------------

  function rateLimited(retryAfterMs, description, headers = {}) {
    sim.account.counters.rateLimited++;
    return new ApiError(429, { error: "APIRateLimitExceeded", description }, { "retry-after": sim.realSecondsText(retryAfterMs), ...headers });
  }

  // Account limit: fixed one-minute windows of simulated time. Returns headers for every answer.
  // Sunshine events (`/users/{id}/events`, `/user_profiles/events`) have a budget of their own
  // (Zendesk's "Rate limits" page: 250 to 1,000 requests a minute by plan), counted apart when
  // `eventsRateLimitPerMinute` is set; their answers then carry that budget's headers.
  function takeAccountRateToken(path = "") {
    const events = sim.config.eventsRateLimitPerMinute && /^\/api\/v2\/(users\/[^/]+|user_profiles)\/events$/.test(path);
    const limit = events ? sim.config.eventsRateLimitPerMinute : sim.config.rateLimitPerMinute;
    if (!limit) return { headers: {}, error: null };
    const windowKey = events ? "eventsRateWindow" : "rateWindow";
    const at = sim.now();
    const windowStart = Math.floor(at / 60000) * 60000;
    if (sim.account[windowKey]?.startMs !== windowStart) sim.account[windowKey] = { startMs: windowStart, count: 0 };
    const window = sim.account[windowKey];
    const resetInMs = windowStart + 60000 - at;
    let error = null;
    if (window.count >= limit) {
      error = rateLimited(resetInMs, `Number of allowed API requests per minute exceeded (${limit})`);
    } else window.count++;
    const remaining = String(limit - window.count);
    const headers = {
      "x-rate-limit": String(limit),
      "x-rate-limit-remaining": remaining,
      "ratelimit-limit": String(limit),
      "ratelimit-remaining": remaining,
      "ratelimit-reset": sim.realSecondsText(resetInMs),
    };
    return { headers, error };
  }

  // PUT /users/{id} and POST /users/create_or_update: 1 per second per account, 5 per minute per user
  // (Zendesk's rate-limit guide), enforced with `singleUserWriteLimit`. Checked against the matched user
  // before the write; the write (a create too) is then counted for the user it landed on, whatever its
  // outcome, through the returned `count(user)`. Writes are counted even when the limit is off, for
  // the header every such answer carries (see singleUserWriteHeader).
  function enforceSingleUserWriteLimit(user) {
    const at = sim.now();
    const writes = sim.account.singleUserWrites;
    const recentWrites = (target) => (writes.byUser.get(String(target.id)) ?? []).filter((time) => at - time < 60000);
    if (sim.config.singleUserWriteLimit) {
      if (writes.lastAccountWriteMs !== null && at - writes.lastAccountWriteMs < 1000) {
        throw rateLimited(1000 - (at - writes.lastAccountWriteMs), "Single-user writes are limited to 1 per second per account", singleUserWriteHeader(user));
      }
      if (user) {
        const recent = recentWrites(user);
        if (recent.length >= 5) throw rateLimited(recent[0] + 60000 - at, "Writes to one user are limited to 5 per minute", singleUserWriteHeader(user));
      }
    }
    writes.lastAccountWriteMs = at;
    return (target) => {
      if (target) writes.byUser.set(String(target.id), [...recentWrites(target), at]);
    };
  }

  // `Zendesk-RateLimit-create-update-user: total=5; remaining=N; resets=S` on every answer of those two
  // endpoints (Zendesk's rate-limit guide). Scoped to the endpoint, and here to the user written (5 per
  // minute per user; whether Zendesk counts `remaining` per user or per endpoint is an assumption).
  function singleUserWriteHeader(user) {
    const at = sim.now();
    const recent = user ? (sim.account.singleUserWrites.byUser.get(String(user.id)) ?? []).filter((time) => at - time < 60000) : [];
    const resetsMs = recent.length ? recent[0] + 60000 - at : 60000;
    return { "zendesk-ratelimit-create-update-user": `total=5; remaining=${Math.max(0, 5 - recent.length)}; resets=${sim.realSecondsText(resetsMs)}` };
  }

  // Update Organization: 5 updates per minute per organization (Zendesk's Organizations API, "Update
  // Organization", since May 2022), with `organizationUpdateLimit`. Its 429 has the Sunshine-style body.
  function enforceOrganizationUpdateLimit(org) {
    if (!org) return;
    const at = sim.now();
    const updates = sim.account.organizationUpdates;
    const recent = (updates.get(String(org.id)) ?? []).filter((time) => at - time < 60000);
    if (sim.config.organizationUpdateLimit && recent.length >= 5) {
      sim.account.counters.rateLimited++;
      throw new ApiError(429, { errors: [{ code: "TooManyRequests", title: "Too many requests to update" }] }, { "retry-after": sim.realSecondsText(recent[0] + 60000 - at) });
    }
    updates.set(String(org.id), [...recent, at]);
  }

  // Decided before the request is applied: a faulted request never changes the sim.account.
  function pickFault() {
    if (sim.account.forcedFaults.length) return sim.account.forcedFaults.shift();
    const faults = sim.config.faults;
    if (!faults || !(faults.rate > 0) || faults.kinds.length === 0) return null;
    if (sim.account.faultRandom() >= faults.rate) return null;
    const kind = faults.kinds[Math.floor(sim.account.faultRandom() * faults.kinds.length)];
    if (kind === "503") return sim.account.faultRandom() < 0.5 ? "503-retry-after" : "503-outage";
    return kind;
  }

  function faultResponse(kind) {
    const json = { "content-type": "application/json; charset=utf-8" };
    switch (kind) {
      case "500":
        return { status: 500, headers: json, body: toJson({ error: "InternalError", description: "Internal Server Error" }) };
      case "503-retry-after": // a transient database timeout
        return { status: 503, headers: { ...json, "retry-after": sim.realSecondsText(1000) }, body: toJson({ error: "DatabaseTimeout", description: "The database timed out; retry after the given time" }) };
      case "503-outage": // no Retry-After: an outage
        return { status: 503, headers: json, body: toJson({ error: "ServiceUnavailable", description: "Service temporarily unavailable" }) };
      case "429-text": // the 429 body has been seen as plain text
        return { status: 429, headers: { "content-type": "text/plain; charset=utf-8", "retry-after": sim.realSecondsText(1000) }, body: "Too Many Requests" };
      case "slow": // answered after delayMs (real ms), with a gateway timeout: nothing was written
        return { status: 504, headers: { "content-type": "text/html; charset=utf-8" }, body: "<html><body><h1>504 Gateway Time-out</h1></body></html>", delayMs: sim.config.faults?.slowMs ?? 30000 };
      case "drop":
        return { status: 0, headers: {}, body: "", drop: true };
      default:
        throw new TypeError(`unknown fault kind ${kind}`);
    }
  }

  Object.assign(sim, { rateLimited, takeAccountRateToken, enforceSingleUserWriteLimit, pickFault, faultResponse, singleUserWriteHeader, enforceOrganizationUpdateLimit });
}
