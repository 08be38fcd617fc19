// The simulator over real HTTP on 127.0.0.1: Zendesk paths, the /__simulator/ control endpoints,
// delays and dropped connections, and Zendesk-like CORS.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startSimulatorServer } from "../../pkg/simulator-server.js";
import { raw } from "./raw-request.js";

const BASIC = "Basic " + btoa("agent@acme.com/token:secret-token");

/** Starts a server for one test and closes it when the test ends. */
async function serve(t, options) {
  const server = await startSimulatorServer(options);
  t.after(() => server.close());
  return server;
}

const jsonHeaders = (authorization = BASIC) => ({ authorization, "content-type": "application/json", accept: "application/json" });

test("listens on 127.0.0.1 with an ephemeral port and serves the Zendesk API end to end", async (t) => {
  const server = await serve(t);
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(server.port > 0);

  const created = await fetch(`${server.url}/api/v2/users/create_or_update.json`, {
    method: "POST",
    headers: jsonHeaders(),
    body: JSON.stringify({ user: { name: "Peter Gibbons", email: "peter@example.com", external_id: "97980cfea0067" } }),
  });
  assert.equal(created.status, 201);
  const { user } = await created.json();
  assert.equal(user.url, `${server.url}/api/v2/users/${user.id}.json`, "links point back at the simulator");

  // An exact read (search lags behind new users, as Zendesk's does).
  const read = await fetch(`${server.url}/api/v2/users.json?external_id=97980cfea0067`, { headers: jsonHeaders() });
  assert.equal((await read.json()).count, 1);
  const unauthenticated = await fetch(`${server.url}/api/v2/users/${user.id}`);
  assert.equal(unauthenticated.status, 401);
  assert.deepEqual(await unauthenticated.json(), { error: "Couldn't authenticate you" });
  assert.equal(server.simulator.state().users.length, 1);
});

test("/__simulator/ endpoints: seed, state, log and reset, without auth and with CORS", async (t) => {
  const server = await serve(t, { largeIds: true });
  const control = (path, init) => fetch(`${server.url}/__simulator/${path}`, init);

  const seeded = await control("seed", {
    method: "POST",
    body: JSON.stringify({
      organizations: [{ name: "Initech", external_id: "0e8c78ea9d97a7b8185e8632" }],
      users: [
        { name: "Twin One", email: "twin@example.com" },
        { name: "Twin Two", email: "twin@example.com" },
      ],
    }),
  });
  assert.equal(seeded.status, 200);
  assert.equal(seeded.headers.get("access-control-allow-origin"), null, "no Origin, no CORS header (never *)");
  const records = await seeded.json();
  assert.equal(records.users.length, 2);
  assert.equal(typeof records.users[0].id, "string", "ids beyond 2^53 come back as decimal strings from seed");

  const state = await control("state");
  assert.equal(state.status, 200);
  assert.equal(state.headers.get("access-control-allow-origin"), null);
  const stateText = await state.text();
  assert.match(stateText, /"id":9007199254740993,/, "state JSON keeps big ids exact");
  assert.equal(JSON.parse(stateText).organizations[0].name, "Initech");

  await fetch(`${server.url}/api/v2/users/search?query=twin`, { headers: jsonHeaders("Bearer some-oauth-token") });
  const log = await (await control("log")).json();
  assert.equal(log.length, 1);
  assert.equal(log[0].path, "/api/v2/users/search");
  assert.deepEqual(log[0].query, { query: "twin" });
  assert.equal(log[0].authorization, "Bearer …redacted");

  const preflight = await control("state", { method: "OPTIONS", headers: { origin: "http://localhost:5173", "access-control-request-method": "GET" } });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "http://localhost:5173", "a page on another loopback port may read it");

  const badSeed = await control("seed", { method: "POST", body: JSON.stringify({ users: [{ email: "no-name@example.com" }] }) });
  assert.equal(badSeed.status, 400);
  assert.equal((await badSeed.json()).error, "InvalidSeed");

  assert.equal((await control("reset", { method: "POST" })).status, 200);
  const afterReset = await (await control("state")).json();
  assert.equal(afterReset.users.length, 0);
  assert.equal((await (await control("log")).json()).length, 0);
  assert.equal((await control("nope")).status, 404);
});

test("a dropped connection rejects fetch with a TypeError and changes nothing", async (t) => {
  const server = await serve(t);
  server.simulator.failNext("drop");
  await assert.rejects(
    fetch(`${server.url}/api/v2/users/create_or_update`, { method: "POST", headers: jsonHeaders(), body: JSON.stringify({ user: { name: "Lost" } }) }),
    TypeError,
  );
  assert.equal(server.simulator.state().users.length, 0);
  const next = await fetch(`${server.url}/api/v2/users/create_or_update`, { method: "POST", headers: jsonHeaders(), body: JSON.stringify({ user: { name: "Kept" } }) });
  assert.equal(next.status, 201, "the server keeps serving after a drop");
});

test("a slow answer arrives after delayMs, and a client timeout gives up first", async (t) => {
  const server = await serve(t, { faults: { rate: 0, slowMs: 300 } });
  server.simulator.failNext("slow");
  await assert.rejects(
    fetch(`${server.url}/api/v2/users/search?query=x`, { headers: jsonHeaders(), signal: AbortSignal.timeout(50) }),
    (error) => error.name === "TimeoutError" || error.name === "AbortError",
  );

  server.simulator.failNext("slow");
  const started = Date.now();
  const slow = await fetch(`${server.url}/api/v2/users/search?query=x`, { headers: jsonHeaders() });
  assert.ok(Date.now() - started >= 280, "answered only after the delay");
  assert.equal(slow.status, 504);
  await slow.text();
});

test("CORS like Zendesk: preflight answered, Bearer answers readable cross-origin, Basic and 429 not", async (t) => {
  const server = await serve(t, { rateLimitPerMinute: 2 });
  const origin = "http://localhost:5173";

  const preflight = await fetch(`${server.url}/api/v2/users/search.json`, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), origin);
  assert.match(preflight.headers.get("access-control-allow-headers"), /authorization/i);

  const bearer = await fetch(`${server.url}/api/v2/users/search?query=x`, { headers: { ...jsonHeaders("Bearer oauth-token"), origin } });
  assert.equal(bearer.status, 200);
  assert.equal(bearer.headers.get("access-control-allow-origin"), origin);
  assert.match(bearer.headers.get("access-control-expose-headers"), /Retry-After/);
  assert.equal(bearer.headers.get("x-rate-limit"), "2");

  const basic = await fetch(`${server.url}/api/v2/users/search?query=x`, { headers: { ...jsonHeaders(), origin } });
  assert.equal(basic.status, 200);
  assert.equal(basic.headers.get("access-control-allow-origin"), null, "API-token (Basic) calls get no CORS");

  const limited = await fetch(`${server.url}/api/v2/users/search?query=x`, { headers: { ...jsonHeaders("Bearer oauth-token"), origin } });
  assert.equal(limited.status, 429);
  assert.ok(limited.headers.get("retry-after"));
  assert.equal(limited.headers.get("access-control-allow-origin"), null, "no CORS headers on 429");
  await Promise.all([preflight, bearer, basic, limited].map((response) => response.text()));
});

test("serves an existing simulator and several servers can run side by side", async (t) => {
  const first = await serve(t);
  const second = await serve(t, { simulator: first.simulator });
  assert.notEqual(first.port, second.port);
  assert.equal(second.simulator, first.simulator);
  await fetch(`${first.url}/api/v2/organizations/create_or_update`, {
    method: "POST",
    headers: jsonHeaders(),
    body: JSON.stringify({ organization: { name: "Shared", external_id: "s" } }),
  });
  const found = await fetch(`${second.url}/api/v2/organizations/search?external_id=S`, { headers: jsonHeaders() });
  assert.equal((await found.json()).count, 1);
});

test("only this machine: a foreign page or a DNS-rebound Host can neither read, seed nor reset the account (issue 13)", async (t) => {
  const server = await serve(t);
  server.simulator.seed({ users: [{ name: "Kept", email: "kept@example.com" }] });
  const port = server.port;
  const attempts = [
    // a page on another site: a text/plain POST needs no preflight
    { method: "POST", path: "/__simulator/reset", headers: { origin: "https://evil.example", "content-type": "text/plain" } },
    { method: "POST", path: "/__simulator/seed", headers: { origin: "https://evil.example", "content-type": "text/plain" }, body: '{"users":[{"name":"Evil","email":"e@evil.example"}]}' },
    { path: "/__simulator/state", headers: { origin: "https://evil.example" } },
    { path: "/__simulator/state", headers: { origin: "null" } },
    { method: "OPTIONS", path: "/__simulator/state", headers: { origin: "https://evil.example", "access-control-request-method": "GET" } },
    { path: "/__simulator/state", headers: { "sec-fetch-site": "cross-site" } },
    { method: "POST", path: "/api/v2/users/create_or_update", headers: { origin: "https://evil.example", authorization: "Bearer x", "content-type": "text/plain" }, body: '{"user":{"name":"Evil","email":"e@evil.example"}}' },
    // DNS rebinding: the attacker's name resolving to 127.0.0.1, and a wrong port
    { path: "/__simulator/state", headers: { host: `evil.example:${port}` } },
    { method: "POST", path: "/__simulator/reset", headers: { host: `rebind.127.0.0.1.nip.io:${port}` } },
    { path: "/__simulator/state", headers: { host: `127.0.0.1:${port + 1}` } },
    { path: "/__simulator/state", headers: { host: "127.0.0.1" } },
  ];
  for (const attempt of attempts) {
    const answer = await raw(port, attempt);
    assert.equal(answer.status, 403, JSON.stringify(attempt));
    assert.equal(answer.headers["access-control-allow-origin"], undefined);
    assert.equal(JSON.parse(answer.body).error, "Forbidden");
  }
  assert.deepEqual(server.simulator.state().users.map((u) => u.name), ["Kept"]);
  assert.equal(server.simulator.log().length, 0);

  // Its own names still work, and a page on another loopback port is answered with its own origin.
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
    assert.equal((await raw(port, { path: "/__simulator/state", headers: { host } })).status, 200, host);
  }
  const local = await raw(port, { path: "/__simulator/state", headers: { origin: "http://localhost:5173", "sec-fetch-site": "same-site" } });
  assert.equal(local.status, 200);
  assert.equal(local.headers["access-control-allow-origin"], "http://localhost:5173");
  // A server that forwards to it (npm start's preview) is allowed by port.
  assert.equal((await raw(port, { path: "/__simulator/state", headers: { host: "127.0.0.1:1" } })).status, 403);
  server.allowPort(1);
  assert.equal((await raw(port, { path: "/__simulator/state", headers: { host: "127.0.0.1:1" } })).status, 200);
});
