// Organization memberships: the default-organization rule and the membership routes.

import { isoSeconds, toId, byId, notFound, recordInvalid, ValidationDetails, indexAdd, indexDelete, readRoot, ok, ID } from "./util.js";

const ADMIN = { admin: true };

/** Adds the memberships handlers and routes to the simulator core `sim`. */
export function installMemberships(sim) {
  const membershipsOf = (user) => [...(sim.account.index.membershipsByUser.get(String(user.id)) ?? [])];
  const defaultMembership = (user) => membershipsOf(user).find((m) => m.default);

  function renderMembership(membership, origin) {
    return {
      id: membership.id,
      url: `${origin}/api/v2/organization_memberships/${membership.id}.json`,
      user_id: membership.user_id,
      organization_id: membership.organization_id,
      default: membership.default,
      organization_name: sim.getOrganization(membership.organization_id)?.name ?? null,
      view_tickets: true,
      created_at: isoSeconds(membership.createdMs),
      updated_at: isoSeconds(membership.updatedMs),
    };
  }

  function setDefaultOrganization(user, organization) {
    for (const membership of membershipsOf(user)) {
      if (!organization || membership.organization_id !== organization.id) removeMembership(membership);
    }
    if (!organization) return;
    const kept = membershipsOf(user)[0];
    if (kept) {
      kept.default = true;
      kept.updatedMs = sim.now();
    } else addMembership(user, organization);
  }

  function addMembership(user, organization) {
    const at = sim.now();
    const membership = {
      id: sim.allocateId("membership"),
      user_id: user.id,
      organization_id: organization.id,
      default: !defaultMembership(user), // the first membership becomes the default
      createdMs: at,
      updatedMs: at,
    };
    sim.account.memberships.set(String(membership.id), membership);
    indexAdd(sim.account.index.membershipsByUser, String(user.id), membership);
    sim.account.counters.membershipsCreated++;
    return membership;
  }

  function removeMembership(membership) {
    sim.account.memberships.delete(String(membership.id));
    indexDelete(sim.account.index.membershipsByUser, String(membership.user_id), membership);
    sim.account.counters.membershipsDeleted++;
    if (membership.default) {
      // Another membership (the oldest) becomes the default, as Zendesk keeps one when it can.
      const user = sim.getUser(membership.user_id);
      const next = user && membershipsOf(user)[0];
      if (next) next.default = true;
    }
  }

  sim.route("GET", `/users/${ID}/organization_memberships`, (request, id) => {
    const user = sim.getUser(BigInt(id));
    if (!user) throw notFound();
    const memberships = membershipsOf(user).sort(byId);
    return ok(200, { organization_memberships: memberships.map((m) => renderMembership(m, request.origin)), next_page: null, previous_page: null, count: memberships.length });
  });

  sim.route("DELETE", `/users/${ID}/organization_memberships/${ID}`, (_request, userId, membershipId) => {
    const membership = sim.account.memberships.get(membershipId);
    if (!membership || membership.user_id !== BigInt(userId)) throw notFound();
    removeMembership(membership);
    return ok(204, null);
  }, ADMIN);

  sim.route("DELETE", `/users/${ID}/organizations/${ID}`, (_request, userId, organizationId) => {
    const user = sim.getUser(BigInt(userId));
    const membership = user && membershipsOf(user).find((m) => m.organization_id === BigInt(organizationId));
    if (!membership) throw notFound(); // not a member (or unknown user/organization)
    removeMembership(membership);
    return ok(204, null);
  }, ADMIN);

  sim.route("GET", `/organizations/${ID}/organization_memberships`, (request, id) => {
    const org = sim.getOrganization(BigInt(id));
    if (!org) throw notFound();
    const memberships = [...sim.account.memberships.values()].filter((m) => m.organization_id === org.id).sort(byId);
    return ok(200, { organization_memberships: memberships.map((m) => renderMembership(m, request.origin)), next_page: null, previous_page: null, count: memberships.length });
  });

  // Unknown user or organization in the body: 422 (the body refers to nothing), like Rails'
  // association validation. Already a member: 422 DuplicateValue on user_id.
  sim.route("POST", "/organization_memberships", (request) => {
    const attrs = readRoot(request, "organization_membership");
    const problems = new ValidationDetails();
    const user = sim.getUser(toId(attrs.user_id));
    const org = sim.getOrganization(toId(attrs.organization_id));
    if (!user || !user.active) problems.add("user", "BlankValue", "User: cannot be blank");
    if (!org) problems.add("organization", "BlankValue", "Organization: cannot be blank");
    problems.throwIfAny();
    if (membershipsOf(user).some((m) => m.organization_id === org.id)) {
      throw recordInvalid({ user_id: [{ description: "User is already a member of this organization", error: "DuplicateValue" }] });
    }
    const membership = addMembership(user, org);
    if (attrs.default === true) for (const other of membershipsOf(user)) other.default = other === membership;
    return ok(201, { organization_membership: renderMembership(membership, request.origin) }, { location: `${request.origin}/api/v2/organization_memberships/${membership.id}.json` });
  }, ADMIN);

  sim.route("GET", `/organization_memberships/${ID}`, (request, id) => {
    const membership = sim.account.memberships.get(id);
    if (!membership) throw notFound();
    return ok(200, { organization_membership: renderMembership(membership, request.origin) });
  });

  sim.route("DELETE", `/organization_memberships/${ID}`, (_request, id) => {
    const membership = sim.account.memberships.get(id);
    if (!membership) throw notFound();
    removeMembership(membership);
    return ok(204, null);
  }, ADMIN);

  Object.assign(sim, { membershipsOf, defaultMembership, renderMembership, setDefaultOrganization, addMembership, removeMembership });
}
