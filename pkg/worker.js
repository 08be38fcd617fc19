// zendesk-destination/worker: the edge handler as a ready Cloudflare Worker.
//
// The Worker only checks and forwards; one Durable Object per Zendesk account owns delivery. Why: a
// Worker's promises belong to the request that started them, and the runtime freezes or cancels them once
// that request has been answered. The handler shares work across requests (a retry joins a delivery in
// flight, events of one user wait for each other, a 429 paces everyone), so in a plain Worker events end
// stuck or cut short. Inside a Durable Object every request shares the object's lifetime, and its storage
// keeps the messageId window across the object's restarts.
//
// Configuration (wrangler.toml `[vars]` and secrets; see docs/edge.md):
// - ZENDESK_SETTINGS (secret): the destination's settings as JSON;
// - SEGMENT_WRITE_KEYS (secret): the accepted write keys, separated by commas or white space;
// - HANDLER_OPTIONS (optional): JSON options of createHandler (mode, concurrency, dedupe, timeouts,
//   retry, pacing, basePath, cors, …);
// - the Durable Object binding ZENDESK_ACCOUNT, class ZendeskAccount.
import { basicUser, createHandler, DedupeWindow, LIMITS, sameText } from "./edge.js";
import { drainBody } from "./host/body.js";

const SAVED = "messageId:"; // storage key prefix of the de-duplication window

class ConfigError extends Error {}

/** The Worker's configuration from its environment; throws ConfigError with what is wrong. */
export function configFromEnv(env = {}) {
  const problems = [];
  let settings = null;
  if (typeof env.ZENDESK_SETTINGS === "string" && env.ZENDESK_SETTINGS.trim() !== "") {
    try {
      settings = JSON.parse(env.ZENDESK_SETTINGS);
    } catch (error) {
      problems.push(`ZENDESK_SETTINGS is not JSON (${error.message})`);
    }
  } else if (env.ZENDESK_SETTINGS !== null && typeof env.ZENDESK_SETTINGS === "object") {
    settings = env.ZENDESK_SETTINGS; // a JSON [vars] entry arrives parsed
  } else problems.push("ZENDESK_SETTINGS (the destination's settings as JSON) is not set");
  const writeKeys = String(env.SEGMENT_WRITE_KEYS ?? "")
    .split(/[\s,]+/)
    .filter((key) => key !== "");
  if (writeKeys.length === 0) problems.push("SEGMENT_WRITE_KEYS (the accepted write keys) is not set");
  let options = {};
  if (env.HANDLER_OPTIONS !== undefined && env.HANDLER_OPTIONS !== "") {
    try {
      options = typeof env.HANDLER_OPTIONS === "string" ? JSON.parse(env.HANDLER_OPTIONS) : env.HANDLER_OPTIONS;
      if (options === null || typeof options !== "object" || Array.isArray(options)) throw new Error("not an object");
    } catch (error) {
      problems.push(`HANDLER_OPTIONS must be a JSON object (${error.message})`);
    }
  }
  if (settings !== null && (typeof settings !== "object" || Array.isArray(settings))) problems.push("ZENDESK_SETTINGS must be a JSON object");
  if (problems.length) throw new ConfigError(`the Worker is not configured: ${problems.join("; ")}`);
  return { settings, writeKeys, options };
}

/** The Durable Object's name: one object per Zendesk account. */
export function accountName(settings) {
  const base = typeof settings.baseUrl === "string" && settings.baseUrl !== "" ? settings.baseUrl : null;
  return base ?? `https://${String(settings.subdomain ?? "").toLowerCase()}.zendesk.com`;
}

function json(request, status, body, headers = {}) {
  const origin = request.headers.get("origin");
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      "Content-Type": "application/json",
      "Cache-Control": "no-store",
      "Access-Control-Allow-Origin": origin ?? "*",
      "Access-Control-Expose-Headers": "Retry-After",
      ...(origin ? { Vary: "Origin" } : {}),
      ...headers,
    },
  });
}

/** The Durable Object: one per Zendesk account; runs the edge handler and keeps its window in storage. */
export class ZendeskAccount {
  #state;
  #handler = null;
  #problem = null;

  constructor(state, env) {
    this.#state = state;
    // No request is let in before the handler exists and the window is back from storage.
    state.blockConcurrencyWhile(() => this.#start(env));
  }

  async #start(env) {
    let config;
    try {
      config = configFromEnv(env);
    } catch (error) {
      this.#problem = error.message;
      return;
    }
    const storage = this.#state.storage;
    const { dedupe = {}, ...options } = config.options;
    let window = null;
    if (dedupe !== false) {
      window = new DedupeWindow({
        ...dedupe,
        store: {
          // Not awaited: the object's output gate holds every answer until these writes are durable, so a
          // client never hears "delivered" for an event whose messageId could be forgotten.
          put: (id, entry) => storage.put(SAVED + id, entry).catch(() => {}),
          delete: (id) => storage.delete(SAVED + id).catch(() => {}),
        },
      });
      const saved = await storage.list({ prefix: SAVED });
      window.restore([...saved].map(([key, entry]) => [key.slice(SAVED.length), entry]).sort((a, b) => a[1].at - b[1].at));
    }
    this.#handler = createHandler({ ...options, settings: config.settings, writeKeys: config.writeKeys, dedupe: window ?? false });
    await this.#handler.ready.catch(() => {}); // bad settings: each request gets 500 invalid_settings
  }

  fetch(request) {
    if (!this.#handler) return json(request, 500, { success: false, error: "invalid_config", message: this.#problem ?? "the Worker is not configured" });
    return this.#handler(request, { waitUntil: (promise) => this.#state.waitUntil?.(promise) });
  }
}

/** The Worker: answers what needs no account (a wrong key in the header, a bad configuration), forwards the rest. */
export default {
  async fetch(request, env) {
    let config;
    try {
      config = configFromEnv(env);
    } catch (error) {
      return json(request, 500, { success: false, error: "invalid_config", message: error.message });
    }
    if (!env.ZENDESK_ACCOUNT || typeof env.ZENDESK_ACCOUNT.idFromName !== "function") {
      return json(request, 500, { success: false, error: "invalid_config", message: "the Worker is not configured: the Durable Object binding ZENDESK_ACCOUNT (class ZendeskAccount) is missing" });
    }
    // A key in the Authorization header decides (as in the handler): a wrong one never reaches the account.
    // A key in the body (analytics.js) is checked by the handler, which reads the body.
    const authorization = request.headers.get("authorization");
    if (request.method === "POST" && authorization !== null && authorization.trim() !== "") {
      const key = basicUser(authorization);
      let accepted = false;
      for (const candidate of config.writeKeys) accepted = (key !== null && sameText(candidate, key)) || accepted;
      if (!accepted) {
        // Read to its end first (within a bound): answered while the client still sends, workerd may
        // reset the connection under it, and the client never reads the 401.
        await drainBody(request.body, LIMITS.requestBytes);
        return json(request, 401, { success: false, error: "unauthorized", message: "a valid write key is required (HTTP Basic with the write key as user name, or writeKey in the body); nothing was sent" }, { "WWW-Authenticate": 'Basic realm="segment"' });
      }
    }
    const account = env.ZENDESK_ACCOUNT.get(env.ZENDESK_ACCOUNT.idFromName(accountName(config.settings)));
    try {
      return await account.fetch(request);
    } catch (error) {
      // The object restarted (a deploy, a crash) or is overloaded. Events it had finished are remembered in
      // its storage; a retry delivers the others and is answered "duplicate" for the rest.
      return json(request, 503, { success: false, error: "unavailable", message: `the account's delivery object did not answer (${error?.message ?? String(error)}); retry` }, { "Retry-After": "1" });
    }
  },
};
