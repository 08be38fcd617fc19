// The main command (`npm start`): installs what is missing, builds the engine (skipped when nothing
// changed), starts the local Zendesk simulator and serves the preview page on 127.0.0.1.
//
//   npm start                 # http://127.0.0.1:8080/ (an ephemeral port when 8080 is taken)
//   npm start -- --port 9000
//
// One HTTP server, loopback only, no dependencies:
//   /            → www/ (the preview page)
//   /pkg/…       → pkg/ (the engine, its WebAssembly, the host and the in-memory simulator)
//   /config.json → {simulatorUrl, zendeskUrl}: tells the page it may "Send to simulator"
//   /api/v2/…, /oauth/…, /__simulator/… → forwarded to the simulator server
// Forwarding makes the simulator same-origin for the page, so every credential kind works from the
// browser (the simulator, like Zendesk, only answers cross-origin calls made with an OAuth token), and
// the URLs the simulator puts in its answers (next_page, url) point back at this server.
//
// Only Node built-ins are imported at the top: on a fresh machine nothing is installed yet.
import http from "node:http";
import { createReadStream, realpathSync, statSync } from "node:fs";
import { extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { refusal } from "../pkg/host/loopback.js";
import { startSimulatorServer } from "../pkg/simulator-server.js";

export const DEFAULT_PORT = 8080;
const HOST = "127.0.0.1";
// fileURLToPath, not URL.pathname: a checkout under a path with a space or non-ASCII letters must work.
const WWW = fileURLToPath(new URL("../www", import.meta.url));
const PKG = fileURLToPath(new URL("../pkg", import.meta.url));
const FORWARDED = ["/api/v2/", "/oauth/", "/__simulator/"];
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"]);

const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".ts": "text/plain; charset=utf-8",
  ".map": "application/json; charset=utf-8",
};

/**
 * Starts the simulator and the page server. `port` 0 picks an ephemeral port; a taken non-zero port
 * falls back to an ephemeral one unless `strictPort` is set.
 * @returns {Promise<{url: string, simulatorUrl: string, simulator: object, close(): Promise<void>}>}
 */
export async function startPreview({ port = DEFAULT_PORT, strictPort = false, simulatorPort = 0, simulatorOptions = {} } = {}) {
  const simulatorServer = await startSimulatorServer({ ...simulatorOptions, port: simulatorPort, host: HOST });
  const ports = new Set();
  const server = http.createServer((req, res) => {
    // Only this machine: a foreign page (or a DNS-rebound name) gets 403 (pkg/host/loopback.js).
    const refused = refusal(req.headers, ports);
    if (refused) {
      req.resume();
      res.writeHead(403, { "content-type": "text/plain; charset=utf-8", connection: "close" });
      return res.end(`forbidden: ${refused}\n`);
    }
    handle(req, res, simulatorServer.port).catch((error) => {
      if (res.headersSent) return res.destroy();
      res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
      res.end(`preview server error: ${error.message}`);
    });
  });
  let bound;
  try {
    bound = await listen(server, port);
  } catch (error) {
    if (error.code !== "EADDRINUSE" || strictPort || port === 0) {
      await simulatorServer.close();
      throw error;
    }
    bound = await listen(server, 0);
  }
  ports.add(bound);
  simulatorServer.allowPort(bound); // requests forwarded to it keep this server's Host
  const url = `http://${HOST}:${bound}/`;
  server.preview = { url, simulatorUrl: simulatorServer.url };
  let closing = null;
  return {
    url,
    port: bound,
    requestedPort: port,
    simulatorUrl: simulatorServer.url,
    simulator: simulatorServer.simulator,
    close() {
      closing ??= Promise.all([
        new Promise((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
        simulatorServer.close(),
      ]).then(() => {});
      return closing;
    },
  };

  async function handle(req, res, simulatorPortBound) {
    const path = new URL(req.url, "http://localhost").pathname;
    if (FORWARDED.some((prefix) => path.startsWith(prefix))) return forward(req, res, simulatorPortBound);
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
      return res.end("method not allowed");
    }
    if (path === "/config.json") {
      // The Host was checked above: a loopback name with this port, never a foreign one.
      const origin = `http://${req.headers.host ?? `${HOST}:${bound}`}`;
      const body = JSON.stringify({ simulatorUrl: simulatorServer.url, zendeskUrl: origin });
      res.writeHead(200, { "content-type": MIME[".json"], "cache-control": "no-store", "content-length": Buffer.byteLength(body) });
      return res.end(req.method === "HEAD" ? undefined : body);
    }
    const file = path.startsWith("/pkg/") ? resolveIn(PKG, path.slice("/pkg/".length)) : resolveIn(WWW, path.slice(1) || "index.html");
    return serveFile(req, res, file);
  }
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    const onError = (error) => reject(error);
    server.once("error", onError);
    server.listen(port, HOST, () => {
      server.off("error", onError);
      resolve(server.address().port);
    });
  });
}

/** A path inside `dir`, or null when the request tries to leave it. */
function resolveIn(dir, relative) {
  let decoded;
  try {
    decoded = decodeURIComponent(relative);
  } catch {
    return null;
  }
  if (decoded.includes("\0")) return null;
  const full = normalize(join(dir, decoded));
  return full === dir || full.startsWith(dir + sep) ? full : null;
}

function serveFile(req, res, file) {
  let stats = null;
  if (file) {
    try {
      stats = statSync(file);
      if (stats.isDirectory()) {
        file = join(file, "index.html");
        stats = statSync(file);
      }
    } catch {
      stats = null;
    }
  }
  if (!stats || !stats.isFile()) {
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
    return res.end("not found");
  }
  res.writeHead(200, {
    "content-type": MIME[extname(file).toLowerCase()] ?? "application/octet-stream",
    "content-length": stats.size,
    // Rebuilds must show up on reload; the files are small and local.
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
  });
  if (req.method === "HEAD") return res.end();
  createReadStream(file).on("error", () => res.destroy()).pipe(res);
}

/** Forwards the request, as it is, to the simulator; the Host header stays this server's. */
function forward(req, res, simulatorPort) {
  return new Promise((resolve) => {
    const headers = {};
    for (const [name, value] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(name)) headers[name] = value;
    const upstream = http.request({ host: HOST, port: simulatorPort, method: req.method, path: req.url, headers }, (answer) => {
      const out = {};
      for (const [name, value] of Object.entries(answer.headers)) if (!HOP_BY_HOP.has(name)) out[name] = value;
      res.writeHead(answer.statusCode, out);
      answer.pipe(res);
      answer.on("end", resolve);
    });
    // The simulator may drop a connection on purpose (a fault): the page then sees a network error too.
    upstream.on("error", () => {
      res.destroy();
      resolve();
    });
    res.on("close", () => upstream.destroy());
    req.pipe(upstream);
  });
}

function parseArgs(argv) {
  const options = { port: DEFAULT_PORT };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : argv[i + 1];
    if (arg === "--port" || arg.startsWith("--port=")) {
      if (!arg.includes("=")) i++;
      const port = Number(value);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port needs a port number (0–65535), got ${value}`);
      options.port = port;
    } else if (arg === "--help" || arg === "-h") {
      options.help = true;
    } else {
      throw new Error(`unknown argument ${arg} (try --help)`);
    }
  }
  return options;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (options.help) {
    console.log("usage: npm start [-- --port N]\nBuilds the engine when needed, starts the Zendesk simulator and serves the preview on 127.0.0.1 (default port 8080).");
    return;
  }
  const { build } = await import("./build.mjs"); // installs the toolchain (ensureAll) and skips unchanged builds
  build();
  const preview = await startPreview({ port: options.port });
  if (preview.port !== options.port && options.port !== 0) console.log(`port ${options.port} is taken: using ${preview.port} instead`);
  console.log(`\n  Preview:   ${preview.url}`);
  console.log(`  Simulator: ${preview.simulatorUrl}  (state: ${preview.simulatorUrl}/__simulator/state)\n`);
  console.log("Nothing is sent to Zendesk unless you ask for it on the page. Press Ctrl-C to stop.");

  let stopping = false;
  const stop = async (signal) => {
    if (stopping) process.exit(130); // a second Ctrl-C: don't wait
    stopping = true;
    console.log(`\n${signal}: stopping the preview and the simulator`);
    await preview.close();
    process.exit(0);
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

// Comparing real paths: `file://${argv[1]}` never matched under a directory with a space (import.meta.url
// has %20), and `npm start` then exited 0 having done nothing.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(`npm start failed: ${error.message}`);
    process.exit(1);
  });
}
