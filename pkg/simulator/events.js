// Sunshine events: POST /users/{id}/events and /user_profiles/events, with their profiles.

import { isoSeconds, isPlainObject, lower, sunshineError, readJson, ok, ID } from "./util.js";

const SUNSHINE_MAX_IDENTIFIER_LENGTH = 60;
const SUNSHINE_MAX_SOURCES = 50;
const SUNSHINE_MAX_TYPES = 2500;

/** Adds the events handlers and routes to the simulator core `sim`. */
export function installEvents(sim) {
  const nextSunshineId = () => "01HZSIM" + String(++sim.account.sunshineSequence).padStart(19, "0");

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
    if (!sim.account.sunshineSources.has(event.source) && sim.account.sunshineSources.size >= SUNSHINE_MAX_SOURCES) {
      throw sunshineError(400, "BadRequest", `Too many distinct event sources (limit ${SUNSHINE_MAX_SOURCES})`);
    }
    if (!sim.account.sunshineTypes.has(event.type) && sim.account.sunshineTypes.size >= SUNSHINE_MAX_TYPES) {
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
        type === "email" ? sim.findUserByEmail(value) : type === "external_id" ? sim.findUserByExternalId(value) : type === "phone_number" ? sim.findUserByPhone(value) : undefined;
      if (user) return user;
    }
    return null;
  }

  function createAnonymousUser(profile) {
    const email = profile.identifiers.find((identifier) => identifier.type === "email")?.value;
    const user = sim.applyUserWrite(null, { name: typeof profile.name === "string" && profile.name ? profile.name : email ?? "Anonymous user" });
    user.anonymous = true;
    sim.account.counters.anonymousUsersCreated++;
    sim.account.counters.usersCreated++;
    return user;
  }

  // Identifiers on the profile are written back onto the user, where no one else holds them.
  function writeBackIdentifiers(user, identifiers) {
    for (const { type, value } of identifiers) {
      if (type === "email" && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value) && !sim.findUserByEmail(value)) {
        sim.addIdentity(user, "email", value.toLowerCase(), false);
      } else if (type === "external_id" && user.external_id === null && !sim.findUserByExternalId(value)) {
        sim.setExternalId(user, value);
      } else if (type === "phone_number" && !sim.findUserByPhone(value)) {
        if (!user.phone) user.phone = value;
        sim.addIdentity(user, "phone_number", value, false);
      }
    }
  }

  function recordSunshineEvent(user, profile, event, via) {
    const at = sim.now();
    const source = profile?.source ?? event.source;
    const type = profile?.type ?? "user";
    const profileKey = `${user.id}|${source}|${type}`;
    let stored = sim.account.profiles.get(profileKey);
    if (!stored) {
      stored = { id: nextSunshineId(), user_id: user.id, source, type, identifiers: [], attributes: {}, createdMs: at };
      sim.account.profiles.set(profileKey, stored);
    }
    for (const identifier of profile?.identifiers ?? []) {
      if (!stored.identifiers.some((known) => known.type === identifier.type && known.value === identifier.value)) {
        stored.identifiers.push({ type: identifier.type, value: identifier.value });
      }
    }
    if (isPlainObject(profile?.attributes)) Object.assign(stored.attributes, profile.attributes);
    stored.updatedMs = at;

    sim.account.sunshineSources.add(event.source);
    sim.account.sunshineTypes.add(event.type);
    sim.account.events.push({
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
    sim.account.counters.eventsReceived++;
    return { profile_id: stored.id, status: "received", user_id: String(user.id) };
  }

  sim.route("POST", `/users/${ID}/events`, (request, id) => {
    const user = sim.getUser(BigInt(id));
    if (!user || !user.active) throw sunshineError(404, "NotFound", "User not found");
    const body = readJson(request);
    if (!isPlainObject(body)) throw sunshineError(400, "BadRequest", "body must be an object");
    if (body.profile !== undefined) checkSunshineProfile(body.profile);
    checkSunshineEvent(body.event);
    if (body.profile) writeBackIdentifiers(user, body.profile.identifiers);
    return ok(202, recordSunshineEvent(user, body.profile, body.event, "users"));
  });

  sim.route("POST", "/user_profiles/events", (request) => {
    const body = readJson(request);
    if (!isPlainObject(body)) throw sunshineError(400, "BadRequest", "body must be an object");
    checkSunshineProfile(body.profile);
    checkSunshineEvent(body.event);
    // When no identifier matches a user, Zendesk creates an anonymous user for the profile.
    const user = matchProfileUser(body.profile.identifiers) ?? createAnonymousUser(body.profile);
    writeBackIdentifiers(user, body.profile.identifiers);
    return ok(202, recordSunshineEvent(user, body.profile, body.event, "user_profiles"));
  });

  Object.assign(sim, { nextSunshineId, checkSunshineEvent, checkSunshineProfile, matchProfileUser, createAnonymousUser, writeBackIdentifiers, recordSunshineEvent });
}
