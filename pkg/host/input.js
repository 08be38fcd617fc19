// Reading EVENTS: one event, a JSON array of events, newline-delimited JSON, or a Segment batch
// `{"batch":[…], "context"?, "integrations"?}` whose top-level context and integrations apply to every item.
import { parseValues, stringify } from "./json.js";

/** Thrown when the text cannot be read as events; the message names the problem and where. */
export class InputError extends Error {
  constructor(message) {
    super(message);
    this.code = "invalid_input";
  }
}

const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

/**
 * Applies a batch's top-level `context` and `integrations` to one item. The item's own keys win:
 * the batch values are defaults (Segment's HTTP API applies them to every item).
 */
export function mergeBatchItem(item, batch) {
  if (!isObject(item)) return item;
  const merged = { ...item };
  for (const key of ["context", "integrations"]) {
    if (!isObject(batch[key])) continue;
    merged[key] = isObject(item[key]) ? { ...batch[key], ...item[key] } : item[key] === undefined ? { ...batch[key] } : item[key];
  }
  return merged;
}

/** The events held by one top-level JSON value. */
function expand(value) {
  if (Array.isArray(value)) return value;
  if (isObject(value) && Array.isArray(value.batch)) return value.batch.map((item) => mergeBatchItem(item, value));
  return [value];
}

/**
 * Parses EVENTS text into `{event, json}` items in input order: `event` the parsed value (integers beyond
 * 2^53 kept as JsonNumber), `json` its JSON text for the engine (exact).
 * @param {string} text
 * @returns {{event: unknown, json: string}[]}
 */
export function parseEvents(text) {
  let values;
  try {
    values = parseValues(text);
  } catch (error) {
    throw new InputError(`the events are not valid JSON: ${error.message}`);
  }
  if (values.length === 0) throw new InputError("no events in the input");
  const events = [];
  for (const { value } of values) {
    for (const event of expand(value)) events.push({ event, json: stringify(event) });
  }
  if (events.length === 0) throw new InputError("no events in the input (an empty array or batch)");
  return events;
}

/** `messageId` and `type` of an event, for output lines (null when absent or not strings). */
export function describeEvent(event) {
  const pick = (key) => (isObject(event) && typeof event[key] === "string" ? event[key] : null);
  return { messageId: pick("messageId"), type: pick("type") };
}
