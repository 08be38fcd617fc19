// JSON that keeps integers beyond 2^53 exact: Zendesk ids are 64-bit, and an event may carry one.
// `parseValues` reads a text holding one or more JSON values (a document, NDJSON, or values one after
// another); integers that a JS number cannot hold become `JsonNumber`s, which `stringify` writes back
// digit for digit. So do numbers beyond the double range (`1e400`): as a JS number they would be
// Infinity, which JSON.stringify writes as `null`, and `null` clears a Zendesk field. Kept as text, they
// reach the engine as written, and the engine refuses the event (invalid_event) as it does on every path.
// Everything else is plain JSON.

/** An integer literal kept as its text because a JS number would round it. */
export class JsonNumber {
  constructor(text) {
    this.text = text;
  }
  toJSON() {
    return this.text;
  }
  toString() {
    return this.text;
  }
}

/** Thrown for text that is not JSON; `line` and `column` are 1-based. */
export class JsonSyntaxError extends SyntaxError {
  constructor(message, line, column) {
    super(`${message} at line ${line}, column ${column}`);
    this.reason = message;
    this.line = line;
    this.column = column;
  }
}

const WS = new Set([" ", "\t", "\n", "\r", "\uFEFF"]);
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const STRING_PLAIN = /[^"\\\u0000-\u001f]*/y;

/**
 * Parses every JSON value in `text`, in order. Each comes with the 1-based line where it starts.
 * @returns {{value: unknown, line: number}[]}
 */
export function parseValues(text) {
  const values = [];
  let i = 0;
  const n = text.length;

  // Line numbers are counted as the parser moves forward: counting from the start for every value made
  // reading N values O(N²).
  let counted = 0;
  let countedLine = 1;
  let lineStart = 0;
  const position = (at) => {
    if (at < counted) {
      counted = 0;
      countedLine = 1;
      lineStart = 0;
    }
    for (; counted < at; counted++) {
      if (text.charCodeAt(counted) === 10) {
        countedLine++;
        lineStart = counted + 1;
      }
    }
    return [countedLine, at - lineStart + 1];
  };
  const fail = (message, at = i) => {
    const [line, column] = position(at);
    throw new JsonSyntaxError(message, line, column);
  };
  const skip = () => {
    while (i < n && WS.has(text[i])) i++;
  };

  const parseString = () => {
    i++; // opening quote
    let out = "";
    for (;;) {
      STRING_PLAIN.lastIndex = i;
      STRING_PLAIN.exec(text);
      out += text.slice(i, STRING_PLAIN.lastIndex);
      i = STRING_PLAIN.lastIndex;
      if (i >= n) fail("unterminated string");
      const c = text[i];
      if (c === '"') {
        i++;
        return out;
      }
      if (c !== "\\") fail("control character in string");
      const e = text[i + 1];
      i += 2;
      switch (e) {
        case '"': out += '"'; break;
        case "\\": out += "\\"; break;
        case "/": out += "/"; break;
        case "b": out += "\b"; break;
        case "f": out += "\f"; break;
        case "n": out += "\n"; break;
        case "r": out += "\r"; break;
        case "t": out += "\t"; break;
        case "u": {
          const hex = text.slice(i, i + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("bad unicode escape", i - 2);
          out += String.fromCharCode(parseInt(hex, 16));
          i += 4;
          break;
        }
        default:
          fail("bad escape", i - 2);
      }
    }
  };

  const parseValue = (depth) => {
    if (depth > 512) fail("nesting too deep");
    skip();
    if (i >= n) fail("unexpected end of input");
    const c = text[i];
    if (c === "{") {
      i++;
      const object = {};
      skip();
      if (text[i] === "}") {
        i++;
        return object;
      }
      for (;;) {
        skip();
        if (text[i] !== '"') fail("expected a property name");
        const key = parseString();
        skip();
        if (text[i] !== ":") fail("expected ':'");
        i++;
        const value = parseValue(depth + 1);
        if (key === "__proto__") Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
        else object[key] = value;
        skip();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return object;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      const array = [];
      skip();
      if (text[i] === "]") {
        i++;
        return array;
      }
      for (;;) {
        array.push(parseValue(depth + 1));
        skip();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return array;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return parseString();
    if (text.startsWith("true", i)) {
      i += 4;
      return true;
    }
    if (text.startsWith("false", i)) {
      i += 5;
      return false;
    }
    if (text.startsWith("null", i)) {
      i += 4;
      return null;
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) fail("unexpected character");
    i = NUMBER.lastIndex;
    const number = Number(m[0]);
    if ((!m[1] && !m[2] && !Number.isSafeInteger(number)) || !Number.isFinite(number)) return new JsonNumber(m[0]);
    return number;
  };

  for (;;) {
    skip();
    if (i >= n) return values;
    const start = i;
    const value = parseValue(0);
    values.push({ value, line: position(start)[0] });
    // Values must be separated by whitespace (NDJSON or pretty-printed documents one after another).
    if (i < n && !WS.has(text[i])) fail("unexpected text after a JSON value");
  }
}

/** Parses exactly one JSON value (big integers kept exact). */
export function parse(text) {
  const values = parseValues(text);
  if (values.length !== 1) throw new JsonSyntaxError(values.length ? "more than one JSON value" : "no JSON value", 1, 1);
  return values[0].value;
}

/** JSON text of `value`; `JsonNumber`s are written as their digits. */
export function stringify(value) {
  if (value instanceof JsonNumber) return value.text;
  if (value === null || typeof value !== "object") {
    if (typeof value === "bigint") return value.toString();
    // JSON.stringify would write NaN and ±Infinity as null, and null clears a Zendesk field.
    if (typeof value === "number" && !Number.isFinite(value)) throw new TypeError(`${value} is not a number JSON can carry`);
    return JSON.stringify(value) ?? "null";
  }
  if (typeof value.toJSON === "function" && !(value instanceof JsonNumber)) return stringify(value.toJSON());
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined || typeof item === "function" ? "null" : stringify(item))).join(",")}]`;
  const parts = [];
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined || typeof item === "function" || typeof item === "symbol") continue;
    parts.push(`${JSON.stringify(key)}:${stringify(item)}`);
  }
  return `{${parts.join(",")}}`;
}
