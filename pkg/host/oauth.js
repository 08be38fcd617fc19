// OAuth access tokens expire (30 minutes for new clients). The host gets new ones at
// `POST https://{subdomain}.zendesk.com/oauth/tokens` with one of two grants:
// - `refresh_token` (`oauthRefresh: {refreshToken, clientId, clientSecret}`): trades the refresh token
//   for a new pair; the old pair stops working, so the new refresh token goes to `onTokens` to be stored.
// - `client_credentials` (`oauthClient: {clientId, clientSecret, scope}`): a confidential client asks
//   for a token with its own credentials; nothing rotates, so a fleet of servers shares one client
//   without sharing (and racing over) a refresh token. The first request waits for the first token.
// Either way a 401 `invalid_token` triggers one new token and the request is redone. Zendesk answers
// 201 and leaves `expires_in` out unless the request asks for it, so the request asks (`expires_in`,
// default 1800 s, Zendesk's lifetime for new clients); when the lifetime is known, a new token is
// fetched a minute before it ends instead of after a failed request.
//
// The engine's request descriptors carry the token from the settings; the host replaces the
// `Authorization: Bearer …` header of every later request with the current token (it keeps one engine
// Destination, whose caches stay warm, rather than building a new one). Concurrent needs share one
// token request.

/** Seconds of access-token lifetime asked for (Zendesk's default for new OAuth clients). */
export const REQUESTED_LIFETIME_SECONDS = 1800;
/** A new token is fetched this long before the current one expires. */
const EARLY_MS = 60_000;

/** Settings' `oauthToken` stand-in with `oauthClient` and no token of one's own: replaced before any request. */
export const CLIENT_CREDENTIALS_PENDING = "pending-client-credentials-token";

/** True for a 401 whose body says `invalid_token` (JSON `{"error":"invalid_token"}` or plain text). */
export function isInvalidToken(answer) {
  if (answer.status !== 401 || typeof answer.body !== "string") return false;
  try {
    const body = JSON.parse(answer.body);
    if (body && typeof body === "object") return body.error === "invalid_token";
  } catch {
    // not JSON: look at the text
  }
  return answer.body.includes("invalid_token");
}

/** `https://acme.zendesk.com/api/v2/users/1` → `https://acme.zendesk.com/oauth/tokens` (keeps a baseUrl's path). */
export function tokenUrl(requestUrl) {
  const url = new URL(requestUrl);
  const at = url.pathname.indexOf("/api/v2/");
  const prefix = at >= 0 ? url.pathname.slice(0, at) : "";
  return `${url.origin}${prefix}/oauth/tokens`;
}

const nonEmpty = (value) => typeof value === "string" && value !== "";

export class TokenRefresher {
  /**
   * @param {{refreshToken?: string, clientId: string, clientSecret: string, scope?: string}} credentials
   * @param {{grant?: "refresh_token" | "client_credentials", fetchOnce: Function, onTokens?: Function, log: Function, now?: () => number}} host
   */
  constructor(credentials, { grant = "refresh_token", fetchOnce, onTokens, log, now = Date.now }) {
    const option = grant === "client_credentials" ? "oauthClient" : "oauthRefresh";
    const required = grant === "client_credentials" ? ["clientId", "clientSecret"] : ["refreshToken", "clientId", "clientSecret"];
    for (const key of required) {
      if (!nonEmpty(credentials?.[key])) throw new TypeError(`${option}.${key} must be a non-empty string`);
    }
    if (credentials.scope !== undefined && !nonEmpty(credentials.scope)) throw new TypeError(`${option}.scope must be a non-empty string`);
    this.grant = grant;
    this.credentials = { ...credentials };
    this.fetchOnce = fetchOnce;
    this.onTokens = onTokens;
    this.log = log;
    this.now = now;
    this.authorization = null; // "Bearer <current token>" once one was issued here
    this.refreshAt = null; // when to replace the current token early (Zendesk said when it ends)
    this.inflight = null;
    this.refreshes = 0;
  }

  /**
   * Before a request: gets a token when there is none yet (client credentials) or when the current one
   * is about to expire. Resolves either way: a failed token request leaves the request to meet its 401.
   */
  async prepare(request) {
    const due = this.refreshAt !== null && this.now() >= this.refreshAt;
    const missing = this.grant === "client_credentials" && !this.authorization;
    if (!due && !missing) return;
    const sent = this.authorization;
    // A failed early refresh is not tried again before every request: the 401 path takes over.
    if (!(await this.refresh(request, sent)) && due) this.refreshAt = null;
  }

  /** The request with the current token, when one was issued here. */
  authorize(request) {
    if (!this.authorization) return request;
    const headers = { ...request.headers };
    let replaced = false;
    for (const key of Object.keys(headers)) {
      if (key.toLowerCase() === "authorization" && /^\s*bearer\s/i.test(String(headers[key]))) {
        headers[key] = this.authorization;
        replaced = true;
      }
    }
    return replaced ? { ...request, headers } : request;
  }

  /**
   * After a 401 invalid_token on a request sent with `sentAuthorization` (or before a request, from
   * prepare): true when the request should be (re)done with a new token (issued now, or already by a
   * concurrent request), false when getting one failed.
   */
  async refresh(request, sentAuthorization) {
    if (this.authorization && sentAuthorization !== this.authorization) return true; // someone refreshed meanwhile
    this.inflight ??= this.#refresh(request).finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  async #refresh(request) {
    const { clientId, clientSecret, refreshToken, scope, expiresIn = REQUESTED_LIFETIME_SECONDS } = this.credentials;
    const body =
      this.grant === "client_credentials"
        ? { grant_type: "client_credentials", client_id: clientId, client_secret: clientSecret, scope: scope ?? "read write", expires_in: expiresIn }
        : { grant_type: "refresh_token", refresh_token: refreshToken, client_id: clientId, client_secret: clientSecret, expires_in: expiresIn };
    const asked = this.now();
    const answer = await this.fetchOnce({
      method: "POST",
      url: tokenUrl(request.url),
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    let tokens = null;
    // 200 or 201: Zendesk's token endpoint answers 201 Created.
    if (answer.status >= 200 && answer.status < 300) {
      try {
        const parsed = JSON.parse(answer.body);
        if (nonEmpty(parsed?.access_token)) tokens = parsed;
      } catch {
        // unreadable answer: the refresh failed
      }
    }
    if (!tokens) {
      this.log({ type: "oauth_refresh", ok: false, grant: this.grant, status: answer.status, error: answer.error });
      return false;
    }
    this.refreshes++;
    this.authorization = `Bearer ${tokens.access_token}`;
    const expiresInSeconds = typeof tokens.expires_in === "number" && tokens.expires_in > 0 ? tokens.expires_in : null;
    // A minute early, or halfway through a lifetime shorter than two minutes.
    this.refreshAt = expiresInSeconds === null ? null : asked + Math.max(expiresInSeconds * 1000 - EARLY_MS, (expiresInSeconds * 1000) / 2);
    // A refresh invalidates the old pair: the next refresh must use the new refresh token.
    if (this.grant === "refresh_token" && nonEmpty(tokens.refresh_token)) this.credentials.refreshToken = tokens.refresh_token;
    this.log({ type: "oauth_refresh", ok: true, grant: this.grant, status: answer.status, expiresIn: expiresInSeconds });
    if (this.onTokens) {
      try {
        await this.onTokens({
          accessToken: tokens.access_token,
          refreshToken: this.grant === "refresh_token" ? this.credentials.refreshToken : null,
          expiresIn: expiresInSeconds,
        });
      } catch (error) {
        this.log({ type: "callback_error", callback: "onTokens", message: String(error?.message ?? error) });
      }
    }
    return true;
  }
}
