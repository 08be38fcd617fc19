// Stateless helpers shared by the simulator's modules: ids, time, errors in Zendesk's shapes, request
// reading and pagination.

import { parseJsonExact, toJson } from "./json.js";

/** Zendesk-style timestamp: ISO 8601 without milliseconds. */
export function isoSeconds(ms) {
  return new Date(Math.floor(ms)).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** mulberry32: a tiny seeded generator, so faults and tokens are reproducible. */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomHex(random, length) {
  let hex = "";
  while (hex.length < length) hex += Math.floor(random() * 0x100000000).toString(16).padStart(8, "0");
  return hex.slice(0, length);
}

/** An id from a body or path value: BigInt, safe integer, or decimal string; otherwise null. */
export function toId(value) {
  if (typeof value === "bigint") return value > 0n ? value : null;
  if (typeof value === "number" && Number.isSafeInteger(value) && value > 0) return BigInt(value);
  if (typeof value === "string" && /^[1-9]\d*$/.test(value)) return BigInt(value);
  return null;
}

/** Orders records by id (BigInt ids compare exactly). */
export const byId = (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
export const isPlainObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
export const lower = (text) => String(text).trim().toLowerCase();

export function isCalendarDate(text) {
  if (typeof text !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const date = new Date(text + "T00:00:00Z");
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === text;
}

/** An error answer raised by a handler before it changed anything. */
export class ApiError extends Error {
  constructor(status, body, headers = {}) {
    super(`HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

export const notFound = () => new ApiError(404, { error: "RecordNotFound", description: "Not found" });
export const invalidEndpoint = () => new ApiError(404, { error: "InvalidEndpoint", description: "Not found" });
export const recordInvalid = (details) =>
  new ApiError(422, { error: "RecordInvalid", description: "Record validation errors", details });
export const sunshineError = (status, code, title) => new ApiError(status, { errors: [{ code, title }] });

/** Collects 422 details in Zendesk's shape: {field: [{description, error}]}. */
export class ValidationDetails {
  constructor() {
    this.details = {};
  }
  add(field, error, description) {
    (this.details[field] ??= []).push({ description, error });
  }
  get empty() {
    return Object.keys(this.details).length === 0;
  }
  throwIfAny() {
    if (!this.empty) throw recordInvalid(this.details);
  }
}

export function indexAdd(map, key, record) {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(record);
}
export function indexDelete(map, key, record) {
  const set = map.get(key);
  if (!set) return;
  set.delete(record);
  if (set.size === 0) map.delete(key);
}

export function normalizeTags(value, attribute, problems) {
  const list = typeof value === "string" ? value.split(/\s+/) : value;
  if (!Array.isArray(list) || !list.every((tag) => typeof tag === "string")) {
    problems.add(attribute, "InvalidValue", `${attribute}: must be a list of strings`);
    return null;
  }
  return [...new Set(list.flatMap((tag) => tag.trim().toLowerCase().split(/\s+/)).filter(Boolean))];
}

export function droppedKeys(attrs, writable) {
  return Object.keys(attrs).filter((key) => !writable.has(key));
}

export const warnHeader = (keys) =>
  keys.length ? { "x-zendesk-api-warn": `Removed restricted keys ${JSON.stringify(keys)} from parameters according to permission.` } : {};


export function missingParameter(name) {
  return new ApiError(400, { error: "ParameterMissing", description: `param is missing or the value is empty: ${name}` });
}

// Malformed JSON: 400 {"error":"Unprocessable Entity","description":"Server could not parse JSON"}.
export function readJson(request) {
  if (request.body === null || request.body === undefined || request.body === "") return {};
  try {
    return parseJsonExact(request.body);
  } catch {
    throw new ApiError(400, { error: "Unprocessable Entity", description: "Server could not parse JSON" });
  }
}

export function readRoot(request, key) {
  const body = readJson(request);
  if (!isPlainObject(body) || !isPlainObject(body[key])) throw missingParameter(key);
  return body[key];
}

export const ok = (status, body, headers = {}) => ({ status, body, headers });

export function paginate(request, items, collection, render) {
  const perPage = Math.min(100, Math.max(1, Number(request.query.get("per_page")) || 100));
  const page = Math.max(1, Math.floor(Number(request.query.get("page")) || 1));
  const start = (page - 1) * perPage;
  const pageUrl = (number) =>
    `${request.origin}/api/v2/${collection}.json?page=${number}` + (request.query.has("per_page") ? `&per_page=${perPage}` : "");
  return {
    [collection]: items.slice(start, start + perPage).map(render),
    next_page: start + perPage < items.length ? pageUrl(page + 1) : null,
    previous_page: page > 1 ? pageUrl(page - 1) : null,
    count: items.length,
  };
}

/** A route pattern for one numeric id. */
export const ID = "([1-9]\\d*)";
