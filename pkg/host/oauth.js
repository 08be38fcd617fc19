// OAuth access tokens expire (30 minutes for new clients). With a refresh token, the host trades it for a
// new pair on the first 401 `invalid_token`, redoes the request, and hands the new pair to the caller.
//
// The engine's request descriptors carry the token from the settings; after a refresh the host replaces
// the `Authorization: Bearer …` header of every later request with the new token (it keeps one engine
// Destination, whose caches stay warm, rather than building a new one). Concurrent 401s share one refresh.

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

export class TokenRefresher {
  /**
   * @param {{refreshToken: string, clientId: string, clientSecret: string}} credentials
   * @param {{fetchOnce: Function, onTokens?: Function, log: Function}} host
   */
  constructor(credentials, { fetchOnce, onTokens, log }) {
    for (const key of ["refreshToken", "clientId", "clientSecret"]) {
      if (typeof credentials?.[key] !== "string" || credentials[key] === "") {
        throw new TypeError(`oauthRefresh.${key} must be a non-empty string`);
      }
    }
    this.credentials = { ...credentials };
    this.fetchOnce = fetchOnce;
    this.onTokens = onTokens;
    this.log = log;
    this.authorization = null; // "Bearer <new token>" once refreshed
    this.inflight = null;
    this.refreshes = 0;
  }

  /** The request with the current token, when a refresh has replaced the settings' one. */
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
   * After a 401 invalid_token on a request sent with `sentAuthorization`: true when the request should be
   * redone (a refresh succeeded, now or already by a concurrent request), false when it failed.
   */
  async refresh(request, sentAuthorization) {
    if (this.authorization && sentAuthorization !== this.authorization) return true; // someone refreshed meanwhile
    this.inflight ??= this.#refresh(request).finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  async #refresh(request) {
    const url = tokenUrl(request.url);
    const answer = await this.fetchOnce({
      method: "POST",
      url,
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({
        grant_type: "refresh_token",
        refresh_token: this.credentials.refreshToken,
        client_id: this.credentials.clientId,
        client_secret: this.credentials.clientSecret,
      }),
    });
    let tokens = null;
    if (answer.status >= 200 && answer.status < 300) {
      try {
        const body = JSON.parse(answer.body);
        if (typeof body?.access_token === "string" && body.access_token) tokens = body;
      } catch {
        // unreadable answer: the refresh failed
      }
    }
    if (!tokens) {
      this.log({ type: "oauth_refresh", ok: false, status: answer.status, error: answer.error });
      return false;
    }
    this.refreshes++;
    this.authorization = `Bearer ${tokens.access_token}`;
    // A refresh invalidates the old pair: the next refresh must use the new refresh token.
    if (typeof tokens.refresh_token === "string" && tokens.refresh_token) this.credentials.refreshToken = tokens.refresh_token;
    this.log({ type: "oauth_refresh", ok: true, status: answer.status, expiresIn: tokens.expires_in ?? null });
    if (this.onTokens) {
      try {
        await this.onTokens({
          accessToken: tokens.access_token,
          refreshToken: this.credentials.refreshToken,
          expiresIn: typeof tokens.expires_in === "number" ? tokens.expires_in : null,
        });
      } catch (error) {
        this.log({ type: "callback_error", callback: "onTokens", message: String(error?.message ?? error) });
      }
    }
    return true;
  }
}
