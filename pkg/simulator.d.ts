// Types for the in-memory Zendesk simulator (./simulator.js).

/** A Zendesk id: exact. Numbers when below 2^53; BigInt inside the core; decimal strings in state() beyond 2^53. */
export type Id = number | string;

/** What the host sends: the engine's request descriptor. */
export interface SimulatorRequest {
  method: string;
  /** Absolute URL; only the path and query matter (any host works). */
  url: string;
  /** Plain object, any header-name case. */
  headers?: Record<string, string | string[] | undefined> | null;
  /** JSON text or null. */
  body?: string | null;
}

/** What the simulator answers. */
export interface SimulatorResponse {
  /** HTTP status; 0 when `drop` is set. */
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** Response text ("" for 204 and dropped connections). */
  body: string;
  /** Fault directive: answer only after this many real milliseconds. */
  delayMs?: number;
  /** Fault directive: the connection is dropped, no answer at all. */
  drop?: true;
}

/**
 * Fault kinds. "503" picks, with the seeded generator, between "503-retry-after" (transient, has
 * Retry-After) and "503-outage" (no Retry-After). "slow" answers 504 after `slowMs` real ms.
 * "429-text" is a 429 with a plain-text body. Faulted requests never change the account.
 */
export type FaultKind = "500" | "503" | "503-retry-after" | "503-outage" | "slow" | "drop" | "429-text";

export interface BasicCredential {
  /** The agent's email; "agent@acme.com/token" is accepted too. */
  email: string;
  /** API token: matches `Basic base64("{email}/token:{token}")`. */
  token?: string;
  /** Password: matches `Basic base64("{email}:{password}")`. */
  password?: string;
}

export interface OAuthClient {
  clientId: string;
  clientSecret: string;
  /** The current refresh token; rotated by every successful refresh. */
  refreshToken: string;
  /** Optional current access token; accepted until the first refresh revokes it. */
  accessToken?: string;
  scope?: string;
}

export interface SimulatorOptions {
  /** Default "acme"; used for URLs in state() (responses use the request's own origin). */
  subdomain?: string;
  /**
   * Accepted credentials. Omitted: any well-formed Basic or Bearer header is accepted (tokens the
   * simulator itself revoked or expired still fail). Missing/malformed header, or a Basic credential
   * not listed: 401 {"error":"Couldn't authenticate you"}. A Bearer not listed (nor issued by
   * /oauth/tokens): 401 {"error":"invalid_token","error_description":…}.
   */
  auth?: { basic?: BasicCredential[]; bearer?: string[] };
  /** Clients for POST /oauth/tokens grant_type=refresh_token. */
  oauthClients?: OAuthClient[];
  /** Lifetime of issued access tokens, simulated seconds. Default 1800. */
  accessTokenTtlSeconds?: number;
  /** Seed for issued tokens and job ids. Default 1. */
  tokenSeed?: number;
  /** Default true. false: create_or_update_many answers 403 {"error":"Forbidden",…}. */
  bulkImport?: boolean;
  /**
   * The role of every accepted credential. Default "admin". "agent": creating custom fields and writing
   * organizations or memberships answer 403 {"error":"Forbidden",…} (Zendesk: admins only); users can
   * still be read and written.
   */
  role?: "admin" | "agent";
  /** Issue every id beyond 2^53 (users start at 9007199254740993). Default false (ids ~10^13). */
  largeIds?: boolean;
  /** Account-wide requests per minute (fixed one-minute windows of simulated time). Default: unlimited. */
  rateLimitPerMinute?: number;
  /** PUT /users/{id} and POST /users/create_or_update: 1/s per account, 5/min per user. Default false. */
  singleUserWriteLimit?: boolean;
  /**
   * Update Organization (PUT /organizations/{id}, and create_or_update matching one): 5 per minute per
   * organization, else 429 {"errors":[{"code":"TooManyRequests","title":"Too many requests to update"}]}
   * with Retry-After. Default false.
   */
  organizationUpdateLimit?: boolean;
  /**
   * Simulated time runs this many times faster than `clock`. Durations sent to the client
   * (Retry-After, ratelimit-reset) are in real seconds = simulated seconds / timeScale; with
   * timeScale 1 they are whole seconds, otherwise decimals (e.g. "0.5"): parse them with Number().
   */
  timeScale?: number;
  /** Milliseconds since the epoch; default Date.now. */
  clock?: () => number;
  /** Seeded transient failures, decided before a request is applied. */
  faults?: { rate?: number; seed?: number; kinds?: FaultKind[]; slowMs?: number };
  /**
   * New users appear in GET /users/search (both `?query=` and `?external_id=`) only after this many
   * simulated ms, as in Zendesk, whose search index lags behind writes. Exact reads
   * (GET /users?external_id=, GET /users/show_many) never lag. Default 120000 (2 minutes); 0 turns it off.
   */
  searchIndexLagMs?: number;
  /** Polls of GET /job_statuses/{id} answered "working" before the job completes. Default 0. */
  jobPollsBeforeDone?: number;
  /** Jobs also complete on their own after `jobDurationMs + jobItemMs × items` simulated ms. Default 2000. */
  jobDurationMs?: number;
  /** Simulated ms each item adds to a job's duration. Default 0. */
  jobItemMs?: number;
  /** Sunshine events' own requests-per-minute budget (counted apart from rateLimitPerMinute). Default none. */
  eventsRateLimitPerMinute?: number;
  /** Unfinished bulk jobs allowed before 429 TooManyJobs. Default 30. */
  maxUnfinishedJobs?: number;
}

export interface SimIdentity {
  id: Id;
  url: string;
  user_id: Id;
  type: "email" | "phone_number";
  value: string;
  verified: boolean;
  primary: boolean;
  created_at: string;
  updated_at: string;
}

export interface SimUser {
  id: Id;
  url: string;
  name: string;
  /** The primary email identity. */
  email: string | null;
  external_id: string | null;
  phone: string | null;
  time_zone: string;
  iana_time_zone: string | null;
  locale: string;
  organization_id: Id | null;
  role: "end-user" | "agent" | "admin";
  verified: boolean;
  active: boolean;
  tags: string[];
  details: string;
  notes: string;
  alias: string;
  user_fields: Record<string, unknown>;
  created_at: string;
  updated_at: string;
  [attribute: string]: unknown;
}

export interface SimStateUser extends SimUser {
  /** Created by a Sunshine event whose identifiers matched no one. */
  anonymous: boolean;
  identities: SimIdentity[];
}

export interface SimOrganization {
  id: Id;
  url: string;
  name: string;
  external_id: string | null;
  domain_names: string[];
  tags: string[];
  details: string | null;
  notes: string | null;
  group_id: Id | null;
  shared_tickets: boolean;
  shared_comments: boolean;
  organization_fields: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

export interface SimMembership {
  id: Id;
  url: string;
  user_id: Id;
  organization_id: Id;
  default: boolean;
  organization_name: string | null;
  view_tickets: boolean;
  created_at: string;
  updated_at: string;
}

export type FieldType = "text" | "textarea" | "checkbox" | "date" | "integer" | "decimal" | "regexp" | "dropdown" | "lookup" | "multiselect";

export interface SimField {
  id: Id;
  url: string;
  key: string;
  type: FieldType;
  title: string;
  raw_title: string;
  description: string;
  raw_description: string;
  position: number;
  active: boolean;
  system: boolean;
  regexp_for_validation: string | null;
  tag: string | null;
  custom_field_options?: { name: string; value: string }[];
  created_at: string;
  updated_at: string;
}

export interface SimProfile {
  id: string;
  user_id: Id;
  source: string;
  type: string;
  identifiers: { type: string; value: string }[];
  attributes: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

export interface SimEvent {
  id: string;
  /** The user the event landed on. */
  user_id: Id;
  profile_id: string;
  /** Which endpoint received it. */
  via: "user_profiles" | "users";
  source: string;
  type: string;
  description: string | null;
  properties: Record<string, unknown>;
  created_at: string;
  received_at: string;
}

export interface SimJobResult {
  id: Id | null;
  index: number;
  status: "Created" | "Updated" | "Failed";
  email: string | null;
  external_id: string | null;
  /** On failures: the first error code (e.g. "DuplicateValue", "BlankValue"). */
  error?: string;
  /** On failures: the error descriptions joined with "; ". */
  details?: string;
}

export interface SimJobStatus {
  id: string;
  url: string;
  job_type: string;
  total: number;
  progress: number | null;
  status: "queued" | "working" | "completed" | "failed";
  message: string | null;
  results: SimJobResult[] | null;
}

export interface SimCounters {
  requests: number;
  responsesByStatus: Record<string, number>;
  usersCreated: number;
  usersUpdated: number;
  usersDeleted: number;
  anonymousUsersCreated: number;
  organizationsCreated: number;
  organizationsUpdated: number;
  membershipsCreated: number;
  membershipsDeleted: number;
  fieldsCreated: number;
  eventsReceived: number;
  jobsCreated: number;
  jobsCompleted: number;
  accessTokensIssued: number;
  rateLimited: number;
  faultsInjected: number;
  /** Distinct Sunshine event sources / types seen (Zendesk caps them at 50 / 2,500). */
  sunshineSources: number;
  sunshineTypes: number;
}

/** The whole account, JSON-serialisable. Ids beyond 2^53 are decimal strings (stateJson() keeps them numbers). */
export interface SimulatorState {
  subdomain: string;
  /** Simulated time. */
  now: string;
  users: SimStateUser[];
  organizations: SimOrganization[];
  memberships: SimMembership[];
  userFields: SimField[];
  organizationFields: SimField[];
  profiles: SimProfile[];
  events: SimEvent[];
  jobStatuses: SimJobStatus[];
  counters: SimCounters;
}

export interface SimLogEntry {
  method: string;
  /** As requested, including any .json suffix. */
  path: string;
  query: Record<string, string>;
  /** 0 for a dropped connection. */
  status: number;
  /** "Basic …redacted", "Bearer …redacted", "…redacted" (other schemes) or null: never the credential. */
  authorization: string | null;
  /** The request body text ("…redacted" for /oauth/tokens). */
  body: string | null;
  /** The injected fault, when there was one. */
  fault?: Exclude<FaultKind, "503">;
}

type SeedId = number | bigint | string;

export interface SeedUser {
  id?: SeedId;
  name: string;
  /** Primary email. Seeding may give two users one email (real accounts can hold such). */
  email?: string;
  /** Secondary email identities. */
  emails?: string[];
  external_id?: string;
  phone?: string;
  organization_id?: SeedId;
  /** false: seeded as soft-deleted. */
  active?: boolean;
  time_zone?: string;
  role?: "end-user" | "agent" | "admin";
  verified?: boolean;
  tags?: string[];
  user_fields?: Record<string, unknown>;
  [attribute: string]: unknown;
}

export interface SeedOrganization {
  id?: SeedId;
  name: string;
  external_id?: string;
  domain_names?: string[];
  tags?: string[];
  organization_fields?: Record<string, unknown>;
  [attribute: string]: unknown;
}

export interface SeedField {
  id?: SeedId;
  key: string;
  type: FieldType;
  title: string;
  description?: string;
  tag?: string;
  regexp_for_validation?: string;
  custom_field_options?: { name?: string; value: string }[];
}

export interface SeedData {
  users?: SeedUser[];
  organizations?: SeedOrganization[];
  memberships?: { id?: SeedId; user_id: SeedId; organization_id: SeedId; default?: boolean }[];
  userFields?: SeedField[];
  organizationFields?: SeedField[];
}

export interface SeedResult {
  users: SimStateUser[];
  organizations: SimOrganization[];
  memberships: SimMembership[];
  userFields: SimField[];
  organizationFields: SimField[];
}

export interface Simulator {
  /** Answers one request synchronously. */
  handle(request: SimulatorRequest): SimulatorResponse;
  /** fetch-compatible, in-process: honours delayMs (with init.signal aborts) and rejects with TypeError on drop. */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** A JSON-serialisable snapshot of the account. */
  state(): SimulatorState;
  /** The same snapshot as JSON text, with every id an exact JSON number. */
  stateJson(): string;
  /** Every request handled since the last reset. */
  log(): SimLogEntry[];
  /**
   * Preloads records (fields, then organizations, then users, then memberships); ids are assigned
   * when missing. Bypasses the duplicate-email check; other validation applies. Throws an Error on
   * invalid data. Does not count in `counters`.
   */
  seed(data: SeedData): SeedResult;
  /** Back to an empty account: records, log, counters, rate windows, tokens, fault sequence. */
  reset(): void;
  /** Changes options at run time (e.g. `{bulkImport: false}`); a new `faults` restarts its sequence. */
  configure(changes: Partial<SimulatorOptions>): void;
  /** Forces the next requests (after auth and rate limiting) to fail with these kinds, in order. */
  failNext(...kinds: (FaultKind | FaultKind[])[]): void;
  /** The next `count` background jobs fail whole (status "failed", nothing written). Default 1. */
  failNextJobs(count?: number): void;
  /** Simulated time, ms since the epoch. */
  now(): number;
  /** The effective options. */
  readonly options: Required<Omit<SimulatorOptions, "auth" | "faults" | "rateLimitPerMinute">> & {
    auth: { basic: BasicCredential[]; bearer: string[] } | null;
    faults: { rate: number; seed: number; kinds: FaultKind[]; slowMs: number } | null;
    rateLimitPerMinute: number | null;
  };
}

export function createSimulator(options?: SimulatorOptions): Simulator;

/** JSON.parse that turns integers beyond 2^53 into BigInt. */
export function parseJsonExact(text: string): unknown;
/** JSON.stringify that writes BigInt as exact JSON numbers. */
export function toJson(value: unknown): string;

/** Zendesk's time zone names (the only ones `time_zone` accepts), mapped to their IANA zone. */
export const ZENDESK_TIME_ZONES: Readonly<Record<string, string>>;
export const FAULT_KINDS: readonly FaultKind[];
