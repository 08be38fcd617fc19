// The Zendesk simulator on a real socket: node:http around the pure core in ./simulator.js.
//
// - Zendesk paths (/api/v2/…, /oauth/tokens) go to simulator.handle(); its fault directives are acted
//   on here: `delayMs` answers late, `drop` destroys the socket without an answer.
// - /__simulator/… (a path no Zendesk endpoint uses) inspects and drives the account without auth:
//   GET state, GET log, POST reset, POST seed. These send CORS headers so a page on another
//   localhost port can read them.
// - CORS on Zendesk paths mimics Zendesk: preflights are answered, but an actual answer carries
//   Access-Control-Allow-Origin only for Bearer (OAuth) requests, and never on 403 or 429.
// - Only this machine (./host/loopback.js): a Host that does not name this server, or a request from a
//   page outside loopback, gets 403 and changes nothing. (A guard of the local tool, not Zendesk's.)
import http from "node:http";
import { refusal } from "./host/loopback.js";
import { createSimulator, parseJsonExact } from "./simulator.js";

const CONTROL_PREFIX = "/__simulator/";
const EXPOSED_HEADERS = "Retry-After, X-Rate-Limit, X-Rate-Limit-Remaining, ratelimit-limit, ratelimit-remaining, ratelimit-reset, X-Zendesk-API-Warn, Location";

/**
 * Starts a simulator server. Options are createSimulator()'s, plus `port` (default 0: ephemeral),
 * `host` (default 127.0.0.1) and `simulator` (serve an existing simulator instead of creating one).
 */
export async function startSimulatorServer(options = {}) {
  const { port = 0, host = "127.0.0.1", simulator: existing, ...simulatorOptions } = options;
  const simulator = existing ?? createSimulator(simulatorOptions);
  const delayedAnswers = new Set(); // timers of answers still waiting out their delayMs
  const ports = new Set(); // the ports whose Host this server answers: its own, and forwarders'

  const server = http.createServer((req, res) => {
    const refused = refusal(req.headers, ports);
    if (refused) {
      req.resume();
      return send(res, 403, { "content-type": "application/json", connection: "close" }, JSON.stringify({ error: "Forbidden", description: refused }));
    }
    readBody(req)
      .then((body) => route(req, res, body))
      .catch((error) => {
        if (res.headersSent) return res.destroy();
        send(res, 500, { "content-type": "application/json" }, JSON.stringify({ error: "SimulatorError", description: String(error?.stack ?? error) }));
      });
  });

  function route(req, res, body) {
    const path = new URL(req.url, "http://127.0.0.1").pathname;
    if (path.startsWith(CONTROL_PREFIX)) return control(req, res, path.slice(CONTROL_PREFIX.length), body);
    if (req.method === "OPTIONS") return preflight(req, res);

    const response = simulator.handle({
      method: req.method,
      url: `http://${req.headers.host ?? `${host}:${server.address().port}`}${req.url}`,
      headers: req.headers,
      body,
    });
    const answer = () => {
      if (response.drop) return req.socket.destroy(); // the client sees a reset connection, no status
      send(res, response.status, { ...response.headers, ...corsForAnswer(req, response.status) }, response.body);
    };
    if (!(response.delayMs > 0)) return answer();
    const timer = setTimeout(() => {
      delayedAnswers.delete(timer);
      answer();
    }, response.delayMs);
    delayedAnswers.add(timer);
    res.on("close", () => {
      // the client gave up (timeout/abort): nothing left to answer
      clearTimeout(timer);
      delayedAnswers.delete(timer);
    });
  }

  function control(req, res, action, body) {
    // Only loopback origins get this far: the page's own origin is named, never "*".
    const cors = req.headers.origin
      ? {
          "access-control-allow-origin": req.headers.origin,
          "access-control-allow-methods": "GET, POST, OPTIONS",
          "access-control-allow-headers": "Content-Type",
          vary: "Origin",
        }
      : {};
    const json = { ...cors, "content-type": "application/json; charset=utf-8" };
    if (req.method === "OPTIONS") return send(res, 204, cors, "");
    if (req.method === "GET" && action === "state") return send(res, 200, json, simulator.stateJson()); // exact ids
    if (req.method === "GET" && action === "log") return send(res, 200, json, JSON.stringify(simulator.log()));
    if (req.method === "POST" && action === "reset") {
      simulator.reset();
      return send(res, 200, json, JSON.stringify({ ok: true }));
    }
    if (req.method === "POST" && action === "seed") {
      let seeded;
      try {
        seeded = simulator.seed(body ? parseJsonExact(body) : {});
      } catch (error) {
        return send(res, 400, json, JSON.stringify({ error: "InvalidSeed", description: error.message }));
      }
      return send(res, 200, json, JSON.stringify(seeded)); // ids beyond 2^53 are decimal strings here
    }
    return send(res, 404, json, JSON.stringify({ error: "UnknownSimulatorEndpoint", description: `${req.method} ${CONTROL_PREFIX}${action}` }));
  }

  // The preflight carries no Authorization header, so it cannot tell OAuth from Basic: it is
  // answered for everyone, and the real answer decides (see corsForAnswer).
  function preflight(req, res) {
    const origin = req.headers.origin;
    if (!origin) return send(res, 404, { "content-type": "application/json" }, JSON.stringify({ error: "InvalidEndpoint", description: "Not found" }));
    send(res, 204, {
      "access-control-allow-origin": origin,
      "access-control-allow-methods": "GET, POST, PUT, DELETE, OPTIONS",
      "access-control-allow-headers": req.headers["access-control-request-headers"] ?? "Authorization, Content-Type, Accept",
      "access-control-max-age": "86400",
      vary: "Origin",
    }, "");
  }

  function corsForAnswer(req, status) {
    const origin = req.headers.origin;
    const isOAuth = /^Bearer\s/i.test(req.headers.authorization ?? "");
    if (!origin || !isOAuth || status === 403 || status === 429) return {};
    return { "access-control-allow-origin": origin, "access-control-expose-headers": EXPOSED_HEADERS, vary: "Origin" };
  }

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const boundPort = server.address().port;
  ports.add(boundPort);

  return {
    url: `http://${host}:${boundPort}`,
    port: boundPort,
    simulator,
    /** Also answer requests whose Host names `port`: a server on this machine that forwards to this one. */
    allowPort(port) {
      ports.add(port);
    },
    close() {
      for (const timer of delayedAnswers) clearTimeout(timer);
      delayedAnswers.clear();
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // keep-alive sockets would otherwise hold close() open
      });
    },
  };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => resolve(chunks.length ? Buffer.concat(chunks).toString("utf8") : null));
    req.on("error", reject);
  });
}

function send(res, status, headers, body) {
  const noBody = status === 204 || status === 304 || !body;
  res.writeHead(status, noBody ? headers : { ...headers, "content-length": Buffer.byteLength(body) });
  res.end(noBody ? undefined : body);
}
