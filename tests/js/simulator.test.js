// The in-memory Zendesk simulator, driven through handle() and fetch() as a host would.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSimulator, parseJsonExact, toJson } from "../../pkg/simulator.js";

const BASIC = "Basic " + btoa("agent@acme.com/token:secret-token");
const ORIGIN = "https://acme.zendesk.com";

/** A tiny client over sim.handle: JSON in, {status, headers, json} out. */
function client(sim, { authorization = BASIC } = {}) {
  return (method, path, body) => {
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (authorization) headers.Authorization = authorization;
    const response = sim.handle({
      method,
      url: path.startsWith("/oauth") ? ORIGIN + path : `${ORIGIN}/api/v2${path}`,
      headers,
      body: body === undefined ? null : typeof body === "string" ? body : toJson(body),
    });
    let json = null;
    try {
      json = response.body ? parseJsonExact(response.body) : null;
    } catch {
      json = null;
    }
    return { ...response, json };
  };
}

/** A clock the test moves by hand. */
function manualClock(startMs = Date.UTC(2026, 0, 31, 12, 0, 0)) {
  let nowMs = startMs;
  const clock = () => nowMs;
  clock.advance = (ms) => (nowMs += ms);
  return clock;
}

const upsertUser = (call, user) => call("POST", "/users/create_or_update.json", { user });

test("create_or_update answers 201 on create and 200 on update, matching external_id case-insensitively", () => {
  const sim = createSimulator();
  const call = client(sim);
  const created = upsertUser(call, { name: "Peter Gibbons", email: "Peter@Example.com", external_id: "ABC-1" });
  assert.equal(created.status, 201);
  assert.equal(created.json.user.email, "peter@example.com");
  assert.equal(created.json.user.external_id, "ABC-1");
  assert.match(created.headers.location, /\/api\/v2\/users\/\d+\.json$/);

  const updated = upsertUser(call, { name: "Peter G.", external_id: "abc-1" });
  assert.equal(updated.status, 200);
  assert.equal(updated.json.user.id, created.json.user.id);
  assert.equal(updated.json.user.name, "Peter G.");
  assert.equal(sim.state().users.length, 1);

  // exact lookups are case-insensitive too
  assert.equal(call("GET", "/users.json?external_id=ABC-1").json.count, 1);
  const shown = call("GET", "/users/show_many.json?external_ids=abc-1,missing");
  assert.deepEqual(shown.json.users.map((u) => u.id), [created.json.user.id]);
});

test("create_or_update matches by email when no external_id matches; name is required on create", () => {
  const sim = createSimulator();
  const call = client(sim);
  const first = upsertUser(call, { name: "Ann", email: "ann@example.com" });
  const byEmail = upsertUser(call, { email: "ANN@example.com", external_id: "u-ann" });
  assert.equal(byEmail.status, 200);
  assert.equal(byEmail.json.user.id, first.json.user.id);
  assert.equal(byEmail.json.user.external_id, "u-ann");

  const nameless = upsertUser(call, { email: "new@example.com" });
  assert.equal(nameless.status, 422);
  assert.equal(nameless.json.error, "RecordInvalid");
  assert.equal(nameless.json.details.name[0].error, "BlankValue");
  assert.equal(sim.state().users.length, 1);
});

test("an email on update is added as a secondary identity; the primary email stays", () => {
  const sim = createSimulator({ searchIndexLagMs: 0 });
  const call = client(sim);
  const { json } = upsertUser(call, { name: "Ann", email: "ann@example.com", external_id: "u1" });
  const updated = call("PUT", `/users/${json.user.id}.json`, { user: { email: "ann@work.example" } });
  assert.equal(updated.status, 200);
  assert.equal(updated.json.user.email, "ann@example.com");

  const identities = call("GET", `/users/${json.user.id}/identities.json`).json.identities;
  assert.deepEqual(
    identities.map(({ type, value, primary }) => ({ type, value, primary })),
    [
      { type: "email", value: "ann@example.com", primary: true },
      { type: "email", value: "ann@work.example", primary: false },
    ],
  );
  // the secondary email now finds the user too
  const found = call("GET", "/users/search.json?query=" + encodeURIComponent("email:ann@work.example"));
  assert.equal(found.json.count, 1);
  // and a phone on an existing user is added, not replaced
  call("PUT", `/users/${json.user.id}.json`, { user: { phone: "+15551234567" } });
  call("PUT", `/users/${json.user.id}.json`, { user: { phone: "+15557654321" } });
  const user = sim.state().users[0];
  assert.equal(user.phone, "+15551234567");
  assert.deepEqual(user.identities.filter((i) => i.type === "phone_number").map((i) => i.value), ["+15551234567", "+15557654321"]);
});

test("an email that belongs to another user is a 422 DuplicateValue, exactly as Zendesk words it", () => {
  const sim = createSimulator();
  const call = client(sim);
  upsertUser(call, { name: "Ann", email: "ann@example.com", external_id: "ann" });
  const bob = upsertUser(call, { name: "Bob", email: "bob@example.com", external_id: "bob" });
  const before = sim.state();
  // external_id matches Bob, the email is Ann's: external_id wins, the email is refused
  const clash = upsertUser(call, { name: "Bob", email: "ann@example.com", external_id: "bob" });
  assert.equal(clash.status, 422);
  assert.deepEqual(clash.json, {
    error: "RecordInvalid",
    description: "Record validation errors",
    details: { email: [{ description: "Email: ann@example.com is already being used by another user", error: "DuplicateValue" }] },
  });
  assert.deepEqual(sim.state().users, before.users, "a 422 writes nothing");
  const put = call("PUT", `/users/${bob.json.user.id}`, { user: { email: "ANN@example.com", name: "Robert" } });
  assert.equal(put.status, 422);
  assert.equal(sim.state().users[1].name, "Bob", "nothing of a refused write is applied");
});

test("time_zone takes Zendesk names and refuses IANA names; role and verified are written", () => {
  const sim = createSimulator();
  const call = client(sim);
  const ok = upsertUser(call, { name: "A", email: "a@example.com", time_zone: "Berlin", role: "end-user", verified: true });
  assert.equal(ok.status, 201);
  assert.equal(ok.json.user.time_zone, "Berlin");
  assert.equal(ok.json.user.iana_time_zone, "Europe/Berlin");
  assert.equal(ok.json.user.verified, true);
  const iana = upsertUser(call, { name: "B", email: "b@example.com", time_zone: "America/Los_Angeles" });
  assert.equal(iana.status, 422);
  assert.equal(iana.json.details.time_zone[0].error, "InvalidValue");
  assert.equal(upsertUser(call, { name: "C", role: "overlord" }).status, 422);
});

test("read-only user keys are dropped with an X-Zendesk-API-Warn header", () => {
  const sim = createSimulator();
  const call = client(sim);
  const response = upsertUser(call, { name: "A", email: "a@example.com", id: 5, active: false, created_at: "2001-01-01T00:00:00Z" });
  assert.equal(response.status, 201);
  assert.equal(response.json.user.active, true);
  assert.notEqual(response.json.user.id, 5);
  assert.match(response.headers["x-zendesk-api-warn"], /"id".*"active".*"created_at"/);
});

test("custom field keys: letters, digits, underscore, not only digits, unique; types from Zendesk's list", () => {
  const sim = createSimulator();
  const call = client(sim);
  const created = call("POST", "/user_fields.json", { user_field: { type: "text", title: "Plan", key: "plan" } });
  assert.equal(created.status, 201);
  assert.equal(created.json.user_field.key, "plan");

  const taken = call("POST", "/user_fields.json", { user_field: { type: "integer", title: "Plan 2", key: "plan" } });
  assert.equal(taken.status, 422);
  assert.deepEqual(taken.json.details, { key: [{ description: "Key: has already been taken", error: "DuplicateValue" }] });

  for (const key of ["has space", "dash-key", "12345", "émoji", ""]) {
    const refused = call("POST", "/user_fields.json", { user_field: { type: "text", title: "X", key } });
    assert.equal(refused.status, 422, `key ${JSON.stringify(key)} must be refused`);
    assert.ok(refused.json.details.key);
  }
  assert.equal(call("POST", "/user_fields", { user_field: { type: "text", title: "X", key: "plan_2024" } }).status, 201);
  const badType = call("POST", "/user_fields", { user_field: { type: "string", title: "X", key: "x" } });
  assert.equal(badType.status, 422);
  assert.ok(badType.json.details.type);
  assert.equal(call("POST", "/organization_fields", { organization_field: { type: "decimal", title: "ARR", key: "arr" } }).status, 201);
  assert.equal(sim.state().organizationFields[0].key, "arr");
});

test("custom field values are type-checked; unknown keys are silently not stored", () => {
  const sim = createSimulator();
  sim.seed({
    userFields: [
      { type: "checkbox", title: "VIP", key: "vip", tag: "vip_customer" },
      { type: "integer", title: "Logins", key: "logins" },
      { type: "decimal", title: "Spend", key: "spend" },
      { type: "date", title: "Renewal", key: "renewal" },
      { type: "text", title: "Plan", key: "plan" },
    ],
  });
  const call = client(sim);
  const ok = upsertUser(call, {
    name: "A",
    email: "a@example.com",
    user_fields: { vip: true, logins: 5, spend: 12.5, renewal: "2026-02-28", plan: "premium", unknown_key: "x" },
  });
  assert.equal(ok.status, 201);
  assert.deepEqual(ok.json.user.user_fields, { vip: true, logins: 5, spend: 12.5, renewal: "2026-02-28", plan: "premium" });
  assert.deepEqual(ok.json.user.tags, ["vip_customer"], "a checked checkbox adds its tag");

  const mismatches = [{ vip: "yes" }, { logins: 5.5 }, { logins: "5" }, { spend: "12" }, { renewal: "2026-02-30" }, { renewal: "28/02/2026" }, { plan: 3 }];
  for (const user_fields of mismatches) {
    const refused = upsertUser(call, { email: "a@example.com", user_fields });
    assert.equal(refused.status, 422, `${JSON.stringify(user_fields)} must be refused`);
    assert.equal(refused.json.error, "RecordInvalid");
    assert.equal(refused.json.details[Object.keys(user_fields)[0]][0].error, "InvalidValue");
  }
  assert.equal(sim.state().users[0].user_fields.logins, 5);
});

test("field lists are paginated 100 per page with absolute next_page URLs", () => {
  const sim = createSimulator();
  sim.seed({ userFields: Array.from({ length: 150 }, (_, i) => ({ type: "text", title: `F${i}`, key: `f${i}` })) });
  const call = client(sim);
  const first = call("GET", "/user_fields.json");
  assert.equal(first.json.user_fields.length, 100);
  assert.equal(first.json.count, 150);
  assert.equal(first.json.next_page, `${ORIGIN}/api/v2/user_fields.json?page=2`);
  const second = call("GET", new URL(first.json.next_page).pathname.replace("/api/v2", "") + "?page=2");
  assert.equal(second.json.user_fields.length, 50);
  assert.equal(second.json.next_page, null);
  assert.equal(second.json.user_fields[0].key, "f100");
});

test("organizations: matched only by id or external_id; names unique case-insensitively; url and deleted dropped", () => {
  const sim = createSimulator();
  const call = client(sim);
  const created = call("POST", "/organizations/create_or_update.json", {
    organization: { name: " LA Lakers ", external_id: "G-1", url: "https://lakers.com", deleted: false, domain_names: ["lakers.com"] },
  });
  assert.equal(created.status, 201);
  assert.equal(created.json.organization.name, "LA Lakers");
  assert.notEqual(created.json.organization.url, "https://lakers.com");
  assert.match(created.headers["x-zendesk-api-warn"], /"url".*"deleted"/);

  const updated = call("POST", "/organizations/create_or_update.json", { organization: { name: "LA Lakers", external_id: "g-1", domain_names: ["lakers.nba.com"] } });
  assert.equal(updated.status, 200);
  assert.deepEqual(updated.json.organization.domain_names, ["lakers.nba.com"], "domain_names replaces the list");

  // same name, another external_id: not a match, and the name is taken
  const clash = call("POST", "/organizations/create_or_update.json", { organization: { name: "la lakers", external_id: "G-2" } });
  assert.equal(clash.status, 422);
  assert.equal(clash.json.details.name[0].error, "DuplicateValue");
  assert.equal(call("POST", "/organizations/create_or_update", { organization: { name: "A|B", external_id: "G-3" } }).status, 422);
  assert.equal(call("POST", "/organizations/create_or_update", { organization: { external_id: "G-4" } }).status, 422);

  assert.equal(call("GET", "/organizations/search.json?name=LA%20LAKERS").json.count, 1);
  assert.equal(call("GET", "/organizations/search.json?external_id=g-1").json.organizations[0].id, created.json.organization.id);
  assert.equal(sim.state().organizations.length, 1);
});

test("organization_id on a user write makes it the default and removes other memberships", () => {
  const sim = createSimulator();
  const { organizations: [a, b] } = sim.seed({ organizations: [{ name: "A", external_id: "a" }, { name: "B", external_id: "b" }] });
  const call = client(sim);
  const user = upsertUser(call, { name: "U", email: "u@example.com", organization_id: a.id }).json.user;
  assert.equal(user.organization_id, a.id);
  assert.equal(call("POST", "/organization_memberships", { organization_membership: { user_id: user.id, organization_id: b.id } }).status, 201);
  assert.equal(call("GET", `/users/${user.id}/organization_memberships`).json.count, 2);

  const moved = call("PUT", `/users/${user.id}`, { user: { organization_id: b.id } });
  assert.equal(moved.json.user.organization_id, b.id);
  const memberships = call("GET", `/users/${user.id}/organization_memberships.json`).json.organization_memberships;
  assert.deepEqual(memberships.map((m) => [m.organization_id, m.default]), [[b.id, true]]);

  // An organization that does not exist: 404 RecordNotFound (a real capture), not 422.
  const unknown = call("PUT", `/users/${user.id}`, { user: { organization_id: 42 } });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.error, "RecordNotFound");
});

test("memberships: 422 when already a member; three delete routes answer 204, then 404", () => {
  const sim = createSimulator();
  const seeded = sim.seed({
    organizations: [{ name: "A" }, { name: "B" }, { name: "C" }],
    users: [{ name: "U", email: "u@example.com" }],
  });
  const [a, b, c] = seeded.organizations;
  const user = seeded.users[0];
  const call = client(sim);
  const join = (org) => call("POST", "/organization_memberships.json", { organization_membership: { user_id: user.id, organization_id: org.id } });

  const first = join(a);
  assert.equal(first.status, 201);
  assert.equal(first.json.organization_membership.default, true);
  const again = join(a);
  assert.equal(again.status, 422);
  assert.match(again.json.details.user_id[0].description, /already a member/);
  assert.equal(call("POST", "/organization_memberships", { organization_membership: { user_id: user.id, organization_id: 999 } }).status, 422);

  const second = join(b).json.organization_membership;
  join(c);
  assert.equal(call("DELETE", `/organization_memberships/${first.json.organization_membership.id}.json`).status, 204);
  assert.equal(call("DELETE", `/users/${user.id}/organization_memberships/${second.id}.json`).status, 204);
  assert.equal(call("DELETE", `/users/${user.id}/organizations/${c.id}.json`).status, 204);
  assert.equal(call("DELETE", `/users/${user.id}/organizations/${c.id}.json`).status, 404, "not a member any more");
  assert.equal(call("DELETE", `/organization_memberships/${second.id}`).status, 404);
  assert.equal(sim.state().memberships.length, 0);
});

test("search: email query forms are exact on any identity, deleted users don't match, seeded duplicates both show", () => {
  const sim = createSimulator();
  const { users } = sim.seed({
    users: [
      { name: "Twin One", email: "twin@example.com", external_id: "t1" },
      { name: "Twin Two", email: "twin@example.com", external_id: "t2" },
      { name: "Carol Smith", email: "carol@example.com", emails: ["c.smith@work.example"] },
    ],
  });
  const call = client(sim);
  const search = (query) => call("GET", "/users/search.json?query=" + encodeURIComponent(query)).json;
  assert.equal(search('email:"twin@example.com"').count, 2);
  assert.equal(search("email:TWIN@example.com").count, 2);
  assert.equal(search("email:twin@example").count, 0, "email: is exact, not a prefix");
  assert.equal(search("email:c.smith@work.example").users[0].name, "Carol Smith");
  assert.equal(search("smith").count, 1);
  assert.equal(search('"carol smith"').count, 1);
  assert.deepEqual(search("twin").users.map((u) => u.external_id), ["t1", "t2"]);
  assert.equal(search("results").next_page, null);

  // create_or_update on a shared email updates the oldest user
  assert.equal(upsertUser(call, { email: "twin@example.com", notes: "x" }).json.user.id, users[0].id);

  assert.equal(call("DELETE", `/users/${users[2].id}`).status, 200);
  assert.equal(search("carol").count, 0);
  assert.equal(call("GET", `/users/${users[2].id}`).json.user.active, false);
  assert.equal(call("PUT", `/users/${users[2].id}`, { user: { name: "X" } }).status, 404);
  assert.equal(call("PUT", "/users/123456", { user: { name: "X" } }).json.error, "RecordNotFound");
});

test("search lags behind new users by default (2 minutes); exact reads by external_id never lag", () => {
  const clock = manualClock();
  const sim = createSimulator({ clock });
  const call = client(sim);
  upsertUser(call, { name: "Lag", email: "lag@example.com", external_id: "lag" });
  assert.equal(call("GET", "/users/search?query=email:lag@example.com").json.count, 0);
  assert.equal(call("GET", "/users/search?external_id=lag").json.count, 0);
  assert.equal(call("GET", "/users?external_id=LAG").json.count, 1);
  assert.equal(call("GET", "/users/show_many?external_ids=lag").json.count, 1);
  clock.advance(119_999);
  assert.equal(call("GET", "/users/search?query=email:lag@example.com").json.count, 0);
  clock.advance(1);
  assert.equal(call("GET", "/users/search?query=email:lag@example.com").json.count, 1);
  assert.equal(call("GET", "/users/search?external_id=lag").json.count, 1);

  const quick = createSimulator({ clock, searchIndexLagMs: 0 });
  upsertUser(client(quick), { name: "Now", email: "now@example.com" });
  assert.equal(client(quick)("GET", "/users/search?query=email:now@example.com").json.count, 1);
});

test("Sunshine: an event with no matching identifier creates an anonymous user; a match lands on the user", () => {
  const sim = createSimulator();
  const call = client(sim);
  const known = upsertUser(call, { name: "Known", email: "known@example.com", external_id: "k1" }).json.user;
  const event = (identifiers, extra = {}) => ({
    profile: { source: "segment", type: "user", identifiers },
    event: { source: "segment", type: "Article Completed", properties: { title: "How to" }, ...extra },
  });

  const matched = call("POST", "/user_profiles/events", event([{ type: "external_id", value: "K1" }]));
  assert.equal(matched.status, 202);
  assert.equal(matched.json.status, "received");
  assert.equal(matched.json.user_id, String(known.id));

  const anonymous = call("POST", "/user_profiles/events.json", event([{ type: "email", value: "stranger@example.com" }]));
  assert.equal(anonymous.status, 202);
  const state = sim.state();
  assert.equal(state.users.length, 2);
  const created = state.users.find((u) => String(u.id) === anonymous.json.user_id);
  assert.equal(created.anonymous, true);
  assert.equal(created.email, "stranger@example.com", "identifiers are written back onto the user");
  assert.equal(state.counters.anonymousUsersCreated, 1);
  assert.deepEqual(state.events.map((e) => [String(e.user_id), e.type]), [[String(known.id), "Article Completed"], [anonymous.json.user_id, "Article Completed"]]);
  assert.match(state.events[0].created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, "created_at defaults to receipt time");

  const direct = call("POST", `/users/${known.id}/events`, { event: { source: "segment", type: "Logged In", properties: {} } });
  assert.equal(direct.status, 202);
  assert.equal(direct.json.user_id, String(known.id));
  const missing = call("POST", "/users/77/events", { event: { source: "segment", type: "X", properties: {} } });
  assert.equal(missing.status, 404);
  assert.equal(missing.json.errors[0].code, "NotFound");
});

test("Sunshine refuses the zendesk source, long identifiers and missing fields with 400 in its error shape", () => {
  const sim = createSimulator();
  const call = client(sim);
  const profile = { source: "segment", type: "user", identifiers: [{ type: "email", value: "a@example.com" }] };
  const base = { source: "segment", type: "Viewed", properties: {} };
  const cases = [
    { profile, event: { ...base, source: "zendesk" } },
    { profile: { ...profile, identifiers: [{ type: "external_id", value: "x".repeat(61) }] }, event: base },
    { profile, event: { source: "segment", type: "Viewed" } },
    { profile, event: { source: "segment", properties: {} } },
    { event: base },
    { profile: { ...profile, identifiers: [] }, event: base },
  ];
  for (const body of cases) {
    const response = call("POST", "/user_profiles/events", body);
    assert.equal(response.status, 400, JSON.stringify(body).slice(0, 120));
    assert.ok(Array.isArray(response.json.errors) && response.json.errors[0].code && response.json.errors[0].title);
  }
  const sixty = call("POST", "/user_profiles/events", { profile: { ...profile, identifiers: [{ type: "external_id", value: "x".repeat(60) }] }, event: base });
  assert.equal(sixty.status, 202, "60 characters are still accepted");
  assert.equal(sim.state().events.length, 1);
});

test("auth: missing or malformed headers and unknown tokens get Zendesk's two 401 shapes", () => {
  const sim = createSimulator({ auth: { basic: [{ email: "agent@acme.com", token: "secret-token" }], bearer: ["good-token"] } });
  const as = (authorization) => client(sim, { authorization })("GET", "/users/search?query=x");
  assert.equal(as(BASIC).status, 200);
  assert.equal(as("Bearer good-token").status, 200);
  for (const header of [null, "Token abc", "Basic !!!", "Basic " + btoa("no-colon"), "Basic " + btoa("agent@acme.com/token:wrong")]) {
    const response = as(header);
    assert.equal(response.status, 401, String(header));
    assert.deepEqual(response.json, { error: "Couldn't authenticate you" });
  }
  const bearer = as("Bearer revoked-or-unknown");
  assert.equal(bearer.status, 401);
  assert.equal(bearer.json.error, "invalid_token");
  assert.match(bearer.json.error_description, /expired, revoked, malformed/);
  // the log never holds the credential
  assert.deepEqual(new Set(sim.log().map((entry) => entry.authorization)), new Set(["Basic …redacted", "Bearer …redacted", "…redacted", null]));
  assert.ok(!JSON.stringify(sim.log()).includes("good-token"));

  const open = createSimulator(); // no auth option: any well-formed header passes
  assert.equal(client(open, { authorization: "Bearer anything" })("GET", "/users/search?query=x").status, 200);
  assert.equal(client(open, { authorization: null })("GET", "/users/search?query=x").status, 401);
});

test("OAuth refresh rotates the pair: the new token works, the old access and refresh tokens don't", () => {
  const clock = manualClock();
  const sim = createSimulator({
    clock,
    auth: { bearer: [] },
    oauthClients: [{ clientId: "zd_client", clientSecret: "s3cret", refreshToken: "refresh-0", accessToken: "access-0" }],
  });
  const call = client(sim, { authorization: null });
  const asBearer = (token) => client(sim, { authorization: `Bearer ${token}` })("GET", "/users/search?query=x").status;
  assert.equal(asBearer("access-0"), 200);

  const refresh = (refresh_token, client_secret = "s3cret", extra = { expires_in: 1800 }) =>
    call("POST", "/oauth/tokens", { grant_type: "refresh_token", refresh_token, client_id: "zd_client", client_secret, ...extra });
  // 201 Created; expires_in only when the request asked for it.
  const unasked = refresh("refresh-0", "s3cret", {});
  assert.equal(unasked.status, 201);
  assert.equal("expires_in" in unasked.json, false);
  const first = refresh(unasked.json.refresh_token);
  assert.equal(first.status, 201);
  assert.equal(first.json.token_type, "bearer");
  assert.equal(first.json.expires_in, 1800);
  assert.ok(first.json.access_token && first.json.refresh_token && first.json.refresh_token !== "refresh-0");
  assert.equal(asBearer(first.json.access_token), 200);
  assert.equal(asBearer("access-0"), 401, "the old access token is revoked");
  assert.equal(refresh(unasked.json.refresh_token).json.error, "invalid_grant", "the old refresh token is spent");
  assert.equal(refresh(first.json.refresh_token, "wrong").status, 401);

  const second = refresh(first.json.refresh_token);
  assert.equal(second.status, 201);
  assert.notEqual(second.json.access_token, first.json.access_token);
  assert.equal(asBearer(first.json.access_token), 401);
  clock.advance(1800 * 1000);
  assert.equal(asBearer(second.json.access_token), 401, "access tokens expire after expires_in");
  assert.equal(sim.log().find((entry) => entry.path === "/oauth/tokens").body, "…redacted");
});

test("bulk create_or_update_many: queued job, completed on poll with per-item results; 403 when bulk import is off", () => {
  const sim = createSimulator();
  const call = client(sim);
  upsertUser(call, { name: "Existing", email: "old@example.com", external_id: "e1" });
  upsertUser(call, { name: "Other", email: "taken@example.com" });
  const queued = call("POST", "/users/create_or_update_many.json", {
    users: [
      { name: "New", email: "new@example.com", external_id: "n1" },
      { external_id: "E1", name: "Existing Renamed" },
      { name: "Clash", email: "taken@example.com", external_id: "c1" },
      { email: "nameless@example.com" },
    ],
  });
  assert.equal(queued.status, 200);
  assert.equal(queued.json.job_status.status, "queued");
  assert.equal(sim.state().users.length, 2, "nothing is written before the job runs");

  const polled = call("GET", new URL(queued.json.job_status.url).pathname.replace("/api/v2", ""));
  const job = polled.json.job_status;
  assert.equal(job.status, "completed");
  assert.equal(job.total, 4);
  assert.equal(job.progress, 4);
  const byIndex = Object.fromEntries(job.results.map((r) => [r.index, r]));
  assert.equal(byIndex[0].status, "Created");
  assert.equal(byIndex[1].status, "Updated");
  assert.equal(byIndex[2].status, "Updated", "the email matched an existing user");
  assert.equal(byIndex[3].status, "Failed");
  assert.equal(byIndex[3].error, "BlankValue");
  assert.equal(sim.state().users.length, 3);

  assert.equal(call("GET", "/job_statuses/nope").status, 404);
  sim.configure({ bulkImport: false });
  const refused = call("POST", "/users/create_or_update_many", { users: [{ name: "X" }] });
  assert.equal(refused.status, 403);
  assert.equal(refused.json.error, "Forbidden");
  assert.ok(refused.json.description);
  assert.equal(createSimulator({ bulkImport: false }).handle({ method: "POST", url: `${ORIGIN}/api/v2/users/create_or_update_many`, headers: { authorization: BASIC }, body: '{"users":[{"name":"X"}]}' }).status, 403);
});

test("bulk jobs: a failing item reports the duplicate; more than 30 unfinished jobs is 429 TooManyJobs", () => {
  const clock = manualClock();
  const sim = createSimulator({ clock, jobPollsBeforeDone: 1 });
  const call = client(sim);
  upsertUser(call, { name: "Ann", email: "ann@example.com", external_id: "ann" });
  const first = call("POST", "/users/create_or_update_many", { users: [{ name: "Bob", external_id: "bob" }, { external_id: "bob", email: "ann@example.com" }] });
  const path = `/job_statuses/${first.json.job_status.id}`;
  assert.equal(call("GET", path).json.job_status.status, "working", "first poll: still running");
  const done = call("GET", path).json.job_status;
  assert.equal(done.status, "completed");
  assert.equal(done.results[1].status, "Failed");
  assert.equal(done.results[1].error, "DuplicateValue");
  assert.match(done.results[1].details, /already being used/);

  for (let i = 0; i < 30; i++) assert.equal(call("POST", "/users/create_or_update_many", { users: [{ name: `U${i}` }] }).status, 200);
  const tooMany = call("POST", "/users/create_or_update_many", { users: [{ name: "one too many" }] });
  assert.equal(tooMany.status, 429);
  assert.equal(tooMany.json.error, "TooManyJobs");
  assert.ok(Number(tooMany.headers["retry-after"]) > 0);
  clock.advance(2000); // jobs finish on their own after jobDurationMs
  assert.equal(call("POST", "/users/create_or_update_many", { users: [{ name: "now fits" }] }).status, 200);
});

test("largeIds: ids beyond 2^53 are issued, rendered exactly, and accepted exactly in bodies and paths", () => {
  const sim = createSimulator({ largeIds: true });
  const call = client(sim);
  const org = call("POST", "/organizations/create_or_update", { organization: { name: "Big", external_id: "big" } });
  const orgIdText = /"id":(\d+)/.exec(org.body)[1];
  assert.ok(BigInt(orgIdText) > 2n ** 53n);
  assert.ok(!Number.isSafeInteger(Number(orgIdText)));

  // the request body carries the exact id as a JSON number
  const created = call("POST", "/users/create_or_update", `{"user":{"name":"U","email":"u@example.com","organization_id":${orgIdText}}}`);
  assert.equal(created.status, 201);
  assert.match(created.body, new RegExp(`"organization_id":${orgIdText}[,}]`));
  const userIdText = /"id":(\d+)/.exec(created.body)[1];
  assert.equal(userIdText, "9007199254740993");
  assert.match(call("GET", `/users/${userIdText}.json`).body, /"id":9007199254740993,/);
  assert.equal(call("GET", `/users/9007199254740992.json`).status, 404, "a rounded id finds nothing");

  // state(): unsafe ids are decimal strings; stateJson(): exact JSON numbers
  assert.equal(sim.state().users[0].id, "9007199254740993");
  assert.match(sim.stateJson(), /"id":9007199254740993,/);
});

test("parseJsonExact keeps long integers exact and leaves strings alone", () => {
  const parsed = parseJsonExact('{"a":9007199254740993,"b":"9007199254740993","c":[-12345678901234567890,1.5e300,12],"d":"x\\"9999999999999999999"}');
  assert.equal(parsed.a, 9007199254740993n);
  assert.equal(parsed.b, "9007199254740993");
  assert.deepEqual(parsed.c, [-12345678901234567890n, 1.5e300, 12]);
  assert.equal(parsed.d, 'x"9999999999999999999');
  assert.equal(toJson({ id: 9007199254740993n, list: [1n, null] }), '{"id":9007199254740993,"list":[1,null]}');
  assert.throws(() => parseJsonExact("{bad"));
});

test("account rate limit: headers on every answer, 429 with Retry-After, reopens with the window", () => {
  const clock = manualClock(Date.UTC(2026, 0, 31, 12, 0, 0));
  const sim = createSimulator({ clock, rateLimitPerMinute: 3 });
  const call = client(sim);
  const first = call("GET", "/users/search?query=a");
  assert.equal(first.headers["x-rate-limit"], "3");
  assert.equal(first.headers["x-rate-limit-remaining"], "2");
  assert.equal(first.headers["ratelimit-remaining"], "2");
  assert.equal(first.headers["ratelimit-reset"], "60");
  call("GET", "/users/search?query=a");
  call("GET", "/users/search?query=a");
  clock.advance(15_000);
  const limited = call("GET", "/users/search?query=a");
  assert.equal(limited.status, 429);
  assert.equal(limited.json.error, "APIRateLimitExceeded");
  assert.equal(limited.headers["retry-after"], "45");
  assert.equal(limited.headers["x-rate-limit-remaining"], "0");
  clock.advance(45_000);
  assert.equal(call("GET", "/users/search?query=a").status, 200);
  assert.equal(sim.state().counters.rateLimited, 1);
});

test("timeScale: simulated time runs faster and Retry-After is given in real seconds", () => {
  const clock = manualClock(Date.UTC(2026, 0, 31, 12, 0, 0));
  const sim = createSimulator({ clock, rateLimitPerMinute: 1, timeScale: 60 });
  const call = client(sim);
  call("GET", "/users/search?query=a");
  const limited = call("GET", "/users/search?query=a");
  assert.equal(limited.status, 429);
  assert.equal(limited.headers["retry-after"], "1", "60 simulated seconds at 60x are 1 real second");
  clock.advance(1000);
  assert.equal(call("GET", "/users/search?query=a").status, 200);
});

test("single-user write limit: 1 per second per account and 5 per minute per user", () => {
  const clock = manualClock();
  const sim = createSimulator({ clock, singleUserWriteLimit: true });
  const call = client(sim);
  const user = upsertUser(call, { name: "A", email: "a@example.com" }).json.user;
  const tooFast = call("PUT", `/users/${user.id}`, { user: { notes: "1" } });
  assert.equal(tooFast.status, 429);
  assert.equal(tooFast.headers["retry-after"], "1");
  assert.equal(sim.state().users[0].notes, "", "a refused write changes nothing");

  for (let i = 0; i < 4; i++) {
    clock.advance(1000);
    assert.equal(call("PUT", `/users/${user.id}`, { user: { notes: String(i) } }).status, 200);
  }
  clock.advance(1000);
  const sixth = upsertUser(call, { email: "a@example.com", notes: "sixth" });
  assert.equal(sixth.status, 429, "the 6th write to one user within a minute");
  assert.equal(sixth.headers["retry-after"], "55");
  assert.equal(upsertUser(call, { name: "B", email: "b@example.com" }).status, 201, "another user is fine");
  // reads are not limited
  assert.equal(call("GET", `/users/${user.id}`).status, 200);
});

test("seeded faults: reproducible, and a faulted request never changes the account", () => {
  const run = () => {
    const sim = createSimulator({ clock: manualClock(), faults: { rate: 0.5, seed: 42, kinds: ["500", "503", "slow", "drop"], slowMs: 50 } });
    const call = client(sim);
    const outcomes = [];
    // everything but the counters (which do count the faults)
    const account = () => toJson({ ...sim.state(), counters: null });
    for (let i = 0; i < 40; i++) {
      const before = account();
      const response = upsertUser(call, { name: `User ${i}`, email: `u${i}@example.com` });
      const fault = sim.log().at(-1).fault;
      outcomes.push(fault ?? response.status);
      if (fault) {
        assert.ok(account() === before, `fault ${fault} must not write`);
        if (fault === "drop") assert.equal(response.drop, true);
        if (fault === "slow") assert.equal(response.delayMs, 50);
        if (fault === "503-retry-after") assert.ok(response.headers["retry-after"]);
        if (fault === "503-outage") assert.equal(response.headers["retry-after"], undefined);
      } else assert.equal(response.status, 201);
    }
    return { outcomes, users: sim.state().users.length };
  };
  const first = run();
  assert.deepEqual(run(), first, "same seed, same faults");
  const faulted = first.outcomes.filter((outcome) => typeof outcome === "string");
  assert.ok(faulted.length > 5 && faulted.length < 35, `about half faulted, got ${faulted.length}`);
  assert.equal(first.users, 40 - faulted.length);
  for (const kind of ["500", "slow", "drop"]) assert.ok(faulted.includes(kind), `saw ${kind}`);
});

test("failNext forces the next answers to fail, in order", () => {
  const sim = createSimulator();
  const call = client(sim);
  sim.failNext("503", "500", "429-text");
  assert.equal(upsertUser(call, { name: "A" }).status, 503);
  assert.equal(upsertUser(call, { name: "A" }).status, 500);
  const text = upsertUser(call, { name: "A" });
  assert.equal(text.status, 429);
  assert.equal(text.body, "Too Many Requests");
  assert.equal(upsertUser(call, { name: "A" }).status, 201);
  assert.equal(sim.state().users.length, 1);
});

test("unknown endpoints, wrong methods and bad JSON", () => {
  const sim = createSimulator();
  const call = client(sim);
  assert.deepEqual(call("GET", "/tickets/nonsense").json, { error: "InvalidEndpoint", description: "Not found" });
  assert.equal(call("PATCH", "/users/create_or_update").status, 404);
  const bad = call("POST", "/users/create_or_update", "{not json");
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error, "Unprocessable Entity");
  assert.equal(call("POST", "/users/create_or_update", { usr: {} }).status, 400);
  assert.equal(call("GET", "/users/search").status, 400);
});

test("fetch adapter: a real Response, delayMs honoured, abort and drop reject like fetch", async () => {
  const sim = createSimulator({ searchIndexLagMs: 0 });
  const headers = { authorization: BASIC, "content-type": "application/json" };
  const created = await sim.fetch(`${ORIGIN}/api/v2/users/create_or_update.json`, {
    method: "POST",
    headers,
    body: JSON.stringify({ user: { name: "Fetch", email: "f@example.com" } }),
  });
  assert.ok(created instanceof Response);
  assert.equal(created.status, 201);
  assert.equal((await created.json()).user.name, "Fetch");
  const viaRequest = await sim.fetch(new Request(`${ORIGIN}/api/v2/users/search?query=fetch`, { headers }));
  assert.equal((await viaRequest.json()).count, 1);

  sim.failNext("slow");
  sim.configure({ faults: { rate: 0, slowMs: 200 } });
  const controller = new AbortController();
  const pending = sim.fetch(`${ORIGIN}/api/v2/users/search?query=x`, { headers, signal: controller.signal });
  setTimeout(() => controller.abort(), 20);
  await assert.rejects(pending, { name: "AbortError" });

  sim.failNext("slow");
  const started = Date.now();
  const slow = await sim.fetch(`${ORIGIN}/api/v2/users/search?query=x`, { headers });
  assert.ok(Date.now() - started >= 190);
  assert.equal(slow.status, 504);

  sim.failNext("drop");
  await assert.rejects(sim.fetch(`${ORIGIN}/api/v2/users/search?query=x`, { headers }), TypeError);
  const deleted = await sim.fetch(`${ORIGIN}/api/v2/organization_memberships/1`, { method: "DELETE", headers });
  assert.equal(deleted.status, 404);
});

test("state(), log() and reset()", () => {
  const sim = createSimulator();
  const call = client(sim);
  upsertUser(call, { name: "A", email: "a@example.com" });
  const state = sim.state();
  assert.deepEqual(Object.keys(state).sort(), ["counters", "events", "jobStatuses", "memberships", "now", "organizationFields", "organizations", "profiles", "subdomain", "userFields", "users"].sort());
  assert.equal(state.users[0].identities[0].value, "a@example.com");
  assert.equal(state.counters.usersCreated, 1);
  assert.deepEqual(JSON.parse(JSON.stringify(state)), state, "JSON-serialisable");
  assert.deepEqual(sim.log()[0], {
    method: "POST",
    path: "/api/v2/users/create_or_update.json",
    query: {},
    status: 201,
    authorization: "Basic …redacted",
    body: '{"user":{"name":"A","email":"a@example.com"}}',
  });
  sim.reset();
  assert.equal(sim.state().users.length, 0);
  assert.equal(sim.log().length, 0);
});

test("lookups follow changes: a changed external_id, and a deleted user's email and external_id are free again", () => {
  const sim = createSimulator({ searchIndexLagMs: 0 });
  const call = client(sim);
  const user = upsertUser(call, { name: "A", email: "a@example.com", external_id: "old" }).json.user;
  assert.equal(call("PUT", `/users/${user.id}`, { user: { external_id: "NEW" } }).status, 200);
  assert.equal(call("GET", "/users/search?external_id=old").json.count, 0);
  assert.equal(call("GET", "/users/search?external_id=new").json.users[0].id, user.id);
  assert.equal(call("GET", "/users/search?query=external_id:new").json.count, 1);

  call("DELETE", `/users/${user.id}`);
  const again = upsertUser(call, { name: "A again", email: "a@example.com", external_id: "new" });
  assert.equal(again.status, 201, "a soft-deleted user no longer holds its email or external_id");
  assert.notEqual(again.json.user.id, user.id);
  assert.equal(call("GET", "/users/search?query=email:a@example.com").json.users[0].id, again.json.user.id);
});

test("make_primary swaps the primary email; dropdown values must be options; 50 Sunshine sources at most", () => {
  const sim = createSimulator();
  const call = client(sim);
  const user = upsertUser(call, { name: "P", email: "p1@example.com" }).json.user;
  call("PUT", `/users/${user.id}`, { user: { email: "p2@example.com" } });
  const second = call("GET", `/users/${user.id}/identities`).json.identities.find((i) => i.value === "p2@example.com");
  assert.equal(call("PUT", `/users/${user.id}/identities/${second.id}/make_primary`).status, 200);
  assert.equal(call("GET", `/users/${user.id}`).json.user.email, "p2@example.com");

  call("POST", "/user_fields", { user_field: { type: "dropdown", title: "Plan", key: "plan", custom_field_options: [{ name: "Pro", value: "pro" }] } });
  assert.equal(call("PUT", `/users/${user.id}`, { user: { user_fields: { plan: "pro" } } }).status, 200);
  const refused = call("PUT", `/users/${user.id}`, { user: { user_fields: { plan: "enterprise" } } });
  assert.equal(refused.status, 422);
  assert.ok(refused.json.details.plan);

  const event = (source) => ({ event: { source, type: "T", properties: {} } });
  for (let i = 0; i < 50; i++) assert.equal(call("POST", `/users/${user.id}/events`, event(`s${i}`)).status, 202);
  const over = call("POST", `/users/${user.id}/events`, event("s50"));
  assert.equal(over.status, 400);
  assert.match(over.json.errors[0].title, /Too many distinct event sources/);
});
