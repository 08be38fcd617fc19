// Types for the edge handler (./edge.js): Segment's HTTP Tracking API in front of the destination.

/** An event's outcome as the engine reports it (see the README's outcome table). */
export interface Outcome {
  status: "delivered" | "skipped" | "invalid" | "failed";
  code: string;
  message: string;
  warnings: string[];
  retryable: boolean;
}

/** One line of a response body's `events`, in the order the events came. */
export interface EventReport {
  messageId: string | null;
  type: string | null;
  status: Outcome["status"] | "queued";
  code: string;
  message: string;
  warnings: string[];
  /** true when the client should retry this event (the answer is then 503 or 429). */
  retryable: boolean;
  /** Present when the messageId was already delivered (or is being delivered): not sent again. */
  duplicate?: true;
}

/** Body of a 200 (wait mode). */
export interface DeliveredBody {
  success: true;
  events: EventReport[];
}

/** Body of a 200 in waitUntil mode: the events were accepted, their outcomes are not known yet. */
export interface AcceptedBody {
  success: true;
  accepted: number;
}

/** Body of every other answer. `error` is a stable code; `message` says what to do. */
export interface ErrorBody {
  success: false;
  error:
    | "unauthorized"
    | "empty_body"
    | "malformed_json"
    | "invalid_body"
    | "invalid_batch"
    | "request_too_large"
    | "event_too_large"
    | "batch_too_large"
    | "retry"
    | "rate_limited"
    | "timeout"
    | "overloaded"
    | "shutting_down"
    | "not_found"
    | "method_not_allowed"
    | "invalid_settings"
    | "internal_error";
  message: string;
  /** For the limit errors: which limit, e.g. "32 KB per event". */
  limit?: string;
  limitBytes?: number;
  /** event_too_large: the offending item's index in the batch and its messageId. */
  index?: number;
  messageId?: string | null;
  /** retry / rate_limited: every event's outcome (the delivered ones are not sent again). */
  events?: EventReport[];
}

export interface HandlerOptions {
  /** The destination's settings (object or JSON text), as for createDestination. */
  settings: unknown;
  /** Accepted write keys. */
  writeKeys: string | string[];
  /**
   * "wait" (default): answer once every event's outcome is known.
   * "waitUntil": answer 200 at once and deliver after (through the runtime's `waitUntil` when the
   * handler's extra arguments carry one). Failures after the answer are not retried by the client.
   */
  mode?: "wait" | "waitUntil";
  /** messageId de-duplication window; false turns it off. Defaults: 100,000 messageIds, 24 hours. */
  dedupe?: { maxEntries?: number; windowMs?: number } | DedupeWindow | false;
  /** Events in delivery at once, across all requests. Default 8. */
  concurrency?: number;
  /** Accepted, unfinished events beyond which new requests get 503 (nothing sent). Default 10,000. */
  maxPendingEvents?: number;
  /** Longest wait for outcomes before answering 503 (the deliveries go on). Default 8,000 ms. */
  responseTimeoutMs?: number;
  /** Events arriving within this many ms (from any requests) are planned as one batch. Default 25; 0: each alone. */
  batchWindowMs?: number;
  /** A gathered batch goes at once when it holds this many events. Default 500. */
  maxBatchEvents?: number;
  /** Retry-After of a 503 (and of a 429 without a hint from Zendesk). Default 5. */
  retryAfterSeconds?: number;
  /** Serve the API under this path, e.g. "/segment" → "/segment/v1/batch". Default "". */
  basePath?: string;
  /** Origins answered with CORS headers. Default "*" (any origin, echoed). */
  cors?: { origins?: "*" | string[] };
  /**
   * A redis:// URL (or a connected client of npm's `redis`): messageId de-duplication and the
   * destination's shared state live in Redis, shared by every instance using it (docs/scale-out.md).
   */
  redis?: string | object;
  /** Prefix of the Redis keys (default "zendesk-destination"). */
  redisPrefix?: string;
  /**
   * With `redis`: true (or a queue name) answers 200 once the events are durably queued, each line
   * `status: "queued"` (`code: "duplicate"` when its messageId was queued already); `zendesk-destination
   * work` delivers them.
   */
  queue?: boolean | string;
  /** Used when the handler is called without a context carrying waitUntil (mode "waitUntil"). */
  waitUntil?: (promise: Promise<unknown>) => void;
  /** Each event's outcome, in both modes. */
  onOutcome?: (report: { messageId: string | null; type: string | null; outcome: Outcome; duplicate: boolean }) => void;
  /** Once per answered request. */
  onRequest?: (request: Request, info: { method: string; path: string; status: number; events: number; durationMs: number }) => void;
  /** Milliseconds since the epoch; drives the de-duplication window (and the destination's clock). */
  now?: () => number;
  /** Everything else goes to createDestination: fetch, timeoutMs, retry, logger, wasm, engine, … */
  [destinationOption: string]: unknown;
}

export interface HandlerStats {
  requests: number;
  /** Events whose delivery started (duplicates not counted). */
  events: number;
  duplicates: number;
  /** Requests answered 400. */
  rejected: number;
  /** Requests answered 503 because too many events were pending. */
  shed: number;
  outcomes: Record<string, number>;
  pending: number;
  inflight: number;
  remembered: number;
}

export interface Handler {
  /**
   * Answers one request. Extra arguments are searched for a context with `waitUntil` (Cloudflare's
   * `(request, env, ctx)`, Vercel's `(request, context)`, a FetchEvent).
   */
  (request: Request, ...context: unknown[]): Promise<Response>;
  /** Resolves once the engine is loaded and the settings are checked; rejects with the SettingsError. */
  readonly ready: Promise<void>;
  readonly limits: Readonly<{ eventBytes: number; requestBytes: number; batchEvents: number }>;
  /** Resolves once every event accepted so far has its outcome. */
  drain(): Promise<void>;
  /**
   * New requests get 503; deliveries in progress get `timeoutMs` (default 10 s) to finish; the destination
   * closes. A later call with `timeoutMs: 0` cuts the first call's grace short.
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
  stats(): HandlerStats;
}

export function createHandler(options: HandlerOptions): Handler;

/** Segment's limits: 32 KB per event, 500 KB per request, 2,500 events per batch. */
export const LIMITS: Readonly<{ eventBytes: number; requestBytes: number; batchEvents: number }>;

export const DEFAULTS: Readonly<{
  concurrency: number;
  maxPendingEvents: number;
  dedupeMaxEntries: number;
  dedupeWindowMs: number;
  responseTimeoutMs: number;
  batchWindowMs: number;
  maxBatchEvents: number;
  retryAfterSeconds: number;
  /** The most Retry-After passed on to clients from Zendesk's 429 (60 s). */
  maxRetryAfterSeconds: number;
  closeTimeoutMs: number;
}>;

/**
 * The key a messageId is remembered by: a string of its own (not a slice keeping a request body alive);
 * ids over 256 characters become a prefix, their length and a hash.
 */
export function messageKey(messageId: string): string;

export interface DedupeEntry {
  status: string;
  code: string;
  at: number;
}

/** The messageId window: bounded in count and time. `store` is told of each change (to persist it). */
export class DedupeWindow {
  constructor(options?: { maxEntries?: number; windowMs?: number; now?: () => number; store?: { put(id: string, entry: DedupeEntry): unknown; delete(id: string): unknown } | null });
  get(messageId: string): DedupeEntry | null;
  remember(messageId: string, outcome: { status: string; code: string }): void;
  /** Puts back saved entries, oldest first, without telling the store. */
  restore(entries: Iterable<[string, DedupeEntry]>): void;
  prune(): void;
  readonly size: number;
}

/** The write key of an `Authorization: Basic base64("key:")` header; null when not Basic or unreadable. */
export function basicUser(authorization: string): string | null;

/** Compares two strings in time that depends only on their lengths (write keys). */
export function sameText(a: string, b: string): boolean;
