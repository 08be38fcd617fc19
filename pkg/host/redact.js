// Credentials never leave the host: not in logs, not in the dry run, not in error messages.

/** A copy of `headers` with the credential of `Authorization` replaced, its scheme kept ("Basic [redacted]"). */
export function redactHeaders(headers) {
  const out = {};
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.toLowerCase() === "authorization") {
      const scheme = /^\s*(\S+)\s+\S/.exec(String(value));
      out[key] = scheme ? `${scheme[1]} [redacted]` : "[redacted]";
    } else out[key] = value;
  }
  return out;
}

/** A request descriptor fit to show: Authorization redacted. */
export function redactRequest(request) {
  return { method: request.method, url: request.url, headers: redactHeaders(request.headers), body: request.body ?? null };
}
