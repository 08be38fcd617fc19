// The preview's pure parts: examples, scenario seeds, JSON errors and layout, curl. No DOM here.

/** The seed's identify traits, shared by its standard-attributes and removal examples. */
const PIKACHU = Object.freeze({
  name: "Pikachu",
  email: "pikachu@pokemon.com",
  timezone: "America/Los_Angeles",
  organizationId: 6789,
  phone: "763-555-2342",
});

/** Ready examples: the seed documentation's calls as Segment events, plus two edge cases. */
export const EXAMPLES = [
  {
    id: "identify",
    label: "Identify",
    event: {
      type: "identify",
      userId: "97980cfea0067",
      traits: { name: "Peter Gibbons", email: "peter@example.com", plan: "premium", logins: 5 },
    },
  },
  {
    id: "identify-attributes",
    label: "Identify (standard attributes)",
    event: {
      type: "identify",
      userId: "12345",
      traits: PIKACHU,
    },
  },
  {
    id: "removal",
    label: "Remove from organization",
    event: {
      type: "identify",
      userId: "12345",
      traits: { ...PIKACHU, company: { id: "6789", remove: true } },
    },
  },
  {
    id: "track",
    label: "Track",
    event: {
      type: "track",
      userId: "97980cfea0067",
      event: "Article Completed",
      properties: { title: "How to Create a Tracking Plan", course: "Intro to Analytics" },
    },
  },
  {
    id: "group",
    label: "Group",
    event: {
      type: "group",
      groupId: "908172409",
      userId: "6789",
      traits: { name: "LA Lakers", url: "https://lakers.com", deleted: false },
    },
  },
  {
    id: "page",
    label: "Page",
    event: { type: "page", userId: "97980cfea0067", name: "Pricing", properties: { url: "https://example.com/pricing" } },
  },
  {
    id: "track-unnamed",
    label: "Track without a name",
    event: { type: "track", userId: "97980cfea0067", properties: { title: "How to Create a Tracking Plan" } },
  },
];

/** The lookups' starting points, seeded into a fresh in-memory simulator for every plan. */
export const SCENARIOS = [
  { id: "empty", label: "Empty account", hint: "No users, organizations or custom fields yet." },
  { id: "user", label: "User already there", hint: "A user with this event's email and userId exists." },
  { id: "several", label: "Several users with this email", hint: "Two users share this event's email." },
  { id: "organization", label: "Organization already there", hint: "The event's organization exists, with the user as a member." },
];

const USER_ID = 361000000001;
const SECOND_USER_ID = 361000000002;
const ORGANIZATION_ID = 362000000001;

const text = (value) => (typeof value === "string" && value.trim() ? value.trim() : typeof value === "number" ? String(value) : null);

/** Who and what the event names, for seeding: email, userId, the organization's external id. */
export function eventSubjects(event) {
  const e = event && typeof event === "object" && !Array.isArray(event) ? event : {};
  const traits = e.traits && typeof e.traits === "object" ? e.traits : {};
  const properties = e.properties && typeof e.properties === "object" ? e.properties : {};
  const contextTraits = e.context?.traits && typeof e.context.traits === "object" ? e.context.traits : {};
  const company = traits.company && typeof traits.company === "object" ? traits.company : {};
  const type = typeof e.type === "string" ? e.type.toLowerCase() : "";
  return {
    email: text(traits.email) ?? text(properties.email) ?? text(contextTraits.email),
    userId: text(e.userId),
    name: type === "identify" ? text(traits.name) : null,
    organization: text(e.groupId) ?? text(company.id) ?? null,
    organizationName: type === "group" ? text(traits.name) : text(company.name),
    organizationId: typeof traits.organizationId === "number" ? traits.organizationId : null,
  };
}

/**
 * Seed data (`simulator.seed()`) for a scenario and an event. `null` for the empty account.
 * Returns `{seed, summary}`: summary lines say what was put in the account.
 */
export function scenarioSeed(scenario, event) {
  const s = eventSubjects(event);
  const email = s.email ?? "peter@example.com";
  const user = (id, name) => {
    const u = { id, name, email };
    if (s.userId && id === USER_ID) u.external_id = s.userId;
    return u;
  };
  if (scenario === "user") {
    const seed = { users: [user(USER_ID, "Existing User")] };
    return { seed, summary: [`user ${USER_ID}: ${email}${s.userId ? `, external_id ${s.userId}` : ""}`] };
  }
  if (scenario === "several") {
    const seed = { users: [{ id: USER_ID, name: "Existing User", email }, { id: SECOND_USER_ID, name: "Same Email", email }] };
    return { seed, summary: [`user ${USER_ID}: ${email}`, `user ${SECOND_USER_ID}: ${email}`] };
  }
  if (scenario === "organization") {
    const externalId = s.organization ?? "908172409";
    // A numeric organizationId names the organization by its Zendesk id, so that one is seeded too.
    const id = s.organizationId && s.organizationId > 0 && Number.isSafeInteger(s.organizationId) ? s.organizationId : ORGANIZATION_ID;
    const organization = { id, name: s.organizationName ?? "Existing Organization", external_id: externalId };
    const seed = {
      organizations: [organization],
      users: [{ ...user(USER_ID, "Existing User"), organization_id: id }],
      memberships: [{ user_id: USER_ID, organization_id: id }],
    };
    return {
      seed,
      summary: [
        `organization ${id}: ${organization.name}, external_id ${externalId}`,
        `user ${USER_ID}: ${email}${s.userId ? `, external_id ${s.userId}` : ""}, member of organization ${id}`,
      ],
    };
  }
  return { seed: null, summary: [] };
}

/**
 * JSON.parse with an error that says where: `{ok: true, value}` or `{ok: false, message, line, column,
 * offset}` (line and column from 1). Works from the message formats of V8, SpiderMonkey and JSC, and
 * falls back to scanning when the message carries no position.
 */
export function parseJson(source) {
  try {
    return { ok: true, value: JSON.parse(source) };
  } catch (error) {
    const message = String(error?.message ?? error);
    let offset = null;
    let line = null;
    let column = null;
    const lc = message.match(/line (\d+) column (\d+)/i);
    const pos = message.match(/position (\d+)/i);
    if (lc) {
      line = Number(lc[1]);
      column = Number(lc[2]);
      offset = offsetOf(source, line, column);
    } else if (pos) {
      offset = Number(pos[1]);
    } else if (/end of (JSON )?(input|data)/i.test(message)) {
      offset = source.length;
    }
    if (offset === null) offset = scanForError(source);
    if (line === null) ({ line, column } = lineColumn(source, offset));
    const reason = message
      .replace(/^JSON\.parse:\s*/i, "")
      .replace(/\s*\(line \d+ column \d+\)/i, "")
      .replace(/\s+at line \d+ column \d+ of the JSON data/i, "")
      .replace(/\s+(?:in JSON )?at position \d+/i, "")
      // V8 quotes the text around the error, which holds quotes itself: `Unexpected token '}', "{"a": tru}" is not valid JSON`
      .replace(/,\s*(?:\.\.\.)?".*"(?:\.\.\.)?\s+is not valid JSON$/is, "")
      .trim();
    return { ok: false, message: reason || "invalid JSON", line, column, offset };
  }
}

function offsetOf(source, line, column) {
  let offset = 0;
  for (let l = 1; l < line; l++) {
    const next = source.indexOf("\n", offset);
    if (next < 0) return source.length;
    offset = next + 1;
  }
  return Math.min(offset + column - 1, source.length);
}

export function lineColumn(source, offset) {
  const before = source.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - (before.lastIndexOf("\n") + 1) + 1;
  return { line, column };
}

/** The longest prefix that still parses as the start of JSON: a rough position when no engine gives one. */
function scanForError(source) {
  let low = 0;
  let high = source.length;
  const valid = (n) => {
    try {
      JSON.parse(source.slice(0, n));
      return true;
    } catch (error) {
      return /end of|unterminated|unexpected end/i.test(String(error?.message));
    }
  };
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (valid(mid)) low = mid;
    else high = mid - 1;
  }
  return low;
}

/**
 * Re-indents JSON text without parsing it into JS numbers: ids beyond 2^53 stay exact.
 * Text that is not JSON comes back unchanged.
 */
export function prettyJson(source, indent = "  ") {
  if (typeof source !== "string" || source.trim() === "") return source ?? "";
  try {
    JSON.parse(source);
  } catch {
    return source;
  }
  let out = "";
  let depth = 0;
  let inString = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (inString) {
      out += c;
      if (c === "\\") out += source[++i];
      else if (c === '"') inString = false;
      continue;
    }
    if (c === " " || c === "\n" || c === "\r" || c === "\t") continue;
    if (c === '"') {
      inString = true;
      out += c;
    } else if (c === "{" || c === "[") {
      const close = c === "{" ? "}" : "]";
      let j = i + 1;
      while (/\s/.test(source[j] ?? "")) j++;
      if (source[j] === close) {
        out += c + close;
        i = j;
      } else {
        depth++;
        out += c + "\n" + indent.repeat(depth);
      }
    } else if (c === "}" || c === "]") {
      depth--;
      out += "\n" + indent.repeat(depth) + c;
    } else if (c === ",") {
      out += ",\n" + indent.repeat(depth);
    } else if (c === ":") {
      out += ": ";
    } else {
      out += c;
    }
  }
  return out;
}

/** POSIX shell single-quoting. */
export function shellQuote(value) {
  return `'${String(value).replace(/'/g, `'\\''`)}'`;
}

/**
 * The request as a curl command. The credential is never in it: it reads shell variables instead
 * (ZENDESK_EMAIL with ZENDESK_API_TOKEN or ZENDESK_PASSWORD, or ZENDESK_OAUTH_TOKEN).
 * `auth` is "token" (email/token + API token), "password" or "oauth".
 */
export function toCurl(request, auth) {
  const lines = [`curl${request.method === "GET" ? "" : ` -X ${request.method}`} ${shellQuote(request.url)}`];
  if (auth === "oauth") lines.push(`-H "Authorization: Bearer $ZENDESK_OAUTH_TOKEN"`);
  else if (auth === "password") lines.push(`-u "$ZENDESK_EMAIL:$ZENDESK_PASSWORD"`);
  else lines.push(`-u "$ZENDESK_EMAIL/token:$ZENDESK_API_TOKEN"`);
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    if (name.toLowerCase() === "authorization") continue;
    lines.push(`-H ${shellQuote(`${name}: ${value}`)}`);
  }
  if (request.body !== null && request.body !== undefined && request.body !== "") lines.push(`--data-raw ${shellQuote(request.body)}`);
  return lines.join(" \\\n  ");
}

/** Which kind of credential the settings use, for curl's placeholders and the Send buttons. */
export function authKind(settings) {
  if (settings?.oauthToken !== undefined) return "oauth";
  return typeof settings?.email === "string" && /\/token$/i.test(settings.email.trim()) ? "token" : "password";
}

/**
 * Redacts a credential in an Authorization value: keeps the scheme only.
 * (The host's plan() already redacts; this is the page's own belt and braces before any rendering.)
 */
export function redactAuthorization(value) {
  const scheme = String(value ?? "").trim().split(/\s+/)[0] ?? "";
  return scheme ? `${scheme} [redacted]` : "[redacted]";
}
