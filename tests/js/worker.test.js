// The Worker entry's own logic in Node, with a stand-in for the Durable Object's state (its storage as a
// Map) and the in-process simulator as Zendesk. The real runtime runs it in tests/runtimes/workers.test.js.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import worker, { accountName, configFromEnv, ZendeskAccount } from "../../pkg/worker.js";
import { createSimulator } from "../../pkg/simulator.js";

const KEY = "wk_worker";
const BASIC = "Basic " + btoa(`${KEY}:`);
const SETTINGS = { subdomain: "acme", email: "agent@acme.test/token", password: "x", baseUrl: "http://127.0.0.1:9", events: ["Order Completed"] };
const env = (extra = {}) => ({ ZENDESK_SETTINGS: JSON.stringify(SETTINGS), SEGMENT_WRITE_KEYS: `${KEY}, other_key`, ...extra });

/** A Durable Object state: storage over a Map (kept across "restarts"), blockConcurrencyWhile awaited by `started`. */
function objectState(saved = new Map()) {
  let started;
  return {
    saved,
    get started() {
      return started;
    },
    blockConcurrencyWhile(fn) {
      started = fn();
      return started;
    },
    waitUntil() {},
    storage: {
      put: async (key, value) => void saved.set(key, structuredClone(value)),
      delete: async (key) => saved.delete(key),
      list: async ({ prefix }) => new Map([...saved].filter(([key]) => key.startsWith(prefix))),
    },
  };
}

const identify = (n) => ({ type: "identify", userId: `u${n}`, messageId: `m-${n}`, traits: { name: `User ${n}` } });
const post = (body, auth = BASIC) => new Request("https://worker.example/v1/batch", { method: "POST", headers: { "content-type": "application/json", ...(auth ? { authorization: auth } : {}) }, body: JSON.stringify(body) });

describe("configuration", () => {
  test("settings, keys and options from the environment", () => {
    assert.deepEqual(configFromEnv(env({ HANDLER_OPTIONS: '{"mode": "waitUntil", "concurrency": 2}' })), { settings: SETTINGS, writeKeys: [KEY, "other_key"], options: { mode: "waitUntil", concurrency: 2 } });
  });

  test("what is missing or wrong, said at once", () => {
    assert.throws(() => configFromEnv({}), { message: "the Worker is not configured: ZENDESK_SETTINGS (the destination's settings as JSON) is not set; SEGMENT_WRITE_KEYS (the accepted write keys) is not set" });
    assert.throws(() => configFromEnv(env({ ZENDESK_SETTINGS: "{nope" })), /ZENDESK_SETTINGS is not JSON/);
    assert.throws(() => configFromEnv(env({ ZENDESK_SETTINGS: "[1]" })), /ZENDESK_SETTINGS must be a JSON object/);
    assert.throws(() => configFromEnv(env({ HANDLER_OPTIONS: "[]" })), /HANDLER_OPTIONS must be a JSON object \(not an object\)/);
  });

  test("one Durable Object per Zendesk account", () => {
    assert.equal(accountName({ subdomain: "Acme" }), "https://acme.zendesk.com");
    assert.equal(accountName({ subdomain: "acme", baseUrl: "http://127.0.0.1:8080" }), "http://127.0.0.1:8080");
  });
});

describe("the Worker", () => {
  function namespace(answer) {
    const names = [];
    return {
      names,
      idFromName: (name) => (names.push(name), `id:${name}`),
      get: (id) => ({ fetch: (request) => answer(request, id) }),
    };
  }

  test("forwards to the account's object; a wrong key in the header never gets there", async () => {
    const ns = namespace(async (_request, id) => new Response(JSON.stringify({ forwardedTo: id })));
    const forwarded = await worker.fetch(post({ batch: [] }), env({ ZENDESK_ACCOUNT: ns }));
    assert.deepEqual(await forwarded.json(), { forwardedTo: "id:http://127.0.0.1:9" });
    const wrong = await worker.fetch(post({ batch: [] }, "Basic " + btoa("nope:")), env({ ZENDESK_ACCOUNT: ns }));
    assert.equal(wrong.status, 401);
    assert.equal((await wrong.json()).error, "unauthorized");
    assert.equal(ns.names.length, 1);
  });

  test("a bad configuration, a missing binding or an object that does not answer: a clear answer", async () => {
    const missing = await worker.fetch(post({ batch: [] }), {});
    assert.equal(missing.status, 500);
    assert.match((await missing.json()).message, /ZENDESK_SETTINGS/);
    const unbound = await worker.fetch(post({ batch: [] }), env());
    assert.equal(unbound.status, 500);
    assert.match((await unbound.json()).message, /Durable Object binding ZENDESK_ACCOUNT \(class ZendeskAccount\) is missing/);
    const down = await worker.fetch(post({ batch: [] }), env({ ZENDESK_ACCOUNT: namespace(() => Promise.reject(new Error("Durable Object reset because its code was updated."))) }));
    assert.equal(down.status, 503);
    assert.equal(down.headers.get("retry-after"), "1");
    assert.deepEqual(await down.json(), { success: false, error: "unavailable", message: "the account's delivery object did not answer (Durable Object reset because its code was updated.); retry" });
  });
});

describe("the Durable Object", () => {
  test("keeps the messageIds it finished in storage; a restarted object answers them as duplicates", async () => {
    const simulator = createSimulator();
    const objectEnv = env({ ZENDESK_SETTINGS: JSON.stringify(SETTINGS), HANDLER_OPTIONS: "{}" });
    // The simulator stands in for Zendesk through the global fetch the object uses.
    const realFetch = globalThis.fetch;
    globalThis.fetch = (url, init) => simulator.fetch(url, init);
    try {
      const state = objectState();
      const first = new ZendeskAccount(state, objectEnv);
      await state.started;
      const answer = await first.fetch(post({ batch: [identify(1), identify(2)] }));
      assert.equal(answer.status, 200);
      assert.deepEqual([...state.saved.keys()], ["messageId:m-1", "messageId:m-2"]);
      assert.deepEqual(state.saved.get("messageId:m-1"), { status: "delivered", code: "delivered", at: state.saved.get("messageId:m-1").at });

      const restartedState = objectState(state.saved);
      const restarted = new ZendeskAccount(restartedState, objectEnv);
      await restartedState.started;
      const before = simulator.state().counters.requests;
      const again = await (await restarted.fetch(post({ batch: [identify(1), identify(2)] }))).json();
      assert.deepEqual(again.events.map((e) => [e.messageId, e.duplicate]), [["m-1", true], ["m-2", true]]);
      assert.equal(simulator.state().counters.requests, before, "nothing sent again");
    } finally {
      globalThis.fetch = realFetch;
    }
  });

  test("a bad configuration answers 500 invalid_config", async () => {
    const state = objectState();
    const object = new ZendeskAccount(state, {});
    await state.started;
    const answer = await object.fetch(post({ batch: [] }));
    assert.equal(answer.status, 500);
    assert.equal((await answer.json()).error, "invalid_config");
  });
});
