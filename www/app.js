// The preview page: settings and an event in, the engine's plan out (against an in-memory simulator),
// and, on request only, delivery to the local simulator or to Zendesk. No framework: a few DOM helpers.
//
// Credentials live in the form's password inputs and in the settings object passed to the engine. They
// are never stored, logged or written into the DOM: requests shown are redacted (the host's plan() does
// it, and render() does it again), curl commands read shell variables instead.
import { createDestination } from "../pkg/index.js";
import { loadEngine } from "../pkg/engine.js";
import { authKind, EXAMPLES, parseJson, prettyJson, redactAuthorization, SCENARIOS, scenarioSeed, toCurl } from "./preview-lib.js";

const $ = (id) => document.getElementById(id);

/** el("p", {class: "x"}, "text", child…): text children are text nodes, never HTML. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const form = $("settings");
const editor = $("event");
const resultBody = $("result-body");

const state = {
  engine: null,
  config: null, // {simulatorUrl, zendeskUrl} when served by `npm start`
  scenario: "empty",
  settings: null,
  settingsValid: false,
  event: null, // {text, value} when the editor holds valid JSON
  plan: null,
  destination: null, // {key, promise}
  sequence: 0,
};

// ---------------------------------------------------------------- settings

function readSettings() {
  const auth = form.elements.auth.value;
  const settings = { subdomain: form.elements.subdomain.value };
  if (auth === "oauth") {
    settings.oauthToken = form.elements.oauthToken.value;
  } else {
    settings.email = form.elements.email.value;
    settings.password = form.elements.password.value;
  }
  settings.events = form.elements.events.value
    .split("\n")
    .map((name) => name.trim())
    .filter(Boolean);
  settings.verified = form.elements.verified.checked;
  settings.removeUsersFromOrganizations = form.elements.removeUsersFromOrganizations.checked;
  settings.allowGroupWithoutUserId = form.elements.allowGroupWithoutUserId.checked;
  return settings;
}

function showAuthFields() {
  const oauth = form.elements.auth.value === "oauth";
  form.querySelector(".auth-basic").hidden = oauth;
  form.querySelector(".auth-oauth").hidden = !oauth;
}

/** The engine's own errors, each next to its field; errors without a visible field go on top. */
function showSettingsErrors(errors) {
  for (const node of form.querySelectorAll(".field-error")) {
    node.hidden = true;
    node.textContent = "";
  }
  for (const input of form.querySelectorAll("[data-key]")) input.removeAttribute("aria-invalid");
  const general = [];
  for (const error of errors) {
    const target = $(`error-${error.key}`);
    const input = form.querySelector(`[data-key="${CSS.escape(error.key)}"]`);
    if (target && input && !input.closest("[hidden]")) {
      target.hidden = false;
      target.append(target.textContent ? el("br") : "", error.message);
      input.setAttribute("aria-invalid", "true");
    } else {
      general.push(error.key ? `${error.key}: ${error.message}` : error.message);
    }
  }
  const box = $("error-general");
  box.hidden = general.length === 0;
  box.textContent = general.join(" · ");
}

/** One ZendeskDestination per distinct settings value; the previous one is closed. */
function destinationFor(settings) {
  const key = JSON.stringify(settings);
  if (state.destination?.key === key) return state.destination.promise;
  const previous = state.destination;
  const promise = createDestination(settings, { engine: state.engine });
  state.destination = { key, promise };
  previous?.promise.then((d) => d.close({ timeoutMs: 0 })).catch(() => {});
  return promise;
}

// ---------------------------------------------------------------- event editor

function showJsonError(error) {
  const box = $("event-error");
  if (!error) {
    box.hidden = true;
    editor.removeAttribute("aria-invalid");
    return;
  }
  box.hidden = false;
  editor.setAttribute("aria-invalid", "true");
  $("event-error-text").textContent = `Line ${error.line}, column ${error.column}: ${error.message}`;
  box.dataset.offset = String(error.offset);
}

$("event-error-goto").addEventListener("click", () => {
  const offset = Number($("event-error").dataset.offset ?? 0);
  editor.focus();
  editor.setSelectionRange(offset, Math.min(offset + 1, editor.value.length));
});

function exampleButtons() {
  const holder = $("example-buttons");
  for (const example of EXAMPLES) {
    holder.append(
      el(
        "button",
        {
          type: "button",
          class: "chip",
          "data-example": example.id,
          "aria-pressed": "false",
          onclick: (click) => {
            editor.value = JSON.stringify(example.event, null, 2);
            // Mark the example in use; typing in the editor afterwards keeps the mark until another is picked.
            for (const button of holder.querySelectorAll("[data-example]")) button.setAttribute("aria-pressed", "false");
            click.currentTarget.setAttribute("aria-pressed", "true");
            update();
          },
        },
        example.label,
      ),
    );
  }
}

function scenarioChoices() {
  const holder = $("scenario-choices");
  for (const scenario of SCENARIOS) {
    holder.append(
      el(
        "label",
        { title: scenario.hint },
        el("input", {
          type: "radio",
          name: "scenario",
          value: scenario.id,
          checked: scenario.id === state.scenario,
          onchange: () => {
            state.scenario = scenario.id;
            update();
          },
        }),
        " ",
        scenario.label,
      ),
    );
  }
}

// ---------------------------------------------------------------- the plan

let timer = null;
function scheduleUpdate() {
  document.body.dataset.busy = "true"; // the tests wait for this to go away
  clearTimeout(timer);
  timer = setTimeout(update, 120);
}

async function update() {
  clearTimeout(timer);
  timer = null;
  if (!state.engine) return;
  const sequence = ++state.sequence;
  document.body.dataset.busy = "true";
  showAuthFields();

  const settings = readSettings();
  const errors = state.engine.validateSettings(settings);
  showSettingsErrors(errors);
  state.settings = settings;
  state.settingsValid = errors.length === 0;

  const text = editor.value;
  const scenario = SCENARIOS.find((s) => s.id === state.scenario);
  if (text.trim() === "") {
    state.event = null;
    showJsonError(null);
    $("scenario-summary").textContent = scenario.hint;
    return finish(sequence, () => renderEmpty());
  }
  const parsed = parseJson(text);
  const batch = batchOf(text, parsed);
  if (batch) return planBatch(sequence, text, batch, errors);
  if (!parsed.ok) {
    state.event = null;
    showJsonError(parsed);
    return finish(sequence, () => renderNotice("The event is not valid JSON", `Line ${parsed.line}, column ${parsed.column}: ${parsed.message}. Fix it in the editor to see the requests.`, "error"));
  }
  showJsonError(null);
  state.event = { text, value: parsed.value };

  let seeded = { seed: null, summary: [] };
  try {
    seeded = scenarioSeed(state.scenario, parsed.value);
  } catch {
    // an event shape the seeding does not understand: plan against the empty account
  }
  $("scenario-summary").textContent = seeded.summary.length ? `Seeded: ${seeded.summary.join("; ")}.` : scenario.hint;

  if (!state.settingsValid) {
    return finish(sequence, () =>
      renderNotice("Fix the settings to see the requests", errors.map((e) => e.message).join(" · "), "error", {
        label: "Go to the settings",
        onclick: focusFirstSettingsError,
      }),
    );
  }
  try {
    const destination = await destinationFor(settings);
    let plan;
    try {
      plan = await destination.plan(text, { account: seeded.seed ?? undefined });
    } catch (error) {
      if (!seeded.seed) throw error;
      plan = await destination.plan(text); // the seed did not fit (e.g. an invalid email): empty account
      plan.note = `The scenario could not be seeded (${error.message}); this is the empty account's plan.`;
    }
    finish(sequence, () => renderPlan(plan));
  } catch (error) {
    finish(sequence, () => renderNotice("The preview failed", String(error?.message ?? error), "error"));
  }
}

/** Several events: a JSON array of two or more, or NDJSON (one event per line). Else null. */
function batchOf(text, parsed) {
  if (parsed.ok) return Array.isArray(parsed.value) && parsed.value.length > 1 ? parsed.value : null;
  const lines = text.split("\n").filter((line) => line.trim() !== "");
  if (lines.length < 2) return null;
  const values = [];
  for (const line of lines) {
    const one = parseJson(line);
    if (!one.ok) return null;
    values.push(one.value);
  }
  return values;
}

/** The batch plan: the events planned together as `deliverAll` sends them (scenario seeded from each). */
async function planBatch(sequence, text, events, errors) {
  showJsonError(null);
  state.event = { text, value: events, batch: true };
  const scenario = SCENARIOS.find((s) => s.id === state.scenario);
  const seed = { users: [], organizations: [], memberships: [] };
  const summary = new Set();
  for (const event of events) {
    try {
      const one = scenarioSeed(state.scenario, event);
      for (const key of Object.keys(seed)) for (const record of one.seed?.[key] ?? []) if (!seed[key].some((r) => r.id === record.id)) seed[key].push(record);
      for (const line of one.summary) summary.add(line);
    } catch {
      // an event the seeding does not understand adds nothing
    }
  }
  $("scenario-summary").textContent = summary.size ? `Seeded: ${[...summary].join("; ")}.` : scenario.hint;
  if (!state.settingsValid) {
    return finish(sequence, () =>
      renderNotice("Fix the settings to see the requests", errors.map((e) => e.message).join(" · "), "error", { label: "Go to the settings", onclick: focusFirstSettingsError }),
    );
  }
  try {
    const destination = await destinationFor(state.settings);
    const seeded = summary.size ? seed : undefined;
    let plan;
    try {
      plan = await destination.planBatch(events, { account: seeded });
    } catch (error) {
      if (!seeded) throw error;
      plan = await destination.planBatch(events);
      plan.note = `The scenario could not be seeded (${error.message}); this is the empty account's plan.`;
    }
    finish(sequence, () => renderBatchPlan(plan, events));
  } catch (error) {
    finish(sequence, () => renderNotice("The preview failed", String(error?.message ?? error), "error"));
  }
}

/**
 * Runs a pending (debounced) update at once: a Send pressed right after typing must act on what the
 * editor and the form hold now, not on the last plan.
 */
async function flushUpdate() {
  if (timer !== null) await update();
}

/** Renders only when no newer update started meanwhile (typing outruns the async plan). */
function finish(sequence, render) {
  if (sequence !== state.sequence) return;
  render();
  updateActions();
  document.body.dataset.ready = "true";
  document.body.dataset.updates = String(sequence);
  delete document.body.dataset.busy;
}

function announce(text) {
  $("result-status").textContent = text;
}

function renderEmpty() {
  state.plan = null;
  announce("No event yet.");
  resultBody.replaceChildren(
    el(
      "div",
      { class: "empty" },
      el("p", { class: "empty-title" }, "No event yet"),
      el("p", {}, "Pick an example above, or paste a Segment event as JSON (identify, track or group)."),
      el("p", { class: "muted" }, "You will see the outcome, each request as a card, and which trait landed in which Zendesk attribute. Nothing is sent."),
    ),
  );
}

function renderNotice(title, text, kind, action) {
  state.plan = null;
  announce(title);
  resultBody.replaceChildren(
    el(
      "div",
      { class: `notice ${kind}`, role: kind === "error" ? "status" : null },
      el("p", { class: "notice-title" }, title),
      el("p", {}, text),
      action ? el("button", { type: "button", class: "link", onclick: action.onclick }, action.label) : null,
    ),
  );
}

/** At phone width the settings are below the result: this brings the first faulty field into view. */
function focusFirstSettingsError() {
  const target = form.querySelector('[aria-invalid="true"]') ?? (!$("error-general").hidden ? $("error-general") : form.elements.subdomain);
  target.scrollIntoView({ block: "center" });
  if (target.matches("input, textarea")) target.focus();
}

function outcomeCard(outcome, heading = "Outcome") {
  const warnings = outcome.warnings ?? [];
  return el(
    "article",
    { class: `outcome status-${outcome.status}`, "aria-label": heading },
    el("h3", {}, heading, " ", el("span", { class: `badge status-${outcome.status}` }, outcome.status)),
    el("p", { class: "outcome-message" }, outcome.message),
    el("p", { class: "muted" }, "code ", el("code", {}, outcome.code), outcome.retryable ? " · retryable" : " · not retryable"),
    warnings.length ? el("ul", { class: "warnings", "aria-label": "Warnings" }, warnings.map((w) => el("li", {}, w))) : null,
  );
}

/** Long dotted names break after dots and underscores, not in the middle of a word. */
function breakable(name) {
  return String(name)
    .split(/(?<=[._])/)
    .flatMap((part, i) => (i ? [el("wbr"), part] : [part]));
}

function mappingTable(mapping) {
  if (!mapping?.length) return null;
  const notes = mapping.some((m) => m.note || !m.to);
  return el(
    "div",
    { class: "mapping" },
    el("h3", {}, "Where each field went"),
    el(
      "div",
      // A named, focusable region: at phone width the table scrolls sideways, also by keyboard.
      { class: "scroll", role: "region", "aria-label": "Where each field went", tabindex: "0" },
      el(
        "table",
        {},
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Segment"), el("th", { scope: "col" }, "Zendesk"), notes ? el("th", { scope: "col" }, "Why") : null)),
        el(
          "tbody",
          {},
          mapping.map((m) =>
            el(
              "tr",
              { class: m.to ? "kept" : "dropped" },
              el("td", {}, el("code", {}, breakable(m.from))),
              el("td", {}, m.to ? el("code", {}, breakable(m.to)) : el("span", { class: "dropped-label" }, "dropped")),
              notes ? el("td", {}, m.note ?? "") : null,
            ),
          ),
        ),
      ),
    ),
  );
}

function headerList(headers) {
  return el(
    "dl",
    { class: "headers" },
    Object.entries(headers ?? {}).map(([name, value]) => [
      el("dt", {}, name),
      el("dd", {}, name.toLowerCase() === "authorization" ? redactAuthorization(value) : String(value)),
    ]),
  );
}

function requestCard({ request, response }, index) {
  const curl = toCurl(request, authKind(state.settings));
  const curlBlock = el("pre", { class: "curl" }, el("code", {}, curl));
  const curlDetails = el("details", { class: "curl-details" }, el("summary", {}, "Show as curl"), curlBlock);
  const copy = el(
    "button",
    {
      type: "button",
      class: "secondary small",
      onclick: async (event) => {
        const button = event.currentTarget;
        try {
          await navigator.clipboard.writeText(curl);
          button.textContent = "Copied";
          announce(`Request ${index + 1} copied as curl.`);
        } catch {
          // no clipboard permission: show it, selected, for a manual copy
          curlDetails.open = true;
          getSelection().selectAllChildren(curlBlock);
          button.textContent = "Selected: copy it";
        }
        setTimeout(() => (button.textContent = "Copy as curl"), 2000);
      },
    },
    "Copy as curl",
  );
  const status = response?.status;
  return el(
    "li",
    { class: "request-card" },
    el(
      "p",
      { class: "req-line" },
      el("span", { class: `method method-${request.method.toLowerCase()}` }, request.method),
      " ",
      el("span", { class: "url" }, request.url),
    ),
    headerList(request.headers),
    request.body ? el("pre", { class: "body", "aria-label": `Request ${index + 1} body` }, el("code", {}, prettyJson(request.body))) : el("p", { class: "muted" }, "No body."),
    el(
      "details",
      { class: "response" },
      el("summary", {}, "Simulated answer ", el("span", { class: `badge http-${String(status)[0]}xx` }, String(status))),
      response?.body ? el("pre", { class: "body" }, el("code", {}, prettyJson(response.body))) : el("p", { class: "muted" }, "Empty body."),
    ),
    el("div", { class: "row" }, copy),
    curlDetails,
  );
}

function renderPlan(plan) {
  state.plan = plan;
  const requests = plan.requests ?? [];
  announce(`${plan.outcome.status}: ${plan.outcome.message}. ${requests.length === 1 ? "1 request" : `${requests.length} requests`}.`);
  const parts = [
    plan.note ? el("p", { class: "notice warn" }, plan.note) : null,
    outcomeCard(plan.outcome),
    mappingTable(plan.outcome.mapping),
    el("h3", {}, requests.length === 1 ? "1 request" : `${requests.length} requests`),
    requests.length
      ? el("ol", { class: "requests" }, requests.map(requestCard))
      : el("p", { class: "muted" }, "No request: Zendesk would not be called for this event."),
  ];
  resultBody.replaceChildren(...parts.filter(Boolean));
}

function renderBatchPlan(plan, events) {
  state.plan = plan;
  const { outcomes, requests, jobs } = plan;
  const jobsOf = (index) => jobs.map((job, n) => (job.events.includes(index) ? n + 1 : null)).filter(Boolean);
  const lookups = requests.filter(({ request }) => request.method === "GET" && !new URL(request.url).pathname.includes("/job_statuses"));
  const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  announce(`Batch of ${events.length} events: ${count(jobs.length, "job", "jobs")}, ${count(requests.length, "request", "requests")}.`);
  const cell = (text, props = {}) => el("td", props, text);
  const parts = [
    plan.note ? el("p", { class: "notice warn" }, plan.note) : null,
    el("p", { class: "notice" }, el("p", { class: "notice-title" }, `A batch of ${events.length} events`), el("p", {}, `Planned together, as deliverAll and send deliver them: ${count(jobs.length, "background job", "background jobs")}, ${count(lookups.length, "lookup", "lookups")}, ${count(requests.length, "request", "requests")} in all.`)),
    el("h3", {}, "Each event's predicted outcome"),
    el(
      "div",
      { class: "scroll", tabindex: "0", role: "region", "aria-label": "Each event's predicted outcome" },
      el(
        "table",
        { class: "batch-events" },
        el("thead", {}, el("tr", {}, el("th", {}, "#"), el("th", {}, "type"), el("th", {}, "outcome"), el("th", {}, "message"), el("th", {}, "job"))),
        el(
          "tbody",
          {},
          outcomes.map((outcome, index) =>
            el(
              "tr",
              {},
              cell(String(index)),
              cell(typeof events[index]?.type === "string" ? events[index].type : "?"),
              cell(el("span", { class: `badge status-${outcome.status}` }, `${outcome.status}/${outcome.code}`)),
              cell(outcome.message),
              cell(jobsOf(index).map((n) => `#${n}`).join(", ") || "—"),
            ),
          ),
        ),
      ),
    ),
    el("h3", {}, count(jobs.length, "background job", "background jobs")),
    jobs.length
      ? el("ol", { class: "batch-jobs" }, jobs.map((job) => el("li", {}, el("code", {}, job.path), ` — events ${job.events.join(", ")}`)))
      : el("p", { class: "muted" }, "No background job: nothing here is written in bulk."),
    el("h3", {}, count(lookups.length, "lookup", "lookups")),
    lookups.length
      ? el("ul", { class: "batch-lookups" }, lookups.map(({ request }) => { const url = new URL(request.url); return el("li", {}, el("code", {}, `GET ${url.pathname}${url.search}`)); }))
      : el("p", { class: "muted" }, "No lookup: the account's ids are known."),
    el("h3", {}, count(requests.length, "request", "requests")),
    requests.length ? el("ol", { class: "requests" }, requests.map(requestCard)) : null,
  ];
  resultBody.replaceChildren(...parts.filter(Boolean));
}

// ---------------------------------------------------------------- sending

function updateActions() {
  const ready = Boolean(state.event && state.settingsValid);
  $("actions").hidden = !state.event;
  const toSimulator = $("send-simulator");
  toSimulator.hidden = !state.config;
  toSimulator.disabled = !ready;
  const oauth = state.settings && authKind(state.settings) === "oauth";
  const toZendesk = $("send-zendesk");
  toZendesk.disabled = !(ready && oauth);
  $("send-zendesk-hint").textContent = !oauth
    ? "Sending to Zendesk from a browser needs an OAuth access token (Zendesk allows browser calls only with OAuth)."
    : ready
      ? "Sends to your Zendesk account with your OAuth token, after a confirmation."
      : "Fix the settings first; then this sends to your Zendesk account with your OAuth token, after a confirmation.";
}

async function fetchJson(path, init) {
  const response = await fetch(path, { cache: "no-store", ...init });
  const text = await response.text();
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${text.slice(0, 200)}`);
  return JSON.parse(text);
}

async function deliver(settings, text) {
  const destination = await createDestination(settings, { engine: state.engine, timeoutMs: 15_000 });
  try {
    if (state.event?.batch) {
      // A batch: one outcome card summing up every event's outcome.
      const outcomes = await destination.deliverAll(state.event.value);
      const worst = outcomes.find((o) => o.status === "failed") ?? outcomes.find((o) => o.status === "invalid") ?? outcomes[0];
      const message = outcomes.map((o, i) => `#${i} ${o.status}/${o.code}: ${o.message}`).join(" · ");
      return { ...worst, message, warnings: outcomes.flatMap((o) => o.warnings ?? []), mapping: [] };
    }
    return await destination.deliver(text);
  } finally {
    await destination.close();
  }
}

async function sendToSimulator() {
  const button = $("send-simulator");
  const out = $("simulator-sent");
  button.disabled = true;
  await flushUpdate();
  if (!state.event || !state.settingsValid) return updateActions(); // what was typed last is not sendable
  button.disabled = true;
  out.replaceChildren(el("p", { class: "muted" }, "Sending to the simulator…"));
  try {
    const before = (await fetchJson("/__simulator/log")).length;
    // Same origin: this server forwards /api/v2 to the simulator (see scripts/start.mjs), so Basic
    // credentials work from the browser too.
    const settings = { ...state.settings, baseUrl: state.config.zendeskUrl ?? location.origin };
    const outcome = await deliver(settings, state.event.text);
    const received = (await fetchJson("/__simulator/log")).slice(before);
    out.replaceChildren(
      outcomeCard(outcome, "Sent to the simulator"),
      el("h3", {}, `The simulator received ${received.length === 1 ? "1 request" : `${received.length} requests`}`),
      el(
        "ol",
        { class: "received" },
        received.map((r) => el("li", {}, el("code", {}, `${r.method} ${r.path}${Object.keys(r.query ?? {}).length ? `?${new URLSearchParams(r.query)}` : ""}`), " → ", el("span", { class: `badge http-${String(r.status)[0]}xx` }, String(r.status)))),
      ),
    );
    await refreshSimulator();
    $("simulator").scrollIntoView({ block: "start" });
  } catch (error) {
    out.replaceChildren(el("p", { class: "notice error" }, `Could not send to the simulator: ${error.message}`));
  } finally {
    updateActions();
  }
}

function stateTable(title, rows, columns) {
  return el(
    "section",
    { class: "state-table", "data-table": title.toLowerCase().replace(/\W+/g, "-") },
    el("h3", {}, `${title} (${rows.length})`),
    rows.length
      ? el(
          "div",
          { class: "scroll", role: "region", "aria-label": `Simulator ${title.toLowerCase()}`, tabindex: "0" },
          el(
            "table",
            {},
            el("thead", {}, el("tr", {}, columns.map(([label]) => el("th", { scope: "col" }, label)))),
            el("tbody", {}, rows.map((row) => el("tr", {}, columns.map(([, value]) => el("td", {}, value(row) ?? ""))))),
          ),
        )
      : el("p", { class: "muted" }, "None."),
  );
}

const compact = (value) => (value && typeof value === "object" && Object.keys(value).length ? JSON.stringify(value) : "");

async function refreshSimulator() {
  const holder = $("simulator-state");
  try {
    const s = await fetchJson("/__simulator/state");
    const fields = [...s.userFields.map((f) => ({ ...f, kind: "user" })), ...s.organizationFields.map((f) => ({ ...f, kind: "organization" }))];
    holder.replaceChildren(
      stateTable("Users", s.users, [
        ["id", (u) => u.id],
        ["name", (u) => u.name],
        ["email", (u) => u.email],
        ["external_id", (u) => u.external_id],
        ["organization", (u) => u.organization_id],
        ["user_fields", (u) => compact(u.user_fields)],
      ]),
      stateTable("Organizations", s.organizations, [
        ["id", (o) => o.id],
        ["name", (o) => o.name],
        ["external_id", (o) => o.external_id],
        ["organization_fields", (o) => compact(o.organization_fields)],
      ]),
      stateTable("Memberships", s.memberships, [
        ["id", (m) => m.id],
        ["user", (m) => m.user_id],
        ["organization", (m) => m.organization_id],
      ]),
      stateTable("Fields", fields, [
        ["on", (f) => f.kind],
        ["key", (f) => f.key],
        ["type", (f) => f.type],
        ["title", (f) => f.title],
      ]),
      stateTable("Events", s.events, [
        ["user", (e) => e.user_id],
        ["type", (e) => e.type],
        ["source", (e) => e.source],
        ["properties", (e) => compact(e.properties)],
      ]),
    );
  } catch (error) {
    holder.replaceChildren(el("p", { class: "notice error" }, `Could not read the simulator: ${error.message}`));
  }
}

async function resetSimulator() {
  const out = $("simulator-sent");
  await flushUpdate();
  try {
    await fetchJson("/__simulator/reset", { method: "POST" });
    const { seed } = state.event ? scenarioSeed(state.scenario, state.event.value) : { seed: null };
    if (seed) await fetchJson("/__simulator/seed", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(seed) });
    const label = SCENARIOS.find((s) => s.id === state.scenario).label.toLowerCase();
    out.replaceChildren(el("p", { class: "muted" }, seed ? `Reset, then seeded as “${label}”.` : "Reset to an empty account."));
  } catch (error) {
    out.replaceChildren(el("p", { class: "notice error" }, `Could not reset the simulator: ${error.message}`));
  }
  await refreshSimulator();
}

async function confirmZendesk() {
  await flushUpdate();
  if (!state.event || !state.settingsValid || authKind(state.settings) !== "oauth") return;
  const dialog = $("confirm-zendesk");
  const host = `${state.settings.subdomain.trim().toLowerCase()}.zendesk.com`;
  const count = state.plan?.requests?.length ?? 0;
  $("confirm-text").textContent =
    `This sends the event to https://${host} with your OAuth token. Against the selected scenario's account the preview made ` +
    `${count === 1 ? "1 request" : `${count} requests`}; your real account may need different ones. ` +
    "Writes to Zendesk cannot be undone from here.";
  $("confirm-send").textContent = `Send to ${host}`;
  dialog.returnValue = "";
  dialog.showModal();
}

$("confirm-zendesk").addEventListener("close", async () => {
  const dialog = $("confirm-zendesk");
  if (dialog.returnValue !== "send" || !state.event || !state.settingsValid) return;
  const section = $("zendesk");
  const out = $("zendesk-sent");
  section.hidden = false;
  out.replaceChildren(el("p", { class: "muted" }, "Sending to Zendesk…"));
  try {
    const outcome = await deliver(state.settings, state.event.text);
    out.replaceChildren(outcomeCard(outcome, "Sent to Zendesk"));
  } catch (error) {
    out.replaceChildren(el("p", { class: "notice error" }, `Could not send: ${error.message}`));
  }
});

// ---------------------------------------------------------------- start

async function start() {
  exampleButtons();
  scenarioChoices();
  form.addEventListener("input", scheduleUpdate);
  form.addEventListener("change", scheduleUpdate);
  form.addEventListener("submit", (event) => event.preventDefault());
  editor.addEventListener("input", scheduleUpdate);
  $("send-simulator").addEventListener("click", sendToSimulator);
  $("send-zendesk").addEventListener("click", confirmZendesk);
  $("simulator-refresh").addEventListener("click", refreshSimulator);
  $("simulator-reset").addEventListener("click", resetSimulator);

  const [engine, config] = await Promise.all([
    loadEngine(),
    // Present only when the page is served by `npm start`; a plain static server answers 404.
    fetch("config.json", { cache: "no-store" })
      .then((r) => (r.ok ? r.json() : null))
      .catch(() => null),
  ]);
  state.engine = engine;
  state.config = config;
  if (config) {
    $("simulator").hidden = false;
    const link = $("simulator-link");
    link.href = `${config.simulatorUrl}/__simulator/state`;
    link.textContent = config.simulatorUrl;
    refreshSimulator();
  }
  await update();
}

start().catch((error) => {
  resultBody.replaceChildren(el("div", { class: "notice error", role: "alert" }, el("p", { class: "notice-title" }, "The engine did not load"), el("p", {}, String(error?.message ?? error))));
});
