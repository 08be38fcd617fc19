// What real Zendesk does that an earlier simulator hid (issue 8): each behaviour through the real
// engine and host against the simulator, which now does what Zendesk does. docs/simulator.md lists
// each behaviour with its Zendesk source and the test here that checks it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createDestination } from "../../pkg/index.js";
import { createSimulator } from "../../pkg/simulator.js";
import { manualClock } from "./host-fakes.js";

const SETTINGS = { subdomain: "acme", email: "agent@acme.test/token", password: "s3cret-token", events: ["Order Completed"] };

/** A simulator and destinations sharing one manual clock; `requests` lists "METHOD /path?query". */
function world(simulatorOptions = {}) {
  const clock = manualClock(Date.UTC(2026, 0, 31, 12));
  const simulator = createSimulator({ clock: clock.now, ...simulatorOptions });
  const requests = [];
  const fetch = async (url, init) => {
    const { pathname, search } = new URL(url);
    requests.push(`${init?.method ?? "GET"} ${pathname}${decodeURIComponent(search)}`);
    return simulator.fetch(url, init);
  };
  const destination = (settings = {}, options = {}) =>
    createDestination({ ...SETTINGS, ...settings }, { fetch, now: clock.now, sleep: clock.sleep, random: () => 0.5, ...options });
  return { clock, simulator, requests, destination };
}

const userOf = (simulator, externalId) => simulator.state().users.find((u) => u.external_id === externalId);

describe("4. verified", () => {
  test('"Create Users as Verified" off never un-verifies a user; on, it verifies', async () => {
    const { simulator, requests, destination } = world();
    simulator.seed({
      users: [
        { name: "Ver", email: "ver@example.com", external_id: "v1", verified: true },
        { name: "Unver", email: "unver@example.com", external_id: "v2" },
      ],
    });
    const off = await destination({ verified: false });
    const outcome = await off.deliver({ type: "identify", userId: "v1", traits: { name: "Ver", email: "ver@example.com" } });
    assert.equal(outcome.status, "delivered", outcome.message);
    assert.equal(userOf(simulator, "v1").verified, true, "the verified user stays verified");
    assert.equal(userOf(simulator, "v1").identities[0].verified, true);
    assert.ok(requests.includes(`PUT /api/v2/users/${userOf(simulator, "v1").id}`));

    const on = await destination({ verified: true });
    assert.equal((await on.deliver({ type: "identify", userId: "v2", traits: { name: "Unver", email: "unver@example.com" } })).status, "delivered");
    assert.equal(userOf(simulator, "v2").verified, true);
    // A new user: verified with the setting on, unverified (Zendesk's default) with it off.
    await on.deliver({ type: "identify", userId: "v3", traits: { name: "New On", email: "on@example.com" } });
    await off.deliver({ type: "identify", userId: "v4", traits: { name: "New Off", email: "off@example.com" } });
    assert.equal(userOf(simulator, "v3").verified, true);
    assert.equal(userOf(simulator, "v4").verified, false);
  });

  test("the simulator: verified alone on an update sets the primary email identity's verified", () => {
    const simulator = createSimulator();
    const [user] = simulator.seed({ users: [{ name: "A", email: "a@example.com", verified: true }] }).users;
    const put = (body) =>
      simulator.handle({ method: "PUT", url: `https://acme.zendesk.com/api/v2/users/${user.id}`, headers: { authorization: "Bearer t" }, body: JSON.stringify({ user: body }) });
    assert.equal(JSON.parse(put({ verified: false }).body).user.verified, false);
    assert.equal(simulator.state().users[0].identities[0].verified, false);
    assert.equal(JSON.parse(put({ verified: true }).body).user.verified, true);
    // With an email in the same write, the value goes to that new secondary identity.
    put({ verified: false, email: "a2@example.com" });
    assert.deepEqual(simulator.state().users[0].identities.map((i) => [i.value, i.verified]), [["a@example.com", true], ["a2@example.com", false]]);
  });
});

describe("5. search lag", () => {
  test("a track right after its identify, from another destination (nothing cached), finds the user", async () => {
    const { simulator, requests, destination } = world();
    const writer = await destination();
    assert.equal((await writer.deliver({ type: "identify", userId: "fresh", traits: { name: "Fresh", email: "fresh@example.com" } })).status, "delivered");
    const reader = await destination();
    const byUserId = await reader.deliver({ type: "track", userId: "fresh", event: "Order Completed", properties: { total: 5 } });
    assert.equal(byUserId.status, "delivered", byUserId.message);
    assert.ok(requests.includes("GET /api/v2/users?external_id=fresh"));

    const other = await destination();
    const byEmail = await other.deliver({ type: "track", userId: "fresh", event: "Order Completed", properties: { email: "fresh@example.com" } });
    assert.equal(byEmail.status, "delivered", byEmail.message);
    assert.match(byEmail.warnings[0], /no Zendesk user was found by email fresh@example\.com \(search can lag/);
    assert.equal(simulator.state().events.length, 2);
    assert.ok(simulator.state().events.every((e) => e.user_id === userOf(simulator, "fresh").id));
  });

  test("a user nobody can find yet is user_not_found, retryable for a recent event", async () => {
    const { destination, clock } = world();
    const reader = await destination();
    const now = new Date(clock.now()).toISOString();
    const outcome = await reader.deliver({ type: "track", userId: "ghost", event: "Order Completed", timestamp: now, properties: { email: "ghost@example.com" } });
    assert.deepEqual([outcome.code, outcome.retryable], ["user_not_found", true]);
    const old = new Date(clock.now() - 11 * 60_000).toISOString();
    const late = await reader.deliver({ type: "track", userId: "ghost", event: "Order Completed", timestamp: old, properties: { email: "ghost@example.com" } });
    assert.deepEqual([late.code, late.retryable], ["user_not_found", false]);
  });
});

describe("2. an unknown organizationId", () => {
  test("Zendesk answers 404; the user is written without it, with a warning", async () => {
    const { simulator, destination } = world();
    const d = await destination();
    const outcome = await d.deliver({ type: "identify", userId: "o1", traits: { name: "Org Less", email: "orgless@example.com", organizationId: 424242 } });
    assert.equal(outcome.status, "delivered", outcome.message);
    assert.deepEqual(outcome.warnings.slice(1), ["organizationId 424242 is not a Zendesk organization (Zendesk answered 404 RecordNotFound; Not found); the user was written without it"]);
    assert.equal(userOf(simulator, "o1").email, "orgless@example.com");
    assert.equal(userOf(simulator, "o1").organization_id, null);
    assert.deepEqual(simulator.log().filter((e) => e.path === "/api/v2/users/create_or_update").map((e) => e.status), [404, 201]);
  });
});

describe("3. credentials without admin rights", () => {
  test("an agent's identify writes the user without the fields it could not create, warned once per key", async () => {
    const { simulator, requests, destination } = world({ role: "agent" });
    const d = await destination();
    const first = await d.deliver({ type: "identify", userId: "ag1", traits: { name: "Agent One", email: "ag1@example.com", plan: "pro" } });
    assert.equal(first.status, "delivered", first.message);
    assert.deepEqual(first.warnings.map((w) => w.replace(/ \(Forbidden.*$/, "")), [
      "`traits.plan` was not sent: the field `plan` does not exist and could not be created: creating custom fields needs a Zendesk administrator, and Zendesk answered 403",
      "`userId` was not sent: the field `user_id` does not exist and could not be created: creating custom fields needs a Zendesk administrator, and Zendesk answered 403",
    ]);
    assert.equal(userOf(simulator, "ag1").name, "Agent One");
    const second = await d.deliver({ type: "identify", userId: "ag2", traits: { name: "Agent Two", plan: "free" } });
    assert.deepEqual([second.status, second.warnings], ["delivered", []]);
    assert.equal(requests.filter((r) => r === "POST /api/v2/user_fields").length, 2, "each field is tried once");
    assert.equal(simulator.state().userFields.length, 0);
  });

  test("an agent's group call fails as unauthorized and says an administrator is needed", async () => {
    const { simulator, destination } = world({ role: "agent" });
    simulator.seed({ users: [{ name: "M", email: "m@example.com", external_id: "m1" }] });
    const d = await destination();
    const outcome = await d.deliver({ type: "group", userId: "m1", groupId: "g1", traits: { name: "Initech" } });
    assert.deepEqual([outcome.status, outcome.code], ["failed", "unauthorized"]);
    assert.match(outcome.message, /group calls need a Zendesk administrator's credentials/);
    assert.equal(simulator.state().organizations.length, 0);
  });
});

describe("6. organization names", () => {
  test("a named organization without external id is adopted; another external id is a named conflict", async () => {
    const { simulator, destination } = world();
    simulator.seed({
      organizations: [{ name: "Initech" }, { name: "Initrode", external_id: "other-1" }],
      users: [{ name: "M", email: "m@example.com", external_id: "m1" }],
    });
    const d = await destination();
    const adopted = await d.deliver({ type: "group", userId: "m1", groupId: "g-initech", traits: { name: "Initech", plan: "gold" } });
    assert.equal(adopted.status, "delivered", adopted.message);
    const orgs = simulator.state().organizations;
    assert.equal(orgs.length, 2);
    assert.equal(orgs.find((o) => o.name === "Initech").external_id, "g-initech");
    assert.equal(simulator.state().memberships.length, 1);

    const conflict = await d.deliver({ type: "group", userId: "m1", groupId: "g-initrode", traits: { name: "initrode" } });
    assert.deepEqual([conflict.status, conflict.code, conflict.retryable], ["failed", "organization_name_taken", false]);
    assert.match(conflict.message, /already has the name `initrode` with external_id `other-1`/);
  });
});

describe("7. smaller ones", () => {
  test("fields: a missing type is text, a date field takes a midnight date-time, a field is read by key", () => {
    const simulator = createSimulator();
    const call = (method, path, body) => {
      const r = simulator.handle({ method, url: `https://acme.zendesk.com/api/v2${path}`, headers: { authorization: "Bearer t" }, body: body ? JSON.stringify(body) : null });
      return { status: r.status, json: r.body ? JSON.parse(r.body) : null };
    };
    assert.equal(call("POST", "/user_fields", { user_field: { key: "nickname", title: "Nickname" } }).json.user_field.type, "text");
    call("POST", "/user_fields", { user_field: { key: "renewal", title: "Renewal", type: "date" } });
    const written = call("POST", "/users/create_or_update", { user: { name: "D", user_fields: { renewal: "2026-03-01T00:00:00Z" } } });
    assert.equal(written.status, 201);
    assert.equal(written.json.user.user_fields.renewal, "2026-03-01");
    assert.equal(call("POST", "/users/create_or_update", { user: { name: "E", user_fields: { renewal: "2026-03-01T10:00:00Z" } } }).status, 422);
    assert.equal(call("GET", "/user_fields/renewal").json.user_field.key, "renewal");
    assert.equal(call("GET", "/user_fields/missing_key").status, 404);
  });

  test("a user whose email is a secondary identity is found by identify and track", async () => {
    const { simulator, requests, destination } = world();
    simulator.seed({ users: [{ name: "Sec", email: "primary@example.com", emails: ["second@example.com"], external_id: "s1" }] });
    const d = await destination();
    const id = userOf(simulator, "s1").id;
    const outcome = await d.deliver({ type: "identify", traits: { name: "Sec", email: "second@example.com" } });
    assert.equal(outcome.message, `user ${id} updated`);
    assert.ok(requests.includes(`GET /api/v2/users/${id}/identities`) && requests.includes(`PUT /api/v2/users/${id}`));
    assert.equal(simulator.state().users.length, 1);
    // track by that email, for a userId Zendesk does not know: the email alone finds the user.
    const other = await destination();
    const tracked = await other.deliver({ type: "track", userId: "not-s1", event: "Order Completed", properties: { email: "second@example.com" } });
    assert.equal(tracked.status, "delivered", tracked.message);
    assert.equal(simulator.state().events[0].user_id, id);
  });
});

describe("1. pacing", () => {
  test("user writes answer with Zendesk-RateLimit-create-update-user; lookups and events after them do not wait", async () => {
    const { simulator, destination, clock } = world({ searchIndexLagMs: 0 });
    const d = await destination();
    for (let i = 0; i < 3; i++) {
      assert.equal((await d.deliver({ type: "identify", userId: `p${i}`, traits: { name: `P ${i}`, email: `p${i}@example.com` } })).status, "delivered");
    }
    const header = simulator.handle({
      method: "PUT",
      url: `https://acme.zendesk.com/api/v2/users/${userOf(simulator, "p0").id}`,
      headers: { authorization: "Bearer t" },
      body: '{"user":{"notes":"x"}}',
    }).headers["zendesk-ratelimit-create-update-user"];
    assert.match(header, /^total=5; remaining=[0-4]; resets=\d+$/);
    for (let i = 0; i < 3; i++) {
      assert.equal((await d.deliver({ type: "track", userId: `p${i}`, event: "Order Completed", properties: { n: i } })).status, "delivered");
    }
    assert.deepEqual(clock.sleeps, []);
    assert.equal(d.stats().pacedMs, 0);
  });

  test("a group's organization update over Zendesk's 5 per minute waits for that endpoint only", async () => {
    const { simulator, destination, clock } = world({ organizationUpdateLimit: true, searchIndexLagMs: 0 });
    simulator.seed({ users: [{ name: "M", email: "m@example.com", external_id: "m1" }] });
    const d = await destination();
    const outcomes = [];
    for (let i = 0; i < 7; i++) outcomes.push(await d.deliver({ type: "group", userId: "m1", groupId: "g1", traits: { name: "Initech", n: i } }));
    // One create, then five updates in the minute, then the sixth update is throttled.
    assert.deepEqual(outcomes.map((o) => o.status), Array(7).fill("delivered"));
    assert.equal(simulator.state().counters.rateLimited, 1);
    assert.equal(clock.sleeps.length, 1, "one wait, for the throttled organization update");
    assert.ok(clock.sleeps[0] > 0 && clock.sleeps[0] <= 60_000);
  });
});

describe("8. OAuth", () => {
  const client = { clientId: "fleet", clientSecret: "fleet-secret" };

  test("client_credentials: settings without a token; the host gets one (201) and renews it before it ends", async () => {
    const { simulator, requests, destination, clock } = world({ auth: { basic: [], bearer: [] }, oauthClients: [{ ...client, refreshToken: "unused" }] });
    const tokens = [];
    const d = await destination({ email: undefined, password: undefined }, { oauthClient: { ...client, scope: "read write" }, onTokens: (t) => tokens.push(t) });
    const outcome = await d.deliver({ type: "identify", userId: "cc1", traits: { name: "Client Cred", email: "cc1@example.com" } });
    assert.equal(outcome.status, "delivered", outcome.message);
    assert.equal(requests[0], "POST /oauth/tokens");
    const log = simulator.log();
    assert.equal(log[0].status, 201);
    assert.ok(log.slice(1).every((e) => e.authorization === "Bearer …redacted" && e.status < 400));
    assert.deepEqual(tokens.map((t) => [t.refreshToken, t.expiresIn]), [[null, 1800]]);
    // Renewed a minute before it ends, not after a 401.
    clock.t += 1750 * 1000;
    await d.deliver({ type: "track", userId: "cc1", event: "Order Completed", properties: {} });
    assert.equal(simulator.log().filter((e) => e.path === "/oauth/tokens").length, 2);
    assert.equal(simulator.log().filter((e) => e.status === 401).length, 0);
  });

  test("refresh_token: the token endpoint's 201 is taken, expires_in asked for and refreshed early", async () => {
    const { simulator, destination, clock } = world({ auth: { basic: [], bearer: [] }, oauthClients: [{ ...client, refreshToken: "r0", accessToken: "a0" }] });
    const tokens = [];
    const d = await destination(
      { email: undefined, password: undefined, oauthToken: "expired" },
      { oauthRefresh: { ...client, refreshToken: "r0" }, onTokens: (t) => tokens.push(t) },
    );
    assert.equal((await d.deliver({ type: "identify", userId: "rt1", traits: { name: "Refresh", email: "rt1@example.com" } })).status, "delivered");
    assert.deepEqual(simulator.log().slice(0, 3).map((e) => `${e.path} ${e.status}`), ["/api/v2/users/search 401", "/oauth/tokens 201", "/api/v2/users/search 200"]);
    assert.equal(tokens[0].expiresIn, 1800);
    clock.t += 1790 * 1000;
    assert.equal((await d.deliver({ type: "track", userId: "rt1", event: "Order Completed", properties: {} })).status, "delivered");
    assert.equal(simulator.log().filter((e) => e.status === 401).length, 1, "the second token came before the first expired");
    assert.equal(tokens.length, 2);
  });

  test("an API token Zendesk refuses (401): the outcome says tokens get deactivated and points at OAuth", async () => {
    const { destination } = world({ auth: { basic: [{ email: "agent@acme.test", token: "another-token" }] } });
    const d = await destination();
    const outcome = await d.deliver({ type: "identify", userId: "x1", traits: { name: "X", email: "x1@example.com" } });
    assert.deepEqual([outcome.status, outcome.code], ["failed", "unauthorized"]);
    assert.match(outcome.message, /Zendesk deactivates tokens unused for 30 days and stops all API tokens on 30 Apr 2027; use OAuth/);
  });
});
