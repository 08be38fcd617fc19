// Reading EVENTS: one event, a JSON array of events, newline-delimited JSON, or a Segment batch
// `{"batch":[…], "context"?, "integrations"?}` whose top-level context and integrations apply to every item.
import { JsonSyntaxError, parseValues, stringify } from "./json.js";

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

const WHITESPACE = new Set([" ", "\t", "\n", "\r", "\uFEFF"]);
const ENDS_SCALAR = new Set([...WHITESPACE, ",", "]", "}", "[", "{", '"']);

/**
 * Finds where each value of EVENTS text begins and ends, as the text arrives, and parses each one when it
 * is complete: linear in the input, holding only the value being read. A top-level array is read item by
 * item; any other top-level value (an event, a `{"batch": …}` object, whose context may follow its items)
 * whole. Positions in errors are the input's.
 */
class EventScanner {
  #buffer = "";
  #scan = 0; // next character of #buffer to look at
  #line = 1; // position of #buffer[#scan]
  #column = 1;
  #state = "top"; // top | afterTop | arrayStart | arrayNeedItem | afterItem | value
  #inArray = false; // the current value is an item of a top-level array
  #kind = null; // of the current value: container | string | scalar
  #depth = 0;
  #escaped = false;
  #start = -1; // #buffer index where the current value began
  #startLine = 0;
  #startColumn = 0;
  values = 0;
  events = 0;

  #error = null; // found while reading a chunk whose earlier events are returned first

  /** Adds text; returns the `{event, json}` items completed by it. */
  push(text) {
    if (this.#error) throw this.#error;
    const out = [];
    try {
      this.#read(text, out);
    } catch (error) {
      if (out.length === 0) throw error;
      this.#error = error; // thrown by the next call: the events before the problem come first
    }
    return out;
  }

  #read(text, out) {
    this.#buffer += text;
    const buffer = this.#buffer;
    while (this.#scan < buffer.length) {
      const c = buffer[this.#scan];
      if (this.#state === "value") {
        if (this.#kind === "scalar") {
          if (ENDS_SCALAR.has(c)) {
            this.#finish(buffer.slice(this.#start, this.#scan), out); // c is looked at again, after the value
            continue;
          }
        } else if (this.#kind === "string" || this.#escaped || this.#inString) {
          this.#stringChar(c);
          this.#advance(c);
          if (this.#kind === "string" && !this.#inString) this.#finish(buffer.slice(this.#start, this.#scan), out);
          continue;
        } else if (c === '"') this.#inString = true;
        else if (c === "{" || c === "[") this.#depth++;
        else if (c === "}" || c === "]") {
          this.#depth--;
          if (this.#depth === 0) {
            this.#advance(c);
            this.#finish(buffer.slice(this.#start, this.#scan), out);
            continue;
          }
        }
        this.#advance(c);
        continue;
      }
      if (WHITESPACE.has(c)) {
        if (this.#state === "afterTop") this.#state = "top";
        this.#advance(c);
        continue;
      }
      switch (this.#state) {
        case "afterTop":
          this.#fail("unexpected text after a JSON value", this.#line, this.#column);
          break;
        case "afterItem":
          if (c === ",") this.#state = "arrayNeedItem";
          else if (c === "]") this.#state = "afterTop";
          else this.#fail("expected ',' or ']'", this.#line, this.#column);
          this.#advance(c);
          continue;
        case "arrayStart":
          if (c === "]") {
            this.#state = "afterTop";
            this.#advance(c);
            continue;
          }
          break;
        case "top":
          if (c === "[") {
            this.values++;
            this.#state = "arrayStart";
            this.#advance(c);
            continue;
          }
          break;
        default:
          break;
      }
      // a value begins
      if (c === "]" || c === "}" || c === ",") this.#fail("unexpected character", this.#line, this.#column);
      this.#inArray = this.#state !== "top";
      if (!this.#inArray) this.values++;
      this.#state = "value";
      this.#start = this.#scan;
      this.#startLine = this.#line;
      this.#startColumn = this.#column;
      this.#kind = c === '"' ? "string" : c === "{" || c === "[" ? "container" : "scalar";
      this.#depth = this.#kind === "container" ? 1 : 0;
      this.#inString = c === '"';
      this.#escaped = false;
      this.#advance(c);
    }
    // Keep only the value being read: the text before it is done with.
    const keep = this.#state === "value" ? this.#start : this.#scan;
    this.#buffer = buffer.slice(keep);
    this.#scan -= keep;
    if (this.#start >= 0) this.#start -= keep;
  }

  /** The input ended; returns the last items. Throws InputError when the text stopped mid-value. */
  end() {
    if (this.#error) throw this.#error;
    const out = [];
    if (this.#state === "value") {
      if (this.#kind === "scalar") this.#finish(this.#buffer.slice(this.#start), out);
      else {
        this.#parse(this.#buffer.slice(this.#start)); // names what is missing, and where
        this.#fail("unexpected end of input", this.#line, this.#column);
      }
    }
    if (this.#state === "afterItem") this.#fail("expected ',' or ']'", this.#line, this.#column);
    if (this.#state !== "top" && this.#state !== "afterTop") this.#fail("unexpected end of input", this.#line, this.#column);
    if (this.values === 0) throw new InputError("no events in the input");
    if (this.events === 0) throw new InputError("no events in the input (an empty array or batch)");
    return out;
  }

  #inString = false;

  #stringChar(c) {
    if (this.#escaped) this.#escaped = false;
    else if (c === "\\") this.#escaped = true;
    else if (c === '"') this.#inString = false;
  }

  #advance(c) {
    this.#scan++;
    if (c === "\n") {
      this.#line++;
      this.#column = 1;
    } else this.#column++;
  }

  #finish(text, out) {
    const values = this.#parse(text);
    if (this.#inArray) {
      if (values.length !== 1) this.#fail("expected ',' or ']'", this.#startLine + values[1].line - 1, 1);
      out.push(this.#item(values[0].value));
      this.#state = "afterItem";
    } else {
      for (const { value } of values) for (const event of expand(value)) out.push(this.#item(event));
      this.#state = "afterTop";
    }
    this.#start = -1;
  }

  #item(event) {
    this.events++;
    return { event, json: stringify(event) };
  }

  #parse(text) {
    try {
      return parseValues(text);
    } catch (error) {
      if (!(error instanceof JsonSyntaxError)) throw error;
      const line = this.#startLine + error.line - 1;
      const reason = this.#inArray && error.reason === "unexpected text after a JSON value" ? "expected ',' or ']'" : error.reason;
      this.#fail(reason, line, error.line === 1 ? this.#startColumn + error.column - 1 : error.column);
    }
  }

  #fail(reason, line, column) {
    throw new InputError(`the events are not valid JSON: ${reason} at line ${line}, column ${column}`);
  }
}

/**
 * Parses EVENTS text into `{event, json}` items in input order: `event` the parsed value (integers beyond
 * 2^53 kept as JsonNumber), `json` its JSON text for the engine (exact).
 * @param {string} text
 * @returns {{event: unknown, json: string}[]}
 */
export function parseEvents(text) {
  const scanner = new EventScanner();
  return [...scanner.push(text), ...scanner.end()];
}

/**
 * Reads EVENTS as they arrive: `chunks` is an async iterable of text or bytes (UTF-8). Yields each
 * `{event, json}` as soon as its text is complete, in input order; memory holds one event's text, not the
 * input. Throws InputError at the first problem, after yielding the events before it.
 */
export async function* readEventStream(chunks) {
  const scanner = new EventScanner();
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true }); // a BOM stays, read as whitespace, as in text
  for await (const chunk of chunks) {
    yield* scanner.push(typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true }));
  }
  yield* scanner.push(decoder.decode());
  yield* scanner.end();
}

/** `messageId` and `type` of an event, for output lines (null when absent or not strings). */
export function describeEvent(event) {
  const pick = (key) => (isObject(event) && typeof event[key] === "string" ? event[key] : null);
  return { messageId: pick("messageId"), type: pick("type") };
}
