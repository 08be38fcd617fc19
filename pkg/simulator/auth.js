// Authentication: Basic (API token or password) and Bearer headers, and POST /oauth/tokens.

import { randomHex, lower, ApiError, invalidEndpoint, ok } from "./util.js";

/** Adds the auth handlers and routes to the simulator core `sim`. */
export function installAuth(sim) {
  // ----- authentication ------------------------------------------------------------------------------

  const couldNotAuthenticate = () => new ApiError(401, { error: "Couldn't authenticate you" });
  const invalidToken = () =>
    new ApiError(401, {
      error: "invalid_token",
      error_description: "The access token provided is expired, revoked, malformed or invalid for other reasons.",
    });

  // Creating custom fields and writing organizations and memberships need an administrator (Zendesk's
  // "User Fields" / "Organization Fields" / "Organizations" pages: "Allowed for: Admins"; agents with a
  // custom role that allows it are not simulated). Agents may read and write users. The credential's
  // role is the `role` option: every credential of a simulated account has the same one.
  function requireAdmin(identity) {
    if (identity.role !== "admin") {
      throw new ApiError(403, { error: "Forbidden", description: "You do not have access to this page. Please contact the account owner of this help desk for further help." });
    }
  }

  function decodeBase64(text) {
    try {
      const binary = atob(text);
      return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
    } catch {
      return null;
    }
  }

  // Returns {scheme, email?} for an accepted header, else throws the 401 Zendesk would send.
  function authenticate(authorization) {
    const match = /^(Basic|Bearer)\s+(\S+)\s*$/i.exec(authorization ?? "");
    if (!match) throw couldNotAuthenticate();
    const scheme = match[1].toLowerCase();
    if (scheme === "basic") {
      const decoded = decodeBase64(match[2]);
      const colon = decoded?.indexOf(":") ?? -1;
      if (colon <= 0) throw couldNotAuthenticate();
      const login = decoded.slice(0, colon);
      const secret = decoded.slice(colon + 1);
      // "{email}/token:{token}" is an API token; "{email}:{password}" a password.
      const email = login.replace(/\/token$/i, "");
      if (sim.config.auth) {
        const accepted = sim.config.auth.basic.some((entry) =>
          entry.token !== undefined
            ? lower(login) === `${lower(entry.email.replace(/\/token$/i, ""))}/token` && secret === entry.token
            : lower(login) === lower(entry.email) && secret === entry.password,
        );
        if (!accepted) throw couldNotAuthenticate();
      }
      return { scheme, email, role: sim.config.role };
    }
    const token = match[2];
    if (sim.account.revokedTokens.has(token)) throw invalidToken();
    const expiresMs = sim.account.issuedTokens.get(token);
    if (expiresMs !== undefined) {
      if (sim.now() >= expiresMs) throw invalidToken();
      return { scheme, role: sim.config.role };
    }
    const initialClientToken = sim.account.oauthClients.some((client) => client.accessToken === token);
    if (sim.config.auth && !sim.config.auth.bearer.includes(token) && !initialClientToken) throw invalidToken();
    return { scheme, role: sim.config.role };
  }

  // POST /oauth/tokens with grant_type=refresh_token or client_credentials (JSON or form-encoded).
  function handleOAuthToken(request) {
    if (request.method !== "POST") throw invalidEndpoint();
    let params;
    const body = request.body ?? "";
    if (/^\s*\{/.test(body)) {
      try {
        params = JSON.parse(body);
      } catch {
        throw new ApiError(400, { error: "invalid_request", error_description: "The request body could not be parsed." });
      }
    } else params = Object.fromEntries(new URLSearchParams(body));
    if (params.grant_type !== "refresh_token" && params.grant_type !== "client_credentials") {
      throw new ApiError(400, { error: "unsupported_grant_type", error_description: "The authorization grant type is not supported by the authorization server." });
    }
    const client = sim.account.oauthClients.find((candidate) => candidate.clientId === params.client_id && candidate.clientSecret === params.client_secret);
    if (!client) {
      throw new ApiError(401, { error: "invalid_client", error_description: "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method." });
    }
    // The token's lifetime: `expires_in` when the request asks for one (honoured as asked: an
    // assumption), else the account's. Zendesk's answer carries `expires_in` only when it was asked for.
    const asked = Number(params.expires_in);
    const lifetimeSeconds = Number.isFinite(asked) && asked > 0 ? Math.floor(asked) : sim.config.accessTokenTtlSeconds;
    const accessToken = randomHex(sim.account.tokenRandom, 64);
    let refreshToken;
    if (params.grant_type === "refresh_token") {
      if (!params.refresh_token || params.refresh_token !== client.refreshToken) {
        throw new ApiError(400, { error: "invalid_grant", error_description: "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client." });
      }
      // A refresh invalidates the old pair: the old access token stops working and the old refresh
      // token can't be used again.
      if (client.accessToken) sim.account.revokedTokens.add(client.accessToken);
      refreshToken = randomHex(sim.account.tokenRandom, 64);
      client.accessToken = accessToken;
      client.refreshToken = refreshToken;
    }
    // client_credentials (confidential clients): a new access token, no refresh token, nothing revoked.
    sim.account.issuedTokens.set(accessToken, sim.now() + lifetimeSeconds * 1000);
    sim.account.counters.accessTokensIssued++;
    // 201 Created (Zendesk's OAuth Tokens API, "Create Token for Grant Type").
    return ok(201, {
      access_token: accessToken,
      refresh_token: refreshToken,
      token_type: "bearer",
      scope: params.scope ?? client.scope ?? "read write",
      expires_in: params.expires_in === undefined ? undefined : lifetimeSeconds,
    }, { "cache-control": "no-store" });
  }

  Object.assign(sim, { requireAdmin, couldNotAuthenticate, invalidToken, decodeBase64, authenticate, handleOAuthToken });
}
