// Hostile networks, hostile input, odd settings (issue 13): what a broken proxy, a scripted "Zendesk" or a
// crafted event can do to the host, the edge handler and the CLI. Real engine, real fetch, real sockets on
// 127.0.0.1; every server is closed after its test.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { createHandler } from "../../pkg/edge.js";
import { freshEngine, loadEngine } from "zendesk-destination/engine"; // Node's entry (the package's node condition)
import { stringify } from "../../pkg/host/json.js";
import { createDestination, validateSettings } from "../../pkg/index.js";
import { startSimulatorServer } from "../../pkg/simulator-server.js";
import { startPreview } from "../../scripts/start.mjs";
import { raw } from "./raw-request.js";

const SECRET = "s3cret-token-value";
const settingsFor = (baseUrl, extra = {}) => ({ subdomain: "acme", email: "agent@acme.test/token", password: SECRET, baseUrl, ...extra });
const identify = (n, traits = {}) => ({ type: "identify", messageId: `m${n}`, userId: `u-${n}`, traits: { name: `User ${n}`, email: `user${n}@example.com`, ...traits } });

/** An HTTP server on 127.0.0.1 answering with `handler(req, body, res)`; records every request. */
async function server(t, handler) {
  const requests = [];
  const srv = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      requests.push({ method: req.method, url: req.url, headers: req.headers, body });
      handler(req, body, res);
    });
  });
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise((resolve) => {
    srv.close(resolve);
    srv.closeAllConnections();
  }));
  return { url: `http://127.0.0.1:${srv.address().port}`, requests };
}

async function simulator(t, options = {}) {
  const sim = await startSimulatorServer(options);
  t.after(() => sim.close());
  return sim;
}

describe("1. redirects are never followed", () => {
  for (const status of [301, 302, 303, 307, 308]) {
    test(`a ${status} from "Zendesk" ends the event failed/redirected; the other origin receives nothing`, async (t) => {
      const elsewhere = await server(t, (req, body, res) => res.writeHead(200, { "content-type": "application/json" }).end('{"users":[]}'));
      const proxy = await server(t, (req, body, res) => res.writeHead(status, { location: `${elsewhere.url}${req.url}` }).end());
      const destination = await createDestination(settingsFor(proxy.url));
      const outcome = await destination.deliver(identify(1));
      await destination.close();
      assert.equal(outcome.status, "failed");
      assert.equal(outcome.code, "redirected");
      assert.match(outcome.message, new RegExp(`^GET /api/v2/users/search was answered with a redirect \\(${status} to ${elsewhere.url.replace(/[.]/g, "\\.")}\\)`));
      assert.equal(outcome.retryable, true);
      assert.equal(proxy.requests.length, 1);
      assert.deepEqual(elsewhere.requests, []);
      assert.doesNotMatch(JSON.stringify(outcome), new RegExp(SECRET));
    });
  }

  test("a 307 on POST /oauth/tokens: the refresh token and client secret stay at the configured origin", async (t) => {
    const elsewhere = await server(t, (req, body, res) => res.writeHead(200, { "content-type": "application/json" }).end('{"access_token":"evil","refresh_token":"evil-r"}'));
    const zendesk = await server(t, (req, body, res) => {
      if (req.url.startsWith("/oauth/tokens")) return res.writeHead(307, { location: `${elsewhere.url}/oauth/tokens` }).end();
      res.writeHead(401, { "content-type": "application/json" }).end('{"error":"invalid_token","error_description":"expired"}');
    });
    const saved = [];
    const destination = await createDestination(
      { subdomain: "acme", oauthToken: "old-token", baseUrl: zendesk.url },
      { oauthRefresh: { refreshToken: "refresh-secret", clientId: "client", clientSecret: "client-secret" }, onTokens: (tokens) => saved.push(tokens) },
    );
    const outcome = await destination.deliver(identify(1));
    await destination.close();
    assert.equal(outcome.code, "redirected");
    assert.deepEqual(elsewhere.requests, []);
    assert.deepEqual(saved, []);
    assert.equal(zendesk.requests.filter((r) => r.url === "/oauth/tokens").length, 1);
  });
});

describe("2. waits taken from headers are bounded", () => {
  test("ratelimit-reset: 86400 with nothing remaining waits at most a minute, not a day", async (t) => {
    const sleeps = [];
    let answered = 0;
    const zendesk = await server(t, (req, body, res) => {
      answered++;
      const headers = { "content-type": "application/json", "ratelimit-limit": "700", "ratelimit-remaining": "0", "ratelimit-reset": "86400", "zendesk-ratelimit-create-update-user": "total=5; remaining=0; resets=86400" };
      if (req.url.startsWith("/api/v2/users/search")) return res.writeHead(200, headers).end('{"users":[],"next_page":null}');
      if (req.url.startsWith("/api/v2/user_fields")) return res.writeHead(200, headers).end('{"user_fields":[],"next_page":null}');
      res.writeHead(201, headers).end('{"user":{"id":1}}');
    });
    const destination = await createDestination(settingsFor(zendesk.url), {
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });
    const outcome = await destination.deliver(identify(1));
    await destination.close();
    assert.equal(outcome.status, "delivered");
    assert.ok(answered >= 2);
    assert.ok(sleeps.length > 0, "the host did pace");
    assert.ok(Math.max(...sleeps) <= 60_000, `longest wait ${Math.max(...sleeps)} ms`);
  });

  test("the edge passes Zendesk's Retry-After: 99999999 on to Segment's clients as at most 60 seconds", async (t) => {
    const zendesk = await server(t, (req, body, res) => res.writeHead(429, { "retry-after": "99999999", "content-type": "application/json" }).end('{"error":"APIRateLimitExceeded"}'));
    const handler = createHandler({ settings: settingsFor(zendesk.url), writeKeys: "wk", retry: { maxTotalMs: 0 }, sleep: async () => {} });
    t.after(() => handler.close({ timeoutMs: 0 }));
    const response = await handler(new Request("http://edge.test/v1/identify", { method: "POST", headers: { authorization: `Basic ${btoa("wk:")}` }, body: JSON.stringify(identify(1)) }));
    assert.equal(response.status, 429);
    assert.equal(response.headers.get("retry-after"), "60");
  });
});

describe("3. at most once means at most once", () => {
  for (const status of [500, 502, 503, 504]) {
    test(`uncertainWrites "report": a ${status} on the Sunshine event POST is not retried, and the outcome says it may have landed`, async (t) => {
      const sim = await simulator(t);
      sim.simulator.seed({ users: [{ name: "User 1", email: "user1@example.com", external_id: "u-1" }] });
      let posts = 0;
      const gateway = await server(t, async (req, body, res) => {
        if (req.method === "POST" && /\/events$/.test(req.url)) {
          posts++;
          return res.writeHead(status, { "content-type": "text/html" }).end("<html>Bad Gateway</html>");
        }
        const answer = await fetch(`${sim.url}${req.url}`, { method: req.method, headers: { authorization: req.headers.authorization, "content-type": "application/json" }, body: body || undefined });
        res.writeHead(answer.status, { "content-type": "application/json" }).end(await answer.text());
      });
      const destination = await createDestination(settingsFor(gateway.url, { events: ["Order Completed"] }), { retry: { uncertainWrites: "report" } });
      const outcome = await destination.deliver({ type: "track", messageId: "t1", userId: "u-1", event: "Order Completed", properties: { total: 5 } });
      await destination.close();
      assert.equal(posts, 1);
      assert.equal(outcome.status, "failed");
      assert.equal(outcome.code, "zendesk_unavailable");
      assert.ok(outcome.warnings.some((w) => w.includes(`was answered ${status}`) && w.includes("may have landed")), JSON.stringify(outcome.warnings));
      assert.equal(destination.stats().uncertain, 1);
    });
  }
});

describe("4. npm start's preview server answers only this machine", () => {
  test("a foreign Origin or Host is refused (also for what it forwards to the simulator); /config.json never reflects a foreign Host", async (t) => {
    const preview = await startPreview({ port: 0 });
    t.after(() => preview.close());
    preview.simulator.seed({ users: [{ name: "Kept", email: "kept@example.com" }] });
    const port = preview.port;
    for (const attempt of [
      { path: "/config.json", headers: { host: `evil.example:${port}` } },
      { path: "/config.json", headers: { host: `127.0.0.1:${port + 1}` } },
      { path: "/", headers: { host: "attacker.example" } },
      { method: "POST", path: "/__simulator/reset", headers: { origin: "https://evil.example", "content-type": "text/plain" } },
      { path: "/__simulator/state", headers: { host: `evil.example:${port}` } },
      { path: "/__simulator/state", headers: { origin: "https://evil.example" } },
      { path: "/api/v2/users/search?query=kept", headers: { origin: "https://evil.example", authorization: "Bearer x" } },
    ]) {
      const answer = await raw(port, attempt);
      assert.equal(answer.status, 403, JSON.stringify(attempt));
      assert.equal(answer.headers["access-control-allow-origin"], undefined);
      assert.doesNotMatch(answer.body, /evil\.example:|Kept/);
    }
    assert.deepEqual(preview.simulator.state().users.map((u) => u.name), ["Kept"]);
    const config = await raw(port, { path: "/config.json", headers: { host: `localhost:${port}` } });
    assert.equal(config.status, 200);
    assert.equal(JSON.parse(config.body).zendeskUrl, `http://localhost:${port}`);
    // Forwarded requests keep the preview's Host, which the simulator accepts.
    const state = await raw(port, { path: "/__simulator/state", headers: { host: `127.0.0.1:${port}` } });
    assert.equal(state.status, 200);
    assert.equal(JSON.parse(state.body).users[0].name, "Kept");
  });
});

describe("5. settings that would fail every event are refused, naming the key", () => {
  test("every baseUrl validation accepts is a URL fetch can use; every accepted oauthToken fits a header", async () => {
    const engine = await loadEngine();
    const hosts = ["acme.zendesk.com", "[zz]", "[1:2:3]", "[::1]", "[2001:db8::1]", "a..b", "-a.b", "a-.b", "1.2.3.4", "1.2.3.999", "1.2.3", "x.123", "x.0x1f", "0x1g.com", "é.com", "a_b.com", "a.b.", "", "xn--bcher-kva.example", "a".repeat(64) + ".com"];
    const ports = ["", ":443", ":0", ":65535", ":65536", ":x", ":"];
    const paths = ["", "/", "/zendesk", "/a/b/", "/%zz"];
    let accepted = 0;
    for (const host of hosts) {
      for (const port of ports) {
        for (const path of paths) {
          const baseUrl = `https://${host}${port}${path}`;
          const errors = engine.validateSettings(settingsFor(baseUrl));
          if (errors.length) {
            assert.ok(errors.every((e) => e.key === "baseUrl"), `${baseUrl}: ${JSON.stringify(errors)}`);
            continue;
          }
          accepted++;
          assert.doesNotThrow(() => new URL(`${baseUrl}/api/v2/users/search?query=x`), baseUrl);
        }
      }
    }
    assert.ok(accepted > 50, `${accepted} accepted`);
    for (const token of ["abc123", "tok\u{1F600}", "tok\u2028x", "tok en", "tokén", "a/b+c=", "~._-"]) {
      const errors = engine.validateSettings({ subdomain: "acme", oauthToken: token });
      if (errors.length === 0) assert.doesNotThrow(() => new Headers({ Authorization: `Bearer ${token}` }), token);
      else assert.deepEqual(errors.map((e) => e.key), ["oauthToken"], token);
    }
    await assert.rejects(createDestination(settingsFor("https://[zz]")), (error) => error.code === "invalid_settings" && error.errors[0].key === "baseUrl");
    assert.deepEqual((await validateSettings({ subdomain: "acme", oauthToken: "tok\u{1F600}" })).map((e) => e.key), ["oauthToken"]);
  });
});

describe("7. the dry run through a proxy path prefix", () => {
  test("plan with baseUrl https://proxy.example.com/zendesk predicts what the same events do without the prefix", async () => {
    const events = [identify(1, { plan: "gold" }), { type: "group", messageId: "g1", userId: "u-1", groupId: "org-1", traits: { name: "Initech" } }, identify(1, { plan: "platinum" })];
    const run = async (baseUrl) => {
      const destination = await createDestination(settingsFor(baseUrl));
      const { createSimulator } = await import("../../pkg/simulator.js");
      const account = createSimulator();
      const results = [];
      for (const event of events) results.push(await destination.plan(event, { account }));
      await destination.close();
      return results;
    };
    const plain = await run("https://acme.zendesk.com");
    const proxied = await run("https://proxy.example.com/zendesk");
    assert.deepEqual(proxied.map((r) => r.outcome.status), ["delivered", "delivered", "delivered"]);
    assert.deepEqual(proxied.map((r) => r.outcome), plain.map((r) => r.outcome));
    assert.deepEqual(
      proxied.flatMap((r) => r.requests.map((x) => `${x.request.method} ${x.request.url} ${x.response.status}`)),
      plain.flatMap((r) => r.requests.map((x) => `${x.request.method} ${x.request.url.replace("https://acme.zendesk.com", "https://proxy.example.com/zendesk")} ${x.response.status}`)),
    );
  });

  test("URLs in the simulated answers carry the prefix back (next_page is followed through the proxy)", async () => {
    const destination = await createDestination(settingsFor("https://proxy.example.com/zendesk"));
    const { createSimulator } = await import("../../pkg/simulator.js");
    const account = createSimulator();
    account.seed({ userFields: Array.from({ length: 130 }, (_, i) => ({ key: `field_${i}`, type: "text", title: `Field ${i}` })) });
    const { outcome, requests } = await destination.plan(identify(1, { field_129: "x" }), { account });
    await destination.close();
    assert.equal(outcome.status, "delivered");
    const catalog = requests.filter((r) => r.request.url.includes("/user_fields"));
    assert.ok(catalog.length >= 2, "the catalog has more than one page");
    for (const { request } of requests) assert.ok(request.url.startsWith("https://proxy.example.com/zendesk/api/v2/"), request.url);
  });
});

describe("8. one huge answer", () => {
  test("a 200 of 9 MB JSON (gzip: ~10 KB on the wire) ends that event failed/response_too_large; the next event is delivered", async (t) => {
    const sim = await simulator(t);
    const huge = gzipSync(`{"users":[${Array.from({ length: 90_000 }, () => '{"id":1,"name":"x","email":"x@example.com","pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}').join(",")}]}`);
    let bombs = 1;
    const proxy = await server(t, async (req, body, res) => {
      if (bombs > 0 && req.url.startsWith("/api/v2/users/search")) {
        bombs--;
        return res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" }).end(huge);
      }
      const answer = await fetch(`${sim.url}${req.url}`, { method: req.method, headers: { authorization: req.headers.authorization, "content-type": "application/json" }, body: body || undefined });
      res.writeHead(answer.status, { "content-type": "application/json" }).end(await answer.text());
    });
    assert.ok(huge.length < 200_000);
    const destination = await createDestination(settingsFor(proxy.url));
    const [first, second] = await destination.deliverAll([identify(1), identify(2)], { concurrency: 1 });
    await destination.close();
    assert.equal(first.status, "failed");
    assert.equal(first.code, "response_too_large");
    assert.match(first.message, /larger than 8388608 bytes \(decompressed\)/);
    assert.equal(second.status, "delivered");
  });

  test("an engine that fails is replaced, never reused: deliver() still resolves, later events are delivered", async (t) => {
    const sim = await simulator(t);
    const real = await loadEngine();
    const made = [];
    const calls = new Map(); // Destination → calls after it failed
    let trap = true;
    // The real engine, except that one conversation traps (as a 200 MB answer made it) and then free() throws.
    class Destination {
      constructor(settings) {
        this.inner = new real.Destination(settings);
        this.failed = false;
        made.push(this);
      }
      begin(input, now) {
        if (this.failed) calls.set(this, (calls.get(this) ?? 0) + 1);
        const conversation = this.inner.begin(input, now);
        const self = this;
        const doomed = trap && input.includes('"u-1"');
        if (doomed) trap = false;
        return {
          step: () => conversation.step(),
          respond(answer) {
            if (doomed) {
              self.failed = true;
              throw new WebAssembly.RuntimeError("unreachable");
            }
            return conversation.respond(answer);
          },
          free() {
            if (self.failed) throw new Error("recursive use of an object detected which would lead to unsafe aliasing in rust");
            conversation.free();
          },
        };
      }
      free() {
        if (this.failed) throw new Error("null pointer passed to rust");
        this.inner.free();
      }
    }
    const logs = [];
    const destination = await createDestination(settingsFor(sim.url), { engine: { Destination, validateSettings: real.validateSettings }, logger: (entry) => logs.push(entry) });
    const first = await destination.deliver(identify(1));
    assert.equal(first.status, "failed");
    assert.equal(first.code, "internal_error");
    assert.match(first.message, /^the engine failed on this event: unreachable/);
    const later = await destination.deliverAll([identify(2), identify(3)]);
    assert.deepEqual(later.map((o) => o.status), ["delivered", "delivered"]);
    assert.equal(made.length, 2, "one replacement");
    assert.equal(calls.size, 0, "the failed instance was not used again");
    assert.ok(logs.some((entry) => entry.type === "engine_replaced"));
    await destination.close();
  });

  test("through the edge handler: after an engine failure, later events are delivered (not 200 internal_error)", async (t) => {
    const sim = await simulator(t);
    const real = await loadEngine();
    let trap = true;
    class Destination {
      constructor(settings) {
        this.inner = new real.Destination(settings);
        this.failed = false;
      }
      begin(input, now) {
        if (this.failed) throw new Error("a failed instance was used again");
        if (trap) {
          trap = false;
          this.failed = true;
          throw new WebAssembly.RuntimeError("unreachable");
        }
        return this.inner.begin(input, now);
      }
      free() {
        this.inner.free();
      }
    }
    const handler = createHandler({ settings: settingsFor(sim.url), writeKeys: "wk", engine: { Destination, validateSettings: real.validateSettings } });
    t.after(() => handler.close({ timeoutMs: 0 }));
    const send = async (n) => (await handler(new Request("http://edge.test/v1/identify", { method: "POST", headers: { authorization: `Basic ${btoa("wk:")}` }, body: JSON.stringify(identify(n)) }))).json();
    const first = await send(1);
    assert.equal(first.events[0].code, "internal_error");
    for (const n of [2, 3, 4]) assert.equal((await send(n)).events[0].status, "delivered");
  });

  test("a fresh engine instance has its own memory: the first keeps working beside it", async () => {
    const first = await loadEngine();
    const second = await freshEngine();
    assert.notEqual(first.Destination, second.Destination);
    for (const bindings of [first, second]) {
      const destination = new bindings.Destination({ subdomain: "acme", oauthToken: "t" });
      const conversation = destination.begin(JSON.stringify(identify(1)), Date.now());
      assert.equal(conversation.step().kind, "request");
      conversation.free();
      destination.free();
    }
  });
});

describe("9. a poison event ends invalid, never retry", () => {
  const poisons = [
    { type: "identify", messageId: "p1", userId: { toString: 1 }, traits: { name: "X" } },
    { type: "identify", messageId: "p2", userId: { text: "x", toString: "y" }, traits: { name: "X" } },
    { type: "track", messageId: "p3", userId: "u", event: "E", properties: { email: { valueOf: 1, toString: 2 } } },
    { type: "group", messageId: "p4", userId: "u", groupId: { toString: [] } },
    { type: "identify", messageId: "p5", userId: "u", traits: { email: { toString: 1 }, company: { id: { toString: 1 } } } },
  ];
  test("through the edge handler each ends as the library says (invalid or skipped, never failed), answered 200", async (t) => {
    const sim = await simulator(t);
    const handler = createHandler({ settings: settingsFor(sim.url), writeKeys: "wk" });
    t.after(() => handler.close({ timeoutMs: 0 }));
    const library = await createDestination(settingsFor(sim.url));
    for (const event of poisons) {
      const expected = await library.deliver(stringify(event));
      assert.notEqual(expected.status, "failed", JSON.stringify(event));
      const response = await handler(new Request("http://edge.test/v1/batch", { method: "POST", headers: { authorization: `Basic ${btoa("wk:")}` }, body: JSON.stringify({ batch: [event] }) }));
      const body = await response.json();
      assert.equal(response.status, 200, JSON.stringify(body));
      assert.equal(body.events[0].status, expected.status);
      assert.equal(body.events[0].code, expected.code);
      assert.equal(body.events[0].retryable, false);
    }
    await library.close();
  });
});

describe("10. numbers beyond the double range never become null", () => {
  test("1e400 in a trait: invalid_event on the value path, the text path and the edge; the Zendesk field is untouched", async (t) => {
    const sim = await simulator(t);
    sim.simulator.seed({ users: [{ name: "User 1", email: "user1@example.com", external_id: "u-1", user_fields: { score: "7" } }], userFields: [{ key: "score", type: "text", title: "Score" }] });
    const destination = await createDestination(settingsFor(sim.url));
    const text = '{"type":"identify","messageId":"n1","userId":"u-1","traits":{"name":"User 1","email":"user1@example.com","score":1e400}}';
    const viaText = await destination.deliver(text);
    const viaValue = await destination.deliver(JSON.parse(text)); // JSON.parse makes it Infinity
    const viaNaN = await destination.deliver({ ...JSON.parse(text), traits: { name: "User 1", score: NaN } });
    await destination.close();
    for (const outcome of [viaText, viaValue, viaNaN]) {
      assert.equal(outcome.status, "invalid");
      assert.equal(outcome.code, "invalid_event");
    }
    const handler = createHandler({ settings: settingsFor(sim.url), writeKeys: "wk" });
    t.after(() => handler.close({ timeoutMs: 0 }));
    const response = await handler(new Request("http://edge.test/v1/identify", { method: "POST", headers: { authorization: `Basic ${btoa("wk:")}` }, body: text }));
    const body = await response.json();
    assert.equal(body.events[0].code, "invalid_event");
    const user = sim.simulator.state().users.find((u) => u.external_id === "u-1");
    assert.equal(user.user_fields.score, "7");
  });
});

describe("properties (issue 13)", () => {
  // Random events whose values are what any JSON client can send: objects with keys named like Object's
  // methods, numbers beyond the double range, big integers, nesting. Through the edge handler each ends as
  // the library says, and none is answered "retry" (Segment's clients would resend it forever).
  test("property: crafted events end the same through the edge as through the library, never retryable", async (t) => {
    const sim = await simulator(t);
    const settings = settingsFor(sim.url, { events: ["Order Completed"] });
    const handler = createHandler({ settings, writeKeys: "wk", dedupe: false });
    t.after(() => handler.close({ timeoutMs: 0 }));
    const library = await createDestination(settings);
    let seed = 9;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
      return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
    };
    const pick = (list) => list[Math.floor(random() * list.length)];
    const hostileKeys = ["toString", "valueOf", "toJSON", "__proto__", "constructor", "hasOwnProperty", "text", "then"];
    const leaf = () => pick(['"x"', "1", "1e400", "-1e400", "12345678901234567891", "null", "true", "[]", "{}", '"user9@example.com"', "1e-400"]);
    const hostile = (depth) => (depth > 2 || random() < 0.4 ? leaf() : `{${Array.from({ length: 1 + Math.floor(random() * 3) }, () => `"${pick(hostileKeys)}":${hostile(depth + 1)}`).join(",")}}`);
    const slot = () => (random() < 0.5 ? hostile(0) : leaf());
    for (let n = 0; n < 60; n++) {
      const type = pick(["identify", "track", "group"]);
      const text = `{"type":"${type}","messageId":"p${n}","userId":${slot()},"groupId":${slot()},"event":"Order Completed","traits":{"name":"P ${n}","email":${slot()},"score":${slot()},"company":{"id":${slot()}}},"properties":{"email":${slot()},"total":${slot()}}}`;
      const expected = await library.deliver(text);
      const response = await handler(new Request("http://edge.test/v1/batch", { method: "POST", headers: { authorization: `Basic ${btoa("wk:")}` }, body: `{"batch":[${text}]}` }));
      const body = await response.json();
      assert.equal(response.status, 200, `${text} → ${JSON.stringify(body)}`);
      assert.equal(body.events[0].status, expected.status, text);
      assert.equal(body.events[0].code, expected.code, text);
      assert.equal(body.events[0].retryable, false, text);
      if (/[-]?1e400/.test(text)) assert.notEqual(expected.status, "delivered", text);
    }
    await library.close();
  });
});
