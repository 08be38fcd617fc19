// Local servers (the simulator, `npm start`'s preview) answer only their own machine. A web page the
// developer has open elsewhere can send requests to 127.0.0.1 (a text/plain POST needs no preflight),
// and through DNS rebinding under its own name: so a request is refused when its `Host` does not name
// this server (a loopback name and one of its ports), or when it comes from a page whose origin is not
// on this machine. Pages on other loopback ports are allowed, as current dev servers do (Vite): a local
// app may drive the simulator as it would Zendesk.

const LOOPBACK_NAMES = new Set(["localhost", "[::1]"]);

/** True for `localhost`, `127.x.y.z` and `[::1]` (a hostname as URL gives it, IPv6 in brackets). */
export function isLoopbackName(hostname) {
  const name = String(hostname).toLowerCase().replace(/\.$/, "");
  if (LOOPBACK_NAMES.has(name)) return true;
  const parts = name.split(".");
  return parts.length === 4 && parts[0] === "127" && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/**
 * Why a request must be refused (a message), or null when it may be answered. `headers` are node:http's
 * (lowercase keys); `ports` the ports this server answers under (its own, and those of servers that
 * forward to it).
 */
export function refusal(headers, ports) {
  const host = headers.host;
  if (host !== undefined) {
    let url = null;
    try {
      url = new URL(`http://${host}`);
    } catch {
      // unreadable: refused below
    }
    const port = url && (url.port === "" ? 80 : Number(url.port));
    if (!url || !isLoopbackName(url.hostname) || !ports.has(port) || url.username || url.pathname !== "/") {
      return `this server answers only under its own address (Host ${[...ports].map((p) => `127.0.0.1:${p}`).join(" or ")}, or localhost with that port)`;
    }
  }
  const origin = headers.origin;
  if (origin !== undefined) {
    let ok = false;
    try {
      const url = new URL(origin);
      ok = (url.protocol === "http:" || url.protocol === "https:") && isLoopbackName(url.hostname);
    } catch {
      // "null" (a sandboxed frame, a file: page) or unreadable: refused
    }
    if (!ok) return "requests from pages outside this machine are refused";
  }
  // Requests a browser makes without an Origin (a <script> or <img> of another site) still say where from.
  if (headers["sec-fetch-site"] === "cross-site") return "requests from other sites are refused";
  return null;
}
