// A queue worker: takes events from the durable queue (./queue.js) in batches, delivers them with the
// batch delivery (deliverAll), and ends each one: delivered/skipped → done; failed in a way a retry
// can fix → again later with backoff (for hours, as Segment does; that person's later events wait, no
// one else's do); failed for good or invalid → the dead-letter stream with its outcome.
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { createDestination } from "../index.js";
import { Queue, QUEUE_DEFAULTS } from "./queue.js";
import { connectRedis, DEFAULT_PREFIX } from "./redis.js";

export const WORKER_DEFAULTS = Object.freeze({
  batchSize: 100, // events taken and delivered as one batch
  batches: 2, // batches in delivery at once per worker
  idleMs: 100, // wait when nothing is ready
  retryBaseMs: 1_000, // first retry after ~1 s, doubling
  retryMaxDelayMs: 5 * 60_000, // each wait at most 5 minutes
  retryForMs: 4 * 60 * 60_000, // and for 4 hours from the first failure; then dead-lettered
});

/** An outcome the client would retry (edge.js asksForRetry): retryable, or the destination's own credentials refused. */
export function wantsRetry(outcome) {
  return outcome.status === "failed" && (outcome.retryable === true || outcome.code === "unauthorized");
}

/** What to do with an entry after `outcome`: `{kind, nextAt?, info?}`. */
export function decide(entry, outcome, now, policy, random = Math.random) {
  if (outcome.code === "cancelled") return { kind: "release" };
  if (outcome.status === "delivered" || outcome.status === "skipped") return { kind: "done" };
  const brief = { status: outcome.status, code: outcome.code, message: outcome.message, warnings: outcome.warnings ?? [], retryable: outcome.retryable === true };
  if (wantsRetry(outcome)) {
    const attempts = (entry.retry?.attempts ?? 0) + 1;
    const firstFailedAt = entry.retry?.firstFailedAt ?? now;
    const step = Math.min(policy.retryMaxDelayMs, policy.retryBaseMs * 2 ** (attempts - 1));
    const delay = Math.round(step / 2 + random() * (step / 2));
    if (now + delay - firstFailedAt <= policy.retryForMs) {
      return { kind: "retry", nextAt: now + delay, info: { attempts, firstFailedAt, nextAt: now + delay, code: outcome.code, message: outcome.message, messageId: entry.messageId } };
    }
    return { kind: "dead", info: { ...brief, attempts, firstFailedAt, gaveUp: `retried ${attempts} time(s) for ${Math.round((now - firstFailedAt) / 60_000)} minute(s)` } };
  }
  return { kind: "dead", info: brief };
}

/**
 * Starts a worker. Options: `redis` (URL or client, required), `settings` (required), `redisPrefix`,
 * `queue` (name), `worker` (its name; default host-pid-random), `batchSize`, `batches`, `leaseMs`,
 * `idleMs`, `retryBaseMs`, `retryMaxDelayMs`, `retryForMs`, `onFinish({entry, outcome, kind})`,
 * `log(entry)`; everything else goes to `createDestination` (`fetch`, `timeoutMs`, `retry`, `pacing`, …).
 * @returns {Promise<{name: string, stats(): object, stop(options?): Promise<void>}>}
 */
export async function startWorker(options = {}) {
  const {
    redis,
    settings,
    redisPrefix = DEFAULT_PREFIX,
    queue: queueName = QUEUE_DEFAULTS.name,
    worker: name = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`,
    batchSize = WORKER_DEFAULTS.batchSize,
    batches = WORKER_DEFAULTS.batches,
    leaseMs = QUEUE_DEFAULTS.leaseMs,
    idleMs = WORKER_DEFAULTS.idleMs,
    retryBaseMs = WORKER_DEFAULTS.retryBaseMs,
    retryMaxDelayMs = WORKER_DEFAULTS.retryMaxDelayMs,
    retryForMs = WORKER_DEFAULTS.retryForMs,
    onFinish,
    log = () => {},
    ...destinationOptions
  } = options;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new TypeError("batchSize must be an integer ≥ 1");
  if (!(Number.isInteger(batches) && batches >= 1)) throw new TypeError("batches must be an integer ≥ 1");
  const policy = { retryBaseMs, retryMaxDelayMs, retryForMs };
  const connection = await connectRedis(redis);
  let destination;
  try {
    destination = await createDestination(settings, { ...destinationOptions, redis: connection.client, redisPrefix });
  } catch (error) {
    await connection.close();
    throw error;
  }
  const queue = new Queue(connection.client, { prefix: redisPrefix, name: queueName });
  const counters = { batches: 0, events: 0, done: 0, retried: 0, dead: 0, released: 0, redisErrors: 0 };
  const held = new Set(); // entry ids this worker holds
  let stopping = false;
  const wakers = new Set();

  const heartbeat = setInterval(() => {
    if (held.size === 0) return;
    queue.heartbeat(name, [...held], leaseMs).catch((error) => log({ type: "queue_error", operation: "heartbeat", message: String(error?.message ?? error) }));
  }, Math.max(50, Math.floor(leaseMs / 3)));

  const idle = (ms) =>
    new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      wakers.add(wake);
    });

  async function loop() {
    while (!stopping) {
      let entries;
      try {
        entries = await queue.take(name, batchSize, { leaseMs });
      } catch (error) {
        counters.redisErrors++;
        log({ type: "queue_error", operation: "take", message: String(error?.message ?? error) });
        await idle(Math.max(idleMs, 1_000));
        continue;
      }
      if (entries.length === 0) {
        await idle(idleMs);
        continue;
      }
      for (const entry of entries) held.add(entry.id);
      counters.batches++;
      counters.events += entries.length;
      const outcomes = await destination.deliverAll(
        entries.map((entry) => entry.event),
        { batchSize },
      );
      const now = Date.now();
      const results = entries.map((entry, i) => ({ id: entry.id, ...decide(entry, outcomes[i], now, policy) }));
      // Finishing must reach Redis: until it does, the entries stay leased (and come back after the
      // lease if this worker dies meanwhile; the write ledger keeps their Sunshine events from landing twice).
      for (let attempt = 0; ; attempt++) {
        try {
          await queue.finish(name, results);
          break;
        } catch (error) {
          counters.redisErrors++;
          log({ type: "queue_error", operation: "finish", message: String(error?.message ?? error) });
          if (attempt >= 30) break;
          await new Promise((resolve) => setTimeout(resolve, 1_000));
        }
      }
      results.forEach((result, i) => {
        held.delete(result.id);
        const key = { done: "done", retry: "retried", dead: "dead", release: "released" }[result.kind];
        counters[key]++;
        if (onFinish) {
          try {
            onFinish({ entry: entries[i], outcome: outcomes[i], kind: result.kind });
          } catch {
            // a callback's failure is not the queue's
          }
        }
      });
    }
  }

  const loops = Array.from({ length: batches }, () => loop());
  log({ type: "worker_started", worker: name, batchSize, batches });
  let stopped = null;
  return {
    name,
    stats: () => ({ ...counters, holding: held.size, destination: destination.stats() }),
    /** Stops taking events, lets the batches in delivery finish within `timeoutMs` (then they are cancelled and released), and disconnects. */
    stop({ timeoutMs = 10_000 } = {}) {
      stopped ??= (async () => {
        stopping = true;
        for (const wake of [...wakers]) wake();
        const all = Promise.allSettled(loops);
        let timer;
        await Promise.race([all, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
        clearTimeout(timer);
        await destination.close({ timeoutMs: 0 }); // cancelled outcomes: their entries are released
        await all;
        clearInterval(heartbeat);
        await connection.close();
      })();
      return stopped;
    },
  };
}
