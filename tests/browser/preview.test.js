// The preview page in headless Chromium: one browser and one page for the whole file (2 cores), the
// preview server and the simulator started in-process. Screenshots of each main state go to
// test-output/screenshots/.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { launchBrowser } from "../../scripts/browser.mjs";
import { startPreview } from "../../scripts/start.mjs";

const SHOTS = new URL("../../test-output/screenshots/", import.meta.url).pathname;
const ZENDESK = "https://acme.zendesk.com/api/v2";
const EMAIL = "agent@acme.com/token";
const API_TOKEN = "s3cr3t-API-t0ken-7f3a9";
const OAUTH_TOKEN = "oauth-S3CRET-access-9b2c4";
const BASIC = Buffer.from(`${EMAIL}:${API_TOKEN}`).toString("base64");

let preview;
let browser;
let page;
const consoleMessages = []; // every console message and page error, for the no-errors and no-secrets checks

async function shot(name, options = {}) {
  await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: options.fullPage ?? true });
}

/** Waits until the page has no update pending (debounced typing, the async plan). */
async function settled() {
  await page.waitForFunction(() => document.body.dataset.ready === "true" && !document.body.dataset.busy);
}

async function example(id) {
  await page.click(`[data-example="${id}"]`);
  await settled();
  // The example in use is marked, and only that one.
  const pressed = await page.$$eval("[data-example]", (buttons) => buttons.filter((b) => b.getAttribute("aria-pressed") === "true").map((b) => b.dataset.example));
  assert.deepEqual(pressed, [id]);
}

async function scenario(id) {
  await page.check(`input[name="scenario"][value="${id}"]`);
  await settled();
}

async function requestLines() {
  return page.$$eval(".request-card .req-line", (lines) => lines.map((line) => line.textContent.replace(/\s+/g, " ").trim()));
}

async function outcome() {
  return page.$eval("#result-body .outcome", (card) => ({
    status: card.querySelector(".badge").textContent,
    code: card.querySelector("code").textContent,
    message: card.querySelector(".outcome-message").textContent,
  }));
}

async function simulatorState() {
  const response = await fetch(`${preview.simulatorUrl}/__simulator/state`);
  return response.json();
}

async function resetSimulator() {
  await fetch(`${preview.simulatorUrl}/__simulator/reset`, { method: "POST" });
}

async function setSettings({ subdomain = "acme", auth = "basic", email = EMAIL, password = API_TOKEN, oauthToken = OAUTH_TOKEN } = {}) {
  await page.fill("#subdomain", subdomain);
  await page.check(`input[name="auth"][value="${auth}"]`);
  if (auth === "basic") {
    await page.fill("#email", email);
    await page.fill("#password", password);
  } else {
    await page.fill("#oauthToken", oauthToken);
  }
  await settled();
}

describe("the preview page in Chromium", () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    preview = await startPreview({ port: 0 });
    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on("console", (message) => consoleMessages.push({ type: message.type(), text: message.text() }));
    page.on("pageerror", (error) => consoleMessages.push({ type: "pageerror", text: String(error?.stack ?? error) }));
    await page.goto(preview.url);
    await settled();
  });

  after(async () => {
    await browser?.close();
    await preview?.close();
  });

  test("the page loads with no console errors and shows a clear empty state", async () => {
    const problems = consoleMessages.filter((m) => m.type === "error" || m.type === "warning" || m.type === "pageerror");
    assert.deepEqual(problems, []);
    assert.match(await page.textContent("#result-body"), /No event yet/);
    assert.equal(await page.isVisible("#send-simulator"), false, "no Send button without an event");
    assert.equal(await page.isVisible("#simulator"), true, "served by the main command: the simulator panel is there");
    await shot("01-empty");
  });

  test("every control has an accessible name, and examples work from the keyboard", async () => {
    const unnamed = await page.$$eval("input, textarea, button, select", (nodes) =>
      nodes
        .filter((n) => !n.closest("[hidden]") && n.type !== "hidden")
        .filter((n) => !(n.labels?.length || n.getAttribute("aria-label") || n.getAttribute("aria-labelledby") || n.textContent.trim()))
        .map((n) => n.outerHTML.slice(0, 80)),
    );
    assert.deepEqual(unnamed, []);
    await page.focus('[data-example="track"]');
    await page.keyboard.press("Enter");
    await settled();
    assert.match(await page.inputValue("#event"), /"Article Completed"/);
  });

  test("the identify example produces the expected requests, with the mapping", async () => {
    await setSettings();
    await scenario("empty");
    await example("identify");
    assert.deepEqual(await requestLines(), [
      `GET ${ZENDESK}/users/search?query=email%3A%22peter%40example.com%22`,
      `GET ${ZENDESK}/user_fields`,
      `POST ${ZENDESK}/user_fields`,
      `POST ${ZENDESK}/user_fields`,
      `POST ${ZENDESK}/user_fields`,
      `POST ${ZENDESK}/users/create_or_update`,
    ]);
    assert.deepEqual(await outcome(), { status: "delivered", code: "delivered", message: "user 10000000000001 created" });
    // The last card's body, pretty-printed.
    const body = await page.$eval(".request-card:last-child pre.body", (pre) => pre.textContent);
    assert.match(body, /\n {4}"email": "peter@example\.com",\n/);
    const mapping = await page.$$eval(".mapping tbody tr", (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent.trim())));
    assert.deepEqual(mapping[0], ["traits.email", "user.email"]);
    assert.ok(mapping.some(([from, to]) => from === "traits.plan" && to === "user.user_fields.plan"));
    await shot("02-identify");

    // A trait Zendesk reserves is dropped, and the table says why.
    await page.fill("#event", JSON.stringify({ type: "identify", userId: "97980cfea0067", traits: { email: "peter@example.com", name: "Peter", role: "admin" } }, null, 2));
    await settled();
    const dropped = await page.$$eval(".mapping tr.dropped", (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent.trim())));
    assert.equal(dropped.length, 1);
    assert.equal(dropped[0][0], "traits.role");
    assert.equal(dropped[0][1], "dropped");
    assert.match(dropped[0][2], /reserves `role`/);
  });

  test("the track, group, page and unnamed-track examples", async () => {
    await scenario("user");
    await example("track");
    assert.deepEqual(await requestLines(), [`GET ${ZENDESK}/users?external_id=97980cfea0067`, `POST ${ZENDESK}/users/361000000001/events`]);
    await example("page");
    assert.deepEqual(await requestLines(), []);
    assert.equal((await outcome()).code, "unsupported_type");
    await example("track-unnamed");
    assert.deepEqual(await requestLines(), []);
    assert.deepEqual(await outcome(), { status: "invalid", code: "invalid_event", message: "a track call needs an `event` name" });
    await shot("03-track-unnamed");
    await scenario("empty");
  });

  test("an edit with a JSON error shows the error and its position", async () => {
    await page.fill("#event", '{\n  "type": "identify",\n  "userId": "1",\n}');
    await settled();
    assert.equal(await page.isVisible("#event-error"), true);
    const text = await page.textContent("#event-error-text");
    assert.match(text, /^Line 4, column 1: /);
    assert.equal(await page.getAttribute("#event", "aria-invalid"), "true");
    assert.match(await page.textContent("#result-body"), /not valid JSON/);
    await shot("04-json-error");
    // "Go to the error" puts the caret there.
    await page.click("#event-error-goto");
    assert.equal(await page.$eval("#event", (t) => t.selectionStart), '{\n  "type": "identify",\n  "userId": "1",\n'.length);
    // A typo in a value: the message names the problem, without V8's quoted excerpt of the text.
    await page.fill("#event", '{"type": "identify", "traits": {"verified": tru}}');
    await settled();
    const typo = await page.textContent("#event-error-text");
    assert.match(typo, /^Line 1, column 48: Unexpected token [^"]*$/);
    assert.doesNotMatch(typo, /is not valid JSON|position/);
    await example("identify");
    assert.equal(await page.isVisible("#event-error"), false);
  });

  test("several events (NDJSON or an array) show the batch plan: jobs, lookups, each event's outcome", async () => {
    await scenario("empty");
    const events = [
      { type: "identify", userId: "u-1", traits: { name: "Ada", email: "ada@example.com" } },
      { type: "identify", userId: "u-2", traits: { name: "Bob" } },
      { type: "group", userId: "u-1", groupId: "org-1", traits: { name: "Org One" } },
    ];
    await page.fill("#event", events.map((e) => JSON.stringify(e)).join("\n"));
    await settled();
    const rows = await page.$$eval(".batch-events tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent.trim())));
    assert.deepEqual(rows.map((r) => [r[0], r[1], r[2]]), [["0", "identify", "delivered/delivered"], ["1", "identify", "delivered/delivered"], ["2", "group", "delivered/delivered"]]);
    assert.deepEqual(rows.map((r) => r[4]), ["#1", "#1", "#2, #3"]);
    const jobs = await page.$$eval(".batch-jobs li", (items) => items.map((li) => li.textContent.trim()));
    assert.deepEqual(jobs, ["/users/create_or_update_many — events 0, 1", "/organizations/create_many — events 2", "/organization_memberships/create_many — events 2"]);
    const lookups = await page.$$eval(".batch-lookups li", (items) => items.map((li) => li.textContent.trim()));
    assert.ok(lookups.includes("GET /api/v2/users/show_many?external_ids=u-1%2Cu-2"), lookups.join("\n"));
    await shot("04-batch-plan");
    // The same events as a JSON array plan the same.
    await page.fill("#event", JSON.stringify(events));
    await settled();
    assert.equal(await page.$$eval(".batch-events tbody tr", (trs) => trs.length), 3);
    await example("identify");
  });

  test("a settings error shows next to its field", async () => {
    await page.fill("#subdomain", "acme.zendesk.com");
    await settled();
    const error = await page.textContent("#error-subdomain");
    assert.match(error, /includes `\.zendesk\.com`/);
    assert.equal(await page.isVisible("#error-subdomain"), true);
    assert.equal(await page.getAttribute("#subdomain", "aria-invalid"), "true");
    // Next to its field: in the same field group, and named by the input's aria-describedby.
    assert.equal(await page.$eval("#error-subdomain", (e) => e.closest(".field").contains(document.getElementById("subdomain"))), true);
    assert.match(await page.getAttribute("#subdomain", "aria-describedby"), /\berror-subdomain\b/);
    assert.equal(await page.isVisible("#error-email"), false, "other fields stay clean");
    await shot("05-settings-error");
    // The result says so, and leads to the field (at phone width the settings are screens below).
    await page.click("#result-body >> text=Go to the settings");
    assert.equal(await page.evaluate(() => document.activeElement.id), "subdomain");

    await page.fill("#password", "");
    await settled();
    assert.match(await page.textContent("#error-password"), /password must not be empty/);
    await setSettings();
    assert.equal(await page.isVisible("#error-subdomain"), false);
    assert.equal(await page.isVisible("#error-password"), false);
    assert.equal((await requestLines()).length, 6);
  });

  test("the scenarios change the plan", async () => {
    await example("group");
    await scenario("empty");
    // No such user: the organization is still written; the missing membership fails the outcome.
    assert.deepEqual((await requestLines()).filter((l) => !l.includes("organization_fields")), [
      `GET ${ZENDESK}/organizations/search?external_id=908172409`,
      `GET ${ZENDESK}/organizations/search?name=LA%20Lakers`,
      `POST ${ZENDESK}/organizations/create_or_update`,
      `GET ${ZENDESK}/users?external_id=6789`,
    ]);
    assert.equal((await outcome()).code, "user_not_found");

    await scenario("user");
    const withUser = await requestLines();
    assert.deepEqual(withUser.filter((l) => !l.includes("organization_fields")), [
      `GET ${ZENDESK}/organizations/search?external_id=908172409`,
      `GET ${ZENDESK}/organizations/search?name=LA%20Lakers`,
      `POST ${ZENDESK}/organizations/create_or_update`,
      `GET ${ZENDESK}/users?external_id=6789`,
      `POST ${ZENDESK}/organization_memberships`,
    ]);
    assert.match((await outcome()).message, /^organization \d+ created; user 361000000001 added to it$/);

    await scenario("organization");
    assert.match((await outcome()).message, /^organization 362000000001 updated; user 361000000001 already a member$/);
    assert.match(await page.textContent("#scenario-summary"), /organization 362000000001: LA Lakers, external_id 908172409/);
    await shot("06-scenario-organization");

    await example("removal");
    assert.equal((await requestLines()).at(-1), `DELETE ${ZENDESK}/users/361000000001/organizations/6789`);

    await example("identify");
    await scenario("several");
    assert.deepEqual(await requestLines(), [`GET ${ZENDESK}/users/search?query=email%3A%22peter%40example.com%22`]);
    assert.equal((await outcome()).code, "ambiguous_user");
    await scenario("empty");
  });

  test('"Send to simulator" changes the simulator\'s state', async () => {
    await resetSimulator();
    await example("identify");
    await page.click("#send-simulator");
    await page.waitForSelector("#simulator-sent .outcome");
    let state = await simulatorState();
    assert.equal(state.users.length, 1);
    assert.equal(state.users[0].email, "peter@example.com");
    assert.equal(state.users[0].external_id, "97980cfea0067");
    assert.deepEqual(state.userFields.map((f) => f.key).sort(), ["logins", "plan", "user_id"]);
    assert.match(await page.textContent("#simulator-sent .outcome"), /delivered/);
    assert.match(await page.textContent('[data-table="users"] h3'), /Users \(1\)/);
    assert.match(await page.textContent('[data-table="users"] table'), /peter@example\.com/);
    await shot("07-sent-to-simulator");

    // The account carries over: the track example now finds the user.
    await example("track");
    await page.click("#send-simulator");
    await page.waitForFunction(() => /event recorded/.test(document.querySelector("#simulator-sent .outcome")?.textContent ?? ""));
    state = await simulatorState();
    assert.equal(state.events.length, 1);
    assert.equal(state.events[0].type, "Article Completed");
    await page.waitForFunction(() => /Events \(1\)/.test(document.querySelector('[data-table="events"] h3')?.textContent ?? ""));

    // Reset to a scenario seeds the simulator with it.
    await scenario("organization");
    await page.click("#simulator-reset");
    await page.waitForFunction(() => /Organizations \(1\)/.test(document.querySelector('[data-table="organizations"] h3')?.textContent ?? ""));
    state = await simulatorState();
    assert.equal(state.events.length, 0);
    assert.equal(state.organizations.length, 1);
    await scenario("empty");
  });

  test("keyboard only: an example, the announced result, Send to simulator", async () => {
    await resetSimulator();
    await page.focus('[data-example="identify"]');
    await page.keyboard.press("Enter");
    await settled();
    // Screen readers hear the new result (a polite live region).
    assert.equal(await page.getAttribute("#result-status", "aria-live"), "polite");
    assert.match(await page.textContent("#result-status"), /^delivered: user \d+ created\. 6 requests\.$/);
    let reached = false;
    for (let i = 0; i < 30 && !reached; i++) {
      await page.keyboard.press("Tab");
      reached = await page.evaluate(() => document.activeElement?.id === "send-simulator");
    }
    assert.ok(reached, "Tab reaches Send to simulator");
    assert.equal(await page.$eval("#send-simulator", (b) => getComputedStyle(b).outlineStyle), "solid", "the focus is visible");
    await page.keyboard.press("Space");
    await page.waitForSelector("#simulator-sent .outcome");
    assert.equal((await simulatorState()).users.length, 1);
  });

  test("a Send pressed right after an edit sends the edited event", async () => {
    await resetSimulator();
    await example("identify");
    await page.fill("#event", JSON.stringify({ type: "identify", userId: "u-grace", traits: { name: "Grace Hopper", email: "grace@example.com" } }));
    await page.click("#send-simulator"); // within the typing debounce
    await page.waitForFunction(() => /grace%40example\.com/.test(document.querySelector("#simulator-sent")?.textContent ?? ""), null, { timeout: 5000 });
    assert.deepEqual((await simulatorState()).users.map((u) => u.email), ["grace@example.com"]);
    await settled();
  });

  test('"Send to Zendesk" needs an OAuth token and an explicit confirmation', async () => {
    await example("identify");
    assert.equal(await page.isDisabled("#send-zendesk"), true, "disabled with email and API token");
    const sent = [];
    // Stands in for Zendesk: answers from the in-process simulator, with Zendesk's CORS for OAuth.
    await page.route("https://acme.zendesk.com/**", async (route) => {
      const request = route.request();
      const cors = { "access-control-allow-origin": "*", "access-control-allow-headers": "Authorization, Content-Type, Accept", "access-control-allow-methods": "GET, POST, PUT, DELETE" };
      if (request.method() === "OPTIONS") return route.fulfill({ status: 204, headers: cors });
      sent.push(`${request.method()} ${request.url()}`);
      const answer = preview.simulator.handle({ method: request.method(), url: request.url(), headers: await request.allHeaders(), body: request.postData() });
      return route.fulfill({ status: answer.status, headers: { ...answer.headers, ...cors }, body: answer.body });
    });
    await setSettings({ auth: "oauth" });
    assert.equal(await page.isDisabled("#send-zendesk"), false);
    await page.click("#send-zendesk");
    await page.waitForSelector("#confirm-zendesk[open]"); // after the plan for what the form holds now
    assert.match(await page.textContent("#confirm-text"), /https:\/\/acme\.zendesk\.com/);
    await shot("08-confirm-zendesk", { fullPage: false });
    await page.click('#confirm-zendesk button[value="cancel"]');
    assert.equal(await page.isVisible("#confirm-zendesk"), false);
    assert.deepEqual(sent, [], "cancel sends nothing");

    await preview.simulator.reset();
    await page.click("#send-zendesk");
    await page.click("#confirm-send");
    await page.waitForSelector("#zendesk-sent .outcome");
    assert.match(await page.textContent("#zendesk-sent .outcome"), /delivered/);
    assert.equal(sent[0], `GET ${ZENDESK}/users/search?query=email%3A%22peter%40example.com%22`);
    assert.equal(sent.at(-1), `POST ${ZENDESK}/users/create_or_update`);
    assert.equal(preview.simulator.log()[0].authorization, "Bearer …redacted");
    await page.unroute("https://acme.zendesk.com/**");
  });

  test("Authorization never appears unredacted in the DOM", async () => {
    const secrets = [API_TOKEN, BASIC, OAUTH_TOKEN, `Bearer ${OAUTH_TOKEN}`];
    const check = async (label) => {
      // Open every <details> (curl, answers) so nothing is left out, then search the whole document.
      await page.$$eval("details", (all) => all.forEach((d) => (d.open = true)));
      const html = await page.content();
      const text = await page.evaluate(() => document.body.innerText);
      for (const secret of secrets) {
        assert.equal(html.includes(secret), false, `${label}: the page HTML holds a credential`);
        assert.equal(text.includes(secret), false, `${label}: the page text holds a credential`);
      }
      const authorizations = await page.$$eval(".headers dt", (dts) => dts.filter((dt) => dt.textContent.toLowerCase() === "authorization").map((dt) => dt.nextElementSibling.textContent));
      assert.ok(authorizations.length > 0, `${label}: the cards show the Authorization header`);
      for (const value of authorizations) assert.match(value, /^(Basic|Bearer) \[redacted\]$/);
    };
    await setSettings({ auth: "basic" });
    await example("identify");
    assert.match(await page.textContent(".request-card .curl"), /-u "\$ZENDESK_EMAIL\/token:\$ZENDESK_API_TOKEN"/);
    await check("basic");
    // "Copy as curl" puts the command on the clipboard, credentials as shell variables.
    await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(preview.url).origin });
    await page.click(".request-card:last-child >> text=Copy as curl");
    await page.waitForSelector(".request-card:last-child >> text=Copied");
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    assert.match(copied, /^curl -X POST 'https:\/\/acme\.zendesk\.com\/api\/v2\/users\/create_or_update' \\\n {2}-u "\$ZENDESK_EMAIL\/token:\$ZENDESK_API_TOKEN"/);
    assert.match(copied, /--data-raw '\{"user":\{"email":"peter@example\.com"/);
    for (const secret of secrets) assert.equal(copied.includes(secret), false, "the curl command holds a credential");
    await page.click("#send-simulator");
    await page.waitForSelector("#simulator-sent .outcome");
    await check("basic, after sending to the simulator");

    await setSettings({ auth: "oauth" });
    assert.match(await page.textContent(".request-card .curl"), /-H "Authorization: Bearer \$ZENDESK_OAUTH_TOKEN"/);
    await check("oauth");
    for (const m of consoleMessages) for (const secret of secrets) assert.equal(m.text.includes(secret), false, "a credential reached the console");
    await setSettings({ auth: "basic" });
  });

  test("phone width: no horizontal overflow", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await example("group");
    await scenario("user");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.equal(overflow, 0);
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot("09-phone-top", { fullPage: false });
    await page.$eval("#result", (r) => r.scrollIntoView());
    await shot("10-phone-result", { fullPage: false });
    await page.$eval("#simulator", (r) => r.scrollIntoView());
    await shot("11-phone-simulator", { fullPage: false });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test("no console errors along the way", () => {
    const problems = consoleMessages.filter((m) => m.type === "error" || m.type === "pageerror");
    assert.deepEqual(problems, []);
  });
});
