// Reading the JSON files the commands take (settings, account, OAuth pair): one code path for every
// command (plan, send, serve), so that none can echo a credential. Node-only.
import { readFile } from "node:fs/promises";
import { parse } from "./json.js";

/** A file that cannot be read or is not JSON; the message names the file and the problem, never its text. */
export class FileError extends Error {
  constructor(message) {
    super(message);
    this.name = "FileError";
    this.code = "unreadable_file";
  }
}

/** The JSON value in the file at `path`; `what` names it in messages ("settings file"). */
export async function readJsonFile(path, what) {
  let text;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new FileError(`cannot read ${what} ${path}: ${error.code === "ENOENT" ? "no such file" : error.code === "EISDIR" ? "it is a directory" : (error.code ?? "unreadable")}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    // Not JSON.parse's message: V8 quotes the text itself in it (`Unexpected token 'h', ..."password":hunter2"…`),
    // and these files hold credentials. Our own parser's message names only the problem and its place.
    let problem = "syntax error";
    try {
      parse(text);
    } catch (error) {
      problem = error.message;
    }
    throw new FileError(`${what} ${path} is not valid JSON: ${problem}`);
  }
}
