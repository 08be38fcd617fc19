// `serve`: the edge handler on node:http, driven by the unmodified @segment/analytics-node client and by
// raw HTTP, against the Zendesk simulator over loopback; and the command itself in a child process
// (per-request log lines, drain on SIGTERM).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Analytics } from "@segment/analytics-node";
import { serveCommand, serveUsage, startServer } from "../../pkg/serve.js";
import { startSimulatorServer } from "../../pkg/simulator-server.js";
import { account } from "./account-view.js";

const WRITE_KEY = "wk_test_serve";
const settingsFor = (url) => ({ subdomain: "acme", email: "agent@acme.test/token", password: "x", baseUrl: url, events: ["Order Completed"] });
const SERVE = fileURLToPath(new URL("../../pkg/serve.js", import.meta.url));
const LOG_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (POST|OPTIONS|GET) \/v1\/\w+ \d{3} \d+ events? \d+ms$/;

async function servers(t, { simulator: simOptions = {}, server: serverOptions = {} } = {}) {
  const sim = await startSimulatorServer({ port: 0, ...simOptions });
  t.after(() => sim.close());
  const lines = [];
  const server = await startServer({ settings: settingsFor(sim.url), writeKeys: [WRITE_KEY], port: 0, logger: (line) => lines.push(line), ...serverOptions });
  t.after(() => server.close({ timeoutMs: 0 }));
  return { sim, server, lines };
}


/** The client's view: every event it gave up on. */
function watchFailures(analytics) {
  const failures = [];
  analytics.on("error", (error) => failures.push(error));
  return failures;
}

/**
 * `node pkg/serve.js` as a child process against `zendeskUrl`: resolves once it printed its URL.
 * `stopping` resolves when it reports the drain on stderr; `output()` is what it printed so far.
 */
async function spawnServe(t, zendeskUrl, extraArgs = []) {
  const dir = mkdtempSync(join(tmpdir(), "serve-test-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const settingsFile = join(dir, "settings.json");
  writeFileSync(settingsFile, JSON.stringify(settingsFor(zendeskUrl)));
  const args = [SERVE, "--settings", settingsFile, "--write-key", WRITE_KEY, "--port", "0", ...extraArgs];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  t.after(() => child.exitCode === null && child.kill("SIGKILL"));
  let stdout = "";
  let stderr = "";
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const stopping = new Promise((resolve) => {
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
      if (stderr.includes("stopping")) resolve();
    });
  });
  const url = await new Promise((resolve, reject) => {
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      if (stdout.includes("\n")) resolve(stdout.split("\n")[0]);
    });
    child.on("exit", () => reject(new Error(`serve exited early: ${stderr}`)));
  });
  return { child, url, exited, stopping, output: () => ({ stdout, stderr }) };
}

describe("with @segment/analytics-node", () => {
  test("identify, track and group land in Zendesk; one log line per request, no key in it", async (t) => {
    const { sim, server, lines } = await servers(t);
    const analytics = new Analytics({ writeKey: WRITE_KEY, host: server.url, path: "/v1/batch", flushAt: 1, maxRetries: 1 });
    const failures = watchFailures(analytics);
    analytics.identify({ userId: "u-1001", traits: { email: "peter@initech.example", name: "Peter Gibbons", plan: "pro" } });
    analytics.track({ userId: "u-1001", event: "Order Completed", properties: { orderId: "o-1", total: 42.5 } });
    analytics.track({ userId: "u-1001", event: "Not Forwarded" });
    analytics.group({ userId: "u-1001", groupId: "org-77", traits: { name: "Initech", industry: "Software" } });
    analytics.page({ userId: "u-1001", name: "Home" });
    await analytics.closeAndFlush();
    assert.deepEqual(failures, []);
    assert.deepEqual(account(sim.simulator), {
      users: [{ name: "Peter Gibbons", email: "peter@initech.example", external_id: "u-1001" }],
      organizations: [{ name: "Initech", external_id: "org-77" }],
      memberships: [{ user: "u-1001", organization: "org-77" }],
      events: [{ user: "u-1001", type: "Order Completed", properties: { orderId: "o-1", total: 42.5 } }],
    });
    assert.equal(sim.simulator.state().users[0].user_fields.plan, "pro");
    assert.equal(lines.length, 5);
    for (const line of lines) {
      assert.match(line, LOG_LINE);
      assert.match(line, / POST \/v1\/batch 200 1 event /);
      assert.ok(!line.includes(WRITE_KEY) && !line.includes(btoa(`${WRITE_KEY}:`)));
    }
  });

  test("a batch answered 503 is retried by the client; what had landed is not written twice", async (t) => {
    const sim = await startSimulatorServer({ port: 0 });
    t.after(() => sim.close());
    let organizationFailures = 0;
    // Zendesk fails the first organization write once: the group fails retryably, the rest lands.
    const fetchWithFault = (url, init) => {
      // (create_many when the events are planned as one batch, create_or_update when alone)
      if (/\/organizations\/create_(or_update|many)/.test(String(url)) && organizationFailures++ === 0) {
        return Promise.resolve(new Response('{"error":"ServiceUnavailable"}', { status: 503, headers: { "content-type": "application/json" } }));
      }
      return fetch(url, init);
    };
    const lines = [];
    const server = await startServer({ settings: settingsFor(sim.url), writeKeys: WRITE_KEY, logger: (line) => lines.push(line), fetch: fetchWithFault, retry: { maxAttempts: 1 } });
    t.after(() => server.close({ timeoutMs: 0 }));

    const analytics = new Analytics({ writeKey: WRITE_KEY, host: server.url, path: "/v1/batch", flushAt: 3, flushInterval: 60_000, maxRetries: 3 });
    const failures = watchFailures(analytics);
    analytics.identify({ userId: "u-1", traits: { email: "milton@initech.example", name: "Milton Waddams" } });
    analytics.track({ userId: "u-1", event: "Order Completed", properties: { item: "stapler" } });
    analytics.group({ userId: "u-1", groupId: "org-1", traits: { name: "Initech" } });
    await analytics.closeAndFlush();
    assert.deepEqual(failures, []);
    assert.deepEqual(
      lines.map((line) => line.split(" ").slice(1, 5).join(" ")),
      ["POST /v1/batch 503 3", "POST /v1/batch 200 3"],
    );
    assert.deepEqual(account(sim.simulator), {
      users: [{ name: "Milton Waddams", email: "milton@initech.example", external_id: "u-1" }],
      organizations: [{ name: "Initech", external_id: "org-1" }],
      memberships: [{ user: "u-1", organization: "org-1" }],
      events: [{ user: "u-1", type: "Order Completed", properties: { item: "stapler" } }],
    });
    const { counters } = sim.simulator.state();
    assert.equal(counters.usersCreated, 1);
    assert.equal(counters.eventsReceived, 1);
    assert.equal(server.handler.stats().duplicates, 2);
  });

  test("an oversize event in the client's batch is reported invalid; the others arrive (the client is not made to drop them)", async (t) => {
    // analytics-node 3.1.0 sends this 40 KB event (its size check does not count bytes), and it drops a whole
    // batch answered 400: the server refuses the item alone and answers 200, so Bob Porter is not lost.
    const outcomes = [];
    const { sim, server, lines } = await servers(t, { server: { onOutcome: (report) => outcomes.push(report) } });
    const analytics = new Analytics({ writeKey: WRITE_KEY, host: server.url, path: "/v1/batch", flushAt: 2, maxRetries: 0 });
    const failures = watchFailures(analytics);
    analytics.identify({ userId: "u-2", traits: { name: "Bob Slydell", notes: "x".repeat(40 * 1024) } });
    analytics.identify({ userId: "u-3", traits: { name: "Bob Porter" } });
    await analytics.closeAndFlush();
    assert.deepEqual(failures, []);
    assert.deepEqual(lines.map((line) => line.split(" ").slice(1, 5).join(" ")), ["POST /v1/batch 200 2"], "one batch holding both events, answered 200");
    assert.deepEqual(
      outcomes.map(({ type, outcome }) => [type, outcome.status, outcome.code]),
      [
        ["identify", "invalid", "event_too_large"],
        ["identify", "delivered", "delivered"],
      ],
    );
    assert.deepEqual(account(sim.simulator).users, [{ name: "Bob Porter", email: null, external_id: "u-3" }]);
  });
});

describe("raw HTTP", () => {
  const basic = "Basic " + btoa(`${WRITE_KEY}:`);

  test("bad requests over a socket: wrong key, oversize request, malformed JSON, empty body", async (t) => {
    const { sim, server, lines } = await servers(t);
    const send = async (body, headers = { authorization: basic }) => {
      const response = await fetch(`${server.url}/v1/batch`, { method: "POST", headers, body });
      return { status: response.status, body: await response.json() };
    };
    assert.deepEqual((await send('{"batch":[]}', { authorization: "Basic " + btoa("nope:") })).status, 401);
    const big = await send(JSON.stringify({ batch: [{ type: "track", userId: "u", event: "E", properties: { blob: "x".repeat(600 * 1024) } }] }));
    assert.deepEqual([big.status, big.body.error, big.body.limit], [400, "request_too_large", "500 KB per request"]);
    assert.deepEqual([(await send("{nope")).status, (await send("{nope")).body.error], [400, "malformed_json"]);
    assert.deepEqual((await send("")).body, { success: false, error: "empty_body", message: "the request body is empty: send a JSON event or batch" });
    const ok = await send(JSON.stringify({ batch: [{ type: "identify", userId: "u-9", messageId: "m-9", traits: { name: "Joanna" } }] }));
    assert.equal(ok.status, 200);
    assert.deepEqual(account(sim.simulator).users, [{ name: "Joanna", email: null, external_id: "u-9" }]);
    assert.deepEqual(lines.map((line) => line.split(" ")[3]), ["401", "400", "400", "400", "400", "200"]);
    assert.equal(sim.simulator.state().counters.usersCreated, 1);
  });

  test("CORS preflight over a socket", async (t) => {
    const { server } = await servers(t);
    const response = await fetch(`${server.url}/v1/t`, { method: "OPTIONS", headers: { origin: "http://127.0.0.1:1234", "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" } });
    assert.equal(response.status, 204);
    assert.equal(response.headers.get("access-control-allow-origin"), "http://127.0.0.1:1234");
    assert.equal(response.headers.get("access-control-allow-headers"), "authorization,content-type");
  });

  test("startServer rejects bad settings before listening", async () => {
    await assert.rejects(startServer({ settings: { subdomain: "" }, writeKeys: WRITE_KEY, logger: false }), (error) => error.code === "invalid_settings");
  });
});

describe("the serve command", () => {
  function io() {
    const out = [];
    const err = [];
    return { out, err, stdout: { write: (s) => out.push(s) }, stderr: { write: (s) => err.push(s) }, env: {} };
  }

  test("--help, and usage errors exit 2 with one line", async (t) => {
    const help = io();
    assert.equal(await serveCommand(["--help"], help), 0);
    assert.equal(help.out.join(""), `${serveUsage}\n`);
    assert.match(serveUsage, /--settings FILE --write-key KEY \[--port N\]/);

    const dir = mkdtempSync(join(tmpdir(), "serve-test-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "bad.json"), "{not json");
    writeFileSync(join(dir, "invalid.json"), JSON.stringify({ subdomain: "" }));
    writeFileSync(join(dir, "good.json"), JSON.stringify(settingsFor("http://127.0.0.1:9")));
    const cases = [
      [["--write-key", "k"], /^zendesk-destination: serve needs --settings FILE\n$/],
      [["--settings", join(dir, "good.json")], /^zendesk-destination: serve needs --write-key KEY/],
      [["--settings", join(dir, "missing.json"), "--write-key", "k"], /cannot read settings file .*missing\.json: no such file/],
      [["--settings", join(dir, "bad.json"), "--write-key", "k"], /bad\.json is not valid JSON/],
      [["--settings", join(dir, "invalid.json"), "--write-key", "k"], /^zendesk-destination: invalid settings: .*subdomain/],
      [["--settings", join(dir, "good.json"), "--write-key", "k", "--port", "http"], /--port must be a whole number/],
      [["--settings", join(dir, "good.json"), "--write-key", "k", "--bogus"], /^zendesk-destination: serve: Unknown option '--bogus'/],
    ];
    for (const [argv, message] of cases) {
      const run = io();
      assert.equal(await serveCommand(argv, run), 2, argv.join(" "));
      assert.match(run.err.join(""), message);
      assert.equal(run.err.join("").split("\n").length, 2, "one line");
    }
  });

  test("a child process: logs each request, and on SIGTERM finishes the delivery in flight before exiting", async (t) => {
    const sim = await startSimulatorServer({ port: 0 });
    t.after(() => sim.close());
    // A slow Zendesk: requests wait at this proxy until the test opens the gate.
    let open;
    const gate = new Promise((resolve) => (open = resolve));
    let arrived;
    const firstArrival = new Promise((resolve) => (arrived = resolve));
    const proxy = createServer(async (req, res) => {
      arrived();
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      await gate;
      const headers = { ...req.headers };
      delete headers.host;
      delete headers.connection;
      const answer = await fetch(`${sim.url}${req.url}`, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
      const out = {};
      answer.headers.forEach((value, key) => {
        if (key !== "content-length" && key !== "transfer-encoding" && key !== "connection") out[key] = value;
      });
      res.writeHead(answer.status, out);
      res.end(Buffer.from(await answer.arrayBuffer()));
    });
    await new Promise((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    t.after(() => new Promise((resolve) => proxy.close(resolve)));

    const { child, url, exited, stopping, output } = await spawnServe(t, `http://127.0.0.1:${proxy.address().port}`);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);

    const pending = fetch(`${url}/v1/batch`, {
      method: "POST",
      headers: { authorization: "Basic " + btoa(`${WRITE_KEY}:`), "content-type": "application/json" },
      body: JSON.stringify({ batch: [{ type: "identify", userId: "u-drain", messageId: "drain-1", traits: { name: "Samir Nagheenanajar" } }] }),
    });
    await firstArrival; // the delivery is in flight, held at the proxy
    child.kill("SIGTERM");
    await stopping;
    open();
    const response = await pending;
    assert.equal(response.status, 200);
    assert.equal((await response.json()).events[0].status, "delivered");
    assert.deepEqual(await exited, { code: 0, signal: null });
    assert.deepEqual(account(sim.simulator).users, [{ name: "Samir Nagheenanajar", email: null, external_id: "u-drain" }]);

    const { stdout, stderr } = output();
    const logLines = stderr.split("\n").filter((line) => /^\d{4}-/.test(line));
    assert.equal(logLines.length, 1);
    assert.match(logLines[0], LOG_LINE);
    assert.match(logLines[0], / POST \/v1\/batch 200 1 event /);
    assert.match(stderr, /stopping: finishing 1 event\(s\) in flight/);
    assert.match(stderr, /stopped after 1 request\(s\)/);
    assert.ok(!stderr.includes(WRITE_KEY) && !stdout.includes(WRITE_KEY), "no write key in the output");
    assert.ok(!stderr.includes("token") && !stderr.includes("agent@acme.test"), "no Zendesk credentials in the output");
  });

  test("a child process: a second SIGTERM skips the drain wait; the delivery in flight is cancelled and its request gets 503", async (t) => {
    // A Zendesk that never answers: the delivery stays in flight until it is cancelled.
    const held = new Set();
    let arrived;
    const firstArrival = new Promise((resolve) => (arrived = resolve));
    const zendesk = createServer((req, res) => {
      held.add(res);
      arrived();
    });
    await new Promise((resolve) => zendesk.listen(0, "127.0.0.1", resolve));
    t.after(() => {
      for (const res of held) res.destroy();
      return new Promise((resolve) => zendesk.close(resolve));
    });
    // A drain timeout of 10 minutes: only the second signal can end the wait before the answer below.
    const { child, url, exited, stopping } = await spawnServe(t, `http://127.0.0.1:${zendesk.address().port}`, ["--drain-timeout", "600000"]);
    const pending = fetch(`${url}/v1/batch`, {
      method: "POST",
      headers: { authorization: "Basic " + btoa(`${WRITE_KEY}:`), "content-type": "application/json" },
      body: JSON.stringify({ batch: [{ type: "identify", userId: "u-stuck", messageId: "stuck-1", traits: { name: "Tom Smykowski", email: "tom@initech.example" } }] }),
    });
    await firstArrival;
    child.kill("SIGTERM");
    await stopping;
    child.kill("SIGTERM");
    const response = await pending;
    const body = await response.json();
    // 503, not the handler's own 503 `timeout`: the delivery was cancelled, and the client keeps the event.
    assert.deepEqual([response.status, body.error], [503, "retry"]);
    assert.deepEqual(body.events.map((e) => [e.messageId, e.status, e.code, e.retryable]), [["stuck-1", "failed", "cancelled", true]]);
    assert.deepEqual(await exited, { code: 0, signal: null });
  });
});

describe("a public endpoint under attack (issue 13)", () => {
  /** A raw socket to the server; `send(text)` writes, `received()` is everything read so far. */
  async function socket(t, url) {
    const { port } = new URL(url);
    const sock = net.connect(Number(port), "127.0.0.1");
    t.after(() => sock.destroy());
    await new Promise((resolve, reject) => sock.once("connect", resolve).once("error", reject));
    let text = "";
    const closed = new Promise((resolve) => sock.on("close", resolve));
    sock.on("data", (chunk) => (text += chunk));
    sock.on("error", () => {});
    return { sock, send: (data) => sock.write(data), received: () => text, closed };
  }
  const request = (body, key = WRITE_KEY) =>
    `POST /v1/identify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Basic ${Buffer.from(`${key}:`).toString("base64")}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const identifyBody = (n) => JSON.stringify({ userId: `u-${n}`, messageId: `m-${n}`, traits: { name: `User ${n}`, email: `user${n}@example.com` } });

  test("6. a settings file that is not JSON: the message names the place, never the file's text (the credential)", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "serve-test-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    for (const [name, text] of [["a.json", '{"subdomain":"acme","email":"a@b.co/token","password":hunter2-secret}'], ["b.json", "hunter2-secret"], ["c.json", '{"password":"hunter2-secret",}']]) {
      writeFileSync(join(dir, name), text);
      const out = [];
      const err = [];
      const code = await serveCommand(["--settings", join(dir, name), "--write-key", "k"], { stdout: { write: (s) => out.push(s) }, stderr: { write: (s) => err.push(s) }, env: {} });
      assert.equal(code, 2);
      assert.match(err.join(""), new RegExp(`^zendesk-destination: settings file .*${name.replace(".", "\\.")} is not valid JSON: [a-z' ,:]+ at line \\d+, column \\d+\\n$`));
      assert.doesNotMatch(err.join("") + out.join(""), /hunter2/);
    }
  });

  test("12. a 500 KB body of many small JSON values without a write key is refused at once, and costs a legitimate request nothing", { timeout: 20_000 }, async (t) => {
    const { sim, server } = await servers(t);
    const flood = "1 ".repeat(250_000);
    const attacks = Array.from({ length: 4 }, () => fetch(`${server.url}/v1/batch`, { method: "POST", headers: { "content-type": "text/plain" }, body: flood }));
    const legit = fetch(`${server.url}/v1/identify`, { method: "POST", headers: { "content-type": "application/json", authorization: `Basic ${Buffer.from(`${WRITE_KEY}:`).toString("base64")}` }, body: identifyBody(1) });
    const answers = await Promise.all(attacks);
    for (const answer of answers) {
      assert.ok([400, 401].includes(answer.status), String(answer.status));
      await answer.text();
    }
    assert.equal((await legit).status, 200);
    assert.equal(sim.simulator.state().users.length, 1);
  });

  test("13. slow connections are cut (headers and body read times, idle keep-alive) and capped in number; legitimate requests then get through", { timeout: 20_000 }, async (t) => {
    const { server } = await servers(t, { server: { connectionLimits: { headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 300, maxConnections: 6 } } });
    // Slow headers: a byte at a time; a slow body; an idle kept-alive connection.
    const slowHeaders = await Promise.all(Array.from({ length: 3 }, () => socket(t, server.url)));
    for (const s of slowHeaders) s.send("P");
    const slowBody = await socket(t, server.url);
    slowBody.send(request(identifyBody(2)).slice(0, -10));
    const idle = await socket(t, server.url);
    idle.send(request(identifyBody(3)));
    // The cap: the 7th connection is closed at once, answered nothing.
    const extra = await socket(t, server.url);
    const extraFilled = await socket(t, server.url);
    await Promise.race([extra.closed, extraFilled.closed]);
    // Every slow one is cut by the server (408 for the unfinished requests), the idle one after its answer.
    await Promise.all([...slowHeaders, slowBody, idle].map((s) => s.closed));
    for (const s of [...slowHeaders, slowBody]) assert.match(s.received(), /^HTTP\/1\.1 408 |^$/);
    assert.match(idle.received(), /^HTTP\/1\.1 200 /);
    const answer = await fetch(`${server.url}/v1/identify`, { method: "POST", headers: { "content-type": "application/json", authorization: `Basic ${Buffer.from(`${WRITE_KEY}:`).toString("base64")}` }, body: identifyBody(4) });
    assert.equal(answer.status, 200);
  });

  test("14. after close() (SIGTERM), a new request on an open kept-alive connection gets 503 + Retry-After, not a broken pipe", { timeout: 20_000 }, async (t) => {
    const { server } = await servers(t);
    const kept = await socket(t, server.url);
    kept.send(request(identifyBody(5)));
    while (!/\r\n\r\n\{.*\}$/s.test(kept.received())) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.match(kept.received(), /^HTTP\/1\.1 200 /);
    const before = kept.received().length;
    const closing = server.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    kept.send(request(identifyBody(6)));
    await kept.closed;
    const second = kept.received().slice(before);
    assert.match(second, /^HTTP\/1\.1 503 /);
    assert.match(second, /\r\nretry-after: \d+\r\n/i);
    assert.match(second, /\r\nconnection: close\r\n/i);
    assert.match(second, /"error":"shutting_down"/);
    await closing;
  });
});
