// Types of the zendesk-destination package: Segment identify/track/group events to Zendesk.

import type {
  Settings,
  SegmentEvent as EngineEvent,
  RequestDescriptor,
  OutcomeCode as EngineOutcomeCode,
  OutcomeStatus,
  Outcome as EngineOutcome,
  ZendeskResponse,
} from "./wasm/zendesk_destination.js";

// Settings, requests and outcomes are the engine's own types (generated from src/wasm.rs).
export type { Settings, RequestDescriptor, OutcomeStatus };

/** A Segment event: an object, or its JSON text (keeps integers beyond 2^53 exact). */
export type SegmentEvent = EngineEvent | Record<string, unknown> | string;

/**
 * The engine's codes (README, "Outcomes"), plus the host's (status "failed"): `cancelled` (retryable)
 * when the destination was closed before the event finished, `interrupted` (retryable) when the runtime
 * cut the delivery short, `redirected` (retryable) when Zendesk's address answered a redirect (never
 * followed), `response_too_large` (retryable) when an answer was larger than `maxResponseBytes`, and
 * `internal_error` when the engine itself failed (not retryable; an event that was in progress on an
 * engine instance another event broke: retryable).
 */
export type OutcomeCode = EngineOutcomeCode | "cancelled" | "interrupted" | "redirected" | "response_too_large" | "internal_error";

/** How one event ended. `mapping` says where each input field went (`to` null when it was dropped). */
export type Outcome = Omit<EngineOutcome, "code"> & { code: OutcomeCode };

/** An answer: `{status, headers, body}`, or `{status: 0, error}` when none came. */
export type ResponseDescriptor = ZendeskResponse;

export interface RetryOptions {
  /** Attempts per request for 5xx, 409, timeouts and connection errors (default 5). 429s don't count. */
  maxAttempts?: number;
  /** First backoff (default 500 ms), doubled each attempt, with jitter: a wait is between half and all of it. */
  baseDelayMs?: number;
  /** Cap of one backoff (default 30 000 ms). */
  maxDelayMs?: number;
  /** No retry starts once a request has been at it for this long (default 120 000 ms). */
  maxTotalMs?: number;
  /** Cap of one Retry-After wait (default 60 000 ms). */
  maxRetryAfterMs?: number;
  /**
   * A timeout, dropped connection or 5xx (a gateway's 502/504 may come after the write) on a Sunshine
   * event POST may have landed. "retry" (default): retry it (at least once; a rare duplicate event
   * possible). "report": don't; the outcome carries a warning that the event may have landed (at most
   * once). 429 and 409 are retried either way: they say nothing was written.
   */
  uncertainWrites?: "retry" | "report";
}

/** A structured log entry. Never holds a credential: no headers, no settings, no tokens. */
export interface LogEntry {
  time: number;
  type: "request" | "response" | "retry" | "not_retried" | "body_lost" | "oauth_refresh" | "engine_error" | "engine_replaced" | "callback_error";
  method?: string;
  url?: string;
  status?: number;
  error?: string;
  attempt?: number;
  delayMs?: number;
  durationMs?: number;
  [key: string]: unknown;
}

export interface Tokens {
  accessToken: string;
  /** null with oauthClient (the client_credentials grant has no refresh token). */
  refreshToken: string | null;
  expiresIn: number | null;
}

export interface DestinationOptions {
  /** The fetch to use (default globalThis.fetch). */
  fetch?: typeof fetch;
  /** Timeout of one request, body included (default 30 000 ms), through an AbortSignal. */
  timeoutMs?: number;
  retry?: RetryOptions;
  pacing?: {
    /** Spacing of single-user writes once the account signalled Zendesk's 1-per-second limit (default 1100 ms). */
    singleUserWriteIntervalMs?: number;
    /** Multiplies the engine's own waits (job polls); a simulator running N× faster than real time wants 1/N. Default 1. */
    engineDelayScale?: number;
  };
  /** Default concurrency of deliverAll (default 8). */
  concurrency?: number;
  logger?: (entry: LogEntry) => void;
  /**
   * With these, a 401 invalid_token triggers one refresh (POST /oauth/tokens, grant refresh_token) and the
   * request is redone; the token's lifetime is asked for (`expiresIn` seconds, default 1800) and, once
   * known, the token is refreshed a minute before it ends.
   */
  oauthRefresh?: { refreshToken: string; clientId: string; clientSecret: string; expiresIn?: number };
  /**
   * The client_credentials grant: the host gets its own tokens with the client's id and secret (no
   * refresh token to store or rotate, so many servers can share one client). The settings need no
   * `oauthToken` then. New tokens on a 401 invalid_token and before expiry. Not together with oauthRefresh.
   */
  oauthClient?: { clientId: string; clientSecret: string; scope?: string; expiresIn?: number };
  /**
   * Receives each new token: after a refresh the new pair (the old refresh token no longer works: store
   * it); with oauthClient `refreshToken` is null. `expiresIn` is null when Zendesk did not say.
   */
  onTokens?: (tokens: Tokens) => void | Promise<void>;
  /** The clock (default Date.now): the engine's `now` and every wait. */
  now?: () => number;
  /** Waits (default setTimeout); must reject or resolve when the signal aborts. For tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Jitter source (default Math.random). */
  random?: () => number;
  /** The engine's bindings, when already loaded (default: load ./engine.js). */
  engine?: unknown;
  /** Where the .wasm is, for runtimes that bundle it (passed to loadEngine): a WebAssembly.Module, bytes, a URL or a Response. */
  wasm?: WebAssembly.Module | ArrayBuffer | ArrayBufferView | URL | string | Response | Promise<Response>;
  /**
   * The most the host reads of one answer, decompressed (default 8 MiB: Zendesk's largest page is a few
   * hundred KB). Beyond it the event ends `failed/response_too_large`.
   */
  maxResponseBytes?: number;
  /**
   * A redis:// URL (or a connected client of npm's `redis`): the rate budget, the OAuth pair, what the
   * engine learns and the write ledger are shared with every destination of the account using this
   * Redis (docs/scale-out.md). Node only.
   */
  redis?: string | object;
  /** Prefix of the Redis keys (default "zendesk-destination"). */
  redisPrefix?: string;
}

/** The default of `maxResponseBytes`: 8 MiB. */
export declare const DEFAULT_MAX_RESPONSE_BYTES: number;

/** Seed data of a simulated account (see the simulator's `seed`). */
export interface AccountSeed {
  users?: Record<string, unknown>[];
  organizations?: Record<string, unknown>[];
  memberships?: Record<string, unknown>[];
  userFields?: Record<string, unknown>[];
  organizationFields?: Record<string, unknown>[];
}

export interface Plan {
  outcome: Outcome;
  /** Every request of the conversation with its simulated answer; Authorization redacted. */
  requests: { request: RequestDescriptor; response: ResponseDescriptor }[];
}

export interface BatchPlan {
  /** One per event, in input order. */
  outcomes: Outcome[];
  /** Every request of the batch, in the order sent, with its simulated answer; Authorization redacted. */
  requests: { request: RequestDescriptor; response: ResponseDescriptor }[];
  /** The background jobs and the events (input positions) each one carries. */
  jobs: { path: string; events: number[] }[];
}

export interface Stats {
  events: number;
  outcomes: Partial<Record<OutcomeStatus | string, number>>;
  requests: number;
  retries: number;
  rateLimited: number;
  timeouts: number;
  networkErrors: number;
  uncertain: number;
  refreshes: number;
  pacedMs: number;
  pending: number;
}

export declare class ZendeskDestination {
  private constructor();
  /** Delivers one event. Never rejects: every failure is an outcome. */
  deliver(event: SegmentEvent): Promise<Outcome>;
  /**
   * Delivers events; outcomes in input order. By default in batches of `batchSize` (1000) that the engine
   * plans together (bulk jobs, batched lookups), two batches at a time; `batch: false` for one
   * conversation per event. Events for the same user or organization (userId, traits/context.traits/
   * properties email, groupId, traits.company.id) keep their input order; up to `concurrency` requests
   * (or events, without batches) are in flight. `onOutcome` hears each event as its batch (or its own
   * conversation) finishes; `onEnded` hears an event of a batch that ends before its batch does (a track
   * whose POST answered while the batch's jobs still run), with the very outcome the returned list will
   * hold for it (the edge records finished messageIds with it: docs/edge.md).
   */
  deliverAll(
    events: Iterable<SegmentEvent>,
    options?: {
      concurrency?: number;
      batch?: boolean;
      batchSize?: number;
      onOutcome?: (outcome: Outcome, index: number) => void;
      onEnded?: (index: number, outcome: Outcome) => void;
    },
  ): Promise<Outcome[]>;
  /**
   * The dry run of a batch: the events planned together as deliverAll sends them, against an in-memory
   * simulated account (as for `plan`). Nothing is sent.
   */
  planBatch(events: Iterable<SegmentEvent>, options?: { account?: AccountSeed | { handle(request: RequestDescriptor): ResponseDescriptor } }): Promise<BatchPlan>;
  /**
   * The dry run against an in-memory simulated account: empty, seeded (`account` = seed data), or a
   * simulator from createSimulator() to carry state across plans. Nothing is sent.
   */
  plan(event: SegmentEvent, options?: { account?: AccountSeed | { handle(request: RequestDescriptor): ResponseDescriptor } }): Promise<Plan>;
  stats(): Stats;
  /**
   * Graceful shutdown: events not started end `cancelled` at once; those in progress get `timeoutMs`
   * (default 10 000) to finish, then end `cancelled`. Resolves when every event has its outcome.
   * Calling it again with `timeoutMs: 0` cuts the grace period short.
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
  /** Same as close(). */
  stop(options?: { timeoutMs?: number }): Promise<void>;
}

/** Rejected by createDestination for bad settings. */
export declare class SettingsError extends Error {
  code: "invalid_settings";
  errors: { key: string; code: string; message: string }[];
}

/** Loads the engine, checks the settings and builds a destination; rejects with SettingsError. */
export declare function createDestination(settings: Settings | string, options?: DestinationOptions): Promise<ZendeskDestination>;

/** Every problem with the settings: [] when they are valid. */
export declare function validateSettings(settings: Settings | string, options?: Pick<DestinationOptions, "engine" | "wasm">): Promise<{ key: string; code: string; message: string }[]>;

/** The code of the outcome of an event cut short by close(): "cancelled". */
export declare const CANCELLED: "cancelled";

/** The code of the outcome of an event the runtime cut short (not close()): "interrupted". */
export declare const INTERRUPTED: "interrupted";

/** Headers with the Authorization credential replaced by "[redacted]" (scheme kept). */
export declare function redactHeaders(headers: Record<string, string>): Record<string, string>;
export declare function redactRequest(request: RequestDescriptor): RequestDescriptor;

/** The ordering keys of an event: `user:…`, `email:…`, `org:…`, `anonymous:…`. */
export declare function eventKeys(event: SegmentEvent): string[];
