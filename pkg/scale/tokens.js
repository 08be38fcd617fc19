// The OAuth token shared by every instance: one token request at a time across all of them, the new
// pair stored atomically.
//
// A refresh rotates the refresh token (Zendesk invalidates the old pair), so two instances refreshing
// with the same refresh token lock one of them out. Here a token request happens only under a Redis
// lock (SET NX PX); whoever waited for the lock, or finds that the stored access token is no longer the
// one it sent, adopts the stored token instead of asking again. The pair (with when to replace it
// early) is one hash written by one HSET, so no instance reads a new access token with an old refresh
// token. The exchange itself is ../host/oauth.js's TokenRefresher, given the stored refresh token. The
// client-credentials grant goes through the same lock: one token for the fleet rather than one each.
import { randomUUID } from "node:crypto";
import { TokenRefresher } from "../host/oauth.js";

const LOCK_TTL_MS = 30_000; // longer than one token exchange; a holder that died frees it after this
const LOCK_POLL_MS = 100;

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/** TokenRefresher's interface (`prepare`, `authorize`, `refresh`, `refreshes`) with the token in Redis. */
export class SharedTokens {
  /**
   * @param {object} client a connected `redis` client
   * @param {{key: string, credentials: object, grant?: string, fetchOnce: Function, onTokens?: Function, log: Function, now?: Function}} options
   */
  constructor(client, { key, credentials, grant = "refresh_token", fetchOnce, onTokens, log, now = Date.now }) {
    this.host = { grant, fetchOnce, log, now };
    new TokenRefresher(credentials, this.host); // its checks of the credentials, at construction
    this.client = client;
    this.key = key;
    this.grant = grant;
    this.credentials = { ...credentials };
    this.onTokens = onTokens;
    this.log = log;
    this.now = now;
    this.authorization = null; // "Bearer <token>" of the stored pair
    this.refreshAt = null;
    this.refreshes = 0;
    this.inflight = null;
  }

  /** Takes the stored token as this instance's. */
  adopt({ accessToken, refreshAt }) {
    this.authorization = `Bearer ${accessToken}`;
    this.refreshAt = Number.isFinite(refreshAt) ? refreshAt : null;
  }

  /** Before a request: a token when there is none yet (client credentials) or the current one is about to expire. */
  async prepare(request) {
    const due = this.refreshAt !== null && this.now() >= this.refreshAt;
    const missing = this.grant === "client_credentials" && !this.authorization;
    if (!due && !missing) return;
    if (!(await this.refresh(request, this.authorization)) && due) this.refreshAt = null;
  }

  authorize(request) {
    if (!this.authorization) return request;
    const headers = { ...request.headers };
    let replaced = false;
    for (const name of Object.keys(headers)) {
      if (name.toLowerCase() === "authorization" && /^\s*bearer\s/i.test(String(headers[name]))) {
        headers[name] = this.authorization;
        replaced = true;
      }
    }
    return replaced ? { ...request, headers } : request;
  }

  /** After a 401 invalid_token on a request sent with `sentAuthorization`: true when it should be redone. */
  refresh(request, sentAuthorization) {
    if (this.authorization && sentAuthorization !== this.authorization) return Promise.resolve(true);
    this.inflight ??= this.#refresh(request, sentAuthorization).finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  async #stored() {
    const [accessToken, refreshToken, refreshAt] = await this.client.sendCommand(["HMGET", this.key, "accessToken", "refreshToken", "refreshAt"]);
    return { accessToken: accessToken ? String(accessToken) : null, refreshToken: refreshToken ? String(refreshToken) : null, refreshAt: refreshAt ? Number(refreshAt) : null };
  }

  async #refresh(request, sentAuthorization) {
    const owner = randomUUID();
    const lockKey = `${this.key}:lock`;
    try {
      for (;;) {
        const taken = await this.client.sendCommand(["SET", lockKey, owner, "NX", "PX", String(LOCK_TTL_MS)]);
        if (taken === "OK") break;
        await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
      }
      // Whoever held the lock may have got a new token already: then it is ours too.
      const stored = await this.#stored();
      const fresh = stored.refreshAt === null || this.now() < stored.refreshAt;
      if (stored.accessToken && `Bearer ${stored.accessToken}` !== sentAuthorization && fresh) {
        this.adopt(stored);
        this.log({ type: "oauth_refresh", ok: true, shared: true, message: "another instance had a new token; using it" });
        return true;
      }
      let pair = null;
      const exchange = new TokenRefresher(
        { ...this.credentials, ...(this.grant === "refresh_token" && stored.refreshToken ? { refreshToken: stored.refreshToken } : {}) },
        { ...this.host, onTokens: (tokens) => (pair = tokens) },
      );
      if (!(await exchange.refresh(request, null)) || !pair) return false;
      const refreshToken = pair.refreshToken ?? stored.refreshToken ?? "";
      const fields = ["accessToken", pair.accessToken, "refreshToken", refreshToken, "refreshAt", exchange.refreshAt === null ? "" : String(exchange.refreshAt)];
      await this.client.sendCommand(["HSET", this.key, ...fields]);
      this.authorization = exchange.authorization;
      this.refreshAt = exchange.refreshAt;
      this.refreshes++;
      if (this.onTokens) {
        try {
          await this.onTokens(pair);
        } catch (error) {
          this.log({ type: "callback_error", callback: "onTokens", message: String(error?.message ?? error) });
        }
      }
      return true;
    } catch (error) {
      this.log({ type: "oauth_refresh", ok: false, shared: true, message: `the shared token store failed: ${error?.message ?? error}` });
      return false;
    } finally {
      await this.client.sendCommand(["EVAL", RELEASE, "1", lockKey, owner]).catch(() => {});
    }
  }
}
