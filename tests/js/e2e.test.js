// End to end over real HTTP on 127.0.0.1: the engine, the host and the CLI against the simulator server.
// Needs the built engine (npm run build). No test reaches the internet; every server is closed after its test.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createDestination } from "../../pkg/index.js";
import { startSimulatorServer } from "../../pkg/simulator-server.js";

const CLI = fileURLToPath(new URL("../../pkg/cli.js", import.meta.url));
const DATA = "/work/shared/data/segment-events-1k.ndjson";
const dataPath = (() => {
  // The shared data sits beside the repository (../shared in CI's fresh clone, /work/shared here).
  for (const candidate of [new URL("../../../shared/data/segment-events-1k.ndjson", import.meta.url), new URL(`file://${DATA}`)]) {
    try {
      readFileSync(candidate, { flag: "r" });
      return fileURLToPath(candidate);
    } catch {
      // try the next
    }
  }
  return null;
})();

let dir;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "zd-e2e-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function run(args, { input } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr, lines: stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l)) }));
    child.stdin.end(input ?? "");
  });
}

function file(name, content) {
  const path = join(dir, name);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

const baseSettings = (url, extra = {}) => ({ subdomain: "acme", email: "agent@acme.test/token", password: "x", baseUrl: url, ...extra });

// Every rule of the seed document, one event (or two) each.
const SEED_EVENTS = [
  // identify: create by email, name, phone, IANA time zone → Zendesk name, userId → external_id, custom traits → user fields
  { type: "identify", messageId: "m1", userId: "u-1", traits: { name: "Peter Gibbons", email: "peter@initech.test", phone: "+15551234567", timezone: "America/Los_Angeles", plan: "premium", logins: 5 } },
  // first + last name make the name
  { type: "identify", messageId: "m2", userId: "u-2", traits: { firstName: "Milton", lastName: "Waddams", email: "milton@initech.test" } },
  // no name at all: not sent
  { type: "identify", messageId: "m3", userId: "u-3", traits: { email: "nameless@initech.test" } },
  // group: organization by groupId (external_id), custom org traits → organization fields, the user linked
  { type: "group", messageId: "m4", userId: "u-1", groupId: "org-9", traits: { name: "Initech", industry: "Software", employees: 329 } },
  { type: "group", messageId: "m5", userId: "u-2", groupId: "org-9", traits: { name: "Initech" } },
  // track: listed event with userId → Sunshine event on that user; unlisted → skipped; properties.email maps by email
  { type: "track", messageId: "m6", userId: "u-1", event: "Order Completed", properties: { total: 42.5 } },
  { type: "track", messageId: "m7", userId: "u-1", event: "Page Scrolled", properties: {} },
  { type: "track", messageId: "m8", userId: "u-2", event: "Order Completed", properties: { email: "milton@initech.test", total: 1 } },
  // removeUsersFromOrganizations: company.id + company.remove → membership removed
  { type: "identify", messageId: "m9", userId: "u-1", traits: { name: "Peter Gibbons", company: { id: "org-9", remove: true } } },
];

describe("send: the seed's rules, visible in the simulator's state", () => {
  test("users, fields, organizations, memberships and events", async () => {
    const server = await startSimulatorServer({});
    try {
      const settings = file("seed-settings.json", baseSettings(server.url, { events: ["Order Completed"], verified: true, removeUsersFromOrganizations: true }));
      const events = file("seed.ndjson", SEED_EVENTS.map((e) => JSON.stringify(e)).join("\n"));
      const result = await run(["send", "--settings", settings, events]);
      assert.deepEqual(
        result.lines.map((l) => [l.messageId, l.type, l.status, l.code]),
        [
          ["m1", "identify", "delivered", "delivered"],
          ["m2", "identify", "delivered", "delivered"],
          ["m3", "identify", "invalid", "missing_name"],
          ["m4", "group", "delivered", "delivered"],
          ["m5", "group", "delivered", "delivered"],
          ["m6", "track", "delivered", "delivered"],
          ["m7", "track", "skipped", "event_not_enabled"],
          ["m8", "track", "delivered", "delivered"],
          ["m9", "identify", "delivered", "delivered"],
        ],
      );
      assert.equal(result.code, 1, "one event was invalid");
      for (const line of result.lines) assert.deepEqual(Object.keys(line), ["messageId", "type", "status", "code", "message", "warnings"]);

      const state = server.simulator.state();
      const users = Object.fromEntries(state.users.map((u) => [u.external_id, u]));
      assert.deepEqual(Object.keys(users).sort(), ["u-1", "u-2"]);
      assert.equal(users["u-1"].name, "Peter Gibbons");
      assert.equal(users["u-1"].email, "peter@initech.test");
      assert.equal(users["u-1"].phone, "+15551234567");
      assert.equal(users["u-1"].time_zone, "Pacific Time (US & Canada)");
      assert.equal(users["u-1"].verified, true);
      assert.equal(users["u-1"].user_fields.plan, "premium");
      assert.equal(users["u-1"].user_fields.logins, 5);
      assert.equal(users["u-2"].name, "Milton Waddams");
      assert.deepEqual(state.userFields.map((f) => [f.key, f.type]).sort(), [["logins", "integer"], ["plan", "text"], ["user_id", "text"]]);

      assert.equal(state.organizations.length, 1);
      const [org] = state.organizations;
      assert.deepEqual([org.name, org.external_id, org.organization_fields], ["Initech", "org-9", { employees: 329, industry: "Software" }]);
      assert.deepEqual(state.organizationFields.map((f) => [f.key, f.type]).sort(), [["employees", "integer"], ["industry", "text"]]);
      // u-1 joined then left (m9); u-2 stays a member
      assert.deepEqual(state.memberships.map((m) => [m.user_id, m.organization_id]), [[users["u-2"].id, org.id]]);
      assert.equal(state.counters.membershipsCreated, 2);
      assert.equal(state.counters.membershipsDeleted, 1);

      assert.deepEqual(
        state.events.map((e) => [e.user_id, e.source, e.type, e.properties]),
        [
          [users["u-1"].id, "segment", "Order Completed", { total: 42.5 }],
          [users["u-2"].id, "segment", "Order Completed", { email: "milton@initech.test", total: 1 }],
        ],
      );
      assert.equal(state.counters.anonymousUsersCreated, 0);
    } finally {
      await server.close();
    }
  });
});

describe("plan matches send", () => {
  test("same outcomes and the same requests, in order; credentials redacted", async () => {
    const server = await startSimulatorServer({});
    try {
      const settings = file("plan-settings.json", baseSettings(server.url, { events: ["Order Completed"], removeUsersFromOrganizations: true }));
      const events = file("plan.json", JSON.stringify(SEED_EVENTS));
      const planned = await run(["plan", "--settings", settings, events]);
      assert.equal(server.simulator.log().length, 0, "plan sends nothing");
      // plan shows one conversation per event: what send does with --no-batch.
      const sent = await run(["send", "--settings", settings, "--concurrency", "1", "--no-batch", events]);
      assert.equal(planned.code, sent.code);
      assert.deepEqual(
        planned.lines.map(({ requests, ...line }) => line),
        sent.lines,
      );
      const plannedRequests = planned.lines.flatMap((l) => l.requests);
      const log = server.simulator.log();
      assert.deepEqual(
        plannedRequests.map(({ request, response }) => {
          const url = new URL(request.url);
          return [request.method, url.pathname, Object.fromEntries(url.searchParams), response.status];
        }),
        log.map((e) => [e.method, e.path, e.query, e.status]),
      );
      for (const { request } of plannedRequests) assert.equal(request.headers.Authorization, "Basic [redacted]");
      assert.ok(!planned.stdout.includes(Buffer.from("agent@acme.test/token:x").toString("base64")));
    } finally {
      await server.close();
    }
  });

  test("through a proxy with a path prefix (baseUrl …/zendesk), plan predicts what send does (issue 13, item 7)", async () => {
    const server = await startSimulatorServer({});
    // A reverse proxy: /zendesk/… → the simulator, URLs in its answers rewritten back under /zendesk.
    const proxy = http.createServer(async (req, res) => {
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      if (!req.url.startsWith("/zendesk/")) return res.writeHead(404).end();
      const upstream = await new Promise((resolve, reject) => {
        const forwarded = http.request({ host: "127.0.0.1", port: server.port, method: req.method, path: req.url.slice("/zendesk".length), headers: { ...req.headers } }, resolve);
        forwarded.on("error", reject);
        forwarded.end(Buffer.concat(chunks));
      });
      let body = "";
      for await (const chunk of upstream) body += chunk;
      body = body.split(`${origin}/api/v2/`).join(`${origin}/zendesk/api/v2/`);
      const headers = { ...upstream.headers, "content-length": Buffer.byteLength(body) };
      delete headers["transfer-encoding"];
      res.writeHead(upstream.statusCode, headers).end(body);
    });
    await new Promise((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const origin = `http://127.0.0.1:${proxy.address().port}`;
    server.allowPort(proxy.address().port); // the proxy keeps its own Host
    try {
      const settings = file("proxy-settings.json", baseSettings(`${origin}/zendesk`, { events: ["Order Completed"], removeUsersFromOrganizations: true }));
      const events = file("proxy-plan.json", JSON.stringify(SEED_EVENTS));
      const planned = await run(["plan", "--settings", settings, events]);
      assert.equal(server.simulator.log().length, 0, "plan sends nothing");
      // plan shows one conversation per event: what send does with --no-batch.
      const sent = await run(["send", "--settings", settings, "--concurrency", "1", "--no-batch", events]);
      assert.ok(sent.lines.some((line) => line.status === "delivered"));
      assert.deepEqual(
        planned.lines.map(({ requests, ...line }) => line),
        sent.lines,
      );
      assert.deepEqual(
        planned.lines.flatMap((l) => l.requests).map(({ request, response }) => [request.method, new URL(request.url).pathname, response.status]),
        server.simulator.log().map((e) => [e.method, `/zendesk${e.path}`, e.status]),
      );
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
      await server.close();
    }
  });

  test("the library's plan() runs against an empty or seeded account", async () => {
    const destination = await createDestination(baseSettings("http://127.0.0.1:9", { events: ["Order Completed"] }), { fetch: () => assert.fail("plan must not fetch") });
    const track = { type: "track", messageId: "t", userId: "known", event: "Order Completed", properties: {} };
    const empty = await destination.plan(track);
    assert.equal(empty.outcome.code, "user_not_found");
    const seeded = await destination.plan(track, { account: { users: [{ name: "Known", email: "k@e.com", external_id: "known" }] } });
    assert.equal(seeded.outcome.status, "delivered");
    assert.ok(seeded.requests.some(({ request, response }) => request.method === "POST" && /\/events$/.test(new URL(request.url).pathname) && response.status === 202));
    await destination.close();
  });
});

describe("faults", { skip: dataPath ? false : "shared data file not found" }, () => {
  test("1,000 events through 20% transient faults and a tight rate limit: each delivered exactly once", { timeout: 120_000 }, async () => {
    const text = readFileSync(dataPath, "utf8");
    const lines = text.split("\n").filter(Boolean);
    assert.equal(lines.length, 1000);
    const names = [...new Set(lines.map((l) => JSON.parse(l)).filter((e) => e.type === "track").map((e) => e.event))];

    // One simulated minute per real second: the rate limit, the single-user write limit and the
    // organization update limit bite hard.
    const timeScale = 60;
    const deliver = async (serverOptions, hostOptions) => {
      const server = await startSimulatorServer(serverOptions);
      try {
        const destination = await createDestination(baseSettings(server.url, { events: names }), hostOptions);
        const outcomes = await destination.deliverAll(lines, { concurrency: 8 });
        await destination.close();
        return { outcomes, stats: destination.stats(), state: server.simulator.state(), log: server.simulator.log() };
      } finally {
        await server.close();
      }
    };
    const clean = await deliver({}, {});
    const faulty = await deliver(
      { rateLimitPerMinute: 300, singleUserWriteLimit: true, organizationUpdateLimit: true, timeScale, faults: { rate: 0.2, seed: 7, slowMs: 5_000 } },
      {
        timeoutMs: 750, // below the slow faults' 5 s
        retry: { maxAttempts: 10, baseDelayMs: 10, maxDelayMs: 200 }, // 20% faults: 10 attempts make giving up ~1e-7 per request
        pacing: { singleUserWriteIntervalMs: 1100 / timeScale },
      },
    );

    // Faults happened and were retried: every injected fault and every 429 cost exactly one retry.
    const counters = faulty.state.counters;
    assert.ok(counters.faultsInjected > 100, `faults injected: ${counters.faultsInjected}`);
    assert.equal(faulty.stats.retries, counters.faultsInjected + counters.rateLimited);
    assert.equal(faulty.stats.rateLimited, counters.rateLimited);

    // Every event has one outcome, the same as without faults: nothing lost, nothing failed.
    assert.equal(faulty.outcomes.length, 1000);
    assert.deepEqual(
      faulty.outcomes.map((o) => `${o.status}/${o.code}`),
      clean.outcomes.map((o) => `${o.status}/${o.code}`),
    );
    assert.ok(!faulty.outcomes.some((o) => o.code === "zendesk_unavailable" || o.code === "rate_limited"));

    // The same account: no duplicate users, every event stored once.
    const people = (state) => state.users.map((u) => `${u.external_id}|${u.email}|${u.name}`).sort();
    assert.deepEqual(people(faulty.state), people(clean.state));
    const externalIds = faulty.state.users.map((u) => u.external_id).filter(Boolean);
    assert.equal(new Set(externalIds).size, externalIds.length);
    const emails = faulty.state.users.map((u) => u.email).filter(Boolean);
    assert.equal(new Set(emails).size, emails.length);
    const stored = (state) => {
      const byId = new Map(state.users.map((u) => [u.id, u.external_id]));
      return state.events.map((e) => `${byId.get(e.user_id)}|${e.type}|${JSON.stringify(e.properties)}`).sort();
    };
    assert.deepEqual(stored(faulty.state), stored(clean.state));
    assert.equal(faulty.state.events.length, clean.outcomes.filter((o, i) => o.status === "delivered" && JSON.parse(lines[i]).type === "track").length);
    assert.equal(faulty.state.organizations.length, clean.state.organizations.length);
    assert.equal(faulty.state.memberships.length, clean.state.memberships.length);
  });
});

describe("OAuth over HTTP", () => {
  const client = { clientId: "client-1", clientSecret: "secret-1", refreshToken: "refresh-1", accessToken: "live-token" };

  test("an expired token is refreshed once for many concurrent events, and the new pair is handed over", async () => {
    const server = await startSimulatorServer({ auth: { basic: [], bearer: [] }, oauthClients: [{ ...client }] });
    try {
      const tokens = [];
      const destination = await createDestination(
        { subdomain: "acme", oauthToken: "expired-token", baseUrl: server.url },
        { oauthRefresh: { refreshToken: "refresh-1", clientId: "client-1", clientSecret: "secret-1" }, onTokens: (t) => tokens.push(t) },
      );
      const events = Array.from({ length: 12 }, (_, i) => ({ type: "identify", messageId: `o${i}`, userId: `ou-${i}`, traits: { name: `O ${i}`, email: `o${i}@e.com` } }));
      const outcomes = await destination.deliverAll(events, { concurrency: 8 });
      assert.deepEqual(outcomes.map((o) => o.status), Array(12).fill("delivered"));
      const state = server.simulator.state();
      assert.equal(state.counters.accessTokensIssued, 1);
      assert.equal(state.users.length, 12);
      assert.equal(tokens.length, 1);
      assert.equal(typeof tokens[0].accessToken, "string");
      assert.notEqual(tokens[0].refreshToken, "refresh-1");
      assert.equal(tokens[0].expiresIn, 1800);
      // After the refresh every request carried the new token (the log shows only the scheme).
      const log = server.simulator.log();
      assert.equal(log.filter((e) => e.path === "/oauth/tokens").length, 1);
      await destination.close();
    } finally {
      await server.close();
    }
  });

  test("send --oauth rewrites the file with the new pair, which the next run uses", async () => {
    const server = await startSimulatorServer({ auth: { basic: [], bearer: [] }, oauthClients: [{ ...client }] });
    try {
      const settings = file("oauth-settings.json", { subdomain: "acme", oauthToken: "expired-token", baseUrl: server.url });
      const oauthFile = file("oauth.json", { refreshToken: "refresh-1", clientId: "client-1", clientSecret: "secret-1" });
      const event = JSON.stringify({ type: "identify", messageId: "a", userId: "oa", traits: { name: "A", email: "a@e.com" } });
      const first = await run(["send", "--settings", settings, "--oauth", oauthFile, "-"], { input: event });
      assert.equal(first.code, 0, first.stderr);
      const saved = JSON.parse(readFileSync(oauthFile, "utf8"));
      assert.notEqual(saved.refreshToken, "refresh-1");
      assert.equal(typeof saved.accessToken, "string");
      assert.match(first.stderr, /refreshed the OAuth token/);
      for (const secret of [saved.refreshToken, saved.accessToken, "refresh-1", "secret-1", "expired-token"]) {
        assert.ok(!`${first.stdout}${first.stderr}`.includes(secret), "a credential on the CLI's output");
        assert.ok(!JSON.stringify(server.simulator.log()).includes(secret), "a credential in the simulator's log");
      }
      // The next run starts with the saved access token: no refresh needed.
      const second = await run(["send", "--settings", settings, "--oauth", oauthFile, "-"], { input: event.replace('"a"', '"b"') });
      assert.equal(second.code, 0, second.stderr);
      assert.equal(server.simulator.state().counters.accessTokensIssued, 1);
    } finally {
      await server.close();
    }
  });
});
