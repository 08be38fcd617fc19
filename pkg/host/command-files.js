// The files a command takes, for send, serve and work alike: `--settings FILE` and `--oauth FILE`.
// The OAuth file holds either a refresh pair {refreshToken, clientId, clientSecret[, accessToken]} (the
// refresh-token grant: the pair rotates, so each new pair is saved back to the file) or a confidential
// client {clientId, clientSecret[, scope]} (the client_credentials grant: nothing rotates, the file is
// never rewritten; Zendesk's "OAuth Tokens" page: what a server fleet should use). Node-only.
import { rename, writeFile } from "node:fs/promises";
import { FileError, readJsonFile } from "./files.js";

const text = (value) => typeof value === "string" && value !== "";

/** A mistake in how a command was called (its flags, its files): the command exits 2 with the message. */
export class UsageError extends Error {}

/** A file's problem (FileError) as a usage error: exit 2 with its one-line message (never the file's text). */
export async function withUsageErrors(promise) {
  try {
    return await promise;
  } catch (error) {
    if (error instanceof FileError) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * Reads `path` and returns `{host, accessToken}`: `host` the createDestination options for that grant
 * (`oauthRefresh` + `onTokens`, or `oauthClient`), `accessToken` a stored access token or undefined.
 * `report(line)` hears about each save. Throws a FileError naming the file and the key (never its text).
 */
export async function readOAuthFile(path, report) {
  const file = await readJsonFile(path, "oauth file");
  if (!file || typeof file !== "object" || Array.isArray(file)) throw new FileError(`oauth file ${path}: must be a JSON object`);
  const require = (...keys) => {
    for (const key of keys) if (!text(file[key])) throw new FileError(`oauth file ${path}: "${key}" is required`);
  };
  const accessToken = text(file.accessToken) ? file.accessToken : undefined;
  if (file.refreshToken === undefined) {
    require("clientId", "clientSecret");
    if (file.scope !== undefined && !text(file.scope)) throw new FileError(`oauth file ${path}: "scope" must be a non-empty string`);
    const oauthClient = { clientId: file.clientId, clientSecret: file.clientSecret, ...(file.scope ? { scope: file.scope } : {}) };
    return { host: { oauthClient }, accessToken };
  }
  require("refreshToken", "clientId", "clientSecret");
  let saved = file;
  const onTokens = async (tokens) => {
    saved = { ...saved, accessToken: tokens.accessToken, refreshToken: tokens.refreshToken };
    // The old refresh token stops working now: a failed save must be loud. Written beside the file and
    // renamed over it, so a crash mid-write cannot leave half a file.
    const staging = `${path}.${process.pid}.tmp`;
    try {
      await writeFile(staging, `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600 });
      await rename(staging, path);
      report(`refreshed the OAuth token; saved the new pair to ${path}`);
    } catch (error) {
      report(
        `refreshed the OAuth token but could not save it to ${path} (${error.code ?? error.message}): ` +
          `the old refresh token no longer works; keep this run's output and re-authorize`,
      );
    }
  };
  return { host: { oauthRefresh: { refreshToken: file.refreshToken, clientId: file.clientId, clientSecret: file.clientSecret }, onTokens }, accessToken };
}

/** Settings with the stored access token as their `oauthToken` (settings that are not an object: as they are). */
function withAccessToken(settings, accessToken) {
  return accessToken && settings && typeof settings === "object" && !Array.isArray(settings) ? { ...settings, oauthToken: accessToken } : settings;
}

/**
 * A command's `--settings FILE` and optional `--oauth FILE`, read the one way every command reads them:
 * `{settings, host}`, `host` the createDestination options of the OAuth grant (`{}` without a file).
 * Throws a FileError (never quoting a file's text).
 */
export async function readSettingsFiles(settingsPath, oauthPath, report) {
  const settings = await readJsonFile(settingsPath, "settings file");
  if (!oauthPath) return { settings, host: {} };
  const oauth = await readOAuthFile(oauthPath, report);
  return { settings: withAccessToken(settings, oauth.accessToken), host: oauth.host };
}
