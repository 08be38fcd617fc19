#!/usr/bin/env node
// zendesk-destination: the command line. `plan` shows what would be sent, `send` sends, `simulate` runs a
// local Zendesk simulator. Each command is one entry of COMMANDS: adding one is adding an entry.
//
// Exit codes: 0 nothing failed or was invalid; 1 some event failed or was invalid; 2 the command could
// not run (usage, settings, unreadable input): a one-line message on stderr (input is streamed: the
// events before an unreadable place have been handled).
import { open } from "node:fs/promises";
import { parseArgs } from "node:util";
import { readJsonFile as readJson } from "./host/files.js";
import { readSettingsFiles, UsageError, withUsageErrors } from "./host/command-files.js";
import { describeEvent, InputError, readEventStream } from "./host/input.js";
import { isMainModule } from "./host/main-module.js";
import { eventKeys, KeyedLocks, Limiter } from "./host/ordering.js";
import { createDestination } from "./index.js";

const NAME = "zendesk-destination";

const COMMON = `
EVENTS is a file, or - / absent for standard input, holding one event, a JSON array of events,
newline-delimited JSON, or a Segment batch {"batch":[…]} (its top-level context and integrations apply
to every item). SETTINGS is the destination's settings as JSON, e.g.
  {"subdomain":"acme","email":"agent@acme.com/token","password":"API_TOKEN","events":["Order Completed"]}
with "baseUrl": "http://127.0.0.1:PORT" to point at a simulator.

Exit status: 0 when no event failed or was invalid, 1 otherwise, 2 when the command could not run
(bad settings, unreadable input): nothing is sent for bad settings; EVENTS is streamed, so for
unreadable input the events before the bad place have been handled (their lines are printed).`;

const COMMANDS = {
  plan: {
    summary: "show what would be sent, against a simulated account; nothing is sent",
    usage: `Usage: ${NAME} plan --settings FILE [--account FILE] [EVENTS]

The dry run: every event runs its whole conversation against an in-memory simulated Zendesk account
(empty, or seeded from --account), one after the other, so later events see what earlier ones created.
Prints one JSON line per event, in input order:
  {"messageId","type","status","code","message","warnings","requests":[{"request","response"}]}
with the Authorization header redacted.

Options:
  --settings FILE   the destination settings (JSON)                                   (required)
  --account FILE    seed data for the simulated account: {"users","organizations","memberships",
                    "userFields","organizationFields"}
  -h, --help        this help
${COMMON}`,
    options: { settings: { type: "string" }, account: { type: "string" } },
    positionals: 1,
    run: runPlan,
  },
  send: {
    summary: "deliver events to Zendesk",
    usage: `Usage: ${NAME} send --settings FILE [options] [EVENTS]

Delivers every event and prints one JSON line per event, in input order:
  {"messageId","type","status","code","message","warnings"}
Events go in batches the engine plans together: bulk jobs of up to 100 users or organizations,
lookups read 100 at a time, and writes that would repeat the last one skipped (code "unchanged"). A
batch is sent when it holds --batch-size events or the input pauses; its lines come out when it
finishes. Events for the same user or organization keep their order; others concurrently. Failed
requests are retried (5xx, 409, 429 after Retry-After, timeouts, dropped connections) and requests are
paced from Zendesk's rate-limit headers. On long runs a progress line on stderr shows events done, rate,
retries and the time left. Ctrl-C stops: events not yet sent get status "failed", code "cancelled";
a second Ctrl-C abandons the requests in flight and stops reading EVENTS.

Options:
  --settings FILE      the destination settings (JSON)                                (required)
  --concurrency N      requests (or, with --no-batch, events) in flight at once (default 8)
  --batch-size N       events per batch (default 1000)
  --no-batch           one conversation per event, as \`plan\` shows them
  --timeout MS         timeout of one request, in milliseconds (default 30000)
  --oauth FILE         {"refreshToken","clientId","clientSecret"}: refresh an expired OAuth token.
                       A refresh replaces the pair, so the file is rewritten with the new refreshToken and
                       accessToken (used as the settings' oauthToken on the next run).
                       {"clientId","clientSecret","scope"} (no refreshToken): the client_credentials
                       grant; the settings need no oauthToken and the file is never rewritten.
  --progress           always show the progress line (default: only for runs longer than 2 s)
  --no-progress        never show it
  -h, --help           this help
${COMMON}`,
    options: {
      settings: { type: "string" },
      concurrency: { type: "string" },
      "batch-size": { type: "string" },
      "no-batch": { type: "boolean" },
      timeout: { type: "string" },
      oauth: { type: "string" },
      progress: { type: "boolean" },
      "no-progress": { type: "boolean" },
    },
    positionals: 1,
    run: runSend,
  },
  simulate: {
    summary: "run a local Zendesk simulator and print its URL",
    usage: `Usage: ${NAME} simulate [--port N] [--rate-limit N] [--faults P] [--time-scale K] [--role R]
       [--search-lag MS] [--user-write-limit] [--org-update-limit] [--no-bulk-import]

Runs an in-memory Zendesk account over HTTP on 127.0.0.1 and prints its URL on the first line of
standard output; point the settings' "baseUrl" at it. It accepts any credentials. Its whole state is at
URL/__simulator/state and its request log at URL/__simulator/log. Stops on Ctrl-C.

Options:
  --port N          the port (default: a free one)
  --rate-limit N    account requests per minute; more get 429 with Retry-After (default: unlimited)
  --faults P        share of requests that fail transiently: 500, 503, slow answers, dropped
                    connections (0 to 1, or a percentage such as 20%; default 0)
  --time-scale K    simulated time runs K times faster (rate-limit windows, Retry-After; default 1)
  --role R          the role every credential has: admin (default) or agent (agents may not create
                    custom fields, organizations or memberships: 403, as in Zendesk)
  --search-lag MS   new users appear in /users/search only after MS simulated ms (default 120000,
                    as Zendesk's index lags; 0: at once). Exact reads never lag
  --user-write-limit  single-user writes limited to 1 per second per account and 5 per minute per user
  --org-update-limit  Update Organization limited to 5 per minute per organization
  --no-bulk-import  create_or_update_many answers 403 (the account owner has not enabled bulk import)
  -h, --help        this help`,
    options: {
      port: { type: "string" },
      "rate-limit": { type: "string" },
      faults: { type: "string" },
      "time-scale": { type: "string" },
      role: { type: "string" },
      "search-lag": { type: "string" },
      "user-write-limit": { type: "boolean" },
      "org-update-limit": { type: "boolean" },
      "no-bulk-import": { type: "boolean" },
    },
    positionals: 0,
    run: runSimulate,
  },
};

// `serve` (pkg/serve.js) parses its own arguments: an entry with `main(argv, io)` gets them raw.
COMMANDS.serve = {
  summary: "receive Segment's HTTP Tracking API (analytics-node, analytics.js) and deliver to Zendesk",
  main: async (argv, io) => (await import("./serve.js")).serveCommand(argv, io),
};

// `work` and `queue` (pkg/scale/commands.js): the durable queue's workers and its inspection.
COMMANDS.work = {
  summary: "deliver the events that 'serve --queue' put in Redis (run any number of these)",
  main: async (argv, io) => (await import("./scale/commands.js")).workCommand(argv, io),
};
COMMANDS.queue = {
  summary: "show the durable queue (depth, lag, retries, dead letters) and replay dead letters",
  main: async (argv, io) => (await import("./scale/commands.js")).queueCommand(argv, io),
};

function overview() {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`);
  return `Usage: ${NAME} <command> [options]

Segment identify, track and group events to Zendesk.

Commands:
${lines.join("\n")}

Run '${NAME} <command> --help' for a command's options.`;
}

// ---- shared helpers ----

async function readJsonFile(path, what) {
  return withUsageErrors(readJson(path, what));
}

/**
 * The events of EVENTS (a path, "-" or absent) as they are read: an async iterable of `{event, json}`.
 * Streaming: the first events are handled while the rest is still being read, and memory holds a few
 * events, not the input. Unreadable input ends it with a UsageError naming the place. `stop()` ends the
 * reading early (a second Ctrl-C), also while it waits for more input.
 */
async function openEvents(source, io) {
  const stdin = source === undefined || source === "-";
  let stream;
  if (stdin) {
    if (io.stdin.isTTY) io.stderr.write("reading events from standard input (end with Ctrl-D)\n");
    stream = io.stdin;
  } else {
    try {
      stream = (await open(source, "r")).createReadStream();
    } catch (error) {
      throw new UsageError(`cannot read events file ${source}: ${error.code === "ENOENT" ? "no such file" : error.message}`);
    }
  }
  let stopped = false;
  const events = (async function* () {
    try {
      yield* readEventStream(stream);
    } catch (error) {
      if (stopped) return;
      if (error instanceof InputError) throw new UsageError(`${stdin ? "standard input" : source}: ${error.message}`);
      if (typeof error?.code === "string") throw new UsageError(`cannot read ${stdin ? "standard input" : `events file ${source}`}: ${error.code}`);
      throw error;
    } finally {
      if (!stdin) stream.destroy();
    }
  })();
  events.stop = () => {
    stopped = true;
    stream.destroy?.();
  };
  return events;
}

function positiveInteger(value, option) {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`--${option} must be a whole number ≥ 1, got "${value}"`);
  return Number(value);
}

async function destinationFor(settings, options) {
  try {
    return await createDestination(settings, options);
  } catch (error) {
    if (error?.code === "invalid_settings") throw new UsageError(error.message.replace(/\s+/g, " "));
    if (error?.code === "ERR_MODULE_NOT_FOUND" || /wasm/.test(String(error?.message))) {
      throw new UsageError(`the engine could not be loaded (${error.message}); build it with npm run build`);
    }
    throw error;
  }
}

const FAILING = new Set(["failed", "invalid"]);
const DEFAULT_BATCH_SIZE = 1000;
/** Batches in delivery at once, as deliverAll does: the next plans while the last one's jobs run. */
const BATCHES_AT_ONCE = 2;
/** A batch still gathering goes when the input pauses this long (stdin that trickles events). */
const INPUT_PAUSE_MS = 20;

function outputLine(item, outcome) {
  const { messageId, type } = describeEvent(item.event);
  return { messageId, type, status: outcome.status, code: outcome.code, message: outcome.message, warnings: outcome.warnings ?? [] };
}

/**
 * Writes lines in input order as soon as every earlier one is written. `onWritten()` is called for each
 * line written (the reader waits on it: at most a window of lines is ever held here).
 */
function orderedWriter(io, onWritten = () => {}) {
  const lines = new Map();
  let next = 0;
  return (index, line) => {
    lines.set(index, line);
    while (lines.has(next)) {
      io.stdout.write(`${lines.get(next)}\n`);
      lines.delete(next);
      next++;
      onWritten();
    }
  };
}

// ---- plan ----

async function runPlan({ values, positionals }, io) {
  if (!values.settings) throw new UsageError("plan needs --settings FILE");
  const settings = await readJsonFile(values.settings, "settings file");
  const account = values.account ? await readJsonFile(values.account, "account file") : undefined;
  const destination = await destinationFor(settings, {});
  const { createSimulator } = await import("./simulator.js");
  const simulator = createSimulator();
  if (account) {
    try {
      simulator.seed(account);
    } catch (error) {
      throw new UsageError(`account file ${values.account}: ${error.message}`);
    }
  }
  const events = await openEvents(positionals[0], io);
  let failing = 0;
  try {
    for await (const item of events) {
      const { outcome, requests } = await destination.plan(item.json, { account: simulator });
      if (FAILING.has(outcome.status)) failing++;
      io.stdout.write(`${JSON.stringify({ ...outputLine(item, outcome), requests })}\n`);
    }
  } finally {
    await destination.close();
  }
  return failing ? 1 : 0;
}

// ---- send ----

async function runSend({ values, positionals }, io) {
  if (!values.settings) throw new UsageError("send needs --settings FILE");
  const concurrency = positiveInteger(values.concurrency, "concurrency");
  const batchSize = positiveInteger(values["batch-size"], "batch-size") ?? DEFAULT_BATCH_SIZE;
  const batching = !values["no-batch"];
  const timeoutMs = positiveInteger(values.timeout, "timeout");
  const { settings, host: oauth } = await withUsageErrors(readSettingsFiles(values.settings, values.oauth, (line) => io.stderr.write(`${line}\n`)));
  const destination = await destinationFor(settings, { timeoutMs, ...oauth });

  const events = await openEvents(positionals[0], io);

  // Events stream in: the same order rules as deliverAll (one at a time per person, in input order;
  // others up to `concurrency` at once), and at most WINDOW events read ahead of the output, so that
  // memory stays bounded for any input size.
  const progress = progressReporter(io, () => destination.stats(), values.progress ? "always" : values["no-progress"] ? "never" : "auto");
  const window = new Limiter(Math.max(256, (concurrency ?? 8) * 32, batching ? batchSize * 2 : 0));
  const slots = new Limiter(concurrency ?? 8);
  const locks = new KeyedLocks();
  const releases = [];
  const write = orderedWriter(io, () => releases.shift()?.());
  const inFlight = new Set();
  let failing = 0;
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    if (interrupts === 1) {
      io.stderr.write("\nstopping: events not yet sent end as failed/cancelled (Ctrl-C again to abandon requests in flight)\n");
      destination.close({ timeoutMs: 10_000 });
    } else {
      destination.close({ timeoutMs: 0 });
      events.stop(); // events not read by now get no line
    }
  };
  io.onSignal?.(onSignal);
  const finish = (item, at, outcome) => {
    if (FAILING.has(outcome.status)) failing++;
    write(at, JSON.stringify(outputLine(item, outcome)));
    progress.tick();
  };
  // Batches: events gathered up to --batch-size, or until the input pauses, go to the engine together
  // (deliverAll keeps the order rules across batches).
  let gathered = [];
  let idle = null;
  const turns = new Limiter(BATCHES_AT_ONCE);
  const flush = () => {
    clearTimeout(idle);
    idle = null;
    const group = gathered;
    gathered = [];
    if (group.length === 0) return;
    const task = (async () => {
      const release = await turns.acquire();
      try {
        await destination.deliverAll(
          group.map(({ item }) => item.json),
          { concurrency, batchSize: group.length, onOutcome: (outcome, i) => finish(group[i].item, group[i].at, outcome) },
        );
      } finally {
        release();
      }
    })();
    inFlight.add(task);
    task.finally(() => inFlight.delete(task));
  };
  try {
    let index = 0;
    for await (const item of events) {
      releases.push(await window.acquire());
      const at = index++;
      if (batching) {
        gathered.push({ item, at });
        if (gathered.length >= batchSize) flush();
        else idle ??= setTimeout(flush, INPUT_PAUSE_MS);
        progress.read(index);
        continue;
      }
      let keys = [];
      try {
        keys = eventKeys(item.event);
      } catch {
        // touches nobody: the engine refuses it
      }
      const lock = locks.acquire(keys);
      const task = (async () => {
        let release = null;
        try {
          await lock.ready;
          release = await slots.acquire();
          return await destination.deliver(item.json);
        } finally {
          release?.();
          lock.release();
        }
      })().then((outcome) => finish(item, at, outcome));
      inFlight.add(task);
      task.finally(() => inFlight.delete(task));
      progress.read(index);
    }
    flush();
    progress.inputEnded(index);
  } finally {
    flush(); // the events read before an unreadable one (or the end) are delivered too
    await Promise.allSettled([...inFlight]);
    io.offSignal?.(onSignal);
    progress.done();
    await destination.close();
  }
  return failing ? 1 : 0;
}

/** The stderr progress line: events done, rate, retries, time left (once the whole input is read). */
function progressReporter(io, stats, mode) {
  const started = Date.now();
  let done = 0;
  let total = null; // known once the input has been read to its end
  let read = 0;
  let shown = false;
  let lastShown = 0;
  const tty = Boolean(io.stderr.isTTY);
  const interval = tty ? 250 : 5_000;
  const line = () => {
    const seconds = (Date.now() - started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const { retries } = stats();
    if (total === null) return `${done}/${read}+ events (input still being read), ${rate.toFixed(1)} events/s, ${retries} retries`;
    const left = rate > 0 ? Math.ceil((total - done) / rate) : null;
    const eta = done === total ? "done" : left === null ? "ETA –" : `ETA ${formatDuration(left)}`;
    return `${done}/${total} events (${total ? Math.floor((done / total) * 100) : 100}%), ${rate.toFixed(1)} events/s, ${retries} retries, ${eta}`;
  };
  const show = (force = false) => {
    const now = Date.now();
    if (mode === "never") return;
    if (!force && now - lastShown < interval) return;
    if (!shown && mode === "auto" && now - started < 2_000) return;
    shown = true;
    lastShown = now;
    io.stderr.write(tty ? `\r\x1b[2K${line()}` : `${line()}\n`);
  };
  const timer = mode === "never" ? null : setInterval(() => show(), Math.min(interval, 1_000));
  timer?.unref?.();
  return {
    read(count) {
      read = count;
    },
    inputEnded(count) {
      total = count;
      if (mode === "always" && !shown) show(true);
    },
    tick() {
      done++;
      show();
    },
    done() {
      if (timer) clearInterval(timer);
      if (total === null) total = read;
      if (shown || mode === "always") {
        shown = true;
        io.stderr.write(tty ? `\r\x1b[2K${line()}\n` : `${line()}\n`);
      }
    },
  };
}

function formatDuration(seconds) {
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}

// ---- simulate ----

async function runSimulate({ values }, io) {
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!/^\d+$/.test(values.port ?? "0") || port > 65535) throw new UsageError(`--port must be a port number, got "${values.port}"`);
  const rateLimit = positiveInteger(values["rate-limit"], "rate-limit");
  let faults;
  if (values.faults !== undefined) {
    const text = values.faults.trim();
    const rate = text.endsWith("%") ? Number(text.slice(0, -1)) / 100 : Number(text);
    if (!(rate >= 0 && rate <= 1) || text === "" || text === "%") throw new UsageError(`--faults must be between 0 and 1 (or 0% and 100%), got "${values.faults}"`);
    faults = { rate };
  }
  let timeScale;
  if (values["time-scale"] !== undefined) {
    timeScale = Number(values["time-scale"]);
    if (!(timeScale > 0)) throw new UsageError(`--time-scale must be a positive number, got "${values["time-scale"]}"`);
  }
  if (values.role !== undefined && !["admin", "agent"].includes(values.role)) throw new UsageError(`--role must be admin or agent, got "${values.role}"`);
  const searchLag = values["search-lag"] === undefined ? undefined : Number(values["search-lag"]);
  if (searchLag !== undefined && !/^\d+$/.test(values["search-lag"])) throw new UsageError(`--search-lag must be a whole number of milliseconds ≥ 0, got "${values["search-lag"]}"`);
  const { startSimulatorServer } = await import("./simulator-server.js");
  let server;
  try {
    server = await startSimulatorServer({
      port,
      ...(rateLimit ? { rateLimitPerMinute: rateLimit } : {}),
      ...(faults ? { faults } : {}),
      ...(timeScale ? { timeScale } : {}),
      ...(values.role ? { role: values.role } : {}),
      ...(searchLag !== undefined ? { searchIndexLagMs: searchLag } : {}),
      ...(values["user-write-limit"] ? { singleUserWriteLimit: true } : {}),
      ...(values["org-update-limit"] ? { organizationUpdateLimit: true } : {}),
      ...(values["no-bulk-import"] ? { bulkImport: false } : {}),
    });
  } catch (error) {
    throw new UsageError(`cannot start the simulator: ${error.message}`);
  }
  io.stdout.write(`${server.url}\n`);
  io.stderr.write(`Zendesk simulator on ${server.url} (state: ${server.url}/__simulator/state); Ctrl-C stops it\n`);
  await new Promise((resolve) => io.onSignal?.(resolve));
  await server.close();
  return 0;
}

// ---- dispatch ----

/**
 * Runs the command line `argv` (without node and the script). Resolves to the exit code.
 * `io`: {stdin, stdout, stderr, env, onSignal(fn), offSignal(fn)}.
 */
export async function main(argv, io) {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr.write(`${overview()}\n`);
    return 2;
  }
  if (name === "--help" || name === "-h" || name === "help") {
    const topic = name === "help" && Object.hasOwn(COMMANDS, rest[0] ?? "") ? COMMANDS[rest[0]] : undefined;
    if (topic?.main) return topic.main(["--help"], io);
    io.stdout.write(`${topic ? topic.usage : overview()}\n`);
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  try {
    if (!command) throw new UsageError(`unknown command "${name}"; the commands are ${Object.keys(COMMANDS).join(", ")} (see ${NAME} --help)`);
    if (command.main) return await command.main(rest, io);
    if (rest.includes("--help") || rest.includes("-h")) {
      io.stdout.write(`${command.usage}\n`);
      return 0;
    }
    let parsed;
    try {
      parsed = parseArgs({ args: rest, options: command.options, allowPositionals: true, strict: true });
    } catch (error) {
      throw new UsageError(`${name}: ${error.message.replace(/\s+/g, " ").replace(/ To specify a positional.*$/, "")}`);
    }
    if (parsed.positionals.length > command.positionals) {
      throw new UsageError(`${name}: unexpected argument "${parsed.positionals[command.positionals]}"`);
    }
    return await command.run(parsed, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`${NAME}: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

const isMain = isMainModule(import.meta.url);

if (isMain) {
  const handlers = new Set();
  const onSignal = () => {
    if (handlers.size === 0) process.exit(130);
    for (const handler of [...handlers]) handler();
  };
  // A closed pipe (`… | head`) ends the output quietly.
  process.stdout.on("error", (error) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  main(process.argv.slice(2), {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    onSignal: (fn) => handlers.add(fn),
    offSignal: (fn) => handlers.delete(fn),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`${NAME}: ${error?.stack ?? error}\n`);
      process.exitCode = 2;
    },
  );
}
