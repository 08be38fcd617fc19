// Users: identities, lookups (deleted users never match), the write rules (validate everything first,
// then apply: a 422 never leaves a partial write), create_or_update's match rule, search, and the
// /users routes.

import { isoSeconds, toId, byId, lower, ApiError, notFound, ValidationDetails, indexAdd, indexDelete, normalizeTags, droppedKeys, warnHeader, readRoot, ok, paginate, ID } from "./util.js";
import { toJson } from "./json.js";
import { LARGE_ID_BASE, NORMAL_ID_BASE } from "./options.js";
import { ZENDESK_TIME_ZONES } from "./time-zones.js";

const USER_ROLES = new Set(["end-user", "agent", "admin"]);
const MAX_SHOW_MANY = 100;
const USER_WRITABLE_KEYS = new Set(["name", "email", "external_id", "phone", "time_zone", "locale", "organization_id", "role", "verified", "tags", "user_fields", "details", "notes", "alias"]);

/** Adds the users handlers and routes to the simulator core `sim`. */
export function installUsers(sim) {
  const phoneDigits = (phone) => String(phone).replace(/\D/g, "");
  const activeSorted = (set) => (set ? [...set].filter((user) => user.active).sort(byId) : []);

  function setExternalId(user, externalId) {
    if (user.external_id !== null) indexDelete(sim.account.index.usersByExternalId, lower(user.external_id), user);
    user.external_id = externalId;
    if (externalId !== null) indexAdd(sim.account.index.usersByExternalId, lower(externalId), user);
  }

  const activeUsers = () => [...sim.account.users.values()].filter((user) => user.active);
  const getUser = (id) => (id === null ? undefined : sim.account.users.get(String(id)));
  const primaryEmail = (user) => user.identities.find((i) => i.type === "email" && i.primary)?.value ?? null;
  const userEmails = (user) => user.identities.filter((i) => i.type === "email").map((i) => i.value);
  const userPhones = (user) => user.identities.filter((i) => i.type === "phone_number").map((i) => i.value);

  // Seeded data may hold two users with one email; the oldest (lowest id) is matched then.
  const findUsersByEmail = (email) => activeSorted(sim.account.index.usersByEmail.get(lower(email)));
  const findUserByEmail = (email) => findUsersByEmail(email)[0];
  const findUsersByExternalId = (externalId) => activeSorted(sim.account.index.usersByExternalId.get(lower(externalId)));
  const findUserByExternalId = (externalId) => findUsersByExternalId(externalId)[0];
  const findUserByPhone = (phone) => (phoneDigits(phone) ? activeSorted(sim.account.index.usersByPhone.get(phoneDigits(phone)))[0] : undefined);

  // A user's `verified` is its primary email identity's (assumption: Zendesk documents `verified` as
  // "any of the user's identities is verified"; this simulator follows the primary email, which is the
  // identity the "Update User" rule below writes). A user without an email identity keeps its own flag.
  function userVerified(user) {
    const primary = user.identities.find((i) => i.type === "email" && i.primary);
    return primary ? primary.verified : user.verified;
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
      organization_id: sim.defaultMembership(user)?.organization_id ?? null,
      role: user.role,
      verified: userVerified(user),
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
      user_fields: sim.renderFields(sim.account.userFields, user.user_fields),
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

    change.userFields = sim.checkCustomFieldValues(attrs.user_fields, sim.account.userFields, "user_fields", problems);

    if (attrs.organization_id !== undefined) {
      if (attrs.organization_id === null) change.organization = null;
      else {
        const organization = sim.getOrganization(toId(attrs.organization_id));
        // A real capture: a user write naming an organization that does not exist answers 404
        // RecordNotFound, not a 422 (/work/shared/reference/zendesk-api.md, "Conventions and errors").
        // That it comes before any validation error in the same write is an assumption.
        if (!organization) throw notFound();
        else change.organization = organization;
      }
    }

    problems.throwIfAny();
    const warnings = droppedKeys(attrs, USER_WRITABLE_KEYS);
    return { warnings, apply: () => applyUserWrite(user, change) };
  }

  function applyUserWrite(existing, change) {
    const at = sim.now();
    const user =
      existing ??
      {
        id: sim.allocateId("user"),
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
        searchableFromMs: at + sim.config.searchIndexLagMs, // search index lag for /users/search
        anonymous: false,
      };
    if (!existing) sim.account.users.set(String(user.id), user);

    for (const key of ["name", "time_zone", "locale", "role", "verified", "details", "notes", "alias", "tags"]) {
      if (key in change) user[key] = change[key];
    }
    // Zendesk's "Update User": when `verified` is the only identity value of an update, the primary
    // email identity's `verified` is set to it, so `verified: false` un-verifies the user. With an
    // email in the same write, the value goes to that new (secondary) identity instead.
    if (existing && "verified" in change && !change.email && !change.phone) {
      const primary = user.identities.find((i) => i.type === "email" && i.primary);
      if (primary) primary.verified = change.verified;
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
    user.tags = sim.applyCheckboxTags(user.tags, sim.account.userFields, fieldValues);
    if ("organization" in change) sim.setDefaultOrganization(user, change.organization);
    user.updatedMs = at;
    return user;
  }

  function addIdentity(user, type, value, verified) {
    const hasPrimary = user.identities.some((identity) => identity.type === type && identity.primary);
    const identity = {
      id: sim.allocateId("identity"),
      user_id: user.id,
      type,
      value,
      primary: !hasPrimary,
      verified: Boolean(verified),
      createdMs: sim.now(),
    };
    user.identities.push(identity);
    sim.account.index.identityIds.add(String(identity.id));
    if (type === "email") indexAdd(sim.account.index.usersByEmail, lower(value), user);
    if (type === "phone_number") indexAdd(sim.account.index.usersByPhone, phoneDigits(value), user);
  }

  // Setting organization_id makes it the default membership and removes all other memberships.
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
    const at = sim.now();
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

  // Search is index-backed: a new user appears only `searchIndexLagMs` after its creation ("new or
  // updated users can take minutes to appear in search", Zendesk's Search API). That `?external_id=`
  // on this endpoint lags too is an assumption (it is the search endpoint); the exact reads below
  // (GET /users?external_id=, GET /users/show_many) never lag.
  sim.route("GET", "/users/search", (request) => {
    const externalId = request.query.get("external_id");
    const query = request.query.get("query");
    let users;
    if (externalId !== null) users = findUsersByExternalId(externalId).filter((user) => user.searchableFromMs <= sim.now());
    else if (query !== null && query.trim()) users = searchUsers(query);
    else throw new ApiError(400, { error: "InvalidValue", description: "Provide query or external_id" });
    users.sort(byId);
    return ok(200, { users: users.map((user) => renderUser(user, request.origin)), next_page: null, previous_page: null, count: users.length });
  });

  sim.route("GET", "/users/show_many", (request) => {
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

  // List Users; `?external_id=` filters exactly, from the database (no search-index lag).
  sim.route("GET", "/users", (request) => {
    const externalId = request.query.get("external_id");
    if (externalId !== null) {
      const users = findUsersByExternalId(externalId);
      return ok(200, { users: users.map((user) => renderUser(user, request.origin)), next_page: null, previous_page: null, count: users.length });
    }
    const all = [...sim.account.users.values()].sort(byId);
    return ok(200, paginate(request, all, "users", (user) => renderUser(user, request.origin)));
  });

  // The authenticated agent, for "test connection" calls. Not part of the user table.
  sim.route("GET", "/users/me", (request) => {
    const email = request.identity.email ?? `oauth-agent@${sim.config.subdomain}.example`;
    return ok(200, { user: { id: sim.config.largeIds ? LARGE_ID_BASE - 1n : NORMAL_ID_BASE - 1n, name: sim.config.role === "admin" ? "Simulated Admin" : "Simulated Agent", email, role: sim.config.role, active: true, verified: true } });
  });

  sim.route("POST", "/users/create_or_update", (request) => {
    const attrs = readRoot(request, "user");
    const matched = matchUserForCreateOrUpdate(attrs);
    const countWrite = sim.enforceSingleUserWriteLimit(matched);
    let plan;
    try {
      plan = planUserWrite(matched, attrs);
    } finally {
      countWrite(matched);
    }
    const user = plan.apply();
    countWrite(matched ? null : user);
    sim.account.counters[matched ? "usersUpdated" : "usersCreated"]++;
    const headers = { ...warnHeader(plan.warnings), ...sim.singleUserWriteHeader(user), ...(matched ? {} : { location: `${request.origin}/api/v2/users/${user.id}.json` }) };
    return ok(matched ? 200 : 201, { user: renderUser(user, request.origin) }, headers);
  });

  sim.route("GET", `/users/${ID}`, (request, id) => {
    const user = getUser(BigInt(id));
    if (!user) throw notFound();
    return ok(200, { user: renderUser(user, request.origin) });
  });

  sim.route("PUT", `/users/${ID}`, (request, id) => {
    const user = getUser(BigInt(id));
    if (!user || !user.active) throw notFound(); // a soft-deleted user can no longer be updated
    const attrs = readRoot(request, "user");
    const countWrite = sim.enforceSingleUserWriteLimit(user);
    countWrite(user);
    const plan = planUserWrite(user, attrs);
    plan.apply();
    sim.account.counters.usersUpdated++;
    return ok(200, { user: renderUser(user, request.origin) }, { ...warnHeader(plan.warnings), ...sim.singleUserWriteHeader(user) });
  });

  // Soft delete: the user stays readable with active:false but no longer matches searches, emails or
  // external ids (so they can be used again), and loses its memberships.
  sim.route("DELETE", `/users/${ID}`, (request, id) => {
    const user = getUser(BigInt(id));
    if (!user || !user.active) throw notFound();
    user.active = false;
    user.updatedMs = sim.now();
    for (const membership of sim.membershipsOf(user)) sim.removeMembership(membership);
    sim.account.counters.usersDeleted++;
    return ok(200, { user: renderUser(user, request.origin) });
  });

  sim.route("GET", `/users/${ID}/identities`, (request, id) => {
    const user = getUser(BigInt(id));
    if (!user) throw notFound();
    return ok(200, { identities: user.identities.map((identity) => renderIdentity(identity, request.origin)), next_page: null, previous_page: null, count: user.identities.length });
  });

  sim.route("PUT", `/users/${ID}/identities/${ID}/make_primary`, (request, id, identityId) => {
    const user = getUser(BigInt(id));
    const identity = user?.identities.find((candidate) => candidate.id === BigInt(identityId));
    if (!user || !identity) throw notFound();
    for (const other of user.identities) if (other.type === identity.type) other.primary = other === identity;
    if (identity.type === "phone_number") user.phone = identity.value;
    user.updatedMs = sim.now();
    return ok(200, { identities: user.identities.map((item) => renderIdentity(item, request.origin)) });
  });

  Object.assign(sim, { phoneDigits, activeSorted, setExternalId, activeUsers, getUser, primaryEmail, userEmails, userPhones, findUsersByEmail, findUserByEmail, findUsersByExternalId, findUserByExternalId, findUserByPhone, renderUser, renderIdentity, planUserWrite, applyUserWrite, addIdentity, matchUserForCreateOrUpdate, parseUserQuery, searchUsers, userMatchesTerms });
}
