// `zendesk-destination work` and `zendesk-destination queue`: the durable queue's command lines.
import { parseArgs } from "node:util";
import { readSettingsFiles, UsageError, withUsageErrors } from "../host/command-files.js";
import { Queue, QUEUE_DEFAULTS } from "./queue.js";
import { connectRedis, DEFAULT_PREFIX, redactUrl } from "./redis.js";
import { startWorker, WORKER_DEFAULTS } from "./worker.js";

const NAME = "zendesk-destination";

export const workUsage = `Usage: ${NAME} work --settings FILE [--redis URL] [options]

Delivers the events that '${NAME} serve --queue' put in Redis. Run as many as you like, on as many
machines: each takes batches of events that may go now (every earlier event of the same user or
organization has finished), delivers them with the batch delivery, and ends each one: delivered or
skipped; failed in a way a retry can fix → retried with backoff for up to --retry-for-hours (that
person's later events wait, no one else's do); failed for good or invalid → the dead-letter stream,
with its outcome ('${NAME} queue dead'). The rate budget, the OAuth pair and what the engine learns
are shared through Redis. A worker that dies (SIGKILL, a lost machine) is presumed dead after
--lease-ms; its events are then taken by the others. SIGTERM or Ctrl-C finishes the batches in hand.

Options:
  --settings FILE        the destination settings (JSON)                                (required)
  --redis URL            the Redis of the queue (default: $REDIS_URL)
  --queue NAME           the queue (default "${QUEUE_DEFAULTS.name}")
  --batch-size N         events per batch (default ${WORKER_DEFAULTS.batchSize})
  --batches N            batches in delivery at once (default ${WORKER_DEFAULTS.batches})
  --lease-ms MS          silence after which a worker is presumed dead (default ${QUEUE_DEFAULTS.leaseMs})
  --retry-base-ms MS     first retry delay, doubling up to 5 minutes (default ${WORKER_DEFAULTS.retryBaseMs})
  --retry-for-hours H    how long a failing event is retried before it is dead-lettered (default 4)
  --drain-timeout MS     how long SIGTERM waits for the batches in hand (default 10000)
  --oauth FILE           OAuth instead of the settings' credentials, as for 'serve --oauth'
  -h, --help             this help`;

export const queueUsage = `Usage: ${NAME} queue [show|retries|dead|replay] [--redis URL] [--queue NAME] [--json]

  show (default)   depth (events not yet finished), lag (age of the oldest), events in delivery,
                   retrying and dead letters, and the counters since the queue was created
  retries          the events being retried: attempts, next attempt, last outcome
  dead             the dead letters: each event's messageId and outcome (--limit N, default 100)
  replay [ID…]     puts dead letters (the given ids, or all) back on the queue, after a fix

Options:
  --redis URL      the Redis of the queue (default: $REDIS_URL)
  --queue NAME     the queue (default "${QUEUE_DEFAULTS.name}")
  --limit N        at most N entries listed (default 100)
  --json           JSON instead of text
  -h, --help       this help`;

function parse(argv, options, command) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(`${command}: ${error.message.replace(/\s+/g, " ").replace(/ To specify a positional.*$/, "")}`);
  }
}

function whole(value, option, { min = 1 } = {}) {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`--${option} must be a whole number ≥ ${min}, got "${value}"`);
  return Number(value);
}

function redisUrl(values, io) {
  const url = values.redis ?? (io.env ?? process.env).REDIS_URL;
  if (!url) throw new UsageError("needs --redis URL (or REDIS_URL in the environment)");
  return url;
}

async function withUsage(io, run) {
  try {
    return await run();
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`${NAME}: ${error.message}\n`);
      return 2;
    }
    if (/Redis/.test(String(error?.message))) {
      io.stderr.write(`${NAME}: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

/** `zendesk-destination work …`. Resolves to the exit code once stopped (SIGTERM/SIGINT). */
export function workCommand(argv, io) {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout.write(`${workUsage}\n`);
    return Promise.resolve(0);
  }
  return withUsage(io, async () => {
    const { values, positionals } = parse(
      argv,
      {
        settings: { type: "string" },
        redis: { type: "string" },
        queue: { type: "string" },
        "batch-size": { type: "string" },
        batches: { type: "string" },
        "lease-ms": { type: "string" },
        "retry-base-ms": { type: "string" },
        "retry-for-hours": { type: "string" },
        "drain-timeout": { type: "string" },
        oauth: { type: "string" },
      },
      "work",
    );
    if (positionals.length) throw new UsageError(`work: unexpected argument "${positionals[0]}"`);
    if (!values.settings) throw new UsageError("work needs --settings FILE");
    const url = redisUrl(values, io);
    const { settings, host: oauth } = await withUsageErrors(readSettingsFiles(values.settings, values.oauth, (line) => io.stderr.write(`${line}\n`)));
    const hours = values["retry-for-hours"];
    if (hours !== undefined && !(Number(hours) > 0)) throw new UsageError(`--retry-for-hours must be a number > 0, got "${hours}"`);
    const drainTimeoutMs = whole(values["drain-timeout"], "drain-timeout", { min: 0 }) ?? 10_000;
    let worker;
    try {
      worker = await startWorker({
        redis: url,
        settings,
        ...oauth,
        ...(values.queue ? { queue: values.queue } : {}),
        ...(values["batch-size"] ? { batchSize: whole(values["batch-size"], "batch-size") } : {}),
        ...(values.batches ? { batches: whole(values.batches, "batches") } : {}),
        ...(values["lease-ms"] ? { leaseMs: whole(values["lease-ms"], "lease-ms", { min: 100 }) } : {}),
        ...(values["retry-base-ms"] ? { retryBaseMs: whole(values["retry-base-ms"], "retry-base-ms") } : {}),
        ...(hours ? { retryForMs: Number(hours) * 3_600_000 } : {}),
        log: (entry) => {
          if (entry.type === "queue_error" || entry.type === "shared_budget" || entry.type === "oauth_refresh") io.stderr.write(`${NAME} work: ${JSON.stringify(entry)}\n`);
        },
      });
    } catch (error) {
      if (error?.code === "invalid_settings") throw new UsageError(error.message.replace(/\s+/g, " "));
      throw error;
    }
    io.stdout.write(`${worker.name}\n`);
    io.stderr.write(`${NAME} work: ${worker.name} delivering from ${redactUrl(url)}; SIGTERM or Ctrl-C finishes the batches in hand and stops\n`);
    await new Promise((resolve) => {
      let signals = 0;
      const onSignal = () => {
        signals++;
        if (signals === 1) worker.stop({ timeoutMs: drainTimeoutMs }).then(resolve);
        else worker.stop({ timeoutMs: 0 });
      };
      io.onSignal?.(onSignal);
    });
    const stats = worker.stats();
    io.stderr.write(`${NAME} work: stopped after ${stats.events} event(s): ${stats.done} done, ${stats.retried} to retry, ${stats.dead} dead-lettered\n`);
    return 0;
  });
}

/** `zendesk-destination queue …`. */
export function queueCommand(argv, io) {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout.write(`${queueUsage}\n`);
    return Promise.resolve(0);
  }
  return withUsage(io, async () => {
    const { values, positionals } = parse(argv, { redis: { type: "string" }, queue: { type: "string" }, limit: { type: "string" }, json: { type: "boolean" } }, "queue");
    const [action = "show", ...ids] = positionals;
    if (!["show", "retries", "dead", "replay"].includes(action)) throw new UsageError(`queue: unknown action "${action}"; the actions are show, retries, dead, replay`);
    if (action !== "replay" && ids.length) throw new UsageError(`queue ${action}: unexpected argument "${ids[0]}"`);
    const limit = whole(values.limit, "limit") ?? 100;
    const { client, close } = await connectRedis(redisUrl(values, io));
    try {
      const queue = new Queue(client, { prefix: DEFAULT_PREFIX, ...(values.queue ? { name: values.queue } : {}) });
      const out = (value, text) => io.stdout.write(`${values.json ? JSON.stringify(value) : text}\n`);
      if (action === "show") {
        const s = await queue.stats();
        out(
          s,
          [
            `depth        ${s.depth} event(s) not yet finished`,
            `lag          ${(s.lagMs / 1000).toFixed(1)} s (the oldest unfinished event's age)`,
            `in delivery  ${s.inDelivery}`,
            `retrying     ${s.retrying}`,
            `dead letters ${s.deadLetters}`,
            `since start  ${s.enqueued} queued, ${s.duplicates} duplicate(s) not queued, ${s.finished} finished, ${s.retried} retries, ${s.dead} dead-lettered, ${s.replayed} replayed`,
          ].join("\n"),
        );
      } else if (action === "retries") {
        const list = await queue.retrying(limit);
        out(list, list.length ? list.map((r) => `${r.id} messageId ${r.messageId || "-"}: attempt ${r.attempts}, next ${new Date(r.nextAt).toISOString()}, last ${r.code}: ${r.message}`).join("\n") : "no event is being retried");
      } else if (action === "dead") {
        const list = await queue.deadLetters(limit);
        out(list, list.length ? list.map((d) => `${d.id} messageId ${d.messageId || "-"}: ${d.outcome?.status}/${d.outcome?.code}: ${d.outcome?.message}`).join("\n") : "no dead letters");
      } else {
        const n = await queue.replay(ids);
        out({ replayed: n }, `${n} dead letter(s) put back on the queue`);
      }
      return 0;
    } finally {
      await close();
    }
  });
}
