// Organizations: lookups by external id and name, the write rules and the /organizations routes.

import { isoSeconds, toId, byId, lower, ApiError, notFound, ValidationDetails, normalizeTags, droppedKeys, warnHeader, readRoot, ok, ID } from "./util.js";

const ORGANIZATION_WRITABLE_KEYS = new Set(["name", "external_id", "domain_names", "tags", "details", "notes", "group_id", "shared_tickets", "shared_comments", "organization_fields"]);

const ADMIN = { admin: true };

/** Adds the organizations handlers and routes to the simulator core `sim`. */
export function installOrganizations(sim) {
  const getOrganization = (id) => (id === null ? undefined : sim.account.organizations.get(String(id)));

  function findOrganizationByExternalId(externalId) {
    const wanted = lower(externalId);
    return [...sim.account.organizations.values()].find((org) => org.external_id !== null && lower(org.external_id) === wanted);
  }

  function findOrganizationByName(name) {
    const wanted = lower(name);
    return [...sim.account.organizations.values()].find((org) => lower(org.name) === wanted);
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
      organization_fields: sim.renderFields(sim.account.organizationFields, org.organization_fields),
      created_at: isoSeconds(org.createdMs),
      updated_at: isoSeconds(org.updatedMs),
    };
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

    change.organizationFields = sim.checkCustomFieldValues(attrs.organization_fields, sim.account.organizationFields, "organization_fields", problems);
    problems.throwIfAny();

    // `url` is the API link (read-only) and `deleted` is no Zendesk attribute: both dropped, with a warning.
    const warnings = droppedKeys(attrs, ORGANIZATION_WRITABLE_KEYS).filter((key) => key !== "id");
    return { warnings, apply: () => applyOrganizationWrite(org, change) };
  }

  function applyOrganizationWrite(existing, change) {
    const at = sim.now();
    const org =
      existing ??
      {
        id: sim.allocateId("organization"),
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
    if (!existing) sim.account.organizations.set(String(org.id), org);
    for (const key of ["name", "external_id", "domain_names", "tags", "details", "notes", "group_id", "shared_tickets", "shared_comments"]) {
      if (key in change) org[key] = change[key];
    }
    Object.assign(org.organization_fields, change.organizationFields);
    org.tags = sim.applyCheckboxTags(org.tags, sim.account.organizationFields, change.organizationFields);
    org.updatedMs = at;
    return org;
  }

  // Matches only by `id` or `external_id` (case-insensitive), never by name. An unknown `id` is 404.
  sim.route("POST", "/organizations/create_or_update", (request) => {
    const attrs = readRoot(request, "organization");
    let matched = null;
    if (attrs.id !== undefined && attrs.id !== null) {
      matched = getOrganization(toId(attrs.id));
      if (!matched) throw notFound();
    } else if (attrs.external_id !== undefined && attrs.external_id !== null && attrs.external_id !== "") {
      matched = findOrganizationByExternalId(String(attrs.external_id)) ?? null;
    }
    sim.enforceOrganizationUpdateLimit(matched);
    const plan = planOrganizationWrite(matched, attrs);
    const org = plan.apply();
    sim.account.counters[matched ? "organizationsUpdated" : "organizationsCreated"]++;
    const headers = { ...warnHeader(plan.warnings), ...(matched ? {} : { location: `${request.origin}/api/v2/organizations/${org.id}.json` }) };
    return ok(matched ? 200 : 201, { organization: renderOrganization(org, request.origin) }, headers);
  }, ADMIN);

  sim.route("POST", "/organizations", (request) => {
    const attrs = readRoot(request, "organization");
    const plan = planOrganizationWrite(null, attrs);
    const org = plan.apply();
    sim.account.counters.organizationsCreated++;
    return ok(201, { organization: renderOrganization(org, request.origin) }, warnHeader(plan.warnings));
  }, ADMIN);

  sim.route("GET", "/organizations/search", (request) => {
    const externalId = request.query.get("external_id");
    const name = request.query.get("name");
    let organizations;
    if (externalId !== null) organizations = [...sim.account.organizations.values()].filter((org) => org.external_id !== null && lower(org.external_id) === lower(externalId));
    else if (name !== null) organizations = [...sim.account.organizations.values()].filter((org) => lower(org.name) === lower(name));
    else throw new ApiError(400, { error: "InvalidValue", description: "Provide external_id or name" });
    organizations.sort(byId);
    return ok(200, { organizations: organizations.map((org) => renderOrganization(org, request.origin)), next_page: null, previous_page: null, count: organizations.length });
  });

  // Exact reads by id or external_id, at most 100 (Zendesk's reference: Show Many Organizations).
  sim.route("GET", "/organizations/show_many", (request) => {
    const ids = request.query.get("ids");
    const externalIds = request.query.get("external_ids");
    if (ids === null && externalIds === null) throw new ApiError(400, { error: "InvalidValue", description: "Provide ids or external_ids" });
    const list = (ids ?? externalIds).split(",").map((item) => item.trim()).filter(Boolean);
    if (list.length > 100) throw new ApiError(400, { error: "InvalidValue", description: "At most 100 values" });
    const found = list.map((item) => (ids !== null ? getOrganization(toId(item)) : findOrganizationByExternalId(item))).filter(Boolean);
    const unique = [...new Set(found)].sort(byId);
    return ok(200, { organizations: unique.map((org) => renderOrganization(org, request.origin)), next_page: null, previous_page: null, count: unique.length });
  });

  sim.route("GET", `/organizations/${ID}`, (request, id) => {
    const org = getOrganization(BigInt(id));
    if (!org) throw notFound();
    return ok(200, { organization: renderOrganization(org, request.origin) });
  });

  sim.route("PUT", `/organizations/${ID}`, (request, id) => {
    const org = getOrganization(BigInt(id));
    if (!org) throw notFound();
    sim.enforceOrganizationUpdateLimit(org);
    const plan = planOrganizationWrite(org, readRoot(request, "organization"));
    plan.apply();
    sim.account.counters.organizationsUpdated++;
    return ok(200, { organization: renderOrganization(org, request.origin) }, warnHeader(plan.warnings));
  }, ADMIN);

  sim.route("DELETE", `/organizations/${ID}`, (_request, id) => {
    const org = getOrganization(BigInt(id));
    if (!org) throw notFound();
    for (const membership of [...sim.account.memberships.values()]) if (membership.organization_id === org.id) sim.removeMembership(membership);
    sim.account.organizations.delete(String(org.id));
    return ok(204, null);
  }, ADMIN);

  Object.assign(sim, { getOrganization, findOrganizationByExternalId, findOrganizationByName, renderOrganization, planOrganizationWrite, applyOrganizationWrite });
}
