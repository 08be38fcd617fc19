// Reading EVENTS (one event, array, NDJSON, Segment batch) and keeping big integers exact.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parse, parseValues, stringify, JsonNumber } from "../../pkg/host/json.js";
import { describeEvent, parseEvents } from "../../pkg/host/input.js";
import { eventKeys } from "../../pkg/host/ordering.js";
import { isNonIdempotent, parseRetryAfter } from "../../pkg/host/retry.js";
import { endpointOf, isSingleUserWrite, readBudget, readEndpointBudgets } from "../../pkg/host/pacing.js";
import { redactHeaders } from "../../pkg/host/redact.js";

test("one event, an array, NDJSON and a batch all read as a list of events", () => {
  const one = parseEvents('{"type":"track","messageId":"a"}');
  assert.deepEqual(one.map((e) => e.event.messageId), ["a"]);
  const array = parseEvents('[{"messageId":"a"},{"messageId":"b"}]');
  assert.deepEqual(array.map((e) => e.event.messageId), ["a", "b"]);
  const ndjson = parseEvents('{"messageId":"a"}\n\n{"messageId":"b"}\r\n{"messageId":"c"}\n');
  assert.deepEqual(ndjson.map((e) => e.event.messageId), ["a", "b", "c"]);
  const pretty = parseEvents('{\n  "messageId": "a"\n}\n{\n  "messageId": "b"\n}');
  assert.deepEqual(pretty.map((e) => e.event.messageId), ["a", "b"]);
});

test("a batch's context and integrations apply to every item; the item's own keys win", () => {
  const events = parseEvents(
    JSON.stringify({
      batch: [
        { messageId: "a", type: "identify" },
        { messageId: "b", type: "track", context: { ip: "1.2.3.4" }, integrations: { Zendesk: false } },
      ],
      context: { library: { name: "analytics-node" }, ip: "9.9.9.9" },
      integrations: { All: true, Zendesk: true },
      writeKey: "wk",
      sentAt: "2026-01-01T00:00:00Z",
    }),
  );
  assert.deepEqual(events[0].event, { messageId: "a", type: "identify", context: { library: { name: "analytics-node" }, ip: "9.9.9.9" }, integrations: { All: true, Zendesk: true } });
  assert.deepEqual(events[1].event.context, { library: { name: "analytics-node" }, ip: "1.2.3.4" });
  assert.deepEqual(events[1].event.integrations, { All: true, Zendesk: false });
  assert.equal(events[1].json, stringify(events[1].event));
});

test("integers beyond 2^53 stay exact from input to engine text", () => {
  const [item] = parseEvents('{"traits":{"organizationId":12345678901234567891,"small":360000000000,"f":1.5e3}}');
  assert.ok(item.event.traits.organizationId instanceof JsonNumber);
  assert.equal(item.event.traits.small, 360000000000);
  assert.equal(item.json, '{"traits":{"organizationId":12345678901234567891,"small":360000000000,"f":1500}}');
  assert.equal(stringify(parse('{"a":[-99999999999999999999,"x\\u00e9\\n"]}')), '{"a":[-99999999999999999999,"xé\\n"]}');
});

test("unreadable input says where", () => {
  assert.throws(() => parseEvents('{"a":1}\n{"b":'), /not valid JSON: unexpected end of input at line 2/);
  assert.throws(() => parseEvents('{"a":1}{"b":2}'), /unexpected text after a JSON value at line 1, column 8/);
  assert.throws(() => parseEvents("  \n"), /no events/);
  assert.throws(() => parseEvents("[]"), /no events/);
  assert.throws(() => parseValues("{'a':1}"), /expected a property name/);
});

test("describeEvent picks messageId and type", () => {
  assert.deepEqual(describeEvent({ messageId: "m", type: "track" }), { messageId: "m", type: "track" });
  assert.deepEqual(describeEvent(42), { messageId: null, type: null });
});

test("event keys: userId, emails (any case), groupId, company id", () => {
  assert.deepEqual(eventKeys({ userId: "u1", traits: { email: "A@B.c", company: { id: 7 } } }).sort(), ["email:a@b.c", "org:7", "user:u1"]);
  assert.deepEqual(eventKeys('{"type":"track","anonymousId":"x","properties":{"email":"p@q.r"}}').sort(), ["anonymous:x", "email:p@q.r"]);
  assert.deepEqual(eventKeys({ type: "group", userId: 5, groupId: "g" }).sort(), ["org:g", "user:5"]);
  assert.deepEqual(eventKeys("not json"), []);
});

test("Retry-After: seconds, HTTP dates, caps, nonsense", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(parseRetryAfter("3", now), 3000);
  assert.equal(parseRetryAfter("0.25", now), 250);
  assert.equal(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now), 30_000);
  assert.equal(parseRetryAfter("Wed, 31 Dec 2025 23:00:00 GMT", now), 0);
  assert.equal(parseRetryAfter("86400", now, 60_000), 60_000);
  assert.equal(parseRetryAfter("soon", now), null);
  assert.equal(parseRetryAfter(undefined, now), null);
});

test("which requests are single-user writes and which write a new record each time", () => {
  const r = (method, path) => ({ method, url: `https://acme.zendesk.com${path}` });
  assert.ok(isSingleUserWrite(r("PUT", "/api/v2/users/123")));
  assert.ok(isSingleUserWrite(r("POST", "/api/v2/users/create_or_update.json")));
  assert.ok(!isSingleUserWrite(r("POST", "/api/v2/users/create_or_update_many")));
  assert.ok(!isSingleUserWrite(r("GET", "/api/v2/users/123")));
  assert.ok(!isSingleUserWrite(r("PUT", "/api/v2/users/123/identities/4/make_primary")));
  assert.ok(isNonIdempotent(r("POST", "/api/v2/user_profiles/events")));
  assert.ok(isNonIdempotent(r("POST", "/api/v2/users/123/events.json")));
  assert.ok(!isNonIdempotent(r("POST", "/api/v2/users/create_or_update")));
  assert.ok(!isNonIdempotent(r("GET", "/api/v2/users/123/events")));
});

test("rate-limit headers: the tightest account budget wins; endpoint headers are their endpoint's", () => {
  assert.equal(readBudget({ "content-type": "application/json" }), null);
  assert.deepEqual(readBudget({ "X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "12" }), { limit: 700, remaining: 12, resetMs: null });
  assert.deepEqual(readBudget({ "x-rate-limit": "700", "x-rate-limit-remaining": "12", "ratelimit-limit": "700", "ratelimit-remaining": "12", "ratelimit-reset": "7" }), { limit: 700, remaining: 12, resetMs: 7000 });
  // Zendesk-RateLimit-* headers are their endpoint's, not the account's budget.
  assert.deepEqual(readBudget({ "x-rate-limit-remaining": "500", "Zendesk-RateLimit-Users-Index": "total=100; remaining=3; resets=20" }), { limit: null, remaining: 500, resetMs: null });
  assert.equal(readBudget({ "Zendesk-RateLimit-create-update-user": "total=5; remaining=4; resets=60" }), null);
  assert.deepEqual(readEndpointBudgets({ "Zendesk-RateLimit-create-update-user": "total=5; remaining=4; resets=60", "x-rate-limit": "700" }), {
    "create-update-user": { limit: 5, remaining: 4, resetMs: 60_000 },
  });
  assert.equal(endpointOf({ method: "put", url: "https://acme.zendesk.com/api/v2/organizations/123.json" }), "PUT /api/v2/organizations/{id}");
});

test("redaction keeps the scheme only", () => {
  assert.deepEqual(redactHeaders({ Authorization: "Basic YWJj", Accept: "application/json" }), { Authorization: "Basic [redacted]", Accept: "application/json" });
  assert.deepEqual(redactHeaders({ authorization: "weird" }), { authorization: "[redacted]" });
});

// Property (issue 13, item 11): the streaming reader finds exactly what parsing the whole text finds — the
// same events, or the same error at the same line and column — however the text is cut into chunks.
test("property: readEventStream in any chunks = parseEvents = parsing the whole text at once", async () => {
  const { readEventStream, mergeBatchItem } = await import("../../pkg/host/input.js");
  const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  const reference = (text) => {
    let values;
    try {
      values = parseValues(text);
    } catch (error) {
      return { error: `the events are not valid JSON: ${error.message}` };
    }
    if (!values.length) return { error: "no events in the input" };
    const events = [];
    for (const { value } of values) {
      const list = Array.isArray(value) ? value : isObject(value) && Array.isArray(value.batch) ? value.batch.map((item) => mergeBatchItem(item, value)) : [value];
      for (const event of list) events.push(stringify(event));
    }
    return events.length ? { events } : { error: "no events in the input (an empty array or batch)" };
  };
  let seed = 13;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pieces = ['{"a":1}', "[", "]", ",", " ", "\n", '"x\\"y"', "{", "}", ":", "1", "-2.5e3", "true", "nul", '{"batch":[{"m":1}],"context":{"c":2}}', '"', "\\", "1e400", '[{"b":[1,2]}]', "\r\n", "x", "é", "\uFEFF"];
  for (let n = 0; n < 5_000; n++) {
    let text = "";
    for (let k = 1 + Math.floor(random() * 8); k > 0; k--) text += pieces[Math.floor(random() * pieces.length)];
    const expected = reference(text);
    let whole;
    try {
      whole = { events: parseEvents(text).map((e) => e.json) };
    } catch (error) {
      whole = { error: error.message };
    }
    assert.deepEqual(whole, expected, JSON.stringify(text));
    const chunks = [];
    for (let at = 0; at < text.length; ) {
      const size = 1 + Math.floor(random() * 4);
      chunks.push(random() < 0.5 ? text.slice(at, at + size) : new TextEncoder().encode(text.slice(at, at + size)));
      at += size;
    }
    const streamed = { events: [] };
    try {
      for await (const item of readEventStream(chunks)) streamed.events.push(item.json);
    } catch (error) {
      // the events before the problem came first; the error is the same
      assert.deepEqual(streamed.events, (expected.events ?? streamed.events).slice(0, streamed.events.length));
      streamed.error = error.message;
      delete streamed.events;
    }
    assert.deepEqual(streamed, expected, JSON.stringify(text));
  }
});
