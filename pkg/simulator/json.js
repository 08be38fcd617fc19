// JSON with exact 64-bit ids, for the simulator's answers and the bodies it reads.


// Zendesk ids are 64-bit. JSON.parse would round integers beyond 2^53, so integer literals that are
// not safe JS numbers are quoted (outside strings) and revived as BigInt.
const BIGINT_MARKER = "\u0000bigint:";

/** Parses JSON text; integers beyond Number.MAX_SAFE_INTEGER become BigInt. */
export function parseJsonExact(text) {
  if (!/\d{16,}/.test(text)) return JSON.parse(text);
  let rewritten = "";
  let copiedUpTo = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      continue;
    }
    if (c === "-" || (c >= "0" && c <= "9")) {
      let end = c === "-" ? i + 1 : i;
      while (end < text.length && text[end] >= "0" && text[end] <= "9") end++;
      const literal = text.slice(i, end);
      const next = text[end];
      const isInteger = next !== "." && next !== "e" && next !== "E";
      const digits = literal.replace("-", "");
      const hasLeadingZero = digits.length > 1 && digits[0] === "0"; // invalid JSON: leave it to fail
      if (isInteger && !hasLeadingZero && digits.length >= 16 && !Number.isSafeInteger(Number(literal))) {
        rewritten += text.slice(copiedUpTo, i) + '"\\u0000bigint:' + literal + '"';
        copiedUpTo = end;
      }
      i = end - 1;
    }
  }
  rewritten += text.slice(copiedUpTo);
  return JSON.parse(rewritten, (_key, value) =>
    typeof value === "string" && value.startsWith(BIGINT_MARKER) ? BigInt(value.slice(BIGINT_MARKER.length)) : value,
  );
}

/** JSON text of a value; BigInt is written as an exact JSON number. */
export function toJson(value) {
  if (value === null || value === undefined) return "null";
  switch (typeof value) {
    case "bigint":
      return value.toString();
    case "number":
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) return "[" + value.map((item) => toJson(item)).join(",") + "]";
      const members = [];
      for (const [key, member] of Object.entries(value)) {
        if (member === undefined || typeof member === "function") continue;
        members.push(JSON.stringify(key) + ":" + toJson(member));
      }
      return "{" + members.join(",") + "}";
    }
    default:
      return "null";
  }
}

// state() and seed() results are plain JS values: ids are numbers when safe, decimal strings beyond 2^53.
export function toPlain(value) {
  if (typeof value === "bigint") return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (Array.isArray(value)) return value.map(toPlain);
  if (value && typeof value === "object") {
    const plain = {};
    for (const [key, member] of Object.entries(value)) if (member !== undefined) plain[key] = toPlain(member);
    return plain;
  }
  return value;
}
