// seed(): preloads an account's records for tests and demos, outside the API's traffic counters.

import { toJson, toPlain } from "./json.js";
import { toId, lower, ApiError } from "./util.js";

/**
 * Preloads records, bypassing the API's uniqueness checks on emails (real accounts can hold two
 * users with one email, e.g. through secondary identities) but not its type checks. Throws an Error
 * on malformed seed data. Returns the created records as state() renders them.
 */
export function seed(sim, data = {}) {
  const origin = sim.canonicalOrigin();
  const created = { users: [], organizations: [], memberships: [], userFields: [], organizationFields: [] };
  const countersBefore = structuredClone(sim.account.counters);
  const withId = (kind, record, table) => {
    const id = record.id !== undefined ? toId(record.id) : sim.allocateId(kind);
    if (id === null) throw new Error(`seed: ${kind} id ${record.id} is not a positive integer`);
    if (table && table.has(String(id))) throw new Error(`seed: ${kind} id ${id} already exists`);
    return id;
  };
  const fail = (what, error) => {
    if (error instanceof ApiError) throw new Error(`seed: invalid ${what}: ${toJson(error.body)}`);
    throw error;
  };

  for (const [list, fields, kind, key] of [
    [data.userFields, sim.account.userFields, "userField", "userFields"],
    [data.organizationFields, sim.account.organizationFields, "organizationField", "organizationFields"],
  ]) {
    for (const definition of list ?? []) {
      try {
        sim.planFieldCreate(definition, fields);
      } catch (error) {
        fail("field", error);
      }
      const field = sim.createField(definition, fields, kind);
      if (definition.id !== undefined) field.id = withId(kind, definition, null);
      created[key].push(sim.renderField(field, origin, key === "userFields" ? "user_fields" : "organization_fields"));
    }
  }

  for (const record of data.organizations ?? []) {
    const id = withId("organization", record, sim.account.organizations);
    let org;
    try {
      org = sim.planOrganizationWrite(null, record).apply();
    } catch (error) {
      fail("organization", error);
    }
    sim.account.organizations.delete(String(org.id));
    org.id = id;
    sim.account.organizations.set(String(id), org);
    created.organizations.push(sim.renderOrganization(org, origin));
  }

  for (const record of data.users ?? []) {
    const id = withId("user", record, sim.account.users);
    const { emails = [], active = true, ...attrs } = record;
    let user;
    try {
      user = sim.planUserWrite(null, { ...attrs, organization_id: undefined }, { allowDuplicateEmail: true }).apply();
    } catch (error) {
      fail("user", error);
    }
    sim.account.users.delete(String(user.id));
    user.id = id;
    for (const identity of user.identities) identity.user_id = id;
    user.searchableFromMs = sim.now(); // seeded users are already indexed
    sim.account.users.set(String(id), user);
    for (const email of emails) sim.addIdentity(user, "email", lower(email), false); // secondary emails
    if (record.organization_id !== undefined && record.organization_id !== null) {
      const org = sim.getOrganization(toId(record.organization_id));
      if (!org) throw new Error(`seed: user ${id} refers to unknown organization ${record.organization_id}`);
      sim.setDefaultOrganization(user, org);
    }
    user.active = active !== false;
    created.users.push({ ...sim.renderUser(user, origin), identities: user.identities.map((identity) => sim.renderIdentity(identity, origin)) });
  }

  for (const record of data.memberships ?? []) {
    const user = sim.getUser(toId(record.user_id));
    const org = sim.getOrganization(toId(record.organization_id));
    if (!user || !org) throw new Error(`seed: membership refers to unknown user ${record.user_id} or organization ${record.organization_id}`);
    if (sim.membershipsOf(user).some((m) => m.organization_id === org.id)) continue;
    const membership = sim.addMembership(user, org);
    if (record.id !== undefined) {
      sim.account.memberships.delete(String(membership.id));
      membership.id = withId("membership", record, sim.account.memberships);
      sim.account.memberships.set(String(membership.id), membership);
    }
    if (record.default === true) for (const other of sim.membershipsOf(user)) other.default = other === membership;
    created.memberships.push(sim.renderMembership(membership, origin));
  }
  sim.account.counters = countersBefore; // seeding is setup, not traffic
  return toPlain(created);
}
