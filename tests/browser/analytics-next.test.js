// Segment's browser library, @segment/analytics-next, unmodified, in headless Chromium: a page served on
// 127.0.0.1 loads its bundled build from node_modules (no CDN), with inline cdnSettings whose Segment.io
// apiHost is the `serve` server; its identify, track and group calls land in the Zendesk simulator.
// Every request the page makes is recorded: all of them go to 127.0.0.1. A second test runs the edge
// handler itself (pkg/edge.js, served as ES modules) inside the page: it needs no Node API.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { extname, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { launchBrowser } from "../../scripts/browser.mjs";
import { startServer } from "../../pkg/serve.js";
import { startSimulatorServer } from "../../pkg/simulator-server.js";

const WRITE_KEY = "wk_browser_test";
const BUNDLE = new URL("../../node_modules/@segment/analytics-next/dist/umd/index.js", import.meta.url);
const PKG = fileURLToPath(new URL("../../pkg/", import.meta.url));
const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };

let sim;
let edge;
let site;
let siteUrl;
let browser;
const edgeLog = [];

before(async () => {
  sim = await startSimulatorServer({ port: 0 });
  edge = await startServer({
    settings: { subdomain: "acme", email: "agent@acme.test/token", password: "x", baseUrl: sim.url, events: ["Order Completed"] },
    writeKeys: [WRITE_KEY],
    port: 0,
    logger: (line) => edgeLog.push(line),
  });
  const bundle = await readFile(BUNDLE);
  site = createServer(async (req, res) => {
    if (req.url.startsWith("/pkg/")) {
      // pkg/ as it would be published: ES modules and the .wasm
      const path = normalize(PKG + decodeURIComponent(req.url.slice(5).split("?")[0]));
      if (!path.startsWith(PKG) || path.includes(`${sep}..`)) {
        res.writeHead(403);
        return res.end();
      }
      try {
        const bytes = await readFile(path);
        res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream" });
        return res.end(bytes);
      } catch {
        res.writeHead(404);
        return res.end();
      }
    }
    if (req.url === "/analytics-next.js") {
      res.writeHead(200, { "content-type": "text/javascript" });
      res.end(bundle);
    } else if (req.url === "/") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end('<!doctype html><html><head><meta charset="utf-8"><title>shop</title><script src="/analytics-next.js"></script></head><body><h1>shop</h1></body></html>');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve) => site.listen(0, "127.0.0.1", resolve));
  siteUrl = `http://127.0.0.1:${site.address().port}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => (site ? site.close(resolve) : resolve()));
  await edge?.close({ timeoutMs: 0 });
  await sim?.close();
});

/** Waits (without a timing assertion) until the simulator's state satisfies `ready`. */
async function stateWhen(ready, what) {
  for (let i = 0; i < 200; i++) {
    const state = sim.simulator.state();
    if (ready(state)) return state;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`the simulator never showed ${what}: ${JSON.stringify(sim.simulator.state().counters)}`);
}

test("identify, track and group from analytics-next in Chromium land in Zendesk", async () => {
  const page = await browser.newPage();
  const requests = [];
  const problems = [];
  page.on("request", (request) => requests.push({ method: request.method(), url: request.url(), headers: request.headers() }));
  page.on("pageerror", (error) => problems.push(error.message));
  await page.goto(siteUrl);
  const apiHost = `127.0.0.1:${edge.port}/v1`;
  const results = await page.evaluate(
    async ({ writeKey, apiHost }) => {
      const [analytics] = await window.AnalyticsNext.AnalyticsBrowser.load({
        writeKey,
        cdnSettings: { integrations: { "Segment.io": { apiKey: writeKey, apiHost, protocol: "http" } }, metrics: { sampleRate: 0 } },
      });
      const done = [];
      const record = (ctx) => done.push({ type: ctx.event.type, failed: Boolean(ctx.failedDelivery()) });
      record(await analytics.identify("u-web-1", { email: "lumbergh@initech.example", name: "Bill Lumbergh", title: "Vice President" }));
      record(await analytics.track("Order Completed", { orderId: "web-7", total: 19.99 }));
      record(await analytics.track("Page Scrolled", { depth: 80 }));
      record(await analytics.group("org-web", { name: "Initech Web", industry: "Software" }));
      return done;
    },
    { writeKey: WRITE_KEY, apiHost },
  );
  assert.deepEqual(results, [
    { type: "identify", failed: false },
    { type: "track", failed: false },
    { type: "track", failed: false },
    { type: "group", failed: false },
  ]);

  const state = await stateWhen((s) => s.memberships.length === 1 && s.events.length === 1, "the membership and the event");
  const userIds = new Map(state.users.map((u) => [u.id, u.external_id]));
  const orgIds = new Map(state.organizations.map((o) => [o.id, o.external_id]));
  assert.deepEqual(
    state.users.map((u) => ({ name: u.name, email: u.email, external_id: u.external_id })),
    [{ name: "Bill Lumbergh", email: "lumbergh@initech.example", external_id: "u-web-1" }],
  );
  assert.deepEqual(
    state.organizations.map((o) => ({ name: o.name, external_id: o.external_id })),
    [{ name: "Initech Web", external_id: "org-web" }],
  );
  assert.deepEqual(state.memberships.map((m) => [userIds.get(m.user_id), orgIds.get(m.organization_id)]), [["u-web-1", "org-web"]]);
  assert.deepEqual(
    state.events.map((e) => ({ user: userIds.get(e.user_id), type: e.type, properties: e.properties })),
    [{ user: "u-web-1", type: "Order Completed", properties: { orderId: "web-7", total: 19.99 } }],
  );

  // The library posts text/plain to the short paths, after a CORS preflight; nothing left 127.0.0.1.
  const posts = requests.filter((r) => r.method === "POST").map((r) => new URL(r.url).pathname);
  assert.deepEqual(posts, ["/v1/i", "/v1/t", "/v1/t", "/v1/g"]);
  for (const r of requests.filter((r) => r.method === "POST")) assert.match(r.headers["content-type"], /^text\/plain/);
  for (const r of requests) assert.equal(new URL(r.url).hostname, "127.0.0.1", r.url);
  const statuses = edgeLog.map((line) => line.split(" ").slice(1, 4).join(" "));
  assert.deepEqual(statuses.filter((s) => s.startsWith("POST")), ["POST /v1/i 200", "POST /v1/t 200", "POST /v1/t 200", "POST /v1/g 200"]);
  assert.ok(statuses.includes("OPTIONS /v1/i 204"), `a CORS preflight was answered: ${statuses.join(", ")}`);
  assert.deepEqual(problems, []);
  await page.close();
});

test("the edge handler itself runs in Chromium: no Node API needed", async () => {
  sim.simulator.reset();
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(error.message));
  await page.goto(siteUrl);
  const answer = await page.evaluate(
    async ({ zendesk }) => {
      const { createHandler } = await import("/pkg/edge.js");
      // OAuth: the simulator, like Zendesk, answers browsers with CORS only for Bearer tokens.
      const handler = createHandler({ settings: { subdomain: "acme", oauthToken: "browser-oauth-token", baseUrl: zendesk, events: ["Order Completed"] }, writeKeys: ["wk_in_page"] });
      await handler.ready;
      const request = () => new Request("https://edge.example/v1/batch", {
        method: "POST",
        headers: { authorization: `Basic ${btoa("wk_in_page:")}`, "content-type": "text/plain" },
        body: JSON.stringify({
          batch: [
            { type: "identify", userId: "u-in-page", messageId: "p-1", traits: { name: "Tom Smykowski", email: "tom@initech.example" } },
            { type: "track", userId: "u-in-page", messageId: "p-2", event: "Order Completed", properties: { total: 3 } },
          ],
        }),
      });
      const response = await handler(request());
      const again = await handler(request());
      const wrong = await handler(new Request("https://edge.example/v1/t", { method: "POST", body: "{}" }));
      await handler.close();
      return { status: response.status, body: await response.json(), again: (await again.json()).events.map((e) => e.duplicate), wrong: wrong.status };
    },
    { zendesk: sim.url },
  );
  assert.equal(answer.status, 200);
  assert.deepEqual(answer.body.events.map((e) => [e.messageId, e.status]), [["p-1", "delivered"], ["p-2", "delivered"]]);
  assert.deepEqual(answer.again, [true, true]);
  assert.equal(answer.wrong, 401);
  const state = sim.simulator.state();
  assert.deepEqual(state.users.map((u) => [u.name, u.external_id]), [["Tom Smykowski", "u-in-page"]]);
  assert.deepEqual(state.events.map((e) => [e.type, e.properties]), [["Order Completed", { total: 3 }]]);
  assert.deepEqual(problems, []);
  await page.close();
});
