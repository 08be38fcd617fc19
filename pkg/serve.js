// zendesk-destination serve: the edge handler (./edge.js) on node:http.
//
// One log line per request (time, method, path, status, event count, duration: never a header, a body,
// a query string or a write key). On SIGTERM/SIGINT the server stops accepting connections, lets the
// deliveries in flight finish (their requests still get their answers), then exits.
import { createServer } from "node:http";
import { Server as NetServer } from "node:net";
import { parseArgs } from "node:util";
import { createHandler } from "./edge.js";
import { readSettingsFiles, UsageError, withUsageErrors } from "./host/command-files.js";
import { isMainModule } from "./host/main-module.js";

const NAME = "zendesk-destination";
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "expect", "content-length", "proxy-connection", "te", "trailer"]);
// A body beyond the request limit is read (and thrown away) up to this size, so that the 400 reaches a
// client that is still sending; beyond it the connection is dropped.
const DISCARD_LIMIT_BYTES = 8 * 1024 * 1024;

/**
 * What one client may hold of the server, as a public HTTP endpoint must bound it: slow or idle
 * connections are cut, and there is a cap on how many are open (under the common limit of 1,024 open
 * files, so that the process never runs out of them).
 */
export const CONNECTION_LIMITS = Object.freeze({
  headersTimeoutMs: 10_000, // the request line and headers must arrive within this (else 408)
  requestTimeoutMs: 30_000, // the whole request, body included (else 408)
  keepAliveTimeoutMs: 5_000, // an idle kept-alive connection is closed after this
  maxConnections: 512, // open connections; beyond it new ones are closed at once
  shutdownLingerMs: 1_000, // after SIGTERM, kept-alive connections still get 503 + Retry-After this long
});

export const serveSummary = "receive Segment's HTTP Tracking API (analytics-node, analytics.js) and deliver to Zendesk";

export const serveUsage = `Usage: ${NAME} serve --settings FILE --write-key KEY [--port N] [--host ADDRESS]

Runs an HTTP server that speaks Segment's HTTP Tracking API: point @segment/analytics-node
(host: "http://HOST:PORT") or analytics.js (apiHost: "HOST:PORT/v1") at it and identify, track and
group calls are delivered to Zendesk. Endpoints: POST /v1/identify|track|group|page|screen|alias,
/v1/i|t|g|p|s|a, /v1/batch, /v1/b, /v1/m (accepted, ignored); CORS for browsers.

Each request is answered once every event's outcome is known: 200 when each was delivered, skipped or
is invalid (the body lists each outcome); 503 with Retry-After (429 when Zendesk throttles) when any
failed in a way a retry can fix: the client keeps the events and retries, and events already delivered
are not sent twice (de-duplication by messageId for 24 hours, up to 100,000 messageIds).
With --queue the answer is 200 as soon as the events are durably in Redis (each line "queued";
a messageId queued already is not queued again) and '${NAME} work' processes deliver them.
Requests need a write key: HTTP Basic with the key as user name, or "writeKey" in the body (401 otherwise).
Limits: 32 KB per event, 500 KB per request, 2,500 events per batch (400 beyond). Connections: headers
within 10 s and the whole request within 30 s (408 otherwise), idle keep-alive 5 s, at most 512 open.

Prints the URL on the first line of standard output and one line per request on standard error.
SIGTERM or Ctrl-C stops accepting requests, finishes the deliveries in flight (at most --drain-timeout
milliseconds), then exits.

Options:
  --settings FILE        the destination settings (JSON)                                (required)
  --write-key KEY        an accepted write key; repeat for several (default: $SEGMENT_WRITE_KEY)
  --port N               the port (default 3000; 0 for a free one)
  --host ADDRESS         the address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
  --concurrency N        events in delivery at once (default 8)
  --batch-window MS      events arriving this close together are planned as one batch (default 25; 0: each alone)
  --drain-timeout MS     how long SIGTERM waits for deliveries in flight (default 10000)
  --redis URL            share de-duplication, the rate budget, the OAuth pair and what was learned
                         with every instance using this Redis (default: $REDIS_URL; docs/scale-out.md)
  --queue                answer 200 once the events are durably in Redis, for 'zendesk-destination
                         work' processes to deliver (needs --redis)
  --oauth FILE           OAuth instead of the settings' credentials: {"clientId","clientSecret","scope"}
                         (the client_credentials grant: nothing to store, suits a fleet) or
                         {"refreshToken","clientId","clientSecret"} (refreshed when Zendesk answers 401;
                         the file is rewritten with each new pair; with --redis one refresh for all)
  -h, --help             this help`;

/** `IncomingMessage` → `Request`, the body read up to `limit + 1` bytes (the handler rejects beyond `limit`). */
async function toRequest(req, limit, base) {
  const chunks = [];
  let kept = 0;
  let total = 0;
  for await (const chunk of req) {
    total += chunk.length;
    if (kept <= limit) {
      const part = chunk.subarray(0, limit + 1 - kept);
      chunks.push(part);
      kept += part.length;
    } else if (total > DISCARD_LIMIT_BYTES) {
      req.destroy();
      break;
    }
  }
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i];
    if (HOP_BY_HOP.has(name.toLowerCase())) continue;
    try {
      headers.append(name, req.rawHeaders[i + 1]);
    } catch {
      // a header value fetch cannot hold: not needed by the handler
    }
  }
  const path = req.url?.startsWith("/") ? req.url : `/${req.url ?? ""}`;
  const hasBody = req.method !== "GET" && req.method !== "HEAD" && kept > 0;
  return {
    request: new Request(`${base}${path}`, { method: req.method, headers, body: hasBody ? Buffer.concat(chunks, kept) : undefined }),
    oversize: total > limit,
  };
}

function logLine({ method, path, status, events, durationMs }) {
  return `${new Date().toISOString()} ${method} ${path} ${status} ${events} event${events === 1 ? "" : "s"} ${Math.round(durationMs)}ms`;
}

/**
 * Starts the server. Options: `settings`, `writeKeys` (or `writeKey`), `port` (default 0: a free one),
 * `host` (default "127.0.0.1"), `logger(line)` (default: standard error; `false` for none); everything else
 * goes to `createHandler` (and from there to `createDestination`).
 * Rejects with the SettingsError when the settings are bad (nothing is listening then).
 * @returns {Promise<{url: string, port: number, handler, server, drain(): Promise<void>, close(options?): Promise<void>}>}
 */
export async function startServer(options = {}) {
  const { port = 0, host = "127.0.0.1", logger, writeKey, writeKeys, onRequest, connectionLimits, ...rest } = options;
  const bounds = { ...CONNECTION_LIMITS, ...(connectionLimits ?? {}) };
  const log = logger === false ? null : typeof logger === "function" ? logger : (line) => process.stderr.write(`${line}\n`);
  const infos = new WeakMap();
  const handler = createHandler({
    ...rest,
    writeKeys: writeKeys ?? writeKey,
    onRequest: (request, info) => {
      infos.set(request, info);
      onRequest?.(request, info);
    },
  });
  await handler.ready;
  const limit = handler.limits.requestBytes;

  let base = "http://127.0.0.1";
  let stopping = false; // close() began: every answer closes its connection
  const serverOptions = {
    headersTimeout: bounds.headersTimeoutMs,
    requestTimeout: bounds.requestTimeoutMs,
    keepAliveTimeout: bounds.keepAliveTimeoutMs,
    // How often Node looks for connections past those timeouts (its default, 30 s, would let them linger).
    connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(bounds.headersTimeoutMs / 4))),
  };
  const server = createServer(serverOptions, async (req, res) => {
    const started = performance.now();
    const path = (req.url ?? "/").split("?")[0];
    let status = 500;
    let events = 0;
    try {
      const { request, oversize } = await toRequest(req, limit, base);
      const response = await handler(request);
      const info = infos.get(request);
      status = response.status;
      events = info?.events ?? 0;
      const headers = {};
      response.headers.forEach((value, key) => {
        headers[key] = value;
      });
      if (oversize || stopping) headers.connection = "close";
      const body = Buffer.from(await response.arrayBuffer());
      headers["content-length"] = String(body.length);
      res.writeHead(status, headers);
      res.end(body);
    } catch (error) {
      status = 500;
      if (!res.headersSent) {
        res.writeHead(500, { "content-type": "application/json", ...(stopping ? { connection: "close" } : {}) });
        res.end(JSON.stringify({ success: false, error: "internal_error", message: String(error?.message ?? error) }));
      } else res.destroy();
    } finally {
      if (log) {
        try {
          log(logLine({ method: req.method, path, status, events, durationMs: performance.now() - started }));
        } catch {
          // a logger's failure is not the request's
        }
      }
    }
  });
  server.maxConnections = bounds.maxConnections;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  base = `http://${shownHost === "0.0.0.0" || shownHost === "[::]" ? "127.0.0.1" : shownHost}:${address.port}`;

  let closed = null;
  return {
    url: base,
    port: address.port,
    server,
    handler,
    /** Resolves once every event accepted so far has its outcome. */
    drain: () => handler.drain(),
    /**
     * Stops listening, lets deliveries in flight finish (within `timeoutMs`, default 10 s; then they are
     * cancelled and their requests answered 503), waits for every answer to be written, then closes.
     */
    close({ timeoutMs } = {}) {
      closed ??= (async () => {
        stopping = true;
        // Stop listening, but keep the open keep-alive connections for now: a client may be sending its
        // next request on one this very moment, and it must get 503 + Retry-After (so it keeps its events),
        // not a broken pipe. (http.Server#close would drop them at once.) Every answer from now on closes
        // its connection.
        const listening = new Promise((resolve) => NetServer.prototype.close.call(server, () => resolve()));
        await handler.close(timeoutMs === undefined ? {} : { timeoutMs });
        // The answers of the requests that were waiting are being written, and requests racing the
        // shutdown on kept-alive connections are answered 503: give them a moment, then close the rest.
        const linger = new Promise((resolve) => setTimeout(resolve, Math.max(bounds.shutdownLingerMs, 0)).unref());
        await Promise.race([listening, linger]); // listening resolves once every connection has ended
        server.closeAllConnections?.();
        await listening;
        server.close(() => {}); // http.Server's own close: stops its timeout checks (not listening any more)
      })();
      return closed;
    },
  };
}

function positiveInteger(value, option, { zero = false } = {}) {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || (!zero && Number(value) < 1)) throw new UsageError(`--${option} must be a whole number${zero ? "" : " ≥ 1"}, got "${value}"`);
  return Number(value);
}

/**
 * `zendesk-destination serve …` (argv without the command name). `io`: {stdout, stderr, onSignal(fn),
 * offSignal(fn), env}; defaults to the process's. Resolves to the exit code: 0 after a clean stop, 2 when
 * the server could not start (usage, settings, port in use).
 */
export async function serveCommand(argv, io = processIo()) {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout.write(`${serveUsage}\n`);
    return 0;
  }
  let running;
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args: argv,
        options: {
          settings: { type: "string" },
          "write-key": { type: "string", multiple: true },
          port: { type: "string" },
          host: { type: "string" },
          concurrency: { type: "string" },
          "batch-window": { type: "string" },
          "drain-timeout": { type: "string" },
          redis: { type: "string" },
          queue: { type: "boolean" },
          oauth: { type: "string" },
        },
        allowPositionals: false,
        strict: true,
      });
    } catch (error) {
      throw new UsageError(`serve: ${error.message.replace(/\s+/g, " ").replace(/ To specify a positional.*$/, "")}`);
    }
    const { values } = parsed;
    if (!values.settings) throw new UsageError("serve needs --settings FILE");
    const env = io.env ?? process.env;
    const writeKeys = values["write-key"] ?? (env.SEGMENT_WRITE_KEY ? [env.SEGMENT_WRITE_KEY] : []);
    if (writeKeys.length === 0 || writeKeys.some((key) => key === "")) throw new UsageError("serve needs --write-key KEY (or SEGMENT_WRITE_KEY in the environment)");
    const port = positiveInteger(values.port, "port", { zero: true }) ?? 3000;
    if (port > 65535) throw new UsageError(`--port must be a port number, got "${values.port}"`);
    const concurrency = positiveInteger(values.concurrency, "concurrency");
    const batchWindowMs = positiveInteger(values["batch-window"], "batch-window", { zero: true });
    const drainTimeoutMs = positiveInteger(values["drain-timeout"], "drain-timeout", { zero: true }) ?? 10_000;
    const redis = values.redis ?? (env.REDIS_URL || undefined);
    if (values.queue && !redis) throw new UsageError("serve --queue needs --redis URL (or REDIS_URL in the environment)");
    const { settings, host: oauth } = await withUsageErrors(readSettingsFiles(values.settings, values.oauth, (line) => io.stderr.write(`${line}\n`)));
    try {
      running = await startServer({
        settings,
        ...oauth,
        writeKeys,
        port,
        host: values.host ?? "127.0.0.1",
        ...(concurrency ? { concurrency } : {}),
        ...(batchWindowMs !== undefined && batchWindowMs !== null ? { batchWindowMs } : {}),
        ...(redis ? { redis } : {}),
        ...(values.queue ? { queue: true } : {}),
        logger: (line) => io.stderr.write(`${line}\n`),
      });
    } catch (error) {
      if (error?.code === "invalid_settings") throw new UsageError(error.message.replace(/\s+/g, " "));
      if (error?.code === "EADDRINUSE") throw new UsageError(`port ${port} is in use`);
      if (error?.code === "EACCES") throw new UsageError(`no permission to listen on port ${port}`);
      if (/Redis|redis/.test(String(error?.message))) throw new UsageError(error.message);
      throw error;
    }
    io.stdout.write(`${running.url}\n`);
    io.stderr.write(`${NAME} serve: listening on ${running.url} (POST /v1/batch, /v1/track, …); SIGTERM or Ctrl-C drains and stops\n`);
    let signals = 0;
    await new Promise((resolve) => {
      const onSignal = () => {
        signals++;
        if (signals === 1) {
          io.stderr.write(`${NAME} serve: stopping: finishing ${running.handler.stats().pending} event(s) in flight (signal again to stop now)\n`);
          running.close({ timeoutMs: drainTimeoutMs }).then(() => {
            io.offSignal?.(onSignal);
            resolve();
          });
        } else {
          // Cancels the deliveries in flight now; their requests get 503 (so the clients keep the events),
          // then close() above closes the connections.
          running.handler.close({ timeoutMs: 0 });
        }
      };
      io.onSignal?.(onSignal);
    });
    const stats = running.handler.stats();
    io.stderr.write(`${NAME} serve: stopped after ${stats.requests} request(s), ${stats.events} event(s) delivered or attempted\n`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`${NAME}: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

function processIo() {
  const handlers = new Set();
  const onSignal = () => {
    for (const handler of [...handlers]) handler();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    onSignal: (fn) => handlers.add(fn),
    offSignal: (fn) => handlers.delete(fn),
  };
}

const isMain = isMainModule(import.meta.url);

// `node pkg/serve.js --settings FILE --write-key KEY` works without the CLI, too.
if (isMain) {
  const args = process.argv.slice(2);
  serveCommand(args[0] === "serve" ? args.slice(1) : args).then(
    (code) => {
      process.exitCode = code;
      // Timers of abandoned requests must not keep a stopped server alive.
      setTimeout(() => process.exit(code), 100).unref();
    },
    (error) => {
      process.stderr.write(`${NAME} serve: ${error?.stack ?? error}\n`);
      process.exitCode = 2;
    },
  );
}
