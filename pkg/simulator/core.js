// The simulator's core: one account's state, the clock, id allocation, the route table, the request
// entry point (handle), the fetch adapter and the state snapshot. Each Zendesk resource lives in its
// own module (users.js, organizations.js, memberships.js, fields.js, jobs.js, events.js, auth.js,
// limits.js); each adds its handlers and routes to the shared `sim` object, so a module calls another
// through `sim.name(...)`.

import { toJson, toPlain } from "./json.js";
import { isoSeconds, seededRandom, byId, isPlainObject, ApiError, invalidEndpoint } from "./util.js";
import { FAULT_KINDS, normalizeOptions, NORMAL_ID_BASE, LARGE_ID_BASE, ID_RANGE_OFFSETS } from "./options.js";
import { installUsers } from "./users.js";
import { installOrganizations } from "./organizations.js";
import { installMemberships } from "./memberships.js";
import { installFields } from "./fields.js";
import { installJobs } from "./jobs.js";
import { installEvents } from "./events.js";
import { installAuth } from "./auth.js";
import { installLimits } from "./limits.js";
import { seed } from "./seed.js";

/**
 * Creates a simulated Zendesk account. See simulator.d.ts for the options and the returned API.
 */
export function createSimulator(options = {}) {
  let optionsGiven = { ...options };
  // The shared state every module reads: `sim.config` (normalized options) and `sim.account`
  // (everything reset() clears), plus the helpers each module adds with Object.assign.
  const sim = { config: normalizeOptions(optionsGiven), account: null };
  let realStartMs;
  let simulatedStartMs;

  // Simulated time runs `timeScale` times faster than the clock.
  const now = () => simulatedStartMs + (sim.config.clock() - realStartMs) * sim.config.timeScale;

  // Durations the client should wait are given in real seconds (simulated seconds / timeScale), so a
  // host that sleeps `Retry-After` seconds wakes up exactly when the simulated window reopens.
  // With timeScale 1 they are whole seconds (rounded up); otherwise decimals with millisecond precision.
  function realSecondsText(simulatedMs) {
    const seconds = Math.max(0, simulatedMs) / 1000 / sim.config.timeScale;
    if (sim.config.timeScale === 1) return String(Math.max(1, Math.ceil(seconds)));
    return String(Math.max(0.001, Math.ceil(seconds * 1000) / 1000));
  }

  function freshAccount() {
    return {
      users: new Map(), // id string -> user
      organizations: new Map(),
      memberships: new Map(),
      userFields: [],
      organizationFields: [],
      profiles: new Map(), // "userId|source|type" -> profile
      events: [],
      jobs: new Map(),
      unfinishedJobs: new Set(),
      // Lookup indexes, so large simulated accounts stay fast (values are the live records).
      index: {
        usersByEmail: new Map(), // lowercased email identity -> Set<user>
        usersByExternalId: new Map(), // lowercased external_id -> Set<user>
        usersByPhone: new Map(), // phone digits -> Set<user>
        identityIds: new Set(),
        membershipsByUser: new Map(), // user id string -> Set<membership>, in creation order
      },
      sequences: Object.fromEntries(Object.keys(ID_RANGE_OFFSETS).map((kind) => [kind, 0n])),
      sunshineSequence: 0,
      sunshineSources: new Set(),
      sunshineTypes: new Set(),
      log: [],
      counters: {
        requests: 0,
        responsesByStatus: {},
        usersCreated: 0,
        usersUpdated: 0,
        usersDeleted: 0,
        anonymousUsersCreated: 0,
        organizationsCreated: 0,
        organizationsUpdated: 0,
        membershipsCreated: 0,
        membershipsDeleted: 0,
        fieldsCreated: 0,
        eventsReceived: 0,
        jobsCreated: 0,
        jobsCompleted: 0,
        accessTokensIssued: 0,
        rateLimited: 0,
        faultsInjected: 0,
      },
      rateWindow: { startMs: null, count: 0 },
      singleUserWrites: { lastAccountWriteMs: null, byUser: new Map() },
      organizationUpdates: new Map(), // organization id string -> update times (simulated ms), last minute
      oauthClients: sim.config.oauthClients.map((client) => ({ ...client })),
      issuedTokens: new Map(), // access token -> expiry (simulated ms)
      revokedTokens: new Set(),
      tokenRandom: seededRandom(sim.config.tokenSeed),
      faultRandom: sim.config.faults ? seededRandom(sim.config.faults.seed) : null,
      forcedFaults: [],
      jobFailures: 0, // the next N jobs fail whole (failNextJobs)
    };
  }

  function reset() {
    realStartMs = sim.config.clock();
    simulatedStartMs = realStartMs;
    sim.account = freshAccount();
  }

  // ----- ids -------------------------------------------------------------------------------------

  const tableFor = (kind) =>
    ({ user: sim.account.users, organization: sim.account.organizations, membership: sim.account.memberships })[kind];

  function allocateId(kind) {
    const base = (sim.config.largeIds ? LARGE_ID_BASE : NORMAL_ID_BASE) + ID_RANGE_OFFSETS[kind];
    for (;;) {
      const id = base + sim.account.sequences[kind];
      sim.account.sequences[kind] += 1n;
      if (!idTaken(kind, id)) return id;
    }
  }

  function idTaken(kind, id) {
    const table = tableFor(kind);
    if (table) return table.has(String(id));
    if (kind === "identity") return sim.account.index.identityIds.has(String(id));
    const fields = kind === "userField" ? sim.account.userFields : sim.account.organizationFields;
    return fields.some((field) => field.id === id);
  }

  // ----- routes ----------------------------------------------------------------------------------------

  const routes = [];
  // `{admin: true}`: the endpoint needs an administrator; other credentials get 403 (see auth.js).
  const route = (method, pattern, handler, { admin = false } = {}) =>
    routes.push({ method, pattern: new RegExp(`^${pattern}$`), handler, admin });
  const canonicalOrigin = () => `https://${sim.config.subdomain}.zendesk.com`;

  Object.assign(sim, { now, realSecondsText, allocateId, route, canonicalOrigin });
  for (const install of [installUsers, installOrganizations, installMemberships, installFields, installJobs, installEvents, installAuth, installLimits]) {
    install(sim);
  }
  reset();

  // ----- the request entry point ---------------------------------------------------------------------

  function jsonResponse(status, body, headers) {
    if (status === 204 || body === null) return { status, headers: { ...headers }, body: "" };
    return { status, headers: { "content-type": "application/json; charset=utf-8", ...headers }, body: toJson(body) };
  }

  function redactAuthorization(value) {
    if (!value) return null;
    const scheme = /^\s*(Basic|Bearer)\b/i.exec(value)?.[1];
    if (!scheme) return "…redacted";
    return `${scheme[0].toUpperCase()}${scheme.slice(1).toLowerCase()} …redacted`;
  }

  function handle(request) {
    if (!isPlainObject(request)) throw new TypeError("handle(request): request must be an object");
    const method = String(request.method ?? "GET").toUpperCase();
    const url = new URL(String(request.url), "http://127.0.0.1");
    const headers = {};
    for (const [name, value] of Object.entries(request.headers ?? {})) headers[name.toLowerCase()] = String(value);
    const body = typeof request.body === "string" ? request.body : request.body == null ? null : String(request.body);
    const path = url.pathname.replace(/\.json$/, "");
    const context = { method, origin: url.origin, path, query: url.searchParams, headers, body, identity: {} };

    sim.completeDueJobs();
    let response;
    let fault = null;
    try {
      if (path === "/oauth/tokens") {
        const result = sim.handleOAuthToken(context);
        response = jsonResponse(result.status, result.body, result.headers);
      } else if (path === "/api/v2" || path.startsWith("/api/v2/")) {
        response = handleApi(context, (kind) => (fault = kind));
      } else throw invalidEndpoint();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      response = jsonResponse(error.status, error.body, error.headers);
    }

    sim.account.counters.requests++;
    sim.account.counters.responsesByStatus[response.status] = (sim.account.counters.responsesByStatus[response.status] ?? 0) + 1;
    const entry = {
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      status: response.status,
      authorization: redactAuthorization(headers.authorization),
      body: path === "/oauth/tokens" && body ? "…redacted" : body, // the token request carries secrets
    };
    if (fault) entry.fault = fault;
    sim.account.log.push(entry);
    return response;
  }

  function handleApi(context, noteFault) {
    let rateHeaders = {};
    try {
      context.identity = sim.authenticate(context.headers.authorization);
      const rate = sim.takeAccountRateToken(context.path);
      rateHeaders = rate.headers;
      if (rate.error) throw rate.error;
      const fault = sim.pickFault();
      if (fault) {
        noteFault(fault);
        sim.account.counters.faultsInjected++;
        const response = sim.faultResponse(fault);
        if (!response.drop) Object.assign(response.headers, rateHeaders);
        return response;
      }
      const apiPath = context.path.slice("/api/v2".length);
      for (const candidate of routes) {
        if (candidate.method !== context.method) continue;
        const match = candidate.pattern.exec(apiPath);
        if (!match) continue;
        if (candidate.admin) sim.requireAdmin(context.identity);
        const result = candidate.handler(context, ...match.slice(1));
        return jsonResponse(result.status, result.body, { ...result.headers, ...rateHeaders });
      }
      // A known path with the wrong method is routed nowhere too, as in Rails: 404 InvalidEndpoint.
      throw invalidEndpoint();
    } catch (error) {
      if (error instanceof ApiError) error.headers = { ...error.headers, ...rateHeaders };
      throw error;
    }
  }

  // ----- fetch adapter -------------------------------------------------------------------------------

  const abortReason = (signal) => signal.reason ?? new DOMException("This operation was aborted", "AbortError");

  function sleep(ms, signal) {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const onAbort = () => {
        clearTimeout(timer);
        reject(abortReason(signal));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  async function bodyText(body) {
    if (body === undefined || body === null) return null;
    if (typeof body === "string") return body;
    if (body instanceof URLSearchParams) return body.toString();
    if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return new TextDecoder().decode(body);
    if (typeof body.text === "function") return body.text();
    return String(body);
  }

  /** fetch-compatible: runs the request through handle() in-process. */
  async function simulatedFetch(input, init = {}) {
    let url;
    let method = "GET";
    const headers = {};
    let body = null;
    let signal = init.signal;
    if (typeof input === "string" || input instanceof URL) url = String(input);
    else if (input && typeof input === "object" && typeof input.url === "string") {
      url = input.url;
      method = input.method ?? method;
      input.headers?.forEach?.((value, name) => (headers[name] = value));
      signal ??= input.signal;
      if (init.body === undefined && input.body) body = await input.text();
    } else throw new TypeError("fetch: input must be a URL string, URL or Request");
    if (init.method) method = init.method;
    if (init.headers) new Headers(init.headers).forEach((value, name) => (headers[name] = value));
    if (init.body !== undefined) body = await bodyText(init.body);
    if (signal?.aborted) throw abortReason(signal);

    const response = handle({ method, url, headers, body });
    if (response.delayMs > 0) await sleep(response.delayMs, signal);
    if (signal?.aborted) throw abortReason(signal);
    if (response.drop) throw new TypeError("fetch failed", { cause: new Error("other side closed (simulated dropped connection)") });
    const nullBody = [101, 204, 205, 304].includes(response.status);
    return new Response(nullBody ? null : response.body, { status: response.status, headers: response.headers });
  }

  // ----- snapshot, seeding, knobs --------------------------------------------------------------------

  function snapshot() {
    const origin = canonicalOrigin();
    return {
      subdomain: sim.config.subdomain,
      now: isoSeconds(now()),
      users: [...sim.account.users.values()].sort(byId).map((user) => ({
        ...sim.renderUser(user, origin),
        anonymous: user.anonymous,
        identities: user.identities.map((identity) => sim.renderIdentity(identity, origin)),
      })),
      organizations: [...sim.account.organizations.values()].sort(byId).map((org) => sim.renderOrganization(org, origin)),
      memberships: [...sim.account.memberships.values()].sort(byId).map((m) => sim.renderMembership(m, origin)),
      userFields: sim.account.userFields.map((field) => sim.renderField(field, origin, "user_fields")),
      organizationFields: sim.account.organizationFields.map((field) => sim.renderField(field, origin, "organization_fields")),
      profiles: [...sim.account.profiles.values()].map((profile) => ({
        id: profile.id,
        user_id: profile.user_id,
        source: profile.source,
        type: profile.type,
        identifiers: profile.identifiers.map((identifier) => ({ ...identifier })),
        attributes: { ...profile.attributes },
        created_at: isoSeconds(profile.createdMs),
        updated_at: isoSeconds(profile.updatedMs),
      })),
      events: sim.account.events.map((event) => ({ ...event })),
      jobStatuses: [...sim.account.jobs.values()].map((job) => sim.renderJob(job, origin)),
      counters: {
        ...sim.account.counters,
        responsesByStatus: { ...sim.account.counters.responsesByStatus },
        sunshineSources: sim.account.sunshineSources.size,
        sunshineTypes: sim.account.sunshineTypes.size,
      },
    };
  }

  /** Changes options at run time (e.g. switch bulk import on). Accepts the createSimulator options. */
  function configure(changes = {}) {
    optionsGiven = { ...optionsGiven, ...changes };
    sim.config = normalizeOptions(optionsGiven);
    if ("faults" in changes) sim.account.faultRandom = sim.config.faults ? seededRandom(sim.config.faults.seed) : null;
  }

  return {
    handle,
    fetch: simulatedFetch,
    state: () => toPlain(snapshot()),
    stateJson: () => toJson(snapshot()),
    log: () => sim.account.log.map((entry) => ({ ...entry, query: { ...entry.query } })),
    seed: (data) => seed(sim, data),
    reset,
    configure,
    /** The next requests (after auth and rate limiting) fail with these fault kinds, in order. */
    failNext: (...kinds) => {
      for (const kind of kinds.flat()) {
        if (!FAULT_KINDS.includes(kind)) throw new TypeError(`failNext: unknown fault kind "${kind}"`);
        sim.account.forcedFaults.push(kind === "503" ? "503-retry-after" : kind); // "503" alone: the transient one
      }
    },
    /** The next `count` background jobs fail whole (status "failed", no results, nothing written). */
    failNextJobs: (count = 1) => {
      sim.account.jobFailures += Number(count);
    },
    /** Simulated time, ms since the epoch. */
    now: () => now(),
    get options() {
      return { ...sim.config };
    },
  };
}
