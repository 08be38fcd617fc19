// The edge handler against the in-process Zendesk simulator (its fetch: no sockets at all): routes, auth,
// limits, CORS, the answer codes, messageId de-duplication and the waitUntil mode.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createHandler, DedupeWindow, LIMITS, messageKey } from "../../pkg/edge.js";
import { DRAIN } from "../../pkg/host/body.js";
import { createSimulator } from "../../pkg/simulator.js";
import { account } from "./account-view.js";

const WRITE_KEY = "wk_live_123";
const BASIC = "Basic " + btoa(`${WRITE_KEY}:`);
const SETTINGS = { subdomain: "acme", email: "agent@acme.test/token", password: "x", baseUrl: "http://127.0.0.1:9", events: ["Order Completed"] };

function deferred() {
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  return { promise, resolve };
}

/** A handler on a fresh simulator. `intercept(url, init, index)` may answer a Zendesk request instead. */
function setup(t, { options = {}, simulator: simOptions, intercept } = {}) {
  const simulator = createSimulator(simOptions);
  const zendesk = [];
  const fetch = async (url, init) => {
    const index = zendesk.length;
    zendesk.push(`${init.method} ${new URL(url).pathname}`);
    const answer = intercept ? await intercept(String(url), init, index) : undefined;
    return answer ?? simulator.fetch(url, init);
  };
  const handler = createHandler({ settings: SETTINGS, writeKeys: [WRITE_KEY], fetch, ...options });
  t.after(() => handler.close({ timeoutMs: 0 }));
  return { simulator, handler, zendesk };
}

function post(path, body, { auth = BASIC, headers = {}, raw = false } = {}) {
  return new Request(`http://edge.test${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(auth ? { authorization: auth } : {}), ...headers },
    body: raw ? body : JSON.stringify(body),
  });
}

async function call(handler, request, ...context) {
  const response = await handler(request, ...context);
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : null };
}

const identify = (n, extra = {}) => ({ type: "identify", messageId: `id-${n}`, userId: `u${n}`, traits: { email: `user${n}@example.com`, name: `User ${n}` }, ...extra });
const track = (n, extra = {}) => ({ type: "track", messageId: `tr-${n}`, userId: `u${n}`, event: "Order Completed", properties: { total: n }, ...extra });
const group = (n, extra = {}) => ({ type: "group", messageId: `gr-${n}`, userId: `u${n}`, groupId: `org-${n}`, traits: { name: `Org ${n}` }, ...extra });


const line = (messageId, type, status, code, extra = {}) => ({ messageId, type, status, code, ...extra });
const brief = (events) => events.map(({ messageId, type, status, code, retryable, duplicate }) => ({ messageId, type, status, code, retryable, ...(duplicate ? { duplicate } : {}) }));

describe("routes", () => {
  test("identify, track and group on the long and short paths land in Zendesk; the path says the type", async (t) => {
    const { simulator, handler } = setup(t);
    const first = await call(handler, post("/v1/identify", identify(1)));
    assert.equal(first.status, 200);
    assert.equal(first.body.success, true);
    assert.deepEqual(brief(first.body.events), [line("id-1", "identify", "delivered", "delivered", { retryable: false })]);
    assert.match(first.body.events[0].message, /^user \d+ created$/);

    const second = await call(handler, post("/v1/t", { ...track(1), type: undefined }));
    assert.deepEqual(brief(second.body.events), [line("tr-1", "track", "delivered", "delivered", { retryable: false })]);
    const third = await call(handler, post("/v1/g", group(1, { type: "track" })));
    assert.deepEqual(brief(third.body.events), [line("gr-1", "group", "delivered", "delivered", { retryable: false })]);

    assert.deepEqual(account(simulator), {
      users: [{ name: "User 1", email: "user1@example.com", external_id: "u1" }],
      organizations: [{ name: "Org 1", external_id: "org-1" }],
      memberships: [{ user: "u1", organization: "org-1" }],
      events: [{ user: "u1", type: "Order Completed", properties: { total: 1 } }],
    });
  });

  test("page, screen and alias are accepted and reported skipped; /v1/m is accepted and ignored", async (t) => {
    const { handler, zendesk } = setup(t);
    for (const [path, type] of [["/v1/page", "page"], ["/v1/p", "page"], ["/v1/screen", "screen"], ["/v1/s", "screen"], ["/v1/alias", "alias"], ["/v1/a", "alias"]]) {
      const { status, body } = await call(handler, post(path, { userId: "u1", messageId: `m-${path}`, previousId: "x" }));
      assert.equal(status, 200, path);
      assert.deepEqual(brief(body.events), [line(`m-${path}`, type, "skipped", "unsupported_type", { retryable: false })]);
    }
    const metrics = await call(handler, post("/v1/m", { series: [{ type: "Counter", metric: "analytics_js.invoke", value: 1 }] }, { auth: null }));
    assert.deepEqual(metrics, { status: 200, headers: metrics.headers, body: { success: true } });
    assert.deepEqual(zendesk, []);
  });

  test("unknown paths answer 404, other methods 405", async (t) => {
    const { handler } = setup(t);
    const missing = await call(handler, post("/v1/nope", identify(1)));
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error, "not_found");
    const get = await call(handler, new Request("http://edge.test/v1/batch"));
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "POST, OPTIONS");
  });

  test("a batch's top-level context and integrations apply to every item; the item's own values win", async (t) => {
    const { simulator, handler } = setup(t);
    const { status, body } = await call(
      handler,
      post("/v1/batch", {
        batch: [
          identify(1, { integrations: { Zendesk: true } }), // its own integrations win over All: false
          identify(2), // takes the batch's All: false
          track(1, { event: "Order Completed", context: { traits: { email: "user1@example.com" } } }),
        ],
        context: { library: { name: "analytics-node" } },
        integrations: { All: false },
        writeKey: WRITE_KEY,
      }),
    );
    assert.equal(status, 200);
    assert.deepEqual(brief(body.events), [
      line("id-1", "identify", "delivered", "delivered", { retryable: false }),
      line("id-2", "identify", "skipped", "disabled_by_integrations", { retryable: false }),
      line("tr-1", "track", "skipped", "disabled_by_integrations", { retryable: false }),
    ]);
    assert.deepEqual(account(simulator).users, [{ name: "User 1", email: "user1@example.com", external_id: "u1" }]);
  });

  test("integers beyond 2^53 reach Zendesk digit for digit", async (t) => {
    const { simulator, handler } = setup(t);
    const { status } = await call(handler, post("/v1/identify", '{"userId":12345678901234567890,"messageId":"big","traits":{"name":"Big Id"}}', { raw: true }));
    assert.equal(status, 200);
    assert.deepEqual(account(simulator).users, [{ name: "Big Id", email: null, external_id: "12345678901234567890" }]);
  });
});

describe("auth", () => {
  test("HTTP Basic with the write key, or writeKey in the body, is accepted", async (t) => {
    const { simulator, handler } = setup(t);
    assert.equal((await call(handler, post("/v1/identify", identify(1)))).status, 200);
    assert.equal((await call(handler, post("/v1/identify", { ...identify(2), writeKey: WRITE_KEY }, { auth: null }))).status, 200);
    assert.equal((await call(handler, post("/v1/batch", { batch: [identify(3)], writeKey: WRITE_KEY }, { auth: null }))).status, 200);
    assert.deepEqual(account(simulator).users.map((u) => u.external_id), ["u1", "u2", "u3"]);
    // The write key is not an event field: it never reaches Zendesk.
    assert.ok(simulator.log().every((entry) => !String(entry.body ?? "").includes(WRITE_KEY)));
  });

  test("a wrong or missing key answers 401 and nothing is sent", async (t) => {
    const { handler, zendesk } = setup(t);
    const cases = [
      post("/v1/identify", identify(1), { auth: "Basic " + btoa("wrong:") }),
      post("/v1/identify", identify(1), { auth: null }),
      post("/v1/batch", { batch: [identify(1)], writeKey: "wrong" }, { auth: null }),
      // A wrong header is not rescued by a right key in the body.
      post("/v1/batch", { batch: [identify(1)], writeKey: WRITE_KEY }, { auth: "Basic " + btoa("wrong:") }),
      post("/v1/identify", identify(1), { auth: `Bearer ${WRITE_KEY}` }),
      post("/v1/identify", identify(1), { auth: "Basic !!!not-base64" }),
    ];
    for (const request of cases) {
      const { status, headers, body } = await call(handler, request);
      assert.equal(status, 401);
      assert.equal(headers.get("www-authenticate"), 'Basic realm="segment"');
      assert.deepEqual(body, {
        success: false,
        error: "unauthorized",
        message: "a valid write key is required (HTTP Basic with the write key as user name, or writeKey in the body); nothing was sent",
      });
    }
    assert.deepEqual(zendesk, []);
  });

  test("several write keys may be accepted", async (t) => {
    const { handler } = setup(t, { options: { writeKeys: ["first", "second"] } });
    assert.equal((await call(handler, post("/v1/identify", identify(1), { auth: "Basic " + btoa("second:") }))).status, 200);
    assert.equal((await call(handler, post("/v1/identify", identify(2), { auth: "Basic " + btoa("third:") }))).status, 401);
  });
});

describe("bad requests", () => {
  const tooBig = (n, bytes) => identify(n, { traits: { name: `User ${n}`, notes: "x".repeat(bytes) } });

  test("an event over 32 KB: 400 naming the limit, nothing sent", async (t) => {
    const { handler, zendesk } = setup(t);
    const { status, body } = await call(handler, post("/v1/identify", tooBig(1, 33 * 1024)));
    assert.equal(status, 400);
    assert.equal(body.error, "event_too_large");
    assert.equal(body.limit, "32 KB per event");
    assert.equal(body.limitBytes, LIMITS.eventBytes);
    assert.equal(body.index, 0);
    assert.equal(body.messageId, "id-1");
    assert.match(body.message, /^event 0 \(messageId "id-1"\) is \d+ bytes; at most 32768 bytes \(32 KB\) per event$/);

    assert.deepEqual(zendesk, []);
  });

  test("an item over 32 KB in a batch is refused alone and reported invalid; the good items are delivered", async (t) => {
    const { simulator, handler } = setup(t);
    const { status, body } = await call(handler, post("/v1/batch", { batch: [identify(2), tooBig(3, 33 * 1024), track(2)] }));
    assert.equal(status, 200);
    assert.deepEqual(brief(body.events), [
      line("id-2", "identify", "delivered", "delivered", { retryable: false }),
      line("id-3", "identify", "invalid", "event_too_large", { retryable: false }),
      line("tr-2", "track", "delivered", "delivered", { retryable: false }),
    ]);
    assert.match(body.events[1].message, /^event 1 \(messageId "id-3"\) is \d+ bytes; at most 32768 bytes \(32 KB\) per event: not sent$/);
    assert.deepEqual(account(simulator).users.map((u) => u.external_id), ["u2"]);
  });

  test("an event of just under 32 KB is accepted", async (t) => {
    const { handler } = setup(t);
    const event = tooBig(1, 32 * 1024 - 200);
    assert.ok(new TextEncoder().encode(JSON.stringify(event)).length <= 32 * 1024);
    assert.equal((await call(handler, post("/v1/identify", event))).status, 200);
  });

  test("a request over 500 KB: 400 naming the limit, nothing sent (with or without Content-Length)", async (t) => {
    const { handler, zendesk } = setup(t);
    const batch = Array.from({ length: 20 }, (_, n) => tooBig(n, 30 * 1024));
    const text = JSON.stringify({ batch });
    assert.ok(text.length > 500 * 1024);
    const expected = { success: false, error: "request_too_large", message: "the request body is larger than 512000 bytes (500 KB per request is the limit)", limit: "500 KB per request", limitBytes: 512000 };
    const declared = await call(handler, post("/v1/batch", text, { raw: true, headers: { "content-length": String(text.length) } }));
    assert.deepEqual([declared.status, declared.body], [400, expected]);
    const bytes = new TextEncoder().encode(text);
    const streamed = new ReadableStream({
      start(controller) {
        for (let at = 0; at < bytes.length; at += 64 * 1024) controller.enqueue(bytes.subarray(at, at + 64 * 1024));
        controller.close();
      },
    });
    const chunked = await call(handler, new Request("http://edge.test/v1/batch", { method: "POST", headers: { authorization: BASIC }, body: streamed, duplex: "half" }));
    assert.deepEqual([chunked.status, chunked.body], [400, expected]);
    assert.deepEqual(zendesk, []);
  });

  test("more than 2,500 events in a batch: 400 naming the limit, nothing sent", async (t) => {
    const { handler, zendesk } = setup(t);
    const batch = Array.from({ length: 2501 }, (_, n) => ({ type: "track", userId: `u${n}`, event: "E", messageId: `m${n}` }));
    const { status, body } = await call(handler, post("/v1/batch", { batch }));
    assert.equal(status, 400);
    assert.deepEqual(body, { success: false, error: "batch_too_large", message: "the batch holds 2501 events; at most 2500 events per batch", limit: "2500 events per batch", events: 2501 });
    assert.deepEqual(zendesk, []);
  });

  test("malformed JSON, an empty body, a body that is not an object, a batch that is not an array: 400", async (t) => {
    const { handler, zendesk } = setup(t);
    const malformed = await call(handler, post("/v1/batch", '{"batch": [', { raw: true }));
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.error, "malformed_json");
    assert.match(malformed.body.message, /^the request body is not valid JSON: .+ at line 1, column \d+$/);
    for (const body of ["", "   \n"]) {
      const empty = await call(handler, post("/v1/track", body, { raw: true }));
      assert.deepEqual([empty.status, empty.body], [400, { success: false, error: "empty_body", message: "the request body is empty: send a JSON event or batch" }]);
    }
    const array = await call(handler, post("/v1/track", "[1,2]", { raw: true }));
    assert.deepEqual([array.status, array.body.error], [400, "invalid_body"]);
    const notArray = await call(handler, post("/v1/batch", { batch: { type: "track" } }));
    assert.deepEqual([notArray.status, notArray.body.error], [400, "invalid_batch"]);
    assert.deepEqual(zendesk, []);
  });

  test("a batch with one bad item among good ones: the good ones are delivered, the bad one reported", async (t) => {
    const { simulator, handler } = setup(t);
    const { status, body } = await call(handler, post("/v1/batch", { batch: [identify(1), { type: "track", userId: "u1", messageId: "bad-1" }, 42, track(1)] }));
    assert.equal(status, 200);
    assert.deepEqual(brief(body.events), [
      line("id-1", "identify", "delivered", "delivered", { retryable: false }),
      line("bad-1", "track", "invalid", "invalid_event", { retryable: false }),
      line(null, null, "invalid", "invalid_event", { retryable: false }),
      line("tr-1", "track", "delivered", "delivered", { retryable: false }),
    ]);
    assert.equal(body.events[1].message, "a track call needs an `event` name");
    assert.deepEqual(account(simulator).events, [{ user: "u1", type: "Order Completed", properties: { total: 1 } }]);
  });
});

describe("refused bodies", () => {
  // Vercel's edge-runtime: cancelling a body still arriving never settles. A refusal must not wait for it,
  // nor for a body that stops arriving: it reads what is left for at most DRAIN.waitMs.
  const stuckBody = () =>
    new ReadableStream({
      pull(controller) {
        controller.enqueue(new TextEncoder().encode(" ".repeat(1024)));
        return new Promise(() => {}); // the rest never arrives
      },
      cancel: () => new Promise(() => {}),
    });
  const answered = (promise) => Promise.race([promise.then((r) => r.status), new Promise((resolve) => setTimeout(() => resolve("no answer in time"), DRAIN.waitMs + 1500))]);

  for (const [what, path, headers, status] of [
    ["a wrong write key", "/v1/track", { authorization: "Basic " + btoa("wrong:") }, 401],
    ["the telemetry endpoint", "/v1/m", {}, 200],
    ["a declared size over the limit", "/v1/batch", { authorization: BASIC, "content-length": String(600 * 1024) }, 400],
  ]) {
    test(`${what}: answered without waiting on the body's cancel`, async (t) => {
      const { handler } = setup(t);
      const request = new Request(`http://edge.test${path}`, { method: "POST", headers, body: stuckBody(), duplex: "half" });
      assert.equal(await answered(handler(request)), status);
    });
  }

  // A client still sending when the answer goes out may have its connection reset under it (workerd)
  // and never read the answer: what is left is read first, up to DRAIN.factor × the request limit more.
  const countedBody = (size) => {
    const counted = { pulled: 0 };
    const chunk = new TextEncoder().encode(" ".repeat(64 * 1024));
    counted.stream = new ReadableStream({
      pull(controller) {
        if (counted.pulled >= size) return controller.close();
        const piece = chunk.subarray(0, Math.min(chunk.byteLength, size - counted.pulled));
        controller.enqueue(piece);
        counted.pulled += piece.byteLength;
      },
    });
    return counted;
  };
  for (const [what, path, headers, size, status, readToEnd] of [
    ["a wrong write key with 256 KB", "/v1/batch", { authorization: "Basic " + btoa("wrong:") }, 256 * 1024, 401, true],
    ["the telemetry endpoint with 256 KB", "/v1/m", {}, 256 * 1024, 200, true],
    ["an unknown path with 256 KB", "/v2/track", { authorization: BASIC }, 256 * 1024, 404, true],
    ["a streamed 700 KB body (over the limit)", "/v1/batch", { authorization: BASIC }, 700 * 1024, 400, true],
    ["a streamed body past the drain bound", "/v1/batch", { authorization: BASIC }, (DRAIN.factor + 1) * LIMITS.requestBytes + 512 * 1024, 400, false],
  ]) {
    test(`${what}: answered ${status} after reading the body ${readToEnd ? "to its end" : "only up to the bound"}`, async (t) => {
      const { handler } = setup(t);
      const body = countedBody(size);
      const request = new Request(`http://edge.test${path}`, { method: "POST", headers, body: body.stream, duplex: "half" });
      assert.equal((await handler(request)).status, status);
      if (readToEnd) assert.equal(body.pulled, size);
      else assert.ok(body.pulled < size, `read ${body.pulled} of ${size}`); // the stream pulls a chunk ahead of the reader
    });
  }

  test("while closing: answered without waiting on the body's cancel", async (t) => {
    const { handler } = setup(t);
    await handler.ready;
    handler.close({ timeoutMs: 0 });
    const request = new Request("http://edge.test/v1/track", { method: "POST", headers: { authorization: BASIC }, body: stuckBody(), duplex: "half" });
    assert.equal(await answered(handler(request)), 503);
  });
});

describe("CORS", () => {
  test("the preflight allows POST with the browser library's headers", async (t) => {
    const { handler } = setup(t);
    const response = await handler(
      new Request("http://edge.test/v1/t", {
        method: "OPTIONS",
        headers: { origin: "http://127.0.0.1:5000", "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type,x-retry-count" },
      }),
    );
    assert.equal(response.status, 204);
    assert.equal(response.headers.get("access-control-allow-origin"), "http://127.0.0.1:5000");
    assert.equal(response.headers.get("access-control-allow-methods"), "POST, OPTIONS");
    assert.equal(response.headers.get("access-control-allow-headers"), "authorization,content-type,x-retry-count");
    assert.equal(response.headers.get("vary"), "Origin");
  });

  test("a text/plain POST is parsed as JSON and answered with CORS headers that expose Retry-After", async (t) => {
    const { handler } = setup(t);
    const { status, headers, body } = await call(handler, post("/v1/i", identify(1), { headers: { "content-type": "text/plain", origin: "http://127.0.0.1:5000" } }));
    assert.equal(status, 200);
    assert.equal(body.events[0].status, "delivered");
    assert.equal(headers.get("access-control-allow-origin"), "http://127.0.0.1:5000");
    assert.equal(headers.get("access-control-expose-headers"), "Retry-After");
    // Errors carry them too, or the browser could not read them.
    const rejected = await call(handler, post("/v1/i", identify(1), { auth: null, headers: { origin: "http://127.0.0.1:5000" } }));
    assert.equal(rejected.status, 401);
    assert.equal(rejected.headers.get("access-control-allow-origin"), "http://127.0.0.1:5000");
  });

  test("a list of origins: others get no Allow-Origin", async (t) => {
    const { handler } = setup(t, { options: { cors: { origins: ["https://app.example.com"] } } });
    const allowed = await handler(post("/v1/i", identify(1), { headers: { origin: "https://app.example.com" } }));
    assert.equal(allowed.headers.get("access-control-allow-origin"), "https://app.example.com");
    const other = await handler(post("/v1/i", identify(2), { headers: { origin: "https://evil.example" } }));
    assert.equal(other.headers.get("access-control-allow-origin"), null);
  });
});

describe("answers when Zendesk fails", () => {
  test("a failure a retry can fix: 503 with Retry-After; the retry delivers it and does not resend what landed", async (t) => {
    let failOrganizations = true;
    const { simulator, handler, zendesk } = setup(t, {
      options: { retry: { maxAttempts: 1 } },
      intercept: (url) => {
        if (failOrganizations && url.includes("/organizations")) return new Response('{"error":"ServiceUnavailable"}', { status: 503, headers: { "content-type": "application/json" } });
      },
    });
    const batch = { batch: [identify(1), track(1), group(1)] };
    const first = await call(handler, post("/v1/batch", batch));
    assert.equal(first.status, 503);
    assert.equal(first.headers.get("retry-after"), "5");
    assert.equal(first.body.error, "retry");
    assert.equal(first.body.message, "1 of 3 event(s) failed in a way a retry can fix; the others will not be sent twice");
    assert.deepEqual(brief(first.body.events), [
      line("id-1", "identify", "delivered", "delivered", { retryable: false }),
      line("tr-1", "track", "delivered", "delivered", { retryable: false }),
      line("gr-1", "group", "failed", "zendesk_unavailable", { retryable: true }),
    ]);
    const before = zendesk.length;

    failOrganizations = false;
    const retried = await call(handler, post("/v1/batch", batch));
    assert.equal(retried.status, 200);
    assert.deepEqual(brief(retried.body.events), [
      line("id-1", "identify", "delivered", "delivered", { retryable: false, duplicate: true }),
      line("tr-1", "track", "delivered", "delivered", { retryable: false, duplicate: true }),
      line("gr-1", "group", "delivered", "delivered", { retryable: false }),
    ]);
    assert.match(retried.body.events[0].message, /^messageId "id-1" already ended as delivered \(delivered\) at \d{4}-\d\d-\d\dT[\d:.]+Z; not sent again$/);
    // Only the group's requests went out again (a new groupId: by external_id, then by name).
    assert.deepEqual(zendesk.slice(before), ["GET /api/v2/organizations/search", "GET /api/v2/organizations/search", "POST /api/v2/organizations/create_or_update", "POST /api/v2/organization_memberships"]);
    assert.deepEqual(account(simulator), {
      users: [{ name: "User 1", email: "user1@example.com", external_id: "u1" }],
      organizations: [{ name: "Org 1", external_id: "org-1" }],
      memberships: [{ user: "u1", organization: "org-1" }],
      events: [{ user: "u1", type: "Order Completed", properties: { total: 1 } }],
    });
    assert.equal(simulator.state().counters.eventsReceived, 1);
  });

  test("Zendesk throttling: 429 with Zendesk's Retry-After", async (t) => {
    const { handler } = setup(t, {
      options: { retry: { maxTotalMs: 0 } },
      intercept: () => new Response("Too Many Requests", { status: 429, headers: { "retry-after": "7" } }),
    });
    const { status, headers, body } = await call(handler, post("/v1/identify", identify(1)));
    assert.equal(status, 429);
    assert.equal(headers.get("retry-after"), "7");
    assert.equal(body.error, "rate_limited");
    assert.deepEqual(brief(body.events), [line("id-1", "identify", "failed", "rate_limited", { retryable: true })]);
  });

  test("Zendesk refusing the destination's credentials asks for a retry (503): the event is not at fault", async (t) => {
    const { handler } = setup(t, { simulator: { auth: { basic: [{ email: "someone@else.test", token: "other" }] } } });
    const { status, body } = await call(handler, post("/v1/identify", identify(1)));
    assert.equal(status, 503);
    assert.deepEqual(brief(body.events), [line("id-1", "identify", "failed", "unauthorized", { retryable: true })]);
  });

  test("a failure no retry can fix is final: 200, reported, remembered", async (t) => {
    const { handler, zendesk } = setup(t, {
      intercept: (url, init) => {
        if (init.method === "POST" && url.includes("create_or_update")) return new Response('{"error":"RecordInvalid","description":"Record validation errors"}', { status: 422, headers: { "content-type": "application/json" } });
      },
    });
    const first = await call(handler, post("/v1/identify", identify(1)));
    assert.equal(first.status, 200);
    assert.deepEqual(brief(first.body.events), [line("id-1", "identify", "failed", "zendesk_rejected", { retryable: false })]);
    const sent = zendesk.length;
    const again = await call(handler, post("/v1/identify", identify(1)));
    assert.deepEqual(brief(again.body.events), [line("id-1", "identify", "failed", "zendesk_rejected", { retryable: false, duplicate: true })]);
    assert.equal(zendesk.length, sent);
  });

  test("outcomes not known in time: 503, the delivery goes on, and the retry finds it done", async (t) => {
    const gate = deferred();
    const { simulator, handler } = setup(t, { options: { responseTimeoutMs: 20 }, intercept: async () => void (await gate.promise) });
    const first = await call(handler, post("/v1/identify", identify(1)));
    assert.equal(first.status, 503);
    assert.equal(first.body.error, "timeout");
    gate.resolve();
    await handler.drain();
    const retried = await call(handler, post("/v1/identify", identify(1)));
    assert.equal(retried.status, 200);
    assert.equal(retried.body.events[0].duplicate, true);
    assert.equal(simulator.state().counters.usersCreated, 1);
  });

  test("too many events pending: 503 overloaded, nothing sent for that request", async (t) => {
    const gate = deferred();
    // Events delivered one by one (no batch window): each of the first request's two starts with its search.
    const { simulator, handler, zendesk } = setup(t, { options: { maxPendingEvents: 2, batchWindowMs: 0 }, intercept: async () => void (await gate.promise) });
    const first = call(handler, post("/v1/batch", { batch: [identify(1), identify(2)] }));
    await new Promise((resolve) => setImmediate(resolve));
    const shed = await call(handler, post("/v1/identify", identify(3)));
    assert.equal(shed.status, 503);
    assert.equal(shed.body.error, "overloaded");
    assert.equal(shed.headers.get("retry-after"), "5");
    const sentBefore = zendesk.length;
    gate.resolve();
    assert.equal((await first).status, 200);
    await handler.drain();
    // Only the first request's two users: the shed request sent nothing, then or later.
    assert.equal(sentBefore, 2, "one search per user of the first request, held at the gate");
    assert.deepEqual(account(simulator).users.map((u) => u.external_id), ["u1", "u2"]);
    assert.equal(simulator.state().counters.usersCreated, 2);
    assert.equal(handler.stats().shed, 1);
  });

  test("a batch larger than maxPendingEvents is taken when nothing is pending (else every retry would be shed)", async (t) => {
    const { simulator, handler } = setup(t, { options: { maxPendingEvents: 2 } });
    const { status, body } = await call(handler, post("/v1/batch", { batch: [identify(1), identify(2), identify(3)] }));
    assert.equal(status, 200);
    assert.deepEqual(body.events.map((e) => e.status), ["delivered", "delivered", "delivered"]);
    assert.deepEqual(account(simulator).users.map((u) => u.external_id), ["u1", "u2", "u3"]);
    assert.equal(handler.stats().shed, 0);
  });
});

describe("de-duplication by messageId", () => {
  test("a batch sent twice writes once", async (t) => {
    const { simulator, handler, zendesk } = setup(t);
    const batch = { batch: [identify(1), track(1), group(1)] };
    assert.equal((await call(handler, post("/v1/batch", batch))).status, 200);
    const sent = zendesk.length;
    const again = await call(handler, post("/v1/batch", batch));
    assert.equal(again.status, 200);
    assert.deepEqual(again.body.events.map((e) => e.duplicate), [true, true, true]);
    assert.equal(zendesk.length, sent);
    assert.equal(simulator.state().counters.eventsReceived, 1);
    assert.equal(handler.stats().duplicates, 3);
  });

  test("an event whose delivery is in flight is not sent twice: the second request joins it", async (t) => {
    const gate = deferred();
    let held = 0;
    const { simulator, handler } = setup(t, {
      intercept: async () => {
        if (held++ === 0) await gate.promise;
      },
    });
    const first = call(handler, post("/v1/identify", identify(1)));
    const second = call(handler, post("/v1/batch", { batch: [identify(1), identify(1)] }));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(handler.stats().inflight, 1);
    gate.resolve();
    const [a, b] = await Promise.all([first, second]);
    assert.deepEqual(brief(a.body.events), [line("id-1", "identify", "delivered", "delivered", { retryable: false })]);
    assert.deepEqual(brief(b.body.events), [
      line("id-1", "identify", "delivered", "delivered", { retryable: false, duplicate: true }),
      line("id-1", "identify", "delivered", "delivered", { retryable: false, duplicate: true }),
    ]);
    assert.equal(simulator.state().counters.usersCreated, 1);
  });

  test("a joined delivery that fails retryably fails both requests, and neither is remembered", async (t) => {
    let failing = true;
    const gate = deferred();
    const { simulator, handler } = setup(t, {
      options: { retry: { maxAttempts: 1 } },
      intercept: async () => {
        await gate.promise;
        if (failing) return new Response("{}", { status: 500 });
      },
    });
    const first = call(handler, post("/v1/identify", identify(1)));
    const second = call(handler, post("/v1/identify", identify(1)));
    await new Promise((resolve) => setImmediate(resolve));
    gate.resolve();
    assert.deepEqual((await Promise.all([first, second])).map((r) => r.status), [503, 503]);
    failing = false;
    const retried = await call(handler, post("/v1/identify", identify(1)));
    assert.deepEqual(brief(retried.body.events), [line("id-1", "identify", "delivered", "delivered", { retryable: false })]);
    assert.equal(simulator.state().counters.usersCreated, 1);
  });

  test("the window is bounded in count and in time (injectable clock); events without messageId are not de-duplicated", async (t) => {
    let now = Date.parse("2026-03-01T00:00:00Z");
    const { handler, zendesk } = setup(t, { options: { now: () => now, dedupe: { maxEntries: 2, windowMs: 60_000 } } });
    const skippedTrack = (id) => ({ type: "track", userId: "u1", event: "Not Forwarded", messageId: id });
    const send = async (id) => (await call(handler, post("/v1/track", skippedTrack(id)))).body.events[0].duplicate === true;
    assert.equal(await send("a"), false);
    assert.equal(await send("a"), true);
    assert.equal(await send("b"), false);
    assert.equal(await send("c"), false); // "a" leaves the window: only two are remembered
    assert.equal(await send("a"), false);
    assert.equal(await send("c"), true);
    now += 60_000;
    assert.equal(await send("c"), false, "forgotten after windowMs");
    const noId = { type: "track", userId: "u1", event: "Not Forwarded" };
    for (let i = 0; i < 2; i++) assert.equal((await call(handler, post("/v1/track", noId))).body.events[0].duplicate, undefined);
    assert.equal(handler.stats().remembered, 1, "everything older than the window was dropped");
    assert.deepEqual(zendesk, []);
  });

  test("dedupe: false turns it off", async (t) => {
    const { handler } = setup(t, { options: { dedupe: false } });
    await call(handler, post("/v1/track", track(1, { event: "Other" })));
    const again = await call(handler, post("/v1/track", track(1, { event: "Other" })));
    assert.equal(again.body.events[0].duplicate, undefined);
  });

  test("long messageIds are remembered by a bounded key; ids differing only at the end stay distinct", async (t) => {
    const { handler } = setup(t);
    const base = "m".repeat(5000);
    const event = (id) => ({ type: "track", userId: "u1", event: "Not Forwarded", messageId: id });
    const duplicate = async (id) => (await call(handler, post("/v1/track", event(id)))).body.events[0].duplicate === true;
    assert.equal(await duplicate(`${base}-a`), false);
    assert.equal(await duplicate(`${base}-b`), false);
    assert.equal(await duplicate(`${base}-a`), true);
    assert.equal(messageKey(`${base}-a`).length < 256, true);
    assert.notEqual(messageKey(`${base}-a`), messageKey(`${base}-b`));
    assert.equal(messageKey("short-id"), "short-id");
  });

  test("DedupeWindow on its own", () => {
    let now = 0;
    const window = new DedupeWindow({ maxEntries: 3, windowMs: 10, now: () => now });
    window.remember("x", { status: "delivered", code: "delivered" });
    now = 5;
    window.remember("y", { status: "skipped", code: "event_not_enabled" });
    assert.deepEqual(window.get("x"), { status: "delivered", code: "delivered", at: 0 });
    now = 10;
    assert.equal(window.get("x"), null);
    assert.deepEqual(window.get("y"), { status: "skipped", code: "event_not_enabled", at: 5 });
    window.remember("z", { status: "invalid", code: "invalid_event" });
    assert.equal(window.size, 2, "x expired and was dropped");
    assert.throws(() => new DedupeWindow({ maxEntries: 0 }), /maxEntries/);
  });

  test("DedupeWindow with a store: told of each entry kept and dropped; restore refills it without telling it", () => {
    let now = 0;
    const saved = new Map();
    const told = [];
    const store = { put: (id, entry) => (told.push(["put", id]), saved.set(id, entry)), delete: (id) => (told.push(["delete", id]), saved.delete(id)) };
    const window = new DedupeWindow({ maxEntries: 2, windowMs: 10, now: () => now, store });
    window.remember("a", { status: "delivered", code: "delivered" });
    now = 1;
    window.remember("b", { status: "skipped", code: "unsupported_type" });
    now = 2;
    window.remember("c", { status: "invalid", code: "invalid_event" }); // over maxEntries: "a" goes
    assert.deepEqual(told, [["put", "a"], ["put", "b"], ["put", "c"], ["delete", "a"]]);
    assert.deepEqual([...saved.keys()], ["b", "c"]);

    // A new window (a restarted process) over the same store: what it knew comes back, expired entries
    // are dropped from the store too.
    now = 11.5;
    told.length = 0;
    const restarted = new DedupeWindow({ maxEntries: 2, windowMs: 10, now: () => now, store });
    restarted.restore([...saved]);
    assert.deepEqual(told, [["delete", "b"]], "b (at 1) expired at 11");
    assert.equal(restarted.get("b"), null);
    assert.deepEqual(restarted.get("c"), { status: "invalid", code: "invalid_event", at: 2 });
  });

  test("the handler takes a DedupeWindow of its own (the Worker passes one kept in storage)", async (t) => {
    const window = new DedupeWindow();
    window.restore([["id-1", { status: "delivered", code: "delivered", at: Date.now() }]]);
    const { handler, zendesk } = setup(t, { options: { dedupe: window } });
    const answer = await call(handler, post("/v1/identify", identify(1)));
    assert.equal(answer.status, 200);
    assert.deepEqual(brief(answer.body.events), [line("id-1", "identify", "delivered", "delivered", { retryable: false, duplicate: true })]);
    assert.deepEqual(zendesk, [], "nothing was sent");
    await call(handler, post("/v1/identify", identify(2)));
    assert.notEqual(window.get("id-2"), null, "the handler remembers in the window it was given");
  });
});

describe("an event the runtime cut short", () => {
  for (const [how, batchWindowMs] of [["gathered in a batch (the default)", undefined], ["delivered alone (batchWindowMs 0)", 0]]) {
    test(`${how}: answers 503 (retryable interrupted), is not remembered, and the retry delivers it`, async (t) => {
      let cutShort = true;
      const sleep = () => (cutShort ? Promise.reject(new Error("a promise created by a request that has since ended")) : new Promise((resolve) => setTimeout(resolve, 0)));
      const { simulator, handler } = setup(t, { options: { sleep, batchWindowMs }, intercept: (_url, _init, index) => (index === 0 ? new Response("{}", { status: 503 }) : undefined) });
      const body = { batch: [identify(1), identify(2)] };
      const first = await call(handler, post("/v1/batch", body));
      assert.equal(first.status, 503);
      assert.equal(first.body.error, "retry");
      const interrupted = first.body.events.filter((e) => e.code === "interrupted");
      assert.ok(interrupted.length >= 1, JSON.stringify(brief(first.body.events)));
      for (const e of first.body.events) assert.ok(["interrupted", "delivered"].includes(e.code), `${e.messageId}: ${e.code} ${e.message}`);
      assert.ok(interrupted.every((e) => e.retryable === true && e.status === "failed" && /the runtime cut this event/.test(e.message)));
      cutShort = false;
      const retry = await call(handler, post("/v1/batch", body));
      assert.equal(retry.status, 200);
      assert.deepEqual(retry.body.events.map((e) => e.status), ["delivered", "delivered"]);
      assert.equal(simulator.state().users.length, 2);
    });
  }
});

describe("waitUntil mode", () => {
  test("answers 200 at once and delivers through the runtime's waitUntil", async (t) => {
    const gate = deferred();
    const { simulator, handler } = setup(t, { options: { mode: "waitUntil" }, intercept: async () => void (await gate.promise) });
    const waited = [];
    const ctx = { waitUntil: (promise) => waited.push(promise) };
    const { status, body } = await call(handler, post("/v1/batch", { batch: [identify(1), track(1)] }), {}, ctx);
    assert.deepEqual([status, body], [200, { success: true, accepted: 2 }]);
    assert.equal(waited.length, 1);
    assert.equal(simulator.state().users.length, 0, "not delivered yet when the answer came");
    gate.resolve();
    const lines = await waited[0];
    assert.deepEqual(brief(lines), [line("id-1", "identify", "delivered", "delivered", { retryable: false }), line("tr-1", "track", "delivered", "delivered", { retryable: false })]);
    assert.equal(simulator.state().events.length, 1);
  });

  test("failures after the answer reach onOutcome only", async (t) => {
    const outcomes = [];
    const { handler } = setup(t, {
      options: { mode: "waitUntil", retry: { maxAttempts: 1 }, onOutcome: (report) => outcomes.push(report) },
      intercept: () => new Response("{}", { status: 500 }),
    });
    const { status } = await call(handler, post("/v1/identify", identify(1)));
    assert.equal(status, 200);
    await handler.drain();
    assert.deepEqual(outcomes.map((o) => [o.messageId, o.outcome.status, o.outcome.code, o.duplicate]), [["id-1", "failed", "zendesk_unavailable", false]]);
  });
});

describe("lifecycle", () => {
  test("bad settings: ready rejects, and requests answer 500 invalid_settings", async () => {
    const handler = createHandler({ settings: { subdomain: "" }, writeKeys: WRITE_KEY });
    await assert.rejects(handler.ready, (error) => error.code === "invalid_settings");
    const { status, body } = await call(handler, post("/v1/identify", identify(1)));
    assert.equal(status, 500);
    assert.equal(body.error, "invalid_settings");
  });

  test("createHandler checks its own options", () => {
    assert.throws(() => createHandler({ settings: SETTINGS }), /writeKeys/);
    assert.throws(() => createHandler({ settings: SETTINGS, writeKeys: [""] }), /writeKeys/);
    assert.throws(() => createHandler({ writeKeys: "k" }), /settings/);
    assert.throws(() => createHandler({ settings: SETTINGS, writeKeys: "k", mode: "later" }), /mode/);
  });

  test("close(): deliveries in progress finish, then new requests get 503 shutting_down", async (t) => {
    const gate = deferred();
    const { simulator, handler } = setup(t, { intercept: async () => void (await gate.promise) });
    const inProgress = call(handler, post("/v1/identify", identify(1)));
    await new Promise((resolve) => setImmediate(resolve));
    const closed = handler.close();
    const refused = await call(handler, post("/v1/identify", identify(2)));
    assert.deepEqual([refused.status, refused.body.error, refused.headers.get("retry-after")], [503, "shutting_down", "5"]);
    gate.resolve();
    assert.equal((await inProgress).status, 200);
    await closed;
    assert.deepEqual(account(simulator).users.map((u) => u.external_id), ["u1"]);
  });

  test("close() past its grace: the events still in flight end cancelled and their request gets 503", async (t) => {
    const { handler } = setup(t, { intercept: (_url, init) => new Promise((_resolve, reject) => init.signal.addEventListener("abort", () => reject(init.signal.reason))) });
    const stuck = call(handler, post("/v1/identify", identify(1)));
    await new Promise((resolve) => setImmediate(resolve));
    await handler.close({ timeoutMs: 10 });
    const { status, body } = await stuck;
    assert.equal(status, 503);
    assert.deepEqual(brief(body.events), [line("id-1", "identify", "failed", "cancelled", { retryable: true })]);
  });

  test("a second close({timeoutMs: 0}) cuts the first one's grace short: the events in flight end cancelled, their request gets 503", async (t) => {
    const { handler } = setup(t, { intercept: (_url, init) => new Promise((_resolve, reject) => init.signal.addEventListener("abort", () => reject(init.signal.reason))) });
    const stuck = call(handler, post("/v1/identify", identify(1)));
    await new Promise((resolve) => setImmediate(resolve));
    const first = handler.close({ timeoutMs: 60_000 });
    await new Promise((resolve) => setImmediate(resolve));
    const second = handler.close({ timeoutMs: 0 }); // a second SIGTERM
    // Without the cut, the answer would be the 503 `timeout` of responseTimeoutMs, the delivery still running.
    const { status, body } = await stuck;
    assert.equal(status, 503);
    assert.equal(body.error, "retry");
    assert.deepEqual(brief(body.events), [line("id-1", "identify", "failed", "cancelled", { retryable: true })]);
    await Promise.all([first, second]);
    assert.equal(handler.stats().pending, 0);
  });

  test("close() while a request's body is still arriving: 503 shutting_down and nothing dispatched, in both modes", async (t) => {
    for (const mode of ["wait", "waitUntil"]) {
      const outcomes = [];
      const { handler, zendesk } = setup(t, { options: { mode, onOutcome: (report) => outcomes.push(report) } });
      await handler.ready;
      let body;
      const stream = new ReadableStream({ start: (controller) => void (body = controller) });
      const answered = call(handler, new Request("http://edge.test/v1/identify", { method: "POST", headers: { authorization: BASIC }, body: stream, duplex: "half" }));
      await new Promise((resolve) => setImmediate(resolve));
      const closed = handler.close();
      body.enqueue(new TextEncoder().encode(JSON.stringify(identify(1))));
      body.close();
      const { status, headers, body: answer } = await answered;
      // In waitUntil mode a 200 here would be a loss: the client drops the event, the closed destination cancels it.
      assert.deepEqual([status, answer.error, headers.get("retry-after")], [503, "shutting_down", "5"], mode);
      await closed;
      assert.deepEqual(outcomes, [], mode);
      assert.deepEqual(zendesk, [], mode);
      assert.equal(handler.stats().events, 0, mode);
    }
  });

  test("a basePath mounts the API under a prefix", async (t) => {
    const { handler } = setup(t, { options: { basePath: "/segment/" } });
    assert.equal((await call(handler, post("/segment/v1/identify", identify(1)))).status, 200);
    assert.equal((await call(handler, post("/v1/identify", identify(2)))).status, 404);
  });

  test("onRequest sees method, path, status and event count, never the key", async (t) => {
    const seen = [];
    const { handler } = setup(t, { options: { onRequest: (_request, info) => seen.push(info) } });
    await call(handler, post("/v1/batch?x=1", { batch: [identify(1), track(1)] }));
    await call(handler, post("/v1/batch", { batch: [] }, { auth: "Basic " + btoa("nope:") }));
    assert.deepEqual(
      seen.map(({ method, path, status, events }) => ({ method, path, status, events })),
      [
        { method: "POST", path: "/v1/batch", status: 200, events: 2 },
        { method: "POST", path: "/v1/batch", status: 401, events: 0 },
      ],
    );
  });
});
