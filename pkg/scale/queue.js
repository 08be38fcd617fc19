// The durable queue: `serve --queue` puts events in a Redis stream, `work` processes deliver them.
//
// Keys (P = `{prefix}:queue:{name}`):
//   P:stream         the events not yet finished, in arrival order (XADD; deleted once finished)
//   P:cursor         the last stream entry the scheduler has taken in
//   P:kq:{key}       per user/organization key (../host/ordering.js eventKeys): the unfinished entries
//                    touching it, in stream order
//   P:sched          entries that may be taken, by the time they may be: ready ones (now), retries
//                    (their due time), and taken ones (their lease's end: a dead worker's come back)
//   P:lease          entry → the worker holding it
//   P:retry          entry → {attempts, firstFailedAt, code, message} while it is retried
//   P:dead           the dead letters: events that ended failed or invalid, with their outcome
//   P:seen:{id}      messageIds enqueued within the de-duplication window
//   P:stats          counters
//
// Order: an entry becomes takeable only when it is at the head of every key queue it is in, i.e. when
// every earlier event touching the same user, email or organization has finished (delivered, skipped,
// or dead-lettered). A retried entry stays at its heads, so that person's later events wait behind it
// while everyone else's go on. Every decision is a Lua script: atomic across any number of workers.

import { script } from "./redis.js";

export const QUEUE_DEFAULTS = Object.freeze({
  name: "events",
  dedupeWindowMs: 24 * 60 * 60 * 1000,
  leaseMs: 30_000, // a worker silent for this long is presumed dead: its entries are taken again
  ingestMax: 2_000, // stream entries the scheduler takes in per call
});

// KEYS: none (the prefix is ARGV[1]; single Redis, not Cluster). ARGV: P, windowMs, now, then
// (messageId, keys JSON, event JSON) triples. Returns 1 per duplicate, 0 per enqueued event.
const ENQUEUE = script(`
local P, window, now = ARGV[1], ARGV[2], ARGV[3]
local out = {}
local added, duplicates = 0, 0
for i = 4, #ARGV, 3 do
  local m = ARGV[i]
  local fresh = true
  if m ~= '' then fresh = redis.call('SET', P .. ':seen:' .. m, now, 'NX', 'PX', window) end
  if fresh then
    redis.call('XADD', P .. ':stream', '*', 'e', ARGV[i + 2], 'k', ARGV[i + 1], 'm', m, 'a', now)
    out[#out + 1] = 0
    added = added + 1
  else
    out[#out + 1] = 1
    duplicates = duplicates + 1
  end
end
if added > 0 then redis.call('HINCRBY', P .. ':stats', 'enqueued', added) end
if duplicates > 0 then redis.call('HINCRBY', P .. ':stats', 'duplicates', duplicates) end
return out
`);

const LUA_HELPERS = `
local function field(fields, name)
  for i = 1, #fields, 2 do if fields[i] == name then return fields[i + 1] end end
  return nil
end
local function keysOf(P, id)
  local e = redis.call('XRANGE', P .. ':stream', id, id)
  if #e == 0 then return nil, nil end
  return cjson.decode(field(e[1][2], 'k') or '[]'), e[1][2]
end
`;

// ARGV: P, worker, now, leaseMs, n, ingestMax. Returns {{id, fields, retryJSON|false}, …}.
const TAKE = script(`
${LUA_HELPERS}
local P, worker, now, lease, n, ingestMax = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local cursor = redis.call('GET', P .. ':cursor') or '0-0'
local entries = redis.call('XRANGE', P .. ':stream', '(' .. cursor, '+', 'COUNT', ingestMax)
for _, entry in ipairs(entries) do
  local id = entry[1]
  local keys = cjson.decode(field(entry[2], 'k') or '[]')
  local ready = true
  for _, key in ipairs(keys) do
    if redis.call('RPUSH', P .. ':kq:' .. key, id) > 1 then ready = false end
  end
  if ready then redis.call('ZADD', P .. ':sched', now, id) end
  cursor = id
end
if #entries > 0 then redis.call('SET', P .. ':cursor', cursor) end
local due = redis.call('ZRANGEBYSCORE', P .. ':sched', '-inf', now, 'LIMIT', 0, n)
local out = {}
for _, id in ipairs(due) do
  local e = redis.call('XRANGE', P .. ':stream', id, id)
  if #e == 0 then
    redis.call('ZREM', P .. ':sched', id)
    redis.call('HDEL', P .. ':lease', id)
  else
    redis.call('ZADD', P .. ':sched', now + lease, id)
    redis.call('HSET', P .. ':lease', id, worker)
    out[#out + 1] = {id, e[1][2], redis.call('HGET', P .. ':retry', id) or false}
  end
end
return out
`);

// ARGV: P, worker, now, then (id, kind, nextAt, info JSON) quadruples; kind: done | dead | retry | release.
// An entry whose lease this worker no longer holds (it was presumed dead and the entry taken again) is
// left alone. Returns the number of entries finished.
const FINISH = script(`
${LUA_HELPERS}
local P, worker, now = ARGV[1], ARGV[2], ARGV[3]
local finished = 0
for i = 4, #ARGV, 4 do
  local id, kind, nextAt, info = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if redis.call('HGET', P .. ':lease', id) == worker then
    redis.call('HDEL', P .. ':lease', id)
    if kind == 'retry' then
      redis.call('ZADD', P .. ':sched', nextAt, id)
      redis.call('HSET', P .. ':retry', id, info)
      redis.call('HINCRBY', P .. ':stats', 'retried', 1)
    elseif kind == 'release' then
      redis.call('ZADD', P .. ':sched', now, id)
    else
      local keys, fields = keysOf(P, id)
      if fields and kind == 'dead' then
        redis.call('XADD', P .. ':dead', '*', 'e', field(fields, 'e'), 'k', field(fields, 'k'), 'm', field(fields, 'm') or '', 'a', field(fields, 'a') or '', 'id', id, 'o', info, 'at', now)
      end
      for _, key in ipairs(keys or {}) do
        local q = P .. ':kq:' .. key
        redis.call('LREM', q, 1, id)
        local head = redis.call('LINDEX', q, 0)
        if head and not redis.call('ZSCORE', P .. ':sched', head) then
          local headKeys = keysOf(P, head)
          local ready = true
          for _, other in ipairs(headKeys or {}) do
            if redis.call('LINDEX', P .. ':kq:' .. other, 0) ~= head then ready = false end
          end
          if ready then redis.call('ZADD', P .. ':sched', now, head) end
        end
      end
      redis.call('ZREM', P .. ':sched', id)
      redis.call('HDEL', P .. ':retry', id)
      redis.call('XDEL', P .. ':stream', id)
      redis.call('HINCRBY', P .. ':stats', kind == 'dead' and 'dead' or 'finished', 1)
    end
    finished = finished + 1
  end
end
return finished
`);

// ARGV: P, worker, until, ids… Extends the leases this worker still holds.
const HEARTBEAT = script(`
local P, worker, untilAt = ARGV[1], ARGV[2], ARGV[3]
local n = 0
for i = 4, #ARGV do
  if redis.call('HGET', P .. ':lease', ARGV[i]) == worker then
    redis.call('ZADD', P .. ':sched', 'XX', untilAt, ARGV[i])
    n = n + 1
  end
end
return n
`);

// ARGV: P, now, ids… (empty: all). Moves dead letters back onto the stream (no de-duplication: a
// replay is meant to deliver again). Returns the number replayed.
const REPLAY = script(`
local P, now = ARGV[1], ARGV[2]
local function field(fields, name)
  for i = 1, #fields, 2 do if fields[i] == name then return fields[i + 1] end end
  return nil
end
local entries
if #ARGV > 2 then
  entries = {}
  for i = 3, #ARGV do
    local e = redis.call('XRANGE', P .. ':dead', ARGV[i], ARGV[i])
    if #e > 0 then entries[#entries + 1] = e[1] end
  end
else
  entries = redis.call('XRANGE', P .. ':dead', '-', '+')
end
for _, entry in ipairs(entries) do
  local f = entry[2]
  redis.call('XADD', P .. ':stream', '*', 'e', field(f, 'e'), 'k', field(f, 'k'), 'm', field(f, 'm') or '', 'a', now, 'r', entry[1])
  redis.call('XDEL', P .. ':dead', entry[1])
end
if #entries > 0 then redis.call('HINCRBY', P .. ':stats', 'replayed', #entries) end
return #entries
`);

// A field list as an object: Redis answers a flat [name, value, …] list (streams, and HGETALL in
// RESP2 on some clients) or, for HGETALL through npm's client, an object already.
const fieldsObject = (flat) => {
  if (flat && !Array.isArray(flat) && typeof flat === "object") return Object.fromEntries(Object.entries(flat).map(([k, v]) => [k, String(v)]));
  const object = {};
  for (let i = 0; i + 1 < flat.length; i += 2) object[String(flat[i])] = String(flat[i + 1]);
  return object;
};

/** Milliseconds since the epoch of a stream entry id (`1700000000000-0`). */
export const entryTime = (id) => Number(String(id).split("-")[0]);

/** The queue's operations over one Redis client. */
export class Queue {
  constructor(client, { prefix, name = QUEUE_DEFAULTS.name, dedupeWindowMs = QUEUE_DEFAULTS.dedupeWindowMs, now = Date.now } = {}) {
    this.client = client;
    this.name = name;
    this.key = `${prefix}:queue:${name}`;
    this.dedupeWindowMs = dedupeWindowMs;
    this.now = now;
  }

  /**
   * Appends events (each `{messageId, keys, event}`, event as JSON text) in one atomic step: when it
   * resolves they are in Redis. An event whose messageId was enqueued within the window is not added.
   * @returns {Promise<boolean[]>} per event: true when it was a duplicate
   */
  async enqueue(entries) {
    if (entries.length === 0) return [];
    const args = [this.key, Math.max(1, Math.round(this.dedupeWindowMs)), this.now()];
    for (const { messageId, keys, event } of entries) args.push(messageId ?? "", JSON.stringify(keys ?? []), event);
    const answer = await ENQUEUE(this.client, [], args);
    return answer.map((flag) => Number(flag) === 1);
  }

  /**
   * Takes up to `n` entries that may be delivered now, leased to `worker` for `leaseMs`.
   * @returns {Promise<{id: string, event: string, messageId: string, acceptedAt: number, retry: object | null}[]>}
   */
  async take(worker, n, { leaseMs = QUEUE_DEFAULTS.leaseMs, ingestMax = QUEUE_DEFAULTS.ingestMax } = {}) {
    const answer = await TAKE(this.client, [], [this.key, worker, this.now(), leaseMs, n, ingestMax]);
    return answer.map(([id, flat, retry]) => {
      const fields = fieldsObject(flat);
      let retryInfo = null;
      if (retry) {
        try {
          retryInfo = JSON.parse(String(retry));
        } catch {
          retryInfo = null;
        }
      }
      return { id: String(id), event: fields.e, messageId: fields.m ?? "", acceptedAt: Number(fields.a) || entryTime(id), retry: retryInfo };
    });
  }

  /**
   * Ends leased entries: each `{id, kind, nextAt?, info?}` with kind `done` (delivered or skipped),
   * `dead` (onto the dead-letter stream with `info`, the outcome), `retry` (again at `nextAt`, `info`
   * the retry state) or `release` (back at once, not an attempt).
   */
  async finish(worker, results) {
    if (results.length === 0) return 0;
    const args = [this.key, worker, this.now()];
    for (const { id, kind, nextAt = 0, info = null } of results) args.push(id, kind, Math.round(nextAt), info === null ? "" : JSON.stringify(info));
    return Number(await FINISH(this.client, [], args));
  }

  /** Extends `worker`'s leases on `ids` to `leaseMs` from now. */
  async heartbeat(worker, ids, leaseMs = QUEUE_DEFAULTS.leaseMs) {
    if (ids.length === 0) return 0;
    return Number(await HEARTBEAT(this.client, [], [this.key, worker, this.now() + leaseMs, ...ids]));
  }

  /** Depth, lag, retries, leases, dead letters and counters. */
  async stats() {
    const c = this.client;
    const [depth, oldest, retries, leased, dead, counters, scheduled] = await Promise.all([
      c.sendCommand(["XLEN", `${this.key}:stream`]),
      c.sendCommand(["XRANGE", `${this.key}:stream`, "-", "+", "COUNT", "1"]),
      c.sendCommand(["HLEN", `${this.key}:retry`]),
      c.sendCommand(["HLEN", `${this.key}:lease`]),
      c.sendCommand(["XLEN", `${this.key}:dead`]),
      c.sendCommand(["HGETALL", `${this.key}:stats`]),
      c.sendCommand(["ZCARD", `${this.key}:sched`]),
    ]);
    const counts = fieldsObject(counters ?? []);
    const number = (name) => Number(counts[name] ?? 0);
    const oldestId = oldest?.[0]?.[0];
    return {
      depth: Number(depth),
      lagMs: oldestId ? Math.max(0, this.now() - entryTime(oldestId)) : 0,
      retrying: Number(retries),
      inDelivery: Number(leased),
      scheduled: Number(scheduled),
      deadLetters: Number(dead),
      enqueued: number("enqueued"),
      duplicates: number("duplicates"),
      finished: number("finished"),
      retried: number("retried"),
      dead: number("dead"),
      replayed: number("replayed"),
    };
  }

  /** Entries being retried: `{id, messageId, attempts, firstFailedAt, nextAt, code, message}`. */
  async retrying(limit = 100) {
    const flat = await this.client.sendCommand(["HGETALL", `${this.key}:retry`]);
    const all = Object.entries(fieldsObject(flat ?? [])).slice(0, limit);
    return all.map(([id, text]) => {
      let info = {};
      try {
        info = JSON.parse(text);
      } catch {
        // left empty
      }
      return { id, ...info };
    });
  }

  /** The dead letters, oldest first: `{id, event, messageId, outcome, at, entry}`. */
  async deadLetters(limit = 100) {
    const entries = await this.client.sendCommand(["XRANGE", `${this.key}:dead`, "-", "+", "COUNT", String(limit)]);
    return (entries ?? []).map(([id, flat]) => {
      const fields = fieldsObject(flat);
      let outcome = null;
      try {
        outcome = JSON.parse(fields.o);
      } catch {
        outcome = null;
      }
      return { id: String(id), event: fields.e, messageId: fields.m ?? "", outcome, at: Number(fields.at), entry: fields.id };
    });
  }

  /** Puts dead letters (by id; none given: all) back on the queue. Resolves to how many. */
  async replay(ids = []) {
    return Number(await REPLAY(this.client, [], [this.key, this.now(), ...ids]));
  }
}
