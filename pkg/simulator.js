// In-memory Zendesk simulator: one Zendesk account (users, identities, organizations, memberships,
// custom fields, Sunshine events, bulk jobs) behind the HTTP surface the destination uses.
//
// It is a pure, synchronous state machine: `handle(request) -> response`. No Node modules, no timers
// in the core (only `sim.fetch` sleeps, for `delayMs`), so the same file runs in Node and in the
// browser preview. Time comes from an injectable clock so rate limits are testable.
//
// The behaviour follows /work/shared/reference/zendesk-api.md; where the reference says "unconfirmed",
// the choice made here is written next to the code that makes it.

// ---------------------------------------------------------------------------------------------------
// JSON with exact 64-bit ids
// ---------------------------------------------------------------------------------------------------

// Zendesk ids are 64-bit. JSON.parse would round integers beyond 2^53, so integer literals that are
// not safe JS numbers are quoted (outside strings) and revived as BigInt.
const BIGINT_MARKER = "\u0000bigint:";

/** Parses JSON text; integers beyond Number.MAX_SAFE_INTEGER become BigInt. */
export function parseJsonExact(text) {
  if (!/\d{16,}/.test(text)) return JSON.parse(text);
  let rewritten = "";
  let copiedUpTo = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      continue;
    }
    if (c === "-" || (c >= "0" && c <= "9")) {
      let end = c === "-" ? i + 1 : i;
      while (end < text.length && text[end] >= "0" && text[end] <= "9") end++;
      const literal = text.slice(i, end);
      const next = text[end];
      const isInteger = next !== "." && next !== "e" && next !== "E";
      const digits = literal.replace("-", "");
      const hasLeadingZero = digits.length > 1 && digits[0] === "0"; // invalid JSON: leave it to fail
      if (isInteger && !hasLeadingZero && digits.length >= 16 && !Number.isSafeInteger(Number(literal))) {
        rewritten += text.slice(copiedUpTo, i) + '"\\u0000bigint:' + literal + '"';
        copiedUpTo = end;
      }
      i = end - 1;
    }
  }
  rewritten += text.slice(copiedUpTo);
  return JSON.parse(rewritten, (_key, value) =>
    typeof value === "string" && value.startsWith(BIGINT_MARKER) ? BigInt(value.slice(BIGINT_MARKER.length)) : value,
  );
}

/** JSON text of a value; BigInt is written as an exact JSON number. */
export function toJson(value) {
  if (value === null || value === undefined) return "null";
  switch (typeof value) {
    case "bigint":
      return value.toString();
    case "number":
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) return "[" + value.map((item) => toJson(item)).join(",") + "]";
      const members = [];
      for (const [key, member] of Object.entries(value)) {
        if (member === undefined || typeof member === "function") continue;
        members.push(JSON.stringify(key) + ":" + toJson(member));
      }
      return "{" + members.join(",") + "}";
    }
    default:
      return "null";
  }
}

// state() and seed() results are plain JS values: ids are numbers when safe, decimal strings beyond 2^53.
function toPlain(value) {
  if (typeof value === "bigint") return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (Array.isArray(value)) return value.map(toPlain);
  if (value && typeof value === "object") {
    const plain = {};
    for (const [key, member] of Object.entries(value)) if (member !== undefined) plain[key] = toPlain(member);
    return plain;
  }
  return value;
}

// ---------------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------------

/** Zendesk-style timestamp: ISO 8601 without milliseconds. */
function isoSeconds(ms) {
  return new Date(Math.floor(ms)).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** mulberry32: a tiny seeded generator, so faults and tokens are reproducible. */
function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomHex(random, length) {
  let hex = "";
  while (hex.length < length) hex += Math.floor(random() * 0x100000000).toString(16).padStart(8, "0");
  return hex.slice(0, length);
}

/** An id from a body or path value: BigInt, safe integer, or decimal string; otherwise null. */
function toId(value) {
  if (typeof value === "bigint") return value > 0n ? value : null;
  if (typeof value === "number" && Number.isSafeInteger(value) && value > 0) return BigInt(value);
  if (typeof value === "string" && /^[1-9]\d*$/.test(value)) return BigInt(value);
  return null;
}

/** Orders records by id (BigInt ids compare exactly). */
const byId = (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const isPlainObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
const lower = (text) => String(text).trim().toLowerCase();

function isCalendarDate(text) {
  if (typeof text !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const date = new Date(text + "T00:00:00Z");
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === text;
}

/** An error answer raised by a handler before it changed anything. */
class ApiError extends Error {
  constructor(status, body, headers = {}) {
    super(`HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

const notFound = () => new ApiError(404, { error: "RecordNotFound", description: "Not found" });
const invalidEndpoint = () => new ApiError(404, { error: "InvalidEndpoint", description: "Not found" });
const recordInvalid = (details) =>
  new ApiError(422, { error: "RecordInvalid", description: "Record validation errors", details });
const sunshineError = (status, code, title) => new ApiError(status, { errors: [{ code, title }] });

/** Collects 422 details in Zendesk's shape: {field: [{description, error}]}. */
class ValidationDetails {
  constructor() {
    this.details = {};
  }
  add(field, error, description) {
    (this.details[field] ??= []).push({ description, error });
  }
  get empty() {
    return Object.keys(this.details).length === 0;
  }
  throwIfAny() {
    if (!this.empty) throw recordInvalid(this.details);
  }
}

// ---------------------------------------------------------------------------------------------------
// Zendesk's time zone names (Rails ActiveSupport names) with their IANA zone, for `iana_time_zone`.
// ---------------------------------------------------------------------------------------------------

export const ZENDESK_TIME_ZONES = Object.freeze({
  "International Date Line West": "Etc/GMT+12", "Midway Island": "Pacific/Midway",
  "American Samoa": "Pacific/Pago_Pago", Hawaii: "Pacific/Honolulu", Alaska: "America/Juneau",
  "Pacific Time (US & Canada)": "America/Los_Angeles", Tijuana: "America/Tijuana",
  "Mountain Time (US & Canada)": "America/Denver", Arizona: "America/Phoenix", Chihuahua: "America/Chihuahua",
  Mazatlan: "America/Mazatlan", "Central Time (US & Canada)": "America/Chicago", Saskatchewan: "America/Regina",
  Guadalajara: "America/Mexico_City", "Mexico City": "America/Mexico_City", Monterrey: "America/Monterrey",
  "Central America": "America/Guatemala", "Eastern Time (US & Canada)": "America/New_York",
  "Indiana (East)": "America/Indiana/Indianapolis", Bogota: "America/Bogota", Lima: "America/Lima",
  Quito: "America/Lima", "Atlantic Time (Canada)": "America/Halifax", Caracas: "America/Caracas",
  "La Paz": "America/La_Paz", Santiago: "America/Santiago", Newfoundland: "America/St_Johns",
  Brasilia: "America/Sao_Paulo", "Buenos Aires": "America/Argentina/Buenos_Aires", Montevideo: "America/Montevideo",
  Georgetown: "America/Guyana", "Puerto Rico": "America/Puerto_Rico", Greenland: "America/Godthab",
  "Mid-Atlantic": "Atlantic/South_Georgia", Azores: "Atlantic/Azores", "Cape Verde Is.": "Atlantic/Cape_Verde",
  Dublin: "Europe/Dublin", Edinburgh: "Europe/London", Lisbon: "Europe/Lisbon", London: "Europe/London",
  Casablanca: "Africa/Casablanca", Monrovia: "Africa/Monrovia", UTC: "Etc/UTC", Belgrade: "Europe/Belgrade",
  Bratislava: "Europe/Bratislava", Budapest: "Europe/Budapest", Ljubljana: "Europe/Ljubljana",
  Prague: "Europe/Prague", Sarajevo: "Europe/Sarajevo", Skopje: "Europe/Skopje", Warsaw: "Europe/Warsaw",
  Zagreb: "Europe/Zagreb", Brussels: "Europe/Brussels", Copenhagen: "Europe/Copenhagen", Madrid: "Europe/Madrid",
  Paris: "Europe/Paris", Amsterdam: "Europe/Amsterdam", Berlin: "Europe/Berlin", Bern: "Europe/Zurich",
  Zurich: "Europe/Zurich", Rome: "Europe/Rome", Stockholm: "Europe/Stockholm", Vienna: "Europe/Vienna",
  "West Central Africa": "Africa/Algiers", Bucharest: "Europe/Bucharest", Cairo: "Africa/Cairo",
  Helsinki: "Europe/Helsinki", Kyiv: "Europe/Kiev", Kyev: "Europe/Kiev", Riga: "Europe/Riga",
  Sofia: "Europe/Sofia", Tallinn: "Europe/Tallinn", Vilnius: "Europe/Vilnius", Athens: "Europe/Athens",
  Istanbul: "Europe/Istanbul", Minsk: "Europe/Minsk", Jerusalem: "Asia/Jerusalem", Harare: "Africa/Harare",
  Pretoria: "Africa/Johannesburg", Kaliningrad: "Europe/Kaliningrad", Moscow: "Europe/Moscow",
  "St. Petersburg": "Europe/Moscow", Volgograd: "Europe/Volgograd", Samara: "Europe/Samara", Kuwait: "Asia/Kuwait",
  Riyadh: "Asia/Riyadh", Nairobi: "Africa/Nairobi", Baghdad: "Asia/Baghdad", Tehran: "Asia/Tehran",
  "Abu Dhabi": "Asia/Muscat", Muscat: "Asia/Muscat", Baku: "Asia/Baku", Tbilisi: "Asia/Tbilisi",
  Yerevan: "Asia/Yerevan", Kabul: "Asia/Kabul", Ekaterinburg: "Asia/Yekaterinburg", Islamabad: "Asia/Karachi",
  Karachi: "Asia/Karachi", Tashkent: "Asia/Tashkent", Chennai: "Asia/Kolkata", Kolkata: "Asia/Kolkata",
  Mumbai: "Asia/Kolkata", "New Delhi": "Asia/Kolkata", Kathmandu: "Asia/Kathmandu", Astana: "Asia/Dhaka",
  Dhaka: "Asia/Dhaka", "Sri Jayawardenepura": "Asia/Colombo", Almaty: "Asia/Almaty",
  Novosibirsk: "Asia/Novosibirsk", Rangoon: "Asia/Rangoon", Bangkok: "Asia/Bangkok", Hanoi: "Asia/Bangkok",
  Jakarta: "Asia/Jakarta", Krasnoyarsk: "Asia/Krasnoyarsk", Beijing: "Asia/Shanghai", Chongqing: "Asia/Chongqing",
  "Hong Kong": "Asia/Hong_Kong", Urumqi: "Asia/Urumqi", "Kuala Lumpur": "Asia/Kuala_Lumpur",
  Singapore: "Asia/Singapore", Taipei: "Asia/Taipei", Perth: "Australia/Perth", Irkutsk: "Asia/Irkutsk",
  Ulaanbaatar: "Asia/Ulaanbaatar", Seoul: "Asia/Seoul", Osaka: "Asia/Tokyo", Sapporo: "Asia/Tokyo",
  Tokyo: "Asia/Tokyo", Yakutsk: "Asia/Yakutsk", Darwin: "Australia/Darwin", Adelaide: "Australia/Adelaide",
  Canberra: "Australia/Melbourne", Melbourne: "Australia/Melbourne", Sydney: "Australia/Sydney",
  Brisbane: "Australia/Brisbane", Hobart: "Australia/Hobart", Vladivostok: "Asia/Vladivostok",
  Guam: "Pacific/Guam", "Port Moresby": "Pacific/Port_Moresby", Magadan: "Asia/Magadan",
  Srednekolymsk: "Asia/Srednekolymsk", "Solomon Is.": "Pacific/Guadalcanal", "New Caledonia": "Pacific/Noumea",
  Fiji: "Pacific/Fiji", Kamchatka: "Asia/Kamchatka", "Marshall Is.": "Pacific/Majuro", Auckland: "Pacific/Auckland",
  Wellington: "Pacific/Auckland", "Nuku'alofa": "Pacific/Tongatapu", "Tokelau Is.": "Pacific/Fakaofo",
  "Chatham Is.": "Pacific/Chatham", Samoa: "Pacific/Apia",
});

// ---------------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------------

export const FAULT_KINDS = Object.freeze(["500", "503", "503-retry-after", "503-outage", "slow", "drop", "429-text"]);
const FIELD_TYPES = new Set(["text", "textarea", "checkbox", "date", "integer", "decimal", "regexp", "dropdown", "lookup", "multiselect"]);
const USER_ROLES = new Set(["end-user", "agent", "admin"]);
const MAX_BULK_USERS = 100;
const MAX_SHOW_MANY = 100;
const SUNSHINE_MAX_IDENTIFIER_LENGTH = 60;
const SUNSHINE_MAX_SOURCES = 50;
const SUNSHINE_MAX_TYPES = 2500;

function normalizeOptions(options) {
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
    rateLimitPerMinute: options.rateLimitPerMinute ? Number(options.rateLimitPerMinute) : null,
    singleUserWriteLimit: Boolean(options.singleUserWriteLimit),
    timeScale,
    clock: options.clock ?? (() => Date.now()),
    faults,
    searchIndexLagMs: Number(options.searchIndexLagMs ?? 0),
    jobPollsBeforeDone: Number(options.jobPollsBeforeDone ?? 0),
    jobDurationMs: Number(options.jobDurationMs ?? 2000),
    maxUnfinishedJobs: Number(options.maxUnfinishedJobs ?? 30),
  };
}

// Id sequences: each kind has its own range, like Zendesk's tables. Normal ids are ~10^13 (today's
// scale); with `largeIds` every id is beyond 2^53 so a client that rounds them is caught.
const NORMAL_ID_BASE = 10_000_000_000_001n;
const LARGE_ID_BASE = 9_007_199_254_740_993n; // 2^53 + 1: not representable as a JS number
const ID_RANGE_OFFSETS = {
  user: 0n,
  organization: 1_000_000_000n,
  membership: 2_000_000_000n,
  identity: 3_000_000_000n,
  userField: 4_000_000_000n,
  organizationField: 5_000_000_000n,
};

// Attribute policy for writes: keys outside these sets (read-only ones like id, url, active, created_at,
// and unknown ones) are dropped and named in X-Zendesk-API-Warn.
const USER_WRITABLE_KEYS = new Set(["name", "email", "external_id", "phone", "time_zone", "locale", "organization_id", "role", "verified", "tags", "user_fields", "details", "notes", "alias"]);
const ORGANIZATION_WRITABLE_KEYS = new Set(["name", "external_id", "domain_names", "tags", "details", "notes", "group_id", "shared_tickets", "shared_comments", "organization_fields"]);

// ---------------------------------------------------------------------------------------------------
// The simulator
// ---------------------------------------------------------------------------------------------------

/**
 * Creates a simulated Zendesk account. See simulator.d.ts for the options and the returned API.
 */
export function createSimulator(options = {}) {
  let optionsGiven = { ...options };
  let config = normalizeOptions(optionsGiven);
  let account; // everything reset() clears
  let realStartMs;
  let simulatedStartMs;

  // Simulated time runs `timeScale` times faster than the clock.
  const now = () => simulatedStartMs + (config.clock() - realStartMs) * config.timeScale;

  // Durations the client should wait are given in real seconds (simulated seconds / timeScale), so a
  // host that sleeps `Retry-After` seconds wakes up exactly when the simulated window reopens.
  // With timeScale 1 they are whole seconds (rounded up); otherwise decimals with millisecond precision.
  function realSecondsText(simulatedMs) {
    const seconds = Math.max(0, simulatedMs) / 1000 / config.timeScale;
    if (config.timeScale === 1) return String(Math.max(1, Math.ceil(seconds)));
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
      oauthClients: config.oauthClients.map((client) => ({ ...client })),
      issuedTokens: new Map(), // access token -> expiry (simulated ms)
      revokedTokens: new Set(),
      tokenRandom: seededRandom(config.tokenSeed),
      faultRandom: config.faults ? seededRandom(config.faults.seed) : null,
      forcedFaults: [],
    };
  }

  function reset() {
    realStartMs = config.clock();
    simulatedStartMs = realStartMs;
    account = freshAccount();
  }
  reset();

  // ----- ids -------------------------------------------------------------------------------------

  const tableFor = (kind) =>
    ({ user: account.users, organization: account.organizations, membership: account.memberships })[kind];

  function allocateId(kind) {
    const base = (config.largeIds ? LARGE_ID_BASE : NORMAL_ID_BASE) + ID_RANGE_OFFSETS[kind];
    for (;;) {
      const id = base + account.sequences[kind];
      account.sequences[kind] += 1n;
      if (!idTaken(kind, id)) return id;
    }
  }

  function idTaken(kind, id) {
    const table = tableFor(kind);
    if (table) return table.has(String(id));
    if (kind === "identity") return account.index.identityIds.has(String(id));
    const fields = kind === "userField" ? account.userFields : account.organizationFields;
    return fields.some((field) => field.id === id);
  }

  const nextSunshineId = () => "01HZSIM" + String(++account.sunshineSequence).padStart(19, "0");

  // ----- lookups (deleted users never match) ------------------------------------------------------

  function indexAdd(map, key, record) {
    let set = map.get(key);
    if (!set) map.set(key, (set = new Set()));
    set.add(record);
  }
  function indexDelete(map, key, record) {
    const set = map.get(key);
    if (!set) return;
    set.delete(record);
    if (set.size === 0) map.delete(key);
  }
  const phoneDigits = (phone) => String(phone).replace(/\D/g, "");
  const activeSorted = (set) => (set ? [...set].filter((user) => user.active).sort(byId) : []);

  function setExternalId(user, externalId) {
    if (user.external_id !== null) indexDelete(account.index.usersByExternalId, lower(user.external_id), user);
    user.external_id = externalId;
    if (externalId !== null) indexAdd(account.index.usersByExternalId, lower(externalId), user);
  }

  const activeUsers = () => [...account.users.values()].filter((user) => user.active);
  const getUser = (id) => (id === null ? undefined : account.users.get(String(id)));
  const getOrganization = (id) => (id === null ? undefined : account.organizations.get(String(id)));

  const primaryEmail = (user) => user.identities.find((i) => i.type === "email" && i.primary)?.value ?? null;
  const userEmails = (user) => user.identities.filter((i) => i.type === "email").map((i) => i.value);
  const userPhones = (user) => user.identities.filter((i) => i.type === "phone_number").map((i) => i.value);

  // Seeded data may hold two users with one email; the oldest (lowest id) is matched then.
  const findUsersByEmail = (email) => activeSorted(account.index.usersByEmail.get(lower(email)));
  const findUserByEmail = (email) => findUsersByEmail(email)[0];
  const findUsersByExternalId = (externalId) => activeSorted(account.index.usersByExternalId.get(lower(externalId)));
  const findUserByExternalId = (externalId) => findUsersByExternalId(externalId)[0];
  const findUserByPhone = (phone) => (phoneDigits(phone) ? activeSorted(account.index.usersByPhone.get(phoneDigits(phone)))[0] : undefined);

  function findOrganizationByExternalId(externalId) {
    const wanted = lower(externalId);
    return [...account.organizations.values()].find((org) => org.external_id !== null && lower(org.external_id) === wanted);
  }

  function findOrganizationByName(name) {
    const wanted = lower(name);
    return [...account.organizations.values()].find((org) => lower(org.name) === wanted);
  }

  const membershipsOf = (user) => [...(account.index.membershipsByUser.get(String(user.id)) ?? [])];
  const defaultMembership = (user) => membershipsOf(user).find((m) => m.default);

  // ----- rendering (API shapes; ids stay BigInt until toJson) -------------------------------------

  const canonicalOrigin = () => `https://${config.subdomain}.zendesk.com`;

  function renderFields(fields, values) {
    const rendered = {};
    for (const field of fields) rendered[field.key] = values[field.key] ?? null;
    return rendered;
  }

  function renderUser(user, origin) {
    return {
      id: user.id,
      url: `${origin}/api/v2/users/${user.id}.json`,
      name: user.name,
      email: primaryEmail(user),
      created_at: isoSeconds(user.createdMs),
      updated_at: isoSeconds(user.updatedMs),
      time_zone: user.time_zone,
      iana_time_zone: ZENDESK_TIME_ZONES[user.time_zone] ?? null,
      phone: user.phone,
      shared_phone_number: null,
      photo: null,
      locale: user.locale,
      organization_id: defaultMembership(user)?.organization_id ?? null,
      role: user.role,
      verified: user.verified,
      external_id: user.external_id,
      tags: [...user.tags],
      alias: user.alias,
      active: user.active,
      shared: false,
      shared_agent: false,
      last_login_at: null,
      two_factor_auth_enabled: false,
      signature: null,
      details: user.details,
      notes: user.notes,
      role_type: null,
      custom_role_id: null,
      moderator: false,
      ticket_restriction: "requested",
      only_private_comments: false,
      restricted_agent: true,
      suspended: false,
      default_group_id: null,
      report_csv: false,
      user_fields: renderFields(account.userFields, user.user_fields),
    };
  }

  function renderIdentity(identity, origin) {
    return {
      id: identity.id,
      url: `${origin}/api/v2/users/${identity.user_id}/identities/${identity.id}.json`,
      user_id: identity.user_id,
      type: identity.type,
      value: identity.value,
      verified: identity.verified,
      primary: identity.primary,
      created_at: isoSeconds(identity.createdMs),
      updated_at: isoSeconds(identity.createdMs),
    };
  }

  function renderOrganization(org, origin) {
    return {
      id: org.id,
      url: `${origin}/api/v2/organizations/${org.id}.json`,
      name: org.name,
      external_id: org.external_id,
      domain_names: [...org.domain_names],
      details: org.details,
      notes: org.notes,
      group_id: org.group_id,
      shared_tickets: org.shared_tickets,
      shared_comments: org.shared_comments,
      tags: [...org.tags],
      organization_fields: renderFields(account.organizationFields, org.organization_fields),
      created_at: isoSeconds(org.createdMs),
      updated_at: isoSeconds(org.updatedMs),
    };
  }

  function renderMembership(membership, origin) {
    return {
      id: membership.id,
      url: `${origin}/api/v2/organization_memberships/${membership.id}.json`,
      user_id: membership.user_id,
      organization_id: membership.organization_id,
      default: membership.default,
      organization_name: getOrganization(membership.organization_id)?.name ?? null,
      view_tickets: true,
      created_at: isoSeconds(membership.createdMs),
      updated_at: isoSeconds(membership.updatedMs),
    };
  }

  function renderField(field, origin, collection) {
    return {
      id: field.id,
      url: `${origin}/api/v2/${collection}/${field.id}.json`,
      key: field.key,
      type: field.type,
      title: field.title,
      raw_title: field.title,
      description: field.description,
      raw_description: field.description,
      position: field.position,
      active: true,
      system: false,
      regexp_for_validation: field.regexp_for_validation,
      tag: field.tag,
      custom_field_options: field.custom_field_options,
      created_at: isoSeconds(field.createdMs),
      updated_at: isoSeconds(field.createdMs),
    };
  }

  function renderJob(job, origin) {
    return {
      id: job.id,
      url: `${origin}/api/v2/job_statuses/${job.id}.json`,
      job_type: "Bulk Create or Update Users",
      total: job.total,
      progress: job.status === "completed" ? job.total : job.status === "working" ? 0 : null,
      status: job.status,
      message: job.status === "completed" ? `Completed at ${isoSeconds(job.completedMs)}` : null,
      results: job.results,
    };
  }

  // ----- custom field values ------------------------------------------------------------------------

  // Returns null when the value fits the field, else what was expected.
  function fieldValueProblem(field, value) {
    if (value === null) return null; // null clears a value
    const optionValues = (field.custom_field_options ?? []).map((option) => option.value);
    switch (field.type) {
      case "text":
      case "textarea":
        return typeof value === "string" ? null : "a string";
      case "checkbox":
        return typeof value === "boolean" ? null : "true or false";
      case "integer":
        return typeof value === "bigint" || (typeof value === "number" && Number.isInteger(value)) ? null : "an integer";
      case "decimal":
        return typeof value === "bigint" || (typeof value === "number" && Number.isFinite(value)) ? null : "a number";
      case "date":
        return isCalendarDate(value) ? null : "a date as YYYY-MM-DD";
      case "regexp":
        return typeof value === "string" && new RegExp(field.regexp_for_validation ?? "").test(value) ? null : `a string matching ${field.regexp_for_validation}`;
      case "dropdown":
        return typeof value === "string" && optionValues.includes(value) ? null : `one of ${JSON.stringify(optionValues)}`;
      case "multiselect":
        return Array.isArray(value) && value.every((item) => optionValues.includes(item)) ? null : `a list of ${JSON.stringify(optionValues)}`;
      case "lookup":
        return toId(value) !== null ? null : "a record id";
      default:
        return null;
    }
  }

  // Checks a `user_fields` / `organization_fields` object. Unknown keys are not stored (as in Zendesk).
  // Returns the accepted {key: value} pairs; type mismatches go to `problems` under the field's key.
  function checkCustomFieldValues(values, fields, attribute, problems) {
    if (values === undefined || values === null) return {};
    if (!isPlainObject(values)) {
      problems.add(attribute, "InvalidValue", `${attribute}: must be an object of field keys to values`);
      return {};
    }
    const accepted = {};
    for (const [key, value] of Object.entries(values)) {
      const field = fields.find((candidate) => candidate.key === key);
      if (!field) continue;
      const expected = fieldValueProblem(field, value);
      if (expected) problems.add(key, "InvalidValue", `${field.title}: ${toJson(value)} is not valid, expected ${expected}`);
      else accepted[key] = value;
    }
    return accepted;
  }

  // A checkbox with a tag adds the tag when checked and removes it when unchecked.
  function applyCheckboxTags(tags, fields, values) {
    const tagSet = new Set(tags);
    for (const [key, value] of Object.entries(values)) {
      const field = fields.find((candidate) => candidate.key === key);
      if (field?.type !== "checkbox" || !field.tag) continue;
      if (value === true) tagSet.add(field.tag);
      else tagSet.delete(field.tag);
    }
    return [...tagSet];
  }

  // Zendesk lowercases tags and splits on whitespace.
  function normalizeTags(value, attribute, problems) {
    const list = typeof value === "string" ? value.split(/\s+/) : value;
    if (!Array.isArray(list) || !list.every((tag) => typeof tag === "string")) {
      problems.add(attribute, "InvalidValue", `${attribute}: must be a list of strings`);
      return null;
    }
    return [...new Set(list.flatMap((tag) => tag.trim().toLowerCase().split(/\s+/)).filter(Boolean))];
  }

  function droppedKeys(attrs, writable) {
    return Object.keys(attrs).filter((key) => !writable.has(key));
  }

  const warnHeader = (keys) =>
    keys.length ? { "x-zendesk-api-warn": `Removed restricted keys ${JSON.stringify(keys)} from parameters according to permission.` } : {};

  // ----- users: validate everything first, then apply (a 422 never leaves a partial write) --------

  /**
   * Plans a write of `attrs` onto `user` (null = create). Returns {apply(), warnings} or throws a 422.
   * `exceptUser` is the user the write lands on, for uniqueness checks.
   */
  function planUserWrite(user, attrs, { allowDuplicateEmail = false } = {}) {
    const problems = new ValidationDetails();
    const change = {};
    const creating = user === null;

    if ("name" in attrs || creating) {
      const name = typeof attrs.name === "string" ? attrs.name.trim() : "";
      if (!name) problems.add("name", "BlankValue", "Name: cannot be blank");
      else change.name = name;
    }

    if (attrs.email !== undefined && attrs.email !== null) {
      const email = typeof attrs.email === "string" ? attrs.email.trim().toLowerCase() : "";
      if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) {
        problems.add("email", "InvalidFormat", `Email: ${attrs.email} is not properly formatted`);
      } else {
        const owner = findUserByEmail(email);
        if (owner && owner !== user && !allowDuplicateEmail) {
          problems.add("email", "DuplicateValue", `Email: ${email} is already being used by another user`);
        } else if (!user || !userEmails(user).some((value) => lower(value) === email)) {
          change.email = email;
        }
      }
    }

    if (attrs.external_id !== undefined) {
      if (attrs.external_id === null || attrs.external_id === "") change.external_id = null;
      else if (!["string", "number", "bigint"].includes(typeof attrs.external_id)) {
        problems.add("external_id", "InvalidValue", "External: must be a string");
      } else {
        const externalId = String(attrs.external_id).trim();
        const owner = findUserByExternalId(externalId);
        if (owner && owner !== user) problems.add("external_id", "DuplicateValue", "External has already been taken");
        else change.external_id = externalId;
      }
    }

    if (attrs.phone !== undefined && attrs.phone !== null && attrs.phone !== "") {
      const phone = String(attrs.phone).trim();
      if (!/^\+?[\d\s().-]{3,}$/.test(phone)) problems.add("phone", "InvalidFormat", `Phone: ${phone} is not properly formatted`);
      else change.phone = phone;
    }

    if (attrs.time_zone !== undefined && attrs.time_zone !== null) {
      if (typeof attrs.time_zone !== "string" || !(attrs.time_zone in ZENDESK_TIME_ZONES)) {
        // IANA names (Area/City) are refused: Zendesk takes its own names; translate before writing.
        problems.add("time_zone", "InvalidValue", `Time zone: ${toJson(attrs.time_zone)} is not included in the list`);
      } else change.time_zone = attrs.time_zone;
    }

    if (attrs.locale !== undefined && attrs.locale !== null) {
      if (typeof attrs.locale !== "string") problems.add("locale", "InvalidValue", "Locale: must be a string");
      else change.locale = attrs.locale;
    }

    if (attrs.role !== undefined && attrs.role !== null) {
      if (!USER_ROLES.has(attrs.role)) problems.add("role", "InvalidValue", `Role: ${toJson(attrs.role)} is not included in the list`);
      else change.role = attrs.role;
    }

    if (attrs.verified !== undefined && attrs.verified !== null) {
      if (typeof attrs.verified !== "boolean") problems.add("verified", "InvalidValue", "Verified: must be true or false");
      else change.verified = attrs.verified;
    }

    for (const key of ["details", "notes", "alias"]) {
      if (attrs[key] === undefined) continue;
      if (attrs[key] !== null && typeof attrs[key] !== "string") problems.add(key, "InvalidValue", `${key}: must be a string`);
      else change[key] = attrs[key] ?? "";
    }

    if (attrs.tags !== undefined && attrs.tags !== null) {
      const tags = normalizeTags(attrs.tags, "tags", problems);
      if (tags) change.tags = tags;
    }

    change.userFields = checkCustomFieldValues(attrs.user_fields, account.userFields, "user_fields", problems);

    if (attrs.organization_id !== undefined) {
      if (attrs.organization_id === null) change.organization = null;
      else {
        const organization = getOrganization(toId(attrs.organization_id));
        if (!organization) problems.add("organization_id", "InvalidValue", `Organization: ${toJson(attrs.organization_id)} is invalid`);
        else change.organization = organization;
      }
    }

    problems.throwIfAny();
    const warnings = droppedKeys(attrs, USER_WRITABLE_KEYS);
    return { warnings, apply: () => applyUserWrite(user, change) };
  }

  function applyUserWrite(existing, change) {
    const at = now();
    const user =
      existing ??
      {
        id: allocateId("user"),
        name: "",
        external_id: null,
        phone: null,
        time_zone: "Pacific Time (US & Canada)",
        locale: "en-US",
        role: "end-user",
        verified: false,
        active: true,
        tags: [],
        user_fields: {},
        details: "",
        notes: "",
        alias: "",
        identities: [],
        createdMs: at,
        updatedMs: at,
        searchableFromMs: at + config.searchIndexLagMs, // search index lag for ?query=
        anonymous: false,
      };
    if (!existing) account.users.set(String(user.id), user);

    for (const key of ["name", "time_zone", "locale", "role", "verified", "details", "notes", "alias", "tags"]) {
      if (key in change) user[key] = change[key];
    }
    if ("external_id" in change) setExternalId(user, change.external_id);
    // Email: primary only when the user has none (i.e. on create); otherwise a secondary identity.
    if (change.email) addIdentity(user, "email", change.email, change.verified ?? user.verified);
    // Phone: sets `phone` when empty; a different phone is added as another identity, not a replacement.
    if (change.phone) {
      if (!user.phone) user.phone = change.phone;
      if (!userPhones(user).some((value) => value.replace(/\D/g, "") === change.phone.replace(/\D/g, ""))) {
        addIdentity(user, "phone_number", change.phone, false);
      }
    }
    const fieldValues = change.userFields ?? {};
    Object.assign(user.user_fields, fieldValues);
    user.tags = applyCheckboxTags(user.tags, account.userFields, fieldValues);
    if ("organization" in change) setDefaultOrganization(user, change.organization);
    user.updatedMs = at;
    return user;
  }

  function addIdentity(user, type, value, verified) {
    const hasPrimary = user.identities.some((identity) => identity.type === type && identity.primary);
    const identity = {
      id: allocateId("identity"),
      user_id: user.id,
      type,
      value,
      primary: !hasPrimary,
      verified: Boolean(verified),
      createdMs: now(),
    };
    user.identities.push(identity);
    account.index.identityIds.add(String(identity.id));
    if (type === "email") indexAdd(account.index.usersByEmail, lower(value), user);
    if (type === "phone_number") indexAdd(account.index.usersByPhone, phoneDigits(value), user);
  }

  // Setting organization_id makes it the default membership and removes all other memberships.
  function setDefaultOrganization(user, organization) {
    for (const membership of membershipsOf(user)) {
      if (!organization || membership.organization_id !== organization.id) removeMembership(membership);
    }
    if (!organization) return;
    const kept = membershipsOf(user)[0];
    if (kept) {
      kept.default = true;
      kept.updatedMs = now();
    } else addMembership(user, organization);
  }

  function addMembership(user, organization) {
    const at = now();
    const membership = {
      id: allocateId("membership"),
      user_id: user.id,
      organization_id: organization.id,
      default: !defaultMembership(user), // the first membership becomes the default
      createdMs: at,
      updatedMs: at,
    };
    account.memberships.set(String(membership.id), membership);
    indexAdd(account.index.membershipsByUser, String(user.id), membership);
    account.counters.membershipsCreated++;
    return membership;
  }

  function removeMembership(membership) {
    account.memberships.delete(String(membership.id));
    indexDelete(account.index.membershipsByUser, String(membership.user_id), membership);
    account.counters.membershipsDeleted++;
    if (membership.default) {
      // Another membership (the oldest) becomes the default, as Zendesk keeps one when it can.
      const user = getUser(membership.user_id);
      const next = user && membershipsOf(user)[0];
      if (next) next.default = true;
    }
  }

  /**
   * The create_or_update rule: match by external_id (case-insensitive), else by email, else create.
   * Unconfirmed in Zendesk's docs: when external_id and email point at two different users, the
   * external_id match wins here and the email then fails as DuplicateValue (422). A user matched by
   * email takes the given external_id.
   */
  function matchUserForCreateOrUpdate(attrs) {
    if (attrs.external_id !== undefined && attrs.external_id !== null && attrs.external_id !== "") {
      const byExternalId = findUserByExternalId(String(attrs.external_id));
      if (byExternalId) return byExternalId;
    }
    if (typeof attrs.email === "string" && attrs.email.trim()) return findUserByEmail(attrs.email) ?? null;
    return null;
  }

  // ----- organizations ---------------------------------------------------------------------------

  function planOrganizationWrite(org, attrs) {
    const problems = new ValidationDetails();
    const change = {};
    const creating = org === null;

    if ("name" in attrs || creating) {
      const name = typeof attrs.name === "string" ? attrs.name.trim() : "";
      if (!name) problems.add("name", "BlankValue", "Name: cannot be blank");
      else if (name.includes("|")) problems.add("name", "InvalidValue", "Name: cannot contain the character |");
      else {
        const owner = findOrganizationByName(name);
        if (owner && owner !== org) problems.add("name", "DuplicateValue", "Name: has already been taken");
        else change.name = name;
      }
    }

    if (attrs.external_id !== undefined) {
      if (attrs.external_id === null || attrs.external_id === "") change.external_id = null;
      else {
        const externalId = String(attrs.external_id).trim();
        const owner = findOrganizationByExternalId(externalId);
        if (owner && owner !== org) problems.add("external_id", "DuplicateValue", "External: has already been taken");
        else change.external_id = externalId;
      }
    }

    if (attrs.domain_names !== undefined && attrs.domain_names !== null) {
      const domains = typeof attrs.domain_names === "string" ? attrs.domain_names.split(/[\s,]+/).filter(Boolean) : attrs.domain_names;
      if (!Array.isArray(domains) || !domains.every((domain) => typeof domain === "string" && /^[a-z0-9.-]+\.[a-z]{2,}$/i.test(domain.trim()))) {
        problems.add("domain_names", "InvalidValue", "Domain names: must be a list of domain names");
      } else change.domain_names = domains.map((domain) => domain.trim().toLowerCase()); // replaces the list
    }

    if (attrs.tags !== undefined && attrs.tags !== null) {
      const tags = normalizeTags(attrs.tags, "tags", problems);
      if (tags) change.tags = tags;
    }

    for (const key of ["details", "notes"]) {
      if (attrs[key] === undefined) continue;
      if (attrs[key] !== null && typeof attrs[key] !== "string") problems.add(key, "InvalidValue", `${key}: must be a string`);
      else change[key] = attrs[key];
    }
    for (const key of ["shared_tickets", "shared_comments"]) {
      if (attrs[key] === undefined) continue;
      if (typeof attrs[key] !== "boolean") problems.add(key, "InvalidValue", `${key}: must be true or false`);
      else change[key] = attrs[key];
    }
    if (attrs.group_id !== undefined) change.group_id = attrs.group_id === null ? null : toId(attrs.group_id);

    change.organizationFields = checkCustomFieldValues(attrs.organization_fields, account.organizationFields, "organization_fields", problems);
    problems.throwIfAny();

    // `url` is the API link (read-only) and `deleted` is no Zendesk attribute: both dropped, with a warning.
    const warnings = droppedKeys(attrs, ORGANIZATION_WRITABLE_KEYS).filter((key) => key !== "id");
    return { warnings, apply: () => applyOrganizationWrite(org, change) };
  }

  function applyOrganizationWrite(existing, change) {
    const at = now();
    const org =
      existing ??
      {
        id: allocateId("organization"),
        name: "",
        external_id: null,
        domain_names: [],
        details: null,
        notes: null,
        group_id: null,
        shared_tickets: false,
        shared_comments: false,
        tags: [],
        organization_fields: {},
        createdMs: at,
        updatedMs: at,
      };
    if (!existing) account.organizations.set(String(org.id), org);
    for (const key of ["name", "external_id", "domain_names", "tags", "details", "notes", "group_id", "shared_tickets", "shared_comments"]) {
      if (key in change) org[key] = change[key];
    }
    Object.assign(org.organization_fields, change.organizationFields);
    org.tags = applyCheckboxTags(org.tags, account.organizationFields, change.organizationFields);
    org.updatedMs = at;
    return org;
  }

  // ----- custom field definitions ---------------------------------------------------------------------

  function planFieldCreate(definition, fields) {
    const problems = new ValidationDetails();
    if (!isPlainObject(definition)) throw missingParameter(fields === account.userFields ? "user_field" : "organization_field");
    const { type, title, key } = definition;
    if (!type) problems.add("type", "BlankValue", "Type: cannot be blank");
    else if (!FIELD_TYPES.has(type)) problems.add("type", "InvalidValue", `Type: ${toJson(type)} is not included in the list`);
    if (typeof title !== "string" || !title.trim()) problems.add("title", "BlankValue", "Title: cannot be blank");
    if (typeof key !== "string" || !key) problems.add("key", "BlankValue", "Key: cannot be blank");
    else if (!/^[A-Za-z0-9_]+$/.test(key) || /^\d+$/.test(key)) {
      problems.add("key", "InvalidValue", "Key: can only contain letters, numbers and underscores, and cannot be only numbers");
    } else if (fields.some((field) => field.key === key)) {
      problems.add("key", "DuplicateValue", "Key: has already been taken");
    }
    if (type === "dropdown" || type === "multiselect") {
      const options = definition.custom_field_options;
      if (!Array.isArray(options) || options.length === 0 || !options.every((o) => isPlainObject(o) && typeof o.value === "string")) {
        problems.add("custom_field_options", "BlankValue", "Field options: must have at least one option with a value");
      }
    }
    if (type === "regexp") {
      try {
        new RegExp(definition.regexp_for_validation ?? "");
        if (typeof definition.regexp_for_validation !== "string") throw new Error("missing");
      } catch {
        problems.add("regexp_for_validation", "InvalidValue", "Regexp for validation: is invalid");
      }
    }
    problems.throwIfAny();
  }

  function createField(definition, fields, kind) {
    const field = {
      id: allocateId(kind),
      key: definition.key,
      type: definition.type,
      title: definition.title.trim(),
      description: definition.description ?? "",
      position: definition.position ?? fields.length + 1,
      regexp_for_validation: definition.regexp_for_validation ?? null,
      tag: definition.type === "checkbox" ? definition.tag ?? null : null,
      custom_field_options: definition.custom_field_options
        ? definition.custom_field_options.map((option) => ({ name: option.name ?? option.value, value: option.value }))
        : undefined,
      createdMs: now(),
    };
    fields.push(field);
    account.counters.fieldsCreated++;
    return field;
  }

  // ----- bulk jobs -------------------------------------------------------------------------------------

  const unfinishedJobs = () => [...account.unfinishedJobs];

  function completeJob(job) {
    job.results = job.items.map((attrs, index) => {
      const email = typeof attrs?.email === "string" ? attrs.email : null;
      const externalId = attrs?.external_id != null ? String(attrs.external_id) : null;
      try {
        if (!isPlainObject(attrs)) throw recordInvalid({ user: [{ description: "User: must be an object", error: "InvalidValue" }] });
        const matched = matchUserForCreateOrUpdate(attrs);
        const user = planUserWrite(matched, attrs).apply();
        account.counters[matched ? "usersUpdated" : "usersCreated"]++;
        return { id: user.id, index, status: matched ? "Updated" : "Created", email: primaryEmail(user), external_id: user.external_id };
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        const details = Object.values(error.body.details ?? {}).flat();
        return {
          id: null, // Zendesk may put a meaningless id on failed items; null here
          index,
          status: "Failed",
          error: details[0]?.error ?? error.body.error,
          details: details.map((detail) => detail.description).join("; ") || error.body.description,
          email,
          external_id: externalId,
        };
      }
    });
    job.status = "completed";
    job.completedMs = now();
    account.unfinishedJobs.delete(job);
    account.counters.jobsCompleted++;
  }

  // Jobs also finish on their own after `jobDurationMs` of simulated time.
  function completeDueJobs() {
    const at = now();
    for (const job of unfinishedJobs()) if (at >= job.dueMs) completeJob(job);
  }

  // ----- Sunshine events -----------------------------------------------------------------------------

  function checkSunshineEvent(event) {
    if (!isPlainObject(event)) throw sunshineError(400, "BadRequest", "event is required");
    for (const key of ["source", "type"]) {
      if (typeof event[key] !== "string" || !event[key].trim()) throw sunshineError(400, "BadRequest", `event.${key} is required`);
    }
    if (!isPlainObject(event.properties)) throw sunshineError(400, "BadRequest", "event.properties is required and must be an object");
    if (lower(event.source) === "zendesk") throw sunshineError(400, "BadRequest", "event.source 'zendesk' is reserved");
    if (event.created_at !== undefined && (typeof event.created_at !== "string" || Number.isNaN(Date.parse(event.created_at)))) {
      throw sunshineError(400, "BadRequest", "event.created_at must be an ISO 8601 timestamp");
    }
    if (!account.sunshineSources.has(event.source) && account.sunshineSources.size >= SUNSHINE_MAX_SOURCES) {
      throw sunshineError(400, "BadRequest", `Too many distinct event sources (limit ${SUNSHINE_MAX_SOURCES})`);
    }
    if (!account.sunshineTypes.has(event.type) && account.sunshineTypes.size >= SUNSHINE_MAX_TYPES) {
      throw sunshineError(400, "BadRequest", `Too many distinct event types (limit ${SUNSHINE_MAX_TYPES})`);
    }
  }

  function checkSunshineProfile(profile) {
    if (!isPlainObject(profile)) throw sunshineError(400, "BadRequest", "profile is required");
    for (const key of ["source", "type"]) {
      if (typeof profile[key] !== "string" || !profile[key].trim()) throw sunshineError(400, "BadRequest", `profile.${key} is required`);
    }
    if (lower(profile.source) === "zendesk") throw sunshineError(400, "BadRequest", "profile.source 'zendesk' is reserved");
    if (!Array.isArray(profile.identifiers) || profile.identifiers.length === 0) {
      throw sunshineError(400, "BadRequest", "profile.identifiers must list at least one identifier");
    }
    for (const identifier of profile.identifiers) {
      if (!isPlainObject(identifier) || typeof identifier.type !== "string" || typeof identifier.value !== "string" || !identifier.value) {
        throw sunshineError(400, "BadRequest", "each profile identifier needs a string type and value");
      }
      if (identifier.value.length > SUNSHINE_MAX_IDENTIFIER_LENGTH) {
        throw sunshineError(400, "BadRequest", `identifier value is longer than ${SUNSHINE_MAX_IDENTIFIER_LENGTH} characters`);
      }
    }
  }

  // The first identifier (in the order given) that matches an active user decides.
  function matchProfileUser(identifiers) {
    for (const { type, value } of identifiers) {
      const user =
        type === "email" ? findUserByEmail(value) : type === "external_id" ? findUserByExternalId(value) : type === "phone_number" ? findUserByPhone(value) : undefined;
      if (user) return user;
    }
    return null;
  }

  function createAnonymousUser(profile) {
    const email = profile.identifiers.find((identifier) => identifier.type === "email")?.value;
    const user = applyUserWrite(null, { name: typeof profile.name === "string" && profile.name ? profile.name : email ?? "Anonymous user" });
    user.anonymous = true;
    account.counters.anonymousUsersCreated++;
    account.counters.usersCreated++;
    return user;
  }

  // Identifiers on the profile are written back onto the user, where no one else holds them.
  function writeBackIdentifiers(user, identifiers) {
    for (const { type, value } of identifiers) {
      if (type === "email" && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value) && !findUserByEmail(value)) {
        addIdentity(user, "email", value.toLowerCase(), false);
      } else if (type === "external_id" && user.external_id === null && !findUserByExternalId(value)) {
        setExternalId(user, value);
      } else if (type === "phone_number" && !findUserByPhone(value)) {
        if (!user.phone) user.phone = value;
        addIdentity(user, "phone_number", value, false);
      }
    }
  }

  function recordSunshineEvent(user, profile, event, via) {
    const at = now();
    const source = profile?.source ?? event.source;
    const type = profile?.type ?? "user";
    const profileKey = `${user.id}|${source}|${type}`;
    let stored = account.profiles.get(profileKey);
    if (!stored) {
      stored = { id: nextSunshineId(), user_id: user.id, source, type, identifiers: [], attributes: {}, createdMs: at };
      account.profiles.set(profileKey, stored);
    }
    for (const identifier of profile?.identifiers ?? []) {
      if (!stored.identifiers.some((known) => known.type === identifier.type && known.value === identifier.value)) {
        stored.identifiers.push({ type: identifier.type, value: identifier.value });
      }
    }
    if (isPlainObject(profile?.attributes)) Object.assign(stored.attributes, profile.attributes);
    stored.updatedMs = at;

    account.sunshineSources.add(event.source);
    account.sunshineTypes.add(event.type);
    account.events.push({
      id: nextSunshineId(),
      user_id: user.id,
      profile_id: stored.id,
      via,
      source: event.source,
      type: event.type,
      description: event.description ?? null,
      properties: event.properties,
      created_at: event.created_at ?? isoSeconds(at), // defaults to receipt time
      received_at: isoSeconds(at),
    });
    account.counters.eventsReceived++;
    return { profile_id: stored.id, status: "received", user_id: String(user.id) };
  }

  // ----- request helpers ---------------------------------------------------------------------------

  function missingParameter(name) {
    return new ApiError(400, { error: "ParameterMissing", description: `param is missing or the value is empty: ${name}` });
  }

  // Malformed JSON: 400 {"error":"Unprocessable Entity","description":"Server could not parse JSON"}.
  function readJson(request) {
    if (request.body === null || request.body === undefined || request.body === "") return {};
    try {
      return parseJsonExact(request.body);
    } catch {
      throw new ApiError(400, { error: "Unprocessable Entity", description: "Server could not parse JSON" });
    }
  }

  function readRoot(request, key) {
    const body = readJson(request);
    if (!isPlainObject(body) || !isPlainObject(body[key])) throw missingParameter(key);
    return body[key];
  }

  const ok = (status, body, headers = {}) => ({ status, body, headers });

  function paginate(request, items, collection, render) {
    const perPage = Math.min(100, Math.max(1, Number(request.query.get("per_page")) || 100));
    const page = Math.max(1, Math.floor(Number(request.query.get("page")) || 1));
    const start = (page - 1) * perPage;
    const pageUrl = (number) =>
      `${request.origin}/api/v2/${collection}.json?page=${number}` + (request.query.has("per_page") ? `&per_page=${perPage}` : "");
    return {
      [collection]: items.slice(start, start + perPage).map(render),
      next_page: start + perPage < items.length ? pageUrl(page + 1) : null,
      previous_page: page > 1 ? pageUrl(page - 1) : null,
      count: items.length,
    };
  }

  // ----- user search -------------------------------------------------------------------------------

  // Supported query syntax: `email:x` / `email:"x"` (exact, any email identity), `external_id:x`,
  // `name:x` / `name:"x y"` (substring), `phone:x` (digits), `role:x`, `type:user` (ignored), and
  // plain words or "quoted phrases" matching a substring of name, any email or phone. All terms AND.
  function parseUserQuery(query) {
    return [...query.matchAll(/(\w+):"([^"]*)"|(\w+):(\S+)|"([^"]*)"|(\S+)/g)].map((match) =>
      match[1] ? { field: match[1].toLowerCase(), value: match[2] } : match[3] ? { field: match[3].toLowerCase(), value: match[4] } : { field: null, value: match[5] ?? match[6] },
    );
  }

  function searchUsers(query) {
    const terms = parseUserQuery(query);
    const emailTerm = terms.find((term) => term.field === "email");
    const externalIdTerm = terms.find((term) => term.field === "external_id");
    const candidates = emailTerm ? findUsersByEmail(emailTerm.value) : externalIdTerm ? findUsersByExternalId(externalIdTerm.value) : activeUsers();
    const at = now();
    return candidates.filter((user) => user.searchableFromMs <= at && userMatchesTerms(user, terms));
  }

  function userMatchesTerms(user, terms) {
    const emails = userEmails(user).map(lower);
    const phones = userPhones(user).concat(user.phone ? [user.phone] : []).map((phone) => phone.replace(/\D/g, ""));
    return terms.every(({ field, value }) => {
      const wanted = lower(value);
      switch (field) {
        case "email":
          return emails.includes(wanted);
        case "external_id":
          return user.external_id !== null && lower(user.external_id) === wanted;
        case "name":
          return lower(user.name).includes(wanted);
        case "phone":
          return wanted.replace(/\D/g, "") !== "" && phones.some((phone) => phone.includes(wanted.replace(/\D/g, "")));
        case "role":
          return user.role === wanted;
        case "type":
          return wanted === "user";
        default: {
          const text = field ? `${field}:${wanted}` : wanted;
          return lower(user.name).includes(text) || emails.some((email) => email.includes(text)) || phones.some((phone) => text.replace(/\D/g, "") !== "" && phone.includes(text.replace(/\D/g, "")));
        }
      }
    });
  }


  // ----- routes ----------------------------------------------------------------------------------------

  const routes = [];
  const route = (method, pattern, handler) => routes.push({ method, pattern: new RegExp(`^${pattern}$`), handler });
  const ID = "([1-9]\\d*)";

  route("GET", "/users/search", (request) => {
    const externalId = request.query.get("external_id");
    const query = request.query.get("query");
    let users;
    if (externalId !== null) users = findUsersByExternalId(externalId);
    else if (query !== null && query.trim()) users = searchUsers(query);
    else throw new ApiError(400, { error: "InvalidValue", description: "Provide query or external_id" });
    users.sort(byId);
    return ok(200, { users: users.map((user) => renderUser(user, request.origin)), next_page: null, previous_page: null, count: users.length });
  });

  route("GET", "/users/show_many", (request) => {
    const ids = request.query.get("ids");
    const externalIds = request.query.get("external_ids");
    const list = (ids ?? externalIds ?? "").split(",").map((item) => item.trim()).filter(Boolean);
    if (ids === null && externalIds === null) throw new ApiError(400, { error: "InvalidValue", description: "Provide ids or external_ids" });
    if (list.length > MAX_SHOW_MANY) throw new ApiError(400, { error: "InvalidValue", description: `At most ${MAX_SHOW_MANY} values` });
    const users =
      ids !== null
        ? list.map((id) => getUser(toId(id))).filter(Boolean)
        : list.map((externalId) => findUserByExternalId(externalId)).filter(Boolean);
    const unique = [...new Set(users)];
    return ok(200, { users: unique.map((user) => renderUser(user, request.origin)), next_page: null, previous_page: null, count: unique.length });
  });

  // The authenticated agent, for "test connection" calls. Not part of the user table.
  route("GET", "/users/me", (request) => {
    const email = request.identity.email ?? `oauth-agent@${config.subdomain}.example`;
    return ok(200, { user: { id: config.largeIds ? LARGE_ID_BASE - 1n : NORMAL_ID_BASE - 1n, name: "Simulated Admin", email, role: "admin", active: true, verified: true } });
  });

  route("POST", "/users/create_or_update", (request) => {
    const attrs = readRoot(request, "user");
    const matched = matchUserForCreateOrUpdate(attrs);
    const countWrite = enforceSingleUserWriteLimit(matched);
    let plan;
    try {
      plan = planUserWrite(matched, attrs);
    } finally {
      countWrite(matched);
    }
    const user = plan.apply();
    countWrite(matched ? null : user);
    account.counters[matched ? "usersUpdated" : "usersCreated"]++;
    const headers = { ...warnHeader(plan.warnings), ...(matched ? {} : { location: `${request.origin}/api/v2/users/${user.id}.json` }) };
    return ok(matched ? 200 : 201, { user: renderUser(user, request.origin) }, headers);
  });

  route("POST", "/users/create_or_update_many", (request) => {
    if (!config.bulkImport) {
      throw new ApiError(403, { error: "Forbidden", description: "Bulk user import is not enabled for this account. The account owner must ask Zendesk to enable it." });
    }
    const body = readJson(request);
    if (!isPlainObject(body) || !Array.isArray(body.users) || body.users.length === 0) throw missingParameter("users");
    if (body.users.length > MAX_BULK_USERS) {
      throw new ApiError(400, { error: "InvalidValue", description: `Too many users: at most ${MAX_BULK_USERS} per request` });
    }
    const unfinished = unfinishedJobs();
    if (unfinished.length >= config.maxUnfinishedJobs) {
      const soonestDue = Math.min(...unfinished.map((job) => job.dueMs));
      throw new ApiError(
        429,
        { error: "TooManyJobs", description: `Number of allowed queued or running jobs (${config.maxUnfinishedJobs}) exceeded` },
        { "retry-after": realSecondsText(soonestDue - now()) },
      );
    }
    const job = {
      id: randomHex(account.tokenRandom, 32),
      status: "queued",
      total: body.users.length,
      items: body.users,
      results: null,
      polls: 0,
      createdMs: now(),
      dueMs: now() + config.jobDurationMs,
      completedMs: null,
    };
    account.jobs.set(job.id, job);
    account.unfinishedJobs.add(job);
    account.counters.jobsCreated++;
    return ok(200, { job_status: renderJob(job, request.origin) });
  });

  route("GET", `/job_statuses/([0-9A-Za-z_-]+)`, (request, jobId) => {
    const job = account.jobs.get(jobId);
    if (!job) throw notFound();
    if (job.status !== "completed") {
      job.polls++;
      if (job.polls > config.jobPollsBeforeDone) completeJob(job);
      else job.status = "working";
    }
    return ok(200, { job_status: renderJob(job, request.origin) });
  });

  route("GET", `/users/${ID}`, (request, id) => {
    const user = getUser(BigInt(id));
    if (!user) throw notFound();
    return ok(200, { user: renderUser(user, request.origin) });
  });

  route("PUT", `/users/${ID}`, (request, id) => {
    const user = getUser(BigInt(id));
    if (!user || !user.active) throw notFound(); // a soft-deleted user can no longer be updated
    const attrs = readRoot(request, "user");
    const countWrite = enforceSingleUserWriteLimit(user);
    countWrite(user);
    const plan = planUserWrite(user, attrs);
    plan.apply();
    account.counters.usersUpdated++;
    return ok(200, { user: renderUser(user, request.origin) }, warnHeader(plan.warnings));
  });

  // Soft delete: the user stays readable with active:false but no longer matches searches, emails or
  // external ids (so they can be used again), and loses its memberships.
  route("DELETE", `/users/${ID}`, (request, id) => {
    const user = getUser(BigInt(id));
    if (!user || !user.active) throw notFound();
    user.active = false;
    user.updatedMs = now();
    for (const membership of membershipsOf(user)) removeMembership(membership);
    account.counters.usersDeleted++;
    return ok(200, { user: renderUser(user, request.origin) });
  });

  route("GET", `/users/${ID}/identities`, (request, id) => {
    const user = getUser(BigInt(id));
    if (!user) throw notFound();
    return ok(200, { identities: user.identities.map((identity) => renderIdentity(identity, request.origin)), next_page: null, previous_page: null, count: user.identities.length });
  });

  route("PUT", `/users/${ID}/identities/${ID}/make_primary`, (request, id, identityId) => {
    const user = getUser(BigInt(id));
    const identity = user?.identities.find((candidate) => candidate.id === BigInt(identityId));
    if (!user || !identity) throw notFound();
    for (const other of user.identities) if (other.type === identity.type) other.primary = other === identity;
    if (identity.type === "phone_number") user.phone = identity.value;
    user.updatedMs = now();
    return ok(200, { identities: user.identities.map((item) => renderIdentity(item, request.origin)) });
  });

  route("GET", `/users/${ID}/organization_memberships`, (request, id) => {
    const user = getUser(BigInt(id));
    if (!user) throw notFound();
    const memberships = membershipsOf(user).sort(byId);
    return ok(200, { organization_memberships: memberships.map((m) => renderMembership(m, request.origin)), next_page: null, previous_page: null, count: memberships.length });
  });

  route("DELETE", `/users/${ID}/organization_memberships/${ID}`, (_request, userId, membershipId) => {
    const membership = account.memberships.get(membershipId);
    if (!membership || membership.user_id !== BigInt(userId)) throw notFound();
    removeMembership(membership);
    return ok(204, null);
  });

  route("DELETE", `/users/${ID}/organizations/${ID}`, (_request, userId, organizationId) => {
    const user = getUser(BigInt(userId));
    const membership = user && membershipsOf(user).find((m) => m.organization_id === BigInt(organizationId));
    if (!membership) throw notFound(); // not a member (or unknown user/organization)
    removeMembership(membership);
    return ok(204, null);
  });

  route("POST", `/users/${ID}/events`, (request, id) => {
    const user = getUser(BigInt(id));
    if (!user || !user.active) throw sunshineError(404, "NotFound", "User not found");
    const body = readJson(request);
    if (!isPlainObject(body)) throw sunshineError(400, "BadRequest", "body must be an object");
    if (body.profile !== undefined) checkSunshineProfile(body.profile);
    checkSunshineEvent(body.event);
    if (body.profile) writeBackIdentifiers(user, body.profile.identifiers);
    return ok(202, recordSunshineEvent(user, body.profile, body.event, "users"));
  });

  route("POST", "/user_profiles/events", (request) => {
    const body = readJson(request);
    if (!isPlainObject(body)) throw sunshineError(400, "BadRequest", "body must be an object");
    checkSunshineProfile(body.profile);
    checkSunshineEvent(body.event);
    // When no identifier matches a user, Zendesk creates an anonymous user for the profile.
    const user = matchProfileUser(body.profile.identifiers) ?? createAnonymousUser(body.profile);
    writeBackIdentifiers(user, body.profile.identifiers);
    return ok(202, recordSunshineEvent(user, body.profile, body.event, "user_profiles"));
  });

  for (const [collection, rootKey, kind, fieldsOf] of [
    ["user_fields", "user_field", "userField", () => account.userFields],
    ["organization_fields", "organization_field", "organizationField", () => account.organizationFields],
  ]) {
    route("GET", `/${collection}`, (request) =>
      ok(200, paginate(request, fieldsOf(), collection, (field) => renderField(field, request.origin, collection))),
    );
    route("GET", `/${collection}/${ID}`, (request, id) => {
      const field = fieldsOf().find((candidate) => candidate.id === BigInt(id));
      if (!field) throw notFound();
      return ok(200, { [rootKey]: renderField(field, request.origin, collection) });
    });
    route("POST", `/${collection}`, (request) => {
      const definition = readRoot(request, rootKey);
      planFieldCreate(definition, fieldsOf());
      const field = createField(definition, fieldsOf(), kind);
      return ok(201, { [rootKey]: renderField(field, request.origin, collection) }, { location: `${request.origin}/api/v2/${collection}/${field.id}.json` });
    });
  }

  // Matches only by `id` or `external_id` (case-insensitive), never by name. An unknown `id` is 404.
  route("POST", "/organizations/create_or_update", (request) => {
    const attrs = readRoot(request, "organization");
    let matched = null;
    if (attrs.id !== undefined && attrs.id !== null) {
      matched = getOrganization(toId(attrs.id));
      if (!matched) throw notFound();
    } else if (attrs.external_id !== undefined && attrs.external_id !== null && attrs.external_id !== "") {
      matched = findOrganizationByExternalId(String(attrs.external_id)) ?? null;
    }
    const plan = planOrganizationWrite(matched, attrs);
    const org = plan.apply();
    account.counters[matched ? "organizationsUpdated" : "organizationsCreated"]++;
    const headers = { ...warnHeader(plan.warnings), ...(matched ? {} : { location: `${request.origin}/api/v2/organizations/${org.id}.json` }) };
    return ok(matched ? 200 : 201, { organization: renderOrganization(org, request.origin) }, headers);
  });

  route("POST", "/organizations", (request) => {
    const attrs = readRoot(request, "organization");
    const plan = planOrganizationWrite(null, attrs);
    const org = plan.apply();
    account.counters.organizationsCreated++;
    return ok(201, { organization: renderOrganization(org, request.origin) }, warnHeader(plan.warnings));
  });

  route("GET", "/organizations/search", (request) => {
    const externalId = request.query.get("external_id");
    const name = request.query.get("name");
    let organizations;
    if (externalId !== null) organizations = [...account.organizations.values()].filter((org) => org.external_id !== null && lower(org.external_id) === lower(externalId));
    else if (name !== null) organizations = [...account.organizations.values()].filter((org) => lower(org.name) === lower(name));
    else throw new ApiError(400, { error: "InvalidValue", description: "Provide external_id or name" });
    organizations.sort(byId);
    return ok(200, { organizations: organizations.map((org) => renderOrganization(org, request.origin)), next_page: null, previous_page: null, count: organizations.length });
  });

  route("GET", `/organizations/${ID}`, (request, id) => {
    const org = getOrganization(BigInt(id));
    if (!org) throw notFound();
    return ok(200, { organization: renderOrganization(org, request.origin) });
  });

  route("PUT", `/organizations/${ID}`, (request, id) => {
    const org = getOrganization(BigInt(id));
    if (!org) throw notFound();
    const plan = planOrganizationWrite(org, readRoot(request, "organization"));
    plan.apply();
    account.counters.organizationsUpdated++;
    return ok(200, { organization: renderOrganization(org, request.origin) }, warnHeader(plan.warnings));
  });

  route("DELETE", `/organizations/${ID}`, (_request, id) => {
    const org = getOrganization(BigInt(id));
    if (!org) throw notFound();
    for (const membership of [...account.memberships.values()]) if (membership.organization_id === org.id) removeMembership(membership);
    account.organizations.delete(String(org.id));
    return ok(204, null);
  });

  route("GET", `/organizations/${ID}/organization_memberships`, (request, id) => {
    const org = getOrganization(BigInt(id));
    if (!org) throw notFound();
    const memberships = [...account.memberships.values()].filter((m) => m.organization_id === org.id).sort(byId);
    return ok(200, { organization_memberships: memberships.map((m) => renderMembership(m, request.origin)), next_page: null, previous_page: null, count: memberships.length });
  });

  // Unknown user or organization in the body: 422 (the body refers to nothing), like Rails'
  // association validation. Already a member: 422 DuplicateValue on user_id.
  route("POST", "/organization_memberships", (request) => {
    const attrs = readRoot(request, "organization_membership");
    const problems = new ValidationDetails();
    const user = getUser(toId(attrs.user_id));
    const org = getOrganization(toId(attrs.organization_id));
    if (!user || !user.active) problems.add("user", "BlankValue", "User: cannot be blank");
    if (!org) problems.add("organization", "BlankValue", "Organization: cannot be blank");
    problems.throwIfAny();
    if (membershipsOf(user).some((m) => m.organization_id === org.id)) {
      throw recordInvalid({ user_id: [{ description: "User is already a member of this organization", error: "DuplicateValue" }] });
    }
    const membership = addMembership(user, org);
    if (attrs.default === true) for (const other of membershipsOf(user)) other.default = other === membership;
    return ok(201, { organization_membership: renderMembership(membership, request.origin) }, { location: `${request.origin}/api/v2/organization_memberships/${membership.id}.json` });
  });

  route("GET", `/organization_memberships/${ID}`, (request, id) => {
    const membership = account.memberships.get(id);
    if (!membership) throw notFound();
    return ok(200, { organization_membership: renderMembership(membership, request.origin) });
  });

  route("DELETE", `/organization_memberships/${ID}`, (_request, id) => {
    const membership = account.memberships.get(id);
    if (!membership) throw notFound();
    removeMembership(membership);
    return ok(204, null);
  });

  // ----- authentication ------------------------------------------------------------------------------

  const couldNotAuthenticate = () => new ApiError(401, { error: "Couldn't authenticate you" });
  const invalidToken = () =>
    new ApiError(401, {
      error: "invalid_token",
      error_description: "The access token provided is expired, revoked, malformed or invalid for other reasons.",
    });

  function decodeBase64(text) {
    try {
      const binary = atob(text);
      return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
    } catch {
      return null;
    }
  }

  // Returns {scheme, email?} for an accepted header, else throws the 401 Zendesk would send.
  function authenticate(authorization) {
    const match = /^(Basic|Bearer)\s+(\S+)\s*$/i.exec(authorization ?? "");
    if (!match) throw couldNotAuthenticate();
    const scheme = match[1].toLowerCase();
    if (scheme === "basic") {
      const decoded = decodeBase64(match[2]);
      const colon = decoded?.indexOf(":") ?? -1;
      if (colon <= 0) throw couldNotAuthenticate();
      const login = decoded.slice(0, colon);
      const secret = decoded.slice(colon + 1);
      // "{email}/token:{token}" is an API token; "{email}:{password}" a password.
      const email = login.replace(/\/token$/i, "");
      if (config.auth) {
        const accepted = config.auth.basic.some((entry) =>
          entry.token !== undefined
            ? lower(login) === `${lower(entry.email.replace(/\/token$/i, ""))}/token` && secret === entry.token
            : lower(login) === lower(entry.email) && secret === entry.password,
        );
        if (!accepted) throw couldNotAuthenticate();
      }
      return { scheme, email };
    }
    const token = match[2];
    if (account.revokedTokens.has(token)) throw invalidToken();
    const expiresMs = account.issuedTokens.get(token);
    if (expiresMs !== undefined) {
      if (now() >= expiresMs) throw invalidToken();
      return { scheme };
    }
    const initialClientToken = account.oauthClients.some((client) => client.accessToken === token);
    if (config.auth && !config.auth.bearer.includes(token) && !initialClientToken) throw invalidToken();
    return { scheme };
  }

  // POST /oauth/tokens with grant_type=refresh_token (JSON or form-encoded).
  function handleOAuthToken(request) {
    if (request.method !== "POST") throw invalidEndpoint();
    let params;
    const body = request.body ?? "";
    if (/^\s*\{/.test(body)) {
      try {
        params = JSON.parse(body);
      } catch {
        throw new ApiError(400, { error: "invalid_request", error_description: "The request body could not be parsed." });
      }
    } else params = Object.fromEntries(new URLSearchParams(body));
    if (params.grant_type !== "refresh_token") {
      throw new ApiError(400, { error: "unsupported_grant_type", error_description: "The authorization grant type is not supported by the authorization server." });
    }
    const client = account.oauthClients.find((candidate) => candidate.clientId === params.client_id && candidate.clientSecret === params.client_secret);
    if (!client) {
      throw new ApiError(401, { error: "invalid_client", error_description: "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method." });
    }
    if (!params.refresh_token || params.refresh_token !== client.refreshToken) {
      throw new ApiError(400, { error: "invalid_grant", error_description: "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client." });
    }
    // A refresh invalidates the old pair: the old access token stops working and the old refresh
    // token can't be used again.
    if (client.accessToken) account.revokedTokens.add(client.accessToken);
    const accessToken = randomHex(account.tokenRandom, 64);
    const refreshToken = randomHex(account.tokenRandom, 64);
    client.accessToken = accessToken;
    client.refreshToken = refreshToken;
    account.issuedTokens.set(accessToken, now() + config.accessTokenTtlSeconds * 1000);
    account.counters.accessTokensIssued++;
    return ok(200, {
      access_token: accessToken,
      refresh_token: refreshToken,
      token_type: "bearer",
      scope: client.scope ?? "read write",
      expires_in: config.accessTokenTtlSeconds,
    }, { "cache-control": "no-store" });
  }

  // ----- rate limits and faults ---------------------------------------------------------------------

  function rateLimited(retryAfterMs, description) {
    account.counters.rateLimited++;
    return new ApiError(429, { error: "APIRateLimitExceeded", description }, { "retry-after": realSecondsText(retryAfterMs) });
  }

  // Account limit: fixed one-minute windows of simulated time. Returns headers for every answer.
  function takeAccountRateToken() {
    if (!config.rateLimitPerMinute) return { headers: {}, error: null };
    const at = now();
    const windowStart = Math.floor(at / 60000) * 60000;
    if (account.rateWindow.startMs !== windowStart) account.rateWindow = { startMs: windowStart, count: 0 };
    const limit = config.rateLimitPerMinute;
    const resetInMs = windowStart + 60000 - at;
    let error = null;
    if (account.rateWindow.count >= limit) {
      error = rateLimited(resetInMs, `Number of allowed API requests per minute exceeded (${limit})`);
    } else account.rateWindow.count++;
    const remaining = String(limit - account.rateWindow.count);
    const headers = {
      "x-rate-limit": String(limit),
      "x-rate-limit-remaining": remaining,
      "ratelimit-limit": String(limit),
      "ratelimit-remaining": remaining,
      "ratelimit-reset": realSecondsText(resetInMs),
    };
    return { headers, error };
  }

  // PUT /users/{id} and POST /users/create_or_update: 1 per second per account, 5 per minute per user.
  // Checked against the matched user before the write; the write (a create too) is then counted
  // for the user it landed on, whatever its outcome, through the returned `count(user)`.
  function enforceSingleUserWriteLimit(user) {
    if (!config.singleUserWriteLimit) return () => {};
    const at = now();
    const writes = account.singleUserWrites;
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

  // Decided before the request is applied: a faulted request never changes the account.
  function pickFault() {
    if (account.forcedFaults.length) return account.forcedFaults.shift();
    const faults = config.faults;
    if (!faults || !(faults.rate > 0) || faults.kinds.length === 0) return null;
    if (account.faultRandom() >= faults.rate) return null;
    const kind = faults.kinds[Math.floor(account.faultRandom() * faults.kinds.length)];
    if (kind === "503") return account.faultRandom() < 0.5 ? "503-retry-after" : "503-outage";
    return kind;
  }

  function faultResponse(kind) {
    const json = { "content-type": "application/json; charset=utf-8" };
    switch (kind) {
      case "500":
        return { status: 500, headers: json, body: toJson({ error: "InternalError", description: "Internal Server Error" }) };
      case "503-retry-after": // a transient database timeout
        return { status: 503, headers: { ...json, "retry-after": realSecondsText(1000) }, body: toJson({ error: "DatabaseTimeout", description: "The database timed out; retry after the given time" }) };
      case "503-outage": // no Retry-After: an outage
        return { status: 503, headers: json, body: toJson({ error: "ServiceUnavailable", description: "Service temporarily unavailable" }) };
      case "429-text": // the 429 body has been seen as plain text
        return { status: 429, headers: { "content-type": "text/plain; charset=utf-8", "retry-after": realSecondsText(1000) }, body: "Too Many Requests" };
      case "slow": // answered after delayMs (real ms), with a gateway timeout: nothing was written
        return { status: 504, headers: { "content-type": "text/html; charset=utf-8" }, body: "<html><body><h1>504 Gateway Time-out</h1></body></html>", delayMs: config.faults?.slowMs ?? 30000 };
      case "drop":
        return { status: 0, headers: {}, body: "", drop: true };
      default:
        throw new TypeError(`unknown fault kind ${kind}`);
    }
  }

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

    completeDueJobs();
    let response;
    let fault = null;
    try {
      if (path === "/oauth/tokens") {
        const result = handleOAuthToken(context);
        response = jsonResponse(result.status, result.body, result.headers);
      } else if (path === "/api/v2" || path.startsWith("/api/v2/")) {
        response = handleApi(context, (kind) => (fault = kind));
      } else throw invalidEndpoint();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      response = jsonResponse(error.status, error.body, error.headers);
    }

    account.counters.requests++;
    account.counters.responsesByStatus[response.status] = (account.counters.responsesByStatus[response.status] ?? 0) + 1;
    const entry = {
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      status: response.status,
      authorization: redactAuthorization(headers.authorization),
      body: path === "/oauth/tokens" && body ? "…redacted" : body, // the token request carries secrets
    };
    if (fault) entry.fault = fault;
    account.log.push(entry);
    return response;
  }

  function handleApi(context, noteFault) {
    let rateHeaders = {};
    try {
      context.identity = authenticate(context.headers.authorization);
      const rate = takeAccountRateToken();
      rateHeaders = rate.headers;
      if (rate.error) throw rate.error;
      const fault = pickFault();
      if (fault) {
        noteFault(fault);
        account.counters.faultsInjected++;
        const response = faultResponse(fault);
        if (!response.drop) Object.assign(response.headers, rateHeaders);
        return response;
      }
      const apiPath = context.path.slice("/api/v2".length);
      for (const candidate of routes) {
        if (candidate.method !== context.method) continue;
        const match = candidate.pattern.exec(apiPath);
        if (!match) continue;
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
      subdomain: config.subdomain,
      now: isoSeconds(now()),
      users: [...account.users.values()].sort(byId).map((user) => ({
        ...renderUser(user, origin),
        anonymous: user.anonymous,
        identities: user.identities.map((identity) => renderIdentity(identity, origin)),
      })),
      organizations: [...account.organizations.values()].sort(byId).map((org) => renderOrganization(org, origin)),
      memberships: [...account.memberships.values()].sort(byId).map((m) => renderMembership(m, origin)),
      userFields: account.userFields.map((field) => renderField(field, origin, "user_fields")),
      organizationFields: account.organizationFields.map((field) => renderField(field, origin, "organization_fields")),
      profiles: [...account.profiles.values()].map((profile) => ({
        id: profile.id,
        user_id: profile.user_id,
        source: profile.source,
        type: profile.type,
        identifiers: profile.identifiers.map((identifier) => ({ ...identifier })),
        attributes: { ...profile.attributes },
        created_at: isoSeconds(profile.createdMs),
        updated_at: isoSeconds(profile.updatedMs),
      })),
      events: account.events.map((event) => ({ ...event })),
      jobStatuses: [...account.jobs.values()].map((job) => renderJob(job, origin)),
      counters: {
        ...account.counters,
        responsesByStatus: { ...account.counters.responsesByStatus },
        sunshineSources: account.sunshineSources.size,
        sunshineTypes: account.sunshineTypes.size,
      },
    };
  }

  /**
   * Preloads records, bypassing the API's uniqueness checks on emails (real accounts can hold two
   * users with one email, e.g. through secondary identities) but not its type checks. Throws an Error
   * on malformed seed data. Returns the created records as state() renders them.
   */
  function seed(data = {}) {
    const origin = canonicalOrigin();
    const created = { users: [], organizations: [], memberships: [], userFields: [], organizationFields: [] };
    const countersBefore = structuredClone(account.counters);
    const withId = (kind, record, table) => {
      const id = record.id !== undefined ? toId(record.id) : allocateId(kind);
      if (id === null) throw new Error(`seed: ${kind} id ${record.id} is not a positive integer`);
      if (table && table.has(String(id))) throw new Error(`seed: ${kind} id ${id} already exists`);
      return id;
    };
    const fail = (what, error) => {
      if (error instanceof ApiError) throw new Error(`seed: invalid ${what}: ${toJson(error.body)}`);
      throw error;
    };

    for (const [list, fields, kind, key] of [
      [data.userFields, account.userFields, "userField", "userFields"],
      [data.organizationFields, account.organizationFields, "organizationField", "organizationFields"],
    ]) {
      for (const definition of list ?? []) {
        try {
          planFieldCreate(definition, fields);
        } catch (error) {
          fail("field", error);
        }
        const field = createField(definition, fields, kind);
        if (definition.id !== undefined) field.id = withId(kind, definition, null);
        created[key].push(renderField(field, origin, key === "userFields" ? "user_fields" : "organization_fields"));
      }
    }

    for (const record of data.organizations ?? []) {
      const id = withId("organization", record, account.organizations);
      let org;
      try {
        org = planOrganizationWrite(null, record).apply();
      } catch (error) {
        fail("organization", error);
      }
      account.organizations.delete(String(org.id));
      org.id = id;
      account.organizations.set(String(id), org);
      created.organizations.push(renderOrganization(org, origin));
    }

    for (const record of data.users ?? []) {
      const id = withId("user", record, account.users);
      const { emails = [], active = true, ...attrs } = record;
      let user;
      try {
        user = planUserWrite(null, { ...attrs, organization_id: undefined }, { allowDuplicateEmail: true }).apply();
      } catch (error) {
        fail("user", error);
      }
      account.users.delete(String(user.id));
      user.id = id;
      for (const identity of user.identities) identity.user_id = id;
      user.searchableFromMs = now(); // seeded users are already indexed
      account.users.set(String(id), user);
      for (const email of emails) addIdentity(user, "email", lower(email), false); // secondary emails
      if (record.organization_id !== undefined && record.organization_id !== null) {
        const org = getOrganization(toId(record.organization_id));
        if (!org) throw new Error(`seed: user ${id} refers to unknown organization ${record.organization_id}`);
        setDefaultOrganization(user, org);
      }
      user.active = active !== false;
      created.users.push({ ...renderUser(user, origin), identities: user.identities.map((identity) => renderIdentity(identity, origin)) });
    }

    for (const record of data.memberships ?? []) {
      const user = getUser(toId(record.user_id));
      const org = getOrganization(toId(record.organization_id));
      if (!user || !org) throw new Error(`seed: membership refers to unknown user ${record.user_id} or organization ${record.organization_id}`);
      if (membershipsOf(user).some((m) => m.organization_id === org.id)) continue;
      const membership = addMembership(user, org);
      if (record.id !== undefined) {
        account.memberships.delete(String(membership.id));
        membership.id = withId("membership", record, account.memberships);
        account.memberships.set(String(membership.id), membership);
      }
      if (record.default === true) for (const other of membershipsOf(user)) other.default = other === membership;
      created.memberships.push(renderMembership(membership, origin));
    }
    account.counters = countersBefore; // seeding is setup, not traffic
    return toPlain(created);
  }

  /** Changes options at run time (e.g. switch bulk import on). Accepts the createSimulator options. */
  function configure(changes = {}) {
    optionsGiven = { ...optionsGiven, ...changes };
    config = normalizeOptions(optionsGiven);
    if ("faults" in changes) account.faultRandom = config.faults ? seededRandom(config.faults.seed) : null;
  }

  return {
    handle,
    fetch: simulatedFetch,
    state: () => toPlain(snapshot()),
    stateJson: () => toJson(snapshot()),
    log: () => account.log.map((entry) => ({ ...entry, query: { ...entry.query } })),
    seed,
    reset,
    configure,
    /** The next requests (after auth and rate limiting) fail with these fault kinds, in order. */
    failNext: (...kinds) => {
      for (const kind of kinds.flat()) {
        if (!FAULT_KINDS.includes(kind)) throw new TypeError(`failNext: unknown fault kind "${kind}"`);
        account.forcedFaults.push(kind === "503" ? "503-retry-after" : kind); // "503" alone: the transient one
      }
    },
    /** Simulated time, ms since the epoch. */
    now: () => now(),
    get options() {
      return { ...config };
    },
  };
}
