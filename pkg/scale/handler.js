// createHandler({redis}) and `serve --redis/--queue`: the handler's shared pieces — messageId
// de-duplication in Redis (./dedupe.js) and, in queue mode, the acceptor that puts a request's events
// on the durable queue (./queue.js) instead of delivering them.
import { messageKey } from "../edge.js";
import { eventKeys } from "../host/ordering.js";
import { stringify } from "../host/json.js";
import { RedisDedupe } from "./dedupe.js";
import { Queue } from "./queue.js";
import { connectRedis, DEFAULT_PREFIX } from "./redis.js";

/**
 * @param {string | object} redis URL or connected client
 * @param {{prefix?: string, queue?: boolean | string, dedupeWindowMs: number, now: () => number}} options
 *   `queue`: true (the queue "events") or a queue name
 */
export async function handlerState(redis, { prefix = DEFAULT_PREFIX, queue = false, dedupeWindowMs, now }) {
  const { client, close } = await connectRedis(redis);
  const state = { client, close, dedupe: new RedisDedupe(client, { prefix, windowMs: dedupeWindowMs, now }), enqueue: null };
  if (queue) {
    const q = new Queue(client, { prefix, name: typeof queue === "string" ? queue : undefined, dedupeWindowMs, now });
    /**
     * Puts events (values, already merged and checked) on the queue. An event without a timestamp gets
     * the time it was received: delivered later, it is still dated when it happened, and a redelivery
     * sends the same request (the write ledger recognises it).
     * @returns {Promise<boolean[]>} per event, true when its messageId was already queued
     */
    state.enqueue = (items) =>
      q.enqueue(
        items.map((item) => {
          const stamped = item && typeof item === "object" && !Array.isArray(item) && (item.timestamp === undefined || item.timestamp === null) ? { ...item, timestamp: new Date(now()).toISOString() } : item;
          // Over 256 characters (Segment allows 100), the id is remembered by a prefix, its length and a hash.
          const messageId = stamped && typeof stamped.messageId === "string" ? messageKey(stamped.messageId) : "";
          return { messageId, keys: eventKeys(stamped), event: stringify(stamped) };
        }),
      );
  }
  return state;
}
