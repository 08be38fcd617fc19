// Rate limits (account, single-user writes) and injected faults.

import { ApiError } from "./util.js";
import { toJson } from "./json.js";

/** Adds the limits handlers and routes to the simulator core `sim`. */
export function installLimits(sim) {
  // ----- rate limits and faults ---------------------------------------------------------------------

  function rateLimited(retryAfterMs, description) {
    sim.account.counters.rateLimited++;
    return new ApiError(429, { error: "APIRateLimitExceeded", description }, { "retry-after": sim.realSecondsText(retryAfterMs) });
  }

  // Account limit: fixed one-minute windows of simulated time. Returns headers for every answer.
  function takeAccountRateToken() {
    if (!sim.config.rateLimitPerMinute) return { headers: {}, error: null };
    const at = sim.now();
    const windowStart = Math.floor(at / 60000) * 60000;
    if (sim.account.rateWindow.startMs !== windowStart) sim.account.rateWindow = { startMs: windowStart, count: 0 };
    const limit = sim.config.rateLimitPerMinute;
    const resetInMs = windowStart + 60000 - at;
    let error = null;
    if (sim.account.rateWindow.count >= limit) {
      error = rateLimited(resetInMs, `Number of allowed API requests per minute exceeded (${limit})`);
    } else sim.account.rateWindow.count++;
    const remaining = String(limit - sim.account.rateWindow.count);
    const headers = {
      "x-rate-limit": String(limit),
      "x-rate-limit-remaining": remaining,
      "ratelimit-limit": String(limit),
      "ratelimit-remaining": remaining,
      "ratelimit-reset": sim.realSecondsText(resetInMs),
    };
    return { headers, error };
  }

  // PUT /users/{id} and POST /users/create_or_update: 1 per second per account, 5 per minute per user.
  // Checked against the matched user before the write; the write (a create too) is then counted
  // for the user it landed on, whatever its outcome, through the returned `count(user)`.
  function enforceSingleUserWriteLimit(user) {
    if (!sim.config.singleUserWriteLimit) return () => {};
    const at = sim.now();
    const writes = sim.account.singleUserWrites;
    const recentWrites = (target) => (writes.byUser.get(String(target.id)) ?? []).filter((time) => at - time < 60000);
    if (writes.lastAccountWriteMs !== null && at - writes.lastAccountWriteMs < 1000) {
      throw rateLimited(1000 - (at - writes.lastAccountWriteMs), "Single-user writes are limited to 1 per second per account");
    }
    if (user) {
      const recent = recentWrites(user);
      if (recent.length >= 5) throw rateLimited(recent[0] + 60000 - at, "Writes to one user are limited to 5 per minute");
    }
    writes.lastAccountWriteMs = at;
    return (target) => {
      if (target) writes.byUser.set(String(target.id), [...recentWrites(target), at]);
    };
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

  Object.assign(sim, { rateLimited, takeAccountRateToken, enforceSingleUserWriteLimit, pickFault, faultResponse });
}
